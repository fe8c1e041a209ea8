/* status.c: names of the tp_status codes and the tp_err helpers. */
#include "common/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = {
	[TP_OK]                  = "OK",
	[TP_CANCELLED]           = "CANCELLED",
	[TP_UNKNOWN]             = "UNKNOWN",
	[TP_INVALID_ARGUMENT]    = "INVALID_ARGUMENT",
	[TP_DEADLINE_EXCEEDED]   = "DEADLINE_EXCEEDED",
	[TP_NOT_FOUND]           = "NOT_FOUND",
	[TP_ALREADY_EXISTS]      = "ALREADY_EXISTS",
	[TP_PERMISSION_DENIED]   = "PERMISSION_DENIED",
	[TP_RESOURCE_EXHAUSTED]  = "RESOURCE_EXHAUSTED",
	[TP_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
	[TP_ABORTED]             = "ABORTED",
	[TP_OUT_OF_RANGE]        = "OUT_OF_RANGE",
	[TP_UNIMPLEMENTED]       = "UNIMPLEMENTED",
	[TP_INTERNAL]            = "INTERNAL",
	[TP_UNAVAILABLE]         = "UNAVAILABLE",
	[TP_DATA_LOSS]           = "DATA_LOSS",
	[TP_UNAUTHENTICATED]     = "UNAUTHENTICATED",
};

const char *
tp_status_name(int code)
{
	if (code < 0 || code > TP_STATUS_MAX) {
		return "UNKNOWN";
	}
	return names[code];
}

bool
tp_status_from_name(tp_status *out, const char *name)
{
	for (int i = 0; i <= TP_STATUS_MAX; i++) {
		if (strcmp(names[i], name) == 0) {
			*out = (tp_status) i;
			return true;
		}
	}
	return false;
}

tp_status
tp_err_set(tp_err *err, tp_status code, const char *fmt, ...)
{
	if (err != NULL) {
		va_list ap;
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

void
tp_err_clear(tp_err *err)
{
	if (err != NULL) {
		err->code   = TP_OK;
		err->msg[0] = '\0';
	}
}
