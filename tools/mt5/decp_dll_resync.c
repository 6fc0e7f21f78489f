/*
 * decp.dll's exports for issue 19: a receiver's re-sync by snapshot (decp_rx_resync*,
 * SnapshotBegin/Part/End through decp_rx_message) and the master's own positions
 * (decp_master_position*). Contract in decp_dll.h; the work is decp_resync.c's,
 * proto_wire's and the guard's, this file only adapts.
 */
#include <errno.h>
#include <string.h>

#include "decp_dll_pvt.h"
#include "decp_resync.h"

/* ------------------------------------------------------ the master's positions -- */

int32_t decp_master_position(int64_t master, int64_t ticket, const wchar_t *symbol,
			     int32_t type, int64_t volume, int64_t price, int64_t sl, int64_t tp,
			     int64_t expiration_ns)
{
	struct master *m = decp_handle_get(master, K_MASTER);
	struct proto_wire_book_entry *e;

	if (m == NULL)
		return DECP_E_HANDLE;
	if (m->npos == DECP_MASTER_POSITIONS_MAX)
		return DECP_E_NOBUFS;
	e = &m->pos[m->npos];
	memset(e, 0, sizeof(*e));
	/* the rules ingest and the book role apply (proto_wire_positions_entry_check) */
	if (ticket <= 0 || type < 0 || decp_ascii_of(symbol, e->symbol, sizeof(e->symbol), false) < 1 ||
	    proto_wire_positions_entry_check((uint64_t)ticket, (uint32_t)type, e->symbol, volume,
					     price, sl, tp, expiration_ns) != 0)
		return DECP_E_INVAL;
	for (uint32_t i = 0; i < m->npos; i++)
		if (m->pos[i].ticket == (uint64_t)ticket)
			return DECP_E_INVAL; /* the book role would count it a difference */
	e->ticket = (uint64_t)ticket;
	e->type = (uint32_t)type;
	e->volume = volume;
	e->price = price;
	e->sl = sl;
	e->tp = tp;
	e->expiration_ns = expiration_ns;
	return (int32_t)++m->npos;
}

/* Part k of the queued positions: entries [from, from + n), into body. Returns its length
 * or a negative errno (-ENOBUFS: more than PROTO_WIRE_POSITIONS_BODY_MAX bytes). */
static int positions_body(const struct master *m, const struct proto_wire_positions *hdr,
			  uint32_t from, uint32_t n, uint8_t *body)
{
	struct proto_wire_positions p = *hdr;

	p.entries = m->pos + from;
	p.n = n;
	return proto_wire_positions_encode(&p, body, PROTO_WIRE_POSITIONS_BODY_MAX);
}

int32_t decp_master_positions(int64_t master, int64_t sequence, int64_t snapshot_id,
			      int64_t master_time_ns, uint8_t *out, int32_t out_cap)
{
	struct master *m = decp_handle_get(master, K_MASTER);
	static const char label[] = "decp-positions-v1"; /* PROTO_POSITIONS_LABEL */
	uint8_t msg[sizeof(label) - 1 + PROTO_WIRE_POSITIONS_BODY_MAX], mac[DECP_HMAC_LEN];
	uint8_t p[PROTO_WIRE_POSITIONS_BODY_MAX + 64];
	size_t ends[DECP_MASTER_POSITIONS_MAX], from = 0;
	struct proto_wire_positions hdr;
	uint32_t parts;
	int32_t used = 0;
	long n;

	if (m == NULL)
		return DECP_E_HANDLE;
	if (sequence < 0 || snapshot_id <= 0 || !decp_buf_ok(out, out_cap) || out == NULL)
		return DECP_E_INVAL;
	memset(&hdr, 0, sizeof(hdr));
	hdr.master_id = m->id;
	hdr.sequence = (uint64_t)sequence;
	hdr.snapshot_id = (uint64_t)snapshot_id;
	hdr.count = m->npos;
	hdr.master_time_ns = master_time_ns;
	/* the parts as decp-master cuts them (proto_wire_positions_split): same bytes */
	n = proto_wire_positions_split(m->pos, m->npos, ends, DECP_MASTER_POSITIONS_MAX);
	if (n < 0)
		return decp_status_of(n);
	parts = (uint32_t)n;
	hdr.parts = parts;
	from = 0;
	for (uint32_t k = 0; k < parts; k++) {
		int b, pn;
		int32_t f;

		hdr.part = k;
		b = positions_body(m, &hdr, (uint32_t)from, (uint32_t)(ends[k] - from),
				   msg + sizeof(label) - 1);
		from = ends[k];
		if (b < 0)
			return decp_status_of(b);
		memcpy(msg, label, sizeof(label) - 1);
		if (decp_hmac_sha256_compute(m->hmac_key, m->hmac_len, msg,
					     sizeof(label) - 1 + (size_t)b, mac) != 0)
			return DECP_E_CRYPTO;
		pn = proto_wire_signed_positions_encode(msg + sizeof(label) - 1, (size_t)b, mac,
							sizeof(mac), p, sizeof(p));
		f = decp_tcp_frame(p, pn, out + used, out_cap - used);
		if (f < 0)
			return f;
		used += f;
	}
	m->npos = 0;
	return used;
}

