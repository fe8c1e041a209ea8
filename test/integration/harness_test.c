/*
 * harness_test.c: the harness every integration test stands on, tested:
 * per-test databases, child processes and their exit codes, the HTTP client
 * (Content-Length, chunked, close-delimited bodies) against a scripted
 * in-process server, and the RPC health wait against a real rpc_server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "db/conn.h"
#include "harness.h"
#include "rpc/server.h"

/* A scripted HTTP server: answers one connection with a canned reply. */
typedef struct http_script {
	int         listen_fd;
	int         port;
	const char *chunks[8]; /* written one by one, flushed in between */
	char        request[8192];
	size_t      request_len;
	pthread_t   thread;
} http_script;

static void *
http_script_main(void *arg)
{
	http_script *s  = arg;
	int          fd = accept(s->listen_fd, NULL, NULL);

	if (fd < 0) {
		return NULL;
	}
	/* Read the head and any Content-Length body. */
	for (;;) {
		ssize_t     n = recv(fd, s->request + s->request_len,
		        sizeof(s->request) - 1 - s->request_len, 0);
		const char *end;
		if (n <= 0) {
			break;
		}
		s->request_len += (size_t) n;
		s->request[s->request_len] = '\0';
		end                        = strstr(s->request, "\r\n\r\n");
		if (end != NULL) {
			const char *cl
			    = strcasestr(s->request, "Content-Length:");
			size_t want
			    = cl != NULL ? strtoul(cl + 15, NULL, 10) : 0;
			if (s->request_len
			    >= (size_t) (end + 4 - s->request) + want) {
				break;
			}
		}
	}
	for (int i = 0; i < 8 && s->chunks[i] != NULL; i++) {
		(void) send(
		    fd, s->chunks[i], strlen(s->chunks[i]), MSG_NOSIGNAL);
		/* Separate TCP segments for the parser, not synchronisation. */
		nanosleep(&(struct timespec) { 0, 2000000 }, NULL);
	}
	close(fd);
	return NULL;
}

static void
http_script_start(http_script *s)
{
	struct sockaddr_in sa  = { 0 };
	socklen_t          len = sizeof(sa);

	s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->listen_fd >= 0);
	sa.sin_family      = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(
	    bind(s->listen_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->listen_fd, 4), 0);
	assert_int_equal(
	    getsockname(s->listen_fd, (struct sockaddr *) &sa, &len), 0);
	s->port = ntohs(sa.sin_port);
	assert_int_equal(
	    pthread_create(&s->thread, NULL, http_script_main, s), 0);
}

static void
http_script_join(http_script *s)
{
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	close(s->listen_fd);
}

