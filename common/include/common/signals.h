/*
 * signals.h: the shutdown signals every service binary handles the same
 * way (STYLE §7): SIGINT, SIGTERM and SIGHUP are blocked in every thread
 * and taken with sigwait by the main thread; the first starts a graceful
 * stop, a second one logs and calls _exit(1). SIGPIPE is ignored. Main
 * thread only.
 */
#ifndef COMMON_SIGNALS_H
#define COMMON_SIGNALS_H

/*
 * tp_signals_block blocks the shutdown signals and ignores SIGPIPE. Call it
 * before the first nng call or thread: threads inherit the mask.
 */
void tp_signals_block(void);

/* tp_signals_wait waits for the first shutdown signal and returns it. */
int tp_signals_wait(void);

/*
 * tp_signals_second_exits starts a detached thread that waits for another
 * shutdown signal, logs it under component, and calls _exit(1): call it
 * once the graceful stop has begun. component is borrowed for the life of
 * the process (a string literal).
 */
void tp_signals_second_exits(const char *component);

/* tp_signal_name returns "SIGINT", "SIGTERM", "SIGHUP" or "signal". */
const char *tp_signal_name(int sig);

#endif /* COMMON_SIGNALS_H */
