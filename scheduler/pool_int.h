/*
 * pool_int.h (private): the worker pool's shared state, used by worker.c
 * (workers, start and stop), dispatch.c (the dispatcher) and lease.c (the
 * lease ticker). The DESIGN and the lock order are in worker.c.
 */
#ifndef SCHEDULER_POOL_INT_H
#define SCHEDULER_POOL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/conn.h"
#include "dtp.pb.h"
#include "job.h"
#include "worker.h"

/* How often a failed completion write is tried before giving up. */
#define RECORD_TRIES 3
/*
 * The most succeeded attempts one write of the finisher takes, and the most
 * result bytes (a batch takes at least one, whatever its size); the most
 * successes waiting for it before workers wait for room: see record.c.
 */
#define FINISH_BATCH_MAX   256
#define FINISH_BATCH_BYTES (1024 * 1024)
#define FINISH_QUEUE_MAX   1024
/* Slack on local timers, so the database's now() has passed run_at. */
#define TIMER_SLACK_MS 2
/*
 * The least time between two NOTIFY dtp_task of this node: creates that
 * commit meanwhile share the next one (see "Wake-up" in worker.c).
 */
#define ANNOUNCE_MS 3

typedef struct queued {
	dtp_v1_Task task;
	int64_t     claimed_mono_ms; /* when the claim started */
} queued;

/* What the end of an attempt needs to know of its task. */
typedef struct attempt_info {
	int64_t     id;
	const char *type; /* borrowed */
	int         attempt;
	int         max_attempts;
	int64_t     timeout_ms;
	dtp_backoff backoff; /* the task's own, or the node's */
} attempt_info;

/*
 * One per worker: what it runs, for cancels, renewals, the watchdog and
 * shutdown. Every field is guarded by mu.
 */
typedef struct slot {
	bool         assigned;    /* a task was taken */
	bool         cancel_seen; /* cancelled before its job existed */
	dtp_job     *job;         /* NULL while not running a handler */
	int64_t      id;
	int          attempt;
	int64_t      lease_ok_mono_ms; /* the lease was good at this time */
	attempt_info info;             /* info.type points into type */
	char         type[65];
} slot;

/* An abandoned handler's attempt, queued by the watchdog for the ticker. */
typedef struct dtp_ended {
	attempt_info    info; /* info.type is set to type when written */
	char            type[65];
	dtp_stop_reason reason;
	int64_t         stopped_ms_ago;
} dtp_ended;

/*
 * A worker thread. The pool holds one per slot; a worker whose handler
 * ignored its stop past the grace is abandoned: the pool puts a new worker
 * in its slot, and the old one, once its handler returns, frees itself.
 */
typedef struct worker {
	dtp_pool *pool;
	int       index;
	db_conn  *conn; /* opened by the thread itself when NULL at start */
	uint64_t  rng;
	pthread_t thread;
	bool      started;    /* set under mu once the thread runs */
	bool      spawning;   /* the watchdog is starting it; mu */
	bool      cap_logged; /* said why it is not started; mu */
	bool      exited;     /* guarded by mu */
	bool      abandoned;  /* guarded by mu; the thread is detached */
} worker;

struct dtp_pool {
	dtp_pool_opts opts;
	char         *conninfo;
	char         *node;
	char         *types; /* text[] literal of the registered types */
	int           wake_fd;

	pthread_mutex_t mu;
	pthread_cond_t  work_cv;  /* workers: a task queued, or stopping */
	pthread_cond_t  idle_cv;  /* stop: a worker finished; CLOCK_MONOTONIC */
	pthread_cond_t  tick_cv;  /* the ticker's sleep; CLOCK_MONOTONIC */
	pthread_cond_t  watch_cv; /* the watchdog's sleep; CLOCK_MONOTONIC */

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
	bool stop_watcher;    /* guarded by mu */
	int  n_abandoned;     /* abandoned threads still running; mu */
	/* Ends of abandoned attempts for the ticker to write; mu. */
	dtp_ended *ends;
	int        n_ends;
	int        cap_ends;