/* ------------------------------------------- SnapshotBegin/Part/End (receiver) -- */

/* A refused snapshot (decp_dll.h DECP_E_SNAPSHOT / DECP_E_BADSIG): info master, S, why. */
static int32_t snapshot_refused(int32_t code, const struct proto_wire_msg *m, int64_t *info,
				enum decp_resync_refusal why)
{
	info[0] = (int64_t)m->v[1];
	info[1] = (int64_t)m->v[2];
	info[2] = code == DECP_E_SNAPSHOT ? (int64_t)why : 0;
	return code;
}

/* SnapshotBegin (9), SnapshotPart (11), SnapshotEnd (12) into the handle's re-sync
 * (decp_resync.h); m: proto_wire's fields. Returns the kind or the refusal's code. */
int32_t decp_rx_snapshot(struct rx *r, int k, const struct proto_wire_msg *m, int64_t *info)
{
	enum decp_resync_refusal why = 0;
	int rc;

	if (r->rs == NULL)
		return snapshot_refused(DECP_E_SNAPSHOT, m, info, DECP_RESYNC_NOT_ASKED);
	if (m->v[1] != r->sub.master_id) {
		/* not ours: never a reason to drop ours, never planned */
		return snapshot_refused(DECP_E_SNAPSHOT, m, info, DECP_RESYNC_OTHER_MASTER);
	}
	if (k == PROTO_SERVER_SNAPSHOT_BEGIN) {
		rc = decp_resync_begin(r->rs, m->v[1], m->v[2], m->v[3] > UINT32_MAX ? UINT32_MAX
									   : (uint32_t)m->v[3]);
		/* the guard leaves SYNCED: nothing executes until the reconciliation is done
		 * (guard.md "Re-sync"); also when the snapshot is refused */
		r->replaying = false;
		/* an owed re-sync is answered (decp_rx_resync_ask), unless the guard is halted:
		 * then this snapshot is dropped unplanned (decp_rx_resync_plan) and the ask waits
		 * for the return to SYNCED */
		if (r->sub.st.state == GUARD_STATE_SYNCED ||
		    r->sub.st.state == GUARD_STATE_DEGRADED_GAP) {
			r->ask_from = 0;
			r->ask_ns = 0;
		}
		if (r->sub.st.state == GUARD_STATE_SYNCED)
			(void)guard_sub_set_state(&r->sub, GUARD_STATE_DEGRADED_GAP);
		if (r->sub.st.state == GUARD_STATE_DEGRADED_GAP)
			r->snap_gap = true;
		if (rc == -E2BIG)
			return snapshot_refused(DECP_E_SNAPSHOT, m, info, DECP_RESYNC_TOO_BIG);
		if (rc != 0)
			return DECP_E_CRYPTO;
		for (int i = 0; i < 6; i++)
			info[i] = (int64_t)m->v[i + 1];
		return k;
	}
	if (k == PROTO_SERVER_SNAPSHOT_PART) {
		struct proto_wire_snapshot_part sp;

		/* proto_wire_server_decode accepted it, so this decode does too */
		if (proto_wire_snapshot_part_decode(m->b[0], m->bl[0], &sp) != 0)
			return DECP_E_MALFORMED;
		if (decp_resync_part(r->rs, &sp, &why) != 0)
			return snapshot_refused(DECP_E_SNAPSHOT, m, info, why);
		info[0] = (int64_t)sp.master_id;
		info[1] = (int64_t)sp.sequence;
		info[2] = r->rs->n;
		info[3] = r->rs->count;
		return k;
	}
	rc = decp_resync_end(r->rs, m->v[1], m->v[2], m->v[3] > UINT32_MAX ? UINT32_MAX
									  : (uint32_t)m->v[3],
			     m->b[4], m->bl[4], r->sub.st.last_seq, &why);
	if (rc == -EBADMSG)
		return snapshot_refused(DECP_E_BADSIG, m, info, 0);
	if (rc == -EIO)
		return DECP_E_CRYPTO;
	if (rc != 0)
		return snapshot_refused(DECP_E_SNAPSHOT, m, info, why);
	info[0] = (int64_t)m->v[1];
	info[1] = (int64_t)m->v[2];
	info[2] = (int64_t)m->v[3];
	info[3] = 1;
	return k;
}

