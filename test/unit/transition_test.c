/*
 * transition_test.c: the task state table (scheduler/transition.c) against
 * DESIGN.md §5, one case per row, and every pair it does not list rejected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <string.h>

#include "scheduler/transition.h"

typedef struct row {
	dtp_state from;
	dtp_state to;
	dtp_event event;
} row;

/* DESIGN.md §5, plus the graceful hand-back (RELEASE). */
static const row expected[] = {
	{ DTP_STATE_PENDING, DTP_STATE_RUNNING, DTP_EVENT_CLAIM },
	{ DTP_STATE_PENDING, DTP_STATE_CANCELLED, DTP_EVENT_CANCEL },
	{ DTP_STATE_RUNNING, DTP_STATE_SUCCEEDED, DTP_EVENT_SUCCEED },
	{ DTP_STATE_RUNNING, DTP_STATE_PENDING, DTP_EVENT_RETRY },
	{ DTP_STATE_RUNNING, DTP_STATE_PENDING, DTP_EVENT_LEASE_EXPIRED },
	{ DTP_STATE_RUNNING, DTP_STATE_PENDING, DTP_EVENT_RELEASE },
	{ DTP_STATE_RUNNING, DTP_STATE_FAILED, DTP_EVENT_FAIL },
	{ DTP_STATE_RUNNING, DTP_STATE_CANCELLED, DTP_EVENT_STOPPED },
};
#define N_EXPECTED (sizeof(expected) / sizeof(expected[0]))

static bool
expected_pair(dtp_state from, dtp_state to)
{
	for (size_t i = 0; i < N_EXPECTED; i++) {
		if (expected[i].from == from && expected[i].to == to) {
			return true;
		}
	}
	return false;
}

/* One case per row: the row is in the table, with a description. */
static void
test_transition_row(void **state)
{
	const row            *r = *state;
	const dtp_transition *t = dtp_transition_find(r->from, r->to, r->event);

	assert_non_null(t);
	assert_int_equal(t->from, r->from);
	assert_int_equal(t->to, r->to);
	assert_int_equal(t->event, r->event);
	assert_non_null(t->when);
	assert_true(strlen(t->when) > 0);
	assert_true(dtp_transition_allowed(r->from, r->to));
	/* The same move under any other event is not allowed. */
	for (int e = DTP_EVENT_MIN; e <= DTP_EVENT_MAX; e++) {
		bool listed = false;
		for (size_t i = 0; i < N_EXPECTED; i++) {
			listed = listed
			    || (expected[i].from == r->from
			        && expected[i].to == r->to
			        && expected[i].event == (dtp_event) e);
		}
		if (!listed) {
			assert_null(
			    dtp_transition_find(r->from, r->to, (dtp_event) e));
		}
	}
}

static void
test_transition_table_has_only_the_design_rows(void **state)
{
	(void) state;
	assert_int_equal(dtp_n_transitions, N_EXPECTED);
	for (size_t i = 0; i < dtp_n_transitions; i++) {
		const dtp_transition *t     = &dtp_transitions[i];
		bool                  found = false;
		for (size_t j = 0; j < N_EXPECTED; j++) {
			found = found
			    || (expected[j].from == t->from
			        && expected[j].to == t->to
			        && expected[j].event == t->event);
		}
		assert_true(found);
		/* No row twice. */
		for (size_t j = i + 1; j < dtp_n_transitions; j++) {
			assert_false(dtp_transitions[j].from == t->from
			    && dtp_transitions[j].to == t->to
			    && dtp_transitions[j].event == t->event);
		}
	}
}

static void
test_transition_disallowed_pairs_rejected(void **state)
{
	(void) state;
	for (int f = DTP_STATE_MIN; f <= DTP_STATE_MAX; f++) {
		for (int t = DTP_STATE_MIN; t <= DTP_STATE_MAX; t++) {
			bool want = expected_pair((dtp_state) f, (dtp_state) t);
			assert_int_equal(dtp_transition_allowed(
			                     (dtp_state) f, (dtp_state) t),
			    want);
			if (!want) {
				for (int e = DTP_EVENT_MIN; e <= DTP_EVENT_MAX;
				     e++) {
					assert_null(
					    dtp_transition_find((dtp_state) f,
					        (dtp_state) t, (dtp_event) e));
				}
			}
		}
	}
}

static void
test_transition_final_states_never_change(void **state)
{
	(void) state;
	for (int f = DTP_STATE_MIN; f <= DTP_STATE_MAX; f++) {
		bool has_exit = false;
		for (int t = DTP_STATE_MIN; t <= DTP_STATE_MAX; t++) {
			has_exit = has_exit
			    || dtp_transition_allowed(
			        (dtp_state) f, (dtp_state) t);
		}
		assert_int_equal(dtp_state_is_final((dtp_state) f), !has_exit);
	}
	assert_true(dtp_state_is_final(DTP_STATE_SUCCEEDED));
	assert_true(dtp_state_is_final(DTP_STATE_FAILED));
	assert_true(dtp_state_is_final(DTP_STATE_CANCELLED));
	assert_false(dtp_state_is_final(DTP_STATE_PENDING));
	assert_false(dtp_state_is_final(DTP_STATE_RUNNING));
}

static void
test_transition_state_names_round_trip(void **state)
{
	static const char *const names[] = { NULL, "PENDING", "RUNNING",
		"SUCCEEDED", "FAILED", "CANCELLED" };
	dtp_state                s       = DTP_STATE_PENDING;

	(void) state;
	for (int i = DTP_STATE_MIN; i <= DTP_STATE_MAX; i++) {
		assert_string_equal(dtp_state_name(i), names[i]);
		assert_true(dtp_state_parse(&s, names[i]));
		assert_int_equal(s, i);
	}
	assert_string_equal(dtp_state_name(0), "UNSPECIFIED");
	assert_string_equal(dtp_state_name(6), "UNSPECIFIED");
	assert_string_equal(dtp_state_name(-1), "UNSPECIFIED");
	s = DTP_STATE_RUNNING;
	assert_false(dtp_state_parse(&s, "pending"));
	assert_false(dtp_state_parse(&s, ""));
	assert_false(dtp_state_parse(&s, NULL));
	assert_int_equal(s, DTP_STATE_RUNNING);
	assert_string_equal(dtp_event_name(DTP_EVENT_CLAIM), "claim");
	assert_string_equal(dtp_event_name(0), "unknown");
}

#define ROW_TEST(i) \
	cmocka_unit_test_prestate(test_transition_row, (void *) &expected[i])

int
main(void)
{
	const struct CMUnitTest tests[] = {
		ROW_TEST(0),
		ROW_TEST(1),
		ROW_TEST(2),
		ROW_TEST(3),
		ROW_TEST(4),
		ROW_TEST(5),
		ROW_TEST(6),
		ROW_TEST(7),
		cmocka_unit_test(
		    test_transition_table_has_only_the_design_rows),
		cmocka_unit_test(test_transition_disallowed_pairs_rejected),
		cmocka_unit_test(test_transition_final_states_never_change),
		cmocka_unit_test(test_transition_state_names_round_trip),
	};

	return cmocka_run_group_tests_name("transition", tests, NULL, NULL);
}
