/*
 * metrics.c: the gateway's counters and the Prometheus text exposition (see
 * metrics.h).
 *
 * DESIGN: every series the gateway can have is a slot in fixed arrays of
 * atomics, indexed by small enums (route id, method, status), so that
 * counting is one relaxed atomic add and no lock is ever taken: a request
 * never waits for a scrape. Label values come only from static tables (the
 * route patterns, a closed list of methods and codes), never from the
 * request, so a client cannot make the number of series grow. Series never
 * seen are left out of the exposition; the families are always there.
 */
#include "shim/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "proto/envelope.h"

/* Latency buckets, in microseconds and as shown (seconds). */
#define N_BOUNDS 14
static const int64_t bounds_us[N_BOUNDS]
    = { 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	      1000000, 2500000, 5000000, 10000000 };
static const double bounds_s[N_BOUNDS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

/* Methods with a series of their own; the rest are "other". */
static const char *const method_names[]
    = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other" };
#define N_METHODS (sizeof(method_names) / sizeof(method_names[0]))

/*
 * Every status the gateway sends: the routes' successes, the statuses of
 * shim_http_status, 405 and 413. Anything else is "other" (a unit test
 * checks that none is).
 */
static const int codes[] = { 200, 201, 400, 401, 403, 404, 405, 409, 413, 429,
	499, 500, 501, 503, 504 };
#define N_CODES (sizeof(codes) / sizeof(codes[0]) + 1)

/* Routes, plus one slot for requests that matched none. */
#define N_ROUTES  (SHIM_ROUTE_COUNT + 1)
#define UNMATCHED SHIM_ROUTE_COUNT

/* Call tags with a series of their own; tag 0 is "unknown". */
#define N_CALLS  16
#define N_STATUS (TP_STATUS_MAX + 1)

typedef struct hist {
	atomic_uint_least64_t counts[N_BOUNDS + 1];
	atomic_uint_least64_t sum_us;
} hist;

/* One listener's series. */
typedef struct svc_metrics {
	atomic_uint_least64_t requests[N_ROUTES][N_METHODS][N_CODES];
	hist                  duration[N_ROUTES][N_METHODS];
	hist                  rpc[N_CALLS][N_STATUS];
	atomic_int            in_flight;
	atomic_int            conns_open;
	atomic_uint_least64_t conns_total;
} svc_metrics;

struct shim_metrics {
	int64_t     start_unix_ms;
	svc_metrics svc[SHIM_SERVICE_COUNT];
};

static const char *const service_names[SHIM_SERVICE_COUNT] = {
	[SHIM_SERVICE_DTP]   = "dtp",
	[SHIM_SERVICE_PILOT] = "taskpilot",
};

static const proto_envelope *const envelopes[SHIM_SERVICE_COUNT] = {
	[SHIM_SERVICE_DTP]   = &proto_dtp_envelope,
	[SHIM_SERVICE_PILOT] = &proto_pilot_envelope,
};

/* The text buffer. */

void
shim_prom_init(shim_prom *w)
{
	w->text = NULL;
	w->len  = 0;
	w->cap  = 0;
}

void
shim_prom_fini(shim_prom *w)
{
	free(w->text);
	shim_prom_init(w);
}

char *
shim_prom_take(shim_prom *w, size_t *len)
{
	char *text = w->text != NULL ? w->text : tp_xstrdup("");

	*len = w->len;
	shim_prom_init(w);
	return text;
}

static void
put(shim_prom *w, const char *s, size_t n)
{
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap != 0 ? w->cap : 4096;
		while (cap < w->len + n + 1) {
			cap *= 2;
		}
		w->text = tp_xrealloc(w->text, cap);
		w->cap  = cap;
	}
	memcpy(w->text + w->len, s, n);
	w->len += n;
	w->text[w->len] = '\0';
}

static void
puts_(shim_prom *w, const char *s)
{
	put(w, s, strlen(s));
}

/*
 * put_escaped writes s with backslash and newline escaped (HELP text), and
 * the double quote too in a label value.
 */
