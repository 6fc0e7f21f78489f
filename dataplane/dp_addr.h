/*
 * dp_addr: "ADDR:PORT" command-line addresses, shared by decp-dataplane (--listen) and
 * decp-master (--connect). Numeric only (no DNS at start-up): "127.0.0.1:7000",
 * "[::1]:7000" (brackets optional for IPv6: the last ':' separates the port).
 */
#ifndef DECP_DP_ADDR_H
#define DECP_DP_ADDR_H

#include <stddef.h>
#include <stdint.h>

/*
 * Split s into addr (NUL-terminated, cap bytes) and *port, port in min_port..65535.
 * Returns 0, or -EINVAL with a short reason in *why ("expected ADDR:PORT", "not a numeric
 * address", "port out of range") for the caller's error message.
 */
int dp_hostport_parse(const char *s, char *addr, size_t cap, uint16_t *port,
		      unsigned int min_port, const char **why);

#endif
