/*
 * exec.c: the exec task types (handler.h, dtp_registry_add_exec): run a
 * configured program in its own process group, feed it the task's
 * parameters, capture its output, and kill the whole group when the attempt
 * must stop; and the parser of the --exec list (exec.h).
 *
 * The program is started with posix_spawn (glibc's is a vfork-style clone
 * that runs only async-signal-safe steps before execve, which is what a
 * threaded program needs): its own process group, an empty signal mask and
 * default dispositions (dtp blocks SIGTERM and ignores SIGPIPE, and both
 * would be inherited), stdin/stdout/stderr on pipes, every other
 * descriptor closed, and a small environment (never dtp's, which holds the
 * database URL). argv is the configured path alone: no shell, nothing from
 * the payload.
 *
 * One loop in poll() moves the bytes (stdin is written non-blocking, so a
 * program that does not read it cannot wedge the worker) and wakes for the
 * stop fd, the child's pidfd and the timeout. A stop (cancel, timeout, lost
 * lease, shutdown) or output past the limit sends SIGTERM to the group and,
 * kill_grace_ms later, SIGKILL. Once the leader has exited it is not reaped
 * at once (waitid WNOWAIT): while it is a zombie its pid, which is the
 * group's id, cannot be reused, so the SIGKILL that ends whatever it left
 * behind in its group can never reach another process.
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "scheduler/handler.h"

#define COMPONENT "dtp.exec"
/* The tail of standard error kept for last_error. */
#define ERR_TAIL_BYTES 600
/* Poll step when there is no stop fd or pidfd to wake us. */
#define POLL_STEP_MS 20
/* After the leader exited: how long its pipes may stay open (a background
 * grandchild holding them) before the group is killed. */
#define LINGER_MS 200
/* After SIGKILL: how long to wait for the pipes before giving up on them. */
#define KILL_WAIT_MS 2000
/* EX_TEMPFAIL of sysexits.h: "try again later". */
#define EXIT_TEMPFAIL 75

typedef struct exec_cmd {
	char         *path;
	dtp_exec_opts opts;
} exec_cmd;

/* One run of the program. */
typedef struct run {
	pid_t pid;
	int   pidfd; /* -1: none (old kernel) */
	int   in_fd; /* our ends, -1 once closed */
	int   out_fd;
	int   err_fd;

	const char *input;
	size_t      input_len;
	size_t      written;

	char  *out;
	size_t out_len;
	size_t out_cap;
	size_t max_out;
	bool   over_limit;

	char   tail[ERR_TAIL_BYTES];
	size_t tail_len; /* bytes in tail, the newest last */

	bool    exited; /* the leader exited (not reaped yet) */
	int64_t exited_ms;
	bool    term_sent;
	int64_t term_ms;
	bool    kill_sent;
	int64_t kill_ms;
} run;

/* Parsing the list. */

static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t') {
		s++;
	}
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t')) {
		*--end = '\0';
	}
	return s;
}

static bool
has_control(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char) *s < 0x20 || *s == 0x7f) {
			return true;
		}
	}
	return false;
}

tp_status
dtp_exec_parse_list(
    dtp_exec_spec **out, size_t *n, const char *list, tp_err *err)
{
	tp_status      rc    = TP_OK;
	char          *copy  = tp_xstrdup(list != NULL ? list : "");
	char          *save  = NULL;
	dtp_exec_spec *specs = NULL;
	size_t         count = 0;

	for (char *item = strtok_r(copy, ",", &save); item != NULL;
	     item       = strtok_r(NULL, ",", &save)) {
		char *eq;
		char *type;
		char *path;

		item = trim(item);
		if (*item == '\0') {
			continue;
		}
		eq = strchr(item, '=');
		if (eq == NULL) {
			rc = tp_err_set(err, TP_INVALID_ARGUMENT,
			    "\"%.80s\" is not TYPE=/absolute/path", item);
			goto out;
		}
		*eq  = '\0';
		type = trim(item);
		path = trim(eq + 1);
		if (!dtp_type_is_valid(type)) {
			rc = tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid type \"%.80s\": expected 1 to 64 "
			    "characters of [a-z0-9_.-]",
			    type);
			goto out;
		}
		if (path[0] != '/' || has_control(path)
		    || strlen(path) >= DTP_EXEC_PATH_MAX) {
			rc = tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid path for type \"%s\": expected an "
			    "absolute path",
			    type);
			goto out;
		}
		for (size_t i = 0; i < count; i++) {
			if (strcmp(specs[i].type, type) == 0) {
				rc = tp_err_set(err, TP_INVALID_ARGUMENT,
				    "type \"%s\" is given twice", type);
				goto out;
			}
		}
		specs = tp_xrealloc(specs, (count + 1) * sizeof(*specs));
		snprintf(
		    specs[count].type, sizeof(specs[count].type), "%s", type);
		snprintf(
		    specs[count].path, sizeof(specs[count].path), "%s", path);
		count++;
	}
