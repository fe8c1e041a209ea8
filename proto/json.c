/*
 * json.c: the JSON view of the protobuf messages (see json.h), used by the
 * gateway for its bodies and by tpctl --json.
 *
 * Strings coming from the wire are not trusted to be UTF-8 (nanopb does not
 * check): jansson refuses such strings, so they are repaired with U+FFFD
 * rather than dropped. Input strings are never truncated: a value over its
 * nanopb bound is an error naming the field.
 */
#include "proto/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"

/* Helpers that make jansson's allocation failures fatal (STYLE §3). */

static json_t *
must(json_t *j)
{
	if (j == NULL) {
		tp_log_error(
		    "proto.json", "could not build JSON: out of memory");
		abort();
	}
	return j;
}

static void
set(json_t *obj, const char *key, json_t *val)
{
	if (json_object_set_new(obj, key, must(val)) != 0) {
		tp_log_error(
		    "proto.json", "could not build JSON: out of memory");
		abort();
	}
}

/*
 * utf8_seq returns the length of the valid UTF-8 sequence at s (at most n
 * bytes), or 0 when the bytes there are not one: overlong forms, surrogates
 * and code points past U+10FFFF are invalid, as jansson decides.
 */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t   len;

	if (s[0] < 0x80) {
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp  = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp  = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp  = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n) {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)
	    || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return len;
}

/* str_new makes a JSON string of s, repairing invalid UTF-8. */
static json_t *
strn_new(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	char   *fixed;
	size_t  n = 0;

	if (j != NULL) {
		return j;
	}
	/* Each bad byte becomes U+FFFD (3 bytes). */
	fixed = tp_xmalloc(len * 3 + 1);
	for (size_t i = 0; i < len;) {
		size_t k = utf8_seq((const unsigned char *) s + i, len - i);
		if (k == 0) {
			memcpy(fixed + n, "\xef\xbf\xbd", 3);
			n += 3;
			i++;
			continue;
		}
		memcpy(fixed + n, s + i, k);
		n += k;
		i += k;
	}
	j = json_stringn(fixed, n);
	free(fixed);
	return must(j);
}

