/*
 * dp_test_env.h: drive one dp_stack through its seam in tests and the fuzz target.
 *
 *   - an array packet pool (counts buffers in use: must be 0 after every test);
 *   - a TX capture: every frame the stack emits is copied into a FIFO and its buffer
 *     returned to the pool;
 *   - a recording application (accepted connections, bytes received, FIN, close reason);
 *   - a frame builder for Ethernet/ARP/IPv4/ICMP/TCP and a parser for what comes back;
 *   - a fake clock (env->now, nanoseconds).
 */
#ifndef DP_TEST_ENV_H
#define DP_TEST_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_seam.h"
#include "dp_stack.h"
#include "dp_tcp.h"

#define T_POOL_SIZE 64
#define T_FRAME_MAX 2048
#define T_CAP_MAX   256
#define T_APPS      16
#define T_APP_BYTES (256 * 1024)

#define T_MS 1000000ull
#define T_SEC 1000000000ull

struct t_pool {
	struct dp_pkt pkts[T_POOL_SIZE];
	uint8_t bufs[T_POOL_SIZE][T_FRAME_MAX];
	int free_idx[T_POOL_SIZE];
	int nfree;
	int in_use;
	int fail_alloc; /* when > 0, next allocations fail (decremented) */
};

struct t_frame {
	uint8_t b[T_FRAME_MAX];
	size_t len;
};

/* What the application saw for one accepted connection. */
struct t_app_conn {
	bool used;
	bool open;                /* app holds the handle */
	struct dp_tcp_conn *c;
	struct dp_conn_info info;
	uint8_t *data;            /* T_APP_BYTES */
	size_t len;
	int fins;
	int closes;
	enum dp_close_reason reason;
};

struct t_env {
	struct dp_stack *st;
	struct dp_stack_config cfg;
	uint64_t now;
	struct t_pool pool;
	struct t_frame *cap;      /* T_CAP_MAX frames, kept across re-initialisation */
	int ncap, cap_head;
	int tx_refuse;            /* when > 0, tx_burst takes nothing (decremented per call) */
	/* application behaviour */
	bool refuse_accept;
	bool use_on_fin;          /* false: on_fin NULL, the stack closes for us */
	bool close_on_data;       /* dp_tcp_close from inside on_data */
	bool abort_on_data;
	const char *echo;         /* when set, on_data answers with this string */
	struct t_app_conn apps[T_APPS];
	int accepts;
	bool quiet;               /* fuzz: no capture storage */
};

/* Create env->st with defaults adjusted by tweak (may be NULL). e must be zeroed or a
 * previous env (its application buffers are reused). Returns 0 or -1. */
int t_env_init(struct t_env *e, void (*tweak)(struct dp_stack_config *cfg));
/* Recreate the stack with dp_app_ops.on_fin NULL (the stack closes on the peer's FIN). */
void t_env_set_nofin(struct t_env *e);
/* Destroy the stack and free app buffers. */
void t_env_fini(struct t_env *e);
/* Run timers at env->now + dt. */
void t_advance(struct t_env *e, uint64_t dt_ns);
void t_input(struct t_env *e, const uint8_t *frame, size_t len);

int t_cap_count(const struct t_env *e);
/* Pop the oldest captured frame (NULL when none). */
const struct t_frame *t_cap_pop(struct t_env *e);
void t_cap_clear(struct t_env *e);

/* ---- peers and frames ---- */
struct t_peer {
	uint8_t mac[6];
	uint32_t ip;
	uint16_t port;
	uint16_t dport;
	uint32_t isn;
	uint32_t snd_nxt;     /* next sequence number the peer sends */
	uint32_t rcv_nxt;     /* next sequence number the peer expects from us */
	uint16_t wnd;         /* window field the peer advertises */
	bool ts;              /* peer sends timestamps */
	uint32_t tsval, tsecr;
	int ws;               /* peer window scale offered on SYN, -1 none */
	uint16_t mss;         /* peer MSS option on SYN, 0 none */
	struct t_app_conn *app;
};

void t_peer_init(struct t_peer *p, const struct t_env *e, int n);

/* Build frames into buf (>= T_FRAME_MAX), returning their length. */
size_t t_build_arp(uint8_t *buf, const uint8_t src_mac[6], const uint8_t dst_mac[6], uint16_t op,
		   uint32_t spa, uint32_t tpa);
/* IPv4 with l4 payload; ihl_words 5 normally. */
size_t t_build_ipv4(uint8_t *buf, const uint8_t src_mac[6], const uint8_t dst_mac[6], uint32_t src,
		    uint32_t dst, uint8_t proto, uint16_t frag, uint8_t ihl_words, const void *l4,
		    size_t l4len);
size_t t_build_icmp_echo(uint8_t *buf, const struct t_env *e, const struct t_peer *p, uint16_t id,
			 uint16_t seq, const void *data, size_t len);
/* TCP with explicit options (opts may be NULL). */
size_t t_build_tcp(uint8_t *buf, const struct t_env *e, const struct t_peer *p, uint8_t flags,
		   uint32_t seq, uint32_t ack, uint16_t wnd, const uint8_t *opts, size_t optlen,
		   const void *data, size_t len);

/* Send a TCP segment from p (TS option added when p->ts). */
void t_send(struct t_env *e, struct t_peer *p, uint8_t flags, uint32_t seq, uint32_t ack,
	    const void *data, size_t len);
/* Send in-order data from p (advances p->snd_nxt) with ACK of p->rcv_nxt. */
void t_send_data(struct t_env *e, struct t_peer *p, const void *data, size_t len);
/* Pure ACK of p->rcv_nxt with window p->wnd. */
void t_send_ack(struct t_env *e, struct t_peer *p);

/* A parsed captured frame. */
struct t_seg {
	uint16_t ethertype;
	uint8_t dmac[6], smac[6];
	uint32_t src, dst;
	uint8_t proto;
	bool ip_cksum_ok, l4_cksum_ok;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	const uint8_t *data;
	size_t len;
	uint16_t mss;
	int ws;
	bool has_ts;
	uint32_t tsval, tsecr;
	const uint8_t *l4;
	size_t l4len;
};

bool t_parse(const struct t_frame *f, struct t_seg *s);
/* Pop frames until a TCP one; returns false when none. */
bool t_pop_tcp(struct t_env *e, struct t_seg *s);

/* Full handshake for p (SYN with p's options, SYN-ACK checked, ACK). Returns 0 when the
 * application accepted, -1 otherwise. Sets p->app. */
int t_handshake(struct t_env *e, struct t_peer *p);

/* Receive everything the stack sent to p; ACK it all (updates p->rcv_nxt). Returns bytes. */
size_t t_drain_ack(struct t_env *e, struct t_peer *p);

uint64_t t_stat(const struct t_env *e, const char *name);

#endif /* DP_TEST_ENV_H */
