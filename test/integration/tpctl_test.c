/*
 * tpctl_test: the real tpctl binary against real dtp and taskpilot processes
 * on a private database: the Day-4 flow (create, bind, execution until
 * SUCCEEDED) through --json, the human form, error and usage exit codes.
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

/*
 * tpctl runs the tpctl binary with the service URLs and the given arguments
 * (NULL-terminated), waits for it (killing it past RUN_TIMEOUT_MS) and
 * returns what it printed.
 */
static run_result
tpctl(const char *arg, ...)
{
	char        url_flag[96], pilot_flag[96], out_path[512], err_path[512];
	char       *argv[MAX_ARGS];
	int         argc = 0, wstatus = 0;
	run_result  r = { .status = -1 };
	va_list     ap;
	const char *a;
	pid_t       pid;
	long long   deadline;

	snprintf(url_flag, sizeof(url_flag), "--url=%s", dtp_url);
	snprintf(pilot_flag, sizeof(pilot_flag), "--pilot-url=%s", pilot_url);
	snprintf(out_path, sizeof(out_path), "%s/tpctl.out", th_tmpdir());
	snprintf(err_path, sizeof(err_path), "%s/tpctl.err", th_tmpdir());
	argv[argc++] = (char *) th_bin("tpctl");
	argv[argc++] = url_flag;
	argv[argc++] = pilot_flag;
	va_start(ap, arg);
	for (a = arg; a != NULL && argc < MAX_ARGS - 1;
	     a = va_arg(ap, const char *)) {
		argv[argc++] = (char *) a;
	}
	va_end(ap);
	argv[argc] = NULL;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
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
	deadline = th_now_ms() + RUN_TIMEOUT_MS;
	for (;;) {
		pid_t got = waitpid(pid, &wstatus, WNOHANG);
		if (got == pid) {
			break;
		}
		assert_true(got == 0 || errno == EINTR);
		if (th_now_ms() > deadline) {
			kill(pid, SIGKILL);
			(void) waitpid(pid, &wstatus, 0);
			fail_msg("tpctl did not finish within %d ms",
			    RUN_TIMEOUT_MS);
		}
		usleep(2000);
	}
	r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
	r.out    = slurp(out_path);
	r.err    = slurp(err_path);
	return r;
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
	char        env_dtp[3][600], env_pilot[4][600];
	char       *dtp_env[4], *pilot_env[5];
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
	for (int i = 0; i < 3; i++) {
		dtp_env[i] = env_dtp[i];
	}
	dtp_env[3] = NULL;
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
	assert_non_null(strstr(r.out, "TPCTL_DTP_URL"));
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tpctl_day4_flow),
		cmocka_unit_test(test_tpctl_not_found_exits_1),
		cmocka_unit_test(test_tpctl_usage_exits_2),
		cmocka_unit_test(test_tpctl_dtp_create_replay_cancel_list),
		cmocka_unit_test(test_tpctl_health_and_unreachable),
	};

	return cmocka_run_group_tests_name("tpctl", tests, setup, teardown);
}
