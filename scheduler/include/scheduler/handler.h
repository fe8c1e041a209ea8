/*
 * handler.h: task handlers, the C functions DTP runs for a task type, and
 * the registry that maps type names to them.
 *
 * A handler runs on a worker thread, one task attempt per call. It sees its
 * payload and attempt number through the dtp_job, must check
 * dtp_job_should_stop() (or wait with dtp_job_sleep(), or poll
 * dtp_job_stop_fd()) so that a cancel, a timeout, a lost lease or a
 * shutdown stops it early, and ends with one of dtp_job_succeed(),
 * dtp_job_fail(), dtp_job_fail_permanent() or dtp_job_retry_after(), whose
 * value it returns. A task runs at least once: a handler must tolerate
 * being run again for the same task.
 *
 * A handler that does not stop within the node's --handler-grace-ms of
 * being asked cannot be killed (it is a thread): its attempt is ended for
 * it (a cancel: CANCELLED; a timeout: retried or FAILED; a lost lease:
 * nothing, another node has the task; a shutdown: handed back to PENDING),
 * its thread is abandoned and its worker slot gets a new thread. The job
 * stays valid for the abandoned handler until it returns; whatever it
 * returns then is ignored. A node shutting down with such a thread still
 * running exits without waiting for it.
 */
#ifndef SCHEDULER_HANDLER_H
#define SCHEDULER_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef struct dtp_job      dtp_job;
typedef struct dtp_registry dtp_registry;

/* How an attempt ended. */
typedef enum dtp_outcome {
	DTP_OUTCOME_OK = 0, /* done; the result was set */
	DTP_OUTCOME_RETRY, /* failed; retried with backoff while attempts remain
	                    */
	DTP_OUTCOME_RETRY_AFTER, /* failed; retried after the delay it asked for
	                          */
	DTP_OUTCOME_PERMANENT,   /* failed; never retried */
} dtp_outcome;

/* Why a job was asked to stop (dtp_job_stop_reason). */
typedef enum dtp_stop_reason {
	DTP_STOP_NONE = 0,
	DTP_STOP_CANCEL,     /* CancelTask */
	DTP_STOP_TIMEOUT,    /* the task's timeout_ms passed */
	DTP_STOP_SHUTDOWN,   /* the node is stopping; the task goes back to
	                        PENDING */
	DTP_STOP_LEASE_LOST, /* the node could not renew the lease */
} dtp_stop_reason;

/*
 * dtp_handler_cb runs one attempt of a task on a worker thread. arg is the
 * pointer given to dtp_registry_add. It may block, but must check
 * dtp_job_should_stop() at least every few tens of milliseconds.
 */
typedef dtp_outcome (*dtp_handler_cb)(dtp_job *job, void *arg);

/* The job's task. Strings are borrowed for the duration of the call. */
int64_t     dtp_job_id(const dtp_job *job);
const char *dtp_job_type(const dtp_job *job);
/* dtp_job_payload is NUL-terminated (text never holds a NUL byte). */
const char *dtp_job_payload(const dtp_job *job);
size_t      dtp_job_payload_len(const dtp_job *job);

/*
 * dtp_job_params returns the task's own parameters: its payload, except for
 * a task bound through TaskPilot, whose payload is the wrapper
 * {"webTaskId":N,"type":"<type>","payload":"<text>"}: then the inner text
 * (the web task's payload). The rule: a payload that is a JSON object with
 * an integer "webTaskId" and a string "payload" member is a wrapper. The
 * text is NUL-terminated; *len (when not NULL) gets its length. Borrowed
 * for the duration of the call. The handler's thread only.
 */
const char *dtp_job_params(dtp_job *job, size_t *len);

/*
 * dtp_job_web_task_id is the wrapper's webTaskId (see dtp_job_params), or 0
 * when the task was not created through TaskPilot. The handler's thread.
 */
int64_t dtp_job_web_task_id(dtp_job *job);
/* dtp_job_attempt counts from 1; dtp_job_max_attempts is the task's limit. */
int     dtp_job_attempt(const dtp_job *job);
int     dtp_job_max_attempts(const dtp_job *job);
int64_t dtp_job_timeout_ms(const dtp_job *job);

/*
 * dtp_job_should_stop returns true once the job was asked to stop (cancel,
 * shutdown, lost lease) or its timeout passed. Cheap; the handler's thread.
 */
bool dtp_job_should_stop(dtp_job *job);

/* dtp_job_stop_reason tells why dtp_job_should_stop turned true. */
dtp_stop_reason dtp_job_stop_reason(const dtp_job *job);

/*
 * dtp_job_stop_fd returns a file descriptor that turns readable once the
 * job is asked to stop (cancel, shutdown, lost lease), for a handler that
 * waits in poll() on its own descriptors; -1 when none could be made (then
 * poll in short steps). It does not turn readable at the timeout: bound the
 * poll with dtp_job_remaining_ms() and call dtp_job_should_stop() after
 * each wake-up. Owned by the job: never read or close it. The handler's
 * thread.
 */
int dtp_job_stop_fd(dtp_job *job);

/* dtp_job_remaining_ms is the time left before the timeout, 0 once past. */
int64_t dtp_job_remaining_ms(const dtp_job *job);

/*
 * dtp_job_sleep waits ms milliseconds, or less when the job is asked to stop
 * or its timeout passes, which it notices at once. Returns true when it woke
 * because the job must stop, false when the full time passed.
 */
