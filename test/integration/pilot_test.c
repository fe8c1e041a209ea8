/*
 * pilot_test.c: TaskPilot's binding and execution end to end: real
 * PostgreSQL, real `dtp` and `taskpilot` processes on
 * tcp://127.0.0.1:<free port>, calls through tp_rpc's client with the pilot
 * envelope. The Day-4 flow with the execution status cached by every call
 * that sees one, payload escaping, binding twice, two binds racing, binding
 * while DTP is down (finished by the reconciler), several DTP nodes, a bind
 * adopting a DTP task made before a crash, the execution calls passing
 * DTP's statuses through, the caller's deadline bounding the DTP call, and
 * a clean exit on SIGTERM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pb_decode.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "pilot_util.h"

/* Tests. */

static void
test_pilot_health(void **state)
{
	pilot_v1_Request req = pilot_v1_Request_init_zero;
	pilot_v1_Reply   rep;
	tp_err           err;

	(void) state;
	req.which_call = pilot_v1_Request_health_tag;
	assert_int_equal(pt_call(pt.rpc, &req, &rep, &err), TP_OK);
	assert_int_equal(rep.which_result, pilot_v1_Reply_health_tag);
	assert_string_equal(rep.result.health.service, "taskpilot");
	assert_true(rep.result.health.db_ok);
	assert_true(rep.result.health.version[0] != '\0');
}

/* The Day-4 flow: create, bind, and the execution DTP ran. */
static void
test_pilot_day4_flow(void **state)
{
	pilot_v1_WebTask wt;
	pilot_v1_Request req = pilot_v1_Request_init_zero;
	pilot_v1_Reply   rep;
	dtp_v1_Task      task;
	tp_err           err;
	int64_t          sched = 0;
	int64_t          now   = tp_clock_unix_ms();
	int64_t          before;
	int64_t          after;
	int64_t          seen;
	char             want[160];

	(void) state;
	assert_int_equal(
	    pt_create_wt(pt.rpc, &wt, "greeting", "demo", "hello", &err),
	    TP_OK);
	assert_true(wt.id > 0);
	assert_false(wt.has_scheduler_task_id);
	assert_string_equal(wt.title, "greeting");
	assert_string_equal(wt.type, "demo");
	assert_string_equal(wt.payload, "hello");
	/* Unix milliseconds, from the database's clock. */
	assert_true(
	    wt.created_at_ms > now - 60000 && wt.created_at_ms < now + 60000);
	assert_true(wt.updated_at_ms >= wt.created_at_ms);
	pb_release(pilot_v1_WebTask_fields, &wt);

	assert_int_equal(pt_get_wt(wt.id, &wt, &err), TP_OK);
	assert_false(wt.has_scheduler_task_id);

	/* Never seen: no execution status yet. */
	assert_int_equal(
	    wt.execution_status, dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED);
	assert_int_equal(wt.execution_seen_at_ms, 0);
	pb_release(pilot_v1_WebTask_fields, &wt);

	before = tp_clock_unix_ms();
	assert_int_equal(pt_bind_wt(pt.rpc, wt.id, &sched, &err), TP_OK);
	after = tp_clock_unix_ms();
	assert_int_equal(pt_get_wt(wt.id, &wt, &err), TP_OK);
	assert_true(wt.has_scheduler_task_id);
	assert_int_equal(wt.scheduler_task_id, sched);
	/* What CreateTask answered, cached with the time it was seen. */
	assert_int_equal(
	    wt.execution_status, dtp_v1_TaskStatus_TASK_STATUS_PENDING);
	assert_true(wt.execution_seen_at_ms >= before
	    && wt.execution_seen_at_ms <= after);
	seen = wt.execution_seen_at_ms;
	pb_release(pilot_v1_WebTask_fields, &wt);
	assert_int_equal(pt_dtp_tasks_for(wt.id), 1);

	pt_wait_final(pt.rpc, wt.id, &task);
	assert_int_equal(task.id, sched);
	assert_int_equal(task.status, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED);
	/* GetExecution cached what it saw; GetWebTask and lists show it. */
	assert_int_equal(pt_get_wt(wt.id, &wt, &err), TP_OK);
	assert_int_equal(
	    wt.execution_status, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED);
	assert_true(wt.execution_seen_at_ms >= seen);
	assert_true(wt.execution_seen_at_ms <= tp_clock_unix_ms());
	seen = wt.execution_seen_at_ms;
	pb_release(pilot_v1_WebTask_fields, &wt);
	req.which_call                   = pilot_v1_Request_list_web_tasks_tag;
	req.call.list_web_tasks.after_id = wt.id - 1;
	req.call.list_web_tasks.limit    = 1;
	assert_int_equal(pt_call(pt.rpc, &req, &rep, &err), TP_OK);
	assert_int_equal(rep.result.list_web_tasks.tasks_count, 1);
	assert_int_equal(rep.result.list_web_tasks.tasks[0].id, wt.id);
	assert_int_equal(rep.result.list_web_tasks.tasks[0].execution_status,
	    dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED);
	assert_int_equal(
	    rep.result.list_web_tasks.tasks[0].execution_seen_at_ms, seen);
	pb_release(pilot_v1_Reply_fields, &rep);
	assert_string_equal(task.type, "demo");
	snprintf(want, sizeof(want),
	    "{\"webTaskId\":%" PRId64
	    ",\"type\":\"demo\",\"payload\":\"hello\"}",
	    wt.id);
	assert_non_null(task.payload);
	assert_string_equal(task.payload, want);
	snprintf(want, sizeof(want), "webtask:%" PRId64, wt.id);
	assert_string_equal(task.idempotency_key, want);
	pb_release(dtp_v1_Task_fields, &task);
}

