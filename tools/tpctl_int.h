/*
 * tpctl_int.h: what tpctl.c (flags, requests, calls) and tpctl_print.c (the
 * output of replies) share. Private to tools/.
 */
#ifndef TOOLS_TPCTL_INT_H
#define TOOLS_TPCTL_INT_H

#include <stdbool.h>

#include "dtp.pb.h"
#include "pilot.pb.h"

#define TPCTL_EXIT_FAIL  1 /* the call failed */
#define TPCTL_EXIT_USAGE 2 /* bad usage */

/*
 * tpctl_print_dtp_reply prints a DTP reply (borrowed) on stdout, as text or,
 * when json, as the gateway's JSON. Returns the exit status: 0, or
 * TPCTL_EXIT_FAIL for a node that answers Health but cannot reach its
 * database, or for a reply without a result (both said on stderr).
 */
int tpctl_print_dtp_reply(const dtp_v1_Reply *rep, bool json);

/* tpctl_print_pilot_reply: the same for a TaskPilot reply. */
int tpctl_print_pilot_reply(const pilot_v1_Reply *rep, bool json);

#endif /* TOOLS_TPCTL_INT_H */
