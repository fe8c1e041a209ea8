/*
 * pilot_util.h: what the pilot integration tests share: one database, one
 * `dtp` and one `taskpilot` per test binary (started by pt_setup, the cmocka
 * group setup; the taskpilot with its background jobs off, so that what the
 * tests see comes from the calls they make; tests that want the reconciler
 * or the refresher start a taskpilot of their own), and short helpers for
 * the calls. The calls are safe from any thread (tp_rpc's client is); the
 * rest from the main thread only.
 */
#ifndef TEST_PILOT_UTIL_H
#define TEST_PILOT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "db/conn.h"
#include "harness.h"
#include "proto/envelope.h"
#include "rpc/client.h"

#define START_MS 20000 /* a service answers Health within this */
#define RUN_MS   20000 /* a demo task finishes within this */
#define STOP_MS  15000 /* a service exits after SIGTERM within this */

typedef struct pt_env {
	const char *db_url; /* the test binary's database */
	db_conn    *db;     /* for checking what was (not) written */
	th_proc     dtp;    /* the dtp node */
	th_proc     pilot;  /* the taskpilot talking to it */
	char        dtp_url[64];
	char        pilot_url[64];
	rpc_client *rpc; /* pilot envelope, to pilot_url */
} pt_env;

extern pt_env pt;

/* pt_setup / pt_teardown: cmocka group setup and teardown. */
int pt_setup(void **state);
int pt_teardown(void **state);
/* pt_setup_dtp_only is pt_setup without the taskpilot (pt.rpc NULL). */
int pt_setup_dtp_only(void **state);

/* PILOT_* settings that switch the background jobs off. */
#define PT_NO_BACKGROUND "PILOT_REFRESH_MS=0", "PILOT_RECONCILE_MS=0"

/* pt_start_dtp starts a dtp on url (the test database, 2 workers). */
void pt_start_dtp(th_proc *p, const char *name, const char *url);
/*
 * pt_start_pilot starts a taskpilot on url talking to dtp (a URL list), its
 * background jobs off.
 */
void pt_start_pilot(th_proc *p, const char *name, const char *url,
    const char *dtp, const char *dtp_timeout_ms);
/*
 * pt_start_pilot_env is pt_start_pilot with more "K=V" settings (extra, up
 * to 12, NULL-terminated; they win over the defaults: PILOT_REFRESH_MS=0 and
 * PILOT_RECONCILE_MS=0 unless given).
 */
void pt_start_pilot_env(th_proc *p, const char *name, const char *url,
    const char *dtp, const char *dtp_timeout_ms, const char *const *extra);
/* pt_free_url writes "tcp://127.0.0.1:<a free port>" to buf (64 bytes). */
char *pt_free_url(char *buf, size_t size);
/* pt_open_client opens a pilot-envelope client; free with rpc_client_free. */
rpc_client *pt_open_client(const char *url);
/* pt_stop_all: SIGTERM to taskpilot and dtp, both must exit 0. */
void pt_stop_all(void);

/*
 * The calls return the call's status; a reply or task they hand back is the
 * caller's to release with pb_release.
 */
tp_status pt_call(
    rpc_client *c, pilot_v1_Request *req, pilot_v1_Reply *rep, tp_err *err);
tp_status pt_create_wt(rpc_client *c, pilot_v1_WebTask *out, const char *title,
    const char *type, const char *payload, tp_err *err);
/* pt_must_create creates a web task through pt.rpc and returns its id. */
int64_t pt_must_create(const char *type, const char *payload);
/* pt_by_id sends GetWebTask, BindScheduler, GetExecution or CancelExecution. */
tp_status pt_by_id(
    rpc_client *c, pb_size_t tag, int64_t id, pilot_v1_Reply *rep, tp_err *err);
tp_status pt_get_wt(int64_t id, pilot_v1_WebTask *out, tp_err *err);
tp_status pt_bind_wt(rpc_client *c, int64_t id, int64_t *sched, tp_err *err);
tp_status pt_execution(
    rpc_client *c, bool cancel, int64_t id, dtp_v1_Task *out, tp_err *err);
/* pt_wait_final polls GetExecution until the task is final; returns it. */
void pt_wait_final(rpc_client *c, int64_t id, dtp_v1_Task *out);
/*
 * pt_wait_bound polls GetWebTask (only: no bind, no GetExecution) through c
 * until web task id is bound, up to timeout_ms; returns the scheduler task
 * id, or fails the test (dumping log's log when not NULL).
 */
int64_t pt_wait_bound(
    rpc_client *c, int64_t id, int timeout_ms, const th_proc *log);
/*
 * pt_log_has reads p's log and tells whether one line holds both needles
 * (b may be NULL).
 */
bool pt_log_has(const th_proc *p, const char *a, const char *b);

/* pt_sql_int runs a query returning one integer (param may be NULL). */
int64_t pt_sql_int(const char *sql, const char *param);
int64_t pt_web_task_count(void);
/* pt_dtp_tasks_for counts DTP tasks with the key "webtask:<id>". */
int64_t pt_dtp_tasks_for(int64_t web_task_id);
/* pt_dtp_task_for is the id of the DTP task keyed "webtask:<id>", or 0. */
int64_t pt_dtp_task_for(int64_t web_task_id);
/* pt_has_bind_intent: whether web task id has bind_requested_at set. */
bool pt_has_bind_intent(int64_t web_task_id);
/* pt_expect_error fails unless got == want (and the message, when given). */
void pt_expect_error(
    tp_status got, const tp_err *err, tp_status want, const char *want_msg);

#endif /* TEST_PILOT_UTIL_H */