static void
test_pilot_bind_escapes_payload(void **state)
{
	static const char payload[]
	    = "she said \"hi\" \\ back\\slash\nnew line\ttab \x01\x1f "
	      "\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80 {\"json\":[1]} </x>";
	dtp_v1_Task  task;
	json_t      *doc;
	json_error_t jerr;
	tp_err       err;
	int64_t      id;
	int64_t      sched = 0;
	char         prefix[64];

	(void) state;
	id = pt_must_create("demo", payload);
	assert_int_equal(pt_bind_wt(pt.rpc, id, &sched, &err), TP_OK);
	pt_wait_final(pt.rpc, id, &task);
	assert_int_equal(task.status, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED);
	snprintf(prefix, sizeof(prefix), "{\"webTaskId\":%" PRId64 ",", id);
	assert_memory_equal(task.payload, prefix, strlen(prefix));
	doc = json_loads(task.payload, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		fail_msg(
		    "DTP payload is not JSON: %s: %s", jerr.text, task.payload);
	}
	assert_int_equal(json_object_size(doc), 3);
	assert_int_equal(
	    json_integer_value(json_object_get(doc, "webTaskId")), id);
	assert_string_equal(
	    json_string_value(json_object_get(doc, "type")), "demo");
	assert_string_equal(
	    json_string_value(json_object_get(doc, "payload")), payload);
	json_decref(doc);
	pb_release(dtp_v1_Task_fields, &task);
}

static void
test_pilot_bind_twice_fails_precondition(void **state)
{
	tp_err  err;
	int64_t id;
	int64_t sched  = 0;
	int64_t sched2 = 0;
	char    want[128];

	(void) state;
	id = pt_must_create("demo", "twice");
	assert_int_equal(pt_bind_wt(pt.rpc, id, &sched, &err), TP_OK);
	snprintf(want, sizeof(want),
	    "web task %" PRId64 " is already bound to scheduler task %" PRId64,
	    id, sched);
	pt_expect_error(pt_bind_wt(pt.rpc, id, &sched2, &err), &err,
	    TP_FAILED_PRECONDITION, want);
	assert_int_equal(pt_dtp_tasks_for(id), 1);
}

typedef struct racer {
	pthread_barrier_t *go;
	int64_t            id;
	tp_status          rc;
	int64_t            sched;
	tp_err             err;
} racer;

static void *
racer_main(void *arg)
{
	racer *r = arg;

	pthread_barrier_wait(r->go);
	r->rc = pt_bind_wt(pt.rpc, r->id, &r->sched, &r->err);
	return NULL;
}

