/*
 * envelope_test.c: the DTP and TaskPilot envelopes through nanopb: round
 * trips (heap payloads included), the envelope accessors, and the bounds
 * of the .options files (an over-long field is rejected, never truncated).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include "proto/envelope.h"
#include "proto/wire.h"

#define BUF_BYTES 65536

static uint8_t buf[BUF_BYTES];

static size_t
encode(const pb_msgdesc_t *fields, const void *msg)
{
	pb_ostream_t os = pb_ostream_from_buffer(buf, sizeof(buf));

	assert_true(pb_encode(&os, fields, msg));
	return os.bytes_written;
}

static bool
decode(const pb_msgdesc_t *fields, void *msg, const uint8_t *b, size_t n)
{
	pb_istream_t is = pb_istream_from_buffer(b, n);

	return pb_decode(&is, fields, msg);
}

/* wrap encodes string/bytes s as field tag of a message into out. */
static size_t
wrap(uint8_t *out, size_t size, uint32_t tag, const void *s, size_t n)
{
	pb_ostream_t os = pb_ostream_from_buffer(out, size);

	assert_true(pb_encode_tag(&os, PB_WT_STRING, tag));
	assert_true(pb_encode_string(&os, s, n));
	return os.bytes_written;
}

static char *
dup(const char *s)
{
	char *p = malloc(strlen(s) + 1);

	assert_non_null(p);
	strcpy(p, s);
	return p;
}

static void
test_envelope_dtp_request_round_trip(void **state)
{
	dtp_v1_Request                  req = dtp_v1_Request_init_zero;
	dtp_v1_Request                  got = dtp_v1_Request_init_zero;
	const dtp_v1_CreateTaskRequest *ct;
	size_t                          n;

	(void) state;
	proto_dtp_envelope.req_set_deadline_ms(&req, 1764165845123);
	req.which_call = dtp_v1_Request_create_task_tag;
	strcpy(req.call.create_task.type, "demo");
	req.call.create_task.payload = "{\"ms\": 20, \"k\": \"\\u00e9\"}";
	req.call.create_task.has_max_attempts    = true;
	req.call.create_task.max_attempts        = 5;
	req.call.create_task.has_idempotency_key = true;
	strcpy(req.call.create_task.idempotency_key, "webtask:42");
	n = encode(dtp_v1_Request_fields, &req);

	assert_true(decode(dtp_v1_Request_fields, &got, buf, n));
	assert_int_equal(
	    proto_dtp_envelope.req_call(&got), dtp_v1_Request_create_task_tag);
	assert_int_equal(
	    proto_dtp_envelope.req_deadline_ms(&got), 1764165845123);
	ct = &got.call.create_task;
	assert_string_equal(ct->type, "demo");
	assert_non_null(ct->payload);
	assert_string_equal(ct->payload, req.call.create_task.payload);
	assert_true(ct->has_max_attempts);
	assert_int_equal(ct->max_attempts, 5);
	assert_false(ct->has_timeout_ms);
	assert_false(ct->has_run_at_ms);
	assert_true(ct->has_idempotency_key);
	assert_string_equal(ct->idempotency_key, "webtask:42");
	pb_release(dtp_v1_Request_fields, &got);
	assert_null(got.call.create_task.payload);
}

