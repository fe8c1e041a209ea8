/*
 * tls_e2e_test.c: TLS wired into the binaries, end to end: taskpilot
 * serving tls+tcp:// with mutual TLS, tpgateway dialing it with a client
 * certificate, and the Day-4 flow through the gateway's REST; a gateway
 * without a client certificate gets 503 from the TaskPilot routes;
 * taskpilot's --dtp-tls-* flags against an in-process DTP stand-in that
 * requires a client certificate; the flow's taskpilot -> dtp hop over
 * mutual TLS too (dtp's --tls-cert/--tls-key/--tls-client-ca; dtp also
 * listens on plain tcp:// for the gateway and the harness's Health probe);
 * and the TLS usage errors of taskpilot, tpgateway and dtp (exit 2, a clear
 * message). The CA and certificates are made with the openssl command at
 * test time, in th_tmpdir() (th_pki_make).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>

#include "common/mem.h"
#include "harness.h"
#include "proto/envelope.h"
#include "rpc/client.h"
#include "rpc/server.h"

#define START_MS 20000
#define RUN_MS   20000
#define EXIT_MS  20000
#define STOP_MS  15000
/* The id the DTP stand-in gives every task: far from the real dtp's. */
#define FAKE_TASK_ID 900000001

/* The certificates and keys, in th_tmpdir() (harness.h). */
static th_pki pki;

static const char *db_url;
static th_proc     dtp_proc;    /* tcp:// and tls+tcp://, mutual TLS */
static th_proc     pilot_proc;  /* tls+tcp://, mutual TLS; dials dtp over TLS */
static th_proc     gw_proc;     /* dials taskpilot with a client certificate */
static char        dtp_url[64]; /* tcp://: the gateway, Health probes */
static char        dtp_tls_listen_url[64]; /* taskpilot's only DTP URL */
static char        pilot_url[64];          /* tls+tcp://127.0.0.1:<port> */
static int         gw_dtp_port;
static int         gw_pilot_port;

/* ---- processes ---- */

typedef struct log_wait {
	th_proc    *p;
	const char *needle;
} log_wait;

/* log_has: whether the process's log holds needle. */
static bool
log_has(const th_proc *p, const char *needle)
{
	FILE *f = fopen(p->log_path, "r");
	char  line[8192];
	bool  found = false;

	if (f == NULL) {
		return false;
	}
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		found = strstr(line, needle) != NULL;
	}
	fclose(f);
	return found;
}

/* logged_or_died: the needle is in the log, or the process is gone. */
static bool
logged_or_died(void *arg)
{
	log_wait *w = arg;

	return log_has(w->p, w->needle) || !th_proc_alive(w->p);
}

/*
 * wait_logged waits for needle in p's log and fails the test, with the
 * log, when the process exits or the line does not come.
 */
static void
wait_logged(th_proc *p, const char *needle)
{
	log_wait w = { p, needle };

	if (!th_poll_until(logged_or_died, &w, START_MS)
	    || !log_has(p, needle)) {
		th_proc_dump_log(p);
		fail_msg("%s did not log \"%s\"", p->name, needle);
	}
}

static bool
exited(void *arg)
{
	return !th_proc_alive(arg);
}

/*
 * expect_exit runs argv (with env) and checks that it exits with code
 * having logged want: for the usage errors.
 */
static void
expect_exit(const char *name, char *const argv[], char *const env[], int code,
    const char *want)
{
	th_proc p;

	th_proc_start(&p, name, argv, env);
	if (!th_poll_until(exited, &p, EXIT_MS)) {
		th_proc_kill(&p);
		th_proc_dump_log(&p);
		fail_msg("%s did not exit within %d ms", name, EXIT_MS);
	}
	if (th_proc_exit_code(&p) != code || !log_has(&p, want)) {
		th_proc_dump_log(&p);
		fail_msg("%s: exit code %d, want %d with \"%s\"", name,
		    th_proc_exit_code(&p), code, want);
	}
}

typedef struct ready_wait {
	th_proc *p;
	int      dtp_port;
	int      pilot_port;
} ready_wait;

