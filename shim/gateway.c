/*
 * gateway.c: the HTTP side of the gateway: libmicrohttpd listeners, request
 * admission (route, token, body limit), the asynchronous RPC, and the JSON
 * response (see gateway.h).
 *
 * DESIGN: the life of one request (struct req), all on the MHD thread that
 * owns the connection except where marked:
 *   1. first access_cb call: match the route, check the token and the
 *      declared body size; answer at once on any failure (MHD then closes
 *      the connection without reading a body);
 *   2. next calls: collect the body (up to max_body_bytes, the excess is
 *      dropped and answered 413) in the request's own heap buffer, never
 *      in MHD's per-connection pool, which stays small (see listen_one);
 *   3. last call: parse, build the RPC request, count the request in
 *      in_flight, MHD_suspend_connection, rpc_client_call_async;
 *   4. done_cb (an nng thread, must not block): store the status, set done,
 *      MHD_resume_connection: its last touch of the request;
 *   5. access_cb again, resumed: build the JSON and queue the response;
 *   6. completed_cb: free the request, leave in_flight.
 * HEAD is admitted as the GET of its path; MHD sends the headers alone.
 * GET /metrics takes the same path: its call (upstream.c) asks the service
 * for its part, and step 5 answers 200 in Prometheus text whatever the
 * call's outcome.
 * A suspended connection is never stopped under us: shim_gateway_free first
 * stops new calls (stopping/starting), waits for in_flight to reach 0, and
 * only then stops the daemons; if replies do not come in time, it closes
 * the RPC clients first, which fails (and so resumes) every call pending.
 *
 * Every response goes through respond_raw(): the one place that counts
 * requests per route, method and status (metrics.h); every RPC is timed
 * from its start to done_cb.
 */
#include "shim/gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "calls_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "proto/json.h"
#include "rpc/client.h"
#include "shim/auth.h"
#include "shim/http_status.h"
#include "shim/metrics.h"

#define GW_COMPONENT "shim"
/* Query parameters one request may carry. */
#define GW_MAX_ARGS 16

typedef struct listener {
	shim_gateway      *gw;
	shim_service       svc;
	struct MHD_Daemon *d;
	int                port;
	rpc_client        *client; /* borrowed from gw */
	/* Failure log rate limit, see observe(). */
	atomic_int_least64_t warn_next_ms;
	atomic_int           warn_skipped;
} listener;

struct shim_gateway {
	const shim_config *cfg;
	shim_metrics      *metrics;
	rpc_client        *clients[SHIM_SERVICE_COUNT];
	listener           l[SHIM_SERVICE_COUNT];
	atomic_int         in_flight; /* requests counted in step 3 */
	/*
	 * Stopping: once stopping is set, no call starts; starting counts the
	 * threads between their check of stopping and the end of their
	 * rpc_client_call_async, so the clients are freed only at 0.
	 */
	atomic_bool stopping;
	atomic_int  starting;
};

typedef enum req_state {
	REQ_BODY,     /* admitted, collecting the body */
	REQ_WAITING,  /* suspended, RPC in flight */
	REQ_ANSWERED, /* a response is queued */
} req_state;

typedef struct req {
	listener              *l;
	struct MHD_Connection *conn;
	shim_match             match;
	/* What the request is counted under: its route, or the one whose
	 * path shape it had, or NULL; and its method. */
	const shim_route *counted_route;
	char              method[16];
	req_state         state;
	char             *body;
	size_t            body_len;
	size_t            body_cap;
	bool              body_too_large;
	bool              counted; /* in gw->in_flight */
	/* A refusal kept for when the (empty) body is read; see refuse(). */
	json_t     *refused;
	int         refused_http;
	const char *refused_hname;
	char        refused_hval[64];
	int64_t     start_us;
	int64_t     rpc_start_us;
	pb_size_t   rpc_call; /* the request's call tag */
	/* Written by done_cb before done is set, read after. */
	tp_status     code;
	tp_err        err;
	shim_call_rep rep;
	atomic_bool   done;
} req;

