/*
 * db_conn_test.c: db/conn.h against a real PostgreSQL: parameters and rows,
 * the SQLSTATE mapping as callers see it, transactions and their retries,
 * LISTEN/NOTIFY, and reconnecting after the server dropped the session.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/conn.h"
#include "harness.h"

static const char *url;

static db_conn *
connect_db(void)
{
	db_conn *c   = NULL;
	tp_err   err = { 0 };

	if (db_conn_open(&c, url, &err) != TP_OK) {
		fail_msg("could not connect: %s", err.msg);
	}
	return c;
}

static int64_t
query_int(db_conn *c, const char *sql)
{
	db_rows *rows = NULL;
	tp_err   err  = { 0 };
	int64_t  v;

	if (db_exec(c, &rows, sql, 0, NULL, &err) != TP_OK) {
		fail_msg("%s: %s", sql, err.msg);
	}
	v = db_rows_int64(rows, 0, 0);
	db_rows_free(rows);
	return v;
}

static int
group_setup(void **state)
{
	db_conn *c   = NULL;
	tp_err   err = { 0 };

	(void) state;
	url = th_db_create("db_conn");
	if (url == NULL || db_conn_open(&c, url, &err) != TP_OK) {
		return -1;
	}
	if (db_exec_simple(c,
	        "CREATE TABLE kv (id bigserial PRIMARY KEY, k text UNIQUE, "
	        "n int, flag boolean);\n"
	        "CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL);\n"
	        "INSERT INTO counter VALUES (1, 0);",
	        &err)
	    != TP_OK) {
		fprintf(stderr, "setup: %s\n", err.msg);
		db_conn_free(c);
		return -1;
	}
	db_conn_free(c);
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	th_db_drop();
	return 0;
}

static void
test_db_exec_params_and_rows(void **state)
{
	db_conn    *c    = connect_db();
	db_rows    *rows = NULL;
	tp_err      err  = { 0 };
	const char *ins[3];
	const char *sel[1] = { "alpha" };
	int64_t     id;

	(void) state;
	ins[0] = "alpha";
	ins[1] = "42";
	ins[2] = "true";
	assert_int_equal(db_exec(c, &rows,
	                     "INSERT INTO kv (k, n, flag) VALUES ($1, $2, $3) "
	                     "RETURNING id",
	                     3, ins, &err),
	    TP_OK);
	assert_int_equal(db_rows_count(rows), 1);
	assert_int_equal(db_rows_affected(rows), 1);
	id = db_rows_int64(rows, 0, 0);
	assert_true(id > 0);
	db_rows_free(rows);

	/* NULL parameters are SQL NULL; the same text reuses its statement. */
	ins[0] = "beta";
	ins[1] = NULL;
	ins[2] = NULL;
	assert_int_equal(db_exec(c, NULL,
	                     "INSERT INTO kv (k, n, flag) VALUES ($1, $2, $3) "
	                     "RETURNING id",
	                     3, ins, &err),
	    TP_OK);

	rows = NULL;
	assert_int_equal(
	    db_exec(c, &rows, "SELECT id, k, n, flag FROM kv WHERE k = $1", 1,
	        sel, &err),
	    TP_OK);
	assert_int_equal(db_rows_count(rows), 1);
	assert_int_equal(db_rows_int64(rows, 0, 0), id);
	assert_string_equal(db_rows_get(rows, 0, 1), "alpha");
	assert_int_equal(db_rows_int64(rows, 0, 2), 42);
	assert_true(db_rows_bool(rows, 0, 3));
	assert_false(db_rows_is_null(rows, 0, 2));
	/* Out of range reads are empty, not crashes. */
	assert_string_equal(db_rows_get(rows, 5, 0), "");
	assert_string_equal(db_rows_get(rows, 0, 9), "");
	assert_true(db_rows_is_null(rows, -1, 0));
	db_rows_free(rows);

	sel[0] = "beta";
	rows   = NULL;
	assert_int_equal(
	    db_exec(c, &rows, "SELECT id, k, n, flag FROM kv WHERE k = $1", 1,
	        sel, &err),
	    TP_OK);
	assert_true(db_rows_is_null(rows, 0, 2));
	assert_string_equal(db_rows_get(rows, 0, 2), "");
	assert_int_equal(db_rows_int64(rows, 0, 2), 0);
	assert_false(db_rows_bool(rows, 0, 3));
	db_rows_free(rows);

	/* Affected rows of an UPDATE; no rows is TP_OK with a count of 0. */
	rows = NULL;
	assert_int_equal(
	    db_exec(c, &rows, "UPDATE kv SET n = 1 WHERE k IN ($1, 'alpha')", 1,
	        sel, &err),
	    TP_OK);
	assert_int_equal(db_rows_affected(rows), 2);
	assert_int_equal(db_rows_count(rows), 0);
	db_rows_free(rows);
	sel[0] = "nobody";
	rows   = NULL;
	assert_int_equal(
	    db_exec(c, &rows, "SELECT id, k, n, flag FROM kv WHERE k = $1", 1,
	        sel, &err),
	    TP_OK);
	assert_int_equal(db_rows_count(rows), 0);
	db_rows_free(rows);

	db_rows_free(NULL);
	db_conn_free(c);
	db_conn_free(NULL);
}

