/* dp_dpdk_loop: DPDK worker lcores driving dp_stack + dp_session. Contract in
 * dp_dpdk_loop.h. */
#define _LGPL_SOURCE
#include "dp_dpdk_loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <time.h>

#include <rte_cycles.h>
#include <rte_epoll.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <urcu/urcu-qsbr.h>

#include "dp_hist.h"
#include "dp_stack.h"
#include "dp_tcp.h"

#define RX_BURST 32
#define TX_BUF 256
#define TX_RETRIES 8
#define ACK_BUDGET 1024
#define TICK_NS (50ull * 1000000ull)
#define STACK_TIMER_NS (100ull * 1000ull)
#define CLOSING_GRACE_NS (1000ull * 1000000ull)
#define PUBLISH_NS (1000ull * 1000ull)
/* Adaptive polling: the worker sleeps, at most SLEEP_MAX_NS at a time (stack timers and
 * the 1 ms counter publication run on each wake), on the queue's RX interrupt when the
 * port has one, once it has seen neither a frame nor an ACK record for IDLE_CLEAR_NS and
 * owes no ACK (every signal it enqueued was answered by an ACK record): nothing can come
 * then but a frame, which the interrupt announces.
 * While it owes ACKs it polls the ACK ring, which raises no interrupt, but does not spin
 * for them: after OWED_SPIN_NS idle it naps OWED_NAP_NS at a time, so the core is free for
 * the control plane that produces the ACK. On a 2-core machine a worker spinning from a
 * signal to its ACK took the core the edge and Redis needed: the demo's ACK p50 was
 * ~20 ms on dpdk against 0.8 ms on posix (its workers sleep in epoll), and the slower ACKs
 * kept the worker owing, so spinning, for good. A worker that owes for IDLE_OWED_NS (an
 * ACK the control plane never sends: a restart) sleeps as when it owes nothing. */
#define IDLE_CLEAR_NS (200ull * 1000ull)
#define OWED_SPIN_NS (20ull * 1000ull)
#define OWED_NAP_NS (30ull * 1000ull)
#define IDLE_OWED_NS (10ull * 1000000ull)
#define SLEEP_MAX_NS (1000ull * 1000ull)

/* Transport counters of one worker (the stack's own are in struct dp_net_stats). */
#define DPDK_CTRS(X) \
	X(rx_multiseg,      "received frames in more than one mbuf (dropped)") \
	X(tx_nic_dropped,   "frames the port refused after retries (freed)") \
	X(rx_overflow,      "sessions closed: bytes arrived while the reply buffer was full") \
	X(closing_timeout,  "CLOSING sessions whose last replies could not be sent in 1 s") \
	X(busy_ns,          "time in poll iterations that had RX frames or ACK records") \
	X(busy_iters,       "poll iterations that had RX frames or ACK records") \
	X(idle_iters,       "poll iterations with nothing to do") \
	X(conns_in_use,     "gauge: the stack's connection table entries in use") \
	X(mbufs_in_use,     "gauge: mbufs of the port's pool in use (worker 0 only)") \
	X(poll_adaptive,    "gauge: 1 = adaptive polling (sleeps when idle), 0 = busy polling") \
	X(poll_rx_intr,     "gauge: 1 = idle sleeps wake on the RX interrupt, 0 = timed pauses") \
	X(poll_sleeps,      "idle sleeps (adaptive polling)") \
	X(poll_sleep_ns,    "time asleep in idle sleeps and naps") \
	X(poll_naps,        "naps while ACKs were owed (adaptive polling)")

struct dpdk_ctrs {
#define X(n, t) uint64_t n;
	DPDK_CTRS(X)
#undef X
};

struct dconn {
	struct dp_tcp_conn *tc;     /* NULL once the stack ended it or we closed it */
	uint32_t gen;
	uint8_t in_use;
	uint8_t kicked;             /* on kick_list */
	uint8_t peer_fin;           /* peer finished: close once our output is flushed */
	uint64_t closing_since;
	struct dp_session s;
	struct dp_tls_conn t;       /* TCP bytes <-> session bytes (TLS or plain) */
};

