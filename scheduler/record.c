/*
 * record.c: the end of an attempt, for the workers and for the ticker
 * (attempts the watchdog abandoned): one UPDATE fenced on the attempt,
 * tried again while the database is unavailable, then counted and logged;
 * successes go to the finisher (below), which writes those that finish
 * together in one UPDATE and one commit. A late end (the attempt no
 * longer owns the task) changes nothing and is logged. See the DESIGN in
 * worker.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/fault.h"
#include "common/log.h"
#include "common/mem.h"
#include "pool_int.h"
#include "store.h"

#define COMPONENT "dtp.worker"

/* dtp_pool_pause_ms sleeps ms (no lock held). */
void
dtp_pool_pause_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t) (ms / 1000),
		.tv_nsec               = (long) (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { }
}

/*
 * The ends of an attempt. Each returns the status written ("" when the
 * attempt no longer owns the task and nothing was written).
 */
static tp_status
write_end(bool *changed, dtp_pool *p, db_conn *c, end_kind kind,
    const attempt_info *t, const char *text, int64_t delay_ms, tp_err *err)
{
	switch (kind) {
	case END_SUCCEED:
		return dtp_store_succeed(
		    changed, c, t->id, t->attempt, p->node, text, err);
	case END_RETRY:
		return dtp_store_retry(
		    changed, c, t->id, t->attempt, delay_ms, text, err);
	case END_FAIL:
		return dtp_store_fail(
		    changed, c, t->id, t->attempt, p->node, text, err);
	case END_CANCELLED:
		return dtp_store_cancelled(
		    changed, c, t->id, t->attempt, p->node, text, err);
	case END_RELEASE:
		return dtp_store_release(changed, c, t->id, t->attempt, err);
	}
	return tp_err_set(err, TP_INTERNAL, "unknown end of attempt");
}

/* write_end, tried again while the database is unavailable. */
static tp_status
write_end_retrying(bool *changed, dtp_pool *p, db_conn *c, end_kind kind,
    const attempt_info *t, const char *text, int64_t delay_ms, tp_err *err)
{
	tp_status rc = TP_OK;

	for (int i = 0; i < RECORD_TRIES; i++) {
		rc = write_end(changed, p, c, kind, t, text, delay_ms, err);
		if (rc != TP_UNAVAILABLE) {
			return rc;
		}
		dtp_pool_pause_ms(100 * (i + 1));
	}
	return rc;
}

static const char *
end_state(end_kind kind)
{
	switch (kind) {
	case END_SUCCEED:
		return "SUCCEEDED";
	case END_RETRY:
	case END_RELEASE:
		return "PENDING";
	case END_FAIL:
		return "FAILED";
	case END_CANCELLED:
		return "CANCELLED";
	}
	return "UNSPECIFIED";
}

static void
count_end(dtp_pool *p, end_kind kind)
{
	switch (kind) {
	case END_SUCCEED:
		dtp_metrics_finished(p->opts.metrics, DTP_STATE_SUCCEEDED, 1);
		break;
	case END_FAIL:
		dtp_metrics_finished(p->opts.metrics, DTP_STATE_FAILED, 1);
		break;
	case END_CANCELLED:
		dtp_metrics_finished(p->opts.metrics, DTP_STATE_CANCELLED, 1);
		break;
	case END_RETRY:
		dtp_metrics_retry(p->opts.metrics);
		break;
	case END_RELEASE:
		break;
	}
}

static void end_written(dtp_pool *p, db_conn *c, const attempt_info *t,
    end_kind kind, const char *text, int64_t delay_ms, int64_t elapsed_ms,
    tp_status rc, bool changed, tp_err *err);
static void report_end(dtp_pool *p, const attempt_info *t, end_kind kind,
    end_kind wanted, tp_status rc, bool changed, const tp_err *err,
    int64_t delay_ms, int64_t elapsed_ms);

/*
 * dtp_pool_end_attempt writes the end of an attempt. A retry, fail or
 * release that finds a cancel requested meanwhile ends the task CANCELLED
 * instead; an attempt that no longer owns its task writes nothing (logged:
 * a late completion changes nothing).
 */
void
dtp_pool_end_attempt(dtp_pool *p, db_conn *c, const attempt_info *t,
    end_kind kind, const char *text, int64_t delay_ms, int64_t elapsed_ms)
{
	bool      changed = false;
	tp_err    err;
	tp_status rc;

	tp_err_clear(&err);
	rc = write_end_retrying(&changed, p, c, kind, t, text, delay_ms, &err);
	end_written(
	    p, c, t, kind, text, delay_ms, elapsed_ms, rc, changed, &err);
}

