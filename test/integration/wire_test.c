/*
 * wire_test.c: the wire contract. What nanopb encodes decodes with Google's
 * `protoc --decode`, and what `protoc --encode` produces from text format
 * decodes in our code, for the DTP and TaskPilot envelopes: the .proto files
 * are the public API for clients in any language.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "proto/envelope.h"

#ifndef TP_PROTOC
#define TP_PROTOC "protoc"
#endif

static char tmpdir[256];

/*
 * protoc runs `protoc --<mode>=<type>` for <file>.proto with in as stdin
 * and returns its stdout (malloc'd, *n bytes, NUL-terminated).
 */
static char *
protoc(const char *mode, const char *type, const char *file, const void *in,
    size_t in_len, size_t *n)
{
	char   in_path[512], cmd[2048];
	FILE  *f;
	char  *out = NULL;
	size_t cap = 0;
	size_t len = 0;
	size_t got;
	int    rc;

	snprintf(in_path, sizeof(in_path), "%s/in.bin", tmpdir);
	f = fopen(in_path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(in, 1, in_len, f), in_len);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd),
	    "'%s' --%s=%s -I'%s/proto' '%s/proto/%s.proto' < '%s'", TP_PROTOC,
	    mode, type, TP_SOURCE_DIR, TP_SOURCE_DIR, file, in_path);
	f = popen(cmd, "r");
	assert_non_null(f);
	do {
		if (cap - len < 4096) {
			cap = cap * 2 + 4096;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		got = fread(out + len, 1, cap - len - 1, f);
		len += got;
	} while (got > 0);
	rc = pclose(f);
	if (rc != 0) {
		fail_msg("%s exited with %d", cmd, rc);
	}
	out[len] = '\0';
	*n       = len;
	return out;
}

static size_t
encode(uint8_t *buf, size_t size, const pb_msgdesc_t *fields, const void *m)
{
	pb_ostream_t os = pb_ostream_from_buffer(buf, size);

	assert_true(pb_encode(&os, fields, m));
	return os.bytes_written;
}

static void
decode(const pb_msgdesc_t *fields, void *m, const char *b, size_t n)
{
	pb_istream_t is = pb_istream_from_buffer((const uint8_t *) b, n);

	if (!pb_decode(&is, fields, m)) {
		fail_msg(
		    "could not decode protoc's output: %s", PB_GET_ERROR(&is));
	}
}

static void
assert_has(const char *text, const char *want)
{
	if (strstr(text, want) == NULL) {
		fail_msg("protoc output lacks <%s>:\n%s", want, text);
	}
}

static void
test_wire_dtp_request_nanopb_to_protoc(void **state)
{
	static uint8_t buf[4096];
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	char          *text;
	size_t         n;

	(void) state;
	req.deadline_ms = 1764165845123;
	req.which_call  = dtp_v1_Request_create_task_tag;
	strcpy(req.call.create_task.type, "demo");
	req.call.create_task.payload             = "{\"a\":1}";
	req.call.create_task.has_max_attempts    = true;
	req.call.create_task.max_attempts        = 4;
	req.call.create_task.has_idempotency_key = true;
	strcpy(req.call.create_task.idempotency_key, "webtask:42");
	n    = encode(buf, sizeof(buf), dtp_v1_Request_fields, &req);
	text = protoc("decode", "dtp.v1.Request", "dtp", buf, n, &n);
	assert_has(text, "deadline_ms: 1764165845123");
	assert_has(text, "create_task {");
	assert_has(text, "type: \"demo\"");
	assert_has(text, "payload: \"{\\\"a\\\":1}\"");
	assert_has(text, "max_attempts: 4");
	assert_has(text, "idempotency_key: \"webtask:42\"");
	free(text);
}

