/*
 * client.h: the RPC client. One nng req0 socket that dials one or several
 * URLs (nng spreads requests over the live ones); every call has a deadline
 * (nng_aio_set_timeout); nng's own resend is off (NNG_OPT_REQ_RESENDTIME = 0)
 * because it would silently send a call twice; the client itself retries
 * only calls marked idempotent, with jittered exponential backoff, so that a
 * retry can land on another node.
 *
 * Thread-safe: any number of threads may call at once (a context per call).
 */
#ifndef RPC_CLIENT_H
#define RPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"
#include "proto/envelope.h"
#include "rpc/rpc.h"

typedef struct rpc_client rpc_client;

typedef struct rpc_client_opts {
	const proto_envelope *env;
	size_t                max_msg_bytes;   /* NNG_OPT_RECVMAXSZ; 0: 4 MiB */
	int                   timeout_ms;      /* default per call; 0: 5000 */
	int                   max_attempts;    /* idempotent calls; 0: 3 */
	int                   backoff_base_ms; /* 0: 20 */
	int                   backoff_max_ms;  /* 0: 500 */
	/*
	 * TLS for the tls+tcp:// URLs (rpc/rpc.h): the CA the servers'
	 * certificates must verify against, the name to check (NULL: each
	 * URL's host), and a client certificate and key for servers that
	 * require one. NULL: no TLS, and a tls+tcp:// URL is
	 * TP_INVALID_ARGUMENT. Borrowed for rpc_client_open only.
	 */
	const rpc_tls_opts *tls;
} rpc_client_opts;

typedef struct rpc_call_opts {
	int  timeout_ms; /* whole call, retries included; 0: the client's */
	bool idempotent; /* safe to send again after a failure */
} rpc_call_opts;

/*
 * rpc_client_open dials every URL in urls (comma-separated), without waiting
 * for the peers to be up (nng reconnects by itself). Returns TP_OK and *out
 * (caller frees with rpc_client_free) or TP_INVALID_ARGUMENT for a bad URL,
 * a tls+tcp:// URL without opts->tls, or a TLS file that is missing or does
 * not load (named in err). opts is copied; opts->env is borrowed for the
 * client's lifetime, opts->tls for this call only. Blocks only to read the
 * TLS files. Any thread.
 */
TP_MUST_CHECK tp_status rpc_client_open(rpc_client **out, const char *urls,
    const rpc_client_opts *opts, tp_err *err);

/*
 * rpc_client_free closes the socket, failing calls in flight (their
 * callbacks run, with TP_CANCELLED, before it returns). NULL: no-op. Not
 * from an rpc_done_cb, and not while another thread still starts calls.
 */
void rpc_client_free(rpc_client *c);

/*
 * rpc_client_call sends req (borrowed; its deadline_ms is set by the client
 * from the timeout) and waits for the reply. Returns the call's status:
 * TP_OK with rep decoded (caller releases it with
 * pb_release(env->rep_fields, rep)); the server's status with its message in
 * err; TP_DEADLINE_EXCEEDED when no reply came in time; TP_UNAVAILABLE when
 * no peer is connected or the connection failed (for tls+tcp://, also when
 * no TLS session could be set up: err then counts the failed handshakes);
 * TP_INTERNAL when the reply does not decode, or when an OK reply's result
 * tag is not the call's; TP_CANCELLED when rpc_client_free closes the client
 * meanwhile; TP_INVALID_ARGUMENT or TP_RESOURCE_EXHAUSTED (nothing sent)
 * when req does not encode or is over max_msg_bytes. rpc/README.md tells
 * UNAVAILABLE from DEADLINE_EXCEEDED in detail. On any status but TP_OK,
 * rep is left zeroed with nothing to release. copts may be NULL. Blocks;
 * any thread but an nng callback.
 */
TP_MUST_CHECK tp_status rpc_client_call(rpc_client *c, void *req, void *rep,
    const rpc_call_opts *copts, tp_err *err);

/*
 * rpc_done_cb reports the end of an asynchronous call, exactly once, from an
 * nng thread: it must not block. code and err as rpc_client_call returns
 * them; rep is the caller's reply struct (decoded on TP_OK, then the caller
 * releases it).
 */
typedef void (*rpc_done_cb)(
    void *arg, tp_status code, const tp_err *err, void *rep);

/*
 * rpc_client_call_async starts a call and returns at once. req is encoded
 * before it returns (borrowed for the call only); rep must stay valid until
 * cb runs. Returns TP_OK when cb will be called, or an error status (and cb
 * will not be called). Any thread.
 */
TP_MUST_CHECK tp_status rpc_client_call_async(rpc_client *c, void *req,
    void *rep, const rpc_call_opts *copts, rpc_done_cb cb, void *arg,
    tp_err *err);

#endif /* RPC_CLIENT_H */
