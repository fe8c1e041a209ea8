/*
 * main.c: the dtp binary: parse the config, start the node, wait for a
 * signal, stop gracefully. A second signal exits at once.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "scheduler/config.h"
#include "scheduler/handler.h"
#include "scheduler/node.h"

#define COMPONENT "dtp"

static sigset_t stop_signals;

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

/* second_signal_main: while stopping, a second signal ends the process. */
static void *
second_signal_main(void *arg)
{
	int sig = 0;

	(void) arg;
	if (sigwait(&stop_signals, &sig) == 0) {
		tp_log_warn(COMPONENT, "second signal, exiting now signal=%s",
		    signal_name(sig));
		_exit(1);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	dtp_config    cfg;
	dtp_registry *reg  = NULL;
	dtp_node     *node = NULL;
	pthread_t     watcher;
	tp_err        err;
	char          urls[1024];
	int           sig = 0;
	int           rc;

	if ((rc = dtp_config_parse(&cfg, argc, argv)) != -1) {
		return rc;
	}
	/* Before any thread starts (nng, libpq), so they all inherit it. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	dtp_config_log(&cfg);
	reg = dtp_registry_new();
	if (dtp_registry_add_builtins(reg, &err) != TP_OK
	    || dtp_node_start(&node, &cfg, reg, &err) != TP_OK) {
		tp_log_error(COMPONENT, "could not start: %s", err.msg);
		dtp_registry_free(reg);
		return 1;
	}
	tp_log_info(COMPONENT, "ready listen=%s node=%s workers=%lld",
	    dtp_node_urls(node, urls, sizeof(urls)), cfg.node_name,
	    cfg.workers);

	while (sigwait(&stop_signals, &sig) != 0) { }
	tp_log_info(COMPONENT, "shutting down signal=%s in_flight=%d",
	    signal_name(sig), dtp_node_in_flight(node));
	if (pthread_create(&watcher, NULL, second_signal_main, NULL) == 0) {
		pthread_detach(watcher);
	}
	if (!dtp_node_stop(node)) {
		/* A handler thread still runs; its task was handed back. */
		tp_log_info(COMPONENT, "stopped abandoned_handlers=true");
		_exit(0);
	}
	dtp_node_free(node);
	dtp_registry_free(reg);
	tp_log_info(COMPONENT, "stopped");
	return 0;
}
