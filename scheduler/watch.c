/*
 * watch.c: the watchdog thread of the worker pool (see the DESIGN in
 * worker.c). It never touches the database, so that a connection that
 * hangs cannot keep it from its three jobs:
 *   - the lease guard: a running attempt whose lease was not confirmed for
 *     2/3 of a lease (the renewal fails, or hangs on a stalled connection)
 *     is told to stop (DTP_STOP_LEASE_LOST) before the lease can run out
 *     and another node start a second copy;
 *   - the timeout of a handler that never looks at its clock;
 *   - the grace: a handler still running handler_grace_ms after it was
 *     asked to stop is abandoned. Its end is queued for the lease ticker,
 *     which writes it on its connection (dtp_pool_write_ends), and its
 *     slot gets a new worker.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "pool_int.h"

#define COMPONENT "dtp.worker"

static const char *
reason_name(dtp_stop_reason r)
{
	switch (r) {
	case DTP_STOP_CANCEL:
		return "cancel";
	case DTP_STOP_TIMEOUT:
		return "timeout";
	case DTP_STOP_LEASE_LOST:
		return "lease_lost";
	case DTP_STOP_SHUTDOWN:
		return "shutdown";
	default:
		return "none";
	}
}

/* queue_end_locked queues an abandoned attempt's end; mu held. */
static void
queue_end_locked(
    dtp_pool *p, const slot *s, dtp_stop_reason reason, int64_t stopped_ms_ago)
{
	dtp_ended *e;

	if (p->n_ends == p->cap_ends) {
		p->cap_ends = p->cap_ends == 0 ? 4 : p->cap_ends * 2;
		p->ends     = tp_xrealloc(
		        p->ends, (size_t) p->cap_ends * sizeof(*p->ends));
	}
	e       = &p->ends[p->n_ends++];
	e->info = s->info;
	snprintf(e->type, sizeof(e->type), "%s", s->type);
	e->info.type      = NULL; /* points into e->type once copied out */
	e->reason         = reason;
	e->stopped_ms_ago = stopped_ms_ago;
}

void
dtp_pool_write_ends(dtp_pool *p, db_conn *c, uint64_t *rng)
{
	dtp_ended *ends;
	int        n;
	char       why[DTP_ERROR_MAX];

	pthread_mutex_lock(&p->mu);
	ends        = p->ends;
	n           = p->n_ends;
	p->ends     = NULL;
	p->n_ends   = 0;
	p->cap_ends = 0;
	pthread_mutex_unlock(&p->mu);

	for (int i = 0; i < n; i++) {
		dtp_ended *e = &ends[i];
		e->info.type = e->type;
		switch (e->reason) {
		case DTP_STOP_CANCEL:
			snprintf(why, sizeof(why),
			    "cancelled; the handler did not stop within "
			    "%" PRId64 " ms and was abandoned",
			    p->opts.handler_grace_ms);
			dtp_pool_end_attempt(p, c, &e->info, END_CANCELLED, why,
			    0, e->stopped_ms_ago);
			break;
		case DTP_STOP_TIMEOUT:
			snprintf(why, sizeof(why),
			    "timed out after %" PRId64
			    " ms; the handler did not stop within %" PRId64
			    " ms and was abandoned",
			    e->info.timeout_ms, p->opts.handler_grace_ms);
			dtp_pool_end_failed(p, c, &e->info, rng, false, false,
			    0, why, e->info.timeout_ms + e->stopped_ms_ago);
			break;
		default:
			/* A lost lease: the task is no longer ours, there is
			 * nothing to write. */
			break;
		}
	}
	free(ends);
}

/*
 * watch_locked makes one pass over the slots; mu held. Abandoned slots get
 * new workers in spawn[] (started by the caller without the lock). Returns
 * when the next pass is due (monotonic ms).
 */
