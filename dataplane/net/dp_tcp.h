/*
 * dp_tcp.h: the application's side of a TCP connection (server side only).
 *
 * Connections appear through dp_app_ops.on_accept and are identified by the opaque
 * struct dp_tcp_conn pointer until the application closes or aborts them, or until the
 * stack calls on_close. All functions must be called on the stack's thread; they may be
 * called from inside the stack's callbacks.
 */
#ifndef DP_TCP_H
#define DP_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "dp_seam.h"

struct dp_stack;

/* Copy up to len bytes into c's send buffer and transmit what the peer's window allows.
 * Returns the number of bytes queued (< len when the buffer filled: counted tcp_send_full),
 * -EPIPE when our side is already closed, -EINVAL for a NULL/unknown handle. Bytes
 * queued are delivered reliably unless the connection is later reset. */
int dp_tcp_send(struct dp_stack *st, struct dp_tcp_conn *c, const void *data, size_t len,
		uint64_t now_ns);

/* Free bytes in c's send buffer (0 once our side is closed). */
size_t dp_tcp_send_space(const struct dp_tcp_conn *c);

/* Graceful close: queued data is still sent, then FIN. The handle is invalid after the
 * call and no further callback mentions it. Returns 0 or -EINVAL. */
int dp_tcp_close(struct dp_stack *st, struct dp_tcp_conn *c, uint64_t now_ns);

/* Abortive close: RST now, queued data discarded, connection freed. The handle is invalid
 * after the call. Returns 0 or -EINVAL. */
int dp_tcp_abort(struct dp_stack *st, struct dp_tcp_conn *c, uint64_t now_ns);

/* Addresses and negotiated options of c. */
void dp_tcp_conn_info(const struct dp_tcp_conn *c, struct dp_conn_info *info);

/* Printable state name of c ("ESTABLISHED", ...), for logs and tests. */
const char *dp_tcp_conn_state_name(const struct dp_tcp_conn *c);

#endif /* DP_TCP_H */