static void
test_db_errors_map_by_sqlstate(void **state)
{
	db_conn    *c      = connect_db();
	tp_err      err    = { 0 };
	db_rows    *rows   = NULL;
	const char *dup[3] = { "dup", "1", NULL };
	const char *bad[1] = { "abc" };
	const char *big[1] = { "99999999999" };

	(void) state;
	assert_int_equal(
	    db_exec(c, NULL, "INSERT INTO kv (k, n, flag) VALUES ($1, $2, $3)",
	        3, dup, &err),
	    TP_OK);
	assert_int_equal(
	    db_exec(c, NULL, "INSERT INTO kv (k, n, flag) VALUES ($1, $2, $3)",
	        3, dup, &err),
	    TP_ALREADY_EXISTS);
	assert_int_equal(err.code, TP_ALREADY_EXISTS);
	assert_non_null(strstr(err.msg, "duplicate key"));

	/* Class 22: bad input for a cast is the caller's fault. */
	assert_int_equal(db_exec(c, &rows, "SELECT $1::int", 1, bad, &err),
	    TP_INVALID_ARGUMENT);
	assert_null(rows);
	assert_non_null(strstr(err.msg, "invalid input syntax"));
	assert_int_equal(db_exec(c, &rows, "SELECT $1::int", 1, big, &err),
	    TP_INVALID_ARGUMENT);

	/* Anything else is INTERNAL, and the caller learns nothing more. */
	assert_int_equal(db_exec_simple(c, "SELECT * FROM no_such_table", &err),
	    TP_INTERNAL);
	assert_string_equal(err.msg, "internal error");
	assert_int_equal(
	    db_exec(c, &rows, "SELECT nope FROM kv", 0, NULL, &err),
	    TP_INTERNAL);
	assert_string_equal(err.msg, "internal error");

	/* statement_timeout is DEADLINE_EXCEEDED. */
	assert_int_equal(
	    db_exec_simple(c, "SET statement_timeout = 50", &err), TP_OK);
	assert_int_equal(db_exec_simple(c, "SELECT pg_sleep(2)", &err),
	    TP_DEADLINE_EXCEEDED);
	assert_int_equal(
	    db_exec_simple(c, "RESET statement_timeout", &err), TP_OK);

	/* A parameter count that does not match is our bug, not a lost link. */
	{
		int64_t before = query_int(c, "SELECT pg_backend_pid()");
		assert_int_equal(
		    db_exec(c, NULL, "SELECT $1::int + $2::int", 1, bad, &err),
		    TP_INTERNAL);
		assert_int_equal(
		    query_int(c, "SELECT pg_backend_pid()"), before);
	}

	/* The connection is still good after all of that. */
	assert_int_equal(query_int(c, "SELECT 7"), 7);
	db_conn_free(c);
}

