/*
 * invariants.c: the chaos scenarios' invariant checker (invariants.h): the
 * ledger of RPC answers, the transition audit, and the checks.
 *
 * The ledger is a few growable arrays and a table of counts behind one
 * mutex; scenarios make at most some thousands of calls, so nothing here
 * needs to be clever. The checks are SQL over dtp.task, pilot.web_task
 * and dtp_audit.transition, plus the ledger's ids passed as int8[] arrays.
 */
#include "invariants.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/mem.h"
#include "harness.h"

#define MAX_CALLS 16
#define CHUNK_IDS 1000
#define SHOW_ROWS 10
#define DB_TRIES  20
#define LINE_MAX_ 4096

typedef struct id_status {
	int64_t   id;
	int64_t   other; /* bind: the DTP task the answer named */
	tp_status rc;
} id_status;

typedef struct vec {
	id_status *v;
	size_t     n;
	size_t     cap;
} vec;

struct inv_ledger {
	pthread_mutex_t mu;
	vec             creates;              // guarded by mu (OK answers only)
	vec             cancels;              // guarded by mu
	vec             binds;                // guarded by mu
	char            calls[MAX_CALLS][32]; // guarded by mu
	int64_t         counts[MAX_CALLS][TP_STATUS_MAX + 1]; // guarded by mu
	int             n_calls;                              // guarded by mu
};

static void
vec_push(vec *v, int64_t id, int64_t other, tp_status rc)
{
	if (v->n == v->cap) {
		v->cap = v->cap == 0 ? 256 : v->cap * 2;
		v->v   = tp_xrealloc(v->v, v->cap * sizeof(*v->v));
	}
	v->v[v->n++] = (id_status) { .id = id, .other = other, .rc = rc };
}

inv_ledger *
inv_ledger_new(void)
{
	inv_ledger *l = tp_xcalloc(1, sizeof(*l));

	pthread_mutex_init(&l->mu, NULL);
	return l;
}

void
inv_ledger_free(inv_ledger *l)
{
	if (l == NULL) {
		return;
	}
	pthread_mutex_destroy(&l->mu);
	free(l->creates.v);
	free(l->cancels.v);
	free(l->binds.v);
	free(l);
}

/* count_locked counts one answer of call; mu held. */
static void
count_locked(inv_ledger *l, const char *call, tp_status rc)
{
	int i;
	int code = (int) rc >= 0 && (int) rc <= TP_STATUS_MAX ? (int) rc
	                                                      : TP_UNKNOWN;

	for (i = 0; i < l->n_calls; i++) {
		if (strcmp(l->calls[i], call) == 0) {
			break;
		}
	}
	if (i == l->n_calls) {
		if (l->n_calls == MAX_CALLS) {
			return;
		}
		snprintf(l->calls[i], sizeof(l->calls[i]), "%s", call);
		l->n_calls++;
	}
	l->counts[i][code]++;
}

void
inv_note_call(inv_ledger *l, const char *call, tp_status rc)
{
	pthread_mutex_lock(&l->mu);
	count_locked(l, call, rc);
	pthread_mutex_unlock(&l->mu);
}

void
inv_note_create(inv_ledger *l, tp_status rc, int64_t id)
{
	pthread_mutex_lock(&l->mu);
	count_locked(l, "CreateTask", rc);
	if (rc == TP_OK) {
		vec_push(&l->creates, id, 0, rc);
	}
	pthread_mutex_unlock(&l->mu);
}

void
inv_note_cancel(inv_ledger *l, int64_t id, tp_status rc)
{
	pthread_mutex_lock(&l->mu);
	count_locked(l, "CancelTask", rc);
	vec_push(&l->cancels, id, 0, rc);
	pthread_mutex_unlock(&l->mu);
}

void
inv_note_bind(inv_ledger *l, int64_t web_id, tp_status rc, int64_t sched_id)
{
	pthread_mutex_lock(&l->mu);
	count_locked(l, "BindScheduler", rc);
	vec_push(&l->binds, web_id, sched_id, rc);
	pthread_mutex_unlock(&l->mu);
}

