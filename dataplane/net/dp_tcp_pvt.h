/*
 * dp_tcp_pvt.h: TCP connection state, shared by dp_tcp.c (table, states, application
 * API), dp_tcp_input.c (segment arrival), dp_tcp_output.c (segments we send),
 * dp_tcp_reass.c (out-of-order queue) and dp_tcp_timer.c (RTO, persist, life timers).
 *
 * Server side only. LISTEN is not a connection: a SYN to a listening port is answered
 * with a SYN cookie and forgotten, and the handshake's final ACK creates the connection
 * directly in ESTABLISHED. SYN_SENT and SYN_RECEIVED therefore never exist.
 *
 *   (listening port)                      dp_tcp_close
 *   SYN -> SYN-ACK(cookie)        +-------------------------------+
 *   ACK(valid cookie)             |                               v
 *        |                 +-------------+  rcv FIN  +------------+ dp_tcp_close +----------+
 *        +---------------->| ESTABLISHED |---------->| CLOSE_WAIT |------------->| LAST_ACK |
 *                          +-------------+ (on_fin)  +------------+  snd FIN     +----------+
 *                                 | dp_tcp_close              (on_fin NULL: at once)   | rcv ACK
 *                                 v snd FIN                                           v of FIN
 *                          +------------+  rcv FIN, snd ACK  +---------+           CLOSED
 *                          | FIN_WAIT_1 |------------------->| CLOSING |
 *                          +------------+                    +---------+
 *                                 | rcv ACK of FIN                | rcv ACK of FIN
 *                                 v                               v
 *                          +------------+  rcv FIN, snd ACK  +-----------+ time_wait_ns
 *                          | FIN_WAIT_2 |------------------->| TIME_WAIT |-------------> CLOSED
 *                          +------------+                    +-----------+
 *   FIN_WAIT_1 with FIN+ACK of our FIN in one segment goes straight to TIME_WAIT.
 *   Any state: valid RST, retransmission limit, idle timeout (ESTABLISHED, CLOSE_WAIT),
 *   FIN_WAIT_2 timeout, dp_tcp_abort -> CLOSED.
 *
 * Transition table (every change goes through dp_tcp_set_state()):
 *
 *   from          event                                   to           action
 *   ------------  --------------------------------------  -----------  ---------------------
 *   (none)        ACK with valid cookie, room, app accepts ESTABLISHED on_accept
 *   ESTABLISHED   FIN in order                            CLOSE_WAIT   ACK, on_fin
 *   ESTABLISHED   dp_tcp_close                            FIN_WAIT_1   FIN after queued data
 *   CLOSE_WAIT    dp_tcp_close (or on_fin NULL)           LAST_ACK     FIN after queued data
 *   LAST_ACK      ACK of our FIN                          CLOSED       free
 *   FIN_WAIT_1    ACK of our FIN                          FIN_WAIT_2   arm fin_wait2_ns
 *   FIN_WAIT_1    FIN in order, our FIN not acked         CLOSING      ACK
 *   FIN_WAIT_1    FIN in order and ACK of our FIN         TIME_WAIT    ACK, arm time_wait_ns
 *   FIN_WAIT_2    FIN in order                            TIME_WAIT    ACK, arm time_wait_ns
 *   CLOSING       ACK of our FIN                          TIME_WAIT    arm time_wait_ns
 *   TIME_WAIT     FIN retransmitted                       TIME_WAIT    ACK, re-arm
 *   TIME_WAIT     time_wait_ns elapsed                    CLOSED       free
 *   any           RST with SEG.SEQ == RCV.NXT             CLOSED       on_close(PEER_RESET)
 *   any           max_retries RTOs/probes unanswered      CLOSED       RST, on_close(RETRANS)
 *   ESTAB/CLOSE_W idle_timeout_ns without input           CLOSED       RST, on_close(IDLE)
 *   FIN_WAIT_2    fin_wait2_ns without the peer's FIN     CLOSED       RST
 *   any           dp_tcp_abort / dp_stack_destroy         CLOSED       RST
 *
 * Invariants checked by dp_tcp_assert_state():
 *   all synchronized states: SND.UNA <= SND.NXT <= SND.MAX, snd_len <= snd_buf,
 *     SND.MAX - SND.UNA <= snd_len + fin_sent, OOO ranges sorted, disjoint, inside window;
 *   ESTABLISHED, CLOSE_WAIT: !fin_queued (we have not closed);
 *   CLOSE_WAIT, LAST_ACK, CLOSING, TIME_WAIT: peer's FIN received (rcv_fin);
 *   FIN_WAIT_1, CLOSING, LAST_ACK: fin_queued;  FIN_WAIT_2, TIME_WAIT: our FIN acked;
 *   TIME_WAIT: no application attached, no data queued, life timer armed.
 */
