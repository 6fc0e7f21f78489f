/*
 * dp_tcp_input.c: a TCP segment arrives (RFC 9293 §3.10.7).
 *
 * Structure after Linux tcp_input.c: a fast path for the common case (ESTABLISHED, plain
 * ACK with or without in-order data, nothing queued out of order) and a slow path that
 * walks the RFC's "segment arrives" steps in order, numbered as in RFC 9293 §3.10.7.4:
 *
 *   1 sequence number check (+ RFC 7323 PAWS)   5 ACK field (RFC 5961 §5 ACK range)
 *   2 RST bit (RFC 5961 §3.2)                    7 segment text (trim, reassemble)
 *   4 SYN bit (RFC 5961 §4.2)                    8 FIN bit
 *
 * Step 3 (security/compartment) and 6 (URG) do not apply: URG is ignored, data is data.
 * Segments for which no connection exists go to listen_input() (§3.10.7.2 with SYN
 * cookies instead of SYN_RECEIVED state); those and segments to closed ports are answered
 * with a rate-limited RST (no_conn_rst, §3.10.7.1).
 *
 * Output caused by a segment is deferred until the segment is processed (c->in_input), so
 * callbacks into the application may send or close without re-entering this file.
 */
#include <errno.h>
#include <string.h>

#include "dp_cksum.h"
#include "dp_seq.h"
#include "dp_stack_pvt.h"
#include "dp_syncookie.h"
#include "dp_wire.h"

/* A parsed segment. */
struct seg {
	uint32_t seq, ack;
	uint32_t wnd;             /* raw window field */
	uint8_t flags;
	uint16_t sport, dport;
	const uint8_t *data;
	uint32_t len;             /* payload bytes */
	/* options */
	uint16_t mss;             /* 0 = absent */
	uint8_t wscale;           /* DP_SYNCOOKIE_WS_NONE = absent */
	bool has_ts;
	uint32_t tsval, tsecr;
	const uint8_t *src_mac;   /* Ethernet source of the frame */
};

static void parse_options(const uint8_t *o, size_t n, struct seg *s)
{
	size_t i = 0;

	/* Malformed options end parsing: what was read so far stands (RFC 9293 §3.1 lets us
	 * ignore options we cannot use). */
	while (i < n) {
		uint8_t kind = o[i], len;

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= n)
			break;
		len = o[i + 1];
		if (len < 2 || i + len > n)
			break;
		switch (kind) {
		case 2:
			if (len == 4)
				s->mss = dp_get16(o + i + 2);
			break;
		case 3:
			if (len == 3)
				s->wscale = o[i + 2] > 14 ? 14 : o[i + 2]; /* RFC 7323 §2.3 */
			break;
		case 8:
			if (len == 10) {
				s->has_ts = true;
				s->tsval = dp_get32(o + i + 2);
				s->tsecr = dp_get32(o + i + 6);
			}
			break;
		default:
			break;
		}
		i += len;
	}
}

static bool listening(const struct dp_stack *st, uint16_t port)
{
	for (unsigned i = 0; i < st->cfg.n_listen; i++)
		if (st->cfg.listen_ports[i] == port)
			return true;
	return false;
}

static uint64_t cookie_counter(const struct dp_stack *st)
{
	return st->now_ns / st->cfg.cookie_period_ns;
}

/* ---- segment processing on a connection ---------------------------------------------- */

/* RFC 9293 §3.10.7.4 first check: is any of the segment inside the receive window? */
static bool seq_acceptable(const struct dp_tcp_conn *c, const struct seg *s, uint32_t seglen)
{
	uint32_t wnd = c->rcv_wnd;

	if (seglen == 0) {
		if (wnd == 0)
			return s->seq == c->rcv_nxt;
		return dp_seq_in(s->seq, c->rcv_nxt, c->rcv_nxt + wnd);
	}
	if (wnd == 0)
		return false;
	return dp_seq_in(s->seq, c->rcv_nxt, c->rcv_nxt + wnd) ||
	       dp_seq_in(s->seq + seglen - 1, c->rcv_nxt, c->rcv_nxt + wnd);
}

