/*
 * background.h: TaskPilot's background thread, with its own database
 * connection: the reconciler, which finishes binds a crash cut short (their
 * intent older than a grace period), and the refresher, which keeps the
 * execution cache of bound, unfinished web tasks fresh in small batches so
 * that lists show progress when nobody calls GetExecution (pilot/README.md).
 * It shares the scheduler client with the RPC workers.
 */
#ifndef PILOT_BACKGROUND_H
#define PILOT_BACKGROUND_H

#include <stddef.h>

#include "common/status.h"
#include "pilot/scheduler_client.h"

typedef struct pilot_background pilot_background;

typedef struct pilot_background_opts {
	const char             *database_url; /* its own connection */
	pilot_scheduler_client *scheduler; /* borrowed, outlives the thread */
	int refresh_ms;      /* refresher period; 0: no refresher */
	int refresh_batch;   /* web tasks refreshed per tick, 1..1000 */
	int reconcile_ms;    /* reconciler period; 0: no reconciler */
	int reconcile_batch; /* binds finished per tick, 1..1000 */
	int bind_grace_ms;   /* an intent this old is finished, >= 0 */
} pilot_background_opts;

/*
 * pilot_background_start opens the thread's database connection and starts
 * it (no thread when both periods are 0). Both jobs run at once, then every
 * period. Returns TP_OK and *out (caller frees with pilot_background_free);
 * TP_INVALID_ARGUMENT for bad options; TP_UNAVAILABLE when the database is
 * not there. opts is copied. Main thread, after the scheduler client opened.
 */
TP_MUST_CHECK tp_status pilot_background_start(
    pilot_background **out, const pilot_background_opts *opts, tp_err *err);

/*
 * pilot_background_free stops the thread (a DTP call it is making finishes
 * first, within the scheduler client's timeout), joins it and closes its
 * connection. NULL is a no-op. Main thread, before the scheduler client is
 * freed.
 */
void pilot_background_free(pilot_background *b);

#endif /* PILOT_BACKGROUND_H */
