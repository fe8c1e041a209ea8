/*
 * store.c: the SQL of DTP (store.h). Every statement is parameterised and
 * written out here in full; every state change checks its row of the
 * transition table first and names the state (and attempt) it expects in
 * its WHERE clause, so a late writer changes nothing.
 */
#include "store.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>

#include "common/log.h"
#include "common/mem.h"

/* The columns of a task, in the order row_to_task reads them. */
#define TASK_COLS                                                            \
	"id, type, payload, status, attempts, max_attempts, timeout_ms, "    \
	"floor(extract(epoch FROM run_at) * 1000)::int8, "                   \
	"idempotency_key, cancel_requested, result, last_error, "            \
	"floor(extract(epoch FROM created_at) * 1000)::int8, "               \
	"floor(extract(epoch FROM updated_at) * 1000)::int8, "               \
	"coalesce(floor(extract(epoch FROM started_at) * 1000)::int8, 0), "  \
	"coalesce(floor(extract(epoch FROM finished_at) * 1000)::int8, 0), " \
	"locked_by, coalesce(backoff_base_ms, 0), coalesce(backoff_max_ms, 0)"
/* TASK_COLS for a statement that joins another relation to dtp.task t. */
#define TASK_COLS_T                                                            \
	"t.id, t.type, t.payload, t.status, t.attempts, t.max_attempts, "      \
	"t.timeout_ms, floor(extract(epoch FROM t.run_at) * 1000)::int8, "     \
	"t.idempotency_key, t.cancel_requested, t.result, t.last_error, "      \
	"floor(extract(epoch FROM t.created_at) * 1000)::int8, "               \
	"floor(extract(epoch FROM t.updated_at) * 1000)::int8, "               \
	"coalesce(floor(extract(epoch FROM t.started_at) * 1000)::int8, 0), "  \
	"coalesce(floor(extract(epoch FROM t.finished_at) * 1000)::int8, 0), " \
	"t.locked_by, coalesce(t.backoff_base_ms, 0), "                        \
	"coalesce(t.backoff_max_ms, 0)"
#define N_TASK_COLS 19

/*
 * The fingerprint of (type, payload): md5 of the length-prefixed type and
 * the payload, so that ("ab", "c") and ("a", "bc") differ. FP_12 takes the
 * type from $1 and the payload from $2, FP_23 from $2 and $3.
 */
#define FP_12 "md5(octet_length($1::text)::text || ':' || $1::text || $2::text)"
#define FP_23 "md5(octet_length($2::text)::text || ':' || $2::text || $3::text)"

/* Milliseconds in parameter $2 or $3 as an interval. */
#define MS_2 "($2::float8 * interval '1 millisecond')"
#define MS_3 "($3::float8 * interval '1 millisecond')"
/* The lease in $1, for the reaper. */
#define MS_1 "($1::float8 * interval '1 millisecond')"

/* A transition the code is about to write must be in the table. */
static void
check_transition(dtp_state from, dtp_state to, dtp_event ev)
{
	const dtp_transition *t = dtp_transition_find(from, to, ev);

	assert(t != NULL);
	(void) t;
}

static void
fmt_i64(char *buf, size_t size, int64_t v)
{
	snprintf(buf, size, "%" PRId64, v);
}

static void
copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

static void
row_to_task(dtp_v1_Task *t, const db_rows *r, int i)
{
	dtp_state st = DTP_STATE_PENDING;

	memset(t, 0, sizeof(*t));
	t->id = db_rows_int64(r, i, 0);
	copy_str(t->type, sizeof(t->type), db_rows_get(r, i, 1));
	t->payload = tp_xstrdup(db_rows_get(r, i, 2));
	if (dtp_state_parse(&st, db_rows_get(r, i, 3))) {
		t->status = (dtp_v1_TaskStatus) st;
	} else {
		t->status = dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED;
	}
	t->attempts     = (int32_t) db_rows_int64(r, i, 4);
	t->max_attempts = (int32_t) db_rows_int64(r, i, 5);
	t->timeout_ms   = db_rows_int64(r, i, 6);
	t->run_at_ms    = db_rows_int64(r, i, 7);
	copy_str(t->idempotency_key, sizeof(t->idempotency_key),
	    db_rows_get(r, i, 8));
	t->cancel_requested = db_rows_bool(r, i, 9);
	if (!db_rows_is_null(r, i, 10)) {
		t->result = tp_xstrdup(db_rows_get(r, i, 10));
	}
	copy_str(t->last_error, sizeof(t->last_error), db_rows_get(r, i, 11));
	t->created_at_ms  = db_rows_int64(r, i, 12);
	t->updated_at_ms  = db_rows_int64(r, i, 13);
	t->started_at_ms  = db_rows_int64(r, i, 14);
	t->finished_at_ms = db_rows_int64(r, i, 15);
	copy_str(t->locked_by, sizeof(t->locked_by), db_rows_get(r, i, 16));
	t->backoff_base_ms = db_rows_int64(r, i, 17);
	t->backoff_max_ms  = db_rows_int64(r, i, 18);
}

