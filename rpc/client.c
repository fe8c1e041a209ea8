/*
 * client.c: the RPC client: one req0 socket dialing every URL, one nng_ctx
 * and aio per call, driven by a small state machine over aio callbacks
 * (send -> receive -> decode, with a backoff sleep between attempts). The
 * synchronous call is the asynchronous one plus a wait. See rpc/README.md.
 *
 * Locking: rpc_client.mu guards the pending list and the closing flag. The
 * only nng call made under it is nng_aio_cancel (rpc_client_free), which
 * completes the aio through nng's task threads, never inline, so a callback
 * taking mu cannot deadlock. No lock is held across a send, a receive or a
 * sleep.
 */
#include "rpc/client.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "rpc_int.h"

#define RPC_COMPONENT               "rpc.client"
#define RPC_DEFAULT_MAX_MSG_BYTES   ((size_t) 4 << 20)
#define RPC_DEFAULT_TIMEOUT_MS      5000
#define RPC_DEFAULT_MAX_ATTEMPTS    3
#define RPC_DEFAULT_BACKOFF_BASE_MS 20
#define RPC_DEFAULT_BACKOFF_MAX_MS  500
/*
 * How long an attempt waits for a connection before UNAVAILABLE; longer
 * when a URL is TLS, whose connection takes two more round trips and the
 * handshake's CPU.
 */
#define RPC_PEER_WAIT_MS     250
#define RPC_TLS_PEER_WAIT_MS 1000
#define RPC_RECONNECT_MIN_MS 10
#define RPC_RECONNECT_MAX_MS 500

typedef enum call_state {
	CALL_SEND,  /* request handed to nng_ctx_send */
	CALL_RECV,  /* waiting in nng_ctx_recv for the reply */
	CALL_SLEEP, /* backoff before the next attempt */
} call_state;

typedef struct rpc_call rpc_call;

struct rpc_call {
	rpc_client *c;
	rpc_call   *prev; /* guarded by c->mu: the pending list */
	rpc_call   *next; /* guarded by c->mu */
	/*
	 * The rest is touched only by the call's own chain of callbacks (one
	 * at a time: an aio runs one operation), and by the thread that
	 * started it before the first operation.
	 */
	nng_ctx     ctx;
	nng_aio    *aio;   /* send and receive */
	nng_aio    *timer; /* backoff only: see sleep_bug in rpc/README.md */
	uint8_t    *buf;   /* the encoded request, sent again on a retry */
	size_t      len;
	void       *rep;
	pb_size_t   call; /* the request's call tag: the reply's result tag */
	rpc_done_cb cb;
	void       *arg;
	int         timeout_ms;
	int64_t     deadline_mono_ms;
	int         attempt;
	int         max_attempts;
	bool        idempotent;
	call_state  state;
	tp_err      last; /* why the last attempt failed */
};

struct rpc_client {
	rpc_client_opts opts; /* defaults resolved */
	char           *urls; /* for messages */
	nng_socket      sock;
	bool            sock_open;
	atomic_int      pipes; /* connected peers, from pipe notifications */
	/* The dialers of TLS URLs, for diagnostics; set in open, then read. */
	nng_dialer           *tls_dialers;
	size_t                n_tls_dialers;
	atomic_uint_least64_t rng;
	pthread_mutex_t       mu;
	pthread_cond_t        cv;      /* n_pending reached 0 */
	bool                  closing; /* guarded by mu */
	rpc_call             *pending; /* guarded by mu: calls not finished */
	int n_pending;                 /* guarded by mu: calls whose cb has not
	                                  returned yet */
};

static void start_attempt(rpc_call *k);

static void
lock(rpc_client *c)
{
	pthread_mutex_lock(&c->mu);
}

static void
unlock(rpc_client *c)
{
	pthread_mutex_unlock(&c->mu);
}

static bool
is_closing(rpc_client *c)
{
	bool closing;

	lock(c);
	closing = c->closing;
	unlock(c);
	return closing;
}

static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	rpc_client *c = arg;

	(void) p;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_fetch_add(&c->pipes, 1);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		atomic_fetch_sub(&c->pipes, 1);
	}
}

