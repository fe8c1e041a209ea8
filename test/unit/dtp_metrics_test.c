/*
 * dtp_metrics_test.c: DTP's counters and their exposition
 * (scheduler/metrics.c): every family with HELP and TYPE, the values under
 * their labels, cumulative histogram buckets, label escaping, the database
 * being down, and counting from several threads. Every rendering is checked
 * by the gateway's strict parser (shim/expo.c), which is also what keeps a
 * bad exposition out of a scrape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtp.pb.h"
#include "metrics.h"
#include "shim/expo.h"

static const char *const methods[] = { "CreateTask", "GetTask", "CancelTask",
	"ListTasks", "Health", "Metrics" };

static void
snapshot(dtp_metrics_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->node                       = "node-a";
	s->version                    = "1.2.3";
	s->workers_busy               = 3;
	s->workers_idle               = 1;
	s->abandoned_running          = 0;
	s->db_ok                      = true;
	s->tasks[DTP_STATE_PENDING]   = 7;
	s->tasks[DTP_STATE_RUNNING]   = 3;
	s->tasks[DTP_STATE_SUCCEEDED] = 1000;
	s->tasks[DTP_STATE_FAILED]    = 2;
	s->tasks[DTP_STATE_CANCELLED] = 1;
	s->oldest_pending_age_seconds = 1.25;
}

/* render_parse renders m and s and parses the text strictly. */
static void
render_parse(
    shim_expo_doc *doc, const dtp_metrics *m, const dtp_metrics_snapshot *s)
{
	size_t len  = 0;
	char  *text = dtp_metrics_render(m, s, &len);
	tp_err err;

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	if (shim_expo_parse(doc, text, len, &err) != TP_OK) {
		fail_msg("exposition refused: %s\n%s", err.msg, text);
	}
	free(text);
}

static double
value(
    const shim_expo_doc *doc, const char *name, const char *l1, const char *l2)
{
	double v = -1;
	int    n = shim_expo_get(doc, &v, name, l1, l2, NULL);

	if (n != 1) {
		fail_msg("%s{%s,%s}: %d samples", name, l1 ? l1 : "",
		    l2 ? l2 : "", n);
	}
	return v;
}

static void
family_is(const shim_expo_doc *doc, const char *name, const char *type)
{
	const shim_expo_family *f = shim_expo_family_get(doc, name);

	if (f == NULL) {
		fail_msg("family %s is missing", name);
	}
	assert_true(f->has_help);
	assert_true(f->has_type);
	assert_string_equal(f->type, type);
	assert_true(strlen(f->help) > 10);
}