#ifndef DP_TCP_PVT_H
#define DP_TCP_PVT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_seam.h"
#include "dp_tcp.h"
#include "dp_timer.h"

struct dp_stack;
struct dp_rx;

enum dp_tcp_state {
	DP_TCP_CLOSED = 0,   /* slot free */
	DP_TCP_ESTABLISHED,
	DP_TCP_CLOSE_WAIT,
	DP_TCP_LAST_ACK,
	DP_TCP_FIN_WAIT_1,
	DP_TCP_FIN_WAIT_2,
	DP_TCP_CLOSING,
	DP_TCP_TIME_WAIT,
	DP_TCP_NSTATES
};

enum dp_tcp_timer_kind {
	DP_TCP_TIMER_RTX = 1,   /* retransmission or (window zero, nothing in flight) persist */
	DP_TCP_TIMER_LIFE,      /* idle timeout, FIN_WAIT_2 timeout, TIME_WAIT expiry */
};

struct dp_tcp_range {
	uint32_t start, end; /* [start, end) in sequence space */
};

#define DP_TCP_NONE UINT32_MAX

struct dp_tcp_conn {
	/* identity and lookup */
	uint32_t peer_ip, local_ip;
	uint16_t peer_port, local_port;
	uint32_t hnext;          /* next index in the hash chain or free list */
	uint32_t src_idx;        /* per-source counter entry */
	uint8_t state;           /* enum dp_tcp_state */
	bool app_attached;       /* the application holds the handle */
	bool in_input;           /* segment processing under way: defer output */
	bool need_ack;           /* send an ACK when processing ends */
	bool abort_pending;      /* dp_tcp_abort (or data after close) during input: reset at end */
	uint8_t peer_mac[6];     /* L2 source of the peer's frames: ARP fallback */
	void *app_ctx;

	/* send side (RFC 9293 §3.3.1 names) */
	uint32_t iss, snd_una, snd_nxt, snd_max;
	uint32_t snd_wnd, snd_wl1, snd_wl2, max_snd_wnd;
	uint8_t snd_wscale, rcv_wscale;
	bool ws_ok;              /* window scaling negotiated (RFC 7323 §2.2) */
	uint16_t mss;            /* payload bytes per segment we send (options excluded) */
	uint8_t *sndbuf;         /* ring of cfg.snd_buf bytes; snd_head holds SND.UNA's byte */
	uint32_t snd_head, snd_len;
	bool fin_queued;         /* the application closed: FIN follows the queued data */
	bool fin_sent;           /* FIN occupies SND.UNA + snd_len (sent at least once) */
	bool fin_acked;
	uint8_t dupacks;

	/* receive side */
	uint32_t irs, rcv_nxt, rcv_wnd;
	uint32_t rcv_adv;        /* right edge advertised: never moved left (RFC 9293 §3.8.6) */
	bool rcv_fin;            /* FIN received in order */
	bool ooo_fin;            /* FIN seen out of order at ooo_fin_seq */
	uint32_t ooo_fin_seq;
	uint8_t *rcvbuf;         /* ring of cfg.rcv_buf bytes indexed by seq & mask */
	struct dp_tcp_range *ooo;
	uint16_t n_ooo;

	/* RFC 7323 timestamps */
	bool ts_ok;
	uint32_t ts_recent;

	/* RFC 6298 */
	uint64_t srtt_ns, rttvar_ns, rto_ns;
	bool rtt_active;         /* timing one segment (Karn: never a retransmitted one) */
	uint32_t rtt_seq;
	uint64_t rtt_start_ns;
	uint32_t retries;        /* consecutive RTOs or unanswered probes */
	bool persist;            /* rtx_timer is the persist timer (RFC 9293 §3.8.6.1) */
	uint64_t persist_ns;     /* current probe interval, doubled per probe */

	struct dp_timer rtx_timer;
	struct dp_timer life_timer;
	uint64_t last_rx_ns;

	/* RFC 5961 §7 challenge ACK limit */
	uint64_t chack_window_ns;
	uint32_t chack_count;
};

struct dp_tcp_src {
	uint32_t ip;
	uint32_t count;
	uint32_t next;           /* chain or free list */
};

struct dp_tcp_table {
	struct dp_tcp_conn *conns;
	uint32_t max;
	uint32_t in_use;
	uint32_t free_head;
	uint32_t *buckets;       /* heads of hash chains */
	uint32_t bmask;
	struct dp_tcp_src *srcs; /* one per possible connection */
	uint32_t *src_buckets;
	uint32_t src_free;
	uint8_t *bufmem;         /* snd_buf + rcv_buf per connection */
	struct dp_tcp_range *ooomem;
};

