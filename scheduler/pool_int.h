/*
 * pool_int.h (private): the worker pool's shared state, used by worker.c
 * (workers, start and stop), dispatch.c (the dispatcher) and lease.c (the
 * lease ticker). The DESIGN and the lock order are in worker.c.
 */
#ifndef SCHEDULER_POOL_INT_H
#define SCHEDULER_POOL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/conn.h"
#include "dtp.pb.h"
#include "job.h"
#include "worker.h"

/* How long stopped handlers get to return after the drain time. */
#define STOP_GRACE_MS 3000
/* How often a failed completion write is tried before giving up. */
#define RECORD_TRIES 3
/* Slack on local timers, so the database's now() has passed run_at. */
#define TIMER_SLACK_MS 2

typedef struct queued {
	dtp_v1_Task task;
	int64_t     claimed_mono_ms; /* when the claim started */
} queued;

/* One per worker: what it runs, for cancels, renewals and shutdown. */
typedef struct slot {
	bool assigned;    /* a task was taken; guarded by mu */
	bool cancel_seen; /* cancelled before its job existed; guarded by mu */
	dtp_job *job;     /* guarded by mu; NULL while not running a handler */
	int64_t  id;
	int      attempt;
	int64_t  lease_ok_mono_ms; /* the lease was good at this time */
} slot;

typedef struct worker {
	dtp_pool *pool;
	int       index;
	db_conn  *conn;
	uint64_t  rng;
	pthread_t thread;
	bool      started;
	bool      exited; /* guarded by mu */
} worker;

struct dtp_pool {
	dtp_pool_opts opts;
	char         *conninfo;
	char         *node;
	int           wake_fd;

	pthread_mutex_t mu;
	pthread_cond_t  work_cv; /* workers: a task queued, or stopping */
	pthread_cond_t  idle_cv; /* stop: a worker finished; CLOCK_MONOTONIC */
	pthread_cond_t  tick_cv; /* the ticker's sleep; CLOCK_MONOTONIC */

	queued *queue;  /* ring of opts.workers entries, guarded by mu */
	int     q_head; /* guarded by mu */
	int     q_len;  /* guarded by mu */
	int     n_idle; /* workers waiting for a task, guarded by mu */
	int     n_busy; /* workers running or recording, guarded by mu */
	slot   *slots;  /* one per worker, guarded by mu */
	bool    kick;   /* work is due now, guarded by mu */
	int64_t
	     timer_ms; /* a local timer (monotonic), 0: none; guarded by mu */
	bool draining; /* no new attempts start, guarded by mu */
	bool stop_dispatcher; /* guarded by mu */
	bool stop_workers;    /* guarded by mu */
	bool stop_ticker;     /* guarded by mu */

	db_conn  *dispatch_conn;
	db_conn  *tick_conn;
	pthread_t dispatcher;
	pthread_t ticker;
	bool      dispatcher_started;
	bool      ticker_started;
	worker   *workers;
	bool      abandoned; /* a worker thread never ended */
};

/*
 * dtp_pool_timed_wait waits on cv (a CLOCK_MONOTONIC condition variable)
 * until deadline_mono_ms, or without limit for INT64_MAX; mu held.
 */
void dtp_pool_timed_wait(
    pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_mono_ms);

/* dtp_pool_wake_dispatcher wakes the dispatcher's poll(). Any thread. */
void dtp_pool_wake_dispatcher(dtp_pool *p);

/* The thread entry points: arg is the pool. */
void *dtp_dispatch_main(void *arg);
void *dtp_lease_main(void *arg);

#endif /* SCHEDULER_POOL_INT_H */
