/*
 * store.c: pilot.web_task through db/ (see store.h). Every statement is a
 * constant string with parameters; db_exec prepares each once per
 * connection, keyed by its text.
 */
#include "pilot/store.h"

#include <inttypes.h>
#include <pb_decode.h>
#include <pb_encode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "pilot/webtask.h"

/*
 * The columns of a web task in every statement, in this order; the payload
 * comes last so that a statement may leave it out.
 */
#define COL_ID      0
#define COL_TITLE   1
#define COL_TYPE    2
#define COL_SCHED   3
#define COL_CREATED 4
#define COL_UPDATED 5
#define COL_EXEC    6
#define COL_SEEN    7
#define COL_PAYLOAD 8
#define COLS                                                \
	"id, title, type, scheduler_task_id, "              \
	"(extract(epoch from created_at) * 1000)::bigint, " \
	"(extract(epoch from updated_at) * 1000)::bigint, " \
	"execution_status, "                                \
	"(extract(epoch from execution_seen_at) * 1000)::bigint"

/* Unix-milliseconds parameters $1, $2, $4 as timestamptz, exactly. */
#define TS1 "(timestamptz 'epoch' + $1::bigint * interval '1 ms')"
#define TS2 "(timestamptz 'epoch' + $2::bigint * interval '1 ms')"
#define TS4 "(timestamptz 'epoch' + $4::bigint * interval '1 ms')"

/* The states that may still change; the others are final (DESIGN §5). */
#define NOT_FINAL "('PENDING', 'RUNNING')"

static const char sql_insert[]
    = "INSERT INTO pilot.web_task (title, type, payload) VALUES ($1, $2, $3) "
      "RETURNING " COLS;

static const char sql_get[]
    = "SELECT " COLS ", payload FROM pilot.web_task WHERE id = $1";

static const char sql_get_binding[]
    = "SELECT scheduler_task_id FROM pilot.web_task WHERE id = $1";

/*
 * The binding, and what CreateTask showed of the task ($3 NULL: nothing), in
 * one statement: a bound web task never lacks a status it could have had.
 */
static const char sql_bind[]
    = "UPDATE pilot.web_task SET scheduler_task_id = $1, updated_at = now(), "
      "execution_status = $3::text, "
      "execution_seen_at = CASE WHEN $3::text IS NOT NULL THEN " TS4 " END, "
      "execution_checked_at = CASE WHEN $3::text IS NOT NULL THEN " TS4
      " END WHERE id = $2 AND scheduler_task_id IS NULL "
      "RETURNING " COLS ", payload";

/*
 * The bind intent, stored before DTP is called, only while unbound: the
 * reconciler finishes what a crash cut short (README.md).
 */
static const char sql_request_bind[]
    = "UPDATE pilot.web_task SET bind_requested_at = now() "
      "WHERE id = $1 AND scheduler_task_id IS NULL "
      "RETURNING " COLS ", payload";

static const char sql_clear_bind_request[]
    = "UPDATE pilot.web_task SET bind_requested_at = NULL "
      "WHERE id = $1 AND scheduler_task_id IS NULL";

/*
 * Claim intents older than the grace period ($1 ms, on the database's clock,
 * which also stamped them): moving bind_requested_at to now() makes another
 * reconciler (another taskpilot) skip them for one more grace period, and so
 * spaces out the retries of one that keeps failing. SKIP LOCKED: two
 * reconcilers never wait for each other. ARRAY(...) runs the inner query once.
 */
static const char sql_claim_bind_requests[]
    = "WITH c AS (UPDATE pilot.web_task SET bind_requested_at = now() "
      "WHERE id = ANY (ARRAY(SELECT id FROM pilot.web_task "
      "WHERE scheduler_task_id IS NULL AND bind_requested_at IS NOT NULL "
      "AND bind_requested_at <= now() - $1::bigint * interval '1 ms' "
      "ORDER BY bind_requested_at, id LIMIT $2::int "
      "FOR UPDATE SKIP LOCKED)) AND scheduler_task_id IS NULL "
      "RETURNING id) SELECT id FROM c ORDER BY id";

/*
 * The execution cache: store what was seen at $4 only if it is not older
 * than what is stored (the seen time never moves backwards, so a slow reply
 * cannot overwrite a newer one), only for the task the web task is bound to,
 * and never over a final state with another state: a final state is the last
 * word about a task, whatever the clocks of two taskpilot nodes say.
 */
