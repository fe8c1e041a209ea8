/*
 * metrics_test.c: the gateway's counters and their exposition
 * (shim/metrics.c): what is counted under which labels, histogram buckets,
 * that every status the gateway sends has a series, label escaping, and
 * that counting from several threads loses nothing. Every rendering is
 * checked by the strict parser of test/unit/prom_expo.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim/expo.h"
#include "shim/http_status.h"
#include "shim/metrics.h"

#define D SHIM_SERVICE_DTP
#define P SHIM_SERVICE_PILOT

/* render_parse renders svc's exposition and parses it strictly. */
static void
render_parse(shim_expo_doc *doc, shim_metrics *m, shim_service svc, char **text)
{
	shim_prom w;
	size_t    len;
	tp_err    err;
	char     *t;

	shim_prom_init(&w);
	shim_metrics_render(&w, m, svc);
	t = shim_prom_take(&w, &len);
	assert_int_equal(strlen(t), len);
	if (shim_expo_parse(doc, t, len, &err) != TP_OK) {
		fail_msg("exposition refused: %s\n%s", err.msg, t);
	}
	if (text != NULL) {
		*text = t;
	} else {
		free(t);
	}
}

static double
get1(const shim_expo_doc *doc, const char *name, const char *l1, const char *l2,
    const char *l3)
{
	double v = -1;
	int    n = shim_expo_get(doc, &v, name, l1, l2, l3, NULL);
	if (n != 1) {
		fail_msg("%s{%s,%s,%s}: %d samples, want 1", name, l1 ? l1 : "",
		    l2 ? l2 : "", l3 ? l3 : "", n);
	}
	return v;
}

static void
test_metrics_empty_has_every_family(void **state)
{
	static const struct {
		const char *name;
		const char *type;
	} families[] = {
		{ "tp_gateway_build_info", "gauge" },
		{ "tp_gateway_start_time_seconds", "gauge" },
		{ "tp_http_requests_total", "counter" },
		{ "tp_http_request_duration_seconds", "histogram" },
		{ "tp_http_requests_in_flight", "gauge" },
		{ "tp_http_connections_open", "gauge" },
		{ "tp_http_connections_total", "counter" },
		{ "tp_rpc_client_duration_seconds", "histogram" },
	};
	shim_metrics *m = shim_metrics_new(1700000000123LL);
	shim_expo_doc doc;
	(void) state;

	render_parse(&doc, m, D, NULL);
	assert_int_equal(
	    doc.n_families, sizeof(families) / sizeof(families[0]));
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		const shim_expo_family *f
		    = shim_expo_family_get(&doc, families[i].name);
		if (f == NULL) {
			fail_msg("no family %s", families[i].name);
		}
		assert_string_equal(f->type, families[i].type);
		assert_true(f->has_help);
		assert_true(strlen(f->help) > 10);
	}
	assert_true(
	    get1(&doc, "tp_gateway_start_time_seconds", NULL, NULL, NULL)
	    == 1700000000.123);
	assert_true(get1(&doc, "tp_gateway_build_info", "version=" TP_VERSION,
	                NULL, NULL)
	    == 1);
	assert_true(
	    get1(&doc, "tp_http_requests_in_flight", NULL, NULL, NULL) == 0);
	/* No request yet: no series. */
	assert_int_equal(
	    shim_expo_family_get(&doc, "tp_http_requests_total")->n_samples, 0);
	shim_expo_free(&doc);
	shim_metrics_free(m);
}

