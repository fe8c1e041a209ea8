/*
 * dtp_workers_test.c: worker binaries of one's own. The example of
 * scheduler/examples (dtp_my_worker) runs its `reverse` type next to the
 * built-ins; and dtp_test_worker's `test.stubborn`, a handler deaf to its
 * stop flag, shows what DTP guarantees then: a cancel or a timeout ends
 * the attempt for the handler after --handler-grace-ms (CANCELLED, or
 * retried / FAILED), its worker slot gets a new thread so the node keeps
 * its capacity, and a shutdown hands the task back and exits 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <pb_decode.h>
#include <stdio.h>
#include <string.h>

#include "db/conn.h"
#include "dtp_helpers.h"
#include "dtp_metric.h"
#include "harness.h"

#define RUN_MS  15000
#define STOP_MS 15000
/* --handler-grace-ms of the stubborn node. */
#define GRACE_MS 300

#define ST_PENDING   dtp_v1_TaskStatus_TASK_STATUS_PENDING
#define ST_RUNNING   dtp_v1_TaskStatus_TASK_STATUS_RUNNING
#define ST_SUCCEEDED dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED
#define ST_FAILED    dtp_v1_TaskStatus_TASK_STATUS_FAILED
#define ST_CANCELLED dtp_v1_TaskStatus_TASK_STATUS_CANCELLED

static const char *db_url;
static th_proc     stubborn;
static char        stubborn_url[64];
static rpc_client *client;

static int
group_setup(void **state)
{
	static const char *const args[] = { "--workers", "2",
		"--handler-grace-ms", "300", "--drain-ms", "200",
		"--backoff-base-ms", "10", "--backoff-max-ms", "20", NULL };

	(void) state;
	db_url = th_db_create("dtp_workers");
	snprintf(stubborn_url, sizeof(stubborn_url), "tcp://127.0.0.1:%d",
	    th_free_port());
	dtp_h_start_bin(&stubborn, "dtp_test_worker", "node-stubborn",
	    stubborn_url, db_url, args, NULL);
	client = dtp_h_client(stubborn_url);
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	rpc_client_free(client);
	if (th_proc_alive(&stubborn)) {
		(void) th_proc_stop(&stubborn, STOP_MS);
	}
	th_db_drop();
	return 0;
}

static void
wait_status(rpc_client *c, int64_t id, dtp_v1_TaskStatus want, int min_attempts,
    int timeout_ms, dtp_v1_Task *out, th_proc *p)
{
	th_proc *procs[1] = { p };

	dtp_h_wait_status(c, id, want, min_attempts, timeout_ms, out, procs, 1);
}

typedef struct log_wait {
	const th_proc *p;
	char           needle[160];
} log_wait;

static bool
log_has_pred(void *arg)
{
	log_wait *w = arg;

	return dtp_h_log_has(w->p, w->needle);
}

static void
test_dtp_workers_example_runs_reverse(void **state)
{
	static const char *const args[] = { "--workers", "2", NULL };
	th_proc                  p;
	char                     url[64];
	rpc_client              *c;
	dtp_v1_Task              t;
	int64_t                  id;
	log_wait                 w;

	(void) state;
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", th_free_port());
	dtp_h_start_bin(
	    &p, "dtp_my_worker", "node-example", url, db_url, args, NULL);
	/* Health may answer just before `ready` is logged. */
	w.p = &p;
	snprintf(w.needle, sizeof(w.needle), "types=reverse,demo,sleep,fail");
	if (!th_poll_until(log_has_pred, &w, RUN_MS)) {
		th_proc_dump_log(&p);
		fail_msg("dtp_my_worker did not list its types");
	}
	c = dtp_h_client(url);

	/* Characters, not bytes: the result is valid UTF-8. */
	id = dtp_h_must_create(
	    c, "reverse", "h\xc3\xa9llo, w\xc3\xb6rld", NULL);
	wait_status(c, id, ST_SUCCEEDED, 1, RUN_MS, &t, &p);
	assert_string_equal(t.result, "dlr\xc3\xb6w ,oll\xc3\xa9h");
	pb_release(dtp_v1_Task_fields, &t);

	/* Through TaskPilot: the web task's payload is reversed. */
	id = dtp_h_must_create(c, "reverse",
	    "{\"webTaskId\":5,\"type\":\"reverse\",\"payload\":\"abc\"}", NULL);
	wait_status(c, id, ST_SUCCEEDED, 1, RUN_MS, &t, &p);
	assert_string_equal(t.result, "cba");
	pb_release(dtp_v1_Task_fields, &t);

	/* The built-ins come along. */
	id = dtp_h_must_create(c, "demo", "{\"also\":\"demo\"}", NULL);
	wait_status(c, id, ST_SUCCEEDED, 1, RUN_MS, &t, &p);
	assert_string_equal(t.result, "{\"also\":\"demo\"}");
	pb_release(dtp_v1_Task_fields, &t);

	rpc_client_free(c);
	if (th_proc_stop(&p, STOP_MS) != 0) {
		th_proc_dump_log(&p);
		fail_msg("dtp_my_worker did not exit 0 on SIGTERM");
	}
}

