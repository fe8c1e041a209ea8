/*
 * server.c: the RPC server: a rep0 socket, N worker threads, each a plain
 * blocking loop over its own nng_ctx, receive aio and send aio (see
 * rpc/README.md).
 *
 * Threads: rpc_server_start and rpc_server_free run on the main thread; the
 * workers (and send_done_cb, on an nng thread) touch only their own
 * rpc_worker and the atomics of rpc_server.
 * There is no lock: in_flight and stopping are atomics, everything else is
 * written before the workers start and read-only while they run.
 */
#include "rpc/server.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "proto/wire.h"
#include "rpc_int.h"

#define RPC_DEFAULT_MAX_MSG_BYTES ((size_t) 1 << 20)
#define RPC_MAX_MSG_BYTES_CEILING ((size_t) 4 << 20)
#define RPC_MAX_THREADS           1024
#define RPC_COMPONENT             "rpc.server"

typedef struct rpc_worker {
	rpc_server *s;
	int         index;
	nng_ctx     ctx;
	bool        ctx_open;
	nng_aio    *aio;      /* receive, waited for */
	nng_aio    *send_aio; /* the last reply: send_done_cb */
	pthread_t   thread;
	bool        thread_started;
	bool        thread_inited; /* thread_init_cb succeeded */
	void       *thread_ctx;
	/* Decoded request and reply, env->req_size/rep_size, zeroed per call.
	 */
	void *req;
	void *rep;
} rpc_worker;

struct rpc_server {
	rpc_server_opts opts; /* copy; what it points to is borrowed */
	size_t          max_msg_bytes;
	nng_socket      sock;
	bool            sock_open;
	nng_listener   *listeners; /* one per URL; id 0 when not listening */
	size_t          n_listeners;
	rpc_worker     *workers;
	int             n_workers;
	atomic_int      in_flight;
	atomic_bool     stopping;
};

static tp_status
nng_status(int rv)
{
	switch (rv) {
	case NNG_EADDRINVAL:
	case NNG_EINVAL:
	case NNG_ENOTSUP:
		return TP_INVALID_ARGUMENT;
	default:
		return TP_UNAVAILABLE;
	}
}

/*
 * set_status clears the reply when code is not OK (releasing what a handler
 * put there) and stores code and message in its status.
 */
static void
set_status(
    const proto_envelope *env, void *rep, tp_status code, const char *msg)
{
	tp_v1_Status *st;

	if (code != TP_OK) {
		pb_release(env->rep_fields, rep);
		memset(rep, 0, env->rep_size);
	}
	st       = env->rep_status(rep);
	st->code = (int32_t) code;
	if (code != TP_OK && (msg == NULL || msg[0] == '\0')) {
		msg = tp_status_name(code);
	}
	snprintf(
	    st->message, sizeof(st->message), "%s", msg != NULL ? msg : "");
}

/*
 * handle decodes one request, runs its handler (or decides not to) and
 * leaves the answer in w->rep with its status set. Returns the status and
 * the call tag (0 when there is none).
 */