/* TSC -> CLOCK_MONOTONIC / CLOCK_REALTIME, per worker (share-nothing). Anchored at start
 * with rte_get_tsc_hz(), then re-anchored every session tick (50 ms) with the ns-per-cycle
 * factor measured over the last period: rte_get_tsc_hz() was ~0.05 % off in this VM, which
 * made the TSC clock drift ~0.5 ms per second from CLOCK_MONOTONIC and CLOCK_REALTIME.
 * The session layer stamps enqueues and ACK polls with this clock too (op_now), so the
 * per-signal clock read is an rdtsc, not a clock_gettime. */
struct dclock {
	uint64_t tsc0;
	uint64_t mono0;
	int64_t wall0;
	uint64_t mult;              /* ns per cycle << 32 */
};

struct dworker {
	struct dp_dpdk *d;
	struct dclock clk;
	unsigned int id;
	unsigned int lcore;
	uint16_t port;
	uint16_t queue;
	struct rte_mempool *pool;
	struct dp_stack *stack;
	struct dp_worker w;
	struct dconn *conns;
	uint32_t *free_list;
	uint32_t n_free;
	uint32_t *kick_list;
	uint32_t n_kick;
	uint64_t now_ns;            /* monotonic ns of the current burst */
	int64_t wall_ns;            /* Server_Arrival_Time of the current burst */
	uint16_t n_tx;
	struct rte_mbuf *tx[TX_BUF];
	struct dpdk_ctrs ctr;
	struct dp_net_stats final;  /* stack counters copied before dp_stack_destroy */
	bool adaptive;              /* --poll adaptive (resolved) */
	uint64_t acks_in;           /* ACK records taken from the ACK ring (adaptive polling:
				     * signals enqueued beyond these are owed an ACK) */
	bool rx_intr;               /* this worker's queue wakes it by interrupt */
	int launched;
	int worker_ok;
};

struct dp_dpdk {
	struct dp_dpdk_cfg cfg;
	struct dp_dpdk_port *port;
	struct dp_shm *shm;
	struct dp_tables *tables;
	atomic_int running;
	int joined;
	uint64_t tsc_mult;          /* ns per cycle << 32 from rte_get_tsc_hz() */
	struct dp_login_limiter login;
	unsigned int n_workers;
	struct dworker *wk[DP_SHM_MAX_WORKERS];
};

/* ------------------------------------------------------------------ clock */

static uint64_t tsc_to_mono(const struct dclock *k, uint64_t tsc)
{
	return k->mono0 + (uint64_t)(((unsigned __int128)(tsc - k->tsc0) * k->mult) >> 32);
}

/* Take one (TSC, CLOCK_MONOTONIC, CLOCK_REALTIME) triple as the new anchor. The clocks are
 * read between two TSC readings; a pair further apart than ~20 us (the thread was
 * interrupted) is not used for the rate. vDSO clock reads: no system call. */
static void clock_anchor(struct dclock *k, uint64_t hz_mult)
{
	uint64_t t0 = rte_rdtsc();
	uint64_t mono = dp_mono_ns();
	int64_t wall = dp_wall_ns();
	uint64_t t1 = rte_rdtsc();
	uint64_t tsc = t0 + (t1 - t0) / 2;
	uint64_t gap_ns = (uint64_t)(((unsigned __int128)(t1 - t0) * hz_mult) >> 32);
	if (k->mult == 0) {
		k->mult = hz_mult;
	} else if (gap_ns < 20000 && mono > k->mono0 + 10000000ull && tsc > k->tsc0) {
		uint64_t m = (uint64_t)(((unsigned __int128)(mono - k->mono0) << 32) / (tsc - k->tsc0));
		/* Accept a measured rate within 1 % of the nominal one (guards a bad sample). */
		if (m > hz_mult - hz_mult / 100 && m < hz_mult + hz_mult / 100)
			k->mult = m;
	} else if (gap_ns >= 20000) {
		return; /* keep the old anchor, try again next tick */
	}
	k->tsc0 = tsc;
	k->mono0 = mono;
	k->wall0 = wall;
}

/* Nanoseconds since t_begin (same iteration); 0 if a re-anchor moved the clock back. */
static uint64_t since(const struct dworker *dw, uint64_t t_begin)
{
	uint64_t now = tsc_to_mono(&dw->clk, rte_rdtsc());
	return now > t_begin ? now - t_begin : 0;
}

static void stamp(struct dworker *dw)
{
	dw->now_ns = tsc_to_mono(&dw->clk, rte_rdtsc());
	dw->wall_ns = dw->clk.wall0 + (int64_t)(dw->now_ns - dw->clk.mono0);
}