out:
	free(copy);
	if (rc != TP_OK) {
		free(specs);
		return rc;
	}
	*out = specs;
	*n   = count;
	return TP_OK;
}

/* Running the program. */

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/*
 * high_fd moves fd above 2 (a pipe may get 0, 1 or 2 when dtp runs with
 * them closed, and dup2 onto itself would keep FD_CLOEXEC). Returns the
 * descriptor to use, or -1.
 */
static int
high_fd(int fd)
{
	int moved;

	if (fd > 2) {
		return fd;
	}
	moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return moved;
}

static bool
make_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) != 0) {
		return false;
	}
	fds[0] = high_fd(fds[0]);
	fds[1] = high_fd(fds[1]);
	if (fds[0] < 0 || fds[1] < 0) {
		close_fd(&fds[0]);
		close_fd(&fds[1]);
		return false;
	}
	return true;
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0) {
		(void) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	}
}

/* The environment of the program: small, and never dtp's own. */
typedef struct child_env {
	char  vars[7][96];
	char *envp[8];
} child_env;

static void
build_env(child_env *e, dtp_job *job)
{
	int     n   = 0;
	int64_t web = dtp_job_web_task_id(job);

	snprintf(e->vars[n++], sizeof(e->vars[0]),
	    "PATH=/usr/local/bin:/usr/bin:/bin");
	snprintf(e->vars[n++], sizeof(e->vars[0]), "DTP_TASK_ID=%" PRId64,
	    dtp_job_id(job));
	snprintf(e->vars[n++], sizeof(e->vars[0]), "DTP_TASK_TYPE=%s",
	    dtp_job_type(job));
	snprintf(e->vars[n++], sizeof(e->vars[0]), "DTP_TASK_ATTEMPT=%d",
	    dtp_job_attempt(job));
	snprintf(e->vars[n++], sizeof(e->vars[0]), "DTP_TASK_MAX_ATTEMPTS=%d",
	    dtp_job_max_attempts(job));
	snprintf(e->vars[n++], sizeof(e->vars[0]),
	    "DTP_TASK_TIMEOUT_MS=%" PRId64, dtp_job_timeout_ms(job));
	if (web != 0) {
		snprintf(e->vars[n++], sizeof(e->vars[0]),
		    "DTP_WEB_TASK_ID=%" PRId64, web);
	}
	for (int i = 0; i < n; i++) {
		e->envp[i] = e->vars[i];
	}
	e->envp[n] = NULL;
}

