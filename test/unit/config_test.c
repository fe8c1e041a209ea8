/* config_test.c: flag > environment > default, bounds and usage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

typedef struct cfg {
	long long   workers;
	const char *url;
	const char *dsn;
	bool        verbose;
} cfg;

static const tp_cfg_opt opts[] = {
	{"workers", "T_WORKERS", NULL, TP_CFG_INT, "4", 1, 1024,
	    offsetof(cfg, workers), "worker threads"},
	{"url", "T_URL", "T_URL_FALLBACK", TP_CFG_STR, "tcp://127.0.0.1:1", 0, 0,
	    offsetof(cfg, url), "listen URL"},
	{"database-url", "T_DB", NULL, TP_CFG_DSN, NULL, 0, 0,
	    offsetof(cfg, dsn), "database"},
	{"verbose", NULL, NULL, TP_CFG_BOOL, "false", 0, 0,
	    offsetof(cfg, verbose), "more output"},
};

static const tp_cfg_spec spec = {
	.prog = "t", .summary = "test", .opts = opts,
	.n_opts = sizeof(opts) / sizeof(opts[0]),
};

static int
setup(void **state)
{
	(void) state;
	unsetenv("T_WORKERS");
	unsetenv("T_URL");
	unsetenv("T_URL_FALLBACK");
	unsetenv("T_DB");
	return 0;
}

static void
test_config_defaults(void **state)
{
	cfg   c;
	char *argv[] = {"t", NULL};
	(void) state;
	assert_int_equal(tp_cfg_parse(&spec, &c, 1, argv, NULL, NULL), -1);
	assert_int_equal(c.workers, 4);
	assert_string_equal(c.url, "tcp://127.0.0.1:1");
	assert_null(c.dsn);
	assert_false(c.verbose);
}

static void
test_config_flag_beats_env_beats_default(void **state)
{
	cfg   c;
	char *argv[] = {"t", "--workers=8", "--verbose", NULL};
	char *argv2[] = {"t", NULL};
	(void) state;
	setenv("T_WORKERS", "6", 1);
	setenv("T_URL_FALLBACK", "ipc:///tmp/x", 1);
	assert_int_equal(tp_cfg_parse(&spec, &c, 3, argv, NULL, NULL), -1);
	assert_int_equal(c.workers, 8);
	assert_true(c.verbose);
	assert_string_equal(c.url, "ipc:///tmp/x");
	assert_int_equal(tp_cfg_parse(&spec, &c, 1, argv2, NULL, NULL), -1);
	assert_int_equal(c.workers, 6);
	setenv("T_URL", "inproc://y", 1);
	assert_int_equal(tp_cfg_parse(&spec, &c, 1, argv2, NULL, NULL), -1);
	assert_string_equal(c.url, "inproc://y");
}

static void
test_config_separate_value_argument(void **state)
{
	cfg   c;
	char *argv[] = {"t", "--workers", "12", "--url", "tcp://h:2", NULL};
	(void) state;
	assert_int_equal(tp_cfg_parse(&spec, &c, 5, argv, NULL, NULL), -1);
	assert_int_equal(c.workers, 12);
	assert_string_equal(c.url, "tcp://h:2");
}

static void
test_config_bad_values_exit_2(void **state)
{
	static const char *bad[] = {"abc", "0", "1025", "", "4x", "99999999999999999999"};
	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg  c;
		char flag[64];
		snprintf(flag, sizeof(flag), "--workers=%s", bad[i]);
		char *argv[] = {"t", flag, NULL};
		assert_int_equal(tp_cfg_parse(&spec, &c, 2, argv, NULL, NULL), 2);
	}
	{
		cfg   c;
		char *argv[] = {"t", NULL};
		setenv("T_WORKERS", "many", 1);
		assert_int_equal(tp_cfg_parse(&spec, &c, 1, argv, NULL, NULL), 2);
	}
}

static void
test_config_unknown_flag_and_positional(void **state)
{
	cfg   c;
	char *argv[] = {"t", "--nope", NULL};
	char *argv2[] = {"t", "extra", NULL};
	char *argv3[] = {"t", "--workers", NULL};
	(void) state;
	assert_int_equal(tp_cfg_parse(&spec, &c, 2, argv, NULL, NULL), 2);
	assert_int_equal(tp_cfg_parse(&spec, &c, 2, argv2, NULL, NULL), 2);
	assert_int_equal(tp_cfg_parse(&spec, &c, 2, argv3, NULL, NULL), 2);
}

static void
test_config_positional_when_allowed(void **state)
{
	tp_cfg_spec s2 = spec;
	cfg         c;
	char       *argv[] = {"t", "get", "--workers=2", "42", NULL};
	int         n      = 0;
	char      **rest   = NULL;
	(void) state;
	s2.positional = true;
	assert_int_equal(tp_cfg_parse(&s2, &c, 4, argv, &n, &rest), -1);
	assert_int_equal(n, 2);
	assert_string_equal(rest[0], "get");
	assert_string_equal(rest[1], "42");
	assert_int_equal(c.workers, 2);
	free(rest);
}

static void
test_config_help_and_version_exit_0(void **state)
{
	cfg   c;
	char *argv[] = {"t", "--help", NULL};
	char *argv2[] = {"t", "--version", NULL};
	(void) state;
	assert_int_equal(tp_cfg_parse(&spec, &c, 2, argv, NULL, NULL), 0);
	assert_int_equal(tp_cfg_parse(&spec, &c, 2, argv2, NULL, NULL), 0);
}

static void
test_config_redacts_passwords(void **state)
{
	char buf[256];
	(void) state;
	assert_string_equal(tp_cfg_redact_dsn(buf, sizeof(buf),
	                        "postgresql://bob:s3cret@db:5432/x"),
	    "postgresql://bob:***@db:5432/x");
	assert_string_equal(tp_cfg_redact_dsn(buf, sizeof(buf),
	                        "host=db password=s3cret dbname=x"),
	    "host=db password=*** dbname=x");
	assert_string_equal(tp_cfg_redact_dsn(buf, sizeof(buf),
	                        "postgresql://bob@db/x"),
	    "postgresql://bob@db/x");
	assert_string_equal(tp_cfg_redact_dsn(buf, sizeof(buf), NULL), "(unset)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_config_defaults, setup),
		cmocka_unit_test_setup(test_config_flag_beats_env_beats_default, setup),
		cmocka_unit_test_setup(test_config_separate_value_argument, setup),
		cmocka_unit_test_setup(test_config_bad_values_exit_2, setup),
		cmocka_unit_test_setup(test_config_unknown_flag_and_positional, setup),
		cmocka_unit_test_setup(test_config_positional_when_allowed, setup),
		cmocka_unit_test_setup(test_config_help_and_version_exit_0, setup),
		cmocka_unit_test_setup(test_config_redacts_passwords, setup),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
