/*
 * store.h: web tasks in pilot.web_task (DESIGN §4), with their binding, the
 * bind intent and the execution cache (pilot/README.md). Every statement is
 * parameterised; timestamps come back as unix milliseconds computed by SQL.
 * The db_conn is the calling thread's own (one per RPC worker, one for the
 * background thread), never shared. Statuses are db/'s mapping (UNAVAILABLE
 * when the database is gone, INTERNAL otherwise) plus the ones each function
 * names.
 *
 * Every web task read here (insert, get, bind, request_bind, list) carries
 * its cached execution state: execution_status from the execution_status
 * column (UNSPECIFIED when never seen) and execution_seen_at_ms (0 then).
 *
 * Ownership: a pilot_v1_WebTask written here owns its heap payload; the
 * caller releases it with pb_release(pilot_v1_WebTask_fields, t). A
 * pilot_v1_ListWebTasksReply owns its tasks array and their payloads:
 * pb_release(pilot_v1_ListWebTasksReply_fields, r). Outputs are written only
 * on TP_OK.
 */
#ifndef PILOT_STORE_H
#define PILOT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "db/conn.h"
#include "dtp.pb.h"
#include "pilot.pb.h"

/* The most rows one claim (reconciler, refresher) takes. */
#define PILOT_STORE_MAX_BATCH 1000

/* What TaskPilot saw of a DTP task, and when (its own clock, Unix ms). */
typedef struct pilot_store_seen {
	dtp_v1_TaskStatus status; /* UNSPECIFIED: nothing to store */
	int64_t           seen_at_ms;
} pilot_store_seen;

/* A bound web task and its DTP task. */
typedef struct pilot_store_ref {
	int64_t id;
	int64_t scheduler_task_id;
} pilot_store_ref;

/*
 * pilot_store_insert stores a new, unbound web task. title may be NULL or ""
 * (no title); payload NULL is "". The inputs are borrowed and must already
 * be valid (webtask.h). Returns TP_OK with the stored row in *out. Blocks.
 */
TP_MUST_CHECK tp_status pilot_store_insert(db_conn *db, pilot_v1_WebTask *out,
    const char *title, const char *type, const char *payload, tp_err *err);

/*
 * pilot_store_get reads web task id. Returns TP_OK with *out, or
 * TP_NOT_FOUND "web task 4 not found". Blocks.
 */
TP_MUST_CHECK tp_status pilot_store_get(
    db_conn *db, pilot_v1_WebTask *out, int64_t id, tp_err *err);

/*
 * pilot_store_get_binding reads only the binding of web task id (no
 * payload): *scheduler_task_id is 0 when it is unbound. Returns TP_OK or
 * TP_NOT_FOUND "web task 4 not found". Blocks.
 */
TP_MUST_CHECK tp_status pilot_store_get_binding(
    db_conn *db, int64_t *scheduler_task_id, int64_t id, tp_err *err);

/*
 * pilot_store_bind stores the binding of web task id to scheduler_task_id,
 * only if it is still unbound (UPDATE ... WHERE scheduler_task_id IS NULL),
 * together with what CreateTask showed of the task (seen; NULL or an
 * UNSPECIFIED status: nothing), and returns the row as it is afterwards in
 * *out: *updated tells whether this call bound it. When it did not, *out
 * shows whatever binding won (the caller compares). Returns TP_OK,
 * TP_NOT_FOUND when the row is gone, or TP_ALREADY_EXISTS when another web
 * task holds that scheduler task id. Blocks.
 */
TP_MUST_CHECK tp_status pilot_store_bind(db_conn *db, pilot_v1_WebTask *out,
    bool *updated, int64_t id, int64_t scheduler_task_id,
    const pilot_store_seen *seen, tp_err *err);