static void
test_envelope_dtp_list_reply_round_trip(void **state)
{
	dtp_v1_Reply  rep = dtp_v1_Reply_init_zero;
	dtp_v1_Reply  got = dtp_v1_Reply_init_zero;
	dtp_v1_Task   tasks[3];
	tp_v1_Status *st;
	size_t        n;

	(void) state;
	memset(tasks, 0, sizeof(tasks));
	for (int i = 0; i < 3; i++) {
		tasks[i].id = 100 + i;
		snprintf(tasks[i].type, sizeof(tasks[i].type), "type-%d", i);
		tasks[i].status   = dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED;
		tasks[i].attempts = i + 1;
		tasks[i].created_at_ms = 1764165845000 + i;
	}
	tasks[0].payload = "{\"a\":1}";
	tasks[1].payload = "";
	tasks[2].payload = "plain text payload";
	tasks[0].result  = "done";
	strcpy(tasks[2].last_error, "handler failed: boom");
	st       = proto_dtp_envelope.rep_status(&rep);
	st->code = 0;
	proto_dtp_envelope.rep_set_result(&rep, dtp_v1_Reply_list_tasks_tag);
	rep.result.list_tasks.tasks_count   = 3;
	rep.result.list_tasks.tasks         = tasks;
	rep.result.list_tasks.next_after_id = 102;
	n                                   = encode(dtp_v1_Reply_fields, &rep);

	assert_true(decode(dtp_v1_Reply_fields, &got, buf, n));
	assert_int_equal(
	    proto_dtp_envelope.rep_result(&got), dtp_v1_Reply_list_tasks_tag);
	assert_int_equal(proto_dtp_envelope.rep_status(&got)->code, 0);
	assert_int_equal(got.result.list_tasks.tasks_count, 3);
	assert_int_equal(got.result.list_tasks.next_after_id, 102);
	for (int i = 0; i < 3; i++) {
		const dtp_v1_Task *t = &got.result.list_tasks.tasks[i];

		assert_int_equal(t->id, 100 + i);
		assert_string_equal(t->type, tasks[i].type);
		assert_int_equal(t->attempts, i + 1);
		assert_int_equal(t->created_at_ms, 1764165845000 + i);
		assert_int_equal(
		    t->status, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED);
	}
	assert_string_equal(
	    got.result.list_tasks.tasks[0].payload, "{\"a\":1}");
	assert_string_equal(got.result.list_tasks.tasks[0].result, "done");
	/*
	 * A pointer string is on the wire whenever it is not NULL, even when
	 * empty; NULL is absent and decodes as NULL: readers treat NULL as "".
	 */
	assert_non_null(got.result.list_tasks.tasks[1].payload);
	assert_string_equal(got.result.list_tasks.tasks[1].payload, "");
	assert_null(got.result.list_tasks.tasks[1].result);
	assert_string_equal(
	    got.result.list_tasks.tasks[2].payload, "plain text payload");
	assert_string_equal(
	    got.result.list_tasks.tasks[2].last_error, "handler failed: boom");
	pb_release(dtp_v1_Reply_fields, &got);
	assert_null(got.result.list_tasks.tasks);
}

static void
test_envelope_dtp_error_reply_round_trip(void **state)
{
	dtp_v1_Reply  rep = dtp_v1_Reply_init_zero;
	dtp_v1_Reply  got = dtp_v1_Reply_init_zero;
	tp_v1_Status *st;
	size_t        n;

	(void) state;
	st       = proto_dtp_envelope.rep_status(&rep);
	st->code = 5;
	strcpy(st->message, "task 42 not found");
	n = encode(dtp_v1_Reply_fields, &rep);
	assert_true(decode(dtp_v1_Reply_fields, &got, buf, n));
	assert_true(got.has_status);
	assert_int_equal(got.status.code, 5);
	assert_string_equal(got.status.message, "task 42 not found");
	assert_int_equal(proto_dtp_envelope.rep_result(&got), 0);
	pb_release(dtp_v1_Reply_fields, &got);
}

