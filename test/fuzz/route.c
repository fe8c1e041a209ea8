/*
 * route.c: fuzz target for the gateway's router. Input: one byte choosing
 * the listener, the method up to the first '\n', the path after it.
 * Properties: a match is a route of that listener serving the method with
 * a positive id exactly when its pattern has one; a 405 has an Allow list
 * and a 404 none; errors quote the input within the message size; the
 * Allow list never overflows its buffer.
 */
#include <string.h>

#include "fuzz.h"
#include "shim/route.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	shim_service      svc;
	const char       *nl;
	char             *method, *path;
	shim_match        m = { NULL, -1 };
	tp_err            err;
	tp_status         rc;
	char              allow[64], tiny[6];
	size_t            n_allow;
	const shim_route *shape;
	int64_t           id = -1;

	if (size < 1) {
		return 0;
	}
	svc = (data[0] & 1) != 0 ? SHIM_SERVICE_PILOT : SHIM_SERVICE_DTP;
	nl  = memchr(data + 1, '\n', size - 1);
	if (nl == NULL) {
		return 0;
	}
	method = strndup(
	    (const char *) data + 1, (size_t) (nl - (const char *) data - 1));
	path = strndup(nl + 1, size - (size_t) (nl + 1 - (const char *) data));
	FUZZ_CHECK(method != NULL && path != NULL);

	rc      = shim_route_match(&m, svc, method, path, &err);
	n_allow = shim_route_allow(allow, sizeof(allow), svc, path);
	FUZZ_CHECK(strlen(allow) < sizeof(allow));
	(void) shim_route_allow(tiny, sizeof(tiny), svc, path);
	FUZZ_CHECK(strlen(tiny) < sizeof(tiny));
	shape = shim_route_shape(svc, path);
	switch (rc) {
	case TP_OK:
		FUZZ_CHECK(m.route != NULL && m.route->service == svc);
		FUZZ_CHECK(strcmp(m.route->method, method) == 0
		    || (strcmp(method, "HEAD") == 0
		        && strcmp(m.route->method, "GET") == 0));
		FUZZ_CHECK(
		    (strchr(m.route->pattern, '{') != NULL) == (m.id > 0));
		FUZZ_CHECK(shape != NULL && n_allow > 0);
		break;
	case TP_UNIMPLEMENTED:
		FUZZ_CHECK(m.route == NULL && m.id == -1);
		FUZZ_CHECK(shape != NULL && n_allow > 0);
		break;
	case TP_NOT_FOUND:
		FUZZ_CHECK(m.route == NULL && shape == NULL && n_allow == 0);
		break;
	case TP_INVALID_ARGUMENT:
		FUZZ_CHECK(m.route == NULL && shape != NULL);
		FUZZ_CHECK(strstr(err.msg, "invalid task id") == err.msg);
		break;
	default:
		FUZZ_CHECK(!"unexpected status");
	}
	FUZZ_CHECK(rc == TP_OK || strlen(err.msg) < 200);
	if (shim_route_parse_id(&id, path, strlen(path))) {
		FUZZ_CHECK(id > 0);
	} else {
		FUZZ_CHECK(id == -1);
	}
	free(method);
	free(path);
	return 0;
}
