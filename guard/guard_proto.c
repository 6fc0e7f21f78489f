/* guard_proto: proto message -> guard struct adapter. Contract in guard_proto.h. */
#include "guard_proto.h"

#include <errno.h>
#include <string.h>

#include "proto_msg.h"
#include "proto_signal.h"

int guard_envelope_from_proto(const Decp__Envelope *e, ProtobufCAllocator *alloc,
			      struct guard_envelope *out)
{
	const Decp__SignedSignal *ss;
	Decp__Signal *s;
	size_t n;
	int rc = -EPROTO;

	if (!e || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	ss = e->signal;
	if (!ss || !ss->body.data || ss->body.len == 0)
		return -EPROTO;
	s = proto_signal_decode(ss->body.data, ss->body.len, alloc);
	if (!s)
		return -EPROTO;
	n = s->symbol ? strlen(s->symbol) : 0;
	if (n == 0 || n >= sizeof(out->symbol) || s->master_id != e->master_id ||
	    s->sequence != e->sequence)
		goto fail;
	out->master_id = s->master_id;
	out->sequence = s->sequence;
	memcpy(out->symbol, s->symbol, n + 1);
	out->order_type = (uint32_t)s->order_type;
	out->volume = s->volume;
	out->price = s->price;
	out->sl = s->sl;
	out->tp = s->tp;
	out->position_ticket = s->position_ticket;
	out->master_time_ns = s->master_time_ns;
	out->expiration_ns = s->expiration_ns;
	out->server_arrival_ns = e->server_arrival_ns;
	out->fanout_send_ns = e->fanout_send_ns;
	out->replay = e->replay;
	out->body = ss->body.data;
	out->body_len = ss->body.len;
	out->sig = ss->ed25519_sig.data;
	out->sig_len = ss->ed25519_sig.len;
	rc = 0;
fail:
	proto_msg_free(&s->base, alloc);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

int guard_clock_add_pong(struct guard_clock *c, const Decp__TimePong *pong,
			 int64_t client_recv_ns)
{
	if (!pong)
		return -EINVAL;
	return guard_clock_add_sample(c, pong->client_send_ns, pong->server_recv_ns,
				      pong->server_send_ns, client_recv_ns);
}

/* src (may be NULL = "") into dst[cap]: false when it does not fit with its NUL. */
static bool text_in(char *dst, size_t cap, const char *src, bool may_be_empty)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap || (n == 0 && !may_be_empty))
		return false;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
	return true;
}

int guard_policy_from_proto(const Decp__CopyPolicy *m, struct guard_policy *out)
{
	struct guard_policy *p = out;

	if (!m || !out)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	if (m->n_symbol_map > GUARD_POLICY_MAP_MAX || m->n_symbols_allow > GUARD_POLICY_LIST_MAX ||
	    m->n_symbols_deny > GUARD_POLICY_LIST_MAX)
		goto fail;
	for (size_t i = 0; i < m->n_symbol_map; i++)
		if (!m->symbol_map[i] ||
		    !text_in(p->map[i].from, sizeof(p->map[i].from), m->symbol_map[i]->from, false) ||
		    !text_in(p->map[i].to, sizeof(p->map[i].to), m->symbol_map[i]->to, false))
			goto fail;
	p->map_count = (uint32_t)m->n_symbol_map;
	for (size_t i = 0; i < m->n_symbols_allow; i++)
		if (!text_in(p->allow[i], sizeof(p->allow[i]), m->symbols_allow[i], false))
			goto fail;
	p->allow_count = (uint32_t)m->n_symbols_allow;
	for (size_t i = 0; i < m->n_symbols_deny; i++)
		if (!text_in(p->deny[i], sizeof(p->deny[i]), m->symbols_deny[i], false))
			goto fail;
	p->deny_count = (uint32_t)m->n_symbols_deny;
	if (!text_in(p->prefix, sizeof(p->prefix), m->prefix, true) ||
	    !text_in(p->suffix, sizeof(p->suffix), m->suffix, true))
		goto fail;
	p->version = m->version;
	p->type_mask = m->order_type_mask;
	p->lot_mode = (uint32_t)m->lot_mode; /* enum values equal guard_lot_mode's */
	p->lot_fixed = m->lot_fixed;
	p->lot_multiplier_milli = m->lot_multiplier_milli;
	p->master_equity = m->master_equity;
	p->risk_bp = m->risk_bp;
	p->reverse = m->reverse;
	p->copy_sl = m->copy_sl;
	p->copy_tp = m->copy_tp;
	p->sync_modify = m->sync_modify;
	p->max_deviation_pips_x100 = m->max_deviation_pips_x100;
	p->min_free_funds = m->min_free_funds;
	p->equity_floor = m->equity_floor;
	p->max_drawdown_bp = m->max_drawdown_bp;
	p->close_all_on_trip = m->close_all_on_trip;
	if (m->version == 0 || guard_policy_valid(p) != 0)
		goto fail;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -EPROTO;
}
