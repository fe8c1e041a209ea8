/*
 * dtp_nodes_test.c: several DTP nodes on one database: a task created on a
 * busy node wakes another through NOTIFY, a cancel sent to one node stops
 * the handler on another, a node killed mid-task has its lease reaped and
 * the task rerun elsewhere (also under a steady load, losing and doubling
 * nothing), a frozen node's late attempt and a completion held past its
 * lease change nothing once the lease was taken back (fencing on the
 * attempt), and two nodes share 2,000 tasks, each run exactly once.
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
#include <stdlib.h>
#include <string.h>

#include "db/conn.h"
#include "dtp_helpers.h"
#include "dtp_metric.h"
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

static db_conn *db;

static int
group_teardown(void **state)
{
	(void) state;
	db_conn_free(db);
	db = NULL;
	th_db_drop();
	return 0;
}

/* SQL on the test's own connection. */

static int64_t
sql_int(const char *sql, const char *p1, const char *p2)
{
	db_rows    *rows      = NULL;
	const char *params[2] = { p1, p2 };
	tp_err      err;
	int64_t     v;

	if (db == NULL && db_conn_open(&db, db_url, &err) != TP_OK) {
		fail_msg("db_conn_open: %s", err.msg);
	}
	if (db_exec(db, &rows, sql, 2, params, &err) != TP_OK) {
		fail_msg("%s: %s", sql, err.msg);
	}
	assert_int_equal(db_rows_count(rows), 1);
	v = db_rows_int64(rows, 0, 0);
	db_rows_free(rows);
	return v;
}

typedef struct count_wait {
	const char *sql;
	const char *p1;
	const char *p2;
	int64_t     want;
	int64_t     got;
} count_wait;

static bool
count_reached_pred(void *arg)
{
	count_wait *w = arg;

	w->got = sql_int(w->sql, w->p1, w->p2);
	return w->got >= w->want;
}

/* wait_count polls sql until it counts want, or fails the test. */
static void
wait_count(const char *sql, const char *p1, const char *p2, int64_t want,
    int timeout_ms, th_proc *const *procs, int n_procs)
{
	count_wait w = { sql, p1, p2, want, 0 };

	if (!th_poll_until(count_reached_pred, &w, timeout_ms)) {
		for (int i = 0; i < n_procs; i++) {
			th_proc_dump_log(procs[i]);
		}
		fail_msg("%s: %" PRId64 ", want %" PRId64, sql, w.got, want);
	}
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
	dtp_h_wait_log(&a.proc, line, RUN_MS);

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
	dtp_h_wait_log(&b.proc, line, RUN_MS);

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
	/*
	 * Written here, not through the node: it wakes its dispatcher before
	 * it answers CreateTask, and may crash before the answer leaves. It
	 * hears of the task by NOTIFY.
	 */
	id = sql_int("WITH t AS (INSERT INTO dtp.task"
	             " (type, payload, max_attempts, timeout_ms)"
	             " VALUES ($1::text, $2::text, 3, 30000) RETURNING id),"
	             " n AS (SELECT pg_notify('dtp_task', ''))"
	             " SELECT id FROM t, n",
	    "demo", "{\"after\":\"crash\"}");
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
	dtp_h_wait_log(&a.proc, line, RUN_MS);
	node_stop(&a);
}

/*
 * count_successes adds up, per task id in [first, first + n), the lines
 * "task finished task_id=<id> ... status=SUCCEEDED" of a node's log: how
 * often a handler's success was recorded.
 */
static void
count_successes(int *per_task, int64_t first, int n, const th_proc *p)
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
		if (id >= first && id < first + n) {
			per_task[id - first]++;
		}
	}
	free(buf);
	fclose(f);
}

typedef struct successes {
	int           *per_task;
	int64_t        first;
	int            n;
	const th_proc *logs[2];
	int            total;
	int            want;
} successes;

static bool
all_logged_pred(void *arg)
{
	successes *s = arg;

	memset(s->per_task, 0, (size_t) s->n * sizeof(int));
	for (int i = 0; i < 2; i++) {
		count_successes(s->per_task, s->first, s->n, s->logs[i]);
	}
	s->total = 0;
	for (int i = 0; i < s->n; i++) {
		s->total += s->per_task[i];
	}
	return s->total >= s->want;
}

