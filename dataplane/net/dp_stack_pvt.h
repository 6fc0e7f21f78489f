/*
 * dp_stack_pvt.h: the stack instance's inside, shared by the modules of dataplane/net/.
 * Not for users of the stack: they see dp_stack.h, dp_tcp.h and dp_seam.h only.
 */
#ifndef DP_STACK_PVT_H
#define DP_STACK_PVT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_arp.h"
#include "dp_eth.h"
#include "dp_icmp.h"
#include "dp_ipv4.h"
#include "dp_net_stats.h"
#include "dp_seam.h"
#include "dp_siphash.h"
#include "dp_stack.h"
#include "dp_tcp_pvt.h"
#include "dp_timer.h"

#define DP_TXQ_MAX 32

struct dp_stack {
	struct dp_stack_config cfg;
	struct dp_io_ops io;
	void *io_ctx;
	struct dp_app_ops app;
	void *app_ctx;
	uint64_t now_ns;          /* clock of the current entry point */
	struct dp_net_stats stats;
	struct dp_siphash_key cookie_key;
	struct dp_siphash_key hash_key;
	uint16_t ip_id;
	uint16_t ntx;
	struct dp_pkt *txq[DP_TXQ_MAX];
	struct dp_arp_table arp;
	struct dp_timer_wheel wheel;
	struct dp_timer **wheel_slots;
	struct dp_tcp_table tcp;
	uint64_t rst_window_ns;   /* start of the current second of rst_per_sec */
	uint32_t rst_in_window;   /* RSTs for closed ports / no connection sent in it */
};

/* A TX buffer of at least 14 + mtu bytes, or NULL (counted tx_pool_empty). */
struct dp_pkt *dp_stack_pkt_alloc(struct dp_stack *st);
/* Queue pkt for transmission (flushes when the queue is full). Takes ownership. */
void dp_stack_tx(struct dp_stack *st, struct dp_pkt *pkt);
/* Hand queued frames to tx_burst; free and count what it refuses. */
void dp_stack_tx_flush(struct dp_stack *st);
/* Set st->now_ns monotonically (a clock going backwards is held, not followed). */
void dp_stack_clock(struct dp_stack *st, uint64_t now_ns);

#endif /* DP_STACK_PVT_H */
