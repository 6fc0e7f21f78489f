/* guard_wire: proto_wire's CopyPolicy -> struct guard_policy. Contract in guard_wire.h. */
#include "guard_wire.h"

#include <errno.h>
#include <string.h>

/* proto_wire's texts fit guard's arrays by construction (same limits). */
_Static_assert(GUARD_SYMBOL_MAX == PROTO_SYMBOL_MAX + 1, "symbol arrays");
_Static_assert(GUARD_AFFIX_MAX == PROTO_WIRE_AFFIX_MAX + 1, "affix arrays");
_Static_assert(GUARD_POLICY_MAP_MAX == PROTO_WIRE_POLICY_LIST_MAX &&
		       GUARD_POLICY_LIST_MAX == PROTO_WIRE_POLICY_LIST_MAX,
	       "list lengths");

int guard_policy_from_wire(const struct proto_wire_copy_policy *m, struct guard_policy *out)
{
	struct guard_policy *p = out;

	if (!m || !out)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	for (uint32_t i = 0; i < m->n_symbol_map; i++) {
		memcpy(p->map[i].from, m->symbol_map[i].from, sizeof(p->map[i].from));
		memcpy(p->map[i].to, m->symbol_map[i].to, sizeof(p->map[i].to));
	}
	p->map_count = m->n_symbol_map;
	memcpy(p->allow, m->symbols_allow, sizeof(p->allow));
	p->allow_count = m->n_symbols_allow;
	memcpy(p->deny, m->symbols_deny, sizeof(p->deny));
	p->deny_count = m->n_symbols_deny;
	memcpy(p->prefix, m->prefix, sizeof(p->prefix));
	memcpy(p->suffix, m->suffix, sizeof(p->suffix));
	p->version = m->version;
	p->type_mask = m->order_type_mask;
	p->lot_mode = m->lot_mode; /* decp.CopyPolicy.LotMode's values are guard_lot_mode's */
	p->lot_fixed = m->lot_fixed;
	p->lot_multiplier_milli = m->lot_multiplier_milli;
	p->master_equity = m->master_equity;
	p->risk_bp = m->risk_bp;
	p->reverse = m->reverse != 0;
	p->copy_sl = m->copy_sl != 0;
	p->copy_tp = m->copy_tp != 0;
	p->sync_modify = m->sync_modify != 0;
	p->max_deviation_pips_x100 = m->max_deviation_pips_x100;
	p->min_free_funds = m->min_free_funds;
	p->equity_floor = m->equity_floor;
	p->max_drawdown_bp = m->max_drawdown_bp;
	p->close_all_on_trip = m->close_all_on_trip != 0;
	/* guard_policy_valid refuses empty map and list entries, a bad lot mode, ... */
	if (m->n_symbol_map > GUARD_POLICY_MAP_MAX || m->n_symbols_allow > GUARD_POLICY_LIST_MAX ||
	    m->n_symbols_deny > GUARD_POLICY_LIST_MAX || m->version == 0 ||
	    m->version > (uint64_t)INT64_MAX ||
	    guard_policy_valid(p) != 0) {
		memset(out, 0, sizeof(*out));
		return -EPROTO;
	}
	return 0;
}