static void
rows_to_tasks(dtp_v1_Task **out, int *n, const db_rows *r)
{
	int          count = db_rows_count(r);
	dtp_v1_Task *tasks = NULL;

	if (count > 0) {
		tasks = tp_xcalloc((size_t) count, sizeof(*tasks));
		for (int i = 0; i < count; i++) {
			row_to_task(&tasks[i], r, i);
		}
	}
	*out = tasks;
	*n   = count;
}

void
dtp_store_tasks_free(dtp_v1_Task *tasks, int n)
{
	if (tasks == NULL) {
		return;
	}
	for (int i = 0; i < n; i++) {
		pb_release(dtp_v1_Task_fields, &tasks[i]);
	}
	free(tasks);
}

/* CreateTask. No NOTIFY here: PostgreSQL serialises the commits of
 * transactions that notify, so the dispatcher sends one for many creates
 * (dtp_pool_announce). */
static const char *const sql_create
    = "INSERT INTO dtp.task (type, payload, max_attempts, timeout_ms, run_at,"
      " idempotency_key, fingerprint, backoff_base_ms, backoff_max_ms)"
      " VALUES ($1::text, $2::text, $3::int4, $4::int8,"
      " coalesce(to_timestamp($5::float8 / 1000), now()), $6::text,"
      " CASE WHEN $6::text IS NULL THEN NULL"
      " ELSE " FP_12 " END, $7::int8, $8::int8)"
      " ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL"
      " DO NOTHING"
      " RETURNING " TASK_COLS;

/* The row that holds the key, and whether its fingerprint matches. */
static const char *const sql_by_key
    = "SELECT " TASK_COLS ", fingerprint IS NOT DISTINCT FROM " FP_23
      " FROM dtp.task WHERE idempotency_key = $1::text";

tp_status
dtp_store_create_by_key(dtp_v1_Task *out, bool *replayed, db_conn *c,
    const dtp_new_task *nt, tp_err *err)
{
	tp_status   rc    = TP_OK;
	db_rows    *rows  = NULL;
	const char *kp[3] = { nt->idempotency_key, nt->type, nt->payload };

	if (nt->idempotency_key == NULL) {
		tp_log_error(
		    "dtp.store", "insert without a key returned no row");
		return tp_err_set(err, TP_INTERNAL, "internal error");
	}
	/*
	 * ON CONFLICT waited for the transaction that took the key, so the
	 * row is committed and this new statement sees it.
	 */
	if ((rc = db_exec(c, &rows, sql_by_key, 3, kp, err)) != TP_OK) {
		goto out;
	}
	if (db_rows_count(rows) != 1) {
		rc = tp_err_set(err, TP_UNAVAILABLE,
		    "could not create task: idempotency key \"%s\" is in use "
		    "but its task is not visible yet",
		    nt->idempotency_key);
		goto out;
	}
	if (!db_rows_bool(rows, 0, N_TASK_COLS)) {
		rc = tp_err_set(err, TP_ALREADY_EXISTS,
		    "idempotency key \"%s\" is already used by task %" PRId64
		    " with a different type or payload",
		    nt->idempotency_key, db_rows_int64(rows, 0, 0));
		goto out;
	}
	row_to_task(out, rows, 0);
	*replayed = true;
out:
	db_rows_free(rows);
	return rc;
}

tp_status
dtp_store_create(dtp_v1_Task *out, bool *replayed, db_conn *c,
    const dtp_new_task *nt, tp_err *err)
{
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	char        max_attempts[24];
	char        timeout_ms[24];
	char        run_at[24];
	char        base[24];
	char        max[24];
	const char *params[8];

	fmt_i64(max_attempts, sizeof(max_attempts), nt->max_attempts);
	fmt_i64(timeout_ms, sizeof(timeout_ms), nt->timeout_ms);
	fmt_i64(run_at, sizeof(run_at), nt->run_at_ms);
	fmt_i64(base, sizeof(base), nt->backoff_base_ms);
	fmt_i64(max, sizeof(max), nt->backoff_max_ms);
	params[0] = nt->type;
	params[1] = nt->payload;
	params[2] = max_attempts;
	params[3] = timeout_ms;
	params[4] = nt->run_at_ms > 0 ? run_at : NULL;
	params[5] = nt->idempotency_key;
	params[6] = nt->backoff_base_ms > 0 ? base : NULL;
	params[7] = nt->backoff_max_ms > 0 ? max : NULL;
	if ((rc = db_exec(c, &rows, sql_create, 8, params, err)) != TP_OK) {
		goto out;
	}
	if (db_rows_count(rows) == 1) {
		row_to_task(out, rows, 0);
		*replayed = false;
		goto out;
	}
	/* The key is taken. */
	rc = dtp_store_create_by_key(out, replayed, c, nt, err);
out:
	db_rows_free(rows);
	return rc;
}

