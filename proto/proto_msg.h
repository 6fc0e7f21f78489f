/*
 * proto_msg: decoding and framing of decp's four top-level messages
 * (decp.proto): MasterFrame (master -> ingest), IngestFrame (ingest -> master),
 * ClientMessage (subscriber -> fanout), ServerMessage (fanout -> subscriber).
 *
 * A decode succeeds only if the bytes are a valid protobuf encoding of the
 * wrapper AND exactly one member of its oneof is set (the last one on the wire
 * wins, as protobuf specifies); anything else is "malformed" and returns NULL.
 * Inner semantic checks (e.g. a Signal body) are the callers' (proto_signal.h).
 *
 * Allocation: alloc == NULL uses protobuf-c's default (malloc); free the result
 * with proto_msg_free(). Pass an arena allocator (proto_arena.h) on the hot
 * path: then nothing is malloc'd and the result lives until the arena reset.
 *
 * Threading: stateless; any thread.
 */
#ifndef DECP_PROTO_MSG_H
#define DECP_PROTO_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

#include "decp.pb-c.h"
#include "proto_wire.h" /* PROTO_PROTOCOL_VERSION */


/* Return the decoded message or NULL (malformed, no oneof member set, or out of memory). */
Decp__MasterFrame *proto_master_frame_decode(const uint8_t *p, size_t len,
					     ProtobufCAllocator *alloc);
Decp__IngestFrame *proto_ingest_frame_decode(const uint8_t *p, size_t len,
					     ProtobufCAllocator *alloc);
Decp__ClientMessage *proto_client_message_decode(const uint8_t *p, size_t len,
						 ProtobufCAllocator *alloc);
Decp__ServerMessage *proto_server_message_decode(const uint8_t *p, size_t len,
						 ProtobufCAllocator *alloc);

/* Free a message from any proto_*_decode with the same allocator. NULL is a no-op. */
void proto_msg_free(ProtobufCMessage *m, ProtobufCAllocator *alloc);

/*
 * Serialise msg into out as a complete frame (4-byte big-endian length + payload).
 * Never allocates. Returns the frame length (payload + 4), or
 *  -EMSGSIZE  the payload is empty or longer than max_payload
 *  -ENOBUFS   out_cap is too small
 *  -EINVAL    NULL argument
 */
ssize_t proto_msg_frame_pack(const ProtobufCMessage *msg, size_t max_payload,
			     uint8_t *out, size_t out_cap);

#endif
