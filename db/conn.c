/*
 * conn.c: libpq behind conn.h: a connection with its prepared-statement
 * cache and its LISTEN channels, the one SQLSTATE -> tp_status table, and
 * transactions with serialization retries.
 *
 * A connection the server closed while it sat idle (a restart,
 * pg_terminate_backend, idle_session_timeout) is noticed before the next
 * statement is sent, and replaced then: nothing was sent, so nothing is
 * lost. Otherwise a lost connection is noticed by the statement that hits
 * it (PQstatus is CONNECTION_BAD afterwards); that statement returns
 * TP_UNAVAILABLE and marks the connection lost, and the next call
 * reconnects with PQreset.
 * Prepared statements live in the server session, so a reconnect empties
 * the cache and issues the LISTENs again. We never resend the statement that
 * failed: it may have committed before the connection dropped.
 */
#include "db/conn.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "conn_int.h"

/* Reruns of a transaction after 40001/40P01, on top of the first run. */
#define TX_MAX_RETRIES 3
/* Seconds libpq waits for a (re)connection before giving up. */
#define CONNECT_TIMEOUT_S "10"
#define CHANNEL_MAX       63
/*
 * Statements are cached by their SQL text, which callers keep constant; a
 * caller that built text would grow the cache without end, so past this
 * many the cache starts over (DEALLOCATE ALL).
 */
#define STMT_CACHE_MAX 1024

typedef struct stmt {
	char    *sql;
	uint32_t hash;
	char     name[16];
} stmt;

struct db_conn {
	PGconn  *pg;
	bool     lost;    /* the next call reconnects */
	bool     hold;    /* never reconnect (in db_tx, or holding locks) */
	bool     goodbye; /* a FATAL arrived while idle: the session ends */
	stmt    *stmts;
	size_t   n_stmts;
	size_t   cap_stmts;
	unsigned next_stmt_id;
	char   **channels; /* LISTENed, issued again after a reconnect */
	size_t   n_channels;
	char     last_error[256];
	char     last_sqlstate[6];
};

struct db_rows {
	PGresult *res;
};

tp_status
db_status_from_sqlstate(const char *sqlstate)
{
	if (sqlstate == NULL) {
		return TP_UNAVAILABLE;
	}
	if (strlen(sqlstate) != 5) {
		return TP_INTERNAL;
	}
	if (strcmp(sqlstate, "23505") == 0) {
		return TP_ALREADY_EXISTS; /* unique_violation */
	}
	if (strcmp(sqlstate, "57014") == 0) {
		return TP_DEADLINE_EXCEEDED; /* query_canceled
		                                (statement_timeout) */
	}
	if (strncmp(sqlstate, "22", 2) == 0) {
		return TP_INVALID_ARGUMENT; /* data_exception */
	}
	if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0) {
		return TP_UNAVAILABLE; /* serialization failure, deadlock */
	}
	/*
	 * The connection is gone or going: connection_exception (class 08, but
	 * not 08P01 protocol_violation, our bug, after which the session
	 * lives), admin_shutdown, crash_shutdown, cannot_connect_now,
	 * too_many_connections. Trying again later may work.
	 */
	if ((strncmp(sqlstate, "08", 2) == 0 && strcmp(sqlstate, "08P01") != 0)
	    || strcmp(sqlstate, "57P01") == 0 || strcmp(sqlstate, "57P02") == 0
	    || strcmp(sqlstate, "57P03") == 0
	    || strcmp(sqlstate, "53300") == 0) {
		return TP_UNAVAILABLE;
	}
	return TP_INTERNAL;
}

/* one_line copies s into buf with line breaks as spaces and no trailing space.
 */
static void
one_line(char *buf, size_t size, const char *s)
{
	size_t n = 0;

	if (size == 0) {
		return;
	}
	for (; s != NULL && *s != '\0' && n + 1 < size; s++) {
		bool space
		    = *s == '\n' || *s == '\r' || *s == '\t' || *s == ' ';
		if (space && (n == 0 || buf[n - 1] == ' ')) {
			continue;
		}
		buf[n++] = space ? ' ' : *s;
	}
	while (n > 0 && buf[n - 1] == ' ') {
		n--;
	}
	buf[n] = '\0';
}

