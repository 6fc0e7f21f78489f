/* Top-level message decode and framing; contract in proto_msg.h. */
#include "proto_msg.h"

#include <errno.h>

#include "proto_frame.h"

/*
 * protobuf-c accepts an encoding with no oneof member (an empty message is
 * valid protobuf). decp never sends one, so it is malformed here.
 */
#define DECODE_WRAPPER(fn, type, unpack, free_unpacked, none)                     \
	type *fn(const uint8_t *p, size_t len, ProtobufCAllocator *alloc)             \
	{                                                                             \
		type *m;                                                              \
		if (p == NULL && len > 0)                                             \
			return NULL;                                                  \
		m = unpack(alloc, len, p);                                            \
		if (m != NULL && m->kind_case == (none)) {                            \
			free_unpacked(m, alloc);                                      \
			m = NULL;                                                     \
		}                                                                     \
		return m;                                                             \
	}

DECODE_WRAPPER(proto_master_frame_decode, Decp__MasterFrame, decp__master_frame__unpack,
	       decp__master_frame__free_unpacked, DECP__MASTER_FRAME__KIND__NOT_SET)
DECODE_WRAPPER(proto_ingest_frame_decode, Decp__IngestFrame, decp__ingest_frame__unpack,
	       decp__ingest_frame__free_unpacked, DECP__INGEST_FRAME__KIND__NOT_SET)
DECODE_WRAPPER(proto_client_message_decode, Decp__ClientMessage, decp__client_message__unpack,
	       decp__client_message__free_unpacked, DECP__CLIENT_MESSAGE__KIND__NOT_SET)
DECODE_WRAPPER(proto_server_message_decode, Decp__ServerMessage, decp__server_message__unpack,
	       decp__server_message__free_unpacked, DECP__SERVER_MESSAGE__KIND__NOT_SET)

void proto_msg_free(ProtobufCMessage *m, ProtobufCAllocator *alloc)
{
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, alloc);
}

ssize_t proto_msg_frame_pack(const ProtobufCMessage *msg, size_t max_payload,
			     uint8_t *out, size_t out_cap)
{
	size_t len;

	if (msg == NULL || out == NULL)
		return -EINVAL;
	len = protobuf_c_message_get_packed_size(msg);
	if (len == 0 || len > max_payload || len > PROTO_FRAME_MAX_LIMIT)
		return -EMSGSIZE;
	if (out_cap < PROTO_FRAME_HDR_LEN || out_cap - PROTO_FRAME_HDR_LEN < len)
		return -ENOBUFS;
	proto_frame_header_write(out, len);
	if (protobuf_c_message_pack(msg, out + PROTO_FRAME_HDR_LEN) != len)
		return -EMSGSIZE; /* cannot happen: pack writes get_packed_size bytes */
	return (ssize_t)(len + PROTO_FRAME_HDR_LEN);
}
