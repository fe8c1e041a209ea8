/*
 * dispatch.c: the dispatcher thread of the worker pool: it claims due tasks
 * for the idle workers, one statement per batch, and sleeps until new work
 * is signalled in-process, by NOTIFY, by a local timer or by the slow poll.
 * It also sends this node's NOTIFY dtp_task, one for many creates. See the
 * DESIGN in worker.c.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <pb_decode.h>

#include "common/clock.h"
#include "common/fault.h"
#include "common/log.h"
#include "pool_int.h"
#include "store.h"

#define COMPONENT "dtp.dispatch"

typedef enum claim_result {
	CLAIM_ERROR,
	CLAIM_PARTIAL, /* fewer due tasks than room: nothing more is due */
	CLAIM_FULL,    /* as many as there was room for: more may be due */
} claim_result;

/* claim fills the queue with up to capacity tasks. */
static claim_result
claim(dtp_pool *p, int capacity)
{
	dtp_v1_Task *tasks = NULL;
	int          n     = 0;
	int64_t      t0    = tp_clock_mono_ms();
	tp_err       err;

	tp_err_clear(&err);
	if (dtp_store_claim(&tasks, &n, p->dispatch_conn, p->node, p->types,
	        p->opts.lease_ms, capacity, &err)
	    != TP_OK) {
		tp_log_warn(COMPONENT, "could not claim tasks: %s", err.msg);
		return CLAIM_ERROR;
	}
	/* Claimed and committed, not yet started: a crash here leaves
	 * leases that only the reaper ends. */
	if (n > 0) {
		(void) TP_FAULT("dtp.claim.after_commit");
	}
	if (n > 0) {
		tp_log_debug(
		    COMPONENT, "claimed tasks n=%d capacity=%d", n, capacity);
	}
	/* The ring holds exactly the room asked for: hand back any excess
	 * (the claim statement never returns it; this guards the ring). */
	for (int i = capacity; i < n; i++) {
		bool changed = false;
		tp_log_error(COMPONENT,
		    "claim returned more rows than asked task_id=%" PRId64
		    " n=%d capacity=%d",
		    tasks[i].id, n, capacity);
		if (dtp_store_release(&changed, p->dispatch_conn, tasks[i].id,
		        tasks[i].attempts, &err)
		    != TP_OK) {
			tp_log_error(COMPONENT,
			    "could not hand back task_id=%" PRId64 ": %s",
			    tasks[i].id, err.msg);
		}
		pb_release(dtp_v1_Task_fields, &tasks[i]);
	}
	if (n > capacity) {
		n = capacity;
	}
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < n; i++) {
		/* capacity <= idle workers - queued, so the ring has room. */
		queued *q = &p->queue[(p->q_head + p->q_len) % p->opts.workers];
		q->task   = tasks[i];
		q->claimed_mono_ms = t0;
		p->q_len++;
	}
	if (n > 0) {
		pthread_cond_broadcast(&p->work_cv);
	}
	pthread_mutex_unlock(&p->mu);
	/* The rows moved into the queue: free only the array. */
	free(tasks);
	return n == capacity ? CLAIM_FULL : CLAIM_PARTIAL;
}

/*
 * drain_notifications handles what arrived on the LISTEN connection:
 * returns false when the connection was lost.
 */
static bool
drain_notifications(dtp_pool *p, bool *due)
{
	for (;;) {
		char   channel[64];
		char   payload[64];
		bool   got = false;
		tp_err err;

		if (db_conn_next_notify(p->dispatch_conn, &got, channel,
		        sizeof(channel), payload, sizeof(payload), &err)
		    != TP_OK) {
			return false;
		}
		if (!got) {
			return true;
		}
		if (strcmp(channel, DTP_CHANNEL_TASK) == 0) {
			/* Our own: the create already woke us in-process. */
			if (strcmp(payload, p->announce_tag) != 0) {
				*due = true;
			}
		} else if (strcmp(channel, DTP_CHANNEL_CANCEL) == 0) {
			char     *end = NULL;
			long long id  = strtoll(payload, &end, 10);
			if (end != payload && *end == '\0' && id > 0) {
				dtp_pool_cancel(p, (int64_t) id);
			}
		}
	}
}

/* listen_all (re)connects and LISTENs on both channels. */
static bool
listen_all(dtp_pool *p)
{
	tp_err err;

	if (db_conn_ensure(p->dispatch_conn, &err) != TP_OK
	    || db_listen(p->dispatch_conn, DTP_CHANNEL_TASK, &err) != TP_OK
	    || db_listen(p->dispatch_conn, DTP_CHANNEL_CANCEL, &err) != TP_OK) {
		tp_log_warn(COMPONENT, "could not listen: %s", err.msg);
		return false;
	}
	return true;
}

static int64_t
min_i64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static int64_t
max_i64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

void
dtp_pool_announce(dtp_pool *p)
{
	/* Already set: the dispatcher was woken for it, or will announce
	 * when ANNOUNCE_MS has passed. */
	if (!atomic_exchange(&p->unannounced, true)) {
		dtp_pool_wake_dispatcher(p);
	}
}

