/*
 * webtask.h: the rules of a web task that need no I/O: the input limits
 * (DESIGN §8), the payload TaskPilot hands to DTP when it binds a web task
 * (DESIGN §6), and the names of execution states as the execution cache
 * stores them. Pure functions; any thread.
 */
#ifndef PILOT_WEBTASK_H
#define PILOT_WEBTASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "dtp.pb.h"

#define PILOT_TYPE_MAX_BYTES            64
#define PILOT_TITLE_MAX_BYTES           200
#define PILOT_DEFAULT_MAX_PAYLOAD_BYTES (256 * 1024)
/* "webtask:" and the decimal digits of an int64, and the NUL. */
#define PILOT_KEY_SIZE 32

/*
 * pilot_webtask_check_type accepts a type name of 1 to 64 characters of
 * [a-z0-9_.-]. Returns TP_OK or TP_INVALID_ARGUMENT naming the field and
 * quoting the value (non-printable bytes shown as '?').
 */
TP_MUST_CHECK tp_status pilot_webtask_check_type(const char *type, tp_err *err);

/*
 * pilot_webtask_check_title accepts NULL (no title) or valid UTF-8 of at most
 * 200 bytes. Returns TP_OK or TP_INVALID_ARGUMENT naming the field.
 */
TP_MUST_CHECK tp_status pilot_webtask_check_title(
    const char *title, tp_err *err);

/*
 * pilot_webtask_check_payload accepts NULL (an empty payload) or valid UTF-8
 * of at most max_bytes bytes. Returns TP_OK or TP_INVALID_ARGUMENT naming the
 * field and the limit.
 */
TP_MUST_CHECK tp_status pilot_webtask_check_payload(
    const char *payload, size_t max_bytes, tp_err *err);

/*
 * pilot_webtask_bind_payload builds the DTP payload of a web task, compact
 * JSON with the keys in this order:
 *   {"webTaskId":<id>,"type":"<type>","payload":"<payload>"}
 * with every string escaped as JSON requires. type and payload are borrowed
 * (payload NULL is ""). Returns TP_OK and *out (caller frees with free()),
 * or TP_INVALID_ARGUMENT when a string is not valid UTF-8.
 */
TP_MUST_CHECK tp_status pilot_webtask_bind_payload(
    char **out, int64_t id, const char *type, const char *payload, tp_err *err);

/*
 * pilot_webtask_idempotency_key writes "webtask:<id>", the key that makes
 * every bind of one web task name the same DTP task, into buf (at least
 * PILOT_KEY_SIZE bytes) and returns buf.
 */
char *pilot_webtask_idempotency_key(char *buf, size_t size, int64_t id);

/*
 * pilot_webtask_status_name returns the name the execution cache stores for
 * a DTP state ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED";
 * pilot.web_task.execution_status allows these five), or NULL for
 * TASK_STATUS_UNSPECIFIED and values outside the enum. Static strings.
 */
const char *pilot_webtask_status_name(dtp_v1_TaskStatus status);

/*
 * pilot_webtask_status_parse is the reverse: TASK_STATUS_UNSPECIFIED for
 * NULL, "" or any other text.
 */
dtp_v1_TaskStatus pilot_webtask_status_parse(const char *name);

/*
 * pilot_webtask_status_is_final: SUCCEEDED, FAILED and CANCELLED never change
 * (DESIGN §5), so the cache stops refreshing a task once it saw one.
 */
bool pilot_webtask_status_is_final(dtp_v1_TaskStatus status);

#endif /* PILOT_WEBTASK_H */
