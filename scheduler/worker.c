/*
 * worker.c: the worker pool of a DTP node: claim, run, record, lease,
 * watchdog.
 *
 * DESIGN
 *
 * Threads. One dispatcher, N workers, one lease ticker (lease.c), one
 * watchdog (watch.c). Each but the watchdog owns one database connection
 * (opened by dtp_pool_start, never shared); the watchdog has none, so that
 * a hanging database cannot stop it. RPC threads only poke the pool
 * through dtp_pool_wake/_wake_at/_cancel, which take the pool mutex
 * briefly and write to an eventfd, and dtp_pool_announce (an atomic flag,
 * and the eventfd when the flag was clear).
 *
 * Claim. The dispatcher claims with one statement (store.c, sql_claim):
 * UPDATE ... SET status = 'RUNNING', attempts = attempts + 1, lease ...
 * WHERE id IN (SELECT ... WHERE status = 'PENDING' AND run_at <= now()
 * AND type = ANY(<this node's types>) ORDER BY run_at, id LIMIT n FOR
 * UPDATE SKIP LOCKED). n is the number of idle workers minus the tasks
 * already queued for them, so one round trip feeds several workers and a
 * node never holds claimed work it cannot start. A node claims only the
 * types it has handlers for, so nodes with different handlers (a worker
 * binary of your own beside plain dtp nodes) share one database; a type no
 * node runs waits PENDING. Claimed tasks go to a queue (at most one per
 * worker) that the workers take from. When a claim fills every idle
 * worker, more work may be due: the dispatcher claims again as soon as a
 * worker becomes idle.
 *
 * Wake-up. The dispatcher sleeps in poll() on an eventfd and its
 * connection's socket, and claims when:
 *   - a task was committed on this node (CreateTask -> dtp_pool_wake, right
 *     after the commit: no polling delay on the happy path);
 *   - another node committed one: the dispatcher's connection LISTENs on
 *     dtp_task (and ignores its own node's, whose payload is its tag);
 *   - a local timer falls due (a retry's or a future run_at known here);
 *   - the slow poll (poll_ms) passes, for run_at timers set elsewhere and
 *     for anything a lost notification missed.
 * PostgreSQL serialises the commits of transactions that send NOTIFY, so
 * CreateTask sends none: after its commit it sets the pool's unannounced
 * flag (dtp_pool_announce), and the dispatcher, once it has claimed for
 * its own workers, sends one NOTIFY dtp_task on its connection for every
 * create committed since its last one: at once when it was idle, then at
 * most once per ANNOUNCE_MS while creates keep coming. The flag is set
 * after the commit and cleared before the NOTIFY, so a NOTIFY never
 * precedes the commit it announces. Tasks committed while the database is
 * unreachable are announced once it is back; at shutdown any pending
 * announcement is sent before the dispatcher stops.
 * Cancels reach a running handler through its job's stop flag: directly
 * from an RPC thread on this node, by NOTIFY dtp_cancel from another node,
 * and, should both miss, from the ticker, which sees cancel_requested on
 * every renewal.
 *
 * Lease. A claim sets lease_expires_at = now() + lease. Every lease/3 the
 * ticker renews all of this node's running attempts in one UPDATE fenced on
 * (id, attempts); an attempt missing from the answer was taken back, and
 * its handler is told to stop. When an attempt's lease was not confirmed
 * for 2/3 of a lease (renewals failing, or hanging on a stalled
 * connection) the watchdog stops its handler rather than let it run beside
 * a second copy. The ticker also reaps, on every node: RUNNING tasks whose
 * lease expired go
 * back to PENDING (or FAILED when attempts are exhausted, CANCELLED when a
 * cancel was requested). Every end of an attempt is fenced on
 * (id, status = 'RUNNING', attempts), so a late writer changes nothing, and
 * a final state records the node that wrote it (finished_by).
 *
 * Watchdog. A C handler cannot be killed. The watchdog wakes for the
 * earliest of: a lease guard (above), a running attempt's timeout (a
 * handler that never looks at its clock is told to stop then), and a
 * stopped handler's grace (handler_grace_ms after the stop). A handler
 * still running past its grace is abandoned: its attempt is ended for it
 * (a cancel -> CANCELLED; a timeout -> retried with backoff or FAILED; a
 * lost lease -> nothing, the task is no longer ours), written by the
 * ticker from a queue; its lease is no longer renewed (its slot no longer
 * lists it); its thread is detached and its slot gets a new worker. The old
 * thread, when its handler returns at last, sees it was abandoned, writes
 * nothing and frees itself. At most `workers` abandoned threads may run at
 * once; past that a slot stays empty until one ends. On shutdown the drain and
 * grace apply as below, and a thread still stuck makes dtp_pool_stop return
 * false: the process must exit without freeing the pool.
 *
 * Shutdown. Stop claiming; hand back claimed-but-unstarted tasks; let
 * running attempts finish up to the drain time; then stop the rest
 * (DTP_STOP_SHUTDOWN), whose workers hand them back to PENDING; whatever is
 * still running after handler_grace_ms is handed back in one statement and
 * its thread abandoned.
 *
 * Record. Every end of an attempt is one fenced UPDATE on the worker's own
 * connection (record.c), except a success: a worker whose handler
 * succeeded hands {id, attempt, result} to the finisher and takes its next
 * task at once. The finisher, a thread with its own connection, writes
 * whatever successes are waiting in one UPDATE ... FROM unnest(...) (one
 * commit), so a worker never waits for its success to be durable, and
 * successes share commits: a batch is whatever finished while the previous
 * one was being written, no timer. The slot was already free before the
 * write (renewals never covered it), so nothing about leases changes: a
 * success written late, after the lease ran out, changes nothing, as
 * before. A batch the database refuses is written again one row at a time,
 * so a bad result fails only its own task. The queue is bounded
 * (FINISH_QUEUE_MAX): workers wait for room when the database falls
 * behind. On stop, the finisher writes everything queued before it ends.

 * Lock order: pool->mu, then a job's mu (dtp_job_stop). fin_mu (the
 * finisher's queue) is a leaf, never held with another. No lock is held
 * across libpq, a handler, or a sleep.
 */
