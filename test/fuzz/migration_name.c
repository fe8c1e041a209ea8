/*
 * migration_name.c: fuzz target for the migration runner's file name
 * parser (db_migration_parse_name). Properties: an accepted name has a
 * version from 1 and a non-empty description that fits its buffer, has no
 * underscore left (they read as spaces) and is the name's middle part; a
 * refused one leaves the outputs alone and says why.
 */
#include <string.h>

#include "db/migrate.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char  *name = strndup((const char *) data, size);
	char   desc[DB_MIGRATION_DESC_MAX];
	char   small[8];
	int    version = -7;
	tp_err err;

	FUZZ_CHECK(name != NULL);
	memset(desc, 'x', sizeof(desc));
	if (db_migration_parse_name(&version, desc, sizeof(desc), name, &err)
	    == TP_OK) {
		size_t n = strlen(desc);
		FUZZ_CHECK(version >= 1);
		FUZZ_CHECK(n > 0 && n < sizeof(desc));
		FUZZ_CHECK(strchr(desc, '_') == NULL);
		FUZZ_CHECK(name[0] == 'V');
		FUZZ_CHECK(strlen(name) >= n + 8); /* V1__ and .sql */
		FUZZ_CHECK(strcmp(name + strlen(name) - 4, ".sql") == 0);
	} else {
		FUZZ_CHECK(version == -7);
		FUZZ_CHECK(err.code == TP_INVALID_ARGUMENT);
		FUZZ_CHECK(strstr(err.msg, "migration file name") != NULL);
	}
	/* A small description buffer is refused, never overrun. */
	version = -7;
	if (db_migration_parse_name(&version, small, sizeof(small), name, NULL)
	    == TP_OK) {
		FUZZ_CHECK(strlen(small) < sizeof(small));
	}
	free(name);
	return 0;
}
