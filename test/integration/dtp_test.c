/*
 * dtp_test.c: DTP end to end: real PostgreSQL, the real `dtp` binary on
 * tcp://127.0.0.1:<free port>, calls through tp_rpc's client. Covers
 * running the built-in handlers (also with TaskPilot's wrapped payload),
 * validation (nothing written on bad input), idempotency, cancel in every
 * state, retries with the backoff visible in runAt (the node's and a
 * task's own), timeouts, scheduled tasks, listing with filters, cursors and
 * the message size cut, the Metrics call, and the graceful stop that hands
 * a running task back and exits 0.
 */
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
#include <unistd.h>

#include "common/clock.h"
#include "common/status.h"
#include "db/conn.h"
#include "dtp_helpers.h"
#include "dtp_metric.h"
#include "harness.h"
#include "proto/envelope.h"
#include "rpc/client.h"

#define RUN_MS  15000
#define STOP_MS 15000
/* The node's slow poll: long, so that a task picked up at once proves the
 * in-process wake-up rather than a poll tick. */
#define POLL_MS       "10000"
#define PAYLOAD_LIMIT 262144

#define ST_PENDING   dtp_v1_TaskStatus_TASK_STATUS_PENDING
#define ST_RUNNING   dtp_v1_TaskStatus_TASK_STATUS_RUNNING
#define ST_SUCCEEDED dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED
#define ST_FAILED    dtp_v1_TaskStatus_TASK_STATUS_FAILED
#define ST_CANCELLED dtp_v1_TaskStatus_TASK_STATUS_CANCELLED

static const char *db_url;
static db_conn    *db;
static th_proc     dtp_proc;
static char        dtp_url[64];
static rpc_client *client;
/* Makes type names and keys unique to this run. */
static int run_id;

/* Helpers: the process and the database. */

static void
start_dtp(void)
{
	static const char *const args[] = { "--workers", "4", "--rpc-threads",
		"2", "--poll-ms", POLL_MS, "--backoff-base-ms", "10",
		"--backoff-max-ms", "40", "--drain-ms", "300", NULL };

	dtp_h_start(&dtp_proc, "dtp-test-node", dtp_url, db_url, args, NULL);
}

/* sql_int runs a query returning one integer (no parameters but id). */
static int64_t
sql_int(const char *sql, int64_t id)
{
	db_rows    *rows = NULL;
	char        ids[24];
	const char *params[1] = { ids };
	tp_err      err;
	int64_t     v;

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	if (db_exec(db, &rows, sql, 1, params, &err) != TP_OK) {
		fail_msg("%s: %s", sql, err.msg);
	}
	assert_int_equal(db_rows_count(rows), 1);
	v = db_rows_int64(rows, 0, 0);
	db_rows_free(rows);
	return v;
}

/* sql_count_key counts the tasks holding idempotency key. */
static int64_t
sql_count_key(const char *key)
{
	db_rows    *rows      = NULL;
	const char *params[1] = { key };
	tp_err      err;
	int64_t     v;

	if (db_exec(db, &rows,
	        "SELECT count(*) FROM dtp.task WHERE idempotency_key = "
	        "$1::text",
	        1, params, &err)
	    != TP_OK) {
		fail_msg("count by key: %s", err.msg);
	}
	v = db_rows_int64(rows, 0, 0);
	db_rows_free(rows);
	return v;
}

static int64_t
count_tasks(void)
{
	return sql_int("SELECT count(*) FROM dtp.task WHERE $1::int8 = $1", 0);
}

/* Helpers: calls on the node, through dtp_helpers.c. */

typedef dtp_h_opts create_opts;

static tp_status
call(dtp_v1_Request *req, dtp_v1_Reply *rep, tp_err *err)
{
	memset(rep, 0, sizeof(*rep));
	tp_err_clear(err);
	return rpc_client_call(client, req, rep, NULL, err);
}

static tp_status
create(dtp_v1_Task *out, bool *replayed, const char *type, const char *payload,
    const create_opts *o, tp_err *err)
{
	return dtp_h_create(client, out, replayed, type, payload, o, err);
}

static int64_t
must_create(const char *type, const char *payload, const create_opts *o)
{
	return dtp_h_must_create(client, type, payload, o);
}

static tp_status
get(int64_t id, dtp_v1_Task *out, tp_err *err)
{
	return dtp_h_get(client, id, out, err);
}

static tp_status
cancel(int64_t id, dtp_v1_Task *out, tp_err *err)
{
	return dtp_h_cancel(client, id, out, err);
}

static void
wait_status(
    int64_t id, dtp_v1_TaskStatus want, int timeout_ms, dtp_v1_Task *out)
{
	th_proc *procs[1] = { &dtp_proc };

	dtp_h_wait_status(client, id, want, 0, timeout_ms, out, procs, 1);
}

static tp_status
list(dtp_v1_ListTasksReply *out, int status, const char *type, int64_t after,
    int32_t limit, bool newest_first, tp_err *err)
{
	return dtp_h_list(
	    client, out, status, type, after, limit, newest_first, err);
}

