/*
 * worker.h (private): the worker pool of a DTP node: a dispatcher thread
 * that claims due tasks and hands them to idle workers, N worker threads
 * that run the handlers and record the outcome, and a lease ticker that
 * renews this node's leases and reaps expired ones. See worker.c's DESIGN.
 */
#ifndef SCHEDULER_WORKER_H
#define SCHEDULER_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "metrics.h"
#include "scheduler/backoff.h"
#include "scheduler/handler.h"

typedef struct dtp_pool dtp_pool;

typedef struct dtp_pool_opts {
	const char *conninfo; /* copied */
	const char *node;     /* this node's name, copied */
	int         workers;  /* >= 1 */
	int64_t     lease_ms; /* >= 3 */
	int64_t     poll_ms;  /* the slow poll for run_at timers */
	dtp_backoff backoff;  /* for tasks without their own */
	size_t      max_result_bytes;
	/* How long a stopped handler may run on before it is abandoned, and
	 * how long a shutdown waits for stopped handlers. */
	int64_t             handler_grace_ms;
	const dtp_registry *reg; /* borrowed, read-only while the pool runs */
	dtp_metrics        *metrics; /* borrowed; may be NULL */
} dtp_pool_opts;

/*
 * dtp_pool_start opens one database connection per thread (each owned by
 * its thread from then on) and starts the threads. TP_OK and *out (caller
 * stops with dtp_pool_stop, then frees with dtp_pool_free), or
 * TP_UNAVAILABLE when a connection fails. Main thread.
 */
TP_MUST_CHECK tp_status dtp_pool_start(
    dtp_pool **out, const dtp_pool_opts *opts, tp_err *err);

/*
 * dtp_pool_wake tells the dispatcher that work is due now (a task was
 * committed on this node). Never blocks; any thread.
 */
void dtp_pool_wake(dtp_pool *p);

/* dtp_pool_wake_at: work falls due in delay_ms (a run_at on this node). */
void dtp_pool_wake_at(dtp_pool *p, int64_t delay_ms);

/*
 * dtp_pool_cancel asks the handler running task id on this node, if any,
 * to stop because a cancel was requested. Never blocks; any thread.
 */
void dtp_pool_cancel(dtp_pool *p, int64_t id);

/* dtp_pool_busy is the number of attempts running or being recorded now. */
int dtp_pool_busy(dtp_pool *p);

/*
 * dtp_pool_workers reports the workers running an attempt (busy), waiting
 * for one (idle), and abandoned handler threads still running. Any thread.
 */
void dtp_pool_workers(dtp_pool *p, int *busy, int *idle, int *abandoned);

/*
 * dtp_pool_stop stops claiming, hands tasks claimed but not started back,
 * lets running attempts finish for up to drain_ms, then asks the rest to
 * stop and hands them back to PENDING (fenced on their attempt). Returns
 * true when every thread ended; false when a handler ignored its stop flag
 * (its thread is abandoned: exit the process soon). Main thread; blocks.
 */
bool dtp_pool_stop(dtp_pool *p, int64_t drain_ms);

/*
 * dtp_pool_free closes the connections and frees the pool. NULL is a no-op.
 * After a dtp_pool_stop that returned false it frees nothing (an abandoned
 * thread may still use the pool). Main thread.
 */
void dtp_pool_free(dtp_pool *p);

#endif /* SCHEDULER_WORKER_H */
