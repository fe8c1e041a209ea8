/*
 * rpc_int.h: private to rpc/: what server.c and client.c share, which is
 * telling TLS URLs apart and building nng TLS configurations (rpc.c).
 */
#ifndef RPC_RPC_INT_H
#define RPC_RPC_INT_H

#include <stdbool.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "common/status.h"
#include "rpc/rpc.h"

/*
 * rpc_url_is_tls tells whether url's scheme runs over TLS and so takes
 * NNG_OPT_TLS_CONFIG: tls+tcp, tls+tcp4, tls+tcp6, wss, wss4, wss6 (any
 * case, as nng accepts). NULL or no scheme: false. Any thread.
 */
bool rpc_url_is_tls(const char *url);

/*
 * rpc_tls_config_new builds a TLS configuration from o (borrowed) for a
 * server (is_server) or for a client dialing url (whose host is the name
 * checked when o->server_name is NULL; url is unused for a server), reading
 * every file now. Returns TP_OK and *out (caller drops it with
 * nng_tls_config_free once the listeners or dialers that use it hold it),
 * or TP_INVALID_ARGUMENT naming the option or the file that is missing, does
 * not read or does not load. Blocks on file reads; any thread.
 */
TP_MUST_CHECK tp_status rpc_tls_config_new(nng_tls_config **out,
    const rpc_tls_opts *o, bool is_server, const char *url, tp_err *err);

#endif /* RPC_RPC_INT_H */