int64_t
inv_ledger_count(inv_ledger *l, const char *call, tp_status rc)
{
	int64_t n = 0;

	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < l->n_calls; i++) {
		if (strcmp(l->calls[i], call) == 0 && (int) rc >= 0
		    && (int) rc <= TP_STATUS_MAX) {
			n = l->counts[i][rc];
		}
	}
	pthread_mutex_unlock(&l->mu);
	return n;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a;
	int64_t y = *(const int64_t *) b;

	return x < y ? -1 : x > y;
}

/*
 * sorted_ids copies the ids of v whose answer was rc (any answer when
 * any_rc) into a sorted array without duplicates; mu held.
 */
static int64_t *
sorted_ids(size_t *n_out, const vec *v, bool any_rc, tp_status rc)
{
	int64_t *ids = tp_xmalloc((v->n + 1) * sizeof(*ids));
	size_t   n   = 0;
	size_t   k   = 0;

	for (size_t i = 0; i < v->n; i++) {
		if (any_rc || v->v[i].rc == rc) {
			ids[n++] = v->v[i].id;
		}
	}
	qsort(ids, n, sizeof(*ids), cmp_i64);
	for (size_t i = 0; i < n; i++) {
		if (k == 0 || ids[k - 1] != ids[i]) {
			ids[k++] = ids[i];
		}
	}
	*n_out = k;
	return ids;
}

int64_t
inv_ledger_accepted(inv_ledger *l)
{
	size_t   n;
	int64_t *ids;

	pthread_mutex_lock(&l->mu);
	ids = sorted_ids(&n, &l->creates, true, TP_OK);
	pthread_mutex_unlock(&l->mu);
	free(ids);
	return (int64_t) n;
}

void
inv_say(const char *fmt, ...)
{
	const char *path = getenv("TP_CHAOS_REPORT");
	char        line[LINE_MAX_];
	va_list     ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	printf("%s\n", line);
	fflush(stdout);
	if (path != NULL && *path != '\0') {
		FILE *f = fopen(path, "a");
		if (f != NULL) {
			fprintf(f, "%s\n", line);
			fclose(f);
		}
	}
}

void
inv_ledger_print(inv_ledger *l, const char *scenario)
{
	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < l->n_calls; i++) {
		char   line[LINE_MAX_];
		size_t n = 0;
		n += (size_t) snprintf(line + n, sizeof(line) - n,
		    "chaos [%s] answers %s:", scenario, l->calls[i]);
		for (int code = 0; code <= TP_STATUS_MAX; code++) {
			if (l->counts[i][code] > 0 && n < sizeof(line)) {
				n += (size_t) snprintf(line + n,
				    sizeof(line) - n, " %s=%" PRId64,
				    tp_status_name(code), l->counts[i][code]);
			}
		}
		inv_say("%s", line);
	}
	pthread_mutex_unlock(&l->mu);
}

/* SQL helpers. A statement failing UNAVAILABLE (a restarted server) is
 * tried again: db_exec reconnects on the next call. */

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { }
}

static db_rows *
q(db_conn *c, const char *sql, int n_params, const char *const *params)
{
	db_rows  *rows = NULL;
	tp_err    err  = { 0 };
	tp_status rc   = TP_OK;

	for (int i = 0; i < DB_TRIES; i++) {
		rc = db_exec(c, &rows, sql, n_params, params, &err);
		if (rc != TP_UNAVAILABLE) {
			break;
		}
		sleep_ms(100 * (i + 1) < 1000 ? 100 * (i + 1) : 1000);
	}
	if (rc != TP_OK) {
		fail_msg("invariants: %s: %s (%s)", sql, err.msg,
		    tp_status_name(rc));
	}
	return rows;
}