#include "worker.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <pb_decode.h>

#include "common/clock.h"
#include "common/fault.h"
#include "common/log.h"
#include "common/mem.h"
#include "db/conn.h"
#include "pool_int.h"
#include "store.h"

#define COMPONENT "dtp.worker"

void
dtp_pool_wake_dispatcher(dtp_pool *p)
{
	uint64_t one = 1;

	/* A full counter (EAGAIN) already means "wake up". */
	(void) !write(p->wake_fd, &one, sizeof(one));
}

void
dtp_pool_wake(dtp_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->kick = true;
	pthread_mutex_unlock(&p->mu);
	dtp_pool_wake_dispatcher(p);
}

void
dtp_pool_wake_at(dtp_pool *p, int64_t delay_ms)
{
	int64_t at;

	if (delay_ms <= 0) {
		dtp_pool_wake(p);
		return;
	}
	at = tp_clock_mono_ms() + delay_ms + TIMER_SLACK_MS;
	pthread_mutex_lock(&p->mu);
	if (p->timer_ms == 0 || at < p->timer_ms) {
		p->timer_ms = at;
	}
	pthread_mutex_unlock(&p->mu);
	dtp_pool_wake_dispatcher(p);
}

/* cancel_locked: the body of dtp_pool_cancel; mu held. */
static void
cancel_locked(dtp_pool *p, int64_t id)
{
	for (int i = 0; i < p->opts.workers; i++) {
		slot *s = &p->slots[i];
		if (!s->assigned || s->id != id) {
			continue;
		}
		if (s->job != NULL) {
			(void) dtp_job_stop(s->job, DTP_STOP_CANCEL);
			/* The watchdog times the grace from now. */
			pthread_cond_broadcast(&p->watch_cv);
		} else {
			s->cancel_seen = true;
		}
	}
	for (int i = 0; i < p->q_len; i++) {
		queued *q = &p->queue[(p->q_head + i) % p->opts.workers];
		if (q->task.id == id) {
			q->task.cancel_requested = true;
		}
	}
}

void
dtp_pool_cancel(dtp_pool *p, int64_t id)
{
	pthread_mutex_lock(&p->mu);
	cancel_locked(p, id);
	pthread_mutex_unlock(&p->mu);
}

int
dtp_pool_busy(dtp_pool *p)
{
	int n;

	pthread_mutex_lock(&p->mu);
	n = p->n_busy + p->q_len;
	pthread_mutex_unlock(&p->mu);
	return n;
}

