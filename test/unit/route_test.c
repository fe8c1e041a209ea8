/*
 * route_test.c: the gateway's router (shim/route.c), table-driven: every
 * route, wrong methods with their Allow list, unknown paths, bad ids, the
 * trailing slash policy; and the list routes' query strings (shim/query.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "shim/query.h"
#include "shim/route.h"

typedef struct match_case {
	shim_service svc;
	const char  *method;
	const char  *path;
	tp_status want; /* TP_OK, NOT_FOUND, UNIMPLEMENTED, INVALID_ARGUMENT */
	shim_route_id route; /* when TP_OK */
	int64_t       id;    /* when TP_OK */
	const char   *msg;   /* expected error message, when not TP_OK */
} match_case;

#define D SHIM_SERVICE_DTP
#define P SHIM_SERVICE_PILOT

static const match_case cases[] = {
	/* Every route of DESIGN §7. */
	{ D, "POST", "/tasks", TP_OK, SHIM_ROUTE_CREATE_TASK, 0, NULL },
	{ D, "GET", "/tasks/42", TP_OK, SHIM_ROUTE_GET_TASK, 42, NULL },
	{ D, "PUT", "/tasks/7/cancel", TP_OK, SHIM_ROUTE_CANCEL_TASK, 7, NULL },
	{ D, "GET", "/tasks", TP_OK, SHIM_ROUTE_LIST_TASKS, 0, NULL },
	{ D, "GET", "/healthz", TP_OK, SHIM_ROUTE_DTP_HEALTH, 0, NULL },
	{ P, "POST", "/api/tasks", TP_OK, SHIM_ROUTE_CREATE_WEB_TASK, 0, NULL },
	{ P, "GET", "/api/tasks/3", TP_OK, SHIM_ROUTE_GET_WEB_TASK, 3, NULL },
	{ P, "GET", "/api/tasks", TP_OK, SHIM_ROUTE_LIST_WEB_TASKS, 0, NULL },
	{ P, "POST", "/api/tasks/9/scheduler", TP_OK, SHIM_ROUTE_BIND_SCHEDULER,
	    9, NULL },
	{ P, "GET", "/api/tasks/9/execution", TP_OK, SHIM_ROUTE_GET_EXECUTION,
	    9, NULL },
	{ P, "PUT", "/api/tasks/9/cancel", TP_OK, SHIM_ROUTE_CANCEL_EXECUTION,
	    9, NULL },
	{ P, "GET", "/healthz", TP_OK, SHIM_ROUTE_PILOT_HEALTH, 0, NULL },
	{ D, "GET", "/tasks/9223372036854775807", TP_OK, SHIM_ROUTE_GET_TASK,
	    INT64_MAX, NULL },
	{ D, "GET", "/tasks/007", TP_OK, SHIM_ROUTE_GET_TASK, 7, NULL },
	{ D, "GET", "/metrics", TP_OK, SHIM_ROUTE_DTP_METRICS, 0, NULL },
	{ P, "GET", "/metrics", TP_OK, SHIM_ROUTE_PILOT_METRICS, 0, NULL },

	/* HEAD is the GET of its path, and nothing else. */
	{ D, "HEAD", "/tasks/42", TP_OK, SHIM_ROUTE_GET_TASK, 42, NULL },
	{ D, "HEAD", "/tasks", TP_OK, SHIM_ROUTE_LIST_TASKS, 0, NULL },
	{ D, "HEAD", "/healthz", TP_OK, SHIM_ROUTE_DTP_HEALTH, 0, NULL },
	{ P, "HEAD", "/metrics", TP_OK, SHIM_ROUTE_PILOT_METRICS, 0, NULL },
	{ P, "HEAD", "/api/tasks/3/execution", TP_OK, SHIM_ROUTE_GET_EXECUTION,
	    3, NULL },
	{ D, "HEAD", "/tasks/1/cancel", TP_UNIMPLEMENTED, 0, 0,
	    "method HEAD not allowed on /tasks/{id}/cancel" },
	{ P, "HEAD", "/api/tasks/1/scheduler", TP_UNIMPLEMENTED, 0, 0,
	    "method HEAD not allowed on /api/tasks/{id}/scheduler" },
	{ D, "HEAD", "/tasks/abc", TP_INVALID_ARGUMENT, 0, 0,
	    "invalid task id \"abc\"" },
	{ D, "head", "/tasks", TP_UNIMPLEMENTED, 0, 0,
	    "method head not allowed on /tasks" },

	/* Wrong methods. */
	{ D, "POST", "/tasks/1", TP_UNIMPLEMENTED, 0, 0,
	    "method POST not allowed on /tasks/{id}" },
	{ D, "DELETE", "/tasks", TP_UNIMPLEMENTED, 0, 0,
	    "method DELETE not allowed on /tasks" },
	{ D, "GET", "/tasks/1/cancel", TP_UNIMPLEMENTED, 0, 0,
	    "method GET not allowed on /tasks/{id}/cancel" },
	{ P, "GET", "/api/tasks/1/scheduler", TP_UNIMPLEMENTED, 0, 0,
	    "method GET not allowed on /api/tasks/{id}/scheduler" },
	{ P, "POST", "/healthz", TP_UNIMPLEMENTED, 0, 0,
	    "method POST not allowed on /healthz" },
	{ D, "get", "/tasks", TP_UNIMPLEMENTED, 0, 0,
	    "method get not allowed on /tasks" },
	/* A wrong method is reported before a bad id. */
	{ D, "DELETE", "/tasks/abc", TP_UNIMPLEMENTED, 0, 0,
	    "method DELETE not allowed on /tasks/{id}" },

	/* Unknown paths, and each listener has only its own routes. */
	{ D, "GET", "/", TP_NOT_FOUND, 0, 0, "no route for path \"/\"" },
	{ D, "GET", "", TP_NOT_FOUND, 0, 0, "no route for path \"\"" },
	{ D, "GET", "/nope", TP_NOT_FOUND, 0, 0,
	    "no route for path \"/nope\"" },
	{ D, "GET", "/api/tasks", TP_NOT_FOUND, 0, 0,
	    "no route for path \"/api/tasks\"" },
	{ P, "GET", "/tasks/1", TP_NOT_FOUND, 0, 0,
	    "no route for path \"/tasks/1\"" },
	{ D, "GET", "/tasks/1/cancel/x", TP_NOT_FOUND, 0, 0,
	    "no route for path \"/tasks/1/cancel/x\"" },
	{ D, "GET", "/taskss", TP_NOT_FOUND, 0, 0,
	    "no route for path \"/taskss\"" },
	{ D, "GET", "/TASKS", TP_NOT_FOUND, 0, 0,
	    "no route for path \"/TASKS\"" },
	{ D, "GET", "/metrics/", TP_NOT_FOUND, 0, 0,
	    "no route for path \"/metrics/\"" },
	{ D, "POST", "/metrics", TP_UNIMPLEMENTED, 0, 0,
	    "method POST not allowed on /metrics" },

	/* Trailing slashes and empty segments are other paths. */
	{ D, "GET", "/tasks/", TP_NOT_FOUND, 0, 0,
	    "no route for path \"/tasks/\"" },
	{ D, "GET", "/tasks/1/", TP_NOT_FOUND, 0, 0,
	    "no route for path \"/tasks/1/\"" },
	{ D, "GET", "/healthz/", TP_NOT_FOUND, 0, 0,
	    "no route for path \"/healthz/\"" },
	{ D, "PUT", "/tasks//cancel", TP_NOT_FOUND, 0, 0,
	    "no route for path \"/tasks//cancel\"" },
	{ P, "GET", "/api/tasks/", TP_NOT_FOUND, 0, 0,
	    "no route for path \"/api/tasks/\"" },
	{ D, "GET", "//tasks", TP_NOT_FOUND, 0, 0,
	    "no route for path \"//tasks\"" },

	/* Bad ids. */
	{ D, "GET", "/tasks/0", TP_INVALID_ARGUMENT, 0, 0,
	    "invalid task id \"0\"" },
	{ D, "GET", "/tasks/-1", TP_INVALID_ARGUMENT, 0, 0,
	    "invalid task id \"-1\"" },
	{ D, "GET", "/tasks/abc", TP_INVALID_ARGUMENT, 0, 0,
	    "invalid task id \"abc\"" },
	{ D, "GET", "/tasks/9999999999999999999", TP_INVALID_ARGUMENT, 0, 0,
	    "invalid task id \"9999999999999999999\"" },
	{ D, "GET", "/tasks/9223372036854775808", TP_INVALID_ARGUMENT, 0, 0,
	    "invalid task id \"9223372036854775808\"" },
	{ D, "GET", "/tasks/+1", TP_INVALID_ARGUMENT, 0, 0,
	    "invalid task id \"+1\"" },
	{ D, "GET", "/tasks/ 1", TP_INVALID_ARGUMENT, 0, 0,
	    "invalid task id \" 1\"" },
	{ D, "GET", "/tasks/1.0", TP_INVALID_ARGUMENT, 0, 0,
	    "invalid task id \"1.0\"" },
	{ D, "PUT", "/tasks/x/cancel", TP_INVALID_ARGUMENT, 0, 0,
	    "invalid task id \"x\"" },
	{ P, "POST", "/api/tasks/0/scheduler", TP_INVALID_ARGUMENT, 0, 0,
	    "invalid task id \"0\"" },
	{ P, "GET", "/api/tasks/1e3/execution", TP_INVALID_ARGUMENT, 0, 0,
	    "invalid task id \"1e3\"" },
};