/*
 * sql_create for many tasks, one array element each: $1 types, $2
 * payloads, $3 max_attempts, $4 timeouts, $5 run_at in ms, $6 keys, $7
 * backoff bases, $8 backoff maxima (NULL elements as sql_create's NULLs).
 * RETURNING comes in no defined order and says nothing of the rows that
 * found their key taken, so each input row draws its id from the table's
 * sequence first (as the column default would: a taken key burns one in
 * both) and the answer is the input LEFT JOINed to the inserted rows by
 * id, in input order: a NULL id is a taken key. The keyed rows insert in
 * key order, so that two batches (of two nodes) wanting each other's keys
 * wait for each other in one order and never deadlock; among equal keys
 * the earlier row inserts and the later one finds the key taken, as if
 * they had come one after the other.
 */
static const char *const sql_create_many
    = "WITH input AS MATERIALIZED ("
      " SELECT u.ord, nextval('dtp.task_id_seq'::regclass) AS id,"
      " u.type, u.payload, u.max_attempts, u.timeout_ms, u.run_at_ms,"
      " u.idempotency_key, u.backoff_base_ms, u.backoff_max_ms"
      " FROM unnest($1::text[], $2::text[], $3::int4[], $4::int8[],"
      " $5::int8[], $6::text[], $7::int8[], $8::int8[]) WITH ORDINALITY"
      " AS u(type, payload, max_attempts, timeout_ms, run_at_ms,"
      " idempotency_key, backoff_base_ms, backoff_max_ms, ord)),"
      " ins AS (INSERT INTO dtp.task (id, type, payload, max_attempts,"
      " timeout_ms, run_at, idempotency_key, fingerprint, backoff_base_ms,"
      " backoff_max_ms)"
      " SELECT id, type, payload, max_attempts, timeout_ms,"
      " coalesce(to_timestamp(run_at_ms::float8 / 1000), now()),"
      " idempotency_key,"
      " CASE WHEN idempotency_key IS NULL THEN NULL"
      " ELSE md5(octet_length(type)::text || ':' || type || payload) END,"
      " backoff_base_ms, backoff_max_ms"
      " FROM input ORDER BY idempotency_key, ord"
      " ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL"
      " DO NOTHING"
      " RETURNING *)"
      " SELECT " TASK_COLS_T ", i.ord"
      " FROM input i LEFT JOIN ins t ON t.id = i.id ORDER BY i.ord";

/*
 * A growing text-format array literal (array_in's syntax), for the
 * statements that take a column of values as one array parameter.
 */
typedef struct arr_lit {
	char  *buf;
	size_t len;
	size_t cap;
} arr_lit;

static void
arr_lit_reserve(arr_lit *a, size_t more)
{
	if (a->len + more + 1 > a->cap) {
		size_t cap = a->cap > 0 ? a->cap : 64;
		while (a->len + more + 1 > cap) {
			cap *= 2;
		}
		a->buf = tp_xrealloc(a->buf, cap);
		a->cap = cap;
	}
}

static void
arr_lit_raw(arr_lit *a, const char *s, size_t n)
{
	arr_lit_reserve(a, n);
	memcpy(a->buf + a->len, s, n);
	a->len += n;
	a->buf[a->len] = '\0';
}

/* arr_lit_sep opens the literal before the first element, else a comma. */
static void
arr_lit_sep(arr_lit *a)
{
	arr_lit_raw(a, a->len == 0 ? "{" : ",", 1);
}

/*
 * arr_lit_text appends s as one element, double-quoted with '"' and '\'
 * escaped by a backslash: inside quotes that is all array_in unescapes, so
 * everything else (commas, braces, spaces, the word NULL, any UTF-8) stands
 * for itself. s == NULL is the bare word NULL, an SQL NULL.
 */
static void
arr_lit_text(arr_lit *a, const char *s)
{
	size_t n = 2;

	arr_lit_sep(a);
	if (s == NULL) {
		arr_lit_raw(a, "NULL", 4);
		return;
	}
	for (const char *p = s; *p != '\0'; p++) {
		n += *p == '"' || *p == '\\' ? 2 : 1;
	}
	arr_lit_reserve(a, n);
	a->buf[a->len++] = '"';
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			a->buf[a->len++] = '\\';
		}
		a->buf[a->len++] = *p;
	}
	a->buf[a->len++] = '"';
	a->buf[a->len]   = '\0';
}

/* arr_lit_int appends v, or NULL when is_null. */
static void
arr_lit_int(arr_lit *a, int64_t v, bool is_null)
{
	char num[24];

	arr_lit_sep(a);
	if (is_null) {
		arr_lit_raw(a, "NULL", 4);
		return;
	}
	fmt_i64(num, sizeof(num), v);
	arr_lit_raw(a, num, strlen(num));
}

/* arr_lit_close ends the literal ("{}" when it has no element). */
static void
arr_lit_close(arr_lit *a)
{
	arr_lit_raw(a, a->len == 0 ? "{}" : "}", a->len == 0 ? 2 : 1);
}

