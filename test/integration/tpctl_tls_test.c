/*
 * tpctl_tls_test: the real tpctl binary against an in-process DTP-envelope
 * server on tls+tcp:// (certificates made with the openssl command at test
 * time, th_pki_make): --tls-ca and TP_TLS_CA verify the server, a wrong CA or
 * server name fails UNAVAILABLE, a TLS URL without a CA is bad usage, and a
 * server that requires client certificates takes --tls-cert and --tls-key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "dtp.pb.h"
#include "harness.h"
#include "rpc/rpc.h"
#include "rpc/server.h"

#define MAX_HANDLERS 32

/* The certificates and keys, in th_tmpdir() (harness.h). */
static th_pki pki;

/* The test server: Health only, as a DTP node named tls-test. */
static tp_status
h_health(void *tctx, const void *vreq, void *vrep, tp_err *err)
{
	dtp_v1_Reply *rep = vrep;

	(void) tctx;
	(void) vreq;
	(void) err;
	rep->which_result = dtp_v1_Reply_health_tag;
	snprintf(rep->result.health.service, sizeof(rep->result.health.service),
	    "dtp");
	snprintf(rep->result.health.version, sizeof(rep->result.health.version),
	    "tls-test");
	snprintf(rep->result.health.node, sizeof(rep->result.health.node),
	    "tls-test");
	rep->result.health.db_ok = true;
	return TP_OK;
}

static const rpc_handler_cb handlers[MAX_HANDLERS] = {
	[dtp_v1_Request_health_tag] = h_health,
};

static void *
thread_init(void *arg, int index, tp_err *err)
{
	(void) index;
	(void) err;
	return arg;
}

/*
 * tls_server starts the server on tls+tcp://127.0.0.1:0, requiring client
 * certificates from pki.ca_crt when mutual, and writes its URL.
 */
static rpc_server *
tls_server(bool mutual, char *url, size_t url_size)
{
	static int        dummy;
	const char *const urls[] = { "tls+tcp://127.0.0.1:0" };
	rpc_tls_opts      tls    = { .cert_file = pki.server_crt,
		        .key_file               = pki.server_key,
		        .ca_file                = mutual ? pki.ca_crt : NULL,
		        .require_client_cert    = mutual };
	rpc_server_opts   o;
	rpc_server       *s   = NULL;
	tp_err            err = { 0 };

	assert_true(proto_dtp_envelope.max_call < MAX_HANDLERS);
	memset(&o, 0, sizeof(o));
	o.env            = &proto_dtp_envelope;
	o.urls           = urls;
	o.n_urls         = 1;
	o.threads        = 1;
	o.drain_ms       = 1000;
	o.handlers       = handlers;
	o.thread_init_cb = thread_init;
	o.arg            = &dummy;
	o.tls            = &tls;
	if (rpc_server_start(&s, &o, &err) != TP_OK) {
		fail_msg("rpc_server_start: %s", err.msg);
	}
	snprintf(url, url_size, "tls+tcp://127.0.0.1:%d",
	    rpc_server_bound_port(s, 0));
	return s;
}

/* One run of tpctl: exit status, stdout, stderr. */
typedef struct run_result {
	int  status;
	char out[4096];
	char err[4096];
} run_result;