/* Two binds of one web task at once: one DTP task, one binding. */
static void
test_pilot_bind_race_makes_one_dtp_task(void **state)
{
	(void) state;
	for (int round = 0; round < 6; round++) {
		pthread_barrier_t go;
		racer             r[2];
		pthread_t         t[2];
		pilot_v1_WebTask  wt;
		tp_err            err;
		int64_t           id = pt_must_create("demo", "race");
		int64_t           winner;

		pthread_barrier_init(&go, NULL, 2);
		for (int i = 0; i < 2; i++) {
			memset(&r[i], 0, sizeof(r[i]));
			r[i].go = &go;
			r[i].id = id;
			assert_int_equal(
			    pthread_create(&t[i], NULL, racer_main, &r[i]), 0);
		}
		for (int i = 0; i < 2; i++) {
			pthread_join(t[i], NULL);
		}
		pthread_barrier_destroy(&go);

		assert_true(r[0].rc == TP_OK || r[1].rc == TP_OK);
		winner = r[0].rc == TP_OK ? r[0].sched : r[1].sched;
		for (int i = 0; i < 2; i++) {
			if (r[i].rc == TP_OK) {
				assert_int_equal(r[i].sched, winner);
			} else {
				char want[128];
				snprintf(want, sizeof(want),
				    "web task %" PRId64
				    " is already bound to scheduler task "
				    "%" PRId64,
				    id, winner);
				pt_expect_error(r[i].rc, &r[i].err,
				    TP_FAILED_PRECONDITION, want);
			}
		}
		assert_int_equal(pt_dtp_tasks_for(id), 1);
		assert_int_equal(pt_get_wt(id, &wt, &err), TP_OK);
		assert_int_equal(wt.scheduler_task_id, winner);
		pb_release(pilot_v1_WebTask_fields, &wt);
	}
}

/*
 * A taskpilot whose DTP is not there: UNAVAILABLE within its DTP deadline,
 * no binding, the intent kept; then a DTP starts at that address (a second
 * node on the same database) and the reconciler binds the web task with no
 * client retry, to exactly one DTP task. Ends with SIGTERM -> exit 0 for
 * both.
 */
static void
test_pilot_bind_while_dtp_down(void **state)
{
	static const char *const extra[]
	    = { "PILOT_RECONCILE_MS=100", "PILOT_BIND_GRACE_MS=4000", NULL };
	th_proc          dtp2;
	th_proc          pilot2;
	char             dtp2_url[64];
	char             pilot2_url[64];
	rpc_client      *c;
	pilot_v1_WebTask wt;
	dtp_v1_Task      task;
	tp_err           err;
	tp_status        rc;
	int64_t          id;
	int64_t          sched = 0;
	long long        t0;

	(void) state;
	pt_free_url(dtp2_url, sizeof(dtp2_url));
	pt_free_url(pilot2_url, sizeof(pilot2_url));
	pt_start_pilot_env(
	    &pilot2, "taskpilot-nodtp", pilot2_url, dtp2_url, "1500", extra);
	c = pt_open_client(pilot2_url);

	assert_int_equal(
	    pt_create_wt(c, &wt, NULL, "demo", "later", &err), TP_OK);
	id = wt.id;
	pb_release(pilot_v1_WebTask_fields, &wt);
	t0 = th_now_ms();
	rc = pt_bind_wt(c, id, &sched, &err);
	pt_expect_error(rc, &err, TP_UNAVAILABLE, NULL);
	assert_memory_equal(err.msg, "could not reach dtp", 19);
	/* It gave up within its DTP deadline, not the caller's. */
	assert_true(th_now_ms() - t0 < 3000);
	assert_int_equal(pt_get_wt(id, &wt, &err), TP_OK);
	assert_false(wt.has_scheduler_task_id);
	pb_release(pilot_v1_WebTask_fields, &wt);
	assert_int_equal(pt_dtp_tasks_for(id), 0);
	assert_true(pt_has_bind_intent(id));

	pt_start_dtp(&dtp2, "dtp2", dtp2_url);
	sched = pt_wait_bound(c, id, RUN_MS, &pilot2);
	assert_int_equal(pt_dtp_tasks_for(id), 1);
	assert_int_equal(pt_dtp_task_for(id), sched);
	assert_true(pt_log_has(&pilot2, "by=reconciler", "web task bound"));
	pt_wait_final(c, id, &task);
	assert_int_equal(task.id, sched);
	assert_int_equal(task.status, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED);
	pb_release(dtp_v1_Task_fields, &task);

	rpc_client_free(c);
	assert_int_equal(th_proc_stop(&pilot2, STOP_MS), 0);
	assert_int_equal(th_proc_stop(&dtp2, STOP_MS), 0);
}