/*
 * end_written goes on from the first write of an attempt's end (rc,
 * changed and err as it returned): a result the database refused ends the
 * attempt FAILED; a retry, fail or release that found a cancel requested
 * ends it CANCELLED; then reports.
 */
static void
end_written(dtp_pool *p, db_conn *c, const attempt_info *t, end_kind kind,
    const char *text, int64_t delay_ms, int64_t elapsed_ms, tp_status rc,
    bool changed, tp_err *err)
{
	end_kind wanted = kind;
	char     why[DTP_ERROR_MAX];

	if (rc == TP_INVALID_ARGUMENT && kind == END_SUCCEED) {
		/* The database refused the result (not valid text, say). */
		snprintf(
		    why, sizeof(why), "could not store result: %s", err->msg);
		kind = END_FAIL;
		text = why;
		rc = write_end_retrying(&changed, p, c, kind, t, text, 0, err);
	}
	if (rc == TP_OK && !changed && kind != END_SUCCEED
	    && kind != END_CANCELLED) {
		kind = END_CANCELLED;
		rc = write_end_retrying(&changed, p, c, kind, t, text, 0, err);
	}
	report_end(p, t, kind, wanted, rc, changed, err, delay_ms, elapsed_ms);
}

/*
 * report_end logs and counts how the write of an attempt's end went: rc and
 * changed as the write returned, kind what was written, wanted what was
 * meant. Wakes the dispatcher for a task that is PENDING again.
 */
static void
report_end(dtp_pool *p, const attempt_info *t, end_kind kind, end_kind wanted,
    tp_status rc, bool changed, const tp_err *err, int64_t delay_ms,
    int64_t elapsed_ms)
{
	if (rc != TP_OK) {
		tp_log_error(COMPONENT,
		    "could not record attempt task_id=%" PRId64
		    " attempt=%d status=%s: %s (the lease will expire)",
		    t->id, t->attempt, end_state(kind), err->msg);
		return;
	}
	if (!changed) {
		tp_log_warn(COMPONENT,
		    "late end of attempt ignored task_id=%" PRId64
		    " attempt=%d status=%s: the attempt no longer owns the "
		    "task",
		    t->id, t->attempt, end_state(wanted));
		return;
	}
	count_end(p, kind);
	if (kind == END_SUCCEED) {
		/* At thousands a second a line each would cost a write(2)
		 * apiece: debug only. Failures and retries stay at info. */
		tp_log_debug(COMPONENT,
		    "task finished task_id=%" PRId64 " type=%s attempt=%d"
		    " status=%s ms=%" PRId64,
		    t->id, t->type, t->attempt, end_state(kind), elapsed_ms);
	} else if (kind == END_RETRY) {
		tp_log_info(COMPONENT,
		    "task retry task_id=%" PRId64
		    " type=%s attempt=%d ms=%" PRId64 " retry_in_ms=%" PRId64,
		    t->id, t->type, t->attempt, elapsed_ms, delay_ms);
	} else {
		tp_log_info(COMPONENT,
		    "task %s task_id=%" PRId64 " type=%s attempt=%d status=%s"
		    " ms=%" PRId64,
		    kind == END_RELEASE ? "handed back" : "finished", t->id,
		    t->type, t->attempt, end_state(kind), elapsed_ms);
	}
	if (kind == END_RETRY || kind == END_RELEASE) {
		dtp_pool_wake_at(p, kind == END_RETRY ? delay_ms : 0);
	}
}

/*
 * The finisher (see "Record" in worker.c): workers queue their successes
 * and go on; the finisher thread writes what is queued in one statement on
 * its own connection, then counts and logs each as dtp_pool_end_attempt
 * does. A batch the database refuses is written again one row at a time;
 * one still unavailable after RECORD_TRIES is logged, and its lease runs
 * out as when a single write fails.
 */
typedef struct finished {
	attempt_info     info; /* info.type points into type */
	char             type[65];
	char            *result; /* owned; NULL: SQL NULL */
	size_t           len;
	int64_t          elapsed_ms;
	struct finished *next;
} finished;

void
dtp_pool_finish(dtp_pool *p, const attempt_info *t, char *result, size_t len,
    int64_t elapsed_ms)
{
	finished *f = tp_xcalloc(1, sizeof(*f));

	f->info = *t;
	snprintf(f->type, sizeof(f->type), "%s", t->type);
	f->info.type  = f->type;
	f->result     = result;
	f->len        = len;
	f->elapsed_ms = elapsed_ms;

	pthread_mutex_lock(&p->fin_mu);
	while (p->fin_len >= FINISH_QUEUE_MAX && !p->fin_stop) {
		pthread_cond_wait(&p->fin_room_cv, &p->fin_mu);
	}
	if (p->fin_tail != NULL) {
		p->fin_tail->next = f;
	} else {
		p->fin_head = f;
		pthread_cond_signal(&p->fin_cv);
	}
	p->fin_tail = f;
	p->fin_len++;
	pthread_mutex_unlock(&p->fin_mu);
}

