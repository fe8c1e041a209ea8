/*
 * pilot_background_test.c: TaskPilot's background jobs against real
 * PostgreSQL and real `dtp` and `taskpilot` processes: a bind cut short by a
 * crash (fault points pilot.bind.after_intent / after_create = crash) is
 * finished by the reconciler of the next taskpilot with no client retry, to
 * exactly one DTP task; a bind racing a reconcile of the same web task; and
 * the refresher keeping the execution cache fresh when nobody calls
 * GetExecution. The fault tests need a -DTP_FAULTS=ON build (the test
 * suite's); in any other build they are skipped, saying so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <pb_decode.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/clock.h"
#include "pilot_util.h"

#define GRACE_MS  1500 /* the restarted taskpilot's --bind-grace-ms */
#define TICK_MS   100  /* its --reconcile-ms */
#define SLACK_MS  5000 /* for a slow machine (Asan, 2 cores) */
#define GRACE_ENV "PILOT_BIND_GRACE_MS=1500"
#define TICK_ENV  "PILOT_RECONCILE_MS=100"

#ifdef TP_FAULTS
#define NEED_FAULTS() ((void) 0)
#else
#define NEED_FAULTS()                                                       \
	do {                                                                \
		print_message("skipped: taskpilot was built without fault " \
		              "points; configure with -DTP_FAULTS=ON (as "  \
		              "scripts/test.sh does) to run this test\n");  \
		skip();                                                     \
	} while (0)
#endif

static bool
is_dead_pred(void *arg)
{
	return !th_proc_alive(arg);
}

/* expect_killed waits for p to die and checks SIGKILL (a crash) did it. */
static void
expect_killed(th_proc *p)
{
	if (!th_poll_until(is_dead_pred, p, STOP_MS)) {
		th_proc_dump_log(p);
		fail_msg("%s did not crash", p->name);
	}
	if (p->wait_status < 0 || !WIFSIGNALED(p->wait_status)
	    || WTERMSIG(p->wait_status) != SIGKILL) {
		th_proc_dump_log(p);
		fail_msg("%s ended with wait status %d, not by SIGKILL",
		    p->name, p->wait_status);
	}
}

static bool
is_unbound(int64_t id)
{
	char idbuf[32];

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	return pt_sql_int("SELECT count(*) FROM pilot.web_task WHERE id = "
	                  "$1::bigint AND scheduler_task_id IS NULL",
	           idbuf)
	    == 1;
}

/*
 * crash_then_reconcile: a taskpilot with fault_spec binds a new web task and
 * dies at the fault point; checks what DTP holds then (dtp_tasks_after_crash
 * tasks keyed webtask:<id>); restarts a taskpilot without faults and waits,
 * with no client call but GetWebTask, until the reconciler bound the web
 * task to exactly one DTP task.
 */