static const char *
field_or(const PGresult *res, int code, const char *def)
{
	const char *v = res != NULL ? PQresultErrorField(res, code) : NULL;
	return v != NULL ? v : def;
}

/*
 * fail maps a failed result (res may be NULL) to a status, remembers the
 * server's words on c, and fills err. DETAIL is never logged: it can quote
 * a whole row, payload included.
 */
static tp_status
fail(db_conn *c, const PGresult *res, const char *sql, tp_err *err)
{
	const char *state = field_or(res, PG_DIAG_SQLSTATE, NULL);
	char        msg[sizeof(c->last_error)];
	tp_status   code;

	one_line(msg, sizeof(msg),
	    field_or(res, PG_DIAG_MESSAGE_PRIMARY, PQerrorMessage(c->pg)));
	snprintf(c->last_error, sizeof(c->last_error), "%s", msg);
	snprintf(c->last_sqlstate, sizeof(c->last_sqlstate), "%s",
	    state != NULL ? state : "");

	if (PQstatus(c->pg) == CONNECTION_BAD
	    || (state != NULL
	        && db_status_from_sqlstate(state) == TP_UNAVAILABLE
	        && strncmp(state, "40", 2) != 0)) {
		if (!c->lost) {
			tp_log_warn("db",
			    "connection lost sqlstate=%s error=\"%s\"",
			    state != NULL ? state : "none", msg);
		}
		c->lost = true;
		return tp_err_set(err, TP_UNAVAILABLE,
		    "could not reach the database: connection lost");
	}
	code = state != NULL ? db_status_from_sqlstate(state) : TP_INTERNAL;
	if (code == TP_INTERNAL) {
		char stmt_head[120];
		one_line(stmt_head, sizeof(stmt_head), sql);
		tp_log_error("db",
		    "statement failed sqlstate=%s error=\"%s\" schema=%s "
		    "table=%s column=%s constraint=%s statement=\"%s\"",
		    state != NULL ? state : "none", msg,
		    field_or(res, PG_DIAG_SCHEMA_NAME, "-"),
		    field_or(res, PG_DIAG_TABLE_NAME, "-"),
		    field_or(res, PG_DIAG_COLUMN_NAME, "-"),
		    field_or(res, PG_DIAG_CONSTRAINT_NAME, "-"), stmt_head);
		return tp_err_set(err, TP_INTERNAL, "internal error");
	}
	return tp_err_set(err, code, "%s", msg);
}

static void
clear_stmts(db_conn *c)
{
	for (size_t i = 0; i < c->n_stmts; i++) {
		free(c->stmts[i].sql);
	}
	c->n_stmts = 0;
}

/*
 * notice_cb replaces libpq's default, which prints NOTICEs ("relation
 * already exists, skipping") to stderr outside our log format. libpq also
 * hands it an error that arrives while no statement is outstanding: a
 * FATAL then is the server's goodbye (57P01 and the like).
 */
static void
notice_cb(void *arg, const PGresult *res)
{
	db_conn    *c = arg;
	const char *sev
	    = field_or(res, PG_DIAG_SEVERITY_NONLOCALIZED, "NOTICE");
	char msg[512];

	if (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0) {
		c->goodbye = true;
	}
	one_line(msg, sizeof(msg), field_or(res, PG_DIAG_MESSAGE_PRIMARY, ""));
	if (strcmp(sev, "WARNING") == 0) {
		tp_log_warn("db", "server warning sqlstate=%s error=\"%s\"",
		    field_or(res, PG_DIAG_SQLSTATE, "none"), msg);
	} else {
		tp_log_debug("db", "server %s sqlstate=%s msg=\"%s\"", sev,
		    field_or(res, PG_DIAG_SQLSTATE, "none"), msg);
	}
}

