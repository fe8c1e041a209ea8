/*
 * run.c: a worker binary's whole life (run.h): config, signals, the node,
 * the wait for a signal, the graceful stop. A second signal exits at once.
 */
#include "scheduler/run.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/signals.h"
#include "exec.h"
#include "scheduler/node.h"

#define COMPONENT "dtp"

tp_status
dtp_registry_add_configured(dtp_registry *r, const dtp_config *cfg, tp_err *err)
{
	tp_status      rc    = TP_OK;
	dtp_exec_spec *specs = NULL;
	size_t         n     = 0;
	dtp_exec_opts  eo;

	if ((rc = dtp_registry_add_builtins(r, err)) != TP_OK) {
		return rc;
	}
	if ((rc = dtp_exec_parse_list(&specs, &n, cfg->exec, err)) != TP_OK) {
		return rc;
	}
	memset(&eo, 0, sizeof(eo));
	eo.max_output_bytes = (size_t) cfg->max_payload_bytes;
	eo.kill_grace_ms    = cfg->exec_kill_grace_ms;
	for (size_t i = 0; i < n && rc == TP_OK; i++) {
		rc = dtp_registry_add_exec(
		    r, specs[i].type, specs[i].path, &eo, err);
	}
	free(specs);
	return rc;
}

int
dtp_run_main(int argc, char **argv, dtp_registry *reg)
{
	dtp_config cfg;
	dtp_node  *node = NULL;
	tp_err     err;
	char       urls[1024];
	char       types[1024];
	int        sig;
	int        rc;

	if ((rc = dtp_config_parse(&cfg, argc, argv)) != -1) {
		dtp_registry_free(reg);
		return rc;
	}
	/* Before any thread starts (nng, libpq), so they all inherit it. */
	tp_signals_block();

	dtp_config_log(&cfg);
	tp_err_clear(&err);
	if (dtp_registry_add_configured(reg, &cfg, &err) != TP_OK
	    || dtp_node_start(&node, &cfg, reg, &err) != TP_OK) {
		tp_log_error(COMPONENT, "could not start: %s", err.msg);
		dtp_registry_free(reg);
		/* Bad options (a TLS URL without a certificate, a TLS file
		 * that does not load) are usage errors, as in taskpilot. */
		return err.code == TP_INVALID_ARGUMENT ? 2 : 1;
	}
	tp_log_info(COMPONENT, "ready listen=%s node=%s workers=%lld types=%s",
	    dtp_node_urls(node, urls, sizeof(urls)), cfg.node_name, cfg.workers,
	    dtp_registry_types(reg, types, sizeof(types)));

	sig = tp_signals_wait();
	tp_log_info(COMPONENT, "shutting down signal=%s in_flight=%d",
	    tp_signal_name(sig), dtp_node_in_flight(node));
	tp_signals_second_exits(COMPONENT);
	if (!dtp_node_stop(node)) {
		/* A handler thread never returned; its task was handed back
		 * (or ended) already, and its memory must stay: exit now. */
		tp_log_info(COMPONENT, "stopped abandoned_handlers=true");
		_exit(0);
	}
	dtp_node_free(node);
	dtp_registry_free(reg);
	tp_log_info(COMPONENT, "stopped");
	return 0;
}