static void
test_envelope_pilot_round_trip(void **state)
{
	pilot_v1_Request req  = pilot_v1_Request_init_zero;
	pilot_v1_Request got  = pilot_v1_Request_init_zero;
	pilot_v1_Reply   rep  = pilot_v1_Reply_init_zero;
	pilot_v1_Reply   grep = pilot_v1_Reply_init_zero;
	size_t           n;

	(void) state;
	proto_pilot_envelope.req_set_deadline_ms(&req, 99);
	req.which_call = pilot_v1_Request_create_web_task_tag;
	req.call.create_web_task.has_title = true;
	strcpy(req.call.create_web_task.title, "nightly report");
	strcpy(req.call.create_web_task.type, "exec.report");
	req.call.create_web_task.payload = "{\"day\":\"2026-11-26\"}";
	n = encode(pilot_v1_Request_fields, &req);
	assert_true(decode(pilot_v1_Request_fields, &got, buf, n));
	assert_int_equal(proto_pilot_envelope.req_call(&got),
	    pilot_v1_Request_create_web_task_tag);
	assert_int_equal(proto_pilot_envelope.req_deadline_ms(&got), 99);
	assert_true(got.call.create_web_task.has_title);
	assert_string_equal(got.call.create_web_task.title, "nightly report");
	assert_string_equal(got.call.create_web_task.type, "exec.report");
	assert_string_equal(
	    got.call.create_web_task.payload, "{\"day\":\"2026-11-26\"}");
	pb_release(pilot_v1_Request_fields, &got);

	proto_pilot_envelope.rep_status(&rep)->code = 0;
	proto_pilot_envelope.rep_set_result(
	    &rep, pilot_v1_Reply_get_execution_tag);
	rep.result.get_execution.id      = 7;
	rep.result.get_execution.payload = "{\"webTaskId\":3}";
	rep.result.get_execution.result  = "ok";
	rep.result.get_execution.status = dtp_v1_TaskStatus_TASK_STATUS_RUNNING;
	strcpy(rep.result.get_execution.locked_by, "node-1");
	n = encode(pilot_v1_Reply_fields, &rep);
	assert_true(decode(pilot_v1_Reply_fields, &grep, buf, n));
	assert_int_equal(proto_pilot_envelope.rep_result(&grep),
	    pilot_v1_Reply_get_execution_tag);
	assert_int_equal(grep.result.get_execution.id, 7);
	assert_string_equal(
	    grep.result.get_execution.payload, "{\"webTaskId\":3}");
	assert_string_equal(grep.result.get_execution.result, "ok");
	assert_string_equal(grep.result.get_execution.locked_by, "node-1");
	pb_release(pilot_v1_Reply_fields, &grep);
}

static void
test_envelope_pilot_list_reply_round_trip(void **state)
{
	pilot_v1_Reply   rep = pilot_v1_Reply_init_zero;
	pilot_v1_Reply   got = pilot_v1_Reply_init_zero;
	pilot_v1_WebTask tasks[4];
	size_t           n;

	(void) state;
	memset(tasks, 0, sizeof(tasks));
	for (int i = 0; i < 4; i++) {
		tasks[i].id = i + 1;
		strcpy(tasks[i].type, "demo");
		tasks[i].payload               = dup("{}");
		tasks[i].has_scheduler_task_id = i % 2 == 0;
		tasks[i].scheduler_task_id     = i % 2 == 0 ? 1000 + i : 0;
	}
	rep.which_result = pilot_v1_Reply_list_web_tasks_tag;
	rep.result.list_web_tasks.tasks_count = 4;
	rep.result.list_web_tasks.tasks       = tasks;
	n = encode(pilot_v1_Reply_fields, &rep);
	for (int i = 0; i < 4; i++) {
		free(tasks[i].payload);
	}
	assert_true(decode(pilot_v1_Reply_fields, &got, buf, n));
	assert_int_equal(got.result.list_web_tasks.tasks_count, 4);
	for (int i = 0; i < 4; i++) {
		const pilot_v1_WebTask *t = &got.result.list_web_tasks.tasks[i];

		assert_int_equal(t->id, i + 1);
		assert_string_equal(t->payload, "{}");
		assert_int_equal(t->has_scheduler_task_id, i % 2 == 0);
		if (t->has_scheduler_task_id) {
			assert_int_equal(t->scheduler_task_id, 1000 + i);
		}
	}
	pb_release(pilot_v1_Reply_fields, &got);
}

/* A CreateTask request whose type has n bytes, encoded by hand. */
static size_t
create_task_with_type(uint8_t *out, size_t size, size_t n)
{
	char    type[256];
	uint8_t inner[512];
	size_t  inner_len;

	assert_true(n <= sizeof(type));
	memset(type, 'a', n);
	inner_len = wrap(inner, sizeof(inner), 1, type, n);
	return wrap(
	    out, size, dtp_v1_Request_create_task_tag, inner, inner_len);
}

