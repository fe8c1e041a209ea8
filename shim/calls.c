/*
 * calls.c: one case per route: HTTP request -> RPC request, and RPC reply ->
 * HTTP status and JSON (see calls_int.h). The JSON shapes live in
 * proto/json.c, shared with tpctl.
 */
#include "calls_int.h"

#include <string.h>

#include <pb_decode.h>

#include "proto/json.h"

static bool
is_dtp(const shim_route *r)
{
	return r->service == SHIM_SERVICE_DTP;
}

/*
 * merge_idempotency_key applies the Idempotency-Key header to a CreateTask:
 * alone it is the key; with the body's key they must agree.
 */
static tp_status
merge_idempotency_key(
    dtp_v1_CreateTaskRequest *ct, const char *header, tp_err *err)
{
	size_t len;

	if (header == NULL) {
		return TP_OK;
	}
	len = strlen(header);
	if (len == 0 || len >= sizeof(ct->idempotency_key)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "header Idempotency-Key must be 1 to %zu bytes long",
		    sizeof(ct->idempotency_key) - 1);
	}
	if (ct->has_idempotency_key) {
		if (strcmp(ct->idempotency_key, header) != 0) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "header Idempotency-Key and field "
			    "\"idempotencyKey\" "
			    "differ");
		}
		return TP_OK;
	}
	memcpy(ct->idempotency_key, header, len + 1);
	ct->has_idempotency_key = true;
	return TP_OK;
}

tp_status
shim_call_build(shim_call_req *out, const shim_call_in *in, tp_err *err)
{
	const shim_route *r  = in->match->route;
	int64_t           id = in->match->id;
	shim_call_req     c;
	dtp_v1_Request   *d  = &c.u.dtp;
	pilot_v1_Request *p  = &c.u.pilot;
	tp_status         rc = TP_OK;

	memset(&c, 0, sizeof(c));
	/* Reads are safe to resend; so are cancels, which end in one state. */
	c.idempotent = true;
	switch (r->id) {
	case SHIM_ROUTE_CREATE_TASK:
		d->which_call = dtp_v1_Request_create_task_tag;
		if ((rc = proto_json_create_task_parse(
		         &d->call.create_task, in->body, err))
		    != TP_OK) {
			return rc;
		}
		if ((rc = merge_idempotency_key(
		         &d->call.create_task, in->idempotency_key, err))
		    != TP_OK) {
			pb_release(dtp_v1_Request_fields, d);
			return rc;
		}
		/* DTP deduplicates on the key: only then a resend is safe. */
		c.idempotent = d->call.create_task.has_idempotency_key;
		break;
	case SHIM_ROUTE_GET_TASK:
		d->which_call       = dtp_v1_Request_get_task_tag;
		d->call.get_task.id = id;
		break;
	case SHIM_ROUTE_CANCEL_TASK:
		d->which_call          = dtp_v1_Request_cancel_task_tag;
		d->call.cancel_task.id = id;
		break;
	case SHIM_ROUTE_LIST_TASKS:
		d->which_call = dtp_v1_Request_list_tasks_tag;
		if ((rc = shim_query_list_tasks(
		         &d->call.list_tasks, in->args, in->n_args, err))
		    != TP_OK) {
			return rc;
		}
		break;
	case SHIM_ROUTE_DTP_HEALTH:
		d->which_call = dtp_v1_Request_health_tag;
		break;
	case SHIM_ROUTE_CREATE_WEB_TASK:
		p->which_call = pilot_v1_Request_create_web_task_tag;
		if ((rc = proto_json_create_web_task_parse(
		         &p->call.create_web_task, in->body, err))
		    != TP_OK) {
			return rc;
		}
		c.idempotent = false;
		break;
	case SHIM_ROUTE_GET_WEB_TASK:
		p->which_call           = pilot_v1_Request_get_web_task_tag;
		p->call.get_web_task.id = id;
		break;
	case SHIM_ROUTE_LIST_WEB_TASKS:
		p->which_call = pilot_v1_Request_list_web_tasks_tag;
		if ((rc = shim_query_list_web_tasks(
		         &p->call.list_web_tasks, in->args, in->n_args, err))
		    != TP_OK) {
			return rc;
		}
		break;
	case SHIM_ROUTE_BIND_SCHEDULER:
		/*
		 * Not resent: a bind whose reply was lost would come back as
		 * "already bound" (409) although it worked.
		 */
		p->which_call             = pilot_v1_Request_bind_scheduler_tag;
		p->call.bind_scheduler.id = id;
		c.idempotent              = false;
		break;
	case SHIM_ROUTE_GET_EXECUTION:
		p->which_call            = pilot_v1_Request_get_execution_tag;
		p->call.get_execution.id = id;
		break;
	case SHIM_ROUTE_CANCEL_EXECUTION:
		p->which_call = pilot_v1_Request_cancel_execution_tag;
		p->call.cancel_execution.id = id;
		break;
	case SHIM_ROUTE_PILOT_HEALTH:
		p->which_call = pilot_v1_Request_health_tag;
		break;
	case SHIM_ROUTE_DTP_METRICS:
	case SHIM_ROUTE_PILOT_METRICS:
		shim_upstream_request(&c, r);
		break;
	case SHIM_ROUTE_COUNT:
		return tp_err_set(err, TP_INTERNAL, "no call for route");
	}
	*out = c;
	return TP_OK;
}

