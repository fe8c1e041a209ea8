/*
 * service.c: the DTP RPC handlers (service.h). Each validates its request
 * (bad input is INVALID_ARGUMENT naming the field, and writes nothing),
 * calls the store on the thread's own connection, and fills the reply.
 */
#include "service.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "db/conn.h"
#include "pool_int.h"
#include "scheduler/handler.h"
#include "store.h"

#define COMPONENT          "dtp.service"
#define MAX_ATTEMPTS_MAX   100
#define TIMEOUT_MS_MAX     86400000LL
#define BACKOFF_BASE_MAX   3600000LL
#define BACKOFF_MAX_MAX    86400000LL
#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX     1000
/* Room in a list reply for the envelope, status and cursor. */
#define LIST_REPLY_MARGIN 4096

typedef struct thread_ctx {
	dtp_service *svc;
	db_conn     *conn;
} thread_ctx;

void *
dtp_service_thread_init(void *arg, int index, tp_err *err)
{
	dtp_service *svc  = arg;
	db_conn     *conn = NULL;
	thread_ctx  *t;

	(void) index;
	if (db_conn_open(&conn, svc->conninfo, err) != TP_OK) {
		return NULL;
	}
	t       = tp_xcalloc(1, sizeof(*t));
	t->svc  = svc;
	t->conn = conn;
	return t;
}

void
dtp_service_thread_fini(void *arg, void *thread_ctx_)
{
	thread_ctx *t = thread_ctx_;

	(void) arg;
	if (t == NULL) {
		return;
	}
	db_conn_free(t->conn);
	free(t);
}

/*
 * utf8_invalid_at returns the offset of the first byte that is not part of
 * valid UTF-8 (overlongs and surrogates rejected), or -1 when s is valid.
 */
static long
utf8_invalid_at(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t               i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t        n;
		unsigned      cp;
		unsigned      min;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return (long) i;
		}
		if (i + n >= len) {
			return (long) i;
		}
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80) {
				return (long) i;
			}
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff
		    || (cp >= 0xd800 && cp <= 0xdfff)) {
			return (long) i;
		}
		i += n + 1;
	}
	return -1;
}

/* printable_copy copies s for an error message, non-printables as '?'. */
static void
printable_copy(char *dst, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n + 1 < size; s++) {
		unsigned char c = (unsigned char) *s;
		dst[n++] = c >= 0x20 && c < 0x7f && c != '"' ? (char) c : '?';
	}
	dst[n] = '\0';
}

static tp_status
check_type(const char *type, tp_err *err)
{
	char shown[80];

	if (dtp_type_is_valid(type)) {
		return TP_OK;
	}
	printable_copy(shown, sizeof(shown), type);
	return tp_err_set(err, TP_INVALID_ARGUMENT,
	    "invalid type \"%s\": expected 1 to 64 characters of [a-z0-9_.-]",
	    shown);
}

static tp_status
check_id(int64_t id, tp_err *err)
{
	if (id <= 0) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid id %" PRId64 ": expected a positive task id", id);
	}
	return TP_OK;
}

