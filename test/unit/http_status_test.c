/*
 * http_status_test.c: the one tp_status -> HTTP table (shim/http_status.c),
 * every code, and the bearer token check that decides 401 (shim/auth.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "shim/auth.h"
#include "shim/http_status.h"

static const struct {
	int code;
	int http;
} table[] = {
	{ TP_OK, 200 },
	{ TP_CANCELLED, 499 },
	{ TP_UNKNOWN, 500 },
	{ TP_INVALID_ARGUMENT, 400 },
	{ TP_DEADLINE_EXCEEDED, 504 },
	{ TP_NOT_FOUND, 404 },
	{ TP_ALREADY_EXISTS, 409 },
	{ TP_PERMISSION_DENIED, 403 },
	{ TP_RESOURCE_EXHAUSTED, 429 },
	{ TP_FAILED_PRECONDITION, 409 }, /* DESIGN §7's departure */
	{ TP_ABORTED, 500 },
	{ TP_OUT_OF_RANGE, 500 },
	{ TP_UNIMPLEMENTED, 501 },
	{ TP_INTERNAL, 500 },
	{ TP_UNAVAILABLE, 503 },
	{ TP_DATA_LOSS, 500 },
	{ TP_UNAUTHENTICATED, 401 },
};

static void
test_http_status_every_code(void **state)
{
	(void) state;
	/* The table covers every code of the enum, each once. */
	assert_int_equal(sizeof(table) / sizeof(table[0]), TP_STATUS_MAX + 1);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		assert_int_equal(table[i].code, (int) i);
		if (shim_http_status(table[i].code) != table[i].http) {
			fail_msg("%s: got %d, want %d",
			    tp_status_name(table[i].code),
			    shim_http_status(table[i].code), table[i].http);
		}
	}
}

static void
test_http_status_out_of_range_is_500(void **state)
{
	(void) state;
	assert_int_equal(shim_http_status(-1), 500);
	assert_int_equal(shim_http_status(TP_STATUS_MAX + 1), 500);
	assert_int_equal(shim_http_status(1000), 500);
}

static void
test_auth_bearer(void **state)
{
	(void) state;
	assert_true(shim_auth_bearer_ok("Bearer s3cret", "s3cret"));
	assert_true(shim_auth_bearer_ok("bearer s3cret", "s3cret"));
	assert_true(shim_auth_bearer_ok("BEARER s3cret", "s3cret"));
	assert_false(shim_auth_bearer_ok(NULL, "s3cret"));
	assert_false(shim_auth_bearer_ok("", "s3cret"));
	assert_false(shim_auth_bearer_ok("Bearer", "s3cret"));
	assert_false(shim_auth_bearer_ok("Bearer ", "s3cret"));
	assert_false(shim_auth_bearer_ok("Bearer s3cre", "s3cret"));
	assert_false(shim_auth_bearer_ok("Bearer s3cret2", "s3cret"));
	assert_false(shim_auth_bearer_ok("Bearer S3cret", "s3cret"));
	assert_false(shim_auth_bearer_ok("Bearer  s3cret", "s3cret"));
	assert_false(shim_auth_bearer_ok("Basic s3cret", "s3cret"));
	assert_false(shim_auth_bearer_ok("s3cret", "s3cret"));
	/* An empty or absent token never lets anything in. */
	assert_false(shim_auth_bearer_ok("Bearer ", ""));
	assert_false(shim_auth_bearer_ok("Bearer x", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_status_every_code),
		cmocka_unit_test(test_http_status_out_of_range_is_500),
		cmocka_unit_test(test_auth_bearer),
	};
	return cmocka_run_group_tests_name("http_status", tests, NULL, NULL);
}
