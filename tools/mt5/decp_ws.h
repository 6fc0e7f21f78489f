/*
 * decp_ws: the client side of RFC 6455 for decp.dll: the upgrade request and the check of
 * its response (§4.1, §4.2.2), and the frame codec (§5.2): server frames decoded (never
 * masked), client frames encoded (always masked). The EA's socket code moves the bytes.
 *
 * Refused server frames (decp_ws_frame_decode returns -EBADMSG; the connection must be
 * closed, §7.1.7): the mask bit set, RSV1..3 set (no extension is negotiated), an unknown
 * opcode, a control frame with FIN clear or a payload over 125, a 64-bit length with the
 * top bit set or a payload over DECP_WS_PAYLOAD_MAX, a non-minimal length encoding.
 *
 * Stateless, no allocation; any thread.
 */
#ifndef DECP_WS_H
#define DECP_WS_H

#include <stddef.h>
#include <stdint.h>

#define DECP_WS_KEY_LEN 24           /* base64 of 16 random bytes */
#define DECP_WS_ACCEPT_LEN 28        /* base64 of a SHA-1 */
#define DECP_WS_PAYLOAD_MAX (1u << 20)
#define DECP_WS_RESPONSE_MAX 8192u   /* a longer upgrade response header is refused */
#define DECP_WS_TEXT_MAX 256u        /* host, path, token */

struct decp_ws_frame {
	unsigned opcode;
	int fin;
	size_t payload_off, payload_len;
};

/*
 * Writes the upgrade request for ws://host:port/path with "Authorization: Bearer token"
 * and "Sec-WebSocket-Protocol: decp"; key (DECP_WS_KEY_LEN chars + NUL) is the caller's
 * fresh Sec-WebSocket-Key. host, path, token: printable ASCII without spaces, 1..
 * DECP_WS_TEXT_MAX; path starts with '/'; port 1..65535.
 * Returns the length, -EINVAL, -ENOBUFS.
 */
int decp_ws_make_request(const char *key, const char *host, int port, const char *path,
			 const char *token, uint8_t *out, size_t cap);

/* Fills key (DECP_WS_KEY_LEN + 1) with a fresh random Sec-WebSocket-Key. */
void decp_ws_new_key(char key[DECP_WS_KEY_LEN + 1]);

/*
 * Checks an upgrade response at the start of buf against key. Returns the header length
 * (through the blank line) for a "101" with Upgrade: websocket and the right
 * Sec-WebSocket-Accept; 0 when the header is incomplete and len < DECP_WS_RESPONSE_MAX;
 * -ECONNREFUSED otherwise (another status, a wrong accept, a header too long); -EINVAL.
 */
int decp_ws_check_response(const char *key, const uint8_t *buf, size_t len);

/* Decodes a server frame at the start of buf. Returns its total length with *f filled,
 * 0 when incomplete, -EBADMSG on a violation (above), -EINVAL on NULL. */
long decp_ws_frame_decode(const uint8_t *buf, size_t len, struct decp_ws_frame *f);

/* Encodes a masked client frame (FIN set) with mask. Returns its length, -EINVAL (bad
 * opcode, control payload > 125, NULL), -ENOBUFS. */
long decp_ws_frame_encode(unsigned opcode, const uint8_t *payload, size_t len,
			  const uint8_t mask[4], uint8_t *out, size_t cap);

#endif
