/*
 * chaos_util.c: nodes, recorded calls, the load, a private PostgreSQL
 * cluster and a TCP proxy for the chaos scenarios (chaos_util.h).
 *
 * Threads: the load's producer threads and the proxy thread; everything
 * else runs on the test's main thread. Producer threads only call the
 * recorded calls (tp_rpc's client and the ledger are thread-safe) and
 * never touch cmocka.
 */
#include "chaos_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <inttypes.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pb_decode.h>

#include "common/mem.h"
#include "dtp_helpers.h"
#include "proto/envelope.h"

/* Time. */

int64_t
chaos_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
chaos_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { }
}

/* Nodes. */

void
chaos_node_init(chaos_node *n, const char *name, const char *db_url,
    const char *const *args)
{
	size_t i = 0;

	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->url, sizeof(n->url), "tcp://127.0.0.1:%d", th_free_port());
	snprintf(n->db_url, sizeof(n->db_url), "%s", db_url);
	for (; args != NULL && args[i] != NULL && i + 1 < 24; i++) {
		n->args[i] = args[i];
	}
	n->args[i] = NULL;
}

void
chaos_node_start(chaos_node *n)
{
	dtp_h_start(&n->proc, n->name, n->url, n->db_url, n->args, n->env);
	n->starts++;
}

void
chaos_node_kill(chaos_node *n)
{
	th_proc_kill(&n->proc);
}

void
chaos_node_stop(chaos_node *n)
{
	int rc = th_proc_stop(&n->proc, CHAOS_STOP_MS);

	if (rc != 0) {
		th_proc_dump_log(&n->proc);
		fail_msg("%s exited %d after SIGTERM, not 0", n->name, rc);
	}
}

void
chaos_pilot_start(th_proc *p, const char *name, char *url, const char *db_url,
    const char *dtp_urls, const char *const *env)
{
	char        listen[96];
	char        dburl[1200];
	char        dtpurl[512];
	char       *argv[]     = { (char *) th_bin("taskpilot"), NULL };
	const char *defaults[] = { "TP_LOG_LEVEL=debug",
		"PILOT_DTP_TIMEOUT_MS=2000", "PILOT_RECONCILE_MS=200",
		"PILOT_BIND_GRACE_MS=2500", "PILOT_REFRESH_MS=1000", NULL };
	char       *all[32];
	int         n = 0;

	snprintf(url, 64, "tcp://127.0.0.1:%d", th_free_port());
	snprintf(listen, sizeof(listen), "PILOT_LISTEN=%s", url);
	snprintf(dburl, sizeof(dburl), "PILOT_DATABASE_URL=%s", db_url);
	snprintf(dtpurl, sizeof(dtpurl), "PILOT_DTP_URL=%s", dtp_urls);
	all[n++] = listen;
	all[n++] = dburl;
	all[n++] = dtpurl;
	/* The defaults, unless env names the same setting. */
	for (int i = 0; defaults[i] != NULL; i++) {
		size_t len  = strcspn(defaults[i], "=") + 1;
		bool   over = false;
		for (int j = 0; env != NULL && env[j] != NULL; j++) {
			over = over || strncmp(env[j], defaults[i], len) == 0;
		}
		if (!over) {
			all[n++] = (char *) defaults[i];
		}
	}
	for (int j = 0; env != NULL && env[j] != NULL && n < 31; j++) {
		all[n++] = (char *) env[j];
	}
	all[n] = NULL;
	th_proc_start(p, name, argv, all);
	if (!th_wait_rpc_health("taskpilot", url, CHAOS_START_MS)) {
		th_proc_dump_log(p);
		fail_msg("%s did not answer Health at %s", name, url);
	}
}

rpc_client *
chaos_client(const char *service, const char *urls)
{
	rpc_client     *c    = NULL;
	rpc_client_opts opts = { .timeout_ms = 5000 };
	tp_err          err  = { 0 };

	opts.env = strcmp(service, "dtp") == 0 ? &proto_dtp_envelope
	                                       : &proto_pilot_envelope;
	if (rpc_client_open(&c, urls, &opts, &err) != TP_OK) {
		fail_msg("rpc_client_open %s: %s", urls, err.msg);
	}
	return c;
}