/* ------------------------------------------------------------------ packet I/O (seam) */

static struct dp_pkt *io_alloc(void *io)
{
	struct dworker *dw = io;
	struct rte_mbuf *m = rte_pktmbuf_alloc(dw->pool);
	if (m == NULL)
		return NULL;
	struct dp_pkt *p = rte_mbuf_to_priv(m);
	p->data = rte_pktmbuf_mtod(m, uint8_t *);
	p->cap = rte_pktmbuf_tailroom(m);
	p->len = 0;
	p->ol_flags = 0;
	p->l2_len = p->l3_len = 0;
	p->opaque = m;
	return p;
}

static void io_free(void *io, struct dp_pkt *p)
{
	(void)io;
	rte_pktmbuf_free(p->opaque);
}

static void tx_flush(struct dworker *dw)
{
	uint16_t sent = 0;
	for (int tries = 0; sent < dw->n_tx && tries < TX_RETRIES; tries++)
		sent += rte_eth_tx_burst(dw->port, dw->queue, dw->tx + sent, dw->n_tx - sent);
	if (sent < dw->n_tx) {
		dw->ctr.tx_nic_dropped += dw->n_tx - sent;
		rte_pktmbuf_free_bulk(dw->tx + sent, dw->n_tx - sent);
	}
	dw->n_tx = 0;
}

static uint16_t io_tx(void *io, struct dp_pkt **pkts, uint16_t n)
{
	struct dworker *dw = io;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i]->opaque;
		m->data_len = pkts[i]->len;
		m->pkt_len = pkts[i]->len;
		if (dw->n_tx == TX_BUF)
			tx_flush(dw);
		dw->tx[dw->n_tx++] = m;
	}
	return n;
}

static const struct dp_io_ops dpdk_io = {.pkt_alloc = io_alloc, .pkt_free = io_free,
					  .tx_burst = io_tx};

/* ------------------------------------------------------------------ sessions */

static struct dconn *dconn_of(struct dp_session *s)
{
	return (struct dconn *)((char *)s - offsetof(struct dconn, s));
}

static struct dp_session *op_lookup(void *tctx, uint64_t conn_id)
{
	struct dworker *dw = tctx;
	uint32_t slot = (uint32_t)(conn_id >> 32);
	if (slot >= dw->d->cfg.max_conns)
		return NULL;
	struct dconn *c = &dw->conns[slot];
	return c->in_use && c->gen == (uint32_t)conn_id ? &c->s : NULL;
}

static void op_kick(void *tctx, struct dp_session *s)
{
	struct dworker *dw = tctx;
	struct dconn *c = dconn_of(s);
	if (!c->kicked) {
		c->kicked = 1;
		dw->kick_list[dw->n_kick++] = (uint32_t)(c - dw->conns);
	}
}

static uint64_t op_now(void *tctx)
{
	const struct dworker *dw = tctx;
	return tsc_to_mono(&dw->clk, rte_rdtsc());
}

static void conn_finish(struct dworker *dw, struct dconn *c, int abort);

/* A pre-login connection evicted for a newer one: reset at once (dp_worker_admit). */
static void op_evict(void *tctx, struct dp_session *s)
{
	conn_finish(tctx, dconn_of(s), 1);
}

static const struct dp_transport_ops dpdk_ops = {.lookup = op_lookup, .kick = op_kick,
						  .evict = op_evict, .now_ns = op_now};

/* End the session; graceful TCP close (queued replies still go out, then FIN) unless the
 * stack already ended the connection. */
static void conn_finish(struct dworker *dw, struct dconn *c, int abort)
{
	if (!c->in_use)
		return;
	if (c->tc != NULL) {
		if (abort)
			dp_tcp_abort(dw->stack, c->tc, dw->now_ns);
		else
			dp_tcp_close(dw->stack, c->tc, dw->now_ns);
		c->tc = NULL;
	}
	dp_session_close(&c->s);
	dp_session_release(&c->s);
	dp_tls_conn_close(&c->t);
	c->in_use = 0;
	c->gen++;
	c->peer_fin = 0;
	c->closing_since = 0;
	dw->free_list[dw->n_free++] = (uint32_t)(c - dw->conns);
}

