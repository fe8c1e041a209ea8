/*
 * config.h: the dtp binary's configuration: one table of flags with
 * environment fallbacks (config.c), parsed once by main() before any thread
 * starts, then passed down as const.
 */
#ifndef SCHEDULER_CONFIG_H
#define SCHEDULER_CONFIG_H

#include <stdbool.h>

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

/* dtp_config_log logs `starting` with the effective config, secrets redacted.
 */
void dtp_config_log(const dtp_config *cfg);

#endif /* SCHEDULER_CONFIG_H */
