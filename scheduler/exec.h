/*
 * exec.h (private): the --exec list (DTP_EXEC) that maps task types to
 * programs: "TYPE=/abs/path[,TYPE=/abs/path...]". The handler itself is
 * public (handler.h, dtp_registry_add_exec). Pure parsing: any thread.
 */
#ifndef SCHEDULER_EXEC_H
#define SCHEDULER_EXEC_H

#include <stddef.h>

#include "common/status.h"

#define DTP_EXEC_PATH_MAX 4096

typedef struct dtp_exec_spec {
	char type[65];
	char path[DTP_EXEC_PATH_MAX];
} dtp_exec_spec;

/*
 * dtp_exec_parse_list parses list (NULL or "" is an empty list) into *out
 * (caller frees with free(); NULL when *n is 0). Items are separated by
 * commas, spaces around them ignored; each is TYPE=PATH with TYPE a valid
 * type name and PATH absolute, without control characters (split at the
 * first '=', so a path may hold '=' but never ','). A type given twice is
 * refused. TP_INVALID_ARGUMENT with the reason otherwise; nothing is
 * written then. Does not look at the file system.
 */
TP_MUST_CHECK tp_status dtp_exec_parse_list(
    dtp_exec_spec **out, size_t *n, const char *list, tp_err *err);

#endif /* SCHEDULER_EXEC_H */