static json_t *
str_new(const char *s)
{
	return strn_new(s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

/* str_or_null: an empty string is null. */
static json_t *
str_or_null(const char *s)
{
	return s == NULL || *s == '\0' ? json_null() : str_new(s);
}

/* time_new: an RFC 3339 UTC string, or null for 0 (not set). */
static json_t *
time_new(int64_t unix_ms)
{
	char buf[64];

	if (unix_ms == 0) {
		return json_null();
	}
	return str_new(tp_clock_format_rfc3339(buf, unix_ms));
}

static json_t *
int_new(int64_t v)
{
	return must(json_integer((json_int_t) v));
}

/* int_or_null: 0 (not set) is null. */
static json_t *
int_or_null(int64_t v)
{
	return v == 0 ? json_null() : int_new(v);
}

static const char *const status_names[] = {
	[dtp_v1_TaskStatus_TASK_STATUS_PENDING]   = "PENDING",
	[dtp_v1_TaskStatus_TASK_STATUS_RUNNING]   = "RUNNING",
	[dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED] = "SUCCEEDED",
	[dtp_v1_TaskStatus_TASK_STATUS_FAILED]    = "FAILED",
	[dtp_v1_TaskStatus_TASK_STATUS_CANCELLED] = "CANCELLED",
};

const char *
proto_json_task_status_name(dtp_v1_TaskStatus s)
{
	if ((int) s <= 0 || (int) s > _dtp_v1_TaskStatus_MAX) {
		return NULL;
	}
	return status_names[s];
}

bool
proto_json_task_status_parse(dtp_v1_TaskStatus *out, const char *name)
{
	if (name == NULL) {
		return false;
	}
	for (int i = 1; i <= _dtp_v1_TaskStatus_MAX; i++) {
		if (strcmp(status_names[i], name) == 0) {
			*out = (dtp_v1_TaskStatus) i;
			return true;
		}
	}
	return false;
}

static json_t *
status_new(dtp_v1_TaskStatus s)
{
	const char *name = proto_json_task_status_name(s);
	return name != NULL ? str_new(name) : json_null();
}

json_t *
proto_json_task_new(const dtp_v1_Task *t)
{
	json_t *o = must(json_object());

	set(o, "id", int_new(t->id));
	set(o, "type", str_new(t->type));
	set(o, "payload", str_new(t->payload));
	set(o, "status", status_new(t->status));
	set(o, "attempts", int_new(t->attempts));
	set(o, "maxAttempts", int_new(t->max_attempts));
	set(o, "timeoutMs", int_new(t->timeout_ms));
	set(o, "runAt", time_new(t->run_at_ms));
	set(o, "idempotencyKey", str_or_null(t->idempotency_key));
	set(o, "cancelRequested", json_boolean(t->cancel_requested));
	/* result is FT_POINTER: NULL means the optional field is absent. */
	set(o, "result", t->result != NULL ? str_new(t->result) : json_null());
	set(o, "lastError", str_or_null(t->last_error));
	set(o, "createdAt", time_new(t->created_at_ms));
	set(o, "updatedAt", time_new(t->updated_at_ms));
	set(o, "startedAt", time_new(t->started_at_ms));
	set(o, "finishedAt", time_new(t->finished_at_ms));
	set(o, "lockedBy", str_or_null(t->locked_by));
	/* 0: the task uses the node's --backoff-base-ms / --backoff-max-ms. */
	set(o, "backoffBaseMs", int_or_null(t->backoff_base_ms));
	set(o, "backoffMaxMs", int_or_null(t->backoff_max_ms));
	return o;
}

json_t *
proto_json_web_task_new(const pilot_v1_WebTask *t)
{
	json_t *o = must(json_object());

	set(o, "id", int_new(t->id));
	set(o, "title", str_or_null(t->title));
	set(o, "type", str_new(t->type));
	set(o, "payload", str_new(t->payload));
	set(o, "schedulerTaskId",
	    t->has_scheduler_task_id ? int_new(t->scheduler_task_id)
	                             : json_null());
	set(o, "executionStatus", status_new(t->execution_status));
	set(o, "executionSeenAt", time_new(t->execution_seen_at_ms));
	set(o, "createdAt", time_new(t->created_at_ms));
	set(o, "updatedAt", time_new(t->updated_at_ms));
	return o;
}

static json_t *
list_new(json_t *tasks, int64_t next_after_id)
{
	json_t *o = must(json_object());

	set(o, "tasks", tasks);
	set(o, "nextAfter",
	    next_after_id != 0 ? int_new(next_after_id) : json_null());
	return o;
}

json_t *
proto_json_task_list_new(const dtp_v1_ListTasksReply *r)
{
	json_t *a = must(json_array());

	for (pb_size_t i = 0; i < r->tasks_count; i++) {
		if (json_array_append_new(a, proto_json_task_new(&r->tasks[i]))
		    != 0) {
			must(NULL);
		}
	}
	return list_new(a, r->next_after_id);
}

json_t *
proto_json_web_task_list_new(const pilot_v1_ListWebTasksReply *r)
{
	json_t *a = must(json_array());

	for (pb_size_t i = 0; i < r->tasks_count; i++) {
		if (json_array_append_new(
		        a, proto_json_web_task_new(&r->tasks[i]))
		    != 0) {
			must(NULL);
		}
	}
	return list_new(a, r->next_after_id);
}

json_t *
proto_json_health_new(const tp_v1_HealthReply *h)
{
	json_t *o = must(json_object());

	set(o, "status", str_new(h->db_ok ? "ok" : "unavailable"));
	set(o, "service", str_new(h->service));
	set(o, "version", str_new(h->version));
	set(o, "node", str_new(h->node));
	set(o, "dbOk", json_boolean(h->db_ok));
	return o;
}

json_t *
proto_json_error_new(tp_status code, const char *message)
{
	json_t *o = must(json_object());

	set(o, "code", int_new((int64_t) code));
	set(o, "status", str_new(tp_status_name((int) code)));
	set(o, "message", str_new(message));
	set(o, "details", json_array());
	return o;
}

/* Parsing. */

/*
 * too_deep tells whether the containers in text nest deeper than max_depth.
 * It only tracks strings and brackets; malformed text is the parser's job.
 */
static bool
too_deep(const char *text, size_t len, int max_depth)
{
	int  depth     = 0;
	bool in_string = false;
	bool escaped   = false;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (in_string) {
			if (escaped) {
				escaped = false;
			} else if (c == '\\') {
				escaped = true;
			} else if (c == '"') {
				in_string = false;
			}
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max_depth) {
				return true;
			}
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		}
	}
	return false;
}

tp_status
proto_json_load(
    json_t **out, const char *text, size_t len, int max_depth, tp_err *err)
{
	json_error_t jerr;
	json_t      *v;

	if (too_deep(text, len, max_depth)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid JSON: nesting is deeper than %d levels",
		    max_depth);
	}
	v = json_loadb(
	    text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid JSON: %s at line %d, column %d", jerr.text,
		    jerr.line, jerr.column);
	}
	*out = v;
	return TP_OK;
}

