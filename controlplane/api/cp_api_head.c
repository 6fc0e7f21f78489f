/* cp_api_head: the api's check of a complete request head. Contract in cp_api_head.h. */
#include "cp_api_head.h"

#include "cp_http.h"

#include <stdbool.h>
#include <string.h>

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

/* val[0..n): a Content-Length value, trimmed (cp_http_field_next). */
static void check_length(const char *val, size_t n, uint64_t *seen, const struct api_head_limits *lim,
			 struct api_head_verdict *v)
{
	uint64_t x = 0;

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
	struct cp_http_line l;
	struct cp_http_fields it;
	struct cp_http_field f;
	uint64_t cl = UINT64_MAX;
	const char *why;
	int r;

	refuse(v, 0, NULL, NULL);
	if (!cp_http_line(head, len, &l) || l.method_len == 0) {
		refuse(v, 400, "bad_request", "malformed request line");
		return;
	}
	for (size_t i = 0; i < l.method_len; i++)
		if (!cp_http_is_tchar((unsigned char)l.method[i])) {
			refuse(v, 400, "bad_request", "malformed request method");
			return;
		}
	if (l.version_len != 8 || (memcmp(l.version, "HTTP/1.1", 8) != 0 &&
				   memcmp(l.version, "HTTP/1.0", 8) != 0)) {
		refuse(v, 400, "bad_request", "malformed request line (HTTP/1.1 or HTTP/1.0 only)");
		return;
	}
	if (!((l.method_len == 3 && memcmp(l.method, "GET", 3) == 0) ||
	      (l.method_len == 4 && memcmp(l.method, "POST", 4) == 0))) {
		refuse(v, 405, "method_not_allowed", "only GET and POST are served (case-sensitive)");
		return;
	}
	check_target(l.target, l.target_len, lim, v);
	if (v->status != 0)
		return;
	cp_http_fields_init(&it, head, len);
	while ((r = cp_http_field_next(&it, &f, &why)) > 0) {
		if (cp_http_field_is(&f, "Content-Length")) {
			check_length(f.value, f.value_len, &cl, lim, v);
			if (v->status != 0)
				return;
		}
	}
	if (r < 0) {
		refuse(v, 400, "bad_request", why);
		return;
	}
	/* RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host, and to
	 * any request with two or an invalid one (the api served them) */
	why = cp_http_host_refusal(head, len, memcmp(l.version, "HTTP/1.1", 8) == 0);
	if (why != NULL)
		refuse(v, 400, "bad_request", why);
}

size_t api_head_reply(const struct api_head_verdict *v, char *out, size_t cap)
{
	return cp_http_error_reply(v->status, v->code, v->message,
				   v->status == 405 ? "GET, POST" : NULL, out, cap);
}
