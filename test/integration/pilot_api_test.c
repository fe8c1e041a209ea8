/*
 * pilot_api_test.c: TaskPilot's RPC surface against real PostgreSQL and real
 * `dtp` and `taskpilot` processes: unknown and bad ids, bad input writing
 * nothing, the store's conditional bind, the execution cache's guard, the
 * bind intent and the reconciler's and refresher's claims, listing with
 * filters, cursors and the message size limit, and a clean exit on SIGTERM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <pb_decode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "pilot/store.h"
#include "pilot_util.h"

static void
test_pilot_unknown_and_bad_ids(void **state)
{
	static const pb_size_t tags[] = {
		pilot_v1_Request_get_web_task_tag,
		pilot_v1_Request_bind_scheduler_tag,
		pilot_v1_Request_get_execution_tag,
		pilot_v1_Request_cancel_execution_tag,
	};
	pilot_v1_Reply rep;
	tp_err         err;
	int64_t        before = pt_web_task_count();

	(void) state;
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		pt_expect_error(
		    pt_by_id(pt.rpc, tags[i], 987654321, &rep, &err), &err,
		    TP_NOT_FOUND, "web task 987654321 not found");
		pt_expect_error(pt_by_id(pt.rpc, tags[i], 0, &rep, &err), &err,
		    TP_INVALID_ARGUMENT, NULL);
		pt_expect_error(pt_by_id(pt.rpc, tags[i], -4, &rep, &err), &err,
		    TP_INVALID_ARGUMENT, NULL);
	}
	assert_int_equal(pt_web_task_count(), before);
}

/*
 * The store's conditional UPDATE: a second binding to another DTP task
 * changes nothing and shows the first one (DTP's key makes this
 * unreachable through the RPC; the guard is checked here directly). The
 * state CreateTask showed is stored with the binding.
 */
static void
test_pilot_store_bind_keeps_first_binding(void **state)
{
	pilot_v1_WebTask wt;
	pilot_store_seen seen
	    = { dtp_v1_TaskStatus_TASK_STATUS_PENDING, 1700000000123 };
	tp_err  err;
	bool    updated = false;
	int64_t id;
	int64_t first;

	(void) state;
	id    = pt_must_create("demo", "store");
	first = 7000000000 + id;
	assert_int_equal(
	    pilot_store_bind(pt.db, &wt, &updated, id, first, &seen, &err),
	    TP_OK);
	assert_true(updated);
	assert_int_equal(wt.scheduler_task_id, first);
	assert_string_equal(wt.payload, "store");
	assert_true(wt.updated_at_ms >= wt.created_at_ms);
	assert_int_equal(
	    wt.execution_status, dtp_v1_TaskStatus_TASK_STATUS_PENDING);
	assert_int_equal(wt.execution_seen_at_ms, 1700000000123);
	pb_release(pilot_v1_WebTask_fields, &wt);
	assert_int_equal(
	    pilot_store_bind(pt.db, &wt, &updated, id, first + 1, NULL, &err),
	    TP_OK);
	assert_false(updated);
	assert_true(wt.has_scheduler_task_id);
	assert_int_equal(wt.scheduler_task_id, first);
	assert_int_equal(wt.execution_seen_at_ms, 1700000000123);
	pb_release(pilot_v1_WebTask_fields, &wt);
	pt_expect_error(pilot_store_bind(pt.db, &wt, &updated, 987654321,
	                    first + 2, NULL, &err),
	    &err, TP_NOT_FOUND, "web task 987654321 not found");
	/* Another web task cannot take the same DTP task. */
	id = pt_must_create("demo", "store2");
	pt_expect_error(
	    pilot_store_bind(pt.db, &wt, &updated, id, first, NULL, &err), &err,
	    TP_ALREADY_EXISTS, NULL);
	/* Bound without a state seen: nothing cached. */
	assert_int_equal(pilot_store_bind(pt.db, &wt, &updated, id,
	                     first + 100000000, NULL, &err),
	    TP_OK);
	assert_true(updated);
	assert_int_equal(
	    wt.execution_status, dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED);
	assert_int_equal(wt.execution_seen_at_ms, 0);
	pb_release(pilot_v1_WebTask_fields, &wt);
}

