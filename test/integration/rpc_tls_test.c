/*
 * rpc_tls_test.c: the RPC server and client over tls+tcp:// on real
 * sockets, with a throwaway CA and certificates made by the openssl
 * command at test time (th_pki_make): round trips, server name checks, a client
 * that trusts another CA, plain clients on a TLS port, mutual TLS, and bad TLS
 * files at start. Needs no database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include "common/mem.h"
#include "harness.h"
#include "rpc/client.h"
#include "rpc/server.h"

static const proto_envelope *const ENV = &proto_dtp_envelope;

/* The certificates and keys, in th_tmpdir() (harness.h). */
static th_pki pki;

static atomic_int get_runs; /* GetTask handler runs */
static atomic_int inits;    /* thread_init_cb runs */

/* ---- the test service: GetTask ---- */

static tp_status
h_get_task(void *tctx, const void *vreq, void *vrep, tp_err *err)
{
	const dtp_v1_Request *req = vreq;
	dtp_v1_Reply         *rep = vrep;
	char                  p[64];

	(void) tctx;
	(void) err;
	atomic_fetch_add(&get_runs, 1);
	rep->which_result       = dtp_v1_Reply_get_task_tag;
	rep->result.get_task.id = req->call.get_task.id;
	snprintf(p, sizeof(p), "payload-%" PRId64, req->call.get_task.id);
	rep->result.get_task.payload = tp_xstrdup(p);
	return TP_OK;
}

/* Indexed by call tag, one entry per tag up to the highest (Health). */
static const rpc_handler_cb handlers[] = {
	[dtp_v1_Request_get_task_tag] = h_get_task,
	[dtp_v1_Request_health_tag]   = NULL,
};

static void *
thread_init(void *arg, int index, tp_err *err)
{
	(void) index;
	(void) err;
	atomic_fetch_add(&inits, 1);
	return arg;
}

static tp_status
server_start(rpc_server **out, const char *const *urls, size_t n_urls,
    const rpc_tls_opts *tls, tp_err *err)
{
	rpc_server_opts o;
	static int      dummy;

	memset(&o, 0, sizeof(o));
	o.env            = ENV;
	o.urls           = urls;
	o.n_urls         = n_urls;
	o.threads        = 2;
	o.drain_ms       = 2000;
	o.handlers       = handlers;
	o.thread_init_cb = thread_init;
	o.arg            = &dummy;
	o.tls            = tls;
	return rpc_server_start(out, &o, err);
}

/*
 * tls_server starts a server on tls+tcp://127.0.0.1:0 (and on plain_url too
 * when not NULL) and writes the TLS URL, with the bound port, to url.
 */
static rpc_server *
tls_server(
    const rpc_tls_opts *tls, const char *plain_url, char *url, size_t url_size)
{
	const char *urls[2] = { "tls+tcp://127.0.0.1:0", plain_url };
	rpc_server *s       = NULL;
	tp_err      err;
	int         port;

	if (server_start(&s, urls, plain_url != NULL ? 2 : 1, tls, &err)
	    != TP_OK) {
		fail_msg("rpc_server_start: %s", err.msg);
	}
	/* NNG_OPT_TCP_BOUND_PORT works on a TLS listener too. */
	port = rpc_server_bound_port(s, 0);
	assert_true(port > 0);
	snprintf(url, url_size, "tls+tcp://127.0.0.1:%d", port);
	return s;
}

static rpc_tls_opts
server_tls(void)
{
	rpc_tls_opts o
	    = { .cert_file = pki.server_crt, .key_file = pki.server_key };

	return o;
}

static rpc_client *
client_open(const char *url, const rpc_tls_opts *tls)
{
	rpc_client     *c = NULL;
	rpc_client_opts o;
	tp_err          err;

	memset(&o, 0, sizeof(o));
	o.env        = ENV;
	o.timeout_ms = 5000;
	o.tls        = tls;
	if (rpc_client_open(&c, url, &o, &err) != TP_OK) {
		fail_msg("rpc_client_open %s: %s", url, err.msg);
	}
	return c;
}

/*
 * dump_stats prints nng's counters for every socket, dialer and listener
 * (to stdout), before a test fails on a connection: "auth" counts failed
 * handshakes, "accept"/"connect" the good ones.
 */
