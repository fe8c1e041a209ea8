/*
 * chaos_input_test.c: the bad-input matrix of docs/RELIABILITY.md, against
 * a running dtp, taskpilot and tpgateway on real PostgreSQL. What
 * gateway_test.c and rpc_test.c already cover is not repeated here; this
 * file adds: hand-made protobuf sent on a raw nng req0 socket to the real
 * services (malformed, truncated, wrong wire types, unknown oneof tags, the
 * other service's envelope, invalid UTF-8 and NUL bytes in strings, huge
 * and negative numbers and ids, a message over the size limit), SQL-looking
 * strings through RPC and HTTP (refused as a type, stored verbatim and read
 * back byte-exact as payload, title and key), deep JSON and oversized
 * headers at the gateway, slow clients holding half a request (RPC and
 * HTTP) and 500 idle connections (RPC and HTTP).
 *
 * Every case asserts the answer (status code and message, or HTTP code),
 * that nothing was written for refused input (row counts of dtp.task and
 * pilot.web_task unchanged), and that the server still serves a normal
 * call right after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pb_decode.h>

#include "chaos_util.h"
#include "common/mem.h"
#include "proto/envelope.h"

#define SQLI       "'; DROP TABLE dtp.task; --"
#define N_SLOW     50
#define N_IDLE     500
#define IDLE_MS    3000 /* a normal call with idle connections open */
#define GW_TIMEOUT "3"  /* the gateway's --connection-timeout-s */
#define CLOSED_MS  20000

static const char *db_url;
static db_conn    *db;
static chaos_node  node;
static th_proc     pilot;
static char        pilot_url[64];
static th_proc     gw;
static int         gw_dtp;
static int         gw_pilot;
static rpc_client *dc;
static rpc_client *pc;

/* A hand-made protobuf message. */
typedef struct pbw {
	uint8_t *b;
	size_t   n;
	size_t   cap;
} pbw;

static void
pbw_raw(pbw *w, const void *data, size_t len)
{
	if (len == 0) {
		return;
	}
	if (w->n + len > w->cap) {
		w->cap = (w->n + len) * 2 + 64;
		w->b   = tp_xrealloc(w->b, w->cap);
	}
	memcpy(w->b + w->n, data, len);
	w->n += len;
}

static void
pbw_varint(pbw *w, uint64_t v)
{
	uint8_t buf[10];
	size_t  n = 0;

	do {
		buf[n] = (uint8_t) (v & 0x7f);
		v >>= 7;
		if (v != 0) {
			buf[n] |= 0x80;
		}
		n++;
	} while (v != 0);
	pbw_raw(w, buf, n);
}

static void
pbw_int(pbw *w, int field, int64_t v)
{
	pbw_varint(w, (uint64_t) field << 3);
	pbw_varint(w, (uint64_t) v);
}

static void
pbw_len(pbw *w, int field, const void *data, size_t len)
{
	pbw_varint(w, ((uint64_t) field << 3) | 2);
	pbw_varint(w, len);
	pbw_raw(w, data, len);
}

static void
pbw_str(pbw *w, int field, const char *s)
{
	pbw_len(w, field, s, strlen(s));
}

/* pbw_wrap: outer = { field: inner } (inner freed). */
static pbw
pbw_wrap(int field, pbw *inner)
{
	pbw out = { 0 };

	pbw_len(&out, field, inner->b, inner->n);
	free(inner->b);
	return out;
}

/* Raw RPC. */

static nng_socket
raw_open(const char *url)
{
	nng_socket s;

	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, 0), 0);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	return s;
}

/*
 * raw_call sends w's bytes and returns the reply's status code (its
 * message in msg), or -1 when no reply came (the connection was closed).
 */
static int
raw_call(nng_socket s, bool is_pilot, const pbw *w, char *msg, size_t size)
{
	void        *buf = NULL;
	size_t       sz  = 0;
	pb_istream_t is;
	int          code;
	int          rv;

	msg[0] = '\0';
	assert_int_equal(
	    nng_send(s, w->b != NULL ? w->b : (void *) "", w->n, 0), 0);
	if ((rv = nng_recv(s, &buf, &sz, NNG_FLAG_ALLOC)) != 0) {
		snprintf(msg, size, "%s", nng_strerror(rv));
		return -1;
	}
	is = pb_istream_from_buffer(buf, sz);
	if (is_pilot) {
		pilot_v1_Reply rep = pilot_v1_Reply_init_zero;
		assert_true(pb_decode(&is, pilot_v1_Reply_fields, &rep));
		assert_true(rep.has_status);
		code = rep.status.code;
		snprintf(msg, size, "%s", rep.status.message);
		pb_release(pilot_v1_Reply_fields, &rep);
	} else {
		dtp_v1_Reply rep = dtp_v1_Reply_init_zero;
		assert_true(pb_decode(&is, dtp_v1_Reply_fields, &rep));
		assert_true(rep.has_status);
		code = rep.status.code;
		snprintf(msg, size, "%s", rep.status.message);
		pb_release(dtp_v1_Reply_fields, &rep);
	}
	nng_free(buf, sz);
	return code;
}

