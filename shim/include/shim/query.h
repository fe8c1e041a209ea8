/*
 * query.h: the query strings of the list routes, GET /tasks and
 * GET /api/tasks, parsed into their RPC requests. Unknown parameters,
 * repeated parameters and bad values are refused, naming the parameter.
 * Pure; any thread.
 */
#ifndef SHIM_QUERY_H
#define SHIM_QUERY_H

#include <stddef.h>

#include "common/status.h"
#include "dtp.pb.h"
#include "pilot.pb.h"

/* One decoded query parameter; value is NULL for "?key" without "=". */
typedef struct shim_kv {
	const char *key;
	const char *value;
} shim_kv;

/*
 * shim_query_list_tasks parses status (PENDING..CANCELLED), type, limit
 * (1..1000), after (a task id, 0 for the start) and order (asc|desc) into a
 * ListTasksRequest. Returns TP_OK and *out (no heap memory), or
 * TP_INVALID_ARGUMENT: `unknown query parameter "x"`, `query parameter
 * "limit" is given twice`, `invalid value for query parameter "limit":
 * "0": expected an integer from 1 to 1000`. args are borrowed.
 */
TP_MUST_CHECK tp_status shim_query_list_tasks(dtp_v1_ListTasksRequest *out,
    const shim_kv *args, size_t n_args, tp_err *err);

/*
 * shim_query_list_web_tasks parses limit, after, type, bound (true|false)
 * and order (asc|desc) into a ListWebTasksRequest, as above.
 */
TP_MUST_CHECK tp_status shim_query_list_web_tasks(
    pilot_v1_ListWebTasksRequest *out, const shim_kv *args, size_t n_args,
    tp_err *err);

#endif /* SHIM_QUERY_H */