static void
dump_stats(void)
{
	nng_stat *st;

	if (nng_stats_get(&st) == 0) {
		fflush(stderr);
		printf("nng statistics at %lld ms:\n", th_now_ms());
		nng_stats_dump(st);
		fflush(stdout);
		nng_stats_free(st);
	}
}

static tp_status
get_task(rpc_client *c, int64_t id, dtp_v1_Reply *rep, tp_err *err)
{
	dtp_v1_Request req = dtp_v1_Request_init_zero;

	req.which_call       = dtp_v1_Request_get_task_tag;
	req.call.get_task.id = id;
	return rpc_client_call(c, &req, rep, NULL, err);
}

static void
assert_get_task_ok(rpc_client *c, int64_t id)
{
	dtp_v1_Reply rep;
	tp_err       err;
	tp_status    rc;
	char         p[64];

	rc = get_task(c, id, &rep, &err);
	if (rc != TP_OK) {
		dump_stats();
		fail_msg("GetTask %" PRId64 ": %s: %s", id, tp_status_name(rc),
		    err.msg);
	}
	assert_int_equal(rep.which_result, dtp_v1_Reply_get_task_tag);
	assert_int_equal(rep.result.get_task.id, id);
	snprintf(p, sizeof(p), "payload-%" PRId64, id);
	assert_string_equal(rep.result.get_task.payload, p);
	pb_release(ENV->rep_fields, &rep);
}

/*
 * served: a GetTask on c is answered OK. UNAVAILABLE is "not yet": the
 * client's connection may still be in its TLS handshake, or waiting for a
 * listener that pauses after each failed handshake (rpc/README.md).
 */
static bool
served(void *p)
{
	rpc_client  *c = p;
	dtp_v1_Reply rep;
	tp_err       err;
	tp_status    rc = get_task(c, 0, &rep, &err);

	if (rc == TP_OK) {
		pb_release(ENV->rep_fields, &rep);
		return true;
	}
	if (rc != TP_UNAVAILABLE) {
		fail_msg("GetTask: %s: %s", tp_status_name(rc), err.msg);
	}
	return false;
}

/* wait_served waits until c is served, then checks a call strictly. */
static void
wait_served(rpc_client *c, int64_t id)
{
	if (!th_poll_until(served, c, 10000)) {
		dump_stats();
		fail_msg("no GetTask answered OK within 10 s");
	}
	assert_get_task_ok(c, id);
}

static bool
is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		if (b[i] != 0) {
			return false;
		}
	}
	return true;
}

/*
 * assert_refused: calls on c fail UNAVAILABLE, without the handler ever
 * running or a reply being decoded. When hint is not NULL, a call's message
 * comes to contain it within a few seconds (nng counts a handshake only
 * once it has failed).
 */
typedef struct refused_arg {
	rpc_client *c;
	const char *hint;
} refused_arg;

static bool
refused_with_hint(void *p)
{
	refused_arg *a = p;
	dtp_v1_Reply rep;
	tp_err       err;
	tp_status    rc;

	memset(&rep, 0xa5, sizeof(rep));
	rc = get_task(a->c, 1, &rep, &err);
	if (rc != TP_UNAVAILABLE) {
		if (rc == TP_OK) {
			pb_release(ENV->rep_fields, &rep);
		}
		fail_msg("expected UNAVAILABLE, got %s: %s", tp_status_name(rc),
		    err.msg);
	}
	assert_true(is_zero(&rep, sizeof(rep)));
	assert_non_null(strstr(err.msg, "no connection"));
	if (a->hint != NULL && strstr(err.msg, a->hint) == NULL) {
		return false;
	}
	print_message("refused: %s\n", err.msg);
	return true;
}

static void
assert_refused(rpc_client *c, const char *hint)
{
	refused_arg a      = { .c = c, .hint = hint };
	int         before = atomic_load(&get_runs);

	if (!th_poll_until(refused_with_hint, &a, 10000)) {
		dump_stats();
		fail_msg("calls were not refused with \"%s\" within 10 s",
		    hint != NULL ? hint : "no connection");
	}
	assert_int_equal(atomic_load(&get_runs), before);
}

/* ---- tests ---- */

