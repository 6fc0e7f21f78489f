/*
 * cp_api_head: the api's check of a complete HTTP request head, before lws sees it (the
 * gate calls it, cp_gate.h; docs/api.md "Errors and limits"). Pure: no I/O, no allocation.
 *
 * lws 4.1.6 alone answered a CONNECT, a negative or overflowing Content-Length or %00 in
 * the path with nothing, TRACE and unknown methods with an HTML 403, took a lowercase
 * `get` as GET, limited the path but not the query string (a 3,018-byte URI got 200, 200
 * query arguments no answer) and read a body announced over the limit before refusing it
 * (issue 28). Every such head is refused here with the documented JSON error, and the
 * connection is closed after the answer.
 *
 * Accepted (anything else is refused, in this order):
 *   request line   METHOD SP TARGET SP HTTP/1.1|HTTP/1.0, METHOD a token (RFC 9110 §5.6.2)
 *                  else 400 bad_request; METHOD exactly "GET" or "POST" (case-sensitive,
 *                  RFC 9110 §9.1) else 405 method_not_allowed;
 *   target         origin-form ("/..."), visible ASCII only, every '%' followed by two hex
 *                  digits and never "%00", else 400 bad_target; at most target_max bytes
 *                  including the query string, else 414 uri_too_long; at most
 *                  query_args_max '&'-separated query arguments, else 414 too_many_args;
 *   header lines   "name: value" with a token name, no obsolete line folding, else 400
 *                  bad_request; Content-Length 1..19 decimal digits (no sign, no
 *                  overflow), all copies equal, else 400 bad_content_length; over max_body
 *                  413 body_too_large, before the body is sent;
 *   Host           exactly one on HTTP/1.1, at most one on HTTP/1.0, its value uri-host
 *                  [":" port] (cp_http_host_refusal, RFC 9112 §3.2), else 400 bad_request.
 */
#ifndef DECP_CP_API_HEAD_H
#define DECP_CP_API_HEAD_H

#include <stddef.h>
#include <stdint.h>

struct api_head_limits {
	uint32_t target_max;     /* request target incl. query string, bytes */
	uint32_t query_args_max; /* '&'-separated query arguments */
	uint64_t max_body;       /* Content-Length above this: 413 */
};

struct api_head_verdict {
	int status;          /* 0: accepted; else the HTTP status of the refusal */
	const char *code;    /* the JSON error code (static) */
	const char *message; /* the JSON message (static) */
};

/* The verdict on head (len bytes, the request line up to and including the blank line). */
void api_head_check_pure(const char *head, size_t len, const struct api_head_limits *lim,
			 struct api_head_verdict *v);

/* The whole HTTP reply of a refusal (cp_http_error_reply: JSON, Connection: close, Allow
 * on a 405) into out (cap bytes). Returns its length, 0 if cap is too small. */
size_t api_head_reply(const struct api_head_verdict *v, char *out, size_t cap);

#endif