static tp_status
handle(rpc_worker *w, nng_msg *msg, pb_size_t *call_out)
{
	rpc_server           *s   = w->s;
	const proto_envelope *env = s->opts.env;
	pb_istream_t          is;
	pb_size_t             call;
	int64_t               deadline_ms;
	rpc_handler_cb        h;
	tp_err                err;
	tp_status             code;
	uint32_t              nul_tag;

	*call_out = 0;
	tp_err_clear(&err);
	is = pb_istream_from_buffer(nng_msg_body(msg), nng_msg_len(msg));
	if (!pb_decode(&is, env->req_fields, w->req)) {
		/* pb_decode released what it had allocated. */
		memset(w->req, 0, env->req_size);
		code = tp_err_set(&err, TP_INVALID_ARGUMENT,
		    "could not decode request: %s", PB_GET_ERROR(&is));
		goto out;
	}
	if (proto_wire_find_nul(env->req_fields, w->req, nng_msg_body(msg),
	        nng_msg_len(msg), &nul_tag)) {
		code = tp_err_set(&err, TP_INVALID_ARGUMENT,
		    "a string in the request (field %u) holds a NUL byte",
		    (unsigned) nul_tag);
		goto out;
	}
	call      = env->req_call(w->req);
	*call_out = call;
	if (call == 0) {
		code
		    = tp_err_set(&err, TP_UNIMPLEMENTED, "request has no call");
		goto out;
	}
	h = call <= env->max_call ? s->opts.handlers[call] : NULL;
	if (h == NULL || env->call_name(call) == NULL) {
		if (env->call_name(call) != NULL) {
			code = tp_err_set(&err, TP_UNIMPLEMENTED,
			    "%s is not implemented by %s", env->call_name(call),
			    env->service);
		} else {
			code = tp_err_set(&err, TP_UNIMPLEMENTED,
			    "unknown call %u", (unsigned) call);
		}
		goto out;
	}
	deadline_ms = env->req_deadline_ms(w->req);
	if (deadline_ms != 0 && tp_clock_unix_ms() >= deadline_ms) {
		code = tp_err_set(&err, TP_DEADLINE_EXCEEDED,
		    "deadline of %s passed before the call started",
		    env->call_name(call));
		goto out;
	}
	if (atomic_load(&s->stopping)) {
		code = tp_err_set(
		    &err, TP_UNAVAILABLE, "server is shutting down");
		goto out;
	}
	code = h(w->thread_ctx, w->req, w->rep, &err);
	if (code != TP_OK && err.code != code) {
		/* The handler returned a code without setting err. */
		err.msg[0] = '\0';
	}

out:
	set_status(env, w->rep, code, code == TP_OK ? "" : err.msg);
	return code;
}

/*
 * encode_reply encodes w->rep into a new message (*out, caller frees),
 * replacing the reply by RESOURCE_EXHAUSTED or INTERNAL when it cannot be
 * sent as it is. Returns the status that goes out.
 */
static tp_status
encode_reply(rpc_worker *w, tp_status code, nng_msg **out)
{
	const proto_envelope *env   = w->s->opts.env;
	size_t                size  = 0;
	nng_msg              *reply = NULL;
	pb_ostream_t          os;
	char                  msg[128];
	int                   rv;

	if (!pb_get_encoded_size(&size, env->rep_fields, w->rep)) {
		code = TP_INTERNAL;
		set_status(env, w->rep, code, "could not encode reply");
		tp_log_error(RPC_COMPONENT, "could not size reply service=%s",
		    env->service);
		if (!pb_get_encoded_size(&size, env->rep_fields, w->rep)) {
			abort(); /* a bare status always encodes */
		}
	} else if (size > w->s->max_msg_bytes) {
		snprintf(msg, sizeof(msg),
		    "reply of %zu bytes exceeds the message limit of %zu "
		    "bytes",
		    size, w->s->max_msg_bytes);
		code = TP_RESOURCE_EXHAUSTED;
		set_status(env, w->rep, code, msg);
		if (!pb_get_encoded_size(&size, env->rep_fields, w->rep)) {
			abort();
		}
	}
	if ((rv = nng_msg_alloc(&reply, size)) != 0) {
		tp_log_error(RPC_COMPONENT, "out of memory bytes=%zu", size);
		abort();
	}
	os = pb_ostream_from_buffer(nng_msg_body(reply), size);
	if (!pb_encode(&os, env->rep_fields, w->rep)) {
		/* Sized just now from the same struct: cannot happen. */
		tp_log_error(RPC_COMPONENT, "could not encode reply: %s",
		    PB_GET_ERROR(&os));
		abort();
	}
	*out = reply;
	return code;
}

