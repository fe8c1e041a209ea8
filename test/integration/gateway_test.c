/*
 * gateway_test.c: the REST gateway end to end: real PostgreSQL, real `dtp`,
 * `taskpilot` and `tpgateway` processes, HTTP through the harness. Covers
 * the Day-4 flow over REST, binding twice, cancel (pending and final),
 * idempotent creates, unknown ids, bad bodies and ids, 405 + Allow, unknown
 * paths, 413 (declared and chunked), headers and bodies against the
 * connection's memory (431), the error body's shape, bearer token
 * auth, HEAD, a task's own retry backoff, services that do not answer
 * (503), GET /metrics (checked by the strict parser of test/unit/prom_expo.c,
 * and by promtool when it is installed), and a clean exit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/clock.h"
#include "harness.h"
#include "proto/json.h"
#include "shim/expo.h"

#define START_MS 20000
#define RUN_MS   20000
#define STOP_MS  15000
/* The test gateway's body limit: small, so a body past it is cheap. */
#define BODY_LIMIT 16384
#define TOKEN      "t0ken-for-tests"

static const char *db_url;
static th_proc     dtp_proc;
static th_proc     pilot_proc;
static th_proc     gw_proc;      /* open gateway */
static th_proc     gw_auth_proc; /* TP_API_TOKEN set */
static th_proc     gw_dead_proc; /* pointed at services that are not there */
static char        dtp_url[64];
static char        pilot_url[64];
static int         dtp_port; /* gateway ports */
static int         pilot_port;
static int         auth_dtp_port;
static int         auth_pilot_port;
static int         dead_dtp_port;
static int         dead_pilot_port;

/* Processes. */

static void
start_services(void)
{
	char  dtp_listen[128], dtp_db[1200], pilot_listen[128], pilot_db[1200];
	char  pilot_dtp[128];
	char *dtp_argv[]   = { (char *) th_bin("dtp"), NULL };
	char *dtp_env[]    = { dtp_listen, dtp_db, "DTP_WORKERS=2", NULL };
	char *pilot_argv[] = { (char *) th_bin("taskpilot"), NULL };
	char *pilot_env[]  = { pilot_listen, pilot_db, pilot_dtp, NULL };

	snprintf(
	    dtp_url, sizeof(dtp_url), "tcp://127.0.0.1:%d", th_free_port());
	snprintf(
	    pilot_url, sizeof(pilot_url), "tcp://127.0.0.1:%d", th_free_port());
	snprintf(dtp_listen, sizeof(dtp_listen), "DTP_LISTEN=%s", dtp_url);
	snprintf(dtp_db, sizeof(dtp_db), "DTP_DATABASE_URL=%s", db_url);
	snprintf(
	    pilot_listen, sizeof(pilot_listen), "PILOT_LISTEN=%s", pilot_url);
	snprintf(pilot_db, sizeof(pilot_db), "PILOT_DATABASE_URL=%s", db_url);
	snprintf(pilot_dtp, sizeof(pilot_dtp), "PILOT_DTP_URL=%s", dtp_url);

	th_proc_start(&dtp_proc, "dtp", dtp_argv, dtp_env);
	if (!th_wait_rpc_health("dtp", dtp_url, START_MS)) {
		th_proc_dump_log(&dtp_proc);
		fail_msg("dtp did not answer Health at %s", dtp_url);
	}
	th_proc_start(&pilot_proc, "taskpilot", pilot_argv, pilot_env);
	if (!th_wait_rpc_health("taskpilot", pilot_url, START_MS)) {
		th_proc_dump_log(&pilot_proc);
		fail_msg("taskpilot did not answer Health at %s", pilot_url);
	}
}

typedef struct ready_wait {
	const th_proc *p;
	int            dtp_port;
	int            pilot_port;
} ready_wait;

/* gateway_ready reads the bound ports from the `ready` log line. */
static bool
gateway_ready(void *arg)
{
	ready_wait *w = arg;
	FILE       *f = fopen(w->p->log_path, "r");
	char        line[4096];
	bool        found = false;

	if (f == NULL) {
		return false;
	}
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		const char *d = strstr(line, " ready ");
		const char *dp, *pp;
		if (d == NULL || (dp = strstr(d, " dtp_port=")) == NULL
		    || (pp = strstr(d, " pilot_port=")) == NULL) {
			continue;
		}
		w->dtp_port   = atoi(dp + strlen(" dtp_port="));
		w->pilot_port = atoi(pp + strlen(" pilot_port="));
		found         = w->dtp_port > 0 && w->pilot_port > 0;
	}
	fclose(f);
	return found;
}

/*
 * start_gateway_at listens on port 0 with the services at durl and purl,
 * and returns the ports it logged; when wait_healthy, once /healthz is 200
 * on both.
 */
static void
start_gateway_at(th_proc *p, const char *name, const char *token,
    const char *durl, const char *purl, bool wait_healthy, int *dport,
    int *pport)
{
	char       token_env[128];
	char       limit[64];
	char      *argv[] = { (char *) th_bin("tpgateway"), "--dtp-listen",
		     "127.0.0.1:0", "--pilot-listen", "127.0.0.1:0", "--dtp-url",
		     (char *) durl, "--pilot-url", (char *) purl, limit,
		     "--rpc-timeout-ms", "5000", NULL };
	char      *env[]  = { token != NULL ? token_env : NULL, NULL };
	ready_wait w      = { p, 0, 0 };

	snprintf(limit, sizeof(limit), "--max-body-bytes=%d", BODY_LIMIT);
	snprintf(token_env, sizeof(token_env), "TP_API_TOKEN=%s",
	    token != NULL ? token : "");
	th_proc_start(p, name, argv, env);
	if (!th_poll_until(gateway_ready, &w, START_MS)) {
		th_proc_dump_log(p);
		fail_msg("%s did not log its ready line", name);
	}
	*dport = w.dtp_port;
	*pport = w.pilot_port;
	if (!wait_healthy) {
		return;
	}
	/* /healthz needs no token and is 200 once both services answer. */
	if (!th_wait_http(*dport, "/healthz", START_MS)
	    || !th_wait_http(*pport, "/healthz", START_MS)) {
		th_proc_dump_log(p);
		fail_msg("%s: /healthz did not answer 200", name);
	}
}

static void
start_gateway(
    th_proc *p, const char *name, const char *token, int *dport, int *pport)
{
	start_gateway_at(
	    p, name, token, dtp_url, pilot_url, true, dport, pport);
}

static int
setup(void **state)
{
	(void) state;
	db_url = th_db_create("gateway");
	start_services();
	start_gateway(&gw_proc, "tpgateway", NULL, &dtp_port, &pilot_port);
	start_gateway(&gw_auth_proc, "tpgateway-auth", TOKEN, &auth_dtp_port,
	    &auth_pilot_port);
	{
		/* Ports that were free just now: nobody answers there. */
		char durl[64], purl[64];
		snprintf(
		    durl, sizeof(durl), "tcp://127.0.0.1:%d", th_free_port());
		snprintf(
		    purl, sizeof(purl), "tcp://127.0.0.1:%d", th_free_port());
		start_gateway_at(&gw_dead_proc, "tpgateway-dead", NULL, durl,
		    purl, false, &dead_dtp_port, &dead_pilot_port);
	}
	return 0;
}

static int
teardown(void **state)
{
	int rc_gw, rc_auth, rc_dead, rc_pilot, rc_dtp;
	(void) state;
	rc_gw    = th_proc_stop(&gw_proc, STOP_MS);
	rc_auth  = th_proc_stop(&gw_auth_proc, STOP_MS);
	rc_dead  = th_proc_stop(&gw_dead_proc, STOP_MS);
	rc_pilot = th_proc_stop(&pilot_proc, STOP_MS);
	rc_dtp   = th_proc_stop(&dtp_proc, STOP_MS);
	if (rc_gw != 0 || rc_auth != 0 || rc_dead != 0) {
		th_proc_dump_log(&gw_proc);
		th_proc_dump_log(&gw_auth_proc);
		th_proc_dump_log(&gw_dead_proc);
	}
	assert_int_equal(rc_gw, 0);
	assert_int_equal(rc_auth, 0);
	assert_int_equal(rc_dead, 0);
	assert_int_equal(rc_pilot, 0);
	assert_int_equal(rc_dtp, 0);
	th_db_drop();
	return 0;
}

