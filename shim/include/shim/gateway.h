/*
 * gateway.h: the HTTP gateway (DESIGN §7): two libmicrohttpd listeners (DTP
 * routes and TaskPilot routes), each with an epoll thread pool, and one RPC
 * client per service. A request suspends its connection, makes its RPC
 * asynchronously, and is resumed from the RPC callback with the reply. The
 * gateway holds no state of its own.
 */
#ifndef SHIM_GATEWAY_H
#define SHIM_GATEWAY_H

#include "common/status.h"
#include "shim/config.h"
#include "shim/route.h"

typedef struct shim_gateway shim_gateway;

/*
 * shim_gateway_start opens the RPC clients (they connect in the background)
 * and starts both listeners. Returns TP_OK and *out (caller frees with
 * shim_gateway_free), TP_INVALID_ARGUMENT for a bad address or URL (a
 * tls+tcp:// URL without TLS flags, a TLS file that is missing or does not
 * load), or TP_UNAVAILABLE when a listener cannot start (port in use). cfg
 * is borrowed for the gateway's lifetime. Call from the main thread.
 */
TP_MUST_CHECK tp_status shim_gateway_start(
    shim_gateway **out, const shim_config *cfg, tp_err *err);

/* shim_gateway_port returns the TCP port a listener is bound to. */
int shim_gateway_port(const shim_gateway *g, shim_service svc);

/* shim_gateway_in_flight returns the requests waiting for an RPC reply. */
int shim_gateway_in_flight(shim_gateway *g);

/*
 * shim_gateway_free stops accepting connections, lets requests in flight
 * get their replies (up to the RPC timeout plus a second), stops both
 * listeners, then closes the RPC clients. NULL is a no-op. Main thread.
 */
void shim_gateway_free(shim_gateway *g);

#endif /* SHIM_GATEWAY_H */
