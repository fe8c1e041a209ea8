/*
 * service.c: TaskPilot's RPC handlers (see service.h); the bind flow and the
 * execution cache writes are in binding.c. Each handler runs on a tp_rpc
 * worker thread with that worker's own db_conn; the scheduler client is
 * shared and thread-safe. No locks here: the only shared state is read-only
 * after start.
 */
#include "pilot/service.h"

#include <inttypes.h>
#include <pb_decode.h>
#include <pb_encode.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "db/conn.h"
#include "pilot/binding.h"
#include "pilot/store.h"
#include "pilot/webtask.h"
#include "proto/envelope.h"
#include "rpc/server.h"

#define LOG_COMPONENT      "pilot.service"
#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT     1000
/* Room in a reply around its result: status, oneof header. */
#define REPLY_OVERHEAD 64

struct pilot_service {
	pilot_service_opts opts;
	rpc_server        *server;
	char               node[64]; /* host name, for Health */
};

/* One per RPC worker thread: the worker's own connection. */
typedef struct worker {
	pilot_service *svc;
	db_conn       *db;
} worker;

static tp_status
check_id(int64_t id, tp_err *err)
{
	if (id <= 0) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid web task id %" PRId64 ": must be positive", id);
	}
	return TP_OK;
}

static tp_status
create_web_task(void *ctx, const void *vreq, void *vrep, tp_err *err)
{
	worker                              *w     = ctx;
	const pilot_v1_Request              *req   = vreq;
	const pilot_v1_CreateWebTaskRequest *r     = &req->call.create_web_task;
	pilot_v1_Reply                      *rep   = vrep;
	const char                          *title = NULL;
	tp_status                            rc;

	if (r->has_title && r->title[0] != '\0') {
		title = r->title;
	}

	if ((rc = pilot_webtask_check_type(r->type, err)) != TP_OK
	    || (rc = pilot_webtask_check_title(title, err)) != TP_OK
	    || (rc = pilot_webtask_check_payload(
	            r->payload, w->svc->opts.max_payload_bytes, err))
	        != TP_OK) {
		return rc;
	}
	rc = pilot_store_insert(w->db, &rep->result.create_web_task, title,
	    r->type, r->payload, err);
	if (rc != TP_OK) {
		return rc;
	}
	rep->which_result = pilot_v1_Reply_create_web_task_tag;
	tp_log_info(LOG_COMPONENT,
	    "web task created web_task_id=%" PRId64 " type=%s",
	    rep->result.create_web_task.id, r->type);
	return TP_OK;
}

static tp_status
get_web_task(void *ctx, const void *vreq, void *vrep, tp_err *err)
{
	worker                 *w   = ctx;
	const pilot_v1_Request *req = vreq;
	int64_t                 id  = req->call.get_web_task.id;
	pilot_v1_Reply         *rep = vrep;
	tp_status               rc;

	if ((rc = check_id(id, err)) != TP_OK) {
		return rc;
	}
	rc = pilot_store_get(w->db, &rep->result.get_web_task, id, err);
	if (rc != TP_OK) {
		return rc;
	}
	rep->which_result = pilot_v1_Reply_get_web_task_tag;
	return TP_OK;
}

static tp_status
list_web_tasks(void *ctx, const void *vreq, void *vrep, tp_err *err)
{
	worker                             *w   = ctx;
	const pilot_v1_Request             *req = vreq;
	const pilot_v1_ListWebTasksRequest *r   = &req->call.list_web_tasks;
	pilot_v1_Reply                     *rep = vrep;
	pilot_store_filter                  f   = { 0 };
	tp_status                           rc;

	if (r->limit < 0 || r->limit > LIST_MAX_LIMIT) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid limit %" PRId32 ": expected 1 to %d (0: %d)",
		    r->limit, LIST_MAX_LIMIT, LIST_DEFAULT_LIMIT);
	}
	if (r->after_id < 0) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid after_id %" PRId64 ": must not be negative",
		    r->after_id);
	}
	if (r->type[0] != '\0'
	    && (rc = pilot_webtask_check_type(r->type, err)) != TP_OK) {
		return rc;
	}
	f.limit        = r->limit == 0 ? LIST_DEFAULT_LIMIT : r->limit;
	f.after_id     = r->after_id;
	f.type         = r->type;
	f.has_bound    = r->has_bound;
	f.bound        = r->bound;
	f.newest_first = r->newest_first;
	f.max_bytes    = w->svc->opts.max_msg_bytes;
	rc = pilot_store_list(w->db, &rep->result.list_web_tasks, &f, err);
	if (rc != TP_OK) {
		return rc;
	}
	rep->which_result = pilot_v1_Reply_list_web_tasks_tag;
	return TP_OK;
}