/* observe stores seen and reports whether it did; the read must agree. */
static void
expect_cache(int64_t id, dtp_v1_TaskStatus status, int64_t seen_ms)
{
	pilot_v1_WebTask wt;
	tp_err           err;

	assert_int_equal(pt_get_wt(id, &wt, &err), TP_OK);
	assert_int_equal(wt.execution_status, status);
	assert_int_equal(wt.execution_seen_at_ms, seen_ms);
	pb_release(pilot_v1_WebTask_fields, &wt);
}

/*
 * The execution cache's conditional UPDATE, one row per case: the seen
 * time never moves backwards, a final state is never replaced by another,
 * and only the task the web task is bound to counts.
 */
static void
test_pilot_store_execution_cache_guard(void **state)
{
	static const struct {
		dtp_v1_TaskStatus status;
		int64_t           seen_ms;
		bool              other_task;
		bool              stored;
	} cases[] = {
		{ dtp_v1_TaskStatus_TASK_STATUS_RUNNING, 2000, false, true },
		/* Older than what is stored: a slow reply. */
		{ dtp_v1_TaskStatus_TASK_STATUS_PENDING, 1999, false, false },
		/* The same time again: the later write wins. */
		{ dtp_v1_TaskStatus_TASK_STATUS_PENDING, 2000, false, true },
		{ dtp_v1_TaskStatus_TASK_STATUS_RUNNING, 2500, false, true },
		/* Another DTP task than the bound one. */
		{ dtp_v1_TaskStatus_TASK_STATUS_FAILED, 2600, true, false },
		/* Nothing to say. */
		{ dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED, 2700, false,
		    false },
		{ dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED, 3000, false, true },
		/* Final: no later state replaces it, whatever the clock. */
		{ dtp_v1_TaskStatus_TASK_STATUS_RUNNING, 4000, false, false },
		{ dtp_v1_TaskStatus_TASK_STATUS_FAILED, 4000, false, false },
		/* The same final state seen later: the time moves on. */
		{ dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED, 5000, false, true },
	};
	pilot_v1_WebTask  wt;
	tp_err            err;
	bool              updated = false;
	int64_t           id      = pt_must_create("demo", "cache");
	int64_t           sched   = 6000000000 + id;
	dtp_v1_TaskStatus want    = dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED;
	int64_t           want_ms = 0;

	(void) state;
	/* Unbound: nothing is stored. */
	{
		pilot_store_seen seen
		    = { dtp_v1_TaskStatus_TASK_STATUS_RUNNING, 1000 };
		bool stored = true;
		assert_int_equal(
		    pilot_store_observe(pt.db, &stored, id, sched, &seen, &err),
		    TP_OK);
		assert_false(stored);
		expect_cache(id, want, want_ms);
	}
	assert_int_equal(
	    pilot_store_bind(pt.db, &wt, &updated, id, sched, NULL, &err),
	    TP_OK);
	pb_release(pilot_v1_WebTask_fields, &wt);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pilot_store_seen seen
		    = { cases[i].status, 1700000000000 + cases[i].seen_ms };
		bool stored = !cases[i].stored;

		assert_int_equal(
		    pilot_store_observe(pt.db, &stored, id,
		        cases[i].other_task ? sched + 1 : sched, &seen, &err),
		    TP_OK);
		if (stored != cases[i].stored) {
			fail_msg("case %zu: stored=%d, want %d", i, stored,
			    cases[i].stored);
		}
		if (stored) {
			want    = seen.status;
			want_ms = seen.seen_at_ms;
		}
		expect_cache(id, want, want_ms);
	}
	/* A list shows the cache as well. */
	{
		pilot_v1_ListWebTasksReply page;
		pilot_store_filter         f
		    = { .limit = 1, .after_id = id - 1, .max_bytes = 1 << 20 };
		assert_int_equal(
		    pilot_store_list(pt.db, &page, &f, &err), TP_OK);
		assert_int_equal(page.tasks_count, 1);
		assert_int_equal(page.tasks[0].id, id);
		assert_int_equal(page.tasks[0].execution_status, want);
		assert_int_equal(page.tasks[0].execution_seen_at_ms, want_ms);
		pb_release(pilot_v1_ListWebTasksReply_fields, &page);
	}
}

/*
 * The bind intent: stored only while unbound, claimed by the reconciler
 * only once older than the grace period, oldest first, and moved on when
 * claimed so that the next claim passes it over.
 */
