/*
 * cp_ws_check: a strict RFC 6455 checker for the bytes a WebSocket client sends to the
 * fan-out, run on the raw byte stream before libwebsockets parses it (docs/fanout.md
 * "Protocol checks"). lws 4.1.6 accepts unmasked client frames, drops an oversize control
 * frame without a close code and drops a handshake without Sec-WebSocket-Key without an
 * HTTP answer; this checker decides those cases itself.
 *
 *   bytes ──▶ HTTP phase: request line + headers up to CRLFCRLF (≤ CP_WS_CHECK_HTTP_MAX)
 *             GET, Upgrade: websocket, Connection: upgrade, Sec-WebSocket-Version: 13,
 *             Sec-WebSocket-Key = base64 of 16 bytes          else → 400
 *         ──▶ frame phase: per frame header (2..14 bytes), then payload bytes are counted,
 *             never buffered
 *               RSV1-3 set, reserved opcode (3-7, 11-15), unmasked frame,
 *               control frame with FIN = 0 or length > 125, continuation outside a
 *               fragmented message, data frame inside one, 64-bit length with the top
 *               bit set, close payload of 1 byte               → 1002
 *               data frame or message longer than max_msg (decided from the header,
 *               before any payload arrives)                   → 1009
 *
 * State is a few words per connection (plus a header buffer only during the handshake).
 * Pure logic: no I/O, no locks; one checker per connection, used by one thread.
 * Return convention: see each function.
 */
#ifndef DECP_CP_WS_CHECK_H
#define DECP_CP_WS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CP_WS_CHECK_HTTP_MAX 4096u /* longest handshake request accepted */

/* Verdicts (also the answer to send): 0 fine so far. */
#define CP_WS_VERDICT_OK 0
#define CP_WS_VERDICT_HTTP_400 400    /* bad handshake: answer HTTP 400 and close */
#define CP_WS_VERDICT_PROTOCOL 1002   /* close 1002 (protocol error) */
#define CP_WS_VERDICT_TOO_BIG 1009    /* close 1009 (message too big) */

enum cp_ws_phase { CP_WS_HTTP, CP_WS_FRAMES, CP_WS_FAILED };

struct cp_ws_check {
	enum cp_ws_phase phase;
	int verdict;            /* sticky once non-zero */
	uint64_t max_msg;       /* largest data message accepted (bytes) */
	/* HTTP phase */
	char *http;             /* CP_WS_CHECK_HTTP_MAX bytes, freed when the phase ends */
	size_t http_len;
	/* frame phase */
	uint8_t hdr[14];        /* the frame header being read */
	uint8_t hdr_len;        /* bytes of it seen: an incomplete header ends the stream fed
				 * so far (callers may hold these bytes back) */
	uint8_t bad_hdr_len;    /* after a frame verdict: length of the offending header */
	uint64_t payload_left;  /* payload bytes of the current frame still to come */
	bool in_message;        /* a fragmented data message is open (FIN 0 seen) */
	uint64_t msg_len;       /* bytes of the open data message so far (announced) */
	uint64_t frames;        /* complete frame headers checked (statistics, tests) */
};

/*
 * Start a checker. http_phase: true = the stream begins with the HTTP upgrade request;
 * false = it begins with frames (the handshake was checked elsewhere). max_msg: largest
 * data message (1009 above it). Returns 0 or -ENOMEM (HTTP buffer).
 */
int cp_ws_check_init(struct cp_ws_check *c, bool http_phase, uint64_t max_msg);

/* Free what the checker holds. Idempotent. */
void cp_ws_check_fini(struct cp_ws_check *c);

/*
 * Feed the next n bytes of the client's stream. *ok_len (may be NULL) receives how many
 * of them precede the byte at which the violation became certain (the last byte of the
 * offending frame header; n when there is none), so the position does not depend on how
 * the stream was split into reads. Returns CP_WS_VERDICT_OK or a verdict; once a verdict
 * is returned every later call returns it again with *ok_len = 0.
 */
int cp_ws_check_feed(struct cp_ws_check *c, const uint8_t *p, size_t n, size_t *ok_len);

/*
 * Check one complete HTTP upgrade request (text up to and including the blank line, or
 * without it). Returns true when it is a valid RFC 6455 opening handshake. Pure.
 */
bool cp_ws_check_handshake(const char *req, size_t len);

/*
 * May a peer send this status code in a close frame (RFC 6455 §7.4)? Yes for 1000-1003
 * and 1007-1011 (§7.4.1), 1012-1014 (registered since in the IANA registry, §11.7) and
 * 3000-4999 (libraries, applications: §7.4.2). No for anything below 1000, 1004 (reserved),
 * 1005 and 1006 (must never be on the wire: they stand for "none" and "abnormal"), 1015
 * (TLS failure, not sent either), 1016-2999 (reserved) and 5000 and above. A close frame
 * without a code (an empty payload) is valid and is not asked about here. The fan-out
 * answers an invalid one with close 1002.
 */
bool cp_ws_close_code_valid(unsigned int code);

#endif