/*
 * pilot_store_request_bind stores the bind intent of web task id
 * (bind_requested_at = now(), on the database's clock) if it is unbound, in
 * the statement that checks so, and returns the row in *out. Returns TP_OK;
 * TP_NOT_FOUND "web task 4 not found"; TP_FAILED_PRECONDITION "web task 4
 * is already bound to scheduler task 1". Blocks.
 */
TP_MUST_CHECK tp_status pilot_store_request_bind(
    db_conn *db, pilot_v1_WebTask *out, int64_t id, tp_err *err);

/*
 * pilot_store_clear_bind_request drops the bind intent of web task id while
 * it is unbound (after DTP refused the task for good: retrying cannot help).
 * TP_OK also when there was none. Blocks.
 */
TP_MUST_CHECK tp_status pilot_store_clear_bind_request(
    db_conn *db, int64_t id, tp_err *err);

/*
 * pilot_store_claim_bind_requests claims up to max (1..1000) unbound web
 * tasks whose bind intent is at least grace_ms old (the database's clock),
 * oldest first, by moving their intent to now(): no other reconciler takes
 * them for another grace period. Writes their ids, ascending, to ids (room
 * for max) and the count to *n. TP_INVALID_ARGUMENT for a bad max or a
 * negative grace. Blocks.
 */
TP_MUST_CHECK tp_status pilot_store_claim_bind_requests(db_conn *db,
    int64_t *ids, size_t *n, size_t max, int64_t grace_ms, tp_err *err);

/*
 * pilot_store_observe stores seen as the cached execution state of web task
 * id, if it is bound to scheduler_task_id, the stored state is not newer
 * (execution_seen_at <= seen->seen_at_ms) and is not a final state other
 * than seen's. *stored tells whether it was written (an UNSPECIFIED status
 * is never written). Returns TP_OK or db/'s status. Blocks.
 */
TP_MUST_CHECK tp_status pilot_store_observe(db_conn *db, bool *stored,
    int64_t id, int64_t scheduler_task_id, const pilot_store_seen *seen,
    tp_err *err);

/*
 * pilot_store_claim_refresh claims up to max (1..1000) bound web tasks whose
 * cached state is absent or not final and that nobody asked DTP about since
 * asked_before_ms, least recently asked first (never asked: first), and
 * marks them asked at now_ms (TaskPilot's clock, Unix ms). Writes them,
 * ascending by id, to refs (room for max) and the count to *n.
 * TP_INVALID_ARGUMENT for a bad max. Blocks.
 */
TP_MUST_CHECK tp_status pilot_store_claim_refresh(db_conn *db,
    pilot_store_ref *refs, size_t *n, size_t max, int64_t now_ms,
    int64_t asked_before_ms, tp_err *err);

typedef struct pilot_store_filter {
	int     limit;    /* rows wanted, 1..1000 */
	int64_t after_id; /* cursor: ids past this one in the order asked; 0:
	                     from the start */
	const char *type; /* NULL or "": any type (borrowed) */
	bool        has_bound; /* whether to filter on the binding */
	bool        bound;     /* when has_bound: bound ones or unbound ones */
	bool        newest_first; /* descending ids */
	size_t max_bytes; /* the encoded tasks stay within this many bytes */
} pilot_store_filter;

/*
 * pilot_store_list reads one page of web tasks in id order. It stops before
 * the page's encoding would pass f->max_bytes; whenever more rows may follow
 * (the limit or the size stopped it) next_after_id is the last id returned,
 * else 0. Returns TP_OK with *out, or TP_RESOURCE_EXHAUSTED when even the
 * first row does not fit in max_bytes. Blocks.
 */
TP_MUST_CHECK tp_status pilot_store_list(db_conn *db,
    pilot_v1_ListWebTasksReply *out, const pilot_store_filter *f, tp_err *err);

/*
 * pilot_store_ping runs "SELECT 1". TP_OK when the database answered. Blocks.
 */
TP_MUST_CHECK tp_status pilot_store_ping(db_conn *db, tp_err *err);

#endif /* PILOT_STORE_H */
