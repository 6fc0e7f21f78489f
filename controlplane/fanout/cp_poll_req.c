/* cp_poll_req: the polling request's head. Rules in cp_poll_req.h. */
#include "cp_poll_req.h"

#include <string.h>

#include "cp_http.h"

#define V1 "/v1/"
#define MASTERS "/v1/masters/"
#define SIGNALS "/signals"

bool cp_poll_head_is(const char *head, size_t len)
{
	struct cp_http_line l;

	return cp_http_line(head, len, &l) && l.target_len >= sizeof(V1) - 1 &&
	       memcmp(l.target, V1, sizeof(V1) - 1) == 0;
}

/* A decimal number of 1..19 digits, at most 2^63 - 1, in p[0..n). */
static bool dec(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX)
		return false;
	*out = v;
	return true;
}

/* The headers after the request line: one valid Host (cp_http_host_refusal), at most one
 * Authorization, no body, Connection: close noted. Returns 0 or 400. */
static int headers(const char *head, size_t len, struct cp_poll_req *out)
{
	struct cp_http_fields it;
	struct cp_http_field f;
	const char *why;
	int r, auths = 0;

	cp_http_fields_init(&it, head, len);
	while ((r = cp_http_field_next(&it, &f, &why)) > 0) {
		if (cp_http_field_is(&f, "authorization") && ++auths > 1)
			return 400; /* two: the first was taken (the WebSocket's rule too) */
		else if (cp_http_field_is(&f, "transfer-encoding"))
			return 400; /* a body: a GET has none */
		else if (cp_http_field_is(&f, "content-length") &&
			 !(f.value_len == 1 && f.value[0] == '0'))
			return 400;
		else if (cp_http_field_is(&f, "connection") &&
			 cp_http_list_has(f.value, f.value_len, "close"))
			out->close = true;
	}
	/* a malformed line (obsolete folding too): 400 */
	return r == 0 && cp_http_host_refusal(head, len, true) == NULL ? 0 : 400;
}

/* The query string q[0..n): after (required), wait, policy; each known name at most
 * once, token too. Returns 0 or 400 with *code. */
static int query(const char *q, size_t n, struct cp_poll_req *out, const char **code)
{
	bool seen_after = false, seen_wait = false, seen_policy = false, seen_token = false;

	for (size_t i = 0; i <= n;) {
		const char *a = q + i, *amp = memchr(a, '&', n - i), *eq;
		size_t al = amp != NULL ? (size_t)(amp - a) : n - i, nl, vl;
		uint64_t v;

		i += al + 1;
		if (al == 0)
			continue;
		eq = memchr(a, '=', al);
		nl = eq != NULL ? (size_t)(eq - a) : al;
		vl = eq != NULL ? al - nl - 1 : 0;
#define NAME(lit) (nl == sizeof(lit) - 1 && memcmp(a, lit, nl) == 0)
		if (NAME("after")) {
			if (seen_after || !dec(a + nl + 1, eq != NULL ? vl : 0, &out->after))
				return *code = seen_after ? "bad_request" : "bad_after", 400;
			seen_after = true;
		} else if (NAME("wait")) {
			if (seen_wait || !dec(a + nl + 1, eq != NULL ? vl : 0, &v) ||
			    v > CP_POLL_WAIT_MAX_S)
				return *code = seen_wait ? "bad_request" : "bad_wait", 400;
			out->wait_s = (uint32_t)v;
			seen_wait = true;
		} else if (NAME("policy")) {
			if (seen_policy || !dec(a + nl + 1, eq != NULL ? vl : 0, &out->policy))
				return *code = seen_policy ? "bad_request" : "bad_policy", 400;
			seen_policy = true;
		} else if (NAME("token")) {
			if (seen_token)
				return *code = "bad_request", 400;
			seen_token = true;
		}
#undef NAME
	}
	if (!seen_after)
		return *code = "bad_after", 400;
	return 0;
}

int cp_poll_parse(const char *head, size_t len, struct cp_poll_req *out, const char **code)
{
	struct cp_http_line l;
	const char *path, *qm, *id, *slash;
	size_t pl;

	memset(out, 0, sizeof(*out));
	*code = "bad_request";
	if (!cp_http_line(head, len, &l))
		return 400;
	if (l.version_len != 8 || memcmp(l.version, "HTTP/1.1", 8) != 0)
		return 400; /* HTTP/1.0 has no Host and no keep-alive by default: not served */
	path = l.target;
	qm = memchr(path, '?', l.target_len);
	pl = qm != NULL ? (size_t)(qm - path) : l.target_len;
	if (pl < sizeof(MASTERS) - 1 + 1 + sizeof(SIGNALS) - 1 ||
	    memcmp(path, MASTERS, sizeof(MASTERS) - 1) != 0 ||
	    memcmp(path + pl - (sizeof(SIGNALS) - 1), SIGNALS, sizeof(SIGNALS) - 1) != 0)
		return *code = "not_found", 404;
	id = path + sizeof(MASTERS) - 1;
	slash = path + pl - (sizeof(SIGNALS) - 1);
	if (memchr(id, '/', (size_t)(slash - id)) != NULL)
		return *code = "not_found", 404;
	if (l.method_len != 3 || memcmp(l.method, "GET", 3) != 0)
		return *code = "method_not_allowed", 405;
	if (!dec(id, (size_t)(slash - id), &out->master) || out->master == 0)
		return *code = "bad_master", 400;
	if (headers(head, len, out) != 0)
		return *code = "bad_request", 400;
	if (qm == NULL)
		return *code = "bad_after", 400;
	return query(qm + 1, l.target_len - pl - 1, out, code);
}