static void
test_pilot_store_bind_intent_and_claims(void **state)
{
	pilot_v1_WebTask wt;
	tp_err           err;
	bool             updated = false;
	int64_t          ids[4];
	int64_t          got[4];
	size_t           n = 99;
	char             idbuf[32];
	char             want[128];

	(void) state;
	for (int i = 0; i < 4; i++) {
		ids[i] = pt_must_create("demo", "intent");
	}
	pt_expect_error(pilot_store_request_bind(pt.db, &wt, 987654321, &err),
	    &err, TP_NOT_FOUND, "web task 987654321 not found");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    pilot_store_request_bind(pt.db, &wt, ids[i], &err), TP_OK);
		assert_int_equal(wt.id, ids[i]);
		assert_string_equal(wt.payload, "intent");
		pb_release(pilot_v1_WebTask_fields, &wt);
		assert_true(pt_has_bind_intent(ids[i]));
	}
	assert_false(pt_has_bind_intent(ids[3]));
	/* Bound: no intent is stored, and the error names the binding. */
	assert_int_equal(pilot_store_bind(pt.db, &wt, &updated, ids[3],
	                     5000000000 + ids[3], NULL, &err),
	    TP_OK);
	pb_release(pilot_v1_WebTask_fields, &wt);
	snprintf(want, sizeof(want),
	    "web task %" PRId64 " is already bound to scheduler task %" PRId64,
	    ids[3], 5000000000 + ids[3]);
	pt_expect_error(pilot_store_request_bind(pt.db, &wt, ids[3], &err),
	    &err, TP_FAILED_PRECONDITION, want);
	assert_false(pt_has_bind_intent(ids[3]));

	/* Younger than the grace period: nothing to claim. */
	assert_int_equal(
	    pilot_store_claim_bind_requests(pt.db, got, &n, 4, 60000, &err),
	    TP_OK);
	assert_int_equal(n, 0);
	/* Age them: ids[2] oldest, then ids[0]; ids[1] stays young. */
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, ids[2]);
	assert_int_equal(pt_sql_int("WITH u AS (UPDATE pilot.web_task SET "
	                            "bind_requested_at = now() - interval "
	                            "'10 minutes' WHERE id = $1::bigint "
	                            "RETURNING 1) SELECT count(*) FROM u",
	                     idbuf),
	    1);
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, ids[0]);
	assert_int_equal(pt_sql_int("WITH u AS (UPDATE pilot.web_task SET "
	                            "bind_requested_at = now() - interval "
	                            "'5 minutes' WHERE id = $1::bigint "
	                            "RETURNING 1) SELECT count(*) FROM u",
	                     idbuf),
	    1);
	assert_int_equal(
	    pilot_store_claim_bind_requests(pt.db, got, &n, 1, 60000, &err),
	    TP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(got[0], ids[2]);
	/* Claimed: it waits another grace period; the next is ids[0]. */
	assert_int_equal(
	    pilot_store_claim_bind_requests(pt.db, got, &n, 4, 60000, &err),
	    TP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(got[0], ids[0]);
	assert_int_equal(
	    pilot_store_claim_bind_requests(pt.db, got, &n, 4, 60000, &err),
	    TP_OK);
	assert_int_equal(n, 0);
	/* A grace of 0 takes every unbound intent, the young one too. */
	assert_int_equal(
	    pilot_store_claim_bind_requests(pt.db, got, &n, 4, 0, &err), TP_OK);
	assert_int_equal(n, 3);
	assert_int_equal(got[0], ids[0]);
	assert_int_equal(got[1], ids[1]);
	assert_int_equal(got[2], ids[2]);
	/* Dropping an intent. */
	assert_int_equal(
	    pilot_store_clear_bind_request(pt.db, ids[1], &err), TP_OK);
	assert_false(pt_has_bind_intent(ids[1]));
	pt_expect_error(
	    pilot_store_claim_bind_requests(pt.db, got, &n, 0, 0, &err), &err,
	    TP_INVALID_ARGUMENT, NULL);
	pt_expect_error(
	    pilot_store_claim_bind_requests(pt.db, got, &n, 1, -1, &err), &err,
	    TP_INVALID_ARGUMENT, NULL);
	/* Leave no intent for anyone else. */
	assert_int_equal(
	    pilot_store_clear_bind_request(pt.db, ids[0], &err), TP_OK);
	assert_int_equal(
	    pilot_store_clear_bind_request(pt.db, ids[2], &err), TP_OK);
}

/*
 * The refresher's claim: bound web tasks whose state may still change,
 * never asked first, then least recently asked, none asked since the
 * cut-off; claiming marks them asked.
 */
static void
test_pilot_store_refresh_claims_least_recently_asked(void **state)
{
	pilot_v1_WebTask wt;
	pilot_store_ref  refs[8];
	tp_err           err;
	bool             updated = false;
	bool             stored  = false;
	size_t           n       = 0;
	int64_t          ids[6];
	int64_t          now = tp_clock_unix_ms();
	char             idbuf[32];

	(void) state;
	/* Whatever earlier tests bound: asked "forever", never claimed. */
	(void) pt_sql_int("WITH u AS (UPDATE pilot.web_task SET "
	                  "execution_checked_at = 'infinity' RETURNING 1) "
	                  "SELECT count(*) FROM u",
	    NULL);
	for (int i = 0; i < 6; i++) {
		ids[i] = pt_must_create("demo", "refresh");
		if (i == 5) {
			break; /* ids[5] stays unbound */
		}
		assert_int_equal(pilot_store_bind(pt.db, &wt, &updated, ids[i],
		                     4000000000 + ids[i], NULL, &err),
		    TP_OK);
		pb_release(pilot_v1_WebTask_fields, &wt);
	}
	/* ids[0]: seen RUNNING 10 s ago; ids[1]: asked 20 s ago. */
	{
		pilot_store_seen seen
		    = { dtp_v1_TaskStatus_TASK_STATUS_RUNNING, now - 10000 };
		assert_int_equal(pilot_store_observe(pt.db, &stored, ids[0],
		                     4000000000 + ids[0], &seen, &err),
		    TP_OK);
		assert_true(stored);
	}
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, ids[1]);
	assert_int_equal(pt_sql_int("WITH u AS (UPDATE pilot.web_task SET "
	                            "execution_checked_at = now() - interval "
	                            "'20 seconds' WHERE id = $1::bigint "
	                            "RETURNING 1) SELECT count(*) FROM u",
	                     idbuf),
	    1);
	/* ids[2]: final, never refreshed again. */
	{
		pilot_store_seen seen
		    = { dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED, now - 30000 };
		assert_int_equal(pilot_store_observe(pt.db, &stored, ids[2],
		                     4000000000 + ids[2], &seen, &err),
		    TP_OK);
		assert_true(stored);
	}
	/* ids[3], ids[4]: never asked. Two per claim. */
	assert_int_equal(pilot_store_claim_refresh(
	                     pt.db, refs, &n, 2, now, now - 5000, &err),
	    TP_OK);
	assert_int_equal(n, 2);
	assert_int_equal(refs[0].id, ids[3]);
	assert_int_equal(refs[0].scheduler_task_id, 4000000000 + ids[3]);
	assert_int_equal(refs[1].id, ids[4]);
	/* Then the one asked 20 s ago before the one seen 10 s ago. */
	assert_int_equal(pilot_store_claim_refresh(
	                     pt.db, refs, &n, 1, now, now - 5000, &err),
	    TP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(refs[0].id, ids[1]);
	assert_int_equal(pilot_store_claim_refresh(
	                     pt.db, refs, &n, 1, now, now - 5000, &err),
	    TP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(refs[0].id, ids[0]);
	/* All asked at `now` since: nothing older than the cut-off. */
	assert_int_equal(pilot_store_claim_refresh(
	                     pt.db, refs, &n, 8, now, now - 5000, &err),
	    TP_OK);
	assert_int_equal(n, 0);
	/* A later tick takes them again, the final one never. */
	assert_int_equal(pilot_store_claim_refresh(
	                     pt.db, refs, &n, 8, now + 10000, now + 5000, &err),
	    TP_OK);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		assert_true(refs[i].id != ids[2] && refs[i].id != ids[5]);
	}
	pt_expect_error(
	    pilot_store_claim_refresh(pt.db, refs, &n, 0, now, now, &err), &err,
	    TP_INVALID_ARGUMENT, NULL);
}

static void
test_pilot_invalid_input_writes_nothing(void **state)
{
	static const struct {
		const char *title;
		const char *type;
		const char *payload;
		const char *field;
	} cases[] = {
		{ NULL, "", "x", "type" },
		{ NULL, "Demo", "x", "type" },
		{ NULL, "has space", "x", "type" },
		{ NULL, "demo!", "x", "type" },
		{ "bad \xff title", "demo", "x", "title" },
		{ NULL, "demo", "bad \xc3 payload", "payload" },
	};
	pilot_v1_WebTask wt;
	tp_err           err;
	int64_t          before = pt_web_task_count();
	size_t           big    = 256 * 1024;
	char            *payload;
	char             title[201];

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pt_expect_error(pt_create_wt(pt.rpc, &wt, cases[i].title,
		                    cases[i].type, cases[i].payload, &err),
		    &err, TP_INVALID_ARGUMENT, NULL);
		if (strstr(err.msg, cases[i].field) == NULL) {
			fail_msg("case %zu: \"%s\" does not name %s", i,
			    err.msg, cases[i].field);
		}
	}
	payload = malloc(big + 2);
	memset(payload, 'p', big + 1);
	payload[big + 1] = '\0';
	pt_expect_error(pt_create_wt(pt.rpc, &wt, NULL, "demo", payload, &err),
	    &err, TP_INVALID_ARGUMENT,
	    "payload is too large: 262145 bytes, the limit "
	    "is 262144");
	assert_int_equal(pt_web_task_count(), before);

	/* At the limits: accepted. */
	payload[big] = '\0';
	memset(title, 't', 200);
	title[200] = '\0';
	assert_int_equal(
	    pt_create_wt(pt.rpc, &wt, title, "a.b-c_9", payload, &err), TP_OK);
	assert_string_equal(wt.title, title);
	assert_int_equal(strlen(wt.payload), big);
	pb_release(pilot_v1_WebTask_fields, &wt);
	free(payload);
	assert_int_equal(pt_web_task_count(), before + 1);
}

