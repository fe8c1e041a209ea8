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
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

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
	atomic_init(&job->stop_mono_us, 0);
	job->stop_fd = -1;
}

void
dtp_job_fini(dtp_job *job)
{
	free(job->result);
	job->result = NULL;
	free(job->params);
	job->params = NULL;
	if (job->stop_fd >= 0) {
		close(job->stop_fd);
		job->stop_fd = -1;
	}
	pthread_cond_destroy(&job->cv);
	pthread_mutex_destroy(&job->mu);
}

/* signal_fd makes the stop fd readable; job->mu held. */
static void
signal_fd(dtp_job *job)
{
	uint64_t one = 1;

	if (job->stop_fd >= 0) {
		/* A full counter (EAGAIN) is readable already. */
		(void) !write(job->stop_fd, &one, sizeof(one));
	}
}

bool
dtp_job_stop(dtp_job *job, dtp_stop_reason reason)
{
	int none = DTP_STOP_NONE;

	if (!atomic_compare_exchange_strong(
	        &job->stop_reason, &none, (int) reason)) {
		return false;
	}
	atomic_store(&job->stop_mono_us, tp_clock_mono_us());
	pthread_mutex_lock(&job->mu);
	pthread_cond_broadcast(&job->cv);
	signal_fd(job);
	pthread_mutex_unlock(&job->mu);
	return true;
}

int64_t
dtp_job_stopped_at_us(dtp_job *job)
{
	return atomic_load(&job->stop_mono_us);
}

int
dtp_job_stop_fd(dtp_job *job)
{
	int fd;

	pthread_mutex_lock(&job->mu);
	if (job->stop_fd < 0) {
		job->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		/* A stop that came first must show at once. */
		if (atomic_load(&job->stop_reason) != DTP_STOP_NONE) {
			signal_fd(job);
		}
	}
	fd = job->stop_fd;
	pthread_mutex_unlock(&job->mu);
	return fd;
}

int64_t
dtp_job_remaining_ms(const dtp_job *job)
{
	int64_t left = job->deadline_mono_ms - tp_clock_mono_ms();

	return left > 0 ? left : 0;
}

bool
dtp_job_unwrap(char **params, size_t *params_len, int64_t *web_task_id,
    const char *payload, size_t len)
{
	json_t *root = NULL;
	json_t *id;
	json_t *inner;
	size_t  i  = 0;
	bool    ok = false;

	/* Cheap refusals first: most payloads are not wrapped. */
	while (i < len
	    && (payload[i] == ' ' || payload[i] == '\t' || payload[i] == '\n'
	        || payload[i] == '\r')) {
		i++;
	}
	if (i == len || payload[i] != '{'
	    || strstr(payload, "\"webTaskId\"") == NULL) {
		return false;
	}
	root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
	if (root == NULL || !json_is_object(root)) {
		goto out;
	}
	id    = json_object_get(root, "webTaskId");
	inner = json_object_get(root, "payload");
	if (id == NULL || !json_is_integer(id) || inner == NULL
	    || !json_is_string(inner)) {
		goto out;
	}
	*params_len  = json_string_length(inner);
	*params      = tp_xstrndup(json_string_value(inner), *params_len);
	*web_task_id = (int64_t) json_integer_value(id);
	ok           = true;
out:
	json_decref(root);
	return ok;
}

/* unwrap_once fills the job's parameters on first use. */
static void
unwrap_once(dtp_job *job)
{
	if (job->params_done) {
		return;
	}
	job->params_done = true;
	if (!dtp_job_unwrap(&job->params, &job->params_len, &job->web_task_id,
	        job->payload, job->payload_len)) {
		job->params      = NULL;
		job->params_len  = 0;
		job->web_task_id = 0;
	}
}

const char *
dtp_job_params(dtp_job *job, size_t *len)
{
	unwrap_once(job);
	if (job->params == NULL) {
		if (len != NULL) {
			*len = job->payload_len;
		}
		return job->payload;
	}
	if (len != NULL) {
		*len = job->params_len;
	}
	return job->params;
}

int64_t
dtp_job_web_task_id(dtp_job *job)
{
	unwrap_once(job);
	return job->web_task_id;
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