static void
serve_one(rpc_worker *w, nng_msg *msg, int64_t t0_us)
{
	rpc_server           *s     = w->s;
	const proto_envelope *env   = s->opts.env;
	nng_msg              *reply = NULL;
	pb_size_t             call  = 0;
	tp_status             code;

	memset(w->req, 0, env->req_size);
	memset(w->rep, 0, env->rep_size);
	code = handle(w, msg, &call);
	nng_msg_free(msg);
	code = encode_reply(w, code, &reply);
	pb_release(env->req_fields, w->req);
	pb_release(env->rep_fields, w->rep);

	/*
	 * The reply goes out while the worker goes back to receive: waiting
	 * for the send would cost a thread hand-off per call. rep0 takes the
	 * reply's routing at send time, so the next receive on this context
	 * cannot misdirect it; but a context holds one send at a time, so
	 * the previous one must have finished (it almost always has).
	 */
	nng_aio_wait(w->send_aio);
	nng_aio_set_msg(w->send_aio, reply);
	nng_ctx_send(w->ctx, w->send_aio);
	if (tp_log_enabled(TP_LOG_DEBUG)) {
		const char *name = call != 0 ? env->call_name(call) : NULL;
		tp_log_debug(RPC_COMPONENT,
		    "call service=%s method=%s code=%s us=%" PRId64,
		    env->service, name != NULL ? name : "-",
		    tp_status_name(code), tp_clock_mono_us() - t0_us);
	}
	if (s->opts.observe_cb != NULL) {
		s->opts.observe_cb(s->opts.observe_arg, call, code,
		    tp_clock_mono_us() - t0_us);
	}
}

/* send_done_cb ends a reply's send, on an nng thread. */
static void
send_done_cb(void *arg)
{
	rpc_worker *w = arg;
	int         rv;

	if ((rv = nng_aio_result(w->send_aio)) != 0) {
		/* On failure the message is still ours. */
		nng_msg_free(nng_aio_get_msg(w->send_aio));
		nng_aio_set_msg(w->send_aio, NULL);
		tp_log_debug(RPC_COMPONENT, "could not send reply: %s",
		    nng_strerror(rv));
	}
	atomic_fetch_sub(&w->s->in_flight, 1);
}

static void *
worker_main(void *arg)
{
	rpc_worker *w = arg;
	rpc_server *s = w->s;
	int         rv;

	for (;;) {
		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		rv = nng_aio_result(w->aio);
		if (rv != 0) {
			if (rv == NNG_ECLOSED || atomic_load(&s->stopping)) {
				break;
			}
			tp_log_warn(RPC_COMPONENT, "could not receive: %s",
			    nng_strerror(rv));
			continue;
		}
		/* Until the reply is sent: send_done_cb counts it out. */
		atomic_fetch_add(&s->in_flight, 1);
		serve_one(w, nng_aio_get_msg(w->aio), tp_clock_mono_us());
	}
	return NULL;
}

static tp_status
check_opts(const rpc_server_opts *o, tp_err *err)
{
	if (o == NULL || o->env == NULL || o->handlers == NULL) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "server options need an envelope and a handler table");
	}
	if (o->urls == NULL || o->n_urls == 0) {
		return tp_err_set(
		    err, TP_INVALID_ARGUMENT, "server needs a listen url");
	}
	if (o->threads < 1 || o->threads > RPC_MAX_THREADS) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid number of server threads %d: expected 1 to %d",
		    o->threads, RPC_MAX_THREADS);
	}
	if (o->max_msg_bytes > RPC_MAX_MSG_BYTES_CEILING) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "message limit of %zu bytes is over the ceiling of %zu",
		    o->max_msg_bytes, RPC_MAX_MSG_BYTES_CEILING);
	}
	if (o->drain_ms < 0) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid drain time %d ms", o->drain_ms);
	}
	for (size_t i = 0; i < o->n_urls; i++) {
		if (o->urls[i] == NULL) {
			return tp_err_set(
			    err, TP_INVALID_ARGUMENT, "empty listen url");
		}
	}
	return TP_OK;
}

/*
 * tls_config builds the one TLS configuration every TLS listen URL shares,
 * or leaves *out NULL when no URL needs one. Done before the worker
 * threads are initialised, so that a bad certificate fails the start
 * before any database connection is opened.
 */
static tp_status
tls_config(nng_tls_config **out, const rpc_server_opts *o, tp_err *err)
{
	for (size_t i = 0; i < o->n_urls; i++) {
		if (!rpc_url_is_tls(o->urls[i])) {
			continue;
		}
		if (o->tls == NULL) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "listen url \"%s\" needs TLS options: a "
			    "certificate and a key",
			    o->urls[i]);
		}
		return rpc_tls_config_new(out, o->tls, true, NULL, err);
	}
	*out = NULL;
	return TP_OK;
}