tp_status
dtp_store_create_many(db_conn *c, dtp_created *tasks, int n, tp_err *err)
{
	enum {
		TYPES,
		PAYLOADS,
		ATTEMPTS,
		TIMEOUTS,
		RUN_AT,
		KEYS,
		BASES,
		MAXES,
		N_ARRS
	};
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	arr_lit     arr[N_ARRS];
	const char *params[N_ARRS];

	assert(n >= 1);
	memset(arr, 0, sizeof(arr));
	for (int i = 0; i < n; i++) {
		const dtp_new_task *nt = tasks[i].nt;
		arr_lit_text(&arr[TYPES], nt->type);
		arr_lit_text(&arr[PAYLOADS], nt->payload);
		arr_lit_int(&arr[ATTEMPTS], nt->max_attempts, false);
		arr_lit_int(&arr[TIMEOUTS], nt->timeout_ms, false);
		arr_lit_int(&arr[RUN_AT], nt->run_at_ms, nt->run_at_ms <= 0);
		arr_lit_text(&arr[KEYS], nt->idempotency_key);
		arr_lit_int(
		    &arr[BASES], nt->backoff_base_ms, nt->backoff_base_ms <= 0);
		arr_lit_int(
		    &arr[MAXES], nt->backoff_max_ms, nt->backoff_max_ms <= 0);
	}
	for (int k = 0; k < N_ARRS; k++) {
		arr_lit_close(&arr[k]);
		params[k] = arr[k].buf;
	}
	if ((rc = db_exec(c, &rows, sql_create_many, N_ARRS, params, err))
	    != TP_OK) {
		goto out;
	}
	/* One row per input row, in input order (see sql_create_many). */
	if (db_rows_count(rows) != n) {
		tp_log_error("dtp.store",
		    "batch insert returned %d rows for %d tasks",
		    db_rows_count(rows), n);
		rc = tp_err_set(err, TP_INTERNAL, "internal error");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (db_rows_int64(rows, i, N_TASK_COLS) != i + 1) {
			tp_log_error("dtp.store",
			    "batch insert answered out of order at row %d", i);
			rc = tp_err_set(err, TP_INTERNAL, "internal error");
			goto out;
		}
	}
	for (int i = 0; i < n; i++) {
		tasks[i].inserted = !db_rows_is_null(rows, i, 0);
		if (tasks[i].inserted) {
			row_to_task(&tasks[i].task, rows, i);
		}
	}
out:
	db_rows_free(rows);
	for (int k = 0; k < N_ARRS; k++) {
		free(arr[k].buf);
	}
	return rc;
}

static const char *const sql_get
    = "SELECT " TASK_COLS " FROM dtp.task WHERE id = $1::int8";

tp_status
dtp_store_get(dtp_v1_Task *out, db_conn *c, int64_t id, tp_err *err)
{
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	char        ids[24];
	const char *params[1] = { ids };

	fmt_i64(ids, sizeof(ids), id);
	if ((rc = db_exec(c, &rows, sql_get, 1, params, err)) != TP_OK) {
		goto out;
	}
	if (db_rows_count(rows) == 0) {
		rc = tp_err_set(
		    err, TP_NOT_FOUND, "task %" PRId64 " not found", id);
		goto out;
	}
	row_to_task(out, rows, 0);
out:
	db_rows_free(rows);
	return rc;
}

static const char *const sql_announce
    = "SELECT pg_notify('" DTP_CHANNEL_TASK "', $1::text)";

tp_status
dtp_store_announce(db_conn *c, const char *tag, tp_err *err)
{
	const char *params[1] = { tag };

	return db_exec(c, NULL, sql_announce, 1, params, err);
}

static const char *const sql_cancel_pending
    = "UPDATE dtp.task SET status = 'CANCELLED', cancel_requested = true,"
      " finished_at = now(), updated_at = now(), finished_by = $2::text"
      " WHERE id = $1::int8 AND status = 'PENDING'"
      " RETURNING " TASK_COLS;

static const char *const sql_cancel_running
    = "UPDATE dtp.task SET cancel_requested = true, updated_at = now()"
      " WHERE id = $1::int8 AND status = 'RUNNING'"
      " RETURNING " TASK_COLS ", pg_notify('" DTP_CHANNEL_CANCEL "', id::text)";

/* How often cancel follows a task that changes state under it. */
#define CANCEL_TRIES 5

tp_status
dtp_store_cancel(
    dtp_v1_Task *out, db_conn *c, int64_t id, const char *node, tp_err *err)
{
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	char        ids[24];
	const char *params[2] = { ids, node };

	check_transition(
	    DTP_STATE_PENDING, DTP_STATE_CANCELLED, DTP_EVENT_CANCEL);
	check_transition(
	    DTP_STATE_RUNNING, DTP_STATE_CANCELLED, DTP_EVENT_STOPPED);
	fmt_i64(ids, sizeof(ids), id);
	/*
	 * Each step names the state it expects. A task that moves between two
	 * steps (claimed, or retried back to PENDING) is simply tried again.
	 */
	for (int i = 0; i < CANCEL_TRIES; i++) {
		dtp_v1_Task cur = dtp_v1_Task_init_zero;
		dtp_state   st;

		if ((rc = db_exec(c, &rows, sql_cancel_pending, 2, params, err))
		    != TP_OK) {
			goto out;
		}
		if (db_rows_count(rows) == 1) {
			row_to_task(out, rows, 0);
			goto out;
		}
		db_rows_free(rows);
		rows = NULL;
		if ((rc = db_exec(c, &rows, sql_cancel_running, 1, params, err))
		    != TP_OK) {
			goto out;
		}
		if (db_rows_count(rows) == 1) {
			row_to_task(out, rows, 0);
			goto out;
		}
		db_rows_free(rows);
		rows = NULL;
		if ((rc = dtp_store_get(&cur, c, id, err)) != TP_OK) {
			goto out;
		}
		st = (dtp_state) cur.status;
		pb_release(dtp_v1_Task_fields, &cur);
		if (dtp_state_is_final(st)) {
			rc = tp_err_set(err, TP_FAILED_PRECONDITION,
			    "task %" PRId64 " is already %s", id,
			    dtp_state_name(st));
			goto out;
		}
	}
	rc = tp_err_set(err, TP_UNAVAILABLE,
	    "could not cancel task %" PRId64 ": its state kept changing", id);
out:
	db_rows_free(rows);
	return rc;
}

