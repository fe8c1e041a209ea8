/*
 * chaos_bind_test.c: scenarios 4 and 5 of docs/RELIABILITY.md.
 *
 * 4. Binds cut short under load: two taskpilots crash at the fault points
 *    between storing the bind intent and storing the scheduler id
 *    (pilot.bind.after_intent, pilot.bind.after_create = crash at a random
 *    nth bind) and are restarted, over and over, while binder threads bind
 *    many web tasks through them; a DTP node is SIGKILLed and restarted
 *    while binds are in flight. The reconciler of a healthy taskpilot
 *    finishes every bind that stored its intent; then each bound web task
 *    has exactly one DTP task.
 * 5. Two hundred concurrent binds of the same 20 web tasks (10 client
 *    threads, each binding all 20, through 3 taskpilot processes): exactly
 *    one DTP task per web task, and every answer agrees on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "chaos_util.h"
#include "common/mem.h"
#include "invariants.h"

#define N_WEB        120 /* web tasks bound through crashing pilots */
#define N_BINDERS    4
#define BIND_MS      3000  /* a bind call's deadline */
#define RUN_MS       60000 /* the crash part ends within this */
#define QUIET_MS     90000
#define RACE_WEB     20
#define RACE_THREADS 10
#define SQL_BOUND                                                             \
	"SELECT count(*) FROM pilot.web_task WHERE scheduler_task_id IS NOT " \
	"NULL"

static const char *db_url;
static db_conn    *db;
static chaos_node  nodes[2];
static char        dtp_urls[160];
static th_proc     healthy;
static char        healthy_url[64];

static int
group_setup(void **state)
{
	static const char *const args[] = { "--workers", "3", "--lease-ms",
		"1500", "--poll-ms", "200", "--rpc-threads", "4", NULL };

	(void) state;
	db_url = th_db_create("chaos_bind");
	db     = chaos_db_open(db_url);
	inv_install_audit(db);
	chaos_node_init(&nodes[0], "dtp-a", db_url, args);
	chaos_node_init(&nodes[1], "dtp-b", db_url, args);
	chaos_node_start(&nodes[0]);
	chaos_node_start(&nodes[1]);
	snprintf(
	    dtp_urls, sizeof(dtp_urls), "%s,%s", nodes[0].url, nodes[1].url);
	/* The reconciler's taskpilot: no faults. */
	chaos_pilot_start(
	    &healthy, "pilot-healthy", healthy_url, db_url, dtp_urls, NULL);
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	th_proc_kill(&healthy);
	chaos_node_kill(&nodes[0]);
	chaos_node_kill(&nodes[1]);
	db_conn_free(db);
	th_db_drop();
	return 0;
}

/* A taskpilot that crashes at a fault point, restarted with a new nth. */
typedef struct faulty {
	th_proc     proc;
	const char *name;
	const char *point;
	char        url[64];
	char        fault[128];
	int         crashes;
	unsigned    seed;
} faulty;

static void
faulty_start(faulty *f)
{
	const char *env[]
	    = { f->fault, "PILOT_RECONCILE_MS=0", "PILOT_REFRESH_MS=0", NULL };
	int nth = 3 + (int) (rand_r(&f->seed) % 6);

	snprintf(
	    f->fault, sizeof(f->fault), "TP_FAULTS=%s=crash@%d", f->point, nth);
	if (f->url[0] == '\0') {
		chaos_pilot_start(
		    &f->proc, f->name, f->url, db_url, dtp_urls, env);
	} else {
		/* Same address, so the binders' client reconnects to it. */
		char  listen[96];
		char  dburl[1200];
		char  dtpurl[256];
		char *argv[] = { (char *) th_bin("taskpilot"), NULL };
		char *all[]
		    = { listen, dburl, dtpurl, f->fault, "PILOT_RECONCILE_MS=0",
			      "PILOT_REFRESH_MS=0", "PILOT_DTP_TIMEOUT_MS=2000",
			      "TP_LOG_LEVEL=debug", NULL };
		snprintf(listen, sizeof(listen), "PILOT_LISTEN=%s", f->url);
		snprintf(dburl, sizeof(dburl), "PILOT_DATABASE_URL=%s", db_url);
		snprintf(dtpurl, sizeof(dtpurl), "PILOT_DTP_URL=%s", dtp_urls);
		/*
		 * No wait for Health: under the binders' load it may crash
		 * at its fault point before a Health call gets through.
		 * faulty_check sees it die, and how.
		 */
		th_proc_start(&f->proc, f->name, argv, all);
	}
}

