/*
 * json_test.c: the JSON view of the messages (proto/json.c): Task, WebTask,
 * lists, health and errors to JSON with nulls and numbers exactly; create
 * bodies to requests (good, missing, wrongly typed, unknown and over-long
 * fields, non-string payloads); RFC 3339 times; loading limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>

#include "proto/json.h"

/* 2023-11-14T22:13:20.000Z */
#define T0 1700000000000LL

/* dump renders v compactly, in insertion order, and releases it. */
static char *
dump(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	assert_non_null(s);
	return s;
}

static void
assert_json(json_t *v, const char *want)
{
	char *got = dump(v);
	if (strcmp(got, want) != 0) {
		fail_msg("got  %s\nwant %s", got, want);
	}
	free(got);
}

static json_t *
load(const char *text)
{
	json_t *v = NULL;
	tp_err  err;
	if (proto_json_load(&v, text, strlen(text), 32, &err) != TP_OK) {
		fail_msg("load %s: %s", text, err.msg);
	}
	return v;
}

static void
test_json_task_status_names(void **state)
{
	static const char *const names[]
	    = { "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED" };
	dtp_v1_TaskStatus s = dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED;
	(void) state;
	for (int i = 0; i < 5; i++) {
		assert_string_equal(
		    proto_json_task_status_name((dtp_v1_TaskStatus) (i + 1)),
		    names[i]);
		assert_true(proto_json_task_status_parse(&s, names[i]));
		assert_int_equal(s, i + 1);
	}
	assert_int_equal(dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED, 3);
	assert_null(proto_json_task_status_name(
	    dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED));
	assert_null(proto_json_task_status_name((dtp_v1_TaskStatus) 6));
	s = dtp_v1_TaskStatus_TASK_STATUS_PENDING;
	assert_false(proto_json_task_status_parse(&s, "TASK_STATUS_FAILED"));
	assert_false(proto_json_task_status_parse(&s, "failed"));
	assert_false(proto_json_task_status_parse(&s, "UNSPECIFIED"));
	assert_false(proto_json_task_status_parse(&s, NULL));
	assert_int_equal(s, dtp_v1_TaskStatus_TASK_STATUS_PENDING);
}

static void
test_json_task_fresh_has_nulls(void **state)
{
	dtp_v1_Task t         = dtp_v1_Task_init_zero;
	char        payload[] = "{\"a\":1}";
	(void) state;
	t.id = 9007199254740993LL; /* past a double's precision */
	strcpy(t.type, "demo");
	t.payload       = payload;
	t.status        = dtp_v1_TaskStatus_TASK_STATUS_PENDING;
	t.max_attempts  = 3;
	t.timeout_ms    = 30000;
	t.run_at_ms     = T0;
	t.created_at_ms = T0;
	t.updated_at_ms = T0 + 1;
	assert_json(proto_json_task_new(&t),
	    "{\"id\":9007199254740993,\"type\":\"demo\","
	    "\"payload\":\"{\\\"a\\\":1}\",\"status\":\"PENDING\","
	    "\"attempts\":0,\"maxAttempts\":3,\"timeoutMs\":30000,"
	    "\"runAt\":\"2023-11-14T22:13:20.000Z\",\"idempotencyKey\":null,"
	    "\"cancelRequested\":false,\"result\":null,\"lastError\":null,"
	    "\"createdAt\":\"2023-11-14T22:13:20.000Z\","
	    "\"updatedAt\":\"2023-11-14T22:13:20.001Z\",\"startedAt\":null,"
	    "\"finishedAt\":null,\"lockedBy\":null,\"backoffBaseMs\":null,"
	    "\"backoffMaxMs\":null}");
}