/*
 * ListTasks: the page is cut in SQL once the payloads and results passed
 * the byte budget, so a page of large tasks never loads more than about one
 * message worth of rows; the service then cuts it exactly.
 */
#define LIST_SQL(dir, cmp)                                                \
	"SELECT " TASK_COLS " FROM (SELECT *,"                            \
	" sum(octet_length(payload) + coalesce(octet_length(result), 0))" \
	" OVER (ORDER BY id " dir ")"                                     \
	" - octet_length(payload) - coalesce(octet_length(result), 0)"    \
	" AS bytes_before"                                                \
	" FROM (SELECT * FROM dtp.task"                                   \
	" WHERE ($1::text IS NULL OR status = $1::text)"                  \
	" AND ($2::text IS NULL OR type = $2::text)"                      \
	" AND ($3::int8 = 0 OR id " cmp " $3::int8)"                      \
	" ORDER BY id " dir " LIMIT $4::int4) page) sized"                \
	" WHERE bytes_before < $5::int8 ORDER BY id " dir

static const char *const sql_list_asc  = LIST_SQL("ASC", ">");
static const char *const sql_list_desc = LIST_SQL("DESC", "<");

tp_status
dtp_store_list(
    dtp_v1_Task **out, int *n, db_conn *c, const dtp_list_query *q, tp_err *err)
{
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	char        after[24];
	char        limit[24];
	char        budget[24];
	const char *params[5];

	fmt_i64(after, sizeof(after), q->after_id);
	fmt_i64(limit, sizeof(limit), q->limit);
	fmt_i64(budget, sizeof(budget), q->budget_bytes);
	params[0] = q->status != 0 ? dtp_state_name(q->status) : NULL;
	params[1] = q->type;
	params[2] = after;
	params[3] = limit;
	params[4] = budget;
	rc = db_exec(c, &rows, q->newest_first ? sql_list_desc : sql_list_asc,
	    5, params, err);
	if (rc != TP_OK) {
		return rc;
	}
	rows_to_tasks(out, n, rows);
	db_rows_free(rows);
	return TP_OK;
}

tp_status
dtp_store_ping(db_conn *c, tp_err *err)
{
	return db_exec(c, NULL, "SELECT 1", 0, NULL, err);
}

/*
 * The claim: lock up to $3 due PENDING rows, skipping rows another claimer
 * holds, and make them RUNNING for this node in the same statement. The
 * locking SELECT is a MATERIALIZED CTE, evaluated once: as a plain
 * `id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` the planner may rescan
 * it, and each rescan skips the rows already locked and returns new ones,
 * so more than n rows would be claimed.
 */
static const char *const sql_claim
    = "WITH due AS MATERIALIZED (SELECT id FROM dtp.task"
      " WHERE status = 'PENDING' AND run_at <= now()"
      " AND type = ANY ($4::text[])"
      " ORDER BY run_at, id LIMIT $3::int4 FOR UPDATE SKIP LOCKED)"
      " UPDATE dtp.task t SET status = 'RUNNING',"
      " attempts = t.attempts + 1, started_at = now(), updated_at = now(),"
      " locked_by = $1::text, lease_expires_at = now() + " MS_2
      " FROM due WHERE t.id = due.id AND t.status = 'PENDING'"
      " RETURNING " TASK_COLS_T;

tp_status
dtp_store_claim(dtp_v1_Task **out, int *n, db_conn *c, const char *node,
    const char *types, int64_t lease_ms, int max, tp_err *err)
{
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	char        lease[24];
	char        maxs[24];
	const char *params[4] = { node, lease, maxs, types };

	check_transition(DTP_STATE_PENDING, DTP_STATE_RUNNING, DTP_EVENT_CLAIM);
	fmt_i64(lease, sizeof(lease), lease_ms);
	fmt_i64(maxs, sizeof(maxs), max);
	if ((rc = db_exec(c, &rows, sql_claim, 4, params, err)) != TP_OK) {
		return rc;
	}
	rows_to_tasks(out, n, rows);
	db_rows_free(rows);
	return TP_OK;
}

/* The fence every end of an attempt carries: $1 id, $2 attempt. */
#define FENCE \
	" WHERE id = $1::int8 AND status = 'RUNNING' AND attempts = $2::int4"
