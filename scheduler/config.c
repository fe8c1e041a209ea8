/*
 * config.c: the flag table of the dtp binary (config.h): every setting with
 * its flag, environment names, default, bounds and help.
 */
#include "scheduler/config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "exec.h"
#include "scheduler/backoff.h"

#define COMPONENT "dtp"
#define OFF(f)    offsetof(dtp_config, f)
/* The RPC layer's hard ceiling on a message. */
#define MSG_BYTES_CEILING (4LL << 20)
/* Room in a reply for everything but a task's payload and result. */
#define REPLY_OVERHEAD_BYTES (16LL << 10)

static const tp_cfg_opt opts[] = {
	{ "listen", "DTP_LISTEN", NULL, TP_CFG_STR, "tcp://127.0.0.1:9090", 0,
	    0, OFF(listen),
	    "RPC listen URLs, comma-separated (tcp://, ipc://, or "
	    "tls+tcp:// with --tls-cert)" },
	{ "database-url", "DTP_DATABASE_URL", "DATABASE_URL", TP_CFG_DSN, NULL,
	    0, 0, OFF(database_url), "PostgreSQL connection string or URL" },
	{ "workers", "DTP_WORKERS", NULL, TP_CFG_INT, "4", 1, 1024,
	    OFF(workers), "worker threads running task handlers" },
	{ "rpc-threads", "DTP_RPC_THREADS", NULL, TP_CFG_INT, "4", 1, 256,
	    OFF(rpc_threads), "RPC server threads" },
	{ "node-name", "DTP_NODE_NAME", NULL, TP_CFG_STR, NULL, 0, 0,
	    OFF(node_name),
	    "this node's name in locked_by (default <host>-<pid>)" },
	{ "lease-ms", "DTP_LEASE_MS", NULL, TP_CFG_INT, "15000", 300, 3600000,
	    OFF(lease_ms),
	    "lease of a running task, renewed every third of it" },
	{ "poll-ms", "DTP_POLL_MS", NULL, TP_CFG_INT, "1000", 10, 60000,
	    OFF(poll_ms), "slow poll for due tasks (run_at timers)" },
	{ "default-timeout-ms", "DTP_DEFAULT_TIMEOUT_MS", NULL, TP_CFG_INT,
	    "30000", 1, 86400000, OFF(default_timeout_ms),
	    "timeout of an attempt when CreateTask gives none" },
	{ "default-max-attempts", "DTP_DEFAULT_MAX_ATTEMPTS", NULL, TP_CFG_INT,
	    "3", 1, 100, OFF(default_max_attempts),
	    "attempts of a task when CreateTask gives none" },
	{ "max-payload-bytes", "DTP_MAX_PAYLOAD_BYTES", NULL, TP_CFG_INT,
	    "262144", 1, 2097152, OFF(max_payload_bytes),
	    "largest task payload and result" },
	{ "max-msg-bytes", "DTP_MAX_MSG_BYTES", NULL, TP_CFG_INT, "1048576",
	    65536, MSG_BYTES_CEILING, OFF(max_msg_bytes),
	    "largest RPC message received or sent" },
	{ "backoff-base-ms", "DTP_BACKOFF_BASE_MS", NULL, TP_CFG_INT, "1000", 1,
	    3600000, OFF(backoff_base_ms),
	    "retry delay ceiling after the first failed attempt" },
	{ "backoff-max-ms", "DTP_BACKOFF_MAX_MS", NULL, TP_CFG_INT, "60000", 1,
	    86400000, OFF(backoff_max_ms), "cap of the retry delay" },
	{ "backoff-jitter", "DTP_BACKOFF_JITTER", NULL, TP_CFG_STR, "equal", 0,
	    0, OFF(backoff_jitter),
	    "retry jitter: full (0..delay) or equal (delay/2..delay)" },
	{ "drain-ms", "DTP_DRAIN_MS", NULL, TP_CFG_INT, "10000", 0, 3600000,
	    OFF(drain_ms),
	    "on shutdown, how long running tasks may finish before they are "
	    "handed back" },
	{ "handler-grace-ms", "DTP_HANDLER_GRACE_MS", NULL, TP_CFG_INT, "5000",
	    100, 600000, OFF(handler_grace_ms),
	    "how long a handler asked to stop (cancel, timeout, lost lease, "
	    "shutdown) may run on before its attempt is ended for it and its "
	    "thread abandoned" },
	{ "exec", "DTP_EXEC", NULL, TP_CFG_STR, NULL, 0, 0, OFF(exec),
	    "exec task types, TYPE=/abs/path[,TYPE=/abs/path...]: each runs "
	    "its program (no shell, no arguments); off when empty" },
	{ "exec-kill-grace-ms", "DTP_EXEC_KILL_GRACE_MS", NULL, TP_CFG_INT,
	    "2000", 0, 60000, OFF(exec_kill_grace_ms),
	    "a stopped exec command gets SIGTERM, then SIGKILL this much "
	    "later" },
	{ "migrations-dir", "DTP_MIGRATIONS_DIR", NULL, TP_CFG_STR,
	    TP_SOURCE_DIR "/db/migrations", 0, 0, OFF(migrations_dir),
	    "folder holding dtp/V<n>__*.sql" },
	{ "log-level", "TP_LOG_LEVEL", NULL, TP_CFG_STR, "info", 0, 0,
	    OFF(log_level), "error, warn, info or debug" },
	/* TLS, as rpc/README.md ("Flags for the binaries") names them. */
	{ "tls-cert", "DTP_TLS_CERT", NULL, TP_CFG_STR, NULL, 0, 0,
	    OFF(tls_cert),
	    "tls+tcp:// listen URLs: PEM certificate (chain, leaf first) of "
	    "this server (with --tls-key)" },
	{ "tls-key", "DTP_TLS_KEY", NULL, TP_CFG_STR, NULL, 0, 0, OFF(tls_key),
	    "PEM private key of --tls-cert, unencrypted (mode 0600)" },
	{ "tls-client-ca", "DTP_TLS_CLIENT_CA", NULL, TP_CFG_STR, NULL, 0, 0,
	    OFF(tls_client_ca),
	    "PEM CA: clients on tls+tcp:// URLs must present a certificate "
	    "it signed (mutual TLS)" },
};

