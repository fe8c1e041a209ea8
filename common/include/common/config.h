/*
 * config.h: one table of options per binary (long flag, environment name,
 * type, default, bounds, help). --help is generated from the table, and
 * precedence is flag > environment > default. Used once, from main(), before
 * any thread starts.
 */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"

typedef enum tp_cfg_type {
	TP_CFG_STR,    /* const char * (borrowed from argv, environ or the table) */
	TP_CFG_INT,    /* long long within [min, max] */
	TP_CFG_BOOL,   /* bool: --flag, --flag=true|false, env 1|0|true|false */
	TP_CFG_DSN,    /* like STR, but a password in it is redacted in logs */
	TP_CFG_SECRET, /* like STR, environment only, never logged */
} tp_cfg_type;

typedef struct tp_cfg_opt {
	const char *flag;  /* long flag without the dashes: "workers" */
	const char *env;   /* environment name, or NULL */
	const char *env2;  /* fallback environment name, or NULL */
	tp_cfg_type type;
	const char *def;   /* default as text, or NULL for "unset" */
	long long   min;   /* TP_CFG_INT bounds, inclusive */
	long long   max;
	size_t      offset; /* offsetof() the field in the config struct */
	const char *help;
} tp_cfg_opt;

typedef struct tp_cfg_spec {
	const char       *prog;    /* "dtp" */
	const char       *summary; /* one line for --help */
	const char       *usage;   /* "[flags]" or "[flags] COMMAND ARGS..." */
	const tp_cfg_opt *opts;
	size_t            n_opts;
	bool              positional; /* whether non-flag arguments are allowed */
} tp_cfg_spec;

/*
 * tp_cfg_parse fills the struct at cfg from defaults, the environment, and
 * argv, in that order of increasing precedence. Non-flag arguments (allowed
 * only when spec->positional) are returned in *rest / *n_rest (pointers into
 * argv; the array itself is caller-freed with free(); may be NULL when there
 * are none). Returns -1 to go on, or an exit code: 0 after --help or
 * --version (printed on stdout), 2 after a usage error (printed on stderr as
 * `invalid value for --workers (DTP_WORKERS): "abc": expected ...`).
 */
int tp_cfg_parse(const tp_cfg_spec *spec, void *cfg, int argc, char **argv,
    int *n_rest, char ***rest);

/*
 * tp_cfg_parse_int parses s as a decimal integer in [min, max]. Returns
 * TP_INVALID_ARGUMENT with a reason in err otherwise; *out only on success.
 */
TP_MUST_CHECK tp_status tp_cfg_parse_int(
    long long *out, const char *s, long long min, long long max, tp_err *err);

/*
 * tp_cfg_redact_dsn copies a connection string into buf with any password
 * replaced by "***" (URL and key=value forms). Returns buf.
 */
char *tp_cfg_redact_dsn(char *buf, size_t size, const char *dsn);

/*
 * tp_cfg_log logs the effective configuration on one line at info level,
 * secrets redacted, as `starting version=... pid=... flag=value...`.
 */
void tp_cfg_log(const tp_cfg_spec *spec, const void *cfg, const char *component);

#endif /* COMMON_CONFIG_H */