/* task_backoff is the task's own backoff where it has one. */
static dtp_backoff
task_backoff(const dtp_pool *p, const dtp_v1_Task *t)
{
	dtp_backoff b = p->opts.backoff;

	if (t->backoff_base_ms > 0) {
		b.base_ms = t->backoff_base_ms;
	}
	if (t->backoff_max_ms > 0) {
		b.max_ms = t->backoff_max_ms;
	}
	return b;
}

/*
 * run_task runs one claimed attempt and records how it ended. Returns
 * false when the worker was abandoned meanwhile (its attempt was ended for
 * it and its slot belongs to another worker): the thread must then go.
 */
static bool
run_task(worker *w, const queued *q, bool release_only)
{
	dtp_pool          *p = w->pool;
	const dtp_v1_Task *t = &q->task;
	dtp_job            job;
	dtp_handler_cb     cb  = NULL;
	void              *arg = NULL;
	dtp_outcome        outcome;
	dtp_stop_reason    reason;
	int64_t            start = tp_clock_mono_ms();
	int64_t            elapsed;
	bool               abandoned;
	attempt_info       info;
	char               why[DTP_ERROR_MAX];

	info.id           = t->id;
	info.type         = t->type;
	info.attempt      = t->attempts;
	info.max_attempts = t->max_attempts;
	info.timeout_ms   = t->timeout_ms;
	info.backoff      = task_backoff(p, t);
	dtp_job_init(&job, t->id, t->type, t->payload, t->attempts,
	    t->max_attempts, t->timeout_ms);
	pthread_mutex_lock(&p->mu);
	{
		slot *s = &p->slots[w->index];
		s->job  = &job;
		s->info = info;
		snprintf(s->type, sizeof(s->type), "%s", t->type);
		s->info.type = s->type;
		if (release_only) {
			dtp_job_stop(&job, DTP_STOP_SHUTDOWN);
		} else if (s->cancel_seen) {
			dtp_job_stop(&job, DTP_STOP_CANCEL);
		}
	}
	/* The watchdog learns of the new deadline. */
	pthread_cond_broadcast(&p->watch_cv);
	pthread_mutex_unlock(&p->mu);
	/* Every attempt claimed counts, however it ends. */
	dtp_metrics_attempt(p->opts.metrics);

	if (dtp_job_stop_reason(&job) != DTP_STOP_NONE) {
		outcome = dtp_job_fail(&job, "stopped before it started");
	} else if (!dtp_registry_find(p->opts.reg, t->type, &cb, &arg)) {
		outcome = dtp_job_fail_permanent(
		    &job, "no handler for type \"%s\"", t->type);
	} else {
		tp_log_debug(COMPONENT,
		    "task started task_id=%" PRId64 " type=%s attempt=%d",
		    t->id, t->type, t->attempts);
		outcome = cb(&job, arg);
	}
	reason = dtp_job_stop_reason(&job);

	/* From here on no other thread may reach the job. */
	pthread_mutex_lock(&p->mu);
	abandoned = w->abandoned;
	if (!abandoned) {
		p->slots[w->index].job      = NULL;
		p->slots[w->index].assigned = false;
	}
	pthread_mutex_unlock(&p->mu);
	elapsed = tp_clock_mono_ms() - start;
	if (reason == DTP_STOP_CANCEL && dtp_job_stopped_at_us(&job) > 0) {
		dtp_metrics_cancel_to_stop(p->opts.metrics,
		    tp_clock_mono_us() - dtp_job_stopped_at_us(&job));
	}
	if (abandoned) {
		tp_log_warn(COMPONENT,
		    "abandoned handler returned task_id=%" PRId64
		    " attempt=%d ms=%" PRId64 ": its attempt was ended for it",
		    t->id, t->attempts, elapsed);
		dtp_job_fini(&job);
		return false;
	}

	/* The handler is done, nothing recorded yet: a delay here lets the
	 * lease run out under a finished attempt (a zombie). */
	(void) TP_FAULT("dtp.worker.before_record");

	/* A handler that did not say how it ended gets the plain meaning. */
	if (outcome == DTP_OUTCOME_OK && !job.has_outcome) {
		(void) dtp_job_succeed(&job, "", 0);
	} else if (outcome != DTP_OUTCOME_OK && outcome != DTP_OUTCOME_RETRY
	    && outcome != DTP_OUTCOME_RETRY_AFTER
	    && outcome != DTP_OUTCOME_PERMANENT) {
		outcome = dtp_job_fail_permanent(&job,
		    "handler for type \"%s\" returned an invalid outcome %d",
		    t->type, (int) outcome);
	} else if (outcome != DTP_OUTCOME_OK
	    && (!job.has_outcome || job.outcome == DTP_OUTCOME_OK)) {
		snprintf(job.error, sizeof(job.error),
		    "handler for type \"%s\" failed without a reason", t->type);
	}

	if (outcome == DTP_OUTCOME_OK) {
		size_t len    = 0;
		char  *result = dtp_job_take_result(&job, &len);
		if (len > p->opts.max_result_bytes) {
			snprintf(why, sizeof(why),
			    "result is %zu bytes, over the limit of %zu bytes",
			    len, p->opts.max_result_bytes);
			dtp_pool_end_attempt(
			    p, w->conn, &info, END_FAIL, why, 0, elapsed);
		} else if (job.result_has_nul) {
			dtp_pool_end_attempt(p, w->conn, &info, END_FAIL,
			    "result contains a NUL byte", 0, elapsed);
		} else {
			/* The finisher owns result from here. */
			dtp_pool_finish(p, &info, result, len, elapsed);
			result = NULL;
		}
		free(result);
	} else if (reason == DTP_STOP_CANCEL) {
		dtp_pool_end_attempt(
		    p, w->conn, &info, END_CANCELLED, NULL, 0, elapsed);
	} else if (reason == DTP_STOP_SHUTDOWN) {
		dtp_pool_end_attempt(
		    p, w->conn, &info, END_RELEASE, NULL, 0, elapsed);
	} else if (reason == DTP_STOP_LEASE_LOST) {
		tp_log_warn(COMPONENT,
		    "attempt abandoned task_id=%" PRId64
		    " attempt=%d: its lease was lost",
		    t->id, t->attempts);
	} else {
		const char *msg = job.error;
		if (reason == DTP_STOP_TIMEOUT) {
			snprintf(why, sizeof(why),
			    "timed out after %" PRId64 " ms", t->timeout_ms);
			msg = why;
		}
		dtp_pool_end_failed(p, w->conn, &info, &w->rng,
		    outcome == DTP_OUTCOME_PERMANENT,
		    outcome == DTP_OUTCOME_RETRY_AFTER, job.retry_after_ms, msg,
		    elapsed);
	}
	dtp_job_fini(&job);
	return true;
}