static int64_t
q_int(db_conn *c, const char *sql)
{
	db_rows *rows = q(c, sql, 0, NULL);
	int64_t  v    = db_rows_count(rows) > 0 ? db_rows_int64(rows, 0, 0) : 0;

	db_rows_free(rows);
	return v;
}

/* show prints the rows of sql (ncols columns each), for a failure. */
static void
show(db_conn *c, const char *what, const char *sql, int ncols)
{
	db_rows *rows = q(c, sql, 0, NULL);
	int      n    = db_rows_count(rows);

	printf("chaos:   %s (%d shown):\n", what, n);
	for (int r = 0; r < n; r++) {
		char   line[LINE_MAX_];
		size_t len = 0;
		for (int col = 0; col < ncols && len < sizeof(line); col++) {
			const char *v = db_rows_get(rows, r, col);
			len += (size_t) snprintf(line + len, sizeof(line) - len,
			    "%s%s", col > 0 ? " | " : "",
			    db_rows_is_null(rows, r, col) ? "NULL" : v);
		}
		printf("chaos:     %s\n", line);
	}
	db_rows_free(rows);
}

/* ids_literal writes ids[0..n) as an int8[] literal (caller frees). */
static char *
ids_literal(const int64_t *ids, size_t n)
{
	size_t cap = n * 21 + 3;
	char  *s   = tp_xmalloc(cap);
	size_t len = 0;

	s[len++] = '{';
	for (size_t i = 0; i < n; i++) {
		len += (size_t) snprintf(
		    s + len, cap - len, "%s%" PRId64, i > 0 ? "," : "", ids[i]);
	}
	snprintf(s + len, cap - len, "}");
	return s;
}

void
inv_install_audit(db_conn *c)
{
	static const char *const sql
	    = "CREATE SCHEMA dtp_audit;"
	      "CREATE TABLE dtp_audit.transition ("
	      " seq bigserial PRIMARY KEY,"
	      " task_id bigint NOT NULL,"
	      " old_status text,"
	      " new_status text NOT NULL,"
	      " old_attempts integer,"
	      " new_attempts integer NOT NULL,"
	      " old_locked_by text,"
	      " new_locked_by text,"
	      " cancel_requested boolean NOT NULL,"
	      " at timestamptz NOT NULL DEFAULT clock_timestamp());"
	      "CREATE INDEX ON dtp_audit.transition (task_id, seq);"
	      "CREATE FUNCTION dtp_audit.record() RETURNS trigger"
	      " LANGUAGE plpgsql AS $f$ BEGIN"
	      " IF TG_OP = 'INSERT' THEN"
	      "  INSERT INTO dtp_audit.transition (task_id, old_status,"
	      "   new_status, old_attempts, new_attempts, old_locked_by,"
	      "   new_locked_by, cancel_requested) VALUES (NEW.id, NULL,"
	      "   NEW.status, NULL, NEW.attempts, NULL, NEW.locked_by,"
	      "   NEW.cancel_requested);"
	      " ELSE"
	      "  INSERT INTO dtp_audit.transition (task_id, old_status,"
	      "   new_status, old_attempts, new_attempts, old_locked_by,"
	      "   new_locked_by, cancel_requested) VALUES (NEW.id,"
	      "   OLD.status, NEW.status, OLD.attempts, NEW.attempts,"
	      "   OLD.locked_by, NEW.locked_by, NEW.cancel_requested);"
	      " END IF;"
	      " RETURN NULL;"
	      " END $f$;"
	      "CREATE TRIGGER audit_insert AFTER INSERT ON dtp.task"
	      " FOR EACH ROW EXECUTE FUNCTION dtp_audit.record();"
	      "CREATE TRIGGER audit_update AFTER UPDATE OF status, attempts"
	      " ON dtp.task FOR EACH ROW EXECUTE FUNCTION dtp_audit.record();";
	tp_err err = { 0 };

	if (db_exec_simple(c, sql, &err) != TP_OK) {
		fail_msg(
		    "invariants: could not install the audit: %s", err.msg);
	}
	if (q_int(c, "SELECT count(*) FROM dtp.task") != 0) {
		fail_msg("invariants: the audit must be installed before the "
		         "first task");
	}
}