/* Move session output into the TCP send buffer. Returns 1 while the connection lives. */
static int conn_flush(struct dworker *dw, struct dconn *c)
{
	const uint8_t *p;
	size_t len;
	while (c->in_use && c->tc != NULL && (len = dp_tls_conn_out(&c->t, &p)) > 0) {
		int n = dp_tcp_send(dw->stack, c->tc, p, len, dw->now_ns);
		if (n < 0) {
			conn_finish(dw, c, 1);
			return 0;
		}
		if (n == 0)
			return 1; /* send buffer full: next iteration (kicked again below) */
		dp_tls_conn_out_consume(&c->t, (size_t)n);
		/* Records that waited for the session's room: their replies follow. */
		if (dp_tls_conn_stalled(&c->t) && dp_session_rx_ok(&c->s) &&
		    dp_tls_conn_input(&c->t, NULL, 0, dw->now_ns, dw->wall_ns) == -EPIPE)
			c->peer_fin = 1;
		if ((size_t)n < len)
			return 1;
	}
	if (!c->in_use)
		return 0;
	if (c->s.state == DP_SS_CLOSING || c->s.state == DP_SS_CLOSED || c->peer_fin ||
	    c->tc == NULL) {
		conn_finish(dw, c, 0);
		return 0;
	}
	return 1;
}

static void flush_kicked(struct dworker *dw)
{
	/* Connections whose output did not fit stay queued for the next call. */
	uint32_t n = dw->n_kick;
	dw->n_kick = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t slot = dw->kick_list[i];
		struct dconn *c = &dw->conns[slot];
		c->kicked = 0;
		if (!c->in_use)
			continue;
		const uint8_t *p;
		if (conn_flush(dw, c) && dp_tls_conn_out(&c->t, &p) > 0)
			op_kick(dw, &c->s);
	}
}

static void *app_accept(void *app, struct dp_tcp_conn *tc, const struct dp_conn_info *info)
{
	struct dworker *dw = app;
	struct dp_peer peer;
	memset(&peer, 0, sizeof(peer));
	peer.family = AF_INET;
	peer.port = info->peer_port;
	uint32_t be = htonl(info->peer_ip);
	memcpy(peer.addr, &be, 4);
	/* Pre-login budget (may evict the oldest pre-login connection first); refused: the
	 * stack resets the connection. */
	if (dp_worker_admit(&dw->w, &peer, dw->n_free) != 0)
		return NULL;
	uint32_t slot = dw->free_list[--dw->n_free];
	struct dconn *c = &dw->conns[slot];
	c->tc = tc;
	c->in_use = 1;
	c->peer_fin = 0;
	c->closing_since = 0;
	dp_session_open(&c->s, &dw->w, (uint64_t)slot << 32 | c->gen, &peer, dw->now_ns);
	dp_tls_conn_open(&c->t, dw->d->cfg.tls, &c->s, dw->now_ns);
	return c;
}

static void app_fin(void *ctx, struct dp_tcp_conn *tc);

static void app_data(void *ctx, struct dp_tcp_conn *tc, const uint8_t *data, size_t len)
{
	struct dconn *c = ctx;
	struct dworker *dw = c->s.w->tctx;
	while (len > 0 && c->in_use) {
		if (c->s.state != DP_SS_AWAIT_HELLO && c->s.state != DP_SS_ACTIVE)
			return; /* CLOSING: bytes after the fatal frame are ignored */
		if (!dp_tls_conn_rx_ok(&c->t)) {
			if (!conn_flush(dw, c))
				return;
			if (!dp_tls_conn_rx_ok(&c->t)) {
				/* The stack has no back-pressure hook: the peer sends while not
				 * reading our replies. Same outcome as an overflowing session. */
				dw->ctr.rx_overflow++;
				conn_finish(dw, c, 1);
				return;
			}
		}
		size_t chunk = len < DP_SESSION_RX_CHUNK ? len : DP_SESSION_RX_CHUNK;
		int rc = dp_tls_conn_input(&c->t, data, chunk, dw->now_ns, dw->wall_ns);
		if (rc == -EPIPE) { /* TLS close_notify: as a FIN */
			app_fin(ctx, tc);
			return;
		}
		if (rc == -ENOBUFS) {
			dw->ctr.rx_overflow++;
			conn_finish(dw, c, 1);
			return;
		}
		data += chunk;
		len -= chunk;
	}
}

static void app_fin(void *ctx, struct dp_tcp_conn *tc)
{
	struct dconn *c = ctx;
	struct dworker *dw = c->s.w->tctx;
	(void)tc;
	c->peer_fin = 1;
	op_kick(dw, &c->s);
}