static int64_t
count_rows(void)
{
	return chaos_sql_int(db,
	    "SELECT (SELECT count(*) FROM dtp.task) * 1000000 +"
	    " (SELECT count(*) FROM pilot.web_task)",
	    NULL);
}

/* still_serves: both services answer Health through the normal client. */
static void
still_serves(const char *after)
{
	dtp_v1_Request   dreq = dtp_v1_Request_init_zero;
	dtp_v1_Reply     drep;
	pilot_v1_Request preq = pilot_v1_Request_init_zero;
	pilot_v1_Reply   prep;
	tp_err           err;

	dreq.which_call = dtp_v1_Request_health_tag;
	if (rpc_client_call(dc, &dreq, &drep, NULL, &err) != TP_OK) {
		th_proc_dump_log(&node.proc);
		fail_msg("dtp stopped serving after %s: %s", after, err.msg);
	}
	pb_release(dtp_v1_Reply_fields, &drep);
	preq.which_call = pilot_v1_Request_health_tag;
	if (rpc_client_call(pc, &preq, &prep, NULL, &err) != TP_OK) {
		th_proc_dump_log(&pilot);
		fail_msg(
		    "taskpilot stopped serving after %s: %s", after, err.msg);
	}
	pb_release(pilot_v1_Reply_fields, &prep);
}

/* The sockets the raw cases go out on. */
static nng_socket raw_dtp;
static nng_socket raw_pilot;

/*
 * refused sends msg (freed) to DTP, or to TaskPilot when to_pilot, and
 * checks the answer (status want, want_msg a substring of its message when
 * not NULL), that no row was written, and that both services still serve.
 */
static void
refused(
    const char *name, bool to_pilot, pbw msg, int want, const char *want_msg)
{
	char    text[1200];
	int64_t before = count_rows();
	int     got    = raw_call(
	           to_pilot ? raw_pilot : raw_dtp, to_pilot, &msg, text, sizeof(text));

	free(msg.b);
	if (got != want
	    || (want_msg != NULL && strstr(text, want_msg) == NULL)) {
		fail_msg("%s: got %s \"%s\", want %s \"%s\"", name,
		    got < 0 ? "no reply" : tp_status_name(got), text,
		    tp_status_name(want), want_msg != NULL ? want_msg : "");
	}
	if (count_rows() != before) {
		fail_msg("%s: refused, but rows were written", name);
	}
	still_serves(name);
	printf("chaos [input] rpc %-44s -> %s \"%s\"\n", name,
	    tp_status_name(got), text);
}

/* bytes: a message of n raw bytes. */
static pbw
bytes(const void *data, size_t n)
{
	pbw w = { 0 };

	pbw_raw(&w, data, n);
	return w;
}

/* create_req: a DTP Request { create_task { type, payload, ... } }. */
static pbw
create_req(
    const char *type, size_t type_len, const char *payload, size_t payload_len)
{
	pbw ct = { 0 };

	pbw_len(&ct, 1, type, type_len);
	pbw_len(&ct, 2, payload, payload_len);
	return pbw_wrap(2, &ct);
}

static pbw
id_req(int call_field, int64_t id)
{
	pbw in = { 0 };

	pbw_int(&in, 1, id);
	return pbw_wrap(call_field, &in);
}

static int
group_setup(void **state)
{
	static const char *const args[]
	    = { "--workers", "2", "--lease-ms", "3000", NULL };
	char  dtp_listen[64];
	char  pilot_listen[64];
	char *argv[16];
	int   n = 0;

	(void) state;
	db_url = th_db_create("chaos_input");
	db     = chaos_db_open(db_url);
	inv_install_audit(db);
	chaos_node_init(&node, "dtp", db_url, args);
	chaos_node_start(&node);
	chaos_pilot_start(
	    &pilot, "taskpilot", pilot_url, db_url, node.url, NULL);
	gw_dtp   = th_free_port();
	gw_pilot = th_free_port();
	snprintf(dtp_listen, sizeof(dtp_listen), "127.0.0.1:%d", gw_dtp);
	snprintf(pilot_listen, sizeof(pilot_listen), "127.0.0.1:%d", gw_pilot);
	argv[n++] = (char *) th_bin("tpgateway");
	argv[n++] = "--dtp-listen";
	argv[n++] = dtp_listen;
	argv[n++] = "--pilot-listen";
	argv[n++] = pilot_listen;
	argv[n++] = "--dtp-url";
	argv[n++] = node.url;
	argv[n++] = "--pilot-url";
	argv[n++] = pilot_url;
	argv[n++] = "--connection-timeout-s";
	argv[n++] = GW_TIMEOUT;
	argv[n]   = NULL;
	th_proc_start(&gw, "tpgateway", argv, NULL);
	if (!th_wait_http(gw_dtp, "/healthz", CHAOS_START_MS)
	    || !th_wait_http(gw_pilot, "/healthz", CHAOS_START_MS)) {
		th_proc_dump_log(&gw);
		fail_msg("tpgateway did not answer /healthz");
	}
	dc = chaos_client("dtp", node.url);
	pc = chaos_client("taskpilot", pilot_url);
	return 0;
}

