/*
 * config.h: the dtp binary's configuration: one table of flags with
 * environment fallbacks (config.c), parsed once by main() before any thread
 * starts, then passed down as const.
 */
#ifndef SCHEDULER_CONFIG_H
#define SCHEDULER_CONFIG_H

#include <stdbool.h>

#include "rpc/rpc.h"

#define DTP_NODE_NAME_MAX 63

typedef struct dtp_config {
	const char *listen;       /* comma-separated nng URLs */
	const char *database_url; /* DTP_DATABASE_URL, then DATABASE_URL */
	long long   workers;
	long long   rpc_threads;
	const char *node_name; /* default: <hostname>-<pid> */
	long long   lease_ms;
	long long   poll_ms;
	long long   default_timeout_ms;
	long long   default_max_attempts;
	long long   max_payload_bytes;
	long long   max_msg_bytes;
	long long   backoff_base_ms;
	long long   backoff_max_ms;
	const char *backoff_jitter; /* "full" or "equal" */
	long long   drain_ms;
	long long   handler_grace_ms;
	const char *exec; /* "TYPE=/abs/path,..." or NULL: no exec types */
	long long   exec_kill_grace_ms;
	const char *migrations_dir; /* holds dtp/V<n>__*.sql */
	const char *log_level;
	/*
	 * TLS for the tls+tcp:// listen URLs (rpc/README.md, "TLS"): the
	 * server's certificate and key, and the CA that client certificates
	 * must chain to (mutual TLS). NULL when unset.
	 */
	const char *tls_cert;
	const char *tls_key;
	const char *tls_client_ca;
	/* Storage for the default node name. */
	char node_name_buf[DTP_NODE_NAME_MAX + 1];
} dtp_config;

/*
 * dtp_config_parse fills cfg from defaults, the environment and argv
 * (flag > environment > default) and checks the values together. Returns
 * -1 to go on, or the exit code: 0 after --help/--version, 2 after a usage
 * error (printed on stderr). Strings point into argv, environ or static
 * storage. Main thread, before any other thread starts.
 */
int dtp_config_parse(dtp_config *cfg, int argc, char **argv);

/*
 * dtp_config_server_tls fills *out from --tls-cert, --tls-key and
 * --tls-client-ca (which also sets require_client_cert) and returns out, or
 * returns NULL when none of them is set: no TLS, so that a tls+tcp:// listen
 * URL gets rpc_server_start's INVALID_ARGUMENT. The paths in *out point into
 * cfg. dtp_config_parse has checked the combination already.
 */
const rpc_tls_opts *dtp_config_server_tls(
    rpc_tls_opts *out, const dtp_config *cfg);

/* dtp_config_log logs `starting` with the effective config, secrets redacted.
 */
void dtp_config_log(const dtp_config *cfg);

#endif /* SCHEDULER_CONFIG_H */