/* Recorded calls. */

tp_status
chaos_create(rpc_client *c, inv_ledger *l, int64_t *id, const char *type,
    const char *payload, const char *key, int max_attempts, int timeout_ms,
    tp_err *err)
{
	dtp_v1_Request            req = dtp_v1_Request_init_zero;
	dtp_v1_Reply              rep = dtp_v1_Reply_init_zero;
	dtp_v1_CreateTaskRequest *ct  = &req.call.create_task;
	rpc_call_opts             o   = { .timeout_ms = timeout_ms };
	tp_status                 rc;
	int64_t                   got = 0;

	req.which_call = dtp_v1_Request_create_task_tag;
	snprintf(ct->type, sizeof(ct->type), "%s", type);
	ct->payload = (char *) payload;
	if (max_attempts > 0) {
		ct->has_max_attempts = true;
		ct->max_attempts     = max_attempts;
	}
	if (key != NULL) {
		ct->has_idempotency_key = true;
		snprintf(ct->idempotency_key, sizeof(ct->idempotency_key), "%s",
		    key);
		o.idempotent = true;
	}
	rc = rpc_client_call(c, &req, &rep, &o, err);
	if (rc == TP_OK) {
		if (rep.which_result != dtp_v1_Reply_create_task_tag
		    || !rep.result.create_task.has_task
		    || rep.result.create_task.task.id <= 0) {
			rc = tp_err_set(err, TP_INTERNAL,
			    "CreateTask answered OK without a task");
		} else {
			got = rep.result.create_task.task.id;
		}
		pb_release(dtp_v1_Reply_fields, &rep);
	}
	if (l != NULL) {
		inv_note_create(l, rc, got);
	}
	if (rc == TP_OK && id != NULL) {
		*id = got;
	}
	return rc;
}

tp_status
chaos_cancel(rpc_client *c, inv_ledger *l, int64_t id, int *status,
    int timeout_ms, tp_err *err)
{
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	dtp_v1_Reply   rep = dtp_v1_Reply_init_zero;
	rpc_call_opts  o   = { .timeout_ms = timeout_ms, .idempotent = true };
	tp_status      rc;

	req.which_call          = dtp_v1_Request_cancel_task_tag;
	req.call.cancel_task.id = id;
	rc                      = rpc_client_call(c, &req, &rep, &o, err);
	if (rc == TP_OK) {
		if (status != NULL) {
			*status = (int) rep.result.cancel_task.status;
		}
		pb_release(dtp_v1_Reply_fields, &rep);
	}
	if (l != NULL) {
		inv_note_cancel(l, id, rc);
	}
	return rc;
}

tp_status
chaos_web_create(rpc_client *c, inv_ledger *l, int64_t *id, const char *type,
    const char *payload, int timeout_ms, tp_err *err)
{
	pilot_v1_Request req = pilot_v1_Request_init_zero;
	pilot_v1_Reply   rep = pilot_v1_Reply_init_zero;
	rpc_call_opts    o   = { .timeout_ms = timeout_ms };
	tp_status        rc;

	req.which_call = pilot_v1_Request_create_web_task_tag;
	snprintf(req.call.create_web_task.type,
	    sizeof(req.call.create_web_task.type), "%s", type);
	req.call.create_web_task.payload = (char *) payload;
	rc = rpc_client_call(c, &req, &rep, &o, err);
	if (rc == TP_OK) {
		if (id != NULL) {
			*id = rep.result.create_web_task.id;
		}
		pb_release(pilot_v1_Reply_fields, &rep);
	}
	if (l != NULL) {
		inv_note_call(l, "CreateWebTask", rc);
	}
	return rc;
}