static const char sql_observe[]
    = "UPDATE pilot.web_task SET execution_status = $3::text, "
      "execution_seen_at = " TS4 ", "
      "execution_checked_at = greatest(execution_checked_at, " TS4 ") "
      "WHERE id = $1 AND scheduler_task_id = $2 "
      "AND (execution_seen_at IS NULL OR execution_seen_at <= " TS4 ") "
      "AND (execution_status IS NULL OR execution_status IN " NOT_FINAL
      " OR execution_status = $3::text)";

/*
 * The refresher's batch: bound web tasks whose cached state may still
 * change, not asked about since $2, least recently asked first (never asked:
 * first of all). Marking them asked ($1) as they are claimed sends a task
 * DTP cannot answer for to the back of the queue, so it never starves the
 * others, and lets several taskpilot nodes share the work.
 */
static const char sql_claim_refresh[]
    = "WITH c AS (UPDATE pilot.web_task SET execution_checked_at = " TS1
      " WHERE id = ANY (ARRAY(SELECT id FROM pilot.web_task "
      "WHERE scheduler_task_id IS NOT NULL AND (execution_status IS NULL "
      "OR execution_status IN " NOT_FINAL ") "
      "AND (execution_checked_at IS NULL OR execution_checked_at < " TS2
      ") ORDER BY execution_checked_at NULLS FIRST, id LIMIT $3::int "
      "FOR UPDATE SKIP LOCKED)) AND scheduler_task_id IS NOT NULL "
      "RETURNING id, scheduler_task_id) "
      "SELECT id, scheduler_task_id FROM c ORDER BY id";

/*
 * A page: the inner query numbers the rows in the order asked and keeps a
 * running estimate of their encoded size (octet_length reads the stored
 * length without detoasting); the outer one sends a payload only while the
 * estimate stays within $5, so a page of large payloads never pulls more
 * than one reply's worth out of the database. The first row is always sent
 * whole: the exact check in C decides about it. $4 is the limit plus one, to
 * learn whether more rows follow. The cursor bound is always applied (0 and
 * INT64_MAX mean "from the start"), so the primary key index serves it.
 */
#define LIST_OUTER                                                            \
	"SELECT id, title, type, scheduler_task_id, created_ms, updated_ms, " \
	"execution_status, seen_ms, "                                         \
	"CASE WHEN fits THEN payload END, fits FROM (SELECT *, "              \
	"running <= $5::bigint OR rn = 1 AS fits FROM (SELECT id, title, "    \
	"type, scheduler_task_id, "                                           \
	"(extract(epoch from created_at) * 1000)::bigint AS created_ms, "     \
	"(extract(epoch from updated_at) * 1000)::bigint AS updated_ms, "     \
	"execution_status, "                                                  \
	"(extract(epoch from execution_seen_at) * 1000)::bigint AS seen_ms, " \
	"payload, row_number() OVER w AS rn, "                                \
	"sum(octet_length(payload) + coalesce(octet_length(title), 0) + "     \
	"octet_length(type) + 96) OVER w AS running "                         \
	"FROM pilot.web_task WHERE "
#define LIST_FILTER                                \
	" AND ($2::text = '' OR type = $2::text) " \
	"AND ($3::boolean IS NULL OR "             \
	"(scheduler_task_id IS NOT NULL) = $3::boolean) "

static const char sql_list_asc[]
    = LIST_OUTER "id > $1::bigint" LIST_FILTER
                 "WINDOW w AS (ORDER BY id ROWS UNBOUNDED PRECEDING) "
                 "ORDER BY id LIMIT $4::int) a) b ORDER BY id";

static const char sql_list_desc[]
    = LIST_OUTER "id < $1::bigint" LIST_FILTER
                 "WINDOW w AS (ORDER BY id DESC ROWS UNBOUNDED PRECEDING) "
                 "ORDER BY id DESC LIMIT $4::int) a) b ORDER BY id DESC";

#define LIST_COL_FITS 9

/* Room for the reply around the tasks: status, oneof header, cursor. */
#define LIST_REPLY_OVERHEAD 64

/*
 * row_to_task fills t from row i of r; payload from column COL_PAYLOAD when
 * with_payload, else a copy of payload (may be NULL for "").
 */