/*
 * Several DTP nodes, one of them down: the scheduler client dials both and
 * every bind reaches the live one.
 */
static void
test_pilot_several_dtp_urls(void **state)
{
	th_proc     pilot3;
	char        urls[160];
	char        pilot3_url[64];
	rpc_client *c;
	dtp_v1_Task task;
	tp_err      err;

	(void) state;
	snprintf(urls, sizeof(urls), "tcp://127.0.0.1:%d, %s", th_free_port(),
	    pt.dtp_url);
	snprintf(pilot3_url, sizeof(pilot3_url), "tcp://127.0.0.1:%d",
	    th_free_port());
	pt_start_pilot(&pilot3, "taskpilot-two-dtp", pilot3_url, urls, "3000");
	c = pt_open_client(pilot3_url);
	for (int i = 0; i < 4; i++) {
		pilot_v1_WebTask wt;
		int64_t          sched = 0;

		assert_int_equal(
		    pt_create_wt(c, &wt, NULL, "demo", "two nodes", &err),
		    TP_OK);
		if (pt_bind_wt(c, wt.id, &sched, &err) != TP_OK) {
			fail_msg("bind %d: %s", i, err.msg);
		}
		pt_wait_final(c, wt.id, &task);
		assert_int_equal(
		    task.status, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED);
		pb_release(dtp_v1_Task_fields, &task);
		pb_release(pilot_v1_WebTask_fields, &wt);
	}
	rpc_client_free(c);
	assert_int_equal(th_proc_stop(&pilot3, STOP_MS), 0);
}

static void
test_pilot_execution_of_unbound_fails_precondition(void **state)
{
	dtp_v1_Task task;
	tp_err      err;
	int64_t     id;
	char        want[128];

	(void) state;
	id = pt_must_create("demo", "unbound");
	snprintf(want, sizeof(want),
	    "web task %" PRId64 " is not bound to a scheduler task", id);
	pt_expect_error(pt_execution(pt.rpc, false, id, &task, &err), &err,
	    TP_FAILED_PRECONDITION, want);
	pt_expect_error(pt_execution(pt.rpc, true, id, &task, &err), &err,
	    TP_FAILED_PRECONDITION, want);
}

/* A binding whose DTP task is gone: DTP's NOT_FOUND passes through. */
static void
test_pilot_execution_passes_dtp_status_through(void **state)
{
	dtp_v1_Task task;
	tp_err      err;
	int64_t     id;
	int64_t     sched = 0;
	char        idbuf[32];
	char        want[128];

	(void) state;
	/* A final task: cancel is DTP's FAILED_PRECONDITION. */
	id = pt_must_create("demo", "done");
	assert_int_equal(pt_bind_wt(pt.rpc, id, &sched, &err), TP_OK);
	pt_wait_final(pt.rpc, id, &task);
	assert_int_equal(task.status, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED);
	pb_release(dtp_v1_Task_fields, &task);
	pt_expect_error(pt_execution(pt.rpc, true, id, &task, &err), &err,
	    TP_FAILED_PRECONDITION, NULL);
	assert_non_null(strstr(err.msg, "task"));

	/* Point a web task at a DTP id that does not exist. */
	id = pt_must_create("demo", "dangling");
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	assert_int_equal(
	    pt_sql_int(
	        "WITH u AS (UPDATE pilot.web_task SET scheduler_task_id = "
	        "9000000000 + id WHERE id = $1 RETURNING 1) "
	        "SELECT count(*) FROM u",
	        idbuf),
	    1);
	snprintf(want, sizeof(want), "task %" PRId64 " not found",
	    (int64_t) 9000000000 + id);
	pt_expect_error(pt_execution(pt.rpc, false, id, &task, &err), &err,
	    TP_NOT_FOUND, want);
	pt_expect_error(pt_execution(pt.rpc, true, id, &task, &err), &err,
	    TP_NOT_FOUND, want);
}

/*
 * dtp_create makes a DTP task directly (as a bind that crashed before its
 * UPDATE would have left it), due at run_at_ms.
 */
