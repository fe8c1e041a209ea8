/*
 * pilot_util.c: the pilot integration tests' fixture and call helpers (see
 * pilot_util.h).
 */
#include "pilot_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <inttypes.h>
#include <pb_decode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pt_env pt;

/* Helpers: processes. */

void
pt_start_dtp(th_proc *p, const char *name, const char *url)
{
	char  listen[128];
	char  dburl[1200];
	char *argv[] = { (char *) th_bin("dtp"), NULL };
	char *env[]
	    = { listen, dburl, "DTP_WORKERS=2", "TP_LOG_LEVEL=debug", NULL };

	snprintf(listen, sizeof(listen), "DTP_LISTEN=%s", url);
	snprintf(dburl, sizeof(dburl), "DTP_DATABASE_URL=%s", pt.db_url);
	th_proc_start(p, name, argv, env);
	if (!th_wait_rpc_health("dtp", url, START_MS)) {
		th_proc_dump_log(p);
		fail_msg("%s did not answer Health at %s", name, url);
	}
}

void
pt_start_pilot_env(th_proc *p, const char *name, const char *url,
    const char *dtp, const char *dtp_timeout_ms, const char *const *extra)
{
	char  listen[128];
	char  dburl[1200];
	char  dtpurl[256];
	char  timeout[64];
	char *argv[] = { (char *) th_bin("taskpilot"), NULL };
	char *env[24];
	int   n = 0;

	snprintf(listen, sizeof(listen), "PILOT_LISTEN=%s", url);
	snprintf(dburl, sizeof(dburl), "PILOT_DATABASE_URL=%s", pt.db_url);
	snprintf(dtpurl, sizeof(dtpurl), "PILOT_DTP_URL=%s", dtp);
	snprintf(timeout, sizeof(timeout), "PILOT_DTP_TIMEOUT_MS=%s",
	    dtp_timeout_ms);
	env[n++] = listen;
	env[n++] = dburl;
	env[n++] = dtpurl;
	env[n++] = timeout;
	env[n++] = "TP_LOG_LEVEL=debug";
	/* The defaults first: a later entry of the same name wins. */
	env[n++] = "PILOT_REFRESH_MS=0";
	env[n++] = "PILOT_RECONCILE_MS=0";
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
		size_t len = strcspn(extra[i], "=");
		assert_true(n < 23);
		/* Drop a default this entry overrides (env_merge keeps one). */
		for (int j = 0; j < n; j++) {
			if (strncmp(env[j], extra[i], len) == 0
			    && env[j][len] == '=') {
				env[j] = (char *) extra[i];
				goto next;
			}
		}
		env[n++] = (char *) extra[i];
	next:;
	}
	env[n] = NULL;
	th_proc_start(p, name, argv, env);
	if (!th_wait_rpc_health("taskpilot", url, START_MS)) {
		th_proc_dump_log(p);
		fail_msg("%s did not answer Health at %s", name, url);
	}
}

void
pt_start_pilot(th_proc *p, const char *name, const char *url, const char *dtp,
    const char *dtp_timeout_ms)
{
	pt_start_pilot_env(p, name, url, dtp, dtp_timeout_ms, NULL);
}

char *
pt_free_url(char *buf, size_t size)
{
	snprintf(buf, size, "tcp://127.0.0.1:%d", th_free_port());
	return buf;
}

rpc_client *
pt_open_client(const char *url)
{
	rpc_client     *c = NULL;
	rpc_client_opts opts
	    = { .env = &proto_pilot_envelope, .timeout_ms = 10000 };
	tp_err err;

	if (rpc_client_open(&c, url, &opts, &err) != TP_OK) {
		fail_msg("rpc_client_open %s: %s", url, err.msg);
	}
	return c;
}

/* Helpers: calls. Each returns the status; *rep is the caller's to release. */

tp_status
pt_call(rpc_client *c, pilot_v1_Request *req, pilot_v1_Reply *rep, tp_err *err)
{
	memset(rep, 0, sizeof(*rep));
	tp_err_clear(err);
	return rpc_client_call(c, req, rep, NULL, err);
}

tp_status
pt_create_wt(rpc_client *c, pilot_v1_WebTask *out, const char *title,
    const char *type, const char *payload, tp_err *err)
{
	pilot_v1_Request req = pilot_v1_Request_init_zero;
	pilot_v1_Reply   rep;
	tp_status        rc;

	req.which_call = pilot_v1_Request_create_web_task_tag;
	if (title != NULL) {
		req.call.create_web_task.has_title = true;
		snprintf(req.call.create_web_task.title,
		    sizeof(req.call.create_web_task.title), "%s", title);
	}
	snprintf(req.call.create_web_task.type,
	    sizeof(req.call.create_web_task.type), "%s", type);
	req.call.create_web_task.payload = (char *) payload;
	rc                               = pt_call(c, &req, &rep, err);
	if (rc == TP_OK) {
		assert_int_equal(
		    rep.which_result, pilot_v1_Reply_create_web_task_tag);
		*out = rep.result.create_web_task;
	}
	return rc;
}

