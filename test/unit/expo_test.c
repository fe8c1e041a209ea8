/*
 * expo_test.c: the strict Prometheus text parser (shim/expo.c) must accept
 * good documents and refuse each kind of bad one: the gateway relies on it
 * to keep a service's bad metrics out of a scrape, and the metrics tests to
 * check the gateway's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "shim/expo.h"

#define HIST_OK                                               \
	"# HELP h_seconds Latency.\n"                         \
	"# TYPE h_seconds histogram\n"                        \
	"h_seconds_bucket{route=\"/a/{id}\",le=\"0.5\"} 1\n"  \
	"h_seconds_bucket{route=\"/a/{id}\",le=\"1\"} 3\n"    \
	"h_seconds_bucket{route=\"/a/{id}\",le=\"+Inf\"} 4\n" \
	"h_seconds_sum{route=\"/a/{id}\"} 2.75\n"             \
	"h_seconds_count{route=\"/a/{id}\"} 4\n"              \
	"h_seconds_bucket{route=\"/b\",le=\"0.5\"} 0\n"       \
	"h_seconds_bucket{route=\"/b\",le=\"1\"} 0\n"         \
	"h_seconds_bucket{route=\"/b\",le=\"+Inf\"} 0\n"      \
	"h_seconds_sum{route=\"/b\"} 0\n"                     \
	"h_seconds_count{route=\"/b\"} 0\n"

static const char *const good[] = {
	"",
	"# HELP c_total Things.\n# TYPE c_total counter\nc_total 3\n"
	"c_total{a=\"x\"} 4\n",
	"# TYPE g gauge\ng -1.5e-3\ng{k=\"v\"} NaN\ng{k=\"w\"} +Inf\n",
	"# HELP e Escapes: \\\\ and \\n.\n# TYPE e gauge\n"
	"e{v=\"q\\\"b\\\\n\\n\",w=\"\xc3\xa9\"} 1\n",
	"plain 1 1700000000000\nother_name{a=\"1\",} 2 -5\n",
	"# a comment\n# TYPE u untyped\nu 1\n",
	"x:y_z 1\n",
	HIST_OK,
};

static const struct {
	const char *text;
	const char *msg;
} bad[] = {
	{ "g 1", "does not end in a newline" },
	{ "g 1\r\n", "carriage return" },
	{ "g 1\n\ng2 1\n", "blank line" },
	{ "1g 1\n", "expected a metric name" },
	{ "g{__x=\"1\"} 1\n", "reserved" },
	{ "g{a=\"1\",a=\"2\"} 1\n", "given twice" },
	{ "g{a=\"\\t\"} 1\n", "bad escape" },
	{ "g{a=\"1} 1\n", "unterminated" },
	{ "g{a=1} 1\n", "quoted value" },
	{ "g{a:b=\"1\"} 1\n", "expected =" },
	{ "g{a=\"\xff\"} 1\n", "not UTF-8" },
	{ "g 1,5\n", "bad value" },
	{ "g one\n", "bad value" },
	{ "g\n", "blank before the value" },
	{ "g 1 12a\n", "bad timestamp" },
	{ "# HELP g a\n# HELP g b\ng 1\n", "HELP for g given twice" },
	{ "# HELP g a\n# TYPE g gauge\n# TYPE g gauge\n", "TYPE for g given" },
	{ "# HELP g a\\t\n", "bad escape in HELP" },
	{ "g 1\n# TYPE g gauge\n", "after its samples" },
	{ "# TYPE g meter\n", "unknown type" },
	{ "a 1\nb 1\na{x=\"1\"} 1\n", "not in one group" },
	{ "# TYPE g gauge\ng 1\n# TYPE h gauge\nh 1\n# HELP g x\n",
	    "after its group ended" },
	{ "g{a=\"1\"} 1\ng{a=\"1\"} 2\n", "given twice" },
	{ "# TYPE c_total counter\nc_total -1\n", "negative" },
	{ "# TYPE c counter\nc 1\n", "does not end in _total" },
	{ "# TYPE h histogram\nh 1\n", "must be _bucket, _sum or _count" },
	{ "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
	    "do not end with le=\"+Inf\"" },
	{ "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} "
	  "1\nh_sum 1\nh_count 1\n",
	    "not cumulative" },
	{ "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} "
	  "1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
	    "out of order" },
	{ "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
	    "differs from the +Inf bucket" },
	{ "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
	    "one _sum and one _count" },
	{ "# TYPE h histogram\nh_bucket 1\n", "without a numeric le" },
	{ "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n",
	    "without a numeric le" },
	{ "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum{le=\"1\"} 1\n"
	  "h_count 1\n",
	    "has an le label" },
};

static void
test_expo_accepts_good_documents(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		shim_expo_doc doc;
		tp_err        err;
		if (shim_expo_parse(&doc, good[i], strlen(good[i]), &err)
		    != TP_OK) {
			fail_msg("good[%zu] refused: %s", i, err.msg);
		}
		shim_expo_free(&doc);
	}
}

static void
test_expo_refuses_bad_documents(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		shim_expo_doc doc = { (shim_expo_family *) &doc, 77 };
		tp_err        err;
		if (shim_expo_parse(
		        &doc, bad[i].text, strlen(bad[i].text), &err)
		    != TP_INVALID_ARGUMENT) {
			fail_msg("bad[%zu] accepted: %s", i, bad[i].text);
		}
		/* Written only on success. */
		assert_int_equal(doc.n_families, 77);
		assert_int_equal(err.code, TP_INVALID_ARGUMENT);
		if (strstr(err.msg, bad[i].msg) == NULL) {
			fail_msg("bad[%zu]: error \"%s\" lacks \"%s\"", i,
			    err.msg, bad[i].msg);
		}
	}
}

