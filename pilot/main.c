/*
 * main.c: the taskpilot binary: parse the config, apply the pilot schema's
 * migrations, start the RPC service and the background jobs (reconciler,
 * refresher), wait for a signal, stop. No logic here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/signals.h"
#include "db/conn.h"
#include "db/migrate.h"
#include "pilot/background.h"
#include "pilot/config.h"
#include "pilot/scheduler_client.h"
#include "pilot/service.h"

#define LOG_COMPONENT "taskpilot"

/*
 * usage_or_failure is the exit code of a failed start: 2 when the flags
 * were at fault (a bad URL, a TLS URL without TLS flags, a TLS file that
 * does not load), else 1.
 */
static int
usage_or_failure(const tp_err *err)
{
	return err->code == TP_INVALID_ARGUMENT ? 2 : 1;
}

static int
migrate(const pilot_config *cfg)
{
	db_conn *db = NULL;
	tp_err   err;
	char     dir[4096];
	int      rc = 0;

	snprintf(dir, sizeof(dir), "%s/pilot", cfg->migrations_dir);
	if (db_conn_open(&db, cfg->database_url, &err) != TP_OK) {
		tp_log_error(LOG_COMPONENT,
		    "could not connect to the database: %s", err.msg);
		return 1;
	}
	if (db_migrate(db, "pilot", dir, &err) != TP_OK) {
		tp_log_error(LOG_COMPONENT,
		    "could not migrate schema pilot dir=%s: %s", dir, err.msg);
		rc = 1;
	}
	db_conn_free(db);
	return rc;
}

int
main(int argc, char **argv)
{
	pilot_config                cfg;
	tp_log_level                level = TP_LOG_INFO;
	pilot_scheduler_client_opts sco   = { 0 };
	pilot_scheduler_client     *sched = NULL;
	pilot_service_opts          so    = { 0 };
	pilot_service              *svc   = NULL;
	pilot_background_opts       bo    = { 0 };
	pilot_background           *bg    = NULL;
	rpc_tls_opts                server_tls;
	rpc_tls_opts                dtp_tls;
	char                      **urls   = NULL;
	size_t                      n_urls = 0;
	tp_err                      err;
	int                         rc;

	rc = tp_cfg_parse(&pilot_config_spec, &cfg, argc, argv, NULL, NULL);
	if (rc >= 0) {
		return rc;
	}
	if (pilot_config_check(&cfg, &err) != TP_OK) {
		fprintf(stderr, "taskpilot: %s\n", err.msg);
		return 2;
	}
	(void) tp_log_parse_level(&level, cfg.log_level); /* checked above */
	tp_log_set_level(level);

	/* Before the first nng call: its threads inherit this mask. */
	tp_signals_block();

	tp_cfg_log(&pilot_config_spec, &cfg, LOG_COMPONENT);
	if (migrate(&cfg) != 0) {
		return 1;
	}
	if (pilot_config_split_urls(&urls, &n_urls, cfg.listen, &err)
	    != TP_OK) {
		fprintf(stderr, "taskpilot: --listen: %s\n", err.msg);
		return 2;
	}
	sco.timeout_ms = (int) cfg.dtp_timeout_ms;
	/*
	 * The same limit as DTP's (both default to 1 MiB): a CreateTask past
	 * it is refused here, with nothing sent, instead of making DTP drop
	 * the connection (which reads as "could not reach dtp").
	 */
	sco.max_msg_bytes = (size_t) cfg.max_msg_bytes;
	/* NULL without TLS flags: a tls+tcp:// URL then says what it needs. */
	sco.tls = pilot_config_dtp_tls(&dtp_tls, &cfg);
	if (pilot_scheduler_client_open(&sched, cfg.dtp_url, &sco, &err)
	    != TP_OK) {
		tp_log_error(LOG_COMPONENT, "could not open the dtp client: %s",
		    err.msg);
		rc = usage_or_failure(&err);
		goto out;
	}
	so.urls              = (const char *const *) urls;
	so.n_urls            = n_urls;
	so.threads           = (int) cfg.rpc_threads;
	so.database_url      = cfg.database_url;
	so.scheduler         = sched;
	so.max_payload_bytes = (size_t) cfg.max_payload_bytes;
	so.max_msg_bytes     = (size_t) cfg.max_msg_bytes;
	so.drain_ms          = (int) cfg.drain_ms;
	so.tls               = pilot_config_server_tls(&server_tls, &cfg);
	if (pilot_service_start(&svc, &so, &err) != TP_OK) {
		tp_log_error(LOG_COMPONENT, "could not start: %s", err.msg);
		rc = usage_or_failure(&err);
		goto out;
	}
	bo.database_url    = cfg.database_url;
	bo.scheduler       = sched;
	bo.refresh_ms      = (int) cfg.refresh_ms;
	bo.refresh_batch   = (int) cfg.refresh_batch;
	bo.reconcile_ms    = (int) cfg.reconcile_ms;
	bo.reconcile_batch = (int) cfg.reconcile_batch;
	bo.bind_grace_ms   = (int) cfg.bind_grace_ms;
	if (pilot_background_start(&bg, &bo, &err) != TP_OK) {
		tp_log_error(LOG_COMPONENT,
		    "could not start the background jobs: %s", err.msg);
		rc = 1;
		goto out;
	}
	tp_log_info(LOG_COMPONENT, "ready listen=%s port=%d dtp=%s", cfg.listen,
	    pilot_service_bound_port(svc, 0), cfg.dtp_url);

	int sig = tp_signals_wait();
	tp_log_info(LOG_COMPONENT, "shutting down signal=%s in_flight=%d",
	    tp_signal_name(sig), pilot_service_in_flight(svc));
	tp_signals_second_exits(LOG_COMPONENT);
	rc = 0;
out:
	/* Both use the scheduler client: stop them before it closes. */
	pilot_background_free(bg);
	pilot_service_free(svc);
	pilot_scheduler_client_free(sched);
	pilot_config_free_urls(urls, n_urls);
	if (rc == 0) {
		tp_log_info(LOG_COMPONENT, "stopped");
	}
	return rc;
}
