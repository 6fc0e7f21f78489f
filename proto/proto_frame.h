/*
 * proto_frame: length-prefixed framing of the decp TCP channel (SPEC.md §3).
 *
 *   +--------+--------+--------+--------+-------------------------+
 *   | payload length, 32-bit big-endian |  payload (one protobuf)  |
 *   +--------+--------+--------+--------+-------------------------+
 *
 * Accepted lengths are 1..max_payload (default PROTO_FRAME_MAX_DEFAULT = 4096).
 * A zero length is an ERROR, not an empty message: every decp frame is a
 * MasterFrame/IngestFrame whose oneof must be set, so its encoding is never
 * empty, and refusing it at the framing layer keeps the protocol fail-closed.
 * A length over max_payload is an error as soon as the 4 header bytes have
 * arrived (no payload byte is read or buffered). There is no resynchronisation:
 * after an error the stream position is unknown, so the decoder stays in the
 * error state and the session must be closed (SPEC.md §3 "fail-closed").
 *
 * Decoder model: the caller feeds the bytes of a stream in whatever pieces
 * they arrive (TCP segments, read() results, single bytes) and gets complete
 * frames back, one per call. It never allocates: the caller gives it one
 * buffer of at least max_payload bytes at init, used only for a frame split
 * across feeds. A frame lying whole inside the current input is returned
 * in place (zero copy) instead.
 *
 *   struct proto_frame_decoder d;
 *   proto_frame_decoder_init(&d, buf, sizeof buf, PROTO_FRAME_MAX_DEFAULT);
 *   while (len > 0) {                       // for every received piece
 *       struct proto_frame f;
 *       ssize_t n = proto_frame_decoder_feed(&d, p, len, &f);
 *       if (n < 0) { count(n); close_session(); break; }
 *       p += n; len -= n;
 *       if (f.data != NULL) handle(f.data, f.len);   // valid until next feed
 *   }
 *
 * Threading: a decoder belongs to one session and is used by one thread at a
 * time. No function here allocates, locks or makes a syscall (hot path safe).
 */
#ifndef DECP_PROTO_FRAME_H
#define DECP_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROTO_FRAME_HDR_LEN 4u
#define PROTO_FRAME_MAX_DEFAULT 4096u
/* Hard upper bound for max_payload: keeps every length arithmetic far from overflow. */
#define PROTO_FRAME_MAX_LIMIT (16u * 1024u * 1024u)

/* One complete frame payload. data == NULL means "no frame completed". */
struct proto_frame {
	const uint8_t *data;
	size_t len;
};

/* Inline so sessions can embed it (no allocation); fields are private. */
struct proto_frame_decoder {
	uint8_t *buf;        /* caller's buffer, >= max_payload bytes */
	size_t cap;
	size_t max_payload;
	size_t have;         /* payload bytes buffered in buf */
	size_t need;         /* payload length of the frame being assembled */
	uint8_t hdr[PROTO_FRAME_HDR_LEN];
	uint8_t hdr_have;    /* header bytes seen of the current frame (0..4) */
	int err;             /* 0, or the sticky negative errno */
	uint64_t frames;     /* frames delivered so far */
};

/*
 * Prepare a decoder. buf (cap bytes, cap >= max_payload) is owned by the caller
 * and must outlive the decoder; the decoder writes only inside it.
 * max_payload: 1..PROTO_FRAME_MAX_LIMIT (0 selects PROTO_FRAME_MAX_DEFAULT).
 * Returns 0, or -EINVAL (NULL d/buf, max_payload out of range, cap < max_payload).
 */
int proto_frame_decoder_init(struct proto_frame_decoder *d, uint8_t *buf,
			     size_t cap, size_t max_payload);

/* Forget any partial frame and a sticky error (for reuse on a new connection). */
void proto_frame_decoder_reset(struct proto_frame_decoder *d);

/*
 * Consume bytes of `in` until one frame completes or `in` is exhausted.
 *
 * Returns the number of bytes of `in` consumed (0..in_len) and sets *out:
 *  - out->data != NULL: one complete frame of out->len (1..max_payload)
 *    bytes. It points into `in` (when the whole frame was inside this input
 *    and nothing was buffered) or into the decoder's buffer; either way it
 *    is valid until the next feed/reset on this decoder and as long as `in`
 *    is. Call again with the remaining input (in + ret, in_len - ret): more
 *    frames may follow in the same input.
 *  - out->data == NULL: everything was consumed (ret == in_len) and buffered;
 *    no frame is complete yet.
 * Errors (the decoder then stays in error; every later call returns the same
 * value until proto_frame_decoder_reset):
 *  -EMSGSIZE  the frame's length is 0 or greater than max_payload
 *  -EINVAL    d or out is NULL, or in is NULL with in_len > 0
 * On error *out is {NULL, 0}. in_len == 0 is allowed and returns 0.
 */
ssize_t proto_frame_decoder_feed(struct proto_frame_decoder *d,
				 const uint8_t *in, size_t in_len,
				 struct proto_frame *out);

/* Bytes of an incomplete frame held right now (header + payload), for idle/limit checks. */
size_t proto_frame_decoder_pending(const struct proto_frame_decoder *d);

/* The sticky error (negative errno) or 0. */
int proto_frame_decoder_error(const struct proto_frame_decoder *d);

/*
 * Write the 4-byte big-endian header for a payload of len bytes.
 * Returns 0, or -EMSGSIZE when len is 0 or > PROTO_FRAME_MAX_LIMIT.
 */
int proto_frame_header_write(uint8_t hdr[PROTO_FRAME_HDR_LEN], size_t len);

/*
 * Encode header + payload into out (out_cap bytes). payload may not overlap out.
 * Returns the total frame length (len + 4), or
 *  -EMSGSIZE  len is 0 or > PROTO_FRAME_MAX_LIMIT
 *  -ENOBUFS   out_cap < len + 4
 *  -EINVAL    NULL pointer
 */
ssize_t proto_frame_encode(uint8_t *out, size_t out_cap,
			   const uint8_t *payload, size_t len);

#endif
