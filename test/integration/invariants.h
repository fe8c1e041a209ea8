/*
 * invariants.h: the reliability invariants every chaos scenario ends with
 * (docs/RELIABILITY.md). They are checked from two sources: the SQL state
 * of the test database, including a transition audit the checker installs
 * there before the scenario starts (a test-only trigger on dtp.task writing
 * to dtp_audit.transition; never a product migration), and a ledger of the
 * RPC answers the scenario's clients got (which task ids CreateTask
 * accepted, which cancels and binds were answered OK).
 *
 * What is checked:
 *   - no accepted task lost: every id a CreateTask answered OK exists, and
 *     after quiescence it is final (or PENDING with a run_at in the future);
 *   - no task in the table is stuck (RUNNING, or PENDING and due) once the
 *     system is quiescent, accepted or not;
 *   - every transition is a row of DESIGN §5's table (a task is created
 *     PENDING; PENDING->RUNNING, PENDING->CANCELLED, RUNNING->SUCCEEDED,
 *     RUNNING->PENDING, RUNNING->FAILED, RUNNING->CANCELLED), so nothing
 *     leaves a final state; a claim adds exactly 1 to attempts and no other
 *     transition changes them; a task's attempts equal its claims;
 *   - no task SUCCEEDED twice (handler runs are counted per task);
 *   - every cancel answered OK ends CANCELLED (a cancel of a final task is
 *     answered FAILED_PRECONDITION, which the ledger counts apart);
 *   - every bound web task is bound to exactly one DTP task, which exists
 *     and has the key webtask:<id>; no DTP task with a webtask: key is
 *     orphaned; every bind answered OK named the task that is stored.
 *
 * The ledger is safe from any thread. The rest runs on the test's main
 * thread (it fails the cmocka test on a database error).
 */
#ifndef TEST_INVARIANTS_H
#define TEST_INVARIANTS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/status.h"
#include "db/conn.h"

typedef struct inv_ledger inv_ledger;

/* inv_ledger_new makes an empty ledger (free with inv_ledger_free). */
inv_ledger *inv_ledger_new(void);
void        inv_ledger_free(inv_ledger *l);

/*
 * inv_note_create records a CreateTask answer: rc, and on TP_OK the task id
 * (an idempotent replay may repeat an id: it counts once).
 */
void inv_note_create(inv_ledger *l, tp_status rc, int64_t id);

/*
 * inv_note_cancel records a CancelTask (or CancelExecution) answer for DTP
 * task id.
 */
void inv_note_cancel(inv_ledger *l, int64_t id, tp_status rc);

/*
 * inv_note_bind records a BindScheduler answer for web task web_id: on
 * TP_OK, sched_id is the DTP task the answer named.
 */
void inv_note_bind(
    inv_ledger *l, int64_t web_id, tp_status rc, int64_t sched_id);

/* inv_note_call counts an answer of any other call, by name and status. */
void inv_note_call(inv_ledger *l, const char *call, tp_status rc);

/* inv_ledger_count: answers of call (e.g. "CreateTask") with status rc. */
int64_t inv_ledger_count(inv_ledger *l, const char *call, tp_status rc);

/* inv_ledger_accepted: distinct task ids CreateTask answered OK so far. */
int64_t inv_ledger_accepted(inv_ledger *l);

/*
 * inv_ledger_print says (inv_say) every call's answers by status, one line
 * per call ("CreateTask OK=812 UNAVAILABLE=9 ...").
 */
void inv_ledger_print(inv_ledger *l, const char *scenario);

/*
 * inv_say prints one line of what a scenario did to stdout and appends it
 * to the file named by $TP_CHAOS_REPORT when set (the figures of
 * docs/RELIABILITY.md). Main thread.
 */
void inv_say(const char *fmt, ...) TP_PRINTF(1, 2);

/*
 * inv_install_audit creates schema dtp_audit, its transition table and the
 * triggers on dtp.task in c's database. Call it after th_db_create and
 * before any task exists (the checker flags unaudited tasks).
 */
void inv_install_audit(db_conn *c);

/*
 * inv_wait_quiescent polls until no task is RUNNING or PENDING and due
 * and, when binds is true, no web task holds an unfinished bind intent;
 * false when timeout_ms passed first.
 */
bool inv_wait_quiescent(db_conn *c, bool binds, int timeout_ms);

typedef struct inv_report {
	int64_t accepted;         /* distinct ids CreateTask answered OK */
	int64_t lost;             /* accepted, not in dtp.task */
	int64_t unfinished;       /* accepted, RUNNING or due PENDING */
	int64_t later;            /* accepted, PENDING with a future run_at */
	int64_t succeeded;        /* accepted and SUCCEEDED */
	int64_t failed;           /* accepted and FAILED */
	int64_t cancelled;        /* accepted and CANCELLED */
	int64_t tasks;            /* rows in dtp.task */
	int64_t stuck;            /* any row RUNNING or due PENDING */
	int64_t transitions;      /* audit rows */
	int64_t illegal;          /* transitions not in DESIGN §5's table */
	int64_t left_final;       /* transitions out of a final state */
	int64_t bad_attempts;     /* claims not +1, or attempts moved */
	int64_t attempts_vs_runs; /* tasks whose attempts != their claims */
	int64_t status_vs_audit;  /* tasks whose status != last audit row */
	int64_t unaudited;        /* tasks with no creation row */
	int64_t duplicated;       /* tasks SUCCEEDED more than once */
	int64_t runs;             /* claims (handler runs started) */
	int64_t rerun_tasks;      /* tasks claimed more than once */
	int64_t max_runs;         /* most claims of one task */
	int64_t cancels_ok;       /* distinct tasks a cancel was answered OK */
	int64_t cancels_honoured; /* ... that ended CANCELLED */
	int64_t cancels_final;    /* answered FAILED_PRECONDITION */
	int64_t cancels_unknown;  /* answered anything else */
	int64_t binds_checked;    /* bound web tasks */
	int64_t binds_bad;        /* bound to a missing or mis-keyed task */
	int64_t binds_not_one;    /* web tasks with != 1 keyed DTP task */
	int64_t orphans;          /* webtask: keyed DTP tasks not bound */
	int64_t intents;          /* unfinished bind intents */
	int64_t bind_answers_ok;  /* binds answered OK */
	int64_t bind_mismatch;    /* ... naming a task other than stored */
} inv_report;

/*
 * inv_check runs every check on c's database against the ledger, fills
 * *out, says (inv_say) one verdict line with the figures, prints the first
 * offending rows of each failed check, and returns whether every
 * invariant held.
 * Call it once the system is quiescent.
 */
bool inv_check(
    inv_report *out, db_conn *c, inv_ledger *l, const char *scenario);

#endif /* TEST_INVARIANTS_H */
