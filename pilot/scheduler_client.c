/*
 * scheduler_client.c: SchedulerClient (see scheduler_client.h), the only
 * code in pilot/ that speaks to DTP: three calls over tp_rpc with DTP's
 * envelope. No state but the rpc_client, which is itself thread-safe.
 */
#include "pilot/scheduler_client.h"

#include <pb_decode.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/mem.h"
#include "proto/envelope.h"
#include "rpc/client.h"

#define DEFAULT_TIMEOUT_MS 5000
#define MAX_KEY_BYTES      255
#define REACH              "could not reach dtp"

struct pilot_scheduler_client {
	rpc_client *rpc;
	int         timeout_ms;
};

tp_status
pilot_scheduler_client_open(pilot_scheduler_client **out, const char *dtp_urls,
    const pilot_scheduler_client_opts *opts, tp_err *err)
{
	tp_status               rc  = TP_OK;
	pilot_scheduler_client *c   = NULL;
	rpc_client_opts         ro  = { 0 };
	rpc_client             *rpc = NULL;

	if (dtp_urls == NULL || dtp_urls[0] == '\0') {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "cannot open the scheduler client: no dtp url given");
	}
	ro.env = &proto_dtp_envelope;
	if (opts != NULL) {
		ro.max_msg_bytes = opts->max_msg_bytes;
		ro.timeout_ms    = opts->timeout_ms;
		ro.max_attempts  = opts->max_attempts;
		ro.tls           = opts->tls;
	}
	if ((rc = rpc_client_open(&rpc, dtp_urls, &ro, err)) != TP_OK) {
		goto out;
	}
	c             = tp_xcalloc(1, sizeof(*c));
	c->rpc        = rpc;
	c->timeout_ms = opts != NULL && opts->timeout_ms > 0
	    ? opts->timeout_ms
	    : DEFAULT_TIMEOUT_MS;
	rpc           = NULL;
	*out          = c;
out:
	rpc_client_free(rpc);
	return rc;
}

void
pilot_scheduler_client_free(pilot_scheduler_client *c)
{
	if (c == NULL) {
		return;
	}
	rpc_client_free(c->rpc);
	free(c);
}

/*
 * call sends req and waits for DTP's reply. Transport failures are reworded
 * so that TaskPilot's callers can tell "DTP said so" from "DTP was not
 * there"; the codes stay what they are. On TP_OK the caller owns rep.
 */
static tp_status
call(pilot_scheduler_client *c, dtp_v1_Request *req, dtp_v1_Reply *rep,
    bool idempotent, pb_size_t want_tag, int64_t deadline_ms, tp_err *err)
{
	rpc_call_opts co
	    = { .timeout_ms = c->timeout_ms, .idempotent = idempotent };
	tp_err    e;
	tp_status rc;

	memset(rep, 0, sizeof(*rep));
	if (deadline_ms > 0) {
		/* The caller stops waiting then: so do we (DESIGN §3). */
		int64_t left = deadline_ms - tp_clock_unix_ms();
		if (left <= 0) {
			return tp_err_set(err, TP_DEADLINE_EXCEEDED,
			    "dtp was not called: the caller's deadline passed");
		}
		if (left < co.timeout_ms) {
			co.timeout_ms = (int) left;
		}
	}
	tp_err_clear(&e);
	rc = rpc_client_call(c->rpc, req, rep, &co, &e);
	switch (rc) {
	case TP_OK:
		break;
	case TP_UNAVAILABLE:
		/* tp_rpc already words its own "could not reach dtp at ...". */
		if (strncmp(e.msg, REACH, strlen(REACH)) == 0) {
			return tp_err_set(err, rc, "%s", e.msg);
		}
		return tp_err_set(err, rc, REACH ": %s", e.msg);
	case TP_DEADLINE_EXCEEDED:
		return tp_err_set(
		    err, rc, "dtp did not answer in time: %s", e.msg);
	default:
		/*
		 * DTP's own answer, passed through as DTP worded it; or
		 * tp_rpc's refusal to send (RESOURCE_EXHAUSTED: the request
		 * is over the message limit) or to decode (INTERNAL).
		 */
		return tp_err_set(err, rc, "%s", e.msg);
	}
	if (rep->which_result != want_tag) {
		pb_release(dtp_v1_Reply_fields, rep);
		return tp_err_set(err, TP_INTERNAL,
		    "dtp answered %s with the wrong result (tag %u)",
		    proto_dtp_envelope.call_name(req->which_call),
		    (unsigned) rep->which_result);
	}
	return TP_OK;
}

