/*
 * lease.c: the lease ticker of the worker pool: every lease/3 it renews the
 * leases of this node's running attempts in one statement, stops handlers
 * whose lease is gone, and reaps expired leases of any node; in between it
 * writes the ends of attempts the watchdog abandoned (watch.c). See the
 * DESIGN in worker.c.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/fault.h"
#include "common/log.h"
#include "common/mem.h"
#include "pool_int.h"
#include "store.h"

#define COMPONENT "dtp.lease"

/* renew extends this node's leases and acts on what the answer says. */
static void
renew(dtp_pool *p, dtp_lease *leases, int64_t tick_ms)
{
	int       n  = 0;
	int64_t   t0 = tp_clock_mono_ms();
	tp_status rc;
	tp_err    err;

	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < p->opts.workers; i++) {
		if (p->slots[i].job != NULL) {
			leases[n].id      = p->slots[i].id;
			leases[n].attempt = p->slots[i].attempt;
			n++;
		}
	}
	pthread_mutex_unlock(&p->mu);
	if (n == 0) {
		return;
	}
	if (TP_FAULT("dtp.lease.renew") == TP_FAULT_FAIL) {
		rc = tp_err_set(&err, TP_UNAVAILABLE, "renewal failed (fault)");
	} else {
		rc = dtp_store_renew(
		    p->tick_conn, p->node, p->opts.lease_ms, leases, n, &err);
	}

	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < p->opts.workers; i++) {
		slot *s = &p->slots[i];
		if (s->job == NULL) {
			continue;
		}
		if (rc != TP_OK) {
			/* Stop before the lease can run out in the database. */
			if (t0 - s->lease_ok_mono_ms
			    >= p->opts.lease_ms - tick_ms) {
				(void) dtp_job_stop(
				    s->job, DTP_STOP_LEASE_LOST);
			}
			continue;
		}
		for (int j = 0; j < n; j++) {
			if (leases[j].id != s->id
			    || leases[j].attempt != s->attempt) {
				continue;
			}
			if (!leases[j].renewed) {
				(void) dtp_job_stop(
				    s->job, DTP_STOP_LEASE_LOST);
			} else {
				s->lease_ok_mono_ms = t0;
				if (leases[j].cancel_requested) {
					(void) dtp_job_stop(
					    s->job, DTP_STOP_CANCEL);
				}
			}
		}
	}
	pthread_mutex_unlock(&p->mu);
	if (rc != TP_OK) {
		tp_log_warn(
		    COMPONENT, "could not renew leases n=%d: %s", n, err.msg);
	}
}

static void
reap(dtp_pool *p)
{
	dtp_reaped r = { 0, 0, 0 };
	tp_err     err;

	if (dtp_store_reap(&r, p->tick_conn, p->node, p->opts.lease_ms, &err)
	    != TP_OK) {
		tp_log_warn(
		    COMPONENT, "could not reap expired leases: %s", err.msg);
		return;
	}
	if (r.pending + r.failed + r.cancelled > 0) {
		tp_log_info(COMPONENT,
		    "reaped expired leases pending=%d failed=%d cancelled=%d",
		    r.pending, r.failed, r.cancelled);
		dtp_metrics_lease_expired(
		    p->opts.metrics, r.pending + r.failed + r.cancelled);
		dtp_metrics_finished(
		    p->opts.metrics, DTP_STATE_FAILED, r.failed);
		dtp_metrics_finished(
		    p->opts.metrics, DTP_STATE_CANCELLED, r.cancelled);
	}
	if (r.pending > 0) {
		dtp_pool_wake(p);
	}
}

void *
dtp_lease_main(void *arg)
{
	dtp_pool  *p       = arg;
	int64_t    tick_ms = p->opts.lease_ms / 3;
	dtp_lease *leases
	    = tp_xcalloc((size_t) p->opts.workers, sizeof(dtp_lease));
	int64_t  next = tp_clock_mono_ms() + tick_ms;
	uint64_t rng  = (uint64_t) tp_clock_mono_us() * 0x9e3779b97f4a7c15ULL;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		bool tick;
		bool ends;
		if (!p->stop_ticker && p->n_ends == 0
		    && tp_clock_mono_ms() < next) {
			/* The watchdog broadcasts tick_cv when it queued the
			 * end of an abandoned attempt. */
			dtp_pool_timed_wait(&p->tick_cv, &p->mu, next);
			continue;
		}
		tick = !p->stop_ticker && tp_clock_mono_ms() >= next;
		ends = p->n_ends > 0;
		if (!tick && !ends) {
			break; /* stopping, nothing left to write */
		}
		if (tick) {
			next = tp_clock_mono_ms() + tick_ms;
		}
		pthread_mutex_unlock(&p->mu);
		if (tick) {
			renew(p, leases, tick_ms);
			reap(p);
		}
		if (ends) {
			dtp_pool_write_ends(p, p->tick_conn, &rng);
		}
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	free(leases);
	return NULL;
}