static void
unique(char *buf, size_t size, const char *prefix)
{
	static int n;

	snprintf(buf, size, "%s.%d.%d", prefix, run_id, ++n);
}

static int64_t
hour_from_now_ms(void)
{
	return tp_clock_unix_ms() + 3600 * 1000;
}

/* Setup and teardown of the group: one database, one node. */

static int
group_setup(void **state)
{
	tp_err err;

	(void) state;
	run_id = (int) getpid();
	db_url = th_db_create("dtp");
	if (db_conn_open(&db, db_url, &err) != TP_OK) {
		fail_msg("db_conn_open: %s", err.msg);
	}
	snprintf(
	    dtp_url, sizeof(dtp_url), "tcp://127.0.0.1:%d", th_free_port());
	start_dtp();
	client = dtp_h_client(dtp_url);
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	rpc_client_free(client);
	client = NULL;
	if (th_proc_alive(&dtp_proc)) {
		(void) th_proc_stop(&dtp_proc, STOP_MS);
	}
	db_conn_free(db);
	db = NULL;
	th_db_drop();
	return 0;
}

/* The tests. */

static void
test_dtp_health_reports_node_and_database(void **state)
{
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	dtp_v1_Reply   rep;
	tp_err         err;

	(void) state;
	req.which_call = dtp_v1_Request_health_tag;
	assert_int_equal(call(&req, &rep, &err), TP_OK);
	assert_int_equal(rep.which_result, dtp_v1_Reply_health_tag);
	assert_string_equal(rep.result.health.service, "dtp");
	assert_string_equal(rep.result.health.node, "dtp-test-node");
	assert_true(rep.result.health.version[0] != '\0');
	assert_true(rep.result.health.db_ok);
	pb_release(dtp_v1_Reply_fields, &rep);
}

static void
test_dtp_demo_succeeds_with_payload_as_result(void **state)
{
	const char *payload = "{\"hello\":\"world\",\"n\":[1,2,3]}";
	dtp_v1_Task t;
	bool        replayed = true;
	tp_err      err;
	int64_t     id;

	(void) state;
	assert_int_equal(
	    create(&t, &replayed, "demo", payload, NULL, &err), TP_OK);
	assert_false(replayed);
	assert_true(t.id > 0);
	assert_string_equal(t.type, "demo");
	assert_string_equal(t.payload, payload);
	assert_int_equal(t.max_attempts, 3);   /* the node's default */
	assert_int_equal(t.timeout_ms, 30000); /* the node's default */
	assert_true(t.created_at_ms > 0);
	assert_true(t.run_at_ms > 0);
	assert_string_equal(t.idempotency_key, "");
	id = t.id;
	pb_release(dtp_v1_Task_fields, &t);

	wait_status(id, ST_SUCCEEDED, RUN_MS, &t);
	assert_non_null(t.result);
	assert_string_equal(t.result, payload);
	assert_int_equal(t.attempts, 1);
	assert_string_equal(t.last_error, "");
	assert_string_equal(t.locked_by, "");
	assert_false(t.cancel_requested);
	assert_true(t.started_at_ms >= t.created_at_ms);
	assert_true(t.finished_at_ms >= t.started_at_ms);
	/* Picked up by the in-process wake-up, not the 10 s poll. */
	assert_true(t.started_at_ms - t.created_at_ms < 2000);
	pb_release(dtp_v1_Task_fields, &t);
}

static void
test_dtp_payload_at_the_limit_round_trips(void **state)
{
	char       *payload = malloc(PAYLOAD_LIMIT + 1);
	dtp_v1_Task t;
	int64_t     id;

	(void) state;
	memset(payload, 'x', PAYLOAD_LIMIT);
	payload[PAYLOAD_LIMIT] = '\0';
	id                     = must_create("demo", payload, NULL);
	wait_status(id, ST_SUCCEEDED, RUN_MS, &t);
	assert_int_equal(strlen(t.payload), PAYLOAD_LIMIT);
	assert_non_null(t.result);
	assert_string_equal(t.result, payload);
	pb_release(dtp_v1_Task_fields, &t);
	free(payload);
}

static void
test_dtp_get_unknown_id_is_not_found(void **state)
{
	dtp_v1_Task t;
	tp_err      err;

	(void) state;
	assert_int_equal(get(987654321, &t, &err), TP_NOT_FOUND);
	assert_string_equal(err.msg, "task 987654321 not found");
	assert_int_equal(get(0, &t, &err), TP_INVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "invalid id 0"));
	assert_int_equal(get(-4, &t, &err), TP_INVALID_ARGUMENT);
	assert_int_equal(cancel(987654321, &t, &err), TP_NOT_FOUND);
	assert_string_equal(err.msg, "task 987654321 not found");
}

typedef struct bad_create {
	const char *type;
	const char *payload; /* NULL: an oversized one */
	create_opts opts;
	const char *field; /* named in the message */
} bad_create;

