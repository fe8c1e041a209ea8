/* config.c: taskpilot's flag table and its cross-field checks (config.h). */
#include "pilot/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "pilot/webtask.h"

/* A web task's fields around its payload, with the reply around it. */
#define MSG_OVERHEAD_BYTES 4096
#define MIB                (1024LL * 1024LL)

static const tp_cfg_opt opts[] = {
	{ "listen", "PILOT_LISTEN", NULL, TP_CFG_STR, "tcp://127.0.0.1:9091", 0,
	    0, offsetof(pilot_config, listen),
	    "RPC listen URLs, comma-separated (tcp://, ipc://, or "
	    "tls+tcp:// with --tls-cert)" },
	{ "database-url", "PILOT_DATABASE_URL", "DATABASE_URL", TP_CFG_DSN,
	    NULL, 0, 0, offsetof(pilot_config, database_url),
	    "PostgreSQL connection string of the pilot schema (required)" },
	{ "dtp-url", "PILOT_DTP_URL", NULL, TP_CFG_STR, "tcp://127.0.0.1:9090",
	    0, 0, offsetof(pilot_config, dtp_url),
	    "DTP node RPC URLs, comma-separated" },
	{ "rpc-threads", "PILOT_RPC_THREADS", NULL, TP_CFG_INT, "4", 1, 256,
	    offsetof(pilot_config, rpc_threads),
	    "RPC worker threads (one database connection each)" },
	{ "dtp-timeout-ms", "PILOT_DTP_TIMEOUT_MS", NULL, TP_CFG_INT, "3000",
	    10, 600000, offsetof(pilot_config, dtp_timeout_ms),
	    "deadline of one call to DTP, retries included (shorter when "
	    "the caller's own deadline is nearer)" },
	{ "max-payload-bytes", "PILOT_MAX_PAYLOAD_BYTES", NULL, TP_CFG_INT,
	    "262144", 1, 4 * MIB - MSG_OVERHEAD_BYTES,
	    offsetof(pilot_config, max_payload_bytes),
	    "largest web task payload" },
	{ "max-msg-bytes", "PILOT_MAX_MSG_BYTES", NULL, TP_CFG_INT, "1048576",
	    8192, 4 * MIB, offsetof(pilot_config, max_msg_bytes),
	    "largest RPC message, in and out, to clients and to DTP "
	    "(keep it equal to DTP's --max-msg-bytes)" },
	{ "drain-ms", "PILOT_DRAIN_MS", NULL, TP_CFG_INT, "5000", 0, 600000,
	    offsetof(pilot_config, drain_ms),
	    "how long a graceful stop waits for calls in flight" },
	{ "refresh-ms", "PILOT_REFRESH_MS", NULL, TP_CFG_INT, "2000", 0,
	    3600000, offsetof(pilot_config, refresh_ms),
	    "how often the refresher asks DTP about bound, unfinished web "
	    "tasks, so their cached execution status stays fresh (0: off)" },
	{ "refresh-batch", "PILOT_REFRESH_BATCH", NULL, TP_CFG_INT, "50", 1,
	    1000, offsetof(pilot_config, refresh_batch),
	    "web tasks the refresher asks about per tick, least recently "
	    "asked first" },
	{ "reconcile-ms", "PILOT_RECONCILE_MS", NULL, TP_CFG_INT, "1000", 0,
	    3600000, offsetof(pilot_config, reconcile_ms),
	    "how often the reconciler looks for binds a crash or a lost DTP "
	    "cut short, and finishes them (0: off)" },
	{ "reconcile-batch", "PILOT_RECONCILE_BATCH", NULL, TP_CFG_INT, "20", 1,
	    1000, offsetof(pilot_config, reconcile_batch),
	    "binds the reconciler finishes per tick, oldest first" },
	{ "bind-grace-ms", "PILOT_BIND_GRACE_MS", NULL, TP_CFG_INT, "5000", 0,
	    86400000, offsetof(pilot_config, bind_grace_ms),
	    "age of an unfinished bind before the reconciler finishes it "
	    "(keep it above --dtp-timeout-ms, so it rarely races a live "
	    "bind; a race still makes one DTP task)" },
	{ "migrations-dir", "PILOT_MIGRATIONS_DIR", NULL, TP_CFG_STR,
	    TP_SOURCE_DIR "/db/migrations", 0, 0,
	    offsetof(pilot_config, migrations_dir),
	    "folder holding pilot/V<n>__*.sql" },
	{ "log-level", "TP_LOG_LEVEL", NULL, TP_CFG_STR, "info", 0, 0,
	    offsetof(pilot_config, log_level), "error, warn, info or debug" },
	/* TLS, as rpc/README.md ("Flags for the binaries") names them. */
	{ "tls-cert", "PILOT_TLS_CERT", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(pilot_config, tls_cert),
	    "tls+tcp:// listen URLs: PEM certificate (chain, leaf first) of "
	    "this server (with --tls-key)" },
	{ "tls-key", "PILOT_TLS_KEY", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(pilot_config, tls_key),
	    "PEM private key of --tls-cert, unencrypted (mode 0600)" },
	{ "tls-client-ca", "PILOT_TLS_CLIENT_CA", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(pilot_config, tls_client_ca),
	    "PEM CA: clients on tls+tcp:// URLs must present a certificate "
	    "it signed (mutual TLS)" },
	{ "dtp-tls-ca", "PILOT_DTP_TLS_CA", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(pilot_config, dtp_tls_ca),
	    "tls+tcp:// DTP URLs: PEM CA the DTP nodes' certificates must "
	    "verify against" },
	{ "dtp-tls-cert", "PILOT_DTP_TLS_CERT", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(pilot_config, dtp_tls_cert),
	    "PEM client certificate shown to DTP nodes that require one "
	    "(with --dtp-tls-key)" },
	{ "dtp-tls-key", "PILOT_DTP_TLS_KEY", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(pilot_config, dtp_tls_key),
	    "PEM private key of --dtp-tls-cert" },
	{ "dtp-tls-server-name", "PILOT_DTP_TLS_SERVER_NAME", NULL, TP_CFG_STR,
	    NULL, 0, 0, offsetof(pilot_config, dtp_tls_server_name),
	    "name the DTP nodes' certificates must hold (default: each URL's "
	    "host)" },
};