static int
group_teardown(void **state)
{
	int rc_gw, rc_pilot;

	(void) state;
	rpc_client_free(dc);
	rpc_client_free(pc);
	rc_gw    = th_proc_stop(&gw, CHAOS_STOP_MS);
	rc_pilot = th_proc_stop(&pilot, CHAOS_STOP_MS);
	chaos_node_stop(&node);
	db_conn_free(db);
	th_db_drop();
	if (rc_gw != 0 || rc_pilot != 0) {
		fprintf(stderr, "tpgateway exited %d, taskpilot %d\n", rc_gw,
		    rc_pilot);
		return -1;
	}
	return 0;
}

/* create_with: CreateTask { type: "demo", payload: "x", <field>: v }. */
static pbw
create_with(int field, int64_t v)
{
	pbw in = { 0 };

	pbw_str(&in, 1, "demo");
	pbw_str(&in, 2, "x");
	pbw_int(&in, field, v);
	return pbw_wrap(2, &in);
}

/* web_create: CreateWebTask { title (when not NULL), type, payload }. */
static pbw
web_create(const char *title, size_t title_len, const char *type,
    const char *payload, size_t payload_len)
{
	pbw in = { 0 };

	if (title != NULL) {
		pbw_len(&in, 1, title, title_len);
	}
	pbw_str(&in, 2, type);
	pbw_len(&in, 3, payload, payload_len);
	return pbw_wrap(2, &in);
}

