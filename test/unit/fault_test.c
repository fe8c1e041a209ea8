/* fault_test.c: the fault point spec parser and its counting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/fault.h"

static void
test_fault_off_by_default(void **state)
{
	(void) state;
	assert_int_equal(tp_fault_configure(NULL), 0);
	assert_int_equal(tp_fault_hit("a.b"), TP_FAULT_NONE);
}

static void
test_fault_fail_and_drop(void **state)
{
	(void) state;
	assert_int_equal(tp_fault_configure("a=fail,b=drop"), 0);
	assert_int_equal(tp_fault_hit("a"), TP_FAULT_FAIL);
	assert_int_equal(tp_fault_hit("a"), TP_FAULT_FAIL);
	assert_int_equal(tp_fault_hit("b"), TP_FAULT_DROP);
	assert_int_equal(tp_fault_hit("c"), TP_FAULT_NONE);
}

static void
test_fault_nth_and_times(void **state)
{
	(void) state;
	assert_int_equal(tp_fault_configure("x=fail@3*2"), 0);
	assert_int_equal(tp_fault_hit("x"), TP_FAULT_NONE);
	assert_int_equal(tp_fault_hit("x"), TP_FAULT_NONE);
	assert_int_equal(tp_fault_hit("x"), TP_FAULT_FAIL);
	assert_int_equal(tp_fault_hit("x"), TP_FAULT_FAIL);
	assert_int_equal(tp_fault_hit("x"), TP_FAULT_NONE);
}

static void
test_fault_delay_returns_none(void **state)
{
	(void) state;
	assert_int_equal(tp_fault_configure("d=delay:1*1"), 0);
	assert_int_equal(tp_fault_hit("d"), TP_FAULT_NONE);
}

static void
test_fault_bad_specs_rejected(void **state)
{
	static const char *bad[] = {"x", "=fail", "x=boom", "x=delay",
	    "x=delay:abc", "x=fail@0", "x=fail*-1", "x=fail@",
	    "averyveryveryveryveryveryveryveryveryveryveryveryveryverylongname=fail"};
	(void) state;
	assert_int_equal(tp_fault_configure("keep=fail"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(tp_fault_configure(bad[i]), -1);
	}
	/* A refused spec changes nothing. */
	assert_int_equal(tp_fault_hit("keep"), TP_FAULT_FAIL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fault_off_by_default),
		cmocka_unit_test(test_fault_fail_and_drop),
		cmocka_unit_test(test_fault_nth_and_times),
		cmocka_unit_test(test_fault_delay_returns_none),
		cmocka_unit_test(test_fault_bad_specs_rejected),
	};
	return cmocka_run_group_tests_name("fault", tests, NULL, NULL);
}