static void
test_envelope_type_bound_is_enforced(void **state)
{
	uint8_t        msg[1024];
	size_t         n;
	dtp_v1_Request got;

	(void) state;
	/* 64 bytes: the documented maximum, accepted whole. */
	memset(&got, 0, sizeof(got));
	n = create_task_with_type(msg, sizeof(msg), 64);
	assert_true(decode(dtp_v1_Request_fields, &got, msg, n));
	assert_int_equal(strlen(got.call.create_task.type), 64);
	pb_release(dtp_v1_Request_fields, &got);

	/* 65 bytes: rejected, not truncated. */
	memset(&got, 0, sizeof(got));
	n = create_task_with_type(msg, sizeof(msg), 65);
	assert_false(decode(dtp_v1_Request_fields, &got, msg, n));
	pb_release(dtp_v1_Request_fields, &got);

	/* The same bound in the pilot envelope. */
	{
		pilot_v1_Request pgot;
		char             type[65];
		uint8_t          inner[128];
		size_t           inner_len;

		memset(&pgot, 0, sizeof(pgot));
		memset(type, 'b', sizeof(type));
		inner_len = wrap(inner, sizeof(inner), 2, type, sizeof(type));
		n = wrap(msg, sizeof(msg), pilot_v1_Request_create_web_task_tag,
		    inner, inner_len);
		assert_false(decode(pilot_v1_Request_fields, &pgot, msg, n));
		pb_release(pilot_v1_Request_fields, &pgot);
	}
}

static void
test_envelope_status_message_bound_is_enforced(void **state)
{
	static char    text[1100];
	static uint8_t inner[1200];
	static uint8_t msg[1300];
	size_t         inner_len, n;
	dtp_v1_Reply   got;
	pb_ostream_t   os;

	(void) state;
	memset(text, 'x', sizeof(text));
	for (size_t len = 1023; len <= 1024; len++) {
		/* Status { code = 13; message = "xxx..." } */
		os = pb_ostream_from_buffer(inner, sizeof(inner));
		assert_true(pb_encode_tag(&os, PB_WT_VARINT, 1));
		assert_true(pb_encode_varint(&os, 13));
		assert_true(pb_encode_tag(&os, PB_WT_STRING, 2));
		assert_true(pb_encode_string(&os, (const uint8_t *) text, len));
		inner_len = os.bytes_written;
		n         = wrap(msg, sizeof(msg), 1, inner, inner_len);
		memset(&got, 0, sizeof(got));
		if (len == 1023) {
			assert_true(decode(dtp_v1_Reply_fields, &got, msg, n));
			assert_int_equal(got.status.code, 13);
			assert_int_equal(strlen(got.status.message), 1023);
		} else {
			assert_false(decode(dtp_v1_Reply_fields, &got, msg, n));
		}
		pb_release(dtp_v1_Reply_fields, &got);
	}
}

static void
test_envelope_garbage_does_not_decode(void **state)
{
	static const uint8_t cases[][8] = {
		{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		{ 0x12, 0x7f, 0x0a, 0x02, 'h', 'i', 0,
		    0 }, /* length past end */
		{ 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80 },
	};
	static const size_t lens[] = { 8, 6, 8 };

	(void) state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		dtp_v1_Request   d;
		pilot_v1_Request p;

		memset(&d, 0, sizeof(d));
		memset(&p, 0, sizeof(p));
		assert_false(
		    decode(dtp_v1_Request_fields, &d, cases[i], lens[i]));
		pb_release(dtp_v1_Request_fields, &d);
		assert_false(
		    decode(pilot_v1_Request_fields, &p, cases[i], lens[i]));
		pb_release(pilot_v1_Request_fields, &p);
	}
}

/*
 * A NUL inside a string, found on the wire through the nested CreateTask
 * message, with the innermost field's tag; clean strings pass.
 */
static void
test_envelope_nul_in_string_is_found(void **state)
{
	static const struct {
		const char *s;
		size_t      n;
		uint32_t    tag; /* 0: clean */
	} cases[] = {
		{ "ab\0cd", 5, 2 },
		{ "\0", 1, 2 },
		{ "abcd\0", 5, 2 },
		{ "abcd", 4, 0 },
		{ "", 0, 0 },
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t        inner[64];
		uint8_t        outer[128];
		size_t         n, m;
		pb_ostream_t   os;
		dtp_v1_Request got;
		uint32_t       tag = 99;

		/* Request{create_task: {type: "demo", payload: s}} */
		os = pb_ostream_from_buffer(inner, sizeof(inner));
		assert_true(pb_encode_tag(&os, PB_WT_STRING, 1));
		assert_true(pb_encode_string(&os, (const pb_byte_t *) "demo", 4));
		assert_true(pb_encode_tag(&os, PB_WT_STRING, 2));
		assert_true(pb_encode_string(
		    &os, (const pb_byte_t *) cases[i].s, cases[i].n));
		n = os.bytes_written;
		m = wrap(outer, sizeof(outer), dtp_v1_Request_create_task_tag,
		    inner, n);
		memset(&got, 0, sizeof(got));
		assert_true(decode(dtp_v1_Request_fields, &got, outer, m));
		assert_int_equal(proto_wire_find_nul(dtp_v1_Request_fields,
		                     &got, outer, m, &tag),
		    cases[i].tag != 0);
		assert_int_equal(tag, cases[i].tag);
		pb_release(dtp_v1_Request_fields, &got);
	}
}