void
shim_call_req_release(const shim_route *r, shim_call_req *req)
{
	if (is_dtp(r)) {
		pb_release(dtp_v1_Request_fields, &req->u.dtp);
	} else {
		pb_release(pilot_v1_Request_fields, &req->u.pilot);
	}
}

/*
 * The call tag of each JSON route; a reply's result carries the same tag.
 * The metrics routes have none here: their replies go to
 * shim_upstream_render, never to shim_call_reply.
 */
static const pb_size_t route_tags[SHIM_ROUTE_COUNT] = {
	[SHIM_ROUTE_CREATE_TASK]      = dtp_v1_Request_create_task_tag,
	[SHIM_ROUTE_GET_TASK]         = dtp_v1_Request_get_task_tag,
	[SHIM_ROUTE_CANCEL_TASK]      = dtp_v1_Request_cancel_task_tag,
	[SHIM_ROUTE_LIST_TASKS]       = dtp_v1_Request_list_tasks_tag,
	[SHIM_ROUTE_DTP_HEALTH]       = dtp_v1_Request_health_tag,
	[SHIM_ROUTE_CREATE_WEB_TASK]  = pilot_v1_Request_create_web_task_tag,
	[SHIM_ROUTE_GET_WEB_TASK]     = pilot_v1_Request_get_web_task_tag,
	[SHIM_ROUTE_LIST_WEB_TASKS]   = pilot_v1_Request_list_web_tasks_tag,
	[SHIM_ROUTE_BIND_SCHEDULER]   = pilot_v1_Request_bind_scheduler_tag,
	[SHIM_ROUTE_GET_EXECUTION]    = pilot_v1_Request_get_execution_tag,
	[SHIM_ROUTE_CANCEL_EXECUTION] = pilot_v1_Request_cancel_execution_tag,
	[SHIM_ROUTE_PILOT_HEALTH]     = pilot_v1_Request_health_tag,
};

void
shim_call_reply(
    int *http, json_t **body, const shim_route *r, const shim_call_rep *rep)
{
	const dtp_v1_Reply   *d = &rep->dtp;
	const pilot_v1_Reply *p = &rep->pilot;
	pb_size_t which         = is_dtp(r) ? d->which_result : p->which_result;

	/*
	 * An OK reply without the result of this call would make us read the
	 * wrong member of the union: refuse it.
	 */
	if (which != route_tags[r->id]) {
		*http = 500;
		*body = proto_json_error_new(TP_INTERNAL,
		    "the service's reply does not answer this call");
		return;
	}
	*http = r->success_http;
	switch (r->id) {
	case SHIM_ROUTE_CREATE_TASK:
		*body = proto_json_task_new(&d->result.create_task.task);
		if (d->result.create_task.replayed) {
			*http = 200;
		}
		break;
	case SHIM_ROUTE_GET_TASK:
		*body = proto_json_task_new(&d->result.get_task);
		break;
	case SHIM_ROUTE_CANCEL_TASK:
		*body = proto_json_task_new(&d->result.cancel_task);
		break;
	case SHIM_ROUTE_LIST_TASKS:
		*body = proto_json_task_list_new(&d->result.list_tasks);
		break;
	case SHIM_ROUTE_DTP_HEALTH:
		*body = proto_json_health_new(&d->result.health);
		if (!d->result.health.db_ok) {
			*http = 503;
		}
		break;
	case SHIM_ROUTE_CREATE_WEB_TASK:
		*body = proto_json_web_task_new(&p->result.create_web_task);
		break;
	case SHIM_ROUTE_GET_WEB_TASK:
		*body = proto_json_web_task_new(&p->result.get_web_task);
		break;
	case SHIM_ROUTE_LIST_WEB_TASKS:
		*body = proto_json_web_task_list_new(&p->result.list_web_tasks);
		break;
	case SHIM_ROUTE_BIND_SCHEDULER:
		*body = proto_json_web_task_new(&p->result.bind_scheduler);
		break;
	case SHIM_ROUTE_GET_EXECUTION:
		*body = proto_json_task_new(&p->result.get_execution);
		break;
	case SHIM_ROUTE_CANCEL_EXECUTION:
		*body = proto_json_task_new(&p->result.cancel_execution);
		break;
	case SHIM_ROUTE_PILOT_HEALTH:
		*body = proto_json_health_new(&p->result.health);
		if (!p->result.health.db_ok) {
			*http = 503;
		}
		break;
	case SHIM_ROUTE_DTP_METRICS:
	case SHIM_ROUTE_PILOT_METRICS:
	case SHIM_ROUTE_COUNT:
		*http = 500;
		*body = proto_json_error_new(TP_INTERNAL, "no reply for route");
		break;
	}
}

void
shim_call_rep_release(const shim_route *r, shim_call_rep *rep)
{
	if (is_dtp(r)) {
		pb_release(dtp_v1_Reply_fields, &rep->dtp);
	} else {
		pb_release(pilot_v1_Reply_fields, &rep->pilot);
	}
}
