/*
 * config_int.h: tpmigrate's configuration (the table is in config.c).
 * Private to the tpmigrate binary.
 */
#ifndef DB_CONFIG_INT_H
#define DB_CONFIG_INT_H

#include "common/config.h"

typedef struct tpmigrate_cfg {
	const char
	    *database_url;  /* TP_CFG_DSN: a password is redacted in logs */
	const char *schema; /* "dtp", "pilot" or "all" */
	const char *dir;    /* holds one folder per schema */
	const char *log_level;
} tpmigrate_cfg;

extern const tp_cfg_spec tpmigrate_spec;

#endif /* DB_CONFIG_INT_H */
