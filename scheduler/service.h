/*
 * service.h (private): the DTP RPC service: the handlers of CreateTask,
 * GetTask, CancelTask, ListTasks, Health and Metrics for rpc_server, and the
 * per-thread context (one database connection per RPC thread).
 */
#ifndef SCHEDULER_SERVICE_H
#define SCHEDULER_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "create_batch.h"
#include "dtp.pb.h"
#include "metrics.h"
#include "rpc/server.h"
#include "worker.h"

typedef struct dtp_service {
	const char  *node;     /* borrowed */
	const char  *conninfo; /* borrowed */
	int          default_max_attempts;
	int64_t      default_timeout_ms;
	size_t       max_payload_bytes;
	size_t       max_msg_bytes;
	dtp_pool    *pool;    /* borrowed: told about new work and cancels */
	dtp_metrics *metrics; /* borrowed */
	/* borrowed: the creates' group commit, shared by the RPC threads */
	dtp_create_batch *creates;
} dtp_service;

/* Indexed by the request's call tag (rpc_server_opts.handlers). */
extern const rpc_handler_cb dtp_service_handlers[PROTO_DTP_MAX_CALL + 1];

/*
 * dtp_service_thread_init opens the RPC thread's database connection; arg
 * is the dtp_service (borrowed for the server's lifetime). Returns the
 * thread context, or NULL with err set. dtp_service_thread_fini frees it.
 */
void *dtp_service_thread_init(void *arg, int index, tp_err *err);
void  dtp_service_thread_fini(void *arg, void *thread_ctx);

#endif /* SCHEDULER_SERVICE_H */
