/* cp_ws_check: strict RFC 6455 client-stream checker. Rules in cp_ws_check.h. */
#include "cp_ws_check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cp_ws_check_init(struct cp_ws_check *c, bool http_phase, uint64_t max_msg)
{
	memset(c, 0, sizeof(*c));
	c->max_msg = max_msg;
	c->phase = http_phase ? CP_WS_HTTP : CP_WS_FRAMES;
	if (http_phase) {
		c->http = malloc(CP_WS_CHECK_HTTP_MAX);
		if (c->http == NULL)
			return -ENOMEM;
	}
	return 0;
}

void cp_ws_check_fini(struct cp_ws_check *c)
{
	free(c->http);
	c->http = NULL;
}

/* ------------------------------------------------------------------ handshake -- */

static bool is_b64(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '+' || ch == '/';
}

/* Sec-WebSocket-Key: base64 of exactly 16 bytes = 22 symbols and "==". */
static bool key_ok(const char *v, size_t n)
{
	if (n != 24 || v[22] != '=' || v[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++)
		if (!is_b64(v[i]))
			return false;
	/* the last symbol carries 2 bits of data and 4 zero bits */
	return strchr("AQgw", v[21]) != NULL;
}

/* Does the comma-separated list v (n bytes) hold token tok (case-insensitive)? */
static bool has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i = 0;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
			return true;
	}
	return false;
}

struct hs_seen {
	bool upgrade, connection, version, host;
	int keys;
	bool key_valid;
};

static void hs_header(struct hs_seen *h, const char *name, size_t nl, const char *v, size_t vl)
{
#define IS(lit) (nl == sizeof(lit) - 1 && strncasecmp(name, lit, nl) == 0)
	if (IS("upgrade"))
		h->upgrade = h->upgrade || has_token(v, vl, "websocket");
	else if (IS("connection"))
		h->connection = h->connection || has_token(v, vl, "upgrade");
	else if (IS("sec-websocket-version"))
		h->version = vl == 2 && v[0] == '1' && v[1] == '3';
	else if (IS("host"))
		h->host = vl > 0;
	else if (IS("sec-websocket-key")) {
		h->keys++;
		h->key_valid = key_ok(v, vl);
	}
#undef IS
}

/* "GET <target> HTTP/1.x" with x >= 1 */
static bool request_line_ok(const char *l, size_t n)
{
	if (n < 14 || memcmp(l, "GET ", 4) != 0 || l[4] != '/')
		return false;
	const char *sp = memchr(l + 4, ' ', n - 4);
	if (sp == NULL)
		return false;
	size_t rest = n - (size_t)(sp + 1 - l);
	return rest == 8 && memcmp(sp + 1, "HTTP/1.", 7) == 0 && sp[8] >= '1' && sp[8] <= '9';
}

bool cp_ws_check_handshake(const char *req, size_t len)
{
	struct hs_seen h = {0};
	size_t i = 0;
	bool first = true;

	while (i < len) {
		const char *eol = memchr(req + i, '\n', len - i);
		size_t e = eol != NULL ? (size_t)(eol - req) : len;
		size_t ll = e - i;
		if (ll > 0 && req[i + ll - 1] == '\r')
			ll--;
		const char *l = req + i;
		i = e + 1;
		if (first) {
			if (!request_line_ok(l, ll))
				return false;
			first = false;
			continue;
		}
		if (ll == 0)
			break; /* end of headers */
		const char *colon = memchr(l, ':', ll);
		if (colon == NULL || colon == l || l[0] == ' ' || l[0] == '\t')
			return false; /* not a header (obsolete line folding is refused too) */
		size_t nl = (size_t)(colon - l), vs = nl + 1;
		while (vs < ll && (l[vs] == ' ' || l[vs] == '\t'))
			vs++;
		size_t ve = ll;
		while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
			ve--;
		hs_header(&h, l, nl, l + vs, ve - vs);
	}
	return !first && h.upgrade && h.connection && h.version && h.host && h.keys == 1 &&
	       h.key_valid;
}

