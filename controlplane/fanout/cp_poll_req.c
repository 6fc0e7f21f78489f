/* cp_poll_req: the polling request's head. Rules in cp_poll_req.h. */
#include "cp_poll_req.h"

#include <string.h>
#include <strings.h>

#define V1 "/v1/"
#define MASTERS "/v1/masters/"
#define SIGNALS "/signals"

/* The request line's method, target and version (pointers into head). false: no line. */
struct line {
	const char *method, *target, *version;
	size_t method_len, target_len, version_len;
};

static bool line_split(const char *head, size_t len, struct line *l)
{
	const char *eol = memchr(head, '\n', len), *sp1, *sp2;
	size_t ll = eol != NULL ? (size_t)(eol - head) : len;

	if (ll > 0 && head[ll - 1] == '\r')
		ll--;
	if ((sp1 = memchr(head, ' ', ll)) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', ll - (size_t)(sp1 + 1 - head))) == NULL)
		return false;
	l->method = head;
	l->method_len = (size_t)(sp1 - head);
	l->target = sp1 + 1;
	l->target_len = (size_t)(sp2 - sp1 - 1);
	l->version = sp2 + 1;
	l->version_len = ll - (size_t)(sp2 + 1 - head);
	return true;
}

bool cp_poll_head_is(const char *head, size_t len)
{
	struct line l;

	return line_split(head, len, &l) && l.target_len >= sizeof(V1) - 1 &&
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

/* Does the comma-separated header value v (n bytes) hold token tok (case-insensitive)? */
static bool has_token(const char *v, size_t n, const char *tok)
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
		if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
			return true;
	}
	return false;
}

/* The headers after the request line: Host required, no body, Connection: close noted.
 * Returns 0 or 400. */
static int headers(const char *head, size_t len, struct cp_poll_req *out)
{
	const char *eol = memchr(head, '\n', len);
	size_t i = eol != NULL ? (size_t)(eol - head) + 1 : len;
	bool host = false;

	while (i < len) {
		const char *l = head + i, *colon;
		size_t ll, nl, vs, ve;

		eol = memchr(l, '\n', len - i);
		ll = eol != NULL ? (size_t)(eol - l) : len - i;
		i += ll + 1;
		if (ll > 0 && l[ll - 1] == '\r')
			ll--;
		if (ll == 0)
			break; /* the blank line */
		colon = memchr(l, ':', ll);
		if (colon == NULL || colon == l || l[0] == ' ' || l[0] == '\t')
			return 400; /* not a header (obsolete folding refused too) */
		nl = (size_t)(colon - l);
		for (vs = nl + 1; vs < ll && (l[vs] == ' ' || l[vs] == '\t'); vs++)
			;
		for (ve = ll; ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'); ve--)
			;
#define IS(lit) (nl == sizeof(lit) - 1 && strncasecmp(l, lit, nl) == 0)
		if (IS("host"))
			host = host || ve > vs;
		else if (IS("transfer-encoding"))
			return 400; /* a body: a GET has none */
		else if (IS("content-length") && !(ve - vs == 1 && l[vs] == '0'))
			return 400;
		else if (IS("connection") && has_token(l + vs, ve - vs, "close"))
			out->close = true;
#undef IS
	}
	return host ? 0 : 400;
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
	struct line l;
	const char *path, *qm, *id, *slash;
	size_t pl;

	memset(out, 0, sizeof(*out));
	*code = "bad_request";
	if (!line_split(head, len, &l))
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
