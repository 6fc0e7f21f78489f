/*
 * cp_buf: the one growth rule of the control plane's growable byte buffers (the edge's
 * RESP pipeline, the archiver's COPY text, the api's request bodies, /metrics text):
 * double from an initial size until the need fits, keep the old buffer on failure; and the
 * one hex decoder (configured digests, digests PostgreSQL returns as text), and CP_STR, a
 * numeric macro's value as a string literal in the text of a script or statement.
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

/* CP_STR(CP_REDIS_LIB_VERSION) is "2": the macro expanded, then quoted */
#define CP_STR_(x) #x
#define CP_STR(x) CP_STR_(x)

#endif
