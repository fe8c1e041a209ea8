/*
 * dtp_finish_batch_test.c: the group commit of succeeded attempts
 * (scheduler/record.c) end to end, with the real dtp binary and
 * PostgreSQL: a burn-down of pre-created demo tasks with 16 workers ends
 * with every task SUCCEEDED exactly once, its result byte for byte its
 * payload (quotes, backslashes, commas, braces, the word NULL, empty,
 * multibyte UTF-8), in fewer commits than tasks; and a result the database
 * refuses (an exec program printing bytes that are not UTF-8) in the middle
 * of a batch fails its own task only (with -DTP_FAULTS=ON the fault point
 * dtp.worker.finish_batch delays each batch so that the next one fills up,
 * and the test checks that a refused batch held several attempts).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db/conn.h"
#include "dtp_helpers.h"
#include "dtp_metric.h"
#include "harness.h"

#define RUN_MS  60000
#define STOP_MS 15000
/* The burn-down's tasks. */
#define N_BURN 2000
/* The refused-result test: demo tasks, with a bad one every BAD_EVERY. */
#define N_MIXED   400
#define BAD_EVERY 100

static const char *db_url;
static db_conn    *db;
/* Transactions of the test's own connection, left out of the counts. */
static int64_t own_xacts;

/*
 * The payloads, one per task in turn; '#' becomes the task's number, so
 * that a result written to the wrong row shows. Each is a trap for a text[]
 * literal: quotes, backslashes (one before a quote too), commas, braces,
 * the bare word NULL, the empty string, spaces and newlines, UTF-8 of two,
 * three and four bytes.
 */
static const char *const payloads[] = {
	"{\"n\":#,\"s\":\"a \\\"quoted\\\" \\\\ word, {brace} [x]\"}",
	"NULL",
	"",
	"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9d\x84\x9e #",
	"\"#",
	"\\#\\",
	"  spaced # \t\n{}  ",
	"\\\",}{#",
	"{#,NULL}",
};
#define N_PAYLOADS (sizeof(payloads) / sizeof(payloads[0]))

/* SQL on the test's own connection. */

static void
db_open(void)
{
	tp_err err;

	if (db == NULL && db_conn_open(&db, db_url, &err) != TP_OK) {
		fail_msg("db_conn_open: %s", err.msg);
	}
}

static int64_t
sql_int(const char *sql, int n, const char *const *params)
{
	db_rows *rows = NULL;
	tp_err   err;
	int64_t  v;

	db_open();
	if (db_exec(db, &rows, sql, n, params, &err) != TP_OK) {
		fail_msg("%s: %s", sql, err.msg);
	}
	own_xacts++;
	assert_int_equal(db_rows_count(rows), 1);
	v = db_rows_int64(rows, 0, 0);
	db_rows_free(rows);
	return v;
}

/*
 * insert_tasks inserts n PENDING tasks, due now, numbered from 1: demo
 * tasks with the payloads above, and every bad_every-th (0: none) of type
 * exec.bad. Returns the largest id before them.
 */
static int64_t
insert_tasks(int n, int bad_every)
{
	static const char head[]
	    = "WITH ins AS (INSERT INTO dtp.task"
	      " (type, payload, max_attempts, timeout_ms)"
	      " SELECT CASE WHEN g % $2::int4 = 0 THEN 'exec.bad'"
	      " ELSE 'demo' END, replace((ARRAY[";
	char        ns[16];
	char        bs[16];
	const char *params[2 + N_PAYLOADS];
	char        sql[1024];
	size_t      len;
	int64_t     lo;

	lo = sql_int("SELECT coalesce(max(id), 0) FROM dtp.task", 0, NULL);
	snprintf(ns, sizeof(ns), "%d", n);
	snprintf(bs, sizeof(bs), "%d", bad_every > 0 ? bad_every : n + 1);
	params[0] = ns;
	params[1] = bs;
	len       = (size_t) snprintf(sql, sizeof(sql), "%s", head);
	for (size_t i = 0; i < N_PAYLOADS; i++) {
		params[2 + i] = payloads[i];
		len += (size_t) snprintf(sql + len, sizeof(sql) - len,
		    "%s$%zu::text", i > 0 ? "," : "", i + 3);
	}
	snprintf(sql + len, sizeof(sql) - len,
	    "])[g %% %zu + 1], '#', g::text), 3, 60000"
	    " FROM generate_series(1, $1::int4) g ORDER BY g RETURNING 1)"
	    " SELECT count(*) FROM ins",
	    N_PAYLOADS);
	assert_int_equal(
	    sql_int(sql, (int) (2 + N_PAYLOADS), params), (int64_t) n);
	return lo;
}

