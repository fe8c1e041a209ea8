/*
 * create_batch.c: the group commit of CreateTask (create_batch.h), used by
 * the RPC threads of service.c.
 *
 * DESIGN. A commit waits for its WAL flush, so one commit per create caps
 * a node at the rate its database flushes one transaction after another.
 * Creates that arrive together share one INSERT instead (leader and
 * followers, no thread of our own): a create queues a create_req on its
 * RPC thread's stack; when fewer than CREATE_WRITERS batches are being
 * written, the first thread whose request is still queued leads: it takes
 * the queue (FIFO, up to CREATE_BATCH_MAX requests and CREATE_BATCH_BYTES
 * of payloads), drops mu, writes the batch in one statement on its own
 * connection (autocommit: one commit), takes mu again to mark each request
 * done, and wakes their threads and the thread of the oldest request still
 * queued, which leads the next batch. The creates that arrive while
 * batches are written queue up for the next one: batches grow with the
 * load by themselves, and a lone create is written at once, as it always
 * was (no timer, no waiting for a batch to fill). Each request has a
 * condition variable of its own, so that a batch wakes the threads it is
 * done with and one more, never every waiting thread (there may be as many
 * as --rpc-threads).
 *
 * Why two writers, not one: a batch spends most of its time waiting for
 * the database (round trip, WAL flush), and the next batch can only be
 * built meanwhile, not sent; with two in flight their flushes overlap (and
 * PostgreSQL flushes concurrent commits together). Measured with 64
 * creates in flight: about 25% more creates a second than with one writer,
 * the same with 4 RPC threads. Two batches never wait for each other's
 * keys in a cycle: keyed rows insert in key order (sql_create_many).
 *
 * A request is touched by the leader only between being taken and done,
 * while its thread waits, so its stack stays valid. How each create ends:
 *   - inserted: its task is in the request;
 *   - its key was taken (before, or by an earlier create of the batch):
 *     its own thread reads the key's task on its own connection, after
 *     the batch committed, exactly as a create alone would;
 *   - the batch failed with anything but TP_UNAVAILABLE: nothing was
 *     written, so each thread creates its own task alone, and a task the
 *     database refuses fails only its own create;
 *   - TP_UNAVAILABLE (connection lost): the batch may or may not have
 *     committed, so every create of it answers TP_UNAVAILABLE, as a lone
 *     create would; nothing is retried (a create without a key is not
 *     idempotent).
 * A batch of one is written with dtp_store_create itself.
 *
 * Lock order: mu is a leaf, never held across libpq or with another lock.
 */
#include "create_batch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/fault.h"
#include "common/log.h"
#include "common/mem.h"

#define COMPONENT "dtp.service"

/* The most creates one statement carries, and the most payload bytes. */
#define CREATE_BATCH_MAX   256
#define CREATE_BATCH_BYTES (1024 * 1024)
/* The most batches being written at once (see above). */
#define CREATE_WRITERS 2

typedef struct create_req create_req;
struct create_req {
	const dtp_new_task *nt;  /* borrowed from the waiting thread */
	size_t              len; /* of nt->payload */
	create_req         *next;
	/* Set by the leader, read once done; all guarded by mu. */
	bool           taken; /* in a batch being written: wait for done */
	bool           done;
	bool           by_key; /* key taken: read the key's task */
	bool           alone;  /* the batch failed: create this one by itself */
	tp_status      rc;
	tp_err         err;
	dtp_v1_Task    task; /* rc == TP_OK */
	bool           replayed;
	pthread_cond_t cv; /* done, or lead: signalled under mu */
};

struct dtp_create_batch {
	dtp_metrics    *metrics; /* borrowed */
	pthread_mutex_t mu;
	create_req     *head;    /* queued, not yet taken; guarded by mu */
	create_req     *tail;    /* guarded by mu */
	int             writing; /* batches being written; guarded by mu */
};

dtp_create_batch *
dtp_create_batch_new(dtp_metrics *metrics)
{
	dtp_create_batch *b = tp_xcalloc(1, sizeof(*b));

	b->metrics = metrics;
	pthread_mutex_init(&b->mu, NULL);
	return b;
}

void
dtp_create_batch_free(dtp_create_batch *b)
{
	if (b == NULL) {
		return;
	}
	pthread_mutex_destroy(&b->mu);
	free(b);
}

/*
 * write_one writes a batch of one: the request gets dtp_store_create's
 * answer, whatever it is.
 */
static void
write_one(dtp_create_batch *b, db_conn *c, create_req *r)
{
	tp_err_clear(&r->err);
	r->rc = dtp_store_create(&r->task, &r->replayed, c, r->nt, &r->err);
	if (r->rc == TP_OK) {
		dtp_metrics_create_batch(b->metrics, 1);
	}
}

