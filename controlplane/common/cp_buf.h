/*
 * cp_buf: the one growth rule of the control plane's growable byte buffers (the edge's
 * RESP pipeline, the archiver's COPY text, the api's request bodies, /metrics text):
 * double from an initial size until the need fits, keep the old buffer on failure.
 *
 * Threading: the buffer's owner only.
 */
#ifndef DECP_CP_BUF_H
#define DECP_CP_BUF_H

#include <stddef.h>

/*
 * Make *p (capacity *cap, NULL/0 when empty) hold at least need bytes: capacity doubles
 * from max(*cap, initial). Returns 0, or -ENOMEM with *p and *cap unchanged.
 */
int cp_buf_grow(char **p, size_t *cap, size_t need, size_t initial);

#endif