/* gateway_ready reads the bound ports from the gateway's `ready` line. */
static bool
gateway_ready(void *arg)
{
	ready_wait *w = arg;
	FILE       *f = fopen(w->p->log_path, "r");
	char        line[4096];
	bool        found = false;

	if (f == NULL) {
		return !th_proc_alive(w->p);
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
	return found || !th_proc_alive(w->p);
}

/*
 * start_gateway runs tpgateway on free ports against the flow's dtp and
 * taskpilot, with extra_argv (NULL-terminated, up to 6) and env, and
 * returns the ports from its ready line.
 */
static void
start_gateway(th_proc *p, const char *name, char *const extra_argv[],
    char *const env[], int *dport, int *pport)
{
	char      *argv[24] = { (char *) th_bin("tpgateway"), "--dtp-listen",
		     "127.0.0.1:0", "--pilot-listen", "127.0.0.1:0", "--dtp-url",
		     dtp_url, "--pilot-url", pilot_url, "--rpc-timeout-ms", "5000",
		     NULL };
	size_t     n        = 11;
	ready_wait w        = { p, 0, 0 };

	for (size_t i = 0; extra_argv != NULL && extra_argv[i] != NULL; i++) {
		assert_true(n + 1 < sizeof(argv) / sizeof(argv[0]));
		argv[n++] = extra_argv[i];
	}
	argv[n] = NULL;
	th_proc_start(p, name, argv, env);
	if (!th_poll_until(gateway_ready, &w, START_MS) || w.dtp_port == 0) {
		th_proc_dump_log(p);
		fail_msg("%s did not log its ready line", name);
	}
	*dport = w.dtp_port;
	*pport = w.pilot_port;
}

static void
start_services(void)
{
	char dtp_listen[160], dtp_db[1200], pilot_db[1200], dtp_ready[96];
	/* dtp's server certificate from the flags, the client CA from the
	 * environment (DTP_TLS_CLIENT_CA): both ways are read. */
	char  dtp_ca[600];
	char *dtp_argv[] = { (char *) th_bin("dtp"), "--tls-cert",
		pki.server_crt, "--tls-key", pki.server_key, NULL };
	char *dtp_env[] = { dtp_listen, dtp_db, dtp_ca, "DTP_WORKERS=2", NULL };
	/* taskpilot's certificate has clientAuth too: it is its client
	 * certificate towards dtp. */
	char *pilot_argv[] = { (char *) th_bin("taskpilot"), "--listen",
		pilot_url, "--dtp-url", dtp_tls_listen_url, "--tls-cert",
		pki.server_crt, "--tls-key", pki.server_key, "--tls-client-ca",
		pki.ca_crt, "--dtp-tls-ca", pki.ca_crt, "--dtp-tls-cert",
		pki.server_crt, "--dtp-tls-key", pki.server_key, NULL };
	char *pilot_env[]  = { pilot_db, NULL };

	snprintf(
	    dtp_url, sizeof(dtp_url), "tcp://127.0.0.1:%d", th_free_port());
	snprintf(dtp_tls_listen_url, sizeof(dtp_tls_listen_url),
	    "tls+tcp://127.0.0.1:%d", th_free_port());
	snprintf(pilot_url, sizeof(pilot_url), "tls+tcp://127.0.0.1:%d",
	    th_free_port());
	snprintf(dtp_listen, sizeof(dtp_listen), "DTP_LISTEN=%s,%s", dtp_url,
	    dtp_tls_listen_url);
	snprintf(dtp_db, sizeof(dtp_db), "DTP_DATABASE_URL=%s", db_url);
	snprintf(dtp_ca, sizeof(dtp_ca), "DTP_TLS_CLIENT_CA=%s", pki.ca_crt);
	snprintf(pilot_db, sizeof(pilot_db), "PILOT_DATABASE_URL=%s", db_url);

	th_proc_start(&dtp_proc, "dtp", dtp_argv, dtp_env);
	if (!th_wait_rpc_health("dtp", dtp_url, START_MS)) {
		th_proc_dump_log(&dtp_proc);
		fail_msg("dtp did not answer Health at %s", dtp_url);
	}
	/* Its ready line lists the TLS listener too. */
	snprintf(dtp_ready, sizeof(dtp_ready), ",%s ", dtp_tls_listen_url);
	wait_logged(&dtp_proc, dtp_ready);
	/* The harness's Health probe has no TLS: wait for the ready line. */
	th_proc_start(&pilot_proc, "taskpilot", pilot_argv, pilot_env);
	wait_logged(&pilot_proc, " ready ");
}

static int
setup(void **state)
{
	char *gw_argv[] = { "--tls-ca", pki.ca_crt, "--tls-cert",
		pki.client_crt, "--tls-key", pki.client_key, NULL };

	(void) state;
	db_url = th_db_create("tls_e2e");
	start_services();
	start_gateway(
	    &gw_proc, "tpgateway", gw_argv, NULL, &gw_dtp_port, &gw_pilot_port);
	/* The pilot port's /healthz is taskpilot's Health, over TLS. */
	if (!th_wait_http(gw_dtp_port, "/healthz", START_MS)
	    || !th_wait_http(gw_pilot_port, "/healthz", START_MS)) {
		th_proc_dump_log(&gw_proc);
		th_proc_dump_log(&pilot_proc);
		fail_msg("tpgateway: /healthz did not answer 200");
	}
	return 0;
}

/*
 * stop_if_started stops p and returns its exit status; 0 for a process a
 * failed setup never started (that failure is reported already).
 */
static int
stop_if_started(th_proc *p)
{
	return p->name[0] != '\0' ? th_proc_stop(p, STOP_MS) : 0;
}

static int
teardown(void **state)
{
	int rc_gw, rc_pilot, rc_dtp;

	(void) state;
	rc_gw    = stop_if_started(&gw_proc);
	rc_pilot = stop_if_started(&pilot_proc);
	rc_dtp   = stop_if_started(&dtp_proc);
	if (rc_gw != 0 || rc_pilot != 0 || rc_dtp != 0) {
		th_proc_dump_log(&gw_proc);
		th_proc_dump_log(&pilot_proc);
		th_proc_dump_log(&dtp_proc);
	}
	assert_int_equal(rc_gw, 0);
	assert_int_equal(rc_pilot, 0);
	assert_int_equal(rc_dtp, 0);
	th_db_drop();
	return 0;
}

/* ---- HTTP ---- */

typedef struct resp {
	th_http_resp r;
	json_t      *json; /* the parsed body */
} resp;

/* req sends one request and parses its JSON body; returns the status. */
static int
req(resp *out, int port, const char *method, const char *path, const char *body)
{
	json_error_t jerr;

	memset(out, 0, sizeof(*out));
	if (th_http(&out->r, port, method, path, body, "") == 0) {
		fail_msg("%s %s: no HTTP answer", method, path);
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
	memset(r, 0, sizeof(*r));
}

static void
expect_status(const resp *r, int want, const char *what)
{
	if (r->r.status != want) {
		fail_msg("%s: HTTP %d, want %d: %s", what, r->r.status, want,
		    r->r.body);
	}
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

/* expect_unavailable: a 503 error body whose message holds want. */
static void
expect_unavailable(const resp *r, const char *want, const char *what)
{
	expect_status(r, 503, what);
	assert_int_equal(int_field(r, "code"), 14);
	assert_string_equal(str_field(r, "status"), "UNAVAILABLE");
	if (strstr(str_field(r, "message"), want) == NULL) {
		fail_msg("%s: message \"%s\" lacks \"%s\"", what,
		    str_field(r, "message"), want);
	}
}

typedef struct task_wait {
	int     port;
	int64_t id;
	char    status[32];
	resp    last;
} task_wait;

static bool
task_finished(void *arg)
{
	task_wait *w = arg;
	char       path[64];

	resp_free(&w->last);
	snprintf(path, sizeof(path), "/tasks/%" PRId64, w->id);
	if (req(&w->last, w->port, "GET", path, NULL) != 200) {
		return false;
	}
	snprintf(
	    w->status, sizeof(w->status), "%s", str_field(&w->last, "status"));
	return strcmp(w->status, "SUCCEEDED") == 0
	    || strcmp(w->status, "FAILED") == 0
	    || strcmp(w->status, "CANCELLED") == 0;
}

/* ---- the flow over TLS ---- */

static void
test_tls_day4_flow_through_gateway(void **state)
{
	resp      r;
	task_wait w;
	char      path[128], want_payload[256];
	int64_t   web_id, sched_id;

	(void) state;
	/* 1. Create a web task: gateway -> taskpilot over mutual TLS. */
	req(&r, gw_pilot_port, "POST", "/api/tasks",
	    "{\"type\":\"demo\",\"payload\":\"over tls\"}");
	expect_status(&r, 201, "POST /api/tasks");
	web_id = int_field(&r, "id");
	assert_true(web_id > 0);
	assert_true(json_is_null(json_object_get(r.json, "schedulerTaskId")));
	assert_string_equal(str_field(&r, "payload"), "over tls");
	resp_free(&r);

	/*
	 * 2. Bind it: taskpilot -> dtp over mutual TLS (its only DTP URL is
	 * dtp_tls_listen_url) makes the DTP task.
	 */
	snprintf(
	    path, sizeof(path), "/api/tasks/%" PRId64 "/scheduler", web_id);
	req(&r, gw_pilot_port, "POST", path, NULL);
	expect_status(&r, 200, "POST /api/tasks/{id}/scheduler");
	assert_int_equal(int_field(&r, "id"), web_id);
	sched_id = int_field(&r, "schedulerTaskId");
	assert_true(sched_id > 0);
	resp_free(&r);

	/* 3. The DTP task ends SUCCEEDED, carrying the bind payload. */
	memset(&w, 0, sizeof(w));
	w.port = gw_dtp_port;
	w.id   = sched_id;
	if (!th_poll_until(task_finished, &w, RUN_MS)) {
		fail_msg("task %" PRId64 " did not finish: %s", sched_id,
		    w.last.r.body != NULL ? w.last.r.body : "(no answer)");
	}
	assert_string_equal(w.status, "SUCCEEDED");
	snprintf(want_payload, sizeof(want_payload),
	    "{\"webTaskId\":%" PRId64
	    ",\"type\":\"demo\",\"payload\":\"over tls\"}",
	    web_id);
	assert_string_equal(str_field(&w.last, "payload"), want_payload);
	assert_string_equal(str_field(&w.last, "result"), want_payload);
	resp_free(&w.last);

	/* 4. Its execution, asked through taskpilot (over TLS again). */
	snprintf(
	    path, sizeof(path), "/api/tasks/%" PRId64 "/execution", web_id);
	req(&r, gw_pilot_port, "GET", path, NULL);
	expect_status(&r, 200, "GET /api/tasks/{id}/execution");
	assert_int_equal(int_field(&r, "id"), sched_id);
	assert_string_equal(str_field(&r, "status"), "SUCCEEDED");
	resp_free(&r);
	snprintf(path, sizeof(path), "/api/tasks/%" PRId64, web_id);
	req(&r, gw_pilot_port, "GET", path, NULL);
	expect_status(&r, 200, "GET /api/tasks/{id}");
	assert_int_equal(int_field(&r, "schedulerTaskId"), sched_id);
	resp_free(&r);
}

/* ---- a gateway without a client certificate ---- */

static void
test_tls_gateway_without_client_cert_is_503(void **state)
{
	th_proc gw;
	char    ca_env[600];
	char   *env[] = { ca_env, NULL };
	int     dport, pport;
	resp    r;

	(void) state;
	/* The CA from the environment (SHIM_TLS_CA), no certificate. */
	snprintf(ca_env, sizeof(ca_env), "SHIM_TLS_CA=%s", pki.ca_crt);
	start_gateway(&gw, "tpgateway-nocert", NULL, env, &dport, &pport);
	/* Its DTP side (plain) works... */
	if (!th_wait_http(dport, "/healthz", START_MS)) {
		th_proc_dump_log(&gw);
		fail_msg("tpgateway-nocert: DTP /healthz did not answer 200");
	}
	/* ...but taskpilot refuses it the handshake: every route is 503. */
	req(&r, pport, "GET", "/api/tasks/1", NULL);
	expect_unavailable(&r, "could not reach taskpilot", "GET /api/tasks/1");
	resp_free(&r);
	req(&r, pport, "POST", "/api/tasks",
	    "{\"type\":\"demo\",\"payload\":\"x\"}");
	expect_unavailable(&r, "could not reach taskpilot", "POST /api/tasks");
	resp_free(&r);
	req(&r, pport, "GET", "/healthz", NULL);
	expect_status(&r, 503, "GET /healthz (TaskPilot port)");
	resp_free(&r);
	/* The gateway with the certificate is still served. */
	req(&r, gw_pilot_port, "GET", "/healthz", NULL);
	expect_status(&r, 200, "GET /healthz (with a certificate)");
	resp_free(&r);
	assert_int_equal(th_proc_stop(&gw, STOP_MS), 0);
}

/* ---- taskpilot -> DTP over TLS, against a stand-in ---- */

/* What the stand-in saw; written on its worker threads. */
static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static char            fake_key[256]; /* guarded by fake_mu */
static atomic_int      fake_creates;
static atomic_int      fake_gets;

static tp_status
fake_create_task(void *tctx, const void *vreq, void *vrep, tp_err *err)
{
	const dtp_v1_CreateTaskRequest *in
	    = &((const dtp_v1_Request *) vreq)->call.create_task;
	dtp_v1_Reply *rep = vrep;
	dtp_v1_Task  *t   = &rep->result.create_task.task;

	(void) tctx;
	(void) err;
	pthread_mutex_lock(&fake_mu);
	snprintf(fake_key, sizeof(fake_key), "%s",
	    in->has_idempotency_key ? in->idempotency_key : "");
	pthread_mutex_unlock(&fake_mu);
	atomic_fetch_add(&fake_creates, 1);
	rep->which_result                = dtp_v1_Reply_create_task_tag;
	rep->result.create_task.has_task = true;
	t->id                            = FAKE_TASK_ID;
	t->status       = dtp_v1_TaskStatus_TASK_STATUS_PENDING;
	t->max_attempts = 3;
	snprintf(t->type, sizeof(t->type), "%s", in->type);
	snprintf(t->idempotency_key, sizeof(t->idempotency_key), "%s",
	    in->has_idempotency_key ? in->idempotency_key : "");
	t->payload = tp_xstrdup(in->payload != NULL ? in->payload : "");
	return TP_OK;
}

static tp_status
fake_get_task(void *tctx, const void *vreq, void *vrep, tp_err *err)
{
	const dtp_v1_Request *in  = vreq;
	dtp_v1_Reply         *rep = vrep;

	(void) tctx;
	atomic_fetch_add(&fake_gets, 1);
	if (in->call.get_task.id != FAKE_TASK_ID) {
		return tp_err_set(err, TP_NOT_FOUND,
		    "task %" PRId64 " not found", in->call.get_task.id);
	}
	rep->which_result             = dtp_v1_Reply_get_task_tag;
	rep->result.get_task.id       = FAKE_TASK_ID;
	rep->result.get_task.status   = dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED;
	rep->result.get_task.attempts = 1;
	snprintf(rep->result.get_task.type, sizeof(rep->result.get_task.type),
	    "%s", "demo");
	rep->result.get_task.payload = tp_xstrdup("{}");
	rep->result.get_task.result  = tp_xstrdup("{}");
	return TP_OK;
}

static const rpc_handler_cb fake_handlers[PROTO_DTP_MAX_CALL + 1] = {
	[dtp_v1_Request_create_task_tag] = fake_create_task,
	[dtp_v1_Request_get_task_tag]    = fake_get_task,
};

static void *
fake_thread_init(void *arg, int index, tp_err *err)
{
	(void) index;
	(void) err;
	return arg;
}

/* start_fake_dtp listens on tls+tcp://127.0.0.1:0 with mutual TLS. */
static rpc_server *
start_fake_dtp(char *url, size_t url_size)
{
	static int         dummy;
	const char        *urls[] = { "tls+tcp://127.0.0.1:0" };
	const rpc_tls_opts tls    = { .cert_file = pki.server_crt,
		   .key_file                     = pki.server_key,
		   .ca_file                      = pki.ca_crt,
		   .require_client_cert          = true };
	rpc_server_opts    o;
	rpc_server        *s = NULL;
	tp_err             err;

	memset(&o, 0, sizeof(o));
	o.env            = &proto_dtp_envelope;
	o.urls           = urls;
	o.n_urls         = 1;
	o.threads        = 2;
	o.max_msg_bytes  = 1024 * 1024;
	o.drain_ms       = 2000;
	o.handlers       = fake_handlers;
	o.thread_init_cb = fake_thread_init;
	o.arg            = &dummy;
	o.tls            = &tls;
	if (rpc_server_start(&s, &o, &err) != TP_OK) {
		fail_msg("the DTP stand-in did not start: %s", err.msg);
	}
	snprintf(url, url_size, "tls+tcp://127.0.0.1:%d",
	    rpc_server_bound_port(s, 0));
	return s;
}

/*
 * start_pilot_dialing runs a taskpilot on plain tcp:// whose DTP is
 * dtp_tls_url, with the DTP TLS settings from the environment
 * (PILOT_DTP_TLS_*) and server_name as the name to check; waits for Health.
 */
static void
start_pilot_dialing(th_proc *p, const char *name, char *listen_url,
    size_t listen_size, const char *dtp_tls_url, const char *server_name)
{
	char  db[1200], lis[128], dtp[128], ca[600], cert[600], key[600];
	char  sn[128];
	char *argv[] = { (char *) th_bin("taskpilot"), "--refresh-ms", "0",
		"--reconcile-ms", "0", "--dtp-timeout-ms", "3000", NULL };
	char *env[]  = { db, lis, dtp, ca, cert, key, sn, NULL };

	snprintf(listen_url, listen_size, "tcp://127.0.0.1:%d", th_free_port());
	snprintf(db, sizeof(db), "PILOT_DATABASE_URL=%s", db_url);
	snprintf(lis, sizeof(lis), "PILOT_LISTEN=%s", listen_url);
	snprintf(dtp, sizeof(dtp), "PILOT_DTP_URL=%s", dtp_tls_url);
	snprintf(ca, sizeof(ca), "PILOT_DTP_TLS_CA=%s", pki.ca_crt);
	snprintf(cert, sizeof(cert), "PILOT_DTP_TLS_CERT=%s", pki.server_crt);
	snprintf(key, sizeof(key), "PILOT_DTP_TLS_KEY=%s", pki.server_key);
	snprintf(sn, sizeof(sn), "PILOT_DTP_TLS_SERVER_NAME=%s", server_name);
	th_proc_start(p, name, argv, env);
	if (!th_wait_rpc_health("taskpilot", listen_url, START_MS)) {
		th_proc_dump_log(p);
		fail_msg("%s did not answer Health at %s", name, listen_url);
	}
}

static rpc_client *
pilot_client(const char *url)
{
	rpc_client     *c = NULL;
	rpc_client_opts o
	    = { .env = &proto_pilot_envelope, .timeout_ms = 10000 };
	tp_err err;

	if (rpc_client_open(&c, url, &o, &err) != TP_OK) {
		fail_msg("rpc_client_open %s: %s", url, err.msg);
	}
	return c;
}

/* create_wt makes a web task on c and returns its id. */
static int64_t
create_wt(rpc_client *c)
{
	pilot_v1_Request q = pilot_v1_Request_init_zero;
	pilot_v1_Reply   rep;
	tp_err           err;
	int64_t          id;

	q.which_call = pilot_v1_Request_create_web_task_tag;
	snprintf(q.call.create_web_task.type,
	    sizeof(q.call.create_web_task.type), "%s", "demo");
	q.call.create_web_task.payload = "to the stand-in";
	if (rpc_client_call(c, &q, &rep, NULL, &err) != TP_OK) {
		fail_msg("CreateWebTask: %s", err.msg);
	}
	id = rep.result.create_web_task.id;
	pb_release(pilot_v1_Reply_fields, &rep);
	assert_true(id > 0);
	return id;
}

/* bind_wt sends BindScheduler(id) on c; *rep on TP_OK. */
static tp_status
bind_wt(rpc_client *c, int64_t id, pilot_v1_Reply *rep, tp_err *err)
{
	pilot_v1_Request q = pilot_v1_Request_init_zero;

	q.which_call             = pilot_v1_Request_bind_scheduler_tag;
	q.call.bind_scheduler.id = id;
	tp_err_clear(err);
	return rpc_client_call(c, &q, rep, NULL, err);
}

typedef struct refused_wait {
	rpc_client *c;
	int64_t     id;
	tp_err      err;
} refused_wait;

/*
 * bind_refused: the bind fails UNAVAILABLE (anything else fails the test)
 * and, once nng has counted a failed handshake, its message says so.
 */
static bool
bind_refused(void *arg)
{
	refused_wait  *w = arg;
	pilot_v1_Reply rep;
	tp_status      rc;

	rc = bind_wt(w->c, w->id, &rep, &w->err);
	if (rc != TP_UNAVAILABLE) {
		if (rc == TP_OK) {
			pb_release(pilot_v1_Reply_fields, &rep);
		}
		fail_msg("bind with the wrong server name: %s: %s",
		    tp_status_name(rc), w->err.msg);
	}
	assert_non_null(strstr(w->err.msg, "could not reach dtp"));
	return strstr(w->err.msg, "TLS handshakes failed") != NULL;
}

static void
test_tls_pilot_dials_dtp_over_mutual_tls(void **state)
{
	rpc_server      *fake;
	rpc_client      *c;
	th_proc          p;
	char             fake_url[128], listen_url[64], key[64];
	pilot_v1_Request q = pilot_v1_Request_init_zero;
	pilot_v1_Reply   rep;
	tp_err           err;
	int64_t          web_id;
	int              creates;
	refused_wait     rw;

	(void) state;
	fake = start_fake_dtp(fake_url, sizeof(fake_url));

	/* The name the stand-in's certificate holds: served. */
	start_pilot_dialing(&p, "taskpilot-dtp-tls", listen_url,
	    sizeof(listen_url), fake_url, "localhost");
	c      = pilot_client(listen_url);
	web_id = create_wt(c);
	if (bind_wt(c, web_id, &rep, &err) != TP_OK) {
		th_proc_dump_log(&p);
		fail_msg("BindScheduler over TLS: %s", err.msg);
	}
	assert_int_equal(rep.which_result, pilot_v1_Reply_bind_scheduler_tag);
	assert_true(rep.result.bind_scheduler.has_scheduler_task_id);
	assert_int_equal(
	    rep.result.bind_scheduler.scheduler_task_id, FAKE_TASK_ID);
	pb_release(pilot_v1_Reply_fields, &rep);
	assert_int_equal(atomic_load(&fake_creates), 1);
	snprintf(key, sizeof(key), "webtask:%" PRId64, web_id);
	pthread_mutex_lock(&fake_mu);
	assert_string_equal(fake_key, key);
	pthread_mutex_unlock(&fake_mu);
	/* GetExecution takes the same way (GetTask). */
	q.which_call            = pilot_v1_Request_get_execution_tag;
	q.call.get_execution.id = web_id;
	if (rpc_client_call(c, &q, &rep, NULL, &err) != TP_OK) {
		fail_msg("GetExecution over TLS: %s", err.msg);
	}
	assert_int_equal(rep.result.get_execution.id, FAKE_TASK_ID);
	assert_int_equal(rep.result.get_execution.status,
	    dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED);
	pb_release(pilot_v1_Reply_fields, &rep);
	assert_true(atomic_load(&fake_gets) >= 1);
	rpc_client_free(c);
	assert_int_equal(th_proc_stop(&p, STOP_MS), 0);

	/*
	 * A name the certificate does not hold: taskpilot refuses the
	 * stand-in, and the bind is UNAVAILABLE without reaching it.
	 */
	creates = atomic_load(&fake_creates);
	start_pilot_dialing(&p, "taskpilot-dtp-wrong-name", listen_url,
	    sizeof(listen_url), fake_url, "dtp.invalid");
	c     = pilot_client(listen_url);
	rw.c  = c;
	rw.id = create_wt(c);
	if (!th_poll_until(bind_refused, &rw, RUN_MS)) {
		th_proc_dump_log(&p);
		fail_msg("bind with the wrong server name: \"%s\"", rw.err.msg);
	}
	assert_int_equal(atomic_load(&fake_creates), creates);
	rpc_client_free(c);
	assert_int_equal(th_proc_stop(&p, STOP_MS), 0);
	rpc_server_free(fake);
}

/* ---- usage errors ---- */

static void
test_tls_usage_errors_exit_2(void **state)
{
	char  db[1200], tls_listen[64], want[700];
	char *env[] = { db, NULL };
	char *pilot = (char *) th_bin("taskpilot");
	char *gw    = (char *) th_bin("tpgateway");

	(void) state;
	snprintf(db, sizeof(db), "PILOT_DATABASE_URL=%s", db_url);
	snprintf(tls_listen, sizeof(tls_listen), "tls+tcp://127.0.0.1:%d",
	    th_free_port());

	/* A TLS listen URL without a certificate: rpc's message, exit 2. */
	{
		char *argv[] = { pilot, "--listen", tls_listen, "--dtp-url",
			dtp_url, NULL };
		expect_exit("taskpilot-tls-no-cert", argv, env, 2,
		    "needs TLS options: a certificate and a key");
	}
	/* A certificate without its key, and the other way round. */
	{
		char *argv[] = { pilot, "--listen", tls_listen, "--tls-cert",
			pki.server_crt, NULL };
		expect_exit("taskpilot-cert-no-key", argv, env, 2,
		    "taskpilot: --tls-cert (PILOT_TLS_CERT) and --tls-key "
		    "(PILOT_TLS_KEY) go together");
	}
	{
		char *argv[] = { pilot, "--tls-key", pki.server_key, NULL };
		expect_exit("taskpilot-key-no-cert", argv, env, 2,
		    "--tls-cert (PILOT_TLS_CERT) and --tls-key");
	}
	/* Mutual TLS needs the server's own certificate. */
	{
		char *argv[] = { pilot, "--tls-client-ca", pki.ca_crt, NULL };
		expect_exit("taskpilot-client-ca-alone", argv, env, 2,
		    "--tls-client-ca (PILOT_TLS_CLIENT_CA) needs --tls-cert");
	}
	/* A certificate file that is not there: named, exit 2. */
	{
		char *argv[] = { pilot, "--listen", tls_listen, "--dtp-url",
			dtp_url, "--tls-cert", pki.missing_pem, "--tls-key",
			pki.server_key, NULL };
		snprintf(want, sizeof(want),
		    "could not read TLS certificate file \"%s\"",
		    pki.missing_pem);
		expect_exit("taskpilot-missing-cert", argv, env, 2, want);
	}
	/* The DTP side: a TLS URL without --dtp-tls-ca, half a pair. */
	{
		char *argv[]
		    = { pilot, "--dtp-url", "tls+tcp://127.0.0.1:9", NULL };
		expect_exit("taskpilot-dtp-tls-no-ca", argv, env, 2,
		    "\"tls+tcp://127.0.0.1:9\" needs TLS options: a CA file");
	}
	{
		char *argv[] = { pilot, "--dtp-tls-ca", pki.ca_crt,
			"--dtp-tls-cert", pki.client_crt, NULL };
		expect_exit("taskpilot-dtp-cert-no-key", argv, env, 2,
		    "--dtp-tls-cert (PILOT_DTP_TLS_CERT) and --dtp-tls-key");
	}
	{
		char *argv[] = { pilot, "--dtp-tls-cert", pki.client_crt,
			"--dtp-tls-key", pki.client_key, NULL };
		expect_exit("taskpilot-dtp-cert-no-ca", argv, env, 2,
		    "--dtp-tls-cert (PILOT_DTP_TLS_CERT) needs --dtp-tls-ca");
	}
	/* The gateway. */
	{
		char *argv[] = { gw, "--tls-ca", pki.ca_crt, "--tls-cert",
			pki.client_crt, NULL };
		expect_exit("tpgateway-cert-no-key", argv, NULL, 2,
		    "tpgateway: --tls-cert (SHIM_TLS_CERT) and --tls-key "
		    "(SHIM_TLS_KEY) go together");
	}
	{
		char *argv[] = { gw, "--tls-cert", pki.client_crt, "--tls-key",
			pki.client_key, NULL };
		expect_exit("tpgateway-cert-no-ca", argv, NULL, 2,
		    "--tls-cert (SHIM_TLS_CERT) needs --tls-ca (SHIM_TLS_CA)");
	}
	{
		char *argv[] = { gw, "--dtp-listen", "127.0.0.1:0",
			"--pilot-listen", "127.0.0.1:0", "--dtp-url", dtp_url,
			"--pilot-url", pilot_url, NULL };
		snprintf(want, sizeof(want),
		    "server url \"%s\" needs TLS options: a CA file",
		    pilot_url);
		expect_exit("tpgateway-tls-no-ca", argv, NULL, 2, want);
	}
}

static void
test_tls_dtp_usage_errors_exit_2(void **state)
{
	char  db[1200], tls_listen[64], want[700];
	char *env[] = { db, "DTP_WORKERS=1", NULL };
	char *dtp   = (char *) th_bin("dtp");

	(void) state;
	snprintf(db, sizeof(db), "DTP_DATABASE_URL=%s", db_url);
	snprintf(tls_listen, sizeof(tls_listen), "tls+tcp://127.0.0.1:%d",
	    th_free_port());

	/* A TLS listen URL without a certificate: rpc's message, exit 2. */
	{
		char *argv[] = { dtp, "--listen", tls_listen, NULL };
		snprintf(want, sizeof(want),
		    "listen url \"%s\" needs TLS options: a certificate and "
		    "a key",
		    tls_listen);
		expect_exit("dtp-tls-no-cert", argv, env, 2, want);
	}
	/* A certificate without its key, and the other way round. */
	{
		char *argv[] = { dtp, "--listen", tls_listen, "--tls-cert",
			pki.server_crt, NULL };
		expect_exit("dtp-cert-no-key", argv, env, 2,
		    "dtp: --tls-cert (DTP_TLS_CERT) and --tls-key "
		    "(DTP_TLS_KEY) go together");
	}
	{
		char  key_env[600];
		char *kenv[] = { db, key_env, NULL };
		char *argv[] = { dtp, "--listen", tls_listen, NULL };
		snprintf(
		    key_env, sizeof(key_env), "DTP_TLS_KEY=%s", pki.server_key);
		expect_exit("dtp-key-no-cert", argv, kenv, 2,
		    "dtp: --tls-cert (DTP_TLS_CERT) and --tls-key");
	}
	/* Mutual TLS needs the server's own certificate. */
	{
		char *argv[] = { dtp, "--listen", tls_listen, "--tls-client-ca",
			pki.ca_crt, NULL };
		expect_exit("dtp-client-ca-alone", argv, env, 2,
		    "dtp: --tls-client-ca (DTP_TLS_CLIENT_CA) needs --tls-cert "
		    "(DTP_TLS_CERT) and --tls-key (DTP_TLS_KEY)");
	}
	/* A certificate file that is not there: named, exit 2. */
	{
		char *argv[] = { dtp, "--listen", tls_listen, "--tls-cert",
			pki.missing_pem, "--tls-key", pki.server_key, NULL };
		snprintf(want, sizeof(want),
		    "could not read TLS certificate file \"%s\"",
		    pki.missing_pem);
		expect_exit("dtp-missing-cert", argv, env, 2, want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_day4_flow_through_gateway),
		cmocka_unit_test(test_tls_gateway_without_client_cert_is_503),
		cmocka_unit_test(test_tls_pilot_dials_dtp_over_mutual_tls),
		cmocka_unit_test(test_tls_usage_errors_exit_2),
		cmocka_unit_test(test_tls_dtp_usage_errors_exit_2),
	};
	int rc;

	if (!th_pki_make(&pki)) {
		return 1; /* th_pki_make said why */
	}
	rc = cmocka_run_group_tests_name("tls_e2e", tests, setup, teardown);
	return rc;
}