/* Our FIN is acknowledged once SND.UNA passed it. */
static void note_fin_acked(struct dp_tcp_conn *c)
{
	if (c->fin_sent && c->snd_len == 0 && c->snd_una == c->snd_max && !c->fin_acked)
		c->fin_acked = true;
}

/* Step 5 for an acceptable ACK value (SND.UNA - MAX.SND.WND <= ack <= SND.MAX). */
static void ack_process(struct dp_stack *st, struct dp_tcp_conn *c, const struct seg *s)
{
	uint32_t wnd = s->wnd << c->snd_wscale;

	if (dp_seq_gt(s->ack, c->snd_una)) {
		uint32_t acked = s->ack - c->snd_una;
		uint32_t data = acked < c->snd_len ? acked : c->snd_len;

		c->snd_head = (c->snd_head + data) & (st->cfg.snd_buf - 1);
		c->snd_len -= data;
		c->snd_una = s->ack;
		if (dp_seq_lt(c->snd_nxt, c->snd_una))
			c->snd_nxt = c->snd_una;
		note_fin_acked(c);
		if (c->rtt_active && dp_seq_ge(s->ack, c->rtt_seq)) {
			c->rtt_active = false;
			dp_tcp_rtt_sample(st, c, st->now_ns - c->rtt_start_ns);
		}
		c->retries = 0;
		c->dupacks = 0;
		/* RFC 6298 §5.2/5.3: all acknowledged -> stop; else restart with current RTO. */
		if (c->snd_una == c->snd_max)
			dp_tcp_rtx_cancel(st, c);
		else
			dp_tcp_rtx_arm(st, c);
	} else if (s->ack == c->snd_una && s->len == 0 && !(s->flags & DP_TCP_FIN) &&
		   wnd == c->snd_wnd && c->snd_max != c->snd_una) {
		/* RFC 5681 §2 duplicate ACK; the third triggers fast retransmit (§3.2). */
		if (c->dupacks < UINT8_MAX && ++c->dupacks == 3) {
			uint8_t fin;
			uint32_t n = dp_tcp_rexmit_len(c, &fin);

			st->stats.tcp_fast_retrans++;
			st->stats.tcp_retrans_segs++;
			c->rtt_active = false;
			dp_tcp_xmit(st, c, c->snd_una, n, fin);
		}
	}
	/* RFC 9293 §3.10.7.4 window update, only from segments not older than the last one. */
	if (dp_seq_ge(s->ack, c->snd_una) &&
	    (dp_seq_lt(c->snd_wl1, s->seq) || (c->snd_wl1 == s->seq && dp_seq_le(c->snd_wl2, s->ack)))) {
		c->snd_wnd = wnd;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
		if (wnd > c->max_snd_wnd)
			c->max_snd_wnd = wnd;
		if (wnd > 0 && c->persist) {
			dp_tcp_rtx_cancel(st, c);
			c->retries = 0;
		}
	}
	if (c->persist)
		c->retries = 0; /* the peer answers probes: keep probing (RFC 9293 §3.8.6.1) */
}

