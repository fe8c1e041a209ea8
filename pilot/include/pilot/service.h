/*
 * service.h: TaskPilot's RPC service (DESIGN §3, §6) on the pilot envelope:
 * CreateWebTask, GetWebTask, ListWebTasks, BindScheduler, GetExecution,
 * CancelExecution and Health, served by tp_rpc's worker threads. Each worker
 * owns its own database connection; all of them share the one (thread-safe)
 * scheduler client, TaskPilot's only way to DTP. TaskPilot never runs a
 * task: binding asks DTP to create one, the execution calls ask DTP.
 */
#ifndef PILOT_SERVICE_H
#define PILOT_SERVICE_H

#include <stddef.h>

#include "common/status.h"
#include "pilot/scheduler_client.h"
#include "rpc/rpc.h"

typedef struct pilot_service pilot_service;

typedef struct pilot_service_opts {
	const char *const      *urls; /* listen URLs (borrowed) */
	size_t                  n_urls;
	int                     threads;      /* RPC worker threads, >= 1 */
	const char             *database_url; /* one connection per worker */
	pilot_scheduler_client *scheduler; /* borrowed, outlives the service */
	size_t                  max_payload_bytes; /* web task payload limit */
	size_t                  max_msg_bytes;     /* RPC message limit */
	int                     drain_ms; /* stop waits this long for calls */
	/*
	 * TLS for the tls+tcp:// listen URLs (rpc/rpc.h: certificate, key,
	 * and the client CA with require_client_cert for mutual TLS). NULL:
	 * no TLS, and a tls+tcp:// URL is TP_INVALID_ARGUMENT. Borrowed for
	 * pilot_service_start only.
	 */
	const rpc_tls_opts *tls;
} pilot_service_opts;

/*
 * pilot_service_start opens one database connection per worker and starts
 * serving. Returns TP_OK and *out (caller frees with pilot_service_free);
 * TP_INVALID_ARGUMENT for bad options (a bad listen URL, a tls+tcp:// URL
 * without opts->tls, a TLS file that is missing or does not load: checked
 * before any database connection is opened); TP_UNAVAILABLE when the
 * database or a listen address is unavailable. opts is copied; what it
 * points to is borrowed for the service's lifetime, but opts->tls for this
 * call only. Blocks (connects, reads the TLS files). Main thread.
 */
TP_MUST_CHECK tp_status pilot_service_start(
    pilot_service **out, const pilot_service_opts *opts, tp_err *err);

/*
 * pilot_service_bound_port is the TCP port of the i-th listen URL (0 when it
 * is not TCP). Any thread.
 */
int pilot_service_bound_port(pilot_service *s, size_t i);

/* pilot_service_in_flight is the number of calls being handled now. */
int pilot_service_in_flight(pilot_service *s);

/*
 * pilot_service_free stops accepting, lets calls in flight finish (up to
 * drain_ms), stops the workers and closes their connections. NULL is a
 * no-op. Main thread.
 */
void pilot_service_free(pilot_service *s);

#endif /* PILOT_SERVICE_H */