tp_status
chaos_bind(rpc_client *c, inv_ledger *l, int64_t web_id, int64_t *sched,
    int timeout_ms, tp_err *err)
{
	pilot_v1_Request req = pilot_v1_Request_init_zero;
	pilot_v1_Reply   rep = pilot_v1_Reply_init_zero;
	rpc_call_opts    o   = { .timeout_ms = timeout_ms };
	tp_status        rc;
	int64_t          got = 0;

	req.which_call             = pilot_v1_Request_bind_scheduler_tag;
	req.call.bind_scheduler.id = web_id;
	rc                         = rpc_client_call(c, &req, &rep, &o, err);
	if (rc == TP_OK) {
		if (rep.which_result != pilot_v1_Reply_bind_scheduler_tag
		    || !rep.result.bind_scheduler.has_scheduler_task_id) {
			rc = tp_err_set(err, TP_INTERNAL,
			    "BindScheduler answered OK without a task");
		} else {
			got = rep.result.bind_scheduler.scheduler_task_id;
		}
		pb_release(pilot_v1_Reply_fields, &rep);
	}
	if (l != NULL) {
		inv_note_bind(l, web_id, rc, got);
	}
	if (rc == TP_OK && sched != NULL) {
		*sched = got;
	}
	return rc;
}

/* The load. */

typedef struct producer {
	struct chaos_load *load;
	pthread_t          thread;
	int                index;
} producer;

struct chaos_load {
	chaos_load_opts o;
	atomic_bool     stop;
	atomic_llong    iterations;
	producer        threads[16];
	int             n_threads;
};

static void
iteration(chaos_load *ld, int t, int64_t i, unsigned *seed)
{
	const chaos_load_opts *o = &ld->o;
	char                   payload[96];
	char                   key[96];
	int64_t                id = 0;
	tp_err                 err;

	if (o->cancel_every > 0 && i % o->cancel_every == o->cancel_every - 1) {
		snprintf(payload, sizeof(payload),
		    "{\"ms\":3000,\"c\":%" PRId64 "}", i);
		if (chaos_create(o->dtp, o->ledger, &id, "sleep", payload, NULL,
		        o->max_attempts, o->call_timeout_ms, &err)
		    != TP_OK) {
			return;
		}
		/* CancelTask is idempotent: ask again while the answer is
		 * transient (a 3 s task left to run is one chaos may cut
		 * off, attempt after attempt). */
		for (int k = 0; k < 10 && !atomic_load(&ld->stop); k++) {
			tp_status rc = chaos_cancel(o->dtp, o->ledger, id, NULL,
			    o->call_timeout_ms, &err);
			if (rc != TP_UNAVAILABLE
			    && rc != TP_DEADLINE_EXCEEDED) {
				break;
			}
			chaos_sleep_ms(200);
		}
		return;
	}
	if (o->pilot != NULL && o->bind_every > 0 && i % o->bind_every == 0) {
		int64_t sched = 0;
		snprintf(payload, sizeof(payload), "web %s %d %" PRId64,
		    o->name, t, i);
		if (chaos_web_create(o->pilot, o->ledger, &id, "demo", payload,
		        o->call_timeout_ms, &err)
		    == TP_OK) {
			(void) chaos_bind(o->pilot, o->ledger, id, &sched,
			    o->call_timeout_ms, &err);
		}
		return;
	}
	snprintf(key, sizeof(key), "%s-%d-%" PRId64, o->name, t, i);
	if (i % 4 == 0) {
		snprintf(payload, sizeof(payload), "{\"demo\":%" PRId64 "}", i);
		(void) chaos_create(o->dtp, o->ledger, &id, "demo", payload,
		    o->key_every > 0 && i % o->key_every == 0 ? key : NULL,
		    o->max_attempts, o->call_timeout_ms, &err);
	} else {
		snprintf(payload, sizeof(payload), "{\"ms\":%d}",
		    50 + (int) (rand_r(seed) % 151));
		(void) chaos_create(o->dtp, o->ledger, &id, "sleep", payload,
		    o->key_every > 0 && i % o->key_every == 0 ? key : NULL,
		    o->max_attempts, o->call_timeout_ms, &err);
	}
}

