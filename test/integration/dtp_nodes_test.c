/*
 * dtp_nodes_test.c: several DTP nodes on one database: a task created on a
 * busy node wakes another through NOTIFY, a cancel sent to one node stops
 * the handler on another, a node killed mid-task has its lease reaped and
 * the task rerun elsewhere, and a frozen node's late attempt changes
 * nothing once its lease was taken back (fencing on the attempt).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <pb_decode.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "dtp_helpers.h"
#include "harness.h"

#define RUN_MS  15000
#define STOP_MS 15000

#ifdef TP_FAULTS
#define NEED_FAULTS() ((void) 0)
#else
#define NEED_FAULTS()                                                         \
	do {                                                                  \
		print_message("skipped: dtp was built without fault points; " \
		              "configure with -DTP_FAULTS=ON (as "            \
		              "scripts/test.sh does) to run this test\n");    \
		skip();                                                       \
	} while (0)
#endif

static const char *db_url;

typedef struct node {
	th_proc     proc;
	char        url[64];
	rpc_client *client;
} node;

static void
node_start_env(
    node *n, const char *name, const char *const *args, char *const *env)
{
	snprintf(n->url, sizeof(n->url), "tcp://127.0.0.1:%d", th_free_port());
	dtp_h_start(&n->proc, name, n->url, db_url, args, env);
	n->client = dtp_h_client(n->url);
}

static void
node_start(node *n, const char *name, const char *const *args)
{
	node_start_env(n, name, args, NULL);
}

static void
node_stop(node *n)
{
	rpc_client_free(n->client);
	n->client = NULL;
	if (th_proc_stop(&n->proc, STOP_MS) != 0) {
		th_proc_dump_log(&n->proc);
		fail_msg("%s did not exit 0 on SIGTERM", n->proc.name);
	}
}

static int
group_setup(void **state)
{
	(void) state;
	db_url = th_db_create("dtp_nodes");
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
test_dtp_nodes_notify_wakes_another_node_and_cancel_crosses(void **state)
{
	/* Slow polls: only NOTIFY can explain a quick pickup. */
	static const char *const busy_args[]
	    = { "--workers", "1", "--poll-ms", "10000", NULL };
	static const char *const idle_args[]
	    = { "--workers", "2", "--poll-ms", "10000", NULL };
	node        a;
	node        b;
	th_proc    *procs[2] = { &a.proc, &b.proc };
	dtp_v1_Task t;
	tp_err      err;
	int64_t     sleeper;
	int64_t     demo;
	long long   t0;
	char        line[128];

	(void) state;
	node_start(&b, "node-busy", busy_args);
	sleeper = dtp_h_must_create(b.client, "sleep", "{\"ms\":60000}", NULL);
	dtp_h_wait_status(b.client, sleeper,
	    dtp_v1_TaskStatus_TASK_STATUS_RUNNING, 1, RUN_MS, &t, procs + 1, 1);
	assert_string_equal(t.locked_by, "node-busy");
	pb_release(dtp_v1_Task_fields, &t);

	node_start(&a, "node-idle", idle_args);
	/* node-busy has no idle worker: node-idle must hear of the task. */
	demo = dtp_h_must_create(b.client, "demo", "{\"x\":1}", NULL);
	dtp_h_wait_status(a.client, demo,
	    dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED, 1, RUN_MS, &t, procs, 2);
	assert_true(t.started_at_ms - t.created_at_ms < 2000);
	pb_release(dtp_v1_Task_fields, &t);
	snprintf(
	    line, sizeof(line), "task finished task_id=%" PRId64 " ", demo);
	assert_true(dtp_h_log_has(&a.proc, line));

	/* A cancel sent to node-idle stops the handler on node-busy. */
	t0 = th_now_ms();
	assert_int_equal(dtp_h_cancel(a.client, sleeper, &t, &err), TP_OK);
	assert_true(t.cancel_requested);
	assert_int_equal(t.status, dtp_v1_TaskStatus_TASK_STATUS_RUNNING);
	pb_release(dtp_v1_Task_fields, &t);
	dtp_h_wait_status(a.client, sleeper,
	    dtp_v1_TaskStatus_TASK_STATUS_CANCELLED, 1, 1000, NULL, procs, 2);
	assert_true(th_now_ms() - t0 < 1000);
	snprintf(line, sizeof(line),
	    "task finished task_id=%" PRId64 " type=sleep attempt=1 "
	    "status=CANCELLED",
	    sleeper);
	assert_true(dtp_h_log_has(&b.proc, line));

	node_stop(&a);
	node_stop(&b);
}

