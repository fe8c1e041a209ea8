/*
 * upstream.c: what GET /metrics shows of the service behind its port (see
 * calls_int.h). The gateway makes one call to the service per scrape and
 * appends what comes back to its own series; when the service does not
 * answer, its part says so (tp_upstream_up 0) and the gateway's own series
 * are served all the same: a scrape is 200 whenever the gateway runs.
 *
 * The hook for a service's own metrics: each service has one row in
 * `sources`, naming the call a scrape makes and the function that renders
 * its reply. Today both services answer Health. When DTP gets its metrics
 * call (tasks by state, age of the oldest PENDING task, attempts, retries,
 * lease expiries, cancels, cancel-to-stop latency, busy and idle workers),
 * its row names that call and its render function maps the reply's fields
 * to families with shim_prom_family / _sample_* / _histogram, after
 * render_up(). Nothing else in the gateway changes.
 */
#include "calls_int.h"

#include <string.h>

typedef struct source {
	const char *service; /* the label value */
	void (*request)(shim_call_req *out);
	/* Renders an OK reply; render_up() has been written before. */
	void (*render)(shim_prom *w, const char *service, const shim_call_rep *rep);
} source;

/*
 * label_copy copies a string from the wire into buf as a label value:
 * printable ASCII only (nanopb checks no UTF-8; the format wants it), the
 * rest as '?'.
 */
static const char *
label_copy(char *buf, size_t size, const char *s)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0' && n + 1 < size; s++) {
		unsigned char c = (unsigned char) *s;
		buf[n++]        = c >= 0x20 && c < 0x7f ? (char) c : '?';
	}
	buf[n] = '\0';
	return buf;
}

static void
render_up(shim_prom *w, const char *service, bool up)
{
	const shim_prom_label l[] = { { "service", service } };

	shim_prom_family(w, "tp_upstream_up", "gauge",
	    "Whether the service behind this port answered the scrape's "
	    "call (1) or not (0).");
	shim_prom_sample_u64(w, "tp_upstream_up", l, 1, up ? 1 : 0);
}

/* The reply of Health, as both services give it. */
static void
render_health(shim_prom *w, const char *service, const tp_v1_HealthReply *h)
{
	char                  version[64], node[64];
	const shim_prom_label l[]    = { { "service", service } };
	const shim_prom_label info[] = { { "service", service },
		{ "version", label_copy(version, sizeof(version), h->version) },
		{ "node", label_copy(node, sizeof(node), h->node) } };

	shim_prom_family(w, "tp_upstream_database_up", "gauge",
	    "Whether the node that answered reached its database (1) or not "
	    "(0).");
	shim_prom_sample_u64(
	    w, "tp_upstream_database_up", l, 1, h->db_ok ? 1 : 0);
	shim_prom_family(w, "tp_upstream_info", "gauge",
	    "Always 1; the labels tell the version and node name of the node "
	    "that answered.");
	shim_prom_sample_u64(w, "tp_upstream_info", info, 3, 1);
}

static void
dtp_request(shim_call_req *out)
{
	out->u.dtp.which_call = dtp_v1_Request_health_tag;
	out->idempotent       = true;
}

static void
dtp_render(shim_prom *w, const char *service, const shim_call_rep *rep)
{
	if (rep->dtp.which_result == dtp_v1_Reply_health_tag) {
		render_health(w, service, &rep->dtp.result.health);
	}
}

static void
pilot_request(shim_call_req *out)
{
	out->u.pilot.which_call = pilot_v1_Request_health_tag;
	out->idempotent         = true;
}

static void
pilot_render(shim_prom *w, const char *service, const shim_call_rep *rep)
{
	if (rep->pilot.which_result == pilot_v1_Reply_health_tag) {
		render_health(w, service, &rep->pilot.result.health);
	}
}

static const source sources[SHIM_SERVICE_COUNT] = {
	[SHIM_SERVICE_DTP]   = { "dtp", dtp_request, dtp_render },
	[SHIM_SERVICE_PILOT] = { "taskpilot", pilot_request, pilot_render },
};

void
shim_upstream_request(shim_call_req *out, const shim_route *r)
{
	memset(out, 0, sizeof(*out));
	sources[r->service].request(out);
}

void
shim_upstream_render(shim_prom *w, const shim_route *r, tp_status code,
    const shim_call_rep *rep)
{
	const source *s = &sources[r->service];

	render_up(w, s->service, code == TP_OK);
	if (code == TP_OK) {
		s->render(w, s->service, rep);
	}
}