static int64_t
dtp_create(
    const char *payload, const char *key, int64_t run_at_ms, tp_status want)
{
	rpc_client     *c    = NULL;
	rpc_client_opts opts = { .env = &proto_dtp_envelope };
	dtp_v1_Request  req  = dtp_v1_Request_init_zero;
	dtp_v1_Reply    rep;
	tp_err          err;
	tp_status       rc;
	int64_t         id = 0;

	if (rpc_client_open(&c, pt.dtp_url, &opts, &err) != TP_OK) {
		fail_msg("rpc_client_open %s: %s", pt.dtp_url, err.msg);
	}
	req.which_call = dtp_v1_Request_create_task_tag;
	snprintf(req.call.create_task.type, sizeof(req.call.create_task.type),
	    "demo");
	req.call.create_task.payload             = (char *) payload;
	req.call.create_task.has_idempotency_key = true;
	snprintf(req.call.create_task.idempotency_key,
	    sizeof(req.call.create_task.idempotency_key), "%s", key);
	req.call.create_task.has_run_at_ms = true;
	req.call.create_task.run_at_ms     = run_at_ms;
	memset(&rep, 0, sizeof(rep));
	rc = rpc_client_call(c, &req, &rep, NULL, &err);
	pt_expect_error(rc, &err, want, NULL);
	if (rc == TP_OK) {
		id = rep.result.create_task.task.id;
		pb_release(dtp_v1_Reply_fields, &rep);
	}
	rpc_client_free(c);
	return id;
}

/* expect_cached checks the execution status GetWebTask shows. */
static void
expect_cached(int64_t id, dtp_v1_TaskStatus want)
{
	pilot_v1_WebTask wt;
	tp_err           err;

	assert_int_equal(pt_get_wt(id, &wt, &err), TP_OK);
	assert_int_equal(wt.execution_status, want);
	assert_true(wt.execution_seen_at_ms > 0);
	pb_release(pilot_v1_WebTask_fields, &wt);
}

/*
 * A bind that finds its DTP task already made (a crash between CreateTask
 * and the UPDATE) adopts it through the key; cancelling that still-pending
 * execution passes DTP's answers through.
 */
static void
test_pilot_bind_adopts_existing_task_and_cancels(void **state)
{
	dtp_v1_Task task;
	tp_err      err;
	int64_t     id;
	int64_t     pre;
	int64_t     sched = 0;
	char        key[64];
	char        payload[160];

	(void) state;
	id = pt_must_create("demo", "pending");
	snprintf(key, sizeof(key), "webtask:%" PRId64, id);
	snprintf(payload, sizeof(payload),
	    "{\"webTaskId\":%" PRId64
	    ",\"type\":\"demo\",\"payload\":\"pending\"}",
	    id);
	/* Due in an hour: it stays PENDING for the test. */
	pre = dtp_create(payload, key, tp_clock_unix_ms() + 3600 * 1000, TP_OK);
	assert_true(pre > 0);
	assert_int_equal(pt_bind_wt(pt.rpc, id, &sched, &err), TP_OK);
	assert_int_equal(sched, pre);
	assert_int_equal(pt_dtp_tasks_for(id), 1);
	expect_cached(id, dtp_v1_TaskStatus_TASK_STATUS_PENDING);

	assert_int_equal(pt_execution(pt.rpc, false, id, &task, &err), TP_OK);
	assert_int_equal(task.status, dtp_v1_TaskStatus_TASK_STATUS_PENDING);
	pb_release(dtp_v1_Task_fields, &task);
	assert_int_equal(pt_execution(pt.rpc, true, id, &task, &err), TP_OK);
	assert_int_equal(task.id, pre);
	assert_int_equal(task.status, dtp_v1_TaskStatus_TASK_STATUS_CANCELLED);
	pb_release(dtp_v1_Task_fields, &task);
	/* CancelExecution cached what DTP answered. */
	expect_cached(id, dtp_v1_TaskStatus_TASK_STATUS_CANCELLED);
	assert_int_equal(pt_execution(pt.rpc, false, id, &task, &err), TP_OK);
	assert_int_equal(task.status, dtp_v1_TaskStatus_TASK_STATUS_CANCELLED);
	pb_release(dtp_v1_Task_fields, &task);
	/* Final now: DTP says FAILED_PRECONDITION, and so do we. */
	pt_expect_error(pt_execution(pt.rpc, true, id, &task, &err), &err,
	    TP_FAILED_PRECONDITION, NULL);
}

/*
 * The key already names a DTP task with another payload: DTP's
 * ALREADY_EXISTS passes through and the web task stays unbound.
 */
