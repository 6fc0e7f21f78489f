/*
 * dp_stack.h: one instance of the userspace TCP/IP stack (server side), per lcore.
 *
 * Layers: Ethernet (dp_eth) -> ARP (dp_arp) | IPv4 (dp_ipv4) -> ICMP echo (dp_icmp) |
 * TCP (dp_tcp*). Everything the instance needs (connection table, send/receive buffers,
 * ARP table, timer wheel) is allocated by dp_stack_create(); afterwards nothing allocates,
 * locks, or makes a system call. Bad input never stops the stack: each rejected frame
 * increments one counter in struct dp_net_stats.
 *
 * Thread: an instance and everything reached through it belongs to one thread. There are
 * no globals: several instances may live in one process (one per lcore).
 *
 * Return convention (docs/conventions.md): pointer or NULL; 0 or negative errno; a count for
 * burst calls; void when the call cannot fail.
 */
#ifndef DP_STACK_H
#define DP_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_net_stats.h"
#include "dp_seam.h"

#define DP_STACK_MAX_LISTEN 8

struct dp_stack_config {
	uint8_t mac[6];          /* our MAC */
	uint32_t ip;             /* our IPv4 address, host order */
	uint32_t netmask;        /* host order; peers outside go through gateway */
	uint32_t gateway;        /* host order; 0 = none (off-link peers then unreachable by ARP) */
	uint16_t mtu;            /* IPv4 MTU, 576..9000 (default 1500) */
	uint16_t listen_ports[DP_STACK_MAX_LISTEN];
	uint8_t n_listen;        /* 1..DP_STACK_MAX_LISTEN */

	uint32_t max_conns;          /* connection table size, 1..1<<20 */
	uint32_t max_conns_per_src;  /* per peer IP, 1..max_conns */
	uint32_t snd_buf;            /* send buffer bytes per connection, power of two 1K..1M */
	uint32_t rcv_buf;            /* receive window / reassembly bytes, power of two 1K..1M */
	uint16_t ooo_ranges;         /* out-of-order ranges held per connection, 1..64 */
	uint8_t wscale;              /* our window-scale shift offered when the peer offers, 0..14 */
	bool timestamps;             /* answer RFC 7323 timestamps when the peer offers them */

	uint64_t rto_init_ns;        /* RFC 6298 initial RTO (1 s) */
	uint64_t rto_min_ns;         /* lower clamp (RFC 6298 says 1 s; a LAN may use less) */
	uint64_t rto_max_ns;         /* upper clamp (>= 60 s per RFC 6298 (2.5); default 60 s) */
	uint32_t max_retries;        /* consecutive RTOs / probes before reset, 1..30 */
	uint64_t time_wait_ns;       /* TIME_WAIT length (short, default 1 s) */
	uint64_t fin_wait2_ns;       /* FIN_WAIT_2 without the peer's FIN: reset after this */
	uint64_t idle_timeout_ns;    /* nothing received for this long: reset; 0 = never */
	uint32_t challenge_ack_per_sec; /* RFC 5961 §7 limit per connection, >= 1 */
	/* RSTs answering segments to a closed port or for no connection (RFC 9293 §3.10.7.1,
	 * §3.10.7.2), per stack instance per second; 0 = never send them (default 200). */
	uint32_t rst_per_sec;
	uint64_t cookie_period_ns;   /* SYN cookie time counter period (default 64 s) */
	uint8_t secret[32];          /* keys: cookie MAC and table hash; caller supplies random */

	uint32_t arp_entries;        /* ARP table slots, power of two 4..65536 */
	uint64_t arp_ttl_ns;         /* entry lifetime without refresh (default 300 s) */
	uint64_t arp_retry_ns;       /* min gap between requests for one address (1 s) */

	uint64_t timer_tick_ns;      /* wheel granularity (default 1 ms) */
	uint32_t timer_slots;        /* wheel slots, power of two (default 4096) */

	bool tx_cksum_offload;       /* leave IPv4/TCP checksums to the NIC (see dp_seam.h) */
};

struct dp_stack;

/* Fill c with defaults (addresses zero, one listen port 0 which is invalid: the caller
 * sets ip, mac, listen_ports and secret). Cannot fail. */
void dp_stack_config_defaults(struct dp_stack_config *c);

/* Create an instance. io and app ops must stay valid for the instance's life; io_ctx and
 * app_ctx are passed back to them. now_ns starts the clock. Returns NULL on invalid
 * config (reason in *err when err != NULL, a static string) or allocation failure. */
struct dp_stack *dp_stack_create(const struct dp_stack_config *cfg, const struct dp_io_ops *io,
				 void *io_ctx, const struct dp_app_ops *app, void *app_ctx,
				 uint64_t now_ns, const char **err);

/* Reset every live connection (RST sent, on_close(DP_CLOSE_STACK_DESTROY) for those the
 * application holds), flush output, free all memory. NULL is ignored. */
void dp_stack_destroy(struct dp_stack *st, uint64_t now_ns);

/* Process one received Ethernet frame of len bytes (borrowed: not kept after return).
 * rx_flags: DP_RX_* checksum-verified hints. Output it causes is transmitted before the
 * call returns. Never fails: rejected frames are counted. */
void dp_stack_input(struct dp_stack *st, const uint8_t *frame, size_t len, uint32_t rx_flags,
		    uint64_t now_ns);

/* Run timers due at now_ns (retransmission, persist, idle, TIME_WAIT, FIN_WAIT_2) and
 * transmit what they produce. Call at least every timer_tick_ns. Returns timers fired. */
unsigned dp_stack_timers_run(struct dp_stack *st, uint64_t now_ns);

/* Counters of this instance (owned by it; read on its thread). */
const struct dp_net_stats *dp_stack_stats(const struct dp_stack *st);

/* Connections in the table (any state other than closed), including TIME_WAIT. */
uint32_t dp_stack_conns_in_use(const struct dp_stack *st);

/* Timers armed in the wheel (for tests and invariant checks). */
uint32_t dp_stack_timers_armed(const struct dp_stack *st);

/* Look up an ARP entry; returns 0 and fills mac when ip has a live entry, else -ENOENT. */
int dp_stack_arp_lookup(const struct dp_stack *st, uint32_t ip, uint8_t mac[6]);

#endif /* DP_STACK_H */