/* spawn starts the program; errno-style code, 0 on success. */
static int
spawn(run *r, const exec_cmd *cmd, dtp_job *job)
{
	int                        in[2]  = { -1, -1 };
	int                        out[2] = { -1, -1 };
	int                        err[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t          at;
	sigset_t                   none;
	sigset_t                   all;
	child_env                  env;
	char                      *argv[2];
	int                        rc;

	if (!make_pipe(in) || !make_pipe(out) || !make_pipe(err)) {
		rc = errno != 0 ? errno : EMFILE;
		close_fd(&in[0]);
		close_fd(&in[1]);
		close_fd(&out[0]);
		close_fd(&out[1]);
		close_fd(&err[0]);
		close_fd(&err[1]);
		return rc;
	}
	build_env(&env, job);
	argv[0] = cmd->path;
	argv[1] = NULL;
	sigemptyset(&none);
	sigfillset(&all);

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at,
	    POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
	        | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	rc = posix_spawn(&r->pid, cmd->path, &fa, &at, argv, env.envp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);

	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	if (rc != 0) {
		close_fd(&in[1]);
		close_fd(&out[0]);
		close_fd(&err[0]);
		return rc;
	}
	r->in_fd  = in[1];
	r->out_fd = out[0];
	r->err_fd = err[0];
	set_nonblock(r->in_fd);
	set_nonblock(r->out_fd);
	set_nonblock(r->err_fd);
	r->pidfd = (int) syscall(SYS_pidfd_open, r->pid, 0);
	if (r->input_len == 0) {
		close_fd(&r->in_fd);
	}
	return 0;
}

static void
write_input(run *r)
{
	while (r->in_fd >= 0 && r->written < r->input_len) {
		ssize_t w = write(
		    r->in_fd, r->input + r->written, r->input_len - r->written);
		if (w > 0) {
			r->written += (size_t) w;
			continue;
		}
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w < 0 && errno == EAGAIN) {
			return;
		}
		/* EPIPE: the program does not read its input. */
		close_fd(&r->in_fd);
		return;
	}
	if (r->written >= r->input_len) {
		close_fd(&r->in_fd);
	}
}

static void
read_output(run *r)
{
	for (;;) {
		ssize_t got;
		if (r->out_len == r->out_cap) {
			if (r->out_len > r->max_out) {
				/* Past the limit: stop listening. */
				r->over_limit = true;
				close_fd(&r->out_fd);
				return;
			}
			r->out_cap = r->out_cap == 0 ? 4096 : r->out_cap * 2;
			if (r->out_cap > r->max_out + 1) {
				r->out_cap = r->max_out + 1;
			}
			r->out = tp_xrealloc(r->out, r->out_cap + 1);
		}
		got = read(
		    r->out_fd, r->out + r->out_len, r->out_cap - r->out_len);
		if (got > 0) {
			r->out_len += (size_t) got;
			if (r->out_len > r->max_out) {
				r->over_limit = true;
				close_fd(&r->out_fd);
				return;
			}
			continue;
		}
		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got < 0 && errno == EAGAIN) {
			return;
		}
		close_fd(&r->out_fd);
		return;
	}
}

static void
read_errors(run *r)
{
	char buf[4096];

	for (;;) {
		ssize_t got = read(r->err_fd, buf, sizeof(buf));
		size_t  n;
		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got < 0 && errno == EAGAIN) {
			return;
		}
		if (got <= 0) {
			close_fd(&r->err_fd);
			return;
		}
		/* Keep the newest ERR_TAIL_BYTES. */
		n = (size_t) got;
		if (n >= ERR_TAIL_BYTES) {
			memcpy(
			    r->tail, buf + n - ERR_TAIL_BYTES, ERR_TAIL_BYTES);
			r->tail_len = ERR_TAIL_BYTES;
		} else {
			size_t keep = r->tail_len + n > ERR_TAIL_BYTES
			    ? ERR_TAIL_BYTES - n
			    : r->tail_len;
			memmove(r->tail, r->tail + r->tail_len - keep, keep);
			memcpy(r->tail + keep, buf, n);
			r->tail_len = keep + n;
		}
	}
}

/* check_exit notes the leader's exit without reaping it. */
static void
check_exit(run *r)
{
	siginfo_t si;

	if (r->exited) {
		return;
	}
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t) r->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0
	    && si.si_pid == r->pid) {
		r->exited    = true;
		r->exited_ms = tp_clock_mono_ms();
		close_fd(&r->pidfd);
	}
}

static void
signal_group(run *r, int sig)
{
	/* The leader is not reaped before the last of these: see above. */
	if (kill(-r->pid, sig) != 0 && errno != ESRCH) {
		tp_log_warn(COMPONENT,
		    "could not signal process group pgid=%d: %s", (int) r->pid,
		    strerror(errno));
	}
}