static void
test_wire_dtp_reply_nanopb_to_protoc(void **state)
{
	static uint8_t buf[8192];
	dtp_v1_Reply   rep = dtp_v1_Reply_init_zero;
	dtp_v1_Task    tasks[2];
	char          *text;
	size_t         n;

	(void) state;
	memset(tasks, 0, sizeof(tasks));
	tasks[0].id               = 1;
	tasks[0].status           = dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED;
	tasks[0].payload          = "p1";
	tasks[0].result           = "r1";
	tasks[1].id               = 2;
	tasks[1].status           = dtp_v1_TaskStatus_TASK_STATUS_CANCELLED;
	tasks[1].cancel_requested = true;
	strcpy(tasks[1].locked_by, "node-2");
	proto_dtp_envelope.rep_status(&rep)->code = 0;
	rep.which_result                          = dtp_v1_Reply_list_tasks_tag;
	rep.result.list_tasks.tasks_count         = 2;
	rep.result.list_tasks.tasks               = tasks;
	rep.result.list_tasks.next_after_id       = 2;
	n    = encode(buf, sizeof(buf), dtp_v1_Reply_fields, &rep);
	text = protoc("decode", "dtp.v1.Reply", "dtp", buf, n, &n);
	assert_has(text, "list_tasks {");
	assert_has(text, "status: TASK_STATUS_SUCCEEDED");
	assert_has(text, "status: TASK_STATUS_CANCELLED");
	assert_has(text, "result: \"r1\"");
	assert_has(text, "cancel_requested: true");
	assert_has(text, "locked_by: \"node-2\"");
	assert_has(text, "next_after_id: 2");
	free(text);

	/* An error reply: the status and nothing else. */
	memset(&rep, 0, sizeof(rep));
	proto_dtp_envelope.rep_status(&rep)->code = 5;
	strcpy(rep.status.message, "task 42 not found");
	n    = encode(buf, sizeof(buf), dtp_v1_Reply_fields, &rep);
	text = protoc("decode", "dtp.v1.Reply", "dtp", buf, n, &n);
	assert_has(
	    text, "status {\n  code: 5\n  message: \"task 42 not found\"\n}");
	free(text);
}

static void
test_wire_dtp_protoc_to_nanopb(void **state)
{
	static const char in[] = "deadline_ms: 1700000000000\n"
	                         "create_task {\n"
	                         "  type: \"sleep\"\n"
	                         "  payload: \"{\\\"ms\\\":50}\"\n"
	                         "  timeout_ms: 30000\n"
	                         "  run_at_ms: 1700000001000\n"
	                         "}\n";
	static const char rep_in[]
	    = "status { code: 9 message: \"task 3 is already final\" }\n"
	      "cancel_task { id: 3 type: \"demo\" status: "
	      "TASK_STATUS_SUCCEEDED "
	      "attempts: 1 result: \"\" }\n";
	dtp_v1_Request req;
	dtp_v1_Reply   rep;
	char          *bin;
	size_t         n;

	(void) state;
	bin = protoc("encode", "dtp.v1.Request", "dtp", in, strlen(in), &n);
	memset(&req, 0, sizeof(req));
	decode(dtp_v1_Request_fields, &req, bin, n);
	assert_int_equal(req.deadline_ms, 1700000000000);
	assert_int_equal(req.which_call, dtp_v1_Request_create_task_tag);
	assert_string_equal(req.call.create_task.type, "sleep");
	assert_string_equal(req.call.create_task.payload, "{\"ms\":50}");
	assert_true(req.call.create_task.has_timeout_ms);
	assert_int_equal(req.call.create_task.timeout_ms, 30000);
	assert_true(req.call.create_task.has_run_at_ms);
	assert_false(req.call.create_task.has_max_attempts);
	assert_false(req.call.create_task.has_idempotency_key);
	pb_release(dtp_v1_Request_fields, &req);
	free(bin);

	bin = protoc(
	    "encode", "dtp.v1.Reply", "dtp", rep_in, strlen(rep_in), &n);
	memset(&rep, 0, sizeof(rep));
	decode(dtp_v1_Reply_fields, &rep, bin, n);
	assert_int_equal(proto_dtp_envelope.rep_status(&rep)->code, 9);
	assert_string_equal(rep.status.message, "task 3 is already final");
	assert_int_equal(rep.which_result, dtp_v1_Reply_cancel_task_tag);
	assert_int_equal(rep.result.cancel_task.id, 3);
	assert_int_equal(rep.result.cancel_task.status,
	    dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED);
	/* An optional string set to "": present, and empty. */
	assert_non_null(rep.result.cancel_task.result);
	assert_string_equal(rep.result.cancel_task.result, "");
	assert_null(rep.result.cancel_task.payload);
	pb_release(dtp_v1_Reply_fields, &rep);
	free(bin);
}

