/*
 * cp_poll_req: the HTTP long-polling request of the fan-out (issue 19 item 5,
 * docs/fanout.md "HTTP polling"), read from network bytes: pure logic, no I/O.
 *
 *   GET /v1/masters/{id}/signals?after=N&wait=S[&policy=V][&token=T] HTTP/1.1
 *   Host: ...                                  (required, as HTTP/1.1 says)
 *   Authorization: Bearer <subscriber token>   (or ?token=)
 *   Connection: close                          (optional: answer, then close)
 *
 * The request head arrives complete (up to its blank line, <= CP_WS_CHECK_HTTP_MAX bytes)
 * from cp_ws_check, which hands over every head that is not a WebSocket handshake. The
 * rules, each refused with an HTTP status and a stable error code (cp_poll_parse):
 *
 *   method GET only                                  405 method_not_allowed
 *   path /v1/masters/{id}/signals, id 1..2^63-1      404 not_found (other path),
 *                                                    400 bad_master (id not a number)
 *   HTTP/1.1 with one valid Host header
 *   (cp_http_host_refusal, RFC 9112 §3.2)            400 bad_request
 *   no request body (Content-Length > 0, any
 *   Transfer-Encoding)                               400 bad_request
 *   after: decimal 0..2^63-1, required               400 bad_after
 *   wait: decimal seconds 0..CP_POLL_WAIT_MAX_S,
 *   optional (default 0 = answer at once)            400 bad_wait (more is refused, not
 *                                                    clamped: a client learns the limit)
 *   policy: decimal version 0..2^63-1, optional      400 bad_policy
 *   each of after/wait/policy/token at most once     400 bad_request
 *
 * Unknown query arguments are ignored (room for later ones). The token is not checked
 * here (the caller's authentication cache does that): only its presence is noted.
 */
#ifndef DECP_CP_POLL_REQ_H
#define DECP_CP_POLL_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CP_POLL_WAIT_MAX_S 30u        /* longest wait a request may ask for */
#define CP_POLL_MAX_ENVELOPES 200u    /* envelopes per answer, at most (each under
				       * 4.2 KiB: a signal frame is at most 4 KiB) */

struct cp_poll_req {
	uint64_t master;      /* {id} */
	uint64_t after;       /* the last sequence the client holds (0: none) */
	uint32_t wait_s;      /* 0..CP_POLL_WAIT_MAX_S */
	uint64_t policy;      /* the CopyPolicy version the client holds (0: none) */
	bool close;           /* "Connection: close": answer, then close */
};

/*
 * Is this head meant for the polling endpoint (its request target starts with "/v1/")?
 * The gate and the checker pass such heads on instead of answering them as bad WebSocket
 * upgrades. Pure.
 */
bool cp_poll_head_is(const char *head, size_t len);

/*
 * Parse a complete request head (len bytes, up to and including its blank line; not
 * NUL-terminated) into *out. Returns 0, or the HTTP status to answer (400, 404, 405) with
 * *code set to the error code named in the table above (a static string). Pure.
 */
int cp_poll_parse(const char *head, size_t len, struct cp_poll_req *out, const char **code);

#endif
