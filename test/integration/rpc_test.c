/*
 * rpc_test.c: the RPC server and client over real sockets (tcp, ipc,
 * inproc), with a test handler table on the DTP envelope: round trips,
 * concurrency, deadlines, bad input, UNAVAILABLE versus DEADLINE_EXCEEDED,
 * retries, the asynchronous API, several servers, and shutdown. Needs no
 * database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include "common/clock.h"
#include "common/mem.h"
#include "rpc/client.h"
#include "rpc/server.h"

static const proto_envelope *const ENV = &proto_dtp_envelope;

/* ---- the test service ---- */

typedef struct srv {
	rpc_server *s;
	char        url[512];
	char        node[32];
	atomic_int  served; /* Health and GetTask calls answered */
	atomic_int  inits;
	atomic_int  finis;
} srv;

static atomic_int get_runs;     /* GetTask handler runs */
static atomic_int create_runs;  /* CreateTask handler runs */
static atomic_int flaky_left;   /* CreateTask "flaky": UNAVAILABLE this often */
static atomic_int gate_waiting; /* CancelTask handlers waiting on the gate */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  gate_cv = PTHREAD_COND_INITIALIZER;
static bool            gate_open; /* guarded by gate_mu */

static char tmpdir[256];

static void
gate_set(bool open)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = open;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static tp_status
h_get_task(void *tctx, const void *vreq, void *vrep, tp_err *err)
{
	srv                  *sv  = tctx;
	const dtp_v1_Request *req = vreq;
	dtp_v1_Reply         *rep = vrep;
	dtp_v1_Task          *t   = &rep->result.get_task;
	char                  p[64];

	atomic_fetch_add(&get_runs, 1);
	atomic_fetch_add(&sv->served, 1);
	rep->which_result = dtp_v1_Reply_get_task_tag;
	t->id             = req->call.get_task.id;
	snprintf(p, sizeof(p), "payload-%" PRId64, t->id);
	t->payload = tp_xstrdup(p); /* released by the server, on every path */
	snprintf(t->locked_by, sizeof(t->locked_by), "%s", sv->node);
	if (t->id < 0) {
		return tp_err_set(err, TP_NOT_FOUND,
		    "task %" PRId64 " not found", req->call.get_task.id);
	}
	return TP_OK;
}

/* CancelTask waits until the gate opens (at most 10 s), then echoes the id. */
static tp_status
h_cancel_task(void *tctx, const void *vreq, void *vrep, tp_err *err)
{
	const dtp_v1_Request *req   = vreq;
	dtp_v1_Reply         *rep   = vrep;
	int64_t               until = tp_clock_mono_ms() + 10000;

	(void) tctx;
	(void) err;
	atomic_fetch_add(&gate_waiting, 1);
	pthread_mutex_lock(&gate_mu);
	while (!gate_open && tp_clock_mono_ms() < until) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&gate_cv, &gate_mu, &ts);
	}
	pthread_mutex_unlock(&gate_mu);
	atomic_fetch_sub(&gate_waiting, 1);
	rep->which_result          = dtp_v1_Reply_cancel_task_tag;
	rep->result.cancel_task.id = req->call.cancel_task.id;
	return TP_OK;
}

/* CreateTask: "flaky" fails UNAVAILABLE flaky_left times; "big" answers a
 * 200 KiB payload. */
static tp_status
h_create_task(void *tctx, const void *vreq, void *vrep, tp_err *err)
{
	const dtp_v1_Request *req = vreq;
	dtp_v1_Reply         *rep = vrep;

	(void) tctx;
	atomic_fetch_add(&create_runs, 1);
	if (strcmp(req->call.create_task.type, "flaky") == 0
	    && atomic_fetch_sub(&flaky_left, 1) > 0) {
		return tp_err_set(err, TP_UNAVAILABLE, "database unavailable");
	}
	rep->which_result                = dtp_v1_Reply_create_task_tag;
	rep->result.create_task.has_task = true;
	rep->result.create_task.task.id  = 1;
	snprintf(rep->result.create_task.task.type,
	    sizeof(rep->result.create_task.task.type), "%s",
	    req->call.create_task.type);
	if (strcmp(req->call.create_task.type, "big") == 0) {
		char *p = tp_xmalloc(200 * 1024 + 1);

		memset(p, 'z', 200 * 1024);
		p[200 * 1024]                        = '\0';
		rep->result.create_task.task.payload = p;
	} else if (req->call.create_task.payload != NULL) {
		rep->result.create_task.task.payload
		    = tp_xstrdup(req->call.create_task.payload);
	}
	return TP_OK;
}

static tp_status
h_list_tasks(void *tctx, const void *vreq, void *vrep, tp_err *err)
{
	dtp_v1_Reply *rep = vrep;

	(void) tctx;
	(void) vreq;
	(void) err;
	rep->which_result                  = dtp_v1_Reply_list_tasks_tag;
	rep->result.list_tasks.tasks       = tp_xcalloc(3, sizeof(dtp_v1_Task));
	rep->result.list_tasks.tasks_count = 3;
	for (int i = 0; i < 3; i++) {
		rep->result.list_tasks.tasks[i].id      = i + 1;
		rep->result.list_tasks.tasks[i].payload = tp_xstrdup("{}");
	}
	return TP_OK;
}

static tp_status
h_health(void *tctx, const void *vreq, void *vrep, tp_err *err)
{
	srv          *sv  = tctx;
	dtp_v1_Reply *rep = vrep;

	(void) vreq;
	(void) err;
	atomic_fetch_add(&sv->served, 1);
	rep->which_result = dtp_v1_Reply_health_tag;
	snprintf(rep->result.health.service, sizeof(rep->result.health.service),
	    "dtp");
	snprintf(rep->result.health.node, sizeof(rep->result.health.node), "%s",
	    sv->node);
	return TP_OK;
}

/* Indexed by call tag; ListTasks is left out in the "partial" table. */
static const rpc_handler_cb handlers[] = {
	[dtp_v1_Request_create_task_tag] = h_create_task,
	[dtp_v1_Request_get_task_tag]    = h_get_task,
	[dtp_v1_Request_cancel_task_tag] = h_cancel_task,
	[dtp_v1_Request_list_tasks_tag]  = h_list_tasks,
	[dtp_v1_Request_health_tag]      = h_health,
};

static const rpc_handler_cb partial_handlers[] = {
	[dtp_v1_Request_get_task_tag]   = h_get_task,
	[dtp_v1_Request_health_tag]     = h_health,
	[dtp_v1_Request_list_tasks_tag] = NULL,
};

static void *
thread_init(void *arg, int index, tp_err *err)
{
	srv *sv = arg;

	(void) index;
	(void) err;
	atomic_fetch_add(&sv->inits, 1);
	return sv;
}

