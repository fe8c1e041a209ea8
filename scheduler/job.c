/*
 * job.c: one running attempt as handlers see it (handler.h): its task, its
 * stop flag and timeout, and the outcome the handler reports.
 */
#include "job.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/mem.h"

#define MAX_RETRY_AFTER_MS 86400000LL

void
dtp_job_init(dtp_job *job, int64_t id, const char *type, const char *payload,
    int attempt, int max_attempts, int64_t timeout_ms)
{
	pthread_condattr_t ca;

	memset(job, 0, sizeof(*job));
	job->id               = id;
	job->type             = type;
	job->payload          = payload != NULL ? payload : "";
	job->payload_len      = strlen(job->payload);
	job->attempt          = attempt;
	job->max_attempts     = max_attempts;
	job->timeout_ms       = timeout_ms;
	job->deadline_mono_ms = tp_clock_mono_ms() + timeout_ms;
	pthread_mutex_init(&job->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&job->cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&job->stop_reason, DTP_STOP_NONE);
}

void
dtp_job_fini(dtp_job *job)
{
	free(job->result);
	job->result = NULL;
	pthread_cond_destroy(&job->cv);
	pthread_mutex_destroy(&job->mu);
}

void
dtp_job_stop(dtp_job *job, dtp_stop_reason reason)
{
	int none = DTP_STOP_NONE;

	if (!atomic_compare_exchange_strong(
	        &job->stop_reason, &none, (int) reason)) {
		return;
	}
	pthread_mutex_lock(&job->mu);
	pthread_cond_broadcast(&job->cv);
	pthread_mutex_unlock(&job->mu);
}

char *
dtp_job_take_result(dtp_job *job, size_t *len)
{
	char *r = job->result;

	*len        = job->result_len;
	job->result = NULL;
	return r;
}

int64_t
dtp_job_id(const dtp_job *job)
{
	return job->id;
}

const char *
dtp_job_type(const dtp_job *job)
{
	return job->type;
}

const char *
dtp_job_payload(const dtp_job *job)
{
	return job->payload;
}

size_t
dtp_job_payload_len(const dtp_job *job)
{
	return job->payload_len;
}

int
dtp_job_attempt(const dtp_job *job)
{
	return job->attempt;
}

int
dtp_job_max_attempts(const dtp_job *job)
{
	return job->max_attempts;
}

int64_t
dtp_job_timeout_ms(const dtp_job *job)
{
	return job->timeout_ms;
}

bool
dtp_job_should_stop(dtp_job *job)
{
	if (atomic_load(&job->stop_reason) != DTP_STOP_NONE) {
		return true;
	}
	if (tp_clock_mono_ms() >= job->deadline_mono_ms) {
		dtp_job_stop(job, DTP_STOP_TIMEOUT);
		return true;
	}
	return false;
}

dtp_stop_reason
dtp_job_stop_reason(const dtp_job *job)
{
	return (dtp_stop_reason) atomic_load(&((dtp_job *) job)->stop_reason);
}

bool
dtp_job_sleep(dtp_job *job, int64_t ms)
{
	int64_t         until = tp_clock_mono_ms() + (ms > 0 ? ms : 0);
	struct timespec ts;

	if (until > job->deadline_mono_ms) {
		until = job->deadline_mono_ms;
	}
	ts.tv_sec  = (time_t) (until / 1000);
	ts.tv_nsec = (long) (until % 1000) * 1000000L;
	pthread_mutex_lock(&job->mu);
	/* dtp_job_stop broadcasts under mu after setting the reason. */
	while (atomic_load(&job->stop_reason) == DTP_STOP_NONE
	    && tp_clock_mono_ms() < until) {
		int rc = pthread_cond_timedwait(&job->cv, &job->mu, &ts);
		if (rc == ETIMEDOUT) {
			break;
		}
	}
	pthread_mutex_unlock(&job->mu);
	return dtp_job_should_stop(job);
}

dtp_outcome
dtp_job_succeed(dtp_job *job, const char *result, size_t len)
{
	free(job->result);
	job->result = tp_xmalloc(len + 1);
	if (len > 0) {
		memcpy(job->result, result, len);
	}
	job->result[len]    = '\0';
	job->result_len     = len;
	job->result_has_nul = len > 0 && memchr(result, '\0', len) != NULL;
	job->has_outcome    = true;
	job->outcome        = DTP_OUTCOME_OK;
	return DTP_OUTCOME_OK;
}

static dtp_outcome
set_failure(dtp_job *job, dtp_outcome outcome, const char *fmt, va_list ap)
{
	vsnprintf(job->error, sizeof(job->error), fmt, ap);
	job->has_outcome = true;
	job->outcome     = outcome;
	return outcome;
}

dtp_outcome
dtp_job_fail(dtp_job *job, const char *fmt, ...)
{
	va_list     ap;
	dtp_outcome o;

	va_start(ap, fmt);
	o = set_failure(job, DTP_OUTCOME_RETRY, fmt, ap);
	va_end(ap);
	return o;
}

dtp_outcome
dtp_job_fail_permanent(dtp_job *job, const char *fmt, ...)
{
	va_list     ap;
	dtp_outcome o;

	va_start(ap, fmt);
	o = set_failure(job, DTP_OUTCOME_PERMANENT, fmt, ap);
	va_end(ap);
	return o;
}

dtp_outcome
dtp_job_retry_after(dtp_job *job, int64_t delay_ms, const char *fmt, ...)
{
	va_list     ap;
	dtp_outcome o;

	if (delay_ms < 0) {
		delay_ms = 0;
	}
	if (delay_ms > MAX_RETRY_AFTER_MS) {
		delay_ms = MAX_RETRY_AFTER_MS;
	}
	job->retry_after_ms = delay_ms;
	va_start(ap, fmt);
	o = set_failure(job, DTP_OUTCOME_RETRY_AFTER, fmt, ap);
	va_end(ap);
	return o;
}