/* HTTP helpers. */

typedef struct resp {
	th_http_resp r;
	json_t      *json; /* the parsed body */
} resp;

/*
 * req sends one request and parses the body, which every answer of the
 * gateway has, as JSON with Content-Type application/json.
 */
static int
req(resp *out, int port, const char *method, const char *path, const char *body,
    const char *headers)
{
	json_error_t jerr;
	char         ct[128];

	memset(out, 0, sizeof(*out));
	if (th_http(&out->r, port, method, path, body, headers) == 0) {
		fail_msg("%s %s: no HTTP answer", method, path);
	}
	if (!th_http_header(&out->r, "Content-Type", ct, sizeof(ct))
	    || strcmp(ct, "application/json") != 0) {
		fail_msg("%s %s: Content-Type is not application/json", method,
		    path);
	}
	out->json = json_loadb(out->r.body, out->r.body_len, 0, &jerr);
	if (out->json == NULL) {
		fail_msg("%s %s: body is not JSON (%s): %s", method, path,
		    jerr.text, out->r.body);
	}
	return out->r.status;
}

static void
resp_free(resp *r)
{
	json_decref(r->json);
	th_http_free(&r->r);
}

static int64_t
int_field(const resp *r, const char *name)
{
	json_t *v = json_object_get(r->json, name);
	if (!json_is_integer(v)) {
		fail_msg("field %s is not an integer in %s", name, r->r.body);
	}
	return (int64_t) json_integer_value(v);
}

static const char *
str_field(const resp *r, const char *name)
{
	json_t *v = json_object_get(r->json, name);
	if (!json_is_string(v)) {
		fail_msg("field %s is not a string in %s", name, r->r.body);
	}
	return json_string_value(v);
}

static void
expect_status(const resp *r, int want, const char *what)
{
	if (r->r.status != want) {
		fail_msg("%s: HTTP %d, want %d: %s", what, r->r.status, want,
		    r->r.body);
	}
}

/*
 * expect_error checks the error body's exact shape: {"code","status",
 * "message","details":[]} and nothing else, and that message contains
 * want_msg.
 */
static void
expect_error(
    const resp *r, int http, int code, const char *name, const char *want_msg)
{
	json_t *details = json_object_get(r->json, "details");

	expect_status(r, http, want_msg);
	assert_int_equal(json_object_size(r->json), 4);
	assert_int_equal(int_field(r, "code"), code);
	assert_string_equal(str_field(r, "status"), name);
	assert_true(json_is_array(details));
	assert_int_equal(json_array_size(details), 0);
	if (strstr(str_field(r, "message"), want_msg) == NULL) {
		fail_msg("message \"%s\" lacks \"%s\"", str_field(r, "message"),
		    want_msg);
	}
}

/* The Day-4 flow. */

typedef struct task_wait {
	int     port;
	int64_t id;
	char    status[32];
	resp    last;
} task_wait;

static bool
task_succeeded(void *arg)
{
	task_wait *w = arg;
	char       path[64];

	resp_free(&w->last);
	snprintf(path, sizeof(path), "/tasks/%" PRId64, w->id);
	if (req(&w->last, w->port, "GET", path, NULL, "") != 200) {
		return false;
	}
	snprintf(
	    w->status, sizeof(w->status), "%s", str_field(&w->last, "status"));
	return strcmp(w->status, "SUCCEEDED") == 0
	    || strcmp(w->status, "FAILED") == 0
	    || strcmp(w->status, "CANCELLED") == 0;
}

static void
test_gateway_day4_flow(void **state)
{
	resp      r;
	task_wait w;
	char      path[128], loc[128], want_payload[256];
	int64_t   web_id, sched_id;
	(void) state;

	/* 1. Create a web task: 201, not bound yet. */
	req(&r, pilot_port, "POST", "/api/tasks",
	    "{\"type\":\"demo\",\"payload\":\"hello\"}", "");
	expect_status(&r, 201, "POST /api/tasks");
	web_id = int_field(&r, "id");
	assert_true(web_id > 0);
	assert_true(json_is_null(json_object_get(r.json, "schedulerTaskId")));
	assert_true(json_is_null(json_object_get(r.json, "title")));
	assert_string_equal(str_field(&r, "type"), "demo");
	assert_string_equal(str_field(&r, "payload"), "hello");
	assert_true(th_http_header(&r.r, "Location", loc, sizeof(loc)));
	snprintf(path, sizeof(path), "/api/tasks/%" PRId64, web_id);
	assert_string_equal(loc, path);
	resp_free(&r);

	/* 2. Bind it: 200 with the DTP task's id. */
	snprintf(
	    path, sizeof(path), "/api/tasks/%" PRId64 "/scheduler", web_id);
	req(&r, pilot_port, "POST", path, NULL, "");
	expect_status(&r, 200, "POST /api/tasks/{id}/scheduler");
	assert_int_equal(int_field(&r, "id"), web_id);
	sched_id = int_field(&r, "schedulerTaskId");
	assert_true(sched_id > 0);
	resp_free(&r);

	/* 3. The DTP task, through the DTP port, ends SUCCEEDED. */
	memset(&w, 0, sizeof(w));
	w.port = dtp_port;
	w.id   = sched_id;
	if (!th_poll_until(task_succeeded, &w, RUN_MS)) {
		fail_msg("task %" PRId64 " did not finish: %s", sched_id,
		    w.last.r.body != NULL ? w.last.r.body : "(no answer)");
	}
	assert_string_equal(w.status, "SUCCEEDED");
	snprintf(want_payload, sizeof(want_payload),
	    "{\"webTaskId\":%" PRId64
	    ",\"type\":\"demo\",\"payload\":\"hello\"}",
	    web_id);
	assert_string_equal(str_field(&w.last, "payload"), want_payload);
	assert_string_equal(str_field(&w.last, "type"), "demo");
	assert_int_equal(int_field(&w.last, "id"), sched_id);
	assert_int_equal(int_field(&w.last, "attempts"), 1);
	/* demo's result is its payload. */
	assert_string_equal(str_field(&w.last, "result"), want_payload);
	{
		char key[64];
		snprintf(key, sizeof(key), "webtask:%" PRId64, web_id);
		assert_string_equal(str_field(&w.last, "idempotencyKey"), key);
	}
	assert_true(json_is_null(json_object_get(w.last.json, "lastError")));
	assert_true(json_is_string(json_object_get(w.last.json, "finishedAt")));
	resp_free(&w.last);

	/* 4. The web task shows the binding; its execution is the DTP task. */
	snprintf(path, sizeof(path), "/api/tasks/%" PRId64, web_id);
	req(&r, pilot_port, "GET", path, NULL, "");
	expect_status(&r, 200, "GET /api/tasks/{id}");
	assert_int_equal(int_field(&r, "schedulerTaskId"), sched_id);
	resp_free(&r);
	snprintf(
	    path, sizeof(path), "/api/tasks/%" PRId64 "/execution", web_id);
	req(&r, pilot_port, "GET", path, NULL, "");
	expect_status(&r, 200, "GET /api/tasks/{id}/execution");
	assert_int_equal(int_field(&r, "id"), sched_id);
	assert_string_equal(str_field(&r, "status"), "SUCCEEDED");
	resp_free(&r);

	/* 5. Binding twice: 409 naming the bound task. */
	snprintf(
	    path, sizeof(path), "/api/tasks/%" PRId64 "/scheduler", web_id);
	req(&r, pilot_port, "POST", path, NULL, "");
	{
		char want[128];
		snprintf(want, sizeof(want),
		    "is already bound to scheduler task %" PRId64, sched_id);
		expect_error(&r, 409, 9, "FAILED_PRECONDITION", want);
	}
	resp_free(&r);

	/* 6. Listed on both sides. */
	req(&r, pilot_port, "GET", "/api/tasks?bound=true&order=desc&limit=5",
	    NULL, "");
	expect_status(&r, 200, "GET /api/tasks");
	assert_true(json_array_size(json_object_get(r.json, "tasks")) >= 1);
	assert_true(json_object_get(r.json, "nextAfter") != NULL);
	resp_free(&r);
	req(&r, dtp_port, "GET", "/tasks?status=SUCCEEDED&type=demo&limit=1000",
	    NULL, "");
	expect_status(&r, 200, "GET /tasks");
	{
		json_t *tasks = json_object_get(r.json, "tasks");
		bool    seen  = false;
		for (size_t i = 0; i < json_array_size(tasks); i++) {
			json_t *t = json_array_get(tasks, i);
			seen |= json_integer_value(json_object_get(t, "id"))
			    == sched_id;
			assert_string_equal(
			    json_string_value(json_object_get(t, "status")),
			    "SUCCEEDED");
		}
		assert_true(seen);
	}
	resp_free(&r);
}