static void
test_dtp_nodes_expired_lease_reruns_on_another_node(void **state)
{
	static const char *const args[]
	    = { "--workers", "1", "--lease-ms", "600", NULL };
	node        a;
	node        b;
	th_proc    *procs[2] = { &a.proc, &b.proc };
	dtp_h_opts  o        = { .max_attempts = 3 };
	dtp_v1_Task t;
	int64_t     id;

	(void) state;
	node_start(&a, "node-dies", args);
	id = dtp_h_must_create(a.client, "sleep", "{\"ms\":1000}", &o);
	dtp_h_wait_status(a.client, id, dtp_v1_TaskStatus_TASK_STATUS_RUNNING,
	    1, RUN_MS, NULL, procs, 1);
	th_proc_kill(&a.proc);
	rpc_client_free(a.client);

	node_start(&b, "node-lives", args);
	dtp_h_wait_status(b.client, id, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED,
	    2, RUN_MS, &t, procs + 1, 1);
	assert_int_equal(t.attempts, 2);
	assert_non_null(strstr(
	    t.last_error, "lease of attempt 1 expired on node node-dies"));
	pb_release(dtp_v1_Task_fields, &t);
	node_stop(&b);
}

typedef struct zombie_log {
	const th_proc *proc;
	char           late[128];
	char           abandoned[128];
} zombie_log;

static bool
zombie_logged_pred(void *arg)
{
	zombie_log *z = arg;

	return dtp_h_log_has(z->proc, z->late)
	    || dtp_h_log_has(z->proc, z->abandoned);
}

static void
test_dtp_nodes_late_attempt_changes_nothing(void **state)
{
	static const char *const args[]
	    = { "--workers", "1", "--lease-ms", "600", NULL };
	node        a;
	node        b;
	th_proc    *procs[2] = { &a.proc, &b.proc };
	dtp_h_opts  o        = { .max_attempts = 3 };
	dtp_v1_Task t;
	int64_t     id;
	zombie_log  z;

	(void) state;
	node_start(&a, "node-frozen", args);
	id = dtp_h_must_create(a.client, "sleep", "{\"ms\":1200}", &o);
	dtp_h_wait_status(a.client, id, dtp_v1_TaskStatus_TASK_STATUS_RUNNING,
	    1, RUN_MS, NULL, procs, 1);
	/* Frozen, node-frozen cannot renew: its lease runs out. */
	assert_int_equal(kill(a.proc.pid, SIGSTOP), 0);

	node_start(&b, "node-thawed", args);
	dtp_h_wait_status(b.client, id, dtp_v1_TaskStatus_TASK_STATUS_RUNNING,
	    2, RUN_MS, &t, procs + 1, 1);
	assert_string_equal(t.locked_by, "node-thawed");
	pb_release(dtp_v1_Task_fields, &t);
	assert_int_equal(kill(a.proc.pid, SIGCONT), 0);

	/* The first attempt's end, or its lost lease, writes nothing. */
	z.proc = &a.proc;
	snprintf(z.late, sizeof(z.late),
	    "late end of attempt ignored task_id=%" PRId64 " attempt=1", id);
	snprintf(z.abandoned, sizeof(z.abandoned),
	    "attempt abandoned task_id=%" PRId64 " attempt=1", id);
	if (!th_poll_until(zombie_logged_pred, &z, RUN_MS)) {
		th_proc_dump_log(&a.proc);
		fail_msg("node-frozen did not drop its stale attempt");
	}
	dtp_h_wait_status(b.client, id, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED,
	    2, RUN_MS, &t, procs, 2);
	assert_int_equal(t.attempts, 2);
	pb_release(dtp_v1_Task_fields, &t);
	node_stop(&a);
	node_stop(&b);
}

