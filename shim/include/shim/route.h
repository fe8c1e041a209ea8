/*
 * route.h: the gateway's route table (DESIGN §7): method + path pattern ->
 * RPC call, per listener, and the matcher that turns a request line into a
 * route and its task id. Pure functions over static tables; any thread.
 */
#ifndef SHIM_ROUTE_H
#define SHIM_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/* The two listeners: DTP routes and TaskPilot routes. */
typedef enum shim_service {
	SHIM_SERVICE_DTP   = 0,
	SHIM_SERVICE_PILOT = 1,
} shim_service;

#define SHIM_SERVICE_COUNT 2

typedef enum shim_route_id {
	SHIM_ROUTE_CREATE_TASK = 0,
	SHIM_ROUTE_GET_TASK,
	SHIM_ROUTE_CANCEL_TASK,
	SHIM_ROUTE_LIST_TASKS,
	SHIM_ROUTE_DTP_HEALTH,
	SHIM_ROUTE_CREATE_WEB_TASK,
	SHIM_ROUTE_GET_WEB_TASK,
	SHIM_ROUTE_LIST_WEB_TASKS,
	SHIM_ROUTE_BIND_SCHEDULER,
	SHIM_ROUTE_GET_EXECUTION,
	SHIM_ROUTE_CANCEL_EXECUTION,
	SHIM_ROUTE_PILOT_HEALTH,
	SHIM_ROUTE_DTP_METRICS,
	SHIM_ROUTE_PILOT_METRICS,
	SHIM_ROUTE_COUNT,
} shim_route_id;

typedef struct shim_route {
	shim_route_id id;
	shim_service  service;
	const char   *method;  /* "GET", "POST" or "PUT" */
	const char   *pattern; /* "/tasks/{id}/cancel"; {id} is one segment */
	const char   *call;    /* the RPC: "CancelTask" */
	int           success_http; /* 200, or 201 for creates */
	bool          has_body;     /* the request body is a JSON object */
	bool          is_public;    /* served without the bearer token */
	bool          is_metrics; /* answered in Prometheus text (metrics.h) */
} shim_route;

/* A matched request: the route and the {id} of its path (0 when none). */
typedef struct shim_match {
	const shim_route *route;
	int64_t           id;
} shim_match;

/*
 * shim_route_get returns the route with that id (static), or NULL for an id
 * out of range.
 */
const shim_route *shim_route_get(shim_route_id id);

/*
 * shim_route_match finds the route of svc for method and path (the decoded
 * path without the query string). Paths match exactly: a trailing slash or
 * an empty segment is another path. HEAD matches the GET route of a path
 * (served like GET, without the body). Returns TP_OK and *out; TP_NOT_FOUND
 * for a path no route of svc has (`no route for path "/x"`); TP_UNIMPLEMENTED
 * when the path exists with other methods (`method POST not allowed on
 * /tasks/{id}`: the gateway answers 405 with shim_route_allow); or
 * TP_INVALID_ARGUMENT when {id} is not a positive decimal int64 (`invalid
 * task id "abc"`). Input is quoted at most 64 bytes long.
 */
TP_MUST_CHECK tp_status shim_route_match(shim_match *out, shim_service svc,
    const char *method, const char *path, tp_err *err);

/*
 * shim_route_allow writes the methods svc serves on path, as an Allow header
 * value ("GET, HEAD, POST": HEAD wherever GET is), into buf (size bytes,
 * NUL-terminated, "" when none). Returns the number of methods.
 */
size_t shim_route_allow(
    char *buf, size_t size, shim_service svc, const char *path);

/*
 * shim_route_shape returns the first route of svc whose pattern path has the
 * shape of, whatever the method and the {id} segment (static), or NULL: what
 * a refused request is counted under in the metrics, never the raw path.
 */
const shim_route *shim_route_shape(shim_service svc, const char *path);

/*
 * shim_route_parse_id parses len bytes at s as a task id: decimal digits
 * only, 1 to INT64_MAX. Returns false (leaving *out alone) otherwise.
 */
bool shim_route_parse_id(int64_t *out, const char *s, size_t len);

#endif /* SHIM_ROUTE_H */