typedef struct quiet_arg {
	db_conn *c;
	bool     binds;
} quiet_arg;

static bool
quiet_pred(void *arg)
{
	quiet_arg *a    = arg;
	db_rows   *rows = NULL;
	tp_err     err  = { 0 };
	int64_t    busy;

	if (db_exec(a->c, &rows,
	        "SELECT (SELECT count(*) FROM dtp.task WHERE status ="
	        " 'RUNNING' OR (status = 'PENDING' AND run_at <= now()))"
	        " + CASE WHEN $1::bool THEN (SELECT count(*) FROM"
	        " pilot.web_task WHERE bind_requested_at IS NOT NULL AND"
	        " scheduler_task_id IS NULL) ELSE 0 END",
	        1, (const char *const[]) { a->binds ? "true" : "false" }, &err)
	    != TP_OK) {
		return false;
	}
	busy = db_rows_int64(rows, 0, 0);
	db_rows_free(rows);
	return busy == 0;
}

bool
inv_wait_quiescent(db_conn *c, bool binds, int timeout_ms)
{
	quiet_arg a = { .c = c, .binds = binds };

	return th_poll_until(quiet_pred, &a, timeout_ms);
}

/* The transition pairs DESIGN §5 allows, and a task's creation. */
#define ALLOWED                                                 \
	"((old_status IS NULL AND new_status = 'PENDING') OR"   \
	" (old_status, new_status) IN (('PENDING', 'RUNNING')," \
	" ('PENDING', 'CANCELLED'), ('RUNNING', 'SUCCEEDED'),"  \
	" ('RUNNING', 'PENDING'), ('RUNNING', 'FAILED'),"       \
	" ('RUNNING', 'CANCELLED')))"
#define FINAL "('SUCCEEDED', 'FAILED', 'CANCELLED')"
#define BAD_ATTEMPTS                                                   \
	"((old_status IS NULL AND new_attempts <> 0) OR"               \
	" (old_status = 'PENDING' AND new_status = 'RUNNING' AND"      \
	"  new_attempts <> old_attempts + 1) OR"                       \
	" (old_status IS NOT NULL AND NOT (old_status = 'PENDING' AND" \
	"  new_status = 'RUNNING') AND new_attempts <> old_attempts))"
#define AUDIT_COLS                                                     \
	"task_id, old_status, new_status, old_attempts, new_attempts," \
	" old_locked_by, new_locked_by, cancel_requested, at"

/* The checks (each returns one count, or a row of counts). */
static const char *const sql_by_ids
    = "SELECT id, status, run_at > now() FROM dtp.task"
      " WHERE id = ANY($1::int8[]) ORDER BY id";
static const char *const sql_cancelled_status
    = "SELECT id, status FROM dtp.task WHERE id = ANY($1::int8[])"
      " ORDER BY id";
static const char *const sql_tasks
    = "SELECT count(*), count(*) FILTER (WHERE status = 'RUNNING' OR"
      " (status = 'PENDING' AND run_at <= now())) FROM dtp.task";
static const char *const sql_audit
    = "SELECT count(*),"
      " count(*) FILTER (WHERE NOT " ALLOWED "),"
      " count(*) FILTER (WHERE old_status IN " FINAL "),"
      " count(*) FILTER (WHERE " BAD_ATTEMPTS "),"
      " count(*) FILTER (WHERE new_status = 'RUNNING')"
      " FROM dtp_audit.transition";
static const char *const sql_reruns
    = "SELECT count(*) FILTER (WHERE n > 1), coalesce(max(n), 0)"
      " FROM (SELECT count(*) AS n FROM dtp_audit.transition"
      " WHERE new_status = 'RUNNING' GROUP BY task_id) x";
