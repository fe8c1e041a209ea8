/*
 * metrics.h (private): a DTP node's counters since it started, and their
 * Prometheus text exposition (format 0.0.4) for the Metrics call: attempts,
 * retries, reaped leases, cancels, finished tasks by state, the time from a
 * cancel reaching this node to its handler stopping, abandoned handlers,
 * RPC calls by method and status with their latency; plus, gathered at
 * scrape time by the caller, tasks by state and the age of the oldest due
 * PENDING task (from the database: every node's tasks) and busy and idle
 * workers.
 *
 * Thread safety: every count function is lock-free (relaxed atomics) and
 * may be called from any thread; rendering reads the same atomics, so a
 * scrape never blocks a worker. A histogram's buckets are read once each
 * and summed, so its "+Inf" bucket always equals its _count; _sum may trail
 * by an observation in flight.
 */
#ifndef SCHEDULER_METRICS_H
#define SCHEDULER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pb.h>

#include "common/status.h"
#include "scheduler/transition.h"

typedef struct dtp_metrics dtp_metrics;

/* dtp_metrics_new returns zeroed counters; caller frees with _free. */
dtp_metrics *dtp_metrics_new(void);

/* dtp_metrics_free frees m. NULL is a no-op. */
void dtp_metrics_free(dtp_metrics *m);

/* Counting; m may be NULL (nothing is counted). Any thread. */
void dtp_metrics_attempt(dtp_metrics *m);
void dtp_metrics_retry(dtp_metrics *m);
void dtp_metrics_lease_expired(dtp_metrics *m, int n);
void dtp_metrics_cancel(dtp_metrics *m);
void dtp_metrics_abandoned(dtp_metrics *m);
/* dtp_metrics_finished counts n tasks this node moved to a final state. */
void dtp_metrics_finished(dtp_metrics *m, dtp_state state, int n);
/*
 * dtp_metrics_finish_batch counts one statement that recorded successes
 * (one commit for one or more of them: the group commit of record.c).
 */
void dtp_metrics_finish_batch(dtp_metrics *m);
/*
 * dtp_metrics_create_batch counts one statement that carried rows creates
 * (one commit for all of them: the group commit of create_batch.c).
 */
void dtp_metrics_create_batch(dtp_metrics *m, int rows);
/* dtp_metrics_cancel_to_stop records one cancel's latency. */
void dtp_metrics_cancel_to_stop(dtp_metrics *m, int64_t us);

/*
 * dtp_metrics_rpc_observe is an rpc_observe_cb (rpc/server.h): arg is the
 * dtp_metrics. Counts the call by method and status and records its time.
 */
void dtp_metrics_rpc_observe(
    void *arg, pb_size_t call, tp_status code, int64_t elapsed_us);

/* What the caller gathers at scrape time. */
typedef struct dtp_metrics_snapshot {
	const char *node;    /* this node's name */
	const char *version; /* TP_VERSION */
	int         workers_busy;
	int         workers_idle;
	int         abandoned_running; /* abandoned handler threads still on */
	bool        db_ok; /* the two below were read from the database */
	int64_t     tasks[DTP_STATE_MAX + 1];   /* by dtp_state */
	double      oldest_pending_age_seconds; /* 0 when none is due */
} dtp_metrics_snapshot;

/*
 * dtp_metrics_render writes the exposition of m and s: a NUL-terminated
 * malloc'd string (caller frees with free()), its length in *len. Every
 * family has # HELP and # TYPE; histograms are cumulative with +Inf, _sum
 * and _count. Any thread.
 */
char *dtp_metrics_render(
    const dtp_metrics *m, const dtp_metrics_snapshot *s, size_t *len);

#endif /* SCHEDULER_METRICS_H */
