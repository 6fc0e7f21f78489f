/*
 * dp_tcp_output.c: every segment the stack sends.
 *
 * Connection segments carry ACK (except RST), our advertised window (scaled per RFC 7323
 * §2.3 and never moving the right edge left), and NOP NOP TS when timestamps were
 * negotiated. Their destination MAC comes from ARP for the next hop; while ARP has no
 * entry (it ages out, a request is on its way) the connection's last known peer MAC is
 * used, so a lapse of ARP never stalls a live connection.
 *
 * Stateless replies (SYN-ACK cookies, RSTs for refused connections) go back to the L2
 * source of the segment they answer and need no ARP state: a SYN flood cannot fill the
 * ARP table or trigger ARP requests.
 *
 * No congestion control: the data we send are small acknowledgements of the peer's
 * messages; the peer's window (and RTO backoff) bounds what we put in flight.
 */
#include <string.h>

#include "dp_cksum.h"
#include "dp_seq.h"
#include "dp_stack_pvt.h"
#include "dp_wire.h"

#define TS_OPT_LEN 12u

uint32_t dp_tcp_ts_now(const struct dp_stack *st)
{
	return (uint32_t)(st->now_ns / 1000000u);
}

uint32_t dp_tcp_rcv_window(const struct dp_stack *st, const struct dp_tcp_conn *c)
{
	(void)st;
	/* In-order bytes are handed over at once, so the whole ring is always free. */
	return c->rcv_wnd;
}

/* Fill TCP checksum (or the offload pseudo sum) of l4len bytes at th. */
static void tcp_cksum(struct dp_stack *st, struct dp_pkt *p, uint8_t *th, uint32_t src,
		      uint32_t dst, uint16_t l4len)
{
	uint32_t sum = dp_cksum_pseudo(src, dst, DP_IPPROTO_TCP, l4len);

	dp_put16(th + 16, 0);
	if (st->cfg.tx_cksum_offload) {
		/* NICs expect the folded, uncomplemented pseudo-header sum in the field. */
		dp_put16(th + 16, (uint16_t)~dp_cksum_fold(sum));
		p->ol_flags |= DP_PKT_OL_TCP_CKSUM;
	} else {
		dp_put16(th + 16, dp_cksum_fold(dp_cksum_partial(th, l4len, sum)));
	}
}

static void put_header(uint8_t *th, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		       uint8_t hlen, uint8_t flags, uint16_t wnd)
{
	dp_put16(th, sport);
	dp_put16(th + 2, dport);
	dp_put32(th + 4, seq);
	dp_put32(th + 8, ack);
	th[12] = (uint8_t)((hlen / 4) << 4);
	th[13] = flags;
	dp_put16(th + 14, wnd);
	dp_put16(th + 16, 0);
	dp_put16(th + 18, 0);
}

static void put_ts(uint8_t *o, uint32_t tsval, uint32_t tsecr)
{
	o[0] = 1;
	o[1] = 1;
	o[2] = 8;
	o[3] = 10;
	dp_put32(o + 4, tsval);
	dp_put32(o + 8, tsecr);
}