static void
row_to_task(pilot_v1_WebTask *t, const db_rows *r, int i, bool with_payload,
    const char *payload)
{
	memset(t, 0, sizeof(*t));
	t->id = db_rows_int64(r, i, COL_ID);
	snprintf(
	    t->title, sizeof(t->title), "%s", db_rows_get(r, i, COL_TITLE));
	snprintf(t->type, sizeof(t->type), "%s", db_rows_get(r, i, COL_TYPE));
	if (!db_rows_is_null(r, i, COL_SCHED)) {
		t->has_scheduler_task_id = true;
		t->scheduler_task_id     = db_rows_int64(r, i, COL_SCHED);
	}
	t->created_at_ms = db_rows_int64(r, i, COL_CREATED);
	t->updated_at_ms = db_rows_int64(r, i, COL_UPDATED);
	if (!db_rows_is_null(r, i, COL_EXEC)) {
		t->execution_status
		    = pilot_webtask_status_parse(db_rows_get(r, i, COL_EXEC));
		t->execution_seen_at_ms = db_rows_int64(r, i, COL_SEEN);
	}
	t->payload
	    = tp_xstrdup(with_payload ? db_rows_get(r, i, COL_PAYLOAD)
	                              : (payload != NULL ? payload : ""));
}

tp_status
pilot_store_insert(db_conn *db, pilot_v1_WebTask *out, const char *title,
    const char *type, const char *payload, tp_err *err)
{
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	const char *params[3];

	params[0] = title != NULL && title[0] != '\0' ? title : NULL;
	params[1] = type;
	params[2] = payload != NULL ? payload : "";
	rc        = db_exec(db, &rows, sql_insert, 3, params, err);
	if (rc != TP_OK) {
		goto out;
	}
	if (db_rows_count(rows) != 1) {
		rc = tp_err_set(err, TP_INTERNAL, "internal error");
		goto out;
	}
	row_to_task(out, rows, 0, false, params[2]);
out:
	db_rows_free(rows);
	return rc;
}

tp_status
pilot_store_get(db_conn *db, pilot_v1_WebTask *out, int64_t id, tp_err *err)
{
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	char        idbuf[32];
	const char *params[1] = { idbuf };

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	if ((rc = db_exec(db, &rows, sql_get, 1, params, err)) != TP_OK) {
		goto out;
	}
	if (db_rows_count(rows) == 0) {
		rc = tp_err_set(
		    err, TP_NOT_FOUND, "web task %" PRId64 " not found", id);
		goto out;
	}
	row_to_task(out, rows, 0, true, NULL);
out:
	db_rows_free(rows);
	return rc;
}

tp_status
pilot_store_get_binding(
    db_conn *db, int64_t *scheduler_task_id, int64_t id, tp_err *err)
{
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	char        idbuf[32];
	const char *params[1] = { idbuf };

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	rc = db_exec(db, &rows, sql_get_binding, 1, params, err);
	if (rc != TP_OK) {
		goto out;
	}
	if (db_rows_count(rows) == 0) {
		rc = tp_err_set(
		    err, TP_NOT_FOUND, "web task %" PRId64 " not found", id);
		goto out;
	}
	*scheduler_task_id = db_rows_int64(rows, 0, 0);
out:
	db_rows_free(rows);
	return rc;
}

tp_status
pilot_store_bind(db_conn *db, pilot_v1_WebTask *out, bool *updated, int64_t id,
    int64_t scheduler_task_id, const pilot_store_seen *seen, tp_err *err)
{
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	const char *status
	    = seen != NULL ? pilot_webtask_status_name(seen->status) : NULL;
	char        schedbuf[32];
	char        idbuf[32];
	char        seenbuf[32];
	const char *params[4] = { schedbuf, idbuf, status, seenbuf };

	snprintf(schedbuf, sizeof(schedbuf), "%" PRId64, scheduler_task_id);
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	snprintf(seenbuf, sizeof(seenbuf), "%" PRId64,
	    status != NULL ? seen->seen_at_ms : (int64_t) 0);
	rc = db_exec(db, &rows, sql_bind, 4, params, err);
	if (rc == TP_ALREADY_EXISTS) {
		/* The unique index: DTP gave us an id another row holds. */
		rc = tp_err_set(err, TP_ALREADY_EXISTS,
		    "scheduler task %" PRId64
		    " is already bound to another web task",
		    scheduler_task_id);
		goto out;
	}
	if (rc != TP_OK) {
		goto out;
	}
	if (db_rows_count(rows) == 1) {
		row_to_task(out, rows, 0, true, NULL);
		*updated = true;
		goto out;
	}
	/* Someone bound it first (or the row is gone): show what won. */
	if ((rc = pilot_store_get(db, out, id, err)) != TP_OK) {
		goto out;
	}
	*updated = false;
out:
	db_rows_free(rows);
	return rc;
}

