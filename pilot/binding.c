/*
 * binding.c: the bind flow of DESIGN §6 with a stored intent, shared by
 * BindScheduler and the reconciler, and the execution cache writes (see
 * binding.h and pilot/README.md). No state of its own.
 *
 * Why a crash at any point ends with exactly one DTP task, bound:
 *   - before the intent is stored: nothing happened; the client sees the
 *     failure and may bind again.
 *   - after the intent, before or during CreateTask: the reconciler calls
 *     CreateTask with the key webtask:<id>; DTP makes the task once.
 *   - after CreateTask, before the UPDATE: the reconciler's CreateTask with
 *     the same key is a replay: DTP answers with the task already made.
 *   - a bind and a reconcile at once: both get the same task from DTP; the
 *     conditional UPDATE stores it once, and the other finds it stored.
 */
#include "pilot/binding.h"

#include <inttypes.h>
#include <pb_decode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fault.h"
#include "common/log.h"
#include "pilot/store.h"
#include "pilot/webtask.h"

#define LOG_COMPONENT "pilot.bind"

bool
pilot_binding_is_transient(tp_status code)
{
	switch (code) {
	case TP_UNAVAILABLE:
	case TP_DEADLINE_EXCEEDED:
	case TP_INTERNAL:
	case TP_UNKNOWN:
	case TP_ABORTED:
	case TP_CANCELLED:
		return true;
	default:
		return false;
	}
}

/* fault turns a fail/drop fault point into the failure it stands for. */
static tp_status
fault(const char *name, int64_t id, tp_err *err)
{
	switch (TP_FAULT(name)) {
	case TP_FAULT_NONE:
		return TP_OK;
	case TP_FAULT_FAIL:
	case TP_FAULT_DROP:
		break;
	}
	return tp_err_set(err, TP_UNAVAILABLE,
	    "could not bind web task %" PRId64 ": fault %s injected", id, name);
}

/*
 * failed logs a bind that ended with rc and drops its intent when trying
 * again cannot help (DTP refused the task for good, or the row is gone), so
 * the reconciler leaves it alone; otherwise the intent stays for it.
 * sched_id is DTP's task when there is one (0: none). Returns rc.
 */
static tp_status
failed(db_conn *db, int64_t id, int64_t sched_id, const char *by, tp_status rc,
    const tp_err *err)
{
	bool   keep = pilot_binding_is_transient(rc);
	tp_err e;

	if (!keep && pilot_store_clear_bind_request(db, id, &e) != TP_OK) {
		tp_log_warn(LOG_COMPONENT,
		    "could not drop the bind intent web_task_id=%" PRId64
		    " reason=\"%s\"",
		    id, e.msg);
	}
	tp_log_warn(LOG_COMPONENT,
	    "bind failed web_task_id=%" PRId64 " scheduler_task_id=%" PRId64
	    " status=%s by=%s intent=%s reason=\"%s\"",
	    id, sched_id, tp_status_name(rc), by, keep ? "kept" : "dropped",
	    err != NULL ? err->msg : "");
	return rc;
}

/*
 * finish is the part of a bind after the intent: CreateTask with the key,
 * then the conditional UPDATE. wt is the web task as the intent found it.
 * by names the caller in the log ("rpc" or "reconciler").
 */