int64_t
pt_must_create(const char *type, const char *payload)
{
	pilot_v1_WebTask wt;
	tp_err           err;
	int64_t          id;

	if (pt_create_wt(pt.rpc, &wt, NULL, type, payload, &err) != TP_OK) {
		fail_msg("CreateWebTask: %s", err.msg);
	}
	id = wt.id;
	pb_release(pilot_v1_WebTask_fields, &wt);
	return id;
}

/* by_id sends one of the calls that take an id; *rep on TP_OK. */
tp_status
pt_by_id(
    rpc_client *c, pb_size_t tag, int64_t id, pilot_v1_Reply *rep, tp_err *err)
{
	pilot_v1_Request req = pilot_v1_Request_init_zero;

	req.which_call = tag;
	switch (tag) {
	case pilot_v1_Request_get_web_task_tag:
		req.call.get_web_task.id = id;
		break;
	case pilot_v1_Request_bind_scheduler_tag:
		req.call.bind_scheduler.id = id;
		break;
	case pilot_v1_Request_get_execution_tag:
		req.call.get_execution.id = id;
		break;
	case pilot_v1_Request_cancel_execution_tag:
		req.call.cancel_execution.id = id;
		break;
	default:
		fail_msg("bad tag %u", (unsigned) tag);
	}
	return pt_call(c, &req, rep, err);
}

tp_status
pt_get_wt(int64_t id, pilot_v1_WebTask *out, tp_err *err)
{
	pilot_v1_Reply rep;
	tp_status      rc;

	rc = pt_by_id(pt.rpc, pilot_v1_Request_get_web_task_tag, id, &rep, err);
	if (rc == TP_OK) {
		*out = rep.result.get_web_task;
	}
	return rc;
}

tp_status
pt_bind_wt(rpc_client *c, int64_t id, int64_t *sched, tp_err *err)
{
	pilot_v1_Reply rep;
	tp_status      rc;

	rc = pt_by_id(c, pilot_v1_Request_bind_scheduler_tag, id, &rep, err);
	if (rc == TP_OK) {
		assert_int_equal(
		    rep.which_result, pilot_v1_Reply_bind_scheduler_tag);
		assert_int_equal(rep.result.bind_scheduler.id, id);
		assert_true(rep.result.bind_scheduler.has_scheduler_task_id);
		assert_true(rep.result.bind_scheduler.scheduler_task_id > 0);
		*sched = rep.result.bind_scheduler.scheduler_task_id;
		pb_release(pilot_v1_Reply_fields, &rep);
	}
	return rc;
}

tp_status
pt_execution(
    rpc_client *c, bool cancel, int64_t id, dtp_v1_Task *out, tp_err *err)
{
	pilot_v1_Reply rep;
	tp_status      rc;

	rc = pt_by_id(c,
	    cancel ? pilot_v1_Request_cancel_execution_tag
	           : pilot_v1_Request_get_execution_tag,
	    id, &rep, err);
	if (rc == TP_OK) {
		*out = cancel ? rep.result.cancel_execution
		              : rep.result.get_execution;
	}
	return rc;
}

typedef struct final_wait {
	rpc_client       *c;
	int64_t           id;
	dtp_v1_TaskStatus status;
	char              why[600];
} final_wait;

static bool
is_final_pred(void *arg)
{
	final_wait *w = arg;
	dtp_v1_Task t;
	tp_err      err;

	if (pt_execution(w->c, false, w->id, &t, &err) != TP_OK) {
		snprintf(w->why, sizeof(w->why), "GetExecution: %s", err.msg);
		return false;
	}
	w->status = t.status;
	pb_release(dtp_v1_Task_fields, &t);
	return w->status == dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED
	    || w->status == dtp_v1_TaskStatus_TASK_STATUS_FAILED
	    || w->status == dtp_v1_TaskStatus_TASK_STATUS_CANCELLED;
}

/* wait_final polls GetExecution until the task is final; returns it. */
void
pt_wait_final(rpc_client *c, int64_t id, dtp_v1_Task *out)
{
	final_wait w = { .c = c, .id = id };
	tp_err     err;

	if (!th_poll_until(is_final_pred, &w, RUN_MS)) {
		th_proc_dump_log(&pt.dtp);
		fail_msg("web task %" PRId64 " did not finish: status %d %s",
		    id, (int) w.status, w.why);
	}
	assert_int_equal(pt_execution(c, false, id, out, &err), TP_OK);
}

typedef struct bound_wait {
	rpc_client *c;
	int64_t     id;
	int64_t     sched;
	char        why[600];
} bound_wait;

static bool
is_bound_pred(void *arg)
{
	bound_wait    *w = arg;
	pilot_v1_Reply rep;
	tp_err         err;

	if (pt_by_id(w->c, pilot_v1_Request_get_web_task_tag, w->id, &rep, &err)
	    != TP_OK) {
		snprintf(w->why, sizeof(w->why), "GetWebTask: %s", err.msg);
		return false;
	}
	if (rep.result.get_web_task.has_scheduler_task_id) {
		w->sched = rep.result.get_web_task.scheduler_task_id;
	}
	pb_release(pilot_v1_Reply_fields, &rep);
	return w->sched != 0;
}

