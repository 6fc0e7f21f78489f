/*
 * dp_tcp_reass.c: in-order delivery and the bounded out-of-order queue.
 *
 * Bytes are delivered to the application exactly once, in sequence order. Data that
 * arrives ahead of RCV.NXT is copied into the connection's receive ring at index
 * (seq & (rcv_buf - 1)): the window never exceeds rcv_buf, so every sequence number in
 * [RCV.NXT, RCV.NXT + RCV.WND) has its own byte. The held ranges are kept sorted,
 * disjoint and non-adjacent in c->ooo[] (at most cfg.ooo_ranges of them).
 *
 * Overlap rule: the first copy of a byte wins. A later segment only fills the gaps
 * between ranges already held, so conflicting retransmissions (an attack, or a broken
 * peer) cannot change bytes we accepted; this matches the common practice of BSD and
 * Linux, which keep queued data and trim the newcomer. Bytes delivered in order are
 * final for the same reason.
 *
 * A segment that would need a new range when all are in use is dropped
 * (drop_tcp_ooo_full); the peer retransmits it once the hole before it is filled.
 */
#include <string.h>

#include "dp_seq.h"
#include "dp_stack_pvt.h"

/* Hand len bytes to the application. Returns false when it is gone (closed or aborted,
 * possibly from inside this very callback): the caller must not deliver more. */
static bool deliver(struct dp_stack *st, struct dp_tcp_conn *c, const uint8_t *data, uint32_t len)
{
	if (!c->app_attached || c->abort_pending)
		return false;
	if (len)
		st->app.on_data(c->app_ctx, c, data, len);
	return c->app_attached && !c->abort_pending;
}

/* The application left while bytes were still due: that data cannot be delivered. */
static void orphaned(struct dp_stack *st, struct dp_tcp_conn *c)
{
	if (!c->abort_pending) {
		st->stats.drop_tcp_after_close++;
		c->abort_pending = true;
	}
}

static void ring_put(struct dp_stack *st, struct dp_tcp_conn *c, uint32_t seq,
		     const uint8_t *data, uint32_t len)
{
	uint32_t size = st->cfg.rcv_buf, pos = seq & (size - 1);
	uint32_t first = size - pos < len ? size - pos : len;

	memcpy(c->rcvbuf + pos, data, first);
	memcpy(c->rcvbuf, data + first, len - first);
}

/* Copy [s, e) of the segment (which starts at seq0 with data0) into the ring, skipping
 * bytes held already, and merge it into the range list. Returns false when full. */
static bool ooo_insert(struct dp_stack *st, struct dp_tcp_conn *c, uint32_t seq0,
		       const uint8_t *data0, uint32_t len0)
{
	uint32_t base = c->rcv_nxt;
	uint32_t s = seq0 - base, e = s + len0; /* offsets from RCV.NXT: no wrap inside */
	uint16_t i, j, n = c->n_ooo;
	uint32_t cur = s;

	/* ranges i..j-1 overlap or touch [s, e) */
	for (i = 0; i < n && c->ooo[i].end - base < s; i++)
		;
	for (j = i; j < n && c->ooo[j].start - base <= e; j++)
		;
	if (i == j && n == st->cfg.ooo_ranges) {
		st->stats.drop_tcp_ooo_full++;
		return false;
	}
	for (uint16_t k = i; k < j; k++) {
		uint32_t rs = c->ooo[k].start - base, re = c->ooo[k].end - base;

		uint32_t gap_end = rs < e ? rs : e;

		if (cur < gap_end)
			ring_put(st, c, base + cur, data0 + (cur - s), gap_end - cur);
		if (re > cur)
			cur = re;
	}
	if (cur < e)
		ring_put(st, c, base + cur, data0 + (cur - s), e - cur);
	if (i == j) {
		memmove(&c->ooo[i + 1], &c->ooo[i], (size_t)(n - i) * sizeof(c->ooo[0]));
		c->ooo[i].start = base + s;
		c->ooo[i].end = base + e;
		c->n_ooo++;
	} else {
		uint32_t ns = c->ooo[i].start - base < s ? c->ooo[i].start - base : s;
		uint32_t ne = c->ooo[j - 1].end - base > e ? c->ooo[j - 1].end - base : e;

		c->ooo[i].start = base + ns;
		c->ooo[i].end = base + ne;
		memmove(&c->ooo[i + 1], &c->ooo[j], (size_t)(n - j) * sizeof(c->ooo[0]));
		c->n_ooo = (uint16_t)(n - (j - i - 1));
	}
	return true;
}

/* Deliver the head range while it starts at RCV.NXT. */
static void drain(struct dp_stack *st, struct dp_tcp_conn *c)
{
	uint32_t size = st->cfg.rcv_buf;

	while (c->n_ooo && c->ooo[0].start == c->rcv_nxt) {
		uint32_t len = c->ooo[0].end - c->ooo[0].start;
		uint32_t pos = c->rcv_nxt & (size - 1);
		uint32_t first = size - pos < len ? size - pos : len;

		c->rcv_nxt += len;
		c->n_ooo--;
		memmove(&c->ooo[0], &c->ooo[1], (size_t)c->n_ooo * sizeof(c->ooo[0]));
		if (!deliver(st, c, c->rcvbuf + pos, first)) {
			if (len > first)
				orphaned(st, c);
			return;
		}
		if (len > first && !deliver(st, c, c->rcvbuf, len - first))
			return;
	}
}

void dp_tcp_reass_data(struct dp_stack *st, struct dp_tcp_conn *c, uint32_t seq,
		       const uint8_t *data, uint32_t len)
{
	bool in_order = seq == c->rcv_nxt;

	if (in_order) {
		/* Deliver straight from the frame up to the first held range (whose bytes win). */
		uint32_t direct = len;

		if (c->n_ooo && c->ooo[0].start - seq < direct)
			direct = c->ooo[0].start - seq;
		c->rcv_nxt += direct;
		if (!deliver(st, c, data, direct)) {
			if (len > direct || (c->n_ooo && c->ooo[0].start == c->rcv_nxt))
				orphaned(st, c);
			return;
		}
		seq += direct;
		data += direct;
		len -= direct;
	}
	if (len) {
		if (!ooo_insert(st, c, seq, data, len))
			return;
		if (!in_order)
			st->stats.tcp_ooo_queued++;
	}
	drain(st, c);
}

void dp_tcp_reass_clear(struct dp_tcp_conn *c)
{
	c->n_ooo = 0;
	c->ooo_fin = false;
}