tp_status
pilot_store_request_bind(
    db_conn *db, pilot_v1_WebTask *out, int64_t id, tp_err *err)
{
	tp_status        rc   = TP_OK;
	db_rows         *rows = NULL;
	pilot_v1_WebTask cur  = pilot_v1_WebTask_init_zero;
	char             idbuf[32];
	const char      *params[1] = { idbuf };

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	rc = db_exec(db, &rows, sql_request_bind, 1, params, err);
	if (rc != TP_OK) {
		goto out;
	}
	if (db_rows_count(rows) == 1) {
		row_to_task(out, rows, 0, true, NULL);
		goto out;
	}
	/* Gone, or bound: say which (NOT_FOUND comes from the read). */
	if ((rc = pilot_store_get(db, &cur, id, err)) != TP_OK) {
		goto out;
	}
	rc = tp_err_set(err, TP_FAILED_PRECONDITION,
	    "web task %" PRId64 " is already bound to scheduler task %" PRId64,
	    id, cur.scheduler_task_id);
out:
	pb_release(pilot_v1_WebTask_fields, &cur);
	db_rows_free(rows);
	return rc;
}

tp_status
pilot_store_clear_bind_request(db_conn *db, int64_t id, tp_err *err)
{
	char        idbuf[32];
	const char *params[1] = { idbuf };

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	return db_exec(db, NULL, sql_clear_bind_request, 1, params, err);
}

tp_status
pilot_store_claim_bind_requests(db_conn *db, int64_t *ids, size_t *n,
    size_t max, int64_t grace_ms, tp_err *err)
{
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	char        gracebuf[32];
	char        maxbuf[32];
	const char *params[2] = { gracebuf, maxbuf };
	size_t      got;

	if (max == 0 || max > PILOT_STORE_MAX_BATCH || grace_ms < 0) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "cannot claim %zu bind requests older than %" PRId64 " ms",
		    max, grace_ms);
	}
	snprintf(gracebuf, sizeof(gracebuf), "%" PRId64, grace_ms);
	snprintf(maxbuf, sizeof(maxbuf), "%zu", max);
	rc = db_exec(db, &rows, sql_claim_bind_requests, 2, params, err);
	if (rc != TP_OK) {
		goto out;
	}
	got = (size_t) db_rows_count(rows);
	for (size_t i = 0; i < got && i < max; i++) {
		ids[i] = db_rows_int64(rows, (int) i, 0);
	}
	*n = got < max ? got : max;
out:
	db_rows_free(rows);
	return rc;
}

tp_status
pilot_store_observe(db_conn *db, bool *stored, int64_t id,
    int64_t scheduler_task_id, const pilot_store_seen *seen, tp_err *err)
{
	tp_status   rc     = TP_OK;
	db_rows    *rows   = NULL;
	const char *status = pilot_webtask_status_name(seen->status);
	char        idbuf[32];
	char        schedbuf[32];
	char        seenbuf[32];
	const char *params[4] = { idbuf, schedbuf, status, seenbuf };

	if (status == NULL) {
		/* UNSPECIFIED says nothing about the task: keep what we have.
		 */
		*stored = false;
		return TP_OK;
	}
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	snprintf(schedbuf, sizeof(schedbuf), "%" PRId64, scheduler_task_id);
	snprintf(seenbuf, sizeof(seenbuf), "%" PRId64, seen->seen_at_ms);
	rc = db_exec(db, &rows, sql_observe, 4, params, err);
	if (rc != TP_OK) {
		goto out;
	}
	*stored = db_rows_affected(rows) == 1;
out:
	db_rows_free(rows);
	return rc;
}