static void
test_dtp_metrics_fresh_node_has_every_family(void **state)
{
	dtp_metrics         *m = dtp_metrics_new();
	dtp_metrics_snapshot s;
	shim_expo_doc        doc;

	(void) state;
	snapshot(&s);
	render_parse(&doc, m, &s);
	family_is(&doc, "dtp_node_info", "gauge");
	family_is(&doc, "dtp_database_up", "gauge");
	family_is(&doc, "dtp_tasks", "gauge");
	family_is(&doc, "dtp_oldest_pending_age_seconds", "gauge");
	family_is(&doc, "dtp_workers", "gauge");
	family_is(&doc, "dtp_workers_abandoned", "gauge");
	family_is(&doc, "dtp_attempts_total", "counter");
	family_is(&doc, "dtp_retries_total", "counter");
	family_is(&doc, "dtp_lease_expiries_total", "counter");
	family_is(&doc, "dtp_cancels_total", "counter");
	family_is(&doc, "dtp_handlers_abandoned_total", "counter");
	family_is(&doc, "dtp_tasks_finished_total", "counter");
	family_is(&doc, "dtp_cancel_to_stop_seconds", "histogram");
	family_is(&doc, "dtp_rpc_requests_total", "counter");
	family_is(&doc, "dtp_rpc_duration_seconds", "histogram");

	assert_true(
	    value(&doc, "dtp_node_info", "node=node-a", "version=1.2.3") == 1);
	assert_true(value(&doc, "dtp_database_up", NULL, NULL) == 1);
	assert_true(value(&doc, "dtp_tasks", "state=PENDING", NULL) == 7);
	assert_true(value(&doc, "dtp_tasks", "state=RUNNING", NULL) == 3);
	assert_true(value(&doc, "dtp_tasks", "state=SUCCEEDED", NULL) == 1000);
	assert_true(value(&doc, "dtp_tasks", "state=FAILED", NULL) == 2);
	assert_true(value(&doc, "dtp_tasks", "state=CANCELLED", NULL) == 1);
	assert_true(
	    fabs(value(&doc, "dtp_oldest_pending_age_seconds", NULL, NULL)
	        - 1.25)
	    < 1e-9);
	assert_true(value(&doc, "dtp_workers", "state=busy", NULL) == 3);
	assert_true(value(&doc, "dtp_workers", "state=idle", NULL) == 1);
	assert_true(value(&doc, "dtp_attempts_total", NULL, NULL) == 0);
	assert_true(
	    value(&doc, "dtp_tasks_finished_total", "state=SUCCEEDED", NULL)
	    == 0);
	/* Only final states finish a task. */
	assert_int_equal(shim_expo_get(&doc, NULL, "dtp_tasks_finished_total",
	                     "state=PENDING", NULL),
	    0);
	/* Every method shows OK and a latency histogram from the start. */
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		char l[64];
		snprintf(l, sizeof(l), "method=%s", methods[i]);
		assert_true(
		    value(&doc, "dtp_rpc_requests_total", l, "code=OK") == 0);
		assert_true(
		    value(&doc, "dtp_rpc_duration_seconds_count", l, NULL)
		    == 0);
		assert_true(
		    value(&doc, "dtp_rpc_duration_seconds_bucket", l, "le=+Inf")
		    == 0);
	}
	shim_expo_free(&doc);
	dtp_metrics_free(m);
}

static void
test_dtp_metrics_counts_what_it_is_told(void **state)
{
	dtp_metrics         *m = dtp_metrics_new();
	dtp_metrics_snapshot s;
	shim_expo_doc        doc;

	(void) state;
	for (int i = 0; i < 5; i++) {
		dtp_metrics_attempt(m);
	}
	dtp_metrics_retry(m);
	dtp_metrics_retry(m);
	dtp_metrics_lease_expired(m, 3);
	dtp_metrics_lease_expired(m, 0);
	dtp_metrics_cancel(m);
	dtp_metrics_abandoned(m);
	dtp_metrics_finished(m, DTP_STATE_SUCCEEDED, 4);
	dtp_metrics_finished(m, DTP_STATE_FAILED, 1);
	dtp_metrics_finished(m, DTP_STATE_CANCELLED, 2);
	/* Not final: ignored. */
	dtp_metrics_finished(m, DTP_STATE_RUNNING, 9);
	/* NULL counts nothing and does not crash. */
	dtp_metrics_attempt(NULL);
	dtp_metrics_finished(NULL, DTP_STATE_SUCCEEDED, 1);

	snapshot(&s);
	s.abandoned_running = 1;
	render_parse(&doc, m, &s);
	assert_true(value(&doc, "dtp_attempts_total", NULL, NULL) == 5);
	assert_true(value(&doc, "dtp_retries_total", NULL, NULL) == 2);
	assert_true(value(&doc, "dtp_lease_expiries_total", NULL, NULL) == 3);
	assert_true(value(&doc, "dtp_cancels_total", NULL, NULL) == 1);
	assert_true(
	    value(&doc, "dtp_handlers_abandoned_total", NULL, NULL) == 1);
	assert_true(value(&doc, "dtp_workers_abandoned", NULL, NULL) == 1);
	assert_true(
	    value(&doc, "dtp_tasks_finished_total", "state=SUCCEEDED", NULL)
	    == 4);
	assert_true(
	    value(&doc, "dtp_tasks_finished_total", "state=FAILED", NULL) == 1);
	assert_true(
	    value(&doc, "dtp_tasks_finished_total", "state=CANCELLED", NULL)
	    == 2);
	shim_expo_free(&doc);
	dtp_metrics_free(m);
}

