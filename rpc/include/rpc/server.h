/*
 * server.h: the RPC server. N worker threads, each owning one nng_ctx, its
 * aio and a per-thread context (where a service keeps its database
 * connection). A worker is a plain loop: receive, decode, check the deadline,
 * dispatch on the envelope's call tag, encode, reply.
 *
 * Input never crashes it: a message that does not decode is answered
 * INVALID_ARGUMENT, an unknown call UNIMPLEMENTED, a request past its
 * deadline DEADLINE_EXCEEDED without running the handler.
 */
#ifndef RPC_SERVER_H
#define RPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "proto/envelope.h"
#include "rpc/rpc.h"

typedef struct rpc_server rpc_server;

/*
 * rpc_handler_cb runs one call on a worker thread. req is the decoded request
 * (borrowed). rep is a zeroed reply: on TP_OK the handler has set its result
 * (same tag as the call) with rep_set_result; heap fields it puts there
 * (payload, result, repeated tasks) must come from malloc and are released by
 * the server with pb_release after the reply is sent. On any other status
 * the server clears the result, releases what was set, and sends the status
 * with err's message. May block (database calls).
 */
typedef tp_status (*rpc_handler_cb)(
    void *thread_ctx, const void *req, void *rep, tp_err *err);

/*
 * rpc_observe_cb, when set, is told about every answered call (for metrics):
 * the call tag (0 when it did not decode), the status sent, and the time from
 * receive to reply. Runs on worker threads; must not block.
 */
typedef void (*rpc_observe_cb)(
    void *arg, pb_size_t call, tp_status code, int64_t elapsed_us);

typedef struct rpc_server_opts {
	const proto_envelope *env;
	/* Listen URLs: tcp://, ipc://, inproc://, tls+tcp:// (needs tls). */
	const char *const *urls;
	size_t             n_urls;
	int                threads;       /* worker threads, >= 1 */
	size_t             max_msg_bytes; /* NNG_OPT_RECVMAXSZ and reply cap */
	int                drain_ms;      /* stop waits this long for calls */
	/* By call tag, env->max_call + 1 entries; NULL: UNIMPLEMENTED. */
	const rpc_handler_cb *handlers;
	/*
	 * Called once per worker thread, in rpc_server_start, before serving
	 * (index 0..threads-1); returns the thread's context or sets err and
	 * returns NULL to fail the start. thread_fini_cb releases it.
	 */
	void *(*thread_init_cb)(void *arg, int index, tp_err *err);
	void (*thread_fini_cb)(void *arg, void *thread_ctx);
	void          *arg;
	rpc_observe_cb observe_cb;
	void          *observe_arg;
	/*
	 * TLS for the tls+tcp:// URLs (rpc/rpc.h): the server's certificate
	 * and key, and the CA for client certificates with
	 * require_client_cert. NULL: no TLS, and a tls+tcp:// URL is
	 * TP_INVALID_ARGUMENT. Borrowed for rpc_server_start only.
	 */
	const rpc_tls_opts *tls;
} rpc_server_opts;

/*
 * rpc_server_start listens on every URL and starts the worker threads.
 * Returns TP_OK and *out (caller frees with rpc_server_free), or
 * TP_INVALID_ARGUMENT (bad URL or options; a tls+tcp:// URL without
 * opts->tls; a TLS file that is missing or does not load, named in err:
 * checked before thread_init_cb runs), TP_UNAVAILABLE (cannot listen), or
 * the status of a failed thread_init_cb. opts is copied; the urls, handlers
 * and env it points to are borrowed for the server's lifetime, opts->tls
 * for this call only. Blocks (reads the TLS files); main thread.
 */
TP_MUST_CHECK tp_status rpc_server_start(
    rpc_server **out, const rpc_server_opts *opts, tp_err *err);

/*
 * rpc_server_bound_port returns the TCP port the i-th URL is bound to (for
 * tcp://127.0.0.1:0), or 0 when it is not a TCP listener.
 */
int rpc_server_bound_port(rpc_server *s, size_t i);

/* rpc_server_in_flight returns the number of calls being handled now. */
int rpc_server_in_flight(rpc_server *s);

/*
 * rpc_server_free stops accepting, lets in-flight calls finish (up to
 * drain_ms), stops every aio, joins the threads, calls thread_fini_cb for
 * each, closes the socket and frees. NULL is a no-op. Main thread only.
 */
void rpc_server_free(rpc_server *s);

#endif /* RPC_SERVER_H */