/* Cancel. */

static void
test_gateway_cancel_pending_then_final(void **state)
{
	resp    r;
	char    body[256], when[64], path[64];
	int64_t id;
	(void) state;

	/* An hour from now: it stays PENDING. */
	tp_clock_format_rfc3339(when, tp_clock_unix_ms() + 3600 * 1000);
	snprintf(body, sizeof(body),
	    "{\"type\":\"demo\",\"payload\":{\"n\":1},\"runAt\":\"%s\","
	    "\"maxAttempts\":2,\"timeoutMs\":5000}",
	    when);
	req(&r, dtp_port, "POST", "/tasks", body, "");
	expect_status(&r, 201, "POST /tasks");
	id = int_field(&r, "id");
	assert_string_equal(str_field(&r, "status"), "PENDING");
	assert_string_equal(str_field(&r, "payload"), "{\"n\":1}");
	assert_string_equal(str_field(&r, "runAt"), when);
	assert_int_equal(int_field(&r, "maxAttempts"), 2);
	assert_int_equal(int_field(&r, "timeoutMs"), 5000);
	assert_true(json_is_null(json_object_get(r.json, "result")));
	assert_true(json_is_null(json_object_get(r.json, "startedAt")));
	resp_free(&r);

	snprintf(path, sizeof(path), "/tasks/%" PRId64 "/cancel", id);
	req(&r, dtp_port, "PUT", path, NULL, "");
	expect_status(&r, 200, "PUT /tasks/{id}/cancel");
	assert_string_equal(str_field(&r, "status"), "CANCELLED");
	assert_int_equal(int_field(&r, "id"), id);
	resp_free(&r);

	/* CANCELLED is final: cancelling again is 409. */
	req(&r, dtp_port, "PUT", path, NULL, "");
	expect_error(&r, 409, 9, "FAILED_PRECONDITION", "");
	resp_free(&r);
}

static void
test_gateway_idempotent_create(void **state)
{
	resp    r;
	int64_t id;
	char    key[64], headers[128];
	(void) state;

	snprintf(key, sizeof(key), "gw-key-%d", (int) getpid());
	snprintf(headers, sizeof(headers), "Idempotency-Key: %s\r\n", key);
	req(&r, dtp_port, "POST", "/tasks",
	    "{\"type\":\"demo\",\"payload\":\"same\",\"runAt\":"
	    "\"2999-01-01T00:00:00Z\"}",
	    headers);
	expect_status(&r, 201, "first create");
	id = int_field(&r, "id");
	assert_string_equal(str_field(&r, "idempotencyKey"), key);
	resp_free(&r);

	/* A replay: 200 and the same task. */
	req(&r, dtp_port, "POST", "/tasks",
	    "{\"type\":\"demo\",\"payload\":\"same\",\"runAt\":"
	    "\"2999-01-01T00:00:00Z\"}",
	    headers);
	expect_status(&r, 200, "replayed create");
	assert_int_equal(int_field(&r, "id"), id);
	resp_free(&r);

	/* The key in the body means the same; another payload is 409. */
	{
		char body[256];
		snprintf(body, sizeof(body),
		    "{\"type\":\"demo\",\"payload\":\"other\","
		    "\"idempotencyKey\":\"%s\"}",
		    key);
		req(&r, dtp_port, "POST", "/tasks", body, "");
		expect_error(&r, 409, 6, "ALREADY_EXISTS", "");
		resp_free(&r);
	}
	/* Header and body disagreeing is a 400. */
	req(&r, dtp_port, "POST", "/tasks",
	    "{\"type\":\"demo\",\"payload\":\"same\",\"idempotencyKey\":\"x\"}",
	    headers);
	expect_error(&r, 400, 3, "INVALID_ARGUMENT", "Idempotency-Key");
	resp_free(&r);
}

/* time_field reads an RFC 3339 member as milliseconds since the epoch. */
static int64_t
time_field(const resp *r, const char *name)
{
	int64_t ms = 0;
	tp_err  err;
	if (proto_json_time_parse(&ms, str_field(r, name), &err) != TP_OK) {
		fail_msg("field %s: %s", name, err.msg);
	}
	return ms;
}

/*
 * A task's own backoff: shown as given, null when not given, refused by
 * DTP out of range, and used: the retry of a task that fails once is due
 * within backoffMaxMs (20 ms) of its failure, where the node's default
 * (--backoff-base-ms 1000, equal jitter) would wait at least 500 ms.
 */
static void
test_gateway_task_backoff(void **state)
{
	resp      r;
	task_wait w;
	int64_t   id, created;
	(void) state;

	req(&r, dtp_port, "POST", "/tasks",
	    "{\"type\":\"fail\",\"payload\":\"{\\\"failTimes\\\":1}\","
	    "\"backoffBaseMs\":10,\"backoffMaxMs\":20}",
	    "");
	expect_status(&r, 201, "POST /tasks with a backoff");
	id      = int_field(&r, "id");
	created = time_field(&r, "createdAt");
	assert_int_equal(int_field(&r, "backoffBaseMs"), 10);
	assert_int_equal(int_field(&r, "backoffMaxMs"), 20);
	resp_free(&r);

	memset(&w, 0, sizeof(w));
	w.port = dtp_port;
	w.id   = id;
	if (!th_poll_until(task_succeeded, &w, 2000)) {
		fail_msg("task %" PRId64 " did not finish within 2 s: %s", id,
		    w.last.r.body != NULL ? w.last.r.body : "(no answer)");
	}
	assert_string_equal(w.status, "SUCCEEDED");
	assert_int_equal(int_field(&w.last, "attempts"), 2);
	assert_int_equal(int_field(&w.last, "backoffBaseMs"), 10);
	assert_int_equal(int_field(&w.last, "backoffMaxMs"), 20);
	/* runAt is the retry's: the first failure's time plus <= 20 ms. */
	if (time_field(&w.last, "runAt") - created >= 450) {
		fail_msg("the retry was due %" PRId64 " ms after the create, "
		         "not within the task's backoff: %s",
		    time_field(&w.last, "runAt") - created, w.last.r.body);
	}
	resp_free(&w.last);

	/* Not given: null, the node's setting. */
	req(&r, dtp_port, "POST", "/tasks",
	    "{\"type\":\"demo\",\"payload\":\"x\",\"runAt\":"
	    "\"2999-01-01T00:00:00Z\"}",
	    "");
	expect_status(&r, 201, "POST /tasks without a backoff");
	assert_true(json_is_null(json_object_get(r.json, "backoffBaseMs")));
	assert_true(json_is_null(json_object_get(r.json, "backoffMaxMs")));
	resp_free(&r);

	/* The gateway checks the type, DTP the range. */
	req(&r, dtp_port, "POST", "/tasks",
	    "{\"type\":\"demo\",\"payload\":\"x\",\"backoffBaseMs\":\"10\"}",
	    "");
	expect_error(&r, 400, 3, "INVALID_ARGUMENT",
	    "field \"backoffBaseMs\" must be an integer");
	resp_free(&r);
	req(&r, dtp_port, "POST", "/tasks",
	    "{\"type\":\"demo\",\"payload\":\"x\",\"backoffBaseMs\":0}", "");
	expect_error(&r, 400, 3, "INVALID_ARGUMENT", "invalid backoff_base_ms");
	resp_free(&r);
	req(&r, dtp_port, "POST", "/tasks",
	    "{\"type\":\"demo\",\"payload\":\"x\",\"backoffBaseMs\":100,"
	    "\"backoffMaxMs\":50}",
	    "");
	expect_error(&r, 400, 3, "INVALID_ARGUMENT", "invalid backoff_max_ms");
	resp_free(&r);
}

/* Errors. */

