/*
 * dtp_exec_test.c: exec task types end to end: the real dtp binary with
 * --exec mapping types to /bin/cat and to small scripts written here. The
 * result is the program's output; a failing status retries with the tail
 * of stderr as the error; output past the limit fails; the program gets
 * the task's parameters (unwrapped for TaskPilot) and a small environment,
 * never dtp's; cancel and timeout kill the whole process group, a program
 * deaf to SIGTERM included; a bad --exec list stops dtp at startup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <pb_decode.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtp_helpers.h"
#include "harness.h"

#define RUN_MS  15000
#define STOP_MS 15000
/* The limit of the node below: output past it fails the attempt. */
#define OUTPUT_LIMIT 65536

#define ST_RUNNING   dtp_v1_TaskStatus_TASK_STATUS_RUNNING
#define ST_SUCCEEDED dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED
#define ST_FAILED    dtp_v1_TaskStatus_TASK_STATUS_FAILED
#define ST_CANCELLED dtp_v1_TaskStatus_TASK_STATUS_CANCELLED

static const char *db_url;
static th_proc     node;
static char        url[64];
static rpc_client *client;
static char        dir[512];

/* write_script writes an executable /bin/sh script dir/name. */
static void
write_script(char *path, size_t size, const char *name, const char *body)
{
	FILE *f;

	snprintf(path, size, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

static int
group_setup(void **state)
{
	char        fail[600], tempfail[600], sleeper[600], deaf[600];
	char        env[600], big[600], noread[600], body[4096];
	char        list[8192];
	const char *args[16];
	int         n = 0;
	/* Must not reach the programs: they get a small environment. */
	static char *const extra_env[] = { "DTP_TEST_SECRET=leaked", NULL };

	(void) state;
	db_url = th_db_create("dtp_exec");
	snprintf(dir, sizeof(dir), "%s", th_tmpdir());
	write_script(fail, sizeof(fail), "fail.sh",
	    "echo 'first line' >&2\necho 'something broke' >&2\nexit 3\n");
	write_script(tempfail, sizeof(tempfail), "tempfail.sh",
	    "echo 'busy, later' >&2\nexit 75\n");
	/* A child and a grandchild; their pids land in pids.<task id>. */
	snprintf(body, sizeof(body),
	    "/bin/sleep 300 &\n"
	    "echo \"$$ $!\" > %s/pids.tmp.$DTP_TASK_ID\n"
	    "mv %s/pids.tmp.$DTP_TASK_ID %s/pids.$DTP_TASK_ID\n"
	    "wait\n",
	    dir, dir, dir);
	write_script(sleeper, sizeof(sleeper), "sleeper.sh", body);
	/* The same, deaf to SIGTERM (its child inherits that). */
	snprintf(body, sizeof(body),
	    "trap '' TERM\n"
	    "/bin/sleep 300 &\n"
	    "echo \"$$ $!\" > %s/pids.tmp.$DTP_TASK_ID\n"
	    "mv %s/pids.tmp.$DTP_TASK_ID %s/pids.$DTP_TASK_ID\n"
	    "while :; do wait; done\n",
	    dir, dir, dir);
	write_script(deaf, sizeof(deaf), "deaf.sh", body);
	write_script(env, sizeof(env), "env.sh",
	    "printf 'id=%s type=%s attempt=%s/%s timeout=%s web=%s "
	    "secret=%s path=%s in=' \"$DTP_TASK_ID\" \"$DTP_TASK_TYPE\" "
	    "\"$DTP_TASK_ATTEMPT\" \"$DTP_TASK_MAX_ATTEMPTS\" "
	    "\"$DTP_TASK_TIMEOUT_MS\" \"${DTP_WEB_TASK_ID:-none}\" "
	    "\"${DTP_TEST_SECRET:-none}\" \"$PATH\"\n"
	    "cat\n");
	write_script(big, sizeof(big), "big.sh",
	    "head -c 100000 /dev/zero | tr '\\000' x\n");
	write_script(noread, sizeof(noread), "noread.sh", "exit 0\n");
	snprintf(list, sizeof(list),
	    "exec.cat=/bin/cat, exec.fail=%s,exec.tempfail=%s,"
	    "exec.sleeper=%s,exec.deaf=%s,exec.env=%s,exec.big=%s,"
	    "exec.noread=%s",
	    fail, tempfail, sleeper, deaf, env, big, noread);

	args[n++] = "--workers";
	args[n++] = "4";
	args[n++] = "--backoff-base-ms";
	args[n++] = "10";
	args[n++] = "--backoff-max-ms";
	args[n++] = "40";
	args[n++] = "--exec-kill-grace-ms";
	args[n++] = "300";
	args[n++] = "--drain-ms";
	args[n++] = "200";
	args[n++] = "--max-payload-bytes";
	args[n++] = "65536";
	args[n++] = "--exec";
	args[n++] = list;
	args[n]   = NULL;
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", th_free_port());
	dtp_h_start(&node, "dtp-exec", url, db_url, args, extra_env);
	client = dtp_h_client(url);
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	rpc_client_free(client);
	if (th_proc_alive(&node) && th_proc_stop(&node, STOP_MS) != 0) {
		th_proc_dump_log(&node);
		fail_msg("dtp did not exit 0 on SIGTERM");
	}
	th_db_drop();
	return 0;
}

static void
wait_status(int64_t id, dtp_v1_TaskStatus want, int min_attempts,
    int timeout_ms, dtp_v1_Task *out)
{
	th_proc *procs[1] = { &node };

	dtp_h_wait_status(
	    client, id, want, min_attempts, timeout_ms, out, procs, 1);
}

/* Reading the pids a script wrote, and telling whether they are gone. */

typedef struct pids {
	char  path[600];
	pid_t leader;
	pid_t child;
} pids;

static bool
pids_written_pred(void *arg)
{
	pids *p = arg;
	FILE *f = fopen(p->path, "r");
	int   a = 0, b = 0;
	bool  ok;

	if (f == NULL) {
		return false;
	}
	ok = fscanf(f, "%d %d", &a, &b) == 2 && a > 0 && b > 0;
	fclose(f);
	p->leader = a;
	p->child  = b;
	return ok;
}

static void
wait_pids(pids *p, int64_t id)
{
	snprintf(p->path, sizeof(p->path), "%s/pids.%" PRId64, dir, id);
	if (!th_poll_until(pids_written_pred, p, RUN_MS)) {
		th_proc_dump_log(&node);
		fail_msg("the script of task %" PRId64 " wrote no pids", id);
	}
}

/*
 * gone: no such process, or a zombie (an orphaned grandchild waits for a
 * reaper that is not ours), or the pid reused by another program.
 */
static bool
gone(pid_t pid, const char *comm)
{
	char  path[64];
	char  line[512];
	FILE *f;
	char *open_paren;
	char *close_paren;
	bool  dead;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	f = fopen(path, "r");
	if (f == NULL) {
		return true;
	}
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return true;
	}
	fclose(f);
	open_paren  = strchr(line, '(');
	close_paren = strrchr(line, ')');
	if (open_paren == NULL || close_paren == NULL || close_paren[1] == '\0'
	    || close_paren[2] == '\0') {
		return true;
	}
	dead         = close_paren[2] == 'Z' || close_paren[2] == 'X';
	*close_paren = '\0';
	return dead || strcmp(open_paren + 1, comm) != 0;
}

typedef struct both_gone {
	pid_t leader;
	pid_t child;
} both_gone;

static bool
both_gone_pred(void *arg)
{
	both_gone *b = arg;

	return gone(b->leader, "sleeper.sh") && gone(b->leader, "deaf.sh")
	    && gone(b->leader, "sh") && gone(b->child, "sleep");
}

static void
assert_pids_gone(const pids *p, int timeout_ms)
{
	both_gone b = { p->leader, p->child };

	if (!th_poll_until(both_gone_pred, &b, timeout_ms)) {
		th_proc_dump_log(&node);
		fail_msg("the script (pid %d) or its child (pid %d) still runs",
		    (int) p->leader, (int) p->child);
	}
}

/* The tests. */

static void
test_dtp_exec_cat_result_is_the_payload(void **state)
{
	const char *payload = "{\"hello\":\"exec\",\"list\":[1,2,3]}\n";
	dtp_v1_Task t;
	int64_t     id;

	(void) state;
	id = dtp_h_must_create(client, "exec.cat", payload, NULL);
	wait_status(id, ST_SUCCEEDED, 1, RUN_MS, &t);
	assert_non_null(t.result);
	assert_string_equal(t.result, payload);
	assert_int_equal(t.attempts, 1);
	pb_release(dtp_v1_Task_fields, &t);
}

static void
test_dtp_exec_large_payload_streams_both_ways(void **state)
{
	/* Past a pipe's buffer both ways: writes and reads interleave. */
	size_t      size    = 60000;
	char       *payload = malloc(size + 1);
	dtp_v1_Task t;
	int64_t     id;

	(void) state;
	for (size_t i = 0; i < size; i++) {
		payload[i] = (char) ('a' + i % 26);
	}
	payload[size] = '\0';
	id            = dtp_h_must_create(client, "exec.cat", payload, NULL);
	wait_status(id, ST_SUCCEEDED, 1, RUN_MS, &t);
	assert_non_null(t.result);
	assert_int_equal(strlen(t.result), size);
	assert_string_equal(t.result, payload);
	pb_release(dtp_v1_Task_fields, &t);

	/* A program that never reads its input still succeeds. */
	id = dtp_h_must_create(client, "exec.noread", payload, NULL);
	wait_status(id, ST_SUCCEEDED, 1, RUN_MS, &t);
	assert_string_equal(t.result, "");
	pb_release(dtp_v1_Task_fields, &t);
	free(payload);
}

static void
test_dtp_exec_failure_retries_with_stderr_tail(void **state)
{
	dtp_h_opts  o = { .max_attempts = 2 };
	dtp_v1_Task t;
	int64_t     id;

	(void) state;
	id = dtp_h_must_create(client, "exec.fail", "{}", &o);
	wait_status(id, ST_FAILED, 2, RUN_MS, &t);
	assert_int_equal(t.attempts, 2);
	assert_string_equal(t.last_error,
	    "command exited with status 3: first line something broke");
	assert_null(t.result);
	pb_release(dtp_v1_Task_fields, &t);

	id = dtp_h_must_create(client, "exec.tempfail", "{}", &o);
	wait_status(id, ST_FAILED, 2, RUN_MS, &t);
	assert_int_equal(t.attempts, 2);
	assert_string_equal(t.last_error,
	    "command exited with status 75 (EX_TEMPFAIL): busy, later");
	pb_release(dtp_v1_Task_fields, &t);
}

static void
test_dtp_exec_output_over_the_limit_fails(void **state)
{
	dtp_h_opts  o = { .max_attempts = 3 };
	dtp_v1_Task t;
	int64_t     id;
	char        want[64];

	(void) state;
	id = dtp_h_must_create(client, "exec.big", "", &o);
	wait_status(id, ST_FAILED, 1, RUN_MS, &t);
	/* Permanent, as for any result over the limit. */
	assert_int_equal(t.attempts, 1);
	snprintf(want, sizeof(want), "output exceeds %d bytes", OUTPUT_LIMIT);
	assert_string_equal(t.last_error, want);
	pb_release(dtp_v1_Task_fields, &t);
}

static void
test_dtp_exec_environment_and_taskpilot_payload(void **state)
{
	const char *wrapped = "{\"webTaskId\":41,\"type\":\"exec.env\","
	                      "\"payload\":\"{\\\"n\\\":1}\"}";
	dtp_h_opts  o       = { .max_attempts = 2, .timeout_ms = 9000 };
	dtp_v1_Task t;
	int64_t     id;
	char        want[512];

	(void) state;
	id = dtp_h_must_create(client, "exec.env", "plain input", &o);
	wait_status(id, ST_SUCCEEDED, 1, RUN_MS, &t);
	snprintf(want, sizeof(want),
	    "id=%" PRId64 " type=exec.env attempt=1/2 timeout=9000 web=none "
	    "secret=none path=/usr/local/bin:/usr/bin:/bin in=plain input",
	    id);
	assert_string_equal(t.result, want);
	pb_release(dtp_v1_Task_fields, &t);

	/* Through TaskPilot: the inner payload on stdin, the web task id in
	 * the environment. */
	id = dtp_h_must_create(client, "exec.env", wrapped, NULL);
	wait_status(id, ST_SUCCEEDED, 1, RUN_MS, &t);
	snprintf(want, sizeof(want), "web=41 ");
	assert_non_null(strstr(t.result, want));
	assert_non_null(strstr(t.result, "in={\"n\":1}"));
	pb_release(dtp_v1_Task_fields, &t);
}

static bool
sleep_runs_pred(void *arg)
{
	return !gone(*(pid_t *) arg, "sleep");
}

static void
cancel_kills_group(const char *type)
{
	dtp_v1_Task t;
	tp_err      err;
	int64_t     id;
	long long   t0;
	pids        p;

	id = dtp_h_must_create(client, type, "", NULL);
	wait_status(id, ST_RUNNING, 1, RUN_MS, NULL);
	wait_pids(&p, id);
	/* The grandchild runs sleep (it may still be a forked shell). */
	if (!th_poll_until(sleep_runs_pred, &p.child, RUN_MS)) {
		fail_msg("pid %d never ran sleep", (int) p.child);
	}

	t0 = th_now_ms();
	assert_int_equal(dtp_h_cancel(client, id, &t, &err), TP_OK);
	assert_true(t.cancel_requested);
	pb_release(dtp_v1_Task_fields, &t);
	wait_status(id, ST_CANCELLED, 1, RUN_MS, &t);
	/* SIGTERM at once; the deaf one gets SIGKILL 300 ms later. */
	assert_true(th_now_ms() - t0 < 3000);
	assert_true(t.cancel_requested);
	pb_release(dtp_v1_Task_fields, &t);
	assert_pids_gone(&p, 5000);
}

static void
test_dtp_exec_cancel_kills_child_and_grandchild(void **state)
{
	(void) state;
	cancel_kills_group("exec.sleeper");
}

static void
test_dtp_exec_cancel_kills_a_program_deaf_to_sigterm(void **state)
{
	(void) state;
	cancel_kills_group("exec.deaf");
}

static void
test_dtp_exec_timeout_kills_and_retries(void **state)
{
	dtp_h_opts  o = { .max_attempts = 2, .timeout_ms = 400 };
	dtp_v1_Task t;
	int64_t     id;
	pids        first;
	pids        p;

	(void) state;
	id = dtp_h_must_create(client, "exec.sleeper", "", &o);
	wait_pids(&first, id);
	wait_status(id, ST_FAILED, 2, RUN_MS, &t);
	assert_int_equal(t.attempts, 2);
	assert_string_equal(t.last_error, "timed out after 400 ms");
	pb_release(dtp_v1_Task_fields, &t);
	assert_pids_gone(&first, 5000);
	/* The pids of the second attempt (it rewrote the file). */
	wait_pids(&p, id);
	assert_pids_gone(&p, 5000);
}

static bool
exited_pred(void *arg)
{
	return !th_proc_alive(arg);
}

static void
test_dtp_exec_bad_list_stops_startup(void **state)
{
	static const struct {
		const char *list;
		const char *msg;
	} cases[] = {
		{ "x=relative/path", "expected an absolute path" },
		{ "x=/no/such/program", "is not an executable file" },
		{ NULL, "is not an executable file" }, /* a file, mode 644 */
		{ "X=/bin/cat", "invalid type" },
		{ "x=/bin/cat,x=/bin/cat", "given twice" },
	};

	char  plain[600];
	char  plain_list[700];
	char  listen[64];
	FILE *f;

	(void) state;
	snprintf(plain, sizeof(plain), "%s/plain.txt", dir);
	f = fopen(plain, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(plain, 0644), 0);
	snprintf(plain_list, sizeof(plain_list), "x=%s", plain);
	/* Should one start after all, it must not take another's port. */
	snprintf(listen, sizeof(listen), "tcp://127.0.0.1:%d", th_free_port());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		th_proc     p;
		char        name[32];
		const char *list
		    = cases[i].list != NULL ? cases[i].list : plain_list;
		char *const argv[] = { (char *) th_bin("dtp"), "--database-url",
			(char *) db_url, "--listen", listen, "--exec",
			(char *) list, NULL };
		snprintf(name, sizeof(name), "dtp-bad-exec-%zu", i);
		th_proc_start(&p, name, argv, NULL);
		if (!th_poll_until(exited_pred, &p, STOP_MS)) {
			th_proc_kill(&p);
			fail_msg("dtp --exec %s did not exit", list);
		}
		assert_int_equal(th_proc_exit_code(&p), 2);
		if (!dtp_h_log_has(&p, cases[i].msg)
		    || !dtp_h_log_has(&p, "--exec (DTP_EXEC)")) {
			th_proc_dump_log(&p);
			fail_msg("case %zu: no \"%s\"", i, cases[i].msg);
		}
	}
}

