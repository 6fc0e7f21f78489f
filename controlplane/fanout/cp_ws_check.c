/* cp_ws_check: strict RFC 6455 client-stream checker. Rules in cp_ws_check.h. */
#include "cp_ws_check.h"

#include "cp_http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

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

struct hs_seen {
	bool upgrade, connection, version;
	int keys, auths;
	bool key_valid;
};

static void hs_header(struct hs_seen *h, const struct cp_http_field *f)
{
	const char *v = f->value;
	size_t vl = f->value_len;

	if (cp_http_field_is(f, "upgrade"))
		h->upgrade = h->upgrade || cp_http_list_has(v, vl, "websocket");
	else if (cp_http_field_is(f, "connection"))
		h->connection = h->connection || cp_http_list_has(v, vl, "upgrade");
	else if (cp_http_field_is(f, "sec-websocket-version"))
		h->version = vl == 2 && v[0] == '1' && v[1] == '3';
	else if (cp_http_field_is(f, "sec-websocket-key")) {
		h->keys++;
		h->key_valid = key_ok(v, vl);
	} else if (cp_http_field_is(f, "authorization"))
		h->auths++;
}

/* "GET <target> HTTP/1.x" with x >= 1 */
static bool request_line_ok(const struct cp_http_line *l)
{
	return l->method_len == 3 && memcmp(l->method, "GET", 3) == 0 && l->target_len > 0 &&
	       l->target[0] == '/' && l->version_len == 8 &&
	       memcmp(l->version, "HTTP/1.", 7) == 0 && l->version[7] >= '1' && l->version[7] <= '9';
}

bool cp_ws_check_handshake(const char *req, size_t len)
{
	struct hs_seen h = {0};
	struct cp_http_line l;
	struct cp_http_fields it;
	struct cp_http_field f;
	const char *why;
	int r;

	if (!cp_http_line(req, len, &l) || !request_line_ok(&l))
		return false;
	cp_http_fields_init(&it, req, len);
	while ((r = cp_http_field_next(&it, &f, &why)) > 0)
		hs_header(&h, &f);
	/* a malformed header line (obsolete folding too): not a handshake; nor is one without
	 * exactly one valid Host (RFC 9112 §3.2: two were taken, the last one winning), nor
	 * one with two Authorization headers (the first was taken: which one a proxy added
	 * and which the client sent is not ours to guess; the api answers 400 too) */
	return r == 0 && h.upgrade && h.connection && h.version && h.keys == 1 &&
	       h.key_valid && h.auths <= 1 && cp_http_host_refusal(req, len, true) == NULL;
}

/* Collect the request; on its blank line decide (and hand it to k's head). Returns bytes
 * consumed of p; *stop receives a callback's negative return. */
static size_t feed_http(struct cp_ws_check *c, const uint8_t *p, size_t n,
			const struct cp_ws_sink *k, int *stop)
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
				if (k == NULL || k->request == NULL) {
					c->verdict = CP_WS_VERDICT_HTTP_400;
					return i - 1;
				}
				c->http_len = 0; /* the next request's head starts here */
				if ((*stop = k->request(k->arg, c->http, l)) < 0)
					return i;
				continue;
			}
			if (k != NULL && k->head != NULL && (*stop = k->head(k->arg, c->http, l)) < 0)
				return i;
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
	c->opcode = (uint8_t)op;
	c->fin = fin;
	c->pos = 0;
	c->ctl_len = 0;
	memcpy(c->mask, h + hdr_need(h) - 4, 4);
	if (op == 1 || op == 2) {
		c->msg_text = op == 1;
		c->msg_first = true;
	}
	return CP_WS_VERDICT_OK;
}

/* Deliver payload p[0..n) of the current frame (n may be 0), unmasked; `end`: the frame's
 * payload is complete with these bytes. Returns 0 or a callback's negative value. */
static int deliver(struct cp_ws_check *c, const uint8_t *p, size_t n, bool end,
		   const struct cp_ws_sink *k)
{
	uint8_t buf[512];

	if (c->opcode >= 8) {
		for (size_t i = 0; i < n; i++)
			c->ctl[c->ctl_len++] = p[i] ^ c->mask[(c->pos + i) & 3];
		c->pos += n;
		return end && k->control != NULL ? k->control(k->arg, c->opcode, c->ctl, c->ctl_len)
						 : 0;
	}
	do {
		size_t take = n < sizeof(buf) ? n : sizeof(buf);
		bool last = end && take == n;
		int rc;

		for (size_t i = 0; i < take; i++)
			buf[i] = p[i] ^ c->mask[(c->pos + i) & 3];
		c->pos += take;
		p += take;
		n -= take;
		if ((take > 0 || last || c->msg_first) && k->data != NULL &&
		    (rc = k->data(k->arg, buf, take, c->msg_first, c->msg_text, last && c->fin)) < 0)
			return rc;
		c->msg_first = false;
	} while (n > 0);
	return 0;
}

/* Returns the bytes of p before the one that completed a violating frame header (all
 * of them when none); sets c->verdict on a violation. With a sink k, hands the payloads
 * on (a callback's negative return goes to *stop and ends the feed). */
