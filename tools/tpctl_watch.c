/*
 * tpctl_watch.c: `tpctl pilot watch ID` follows a web task until its
 * execution is final. It polls TaskPilot on one client: GetWebTask until the
 * task is bound (up to --timeout), then GetExecution, every 200 ms after a
 * change, slowing down to once a second while nothing changes, and prints
 * each change of status, attempt or cancel request with the time it saw it.
 *
 * Calls that fail in a way that may pass (UNAVAILABLE, DEADLINE_EXCEEDED:
 * TaskPilot restarting, DTP briefly unreachable) are tried again until
 * nothing has answered for --timeout ms; any other failure ends the watch.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <pb_decode.h>

#include "common/clock.h"
#include "common/log.h"
#include "proto/json.h"
#include "tpctl_int.h"

#define WATCH_FIRST_MS 200  /* the pause after a change */
#define WATCH_MAX_MS   1000 /* the longest pause */

typedef struct watch {
	const tpctl_config *cfg;
	rpc_client         *c;
	FILE   *out;            /* the changes: stdout, or stderr with --json */
	int64_t id;             /* the web task */
	int64_t interval_ms;    /* the next pause */
	int64_t last_answer_ms; /* monotonic: when a call last succeeded */
	bool    retrying;       /* a failure that may pass was reported */
} watch;

static void say(watch *w, const char *fmt, ...) TP_PRINTF(2, 3);

/* say prints one line, prefixed with the time now, and flushes it. */
static void
say(watch *w, const char *fmt, ...)
{
	char    ts[64];
	va_list ap;

	fprintf(w->out, "%s ", tp_clock_format_rfc3339(ts, tp_clock_unix_ms()));
	va_start(ap, fmt);
	vfprintf(w->out, fmt, ap);
	va_end(ap);
	fputc('\n', w->out);
	fflush(w->out);
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts
	    = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
		/* A signal came: sleep what is left. */
	}
}

/* wait_next pauses, then makes the next pause longer, up to WATCH_MAX_MS. */
static void
wait_next(watch *w)
{
	sleep_ms(w->interval_ms);
	w->interval_ms = w->interval_ms * 3 / 2;
	if (w->interval_ms > WATCH_MAX_MS) {
		w->interval_ms = WATCH_MAX_MS;
	}
}

/*
 * ask makes one call. Returns -1 with rep decoded (the caller releases it);
 * 0 when the call failed in a way that may pass and the watch goes on (said
 * once on stderr); else the exit status, after saying why.
 */
static int
ask(watch *w, pilot_v1_Request *req, pilot_v1_Reply *rep)
{
	tp_err    err = { 0 };
	tp_status rc  = tpctl_call(w->c, w->cfg, req, rep, true, &err);
	int64_t   now = tp_clock_mono_ms();

	if (rc == TP_OK) {
		if (w->retrying) {
			fprintf(stderr, "tpctl: TaskPilot answers again\n");
			w->retrying = false;
		}
		w->last_answer_ms = now;
		return -1;
	}
	if ((rc != TP_UNAVAILABLE && rc != TP_DEADLINE_EXCEEDED)
	    || now - w->last_answer_ms >= w->cfg->timeout_ms) {
		return tpctl_report(rc, &err);
	}
	if (!w->retrying) {
		fprintf(stderr,
		    "tpctl: %s: %s: trying again for up to %lld ms\n",
		    tp_status_name(rc),
		    err.msg[0] != '\0' ? err.msg : "no answer",
		    w->cfg->timeout_ms);
		w->retrying = true;
	}
	return 0;
}

/*
 * wait_bound asks for the web task until it is bound, up to --timeout.
 * Returns -1 once it is, or the exit status.
 */
