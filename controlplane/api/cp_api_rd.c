/* cp_api_rd: the api's HTTP/1.1 request reader. Contract in cp_api_rd.h. */
#include "cp_api_rd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cp_buf.h"
#include "cp_http.h"

#define CHUNK_LINE_MAX 4096u /* a chunk-size line (with extensions) or a trailer line */

/* The chunk decoder's states (struct api_rd.ck). */
enum { CK_SIZE = 0, CK_EXT, CK_SIZE_LF, CK_DATA, CK_DATA_CR, CK_DATA_LF, CK_TRAILER,
       CK_TRAILER_LF };

static void refuse(struct api_rd *rd, int status, const char *code, const char *msg)
{
	rd->st = API_RD_REFUSED;
	rd->v.status = status;
	rd->v.code = code;
	rd->v.message = msg;
}

void api_rd_init(struct api_rd *rd, const struct api_head_limits *lim)
{
	memset(rd, 0, sizeof(*rd));
	rd->lim = *lim;
	if (rd->lim.target_max > CP_API_TARGET_MAX)
		rd->lim.target_max = CP_API_TARGET_MAX;
}

void api_rd_next(struct api_rd *rd)
{
	free(rd->req.body);
	struct api_head_limits lim = rd->lim;
	api_rd_init(rd, &lim);
}

void api_rd_fini(struct api_rd *rd)
{
	free(rd->req.body);
	rd->req.body = NULL;
	rd->cap = 0;
}

