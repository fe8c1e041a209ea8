/* signals.c: the shutdown signals of the service binaries (see signals.h). */
#include "common/signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "common/log.h"

static sigset_t
shutdown_set(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	return set;
}

void
tp_signals_block(void)
{
	sigset_t set = shutdown_set();
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
tp_signals_wait(void)
{
	sigset_t set = shutdown_set();
	int      sig = 0;

	/* sigwait fails only on a bad set, which this one is not. */
	while (sigwait(&set, &sig) != 0) {
	}
	return sig;
}

const char *
tp_signal_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	case SIGHUP:
		return "SIGHUP";
	default:
		return "signal";
	}
}

static void *
second_signal_main(void *arg)
{
	const char *component = arg;
	int         sig       = tp_signals_wait();

	tp_log_error(component, "second signal, stopping now signal=%s",
	    tp_signal_name(sig));
	_exit(1);
	return NULL;
}

void
tp_signals_second_exits(const char *component)
{
	pthread_t tid;

	if (pthread_create(&tid, NULL, second_signal_main, (void *) component)
	    == 0) {
		pthread_detach(tid);
	}
}
