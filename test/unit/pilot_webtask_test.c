/*
 * pilot_webtask_test.c: TaskPilot's input rules, the JSON payload of a bind
 * (escaping, key order), the idempotency key, the execution state names of
 * the cache, and the config checks and flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pilot/config.h"
#include "pilot/webtask.h"

static const struct {
	const char *type;
	tp_status   want;
} type_cases[] = {
	{ "demo", TP_OK },
	{ "a", TP_OK },
	{ "a.b-c_d.9", TP_OK },
	{ "0123456789012345678901234567890123456789012345678901234567890123",
	    TP_OK }, /* 64 */
	{ "01234567890123456789012345678901234567890123456789012345678901234",
	    TP_INVALID_ARGUMENT }, /* 65 */
	{ "", TP_INVALID_ARGUMENT },
	{ NULL, TP_INVALID_ARGUMENT },
	{ "Demo", TP_INVALID_ARGUMENT },
	{ "de mo", TP_INVALID_ARGUMENT },
	{ "demo/x", TP_INVALID_ARGUMENT },
	{ "d\xc3\xa9mo", TP_INVALID_ARGUMENT },
	{ "demo\n", TP_INVALID_ARGUMENT },
};

static void
test_webtask_type_rules(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(type_cases) / sizeof(type_cases[0]);
	     i++) {
		tp_err err;
		tp_err_clear(&err);
		assert_int_equal(
		    pilot_webtask_check_type(type_cases[i].type, &err),
		    type_cases[i].want);
		if (type_cases[i].want != TP_OK) {
			assert_non_null(strstr(err.msg, "type"));
		}
	}
}

static void
test_webtask_type_error_quotes_safely(void **state)
{
	tp_err err;
	(void) state;
	assert_int_equal(
	    pilot_webtask_check_type("Bad\x01!", &err), TP_INVALID_ARGUMENT);
	assert_string_equal(err.msg,
	    "invalid type \"Bad?!\": expected 1 to 64 characters of "
	    "[a-z0-9_.-]");
}

static void
test_webtask_title_rules(void **state)
{
	char   title[202];
	tp_err err;
	(void) state;

	assert_int_equal(pilot_webtask_check_title(NULL, &err), TP_OK);
	assert_int_equal(pilot_webtask_check_title("", &err), TP_OK);
	memset(title, 'x', 200);
	title[200] = '\0';
	assert_int_equal(pilot_webtask_check_title(title, &err), TP_OK);
	title[200] = 'x';
	title[201] = '\0';
	assert_int_equal(
	    pilot_webtask_check_title(title, &err), TP_INVALID_ARGUMENT);
	assert_string_equal(
	    err.msg, "title is too long: 201 bytes, the limit is 200");
	assert_int_equal(pilot_webtask_check_title("bad \xff utf8", &err),
	    TP_INVALID_ARGUMENT);
	assert_string_equal(err.msg, "title is not valid UTF-8");
}

static const struct {
	const char *payload;
	bool        ok;
} utf8_cases[] = {
	{ "", true },
	{ "plain", true },
	{ "\xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80", true }, /* ü € 😀 */
	{ "\xc3", false },                                  /* cut short */
	{ "\xc0\xaf", false },                              /* overlong '/' */
	{ "\xed\xa0\x80", false },                          /* a surrogate */
	{ "\xf4\x90\x80\x80", false },                      /* past U+10FFFF */
	{ "\x80", false }, /* lone continuation */
	{ "\xfe", false },
};

static void
test_webtask_payload_rules(void **state)
{
	tp_err err;
	(void) state;

	assert_int_equal(pilot_webtask_check_payload(NULL, 10, &err), TP_OK);
	assert_int_equal(
	    pilot_webtask_check_payload("0123456789", 10, &err), TP_OK);
	assert_int_equal(pilot_webtask_check_payload("0123456789a", 10, &err),
	    TP_INVALID_ARGUMENT);
	assert_string_equal(
	    err.msg, "payload is too large: 11 bytes, the limit is 10");
	for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]);
	     i++) {
		assert_int_equal(pilot_webtask_check_payload(
		                     utf8_cases[i].payload, 100, &err),
		    utf8_cases[i].ok ? TP_OK : TP_INVALID_ARGUMENT);
	}
}

static void
test_webtask_bind_payload_exact_form(void **state)
{
	char  *out = NULL;
	tp_err err;
	(void) state;

	assert_int_equal(
	    pilot_webtask_bind_payload(&out, 4, "demo", "hello", &err), TP_OK);
	assert_string_equal(
	    out, "{\"webTaskId\":4,\"type\":\"demo\",\"payload\":\"hello\"}");
	free(out);
	assert_int_equal(pilot_webtask_bind_payload(
	                     &out, 9007199254740993LL, "x", NULL, &err),
	    TP_OK);
	assert_string_equal(out,
	    "{\"webTaskId\":9007199254740993,\"type\":\"x\",\"payload\":\"\"}");
	free(out);
}