static void
test_gateway_unknown_ids_are_404(void **state)
{
	static const struct {
		bool        pilot;
		const char *method;
		const char *path;
	} cases[] = {
		{ false, "GET", "/tasks/987654321" },
		{ false, "PUT", "/tasks/987654321/cancel" },
		{ true, "GET", "/api/tasks/987654321" },
		{ true, "POST", "/api/tasks/987654321/scheduler" },
		{ true, "GET", "/api/tasks/987654321/execution" },
		{ true, "PUT", "/api/tasks/987654321/cancel" },
	};
	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		resp r;
		req(&r, cases[i].pilot ? pilot_port : dtp_port, cases[i].method,
		    cases[i].path, NULL, "");
		expect_error(&r, 404, 5, "NOT_FOUND", "987654321");
		resp_free(&r);
	}
}

static void
test_gateway_bad_input_is_400(void **state)
{
	static const struct {
		bool        pilot;
		const char *method;
		const char *path;
		const char *body;
		const char *msg;
	} cases[] = {
		{ false, "POST", "/tasks", "{\"type\":", "invalid JSON" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\"} []",
		    "invalid JSON" },
		{ false, "POST", "/tasks", "", "request body is empty" },
		{ false, "POST", "/tasks", "[1]",
		    "request body must be a JSON object" },
		{ false, "POST", "/tasks", "{\"payload\":\"x\"}",
		    "field \"type\" is required" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"maxAttempts\":"
		    "\"3\"}",
		    "field \"maxAttempts\" must be an integer" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"colour\":1}",
		    "unknown field \"colour\"" },
		{ false, "POST", "/tasks",
		    "{\"type\":"
		    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaa\",\"payload\":\"x\"}",
		    "field \"type\" is too long" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"runAt\":\"soon\"}",
		    "field \"runAt\" must be an RFC 3339 time" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"\xc3\x28\"}",
		    "invalid JSON" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":[[[[[[[[[[[[[[[[[[[[[[[[[[["
		    "[[[[[[["
		    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
		    "nesting is deeper than 32 levels" },
		{ false, "GET", "/tasks/abc", NULL, "invalid task id \"abc\"" },
		{ false, "GET", "/tasks/0", NULL, "invalid task id \"0\"" },
		{ false, "GET", "/tasks/-1", NULL, "invalid task id \"-1\"" },
		{ false, "GET", "/tasks/9999999999999999999", NULL,
		    "invalid task id \"9999999999999999999\"" },
		{ false, "GET", "/tasks?limit=0", NULL,
		    "invalid value for query parameter \"limit\"" },
		{ false, "GET", "/tasks?status=DONE", NULL,
		    "invalid value for query parameter \"status\"" },
		{ false, "GET", "/tasks?order=sideways", NULL,
		    "invalid value for query parameter \"order\"" },
		{ false, "GET", "/tasks?after=x", NULL,
		    "invalid value for query parameter \"after\"" },
		{ false, "GET", "/tasks?pageSize=3", NULL,
		    "unknown query parameter \"pageSize\"" },
		{ true, "POST", "/api/tasks", "{\"type\":\"demo\"}",
		    "field \"payload\" is required" },
		{ true, "POST", "/api/tasks", "{\"type\":7,\"payload\":\"x\"}",
		    "field \"type\" must be a string" },
		{ true, "POST", "/api/tasks", "not json", "invalid JSON" },
		{ true, "GET", "/api/tasks/x1/execution", NULL,
		    "invalid task id \"x1\"" },
		{ true, "GET", "/api/tasks?bound=maybe", NULL,
		    "invalid value for query parameter \"bound\"" },
		/* Huge and wrongly typed numbers. */
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"maxAttempts\":"
		    "99999999999999999999}",
		    "invalid JSON: too big integer" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"timeoutMs\":1e400}",
		    "invalid JSON: real number overflow" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":1e999}",
		    "invalid JSON: real number overflow" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"maxAttempts\":"
		    "3000000000}",
		    "field \"maxAttempts\" must be an integer from "
		    "-2147483648 to 2147483647" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"maxAttempts\":1.5}",
		    "field \"maxAttempts\" must be an integer" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"timeoutMs\":true}",
		    "field \"timeoutMs\" must be an integer" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"runAt\":5}",
		    "field \"runAt\" must be a string" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"idempotencyKey\":"
		    "7}",
		    "field \"idempotencyKey\" must be a string" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"idempotencyKey\":"
		    "\"\"}",
		    "field \"idempotencyKey\" must not be empty" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"maxAttempts\":0}",
		    "invalid max_attempts 0" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"Demo!\",\"payload\":\"x\"}", "invalid type" },
		{ false, "POST", "/tasks", "null",
		    "request body must be a JSON object" },
		{ false, "POST", "/tasks", "\"text\"",
		    "request body must be a JSON object" },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"type\":\"demo\",\"payload\":\"x\"}",
		    "duplicate object key" },
		/* Invalid UTF-8 anywhere, and escapes that are no text. */
		{ false, "POST", "/tasks",
		    "{\"ty\xffpe\":\"demo\",\"payload\":\"x\"}",
		    "invalid JSON" },
		{ true, "POST", "/api/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"title\":"
		    "\"\xc0\xaf\"}",
		    "invalid JSON" },
		{ true, "POST", "/api/tasks",
		    "{\"type\":\"demo\",\"payload\":\"\xed\xa0\x80\"}",
		    "invalid JSON" },
		{ true, "POST", "/api/tasks",
		    "{\"type\":\"demo\",\"payload\":\"\\ud800\"}",
		    "invalid JSON" },
		{ true, "POST", "/api/tasks",
		    "{\"type\":\"demo\",\"payload\":\"a\\u0000b\"}",
		    "invalid JSON" },
		{ true, "POST", "/api/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\",\"title\":[]}",
		    "field \"title\" must be a string" },
		{ true, "POST", "/api/tasks",
		    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]"
		    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		    "nesting is deeper than 32 levels" },
		/* Zero, negative and malformed ids on every id route. */
		{ false, "PUT", "/tasks/0/cancel", NULL,
		    "invalid task id \"0\"" },
		{ false, "PUT", "/tasks/-7/cancel", NULL,
		    "invalid task id \"-7\"" },
		{ false, "GET", "/tasks/%2B1", NULL, "invalid task id \"+1\"" },
		{ false, "GET", "/tasks/1e3", NULL, "invalid task id \"1e3\"" },
		{ true, "GET", "/api/tasks/-3", NULL,
		    "invalid task id \"-3\"" },
		{ true, "GET", "/api/tasks/0", NULL, "invalid task id \"0\"" },
		{ true, "POST", "/api/tasks/0/scheduler", NULL,
		    "invalid task id \"0\"" },
		{ true, "POST", "/api/tasks/abc/scheduler", NULL,
		    "invalid task id \"abc\"" },
		{ true, "GET", "/api/tasks/00/execution", NULL,
		    "invalid task id \"00\"" },
		{ true, "PUT", "/api/tasks/-1/cancel", NULL,
		    "invalid task id \"-1\"" },
		{ true, "PUT", "/api/tasks/9223372036854775808/cancel", NULL,
		    "invalid task id \"9223372036854775808\"" },
		/* Query strings. */
		{ false, "GET", "/tasks?limit=5&limit=6", NULL,
		    "query parameter \"limit\" is given twice" },
		{ false, "GET", "/tasks?limit=1001", NULL,
		    "invalid value for query parameter \"limit\"" },
		{ false, "GET", "/tasks?after=-1", NULL,
		    "invalid value for query parameter \"after\"" },
		{ false, "GET", "/tasks?bound=true", NULL,
		    "unknown query parameter \"bound\"" },
		{ true, "GET", "/api/tasks?status=PENDING", NULL,
		    "unknown query parameter \"status\"" },
		{ false, "GET", "/tasks/1?verbose=1", NULL,
		    "unknown query parameter \"verbose\"" },
		{ true, "POST", "/api/tasks/1/scheduler?force", NULL,
		    "unknown query parameter \"force\"" },
		{ false, "GET", "/healthz?x=1", NULL,
		    "unknown query parameter \"x\"" },
		{ true, "GET",
		    "/api/"
		    "tasks?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11&l=12&"
		    "m=13&n=14&o=15&p=16&q=17",
		    NULL, "too many query parameters" },
	};
	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		resp r;
		req(&r, cases[i].pilot ? pilot_port : dtp_port, cases[i].method,
		    cases[i].path, cases[i].body, "");
		expect_error(&r, 400, 3, "INVALID_ARGUMENT", cases[i].msg);
		resp_free(&r);
	}
}

