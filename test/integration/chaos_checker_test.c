/*
 * chaos_checker_test.c: the invariant checker itself (invariants.c) must be
 * able to fail. Each case writes, by hand in SQL, a state that breaks one
 * invariant (a lost task, an illegal transition, a task SUCCEEDED twice, a
 * claim that skips an attempt, a cancel not honoured, a bind to a missing
 * or mis-keyed task, an orphaned webtask: task, an unfinished intent, an
 * unaudited task...) and checks that the checker says FAIL and counts
 * exactly that. No service runs: only the test database.
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

#include "chaos_util.h"
#include "invariants.h"

static db_conn *db;

static int
group_setup(void **state)
{
	(void) state;
	/* These verdicts are about the checker, not the system. */
	unsetenv("TP_CHAOS_REPORT");
	db = chaos_db_open(th_db_create("chaos_checker"));
	inv_install_audit(db);
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	db_conn_free(db);
	th_db_drop();
	return 0;
}

/* Each case starts from empty tables. */
static int
reset(void **state)
{
	tp_err err;

	(void) state;
	if (db_exec_simple(db,
	        "TRUNCATE dtp.task, dtp_audit.transition, pilot.web_task"
	        " RESTART IDENTITY",
	        &err)
	    != TP_OK) {
		fail_msg("truncate: %s", err.msg);
	}
	return 0;
}

static void
sql(const char *text)
{
	tp_err err;

	if (db_exec_simple(db, text, &err) != TP_OK) {
		fail_msg("%s: %s", text, err.msg);
	}
}

/* task inserts a PENDING task with key (NULL: none); returns its id. */
static int64_t
task(const char *key)
{
	if (key == NULL) {
		return chaos_sql_int(db,
		    "INSERT INTO dtp.task (type, payload, max_attempts,"
		    " timeout_ms) VALUES ('demo', 'x', 3, 1000) RETURNING id",
		    NULL);
	}
	return chaos_sql_int(db,
	    "INSERT INTO dtp.task (type, payload, max_attempts, timeout_ms,"
	    " idempotency_key) VALUES ('demo', 'x', 3, 1000, $1) RETURNING id",
	    key);
}

/* The moves the product makes, by hand. */
#define CLAIM                                                              \
	"UPDATE dtp.task SET status = 'RUNNING', attempts = attempts + 1," \
	" locked_by = 'n1' WHERE id = "
#define SUCCEED                                                      \
	"UPDATE dtp.task SET status = 'SUCCEEDED', locked_by = NULL" \
	" WHERE id = "

static void
run_to_success(int64_t id)
{
	char buf[256];

	snprintf(
	    buf, sizeof(buf), CLAIM "%" PRId64 "; " SUCCEED "%" PRId64, id, id);
	sql(buf);
}

static void
test_checker_passes_a_clean_run(void **state)
{
	inv_ledger *l = inv_ledger_new();
	inv_report  r;
	int64_t     a, b, c;

	(void) state;
	a = task(NULL);
	b = task(NULL);
	c = task(NULL);
	run_to_success(a);
	/* b: a lease expired once, then it ran again. */
	sql(CLAIM "2; UPDATE dtp.task SET status = 'PENDING', locked_by = NULL"
	          " WHERE id = 2;" CLAIM "2;" SUCCEED "2");
	/* c: cancelled while PENDING; d: scheduled for later. */
	sql("UPDATE dtp.task SET status = 'CANCELLED', cancel_requested ="
	    " true WHERE id = 3");
	sql("INSERT INTO dtp.task (type, payload, max_attempts, timeout_ms,"
	    " run_at) VALUES ('demo', 'x', 3, 1000, now() + interval '1 h')");
	inv_note_create(l, TP_OK, a);
	inv_note_create(l, TP_OK, a); /* a replay: counts once */
	inv_note_create(l, TP_OK, b);
	inv_note_create(l, TP_OK, c);
	inv_note_create(l, TP_OK, 4);
	inv_note_create(l, TP_UNAVAILABLE, 0);
	inv_note_cancel(l, c, TP_OK);
	inv_note_cancel(l, a, TP_FAILED_PRECONDITION);
	assert_true(inv_check(&r, db, l, "checker_clean"));
	assert_int_equal(r.accepted, 4);
	assert_int_equal(r.succeeded, 2);
	assert_int_equal(r.cancelled, 1);
	assert_int_equal(r.later, 1);
	assert_int_equal(r.runs, 3);
	assert_int_equal(r.rerun_tasks, 1);
	assert_int_equal(r.max_runs, 2);
	assert_int_equal(r.cancels_ok, 1);
	assert_int_equal(r.cancels_honoured, 1);
	assert_int_equal(r.cancels_final, 1);
	inv_ledger_free(l);
}

static void
test_checker_finds_lost_and_unfinished_tasks(void **state)
{
	inv_ledger *l = inv_ledger_new();
	inv_report  r;
	int64_t     a;

	(void) state;
	a = task(NULL);
	sql(CLAIM "1");
	inv_note_create(l, TP_OK, a);
	inv_note_create(l, TP_OK, 999); /* answered OK, never stored */
	assert_false(inv_check(&r, db, l, "checker_lost"));
	assert_int_equal(r.lost, 1);
	assert_int_equal(r.unfinished, 1);
	assert_int_equal(r.stuck, 1);
	inv_ledger_free(l);
}