#define UNLOCK " locked_by = NULL, lease_expires_at = NULL, updated_at = now()"

static const char *const sql_succeed
    = "UPDATE dtp.task SET status = 'SUCCEEDED', result = $3::text,"
      " finished_at = now(), finished_by = $4::text," UNLOCK FENCE;

static const char *const sql_retry
    = "UPDATE dtp.task SET status = 'PENDING',"
      " run_at = now() + " MS_3 ", last_error = $4::text," UNLOCK FENCE
      " AND NOT cancel_requested";

static const char *const sql_fail
    = "UPDATE dtp.task SET status = 'FAILED', last_error = $3::text,"
      " finished_at = now(), finished_by = $4::text," UNLOCK FENCE
      " AND NOT cancel_requested";

static const char *const sql_cancelled
    = "UPDATE dtp.task SET status = 'CANCELLED',"
      " last_error = coalesce($3::text, last_error), finished_at = now(),"
      " finished_by = $4::text," UNLOCK FENCE " AND cancel_requested";

static const char *const sql_release
    = "UPDATE dtp.task SET status = 'PENDING', run_at = now()," UNLOCK FENCE
      " AND NOT cancel_requested";

static tp_status
end_attempt(bool *changed, db_conn *c, const char *sql, int64_t id, int attempt,
    const char *p3, const char *p4, int n_params, tp_err *err)
{
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	char        ids[24];
	char        att[24];
	const char *params[4] = { ids, att, p3, p4 };

	fmt_i64(ids, sizeof(ids), id);
	fmt_i64(att, sizeof(att), attempt);
	if ((rc = db_exec(c, &rows, sql, n_params, params, err)) != TP_OK) {
		return rc;
	}
	*changed = db_rows_affected(rows) == 1;
	db_rows_free(rows);
	return TP_OK;
}

tp_status
dtp_store_succeed(bool *changed, db_conn *c, int64_t id, int attempt,
    const char *node, const char *result, tp_err *err)
{
	check_transition(
	    DTP_STATE_RUNNING, DTP_STATE_SUCCEEDED, DTP_EVENT_SUCCEED);
	return end_attempt(
	    changed, c, sql_succeed, id, attempt, result, node, 4, err);
}

tp_status
dtp_store_retry(bool *changed, db_conn *c, int64_t id, int attempt,
    int64_t delay_ms, const char *error, tp_err *err)
{
	char delay[24];

	check_transition(DTP_STATE_RUNNING, DTP_STATE_PENDING, DTP_EVENT_RETRY);
	fmt_i64(delay, sizeof(delay), delay_ms);
	return end_attempt(
	    changed, c, sql_retry, id, attempt, delay, error, 4, err);
}

tp_status
dtp_store_fail(bool *changed, db_conn *c, int64_t id, int attempt,
    const char *node, const char *error, tp_err *err)
{
	check_transition(DTP_STATE_RUNNING, DTP_STATE_FAILED, DTP_EVENT_FAIL);
	return end_attempt(
	    changed, c, sql_fail, id, attempt, error, node, 4, err);
}

tp_status
dtp_store_cancelled(bool *changed, db_conn *c, int64_t id, int attempt,
    const char *node, const char *error, tp_err *err)
{
	check_transition(
	    DTP_STATE_RUNNING, DTP_STATE_CANCELLED, DTP_EVENT_STOPPED);
	return end_attempt(
	    changed, c, sql_cancelled, id, attempt, error, node, 4, err);
}

tp_status
dtp_store_release(
    bool *changed, db_conn *c, int64_t id, int attempt, tp_err *err)
{
	check_transition(
	    DTP_STATE_RUNNING, DTP_STATE_PENDING, DTP_EVENT_RELEASE);
	return end_attempt(
	    changed, c, sql_release, id, attempt, NULL, NULL, 2, err);
}

/* sql_succeed for many attempts: $1 ids, $2 attempts, $3 results, $4 node. */
static const char *const sql_succeed_many
    = "UPDATE dtp.task t SET status = 'SUCCEEDED', result = u.result,"
      " finished_at = now(), finished_by = $4::text, locked_by = NULL,"
      " lease_expires_at = NULL, updated_at = now()"
      " FROM unnest($1::int8[], $2::int4[], $3::text[])"
      " AS u(id, attempt, result)"
      " WHERE t.id = u.id AND t.status = 'RUNNING'"
      " AND t.attempts = u.attempt"
      " RETURNING t.id, t.attempts";