/*
 * listen_on starts the listener of URL i (with the TLS configuration cfg
 * when the URL takes one) and records it in s->listeners[i].
 */
static tp_status
listen_on(rpc_server *s, size_t i, nng_tls_config *cfg, tp_err *err)
{
	const char  *url = s->opts.urls[i];
	nng_listener l   = NNG_LISTENER_INITIALIZER;
	int          rv;

	if ((rv = nng_listener_create(&l, s->sock, url)) != 0) {
		return tp_err_set(err, nng_status(rv),
		    "could not listen on \"%s\": %s", url, nng_strerror(rv));
	}
	if (rpc_url_is_tls(url)
	    && (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg)) != 0) {
		(void) nng_listener_close(l); /* never started */
		return tp_err_set(err, TP_INTERNAL,
		    "could not set the TLS configuration of \"%s\": %s", url,
		    nng_strerror(rv));
	}
	if ((rv = nng_listener_start(l, 0)) != 0) {
		(void) nng_listener_close(l); /* never started */
		return tp_err_set(err, nng_status(rv),
		    "could not listen on \"%s\": %s", url, nng_strerror(rv));
	}
	s->listeners[i] = l;
	return TP_OK;
}

tp_status
rpc_server_start(rpc_server **out, const rpc_server_opts *opts, tp_err *err)
{
	tp_status       rc  = TP_OK;
	rpc_server     *s   = NULL;
	nng_tls_config *tls = NULL;
	int             rv;

	if ((rc = check_opts(opts, err)) != TP_OK
	    || (rc = tls_config(&tls, opts, err)) != TP_OK) {
		return rc;
	}
	s                = tp_xcalloc(1, sizeof(*s));
	s->opts          = *opts;
	s->opts.tls      = NULL; /* borrowed for this call only */
	s->max_msg_bytes = opts->max_msg_bytes != 0 ? opts->max_msg_bytes
	                                            : RPC_DEFAULT_MAX_MSG_BYTES;
	atomic_init(&s->in_flight, 0);
	atomic_init(&s->stopping, false);

	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		rc = tp_err_set(err, TP_INTERNAL, "could not open socket: %s",
		    nng_strerror(rv));
		goto out;
	}
	s->sock_open = true;
	if ((rv = nng_socket_set_size(
	         s->sock, NNG_OPT_RECVMAXSZ, s->max_msg_bytes))
	    != 0) {
		rc = tp_err_set(err, TP_INTERNAL,
		    "could not set the message limit: %s", nng_strerror(rv));
		goto out;
	}

	s->n_workers = opts->threads;
	s->workers   = tp_xcalloc((size_t) s->n_workers, sizeof(rpc_worker));
	for (int i = 0; i < s->n_workers; i++) {
		rpc_worker *w = &s->workers[i];

		w->s     = s;
		w->index = i;
		w->req   = tp_xcalloc(1, opts->env->req_size);
		w->rep   = tp_xcalloc(1, opts->env->rep_size);
		if ((rv = nng_aio_alloc(&w->aio, NULL, NULL)) != 0
		    || (rv = nng_aio_alloc(&w->send_aio, send_done_cb, w)) != 0
		    || (rv = nng_ctx_open(&w->ctx, s->sock)) != 0) {
			rc = tp_err_set(err, TP_INTERNAL,
			    "could not open server context: %s",
			    nng_strerror(rv));
			goto out;
		}
		w->ctx_open = true;
		if (opts->thread_init_cb != NULL) {
			tp_err ie;

			tp_err_clear(&ie);
			w->thread_ctx = opts->thread_init_cb(opts->arg, i, &ie);
			if (w->thread_ctx == NULL) {
				rc = tp_err_set(err,
				    ie.code != TP_OK ? ie.code : TP_INTERNAL,
				    "%s",
				    ie.msg[0] != '\0'
				        ? ie.msg
				        : "could not initialise server thread");
				goto out;
			}
		}
		w->thread_inited = true;
	}

	s->listeners   = tp_xcalloc(opts->n_urls, sizeof(nng_listener));
	s->n_listeners = opts->n_urls;
	for (size_t i = 0; i < opts->n_urls; i++) {
		if ((rc = listen_on(s, i, tls, err)) != TP_OK) {
			goto out;
		}
	}

	for (int i = 0; i < s->n_workers; i++) {
		rpc_worker *w = &s->workers[i];

		if ((rv = pthread_create(&w->thread, NULL, worker_main, w))
		    != 0) {
			rc = tp_err_set(err, TP_INTERNAL,
			    "could not start server thread: %s", strerror(rv));
			goto out;
		}
		w->thread_started = true;
	}

