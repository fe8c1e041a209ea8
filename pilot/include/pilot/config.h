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
} pilot_config;

/* The flag table; --help is generated from it. */
extern const tp_cfg_spec pilot_config_spec;

/*
 * pilot_config_check validates what one field alone cannot: a database URL
 * is set, the log level is known, the URL lists are well formed, and a web
 * task of the largest payload fits in a message. Returns TP_OK or
 * TP_INVALID_ARGUMENT with a usage message in err.
 */
TP_MUST_CHECK tp_status pilot_config_check(
    const pilot_config *cfg, tp_err *err);

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