static void
test_rpc_tls_round_trip(void **state)
{
	rpc_tls_opts stls = server_tls();
	rpc_tls_opts ctls = { .ca_file = pki.ca_crt };
	rpc_server  *s;
	rpc_client  *c;
	char         url[128];
	char         plain[128];

	(void) state;
	/* One server on a TLS URL and a plain one: each works as itself. */
	s = tls_server(&stls, "tcp://127.0.0.1:0", url, sizeof(url));
	snprintf(plain, sizeof(plain), "tcp://127.0.0.1:%d",
	    rpc_server_bound_port(s, 1));
	c = client_open(url, &ctls);
	wait_served(c, 100);
	for (int i = 0; i < 50; i++) {
		assert_get_task_ok(c, i);
	}
	rpc_client_free(c);
	/* A plain URL ignores the client's TLS options. */
	c = client_open(plain, &ctls);
	wait_served(c, 7);
	rpc_client_free(c);

	/* The name checked can be another one the certificate holds. */
	ctls.server_name = "localhost";
	c                = client_open(url, &ctls);
	wait_served(c, 8);
	rpc_client_free(c);
	rpc_server_free(s);
}

static void
test_rpc_tls_wss_round_trip(void **state)
{
	const char  *urls[1] = { "wss://127.0.0.1:0/dtp" };
	rpc_tls_opts stls    = server_tls();
	rpc_tls_opts ctls    = { .ca_file = pki.ca_crt };
	rpc_server  *s       = NULL;
	rpc_client  *c;
	tp_err       err;
	char         url[128];

	(void) state;
	if (server_start(&s, urls, 1, &stls, &err) != TP_OK) {
		fail_msg("rpc_server_start: %s", err.msg);
	}
	assert_true(rpc_server_bound_port(s, 0) > 0);
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/dtp",
	    rpc_server_bound_port(s, 0));
	c = client_open(url, &ctls);
	wait_served(c, 3);
	rpc_client_free(c);
	/* Without TLS options, wss:// is refused as tls+tcp:// is. */
	assert_int_equal(
	    server_start(&s, urls, 1, NULL, &err), TP_INVALID_ARGUMENT);
	rpc_server_free(s);
}

static void
test_rpc_tls_untrusted_server_is_unavailable(void **state)
{
	rpc_tls_opts stls  = server_tls();
	rpc_tls_opts other = { .ca_file = pki.other_ca_crt };
	rpc_tls_opts misnamed
	    = { .ca_file = pki.ca_crt, .server_name = "db.example.com" };
	rpc_tls_opts good = { .ca_file = pki.ca_crt };
	rpc_server  *s;
	rpc_client  *c;
	char         url[128];

	(void) state;
	s = tls_server(&stls, NULL, url, sizeof(url));
	/* A client that trusts another CA never gets a reply decoded. */
	c = client_open(url, &other);
	assert_refused(c, "TLS handshakes failed");
	rpc_client_free(c);
	/* Nor one that expects another name. */
	c = client_open(url, &misnamed);
	assert_refused(c, "TLS handshakes failed");
	rpc_client_free(c);
	/* The server is unharmed. */
	c = client_open(url, &good);
	wait_served(c, 1);
	rpc_client_free(c);
	rpc_server_free(s);
}

/*
 * raw_garbage connects a plain TCP socket to port, sends an HTTP request,
 * and returns whether the server closed the connection (within 5 s).
 */
static bool
raw_garbage_is_closed(int port)
{
	static const char  req[] = "GET / HTTP/1.0\r\n\r\n";
	struct sockaddr_in sa;
	struct timeval     tv = { .tv_sec = 5 };
	char               buf[256];
	int                fd;
	ssize_t            n;
	bool               closed = false;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family      = AF_INET;
	sa.sin_port        = htons((uint16_t) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	assert_int_equal(
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), sizeof(req) - 1);
	/* A TLS alert may come first; then the end of the stream. */
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			closed = true;
			break;
		}
		if (n < 0) {
			break; /* timed out: the server kept it open */
		}
	}
	close(fd);
	return closed;
}

