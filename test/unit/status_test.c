/* status_test.c: tp_status names and numbers match gRPC's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "common/status.h"

static const struct {
	int         code;
	const char *name;
} grpc_codes[] = {
	{0, "OK"},
	{1, "CANCELLED"},
	{2, "UNKNOWN"},
	{3, "INVALID_ARGUMENT"},
	{4, "DEADLINE_EXCEEDED"},
	{5, "NOT_FOUND"},
	{6, "ALREADY_EXISTS"},
	{7, "PERMISSION_DENIED"},
	{8, "RESOURCE_EXHAUSTED"},
	{9, "FAILED_PRECONDITION"},
	{10, "ABORTED"},
	{11, "OUT_OF_RANGE"},
	{12, "UNIMPLEMENTED"},
	{13, "INTERNAL"},
	{14, "UNAVAILABLE"},
	{15, "DATA_LOSS"},
	{16, "UNAUTHENTICATED"},
};

static void
test_status_names_match_grpc(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(grpc_codes) / sizeof(grpc_codes[0]); i++) {
		tp_status parsed = TP_INTERNAL;
		assert_string_equal(
		    tp_status_name(grpc_codes[i].code), grpc_codes[i].name);
		assert_true(tp_status_from_name(&parsed, grpc_codes[i].name));
		assert_int_equal(parsed, grpc_codes[i].code);
	}
}

static void
test_status_out_of_range_is_unknown(void **state)
{
	tp_status parsed = TP_OK;
	(void) state;
	assert_string_equal(tp_status_name(-1), "UNKNOWN");
	assert_string_equal(tp_status_name(17), "UNKNOWN");
	assert_false(tp_status_from_name(&parsed, "NOPE"));
	assert_int_equal(parsed, TP_OK);
}

static void
test_status_err_set_formats_and_returns_code(void **state)
{
	tp_err err;
	(void) state;
	assert_int_equal(tp_err_set(&err, TP_NOT_FOUND, "task %d not found", 42),
	    TP_NOT_FOUND);
	assert_int_equal(err.code, TP_NOT_FOUND);
	assert_string_equal(err.msg, "task 42 not found");
	assert_int_equal(tp_err_set(NULL, TP_INTERNAL, "x"), TP_INTERNAL);
	tp_err_clear(&err);
	assert_int_equal(err.code, TP_OK);
	assert_string_equal(err.msg, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_names_match_grpc),
		cmocka_unit_test(test_status_out_of_range_is_unknown),
		cmocka_unit_test(test_status_err_set_formats_and_returns_code),
	};
	return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
