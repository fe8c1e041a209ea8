/*
 * store.h (private): every statement DTP runs on dtp.task. Rows come back as
 * dtp_v1_Task (payload and result malloc'd; release with pb_release or
 * dtp_store_tasks_free). Every state-changing UPDATE names the state it
 * expects, and for a RUNNING task the attempt it belongs to, and is checked
 * against the transition table (transition.h). The caller's thread owns c.
 */
#ifndef SCHEDULER_STORE_H
#define SCHEDULER_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/status.h"
#include "db/conn.h"
#include "dtp.pb.h"
#include "scheduler/transition.h"

/* The largest run_at accepted: 9999-12-31T23:59:59.999Z. */
#define DTP_RUN_AT_MAX_MS 253402300799999LL

/* The NOTIFY channels: new work, and cancel requests (payload: task id). */
#define DTP_CHANNEL_TASK   "dtp_task"
#define DTP_CHANNEL_CANCEL "dtp_cancel"

typedef struct dtp_new_task {
	const char *type;    /* validated by the caller */
	const char *payload; /* never NULL */
	int         max_attempts;
	int64_t     timeout_ms;
	int64_t     run_at_ms;       /* 0: now */
	const char *idempotency_key; /* NULL: none */
	int64_t     backoff_base_ms; /* 0: the node's */
	int64_t     backoff_max_ms;  /* 0: the node's */
} dtp_new_task;

typedef struct dtp_list_query {
	int         status;   /* a dtp_state, or 0 for any */
	const char *type;     /* NULL: any */
	int64_t     after_id; /* 0: from the start */
	int         limit;    /* rows fetched at most */
	bool        newest_first;
	int64_t     budget_bytes; /* stop fetching rows past this many bytes */
} dtp_list_query;

/* One running attempt of this node: the lease ticker's unit. */
typedef struct dtp_lease {
	int64_t id;
	int     attempt;
	bool    renewed; /* out: the lease is still ours and was extended */
	bool    cancel_requested; /* out: someone asked to cancel it */
} dtp_lease;

/* What one pass of the reaper ended, by the state it left the tasks in. */
typedef struct dtp_reaped {
	int pending;
	int failed;
	int cancelled;
} dtp_reaped;

/* The database's side of the Metrics call. */
typedef struct dtp_stats {
	int64_t tasks[DTP_STATE_MAX + 1];   /* by dtp_state */
	double  oldest_pending_age_seconds; /* of due PENDING tasks; 0: none */
} dtp_stats;

/* dtp_store_tasks_free releases n tasks from dtp_store_list/claim. NULL: no-op.
 */
void dtp_store_tasks_free(dtp_v1_Task *tasks, int n);

/*
 * dtp_store_create inserts a PENDING task (sending no NOTIFY: the caller
 * announces it, see dtp_pool_announce). With an idempotency key already
 * used: the same type and payload returns the existing task with
 * *replayed = true; a
 * different one is TP_ALREADY_EXISTS naming the key and the task. On TP_OK
 * *out is filled (caller releases with pb_release(dtp_v1_Task_fields, out)).
 */
TP_MUST_CHECK tp_status dtp_store_create(dtp_v1_Task *out, bool *replayed,
    db_conn *c, const dtp_new_task *nt, tp_err *err);

/*
 * dtp_store_create_by_key is the second half of dtp_store_create, for a
 * task whose insert found its idempotency key taken (by a committed row):
 * the existing task with *replayed = true when type and payload match,
 * TP_ALREADY_EXISTS otherwise; TP_INTERNAL for a task without a key.
 */
TP_MUST_CHECK tp_status dtp_store_create_by_key(dtp_v1_Task *out,
    bool *replayed, db_conn *c, const dtp_new_task *nt, tp_err *err);

/* One task of a dtp_store_create_many batch. */
typedef struct dtp_created {
	const dtp_new_task *nt;       /* borrowed */
	bool                inserted; /* out: the task is new, in task */
	dtp_v1_Task         task; /* out when inserted: caller pb_releases */
} dtp_created;

/*
 * dtp_store_create_many inserts n tasks (n >= 1) in one statement, hence
 * one commit, each as dtp_store_create's insert would. On TP_OK every
 * tasks[i].inserted is set: false for a key taken before or by an earlier
 * task of the same batch, which dtp_store_create_by_key then resolves. The
 * statement is all or nothing: a task the database refuses
 * (TP_INVALID_ARGUMENT, say) fails the whole batch and writes nothing, so
 * each can then be created alone; TP_UNAVAILABLE leaves the outcome
 * unknown, as for dtp_store_create.
 */
TP_MUST_CHECK tp_status dtp_store_create_many(
    db_conn *c, dtp_created *tasks, int n, tp_err *err);

/*
 * dtp_store_announce sends NOTIFY dtp_task with payload tag (this node's,
 * so that it can ignore its own) in a transaction of its own: one for any
 * number of tasks committed before it.
 */
TP_MUST_CHECK tp_status dtp_store_announce(
    db_conn *c, const char *tag, tp_err *err);

/* dtp_store_get: TP_OK and *out, or TP_NOT_FOUND "task 7 not found". */
TP_MUST_CHECK tp_status dtp_store_get(
    dtp_v1_Task *out, db_conn *c, int64_t id, tp_err *err);

/*
 * dtp_store_cancel cancels a PENDING task at once (CANCELLED, finished_by
 * node), or marks a RUNNING one cancel_requested (and sends NOTIFY
 * dtp_cancel with its id) so that its handler stops. *out is the task after
 * the change. TP_NOT_FOUND for an unknown id, TP_FAILED_PRECONDITION "task
 * 7 is already SUCCEEDED" for a final one.
 */
