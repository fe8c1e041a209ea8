/*
 * upstream_test.c: what GET /metrics shows of the service behind its port
 * (shim/upstream.c), table-driven: the call a scrape makes, and for each
 * kind of answer whether the service's text is served and what
 * tp_upstream_up says; every scrape, with the gateway's own part, passes
 * the strict parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "calls_int.h"
#include "common/log.h"
#include "shim/expo.h"

#define DTP_TEXT                                             \
	"# HELP dtp_tasks Tasks by state.\n"                 \
	"# TYPE dtp_tasks gauge\n"                           \
	"dtp_tasks{state=\"PENDING\"} 3\n"                   \
	"# TYPE dtp_cancel_to_stop_seconds histogram\n"      \
	"dtp_cancel_to_stop_seconds_bucket{le=\"0.1\"} 1\n"  \
	"dtp_cancel_to_stop_seconds_bucket{le=\"+Inf\"} 2\n" \
	"dtp_cancel_to_stop_seconds_sum 0.7\n"               \
	"dtp_cancel_to_stop_seconds_count 2\n"

typedef struct upstream_case {
	shim_route_id route;
	tp_status     code;
	pb_size_t     result; /* the reply's result tag */
	const char   *text;   /* NULL: the field is absent */
	int           want_up;
	bool          want_text; /* the text is served */
} upstream_case;

static const upstream_case cases[] = {
	{ SHIM_ROUTE_DTP_METRICS, TP_OK, dtp_v1_Reply_metrics_tag, DTP_TEXT, 1,
	    true },
	{ SHIM_ROUTE_PILOT_METRICS, TP_OK, pilot_v1_Reply_metrics_tag,
	    "# TYPE pilot_web_tasks gauge\npilot_web_tasks 4\n", 1, true },
	/* Nothing to show is fine. */
	{ SHIM_ROUTE_DTP_METRICS, TP_OK, dtp_v1_Reply_metrics_tag, NULL, 1,
	    false },
	/* A node from before the Metrics call is up, with nothing. */
	{ SHIM_ROUTE_DTP_METRICS, TP_UNIMPLEMENTED, 0, NULL, 1, false },
	{ SHIM_ROUTE_PILOT_METRICS, TP_UNIMPLEMENTED, 0, NULL, 1, false },
	/* No answer. */
	{ SHIM_ROUTE_DTP_METRICS, TP_UNAVAILABLE, 0, NULL, 0, false },
	{ SHIM_ROUTE_DTP_METRICS, TP_DEADLINE_EXCEEDED, 0, NULL, 0, false },
	{ SHIM_ROUTE_PILOT_METRICS, TP_INTERNAL, 0, NULL, 0, false },
	/* Text that would spoil the scrape is left out. */
	{ SHIM_ROUTE_DTP_METRICS, TP_OK, dtp_v1_Reply_metrics_tag, "dtp_x 1", 0,
	    false },
	{ SHIM_ROUTE_DTP_METRICS, TP_OK, dtp_v1_Reply_metrics_tag,
	    "dtp_x{a=\"\xff\"} 1\n", 0, false },
	{ SHIM_ROUTE_DTP_METRICS, TP_OK, dtp_v1_Reply_metrics_tag,
	    "# TYPE dtp_c counter\ndtp_c -1\n", 0, false },
	{ SHIM_ROUTE_DTP_METRICS, TP_OK, dtp_v1_Reply_metrics_tag,
	    "tp_http_requests_total{route=\"/x\"} 1\n", 0, false },
	{ SHIM_ROUTE_PILOT_METRICS, TP_OK, pilot_v1_Reply_metrics_tag,
	    "# TYPE tp_upstream_up gauge\ntp_upstream_up 1\n", 0, false },
	{ SHIM_ROUTE_DTP_METRICS, TP_OK, dtp_v1_Reply_metrics_tag,
	    "tp_gateway_x 1\n", 0, false },
	/* A reply to another call. */
	{ SHIM_ROUTE_DTP_METRICS, TP_OK, dtp_v1_Reply_health_tag, NULL, 0,
	    false },
	{ SHIM_ROUTE_PILOT_METRICS, TP_OK, pilot_v1_Reply_get_web_task_tag,
	    NULL, 0, false },
};

static void
test_upstream_request_is_metrics(void **state)
{
	shim_call_req req;
	(void) state;

	memset(&req, 0x5a, sizeof(req));
	shim_upstream_request(&req, shim_route_get(SHIM_ROUTE_DTP_METRICS));
	assert_int_equal(req.u.dtp.which_call, dtp_v1_Request_metrics_tag);
	assert_int_equal(req.u.dtp.deadline_ms, 0);
	assert_true(req.idempotent);
	memset(&req, 0x5a, sizeof(req));
	shim_upstream_request(&req, shim_route_get(SHIM_ROUTE_PILOT_METRICS));
	assert_int_equal(req.u.pilot.which_call, pilot_v1_Request_metrics_tag);
	assert_true(req.idempotent);
}

static void
test_upstream_answers(void **state)
{
	(void) state;
	tp_log_set_level(TP_LOG_ERROR); /* the refusals log at warn */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const upstream_case *c = &cases[i];
		const shim_route    *r = shim_route_get(c->route);
		shim_metrics        *m = shim_metrics_new(0);
		shim_call_rep        rep;
		shim_prom            w;
		shim_expo_doc        doc;
		tp_err               err;
		double               up = -1;
		char                *text;
		size_t               len;

		memset(&rep, 0, sizeof(rep));
		if (r->service == SHIM_SERVICE_DTP) {
			rep.dtp.which_result        = c->result;
			rep.dtp.result.metrics.text = (char *) c->text;
		} else {
			rep.pilot.which_result        = c->result;
			rep.pilot.result.metrics.text = (char *) c->text;
		}
		shim_prom_init(&w);
		shim_metrics_render(&w, m, r->service);
		shim_upstream_render(&w, r, c->code, &rep);
		text = shim_prom_take(&w, &len);
		if (shim_expo_parse(&doc, text, len, &err) != TP_OK) {
			fail_msg("case %zu: scrape refused: %s\n%s", i, err.msg,
			    text);
		}
		assert_int_equal(
		    shim_expo_get(&doc, &up, "tp_upstream_up",
		        r->service == SHIM_SERVICE_DTP ? "service=dtp"
		                                       : "service=taskpilot",
		        NULL),
		    1);
		if (up != c->want_up) {
			fail_msg("case %zu: tp_upstream_up %g, want %d", i, up,
			    c->want_up);
		}
		if (c->text != NULL && c->text[0] != '\0') {
			bool served = strstr(text, c->text) != NULL;
			if (served != c->want_text) {
				fail_msg("case %zu: text %s", i,
				    served ? "served" : "left out");
			}
		}
		shim_expo_free(&doc);
		free(text);
		shim_metrics_free(m);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upstream_request_is_metrics),
		cmocka_unit_test(test_upstream_answers),
	};
	return cmocka_run_group_tests_name("upstream", tests, NULL, NULL);
}