static void
test_route_match_table(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const match_case *c = &cases[i];
		shim_match        m = { NULL, -1 };
		tp_err            err;
		tp_status         rc;

		tp_err_clear(&err);
		rc = shim_route_match(&m, c->svc, c->method, c->path, &err);
		if (rc != c->want) {
			fail_msg("case %zu: %s %s: got %s, want %s (%s)", i,
			    c->method, c->path, tp_status_name(rc),
			    tp_status_name(c->want), err.msg);
		}
		if (c->want == TP_OK) {
			assert_non_null(m.route);
			assert_int_equal(m.route->id, c->route);
			assert_int_equal(m.id, c->id);
			assert_string_equal(m.route->method,
			    strcmp(c->method, "HEAD") == 0 ? "GET" : c->method);
			assert_int_equal(m.route->service, c->svc);
		} else {
			/* Out-params are written only on success. */
			assert_null(m.route);
			assert_int_equal(m.id, -1);
			assert_string_equal(err.msg, c->msg);
		}
	}
}

static void
test_route_every_route_is_reachable(void **state)
{
	(void) state;
	/* Each row of the table is matched by its own method and pattern. */
	for (int i = 0; i < SHIM_ROUTE_COUNT; i++) {
		const shim_route *r = shim_route_get((shim_route_id) i);
		char              path[128];
		char             *brace;
		shim_match        m;

		assert_non_null(r);
		assert_int_equal(r->id, i);
		snprintf(path, sizeof(path), "%s", r->pattern);
		brace = strchr(path, '{');
		if (brace != NULL) {
			char rest[128];
			snprintf(
			    rest, sizeof(rest), "%s", strchr(brace, '}') + 1);
			snprintf(brace, sizeof(path) - (size_t) (brace - path),
			    "5%s", rest);
		}
		assert_int_equal(
		    shim_route_match(&m, r->service, r->method, path, NULL),
		    TP_OK);
		assert_ptr_equal(m.route, r);
	}
	assert_null(shim_route_get(SHIM_ROUTE_COUNT));
	assert_null(shim_route_get((shim_route_id) -1));
}