static bool
is_dead_pred(void *arg)
{
	return !th_proc_alive(arg);
}

/* A node that dies between committing a claim and starting the handler
 * leaves a lease nobody renews: the reaper on another node ends it. */
static void
test_dtp_nodes_crash_after_claim_is_reaped(void **state)
{
	static const char *const args[]
	    = { "--workers", "1", "--lease-ms", "600", NULL };
	static char *const crash[]
	    = { "TP_FAULTS=dtp.claim.after_commit=crash", NULL };
	node        a;
	node        b;
	th_proc    *procs[1] = { &b.proc };
	dtp_v1_Task t;
	int64_t     id;

	(void) state;
	NEED_FAULTS();
	node_start_env(&a, "node-crashes", args, crash);
	id = dtp_h_must_create(a.client, "demo", "{\"after\":\"crash\"}", NULL);
	if (!th_poll_until(is_dead_pred, &a.proc, RUN_MS)) {
		th_proc_dump_log(&a.proc);
		fail_msg("node-crashes did not crash after its claim");
	}
	rpc_client_free(a.client);

	node_start(&b, "node-reaps", args);
	dtp_h_wait_status(b.client, id, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED,
	    2, RUN_MS, &t, procs, 1);
	assert_int_equal(t.attempts, 2);
	assert_string_equal(t.result, "{\"after\":\"crash\"}");
	assert_non_null(strstr(
	    t.last_error, "lease of attempt 1 expired on node node-crashes"));
	pb_release(dtp_v1_Task_fields, &t);
	node_stop(&b);
}

/* A node that cannot renew stops its handler rather than run on beside a
 * second copy; the expired lease then uses up the task's attempts. */
static void
test_dtp_nodes_failed_renewal_stops_the_handler(void **state)
{
	static const char *const args[]
	    = { "--workers", "1", "--lease-ms", "600", NULL };
	static char *const no_renew[]
	    = { "TP_FAULTS=dtp.lease.renew=fail", NULL };
	node        a;
	th_proc    *procs[1] = { &a.proc };
	dtp_h_opts  o        = { .max_attempts = 2 };
	dtp_v1_Task t;
	int64_t     id;
	char        line[128];

	(void) state;
	NEED_FAULTS();
	node_start_env(&a, "node-no-renew", args, no_renew);
	id = dtp_h_must_create(a.client, "sleep", "{\"ms\":60000}", &o);
	dtp_h_wait_status(a.client, id, dtp_v1_TaskStatus_TASK_STATUS_FAILED, 2,
	    RUN_MS, &t, procs, 1);
	assert_int_equal(t.attempts, 2);
	assert_non_null(strstr(t.last_error, "attempts are exhausted"));
	pb_release(dtp_v1_Task_fields, &t);
	snprintf(line, sizeof(line),
	    "attempt abandoned task_id=%" PRId64 " attempt=1", id);
	assert_true(dtp_h_log_has(&a.proc, line));
	node_stop(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_dtp_nodes_notify_wakes_another_node_and_cancel_crosses),
		cmocka_unit_test(
		    test_dtp_nodes_expired_lease_reruns_on_another_node),
		cmocka_unit_test(test_dtp_nodes_late_attempt_changes_nothing),
		cmocka_unit_test(test_dtp_nodes_crash_after_claim_is_reaped),
		cmocka_unit_test(
		    test_dtp_nodes_failed_renewal_stops_the_handler),
	};

	return cmocka_run_group_tests_name(
	    "dtp_nodes", tests, group_setup, group_teardown);
}