/* field returns body's member name, or NULL when it is absent or null. */
static const json_t *
field(const json_t *body, const char *name)
{
	const json_t *v = json_object_get(body, name);
	return v == NULL || json_is_null(v) ? NULL : v;
}

/*
 * check_object refuses a body that is not an object or has a member not in
 * names. A key is quoted at most 64 bytes long (it is input).
 */
static tp_status
check_object(
    const json_t *body, const char *const *names, size_t n_names, tp_err *err)
{
	const char *key;
	json_t     *val;

	if (body == NULL || !json_is_object(body)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "request body must be a JSON object");
	}
	/* json_object_foreach takes a non-const object; it only reads here. */
	json_object_foreach((json_t *) body, key, val)
	{
		bool known = false;
		for (size_t i = 0; i < n_names && !known; i++) {
			known = strcmp(key, names[i]) == 0;
		}
		if (!known) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "unknown field \"%.64s\"", key);
		}
	}
	return TP_OK;
}

/*
 * string_field copies body's string member name into dst (cap bytes with the
 * NUL). Absent or null: an error when required, else *present = false.
 */
static tp_status
string_field(char *dst, size_t cap, bool *present, const json_t *body,
    const char *name, bool required, tp_err *err)
{
	const json_t *v = field(body, name);
	const char   *s;
	size_t        len;

	if (v == NULL) {
		if (required) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "field \"%s\" is required", name);
		}
		if (present != NULL) {
			*present = false;
		}
		return TP_OK;
	}
	if (!json_is_string(v)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "field \"%s\" must be a string", name);
	}
	s   = json_string_value(v);
	len = json_string_length(v);
	if (len > cap - 1) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "field \"%s\" is too long: %zu bytes, the limit is %zu",
		    name, len, cap - 1);
	}
	if (memchr(s, '\0', len) != NULL) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "field \"%s\" must not contain NUL characters", name);
	}
	memcpy(dst, s, len);
	dst[len] = '\0';
	if (present != NULL) {
		*present = true;
	}
	return TP_OK;
}

/* int_field reads an optional integer member within [min, max]. */
static tp_status
int_field(int64_t *dst, bool *present, const json_t *body, const char *name,
    int64_t min, int64_t max, tp_err *err)
{
	const json_t *v = field(body, name);
	json_int_t    i;

	if (v == NULL) {
		*present = false;
		return TP_OK;
	}
	if (!json_is_integer(v)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "field \"%s\" must be an integer", name);
	}
	i = json_integer_value(v);
	if (i < min || i > max) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "field \"%s\" must be an integer from %" PRId64
		    " to %" PRId64,
		    name, min, max);
	}
	*dst     = (int64_t) i;
	*present = true;
	return TP_OK;
}

/*
 * payload_field returns a malloc'd copy of the payload: a string as is, any
 * other JSON value (null included) as its compact text.
 */
static tp_status
payload_field(char **out, const json_t *body, tp_err *err)
{
	const json_t *v = json_object_get(body, "payload");

	if (v == NULL) {
		return tp_err_set(
		    err, TP_INVALID_ARGUMENT, "field \"payload\" is required");
	}
	if (!json_is_string(v)) {
		*out = proto_json_dump_compact(v);
		return TP_OK;
	}
	if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "field \"payload\" must not contain NUL characters");
	}
	*out = tp_xstrndup(json_string_value(v), json_string_length(v));
	return TP_OK;
}

/* The members of a CreateTask body. */
static const char *const create_task_names[] = {
	"type",
	"payload",
	"maxAttempts",
	"timeoutMs",
	"runAt",
	"idempotencyKey",
	"backoffBaseMs",
	"backoffMaxMs",
};