static void *
producer_main(void *arg)
{
	producer   *p     = arg;
	chaos_load *ld    = p->load;
	unsigned    seed  = (unsigned) (p->index * 7919 + 17);
	long long   start = th_now_ms();
	int64_t     i     = 0;

	while (!atomic_load(&ld->stop)) {
		long long due = start + i * ld->o.period_ms;
		long long now = th_now_ms();

		if (now < due) {
			chaos_sleep_ms((int) (due - now));
			continue;
		}
		if (now > due + ld->o.period_ms) {
			/* Behind (a call hung): go on from now, no burst. */
			start = now - i * ld->o.period_ms;
		}
		iteration(ld, p->index, i, &seed);
		atomic_fetch_add(&ld->iterations, 1);
		i++;
	}
	return NULL;
}

chaos_load *
chaos_load_start(const chaos_load_opts *opts)
{
	chaos_load *ld = tp_xcalloc(1, sizeof(*ld));

	ld->o         = *opts;
	ld->n_threads = opts->threads < 1 ? 1
	    : opts->threads > 16          ? 16
	                                  : opts->threads;
	if (ld->o.period_ms < 1) {
		ld->o.period_ms = 1;
	}
	atomic_init(&ld->stop, false);
	atomic_init(&ld->iterations, 0);
	for (int i = 0; i < ld->n_threads; i++) {
		ld->threads[i].load  = ld;
		ld->threads[i].index = i;
		if (pthread_create(&ld->threads[i].thread, NULL, producer_main,
		        &ld->threads[i])
		    != 0) {
			fail_msg("could not start a producer thread");
		}
	}
	return ld;
}

int64_t
chaos_load_iterations(chaos_load *ld)
{
	return atomic_load(&ld->iterations);
}

void
chaos_load_stop(chaos_load *ld)
{
	if (ld == NULL) {
		return;
	}
	atomic_store(&ld->stop, true);
	for (int i = 0; i < ld->n_threads; i++) {
		pthread_join(ld->threads[i].thread, NULL);
	}
	free(ld);
}

typedef struct accepted_wait {
	inv_ledger *l;
	int64_t     want;
} accepted_wait;

static bool
accepted_pred(void *arg)
{
	accepted_wait *w = arg;

	return inv_ledger_accepted(w->l) >= w->want;
}

bool
chaos_wait_accepted(inv_ledger *l, int64_t from, int64_t n, int timeout_ms)
{
	accepted_wait w = { .l = l, .want = from + n };

	return th_poll_until(accepted_pred, &w, timeout_ms);
}

void
chaos_expect_answers(inv_ledger *l, const char *call, unsigned allowed)
{
	for (int code = 0; code <= TP_STATUS_MAX; code++) {
		int64_t n = inv_ledger_count(l, call, (tp_status) code);
		if (n > 0 && (allowed & CHAOS_BIT(code)) == 0) {
			fail_msg("%s was answered %s %" PRId64 " times; only "
			         "OK and transient failures are expected",
			    call, tp_status_name(code), n);
		}
	}
}

/* SQL. */

db_conn *
chaos_db_open(const char *url)
{
	db_conn *c   = NULL;
	tp_err   err = { 0 };

	if (db_conn_open(&c, url, &err) != TP_OK) {
		fail_msg("could not connect to the test database: %s", err.msg);
	}
	return c;
}

int64_t
chaos_sql_int(db_conn *c, const char *sql, const char *param)
{
	db_rows    *rows      = NULL;
	const char *params[1] = { param };
	tp_err      err       = { 0 };
	tp_status   rc        = TP_OK;
	int64_t     v;

	/* A restarted server costs the first statement: try again. */
	for (int i = 0; i < 20; i++) {
		rc = db_exec(c, &rows, sql, param != NULL ? 1 : 0,
		    param != NULL ? params : NULL, &err);
		if (rc != TP_UNAVAILABLE) {
			break;
		}
		chaos_sleep_ms(200);
	}
	if (rc != TP_OK) {
		fail_msg("%s: %s", sql, err.msg);
	}
	v = db_rows_count(rows) > 0 ? db_rows_int64(rows, 0, 0) : 0;
	db_rows_free(rows);
	return v;
}

