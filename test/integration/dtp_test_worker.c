/*
 * dtp_test_worker.c: a DTP worker binary for the tests, built like
 * scheduler/examples/my_worker.c: the built-ins plus `test.stubborn`
 * ({"ms":N}: sleeps N ms and succeeds, never looking at its stop flag), the
 * handler DTP must cope with when a cancel, a timeout or a shutdown asks it
 * to stop and it does not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scheduler/handler.h"
#include "scheduler/run.h"

static dtp_outcome
stubborn_main(dtp_job *job, void *arg)
{
	const char     *p  = strstr(dtp_job_params(job, NULL), "\"ms\":");
	long            ms = p != NULL ? strtol(p + 5, NULL, 10) : 0;
	struct timespec ts
	    = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	(void) arg;
	/* Deaf to cancel, timeout and shutdown: only the clock ends it. */
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { }
	return dtp_job_succeed(job, "stubborn", 8);
}

int
main(int argc, char **argv)
{
	dtp_registry *reg = dtp_registry_new();
	tp_err        err;

	if (dtp_registry_add(reg, "test.stubborn", stubborn_main, NULL, &err)
	    != TP_OK) {
		fprintf(stderr, "%s\n", err.msg);
		dtp_registry_free(reg);
		return 1;
	}
	return dtp_run_main(argc, argv, reg);
}