/* [p, e) without the blanks around it. */
static void trim(const char **p, const char **e)
{
	while (*p < *e && (**p == ' ' || **p == '\t'))
		(*p)++;
	while (*e > *p && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

/* The console's session cookie `name` (with its '=') in a Cookie header's value [p, e):
 * the first one followed by exactly 64 hex digits, else nothing. */
static void cookie_session(const char *p, const char *e, const char *name,
			   char out[CP_API_SESSION_MAX + 1])
{
	size_t nl = strlen(name);

	if (out[0] != '\0') /* a second Cookie header: the first's stands */
		return;
	while (p < e) {
		const char *c = memchr(p, ';', (size_t)(e - p)), *ie = c != NULL ? c : e, *ip = p;

		trim(&ip, &ie);
		if ((size_t)(ie - ip) == nl + CP_API_SESSION_MAX && memcmp(ip, name, nl) == 0) {
			ip += nl;
			for (size_t i = 0; i < CP_API_SESSION_MAX; i++)
				if (!((ip[i] >= '0' && ip[i] <= '9') || (ip[i] >= 'a' && ip[i] <= 'f')))
					return;
			memcpy(out, ip, CP_API_SESSION_MAX);
			out[CP_API_SESSION_MAX] = '\0';
			return;
		}
		p = c != NULL ? c + 1 : e;
	}
}

/* An Idempotency-Key header's value [v, e): kept when it is 1..CP_API_IDEM_MAX characters of
 * [A-Za-z0-9._:-] and the first one; anything else marks the request (idem_bad), so a key
 * is never silently cut or ignored (a retry would then apply twice). */
static void idem_key(struct api_rd *rd, const char *v, const char *e)
{
	size_t n = (size_t)(e - v);

	if (n == 0 || n > CP_API_IDEM_MAX || rd->req.idem_key[0] != '\0' ||
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") < n) {
		rd->req.idem_bad = true;
		return;
	}
	memcpy(rd->req.idem_key, v, n);
	rd->req.idem_key[n] = '\0';
}

/*
 * The head (accepted by cp_api_head) into rd->req, and what follows it: a body to read, a
 * request without one, or a refusal of its framing.
 */
static void head_parse(struct api_rd *rd, size_t n)
{
	struct cp_http_line l;
	struct cp_http_fields it;
	struct cp_http_field f;
	const char *q, *why;
	bool http10, has_cl = false, conn_close = false, conn_ka = false, expect = false;
	unsigned int te = 0, auth_n = 0;
	bool te_chunked = false;
	uint64_t cl = 0;

	/* cp_api_head accepted it: "GET|POST SP target SP HTTP/1.x", the target fits, every
	 * header line well formed */
	cp_http_line(rd->head, n, &l);
	http10 = memcmp(l.version, "HTTP/1.0", 8) == 0;
	rd->req.post = l.method_len == 4;
	q = memchr(l.target, '?', l.target_len);
	memcpy(rd->req.path, l.target, q != NULL ? (size_t)(q - l.target) : l.target_len);
	if (q != NULL)
		memcpy(rd->req.query, q + 1, l.target_len - (size_t)(q + 1 - l.target));
	cp_http_fields_init(&it, rd->head, n);
	while (cp_http_field_next(&it, &f, &why) > 0) {
		const char *v = f.value;
		size_t vl = f.value_len;

		if (cp_http_field_is(&f, "Content-Length")) {
			has_cl = true; /* 1..19 digits, every copy equal: cp_api_head checked */
			cl = strtoull(v, NULL, 10);
		} else if (cp_http_field_is(&f, "Transfer-Encoding")) {
			te++;
			te_chunked = vl == 7 && strncasecmp(v, "chunked", 7) == 0;
		} else if (cp_http_field_is(&f, "Connection")) {
			conn_close |= cp_http_list_has(v, vl, "close");
			conn_ka |= cp_http_list_has(v, vl, "keep-alive");
		} else if (cp_http_field_is(&f, "Expect")) {
			expect = vl == 12 && strncasecmp(v, "100-continue", 12) == 0;
		} else if (cp_http_field_is(&f, "Cookie")) {
			cookie_session(v, v + vl, CP_API_COOKIE_TLS "=", rd->req.session_tls);
			cookie_session(v, v + vl, CP_API_COOKIE_PLAIN "=", rd->req.session_plain);
		} else if (cp_http_field_is(&f, "X-Decp-Console")) {
			rd->req.console_hdr = vl == 1 && v[0] == '1';
		} else if (cp_http_field_is(&f, "Idempotency-Key")) {
			idem_key(rd, v, v + vl);
		} else if (cp_http_field_is(&f, "Authorization")) {
			auth_n++;
			if (vl >= sizeof(rd->req.auth)) /* refused by the caller as malformed */
				memcpy(rd->req.auth, "oversize", 9);
			else
				memcpy(rd->req.auth, v, vl);
		}
	}
	rd->req.keep_alive = http10 ? conn_ka && !conn_close : !conn_close;
	/* RFC 9110 §11.6.2: one set of credentials. Two were read as the last one written
	 * over the first (its tail kept after a shorter one); a proxy that checks the first
	 * would pass a request we serve with the second. */
	if (auth_n > 1) {
		refuse(rd, 400, "bad_request", "more than one Authorization header");
		return;
	}
	if (te > 0) {
		/* RFC 9112 §6.1: with a Content-Length too, a smuggling attempt */
		if (te > 1 || !te_chunked || has_cl) {
			refuse(rd, 400, "bad_framing", "Transfer-Encoding other than chunked alone, or "
			       "with a Content-Length");
			return;
		}
		rd->st = API_RD_CHUNKED;
		rd->ck = CK_SIZE;
	} else if (cl > 0) {
		rd->st = API_RD_BODY;
		rd->left = cl;
	} else if (rd->req.post && !has_cl) {
		refuse(rd, 411, "length_required", "a POST needs a Content-Length header or a "
		       "chunked body");
		return;
	} else {
		rd->st = API_RD_DONE;
		return;
	}
	rd->want_continue = expect && !http10;
}

/* The head: gather it, check it, parse it. Returns bytes taken. */
static size_t head_feed(struct api_rd *rd, const char *in, size_t len)
{
	size_t took = 0, room, from, e;
	struct api_head_verdict v;

	while (rd->hlen == 0 && took < len && (in[took] == '\r' || in[took] == '\n'))
		took++; /* RFC 9112 §2.2: empty lines before a request line are ignored */
	room = sizeof(rd->head) - rd->hlen;
	if (len - took < room)
		room = len - took;
	from = rd->hlen > 2 ? rd->hlen - 2 : 0; /* the blank line may straddle two reads */
	memcpy(rd->head + rd->hlen, in + took, room);
	rd->hlen += room;
	e = cp_http_head_end(rd->head + from, rd->hlen - from);
	if (e == 0) {
		if (rd->hlen == sizeof(rd->head))
			refuse(rd, 431, "headers_too_large", API_RD_TOO_LARGE);
		return took + room;
	}
	e += from;
	took += room - (rd->hlen - e); /* the bytes after the head are not the head's */
	rd->hlen = e;
	api_head_check_pure(rd->head, e, &rd->lim, &v);
	if (v.status != 0) {
		refuse(rd, v.status, v.code, v.message);
		return took;
	}
	head_parse(rd, e);
	return took;
}

/* Body bytes into req.body (NUL-terminated); over max_body: 413. 0, -ENOMEM or -EFBIG. */
static int body_append(struct api_rd *rd, const char *in, size_t n)
{
	if (rd->req.len + n > rd->lim.max_body) {
		refuse(rd, 413, "body_too_large", "request body over the limit (api_max_body)");
		return -EFBIG;
	}
	if (cp_buf_grow(&rd->req.body, &rd->cap, rd->req.len + n + 1, 1024) != 0)
		return -ENOMEM;
	memcpy(rd->req.body + rd->req.len, in, n);
	rd->req.len += n;
	rd->req.body[rd->req.len] = '\0';
	return 0;
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void bad_chunk(struct api_rd *rd)
{
	refuse(rd, 400, "bad_framing", "malformed chunked body");
}

/* Chunked bytes (RFC 9112 §7.1) into the body. Returns bytes taken, or -ENOMEM. */
static long chunk_feed(struct api_rd *rd, const char *in, size_t len)
{
	size_t i = 0;

	while (i < len && rd->st == API_RD_CHUNKED) {
		char ch = in[i];
		int d;

		switch (rd->ck) {
		case CK_SIZE:
			if ((d = hex_digit(ch)) >= 0) {
				rd->left = rd->left * 16 + (unsigned int)d;
				rd->line++;
				if (rd->left > rd->lim.max_body) { /* its data would never be kept */
					refuse(rd, 413, "body_too_large", "a chunk over the limit "
					       "(api_max_body)");
					return (long)i;
				}
			} else if (rd->line == 0) {
				bad_chunk(rd);
			} else if (ch == '\r') {
				rd->ck = CK_SIZE_LF;
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				rd->ck = CK_EXT;
			} else {
				bad_chunk(rd);
			}
			i++;
			break;
		case CK_EXT:
			if (ch == '\r')
				rd->ck = CK_SIZE_LF;
			else if (++rd->line > CHUNK_LINE_MAX)
				bad_chunk(rd);
			i++;
			break;
		case CK_SIZE_LF:
			if (ch != '\n')
				bad_chunk(rd);
			rd->ck = rd->left > 0 ? CK_DATA : CK_TRAILER;
			rd->line = 0;
			i++;
			break;
		case CK_DATA: {
			size_t n = len - i < rd->left ? len - i : (size_t)rd->left;
			int rc = body_append(rd, in + i, n);

			if (rc == -ENOMEM)
				return -ENOMEM;
			if (rc != 0)
				return (long)i;
			rd->left -= n;
			i += n;
			if (rd->left == 0)
				rd->ck = CK_DATA_CR;
			break;
		}
		case CK_DATA_CR:
		case CK_DATA_LF:
			if (ch != (rd->ck == CK_DATA_CR ? '\r' : '\n'))
				bad_chunk(rd);
			rd->ck = rd->ck == CK_DATA_CR ? CK_DATA_LF : CK_SIZE;
			i++;
			break;
		case CK_TRAILER:
			if (ch == '\r') {
				rd->empty_line = rd->line == 0;
				rd->ck = CK_TRAILER_LF;
			} else if (++rd->line > CHUNK_LINE_MAX) {
				bad_chunk(rd);
			}
			i++;
			break;
		case CK_TRAILER_LF:
			if (ch != '\n')
				bad_chunk(rd);
			else if (rd->empty_line)
				rd->st = API_RD_DONE; /* the end of the body */
			rd->line = 0;
			rd->ck = CK_TRAILER;
			i++;
			break;
		}
	}
	return (long)i;
}

long api_rd_feed(struct api_rd *rd, const char *in, size_t len, enum api_rd_ev *ev)
{
	size_t took = 0;

	if (rd->st == API_RD_REFUSED) {
		*ev = API_RD_REFUSE;
		return 0;
	}
	while (took < len || rd->st == API_RD_DONE) {
		if (rd->st == API_RD_HEAD) {
			took += head_feed(rd, in + took, len - took);
		} else if (rd->st == API_RD_BODY) {
			size_t n = len - took < rd->left ? len - took : (size_t)rd->left;

			if (body_append(rd, in + took, n) == -ENOMEM)
				return -ENOMEM;
			took += n;
			rd->left -= n;
			if (rd->left == 0 && rd->st == API_RD_BODY)
				rd->st = API_RD_DONE;
		} else if (rd->st == API_RD_CHUNKED) {
			long n = chunk_feed(rd, in + took, len - took);

			if (n < 0)
				return n;
			took += (size_t)n;
		}
		if (rd->st == API_RD_DONE) {
			*ev = API_RD_REQUEST;
			return (long)took;
		}
		if (rd->st == API_RD_REFUSED) {
			*ev = API_RD_REFUSE;
			return (long)took;
		}
	}
	*ev = API_RD_MORE;
	return (long)took;
}