int64_t
chaos_terminate_backends(db_conn *c)
{
	return chaos_sql_int(c,
	    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
	    " FROM pg_stat_activity WHERE datname = current_database()"
	    " AND pid <> pg_backend_pid()",
	    NULL);
}

/* Commands (pg.sh, pg_ctl). */

/*
 * run_cmd runs argv and waits; its stdout goes to out (size bytes, may be
 * NULL), its stderr to log. Returns the exit status, -1 when it did not
 * exit normally.
 */
static int
run_cmd(char *const argv[], char *out, size_t size, const char *log)
{
	int     pipefd[2];
	pid_t   pid;
	int     status;
	size_t  n = 0;
	ssize_t got;

	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		fail_msg("pipe: %s", strerror(errno));
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fail_msg("fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int nul   = open("/dev/null", O_RDONLY);
		(void) dup2(nul, STDIN_FILENO);
		(void) dup2(pipefd[1], STDOUT_FILENO);
		(void) dup2(logfd >= 0 ? logfd : pipefd[1], STDERR_FILENO);
		/* The postmaster must not inherit the test's sockets. */
		(void) close_range(3, ~0U, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		char buf[256];
		got = read(pipefd[0], buf, sizeof(buf));
		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got <= 0) {
			break;
		}
		for (ssize_t i = 0; i < got && out != NULL && n + 1 < size;
		     i++) {
			out[n++] = buf[i];
		}
	}
	close(pipefd[0]);
	if (out != NULL && size > 0) {
		out[n] = '\0';
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0
	    && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) {
		s[--n] = '\0';
	}
}

/* pg_bindir finds the newest PostgreSQL server binaries (as pg.sh does). */
static const char *
pg_bindir(void)
{
	static char dir[512];
	const char *env = getenv("TP_PG_BINDIR");
	glob_t      g;

	if (dir[0] != '\0') {
		return dir;
	}
	if (env != NULL && *env != '\0') {
		snprintf(dir, sizeof(dir), "%s", env);
		return dir;
	}
	if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) != 0
	    || g.gl_pathc == 0) {
		fail_msg("no pg_ctl in /usr/lib/postgresql/*/bin; set "
		         "TP_PG_BINDIR");
	}
	/* glob sorts; "15" after "14": the last one is the newest here. */
	snprintf(dir, sizeof(dir), "%s", g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	*strrchr(dir, '/') = '\0';
	return dir;
}

static chaos_pg *pg_at_exit;
static pid_t     pg_owner;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	(void) remove(path);
	return 0;
}

/*
 * pg_ctl_run runs pg_ctl <action> on the cluster (as the postgres user when
 * root), stopping with -m fast and waiting; returns its exit status.
 */
static int
pg_ctl_run(const chaos_pg *pg, const char *action)
{
	char  pg_ctl[600];
	char  logfile[700];
	char *argv[16];
	int   n = 0;

	snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", pg_bindir());
	snprintf(logfile, sizeof(logfile), "%s/../postgres.log", pg->data);
	if (geteuid() == 0) {
		argv[n++] = "runuser";
		argv[n++] = "-u";
		argv[n++] = "postgres";
		argv[n++] = "--";
	}
	argv[n++] = pg_ctl;
	argv[n++] = "-D";
	argv[n++] = (char *) pg->data;
	argv[n++] = "-l";
	argv[n++] = logfile;
	argv[n++] = "-m";
	argv[n++] = "fast";
	argv[n++] = "-w";
	argv[n++] = "-t";
	argv[n++] = "60";
	argv[n++] = (char *) action;
	argv[n]   = NULL;
	return run_cmd(argv, NULL, 0, pg->log);
}

/*
 * pg_cleanup stops the cluster and removes the /tmp root pg.sh made for it.
 * It works from the data folder's path alone, so that it still works when
 * the tmpdir (which holds pg.sh's bookkeeping) is gone.
 */
