/* http_status.c: tp_status -> HTTP status, in one table (see http_status.h). */
#include "shim/http_status.h"

static const int table[TP_STATUS_MAX + 1] = {
	[TP_OK]                  = 200,
	[TP_CANCELLED]           = 499, /* nginx's "client closed request" */
	[TP_UNKNOWN]             = 500,
	[TP_INVALID_ARGUMENT]    = 400,
	[TP_DEADLINE_EXCEEDED]   = 504,
	[TP_NOT_FOUND]           = 404,
	[TP_ALREADY_EXISTS]      = 409,
	[TP_PERMISSION_DENIED]   = 403,
	[TP_RESOURCE_EXHAUSTED]  = 429,
	[TP_FAILED_PRECONDITION] = 409, /* departure from grpc-gateway's 400 */
	[TP_ABORTED]             = 500,
	[TP_OUT_OF_RANGE]        = 500,
	[TP_UNIMPLEMENTED]       = 501,
	[TP_INTERNAL]            = 500,
	[TP_UNAVAILABLE]         = 503,
	[TP_DATA_LOSS]           = 500,
	[TP_UNAUTHENTICATED]     = 401,
};

int
shim_http_status(int code)
{
	if (code < 0 || code > TP_STATUS_MAX) {
		return 500;
	}
	return table[code];
}
