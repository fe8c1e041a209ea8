/* dtp_helpers.c: DTP calls and nodes for the dtp_* integration tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <pb_decode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtp_helpers.h"
#include "proto/envelope.h"

#define MAX_ARGS 48

void
dtp_h_start(th_proc *p, const char *name, const char *url, const char *db_url,
    const char *const *args, char *const *env)
{
	dtp_h_start_bin(p, "dtp", name, url, db_url, args, env);
}

void
dtp_h_start_bin(th_proc *p, const char *bin, const char *name, const char *url,
    const char *db_url, const char *const *args, char *const *env)
{
	char *argv[MAX_ARGS];
	int   n = 0;

	argv[n++] = (char *) th_bin(bin);
	argv[n++] = "--listen";
	argv[n++] = (char *) url;
	argv[n++] = "--database-url";
	argv[n++] = (char *) db_url;
	argv[n++] = "--node-name";
	argv[n++] = (char *) name;
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	for (int i = 0; args != NULL && args[i] != NULL && n < MAX_ARGS - 1;
	     i++) {
		argv[n++] = (char *) args[i];
	}
	argv[n] = NULL;
	th_proc_start(p, name, argv, env);
	if (!th_wait_rpc_health("dtp", url, DTP_H_START_MS)) {
		th_proc_dump_log(p);
		fail_msg("%s did not answer Health at %s", name, url);
	}
}

rpc_client *
dtp_h_client(const char *url)
{
	rpc_client     *c = NULL;
	rpc_client_opts opts
	    = { .env = &proto_dtp_envelope, .timeout_ms = 10000 };
	tp_err err;

	if (rpc_client_open(&c, url, &opts, &err) != TP_OK) {
		fail_msg("rpc_client_open %s: %s", url, err.msg);
	}
	return c;
}

static tp_status
call(rpc_client *c, dtp_v1_Request *req, dtp_v1_Reply *rep, tp_err *err)
{
	memset(rep, 0, sizeof(*rep));
	tp_err_clear(err);
	return rpc_client_call(c, req, rep, NULL, err);
}

tp_status
dtp_h_create(rpc_client *c, dtp_v1_Task *out, bool *replayed, const char *type,
    const char *payload, const dtp_h_opts *o, tp_err *err)
{
	dtp_v1_Request            req = dtp_v1_Request_init_zero;
	dtp_v1_CreateTaskRequest *ct  = &req.call.create_task;
	dtp_v1_Reply              rep;
	tp_status                 rc;

	req.which_call = dtp_v1_Request_create_task_tag;
	snprintf(ct->type, sizeof(ct->type), "%s", type);
	ct->payload = (char *) payload;
	if (o != NULL && o->max_attempts != 0) {
		ct->has_max_attempts = true;
		ct->max_attempts     = o->max_attempts;
	}
	if (o != NULL && o->timeout_ms != 0) {
		ct->has_timeout_ms = true;
		ct->timeout_ms     = o->timeout_ms;
	}
	if (o != NULL && o->run_at_ms != 0) {
		ct->has_run_at_ms = true;
		ct->run_at_ms     = o->run_at_ms;
	}
	if (o != NULL && o->backoff_base_ms != 0) {
		ct->has_backoff_base_ms = true;
		ct->backoff_base_ms     = o->backoff_base_ms;
	}
	if (o != NULL && o->backoff_max_ms != 0) {
		ct->has_backoff_max_ms = true;
		ct->backoff_max_ms     = o->backoff_max_ms;
	}
	if (o != NULL && o->key != NULL) {
		ct->has_idempotency_key = true;
		snprintf(ct->idempotency_key, sizeof(ct->idempotency_key), "%s",
		    o->key);
	}
	rc = call(c, &req, &rep, err);
	if (rc == TP_OK) {
		assert_int_equal(
		    rep.which_result, dtp_v1_Reply_create_task_tag);
		assert_true(rep.result.create_task.has_task);
		*out = rep.result.create_task.task;
		if (replayed != NULL) {
			*replayed = rep.result.create_task.replayed;
		}
	}
	return rc;
}

int64_t
dtp_h_must_create(
    rpc_client *c, const char *type, const char *payload, const dtp_h_opts *o)
{
	dtp_v1_Task t;
	tp_err      err;
	int64_t     id;

	if (dtp_h_create(c, &t, NULL, type, payload, o, &err) != TP_OK) {
		fail_msg("CreateTask %s: %s", type, err.msg);
	}
	id = t.id;
	assert_true(id > 0);
	pb_release(dtp_v1_Task_fields, &t);
	return id;
}

static tp_status
by_id(rpc_client *c, pb_size_t tag, int64_t id, dtp_v1_Task *out, tp_err *err)
{
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	dtp_v1_Reply   rep;
	tp_status      rc;

	req.which_call = tag;
	if (tag == dtp_v1_Request_get_task_tag) {
		req.call.get_task.id = id;
	} else {
		req.call.cancel_task.id = id;
	}
	rc = call(c, &req, &rep, err);
	if (rc == TP_OK) {
		assert_int_equal(rep.which_result, tag);
		*out = tag == dtp_v1_Request_get_task_tag
		    ? rep.result.get_task
		    : rep.result.cancel_task;
	}
	return rc;
}

tp_status
dtp_h_get(rpc_client *c, int64_t id, dtp_v1_Task *out, tp_err *err)
{
	return by_id(c, dtp_v1_Request_get_task_tag, id, out, err);
}

tp_status
dtp_h_cancel(rpc_client *c, int64_t id, dtp_v1_Task *out, tp_err *err)
{
	return by_id(c, dtp_v1_Request_cancel_task_tag, id, out, err);
}

tp_status
dtp_h_list(rpc_client *c, dtp_v1_ListTasksReply *out, int status,
    const char *type, int64_t after, int32_t limit, bool newest_first,
    tp_err *err)
{
	dtp_v1_Request           req = dtp_v1_Request_init_zero;
	dtp_v1_ListTasksRequest *lt  = &req.call.list_tasks;
	dtp_v1_Reply             rep;
	tp_status                rc;

	req.which_call = dtp_v1_Request_list_tasks_tag;
	if (status != 0) {
		lt->has_status = true;
		lt->status     = (dtp_v1_TaskStatus) status;
	}
	if (type != NULL) {
		snprintf(lt->type, sizeof(lt->type), "%s", type);
	}
	lt->after_id     = after;
	lt->limit        = limit;
	lt->newest_first = newest_first;
	rc               = call(c, &req, &rep, err);
	if (rc == TP_OK) {
		assert_int_equal(rep.which_result, dtp_v1_Reply_list_tasks_tag);
		*out = rep.result.list_tasks;
	}
	return rc;
}

typedef struct status_wait {
	rpc_client       *c;
	int64_t           id;
	dtp_v1_TaskStatus want;
	int               min_attempts;
	char              why[1200];
} status_wait;

static bool
has_status_pred(void *arg)
{
	status_wait *w = arg;
	dtp_v1_Task  t;
	tp_err       err;
	bool         ok;

	if (dtp_h_get(w->c, w->id, &t, &err) != TP_OK) {
		snprintf(w->why, sizeof(w->why), "GetTask: %s", err.msg);
		return false;
	}
	snprintf(w->why, sizeof(w->why),
	    "status %d attempts %d locked_by %s last_error %.1000s",
	    (int) t.status, (int) t.attempts, t.locked_by, t.last_error);
	ok = t.status == w->want && t.attempts >= w->min_attempts;
	pb_release(dtp_v1_Task_fields, &t);
	return ok;
}

void
dtp_h_wait_status(rpc_client *c, int64_t id, dtp_v1_TaskStatus want,
    int min_attempts, int timeout_ms, dtp_v1_Task *out, th_proc *const *procs,
    int n_procs)
{
	status_wait w
	    = { .c = c, .id = id, .want = want, .min_attempts = min_attempts };
	tp_err err;

	if (!th_poll_until(has_status_pred, &w, timeout_ms)) {
		for (int i = 0; i < n_procs; i++) {
			th_proc_dump_log(procs[i]);
		}
		fail_msg("task %" PRId64 " did not reach status %d: %s", id,
		    (int) want, w.why);
	}
	if (out != NULL && dtp_h_get(c, id, out, &err) != TP_OK) {
		fail_msg("GetTask %" PRId64 ": %s", id, err.msg);
	}
}

bool
dtp_h_log_has(const th_proc *p, const char *needle)
{
	FILE  *f     = fopen(p->log_path, "r");
	char  *buf   = NULL;
	size_t cap   = 0;
	bool   found = false;

	if (f == NULL) {
		return false;
	}
	while (getline(&buf, &cap, f) >= 0) {
		if (strstr(buf, needle) != NULL) {
			found = true;
			break;
		}
	}
	free(buf);
	fclose(f);
	return found;
}

int
dtp_h_log_count(const th_proc *p, const char *needle)
{
	FILE  *f   = fopen(p->log_path, "r");
	char  *buf = NULL;
	size_t cap = 0;
	int    n   = 0;

	if (f == NULL) {
		return 0;
	}
	while (getline(&buf, &cap, f) >= 0) {
		if (strstr(buf, needle) != NULL) {
			n++;
		}
	}
	free(buf);
	fclose(f);
	return n;
}

int
dtp_h_log_max_after(const th_proc *p, const char *needle)
{
	FILE  *f    = fopen(p->log_path, "r");
	char  *buf  = NULL;
	size_t cap  = 0;
	int    most = 0;

	if (f == NULL) {
		return 0;
	}
	while (getline(&buf, &cap, f) >= 0) {
		const char *at = strstr(buf, needle);
		if (at != NULL) {
			int n = atoi(at + strlen(needle));
			most  = n > most ? n : most;
		}
	}
	free(buf);
	fclose(f);
	return most;
}

tp_status
dtp_h_metrics(rpc_client *c, char **text, tp_err *err)
{
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	dtp_v1_Reply   rep;
	tp_status      rc;

	req.which_call = dtp_v1_Request_metrics_tag;
	rc             = call(c, &req, &rep, err);
	if (rc == TP_OK) {
		assert_int_equal(rep.which_result, dtp_v1_Reply_metrics_tag);
		assert_non_null(rep.result.metrics.text);
		*text = rep.result.metrics.text;
	}
	return rc;
}

typedef struct log_wait {
	const th_proc *p;
	const char    *needle;
} log_wait;

static bool
log_has_pred(void *arg)
{
	log_wait *w = arg;

	return dtp_h_log_has(w->p, w->needle);
}

void
dtp_h_wait_log(const th_proc *p, const char *needle, int timeout_ms)
{
	log_wait w = { p, needle };

	if (!th_poll_until(log_has_pred, &w, timeout_ms)) {
		th_proc_dump_log(p);
		fail_msg("%s never logged \"%s\"", p->name, needle);
	}
}