static void
pg_cleanup(chaos_pg *pg)
{
	char        pid_file[700];
	struct stat st;

	snprintf(pid_file, sizeof(pid_file), "%s/postmaster.pid", pg->data);
	if (stat(pid_file, &st) == 0) {
		(void) pg_ctl_run(pg, "stop");
	}
	if (strncmp(pg->root, "/tmp/tp-pg-", 11) == 0) {
		(void) nftw(pg->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
}

static void
pg_stop_at_exit(void)
{
	if (pg_at_exit != NULL && getpid() == pg_owner) {
		pg_cleanup(pg_at_exit);
		pg_at_exit = NULL;
	}
}

void
chaos_pg_start(chaos_pg *pg)
{
	char  script[600];
	char  root_file[700];
	char  root[512] = "";
	char *argv[4];
	FILE *f;
	int   rc;

	memset(pg, 0, sizeof(*pg));
	snprintf(pg->dir, sizeof(pg->dir), "%s/pg", th_tmpdir());
	snprintf(pg->log, sizeof(pg->log), "%s/pg.sh.log", th_tmpdir());
	snprintf(script, sizeof(script), "%s/scripts/pg.sh", TP_SOURCE_DIR);
	argv[0] = script;
	argv[1] = "start";
	argv[2] = pg->dir;
	argv[3] = NULL;
	rc      = run_cmd(argv, pg->url, sizeof(pg->url), pg->log);
	trim(pg->url);
	if (rc != 0 || strncmp(pg->url, "postgresql://", 13) != 0) {
		fail_msg("pg.sh start %s failed (exit %d); see %s", pg->dir, rc,
		    pg->log);
	}
	pg_at_exit = pg;
	pg_owner   = getpid();
	atexit(pg_stop_at_exit);
	snprintf(root_file, sizeof(root_file), "%s/root", pg->dir);
	if ((f = fopen(root_file, "r")) != NULL) {
		if (fgets(root, sizeof(root), f) == NULL) {
			root[0] = '\0';
		}
		fclose(f);
		trim(root);
	}
	snprintf(
	    pg->root, sizeof(pg->root), "%s", root[0] != '\0' ? root : pg->dir);
	snprintf(pg->data, sizeof(pg->data), "%s/data", pg->root);
}

long long
chaos_pg_ctl(chaos_pg *pg, const char *action)
{
	long long t0 = th_now_ms();
	int       rc = pg_ctl_run(pg, action);

	if (rc != 0) {
		fail_msg(
		    "pg_ctl %s failed (exit %d); see %s", action, rc, pg->log);
	}
	return th_now_ms() - t0;
}

void
chaos_pg_stop(chaos_pg *pg)
{
	pg_cleanup(pg);
	if (pg_at_exit == pg) {
		pg_at_exit = NULL;
	}
}

int
chaos_url_port(const char *url, char *host)
{
	const char *at = strchr(url, '@');
	const char *h  = at != NULL ? at + 1 : strstr(url, "://");
	const char *colon;
	int         port = 0;

	if (h == NULL) {
		fail_msg("no host in %s", url);
	}
	if (at == NULL) {
		h += 3;
	}
	colon = strchr(h, ':');
	if (colon == NULL || (port = atoi(colon + 1)) <= 0) {
		fail_msg("no port in %s", url);
	}
	snprintf(host, 64, "%.*s", (int) (colon - h), h);
	return port;
}

bool
chaos_dtp_has_flag(const char *flag)
{
	static char help[16384];
	char        log[600];
	char       *argv[] = { (char *) th_bin("dtp"), "--help", NULL };

	if (help[0] == '\0') {
		snprintf(log, sizeof(log), "%s/dtp-help.log", th_tmpdir());
		(void) run_cmd(argv, help, sizeof(help), log);
	}
	return strstr(help, flag) != NULL;
}

/* Logs. */

static int64_t
parse_log_time(const char *line)
{
	struct tm tm;
	int       ms = 0;
	char     *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(line, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL || *end != '.' || sscanf(end + 1, "%3d", &ms) != 1) {
		return -1;
	}
	return (int64_t) timegm(&tm) * 1000 + ms;
}

int64_t
chaos_log_time_ms(const th_proc *p, const char *needle)
{
	FILE   *f = fopen(p->log_path, "r");
	char    line[8192];
	int64_t t = -1;

	if (f == NULL) {
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, needle) != NULL) {
			t = parse_log_time(line);
			break;
		}
	}
	fclose(f);
	return t;
}