static const char *const service_names[SHIM_SERVICE_COUNT] = {
	[SHIM_SERVICE_DTP]   = "dtp",
	[SHIM_SERVICE_PILOT] = "taskpilot",
};

/*
 * observe is told about every response (body borrowed): the place for
 * per-route metrics. Failures (5xx) are logged at warn, at most one line a
 * second per listener with a count of those left out, so that an outage of
 * a service does not log a line per request.
 */
static void
observe(const req *q, int http, const json_t *body)
{
	listener   *l     = q->l;
	const char *route = q->match.route != NULL ? q->match.route->call : "-";
	int64_t     us    = tp_clock_mono_us() - q->start_us;

	if (http >= 500) {
		int64_t now  = tp_clock_mono_ms();
		int64_t next = atomic_load(&l->warn_next_ms);
		if (now >= next
		    && atomic_compare_exchange_strong(
		        &l->warn_next_ms, &next, now + 1000)) {
			const char *msg = json_string_value(
			    json_object_get(body, "message"));
			tp_log_warn(GW_COMPONENT,
			    "request failed service=%s route=%s status=%d "
			    "us=%" PRId64 " more=%d message=\"%s\"",
			    service_names[l->svc], route, http, us,
			    atomic_exchange(&l->warn_skipped, 0),
			    msg != NULL ? msg : "");
		} else {
			atomic_fetch_add(&l->warn_skipped, 1);
		}
	} else if (tp_log_enabled(TP_LOG_DEBUG)) {
		tp_log_debug(GW_COMPONENT,
		    "request service=%s route=%s status=%d us=%" PRId64,
		    service_names[l->svc], route, http, us);
	}
}

/*
 * respond_raw queues http with text (len bytes, taken over: freed here) of
 * content_type, and up to one extra header. Returns what
 * MHD_queue_response returns.
 */