tp_status
db_conn_open(db_conn **out, const char *conninfo, tp_err *err)
{
	/*
	 * The caller's string is expanded last, so anything it says wins over
	 * these defaults; application_name comes from it too when present.
	 */
	const char *const keys[] = { "connect_timeout", "client_encoding",
		"fallback_application_name", "dbname", NULL };
	const char *const vals[] = { CONNECT_TIMEOUT_S, "UTF8",
		program_invocation_short_name, conninfo, NULL };
	PGconn           *pg;
	db_conn          *c;

	if (conninfo == NULL || *conninfo == '\0') {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "cannot connect to the database: no connection string");
	}
	pg = PQconnectdbParams(keys, vals, 1);
	if (pg == NULL) {
		return tp_err_set(err, TP_UNAVAILABLE,
		    "could not connect to the database: out of memory");
	}
	if (PQstatus(pg) != CONNECTION_OK) {
		char dsn[512];
		char msg[512];
		one_line(msg, sizeof(msg), PQerrorMessage(pg));
		tp_cfg_redact_dsn(dsn, sizeof(dsn), conninfo);
		PQfinish(pg);
		return tp_err_set(err, TP_UNAVAILABLE,
		    "could not connect to the database \"%s\": %s", dsn, msg);
	}
	c = tp_xcalloc(1, sizeof(*c));
	PQsetNoticeReceiver(pg, notice_cb, c);
	c->pg = pg;
	*out  = c;
	return TP_OK;
}

void
db_conn_free(db_conn *c)
{
	if (c == NULL) {
		return;
	}
	PQfinish(c->pg);
	clear_stmts(c);
	free(c->stmts);
	for (size_t i = 0; i < c->n_channels; i++) {
		free(c->channels[i]);
	}
	free(c->channels);
	free(c);
}

static tp_status
exec_listen(db_conn *c, const char *channel, tp_err *err)
{
	char      sql[CHANNEL_MAX + 16];
	PGresult *res;
	tp_status rc = TP_OK;

	/* channel was checked to be [a-z_][a-z0-9_]*, so quoting is enough. */
	snprintf(sql, sizeof(sql), "LISTEN \"%s\"", channel);
	res = PQexec(c->pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = fail(c, res, sql, err);
	}
	PQclear(res);
	return rc;
}

/*
 * died_while_idle reports whether the server closed c while no statement
 * was outstanding: its last words (an error such as 57P01) and the end of
 * the stream are then waiting on the socket. One poll when nothing is
 * there; what is there (notifications too) is read into libpq's buffer,
 * where PQnotifies finds it later.
 */
static bool
died_while_idle(db_conn *c)
{
	struct pollfd p = { .fd = PQsocket(c->pg), .events = POLLIN };

	if (c->goodbye) {
		return true;
	}
	if (p.fd < 0 || PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		return false;
	}
	/* A goodbye is one read, its end-of-file the next. */
	for (int i = 0; i < 4 && poll(&p, 1, 0) == 1; i++) {
		if (!PQconsumeInput(c->pg)) {
			return true;
		}
		/* Parses what was read: an error goes to notice_cb,
		 * notifications wait for PQnotifies. */
		(void) PQisBusy(c->pg);
		if (c->goodbye) {
			return true;
		}
	}
	return PQstatus(c->pg) != CONNECTION_OK;
}

tp_status
db_conn_ensure(db_conn *c, tp_err *err)
{
	tp_status rc;

	if (!c->lost && PQstatus(c->pg) == CONNECTION_OK
	    && (c->hold || !died_while_idle(c))) {
		return TP_OK;
	}
	if (!c->lost && !c->hold) {
		tp_log_info("db",
		    "connection closed by the server while idle, "
		    "reconnecting");
	}
	c->lost = true;
	if (c->hold) {
		/* A new session would hold neither our transaction nor locks.
		 */
		return tp_err_set(err, TP_UNAVAILABLE,
		    "could not reach the database: connection lost");
	}
	PQreset(c->pg);
	if (PQstatus(c->pg) != CONNECTION_OK) {
		char msg[256];
		one_line(msg, sizeof(msg), PQerrorMessage(c->pg));
		return tp_err_set(err, TP_UNAVAILABLE,
		    "could not reconnect to the database: %s", msg);
	}
	c->lost    = false;
	c->goodbye = false;
	clear_stmts(c);
	for (size_t i = 0; i < c->n_channels; i++) {
		if ((rc = exec_listen(c, c->channels[i], err)) != TP_OK) {
			return rc;
		}
	}
	tp_log_info("db", "reconnected channels=%zu", c->n_channels);
	return TP_OK;
}