/* faulty_check restarts f when it crashed; fails if it died otherwise. */
static void
faulty_check(faulty *f)
{
	if (th_proc_alive(&f->proc)) {
		return;
	}
	if (f->proc.wait_status < 0 || !WIFSIGNALED(f->proc.wait_status)
	    || WTERMSIG(f->proc.wait_status) != SIGKILL) {
		th_proc_dump_log(&f->proc);
		fail_msg("%s ended with wait status %d, not by its fault point",
		    f->name, f->proc.wait_status);
	}
	f->crashes++;
	faulty_start(f);
}

typedef struct binders {
	rpc_client    *client;
	inv_ledger    *ledger;
	const int64_t *ids;
	int            n;
	atomic_int     next;
	atomic_int     done;
} binders;

static void *
binder_main(void *arg)
{
	binders *b = arg;

	for (;;) {
		int     i = atomic_fetch_add(&b->next, 1);
		int64_t sched;
		tp_err  err;

		if (i >= b->n) {
			break;
		}
		(void) chaos_bind(
		    b->client, b->ledger, b->ids[i], &sched, BIND_MS, &err);
		atomic_fetch_add(&b->done, 1);
	}
	return NULL;
}

static void
test_chaos_bind_crashes_and_reconcile(void **state)
{
	faulty f[2] = {
		{ .name    = "pilot-after-intent",
		    .point = "pilot.bind.after_intent",
		    .seed  = 11 },
		{ .name    = "pilot-after-create",
		    .point = "pilot.bind.after_create",
		    .seed  = 23 },
	};
	rpc_client *hc;
	char        urls[200];
	inv_ledger *ledger = inv_ledger_new();
	int64_t    *ids    = tp_xcalloc(N_WEB, sizeof(int64_t));
	binders     b;
	pthread_t   threads[N_BINDERS];
	inv_report  r;
	long long   t0;
	int         dtp_kills = 0;
	int64_t     reconciled;
	int64_t     rebound = 0;
	bool        ok;

	(void) state;
	CHAOS_NEED_FAULTS();
	hc = chaos_client("taskpilot", healthy_url);
	for (int i = 0; i < N_WEB; i++) {
		char   payload[64];
		tp_err err;
		snprintf(payload, sizeof(payload), "bind chaos %d", i);
		if (chaos_web_create(hc, NULL, &ids[i],
		        i % 3 == 0 ? "sleep" : "demo",
		        i % 3 == 0 ? "{\"ms\":100}" : payload, 5000, &err)
		    != TP_OK) {
			fail_msg("CreateWebTask: %s", err.msg);
		}
	}
	faulty_start(&f[0]);
	faulty_start(&f[1]);
	snprintf(urls, sizeof(urls), "%s,%s", f[0].url, f[1].url);

	memset(&b, 0, sizeof(b));
	b.client = chaos_client("taskpilot", urls);
	b.ledger = ledger;
	b.ids    = ids;
	b.n      = N_WEB;
	atomic_init(&b.next, 0);
	atomic_init(&b.done, 0);
	for (int i = 0; i < N_BINDERS; i++) {
		if (pthread_create(&threads[i], NULL, binder_main, &b) != 0) {
			fail_msg("could not start a binder thread");
		}
	}
	t0 = th_now_ms();
	while (atomic_load(&b.done) < N_WEB && th_now_ms() - t0 < RUN_MS) {
		/* A DTP node dies with binds in flight, twice. */
		if ((dtp_kills == 0 && atomic_load(&b.done) >= N_WEB / 4)
		    || (dtp_kills == 1 && atomic_load(&b.done) >= N_WEB / 2)) {
			chaos_node *victim = &nodes[dtp_kills % 2];
			chaos_node_kill(victim);
			dtp_kills++;
			chaos_node_start(victim);
		}
		faulty_check(&f[0]);
		faulty_check(&f[1]);
		chaos_sleep_ms(20);
	}
	for (int i = 0; i < N_BINDERS; i++) {
		pthread_join(threads[i], NULL);
	}
	rpc_client_free(b.client);
	if (atomic_load(&b.done) < N_WEB) {
		fail_msg("only %d of %d binds were answered within %d ms",
		    atomic_load(&b.done), N_WEB, RUN_MS);
	}
	faulty_check(&f[0]);
	faulty_check(&f[1]);
	inv_say("chaos [bind_crash]: %d binds through 2 crashing taskpilots: "
	        "%d crashes after the intent, %d after CreateTask (each "
	        "restarted); %d DTP nodes SIGKILLed with binds in flight",
	    N_WEB, f[0].crashes, f[1].crashes, dtp_kills);

	/* The healthy taskpilot's reconciler finishes every stored intent. */
	if (!inv_wait_quiescent(db, true, QUIET_MS)) {
		th_proc_dump_log(&healthy);
		fail_msg(
		    "bind intents were not reconciled within %d ms", QUIET_MS);
	}
	reconciled = chaos_sql_int(db, SQL_BOUND, NULL)
	    - inv_ledger_count(ledger, "BindScheduler", TP_OK);
	/* A bind that died before storing its intent left nothing: bind it
	 * now, through the healthy taskpilot. */
	for (int i = 0; i < N_WEB; i++) {
		char    idbuf[24];
		int64_t sched;
		tp_err  err;
		snprintf(idbuf, sizeof(idbuf), "%" PRId64, ids[i]);
		if (chaos_sql_int(db,
		        "SELECT count(*) FROM pilot.web_task WHERE id ="
		        " $1::int8 AND scheduler_task_id IS NULL",
		        idbuf)
		    == 0) {
			continue;
		}
		if (chaos_bind(hc, ledger, ids[i], &sched, 10000, &err)
		    != TP_OK) {
			fail_msg("final bind of web task %" PRId64 ": %s",
			    ids[i], err.msg);
		}
		rebound++;
	}
	if (!inv_wait_quiescent(db, true, QUIET_MS)) {
		fail_msg("tasks did not finish within %d ms", QUIET_MS);
	}
	inv_say("chaos [bind_crash]: bound by the reconciler: %" PRId64
	        "; never reached the intent, bound afterwards: %" PRId64,
	    reconciled, rebound);
	rpc_client_free(hc);
	th_proc_kill(&f[0].proc);
	th_proc_kill(&f[1].proc);

	inv_ledger_print(ledger, "bind_crash");
	ok = inv_check(&r, db, ledger, "bind_crash");
	chaos_expect_answers(ledger, "BindScheduler", CHAOS_TRANSIENT);
	inv_ledger_free(ledger);
	free(ids);
	assert_true(ok);
	assert_true(f[0].crashes >= 1);
	assert_true(f[1].crashes >= 1);
	assert_int_equal(dtp_kills, 2);
	assert_true(reconciled >= 1);
	assert_true(r.binds_checked >= N_WEB);
}