out:
	if (tls != NULL) {
		nng_tls_config_free(tls); /* the listeners hold their own */
	}
	if (rc != TP_OK) {
		/* No drain: nothing was answered yet worth waiting for. */
		s->opts.drain_ms = 0;
		rpc_server_free(s);
		return rc;
	}
	*out = s;
	return TP_OK;
}

int
rpc_server_bound_port(rpc_server *s, size_t i)
{
	int port = 0;

	if (s == NULL || i >= s->n_listeners
	    || nng_listener_id(s->listeners[i]) <= 0) {
		return 0;
	}
	if (nng_listener_get_int(s->listeners[i], NNG_OPT_TCP_BOUND_PORT, &port)
	    != 0) {
		return 0;
	}
	return port;
}

int
rpc_server_in_flight(rpc_server *s)
{
	return s != NULL ? atomic_load(&s->in_flight) : 0;
}

void
rpc_server_free(rpc_server *s)
{
	int64_t until;

	if (s == NULL) {
		return;
	}
	/*
	 * (1) Stop accepting work: from here on a worker answers a new
	 * request UNAVAILABLE without running it, so that an idempotent call
	 * goes to another node. The listeners stay open while draining: in
	 * nng 1.5.2 closing a listener also closes every connection it
	 * accepted, which would cut off the replies of the calls in flight.
	 */
	atomic_store(&s->stopping, true);

	/* (2) Let calls in flight finish, up to drain_ms. */
	until = tp_clock_mono_ms() + s->opts.drain_ms;
	while (atomic_load(&s->in_flight) > 0 && tp_clock_mono_ms() < until) {
		nng_msleep(2);
	}
	if (atomic_load(&s->in_flight) > 0) {
		tp_log_warn(RPC_COMPONENT,
		    "drain time passed with calls in flight in_flight=%d",
		    atomic_load(&s->in_flight));
	}
	for (size_t i = 0; i < s->n_listeners; i++) {
		if (nng_listener_id(s->listeners[i]) > 0) {
			(void) nng_listener_close(
			    s->listeners[i]); /* stopping */
		}
	}

	/*
	 * (3) Stop every aio before anything is freed: a worker waiting in
	 * receive wakes with NNG_ECANCELED; a stopped aio fails every later
	 * operation at once, so a worker still in its handler ends at its
	 * next send or receive. Closing the contexts makes sure of it.
	 */
	for (int i = 0; i < s->n_workers; i++) {
		if (s->workers[i].aio != NULL) {
			nng_aio_stop(s->workers[i].aio);
		}
	}
	for (int i = 0; i < s->n_workers; i++) {
		if (s->workers[i].ctx_open) {
			(void) nng_ctx_close(s->workers[i].ctx); /* stopping */
		}
	}

	/* (4) Join, then release each thread's context. */
	for (int i = 0; i < s->n_workers; i++) {
		rpc_worker *w = &s->workers[i];

		if (w->thread_started) {
			pthread_join(w->thread, NULL);
		}
		if (w->thread_inited && s->opts.thread_fini_cb != NULL) {
			s->opts.thread_fini_cb(s->opts.arg, w->thread_ctx);
		}
		nng_aio_free(w->aio);
		/* Waits for the last reply's send (and its callback). */
		nng_aio_free(w->send_aio);
		free(w->req);
		free(w->rep);
	}
	if (s->sock_open) {
		(void) nng_close(s->sock); /* nothing left to report to */
	}
	free(s->workers);
	free(s->listeners);
	free(s);
}