tp_status
pilot_scheduler_client_create_task(pilot_scheduler_client *c, dtp_v1_Task *out,
    bool *replayed, const char *type, const char *payload_json,
    const char *idempotency_key, int64_t deadline_ms, tp_err *err)
{
	dtp_v1_Request            req = dtp_v1_Request_init_zero;
	dtp_v1_Reply              rep;
	dtp_v1_CreateTaskRequest *ct = &req.call.create_task;
	bool                      has_key;
	tp_status                 rc;

	if (type == NULL || type[0] == '\0') {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "cannot create a dtp task without a type");
	}
	if (strlen(type) >= sizeof(ct->type)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "cannot create a dtp task: type is longer than %zu bytes",
		    sizeof(ct->type) - 1);
	}
	if (payload_json == NULL) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "cannot create a dtp task without a payload");
	}
	has_key = idempotency_key != NULL && idempotency_key[0] != '\0';
	if (has_key && strlen(idempotency_key) > MAX_KEY_BYTES) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "cannot create a dtp task: idempotency key is longer than "
		    "%d bytes",
		    MAX_KEY_BYTES);
	}
	req.which_call = dtp_v1_Request_create_task_tag;
	memcpy(ct->type, type, strlen(type) + 1);
	/* Borrowed for the call: req is encoded, never released. */
	ct->payload = (char *) payload_json;
	if (has_key) {
		ct->has_idempotency_key = true;
		memcpy(ct->idempotency_key, idempotency_key,
		    strlen(idempotency_key) + 1);
	}
	/*
	 * Without a key a resend could create a second task, so only a keyed
	 * create is marked idempotent (DESIGN §3).
	 */
	rc = call(c, &req, &rep, has_key, dtp_v1_Reply_create_task_tag,
	    deadline_ms, err);
	if (rc != TP_OK) {
		return rc;
	}
	if (!rep.result.create_task.has_task) {
		pb_release(dtp_v1_Reply_fields, &rep);
		return tp_err_set(
		    err, TP_INTERNAL, "dtp answered CreateTask without a task");
	}
	/* Move the task (and its heap fields) out of the reply. */
	*out      = rep.result.create_task.task;
	*replayed = rep.result.create_task.replayed;
	return TP_OK;
}

static tp_status
by_id(pilot_scheduler_client *c, dtp_v1_Task *out, int64_t id,
    pb_size_t call_tag, int64_t deadline_ms, tp_err *err)
{
	dtp_v1_Request req = dtp_v1_Request_init_zero;
	dtp_v1_Reply   rep;
	pb_size_t      want;
	tp_status      rc;

	if (id <= 0) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid dtp task id %lld: must be positive",
		    (long long) id);
	}
	req.which_call = call_tag;
	if (call_tag == dtp_v1_Request_get_task_tag) {
		req.call.get_task.id = id;
		want                 = dtp_v1_Reply_get_task_tag;
	} else {
		req.call.cancel_task.id = id;
		want                    = dtp_v1_Reply_cancel_task_tag;
	}
	rc = call(c, &req, &rep, true, want, deadline_ms, err);
	if (rc != TP_OK) {
		return rc;
	}
	/* Move the task (and its heap fields) out of the reply. */
	*out = want == dtp_v1_Reply_get_task_tag ? rep.result.get_task
	                                         : rep.result.cancel_task;
	return TP_OK;
}

tp_status
pilot_scheduler_client_get_task(pilot_scheduler_client *c, dtp_v1_Task *out,
    int64_t id, int64_t deadline_ms, tp_err *err)
{
	return by_id(c, out, id, dtp_v1_Request_get_task_tag, deadline_ms, err);
}

tp_status
pilot_scheduler_client_cancel_task(pilot_scheduler_client *c, dtp_v1_Task *out,
    int64_t id, int64_t deadline_ms, tp_err *err)
{
	return by_id(
	    c, out, id, dtp_v1_Request_cancel_task_tag, deadline_ms, err);
}
