/*
 * chaos_partition_test.c: scenario 6 of docs/RELIABILITY.md. A DTP node
 * that loses its database for longer than its lease must stop its handlers
 * before another node can start a second copy (DESIGN §5: "a node that
 * cannot renew stops its own handlers rather than run on beside a second
 * copy").
 *
 * Node A reaches PostgreSQL through a TCP proxy in this test; node B
 * directly. A runs a long task; once A renewed its lease, the proxy cuts A
 * off, in two ways: `cut` (every connection reset, new ones refused: the
 * server is gone) and `stall` (connections stay open, nothing flows: a
 * silent network partition). B's reaper takes the task back when A's lease
 * expires and B runs attempt 2. The task is an `exec` type whose program
 * appends start/stop/end markers (attempt, Unix ms) to a file, when the dtp
 * binary has --exec; else a `sleep`. The proof: attempt 1 ended (its
 * program's stop marker, and A's own log line saying it abandoned the
 * attempt) before attempt 2 started (B's claim in the audit, and attempt
 * 2's start marker). Then the proxy heals, A reconnects by itself and
 * serves again, and the invariant checker runs.
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

#include "chaos_util.h"
#include "invariants.h"

#define LEASE      "1500"
#define SLEEP_MS   5000
#define CLAIM_MS   30000 /* B claims attempt 2 within this */
#define STOPPED_MS 8000  /* A logs its stop within this of B's claim */
#define SERVE_MS   30000
#define QUIET_MS   60000

static const char *db_url;
static db_conn    *db;