/*
 * bind_scheduler is DESIGN §6 with a stored intent (binding.c): a bind cut
 * short by a crash or a lost DTP is finished by the reconciler. The DTP call
 * gets no more time than the caller still waits.
 */
static tp_status
bind_scheduler(void *ctx, const void *vreq, void *vrep, tp_err *err)
{
	worker                 *w   = ctx;
	const pilot_v1_Request *req = vreq;
	int64_t                 id  = req->call.bind_scheduler.id;
	pilot_v1_Reply         *rep = vrep;
	tp_status               rc;

	if ((rc = check_id(id, err)) != TP_OK) {
		return rc;
	}
	rc = pilot_binding_bind(w->db, w->svc->opts.scheduler,
	    &rep->result.bind_scheduler, id, req->deadline_ms, err);
	if (rc != TP_OK) {
		return rc;
	}
	rep->which_result = pilot_v1_Reply_bind_scheduler_tag;
	return TP_OK;
}

/*
 * execution runs GetTask or CancelTask for a bound web task, within the
 * caller's deadline, caches the state DTP showed, and puts DTP's task in
 * *out; DTP's status and message pass through unchanged.
 */
static tp_status
execution(worker *w, dtp_v1_Task *out, int64_t id, bool cancel,
    int64_t deadline_ms, tp_err *err)
{
	int64_t     sched = 0;
	dtp_v1_Task task  = dtp_v1_Task_init_zero;
	size_t      sz    = 0;
	tp_status   rc;

	if ((rc = check_id(id, err)) != TP_OK) {
		return rc;
	}
	if ((rc = pilot_store_get_binding(w->db, &sched, id, err)) != TP_OK) {
		return rc;
	}
	if (sched == 0) {
		return tp_err_set(err, TP_FAILED_PRECONDITION,
		    "web task %" PRId64 " is not bound to a scheduler task",
		    id);
	}
	rc = cancel ? pilot_scheduler_client_cancel_task(
	         w->svc->opts.scheduler, &task, sched, deadline_ms, err)
	            : pilot_scheduler_client_get_task(
	                w->svc->opts.scheduler, &task, sched, deadline_ms, err);
	if (rc != TP_OK) {
		return rc;
	}
	pilot_binding_observe(w->db, id, &task);
	if (cancel) {
		tp_log_info(LOG_COMPONENT,
		    "execution cancel requested web_task_id=%" PRId64
		    " scheduler_task_id=%" PRId64 " task_status=%d",
		    id, sched, (int) task.status);
	}
	/* DTP's limit may be larger than ours: fail clearly, not on send. */
	if (!pb_get_encoded_size(&sz, dtp_v1_Task_fields, &task)
	    || sz + REPLY_OVERHEAD > w->svc->opts.max_msg_bytes) {
		pb_release(dtp_v1_Task_fields, &task);
		return tp_err_set(err, TP_RESOURCE_EXHAUSTED,
		    "scheduler task %" PRId64
		    " does not fit in a reply of %zu bytes",
		    sched, w->svc->opts.max_msg_bytes);
	}
	*out = task;
	return TP_OK;
}

static tp_status
get_execution(void *ctx, const void *vreq, void *vrep, tp_err *err)
{
	const pilot_v1_Request *req = vreq;
	pilot_v1_Reply         *rep = vrep;
	tp_status               rc;

	rc = execution(ctx, &rep->result.get_execution,
	    req->call.get_execution.id, false, req->deadline_ms, err);
	if (rc == TP_OK) {
		rep->which_result = pilot_v1_Reply_get_execution_tag;
	}
	return rc;
}

static tp_status
cancel_execution(void *ctx, const void *vreq, void *vrep, tp_err *err)
{
	const pilot_v1_Request *req = vreq;
	pilot_v1_Reply         *rep = vrep;
	tp_status               rc;

	rc = execution(ctx, &rep->result.cancel_execution,
	    req->call.cancel_execution.id, true, req->deadline_ms, err);
	if (rc == TP_OK) {
		rep->which_result = pilot_v1_Reply_cancel_execution_tag;
	}
	return rc;
}