static int
wait_bound(watch *w)
{
	int64_t start = tp_clock_mono_ms();
	bool    said  = false;

	for (;;) {
		pilot_v1_Request req = pilot_v1_Request_init_zero;
		pilot_v1_Reply   rep = pilot_v1_Reply_init_zero;
		int              rc;

		req.which_call           = pilot_v1_Request_get_web_task_tag;
		req.call.get_web_task.id = w->id;
		if ((rc = ask(w, &req, &rep)) > 0) {
			return rc;
		}
		if (rc < 0) {
			const pilot_v1_WebTask *t = &rep.result.get_web_task;
			bool    bound             = t->has_scheduler_task_id;
			int64_t sid               = t->scheduler_task_id;

			pb_release(pilot_v1_Reply_fields, &rep);
			if (bound) {
				say(w,
				    "web task %" PRId64
				    " is bound to task %" PRId64,
				    w->id, sid);
				return -1;
			}
			if (!said) {
				say(w,
				    "web task %" PRId64 " is not bound yet: "
				    "waiting up to %lld ms",
				    w->id, w->cfg->timeout_ms);
				said = true;
			}
		}
		if (tp_clock_mono_ms() - start >= w->cfg->timeout_ms) {
			fprintf(stderr,
			    "tpctl: DEADLINE_EXCEEDED: web task %" PRId64
			    " was not bound within %lld ms\n",
			    w->id, w->cfg->timeout_ms);
			return TPCTL_EXIT_FAIL;
		}
		wait_next(w);
	}
}

static bool
is_final(dtp_v1_TaskStatus s)
{
	return s == dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED
	    || s == dtp_v1_TaskStatus_TASK_STATUS_FAILED
	    || s == dtp_v1_TaskStatus_TASK_STATUS_CANCELLED;
}

/* print_change prints the line of a task as it is now. */
static void
print_change(watch *w, const dtp_v1_Task *t)
{
	const char *name     = proto_json_task_status_name(t->status);
	char        node[96] = "";

	if (t->locked_by[0] != '\0') {
		snprintf(node, sizeof(node), " lockedBy=%s", t->locked_by);
	}
	say(w, "task %" PRId64 " %s attempts=%" PRId32 "/%" PRId32 "%s%s",
	    t->id, name != NULL ? name : "UNSPECIFIED", t->attempts,
	    t->max_attempts, node,
	    t->cancel_requested ? " cancelRequested" : "");
}

/*
 * finish prints the final task: its result or last error (text), or the
 * whole task as JSON on stdout. Returns the exit status.
 */
static int
finish(const watch *w, const dtp_v1_Task *t)
{
	if (w->cfg->json) {
		tpctl_print_task_json(t);
	} else {
		if (t->result != NULL) {
			printf("  %-18s%s\n", "result:", t->result);
		}
		if (t->last_error[0] != '\0') {
			printf("  %-18s%s\n", "lastError:", t->last_error);
		}
	}
	return t->status == dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED
	    ? 0
	    : TPCTL_EXIT_FAIL;
}

/* follow polls the execution until it is final. Returns the exit status. */
static int
follow(watch *w)
{
	bool              seen     = false;
	dtp_v1_TaskStatus status   = dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED;
	int32_t           attempts = 0;
	bool              cancel   = false;

	for (;;) {
		pilot_v1_Request req = pilot_v1_Request_init_zero;
		pilot_v1_Reply   rep = pilot_v1_Reply_init_zero;
		int              rc;

		req.which_call            = pilot_v1_Request_get_execution_tag;
		req.call.get_execution.id = w->id;
		if ((rc = ask(w, &req, &rep)) > 0) {
			return rc;
		}
		if (rc < 0) {
			const dtp_v1_Task *t = &rep.result.get_execution;
			if (!seen || t->status != status
			    || t->attempts != attempts
			    || t->cancel_requested != cancel) {
				print_change(w, t);
				seen           = true;
				status         = t->status;
				attempts       = t->attempts;
				cancel         = t->cancel_requested;
				w->interval_ms = WATCH_FIRST_MS;
			}
			if (is_final(t->status)) {
				rc = finish(w, t);
				pb_release(pilot_v1_Reply_fields, &rep);
				return rc;
			}
			pb_release(pilot_v1_Reply_fields, &rep);
		}
		wait_next(w);
	}
}

int
tpctl_watch(const tpctl_config *cfg, int64_t id)
{
	watch w = { .cfg        = cfg,
		.out            = cfg->json ? stderr : stdout,
		.id             = id,
		.interval_ms    = WATCH_FIRST_MS,
		.last_answer_ms = tp_clock_mono_ms() };
	int   rc;

	if ((rc = tpctl_client_open(
	         &w.c, cfg, &proto_pilot_envelope, cfg->pilot_url))
	    >= 0) {
		return rc;
	}
	if ((rc = wait_bound(&w)) < 0) {
		rc = follow(&w);
	}
	rpc_client_free(w.c);
	return rc;
}
