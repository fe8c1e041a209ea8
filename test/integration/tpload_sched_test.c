/*
 * tpload_sched_test: the tpload binary against servers of the test's own.
 *
 * Open loop: operation i is due at t0 + i * 1e6 / rate and its latency
 * counts from that intended start, so a server that stalls shows up as
 * queueing latency for every operation scheduled during the stall. An
 * in-process RPC server (rpc/server.h, the dtp envelope, one thread) answers
 * GetTask at once, except the 50th call of a run, which it holds for 200 ms.
 * The same stall under a closed loop with one operation in flight touches a
 * single sample, which is what a closed-loop tool reports (coordinated
 * omission); the test checks both.
 *
 * REST: a tiny HTTP server closes its connection after every second
 * response, without saying so; tpload must reconnect and count every
 * request as answered.
 *
 * Against a real dtp (its own database): the asynchronous calls tpload
 * makes for create, get and cancel, including the create that prepares a
 * cancel or a first get, count exactly the operations asked for; the open
 * loop's --record gives each created task its intended start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "rpc/server.h"

#define STALL_CALL 50
#define STALL_MS   200

typedef struct stall_srv {
	rpc_server *s;
	char        url[64];
	atomic_int  calls; /* GetTask calls since the last reset */
} stall_srv;

static tp_status
h_get_task(void *tctx, const void *vreq, void *vrep, tp_err *err)
{
	stall_srv            *sv  = tctx;
	const dtp_v1_Request *req = vreq;
	dtp_v1_Reply         *rep = vrep;

	(void) err;
	if (atomic_fetch_add(&sv->calls, 1) + 1 == STALL_CALL) {
		struct timespec ts = { 0, STALL_MS * 1000L * 1000L };
		nanosleep(&ts, NULL);
	}
	rep->which_result           = dtp_v1_Reply_get_task_tag;
	rep->result.get_task.id     = req->call.get_task.id;
	rep->result.get_task.status = dtp_v1_TaskStatus_TASK_STATUS_PENDING;
	snprintf(rep->result.get_task.type, sizeof(rep->result.get_task.type),
	    "demo");
	return TP_OK;
}

static const rpc_handler_cb handlers[] = {
	[dtp_v1_Request_get_task_tag] = h_get_task,
};

static void *
thread_init(void *arg, int index, tp_err *err)
{
	(void) index;
	(void) err;
	return arg;
}

static void
stall_srv_start(stall_srv *sv)
{
	rpc_server_opts o;
	const char     *urls[1] = { "tcp://127.0.0.1:0" };
	tp_err          err;

	memset(sv, 0, sizeof(*sv));
	memset(&o, 0, sizeof(o));
	o.env           = &proto_dtp_envelope;
	o.urls          = urls;
	o.n_urls        = 1;
	o.threads       = 1; /* a stall holds up every call, as in a real one */
	o.max_msg_bytes = 1 << 20;
	o.drain_ms      = 1000;
	o.handlers      = handlers;
	o.thread_init_cb = thread_init;
	o.arg            = sv;
	if (rpc_server_start(&sv->s, &o, &err) != TP_OK) {
		fail_msg("rpc_server_start: %s", err.msg);
	}
	snprintf(sv->url, sizeof(sv->url), "tcp://127.0.0.1:%d",
	    rpc_server_bound_port(sv->s, 0));
}

static bool
proc_exited(void *arg)
{
	return !th_proc_alive(arg);
}

/*
 * run_tpload runs tpload with args (NULL-terminated, after the program
 * name) plus --json <tmp>/<name>.json, waits for it (up to 20 s), asserts
 * exit status 0 and returns the parsed summary (caller json_decref()s).
 */
