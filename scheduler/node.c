/*
 * node.c: one DTP node (node.h): migrations, the worker pool and the RPC
 * server, in start order, and the graceful stop in the reverse order.
 */
#include "scheduler/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "db/conn.h"
#include "db/migrate.h"
#include "metrics.h"
#include "proto/envelope.h"
#include "rpc/server.h"
#include "scheduler/backoff.h"
#include "service.h"
#include "worker.h"

#define COMPONENT "dtp"
/* How long the RPC server waits for calls in flight on stop. */
#define RPC_DRAIN_MS 5000

struct dtp_node {
	const dtp_config *cfg;
	char            **urls;
	size_t            n_urls;
	dtp_metrics      *metrics;
	dtp_pool         *pool;
	dtp_create_batch *creates;
	dtp_service       svc;
	rpc_server       *server;
	bool              stopped;
};

static void
split_urls(dtp_node *n, const char *list)
{
	char *copy = tp_xstrdup(list);
	char *save = NULL;

	for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok       = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ') {
			tok++;
		}
		if (*tok == '\0') {
			continue;
		}
		n->urls
		    = tp_xrealloc(n->urls, (n->n_urls + 1) * sizeof(char *));
		n->urls[n->n_urls++] = tp_xstrdup(tok);
	}
	free(copy);
}

static tp_status
migrate(const dtp_config *cfg, tp_err *err)
{
	tp_status rc   = TP_OK;
	db_conn  *conn = NULL;
	char      dir[4096];

	snprintf(dir, sizeof(dir), "%s/dtp", cfg->migrations_dir);
	if ((rc = db_conn_open(&conn, cfg->database_url, err)) != TP_OK) {
		return rc;
	}
	rc = db_migrate(conn, "dtp", dir, err);
	db_conn_free(conn);
	return rc;
}

tp_status
dtp_node_start(
    dtp_node **out, const dtp_config *cfg, const dtp_registry *reg, tp_err *err)
{
	tp_status       rc = TP_OK;
	dtp_node       *n  = tp_xcalloc(1, sizeof(*n));
	dtp_pool_opts   po;
	rpc_server_opts so;
	rpc_tls_opts    tls;

	n->cfg     = cfg;
	n->metrics = dtp_metrics_new();
	split_urls(n, cfg->listen);
	if (n->n_urls == 0) {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "no listen URL in \"%s\"", cfg->listen);
		goto out;
	}
	if ((rc = migrate(cfg, err)) != TP_OK) {
		goto out;
	}

	memset(&po, 0, sizeof(po));
	po.conninfo        = cfg->database_url;
	po.node            = cfg->node_name;
	po.workers         = (int) cfg->workers;
	po.lease_ms        = cfg->lease_ms;
	po.poll_ms         = cfg->poll_ms;
	po.backoff.base_ms = cfg->backoff_base_ms;
	po.backoff.max_ms  = cfg->backoff_max_ms;
	if (!dtp_backoff_parse_jitter(
	        &po.backoff.jitter, cfg->backoff_jitter)) {
		po.backoff.jitter = DTP_JITTER_EQUAL;
	}
	po.max_result_bytes = (size_t) cfg->max_payload_bytes;
	po.handler_grace_ms = cfg->handler_grace_ms;
	po.reg              = reg;
	po.metrics          = n->metrics;
	if ((rc = dtp_pool_start(&n->pool, &po, err)) != TP_OK) {
		goto out;
	}

	n->svc.node                 = cfg->node_name;
	n->svc.conninfo             = cfg->database_url;
	n->svc.default_max_attempts = (int) cfg->default_max_attempts;
	n->svc.default_timeout_ms   = cfg->default_timeout_ms;
	n->svc.max_payload_bytes    = (size_t) cfg->max_payload_bytes;
	n->svc.max_msg_bytes        = (size_t) cfg->max_msg_bytes;
	n->svc.pool                 = n->pool;
	n->svc.metrics              = n->metrics;
	n->creates                  = dtp_create_batch_new(n->metrics);
	n->svc.creates              = n->creates;

	memset(&so, 0, sizeof(so));
	so.env            = &proto_dtp_envelope;
	so.urls           = (const char *const *) n->urls;
	so.n_urls         = n->n_urls;
	so.threads        = (int) cfg->rpc_threads;
	so.max_msg_bytes  = (size_t) cfg->max_msg_bytes;
	so.drain_ms       = RPC_DRAIN_MS;
	so.handlers       = dtp_service_handlers;
	so.thread_init_cb = dtp_service_thread_init;
	so.thread_fini_cb = dtp_service_thread_fini;
	so.arg            = &n->svc;
	so.observe_cb     = dtp_metrics_rpc_observe;
	so.observe_arg    = n->metrics;
	so.tls            = dtp_config_server_tls(&tls, cfg);
	if ((rc = rpc_server_start(&n->server, &so, err)) != TP_OK) {
		goto out;
	}
out:
	if (rc != TP_OK) {
		if (dtp_node_stop(n)) {
			dtp_node_free(n);
		}
		return rc;
	}
	*out = n;
	return TP_OK;
}

char *
dtp_node_urls(dtp_node *n, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n->n_urls && used < size; i++) {
		const char *u    = n->urls[i];
		size_t      len  = strlen(u);
		int         port = n->server != NULL
		            ? rpc_server_bound_port(n->server, i)
		            : 0;
		int         w;
		if (port > 0 && len >= 2 && strcmp(u + len - 2, ":0") == 0) {
			w = snprintf(buf + used, size - used, "%s%.*s:%d",
			    i > 0 ? "," : "", (int) (len - 2), u, port);
		} else {
			w = snprintf(buf + used, size - used, "%s%s",
			    i > 0 ? "," : "", u);
		}
		if (w < 0) {
			break;
		}
		used += (size_t) w;
	}
	return buf;
}

int
dtp_node_in_flight(dtp_node *n)
{
	int in_flight = 0;

	if (n->server != NULL) {
		in_flight += rpc_server_in_flight(n->server);
	}
	if (n->pool != NULL) {
		in_flight += dtp_pool_busy(n->pool);
	}
	return in_flight;
}

bool
dtp_node_stop(dtp_node *n)
{
	bool clean = true;

	if (n == NULL || n->stopped) {
		return true;
	}
	n->stopped = true;
	/* No new calls, so no new work or cancels for the pool. */
	rpc_server_free(n->server);
	n->server = NULL;
	if (n->pool != NULL) {
		clean = dtp_pool_stop(n->pool, n->cfg->drain_ms);
	}
	return clean;
}

void
dtp_node_free(dtp_node *n)
{
	if (n == NULL) {
		return;
	}
	(void) dtp_node_stop(n);
	dtp_pool_free(n->pool);
	/* After the RPC server, its only user (stopped above). */
	dtp_create_batch_free(n->creates);
	dtp_metrics_free(n->metrics);
	for (size_t i = 0; i < n->n_urls; i++) {
		free(n->urls[i]);
	}
	free(n->urls);
	free(n);
}
