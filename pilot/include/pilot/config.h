/*
 * config.h: the taskpilot binary's configuration: one table of flags with
 * environment fallbacks (common/config.h), parsed once in main() before any
 * thread starts, then passed down as a const struct.
 */
#ifndef PILOT_CONFIG_H
#define PILOT_CONFIG_H

#include <stddef.h>

#include "common/config.h"
#include "common/status.h"
#include "rpc/rpc.h"

typedef struct pilot_config {
	const char *listen;       /* comma-separated nng URLs */
	const char *database_url; /* libpq URL or key=value string */
	const char *dtp_url;      /* comma-separated DTP node URLs */
	long long   rpc_threads;
	long long   dtp_timeout_ms;    /* per DTP call, retries included */
	long long   max_payload_bytes; /* web task payload limit */
	long long   max_msg_bytes;     /* RPC message limit, also to DTP */
	long long   drain_ms;          /* graceful stop waits this long */
	long long   refresh_ms;        /* refresher period; 0: off */
	long long   refresh_batch;     /* web tasks refreshed per tick */
	long long   reconcile_ms;      /* reconciler period; 0: off */
	long long   reconcile_batch;   /* binds finished per tick */
	long long   bind_grace_ms;     /* an intent this old is finished */
	const char *migrations_dir;    /* holds pilot/V<n>__*.sql */
	const char *log_level;         /* error, warn, info, debug */
	/*
	 * TLS (rpc/README.md, "TLS"): PEM file paths; NULL or "" is unset.
	 * As a server, for the tls+tcp:// listen URLs: its certificate and
	 * key, and the CA of client certificates (mutual TLS). As a client
	 * of DTP, for tls+tcp:// DTP URLs: the CA, a client certificate and
	 * key, and the name DTP's certificate must hold.
	 */
	const char *tls_cert;
	const char *tls_key;
	const char *tls_client_ca;
	const char *dtp_tls_ca;
	const char *dtp_tls_cert;
	const char *dtp_tls_key;
	const char *dtp_tls_server_name;
} pilot_config;

/* The flag table; --help is generated from it. */
extern const tp_cfg_spec pilot_config_spec;

/*
 * pilot_config_check validates what one field alone cannot: a database URL
 * is set, the log level is known, the URL lists are well formed, a web
 * task of the largest payload fits in a message, and the TLS flags come in
 * usable sets (a certificate with its key; a client CA or a DTP client
 * certificate only with what it needs). It reads no file: rpc does, at
 * start. Returns TP_OK or TP_INVALID_ARGUMENT with a usage message in err.
 */
TP_MUST_CHECK tp_status pilot_config_check(
    const pilot_config *cfg, tp_err *err);

/*
 * pilot_config_server_tls fills *out from --tls-cert, --tls-key and
 * --tls-client-ca (which also sets require_client_cert) and returns out,
 * or returns NULL when none of them is set: no TLS, so that a tls+tcp://
 * listen URL is refused by the RPC server with its "needs TLS options".
 * The paths in *out are borrowed from cfg.
 */
const rpc_tls_opts *pilot_config_server_tls(
    rpc_tls_opts *out, const pilot_config *cfg);

/*
 * pilot_config_dtp_tls is the same for the client of DTP: --dtp-tls-ca,
 * --dtp-tls-cert, --dtp-tls-key and --dtp-tls-server-name; NULL when none
 * of the three files is set.
 */
const rpc_tls_opts *pilot_config_dtp_tls(
    rpc_tls_opts *out, const pilot_config *cfg);

/*
 * pilot_config_split_urls splits a comma-separated list (spaces around the
 * commas ignored) into *out, *n_out URLs. Returns TP_OK (caller frees with
 * pilot_config_free_urls) or TP_INVALID_ARGUMENT for an empty list or an
 * empty element.
 */
TP_MUST_CHECK tp_status pilot_config_split_urls(
    char ***out, size_t *n_out, const char *list, tp_err *err);

/* pilot_config_free_urls frees what pilot_config_split_urls returned. */
void pilot_config_free_urls(char **urls, size_t n);

#endif /* PILOT_CONFIG_H */