static void
test_db_open_failure_redacts_password(void **state)
{
	db_conn *c   = NULL;
	tp_err   err = { 0 };

	(void) state;
	assert_int_equal(
	    db_conn_open(&c, "postgresql://someone:sekrit@127.0.0.1:1/x", &err),
	    TP_UNAVAILABLE);
	assert_null(c);
	assert_non_null(strstr(err.msg, "could not connect"));
	assert_null(strstr(err.msg, "sekrit"));
	assert_int_equal(db_conn_open(&c, "", &err), TP_INVALID_ARGUMENT);
	assert_null(c);
}

typedef struct tx_arg {
	int         runs;
	int         fail_runs; /* raise serialization_failure this many times */
	tp_status   result;    /* what fn returns after its insert */
	bool        swallow;   /* ignore a failed statement and return OK */
	const char *key;
} tx_arg;

static tp_status
tx_fn(db_conn *c, void *arg, tp_err *err)
{
	tx_arg     *a         = arg;
	const char *params[1] = { a->key };
	tp_status   rc;

	a->runs++;
	rc = db_exec(c, NULL, "INSERT INTO kv (k) VALUES ($1)", 1, params, err);
	if (rc != TP_OK) {
		return rc;
	}
	if (a->runs <= a->fail_runs) {
		return db_exec_simple(c,
		    "DO $$BEGIN RAISE EXCEPTION 'conflict' "
		    "USING ERRCODE = 'serialization_failure'; END$$",
		    err);
	}
	if (a->swallow) {
		if (db_exec_simple(c, "SELECT 1/0", err) == TP_OK) {
			return TP_INTERNAL;
		}
		return TP_OK;
	}
	return a->result != TP_OK ? tp_err_set(err, a->result, "fn says no")
	                          : TP_OK;
}

static int64_t
count_key(db_conn *c, const char *key)
{
	db_rows    *rows      = NULL;
	tp_err      err       = { 0 };
	const char *params[1] = { key };
	int64_t     n;

	assert_int_equal(
	    db_exec(c, &rows, "SELECT count(*) FROM kv WHERE k = $1", 1, params,
	        &err),
	    TP_OK);
	n = db_rows_int64(rows, 0, 0);
	db_rows_free(rows);
	return n;
}

static void
test_db_tx_commits_rolls_back_and_retries(void **state)
{
	db_conn *c   = connect_db();
	tp_err   err = { 0 };
	tx_arg   a;

	(void) state;
	a = (tx_arg) { .key = "tx-ok" };
	assert_int_equal(db_tx(c, tx_fn, &a, &err), TP_OK);
	assert_int_equal(a.runs, 1);
	assert_int_equal(count_key(c, "tx-ok"), 1);

	/* fn's failure rolls back its insert and comes back unchanged. */
	a = (tx_arg) { .key = "tx-no", .result = TP_NOT_FOUND };
	assert_int_equal(db_tx(c, tx_fn, &a, &err), TP_NOT_FOUND);
	assert_string_equal(err.msg, "fn says no");
	assert_int_equal(count_key(c, "tx-no"), 0);

	/* Two serialization failures, then success: one row. */
	a = (tx_arg) { .key = "tx-retry", .fail_runs = 2 };
	assert_int_equal(db_tx(c, tx_fn, &a, &err), TP_OK);
	assert_int_equal(a.runs, 3);
	assert_int_equal(count_key(c, "tx-retry"), 1);

	/* Always failing: the first run plus 3 reruns, then UNAVAILABLE. */
	a = (tx_arg) { .key = "tx-never", .fail_runs = 100 };
	assert_int_equal(db_tx(c, tx_fn, &a, &err), TP_UNAVAILABLE);
	assert_int_equal(a.runs, 4);
	assert_int_equal(count_key(c, "tx-never"), 0);

	/* OK after a failed statement would COMMIT as a ROLLBACK: refused. */
	a = (tx_arg) { .key = "tx-swallow", .swallow = true };
	assert_int_equal(db_tx(c, tx_fn, &a, &err), TP_INTERNAL);
	assert_int_equal(count_key(c, "tx-swallow"), 0);

	/* And the connection is idle and usable afterwards. */
	a = (tx_arg) { .key = "tx-after" };
	assert_int_equal(db_tx(c, tx_fn, &a, &err), TP_OK);
	db_conn_free(c);
}

typedef struct notify_wait {
	db_conn  *c;
	char      channel[64];
	char      payload[64];
	tp_status rc;
} notify_wait;

