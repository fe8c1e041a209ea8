/*
 * binding.h: binding a web task to a DTP task (DESIGN §6) so that a crash at
 * any point is finished without a client retry, and the writes of the
 * execution cache (the design is in pilot/README.md). Used by the RPC
 * handlers (BindScheduler, GetExecution, CancelExecution) and by the
 * background reconciler and refresher.
 *
 * Threads: any thread, each with its own db_conn (never shared); the
 * scheduler client is shared and thread-safe. Every function blocks on the
 * database and on DTP.
 *
 * Fault points (common/fault.h, -DTP_FAULTS=ON builds):
 *   pilot.bind.after_intent  the intent is stored, DTP not called yet
 *                            (BindScheduler only)
 *   pilot.bind.after_create  DTP answered, the binding not stored yet
 *                            (BindScheduler and the reconciler)
 * `crash` kills the process there; `delay:MS` waits; `fail` and `drop` end
 * the bind with TP_UNAVAILABLE at that point, the intent kept.
 */
#ifndef PILOT_BINDING_H
#define PILOT_BINDING_H

#include <stdbool.h>
#include <stdint.h>

#include "common/status.h"
#include "db/conn.h"
#include "dtp.pb.h"
#include "pilot.pb.h"
#include "pilot/scheduler_client.h"

/*
 * pilot_binding_bind is BindScheduler for web task id: store the bind intent
 * in the statement that checks the task is unbound, call CreateTask with the
 * idempotency key "webtask:<id>" (its timeout bounded by deadline_ms, the
 * caller's Unix-ms deadline, 0: none), then store the binding and the state
 * DTP showed with a conditional UPDATE. Returns TP_OK with the bound web task
 * in *out (caller releases it with pb_release(pilot_v1_WebTask_fields, out));
 * TP_NOT_FOUND; TP_FAILED_PRECONDITION "web task 4 is already bound to
 * scheduler task 1"; DTP's refusal (INVALID_ARGUMENT, ALREADY_EXISTS,
 * RESOURCE_EXHAUSTED, ...), worded "could not create the dtp task of web task
 * 4: <why>", after which the intent is dropped (a retry cannot help); or a
 * transient status (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL: DTP or the
 * database was not there), after which the intent stays and the reconciler
 * finishes the bind.
 */
TP_MUST_CHECK tp_status pilot_binding_bind(db_conn *db,
    pilot_scheduler_client *sched, pilot_v1_WebTask *out, int64_t id,
    int64_t deadline_ms, tp_err *err);

/*
 * pilot_binding_reconcile finishes the bind of web task id, whose intent the
 * caller claimed (pilot_store_claim_bind_requests): the same CreateTask with
 * the same key, so DTP answers with the task a cut-short bind made, or makes
 * it now; then the same conditional UPDATE. Returns TP_OK when the web task
 * is bound afterwards (by this call or by another); otherwise as
 * pilot_binding_bind (no deadline but the client's timeout).
 */
TP_MUST_CHECK tp_status pilot_binding_reconcile(
    db_conn *db, pilot_scheduler_client *sched, int64_t id, tp_err *err);

/*
 * pilot_binding_observe stores what a DTP call just showed of web task id's
 * DTP task (task, borrowed) in the execution cache, seen now
 * (pilot_store_observe). The cache is a convenience: a failure is logged,
 * not returned.
 */
void pilot_binding_observe(db_conn *db, int64_t id, const dtp_v1_Task *task);

/*
 * pilot_binding_is_transient tells whether a failed bind may work when tried
 * again later (DTP or the database was not there, or did not answer in
 * time), so its intent is kept, rather than refused for good.
 */
bool pilot_binding_is_transient(tp_status code);

#endif /* PILOT_BINDING_H */