/* Collect the request; on its blank line decide. Returns bytes consumed of p. */
static size_t feed_http(struct cp_ws_check *c, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (c->http_len == CP_WS_CHECK_HTTP_MAX) {
			c->verdict = CP_WS_VERDICT_HTTP_400;
			return i;
		}
		c->http[c->http_len++] = (char)p[i++];
		size_t l = c->http_len;
		if (l >= 4 && memcmp(c->http + l - 4, "\r\n\r\n", 4) == 0) {
			if (!cp_ws_check_handshake(c->http, l)) {
				c->verdict = CP_WS_VERDICT_HTTP_400;
				return i - 1;
			}
			cp_ws_check_fini(c);
			c->phase = CP_WS_FRAMES;
			return i;
		}
	}
	return i;
}

/* ------------------------------------------------------------------- frames -- */

/* Header length once its first two bytes are known. */
static unsigned int hdr_need(const uint8_t *h)
{
	unsigned int len7 = h[1] & 0x7f;
	return 2u + (len7 == 126 ? 2u : len7 == 127 ? 8u : 0u) + ((h[1] & 0x80) ? 4u : 0u);
}

/* A complete header in c->hdr: decide, and set payload_left. */
static int frame_header(struct cp_ws_check *c)
{
	const uint8_t *h = c->hdr;
	bool fin = (h[0] & 0x80) != 0, masked = (h[1] & 0x80) != 0;
	unsigned int op = h[0] & 0x0f, len7 = h[1] & 0x7f;
	uint64_t len = len7;

	if (len7 == 126) {
		len = ((uint64_t)h[2] << 8) | h[3];
	} else if (len7 == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = (len << 8) | h[2 + i];
		if (len >> 63)
			return CP_WS_VERDICT_PROTOCOL;
	}
	if ((h[0] & 0x70) != 0 || !masked)
		return CP_WS_VERDICT_PROTOCOL;
	if (op >= 8) { /* control */
		if (op > 10 || !fin || len > 125 || (op == 8 && len == 1))
			return CP_WS_VERDICT_PROTOCOL;
	} else if (op == 0) { /* continuation */
		if (!c->in_message)
			return CP_WS_VERDICT_PROTOCOL;
		if (len > c->max_msg - c->msg_len)
			return CP_WS_VERDICT_TOO_BIG;
		c->msg_len += len;
		c->in_message = !fin;
	} else if (op <= 2) { /* text, binary */
		if (c->in_message)
			return CP_WS_VERDICT_PROTOCOL;
		if (len > c->max_msg)
			return CP_WS_VERDICT_TOO_BIG;
		c->msg_len = len;
		c->in_message = !fin;
	} else {
		return CP_WS_VERDICT_PROTOCOL; /* reserved data opcode 3-7 */
	}
	c->payload_left = len;
	c->frames++;
	return CP_WS_VERDICT_OK;
}

/* Returns the bytes of p before the one that completed a violating frame header (all
 * of them when none); sets c->verdict on a violation. */
static size_t feed_frames(struct cp_ws_check *c, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (c->payload_left > 0) {
			uint64_t take = n - i < c->payload_left ? n - i : c->payload_left;
			c->payload_left -= take;
			i += (size_t)take;
			continue;
		}
		c->hdr[c->hdr_len++] = p[i++];
		if (c->hdr_len < 2 || c->hdr_len < hdr_need(c->hdr))
			continue;
		c->bad_hdr_len = c->hdr_len;
		c->hdr_len = 0;
		int v = frame_header(c);
		if (v != CP_WS_VERDICT_OK) {
			c->verdict = v;
			return i - 1;
		}
	}
	return i;
}

int cp_ws_check_feed(struct cp_ws_check *c, const uint8_t *p, size_t n, size_t *ok_len)
{
	size_t done = 0;

	if (c->verdict != CP_WS_VERDICT_OK) {
		if (ok_len != NULL)
			*ok_len = 0;
		return c->verdict;
	}
	if (c->phase == CP_WS_HTTP)
		done = feed_http(c, p, n);
	if (c->verdict == CP_WS_VERDICT_OK && c->phase == CP_WS_FRAMES)
		done += feed_frames(c, p + done, n - done);
	if (c->verdict != CP_WS_VERDICT_OK) {
		c->phase = CP_WS_FAILED;
		cp_ws_check_fini(c);
	}
	if (ok_len != NULL)
		*ok_len = done;
	return c->verdict;
}

bool cp_ws_close_code_valid(unsigned int code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}
