/*
 * transition.c: the one table of task state transitions (DESIGN.md §5).
 * The store checks each of its UPDATEs against this table; the unit test
 * walks it row by row.
 */
#include "scheduler/transition.h"

#include <string.h>

/*
 * DESIGN.md §5, plus one row: RELEASE, a node handing its running task back
 * on a graceful stop. It is the lease ending early instead of expiring, and
 * goes to the same state as an expired lease.
 */
const dtp_transition dtp_transitions[] = {
	{ DTP_STATE_PENDING, DTP_STATE_RUNNING, DTP_EVENT_CLAIM,
	    "a worker claims it (FOR UPDATE SKIP LOCKED), attempts += 1, "
	    "lease set" },
	{ DTP_STATE_PENDING, DTP_STATE_CANCELLED, DTP_EVENT_CANCEL,
	    "CancelTask" },
	{ DTP_STATE_RUNNING, DTP_STATE_SUCCEEDED, DTP_EVENT_SUCCEED,
	    "handler returned OK; result stored" },
	{ DTP_STATE_RUNNING, DTP_STATE_PENDING, DTP_EVENT_RETRY,
	    "handler failed or timed out and attempts remain; run_at = now + "
	    "backoff with jitter" },
	{ DTP_STATE_RUNNING, DTP_STATE_PENDING, DTP_EVENT_LEASE_EXPIRED,
	    "the lease expired (its node died); picked up by any node" },
	{ DTP_STATE_RUNNING, DTP_STATE_PENDING, DTP_EVENT_RELEASE,
	    "its node stops gracefully and hands the lease back" },
	{ DTP_STATE_RUNNING, DTP_STATE_FAILED, DTP_EVENT_FAIL,
	    "handler failed and attempts are exhausted, or the error is "
	    "permanent" },
	{ DTP_STATE_RUNNING, DTP_STATE_CANCELLED, DTP_EVENT_STOPPED,
	    "cancel was requested and the handler stopped" },
};

const size_t dtp_n_transitions
    = sizeof(dtp_transitions) / sizeof(dtp_transitions[0]);

static const char *const state_names[] = {
	[DTP_STATE_PENDING]   = "PENDING",
	[DTP_STATE_RUNNING]   = "RUNNING",
	[DTP_STATE_SUCCEEDED] = "SUCCEEDED",
	[DTP_STATE_FAILED]    = "FAILED",
	[DTP_STATE_CANCELLED] = "CANCELLED",
};

static const char *const event_names[] = {
	[DTP_EVENT_CLAIM]         = "claim",
	[DTP_EVENT_CANCEL]        = "cancel",
	[DTP_EVENT_SUCCEED]       = "succeed",
	[DTP_EVENT_RETRY]         = "retry",
	[DTP_EVENT_LEASE_EXPIRED] = "lease_expired",
	[DTP_EVENT_RELEASE]       = "release",
	[DTP_EVENT_FAIL]          = "fail",
	[DTP_EVENT_STOPPED]       = "stopped",
};

const char *
dtp_state_name(int state)
{
	if (state < DTP_STATE_MIN || state > DTP_STATE_MAX) {
		return "UNSPECIFIED";
	}
	return state_names[state];
}

bool
dtp_state_parse(dtp_state *out, const char *name)
{
	if (name == NULL) {
		return false;
	}
	for (int s = DTP_STATE_MIN; s <= DTP_STATE_MAX; s++) {
		if (strcmp(state_names[s], name) == 0) {
			*out = (dtp_state) s;
			return true;
		}
	}
	return false;
}

bool
dtp_state_is_final(dtp_state state)
{
	return state == DTP_STATE_SUCCEEDED || state == DTP_STATE_FAILED
	    || state == DTP_STATE_CANCELLED;
}

const char *
dtp_event_name(int event)
{
	if (event < DTP_EVENT_MIN || event > DTP_EVENT_MAX) {
		return "unknown";
	}
	return event_names[event];
}

const dtp_transition *
dtp_transition_find(dtp_state from, dtp_state to, dtp_event event)
{
	for (size_t i = 0; i < dtp_n_transitions; i++) {
		const dtp_transition *t = &dtp_transitions[i];
		if (t->from == from && t->to == to && t->event == event) {
			return t;
		}
	}
	return NULL;
}

bool
dtp_transition_allowed(dtp_state from, dtp_state to)
{
	for (size_t i = 0; i < dtp_n_transitions; i++) {
		if (dtp_transitions[i].from == from
		    && dtp_transitions[i].to == to) {
			return true;
		}
	}
	return false;
}