/* The peer's FIN is in order (RFC 9293 §3.10.7.4 eighth). Never frees c. */
static void fin_process(struct dp_stack *st, struct dp_tcp_conn *c)
{
	c->rcv_nxt++;
	c->rcv_fin = true;
	c->ooo_fin = false;
	c->need_ack = true;
	dp_tcp_reass_clear(c);
	switch (c->state) {
	case DP_TCP_ESTABLISHED:
		dp_tcp_set_state(st, c, DP_TCP_CLOSE_WAIT);
		if (!c->app_attached)
			break;
		if (st->app.on_fin) {
			st->app.on_fin(c->app_ctx, c);
		} else {
			void *ctx = c->app_ctx;

			c->app_attached = false;
			c->app_ctx = NULL;
			st->app.on_close(ctx, c, DP_CLOSE_PEER_FIN);
			c->fin_queued = true;
			dp_tcp_set_state(st, c, DP_TCP_LAST_ACK);
		}
		break;
	case DP_TCP_FIN_WAIT_1:
		dp_tcp_set_state(st, c, c->fin_acked ? DP_TCP_TIME_WAIT : DP_TCP_CLOSING);
		break;
	case DP_TCP_FIN_WAIT_2:
		dp_tcp_set_state(st, c, DP_TCP_TIME_WAIT);
		break;
	default:
		break;
	}
}

/* Steps 7 and 8. Sets c->abort_pending when the connection must be reset. */
static void text_process(struct dp_stack *st, struct dp_tcp_conn *c, const struct seg *s)
{
	uint32_t seq = s->seq, len = s->len;
	const uint8_t *data = s->data;
	bool fin = (s->flags & DP_TCP_FIN) != 0;
	uint32_t fin_seq = s->seq + s->len;
	uint32_t right = c->rcv_nxt + c->rcv_wnd;
	uint32_t data_right = right;

	/* No byte can follow a FIN already seen out of order (and a second, different FIN is
	 * ignored: the first one wins, like the bytes). */
	if (c->ooo_fin && dp_seq_lt(c->ooo_fin_seq, right))
		data_right = c->ooo_fin_seq;
	if (c->rcv_fin) {
		/* Nothing may follow the peer's FIN (RFC 9293 §3.10.7.4: "should not occur"). */
		if (len || fin) {
			if (c->state == DP_TCP_TIME_WAIT)
				st->stats.drop_tcp_time_wait++;
			else
				st->stats.drop_tcp_after_fin++;
		}
		return;
	}
	if (dp_seq_lt(seq, c->rcv_nxt)) {
		uint32_t cut = c->rcv_nxt - seq;

		cut = cut < len ? cut : len;
		seq += cut;
		data += cut;
		len -= cut;
		st->stats.tcp_trimmed++;
	}
	if (len && dp_seq_gt(seq + len, data_right)) {
		len = dp_seq_lt(seq, data_right) ? data_right - seq : 0;
		fin = false; /* the FIN lay beyond the window */
		st->stats.tcp_trimmed++;
	}
	/* A FIN inside bytes we already hold contradicts them: the bytes came first, they win. */
	if (fin && (!dp_seq_in(fin_seq, c->rcv_nxt, right) ||
		    (c->ooo_fin && fin_seq != c->ooo_fin_seq) ||
		    (c->n_ooo && dp_seq_lt(fin_seq, c->ooo[c->n_ooo - 1].end))))
		fin = false;
	if (len) {
		c->need_ack = true;
		if (!c->app_attached) {
			/* We closed; new data can no longer be delivered: reset (fail closed). */
			st->stats.drop_tcp_after_close++;
			c->abort_pending = true;
			return;
		}
		dp_tcp_reass_data(st, c, seq, data, len);
		if (c->abort_pending)
			return;
	}
	if (fin && fin_seq != c->rcv_nxt) {
		c->ooo_fin = true;
		c->ooo_fin_seq = fin_seq;
		c->need_ack = true;
	}
	if ((fin && fin_seq == c->rcv_nxt) || (c->ooo_fin && c->ooo_fin_seq == c->rcv_nxt))
		fin_process(st, c);
}

/*
 * The slow path: every step of RFC 9293 §3.10.7.4 for the synchronized states.
 * Returns false when c was freed.
 */