static void
test_json_task_finished_has_values(void **state)
{
	dtp_v1_Task t         = dtp_v1_Task_init_zero;
	char        payload[] = "hello";
	char        result[]  = "";
	(void) state;
	t.id = 42;
	strcpy(t.type, "fail");
	t.payload      = payload;
	t.status       = dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED;
	t.attempts     = 2;
	t.max_attempts = 5;
	t.timeout_ms   = 0;
	t.run_at_ms    = T0;
	strcpy(t.idempotency_key, "k-1");
	t.cancel_requested = true;
	t.result           = result; /* set but empty: "" not null */
	strcpy(t.last_error, "boom \"quoted\"");
	t.created_at_ms  = T0;
	t.updated_at_ms  = T0 + 999;
	t.started_at_ms  = T0 + 10;
	t.finished_at_ms = T0 + 20;
	strcpy(t.locked_by, "node-a");
	t.backoff_base_ms = 250;
	t.backoff_max_ms  = 86400000;
	assert_json(proto_json_task_new(&t),
	    "{\"id\":42,\"type\":\"fail\",\"payload\":\"hello\","
	    "\"status\":\"SUCCEEDED\",\"attempts\":2,\"maxAttempts\":5,"
	    "\"timeoutMs\":0,\"runAt\":\"2023-11-14T22:13:20.000Z\","
	    "\"idempotencyKey\":\"k-1\",\"cancelRequested\":true,\"result\":"
	    "\"\","
	    "\"lastError\":\"boom \\\"quoted\\\"\","
	    "\"createdAt\":\"2023-11-14T22:13:20.000Z\","
	    "\"updatedAt\":\"2023-11-14T22:13:20.999Z\","
	    "\"startedAt\":\"2023-11-14T22:13:20.010Z\","
	    "\"finishedAt\":\"2023-11-14T22:13:20.020Z\","
	    "\"lockedBy\":\"node-a\",\"backoffBaseMs\":250,"
	    "\"backoffMaxMs\":86400000}");
}

static void
test_json_task_backoff_one_set(void **state)
{
	dtp_v1_Task t = dtp_v1_Task_init_zero;
	json_t     *j;
	(void) state;
	/* Each backoff is null on its own when 0 (the node's setting). */
	t.id             = 3;
	t.backoff_max_ms = 20;
	j                = proto_json_task_new(&t);
	assert_true(json_is_null(json_object_get(j, "backoffBaseMs")));
	assert_true(json_is_integer(json_object_get(j, "backoffMaxMs")));
	assert_int_equal(
	    json_integer_value(json_object_get(j, "backoffMaxMs")), 20);
	json_decref(j);
	t.backoff_base_ms = 10;
	t.backoff_max_ms  = 0;
	j                 = proto_json_task_new(&t);
	assert_int_equal(
	    json_integer_value(json_object_get(j, "backoffBaseMs")), 10);
	assert_true(json_is_null(json_object_get(j, "backoffMaxMs")));
	assert_int_equal(json_object_size(j), 19);
	json_decref(j);
}

static void
test_json_task_null_payload_and_bad_utf8(void **state)
{
	dtp_v1_Task t         = dtp_v1_Task_init_zero;
	char        payload[] = "a\xff"
	                        "b";
	json_t     *j;
	(void) state;
	t.id = 1;
	j    = proto_json_task_new(&t);
	/* A NULL payload pointer is the empty string; status 0 is null. */
	assert_string_equal(
	    json_string_value(json_object_get(j, "payload")), "");
	assert_true(json_is_null(json_object_get(j, "status")));
	json_decref(j);
	t.payload = payload;
	j         = proto_json_task_new(&t);
	assert_string_equal(json_string_value(json_object_get(j, "payload")),
	    "a\xef\xbf\xbd"
	    "b");
	json_decref(j);
}

static void
test_json_web_task_unbound_and_bound(void **state)
{
	pilot_v1_WebTask w         = pilot_v1_WebTask_init_zero;
	char             payload[] = "hello";
	(void) state;
	w.id = 4;
	strcpy(w.type, "demo");
	w.payload       = payload;
	w.created_at_ms = T0;
	w.updated_at_ms = T0;
	assert_json(proto_json_web_task_new(&w),
	    "{\"id\":4,\"title\":null,\"type\":\"demo\",\"payload\":\"hello\","
	    "\"schedulerTaskId\":null,\"executionStatus\":null,"
	    "\"executionSeenAt\":null,"
	    "\"createdAt\":\"2023-11-14T22:13:20.000Z\","
	    "\"updatedAt\":\"2023-11-14T22:13:20.000Z\"}");
	strcpy(w.title, "my task");
	w.has_scheduler_task_id = true;
	w.scheduler_task_id     = 17;
	w.execution_status      = dtp_v1_TaskStatus_TASK_STATUS_RUNNING;
	w.execution_seen_at_ms  = T0 + 5;
	assert_json(proto_json_web_task_new(&w),
	    "{\"id\":4,\"title\":\"my task\",\"type\":\"demo\","
	    "\"payload\":\"hello\",\"schedulerTaskId\":17,"
	    "\"executionStatus\":\"RUNNING\","
	    "\"executionSeenAt\":\"2023-11-14T22:13:20.005Z\","
	    "\"createdAt\":\"2023-11-14T22:13:20.000Z\","
	    "\"updatedAt\":\"2023-11-14T22:13:20.000Z\"}");
	/* Bound to id 0 is still bound: a number, not null. */
	w.scheduler_task_id = 0;
	{
		json_t *j = proto_json_web_task_new(&w);
		assert_true(
		    json_is_integer(json_object_get(j, "schedulerTaskId")));
		json_decref(j);
	}
}