/* open_own_conn: a replacement worker connects by itself, retrying. */
static bool
open_own_conn(worker *w)
{
	dtp_pool *p = w->pool;

	while (w->conn == NULL) {
		tp_err err;
		bool   stop;
		if (db_conn_open(&w->conn, p->conninfo, &err) == TP_OK) {
			return true;
		}
		tp_log_warn(COMPONENT, "worker could not connect: %s", err.msg);
		pthread_mutex_lock(&p->mu);
		stop = p->stop_workers;
		pthread_mutex_unlock(&p->mu);
		if (stop) {
			return false;
		}
		dtp_pool_pause_ms(1000);
	}
	return true;
}

void *
dtp_worker_main(void *arg)
{
	worker   *w = arg;
	dtp_pool *p = w->pool;

	if (!open_own_conn(w)) {
		pthread_mutex_lock(&p->mu);
		w->exited = true;
		pthread_cond_broadcast(&p->idle_cv);
		pthread_mutex_unlock(&p->mu);
		return NULL;
	}
	pthread_mutex_lock(&p->mu);
	for (;;) {
		queued q;
		bool   release_only;
		bool   mine;

		while (p->q_len == 0 && !p->stop_workers) {
			p->n_idle++;
			pthread_cond_wait(&p->work_cv, &p->mu);
			p->n_idle--;
		}
		if (p->q_len == 0) {
			break;
		}
		q         = p->queue[p->q_head];
		p->q_head = (p->q_head + 1) % p->opts.workers;
		p->q_len--;
		p->n_busy++;
		/* Cancels find the task from here on, job or not yet. */
		p->slots[w->index].assigned         = true;
		p->slots[w->index].cancel_seen      = q.task.cancel_requested;
		p->slots[w->index].id               = q.task.id;
		p->slots[w->index].attempt          = q.task.attempts;
		p->slots[w->index].lease_ok_mono_ms = q.claimed_mono_ms;
		release_only                        = p->draining;
		pthread_mutex_unlock(&p->mu);

		mine = run_task(w, &q, release_only);
		pb_release(dtp_v1_Task_fields, &q.task);

		if (!mine) {
			/* Abandoned: the watchdog already counted us out. */
			db_conn_free(w->conn);
			pthread_mutex_lock(&p->mu);
			p->n_abandoned--;
			pthread_cond_broadcast(&p->idle_cv);
			/* A slot may wait for this (the cap): the watchdog. */
			pthread_cond_broadcast(&p->watch_cv);
			pthread_mutex_unlock(&p->mu);
			free(w);
			return NULL;
		}
		pthread_mutex_lock(&p->mu);
		p->n_busy--;
		pthread_cond_broadcast(&p->idle_cv);
		/* An idle worker is room for the next claim. */
		dtp_pool_wake_dispatcher(p);
	}
	w->exited = true;
	pthread_cond_broadcast(&p->idle_cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

worker *
dtp_pool_worker_new(dtp_pool *p, int index, uint64_t seed)
{
	worker *w = tp_xcalloc(1, sizeof(*w));

	w->pool  = p;
	w->index = index;
	w->rng   = seed + (uint64_t) index * 0x9e3779b97f4a7c15ULL;
	return w;
}

/*
 * types_literal writes the registry's types as a text[] literal: type names
 * are [a-z0-9_.-], which needs no quoting in one.
 */
static char *
types_literal(const dtp_registry *reg)
{
	size_t cap = 4096;
	char  *buf = tp_xmalloc(cap);
	size_t len;

	for (;;) {
		buf[0] = '{';
		dtp_registry_types(reg, buf + 1, cap - 2);
		len = strlen(buf);
		if (len < cap - 3) {
			break;
		}
		cap *= 2;
		buf = tp_xrealloc(buf, cap);
	}
	buf[len]     = '}';
	buf[len + 1] = '\0';
	return buf;
}

tp_status
dtp_pool_start(dtp_pool **out, const dtp_pool_opts *opts, tp_err *err)
{
	tp_status          rc = TP_OK;
	dtp_pool          *p  = tp_xcalloc(1, sizeof(*p));
	pthread_condattr_t ca;
	uint64_t           seed
	    = (uint64_t) tp_clock_mono_us() ^ ((uint64_t) getpid() << 32);

	atomic_init(&p->unannounced, false);
	p->opts          = *opts;
	p->conninfo      = tp_xstrdup(opts->conninfo);
	p->node          = tp_xstrdup(opts->node);
	p->opts.conninfo = p->conninfo;
	p->opts.node     = p->node;
	p->types         = types_literal(opts->reg);
	p->wake_fd       = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work_cv, NULL);
	pthread_mutex_init(&p->fin_mu, NULL);
	pthread_cond_init(&p->fin_cv, NULL);
	pthread_cond_init(&p->fin_room_cv, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->idle_cv, &ca);
	pthread_cond_init(&p->tick_cv, &ca);
	pthread_cond_init(&p->watch_cv, &ca);
	pthread_condattr_destroy(&ca);
	p->queue   = tp_xcalloc((size_t) opts->workers, sizeof(queued));
	p->slots   = tp_xcalloc((size_t) opts->workers, sizeof(slot));
	p->workers = tp_xcalloc((size_t) opts->workers, sizeof(worker *));
	for (int i = 0; i < opts->workers; i++) {
		p->workers[i] = dtp_pool_worker_new(p, i, seed);
	}
	if (p->wake_fd < 0) {
		rc = tp_err_set(err, TP_INTERNAL,
		    "could not create eventfd: %s", strerror(errno));
		goto out;
	}

	/* Every connection up front, so a bad database fails the start. */
	if ((rc = db_conn_open(&p->dispatch_conn, p->conninfo, err)) != TP_OK
	    || (rc = db_conn_open(&p->tick_conn, p->conninfo, err)) != TP_OK
	    || (rc = db_conn_open(&p->finish_conn, p->conninfo, err))
	        != TP_OK) {
		goto out;
	}
	if (pthread_create(&p->finisher, NULL, dtp_finish_main, p) != 0) {
		rc = tp_err_set(
		    err, TP_INTERNAL, "could not start the finisher");
		goto out;
	}
	p->finisher_started = true;
	for (int i = 0; i < opts->workers; i++) {
		if ((rc = db_conn_open(&p->workers[i]->conn, p->conninfo, err))
		    != TP_OK) {
			goto out;
		}
	}
	for (int i = 0; i < opts->workers; i++) {
		worker *w = p->workers[i];
		if (pthread_create(&w->thread, NULL, dtp_worker_main, w) != 0) {
			rc = tp_err_set(
			    err, TP_INTERNAL, "could not start a worker");
			goto out;
		}
		w->started = true;
	}
	if (pthread_create(&p->ticker, NULL, dtp_lease_main, p) != 0) {
		rc = tp_err_set(err, TP_INTERNAL, "could not start the ticker");
		goto out;
	}
	p->ticker_started = true;
	if (pthread_create(&p->watcher, NULL, dtp_watch_main, p) != 0) {
		rc = tp_err_set(
		    err, TP_INTERNAL, "could not start the watchdog");
		goto out;
	}
	p->watcher_started = true;
	if (pthread_create(&p->dispatcher, NULL, dtp_dispatch_main, p) != 0) {
		rc = tp_err_set(
		    err, TP_INTERNAL, "could not start the dispatcher");
		goto out;
	}
	p->dispatcher_started = true;
out:
	if (rc != TP_OK) {
		(void) dtp_pool_stop(p, 0);
		dtp_pool_free(p);
		return rc;
	}
	*out = p;
	return TP_OK;
}

void
dtp_pool_workers(dtp_pool *p, int *busy, int *idle, int *abandoned)
{
	pthread_mutex_lock(&p->mu);
	*busy      = p->n_busy;
	*idle      = p->n_idle;
	*abandoned = p->n_abandoned;
	pthread_mutex_unlock(&p->mu);
}

void
dtp_pool_timed_wait(
    pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_mono_ms)
{
	struct timespec ts = { .tv_sec = (time_t) (deadline_mono_ms / 1000),
		.tv_nsec = (long) (deadline_mono_ms % 1000) * 1000000L };

	if (deadline_mono_ms == INT64_MAX) {
		pthread_cond_wait(cv, mu);
		return;
	}
	pthread_cond_timedwait(cv, mu, &ts);
}

/* wait_idle_locked waits until no attempt runs or until deadline; mu held. */
static bool
wait_idle_locked(dtp_pool *p, int64_t deadline_mono_ms)
{
	while (p->n_busy > 0 || p->q_len > 0) {
		if (tp_clock_mono_ms() >= deadline_mono_ms) {
			return false;
		}
		dtp_pool_timed_wait(&p->idle_cv, &p->mu, deadline_mono_ms);
	}
	return true;
}

/*
 * wait_exited_locked waits until every started worker ended, and every
 * abandoned thread too, or until deadline; mu held.
 */
static void
wait_exited_locked(dtp_pool *p, int64_t deadline_mono_ms)
{
	for (;;) {
		int running = p->n_abandoned;
		for (int i = 0; i < p->opts.workers; i++) {
			if (p->workers[i]->started && !p->workers[i]->exited) {
				running++;
			}
		}
		if (running == 0 || tp_clock_mono_ms() >= deadline_mono_ms) {
			return;
		}
		dtp_pool_timed_wait(&p->idle_cv, &p->mu, deadline_mono_ms);
	}
}

bool
dtp_pool_stop(dtp_pool *p, int64_t drain_ms)
{
	dtp_lease *left   = NULL;
	int        n_left = 0;
	bool       idle;

	if (p == NULL) {
		return true;
	}
	/* 1. Stop claiming; claimed tasks not yet started go back. */
	pthread_mutex_lock(&p->mu);
	p->draining        = true;
	p->stop_dispatcher = true;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
	if (p->wake_fd >= 0) {
		dtp_pool_wake_dispatcher(p);
	}
	if (p->dispatcher_started) {
		pthread_join(p->dispatcher, NULL);
		p->dispatcher_started = false;
	}

	/* 2. Let running attempts finish, up to the drain time. */
	pthread_mutex_lock(&p->mu);
	idle = wait_idle_locked(p, tp_clock_mono_ms() + drain_ms);
	if (!idle) {
		/* 3. Ask the rest to stop; their workers hand them back. */
		tp_log_info(COMPONENT,
		    "drain time passed, stopping running tasks n=%d",
		    p->n_busy);
		for (int i = 0; i < p->opts.workers; i++) {
			if (p->slots[i].job != NULL) {
				(void) dtp_job_stop(
				    p->slots[i].job, DTP_STOP_SHUTDOWN);
			}
		}
		idle = wait_idle_locked(
		    p, tp_clock_mono_ms() + p->opts.handler_grace_ms);
	}
	p->stop_workers = true;
	pthread_cond_broadcast(&p->work_cv);
	if (!idle) {
		left = tp_xcalloc((size_t) p->opts.workers, sizeof(*left));
		for (int i = 0; i < p->opts.workers; i++) {
			if (p->slots[i].job != NULL) {
				left[n_left].id      = p->slots[i].id;
				left[n_left].attempt = p->slots[i].attempt;
				n_left++;
			}
		}
	}

	/*
	 * 4. The watchdog and the ticker watched handlers and renewed leases
	 * until here; they stop before the join, so no worker is replaced
	 * any more. The ticker writes what the watchdog queued, then ends.
	 */
	p->stop_watcher = true;
	pthread_cond_broadcast(&p->watch_cv);
	pthread_mutex_unlock(&p->mu);
	if (p->watcher_started) {
		pthread_join(p->watcher, NULL);
		p->watcher_started = false;
	}
	pthread_mutex_lock(&p->mu);
	p->stop_ticker = true;
	pthread_cond_broadcast(&p->tick_cv);
	pthread_mutex_unlock(&p->mu);
	if (p->ticker_started) {
		pthread_join(p->ticker, NULL);
		p->ticker_started = false;
	}

	/* 5. Join the workers; one stuck in a handler is abandoned. */
	pthread_mutex_lock(&p->mu);
	wait_exited_locked(p,
	    idle && p->n_abandoned == 0 ? INT64_MAX : tp_clock_mono_ms() + 500);
	if (p->n_abandoned > 0) {
		p->abandoned = true;
	}
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->opts.workers; i++) {
		worker *w = p->workers[i];
		bool    exited;
		if (!w->started) {
			continue;
		}
		pthread_mutex_lock(&p->mu);
		exited = w->exited;
		pthread_mutex_unlock(&p->mu);
		if (exited) {
			pthread_join(w->thread, NULL);
			w->started = false;
		} else {
			p->abandoned = true;
		}
	}

	/* The finisher writes what the workers handed it, then ends. */
	pthread_mutex_lock(&p->fin_mu);
	p->fin_stop = true;
	pthread_cond_broadcast(&p->fin_cv);
	pthread_mutex_unlock(&p->fin_mu);
	if (p->finisher_started) {
		pthread_join(p->finisher, NULL);
		p->finisher_started = false;
	}

	/* 6. Hand back at once what stopped handlers still hold. */
	if (n_left > 0 && p->tick_conn != NULL) {
		int    released = 0;
		tp_err err;
		if (dtp_store_release_all(
		        &released, p->tick_conn, p->node, left, n_left, &err)
		    != TP_OK) {
			tp_log_error(COMPONENT,
			    "could not hand back running tasks n=%d: %s",
			    n_left, err.msg);
		} else {
			tp_log_warn(COMPONENT,
			    "handed back tasks whose handlers did not stop "
			    "n=%d released=%d",
			    n_left, released);
		}
	}
	free(left);
	return !p->abandoned;
}

void
dtp_pool_free(dtp_pool *p)
{
	if (p == NULL || p->abandoned) {
		return;
	}
	db_conn_free(p->dispatch_conn);
	db_conn_free(p->tick_conn);
	db_conn_free(p->finish_conn);
	for (int i = 0; i < p->opts.workers; i++) {
		db_conn_free(p->workers[i]->conn);
		free(p->workers[i]);
	}
	for (int i = 0; i < p->q_len; i++) {
		pb_release(dtp_v1_Task_fields,
		    &p->queue[(p->q_head + i) % p->opts.workers].task);
	}
	if (p->wake_fd >= 0) {
		close(p->wake_fd);
	}
	pthread_cond_destroy(&p->work_cv);
	pthread_cond_destroy(&p->idle_cv);
	pthread_cond_destroy(&p->tick_cv);
	pthread_cond_destroy(&p->watch_cv);
	free(p->ends);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->fin_cv);
	pthread_cond_destroy(&p->fin_room_cv);
	pthread_mutex_destroy(&p->fin_mu);
	free(p->queue);
	free(p->slots);
	free(p->workers);
	free(p->conninfo);
	free(p->node);
	free(p->types);
	free(p);
}
