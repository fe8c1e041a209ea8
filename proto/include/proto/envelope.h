/*
 * envelope.h: what the generic RPC layer needs to know about a service's
 * Request/Reply envelope pair: the nanopb descriptors, where the call tag,
 * deadline and status live, and the call names. One per service, defined in
 * envelope.c next to the generated code.
 */
#ifndef PROTO_ENVELOPE_H
#define PROTO_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include <pb.h>

#include "dtp.pb.h"
#include "pilot.pb.h"
#include "tp.pb.h"

typedef struct proto_envelope {
	const char         *service; /* "dtp" or "taskpilot" */
	const pb_msgdesc_t *req_fields;
	size_t              req_size;
	const pb_msgdesc_t *rep_fields;
	size_t              rep_size;
	/* The request's oneof tag (0 when no call is set). */
	pb_size_t (*req_call)(const void *req);
	int64_t (*req_deadline_ms)(const void *req);
	void (*req_set_deadline_ms)(void *req, int64_t deadline_ms);
	/* The reply's status, marked present. */
	tp_v1_Status *(*rep_status)(void *rep);
	/* The reply's result tag, and setting it (0 clears it). */
	pb_size_t (*rep_result)(const void *rep);
	void (*rep_set_result)(void *rep, pb_size_t tag);
	/* "CreateTask" for a call tag, or NULL when the tag is unknown. */
	const char *(*call_name)(pb_size_t tag);
	/* The highest call tag, for dispatch tables. */
	pb_size_t max_call;
} proto_envelope;

/* The highest call tag of each service: size handler tables with these + 1. */
#define PROTO_DTP_MAX_CALL dtp_v1_Request_metrics_tag
#define PROTO_PILOT_MAX_CALL pilot_v1_Request_metrics_tag

extern const proto_envelope proto_dtp_envelope;
extern const proto_envelope proto_pilot_envelope;

#endif /* PROTO_ENVELOPE_H */