static void
test_dtp_invalid_create_is_rejected_and_writes_nothing(void **state)
{
	static const bad_create cases[] = {
		{ "Bad Type", "{}", { 0 }, "type" },
		{ "", "{}", { 0 }, "type" },
		{ "UPPER", "{}", { 0 }, "type" },
		{ "a/b", "{}", { 0 }, "type" },
		{ "tab\ttype", "{}", { 0 }, "type" },
		{ "caf\xc3\xa9", "{}", { 0 }, "type" },
		{ "demo", NULL, { 0 }, "payload" },
		{ "demo", "\xff\xfe", { 0 }, "payload" },
		{ "demo", "{}", { .max_attempts = -1 }, "max_attempts" },
		{ "demo", "{}", { .max_attempts = 101 }, "max_attempts" },
		{ "demo", "{}", { .timeout_ms = -5 }, "timeout_ms" },
		{ "demo", "{}", { .timeout_ms = 86400001 }, "timeout_ms" },
		{ "demo", "{}", { .run_at_ms = -1 }, "run_at_ms" },
		{ "demo", "{}", { .backoff_base_ms = -1 }, "backoff_base_ms" },
		{ "demo", "{}", { .backoff_base_ms = 3600001 },
		    "backoff_base_ms" },
		{ "demo", "{}", { .backoff_max_ms = -1 }, "backoff_max_ms" },
		{ "demo", "{}", { .backoff_max_ms = 86400001 },
		    "backoff_max_ms" },
		{ "demo", "{}",
		    { .backoff_base_ms = 500, .backoff_max_ms = 100 },
		    "backoff_max_ms" },
	};
	char   *big = malloc(PAYLOAD_LIMIT + 2);
	int64_t before;

	(void) state;
	memset(big, 'y', PAYLOAD_LIMIT + 1);
	big[PAYLOAD_LIMIT + 1] = '\0';
	before                 = count_tasks();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const bad_create *c = &cases[i];
		dtp_v1_Task       t;
		tp_err            err;
		tp_status         rc;

		rc = create(&t, NULL, c->type,
		    c->payload != NULL ? c->payload : big, &c->opts, &err);
		if (rc != TP_INVALID_ARGUMENT) {
			fail_msg("case %zu: got %s (%s), want INVALID_ARGUMENT",
			    i, tp_status_name(rc), err.msg);
		}
		if (strstr(err.msg, c->field) == NULL) {
			fail_msg("case %zu: \"%s\" does not name %s", i,
			    err.msg, c->field);
		}
	}
	{
		/* The oversized payload's message names the limit. */
		dtp_v1_Task t;
		tp_err      err;
		char        limit[32];
		assert_int_equal(create(&t, NULL, "demo", big, NULL, &err),
		    TP_INVALID_ARGUMENT);
		snprintf(limit, sizeof(limit), "%d", PAYLOAD_LIMIT);
		assert_non_null(strstr(err.msg, limit));
	}
	assert_int_equal(count_tasks(), before);
	free(big);
}

static void
test_dtp_idempotency_replays_and_conflicts(void **state)
{
	char        key[64];
	create_opts o = { .key = key };
	dtp_v1_Task t;
	bool        replayed = true;
	tp_err      err;
	int64_t     id;
	char        want[128];

	(void) state;
	unique(key, sizeof(key), "key");
	assert_int_equal(create(&t, &replayed, "demo", "p1", &o, &err), TP_OK);
	assert_false(replayed);
	assert_string_equal(t.idempotency_key, key);
	id = t.id;
	pb_release(dtp_v1_Task_fields, &t);

	/* Same key, same type and payload: the same task, replayed. */
	assert_int_equal(create(&t, &replayed, "demo", "p1", &o, &err), TP_OK);
	assert_true(replayed);
	assert_int_equal(t.id, id);
	pb_release(dtp_v1_Task_fields, &t);

	/* Same key, another payload or type: a conflict naming both. */
	snprintf(want, sizeof(want), "task %" PRId64, id);
	assert_int_equal(
	    create(&t, &replayed, "demo", "p2", &o, &err), TP_ALREADY_EXISTS);
	assert_non_null(strstr(err.msg, key));
	assert_non_null(strstr(err.msg, want));
	assert_int_equal(
	    create(&t, &replayed, "sleep", "p1", &o, &err), TP_ALREADY_EXISTS);
	/* ("de", "mop1") must not pass for ("demo", "p1"). */
	assert_int_equal(
	    create(&t, &replayed, "de", "mop1", &o, &err), TP_ALREADY_EXISTS);

	assert_int_equal(sql_count_key(key), 1);
	wait_status(id, ST_SUCCEEDED, RUN_MS, NULL);
	/* A replay after the run returns the finished task. */
	assert_int_equal(create(&t, &replayed, "demo", "p1", &o, &err), TP_OK);
	assert_true(replayed);
	assert_int_equal(t.status, ST_SUCCEEDED);
	assert_string_equal(t.result, "p1");
	pb_release(dtp_v1_Task_fields, &t);
}