static void
test_rpc_tls_plain_client_fails_cleanly(void **state)
{
	rpc_tls_opts stls = server_tls();
	rpc_tls_opts ctls = { .ca_file = pki.ca_crt };
	rpc_server  *s;
	rpc_client  *c;
	char         url[128];
	char         plain[128];
	int          port;

	(void) state;
	s    = tls_server(&stls, NULL, url, sizeof(url));
	port = rpc_server_bound_port(s, 0);
	/* An nng client speaking plain SP to the TLS port. */
	snprintf(plain, sizeof(plain), "tcp://127.0.0.1:%d", port);
	c = client_open(plain, NULL);
	assert_refused(c, NULL);
	rpc_client_free(c);
	/* Anything else: the server hangs up. */
	assert_true(raw_garbage_is_closed(port));
	/* And keeps serving TLS clients. */
	c = client_open(url, &ctls);
	wait_served(c, 2);
	rpc_client_free(c);
	rpc_server_free(s);

	/* The other way round: a TLS client to a plain server. */
	{
		const char *urls[1] = { "tcp://127.0.0.1:0" };
		tp_err      err;

		assert_int_equal(server_start(&s, urls, 1, NULL, &err), TP_OK);
		snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d",
		    rpc_server_bound_port(s, 0));
		c = client_open(url, &ctls);
		assert_refused(c, NULL);
		rpc_client_free(c);
		rpc_server_free(s);
	}
}

static void
test_rpc_tls_mutual(void **state)
{
	rpc_tls_opts stls     = { .cert_file = pki.server_crt,
		    .key_file                = pki.server_key,
		    .ca_file                 = pki.ca_crt,
		    .require_client_cert     = true };
	rpc_tls_opts anon     = { .ca_file = pki.ca_crt };
	rpc_tls_opts stranger = { .ca_file = pki.ca_crt,
		.cert_file                 = pki.stranger_crt,
		.key_file                  = pki.stranger_key };
	rpc_tls_opts member   = { .ca_file = pki.ca_crt,
		  .cert_file               = pki.client_crt,
		  .key_file                = pki.client_key };
	rpc_server  *s;
	rpc_client  *c;
	char         url[128];

	(void) state;
	s = tls_server(&stls, NULL, url, sizeof(url));
	/* No certificate: refused. */
	c = client_open(url, &anon);
	assert_refused(c, NULL);
	rpc_client_free(c);
	/* A certificate from a CA the server does not trust: refused. */
	c = client_open(url, &stranger);
	assert_refused(c, NULL);
	rpc_client_free(c);
	/* A certificate from its CA: served. */
	c = client_open(url, &member);
	wait_served(c, 5);
	rpc_client_free(c);
	rpc_server_free(s);

	/* Without require_client_cert, the same server serves anyone. */
	stls.require_client_cert = false;
	s                        = tls_server(&stls, NULL, url, sizeof(url));
	c                        = client_open(url, &anon);
	wait_served(c, 6);
	rpc_client_free(c);
	rpc_server_free(s);
}

/* expect_server_refusal: the start fails INVALID_ARGUMENT naming want. */
static void
expect_server_refusal(const rpc_tls_opts *tls, const char *want)
{
	const char *urls[2] = { "tcp://127.0.0.1:0", "tls+tcp://127.0.0.1:0" };
	rpc_server *s       = NULL;
	tp_err      err;
	int         before = atomic_load(&inits);

	tp_err_clear(&err);
	assert_int_equal(
	    server_start(&s, urls, 2, tls, &err), TP_INVALID_ARGUMENT);
	assert_null(s);
	if (strstr(err.msg, want) == NULL) {
		fail_msg(
		    "server error \"%s\" does not name \"%s\"", err.msg, want);
	}
	/* Refused before any worker thread (database connection) began. */
	assert_int_equal(atomic_load(&inits), before);
}

/* expect_client_refusal: the open fails INVALID_ARGUMENT naming want. */
static void
expect_client_refusal(const rpc_tls_opts *tls, const char *want)
{
	rpc_client     *c = NULL;
	rpc_client_opts o;
	tp_err          err;

	memset(&o, 0, sizeof(o));
	o.env = ENV;
	o.tls = tls;
	tp_err_clear(&err);
	assert_int_equal(
	    rpc_client_open(
	        &c, "tcp://127.0.0.1:1, tls+tcp://127.0.0.1:2", &o, &err),
	    TP_INVALID_ARGUMENT);
	assert_null(c);
	if (strstr(err.msg, want) == NULL) {
		fail_msg(
		    "client error \"%s\" does not name \"%s\"", err.msg, want);
	}
}