static void app_close(void *ctx, struct dp_tcp_conn *tc, enum dp_close_reason reason)
{
	struct dconn *c = ctx;
	struct dworker *dw = c->s.w->tctx;
	(void)tc;
	(void)reason;
	c->tc = NULL; /* the handle is invalid from here */
	conn_finish(dw, c, 0);
}

static const struct dp_app_ops dpdk_app = {.on_accept = app_accept, .on_data = app_data,
					   .on_fin = app_fin, .on_close = app_close};

static void do_ticks(struct dworker *dw)
{
	for (uint32_t i = 0; i < dw->d->cfg.max_conns; i++) {
		struct dconn *c = &dw->conns[i];
		if (!c->in_use)
			continue;
		if (c->s.state == DP_SS_CLOSING) {
			if (c->closing_since == 0) {
				c->closing_since = dw->now_ns;
			} else if (dw->now_ns - c->closing_since > CLOSING_GRACE_NS) {
				dw->ctr.closing_timeout++;
				conn_finish(dw, c, 1);
			}
			continue;
		}
		if (dp_tls_conn_tick(&c->t, dw->now_ns) != 0 ||
		    dp_session_tick(&c->s, dw->now_ns) != 0)
			op_kick(dw, &c->s);
	}
}

/* ------------------------------------------------------------------ counters */

static const char *const dpdk_ctr_names[] = {
#define X(n, t) #n,
	DPDK_CTRS(X)
#undef X
};
#define N_DPDK_CTRS (sizeof(dpdk_ctr_names) / sizeof(dpdk_ctr_names[0]))

unsigned int dp_dpdk_xctr_names(const char **names, unsigned int cap)
{
	size_t nn = dp_net_stats_count();
	if (nn + N_DPDK_CTRS > cap)
		return 0;
	for (size_t i = 0; i < nn; i++)
		names[i] = dp_net_stats_name(i);
	for (size_t k = 0; k < N_DPDK_CTRS; k++)
		names[nn + k] = dpdk_ctr_names[k];
	return (unsigned int)(nn + N_DPDK_CTRS);
}

/* Copy the stack's and the loop's counters into the shared stats block (names in the
 * segment header, dp_dpdk_xctr_names order). The main lcore and decpctl read them there. */
static void xctr_publish(struct dworker *dw, const struct dp_net_stats *ns)
{
	size_t nn = dp_net_stats_count();
	if (dw->d->shm->hdr->xctr_count != nn + N_DPDK_CTRS)
		return; /* segment created without our names */
	for (size_t i = 0; i < nn; i++)
		dp_xstat_set(dw->w.st, (unsigned int)i, dp_net_stats_get(ns, i));
	dw->ctr.conns_in_use = dw->stack != NULL ? dp_stack_conns_in_use(dw->stack) : 0;
	if (dw->id == 0)
		dw->ctr.mbufs_in_use = rte_mempool_in_use_count(dw->pool);
	const uint64_t *v = (const uint64_t *)&dw->ctr;
	for (size_t k = 0; k < N_DPDK_CTRS; k++)
		dp_xstat_set(dw->w.st, (unsigned int)(nn + k), v[k]);
}

/* ------------------------------------------------------------------ worker lcore */

/* Adaptive polling's sleep, at most until `until` (monotonic ns) and SLEEP_MAX_NS: offline
 * for RCU (a table update need not wait for us), then the RX interrupt (intr, where the
 * port has one; counted in poll_sleeps) or a pause (a nap while ACKs are owed, intr false:
 * an ACK record raises no interrupt; counted in poll_naps). Returns true when the RX
 * interrupt woke it (or a frame was already queued), false after a timeout or a pause. */