/* make_tag sets the payload of this node's NOTIFY dtp_task: random. */
static void
make_tag(dtp_pool *p)
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t) sizeof(r)) {
		r = ((uint64_t) getpid() << 32) ^ (uint64_t) tp_clock_unix_ms();
	}
	(void) snprintf(
	    p->announce_tag, sizeof(p->announce_tag), "n%016" PRIx64, r);
}

/*
 * announce sends one NOTIFY dtp_task for every task committed here since
 * the last one. On failure the flag stays set and it is tried again.
 */
static void
announce(dtp_pool *p)
{
	tp_err err;

	if (!atomic_exchange(&p->unannounced, false)) {
		return;
	}
	tp_err_clear(&err);
	if (dtp_store_announce(p->dispatch_conn, p->announce_tag, &err)
	    != TP_OK) {
		tp_log_warn(
		    COMPONENT, "could not notify other nodes: %s", err.msg);
		atomic_store(&p->unannounced, true);
	}
}

void *
dtp_dispatch_main(void *arg)
{
	dtp_pool *p         = arg;
	bool      due       = true;
	bool      listening = false;
	int64_t   next_poll = tp_clock_mono_ms() + p->opts.poll_ms;
	/* While the database is unreachable: when to try again. */
	int64_t retry_at = 0;
	int64_t retry_ms = min_i64(p->opts.poll_ms, 1000);
	/* The earliest time for the next NOTIFY dtp_task. */
	int64_t announce_at = 0;

	make_tag(p);

	for (;;) {
		struct pollfd fds[2];
		nfds_t        nfds = 1;
		int64_t       now  = tp_clock_mono_ms();
		int64_t       wake_at;
		int           capacity;

		if (now >= retry_at) {
			if (!listening) {
				/* Notifications sent while not listening are
				 * lost: claim once listening again. */
				listening = listen_all(p);
				due       = true;
			}
			if (listening && !drain_notifications(p, &due)) {
				listening = false;
				due       = true;
				continue;
			}
			if (!listening) {
				retry_at = now + retry_ms;
			}
		}

		pthread_mutex_lock(&p->mu);
		if (p->stop_dispatcher) {
			pthread_mutex_unlock(&p->mu);
			if (listening) {
				announce(p);
			}
			break;
		}
		if (p->kick) {
			due     = true;
			p->kick = false;
		}
		if (p->timer_ms != 0 && p->timer_ms <= now) {
			due         = true;
			p->timer_ms = 0;
		}
		if (now >= next_poll) {
			due       = true;
			next_poll = now + p->opts.poll_ms;
		}
		capacity = p->n_idle - p->q_len;
		pthread_mutex_unlock(&p->mu);

		if (due && capacity > 0 && now >= retry_at) {
			switch (claim(p, capacity)) {
			case CLAIM_ERROR:
				retry_at = now + retry_ms;
				break;
			case CLAIM_PARTIAL:
				due = false;
				break;
			case CLAIM_FULL:
				/* More may be due: claim again once a worker
				 * is free (it wakes us). */
				break;
			}
			continue;
		}

		/* Tell other nodes (after our own claim, which is the
		 * quicker pickup), once for all creates since the last time,
		 * and at most once per ANNOUNCE_MS. */
		if (listening && now >= retry_at && now >= announce_at
		    && atomic_load(&p->unannounced)) {
			announce(p);
			announce_at = now
			    + (atomic_load(&p->unannounced) ? retry_ms
			                                    : ANNOUNCE_MS);
			/* The NOTIFY may have read notifications into
			 * libpq's buffer, where poll cannot see them. */
			continue;
		}

		pthread_mutex_lock(&p->mu);
		wake_at = next_poll;
		if (p->timer_ms != 0) {
			wake_at = min_i64(wake_at, p->timer_ms);
		}
		if (retry_at > now && (!listening || (due && capacity > 0))) {
			wake_at = min_i64(wake_at, retry_at);
		}
		if (p->kick || p->stop_dispatcher) {
			wake_at = now;
		}
		pthread_mutex_unlock(&p->mu);
		if (listening && atomic_load(&p->unannounced)) {
			wake_at = min_i64(wake_at,
			    max_i64(now, max_i64(announce_at, retry_at)));
		}

		fds[0].fd     = p->wake_fd;
		fds[0].events = POLLIN;
		fds[1].fd = listening ? db_conn_socket(p->dispatch_conn) : -1;
		fds[1].events = POLLIN;
		if (fds[1].fd >= 0) {
			nfds = 2;
		}
		now = tp_clock_mono_ms();
		if (poll(fds, nfds, (int) (wake_at > now ? wake_at - now : 0))
		        > 0
		    && (fds[0].revents & POLLIN) != 0) {
			uint64_t v;
			(void) !read(p->wake_fd, &v, sizeof(v));
		}
	}
	return NULL;
}