static void
put_escaped(shim_prom *w, const char *s, bool is_label)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\') {
			puts_(w, "\\\\");
		} else if (*s == '\n') {
			puts_(w, "\\n");
		} else if (*s == '"' && is_label) {
			puts_(w, "\\\"");
		} else {
			put(w, s, 1);
		}
	}
}

void
shim_prom_append(shim_prom *w, const char *text, size_t len)
{
	put(w, text, len);
}

void
shim_prom_family(
    shim_prom *w, const char *name, const char *type, const char *help)
{
	puts_(w, "# HELP ");
	puts_(w, name);
	puts_(w, " ");
	put_escaped(w, help, false);
	puts_(w, "\n# TYPE ");
	puts_(w, name);
	puts_(w, " ");
	puts_(w, type);
	puts_(w, "\n");
}

static void
put_series(shim_prom *w, const char *name, const char *suffix,
    const shim_prom_label *labels, size_t n_labels, const char *le)
{
	puts_(w, name);
	puts_(w, suffix);
	if (n_labels == 0 && le == NULL) {
		return;
	}
	puts_(w, "{");
	for (size_t i = 0; i < n_labels; i++) {
		if (i > 0) {
			puts_(w, ",");
		}
		puts_(w, labels[i].name);
		puts_(w, "=\"");
		put_escaped(w, labels[i].value, true);
		puts_(w, "\"");
	}
	if (le != NULL) {
		puts_(w, n_labels > 0 ? ",le=\"" : "le=\"");
		puts_(w, le);
		puts_(w, "\"");
	}
	puts_(w, "}");
}

/*
 * fmt_double writes v as Prometheus's own clients do ("+Inf", "NaN", "0.25",
 * "10", "1e+06"): the fewest digits that read back as v, in %g's plain form
 * up to six digits before the point.
 */
static void
fmt_double(char *buf, size_t size, double v)
{
	int prec = 1;

	if (isnan(v)) {
		snprintf(buf, size, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, size, "%sInf", v > 0 ? "+" : "-");
		return;
	}
	for (; prec < 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v) {
			break;
		}
	}
	snprintf(buf, size, "%.*g", prec < 6 ? 6 : prec, v);
}

void
shim_prom_sample_u64(shim_prom *w, const char *name,
    const shim_prom_label *labels, size_t n_labels, uint64_t value)
{
	char num[32];

	put_series(w, name, "", labels, n_labels, NULL);
	snprintf(num, sizeof(num), " %" PRIu64 "\n", value);
	puts_(w, num);
}

void
shim_prom_sample_double(shim_prom *w, const char *name,
    const shim_prom_label *labels, size_t n_labels, double value)
{
	char num[64];

	put_series(w, name, "", labels, n_labels, NULL);
	fmt_double(num, sizeof(num), value);
	puts_(w, " ");
	puts_(w, num);
	puts_(w, "\n");
}

void
shim_prom_histogram(shim_prom *w, const char *name,
    const shim_prom_label *labels, size_t n_labels, const double *bounds,
    const uint64_t *counts, size_t n_bounds, double sum)
{
	uint64_t cum = 0;
	char     le[64];
	char     num[64];

	for (size_t i = 0; i <= n_bounds; i++) {
		cum += counts[i];
		if (i < n_bounds) {
			fmt_double(le, sizeof(le), bounds[i]);
		} else {
			snprintf(le, sizeof(le), "+Inf");
		}
		put_series(w, name, "_bucket", labels, n_labels, le);
		snprintf(num, sizeof(num), " %" PRIu64 "\n", cum);
		puts_(w, num);
	}
	put_series(w, name, "_sum", labels, n_labels, NULL);
	fmt_double(num, sizeof(num), sum);
	puts_(w, " ");
	puts_(w, num);
	puts_(w, "\n");
	put_series(w, name, "_count", labels, n_labels, NULL);
	snprintf(num, sizeof(num), " %" PRIu64 "\n", cum);
	puts_(w, num);
}

/* The registry. */

shim_metrics *
shim_metrics_new(int64_t start_unix_ms)
{
	/* calloc'd atomics start at 0, as atomic_init would set them. */
	shim_metrics *m = tp_xcalloc(1, sizeof(*m));

	m->start_unix_ms = start_unix_ms;
	return m;
}