static void
thread_fini(void *arg, void *thread_ctx)
{
	srv *sv = arg;

	assert_ptr_equal(thread_ctx, sv);
	atomic_fetch_add(&sv->finis, 1);
}

static void
srv_start_with(srv *sv, const char *url, const char *node, int threads,
    size_t max_msg_bytes, const rpc_handler_cb *table)
{
	rpc_server_opts o;
	const char     *urls[1] = { url };
	tp_err          err;
	tp_status       rc;

	memset(sv, 0, sizeof(*sv));
	snprintf(sv->node, sizeof(sv->node), "%s", node);
	memset(&o, 0, sizeof(o));
	o.env            = ENV;
	o.urls           = urls;
	o.n_urls         = 1;
	o.threads        = threads;
	o.max_msg_bytes  = max_msg_bytes;
	o.drain_ms       = 5000;
	o.handlers       = table;
	o.thread_init_cb = thread_init;
	o.thread_fini_cb = thread_fini;
	o.arg            = sv;
	rc               = rpc_server_start(&sv->s, &o, &err);
	if (rc != TP_OK) {
		fail_msg("rpc_server_start %s: %s", url, err.msg);
	}
	assert_int_equal(atomic_load(&sv->inits), threads);
	if (strncmp(url, "tcp://", 6) == 0) {
		int port = rpc_server_bound_port(sv->s, 0);

		assert_true(port > 0);
		snprintf(sv->url, sizeof(sv->url), "tcp://127.0.0.1:%d", port);
	} else {
		assert_int_equal(rpc_server_bound_port(sv->s, 0), 0);
		snprintf(sv->url, sizeof(sv->url), "%s", url);
	}
}

static void
srv_start(srv *sv, const char *url, const char *node, int threads)
{
	srv_start_with(sv, url, node, threads, 0, handlers);
}

static void
srv_stop(srv *sv)
{
	int threads = atomic_load(&sv->inits);

	rpc_server_free(sv->s);
	sv->s = NULL;
	assert_int_equal(atomic_load(&sv->finis), threads);
}

static rpc_client *
client_open(const char *urls, int timeout_ms)
{
	rpc_client     *c = NULL;
	rpc_client_opts o;
	tp_err          err;

	memset(&o, 0, sizeof(o));
	o.env        = ENV;
	o.timeout_ms = timeout_ms;
	if (rpc_client_open(&c, urls, &o, &err) != TP_OK) {
		fail_msg("rpc_client_open %s: %s", urls, err.msg);
	}
	return c;
}

static tp_status
get_task(rpc_client *c, int64_t id, dtp_v1_Reply *rep, const rpc_call_opts *co,
    tp_err *err)
{
	dtp_v1_Request req = dtp_v1_Request_init_zero;

	req.which_call       = dtp_v1_Request_get_task_tag;
	req.call.get_task.id = id;
	return rpc_client_call(c, &req, rep, co, err);
}

static void
assert_get_task_ok(rpc_client *c, int64_t id, const char *node)
{
	dtp_v1_Reply rep;
	tp_err       err;
	tp_status    rc;
	char         p[64];

	rc = get_task(c, id, &rep, NULL, &err);
	if (rc != TP_OK) {
		fail_msg("GetTask %" PRId64 ": %s: %s", id, tp_status_name(rc),
		    err.msg);
	}
	assert_int_equal(rep.which_result, dtp_v1_Reply_get_task_tag);
	assert_int_equal(rep.result.get_task.id, id);
	snprintf(p, sizeof(p), "payload-%" PRId64, id);
	assert_non_null(rep.result.get_task.payload);
	assert_string_equal(rep.result.get_task.payload, p);
	if (node != NULL) {
		assert_string_equal(rep.result.get_task.locked_by, node);
	}
	pb_release(ENV->rep_fields, &rep);
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

/* A port on 127.0.0.1 where nothing listens (bound by nng, then closed). */
static int
dead_port(void)
{
	nng_socket   s;
	nng_listener l;
	int          port = 0;

	assert_int_equal(nng_rep0_open(&s), 0);
	assert_int_equal(nng_listen(s, "tcp://127.0.0.1:0", &l, 0), 0);
	assert_int_equal(
	    nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port), 0);
	assert_int_equal(nng_close(s), 0);
	return port;
}

/* poll_until: pred(arg) every 2 ms until true or timeout_ms passes. */
static bool
poll_until(bool (*pred)(void *), void *arg, int timeout_ms)
{
	int64_t until = tp_clock_mono_ms() + timeout_ms;

	for (;;) {
		if (pred(arg)) {
			return true;
		}
		if (tp_clock_mono_ms() >= until) {
			return false;
		}
		nng_msleep(2);
	}
}

static bool
server_idle(void *arg)
{
	return rpc_server_in_flight(arg) == 0;
}

static bool
gate_has_waiter(void *arg)
{
	return atomic_load(&gate_waiting) >= *(int *) arg;
}

/* ---- a raw req0 peer, to send bytes our client never would ---- */

static nng_socket
raw_open(const char *url)
{
	nng_socket s;

	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, 0), 0);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	return s;
}

/* raw_call sends bytes and decodes the reply into rep; returns its code. */
static int
raw_call(nng_socket s, const void *bytes, size_t n, dtp_v1_Reply *rep)
{
	void        *buf = NULL;
	size_t       sz  = 0;
	pb_istream_t is;

	assert_int_equal(nng_send(s, (void *) bytes, n, 0), 0);
	assert_int_equal(nng_recv(s, &buf, &sz, NNG_FLAG_ALLOC), 0);
	memset(rep, 0, sizeof(*rep));
	is = pb_istream_from_buffer(buf, sz);
	assert_true(pb_decode(&is, dtp_v1_Reply_fields, rep));
	nng_free(buf, sz);
	assert_true(rep->has_status);
	return rep->status.code;
}

static size_t
encode_req(uint8_t *buf, size_t size, const dtp_v1_Request *req)
{
	pb_ostream_t os = pb_ostream_from_buffer(buf, size);

	assert_true(pb_encode(&os, dtp_v1_Request_fields, req));
	return os.bytes_written;
}

/* ---- tests ---- */

