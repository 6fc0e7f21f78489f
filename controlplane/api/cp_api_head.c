/* cp_api_head: the api's check of a complete request head. Contract in cp_api_head.h. */
#include "cp_api_head.h"

#include "cp_http.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 §5.6.2 tchar */
static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static void refuse(struct api_head_verdict *v, int status, const char *code, const char *msg)
{
	v->status = status;
	v->code = code;
	v->message = msg;
}

/* The line starting at p (up to end): its length without CR LF; *next after its LF. */
static size_t line_len(const char *p, const char *end, const char **next)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	size_t n = lf != NULL ? (size_t)(lf - p) : (size_t)(end - p);

	*next = lf != NULL ? lf + 1 : end;
	return n > 0 && p[n - 1] == '\r' ? n - 1 : n;
}

static void check_target(const char *t, size_t n, const struct api_head_limits *lim,
			 struct api_head_verdict *v)
{
	uint32_t args = 0;
	bool in_query = false;

	if (n == 0 || t[0] != '/') {
		refuse(v, 400, "bad_target", "the request target must be a path (origin-form)");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c <= 0x20 || c >= 0x7f) {
			refuse(v, 400, "bad_target", "control or non-ASCII byte in the request target");
			return;
		}
		if (c == '%') {
			if (i + 2 >= n || !is_hex((unsigned char)t[i + 1]) ||
			    !is_hex((unsigned char)t[i + 2])) {
				refuse(v, 400, "bad_target", "'%' not followed by two hex digits");
				return;
			}
			if (t[i + 1] == '0' && t[i + 2] == '0') {
				refuse(v, 400, "bad_target", "%00 (NUL) in the request target");
				return;
			}
		}
		if (c == '?' && !in_query) {
			in_query = true;
			args = i + 1 < n ? 1 : 0;
		} else if (c == '&' && in_query) {
			args++;
		}
	}
	if (n > lim->target_max) {
		refuse(v, 414, "uri_too_long", "request target (with its query string) too long");
		return;
	}
	if (args > lim->query_args_max)
		refuse(v, 414, "too_many_args", "too many query arguments");
}

static void check_length(const char *val, size_t n, uint64_t *seen, const struct api_head_limits *lim,
			 struct api_head_verdict *v)
{
	uint64_t x = 0;

	while (n > 0 && (*val == ' ' || *val == '\t')) {
		val++;
		n--;
	}
	while (n > 0 && (val[n - 1] == ' ' || val[n - 1] == '\t'))
		n--;
	if (n == 0 || n > 19) {
		refuse(v, 400, "bad_content_length", "Content-Length must be 1 to 19 decimal digits");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (val[i] < '0' || val[i] > '9') {
			refuse(v, 400, "bad_content_length", "Content-Length must be decimal digits only");
			return;
		}
		x = x * 10 + (uint64_t)(val[i] - '0'); /* 19 digits never overflow 64 bits */
	}
	if (*seen != UINT64_MAX && *seen != x) {
		refuse(v, 400, "bad_content_length", "differing Content-Length headers");
		return;
	}
	*seen = x;
	if (x > lim->max_body)
		refuse(v, 413, "body_too_large", "request body over the limit (api_max_body)");
}

void api_head_check_pure(const char *head, size_t len, const struct api_head_limits *lim,
			 struct api_head_verdict *v)
{
	const char *end = head + len, *p = head, *next;
	size_t n = line_len(p, end, &next);
	const char *sp1 = memchr(p, ' ', n), *sp2;
	uint64_t cl = UINT64_MAX;

	refuse(v, 0, NULL, NULL);
	if (sp1 == NULL || sp1 == p) {
		refuse(v, 400, "bad_request", "malformed request line");
		return;
	}
	for (const char *m = p; m < sp1; m++)
		if (!is_tchar((unsigned char)*m)) {
			refuse(v, 400, "bad_request", "malformed request method");
			return;
		}
	sp2 = memchr(sp1 + 1, ' ', (size_t)(p + n - sp1 - 1));
	if (sp2 == NULL || (size_t)(p + n - sp2 - 1) != 8 ||
	    (memcmp(sp2 + 1, "HTTP/1.1", 8) != 0 && memcmp(sp2 + 1, "HTTP/1.0", 8) != 0)) {
		refuse(v, 400, "bad_request", "malformed request line (HTTP/1.1 or HTTP/1.0 only)");
		return;
	}
	if (!((sp1 - p == 3 && memcmp(p, "GET", 3) == 0) ||
	      (sp1 - p == 4 && memcmp(p, "POST", 4) == 0))) {
		refuse(v, 405, "method_not_allowed", "only GET and POST are served (case-sensitive)");
		return;
	}
	check_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), lim, v);
	if (v->status != 0)
		return;
	for (p = next; p < end; p = next) {
		const char *colon;

		n = line_len(p, end, &next);
		if (n == 0)
			break; /* the blank line */
		if (p[0] == ' ' || p[0] == '\t') {
			refuse(v, 400, "bad_request", "obsolete header line folding");
			return;
		}
		colon = memchr(p, ':', n);
		if (colon == NULL || colon == p) {
			refuse(v, 400, "bad_request", "malformed header line");
			return;
		}
		for (const char *c = p; c < colon; c++)
			if (!is_tchar((unsigned char)*c)) {
				refuse(v, 400, "bad_request", "malformed header name");
				return;
			}
		if (colon - p == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
			check_length(colon + 1, (size_t)(p + n - colon - 1), &cl, lim, v);
			if (v->status != 0)
				return;
		}
	}
}

size_t api_head_reply(const struct api_head_verdict *v, char *out, size_t cap)
{
	return cp_http_error_reply(v->status, v->code, v->message,
				   v->status == 405 ? "GET, POST" : NULL, out, cap);
}