tp_status
proto_json_create_task_parse(
    dtp_v1_CreateTaskRequest *out, const json_t *body, tp_err *err)
{
	dtp_v1_CreateTaskRequest r = dtp_v1_CreateTaskRequest_init_zero;
	tp_status                rc;
	int64_t                  v       = 0;
	bool                     has_run = false;
	char                     run_at[64];

	if ((rc = check_object(body, create_task_names,
	         sizeof(create_task_names) / sizeof(create_task_names[0]), err))
	    != TP_OK) {
		goto out;
	}
	if ((rc = string_field(
	         r.type, sizeof(r.type), NULL, body, "type", true, err))
	    != TP_OK) {
		goto out;
	}
	if ((rc = int_field(&v, &r.has_max_attempts, body, "maxAttempts",
	         INT32_MIN, INT32_MAX, err))
	    != TP_OK) {
		goto out;
	}
	r.max_attempts = (int32_t) v;
	if ((rc = int_field(&r.timeout_ms, &r.has_timeout_ms, body, "timeoutMs",
	         INT64_MIN, INT64_MAX, err))
	    != TP_OK) {
		goto out;
	}
	/* Ranges are DTP's to check, as for maxAttempts and timeoutMs. */
	if ((rc = int_field(&r.backoff_base_ms, &r.has_backoff_base_ms, body,
	         "backoffBaseMs", INT64_MIN, INT64_MAX, err))
	    != TP_OK) {
		goto out;
	}
	if ((rc = int_field(&r.backoff_max_ms, &r.has_backoff_max_ms, body,
	         "backoffMaxMs", INT64_MIN, INT64_MAX, err))
	    != TP_OK) {
		goto out;
	}
	if ((rc = string_field(
	         run_at, sizeof(run_at), &has_run, body, "runAt", false, err))
	    != TP_OK) {
		if (rc == TP_INVALID_ARGUMENT && field(body, "runAt") != NULL
		    && json_is_string(field(body, "runAt"))) {
			/* Too long to be a time at all. */
			rc = tp_err_set(err, TP_INVALID_ARGUMENT,
			    "field \"runAt\" must be an RFC 3339 time like "
			    "\"2026-11-26T14:04:05Z\"");
		}
		goto out;
	}
	if (has_run) {
		if (proto_json_time_parse(&r.run_at_ms, run_at, NULL)
		    != TP_OK) {
			rc = tp_err_set(err, TP_INVALID_ARGUMENT,
			    "field \"runAt\" must be an RFC 3339 time like "
			    "\"2026-11-26T14:04:05Z\"");
			goto out;
		}
		r.has_run_at_ms = true;
	}
	if ((rc = string_field(r.idempotency_key, sizeof(r.idempotency_key),
	         &r.has_idempotency_key, body, "idempotencyKey", false, err))
	    != TP_OK) {
		goto out;
	}
	if (r.has_idempotency_key && r.idempotency_key[0] == '\0') {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "field \"idempotencyKey\" must not be empty");
		goto out;
	}
	/* Last, so that nothing is allocated on the error paths above. */
	if ((rc = payload_field(&r.payload, body, err)) != TP_OK) {
		goto out;
	}
	*out = r;
out:
	return rc;
}

tp_status
proto_json_create_web_task_parse(
    pilot_v1_CreateWebTaskRequest *out, const json_t *body, tp_err *err)
{
	static const char *const      names[] = { "title", "type", "payload" };
	pilot_v1_CreateWebTaskRequest r
	    = pilot_v1_CreateWebTaskRequest_init_zero;
	tp_status rc;

	if ((rc = check_object(
	         body, names, sizeof(names) / sizeof(names[0]), err))
	    != TP_OK) {
		goto out;
	}
	if ((rc = string_field(
	         r.type, sizeof(r.type), NULL, body, "type", true, err))
	    != TP_OK) {
		goto out;
	}
	if ((rc = string_field(r.title, sizeof(r.title), &r.has_title, body,
	         "title", false, err))
	    != TP_OK) {
		goto out;
	}
	if ((rc = payload_field(&r.payload, body, err)) != TP_OK) {
		goto out;
	}
	*out = r;
out:
	return rc;
}

/* RFC 3339. */

/* digits reads exactly n decimal digits at s. */
static bool
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return false;
		}
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* days_from_civil: days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

