/*
 * query.c: fuzz target for the list routes' query parameters. Input: a
 * query string, split on '&' and the first '=' of each part as MHD does
 * (a part without '=' has no value). Properties: an accepted query gives a
 * request within the documented bounds; a refused one says why.
 */
#include <string.h>

#include "fuzz.h"
#include "shim/query.h"

#define MAX_ARGS 16

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char                        *text = strndup((const char *) data, size);
	shim_kv                      kv[MAX_ARGS];
	size_t                       n    = 0;
	char                        *save = NULL;
	dtp_v1_ListTasksRequest      lt;
	pilot_v1_ListWebTasksRequest lw;
	tp_err                       err;

	FUZZ_CHECK(text != NULL);
	for (char *part                         = strtok_r(text, "&", &save);
	     part != NULL && n < MAX_ARGS; part = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(part, '=');
		if (eq != NULL) {
			*eq = '\0';
		}
		kv[n].key   = part;
		kv[n].value = eq != NULL ? eq + 1 : NULL;
		n++;
	}
	if (shim_query_list_tasks(&lt, kv, n, &err) == TP_OK) {
		FUZZ_CHECK(lt.limit >= 0 && lt.limit <= 1000);
		FUZZ_CHECK(lt.after_id >= 0);
		FUZZ_CHECK(strlen(lt.type) <= 64);
		FUZZ_CHECK(!lt.has_status
		    || (lt.status >= dtp_v1_TaskStatus_TASK_STATUS_PENDING
		        && lt.status
		            <= dtp_v1_TaskStatus_TASK_STATUS_CANCELLED));
	} else {
		FUZZ_CHECK(
		    err.code == TP_INVALID_ARGUMENT && err.msg[0] != '\0');
	}
	if (shim_query_list_web_tasks(&lw, kv, n, &err) == TP_OK) {
		FUZZ_CHECK(lw.limit >= 0 && lw.limit <= 1000);
		FUZZ_CHECK(lw.after_id >= 0);
		FUZZ_CHECK(strlen(lw.type) <= 64);
	} else {
		FUZZ_CHECK(
		    err.code == TP_INVALID_ARGUMENT && err.msg[0] != '\0');
	}
	free(text);
	return 0;
}
