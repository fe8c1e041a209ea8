/*
 * tpctl_int.h: what tpctl.c (flags, requests, calls), tpctl_print.c (the
 * output of replies) and tpctl_watch.c (pilot watch) share. Private to
 * tools/; everything here runs on tpctl's one thread.
 */
#ifndef TOOLS_TPCTL_INT_H
#define TOOLS_TPCTL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/status.h"
#include "dtp.pb.h"
#include "pilot.pb.h"
#include "proto/envelope.h"
#include "rpc/client.h"

#define TPCTL_EXIT_FAIL  1 /* the call failed */
#define TPCTL_EXIT_USAGE 2 /* bad usage */

/* tpctl's own flags, parsed once in main (borrowed by everything else). */
typedef struct tpctl_config {
	const char *url;       /* DTP RPC URLs, comma-separated */
	const char *pilot_url; /* TaskPilot RPC URLs, comma-separated */
	long long   timeout_ms;
	bool        json;
	/* TLS for tls+tcp:// URLs (rpc/rpc.h); NULL when not given. */
	const char *tls_ca;
	const char *tls_cert;
	const char *tls_key;
	const char *tls_server_name;
} tpctl_config;

/*
 * tpctl_client_open opens an RPC client for env on urls (comma-separated)
 * with the config's deadline and TLS files. Returns -1 and *out (caller
 * frees with rpc_client_free), or exit status 2 after saying why on stderr
 * (a bad URL, a tls+tcp:// URL without --tls-ca, a TLS file that does not
 * load).
 */
int tpctl_client_open(rpc_client **out, const tpctl_config *cfg,
    const proto_envelope *env, const char *urls);

/*
 * tpctl_call sends req (borrowed) and waits for rep, within the config's
 * deadline, retries included when idempotent. Returns the status as
 * rpc_client_call does (on TP_OK the caller releases rep with pb_release);
 * the reason in err. Blocks.
 */
TP_MUST_CHECK tp_status tpctl_call(rpc_client *c, const tpctl_config *cfg,
    void *req, void *rep, bool idempotent, tp_err *err);

/*
 * tpctl_report prints a failed call's status and reason on stderr
 * ("tpctl: NOT_FOUND: task 9 not found") and returns TPCTL_EXIT_FAIL.
 */
int tpctl_report(tp_status rc, const tp_err *err);

/*
 * tpctl_print_dtp_reply prints a DTP reply (borrowed) on stdout, as text or,
 * when json, as the gateway's JSON; a Metrics reply is printed as it came
 * (Prometheus text) either way. Returns the exit status: 0, or
 * TPCTL_EXIT_FAIL for a node that answers Health but cannot reach its
 * database, or for a reply without a result (both said on stderr).
 */
int tpctl_print_dtp_reply(const dtp_v1_Reply *rep, bool json);

/* tpctl_print_pilot_reply: the same for a TaskPilot reply. */
int tpctl_print_pilot_reply(const pilot_v1_Reply *rep, bool json);

/*
 * tpctl_print_task_json prints a task (borrowed) as the gateway's JSON, on
 * one line of stdout.
 */
void tpctl_print_task_json(const dtp_v1_Task *t);

/*
 * tpctl_watch follows web task id until its execution is final (pilot
 * watch, see tpctl_watch.c). Returns the exit status: 0 when it SUCCEEDED,
 * TPCTL_EXIT_FAIL when it ended FAILED or CANCELLED or a call failed,
 * TPCTL_EXIT_USAGE for a bad URL. Blocks until then.
 */
int tpctl_watch(const tpctl_config *cfg, int64_t id);

#endif /* TOOLS_TPCTL_INT_H */