tp_status
dtp_store_succeed_many(
    db_conn *c, const char *node, dtp_succeeded *s, int n, tp_err *err)
{
	tp_status   rc   = TP_OK;
	db_rows    *rows = NULL;
	arr_lit     ids = { 0 }, attempts = { 0 }, results = { 0 };
	const char *params[4];

	check_transition(
	    DTP_STATE_RUNNING, DTP_STATE_SUCCEEDED, DTP_EVENT_SUCCEED);
	for (int i = 0; i < n; i++) {
		arr_lit_int(&ids, s[i].id, false);
		arr_lit_int(&attempts, s[i].attempt, false);
		arr_lit_text(&results, s[i].result);
	}
	arr_lit_close(&ids);
	arr_lit_close(&attempts);
	arr_lit_close(&results);
	params[0] = ids.buf;
	params[1] = attempts.buf;
	params[2] = results.buf;
	params[3] = node;
	if ((rc = db_exec(c, &rows, sql_succeed_many, 4, params, err))
	    != TP_OK) {
		goto out;
	}
	for (int i = 0; i < n; i++) {
		s[i].changed = false;
	}
	/* Answers come in no particular order; batches are small. */
	for (int r = 0; r < db_rows_count(rows); r++) {
		int64_t id  = db_rows_int64(rows, r, 0);
		int     att = (int) db_rows_int64(rows, r, 1);
		for (int i = 0; i < n; i++) {
			if (s[i].id == id && s[i].attempt == att) {
				s[i].changed = true;
			}
		}
	}
out:
	db_rows_free(rows);
	free(ids.buf);
	free(attempts.buf);
	free(results.buf);
	return rc;
}

/* leases_params writes the ids and attempts as int8[] and int4[] literals. */
static void
leases_params(char **ids, char **attempts, const dtp_lease *l, int n)
{
	size_t cap = (size_t) n * 24 + 3;
	size_t a   = 0;
	size_t b   = 0;
	char  *p   = tp_xmalloc(cap);
	char  *q   = tp_xmalloc(cap);

	p[a++] = '{';
	q[b++] = '{';
	for (int i = 0; i < n; i++) {
		a += (size_t) snprintf(
		    p + a, cap - a, "%s%" PRId64, i > 0 ? "," : "", l[i].id);
		b += (size_t) snprintf(
		    q + b, cap - b, "%s%d", i > 0 ? "," : "", l[i].attempt);
	}
	snprintf(p + a, cap - a, "}");
	snprintf(q + b, cap - b, "}");
	*ids      = p;
	*attempts = q;
}

static const char *const sql_renew
    = "UPDATE dtp.task t SET lease_expires_at = now() + " MS_2
      " FROM unnest($3::int8[], $4::int4[]) AS l(id, attempts)"
      " WHERE t.id = l.id AND t.attempts = l.attempts"
      " AND t.status = 'RUNNING' AND t.locked_by = $1::text"
      " RETURNING t.id, t.attempts, t.cancel_requested";

tp_status
dtp_store_renew(db_conn *c, const char *node, int64_t lease_ms,
    dtp_lease *leases, int n, tp_err *err)
{
	tp_status   rc       = TP_OK;
	db_rows    *rows     = NULL;
	char       *ids      = NULL;
	char       *attempts = NULL;
	char        lease[24];
	const char *params[4];

	for (int i = 0; i < n; i++) {
		leases[i].renewed          = false;
		leases[i].cancel_requested = false;
	}
	if (n == 0) {
		return TP_OK;
	}
	leases_params(&ids, &attempts, leases, n);
	fmt_i64(lease, sizeof(lease), lease_ms);
	params[0] = node;
	params[1] = lease;
	params[2] = ids;
	params[3] = attempts;
	if ((rc = db_exec(c, &rows, sql_renew, 4, params, err)) != TP_OK) {
		goto out;
	}
	for (int r = 0; r < db_rows_count(rows); r++) {
		int64_t id  = db_rows_int64(rows, r, 0);
		int     att = (int) db_rows_int64(rows, r, 1);
		for (int i = 0; i < n; i++) {
			if (leases[i].id == id && leases[i].attempt == att) {
				leases[i].renewed = true;
				leases[i].cancel_requested
				    = db_rows_bool(rows, r, 2);
			}
		}
	}
out:
	db_rows_free(rows);
	free(ids);
	free(attempts);
	return rc;
}

static const char *const sql_release_all
    = "UPDATE dtp.task t SET status = 'PENDING', run_at = now(),"
      " locked_by = NULL, lease_expires_at = NULL, updated_at = now()"
      " FROM unnest($2::int8[], $3::int4[]) AS l(id, attempts)"
      " WHERE t.id = l.id AND t.attempts = l.attempts"
      " AND t.status = 'RUNNING' AND t.locked_by = $1::text"
      " AND NOT t.cancel_requested";

tp_status
dtp_store_release_all(int *released, db_conn *c, const char *node,
    const dtp_lease *leases, int n, tp_err *err)
{
	tp_status   rc       = TP_OK;
	db_rows    *rows     = NULL;
	char       *ids      = NULL;
	char       *attempts = NULL;
	const char *params[3];

	check_transition(
	    DTP_STATE_RUNNING, DTP_STATE_PENDING, DTP_EVENT_RELEASE);
	if (n == 0) {
		*released = 0;
		return TP_OK;
	}
	leases_params(&ids, &attempts, leases, n);
	params[0] = node;
	params[1] = ids;
	params[2] = attempts;
	if ((rc = db_exec(c, &rows, sql_release_all, 3, params, err))
	    == TP_OK) {
		*released = (int) db_rows_affected(rows);
	}
	db_rows_free(rows);
	free(ids);
	free(attempts);
	return rc;
}

