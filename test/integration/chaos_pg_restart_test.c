/*
 * chaos_pg_restart_test.c: scenario 2 of docs/RELIABILITY.md. PostgreSQL
 * restarts under load: two DTP nodes and a taskpilot on a private cluster
 * this test owns (scripts/pg.sh in its tmpdir; never the shared fixture
 * cluster, which other tests use meanwhile) serve a steady load of tasks
 * and binds while the server is restarted with `pg_ctl restart -m fast`,
 * and once stopped for a while (stop, calls, start) so that calls surely
 * meet the gap. The services reconnect by themselves; calls in the gap get
 * UNAVAILABLE (or DEADLINE_EXCEEDED), nothing else; nothing accepted is
 * lost.
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

#define WARM_MS   3000  /* load before the first restart */
#define PAUSE_MS  3000  /* load between restarts */
#define SERVE_MS  30000 /* after a restart, the load is served within */
#define QUIET_MS  90000
#define GAP_CALLS 5

static chaos_pg    pg;
static const char *db_url;
static db_conn    *db;

static int
group_setup(void **state)
{
	(void) state;
	chaos_pg_start(&pg);
	/* th_db_create makes the test database on DATABASE_URL's server. */
	setenv("DATABASE_URL", pg.url, 1);
	db_url = th_db_create("chaos_pg_restart");
	db     = chaos_db_open(db_url);
	inv_install_audit(db);
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	db_conn_free(db);
	th_db_drop();
	chaos_pg_stop(&pg);
	return 0;
}

/* served waits until the load gets creates accepted again. */
static void
served(inv_ledger *ledger, chaos_node *nodes, th_proc *pilot, const char *after)
{
	int64_t before = inv_ledger_accepted(ledger);

	if (!chaos_wait_accepted(ledger, before, 10, SERVE_MS)) {
		th_proc_dump_log(&nodes[0].proc);
		th_proc_dump_log(&nodes[1].proc);
		th_proc_dump_log(pilot);
		fail_msg(
		    "no task accepted within %d ms after %s", SERVE_MS, after);
	}
}

static void
test_chaos_pg_restart_under_load(void **state)
{
	static const char *const args[] = { "--workers", "3", "--lease-ms",
		"2000", "--poll-ms", "200", "--rpc-threads", "3", NULL };
	chaos_node               nodes[2];
	th_proc                  pilot;
	char                     pilot_url[64];
	char                     urls[160];
	rpc_client              *dtp;
	rpc_client              *pc;
	inv_ledger              *ledger = inv_ledger_new();
	chaos_load              *load;
	chaos_load_opts          o;
	inv_report               r;
	long long                ms[3];
	int                      gap_unavailable = 0;
	bool                     ok;

	(void) state;
	chaos_node_init(&nodes[0], "node-a", db_url, args);
	chaos_node_init(&nodes[1], "node-b", db_url, args);
	chaos_node_start(&nodes[0]);
	chaos_node_start(&nodes[1]);
	snprintf(urls, sizeof(urls), "%s,%s", nodes[0].url, nodes[1].url);
	chaos_pilot_start(&pilot, "taskpilot", pilot_url, db_url, urls, NULL);
	dtp = chaos_client("dtp", urls);
	pc  = chaos_client("taskpilot", pilot_url);

	memset(&o, 0, sizeof(o));
	o.name            = "pgrestart";
	o.dtp             = dtp;
	o.pilot           = pc;
	o.ledger          = ledger;
	o.threads         = 2;
	o.period_ms       = 60;
	o.call_timeout_ms = 3000;
	o.max_attempts    = 10;
	o.key_every       = 5;
	o.cancel_every    = 25;
	o.bind_every      = 5;
	load              = chaos_load_start(&o);
	chaos_sleep_ms(WARM_MS);
	served(ledger, nodes, &pilot, "the start");

	ms[0] = chaos_pg_ctl(&pg, "restart");
	served(ledger, nodes, &pilot, "the first restart");
	chaos_sleep_ms(PAUSE_MS);

	/* A restart with a gap the test can hit for sure. */
	{
		long long t0 = th_now_ms();
		(void) chaos_pg_ctl(&pg, "stop");
		for (int i = 0; i < GAP_CALLS; i++) {
			tp_err    err;
			int64_t   id;
			tp_status rc = chaos_create(dtp, ledger, &id, "demo",
			    "{\"gap\":true}", NULL, 10, 3000, &err);
			if (rc != TP_UNAVAILABLE) {
				fail_msg("CreateTask with the database down: "
				         "%s (%s), want UNAVAILABLE",
				    tp_status_name(rc), err.msg);
			}
			gap_unavailable++;
		}
		(void) chaos_pg_ctl(&pg, "start");
		ms[1] = th_now_ms() - t0;
	}
	served(ledger, nodes, &pilot, "the stop and start");
	chaos_sleep_ms(PAUSE_MS);

	ms[2] = chaos_pg_ctl(&pg, "restart");
	served(ledger, nodes, &pilot, "the third restart");
	chaos_sleep_ms(PAUSE_MS);
	chaos_load_stop(load);
	inv_say("chaos [pg_restart]: PostgreSQL restarted 3 times under load "
	        "(pg_ctl restart -m fast %lld ms; stop + %d calls + start "
	        "%lld ms, every call UNAVAILABLE; restart %lld ms)",
	    ms[0], gap_unavailable, ms[1], ms[2]);

	if (!inv_wait_quiescent(db, true, QUIET_MS)) {
		th_proc_dump_log(&nodes[0].proc);
		th_proc_dump_log(&nodes[1].proc);
		th_proc_dump_log(&pilot);
		fail_msg("the system did not quiesce within %d ms", QUIET_MS);
	}
	rpc_client_free(pc);
	rpc_client_free(dtp);
	if (th_proc_stop(&pilot, CHAOS_STOP_MS) != 0) {
		th_proc_dump_log(&pilot);
		fail_msg("taskpilot did not exit 0 on SIGTERM");
	}
	chaos_node_stop(&nodes[0]);
	chaos_node_stop(&nodes[1]);

	inv_ledger_print(ledger, "pg_restart");
	ok = inv_check(&r, db, ledger, "pg_restart");
	chaos_expect_answers(ledger, "CreateTask", CHAOS_TRANSIENT);
	chaos_expect_answers(ledger, "CreateWebTask", CHAOS_TRANSIENT);
	chaos_expect_answers(ledger, "BindScheduler", CHAOS_TRANSIENT);
	chaos_expect_answers(ledger, "CancelTask",
	    CHAOS_TRANSIENT | CHAOS_BIT(TP_FAILED_PRECONDITION));
	assert_true(inv_ledger_count(ledger, "CreateTask", TP_UNAVAILABLE)
	    >= GAP_CALLS);
	inv_ledger_free(ledger);
	assert_true(ok);
	assert_true(r.accepted >= 200);
	assert_true(r.binds_checked > 0);
	assert_int_equal(r.failed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chaos_pg_restart_under_load),
	};

	return cmocka_run_group_tests_name(
	    "chaos_pg_restart", tests, group_setup, group_teardown);
}
