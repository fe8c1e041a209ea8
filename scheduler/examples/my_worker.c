/*
 * my_worker.c: a DTP worker binary of your own. It registers one task type,
 * `reverse` (its result is its payload's characters in reverse order), next
 * to the built-ins, and is otherwise `dtp` itself: same flags, same
 * environment, same shutdown. Run it like dtp:
 *
 *     dtp_my_worker --database-url postgres://... --listen tcp://127.0.0.1:9092
 *
 * and create a task of type "reverse" on any node of the cluster (they
 * share the database): a node claims only the types it has handlers for,
 * so the reverse tasks wait for a node that runs this binary, while plain
 * dtp nodes go on taking demo, sleep and fail.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/handler.h"
#include "scheduler/run.h"

/* utf8_len is the length of the UTF-8 sequence that starts with c. */
static size_t
utf8_len(unsigned char c)
{
	if (c >= 0xf0) {
		return 4;
	}
	if (c >= 0xe0) {
		return 3;
	}
	if (c >= 0xc0) {
		return 2;
	}
	return 1;
}

/*
 * reverse_main runs one attempt of a `reverse` task on a worker thread.
 * dtp_job_params is the payload (or, for a task created through
 * TaskPilot, the web task's own payload). A handler that runs for long
 * checks dtp_job_should_stop() every few tens of milliseconds, or waits
 * with dtp_job_sleep(); this one is quick.
 */
static dtp_outcome
reverse_main(dtp_job *job, void *arg)
{
	size_t      len = 0;
	const char *in  = dtp_job_params(job, &len);
	char       *out;
	size_t      i = 0;
	dtp_outcome o;

	(void) arg;
	out = malloc(len + 1);
	if (out == NULL) {
		/* Retried later with backoff, while attempts remain. */
		return dtp_job_fail(job, "out of memory");
	}
	/* Characters, not bytes, so the result stays valid UTF-8 (the
	 * payload is: DTP checks it on CreateTask). */
	while (i < len) {
		size_t n = utf8_len((unsigned char) in[i]);
		if (n > len - i) {
			n = len - i;
		}
		memcpy(out + len - i - n, in + i, n);
		i += n;
	}
	out[len] = '\0';
	/* The result is copied; a result over the node's limit fails. */
	o = dtp_job_succeed(job, out, len);
	free(out);
	return o;
}

int
main(int argc, char **argv)
{
	dtp_registry *reg = dtp_registry_new();

	/* Types must be registered before the node starts. */
	if (dtp_registry_add(reg, "reverse", reverse_main, NULL, NULL)
	    != TP_OK) {
		dtp_registry_free(reg);
		return 1;
	}
	/* Adds demo, sleep, fail and the --exec types, then runs until
	 * SIGTERM; takes ownership of reg. */
	return dtp_run_main(argc, argv, reg);
}