static int
group_setup(void **state)
{
	(void) state;
	db_url = th_db_create("chaos_partition");
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

/* The exec program: markers "start|stop|end <task> <attempt> <unix ms>". */
static char marks_path[600];
static char mark_spec[700];

static void
write_marker_program(bool stubborn)
{
	char  path[600];
	FILE *f;

	snprintf(marks_path, sizeof(marks_path), "%s/marks", th_tmpdir());
	snprintf(path, sizeof(path), "%s/mark%s.sh", th_tmpdir(),
	    stubborn ? "-stubborn" : "");
	if ((f = fopen(path, "w")) == NULL) {
		fail_msg("could not write %s", path);
	}
	fprintf(f,
	    "#!/bin/sh\n"
	    "# chaos_partition_test.c: marks its start and end in a file.\n"
	    "f='%s'\n"
	    "mark() { echo \"$1 $DTP_TASK_ID $DTP_TASK_ATTEMPT"
	    " $(date +%%s%%3N)\" >>\"$f\"; }\n"
	    "mark start\n",
	    marks_path);
	if (stubborn) {
		/* Ignores SIGTERM: only the SIGKILL after the kill grace
		 * ends it. */
		fprintf(f,
		    "trap 'mark term-ignored' TERM\n"
		    "i=0\n"
		    "while [ $i -lt %d ]; do sleep 0.1; i=$((i+1)); done\n"
		    "mark end\n",
		    SLEEP_MS / 100);
	} else {
		fprintf(f,
		    "trap 'mark stop; exit 143' TERM\n"
		    "sleep %d &\n"
		    "wait $!\n"
		    "mark end\n",
		    SLEEP_MS / 1000);
	}
	fclose(f);
	if (chmod(path, 0755) != 0) {
		fail_msg("could not chmod %s", path);
	}
	snprintf(mark_spec, sizeof(mark_spec), "mark=%s", path);
}

/*
 * mark_time reads the marks file: the time of the first `what` marker
 * ("start", or "stop|end" for either) of attempt of task id, or -1.
 */
static int64_t
mark_time(int64_t id, int attempt, const char *what)
{
	FILE   *f = fopen(marks_path, "r");
	char    line[256];
	int64_t t = -1;

	if (f == NULL) {
		return -1;
	}
	while (t < 0 && fgets(line, sizeof(line), f) != NULL) {
		char      kind[16];
		long long tid, ms;
		int       att;
		if (sscanf(line, "%15s %lld %d %lld", kind, &tid, &att, &ms)
		        != 4
		    || tid != id || att != attempt) {
			continue;
		}
		if (strcmp(what, kind) == 0
		    || (strcmp(what, "stop|end") == 0
		        && (strcmp(kind, "stop") == 0
		            || strcmp(kind, "end") == 0))) {
			t = ms;
		}
	}
	fclose(f);
	return t;
}

typedef struct mark_wait {
	int64_t     id;
	int         attempt;
	const char *what;
	int64_t     at_ms;
} mark_wait;

static bool
marked_pred(void *arg)
{
	mark_wait *w = arg;

	w->at_ms = mark_time(w->id, w->attempt, w->what);
	return w->at_ms >= 0;
}

/* via_proxy writes db_url with its host and port replaced by the proxy. */
static void
via_proxy(char *out, size_t size, int proxy_port)
{
	char        host[64];
	int         port = chaos_url_port(db_url, host);
	char        from[96];
	const char *at;

	snprintf(from, sizeof(from), "%s:%d", host, port);
	at = strstr(db_url, from);
	if (at == NULL) {
		fail_msg("cannot find %s in %s", from, db_url);
	}
	snprintf(out, size, "%.*s127.0.0.1:%d%s", (int) (at - db_url), db_url,
	    proxy_port, at + strlen(from));
}

typedef struct claim_wait {
	char    id[24];
	char    node[32];
	int     attempt;
	int64_t at_ms;
} claim_wait;

static bool
claimed_pred(void *arg)
{
	claim_wait *w = arg;
	char        sql[256];

	snprintf(sql, sizeof(sql),
	    "SELECT coalesce(max(floor(extract(epoch FROM at) * 1000))::int8,"
	    " 0) FROM dtp_audit.transition WHERE task_id = $1::int8 AND"
	    " new_status = 'RUNNING' AND new_attempts = %d AND new_locked_by"
	    " = '%s'",
	    w->attempt, w->node);
	w->at_ms = chaos_sql_int(db, sql, w->id);
	return w->at_ms > 0;
}

typedef struct renew_wait {
	int64_t id;
	int64_t first_ms;
} renew_wait;

static bool
renewed_pred(void *arg)
{
	renew_wait *w = arg;
	char        id[24];

	snprintf(id, sizeof(id), "%" PRId64, w->id);
	return chaos_sql_int(db,
	           "SELECT coalesce(floor(extract(epoch FROM"
	           " lease_expires_at) * 1000)::int8, 0) FROM dtp.task"
	           " WHERE id = $1::int8 AND status = 'RUNNING'",
	           id)
	    > w->first_ms;
}

typedef struct log_wait {
	const th_proc *proc;
	const char    *needle;
	int64_t        at_ms;
} log_wait;

static bool
logged_pred(void *arg)
{
	log_wait *w = arg;

	w->at_ms = chaos_log_time_ms(w->proc, w->needle);
	return w->at_ms >= 0;
}

typedef struct done_wait {
	char id[24];
} done_wait;

static bool
succeeded_pred(void *arg)
{
	done_wait *w = arg;

	return chaos_sql_int(db,
	           "SELECT count(*) FROM dtp.task WHERE id = $1::int8 AND"
	           " status = 'SUCCEEDED'",
	           w->id)
	    == 1;
}

typedef struct serve_wait {
	rpc_client *c;
	inv_ledger *ledger;
} serve_wait;

static bool
serves_pred(void *arg)
{
	serve_wait *w = arg;
	int64_t     id;
	tp_err      err;

	return chaos_create(w->c, w->ledger, &id, "demo", "{\"healed\":1}",
	           NULL, 0, 2000, &err)
	    == TP_OK;
}

/*
 * partition runs the scenario with the proxy in mode "cut" or "stall".
 * stubborn: the task's program ignores SIGTERM (exec only), so only the
 * SIGKILL after --exec-kill-grace-ms ends attempt 1.
 */
static void
partition(const char *mode, bool stubborn)
{
	const char  *args[16] = { "--workers", "1", "--lease-ms", LEASE,
		 "--poll-ms", "200", "--rpc-threads", "2", NULL };
	char         host[64];
	int          port     = chaos_url_port(db_url, host);
	chaos_proxy *proxy    = chaos_proxy_start(host, port);
	bool         use_exec = chaos_dtp_has_flag("--exec=");
	char         a_db[1024];
	char         name_a[32];
	char         name_b[32];
	char         scenario[32];
	char         payload[64];
	char         needle[128];
	chaos_node   a;
	chaos_node   b;
	rpc_client  *ac;
	inv_ledger  *ledger = inv_ledger_new();
	claim_wait   first;
	claim_wait   second;
	log_wait     stopped;
	renew_wait   renewed;
	mark_wait    m1_end   = { 0 };
	mark_wait    m2_start = { 0 };
	done_wait    done;
	serve_wait   serve;
	inv_report   r;
	tp_err       err;
	int64_t      id;
	int64_t      cut_ms;
	bool         overlap;
	bool         ok;

	if (stubborn && !use_exec) {
		fail_msg("dtp has no --exec flag: the stubborn-program case "
		         "needs it");
	}
	if (use_exec) {
		write_marker_program(stubborn);
		args[8]  = "--exec";
		args[9]  = mark_spec;
		/* Below a third of the lease, as dtp requires with --exec. */
		args[10] = "--exec-kill-grace-ms";
		args[11] = "400";
		args[12] = NULL;
	}
	snprintf(scenario, sizeof(scenario), "partition_%s%s", mode,
	    stubborn ? "_stubborn" : "");
	via_proxy(a_db, sizeof(a_db), chaos_proxy_port(proxy));
	snprintf(name_a, sizeof(name_a), "%s%s-a", mode,
	    stubborn ? "-stubborn" : "");
	snprintf(name_b, sizeof(name_b), "%s%s-b", mode,
	    stubborn ? "-stubborn" : "");
	chaos_node_init(&a, name_a, a_db, args);
	chaos_node_start(&a);
	ac = chaos_client("dtp", a.url);
	snprintf(payload, sizeof(payload), "{\"ms\":%d}", SLEEP_MS);
	if (chaos_create(ac, ledger, &id, use_exec ? "mark" : "sleep", payload,
	        NULL, 3, 10000, &err)
	    != TP_OK) {
		fail_msg("CreateTask on %s: %s", name_a, err.msg);
	}
	memset(&first, 0, sizeof(first));
	snprintf(first.id, sizeof(first.id), "%" PRId64, id);
	snprintf(first.node, sizeof(first.node), "%s", name_a);
	first.attempt = 1;
	if (!th_poll_until(claimed_pred, &first, CLAIM_MS)) {
		th_proc_dump_log(&a.proc);
		fail_msg("%s did not start task %" PRId64, name_a, id);
	}

	/*
	 * Cut A off after it renewed the lease once, so that the lease A
	 * believes in and the one in the database both start at that
	 * renewal (before it, dtp before e86b255 stopped a cut-off attempt
	 * up to a tick late: finding F2 of docs/RELIABILITY.md).
	 */
	renewed.id       = id;
	renewed.first_ms = chaos_sql_int(db,
	    "SELECT floor(extract(epoch FROM lease_expires_at) * 1000)::int8"
	    " FROM dtp.task WHERE id = $1::int8",
	    first.id);
	if (!th_poll_until(renewed_pred, &renewed, CLAIM_MS)) {
		th_proc_dump_log(&a.proc);
		fail_msg(
		    "%s did not renew the lease of task %" PRId64, name_a, id);
	}

	/* A loses its database. */
	cut_ms = chaos_unix_ms();
	if (strcmp(mode, "cut") == 0) {
		chaos_proxy_cut(proxy);
	} else {
		chaos_proxy_stall(proxy);
	}
	chaos_node_init(&b, name_b, db_url, args);
	chaos_node_start(&b);

	second         = first;
	second.attempt = 2;
	snprintf(second.node, sizeof(second.node), "%s", name_b);
	if (!th_poll_until(claimed_pred, &second, CLAIM_MS)) {
		th_proc_dump_log(&a.proc);
		th_proc_dump_log(&b.proc);
		fail_msg("%s did not take task %" PRId64 " over", name_b, id);
	}
	snprintf(needle, sizeof(needle),
	    "attempt abandoned task_id=%" PRId64 " attempt=1", id);
	stopped.proc   = &a.proc;
	stopped.needle = needle;
	stopped.at_ms  = -1;
	(void) th_poll_until(logged_pred, &stopped, STOPPED_MS);
	if (use_exec) {
		m2_start = (mark_wait) {
			.id = id, .attempt = 2, .what = "start", .at_ms = -1
		};
		m1_end = (mark_wait) {
			.id = id, .attempt = 1, .what = "stop|end", .at_ms = -1
		};
		if (!th_poll_until(marked_pred, &m2_start, CLAIM_MS)) {
			th_proc_dump_log(&b.proc);
			fail_msg(
			    "attempt 2 of task %" PRId64 " never started", id);
		}
		(void) marked_pred(&m1_end);
	}
	/* Checked at the end, so that a failure shows what happened next. */
	/* A stubborn program leaves no marker when SIGKILL ends it: A's log
	 * line, written once it is gone, tells. */
	overlap = stopped.at_ms < 0 || stopped.at_ms > second.at_ms
	    || (use_exec && !stubborn
	        && (m1_end.at_ms < 0 || m1_end.at_ms > m2_start.at_ms));
	inv_say("chaos [%s]: task %" PRId64 " (%s, %d ms; lease " LEASE
	        " ms) claimed by %s, lease renewed, then %s cut off (%s) at "
	        "t=0",
	    scenario, id, use_exec ? "exec" : "sleep", SLEEP_MS, name_a, name_a,
	    mode);
	if (stopped.at_ms >= 0) {
		inv_say("chaos [%s]:   %s abandoned attempt 1 at t=%+" PRId64
		        " ms (its log)",
		    scenario, name_a, stopped.at_ms - cut_ms);
	} else {
		inv_say("chaos [%s]:   %s did not abandon attempt 1 (its log, "
		        "%d ms after the takeover)",
		    scenario, name_a, STOPPED_MS);
	}
	if (stubborn) {
		mark_wait ignored = { .id = id,
			.attempt          = 1,
			.what             = "term-ignored",
			.at_ms            = -1 };
		if (marked_pred(&ignored)) {
			inv_say("chaos [%s]:   attempt 1's program ignored "
			        "SIGTERM at t=%+" PRId64 " ms (its marker)",
			    scenario, ignored.at_ms - cut_ms);
		}
	} else if (use_exec) {
		if (m1_end.at_ms >= 0) {
			inv_say("chaos [%s]:   attempt 1's program ended at "
			        "t=%+" PRId64 " ms (its marker)",
			    scenario, m1_end.at_ms - cut_ms);
		} else {
			inv_say("chaos [%s]:   attempt 1's program still ran "
			        "when attempt 2 started",
			    scenario);
		}
	}
	inv_say("chaos [%s]:   %s claimed attempt 2 at t=%+" PRId64
	        " ms (audit)",
	    scenario, name_b, second.at_ms - cut_ms);
	if (use_exec) {
		inv_say(
		    "chaos [%s]:   attempt 2's program started at t=%+" PRId64
		    " ms (its marker)",
		    scenario, m2_start.at_ms - cut_ms);
	}

	/* B finishes it; A heals and serves again. */
	snprintf(done.id, sizeof(done.id), "%" PRId64, id);
	if (!th_poll_until(succeeded_pred, &done, CLAIM_MS)) {
		th_proc_dump_log(&b.proc);
		fail_msg("task %" PRId64 " did not succeed on %s", id, name_b);
	}
	chaos_proxy_heal(proxy);
	serve.c      = ac;
	serve.ledger = ledger;
	if (!th_poll_until(serves_pred, &serve, SERVE_MS)) {
		th_proc_dump_log(&a.proc);
		fail_msg(
		    "%s did not serve again after the proxy healed", name_a);
	}
	if (!inv_wait_quiescent(db, false, QUIET_MS)) {
		fail_msg("the system did not quiesce within %d ms", QUIET_MS);
	}
	if (overlap) {
		/* What A's attempt 1 did meanwhile: ran on to its end. */
		char     late[128];
		log_wait ended = { .proc = &a.proc, .needle = late };
		snprintf(late, sizeof(late),
		    "late end of attempt ignored task_id=%" PRId64 " attempt=1",
		    id);
		if (th_poll_until(logged_pred, &ended, SERVE_MS)) {
			inv_say("chaos [%s]:   %s ran attempt 1 on beside %s's "
			        "attempt 2: its handler finished, and its late "
			        "end was fenced off at t=%+" PRId64 " ms",
			    scenario, name_a, name_b, ended.at_ms - cut_ms);
		}
		if (use_exec && marked_pred(&m1_end)) {
			inv_say("chaos [%s]:   attempt 1's program ended at "
			        "t=%+" PRId64 " ms, %" PRId64
			        " ms after attempt 2's "
			        "started",
			    scenario, m1_end.at_ms - cut_ms,
			    m1_end.at_ms - m2_start.at_ms);
		}
	}
	rpc_client_free(ac);
	chaos_node_stop(&b);
	chaos_node_stop(&a);
	chaos_proxy_free(proxy);

	inv_ledger_print(ledger, scenario);
	ok = inv_check(&r, db, ledger, scenario);
	inv_ledger_free(ledger);
	assert_true(ok);
	/* Attempt 1 never wrote an end: the reaper did, then B. */
	assert_int_equal(chaos_sql_int(db,
	                     "SELECT count(*) FROM dtp_audit.transition WHERE"
	                     " task_id = $1::int8 AND old_status = 'RUNNING'"
	                     " AND old_attempts = 1 AND new_status = 'PENDING'",
	                     done.id),
	    1);
	assert_int_equal(
	    chaos_sql_int(db,
	        "SELECT attempts FROM dtp.task WHERE id = $1::int8", done.id),
	    2);
	if (overlap) {
		th_proc_dump_log(&a.proc);
		fail_msg("%s did not stop attempt 1 of task %" PRId64
		         " before %s started attempt 2: two copies ran at once "
		         "(see the timeline above)",
		    name_a, id, name_b);
	}
}

static void
test_chaos_partition_cut(void **state)
{
	(void) state;
	partition("cut", false);
}

static void
test_chaos_partition_stall(void **state)
{
	(void) state;
	partition("stall", false);
}

/*
 * A program that ignores SIGTERM lives on for --exec-kill-grace-ms after
 * its stop. dtp refuses a kill grace of a third of the lease or more (the
 * margin its lease guard leaves), so the SIGKILL lands before another node
 * can take the task: attempt 1's program never runs beside attempt 2's.
 */
static void
test_chaos_partition_stubborn_program(void **state)
{
	(void) state;
	partition("cut", true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chaos_partition_cut),
		cmocka_unit_test(test_chaos_partition_stall),
		cmocka_unit_test(test_chaos_partition_stubborn_program),
	};

	return cmocka_run_group_tests_name(
	    "chaos_partition", tests, group_setup, group_teardown);
}