static const char *const tricky_payloads[] = {
	"say \"hi\"",
	"back\\slash and \\\" both",
	"line\nbreak\r\ttab",
	"\x01\x02\x1f control",
	"\xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80 unicode",
	"{\"already\":\"json\",\"n\":[1,2]}",
	"</script> and / slash",
	"",
};

static void
test_webtask_bind_payload_escapes_round_trip(void **state)
{
	(void) state;
	for (size_t i = 0;
	     i < sizeof(tricky_payloads) / sizeof(tricky_payloads[0]); i++) {
		char                    *out = NULL;
		json_t                  *doc;
		json_error_t             jerr;
		const char              *key;
		json_t                  *val;
		int                      k = 0;
		static const char *const keys[]
		    = { "webTaskId", "type", "payload" };
		tp_err err;

		assert_int_equal(pilot_webtask_bind_payload(&out, 77, "demo",
		                     tricky_payloads[i], &err),
		    TP_OK);
		/* Compact: no whitespace outside strings, one line. */
		assert_null(strchr(out, '\n'));
		doc = json_loads(out, JSON_REJECT_DUPLICATES, &jerr);
		assert_non_null(doc);
		assert_int_equal(json_object_size(doc), 3);
		json_object_foreach(doc, key, val)
		{
			assert_string_equal(key, keys[k]);
			k++;
		}
		assert_int_equal(
		    json_integer_value(json_object_get(doc, "webTaskId")), 77);
		assert_string_equal(
		    json_string_value(json_object_get(doc, "type")), "demo");
		assert_string_equal(
		    json_string_value(json_object_get(doc, "payload")),
		    tricky_payloads[i]);
		json_decref(doc);
		free(out);
	}
}

static void
test_webtask_bind_payload_rejects_bad_utf8(void **state)
{
	char  *out = NULL;
	tp_err err;
	(void) state;

	assert_int_equal(
	    pilot_webtask_bind_payload(&out, 1, "demo", "\xff", &err),
	    TP_INVALID_ARGUMENT);
	assert_null(out);
}

static void
test_webtask_idempotency_key(void **state)
{
	char buf[PILOT_KEY_SIZE];
	(void) state;

	assert_string_equal(
	    pilot_webtask_idempotency_key(buf, sizeof(buf), 4), "webtask:4");
	assert_string_equal(
	    pilot_webtask_idempotency_key(buf, sizeof(buf), INT64_MAX),
	    "webtask:9223372036854775807");
}

static void
test_webtask_split_urls(void **state)
{
	char **urls = NULL;
	size_t n    = 0;
	tp_err err;
	(void) state;

	assert_int_equal(pilot_config_split_urls(&urls, &n,
	                     "tcp://127.0.0.1:1, tcp://127.0.0.1:2", &err),
	    TP_OK);
	assert_int_equal(n, 2);
	assert_string_equal(urls[0], "tcp://127.0.0.1:1");
	assert_string_equal(urls[1], "tcp://127.0.0.1:2");
	pilot_config_free_urls(urls, n);
	urls = NULL;
	assert_int_equal(pilot_config_split_urls(&urls, &n, "a,,b", &err),
	    TP_INVALID_ARGUMENT);
	assert_null(urls);
	assert_int_equal(
	    pilot_config_split_urls(&urls, &n, "", &err), TP_INVALID_ARGUMENT);
}

static const struct {
	dtp_v1_TaskStatus status;
	const char       *name; /* NULL: not stored */
	bool              is_final;
} status_cases[] = {
	{ dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED, NULL, false },
	{ dtp_v1_TaskStatus_TASK_STATUS_PENDING, "PENDING", false },
	{ dtp_v1_TaskStatus_TASK_STATUS_RUNNING, "RUNNING", false },
	{ dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED, "SUCCEEDED", true },
	{ dtp_v1_TaskStatus_TASK_STATUS_FAILED, "FAILED", true },
	{ dtp_v1_TaskStatus_TASK_STATUS_CANCELLED, "CANCELLED", true },
	{ (dtp_v1_TaskStatus) 6, NULL, false },
	{ (dtp_v1_TaskStatus) -1, NULL, false },
};

static void
test_webtask_status_names(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]);
	     i++) {
		const char *name
		    = pilot_webtask_status_name(status_cases[i].status);
		if (status_cases[i].name == NULL) {
			assert_null(name);
		} else {
			assert_string_equal(name, status_cases[i].name);
			assert_int_equal(pilot_webtask_status_parse(name),
			    status_cases[i].status);
		}
		assert_int_equal(
		    pilot_webtask_status_is_final(status_cases[i].status),
		    status_cases[i].is_final);
	}
	assert_int_equal(pilot_webtask_status_parse(NULL),
	    dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED);
	assert_int_equal(pilot_webtask_status_parse(""),
	    dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED);
	assert_int_equal(pilot_webtask_status_parse("pending"),
	    dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED);
	assert_int_equal(pilot_webtask_status_parse("PENDING "),
	    dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED);
}