static bool
got_notify_cb(void *arg)
{
	notify_wait *w   = arg;
	bool         got = false;
	tp_err       err = { 0 };

	w->rc = db_conn_next_notify(w->c, &got, w->channel, sizeof(w->channel),
	    w->payload, sizeof(w->payload), &err);
	return w->rc != TP_OK || got;
}

static void
test_db_listen_notify(void **state)
{
	db_conn    *l   = connect_db();
	db_conn    *s   = connect_db();
	tp_err      err = { 0 };
	notify_wait w   = { .c = l };
	bool        got = true;

	(void) state;
	assert_int_equal(db_listen(l, "tp_test_chan", &err), TP_OK);
	assert_int_equal(db_listen(l, "tp_test_chan", &err), TP_OK);
	assert_int_equal(db_listen(l, "Bad-Name", &err), TP_INVALID_ARGUMENT);
	assert_true(db_conn_socket(l) >= 0);
	assert_int_equal(
	    db_conn_next_notify(l, &got, NULL, 0, NULL, 0, &err), TP_OK);
	assert_false(got);

	assert_int_equal(
	    db_exec_simple(s, "NOTIFY tp_test_chan, 'hello'", &err), TP_OK);
	assert_true(th_poll_until(got_notify_cb, &w, 5000));
	assert_int_equal(w.rc, TP_OK);
	assert_string_equal(w.channel, "tp_test_chan");
	assert_string_equal(w.payload, "hello");
	db_conn_free(s);
	db_conn_free(l);
}

typedef struct gone_arg {
	db_conn    *c;
	const char *pid;
} gone_arg;

static bool
backend_gone_cb(void *arg)
{
	gone_arg   *g         = arg;
	db_rows    *rows      = NULL;
	tp_err      err       = { 0 };
	const char *params[1] = { g->pid };
	bool        gone;

	if (db_exec(g->c, &rows,
	        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", 1,
	        params, &err)
	    != TP_OK) {
		return false;
	}
	gone = db_rows_int64(rows, 0, 0) == 0;
	db_rows_free(rows);
	return gone;
}

static void
terminate(db_conn *admin, db_conn *victim, char *pid, size_t size)
{
	tp_err      err       = { 0 };
	db_rows    *rows      = NULL;
	const char *params[1] = { pid };
	gone_arg    g         = { admin, pid };

	snprintf(pid, size, "%lld",
	    (long long) query_int(victim, "SELECT pg_backend_pid()"));
	assert_int_equal(
	    db_exec(admin, &rows, "SELECT pg_terminate_backend($1::int)", 1,
	        params, &err),
	    TP_OK);
	assert_true(db_rows_bool(rows, 0, 0));
	db_rows_free(rows);
	/* The backend is really gone before the victim speaks again. */
	assert_true(th_poll_until(backend_gone_cb, &g, 10000));
}

typedef struct lost_arg {
	db_conn  *admin;
	tp_status second; /* what the statement after the loss returned */
	tp_status third;
} lost_arg;

/* lost_fn loses its connection midway, then ignores that and goes on. */
static tp_status
lost_fn(db_conn *c, void *arg, tp_err *err)
{
	lost_arg   *a = arg;
	char        pid[32];
	const char *k1[1] = { "lost-1" };
	const char *k2[1] = { "lost-2" };
	const char *k3[1] = { "lost-3" };
	tp_status   rc;

	rc = db_exec(c, NULL, "INSERT INTO kv (k) VALUES ($1)", 1, k1, err);
	if (rc != TP_OK) {
		return rc;
	}
	terminate(a->admin, c, pid, sizeof(pid));
	a->second
	    = db_exec(c, NULL, "INSERT INTO kv (k) VALUES ($1)", 1, k2, err);
	a->third
	    = db_exec(c, NULL, "INSERT INTO kv (k) VALUES ($1)", 1, k3, err);
	return TP_OK;
}