static void
test_dtp_metrics_histogram_is_cumulative(void **state)
{
	static const struct {
		const char *le;
		double      want;
	} buckets[] = {
		{ "0.0005", 1 },
		{ "0.001", 1 },
		{ "0.0025", 1 },
		{ "0.005", 2 },
		{ "0.01", 2 },
		{ "0.5", 2 },
		{ "1", 3 },
		{ "10", 3 },
		{ "+Inf", 4 },
	};
	dtp_metrics         *m = dtp_metrics_new();
	dtp_metrics_snapshot s;
	shim_expo_doc        doc;

	(void) state;
	dtp_metrics_cancel_to_stop(m, 400);      /* 0.4 ms */
	dtp_metrics_cancel_to_stop(m, 3000);     /* 3 ms */
	dtp_metrics_cancel_to_stop(m, 700000);   /* 0.7 s */
	dtp_metrics_cancel_to_stop(m, 20000000); /* 20 s: above every bound */
	snapshot(&s);
	render_parse(&doc, m, &s);
	for (size_t i = 0; i < sizeof(buckets) / sizeof(buckets[0]); i++) {
		char le[32];
		snprintf(le, sizeof(le), "le=%s", buckets[i].le);
		if (value(&doc, "dtp_cancel_to_stop_seconds_bucket", le, NULL)
		    != buckets[i].want) {
			fail_msg("bucket %s", buckets[i].le);
		}
	}
	assert_true(
	    value(&doc, "dtp_cancel_to_stop_seconds_count", NULL, NULL) == 4);
	assert_true(
	    fabs(value(&doc, "dtp_cancel_to_stop_seconds_sum", NULL, NULL)
	        - 20.7034)
	    < 1e-6);
	shim_expo_free(&doc);
	dtp_metrics_free(m);
}

static void
test_dtp_metrics_rpc_by_method_and_code(void **state)
{
	dtp_metrics         *m = dtp_metrics_new();
	dtp_metrics_snapshot s;
	shim_expo_doc        doc;

	(void) state;
	dtp_metrics_rpc_observe(m, dtp_v1_Request_create_task_tag, TP_OK, 800);
	dtp_metrics_rpc_observe(
	    m, dtp_v1_Request_create_task_tag, TP_OK, 30000);
	dtp_metrics_rpc_observe(
	    m, dtp_v1_Request_create_task_tag, TP_INVALID_ARGUMENT, 100);
	dtp_metrics_rpc_observe(
	    m, dtp_v1_Request_get_task_tag, TP_NOT_FOUND, 2000);
	/* A call that did not decode, and nonsense from a caller. */
	dtp_metrics_rpc_observe(m, 0, TP_INVALID_ARGUMENT, 50);
	dtp_metrics_rpc_observe(m, 999, (tp_status) 77, 10);
	snapshot(&s);
	render_parse(&doc, m, &s);
	assert_true(value(&doc, "dtp_rpc_requests_total", "method=CreateTask",
	                "code=OK")
	    == 2);
	assert_true(value(&doc, "dtp_rpc_requests_total", "method=CreateTask",
	                "code=INVALID_ARGUMENT")
	    == 1);
	assert_true(value(&doc, "dtp_rpc_requests_total", "method=GetTask",
	                "code=NOT_FOUND")
	    == 1);
	assert_true(
	    value(&doc, "dtp_rpc_requests_total", "method=GetTask", "code=OK")
	    == 0);
	assert_true(value(&doc, "dtp_rpc_requests_total", "method=unknown",
	                "code=INVALID_ARGUMENT")
	    == 1);
	assert_true(value(&doc, "dtp_rpc_requests_total", "method=unknown",
	                "code=UNKNOWN")
	    == 1);
	assert_true(value(&doc, "dtp_rpc_duration_seconds_count",
	                "method=CreateTask", NULL)
	    == 3);
	assert_true(value(&doc, "dtp_rpc_duration_seconds_bucket",
	                "method=CreateTask", "le=0.001")
	    == 2);
	assert_true(value(&doc, "dtp_rpc_duration_seconds_bucket",
	                "method=CreateTask", "le=0.025")
	    == 2);
	assert_true(value(&doc, "dtp_rpc_duration_seconds_bucket",
	                "method=CreateTask", "le=0.05")
	    == 3);
	assert_true(value(&doc, "dtp_rpc_duration_seconds_count",
	                "method=unknown", NULL)
	    == 2);
	shim_expo_free(&doc);
	dtp_metrics_free(m);
}

