/*
 * job.h (private): the state of one running attempt, behind the dtp_job
 * handle handlers see (handler.h). The worker owns the job; other threads
 * (the dispatcher, the lease ticker, RPC threads) only call dtp_job_stop,
 * and only while the pool lists the job as running.
 */
#ifndef SCHEDULER_JOB_H
#define SCHEDULER_JOB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "scheduler/handler.h"

#define DTP_ERROR_MAX 1024

struct dtp_job {
	int64_t     id;
	const char *type;    /* borrowed from the claimed task */
	const char *payload; /* borrowed, never NULL */
	size_t      payload_len;
	int         attempt;
	int         max_attempts;
	int64_t     timeout_ms;
	int64_t     deadline_mono_ms;

	/* Wakes dtp_job_sleep when the job is stopped. */
	pthread_mutex_t mu;
	pthread_cond_t  cv;          /* CLOCK_MONOTONIC */
	atomic_int      stop_reason; /* dtp_stop_reason; the first one wins */

	/* Written by the handler's thread only. */
	bool        has_outcome;
	dtp_outcome outcome;
	char       *result; /* malloc'd copy, NUL-terminated */
	size_t      result_len;
	bool        result_has_nul;
	char        error[DTP_ERROR_MAX];
	int64_t     retry_after_ms;
};

/*
 * dtp_job_init prepares job for one attempt; the strings are borrowed and
 * must outlive the job. The timeout clock starts now.
 */
void dtp_job_init(dtp_job *job, int64_t id, const char *type,
    const char *payload, int attempt, int max_attempts, int64_t timeout_ms);

/* dtp_job_fini releases the job's result and synchronisation objects. */
void dtp_job_fini(dtp_job *job);

/*
 * dtp_job_stop asks the job to stop for reason (the first reason sticks) and
 * wakes a dtp_job_sleep. Any thread; never blocks for long.
 */
void dtp_job_stop(dtp_job *job, dtp_stop_reason reason);

/* dtp_job_take_result hands the result over (caller frees with free()). */
char *dtp_job_take_result(dtp_job *job, size_t *len);

#endif /* SCHEDULER_JOB_H */