static tp_status
create_task(void *tctx, const void *req, void *rep, tp_err *err)
{
	thread_ctx                     *t   = tctx;
	dtp_service                    *svc = t->svc;
	const dtp_v1_CreateTaskRequest *in
	    = &((const dtp_v1_Request *) req)->call.create_task;
	dtp_v1_Reply *out = rep;
	dtp_new_task  nt;
	dtp_v1_Task   task     = dtp_v1_Task_init_zero;
	bool          replayed = false;
	size_t        len;
	long          bad;
	tp_status     rc;

	if ((rc = check_type(in->type, err)) != TP_OK) {
		return rc;
	}
	nt.type    = in->type;
	nt.payload = in->payload != NULL ? in->payload : "";
	len        = strlen(nt.payload);
	if (len > svc->max_payload_bytes) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid payload: %zu bytes is over the limit of %zu bytes",
		    len, svc->max_payload_bytes);
	}
	if ((bad = utf8_invalid_at(nt.payload, len)) >= 0) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid payload: not valid UTF-8 at byte %ld", bad);
	}
	nt.max_attempts = svc->default_max_attempts;
	if (in->has_max_attempts) {
		if (in->max_attempts < 1
		    || in->max_attempts > MAX_ATTEMPTS_MAX) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid max_attempts %d: expected 1 to %d",
			    (int) in->max_attempts, MAX_ATTEMPTS_MAX);
		}
		nt.max_attempts = in->max_attempts;
	}
	nt.timeout_ms = svc->default_timeout_ms;
	if (in->has_timeout_ms) {
		if (in->timeout_ms < 1 || in->timeout_ms > TIMEOUT_MS_MAX) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid timeout_ms %" PRId64
			    ": expected 1 to %lld",
			    in->timeout_ms, TIMEOUT_MS_MAX);
		}
		nt.timeout_ms = in->timeout_ms;
	}
	nt.run_at_ms = 0;
	if (in->has_run_at_ms) {
		if (in->run_at_ms < 0 || in->run_at_ms > DTP_RUN_AT_MAX_MS) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid run_at_ms %" PRId64 ": expected 0 to %lld",
			    in->run_at_ms, DTP_RUN_AT_MAX_MS);
		}
		nt.run_at_ms = in->run_at_ms;
	}
	nt.backoff_base_ms = 0;
	nt.backoff_max_ms  = 0;
	if (in->has_backoff_base_ms) {
		if (in->backoff_base_ms < 1
		    || in->backoff_base_ms > BACKOFF_BASE_MAX) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid backoff_base_ms %" PRId64
			    ": expected 1 to %lld",
			    in->backoff_base_ms, BACKOFF_BASE_MAX);
		}
		nt.backoff_base_ms = in->backoff_base_ms;
	}
	if (in->has_backoff_max_ms) {
		if (in->backoff_max_ms < 1
		    || in->backoff_max_ms > BACKOFF_MAX_MAX) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid backoff_max_ms %" PRId64
			    ": expected 1 to %lld",
			    in->backoff_max_ms, BACKOFF_MAX_MAX);
		}
		if (in->has_backoff_base_ms
		    && in->backoff_max_ms < in->backoff_base_ms) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid backoff_max_ms %" PRId64
			    ": below backoff_base_ms %" PRId64,
			    in->backoff_max_ms, in->backoff_base_ms);
		}
		nt.backoff_max_ms = in->backoff_max_ms;
	}
	/* An empty key is no key, as Task.idempotency_key shows it. */
	nt.idempotency_key = NULL;
	if (in->has_idempotency_key && in->idempotency_key[0] != '\0') {
		size_t klen = strlen(in->idempotency_key);
		if ((bad = utf8_invalid_at(in->idempotency_key, klen)) >= 0) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid idempotency_key: not valid UTF-8 at byte "
			    "%ld",
			    bad);
		}
		nt.idempotency_key = in->idempotency_key;
	}

	/* With the creates of the other RPC threads: one commit for all. */
	if ((rc = dtp_create_batch_insert(
	         &task, &replayed, svc->creates, t->conn, &nt, err))
	    != TP_OK) {
		return rc;
	}
	if (!replayed) {
		int64_t delay = task.run_at_ms - tp_clock_unix_ms();
		/* Committed: wake a worker here now, or when it falls due;
		 * other nodes hear of it by the next NOTIFY dtp_task. */
		dtp_pool_announce(svc->pool);
		dtp_pool_wake_at(svc->pool, delay);
		tp_log_debug(COMPONENT,
		    "task created task_id=%" PRId64 " type=%s", task.id,
		    task.type);
	}
	out->which_result                = dtp_v1_Reply_create_task_tag;
	out->result.create_task.has_task = true;
	out->result.create_task.task     = task;
	out->result.create_task.replayed = replayed;
	return TP_OK;
}

