/*
 * create_batch.h (private): the group commit of CreateTask. The RPC
 * threads' creates that arrive together share one INSERT, hence one
 * commit (see the DESIGN in create_batch.c).
 */
#ifndef SCHEDULER_CREATE_BATCH_H
#define SCHEDULER_CREATE_BATCH_H

#include <stdbool.h>

#include "common/status.h"
#include "db/conn.h"
#include "dtp.pb.h"
#include "metrics.h"
#include "store.h"

typedef struct dtp_create_batch dtp_create_batch;

/*
 * dtp_create_batch_new returns an empty queue counting its statements in
 * metrics (borrowed, may be NULL). Caller frees with dtp_create_batch_free
 * once no thread uses it.
 */
dtp_create_batch *dtp_create_batch_new(dtp_metrics *metrics);

/* dtp_create_batch_free frees b. NULL is a no-op. */
void dtp_create_batch_free(dtp_create_batch *b);

/*
 * dtp_create_batch_insert is dtp_store_create (same statuses, same *out
 * and *replayed, same ownership) through the group commit: nt (borrowed,
 * validated) joins the creates queued meanwhile, and this thread either
 * waits while another writes them on its connection or writes them on c.
 * A create the database refuses fails alone; TP_UNAVAILABLE (connection
 * lost: the outcome is unknown) is every queued create's answer. Blocks;
 * any thread that owns c.
 */
TP_MUST_CHECK tp_status dtp_create_batch_insert(dtp_v1_Task *out,
    bool *replayed, dtp_create_batch *b, db_conn *c, const dtp_new_task *nt,
    tp_err *err);

#endif /* SCHEDULER_CREATE_BATCH_H */