/* list_page runs ListWebTasks; *rep is the caller's to release. */
static tp_status
list_page(pilot_v1_Reply *rep, int limit, int64_t after, const char *type,
    int bound, bool newest_first, tp_err *err)
{
	pilot_v1_Request req = pilot_v1_Request_init_zero;

	req.which_call                    = pilot_v1_Request_list_web_tasks_tag;
	req.call.list_web_tasks.limit     = limit;
	req.call.list_web_tasks.after_id  = after;
	req.call.list_web_tasks.has_bound = bound >= 0;
	req.call.list_web_tasks.bound     = bound > 0;
	req.call.list_web_tasks.newest_first = newest_first;
	snprintf(req.call.list_web_tasks.type,
	    sizeof(req.call.list_web_tasks.type), "%s", type);
	return pt_call(pt.rpc, &req, rep, err);
}

/* walk pages through a listing; returns the ids seen, in order. */
static size_t
walk(int64_t *ids, size_t max, int limit, const char *type, int bound,
    bool newest_first, size_t *pages)
{
	pilot_v1_Reply rep;
	tp_err         err;
	int64_t        after = 0;
	size_t         n     = 0;

	*pages = 0;
	for (;;) {
		pilot_v1_ListWebTasksReply *l = &rep.result.list_web_tasks;
		if (list_page(
		        &rep, limit, after, type, bound, newest_first, &err)
		    != TP_OK) {
			fail_msg("ListWebTasks: %s", err.msg);
		}
		(*pages)++;
		assert_true(l->tasks_count <= (pb_size_t) limit);
		for (pb_size_t i = 0; i < l->tasks_count; i++) {
			assert_true(n < max);
			assert_string_equal(l->tasks[i].type, type);
			if (bound >= 0) {
				assert_int_equal(
				    l->tasks[i].has_scheduler_task_id,
				    bound > 0);
			}
			ids[n++] = l->tasks[i].id;
		}
		after = l->next_after_id;
		if (after != 0) {
			assert_true(l->tasks_count > 0);
			assert_int_equal(
			    after, l->tasks[l->tasks_count - 1].id);
		}
		pb_release(pilot_v1_Reply_fields, &rep);
		if (after == 0) {
			return n;
		}
		assert_true(*pages < 100);
	}
}