/* ------------------------------------------------------- re-sync by snapshot -- */

int32_t decp_rx_resync(int64_t rx, const uint8_t *platform_pub, int32_t pub_len)
{
	struct rx *r = decp_handle_get(rx, K_RX);

	if (r == NULL)
		return DECP_E_HANDLE;
	if (platform_pub == NULL || pub_len != DECP_ED25519_PUB_LEN)
		return DECP_E_INVAL;
	if (r->rs != NULL)
		return DECP_E_STATE;
	/* a signal refused stale younger than the ask's age asks nothing (the fan-out would
	 * replay it, which cannot undo it): with a shorter TTL its CLOSE would be lost */
	if (r->sub.ttl_ns < DECP_RX_RESYNC_ASK_AGE_MS * INT64_C(1000000))
		return DECP_E_INVAL;
	if ((r->rs = decp_resync_new(platform_pub)) == NULL)
		return errno == EINVAL ? DECP_E_INVAL : DECP_E_NOMEM;
	return DECP_OK;
}

/* The handle's re-sync with a verified snapshot (COMPLETE or PLANNED), or NULL. */
static struct decp_resync *verified_of(struct rx *r)
{
	return r->rs != NULL && (r->rs->phase == DECP_RESYNC_COMPLETE ||
				 r->rs->phase == DECP_RESYNC_PLANNED) ? r->rs : NULL;
}

int32_t decp_rx_resync_entry(int64_t rx, int32_t index, int64_t *info, int32_t ninfo,
			     uint8_t *symbol, int32_t sym_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	struct decp_resync *rs;
	const struct guard_book_entry *e;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (index < 0 || info == NULL || ninfo < 8 || symbol == NULL || sym_cap < DECP_SYMBOL_MAX)
		return DECP_E_INVAL;
	if ((rs = verified_of(r)) == NULL)
		return DECP_E_STATE;
	if ((uint32_t)index >= rs->n)
		return 0;
	e = &rs->e[index];
	memset(info, 0, sizeof(*info) * (size_t)ninfo);
	info[0] = (int64_t)e->ticket;
	info[1] = e->type;
	info[2] = e->volume;
	info[3] = e->price;
	info[4] = e->sl;
	info[5] = e->tp;
	info[6] = e->expiration_ns;
	info[7] = guard_policy_symbol_allowed(&r->pol, e->symbol);
	if (ninfo >= 9)
		info[8] = decp_guard_pip(e->symbol);
	if (guard_policy_map_symbol(&r->pol, e->symbol, (char *)symbol, (size_t)sym_cap) < 0)
		symbol[0] = 0;
	return 1;
}

int32_t decp_rx_resync_held(int64_t rx, int64_t master_ticket, const wchar_t *symbol,
			    int32_t type, int64_t volume, int64_t price, int64_t sl, int64_t tp)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	struct guard_held h;
	int rc;

	if (r == NULL)
		return DECP_E_HANDLE;
	memset(&h, 0, sizeof(h));
	if (master_ticket <= 0 || decp_ascii_of(symbol, h.symbol, sizeof(h.symbol), false) < 1 ||
	    !guard_order_opens((enum guard_order_type)type) || volume <= 0 || price < 0 ||
	    sl < 0 || tp < 0)
		return DECP_E_INVAL;
	h.master_ticket = (uint64_t)master_ticket;
	h.type = (uint32_t)type;
	h.volume = volume;
	h.price = price;
	h.sl = sl;
	h.tp = tp;
	if (r->rs == NULL)
		return DECP_E_STATE;
	rc = decp_resync_held_add(r->rs, &h);
	return rc == -EPERM ? DECP_E_STATE : rc == -EEXIST ? DECP_E_INVAL : decp_status_of(rc);
}

int32_t decp_rx_resync_held_master(int64_t rx, int64_t master_ticket, int64_t master_volume)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	int rc;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (master_ticket <= 0 || master_volume <= 0)
		return DECP_E_INVAL;
	if (r->rs == NULL)
		return DECP_E_STATE;
	rc = decp_resync_held_master(r->rs, (uint64_t)master_ticket, master_volume);
	return rc == -EPERM ? DECP_E_STATE : rc == -ENOENT ? DECP_E_INVAL : decp_status_of(rc);
}

