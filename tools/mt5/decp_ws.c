/* RFC 6455 client side for decp.dll; contract in decp_ws.h. */
#include "decp_ws.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "decp_crypto.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding (RFC 4648 §4); out holds 4 * ceil(n / 3) + 1 bytes. */
static void base64(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = '\0';
}

void decp_ws_new_key(char key[DECP_WS_KEY_LEN + 1])
{
	uint8_t r[16];

	decp_random(r, sizeof(r));
	base64(r, sizeof(r), key);
}

/* printable ASCII without spaces, 1..DECP_WS_TEXT_MAX */
static int token_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, DECP_WS_TEXT_MAX + 1);
	if (n == 0 || n > DECP_WS_TEXT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

int decp_ws_make_request(const char *key, const char *host, int port, const char *path,
			 const char *token, uint8_t *out, size_t cap)
{
	int n;

	if (key == NULL || strlen(key) != DECP_WS_KEY_LEN || !token_ok(host) || !token_ok(path) ||
	    path[0] != '/' || !token_ok(token) || port < 1 || port > 65535 || out == NULL)
		return -EINVAL;
	n = snprintf((char *)out, cap,
		     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
		     "Sec-WebSocket-Protocol: decp\r\nAuthorization: Bearer %s\r\n\r\n",
		     path, host, port, key, token);
	if (n < 0)
		return -EINVAL;
	return (size_t)n < cap ? n : -ENOBUFS;
}

/* Case-insensitive prefix match of an ASCII header name. */
static int name_is(const uint8_t *line, size_t n, const char *name)
{
	size_t k = strlen(name);

	if (n < k)
		return 0;
	for (size_t i = 0; i < k; i++) {
		uint8_t c = line[i];

		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c - 'A' + 'a');
		if (c != (uint8_t)name[i])
			return 0;
	}
	return 1;
}

/* Does the value (n bytes) contain word (lower case), case-insensitively? */
static int value_has(const uint8_t *v, size_t n, const char *word)
{
	size_t k = strlen(word);

	for (size_t i = 0; i + k <= n; i++)
		if (name_is(v + i, n - i, word))
			return 1;
	return 0;
}

int decp_ws_check_response(const char *key, const uint8_t *buf, size_t len)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char cat[DECP_WS_KEY_LEN + sizeof(guid)], want[DECP_WS_ACCEPT_LEN + 1];
	uint8_t sha[20];
	size_t hdr = 0, scan = len < DECP_WS_RESPONSE_MAX ? len : DECP_WS_RESPONSE_MAX;
	int upgrade = 0, accept = 0;

	if (key == NULL || strlen(key) != DECP_WS_KEY_LEN || (buf == NULL && len != 0))
		return -EINVAL;
	for (size_t i = 0; i + 4 <= scan; i++)
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			hdr = i + 4;
			break;
		}
	if (hdr == 0)
		return len < DECP_WS_RESPONSE_MAX ? 0 : -ECONNREFUSED;
	if (hdr < 13 || memcmp(buf, "HTTP/1.1 101", 12) != 0 || (buf[12] != ' ' && buf[12] != '\r'))
		return -ECONNREFUSED;
	memcpy(cat, key, DECP_WS_KEY_LEN);
	memcpy(cat + DECP_WS_KEY_LEN, guid, sizeof(guid) - 1);
	if (decp_sha1((const uint8_t *)cat, DECP_WS_KEY_LEN + sizeof(guid) - 1, sha) != 0)
		return -ECONNREFUSED;
	base64(sha, sizeof(sha), want);
	for (size_t p = 0; p < hdr - 2;) {
		const uint8_t *line = buf + p, *eol = memchr(line, '\n', hdr - p);
		size_t n = (size_t)(eol - line), vo;

		if (n > 0 && line[n - 1] == '\r')
			n--;
		p = (size_t)(eol - buf) + 1;
		if (name_is(line, n, "upgrade:")) {
			upgrade = value_has(line + 8, n - 8, "websocket");
		} else if (name_is(line, n, "sec-websocket-accept:")) {
			vo = 21;
			while (vo < n && (line[vo] == ' ' || line[vo] == '\t'))
				vo++;
			while (n > vo && (line[n - 1] == ' ' || line[n - 1] == '\t'))
				n--;
			accept = n - vo == DECP_WS_ACCEPT_LEN &&
				 memcmp(line + vo, want, DECP_WS_ACCEPT_LEN) == 0;
		}
	}
	return upgrade && accept ? (int)hdr : -ECONNREFUSED;
}

long decp_ws_frame_decode(const uint8_t *buf, size_t len, struct decp_ws_frame *f)
{
	uint64_t plen;
	size_t off = 2;
	unsigned op;

	if ((buf == NULL && len != 0) || f == NULL)
		return -EINVAL;
	if (len < 2)
		return 0;
	op = buf[0] & 0x0f;
	if ((buf[0] & 0x70) != 0 || (buf[1] & 0x80) != 0)
		return -EBADMSG; /* RSV bits, or a masked server frame (§5.1) */
	if (!(op <= 2 || (op >= 8 && op <= 10)))
		return -EBADMSG;
	plen = buf[1] & 0x7f;
	if (op >= 8 && ((buf[0] & 0x80) == 0 || plen > 125))
		return -EBADMSG; /* control frames: unfragmented, short (§5.5) */
	if (plen == 126) {
		if (len < 4)
			return 0;
		plen = (uint64_t)buf[2] << 8 | buf[3];
		if (plen < 126)
			return -EBADMSG; /* §5.2: the minimal number of bytes */
		off = 4;
	} else if (plen == 127) {
		if (len < 10)
			return 0;
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = plen << 8 | buf[2 + i];
		if (plen <= 0xffff || plen > DECP_WS_PAYLOAD_MAX)
			return -EBADMSG;
		off = 10;
	}
	if (plen > DECP_WS_PAYLOAD_MAX)
		return -EBADMSG;
	if (len - off < plen)
		return 0;
	f->opcode = op;
	f->fin = (buf[0] & 0x80) != 0;
	f->payload_off = off;
	f->payload_len = (size_t)plen;
	return (long)(off + plen);
}

long decp_ws_frame_encode(unsigned opcode, const uint8_t *payload, size_t len,
			  const uint8_t mask[4], uint8_t *out, size_t cap)
{
	size_t off = 2;

	if (!(opcode == 1 || opcode == 2 || (opcode >= 8 && opcode <= 10)) || mask == NULL ||
	    out == NULL || (payload == NULL && len != 0) || len > DECP_WS_PAYLOAD_MAX ||
	    (opcode >= 8 && len > 125))
		return -EINVAL;
	if (len >= 126)
		off = len <= 0xffff ? 4 : 10;
	if (cap < off + 4 || cap - off - 4 < len)
		return -ENOBUFS;
	out[0] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		out[1] = (uint8_t)(0x80 | len);
	} else if (len <= 0xffff) {
		out[1] = 0x80 | 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
	} else {
		out[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(out + off, mask, 4);
	for (size_t i = 0; i < len; i++)
		out[off + 4 + i] = payload[i] ^ mask[i & 3];
	return (long)(off + 4 + len);
}