static void
test_dtp_workers_ignored_cancel_is_ended_for_the_handler(void **state)
{
	dtp_v1_Task t;
	tp_err      err;
	int64_t     id;
	int64_t     demo;
	long long   t0;
	log_wait    w;
	char        want[128];

	(void) state;
	id = dtp_h_must_create(client, "test.stubborn", "{\"ms\":3000}", NULL);
	wait_status(client, id, ST_RUNNING, 1, RUN_MS, NULL, &stubborn);
	t0 = th_now_ms();
	assert_int_equal(dtp_h_cancel(client, id, &t, &err), TP_OK);
	assert_int_equal(t.status, ST_RUNNING);
	assert_true(t.cancel_requested);
	pb_release(dtp_v1_Task_fields, &t);

	/* Ended for the handler once the grace passed, long before it
	 * returns by itself (3 s). */
	wait_status(client, id, ST_CANCELLED, 1, RUN_MS, &t, &stubborn);
	assert_true(th_now_ms() - t0 >= GRACE_MS - 50);
	assert_true(th_now_ms() - t0 < 2500);
	snprintf(want, sizeof(want),
	    "cancelled; the handler did not stop within %d ms and was "
	    "abandoned",
	    GRACE_MS);
	assert_string_equal(t.last_error, want);
	pb_release(dtp_v1_Task_fields, &t);

	/* Its slot has a new worker: both slots still run tasks. */
	demo = dtp_h_must_create(client, "demo", "{}", NULL);
	wait_status(client, demo, ST_SUCCEEDED, 1, RUN_MS, NULL, &stubborn);
	assert_true(
	    dtp_h_metric(client, "dtp_handlers_abandoned_total", NULL) == 1);

	/* When the deaf handler returns at last, its end changes nothing. */
	w.p = &stubborn;
	snprintf(w.needle, sizeof(w.needle),
	    "abandoned handler returned task_id=%" PRId64 " attempt=1", id);
	if (!th_poll_until(log_has_pred, &w, RUN_MS)) {
		th_proc_dump_log(&stubborn);
		fail_msg("the abandoned handler's return was not logged");
	}
	wait_status(client, id, ST_CANCELLED, 1, RUN_MS, NULL, &stubborn);
	dtp_h_metric_wait(client, "dtp_workers_abandoned", NULL, 0, RUN_MS);
}

static void
test_dtp_workers_ignored_timeout_is_ended_for_the_handler(void **state)
{
	dtp_h_opts  o = { .max_attempts = 2, .timeout_ms = 200 };
	dtp_v1_Task t;
	int64_t     id;
	int64_t     demo;
	char        want[160];

	(void) state;
	id = dtp_h_must_create(client, "test.stubborn", "{\"ms\":1500}", &o);
	/* Each attempt: timeout, then the grace, then abandoned. */
	wait_status(client, id, ST_FAILED, 2, RUN_MS, &t, &stubborn);
	assert_int_equal(t.attempts, 2);
	snprintf(want, sizeof(want),
	    "timed out after 200 ms; the handler did not stop within %d ms "
	    "and was abandoned",
	    GRACE_MS);
	assert_string_equal(t.last_error, want);
	assert_true(t.finished_at_ms - t.started_at_ms < 1400);
	pb_release(dtp_v1_Task_fields, &t);

	/* The node still works (its slots came back). */
	demo = dtp_h_must_create(client, "demo", "{}", NULL);
	wait_status(client, demo, ST_SUCCEEDED, 1, RUN_MS, NULL, &stubborn);
}

/* Last: it stops the node. */
static void
test_dtp_workers_shutdown_hands_back_a_stuck_handler(void **state)
{
	db_conn    *db   = NULL;
	db_rows    *rows = NULL;
	tp_err      err;
	int64_t     id;
	char        ids[24];
	const char *params[1] = { ids };

	(void) state;
	id = dtp_h_must_create(client, "test.stubborn", "{\"ms\":30000}", NULL);
	wait_status(client, id, ST_RUNNING, 1, RUN_MS, NULL, &stubborn);
	if (th_proc_stop(&stubborn, STOP_MS) != 0) {
		th_proc_dump_log(&stubborn);
		fail_msg("the node did not exit 0 with a handler stuck");
	}
	assert_true(
	    dtp_h_log_has(&stubborn, "stopped abandoned_handlers=true"));
	/* Handed back for any node to run again. */
	snprintf(ids, sizeof(ids), "%" PRId64, id);
	if (db_conn_open(&db, db_url, &err) != TP_OK
	    || db_exec(db, &rows,
	           "SELECT count(*) FROM dtp.task WHERE id = $1::int8"
	           " AND status = 'PENDING' AND attempts = 1"
	           " AND locked_by IS NULL",
	           1, params, &err)
	        != TP_OK) {
		fail_msg("query: %s", err.msg);
	}
	assert_int_equal(db_rows_int64(rows, 0, 0), 1);
	db_rows_free(rows);
	db_conn_free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dtp_workers_example_runs_reverse),
		cmocka_unit_test(
		    test_dtp_workers_ignored_cancel_is_ended_for_the_handler),
		cmocka_unit_test(
		    test_dtp_workers_ignored_timeout_is_ended_for_the_handler),
		cmocka_unit_test(
		    test_dtp_workers_shutdown_hands_back_a_stuck_handler),
	};

	return cmocka_run_group_tests_name(
	    "dtp_workers", tests, group_setup, group_teardown);
}
