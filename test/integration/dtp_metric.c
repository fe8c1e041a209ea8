/* dtp_metric.c: one value of a node's Metrics text (dtp_metric.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dtp_helpers.h"
#include "dtp_metric.h"
#include "harness.h"
#include "shim/expo.h"

double
dtp_h_metric(rpc_client *c, const char *name, const char *label)
{
	char         *text = NULL;
	shim_expo_doc doc;
	tp_err        err;
	double        v = 0;
	int           n;

	if (dtp_h_metrics(c, &text, &err) != TP_OK) {
		fail_msg("Metrics: %s", err.msg);
	}
	if (shim_expo_parse(&doc, text, strlen(text), &err) != TP_OK) {
		fail_msg("Metrics text refused: %s\n%s", err.msg, text);
	}
	n = shim_expo_get(&doc, &v, name, label, NULL);
	if (n != 1) {
		fail_msg("Metrics: %d samples %s{%s}\n%s", n, name,
		    label != NULL ? label : "", text);
	}
	shim_expo_free(&doc);
	free(text);
	return v;
}

typedef struct metric_wait {
	rpc_client *c;
	const char *name;
	const char *label;
	double      want;
	double      got;
} metric_wait;

static bool
metric_is_pred(void *arg)
{
	metric_wait *w = arg;

	w->got = dtp_h_metric(w->c, w->name, w->label);
	return w->got == w->want;
}

void
dtp_h_metric_wait(rpc_client *c, const char *name, const char *label,
    double want, int timeout_ms)
{
	metric_wait w = { c, name, label, want, 0 };

	if (!th_poll_until(metric_is_pred, &w, timeout_ms)) {
		fail_msg("%s{%s} is %g, want %g", name,
		    label != NULL ? label : "", w.got, w.want);
	}
}
