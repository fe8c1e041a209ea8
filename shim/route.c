/*
 * route.c: the route table of DESIGN §7 and the matcher. Adding a route is
 * one row here plus its call in calls.c; everything per route (metrics
 * included) is keyed by shim_route_id.
 */
#include "shim/route.h"

#include <stdio.h>
#include <string.h>

static const shim_route routes[SHIM_ROUTE_COUNT] = {
	{ SHIM_ROUTE_CREATE_TASK, SHIM_SERVICE_DTP, "POST", "/tasks",
	    "CreateTask", 201, true, false, false },
	{ SHIM_ROUTE_GET_TASK, SHIM_SERVICE_DTP, "GET", "/tasks/{id}",
	    "GetTask", 200, false, false, false },
	{ SHIM_ROUTE_CANCEL_TASK, SHIM_SERVICE_DTP, "PUT", "/tasks/{id}/cancel",
	    "CancelTask", 200, false, false, false },
	{ SHIM_ROUTE_LIST_TASKS, SHIM_SERVICE_DTP, "GET", "/tasks", "ListTasks",
	    200, false, false, false },
	{ SHIM_ROUTE_DTP_HEALTH, SHIM_SERVICE_DTP, "GET", "/healthz", "Health",
	    200, false, true, false },
	{ SHIM_ROUTE_CREATE_WEB_TASK, SHIM_SERVICE_PILOT, "POST", "/api/tasks",
	    "CreateWebTask", 201, true, false, false },
	{ SHIM_ROUTE_GET_WEB_TASK, SHIM_SERVICE_PILOT, "GET", "/api/tasks/{id}",
	    "GetWebTask", 200, false, false, false },
	{ SHIM_ROUTE_LIST_WEB_TASKS, SHIM_SERVICE_PILOT, "GET", "/api/tasks",
	    "ListWebTasks", 200, false, false, false },
	{ SHIM_ROUTE_BIND_SCHEDULER, SHIM_SERVICE_PILOT, "POST",
	    "/api/tasks/{id}/scheduler", "BindScheduler", 200, false, false,
	    false },
	{ SHIM_ROUTE_GET_EXECUTION, SHIM_SERVICE_PILOT, "GET",
	    "/api/tasks/{id}/execution", "GetExecution", 200, false, false,
	    false },
	{ SHIM_ROUTE_CANCEL_EXECUTION, SHIM_SERVICE_PILOT, "PUT",
	    "/api/tasks/{id}/cancel", "CancelExecution", 200, false, false,
	    false },
	{ SHIM_ROUTE_PILOT_HEALTH, SHIM_SERVICE_PILOT, "GET", "/healthz",
	    "Health", 200, false, true, false },
	/*
	 * /metrics asks its service for what it has to show (metrics.c says
	 * which call) and answers 200 even when the service does not answer.
	 */
	{ SHIM_ROUTE_DTP_METRICS, SHIM_SERVICE_DTP, "GET", "/metrics",
	    "Metrics", 200, false, false, true },
	{ SHIM_ROUTE_PILOT_METRICS, SHIM_SERVICE_PILOT, "GET", "/metrics",
	    "Metrics", 200, false, false, true },
};

/* The order methods are listed in an Allow header. */
static const char *const methods[] = { "GET", "HEAD", "POST", "PUT" };

/* serves tells whether route r answers method: HEAD is GET without a body. */
static bool
serves(const shim_route *r, const char *method)
{
	if (strcmp(method, "HEAD") == 0) {
		return strcmp(r->method, "GET") == 0;
	}
	return strcmp(r->method, method) == 0;
}

const shim_route *
shim_route_get(shim_route_id id)
{
	if ((int) id < 0 || id >= SHIM_ROUTE_COUNT) {
		return NULL;
	}
	return &routes[id];
}

bool
shim_route_parse_id(int64_t *out, const char *s, size_t len)
{
	int64_t v = 0;

	if (len == 0) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		int d;
		if (s[i] < '0' || s[i] > '9') {
			return false;
		}
		d = s[i] - '0';
		if (v > (INT64_MAX - d) / 10) {
			return false;
		}
		v = v * 10 + d;
	}
	if (v == 0) {
		return false;
	}
	*out = v;
	return true;
}

/*
 * shape_matches tells whether path has the shape of pattern: literal bytes
 * equal, and {id} standing for one non-empty segment, returned in *seg.
 */
static bool
shape_matches(
    const char *pattern, const char *path, const char **seg, size_t *seg_len)
{
	const char *p = pattern;
	const char *q = path;

	while (*p != '\0') {
		if (*p == '{') {
			size_t n = strcspn(q, "/");
			if (n == 0) {
				return false;
			}
			*seg     = q;
			*seg_len = n;
			q += n;
			p = strchr(p, '}') + 1;
			continue;
		}
		if (*p != *q) {
			return false;
		}
		p++;
		q++;
	}
	return *q == '\0';
}

tp_status
shim_route_match(shim_match *out, shim_service svc, const char *method,
    const char *path, tp_err *err)
{
	const shim_route *shape = NULL; /* first route with this path */
	const char       *seg   = NULL;
	size_t            len   = 0;
	int64_t           id    = 0;

	for (size_t i = 0; i < SHIM_ROUTE_COUNT; i++) {
		const shim_route *r = &routes[i];
		if (r->service != svc
		    || !shape_matches(r->pattern, path, &seg, &len)) {
			continue;
		}
		if (shape == NULL) {
			shape = r;
		}
		if (!serves(r, method)) {
			continue;
		}
		if (strchr(r->pattern, '{') != NULL
		    && !shim_route_parse_id(&id, seg, len)) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid task id \"%.*s\"",
			    len > 64 ? 64 : (int) len, seg);
		}
		out->route = r;
		out->id    = id;
		return TP_OK;
	}
	if (shape != NULL) {
		return tp_err_set(err, TP_UNIMPLEMENTED,
		    "method %.16s not allowed on %s", method, shape->pattern);
	}
	return tp_err_set(
	    err, TP_NOT_FOUND, "no route for path \"%.64s\"", path);
}

const shim_route *
shim_route_shape(shim_service svc, const char *path)
{
	for (size_t i = 0; i < SHIM_ROUTE_COUNT; i++) {
		const char *seg;
		size_t      len;
		if (routes[i].service == svc
		    && shape_matches(routes[i].pattern, path, &seg, &len)) {
			return &routes[i];
		}
	}
	return NULL;
}

size_t
shim_route_allow(char *buf, size_t size, shim_service svc, const char *path)
{
	size_t n   = 0;
	size_t off = 0;

	if (size > 0) {
		buf[0] = '\0';
	}
	for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
		for (size_t i = 0; i < SHIM_ROUTE_COUNT; i++) {
			const shim_route *r = &routes[i];
			const char       *seg;
			size_t            len;
			int               w;
			if (r->service != svc || !serves(r, methods[m])
			    || !shape_matches(r->pattern, path, &seg, &len)) {
				continue;
			}
			w = snprintf(buf + off, size > off ? size - off : 0,
			    "%s%s", n > 0 ? ", " : "", methods[m]);
			if (w > 0 && off + (size_t) w < size) {
				off += (size_t) w;
			}
			n++;
			break;
		}
	}
	return n;
}
