/*
 * scheduler_client.h: SchedulerClient, TaskPilot's one door to DTP (DESIGN
 * §1, §6). It is the only code in pilot/ that speaks to DTP, and it knows the
 * three DTP calls (CreateTask, GetTask, CancelTask) and nothing about how DTP
 * runs them. It speaks tp_rpc with DTP's envelope over one req0 socket that
 * dials every DTP node given, so a retried call can land on another node.
 *
 * Threads: one client is shared by every RPC worker; every function but
 * _open and _free may be called from any number of threads at once.
 *
 * Statuses: a DTP answer is passed through unchanged (code and DTP's
 * message): NOT_FOUND "task 42 not found", FAILED_PRECONDITION for a cancel
 * of a final task, ALREADY_EXISTS for a key reused with another payload...
 * When DTP cannot be reached the status is TP_UNAVAILABLE with a message
 * that starts "could not reach dtp" (then where and why); when no answer
 * came in time it is TP_DEADLINE_EXCEEDED with "dtp did not answer in time:
 * <reason>". An UNAVAILABLE that DTP itself sent (its database is down)
 * reads "could not reach dtp: <DTP's message>". A request larger than the
 * client's max_msg_bytes is TP_RESOURCE_EXHAUSTED, with nothing sent (set
 * the limit to DTP's, so that DTP never drops a connection over it).
 *
 * Deadlines: every call takes deadline_ms, the Unix time (ms) by which the
 * caller who asked TaskPilot stops waiting (a request's deadline_ms), or 0
 * for none. The call's timeout is min(the client's timeout_ms, the time left
 * until deadline_ms), so a caller's short deadline is honoured all the way
 * to DTP; when none is left, the call returns TP_DEADLINE_EXCEEDED "dtp was
 * not called: the caller's deadline passed" without sending anything.
 *
 * Ownership: a dtp_v1_Task written to *out owns heap memory (payload, and
 * result once set): the caller releases it with
 * pb_release(dtp_v1_Task_fields, out). On any status but TP_OK *out is not
 * touched and there is nothing to release.
 */
#ifndef PILOT_SCHEDULER_CLIENT_H
#define PILOT_SCHEDULER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "dtp.pb.h"
#include "rpc/rpc.h"

typedef struct pilot_scheduler_client pilot_scheduler_client;

typedef struct pilot_scheduler_client_opts {
	int    timeout_ms;    /* per call, retries included; 0: 5000 */
	int    max_attempts;  /* tries of an idempotent call; 0: tp_rpc's (3) */
	size_t max_msg_bytes; /* largest request and reply; 0: 4 MiB */
	/*
	 * TLS for tls+tcp:// DTP URLs (rpc/rpc.h: the CA, a client
	 * certificate and key, the server name). NULL: no TLS, and a
	 * tls+tcp:// URL is TP_INVALID_ARGUMENT. Borrowed for _open only.
	 */
	const rpc_tls_opts *tls;
} pilot_scheduler_client_opts;

/*
 * pilot_scheduler_client_open dials every URL of dtp_urls (comma-separated
 * nng URLs, e.g. "tcp://127.0.0.1:9090,tcp://10.0.0.2:9090") without waiting
 * for the nodes to be up (nng reconnects by itself). opts may be NULL
 * (defaults) and is copied. Returns TP_OK and *out (caller frees with
 * pilot_scheduler_client_free), or TP_INVALID_ARGUMENT for an empty list, a
 * bad URL, a tls+tcp:// URL without opts->tls, or a TLS file that is
 * missing or does not load (named in err). Blocks only to read the TLS
 * files. Main thread, before the RPC workers start.
 */
TP_MUST_CHECK tp_status pilot_scheduler_client_open(
    pilot_scheduler_client **out, const char *dtp_urls,
    const pilot_scheduler_client_opts *opts, tp_err *err);

/*
 * pilot_scheduler_client_free closes the socket; calls still in flight fail.
 * NULL is a no-op. Main thread, after the RPC workers stopped.
 */
void pilot_scheduler_client_free(pilot_scheduler_client *c);

/*
 * pilot_scheduler_client_create_task asks DTP to create a task of type with
 * payload_json (both borrowed). With an idempotency_key (borrowed, <= 255
 * bytes; NULL or "" for none) the call is idempotent: it is retried on
 * failure, and DTP answers a replay with the original task (*replayed =
 * true). Without a key it is sent at most once. Returns TP_OK with *out (see
 * Ownership) and *replayed; TP_INVALID_ARGUMENT for a missing type or
 * payload or an over-long key; otherwise DTP's or the transport's status
 * (see above). Blocks up to the call's timeout (see Deadlines).
 */
TP_MUST_CHECK tp_status pilot_scheduler_client_create_task(
    pilot_scheduler_client *c, dtp_v1_Task *out, bool *replayed,
    const char *type, const char *payload_json, const char *idempotency_key,
    int64_t deadline_ms, tp_err *err);

/*
 * pilot_scheduler_client_get_task reads DTP task id (idempotent, retried).
 * Returns TP_OK with *out (see Ownership); TP_INVALID_ARGUMENT for id <= 0;
 * otherwise DTP's status (NOT_FOUND "task 42 not found") or the transport's.
 * Blocks up to the call's timeout (see Deadlines).
 */
TP_MUST_CHECK tp_status pilot_scheduler_client_get_task(
    pilot_scheduler_client *c, dtp_v1_Task *out, int64_t id,
    int64_t deadline_ms, tp_err *err);

/*
 * pilot_scheduler_client_cancel_task asks DTP to cancel task id (idempotent,
 * retried: cancelling twice asks the same thing). Returns TP_OK with the task
 * as DTP left it in *out (see Ownership): CANCELLED, or still RUNNING with
 * cancel_requested set while its handler winds down; TP_INVALID_ARGUMENT for
 * id <= 0; otherwise DTP's status (FAILED_PRECONDITION for a final task,
 * NOT_FOUND) or the transport's. Blocks up to the call's timeout (see
 * Deadlines).
 */
TP_MUST_CHECK tp_status pilot_scheduler_client_cancel_task(
    pilot_scheduler_client *c, dtp_v1_Task *out, int64_t id,
    int64_t deadline_ms, tp_err *err);

#endif /* PILOT_SCHEDULER_CLIENT_H */
