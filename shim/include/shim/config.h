/*
 * config.h: tpgateway's configuration: the flag/environment table (STYLE
 * §6) and the checks that need more than one field. Parsed once in main(),
 * then passed down as const.
 */
#ifndef SHIM_CONFIG_H
#define SHIM_CONFIG_H

#include <sys/socket.h>

#include "common/config.h"
#include "common/status.h"
#include "rpc/rpc.h"

typedef struct shim_config {
	const char *dtp_listen;   /* HOST:PORT of the DTP routes */
	const char *pilot_listen; /* HOST:PORT of the TaskPilot routes */
	const char *dtp_url;      /* DTP RPC URLs, comma-separated */
	const char *pilot_url;    /* TaskPilot RPC URL(s) */
	long long   rpc_timeout_ms;
	long long   threads; /* per listener; 0: the number of cores */
	long long   max_connections;
	long long   connection_timeout_s;
	long long   memory_limit_bytes; /* per connection */
	long long   max_body_bytes;
	long long   json_max_depth;
	long long   max_msg_bytes; /* largest RPC reply accepted */
	const char *log_level;
	const char *api_token; /* TP_API_TOKEN, environment only; NULL: off */
	/*
	 * TLS for tls+tcp:// upstream URLs, one set for both services
	 * (rpc/README.md, "TLS"): PEM file paths, NULL or "" when unset.
	 */
	const char *tls_ca;   /* the CA the services' certificates chain to */
	const char *tls_cert; /* client certificate, for mutual TLS */
	const char *tls_key;  /* its private key */
} shim_config;

extern const tp_cfg_spec shim_config_spec;

/*
 * shim_listen_parse parses "HOST:PORT" or "[V6HOST]:PORT" (numeric host,
 * port 0..65535, 0 = any free port) into a socket address. Returns TP_OK and
 * *out / *out_len, or TP_INVALID_ARGUMENT.
 */
TP_MUST_CHECK tp_status shim_listen_parse(struct sockaddr_storage *out,
    socklen_t *out_len, const char *s, tp_err *err);

/*
 * shim_config_check validates what the table cannot: the listen addresses,
 * the log level, the upstream URLs, and the TLS flags (--tls-cert and
 * --tls-key together, and not without --tls-ca; no file is read here).
 * Returns TP_INVALID_ARGUMENT with a usage message in the style of
 * tp_cfg_parse (`invalid value for --dtp-listen (SHIM_DTP_LISTEN): "x":
 * expected HOST:PORT`).
 */
TP_MUST_CHECK tp_status shim_config_check(const shim_config *cfg, tp_err *err);

/*
 * shim_config_tls fills *out from --tls-ca, --tls-cert and --tls-key (one
 * set for both upstreams; server_name NULL: each URL's host) and returns
 * out, or returns NULL when none is set: no TLS, so that a tls+tcp:// URL
 * is refused by the RPC client with its "needs TLS options". The paths are
 * borrowed from cfg.
 */
const rpc_tls_opts *shim_config_tls(rpc_tls_opts *out, const shim_config *cfg);

/* shim_config_threads returns cfg->threads, or the number of cores for 0. */
int shim_config_threads(const shim_config *cfg);

#endif /* SHIM_CONFIG_H */
