/* envelope.c: the envelope descriptors of the DTP and TaskPilot services. */
#include "proto/envelope.h"

#include <string.h>

/* dtp.v1 */

static pb_size_t
dtp_req_call(const void *req)
{
	return ((const dtp_v1_Request *) req)->which_call;
}

static int64_t
dtp_req_deadline_ms(const void *req)
{
	return ((const dtp_v1_Request *) req)->deadline_ms;
}

static void
dtp_req_set_deadline_ms(void *req, int64_t deadline_ms)
{
	((dtp_v1_Request *) req)->deadline_ms = deadline_ms;
}

static tp_v1_Status *
dtp_rep_status(void *rep)
{
	((dtp_v1_Reply *) rep)->has_status = true;
	return &((dtp_v1_Reply *) rep)->status;
}

static pb_size_t
dtp_rep_result(const void *rep)
{
	return ((const dtp_v1_Reply *) rep)->which_result;
}

static void
dtp_rep_set_result(void *rep, pb_size_t tag)
{
	((dtp_v1_Reply *) rep)->which_result = tag;
}

static const char *
dtp_call_name(pb_size_t tag)
{
	switch (tag) {
	case dtp_v1_Request_create_task_tag:
		return "CreateTask";
	case dtp_v1_Request_get_task_tag:
		return "GetTask";
	case dtp_v1_Request_cancel_task_tag:
		return "CancelTask";
	case dtp_v1_Request_list_tasks_tag:
		return "ListTasks";
	case dtp_v1_Request_health_tag:
		return "Health";
	case dtp_v1_Request_metrics_tag:
		return "Metrics";
	default:
		return NULL;
	}
}

const proto_envelope proto_dtp_envelope = {
	.service             = "dtp",
	.req_fields          = dtp_v1_Request_fields,
	.req_size            = sizeof(dtp_v1_Request),
	.rep_fields          = dtp_v1_Reply_fields,
	.rep_size            = sizeof(dtp_v1_Reply),
	.req_call            = dtp_req_call,
	.req_deadline_ms     = dtp_req_deadline_ms,
	.req_set_deadline_ms = dtp_req_set_deadline_ms,
	.rep_status          = dtp_rep_status,
	.rep_result          = dtp_rep_result,
	.rep_set_result      = dtp_rep_set_result,
	.call_name           = dtp_call_name,
	.max_call            = PROTO_DTP_MAX_CALL,
};

/* pilot.v1 */

static pb_size_t
pilot_req_call(const void *req)
{
	return ((const pilot_v1_Request *) req)->which_call;
}

static int64_t
pilot_req_deadline_ms(const void *req)
{
	return ((const pilot_v1_Request *) req)->deadline_ms;
}

static void
pilot_req_set_deadline_ms(void *req, int64_t deadline_ms)
{
	((pilot_v1_Request *) req)->deadline_ms = deadline_ms;
}

static tp_v1_Status *
pilot_rep_status(void *rep)
{
	((pilot_v1_Reply *) rep)->has_status = true;
	return &((pilot_v1_Reply *) rep)->status;
}

static pb_size_t
pilot_rep_result(const void *rep)
{
	return ((const pilot_v1_Reply *) rep)->which_result;
}

static void
pilot_rep_set_result(void *rep, pb_size_t tag)
{
	((pilot_v1_Reply *) rep)->which_result = tag;
}

static const char *
pilot_call_name(pb_size_t tag)
{
	switch (tag) {
	case pilot_v1_Request_create_web_task_tag:
		return "CreateWebTask";
	case pilot_v1_Request_get_web_task_tag:
		return "GetWebTask";
	case pilot_v1_Request_list_web_tasks_tag:
		return "ListWebTasks";
	case pilot_v1_Request_bind_scheduler_tag:
		return "BindScheduler";
	case pilot_v1_Request_get_execution_tag:
		return "GetExecution";
	case pilot_v1_Request_cancel_execution_tag:
		return "CancelExecution";
	case pilot_v1_Request_health_tag:
		return "Health";
	case pilot_v1_Request_metrics_tag:
		return "Metrics";
	default:
		return NULL;
	}
}

const proto_envelope proto_pilot_envelope = {
	.service             = "taskpilot",
	.req_fields          = pilot_v1_Request_fields,
	.req_size            = sizeof(pilot_v1_Request),
	.rep_fields          = pilot_v1_Reply_fields,
	.rep_size            = sizeof(pilot_v1_Reply),
	.req_call            = pilot_req_call,
	.req_deadline_ms     = pilot_req_deadline_ms,
	.req_set_deadline_ms = pilot_req_set_deadline_ms,
	.rep_status          = pilot_rep_status,
	.rep_result          = pilot_rep_result,
	.rep_set_result      = pilot_rep_set_result,
	.call_name           = pilot_call_name,
	.max_call            = PROTO_PILOT_MAX_CALL,
};
