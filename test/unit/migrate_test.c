/* migrate_test.c: the migration file name parser and the checksum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "db/migrate.h"

static const struct {
	const char *name;
	int         version; /* 0: must be rejected */
	const char *desc;
} names[] = {
	{ "V1__create_task.sql", 1, "create task" },
	{ "V2__add_scheduler_task_id.sql", 2, "add scheduler task id" },
	{ "V10__x.sql", 10, "x" },
	{ "V2147483647__max.sql", 2147483647, "max" },
	{ "V7__MixedCase9.sql", 7, "MixedCase9" },
	{ "V3__a_b_c.sql", 3, "a b c" },
	{ "V0__zero.sql", 0, NULL },                 /* versions start at 1 */
	{ "V01__lead.sql", 0, NULL },                /* leading zero */
	{ "V1_x.sql", 0, NULL },                     /* one underscore */
	{ "V1__.sql", 0, NULL },                     /* empty description */
	{ "v1__x.sql", 0, NULL },                    /* lower-case v */
	{ "V1__x.SQL", 0, NULL },                    /* upper-case extension */
	{ "V2147483648__big.sql", 0, NULL },         /* INT32_MAX + 1 */
	{ "V99999999999999999999__x.sql", 0, NULL }, /* overflow */
	{ "V__x.sql", 0, NULL },                     /* no version */
	{ "V1__x", 0, NULL },                        /* no extension */
	{ "V1__x.sql.bak", 0, NULL },
	{ "V1__x-y.sql", 0, NULL }, /* '-' not allowed */
	{ "V1__x y.sql", 0, NULL }, /* space not allowed */
	{ "V1___x.sql", 0, NULL },  /* description starts with _ */
	{ "V1__x_.sql", 0, NULL },  /* description ends with _ */
	{ "V1.1__x.sql", 0, NULL }, /* no dotted versions */
	{ "U1__x.sql", 0, NULL },   /* undo migrations unsupported */
	{ "R__x.sql", 0, NULL },    /* repeatable unsupported */
	{ ".sql", 0, NULL },
	{ "", 0, NULL },
	{ "V-1__x.sql", 0, NULL },
	{ "V+1__x.sql", 0, NULL },
	{ " V1__x.sql", 0, NULL },
};

static void
test_migrate_parse_name_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int       version                     = -7;
		char      desc[DB_MIGRATION_DESC_MAX] = "untouched";
		tp_err    err                         = { 0 };
		tp_status rc;

		rc = db_migration_parse_name(
		    &version, desc, sizeof(desc), names[i].name, &err);
		if (names[i].version > 0) {
			if (rc != TP_OK) {
				fail_msg("\"%s\" rejected: %s", names[i].name,
				    err.msg);
			}
			assert_int_equal(version, names[i].version);
			assert_string_equal(desc, names[i].desc);
		} else {
			if (rc != TP_INVALID_ARGUMENT) {
				fail_msg("\"%s\" accepted (rc %d)",
				    names[i].name, rc);
			}
			assert_int_equal(err.code, TP_INVALID_ARGUMENT);
			/* The reason quotes the name; outputs stay untouched.
			 */
			assert_non_null(
			    strstr(err.msg, "invalid migration file name"));
			assert_int_equal(version, -7);
			assert_string_equal(desc, "untouched");
		}
	}
}

static void
test_migrate_parse_name_description_too_long(void **state)
{
	char   name[DB_MIGRATION_DESC_MAX + 32];
	char   desc[DB_MIGRATION_DESC_MAX];
	char   small[4];
	int    version = 0;
	tp_err err     = { 0 };
	size_t n;

	(void) state;
	n = (size_t) snprintf(name, sizeof(name), "V1__");
	memset(name + n, 'a', DB_MIGRATION_DESC_MAX);
	strcpy(name + n + DB_MIGRATION_DESC_MAX, ".sql");
	assert_int_equal(
	    db_migration_parse_name(&version, desc, sizeof(desc), name, &err),
	    TP_INVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "longer than"));
	/* The caller's buffer bounds the description too. */
	assert_int_equal(db_migration_parse_name(&version, small, sizeof(small),
	                     "V1__abcd.sql", &err),
	    TP_INVALID_ARGUMENT);
	assert_int_equal(db_migration_parse_name(&version, small, sizeof(small),
	                     "V1__abc.sql", &err),
	    TP_OK);
	assert_string_equal(small, "abc");
}

static void
test_migrate_parse_name_null_err_is_fine(void **state)
{
	int  version;
	char desc[16];

	(void) state;
	assert_int_equal(
	    db_migration_parse_name(&version, desc, sizeof(desc), "x", NULL),
	    TP_INVALID_ARGUMENT);
	assert_int_equal(
	    db_migration_parse_name(&version, desc, sizeof(desc), NULL, NULL),
	    TP_INVALID_ARGUMENT);
}

static void
test_migrate_checksum_known_values(void **state)
{
	(void) state;
	/* CRC-32/ISO-HDLC check value: 0xCBF43926. */
	assert_int_equal(
	    db_migration_checksum("123456789", 9), (int32_t) 0xCBF43926u);
	assert_int_equal(db_migration_checksum("123456789", 9), -873187034);
	assert_int_equal(db_migration_checksum("", 0), 0);
	/* zlib.crc32(b"The quick brown fox jumps over the lazy dog") */
	assert_int_equal(db_migration_checksum(
	                     "The quick brown fox jumps over the lazy dog", 43),
	    (int32_t) 0x414FA339u);
}

static void
test_migrate_checksum_sees_every_byte(void **state)
{
	char a[] = "CREATE TABLE t (id int);\n";
	char b[] = "CREATE TABLE t (id int);\n";

	(void) state;
	assert_int_equal(db_migration_checksum(a, sizeof(a) - 1),
	    db_migration_checksum(b, sizeof(b) - 1));
	b[sizeof(b) - 2] = ' ';
	assert_int_not_equal(db_migration_checksum(a, sizeof(a) - 1),
	    db_migration_checksum(b, sizeof(b) - 1));
	/* Length matters, NUL bytes included. */
	assert_int_not_equal(
	    db_migration_checksum("a\0", 2), db_migration_checksum("a", 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_parse_name_table),
		cmocka_unit_test(test_migrate_parse_name_description_too_long),
		cmocka_unit_test(test_migrate_parse_name_null_err_is_fine),
		cmocka_unit_test(test_migrate_checksum_known_values),
		cmocka_unit_test(test_migrate_checksum_sees_every_byte),
	};
	return cmocka_run_group_tests_name("migrate", tests, NULL, NULL);
}
