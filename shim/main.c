/*
 * main.c: the tpgateway binary: parse the config, start the gateway, wait
 * for a signal, stop. No logic here.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "shim/config.h"
#include "shim/gateway.h"

#define LOG_COMPONENT "tpgateway"

static const char *
signal_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	case SIGHUP:
		return "SIGHUP";
	default:
		return "unknown";
	}
}

/* second_signal_main: a second signal during the graceful stop ends us. */
static void *
second_signal_main(void *arg)
{
	const sigset_t *set = arg;
	int             sig = 0;

	if (sigwait(set, &sig) == 0) {
		tp_log_error(LOG_COMPONENT,
		    "second signal, stopping now signal=%s", signal_name(sig));
		_exit(1);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	static sigset_t sigs; /* read by the second-signal thread */
	shim_config     cfg;
	tp_log_level    level = TP_LOG_INFO;
	shim_gateway   *gw    = NULL;
	pthread_t       tid;
	tp_err          err;
	int             sig = 0;
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
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

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

	while (sigwait(&sigs, &sig) != 0) {
		/* sigwait fails only on a bad set; nothing to retry differently
		 */
	}
	tp_log_info(LOG_COMPONENT, "shutting down signal=%s in_flight=%d",
	    signal_name(sig), shim_gateway_in_flight(gw));
	if (pthread_create(&tid, NULL, second_signal_main, &sigs) == 0) {
		pthread_detach(tid);
	}
	shim_gateway_free(gw);
	tp_log_info(LOG_COMPONENT, "stopped");
	return 0;
}
