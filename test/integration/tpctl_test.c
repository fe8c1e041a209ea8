/*
 * tpctl_test: the real tpctl binary against real dtp and taskpilot processes
 * on a private database: the Day-4 flow (create, bind, execution until
 * SUCCEEDED) through --json, the human form, error and usage exit codes;
 * pilot watch (a demo task to SUCCEEDED, exit 0; a PENDING and a RUNNING
 * sleep cancelled from another tpctl, exit 1); Metrics on both services;
 * several DTP URLs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

#define RUN_TIMEOUT_MS 30000
#define MAX_ARGS       32
#define DTP_WORKERS    2

static th_proc dtp_proc, pilot_proc;
static char    dtp_url[64], pilot_url[64];

/* One run of tpctl: its exit status and what it printed. */
typedef struct run_result {
	int   status; /* exit status, -1 when killed or not run */
	char *out;    /* stdout, malloc'd */
	char *err;    /* stderr, malloc'd */
} run_result;

static char *
slurp(const char *path)
{
	FILE  *f   = fopen(path, "rb");
	char  *buf = NULL;
	size_t n = 0, cap = 0;

	assert_non_null(f);
	for (;;) {
		if (cap - n < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		if (got == 0) {
			break;
		}
		n += got;
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void
run_free(run_result *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* A tpctl run in the background: its pid and where its output goes. */
typedef struct bg_run {
	pid_t pid;
	bool  exited; /* reaped: wstatus holds its status */
	int   wstatus;
	char  out_path[512];
	char  err_path[512];
} bg_run;

/*
 * tpctl_start starts the tpctl binary with the service URLs and args
 * (NULL-terminated), its stdout and stderr going to files of its own.
 */
static void
tpctl_start(bg_run *b, const char *const *args)
{
	static int         n_runs;
	char               url_flag[96], pilot_flag[96];
	char              *argv[MAX_ARGS];
	int                argc = 0;
	const char *const *a;

	snprintf(url_flag, sizeof(url_flag), "--url=%s", dtp_url);
	snprintf(pilot_flag, sizeof(pilot_flag), "--pilot-url=%s", pilot_url);
	n_runs++;
	snprintf(b->out_path, sizeof(b->out_path), "%s/tpctl-%d.out",
	    th_tmpdir(), n_runs);
	snprintf(b->err_path, sizeof(b->err_path), "%s/tpctl-%d.err",
	    th_tmpdir(), n_runs);
	argv[argc++] = (char *) th_bin("tpctl");
	argv[argc++] = url_flag;
	argv[argc++] = pilot_flag;
	for (a = args; *a != NULL && argc < MAX_ARGS - 1; a++) {
		argv[argc++] = (char *) *a;
	}
	argv[argc] = NULL;

	b->exited  = false;
	b->wstatus = 0;
	fflush(NULL);
	b->pid = fork();
	assert_true(b->pid >= 0);
	if (b->pid == 0) {
		int out = open(b->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(b->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int in  = open("/dev/null", O_RDONLY);
		if (out < 0 || err < 0 || in < 0) {
			_exit(126);
		}
		(void) dup2(in, STDIN_FILENO);
		(void) dup2(out, STDOUT_FILENO);
		(void) dup2(err, STDERR_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
}

/* tpctl_done: whether a background tpctl has exited (reaping it). */
static bool
tpctl_done(bg_run *b)
{
	pid_t got;

	if (b->exited) {
		return true;
	}
	got = waitpid(b->pid, &b->wstatus, WNOHANG);
	assert_true(got == b->pid || got == 0 || errno == EINTR);
	b->exited = got == b->pid;
	return b->exited;
}

/*
 * tpctl_wait waits for a background tpctl (killing it past
 * RUN_TIMEOUT_MS) and returns what it printed.
 */
static run_result
tpctl_wait(bg_run *b)
{
	run_result r        = { .status = -1 };
	long long  deadline = th_now_ms() + RUN_TIMEOUT_MS;

	while (!tpctl_done(b)) {
		if (th_now_ms() > deadline) {
			kill(b->pid, SIGKILL);
			(void) waitpid(b->pid, &b->wstatus, 0);
			b->exited = true;
			fail_msg("tpctl did not finish within %d ms",
			    RUN_TIMEOUT_MS);
		}
		usleep(2000);
	}
	r.status = WIFEXITED(b->wstatus) ? WEXITSTATUS(b->wstatus) : -1;
	r.out    = slurp(b->out_path);
	r.err    = slurp(b->err_path);
	return r;
}

/*
 * tpctl runs the tpctl binary with the service URLs and the given arguments
 * (NULL-terminated), waits for it (killing it past RUN_TIMEOUT_MS) and
 * returns what it printed.
 */
static run_result
tpctl(const char *arg, ...)
{
	const char *args[MAX_ARGS];
	int         n = 0;
	va_list     ap;
	const char *a;
	bg_run      b;

	va_start(ap, arg);
	for (a = arg; a != NULL && n < MAX_ARGS - 4;
	     a = va_arg(ap, const char *)) {
		args[n++] = a;
	}
	va_end(ap);
	args[n] = NULL;
	tpctl_start(&b, args);
	return tpctl_wait(&b);
}

/* parse_json parses tpctl --json output: exactly one line of JSON. */
static json_t *
parse_json(const run_result *r)
{
	json_error_t jerr;
	json_t      *v;
	size_t       len = strlen(r->out);

	if (r->status != 0) {
		fail_msg("tpctl exited %d: %s", r->status, r->err);
	}
	/* One line: the only newline is the last byte. */
	assert_true(len > 1);
	assert_ptr_equal(strchr(r->out, '\n'), r->out + len - 1);
	v = json_loads(r->out, 0, &jerr);
	if (v == NULL) {
		fail_msg(
		    "tpctl printed invalid JSON (%s): %s", jerr.text, r->out);
	}
	return v;
}

/* parse_json_status: parse_json for a run that must exit with status. */
static json_t *
parse_json_status(const run_result *r, int status)
{
	run_result ok = *r;

	if (r->status != status) {
		fail_msg("tpctl exited %d, not %d: %s%s", r->status, status,
		    r->out, r->err);
	}
	ok.status = 0;
	return parse_json(&ok);
}

static long long
json_id(const json_t *v, const char *key)
{
	const json_t *f = json_object_get(v, key);

	assert_true(json_is_integer(f));
	return json_integer_value(f);
}

static const char *
json_str(const json_t *v, const char *key)
{
	const json_t *f = json_object_get(v, key);

	if (!json_is_string(f)) {
		fail_msg("field \"%s\" is not a string", key);
	}
	return json_string_value(f);
}

static int
setup(void **state)
{
	const char *db = th_db_create("tpctl");
	char        env_dtp[4][600], env_pilot[4][600];
	char       *dtp_env[5], *pilot_env[5];
	char       *dtp_argv[]   = { (char *) th_bin("dtp"), NULL };
	char       *pilot_argv[] = { (char *) th_bin("taskpilot"), NULL };

	(void) state;
	snprintf(
	    dtp_url, sizeof(dtp_url), "tcp://127.0.0.1:%d", th_free_port());
	snprintf(
	    pilot_url, sizeof(pilot_url), "tcp://127.0.0.1:%d", th_free_port());

	snprintf(env_dtp[0], sizeof(env_dtp[0]), "DTP_LISTEN=%s", dtp_url);
	snprintf(env_dtp[1], sizeof(env_dtp[1]), "DTP_DATABASE_URL=%s", db);
	snprintf(env_dtp[2], sizeof(env_dtp[2]), "DTP_NODE_NAME=tpctl-test");
	/* Two workers: the watch tests hold both to keep a task PENDING. */
	snprintf(env_dtp[3], sizeof(env_dtp[3]), "DTP_WORKERS=%d", DTP_WORKERS);
	for (int i = 0; i < 4; i++) {
		dtp_env[i] = env_dtp[i];
	}
	dtp_env[4] = NULL;
	th_proc_start(&dtp_proc, "dtp", dtp_argv, dtp_env);

	snprintf(
	    env_pilot[0], sizeof(env_pilot[0]), "PILOT_LISTEN=%s", pilot_url);
	snprintf(
	    env_pilot[1], sizeof(env_pilot[1]), "PILOT_DATABASE_URL=%s", db);
	snprintf(
	    env_pilot[2], sizeof(env_pilot[2]), "PILOT_DTP_URL=%s", dtp_url);
	snprintf(env_pilot[3], sizeof(env_pilot[3]), "TP_LOG_LEVEL=info");
	for (int i = 0; i < 4; i++) {
		pilot_env[i] = env_pilot[i];
	}
	pilot_env[4] = NULL;
	th_proc_start(&pilot_proc, "taskpilot", pilot_argv, pilot_env);

	if (!th_wait_rpc_health("dtp", dtp_url, 30000)) {
		th_proc_dump_log(&dtp_proc);
		fail_msg("dtp did not answer Health");
	}
	if (!th_wait_rpc_health("taskpilot", pilot_url, 30000)) {
		th_proc_dump_log(&pilot_proc);
		fail_msg("taskpilot did not answer Health");
	}
	return 0;
}

static int
teardown(void **state)
{
	int pilot_rc, dtp_rc;

	(void) state;
	pilot_rc = th_proc_stop(&pilot_proc, 20000);
	dtp_rc   = th_proc_stop(&dtp_proc, 20000);
	if (pilot_rc != 0) {
		th_proc_dump_log(&pilot_proc);
	}
	if (dtp_rc != 0) {
		th_proc_dump_log(&dtp_proc);
	}
	th_db_drop();
	assert_int_equal(pilot_rc, 0);
	assert_int_equal(dtp_rc, 0);
	return 0;
}

/* Polling the execution of a web task until its status is final. */
typedef struct exec_poll {
	const char *id;
	json_t     *task; /* the last answer */
} exec_poll;

static bool
execution_final_cb(void *arg)
{
	exec_poll  *p = arg;
	run_result  r = tpctl("--json", "pilot", "execution", p->id, NULL);
	const char *status;

	json_decref(p->task);
	p->task = parse_json(&r);
	run_free(&r);
	status = json_str(p->task, "status");
	return strcmp(status, "SUCCEEDED") == 0 || strcmp(status, "FAILED") == 0
	    || strcmp(status, "CANCELLED") == 0;
}

static void
test_tpctl_day4_flow(void **state)
{
	run_result r;
	json_t    *created, *bound;
	char       id[32], sched_id[32], want_payload[256], line[128];
	long long  web_id, task_id;
	exec_poll  poll = { .id = id, .task = NULL };

	(void) state;
	/* Create: unbound, the payload stored as given. */
	r = tpctl("--json", "pilot", "create", "demo", "{\"n\":1}", "--title",
	    "hello", NULL);
	created = parse_json(&r);
	assert_non_null(strstr(r.out, "\"schedulerTaskId\":null"));
	run_free(&r);
	web_id = json_id(created, "id");
	assert_true(web_id > 0);
	assert_string_equal(json_str(created, "type"), "demo");
	assert_string_equal(json_str(created, "title"), "hello");
	assert_string_equal(json_str(created, "payload"), "{\"n\":1}");
	assert_true(json_is_null(json_object_get(created, "schedulerTaskId")));
	json_decref(created);
	snprintf(id, sizeof(id), "%lld", web_id);

	/* Bind: now it names its DTP task. */
	r     = tpctl("pilot", "bind", id, "--json", NULL);
	bound = parse_json(&r);
	run_free(&r);
	assert_int_equal(json_id(bound, "id"), web_id);
	task_id = json_id(bound, "schedulerTaskId");
	assert_true(task_id > 0);
	json_decref(bound);
	snprintf(sched_id, sizeof(sched_id), "%lld", task_id);

	/* Execution: polled until final; it must succeed with the payload. */
	if (!th_poll_until(execution_final_cb, &poll, 30000)) {
		th_proc_dump_log(&dtp_proc);
		fail_msg("the execution did not finish within 30 s");
	}
	snprintf(want_payload, sizeof(want_payload),
	    "{\"webTaskId\":%lld,\"type\":\"demo\",\"payload\":\"{\\\"n\\\":1}"
	    "\"}",
	    web_id);
	assert_string_equal(json_str(poll.task, "status"), "SUCCEEDED");
	assert_int_equal(json_id(poll.task, "id"), task_id);
	assert_string_equal(json_str(poll.task, "payload"), want_payload);
	assert_string_equal(json_str(poll.task, "result"), want_payload);
	assert_int_equal(json_id(poll.task, "attempts"), 1);
	snprintf(line, sizeof(line), "webtask:%lld", web_id);
	assert_string_equal(json_str(poll.task, "idempotencyKey"), line);
	json_decref(poll.task);

	/* The same task seen from DTP, in the human form. */
	r = tpctl("dtp", "get", sched_id, NULL);
	assert_int_equal(r.status, 0);
	snprintf(
	    line, sizeof(line), "task %lld SUCCEEDED attempts=1/", task_id);
	assert_memory_equal(r.out, line, strlen(line));
	assert_non_null(strstr(r.out, " type=demo\n"));
	assert_non_null(strstr(r.out, want_payload));
	assert_string_equal(r.err, "");
	run_free(&r);

	r = tpctl("pilot", "get", id, NULL);
	assert_int_equal(r.status, 0);
	snprintf(line, sizeof(line),
	    "web task %lld type=demo schedulerTaskId=%lld", web_id, task_id);
	assert_memory_equal(r.out, line, strlen(line));
	run_free(&r);

	/* A second bind is refused and names the existing task. */
	r = tpctl("pilot", "bind", id, NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_memory_equal(r.err, "tpctl: FAILED_PRECONDITION: ", 28);
	assert_non_null(strstr(r.err, sched_id));
	run_free(&r);
}

static void
test_tpctl_not_found_exits_1(void **state)
{
	run_result r;

	(void) state;
	r = tpctl("dtp", "get", "987654321", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_string_equal(
	    r.err, "tpctl: NOT_FOUND: task 987654321 not found\n");
	run_free(&r);

	r = tpctl("--json", "pilot", "execution", "987654321", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_memory_equal(r.err, "tpctl: NOT_FOUND: ", 18);
	assert_non_null(strstr(r.err, "987654321"));
	run_free(&r);
}

static void
test_tpctl_usage_exits_2(void **state)
{
	static const char *const bad[][4] = {
		{ "dtp", "get", "abc", NULL },
		{ "dtp", "get", NULL },
		{ "pilot", "frob", "1", NULL },
		{ "nosuch", "get", "1", NULL },
		{ "dtp", "list", "--limit=0", NULL },
		{ "pilot", "create", "demo", NULL },
		{ "dtp", "create", "demo", "--max-attempts" },
	};
	run_result r;

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = tpctl(bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
		if (r.status != 2) {
			fail_msg("case %zu: exit %d, stderr: %s", i, r.status,
			    r.err);
		}
		assert_string_equal(r.out, "");
		assert_memory_equal(r.err, "tpctl: ", 7);
		run_free(&r);
	}
	r = tpctl("--help", NULL);
	assert_int_equal(r.status, 0);
	assert_memory_equal(r.out, "usage: tpctl ", 13);
	assert_non_null(strstr(r.out, "pilot execution ID"));
	assert_non_null(strstr(r.out, "pilot watch ID"));
	assert_non_null(strstr(r.out, "dtp metrics"));
	assert_non_null(strstr(r.out, "pilot metrics"));
	assert_non_null(strstr(r.out, "TPCTL_DTP_URL"));
	/* A flag without an environment name: its default on a clean line. */
	assert_non_null(
	    strstr(r.out, "\n                               default false\n"));
	assert_null(strstr(r.out, " ; default"));
	assert_null(strstr(r.out, "\n ; "));
	run_free(&r);
}

/* Polling a DTP task until it is CANCELLED. */
static bool
cancelled_cb(void *arg)
{
	run_result r = tpctl("--json", "dtp", "get", (const char *) arg, NULL);
	json_t    *t = parse_json(&r);
	bool       done = strcmp(json_str(t, "status"), "CANCELLED") == 0;

	json_decref(t);
	run_free(&r);
	return done;
}

static void
test_tpctl_dtp_create_replay_cancel_list(void **state)
{
	run_result r;
	json_t    *t, *again, *list, *tasks;
	char       id[32], key[64];
	long long  task_id;
	bool       listed = false;

	(void) state;
	snprintf(key, sizeof(key), "tpctl-test-%d", (int) getpid());
	r = tpctl("--json", "dtp", "create", "sleep", "{\"ms\":60000}", "--key",
	    key, "--max-attempts", "2", "--timeout-ms", "90000", NULL);
	t = parse_json(&r);
	run_free(&r);
	task_id = json_id(t, "id");
	assert_int_equal(json_id(t, "maxAttempts"), 2);
	assert_int_equal(json_id(t, "timeoutMs"), 90000);
	assert_string_equal(json_str(t, "idempotencyKey"), key);
	snprintf(id, sizeof(id), "%lld", task_id);

	/* The same key, type and payload: the same task. */
	r = tpctl("--json", "dtp", "create", "sleep", "{\"ms\":60000}", "--key",
	    key, "--max-attempts", "2", "--timeout-ms", "90000", NULL);
	again = parse_json(&r);
	run_free(&r);
	assert_int_equal(json_id(again, "id"), task_id);
	json_decref(again);
	json_decref(t);

	/* The same key with another payload is refused. */
	r = tpctl("dtp", "create", "sleep", "{\"ms\":1}", "--key", key, NULL);
	assert_int_equal(r.status, 1);
	assert_memory_equal(r.err, "tpctl: ALREADY_EXISTS: ", 23);
	run_free(&r);

	r = tpctl("dtp", "cancel", id, NULL);
	assert_int_equal(r.status, 0);
	assert_memory_equal(r.out, "task ", 5);
	run_free(&r);
	assert_true(th_poll_until(cancelled_cb, id, 30000));

	/* Cancelling a final task is refused. */
	r = tpctl("dtp", "cancel", id, NULL);
	assert_int_equal(r.status, 1);
	assert_memory_equal(r.err, "tpctl: FAILED_PRECONDITION: ", 28);
	run_free(&r);

	r    = tpctl("--json", "dtp", "list", "--status", "cancelled", "--type",
	       "sleep", "--desc", "--limit", "10", NULL);
	list = parse_json(&r);
	run_free(&r);
	tasks = json_object_get(list, "tasks");
	assert_true(json_is_array(tasks));
	for (size_t i = 0; i < json_array_size(tasks); i++) {
		json_t *e = json_array_get(tasks, i);
		assert_string_equal(json_str(e, "status"), "CANCELLED");
		listed = listed || json_id(e, "id") == task_id;
	}
	assert_true(listed);
	json_decref(list);
}

static void
test_tpctl_health_and_unreachable(void **state)
{
	run_result r;
	char       url[96];

	(void) state;
	r = tpctl("dtp", "health", NULL);
	assert_int_equal(r.status, 0);
	assert_memory_equal(r.out, "dtp ok ", 7);
	run_free(&r);

	r = tpctl("--json", "pilot", "health", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "\"service\":\"taskpilot\""));
	run_free(&r);

	/* Nobody listens there: the call fails within its deadline. */
	snprintf(url, sizeof(url), "--url=tcp://127.0.0.1:%d", th_free_port());
	r = tpctl(url, "--timeout", "500", "dtp", "get", "1", NULL);
	assert_int_equal(r.status, 1);
	assert_true(strstr(r.err, "tpctl: UNAVAILABLE") == r.err
	    || strstr(r.err, "tpctl: DEADLINE_EXCEEDED") == r.err);
	run_free(&r);
}

/* Waiting for a file to hold a string, or for a background tpctl to exit. */
typedef struct file_wait {
	const char *path;
	const char *needle;
	bg_run     *b; /* may be NULL */
} file_wait;

/* file_has: whether path holds needle now (not when the file is not yet). */
static bool
file_has(const char *path, const char *needle)
{
	char *text;
	bool  has;

	if (access(path, F_OK) != 0) {
		return false;
	}
	text = slurp(path);
	has  = strstr(text, needle) != NULL;
	free(text);
	return has;
}

static bool
file_has_cb(void *arg)
{
	file_wait *w = arg;

	return file_has(w->path, w->needle)
	    || (w->b != NULL && tpctl_done(w->b));
}

/*
 * wait_output waits until the file holds needle (true), or the background
 * tpctl b exits first (false).
 */
static bool
wait_output(bg_run *b, const char *path, const char *needle)
{
	file_wait w = { path, needle, b };

	if (!th_poll_until(file_has_cb, &w, 30000)) {
		fail_msg(
		    "\"%s\" did not appear in %s within 30 s", needle, path);
	}
	return file_has(path, needle);
}

/* Polling a DTP task until it has a given status. */
typedef struct status_wait {
	const char *id;
	const char *status;
} status_wait;

static bool
status_cb(void *arg)
{
	status_wait *w    = arg;
	run_result   r    = tpctl("--json", "dtp", "get", w->id, NULL);
	json_t      *t    = parse_json(&r);
	bool         done = strcmp(json_str(t, "status"), w->status) == 0;

	json_decref(t);
	run_free(&r);
	return done;
}

static void
wait_status(const char *id, const char *status)
{
	status_wait w = { id, status };

	if (!th_poll_until(status_cb, &w, 30000)) {
		th_proc_dump_log(&dtp_proc);
		fail_msg("task %s was not %s within 30 s", id, status);
	}
}

/* create_web_task creates an unbound web task and writes its id. */
static void
create_web_task(char *id, size_t size, const char *type, const char *payload)
{
	run_result r = tpctl("--json", "pilot", "create", type, payload, NULL);
	json_t    *t = parse_json(&r);

	snprintf(id, size, "%lld", json_id(t, "id"));
	json_decref(t);
	run_free(&r);
}

/* bind_web_task binds a web task and writes the id of its DTP task. */
static void
bind_web_task(char *sched_id, size_t size, const char *id)
{
	run_result r = tpctl("--json", "pilot", "bind", id, NULL);
	json_t    *t = parse_json(&r);

	snprintf(sched_id, size, "%lld", json_id(t, "schedulerTaskId"));
	json_decref(t);
	run_free(&r);
}

/* A watch line starts with the time it was seen: 2026-11-26T14:25:57.526Z. */
static void
assert_timestamped(const char *text)
{
	for (const char *line = text; *line != '\0';) {
		const char *nl = strchr(line, '\n');
		if (line[0] != ' ') {
			if (strlen(line) < 25 || line[4] != '-'
			    || line[10] != 'T' || line[23] != 'Z'
			    || line[24] != ' ') {
				fail_msg("not a timestamped line: %s", line);
			}
		}
		if (nl == NULL) {
			break;
		}
		line = nl + 1;
	}
}

static void
test_tpctl_watch_demo_succeeds(void **state)
{
	const char *args[]
	    = { "--timeout", "20000", "pilot", "watch", NULL, NULL };
	char       id[32], id2[32], sched_id[32], want[256], line[160];
	run_result r;
	json_t    *t;
	bg_run     b;

	(void) state;
	/* Watched before it is bound: it waits, then follows it. */
	create_web_task(id, sizeof(id), "demo", "watch me");
	args[4] = id;
	tpctl_start(&b, args);
	snprintf(line, sizeof(line),
	    " web task %s is not bound yet: waiting up to 20000 ms\n", id);
	assert_true(wait_output(&b, b.out_path, line));
	bind_web_task(sched_id, sizeof(sched_id), id);
	r = tpctl_wait(&b);
	if (r.status != 0) {
		fail_msg("watch exited %d: %s%s", r.status, r.out, r.err);
	}
	assert_string_equal(r.err, "");
	assert_timestamped(r.out);
	assert_non_null(strstr(r.out, line));
	snprintf(line, sizeof(line), " web task %s is bound to task %s\n", id,
	    sched_id);
	assert_non_null(strstr(r.out, line));
	snprintf(
	    line, sizeof(line), " task %s SUCCEEDED attempts=1/", sched_id);
	assert_non_null(strstr(r.out, line));
	snprintf(want, sizeof(want),
	    "  result:           {\"webTaskId\":%s,\"type\":\"demo\","
	    "\"payload\":\"watch me\"}\n",
	    id);
	assert_non_null(strstr(r.out, want));
	run_free(&r);

	/* --json: the final task alone on stdout, the changes on stderr. */
	r = tpctl("--json", "pilot", "watch", id, NULL);
	t = parse_json(&r);
	assert_string_equal(json_str(t, "status"), "SUCCEEDED");
	assert_int_equal(json_id(t, "id"), atoll(sched_id));
	assert_timestamped(r.err);
	assert_non_null(strstr(r.err, " SUCCEEDED attempts=1/"));
	json_decref(t);
	run_free(&r);

	/*
	 * Unknown: NOT_FOUND. Never bound: it gives up after --timeout (long
	 * enough for a slow call to be answered on a loaded machine).
	 */
	r = tpctl("pilot", "watch", "987654321", NULL);
	assert_int_equal(r.status, 1);
	assert_memory_equal(r.err, "tpctl: NOT_FOUND: ", 18);
	run_free(&r);
	create_web_task(id2, sizeof(id2), "demo", "never bound");
	r = tpctl("--timeout", "1500", "pilot", "watch", id2, NULL);
	assert_int_equal(r.status, 1);
	snprintf(line, sizeof(line),
	    "tpctl: DEADLINE_EXCEEDED: web task %s was not bound within 1500 "
	    "ms\n",
	    id2);
	assert_string_equal(r.err, line);
	run_free(&r);
}

/* cancel_watched cancels a watched web task from another tpctl process. */
static void
cancel_watched(const char *id)
{
	run_result r = tpctl("pilot", "cancel", id, NULL);

	if (r.status != 0) {
		fail_msg("pilot cancel %s exited %d: %s", id, r.status, r.err);
	}
	run_free(&r);
}

static void
test_tpctl_watch_cancel_pending_exits_1(void **state)
{
	const char *args[]
	    = { "--json", "--timeout", "20000", "pilot", "watch", NULL, NULL };
	char       blockers[DTP_WORKERS][32], id[32], sched_id[32], line[96];
	run_result r;
	json_t    *t;
	bg_run     b;

	(void) state;
	/*
	 * Sleeps made on DTP directly hold every worker, so the web task's
	 * execution stays PENDING until it is cancelled.
	 */
	for (int i = 0; i < DTP_WORKERS; i++) {
		r = tpctl("--json", "dtp", "create", "sleep", "{\"ms\":60000}",
		    "--max-attempts", "1", NULL);
		t = parse_json(&r);
		snprintf(
		    blockers[i], sizeof(blockers[i]), "%lld", json_id(t, "id"));
		json_decref(t);
		run_free(&r);
	}
	for (int i = 0; i < DTP_WORKERS; i++) {
		wait_status(blockers[i], "RUNNING");
	}
	create_web_task(id, sizeof(id), "sleep", "{\"ms\":60000}");
	bind_web_task(sched_id, sizeof(sched_id), id);

	args[5] = id;
	tpctl_start(&b, args);
	snprintf(line, sizeof(line), " task %s PENDING attempts=0/", sched_id);
	assert_true(wait_output(&b, b.err_path, line));
	cancel_watched(id);
	r = tpctl_wait(&b);
	t = parse_json_status(&r, 1);
	assert_string_equal(json_str(t, "status"), "CANCELLED");
	assert_int_equal(json_id(t, "id"), atoll(sched_id));
	assert_int_equal(json_id(t, "attempts"), 0);
	snprintf(
	    line, sizeof(line), " task %s CANCELLED attempts=0/", sched_id);
	assert_non_null(strstr(r.err, line));
	json_decref(t);
	run_free(&r);

	for (int i = 0; i < DTP_WORKERS; i++) {
		r = tpctl("dtp", "cancel", blockers[i], NULL);
		assert_int_equal(r.status, 0);
		run_free(&r);
	}
	for (int i = 0; i < DTP_WORKERS; i++) {
		wait_status(blockers[i], "CANCELLED");
	}
}

static void
test_tpctl_watch_cancel_running_exits_1(void **state)
{
	const char *args[]
	    = { "--json", "--timeout", "20000", "pilot", "watch", NULL, NULL };
	char       id[32], sched_id[32], line[96];
	run_result r;
	json_t    *t;
	bg_run     b;

	(void) state;
	create_web_task(id, sizeof(id), "sleep", "{\"ms\":60000}");
	bind_web_task(sched_id, sizeof(sched_id), id);
	args[5] = id;
	tpctl_start(&b, args);
	snprintf(line, sizeof(line), " task %s RUNNING attempts=1/", sched_id);
	if (!wait_output(&b, b.err_path, line)) {
		/*
		 * The watch ended before the task ran: a DTP whose sleep
		 * handler reads {"ms"} from the payload itself, not from
		 * the payload of a task bound through TaskPilot, fails it
		 * at once. Then there is nothing running to cancel.
		 */
		r = tpctl_wait(&b);
		t = parse_json_status(&r, 1);
		assert_string_equal(json_str(t, "status"), "FAILED");
		if (strstr(json_str(t, "lastError"), "invalid payload")
		    == NULL) {
			fail_msg("the sleep failed: %s", r.out);
		}
		json_decref(t);
		run_free(&r);
		fail_msg("dtp did not run a sleep bound through taskpilot "
		         "(it must read the wrapped payload)");
	}
	cancel_watched(id);
	r = tpctl_wait(&b);
	t = parse_json_status(&r, 1);
	assert_string_equal(json_str(t, "status"), "CANCELLED");
	assert_int_equal(json_id(t, "id"), atoll(sched_id));
	assert_int_equal(json_id(t, "attempts"), 1);
	assert_non_null(strstr(r.err, line));
	snprintf(
	    line, sizeof(line), " task %s CANCELLED attempts=1/", sched_id);
	assert_non_null(strstr(r.err, line));
	json_decref(t);
	run_free(&r);
}

/*
 * check_metrics: the Metrics call reaches the service: Prometheus text, or
 * the service's own answer that it has none (which needs the call's tag to
 * have arrived).
 */
static void
check_metrics(const char *cmd, const char *service)
{
	run_result r = tpctl(cmd, "metrics", NULL);
	char       want[128];
	size_t     len = strlen(r.out);

	if (r.status == 0) {
		assert_non_null(strstr(r.out, "# TYPE "));
		assert_true(len > 0 && r.out[len - 1] == '\n');
		assert_string_equal(r.err, "");
	} else {
		assert_int_equal(r.status, 1);
		snprintf(want, sizeof(want),
		    "tpctl: UNIMPLEMENTED: Metrics is not implemented by %s\n",
		    service);
		assert_string_equal(r.err, want);
	}
	run_free(&r);
}

static void
test_tpctl_metrics_list_and_several_urls(void **state)
{
	run_result r;
	json_t    *v, *tasks;
	char       urls[160];

	(void) state;
	check_metrics("dtp", "dtp");
	check_metrics("pilot", "taskpilot");

	/* Several DTP URLs, nobody at the first: calls go to the live one. */
	snprintf(urls, sizeof(urls), "--url=tcp://127.0.0.1:%d,%s",
	    th_free_port(), dtp_url);
	r = tpctl(urls, "dtp", "health", NULL);
	assert_int_equal(r.status, 0);
	assert_memory_equal(r.out, "dtp ok ", 7);
	run_free(&r);
	r = tpctl(urls, "--json", "dtp", "create", "demo", "two urls", NULL);
	v = parse_json(&r);
	assert_string_equal(json_str(v, "payload"), "two urls");
	json_decref(v);
	run_free(&r);

	/* Web task lists: --bound has only bound tasks. */
	r = tpctl(
	    "--json", "pilot", "list", "--bound", "--limit", "1000", NULL);
	v     = parse_json(&r);
	tasks = json_object_get(v, "tasks");
	assert_true(json_is_array(tasks));
	assert_true(json_array_size(tasks) > 0);
	for (size_t i = 0; i < json_array_size(tasks); i++) {
		assert_true(json_is_integer(json_object_get(
		    json_array_get(tasks, i), "schedulerTaskId")));
	}
	json_decref(v);
	run_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tpctl_day4_flow),
		cmocka_unit_test(test_tpctl_not_found_exits_1),
		cmocka_unit_test(test_tpctl_usage_exits_2),
		cmocka_unit_test(test_tpctl_dtp_create_replay_cancel_list),
		cmocka_unit_test(test_tpctl_health_and_unreachable),
		cmocka_unit_test(test_tpctl_watch_demo_succeeds),
		cmocka_unit_test(test_tpctl_watch_cancel_pending_exits_1),
		cmocka_unit_test(test_tpctl_watch_cancel_running_exits_1),
		cmocka_unit_test(test_tpctl_metrics_list_and_several_urls),
	};

	return cmocka_run_group_tests_name("tpctl", tests, setup, teardown);
}