void dp_tcp_xmit(struct dp_stack *st, struct dp_tcp_conn *c, uint32_t seq, uint32_t len,
		 uint8_t flags)
{
	uint8_t hlen = (uint8_t)(DP_TCP_HLEN + (c->ts_ok ? TS_OPT_LEN : 0));
	uint32_t wnd = dp_tcp_rcv_window(st, c);
	uint8_t mac[6];
	struct dp_pkt *p;
	uint8_t *ip, *th;
	uint16_t l4len = (uint16_t)(hlen + len);

	if (!(flags & DP_TCP_RST))
		flags |= DP_TCP_ACK;
	if (dp_arp_resolve(st, dp_ipv4_next_hop(st, c->peer_ip), mac) != 0)
		memcpy(mac, c->peer_mac, 6);
	p = dp_stack_pkt_alloc(st);
	if (!p)
		return; /* counted; retransmission recovers */
	ip = dp_eth_build(p->data, mac, st->cfg.mac, DP_ETHERTYPE_IPV4);
	th = ip + DP_IPV4_HLEN;
	/* RFC 9293 §3.8.6.2.2: never shrink the window we offered. */
	if (dp_seq_lt(c->rcv_nxt + wnd, c->rcv_adv))
		wnd = c->rcv_adv - c->rcv_nxt;
	c->rcv_adv = c->rcv_nxt + wnd;
	put_header(th, c->local_port, c->peer_port, seq, (flags & DP_TCP_ACK) ? c->rcv_nxt : 0, hlen,
		   flags, (uint16_t)((wnd >> c->rcv_wscale) > 65535 ? 65535 : wnd >> c->rcv_wscale));
	if (c->ts_ok)
		put_ts(th + DP_TCP_HLEN, dp_tcp_ts_now(st), c->ts_recent);
	if (len) {
		uint32_t size = st->cfg.snd_buf;
		uint32_t pos = (c->snd_head + (seq - c->snd_una)) & (size - 1);
		uint32_t first = size - pos < len ? size - pos : len;

		memcpy(th + hlen, c->sndbuf + pos, first);
		memcpy(th + hlen + first, c->sndbuf, len - first);
	}
	tcp_cksum(st, p, th, c->local_ip, c->peer_ip, l4len);
	dp_ipv4_build(st, p, ip, c->peer_ip, DP_IPPROTO_TCP, l4len);
	p->len = (uint16_t)(DP_ETH_HLEN + DP_IPV4_HLEN + l4len);
	dp_stack_tx(st, p);
	if (flags & DP_TCP_ACK)
		c->need_ack = false;
	if (flags & DP_TCP_RST)
		st->stats.tcp_rst_tx++;
	/* RFC 6298 §3 with Karn's rule: time only segments carrying new sequence space. */
	if ((len || (flags & DP_TCP_FIN)) && !c->rtt_active && seq == c->snd_max) {
		c->rtt_active = true;
		c->rtt_seq = seq + len + ((flags & DP_TCP_FIN) ? 1 : 0);
		c->rtt_start_ns = st->now_ns;
	}
}

uint32_t dp_tcp_rexmit_len(const struct dp_tcp_conn *c, uint8_t *fin)
{
	uint32_t inflight = c->snd_max - c->snd_una;
	uint32_t data = inflight < c->snd_len ? inflight : c->snd_len;
	uint32_t n = data < c->mss ? data : c->mss;

	/* Only what was sent before, never beyond SND.MAX: the window may have shrunk since
	 * and new data goes through dp_tcp_output's window check. */
	*fin = (c->fin_sent && inflight == c->snd_len + 1 && n == c->snd_len) ? DP_TCP_FIN : 0;
	return n;
}

void dp_tcp_output(struct dp_stack *st, struct dp_tcp_conn *c)
{
	bool can_send = c->state == DP_TCP_ESTABLISHED || c->state == DP_TCP_CLOSE_WAIT ||
			c->state == DP_TCP_FIN_WAIT_1 || c->state == DP_TCP_LAST_ACK ||
			c->state == DP_TCP_CLOSING;

	if (!can_send)
		return;
	for (;;) {
		uint32_t sent = c->snd_nxt - c->snd_una;
		uint32_t edge = c->snd_una + c->snd_wnd;
		uint32_t room = dp_seq_gt(edge, c->snd_nxt) ? edge - c->snd_nxt : 0;
		uint32_t n;
		uint8_t fin;

		if (sent >= c->snd_len)
			break;
		n = c->snd_len - sent;
		if (n > c->mss)
			n = c->mss;
		if (n > room)
			n = room;
		if (n == 0)
			break;
		fin = (c->fin_queued && sent + n == c->snd_len) ? DP_TCP_FIN : 0;
		if (dp_seq_lt(c->snd_nxt, c->snd_max))
			st->stats.tcp_retrans_segs++;
		dp_tcp_xmit(st, c, c->snd_nxt, n, (uint8_t)(DP_TCP_PSH | fin));
		c->snd_nxt += n + (fin ? 1u : 0u);
		if (fin)
			c->fin_sent = true;
		c->snd_max = dp_seq_max(c->snd_max, c->snd_nxt);
	}
	/* A FIN with no data left to carry it; it needs no window (RFC 9293 §3.10.4). */
	if (c->fin_queued && !c->fin_acked && c->snd_nxt == c->snd_una + c->snd_len) {
		if (dp_seq_lt(c->snd_nxt, c->snd_max))
			st->stats.tcp_retrans_segs++;
		dp_tcp_xmit(st, c, c->snd_nxt, 0, DP_TCP_FIN);
		c->snd_nxt++;
		c->fin_sent = true;
		c->snd_max = dp_seq_max(c->snd_max, c->snd_nxt);
	}
	if (c->snd_max != c->snd_una) {
		if (!dp_timer_armed(&c->rtx_timer) || c->persist)
			dp_tcp_rtx_arm(st, c);
	} else if (c->snd_len > 0 && c->snd_wnd == 0) {
		dp_tcp_persist_arm(st, c);
	}
}

