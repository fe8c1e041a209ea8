/*
 * envelope_roundtrip.h: the property both request-envelope targets check:
 * bytes that decode re-encode, and that encoding decodes to a message that
 * encodes to the same bytes (unknown fields are dropped by the first
 * decode, so the first encoding is the reference). Every decoded message
 * is released with pb_release, as the RPC server does.
 */
#ifndef TEST_FUZZ_ENVELOPE_ROUNDTRIP_H
#define TEST_FUZZ_ENVELOPE_ROUNDTRIP_H

#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "fuzz.h"

/* Larger than any message the decoders accept (4 MiB) is never needed:
 * the fuzzer's inputs are small. */
static void
envelope_roundtrip(const pb_msgdesc_t *fields, size_t msg_size,
    const uint8_t *data, size_t size)
{
	void        *a = calloc(1, msg_size);
	void        *b = calloc(1, msg_size);
	pb_istream_t is;
	pb_ostream_t os;
	size_t       n1 = 0, n2 = 0;
	uint8_t     *e1 = NULL, *e2 = NULL;

	FUZZ_CHECK(a != NULL && b != NULL);
	is = pb_istream_from_buffer(data, size);
	if (!pb_decode(&is, fields, a)) {
		/* pb_decode released what it had allocated. */
		free(a);
		free(b);
		return;
	}
	FUZZ_CHECK(pb_get_encoded_size(&n1, fields, a));
	e1 = malloc(n1 + 1);
	FUZZ_CHECK(e1 != NULL);
	os = pb_ostream_from_buffer(e1, n1);
	FUZZ_CHECK(pb_encode(&os, fields, a));
	FUZZ_CHECK(os.bytes_written == n1);

	is = pb_istream_from_buffer(e1, n1);
	FUZZ_CHECK(pb_decode(&is, fields, b));
	FUZZ_CHECK(pb_get_encoded_size(&n2, fields, b));
	FUZZ_CHECK(n2 == n1);
	e2 = malloc(n2 + 1);
	FUZZ_CHECK(e2 != NULL);
	os = pb_ostream_from_buffer(e2, n2);
	FUZZ_CHECK(pb_encode(&os, fields, b));
	FUZZ_CHECK(memcmp(e1, e2, n1) == 0);

	pb_release(fields, a);
	pb_release(fields, b);
	free(e1);
	free(e2);
	free(a);
	free(b);
}

#endif /* TEST_FUZZ_ENVELOPE_ROUNDTRIP_H */
