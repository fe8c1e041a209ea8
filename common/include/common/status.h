/*
 * status.h: tp_status, the one error type of every layer (gRPC's codes), and
 * tp_err, the optional reason that travels with it.
 */
#ifndef COMMON_STATUS_H
#define COMMON_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#define TP_MUST_CHECK __attribute__((warn_unused_result))
#define TP_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Same numbers and names as gRPC's status codes. */
typedef enum tp_status {
	TP_OK                  = 0,
	TP_CANCELLED           = 1,
	TP_UNKNOWN             = 2,
	TP_INVALID_ARGUMENT    = 3,
	TP_DEADLINE_EXCEEDED   = 4,
	TP_NOT_FOUND           = 5,
	TP_ALREADY_EXISTS      = 6,
	TP_PERMISSION_DENIED   = 7,
	TP_RESOURCE_EXHAUSTED  = 8,
	TP_FAILED_PRECONDITION = 9,
	TP_ABORTED             = 10,
	TP_OUT_OF_RANGE        = 11,
	TP_UNIMPLEMENTED       = 12,
	TP_INTERNAL            = 13,
	TP_UNAVAILABLE         = 14,
	TP_DATA_LOSS           = 15,
	TP_UNAUTHENTICATED     = 16,
} tp_status;

#define TP_STATUS_MAX TP_UNAUTHENTICATED
#define TP_ERR_MSG_MAX 512

/* A status with its reason; callers keep it on the stack. */
typedef struct tp_err {
	tp_status code;
	char      msg[TP_ERR_MSG_MAX];
} tp_err;

/*
 * tp_status_name returns "OK", "NOT_FOUND", ... for a code, or "UNKNOWN" for
 * a number outside the table. The string is static. Any thread.
 */
const char *tp_status_name(int code);

/*
 * tp_status_from_name parses a name such as "NOT_FOUND" into *out. Returns
 * false (and leaves *out alone) for an unknown name.
 */
bool tp_status_from_name(tp_status *out, const char *name);

/*
 * tp_err_set fills err (when not NULL) with code and the formatted reason,
 * and returns code, so callers write `return tp_err_set(err, ...)`.
 */
tp_status tp_err_set(tp_err *err, tp_status code, const char *fmt, ...)
    TP_PRINTF(3, 4);

/* tp_err_clear resets err (when not NULL) to TP_OK with an empty message. */
void tp_err_clear(tp_err *err);

#endif /* COMMON_STATUS_H */
