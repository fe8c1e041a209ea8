/*
 * webtask.c: input limits of a web task, the JSON payload of a bind and the
 * names of execution states (see webtask.h). jansson does the escaping, so
 * any payload round-trips.
 */
#include "pilot/webtask.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* show copies at most size-1 bytes of s, printable ASCII kept, others '?'. */
static const char *
show(char *buf, size_t size, const char *s)
{
	size_t i = 0;

	for (; s[i] != '\0' && i + 1 < size; i++) {
		unsigned char ch = (unsigned char) s[i];
		buf[i]           = ch >= 0x20 && ch < 0x7f ? (char) ch : '?';
	}
	buf[i] = '\0';
	return buf;
}

/*
 * utf8_valid checks s[0..len) is well-formed UTF-8 (no overlongs, no
 * surrogates, nothing past U+10FFFF), which is what PostgreSQL and JSON
 * want; checking here lets the error name the field.
 */
static bool
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p   = (const unsigned char *) s;
	const unsigned char *end = p + len;

	while (p < end) {
		unsigned char c = *p;
		size_t        n;
		uint32_t      cp;
		uint32_t      min;

		if (c < 0x80) {
			p++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n   = 1;
			cp  = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n   = 2;
			cp  = c & 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n   = 3;
			cp  = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		if ((size_t) (end - p) < n + 1) {
			return false;
		}
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80) {
				return false;
			}
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff
		    || (cp >= 0xd800 && cp <= 0xdfff)) {
			return false;
		}
		p += n + 1;
	}
	return true;
}

tp_status
pilot_webtask_check_type(const char *type, tp_err *err)
{
	char   buf[80];
	size_t len;

	if (type == NULL || type[0] == '\0') {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "type is required: 1 to %d characters of [a-z0-9_.-]",
		    PILOT_TYPE_MAX_BYTES);
	}
	len = strlen(type);
	for (size_t i = 0; i < len; i++) {
		char ch = type[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
		        || ch == '_' || ch == '.' || ch == '-')
		    || i >= PILOT_TYPE_MAX_BYTES) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid type \"%s\": expected 1 to %d characters "
			    "of "
			    "[a-z0-9_.-]",
			    show(buf, sizeof(buf), type), PILOT_TYPE_MAX_BYTES);
		}
	}
	return TP_OK;
}

tp_status
pilot_webtask_check_title(const char *title, tp_err *err)
{
	size_t len;

	if (title == NULL) {
		return TP_OK;
	}
	len = strlen(title);
	if (len > PILOT_TITLE_MAX_BYTES) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "title is too long: %zu bytes, the limit is %d", len,
		    PILOT_TITLE_MAX_BYTES);
	}
	if (!utf8_valid(title, len)) {
		return tp_err_set(
		    err, TP_INVALID_ARGUMENT, "title is not valid UTF-8");
	}
	return TP_OK;
}

tp_status
pilot_webtask_check_payload(const char *payload, size_t max_bytes, tp_err *err)
{
	size_t len;

	if (payload == NULL) {
		return TP_OK;
	}
	len = strlen(payload);
	if (len > max_bytes) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "payload is too large: %zu bytes, the limit is %zu", len,
		    max_bytes);
	}
	if (!utf8_valid(payload, len)) {
		return tp_err_set(
		    err, TP_INVALID_ARGUMENT, "payload is not valid UTF-8");
	}
	return TP_OK;
}

tp_status
pilot_webtask_bind_payload(
    char **out, int64_t id, const char *type, const char *payload, tp_err *err)
{
	tp_status rc   = TP_OK;
	json_t   *obj  = NULL;
	char     *text = NULL;

	if (payload == NULL) {
		payload = "";
	}
	if (type == NULL || !utf8_valid(type, strlen(type))
	    || !utf8_valid(payload, strlen(payload))) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "cannot build the payload of web task %" PRId64
		    ": not valid UTF-8",
		    id);
	}
	/*
	 * jansson keeps keys in insertion order (JSON_PRESERVE_ORDER says so
	 * explicitly), which fixes the documented order
	 * webTaskId, type, payload.
	 */
	obj = json_pack("{s:I,s:s,s:s}", "webTaskId", (json_int_t) id, "type",
	    type, "payload", payload);
	if (obj == NULL) {
		rc = tp_err_set(err, TP_INTERNAL,
		    "could not build the payload of web task %" PRId64, id);
		goto out;
	}
	text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL) {
		rc = tp_err_set(err, TP_INTERNAL,
		    "could not encode the payload of web task %" PRId64, id);
		goto out;
	}
	*out = text;
out:
	json_decref(obj);
	return rc;
}

char *
pilot_webtask_idempotency_key(char *buf, size_t size, int64_t id)
{
	snprintf(buf, size, "webtask:%" PRId64, id);
	return buf;
}

/* Indexed by dtp_v1_TaskStatus; the CHECK of migration V3 lists the same. */
static const char *const status_names[] = {
	[dtp_v1_TaskStatus_TASK_STATUS_PENDING]   = "PENDING",
	[dtp_v1_TaskStatus_TASK_STATUS_RUNNING]   = "RUNNING",
	[dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED] = "SUCCEEDED",
	[dtp_v1_TaskStatus_TASK_STATUS_FAILED]    = "FAILED",
	[dtp_v1_TaskStatus_TASK_STATUS_CANCELLED] = "CANCELLED",
};

#define N_STATUS_NAMES (sizeof(status_names) / sizeof(status_names[0]))

const char *
pilot_webtask_status_name(dtp_v1_TaskStatus status)
{
	if ((int) status < 0 || (size_t) status >= N_STATUS_NAMES) {
		return NULL;
	}
	return status_names[status];
}

dtp_v1_TaskStatus
pilot_webtask_status_parse(const char *name)
{
	if (name == NULL) {
		return dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED;
	}
	for (size_t i = 0; i < N_STATUS_NAMES; i++) {
		if (status_names[i] != NULL
		    && strcmp(status_names[i], name) == 0) {
			return (dtp_v1_TaskStatus) i;
		}
	}
	return dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED;
}

bool
pilot_webtask_status_is_final(dtp_v1_TaskStatus status)
{
	return status == dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED
	    || status == dtp_v1_TaskStatus_TASK_STATUS_FAILED
	    || status == dtp_v1_TaskStatus_TASK_STATUS_CANCELLED;
}
