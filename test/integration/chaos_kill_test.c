/*
 * chaos_kill_test.c: scenario 1 of docs/RELIABILITY.md. Two DTP nodes on
 * one database with a short lease serve a steady load (sleep tasks of
 * 50..200 ms, demo tasks, keyed creates, cancels) while the test SIGKILLs
 * one of them mid-task every few seconds and restarts it on the same
 * address; then the system quiesces and the invariant checker runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chaos_util.h"
#include "invariants.h"

#define RUN_MS   45000 /* the chaos part */
#define ROUND_MS 4000  /* a kill every this often */
#define SERVE_MS 20000 /* after a restart, the load is served within */
#define QUIET_MS 90000 /* then everything is final within */

static const char *db_url;
static db_conn    *db;

static int
group_setup(void **state)
{
	(void) state;
	db_url = th_db_create("chaos_kill");
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
	return 0;
}

typedef struct running_on {
	const char *node;
	int64_t     n;
} running_on;

static bool
running_on_pred(void *arg)
{
	running_on *r = arg;

	r->n = chaos_sql_int(db,
	    "SELECT count(*) FROM dtp.task WHERE status = 'RUNNING' AND"
	    " locked_by = $1",
	    r->node);
	return r->n > 0;
}

static void
test_chaos_kill_nodes_under_load(void **state)
{
	static const char *const args[] = { "--workers", "4", "--lease-ms",
		"1000", "--poll-ms", "200", "--rpc-threads", "4", NULL };
	chaos_node               nodes[2];
	char                     urls[160];
	rpc_client              *c;
	inv_ledger              *ledger = inv_ledger_new();
	chaos_load              *load;
	chaos_load_opts          o;
	inv_report               r;
	long long                t0;
	int                      kills          = 0;
	int64_t                  running_killed = 0;
	bool                     ok;

	(void) state;
	chaos_node_init(&nodes[0], "node-a", db_url, args);
	chaos_node_init(&nodes[1], "node-b", db_url, args);
	chaos_node_start(&nodes[0]);
	chaos_node_start(&nodes[1]);
	snprintf(urls, sizeof(urls), "%s,%s", nodes[0].url, nodes[1].url);
	c = chaos_client("dtp", urls);

	memset(&o, 0, sizeof(o));
	o.name            = "kill";
	o.dtp             = c;
	o.ledger          = ledger;
	o.threads         = 2;
	o.period_ms       = 50;
	o.call_timeout_ms = 3000;
	o.max_attempts    = 10;
	o.key_every       = 5;
	o.cancel_every    = 25;
	load              = chaos_load_start(&o);

	t0 = th_now_ms();
	while (th_now_ms() - t0 < RUN_MS) {
		chaos_node *victim    = &nodes[kills % 2];
		long long   round_end = th_now_ms() + ROUND_MS;
		running_on  ro        = { .node = victim->name };
		int64_t     before;

		/* Mid-task: wait (briefly) until the victim runs something. */
		(void) th_poll_until(running_on_pred, &ro, 3000);
		chaos_node_kill(victim);
		running_killed += ro.n;
		kills++;
		chaos_node_start(victim);
		before = inv_ledger_accepted(ledger);
		if (!chaos_wait_accepted(ledger, before, 10, SERVE_MS)) {
			th_proc_dump_log(&nodes[0].proc);
			th_proc_dump_log(&nodes[1].proc);
			fail_msg(
			    "no task accepted within %d ms of restarting %s",
			    SERVE_MS, victim->name);
		}
		if (th_now_ms() < round_end) {
			chaos_sleep_ms((int) (round_end - th_now_ms()));
		}
	}
	chaos_load_stop(load);
	inv_say("chaos [kill]: %d SIGKILLs in %lld ms, alternating node-a and "
	        "node-b, each restarted on its address; tasks running on "
	        "the victim at its kill: %" PRId64,
	    kills, th_now_ms() - t0, running_killed);

	if (!inv_wait_quiescent(db, false, QUIET_MS)) {
		th_proc_dump_log(&nodes[0].proc);
		th_proc_dump_log(&nodes[1].proc);
		fail_msg("the system did not quiesce within %d ms", QUIET_MS);
	}
	rpc_client_free(c);
	chaos_node_stop(&nodes[0]);
	chaos_node_stop(&nodes[1]);

	inv_ledger_print(ledger, "kill");
	ok = inv_check(&r, db, ledger, "kill");
	inv_ledger_free(ledger);
	assert_true(ok);
	/* The chaos did happen: work was cut off and run again. */
	assert_true(kills >= 8);
	assert_true(running_killed > 0);
	assert_true(r.rerun_tasks > 0);
	assert_true(r.accepted >= 500);
	assert_true(r.cancels_ok > 0);
	/* Ten attempts each: no task may run out of them here. */
	assert_int_equal(r.failed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chaos_kill_nodes_under_load),
	};

	return cmocka_run_group_tests_name(
	    "chaos_kill", tests, group_setup, group_teardown);
}