static void
test_dtp_metrics_database_down_keeps_the_rest(void **state)
{
	dtp_metrics         *m = dtp_metrics_new();
	dtp_metrics_snapshot s;
	shim_expo_doc        doc;

	(void) state;
	dtp_metrics_attempt(m);
	snapshot(&s);
	s.db_ok = false;
	render_parse(&doc, m, &s);
	assert_true(value(&doc, "dtp_database_up", NULL, NULL) == 0);
	assert_null(shim_expo_family_get(&doc, "dtp_tasks"));
	assert_null(
	    shim_expo_family_get(&doc, "dtp_oldest_pending_age_seconds"));
	assert_true(value(&doc, "dtp_attempts_total", NULL, NULL) == 1);
	shim_expo_free(&doc);
	dtp_metrics_free(m);
}

static void
test_dtp_metrics_label_values_are_escaped(void **state)
{
	dtp_metrics         *m = dtp_metrics_new();
	dtp_metrics_snapshot s;
	shim_expo_doc        doc;
	const char          *odd = "a\"b\\c\nd";
	char                 want[64];

	(void) state;
	snapshot(&s);
	s.node = odd;
	render_parse(&doc, m, &s);
	snprintf(want, sizeof(want), "node=%s", odd);
	assert_true(value(&doc, "dtp_node_info", want, NULL) == 1);
	shim_expo_free(&doc);
	dtp_metrics_free(m);
}

#define THREADS    4
#define PER_THREAD 20000

static void *
count_main(void *arg)
{
	dtp_metrics *m = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		dtp_metrics_attempt(m);
		dtp_metrics_finished(m, DTP_STATE_SUCCEEDED, 1);
		dtp_metrics_rpc_observe(
		    m, dtp_v1_Request_get_task_tag, TP_OK, i % 5000);
	}
	return NULL;
}

static void
test_dtp_metrics_threads_lose_nothing(void **state)
{
	dtp_metrics         *m = dtp_metrics_new();
	dtp_metrics_snapshot s;
	shim_expo_doc        doc;
	pthread_t            t[THREADS];

	(void) state;
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_create(&t[i], NULL, count_main, m), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
	}
	snapshot(&s);
	render_parse(&doc, m, &s);
	assert_true(value(&doc, "dtp_attempts_total", NULL, NULL)
	    == THREADS * PER_THREAD);
	assert_true(
	    value(&doc, "dtp_tasks_finished_total", "state=SUCCEEDED", NULL)
	    == THREADS * PER_THREAD);
	assert_true(value(&doc, "dtp_rpc_duration_seconds_count",
	                "method=GetTask", NULL)
	    == THREADS * PER_THREAD);
	shim_expo_free(&doc);
	dtp_metrics_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dtp_metrics_fresh_node_has_every_family),
		cmocka_unit_test(test_dtp_metrics_counts_what_it_is_told),
		cmocka_unit_test(test_dtp_metrics_histogram_is_cumulative),
		cmocka_unit_test(test_dtp_metrics_rpc_by_method_and_code),
		cmocka_unit_test(test_dtp_metrics_database_down_keeps_the_rest),
		cmocka_unit_test(test_dtp_metrics_label_values_are_escaped),
		cmocka_unit_test(test_dtp_metrics_threads_lose_nothing),
	};

	return cmocka_run_group_tests_name("dtp_metrics", tests, NULL, NULL);
}