static void
test_dtp_cancel_pending_task(void **state)
{
	create_opts o = { .run_at_ms = hour_from_now_ms() };
	dtp_v1_Task t;
	tp_err      err;
	int64_t     id;

	(void) state;
	id = must_create("demo", "later", &o);
	assert_int_equal(get(id, &t, &err), TP_OK);
	assert_int_equal(t.status, ST_PENDING);
	assert_true(
	    t.run_at_ms >= o.run_at_ms - 1 && t.run_at_ms <= o.run_at_ms);
	pb_release(dtp_v1_Task_fields, &t);

	assert_int_equal(cancel(id, &t, &err), TP_OK);
	assert_int_equal(t.status, ST_CANCELLED);
	assert_true(t.finished_at_ms > 0);
	assert_int_equal(t.attempts, 0);
	pb_release(dtp_v1_Task_fields, &t);
	assert_int_equal(get(id, &t, &err), TP_OK);
	assert_int_equal(t.status, ST_CANCELLED);
	pb_release(dtp_v1_Task_fields, &t);

	/* Cancelled is final. */
	assert_int_equal(cancel(id, &t, &err), TP_FAILED_PRECONDITION);
}

static void
test_dtp_cancel_final_task_fails_precondition(void **state)
{
	dtp_v1_Task t;
	tp_err      err;
	int64_t     id;
	char        want[64];

	(void) state;
	id = must_create("demo", "{}", NULL);
	wait_status(id, ST_SUCCEEDED, RUN_MS, NULL);
	assert_int_equal(cancel(id, &t, &err), TP_FAILED_PRECONDITION);
	snprintf(
	    want, sizeof(want), "task %" PRId64 " is already SUCCEEDED", id);
	assert_string_equal(err.msg, want);
	assert_int_equal(get(id, &t, &err), TP_OK);
	assert_int_equal(t.status, ST_SUCCEEDED);
	pb_release(dtp_v1_Task_fields, &t);
}

static void
test_dtp_cancel_running_task_stops_its_handler(void **state)
{
	dtp_v1_Task t;
	tp_err      err;
	int64_t     id;
	long long   t0;

	(void) state;
	id = must_create("sleep", "{\"ms\":60000}", NULL);
	wait_status(id, ST_RUNNING, RUN_MS, NULL);

	t0 = th_now_ms();
	assert_int_equal(cancel(id, &t, &err), TP_OK);
	/* Stored and visible while the handler winds down. */
	assert_int_equal(t.status, ST_RUNNING);
	assert_true(t.cancel_requested);
	pb_release(dtp_v1_Task_fields, &t);

	wait_status(id, ST_CANCELLED, 1000, &t);
	assert_true(th_now_ms() - t0 < 1000);
	assert_true(t.cancel_requested);
	assert_int_equal(t.attempts, 1);
	assert_true(t.finished_at_ms > 0);
	assert_string_equal(t.locked_by, "");
	assert_null(t.result);
	pb_release(dtp_v1_Task_fields, &t);
}

/*
 * A node claims only the types it has handlers for: a task of a type no
 * node runs waits PENDING (for a node that has it, or a cancel) instead of
 * failing on whichever node happens to claim it.
 */
static void
test_dtp_unknown_type_waits_for_a_node_that_runs_it(void **state)
{
	dtp_v1_Task t;
	tp_err      err;
	int64_t     id;
	int64_t     later;

	(void) state;
	id    = must_create("no.such.type", "{}", NULL);
	later = must_create("demo", "{\"after\":\"unknown\"}", NULL);
	/* The claim takes due tasks in order: the demo task was considered
	 * after the unknown one, which was skipped. */
	wait_status(later, ST_SUCCEEDED, RUN_MS, NULL);
	assert_int_equal(get(id, &t, &err), TP_OK);
	assert_int_equal(t.status, ST_PENDING);
	assert_int_equal(t.attempts, 0);
	assert_string_equal(t.last_error, "");
	pb_release(dtp_v1_Task_fields, &t);
	assert_int_equal(cancel(id, &t, &err), TP_OK);
	assert_int_equal(t.status, ST_CANCELLED);
	pb_release(dtp_v1_Task_fields, &t);
}

/* A failed attempt waits in PENDING: catching it there shows its run_at. */
typedef struct pending_wait {
	int64_t     id;
	int         attempts;
	dtp_v1_Task t;
} pending_wait;

static bool
pending_after_pred(void *arg)
{
	pending_wait *w = arg;
	tp_err        err;

	if (get(w->id, &w->t, &err) != TP_OK) {
		return false;
	}
	if (w->t.status == ST_PENDING && w->t.attempts == w->attempts) {
		return true;
	}
	pb_release(dtp_v1_Task_fields, &w->t);
	return false;
}

