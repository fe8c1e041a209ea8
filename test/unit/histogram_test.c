/* histogram_test.c: percentiles against known distributions, error bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>

#include "common/histogram.h"

static tp_hist h;

static int
setup(void **state)
{
	(void) state;
	tp_hist_init(&h);
	return 0;
}

static void
test_histogram_empty_is_zero(void **state)
{
	(void) state;
	assert_int_equal(tp_hist_percentile(&h, 50), 0);
	assert_int_equal(h.total, 0);
}

static void
test_histogram_small_values_exact(void **state)
{
	(void) state;
	for (int v = 1; v <= 100; v++) {
		tp_hist_record(&h, v);
	}
	assert_int_equal(tp_hist_percentile(&h, 50), 50);
	assert_int_equal(tp_hist_percentile(&h, 90), 90);
	assert_int_equal(tp_hist_percentile(&h, 99), 99);
	assert_int_equal(tp_hist_percentile(&h, 100), 100);
	assert_int_equal(tp_hist_percentile(&h, 0), 1);
	assert_true(tp_hist_mean(&h) > 50.4 && tp_hist_mean(&h) < 50.6);
}

static void
test_histogram_uniform_within_error_bound(void **state)
{
	/* 1..1,000,000 in steps: percentile p must be within 1/64 of p * 1e4. */
	static const double ps[] = {1, 10, 50, 90, 99, 99.9};
	(void) state;
	for (int64_t v = 1; v <= 1000000; v++) {
		tp_hist_record(&h, v);
	}
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		double want = ps[i] * 10000.0;
		double got  = (double) tp_hist_percentile(&h, ps[i]);
		assert_true(got >= want * (1 - 1.0 / 64) - 1);
		assert_true(got <= want * (1 + 1.0 / 64) + 1);
	}
	assert_int_equal(tp_hist_percentile(&h, 100), 1000000);
}

static void
test_histogram_bucket_high_bounds_every_index(void **state)
{
	(void) state;
	for (int64_t v = 0; v < 5000000; v += 7) {
		int     i    = tp_hist_bucket_index(v);
		int64_t high = tp_hist_bucket_high(i);
		assert_true(high >= v);
		assert_true((double) (high - v) <= (double) v / 64.0 + 1);
		if (i > 0) {
			assert_true(tp_hist_bucket_high(i - 1) < v);
		}
	}
	assert_true(tp_hist_bucket_index(INT64_MAX) < TP_HIST_BUCKETS);
}

static void
test_histogram_merge_adds(void **state)
{
	tp_hist other;
	(void) state;
	tp_hist_init(&other);
	tp_hist_record(&h, 10);
	tp_hist_record(&other, 1000);
	tp_hist_record(&other, 3);
	tp_hist_merge(&h, &other);
	assert_int_equal(h.total, 3);
	assert_int_equal(h.min, 3);
	assert_int_equal(h.max, 1000);
	assert_int_equal(tp_hist_percentile(&h, 50), 10);
}

static void
test_histogram_bimodal(void **state)
{
	/* 99% at 100 us, 1% at 50 ms: p99 is 100, p99.5 is about 50 ms. */
	(void) state;
	for (int i = 0; i < 9900; i++) {
		tp_hist_record(&h, 100);
	}
	for (int i = 0; i < 100; i++) {
		tp_hist_record(&h, 50000);
	}
	assert_true(tp_hist_percentile(&h, 99) <= 101);
	assert_true(tp_hist_percentile(&h, 99.5) >= 50000);
	assert_true(tp_hist_percentile(&h, 99.5) <= 50000 + 50000 / 64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_histogram_empty_is_zero, setup),
		cmocka_unit_test_setup(test_histogram_small_values_exact, setup),
		cmocka_unit_test_setup(test_histogram_uniform_within_error_bound, setup),
		cmocka_unit_test_setup(test_histogram_bucket_high_bounds_every_index, setup),
		cmocka_unit_test_setup(test_histogram_merge_adds, setup),
		cmocka_unit_test_setup(test_histogram_bimodal, setup),
	};
	return cmocka_run_group_tests_name("histogram", tests, NULL, NULL);
}