static const char *const sql_duplicated
    = "SELECT count(*) FROM (SELECT task_id FROM dtp_audit.transition"
      " WHERE new_status = 'SUCCEEDED' GROUP BY task_id"
      " HAVING count(*) > 1) d";
static const char *const sql_attempts_vs_runs
    = "SELECT count(*) FROM dtp.task t WHERE t.attempts <> (SELECT"
      " count(*) FROM dtp_audit.transition a WHERE a.task_id = t.id"
      " AND a.new_status = 'RUNNING')";
static const char *const sql_status_vs_audit
    = "SELECT count(*) FROM dtp.task t WHERE t.status IS DISTINCT FROM"
      " (SELECT a.new_status FROM dtp_audit.transition a WHERE"
      " a.task_id = t.id ORDER BY a.seq DESC LIMIT 1)";
static const char *const sql_unaudited
    = "SELECT count(*) FROM dtp.task t WHERE NOT EXISTS (SELECT 1 FROM"
      " dtp_audit.transition a WHERE a.task_id = t.id AND"
      " a.old_status IS NULL)";
static const char *const sql_binds_checked
    = "SELECT count(*) FROM pilot.web_task"
      " WHERE scheduler_task_id IS NOT NULL";
static const char *const sql_binds_bad
    = "SELECT count(*) FROM pilot.web_task w LEFT JOIN dtp.task t"
      " ON t.id = w.scheduler_task_id WHERE w.scheduler_task_id IS NOT"
      " NULL AND (t.id IS NULL OR t.idempotency_key IS DISTINCT FROM"
      " 'webtask:' || w.id)";
static const char *const sql_binds_not_one
    = "SELECT count(*) FROM pilot.web_task w WHERE"
      " w.scheduler_task_id IS NOT NULL AND (SELECT count(*) FROM"
      " dtp.task t WHERE t.idempotency_key = 'webtask:' || w.id) <> 1";
static const char *const sql_orphans
    = "SELECT count(*) FROM dtp.task t WHERE t.idempotency_key LIKE"
      " 'webtask:%' AND NOT EXISTS (SELECT 1 FROM pilot.web_task w"
      " WHERE 'webtask:' || w.id = t.idempotency_key AND"
      " w.scheduler_task_id = t.id)";
static const char *const sql_intents
    = "SELECT count(*) FROM pilot.web_task WHERE bind_requested_at IS"
      " NOT NULL AND scheduler_task_id IS NULL";

/* check_accepted: the accepted ids against dtp.task, CHUNK_IDS at once. */
static void
check_accepted(inv_report *r, db_conn *c, const int64_t *ids, size_t n,
    char *lost_ids, size_t lost_size)
{
	size_t lost_len = 0;

	lost_ids[0] = '\0';
	for (size_t off = 0; off < n; off += CHUNK_IDS) {
		size_t      k    = n - off < CHUNK_IDS ? n - off : CHUNK_IDS;
		char       *lit  = ids_literal(ids + off, k);
		const char *p[1] = { lit };
		db_rows    *rows = q(c, sql_by_ids, 1, p);
		int         m    = db_rows_count(rows);
		int         j    = 0;

		for (size_t i = 0; i < k; i++) {
			int64_t id = ids[off + i];
			if (j < m && db_rows_int64(rows, j, 0) == id) {
				const char *st = db_rows_get(rows, j, 1);
				if (strcmp(st, "SUCCEEDED") == 0) {
					r->succeeded++;
				} else if (strcmp(st, "FAILED") == 0) {
					r->failed++;
				} else if (strcmp(st, "CANCELLED") == 0) {
					r->cancelled++;
				} else if (strcmp(st, "PENDING") == 0
				    && db_rows_bool(rows, j, 2)) {
					r->later++;
				} else {
					r->unfinished++;
				}
				j++;
				continue;
			}
			r->lost++;
			if (lost_len + 24 < lost_size) {
				lost_len
				    += (size_t) snprintf(lost_ids + lost_len,
				        lost_size - lost_len, " %" PRId64, id);
			}
		}
		db_rows_free(rows);
		free(lit);
	}
}

