/*
 * metrics.h: the gateway's counters and their Prometheus text exposition
 * (format 0.0.4) for GET /metrics: requests per route pattern, method and
 * status; request latency per route and method; the RPC latency the gateway
 * sees per service, method and status; connections and requests in flight.
 * Each listener shows the series of its own service, so that scraping both
 * ports counts nothing twice.
 *
 * Thread safety: every observe function is lock-free (relaxed atomics) and
 * may be called from any thread, nng callbacks included; rendering reads
 * the same atomics, so a scrape never blocks a request. A histogram's
 * buckets are read once each and summed, so "+Inf" always equals _count;
 * _sum may trail by a request in flight.
 */
#ifndef SHIM_METRICS_H
#define SHIM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pb.h>

#include "common/status.h"
#include "shim/route.h"

/* The Content-Type of the exposition. */
#define SHIM_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * shim_prom: a growing text buffer the exposition is written into, with the
 * helpers that write its lines correctly escaped. Not thread-safe: one per
 * scrape. Out of memory aborts (tp_xrealloc).
 */
typedef struct shim_prom {
	char  *text; /* NUL-terminated; NULL while empty */
	size_t len;
	size_t cap;
} shim_prom;

/* One label of a sample; the value is escaped as the format wants. */
typedef struct shim_prom_label {
	const char *name;
	const char *value;
} shim_prom_label;

/* shim_prom_init empties w; shim_prom_fini frees it (twice is fine). */
void shim_prom_init(shim_prom *w);
void shim_prom_fini(shim_prom *w);

/*
 * shim_prom_take returns w's text (caller frees with free(); "" when
 * empty, never NULL) and its length in *len, and empties w.
 */
char *shim_prom_take(shim_prom *w, size_t *len);

/*
 * shim_prom_family writes the "# HELP" and "# TYPE" lines of a metric
 * family (type: "counter", "gauge" or "histogram"). Every sample of the
 * family must follow before the next family starts.
 */
void shim_prom_family(
    shim_prom *w, const char *name, const char *type, const char *help);

/*
 * shim_prom_append writes len bytes of text as they are: lines the caller
 * checked (whole lines, each ending in a newline).
 */
void shim_prom_append(shim_prom *w, const char *text, size_t len);

/* shim_prom_sample_u64 and _double write one sample line. */
void shim_prom_sample_u64(shim_prom *w, const char *name,
    const shim_prom_label *labels, size_t n_labels, uint64_t value);
void shim_prom_sample_double(shim_prom *w, const char *name,
    const shim_prom_label *labels, size_t n_labels, double value);

/*
 * shim_prom_histogram writes the samples of one histogram series: name_bucket
 * for each of the n_bounds upper bounds (ascending, in seconds or whatever
 * unit the name says) and +Inf, cumulative; name_sum and name_count.
 * counts holds n_bounds + 1 per-bucket (not cumulative) counts, the last
 * one above every bound.
 */
void shim_prom_histogram(shim_prom *w, const char *name,
    const shim_prom_label *labels, size_t n_labels, const double *bounds,
    const uint64_t *counts, size_t n_bounds, double sum);

typedef struct shim_metrics shim_metrics;

/*
 * shim_metrics_new returns an empty registry (caller frees with
 * shim_metrics_free); start_unix_ms is shown as the start time.
 */
shim_metrics *shim_metrics_new(int64_t start_unix_ms);
void          shim_metrics_free(shim_metrics *m);

/*
 * shim_metrics_http_observe counts one answered request on svc's listener:
 * route is the route it matched or had the shape of (NULL: none, counted
 * as route "unmatched"), method the request's (any other than GET, HEAD,
 * POST, PUT, DELETE, PATCH and OPTIONS is counted as "other"), http the
 * status sent and us the time from its headers to its answer.
 */
void shim_metrics_http_observe(shim_metrics *m, shim_service svc,
    const shim_route *route, const char *method, int http, int64_t us);

/*
 * shim_metrics_rpc_observe records one RPC of svc's client: call is the
 * request's call tag (its name comes from the service's envelope), code
 * its outcome, us its duration.
 */
void shim_metrics_rpc_observe(shim_metrics *m, shim_service svc, pb_size_t call,
    tp_status code, int64_t us);

/* shim_metrics_in_flight_add moves svc's requests-waiting gauge by delta. */
void shim_metrics_in_flight_add(shim_metrics *m, shim_service svc, int delta);

/* shim_metrics_connection_add moves svc's open connections by delta (+1
 * also counts an accepted connection). */
void shim_metrics_connection_add(shim_metrics *m, shim_service svc, int delta);

/*
 * shim_metrics_render appends svc's families to w: tp_gateway_build_info,
 * tp_gateway_start_time_seconds, tp_http_requests_total,
 * tp_http_request_duration_seconds, tp_http_requests_in_flight,
 * tp_http_connections_open, tp_http_connections_total and
 * tp_rpc_client_duration_seconds. Any thread.
 */
void shim_metrics_render(shim_prom *w, shim_metrics *m, shim_service svc);

/*
 * shim_metrics_code_known tells whether http has a series of its own (every
 * status the gateway sends has; others would be counted as code "other").
 * For the unit test.
 */
bool shim_metrics_code_known(int http);

#endif /* SHIM_METRICS_H */