static void
test_envelope_accessors(void **state)
{
	dtp_v1_Reply   rep  = dtp_v1_Reply_init_zero;
	pilot_v1_Reply prep = pilot_v1_Reply_init_zero;

	(void) state;
	assert_string_equal(proto_dtp_envelope.service, "dtp");
	assert_string_equal(proto_pilot_envelope.service, "taskpilot");
	assert_int_equal(proto_dtp_envelope.req_size, sizeof(dtp_v1_Request));
	assert_int_equal(proto_pilot_envelope.rep_size, sizeof(pilot_v1_Reply));
	assert_int_equal(proto_dtp_envelope.max_call, PROTO_DTP_MAX_CALL);
	assert_int_equal(proto_pilot_envelope.max_call, PROTO_PILOT_MAX_CALL);
	assert_string_equal(
	    proto_dtp_envelope.call_name(dtp_v1_Request_metrics_tag), "Metrics");
	assert_string_equal(
	    proto_pilot_envelope.call_name(pilot_v1_Request_metrics_tag),
	    "Metrics");
	assert_string_equal(
	    proto_dtp_envelope.call_name(dtp_v1_Request_cancel_task_tag),
	    "CancelTask");
	assert_string_equal(
	    proto_pilot_envelope.call_name(pilot_v1_Request_bind_scheduler_tag),
	    "BindScheduler");
	/* Tag 1 is deadline_ms: the calls are 2..max_call. */
	assert_null(proto_dtp_envelope.call_name(1));
	for (pb_size_t t = 2; t <= proto_dtp_envelope.max_call; t++) {
		assert_non_null(proto_dtp_envelope.call_name(t));
	}
	for (pb_size_t t = 2; t <= proto_pilot_envelope.max_call; t++) {
		assert_non_null(proto_pilot_envelope.call_name(t));
	}
	assert_null(proto_dtp_envelope.call_name(0));
	assert_null(proto_dtp_envelope.call_name(99));
	assert_null(proto_pilot_envelope.call_name(0));

	assert_false(rep.has_status);
	proto_dtp_envelope.rep_status(&rep)->code = 9;
	assert_true(rep.has_status);
	assert_int_equal(rep.status.code, 9);
	proto_dtp_envelope.rep_set_result(&rep, dtp_v1_Reply_health_tag);
	assert_int_equal(rep.which_result, dtp_v1_Reply_health_tag);
	proto_pilot_envelope.rep_status(&prep)->code = 3;
	assert_true(prep.has_status);
	proto_pilot_envelope.rep_set_result(&prep, 0);
	assert_int_equal(proto_pilot_envelope.rep_result(&prep), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope_dtp_request_round_trip),
		cmocka_unit_test(test_envelope_dtp_list_reply_round_trip),
		cmocka_unit_test(test_envelope_dtp_error_reply_round_trip),
		cmocka_unit_test(test_envelope_pilot_round_trip),
		cmocka_unit_test(test_envelope_pilot_list_reply_round_trip),
		cmocka_unit_test(test_envelope_type_bound_is_enforced),
		cmocka_unit_test(
		    test_envelope_status_message_bound_is_enforced),
		cmocka_unit_test(test_envelope_garbage_does_not_decode),
		cmocka_unit_test(test_envelope_nul_in_string_is_found),
		cmocka_unit_test(test_envelope_accessors),
	};

	return cmocka_run_group_tests_name("envelope", tests, NULL, NULL);
}