static void
test_chaos_input_rpc_malformed(void **state)
{
	static const uint8_t varint11[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	/* CreateTask whose length says 100 bytes, with 6 there. */
	static const uint8_t short_create[]
	    = { 0x12, 0x64, 0x0a, 0x04, 'd', 'e', 'm', 'o' };
	/* CreateTask { type as wire type 5 (fixed32) }. */
	static const uint8_t fixed32_type[]
	    = { 0x12, 0x05, 0x0d, 0x01, 0x02, 0x03, 0x04 };
	/* Request { field 20 { 1: 7 } }: a oneof tag nobody knows. */
	static const uint8_t tag20[] = { 0xa2, 0x01, 0x02, 0x08, 0x07 };
	pbw                  w       = { 0 };
	pbw                  in      = { 0 };

	(void) state;
	raw_dtp   = raw_open(node.url);
	raw_pilot = raw_open(pilot_url);
	refused("varint longer than 10 bytes", false,
	    bytes(varint11, sizeof(varint11)), TP_INVALID_ARGUMENT,
	    "could not decode request");
	refused("create_task truncated mid-field", false,
	    bytes(short_create, sizeof(short_create)), TP_INVALID_ARGUMENT,
	    "could not decode request");
	pbw_int(&w, 2, 1);
	refused("create_task as a varint", false, w, TP_INVALID_ARGUMENT,
	    "could not decode request");
	refused("type as fixed32", false,
	    bytes(fixed32_type, sizeof(fixed32_type)), TP_INVALID_ARGUMENT,
	    "could not decode request");
	refused("unknown oneof tag 20", false, bytes(tag20, sizeof(tag20)),
	    TP_UNIMPLEMENTED, "request has no call");
	refused("unknown oneof tag 20 (taskpilot)", true,
	    bytes(tag20, sizeof(tag20)), TP_UNIMPLEMENTED,
	    "request has no call");
	w = (pbw) { 0 };
	pbw_int(&w, 1, chaos_unix_ms() + 60000);
	refused(
	    "deadline only", false, w, TP_UNIMPLEMENTED, "request has no call");

	/* TaskPilot's CreateWebTask (tag 2) sent to DTP: title 1, type 2,
	 * payload 3 read as CreateTask's type, payload and max_attempts (a
	 * string where a varint goes). */
	refused("taskpilot CreateWebTask sent to dtp", false,
	    web_create("a title", 7, "demo", "payload", 7), TP_INVALID_ARGUMENT,
	    "could not decode request");
	/* DTP's CreateTask sent to TaskPilot: its payload lands in the type. */
	refused("dtp CreateTask sent to taskpilot", true,
	    create_req("demo", 4, "{\"x\":1}", 7), TP_INVALID_ARGUMENT,
	    "invalid type");

	/* A past deadline: not handled, nothing written. */
	pbw_str(&in, 1, "demo");
	pbw_str(&in, 2, "late");
	in = pbw_wrap(2, &in);
	w  = (pbw) { 0 };
	pbw_int(&w, 1, 1);
	pbw_raw(&w, in.b, in.n);
	free(in.b);
	refused("create_task with a past deadline", false, w,
	    TP_DEADLINE_EXCEEDED, "deadline");

	/* Over the message limit (1 MiB): nng drops the connection; no reply,
	 * no row. The raw socket reconnects by itself. */
	{
		size_t  n      = 1536 * 1024;
		char   *big    = tp_xmalloc(n);
		int64_t before = count_rows();
		char    text[256];
		int     got;

		memset(big, 'x', n);
		w = create_req("demo", 4, big, n);
		free(big);
		got = raw_call(raw_dtp, false, &w, text, sizeof(text));
		free(w.b);
		assert_int_equal(got, -1);
		assert_int_equal(count_rows(), before);
		still_serves("a message over the limit");
		printf("chaos [input] rpc %-44s -> no reply (%s)\n",
		    "create_task of 1.5 MiB", text);
	}
	assert_int_equal(nng_close(raw_dtp), 0);
	assert_int_equal(nng_close(raw_pilot), 0);
}

static void
test_chaos_input_rpc_strings_and_numbers(void **state)
{
	static const struct {
		const char *name;
		bool        to_pilot;
		int         field;
		int64_t     id;
		int         want;
	} ids[] = {
		{ "GetTask id -2^63", false, 3, INT64_MIN,
		    TP_INVALID_ARGUMENT },
		{ "GetTask id 2^63-1", false, 3, INT64_MAX, TP_NOT_FOUND },
		{ "CancelTask id -5", false, 4, -5, TP_INVALID_ARGUMENT },
		{ "CancelTask id 2^63-1", false, 4, INT64_MAX, TP_NOT_FOUND },
		{ "BindScheduler id 2^63-1", true, 5, INT64_MAX, TP_NOT_FOUND },
		{ "GetExecution id -2^63", true, 6, INT64_MIN,
		    TP_INVALID_ARGUMENT },
	};
	char title[202];
	pbw  w  = { 0 };
	pbw  in = { 0 };

	(void) state;
	raw_dtp   = raw_open(node.url);
	raw_pilot = raw_open(pilot_url);
	memset(title, 't', 201);
	title[201] = '\0';

	/* Strings: bytes no validator may let through. */
	refused("type with invalid UTF-8", false,
	    create_req("de\xffmo", 5, "x", 1), TP_INVALID_ARGUMENT,
	    "invalid type");
	refused("payload with a surrogate (CESU-8)", false,
	    create_req("demo", 4, "\xed\xa0\x80", 3), TP_INVALID_ARGUMENT,
	    "not valid UTF-8");
	pbw_str(&in, 1, "demo");
	pbw_str(&in, 2, "x");
	pbw_str(&in, 6, "key-\xfe");
	refused("idempotency key with invalid UTF-8", false, pbw_wrap(2, &in),
	    TP_INVALID_ARGUMENT, "invalid idempotency_key");
	refused("type of 65 bytes", false,
	    create_req(
	        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	        "aaaaaaa",
	        65, "x", 1),
	    TP_INVALID_ARGUMENT, "could not decode request");
	refused("SQL as the type", false,
	    create_req(SQLI, strlen(SQLI), "x", 1), TP_INVALID_ARGUMENT,
	    "invalid type");
	refused("web task title, overlong UTF-8", true,
	    web_create("t\xc0\xaf", 3, "demo", "x", 1), TP_INVALID_ARGUMENT,
	    "title");
	refused("web task title of 201 bytes", true,
	    web_create(title, 201, "demo", "x", 1), TP_INVALID_ARGUMENT,
	    "could not decode request");
	refused("SQL as the web task type", true,
	    web_create(NULL, 0, SQLI, "x", 1), TP_INVALID_ARGUMENT,
	    "invalid type");

	/* Numbers at the ends of their types. */
	refused("max_attempts 2^31-1", false, create_with(3, INT32_MAX),
	    TP_INVALID_ARGUMENT, "invalid max_attempts");
	refused("timeout_ms 2^63-1", false, create_with(4, INT64_MAX),
	    TP_INVALID_ARGUMENT, "invalid timeout_ms");
	refused("run_at_ms 2^63-1", false, create_with(5, INT64_MAX),
	    TP_INVALID_ARGUMENT, "invalid run_at_ms");
	pbw_int(&w, 1, -1);
	refused("ListTasks status -1 (10-byte varint)", false, pbw_wrap(5, &w),
	    TP_INVALID_ARGUMENT, "could not decode request");
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		refused(ids[i].name, ids[i].to_pilot,
		    id_req(ids[i].field, ids[i].id), ids[i].want, NULL);
	}
	assert_int_equal(nng_close(raw_dtp), 0);
	assert_int_equal(nng_close(raw_pilot), 0);
}

/*
 * A NUL byte inside a protobuf string. PostgreSQL text cannot hold one,
 * so the only right answer is INVALID_ARGUMENT; nanopb ends its decoded C
 * string at the NUL, so unless the RPC layer checks, the service sees a
 * shorter string and stores a prefix of what the client sent (a payload
 * "ab\0cd" would become "ab"; a type "demo\0evil" would run as demo).
 * The RPC server scans the request's strings on the wire and refuses.
 */
