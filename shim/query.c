/* query.c: the list routes' query strings (see query.h). */
#include "shim/query.h"

#include <string.h>

#include "common/config.h"
#include "proto/json.h"

enum {
	Q_STATUS = 1 << 0,
	Q_TYPE   = 1 << 1,
	Q_LIMIT  = 1 << 2,
	Q_AFTER  = 1 << 3,
	Q_ORDER  = 1 << 4,
	Q_BOUND  = 1 << 5,
};

static const struct {
	const char *name;
	unsigned    bit;
} params[] = {
	{ "status", Q_STATUS },
	{ "type", Q_TYPE },
	{ "limit", Q_LIMIT },
	{ "after", Q_AFTER },
	{ "order", Q_ORDER },
	{ "bound", Q_BOUND },
};

/* A parsed query, before it is copied into a request. */
typedef struct query {
	unsigned          seen;
	dtp_v1_TaskStatus status;
	char              type[65];
	int32_t           limit;
	int64_t           after;
	bool              newest_first;
	bool              bound;
} query;

/* is_digit: numbers are plain decimal (strtoll alone allows " +5"). */
static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static tp_status
bad_value(const char *key, const char *value, const char *expected, tp_err *err)
{
	return tp_err_set(err, TP_INVALID_ARGUMENT,
	    "invalid value for query parameter \"%s\": \"%.64s\": expected %s",
	    key, value, expected);
}

/* parse reads args into q, allowing only the parameters in the allowed mask. */
static tp_status
parse(
    query *q, unsigned allowed, const shim_kv *args, size_t n_args, tp_err *err)
{
	for (size_t i = 0; i < n_args; i++) {
		const char *key   = args[i].key != NULL ? args[i].key : "";
		const char *value = args[i].value != NULL ? args[i].value : "";
		unsigned    bit   = 0;
		long long   v;
		for (size_t j = 0; j < sizeof(params) / sizeof(params[0]);
		     j++) {
			if (strcmp(params[j].name, key) == 0) {
				bit = params[j].bit;
				break;
			}
		}
		if ((bit & allowed) == 0) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "unknown query parameter \"%.64s\"", key);
		}
		if ((q->seen & bit) != 0) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "query parameter \"%s\" is given twice", key);
		}
		q->seen |= bit;
		switch (bit) {
		case Q_STATUS:
			if (!proto_json_task_status_parse(&q->status, value)) {
				return bad_value(key, value,
				    "PENDING, RUNNING, SUCCEEDED, FAILED or "
				    "CANCELLED",
				    err);
			}
			break;
		case Q_TYPE:
			if (*value == '\0'
			    || strlen(value) >= sizeof(q->type)) {
				return bad_value(key, value,
				    "a type name of 1 to 64 bytes", err);
			}
			strcpy(q->type, value);
			break;
		case Q_LIMIT:
			if (!is_digit(value[0])
			    || tp_cfg_parse_int(&v, value, 1, 1000, NULL)
			        != TP_OK) {
				return bad_value(key, value,
				    "an integer from 1 to 1000", err);
			}
			q->limit = (int32_t) v;
			break;
		case Q_AFTER:
			if (!is_digit(value[0])
			    || tp_cfg_parse_int(&v, value, 0, INT64_MAX, NULL)
			        != TP_OK) {
				return bad_value(key, value, "a task id", err);
			}
			q->after = (int64_t) v;
			break;
		case Q_ORDER:
			if (strcmp(value, "asc") == 0) {
				q->newest_first = false;
			} else if (strcmp(value, "desc") == 0) {
				q->newest_first = true;
			} else {
				return bad_value(
				    key, value, "asc or desc", err);
			}
			break;
		case Q_BOUND:
			if (strcmp(value, "true") == 0) {
				q->bound = true;
			} else if (strcmp(value, "false") == 0) {
				q->bound = false;
			} else {
				return bad_value(
				    key, value, "true or false", err);
			}
			break;
		}
	}
	return TP_OK;
}

tp_status
shim_query_list_tasks(dtp_v1_ListTasksRequest *out, const shim_kv *args,
    size_t n_args, tp_err *err)
{
	query                   q = { 0 };
	dtp_v1_ListTasksRequest r = dtp_v1_ListTasksRequest_init_zero;
	tp_status               rc;

	if ((rc = parse(&q, Q_STATUS | Q_TYPE | Q_LIMIT | Q_AFTER | Q_ORDER,
	         args, n_args, err))
	    != TP_OK) {
		return rc;
	}
	r.has_status = (q.seen & Q_STATUS) != 0;
	r.status     = q.status;
	memcpy(r.type, q.type, sizeof(r.type));
	r.after_id     = q.after;
	r.limit        = q.limit;
	r.newest_first = q.newest_first;
	*out           = r;
	return TP_OK;
}

tp_status
shim_query_list_web_tasks(pilot_v1_ListWebTasksRequest *out,
    const shim_kv *args, size_t n_args, tp_err *err)
{
	query                        q = { 0 };
	pilot_v1_ListWebTasksRequest r = pilot_v1_ListWebTasksRequest_init_zero;
	tp_status                    rc;

	if ((rc = parse(&q, Q_TYPE | Q_LIMIT | Q_AFTER | Q_ORDER | Q_BOUND,
	         args, n_args, err))
	    != TP_OK) {
		return rc;
	}
	memcpy(r.type, q.type, sizeof(r.type));
	r.limit        = q.limit;
	r.after_id     = q.after;
	r.has_bound    = (q.seen & Q_BOUND) != 0;
	r.bound        = q.bound;
	r.newest_first = q.newest_first;
	*out           = r;
	return TP_OK;
}