/* rand64: splitmix64 over a shared counter; lock-free, good enough for jitter.
 */
static uint64_t
rand64(rpc_client *c)
{
	uint64_t z = atomic_fetch_add(&c->rng, UINT64_C(0x9e3779b97f4a7c15));

	z += UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/*
 * backoff_ms: exponential from the base, capped at the max, then "equal
 * jitter": a random point in the upper half, so that calls failing together
 * do not come back together.
 */
static int
backoff_ms(rpc_client *c, int attempt)
{
	int64_t d = c->opts.backoff_base_ms;

	for (int i = 1; i < attempt && d < c->opts.backoff_max_ms; i++) {
		d *= 2;
	}
	if (d > c->opts.backoff_max_ms) {
		d = c->opts.backoff_max_ms;
	}
	return (int) (d / 2 + (int64_t) (rand64(c) % (uint64_t) (d / 2 + 1)));
}

static int64_t
remaining_ms(const rpc_call *k)
{
	return k->deadline_mono_ms - tp_clock_mono_ms();
}

static const char *
service(const rpc_call *k)
{
	return k->c->opts.env->service;
}

/*
 * finish ends a call: unlinks it, releases its nng resources, reports to the
 * caller, and frees it. Runs on an nng thread, from the call's own aio
 * callback: hence nng_aio_reap, never nng_aio_free.
 */
static void
finish(rpc_call *k, tp_status code, const tp_err *e)
{
	rpc_client *c = k->c;
	tp_err      done;

	tp_err_clear(&done);
	if (code != TP_OK) {
		done.code = code;
		snprintf(done.msg, sizeof(done.msg), "%s",
		    e != NULL && e->msg[0] != '\0' ? e->msg
		                                   : tp_status_name(code));
	}
	lock(c);
	if (k->prev != NULL) {
		k->prev->next = k->next;
	} else {
		c->pending = k->next;
	}
	if (k->next != NULL) {
		k->next->prev = k->prev;
	}
	unlock(c);

	(void) nng_ctx_close(k->ctx); /* already gone once the socket closed */
	nng_aio_reap(k->aio);
	nng_aio_reap(k->timer);
	k->cb(k->arg, code, &done, k->rep);

	lock(c);
	if (--c->n_pending == 0) {
		pthread_cond_broadcast(&c->cv);
	}
	unlock(c);
	free(k->buf);
	free(k);
}

/*
 * attempt_failed decides between another attempt (idempotent calls, on
 * UNAVAILABLE, while attempts and time remain) and finishing with code.
 */
static void
attempt_failed(rpc_call *k, tp_status code, const tp_err *e)
{
	rpc_client *c = k->c;
	int         delay;

	k->last = *e;
	if (code == TP_UNAVAILABLE && k->idempotent
	    && k->attempt < k->max_attempts && !is_closing(c)) {
		delay = backoff_ms(c, k->attempt);
		if (remaining_ms(k) > delay) {
			k->state = CALL_SLEEP;
			nng_sleep_aio(delay, k->timer);
			return;
		}
	}
	finish(k, code, e);
}

/*
 * tls_failures sums nng's "auth" counter over the client's TLS dialers:
 * the TLS handshakes that failed (a server certificate that does not
 * verify against the CA file or the server name, a client certificate the
 * server refused, a peer that does not speak TLS). 0 when nng keeps no
 * statistics. Takes nng's statistics lock briefly; does not block.
 */
static uint64_t
tls_failures(rpc_client *c)
{
	nng_stat *all = NULL;
	uint64_t  n   = 0;

	if (c->n_tls_dialers == 0 || nng_stats_get(&all) != 0) {
		return 0;
	}
	for (size_t i = 0; i < c->n_tls_dialers; i++) {
		nng_stat *d = nng_stat_find_dialer(all, c->tls_dialers[i]);
		nng_stat *a = d != NULL ? nng_stat_find(d, "auth") : NULL;

		if (a != NULL) {
			n += nng_stat_value(a);
		}
	}
	nng_stats_free(all);
	return n;
}

/*
 * no_connection words UNAVAILABLE for an attempt that found no connected
 * peer. Over TLS a failed handshake looks the same to req0 as a server
 * that is down, so the count of failed handshakes since the client opened
 * is added: the one clue to a certificate problem the caller can get.
 */
static tp_status
no_connection(rpc_call *k, tp_err *e)
{
	uint64_t n = tls_failures(k->c);

	if (n > 0) {
		return tp_err_set(e, TP_UNAVAILABLE,
		    "could not reach %s at %s: no connection; %" PRIu64
		    " TLS handshakes failed (a server certificate that does "
		    "not match the CA file or the server name, a client "
		    "certificate the server refused, or a peer without TLS)",
		    service(k), k->c->urls, n);
	}
	return tp_err_set(e, TP_UNAVAILABLE,
	    "could not reach %s at %s: no connection", service(k), k->c->urls);
}

/* send_status maps a failed nng_ctx_send to the call's status. */
static tp_status
send_status(rpc_call *k, int rv, tp_err *e)
{
	if (rv == NNG_ECLOSED || is_closing(k->c)) {
		return tp_err_set(e, TP_CANCELLED, "client closed");
	}
	if (rv == NNG_ETIMEDOUT) {
		/*
		 * The request never left: either no peer was connected
		 * (the short wait for one ran out), or the peers were busy
		 * until the call's own deadline.
		 */
		if (atomic_load(&k->c->pipes) > 0 && remaining_ms(k) <= 0) {
			return tp_err_set(e, TP_DEADLINE_EXCEEDED,
			    "%s did not take the request within %d ms",
			    service(k), k->timeout_ms);
		}
		return no_connection(k, e);
	}
	return tp_err_set(e, TP_UNAVAILABLE,
	    "could not send request to %s at %s: %s", service(k), k->c->urls,
	    nng_strerror(rv));
}

/* recv_status maps a failed nng_ctx_recv to the call's status. */
static tp_status
recv_status(rpc_call *k, int rv, tp_err *e)
{
	if (rv == NNG_ECLOSED || is_closing(k->c)) {
		return tp_err_set(e, TP_CANCELLED, "client closed");
	}
	if (rv == NNG_ETIMEDOUT) {
		return tp_err_set(e, TP_DEADLINE_EXCEEDED,
		    "no reply from %s within %d ms", service(k), k->timeout_ms);
	}
	/* NNG_ECONNRESET: the connection carrying the request closed. */
	return tp_err_set(e, TP_UNAVAILABLE,
	    "lost the connection to %s at %s: %s", service(k), k->c->urls,
	    nng_strerror(rv));
}

/*
 * decode_reply decodes msg into k->rep and returns the status the server
 * sent, with its message in e. An OK reply whose result tag is not the
 * call's (the envelopes' convention) is TP_INTERNAL: it answers some other
 * call, and handing it on would make the caller read the wrong member of
 * the oneof. On any status but TP_OK rep is left zeroed.
 */
static tp_status
decode_reply(rpc_call *k, nng_msg *msg, tp_err *e)
{
	const proto_envelope *env = k->c->opts.env;
	pb_istream_t          is;
	tp_v1_Status         *st;
	tp_status             code;
	pb_size_t             result;
	const char           *name;
	char                  what[32];

	memset(k->rep, 0, env->rep_size);
	is = pb_istream_from_buffer(nng_msg_body(msg), nng_msg_len(msg));
	if (!pb_decode(&is, env->rep_fields, k->rep)) {
		memset(k->rep, 0, env->rep_size);
		return tp_err_set(e, TP_INTERNAL,
		    "could not decode reply from %s: %s", service(k),
		    PB_GET_ERROR(&is));
	}
	st   = env->rep_status(k->rep);
	code = st->code >= 0 && st->code <= TP_STATUS_MAX ? (tp_status) st->code
	                                                  : TP_UNKNOWN;
	result = env->rep_result(k->rep);
	if (code != TP_OK) {
		tp_err_set(e, code, "%s", st->message);
	} else if (result == k->call) {
		tp_err_clear(e);
		return TP_OK;
	} else {
		tp_log_error(RPC_COMPONENT,
		    "reply carried the wrong result service=%s call_tag=%u "
		    "result_tag=%u",
		    service(k), (unsigned) k->call, (unsigned) result);
		if ((name = env->call_name(k->call)) == NULL) {
			snprintf(
			    what, sizeof(what), "call %u", (unsigned) k->call);
			name = what;
		}
		code = tp_err_set(e, TP_INTERNAL,
		    "reply to %s carried result tag %u", name,
		    (unsigned) result);
	}
	pb_release(env->rep_fields, k->rep);
	memset(k->rep, 0, env->rep_size);
	return code;
}

static void
call_cb(void *arg)
{
	rpc_call *k  = arg;
	int       rv = nng_aio_result(k->aio);
	nng_msg  *msg;
	int64_t   left;
	tp_status code;
	tp_err    e;

	tp_err_clear(&e);
	switch (k->state) {
	case CALL_SEND:
		if (rv != 0) {
			/* A failed send leaves the message with us. */
			if ((msg = nng_aio_get_msg(k->aio)) != NULL) {
				nng_msg_free(msg);
			}
			nng_aio_set_msg(k->aio, NULL);
			code = send_status(k, rv, &e);
			attempt_failed(k, code, &e);
			return;
		}
		if ((left = remaining_ms(k)) <= 0) {
			code = tp_err_set(&e, TP_DEADLINE_EXCEEDED,
			    "no reply from %s within %d ms", service(k),
			    k->timeout_ms);
			finish(k, code, &e);
			return;
		}
		if (is_closing(k->c)) {
			finish(k, tp_err_set(&e, TP_CANCELLED, "client closed"),
			    &e);
			return;
		}
		k->state = CALL_RECV;
		nng_aio_set_timeout(k->aio, (nng_duration) left);
		nng_ctx_recv(k->ctx, k->aio);
		return;
	case CALL_RECV:
		if (rv != 0) {
			code = recv_status(k, rv, &e);
			attempt_failed(k, code, &e);
			return;
		}
		msg = nng_aio_get_msg(k->aio);
		nng_aio_set_msg(k->aio, NULL);
		code = decode_reply(k, msg, &e);
		nng_msg_free(msg);
		if (code == TP_UNAVAILABLE) {
			/*
			 * The server could not serve it (shutting down, no
			 * database): another node may.
			 */
			attempt_failed(k, code, &e);
			return;
		}
		finish(k, code, &e);
		return;
	case CALL_SLEEP:
		/* The timer's, not ours: see timer_cb. */
		return;
	}
}

/*
 * timer_cb ends a backoff. The sleep has its own aio because in nng 1.5.2 an
 * aio once used with nng_sleep_aio reports a later timed-out send as a
 * success (rpc/README.md).
 */
static void
timer_cb(void *arg)
{
	rpc_call *k = arg;
	tp_err    e;

	if (nng_aio_result(k->timer) != 0) {
		/* Only rpc_client_free cancels a backoff. */
		finish(k, tp_err_set(&e, TP_CANCELLED, "client closed"), &e);
		return;
	}
	start_attempt(k);
}

/*
 * start_attempt sends the request once more. When no peer is connected it
 * waits for one only briefly (RPC_PEER_WAIT_MS, RPC_TLS_PEER_WAIT_MS): the
 * send then times out and the attempt fails UNAVAILABLE, not
 * DEADLINE_EXCEEDED.
 */
static void
start_attempt(rpc_call *k)
{
	nng_msg *msg = NULL;
	int64_t  left;
	int64_t  peer_wait;
	int      rv;

	left = remaining_ms(k);
	if (k->attempt > 0 && left <= 0) {
		finish(k, k->last.code, &k->last);
		return;
	}
	if (is_closing(k->c)) {
		tp_err e;

		finish(k, tp_err_set(&e, TP_CANCELLED, "client closed"), &e);
		return;
	}
	if (left < 1) {
		left = 1;
	}
	peer_wait
	    = k->c->n_tls_dialers > 0 ? RPC_TLS_PEER_WAIT_MS : RPC_PEER_WAIT_MS;
	if (atomic_load(&k->c->pipes) == 0 && left > peer_wait) {
		left = peer_wait;
	}
	if ((rv = nng_msg_alloc(&msg, k->len)) != 0) {
		tp_log_error(RPC_COMPONENT, "out of memory bytes=%zu", k->len);
		abort();
	}
	memcpy(nng_msg_body(msg), k->buf, k->len);
	k->attempt++;
	k->state = CALL_SEND;
	nng_aio_set_msg(k->aio, msg);
	nng_aio_set_timeout(k->aio, (nng_duration) left);
	nng_ctx_send(k->ctx, k->aio);
}

/*
 * dial starts dialing url in the background (NNG_FLAG_NONBLOCK: opening
 * works while the server is down), with its own TLS configuration when the
 * URL takes one: each URL's host is the name its server's certificate is
 * checked against.
 */
static tp_status
dial(rpc_client *c, const char *url, const rpc_tls_opts *tls_opts, tp_err *err)
{
	tp_status       rc     = TP_OK;
	nng_tls_config *tls    = NULL;
	nng_dialer      d      = NNG_DIALER_INITIALIZER;
	bool            is_tls = rpc_url_is_tls(url);
	int             rv;

	if (is_tls) {
		if (tls_opts == NULL) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "server url \"%s\" needs TLS options: a CA file",
			    url);
		}
		rc = rpc_tls_config_new(&tls, tls_opts, false, url, err);
		if (rc != TP_OK) {
			return rc;
		}
	}
	if ((rv = nng_dialer_create(&d, c->sock, url)) != 0) {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid server url \"%s\": %s", url, nng_strerror(rv));
		goto out;
	}
	if (is_tls
	    && (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, tls)) != 0) {
		rc = tp_err_set(err, TP_INTERNAL,
		    "could not set the TLS configuration of \"%s\": %s", url,
		    nng_strerror(rv));
		goto out;
	}
	if ((rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid server url \"%s\": %s", url, nng_strerror(rv));
		goto out;
	}
	if (is_tls) {
		size_t n = c->n_tls_dialers + 1;

		c->tls_dialers = tp_xrealloc(c->tls_dialers, n * sizeof(d));
		c->tls_dialers[n - 1] = d;
		c->n_tls_dialers      = n;
	}