static bool conn_slow_path(struct dp_stack *st, struct dp_tcp_conn *c, const struct seg *s)
{
	uint32_t seglen = s->len + ((s->flags & DP_TCP_SYN) ? 1 : 0) + ((s->flags & DP_TCP_FIN) ? 1 : 0);
	bool rst = (s->flags & DP_TCP_RST) != 0;

	/* Step 1 (RFC 7323 §5.3 PAWS first: a segment with an old timestamp is a duplicate). */
	if (c->ts_ok && s->has_ts && !rst && dp_seq_lt(s->tsval, c->ts_recent)) {
		st->stats.drop_tcp_paws++;
		dp_tcp_send_challenge_ack(st, c); /* rate-limited: blind senders get no echo */
		return true;
	}
	/* Step 4, RFC 5961 §4.2: a SYN on a synchronized connection gets a (rate-limited)
	 * challenge ACK "irrespective of the sequence number", so it is checked before the
	 * acceptability test: a blind SYN must not get the unlimited ACK of an old duplicate. */
	if (s->flags & DP_TCP_SYN) {
		st->stats.drop_tcp_syn_challenged++;
		dp_tcp_send_challenge_ack(st, c);
		return true;
	}
	if (!seq_acceptable(c, s, seglen)) {
		if (rst) {
			st->stats.drop_tcp_rst_out_window++;
		} else if (dp_seq_le(s->seq + seglen, c->rcv_nxt)) {
			/* Old duplicate: our ACK was probably lost; answer at once. In TIME_WAIT a
			 * retransmitted FIN restarts the timer (RFC 9293 §3.10.7.4 eighth). */
			st->stats.drop_tcp_dup_data++;
			if (c->state == DP_TCP_TIME_WAIT && (s->flags & DP_TCP_FIN))
				dp_tcp_life_arm(st, c);
			dp_tcp_send_ack(st, c);
		} else {
			/* Beyond the window: answer rate-limited so two stacks cannot ACK-loop. */
			st->stats.drop_tcp_out_of_window++;
			dp_tcp_send_challenge_ack(st, c);
		}
		return true;
	}
	/* Step 2: RFC 5961 §3.2 (TIME_WAIT ignores RST: RFC 1337). */
	if (rst) {
		if (c->state == DP_TCP_TIME_WAIT) {
			st->stats.drop_tcp_time_wait++;
		} else if (s->seq == c->rcv_nxt) {
			st->stats.tcp_rst_rx++;
			dp_tcp_conn_free(st, c, DP_CLOSE_PEER_RESET);
			return false;
		} else {
			st->stats.drop_tcp_rst_challenged++;
			dp_tcp_send_challenge_ack(st, c);
		}
		return true;
	}
	/* Step 5. */
	if (!(s->flags & DP_TCP_ACK)) {
		st->stats.drop_tcp_no_ack++;
		return true;
	}
	if (dp_seq_gt(s->ack, c->snd_max)) {
		st->stats.drop_tcp_ack_future++;
		dp_tcp_send_challenge_ack(st, c);
		return true;
	}
	if (dp_seq_lt(s->ack, c->snd_una - c->max_snd_wnd)) {
		st->stats.drop_tcp_ack_old++;
		dp_tcp_send_challenge_ack(st, c);
		return true;
	}
	/* The segment is acceptable: it proves the peer alive and fixes its L2 address. */
	c->last_rx_ns = st->now_ns;
	memcpy(c->peer_mac, s->src_mac, 6);
	if (c->ts_ok && s->has_ts && dp_seq_le(s->seq, c->rcv_nxt))
		c->ts_recent = s->tsval; /* RFC 7323 §4.3 */
	ack_process(st, c, s);
	switch (c->state) {
	case DP_TCP_FIN_WAIT_1:
		if (c->fin_acked)
			dp_tcp_set_state(st, c, DP_TCP_FIN_WAIT_2);
		break;
	case DP_TCP_CLOSING:
		if (c->fin_acked)
			dp_tcp_set_state(st, c, DP_TCP_TIME_WAIT);
		break;
	case DP_TCP_LAST_ACK:
		if (c->fin_acked) {
			dp_tcp_conn_free(st, c, 0);
			return false;
		}
		break;
	default:
		break;
	}
	/* Steps 7 and 8. */
	text_process(st, c, s);
	return true;
}

