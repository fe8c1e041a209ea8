/*
 * job.h (private): the state of one running attempt, behind the dtp_job
 * handle handlers see (handler.h). The worker owns the job; other threads
 * (the dispatcher, the lease ticker, RPC threads) only call dtp_job_stop and
 * read the stop time, and only while the pool lists the job as running.
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

	/* Wakes dtp_job_sleep and the stop fd when the job is stopped. */
	pthread_mutex_t mu;
	pthread_cond_t  cv;          /* CLOCK_MONOTONIC */
	atomic_int      stop_reason; /* dtp_stop_reason; the first one wins */
	/* When the stop was asked for (monotonic us); 0 until it is set,
	 * which may trail stop_reason by a moment. */
	_Atomic int64_t stop_mono_us;
	int             stop_fd; /* eventfd or -1; guarded by mu */

	/* The handler's thread only: the parameters, unwrapped lazily. */
	bool    params_done;
	char   *params; /* malloc'd inner payload; NULL: the payload itself */
	size_t  params_len;
	int64_t web_task_id;

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

/* dtp_job_fini releases the job's result, fd and synchronisation objects. */
void dtp_job_fini(dtp_job *job);

/*
 * dtp_job_stop asks the job to stop for reason (the first reason sticks),
 * records when, and wakes a dtp_job_sleep and the stop fd. Returns true
 * when this call set the reason. Any thread; never blocks for long.
 */
bool dtp_job_stop(dtp_job *job, dtp_stop_reason reason);

/*
 * dtp_job_stopped_at_us is when the job was asked to stop (monotonic us),
 * or 0 when it was not (or the time is not written yet). Any thread.
 */
int64_t dtp_job_stopped_at_us(dtp_job *job);

/* dtp_job_take_result hands the result over (caller frees with free()). */
char *dtp_job_take_result(dtp_job *job, size_t *len);

/*
 * dtp_job_unwrap finds the parameters in payload (len bytes, a NUL after
 * them): for {"webTaskId":N,...,"payload":"<text>"} (a task bound through
 * TaskPilot) returns true with *params the inner text (caller frees with
 * free()), *params_len and *web_task_id; false for any other payload.
 * Pure; any thread (exposed for the unit test).
 */
bool dtp_job_unwrap(char **params, size_t *params_len, int64_t *web_task_id,
    const char *payload, size_t len);

#endif /* SCHEDULER_JOB_H */