static void
crash_then_reconcile(const char *fault_spec, int64_t dtp_tasks_after_crash)
{
	const char *faulty[]  = { fault_spec, NULL };
	const char *healthy[] = { GRACE_ENV, TICK_ENV, NULL };
	char        url[64];
	char        fault_line[128];
	char        bound_line[128];
	th_proc     a;
	th_proc     b;
	rpc_client *c;
	tp_err      err;
	tp_status   rc;
	int64_t     id;
	int64_t     sched = 0;
	int64_t     dtp_id;
	char        want_payload[160];
	char        key[64];

	pt_start_pilot_env(&a, "taskpilot-crash", pt_free_url(url, sizeof(url)),
	    pt.dtp_url, "3000", faulty);
	c = pt_open_client(url);
	{
		pilot_v1_WebTask wt;
		assert_int_equal(
		    pt_create_wt(c, &wt, NULL, "demo", "crash", &err), TP_OK);
		id = wt.id;
		pb_release(pilot_v1_WebTask_fields, &wt);
	}
	rc = pt_bind_wt(c, id, &sched, &err);
	if (rc != TP_UNAVAILABLE && rc != TP_DEADLINE_EXCEEDED) {
		th_proc_dump_log(&a);
		fail_msg("bind: got %s (%s), want UNAVAILABLE or "
		         "DEADLINE_EXCEEDED (the process died)",
		    tp_status_name(rc), err.msg);
	}
	rpc_client_free(c);
	expect_killed(&a);
	snprintf(fault_line, sizeof(fault_line), "fault point fired name=%.*s",
	    (int) strcspn(fault_spec + 10, "="),
	    fault_spec + 10); /* past "TP_FAULTS=" */
	assert_true(pt_log_has(&a, fault_line, NULL));

	/* What the crash left: the intent, no binding, and DTP's share. */
	assert_true(is_unbound(id));
	assert_true(pt_has_bind_intent(id));
	assert_int_equal(pt_dtp_tasks_for(id), dtp_tasks_after_crash);

	pt_start_pilot_env(&b, "taskpilot-restarted",
	    pt_free_url(url, sizeof(url)), pt.dtp_url, "3000", healthy);
	c      = pt_open_client(url);
	sched  = pt_wait_bound(c, id, GRACE_MS + TICK_MS + SLACK_MS, &b);
	dtp_id = pt_dtp_task_for(id);
	assert_int_equal(sched, dtp_id);
	assert_int_equal(pt_dtp_tasks_for(id), 1);
	snprintf(bound_line, sizeof(bound_line),
	    "web task bound web_task_id=%" PRId64 " scheduler_task_id=%" PRId64
	    " by=reconciler",
	    id, sched);
	assert_true(pt_log_has(&b, bound_line,
	    dtp_tasks_after_crash == 1 ? "replayed=true" : "replayed=false"));
	/* The DTP task is the one a bind makes: key and payload. */
	snprintf(key, sizeof(key), "webtask:%" PRId64, id);
	snprintf(want_payload, sizeof(want_payload),
	    "{\"webTaskId\":%" PRId64 ",\"type\":\"demo\",\"payload\":"
	    "\"crash\"}",
	    id);
	{
		db_rows    *rows      = NULL;
		const char *params[1] = { key };
		assert_int_equal(db_exec(pt.db, &rows,
		                     "SELECT payload FROM dtp.task WHERE "
		                     "idempotency_key = $1",
		                     1, params, &err),
		    TP_OK);
		assert_int_equal(db_rows_count(rows), 1);
		assert_string_equal(db_rows_get(rows, 0, 0), want_payload);
		db_rows_free(rows);
	}
	{
		dtp_v1_Task task;
		pt_wait_final(c, id, &task);
		assert_int_equal(task.id, sched);
		assert_int_equal(
		    task.status, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED);
		pb_release(dtp_v1_Task_fields, &task);
	}
	rpc_client_free(c);
	assert_int_equal(th_proc_stop(&b, STOP_MS), 0);
}

/* DTP made the task, the binding was never stored: one task, adopted. */
static void
test_background_crash_after_create_is_reconciled(void **state)
{
	(void) state;
	NEED_FAULTS();
	crash_then_reconcile("TP_FAULTS=pilot.bind.after_create=crash", 1);
}

/* The intent was stored, DTP never called: the reconciler makes the task. */
static void
test_background_crash_after_intent_is_reconciled(void **state)
{
	(void) state;
	NEED_FAULTS();
	crash_then_reconcile("TP_FAULTS=pilot.bind.after_intent=crash", 0);
}

typedef struct log_wait {
	const th_proc *p;
	const char    *a;
	const char    *b;
} log_wait;

static bool
log_has_pred(void *arg)
{
	log_wait *w = arg;

	return pt_log_has(w->p, w->a, w->b);
}

/*
 * A bind and a reconcile of the same web task at once. The bind stops 1.5 s
 * after CreateTask (a delay at pilot.bind.after_create); meanwhile its
 * intent passes the 300 ms grace period and the reconciler finishes the
 * same bind. Round 1 delays the reconciler as well, so the bind stores the
 * binding and the reconciler finds it stored; round 2 delays the bind only
 * (*1: the first hit), so the reconciler stores it and the bind finds it
 * stored. Either way: the bind answers OK with the one DTP task there is.
 */