static void
test_json_lists(void **state)
{
	dtp_v1_Task tasks[2] = { dtp_v1_Task_init_zero, dtp_v1_Task_init_zero };
	dtp_v1_ListTasksReply      r  = dtp_v1_ListTasksReply_init_zero;
	pilot_v1_ListWebTasksReply wr = pilot_v1_ListWebTasksReply_init_zero;
	json_t                    *j;
	(void) state;
	tasks[0].id   = 1;
	tasks[1].id   = 2;
	r.tasks       = tasks;
	r.tasks_count = 2;
	j             = proto_json_task_list_new(&r);
	assert_int_equal(json_array_size(json_object_get(j, "tasks")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_array_get(json_object_get(j, "tasks"), 1), "id")),
	    2);
	assert_true(json_is_null(json_object_get(j, "nextAfter")));
	json_decref(j);
	r.next_after_id = 2;
	j               = proto_json_task_list_new(&r);
	assert_int_equal(
	    json_integer_value(json_object_get(j, "nextAfter")), 2);
	json_decref(j);
	assert_json(proto_json_web_task_list_new(&wr),
	    "{\"tasks\":[],\"nextAfter\":null}");
}

static void
test_json_health_and_error(void **state)
{
	tp_v1_HealthReply h = tp_v1_HealthReply_init_zero;
	(void) state;
	strcpy(h.service, "dtp");
	strcpy(h.version, "0.1.0");
	strcpy(h.node, "n1");
	h.db_ok = true;
	assert_json(proto_json_health_new(&h),
	    "{\"status\":\"ok\",\"service\":\"dtp\",\"version\":\"0.1.0\","
	    "\"node\":\"n1\",\"dbOk\":true}");
	h.db_ok = false;
	assert_json(proto_json_health_new(&h),
	    "{\"status\":\"unavailable\",\"service\":\"dtp\","
	    "\"version\":\"0.1.0\",\"node\":\"n1\",\"dbOk\":false}");
	assert_json(proto_json_error_new(TP_NOT_FOUND, "task 42 not found"),
	    "{\"code\":5,\"status\":\"NOT_FOUND\","
	    "\"message\":\"task 42 not found\",\"details\":[]}");
	assert_json(proto_json_error_new(TP_FAILED_PRECONDITION, NULL),
	    "{\"code\":9,\"status\":\"FAILED_PRECONDITION\",\"message\":\"\","
	    "\"details\":[]}");
	/* A message that is not UTF-8 (quoted input) still makes a body. */
	assert_json(proto_json_error_new(TP_INVALID_ARGUMENT, "bad \xc3"),
	    "{\"code\":3,\"status\":\"INVALID_ARGUMENT\","
	    "\"message\":\"bad \xef\xbf\xbd\",\"details\":[]}");
}

/* Create bodies. */

