/*
 * run.h: the whole life of a DTP worker binary in one call, for `dtp` itself
 * and for a binary of your own with your handlers linked in (see
 * scheduler/examples/my_worker.c):
 *
 *     int main(int argc, char **argv) {
 *         dtp_registry *reg = dtp_registry_new();
 *         if (dtp_registry_add(reg, "reverse", reverse_main, NULL, NULL)
 *             != TP_OK) { return 1; }
 *         return dtp_run_main(argc, argv, reg);
 *     }
 */
#ifndef SCHEDULER_RUN_H
#define SCHEDULER_RUN_H

#include "common/status.h"
#include "scheduler/config.h"
#include "scheduler/handler.h"

/*
 * dtp_registry_add_configured registers the built-in types (demo, sleep,
 * fail) and the exec types of cfg->exec (--exec), with the node's result
 * limit and kill grace. TP_ALREADY_EXISTS when a name is taken (a handler of
 * yours called "demo", say), TP_INVALID_ARGUMENT for a bad --exec list.
 * Main thread, before the node starts.
 */
TP_MUST_CHECK tp_status dtp_registry_add_configured(
    dtp_registry *r, const dtp_config *cfg, tp_err *err);

/*
 * dtp_run_main is a worker binary's main(): it parses the flags and the
 * environment (`--help` lists them), blocks SIGINT, SIGTERM and SIGHUP and
 * ignores SIGPIPE before any thread starts, adds the configured types
 * (dtp_registry_add_configured) to reg, starts the node, waits for a
 * signal and stops gracefully: no more claims, running tasks get
 * --drain-ms, the rest are handed back to PENDING; a second signal exits at
 * once. Takes ownership of reg (already holding your handlers). Returns the
 * exit code: 0 after a clean stop or --help, 1 when the node cannot start,
 * 2 on a usage error. Call it from main() before starting any thread.
 */
int dtp_run_main(int argc, char **argv, dtp_registry *reg);

#endif /* SCHEDULER_RUN_H */
