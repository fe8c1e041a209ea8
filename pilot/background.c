/*
 * background.c: the reconciler and the refresher on one thread with its own
 * db_conn (see background.h and pilot/README.md).
 *
 * Threads: the background thread runs everything here but _start and _free
 * (main thread). Shared: `stopping` (an atomic, read between DTP calls) and
 * the wake-up condition, guarded by mu. Lock order: mu only; it is never held
 * across libpq, a DTP call or a log line.
 */
#include "pilot/background.h"

#include <inttypes.h>
#include <pb_decode.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "db/conn.h"
#include "pilot/binding.h"
#include "pilot/store.h"

#define LOG_COMPONENT "pilot.background"

struct pilot_background {
	pilot_background_opts opts;
	db_conn              *db;
	pthread_t             thread;
	bool                  started;
	pthread_mutex_t       mu;
	pthread_cond_t        cv;       /* signalled when stopping is set */
	atomic_bool           stopping; // written under mu
	/* Background thread only. */
	int64_t         *ids;      /* reconcile_batch entries */
	pilot_store_ref *refs;     /* refresh_batch entries */
	bool             dtp_down; /* the last DTP call did not get through */
	bool             db_down;  /* the last claim failed */
};

static bool
is_stopping(pilot_background *b)
{
	return atomic_load(&b->stopping);
}

/*
 * note_dtp logs a change between "calls get through" and "DTP (or, for a
 * bind, the database) is not there", once, not once per tick.
 */
static void
note_dtp(pilot_background *b, tp_status rc, const char *job, const tp_err *e)
{
	bool down = rc == TP_UNAVAILABLE || rc == TP_DEADLINE_EXCEEDED;

	if (down && !b->dtp_down) {
		tp_log_warn(LOG_COMPONENT,
		    "%s paused until its next tick status=%s reason=\"%s\"",
		    job, tp_status_name(rc), e->msg);
	} else if (!down && b->dtp_down) {
		tp_log_info(LOG_COMPONENT, "%s goes on", job);
	}
	b->dtp_down = down;
}

/* note_db logs a change of the claim statement's fate (once, not per tick). */
static void
note_db(pilot_background *b, tp_status rc, const char *job, const tp_err *e)
{
	if (rc != TP_OK && !b->db_down) {
		tp_log_warn(LOG_COMPONENT,
		    "could not read the %s queue status=%s reason=\"%s\"", job,
		    tp_status_name(rc), e->msg);
	} else if (rc == TP_OK && b->db_down) {
		tp_log_info(
		    LOG_COMPONENT, "database answers again job=%s", job);
	}
	b->db_down = rc != TP_OK;
}

/*
 * reconcile_tick finishes the binds whose intent passed the grace period.
 * A bind that fails for want of DTP ends the tick: the rest were claimed
 * (their intent moved to now) and come back after another grace period.
 */
static void
reconcile_tick(pilot_background *b)
{
	size_t    n = 0;
	tp_err    e;
	tp_status rc;

	tp_err_clear(&e);
	rc = pilot_store_claim_bind_requests(b->db, b->ids, &n,
	    (size_t) b->opts.reconcile_batch, b->opts.bind_grace_ms, &e);
	note_db(b, rc, "reconciler", &e);
	if (rc != TP_OK) {
		return;
	}
	for (size_t i = 0; i < n && !is_stopping(b); i++) {
		rc = pilot_binding_reconcile(
		    b->db, b->opts.scheduler, b->ids[i], &e);
		/* binding.c logged the outcome. */
		note_dtp(b, rc, "reconciler", &e);
		if (rc == TP_UNAVAILABLE || rc == TP_DEADLINE_EXCEEDED) {
			break;
		}
	}
}

/*
 * refresh_tick asks DTP about a batch of bound, unfinished web tasks, least
 * recently asked first, and caches what it says.
 */
static void
refresh_tick(pilot_background *b)
{
	int64_t   now_ms = tp_clock_unix_ms();
	size_t    n      = 0;
	size_t    seen   = 0;
	tp_err    e;
	tp_status rc;

	tp_err_clear(&e);
	rc = pilot_store_claim_refresh(b->db, b->refs, &n,
	    (size_t) b->opts.refresh_batch, now_ms, now_ms - b->opts.refresh_ms,
	    &e);
	note_db(b, rc, "refresher", &e);
	if (rc != TP_OK) {
		return;
	}
	for (size_t i = 0; i < n && !is_stopping(b); i++) {
		const pilot_store_ref *r    = &b->refs[i];
		dtp_v1_Task            task = dtp_v1_Task_init_zero;

		rc = pilot_scheduler_client_get_task(
		    b->opts.scheduler, &task, r->scheduler_task_id, 0, &e);
		note_dtp(b, rc, "refresher", &e);
		if (rc == TP_UNAVAILABLE || rc == TP_DEADLINE_EXCEEDED) {
			break;
		}
		if (rc != TP_OK) {
			/* Asked-at was moved: it waits its turn, no busy loop.
			 */
			tp_log_warn(LOG_COMPONENT,
			    "could not refresh the execution status "
			    "web_task_id=%" PRId64 " scheduler_task_id=%" PRId64
			    " status=%s reason=\"%s\"",
			    r->id, r->scheduler_task_id, tp_status_name(rc),
			    e.msg);
			continue;
		}
		pilot_binding_observe(b->db, r->id, &task);
		pb_release(dtp_v1_Task_fields, &task);
		seen++;
	}
	if (n > 0) {
		tp_log_debug(LOG_COMPONENT,
		    "refreshed execution statuses claimed=%zu seen=%zu", n,
		    seen);
	}
}