static void
slurp(char *buf, size_t size, const char *path)
{
	FILE  *f = fopen(path, "r");
	size_t n = 0;

	assert_non_null(f);
	n      = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void tpctl(run_result *r, const char *env, const char *fmt, ...)
    TP_PRINTF(3, 4);

/*
 * tpctl runs `env tpctl ARGS dtp health` through the shell (env: "" or
 * "NAME=value ..."; ARGS from fmt), its deadline 3 s.
 */
static void
tpctl(run_result *r, const char *env, const char *fmt, ...)
{
	char    args[2048], cmd[4096], out[512], err[512];
	va_list ap;
	int     ws;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	th_tmp_path(out, sizeof(out), "tpctl.out");
	th_tmp_path(err, sizeof(err), "tpctl.err");
	snprintf(cmd, sizeof(cmd),
	    "env -u TP_TLS_CA -u TP_TLS_CERT -u TP_TLS_KEY "
	    "-u TP_TLS_SERVER_NAME %s '%s' --timeout 3000 %s dtp health "
	    "</dev/null >'%s' 2>'%s'",
	    env, th_bin("tpctl"), args, out, err);
	ws = system(cmd);
	assert_true(ws != -1 && WIFEXITED(ws));
	r->status = WEXITSTATUS(ws);
	slurp(r->out, sizeof(r->out), out);
	slurp(r->err, sizeof(r->err), err);
}

static const char healthy[] = "dtp ok version=tls-test node=tls-test\n";

static void
assert_healthy(const run_result *r)
{
	if (r->status != 0) {
		fail_msg("tpctl exited %d: %s", r->status, r->err);
	}
	assert_string_equal(r->out, healthy);
	assert_string_equal(r->err, "");
}

static void
assert_unavailable(const run_result *r)
{
	assert_int_equal(r->status, 1);
	assert_string_equal(r->out, "");
	if (strncmp(r->err, "tpctl: UNAVAILABLE", 18) != 0) {
		fail_msg("not UNAVAILABLE: %s", r->err);
	}
}

static int
setup(void **state)
{
	(void) state;
	if (!th_pki_make(&pki)) {
		fail_msg("could not make the test certificates (see above)");
	}
	return 0;
}

static void
test_tpctl_tls_ca_verifies_the_server(void **state)
{
	char        url[96], env[600];
	rpc_server *s = tls_server(false, url, sizeof(url));
	run_result  r;

	(void) state;
	tpctl(&r, "", "--url %s --tls-ca '%s'", url, pki.ca_crt);
	assert_healthy(&r);
	snprintf(env, sizeof(env), "TP_TLS_CA='%s'", pki.ca_crt);
	tpctl(&r, env, "--url=%s", url);
	assert_healthy(&r);
	/* The certificate names localhost too, not other.example. */
	tpctl(&r, "", "--url %s --tls-ca '%s' --tls-server-name localhost", url,
	    pki.ca_crt);
	assert_healthy(&r);
	tpctl(&r, "", "--url %s --tls-ca '%s' --tls-server-name other.example",
	    url, pki.ca_crt);
	assert_unavailable(&r);
	/* Signed by another CA: the handshake fails. */
	tpctl(&r, "", "--url %s --tls-ca '%s'", url, pki.other_ca_crt);
	assert_unavailable(&r);
	rpc_server_free(s);
}

static void
test_tpctl_tls_url_without_ca_is_bad_usage(void **state)
{
	run_result r;

	(void) state;
	tpctl(&r, "", "--url tls+tcp://127.0.0.1:%d", th_free_port());
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "needs TLS options"));
	tpctl(&r, "", "--url tls+tcp://127.0.0.1:%d --tls-ca '%s/none.pem'",
	    th_free_port(), th_tmpdir());
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "none.pem"));
}

static void
test_tpctl_tls_client_certificate(void **state)
{
	char        url[96];
	rpc_server *s = tls_server(true, url, sizeof(url));
	run_result  r;

	(void) state;
	tpctl(&r, "", "--url %s --tls-ca '%s' --tls-cert '%s' --tls-key '%s'",
	    url, pki.ca_crt, pki.client_crt, pki.client_key);
	assert_healthy(&r);
	/* Without one, the server refuses the handshake. */
	tpctl(&r, "", "--url %s --tls-ca '%s'", url, pki.ca_crt);
	assert_unavailable(&r);
	rpc_server_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tpctl_tls_ca_verifies_the_server),
		cmocka_unit_test(test_tpctl_tls_url_without_ca_is_bad_usage),
		cmocka_unit_test(test_tpctl_tls_client_certificate),
	};
	int rc;

	rc = cmocka_run_group_tests_name("tpctl_tls", tests, setup, NULL);
	return rc;
}