static void
test_json_create_task_good(void **state)
{
	dtp_v1_CreateTaskRequest r;
	json_t                  *b
	    = load("{\"type\":\"demo\",\"payload\":\"hello\",\"maxAttempts\":5,"
	           "\"timeoutMs\":1500,\"runAt\":\"2023-11-14T22:13:20.250Z\","
	           "\"idempotencyKey\":\"k1\",\"backoffBaseMs\":10,"
	           "\"backoffMaxMs\":86400000}");
	(void) state;
	assert_int_equal(proto_json_create_task_parse(&r, b, NULL), TP_OK);
	assert_string_equal(r.type, "demo");
	assert_string_equal(r.payload, "hello");
	assert_true(r.has_max_attempts);
	assert_int_equal(r.max_attempts, 5);
	assert_true(r.has_timeout_ms);
	assert_int_equal(r.timeout_ms, 1500);
	assert_true(r.has_run_at_ms);
	assert_int_equal(r.run_at_ms, T0 + 250);
	assert_true(r.has_idempotency_key);
	assert_string_equal(r.idempotency_key, "k1");
	assert_true(r.has_backoff_base_ms);
	assert_int_equal(r.backoff_base_ms, 10);
	assert_true(r.has_backoff_max_ms);
	assert_int_equal(r.backoff_max_ms, 86400000);
	pb_release(dtp_v1_CreateTaskRequest_fields, &r);
	json_decref(b);
}

static void
test_json_create_task_minimal_and_nulls(void **state)
{
	dtp_v1_CreateTaskRequest r;
	json_t                  *b
	    = load("{\"type\":\"demo\",\"payload\":\"\",\"maxAttempts\":null,"
	           "\"timeoutMs\":null,\"runAt\":null,"
	           "\"idempotencyKey\":null,\"backoffBaseMs\":null,"
	           "\"backoffMaxMs\":null}");
	(void) state;
	assert_int_equal(proto_json_create_task_parse(&r, b, NULL), TP_OK);
	assert_string_equal(r.payload, "");
	assert_false(r.has_max_attempts);
	assert_false(r.has_timeout_ms);
	assert_false(r.has_run_at_ms);
	assert_false(r.has_idempotency_key);
	assert_false(r.has_backoff_base_ms);
	assert_false(r.has_backoff_max_ms);
	pb_release(dtp_v1_CreateTaskRequest_fields, &r);
	json_decref(b);
	/* Absent is the same as null. */
	b = load("{\"type\":\"demo\",\"payload\":\"\"}");
	assert_int_equal(proto_json_create_task_parse(&r, b, NULL), TP_OK);
	assert_false(r.has_backoff_base_ms);
	assert_false(r.has_backoff_max_ms);
	pb_release(dtp_v1_CreateTaskRequest_fields, &r);
	json_decref(b);
}

static void
test_json_create_task_backoff_range_is_dtps(void **state)
{
	dtp_v1_CreateTaskRequest r;
	json_t                  *b
	    = load("{\"type\":\"demo\",\"payload\":\"\",\"backoffBaseMs\":0,"
	           "\"backoffMaxMs\":-9223372036854775808}");
	(void) state;
	/*
	 * As for maxAttempts and timeoutMs, any 64-bit integer is passed on:
	 * DTP answers INVALID_ARGUMENT with its own range.
	 */
	assert_int_equal(proto_json_create_task_parse(&r, b, NULL), TP_OK);
	assert_true(r.has_backoff_base_ms);
	assert_int_equal(r.backoff_base_ms, 0);
	assert_true(r.has_backoff_max_ms);
	assert_true(r.backoff_max_ms == INT64_MIN);
	pb_release(dtp_v1_CreateTaskRequest_fields, &r);
	json_decref(b);
}