tp_status
pilot_store_claim_refresh(db_conn *db, pilot_store_ref *refs, size_t *n,
    size_t max, int64_t now_ms, int64_t asked_before_ms, tp_err *err)
{
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	char        nowbuf[32];
	char        beforebuf[32];
	char        maxbuf[32];
	const char *params[3] = { nowbuf, beforebuf, maxbuf };
	size_t      got;

	if (max == 0 || max > PILOT_STORE_MAX_BATCH) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "cannot claim %zu web tasks to refresh", max);
	}
	snprintf(nowbuf, sizeof(nowbuf), "%" PRId64, now_ms);
	snprintf(beforebuf, sizeof(beforebuf), "%" PRId64, asked_before_ms);
	snprintf(maxbuf, sizeof(maxbuf), "%zu", max);
	rc = db_exec(db, &rows, sql_claim_refresh, 3, params, err);
	if (rc != TP_OK) {
		goto out;
	}
	got = (size_t) db_rows_count(rows);
	for (size_t i = 0; i < got && i < max; i++) {
		refs[i].id                = db_rows_int64(rows, (int) i, 0);
		refs[i].scheduler_task_id = db_rows_int64(rows, (int) i, 1);
	}
	*n = got < max ? got : max;
out:
	db_rows_free(rows);
	return rc;
}

/* varint_size is the encoded length of a length prefix. */
static size_t
varint_size(size_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

tp_status
pilot_store_list(db_conn *db, pilot_v1_ListWebTasksReply *out,
    const pilot_store_filter *f, tp_err *err)
{
	tp_status                  rc   = TP_OK;
	db_rows                   *rows = NULL;
	pilot_v1_ListWebTasksReply page = pilot_v1_ListWebTasksReply_init_zero;
	char                       after[32];
	char                       limit[16];
	char                       budget[32];
	const char                *params[5];
	size_t                     max_tasks_bytes;
	size_t                     used = 0;
	int                        n;

	if (f->max_bytes <= LIST_REPLY_OVERHEAD) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "cannot list web tasks in %zu bytes", f->max_bytes);
	}
	max_tasks_bytes = f->max_bytes - LIST_REPLY_OVERHEAD;
	if (f->after_id > 0) {
		snprintf(after, sizeof(after), "%" PRId64, f->after_id);
	} else {
		snprintf(after, sizeof(after), "%" PRId64,
		    f->newest_first ? INT64_MAX : (int64_t) 0);
	}
	snprintf(limit, sizeof(limit), "%d", f->limit + 1);
	snprintf(budget, sizeof(budget), "%zu", max_tasks_bytes);
	params[0] = after;
	params[1] = f->type != NULL ? f->type : "";
	params[2] = f->has_bound ? (f->bound ? "true" : "false") : NULL;
	params[3] = limit;
	params[4] = budget;
	rc = db_exec(db, &rows, f->newest_first ? sql_list_desc : sql_list_asc,
	    5, params, err);
	if (rc != TP_OK) {
		goto out;
	}
	n = db_rows_count(rows);
	if (n > f->limit) {
		n = f->limit;
		/* The extra row says more follow. */
	}
	page.tasks = tp_xcalloc((size_t) (n > 0 ? n : 1), sizeof(*page.tasks));
	for (int i = 0; i < n; i++) {
		pilot_v1_WebTask *t = &page.tasks[page.tasks_count];
		size_t            sz;

		if (!db_rows_bool(rows, i, LIST_COL_FITS)) {
			break;
		}
		row_to_task(t, rows, i, true, NULL);
		if (!pb_get_encoded_size(&sz, pilot_v1_WebTask_fields, t)) {
			pb_release(pilot_v1_WebTask_fields, t);
			rc = tp_err_set(err, TP_INTERNAL, "internal error");
			goto out;
		}
		sz += 1 + varint_size(sz); /* the field's tag and length */
		if (used + sz > max_tasks_bytes) {
			pb_release(pilot_v1_WebTask_fields, t);
			memset(t, 0, sizeof(*t));
			if (page.tasks_count == 0) {
				rc = tp_err_set(err, TP_RESOURCE_EXHAUSTED,
				    "web task %" PRId64
				    " does not fit in a reply of %zu bytes",
				    db_rows_int64(rows, i, COL_ID),
				    f->max_bytes);
				goto out;
			}
			break;
		}
		used += sz;
		page.tasks_count++;
	}
	if (page.tasks_count > 0 && db_rows_count(rows) > page.tasks_count) {
		page.next_after_id = page.tasks[page.tasks_count - 1].id;
	}
	if (page.tasks_count == 0) {
		free(page.tasks);
		page.tasks = NULL;
	}
	*out = page;
	memset(&page, 0, sizeof(page));
out:
	pb_release(pilot_v1_ListWebTasksReply_fields, &page);
	db_rows_free(rows);
	return rc;
}

tp_status
pilot_store_ping(db_conn *db, tp_err *err)
{
	return db_exec(db, NULL, "SELECT 1", 0, NULL, err);
}