/* retry_delay_ms waits for the retry after attempt n: run_at - updated_at. */
static int64_t
retry_delay_ms(int64_t id, int n)
{
	pending_wait w = { .id = id, .attempts = n };
	int64_t      d;

	if (!th_poll_until(pending_after_pred, &w, RUN_MS)) {
		th_proc_dump_log(&dtp_proc);
		fail_msg("task %" PRId64
		         " was not seen PENDING after attempt %d",
		    id, n);
	}
	/* Both are set by the same UPDATE: the difference is the delay. */
	d = w.t.run_at_ms - w.t.updated_at_ms;
	assert_non_null(strstr(w.t.last_error, "failing on purpose"));
	pb_release(dtp_v1_Task_fields, &w.t);
	return d;
}

static void
test_dtp_fail_retries_then_succeeds(void **state)
{
	/*
	 * The task's own backoff (the node's is 10..40 ms), long enough to
	 * watch; equal jitter puts retry n in [c/2, c], c = 300 * 2^(n-1).
	 */
	create_opts o = { .max_attempts = 5,
		.backoff_base_ms        = 300,
		.backoff_max_ms         = 1200 };
	dtp_v1_Task t;
	int64_t     id;
	int64_t     d1;
	int64_t     d2;

	(void) state;
	id = must_create("fail", "{\"failTimes\":2}", &o);
	d1 = retry_delay_ms(id, 1);
	d2 = retry_delay_ms(id, 2);
	/* Times are kept to the millisecond: allow 1 ms of rounding. */
	if (d1 < 150 - 1 || d1 > 300 + 1 || d2 < 300 - 1 || d2 > 600 + 1) {
		fail_msg("retry delays %" PRId64 " and %" PRId64
		         " ms are not in [150, 300] and [300, 600]",
		    d1, d2);
	}
	wait_status(id, ST_SUCCEEDED, RUN_MS, &t);
	assert_int_equal(t.attempts, 3);
	assert_int_equal(t.max_attempts, 5);
	assert_int_equal(t.backoff_base_ms, 300);
	assert_int_equal(t.backoff_max_ms, 1200);
	assert_string_equal(t.result, "{\"succeededOnAttempt\":3}");
	/* The third attempt waited for the second retry's run_at. */
	assert_true(t.started_at_ms >= t.run_at_ms);
	/* The last failure stays on record. */
	assert_non_null(strstr(t.last_error, "attempt 2"));
	pb_release(dtp_v1_Task_fields, &t);
}

static void
test_dtp_fail_exhausts_its_attempts(void **state)
{
	create_opts o = { .max_attempts = 3 };
	dtp_v1_Task t;
	int64_t     id;

	(void) state;
	id = must_create("fail", "{\"failTimes\":9}", &o);
	wait_status(id, ST_FAILED, RUN_MS, &t);
	assert_int_equal(t.attempts, 3);
	assert_string_equal(
	    t.last_error, "failing on purpose: attempt 3 of the first 9");
	assert_null(t.result);
	/* No backoff of its own: the node's. */
	assert_int_equal(t.backoff_base_ms, 0);
	assert_int_equal(t.backoff_max_ms, 0);
	pb_release(dtp_v1_Task_fields, &t);
	assert_int_equal(sql_int("SELECT count(*) FROM dtp.task WHERE id = $1"
	                         " AND finished_by = 'dtp-test-node'",
	                     id),
	    1);
}

static void
test_dtp_run_at_delays_the_start(void **state)
{
	create_opts o;
	dtp_v1_Task t;
	tp_err      err;
	int64_t     id;

	(void) state;
	memset(&o, 0, sizeof(o));
	o.run_at_ms = tp_clock_unix_ms() + 700;
	id          = must_create("demo", "{\"at\":1}", &o);
	assert_int_equal(get(id, &t, &err), TP_OK);
	assert_int_equal(t.status, ST_PENDING);
	pb_release(dtp_v1_Task_fields, &t);
	wait_status(id, ST_SUCCEEDED, RUN_MS, &t);
	assert_true(t.started_at_ms >= o.run_at_ms - 1);
	/* A local timer, not the 10 s poll. */
	assert_true(t.started_at_ms - o.run_at_ms < 2000);
	pb_release(dtp_v1_Task_fields, &t);
}

/*
 * Tasks bound through TaskPilot carry the wrapper
 * {"webTaskId":N,"type":"...","payload":"<web task payload>"}: the
 * built-ins read their parameters from the inner payload.
 */