static void
test_background_bind_races_reconcile(void **state)
{
	static const struct {
		const char *faults;
		const char *loser; /* who finds the binding already stored */
	} rounds[] = {
		{ "TP_FAULTS=pilot.bind.after_create=delay:1500",
		    "reconciler" },
		{ "TP_FAULTS=pilot.bind.after_create=delay:1500*1", "rpc" },
	};

	(void) state;
	NEED_FAULTS();
	for (size_t i = 0; i < sizeof(rounds) / sizeof(rounds[0]); i++) {
		const char *extra[]
		    = { rounds[i].faults, "PILOT_BIND_GRACE_MS=300",
			      "PILOT_RECONCILE_MS=50", NULL };
		char        url[64];
		char        name[64];
		char        line[160];
		char        started[96];
		th_proc     p;
		rpc_client *c;
		tp_err      err;
		int64_t     id;
		int64_t     sched = 0;
		log_wait    w;

		snprintf(name, sizeof(name), "taskpilot-race%zu", i + 1);
		pt_start_pilot_env(&p, name, pt_free_url(url, sizeof(url)),
		    pt.dtp_url, "3000", extra);
		c = pt_open_client(url);
		{
			pilot_v1_WebTask wt;
			assert_int_equal(
			    pt_create_wt(c, &wt, NULL, "demo", "race", &err),
			    TP_OK);
			id = wt.id;
			pb_release(pilot_v1_WebTask_fields, &wt);
		}
		if (pt_bind_wt(c, id, &sched, &err) != TP_OK) {
			th_proc_dump_log(&p);
			fail_msg("round %zu: bind: %s", i + 1, err.msg);
		}
		assert_int_equal(sched, pt_dtp_task_for(id));
		assert_int_equal(pt_dtp_tasks_for(id), 1);
		/* The reconciler really took part, and one side lost. */
		snprintf(started, sizeof(started),
		    "finishing an interrupted bind web_task_id=%" PRId64, id);
		assert_true(pt_log_has(&p, started, NULL));
		snprintf(line, sizeof(line),
		    "web task bound web_task_id=%" PRId64
		    " scheduler_task_id=%" PRId64 " by=%s",
		    id, sched, rounds[i].loser);
		w = (log_wait) { .p = &p, .a = line, .b = "raced=true" };
		if (!th_poll_until(log_has_pred, &w, SLACK_MS)) {
			th_proc_dump_log(&p);
			fail_msg(
			    "round %zu: no \"%s ... raced=true\"", i + 1, line);
		}
		assert_int_equal(pt_dtp_tasks_for(id), 1);
		assert_int_equal(pt_wait_bound(c, id, 1, &p), sched);
		rpc_client_free(c);
		assert_int_equal(th_proc_stop(&p, STOP_MS), 0);
	}
}

/*
 * No crash: the binding's UPDATE fails once (fault `fail*1`), the bind
 * answers UNAVAILABLE, and the same process's reconciler finishes it.
 */
static void
test_background_failed_store_is_reconciled(void **state)
{
	static const char *const extra[]
	    = { "TP_FAULTS=pilot.bind.after_create=fail*1",
		      "PILOT_BIND_GRACE_MS=300", "PILOT_RECONCILE_MS=50",
		      NULL };
	char        url[64];
	char        want[128];
	th_proc     p;
	rpc_client *c;
	tp_err      err;
	int64_t     id;
	int64_t     sched = 0;

	(void) state;
	NEED_FAULTS();
	pt_start_pilot_env(&p, "taskpilot-failstore",
	    pt_free_url(url, sizeof(url)), pt.dtp_url, "3000", extra);
	c = pt_open_client(url);
	{
		pilot_v1_WebTask wt;
		assert_int_equal(
		    pt_create_wt(c, &wt, NULL, "demo", "fail once", &err),
		    TP_OK);
		id = wt.id;
		pb_release(pilot_v1_WebTask_fields, &wt);
	}
	snprintf(want, sizeof(want),
	    "could not bind web task %" PRId64
	    ": fault pilot.bind.after_create injected",
	    id);
	pt_expect_error(
	    pt_bind_wt(c, id, &sched, &err), &err, TP_UNAVAILABLE, want);
	assert_int_equal(pt_dtp_tasks_for(id), 1);
	sched = pt_wait_bound(c, id, 300 + 50 + SLACK_MS, &p);
	assert_int_equal(sched, pt_dtp_task_for(id));
	assert_int_equal(pt_dtp_tasks_for(id), 1);
	rpc_client_free(c);
	assert_int_equal(th_proc_stop(&p, STOP_MS), 0);
}

static bool
dtp_succeeded_pred(void *arg)
{
	char idbuf[32];

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, *(int64_t *) arg);
	return pt_sql_int("SELECT count(*) FROM dtp.task WHERE id = "
	                  "$1::bigint AND status = 'SUCCEEDED'",
	           idbuf)
	    == 1;
}

typedef struct cache_wait {
	rpc_client       *c;
	int64_t           id;
	dtp_v1_TaskStatus want;
	dtp_v1_TaskStatus got;
	int64_t           seen_ms;
} cache_wait;

static bool
cached_pred(void *arg)
{
	cache_wait    *w = arg;
	pilot_v1_Reply rep;
	tp_err         err;

	if (pt_by_id(w->c, pilot_v1_Request_get_web_task_tag, w->id, &rep, &err)
	    != TP_OK) {
		return false;
	}
	w->got     = rep.result.get_web_task.execution_status;
	w->seen_ms = rep.result.get_web_task.execution_seen_at_ms;
	pb_release(pilot_v1_Reply_fields, &rep);
	return w->got == w->want;
}