static void
test_gateway_methods_and_paths(void **state)
{
	resp r;
	char allow[64];
	(void) state;

	req(&r, dtp_port, "POST", "/tasks/1", NULL, "");
	expect_error(&r, 405, 12, "UNIMPLEMENTED",
	    "method POST not allowed on /tasks/{id}");
	assert_true(th_http_header(&r.r, "Allow", allow, sizeof(allow)));
	assert_string_equal(allow, "GET, HEAD");
	resp_free(&r);

	req(&r, dtp_port, "DELETE", "/tasks", NULL, "");
	expect_error(&r, 405, 12, "UNIMPLEMENTED", "method DELETE not allowed");
	assert_true(th_http_header(&r.r, "Allow", allow, sizeof(allow)));
	assert_string_equal(allow, "GET, HEAD, POST");
	resp_free(&r);

	req(&r, pilot_port, "GET", "/api/tasks/3/scheduler", NULL, "");
	expect_error(&r, 405, 12, "UNIMPLEMENTED", "not allowed");
	assert_true(th_http_header(&r.r, "Allow", allow, sizeof(allow)));
	assert_string_equal(allow, "POST");
	resp_free(&r);

	/* Every documented path, with a method it does not serve. */
	{
		static const struct {
			bool        pilot;
			const char *method;
			const char *path;
			const char *allow;
		} cases[] = {
			{ false, "PATCH", "/tasks/5/cancel", "PUT" },
			{ false, "DELETE", "/healthz", "GET, HEAD" },
			{ false, "PUT", "/metrics", "GET, HEAD" },
			{ true, "PUT", "/api/tasks", "GET, HEAD, POST" },
			{ true, "DELETE", "/api/tasks/5", "GET, HEAD" },
			{ true, "PUT", "/api/tasks/5/execution", "GET, HEAD" },
			{ true, "GET", "/api/tasks/5/cancel", "PUT" },
			{ true, "OPTIONS", "/metrics", "GET, HEAD" },
			{ true, "POST", "/healthz", "GET, HEAD" },
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			req(&r, cases[i].pilot ? pilot_port : dtp_port,
			    cases[i].method, cases[i].path, NULL, "");
			expect_error(
			    &r, 405, 12, "UNIMPLEMENTED", "not allowed on");
			assert_true(th_http_header(
			    &r.r, "Allow", allow, sizeof(allow)));
			assert_string_equal(allow, cases[i].allow);
			resp_free(&r);
		}
	}

	req(&r, dtp_port, "GET", "/nope", NULL, "");
	expect_error(&r, 404, 5, "NOT_FOUND", "no route for path \"/nope\"");
	resp_free(&r);
	/* Each port serves only its own routes. */
	req(&r, dtp_port, "GET", "/api/tasks", NULL, "");
	expect_error(&r, 404, 5, "NOT_FOUND", "no route");
	resp_free(&r);
	req(&r, pilot_port, "GET", "/tasks/1", NULL, "");
	expect_error(&r, 404, 5, "NOT_FOUND", "no route");
	resp_free(&r);
	/* Trailing slash: another path. */
	req(&r, dtp_port, "GET", "/tasks/", NULL, "");
	expect_error(&r, 404, 5, "NOT_FOUND", "no route");
	resp_free(&r);
}

/* raw_connect opens a TCP connection to 127.0.0.1:port and sends text. */
static int
raw_connect(int port, const char *text)
{
	struct sockaddr_in a  = { 0 };
	struct timeval     tv = { 10, 0 };
	int                fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_family      = AF_INET;
	a.sin_port        = htons((uint16_t) port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *) &a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(
	    send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t) strlen(text));
	return fd;
}

/*
 * raw_request sends text on a new connection and returns what came back
 * until the server closed it (or 10 s passed). Caller frees.
 */
static char *
raw_request(int port, const char *text)
{
	int     fd  = raw_connect(port, text);
	char   *buf = calloc(1, 65536);
	size_t  len = 0;
	ssize_t n;

	while (len < 65535 && (n = recv(fd, buf + len, 65535 - len, 0)) > 0) {
		len += (size_t) n;
	}
	close(fd);
	return buf;
}

/* raw_send_close sends text and hangs up without reading. */
static void
raw_send_close(int port, const char *text)
{
	close(raw_connect(port, text));
}

/* padded returns json followed by spaces, size bytes in all. */
static char *
padded(const char *json, size_t size)
{
	char *s = malloc(size + 1);
	memset(s, ' ', size);
	memcpy(s, json, strlen(json));
	s[size] = '\0';
	return s;
}

static void
test_gateway_body_over_limit_is_413(void **state)
{
	char *body;
	char *raw;
	resp  r;
	(void) state;

	/* A body one byte past the limit. */
	body = padded("{\"type\":\"demo\",\"payload\":\"x\"}", BODY_LIMIT + 1);
	req(&r, dtp_port, "POST", "/tasks", body, "");
	expect_error(&r, 413, 8, "RESOURCE_EXHAUSTED", "larger than the limit");
	resp_free(&r);
	free(body);
	/* At the limit it is read and parsed. */
	body = padded(
	    "{\"type\":\"demo\",\"payload\":\"x\",\"runAt\":5}", BODY_LIMIT);
	req(&r, dtp_port, "POST", "/tasks", body, "");
	expect_error(&r, 400, 3, "INVALID_ARGUMENT", "runAt");
	resp_free(&r);
	free(body);

	/*
	 * A declared length past the limit is refused from the headers,
	 * without waiting for a body that never comes.
	 */
	raw = raw_request(pilot_port,
	    "POST /api/tasks HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\nContent-Length: "
	    "1000000000\r\n\r\n");
	if (strncmp(raw, "HTTP/1.1 413 ", 13) != 0
	    || strstr(raw, "\"RESOURCE_EXHAUSTED\"") == NULL) {
		fail_msg("want an immediate 413, got: %s", raw);
	}
	free(raw);
}

static void
test_gateway_health(void **state)
{
	resp r;
	(void) state;
	req(&r, dtp_port, "GET", "/healthz", NULL, "");
	expect_status(&r, 200, "dtp /healthz");
	assert_string_equal(str_field(&r, "status"), "ok");
	assert_string_equal(str_field(&r, "service"), "dtp");
	assert_true(json_is_true(json_object_get(r.json, "dbOk")));
	resp_free(&r);
	req(&r, pilot_port, "GET", "/healthz", NULL, "");
	expect_status(&r, 200, "taskpilot /healthz");
	assert_string_equal(str_field(&r, "service"), "taskpilot");
	resp_free(&r);
}

static void
test_gateway_auth(void **state)
{
	resp r;
	char hdr[128];
	(void) state;

	/* No token, a wrong one, another scheme: 401 with a challenge. */
	req(&r, auth_dtp_port, "GET", "/tasks/1", NULL, "");
	expect_error(&r, 401, 16, "UNAUTHENTICATED", "bearer token");
	assert_true(th_http_header(&r.r, "WWW-Authenticate", hdr, sizeof(hdr)));
	assert_string_equal(hdr, "Bearer");
	resp_free(&r);
	req(&r, auth_pilot_port, "POST", "/api/tasks",
	    "{\"type\":\"demo\",\"payload\":\"x\"}",
	    "Authorization: Bearer wrong\r\n");
	expect_error(&r, 401, 16, "UNAUTHENTICATED", "bearer token");
	resp_free(&r);
	req(&r, auth_dtp_port, "GET", "/tasks", NULL,
	    "Authorization: Basic " TOKEN "\r\n");
	expect_error(&r, 401, 16, "UNAUTHENTICATED", "bearer token");
	resp_free(&r);
	req(&r, auth_dtp_port, "GET", "/tasks", NULL,
	    "Authorization: Bearer " TOKEN "x\r\n");
	expect_error(&r, 401, 16, "UNAUTHENTICATED", "bearer token");
	resp_free(&r);
	/* Nor do wrong methods: 401 comes before 405. */
	req(&r, auth_dtp_port, "DELETE", "/tasks", NULL, "");
	expect_error(&r, 401, 16, "UNAUTHENTICATED", "bearer token");
	assert_false(th_http_header(&r.r, "Allow", hdr, sizeof(hdr)));
	resp_free(&r);
	/* Unknown paths tell nothing without the token. */
	req(&r, auth_dtp_port, "GET", "/nope", NULL, "");
	expect_error(&r, 401, 16, "UNAUTHENTICATED", "bearer token");
	resp_free(&r);

	/* With it: served. */
	req(&r, auth_pilot_port, "POST", "/api/tasks",
	    "{\"type\":\"demo\",\"payload\":\"x\",\"title\":\"authed\"}",
	    "Authorization: Bearer " TOKEN "\r\n");
	expect_status(&r, 201, "POST /api/tasks with the token");
	assert_string_equal(str_field(&r, "title"), "authed");
	resp_free(&r);
	req(&r, auth_dtp_port, "GET", "/tasks?limit=1", NULL,
	    "Authorization: Bearer " TOKEN "\r\n");
	expect_status(&r, 200, "GET /tasks with the token");
	resp_free(&r);
	req(&r, auth_dtp_port, "GET", "/nope", NULL,
	    "Authorization: Bearer " TOKEN "\r\n");
	expect_error(&r, 404, 5, "NOT_FOUND", "no route");
	resp_free(&r);

	/* /healthz stays open on both ports. */
	req(&r, auth_dtp_port, "GET", "/healthz", NULL, "");
	expect_status(&r, 200, "/healthz without the token");
	resp_free(&r);
	req(&r, auth_pilot_port, "GET", "/healthz", NULL, "");
	expect_status(&r, 200, "/healthz without the token");
	resp_free(&r);

	/* The open gateway ignores Authorization. */
	req(&r, dtp_port, "GET", "/tasks?limit=1", NULL,
	    "Authorization: Bearer whatever\r\n");
	expect_status(&r, 200, "open gateway");
	resp_free(&r);
}

