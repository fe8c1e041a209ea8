/*
 * metrics.c: a DTP node's counters and their Prometheus text exposition
 * (metrics.h).
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "proto/envelope.h"

#define N_CALLS (PROTO_DTP_MAX_CALL + 1)
#define N_CODES (TP_STATUS_MAX + 1)

/* Upper bounds of the latency buckets, in seconds (and microseconds). */
static const double  bounds_s[]  = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
static const int64_t bounds_us[] = { 500, 1000, 2500, 5000, 10000, 25000, 50000,
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000 };
#define N_BOUNDS (sizeof(bounds_us) / sizeof(bounds_us[0]))

typedef struct hist {
	_Atomic uint64_t counts[N_BOUNDS + 1]; /* per bucket; last: above all */
	_Atomic uint64_t sum_us;
} hist;

struct dtp_metrics {
	_Atomic uint64_t attempts;
	_Atomic uint64_t retries;
	_Atomic uint64_t lease_expiries;
	_Atomic uint64_t cancels;
	_Atomic uint64_t abandoned;
	_Atomic uint64_t finished[DTP_STATE_MAX + 1];
	_Atomic uint64_t finish_batches;
	_Atomic uint64_t create_batches;
	_Atomic uint64_t create_batch_rows;
	hist             cancel_to_stop;
	_Atomic uint64_t rpc[N_CALLS][N_CODES];
	hist             rpc_time[N_CALLS];
};

static void
add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t
get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(
	    (_Atomic uint64_t *) c, memory_order_relaxed);
}

static void
hist_record(hist *h, int64_t us)
{
	size_t i = 0;

	if (us < 0) {
		us = 0;
	}
	while (i < N_BOUNDS && us > bounds_us[i]) {
		i++;
	}
	add(&h->counts[i], 1);
	add(&h->sum_us, (uint64_t) us);
}

dtp_metrics *
dtp_metrics_new(void)
{
	/* Zeroed memory is a valid initial state of these atomics. */
	return tp_xcalloc(1, sizeof(dtp_metrics));
}

void
dtp_metrics_free(dtp_metrics *m)
{
	free(m);
}

void
dtp_metrics_attempt(dtp_metrics *m)
{
	if (m != NULL) {
		add(&m->attempts, 1);
	}
}

void
dtp_metrics_retry(dtp_metrics *m)
{
	if (m != NULL) {
		add(&m->retries, 1);
	}
}

void
dtp_metrics_lease_expired(dtp_metrics *m, int n)
{
	if (m != NULL && n > 0) {
		add(&m->lease_expiries, (uint64_t) n);
	}
}

void
dtp_metrics_cancel(dtp_metrics *m)
{
	if (m != NULL) {
		add(&m->cancels, 1);
	}
}

void
dtp_metrics_abandoned(dtp_metrics *m)
{
	if (m != NULL) {
		add(&m->abandoned, 1);
	}
}

void
dtp_metrics_finished(dtp_metrics *m, dtp_state state, int n)
{
	if (m != NULL && n > 0 && dtp_state_is_final(state)) {
		add(&m->finished[state], (uint64_t) n);
	}
}

void
dtp_metrics_finish_batch(dtp_metrics *m)
{
	if (m != NULL) {
		add(&m->finish_batches, 1);
	}
}

void
dtp_metrics_create_batch(dtp_metrics *m, int rows)
{
	if (m != NULL && rows > 0) {
		add(&m->create_batches, 1);
		add(&m->create_batch_rows, (uint64_t) rows);
	}
}

void
dtp_metrics_cancel_to_stop(dtp_metrics *m, int64_t us)
{
	if (m != NULL) {
		hist_record(&m->cancel_to_stop, us);
	}
}

void
dtp_metrics_rpc_observe(
    void *arg, pb_size_t call, tp_status code, int64_t elapsed_us)
{
	dtp_metrics *m = arg;

	if (m == NULL) {
		return;
	}
	if (call >= N_CALLS || proto_dtp_envelope.call_name(call) == NULL) {
		call = 0;
	}
	if ((int) code < 0 || (int) code >= N_CODES) {
		code = TP_UNKNOWN;
	}
	add(&m->rpc[call][code], 1);
	hist_record(&m->rpc_time[call], elapsed_us);
}

/* The text being written. */
typedef struct buf {
	char  *text;
	size_t len;
	size_t cap;
} buf;

static void TP_PRINTF(2, 3) put(buf *b, const char *fmt, ...)
{
	va_list ap;
	int     n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->text + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t) n < b->cap - b->len) {
			b->len += (size_t) n;
			return;
		}
		b->cap  = b->cap * 2 + (n > 0 ? (size_t) n : 0);
		b->text = tp_xrealloc(b->text, b->cap);
	}
}

