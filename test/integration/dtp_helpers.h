/*
 * dtp_helpers.h: what the dtp_* integration tests share: starting a dtp
 * node, and the DTP calls through tp_rpc's client with their replies
 * unpacked. Failures fail the running cmocka test. Main thread.
 */
#ifndef TEST_DTP_HELPERS_H
#define TEST_DTP_HELPERS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/status.h"
#include "dtp.pb.h"
#include "harness.h"
#include "rpc/client.h"

#define DTP_H_START_MS 20000

/*
 * dtp_h_start runs the dtp binary listening on url with db_url, node name
 * name, the extra flags in args and the extra environment in env ("K=V";
 * both NULL-terminated, may be NULL), and waits for Health.
 */
void dtp_h_start(th_proc *p, const char *name, const char *url,
    const char *db_url, const char *const *args, char *const *env);

/* dtp_h_start_bin: dtp_h_start for another worker binary (th_bin name). */
void dtp_h_start_bin(th_proc *p, const char *bin, const char *name,
    const char *url, const char *db_url, const char *const *args,
    char *const *env);

/* dtp_h_client opens a client for url (caller frees with rpc_client_free). */
rpc_client *dtp_h_client(const char *url);

typedef struct dtp_h_opts {
	int32_t     max_attempts;    /* 0: not set */
	int64_t     timeout_ms;      /* 0: not set */
	int64_t     run_at_ms;       /* 0: not set */
	const char *key;             /* NULL: not set */
	int64_t     backoff_base_ms; /* 0: not set */
	int64_t     backoff_max_ms;  /* 0: not set */
} dtp_h_opts;

/*
 * The calls. Each returns the call's status (its reason in err); on TP_OK
 * *out is filled and the caller releases it with pb_release.
 */
tp_status dtp_h_create(rpc_client *c, dtp_v1_Task *out, bool *replayed,
    const char *type, const char *payload, const dtp_h_opts *o, tp_err *err);
tp_status dtp_h_get(rpc_client *c, int64_t id, dtp_v1_Task *out, tp_err *err);
tp_status dtp_h_cancel(
    rpc_client *c, int64_t id, dtp_v1_Task *out, tp_err *err);
tp_status dtp_h_list(rpc_client *c, dtp_v1_ListTasksReply *out, int status,
    const char *type, int64_t after, int32_t limit, bool newest_first,
    tp_err *err);

/* dtp_h_must_create creates a task (failing the test otherwise): its id. */
int64_t dtp_h_must_create(
    rpc_client *c, const char *type, const char *payload, const dtp_h_opts *o);

/*
 * dtp_h_wait_status polls GetTask until task id has status want (and, when
 * min_attempts > 0, at least that many attempts), up to timeout_ms; then
 * fills *out when not NULL. On failure it prints the logs of the n_procs
 * processes in procs and fails the test.
 */
void dtp_h_wait_status(rpc_client *c, int64_t id, dtp_v1_TaskStatus want,
    int min_attempts, int timeout_ms, dtp_v1_Task *out, th_proc *const *procs,
    int n_procs);

/* dtp_h_log_has: whether the process's log contains needle. */
bool dtp_h_log_has(const th_proc *p, const char *needle);

/*
 * dtp_h_wait_log polls the process's log until it contains needle, up to
 * timeout_ms (a node logs an end just after it commits it, so a test that
 * saw the state may read the log a moment early). Fails the test, with the
 * log, otherwise.
 */
void dtp_h_wait_log(const th_proc *p, const char *needle, int timeout_ms);

/* dtp_h_log_count: how many lines of the process's log contain needle. */
int dtp_h_log_count(const th_proc *p, const char *needle);

/*
 * dtp_h_log_max_after: the largest number that follows needle on a line of
 * the process's log ("... n=" -> the n), 0 when none does.
 */
int dtp_h_log_max_after(const th_proc *p, const char *needle);

/*
 * dtp_h_metrics calls Metrics: TP_OK and *text (caller frees with free()),
 * or the call's status.
 */
tp_status dtp_h_metrics(rpc_client *c, char **text, tp_err *err);

#endif /* TEST_DTP_HELPERS_H */
