/*
 * dp_seam.h: the only door between the userspace TCP/IP stack and the world.
 *
 * The stack (dp_stack and everything under dataplane/net/) never includes a DPDK or OS
 * header. Whoever embeds it (the DPDK worker loop, a unit test, the fuzz target) provides:
 *
 *   - a packet pool and a transmit burst (struct dp_io_ops): the stack allocates a buffer
 *     for every frame it emits, fills it, and hands it to tx_burst; the DPDK glue wraps
 *     rte_mbuf, tests use a plain array;
 *   - the clock: every entry point takes now_ns, a monotonic nanosecond count chosen by
 *     the caller (TSC converted, or a fake clock in tests); the stack never reads a clock;
 *   - the application (struct dp_app_ops): accept/refuse, in-order bytes, end of stream,
 *     and the final close notification.
 *
 * Received frames are borrowed, not owned: dp_stack_input() reads the bytes and copies what
 * it must keep (out-of-order data) into per-connection buffers sized at init, so the caller
 * frees its RX buffer as soon as the call returns.
 *
 *     caller (DPDK lcore / test)                     stack instance (one per lcore)
 *     ---------------------------                    ------------------------------
 *     rx burst ── frame bytes, now_ns ──────────────▶ dp_stack_input()
 *     timer tick ── now_ns ─────────────────────────▶ dp_stack_timers_run()
 *     pkt_alloc / tx_burst / pkt_free  ◀──────────── output (ARP, ICMP, TCP)
 *     app: on_accept / on_data / on_fin / on_close ◀─ TCP
 *     app: dp_tcp_send / dp_tcp_close ──────────────▶ TCP
 *
 * Threading: one stack instance is used by exactly one thread; callbacks run on that
 * thread, synchronously, from inside the entry point that caused them.
 */
#ifndef DP_SEAM_H
#define DP_SEAM_H

#include <stddef.h>
#include <stdint.h>

/* Offload requests the stack sets on a TX packet when the config asks for checksum
 * offload; the glue maps them to its NIC flags. Without offload the stack fills every
 * checksum itself and leaves ol_flags zero. */
#define DP_PKT_OL_IPV4_CKSUM 0x1u /* IPv4 header checksum left 0 for the NIC */
#define DP_PKT_OL_TCP_CKSUM  0x2u /* TCP checksum holds only the pseudo-header sum */

/* Flags the caller passes with a received frame when its NIC already verified checksums. */
#define DP_RX_IPV4_CKSUM_GOOD 0x1u
#define DP_RX_L4_CKSUM_GOOD   0x2u

/* One transmit buffer. data points at cap writable bytes; the stack writes the frame from
 * data[0] and sets len. opaque belongs to the pool. A DPDK glue keeps one struct dp_pkt in
 * each rte_mbuf's private area (opaque = the mbuf, data = its data pointer, cap = its
 * tailroom) and, in tx_burst, sets data_len/pkt_len from len and the offload fields from
 * ol_flags, l2_len and l3_len before rte_eth_tx_burst. */
struct dp_pkt {
	uint8_t *data;
	uint16_t len;
	uint16_t cap;
	uint32_t ol_flags;
	uint16_t l2_len; /* header lengths, set with ol_flags for the offload glue */
	uint16_t l3_len;
	void *opaque;
};

struct dp_io_ops {
	/* Return a free buffer with cap >= the stack's frame size (config mtu + 14), or NULL
	 * when the pool is empty (the stack counts tx_pool_empty and skips that frame). */
	struct dp_pkt *(*pkt_alloc)(void *io);
	/* Give back a buffer the stack allocated but did not transmit. */
	void (*pkt_free)(void *io, struct dp_pkt *pkt);
	/* Transmit up to n frames; return how many were taken (their ownership passes to the
	 * callee). The stack frees the rest and counts them as tx_dropped. */
	uint16_t (*tx_burst)(void *io, struct dp_pkt **pkts, uint16_t n);
};

struct dp_tcp_conn; /* opaque; see dp_tcp.h */

/* Why the stack ended a connection the application still held (on_close). */
enum dp_close_reason {
	DP_CLOSE_PEER_FIN = 1,   /* peer closed and on_fin is NULL: the stack closed our side */
	DP_CLOSE_PEER_RESET,     /* valid RST received (RFC 5961 §3.2 exact match) */
	DP_CLOSE_IDLE,           /* nothing received for config idle_timeout_ns */
	DP_CLOSE_RETRANS_LIMIT,  /* our data went unacknowledged through max_retries RTOs */
	DP_CLOSE_STACK_DESTROY,  /* dp_stack_destroy with the connection still open */
};

/* Peer/local addresses in host byte order. */
struct dp_conn_info {
	uint32_t peer_ip;
	uint32_t local_ip;
	uint16_t peer_port;
	uint16_t local_port;
	uint16_t mss;       /* effective send MSS (payload bytes per segment) */
	uint8_t wscale_ok;  /* window scale negotiated */
	uint8_t ts_ok;      /* timestamps negotiated */
};

struct dp_app_ops {
	/* A new connection passed the SYN-cookie check. Return the application's context for
	 * it, or NULL to refuse (the stack answers RST and counts tcp_app_refused). */
	void *(*on_accept)(void *app, struct dp_tcp_conn *c, const struct dp_conn_info *info);
	/* In-order bytes, each exactly once, never after on_fin/on_close. data is valid only
	 * during the call. The application may call dp_tcp_send/dp_tcp_close from here. */
	void (*on_data)(void *ctx, struct dp_tcp_conn *c, const uint8_t *data, size_t len);
	/* The peer finished sending (FIN, in order). The connection stays open for our sends
	 * until the application calls dp_tcp_close. May be NULL: then the stack closes our
	 * side itself and calls on_close(DP_CLOSE_PEER_FIN). */
	void (*on_fin)(void *ctx, struct dp_tcp_conn *c);
	/* The stack ended a connection the application had not closed. Called at most once
	 * per accepted connection; after it returns the handle c is invalid. Not called for
	 * connections the application closed or aborted itself. */
	void (*on_close)(void *ctx, struct dp_tcp_conn *c, enum dp_close_reason reason);
};

#endif /* DP_SEAM_H */