static void
test_route_success_codes_and_flags(void **state)
{
	(void) state;
	assert_int_equal(
	    shim_route_get(SHIM_ROUTE_CREATE_TASK)->success_http, 201);
	assert_int_equal(
	    shim_route_get(SHIM_ROUTE_CREATE_WEB_TASK)->success_http, 201);
	assert_int_equal(
	    shim_route_get(SHIM_ROUTE_BIND_SCHEDULER)->success_http, 200);
	assert_true(shim_route_get(SHIM_ROUTE_CREATE_TASK)->has_body);
	assert_true(shim_route_get(SHIM_ROUTE_CREATE_WEB_TASK)->has_body);
	assert_false(shim_route_get(SHIM_ROUTE_BIND_SCHEDULER)->has_body);
	/* Only /healthz is served without the token; /metrics is text. */
	for (int i = 0; i < SHIM_ROUTE_COUNT; i++) {
		const shim_route *r = shim_route_get((shim_route_id) i);
		assert_int_equal(
		    r->is_public, strcmp(r->pattern, "/healthz") == 0);
		assert_int_equal(
		    r->is_metrics, strcmp(r->pattern, "/metrics") == 0);
		assert_false(r->is_metrics && r->has_body);
	}
}

static const struct {
	shim_service svc;
	const char  *path;
	const char  *allow;
	size_t       n;
} allow_cases[] = {
	{ D, "/tasks", "GET, HEAD, POST", 3 },
	{ D, "/tasks/1", "GET, HEAD", 2 },
	{ D, "/tasks/abc", "GET, HEAD", 2 },
	{ D, "/tasks/1/cancel", "PUT", 1 },
	{ D, "/healthz", "GET, HEAD", 2 },
	{ P, "/healthz", "GET, HEAD", 2 },
	{ D, "/metrics", "GET, HEAD", 2 },
	{ P, "/metrics", "GET, HEAD", 2 },
	{ P, "/api/tasks", "GET, HEAD, POST", 3 },
	{ P, "/api/tasks/4", "GET, HEAD", 2 },
	{ P, "/api/tasks/4/scheduler", "POST", 1 },
	{ P, "/api/tasks/4/execution", "GET, HEAD", 2 },
	{ P, "/api/tasks/4/cancel", "PUT", 1 },
	{ D, "/nope", "", 0 },
	{ D, "/tasks/", "", 0 },
	{ P, "/tasks", "", 0 },
};