static void
test_chaos_input_nul_in_strings(void **state)
{
	nng_socket  d        = raw_open(node.url);
	nng_socket  p        = raw_open(pilot_url);
	int         accepted = 0;
	struct {
		const char *name;
		bool        is_pilot;
		pbw         msg;
	} cases[5];
	pbw in;

	(void) state;
	memset(cases, 0, sizeof(cases));
	cases[0].name = "dtp payload \"ab\\0cd\"";
	cases[0].msg  = create_req("demo", 4, "ab\0cd", 5);
	cases[1].name = "dtp type \"demo\\0evil\"";
	cases[1].msg  = create_req("demo\0evil", 9, "nul-type", 8);
	cases[2].name = "dtp idempotency key \"k\\0ey\"";
	in            = (pbw) { 0 };
	pbw_str(&in, 1, "demo");
	pbw_str(&in, 2, "nul-key");
	pbw_len(&in, 6, "k\0ey", 4);
	cases[2].msg      = pbw_wrap(2, &in);
	cases[3].name     = "taskpilot title \"ti\\0tle\"";
	cases[3].is_pilot = true;
	in                = (pbw) { 0 };
	pbw_len(&in, 1, "ti\0tle", 6);
	pbw_str(&in, 2, "demo");
	pbw_str(&in, 3, "nul-title");
	cases[3].msg      = pbw_wrap(2, &in);
	cases[4].name     = "taskpilot payload \"ab\\0cd\"";
	cases[4].is_pilot = true;
	in                = (pbw) { 0 };
	pbw_str(&in, 2, "demo");
	pbw_len(&in, 3, "ab\0cd", 5);
	cases[4].msg = pbw_wrap(2, &in);
	for (int i = 0; i < 5; i++) {
		char    msg[1200];
		int64_t before = count_rows();
		int got = raw_call(cases[i].is_pilot ? p : d, cases[i].is_pilot,
		    &cases[i].msg, msg, sizeof(msg));
		static const char *const stored[5] = {
			"SELECT payload FROM dtp.task ORDER BY id DESC LIMIT 1",
			"SELECT type FROM dtp.task ORDER BY id DESC LIMIT 1",
			"SELECT idempotency_key FROM dtp.task ORDER BY id DESC"
			" LIMIT 1",
			"SELECT title FROM pilot.web_task ORDER BY id DESC"
			" LIMIT 1",
			"SELECT payload FROM pilot.web_task ORDER BY id DESC"
			" LIMIT 1",
		};
		char written[160] = "";
		if (count_rows() != before) {
			db_rows *rows = NULL;
			tp_err   e;
			if (db_exec(db, &rows, stored[i], 0, NULL, &e) == TP_OK
			    && db_rows_count(rows) == 1) {
				snprintf(written, sizeof(written),
				    " (stored \"%s\")",
				    db_rows_get(rows, 0, 0));
			}
			db_rows_free(rows);
		}
		printf("chaos [input] rpc %-44s -> %s \"%s\"%s\n",
		    cases[i].name, got < 0 ? "no reply" : tp_status_name(got),
		    msg, written);
		accepted += got != TP_INVALID_ARGUMENT;
		free(cases[i].msg.b);
		still_serves(cases[i].name);
	}
	nng_close(d);
	nng_close(p);
	if (accepted > 0) {
		fail_msg("%d of 5 strings with a NUL byte were not refused",
		    accepted);
	}
}

/* SQL-looking strings where any text is fine: stored and read back as is. */
static void
test_chaos_input_sql_strings_stored_verbatim(void **state)
{
	dtp_v1_Request   req = dtp_v1_Request_init_zero;
	dtp_v1_Reply     rep;
	pilot_v1_Request preq = pilot_v1_Request_init_zero;
	pilot_v1_Reply   prep;
	tp_err           err;
	int64_t          id;
	int64_t          id2;
	int64_t          web;
	bool             replayed;

	(void) state;
	/* Payload and key through RPC; the demo task's result is its
	 * payload, read back too. */
	assert_int_equal(
	    chaos_create(dc, NULL, &id, "demo", SQLI, SQLI, 0, 10000, &err),
	    TP_OK);
	req.which_call       = dtp_v1_Request_get_task_tag;
	req.call.get_task.id = id;
	assert_int_equal(rpc_client_call(dc, &req, &rep, NULL, &err), TP_OK);
	assert_string_equal(rep.result.get_task.payload, SQLI);
	assert_string_equal(rep.result.get_task.idempotency_key, SQLI);
	pb_release(dtp_v1_Reply_fields, &rep);
	/* The same key and payload: a replay of the same task. */
	memset(&req, 0, sizeof(req));
	req.which_call = dtp_v1_Request_create_task_tag;
	snprintf(req.call.create_task.type, sizeof(req.call.create_task.type),
	    "demo");
	req.call.create_task.payload             = SQLI;
	req.call.create_task.has_idempotency_key = true;
	snprintf(req.call.create_task.idempotency_key,
	    sizeof(req.call.create_task.idempotency_key), "%s", SQLI);
	assert_int_equal(rpc_client_call(dc, &req, &rep, NULL, &err), TP_OK);
	id2      = rep.result.create_task.task.id;
	replayed = rep.result.create_task.replayed;
	pb_release(dtp_v1_Reply_fields, &rep);
	assert_int_equal(id2, id);
	assert_true(replayed);
	assert_int_equal(chaos_sql_int(db,
	                     "SELECT count(*) FROM dtp.task WHERE payload = $1"
	                     " AND idempotency_key = $1",
	                     SQLI),
	    1);

	/* Title and payload through TaskPilot, read back byte-exact. */
	preq.which_call = pilot_v1_Request_create_web_task_tag;
	preq.call.create_web_task.has_title = true;
	snprintf(preq.call.create_web_task.title,
	    sizeof(preq.call.create_web_task.title), "%s", SQLI);
	snprintf(preq.call.create_web_task.type,
	    sizeof(preq.call.create_web_task.type), "demo");
	preq.call.create_web_task.payload = SQLI;
	assert_int_equal(rpc_client_call(pc, &preq, &prep, NULL, &err), TP_OK);
	web = prep.result.create_web_task.id;
	pb_release(pilot_v1_Reply_fields, &prep);
	memset(&preq, 0, sizeof(preq));
	preq.which_call           = pilot_v1_Request_get_web_task_tag;
	preq.call.get_web_task.id = web;
	assert_int_equal(rpc_client_call(pc, &preq, &prep, NULL, &err), TP_OK);
	assert_string_equal(prep.result.get_web_task.title, SQLI);
	assert_string_equal(prep.result.get_web_task.payload, SQLI);
	pb_release(pilot_v1_Reply_fields, &prep);
	/* The schema is whole. */
	assert_true(
	    chaos_sql_int(db, "SELECT count(*) FROM dtp.task", NULL) >= 1);
	printf("chaos [input] rpc %-44s -> stored verbatim, read back "
	       "byte-exact\n",
	    "SQL as payload, key and title");
}