static size_t feed_frames(struct cp_ws_check *c, const uint8_t *p, size_t n,
			  const struct cp_ws_sink *k, int *stop)
{
	size_t i = 0;

	while (i < n) {
		if (c->payload_left > 0) {
			uint64_t take = n - i < c->payload_left ? n - i : c->payload_left;
			c->payload_left -= take;
			if (k != NULL &&
			    (*stop = deliver(c, p + i, (size_t)take, c->payload_left == 0, k)) < 0)
				return i + (size_t)take;
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
		if (k != NULL && c->payload_left == 0 && (*stop = deliver(c, p, 0, true, k)) < 0)
			return i;
	}
	return i;
}

static int feed(struct cp_ws_check *c, const uint8_t *p, size_t n, size_t *ok_len,
		const struct cp_ws_sink *k)
{
	size_t done = 0;
	int stop = 0;

	if (c->verdict != CP_WS_VERDICT_OK) {
		if (ok_len != NULL)
			*ok_len = 0;
		return c->verdict;
	}
	if (c->phase == CP_WS_HTTP)
		done = feed_http(c, p, n, k, &stop);
	if (stop == 0 && c->verdict == CP_WS_VERDICT_OK && c->phase == CP_WS_FRAMES)
		done += feed_frames(c, p + done, n - done, k, &stop);
	if (c->verdict != CP_WS_VERDICT_OK) {
		c->phase = CP_WS_FAILED;
		cp_ws_check_fini(c);
	}
	if (ok_len != NULL)
		*ok_len = done;
	return stop < 0 ? stop : c->verdict;
}

int cp_ws_check_feed(struct cp_ws_check *c, const uint8_t *p, size_t n, size_t *ok_len)
{
	return feed(c, p, n, ok_len, NULL);
}

int cp_ws_check_deliver(struct cp_ws_check *c, const uint8_t *p, size_t n,
			const struct cp_ws_sink *k)
{
	return feed(c, p, n, NULL, k);
}

size_t cp_ws_frame_header(uint8_t *out, unsigned int opcode, uint64_t len)
{
	out[0] = (uint8_t)(0x80u | (opcode & 0x0fu));
	if (len < 126) {
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

void cp_ws_accept_key(const char *key, size_t key_len, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char buf[64 + sizeof(guid)], d[SHA_DIGEST_LENGTH];
	size_t n = key_len < 64 ? key_len : 64;

	memcpy(buf, key, n);
	memcpy(buf + n, guid, sizeof(guid) - 1);
	SHA1(buf, n + sizeof(guid) - 1, d);
	EVP_EncodeBlock((unsigned char *)out, d, sizeof(d));
}

int cp_ws_head_value(const char *req, size_t len, const char *name, char *out, size_t cap)
{
	struct cp_http_fields it;
	struct cp_http_field f;
	const char *why;

	cp_http_fields_init(&it, req, len);
	while (cp_http_field_next(&it, &f, &why) > 0) {
		if (!cp_http_field_is(&f, name))
			continue;
		if (f.value_len >= cap)
			return -1;
		memcpy(out, f.value, f.value_len);
		out[f.value_len] = '\0';
		return (int)f.value_len;
	}
	return -1;
}

bool cp_ws_offers_protocol(const char *req, size_t len, const char *proto)
{
	struct cp_http_fields it;
	struct cp_http_field f;
	const char *why;

	cp_http_fields_init(&it, req, len);
	while (cp_http_field_next(&it, &f, &why) > 0)
		if (cp_http_field_is(&f, "sec-websocket-protocol") &&
		    cp_http_list_has_exact(f.value, f.value_len, proto))
			return true;
	return false;
}

static int hexval(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
	       : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

int cp_ws_query_value(const char *req, size_t len, const char *name, char *out, size_t cap)
{
	const char *sp = memchr(req, ' ', len), *end, *q;
	size_t nl = strlen(name);

	if (sp == NULL || (end = memchr(sp + 1, ' ', len - (size_t)(sp + 1 - req))) == NULL ||
	    (q = memchr(sp + 1, '?', (size_t)(end - sp - 1))) == NULL)
		return -1;
	for (const char *a = q + 1; a < end;) {
		const char *amp = memchr(a, '&', (size_t)(end - a));
		const char *ae = amp != NULL ? amp : end;

		if ((size_t)(ae - a) > nl && a[nl] == '=' && strncmp(a, name, nl) == 0) {
			size_t o = 0;

			for (const char *v = a + nl + 1; v < ae; v++) {
				int ch = (unsigned char)*v;

				if (ch == '%') {
					int hi, lo;

					if (ae - v < 3 || (hi = hexval(v[1])) < 0 || (lo = hexval(v[2])) < 0)
						return -1;
					ch = hi << 4 | lo;
					v += 2;
				} else if (ch == '+') {
					ch = ' ';
				}
				if (o + 1 >= cap)
					return -1;
				out[o++] = (char)ch;
			}
			out[o] = '\0';
			return (int)o;
		}
		a = ae + 1;
	}
	return -1;
}

bool cp_ws_utf8_valid(const uint8_t *p, size_t n)
{
	return cp_utf8_valid(p, n);
}

bool cp_ws_close_code_valid(unsigned int code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}