static tp_status
health(void *ctx, const void *vreq, void *vrep, tp_err *err)
{
	worker            *w   = ctx;
	pilot_v1_Reply    *rep = vrep;
	tp_v1_HealthReply *h   = &rep->result.health;
	tp_err             dberr;

	(void) vreq;
	(void) err;
	snprintf(h->service, sizeof(h->service), "%s", "taskpilot");
	snprintf(h->version, sizeof(h->version), "%s", TP_VERSION);
	snprintf(h->node, sizeof(h->node), "%s", w->svc->node);
	h->db_ok          = pilot_store_ping(w->db, &dberr) == TP_OK;
	rep->which_result = pilot_v1_Reply_health_tag;
	return TP_OK;
}

static const rpc_handler_cb handlers[PROTO_PILOT_MAX_CALL + 1] = {
	[pilot_v1_Request_create_web_task_tag]  = create_web_task,
	[pilot_v1_Request_get_web_task_tag]     = get_web_task,
	[pilot_v1_Request_list_web_tasks_tag]   = list_web_tasks,
	[pilot_v1_Request_bind_scheduler_tag]   = bind_scheduler,
	[pilot_v1_Request_get_execution_tag]    = get_execution,
	[pilot_v1_Request_cancel_execution_tag] = cancel_execution,
	[pilot_v1_Request_health_tag]           = health,
};

static void *
thread_init_cb(void *arg, int index, tp_err *err)
{
	pilot_service *svc = arg;
	worker        *w   = NULL;
	db_conn       *db  = NULL;

	if (db_conn_open(&db, svc->opts.database_url, err) != TP_OK) {
		tp_log_error(LOG_COMPONENT,
		    "could not connect worker to the database worker=%d: %s",
		    index, err != NULL ? err->msg : "");
		return NULL;
	}
	w      = tp_xcalloc(1, sizeof(*w));
	w->svc = svc;
	w->db  = db;
	return w;
}

static void
thread_fini_cb(void *arg, void *thread_ctx)
{
	worker *w = thread_ctx;

	(void) arg;
	if (w == NULL) {
		return;
	}
	db_conn_free(w->db);
	free(w);
}

tp_status
pilot_service_start(
    pilot_service **out, const pilot_service_opts *opts, tp_err *err)
{
	tp_status       rc  = TP_OK;
	pilot_service  *svc = NULL;
	rpc_server_opts so  = { 0 };

	if (opts->n_urls == 0 || opts->threads < 1 || opts->database_url == NULL
	    || opts->scheduler == NULL || opts->max_payload_bytes == 0
	    || opts->max_msg_bytes <= REPLY_OVERHEAD) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "cannot start taskpilot: incomplete service options");
	}
	svc       = tp_xcalloc(1, sizeof(*svc));
	svc->opts = *opts;
	/* Borrowed for this call only: never read after it. */
	svc->opts.tls = NULL;
	if (gethostname(svc->node, sizeof(svc->node)) != 0) {
		snprintf(svc->node, sizeof(svc->node), "%s", "unknown");
	}
	svc->node[sizeof(svc->node) - 1] = '\0';

	so.env            = &proto_pilot_envelope;
	so.urls           = opts->urls;
	so.n_urls         = opts->n_urls;
	so.threads        = opts->threads;
	so.max_msg_bytes  = opts->max_msg_bytes;
	so.drain_ms       = opts->drain_ms;
	so.handlers       = handlers;
	so.thread_init_cb = thread_init_cb;
	so.thread_fini_cb = thread_fini_cb;
	so.arg            = svc;
	so.tls            = opts->tls;
	if ((rc = rpc_server_start(&svc->server, &so, err)) != TP_OK) {
		goto out;
	}
	*out = svc;
	svc  = NULL;
out:
	free(svc);
	return rc;
}

int
pilot_service_bound_port(pilot_service *s, size_t i)
{
	return rpc_server_bound_port(s->server, i);
}

int
pilot_service_in_flight(pilot_service *s)
{
	return rpc_server_in_flight(s->server);
}

void
pilot_service_free(pilot_service *s)
{
	if (s == NULL) {
		return;
	}
	rpc_server_free(s->server);
	free(s);
}
