/*
 * wire.h: checks on an encoded message that decoding cannot make.
 *
 * nanopb decodes a string into a NUL-terminated C string, so a NUL byte
 * inside a protobuf string silently cuts it short: "ab\0cd" arrives as "ab".
 * PostgreSQL text cannot hold a NUL either, so the only right answer is to
 * refuse such a request; proto_wire_find_nul finds one.
 */
#ifndef PROTO_WIRE_H
#define PROTO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pb.h>

/*
 * proto_wire_find_nul reports whether a string field of the encoded message
 * buf (len bytes, of type desc) holds a NUL byte, looking into nested
 * messages held in the struct (not into pointer-allocated ones). msg is the
 * message as pb_decode decoded it from buf: the field iterator needs its
 * memory. When it finds one, *tag_out is the field's tag (the innermost).
 */
bool proto_wire_find_nul(const pb_msgdesc_t *desc, void *msg,
    const uint8_t *buf, size_t len, uint32_t *tag_out);

#endif /* PROTO_WIRE_H */