bool dtp_job_sleep(dtp_job *job, int64_t ms);

/*
 * dtp_job_succeed sets the result (copied: len bytes of text without NUL
 * bytes) and returns DTP_OUTCOME_OK. A result over the node's payload limit
 * fails the task permanently.
 */
dtp_outcome dtp_job_succeed(dtp_job *job, const char *result, size_t len);

/*
 * dtp_job_fail records a retryable failure with its reason (stored as the
 * task's last_error, cut at 1023 bytes) and returns DTP_OUTCOME_RETRY.
 */
dtp_outcome dtp_job_fail(dtp_job *job, const char *fmt, ...) TP_PRINTF(2, 3);

/* dtp_job_fail_permanent: as dtp_job_fail, but the task fails at once. */
dtp_outcome dtp_job_fail_permanent(dtp_job *job, const char *fmt, ...)
    TP_PRINTF(2, 3);

/*
 * dtp_job_retry_after: as dtp_job_fail, but the next attempt runs after
 * delay_ms (0 .. 86400000, clamped) instead of the backoff delay.
 */
dtp_outcome dtp_job_retry_after(
    dtp_job *job, int64_t delay_ms, const char *fmt, ...) TP_PRINTF(3, 4);

/*
 * dtp_registry_new returns an empty registry; caller frees with
 * dtp_registry_free. Fill it before the node starts: afterwards it is
 * read-only, and any thread may look types up.
 */
dtp_registry *dtp_registry_new(void);

/* dtp_registry_free frees the registry. NULL is a no-op. */
void dtp_registry_free(dtp_registry *r);

/*
 * dtp_registry_add registers cb for type. TP_INVALID_ARGUMENT when type is
 * not 1 to 64 characters of [a-z0-9_.-]; TP_ALREADY_EXISTS when the type is
 * taken. arg is borrowed for the registry's lifetime. Not thread-safe.
 */
TP_MUST_CHECK tp_status dtp_registry_add(dtp_registry *r, const char *type,
    dtp_handler_cb cb, void *arg, tp_err *err);

/*
 * dtp_registry_add_builtins registers the built-in types: `demo` (succeeds,
 * result = payload), `sleep` ({"ms":N}: sleeps, stops early when asked) and
 * `fail` ({"failTimes":N}: fails the first N attempts, then succeeds).
 * sleep and fail read their parameters with dtp_job_params, so they work
 * for tasks bound through TaskPilot too. TP_ALREADY_EXISTS when one of the
 * names is taken.
 */
TP_MUST_CHECK tp_status dtp_registry_add_builtins(dtp_registry *r, tp_err *err);

/* How an exec type runs its command (dtp_registry_add_exec). */
typedef struct dtp_exec_opts {
	/* Standard output beyond this fails the attempt (permanently). */
	size_t max_output_bytes;
	/* On a stop, SIGTERM to the process group, SIGKILL this much later. */
	int64_t kill_grace_ms;
} dtp_exec_opts;

/*
 * dtp_registry_add_exec registers type to run the program at path (an
 * absolute path; argv is the path alone, never a shell, never anything from
 * the payload) in its own process group, with the task's parameters
 * (dtp_job_params) on standard input and a small environment (PATH and
 * DTP_TASK_ID, DTP_TASK_TYPE, DTP_TASK_ATTEMPT, DTP_TASK_MAX_ATTEMPTS,
 * DTP_TASK_TIMEOUT_MS, DTP_WEB_TASK_ID when bound through TaskPilot). Exit
 * 0: the task succeeds with standard output as its result; exit 75
 * (EX_TEMPFAIL) or any other status: the attempt failed and is retried
 * while attempts remain, with the tail of standard error in last_error. On
 * cancel, timeout, lost lease or shutdown the whole process group gets
 * SIGTERM, then SIGKILL after opts->kill_grace_ms. path and opts are
 * copied. The process must ignore SIGPIPE (dtp_run_main does): a program
 * that exits without reading its input breaks the pipe. TP_INVALID_ARGUMENT
 * for a bad type or a relative path, TP_ALREADY_EXISTS when the type is
 * taken. Not thread-safe.
 */
TP_MUST_CHECK tp_status dtp_registry_add_exec(dtp_registry *r, const char *type,
    const char *path, const dtp_exec_opts *opts, tp_err *err);

/*
 * dtp_registry_add_owned is dtp_registry_add for an arg the registry takes
 * ownership of on success: free_cb(arg) runs in dtp_registry_free. On
 * failure the caller still owns arg.
 */
TP_MUST_CHECK tp_status dtp_registry_add_owned(dtp_registry *r,
    const char *type, dtp_handler_cb cb, void *arg, void (*free_cb)(void *),
    tp_err *err);

/*
 * dtp_registry_find looks type up: true with *cb and *arg set, or false.
 * Any thread, once the registry is filled.
 */
bool dtp_registry_find(
    const dtp_registry *r, const char *type, dtp_handler_cb *cb, void **arg);

/*
 * dtp_registry_types writes the registered type names, comma-separated in
 * registration order, into buf (cut to size). Returns buf.
 */
char *dtp_registry_types(const dtp_registry *r, char *buf, size_t size);

/*
 * dtp_type_is_valid: whether s is a valid type name, 1 to 64 characters of
 * [a-z0-9_.-].
 */
bool dtp_type_is_valid(const char *s);

#endif /* SCHEDULER_HANDLER_H */