static tp_status
finish(db_conn *db, pilot_scheduler_client *sched, pilot_v1_WebTask *out,
    const pilot_v1_WebTask *wt, int64_t deadline_ms, const char *by,
    tp_err *err)
{
	int64_t          id       = wt->id;
	char            *payload  = NULL;
	dtp_v1_Task      task     = dtp_v1_Task_init_zero;
	pilot_v1_WebTask bound    = pilot_v1_WebTask_init_zero;
	bool             replayed = false;
	bool             updated  = false;
	bool             stored   = false;
	pilot_store_seen seen;
	char             key[PILOT_KEY_SIZE];
	tp_err           e;
	tp_status        rc;

	rc = pilot_webtask_bind_payload(
	    &payload, id, wt->type, wt->payload, err);
	if (rc == TP_OK) {
		pilot_webtask_idempotency_key(key, sizeof(key), id);
		rc = pilot_scheduler_client_create_task(sched, &task, &replayed,
		    wt->type, payload, key, deadline_ms, err);
		if (rc != TP_OK && rc != TP_UNAVAILABLE
		    && rc != TP_DEADLINE_EXCEEDED && err != NULL) {
			/*
			 * DTP refused the task (its own limits, a key used
			 * with another payload) or it was too large to send:
			 * same code, but say which web task it was about.
			 */
			char why[TP_ERR_MSG_MAX];
			snprintf(why, sizeof(why), "%s", err->msg);
			tp_err_set(err, rc,
			    "could not create the dtp task of web task %" PRId64
			    ": %s",
			    id, why);
		}
	}
	if (rc != TP_OK) {
		failed(db, id, 0, by, rc, err);
		goto out;
	}
	if ((rc = fault("pilot.bind.after_create", id, err)) != TP_OK) {
		failed(db, id, task.id, by, rc, err);
		goto out;
	}
	seen.status     = task.status;
	seen.seen_at_ms = tp_clock_unix_ms();
	rc = pilot_store_bind(db, &bound, &updated, id, task.id, &seen, err);
	if (rc != TP_OK) {
		/*
		 * The database was not there: the intent stays and the
		 * reconciler stores the binding later. Anything else (the
		 * row is gone, DTP's id is another web task's) cannot get
		 * better by retrying.
		 */
		failed(db, id, task.id, by, rc, err);
		goto out;
	}
	if (!updated) {
		if (!bound.has_scheduler_task_id
		    || bound.scheduler_task_id != task.id) {
			/* A bind elsewhere stored another task: say which. */
			rc = tp_err_set(err, TP_FAILED_PRECONDITION,
			    "web task %" PRId64
			    " is already bound to scheduler task %" PRId64,
			    id, bound.scheduler_task_id);
			goto out;
		}
		/*
		 * A bind or reconcile racing this one stored the same task
		 * first: keep what we saw if it is newer, and show it.
		 */
		if (pilot_store_observe(db, &stored, id, task.id, &seen, &e)
		        == TP_OK
		    && stored) {
			bound.execution_status     = seen.status;
			bound.execution_seen_at_ms = seen.seen_at_ms;
		}
	}
	tp_log_info(LOG_COMPONENT,
	    "web task bound web_task_id=%" PRId64 " scheduler_task_id=%" PRId64
	    " by=%s replayed=%s raced=%s",
	    id, task.id, by, replayed ? "true" : "false",
	    updated ? "false" : "true");
	*out = bound;
	memset(&bound, 0, sizeof(bound)); /* moved to *out */
out:
	pb_release(pilot_v1_WebTask_fields, &bound);
	pb_release(dtp_v1_Task_fields, &task);
	free(payload);
	return rc;
}

tp_status
pilot_binding_bind(db_conn *db, pilot_scheduler_client *sched,
    pilot_v1_WebTask *out, int64_t id, int64_t deadline_ms, tp_err *err)
{
	pilot_v1_WebTask wt = pilot_v1_WebTask_init_zero;
	tp_status        rc;

	if ((rc = pilot_store_request_bind(db, &wt, id, err)) != TP_OK) {
		goto out;
	}
	if ((rc = fault("pilot.bind.after_intent", id, err)) != TP_OK) {
		failed(db, id, 0, "rpc", rc, err);
		goto out;
	}
	rc = finish(db, sched, out, &wt, deadline_ms, "rpc", err);
out:
	pb_release(pilot_v1_WebTask_fields, &wt);
	return rc;
}

tp_status
pilot_binding_reconcile(
    db_conn *db, pilot_scheduler_client *sched, int64_t id, tp_err *err)
{
	pilot_v1_WebTask wt    = pilot_v1_WebTask_init_zero;
	pilot_v1_WebTask bound = pilot_v1_WebTask_init_zero;
	tp_status        rc;

	if ((rc = pilot_store_get(db, &wt, id, err)) != TP_OK) {
		goto out;
	}
	if (wt.has_scheduler_task_id) {
		goto out; /* a bind finished meanwhile */
	}
	tp_log_info(LOG_COMPONENT,
	    "finishing an interrupted bind web_task_id=%" PRId64, id);
	rc = finish(db, sched, &bound, &wt, 0, "reconciler", err);
out:
	pb_release(pilot_v1_WebTask_fields, &wt);
	pb_release(pilot_v1_WebTask_fields, &bound);
	return rc;
}

void
pilot_binding_observe(db_conn *db, int64_t id, const dtp_v1_Task *task)
{
	pilot_store_seen seen   = { task->status, tp_clock_unix_ms() };
	bool             stored = false;
	tp_err           err;

	if (pilot_store_observe(db, &stored, id, task->id, &seen, &err)
	    != TP_OK) {
		tp_log_warn(LOG_COMPONENT,
		    "could not cache the execution status web_task_id=%" PRId64
		    " scheduler_task_id=%" PRId64 " reason=\"%s\"",
		    id, task->id, err.msg);
		return;
	}
	if (tp_log_enabled(TP_LOG_DEBUG)) {
		const char *name = pilot_webtask_status_name(task->status);
		tp_log_debug(LOG_COMPONENT,
		    "execution seen web_task_id=%" PRId64
		    " scheduler_task_id=%" PRId64 " status=%s stored=%s",
		    id, task->id, name != NULL ? name : "UNSPECIFIED",
		    stored ? "true" : "false");
	}
}
