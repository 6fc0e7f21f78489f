/* cp_http: HTTP/1.1 pieces the api and the fan-out share. Contract in cp_http.h. */
#include "cp_http.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

size_t cp_http_head_end(const char *buf, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

bool cp_http_is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The line at p (up to end): its length without CR LF; *next after its LF (or end). */
static size_t line_len(const char *p, const char *end, const char **next)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	size_t n = lf != NULL ? (size_t)(lf - p) : (size_t)(end - p);

	*next = lf != NULL ? lf + 1 : end;
	return n > 0 && p[n - 1] == '\r' ? n - 1 : n;
}

bool cp_http_line(const char *head, size_t len, struct cp_http_line *l)
{
	const char *next, *sp1, *sp2;
	size_t n = line_len(head, head + len, &next);

	if ((sp1 = memchr(head, ' ', n)) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - head))) == NULL)
		return false;
	l->method = head;
	l->method_len = (size_t)(sp1 - head);
	l->target = sp1 + 1;
	l->target_len = (size_t)(sp2 - sp1 - 1);
	l->version = sp2 + 1;
	l->version_len = n - (size_t)(sp2 + 1 - head);
	return true;
}

void cp_http_fields_init(struct cp_http_fields *it, const char *head, size_t len)
{
	it->end = head + len;
	line_len(head, it->end, &it->p);
}

int cp_http_field_next(struct cp_http_fields *it, struct cp_http_field *f, const char **why)
{
	const char *next, *colon, *v, *e;
	size_t n;

	if (it->p >= it->end)
		return 0;
	n = line_len(it->p, it->end, &next);
	if (n == 0) {
		it->p = it->end;
		return 0; /* the blank line */
	}
	if (it->p[0] == ' ' || it->p[0] == '\t')
		return *why = "obsolete header line folding", -1;
	colon = memchr(it->p, ':', n);
	if (colon == NULL || colon == it->p)
		return *why = "malformed header line", -1;
	for (const char *c = it->p; c < colon; c++)
		if (!cp_http_is_tchar((unsigned char)*c))
			return *why = "malformed header name", -1;
	for (v = colon + 1, e = it->p + n; v < e && (*v == ' ' || *v == '\t'); v++)
		;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	f->name = it->p;
	f->name_len = (size_t)(colon - it->p);
	f->value = v;
	f->value_len = (size_t)(e - v);
	it->p = next;
	return 1;
}

bool cp_http_field_is(const struct cp_http_field *f, const char *lit)
{
	size_t n = strlen(lit);

	return f->name_len == n && strncasecmp(f->name, lit, n) == 0;
}

/* A Host value: uri-host [":" port], 1 or more of RFC 3986's bytes for a reg-name, an
 * IPv4 address, an IP-literal ("[...]") and the port. */
static bool host_value_ok(const char *v, size_t n)
{
	static const char other[] = "-._~%!$&'()*+,;=:[]";

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c != '\0' && strchr(other, c) != NULL)))
			return false;
	}
	return true;
}

const char *cp_http_host_refusal(const char *head, size_t len, bool http11)
{
	struct cp_http_fields it;
	struct cp_http_field f;
	const char *why;
	unsigned int hosts = 0;

	cp_http_fields_init(&it, head, len);
	while (cp_http_field_next(&it, &f, &why) > 0) {
		if (!cp_http_field_is(&f, "Host"))
			continue;
		if (++hosts > 1)
			return "more than one Host header (RFC 9112 3.2)";
		if (!host_value_ok(f.value, f.value_len))
			return "malformed Host header (RFC 9112 3.2)";
	}
	if (hosts == 0 && http11)
		return "an HTTP/1.1 request needs a Host header (RFC 9112 3.2)";
	return NULL;
}

/* cp_http_list_has and cp_http_list_has_exact: `icase` tells which */
static bool list_has(const char *v, size_t n, const char *tok, bool icase)
{
	size_t tl = strlen(tok);

	for (size_t i = 0; i < n;) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && (icase ? strncasecmp(v + s, tok, tl) : memcmp(v + s, tok, tl)) == 0)
			return true;
	}
	return false;
}

bool cp_http_list_has(const char *v, size_t n, const char *tok)
{
	return list_has(v, n, tok, true);
}

bool cp_http_list_has_exact(const char *v, size_t n, const char *tok)
{
	return list_has(v, n, tok, false);
}

const char *cp_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

size_t cp_http_error_reply(int status, const char *code, const char *message, const char *allow,
			   char *out, size_t cap)
{
	char body[512];
	int bl = snprintf(body, sizeof(body), "{\"code\":\"%s\",\"message\":\"%s\"}\n", code,
			  message);
	int n;

	if (bl < 0 || (size_t)bl >= sizeof(body))
		return 0;
	n = snprintf(out, cap, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		     "Content-Length: %d\r\nCache-Control: no-store\r\n"
		     "X-Content-Type-Options: nosniff\r\n%s%s%sConnection: close\r\n"
		     "\r\n%s", status, cp_http_reason(status), bl, allow ? "Allow: " : "",
		     allow ? allow : "", allow ? "\r\n" : "", body);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

bool cp_utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t k;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}