/*
 * The refresher. A taskpilot without it: a web task whose DTP task
 * finished still shows PENDING (what the bind saw), since nobody asked DTP.
 * Then a taskpilot with it (every 100 ms, 2 per tick): GetWebTask and
 * ListWebTasks show SUCCEEDED soon, with no GetExecution.
 */
static void
test_background_refresher_shows_progress(void **state)
{
	static const char *const refreshing[]
	    = { "PILOT_REFRESH_MS=100", "PILOT_REFRESH_BATCH=2", NULL };
	char             url[64];
	th_proc          quiet;
	th_proc          fresh;
	rpc_client      *c;
	pilot_v1_WebTask wt;
	pilot_v1_Request req = pilot_v1_Request_init_zero;
	pilot_v1_Reply   rep;
	cache_wait       w;
	tp_err           err;
	int64_t          id;
	int64_t          sched = 0;
	int64_t          bound_seen;

	(void) state;
	pt_start_pilot(&quiet, "taskpilot-quiet", pt_free_url(url, sizeof(url)),
	    pt.dtp_url, "3000");
	c = pt_open_client(url);
	assert_int_equal(
	    pt_create_wt(c, &wt, NULL, "demo", "progress", &err), TP_OK);
	id = wt.id;
	pb_release(pilot_v1_WebTask_fields, &wt);
	assert_int_equal(pt_bind_wt(c, id, &sched, &err), TP_OK);
	if (!th_poll_until(dtp_succeeded_pred, &sched, RUN_MS)) {
		fail_msg("dtp task %" PRId64 " did not succeed", sched);
	}
	w = (cache_wait) {
		.c = c, .id = id, .want = dtp_v1_TaskStatus_TASK_STATUS_PENDING
	};
	assert_true(cached_pred(&w));
	bound_seen = w.seen_ms;
	assert_true(bound_seen > 0);
	rpc_client_free(c);
	assert_int_equal(th_proc_stop(&quiet, STOP_MS), 0);

	pt_start_pilot_env(&fresh, "taskpilot-refresher",
	    pt_free_url(url, sizeof(url)), pt.dtp_url, "3000", refreshing);
	c = pt_open_client(url);
	w = (cache_wait) { .c = c,
		.id           = id,
		.want         = dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED };
	if (!th_poll_until(cached_pred, &w, SLACK_MS)) {
		th_proc_dump_log(&fresh);
		fail_msg("web task %" PRId64 " still shows status %d", id,
		    (int) w.got);
	}
	assert_true(w.seen_ms > bound_seen);
	assert_true(w.seen_ms <= tp_clock_unix_ms());
	req.which_call                   = pilot_v1_Request_list_web_tasks_tag;
	req.call.list_web_tasks.after_id = id - 1;
	req.call.list_web_tasks.limit    = 1;
	assert_int_equal(pt_call(c, &req, &rep, &err), TP_OK);
	assert_int_equal(rep.result.list_web_tasks.tasks_count, 1);
	assert_int_equal(rep.result.list_web_tasks.tasks[0].id, id);
	assert_int_equal(rep.result.list_web_tasks.tasks[0].execution_status,
	    dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED);
	pb_release(pilot_v1_Reply_fields, &rep);
	/* Final: the refresher never asks about it again. */
	assert_int_equal(pt_sql_int("SELECT count(*) FROM pilot.web_task "
	                            "WHERE scheduler_task_id IS NOT NULL AND "
	                            "execution_status NOT IN ('SUCCEEDED', "
	                            "'FAILED', 'CANCELLED')",
	                     NULL),
	    0);
	rpc_client_free(c);
	assert_int_equal(th_proc_stop(&fresh, STOP_MS), 0);
}

/* Last: dtp stops cleanly (exit status 0). */
static void
test_background_sigterm_exits_zero(void **state)
{
	(void) state;
	pt_stop_all();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_background_crash_after_create_is_reconciled),
		cmocka_unit_test(
		    test_background_crash_after_intent_is_reconciled),
		cmocka_unit_test(test_background_bind_races_reconcile),
		cmocka_unit_test(test_background_failed_store_is_reconciled),
		cmocka_unit_test(test_background_refresher_shows_progress),
		cmocka_unit_test(test_background_sigterm_exits_zero),
	};
	return cmocka_run_group_tests_name(
	    "pilot_background", tests, pt_setup_dtp_only, pt_teardown);
}
