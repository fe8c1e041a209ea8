/*
 * transition.h: the states of a DTP task and the one table of allowed
 * transitions (DESIGN.md §5). Every state-changing statement in the store
 * names a row of this table; nothing else moves a task between states.
 * Pure data and functions: any thread.
 */
#ifndef SCHEDULER_TRANSITION_H
#define SCHEDULER_TRANSITION_H

#include <stdbool.h>
#include <stddef.h>

/* Same numbers as dtp.v1.TaskStatus on the wire (0 is "unspecified"). */
typedef enum dtp_state {
	DTP_STATE_PENDING   = 1,
	DTP_STATE_RUNNING   = 2,
	DTP_STATE_SUCCEEDED = 3,
	DTP_STATE_FAILED    = 4,
	DTP_STATE_CANCELLED = 5,
} dtp_state;

#define DTP_STATE_MIN DTP_STATE_PENDING
#define DTP_STATE_MAX DTP_STATE_CANCELLED

/* What made a task change state: the "when" column of the table. */
typedef enum dtp_event {
	DTP_EVENT_CLAIM = 1, /* a worker claims it; attempts += 1, lease set */
	DTP_EVENT_CANCEL,    /* CancelTask on a task not yet running */
	DTP_EVENT_SUCCEED,   /* the handler returned OK; result stored */
	DTP_EVENT_RETRY, /* the attempt failed or timed out, attempts remain */
	DTP_EVENT_LEASE_EXPIRED, /* its node stopped renewing the lease */
	DTP_EVENT_RELEASE,       /* its node stops and hands the task back */
	DTP_EVENT_FAIL,          /* attempts exhausted, or a permanent error */
	DTP_EVENT_STOPPED, /* cancel was requested and the handler stopped */
} dtp_event;

#define DTP_EVENT_MIN DTP_EVENT_CLAIM
#define DTP_EVENT_MAX DTP_EVENT_STOPPED

typedef struct dtp_transition {
	dtp_state   from;
	dtp_state   to;
	dtp_event   event;
	const char *when; /* the table's wording, for logs and docs */
} dtp_transition;

/* The table itself: dtp_transitions[0 .. dtp_n_transitions - 1]. */
extern const dtp_transition dtp_transitions[];
extern const size_t         dtp_n_transitions;

/*
 * dtp_state_name returns "PENDING" ... "CANCELLED" (the text stored in
 * dtp.task.status), or "UNSPECIFIED" for any other value. Static string.
 */
const char *dtp_state_name(int state);

/* dtp_state_parse parses a stored status; false (and *out untouched) when
 * unknown. */
bool dtp_state_parse(dtp_state *out, const char *name);

/* dtp_state_is_final: SUCCEEDED, FAILED and CANCELLED never change again. */
bool dtp_state_is_final(dtp_state state);

/* dtp_event_name returns "claim", "cancel", ... or "unknown". Static string. */
const char *dtp_event_name(int event);

/*
 * dtp_transition_find returns the row for (from, to, event), or NULL when the
 * table does not allow that move.
 */
const dtp_transition *dtp_transition_find(
    dtp_state from, dtp_state to, dtp_event event);

/* dtp_transition_allowed: whether any row moves from to to (any event). */
bool dtp_transition_allowed(dtp_state from, dtp_state to);

#endif /* SCHEDULER_TRANSITION_H */