static bool idle_sleep(struct dworker *dw, uint64_t until, bool intr)
{
	bool woke = false;
	uint64_t now = dw->now_ns;
	uint64_t ns = until > now ? until - now : 0;
	if (ns > SLEEP_MAX_NS)
		ns = SLEEP_MAX_NS;
	if (intr && ns < 50000)
		return false; /* not worth a system call */
	urcu_qsbr_thread_offline();
	uint64_t t0 = rte_rdtsc();
	if (intr && dw->rx_intr) {
		struct rte_epoll_event ev;
		rte_eth_dev_rx_intr_enable(dw->port, dw->queue);
		/* A frame that arrived before the interrupt was armed raises none: look once. */
		if (rte_eth_rx_queue_count(dw->port, dw->queue) > 0 ||
		    rte_epoll_wait(RTE_EPOLL_PER_THREAD, &ev, 1, (int)((ns + 999999) / 1000000)) > 0)
			woke = true;
		rte_eth_dev_rx_intr_disable(dw->port, dw->queue);
	} else {
		struct timespec ts = {0, (long)ns};
		nanosleep(&ts, NULL);
	}
	urcu_qsbr_thread_online();
	if (intr)
		dw->ctr.poll_sleeps++;
	else
		dw->ctr.poll_naps++;
	dw->ctr.poll_sleep_ns += (rte_rdtsc() - t0) * dw->d->tsc_mult >> 32;
	return woke;
}

static int worker_main(void *arg)
{
	struct dworker *dw = arg;
	struct dp_dpdk *d = dw->d;
	struct rte_mbuf *rx[RX_BURST];

	urcu_qsbr_register_thread();
	stamp(dw);
	uint64_t next_tick = dw->now_ns + TICK_NS;
	uint64_t next_timers = dw->now_ns;
	uint64_t next_publish = dw->now_ns;
	uint64_t last_busy = dw->now_ns;
	dw->adaptive = d->cfg.poll_adaptive;
	dw->rx_intr = dw->adaptive && d->port->rx_intr &&
		      rte_eth_dev_rx_intr_ctl_q(dw->port, dw->queue, RTE_EPOLL_PER_THREAD,
						RTE_INTR_EVENT_ADD, NULL) == 0;
	dw->ctr.poll_adaptive = dw->adaptive;
	dw->ctr.poll_rx_intr = dw->rx_intr;
	while (atomic_load_explicit(&d->running, memory_order_relaxed)) {
		urcu_qsbr_quiescent_state();
		dp_worker_poll_begin(&dw->w);
		stamp(dw);
		uint64_t t_begin = dw->now_ns;
		atomic_store_explicit(&dw->w.line->worker_heartbeat_ns, dw->now_ns,
				      memory_order_relaxed);
		unsigned int acks = dp_worker_ack_poll(&dw->w, ACK_BUDGET);
		dw->acks_in += acks;
		flush_kicked(dw);

		uint16_t n = rte_eth_rx_burst(dw->port, dw->queue, rx, RX_BURST);
		if (n > 0) {
			/* One arrival stamp per burst: every frame of it left the NIC together. */
			stamp(dw);
			for (uint16_t i = 0; i < n; i++) {
				struct rte_mbuf *m = rx[i];
				if (m->nb_segs != 1) {
					dw->ctr.rx_multiseg++;
				} else {
					uint32_t fl = 0;
					uint64_t ol = m->ol_flags;
					if ((ol & RTE_MBUF_F_RX_IP_CKSUM_MASK) ==
					    RTE_MBUF_F_RX_IP_CKSUM_GOOD)
						fl |= DP_RX_IPV4_CKSUM_GOOD;
					if ((ol & RTE_MBUF_F_RX_L4_CKSUM_MASK) ==
					    RTE_MBUF_F_RX_L4_CKSUM_GOOD)
						fl |= DP_RX_L4_CKSUM_GOOD;
					dp_stack_input(dw->stack, rte_pktmbuf_mtod(m, const uint8_t *),
						       m->data_len, fl, dw->now_ns);
				}
				rte_pktmbuf_free(m);
			}
			flush_kicked(dw);
		}
		if (dw->now_ns >= next_timers) {
			next_timers = dw->now_ns + STACK_TIMER_NS;
			dp_stack_timers_run(dw->stack, dw->now_ns);
		}
		if (dw->now_ns >= next_tick) {
			next_tick = dw->now_ns + TICK_NS;
			clock_anchor(&dw->clk, d->tsc_mult);
			do_ticks(dw);
			flush_kicked(dw);
		}
		tx_flush(dw);
		bool busy = n > 0 || acks > 0;
		/* One clock read serves both: the iteration's work time (perf: ns per signal,
		 * idle polls excluded) and, when it answered ACK records, their ACK ring -> TX
		 * time (the replies left in tx_flush above, send window permitting). */
		uint64_t spent = busy ? since(dw, t_begin) : 0;
		if (acks > 0)
			dp_hist_record_n(&dw->w.st->ack_to_tx, spent, acks);
		dp_worker_poll_end(&dw->w);
		if (busy) {
			dw->ctr.busy_ns += spent;
			dw->ctr.busy_iters++;
			last_busy = dw->now_ns;
		} else {
			dw->ctr.idle_iters++;
		}
		if (dw->now_ns >= next_publish) {
			next_publish = dw->now_ns + PUBLISH_NS;
			xctr_publish(dw, dp_stack_stats(dw->stack));
		}
		if (dw->adaptive && !busy && dw->n_kick == 0 && dw->n_tx == 0) {
			uint64_t idle = dw->now_ns - last_busy;
			bool owed = dp_stat_get(dw->w.st, DP_CTR_SIGNALS_ENQUEUED) > dw->acks_in;

			/* A wake counts as traffic: poll IDLE_CLEAR_NS before sleeping again.
			 * The interrupt can come before the frame is readable: net_tap's
			 * rx_burst reads only once its SIGIO handler has run (on any thread
			 * of the process, a little later), and a worker that slept again at
			 * once slept through the frame until SLEEP_MAX_NS (the edge-triggered
			 * interrupt had been spent): p99 1.1-1.3 ms at 2-10k signals/s. */
			if (idle >= (owed ? IDLE_OWED_NS : IDLE_CLEAR_NS)) {
				if (idle_sleep(dw, next_tick, true)) {
					stamp(dw);
					last_busy = dw->now_ns;
				}
			} else if (owed && idle >= OWED_SPIN_NS) {
				idle_sleep(dw, dw->now_ns + OWED_NAP_NS, false);
			}
		}
	}
	/* Shutdown: reset every session's connection, keep the counters, free the stack. */
	stamp(dw);
	for (uint32_t i = 0; i < d->cfg.max_conns; i++)
		if (dw->conns[i].in_use)
			conn_finish(dw, &dw->conns[i], 1);
	dw->final = *dp_stack_stats(dw->stack);
	dp_stack_destroy(dw->stack, dw->now_ns);
	dw->stack = NULL;
	tx_flush(dw);
	xctr_publish(dw, &dw->final);
	urcu_qsbr_unregister_thread();
	return 0;
}

