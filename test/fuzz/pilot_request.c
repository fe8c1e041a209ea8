/*
 * pilot_request.c: fuzz target for TaskPilot's request envelope as its RPC
 * server decodes it (pb_decode of pilot.v1.Request, pb_release after): see
 * envelope_roundtrip.h for the properties.
 */
#include "envelope_roundtrip.h"
#include "pilot.pb.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	envelope_roundtrip(
	    pilot_v1_Request_fields, sizeof(pilot_v1_Request), data, size);
	return 0;
}