static void
test_metrics_requests_by_route_method_code(void **state)
{
	shim_metrics *m = shim_metrics_new(0);
	shim_expo_doc doc;
	(void) state;

	shim_metrics_http_observe(
	    m, D, shim_route_get(SHIM_ROUTE_GET_TASK), "GET", 200, 700);
	shim_metrics_http_observe(
	    m, D, shim_route_get(SHIM_ROUTE_GET_TASK), "GET", 200, 3000000);
	shim_metrics_http_observe(
	    m, D, shim_route_get(SHIM_ROUTE_GET_TASK), "GET", 404, 100);
	shim_metrics_http_observe(
	    m, D, shim_route_get(SHIM_ROUTE_GET_TASK), "HEAD", 200, 100);
	/* Refused before a route: counted under no raw path. */
	shim_metrics_http_observe(m, D, NULL, "GET", 404, 50);
	shim_metrics_http_observe(m, D, NULL, "BREW", 404, 50);
	shim_metrics_http_observe(
	    m, D, shim_route_get(SHIM_ROUTE_GET_TASK), "DELETE", 405, 20000000);
	/* The other listener's requests are not shown here. */
	shim_metrics_http_observe(
	    m, P, shim_route_get(SHIM_ROUTE_CREATE_WEB_TASK), "POST", 201, 10);

	render_parse(&doc, m, D, NULL);
	assert_true(get1(&doc, "tp_http_requests_total", "route=/tasks/{id}",
	                "method=GET", "code=200")
	    == 2);
	assert_true(get1(&doc, "tp_http_requests_total", "route=/tasks/{id}",
	                "method=GET", "code=404")
	    == 1);
	assert_true(get1(&doc, "tp_http_requests_total", "route=/tasks/{id}",
	                "method=HEAD", "code=200")
	    == 1);
	assert_true(get1(&doc, "tp_http_requests_total", "route=unmatched",
	                "method=GET", "code=404")
	    == 1);
	assert_true(get1(&doc, "tp_http_requests_total", "route=unmatched",
	                "method=other", "code=404")
	    == 1);
	assert_true(get1(&doc, "tp_http_requests_total", "route=/tasks/{id}",
	                "method=DELETE", "code=405")
	    == 1);
	assert_int_equal(
	    shim_expo_family_get(&doc, "tp_http_requests_total")->n_samples, 6);

	/* 700 us and 3 s: the first lands in le=0.001, both by le=5. */
	assert_true(get1(&doc, "tp_http_request_duration_seconds_bucket",
	                "route=/tasks/{id}", "method=GET", "le=0.0005")
	    == 1); /* the 404 of 100 us */
	assert_true(get1(&doc, "tp_http_request_duration_seconds_bucket",
	                "route=/tasks/{id}", "method=GET", "le=0.001")
	    == 2);
	assert_true(get1(&doc, "tp_http_request_duration_seconds_bucket",
	                "route=/tasks/{id}", "method=GET", "le=2.5")
	    == 2);
	assert_true(get1(&doc, "tp_http_request_duration_seconds_bucket",
	                "route=/tasks/{id}", "method=GET", "le=5")
	    == 3);
	assert_true(get1(&doc, "tp_http_request_duration_seconds_bucket",
	                "route=/tasks/{id}", "method=GET", "le=10")
	    == 3);
	assert_true(get1(&doc, "tp_http_request_duration_seconds_count",
	                "route=/tasks/{id}", "method=GET", NULL)
	    == 3);
	assert_true(get1(&doc, "tp_http_request_duration_seconds_sum",
	                "route=/tasks/{id}", "method=GET", NULL)
	    == 3.0008);
	/* 20 s is past every bound: only +Inf has it. */
	assert_true(get1(&doc, "tp_http_request_duration_seconds_bucket",
	                "route=/tasks/{id}", "method=DELETE", "le=10")
	    == 0);
	assert_true(get1(&doc, "tp_http_request_duration_seconds_bucket",
	                "route=/tasks/{id}", "method=DELETE", "le=+Inf")
	    == 1);
	shim_expo_free(&doc);

	render_parse(&doc, m, P, NULL);
	assert_true(get1(&doc, "tp_http_requests_total", "route=/api/tasks",
	                "method=POST", "code=201")
	    == 1);
	assert_int_equal(
	    shim_expo_family_get(&doc, "tp_http_requests_total")->n_samples, 1);
	shim_expo_free(&doc);
	shim_metrics_free(m);
}