/* FNV-1a: a cheap first comparison before strcmp. */
static uint32_t
hash_sql(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s != '\0'; s++) {
		h = (h ^ (unsigned char) *s) * 16777619u;
	}
	return h;
}

static const stmt *
find_stmt(const db_conn *c, const char *sql, uint32_t h)
{
	for (size_t i = 0; i < c->n_stmts; i++) {
		if (c->stmts[i].hash == h
		    && strcmp(c->stmts[i].sql, sql) == 0) {
			return &c->stmts[i];
		}
	}
	return NULL;
}

/* prepare returns the cached statement for sql, preparing it on a miss. */
static tp_status
prepare(
    const stmt **out, db_conn *c, const char *sql, int n_params, tp_err *err)
{
	uint32_t    h = hash_sql(sql);
	const stmt *s = find_stmt(c, sql, h);
	stmt        fresh;
	PGresult   *res;

	if (s != NULL) {
		*out = s;
		return TP_OK;
	}
	if (c->n_stmts >= STMT_CACHE_MAX) {
		res = PQexec(c->pg, "DEALLOCATE ALL");
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			tp_status rc = fail(c, res, "DEALLOCATE ALL", err);
			PQclear(res);
			return rc;
		}
		PQclear(res);
		tp_log_warn("db",
		    "statement cache full, cleared statements=%zu", c->n_stmts);
		clear_stmts(c);
	}
	snprintf(fresh.name, sizeof(fresh.name), "s%u", ++c->next_stmt_id);
	res = PQprepare(c->pg, fresh.name, sql, n_params, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		tp_status rc = fail(c, res, sql, err);
		PQclear(res);
		return rc;
	}
	PQclear(res);
	if (c->n_stmts == c->cap_stmts) {
		c->cap_stmts = c->cap_stmts == 0 ? 32 : c->cap_stmts * 2;
		c->stmts
		    = tp_xrealloc(c->stmts, c->cap_stmts * sizeof(*c->stmts));
	}
	fresh.sql            = tp_xstrdup(sql);
	fresh.hash           = h;
	c->stmts[c->n_stmts] = fresh;
	*out                 = &c->stmts[c->n_stmts++];
	return TP_OK;
}

tp_status
db_exec(db_conn *c, db_rows **out, const char *sql, int n_params,
    const char *const *params, tp_err *err)
{
	tp_status   rc  = TP_OK;
	PGresult   *res = NULL;
	const stmt *s   = NULL;

	if ((rc = db_conn_ensure(c, err)) != TP_OK) {
		goto out;
	}
	if ((rc = prepare(&s, c, sql, n_params, err)) != TP_OK) {
		goto out;
	}
	res = PQexecPrepared(c->pg, s->name, n_params, params, NULL, NULL, 0);
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		break;
	default: {
		const char *state = field_or(res, PG_DIAG_SQLSTATE, "");
		rc                = fail(c, res, sql, err);
		/* invalid_sql_statement_name: someone ran DISCARD; re-prepare.
		 */
		if (strcmp(state, "26000") == 0) {
			clear_stmts(c);
		}
		goto out;
	}
	}
	if (out != NULL) {
		db_rows *r = tp_xmalloc(sizeof(*r));
		r->res     = res;
		res        = NULL;
		*out       = r;
	}
out:
	PQclear(res);
	return rc;
}

tp_status
db_exec_simple(db_conn *c, const char *sql, tp_err *err)
{
	tp_status rc  = TP_OK;
	PGresult *res = NULL;

	if ((rc = db_conn_ensure(c, err)) != TP_OK) {
		return rc;
	}
	res = PQexec(c->pg, sql);
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
	case PGRES_EMPTY_QUERY:
		break;
	default:
		rc = fail(c, res, sql, err);
		break;
	}
	PQclear(res);
	return rc;
}