static void
test_pilot_list_filters_and_cursor(void **state)
{
	int64_t        made[5];
	int64_t        seen[16];
	size_t         pages;
	size_t         n;
	pilot_v1_Reply rep;
	tp_err         err;
	char           idbuf[32];

	(void) state;
	for (int i = 0; i < 5; i++) {
		made[i] = pt_must_create("listcase", "x");
	}
	/* Oldest first, two by two: 2 + 2 + 1. */
	n = walk(seen, 16, 2, "listcase", -1, false, &pages);
	assert_int_equal(n, 5);
	assert_int_equal(pages, 3);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(seen[i], made[i]);
	}
	/* Newest first. */
	n = walk(seen, 16, 2, "listcase", -1, true, &pages);
	assert_int_equal(n, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(seen[i], made[4 - i]);
	}
	/* One page holding everything says there is no more. */
	n = walk(seen, 16, 1000, "listcase", -1, false, &pages);
	assert_int_equal(n, 5);
	assert_int_equal(pages, 1);

	/* Bound filter: mark one bound in the database. */
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, made[2]);
	assert_int_equal(
	    pt_sql_int(
	        "WITH u AS (UPDATE pilot.web_task SET scheduler_task_id = "
	        "8000000000 + id WHERE id = $1 RETURNING 1) "
	        "SELECT count(*) FROM u",
	        idbuf),
	    1);
	n = walk(seen, 16, 10, "listcase", 1, false, &pages);
	assert_int_equal(n, 1);
	assert_int_equal(seen[0], made[2]);
	n = walk(seen, 16, 10, "listcase", 0, false, &pages);
	assert_int_equal(n, 4);

	/* The default limit is 50, and bad arguments are refused. */
	assert_int_equal(
	    list_page(&rep, 0, 0, "listcase", -1, false, &err), TP_OK);
	assert_int_equal(rep.result.list_web_tasks.tasks_count, 5);
	pb_release(pilot_v1_Reply_fields, &rep);
	pt_expect_error(list_page(&rep, 1001, 0, "", -1, false, &err), &err,
	    TP_INVALID_ARGUMENT, NULL);
	pt_expect_error(list_page(&rep, -1, 0, "", -1, false, &err), &err,
	    TP_INVALID_ARGUMENT, NULL);
	pt_expect_error(list_page(&rep, 10, -1, "", -1, false, &err), &err,
	    TP_INVALID_ARGUMENT, NULL);
	pt_expect_error(list_page(&rep, 10, 0, "Bad Type", -1, false, &err),
	    &err, TP_INVALID_ARGUMENT, NULL);
}