/* ------------------------------------------------------------------ setup */

static void dworker_free(struct dworker *dw)
{
	if (dw == NULL)
		return;
	if (dw->stack != NULL)
		dp_stack_destroy(dw->stack, dw->now_ns);
	if (dw->n_tx > 0)
		rte_pktmbuf_free_bulk(dw->tx, dw->n_tx);
	if (dw->worker_ok)
		dp_worker_fini(&dw->w);
	free(dw->conns);
	free(dw->free_list);
	free(dw->kick_list);
	free(dw);
}

static struct dworker *dworker_new(struct dp_dpdk *d, unsigned int id, unsigned int lcore)
{
	struct dworker *dw = calloc(1, sizeof(*dw));
	if (dw == NULL)
		return NULL;
	dw->d = d;
	dw->id = id;
	dw->lcore = lcore;
	dw->port = d->port->port_id;
	dw->queue = (uint16_t)id;
	dw->pool = d->port->pool;
	uint32_t mc = d->cfg.max_conns;
	dw->conns = calloc(mc, sizeof(*dw->conns));
	dw->free_list = calloc(mc, sizeof(uint32_t));
	dw->kick_list = calloc(mc, sizeof(uint32_t)); /* each at most once (kicked flag) */
	if (dw->conns == NULL || dw->free_list == NULL || dw->kick_list == NULL)
		goto fail;
	for (uint32_t i = 0; i < mc; i++)
		dw->free_list[dw->n_free++] = mc - 1 - i;
	dw->w.bell_fd = -1;
	if (dp_worker_init(&dw->w, id, d->shm, d->tables, &d->login, &d->cfg.session, &dpdk_ops,
			   dw) != 0) {
		fprintf(stderr, "decp-dataplane: worker %u: bad session configuration\n", id);
		goto fail;
	}
	dw->worker_ok = 1;