const tp_cfg_spec pilot_config_spec = {
	.prog       = "taskpilot",
	.summary    = "TaskPilot: the control plane. Owns web tasks and binds "
	              "them to DTP tasks; never runs a task itself.",
	.usage      = "[flags]",
	.opts       = opts,
	.n_opts     = sizeof(opts) / sizeof(opts[0]),
	.positional = false,
};

tp_status
pilot_config_split_urls(
    char ***out, size_t *n_out, const char *list, tp_err *err)
{
	char      **urls = NULL;
	size_t      n    = 0;
	const char *p    = list;

	if (list == NULL || list[0] == '\0') {
		return tp_err_set(err, TP_INVALID_ARGUMENT, "no URL given");
	}
	for (;;) {
		const char *end = strchr(p, ',');
		size_t      len = end != NULL ? (size_t) (end - p) : strlen(p);
		const char *s   = p;

		while (len > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
			len--;
		}
		if (len == 0) {
			pilot_config_free_urls(urls, n);
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "empty URL in \"%s\"", list);
		}
		urls      = tp_xrealloc(urls, sizeof(*urls) * (n + 1));
		urls[n++] = tp_xstrndup(s, len);
		if (end == NULL) {
			break;
		}
		p = end + 1;
	}
	*out   = urls;
	*n_out = n;
	return TP_OK;
}

void
pilot_config_free_urls(char **urls, size_t n)
{
	if (urls == NULL) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		free(urls[i]);
	}
	free(urls);
}

static tp_status
check_urls(const char *flag, const char *env, const char *list, tp_err *err)
{
	char **urls = NULL;
	size_t n    = 0;
	tp_err e;

	if (pilot_config_split_urls(&urls, &n, list, &e) != TP_OK) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid value for --%s (%s): \"%s\": %s", flag, env,
		    list != NULL ? list : "", e.msg);
	}
	for (size_t i = 0; i < n; i++) {
		if (strstr(urls[i], "://") == NULL) {
			tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid value for --%s (%s): \"%s\": expected nng "
			    "URLs such as tcp://127.0.0.1:9091",
			    flag, env, urls[i]);
			pilot_config_free_urls(urls, n);
			return TP_INVALID_ARGUMENT;
		}
	}
	pilot_config_free_urls(urls, n);
	return TP_OK;
}