static void
test_rpc_tls_bad_files_are_invalid_argument(void **state)
{
	rpc_tls_opts o;
	char         want[600];

	(void) state;
	/* Server. */
	expect_server_refusal(NULL, "needs TLS options");
	o = (rpc_tls_opts) { .cert_file = pki.server_crt };
	expect_server_refusal(&o, "needs a certificate file and a key file");
	o = (rpc_tls_opts) { .cert_file = pki.missing_pem,
		.key_file               = pki.server_key };
	snprintf(want, sizeof(want),
	    "could not read TLS certificate file \"%s\": No such file",
	    pki.missing_pem);
	expect_server_refusal(&o, want);
	o = (rpc_tls_opts) { .cert_file = pki.server_crt,
		.key_file               = pki.missing_pem };
	snprintf(want, sizeof(want), "TLS key file \"%s\"", pki.missing_pem);
	expect_server_refusal(&o, want);
	o = (rpc_tls_opts) { .cert_file = pki.garbage_pem,
		.key_file               = pki.server_key };
	snprintf(want, sizeof(want),
	    "could not load TLS certificate file \"%s\": not a PEM certificate",
	    pki.garbage_pem);
	expect_server_refusal(&o, want);
	/* A certificate where the key should be. */
	o = (rpc_tls_opts) { .cert_file = pki.server_crt,
		.key_file               = pki.server_crt };
	snprintf(want, sizeof(want), "could not load TLS key file \"%s\"",
	    pki.server_crt);
	expect_server_refusal(&o, want);
	o = (rpc_tls_opts) { .cert_file = pki.server_crt,
		.key_file               = pki.server_key,
		.ca_file                = pki.garbage_pem };
	snprintf(want, sizeof(want), "could not load TLS CA file \"%s\"",
	    pki.garbage_pem);
	expect_server_refusal(&o, want);
	o = (rpc_tls_opts) { .cert_file = pki.server_crt,
		.key_file               = pki.server_key,
		.require_client_cert    = true };
	expect_server_refusal(&o, "cannot require client certificates");
	/* A directory is not a file. */
	o = (rpc_tls_opts) { .cert_file = th_tmpdir(),
		.key_file               = pki.server_key };
	expect_server_refusal(&o, th_tmpdir());

	/* Client. */
	expect_client_refusal(NULL, "\"tls+tcp://127.0.0.1:2\" needs TLS");
	o = (rpc_tls_opts) { .server_name = "localhost" };
	expect_client_refusal(&o, "needs a CA file");
	o = (rpc_tls_opts) { .ca_file = pki.missing_pem };
	snprintf(want, sizeof(want), "could not read TLS CA file \"%s\"",
	    pki.missing_pem);
	expect_client_refusal(&o, want);
	o = (rpc_tls_opts) { .ca_file = pki.server_key };
	snprintf(want, sizeof(want), "could not load TLS CA file \"%s\"",
	    pki.server_key);
	expect_client_refusal(&o, want);
	o = (rpc_tls_opts) { .ca_file = pki.ca_crt,
		.cert_file            = pki.client_crt };
	expect_client_refusal(&o, "both a certificate file and a key file");
	o = (rpc_tls_opts) { .ca_file = pki.ca_crt,
		.cert_file            = pki.client_crt,
		.key_file             = pki.garbage_pem };
	snprintf(want, sizeof(want), "could not load TLS key file \"%s\"",
	    pki.garbage_pem);
	expect_client_refusal(&o, want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rpc_tls_round_trip),
		cmocka_unit_test(test_rpc_tls_wss_round_trip),
		cmocka_unit_test(test_rpc_tls_untrusted_server_is_unavailable),
		cmocka_unit_test(test_rpc_tls_plain_client_fails_cleanly),
		cmocka_unit_test(test_rpc_tls_mutual),
		cmocka_unit_test(test_rpc_tls_bad_files_are_invalid_argument),
	};
	int rc;

	if (!th_pki_make(&pki)) {
		return 1; /* th_pki_make said why */
	}
	/* RPC_TEST_FILTER=test_rpc_tls_mutual runs only the matching tests. */
	if (getenv("RPC_TEST_FILTER") != NULL) {
		cmocka_set_test_filter(getenv("RPC_TEST_FILTER"));
	}
	rc = cmocka_run_group_tests_name("rpc_tls", tests, NULL, NULL);
	return rc;
}