static void
test_json_payload_non_string_is_compact_text(void **state)
{
	static const struct {
		const char *body;
		const char *payload;
	} cases[] = {
		{ "{\"type\":\"t\",\"payload\":{ \"ms\" : 100 , \"b\":[1, 2.5 "
		  ",true,null,\"x\\ny\"]}}",
		    "{\"ms\":100,\"b\":[1,2.5,true,null,\"x\\ny\"]}" },
		{ "{\"type\":\"t\",\"payload\":{\"z\":1,\"a\":2}}",
		    "{\"z\":1,\"a\":2}" },
		{ "{\"type\":\"t\",\"payload\":0.1}", "0.1" },
		{ "{\"type\":\"t\",\"payload\":1.0}", "1.0" },
		{ "{\"type\":\"t\",\"payload\":1e300}", "1e+300" },
		{ "{\"type\":\"t\",\"payload\":-0.30000000000000004}",
		    "-0.30000000000000004" },
		{ "{\"type\":\"t\",\"payload\":12}", "12" },
		{ "{\"type\":\"t\",\"payload\":true}", "true" },
		{ "{\"type\":\"t\",\"payload\":null}", "null" },
		{ "{\"type\":\"t\",\"payload\":[]}", "[]" },
		{ "{\"type\":\"t\",\"payload\":{}}", "{}" },
		{ "{\"type\":\"t\",\"payload\":[\"\\u00e9\\u0001\\\"\\\\/\"]}",
		    "[\"\xc3\xa9\\u0001\\\"\\\\/\"]" },
		/* A string is stored as is, even when it holds JSON. */
		{ "{\"type\":\"t\",\"payload\":\"{\\\"a\\\": 1}\"}",
		    "{\"a\": 1}" },
	};
	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dtp_v1_CreateTaskRequest      r;
		pilot_v1_CreateWebTaskRequest w;
		json_t                       *b = load(cases[i].body);
		tp_err                        err;
		if (proto_json_create_task_parse(&r, b, &err) != TP_OK) {
			fail_msg("case %zu: %s", i, err.msg);
		}
		if (strcmp(r.payload, cases[i].payload) != 0) {
			fail_msg("case %zu: got %s, want %s", i, r.payload,
			    cases[i].payload);
		}
		pb_release(dtp_v1_CreateTaskRequest_fields, &r);
		assert_int_equal(
		    proto_json_create_web_task_parse(&w, b, &err), TP_OK);
		assert_string_equal(w.payload, cases[i].payload);
		pb_release(pilot_v1_CreateWebTaskRequest_fields, &w);
		json_decref(b);
	}
}

typedef struct bad_body {
	bool        web; /* CreateWebTask, else CreateTask */
	const char *body;
	const char *msg;
} bad_body;

static const bad_body bad_bodies[] = {
	{ false, "[]", "request body must be a JSON object" },
	{ false, "\"x\"", "request body must be a JSON object" },
	{ false, "{\"payload\":\"x\"}", "field \"type\" is required" },
	{ false, "{\"type\":null,\"payload\":\"x\"}",
	    "field \"type\" is required" },
	{ false, "{\"type\":\"demo\"}", "field \"payload\" is required" },
	{ false, "{\"type\":5,\"payload\":\"x\"}",
	    "field \"type\" must be a string" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"maxAttempts\":\"3\"}",
	    "field \"maxAttempts\" must be an integer" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"maxAttempts\":2.5}",
	    "field \"maxAttempts\" must be an integer" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"maxAttempts\":3.0}",
	    "field \"maxAttempts\" must be an integer" },
	{ false,
	    "{\"type\":\"d\",\"payload\":\"x\",\"maxAttempts\":2147483648}",
	    "field \"maxAttempts\" must be an integer from -2147483648 to "
	    "2147483647" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"timeoutMs\":true}",
	    "field \"timeoutMs\" must be an integer" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"backoffBaseMs\":\"10\"}",
	    "field \"backoffBaseMs\" must be an integer" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"backoffBaseMs\":1.5}",
	    "field \"backoffBaseMs\" must be an integer" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"backoffMaxMs\":false}",
	    "field \"backoffMaxMs\" must be an integer" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"backoffMaxMs\":[20]}",
	    "field \"backoffMaxMs\" must be an integer" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"backoff_base_ms\":1}",
	    "unknown field \"backoff_base_ms\"" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"runAt\":17}",
	    "field \"runAt\" must be a string" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"runAt\":\"tomorrow\"}",
	    "field \"runAt\" must be an RFC 3339 time like "
	    "\"2026-11-26T14:04:05Z\"" },
	{ false,
	    "{\"type\":\"d\",\"payload\":\"x\",\"runAt\":\"2023-11-14T22:13:20."
	    "0000000000000000000000000000000000000000000000000000000000000000Z"
	    "\"}",
	    "field \"runAt\" must be an RFC 3339 time like "
	    "\"2026-11-26T14:04:05Z\"" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"idempotencyKey\":1}",
	    "field \"idempotencyKey\" must be a string" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"idempotencyKey\":\"\"}",
	    "field \"idempotencyKey\" must not be empty" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"title\":\"t\"}",
	    "unknown field \"title\"" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"Type\":\"d\"}",
	    "unknown field \"Type\"" },
	{ false, "{\"type\":\"d\",\"payload\":\"x\",\"max_attempts\":1}",
	    "unknown field \"max_attempts\"" },
	{ false, "{\"type\":\"d\\u0000x\",\"payload\":\"x\"}",
	    "field \"type\" must not contain NUL characters" },
	{ true, "{\"payload\":\"x\"}", "field \"type\" is required" },
	{ true, "{\"type\":\"demo\"}", "field \"payload\" is required" },
	{ true, "{\"type\":[],\"payload\":\"x\"}",
	    "field \"type\" must be a string" },
	{ true, "{\"type\":\"d\",\"payload\":\"x\",\"title\":false}",
	    "field \"title\" must be a string" },
	{ true, "{\"type\":\"d\",\"payload\":\"x\",\"maxAttempts\":1}",
	    "unknown field \"maxAttempts\"" },
	{ true, "{\"type\":\"d\",\"payload\":\"x\",\"backoffBaseMs\":1}",
	    "unknown field \"backoffBaseMs\"" },
	{ true, "7", "request body must be a JSON object" },
};