/* wait_until sleeps until the monotonic time due_ms or a stop. */
static void
wait_until(pilot_background *b, int64_t due_ms)
{
	pthread_mutex_lock(&b->mu);
	while (!atomic_load(&b->stopping)) {
		int64_t         left = due_ms - tp_clock_mono_ms();
		struct timespec ts;

		if (left <= 0) {
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t) (left / 1000);
		ts.tv_nsec += (long) (left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void) pthread_cond_timedwait(&b->cv, &b->mu, &ts);
		/* Timeouts and spurious wake-ups: the loop rechecks. */
	}
	pthread_mutex_unlock(&b->mu);
}

static void *
background_main(void *arg)
{
	pilot_background *b              = arg;
	int64_t           next_reconcile = tp_clock_mono_ms();
	int64_t           next_refresh   = next_reconcile;

	while (!is_stopping(b)) {
		int64_t due = INT64_MAX;
		int64_t now;

		if (b->opts.reconcile_ms > 0) {
			due = next_reconcile;
		}
		if (b->opts.refresh_ms > 0 && next_refresh < due) {
			due = next_refresh;
		}
		wait_until(b, due);
		if (is_stopping(b)) {
			break;
		}
		now = tp_clock_mono_ms();
		if (b->opts.reconcile_ms > 0 && now >= next_reconcile) {
			reconcile_tick(b);
			next_reconcile
			    = tp_clock_mono_ms() + b->opts.reconcile_ms;
		}
		if (b->opts.refresh_ms > 0 && !is_stopping(b)
		    && now >= next_refresh) {
			refresh_tick(b);
			next_refresh = tp_clock_mono_ms() + b->opts.refresh_ms;
		}
	}
	return NULL;
}

tp_status
pilot_background_start(
    pilot_background **out, const pilot_background_opts *opts, tp_err *err)
{
	tp_status          rc = TP_OK;
	pilot_background  *b  = NULL;
	pthread_condattr_t ca;

	if (opts->database_url == NULL || opts->scheduler == NULL
	    || opts->refresh_ms < 0 || opts->reconcile_ms < 0
	    || opts->bind_grace_ms < 0 || opts->refresh_batch < 1
	    || opts->refresh_batch > PILOT_STORE_MAX_BATCH
	    || opts->reconcile_batch < 1
	    || opts->reconcile_batch > PILOT_STORE_MAX_BATCH) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "cannot start the background jobs: bad options");
	}
	b       = tp_xcalloc(1, sizeof(*b));
	b->opts = *opts;
	atomic_init(&b->stopping, false);
	pthread_mutex_init(&b->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cv, &ca);
	pthread_condattr_destroy(&ca);
	b->ids  = tp_xcalloc((size_t) opts->reconcile_batch, sizeof(*b->ids));
	b->refs = tp_xcalloc((size_t) opts->refresh_batch, sizeof(*b->refs));
	if (opts->refresh_ms == 0 && opts->reconcile_ms == 0) {
		tp_log_info(LOG_COMPONENT,
		    "background jobs off refresh_ms=0 reconcile_ms=0");
		goto done;
	}
	if ((rc = db_conn_open(&b->db, opts->database_url, err)) != TP_OK) {
		goto out;
	}
	if (pthread_create(&b->thread, NULL, background_main, b) != 0) {
		rc = tp_err_set(
		    err, TP_INTERNAL, "could not start the background thread");
		goto out;
	}
	b->started = true;
	tp_log_info(LOG_COMPONENT,
	    "background jobs started refresh_ms=%d refresh_batch=%d "
	    "reconcile_ms=%d reconcile_batch=%d bind_grace_ms=%d",
	    opts->refresh_ms, opts->refresh_batch, opts->reconcile_ms,
	    opts->reconcile_batch, opts->bind_grace_ms);
done:
	*out = b;
	b    = NULL;
out:
	pilot_background_free(b);
	return rc;
}

void
pilot_background_free(pilot_background *b)
{
	if (b == NULL) {
		return;
	}
	pthread_mutex_lock(&b->mu);
	atomic_store(&b->stopping, true);
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	if (b->started) {
		pthread_join(b->thread, NULL);
	}
	db_conn_free(b->db);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b->ids);
	free(b->refs);
	free(b);
}