static void
test_dtp_taskpilot_payload_runs_the_builtins(void **state)
{
	create_opts o = { .max_attempts = 3 };
	dtp_v1_Task t;
	tp_err      err;
	int64_t     id;
	long long   t0;

	(void) state;
	id = must_create("sleep",
	    "{\"webTaskId\":7,\"type\":\"sleep\",\"payload\":\"{\\\"ms\\\":50}"
	    "\"}",
	    NULL);
	wait_status(id, ST_SUCCEEDED, RUN_MS, &t);
	assert_string_equal(t.result, "{\"sleptMs\":50}");
	pb_release(dtp_v1_Task_fields, &t);

	id = must_create("fail",
	    "{\"webTaskId\":8,\"type\":\"fail\","
	    "\"payload\":\"{\\\"failTimes\\\":1}\"}",
	    &o);
	wait_status(id, ST_SUCCEEDED, RUN_MS, &t);
	assert_int_equal(t.attempts, 2);
	assert_string_equal(t.result, "{\"succeededOnAttempt\":2}");
	pb_release(dtp_v1_Task_fields, &t);

	/* The inner payload is checked like any payload. */
	id = must_create("sleep",
	    "{\"webTaskId\":9,\"type\":\"sleep\",\"payload\":\"soon\"}", &o);
	wait_status(id, ST_FAILED, RUN_MS, &t);
	assert_int_equal(t.attempts, 1);
	assert_non_null(strstr(t.last_error, "payload is not JSON"));
	pb_release(dtp_v1_Task_fields, &t);

	/* The Day-5 flow: a long sleep through TaskPilot, cancelled. */
	id = must_create("sleep",
	    "{\"webTaskId\":10,\"type\":\"sleep\","
	    "\"payload\":\"{\\\"ms\\\":60000}\"}",
	    NULL);
	wait_status(id, ST_RUNNING, RUN_MS, NULL);
	t0 = th_now_ms();
	assert_int_equal(cancel(id, &t, &err), TP_OK);
	assert_true(t.cancel_requested);
	pb_release(dtp_v1_Task_fields, &t);
	wait_status(id, ST_CANCELLED, 1000, NULL);
	assert_true(th_now_ms() - t0 < 1000);
}

static void
test_dtp_timeout_counts_as_a_failed_attempt(void **state)
{
	create_opts o = { .max_attempts = 2, .timeout_ms = 200 };
	dtp_v1_Task t;
	int64_t     id;

	(void) state;
	id = must_create("sleep", "{\"ms\":60000}", &o);
	wait_status(id, ST_FAILED, RUN_MS, &t);
	assert_int_equal(t.attempts, 2);
	assert_string_equal(t.last_error, "timed out after 200 ms");
	/* Each attempt stopped at its deadline, not at the end of the sleep. */
	assert_true(t.finished_at_ms - t.started_at_ms < 5000);
	pb_release(dtp_v1_Task_fields, &t);
}

static void
test_dtp_bad_payload_fails_permanently(void **state)
{
	create_opts o = { .max_attempts = 5 };
	dtp_v1_Task t;
	int64_t     id;

	(void) state;
	id = must_create("sleep", "not json", &o);
	wait_status(id, ST_FAILED, RUN_MS, &t);
	assert_int_equal(t.attempts, 1);
	assert_non_null(strstr(t.last_error, "payload is not JSON"));
	pb_release(dtp_v1_Task_fields, &t);
}

/*
 * A burst of due tasks, more than the workers: each claim takes only the
 * room it has. (`id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` once
 * claimed every due row here, overrunning the queue.)
 */
static void
test_dtp_burst_runs_every_task_once(void **state)
{
	int64_t first;
	int64_t done;

	(void) state;
	first = sql_int("WITH ins AS (INSERT INTO dtp.task"
	                " (type, payload, max_attempts, timeout_ms)"
	                " SELECT 'demo', '{\"burst\":' || g || '}', 3, 30000"
	                " FROM generate_series(1, $1::int4) g RETURNING id),"
	                " n AS (SELECT pg_notify('dtp_task', ''))"
	                " SELECT min(id) FROM ins, n",
	    40);
	for (int64_t id = first; id < first + 40; id++) {
		wait_status(id, ST_SUCCEEDED, RUN_MS, NULL);
	}
	done = sql_int("SELECT count(*) FROM dtp.task WHERE id >= $1"
	               " AND status = 'SUCCEEDED' AND attempts = 1"
	               " AND result = payload",
	    first);
	assert_int_equal(done, 40);
	if (dtp_h_log_has(&dtp_proc, "claim returned more rows")
	    || dtp_h_log_has(&dtp_proc, "late end of attempt")) {
		th_proc_dump_log(&dtp_proc);
		fail_msg("a task of the burst was claimed twice");
	}
}

