/*
 * sub_poll: decp-subscriber's side of the fan-out's HTTP long polling (--poll; the
 * endpoint is docs/fanout.md "HTTP polling"): the request, and the answer read from
 * network bytes (status line, headers, a Content-Length body of length-framed
 * ServerMessages). Pure logic: no I/O; the lws glue is decp-subscriber.c's.
 */
#ifndef DECP_SUB_POLL_H
#define DECP_SUB_POLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto_frame.h"

#define SUB_POLL_HEAD_MAX 4096u        /* longest answer head accepted */
#define SUB_POLL_BODY_MAX (8u << 20)   /* longest answer body accepted (a snapshot of
				        * ~8,000 positions is ~1 MiB) */
#define SUB_POLL_MSG_MAX 16384u        /* longest framed message accepted (an envelope of
				        * a 4 KiB signal, with room) */

/* One answer being read. */
struct sub_poll_rx {
	uint8_t *buf;        /* head, then body (grows up to what Content-Length says) */
	size_t cap, have;
	size_t head_len;     /* 0 until the head is complete */
	size_t body_len;     /* Content-Length */
	int status;          /* the status line's code */
	uint64_t next;       /* X-Decp-Next-After (200 only) */
	bool close;          /* Connection: close */
	struct proto_frame_decoder dec; /* the body's frames (proto_frame.h) */
	uint8_t dec_buf[SUB_POLL_MSG_MAX];
};

/*
 * The request for master's signals after `after`, waiting up to wait_s, holding CopyPolicy
 * version `policy`, authenticated by token, into out (cap bytes, NUL-terminated). Returns
 * its length, or -ENOSPC.
 */
int sub_poll_request(char *out, size_t cap, const char *host, uint64_t master, uint64_t after,
		     unsigned int wait_s, uint64_t policy, const char *token);

/* Start reading answers (nothing allocated yet). */
void sub_poll_rx_init(struct sub_poll_rx *r);

/* Free the buffer. Idempotent. */
void sub_poll_rx_fini(struct sub_poll_rx *r);

/*
 * Feed the next n bytes of the connection. *used receives how many were taken (the rest
 * belongs to the next answer; the server sends none before the next request). Returns 1
 * when an answer is complete (read it, then sub_poll_rx_next), 0 when more is needed,
 * -EPROTO for a malformed head (no status line, no or bad Content-Length, a 200 without
 * X-Decp-Next-After), -EMSGSIZE beyond the limits, -ENOMEM.
 */
int sub_poll_rx_feed(struct sub_poll_rx *r, const uint8_t *p, size_t n, size_t *used);

/*
 * The body's next framed message from *off (start at 0; framing of proto_frame.h): *msg
 * and *len point into r's buffer. Returns 1, 0 at the body's end, -EPROTO when a frame
 * is empty, longer than SUB_POLL_MSG_MAX or runs past the body.
 */
int sub_poll_msg(struct sub_poll_rx *r, size_t *off, const uint8_t **msg, size_t *len);

/* Forget the complete answer: the next feed starts a new one. */
void sub_poll_rx_next(struct sub_poll_rx *r);

#endif