/* is_set: an empty flag or variable counts as unset. */
static bool
is_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static const char *
nonempty(const char *s)
{
	return is_set(s) ? s : NULL;
}

const rpc_tls_opts *
pilot_config_server_tls(rpc_tls_opts *out, const pilot_config *cfg)
{
	if (!is_set(cfg->tls_cert) && !is_set(cfg->tls_key)
	    && !is_set(cfg->tls_client_ca)) {
		return NULL;
	}
	memset(out, 0, sizeof(*out));
	out->cert_file           = nonempty(cfg->tls_cert);
	out->key_file            = nonempty(cfg->tls_key);
	out->ca_file             = nonempty(cfg->tls_client_ca);
	out->require_client_cert = out->ca_file != NULL;
	return out;
}

const rpc_tls_opts *
pilot_config_dtp_tls(rpc_tls_opts *out, const pilot_config *cfg)
{
	if (!is_set(cfg->dtp_tls_ca) && !is_set(cfg->dtp_tls_cert)
	    && !is_set(cfg->dtp_tls_key) && !is_set(cfg->dtp_tls_server_name)) {
		return NULL;
	}
	memset(out, 0, sizeof(*out));
	out->ca_file     = nonempty(cfg->dtp_tls_ca);
	out->cert_file   = nonempty(cfg->dtp_tls_cert);
	out->key_file    = nonempty(cfg->dtp_tls_key);
	out->server_name = nonempty(cfg->dtp_tls_server_name);
	return out;
}

/*
 * check_tls says what the two TLS flag sets lack, before any file is read
 * (rpc_tls_check).
 */
static tp_status
check_tls(const pilot_config *cfg, tp_err *err)
{
	static const rpc_tls_flags server = {
		.cert = { "tls-cert", "PILOT_TLS_CERT" },
		.key  = { "tls-key", "PILOT_TLS_KEY" },
		.ca   = { "tls-client-ca", "PILOT_TLS_CLIENT_CA" },
	};
	static const rpc_tls_flags client = {
		.cert        = { "dtp-tls-cert", "PILOT_DTP_TLS_CERT" },
		.key         = { "dtp-tls-key", "PILOT_DTP_TLS_KEY" },
		.ca          = { "dtp-tls-ca", "PILOT_DTP_TLS_CA" },
		.server_name = { "dtp-tls-server-name",
		            "PILOT_DTP_TLS_SERVER_NAME" },
	};
	rpc_tls_opts o;
	tp_status    rc;

	if ((rc = rpc_tls_check(
	         pilot_config_server_tls(&o, cfg), true, &server, err))
	    != TP_OK) {
		return rc;
	}
	return rpc_tls_check(pilot_config_dtp_tls(&o, cfg), false, &client, err);
}

tp_status
pilot_config_check(const pilot_config *cfg, tp_err *err)
{
	tp_log_level level;
	tp_status    rc;

	if (cfg->database_url == NULL || cfg->database_url[0] == '\0') {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "a database is required: set --database-url "
		    "(PILOT_DATABASE_URL, then DATABASE_URL)");
	}
	if (cfg->log_level == NULL
	    || !tp_log_parse_level(&level, cfg->log_level)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid value for --log-level (TP_LOG_LEVEL): \"%s\": "
		    "expected error, warn, info or debug",
		    cfg->log_level != NULL ? cfg->log_level : "");
	}
	if ((rc = check_urls("listen", "PILOT_LISTEN", cfg->listen, err))
	    != TP_OK) {
		return rc;
	}
	if ((rc = check_urls("dtp-url", "PILOT_DTP_URL", cfg->dtp_url, err))
	    != TP_OK) {
		return rc;
	}
	if (cfg->max_payload_bytes + MSG_OVERHEAD_BYTES > cfg->max_msg_bytes) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid value for --max-payload-bytes "
		    "(PILOT_MAX_PAYLOAD_BYTES): \"%lld\": must leave %d bytes "
		    "of --max-msg-bytes (%lld) for the rest of a message",
		    cfg->max_payload_bytes, MSG_OVERHEAD_BYTES,
		    cfg->max_msg_bytes);
	}
	if (cfg->migrations_dir == NULL || cfg->migrations_dir[0] == '\0') {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid value for --migrations-dir "
		    "(PILOT_MIGRATIONS_DIR): "
		    "\"\": expected a folder");
	}
	return check_tls(cfg, err);
}
