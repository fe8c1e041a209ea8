/*
 * builtin_handlers.c: the built-in task types, `demo`, `sleep` and `fail`
 * (DESIGN.md §5). sleep and fail take small JSON objects, parsed with
 * jansson from the task's parameters (dtp_job_params: the payload, or the
 * inner payload of a task bound through TaskPilot).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "scheduler/handler.h"

#define SLEEP_MAX_MS   86400000LL
#define FAIL_MAX_TIMES 1000LL

/*
 * int_field reads {"<name>": N} from the parameters with N an integer in
 * [0, max]. Returns false with a reason in why otherwise.
 */
static bool
int_field(long long *out, dtp_job *job, const char *name, long long max,
    char *why, size_t why_size)
{
	json_error_t jerr;
	json_t      *root;
	json_t      *v;
	bool         ok     = false;
	size_t       len    = 0;
	const char  *params = dtp_job_params(job, &len);

	root = json_loadb(params, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(why, why_size, "payload is not JSON: %s", jerr.text);
		return false;
	}
	v = json_is_object(root) ? json_object_get(root, name) : NULL;
	if (v == NULL || !json_is_integer(v) || json_integer_value(v) < 0
	    || json_integer_value(v) > max) {
		snprintf(why, why_size,
		    "invalid payload: expected {\"%s\": N} with N from 0 to "
		    "%lld",
		    name, max);
	} else {
		*out = (long long) json_integer_value(v);
		ok   = true;
	}
	json_decref(root);
	return ok;
}

/* demo succeeds at once with its payload as the result. */
static dtp_outcome
demo_main(dtp_job *job, void *arg)
{
	(void) arg;
	return dtp_job_succeed(
	    job, dtp_job_payload(job), dtp_job_payload_len(job));
}

/* sleep waits {"ms":N} milliseconds, stopping early when asked. */
static dtp_outcome
sleep_main(dtp_job *job, void *arg)
{
	long long ms;
	char      why[256];
	char      result[64];
	int       n;

	(void) arg;
	if (!int_field(&ms, job, "ms", SLEEP_MAX_MS, why, sizeof(why))) {
		return dtp_job_fail_permanent(job, "%s", why);
	}
	if (dtp_job_sleep(job, ms)) {
		return dtp_job_fail(job, "sleep of %lld ms stopped early", ms);
	}
	n = snprintf(result, sizeof(result), "{\"sleptMs\":%lld}", ms);
	return dtp_job_succeed(job, result, (size_t) n);
}

/* fail fails the first {"failTimes":N} attempts, then succeeds. */
static dtp_outcome
fail_main(dtp_job *job, void *arg)
{
	long long times;
	char      why[256];
	char      result[64];
	int       n;

	(void) arg;
	if (!int_field(
	        &times, job, "failTimes", FAIL_MAX_TIMES, why, sizeof(why))) {
		return dtp_job_fail_permanent(job, "%s", why);
	}
	if (dtp_job_attempt(job) <= times) {
		return dtp_job_fail(job,
		    "failing on purpose: attempt %d of the first %lld",
		    dtp_job_attempt(job), times);
	}
	n = snprintf(result, sizeof(result), "{\"succeededOnAttempt\":%d}",
	    dtp_job_attempt(job));
	return dtp_job_succeed(job, result, (size_t) n);
}

tp_status
dtp_registry_add_builtins(dtp_registry *r, tp_err *err)
{
	tp_status rc;

	if ((rc = dtp_registry_add(r, "demo", demo_main, NULL, err)) != TP_OK) {
		return rc;
	}
	if ((rc = dtp_registry_add(r, "sleep", sleep_main, NULL, err))
	    != TP_OK) {
		return rc;
	}
	return dtp_registry_add(r, "fail", fail_main, NULL, err);
}