static void
test_gateway_keeps_serving_after_garbage(void **state)
{
	char *raw;
	resp  r;
	(void) state;
	raw = raw_request(dtp_port, "\x01\x02garbage\r\n\r\n");
	free(raw);
	raw_send_close(dtp_port,
	    "GET /tasks/1 HTTP/1.1\r\nHost: x\r\nX: " /* unterminated */);
	raw_send_close(dtp_port,
	    "POST /tasks HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 100\r\n\r\n{\"type\":");
	req(&r, dtp_port, "GET", "/healthz", NULL, "");
	expect_status(&r, 200, "/healthz after garbage");
	resp_free(&r);
	assert_true(th_proc_alive(&gw_proc));
}

/* raw_header copies header name's value from a raw answer, or false. */
static bool
raw_header(const char *raw, const char *name, char *buf, size_t size)
{
	const char *end = strstr(raw, "\r\n\r\n");
	size_t      n   = strlen(name);

	for (const char *l = strstr(raw, "\r\n"); l != NULL && l < end;
	     l             = strstr(l + 2, "\r\n")) {
		const char *v;
		size_t      vlen;
		if (strncasecmp(l + 2, name, n) != 0 || l[2 + n] != ':') {
			continue;
		}
		v = l + 2 + n + 1;
		while (*v == ' ') {
			v++;
		}
		vlen = strcspn(v, "\r");
		snprintf(buf, size, "%.*s", (int) vlen, v);
		return true;
	}
	return false;
}

/*
 * head_request sends HEAD path and checks the answer: the status, the
 * Content-Type, no body at all, and (when want_len >= 0) the Content-Length
 * a GET's body has.
 */
static void
head_request(int port, const char *path, const char *headers, int want,
    const char *want_ct, long want_len)
{
	char  text[512], hdr[128], status[32];
	char *raw;
	char *body;

	snprintf(text, sizeof(text),
	    "HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n", path,
	    headers);
	raw = raw_request(port, text);
	snprintf(status, sizeof(status), "HTTP/1.1 %d ", want);
	if (strncmp(raw, status, strlen(status)) != 0) {
		fail_msg("HEAD %s: want %d, got: %s", path, want, raw);
	}
	body = strstr(raw, "\r\n\r\n");
	assert_non_null(body);
	if (body[4] != '\0') {
		fail_msg("HEAD %s: a body came: %s", path, body + 4);
	}
	assert_true(raw_header(raw, "Content-Type", hdr, sizeof(hdr)));
	assert_string_equal(hdr, want_ct);
	if (want_len >= 0) {
		assert_true(
		    raw_header(raw, "Content-Length", hdr, sizeof(hdr)));
		assert_int_equal(atol(hdr), want_len);
	}
	free(raw);
}

static void
test_gateway_head_is_get_without_body(void **state)
{
	resp    r;
	char    path[64], body[256], allow[64];
	int64_t id;
	long    len;
	char   *raw;
	(void) state;

	/* A cancelled task: its GET body does not change any more. */
	snprintf(body, sizeof(body),
	    "{\"type\":\"demo\",\"payload\":\"head\",\"runAt\":"
	    "\"2999-01-01T00:00:00Z\"}");
	req(&r, dtp_port, "POST", "/tasks", body, "");
	expect_status(&r, 201, "POST /tasks");
	id = int_field(&r, "id");
	resp_free(&r);
	snprintf(path, sizeof(path), "/tasks/%" PRId64 "/cancel", id);
	req(&r, dtp_port, "PUT", path, NULL, "");
	expect_status(&r, 200, "cancel");
	resp_free(&r);
	snprintf(path, sizeof(path), "/tasks/%" PRId64, id);
	req(&r, dtp_port, "GET", path, NULL, "");
	expect_status(&r, 200, "GET /tasks/{id}");
	len = (long) r.r.body_len;
	resp_free(&r);

	head_request(dtp_port, path, "", 200, "application/json", len);
	head_request(
	    dtp_port, "/tasks?limit=1", "", 200, "application/json", -1);
	head_request(dtp_port, "/healthz", "", 200, "application/json", -1);
	head_request(pilot_port, "/healthz", "", 200, "application/json", -1);
	head_request(
	    pilot_port, "/api/tasks?limit=1", "", 200, "application/json", -1);
	head_request(dtp_port, "/metrics", "", 200,
	    "text/plain; version=0.0.4; charset=utf-8", -1);
	head_request(pilot_port, "/metrics", "", 200,
	    "text/plain; version=0.0.4; charset=utf-8", -1);
	/* Errors are the GET's errors, without their body. */
	head_request(
	    dtp_port, "/tasks/987654321", "", 404, "application/json", -1);
	head_request(dtp_port, "/tasks/abc", "", 400, "application/json", -1);
	head_request(pilot_port, "/nope", "", 404, "application/json", -1);
	head_request(
	    auth_dtp_port, "/tasks?limit=1", "", 401, "application/json", -1);
	head_request(auth_dtp_port, "/tasks?limit=1",
	    "Authorization: Bearer " TOKEN "\r\n", 200, "application/json", -1);
	/* HEAD is no way into a route without a GET. */
	raw = raw_request(dtp_port,
	    "HEAD /tasks/1/cancel HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n");
	if (strncmp(raw, "HTTP/1.1 405 ", 13) != 0) {
		fail_msg("HEAD on a PUT route: %s", raw);
	}
	assert_true(raw_header(raw, "Allow", allow, sizeof(allow)));
	assert_string_equal(allow, "PUT");
	free(raw);
}

static void
test_gateway_chunked_body_over_limit_is_413(void **state)
{
	char  *text;
	char  *raw;
	size_t n = 0;
	(void) state;

	/* No Content-Length to refuse it early: the limit is on the bytes. */
	text = malloc(BODY_LIMIT + 4096);
	n += (size_t) sprintf(text,
	    "POST /tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	    "Content-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < BODY_LIMIT / 1024 + 1; i++) {
		n += (size_t) sprintf(text + n, "400\r\n");
		memset(text + n, ' ', 1024);
		n += 1024;
		n += (size_t) sprintf(text + n, "\r\n");
	}
	sprintf(text + n, "0\r\n\r\n");
	raw = raw_request(dtp_port, text);
	if (strncmp(raw, "HTTP/1.1 413 ", 13) != 0
	    || strstr(raw, "\"RESOURCE_EXHAUSTED\"") == NULL
	    || strstr(raw, "larger than the limit of 16384 bytes") == NULL) {
		fail_msg(
		    "want 413 for a chunked body past the limit, got: %s", raw);
	}
	free(raw);
	free(text);

	/* A chunked body within the limit is read as any other. */
	raw = raw_request(pilot_port,
	    "POST /api/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	    "Content-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "10\r\n{\"type\":\"demo\",\r\n"
	    "10\r\n\"payload\":\"ch\"}\r\n0\r\n\r\n");
	if (strncmp(raw, "HTTP/1.1 201 ", 13) != 0
	    || strstr(raw, "\"payload\":\"ch\"") == NULL) {
		fail_msg("want 201 for a chunked body, got: %s", raw);
	}
	free(raw);
}