TP_MUST_CHECK tp_status dtp_store_cancel(
    dtp_v1_Task *out, db_conn *c, int64_t id, const char *node, tp_err *err);

/*
 * dtp_store_list returns up to q->limit tasks in id order (descending when
 * newest_first), stopping early once the payloads and results fetched pass
 * q->budget_bytes (the row that crosses it is still returned). *out is
 * malloc'd (caller frees with dtp_store_tasks_free), NULL when *n is 0.
 */
TP_MUST_CHECK tp_status dtp_store_list(dtp_v1_Task **out, int *n, db_conn *c,
    const dtp_list_query *q, tp_err *err);

/* dtp_store_ping runs SELECT 1. */
TP_MUST_CHECK tp_status dtp_store_ping(db_conn *c, tp_err *err);

/*
 * dtp_store_claim moves up to max due PENDING tasks of the given types (a
 * text[] literal, "{demo,sleep}": the types node has handlers for) to
 * RUNNING for node (attempts += 1, lease of lease_ms), skipping rows other
 * claimers hold. *out as in dtp_store_list.
 */
TP_MUST_CHECK tp_status dtp_store_claim(dtp_v1_Task **out, int *n, db_conn *c,
    const char *node, const char *types, int64_t lease_ms, int max,
    tp_err *err);

/*
 * The end of an attempt, fenced on (id, RUNNING, attempt): *changed is false
 * when the attempt no longer owns the task (its lease was taken back, or it
 * was cancelled meanwhile for retry/fail/release), and nothing was written.
 * A final state records node as finished_by.
 *   succeed:   RUNNING -> SUCCEEDED with result
 *   retry:     RUNNING -> PENDING, run_at = now + delay_ms, last_error;
 *              only when no cancel was requested
 *   fail:      RUNNING -> FAILED with last_error; only when no cancel was
 *              requested
 *   cancelled: RUNNING -> CANCELLED; only when a cancel was requested
 *              (error, when not NULL, becomes last_error)
 *   release:   RUNNING -> PENDING now, the attempt handed back on shutdown;
 *              only when no cancel was requested
 */
TP_MUST_CHECK tp_status dtp_store_succeed(bool *changed, db_conn *c, int64_t id,
    int attempt, const char *node, const char *result, tp_err *err);
TP_MUST_CHECK tp_status dtp_store_retry(bool *changed, db_conn *c, int64_t id,
    int attempt, int64_t delay_ms, const char *error, tp_err *err);
TP_MUST_CHECK tp_status dtp_store_fail(bool *changed, db_conn *c, int64_t id,
    int attempt, const char *node, const char *error, tp_err *err);
TP_MUST_CHECK tp_status dtp_store_cancelled(bool *changed, db_conn *c,
    int64_t id, int attempt, const char *node, const char *error, tp_err *err);
TP_MUST_CHECK tp_status dtp_store_release(
    bool *changed, db_conn *c, int64_t id, int attempt, tp_err *err);

/* One succeeded attempt of a dtp_store_succeed_many batch. */
typedef struct dtp_succeeded {
	int64_t     id;
	int         attempt;
	const char *result;  /* borrowed; NULL: SQL NULL */
	bool        changed; /* out: as dtp_store_succeed's *changed */
} dtp_succeeded;

/*
 * dtp_store_succeed_many is dtp_store_succeed for n attempts (n >= 1) in one
 * statement, hence one commit, with each row fenced as there; fills every
 * s[i].changed on TP_OK. The statement is all or nothing: a result the
 * database refuses (TP_INVALID_ARGUMENT, say) fails the whole batch and
 * writes nothing, so each can then be written alone. Rerunning it after an
 * unknown outcome is harmless (a row already written no longer matches).
 */
TP_MUST_CHECK tp_status dtp_store_succeed_many(
    db_conn *c, const char *node, dtp_succeeded *s, int n, tp_err *err);

/*
 * dtp_store_renew extends the lease of every listed attempt that node still
 * holds, in one statement, and fills each lease's renewed and
 * cancel_requested.
 */
TP_MUST_CHECK tp_status dtp_store_renew(db_conn *c, const char *node,
    int64_t lease_ms, dtp_lease *leases, int n, tp_err *err);

/*
 * dtp_store_release_all hands the listed attempts of node back to PENDING
 * in one statement (shutdown, for handlers that did not stop in time);
 * *released counts them.
 */
TP_MUST_CHECK tp_status dtp_store_release_all(int *released, db_conn *c,
    const char *node, const dtp_lease *leases, int n, tp_err *err);

/*
 * dtp_store_reap ends the attempts whose lease expired (a lease never set
 * counts from started_at + lease_ms), on any node: back to PENDING, or
 * FAILED when attempts are exhausted, or CANCELLED when a cancel was
 * requested (finished_by node). *out counts them by the state they got.
 */
TP_MUST_CHECK tp_status dtp_store_reap(dtp_reaped *out, db_conn *c,
    const char *node, int64_t lease_ms, tp_err *err);

/*
 * dtp_store_stats counts the tasks by status (every node's) and the age of
 * the oldest due PENDING task, for the Metrics call. One pass over the
 * table: see store.c.
 */
TP_MUST_CHECK tp_status dtp_store_stats(
    dtp_stats *out, db_conn *c, tp_err *err);

#endif /* SCHEDULER_STORE_H */