/* check_cancels: tasks a cancel was answered OK for must end CANCELLED. */
static void
check_cancels(inv_report *r, db_conn *c, const int64_t *ids, size_t n,
    char *bad_ids, size_t bad_size)
{
	char       *lit  = ids_literal(ids, n);
	const char *p[1] = { lit };
	db_rows    *rows;
	size_t      len = 0;

	bad_ids[0]    = '\0';
	rows          = q(c, sql_cancelled_status, 1, p);
	r->cancels_ok = (int64_t) n;
	for (int i = 0; i < db_rows_count(rows); i++) {
		if (strcmp(db_rows_get(rows, i, 1), "CANCELLED") == 0) {
			r->cancels_honoured++;
		} else if (len + 40 < bad_size) {
			len += (size_t) snprintf(bad_ids + len, bad_size - len,
			    " %s(%s)", db_rows_get(rows, i, 0),
			    db_rows_get(rows, i, 1));
		}
	}
	db_rows_free(rows);
	free(lit);
}

/* check_bind_answers: an OK bind names the task the web task holds. */
static void
check_bind_answers(inv_report *r, db_conn *c, const id_status *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char        id[24];
		const char *p[1] = { id };
		db_rows    *rows;

		if (b[i].rc != TP_OK) {
			continue;
		}
		r->bind_answers_ok++;
		snprintf(id, sizeof(id), "%" PRId64, b[i].id);
		rows = q(c,
		    "SELECT coalesce(scheduler_task_id, 0) FROM pilot.web_task"
		    " WHERE id = $1::int8",
		    1, p);
		if (db_rows_count(rows) != 1
		    || db_rows_int64(rows, 0, 0) != b[i].other) {
			if (r->bind_mismatch < SHOW_ROWS) {
				printf("chaos:   bind of web task %" PRId64
				       " answered task %" PRId64
				       ", web task holds %" PRId64 "\n",
				    b[i].id, b[i].other,
				    db_rows_count(rows) == 1
				        ? db_rows_int64(rows, 0, 0)
				        : -1);
			}
			r->bind_mismatch++;
		}
		db_rows_free(rows);
	}
}

