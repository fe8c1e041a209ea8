/*
 * http_status.h: the one table from tp_status to HTTP status (DESIGN §7),
 * grpc-gateway's mapping with two departures on purpose: FAILED_PRECONDITION
 * is 409, not 400, and a wrong method is 405 (decided by the router, not
 * here). Pure; any thread.
 */
#ifndef SHIM_HTTP_STATUS_H
#define SHIM_HTTP_STATUS_H

#include "common/status.h"

/*
 * shim_http_status returns the HTTP status for code: OK 200, CANCELLED 499,
 * INVALID_ARGUMENT 400, DEADLINE_EXCEEDED 504, NOT_FOUND 404,
 * ALREADY_EXISTS 409, PERMISSION_DENIED 403, RESOURCE_EXHAUSTED 429,
 * FAILED_PRECONDITION 409, UNIMPLEMENTED 501, INTERNAL 500, UNAVAILABLE 503,
 * UNAUTHENTICATED 401, and 500 for every other code (numbers outside the
 * enum included).
 */
int shim_http_status(int code);

#endif /* SHIM_HTTP_STATUS_H */