static enum MHD_Result
respond_raw(req *q, int http, const char *content_type, char *text, size_t len,
    const char *hname, const char *hval)
{
	struct MHD_Response *resp;
	enum MHD_Result      ret;

	q->state = REQ_ANSWERED;
	shim_metrics_http_observe(q->l->gw->metrics, q->l->svc,
	    q->counted_route, q->method, http,
	    tp_clock_mono_us() - q->start_us);
	resp
	    = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	(void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    content_type); /* fails only out of pool memory */
	if (hname != NULL) {
		(void) MHD_add_response_header(resp, hname, hval);
	}
	if (atomic_load(&q->l->gw->stopping)) {
		/* Stopping: send keep-alive clients away. */
		(void) MHD_add_response_header(
		    resp, MHD_HTTP_HEADER_CONNECTION, "close");
	}
	ret = MHD_queue_response(q->conn, (unsigned int) http, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * respond queues http with body (consumed) as JSON, and up to one extra
 * header.
 */
static enum MHD_Result
respond(req *q, int http, json_t *body, const char *hname, const char *hval)
{
	char *text = json_dumps(body, JSON_COMPACT);

	observe(q, http, body);
	json_decref(body);
	if (text == NULL) {
		tp_log_error(
		    GW_COMPONENT, "could not encode JSON: out of memory");
		abort();
	}
	return respond_raw(
	    q, http, "application/json", text, strlen(text), hname, hval);
}

static enum MHD_Result
respond_error(req *q, tp_status code, const char *msg)
{
	return respond(q, shim_http_status((int) code),
	    proto_json_error_new(code, msg), NULL, NULL);
}

static enum MHD_Result
respond_too_large(req *q)
{
	char msg[128];

	snprintf(msg, sizeof(msg),
	    "request body is larger than the limit of %lld bytes",
	    q->l->gw->cfg->max_body_bytes);
	return respond(q, MHD_HTTP_CONTENT_TOO_LARGE,
	    proto_json_error_new(TP_RESOURCE_EXHAUSTED, msg), NULL, NULL);
}

/*
 * refuse answers a request refused in step 1. A request without a body is
 * answered once MHD has read it all, which keeps the connection alive; one
 * with a body is answered at once, and MHD closes the connection rather
 * than read a body nobody wants.
 */
static enum MHD_Result
refuse(req *q, int http, json_t *body, const char *hname, const char *hval)
{
	const char *len = MHD_lookup_connection_value(
	    q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(
	    q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);

	if (te != NULL || (len != NULL && strcmp(len, "0") != 0)) {
		return respond(q, http, body, hname, hval);
	}
	q->refused       = body;
	q->refused_http  = http;
	q->refused_hname = hname;
	snprintf(q->refused_hval, sizeof(q->refused_hval), "%s",
	    hval != NULL ? hval : "");
	q->state = REQ_BODY;
	return MHD_YES;
}

/* Step 1: route, token and declared body size. */
static enum MHD_Result
admit(req *q, const char *url, const char *method)
{
	const shim_config *cfg = q->l->gw->cfg;
	tp_err             err;
	tp_status          rc;
	const char        *len_hdr;

	snprintf(q->method, sizeof(q->method), "%s", method);
	rc = shim_route_match(&q->match, q->l->svc, method, url, &err);
	q->counted_route
	    = rc == TP_OK ? q->match.route : shim_route_shape(q->l->svc, url);
	if (cfg->api_token != NULL && cfg->api_token[0] != '\0'
	    && !(rc == TP_OK && q->match.route->is_public)
	    && !shim_auth_bearer_ok(
	        MHD_lookup_connection_value(
	            q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
	        cfg->api_token)) {
		/* Before any 404 or 405: without the token, nothing is told. */
		q->match.route = NULL;
		return refuse(q, MHD_HTTP_UNAUTHORIZED,
		    proto_json_error_new(
		        TP_UNAUTHENTICATED, "missing or invalid bearer token"),
		    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	}
	if (rc == TP_UNIMPLEMENTED) {
		char allow[64]; /* at most "GET, HEAD, POST, PUT" */
		shim_route_allow(allow, sizeof(allow), q->l->svc, url);
		q->match.route = NULL;
		return refuse(q, MHD_HTTP_METHOD_NOT_ALLOWED,
		    proto_json_error_new(TP_UNIMPLEMENTED, err.msg),
		    MHD_HTTP_HEADER_ALLOW, allow);
	}
	if (rc != TP_OK) {
		q->match.route = NULL;
		return refuse(q, shim_http_status((int) rc),
		    proto_json_error_new(rc, err.msg), NULL, NULL);
	}
	len_hdr = MHD_lookup_connection_value(
	    q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (len_hdr != NULL) {
		char              *end = NULL;
		unsigned long long n;
		errno = 0;
		n     = strtoull(len_hdr, &end, 10);
		if (errno != 0
		    || n > (unsigned long long) cfg->max_body_bytes) {
			return respond_too_large(q);
		}
	}
	q->state = REQ_BODY;
	return MHD_YES;
}

/* Step 2: keep the body, up to the limit. */
static void
take_body(req *q, const char *data, size_t size)
{
	size_t max = (size_t) q->l->gw->cfg->max_body_bytes;

	if (q->body_too_large) {
		return;
	}
	if (size > max - q->body_len) {
		q->body_too_large = true;
		free(q->body);
		q->body     = NULL;
		q->body_len = 0;
		return;
	}
	if (q->body_len + size > q->body_cap) {
		size_t cap = q->body_cap != 0 ? q->body_cap : 1024;
		while (cap < q->body_len + size) {
			cap *= 2;
		}
		q->body     = tp_xrealloc(q->body, cap);
		q->body_cap = cap;
	}
	memcpy(q->body + q->body_len, data, size);
	q->body_len += size;
}

typedef struct args {
	shim_kv kv[GW_MAX_ARGS];
	size_t  n;
	bool    too_many;
} args;

static enum MHD_Result
arg_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	args *a = cls;

	(void) kind;
	if (a->n == GW_MAX_ARGS) {
		a->too_many = true;
		return MHD_NO;
	}
	a->kv[a->n].key   = key;
	a->kv[a->n].value = value;
	a->n++;
	return MHD_YES;
}

/* Step 4, on an nng thread: must not block. */
static void
done_cb(void *arg, tp_status code, const tp_err *err, void *rep)
{
	req                   *q    = arg;
	struct MHD_Connection *conn = q->conn;

	(void) rep; /* it is &q->rep */
	shim_metrics_rpc_observe(q->l->gw->metrics, q->l->svc, q->rpc_call,
	    code, tp_clock_mono_us() - q->rpc_start_us);
	q->code = code;
	if (code != TP_OK) {
		q->err = *err;
	}
	atomic_store_explicit(&q->done, true, memory_order_release);
	/* The last touch of q: once resumed, its MHD thread owns it again. */
	MHD_resume_connection(conn);
}

/* Step 3: the body is complete; make the call. */
static enum MHD_Result
start_call(req *q)
{
	const shim_route *r    = q->match.route;
	shim_gateway     *gw   = q->l->gw;
	json_t           *body = NULL;
	args              a;
	shim_call_in      in;
	shim_call_req     creq;
	rpc_call_opts     copts = { 0 };
	tp_err            err;
	tp_status         rc;

	if (q->refused != NULL) {
		json_t *refused = q->refused;
		q->refused      = NULL;
		return respond(q, q->refused_http, refused, q->refused_hname,
		    q->refused_hname != NULL ? q->refused_hval : NULL);
	}
	if (q->body_too_large) {
		return respond_too_large(q);
	}
	if (r->has_body) {
		if (q->body_len == 0) {
			return respond_error(q, TP_INVALID_ARGUMENT,
			    "request body is empty: expected a JSON object");
		}
		rc = proto_json_load(&body, q->body, q->body_len,
		    (int) gw->cfg->json_max_depth, &err);
		if (rc != TP_OK) {
			return respond_error(q, rc, err.msg);
		}
	}
	free(q->body);
	q->body = NULL;

	memset(&a, 0, sizeof(a));
	(void) MHD_get_connection_values(
	    q->conn, MHD_GET_ARGUMENT_KIND, arg_cb, &a); /* arg_cb keeps them */
	if (a.too_many) {
		json_decref(body);
		return respond_error(
		    q, TP_INVALID_ARGUMENT, "too many query parameters");
	}
	/* Only the list routes take parameters; elsewhere one is a mistake. */
	if (a.n > 0 && r->id != SHIM_ROUTE_LIST_TASKS
	    && r->id != SHIM_ROUTE_LIST_WEB_TASKS) {
		char msg[128];
		snprintf(msg, sizeof(msg), "unknown query parameter \"%.64s\"",
		    a.kv[0].key != NULL ? a.kv[0].key : "");
		json_decref(body);
		return respond_error(q, TP_INVALID_ARGUMENT, msg);
	}
	in.match           = &q->match;
	in.body            = body;
	in.idempotency_key = r->id == SHIM_ROUTE_CREATE_TASK
	    ? MHD_lookup_connection_value(
	        q->conn, MHD_HEADER_KIND, "Idempotency-Key")
	    : NULL;
	in.args            = a.kv;
	in.n_args          = a.n;
	rc                 = shim_call_build(&creq, &in, &err);
	json_decref(body);
	if (rc != TP_OK) {
		return respond_error(q, rc, err.msg);
	}

	/* Sequentially consistent: pairs with the stores in stop_calls(). */
	atomic_fetch_add(&gw->starting, 1);
	if (atomic_load(&gw->stopping)) {
		atomic_fetch_sub(&gw->starting, 1);
		shim_call_req_release(r, &creq);
		return respond_error(
		    q, TP_UNAVAILABLE, "the gateway is shutting down");
	}
	copts.timeout_ms = (int) gw->cfg->rpc_timeout_ms;
	copts.idempotent = creq.idempotent;
	q->state         = REQ_WAITING;
	q->counted       = true;
	q->rpc_call = r->service == SHIM_SERVICE_DTP ? creq.u.dtp.which_call
	                                             : creq.u.pilot.which_call;
	atomic_fetch_add(&gw->in_flight, 1);
	shim_metrics_in_flight_add(gw->metrics, q->l->svc, 1);
	/* Before the call: its callback may resume us at once. */
	MHD_suspend_connection(q->conn);
	q->rpc_start_us = tp_clock_mono_us();
	rc              = rpc_client_call_async(
	                 q->l->client, &creq.u, &q->rep, &copts, done_cb, q, &err);
	shim_call_req_release(r, &creq); /* encoded by now */
	if (rc != TP_OK) {
		shim_metrics_rpc_observe(gw->metrics, q->l->svc, q->rpc_call,
		    rc, tp_clock_mono_us() - q->rpc_start_us);
		q->code = rc;
		q->err  = err;
		atomic_store_explicit(&q->done, true, memory_order_release);
		MHD_resume_connection(q->conn);
	}
	atomic_fetch_sub(&gw->starting, 1);
	return MHD_YES;
}

/*
 * answer_metrics answers GET /metrics: this listener's series and what its
 * service answered (or that it did not).
 */
static enum MHD_Result
answer_metrics(req *q)
{
	const shim_route *r = q->match.route;
	shim_prom         w;
	char             *text;
	size_t            len;

	shim_prom_init(&w);
	shim_metrics_render(&w, q->l->gw->metrics, q->l->svc);
	shim_upstream_render(&w, r, q->code, &q->rep);
	if (q->code == TP_OK) {
		shim_call_rep_release(r, &q->rep);
	}
	text = shim_prom_take(&w, &len);
	return respond_raw(
	    q, 200, SHIM_METRICS_CONTENT_TYPE, text, len, NULL, NULL);
}

/* Step 5: resumed with the reply. */
static enum MHD_Result
answer(req *q)
{
	const shim_route *r    = q->match.route;
	json_t           *body = NULL;
	int               http;
	char              location[64];

	if (r->is_metrics) {
		return answer_metrics(q);
	}
	if (q->code != TP_OK) {
		return respond_error(q, q->code, q->err.msg);
	}
	shim_call_reply(&http, &body, r, &q->rep);
	shim_call_rep_release(r, &q->rep);
	if (http == 201) {
		snprintf(location, sizeof(location), "%s/%" JSON_INTEGER_FORMAT,
		    r->pattern,
		    json_integer_value(json_object_get(body, "id")));
		return respond(
		    q, http, body, MHD_HTTP_HEADER_LOCATION, location);
	}
	return respond(q, http, body, NULL, NULL);
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	listener *l = cls;
	req      *q = *con_cls;

	(void) version;
	if (q == NULL) {
		q           = tp_xcalloc(1, sizeof(*q));
		q->l        = l;
		q->conn     = conn;
		q->start_us = tp_clock_mono_us();
		atomic_init(&q->done, false);
		*con_cls = q;
		return admit(q, url, method);
	}
	switch (q->state) {
	case REQ_BODY:
		if (*upload_data_size > 0) {
			take_body(q, upload_data, *upload_data_size);
			*upload_data_size = 0;
			return MHD_YES;
		}
		return start_call(q);
	case REQ_WAITING:
		if (!atomic_load_explicit(&q->done, memory_order_acquire)) {
			return MHD_YES; /* not resumed by us: keep waiting */
		}
		return answer(q);
	case REQ_ANSWERED:
		break;
	}
	/* Answered early: drop whatever body still comes. */
	*upload_data_size = 0;
	return MHD_YES;
}

/* Step 6. */
static void
completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	listener *l = cls;
	req      *q = *con_cls;

	(void) conn;
	(void) toe;
	if (q == NULL) {
		return;
	}
	/* Resumed but closed before it was answered: the reply is ours. */
	if (q->state == REQ_WAITING
	    && atomic_load_explicit(&q->done, memory_order_acquire)
	    && q->code == TP_OK) {
		shim_call_rep_release(q->match.route, &q->rep);
	}
	if (q->counted) {
		shim_metrics_in_flight_add(l->gw->metrics, l->svc, -1);
		atomic_fetch_sub(&l->gw->in_flight, 1);
	}
	json_decref(q->refused);
	free(q->body);
	free(q);
	*con_cls = NULL;
}

/* Counts connections; on the connection's MHD thread. */
static void
connection_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	listener *l = cls;

	(void) conn;
	(void) socket_context;
	shim_metrics_connection_add(l->gw->metrics, l->svc,
	    toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

__attribute__((format(printf, 2, 0))) static void
mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
	char   line[512];
	size_t n;

	(void) cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
		line[--n] = '\0';
	}
	tp_log_warn(GW_COMPONENT, "libmicrohttpd: %s", line);
}

static tp_status
listen_one(listener *l, const char *addr, const shim_config *cfg, tp_err *err)
{
	struct sockaddr_storage     ss;
	socklen_t                   ss_len;
	const union MHD_DaemonInfo *info;
	unsigned int                flags;
	unsigned int                pool;
	tp_status                   rc;

	if ((rc = shim_listen_parse(&ss, &ss_len, addr, err)) != TP_OK) {
		return rc;
	}
	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME
	    | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
	}
	/* MHD splits the connection limit over the pool threads. */
	pool = (unsigned int) shim_config_threads(cfg);
	if (pool > (unsigned int) cfg->max_connections) {
		pool = (unsigned int) cfg->max_connections;
	}
	/*
	 * The connection memory limit is MHD's per-connection pool: request
	 * line, headers, read buffer, response headers. MHD zeroes all of it
	 * after each request, so an idle keep-alive connection keeps the
	 * whole pool resident; bodies go to take_body's buffer instead, and
	 * the default (config.c) stays small. The read buffer's growth step
	 * (MHD_OPTION_CONNECTION_MEMORY_INCREMENT) keeps its 1 KiB default:
	 * it changes when the buffer grows, not how much stays resident.
	 */
	errno = 0;
	l->d  = MHD_start_daemon(flags, 0, NULL, NULL, access_cb, l,
	     MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, NULL, MHD_OPTION_SOCK_ADDR,
	     (struct sockaddr *) &ss, MHD_OPTION_THREAD_POOL_SIZE, pool,
	     MHD_OPTION_CONNECTION_LIMIT, (unsigned int) cfg->max_connections,
	     MHD_OPTION_CONNECTION_TIMEOUT,
	     (unsigned int) cfg->connection_timeout_s,
	     MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	     (size_t) cfg->memory_limit_bytes, MHD_OPTION_NOTIFY_COMPLETED,
	     completed_cb, l, MHD_OPTION_NOTIFY_CONNECTION, connection_cb, l,
	     MHD_OPTION_END);
	if (l->d == NULL) {
		return tp_err_set(err, TP_UNAVAILABLE,
		    "could not listen on %s for the %s routes%s%s", addr,
		    service_names[l->svc], errno != 0 ? ": " : "",
		    errno != 0 ? strerror(errno) : "");
	}
	info    = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
	l->port = info != NULL ? (int) info->port : 0;
	return TP_OK;
}

tp_status
shim_gateway_start(shim_gateway **out, const shim_config *cfg, tp_err *err)
{
	shim_gateway   *gw = tp_xcalloc(1, sizeof(*gw));
	rpc_client_opts o  = { 0 };
	rpc_tls_opts    tls;
	const char     *urls[SHIM_SERVICE_COUNT];
	const char     *addrs[SHIM_SERVICE_COUNT];
	tp_status       rc = TP_OK;

	gw->cfg     = cfg;
	gw->metrics = shim_metrics_new(tp_clock_unix_ms());
	atomic_init(&gw->in_flight, 0);
	atomic_init(&gw->stopping, false);
	atomic_init(&gw->starting, 0);
	urls[SHIM_SERVICE_DTP]    = cfg->dtp_url;
	urls[SHIM_SERVICE_PILOT]  = cfg->pilot_url;
	addrs[SHIM_SERVICE_DTP]   = cfg->dtp_listen;
	addrs[SHIM_SERVICE_PILOT] = cfg->pilot_listen;
	for (int s = 0; s < SHIM_SERVICE_COUNT; s++) {
		o.env           = s == SHIM_SERVICE_DTP ? &proto_dtp_envelope
		                                        : &proto_pilot_envelope;
		o.max_msg_bytes = (size_t) cfg->max_msg_bytes;
		o.timeout_ms    = (int) cfg->rpc_timeout_ms;
		/* One set for both; NULL without flags (see config.h). */
		o.tls = shim_config_tls(&tls, cfg);
		if ((rc = rpc_client_open(&gw->clients[s], urls[s], &o, err))
		    != TP_OK) {
			goto out;
		}
	}
	for (int s = 0; s < SHIM_SERVICE_COUNT; s++) {
		gw->l[s].gw     = gw;
		gw->l[s].svc    = (shim_service) s;
		gw->l[s].client = gw->clients[s];
		atomic_init(&gw->l[s].warn_next_ms, 0);
		atomic_init(&gw->l[s].warn_skipped, 0);
		if ((rc = listen_one(&gw->l[s], addrs[s], cfg, err)) != TP_OK) {
			goto out;
		}
	}
	*out = gw;
out:
	if (rc != TP_OK) {
		shim_gateway_free(gw);
	}
	return rc;
}

int
shim_gateway_port(const shim_gateway *g, shim_service svc)
{
	return g->l[svc].port;
}

int
shim_gateway_in_flight(shim_gateway *g)
{
	return atomic_load(&g->in_flight);
}

/*
 * stop_calls makes every later request answer 503 instead of calling, and
 * waits for the calls being started now to be started.
 */
static void
stop_calls(shim_gateway *g)
{
	const struct timespec tick = { 0, 1000 * 1000 };

	atomic_store(&g->stopping, true);
	while (atomic_load(&g->starting) > 0) {
		nanosleep(&tick, NULL);
	}
}

/* drain waits up to ms for the requests in flight to complete. */
static bool
drain(shim_gateway *g, int64_t ms)
{
	int64_t               deadline = tp_clock_mono_ms() + ms;
	const struct timespec tick     = { 0, 5 * 1000 * 1000 };

	while (atomic_load(&g->in_flight) > 0) {
		if (tp_clock_mono_ms() >= deadline) {
			return false;
		}
		nanosleep(&tick, NULL);
	}
	return true;
}

void
shim_gateway_free(shim_gateway *g)
{
	if (g == NULL) {
		return;
	}
	/*
	 * Stop accepting, and stop starting calls (requests on connections
	 * already open get 503); calls already made get their replies.
	 */
	stop_calls(g);
	for (int s = 0; s < SHIM_SERVICE_COUNT; s++) {
		if (g->l[s].d != NULL) {
			MHD_socket fd = MHD_quiesce_daemon(g->l[s].d);
			if (fd != MHD_INVALID_SOCKET) {
				close(fd);
			}
		}
	}
	if (!drain(g, g->cfg->rpc_timeout_ms + 1000)) {
		tp_log_warn(GW_COMPONENT,
		    "requests still waiting after the drain in_flight=%d",
		    atomic_load(&g->in_flight));
		/* Fails every pending call, which resumes its connection. */
		for (int s = 0; s < SHIM_SERVICE_COUNT; s++) {
			rpc_client_free(g->clients[s]);
			g->clients[s] = NULL;
		}
		(void) drain(g, 1000); /* best effort: we stop either way */
	}
	for (int s = 0; s < SHIM_SERVICE_COUNT; s++) {
		if (g->l[s].d != NULL) {
			MHD_stop_daemon(g->l[s].d);
		}
	}
	for (int s = 0; s < SHIM_SERVICE_COUNT; s++) {
		rpc_client_free(g->clients[s]);
	}
	shim_metrics_free(g->metrics);
	free(g);
}