/* write_batch writes n successes in one statement, retrying as above. */
static tp_status
write_batch(dtp_pool *p, db_conn *c, dtp_succeeded *rows, int n, tp_err *err)
{
	tp_status rc = TP_OK;

	for (int i = 0; i < RECORD_TRIES; i++) {
		if (i > 0) {
			dtp_pool_pause_ms(100 * i);
		}
		rc = dtp_store_succeed_many(c, p->node, rows, n, err);
		if (rc != TP_UNAVAILABLE) {
			break;
		}
	}
	if (rc == TP_OK) {
		dtp_metrics_finish_batch(p->opts.metrics);
	} else if (n > 1 && rc != TP_UNAVAILABLE) {
		tp_log_info(COMPONENT,
		    "could not write a batch of succeeded attempts n=%d, "
		    "writing each alone: %s",
		    n, err->msg);
	}
	return rc;
}

/* write_taken writes the n successes taken off the queue, and frees them. */
static void
write_taken(dtp_pool *p, finished **taken, int n)
{
	dtp_succeeded rows[FINISH_BATCH_MAX];
	tp_status     rc;
	tp_err        err;

	for (int i = 0; i < n; i++) {
		rows[i].id      = taken[i]->info.id;
		rows[i].attempt = taken[i]->info.attempt;
		rows[i].result  = taken[i]->result;
		rows[i].changed = false;
	}
	/* A delay here lets the next batch fill up (tests). */
	(void) TP_FAULT("dtp.worker.finish_batch");
	tp_err_clear(&err);
	rc = write_batch(p, p->finish_conn, rows, n, &err);
	for (int i = 0; i < n; i++) {
		finished *f = taken[i];
		if (n > 1 && rc != TP_OK && rc != TP_UNAVAILABLE) {
			/* Refused as a batch: alone, a bad result fails only
			 * its own task. */
			dtp_pool_end_attempt(p, p->finish_conn, &f->info,
			    END_SUCCEED, f->result, 0, f->elapsed_ms);
		} else {
			end_written(p, p->finish_conn, &f->info, END_SUCCEED,
			    f->result, 0, f->elapsed_ms, rc, rows[i].changed,
			    &err);
		}
		free(f->result);
		free(f);
	}
}

void *
dtp_finish_main(void *arg)
{
	dtp_pool *p = arg;
	finished *taken[FINISH_BATCH_MAX];

	pthread_mutex_lock(&p->fin_mu);
	for (;;) {
		int    n     = 0;
		size_t bytes = 0;

		while (p->fin_head == NULL && !p->fin_stop) {
			pthread_cond_wait(&p->fin_cv, &p->fin_mu);
		}
		if (p->fin_head == NULL) {
			break; /* stopping, and everything is written */
		}
		while (p->fin_head != NULL && n < FINISH_BATCH_MAX) {
			finished *f = p->fin_head;
			if (n > 0 && bytes + f->len > FINISH_BATCH_BYTES) {
				break;
			}
			bytes += f->len;
			p->fin_head = f->next;
			taken[n++]  = f;
		}
		if (p->fin_head == NULL) {
			p->fin_tail = NULL;
		}
		p->fin_len -= n;
		pthread_cond_broadcast(&p->fin_room_cv);
		pthread_mutex_unlock(&p->fin_mu);
		write_taken(p, taken, n);
		pthread_mutex_lock(&p->fin_mu);
	}
	pthread_mutex_unlock(&p->fin_mu);
	return NULL;
}

/*
 * dtp_pool_end_failed ends a failed or timed-out attempt: retried after the
 * handler's delay or the backoff while attempts remain, FAILED otherwise.
 */
void
dtp_pool_end_failed(dtp_pool *p, db_conn *c, const attempt_info *t,
    uint64_t *rng, bool permanent, bool has_delay, int64_t delay_ms,
    const char *msg, int64_t elapsed_ms)
{
	if (!permanent && t->attempt < t->max_attempts) {
		int64_t delay = has_delay
		    ? delay_ms
		    : dtp_backoff_delay_ms(
		        &t->backoff, t->attempt, dtp_backoff_random(rng));
		dtp_pool_end_attempt(
		    p, c, t, END_RETRY, msg, delay, elapsed_ms);
	} else {
		dtp_pool_end_attempt(p, c, t, END_FAIL, msg, 0, elapsed_ms);
	}
}
