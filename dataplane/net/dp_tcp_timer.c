/*
 * dp_tcp_timer.c: the two timers of a connection and the RFC 6298 estimator.
 *
 *   rtx_timer   retransmission (RFC 6298 §5) while sequence space is in flight; persist
 *               (RFC 9293 §3.8.6.1) while the peer's window is zero, data waits and
 *               nothing is in flight. Both back off exponentially up to rto_max_ns.
 *   life_timer  idle timeout (ESTABLISHED, CLOSE_WAIT and while our FIN is unanswered),
 *               FIN_WAIT_2 timeout, TIME_WAIT expiry.
 *
 * Retransmission is go-back-N: on timeout SND.NXT returns to SND.UNA, one segment is
 * resent, and later ACKs let dp_tcp_output() resend the rest as the window allows.
 */
#include <stddef.h>

#include "dp_seq.h"
#include "dp_stack_pvt.h"
#include "dp_wire.h"

static uint64_t clamp_rto(const struct dp_stack *st, uint64_t rto)
{
	if (rto < st->cfg.rto_min_ns)
		return st->cfg.rto_min_ns;
	if (rto > st->cfg.rto_max_ns)
		return st->cfg.rto_max_ns;
	return rto;
}

void dp_tcp_rtt_sample(struct dp_stack *st, struct dp_tcp_conn *c, uint64_t r)
{
	uint64_t var4;

	if (c->srtt_ns == 0) {
		/* RFC 6298 §2.2 first measurement. */
		c->srtt_ns = r ? r : 1;
		c->rttvar_ns = r / 2;
	} else {
		/* §2.3 with alpha = 1/8, beta = 1/4 (RTTVAR first, from the old SRTT). */
		uint64_t diff = c->srtt_ns > r ? c->srtt_ns - r : r - c->srtt_ns;

		c->rttvar_ns = (3 * c->rttvar_ns + diff) / 4;
		c->srtt_ns = (7 * c->srtt_ns + r) / 8;
	}
	var4 = 4 * c->rttvar_ns;
	if (var4 < st->cfg.timer_tick_ns) /* G, the clock granularity */
		var4 = st->cfg.timer_tick_ns;
	c->rto_ns = clamp_rto(st, c->srtt_ns + var4);
}

void dp_tcp_rtx_arm(struct dp_stack *st, struct dp_tcp_conn *c)
{
	c->persist = false;
	dp_timer_arm(&st->wheel, &c->rtx_timer, st->now_ns + c->rto_ns);
}

void dp_tcp_rtx_cancel(struct dp_stack *st, struct dp_tcp_conn *c)
{
	c->persist = false;
	dp_timer_cancel(&st->wheel, &c->rtx_timer);
}

void dp_tcp_persist_arm(struct dp_stack *st, struct dp_tcp_conn *c)
{
	if (c->persist && dp_timer_armed(&c->rtx_timer))
		return;
	c->persist = true;
	c->persist_ns = c->rto_ns;
	dp_timer_arm(&st->wheel, &c->rtx_timer, st->now_ns + c->persist_ns);
}

void dp_tcp_life_arm(struct dp_stack *st, struct dp_tcp_conn *c)
{
	switch (c->state) {
	case DP_TCP_TIME_WAIT:
		dp_timer_arm(&st->wheel, &c->life_timer, st->now_ns + st->cfg.time_wait_ns);
		break;
	case DP_TCP_FIN_WAIT_2:
		dp_timer_arm(&st->wheel, &c->life_timer, st->now_ns + st->cfg.fin_wait2_ns);
		break;
	default:
		if (st->cfg.idle_timeout_ns)
			dp_timer_arm(&st->wheel, &c->life_timer, c->last_rx_ns + st->cfg.idle_timeout_ns);
		else
			dp_timer_cancel(&st->wheel, &c->life_timer);
		break;
	}
}

/* Reset c and tell the application (when it still holds c) why. */
static void give_up(struct dp_stack *st, struct dp_tcp_conn *c, enum dp_close_reason why)
{
	dp_tcp_send_rst(st, c);
	dp_tcp_conn_free(st, c, why);
}

static void persist_fire(struct dp_stack *st, struct dp_tcp_conn *c)
{
	if (c->snd_wnd != 0 || c->snd_len == 0 || c->snd_max != c->snd_una) {
		c->persist = false;
		dp_tcp_output(st, c);
		return;
	}
	if (++c->retries > st->cfg.max_retries) {
		st->stats.tcp_retrans_limit++;
		give_up(st, c, DP_CLOSE_RETRANS_LIMIT);
		return;
	}
	/* Probe with an old sequence number: the peer must answer with its current window
	 * (RFC 9293 §3.10.7.4 first check) and no byte of ours is committed by the probe. */
	st->stats.tcp_persist_probe++;
	dp_tcp_xmit(st, c, c->snd_una - 1, 0, 0);
	c->persist_ns = clamp_rto(st, c->persist_ns * 2);
	c->persist = true;
	dp_timer_arm(&st->wheel, &c->rtx_timer, st->now_ns + c->persist_ns);
}

static void rtx_fire(struct dp_stack *st, struct dp_tcp_conn *c)
{
	uint32_t n;
	uint8_t fin;

	if (c->persist) {
		persist_fire(st, c);
		return;
	}
	if (c->snd_max == c->snd_una)
		return;
	if (++c->retries > st->cfg.max_retries) {
		st->stats.tcp_retrans_limit++;
		give_up(st, c, DP_CLOSE_RETRANS_LIMIT);
		return;
	}
	st->stats.tcp_rto++;
	st->stats.tcp_retrans_segs++;
	c->rto_ns = clamp_rto(st, c->rto_ns * 2); /* RFC 6298 §5.5 */
	c->rtt_active = false;                   /* Karn */
	c->dupacks = 0;
	c->snd_nxt = c->snd_una;
	n = dp_tcp_rexmit_len(c, &fin);
	dp_tcp_xmit(st, c, c->snd_una, n, (uint8_t)(fin | (n ? DP_TCP_PSH : 0)));
	c->snd_nxt = c->snd_una + n + (fin ? 1u : 0u);
	dp_tcp_rtx_arm(st, c);
}

static void life_fire(struct dp_stack *st, struct dp_tcp_conn *c)
{
	switch (c->state) {
	case DP_TCP_TIME_WAIT:
		st->stats.tcp_time_wait_done++;
		dp_tcp_conn_free(st, c, 0);
		break;
	case DP_TCP_FIN_WAIT_2:
		st->stats.tcp_fin_wait2_timeout++;
		give_up(st, c, 0);
		break;
	default:
		if (st->cfg.idle_timeout_ns == 0)
			break;
		if (st->now_ns - c->last_rx_ns < st->cfg.idle_timeout_ns) {
			dp_tcp_life_arm(st, c); /* input since arming: not idle yet */
			break;
		}
		st->stats.tcp_idle_timeout++;
		give_up(st, c, DP_CLOSE_IDLE);
		break;
	}
}

void dp_tcp_timer_fire(struct dp_stack *st, struct dp_timer *t)
{
	struct dp_tcp_conn *c;

	if (t->kind == DP_TCP_TIMER_RTX) {
		c = (struct dp_tcp_conn *)((char *)t - offsetof(struct dp_tcp_conn, rtx_timer));
		rtx_fire(st, c);
	} else {
		c = (struct dp_tcp_conn *)((char *)t - offsetof(struct dp_tcp_conn, life_timer));
		life_fire(st, c);
	}
}