/*
 * Fast path (header prediction, after Linux tcp_rcv_established): ESTABLISHED, only ACK
 * (and PSH) set, exactly the next expected sequence number, nothing queued, no timestamp
 * regression, ACK within what we sent, window unchanged or we have nothing in flight.
 * Everything else falls through to the slow path, which gives the same result for these
 * segments; the fast path exists to skip its checks.
 */
static bool fast_path_ok(const struct dp_tcp_conn *c, const struct seg *s)
{
	return c->state == DP_TCP_ESTABLISHED && (s->flags & ~DP_TCP_PSH) == DP_TCP_ACK &&
	       s->seq == c->rcv_nxt && c->n_ooo == 0 && !c->ooo_fin && !c->persist &&
	       (!c->ts_ok || (s->has_ts && dp_seq_ge(s->tsval, c->ts_recent))) &&
	       dp_seq_ge(s->ack, c->snd_una) && dp_seq_le(s->ack, c->snd_max) &&
	       s->len <= c->rcv_wnd && c->app_attached;
}

static void conn_fast_path(struct dp_stack *st, struct dp_tcp_conn *c, const struct seg *s)
{
	c->last_rx_ns = st->now_ns;
	memcpy(c->peer_mac, s->src_mac, 6);
	if (c->ts_ok)
		c->ts_recent = s->tsval;
	ack_process(st, c, s);
	if (s->len) {
		c->need_ack = true;
		dp_tcp_reass_data(st, c, s->seq, s->data, s->len);
	}
}

/* Process s on c, then send what it caused. */
static void conn_input(struct dp_stack *st, struct dp_tcp_conn *c, const struct seg *s)
{
	bool alive = true;

	c->in_input = true;
	if (fast_path_ok(c, s))
		conn_fast_path(st, c, s);
	else
		alive = conn_slow_path(st, c, s);
	if (!alive)
		return;
	c->in_input = false;
	if (c->abort_pending) {
		dp_tcp_send_rst(st, c);
		dp_tcp_conn_free(st, c, 0);
		return;
	}
	dp_tcp_output(st, c);
	if (c->need_ack)
		dp_tcp_send_ack(st, c);
	dp_tcp_assert_state(st, c);
}

/* ---- no connection: LISTEN with SYN cookies ------------------------------------------ */

/*
 * RFC 9293 §3.10.7.1 (no TCB) and §3.10.7.2 (LISTEN, an ACK-bearing segment): answer a
 * segment that is not itself a RST with <SEQ=SEG.ACK><CTL=RST> if it carries an ACK, else
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, so a master pointed at the wrong port, or whose
 * connection this stack no longer knows (dataplane restart), is refused at once instead of
 * retrying into silence. At most cfg.rst_per_sec per second: a flood of stray segments
 * costs a bounded number of replies (counted tcp_rst_limited beyond).
 */
static void no_conn_rst(struct dp_stack *st, const struct dp_rx *rx, const struct seg *s)
{
	if (s->flags & DP_TCP_RST)
		return;
	if (st->now_ns - st->rst_window_ns >= 1000000000ull) {
		st->rst_window_ns = st->now_ns;
		st->rst_in_window = 0;
	}
	if (st->rst_in_window >= st->cfg.rst_per_sec) {
		st->stats.tcp_rst_limited++;
		return;
	}
	st->rst_in_window++;
	st->stats.tcp_rst_no_conn_tx++;
	if (s->flags & DP_TCP_ACK) {
		dp_tcp_reply_rst(st, rx, s->ack, 0, DP_TCP_RST);
	} else {
		uint32_t len = s->len + ((s->flags & DP_TCP_SYN) ? 1u : 0u) +
			       ((s->flags & DP_TCP_FIN) ? 1u : 0u);
		dp_tcp_reply_rst(st, rx, 0, s->seq + len, DP_TCP_RST | DP_TCP_ACK);
	}
}

