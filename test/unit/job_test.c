/*
 * job_test.c: one running attempt as a handler sees it (scheduler/job.c):
 * the TaskPilot wrapper unwrapped into the parameters (one case per rule),
 * the stop flag and its reasons, the stop fd, dtp_job_sleep waking on a
 * stop from another thread, and the timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "job.h"

typedef struct unwrap_case {
	const char *payload;
	bool        wrapped;
	const char *params; /* when wrapped */
	int64_t     web_task_id;
} unwrap_case;

static const unwrap_case cases[] = {
	/* What TaskPilot's BindScheduler builds. */
	{ "{\"webTaskId\":4,\"type\":\"sleep\",\"payload\":\"{\\\"ms\\\":500}"
	  "\"}",
	    true, "{\"ms\":500}", 4 },
	{ " \n{\"payload\":\"x\",\"webTaskId\":123456789012}", true, "x",
	    123456789012LL },
	{ "{\"webTaskId\":1,\"payload\":\"\"}", true, "", 1 },
	{ "{\"webTaskId\":1,\"payload\":\"caf\\u00e9\"}", true, "caf\xc3\xa9",
	    1 },
	/* Not wrappers: the payload is the parameters. */
	{ "{\"ms\":500}", false, NULL, 0 },
	{ "", false, NULL, 0 },
	{ "not json webTaskId", false, NULL, 0 },
	{ "{\"webTaskId\":\"4\",\"payload\":\"x\"}", false, NULL, 0 },
	{ "{\"webTaskId\":4,\"payload\":{\"ms\":1}}", false, NULL, 0 },
	{ "{\"webTaskId\":4}", false, NULL, 0 },
	{ "[{\"webTaskId\":4,\"payload\":\"x\"}]", false, NULL, 0 },
	{ "{\"webTaskId\":4,\"payload\":\"x\",\"payload\":\"y\"}", false, NULL,
	    0 },
	{ "{\"webTaskId\":4,\"payload\":\"x\"} trailing", false, NULL, 0 },
};

static void
test_job_unwrap_case(void **state)
{
	const unwrap_case *c      = *state;
	char              *params = NULL;
	size_t             len    = 0;
	int64_t            id     = 0;
	bool               got;

	got = dtp_job_unwrap(
	    &params, &len, &id, c->payload, strlen(c->payload));
	assert_int_equal(got, c->wrapped);
	if (got) {
		assert_string_equal(params, c->params);
		assert_int_equal(len, strlen(c->params));
		assert_int_equal(id, c->web_task_id);
	}
	free(params);
}

static void
test_job_params_and_web_task_id(void **state)
{
	dtp_job     job;
	size_t      len = 0;
	const char *wrapped
	    = "{\"webTaskId\":9,\"type\":\"fail\",\"payload\":\"{}\"}";

	(void) state;
	dtp_job_init(&job, 1, "fail", wrapped, 1, 3, 1000);
	assert_string_equal(dtp_job_params(&job, &len), "{}");
	assert_int_equal(len, 2);
	assert_int_equal(dtp_job_web_task_id(&job), 9);
	/* The payload itself is untouched. */
	assert_string_equal(dtp_job_payload(&job), wrapped);
	dtp_job_fini(&job);

	dtp_job_init(&job, 2, "demo", "plain", 1, 3, 1000);
	assert_string_equal(dtp_job_params(&job, &len), "plain");
	assert_int_equal(len, 5);
	assert_int_equal(dtp_job_web_task_id(&job), 0);
	dtp_job_fini(&job);
}

static void
test_job_first_stop_reason_wins(void **state)
{
	dtp_job job;
	int64_t t0 = tp_clock_mono_us();

	(void) state;
	dtp_job_init(&job, 1, "t", "", 1, 1, 60000);
	assert_false(dtp_job_should_stop(&job));
	assert_int_equal(dtp_job_stop_reason(&job), DTP_STOP_NONE);
	assert_int_equal(dtp_job_stopped_at_us(&job), 0);
	assert_true(dtp_job_stop(&job, DTP_STOP_CANCEL));
	assert_false(dtp_job_stop(&job, DTP_STOP_SHUTDOWN));
	assert_true(dtp_job_should_stop(&job));
	assert_int_equal(dtp_job_stop_reason(&job), DTP_STOP_CANCEL);
	assert_true(dtp_job_stopped_at_us(&job) >= t0);
	dtp_job_fini(&job);
}