typedef struct racer {
	pthread_t          thread;
	int                index;
	rpc_client        *client;
	inv_ledger        *ledger;
	const int64_t     *ids;
	pthread_barrier_t *start;
	int64_t   sched[RACE_WEB]; /* what each answer named, 0: none */
	tp_status rc[RACE_WEB];
	char      msg[RACE_WEB][TP_ERR_MSG_MAX];
} racer;

static void *
racer_main(void *arg)
{
	racer *rc = arg;

	pthread_barrier_wait(rc->start);
	for (int k = 0; k < RACE_WEB; k++) {
		/* Each thread starts elsewhere: every web task is raced. */
		int    i = (k + rc->index * 2) % RACE_WEB;
		tp_err err;
		rc->sched[i] = 0;
		rc->rc[i]    = chaos_bind(rc->client, rc->ledger, rc->ids[i],
		       &rc->sched[i], 10000, &err);
		snprintf(rc->msg[i], sizeof(rc->msg[i]), "%s", err.msg);
	}
	return NULL;
}

static void
test_chaos_bind_two_hundred_racing_binds(void **state)
{
	th_proc           extra[2];
	char              extra_url[2][64];
	char              urls[256];
	int64_t           ids[RACE_WEB];
	racer            *racers = tp_xcalloc(RACE_THREADS, sizeof(racer));
	inv_ledger       *ledger = inv_ledger_new();
	pthread_barrier_t start;
	rpc_client       *hc;
	inv_report        r;
	int               n_ok = 0, n_bound = 0;
	bool              ok;

	(void) state;
	chaos_pilot_start(
	    &extra[0], "pilot-race-1", extra_url[0], db_url, dtp_urls, NULL);
	chaos_pilot_start(
	    &extra[1], "pilot-race-2", extra_url[1], db_url, dtp_urls, NULL);
	snprintf(urls, sizeof(urls), "%s,%s,%s", healthy_url, extra_url[0],
	    extra_url[1]);
	hc = chaos_client("taskpilot", healthy_url);
	for (int i = 0; i < RACE_WEB; i++) {
		char   payload[64];
		tp_err err;
		snprintf(payload, sizeof(payload), "race %d", i);
		if (chaos_web_create(
		        hc, NULL, &ids[i], "demo", payload, 5000, &err)
		    != TP_OK) {
			fail_msg("CreateWebTask: %s", err.msg);
		}
	}
	rpc_client_free(hc);
	pthread_barrier_init(&start, NULL, RACE_THREADS);
	for (int t = 0; t < RACE_THREADS; t++) {
		racers[t].index  = t;
		racers[t].client = chaos_client("taskpilot", urls);
		racers[t].ledger = ledger;
		racers[t].ids    = ids;
		racers[t].start  = &start;
		if (pthread_create(
		        &racers[t].thread, NULL, racer_main, &racers[t])
		    != 0) {
			fail_msg("could not start a racer thread");
		}
	}
	for (int t = 0; t < RACE_THREADS; t++) {
		pthread_join(racers[t].thread, NULL);
		rpc_client_free(racers[t].client);
	}
	pthread_barrier_destroy(&start);

	/* Per web task: every OK names one task, every refusal names it. */
	for (int i = 0; i < RACE_WEB; i++) {
		char    idbuf[24];
		char    want[160];
		int64_t stored;
		snprintf(idbuf, sizeof(idbuf), "%" PRId64, ids[i]);
		stored = chaos_sql_int(db,
		    "SELECT coalesce(scheduler_task_id, 0) FROM pilot.web_task"
		    " WHERE id = $1::int8",
		    idbuf);
		assert_true(stored > 0);
		n_bound++;
		snprintf(want, sizeof(want),
		    "web task %" PRId64 " is already bound to scheduler task "
		    "%" PRId64,
		    ids[i], stored);
		for (int t = 0; t < RACE_THREADS; t++) {
			if (racers[t].rc[i] == TP_OK) {
				n_ok++;
				assert_int_equal(racers[t].sched[i], stored);
			} else if (racers[t].rc[i] == TP_FAILED_PRECONDITION) {
				if (strcmp(racers[t].msg[i], want) != 0) {
					fail_msg("bind %d of web task %" PRId64
					         ": \"%s\", want \"%s\"",
					    t, ids[i], racers[t].msg[i], want);
				}
			} else {
				fail_msg("bind %d of web task %" PRId64
				         ": %s (%s)",
				    t, ids[i], tp_status_name(racers[t].rc[i]),
				    racers[t].msg[i]);
			}
		}
	}
	if (!inv_wait_quiescent(db, true, QUIET_MS)) {
		fail_msg("tasks did not finish within %d ms", QUIET_MS);
	}
	inv_say("chaos [bind_race]: %d binds of %d web tasks by %d threads "
	        "through 3 taskpilots: %d answered OK (first or raced), %d "
	        "FAILED_PRECONDITION naming the same task",
	    RACE_WEB * RACE_THREADS, RACE_WEB, RACE_THREADS, n_ok,
	    RACE_WEB * RACE_THREADS - n_ok);
	if (th_proc_stop(&extra[0], CHAOS_STOP_MS) != 0
	    || th_proc_stop(&extra[1], CHAOS_STOP_MS) != 0) {
		fail_msg("a taskpilot did not exit 0 on SIGTERM");
	}
	inv_ledger_print(ledger, "bind_race");
	ok = inv_check(&r, db, ledger, "bind_race");
	assert_int_equal(
	    inv_ledger_count(ledger, "BindScheduler", TP_OK), n_ok);
	inv_ledger_free(ledger);
	free(racers);
	assert_true(ok);
	assert_int_equal(n_bound, RACE_WEB);
	assert_true(n_ok >= RACE_WEB);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chaos_bind_crashes_and_reconcile),
		cmocka_unit_test(test_chaos_bind_two_hundred_racing_binds),
	};

	return cmocka_run_group_tests_name(
	    "chaos_bind", tests, group_setup, group_teardown);
}