/* Last: it stops the node. */
static void
test_dtp_exec_shutdown_kills_and_hands_back(void **state)
{
	dtp_v1_Task t;
	tp_err      err;
	int64_t     id;
	pids        p;

	(void) state;
	id = dtp_h_must_create(client, "exec.sleeper", "", NULL);
	wait_status(id, ST_RUNNING, 1, RUN_MS, NULL);
	wait_pids(&p, id);
	if (!th_poll_until(sleep_runs_pred, &p.child, RUN_MS)) {
		fail_msg("pid %d never ran sleep", (int) p.child);
	}
	/* The drain (200 ms) passes, the command is killed, the task goes
	 * back to PENDING for another node. */
	if (th_proc_stop(&node, STOP_MS) != 0) {
		th_proc_dump_log(&node);
		fail_msg("dtp did not exit 0 on SIGTERM");
	}
	assert_pids_gone(&p, 5000);
	{
		/* The node is gone: read the row through a fresh node. */
		th_proc     reader;
		char        rurl[64];
		rpc_client *rc;
		snprintf(
		    rurl, sizeof(rurl), "tcp://127.0.0.1:%d", th_free_port());
		dtp_h_start(&reader, "dtp-exec-reader", rurl, db_url,
		    (const char *const[]) {
		        "--workers", "1", "--poll-ms", "60000", NULL },
		    NULL);
		rc = dtp_h_client(rurl);
		assert_int_equal(dtp_h_get(rc, id, &t, &err), TP_OK);
		/* The reader has no exec types: it never claims the task. */
		assert_int_equal(
		    t.status, dtp_v1_TaskStatus_TASK_STATUS_PENDING);
		assert_int_equal(t.attempts, 1);
		assert_string_equal(t.locked_by, "");
		pb_release(dtp_v1_Task_fields, &t);
		rpc_client_free(rc);
		assert_int_equal(th_proc_stop(&reader, STOP_MS), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dtp_exec_cat_result_is_the_payload),
		cmocka_unit_test(test_dtp_exec_large_payload_streams_both_ways),
		cmocka_unit_test(
		    test_dtp_exec_failure_retries_with_stderr_tail),
		cmocka_unit_test(test_dtp_exec_output_over_the_limit_fails),
		cmocka_unit_test(
		    test_dtp_exec_environment_and_taskpilot_payload),
		cmocka_unit_test(
		    test_dtp_exec_cancel_kills_child_and_grandchild),
		cmocka_unit_test(
		    test_dtp_exec_cancel_kills_a_program_deaf_to_sigterm),
		cmocka_unit_test(test_dtp_exec_timeout_kills_and_retries),
		cmocka_unit_test(test_dtp_exec_bad_list_stops_startup),
		cmocka_unit_test(test_dtp_exec_shutdown_kills_and_hands_back),
	};

	return cmocka_run_group_tests_name(
	    "dtp_exec", tests, group_setup, group_teardown);
}