bool
inv_check(inv_report *out, db_conn *c, inv_ledger *l, const char *scenario)
{
	inv_report r;
	int64_t   *created;
	int64_t   *cancelled;
	id_status *binds;
	size_t     n_created, n_cancelled, n_binds = 0;
	char       lost_ids[512];
	char       bad_cancels[512];
	char       verdict[LINE_MAX_];
	bool       ok;
	db_rows   *rows;

	memset(&r, 0, sizeof(r));
	pthread_mutex_lock(&l->mu);
	created   = sorted_ids(&n_created, &l->creates, true, TP_OK);
	cancelled = sorted_ids(&n_cancelled, &l->cancels, false, TP_OK);
	for (size_t i = 0; i < l->cancels.n; i++) {
		if (l->cancels.v[i].rc == TP_FAILED_PRECONDITION) {
			r.cancels_final++;
		} else if (l->cancels.v[i].rc != TP_OK) {
			r.cancels_unknown++;
		}
	}
	binds = tp_xmalloc((l->binds.n + 1) * sizeof(*binds));
	if (l->binds.n > 0) {
		memcpy(binds, l->binds.v, l->binds.n * sizeof(*binds));
	}
	n_binds = l->binds.n;
	pthread_mutex_unlock(&l->mu);

	r.accepted = (int64_t) n_created;
	check_accepted(&r, c, created, n_created, lost_ids, sizeof(lost_ids));
	check_cancels(
	    &r, c, cancelled, n_cancelled, bad_cancels, sizeof(bad_cancels));

	rows    = q(c, sql_tasks, 0, NULL);
	r.tasks = db_rows_int64(rows, 0, 0);
	r.stuck = db_rows_int64(rows, 0, 1);
	db_rows_free(rows);

	rows           = q(c, sql_audit, 0, NULL);
	r.transitions  = db_rows_int64(rows, 0, 0);
	r.illegal      = db_rows_int64(rows, 0, 1);
	r.left_final   = db_rows_int64(rows, 0, 2);
	r.bad_attempts = db_rows_int64(rows, 0, 3);
	r.runs         = db_rows_int64(rows, 0, 4);
	db_rows_free(rows);

	rows          = q(c, sql_reruns, 0, NULL);
	r.rerun_tasks = db_rows_int64(rows, 0, 0);
	r.max_runs    = db_rows_int64(rows, 0, 1);
	db_rows_free(rows);

	r.duplicated       = q_int(c, sql_duplicated);
	r.attempts_vs_runs = q_int(c, sql_attempts_vs_runs);
	r.status_vs_audit  = q_int(c, sql_status_vs_audit);
	r.unaudited        = q_int(c, sql_unaudited);
	r.binds_checked    = q_int(c, sql_binds_checked);
	r.binds_bad        = q_int(c, sql_binds_bad);
	r.binds_not_one    = q_int(c, sql_binds_not_one);
	r.orphans          = q_int(c, sql_orphans);
	r.intents          = q_int(c, sql_intents);
	check_bind_answers(&r, c, binds, n_binds);

	ok = r.lost == 0 && r.unfinished == 0 && r.stuck == 0 && r.illegal == 0
	    && r.left_final == 0 && r.bad_attempts == 0
	    && r.attempts_vs_runs == 0 && r.status_vs_audit == 0
	    && r.unaudited == 0 && r.duplicated == 0
	    && r.cancels_honoured == r.cancels_ok && r.binds_bad == 0
	    && r.binds_not_one == 0 && r.orphans == 0 && r.intents == 0
	    && r.bind_mismatch == 0;

	snprintf(verdict, sizeof(verdict),
	    "chaos verdict [%s]: %s tasks accepted=%" PRId64 " lost=%" PRId64
	    " unfinished=%" PRId64 " later=%" PRId64 " (succeeded=%" PRId64
	    " failed=%" PRId64 " cancelled=%" PRId64 ") rows=%" PRId64
	    " stuck=%" PRId64 " duplicated=%" PRId64 " runs=%" PRId64
	    " rerun_tasks=%" PRId64 " max_runs=%" PRId64 " transitions=%" PRId64
	    " illegal=%" PRId64 " left_final=%" PRId64 " bad_attempts=%" PRId64
	    " attempts_vs_runs=%" PRId64 " status_vs_audit=%" PRId64
	    " unaudited=%" PRId64 " cancels requested=%" PRId64
	    " honoured=%" PRId64 " already_final=%" PRId64 " unknown=%" PRId64
	    " binds checked=%" PRId64 " bad=%" PRId64 " not_one=%" PRId64
	    " orphans=%" PRId64 " intents=%" PRId64 " answers_ok=%" PRId64
	    " mismatched=%" PRId64,
	    scenario, ok ? "PASS" : "FAIL", r.accepted, r.lost, r.unfinished,
	    r.later, r.succeeded, r.failed, r.cancelled, r.tasks, r.stuck,
	    r.duplicated, r.runs, r.rerun_tasks, r.max_runs, r.transitions,
	    r.illegal, r.left_final, r.bad_attempts, r.attempts_vs_runs,
	    r.status_vs_audit, r.unaudited, r.cancels_ok, r.cancels_honoured,
	    r.cancels_final, r.cancels_unknown, r.binds_checked, r.binds_bad,
	    r.binds_not_one, r.orphans, r.intents, r.bind_answers_ok,
	    r.bind_mismatch);
	inv_say("%s", verdict);
	if (r.lost > 0) {
		printf("chaos:   lost task ids:%s\n", lost_ids);
	}
	if (r.cancels_honoured != r.cancels_ok) {
		printf("chaos:   cancels answered OK, not CANCELLED:%s\n",
		    bad_cancels);
	}
	if (r.unfinished > 0 || r.stuck > 0) {
		show(c, "unfinished tasks",
		    "SELECT id, type, status, attempts, max_attempts, "
		    "locked_by,"
		    " run_at, lease_expires_at FROM dtp.task WHERE status ="
		    " 'RUNNING' OR (status = 'PENDING' AND run_at <= now())"
		    " ORDER BY id LIMIT 10",
		    8);
	}
	if (r.illegal > 0 || r.left_final > 0) {
		show(c, "illegal transitions",
		    "SELECT " AUDIT_COLS
		    " FROM dtp_audit.transition WHERE NOT " ALLOWED
		    " ORDER BY seq LIMIT 10",
		    9);
	}
	if (r.bad_attempts > 0) {
		show(c, "transitions with wrong attempts",
		    "SELECT " AUDIT_COLS
		    " FROM dtp_audit.transition WHERE " BAD_ATTEMPTS
		    " ORDER BY seq LIMIT 10",
		    9);
	}
	if (r.duplicated > 0) {
		show(c, "tasks SUCCEEDED more than once",
		    "SELECT " AUDIT_COLS " FROM dtp_audit.transition WHERE"
		    " task_id IN (SELECT task_id FROM dtp_audit.transition"
		    " WHERE new_status = 'SUCCEEDED' GROUP BY task_id HAVING"
		    " count(*) > 1) ORDER BY task_id, seq LIMIT 10",
		    9);
	}
	if (r.attempts_vs_runs > 0 || r.status_vs_audit > 0
	    || r.unaudited > 0) {
		show(c, "tasks disagreeing with their audit",
		    "SELECT t.id, t.status, t.attempts, (SELECT count(*) FROM"
		    " dtp_audit.transition a WHERE a.task_id = t.id AND"
		    " a.new_status = 'RUNNING') FROM dtp.task t WHERE"
		    " t.attempts <> (SELECT count(*) FROM dtp_audit.transition"
		    " a WHERE a.task_id = t.id AND a.new_status = 'RUNNING')"
		    " OR t.status IS DISTINCT FROM (SELECT a.new_status FROM"
		    " dtp_audit.transition a WHERE a.task_id = t.id ORDER BY"
		    " a.seq DESC LIMIT 1) ORDER BY t.id LIMIT 10",
		    4);
	}
	if (r.binds_bad > 0 || r.binds_not_one > 0 || r.orphans > 0
	    || r.intents > 0) {
		show(c, "web tasks and their DTP tasks",
		    "SELECT w.id, w.scheduler_task_id, w.bind_requested_at,"
		    " (SELECT string_agg(t.id::text || ':' ||"
		    " coalesce(t.idempotency_key, ''), ',') FROM dtp.task t"
		    " WHERE t.idempotency_key = 'webtask:' || w.id OR t.id ="
		    " w.scheduler_task_id) FROM pilot.web_task w WHERE"
		    " w.scheduler_task_id IS NULL OR NOT EXISTS (SELECT 1 FROM"
		    " dtp.task t WHERE t.id = w.scheduler_task_id AND"
		    " t.idempotency_key = 'webtask:' || w.id) ORDER BY w.id"
		    " LIMIT 10",
		    4);
		show(c, "orphaned webtask: DTP tasks",
		    "SELECT t.id, t.idempotency_key, t.status FROM dtp.task t"
		    " WHERE t.idempotency_key LIKE 'webtask:%' AND NOT EXISTS"
		    " (SELECT 1 FROM pilot.web_task w WHERE 'webtask:' || w.id"
		    " = t.idempotency_key AND w.scheduler_task_id = t.id)"
		    " ORDER BY t.id LIMIT 10",
		    3);
	}
	fflush(stdout);
	free(created);
	free(cancelled);
	free(binds);
	*out = r;
	return ok;
}