/*
 * write_many writes n >= 2 requests in one statement and fills in each
 * one's task and flags (mu not held: their threads wait for done).
 */
static void
write_many(dtp_create_batch *b, db_conn *c, create_req **taken, int n)
{
	dtp_created rows[CREATE_BATCH_MAX];
	tp_status   rc;
	tp_err      err;

	memset(rows, 0, sizeof(rows[0]) * (size_t) n);
	for (int i = 0; i < n; i++) {
		rows[i].nt = taken[i]->nt;
	}
	tp_err_clear(&err);
	rc = dtp_store_create_many(c, rows, n, &err);
	if (rc == TP_OK) {
		dtp_metrics_create_batch(b->metrics, n);
	} else if (rc != TP_UNAVAILABLE) {
		tp_log_info(COMPONENT,
		    "could not write a batch of creates n=%d, creating each "
		    "alone: %s",
		    n, err.msg);
	}
	for (int i = 0; i < n; i++) {
		create_req *r = taken[i];
		r->rc         = rc;
		if (rc == TP_OK && rows[i].inserted) {
			r->task     = rows[i].task;
			r->replayed = false;
		} else if (rc == TP_OK) {
			r->by_key = true;
		} else if (rc != TP_UNAVAILABLE) {
			r->alone = true;
		} else {
			r->err = err;
		}
	}
}

/*
 * lead takes the queued requests, writes them and wakes their threads; mu
 * held on entry and on return, dropped while writing.
 */
static void
lead(dtp_create_batch *b, db_conn *c)
{
	create_req *taken[CREATE_BATCH_MAX];
	int         n     = 0;
	size_t      bytes = 0;

	b->writing++;
	while (b->head != NULL && n < CREATE_BATCH_MAX) {
		create_req *r = b->head;
		if (n > 0 && bytes + r->len > CREATE_BATCH_BYTES) {
			break;
		}
		bytes += r->len;
		b->head    = r->next;
		r->taken   = true;
		taken[n++] = r;
	}
	if (b->head == NULL) {
		b->tail = NULL;
	} else if (b->writing < CREATE_WRITERS) {
		/* More than one batch left queued: its oldest may lead. */
		pthread_cond_signal(&b->head->cv);
	}
	pthread_mutex_unlock(&b->mu);

	/* A delay here lets the next batch fill up (tests). */
	(void) TP_FAULT("dtp.create.batch");
	if (n == 1) {
		write_one(b, c, taken[0]);
	} else {
		write_many(b, c, taken, n);
	}

	pthread_mutex_lock(&b->mu);
	for (int i = 0; i < n; i++) {
		taken[i]->done = true;
		pthread_cond_signal(&taken[i]->cv);
	}
	b->writing--;
	if (b->head != NULL) {
		/* Whoever queued meanwhile: the oldest leads next. */
		pthread_cond_signal(&b->head->cv);
	}
}

tp_status
dtp_create_batch_insert(dtp_v1_Task *out, bool *replayed, dtp_create_batch *b,
    db_conn *c, const dtp_new_task *nt, tp_err *err)
{
	create_req me;

	memset(&me, 0, sizeof(me));
	me.nt  = nt;
	me.len = strlen(nt->payload);
	pthread_cond_init(&me.cv, NULL);

	pthread_mutex_lock(&b->mu);
	if (b->tail != NULL) {
		b->tail->next = &me;
	} else {
		b->head = &me;
	}
	b->tail = &me;
	while (!me.done) {
		if (!me.taken && b->writing < CREATE_WRITERS) {
			/* Whatever queued meanwhile, this one included
			 * unless the batch before it filled up. */
			lead(b, c);
		} else {
			/* Taken: until done. Queued: until a batch ends
			 * with this one oldest (or a leader takes it). */
			pthread_cond_wait(&me.cv, &b->mu);
		}
	}
	pthread_mutex_unlock(&b->mu);
	pthread_cond_destroy(&me.cv);

	if (me.alone) {
		tp_status rc = dtp_store_create(out, replayed, c, nt, err);
		if (rc == TP_OK) {
			dtp_metrics_create_batch(b->metrics, 1);
		}
		return rc;
	}
	if (me.by_key) {
		return dtp_store_create_by_key(out, replayed, c, nt, err);
	}
	if (me.rc != TP_OK) {
		if (err != NULL) {
			*err = me.err;
		}
		return me.rc;
	}
	*out      = me.task;
	*replayed = me.replayed;
	return TP_OK;
}
