/*
 * main.c: the tpgateway binary: parse the config, start the gateway, wait
 * for a signal, stop. No logic here.
 */
#include <stdio.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/signals.h"
#include "shim/config.h"
#include "shim/gateway.h"

#define LOG_COMPONENT "tpgateway"

int
main(int argc, char **argv)
{
	shim_config     cfg;
	tp_log_level    level = TP_LOG_INFO;
	shim_gateway   *gw    = NULL;
	tp_err          err;
	int             rc;

	rc = tp_cfg_parse(&shim_config_spec, &cfg, argc, argv, NULL, NULL);
	if (rc >= 0) {
		return rc;
	}
	if (shim_config_check(&cfg, &err) != TP_OK) {
		fprintf(stderr, "tpgateway: %s\n", err.msg);
		return 2;
	}
	(void) tp_log_parse_level(&level, cfg.log_level); /* checked above */
	tp_log_set_level(level);

	/* Before the first nng call and the first MHD thread: they inherit it.
	 */
	tp_signals_block();

	tp_cfg_log(&shim_config_spec, &cfg, LOG_COMPONENT);
	if (shim_gateway_start(&gw, &cfg, &err) != TP_OK) {
		tp_log_error(LOG_COMPONENT, "could not start: %s", err.msg);
		return err.code == TP_INVALID_ARGUMENT ? 2 : 1;
	}
	tp_log_info(LOG_COMPONENT,
	    "ready dtp_listen=%s dtp_port=%d pilot_listen=%s pilot_port=%d "
	    "dtp_url=%s pilot_url=%s threads=%d auth=%s",
	    cfg.dtp_listen, shim_gateway_port(gw, SHIM_SERVICE_DTP),
	    cfg.pilot_listen, shim_gateway_port(gw, SHIM_SERVICE_PILOT),
	    cfg.dtp_url, cfg.pilot_url, shim_config_threads(&cfg),
	    cfg.api_token != NULL && cfg.api_token[0] != '\0' ? "on" : "off");

	int sig = tp_signals_wait();
	tp_log_info(LOG_COMPONENT, "shutting down signal=%s in_flight=%d",
	    tp_signal_name(sig), shim_gateway_in_flight(gw));
	tp_signals_second_exits(LOG_COMPONENT);
	shim_gateway_free(gw);
	tp_log_info(LOG_COMPONENT, "stopped");
	return 0;
}