static void
test_metrics_rpc_by_service_method_status(void **state)
{
	shim_metrics *m = shim_metrics_new(0);
	shim_expo_doc doc;
	(void) state;

	shim_metrics_rpc_observe(m, D, 3 /* GetTask */, TP_OK, 1200);
	shim_metrics_rpc_observe(m, D, 3, TP_NOT_FOUND, 800);
	shim_metrics_rpc_observe(m, D, 3, TP_NOT_FOUND, 900);
	shim_metrics_rpc_observe(m, D, 99, TP_UNAVAILABLE, 250000);
	shim_metrics_rpc_observe(m, P, 5 /* BindScheduler */, TP_OK, 10);

	render_parse(&doc, m, D, NULL);
	assert_true(get1(&doc, "tp_rpc_client_duration_seconds_count",
	                "service=dtp", "method=GetTask", "status=OK")
	    == 1);
	assert_true(get1(&doc, "tp_rpc_client_duration_seconds_count",
	                "service=dtp", "method=GetTask", "status=NOT_FOUND")
	    == 2);
	assert_true(get1(&doc, "tp_rpc_client_duration_seconds_count",
	                "service=dtp", "method=unknown", "status=UNAVAILABLE")
	    == 1);
	assert_int_equal(shim_expo_get(&doc, &(double) { 0 },
	                     "tp_rpc_client_duration_seconds_count",
	                     "method=BindScheduler", NULL),
	    0);
	shim_expo_free(&doc);
	render_parse(&doc, m, P, NULL);
	assert_true(
	    get1(&doc, "tp_rpc_client_duration_seconds_count",
	        "service=taskpilot", "method=BindScheduler", "status=OK")
	    == 1);
	shim_expo_free(&doc);
	shim_metrics_free(m);
}

static void
test_metrics_gauges(void **state)
{
	shim_metrics *m = shim_metrics_new(0);
	shim_expo_doc doc;
	(void) state;

	shim_metrics_in_flight_add(m, D, 1);
	shim_metrics_in_flight_add(m, D, 1);
	shim_metrics_in_flight_add(m, D, -1);
	shim_metrics_connection_add(m, D, 1);
	shim_metrics_connection_add(m, D, 1);
	shim_metrics_connection_add(m, D, -1);
	/* A close seen before its open never shows as negative. */
	shim_metrics_connection_add(m, P, -1);
	render_parse(&doc, m, D, NULL);
	assert_true(
	    get1(&doc, "tp_http_requests_in_flight", NULL, NULL, NULL) == 1);
	assert_true(
	    get1(&doc, "tp_http_connections_open", NULL, NULL, NULL) == 1);
	assert_true(
	    get1(&doc, "tp_http_connections_total", NULL, NULL, NULL) == 2);
	shim_expo_free(&doc);
	render_parse(&doc, m, P, NULL);
	assert_true(
	    get1(&doc, "tp_http_connections_open", NULL, NULL, NULL) == 0);
	shim_expo_free(&doc);
	shim_metrics_free(m);
}

static void
test_metrics_every_sent_status_has_a_series(void **state)
{
	(void) state;
	for (int code = 0; code <= TP_STATUS_MAX + 1; code++) {
		int http = shim_http_status(code);
		if (!shim_metrics_code_known(http)) {
			fail_msg("HTTP %d (for %s) has no series", http,
			    tp_status_name(code));
		}
	}
	for (int i = 0; i < SHIM_ROUTE_COUNT; i++) {
		assert_true(shim_metrics_code_known(
		    shim_route_get((shim_route_id) i)->success_http));
	}
	assert_true(shim_metrics_code_known(405));
	assert_true(shim_metrics_code_known(413));
	assert_false(shim_metrics_code_known(418));
}

static void
test_metrics_unknown_code_is_other(void **state)
{
	shim_metrics *m = shim_metrics_new(0);
	shim_expo_doc doc;
	(void) state;
	shim_metrics_http_observe(
	    m, D, shim_route_get(SHIM_ROUTE_LIST_TASKS), "GET", 418, 1);
	render_parse(&doc, m, D, NULL);
	assert_true(get1(&doc, "tp_http_requests_total", "route=/tasks",
	                "method=GET", "code=other")
	    == 1);
	shim_expo_free(&doc);
	shim_metrics_free(m);
}