static void
test_dtp_list_filters_and_cursor(void **state)
{
	char                  ta[64];
	char                  tb[64];
	create_opts           later = { .run_at_ms = hour_from_now_ms() };
	int64_t               a[3];
	dtp_v1_ListTasksReply r;
	tp_err                err;

	(void) state;
	unique(ta, sizeof(ta), "list.a");
	unique(tb, sizeof(tb), "list.b");
	for (int i = 0; i < 3; i++) {
		a[i] = must_create(ta, "{}", &later);
	}
	(void) must_create(tb, "{}", &later);
	(void) must_create(tb, "{}", &later);

	/* Oldest first, two per page. */
	assert_int_equal(list(&r, 0, ta, 0, 2, false, &err), TP_OK);
	assert_int_equal(r.tasks_count, 2);
	assert_int_equal(r.tasks[0].id, a[0]);
	assert_int_equal(r.tasks[1].id, a[1]);
	assert_int_equal(r.next_after_id, a[1]);
	pb_release(dtp_v1_ListTasksReply_fields, &r);
	assert_int_equal(list(&r, 0, ta, a[1], 2, false, &err), TP_OK);
	assert_int_equal(r.tasks_count, 1);
	assert_int_equal(r.tasks[0].id, a[2]);
	assert_int_equal(r.next_after_id, 0);
	pb_release(dtp_v1_ListTasksReply_fields, &r);

	/* Newest first. */
	assert_int_equal(list(&r, 0, ta, 0, 2, true, &err), TP_OK);
	assert_int_equal(r.tasks_count, 2);
	assert_int_equal(r.tasks[0].id, a[2]);
	assert_int_equal(r.tasks[1].id, a[1]);
	assert_int_equal(r.next_after_id, a[1]);
	pb_release(dtp_v1_ListTasksReply_fields, &r);
	assert_int_equal(list(&r, 0, ta, a[1], 2, true, &err), TP_OK);
	assert_int_equal(r.tasks_count, 1);
	assert_int_equal(r.tasks[0].id, a[0]);
	assert_int_equal(r.next_after_id, 0);
	pb_release(dtp_v1_ListTasksReply_fields, &r);

	/* Status and type together. */
	assert_int_equal(list(&r, ST_PENDING, tb, 0, 0, false, &err), TP_OK);
	assert_int_equal(r.tasks_count, 2);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(r.tasks[i].type, tb);
		assert_int_equal(r.tasks[i].status, ST_PENDING);
	}
	pb_release(dtp_v1_ListTasksReply_fields, &r);
	assert_int_equal(list(&r, ST_SUCCEEDED, tb, 0, 0, false, &err), TP_OK);
	assert_int_equal(r.tasks_count, 0);
	assert_int_equal(r.next_after_id, 0);
	pb_release(dtp_v1_ListTasksReply_fields, &r);

	/* No filter: the default limit, 50, caps a long list. */
	for (int i = 0; i < 50; i++) {
		(void) must_create(tb, "{}", &later);
	}
	assert_int_equal(list(&r, 0, NULL, 0, 0, false, &err), TP_OK);
	assert_int_equal(r.tasks_count, 50);
	assert_true(r.next_after_id > 0);
	pb_release(dtp_v1_ListTasksReply_fields, &r);

	/* Bad input. */
	assert_int_equal(
	    list(&r, 0, NULL, 0, 1001, false, &err), TP_INVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "limit"));
	assert_int_equal(
	    list(&r, 0, NULL, 0, -1, false, &err), TP_INVALID_ARGUMENT);
	assert_int_equal(
	    list(&r, 0, "Not A Type", 0, 0, false, &err), TP_INVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "type"));
	assert_int_equal(
	    list(&r, 9, NULL, 0, 0, false, &err), TP_INVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "status"));
	assert_int_equal(
	    list(&r, 0, NULL, -3, 0, false, &err), TP_INVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "after_id"));
}

/*
 * The Metrics call: a strict exposition (dtp_h_metric parses all of it)
 * whose values agree with what this node did and the database holds. One
 * node ran every task of this database, so its counters are the whole
 * story.
 */
static void
test_dtp_metrics_agree_with_the_database(void **state)
{
	int64_t id;
	double  succeeded;

	(void) state;
	id = must_create("demo", "{\"metrics\":1}", NULL);
	wait_status(id, ST_SUCCEEDED, RUN_MS, NULL);
	succeeded = dtp_h_metric(client, "dtp_tasks", "state=SUCCEEDED");
	assert_true(succeeded
	    == (double) sql_int("SELECT count(*) FROM dtp.task"
	                        " WHERE status = 'SUCCEEDED' AND $1 = $1",
	        0));
	/* A node counts an end just after it commits it. */
	dtp_h_metric_wait(client, "dtp_tasks_finished_total", "state=SUCCEEDED",
	    succeeded, RUN_MS);
	dtp_h_metric_wait(client, "dtp_tasks_finished_total", "state=CANCELLED",
	    (double) sql_int("SELECT count(*) FROM dtp.task"
	                     " WHERE status = 'CANCELLED' AND $1 = $1",
	        0),
	    RUN_MS);
	dtp_h_metric_wait(client, "dtp_tasks_finished_total", "state=FAILED",
	    (double) sql_int("SELECT count(*) FROM dtp.task"
	                     " WHERE status = 'FAILED' AND $1 = $1",
	        0),
	    RUN_MS);
	/* Nothing runs now: every attempt claimed was started and counted. */
	assert_true(dtp_h_metric(client, "dtp_attempts_total", NULL)
	    == (double) sql_int(
	        "SELECT sum(attempts) FROM dtp.task WHERE $1 = $1", 0));
	assert_true(dtp_h_metric(client, "dtp_retries_total", NULL) >= 5);
	assert_true(dtp_h_metric(client, "dtp_cancels_total", NULL) >= 3);
	assert_true(
	    dtp_h_metric(client, "dtp_cancel_to_stop_seconds_count", NULL)
	    >= 2);
	assert_true(dtp_h_metric(client, "dtp_rpc_duration_seconds_count",
	                "method=CreateTask")
	    >= 1);
	assert_true(dtp_h_metric(client, "dtp_workers", "state=busy") == 0);
	assert_true(dtp_h_metric(client, "dtp_database_up", NULL) == 1);
	assert_true(
	    dtp_h_metric(client, "dtp_oldest_pending_age_seconds", NULL) >= 0);
	assert_true(
	    dtp_h_metric(client, "dtp_node_info", "node=dtp-test-node") == 1);
}