static const tp_cfg_spec spec = {
	.prog       = "dtp",
	.summary    = "DTP, the execution engine: runs scheduler tasks on a "
	              "worker pool and serves CreateTask, GetTask, CancelTask, "
	              "ListTasks, Health and Metrics over nng RPC.",
	.usage      = "[flags]",
	.opts       = opts,
	.n_opts     = sizeof(opts) / sizeof(opts[0]),
	.positional = false,
};

static int
usage(const char *flag, const char *env, const char *value, const char *why)
{
	fprintf(stderr, "dtp: invalid value for --%s (%s): \"%s\": %s\n", flag,
	    env, value != NULL ? value : "", why);
	return 2;
}

static bool
printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char) *s <= ' ' || (unsigned char) *s >= 0x7f) {
			return false;
		}
	}
	return true;
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

/*
 * check_tls says what the TLS flags lack, before any file is read: -1 or
 * exit code 2. The files themselves are checked by rpc_server_start.
 */
static int
check_tls(const dtp_config *cfg)
{
	static const rpc_tls_flags names = {
		.cert = { "tls-cert", "DTP_TLS_CERT" },
		.key  = { "tls-key", "DTP_TLS_KEY" },
		.ca   = { "tls-client-ca", "DTP_TLS_CLIENT_CA" },
	};
	rpc_tls_opts o;
	tp_err       err;

	if (rpc_tls_check(dtp_config_server_tls(&o, cfg), true, &names, &err)
	    != TP_OK) {
		fprintf(stderr, "dtp: %s\n", err.msg);
		return 2;
	}
	return -1;
}

/* check_exec checks the --exec list and its programs: -1 or exit code 2. */
static int
check_exec(const dtp_config *cfg)
{
	dtp_exec_spec *specs = NULL;
	size_t         n     = 0;
	tp_err         err;
	int            rc = -1;

	if (dtp_exec_parse_list(&specs, &n, cfg->exec, &err) != TP_OK) {
		return usage("exec", "DTP_EXEC", cfg->exec, err.msg);
	}
	for (size_t i = 0; i < n && rc == -1; i++) {
		struct stat st;
		char        why[DTP_EXEC_PATH_MAX + 128];
		if (stat(specs[i].path, &st) != 0 || !S_ISREG(st.st_mode)
		    || access(specs[i].path, X_OK) != 0) {
			snprintf(why, sizeof(why),
			    "type \"%s\": %s is not an executable file",
			    specs[i].type, specs[i].path);
			rc = usage("exec", "DTP_EXEC", cfg->exec, why);
		}
	}
	free(specs);
	return rc;
}