int
db_rows_count(const db_rows *r)
{
	return r != NULL ? PQntuples(r->res) : 0;
}

long long
db_rows_affected(const db_rows *r)
{
	const char *n = r != NULL ? PQcmdTuples(r->res) : "";
	return *n != '\0' ? strtoll(n, NULL, 10) : 0;
}

const char *
db_rows_get(const db_rows *r, int row, int col)
{
	const char *v;

	if (r == NULL || row < 0 || row >= PQntuples(r->res) || col < 0
	    || col >= PQnfields(r->res)) {
		return "";
	}
	v = PQgetvalue(r->res, row, col);
	return v != NULL ? v : "";
}

bool
db_rows_is_null(const db_rows *r, int row, int col)
{
	if (r == NULL || row < 0 || row >= PQntuples(r->res) || col < 0
	    || col >= PQnfields(r->res)) {
		return true;
	}
	return PQgetisnull(r->res, row, col) != 0;
}

int64_t
db_rows_int64(const db_rows *r, int row, int col)
{
	if (db_rows_is_null(r, row, col)) {
		return 0;
	}
	return (int64_t) strtoll(db_rows_get(r, row, col), NULL, 10);
}

bool
db_rows_bool(const db_rows *r, int row, int col)
{
	return strcmp(db_rows_get(r, row, col), "t") == 0;
}

void
db_rows_free(db_rows *r)
{
	if (r == NULL) {
		return;
	}
	PQclear(r->res);
	free(r);
}

/* rollback ends whatever transaction is open; its own failure is moot. */
static void
rollback(db_conn *c)
{
	PGresult *res;

	if (PQstatus(c->pg) != CONNECTION_OK
	    || PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
		return;
	}
	res = PQexec(c->pg, "ROLLBACK");
	if (PQresultStatus(res) != PGRES_COMMAND_OK
	    && PQstatus(c->pg) == CONNECTION_BAD) {
		c->lost = true;
	}
	PQclear(res);
}

static bool
is_retryable(const db_conn *c)
{
	return strcmp(c->last_sqlstate, "40001") == 0
	    || strcmp(c->last_sqlstate, "40P01") == 0;
}

/* backoff sleeps a few jittered ms, so two rerun parties do not collide again.
 */
static void
backoff(const db_conn *c, int attempt)
{
	uint64_t        seed = (uint64_t) tp_clock_mono_us() ^ (uintptr_t) c;
	long            us   = 1000L * attempt + (long) (seed % 4000u);
	struct timespec ts   = { 0, us * 1000L };

	nanosleep(&ts, NULL);
}

/* tx_once runs one attempt: BEGIN, fn, COMMIT, or ROLLBACK on failure. */
static tp_status
tx_once(db_conn *c, db_tx_cb fn, void *arg, tp_err *err)
{
	tp_status rc;

	if ((rc = db_exec_simple(c, "BEGIN", err)) != TP_OK) {
		return rc;
	}
	c->last_sqlstate[0] = '\0';
	rc                  = fn(c, arg, err);
	if (rc == TP_OK && c->lost) {
		rc = tp_err_set(err, TP_UNAVAILABLE,
		    "could not reach the database: connection lost");
	}
	if (rc == TP_OK && PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
		/* COMMIT would quietly roll back: fn lost an error. */
		tp_log_error("db",
		    "transaction callback returned OK after a failed "
		    "statement error=\"%s\"",
		    c->last_error);
		rc = tp_err_set(err, TP_INTERNAL, "internal error");
	}
	if (rc == TP_OK) {
		rc = db_exec_simple(c, "COMMIT", err);
	}
	if (rc != TP_OK) {
		rollback(c);
	}
	return rc;
}