static void
test_dtp_list_stops_before_the_message_limit(void **state)
{
	/* 5 tasks of 200 KiB payload and 200 KiB result: two fit in 1 MiB. */
	const size_t          size    = 200 * 1024;
	char                 *payload = malloc(size + 1);
	int64_t               ids[5];
	int64_t               after;
	int                   seen  = 0;
	int                   pages = 0;
	dtp_v1_ListTasksReply r;
	tp_err                err;

	(void) state;
	memset(payload, 'z', size);
	payload[size] = '\0';
	for (int i = 0; i < 5; i++) {
		ids[i] = must_create("demo", payload, NULL);
	}
	for (int i = 0; i < 5; i++) {
		wait_status(ids[i], ST_SUCCEEDED, RUN_MS, NULL);
	}
	/* Only these five demo tasks have ids from ids[0] on. */
	after = ids[0] - 1;
	do {
		assert_int_equal(
		    list(&r, ST_SUCCEEDED, "demo", after, 1000, false, &err),
		    TP_OK);
		assert_true(r.tasks_count >= 1);
		assert_true(r.tasks_count <= 2);
		for (pb_size_t i = 0; i < r.tasks_count; i++) {
			assert_int_equal(r.tasks[i].id, ids[seen]);
			assert_int_equal(strlen(r.tasks[i].result), size);
			seen++;
		}
		after = r.next_after_id;
		pages++;
		pb_release(dtp_v1_ListTasksReply_fields, &r);
	} while (after != 0 && pages < 10);
	assert_int_equal(seen, 5);
	assert_int_equal(pages, 3);
	free(payload);
}

/* Last: it stops the node. */
static void
test_dtp_sigterm_hands_back_running_task_and_exits_zero(void **state)
{
	int64_t id;

	(void) state;
	id = must_create("sleep", "{\"ms\":60000}", NULL);
	wait_status(id, ST_RUNNING, RUN_MS, NULL);
	if (th_proc_stop(&dtp_proc, STOP_MS) != 0) {
		th_proc_dump_log(&dtp_proc);
		fail_msg("dtp did not exit 0 on SIGTERM");
	}
	/* The attempt went back to PENDING, unlocked, for any node to run. */
	assert_int_equal(
	    sql_int("SELECT count(*) FROM dtp.task WHERE id = $1"
	            " AND status = 'PENDING' AND locked_by IS NULL"
	            " AND lease_expires_at IS NULL AND attempts = 1",
	        id),
	    1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dtp_health_reports_node_and_database),
		cmocka_unit_test(test_dtp_demo_succeeds_with_payload_as_result),
		cmocka_unit_test(test_dtp_payload_at_the_limit_round_trips),
		cmocka_unit_test(test_dtp_get_unknown_id_is_not_found),
		cmocka_unit_test(
		    test_dtp_invalid_create_is_rejected_and_writes_nothing),
		cmocka_unit_test(test_dtp_idempotency_replays_and_conflicts),
		cmocka_unit_test(test_dtp_cancel_pending_task),
		cmocka_unit_test(test_dtp_cancel_final_task_fails_precondition),
		cmocka_unit_test(
		    test_dtp_cancel_running_task_stops_its_handler),
		cmocka_unit_test(
		    test_dtp_unknown_type_waits_for_a_node_that_runs_it),
		cmocka_unit_test(test_dtp_fail_retries_then_succeeds),
		cmocka_unit_test(test_dtp_fail_exhausts_its_attempts),
		cmocka_unit_test(test_dtp_run_at_delays_the_start),
		cmocka_unit_test(test_dtp_taskpilot_payload_runs_the_builtins),
		cmocka_unit_test(test_dtp_timeout_counts_as_a_failed_attempt),
		cmocka_unit_test(test_dtp_bad_payload_fails_permanently),
		cmocka_unit_test(test_dtp_burst_runs_every_task_once),
		cmocka_unit_test(test_dtp_list_filters_and_cursor),
		cmocka_unit_test(test_dtp_list_stops_before_the_message_limit),
		cmocka_unit_test(test_dtp_metrics_agree_with_the_database),
		cmocka_unit_test(
		    test_dtp_sigterm_hands_back_running_task_and_exits_zero),
	};

	return cmocka_run_group_tests_name(
	    "dtp", tests, group_setup, group_teardown);
}