bool
chaos_log_has(const th_proc *p, const char *needle)
{
	FILE *f = fopen(p->log_path, "r");
	char  line[8192];
	bool  found = false;

	if (f == NULL) {
		return false;
	}
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		found = strstr(line, needle) != NULL;
	}
	fclose(f);
	return found;
}

/* The proxy. */

#define PROXY_MAX_PAIRS 256

typedef enum proxy_mode {
	MODE_FORWARD,
	MODE_CUT,
	MODE_STALL,
	MODE_EXIT,
} proxy_mode;

typedef struct pair {
	int a; /* accepted (the service) */
	int b; /* upstream (PostgreSQL) */
} pair;

struct chaos_proxy {
	pthread_t          thread;
	int                listen_fd;
	int                port;
	struct sockaddr_in upstream;
	int                ctl[2]; /* wakes the proxy thread */
	pthread_mutex_t    mu;
	pthread_cond_t     cv;
	proxy_mode         want;    // guarded by mu
	int64_t            asked;   // guarded by mu
	int64_t            applied; // guarded by mu
	atomic_llong       accepted;
	/* The proxy thread's own. */
	proxy_mode mode;
	pair       pairs[PROXY_MAX_PAIRS];
	int        n_pairs;
};

static void
close_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void
drop_pair(chaos_proxy *p, int i, bool reset)
{
	if (reset) {
		close_reset(p->pairs[i].a);
		close_reset(p->pairs[i].b);
	} else {
		close(p->pairs[i].a);
		close(p->pairs[i].b);
	}
	p->pairs[i] = p->pairs[--p->n_pairs];
}

static bool
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return false;
		}
		buf += n;
		len -= (size_t) n;
	}
	return true;
}

static void
proxy_accept(chaos_proxy *p)
{
	int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	int up;
	int one = 1;

	if (fd < 0) {
		return;
	}
	atomic_fetch_add(&p->accepted, 1);
	if (p->mode == MODE_CUT || p->n_pairs == PROXY_MAX_PAIRS) {
		close_reset(fd);
		return;
	}
	up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (up < 0
	    || connect(
	           up, (struct sockaddr *) &p->upstream, sizeof(p->upstream))
	        != 0) {
		if (up >= 0) {
			close(up);
		}
		close_reset(fd);
		return;
	}
	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void) setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p->pairs[p->n_pairs++] = (pair) { .a = fd, .b = up };
}