int
dtp_config_parse(dtp_config *cfg, int argc, char **argv)
{
	int          rc;
	tp_log_level level;
	dtp_jitter   jitter;

	memset(cfg, 0, sizeof(*cfg));
	if ((rc = tp_cfg_parse(&spec, cfg, argc, argv, NULL, NULL)) != -1) {
		return rc;
	}
	if (cfg->listen == NULL || *cfg->listen == '\0') {
		return usage("listen", "DTP_LISTEN", cfg->listen,
		    "expected one or more URLs");
	}
	if (cfg->database_url == NULL || *cfg->database_url == '\0') {
		fprintf(stderr,
		    "dtp: no database: set --database-url, DTP_DATABASE_URL or "
		    "DATABASE_URL\n");
		return 2;
	}
	if (cfg->node_name == NULL || *cfg->node_name == '\0') {
		char host[256] = "dtp";
		char suffix[16];
		int  n;
		if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0') {
			snprintf(host, sizeof(host), "dtp");
		}
		host[sizeof(host) - 1] = '\0';
		n = snprintf(suffix, sizeof(suffix), "-%d", (int) getpid());
		snprintf(cfg->node_name_buf, sizeof(cfg->node_name_buf),
		    "%.*s%s", (int) (DTP_NODE_NAME_MAX - (size_t) n), host,
		    suffix);
		cfg->node_name = cfg->node_name_buf;
	}
	if (strlen(cfg->node_name) > DTP_NODE_NAME_MAX
	    || !printable(cfg->node_name)) {
		return usage("node-name", "DTP_NODE_NAME", cfg->node_name,
		    "expected 1 to 63 printable characters without spaces");
	}
	if (!dtp_backoff_parse_jitter(&jitter, cfg->backoff_jitter)) {
		return usage("backoff-jitter", "DTP_BACKOFF_JITTER",
		    cfg->backoff_jitter, "expected full or equal");
	}
	if (cfg->backoff_max_ms < cfg->backoff_base_ms) {
		char v[32];
		snprintf(v, sizeof(v), "%lld", cfg->backoff_max_ms);
		return usage("backoff-max-ms", "DTP_BACKOFF_MAX_MS", v,
		    "must not be below --backoff-base-ms");
	}
	if ((rc = check_tls(cfg)) != -1) {
		return rc;
	}
	if ((rc = check_exec(cfg)) != -1) {
		return rc;
	}
	if (cfg->exec != NULL && strchr(cfg->exec, '=') != NULL
	    && cfg->handler_grace_ms <= cfg->exec_kill_grace_ms) {
		char v[32];
		snprintf(v, sizeof(v), "%lld", cfg->handler_grace_ms);
		return usage("handler-grace-ms", "DTP_HANDLER_GRACE_MS", v,
		    "must be above --exec-kill-grace-ms, so that a stopped "
		    "command can be killed first");
	}
	if (cfg->exec != NULL && strchr(cfg->exec, '=') != NULL
	    && cfg->exec_kill_grace_ms >= cfg->lease_ms / 3) {
		char v[32];
		snprintf(v, sizeof(v), "%lld", cfg->exec_kill_grace_ms);
		/*
		 * The watchdog stops an attempt a third of a lease before the
		 * lease can be taken back; a command that ignores SIGTERM must
		 * be dead (SIGKILL) by then, or two copies would overlap.
		 */
		return usage("exec-kill-grace-ms", "DTP_EXEC_KILL_GRACE_MS", v,
		    "must be below a third of --lease-ms, so that a stopped "
		    "command is gone before its lease can be taken back");
	}
	if (!tp_log_parse_level(&level, cfg->log_level)) {
		return usage("log-level", "TP_LOG_LEVEL", cfg->log_level,
		    "expected error, warn, info or debug");
	}
	/* A task's payload and result must fit in one reply together. */
	if (cfg->max_payload_bytes * 2 + REPLY_OVERHEAD_BYTES
	    > cfg->max_msg_bytes) {
		char v[32];
		snprintf(v, sizeof(v), "%lld", cfg->max_payload_bytes);
		fprintf(stderr,
		    "dtp: invalid value for --max-payload-bytes "
		    "(DTP_MAX_PAYLOAD_BYTES): \"%s\": twice the payload limit "
		    "plus %lld bytes must fit in --max-msg-bytes (%lld)\n",
		    v, REPLY_OVERHEAD_BYTES, cfg->max_msg_bytes);
		return 2;
	}
	tp_log_set_level(level);
	return -1;
}

const rpc_tls_opts *
dtp_config_server_tls(rpc_tls_opts *out, const dtp_config *cfg)
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

void
dtp_config_log(const dtp_config *cfg)
{
	tp_cfg_log(&spec, cfg, COMPONENT);
}