out:
	if (rc != TP_OK && nng_dialer_id(d) > 0) {
		(void) nng_dialer_close(d); /* never started */
	}
	if (tls != NULL) {
		nng_tls_config_free(tls); /* the dialer holds its own */
	}
	return rc;
}

static tp_status
check_opts(const rpc_client_opts *o, tp_err *err)
{
	if (o == NULL || o->env == NULL) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "client options need an envelope");
	}
	if (o->timeout_ms < 0 || o->max_attempts < 0 || o->backoff_base_ms < 0
	    || o->backoff_max_ms < 0) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "client timeouts, attempts and backoff cannot be negative");
	}
	return TP_OK;
}

tp_status
rpc_client_open(rpc_client **out, const char *urls, const rpc_client_opts *opts,
    tp_err *err)
{
	tp_status   rc    = TP_OK;
	rpc_client *c     = NULL;
	char       *list  = NULL;
	char       *save  = NULL;
	int         n_url = 0;
	int         rv;

	if ((rc = check_opts(opts, err)) != TP_OK) {
		return rc;
	}
	if (urls == NULL || urls[0] == '\0') {
		return tp_err_set(
		    err, TP_INVALID_ARGUMENT, "client needs a server url");
	}
	c           = tp_xcalloc(1, sizeof(*c));
	c->opts     = *opts;
	c->opts.tls = NULL; /* borrowed for this call only */
	if (c->opts.max_msg_bytes == 0) {
		c->opts.max_msg_bytes = RPC_DEFAULT_MAX_MSG_BYTES;
	}
	if (c->opts.timeout_ms == 0) {
		c->opts.timeout_ms = RPC_DEFAULT_TIMEOUT_MS;
	}
	if (c->opts.max_attempts == 0) {
		c->opts.max_attempts = RPC_DEFAULT_MAX_ATTEMPTS;
	}
	if (c->opts.backoff_base_ms == 0) {
		c->opts.backoff_base_ms = RPC_DEFAULT_BACKOFF_BASE_MS;
	}
	if (c->opts.backoff_max_ms == 0) {
		c->opts.backoff_max_ms = RPC_DEFAULT_BACKOFF_MAX_MS;
	}
	if (c->opts.backoff_max_ms < c->opts.backoff_base_ms) {
		c->opts.backoff_max_ms = c->opts.backoff_base_ms;
	}
	c->urls = tp_xstrdup(urls);
	atomic_init(&c->pipes, 0);
	atomic_init(
	    &c->rng, (uint64_t) tp_clock_mono_us() ^ (uint64_t) (uintptr_t) c);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);

	if ((rv = nng_req0_open(&c->sock)) != 0) {
		rc = tp_err_set(err, TP_INTERNAL, "could not open socket: %s",
		    nng_strerror(rv));
		goto out;
	}
	c->sock_open = true;
	if ((rv = nng_socket_set_ms(
	         c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_ZERO))
	        != 0
	    || (rv = nng_socket_set_size(
	            c->sock, NNG_OPT_RECVMAXSZ, c->opts.max_msg_bytes))
	        != 0
	    || (rv = nng_socket_set_ms(
	            c->sock, NNG_OPT_RECONNMINT, RPC_RECONNECT_MIN_MS))
	        != 0
	    || (rv = nng_socket_set_ms(
	            c->sock, NNG_OPT_RECONNMAXT, RPC_RECONNECT_MAX_MS))
	        != 0
	    || (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, c))
	        != 0
	    || (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_cb, c))
	        != 0) {
		rc = tp_err_set(err, TP_INTERNAL,
		    "could not set socket options: %s", nng_strerror(rv));
		goto out;
	}

	list = tp_xstrdup(urls);
	for (char *u = strtok_r(list, ",", &save); u != NULL;
	     u       = strtok_r(NULL, ",", &save)) {
		char *end;

		while (*u == ' ' || *u == '\t') {
			u++;
		}
		end = u + strlen(u);
		while (end > u && (end[-1] == ' ' || end[-1] == '\t')) {
			*--end = '\0';
		}
		if (*u == '\0') {
			continue;
		}
		if ((rc = dial(c, u, opts->tls, err)) != TP_OK) {
			goto out;
		}
		n_url++;
	}
	if (n_url == 0) {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid server url list \"%s\": no url", urls);
		goto out;
	}

