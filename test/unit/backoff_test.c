/*
 * backoff_test.c: retry delays (scheduler/backoff.c) stay within their
 * bounds for every attempt and random draw, and jitter spreads them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <string.h>

#include "scheduler/backoff.h"

#define DRAWS 2000

static void
test_backoff_ceiling_doubles_then_caps(void **state)
{
	dtp_backoff b
	    = { .base_ms = 1000, .max_ms = 60000, .jitter = DTP_JITTER_FULL };

	(void) state;
	assert_int_equal(dtp_backoff_ceiling_ms(&b, 1), 1000);
	assert_int_equal(dtp_backoff_ceiling_ms(&b, 2), 2000);
	assert_int_equal(dtp_backoff_ceiling_ms(&b, 3), 4000);
	assert_int_equal(dtp_backoff_ceiling_ms(&b, 6), 32000);
	assert_int_equal(dtp_backoff_ceiling_ms(&b, 7), 60000);
	assert_int_equal(dtp_backoff_ceiling_ms(&b, 100), 60000);
	/* Attempts below 1 count as the first. */
	assert_int_equal(dtp_backoff_ceiling_ms(&b, 0), 1000);
	assert_int_equal(dtp_backoff_ceiling_ms(&b, -5), 1000);
}

static void
test_backoff_caps_at_max(void **state)
{
	dtp_backoff b = {
		.base_ms = 3, .max_ms = INT64_MAX / 2, .jitter = DTP_JITTER_FULL
	};
	int64_t prev = 0;

	(void) state;
	/* No overflow however many attempts, and never decreasing. */
	for (int a = 1; a <= 1000; a++) {
		int64_t c = dtp_backoff_ceiling_ms(&b, a);
		assert_true(c >= prev);
		assert_true(c <= b.max_ms);
		assert_true(c > 0);
		prev = c;
	}
	assert_int_equal(prev, b.max_ms);
	/* A base above the cap is the cap. */
	b.base_ms = 500;
	b.max_ms  = 100;
	assert_int_equal(dtp_backoff_ceiling_ms(&b, 1), 500);
	assert_int_equal(dtp_backoff_ceiling_ms(&b, 10), 500);
}

static void
test_backoff_full_jitter_within_bounds(void **state)
{
	dtp_backoff b
	    = { .base_ms = 100, .max_ms = 10000, .jitter = DTP_JITTER_FULL };
	uint64_t seed = 42;

	(void) state;
	for (int a = 1; a <= 40; a++) {
		int64_t cap = dtp_backoff_ceiling_ms(&b, a);
		int64_t lo  = INT64_MAX;
		int64_t hi  = -1;
		for (int i = 0; i < DRAWS; i++) {
			int64_t d = dtp_backoff_delay_ms(
			    &b, a, dtp_backoff_random(&seed));
			assert_true(d >= 0);
			assert_true(d <= cap);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		/* Spread over the range, not a constant. */
		assert_true(lo <= cap / 4);
		assert_true(hi >= cap * 3 / 4);
	}
	/* The extremes of the random number. */
	assert_int_equal(dtp_backoff_delay_ms(&b, 1, 0), 0);
	assert_true(dtp_backoff_delay_ms(&b, 1, UINT64_MAX) <= 100);
}

static void
test_backoff_equal_jitter_within_bounds(void **state)
{
	dtp_backoff b
	    = { .base_ms = 100, .max_ms = 10000, .jitter = DTP_JITTER_EQUAL };
	uint64_t seed = 7;

	(void) state;
	for (int a = 1; a <= 40; a++) {
		int64_t cap = dtp_backoff_ceiling_ms(&b, a);
		int64_t lo  = INT64_MAX;
		int64_t hi  = -1;
		for (int i = 0; i < DRAWS; i++) {
			int64_t d = dtp_backoff_delay_ms(
			    &b, a, dtp_backoff_random(&seed));
			assert_true(d >= cap / 2);
			assert_true(d <= cap);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		assert_true(lo < cap / 2 + cap / 8 + 1);
		assert_true(hi > cap - cap / 8 - 1);
	}
	assert_int_equal(dtp_backoff_delay_ms(&b, 1, 0), 50);
	assert_true(dtp_backoff_delay_ms(&b, 1, UINT64_MAX) <= 100);
	/* A 1 ms ceiling still gives 0 or 1. */
	b.base_ms = 1;
	b.max_ms  = 1;
	for (uint64_t r = 0; r < 10; r++) {
		int64_t d = dtp_backoff_delay_ms(&b, 3, r);
		assert_true(d == 0 || d == 1);
	}
}

static void
test_backoff_parse_jitter(void **state)
{
	dtp_jitter j = DTP_JITTER_EQUAL;

	(void) state;
	assert_true(dtp_backoff_parse_jitter(&j, "full"));
	assert_int_equal(j, DTP_JITTER_FULL);
	assert_true(dtp_backoff_parse_jitter(&j, "equal"));
	assert_int_equal(j, DTP_JITTER_EQUAL);
	assert_false(dtp_backoff_parse_jitter(&j, "Full"));
	assert_false(dtp_backoff_parse_jitter(&j, ""));
	assert_false(dtp_backoff_parse_jitter(&j, NULL));
	assert_int_equal(j, DTP_JITTER_EQUAL);
}

static void
test_backoff_random_differs_per_seed(void **state)
{
	uint64_t a = 1;
	uint64_t b = 2;

	(void) state;
	assert_int_not_equal(dtp_backoff_random(&a), dtp_backoff_random(&b));
	assert_int_not_equal(dtp_backoff_random(&a), dtp_backoff_random(&a));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_ceiling_doubles_then_caps),
		cmocka_unit_test(test_backoff_caps_at_max),
		cmocka_unit_test(test_backoff_full_jitter_within_bounds),
		cmocka_unit_test(test_backoff_equal_jitter_within_bounds),
		cmocka_unit_test(test_backoff_parse_jitter),
		cmocka_unit_test(test_backoff_random_differs_per_seed),
	};

	return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