static void syn_input(struct dp_stack *st, const struct dp_rx *rx, const struct seg *s)
{
	struct dp_syncookie_tuple t = { rx->src, rx->dst, s->sport, s->dport };
	struct dp_syncookie_opts o;
	bool ws = s->wscale != DP_SYNCOOKIE_WS_NONE;
	bool ts = s->has_ts && st->cfg.timestamps;
	uint32_t iss;

	/* Data on a SYN is not kept (no state): the peer retransmits it (RFC 9293 §3.10.7.2). */
	o.mss = s->mss;
	o.wscale = ws ? s->wscale : DP_SYNCOOKIE_WS_NONE;
	o.ts_ok = ts;
	iss = dp_syncookie_make(&st->cookie_key, &t, s->seq, cookie_counter(st), &o);
	st->stats.tcp_syn_rx++;
	dp_tcp_reply_synack(st, rx, iss, s->seq, ws, ts, s->tsval);
}

static void cookie_ack_input(struct dp_stack *st, const struct dp_rx *rx, const struct seg *s)
{
	struct dp_syncookie_tuple t = { rx->src, rx->dst, s->sport, s->dport };
	struct dp_syncookie_opts o;
	struct dp_conn_info info;
	struct dp_tcp_conn *c;
	uint16_t mss_cap = (uint16_t)(st->cfg.mtu - DP_IPV4_HLEN - DP_TCP_HLEN);
	int err = 0;
	void *ctx;

	if (!dp_syncookie_check(&st->cookie_key, &t, s->seq - 1, cookie_counter(st), s->ack - 1, &o)) {
		st->stats.drop_tcp_cookie_bad++;
		no_conn_rst(st, rx, s);
		return;
	}
	c = dp_tcp_conn_alloc(st, rx->src, s->sport, rx->dst, s->dport, &err);
	if (!c) {
		if (err == -EMFILE)
			st->stats.drop_tcp_src_limit++;
		else
			st->stats.drop_tcp_table_full++;
		dp_tcp_reply_rst(st, rx, s->ack, 0, DP_TCP_RST);
		return;
	}
	memcpy(c->peer_mac, rx->frame + DP_ETH_SRC, 6);
	c->iss = s->ack - 1;
	c->snd_una = c->snd_nxt = c->snd_max = s->ack;
	c->irs = s->seq - 1;
	c->rcv_nxt = s->seq;
	if (o.wscale != DP_SYNCOOKIE_WS_NONE) {
		c->ws_ok = true;
		c->snd_wscale = o.wscale;
		c->rcv_wscale = st->cfg.wscale;
	}
	c->ts_ok = o.ts_ok && s->has_ts;
	if (c->ts_ok)
		c->ts_recent = s->tsval;
	c->mss = o.mss < mss_cap ? o.mss : mss_cap;
	if (c->ts_ok)
		c->mss -= 12; /* NOP NOP TS on every segment (RFC 7323 §3.2) */
	c->rcv_wnd = st->cfg.rcv_buf;
	if (c->rcv_wnd > (65535u << c->rcv_wscale))
		c->rcv_wnd = 65535u << c->rcv_wscale;
	c->rcv_wnd &= ~((1u << c->rcv_wscale) - 1);
	c->rcv_adv = c->rcv_nxt + c->rcv_wnd;
	/* The handshake ACK's window is scaled (RFC 7323 §2.2): the SYN's was not. */
	c->snd_wnd = s->wnd << c->snd_wscale;
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = s->seq;
	c->snd_wl2 = s->ack;
	c->rto_ns = st->cfg.rto_init_ns;
	c->last_rx_ns = st->now_ns;
	dp_tcp_set_state(st, c, DP_TCP_ESTABLISHED);
	dp_tcp_conn_info(c, &info);
	c->in_input = true;
	c->app_attached = true;
	ctx = st->app.on_accept(st->app_ctx, c, &info);
	if (!ctx) {
		c->app_attached = false;
		st->stats.drop_tcp_app_refused++;
		dp_tcp_reply_rst(st, rx, s->ack, 0, DP_TCP_RST);
		dp_tcp_conn_free(st, c, 0);
		return;
	}
	c->app_ctx = ctx;
	c->in_input = false;
	st->stats.tcp_accepted++;
	dp_tcp_life_arm(st, c);
	/* The ACK may carry data or FIN (e.g. when the bare ACK was lost). */
	conn_input(st, c, s);
}