/* A page stops before the reply would pass the 1 MiB message limit. */
static void
test_pilot_list_stops_at_message_limit(void **state)
{
	size_t         big = 250000;
	char          *payload;
	int64_t        made[5];
	int64_t        seen[8];
	size_t         pages;
	size_t         n;
	pilot_v1_Reply rep;
	tp_err         err;

	(void) state;
	payload = malloc(big + 1);
	memset(payload, 'b', big);
	payload[big] = '\0';
	for (int i = 0; i < 5; i++) {
		made[i] = pt_must_create("listbig", payload);
	}
	free(payload);
	assert_int_equal(
	    list_page(&rep, 10, 0, "listbig", -1, false, &err), TP_OK);
	assert_int_equal(rep.result.list_web_tasks.tasks_count, 4);
	assert_int_equal(rep.result.list_web_tasks.next_after_id, made[3]);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(
		    strlen(rep.result.list_web_tasks.tasks[i].payload), big);
	}
	pb_release(pilot_v1_Reply_fields, &rep);
	n = walk(seen, 8, 10, "listbig", -1, false, &pages);
	assert_int_equal(n, 5);
	assert_int_equal(pages, 2);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(seen[i], made[i]);
	}
}

/* Last: SIGTERM stops both services cleanly (exit status 0). */
static void
test_pilot_sigterm_exits_zero(void **state)
{
	(void) state;
	pt_stop_all();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pilot_unknown_and_bad_ids),
		cmocka_unit_test(test_pilot_store_bind_keeps_first_binding),
		cmocka_unit_test(test_pilot_store_execution_cache_guard),
		cmocka_unit_test(test_pilot_store_bind_intent_and_claims),
		cmocka_unit_test(
		    test_pilot_store_refresh_claims_least_recently_asked),
		cmocka_unit_test(test_pilot_invalid_input_writes_nothing),
		cmocka_unit_test(test_pilot_list_filters_and_cursor),
		cmocka_unit_test(test_pilot_list_stops_at_message_limit),
		cmocka_unit_test(test_pilot_sigterm_exits_zero),
	};
	return cmocka_run_group_tests_name(
	    "pilot_api", tests, pt_setup, pt_teardown);
}