typedef struct done_wait {
	char    lo[24];
	int64_t left;
} done_wait;

static bool
all_final_pred(void *arg)
{
	done_wait  *w         = arg;
	const char *params[1] = { w->lo };

	w->left = sql_int("SELECT count(*) FROM dtp.task WHERE id > $1::int8"
	                  " AND status IN ('PENDING', 'RUNNING')",
	    1, params);
	return w->left == 0;
}

static void
wait_all_final(int64_t lo, const th_proc *p)
{
	done_wait w;

	snprintf(w.lo, sizeof(w.lo), "%" PRId64, lo);
	if (!th_poll_until(all_final_pred, &w, RUN_MS)) {
		th_proc_dump_log(p);
		fail_msg("%" PRId64 " tasks still unfinished", w.left);
	}
}

/* The database's committed transactions so far. */
static int64_t
xacts(void)
{
	return sql_int("SELECT xact_commit FROM pg_stat_database"
	               " WHERE datname = current_database()",
	    0, NULL);
}

static bool
others_gone_pred(void *arg)
{
	(void) arg;
	return sql_int("SELECT count(*) FROM pg_stat_activity"
	               " WHERE datname = current_database()"
	               " AND pid <> pg_backend_pid()",
	           0, NULL)
	    == 0;
}

static void
node_start(th_proc *p, rpc_client **c, const char *name,
    const char *const *args, char *const *env)
{
	char url[64];

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", th_free_port());
	dtp_h_start(p, name, url, db_url, args, env);
	*c = dtp_h_client(url);
}

/*
 * node_stop stops the node (exit 0 expected) and waits until its
 * backends are gone: a backend reports its transactions when it exits.
 */
static void
node_stop(th_proc *p, rpc_client *c)
{
	rpc_client_free(c);
	if (th_proc_stop(p, STOP_MS) != 0) {
		th_proc_dump_log(p);
		fail_msg("%s did not exit 0 on SIGTERM", p->name);
	}
	assert_true(th_poll_until(others_gone_pred, NULL, STOP_MS));
}

/*
 * count_finished counts, per task in (lo, lo + n], the log's lines
 * "task finished task_id=<id> ... status=SUCCEEDED".
 */
static void
count_finished(int *per_task, int64_t lo, int n, const th_proc *p)
{
	FILE  *f   = fopen(p->log_path, "r");
	char  *buf = NULL;
	size_t cap = 0;

	assert_non_null(f);
	while (getline(&buf, &cap, f) >= 0) {
		const char *at = strstr(buf, "task finished task_id=");
		long long   id;
		if (at == NULL || strstr(buf, "status=SUCCEEDED") == NULL) {
			continue;
		}
		id = strtoll(at + strlen("task finished task_id="), NULL, 10);
		if (id > lo && id <= lo + n) {
			per_task[id - lo - 1]++;
		}
	}
	free(buf);
	fclose(f);
}

static int
group_setup(void **state)
{
	(void) state;
	db_url = th_db_create("dtp_finish_batch");
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	db_conn_free(db);
	db = NULL;
	th_db_drop();
	return 0;
}