static void
test_json_create_bad_bodies(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(bad_bodies) / sizeof(bad_bodies[0]);
	     i++) {
		const bad_body *c = &bad_bodies[i];
		json_t         *b = NULL;
		tp_err          err;
		tp_status       rc;

		if (proto_json_load(&b, c->body, strlen(c->body), 32, &err)
		    != TP_OK) {
			/* "\u0000" is refused by the loader itself. */
			assert_non_null(strstr(c->body, "\\u0000"));
			continue;
		}
		if (c->web) {
			pilot_v1_CreateWebTaskRequest w;
			memset(&w, 0x5a, sizeof(w));
			rc = proto_json_create_web_task_parse(&w, b, &err);
			/* Written only on success: still the filler. */
			assert_int_equal(((unsigned char *) &w)[0], 0x5a);
		} else {
			dtp_v1_CreateTaskRequest r;
			memset(&r, 0x5a, sizeof(r));
			rc = proto_json_create_task_parse(&r, b, &err);
			assert_int_equal(((unsigned char *) &r)[0], 0x5a);
		}
		json_decref(b);
		if (rc != TP_INVALID_ARGUMENT || strcmp(err.msg, c->msg) != 0) {
			fail_msg("case %zu %s: got %s \"%s\", want \"%s\"", i,
			    c->body, tp_status_name(rc), err.msg, c->msg);
		}
	}
}

/* body_with makes {"type":<n x 'a'>,"payload":"x"} (or title). */
static json_t *
body_with(const char *field, size_t n, const char *type)
{
	char   *s = malloc(n + 1);
	json_t *b;
	memset(s, 'a', n);
	s[n] = '\0';
	b    = json_pack("{s:s,s:s}", "payload", "x", field, s);
	if (type != NULL) {
		json_object_set_new(b, "type", json_string(type));
	}
	free(s);
	return b;
}

static void
test_json_strings_over_bound_are_refused(void **state)
{
	dtp_v1_CreateTaskRequest      r;
	pilot_v1_CreateWebTaskRequest w;
	json_t                       *b;
	tp_err                        err;
	(void) state;

	b = body_with("type", 64, NULL);
	assert_int_equal(proto_json_create_task_parse(&r, b, &err), TP_OK);
	assert_int_equal(strlen(r.type), 64);
	pb_release(dtp_v1_CreateTaskRequest_fields, &r);
	json_decref(b);

	b = body_with("type", 65, NULL);
	assert_int_equal(
	    proto_json_create_task_parse(&r, b, &err), TP_INVALID_ARGUMENT);
	assert_string_equal(
	    err.msg, "field \"type\" is too long: 65 bytes, the limit is 64");
	assert_int_equal(
	    proto_json_create_web_task_parse(&w, b, &err), TP_INVALID_ARGUMENT);
	assert_string_equal(
	    err.msg, "field \"type\" is too long: 65 bytes, the limit is 64");
	json_decref(b);

	b = body_with("idempotencyKey", 255, "demo");
	assert_int_equal(proto_json_create_task_parse(&r, b, &err), TP_OK);
	pb_release(dtp_v1_CreateTaskRequest_fields, &r);
	json_decref(b);
	b = body_with("idempotencyKey", 256, "demo");
	assert_int_equal(
	    proto_json_create_task_parse(&r, b, &err), TP_INVALID_ARGUMENT);
	assert_string_equal(err.msg,
	    "field \"idempotencyKey\" is too long: 256 bytes, the limit is "
	    "255");
	json_decref(b);

	b = body_with("title", 200, "demo");
	assert_int_equal(proto_json_create_web_task_parse(&w, b, &err), TP_OK);
	assert_true(w.has_title);
	assert_int_equal(strlen(w.title), 200);
	pb_release(pilot_v1_CreateWebTaskRequest_fields, &w);
	json_decref(b);
	b = body_with("title", 201, "demo");
	assert_int_equal(
	    proto_json_create_web_task_parse(&w, b, &err), TP_INVALID_ARGUMENT);
	assert_string_equal(err.msg,
	    "field \"title\" is too long: 201 bytes, the limit is 200");
	json_decref(b);
}