static void
test_route_allow_lists(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(allow_cases) / sizeof(allow_cases[0]);
	     i++) {
		char buf[64];
		memset(buf, 'x', sizeof(buf));
		assert_int_equal(shim_route_allow(buf, sizeof(buf),
		                     allow_cases[i].svc, allow_cases[i].path),
		    allow_cases[i].n);
		assert_string_equal(buf, allow_cases[i].allow);
	}
}

static void
test_route_allow_truncates_safely(void **state)
{
	char buf[5];
	(void) state;
	/* "GET, HEAD, POST" does not fit: what is written stays terminated. */
	assert_int_equal(shim_route_allow(buf, sizeof(buf), D, "/tasks"), 3);
	assert_true(strlen(buf) < sizeof(buf));
}

static const struct {
	shim_service  svc;
	const char   *path;
	shim_route_id want; /* SHIM_ROUTE_COUNT: none */
} shape_cases[] = {
	{ D, "/tasks", SHIM_ROUTE_CREATE_TASK },
	{ D, "/tasks/abc", SHIM_ROUTE_GET_TASK },
	{ D, "/tasks/0", SHIM_ROUTE_GET_TASK },
	{ D, "/tasks/x/cancel", SHIM_ROUTE_CANCEL_TASK },
	{ D, "/metrics", SHIM_ROUTE_DTP_METRICS },
	{ P, "/metrics", SHIM_ROUTE_PILOT_METRICS },
	{ P, "/api/tasks/-1/scheduler", SHIM_ROUTE_BIND_SCHEDULER },
	{ P, "/healthz", SHIM_ROUTE_PILOT_HEALTH },
	{ D, "/tasks/", SHIM_ROUTE_COUNT },
	{ D, "/api/tasks", SHIM_ROUTE_COUNT },
	{ P, "/tasks/1", SHIM_ROUTE_COUNT },
	{ D, "", SHIM_ROUTE_COUNT },
};

static void
test_route_shape(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(shape_cases) / sizeof(shape_cases[0]);
	     i++) {
		const shim_route *r
		    = shim_route_shape(shape_cases[i].svc, shape_cases[i].path);
		if (shape_cases[i].want == SHIM_ROUTE_COUNT) {
			assert_null(r);
		} else {
			assert_non_null(r);
			assert_int_equal(r->id, shape_cases[i].want);
		}
	}
}