static void
test_checker_finds_illegal_transitions_and_duplicates(void **state)
{
	inv_ledger *l = inv_ledger_new();
	inv_report  r;

	(void) state;
	(void) task(NULL);
	(void) task(NULL);
	run_to_success(1);
	/* Out of a final state, and SUCCEEDED a second time. */
	sql(CLAIM "1;" SUCCEED "1");
	/* PENDING straight to SUCCEEDED. */
	sql(SUCCEED "2");
	assert_false(inv_check(&r, db, l, "checker_illegal"));
	assert_int_equal(r.illegal, 2);
	assert_int_equal(r.left_final, 1);
	assert_int_equal(r.duplicated, 1);
	inv_ledger_free(l);
}

static void
test_checker_finds_bad_attempts(void **state)
{
	inv_ledger *l = inv_ledger_new();
	inv_report  r;

	(void) state;
	(void) task(NULL);
	(void) task(NULL);
	/* A claim that adds 2; an end that changes attempts. */
	sql("UPDATE dtp.task SET status = 'RUNNING', attempts = attempts + 2"
	    " WHERE id = 1;" SUCCEED "1");
	sql(CLAIM "2; UPDATE dtp.task SET status = 'SUCCEEDED', attempts = 5"
	          " WHERE id = 2");
	assert_false(inv_check(&r, db, l, "checker_attempts"));
	assert_int_equal(r.bad_attempts, 2);
	assert_int_equal(r.attempts_vs_runs, 2);
	assert_int_equal(r.illegal, 0);
	inv_ledger_free(l);
}

static void
test_checker_finds_a_cancel_not_honoured(void **state)
{
	inv_ledger *l = inv_ledger_new();
	inv_report  r;

	(void) state;
	(void) task(NULL);
	run_to_success(1);
	inv_note_cancel(l, 1, TP_OK);
	assert_false(inv_check(&r, db, l, "checker_cancel"));
	assert_int_equal(r.cancels_ok, 1);
	assert_int_equal(r.cancels_honoured, 0);
	inv_ledger_free(l);
}

static void
test_checker_finds_bad_binds(void **state)
{
	inv_ledger *l = inv_ledger_new();
	inv_report  r;

	(void) state;
	/* web 1: bound right. web 2: bound to a missing task. web 3: bound
	 * to a task with another key. web 4: unbound, but a webtask:4 task
	 * exists (orphan). web 5: an intent nobody finished. */
	sql("INSERT INTO pilot.web_task (type, payload) SELECT 'demo', 'x'"
	    " FROM generate_series(1, 5)");
	(void) task("webtask:1");
	(void) task("other");
	(void) task("webtask:4");
	run_to_success(1);
	run_to_success(2);
	run_to_success(3);
	sql("UPDATE pilot.web_task SET scheduler_task_id = 1 WHERE id = 1;"
	    "UPDATE pilot.web_task SET scheduler_task_id = 77 WHERE id = 2;"
	    "UPDATE pilot.web_task SET scheduler_task_id = 2 WHERE id = 3;"
	    "UPDATE pilot.web_task SET bind_requested_at = now() WHERE id = 5");
	inv_note_bind(l, 1, TP_OK, 1);
	inv_note_bind(l, 3, TP_OK, 3); /* answered a task it does not hold */
	assert_false(inv_check(&r, db, l, "checker_binds"));
	assert_int_equal(r.binds_checked, 3);
	assert_int_equal(r.binds_bad, 2);
	assert_int_equal(r.binds_not_one, 2);
	assert_int_equal(r.orphans, 1);
	assert_int_equal(r.intents, 1);
	assert_int_equal(r.bind_answers_ok, 2);
	assert_int_equal(r.bind_mismatch, 1);
	inv_ledger_free(l);
}

static void
test_checker_finds_unaudited_tasks(void **state)
{
	inv_ledger *l = inv_ledger_new();
	inv_report  r;

	(void) state;
	sql("ALTER TABLE dtp.task DISABLE TRIGGER audit_insert");
	(void) task(NULL);
	sql("ALTER TABLE dtp.task ENABLE TRIGGER audit_insert");
	run_to_success(1);
	assert_false(inv_check(&r, db, l, "checker_unaudited"));
	assert_int_equal(r.unaudited, 1);
	inv_ledger_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_checker_passes_a_clean_run, reset),
		cmocka_unit_test_setup(
		    test_checker_finds_lost_and_unfinished_tasks, reset),
		cmocka_unit_test_setup(
		    test_checker_finds_illegal_transitions_and_duplicates,
		    reset),
		cmocka_unit_test_setup(test_checker_finds_bad_attempts, reset),
		cmocka_unit_test_setup(
		    test_checker_finds_a_cancel_not_honoured, reset),
		cmocka_unit_test_setup(test_checker_finds_bad_binds, reset),
		cmocka_unit_test_setup(
		    test_checker_finds_unaudited_tasks, reset),
	};

	return cmocka_run_group_tests_name(
	    "chaos_checker", tests, group_setup, group_teardown);
}