tp_status
proto_json_time_parse(int64_t *out_ms, const char *s, tp_err *err)
{
	static const int mdays[]
	    = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int         y, mo, d, h, mi, sec, ms = 0, off_h = 0, off_m = 0;
	int         sign = 0;
	const char *p    = s;
	int64_t     secs;

	if (s == NULL || strlen(s) < 20 || !digits(p, 4, &y) || p[4] != '-'
	    || !digits(p + 5, 2, &mo) || p[7] != '-' || !digits(p + 8, 2, &d)
	    || (p[10] != 'T' && p[10] != 't') || !digits(p + 11, 2, &h)
	    || p[13] != ':' || !digits(p + 14, 2, &mi) || p[16] != ':'
	    || !digits(p + 17, 2, &sec)) {
		goto bad;
	}
	p += 19;
	if (*p == '.') {
		int n = 0;
		p++;
		if (*p < '0' || *p > '9') {
			goto bad;
		}
		for (; *p >= '0' && *p <= '9'; p++, n++) {
			if (n < 3) {
				ms = ms * 10 + (*p - '0');
			}
		}
		for (; n < 3; n++) {
			ms *= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (!digits(p + 1, 2, &off_h) || p[3] != ':'
		    || !digits(p + 4, 2, &off_m) || off_h > 23 || off_m > 59) {
			goto bad;
		}
		p += 6;
	} else {
		goto bad;
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1
	    || d > mdays[mo - 1] + (mo == 2 && is_leap(y)) || h > 23 || mi > 59
	    || sec > 60) {
		goto bad;
	}
	/* A leap second (:60) rolls over into the next minute. */
	secs = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec
	    - sign * (off_h * 3600 + off_m * 60);
	*out_ms = secs * 1000 + ms;
	return TP_OK;
bad:
	return tp_err_set(err, TP_INVALID_ARGUMENT,
	    "invalid time \"%.64s\": expected RFC 3339 like "
	    "\"2026-11-26T14:04:05Z\"",
	    s != NULL ? s : "");
}

/* Compact dump. */

typedef struct jbuf {
	char  *p;
	size_t len;
	size_t cap;
} jbuf;

static void
put(jbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap != 0 ? b->cap : 64;
		while (cap < b->len + n + 1) {
			cap *= 2;
		}
		b->p   = tp_xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
puts_(jbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void
dump_string(jbuf *b, const char *s, size_t len)
{
	size_t run = 0; /* bytes copied as they are, pending */

	put(b, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) s[i];
		char          esc[8];
		if (c >= 0x20 && c != '"' && c != '\\') {
			run++;
			continue;
		}
		put(b, s + i - run, run);
		run = 0;
		switch (c) {
		case '"':
			puts_(b, "\\\"");
			break;
		case '\\':
			puts_(b, "\\\\");
			break;
		case '\b':
			puts_(b, "\\b");
			break;
		case '\f':
			puts_(b, "\\f");
			break;
		case '\n':
			puts_(b, "\\n");
			break;
		case '\r':
			puts_(b, "\\r");
			break;
		case '\t':
			puts_(b, "\\t");
			break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			puts_(b, esc);
			break;
		}
	}
	put(b, s + len - run, run);
	put(b, "\"", 1);
}

/*
 * dump_real writes the shortest decimal that reads back as v: the fewest
 * significant digits that round-trip, in plain notation for exponents from
 * -5 to 16 ("100.0", not "1e+02"), else in exponent form ("1e+300").
 */
static void
dump_real(jbuf *b, double v)
{
	char        buf[64];
	int         prec;
	const char *e;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v) {
			break;
		}
	}
	if (prec > 17) {
		prec = 17;
	}
	e = strchr(buf, 'e');
	if (e != NULL) {
		int exp = atoi(e + 1);
		if (exp >= -5 && exp <= 16) {
			int decimals = prec - 1 - exp;
			snprintf(buf, sizeof(buf), "%.*f",
			    decimals > 0 ? decimals : 0, v);
		}
	}
	puts_(b, buf);
	/* Keep it a real, as jansson does: "1.0", not "1". */
	if (strpbrk(buf, ".eEni") == NULL) {
		puts_(b, ".0");
	}
}

static void
dump_value(jbuf *b, const json_t *v)
{
	char        num[32];
	const char *key;
	json_t     *val;
	size_t      i;
	bool        first = true;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		put(b, "{", 1);
		/* json_object_foreach takes a non-const object; it only reads.
		 */
		json_object_foreach((json_t *) v, key, val)
		{
			if (!first) {
				put(b, ",", 1);
			}
			first = false;
			dump_string(b, key, strlen(key));
			put(b, ":", 1);
			dump_value(b, val);
		}
		put(b, "}", 1);
		break;
	case JSON_ARRAY:
		put(b, "[", 1);
		json_array_foreach(v, i, val)
		{
			if (i > 0) {
				put(b, ",", 1);
			}
			dump_value(b, val);
		}
		put(b, "]", 1);
		break;
	case JSON_STRING:
		dump_string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		puts_(b, num);
		break;
	case JSON_REAL:
		dump_real(b, json_real_value(v));
		break;
	case JSON_TRUE:
		puts_(b, "true");
		break;
	case JSON_FALSE:
		puts_(b, "false");
		break;
	case JSON_NULL:
		puts_(b, "null");
		break;
	}
}

char *
proto_json_dump_compact(const json_t *v)
{
	jbuf b = { NULL, 0, 0 };

	if (v == NULL) {
		puts_(&b, "null");
		return b.p;
	}
	dump_value(&b, v);
	return b.p;
}