tp_status
db_tx(db_conn *c, db_tx_cb fn, void *arg, tp_err *err)
{
	bool      held = c->hold;
	tp_status rc   = TP_OK;

	for (int attempt = 1;; attempt++) {
		if ((rc = db_conn_ensure(c, err)) != TP_OK) {
			return rc;
		}
		if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
			tp_log_error(
			    "db", "db_tx called inside an open transaction");
			return tp_err_set(err, TP_INTERNAL, "internal error");
		}
		/*
		 * Held: were the connection lost inside fn, a later statement
		 * of fn must fail rather than reconnect and run outside the
		 * transaction (in autocommit, on a new session).
		 */
		c->hold = true;
		rc      = tx_once(c, fn, arg, err);
		c->hold = held;
		if (rc == TP_OK || !is_retryable(c)) {
			return rc;
		}
		if (attempt > TX_MAX_RETRIES) {
			return tp_err_set(err, TP_UNAVAILABLE,
			    "could not complete the transaction: %s "
			    "(%d attempts)",
			    c->last_error, attempt);
		}
		tp_log_debug("db",
		    "retrying transaction sqlstate=%s attempt=%d",
		    c->last_sqlstate, attempt + 1);
		backoff(c, attempt);
	}
}

static bool
channel_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CHANNEL_MAX || (s[0] >= '0' && s[0] <= '9')) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z')
		        || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) {
			return false;
		}
	}
	return true;
}

tp_status
db_listen(db_conn *c, const char *channel, tp_err *err)
{
	tp_status rc;

	if (channel == NULL || !channel_ok(channel)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid channel name \"%s\": expected "
		    "[a-z_][a-z0-9_]{0,62}",
		    channel != NULL ? channel : "");
	}
	for (size_t i = 0; i < c->n_channels; i++) {
		if (strcmp(c->channels[i], channel) == 0) {
			return TP_OK;
		}
	}
	if ((rc = db_conn_ensure(c, err)) != TP_OK) {
		return rc;
	}
	if ((rc = exec_listen(c, channel, err)) != TP_OK) {
		return rc;
	}
	c->channels = tp_xrealloc(
	    c->channels, (c->n_channels + 1) * sizeof(*c->channels));
	c->channels[c->n_channels++] = tp_xstrdup(channel);
	return TP_OK;
}

int
db_conn_socket(db_conn *c)
{
	if (c == NULL || c->pg == NULL || c->lost) {
		return -1;
	}
	return PQsocket(c->pg);
}

tp_status
db_conn_next_notify(db_conn *c, bool *got, char *channel, size_t channel_size,
    char *payload, size_t payload_size, tp_err *err)
{
	PGnotify *n;

	if (c->lost || PQstatus(c->pg) != CONNECTION_OK) {
		c->lost = true;
		return tp_err_set(err, TP_UNAVAILABLE,
		    "could not reach the database: connection lost");
	}
	if (PQconsumeInput(c->pg) == 0) {
		char msg[256];
		one_line(msg, sizeof(msg), PQerrorMessage(c->pg));
		if (!c->lost) {
			tp_log_warn("db", "connection lost error=\"%s\"", msg);
		}
		c->lost = true;
		return tp_err_set(err, TP_UNAVAILABLE,
		    "could not reach the database: connection lost");
	}
	n = PQnotifies(c->pg);
	if (n == NULL) {
		if (PQstatus(c->pg) != CONNECTION_OK) {
			c->lost = true;
			return tp_err_set(err, TP_UNAVAILABLE,
			    "could not reach the database: connection lost");
		}
		*got = false;
		return TP_OK;
	}
	if (channel != NULL && channel_size > 0) {
		snprintf(channel, channel_size, "%s", n->relname);
	}
	if (payload != NULL && payload_size > 0) {
		snprintf(payload, payload_size, "%s",
		    n->extra != NULL ? n->extra : "");
	}
	PQfreemem(n);
	*got = true;
	return TP_OK;
}

const char *
db_conn_last_error(const db_conn *c)
{
	return c->last_error;
}

const char *
db_conn_last_sqlstate(const db_conn *c)
{
	return c->last_sqlstate;
}

bool
db_conn_usable(const db_conn *c)
{
	return !c->lost && PQstatus(c->pg) == CONNECTION_OK;
}

bool
db_conn_hold(db_conn *c, bool hold)
{
	bool was = c->hold;

	c->hold = hold;
	return was;
}

void
db_conn_rollback(db_conn *c)
{
	rollback(c);
}