static json_t *
run_tpload(const char *name, const char *const *args)
{
	char         json_path[512];
	char        *argv[40];
	int          n = 0;
	th_proc      p;
	json_t      *j;
	json_error_t jerr;

	snprintf(json_path, sizeof(json_path), "%s/%s.json", th_tmpdir(), name);
	argv[n++] = (char *) th_bin("tpload");
	for (; *args != NULL && n < 36; args++) {
		argv[n++] = (char *) *args;
	}
	argv[n++] = "--json";
	argv[n++] = json_path;
	argv[n]   = NULL;
	th_proc_start(&p, name, argv, NULL);
	if (!th_poll_until(proc_exited, &p, 20000)) {
		th_proc_kill(&p);
		th_proc_dump_log(&p);
		fail_msg("tpload %s did not finish within 20 s", name);
	}
	if (th_proc_exit_code(&p) != 0) {
		th_proc_dump_log(&p);
		fail_msg(
		    "tpload %s exited with %d", name, th_proc_exit_code(&p));
	}
	j = json_load_file(json_path, 0, &jerr);
	if (j == NULL) {
		th_proc_dump_log(&p);
		fail_msg("tpload %s: no JSON summary: %s", name, jerr.text);
	}
	return j;
}

static double
num(json_t *j, const char *outer, const char *key)
{
	json_t *o = outer != NULL ? json_object_get(j, outer) : j;
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v)) {
		fail_msg(
		    "summary has no number %s.%s", outer ? outer : "", key);
	}
	return json_number_value(v);
}

/* The summary adds up: ok plus the errors by status is every operation. */
static void
assert_adds_up(json_t *j)
{
	json_t     *by  = json_object_get(j, "errorsByStatus");
	double      sum = 0;
	const char *k;
	json_t     *v;

	assert_non_null(by);
	json_object_foreach(by, k, v)
	{
		sum += json_number_value(v);
	}
	assert_true(sum == num(j, NULL, "errors"));
	assert_true(num(j, "latency", "count") == num(j, NULL, "ok"));
}

static void
test_tpload_open_loop_shows_stall_as_queueing(void **state)
{
	stall_srv   sv;
	json_t     *j;
	double      count, p50, p99;
	const char *args[] = { "--target", "dtp", "--url", NULL, "--op", "get",
		"--ids", "1", "--rate", "200", "--duration", "2", "--warmup",
		"0", "--concurrency", "2", NULL };

	(void) state;
	stall_srv_start(&sv);
	args[3] = sv.url;
	j       = run_tpload("open", args);
	assert_adds_up(j);
	count = num(j, NULL, "ok") + num(j, NULL, "errors");
	p50   = num(j, "latency", "p50Ms");
	p99   = num(j, "latency", "p99Ms");
	print_message("open loop: %.0f ops, p50 %.3f ms, p99 %.3f ms, "
	              "max %.3f ms\n",
	    count, p50, p99, num(j, "latency", "maxMs"));
	/* rate * duration operations, whatever the server did meanwhile. */
	assert_true(count >= 380 && count <= 420);
	assert_true(num(j, NULL, "errors") == 0);
	assert_true(atomic_load(&sv.calls) >= STALL_CALL);
	/*
	 * The ~40 operations due during the stall queued behind it. Only two
	 * were in flight (--concurrency 2): measured from their actual start,
	 * the other ~38 would look instant and p99 would stay low.
	 */
	assert_true(p99 >= 150.0);
	assert_true(num(j, "latency", "maxMs") >= 180.0);
	/* The rest were served at once. */
	assert_true(p50 < 50.0);
	json_decref(j);
	rpc_server_free(sv.s);
}

static void
test_tpload_closed_loop_hides_stall(void **state)
{
	stall_srv   sv;
	json_t     *j;
	const char *args[] = { "--target", "dtp", "--url", NULL, "--op", "get",
		"--ids", "1", "--requests", "400", "--duration", "0",
		"--warmup", "0", "--concurrency", "1", NULL };

	(void) state;
	stall_srv_start(&sv);
	args[3] = sv.url;
	j       = run_tpload("closed", args);
	assert_adds_up(j);
	print_message("closed loop: %.0f ops, p99 %.3f ms, max %.3f ms\n",
	    num(j, NULL, "ok"), num(j, "latency", "p99Ms"),
	    num(j, "latency", "maxMs"));
	assert_true(num(j, NULL, "ok") == 400);
	/* One sample saw the stall; the percentiles do not. */
	assert_true(num(j, "latency", "maxMs") >= 180.0);
	assert_true(num(j, "latency", "p99Ms") < 150.0);
	json_decref(j);
	rpc_server_free(sv.s);
}