static void
test_route_parse_id(void **state)
{
	int64_t id = 77;
	(void) state;
	assert_true(shim_route_parse_id(&id, "1", 1));
	assert_int_equal(id, 1);
	assert_true(shim_route_parse_id(&id, "123abc", 3));
	assert_int_equal(id, 123);
	id = 77;
	assert_false(shim_route_parse_id(&id, "", 0));
	assert_false(shim_route_parse_id(&id, "0", 1));
	assert_false(shim_route_parse_id(&id, "00", 2));
	assert_false(shim_route_parse_id(&id, "-5", 2));
	assert_false(shim_route_parse_id(&id, "18446744073709551616", 20));
	assert_int_equal(id, 77);
}

static void
test_route_long_input_is_quoted_short(void **state)
{
	char       path[600];
	tp_err     err;
	shim_match m;
	(void) state;
	memset(path, 'a', sizeof(path) - 1);
	path[0]                = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(
	    shim_route_match(&m, D, "GET", path, &err), TP_NOT_FOUND);
	assert_true(strlen(err.msg) < 100);
	memcpy(path, "/tasks/", 7);
	assert_int_equal(
	    shim_route_match(&m, D, "GET", path, &err), TP_INVALID_ARGUMENT);
	assert_true(strlen(err.msg) < 100);
}

/* Query strings. */

#define KV(k, v)     \
	{            \
		k, v \
	}

static void
test_query_list_tasks_all_parameters(void **state)
{
	shim_kv args[] = { KV("status", "SUCCEEDED"), KV("type", "demo"),
		KV("limit", "10"), KV("after", "99"), KV("order", "desc") };
	dtp_v1_ListTasksRequest r;
	(void) state;
	assert_int_equal(shim_query_list_tasks(&r, args, 5, NULL), TP_OK);
	assert_true(r.has_status);
	assert_int_equal(r.status, dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED);
	assert_string_equal(r.type, "demo");
	assert_int_equal(r.limit, 10);
	assert_int_equal(r.after_id, 99);
	assert_true(r.newest_first);
}

static void
test_query_list_tasks_defaults(void **state)
{
	dtp_v1_ListTasksRequest r;
	(void) state;
	memset(&r, 0xff, sizeof(r));
	assert_int_equal(shim_query_list_tasks(&r, NULL, 0, NULL), TP_OK);
	assert_false(r.has_status);
	assert_string_equal(r.type, "");
	assert_int_equal(r.limit, 0); /* the server's default */
	assert_int_equal(r.after_id, 0);
	assert_false(r.newest_first);
}

static void
test_query_list_web_tasks_all_parameters(void **state)
{
	shim_kv args[] = { KV("bound", "false"), KV("type", "t.x-1"),
		KV("limit", "1000"), KV("after", "0"), KV("order", "asc") };
	pilot_v1_ListWebTasksRequest r;
	(void) state;
	assert_int_equal(shim_query_list_web_tasks(&r, args, 5, NULL), TP_OK);
	assert_true(r.has_bound);
	assert_false(r.bound);
	assert_string_equal(r.type, "t.x-1");
	assert_int_equal(r.limit, 1000);
	assert_int_equal(r.after_id, 0);
	assert_false(r.newest_first);
}

typedef struct bad_query {
	bool        web; /* ListWebTasks, else ListTasks */
	const char *key;
	const char *value;
	const char *msg;
} bad_query;

