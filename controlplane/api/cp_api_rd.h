/*
 * cp_api_rd: the api's HTTP/1.1 request reader (RFC 9112), from the bytes a connection
 * delivers (plaintext after TLS) to one complete request at a time. Pure: no I/O; the
 * body is the only allocation. docs/api.md "Errors and limits".
 *
 * Why our own: lws 4.1.6 parsed the api's requests before any check of ours could run, so
 * on HTTPS (where the gate cannot read the encrypted head) CONNECT or a bad Content-Length
 * got no answer, TRACE an HTML 403, a lowercase `get` and a 3,018-byte target were served
 * (issue 28), a chunked body came still chunk-coded and without an end, and a pipelined
 * request after it was read as more body. Here every head passes cp_api_head before it is
 * served, on HTTP and HTTPS alike.
 *
 *   HEAD ─ head complete, accepted ─▶ BODY (Content-Length or chunked) ─▶ REQUEST
 *     │                                    │                               │ api_rd_next
 *     └─ refused (431, cp_api_head, 411, 400 bad_framing, 413) ◀───────────┘ (keep-alive)
 *
 * A request:   the head (at most CP_API_HEAD_MAX bytes, empty lines before the request
 *              line skipped), accepted by api_head_check_pure; then a body of exactly
 *              Content-Length bytes, or chunked (RFC 9112 §7.1: extensions and trailers
 *              read and ignored, lines up to 4 KiB), at most lim.max_body bytes decoded.
 * Refused:     a head over CP_API_HEAD_MAX (431 headers_too_large); cp_api_head's
 *              refusals; a POST with neither Content-Length nor Transfer-Encoding (411
 *              length_required); Transfer-Encoding other than `chunked` alone, more than
 *              one, with a Content-Length, or a malformed chunked body (400 bad_framing);
 *              a chunked body over max_body (413 body_too_large).
 * Keep-alive:  HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
 *              `Connection: keep-alive`. Bytes after a request are the next one's: the
 *              reader stops at the end of each request (pipelining).
 *
 * Threading: the connection's owner only.
 */
#ifndef DECP_CP_API_RD_H
#define DECP_CP_API_RD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cp_api_head.h"

#define CP_API_HEAD_MAX 4096u   /* a longer request head is 431 (as the gate's CP_GATE_HEAD_MAX) */
#define API_RD_TOO_LARGE "request head over 4096 bytes" /* the 431's message (also the gate's) */
#define CP_API_TARGET_MAX 511u  /* request target with its query string (414 beyond) */
#define CP_API_AUTH_MAX 272u    /* Authorization value kept; longer: "oversize" */
#define CP_API_SESSION_MAX 64u  /* a console session cookie: 64 hex digits */
/* The console's session cookie: over HTTPS with the `__Host-` prefix, which a browser
 * accepts only with Secure, Path=/ and no Domain, from a secure page: so no page of another
 * host name (a sibling subdomain) and no plain-HTTP page can plant one, nor shadow it with
 * a longer Path (RFC 6265bis §4.1.3.2). Plain HTTP (api_tls = off) cannot use the prefix. */
#define CP_API_COOKIE_TLS "__Host-decp_console"
#define CP_API_COOKIE_PLAIN "decp_console"

#define CP_API_IDEM_MAX 64u     /* an Idempotency-Key: 1..64 of [A-Za-z0-9._:-] */

/* One complete request (after API_RD_REQUEST, until api_rd_next). */
struct api_rd_req {
	bool post;                          /* POST, else GET (the only two accepted) */
	char path[CP_API_TARGET_MAX + 1];   /* the target up to '?' */
	char query[CP_API_TARGET_MAX + 1];  /* after '?', "" when none */
	char auth[CP_API_AUTH_MAX];         /* Authorization, "" when absent */
	/* the web console's session cookie (docs/console.md), "" when absent or not 64 hex
	 * digits: an api serving HTTPS reads only session_tls, a plain one session_plain */
	char session_tls[CP_API_SESSION_MAX + 1];   /* CP_API_COOKIE_TLS's value */
	char session_plain[CP_API_SESSION_MAX + 1]; /* CP_API_COOKIE_PLAIN's value */
	char idem_key[CP_API_IDEM_MAX + 1]; /* Idempotency-Key (money POSTs, docs/api.md
					     * "Idempotency keys"), "" when absent */
	bool idem_bad;                      /* an Idempotency-Key that is not 1..64 of
					     * [A-Za-z0-9._:-] (or given twice): the handler
					     * answers 422 */
	bool console_hdr;                   /* `X-Decp-Console: 1` (the console's own requests:
					     * a cross-site form cannot send it) */
	bool keep_alive;
	char *body;                         /* NUL-terminated; NULL when len == 0 */
	size_t len;
};

enum api_rd_ev {
	API_RD_MORE = 0,    /* every byte taken; more needed */
	API_RD_REQUEST,     /* rd->req is complete; bytes after it were not taken */
	API_RD_REFUSE,      /* rd->v says why: answer (api_head_reply) and close */
};

enum api_rd_state { API_RD_HEAD = 0, API_RD_BODY, API_RD_CHUNKED, API_RD_DONE, API_RD_REFUSED };

struct api_rd {
	struct api_head_limits lim;
	enum api_rd_state st;
	bool want_continue;        /* the head said `Expect: 100-continue` and a body follows:
				    * the owner sends "100 Continue" and clears this */
	struct api_head_verdict v; /* API_RD_REFUSE's reason */
	struct api_rd_req req;
	size_t cap;                /* of req.body */
	uint64_t left;             /* body bytes to come (API_RD_BODY), or of this chunk */
	/* chunked decoding */
	int ck;                    /* the chunk decoder's state (cp_api_rd.c) */
	unsigned int line;         /* digits of a size, or bytes of a line being skipped */
	bool empty_line;
	size_t hlen;
	char head[CP_API_HEAD_MAX];
};

/* A reader for a new connection under lim (target_max is capped at CP_API_TARGET_MAX). */
void api_rd_init(struct api_rd *rd, const struct api_head_limits *lim);

/* Read from in (len bytes): returns how many were taken, *ev what happened. After
 * API_RD_REQUEST or API_RD_REFUSE, further feeds take nothing until api_rd_next. Returns
 * -ENOMEM (nothing usable) when the body cannot grow. */
long api_rd_feed(struct api_rd *rd, const char *in, size_t len, enum api_rd_ev *ev);

/* The request was served: drop it (and its body) and read the next one. */
void api_rd_next(struct api_rd *rd);

/* Free what the reader holds. */
void api_rd_fini(struct api_rd *rd);

#endif