static tp_status
get_task(void *tctx, const void *req, void *rep, tp_err *err)
{
	thread_ctx   *t    = tctx;
	int64_t       id   = ((const dtp_v1_Request *) req)->call.get_task.id;
	dtp_v1_Reply *out  = rep;
	dtp_v1_Task   task = dtp_v1_Task_init_zero;
	tp_status     rc;

	if ((rc = check_id(id, err)) != TP_OK) {
		return rc;
	}
	if ((rc = dtp_store_get(&task, t->conn, id, err)) != TP_OK) {
		return rc;
	}
	out->which_result    = dtp_v1_Reply_get_task_tag;
	out->result.get_task = task;
	return TP_OK;
}

static tp_status
cancel_task(void *tctx, const void *req, void *rep, tp_err *err)
{
	thread_ctx   *t   = tctx;
	int64_t       id  = ((const dtp_v1_Request *) req)->call.cancel_task.id;
	dtp_v1_Reply *out = rep;
	dtp_v1_Task   task = dtp_v1_Task_init_zero;
	tp_status     rc;

	if ((rc = check_id(id, err)) != TP_OK) {
		return rc;
	}
	if ((rc = dtp_store_cancel(&task, t->conn, id, t->svc->node, err))
	    != TP_OK) {
		return rc;
	}
	dtp_metrics_cancel(t->svc->metrics);
	if (task.status == dtp_v1_TaskStatus_TASK_STATUS_RUNNING) {
		/* Stored and committed; tell the handler if it runs here
		 * (other nodes hear NOTIFY dtp_cancel). */
		dtp_pool_cancel(t->svc->pool, id);
	} else if (task.status == dtp_v1_TaskStatus_TASK_STATUS_CANCELLED) {
		dtp_metrics_finished(t->svc->metrics, DTP_STATE_CANCELLED, 1);
	}
	tp_log_info(COMPONENT, "cancel requested task_id=%" PRId64 " status=%s",
	    id, dtp_state_name((int) task.status));
	out->which_result       = dtp_v1_Reply_cancel_task_tag;
	out->result.cancel_task = task;
	return TP_OK;
}

/* encoded_task_bytes: a task's size inside ListTasksReply (tag, length, body).
 */
static size_t
encoded_task_bytes(const dtp_v1_Task *task)
{
	size_t n = 0;

	if (!pb_get_encoded_size(&n, dtp_v1_Task_fields, task)) {
		return SIZE_MAX / 2;
	}
	return n + 1 + 5;
}

static tp_status
list_tasks(void *tctx, const void *req, void *rep, tp_err *err)
{
	thread_ctx                    *t   = tctx;
	dtp_service                   *svc = t->svc;
	const dtp_v1_ListTasksRequest *in
	    = &((const dtp_v1_Request *) req)->call.list_tasks;
	dtp_v1_Reply  *out = rep;
	dtp_list_query q;
	dtp_v1_Task   *tasks = NULL;
	int            n     = 0;
	int            keep  = 0;
	size_t         bytes = 0;
	size_t         budget;
	tp_status      rc;

	memset(&q, 0, sizeof(q));
	if (in->has_status && in->status != 0) {
		if ((int) in->status < DTP_STATE_MIN
		    || (int) in->status > DTP_STATE_MAX) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid status %d: expected 1 (PENDING) to 5 "
			    "(CANCELLED)",
			    (int) in->status);
		}
		q.status = (int) in->status;
	}
	if (in->type[0] != '\0') {
		if ((rc = check_type(in->type, err)) != TP_OK) {
			return rc;
		}
		q.type = in->type;
	}
	if (in->after_id < 0) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid after_id %" PRId64 ": expected 0 or a task id",
		    in->after_id);
	}
	q.after_id = in->after_id;
	q.limit    = in->limit == 0 ? LIST_LIMIT_DEFAULT : in->limit;
	if (q.limit < 1 || q.limit > LIST_LIMIT_MAX) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid limit %d: expected 1 to %d", (int) in->limit,
		    LIST_LIMIT_MAX);
	}
	q.newest_first = in->newest_first;
	budget         = svc->max_msg_bytes - LIST_REPLY_MARGIN;
	q.budget_bytes = (int64_t) budget;
	/* One row past the page tells whether there is a next page. */
	q.limit++;
	if ((rc = dtp_store_list(&tasks, &n, t->conn, &q, err)) != TP_OK) {
		return rc;
	}
	/* Stop before the reply would pass the message limit; one task
	 * always fits (the payload limit is checked against it at start). */
	while (keep < n && keep < q.limit - 1) {
		size_t b = encoded_task_bytes(&tasks[keep]);
		if (keep > 0 && bytes + b > budget) {
			break;
		}
		bytes += b;
		keep++;
	}
	for (int i = keep; i < n; i++) {
		pb_release(dtp_v1_Task_fields, &tasks[i]);
	}
	out->which_result                  = dtp_v1_Reply_list_tasks_tag;
	out->result.list_tasks.tasks       = keep > 0 ? tasks : NULL;
	out->result.list_tasks.tasks_count = (pb_size_t) keep;
	out->result.list_tasks.next_after_id
	    = keep < n ? tasks[keep - 1].id : 0;
	if (keep == 0) {
		free(tasks);
	}
	return TP_OK;
}

