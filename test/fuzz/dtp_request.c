/*
 * dtp_request.c: fuzz target for DTP's request envelope as its RPC server
 * decodes it (pb_decode of dtp.v1.Request, payload allocated, pb_release
 * after): see envelope_roundtrip.h for the properties.
 */
#include "dtp.pb.h"
#include "envelope_roundtrip.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	envelope_roundtrip(
	    dtp_v1_Request_fields, sizeof(dtp_v1_Request), data, size);
	return 0;
}