/*
 * assert_no_success_twice reads both logs until at least want successes
 * are there (a node logs an end just after it commits it; a node killed
 * between the two never logs it) and checks that no task's success was
 * recorded twice, and, when want is n, that each was recorded once.
 */
static void
assert_no_success_twice(int *per_task, int64_t first, int n, int want,
    const th_proc *a, const th_proc *b)
{
	successes s = { per_task, first, n, { a, b }, 0, want };

	if (!th_poll_until(all_logged_pred, &s, RUN_MS)) {
		fail_msg("%d successes logged, want %d", s.total, want);
	}
	for (int i = 0; i < n; i++) {
		if (per_task[i] > 1 || (want == n && per_task[i] != 1)) {
			fail_msg("task %" PRId64
			         " succeeded %d times in the logs",
			    first + i, per_task[i]);
		}
	}
}

#define BULK 2000

/*
 * Two nodes, 2,000 demo tasks created on both: every task SUCCEEDED exactly
 * once (one attempt, one recorded success in the logs, the nodes' own
 * counters adding up to 2,000) and both nodes did work (finished_by).
 */
static void
test_dtp_nodes_share_2000_tasks_each_run_once(void **state)
{
	static const char *const args[]
	    = { "--workers", "4", "--rpc-threads", "2", NULL };
	node     a;
	node     b;
	th_proc *procs[2] = { &a.proc, &b.proc };
	int64_t  first    = 0;
	int64_t  by_a;
	int64_t  by_b;
	int     *seen = calloc(BULK, sizeof(int));
	char     firsts[24];

	(void) state;
	node_start(&a, "bulk-a", args);
	node_start(&b, "bulk-b", args);
	for (int i = 0; i < BULK; i++) {
		char    payload[32];
		int64_t id;
		snprintf(payload, sizeof(payload), "{\"n\":%d}", i);
		id = dtp_h_must_create(
		    i % 2 == 0 ? a.client : b.client, "demo", payload, NULL);
		if (i == 0) {
			first = id;
		} else {
			/* One sequence: the ids are consecutive. */
			assert_int_equal(id, first + i);
		}
	}
	snprintf(firsts, sizeof(firsts), "%" PRId64, first);
	wait_count("SELECT count(*) FROM dtp.task WHERE id >= $1::int8"
	           " AND status = 'SUCCEEDED' AND $2::text IS NULL",
	    firsts, NULL, BULK, 120000, procs, 2);

	/* One attempt each, the payload as result, finished by a node. */
	assert_int_equal(
	    sql_int("SELECT count(*) FROM dtp.task WHERE id >= $1::int8"
	            " AND status = 'SUCCEEDED' AND attempts = 1"
	            " AND result = payload AND locked_by IS NULL"
	            " AND finished_by IN ('bulk-a', 'bulk-b')"
	            " AND $2::text IS NULL",
	        firsts, NULL),
	    BULK);
	by_a = sql_int("SELECT count(*) FROM dtp.task WHERE id >= $1::int8"
	               " AND finished_by = $2::text",
	    firsts, "bulk-a");
	by_b = sql_int("SELECT count(*) FROM dtp.task WHERE id >= $1::int8"
	               " AND finished_by = $2::text",
	    firsts, "bulk-b");
	print_message("finished by bulk-a: %" PRId64 ", by bulk-b: %" PRId64
	              "\n",
	    by_a, by_b);
	assert_true(by_a > 0);
	assert_true(by_b > 0);
	assert_int_equal(by_a + by_b, BULK);

	/* The nodes' own counts: each success recorded once, by one node. */
	dtp_h_metric_wait(a.client, "dtp_tasks_finished_total",
	    "state=SUCCEEDED", (double) by_a, RUN_MS);
	dtp_h_metric_wait(b.client, "dtp_tasks_finished_total",
	    "state=SUCCEEDED", (double) by_b, RUN_MS);
	assert_true(dtp_h_metric(a.client, "dtp_attempts_total", NULL)
	        + dtp_h_metric(b.client, "dtp_attempts_total", NULL)
	    == BULK);
	assert_no_success_twice(seen, first, BULK, BULK, &a.proc, &b.proc);
	assert_false(dtp_h_log_has(&a.proc, "late end of attempt"));
	assert_false(dtp_h_log_has(&b.proc, "late end of attempt"));
	free(seen);
	node_stop(&a);
	node_stop(&b);
}