static void
test_wire_pilot_nanopb_to_protoc(void **state)
{
	static uint8_t   buf[4096];
	pilot_v1_Request req = pilot_v1_Request_init_zero;
	pilot_v1_Reply   rep = pilot_v1_Reply_init_zero;
	char            *text;
	size_t           n;

	(void) state;
	req.deadline_ms                   = 5;
	req.which_call                    = pilot_v1_Request_list_web_tasks_tag;
	req.call.list_web_tasks.limit     = 20;
	req.call.list_web_tasks.after_id  = 100;
	req.call.list_web_tasks.has_bound = true;
	req.call.list_web_tasks.bound     = false;
	n    = encode(buf, sizeof(buf), pilot_v1_Request_fields, &req);
	text = protoc("decode", "pilot.v1.Request", "pilot", buf, n, &n);
	assert_has(text, "list_web_tasks {");
	assert_has(text, "limit: 20");
	assert_has(text, "after_id: 100");
	/* proto3 optional: present even when false. */
	assert_has(text, "bound: false");
	free(text);

	proto_pilot_envelope.rep_status(&rep)->code = 0;
	rep.which_result             = pilot_v1_Reply_bind_scheduler_tag;
	rep.result.bind_scheduler.id = 4;
	strcpy(rep.result.bind_scheduler.title, "t\xc3\xa9st");
	strcpy(rep.result.bind_scheduler.type, "demo");
	rep.result.bind_scheduler.payload               = "{}";
	rep.result.bind_scheduler.has_scheduler_task_id = true;
	rep.result.bind_scheduler.scheduler_task_id     = 9;
	rep.result.bind_scheduler.execution_status
	    = dtp_v1_TaskStatus_TASK_STATUS_PENDING;
	n    = encode(buf, sizeof(buf), pilot_v1_Reply_fields, &rep);
	text = protoc("decode", "pilot.v1.Reply", "pilot", buf, n, &n);
	assert_has(text, "bind_scheduler {");
	assert_has(text, "id: 4");
	assert_has(text, "scheduler_task_id: 9");
	assert_has(text, "execution_status: TASK_STATUS_PENDING");
	assert_has(text, "payload: \"{}\"");
	free(text);
}

static void
test_wire_pilot_protoc_to_nanopb(void **state)
{
	static const char in[]
	    = "deadline_ms: 42\n"
	      "create_web_task { title: \"hello\" type: \"demo\" "
	      "payload: \"[1,2,3]\" }\n";
	static const char rep_in[]
	    = "list_web_tasks {\n"
	      "  tasks { id: 1 type: \"a\" payload: \"x\" }\n"
	      "  tasks { id: 2 type: \"b\" payload: \"y\" scheduler_task_id: 7 "
	      "}\n"
	      "  tasks { id: 3 type: \"c\" }\n"
	      "  next_after_id: 3\n"
	      "}\n";
	pilot_v1_Request req;
	pilot_v1_Reply   rep;
	char            *bin;
	size_t           n;

	(void) state;
	bin = protoc("encode", "pilot.v1.Request", "pilot", in, strlen(in), &n);
	memset(&req, 0, sizeof(req));
	decode(pilot_v1_Request_fields, &req, bin, n);
	assert_int_equal(req.deadline_ms, 42);
	assert_int_equal(proto_pilot_envelope.req_call(&req),
	    pilot_v1_Request_create_web_task_tag);
	assert_true(req.call.create_web_task.has_title);
	assert_string_equal(req.call.create_web_task.title, "hello");
	assert_string_equal(req.call.create_web_task.payload, "[1,2,3]");
	pb_release(pilot_v1_Request_fields, &req);
	free(bin);

	bin = protoc(
	    "encode", "pilot.v1.Reply", "pilot", rep_in, strlen(rep_in), &n);
	memset(&rep, 0, sizeof(rep));
	decode(pilot_v1_Reply_fields, &rep, bin, n);
	/* No status on the wire: code 0, OK. */
	assert_int_equal(proto_pilot_envelope.rep_status(&rep)->code, 0);
	assert_int_equal(rep.which_result, pilot_v1_Reply_list_web_tasks_tag);
	assert_int_equal(rep.result.list_web_tasks.tasks_count, 3);
	assert_int_equal(rep.result.list_web_tasks.next_after_id, 3);
	assert_string_equal(rep.result.list_web_tasks.tasks[0].payload, "x");
	assert_false(rep.result.list_web_tasks.tasks[0].has_scheduler_task_id);
	assert_true(rep.result.list_web_tasks.tasks[1].has_scheduler_task_id);
	assert_int_equal(
	    rep.result.list_web_tasks.tasks[1].scheduler_task_id, 7);
	assert_string_equal(rep.result.list_web_tasks.tasks[2].type, "c");
	assert_null(rep.result.list_web_tasks.tasks[2].payload);
	pb_release(pilot_v1_Reply_fields, &rep);
	free(bin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_dtp_request_nanopb_to_protoc),
		cmocka_unit_test(test_wire_dtp_reply_nanopb_to_protoc),
		cmocka_unit_test(test_wire_dtp_protoc_to_nanopb),
		cmocka_unit_test(test_wire_pilot_nanopb_to_protoc),
		cmocka_unit_test(test_wire_pilot_protoc_to_nanopb),
	};
	char cmd[512];
	int  rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/wire_test.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests_name("wire", tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0) {
		fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return rc;
}