static void
test_harness_http_content_length(void **state)
{
	http_script  s = { .chunks = { "HTTP/1.1 201 Created\r\n"
		                        "Content-Type: application/json\r\n"
		                        "X-Odd-Case: yes  \r\n"
		                        "content-length: 9\r\n\r\n",
		               "{\"id\":", "42}" } };
	th_http_resp r;
	char         v[64];

	(void) state;
	http_script_start(&s);
	assert_int_equal(th_http(&r, s.port, "POST", "/tasks",
	                     "{\"type\":\"x\"}", "Authorization: Bearer t\r\n"),
	    201);
	http_script_join(&s);
	assert_int_equal(r.status, 201);
	assert_int_equal(r.body_len, 9);
	assert_string_equal(r.body, "{\"id\":42}");
	assert_true(th_http_header(&r, "content-type", v, sizeof(v)));
	assert_string_equal(v, "application/json");
	assert_true(th_http_header(&r, "X-ODD-CASE", v, sizeof(v)));
	assert_string_equal(v, "yes");
	assert_false(th_http_header(&r, "X-Missing", v, sizeof(v)));
	assert_non_null(strstr(r.headers, "HTTP/1.1 201 Created"));
	th_http_free(&r);
	th_http_free(&r);

	/* What went out: method, path, Host, the body with its length. */
	assert_non_null(strstr(s.request, "POST /tasks HTTP/1.1\r\n"));
	assert_non_null(strstr(s.request, "Host: 127.0.0.1:"));
	assert_non_null(strstr(s.request, "Connection: close\r\n"));
	assert_non_null(strstr(s.request, "Authorization: Bearer t\r\n"));
	assert_non_null(
	    strstr(s.request, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(s.request, "Content-Length: 12\r\n"));
	assert_non_null(strstr(s.request, "\r\n\r\n{\"type\":\"x\"}"));
}

static void
test_harness_http_chunked(void **state)
{
	http_script s
	    = { .chunks = { "HTTP/1.1 200 OK\r\n"
		            "Transfer-Encoding: chunked\r\n\r\n",
		    "5\r\nhello\r\n", "1;ext=1\r\n,\r\n", "6\r\n world\r\n",
		    "0\r\n", "X-Trailer: 1\r\n\r\n" } };
	th_http_resp r;

	(void) state;
	http_script_start(&s);
	assert_int_equal(th_http(&r, s.port, "GET", "/x", NULL, ""), 200);
	http_script_join(&s);
	assert_string_equal(r.body, "hello, world");
	assert_int_equal(r.body_len, 12);
	/* A GET without a body sends no Content-Length. */
	assert_null(strstr(s.request, "Content-Length"));
	th_http_free(&r);
}

static void
test_harness_http_close_delimited_and_errors(void **state)
{
	http_script s = { .chunks = { "HTTP/1.1 404 Not Found\r\n\r\n",
		              "no length, ends at close" } };
	http_script s2
	    = { .chunks = { "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n"
		            "\r\nshort" } };
	http_script  s3 = { .chunks = { "garbage\r\n\r\n" } };
	th_http_resp r;

	(void) state;
	http_script_start(&s);
	assert_int_equal(
	    th_http(&r, s.port, "PUT", "/a/cancel", NULL, ""), 404);
	http_script_join(&s);
	assert_string_equal(r.body, "no length, ends at close");
	/* A PUT without a body still says its length is 0. */
	assert_non_null(strstr(s.request, "Content-Length: 0\r\n"));
	th_http_free(&r);

	/* A body cut short, or no HTTP at all: status 0, nothing to free. */
	http_script_start(&s2);
	assert_int_equal(th_http(&r, s2.port, "GET", "/", NULL, ""), 0);
	http_script_join(&s2);
	assert_int_equal(r.status, 0);
	assert_null(r.body);
	http_script_start(&s3);
	assert_int_equal(th_http(&r, s3.port, "GET", "/", NULL, ""), 0);
	http_script_join(&s3);
	/* Nobody listening. */
	assert_int_equal(th_http(&r, th_free_port(), "GET", "/", NULL, ""), 0);
	assert_false(th_wait_http(th_free_port(), "/healthz", 100));
}

static bool
proc_done_cb(void *arg)
{
	return !th_proc_alive(arg);
}

static char *
slurp(const char *path)
{
	FILE *f   = fopen(path, "r");
	char *buf = calloc(1, 65536);

	assert_non_null(f);
	assert_non_null(buf);
	(void) fread(buf, 1, 65535, f);
	fclose(f);
	return buf;
}

/* log_says_ready_cb: the shell set its trap and said so. */
static bool
log_says_ready_cb(void *arg)
{
	const th_proc *p   = arg;
	char          *log = slurp(p->log_path);
	bool           ok  = strstr(log, "ready\n") != NULL;

	free(log);
	return ok;
}

static void
test_harness_proc_exit_codes_and_logs(void **state)
{
	th_proc p;
	char   *log;
	char   *sh_exit[] = { "/bin/sh", "-c",
		  "echo out; echo err >&2; echo \"x=$TP_HARNESS_X\"; exit 3",
		  NULL };
	char   *env[]     = { "TP_HARNESS_X=42", NULL };
	char   *sh_term[] = { "/bin/sh", "-c",
		  "trap 'exit 0' TERM; echo ready; "
		    "while :; do sleep 0.05; done",
		  NULL };
	char   *sh_stub[] = { "/bin/sh", "-c",
		  "trap '' TERM; echo ready; while :; do sleep 0.05; done",
		  NULL };

	(void) state;
	th_proc_start(&p, "exit3", sh_exit, env);
	assert_true(p.pid > 0);
	assert_true(th_poll_until(proc_done_cb, &p, 5000));
	assert_true(p.exited);
	assert_int_equal(th_proc_exit_code(&p), 3);
	assert_int_equal(th_proc_stop(&p, 100), 3);
	log = slurp(p.log_path);
	assert_non_null(strstr(log, "out\n"));
	assert_non_null(strstr(log, "err\n"));
	assert_non_null(strstr(log, "x=42\n"));
	free(log);

	/* A clean stop on SIGTERM is its exit status. */
	th_proc_start(&p, "term0", sh_term, NULL);
	assert_true(th_poll_until(log_says_ready_cb, &p, 5000));
	assert_true(th_proc_alive(&p));
	assert_int_equal(th_proc_exit_code(&p), -1);
	assert_int_equal(th_proc_stop(&p, 5000), 0);
	assert_false(th_proc_alive(&p));

	/* One that ignores SIGTERM is killed after the timeout: -1. */
	th_proc_start(&p, "stubborn", sh_stub, NULL);
	assert_true(th_poll_until(log_says_ready_cb, &p, 5000));
	assert_int_equal(th_proc_stop(&p, 300), -1);
	assert_false(th_proc_alive(&p));

	/* th_proc_kill, and a process killed by a signal is -1. */
	th_proc_start(&p, "killed", sh_term, NULL);
	th_proc_kill(&p);
	assert_false(th_proc_alive(&p));
	assert_int_equal(th_proc_exit_code(&p), -1);
	th_proc_kill(&p);
}

static bool
third_call_cb(void *arg)
{
	return ++*(int *) arg == 3;
}

static bool
never_cb(void *arg)
{
	(void) arg;
	return false;
}

static void
test_harness_ports_bins_and_polling(void **state)
{
	int         calls;
	int         a = th_free_port();
	int         b = th_free_port();
	const char *x;
	long long   t0;

	(void) state;
	assert_true(a > 0 && b > 0);
	assert_int_not_equal(a, b);
	x = th_bin("tpmigrate");
	assert_non_null(strstr(th_bin("dtp"), "/dtp"));
	assert_ptr_equal(x, th_bin("tpmigrate"));
	assert_non_null(strstr(x, "/tpmigrate"));
	assert_true(access(th_tmpdir(), W_OK) == 0);
	assert_string_equal(th_tmpdir(), th_tmpdir());

	calls = 0;
	assert_true(th_poll_until(third_call_cb, &calls, 5000));
	assert_int_equal(calls, 3);
	t0 = th_now_ms();
	assert_false(th_poll_until(never_cb, NULL, 50));
	assert_true(th_now_ms() - t0 >= 50);
	assert_true(th_now_ms() - t0 < 1000);
}

static void
test_harness_db_create_and_drop(void **state)
{
	const char *url  = th_db_create("Harness-Self Test!");
	db_conn    *c    = NULL;
	db_conn    *a    = NULL;
	db_rows    *rows = NULL;
	tp_err      err  = { 0 };
	char        name[64];
	const char *params[1] = { name };

	(void) state;
	assert_non_null(url);
	assert_string_equal(url, th_db_url());
	snprintf(name, sizeof(name), "%s", th_db_name());
	/* t_<name cleaned to [a-z0-9_]>_<pid> */
	assert_int_equal(strncmp(name, "t_harness_self_test__", 21), 0);
	assert_int_equal(db_conn_open(&c, url, &err), TP_OK);
	assert_int_equal(db_exec(c, &rows,
	                     "SELECT current_database(), "
	                     "to_regclass('dtp.task') IS NOT NULL, "
	                     "to_regclass('pilot.web_task') IS NOT NULL",
	                     0, NULL, &err),
	    TP_OK);
	assert_string_equal(db_rows_get(rows, 0, 0), name);
	assert_true(db_rows_bool(rows, 0, 1));
	assert_true(db_rows_bool(rows, 0, 2));
	db_rows_free(rows);

	/* Dropping works with a session still open on it. */
	th_db_drop();
	assert_null(th_db_url());
	assert_int_equal(db_conn_open(&a, th_pg_url(), &err), TP_OK);
	rows = NULL;
	assert_int_equal(
	    db_exec(a, &rows,
	        "SELECT count(*) FROM pg_database WHERE datname = $1", 1,
	        params, &err),
	    TP_OK);
	assert_int_equal(db_rows_int64(rows, 0, 0), 0);
	db_rows_free(rows);
	db_conn_free(a);
	db_conn_free(c);
}

static tp_status
health_ok_cb(void *ctx, const void *req, void *rep, tp_err *err)
{
	dtp_v1_Reply *r = rep;

	(void) ctx;
	(void) req;
	(void) err;
	r->which_result = dtp_v1_Reply_health_tag;
	snprintf(
	    r->result.health.service, sizeof(r->result.health.service), "dtp");
	return TP_OK;
}

static tp_status
health_down_cb(void *ctx, const void *req, void *rep, tp_err *err)
{
	(void) ctx;
	(void) req;
	(void) rep;
	return tp_err_set(err, TP_UNAVAILABLE, "not yet");
}

static void
test_harness_wait_rpc_health(void **state)
{
	rpc_handler_cb  handlers[PROTO_DTP_MAX_CALL + 1] = { 0 };
	char            url[64];
	const char     *urls[1] = { url };
	rpc_server_opts opts    = { 0 };
	rpc_server     *srv     = NULL;
	tp_err          err     = { 0 };
	long long       t0;

	(void) state;
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", th_free_port());
	/* Nobody there: false at the deadline, not much later. */
	t0 = th_now_ms();
	assert_false(th_wait_rpc_health("dtp", url, 300));
	assert_true(th_now_ms() - t0 < 3000);

	opts.env                            = &proto_dtp_envelope;
	opts.urls                           = urls;
	opts.n_urls                         = 1;
	opts.threads                        = 1;
	opts.drain_ms                       = 100;
	opts.handlers                       = handlers;
	handlers[dtp_v1_Request_health_tag] = health_down_cb;
	assert_int_equal(rpc_server_start(&srv, &opts, &err), TP_OK);
	assert_false(th_wait_rpc_health("dtp", url, 300));
	rpc_server_free(srv);

	handlers[dtp_v1_Request_health_tag] = health_ok_cb;
	srv                                 = NULL;
	assert_int_equal(rpc_server_start(&srv, &opts, &err), TP_OK);
	assert_true(th_wait_rpc_health("dtp", url, 5000));
	rpc_server_free(srv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_harness_http_content_length),
		cmocka_unit_test(test_harness_http_chunked),
		cmocka_unit_test(test_harness_http_close_delimited_and_errors),
		cmocka_unit_test(test_harness_proc_exit_codes_and_logs),
		cmocka_unit_test(test_harness_ports_bins_and_polling),
		cmocka_unit_test(test_harness_db_create_and_drop),
		cmocka_unit_test(test_harness_wait_rpc_health),
	};
	return cmocka_run_group_tests_name("harness", tests, NULL, NULL);
}
