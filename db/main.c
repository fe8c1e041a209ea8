/*
 * main.c: tpmigrate, the migration runner as a command: `tpmigrate [flags]
 * migrate|info`. Exit 0 on success, 1 on failure, 2 on a usage error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "config_int.h"
#include "db/conn.h"
#include "db/migrate.h"

static int
run(const tpmigrate_cfg *cfg, const char *command, const char *const *schemas,
    int n_schemas)
{
	db_conn *c    = NULL;
	int      code = 0;
	tp_err   err  = { 0 };

	if (db_conn_open(&c, cfg->database_url, &err) != TP_OK) {
		fprintf(stderr, "tpmigrate: %s\n", err.msg);
		return 1;
	}
	for (int i = 0; i < n_schemas && code == 0; i++) {
		char      dir[4096];
		tp_status rc;

		if (snprintf(dir, sizeof(dir), "%s/%s", cfg->dir, schemas[i])
		    >= (int) sizeof(dir)) {
			fprintf(
			    stderr, "tpmigrate: migrations path too long\n");
			code = 1;
			break;
		}
		if (strcmp(command, "migrate") == 0) {
			rc = db_migrate(c, schemas[i], dir, &err);
		} else {
			if (i > 0) {
				printf("\n");
			}
			rc = db_migrate_info(c, schemas[i], dir, stdout, &err);
		}
		if (rc != TP_OK) {
			fprintf(stderr,
			    "tpmigrate: %s failed for schema %s: %s: %s\n",
			    command, schemas[i], tp_status_name(rc), err.msg);
			code = 1;
		}
	}
	db_conn_free(c);
	return code;
}

int
main(int argc, char **argv)
{
	static const char *const all[] = { "dtp", "pilot" };
	tpmigrate_cfg            cfg   = { 0 };
	char                   **rest  = NULL;
	int                      nrest = 0;
	int                      code;
	tp_log_level             level;
	const char *const       *schemas;
	int                      n_schemas;

	code = tp_cfg_parse(&tpmigrate_spec, &cfg, argc, argv, &nrest, &rest);
	if (code >= 0) {
		return code;
	}
	if (nrest != 1
	    || (strcmp(rest[0], "migrate") != 0
	        && strcmp(rest[0], "info") != 0)) {
		fprintf(stderr,
		    "tpmigrate: expected one command, migrate or info "
		    "(try --help)\n");
		free(rest);
		return 2;
	}
	if (!tp_log_parse_level(&level, cfg.log_level)) {
		fprintf(stderr,
		    "tpmigrate: invalid value for --log-level "
		    "(TP_LOG_LEVEL): \"%s\": expected error, warn, info "
		    "or debug\n",
		    cfg.log_level);
		free(rest);
		return 2;
	}
	tp_log_set_level(level);
	if (cfg.database_url == NULL || *cfg.database_url == '\0') {
		fprintf(stderr,
		    "tpmigrate: no database: set --database-url, "
		    "TP_MIGRATE_DATABASE_URL or DATABASE_URL\n");
		free(rest);
		return 2;
	}
	if (strcmp(cfg.schema, "all") == 0) {
		schemas   = all;
		n_schemas = 2;
	} else if (strcmp(cfg.schema, "dtp") == 0) {
		schemas   = &all[0];
		n_schemas = 1;
	} else if (strcmp(cfg.schema, "pilot") == 0) {
		schemas   = &all[1];
		n_schemas = 1;
	} else {
		fprintf(stderr,
		    "tpmigrate: invalid value for --schema "
		    "(TP_MIGRATE_SCHEMA): \"%s\": expected dtp, pilot "
		    "or all\n",
		    cfg.schema);
		free(rest);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	tp_cfg_log(&tpmigrate_spec, &cfg, "tpmigrate");
	code = run(&cfg, rest[0], schemas, n_schemas);
	tp_log_info("tpmigrate", "%s command=%s", code == 0 ? "done" : "failed",
	    rest[0]);
	free(rest);
	return code;
}