static void
test_dtp_finish_batch_burn_down_commits_in_batches(void **state)
{
	static const char *const args[] = { "--workers", "16", NULL };
	th_proc                  p;
	rpc_client              *c;
	int64_t                  lo, x0, x1, own0, commits, rows;
	double                   batches;
	char                     los[24];
	const char              *params[1] = { los };
	int                     *per_task;

	(void) state;
	lo = insert_tasks(N_BURN, 0);
	snprintf(los, sizeof(los), "%" PRId64, lo);
	x0   = xacts();
	own0 = own_xacts;
	node_start(&p, &c, "node-batch", args, NULL);
	wait_all_final(lo, &p);
	dtp_h_metric_wait(
	    c, "dtp_tasks_finished_total", "state=SUCCEEDED", N_BURN, RUN_MS);
	batches = dtp_h_metric(c, "dtp_finish_batches_total", NULL);
	node_stop(&p, c);
	x1 = xacts();
	/* Ours (the polls, this read) are not the node's. */
	commits = x1 - x0 - (own_xacts - own0);
	print_message("%d tasks: %.0f finishing statements, %" PRId64
	              " commits in all (%.2f per task)\n",
	    N_BURN, batches, commits, (double) commits / N_BURN);

	/* Every one SUCCEEDED on its first attempt, byte for byte. */
	rows = sql_int("SELECT count(*) FROM dtp.task WHERE id > $1::int8"
	               " AND status = 'SUCCEEDED' AND attempts = 1"
	               " AND finished_by = 'node-batch'"
	               " AND convert_to(result, 'UTF8')"
	               " = convert_to(payload, 'UTF8')",
	    1, params);
	assert_int_equal(rows, N_BURN);
	/* Recorded once each: one line per success. */
	per_task = calloc(N_BURN, sizeof(int));
	assert_non_null(per_task);
	count_finished(per_task, lo, N_BURN, &p);
	for (int i = 0; i < N_BURN; i++) {
		if (per_task[i] != 1) {
			fail_msg("task %" PRId64 " finished %d times",
			    lo + 1 + i, per_task[i]);
		}
	}
	free(per_task);
	/*
	 * Batches happened: fewer finishing statements than tasks, and
	 * fewer commits in all (claims, renewals and startup included) than
	 * one per task, which one commit per finish alone would need.
	 */
	assert_true(batches >= 1 && batches < N_BURN);
	assert_true(commits < N_BURN);
}

static void
test_dtp_finish_batch_refused_result_fails_only_its_task(void **state)
{
	static char *const env[]
	    = { "TP_FAULTS=dtp.worker.finish_batch=delay:50", NULL };
	const char *args[8];
	char        script[600];
	char        list[700];
	th_proc     p;
	rpc_client *c;
	FILE       *f;
	int64_t     lo;
	char        los[24];
	const char *params[1] = { los };
	const int   n_bad     = N_MIXED / BAD_EVERY;

	(void) state;
	/* Prints a byte that is no UTF-8: PostgreSQL refuses the text. */
	snprintf(script, sizeof(script), "%s/bad.sh", th_tmpdir());
	f = fopen(script, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\nprintf 'refused \\377 result'\n");
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(script, 0755), 0);
	snprintf(list, sizeof(list), "exec.bad=%s", script);
	args[0] = "--workers";
	args[1] = "16";
	args[2] = "--exec";
	args[3] = list;
	args[4] = NULL;

	lo = insert_tasks(N_MIXED, BAD_EVERY);
	snprintf(los, sizeof(los), "%" PRId64, lo);
	/* Batches wait 50 ms before writing, so that the next fills up. */
	node_start(&p, &c, "node-refused", args, env);
	wait_all_final(lo, &p);
	dtp_h_metric_wait(
	    c, "dtp_tasks_finished_total", "state=FAILED", n_bad, RUN_MS);

	/* The bad ones FAILED at once, saying why; the rest SUCCEEDED. */
	assert_int_equal(
	    sql_int("SELECT count(*) FROM dtp.task WHERE id > $1::int8"
	            " AND type = 'exec.bad' AND status = 'FAILED'"
	            " AND attempts = 1 AND result IS NULL"
	            " AND last_error LIKE 'could not store result: %'",
	        1, params),
	    n_bad);
	assert_int_equal(
	    sql_int("SELECT count(*) FROM dtp.task WHERE id > $1::int8"
	            " AND type = 'demo' AND status = 'SUCCEEDED'"
	            " AND attempts = 1 AND convert_to(result, 'UTF8')"
	            " = convert_to(payload, 'UTF8')",
	        1, params),
	    N_MIXED - n_bad);
#ifdef TP_FAULTS
	/* With the delay each bad result shares a batch with others. */
	if (dtp_h_log_max_after(
	        &p, "could not write a batch of succeeded attempts n=")
	    < 2) {
		th_proc_dump_log(&p);
		fail_msg("no refused batch of several attempts was logged");
	}
#else
	print_message("no fault points: whether a refused result shared a "
	              "batch is not checked (largest refused batch: %d)\n",
	    dtp_h_log_max_after(
	        &p, "could not write a batch of succeeded attempts n="));
#endif
	node_stop(&p, c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_dtp_finish_batch_burn_down_commits_in_batches),
		cmocka_unit_test(
		    test_dtp_finish_batch_refused_result_fails_only_its_task),
	};

	return cmocka_run_group_tests_name(
	    "dtp_finish_batch", tests, group_setup, group_teardown);
}