static void
round_trip(const char *url)
{
	srv            sv;
	rpc_client    *c;
	dtp_v1_Reply   rep;
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	tp_err         err;

	srv_start(&sv, url, "n1", 2);
	c = client_open(sv.url, 5000);
	assert_get_task_ok(c, 42, "n1");
	assert_get_task_ok(c, 0, "n1");
	assert_get_task_ok(c, INT64_MAX, "n1");

	/* A list reply with heap strings in a heap array. */
	req.which_call = dtp_v1_Request_list_tasks_tag;
	assert_int_equal(rpc_client_call(c, &req, &rep, NULL, &err), TP_OK);
	assert_int_equal(rep.result.list_tasks.tasks_count, 3);
	assert_int_equal(rep.result.list_tasks.tasks[2].id, 3);
	assert_string_equal(rep.result.list_tasks.tasks[2].payload, "{}");
	pb_release(ENV->rep_fields, &rep);

	/* The request's deadline_ms was set from the timeout. */
	assert_true(req.deadline_ms > tp_clock_unix_ms());
	assert_true(req.deadline_ms <= tp_clock_unix_ms() + 5000);

	rpc_client_free(c);
	srv_stop(&sv);
}

static void
test_rpc_round_trip_tcp(void **state)
{
	(void) state;
	round_trip("tcp://127.0.0.1:0");
}

static void
test_rpc_round_trip_ipc(void **state)
{
	char url[512];

	(void) state;
	snprintf(url, sizeof(url), "ipc://%s/rpc.sock", tmpdir);
	round_trip(url);
}

static void
test_rpc_round_trip_inproc(void **state)
{
	char url[128];

	(void) state;
	snprintf(url, sizeof(url), "inproc://rpc-test-%d", (int) getpid());
	round_trip(url);
}

static void
test_rpc_server_status_reaches_client(void **state)
{
	srv          sv;
	rpc_client  *c;
	dtp_v1_Reply rep;
	tp_err       err;

	(void) state;
	srv_start(&sv, "tcp://127.0.0.1:0", "n1", 1);
	c = client_open(sv.url, 5000);
	memset(&rep, 0xa5, sizeof(rep));
	assert_int_equal(get_task(c, -7, &rep, NULL, &err), TP_NOT_FOUND);
	assert_int_equal(err.code, TP_NOT_FOUND);
	assert_string_equal(err.msg, "task -7 not found");
	/* Nothing to release: the reply is zeroed. */
	assert_true(is_zero(&rep, sizeof(rep)));
	rpc_client_free(c);
	srv_stop(&sv);
}

typedef struct load_arg {
	rpc_client *c;
	int         base;
	int         n;
	int         ok;
} load_arg;

static void *
load_main(void *p)
{
	load_arg *a = p;

	for (int i = 0; i < a->n; i++) {
		dtp_v1_Reply rep;
		tp_err       err;
		int64_t      id = (int64_t) a->base + i;

		if (get_task(a->c, id, &rep, NULL, &err) == TP_OK
		    && rep.result.get_task.id == id
		    && rep.result.get_task.payload != NULL) {
			char p2[64];

			snprintf(p2, sizeof(p2), "payload-%" PRId64, id);
			if (strcmp(rep.result.get_task.payload, p2) == 0) {
				a->ok++;
			}
		}
		pb_release(ENV->rep_fields, &rep);
	}
	return NULL;
}

