/*
 * node.h: a DTP node: its schema migrations, its worker pool and its RPC
 * server, started and stopped as one. main() is a thin layer over this.
 */
#ifndef SCHEDULER_NODE_H
#define SCHEDULER_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"
#include "scheduler/config.h"
#include "scheduler/handler.h"

typedef struct dtp_node dtp_node;

/*
 * dtp_node_start applies the dtp schema's migrations (from
 * <migrations_dir>/dtp), opens the connections, starts the worker pool and
 * then the RPC server. Returns TP_OK and *out (caller stops it with
 * dtp_node_stop, then frees it with dtp_node_free), or the failing step's
 * status: TP_UNAVAILABLE (database or listen URL), TP_FAILED_PRECONDITION
 * (a changed migration), TP_INVALID_ARGUMENT (a bad URL). cfg and reg are
 * borrowed until dtp_node_free; reg must not change any more. Main thread;
 * blocks.
 */
TP_MUST_CHECK tp_status dtp_node_start(dtp_node **out, const dtp_config *cfg,
    const dtp_registry *reg, tp_err *err);

/*
 * dtp_node_urls writes the listen URLs, comma-separated, with the bound
 * port in place of a tcp port 0, into buf. Returns buf.
 */
char *dtp_node_urls(dtp_node *n, char *buf, size_t size);

/* dtp_node_in_flight counts RPC calls and task attempts in progress. */
int dtp_node_in_flight(dtp_node *n);

/*
 * dtp_node_stop stops gracefully: the RPC server first (in-flight calls
 * finish), then claiming; running tasks get the drain time, then are asked
 * to stop and handed back to PENDING. Returns false when a handler ignored
 * its stop flag and its thread was abandoned: then do not call
 * dtp_node_free, exit the process. Main thread; blocks.
 */
bool dtp_node_stop(dtp_node *n);

/* dtp_node_free closes the connections and frees the node. NULL: no-op. */
void dtp_node_free(dtp_node *n);

#endif /* SCHEDULER_NODE_H */