/* dp_tcp.c */
int dp_tcp_table_init(struct dp_stack *st);
void dp_tcp_table_fini(struct dp_stack *st);
struct dp_tcp_conn *dp_tcp_lookup(struct dp_stack *st, uint32_t peer_ip, uint16_t peer_port,
				  uint32_t local_ip, uint16_t local_port);
/* Allocate a connection for the tuple; returns NULL when the table is full (-ENOSPC) or
 * the source is at its limit (-EMFILE), with the reason in *err. */
struct dp_tcp_conn *dp_tcp_conn_alloc(struct dp_stack *st, uint32_t peer_ip, uint16_t peer_port,
				      uint32_t local_ip, uint16_t local_port, int *err);
/* The single place a state changes. */
void dp_tcp_set_state(struct dp_stack *st, struct dp_tcp_conn *c, enum dp_tcp_state to);
/* Free c: timers off, table and source counts released, slot returned. When the
 * application still holds c and reason != 0, on_close(reason) is called first. */
void dp_tcp_conn_free(struct dp_stack *st, struct dp_tcp_conn *c, enum dp_close_reason reason);
void dp_tcp_assert_state(const struct dp_stack *st, const struct dp_tcp_conn *c);
const char *dp_tcp_state_name(enum dp_tcp_state s);

/* dp_tcp_input.c */
void dp_tcp_input(struct dp_stack *st, const struct dp_rx *rx);

/* dp_tcp_reass.c: data of an acceptable segment, already trimmed to the window. */
void dp_tcp_reass_data(struct dp_stack *st, struct dp_tcp_conn *c, uint32_t seq,
		       const uint8_t *data, uint32_t len);
/* Drop everything queued (connection leaving the data states). */
void dp_tcp_reass_clear(struct dp_tcp_conn *c);

/* dp_tcp_output.c */
/* Send new data and FIN as the window allows; arms RTO / persist. */
void dp_tcp_output(struct dp_stack *st, struct dp_tcp_conn *c);
/* Send one segment from the send buffer: seq, len bytes, flags (ACK always added). */
void dp_tcp_xmit(struct dp_stack *st, struct dp_tcp_conn *c, uint32_t seq, uint32_t len,
		 uint8_t flags);
/* Length (and FIN flag into *fin) of the segment to retransmit from SND.UNA. */
uint32_t dp_tcp_rexmit_len(const struct dp_tcp_conn *c, uint8_t *fin);
void dp_tcp_send_ack(struct dp_stack *st, struct dp_tcp_conn *c);
/* RFC 5961 §7 challenge ACK, rate limited per connection. */
void dp_tcp_send_challenge_ack(struct dp_stack *st, struct dp_tcp_conn *c);
/* RST on a connection (SEQ = SND.NXT). */
void dp_tcp_send_rst(struct dp_stack *st, struct dp_tcp_conn *c);
/* Stateless replies to a received segment (th = its TCP header). */
void dp_tcp_reply_rst(struct dp_stack *st, const struct dp_rx *rx, uint32_t seq, uint32_t ack,
		      uint8_t flags);
void dp_tcp_reply_synack(struct dp_stack *st, const struct dp_rx *rx, uint32_t iss,
			 uint32_t peer_seq, bool wscale, bool ts, uint32_t ts_echo);
/* Our TSval: milliseconds of the stack clock. */
uint32_t dp_tcp_ts_now(const struct dp_stack *st);
/* Window we advertise, unscaled bytes. */
uint32_t dp_tcp_rcv_window(const struct dp_stack *st, const struct dp_tcp_conn *c);

/* dp_tcp_timer.c */
void dp_tcp_timer_fire(struct dp_stack *st, struct dp_timer *t);
void dp_tcp_rtx_arm(struct dp_stack *st, struct dp_tcp_conn *c);
void dp_tcp_rtx_cancel(struct dp_stack *st, struct dp_tcp_conn *c);
void dp_tcp_persist_arm(struct dp_stack *st, struct dp_tcp_conn *c);
void dp_tcp_rtt_sample(struct dp_stack *st, struct dp_tcp_conn *c, uint64_t rtt_ns);
/* Arm the life timer for the current state (idle, FIN_WAIT_2, TIME_WAIT, or none). */
void dp_tcp_life_arm(struct dp_stack *st, struct dp_tcp_conn *c);

#endif /* DP_TCP_PVT_H */