void dp_tcp_send_ack(struct dp_stack *st, struct dp_tcp_conn *c)
{
	dp_tcp_xmit(st, c, c->snd_nxt, 0, 0);
}

void dp_tcp_send_challenge_ack(struct dp_stack *st, struct dp_tcp_conn *c)
{
	if (st->now_ns - c->chack_window_ns >= 1000000000ull) {
		c->chack_window_ns = st->now_ns;
		c->chack_count = 0;
	}
	if (c->chack_count >= st->cfg.challenge_ack_per_sec) {
		st->stats.tcp_challenge_ack_limited++;
		return;
	}
	c->chack_count++;
	st->stats.tcp_challenge_ack_tx++;
	dp_tcp_send_ack(st, c);
}

void dp_tcp_send_rst(struct dp_stack *st, struct dp_tcp_conn *c)
{
	dp_tcp_xmit(st, c, c->snd_max, 0, DP_TCP_RST);
}

/* Build a stateless reply to rx with our TCP header (no payload). */
static void reply(struct dp_stack *st, const struct dp_rx *rx, uint32_t seq, uint32_t ack,
		  uint8_t flags, uint16_t wnd, const uint8_t *opts, uint8_t optlen)
{
	struct dp_pkt *p = dp_stack_pkt_alloc(st);
	uint8_t *ip, *th;
	uint8_t hlen = (uint8_t)(DP_TCP_HLEN + optlen);

	if (!p)
		return;
	ip = dp_eth_build(p->data, rx->frame + DP_ETH_SRC, st->cfg.mac, DP_ETHERTYPE_IPV4);
	th = ip + DP_IPV4_HLEN;
	put_header(th, dp_get16(rx->l4 + 2), dp_get16(rx->l4), seq, ack, hlen, flags, wnd);
	if (optlen)
		memcpy(th + DP_TCP_HLEN, opts, optlen);
	tcp_cksum(st, p, th, st->cfg.ip, rx->src, hlen);
	dp_ipv4_build(st, p, ip, rx->src, DP_IPPROTO_TCP, hlen);
	p->len = (uint16_t)(DP_ETH_HLEN + DP_IPV4_HLEN + hlen);
	dp_stack_tx(st, p);
}

void dp_tcp_reply_rst(struct dp_stack *st, const struct dp_rx *rx, uint32_t seq, uint32_t ack,
		      uint8_t flags)
{
	st->stats.tcp_rst_tx++;
	reply(st, rx, seq, ack, flags, 0, NULL, 0);
}

void dp_tcp_reply_synack(struct dp_stack *st, const struct dp_rx *rx, uint32_t iss,
			 uint32_t peer_seq, bool wscale, bool ts, uint32_t ts_echo)
{
	uint8_t o[20];
	uint8_t n = 0;
	uint16_t mss = (uint16_t)(st->cfg.mtu - DP_IPV4_HLEN - DP_TCP_HLEN);
	uint32_t wnd = st->cfg.rcv_buf > 65535 ? 65535 : st->cfg.rcv_buf;

	o[n++] = 2;
	o[n++] = 4;
	dp_put16(o + n, mss);
	n += 2;
	if (wscale) {
		o[n++] = 1;
		o[n++] = 3;
		o[n++] = 3;
		o[n++] = st->cfg.wscale;
	}
	if (ts) {
		put_ts(o + n, dp_tcp_ts_now(st), ts_echo);
		n += TS_OPT_LEN;
	}
	/* The window of a SYN segment is never scaled (RFC 7323 §2.2). */
	reply(st, rx, iss, peer_seq + 1, DP_TCP_SYN | DP_TCP_ACK, (uint16_t)wnd, o, n);
}