static void
test_db_tx_never_reconnects_inside(void **state)
{
	db_conn *c     = connect_db();
	db_conn *admin = connect_db();
	tp_err   err   = { 0 };
	lost_arg a     = { .admin = admin };
	tx_arg   ok    = { .key = "after-lost" };

	(void) state;
	assert_int_equal(db_tx(c, lost_fn, &a, &err), TP_UNAVAILABLE);
	assert_int_equal(a.second, TP_UNAVAILABLE);
	/* Not reconnected and run in autocommit on a fresh session. */
	assert_int_equal(a.third, TP_UNAVAILABLE);
	assert_int_equal(count_key(admin, "lost-1"), 0);
	assert_int_equal(count_key(admin, "lost-2"), 0);
	assert_int_equal(count_key(admin, "lost-3"), 0);
	/* Outside a transaction the next call reconnects. */
	assert_int_equal(db_tx(c, tx_fn, &ok, &err), TP_OK);
	assert_int_equal(count_key(admin, "after-lost"), 1);
	db_conn_free(admin);
	db_conn_free(c);
}

static void
test_db_reconnects_after_terminate(void **state)
{
	db_conn    *c     = connect_db();
	db_conn    *admin = connect_db();
	db_conn    *s     = connect_db();
	tp_err      err   = { 0 };
	db_rows    *rows  = NULL;
	char        pid[32];
	char        pid2[32];
	const char *params[1] = { "5" };
	notify_wait w         = { .c = c };

	(void) state;
	/* Prepared before the drop: the cache must not outlive the session. */
	assert_int_equal(
	    db_exec(c, &rows, "SELECT $1::int + 1", 1, params, &err), TP_OK);
	db_rows_free(rows);
	assert_int_equal(db_listen(c, "tp_test_again", &err), TP_OK);

	/*
	 * Closed by the server while idle: noticed before sending, so the
	 * call reconnects, prepares again, and works.
	 */
	terminate(admin, c, pid, sizeof(pid));
	rows = NULL;
	assert_int_equal(
	    db_exec(c, &rows, "SELECT $1::int + 1", 1, params, &err), TP_OK);
	assert_int_equal(db_rows_int64(rows, 0, 0), 6);
	db_rows_free(rows);
	snprintf(pid2, sizeof(pid2), "%lld",
	    (long long) query_int(c, "SELECT pg_backend_pid()"));
	assert_string_not_equal(pid, pid2);

	/* Its LISTEN came back with it. */
	assert_int_equal(
	    db_exec_simple(s, "NOTIFY tp_test_again, 'back'", &err), TP_OK);
	assert_true(th_poll_until(got_notify_cb, &w, 5000));
	assert_int_equal(w.rc, TP_OK);
	assert_string_equal(w.payload, "back");

	/* A lost connection seen by the notify reader, then db_conn_ensure. */
	terminate(admin, c, pid, sizeof(pid));
	w.rc = TP_OK;
	assert_true(th_poll_until(got_notify_cb, &w, 5000));
	assert_int_equal(w.rc, TP_UNAVAILABLE);
	assert_int_equal(db_conn_socket(c), -1);
	assert_int_equal(db_conn_ensure(c, &err), TP_OK);
	assert_true(db_conn_socket(c) >= 0);
	assert_int_equal(query_int(c, "SELECT 3"), 3);

	/* Closed while idle, then a transaction: it reconnects first. */
	terminate(admin, c, pid, sizeof(pid));
	{
		tx_arg a = { .key = "tx-after-idle-close" };
		assert_int_equal(db_tx(c, tx_fn, &a, &err), TP_OK);
		assert_int_equal(count_key(c, "tx-after-idle-close"), 1);
	}
	/* Closed inside a transaction: see test_db_tx_never_reconnects_inside. */
	db_conn_free(s);
	db_conn_free(admin);
	db_conn_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_db_exec_params_and_rows),
		cmocka_unit_test(test_db_errors_map_by_sqlstate),
		cmocka_unit_test(test_db_open_failure_redacts_password),
		cmocka_unit_test(test_db_tx_commits_rolls_back_and_retries),
		cmocka_unit_test(test_db_listen_notify),
		cmocka_unit_test(test_db_reconnects_after_terminate),
		cmocka_unit_test(test_db_tx_never_reconnects_inside),
	};
	return cmocka_run_group_tests_name(
	    "db_conn", tests, group_setup, group_teardown);
}