static int64_t
watch_locked(dtp_pool *p, worker **spawn, int *n_spawn, bool *ends_queued)
{
	int64_t now_us = tp_clock_mono_us();
	int64_t now    = now_us / 1000;
	int64_t grace  = p->opts.handler_grace_ms;
	int64_t guard  = p->opts.lease_ms - p->opts.lease_ms / 3;
	int64_t next   = INT64_MAX;

	for (int i = 0; i < p->opts.workers; i++) {
		slot           *s = &p->slots[i];
		dtp_stop_reason reason;
		int64_t         stopped_us;
		int64_t         at;
		worker         *w;
		if (s->job == NULL) {
			continue;
		}
		/* The lease guard, whatever else the job is doing. */
		if (now >= s->lease_ok_mono_ms + guard) {
			if (dtp_job_stop(s->job, DTP_STOP_LEASE_LOST)) {
				tp_log_warn(COMPONENT,
				    "lease not renewed for %" PRId64
				    " ms, stopping the handler task_id=%" PRId64
				    " attempt=%d",
				    now - s->lease_ok_mono_ms, s->id,
				    s->attempt);
			}
		} else {
			at   = s->lease_ok_mono_ms + guard;
			next = at < next ? at : next;
		}
		reason = dtp_job_stop_reason(s->job);
		if (reason == DTP_STOP_NONE) {
			if (now < s->job->deadline_mono_ms) {
				at   = s->job->deadline_mono_ms;
				next = at < next ? at : next;
				continue;
			}
			/* A handler that never looks at its clock. */
			(void) dtp_job_stop(s->job, DTP_STOP_TIMEOUT);
			reason = dtp_job_stop_reason(s->job);
		}
		/* A shutdown waits for its handlers itself (dtp_pool_stop). */
		stopped_us = dtp_job_stopped_at_us(s->job);
		if (reason == DTP_STOP_SHUTDOWN || stopped_us == 0) {
			continue;
		}
		if (now_us < stopped_us + grace * 1000) {
			at   = (stopped_us + grace * 1000) / 1000 + 1;
			next = at < next ? at : next;
			continue;
		}
		/* Abandon it: queue its end, give its slot a new worker. */
		tp_log_error(COMPONENT,
		    "handler did not stop, its thread is abandoned "
		    "task_id=%" PRId64
		    " type=%s attempt=%d reason=%s stopped_ms_ago=%" PRId64,
		    s->id, s->type, s->attempt, reason_name(reason),
		    (now_us - stopped_us) / 1000);
		dtp_metrics_abandoned(p->opts.metrics);
		queue_end_locked(p, s, reason, (now_us - stopped_us) / 1000);
		*ends_queued = true;
		w            = p->workers[i];
		w->abandoned = true;
		pthread_detach(w->thread);
		s->job      = NULL;
		s->assigned = false;
		p->n_busy--;
		p->n_abandoned++;
		pthread_cond_broadcast(&p->idle_cv);
		p->workers[i]
		    = dtp_pool_worker_new(p, i, w->rng ^ (uint64_t) now_us);
	}
	/*
	 * Start the workers of abandoned slots while no more abandoned
	 * threads than workers still run: a handler type that never stops
	 * must not make the node leak a thread per attempt. Past the cap a
	 * slot waits for an abandoned thread to end (which wakes us).
	 */
	for (int i = 0; i < p->opts.workers && !p->draining; i++) {
		worker *w = p->workers[i];
		if (w->started || w->spawning) {
			continue;
		}
		if (p->n_abandoned > p->opts.workers) {
			if (!w->cap_logged) {
				tp_log_error(COMPONENT,
				    "not replacing an abandoned worker slot=%d "
				    "abandoned=%d: too many handlers did not "
				    "stop",
				    i, p->n_abandoned);
				w->cap_logged = true;
			}
			continue;
		}
		w->spawning         = true;
		spawn[(*n_spawn)++] = w;
	}
	return next;
}

void *
dtp_watch_main(void *arg)
{
	dtp_pool *p     = arg;
	worker  **spawn = tp_xcalloc((size_t) p->opts.workers, sizeof(*spawn));

	pthread_mutex_lock(&p->mu);
	while (!p->stop_watcher) {
		int     n_spawn     = 0;
		bool    ends_queued = false;
		int64_t next = watch_locked(p, spawn, &n_spawn, &ends_queued);
		if (ends_queued) {
			/* The ticker writes the ends. */
			pthread_cond_broadcast(&p->tick_cv);
		}
		if (n_spawn > 0) {
			pthread_mutex_unlock(&p->mu);
			for (int i = 0; i < n_spawn; i++) {
				worker *w  = spawn[i];
				bool    ok = pthread_create(&w->thread, NULL,
				                 dtp_worker_main, w)
				    == 0;
				pthread_mutex_lock(&p->mu);
				w->spawning = false;
				w->started  = ok;
				pthread_mutex_unlock(&p->mu);
				if (ok) {
					tp_log_info(COMPONENT,
					    "worker replaced slot=%d",
					    w->index);
				} else {
					tp_log_error(COMPONENT,
					    "could not start a worker in place "
					    "of an abandoned one slot=%d",
					    w->index);
				}
			}
			pthread_mutex_lock(&p->mu);
			continue;
		}
		/* A new job, a cancel or an abandoned thread's end wakes us. */
		dtp_pool_timed_wait(&p->watch_cv, &p->mu, next);
	}
	pthread_mutex_unlock(&p->mu);
	free(spawn);
	return NULL;
}