static void
proxy_apply(chaos_proxy *p)
{
	char       drain[64];
	proxy_mode want;

	while (read(p->ctl[0], drain, sizeof(drain)) > 0) { }
	pthread_mutex_lock(&p->mu);
	want = p->want;
	pthread_mutex_unlock(&p->mu);
	if (want == MODE_CUT || want == MODE_EXIT) {
		while (p->n_pairs > 0) {
			drop_pair(p, p->n_pairs - 1, want == MODE_CUT);
		}
	}
	p->mode = want;
	pthread_mutex_lock(&p->mu);
	p->applied = p->asked;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void *
proxy_main(void *arg)
{
	chaos_proxy  *p = arg;
	struct pollfd pfd[2 + 2 * PROXY_MAX_PAIRS];
	char          buf[65536];

	while (p->mode != MODE_EXIT) {
		int n     = 0;
		int first = 0;

		pfd[n++]
		    = (struct pollfd) { .fd = p->ctl[0], .events = POLLIN };
		if (p->mode != MODE_STALL) {
			pfd[n++] = (struct pollfd) { .fd = p->listen_fd,
				.events                  = POLLIN };
		}
		first = n;
		if (p->mode == MODE_FORWARD) {
			for (int i = 0; i < p->n_pairs; i++) {
				pfd[n++]
				    = (struct pollfd) { .fd = p->pairs[i].a,
					      .events       = POLLIN };
				pfd[n++]
				    = (struct pollfd) { .fd = p->pairs[i].b,
					      .events       = POLLIN };
			}
		}
		if (poll(pfd, (nfds_t) n, -1) < 0) {
			continue;
		}
		if (pfd[0].revents != 0) {
			proxy_apply(p);
			continue;
		}
		if (first == 2 && pfd[1].revents != 0) {
			proxy_accept(p);
		}
		/* Pairs from the last, so dropping one keeps the indexes. */
		for (int i = (n - first) / 2 - 1; i >= 0; i--) {
			for (int side = 0; side < 2; side++) {
				struct pollfd *e = &pfd[first + 2 * i + side];
				int            from
				    = side == 0 ? p->pairs[i].a : p->pairs[i].b;
				int to
				    = side == 0 ? p->pairs[i].b : p->pairs[i].a;
				ssize_t got;
				if (e->revents == 0 || i >= p->n_pairs) {
					continue;
				}
				got = recv(from, buf, sizeof(buf), 0);
				if (got <= 0
				    || !write_all(to, buf, (size_t) got)) {
					drop_pair(p, i, false);
					break;
				}
			}
		}
	}
	close(p->listen_fd);
	return NULL;
}

chaos_proxy *
chaos_proxy_start(const char *host, int port)
{
	chaos_proxy       *p   = tp_xcalloc(1, sizeof(*p));
	struct sockaddr_in sa  = { .sin_family = AF_INET };
	socklen_t          len = sizeof(sa);
	int                one = 1;

	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	atomic_init(&p->accepted, 0);
	p->upstream.sin_family = AF_INET;
	p->upstream.sin_port   = htons((uint16_t) port);
	if (inet_pton(AF_INET,
	        strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
	        &p->upstream.sin_addr)
	    != 1) {
		fail_msg("proxy: bad upstream host %s", host);
	}
	p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	(void) setsockopt(
	    p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (p->listen_fd < 0
	    || bind(p->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
	    || listen(p->listen_fd, 128) != 0
	    || getsockname(p->listen_fd, (struct sockaddr *) &sa, &len) != 0
	    || pipe2(p->ctl, O_CLOEXEC | O_NONBLOCK) != 0) {
		fail_msg("proxy: could not listen: %s", strerror(errno));
	}
	p->port = ntohs(sa.sin_port);
	p->mode = MODE_FORWARD;
	p->want = MODE_FORWARD;
	if (pthread_create(&p->thread, NULL, proxy_main, p) != 0) {
		fail_msg("proxy: could not start its thread");
	}
	return p;
}

int
chaos_proxy_port(const chaos_proxy *p)
{
	return p->port;
}

int64_t
chaos_proxy_connections(chaos_proxy *p)
{
	return atomic_load(&p->accepted);
}

static void
proxy_set(chaos_proxy *p, proxy_mode m)
{
	int64_t ticket;

	pthread_mutex_lock(&p->mu);
	p->want = m;
	ticket  = ++p->asked;
	pthread_mutex_unlock(&p->mu);
	(void) !write(p->ctl[1], "x", 1);
	pthread_mutex_lock(&p->mu);
	while (p->applied < ticket) {
		pthread_cond_wait(&p->cv, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
}

void
chaos_proxy_cut(chaos_proxy *p)
{
	proxy_set(p, MODE_CUT);
}

void
chaos_proxy_stall(chaos_proxy *p)
{
	proxy_set(p, MODE_STALL);
}

void
chaos_proxy_heal(chaos_proxy *p)
{
	proxy_set(p, MODE_FORWARD);
}

void
chaos_proxy_free(chaos_proxy *p)
{
	if (p == NULL) {
		return;
	}
	proxy_set(p, MODE_EXIT);
	pthread_join(p->thread, NULL);
	close(p->ctl[0]);
	close(p->ctl[1]);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
