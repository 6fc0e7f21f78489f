/*
 * cp_ws_guard: runs cp_ws_check on every byte a WebSocket client sends, in front of
 * libwebsockets (docs/fanout.md "Protocol checks").
 *
 * lws 4.1 reads a plain connection with recv(2) and a TLS one with SSL_read(3) and offers
 * no hook before it parses what it read. This module defines recv() and SSL_read() in the
 * program (the dynamic linker binds lws's calls to them first); for a socket attached here
 * they call the real function, then feed exactly the bytes returned (plaintext, for TLS)
 * to the connection's checker before lws sees them. Every other socket (libpq's, ...) is
 * passed straight through after one table look-up.
 *
 * A frame header cut short by a read is held back (not returned) until a later read
 * completes it and the checker accepted it: lws never parses an unchecked header.
 * On a violation the bytes before the offending frame are still returned, nothing from
 * it on ever is, and:
 *   - bad handshake: "HTTP/1.1 400 Bad Request" is written and the read reports end of
 *     stream, so lws closes the connection without upgrading it;
 *   - frame violation: lws_callback_on_writable(wsi); the protocol's writeable callback
 *     asks cp_ws_guard_verdict() and closes with that code (lws_close_reason).
 *
 * Threading: attach/detach/verdict for a socket on the thread that services it (its lws
 * thread); recv/SSL_read from any thread.
 */
#ifndef DECP_CP_WS_GUARD_H
#define DECP_CP_WS_GUARD_H

#include <stdint.h>

struct lws;

/* Start checking fd's stream from its first byte (the HTTP upgrade request), for wsi.
 * max_msg: largest data message accepted. Replaces an earlier attachment of fd.
 * Returns 0, -EBADF (fd beyond the process's file limit), -ENOMEM. */
int cp_ws_guard_attach(int fd, struct lws *wsi, uint64_t max_msg);

/* Stop checking fd and free its state. Unknown fd: no-op. */
void cp_ws_guard_detach(int fd);

/* The verdict on fd so far: 0, or the close code to send (1002, 1009). */
int cp_ws_guard_verdict(int fd);

#endif