static void listen_input(struct dp_stack *st, const struct dp_rx *rx, const struct seg *s)
{
	if (s->flags & DP_TCP_RST) {
		st->stats.drop_tcp_no_conn++;
	} else if ((s->flags & (DP_TCP_SYN | DP_TCP_ACK)) == DP_TCP_SYN) {
		syn_input(st, rx, s);
	} else if (s->flags & DP_TCP_SYN) {
		st->stats.drop_tcp_syn_bad++; /* SYN-ACK: we never open connections */
		no_conn_rst(st, rx, s);
	} else if (s->flags & DP_TCP_ACK) {
		/* Not a valid cookie: a connection we do not know (§3.10.7.2, reset below). The
		 * RST tells a blind guesser nothing a SYN would not (the port listens). */
		cookie_ack_input(st, rx, s);
	} else {
		st->stats.drop_tcp_no_conn++;
		no_conn_rst(st, rx, s);
	}
}

void dp_tcp_input(struct dp_stack *st, const struct dp_rx *rx)
{
	const uint8_t *th = rx->l4;
	struct seg s;
	struct dp_tcp_conn *c;
	size_t doff;

	if (rx->l4len < DP_TCP_HLEN) {
		st->stats.drop_tcp_runt++;
		return;
	}
	doff = (size_t)(th[12] >> 4) * 4;
	if (doff < DP_TCP_HLEN || doff > rx->l4len) {
		st->stats.drop_tcp_runt++;
		return;
	}
	if (!(rx->flags & DP_RX_L4_CKSUM_GOOD)) {
		uint32_t sum = dp_cksum_pseudo(rx->src, rx->dst, DP_IPPROTO_TCP, (uint16_t)rx->l4len);

		if (dp_cksum_fold(dp_cksum_partial(th, rx->l4len, sum)) != 0) {
			st->stats.drop_tcp_cksum++;
			return;
		}
	}
	memset(&s, 0, sizeof(s));
	s.sport = dp_get16(th);
	s.dport = dp_get16(th + 2);
	s.seq = dp_get32(th + 4);
	s.ack = dp_get32(th + 8);
	s.flags = th[13] & 0x3f;
	s.wnd = dp_get16(th + 14);
	s.data = th + doff;
	s.len = (uint32_t)(rx->l4len - doff);
	s.wscale = DP_SYNCOOKIE_WS_NONE;
	s.src_mac = rx->frame + DP_ETH_SRC;
	parse_options(th + DP_TCP_HLEN, doff - DP_TCP_HLEN, &s);
	if (s.flags == 0 || s.sport == 0 ||
	    (s.flags & (DP_TCP_SYN | DP_TCP_FIN)) == (DP_TCP_SYN | DP_TCP_FIN) ||
	    (s.flags & (DP_TCP_SYN | DP_TCP_RST)) == (DP_TCP_SYN | DP_TCP_RST)) {
		st->stats.drop_tcp_flags++;
		return;
	}
	if (!listening(st, s.dport)) {
		st->stats.drop_tcp_port_closed++;
		no_conn_rst(st, rx, &s);
		return;
	}
	c = dp_tcp_lookup(st, rx->src, s.sport, rx->dst, s.dport);
	if (c)
		conn_input(st, c, &s);
	else
		listen_input(st, rx, &s);
}
