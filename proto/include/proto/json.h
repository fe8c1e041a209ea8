/*
 * json.h: the JSON view of the protobuf messages, shared by the gateway and
 * tpctl --json. Names are camelCase, ids are JSON numbers, times are RFC 3339
 * UTC strings with milliseconds, and absent values are null (DESIGN §7).
 *
 * Every function here is pure (no I/O, no globals) and may be called from any
 * thread. The *_new functions return a new jansson reference that the caller
 * releases with json_decref(); they never return NULL (out of memory aborts,
 * and strings that are not valid UTF-8 are repaired with U+FFFD).
 */
#ifndef PROTO_JSON_H
#define PROTO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/status.h"
#include "dtp.pb.h"
#include "pilot.pb.h"
#include "tp.pb.h"

/* The nesting depth the gateway accepts by default. */
#define PROTO_JSON_MAX_DEPTH_DEFAULT 32

/*
 * proto_json_task_status_name returns "PENDING", "RUNNING", "SUCCEEDED",
 * "FAILED" or "CANCELLED" (the enum name without TASK_STATUS_), or NULL for
 * TASK_STATUS_UNSPECIFIED and unknown values. The string is static.
 */
const char *proto_json_task_status_name(dtp_v1_TaskStatus s);

/*
 * proto_json_task_status_parse parses a name proto_json_task_status_name
 * returns ("SUCCEEDED"; exact case) into *out. Returns false, leaving *out
 * alone, for anything else.
 */
bool proto_json_task_status_parse(dtp_v1_TaskStatus *out, const char *name);

/*
 * proto_json_task_new maps a Task (borrowed) to {"id","type","payload",
 * "status","attempts","maxAttempts","timeoutMs","runAt","idempotencyKey",
 * "cancelRequested","result","lastError","createdAt","updatedAt","startedAt",
 * "finishedAt","lockedBy","backoffBaseMs","backoffMaxMs"}. Empty
 * idempotencyKey, lastError and lockedBy, an unset result, times of 0 and
 * backoffs of 0 (the node's setting) are null; payload is always a string.
 */
json_t *proto_json_task_new(const dtp_v1_Task *t);

/*
 * proto_json_web_task_new maps a WebTask (borrowed) to {"id","title","type",
 * "payload","schedulerTaskId","executionStatus","executionSeenAt",
 * "createdAt","updatedAt"}. An empty title, an unbound task, an execution
 * never seen and times of 0 are null.
 */
json_t *proto_json_web_task_new(const pilot_v1_WebTask *t);

/*
 * proto_json_task_list_new and proto_json_web_task_list_new map a list reply
 * (borrowed) to {"tasks":[...],"nextAfter":id}, nextAfter null on the last
 * page.
 */
json_t *proto_json_task_list_new(const dtp_v1_ListTasksReply *r);
json_t *proto_json_web_task_list_new(const pilot_v1_ListWebTasksReply *r);

/*
 * proto_json_health_new maps a HealthReply (borrowed) to {"status","service",
 * "version","node","dbOk"}, status "ok" when the database answered, else
 * "unavailable".
 */
json_t *proto_json_health_new(const tp_v1_HealthReply *h);

/*
 * proto_json_error_new builds the error body grpc-gateway clients parse:
 * {"code":5,"status":"NOT_FOUND","message":"...","details":[]}. message may
 * be NULL (empty).
 */
json_t *proto_json_error_new(tp_status code, const char *message);

/*
 * proto_json_load parses text (len bytes, need not be NUL-terminated) as one
 * JSON value of any type: UTF-8 checked, duplicate object keys refused, no
 * trailing data, and nesting no deeper than max_depth (checked before the
 * parser runs, so deep input costs no recursion). Returns TP_OK and *out
 * (caller json_decref()s it), or TP_INVALID_ARGUMENT with the reason
 * ("invalid JSON: ... at line 1, column 7").
 */
TP_MUST_CHECK tp_status proto_json_load(
    json_t **out, const char *text, size_t len, int max_depth, tp_err *err);

/*
 * proto_json_create_task_parse builds a CreateTaskRequest from a body
 * (borrowed) {"type","payload","maxAttempts","timeoutMs","runAt",
 * "idempotencyKey","backoffBaseMs","backoffMaxMs"}. type and payload are
 * required; the others may be absent or null. payload is a string (stored as
 * is) or any other JSON value (stored as its compact text, see
 * proto_json_dump_compact). runAt is an RFC 3339 string. The integers are
 * checked for type and width only: their ranges are DTP's to enforce.
 * Returns TP_OK and *out, whose payload the caller releases with
 * pb_release(dtp_v1_CreateTaskRequest_fields, out) (or with the envelope it
 * is put in); or TP_INVALID_ARGUMENT naming the field: `field "type" is
 * required`, `field "maxAttempts" must be an integer`, `unknown field "x"`,
 * `field "type" is too long: 70 bytes, the limit is 64`. Strings are never
 * truncated. *out is written only on success.
 */
TP_MUST_CHECK tp_status proto_json_create_task_parse(
    dtp_v1_CreateTaskRequest *out, const json_t *body, tp_err *err);

/*
 * proto_json_create_web_task_parse builds a CreateWebTaskRequest from
 * {"title","type","payload"}, with the rules and ownership of
 * proto_json_create_task_parse (release with
 * pb_release(pilot_v1_CreateWebTaskRequest_fields, out)); title is optional.
 */
TP_MUST_CHECK tp_status proto_json_create_web_task_parse(
    pilot_v1_CreateWebTaskRequest *out, const json_t *body, tp_err *err);

/*
 * proto_json_time_parse parses an RFC 3339 time ("2026-11-26T14:04:05Z",
 * "2026-11-26T15:04:05.250+01:00"; digits past milliseconds are dropped)
 * into milliseconds since the Unix epoch. Returns TP_OK and *out_ms, or
 * TP_INVALID_ARGUMENT.
 */
TP_MUST_CHECK tp_status proto_json_time_parse(
    int64_t *out_ms, const char *s, tp_err *err);

/*
 * proto_json_dump_compact returns v (borrowed) as compact JSON text: no
 * whitespace, object keys in their order, strings as UTF-8, and real numbers
 * in the shortest form that reads back to the same double ("0.1", not
 * "0.10000000000000001"). Caller frees with free(). Aborts on out of memory.
 */
char *proto_json_dump_compact(const json_t *v);

#endif /* PROTO_JSON_H */
