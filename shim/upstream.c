/*
 * upstream.c: what GET /metrics shows of the service behind its port (see
 * calls_int.h). A scrape makes one Metrics call to that service and appends
 * the Prometheus text it answers (tp.v1.MetricsReply.text: DTP's tasks by
 * state, oldest PENDING age, attempts, retries, lease expiries, cancels,
 * cancel-to-stop latency, workers...) after the gateway's own series, with
 * tp_upstream_up{service} saying whether it came.
 *
 * The text is checked before it is served: it must pass the strict parser
 * (expo.h) and keep off the gateway's names (tp_http_, tp_rpc_client_,
 * tp_gateway_, tp_upstream_), because one bad line makes Prometheus drop
 * the whole scrape, the gateway's own series with it. Text that fails is
 * left out and logged, and the scrape shows tp_upstream_up 0. A service
 * that answers UNIMPLEMENTED (a node from before the Metrics call) is up
 * with nothing of its own to show. Whatever the service does, the scrape is
 * answered 200.
 */
#include "calls_int.h"

#include <string.h>

#include "common/log.h"
#include "shim/expo.h"

#define COMPONENT "shim"

/* Family name prefixes that are the gateway's own. */
static const char *const reserved[]
    = { "tp_http_", "tp_rpc_client_", "tp_gateway_", "tp_upstream_" };

static const char *const service_names[SHIM_SERVICE_COUNT] = {
	[SHIM_SERVICE_DTP]   = "dtp",
	[SHIM_SERVICE_PILOT] = "taskpilot",
};

void
shim_upstream_request(shim_call_req *out, const shim_route *r)
{
	memset(out, 0, sizeof(*out));
	if (r->service == SHIM_SERVICE_DTP) {
		out->u.dtp.which_call = dtp_v1_Request_metrics_tag;
	} else {
		out->u.pilot.which_call = pilot_v1_Request_metrics_tag;
	}
	out->idempotent = true;
}

/*
 * reply_text returns the text of an OK reply (borrowed; "" when empty), or
 * NULL when the reply answers another call.
 */
static const char *
reply_text(const shim_route *r, const shim_call_rep *rep)
{
	const char *text;

	if (r->service == SHIM_SERVICE_DTP) {
		if (rep->dtp.which_result != dtp_v1_Reply_metrics_tag) {
			return NULL;
		}
		text = rep->dtp.result.metrics.text;
	} else {
		if (rep->pilot.which_result != pilot_v1_Reply_metrics_tag) {
			return NULL;
		}
		text = rep->pilot.result.metrics.text;
	}
	/* FT_POINTER: an empty string does not travel, and decodes NULL. */
	return text != NULL ? text : "";
}

/* check_text tells whether text can be served after the gateway's part. */
static tp_status
check_text(const char *text, tp_err *err)
{
	shim_expo_doc doc;
	tp_status     rc;

	if ((rc = shim_expo_parse(&doc, text, strlen(text), err)) != TP_OK) {
		return rc;
	}
	for (size_t i = 0; i < doc.n_families && rc == TP_OK; i++) {
		const char *name = doc.families[i].name;
		for (size_t k = 0; k < sizeof(reserved) / sizeof(reserved[0]);
		     k++) {
			if (strncmp(name, reserved[k], strlen(reserved[k]))
			    == 0) {
				rc = tp_err_set(err, TP_INVALID_ARGUMENT,
				    "family %s uses the gateway's prefix %s",
				    name, reserved[k]);
				break;
			}
		}
	}
	shim_expo_free(&doc);
	return rc;
}

void
shim_upstream_render(
    shim_prom *w, const shim_route *r, tp_status code, const shim_call_rep *rep)
{
	const char           *service = service_names[r->service];
	const char           *text    = NULL;
	const shim_prom_label l[]     = { { "service", service } };
	tp_err                err;

	if (code == TP_OK) {
		text = reply_text(r, rep);
		if (text == NULL) {
			tp_log_warn(COMPONENT,
			    "metrics left out service=%s reason=\"the reply "
			    "answers another call\"",
			    service);
		} else if (check_text(text, &err) != TP_OK) {
			tp_log_warn(COMPONENT,
			    "metrics left out service=%s reason=\"%s\"",
			    service, err.msg);
			text = NULL;
		}
	}
	shim_prom_family(w, "tp_upstream_up", "gauge",
	    "Whether the service behind this port answered the scrape's "
	    "Metrics call with text that could be served (1) or not (0).");
	shim_prom_sample_u64(w, "tp_upstream_up", l, 1,
	    text != NULL || code == TP_UNIMPLEMENTED ? 1 : 0);
	if (text != NULL) {
		/* As it is: checked above, it ends in a newline. */
		shim_prom_append(w, text, strlen(text));
	}
}
