/*
 * dp_icmp.h: ICMP echo (internal to dataplane/net/). Echo requests are answered to the
 * requester's L2 source; every other ICMP message is counted and ignored.
 */
#ifndef DP_ICMP_H
#define DP_ICMP_H

struct dp_stack;
struct dp_rx;

void dp_icmp_input(struct dp_stack *st, const struct dp_rx *rx);

#endif /* DP_ICMP_H */
