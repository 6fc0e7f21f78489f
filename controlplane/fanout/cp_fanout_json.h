/*
 * cp_fanout_json: the `?format=json` debug mode of the fan-out (docs/fanout.md): the same
 * ClientMessage / ServerMessage as binary protobuf, as JSON text frames. Generic over
 * protobuf-c descriptors, following the proto3 JSON mapping where it matters: field names
 * as in decp.proto, 64-bit integers as decimal strings (JSON numbers lose precision above
 * 2^53), bytes as base64, enums by value name, default (zero) fields and unset oneof
 * members omitted. Accepted on input: numbers or strings for integers, names or numbers
 * for enums. Repeated fields are not used by these messages and are refused.
 *
 * Costs an unpack + a JSON encoding per message and connection: for debugging only; the
 * binary default shares one encoding among all subscribers.
 * Pure functions, any thread.
 */
#ifndef DECP_CP_FANOUT_JSON_H
#define DECP_CP_FANOUT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/*
 * JSON text of a serialised message of type d (bytes p, len), written after `pre` bytes of
 * headroom in a new malloc'ed buffer (caller frees); *out_len = text length (no NUL
 * counted). Returns the buffer, or NULL (undecodable input, ENOMEM).
 */
uint8_t *cp_fjson_from_pb(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
			  size_t pre, size_t *out_len);

/*
 * Serialised message of type d from JSON text (len bytes, need not be NUL-terminated)
 * into out (cap bytes). Returns the serialised length, -EINVAL (not JSON, unknown field,
 * wrong type, a repeated field of scalars), -EMSGSIZE (larger than cap), -ENOMEM.
 */
int cp_fjson_to_pb(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
		   uint8_t *out, size_t cap);

#endif