static void
test_pilot_bind_key_conflict_stores_nothing(void **state)
{
	pilot_v1_WebTask wt;
	tp_err           err;
	int64_t          id;
	int64_t          sched = 0;
	char             key[64];

	(void) state;
	id = pt_must_create("demo", "mine");
	snprintf(key, sizeof(key), "webtask:%" PRId64, id);
	assert_true(dtp_create("{\"someone\":\"else\"}", key,
	                tp_clock_unix_ms() + 3600 * 1000, TP_OK)
	    > 0);
	pt_expect_error(pt_bind_wt(pt.rpc, id, &sched, &err), &err,
	    TP_ALREADY_EXISTS, NULL);
	snprintf(key, sizeof(key),
	    "could not create the dtp task of web task %" PRId64 ": ", id);
	assert_memory_equal(err.msg, key, strlen(key));
	assert_int_equal(pt_get_wt(id, &wt, &err), TP_OK);
	assert_false(wt.has_scheduler_task_id);
	pb_release(pilot_v1_WebTask_fields, &wt);
	/* Refused for good: no intent left for the reconciler. */
	assert_false(pt_has_bind_intent(id));
}

/*
 * A payload within TaskPilot's limit whose escaped JSON is too large for a
 * DTP message (control characters become \u00XX, six bytes each): the bind
 * fails cleanly, not as "could not reach dtp", nothing is stored, and the
 * connection to DTP keeps serving.
 */
static void
test_pilot_bind_oversized_escaped_payload_fails_cleanly(void **state)
{
	pilot_v1_WebTask wt;
	tp_err           err;
	tp_status        rc;
	size_t           n = 200 * 1024;
	char            *payload;
	char             want[96];
	int64_t          id;
	int64_t          sched = 0;

	(void) state;
	payload = malloc(n + 1);
	memset(payload, '\x01', n);
	payload[n] = '\0';
	id         = pt_must_create("demo", payload);
	free(payload);
	rc = pt_bind_wt(pt.rpc, id, &sched, &err);
	if (rc != TP_INVALID_ARGUMENT && rc != TP_RESOURCE_EXHAUSTED) {
		fail_msg("bind: got %s (%s), want INVALID_ARGUMENT or "
		         "RESOURCE_EXHAUSTED",
		    tp_status_name(rc), err.msg);
	}
	snprintf(want, sizeof(want),
	    "could not create the dtp task of web task %" PRId64 ": ", id);
	assert_memory_equal(err.msg, want, strlen(want));
	assert_int_equal(pt_get_wt(id, &wt, &err), TP_OK);
	assert_false(wt.has_scheduler_task_id);
	pb_release(pilot_v1_WebTask_fields, &wt);
	assert_int_equal(pt_dtp_tasks_for(id), 0);
	assert_false(pt_has_bind_intent(id));

	id = pt_must_create("demo", "after the big one");
	assert_int_equal(pt_bind_wt(pt.rpc, id, &sched, &err), TP_OK);
}

/* call_ms makes one call through c with a timeout of timeout_ms. */
static tp_status
call_ms(rpc_client *c, pilot_v1_Request *req, int timeout_ms, tp_err *err)
{
	rpc_call_opts  co = { .timeout_ms = timeout_ms };
	pilot_v1_Reply rep;
	tp_status      rc;

	memset(&rep, 0, sizeof(rep));
	tp_err_clear(err);
	rc = rpc_client_call(c, req, &rep, &co, err);
	if (rc == TP_OK) {
		pb_release(pilot_v1_Reply_fields, &rep);
	}
	return rc;
}

/*
 * A DTP that takes calls and never answers, and a taskpilot with a single
 * RPC worker and a 10 s DTP timeout: the caller's 400 ms deadline bounds
 * the DTP call, so that worker is free again at once (Health answers well
 * before the DTP timeout), for BindScheduler and GetExecution alike.
 */
