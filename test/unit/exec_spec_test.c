/*
 * exec_spec_test.c: the --exec list parser (scheduler/exec.c,
 * dtp_exec_parse_list), table-driven: one case per accepted and per refused
 * form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"

typedef struct good_case {
	const char *list;
	size_t      n;
	const char *types[3];
	const char *paths[3];
} good_case;

static const good_case good[] = {
	{ NULL, 0, { NULL }, { NULL } },
	{ "", 0, { NULL }, { NULL } },
	{ " , ,", 0, { NULL }, { NULL } },
	{ "cat=/bin/cat", 1, { "cat" }, { "/bin/cat" } },
	{ " cat = /bin/cat ", 1, { "cat" }, { "/bin/cat" } },
	{ "a=/x,b.c-d_1=/y/z", 2, { "a", "b.c-d_1" }, { "/x", "/y/z" } },
	/* Split at the first '=': a path may hold one. */
	{ "e=/opt/a=b", 1, { "e" }, { "/opt/a=b" } },
	{ "a=/1,b=/2,c=/3", 3, { "a", "b", "c" }, { "/1", "/2", "/3" } },
};

typedef struct bad_case {
	const char *list;
	const char *why; /* in the message */
} bad_case;

static const bad_case bad[] = {
	{ "cat", "not TYPE=/absolute/path" },
	{ "=/bin/cat", "invalid type" },
	{ "Cat=/bin/cat", "invalid type" },
	{ "a b=/bin/cat", "invalid type" },
	{ "cat=bin/cat", "absolute path" },
	{ "cat=", "absolute path" },
	{ "cat=/bin/\tcat", "absolute path" },
	{ "a=/x,a=/y", "given twice" },
	{ "a=/x,b", "not TYPE=/absolute/path" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "=/x",
	    "invalid type" },
};

static void
test_exec_spec_accepts(void **state)
{
	const good_case *c = *state;
	dtp_exec_spec   *s = NULL;
	size_t           n = 99;
	tp_err           err;

	assert_int_equal(dtp_exec_parse_list(&s, &n, c->list, &err), TP_OK);
	assert_int_equal(n, c->n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(s[i].type, c->types[i]);
		assert_string_equal(s[i].path, c->paths[i]);
	}
	if (n == 0) {
		assert_null(s);
	}
	free(s);
}

static void
test_exec_spec_refuses(void **state)
{
	const bad_case *c = *state;
	dtp_exec_spec  *s = (dtp_exec_spec *) 1;
	size_t          n = 99;
	tp_err          err;

	assert_int_equal(
	    dtp_exec_parse_list(&s, &n, c->list, &err), TP_INVALID_ARGUMENT);
	if (strstr(err.msg, c->why) == NULL) {
		fail_msg(
		    "\"%s\": \"%s\" lacks \"%s\"", c->list, err.msg, c->why);
	}
	/* Nothing written on failure. */
	assert_ptr_equal(s, (dtp_exec_spec *) 1);
	assert_int_equal(n, 99);
}

#define GOOD(i) \
	cmocka_unit_test_prestate(test_exec_spec_accepts, (void *) &good[i])
#define BAD(i) \
	cmocka_unit_test_prestate(test_exec_spec_refuses, (void *) &bad[i])

int
main(void)
{
	const struct CMUnitTest tests[] = {
		GOOD(0),
		GOOD(1),
		GOOD(2),
		GOOD(3),
		GOOD(4),
		GOOD(5),
		GOOD(6),
		GOOD(7),
		BAD(0),
		BAD(1),
		BAD(2),
		BAD(3),
		BAD(4),
		BAD(5),
		BAD(6),
		BAD(7),
		BAD(8),
		BAD(9),
	};

	_Static_assert(sizeof(good) / sizeof(good[0]) == 8, "one test per row");
	_Static_assert(sizeof(bad) / sizeof(bad[0]) == 10, "one test per row");
	return cmocka_run_group_tests_name("exec_spec", tests, NULL, NULL);
}