/* The next time the loop must look at the clock, as a poll timeout. */
static int
poll_timeout(const run *r, dtp_job *job, const exec_cmd *cmd, bool has_stop_fd,
    int64_t now)
{
	/* Before the stop: the timeout; after it, the kill schedule. */
	int64_t t = r->term_sent ? 1000 : dtp_job_remaining_ms(job);

	if ((r->pidfd < 0 && !r->exited) || (!has_stop_fd && !r->term_sent)
	    || r->kill_sent) {
		t = t < POLL_STEP_MS ? t : POLL_STEP_MS;
	}
	if (r->exited && !r->kill_sent) {
		int64_t left = r->exited_ms + LINGER_MS - now;
		t            = t < left ? t : left;
	}
	if (r->term_sent && !r->kill_sent) {
		int64_t left = r->term_ms + cmd->opts.kill_grace_ms - now;
		t            = t < left ? t : left;
	}
	if (t < 0) {
		t = 0;
	}
	return t > 1000 ? 1000 : (int) t;
}

/* pump runs the program to its end (or its kill) and reaps it. */
static int
pump(run *r, dtp_job *job, const exec_cmd *cmd)
{
	int stop_fd = dtp_job_stop_fd(job);
	int status  = 0;

	for (;;) {
		struct pollfd fds[5];
		nfds_t        n   = 0;
		int64_t       now = tp_clock_mono_ms();

		if (r->in_fd >= 0) {
			fds[n++] = (struct pollfd) { r->in_fd, POLLOUT, 0 };
		}
		if (r->out_fd >= 0) {
			fds[n++] = (struct pollfd) { r->out_fd, POLLIN, 0 };
		}
		if (r->err_fd >= 0) {
			fds[n++] = (struct pollfd) { r->err_fd, POLLIN, 0 };
		}
		if (r->pidfd >= 0) {
			fds[n++] = (struct pollfd) { r->pidfd, POLLIN, 0 };
		}
		if (stop_fd >= 0 && !r->term_sent) {
			fds[n++] = (struct pollfd) { stop_fd, POLLIN, 0 };
		}
		if (poll(fds, n, poll_timeout(r, job, cmd, stop_fd >= 0, now))
		        < 0
		    && errno != EINTR) {
			tp_log_warn(
			    COMPONENT, "poll failed: %s", strerror(errno));
		}
		if (r->in_fd >= 0) {
			write_input(r);
		}
		if (r->out_fd >= 0) {
			read_output(r);
		}
		if (r->err_fd >= 0) {
			read_errors(r);
		}
		check_exit(r);
		now = tp_clock_mono_ms();

		if (!r->term_sent
		    && (dtp_job_should_stop(job) || r->over_limit)) {
			signal_group(r, SIGTERM);
			r->term_sent = true;
			r->term_ms   = now;
		}
		if (r->term_sent && !r->kill_sent
		    && now >= r->term_ms + cmd->opts.kill_grace_ms) {
			signal_group(r, SIGKILL);
			r->kill_sent = true;
			r->kill_ms   = now;
		}
		if (r->exited && !r->kill_sent
		    && (now >= r->exited_ms + LINGER_MS
		        || (r->out_fd < 0 && r->err_fd < 0))) {
			/* Whatever the leader left in its group goes too. */
			signal_group(r, SIGKILL);
			r->kill_sent = true;
			r->kill_ms   = now;
		}
		if (r->exited && r->kill_sent
		    && ((r->out_fd < 0 && r->err_fd < 0)
		        || now >= r->kill_ms + KILL_WAIT_MS)) {
			/* A process outside the group may hold the pipes:
			 * we do not wait for it. */
			break;
		}
	}
	close_fd(&r->in_fd);
	close_fd(&r->out_fd);
	close_fd(&r->err_fd);
	while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR) { }
	return status;
}

/* tail_text copies the standard error tail as one printable line. */
static void
tail_text(char *dst, size_t size, const run *r)
{
	size_t n     = 0;
	size_t start = 0;

	/* Trailing newlines say nothing. */
	size_t len = r->tail_len;
	while (
	    len > 0 && (r->tail[len - 1] == '\n' || r->tail[len - 1] == '\r')) {
		len--;
	}
	if (len + 1 > size) {
		start = len + 1 - size;
	}
	for (size_t i = start; i < len && n + 1 < size; i++) {
		unsigned char c = (unsigned char) r->tail[i];
		dst[n++]        = c >= 0x20 && c < 0x7f ? (char) c
		                                        : (c == '\n' ? ' ' : '?');
	}
	dst[n] = '\0';
}