static void
test_pilot_caller_deadline_bounds_dtp_call(void **state)
{
	static const char *const extra[] = { "PILOT_RPC_THREADS=1", NULL };
	static const pb_size_t   tags[]  = {
		   pilot_v1_Request_bind_scheduler_tag,
		   pilot_v1_Request_get_execution_tag,
		   pilot_v1_Request_cancel_execution_tag,
	};
	nng_socket  hole;
	char        hole_url[64];
	char        url[64];
	char        idbuf[32];
	th_proc     p;
	rpc_client *c;
	tp_err      err;
	int64_t     id;

	(void) state;
	pt_free_url(hole_url, sizeof(hole_url));
	pt_free_url(url, sizeof(url));
	assert_int_equal(nng_rep0_open(&hole), 0);
	assert_int_equal(nng_listen(hole, hole_url, NULL, 0), 0);
	pt_start_pilot_env(
	    &p, "taskpilot-deadline", url, hole_url, "10000", extra);
	c  = pt_open_client(url);
	id = 0;
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		pilot_v1_Request req    = pilot_v1_Request_init_zero;
		pilot_v1_Request health = pilot_v1_Request_init_zero;
		pilot_v1_WebTask wt;
		long long        t0;
		tp_status        rc;

		if (tags[i] == pilot_v1_Request_bind_scheduler_tag) {
			assert_int_equal(
			    pt_create_wt(c, &wt, NULL, "demo", "slow", &err),
			    TP_OK);
			id = wt.id;
			pb_release(pilot_v1_WebTask_fields, &wt);
		} else {
			/* Bound by hand: the hole never makes a task. */
			snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
			(void) pt_sql_int(
			    "WITH u AS (UPDATE pilot.web_task SET "
			    "scheduler_task_id = 3000000000 + id WHERE id = "
			    "$1::bigint RETURNING 1) SELECT count(*) FROM u",
			    idbuf);
		}
		req.which_call = tags[i];
		if (tags[i] == pilot_v1_Request_bind_scheduler_tag) {
			req.call.bind_scheduler.id = id;
		} else if (tags[i] == pilot_v1_Request_get_execution_tag) {
			req.call.get_execution.id = id;
		} else {
			req.call.cancel_execution.id = id;
		}
		t0 = th_now_ms();
		rc = call_ms(c, &req, 400, &err);
		if (rc != TP_DEADLINE_EXCEEDED) {
			th_proc_dump_log(&p);
			fail_msg("call %u: got %s (%s), want DEADLINE_EXCEEDED",
			    (unsigned) tags[i], tp_status_name(rc), err.msg);
		}
		health.which_call = pilot_v1_Request_health_tag;
		rc                = call_ms(c, &health, 3000, &err);
		if (rc != TP_OK || th_now_ms() - t0 > 2500) {
			th_proc_dump_log(&p);
			fail_msg("call %u: the worker was still busy: Health "
			         "%s (%s) after %lld ms",
			    (unsigned) tags[i], tp_status_name(rc), err.msg,
			    th_now_ms() - t0);
		}
	}
	/* The bind gave up for want of time, and kept its intent. */
	assert_true(pt_log_has(&p, "bind failed", "status=DEADLINE_EXCEEDED"));
	assert_true(pt_has_bind_intent(id));
	rpc_client_free(c);
	assert_int_equal(th_proc_stop(&p, STOP_MS), 0);
	nng_close(hole);
}

/* Last: SIGTERM stops both services cleanly (exit status 0). */
static void
test_pilot_sigterm_exits_zero(void **state)
{
	(void) state;
	pt_stop_all();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pilot_health),
		cmocka_unit_test(test_pilot_day4_flow),
		cmocka_unit_test(test_pilot_bind_escapes_payload),
		cmocka_unit_test(test_pilot_bind_twice_fails_precondition),
		cmocka_unit_test(test_pilot_bind_race_makes_one_dtp_task),
		cmocka_unit_test(test_pilot_bind_while_dtp_down),
		cmocka_unit_test(test_pilot_several_dtp_urls),
		cmocka_unit_test(
		    test_pilot_execution_of_unbound_fails_precondition),
		cmocka_unit_test(
		    test_pilot_execution_passes_dtp_status_through),
		cmocka_unit_test(
		    test_pilot_bind_adopts_existing_task_and_cancels),
		cmocka_unit_test(test_pilot_bind_key_conflict_stores_nothing),
		cmocka_unit_test(
		    test_pilot_bind_oversized_escaped_payload_fails_cleanly),
		cmocka_unit_test(test_pilot_caller_deadline_bounds_dtp_call),
		cmocka_unit_test(test_pilot_sigterm_exits_zero),
	};
	return cmocka_run_group_tests_name(
	    "pilot", tests, pt_setup, pt_teardown);
}