static void
test_metrics_writer_escapes(void **state)
{
	shim_prom             w;
	shim_expo_doc         doc;
	char                 *text;
	size_t                len;
	tp_err                err;
	const shim_prom_label l[]
	    = { { "a", "q\"uote\\back\nline" }, { "b", "" } };
	static const double bounds[] = { 0.5, 10, 1e6 };
	const uint64_t      counts[] = { 1, 0, 2, 3 };
	double              v        = 0;
	(void) state;

	shim_prom_init(&w);
	shim_prom_family(
	    &w, "x_total", "counter", "Help with \\ and\nnewline.");
	shim_prom_sample_u64(&w, "x_total", l, 2, 18446744073709551615ULL);
	shim_prom_family(&w, "y", "gauge", "Doubles.");
	shim_prom_sample_double(&w, "y", l, 1, 0.1);
	shim_prom_family(&w, "z_seconds", "histogram", "A histogram.");
	shim_prom_histogram(&w, "z_seconds", NULL, 0, bounds, counts, 3, 7.25);
	text = shim_prom_take(&w, &len);
	assert_null(w.text);
	if (shim_expo_parse(&doc, text, len, &err) != TP_OK) {
		fail_msg("%s\n%s", err.msg, text);
	}
	assert_non_null(strstr(text,
	    "x_total{a=\"q\\\"uote\\\\back\\nline\",b=\"\"} "
	    "18446744073709551615\n"));
	assert_non_null(strstr(text,
	    "# HELP x_total Help with \\\\ and\\n"
	    "newline.\n"));
	assert_non_null(
	    strstr(text, "y{a=\"q\\\"uote\\\\back\\nline\"} 0.1\n"));
	/* Bounds as Prometheus's clients print them. */
	assert_non_null(strstr(text, "z_seconds_bucket{le=\"0.5\"} 1\n"));
	assert_non_null(strstr(text, "z_seconds_bucket{le=\"10\"} 1\n"));
	assert_non_null(strstr(text, "z_seconds_bucket{le=\"1e+06\"} 3\n"));
	assert_non_null(strstr(text, "z_seconds_bucket{le=\"+Inf\"} 6\n"));
	assert_non_null(strstr(text, "z_seconds_sum 7.25\n"));
	assert_non_null(strstr(text, "z_seconds_count 6\n"));
	assert_int_equal(shim_expo_get(&doc, &v, "x_total",
	                     "a=q\"uote\\back\nline", "b=", NULL),
	    1);
	shim_expo_free(&doc);
	free(text);
	/* Empty: "" rather than NULL. */
	shim_prom_init(&w);
	text = shim_prom_take(&w, &len);
	assert_string_equal(text, "");
	assert_int_equal(len, 0);
	free(text);
	shim_prom_fini(&w);
	shim_prom_fini(&w);
}

#define THREADS    4
#define PER_THREAD 20000

static void *
observe_main(void *arg)
{
	shim_metrics *m = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		shim_metrics_http_observe(m, D,
		    shim_route_get(SHIM_ROUTE_CREATE_TASK), "POST", 201, i);
		shim_metrics_rpc_observe(m, D, 2, TP_OK, i);
		shim_metrics_in_flight_add(m, D, 1);
		shim_metrics_in_flight_add(m, D, -1);
	}
	return NULL;
}

static void
test_metrics_concurrent_counting_loses_nothing(void **state)
{
	shim_metrics *m = shim_metrics_new(0);
	pthread_t     t[THREADS];
	shim_expo_doc doc;
	(void) state;

	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(
		    pthread_create(&t[i], NULL, observe_main, m), 0);
	}
	/* Scrapes while counting: each must parse (cumulative, +Inf=count). */
	for (int i = 0; i < 20; i++) {
		render_parse(&doc, m, D, NULL);
		shim_expo_free(&doc);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
	}
	render_parse(&doc, m, D, NULL);
	assert_true(get1(&doc, "tp_http_requests_total", "route=/tasks",
	                "method=POST", "code=201")
	    == THREADS * PER_THREAD);
	assert_true(get1(&doc, "tp_http_request_duration_seconds_count",
	                "route=/tasks", "method=POST", NULL)
	    == THREADS * PER_THREAD);
	assert_true(get1(&doc, "tp_rpc_client_duration_seconds_count",
	                "method=CreateTask", "status=OK", NULL)
	    == THREADS * PER_THREAD);
	assert_true(
	    get1(&doc, "tp_http_requests_in_flight", NULL, NULL, NULL) == 0);
	shim_expo_free(&doc);
	shim_metrics_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_empty_has_every_family),
		cmocka_unit_test(test_metrics_requests_by_route_method_code),
		cmocka_unit_test(test_metrics_rpc_by_service_method_status),
		cmocka_unit_test(test_metrics_gauges),
		cmocka_unit_test(test_metrics_every_sent_status_has_a_series),
		cmocka_unit_test(test_metrics_unknown_code_is_other),
		cmocka_unit_test(test_metrics_writer_escapes),
		cmocka_unit_test(
		    test_metrics_concurrent_counting_loses_nothing),
	};
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