/*
 * The connection's memory (--memory-limit-bytes, left at its default here)
 * holds the request line and headers, not the body: 6 KiB of headers with
 * a 12 KiB body, more than the whole pool, are served; a 64 KiB header
 * is 431.
 */
static void
test_gateway_connection_memory_holds_headers_not_body(void **state)
{
	enum { PAD = 6 * 1024, PAYLOAD = 12 * 1024, BIG = 64 * 1024 };
	char  *headers = malloc(PAD + 16);
	char  *body    = malloc(PAYLOAD + 64);
	char  *text    = malloc(BIG + 64);
	char  *raw;
	resp   r;
	size_t n;
	(void) state;

	n = (size_t) sprintf(headers, "X-Pad: ");
	memset(headers + n, 'h', PAD);
	sprintf(headers + n + PAD, "\r\n");
	n = (size_t) sprintf(body, "{\"type\":\"demo\",\"payload\":\"");
	memset(body + n, 'p', PAYLOAD);
	sprintf(body + n + PAYLOAD, "\"}");
	req(&r, pilot_port, "POST", "/api/tasks", body, headers);
	expect_status(&r, 201, "6 KiB of headers, a 12 KiB payload");
	assert_int_equal(strlen(str_field(&r, "payload")), PAYLOAD);
	resp_free(&r);

	n = (size_t) sprintf(
	    text, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(text + n, 'b', BIG);
	sprintf(text + n + BIG, "\r\n\r\n");
	raw = raw_request(dtp_port, text);
	if (strncmp(raw, "HTTP/1.1 431 ", 13) != 0) {
		fail_msg("want 431 for a 64 KiB header, got: %.80s", raw);
	}
	free(raw);
	free(text);
	free(body);
	free(headers);
}

static void
test_gateway_services_down_are_503(void **state)
{
	static const struct {
		bool        pilot;
		const char *method;
		const char *path;
		const char *body;
	} cases[] = {
		{ false, "GET", "/tasks/1", NULL },
		{ false, "GET", "/tasks", NULL },
		{ false, "PUT", "/tasks/1/cancel", NULL },
		{ false, "POST", "/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\"}" },
		{ false, "GET", "/healthz", NULL },
		{ true, "POST", "/api/tasks",
		    "{\"type\":\"demo\",\"payload\":\"x\"}" },
		{ true, "GET", "/api/tasks/1", NULL },
		{ true, "GET", "/api/tasks", NULL },
		{ true, "POST", "/api/tasks/1/scheduler", NULL },
		{ true, "GET", "/api/tasks/1/execution", NULL },
		{ true, "PUT", "/api/tasks/1/cancel", NULL },
		{ true, "GET", "/healthz", NULL },
	};
	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		resp r;
		req(&r, cases[i].pilot ? dead_pilot_port : dead_dtp_port,
		    cases[i].method, cases[i].path, cases[i].body, "");
		expect_error(&r, 503, 14, "UNAVAILABLE", "could not reach");
		resp_free(&r);
	}
	/* Input is still checked first: 400, not 503. */
	{
		resp r;
		req(&r, dead_dtp_port, "GET", "/tasks/abc", NULL, "");
		expect_error(&r, 400, 3, "INVALID_ARGUMENT", "invalid task id");
		resp_free(&r);
	}
	assert_true(th_proc_alive(&gw_dead_proc));
}

/* Metrics. */

/* on_path tells whether an executable called name is on $PATH. */
static bool
on_path(const char *name)
{
	const char *path = getenv("PATH");
	char        dirs[4096];
	char       *save = NULL;

	if (path == NULL) {
		return false;
	}
	snprintf(dirs, sizeof(dirs), "%s", path);
	for (char *d = strtok_r(dirs, ":", &save); d != NULL;
	     d       = strtok_r(NULL, ":", &save)) {
		char full[4200];
		snprintf(full, sizeof(full), "%s/%s", d, name);
		if (access(full, X_OK) == 0) {
			return true;
		}
	}
	return false;
}

/*
 * promtool_check runs `promtool check metrics` on text when promtool is
 * installed (Debian's prometheus package); the strict parser runs always.
 */
static void
promtool_check(const char *text, size_t len)
{
	char  file[600], out[700], cmd[1600], msg[4096] = "";
	FILE *f;
	int   rc;

	if (!on_path("promtool")) {
		return;
	}
	snprintf(file, sizeof(file), "%s/metrics.txt", th_tmpdir());
	snprintf(out, sizeof(out), "%s/promtool.out", th_tmpdir());
	f = fopen(file, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' > '%s' 2>&1",
	    file, out);
	rc = system(cmd);
	if (rc != 0) {
		f = fopen(out, "r");
		if (f != NULL) {
			size_t n = fread(msg, 1, sizeof(msg) - 1, f);
			msg[n]   = '\0';
			fclose(f);
		}
		fail_msg(
		    "promtool check metrics: status %d: %s\n%s", rc, msg, text);
	}
}

/* scrape GETs /metrics and parses it strictly (and with promtool). */
static void
scrape(shim_expo_doc *doc, int port, const char *headers)
{
	th_http_resp r;
	char         ct[128];
	tp_err       err;

	if (th_http(&r, port, "GET", "/metrics", NULL, headers) != 200) {
		fail_msg("GET /metrics: HTTP %d: %s", r.status,
		    r.body != NULL ? r.body : "");
	}
	assert_true(th_http_header(&r, "Content-Type", ct, sizeof(ct)));
	assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
	if (shim_expo_parse(doc, r.body, r.body_len, &err) != TP_OK) {
		fail_msg("/metrics is not valid exposition: %s\n%s", err.msg,
		    r.body);
	}
	promtool_check(r.body, r.body_len);
	th_http_free(&r);
}

/* value returns one sample's value, 0 when absent (a counter not yet
 * counted); more than one match fails. */
static double
value(const shim_expo_doc *doc, const char *name, const char *l1,
    const char *l2, const char *l3, const char *l4)
{
	double v = 0;
	int    n = shim_expo_get(doc, &v, name, l1, l2, l3, l4, NULL);
	if (n > 1) {
		fail_msg("%s: %d samples match", name, n);
	}
	return n == 1 ? v : 0;
}

/* sum adds the values of every sample called name with both labels. */
static double
sum(const shim_expo_doc *doc, const char *name, const char *l1, const char *l2)
{
	double all = 0;

	for (size_t i = 0; i < doc->n_families; i++) {
		const shim_expo_family *f = &doc->families[i];
		for (size_t j = 0; j < f->n_samples; j++) {
			const shim_expo_sample *s  = &f->samples[j];
			int                     ok = 0;
			if (strcmp(s->name, name) != 0) {
				continue;
			}
			for (int k = 0; k < s->n_labels; k++) {
				char kv[600];
				snprintf(kv, sizeof(kv), "%s=%s",
				    s->labels[k].name, s->labels[k].value);
				ok += strcmp(kv, l1) == 0
				    || strcmp(kv, l2) == 0;
			}
			if (ok == 2) {
				all += s->value;
			}
		}
	}
	return all;
}

/* routes_only checks that every route label of the family is in allowed. */
static void
routes_only(
    const shim_expo_doc *doc, const char *family, const char *const *allowed)
{
	const shim_expo_family *f = shim_expo_family_get(doc, family);

	assert_non_null(f);
	for (size_t i = 0; i < f->n_samples; i++) {
		const shim_expo_sample *s = &f->samples[i];
		for (int k = 0; k < s->n_labels; k++) {
			bool ok = false;
			if (strcmp(s->labels[k].name, "route") != 0) {
				continue;
			}
			for (size_t a = 0; allowed[a] != NULL; a++) {
				ok |= strcmp(allowed[a], s->labels[k].value)
				    == 0;
			}
			if (!ok) {
				fail_msg("%s has route=\"%s\"", family,
				    s->labels[k].value);
			}
		}
	}
}