/*
 * The reaper's rows: RUNNING with the lease past (or, never set, counted
 * from started_at), locked with SKIP LOCKED so that the reapers of several
 * nodes split the work instead of queueing on each other; MATERIALIZED for
 * the reason given at sql_claim. The UPDATE checks RUNNING again.
 */
#define EXPIRED_HEAD                                              \
	"WITH expired AS MATERIALIZED (SELECT id FROM dtp.task"   \
	" WHERE status = 'RUNNING' AND (lease_expires_at < now()" \
	" OR (lease_expires_at IS NULL AND started_at < now() - " MS_1 "))"
#define EXPIRED_TAIL " ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED) "
#define EXPIRED_JOIN \
	" FROM expired WHERE t.id = expired.id AND t.status = 'RUNNING'"

#define LEASE_ERROR                                                \
	"'lease of attempt ' || t.attempts || ' expired on node '" \
	" || coalesce(t.locked_by, '(unknown)')"

static const char *const sql_reap_cancelled = EXPIRED_HEAD
    " AND cancel_requested" EXPIRED_TAIL
    "UPDATE dtp.task t SET status = 'CANCELLED', finished_at = now(),"
    " finished_by = $2::text, last_error = " LEASE_ERROR
    " || ' after cancel was requested'," UNLOCK EXPIRED_JOIN;

static const char *const sql_reap_failed = EXPIRED_HEAD
    " AND NOT cancel_requested AND attempts >= max_attempts" EXPIRED_TAIL
    "UPDATE dtp.task t SET status = 'FAILED', finished_at = now(),"
    " finished_by = $2::text, last_error = " LEASE_ERROR
    " || ' and attempts are exhausted'," UNLOCK EXPIRED_JOIN;

static const char *const sql_reap_pending = EXPIRED_HEAD
    " AND NOT cancel_requested AND attempts < max_attempts" EXPIRED_TAIL
    "UPDATE dtp.task t SET status = 'PENDING', run_at = now(),"
    " last_error = " LEASE_ERROR "," UNLOCK EXPIRED_JOIN
    " AND $2::text IS NOT NULL";

tp_status
dtp_store_reap(dtp_reaped *out, db_conn *c, const char *node, int64_t lease_ms,
    tp_err *err)
{
	static const char *const sqls[3]
	    = { sql_reap_pending, sql_reap_failed, sql_reap_cancelled };
	tp_status   rc = TP_OK;
	char        lease[24];
	const char *params[2] = { lease, node };
	int         counts[3] = { 0, 0, 0 };

	check_transition(
	    DTP_STATE_RUNNING, DTP_STATE_PENDING, DTP_EVENT_LEASE_EXPIRED);
	check_transition(DTP_STATE_RUNNING, DTP_STATE_FAILED, DTP_EVENT_FAIL);
	check_transition(
	    DTP_STATE_RUNNING, DTP_STATE_CANCELLED, DTP_EVENT_STOPPED);
	fmt_i64(lease, sizeof(lease), lease_ms);
	for (int i = 0; i < 3; i++) {
		db_rows *rows = NULL;
		if ((rc = db_exec(c, &rows, sqls[i], 2, params, err))
		    != TP_OK) {
			return rc;
		}
		counts[i] = (int) db_rows_affected(rows);
		db_rows_free(rows);
	}
	out->pending   = counts[0];
	out->failed    = counts[1];
	out->cancelled = counts[2];
	return TP_OK;
}

/*
 * The Metrics call's reads. The count is one pass over the table (an
 * index-only scan of task_status_id_idx when the visibility map allows):
 * cheap at thousands of rows, noticeable at many millions; the oldest due
 * task is one probe of task_pending_run_at_idx.
 */
static const char *const sql_count_by_status
    = "SELECT status, count(*)::int8 FROM dtp.task GROUP BY status";

static const char *const sql_oldest_due
    = "SELECT coalesce(extract(epoch FROM now() - min(run_at)), 0)::float8"
      " FROM dtp.task WHERE status = 'PENDING' AND run_at <= now()";

tp_status
dtp_store_stats(dtp_stats *out, db_conn *c, tp_err *err)
{
	tp_status rc   = TP_OK;
	db_rows  *rows = NULL;
	dtp_stats st;

	memset(&st, 0, sizeof(st));
	if ((rc = db_exec(c, &rows, sql_count_by_status, 0, NULL, err))
	    != TP_OK) {
		goto out;
	}
	for (int i = 0; i < db_rows_count(rows); i++) {
		dtp_state s;
		if (dtp_state_parse(&s, db_rows_get(rows, i, 0))) {
			st.tasks[s] = db_rows_int64(rows, i, 1);
		}
	}
	db_rows_free(rows);
	rows = NULL;
	if ((rc = db_exec(c, &rows, sql_oldest_due, 0, NULL, err)) != TP_OK) {
		goto out;
	}
	if (db_rows_count(rows) == 1) {
		st.oldest_pending_age_seconds
		    = strtod(db_rows_get(rows, 0, 0), NULL);
	}
	*out = st;
out:
	db_rows_free(rows);
	return rc;
}