/* HTTP. */

static int
tcp_connect(int port)
{
	struct sockaddr_in sa;
	int                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		fail_msg("socket: %s", strerror(errno));
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family      = AF_INET;
	sa.sin_port        = htons((uint16_t) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
		fail_msg("connect to %d: %s", port, strerror(errno));
	}
	return fd;
}

static void
send_str(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return; /* the peer may have closed: a case checks it */
		}
		s += w;
		n -= (size_t) w;
	}
}

/* http_expect sends a request and checks the code (and body substring). */
static json_t *
http_expect(int port, const char *method, const char *path, const char *body,
    const char *headers, int want, const char *want_in_body)
{
	th_http_resp r;
	json_error_t jerr;
	json_t      *j  = NULL;
	int          st = th_http(&r, port, method, path, body, headers);

	if (st != want
	    || (want_in_body != NULL
	        && (r.body == NULL || strstr(r.body, want_in_body) == NULL))) {
		fail_msg("%s %s: got %d %s, want %d %s", method, path, st,
		    r.body != NULL ? r.body : "", want,
		    want_in_body != NULL ? want_in_body : "");
	}
	if (r.body != NULL && r.body_len > 0) {
		j = json_loadb(r.body, r.body_len, 0, &jerr);
	}
	th_http_free(&r);
	return j;
}

static void
gw_still_serves(const char *after)
{
	if (!th_proc_alive(&gw)) {
		th_proc_dump_log(&gw);
		fail_msg("tpgateway died after %s", after);
	}
	json_decref(
	    http_expect(gw_dtp, "GET", "/healthz", NULL, "", 200, NULL));
	json_decref(
	    http_expect(gw_pilot, "GET", "/healthz", NULL, "", 200, NULL));
}

