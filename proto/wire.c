/* wire.c: checks on an encoded message that decoding cannot make. */
#include "proto/wire.h"

#include <string.h>

#include <pb_common.h>
#include <pb_decode.h>

/* Our messages nest three deep; anything deeper is not one of ours. */
#define WIRE_MAX_DEPTH 8

static bool
find_nul(const pb_msgdesc_t *desc, void *msg, const uint8_t *buf, size_t len,
    int depth, uint32_t *tag_out)
{
	pb_istream_t is = pb_istream_from_buffer(buf, len);

	if (depth > WIRE_MAX_DEPTH) {
		return false;
	}
	while (is.bytes_left > 0) {
		pb_wire_type_t  wt;
		uint32_t        tag;
		uint32_t        n;
		bool            eof = false;
		const uint8_t  *at;
		pb_field_iter_t it;

		if (!pb_decode_tag(&is, &wt, &tag, &eof) || eof) {
			return false;
		}
		if (wt != PB_WT_STRING) {
			if (!pb_skip_field(&is, wt)) {
				return false;
			}
			continue;
		}
		if (!pb_decode_varint32(&is, &n) || n > is.bytes_left) {
			return false;
		}
		at = buf + (len - is.bytes_left);
		if (pb_field_iter_begin(&it, desc, msg)
		    && pb_field_iter_find(&it, tag)) {
			pb_type_t lt = PB_LTYPE(it.type);
			if (lt == PB_LTYPE_STRING && memchr(at, 0, n) != NULL) {
				*tag_out = tag;
				return true;
			}
			if (PB_LTYPE_IS_SUBMSG(lt)
			    && PB_ATYPE(it.type) == PB_ATYPE_STATIC
			    && PB_HTYPE(it.type) != PB_HTYPE_REPEATED
			    && find_nul(it.submsg_desc, it.pData, at, n,
			        depth + 1, tag_out)) {
				return true;
			}
		}
		/* Skip the n bytes just looked at. */
		if (!pb_read(&is, NULL, n)) {
			return false;
		}
	}
	return false;
}

bool
proto_wire_find_nul(const pb_msgdesc_t *desc, void *msg, const uint8_t *buf,
    size_t len, uint32_t *tag_out)
{
	*tag_out = 0;
	return find_nul(desc, msg, buf, len, 0, tag_out);
}
