/* db_status_test.c: the one SQLSTATE -> tp_status table (db/conn.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db/conn.h"

static const struct {
	const char *sqlstate;
	tp_status   want;
} cases[] = {
	{ "23505", TP_ALREADY_EXISTS },    /* unique_violation */
	{ "57014", TP_DEADLINE_EXCEEDED }, /* query_canceled */
	{ "22000", TP_INVALID_ARGUMENT },  /* data_exception */
	{ "22P02", TP_INVALID_ARGUMENT },  /* invalid_text_representation */
	{ "22003", TP_INVALID_ARGUMENT },  /* numeric_value_out_of_range */
	{ "22001", TP_INVALID_ARGUMENT },  /* string_data_right_truncation */
	{ "22021", TP_INVALID_ARGUMENT },  /* character_not_in_repertoire */
	{ "40001", TP_UNAVAILABLE },       /* serialization_failure */
	{ "40P01", TP_UNAVAILABLE },       /* deadlock_detected */
	{ "08000", TP_UNAVAILABLE },       /* connection_exception */
	{ "08006", TP_UNAVAILABLE },       /* connection_failure */
	{ "08P01", TP_INTERNAL },          /* protocol_violation: our bug */
	{ "57P01", TP_UNAVAILABLE },       /* admin_shutdown */
	{ "57P02", TP_UNAVAILABLE },       /* crash_shutdown */
	{ "57P03", TP_UNAVAILABLE },       /* cannot_connect_now */
	{ "53300", TP_UNAVAILABLE },       /* too_many_connections */
	{ "23502", TP_INTERNAL },          /* not_null_violation */
	{ "23503", TP_INTERNAL },          /* foreign_key_violation */
	{ "23514", TP_INTERNAL },          /* check_violation */
	{ "42P01", TP_INTERNAL },          /* undefined_table */
	{ "42601", TP_INTERNAL },          /* syntax_error */
	{ "40002", TP_INTERNAL },          /* integrity_constraint_violation */
	{ "25P02", TP_INTERNAL },          /* in_failed_sql_transaction */
	{ "XX000", TP_INTERNAL },          /* internal_error */
	{ "2350", TP_INTERNAL },           /* malformed: too short */
	{ "235050", TP_INTERNAL },         /* malformed: too long */
	{ "", TP_INTERNAL }, { NULL, TP_UNAVAILABLE }, /* no server answer */
};

static void
test_db_status_sqlstate_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tp_status got = db_status_from_sqlstate(cases[i].sqlstate);
		if (got != cases[i].want) {
			fail_msg("sqlstate %s: got %s, want %s",
			    cases[i].sqlstate != NULL ? cases[i].sqlstate
			                              : "NULL",
			    tp_status_name(got), tp_status_name(cases[i].want));
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_db_status_sqlstate_table),
	};
	return cmocka_run_group_tests_name("db_status", tests, NULL, NULL);
}
