/* config.c: tpmigrate's flags and environment (STYLE §6). */
#include <stddef.h>

#include "config_int.h"

static const tp_cfg_opt opts[] = {
	{ "database-url", "TP_MIGRATE_DATABASE_URL", "DATABASE_URL", TP_CFG_DSN,
	    NULL, 0, 0, offsetof(tpmigrate_cfg, database_url),
	    "PostgreSQL connection URL or conninfo string" },
	{ "schema", "TP_MIGRATE_SCHEMA", NULL, TP_CFG_STR, "all", 0, 0,
	    offsetof(tpmigrate_cfg, schema),
	    "schema to migrate: dtp, pilot or all" },
	{ "dir", "TP_MIGRATE_DIR", NULL, TP_CFG_STR,
	    TP_SOURCE_DIR "/db/migrations", 0, 0, offsetof(tpmigrate_cfg, dir),
	    "migrations folder, holding one folder per schema" },
	{ "log-level", "TP_LOG_LEVEL", NULL, TP_CFG_STR, "info", 0, 0,
	    offsetof(tpmigrate_cfg, log_level), "error, warn, info or debug" },
};

const tp_cfg_spec tpmigrate_spec = {
	.prog = "tpmigrate",
	.summary
	= "Apply (migrate) or show (info) the versioned SQL migrations "
	  "of the dtp and pilot schemas.\n\ncommands:\n"
	  "  migrate   apply the pending migrations\n"
	  "  info      show every migration with its state\n\n"
	  "exit status: 0 success, 1 failure, 2 usage error",
	.usage      = "[flags] migrate|info",
	.opts       = opts,
	.n_opts     = sizeof(opts) / sizeof(opts[0]),
	.positional = true,
};