/* --- REST: a server that drops keep-alive connections ------------------- */

typedef struct http_srv {
	int        fd;
	int        port;
	pthread_t  thr;
	atomic_int answered;
	atomic_int connections;
} http_srv;

static void *
http_srv_main(void *arg)
{
	http_srv         *hs     = arg;
	static const char resp[] = "HTTP/1.1 200 OK\r\n"
	                           "Content-Type: application/json\r\n"
	                           "Content-Length: 33\r\n\r\n"
	                           "{\"id\":1,\"status\":\"PENDING\",\"x\":0}";
	for (;;) {
		int  c         = accept(hs->fd, NULL, NULL);
		char buf[4096] = "";
		int  served    = 0;

		if (c < 0) {
			return NULL; /* the listener was shut down */
		}
		atomic_fetch_add(&hs->connections, 1);
		/* Two requests, then close without "Connection: close". */
		while (served < 2) {
			size_t len = 0;
			while (strstr(buf, "\r\n\r\n") == NULL || len == 0) {
				ssize_t r = recv(
				    c, buf + len, sizeof(buf) - 1 - len, 0);
				if (r <= 0) {
					goto done;
				}
				len += (size_t) r;
				buf[len] = '\0';
			}
			if (send(c, resp, sizeof(resp) - 1, MSG_NOSIGNAL) < 0) {
				goto done;
			}
			atomic_fetch_add(&hs->answered, 1);
			served++;
			buf[0] = '\0';
		}
	done:
		close(c);
	}
}

static void
test_tpload_rest_reconnects_when_server_closes(void **state)
{
	http_srv           hs;
	struct sockaddr_in sa;
	socklen_t          len = sizeof(sa);
	char               url[64];
	json_t            *j;
	const char *args[] = { "--target", "rest", "--url", NULL, "--op", "get",
		"--ids", "1", "--requests", "200", "--duration", "0",
		"--warmup", "0", "--concurrency", "2", NULL };

	(void) state;
	memset(&hs, 0, sizeof(hs));
	memset(&sa, 0, sizeof(sa));
	hs.fd              = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_family      = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(hs.fd >= 0);
	assert_int_equal(bind(hs.fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	assert_int_equal(listen(hs.fd, 16), 0);
	assert_int_equal(getsockname(hs.fd, (struct sockaddr *) &sa, &len), 0);
	hs.port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&hs.thr, NULL, http_srv_main, &hs), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", hs.port);
	args[3] = url;
	j       = run_tpload("rest", args);
	assert_adds_up(j);
	print_message("rest: ok %.0f errors %.0f over %d connections\n",
	    num(j, NULL, "ok"), num(j, NULL, "errors"),
	    atomic_load(&hs.connections));
	assert_true(num(j, NULL, "ok") == 200);
	assert_true(num(j, NULL, "errors") == 0);
	/* Every connection served two requests: tpload reconnected. */
	assert_true(atomic_load(&hs.connections) >= 100);
	json_decref(j);
	shutdown(hs.fd, SHUT_RDWR);
	close(hs.fd);
	pthread_join(hs.thr, NULL);
}

/* --- a real dtp --------------------------------------------------------- */

static void
dtp_start(th_proc *p, char *url, size_t url_size)
{
	const char *db = th_db_create("tpload");
	char        env[4][600];
	char       *envp[5];
	char       *argv[] = { (char *) th_bin("dtp"), NULL };

	snprintf(url, url_size, "tcp://127.0.0.1:%d", th_free_port());
	snprintf(env[0], sizeof(env[0]), "DTP_LISTEN=%s", url);
	snprintf(env[1], sizeof(env[1]), "DTP_DATABASE_URL=%s", db);
	snprintf(env[2], sizeof(env[2]), "DTP_NODE_NAME=tpload-test");
	snprintf(env[3], sizeof(env[3]), "DTP_WORKERS=2");
	for (int i = 0; i < 4; i++) {
		envp[i] = env[i];
	}
	envp[4] = NULL;
	th_proc_start(p, "dtp", argv, envp);
	if (!th_wait_rpc_health("dtp", url, 30000)) {
		th_proc_dump_log(p);
		fail_msg("dtp did not answer Health");
	}
}

static void
dtp_stop(th_proc *p)
{
	int rc = th_proc_stop(p, 20000);

	if (rc != 0) {
		th_proc_dump_log(p);
	}
	th_db_drop();
	assert_int_equal(rc, 0);
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *) a, y = *(const long long *) b;

	return x < y ? -1 : x > y;
}

