/*
 * calls_int.h: per route, how a matched HTTP request becomes an RPC request
 * and how the RPC reply becomes an HTTP status and JSON body. Private to the
 * shim; pure functions, any thread.
 */
#ifndef SHIM_CALLS_INT_H
#define SHIM_CALLS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/status.h"
#include "dtp.pb.h"
#include "pilot.pb.h"
#include "shim/metrics.h"
#include "shim/query.h"
#include "shim/route.h"

/* The request side of one call, for either service. */
typedef struct shim_call_req {
	union {
		dtp_v1_Request   dtp;
		pilot_v1_Request pilot;
	} u;
	bool idempotent; /* safe for the client to send again */
} shim_call_req;

/* The reply side, filled by the RPC client. */
typedef union shim_call_rep {
	dtp_v1_Reply   dtp;
	pilot_v1_Reply pilot;
} shim_call_rep;

/* What the HTTP request brings, all borrowed. */
typedef struct shim_call_in {
	const shim_match *match;
	const json_t     *body;            /* has_body routes; else NULL */
	const char       *idempotency_key; /* the header, or NULL */
	const shim_kv    *args;            /* query parameters */
	size_t            n_args;
} shim_call_in;

/*
 * shim_call_build fills *out for in->match->route. Returns TP_OK (the caller
 * releases it with shim_call_req_release), or TP_INVALID_ARGUMENT naming
 * the bad field, header or query parameter.
 */
TP_MUST_CHECK tp_status shim_call_build(
    shim_call_req *out, const shim_call_in *in, tp_err *err);

/* shim_call_req_release frees what shim_call_build allocated. */
void shim_call_req_release(const shim_route *r, shim_call_req *req);

/*
 * shim_call_reply maps an OK reply of route r to *http (the route's success
 * status, 200 for a replayed create, 503 for an unhealthy service) and
 * *body (caller json_decref()s it). rep is borrowed.
 */
void shim_call_reply(
    int *http, json_t **body, const shim_route *r, const shim_call_rep *rep);

/* shim_call_rep_release frees what the RPC client decoded into rep. */
void shim_call_rep_release(const shim_route *r, shim_call_rep *rep);

/*
 * shim_upstream_request fills *out with the call a GET /metrics route
 * (r->is_metrics) makes to its service, once per scrape (upstream.c).
 * Nothing to release but what shim_call_req_release releases.
 */
void shim_upstream_request(shim_call_req *out, const shim_route *r);

/*
 * shim_upstream_render appends to w what the service of metrics route r
 * answered: code is the call's status, rep (borrowed) its reply when code is
 * TP_OK. A service that did not answer shows tp_upstream_up 0.
 */
void shim_upstream_render(shim_prom *w, const shim_route *r, tp_status code,
    const shim_call_rep *rep);

#endif /* SHIM_CALLS_INT_H */