static void
test_chaos_input_http(void **state)
{
	int64_t before;
	json_t *j;
	char    path[64];
	char   *deep;
	size_t  depth = 100000;

	(void) state;
	/* SQL as the type: refused by the validator, nothing written. */
	before = count_rows();
	json_decref(http_expect(gw_dtp, "POST", "/tasks",
	    "{\"type\":\"'; DROP TABLE dtp.task; --\",\"payload\":\"x\"}", "",
	    400, "invalid type"));
	json_decref(http_expect(gw_pilot, "POST", "/api/tasks",
	    "{\"type\":\"'; DROP TABLE dtp.task; --\",\"payload\":\"x\"}", "",
	    400, "invalid type"));
	assert_int_equal(count_rows(), before);
	gw_still_serves("SQL as the type");
	printf("chaos [input] http %-43s -> 400 INVALID_ARGUMENT\n",
	    "SQL as the type");

	/* SQL and non-ASCII as payload and title: stored verbatim. */
	j = http_expect(gw_dtp, "POST", "/tasks",
	    "{\"type\":\"demo\",\"payload\":\"'; DROP TABLE dtp.task; --"
	    " \\u00e9\\ud83d\\ude00\"}",
	    "", 201, NULL);
	snprintf(path, sizeof(path), "/tasks/%" PRId64,
	    (int64_t) json_integer_value(json_object_get(j, "id")));
	json_decref(j);
	j = http_expect(gw_dtp, "GET", path, NULL, "", 200, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "payload")),
	    SQLI " \xc3\xa9\xf0\x9f\x98\x80");
	json_decref(j);
	j = http_expect(gw_pilot, "POST", "/api/tasks",
	    "{\"type\":\"demo\",\"title\":\"'; DROP TABLE dtp.task; --\","
	    "\"payload\":\"'; DROP TABLE dtp.task; --\"}",
	    "", 201, NULL);
	snprintf(path, sizeof(path), "/api/tasks/%" PRId64,
	    (int64_t) json_integer_value(json_object_get(j, "id")));
	json_decref(j);
	j = http_expect(gw_pilot, "GET", path, NULL, "", 200, NULL);
	assert_string_equal(
	    json_string_value(json_object_get(j, "title")), SQLI);
	assert_string_equal(
	    json_string_value(json_object_get(j, "payload")), SQLI);
	json_decref(j);
	printf("chaos [input] http %-43s -> 201, read back byte-exact\n",
	    "SQL and UTF-8 as payload and title");

	/* JSON nested 100000 deep: refused, the parser does not recurse
	 * into a stack overflow. */
	deep = tp_xmalloc(2 * depth + 64);
	{
		size_t n
		    = (size_t) sprintf(deep, "{\"type\":\"demo\",\"payload\":");
		memset(deep + n, '[', depth);
		n += depth;
		memset(deep + n, ']', depth);
		n += depth;
		snprintf(deep + n, 8, "}");
	}
	before = count_rows();
	json_decref(
	    http_expect(gw_dtp, "POST", "/tasks", deep, "", 400, "nesting"));
	free(deep);
	assert_int_equal(count_rows(), before);
	gw_still_serves("JSON nested 100000 deep");
	printf("chaos [input] http %-43s -> 400 INVALID_ARGUMENT\n",
	    "JSON nested 100000 deep");

	/* The largest id is valid and unknown; a bad escape is no id. */
	json_decref(http_expect(gw_dtp, "GET", "/tasks/9223372036854775807",
	    NULL, "", 404, "NOT_FOUND"));
	json_decref(http_expect(gw_pilot, "GET",
	    "/api/tasks/9223372036854775807/execution", NULL, "", 404,
	    "NOT_FOUND"));
	json_decref(http_expect(
	    gw_dtp, "GET", "/tasks/%ff", NULL, "", 400, "invalid task id"));
	printf("chaos [input] http %-43s -> 404 / 400\n", "ids 2^63-1 and %ff");

	/* Headers larger than the connection's memory: a 4xx, no crash. */
	{
		size_t         hlen = 64 * 1024;
		char          *h    = tp_xmalloc(hlen + 32);
		int            fd   = tcp_connect(gw_dtp);
		char           buf[512];
		ssize_t        got;
		struct timeval tv = { 10, 0 };
		memcpy(h, "X-Big: ", 7);
		memset(h + 7, 'b', hlen);
		memcpy(h + 7 + hlen, "\r\n\r\n", 5);
		(void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		send_str(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n", 32);
		send_str(fd, h, strlen(h));
		got                    = recv(fd, buf, sizeof(buf) - 1, 0);
		buf[got > 0 ? got : 0] = '\0';
		close(fd);
		free(h);
		/* libmicrohttpd answers 431 (or closes): never 2xx. */
		if (got > 0 && strncmp(buf, "HTTP/1.1 4", 10) != 0) {
			fail_msg("64 KiB header: got \"%.40s\"", buf);
		}
		gw_still_serves("a 64 KiB header");
		printf("chaos [input] http %-43s -> %.12s\n", "a 64 KiB header",
		    got > 0 ? buf : "connection closed");
	}

	/* A Content-Length far over the limit: 413 before any body. */
	{
		int            fd = tcp_connect(gw_dtp);
		char           buf[512];
		ssize_t        got;
		struct timeval tv  = { 10, 0 };
		const char    *req = "POST /tasks HTTP/1.1\r\nHost: x\r\n"
		                     "Content-Type: application/json\r\n"
		                     "Content-Length: 99999999999\r\n\r\n{";
		before             = count_rows();
		(void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		send_str(fd, req, strlen(req));
		got                    = recv(fd, buf, sizeof(buf) - 1, 0);
		buf[got > 0 ? got : 0] = '\0';
		close(fd);
		if (got <= 0 || strncmp(buf, "HTTP/1.1 413", 12) != 0) {
			fail_msg("Content-Length 99999999999: got \"%.40s\"",
			    got > 0 ? buf : "nothing");
		}
		assert_int_equal(count_rows(), before);
		gw_still_serves("Content-Length 99999999999");
		printf("chaos [input] http %-43s -> 413\n",
		    "Content-Length 99999999999");
	}
}

/* Slow and idle clients. */

typedef struct closed_wait {
	int *fds;
	int  n;
	int  closed;
} closed_wait;

static bool
all_closed_pred(void *arg)
{
	closed_wait *w = arg;

	w->closed = 0;
	for (int i = 0; i < w->n; i++) {
		char          b[256];
		struct pollfd pf = { .fd = w->fds[i], .events = POLLIN };
		if (w->fds[i] < 0) {
			w->closed++;
			continue;
		}
		if (poll(&pf, 1, 0) == 1) {
			ssize_t got
			    = recv(w->fds[i], b, sizeof(b), MSG_DONTWAIT);
			if (got == 0 || (got < 0 && errno != EAGAIN)) {
				close(w->fds[i]);
				w->fds[i] = -1;
				w->closed++;
			}
		}
	}
	return w->closed == w->n;
}

/* timed_calls makes n normal calls (RPC and HTTP), each within ms. */
static void
timed_calls(int n, int ms, const char *during)
{
	for (int i = 0; i < n; i++) {
		long long t0 = th_now_ms();
		still_serves(during);
		gw_still_serves(during);
		if (th_now_ms() - t0 > ms) {
			fail_msg("a call took %lld ms during %s (want < %d)",
			    th_now_ms() - t0, during, ms);
		}
	}
}

static void
test_chaos_input_slow_clients(void **state)
{
	int         rpc_port = chaos_url_port(node.url, (char[64]) { 0 });
	int         fds[2 * N_SLOW];
	int         gfds[N_SLOW];
	closed_wait w;
	int64_t     before = count_rows();
	long long   t0;

	(void) state;
	/* RPC: half the SP handshake; or the handshake and half a message
	 * (its length says 100 bytes, 10 come). */
	for (int i = 0; i < N_SLOW; i++) {
		static const char hs[8]  = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
		static const char len[8] = { 0, 0, 0, 0, 0, 0, 0, 100 };
		fds[i]                   = tcp_connect(rpc_port);
		send_str(fds[i], hs, 4);
		fds[N_SLOW + i] = tcp_connect(rpc_port);
		send_str(fds[N_SLOW + i], hs, 8);
		send_str(fds[N_SLOW + i], len, 8);
		send_str(fds[N_SLOW + i], "\x80\0\0\x01\x12\x08\x0a\x04", 8);
	}
	/* HTTP: half a request each. */
	for (int i = 0; i < N_SLOW; i++) {
		const char *half = "POST /tasks HTTP/1.1\r\nHost: x\r\n"
		                   "Content-Type: application/json\r\n"
		                   "Content-Length: 100\r\n\r\n{\"type\":\"de";
		gfds[i]          = tcp_connect(gw_dtp);
		send_str(gfds[i], half, strlen(half));
	}
	timed_calls(5, IDLE_MS, "slow clients");
	/* The gateway closes its slow clients after its connection
	 * timeout. */
	t0    = th_now_ms();
	w.fds = gfds;
	w.n   = N_SLOW;
	if (!th_poll_until(all_closed_pred, &w, CLOSED_MS)) {
		fail_msg("tpgateway closed %d of %d slow connections within "
		         "%d ms (its timeout is %s s)",
		    w.closed, N_SLOW, CLOSED_MS, GW_TIMEOUT);
	}
	printf("chaos [input] slow %-43s -> served meanwhile; gateway "
	       "closed its %d in %lld ms (timeout %s s)\n",
	    "50+50 half RPC, 50 half HTTP requests", N_SLOW, th_now_ms() - t0,
	    GW_TIMEOUT);
	for (int i = 0; i < 2 * N_SLOW; i++) {
		close(fds[i]);
	}
	assert_int_equal(count_rows(), before);
	timed_calls(2, IDLE_MS, "after the slow clients left");
}

static void
test_chaos_input_idle_connections(void **state)
{
	int     rpc_port = chaos_url_port(node.url, (char[64]) { 0 });
	int    *fds      = tp_xcalloc(2 * N_IDLE, sizeof(int));
	int64_t id;
	tp_err  err;
	json_t *j;

	(void) state;
	for (int i = 0; i < N_IDLE; i++) {
		fds[i]          = tcp_connect(rpc_port);
		fds[N_IDLE + i] = tcp_connect(gw_dtp);
	}
	timed_calls(5, IDLE_MS, "1000 idle connections");
	assert_int_equal(chaos_create(dc, NULL, &id, "demo", "{\"idle\":1}",
	                     NULL, 0, IDLE_MS, &err),
	    TP_OK);
	j = http_expect(gw_dtp, "POST", "/tasks",
	    "{\"type\":\"demo\",\"payload\":\"idle\"}", "", 201, NULL);
	json_decref(j);
	for (int i = 0; i < 2 * N_IDLE; i++) {
		close(fds[i]);
	}
	free(fds);
	timed_calls(2, IDLE_MS, "after the idle connections closed");
	printf("chaos [input] idle %-43s -> served within %d ms\n",
	    "500 idle RPC + 500 idle HTTP connections", IDLE_MS);
}

/* Last: what the matrix did to the database is still consistent. */
static void
test_chaos_input_invariants(void **state)
{
	inv_ledger *l = inv_ledger_new();
	inv_report  r;
	bool        ok;

	(void) state;
	if (!inv_wait_quiescent(db, true, 60000)) {
		fail_msg("tasks did not finish");
	}
	ok = inv_check(&r, db, l, "input");
	inv_ledger_free(l);
	assert_true(ok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chaos_input_rpc_malformed),
		cmocka_unit_test(test_chaos_input_rpc_strings_and_numbers),
		cmocka_unit_test(test_chaos_input_nul_in_strings),
		cmocka_unit_test(test_chaos_input_sql_strings_stored_verbatim),
		cmocka_unit_test(test_chaos_input_http),
		cmocka_unit_test(test_chaos_input_slow_clients),
		cmocka_unit_test(test_chaos_input_idle_connections),
		cmocka_unit_test(test_chaos_input_invariants),
	};

	return cmocka_run_group_tests_name(
	    "chaos_input", tests, group_setup, group_teardown);
}
