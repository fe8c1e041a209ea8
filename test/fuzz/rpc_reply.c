/*
 * rpc_reply.c: fuzz target for what the gateway does with a reply from the
 * wire. Input: one byte choosing the route, then the bytes of that route's
 * service's Reply. A reply that decodes goes through the gateway's own
 * mapping (shim_call_reply, or shim_metrics_render and
 * shim_upstream_render for /metrics), as gateway.c calls them. Properties:
 * the JSON always encodes (strings that are not UTF-8 are repaired), its
 * status is the route's or 200, 500 or 503; a whole scrape, whatever text
 * the service sent, passes the strict exposition parser; everything is
 * released.
 */
#include <string.h>

#include <pb_decode.h>

#include "calls_int.h"
#include "common/log.h"
#include "fuzz.h"
#include "shim/expo.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const shim_route *r;
	shim_call_rep     rep;
	pb_istream_t      is;
	bool              ok;

	if (size < 1) {
		return 0;
	}
	/* Refused metrics text is logged at warn: not a finding. */
	tp_log_set_level(TP_LOG_ERROR);
	r = shim_route_get((shim_route_id) (data[0] % SHIM_ROUTE_COUNT));
	memset(&rep, 0, sizeof(rep));
	is = pb_istream_from_buffer(data + 1, size - 1);
	ok = r->service == SHIM_SERVICE_DTP
	    ? pb_decode(&is, dtp_v1_Reply_fields, &rep.dtp)
	    : pb_decode(&is, pilot_v1_Reply_fields, &rep.pilot);
	if (!ok) {
		return 0;
	}
	if (r->is_metrics) {
		/*
		 * The whole scrape, the gateway's part and the service's, for
		 * a service that answered this and for one that did not.
		 */
		for (int i = 0; i < 2; i++) {
			shim_metrics *m = shim_metrics_new(0);
			shim_prom     w;
			shim_expo_doc doc;
			tp_err        err;
			shim_prom_init(&w);
			shim_metrics_render(&w, m, r->service);
			shim_upstream_render(
			    &w, r, i == 0 ? TP_OK : TP_UNAVAILABLE, &rep);
			if (shim_expo_parse(&doc, w.text, w.len, &err)
			    != TP_OK) {
				fprintf(stderr, "%s\n%s", err.msg, w.text);
				FUZZ_CHECK(!"metrics text refused");
			}
			shim_expo_free(&doc);
			shim_prom_fini(&w);
			shim_metrics_free(m);
		}
	} else {
		int     http = 0;
		json_t *body = NULL;
		char   *text;
		shim_call_reply(&http, &body, r, &rep);
		FUZZ_CHECK(body != NULL);
		FUZZ_CHECK(http == r->success_http || http == 200 || http == 500
		    || http == 503);
		text = json_dumps(body, JSON_COMPACT);
		FUZZ_CHECK(text != NULL);
		free(text);
		json_decref(body);
	}
	shim_call_rep_release(r, &rep);
	return 0;
}