typedef struct log_lines {
	const th_proc *p;
	int            want;
} log_lines;

static bool
survivor_logged_pred(void *arg)
{
	log_lines *l = arg;

	return dtp_h_log_count(l->p, "status=SUCCEEDED") >= l->want;
}

#define LOAD       60
#define KILL_AFTER 20

typedef struct running_on {
	const char *node;
	int         want;
	int64_t     first;
} running_on;

static bool
running_on_pred(void *arg)
{
	running_on *r = arg;
	char        firsts[24];

	snprintf(firsts, sizeof(firsts), "%" PRId64, r->first);
	return sql_int("SELECT count(*) FROM dtp.task WHERE id >= $1::int8"
	               " AND status = 'RUNNING' AND locked_by = $2::text",
	           firsts, r->node)
	    >= r->want;
}

/*
 * A steady stream of tasks on two nodes; one is SIGKILLed while it runs
 * several. The survivor reaps the dead node's leases and runs those tasks
 * again: every task ends SUCCEEDED, none is lost, none succeeds twice.
 */
static void
test_dtp_nodes_sigkill_under_load_loses_nothing(void **state)
{
	static const char *const args[]
	    = { "--workers", "4", "--lease-ms", "600", NULL };
	node       k;
	node       s;
	th_proc   *procs[2] = { &k.proc, &s.proc };
	int64_t    first    = 0;
	int        seen[LOAD];
	char       firsts[24];
	running_on r;
	int64_t    rerun;
	int64_t    survived;
	log_lines  lw;

	(void) state;
	memset(seen, 0, sizeof(seen));
	node_start(&k, "node-killed", args);
	node_start(&s, "node-survives", args);
	for (int i = 0; i < LOAD; i++) {
		int64_t id;
		if (i == KILL_AFTER) {
			/* Mid-stream, with work in its hands. */
			r.node  = "node-killed";
			r.want  = 2;
			r.first = first;
			if (!th_poll_until(running_on_pred, &r, RUN_MS)) {
				th_proc_dump_log(&k.proc);
				fail_msg("node-killed never ran 2 tasks");
			}
			th_proc_kill(&k.proc);
			rpc_client_free(k.client);
			k.client = NULL;
		}
		id = dtp_h_must_create(
		    i < KILL_AFTER && i % 2 == 0 ? k.client : s.client, "sleep",
		    "{\"ms\":300}", NULL);
		if (i == 0) {
			first = id;
		}
		assert_int_equal(id, first + i);
	}
	snprintf(firsts, sizeof(firsts), "%" PRId64, first);
	wait_count("SELECT count(*) FROM dtp.task WHERE id >= $1::int8"
	           " AND status = 'SUCCEEDED' AND $2::text IS NULL",
	    firsts, NULL, LOAD, 60000, procs, 2);
	assert_int_equal(sql_int("SELECT count(*) FROM dtp.task"
	                         " WHERE id >= $1::int8 AND $2::text IS NULL",
	                     firsts, NULL),
	    LOAD);

	/* The dead node's running tasks went round again, on the survivor. */
	rerun = sql_int("SELECT count(*) FROM dtp.task WHERE id >= $1::int8"
	                " AND attempts = 2 AND finished_by = 'node-survives'"
	                " AND last_error LIKE $2::text",
	    firsts, "lease of attempt 1 expired on node node-killed%");
	print_message("tasks rerun after the kill: %" PRId64 "\n", rerun);
	assert_true(rerun >= 1);
	/* Every other task ran once. */
	assert_int_equal(
	    sql_int("SELECT count(*) FROM dtp.task WHERE id >= $1::int8"
	            " AND attempts = 1 AND $2::text IS NULL",
	        firsts, NULL),
	    LOAD - rerun);
	/* What the dead node finished, it finished on the first attempt. */
	assert_int_equal(
	    sql_int("SELECT count(*) FROM dtp.task WHERE id >= $1::int8"
	            " AND finished_by = $2::text AND attempts <> 1",
	        firsts, "node-killed"),
	    0);
	/*
	 * No task's success was recorded twice, on either node. First every
	 * success the survivor committed is in its log (it started fresh:
	 * its log holds only these tasks).
	 */
	survived = sql_int("SELECT count(*) FROM dtp.task WHERE id >= $1::int8"
	                   " AND finished_by = $2::text",
	    firsts, "node-survives");
	lw.p     = &s.proc;
	lw.want  = (int) survived;
	if (!th_poll_until(survivor_logged_pred, &lw, RUN_MS)) {
		th_proc_dump_log(&s.proc);
		fail_msg(
		    "node-survives logged fewer than %d successes", lw.want);
	}
	assert_no_success_twice(
	    seen, first, LOAD, (int) survived, &k.proc, &s.proc);
	assert_true(dtp_h_metric(s.client, "dtp_lease_expiries_total", NULL)
	    >= (double) rerun);
	node_stop(&s);
}

