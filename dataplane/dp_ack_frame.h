/*
 * dp_ack_frame: the Ack frame (IngestFrame{ack: Ack{sequence, server_arrival_ns, status}})
 * written with a fixed layout instead of protobuf-c's generic packer, because one goes out
 * per durable signal (perf: protobuf_c_message_get_packed_size + pack were ~5 % of the DPDK
 * worker's time). The bytes are exactly protobuf-c's (proto3: a zero field is omitted; the
 * oneof member is written even when empty), proven for many values against
 * proto_msg_frame_pack by tests/dataplane/test_dp_ack_frame.c.
 *
 *   BE32 len | 0x12 L | [0x08 varint seq] [0x10 varint arrival] [0x18 varint status]
 *
 * int64/enum values are varints of their 64-bit two's complement (negative -> 10 bytes), as
 * protobuf encodes int64 and enum fields. Thread-free, no allocation.
 */
#ifndef DECP_DP_ACK_FRAME_H
#define DECP_DP_ACK_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* 4 (frame header) + 2 (field 2 tag, length) + 3 x (1 tag + 10 varint bytes). */
#define DP_ACK_FRAME_MAX 39u

static inline size_t dp_ack_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Write the whole frame (header included) to out; returns its length (<= DP_ACK_FRAME_MAX). */
static inline size_t dp_ack_frame_encode(uint8_t out[DP_ACK_FRAME_MAX], uint64_t seq,
					 int64_t arrival_ns, int32_t status)
{
	uint8_t *b = out + 6; /* Ack body after header (4) and field-2 tag + length (2) */
	size_t n = 0;
	if (seq != 0) {
		b[n++] = 0x08;
		n += dp_ack_varint(b + n, seq);
	}
	if (arrival_ns != 0) {
		b[n++] = 0x10;
		n += dp_ack_varint(b + n, (uint64_t)arrival_ns);
	}
	if (status != 0) {
		b[n++] = 0x18;
		n += dp_ack_varint(b + n, (uint64_t)(int64_t)status);
	}
	size_t payload = 2 + n; /* n <= 33: the Ack's length is one varint byte */
	out[0] = 0;
	out[1] = 0;
	out[2] = (uint8_t)(payload >> 8);
	out[3] = (uint8_t)payload;
	out[4] = 0x12;
	out[5] = (uint8_t)n;
	return 4 + payload;
}

#endif
