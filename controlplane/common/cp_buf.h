/*
 * cp_buf: the one growth rule of the control plane's growable byte buffers (the edge's
 * RESP pipeline, the archiver's COPY text, the api's request bodies, /metrics text):
 * double from an initial size until the need fits, keep the old buffer on failure; the
 * one hex decoder (configured digests, digests PostgreSQL returns as text); and the one
 * rule for where an HTTP request head ends (the gate and the api's request reader).
 *
 * Threading: the buffer's owner only.
 */
#ifndef DECP_CP_BUF_H
#define DECP_CP_BUF_H

#include <stddef.h>
#include <stdint.h>

/*
 * Make *p (capacity *cap, NULL/0 when empty) hold at least need bytes: capacity doubles
 * from max(*cap, initial). Returns 0, or -ENOMEM with *p and *cap unchanged.
 */
int cp_buf_grow(char **p, size_t *cap, size_t need, size_t initial);

/* n bytes from 2 n hex digits (either case) at hex into out: 0, or -EINVAL at the first
 * pair that is not hex (out partly written). */
int cp_hex_decode(const char *hex, uint8_t *out, size_t n);

/* The end of an HTTP request head in buf[0..n): the offset just after its blank line (a
 * line feed followed by an empty line, CR LF or a bare LF, RFC 9112 §2.2), 0 when it has
 * not arrived yet. */
size_t cp_http_head_end(const char *buf, size_t n);

#endif