/* put_label_value writes s escaped as a label value wants (\\, \", \n). */
static void
put_label_value(buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\') {
			put(b, "\\\\");
		} else if (*s == '"') {
			put(b, "\\\"");
		} else if (*s == '\n') {
			put(b, "\\n");
		} else {
			put(b, "%c", *s);
		}
	}
}

static void
family(buf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* histogram writes the samples of one series; labels is "" or `k="v",`. */
static void
histogram(buf *b, const char *name, const char *labels, const hist *h)
{
	uint64_t cum = 0;

	for (size_t i = 0; i < N_BOUNDS; i++) {
		cum += get(&h->counts[i]);
		put(b, "%s_bucket{%sle=\"%g\"} %" PRIu64 "\n", name, labels,
		    bounds_s[i], cum);
	}
	cum += get(&h->counts[N_BOUNDS]);
	put(b, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, cum);
	if (labels[0] != '\0') {
		/* Drop the trailing comma inside the braces. */
		put(b, "%s_sum{%.*s} %.6f\n", name, (int) strlen(labels) - 1,
		    labels, (double) get(&h->sum_us) / 1e6);
		put(b, "%s_count{%.*s} %" PRIu64 "\n", name,
		    (int) strlen(labels) - 1, labels, cum);
	} else {
		put(b, "%s_sum %.6f\n", name, (double) get(&h->sum_us) / 1e6);
		put(b, "%s_count %" PRIu64 "\n", name, cum);
	}
}

static uint64_t
hist_total(const hist *h)
{
	uint64_t n = 0;

	for (size_t i = 0; i <= N_BOUNDS; i++) {
		n += get(&h->counts[i]);
	}
	return n;
}

/*
 * method_name names a call tag; tags that are no call (0 for a message that
 * did not decode, 1 for deadline_ms) count as "unknown", in row 0.
 */
static const char *
method_name(pb_size_t call)
{
	const char *name
	    = call != 0 ? proto_dtp_envelope.call_name(call) : NULL;

	return name != NULL ? name : "unknown";
}

static bool
is_call(pb_size_t call)
{
	return call != 0 && proto_dtp_envelope.call_name(call) != NULL;
}

static void
render_state(buf *b, const dtp_metrics_snapshot *s)
{
	family(b, "dtp_node_info", "gauge",
	    "Always 1; the labels name the node that answered and its "
	    "version.");
	put(b, "dtp_node_info{node=\"");
	put_label_value(b, s->node != NULL ? s->node : "");
	put(b, "\",version=\"");
	put_label_value(b, s->version != NULL ? s->version : "");
	put(b, "\"} 1\n");

	family(b, "dtp_database_up", "gauge",
	    "Whether this node read the task counts from its database just "
	    "now (1) or not (0).");
	put(b, "dtp_database_up %d\n", s->db_ok ? 1 : 0);
	if (s->db_ok) {
		family(b, "dtp_tasks", "gauge",
		    "Tasks in the database by state, every node's (one "
		    "count by status per scrape).");
		for (int st = DTP_STATE_MIN; st <= DTP_STATE_MAX; st++) {
			put(b, "dtp_tasks{state=\"%s\"} %" PRId64 "\n",
			    dtp_state_name(st), s->tasks[st]);
		}
		family(b, "dtp_oldest_pending_age_seconds", "gauge",
		    "How long the oldest due PENDING task has waited past its "
		    "run_at (0 when none is due).");
		put(b, "dtp_oldest_pending_age_seconds %.3f\n",
		    s->oldest_pending_age_seconds);
	}
	family(b, "dtp_workers", "gauge",
	    "This node's worker threads, running an attempt (busy) or "
	    "waiting for one (idle).");
	put(b, "dtp_workers{state=\"busy\"} %d\n", s->workers_busy);
	put(b, "dtp_workers{state=\"idle\"} %d\n", s->workers_idle);
	family(b, "dtp_workers_abandoned", "gauge",
	    "Handler threads that ignored their stop flag past the grace "
	    "period and still run (their attempts were ended for them).");
	put(b, "dtp_workers_abandoned %d\n", s->abandoned_running);
}

static void
render_counters(buf *b, const dtp_metrics *m)
{
	family(b, "dtp_attempts_total", "counter",
	    "Attempts started on this node since it started.");
	put(b, "dtp_attempts_total %" PRIu64 "\n", get(&m->attempts));
	family(b, "dtp_retries_total", "counter",
	    "Failed or timed-out attempts this node put back to PENDING with "
	    "a backoff.");
	put(b, "dtp_retries_total %" PRIu64 "\n", get(&m->retries));
	family(b, "dtp_lease_expiries_total", "counter",
	    "Expired leases (of any node) this node's reaper ended.");
	put(b, "dtp_lease_expiries_total %" PRIu64 "\n",
	    get(&m->lease_expiries));
	family(b, "dtp_cancels_total", "counter",
	    "CancelTask calls this node accepted (pending tasks cancelled, "
	    "running ones asked to stop).");
	put(b, "dtp_cancels_total %" PRIu64 "\n", get(&m->cancels));
	family(b, "dtp_handlers_abandoned_total", "counter",
	    "Handlers that ignored their stop flag past the grace period: "
	    "their attempts were ended for them, their threads abandoned.");
	put(b, "dtp_handlers_abandoned_total %" PRIu64 "\n",
	    get(&m->abandoned));
	family(b, "dtp_tasks_finished_total", "counter",
	    "Tasks this node moved to a final state (summed over the nodes, "
	    "each task counts once).");
	for (int st = DTP_STATE_MIN; st <= DTP_STATE_MAX; st++) {
		if (dtp_state_is_final((dtp_state) st)) {
			put(b,
			    "dtp_tasks_finished_total{state=\"%s\"} %" PRIu64
			    "\n",
			    dtp_state_name(st), get(&m->finished[st]));
		}
	}
	family(b, "dtp_finish_batches_total", "counter",
	    "Statements (each one commit) this node wrote to record "
	    "succeeded attempts, several at a time when they finish "
	    "together (compare with the SUCCEEDED tasks finished).");
	put(b, "dtp_finish_batches_total %" PRIu64 "\n",
	    get(&m->finish_batches));
	family(b, "dtp_create_batches_total", "counter",
	    "Statements (each one commit) this node wrote to insert the "
	    "tasks of CreateTask, several at a time when creates arrive "
	    "together.");
	put(b, "dtp_create_batches_total %" PRIu64 "\n",
	    get(&m->create_batches));
	family(b, "dtp_create_batch_rows_total", "counter",
	    "Creates those statements carried (divided by "
	    "dtp_create_batches_total: the mean batch).");
	put(b, "dtp_create_batch_rows_total %" PRIu64 "\n",
	    get(&m->create_batch_rows));
	family(b, "dtp_cancel_to_stop_seconds", "histogram",
	    "Time from a cancel reaching this node (its own CancelTask, "
	    "NOTIFY from another node, or the lease renewal) to the handler "
	    "stopping.");
	histogram(b, "dtp_cancel_to_stop_seconds", "", &m->cancel_to_stop);
}

static void
render_rpc(buf *b, const dtp_metrics *m)
{
	char labels[64];

	family(b, "dtp_rpc_requests_total", "counter",
	    "RPC calls this node answered, by method and status code.");
	for (pb_size_t c = 0; c < N_CALLS; c++) {
		if (c != 0 && !is_call(c)) {
			continue;
		}
		for (int code = 0; code < N_CODES; code++) {
			uint64_t n = get(&m->rpc[c][code]);
			/* Every method shows OK from the start. */
			if (n == 0 && (code != TP_OK || c == 0)) {
				continue;
			}
			put(b,
			    "dtp_rpc_requests_total{method=\"%s\",code=\"%s\"} "
			    "%" PRIu64 "\n",
			    method_name(c), tp_status_name(code), n);
		}
	}
	family(b, "dtp_rpc_duration_seconds", "histogram",
	    "Time from receiving an RPC call to sending its reply, by "
	    "method.");
	for (pb_size_t c = 1; c < N_CALLS; c++) {
		if (!is_call(c)) {
			continue;
		}
		snprintf(
		    labels, sizeof(labels), "method=\"%s\",", method_name(c));
		histogram(
		    b, "dtp_rpc_duration_seconds", labels, &m->rpc_time[c]);
	}
	if (hist_total(&m->rpc_time[0]) > 0) {
		/* Calls that did not decode, shown once there are some. */
		histogram(b, "dtp_rpc_duration_seconds", "method=\"unknown\",",
		    &m->rpc_time[0]);
	}
}

char *
dtp_metrics_render(
    const dtp_metrics *m, const dtp_metrics_snapshot *s, size_t *len)
{
	buf b = { .text = tp_xmalloc(8192), .len = 0, .cap = 8192 };

	b.text[0] = '\0';
	render_state(&b, s);
	render_counters(&b, m);
	render_rpc(&b, m);
	*len = b.len;
	return b.text;
}