int32_t decp_rx_resync_quote(int64_t rx, const wchar_t *symbol, const int64_t *view,
			     int32_t nview)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	char sym[GUARD_SYMBOL_MAX];
	struct guard_view v;
	int rc;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (decp_ascii_of(symbol, sym, sizeof(sym), false) < 1 || view == NULL || nview < 9 ||
	    decp_view_of(view, nview, 0, &v) != 0)
		return DECP_E_INVAL;
	if (r->rs == NULL)
		return DECP_E_STATE;
	rc = decp_resync_quote_set(r->rs, sym, &v, nview >= 13 ? view[12] : 0);
	return rc == -EPERM ? DECP_E_STATE : decp_status_of(rc);
}

int32_t decp_rx_resync_plan(int64_t rx)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	long n;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (r->rs == NULL)
		return DECP_E_STATE;
	/* Execution halted (LOCKED_NO_FUNDS, PAUSED_TOXIC, SUSPENDED_ADMIN, CANCELLED: the
	 * seed's state machine has no edge from them to DEGRADED_GAP, so the snapshot could
	 * not move the guard): nothing is planned. The signals up to S are consumed as the
	 * guard consumes every signal in these states (refused STATE_LOCKED), so when the
	 * subscription returns to SYNCED the stream continues at S + 1 with no gap. Before,
	 * the plan ran, last_seq stayed below S and the first live signal after the funds
	 * returned was a SEQUENCE_GAP (-20) into DEGRADED_GAP. */
	if (r->rs->phase == DECP_RESYNC_COMPLETE && r->sub.st.state != GUARD_STATE_SYNCED &&
	    r->sub.st.state != GUARD_STATE_DEGRADED_GAP) {
		/* what it settles unreconciled is owed a re-sync: asked once the guard is SYNCED
		 * again, from the first sequence it consumes, no sooner than
		 * DECP_RX_RESYNC_ASK_AGE_MS after the SnapshotEnd (those signals came before) */
		if (r->rs->seq > r->sub.st.last_seq) {
			decp_rx_ask_owe(r, r->sub.st.last_seq + 1,
					r->msg_ns + DECP_RX_RESYNC_ASK_AGE_MS * INT64_C(1000000),
					r->msg_ns);
			r->sub.st.last_seq = r->rs->seq;
		}
		decp_resync_abandon(r->rs);
		r->snap_gap = false;
		return DECP_E_STATE;
	}
	/* the instrument registry decp_rx_check uses (guard's built-in) */
	n = decp_resync_plan(r->rs, &r->pol, r->sub.st.equity_tripped != 0, &r->acct,
			     guard_instruments_builtin());
	return n == -EPERM ? DECP_E_STATE : decp_status_of(n);
}

int32_t decp_rx_resync_action(int64_t rx, int32_t index, int64_t *act, int32_t nact,
			      uint8_t *symbol, int32_t sym_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	const struct guard_resync_action *a;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (index < 0 || act == NULL || nact < 13 || symbol == NULL || sym_cap < DECP_SYMBOL_MAX)
		return DECP_E_INVAL;
	if (r->rs == NULL || r->rs->phase != DECP_RESYNC_PLANNED)
		return DECP_E_STATE;
	if ((uint32_t)index >= r->rs->nact)
		return 0;
	a = &r->rs->act[index];
	memset(act, 0, sizeof(*act) * (size_t)nact);
	act[0] = a->op;
	act[1] = a->order.type;
	act[2] = a->order.volume;
	act[3] = a->order.price;
	act[4] = a->order.sl;
	act[5] = a->order.tp;
	act[6] = (int64_t)a->order.master_ticket;
	act[7] = a->order.expiration_ns;
	act[8] = a->master_volume;
	act[9] = a->reason;
	act[10] = a->filter;
	act[11] = a->deviation_pips_x100;
	act[12] = a->margin_needed;
	memcpy(symbol, a->order.symbol, sizeof(a->order.symbol));
	return (int32_t)a->op;
}

int32_t decp_rx_resync_done(int64_t rx, uint8_t *out, int32_t out_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	struct proto_wire_resync_done d;
	uint8_t p[96];
	int32_t n;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (!decp_buf_ok(out, out_cap) || out == NULL)
		return DECP_E_INVAL;
	if (r->rs == NULL)
		return DECP_E_STATE;
	if (decp_resync_counts(r->rs, &d) != 0)
		return DECP_E_STATE;
	/* the frame first: a short buffer leaves the plan and the guard as they were */
	n = decp_ws_frame(p, proto_wire_resync_done_encode(&d, p, sizeof(p)), out, out_cap);
	if (n < 0)
		return n;
	decp_resync_finish(r->rs);
	/* the signals up to S are settled by the reconciliation, never executed: the guard
	 * continues at S + 1 (guard_sub_sync_complete refuses to go back) */
	if (r->sub.st.state == GUARD_STATE_DEGRADED_GAP)
		(void)guard_sub_sync_complete(&r->sub, d.sequence);
	r->snap_gap = false;
	return n;
}