static void
test_rpc_many_calls_in_flight(void **state)
{
	enum { THREADS = 8, CALLS = 500 };
	srv         sv;
	rpc_client *c;
	pthread_t   th[THREADS];
	load_arg    a[THREADS];
	int         before = atomic_load(&get_runs);
	int         total  = 0;

	(void) state;
	srv_start(&sv, "tcp://127.0.0.1:0", "n1", 4);
	c = client_open(sv.url, 20000);
	for (int i = 0; i < THREADS; i++) {
		a[i] = (load_arg) { .c = c, .base = i * 100000, .n = CALLS };
		assert_int_equal(
		    pthread_create(&th[i], NULL, load_main, &a[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		total += a[i].ok;
	}
	assert_int_equal(total, THREADS * CALLS);
	assert_int_equal(atomic_load(&get_runs) - before, THREADS * CALLS);
	/* A worker counts a call done once its send returns: poll. */
	assert_true(poll_until(server_idle, sv.s, 5000));
	rpc_client_free(c);
	srv_stop(&sv);
}

static void
test_rpc_deadline_exceeded_when_handler_is_slow(void **state)
{
	srv            sv;
	rpc_client    *c;
	dtp_v1_Reply   rep;
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	rpc_call_opts  co  = { .timeout_ms = 200 };
	tp_err         err;
	int64_t        t0;
	int            one = 1;

	(void) state;
	gate_set(false);
	srv_start(&sv, "tcp://127.0.0.1:0", "n1", 2);
	c                       = client_open(sv.url, 5000);
	req.which_call          = dtp_v1_Request_cancel_task_tag;
	req.call.cancel_task.id = 5;
	t0                      = tp_clock_mono_ms();
	assert_int_equal(
	    rpc_client_call(c, &req, &rep, &co, &err), TP_DEADLINE_EXCEEDED);
	assert_true(tp_clock_mono_ms() - t0 >= 190);
	assert_true(tp_clock_mono_ms() - t0 < 2000);
	assert_non_null(strstr(err.msg, "within 200 ms"));
	assert_true(is_zero(&rep, sizeof(rep)));
	/* The handler was running all along. */
	assert_true(poll_until(gate_has_waiter, &one, 5000));
	gate_set(true);
	/*
	 * Its late reply is dropped by the client. Once the server has sent
	 * it, one more call on the same connection makes sure it has arrived
	 * before the client closes (nng 1.5.2 can hang closing a socket
	 * while a message arrives, nng issue #1543; rpc/README.md).
	 */
	assert_true(poll_until(server_idle, sv.s, 5000));
	assert_get_task_ok(c, 6, "n1");
	rpc_client_free(c);
	srv_stop(&sv);
}

static void
test_rpc_past_deadline_is_not_handled(void **state)
{
	srv            sv;
	nng_socket     raw;
	uint8_t        buf[256];
	size_t         n;
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	dtp_v1_Reply   rep;
	int            before;

	(void) state;
	srv_start(&sv, "tcp://127.0.0.1:0", "n1", 2);
	raw                  = raw_open(sv.url);
	req.which_call       = dtp_v1_Request_get_task_tag;
	req.call.get_task.id = 9;

	before          = atomic_load(&get_runs);
	req.deadline_ms = tp_clock_unix_ms() - 1;
	n               = encode_req(buf, sizeof(buf), &req);
	assert_int_equal(raw_call(raw, buf, n, &rep), TP_DEADLINE_EXCEEDED);
	assert_non_null(strstr(rep.status.message, "GetTask"));
	assert_int_equal(rep.which_result, 0);
	assert_int_equal(atomic_load(&get_runs), before);

	/* No deadline at all: handled. */
	req.deadline_ms = 0;
	n               = encode_req(buf, sizeof(buf), &req);
	assert_int_equal(raw_call(raw, buf, n, &rep), TP_OK);
	assert_int_equal(rep.result.get_task.id, 9);
	pb_release(dtp_v1_Reply_fields, &rep);
	assert_int_equal(atomic_load(&get_runs), before + 1);

	assert_int_equal(nng_close(raw), 0);
	srv_stop(&sv);
}

static void
test_rpc_bad_input_gets_a_clean_error(void **state)
{
	static const uint8_t garbage[]   = { 0xff, 0xff, 0xff, 0xff, 0x0f };
	static const uint8_t truncated[] = { 0x1a, 0x10, 0x08 };
	/* Request { create_task { type: 65 x 'a' } } */
	uint8_t longtype[80] = { 0x12, 67, 0x0a, 65 };
	/* Request { field 15: varint 1 }: an unknown field, no call. */
	static const uint8_t unknown[] = { 0x78, 0x01 };
	srv                  sv;
	nng_socket           raw;
	dtp_v1_Reply         rep;
	rpc_client          *c;

	(void) state;
	memset(longtype + 4, 'a', 65);
	srv_start(&sv, "tcp://127.0.0.1:0", "n1", 2);
	raw = raw_open(sv.url);

	assert_int_equal(
	    raw_call(raw, garbage, sizeof(garbage), &rep), TP_INVALID_ARGUMENT);
	assert_true(
	    strncmp(rep.status.message, "could not decode request: ", 26) == 0);
	assert_int_equal(raw_call(raw, truncated, sizeof(truncated), &rep),
	    TP_INVALID_ARGUMENT);
	assert_int_equal(
	    raw_call(raw, longtype, 69, &rep), TP_INVALID_ARGUMENT);
	assert_int_equal(raw_call(raw, "", 0, &rep), TP_UNIMPLEMENTED);
	assert_string_equal(rep.status.message, "request has no call");
	assert_int_equal(
	    raw_call(raw, unknown, sizeof(unknown), &rep), TP_UNIMPLEMENTED);

	/* The server keeps serving, on the same connection and on others. */
	{
		dtp_v1_Request req = dtp_v1_Request_init_zero;
		uint8_t        buf[64];

		req.which_call       = dtp_v1_Request_get_task_tag;
		req.call.get_task.id = 3;
		assert_int_equal(raw_call(raw, buf,
		                     encode_req(buf, sizeof(buf), &req), &rep),
		    TP_OK);
		pb_release(dtp_v1_Reply_fields, &rep);
	}
	c = client_open(sv.url, 5000);
	assert_get_task_ok(c, 4, "n1");
	rpc_client_free(c);
	assert_int_equal(nng_close(raw), 0);
	srv_stop(&sv);
}

static void
test_rpc_unimplemented_call(void **state)
{
	srv            sv;
	rpc_client    *c;
	dtp_v1_Reply   rep;
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	tp_err         err;

	(void) state;
	srv_start_with(&sv, "tcp://127.0.0.1:0", "n1", 1, 0, partial_handlers);
	c              = client_open(sv.url, 5000);
	req.which_call = dtp_v1_Request_list_tasks_tag;
	assert_int_equal(
	    rpc_client_call(c, &req, &rep, NULL, &err), TP_UNIMPLEMENTED);
	assert_non_null(strstr(err.msg, "not implemented"));
	/* A request with no call at all (the client does not check). */
	memset(&req, 0, sizeof(req));
	assert_int_equal(
	    rpc_client_call(c, &req, &rep, NULL, &err), TP_UNIMPLEMENTED);
	assert_get_task_ok(c, 1, "n1");
	rpc_client_free(c);
	srv_stop(&sv);
}

static void
test_rpc_reply_over_limit_is_resource_exhausted(void **state)
{
	srv            sv;
	rpc_client    *c;
	dtp_v1_Reply   rep;
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	tp_err         err;

	(void) state;
	srv_start_with(&sv, "tcp://127.0.0.1:0", "n1", 1, 64 * 1024, handlers);
	c              = client_open(sv.url, 5000);
	req.which_call = dtp_v1_Request_create_task_tag;
	strcpy(req.call.create_task.type, "big");
	assert_int_equal(
	    rpc_client_call(c, &req, &rep, NULL, &err), TP_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(err.msg, "exceeds the message limit"));
	assert_true(is_zero(&rep, sizeof(rep)));
	assert_get_task_ok(c, 2, "n1");
	rpc_client_free(c);
	srv_stop(&sv);
}

static void
test_rpc_request_over_limit(void **state)
{
	srv             sv;
	rpc_client     *c = NULL;
	rpc_client_opts o;
	dtp_v1_Reply    rep;
	dtp_v1_Request  req = dtp_v1_Request_init_zero;
	tp_err          err;
	char           *big;
	int             before;

	(void) state;
	srv_start_with(&sv, "tcp://127.0.0.1:0", "n1", 1, 64 * 1024, handlers);
	memset(&o, 0, sizeof(o));
	o.env           = ENV;
	o.max_msg_bytes = 128 * 1024;
	assert_int_equal(rpc_client_open(&c, sv.url, &o, &err), TP_OK);
	big = tp_xmalloc(200 * 1024 + 1);
	memset(big, 'q', 200 * 1024);
	big[200 * 1024]              = '\0';
	req.which_call               = dtp_v1_Request_create_task_tag;
	req.call.create_task.payload = big;
	strcpy(req.call.create_task.type, "demo");

	/* Over the client's own limit: refused before sending. */
	before = atomic_load(&create_runs);
	assert_int_equal(
	    rpc_client_call(c, &req, &rep, NULL, &err), TP_RESOURCE_EXHAUSTED);
	big[100 * 1024] = '\0';
	/*
	 * Under the client's limit but over the server's: nng drops the
	 * connection on receive, so the call fails UNAVAILABLE; the handler
	 * never runs, and the server keeps serving.
	 */
	assert_int_equal(
	    rpc_client_call(c, &req, &rep, NULL, &err), TP_UNAVAILABLE);
	assert_int_equal(atomic_load(&create_runs), before);
	free(big);
	assert_get_task_ok(c, 5, "n1");
	rpc_client_free(c);
	srv_stop(&sv);
}

static void
test_rpc_nothing_listening_is_unavailable(void **state)
{
	rpc_client   *c;
	dtp_v1_Reply  rep;
	rpc_call_opts idem = { .timeout_ms = 3000, .idempotent = true };
	tp_err        err;
	char          url[512];
	int64_t       t0;

	(void) state;
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", dead_port());
	c  = client_open(url, 3000);
	t0 = tp_clock_mono_ms();
	assert_int_equal(get_task(c, 1, &rep, NULL, &err), TP_UNAVAILABLE);
	/* It does not wait for the whole timeout. */
	assert_true(tp_clock_mono_ms() - t0 < 1500);
	assert_non_null(strstr(err.msg, "no connection"));
	assert_true(is_zero(&rep, sizeof(rep)));
	/*
	 * Retried: three attempts of 250 ms each plus backoff, still
	 * UNAVAILABLE, not DEADLINE_EXCEEDED. (This also caught the nng 1.5.2
	 * sleep-aio bug: a retry sent on an aio that had slept "succeeded".)
	 */
	t0 = tp_clock_mono_ms();
	assert_int_equal(get_task(c, 1, &rep, &idem, &err), TP_UNAVAILABLE);
	assert_true(tp_clock_mono_ms() - t0 >= 700);
	assert_true(tp_clock_mono_ms() - t0 < 3000);
	assert_non_null(strstr(err.msg, "no connection"));
	rpc_client_free(c);

	snprintf(url, sizeof(url), "ipc://%s/nobody.sock", tmpdir);
	c = client_open(url, 3000);
	assert_int_equal(get_task(c, 1, &rep, NULL, &err), TP_UNAVAILABLE);
	rpc_client_free(c);
}

static void
test_rpc_bad_urls_are_invalid(void **state)
{
	rpc_client     *c = NULL;
	rpc_client_opts o;
	rpc_server_opts so;
	rpc_server     *s     = NULL;
	const char     *bad[] = { "bogus://x" };
	tp_err          err;

	(void) state;
	memset(&o, 0, sizeof(o));
	o.env = ENV;
	assert_int_equal(
	    rpc_client_open(&c, "nope", &o, &err), TP_INVALID_ARGUMENT);
	assert_null(c);
	assert_int_equal(
	    rpc_client_open(&c, " , ", &o, &err), TP_INVALID_ARGUMENT);
	assert_int_equal(
	    rpc_client_open(&c, "", &o, &err), TP_INVALID_ARGUMENT);
	assert_null(c);

	memset(&so, 0, sizeof(so));
	so.env      = ENV;
	so.urls     = bad;
	so.n_urls   = 1;
	so.threads  = 1;
	so.handlers = handlers;
	assert_int_equal(rpc_server_start(&s, &so, &err), TP_INVALID_ARGUMENT);
	assert_null(s);
	so.threads = 0;
	assert_int_equal(rpc_server_start(&s, &so, &err), TP_INVALID_ARGUMENT);
}

static void *
thread_init_fails_second(void *arg, int index, tp_err *err)
{
	srv *sv = arg;

	if (index == 1) {
		tp_err_set(
		    err, TP_UNAVAILABLE, "could not connect to database");
		return NULL;
	}
	atomic_fetch_add(&sv->inits, 1);
	return sv;
}

static void
test_rpc_failed_thread_init_fails_start(void **state)
{
	srv             sv;
	rpc_server_opts so;
	const char     *urls[1] = { "tcp://127.0.0.1:0" };
	tp_err          err;

	(void) state;
	memset(&sv, 0, sizeof(sv));
	memset(&so, 0, sizeof(so));
	so.env            = ENV;
	so.urls           = urls;
	so.n_urls         = 1;
	so.threads        = 3;
	so.handlers       = handlers;
	so.thread_init_cb = thread_init_fails_second;
	so.thread_fini_cb = thread_fini;
	so.arg            = &sv;
	assert_int_equal(rpc_server_start(&sv.s, &so, &err), TP_UNAVAILABLE);
	assert_string_equal(err.msg, "could not connect to database");
	assert_null(sv.s);
	/* The one context that was made is released, and only that one. */
	assert_int_equal(atomic_load(&sv.inits), 1);
	assert_int_equal(atomic_load(&sv.finis), 1);
}

static void
test_rpc_address_in_use_is_unavailable(void **state)
{
	srv             sv;
	rpc_server_opts so;
	rpc_server     *s = NULL;
	const char     *urls[1];
	tp_err          err;

	(void) state;
	srv_start(&sv, "tcp://127.0.0.1:0", "n1", 1);
	urls[0] = sv.url;
	memset(&so, 0, sizeof(so));
	so.env      = ENV;
	so.urls     = urls;
	so.n_urls   = 1;
	so.threads  = 1;
	so.handlers = handlers;
	assert_int_equal(rpc_server_start(&s, &so, &err), TP_UNAVAILABLE);
	assert_null(s);
	srv_stop(&sv);
}

static void
test_rpc_client_opened_before_server(void **state)
{
	srv           sv;
	rpc_client   *c;
	dtp_v1_Reply  rep;
	rpc_call_opts idem = { .timeout_ms = 5000, .idempotent = true };
	tp_err        err;
	char          url[512];

	(void) state;
	snprintf(url, sizeof(url), "ipc://%s/late.sock", tmpdir);
	c = client_open(url, 5000);
	assert_int_equal(get_task(c, 1, &rep, NULL, &err), TP_UNAVAILABLE);
	srv_start(&sv, url, "late", 1);
	/* The client reconnects by itself; retries cover the gap. */
	assert_int_equal(get_task(c, 11, &rep, &idem, &err), TP_OK);
	assert_int_equal(rep.result.get_task.id, 11);
	pb_release(ENV->rep_fields, &rep);
	rpc_client_free(c);
	srv_stop(&sv);
}

static void
test_rpc_retries_only_idempotent_calls(void **state)
{
	srv            sv;
	rpc_client    *c;
	dtp_v1_Reply   rep;
	dtp_v1_Request req  = dtp_v1_Request_init_zero;
	rpc_call_opts  idem = { .idempotent = true };
	tp_err         err;
	int            before;

	(void) state;
	srv_start(&sv, "tcp://127.0.0.1:0", "n1", 1);
	c              = client_open(sv.url, 5000);
	req.which_call = dtp_v1_Request_create_task_tag;
	strcpy(req.call.create_task.type, "flaky");

	atomic_store(&flaky_left, 1);
	before = atomic_load(&create_runs);
	assert_int_equal(
	    rpc_client_call(c, &req, &rep, NULL, &err), TP_UNAVAILABLE);
	assert_string_equal(err.msg, "database unavailable");
	assert_int_equal(atomic_load(&create_runs) - before, 1);

	atomic_store(&flaky_left, 2);
	before = atomic_load(&create_runs);
	assert_int_equal(rpc_client_call(c, &req, &rep, &idem, &err), TP_OK);
	assert_int_equal(atomic_load(&create_runs) - before, 3);
	assert_string_equal(rep.result.create_task.task.type, "flaky");
	pb_release(ENV->rep_fields, &rep);

	/* max_attempts (3) bounds it. */
	atomic_store(&flaky_left, 10);
	before = atomic_load(&create_runs);
	assert_int_equal(
	    rpc_client_call(c, &req, &rep, &idem, &err), TP_UNAVAILABLE);
	assert_int_equal(atomic_load(&create_runs) - before, 3);
	atomic_store(&flaky_left, 0);
	rpc_client_free(c);
	srv_stop(&sv);
}

/* ---- asynchronous calls ---- */

typedef struct box {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	int             done; /* guarded by mu */
	tp_status       code; /* guarded by mu */
	tp_err          err;  /* guarded by mu */
} box;

static void
box_init(box *b)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
}

static void
box_fini(box *b)
{
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
}

static void
box_cb(void *arg, tp_status code, const tp_err *err, void *rep)
{
	box *b = arg;

	(void) rep;
	pthread_mutex_lock(&b->mu);
	b->done++;
	b->code = code;
	b->err  = *err;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* box_wait waits until n callbacks came, up to timeout_ms. */
static bool
box_wait(box *b, int n, int timeout_ms)
{
	int64_t until = tp_clock_mono_ms() + timeout_ms;
	bool    ok;

	pthread_mutex_lock(&b->mu);
	while (b->done < n && tp_clock_mono_ms() < until) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&b->cv, &b->mu, &ts);
	}
	ok = b->done >= n;
	pthread_mutex_unlock(&b->mu);
	return ok;
}

static int
box_done(box *b)
{
	int n;

	pthread_mutex_lock(&b->mu);
	n = b->done;
	pthread_mutex_unlock(&b->mu);
	return n;
}

static void
test_rpc_async_calls(void **state)
{
	enum { N = 64 };
	srv           sv;
	rpc_client   *c;
	box           b;
	tp_err        err;
	dtp_v1_Reply *reps = tp_xcalloc(N, sizeof(dtp_v1_Reply));

	(void) state;
	box_init(&b);
	srv_start(&sv, "tcp://127.0.0.1:0", "n1", 4);
	c = client_open(sv.url, 10000);
	for (int i = 0; i < N; i++) {
		dtp_v1_Request req = dtp_v1_Request_init_zero;

		req.which_call       = dtp_v1_Request_get_task_tag;
		req.call.get_task.id = 1000 + i;
		/* req is borrowed for the call only: it dies here. */
		assert_int_equal(rpc_client_call_async(
		                     c, &req, &reps[i], NULL, box_cb, &b, &err),
		    TP_OK);
	}
	assert_true(box_wait(&b, N, 10000));
	assert_int_equal(b.code, TP_OK);
	for (int i = 0; i < N; i++) {
		char p[64];

		assert_int_equal(reps[i].result.get_task.id, 1000 + i);
		snprintf(p, sizeof(p), "payload-%d", 1000 + i);
		assert_string_equal(reps[i].result.get_task.payload, p);
		pb_release(ENV->rep_fields, &reps[i]);
	}
	assert_int_equal(box_done(&b), N);

	/* A failing async call reports its status through the callback. */
	{
		dtp_v1_Request req = dtp_v1_Request_init_zero;

		req.which_call       = dtp_v1_Request_get_task_tag;
		req.call.get_task.id = -1;
		assert_int_equal(rpc_client_call_async(
		                     c, &req, &reps[0], NULL, box_cb, &b, &err),
		    TP_OK);
		assert_true(box_wait(&b, N + 1, 5000));
		assert_int_equal(b.code, TP_NOT_FOUND);
		assert_int_equal(b.err.code, TP_NOT_FOUND);
		assert_string_equal(b.err.msg, "task -1 not found");
		assert_true(is_zero(&reps[0], sizeof(reps[0])));
	}
	rpc_client_free(c);
	srv_stop(&sv);
	box_fini(&b);
	free(reps);
}

static void
test_rpc_close_fails_pending_calls(void **state)
{
	srv            sv;
	rpc_client    *c;
	box            b;
	tp_err         err;
	dtp_v1_Reply   rep;
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	int            one = 1;

	(void) state;
	box_init(&b);
	gate_set(false);
	srv_start(&sv, "tcp://127.0.0.1:0", "n1", 1);
	c                       = client_open(sv.url, 10000);
	req.which_call          = dtp_v1_Request_cancel_task_tag;
	req.call.cancel_task.id = 1;
	assert_int_equal(
	    rpc_client_call_async(c, &req, &rep, NULL, box_cb, &b, &err),
	    TP_OK);
	assert_true(poll_until(gate_has_waiter, &one, 5000));
	rpc_client_free(c); /* returns once the callback has run */
	assert_int_equal(box_done(&b), 1);
	assert_int_equal(b.code, TP_CANCELLED);
	assert_true(is_zero(&rep, sizeof(rep)));
	gate_set(true);
	srv_stop(&sv);
	assert_int_equal(box_done(&b), 1);
	box_fini(&b);
}

typedef struct stop_arg {
	srv        *sv;
	atomic_bool stopped;
} stop_arg;

static void *
stop_main(void *p)
{
	stop_arg *a = p;

	srv_stop(a->sv);
	atomic_store(&a->stopped, true);
	return NULL;
}

static bool
server_drained(void *p)
{
	return atomic_load(&((stop_arg *) p)->stopped);
}

/* refused_while_draining: a GetTask is answered "server is shutting down". */
static bool
refused_while_draining(void *p)
{
	rpc_client  *c = p;
	dtp_v1_Reply rep;
	tp_err       err;
	tp_status    rc;
	int          before = atomic_load(&get_runs);

	rc = get_task(c, 1, &rep, NULL, &err);
	pb_release(ENV->rep_fields, &rep);
	if (rc == TP_UNAVAILABLE) {
		assert_string_equal(err.msg, "server is shutting down");
		assert_int_equal(atomic_load(&get_runs), before);
		return true;
	}
	assert_int_equal(rc, TP_OK);
	return false;
}

static void
test_rpc_stop_drains_calls_in_flight(void **state)
{
	srv            sv;
	rpc_client    *c;
	box            b;
	tp_err         err;
	dtp_v1_Reply   rep;
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	stop_arg       sa;
	pthread_t      th;
	int            one = 1;

	(void) state;
	box_init(&b);
	gate_set(false);
	srv_start(&sv, "tcp://127.0.0.1:0", "n1", 2);
	c                       = client_open(sv.url, 10000);
	req.which_call          = dtp_v1_Request_cancel_task_tag;
	req.call.cancel_task.id = 31;
	assert_int_equal(
	    rpc_client_call_async(c, &req, &rep, NULL, box_cb, &b, &err),
	    TP_OK);
	assert_true(poll_until(gate_has_waiter, &one, 5000));
	assert_int_equal(rpc_server_in_flight(sv.s), 1);

	sa.sv = &sv;
	atomic_init(&sa.stopped, false);
	assert_int_equal(pthread_create(&th, NULL, stop_main, &sa), 0);
	/* While it drains, new calls are refused without being run. */
	assert_true(poll_until(refused_while_draining, c, 5000));
	assert_false(atomic_load(&sa.stopped));
	assert_int_equal(box_done(&b), 0);
	gate_set(true);
	assert_true(poll_until(server_drained, &sa, 5000));
	pthread_join(th, NULL);
	assert_true(box_wait(&b, 1, 5000));
	assert_int_equal(b.code, TP_OK);
	assert_int_equal(rep.result.cancel_task.id, 31);
	pb_release(ENV->rep_fields, &rep);
	rpc_client_free(c);
	box_fini(&b);
}

static void
test_rpc_stop_gives_up_after_drain_time(void **state)
{
	srv             sv;
	rpc_server_opts o;
	const char     *urls[1] = { "tcp://127.0.0.1:0" };
	rpc_client     *c;
	box             b;
	tp_err          err;
	dtp_v1_Reply    rep;
	dtp_v1_Request  req = dtp_v1_Request_init_zero;
	stop_arg        sa;
	pthread_t       th;
	int             one = 1;

	(void) state;
	box_init(&b);
	gate_set(false);
	memset(&sv, 0, sizeof(sv));
	memset(&o, 0, sizeof(o));
	o.env            = ENV;
	o.urls           = urls;
	o.n_urls         = 1;
	o.threads        = 1;
	o.drain_ms       = 50;
	o.handlers       = handlers;
	o.thread_init_cb = thread_init;
	o.thread_fini_cb = thread_fini;
	o.arg            = &sv;
	assert_int_equal(rpc_server_start(&sv.s, &o, &err), TP_OK);
	snprintf(sv.url, sizeof(sv.url), "tcp://127.0.0.1:%d",
	    rpc_server_bound_port(sv.s, 0));
	c                       = client_open(sv.url, 10000);
	req.which_call          = dtp_v1_Request_cancel_task_tag;
	req.call.cancel_task.id = 32;
	assert_int_equal(
	    rpc_client_call_async(c, &req, &rep, NULL, box_cb, &b, &err),
	    TP_OK);
	assert_true(poll_until(gate_has_waiter, &one, 5000));

	sa.sv = &sv;
	atomic_init(&sa.stopped, false);
	assert_int_equal(pthread_create(&th, NULL, stop_main, &sa), 0);
	/*
	 * Past the drain time the connections close: the caller learns at
	 * once, while the handler still runs; the stop then waits for it.
	 */
	assert_true(box_wait(&b, 1, 5000));
	assert_int_equal(b.code, TP_UNAVAILABLE);
	assert_false(atomic_load(&sa.stopped));
	gate_set(true);
	assert_true(poll_until(server_drained, &sa, 5000));
	pthread_join(th, NULL);
	rpc_client_free(c);
	box_fini(&b);
}

static void
test_rpc_client_spreads_calls_over_servers(void **state)
{
	srv         a, b;
	rpc_client *c;
	char        urls[1100];
	int64_t     until;
	int         na, nb;

	(void) state;
	srv_start(&a, "tcp://127.0.0.1:0", "a", 2);
	srv_start(&b, "tcp://127.0.0.1:0", "b", 2);
	snprintf(urls, sizeof(urls), "%s, %s", a.url, b.url);
	c = client_open(urls, 5000);
	/* Until both connections are up, calls may all go to one. */
	until = tp_clock_mono_ms() + 5000;
	while ((atomic_load(&a.served) == 0 || atomic_load(&b.served) == 0)
	    && tp_clock_mono_ms() < until) {
		assert_get_task_ok(c, 1, NULL);
	}
	na = atomic_load(&a.served);
	nb = atomic_load(&b.served);
	for (int i = 0; i < 100; i++) {
		assert_get_task_ok(c, i, NULL);
	}
	na = atomic_load(&a.served) - na;
	nb = atomic_load(&b.served) - nb;
	assert_int_equal(na + nb, 100);
	assert_true(na >= 20);
	assert_true(nb >= 20);

	/* One node goes away: idempotent calls keep working on the other. */
	srv_stop(&a);
	for (int i = 0; i < 20; i++) {
		dtp_v1_Reply  rep;
		rpc_call_opts idem = { .idempotent = true };
		tp_err        err;

		assert_int_equal(get_task(c, i, &rep, &idem, &err), TP_OK);
		assert_string_equal(rep.result.get_task.locked_by, "b");
		pb_release(ENV->rep_fields, &rep);
	}
	rpc_client_free(c);
	srv_stop(&b);
}

/*
 * What nng 1.5.2's req0 does when the connection carrying a request closes
 * while resend is off: the receive fails at once (NNG_ECONNRESET), so the
 * call is UNAVAILABLE well before its deadline (rpc/README.md).
 */
static void
test_rpc_connection_lost_mid_call(void **state)
{
	nng_socket     rep0;
	nng_listener   l;
	rpc_client    *c;
	box            b;
	dtp_v1_Reply   rep;
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	tp_err         err;
	char           url[128];
	int            port = 0;
	int64_t        t0, took;
	nng_msg       *m = NULL;

	(void) state;
	box_init(&b);
	assert_int_equal(nng_rep0_open(&rep0), 0);
	assert_int_equal(nng_socket_set_ms(rep0, NNG_OPT_RECVTIMEO, 5000), 0);
	assert_int_equal(nng_listen(rep0, "tcp://127.0.0.1:0", &l, 0), 0);
	assert_int_equal(
	    nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port), 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	c = client_open(url, 4000);

	req.which_call       = dtp_v1_Request_get_task_tag;
	req.call.get_task.id = 77;
	assert_int_equal(
	    rpc_client_call_async(c, &req, &rep, NULL, box_cb, &b, &err),
	    TP_OK);
	/* The peer takes the request, then goes away without answering. */
	assert_int_equal(nng_recvmsg(rep0, &m, 0), 0);
	nng_msg_free(m);
	t0 = tp_clock_mono_ms();
	assert_int_equal(nng_close(rep0), 0);
	assert_true(box_wait(&b, 1, 6000));
	took = tp_clock_mono_ms() - t0;
	print_message("connection lost mid call: %s after %" PRId64 " ms: %s\n",
	    tp_status_name(b.code), took, b.err.msg);
	assert_int_equal(b.code, TP_UNAVAILABLE);
	assert_true(took < 2000);
	rpc_client_free(c);
	box_fini(&b);
}

/*
 * answer_with has a raw rep0 peer take one request, check that it is a
 * CreateTask, and answer it with r, whatever r says.
 */
static void
answer_with(nng_socket rep0, const dtp_v1_Reply *r)
{
	nng_msg       *m = NULL;
	dtp_v1_Request req;
	pb_istream_t   is;
	uint8_t        buf[256];
	pb_ostream_t   os = pb_ostream_from_buffer(buf, sizeof(buf));

	assert_int_equal(nng_recvmsg(rep0, &m, 0), 0);
	memset(&req, 0, sizeof(req));
	is = pb_istream_from_buffer(nng_msg_body(m), nng_msg_len(m));
	assert_true(pb_decode(&is, dtp_v1_Request_fields, &req));
	assert_int_equal(req.which_call, dtp_v1_Request_create_task_tag);
	pb_release(dtp_v1_Request_fields, &req);
	assert_true(pb_encode(&os, dtp_v1_Reply_fields, r));
	nng_msg_clear(m);
	assert_int_equal(nng_msg_append(m, buf, os.bytes_written), 0);
	assert_int_equal(nng_sendmsg(rep0, m, 0), 0);
}

/*
 * An OK reply whose result tag is not the call's answers some other call:
 * the client fails it INTERNAL and hands nothing on.
 */
static void
test_rpc_reply_with_wrong_result_tag_is_internal(void **state)
{
	nng_socket     rep0;
	nng_listener   l;
	rpc_client    *c;
	box            b;
	dtp_v1_Reply   rep, answer;
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	tp_err         err;
	char           url[128];
	int            port = 0;

	(void) state;
	box_init(&b);
	assert_int_equal(nng_rep0_open(&rep0), 0);
	assert_int_equal(nng_socket_set_ms(rep0, NNG_OPT_RECVTIMEO, 5000), 0);
	assert_int_equal(nng_listen(rep0, "tcp://127.0.0.1:0", &l, 0), 0);
	assert_int_equal(
	    nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port), 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	c              = client_open(url, 5000);
	req.which_call = dtp_v1_Request_create_task_tag;
	strcpy(req.call.create_task.type, "demo");

	/* CreateTask answered with a GetTask result. */
	memset(&answer, 0, sizeof(answer));
	answer.has_status              = true;
	answer.which_result            = dtp_v1_Reply_get_task_tag;
	answer.result.get_task.id      = 99;
	answer.result.get_task.payload = "not yours";
	assert_int_equal(
	    rpc_client_call_async(c, &req, &rep, NULL, box_cb, &b, &err),
	    TP_OK);
	answer_with(rep0, &answer);
	assert_true(box_wait(&b, 1, 5000));
	assert_int_equal(b.code, TP_INTERNAL);
	assert_int_equal(b.err.code, TP_INTERNAL);
	assert_string_equal(
	    b.err.msg, "reply to CreateTask carried result tag 3");
	assert_true(is_zero(&rep, sizeof(rep)));

	/* An OK reply with no result at all. */
	memset(&answer, 0, sizeof(answer));
	answer.has_status = true;
	assert_int_equal(
	    rpc_client_call_async(c, &req, &rep, NULL, box_cb, &b, &err),
	    TP_OK);
	answer_with(rep0, &answer);
	assert_true(box_wait(&b, 2, 5000));
	assert_int_equal(b.code, TP_INTERNAL);
	assert_string_equal(
	    b.err.msg, "reply to CreateTask carried result tag 0");
	assert_true(is_zero(&rep, sizeof(rep)));

	/* The right tag goes through, and an error status carries none. */
	memset(&answer, 0, sizeof(answer));
	answer.has_status                  = true;
	answer.which_result                = dtp_v1_Reply_create_task_tag;
	answer.result.create_task.has_task = true;
	answer.result.create_task.task.id  = 7;
	assert_int_equal(
	    rpc_client_call_async(c, &req, &rep, NULL, box_cb, &b, &err),
	    TP_OK);
	answer_with(rep0, &answer);
	assert_true(box_wait(&b, 3, 5000));
	assert_int_equal(b.code, TP_OK);
	assert_int_equal(rep.which_result, dtp_v1_Reply_create_task_tag);
	assert_int_equal(rep.result.create_task.task.id, 7);
	pb_release(ENV->rep_fields, &rep);

	memset(&answer, 0, sizeof(answer));
	answer.has_status  = true;
	answer.status.code = TP_ALREADY_EXISTS;
	strcpy(answer.status.message, "idempotency key reused");
	assert_int_equal(
	    rpc_client_call_async(c, &req, &rep, NULL, box_cb, &b, &err),
	    TP_OK);
	answer_with(rep0, &answer);
	assert_true(box_wait(&b, 4, 5000));
	assert_int_equal(b.code, TP_ALREADY_EXISTS);
	assert_string_equal(b.err.msg, "idempotency key reused");

	rpc_client_free(c);
	assert_int_equal(nng_close(rep0), 0);
	box_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rpc_round_trip_tcp),
		cmocka_unit_test(test_rpc_round_trip_ipc),
		cmocka_unit_test(test_rpc_round_trip_inproc),
		cmocka_unit_test(test_rpc_server_status_reaches_client),
		cmocka_unit_test(test_rpc_many_calls_in_flight),
		cmocka_unit_test(
		    test_rpc_deadline_exceeded_when_handler_is_slow),
		cmocka_unit_test(test_rpc_past_deadline_is_not_handled),
		cmocka_unit_test(test_rpc_bad_input_gets_a_clean_error),
		cmocka_unit_test(test_rpc_unimplemented_call),
		cmocka_unit_test(
		    test_rpc_reply_over_limit_is_resource_exhausted),
		cmocka_unit_test(test_rpc_request_over_limit),
		cmocka_unit_test(test_rpc_nothing_listening_is_unavailable),
		cmocka_unit_test(test_rpc_bad_urls_are_invalid),
		cmocka_unit_test(test_rpc_address_in_use_is_unavailable),
		cmocka_unit_test(test_rpc_failed_thread_init_fails_start),
		cmocka_unit_test(test_rpc_client_opened_before_server),
		cmocka_unit_test(test_rpc_retries_only_idempotent_calls),
		cmocka_unit_test(test_rpc_async_calls),
		cmocka_unit_test(test_rpc_close_fails_pending_calls),
		cmocka_unit_test(test_rpc_stop_drains_calls_in_flight),
		cmocka_unit_test(test_rpc_stop_gives_up_after_drain_time),
		cmocka_unit_test(test_rpc_client_spreads_calls_over_servers),
		cmocka_unit_test(test_rpc_connection_lost_mid_call),
		cmocka_unit_test(
		    test_rpc_reply_with_wrong_result_tag_is_internal),
	};
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rpc_test.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	/* RPC_TEST_FILTER=test_rpc_async* runs only the matching tests. */
	if (getenv("RPC_TEST_FILTER") != NULL) {
		cmocka_set_test_filter(getenv("RPC_TEST_FILTER"));
	}
	rc = cmocka_run_group_tests_name("rpc", tests, NULL, NULL);
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0) {
			fprintf(stderr, "could not remove %s\n", tmpdir);
		}
	}
	return rc;
}