static void
test_gateway_metrics(void **state)
{
	static const char *const dtp_routes[]
	    = { "/tasks", "/tasks/{id}", "/tasks/{id}/cancel", "/healthz",
		      "/metrics", "unmatched", NULL };
	static const char *const pilot_routes[]
	    = { "/api/tasks", "/api/tasks/{id}", "/api/tasks/{id}/scheduler",
		      "/api/tasks/{id}/execution", "/api/tasks/{id}/cancel",
		      "/healthz", "/metrics", "unmatched", NULL };
	shim_expo_doc a, b;
	resp          r;
	(void) state;

	/* Behind the token like every route but /healthz. */
	req(&r, auth_dtp_port, "GET", "/metrics", NULL, "");
	expect_error(&r, 401, 16, "UNAUTHENTICATED", "bearer token");
	resp_free(&r);
	req(&r, auth_pilot_port, "GET", "/metrics", NULL,
	    "Authorization: Bearer nope\r\n");
	expect_error(&r, 401, 16, "UNAUTHENTICATED", "bearer token");
	resp_free(&r);
	scrape(&a, auth_dtp_port, "Authorization: Bearer " TOKEN "\r\n");
	/* The 401s above were counted, under their route. */
	assert_true(value(&a, "tp_http_requests_total", "route=/metrics",
	                "method=GET", "code=401", NULL)
	    == 1);
	shim_expo_free(&a);

	/* Requests between two scrapes are counted by route pattern. */
	scrape(&a, dtp_port, "");
	for (int i = 0; i < 3; i++) {
		req(&r, dtp_port, "GET", "/tasks/987654321", NULL, "");
		expect_status(&r, 404, "GET /tasks/987654321");
		resp_free(&r);
	}
	for (int i = 0; i < 2; i++) {
		req(&r, dtp_port, "GET", "/nope-metrics-xyz", NULL, "");
		expect_status(&r, 404, "GET /nope-metrics-xyz");
		resp_free(&r);
	}
	req(&r, dtp_port, "DELETE", "/tasks/5", NULL, "");
	expect_status(&r, 405, "DELETE /tasks/5");
	resp_free(&r);
	scrape(&b, dtp_port, "");

	assert_true(value(&b, "tp_http_requests_total", "route=/tasks/{id}",
	                "method=GET", "code=404", NULL)
	        - value(&a, "tp_http_requests_total", "route=/tasks/{id}",
	            "method=GET", "code=404", NULL)
	    == 3);
	assert_true(value(&b, "tp_http_requests_total", "route=unmatched",
	                "method=GET", "code=404", NULL)
	        - value(&a, "tp_http_requests_total", "route=unmatched",
	            "method=GET", "code=404", NULL)
	    == 2);
	assert_true(value(&b, "tp_http_requests_total", "route=/tasks/{id}",
	                "method=DELETE", "code=405", NULL)
	        - value(&a, "tp_http_requests_total", "route=/tasks/{id}",
	            "method=DELETE", "code=405", NULL)
	    == 1);
	/* The first scrape itself, counted once it was answered. */
	assert_true(value(&b, "tp_http_requests_total", "route=/metrics",
	                "method=GET", "code=200", NULL)
	        - value(&a, "tp_http_requests_total", "route=/metrics",
	            "method=GET", "code=200", NULL)
	    == 1);
	assert_true(value(&b, "tp_http_request_duration_seconds_count",
	                "route=/tasks/{id}", "method=GET", NULL, NULL)
	        - value(&a, "tp_http_request_duration_seconds_count",
	            "route=/tasks/{id}", "method=GET", NULL, NULL)
	    == 3);
	/* The RPCs behind them, as the gateway saw them. */
	assert_true(
	    value(&b, "tp_rpc_client_duration_seconds_count", "service=dtp",
	        "method=GetTask", "status=NOT_FOUND", NULL)
	        - value(&a, "tp_rpc_client_duration_seconds_count",
	            "service=dtp", "method=GetTask", "status=NOT_FOUND", NULL)
	    == 3);
	/* One Metrics call per scrape, whatever DTP answered. */
	assert_true(sum(&b, "tp_rpc_client_duration_seconds_count",
	                "service=dtp", "method=Metrics")
	        - sum(&a, "tp_rpc_client_duration_seconds_count", "service=dtp",
	            "method=Metrics")
	    == 1);
	/* Never a raw path; only this port's routes. */
	routes_only(&b, "tp_http_requests_total", dtp_routes);
	routes_only(&b, "tp_http_request_duration_seconds", dtp_routes);
	assert_int_equal(shim_expo_get(&b, &(double) { 0 },
	                     "tp_rpc_client_duration_seconds_count",
	                     "service=taskpilot", NULL),
	    0);
	/*
	 * DTP answered, with text the gateway could serve (it passed the
	 * strict parse above, with the gateway's own series); its families
	 * are DTP's own.
	 */
	assert_true(
	    value(&b, "tp_upstream_up", "service=dtp", NULL, NULL, NULL) == 1);
	for (size_t i = 0; i < b.n_families; i++) {
		const char *name = b.families[i].name;
		if (strncmp(name, "tp_", 3) != 0
		    && strncmp(name, "dtp_", 4) != 0) {
			fail_msg("family %s on the DTP port", name);
		}
	}
	assert_true(
	    value(&b, "tp_gateway_build_info", NULL, NULL, NULL, NULL) == 1);
	assert_true(
	    value(&b, "tp_http_connections_total", NULL, NULL, NULL, NULL)
	    > value(&a, "tp_http_connections_total", NULL, NULL, NULL, NULL));
	/* This scrape's own call is the one in flight. */
	assert_true(
	    value(&b, "tp_http_requests_in_flight", NULL, NULL, NULL, NULL)
	    == 1);
	shim_expo_free(&a);
	shim_expo_free(&b);

	scrape(&a, pilot_port, "");
	routes_only(&a, "tp_http_requests_total", pilot_routes);
	assert_true(
	    value(&a, "tp_upstream_up", "service=taskpilot", NULL, NULL, NULL)
	    == 1);
	assert_true(
	    value(&a, "tp_rpc_client_duration_seconds_count",
	        "service=taskpilot", "method=CreateWebTask", "status=OK", NULL)
	    >= 1);
	assert_int_equal(
	    shim_expo_get(&a, &(double) { 0 },
	        "tp_rpc_client_duration_seconds_count", "service=dtp", NULL),
	    0);
	shim_expo_free(&a);

	/* A service that does not answer: 200 all the same, and up 0. */
	scrape(&a, dead_dtp_port, "");
	assert_true(
	    value(&a, "tp_upstream_up", "service=dtp", NULL, NULL, NULL) == 0);
	assert_true(
	    value(&a, "tp_rpc_client_duration_seconds_count", "service=dtp",
	        "method=Metrics", "status=UNAVAILABLE", NULL)
	    >= 1);
	for (size_t i = 0; i < a.n_families; i++) {
		assert_int_equal(strncmp(a.families[i].name, "tp_", 3), 0);
	}
	shim_expo_free(&a);
	scrape(&a, dead_pilot_port, "");
	assert_true(
	    value(&a, "tp_upstream_up", "service=taskpilot", NULL, NULL, NULL)
	    == 0);
	shim_expo_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gateway_health),
		cmocka_unit_test(test_gateway_day4_flow),
		cmocka_unit_test(test_gateway_cancel_pending_then_final),
		cmocka_unit_test(test_gateway_idempotent_create),
		cmocka_unit_test(test_gateway_task_backoff),
		cmocka_unit_test(test_gateway_unknown_ids_are_404),
		cmocka_unit_test(test_gateway_bad_input_is_400),
		cmocka_unit_test(test_gateway_methods_and_paths),
		cmocka_unit_test(test_gateway_body_over_limit_is_413),
		cmocka_unit_test(test_gateway_auth),
		cmocka_unit_test(test_gateway_head_is_get_without_body),
		cmocka_unit_test(test_gateway_chunked_body_over_limit_is_413),
		cmocka_unit_test(
		    test_gateway_connection_memory_holds_headers_not_body),
		cmocka_unit_test(test_gateway_services_down_are_503),
		cmocka_unit_test(test_gateway_metrics),
		cmocka_unit_test(test_gateway_keeps_serving_after_garbage),
	};
	return cmocka_run_group_tests_name("gateway", tests, setup, teardown);
}