static const bad_query bad_queries[] = {
	{ false, "limit", "0",
	    "invalid value for query parameter \"limit\": \"0\": expected an "
	    "integer from 1 to 1000" },
	{ false, "limit", "1001",
	    "invalid value for query parameter \"limit\": \"1001\": expected "
	    "an integer from 1 to 1000" },
	{ false, "limit", "abc",
	    "invalid value for query parameter \"limit\": \"abc\": expected "
	    "an integer from 1 to 1000" },
	{ false, "limit", " 5",
	    "invalid value for query parameter \"limit\": \" 5\": expected an "
	    "integer from 1 to 1000" },
	{ false, "limit", NULL,
	    "invalid value for query parameter \"limit\": \"\": expected an "
	    "integer from 1 to 1000" },
	{ false, "after", "-1",
	    "invalid value for query parameter \"after\": \"-1\": expected a "
	    "task id" },
	{ false, "after", "99999999999999999999",
	    "invalid value for query parameter \"after\": "
	    "\"99999999999999999999\": expected a task id" },
	{ false, "status", "done",
	    "invalid value for query parameter \"status\": \"done\": expected "
	    "PENDING, RUNNING, SUCCEEDED, FAILED or CANCELLED" },
	{ false, "status", "succeeded",
	    "invalid value for query parameter \"status\": \"succeeded\": "
	    "expected PENDING, RUNNING, SUCCEEDED, FAILED or CANCELLED" },
	{ false, "order", "up",
	    "invalid value for query parameter \"order\": \"up\": expected asc "
	    "or desc" },
	{ false, "type", "",
	    "invalid value for query parameter \"type\": \"\": expected a type "
	    "name of 1 to 64 bytes" },
	{ false, "bound", "true", "unknown query parameter \"bound\"" },
	{ false, "x", "1", "unknown query parameter \"x\"" },
	{ true, "status", "PENDING", "unknown query parameter \"status\"" },
	{ true, "bound", "yes",
	    "invalid value for query parameter \"bound\": \"yes\": expected "
	    "true or false" },
	{ true, "limit", "0",
	    "invalid value for query parameter \"limit\": \"0\": expected an "
	    "integer from 1 to 1000" },
};

static void
test_query_bad_values(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(bad_queries) / sizeof(bad_queries[0]);
	     i++) {
		const bad_query *b  = &bad_queries[i];
		shim_kv          kv = { b->key, b->value };
		tp_err           err;
		tp_status        rc;
		if (b->web) {
			pilot_v1_ListWebTasksRequest r;
			rc = shim_query_list_web_tasks(&r, &kv, 1, &err);
		} else {
			dtp_v1_ListTasksRequest r;
			rc = shim_query_list_tasks(&r, &kv, 1, &err);
		}
		if (rc != TP_INVALID_ARGUMENT) {
			fail_msg("case %zu (%s=%s): got %s", i, b->key,
			    b->value != NULL ? b->value : "(null)",
			    tp_status_name(rc));
		}
		assert_string_equal(err.msg, b->msg);
	}
}

static void
test_query_long_type_and_repeats(void **state)
{
	char                    type[70];
	shim_kv                 kv[2];
	dtp_v1_ListTasksRequest r;
	tp_err                  err;
	(void) state;
	memset(type, 'a', sizeof(type) - 1);
	type[64] = '\0';
	kv[0]    = (shim_kv) { "type", type };
	assert_int_equal(shim_query_list_tasks(&r, kv, 1, &err), TP_OK);
	assert_int_equal(strlen(r.type), 64);
	type[64] = 'a';
	type[65] = '\0';
	assert_int_equal(
	    shim_query_list_tasks(&r, kv, 1, &err), TP_INVALID_ARGUMENT);
	kv[0] = (shim_kv) { "limit", "5" };
	kv[1] = (shim_kv) { "limit", "6" };
	assert_int_equal(
	    shim_query_list_tasks(&r, kv, 2, &err), TP_INVALID_ARGUMENT);
	assert_string_equal(
	    err.msg, "query parameter \"limit\" is given twice");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_match_table),
		cmocka_unit_test(test_route_every_route_is_reachable),
		cmocka_unit_test(test_route_success_codes_and_flags),
		cmocka_unit_test(test_route_allow_lists),
		cmocka_unit_test(test_route_allow_truncates_safely),
		cmocka_unit_test(test_route_shape),
		cmocka_unit_test(test_route_parse_id),
		cmocka_unit_test(test_route_long_input_is_quoted_short),
		cmocka_unit_test(test_query_list_tasks_all_parameters),
		cmocka_unit_test(test_query_list_tasks_defaults),
		cmocka_unit_test(test_query_list_web_tasks_all_parameters),
		cmocka_unit_test(test_query_bad_values),
		cmocka_unit_test(test_query_long_type_and_repeats),
	};
	return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