/*
 * A completion that comes after its lease was taken back is refused: the
 * handler is done, the fault point holds the write for 1.5 s, the lease
 * (600 ms, no longer renewed) expires, another node runs attempt 2, and
 * attempt 1's SUCCEEDED, fenced on attempts = 1, changes nothing.
 */
static void
test_dtp_nodes_stale_completion_is_refused(void **state)
{
	static const char *const args[]
	    = { "--workers", "1", "--lease-ms", "600", NULL };
	static char *const slow_record[]
	    = { "TP_FAULTS=dtp.worker.before_record=delay:1500*1", NULL };
	node        z;
	node        r;
	th_proc    *procs[2] = { &z.proc, &r.proc };
	dtp_v1_Task t;
	int64_t     id;
	char        line[120];
	zombie_log  wait_late;

	(void) state;
	NEED_FAULTS();
	node_start_env(&z, "node-slow-record", args, slow_record);
	id = dtp_h_must_create(z.client, "demo", "{\"stale\":true}", NULL);
	dtp_h_wait_status(z.client, id, dtp_v1_TaskStatus_TASK_STATUS_RUNNING,
	    1, RUN_MS, &t, procs, 1);
	assert_string_equal(t.locked_by, "node-slow-record");
	pb_release(dtp_v1_Task_fields, &t);

	node_start(&r, "node-takes-over", args);
	dtp_h_wait_status(r.client, id, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED,
	    2, RUN_MS, &t, procs, 2);
	assert_int_equal(t.attempts, 2);
	assert_string_equal(t.result, "{\"stale\":true}");
	pb_release(dtp_v1_Task_fields, &t);

	snprintf(line, sizeof(line),
	    "late end of attempt ignored task_id=%" PRId64
	    " attempt=1 status=SUCCEEDED",
	    id);
	wait_late.proc = &z.proc;
	snprintf(wait_late.late, sizeof(wait_late.late), "%s", line);
	snprintf(wait_late.abandoned, sizeof(wait_late.abandoned), "%s", line);
	if (!th_poll_until(zombie_logged_pred, &wait_late, RUN_MS)) {
		th_proc_dump_log(&z.proc);
		fail_msg(
		    "node-slow-record did not refuse its stale completion");
	}
	/* Attempt 2's result and finisher stand. */
	dtp_h_wait_status(r.client, id, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED,
	    2, RUN_MS, &t, procs, 2);
	assert_int_equal(t.attempts, 2);
	pb_release(dtp_v1_Task_fields, &t);
	{
		char ids[24];
		snprintf(ids, sizeof(ids), "%" PRId64, id);
		assert_int_equal(
		    sql_int("SELECT count(*) FROM dtp.task WHERE id = $1::int8"
		            " AND finished_by = $2::text",
		        ids, "node-takes-over"),
		    1);
	}
	node_stop(&z);
	node_stop(&r);
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
		cmocka_unit_test(test_dtp_nodes_stale_completion_is_refused),
		cmocka_unit_test(
		    test_dtp_nodes_sigkill_under_load_loses_nothing),
		cmocka_unit_test(test_dtp_nodes_share_2000_tasks_each_run_once),
	};

	return cmocka_run_group_tests_name(
	    "dtp_nodes", tests, group_setup, group_teardown);
}