static dtp_outcome
exec_main(dtp_job *job, void *arg)
{
	const exec_cmd *cmd = arg;
	run             r;
	size_t          in_len = 0;
	char            tail[ERR_TAIL_BYTES + 1];
	char            sep[4] = "";
	int             status;
	int             rc;
	dtp_outcome     o;

	memset(&r, 0, sizeof(r));
	r.pid       = -1;
	r.pidfd     = -1;
	r.in_fd     = -1;
	r.out_fd    = -1;
	r.err_fd    = -1;
	r.input     = dtp_job_params(job, &in_len);
	r.input_len = in_len;
	r.max_out   = cmd->opts.max_output_bytes;

	if ((rc = spawn(&r, cmd, job)) != 0) {
		return dtp_job_fail(
		    job, "could not run %s: %s", cmd->path, strerror(rc));
	}
	tp_log_debug(COMPONENT,
	    "command started task_id=%" PRId64 " attempt=%d pid=%d path=%s",
	    dtp_job_id(job), dtp_job_attempt(job), (int) r.pid, cmd->path);
	status = pump(&r, job, cmd);
	tail_text(tail, sizeof(tail), &r);
	if (tail[0] != '\0') {
		snprintf(sep, sizeof(sep), ": ");
	}
	tp_log_debug(COMPONENT,
	    "command ended task_id=%" PRId64 " pid=%d status=%d killed=%s",
	    dtp_job_id(job), (int) r.pid, status,
	    r.term_sent ? "true" : "false");

	if (dtp_job_stop_reason(job) != DTP_STOP_NONE) {
		/* The worker words it from the reason (cancel, timeout...). */
		o = dtp_job_fail(job, "command stopped");
	} else if (r.over_limit) {
		o = dtp_job_fail_permanent(job, "output exceeds %zu bytes",
		    cmd->opts.max_output_bytes);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		o = dtp_job_succeed(job, r.out != NULL ? r.out : "", r.out_len);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_TEMPFAIL) {
		o = dtp_job_fail(job,
		    "command exited with status 75 (EX_TEMPFAIL)%s%s", sep,
		    tail);
	} else if (WIFEXITED(status)) {
		o = dtp_job_fail(job, "command exited with status %d%s%s",
		    WEXITSTATUS(status), sep, tail);
	} else if (WIFSIGNALED(status)) {
		const char *name = sigabbrev_np(WTERMSIG(status));
		o                = dtp_job_fail(job,
		                   "command was killed by signal %d (SIG%s)%s%s",
		                   WTERMSIG(status), name != NULL ? name : "?", sep, tail);
	} else {
		o = dtp_job_fail(job, "command ended with wait status %d%s%s",
		    status, sep, tail);
	}
	free(r.out);
	return o;
}

static void
exec_cmd_free(void *arg)
{
	exec_cmd *cmd = arg;

	if (cmd == NULL) {
		return;
	}
	free(cmd->path);
	free(cmd);
}

tp_status
dtp_registry_add_exec(dtp_registry *r, const char *type, const char *path,
    const dtp_exec_opts *opts, tp_err *err)
{
	exec_cmd *cmd;
	tp_status rc;

	if (path == NULL || path[0] != '/' || has_control(path)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid path for type \"%.64s\": expected an absolute "
		    "path",
		    type != NULL ? type : "");
	}
	cmd       = tp_xcalloc(1, sizeof(*cmd));
	cmd->path = tp_xstrdup(path);
	cmd->opts = *opts;
	if (cmd->opts.kill_grace_ms < 0) {
		cmd->opts.kill_grace_ms = 0;
	}
	rc = dtp_registry_add_owned(
	    r, type, exec_main, cmd, exec_cmd_free, err);
	if (rc != TP_OK) {
		exec_cmd_free(cmd);
	}
	return rc;
}