static tp_status
health(void *tctx, const void *req, void *rep, tp_err *err)
{
	thread_ctx   *t   = tctx;
	dtp_v1_Reply *out = rep;
	tp_err        ping;

	(void) req;
	(void) err;
	out->which_result = dtp_v1_Reply_health_tag;
	snprintf(out->result.health.service, sizeof(out->result.health.service),
	    "dtp");
	snprintf(out->result.health.version, sizeof(out->result.health.version),
	    "%s", TP_VERSION);
	snprintf(out->result.health.node, sizeof(out->result.health.node), "%s",
	    t->svc->node);
	out->result.health.db_ok = dtp_store_ping(t->conn, &ping) == TP_OK;
	return TP_OK;
}

/*
 * metrics answers with the exposition text: this node's counters and
 * workers, and the task counts its database gives (when it answers: a
 * database error still gets the rest, with dtp_database_up 0).
 */
static tp_status
metrics(void *tctx, const void *req, void *rep, tp_err *err)
{
	thread_ctx          *t   = tctx;
	dtp_v1_Reply        *out = rep;
	dtp_metrics_snapshot snap;
	dtp_stats            stats;
	tp_err               db_err;
	size_t               len = 0;

	(void) req;
	(void) err;
	memset(&snap, 0, sizeof(snap));
	snap.node    = t->svc->node;
	snap.version = TP_VERSION;
	dtp_pool_workers(t->svc->pool, &snap.workers_busy, &snap.workers_idle,
	    &snap.abandoned_running);
	if (dtp_store_stats(&stats, t->conn, &db_err) == TP_OK) {
		snap.db_ok = true;
		memcpy(snap.tasks, stats.tasks, sizeof(snap.tasks));
		snap.oldest_pending_age_seconds
		    = stats.oldest_pending_age_seconds;
	} else {
		tp_log_warn(COMPONENT, "could not count tasks for metrics: %s",
		    db_err.msg);
	}
	out->which_result = dtp_v1_Reply_metrics_tag;
	out->result.metrics.text
	    = dtp_metrics_render(t->svc->metrics, &snap, &len);
	return TP_OK;
}

const rpc_handler_cb dtp_service_handlers[PROTO_DTP_MAX_CALL + 1] = {
	[dtp_v1_Request_create_task_tag] = create_task,
	[dtp_v1_Request_get_task_tag]    = get_task,
	[dtp_v1_Request_cancel_task_tag] = cancel_task,
	[dtp_v1_Request_list_tasks_tag]  = list_tasks,
	[dtp_v1_Request_health_tag]      = health,
	[dtp_v1_Request_metrics_tag]     = metrics,
};