int64_t
pt_wait_bound(rpc_client *c, int64_t id, int timeout_ms, const th_proc *log)
{
	bound_wait w = { .c = c, .id = id };

	if (!th_poll_until(is_bound_pred, &w, timeout_ms)) {
		if (log != NULL) {
			th_proc_dump_log(log);
		}
		fail_msg("web task %" PRId64 " was not bound within %d ms %s",
		    id, timeout_ms, w.why);
	}
	return w.sched;
}

bool
pt_log_has(const th_proc *p, const char *a, const char *b)
{
	FILE *f = fopen(p->log_path, "r");
	char  line[8192];
	bool  found = false;

	if (f == NULL) {
		fail_msg("could not open %s", p->log_path);
	}
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		found = strstr(line, a) != NULL
		    && (b == NULL || strstr(line, b) != NULL);
	}
	fclose(f);
	return found;
}

/* Helpers: the database, to check what was (not) written. */

int64_t
pt_sql_int(const char *sql, const char *param)
{
	db_rows    *rows      = NULL;
	const char *params[1] = { param };
	tp_err      err;
	int64_t     v;

	if (db_exec(pt.db, &rows, sql, param != NULL ? 1 : 0,
	        param != NULL ? params : NULL, &err)
	    != TP_OK) {
		fail_msg("%s: %s", sql, err.msg);
	}
	assert_int_equal(db_rows_count(rows), 1);
	v = db_rows_int64(rows, 0, 0);
	db_rows_free(rows);
	return v;
}

int64_t
pt_web_task_count(void)
{
	return pt_sql_int("SELECT count(*) FROM pilot.web_task", NULL);
}

int64_t
pt_dtp_tasks_for(int64_t web_task_id)
{
	char key[64];

	snprintf(key, sizeof(key), "webtask:%" PRId64, web_task_id);
	return pt_sql_int(
	    "SELECT count(*) FROM dtp.task WHERE idempotency_key = $1", key);
}

int64_t
pt_dtp_task_for(int64_t web_task_id)
{
	char key[64];

	snprintf(key, sizeof(key), "webtask:%" PRId64, web_task_id);
	return pt_sql_int("SELECT coalesce(max(id), 0) FROM dtp.task "
	                  "WHERE idempotency_key = $1",
	    key);
}

bool
pt_has_bind_intent(int64_t web_task_id)
{
	char idbuf[32];

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, web_task_id);
	return pt_sql_int("SELECT count(*) FROM pilot.web_task WHERE id = "
	                  "$1::bigint AND bind_requested_at IS NOT NULL",
	           idbuf)
	    == 1;
}

void
pt_expect_error(
    tp_status got, const tp_err *err, tp_status want, const char *want_msg)
{
	if (got != want) {
		fail_msg("got %s (%s), want %s", tp_status_name(got), err->msg,
		    tp_status_name(want));
	}
	if (want_msg != NULL && strcmp(err->msg, want_msg) != 0) {
		fail_msg("got message \"%s\", want \"%s\"", err->msg, want_msg);
	}
}

/* Setup and teardown: one database, one dtp, one taskpilot per binary. */

/* setup starts the database and dtp, and a taskpilot when with_pilot. */
static int
setup(bool with_pilot)
{
	tp_err err;

	pt.db_url = th_db_create("pilot");
	if (db_conn_open(&pt.db, pt.db_url, &err) != TP_OK) {
		fprintf(stderr, "db_conn_open: %s\n", err.msg);
		return -1;
	}
	snprintf(pt.dtp_url, sizeof(pt.dtp_url), "tcp://127.0.0.1:%d",
	    th_free_port());
	snprintf(pt.pilot_url, sizeof(pt.pilot_url), "tcp://127.0.0.1:%d",
	    th_free_port());
	pt_start_dtp(&pt.dtp, "dtp", pt.dtp_url);
	if (with_pilot) {
		pt_start_pilot(
		    &pt.pilot, "taskpilot", pt.pilot_url, pt.dtp_url, "3000");
		pt.rpc = pt_open_client(pt.pilot_url);
	}
	return 0;
}

int
pt_setup(void **state)
{
	(void) state;
	return setup(true);
}

int
pt_setup_dtp_only(void **state)
{
	(void) state;
	return setup(false);
}

int
pt_teardown(void **state)
{
	(void) state;
	rpc_client_free(pt.rpc);
	if (pt.pilot.pid > 0 && th_proc_alive(&pt.pilot)) {
		th_proc_kill(&pt.pilot);
	}
	if (pt.dtp.pid > 0 && th_proc_alive(&pt.dtp)) {
		th_proc_kill(&pt.dtp);
	}
	db_conn_free(pt.db);
	th_db_drop();
	return 0;
}

void
pt_stop_all(void)
{
	rpc_client_free(pt.rpc);
	pt.rpc = NULL;
	if (pt.pilot.pid > 0) {
		assert_int_equal(th_proc_stop(&pt.pilot, STOP_MS), 0);
	}
	assert_int_equal(th_proc_stop(&pt.dtp, STOP_MS), 0);
}