out:
	free(list);
	if (rc != TP_OK) {
		rpc_client_free(c);
		return rc;
	}
	*out = c;
	return TP_OK;
}

void
rpc_client_free(rpc_client *c)
{
	if (c == NULL) {
		return;
	}
	/*
	 * Fail our own calls first and wait for their callbacks, and only then
	 * close the socket: nng 1.5.2 can hang in nng_close when a message is
	 * being received at that moment (nng issue #1543; rpc/README.md), so
	 * the socket is never closed with our own traffic in flight. A call
	 * checks closing before each operation it starts, without holding mu
	 * across the start, so one may slip in just after a cancel pass: the
	 * pass is repeated until no call is left.
	 */
	lock(c);
	c->closing = true;
	while (c->n_pending > 0) {
		struct timespec ts;

		for (rpc_call *k = c->pending; k != NULL; k = k->next) {
			nng_aio_cancel(k->aio);
			nng_aio_cancel(k->timer);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		(void) pthread_cond_timedwait(&c->cv, &c->mu, &ts); /* looped */
	}
	unlock(c);
	if (c->sock_open) {
		(void) nng_close(c->sock); /* closing: nothing to report to */
	}
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c->tls_dialers);
	free(c->urls);
	free(c);
}

tp_status
rpc_client_call_async(rpc_client *c, void *req, void *rep,
    const rpc_call_opts *copts, rpc_done_cb cb, void *arg, tp_err *err)
{
	const proto_envelope *env;
	tp_status             rc       = TP_OK;
	rpc_call             *k        = NULL;
	pb_ostream_t          os       = PB_OSTREAM_SIZING;
	bool                  ctx_open = false;
	int                   rv;

	if (c == NULL || req == NULL || rep == NULL || cb == NULL) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "a call needs a client, a request, a reply and a callback");
	}
	env                 = c->opts.env;
	k                   = tp_xcalloc(1, sizeof(*k));
	k->c                = c;
	k->rep              = rep;
	k->cb               = cb;
	k->arg              = arg;
	k->timeout_ms       = copts != NULL && copts->timeout_ms > 0
	          ? copts->timeout_ms
	          : c->opts.timeout_ms;
	k->call             = env->req_call(req);
	k->idempotent       = copts != NULL && copts->idempotent;
	k->max_attempts     = k->idempotent ? c->opts.max_attempts : 1;
	k->deadline_mono_ms = tp_clock_mono_ms() + k->timeout_ms;
	env->req_set_deadline_ms(req, tp_clock_unix_ms() + k->timeout_ms);

	if (!pb_encode(&os, env->req_fields, req)) {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "could not encode request: %s", PB_GET_ERROR(&os));
		goto out;
	}
	if (os.bytes_written > c->opts.max_msg_bytes) {
		rc = tp_err_set(err, TP_RESOURCE_EXHAUSTED,
		    "request of %zu bytes exceeds the message limit of %zu "
		    "bytes",
		    os.bytes_written, c->opts.max_msg_bytes);
		goto out;
	}
	k->len = os.bytes_written;
	k->buf = tp_xmalloc(k->len > 0 ? k->len : 1);
	os     = pb_ostream_from_buffer(k->buf, k->len);
	if (!pb_encode(&os, env->req_fields, req)) {
		rc = tp_err_set(err, TP_INTERNAL,
		    "could not encode request: %s", PB_GET_ERROR(&os));
		goto out;
	}
	memset(rep, 0, env->rep_size);

	if ((rv = nng_aio_alloc(&k->aio, call_cb, k)) != 0
	    || (rv = nng_aio_alloc(&k->timer, timer_cb, k)) != 0) {
		rc = tp_err_set(err, TP_INTERNAL, "could not start call: %s",
		    nng_strerror(rv));
		goto out;
	}
	if ((rv = nng_ctx_open(&k->ctx, c->sock)) != 0) {
		rc = rv == NNG_ECLOSED
		    ? tp_err_set(err, TP_CANCELLED, "client closed")
		    : tp_err_set(err, TP_INTERNAL, "could not start call: %s",
		        nng_strerror(rv));
		goto out;
	}
	ctx_open = true;

	lock(c);
	if (c->closing) {
		unlock(c);
		rc = tp_err_set(err, TP_CANCELLED, "client closed");
		goto out;
	}
	k->next = c->pending;
	if (c->pending != NULL) {
		c->pending->prev = k;
	}
	c->pending = k;
	c->n_pending++;
	unlock(c);

	/* From here on the call ends in cb, on an nng thread. */
	start_attempt(k);
	return TP_OK;

out:
	if (ctx_open) {
		(void) nng_ctx_close(k->ctx); /* never used */
	}
	nng_aio_free(k->aio);
	nng_aio_free(k->timer);
	free(k->buf);
	free(k);
	return rc;
}

typedef struct sync_wait {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	bool            done; /* guarded by mu */
	tp_status       code; /* guarded by mu */
	tp_err          err;  /* guarded by mu */
} sync_wait;

static void
sync_done_cb(void *arg, tp_status code, const tp_err *err, void *rep)
{
	sync_wait *w = arg;

	(void) rep;
	pthread_mutex_lock(&w->mu);
	w->code = code;
	w->err  = *err;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

tp_status
rpc_client_call(rpc_client *c, void *req, void *rep, const rpc_call_opts *copts,
    tp_err *err)
{
	sync_wait w;
	tp_status rc;

	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	rc = rpc_client_call_async(c, req, rep, copts, sync_done_cb, &w, err);
	if (rc == TP_OK) {
		pthread_mutex_lock(&w.mu);
		while (!w.done) {
			pthread_cond_wait(&w.cv, &w.mu);
		}
		pthread_mutex_unlock(&w.mu);
		rc = w.code;
		if (err != NULL) {
			*err = w.err;
		}
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return rc;
}