void
shim_metrics_free(shim_metrics *m)
{
	free(m);
}

static size_t
method_slot(const char *method)
{
	for (size_t i = 0; i + 1 < N_METHODS; i++) {
		if (method != NULL && strcmp(method, method_names[i]) == 0) {
			return i;
		}
	}
	return N_METHODS - 1;
}

static size_t
code_slot(int http)
{
	for (size_t i = 0; i + 1 < N_CODES; i++) {
		if (codes[i] == http) {
			return i;
		}
	}
	return N_CODES - 1;
}

bool
shim_metrics_code_known(int http)
{
	return code_slot(http) != N_CODES - 1;
}

static void
hist_record(hist *h, int64_t us)
{
	size_t b = 0;

	if (us < 0) {
		us = 0;
	}
	while (b < N_BOUNDS && us > bounds_us[b]) {
		b++;
	}
	atomic_fetch_add_explicit(&h->counts[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(
	    &h->sum_us, (uint_least64_t) us, memory_order_relaxed);
}

/*
 * hist_read copies h's per-bucket counts into counts and returns the sum
 * in seconds; false when the histogram is empty.
 */
static bool
hist_read(uint64_t *counts, double *sum_s, hist *h)
{
	uint64_t total = 0;

	for (size_t i = 0; i <= N_BOUNDS; i++) {
		counts[i]
		    = atomic_load_explicit(&h->counts[i], memory_order_relaxed);
		total += counts[i];
	}
	*sum_s = (double) atomic_load_explicit(&h->sum_us, memory_order_relaxed)
	    / 1e6;
	return total > 0;
}

void
shim_metrics_http_observe(shim_metrics *m, shim_service svc,
    const shim_route *route, const char *method, int http, int64_t us)
{
	svc_metrics *s = &m->svc[svc];
	size_t       r = route != NULL ? (size_t) route->id : UNMATCHED;
	size_t       k = method_slot(method);

	atomic_fetch_add_explicit(
	    &s->requests[r][k][code_slot(http)], 1, memory_order_relaxed);
	hist_record(&s->duration[r][k], us);
}

void
shim_metrics_rpc_observe(shim_metrics *m, shim_service svc, pb_size_t call,
    tp_status code, int64_t us)
{
	size_t c = call < N_CALLS ? call : 0;
	size_t st
	    = (int) code >= 0 && (int) code < N_STATUS ? (size_t) code : 2;

	hist_record(&m->svc[svc].rpc[c][st], us);
}

void
shim_metrics_in_flight_add(shim_metrics *m, shim_service svc, int delta)
{
	atomic_fetch_add_explicit(
	    &m->svc[svc].in_flight, delta, memory_order_relaxed);
}

void
shim_metrics_connection_add(shim_metrics *m, shim_service svc, int delta)
{
	svc_metrics *s = &m->svc[svc];

	atomic_fetch_add_explicit(&s->conns_open, delta, memory_order_relaxed);
	if (delta > 0) {
		atomic_fetch_add_explicit(&s->conns_total,
		    (uint_least64_t) delta, memory_order_relaxed);
	}
}

static const char *
route_label(size_t r)
{
	return r == UNMATCHED ? "unmatched"
	                      : shim_route_get((shim_route_id) r)->pattern;
}

static void
render_requests(shim_prom *w, svc_metrics *s)
{
	shim_prom_family(w, "tp_http_requests_total", "counter",
	    "HTTP requests answered, by route pattern, method and status "
	    "code.");
	for (size_t r = 0; r < N_ROUTES; r++) {
		for (size_t k = 0; k < N_METHODS; k++) {
			for (size_t c = 0; c < N_CODES; c++) {
				uint64_t n = atomic_load_explicit(
				    &s->requests[r][k][c],
				    memory_order_relaxed);
				char            code[16];
				shim_prom_label l[3];
				if (n == 0) {
					continue;
				}
				if (c + 1 < N_CODES) {
					snprintf(
					    code, sizeof(code), "%d", codes[c]);
				} else {
					snprintf(code, sizeof(code), "other");
				}
				l[0] = (shim_prom_label) { "route",
					route_label(r) };
				l[1] = (shim_prom_label) { "method",
					method_names[k] };
				l[2] = (shim_prom_label) { "code", code };
				shim_prom_sample_u64(
				    w, "tp_http_requests_total", l, 3, n);
			}
		}
	}
}

static void
render_durations(shim_prom *w, svc_metrics *s)
{
	shim_prom_family(w, "tp_http_request_duration_seconds", "histogram",
	    "Time from a request's headers to its answer, by route pattern "
	    "and method.");
	for (size_t r = 0; r < N_ROUTES; r++) {
		for (size_t k = 0; k < N_METHODS; k++) {
			uint64_t        counts[N_BOUNDS + 1];
			double          sum;
			shim_prom_label l[2];
			if (!hist_read(counts, &sum, &s->duration[r][k])) {
				continue;
			}
			l[0] = (shim_prom_label) { "route", route_label(r) };
			l[1] = (shim_prom_label) { "method", method_names[k] };
			shim_prom_histogram(w,
			    "tp_http_request_duration_seconds", l, 2, bounds_s,
			    counts, N_BOUNDS, sum);
		}
	}
}

static void
render_rpc(shim_prom *w, svc_metrics *s, shim_service svc)
{
	const proto_envelope *env = envelopes[svc];

	shim_prom_family(w, "tp_rpc_client_duration_seconds", "histogram",
	    "Duration of the gateway's RPCs, retries included, by service, "
	    "method and status.");
	for (size_t c = 0; c < N_CALLS; c++) {
		const char *name = env->call_name((pb_size_t) c);
		for (size_t st = 0; st < N_STATUS; st++) {
			uint64_t        counts[N_BOUNDS + 1];
			double          sum;
			shim_prom_label l[3];
			if (!hist_read(counts, &sum, &s->rpc[c][st])) {
				continue;
			}
			l[0] = (shim_prom_label) { "service",
				service_names[svc] };
			l[1] = (shim_prom_label) { "method",
				name != NULL ? name : "unknown" };
			l[2] = (shim_prom_label) { "status",
				tp_status_name((int) st) };
			shim_prom_histogram(w, "tp_rpc_client_duration_seconds",
			    l, 3, bounds_s, counts, N_BOUNDS, sum);
		}
	}
}

/*
 * gauge_value reads a gauge; a close counted before its open (the two come
 * from different threads) could make it -1 for a moment: that shows as 0.
 */
static uint64_t
gauge_value(atomic_int *g)
{
	int v = atomic_load_explicit(g, memory_order_relaxed);
	return v > 0 ? (uint64_t) v : 0;
}

void
shim_metrics_render(shim_prom *w, shim_metrics *m, shim_service svc)
{
	svc_metrics          *s       = &m->svc[svc];
	const shim_prom_label build[] = { { "version", TP_VERSION } };

	shim_prom_family(w, "tp_gateway_build_info", "gauge",
	    "Always 1; the labels tell the gateway's version.");
	shim_prom_sample_u64(w, "tp_gateway_build_info", build, 1, 1);
	shim_prom_family(w, "tp_gateway_start_time_seconds", "gauge",
	    "When the gateway started, in seconds since the Unix epoch.");
	shim_prom_sample_double(w, "tp_gateway_start_time_seconds", NULL, 0,
	    (double) m->start_unix_ms / 1000.0);
	render_requests(w, s);
	render_durations(w, s);
	shim_prom_family(w, "tp_http_requests_in_flight", "gauge",
	    "Requests waiting for the reply of their RPC.");
	shim_prom_sample_u64(w, "tp_http_requests_in_flight", NULL, 0,
	    gauge_value(&s->in_flight));
	shim_prom_family(w, "tp_http_connections_open", "gauge",
	    "HTTP connections open now.");
	shim_prom_sample_u64(w, "tp_http_connections_open", NULL, 0,
	    gauge_value(&s->conns_open));
	shim_prom_family(w, "tp_http_connections_total", "counter",
	    "HTTP connections accepted.");
	shim_prom_sample_u64(w, "tp_http_connections_total", NULL, 0,
	    atomic_load_explicit(&s->conns_total, memory_order_relaxed));
	render_rpc(w, s, svc);
}