static void
test_tpload_async_against_dtp(void **state)
{
	th_proc     dtp;
	char        url[64], rec_path[512];
	json_t     *j;
	FILE       *f;
	long long   id, us, ids[400], times[400];
	int         n             = 0;
	const char *closed_args[] = { "--target", "dtp", "--url", NULL, "--mix",
		"create=40,get=30,cancel=30", "--requests", "600", "--duration",
		"0", "--warmup", "0", "--concurrency", "16", "--run-delay-ms",
		"3600000", NULL };
	const char *open_args[]   = { "--target", "dtp", "--url", NULL, "--op",
		  "create", "--rate", "200", "--duration", "1", "--warmup", "0",
		  "--concurrency", "4", "--run-delay-ms", "3600000", "--record",
		  NULL, NULL };

	(void) state;
	dtp_start(&dtp, url, sizeof(url));
	closed_args[3] = url;
	j              = run_tpload("dtp-closed", closed_args);
	assert_adds_up(j);
	print_message("dtp closed loop: ok %.0f errors %.0f p99 %.3f ms\n",
	    num(j, NULL, "ok"), num(j, NULL, "errors"),
	    num(j, "latency", "p99Ms"));
	assert_true(num(j, NULL, "ok") == 600);
	assert_true(num(j, NULL, "errors") == 0);
	json_decref(j);

	/* Operation i is due at i * 5 ms: 200 of them in the window. */
	th_tmp_path(rec_path, sizeof(rec_path), "dtp-open.rec");
	open_args[3]  = url;
	open_args[17] = rec_path;
	j             = run_tpload("dtp-open", open_args);
	assert_adds_up(j);
	assert_true(num(j, NULL, "ok") == 200);
	assert_true(num(j, NULL, "errors") == 0);
	assert_true(num(j, NULL, "unstarted") == 0);
	json_decref(j);
	f = fopen(rec_path, "r");
	assert_non_null(f);
	while (n < 400 && fscanf(f, "%lld %lld", &id, &us) == 2) {
		ids[n]   = id;
		times[n] = us;
		n++;
	}
	fclose(f);
	assert_int_equal(n, 200);
	qsort(ids, (size_t) n, sizeof(ids[0]), cmp_ll);
	qsort(times, (size_t) n, sizeof(times[0]), cmp_ll);
	for (int i = 0; i < n; i++) {
		assert_true(ids[i] > 0);
		assert_true(i == 0 || ids[i] != ids[i - 1]);
		/* Intended starts, not actual ones: exactly 5 ms apart. */
		assert_true(times[i] - times[0] == (long long) i * 5000);
	}
	dtp_stop(&dtp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tpload_open_loop_shows_stall_as_queueing),
		cmocka_unit_test(test_tpload_closed_loop_hides_stall),
		cmocka_unit_test(
		    test_tpload_rest_reconnects_when_server_closes),
		cmocka_unit_test(test_tpload_async_against_dtp),
	};

	return cmocka_run_group_tests_name("tpload_sched", tests, NULL, NULL);
}
