/*
 * json_body.c: fuzz target for the gateway's request bodies: bytes ->
 * proto_json_load (UTF-8, duplicates, depth) -> the CreateTask and
 * CreateWebTask mappings. Properties: what parses maps to bounded strings
 * and a payload that is valid JSON text or the given string; the compact
 * dump of any loaded value loads back to an equal value; everything is
 * released (the fuzzer's leak check).
 */
#include <string.h>

#include <pb_decode.h>

#include "fuzz.h"
#include "proto/json.h"

static void
check_create_task(const json_t *v)
{
	dtp_v1_CreateTaskRequest r;
	json_t                  *payload;

	if (proto_json_create_task_parse(&r, v, NULL) != TP_OK) {
		return;
	}
	FUZZ_CHECK(r.payload != NULL);
	FUZZ_CHECK(strlen(r.type) <= 64);
	FUZZ_CHECK(!r.has_idempotency_key || strlen(r.idempotency_key) > 0);
	payload = json_object_get(v, "payload");
	FUZZ_CHECK(payload != NULL);
	if (json_is_string(payload)) {
		FUZZ_CHECK(strcmp(r.payload, json_string_value(payload)) == 0);
	} else {
		json_t *back = NULL;
		FUZZ_CHECK(proto_json_load(
		               &back, r.payload, strlen(r.payload), 1024, NULL)
		    == TP_OK);
		FUZZ_CHECK(json_equal(back, payload));
		json_decref(back);
	}
	pb_release(dtp_v1_CreateTaskRequest_fields, &r);
}

static void
check_create_web_task(const json_t *v)
{
	pilot_v1_CreateWebTaskRequest r;

	if (proto_json_create_web_task_parse(&r, v, NULL) != TP_OK) {
		return;
	}
	FUZZ_CHECK(r.payload != NULL);
	FUZZ_CHECK(strlen(r.type) <= 64);
	FUZZ_CHECK(!r.has_title || strlen(r.title) <= 200);
	pb_release(pilot_v1_CreateWebTaskRequest_fields, &r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *v    = NULL;
	json_t *back = NULL;
	char   *text;

	if (proto_json_load(&v, (const char *) data, size,
	        PROTO_JSON_MAX_DEPTH_DEFAULT, NULL)
	    != TP_OK) {
		return 0;
	}
	check_create_task(v);
	check_create_web_task(v);
	text = proto_json_dump_compact(v);
	FUZZ_CHECK(proto_json_load(&back, text, strlen(text),
	               PROTO_JSON_MAX_DEPTH_DEFAULT, NULL)
	    == TP_OK);
	FUZZ_CHECK(json_equal(v, back));
	free(text);
	json_decref(back);
	json_decref(v);
	return 0;
}