static void
test_job_stop_fd_turns_readable(void **state)
{
	dtp_job       job;
	struct pollfd pfd;

	(void) state;
	dtp_job_init(&job, 1, "t", "", 1, 1, 60000);
	pfd.fd     = dtp_job_stop_fd(&job);
	pfd.events = POLLIN;
	assert_true(pfd.fd >= 0);
	assert_int_equal(dtp_job_stop_fd(&job), pfd.fd);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	(void) dtp_job_stop(&job, DTP_STOP_LEASE_LOST);
	assert_int_equal(poll(&pfd, 1, 0), 1);
	dtp_job_fini(&job);

	/* Asked for after the stop: readable at once. */
	dtp_job_init(&job, 1, "t", "", 1, 1, 60000);
	(void) dtp_job_stop(&job, DTP_STOP_SHUTDOWN);
	pfd.fd = dtp_job_stop_fd(&job);
	assert_int_equal(poll(&pfd, 1, 0), 1);
	dtp_job_fini(&job);
}

static void *
stop_later_main(void *arg)
{
	struct timespec ts = { 0, 50 * 1000000L };

	nanosleep(&ts, NULL);
	(void) dtp_job_stop(arg, DTP_STOP_CANCEL);
	return NULL;
}

static void
test_job_sleep_wakes_on_stop(void **state)
{
	dtp_job   job;
	pthread_t t;
	int64_t   t0 = tp_clock_mono_ms();

	(void) state;
	dtp_job_init(&job, 1, "t", "", 1, 1, 60000);
	assert_int_equal(pthread_create(&t, NULL, stop_later_main, &job), 0);
	assert_true(dtp_job_sleep(&job, 30000));
	pthread_join(t, NULL);
	assert_true(tp_clock_mono_ms() - t0 < 5000);
	assert_int_equal(dtp_job_stop_reason(&job), DTP_STOP_CANCEL);
	dtp_job_fini(&job);
}

static void
test_job_timeout_stops_sleep_and_counts_down(void **state)
{
	dtp_job job;
	int64_t t0 = tp_clock_mono_ms();

	(void) state;
	dtp_job_init(&job, 1, "t", "", 1, 1, 100);
	assert_true(dtp_job_remaining_ms(&job) <= 100);
	assert_false(dtp_job_sleep(&job, 10));
	assert_true(dtp_job_sleep(&job, 30000));
	assert_true(tp_clock_mono_ms() - t0 >= 100);
	assert_true(tp_clock_mono_ms() - t0 < 5000);
	assert_int_equal(dtp_job_stop_reason(&job), DTP_STOP_TIMEOUT);
	assert_int_equal(dtp_job_remaining_ms(&job), 0);
	dtp_job_fini(&job);
}

static void
test_job_outcomes(void **state)
{
	dtp_job job;
	size_t  len = 0;
	char   *r;

	(void) state;
	dtp_job_init(&job, 1, "t", "", 1, 1, 1000);
	assert_int_equal(dtp_job_succeed(&job, "ab\0c", 4), DTP_OUTCOME_OK);
	assert_true(job.result_has_nul);
	r = dtp_job_take_result(&job, &len);
	assert_int_equal(len, 4);
	free(r);
	assert_int_equal(
	    dtp_job_retry_after(&job, -5, "x"), DTP_OUTCOME_RETRY_AFTER);
	assert_int_equal(job.retry_after_ms, 0);
	assert_int_equal(dtp_job_retry_after(&job, 1LL << 40, "y %d", 2),
	    DTP_OUTCOME_RETRY_AFTER);
	assert_int_equal(job.retry_after_ms, 86400000);
	assert_string_equal(job.error, "y 2");
	assert_int_equal(
	    dtp_job_fail_permanent(&job, "bad"), DTP_OUTCOME_PERMANENT);
	dtp_job_fini(&job);
}

#define CASE(i) \
	cmocka_unit_test_prestate(test_job_unwrap_case, (void *) &cases[i])

int
main(void)
{
	const struct CMUnitTest tests[] = {
		CASE(0),
		CASE(1),
		CASE(2),
		CASE(3),
		CASE(4),
		CASE(5),
		CASE(6),
		CASE(7),
		CASE(8),
		CASE(9),
		CASE(10),
		CASE(11),
		CASE(12),
		cmocka_unit_test(test_job_params_and_web_task_id),
		cmocka_unit_test(test_job_first_stop_reason_wins),
		cmocka_unit_test(test_job_stop_fd_turns_readable),
		cmocka_unit_test(test_job_sleep_wakes_on_stop),
		cmocka_unit_test(test_job_timeout_stops_sleep_and_counts_down),
		cmocka_unit_test(test_job_outcomes),
	};

	_Static_assert(
	    sizeof(cases) / sizeof(cases[0]) == 13, "one test per case");
	return cmocka_run_group_tests_name("job", tests, NULL, NULL);
}