static void
test_json_web_task_good(void **state)
{
	pilot_v1_CreateWebTaskRequest w;
	json_t *b = load("{\"type\":\"demo\",\"payload\":\"hello\"}");
	(void) state;
	assert_int_equal(proto_json_create_web_task_parse(&w, b, NULL), TP_OK);
	assert_false(w.has_title);
	assert_string_equal(w.type, "demo");
	assert_string_equal(w.payload, "hello");
	pb_release(pilot_v1_CreateWebTaskRequest_fields, &w);
	json_decref(b);
	b = load("{\"title\":\"\\u00e9t\\u00e9\",\"type\":\"demo\","
	         "\"payload\":{\"k\":[1]}}");
	assert_int_equal(proto_json_create_web_task_parse(&w, b, NULL), TP_OK);
	assert_true(w.has_title);
	assert_string_equal(w.title, "\xc3\xa9t\xc3\xa9");
	assert_string_equal(w.payload, "{\"k\":[1]}");
	pb_release(pilot_v1_CreateWebTaskRequest_fields, &w);
	json_decref(b);
}

/* Times. */

static void
test_json_time_parse(void **state)
{
	static const struct {
		const char *s;
		int64_t     ms;
	} good[] = {
		{ "2023-11-14T22:13:20Z", T0 }, { "2023-11-14t22:13:20z", T0 },
		{ "2023-11-14T22:13:20.000Z", T0 },
		{ "2023-11-14T22:13:20.5Z", T0 + 500 },
		{ "2023-11-14T22:13:20.123456789Z", T0 + 123 },
		{ "2023-11-14T23:13:20+01:00", T0 },
		{ "2023-11-14T17:43:20-04:30", T0 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1969-12-31T23:59:59.999Z", -1 },
		{ "2000-02-29T00:00:00Z", 951782400000LL },
		{ "2016-12-31T23:59:60Z", 1483228800000LL }, /* a leap second */
	};
	static const char *const bad[]
	    = { "", "2023-11-14", "2023-11-14T22:13Z", "2023-11-14 22:13:20Z",
		      "2023-11-14T22:13:20", "2023-11-14T22:13:20.Z",
		      "2023-13-14T22:13:20Z", "2023-02-29T00:00:00Z",
		      "2023-11-31T00:00:00Z", "2023-11-14T24:00:00Z",
		      "2023-11-14T22:60:00Z", "2023-11-14T22:13:61Z",
		      "2023-11-14T22:13:20+0100", "2023-11-14T22:13:20+24:00",
		      "2023-11-14T22:13:20Zjunk", "+2023-11-14T22:13:20Z",
		      "1700000000000" };
	(void) state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t ms = 0;
		tp_err  err;
		if (proto_json_time_parse(&ms, good[i].s, &err) != TP_OK) {
			fail_msg("%s: %s", good[i].s, err.msg);
		}
		if (ms != good[i].ms) {
			fail_msg("%s: got %lld, want %lld", good[i].s,
			    (long long) ms, (long long) good[i].ms);
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms = 77;
		tp_err  err;
		if (proto_json_time_parse(&ms, bad[i], &err)
		    != TP_INVALID_ARGUMENT) {
			fail_msg("%s: accepted", bad[i]);
		}
		assert_int_equal(ms, 77);
	}
	{
		int64_t ms = 77;
		assert_int_equal(proto_json_time_parse(&ms, NULL, NULL),
		    TP_INVALID_ARGUMENT);
		assert_int_equal(ms, 77);
	}
}

/* Loading. */

static void
test_json_load_limits(void **state)
{
	char    deep[200];
	json_t *v = NULL;
	tp_err  err;
	size_t  n = 0;
	(void) state;

	/* 32 levels load; 33 do not, before the parser runs. */
	for (int i = 0; i < 32; i++) {
		deep[n++] = '[';
	}
	for (int i = 0; i < 32; i++) {
		deep[n++] = ']';
	}
	assert_int_equal(proto_json_load(&v, deep, n, 32, &err), TP_OK);
	json_decref(v);
	v = NULL;
	assert_int_equal(
	    proto_json_load(&v, deep, n, 31, &err), TP_INVALID_ARGUMENT);
	assert_string_equal(
	    err.msg, "invalid JSON: nesting is deeper than 31 levels");
	assert_null(v);
	/* Brackets inside strings do not count. */
	assert_int_equal(
	    proto_json_load(&v, "{\"a\":\"[[[[\\\"[[[\"}", 17, 1, &err), TP_OK);
	json_decref(v);
	v = NULL;

	assert_int_equal(proto_json_load(&v, "{\"a\":1,\"a\":2}", 13, 32, &err),
	    TP_INVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "duplicate"));
	assert_int_equal(proto_json_load(&v, "{\"a\":1} x", 9, 32, &err),
	    TP_INVALID_ARGUMENT);
	assert_int_equal(proto_json_load(&v, "{\"a\":\"\xff\"}", 9, 32, &err),
	    TP_INVALID_ARGUMENT);
	assert_int_equal(
	    proto_json_load(&v, "{\"a\":", 5, 32, &err), TP_INVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "invalid JSON: "));
	assert_non_null(strstr(err.msg, "line 1, column"));
	assert_int_equal(
	    proto_json_load(&v, "", 0, 32, &err), TP_INVALID_ARGUMENT);
	assert_int_equal(proto_json_load(&v, "{\"a\":1e999}", 11, 32, &err),
	    TP_INVALID_ARGUMENT);
	assert_int_equal(
	    proto_json_load(&v, "{\"a\":99999999999999999999}", 26, 32, &err),
	    TP_INVALID_ARGUMENT);
	assert_null(v);
	/* Not NUL-terminated: only len bytes are read. */
	assert_int_equal(proto_json_load(&v, "{}garbage", 2, 32, &err), TP_OK);
	json_decref(v);
}

