/*
 * record.c: the end of an attempt, for the workers and for the ticker
 * (attempts the watchdog abandoned): one UPDATE fenced on the attempt,
 * tried again while the database is unavailable, then counted and logged;
 * successes share their UPDATE and its commit with those that finish at
 * the same time (the group commit below). A late end (the attempt no
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

/*
 * The group commit of successes. A worker queues a finish_req (on its own
 * stack) and waits until a leader has written it; when no batch is being
 * written, the first waiter whose request is still queued leads: it takes
 * the queue (FIFO, up to FINISH_BATCH_MAX requests and FINISH_BATCH_BYTES
 * of results), drops fin_mu, writes the batch in one statement on its own
 * connection, takes fin_mu again to fill in each request, and wakes all.
 * A request is touched by the leader only between being taken and done,
 * while its worker waits, so its stack stays valid.
 *
 * A batch is retried while the database is unavailable (the fence makes a
 * rerun of a batch that did commit harmless). A batch of several that
 * fails otherwise wrote nothing: its members are told to write alone, so
 * that the result the database refuses fails its own task only. A leader
 * stuck on its connection holds up the successes queued behind it (as a
 * stuck single write held up its own worker before): no lease is renewed
 * for them meanwhile, so they are reaped and rerun like any other.
 */
typedef struct finish_req finish_req;
struct finish_req {
	dtp_succeeded      row; /* row.changed: out, set by the leader */
	size_t             len; /* of row.result */
	struct finish_req *next;
	/* Set by the leader, read once done; all guarded by fin_mu. */
	bool      done;
	bool      alone; /* the batch failed: write this one by itself */
	tp_status rc;
	tp_err    err;
};

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

/*
 * lead_batch takes the queued requests, writes them and publishes how each
 * went; fin_mu held on entry and on return, dropped while writing.
 */
static void
lead_batch(dtp_pool *p, db_conn *c)
{
	finish_req   *taken[FINISH_BATCH_MAX];
	dtp_succeeded rows[FINISH_BATCH_MAX];
	int           n     = 0;
	size_t        bytes = 0;
	tp_status     rc;
	tp_err        err;

	p->fin_writing = true;
	while (p->fin_head != NULL && n < FINISH_BATCH_MAX) {
		finish_req *r = p->fin_head;
		if (n > 0 && bytes + r->len > FINISH_BATCH_BYTES) {
			break;
		}
		bytes += r->len;
		p->fin_head = r->next;
		taken[n]    = r;
		rows[n]     = r->row;
		n++;
	}
	if (p->fin_head == NULL) {
		p->fin_tail = NULL;
	}
	pthread_mutex_unlock(&p->fin_mu);

	/* A delay here lets the next batch fill up (tests). */
	(void) TP_FAULT("dtp.worker.finish_batch");
	tp_err_clear(&err);
	rc = write_batch(p, c, rows, n, &err);

	pthread_mutex_lock(&p->fin_mu);
	for (int i = 0; i < n; i++) {
		finish_req *r = taken[i];
		r->done       = true;
		r->rc         = rc;
		if (rc == TP_OK) {
			r->row.changed = rows[i].changed;
		} else if (n > 1 && rc != TP_UNAVAILABLE) {
			r->alone = true;
		} else {
			r->err = err;
		}
	}
	p->fin_writing = false;
	pthread_cond_broadcast(&p->fin_cv);
}

/*
 * finish_grouped writes a success through the group commit, on c when this
 * thread leads. Blocks until written; takes and drops fin_mu only.
 */
static tp_status
finish_grouped(bool *changed, dtp_pool *p, db_conn *c, const attempt_info *t,
    const char *result, tp_err *err)
{
	finish_req me;

	memset(&me, 0, sizeof(me));
	me.row.id      = t->id;
	me.row.attempt = t->attempt;
	me.row.result  = result;
	me.len         = result != NULL ? strlen(result) : 0;

	pthread_mutex_lock(&p->fin_mu);
	if (p->fin_tail != NULL) {
		p->fin_tail->next = &me;
	} else {
		p->fin_head = &me;
	}
	p->fin_tail = &me;
	while (!me.done) {
		if (p->fin_writing) {
			pthread_cond_wait(&p->fin_cv, &p->fin_mu);
		} else {
			/* Whatever finished meanwhile, this one included
			 * unless the batch before it filled up. */
			lead_batch(p, c);
		}
	}
	pthread_mutex_unlock(&p->fin_mu);

	if (me.alone) {
		return write_end_retrying(
		    changed, p, c, END_SUCCEED, t, result, 0, err);
	}
	if (me.rc != TP_OK) {
		if (err != NULL) {
			*err = me.err;
		}
		return me.rc;
	}
	*changed = me.row.changed;
	return TP_OK;
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
	end_kind  wanted  = kind;
	tp_err    err;
	tp_status rc;

	tp_err_clear(&err);
	if (kind == END_SUCCEED) {
		rc = finish_grouped(&changed, p, c, t, text, &err);
	} else {
		rc = write_end_retrying(
		    &changed, p, c, kind, t, text, delay_ms, &err);
	}
	if (rc == TP_INVALID_ARGUMENT && kind == END_SUCCEED) {
		/* The database refused the result (not valid text, say). */
		char why[DTP_ERROR_MAX];
		snprintf(
		    why, sizeof(why), "could not store result: %s", err.msg);
		kind = END_FAIL;
		text = why;
		rc = write_end_retrying(&changed, p, c, kind, t, text, 0, &err);
	}
	if (rc == TP_OK && !changed && kind != END_SUCCEED
	    && kind != END_CANCELLED) {
		kind = END_CANCELLED;
		rc = write_end_retrying(&changed, p, c, kind, t, text, 0, &err);
	}
	if (rc != TP_OK) {
		tp_log_error(COMPONENT,
		    "could not record attempt task_id=%" PRId64
		    " attempt=%d status=%s: %s (the lease will expire)",
		    t->id, t->attempt, end_state(kind), err.msg);
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
