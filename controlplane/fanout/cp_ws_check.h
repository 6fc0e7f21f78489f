/*
 * cp_ws_check: a strict RFC 6455 checker for the bytes a WebSocket client sends to the
 * fan-out, run on the raw byte stream before libwebsockets parses it (docs/fanout.md
 * "Protocol checks"). lws 4.1.6 accepts unmasked client frames, drops an oversize control
 * frame without a close code and drops a handshake without Sec-WebSocket-Key without an
 * HTTP answer; this checker decides those cases itself.
 *
 *   bytes ──▶ HTTP phase: request line + headers up to CRLFCRLF (≤ CP_WS_CHECK_HTTP_MAX)
 *             GET, Upgrade: websocket, Connection: upgrade, Sec-WebSocket-Version: 13,
 *             Sec-WebSocket-Key = base64 of 16 bytes, one valid Host
 *             (cp_http_host_refusal)                          else → 400 (in deliver
 *             mode with a `request` sink: the head goes to it, the next head follows:
 *             the fan-out's HTTP polling, cp_fanout_poll.h)
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
 *
 * Deliver mode (cp_ws_check_deliver): the same checks, and what passes them handed to a
 * sink: the valid handshake request once, data-message payload unmasked as it arrives,
 * each control frame whole (at most 125 bytes, kept here). The fan-out reads its sockets
 * through lws's raw mode and decodes the WebSocket protocol with this, so nothing
 * unchecked ever reaches a parser. The server side's own pieces are here too: frame
 * headers (cp_ws_frame_header), the handshake answer's key (cp_ws_accept_key), header
 * and query values of the request (cp_ws_head_value, cp_ws_query_value).
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
	/* deliver mode: the frame being read */
	uint8_t mask[4];        /* its masking key */
	uint8_t opcode;         /* its opcode */
	bool fin;               /* its FIN bit */
	bool msg_text;          /* the open data message is text */
	bool msg_first;         /* nothing of the open data message delivered yet */
	uint64_t pos;           /* payload bytes of it read so far (mask offset) */
	uint8_t ctl_len;        /* control payload gathered in ctl */
	uint8_t ctl[125];
};

/* What deliver mode hands on; each callback returns 0 to go on, or a negative value that
 * stops the feed and is returned by cp_ws_check_deliver. */
struct cp_ws_sink {
	/* the complete valid handshake request (len bytes, up to its blank line) */
	int (*head)(void *arg, const char *req, size_t len);
	/* a complete request head that is not a valid handshake (len bytes, up to its blank
	 * line), when set: handed over instead of the 400 verdict (the fan-out's HTTP polling,
	 * cp_poll_req.h); the checker then stays in the HTTP phase and collects the
	 * connection's next request head. NULL: such a head is the 400 verdict. */
	int (*request)(void *arg, const char *req, size_t len);
	/* payload bytes of a data message, unmasked (n may be 0 for an empty frame): first
	 * = the message's first bytes, text = a text message, fin = the message ends here */
	int (*data)(void *arg, const uint8_t *p, size_t n, bool first, bool text, bool fin);
	/* a complete control frame: opcode 8 (close), 9 (ping), 10 (pong), payload unmasked */
	int (*control)(void *arg, unsigned int opcode, const uint8_t *p, size_t n);
	void *arg;
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
 * Feed the next n bytes as cp_ws_check_feed and hand what passes the checks to sink k.
 * Returns CP_WS_VERDICT_OK, a verdict (sticky, as cp_ws_check_feed), or the negative
 * value a callback returned (the rest of p is not read; the caller closes).
 */
int cp_ws_check_deliver(struct cp_ws_check *c, const uint8_t *p, size_t n,
			const struct cp_ws_sink *k);

/* The header of an unmasked server frame (FIN set) of opcode and payload length len into
 * out (at least 10 bytes). Returns its length: 2, 4 or 10. */
size_t cp_ws_frame_header(uint8_t *out, unsigned int opcode, uint64_t len);

/* Sec-WebSocket-Accept for the request's Sec-WebSocket-Key (RFC 6455 §4.2.2: base64 of
 * SHA-1 of the key and the protocol's GUID) into out (29 bytes with the NUL). */
void cp_ws_accept_key(const char *key, size_t key_len, char out[29]);

/*
 * The value of header `name` (case-insensitive; the first such header) in request req,
 * blanks trimmed, into out (cap bytes, NUL-terminated). Returns its length, or -1 when
 * absent or longer than cap - 1.
 */
int cp_ws_head_value(const char *req, size_t len, const char *name, char *out, size_t cap);

/*
 * Does request req offer subprotocol proto in a Sec-WebSocket-Protocol header (any of
 * them: the header may repeat; each a comma-separated list)? Compared exactly: the answer's
 * header must name one of the client's values as sent (RFC 6455 §4.2.2), and clients (npm
 * `ws`, browsers) fail a handshake in which they offered subprotocols and got none. Pure.
 */
bool cp_ws_offers_protocol(const char *req, size_t len, const char *proto);

/*
 * The value of query argument `name` (e.g. "token") of the request line's target,
 * percent-decoded, into out (cap bytes, NUL-terminated). Returns its length, or -1 when
 * absent, badly encoded or longer than cap - 1.
 */
int cp_ws_query_value(const char *req, size_t len, const char *name, char *out, size_t cap);

/*
 * Check one complete HTTP upgrade request (text up to and including the blank line, or
 * without it). Returns true when it is a valid RFC 6455 opening handshake. Pure.
 */
bool cp_ws_check_handshake(const char *req, size_t len);

/*
 * Is p[0..n) well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF)? A text message and a close frame's reason must be (RFC 6455 §5.6, §8.1):
 * the fan-out closes with 1007 otherwise. Pure.
 */
bool cp_ws_utf8_valid(const uint8_t *p, size_t n);

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