/* The background flags: defaults, 0 switches a job off, bounds hold. */
static void
test_webtask_config_background_flags(void **state)
{
	char *defaults[]
	    = { "taskpilot", "--database-url=postgresql://x/y", NULL };
	char *set[]       = { "taskpilot", "--database-url=postgresql://x/y",
		      "--refresh-ms=0", "--reconcile-ms=250", "--bind-grace-ms=0",
		      "--refresh-batch=1000", "--reconcile-batch=1", NULL };
	char *bad_batch[] = { "taskpilot", "--refresh-batch=0", NULL };
	char *bad_grace[] = { "taskpilot", "--bind-grace-ms=-1", NULL };
	static const char *const env[]
	    = { "PILOT_REFRESH_MS", "PILOT_REFRESH_BATCH", "PILOT_RECONCILE_MS",
		      "PILOT_RECONCILE_BATCH", "PILOT_BIND_GRACE_MS" };
	pilot_config c;
	(void) state;

	/* Defaults are what is asked: no environment in the way. */
	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		unsetenv(env[i]);
	}
	memset(&c, 0, sizeof(c));
	assert_int_equal(
	    tp_cfg_parse(&pilot_config_spec, &c, 2, defaults, NULL, NULL), -1);
	assert_int_equal(c.refresh_ms, 2000);
	assert_int_equal(c.refresh_batch, 50);
	assert_int_equal(c.reconcile_ms, 1000);
	assert_int_equal(c.reconcile_batch, 20);
	assert_int_equal(c.bind_grace_ms, 5000);
	memset(&c, 0, sizeof(c));
	assert_int_equal(
	    tp_cfg_parse(&pilot_config_spec, &c, 7, set, NULL, NULL), -1);
	assert_int_equal(c.refresh_ms, 0);
	assert_int_equal(c.reconcile_ms, 250);
	assert_int_equal(c.bind_grace_ms, 0);
	assert_int_equal(c.refresh_batch, 1000);
	assert_int_equal(c.reconcile_batch, 1);
	assert_int_equal(
	    tp_cfg_parse(&pilot_config_spec, &c, 2, bad_batch, NULL, NULL), 2);
	assert_int_equal(
	    tp_cfg_parse(&pilot_config_spec, &c, 2, bad_grace, NULL, NULL), 2);
}

static pilot_config
good_config(void)
{
	pilot_config c = {
		.listen         = "tcp://127.0.0.1:9091",
		.database_url   = "postgresql://u:secret@localhost/db",
		.dtp_url        = "tcp://127.0.0.1:9090,tcp://127.0.0.1:9092",
		.rpc_threads    = 4,
		.dtp_timeout_ms = 3000,
		.max_payload_bytes = 262144,
		.max_msg_bytes     = 1048576,
		.drain_ms          = 5000,
		.migrations_dir    = "/tmp",
		.log_level         = "info",
	};
	return c;
}

static void
test_webtask_config_checks(void **state)
{
	pilot_config c;
	tp_err       err;
	(void) state;

	c = good_config();
	assert_int_equal(pilot_config_check(&c, &err), TP_OK);
	c              = good_config();
	c.database_url = NULL;
	assert_int_equal(pilot_config_check(&c, &err), TP_INVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "PILOT_DATABASE_URL"));
	c           = good_config();
	c.log_level = "loud";
	assert_int_equal(pilot_config_check(&c, &err), TP_INVALID_ARGUMENT);
	c         = good_config();
	c.dtp_url = "127.0.0.1:9090";
	assert_int_equal(pilot_config_check(&c, &err), TP_INVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "--dtp-url"));
	c                   = good_config();
	c.max_payload_bytes = c.max_msg_bytes;
	assert_int_equal(pilot_config_check(&c, &err), TP_INVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "--max-payload-bytes"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_webtask_type_rules),
		cmocka_unit_test(test_webtask_type_error_quotes_safely),
		cmocka_unit_test(test_webtask_title_rules),
		cmocka_unit_test(test_webtask_payload_rules),
		cmocka_unit_test(test_webtask_bind_payload_exact_form),
		cmocka_unit_test(test_webtask_bind_payload_escapes_round_trip),
		cmocka_unit_test(test_webtask_bind_payload_rejects_bad_utf8),
		cmocka_unit_test(test_webtask_idempotency_key),
		cmocka_unit_test(test_webtask_split_urls),
		cmocka_unit_test(test_webtask_config_checks),
		cmocka_unit_test(test_webtask_status_names),
		cmocka_unit_test(test_webtask_config_background_flags),
	};
	return cmocka_run_group_tests_name("pilot_webtask", tests, NULL, NULL);
}
