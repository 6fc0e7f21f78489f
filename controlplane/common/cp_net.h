/*
 * cp_net: listening sockets the roles open themselves rather than through lws (the api's
 * one listener shared by its worker threads; the fan-out's SO_REUSEPORT listener shared
 * with other processes), so the rules for them exist once: IPv4, non-blocking,
 * close-on-exec, SO_REUSEADDR.
 *
 * Threading: any thread.
 */
#ifndef DECP_CP_NET_H
#define DECP_CP_NET_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Listen on addr:port (dotted IPv4; port 0 = any free one). reuse_port: also
 * SO_REUSEPORT, so several processes share the port (the kernel spreads new connections).
 * *bound (may be NULL) receives the port actually bound. Returns the descriptor, or
 * -EINVAL (addr is not an IPv4 address) or the -errno of socket/setsockopt/bind/listen.
 */
int cp_net_listen(const char *addr, uint32_t port, bool reuse_port, int backlog, int *bound);

#endif