static void
test_expo_values_and_lookups(void **state)
{
	shim_expo_doc           doc;
	tp_err                  err;
	double                  v = 0;
	const shim_expo_family *f;
	(void) state;

	assert_int_equal(
	    shim_expo_parse(&doc, good[3], strlen(good[3]), &err), TP_OK);
	f = shim_expo_family_get(&doc, "e");
	assert_non_null(f);
	assert_string_equal(f->help, "Escapes: \\ and \n.");
	assert_string_equal(f->type, "gauge");
	assert_int_equal(f->n_samples, 1);
	assert_string_equal(f->samples[0].labels[0].value, "q\"b\\n\n");
	assert_string_equal(f->samples[0].labels[1].value, "\xc3\xa9");
	shim_expo_free(&doc);

	assert_int_equal(
	    shim_expo_parse(&doc, HIST_OK, strlen(HIST_OK), &err), TP_OK);
	assert_int_equal(shim_expo_get(&doc, &v, "h_seconds_bucket",
	                     "route=/a/{id}", "le=1", NULL),
	    1);
	assert_true(v == 3);
	assert_int_equal(
	    shim_expo_get(&doc, &v, "h_seconds_sum", "route=/a/{id}", NULL), 1);
	assert_true(v == 2.75);
	assert_int_equal(shim_expo_get(&doc, &v, "h_seconds_count", NULL), 2);
	assert_int_equal(shim_expo_get(&doc, &v, "nope", NULL), 0);
	assert_null(shim_expo_family_get(&doc, "nope"));
	assert_string_equal(
	    shim_expo_family_get(&doc, "h_seconds")->type, "histogram");
	shim_expo_free(&doc);

	assert_int_equal(
	    shim_expo_parse(&doc, good[2], strlen(good[2]), &err), TP_OK);
	assert_int_equal(shim_expo_get(&doc, &v, "g", "k=v", NULL), 1);
	assert_true(isnan(v));
	assert_int_equal(shim_expo_get(&doc, &v, "g", "k=w", NULL), 1);
	assert_true(isinf(v) && v > 0);
	shim_expo_free(&doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expo_accepts_good_documents),
		cmocka_unit_test(test_expo_refuses_bad_documents),
		cmocka_unit_test(test_expo_values_and_lookups),
	};
	return cmocka_run_group_tests_name("expo", tests, NULL, NULL);
}