	struct dp_stack_config sc;
	dp_stack_config_defaults(&sc);
	memcpy(sc.mac, d->port->mac, 6);
	sc.ip = d->cfg.ip;
	sc.netmask = d->cfg.netmask;
	sc.gateway = d->cfg.gateway;
	sc.listen_ports[0] = d->cfg.tcp_port;
	sc.n_listen = 1;
	/* Room for connections we closed that linger in FIN_WAIT/TIME_WAIT. */
	sc.max_conns = mc * 2;
	sc.max_conns_per_src = mc;
	if (getrandom(sc.secret, sizeof(sc.secret), 0) != (ssize_t)sizeof(sc.secret)) {
		fprintf(stderr, "decp-dataplane: getrandom: %s\n", strerror(errno));
		goto fail;
	}
	const char *err = NULL;
	clock_anchor(&dw->clk, d->tsc_mult);
	stamp(dw);
	dw->stack = dp_stack_create(&sc, &dpdk_io, dw, &dpdk_app, dw, dw->now_ns, &err);
	if (dw->stack == NULL) {
		fprintf(stderr, "decp-dataplane: worker %u: stack: %s\n", id,
			err != NULL ? err : "out of memory");
		goto fail;
	}
	return dw;
fail:
	dworker_free(dw);
	return NULL;
}

struct dp_dpdk *dp_dpdk_start(const struct dp_dpdk_cfg *cfg, struct dp_dpdk_port *port,
			      struct dp_shm *shm, struct dp_tables *tables)
{
	unsigned int nw = shm->hdr->n_workers;
	if (nw == 0 || nw != port->n_queues || cfg->max_conns == 0 || cfg->tcp_port == 0) {
		fprintf(stderr, "decp-dataplane: dpdk: bad configuration (workers %u, queues %u, "
				"port %u)\n", nw, port->n_queues, (unsigned int)cfg->tcp_port);
		return NULL;
	}
	if (rte_lcore_count() < nw + 1) {
		fprintf(stderr, "decp-dataplane: %u worker(s) need %u lcores (EAL -l), have %u\n",
			nw, nw + 1, rte_lcore_count());
		return NULL;
	}
	struct dp_dpdk *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->cfg = *cfg;
	d->port = port;
	d->shm = shm;
	d->tables = tables;
	d->n_workers = nw;
	uint64_t hz = rte_get_tsc_hz();
	d->tsc_mult = (uint64_t)(((unsigned __int128)1000000000ull << 32) / hz);
	dp_login_limiter_init(&d->login, cfg->login_fail_burst, cfg->login_fail_refill_ns);
	atomic_store(&d->running, 1);

	unsigned int lcore, id = 0;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (id == nw)
			break;
		d->wk[id] = dworker_new(d, id, lcore);
		if (d->wk[id] == NULL)
			goto fail;
		id++;
	}
	for (id = 0; id < nw; id++) {
		if (rte_eal_remote_launch(worker_main, d->wk[id], d->wk[id]->lcore) != 0) {
			fprintf(stderr, "decp-dataplane: cannot launch worker %u\n", id);
			goto fail;
		}
		d->wk[id]->launched = 1;
	}
	return d;
fail:
	dp_dpdk_stop(d);
	return NULL;
}

void dp_dpdk_join(struct dp_dpdk *d)
{
	if (d == NULL || d->joined)
		return;
	atomic_store(&d->running, 0);
	for (unsigned int i = 0; i < d->n_workers; i++)
		if (d->wk[i] != NULL && d->wk[i]->launched)
			rte_eal_wait_lcore(d->wk[i]->lcore);
	d->joined = 1;
}

void dp_dpdk_stats_print(const struct dp_dpdk *d, FILE *f)
{
	const char *const *names = dpdk_ctr_names;
	char buf[8192];
	for (unsigned int i = 0; i < d->n_workers; i++) {
		const struct dworker *dw = d->wk[i];
		if (dw == NULL)
			continue;
		dp_net_stats_format(&dw->final, 0, buf, sizeof(buf));
		for (char *p = buf; *p != '\0'; p++)
			if (*p == '\n')
				*p = ' ';
		fprintf(f, "decp-dataplane dpdk worker %u: %s", i, buf);
		const uint64_t *v = (const uint64_t *)&dw->ctr;
		for (size_t k = 0; k < N_DPDK_CTRS; k++)
			if (v[k] != 0)
				fprintf(f, "%s %llu ", names[k], (unsigned long long)v[k]);
		fputc('\n', f);
	}
}

void dp_dpdk_stop(struct dp_dpdk *d)
{
	if (d == NULL)
		return;
	dp_dpdk_join(d);
	for (unsigned int i = 0; i < DP_SHM_MAX_WORKERS; i++)
		dworker_free(d->wk[i]);
	free(d);
}