static void
test_json_dump_compact(void **state)
{
	json_t *v;
	char   *s;
	(void) state;
	s = proto_json_dump_compact(NULL);
	assert_string_equal(s, "null");
	free(s);
	v = json_pack("{s:f,s:f,s:f,s:I}", "a", 0.5, "b", 100.0, "c", -1.25e-7,
	    "d", (json_int_t) INT64_MIN);
	s = proto_json_dump_compact(v);
	assert_string_equal(s,
	    "{\"a\":0.5,\"b\":100.0,\"c\":-1.25e-07,"
	    "\"d\":-9223372036854775808}");
	free(s);
	json_decref(v);
	v = json_stringn("a\0b\x1f\t", 5);
	s = proto_json_dump_compact(v);
	assert_string_equal(s, "\"a\\u0000b\\u001f\\t\"");
	free(s);
	json_decref(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_task_status_names),
		cmocka_unit_test(test_json_task_fresh_has_nulls),
		cmocka_unit_test(test_json_task_finished_has_values),
		cmocka_unit_test(test_json_task_backoff_one_set),
		cmocka_unit_test(test_json_task_null_payload_and_bad_utf8),
		cmocka_unit_test(test_json_web_task_unbound_and_bound),
		cmocka_unit_test(test_json_lists),
		cmocka_unit_test(test_json_health_and_error),
		cmocka_unit_test(test_json_create_task_good),
		cmocka_unit_test(test_json_create_task_minimal_and_nulls),
		cmocka_unit_test(test_json_create_task_backoff_range_is_dtps),
		cmocka_unit_test(test_json_payload_non_string_is_compact_text),
		cmocka_unit_test(test_json_create_bad_bodies),
		cmocka_unit_test(test_json_strings_over_bound_are_refused),
		cmocka_unit_test(test_json_web_task_good),
		cmocka_unit_test(test_json_time_parse),
		cmocka_unit_test(test_json_load_limits),
		cmocka_unit_test(test_json_dump_compact),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
