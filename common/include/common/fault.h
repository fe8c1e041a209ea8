/*
 * fault.h: named fault points for failure tests. They are compiled in only
 * when TP_FAULTS is defined (the test build, cmake -DTP_FAULTS=ON); in any
 * other build TP_FAULT() is the constant TP_FAULT_NONE and costs nothing.
 *
 * A test switches points on through the environment of the process:
 *   TP_FAULTS="dtp.claim.after_commit=crash,rpc.server.reply=delay:300*2"
 * Each entry is name=action[:arg][@nth][*times]:
 *   crash      the process kills itself with SIGKILL at that point
 *   delay:MS   sleeps MS milliseconds, then goes on
 *   fail       TP_FAULT() returns TP_FAULT_FAIL: the caller fails the step
 *              the way a real failure of it would
 *   drop       TP_FAULT() returns TP_FAULT_DROP: the caller does the work
 *              but drops the answer (the caller sees a timeout)
 *   @nth       fire from the nth hit on (default 1)
 *   *times     fire at most this many times (default unlimited)
 * Any thread may pass a fault point.
 */
#ifndef COMMON_FAULT_H
#define COMMON_FAULT_H

typedef enum tp_fault_action {
	TP_FAULT_NONE = 0,
	TP_FAULT_FAIL,
	TP_FAULT_DROP,
} tp_fault_action;

/*
 * tp_fault_hit counts a hit of the named point and acts on it as the
 * environment says (crash and delay act here; fail and drop are returned).
 */
tp_fault_action tp_fault_hit(const char *name);

/*
 * tp_fault_configure replaces the configuration with spec (the same syntax
 * as TP_FAULTS; NULL or "" switches every point off) and resets the counts.
 * Returns 0, or -1 when spec does not parse (then nothing changes). For
 * unit tests; services read TP_FAULTS on the first hit.
 */
int tp_fault_configure(const char *spec);

#ifdef TP_FAULTS
#define TP_FAULT(name) tp_fault_hit(name)
#else
#define TP_FAULT(name) TP_FAULT_NONE
#endif

#endif /* COMMON_FAULT_H */