	/*
	 * The finisher's queue of succeeded attempts (record.c). fin_mu is a
	 * leaf: never held with mu or a job's mu, nor across libpq.
	 */
	pthread_mutex_t  fin_mu;
	pthread_cond_t   fin_cv;      /* the finisher: work, or stop; fin_mu */
	pthread_cond_t   fin_room_cv; /* workers: room in the queue; fin_mu */
	struct finished *fin_head;    /* guarded by fin_mu */
	struct finished *fin_tail;    /* guarded by fin_mu */
	int              fin_len;     /* guarded by fin_mu */
	bool             fin_stop;    /* write what is queued, end; fin_mu */

	/*
	 * A task was committed here that other nodes were not yet told of
	 * (NOTIFY dtp_task). Set by RPC threads, cleared by the dispatcher.
	 */
	atomic_bool unannounced;
	/* The payload of this node's NOTIFY dtp_task, so that the dispatcher
	 * can tell its own from another node's; the dispatcher's. */
	char announce_tag[24];

	db_conn  *dispatch_conn;
	db_conn  *tick_conn;
	db_conn  *finish_conn;
	pthread_t dispatcher;
	pthread_t finisher;
	bool      finisher_started;
	pthread_t ticker;
	pthread_t watcher;
	bool      dispatcher_started;
	bool      ticker_started;
	bool      watcher_started;
	worker  **workers;   /* one per slot; guarded by mu (replaced) */
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

/*
 * dtp_pool_announce tells the dispatcher that a task was committed on this
 * node, after the commit: it sends one NOTIFY dtp_task for all the tasks
 * committed since its last one, at most one per ANNOUNCE_MS (dispatch.c).
 * Any thread; lock-free. Local workers are woken by dtp_pool_wake(_at).
 */
void dtp_pool_announce(dtp_pool *p);

/*
 * dtp_pool_end_attempt writes how an attempt ended (end_kind) on c, one
 * fenced UPDATE: see worker.c. Used by workers, by the finisher for a
 * success its batch could not hold, and by the ticker for abandoned
 * handlers.
 */
typedef enum end_kind {
	END_SUCCEED,
	END_RETRY,
	END_FAIL,
	END_CANCELLED,
	END_RELEASE,
} end_kind;

void dtp_pool_end_attempt(dtp_pool *p, db_conn *c, const attempt_info *t,
    end_kind kind, const char *text, int64_t delay_ms, int64_t elapsed_ms);

/*
 * dtp_pool_finish hands a succeeded attempt to the finisher and returns
 * (waiting only while FINISH_QUEUE_MAX successes are queued): it takes
 * result (len bytes, malloc'd, may be NULL) and copies t. A worker's thread.
 */
void dtp_pool_finish(dtp_pool *p, const attempt_info *t, char *result,
    size_t len, int64_t elapsed_ms);

/*
 * dtp_pool_end_failed ends a failed or timed-out attempt on c: retried
 * after delay_ms (has_delay) or the backoff while attempts remain and it is
 * not permanent, FAILED otherwise.
 */
void dtp_pool_end_failed(dtp_pool *p, db_conn *c, const attempt_info *t,
    uint64_t *rng, bool permanent, bool has_delay, int64_t delay_ms,
    const char *msg, int64_t elapsed_ms);

/*
 * dtp_pool_write_ends writes the ends of the attempts the watchdog
 * abandoned (watch.c) on c. The ticker's thread.
 */
void dtp_pool_write_ends(dtp_pool *p, db_conn *c, uint64_t *rng);

/* dtp_pool_pause_ms sleeps ms milliseconds; call it without a lock. */
void dtp_pool_pause_ms(int64_t ms);

/* dtp_pool_worker_new returns a worker for slot index, not started. */
worker *dtp_pool_worker_new(dtp_pool *p, int index, uint64_t seed);

/* The thread entry points: arg is the pool, or the worker. */
void *dtp_dispatch_main(void *arg);
void *dtp_finish_main(void *arg);
void *dtp_lease_main(void *arg);
void *dtp_watch_main(void *arg);
void *dtp_worker_main(void *arg);

#endif /* SCHEDULER_POOL_INT_H */
