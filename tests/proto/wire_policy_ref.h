/*
 * proto_wire's CopyPolicy against protobuf-c's (test-only, shared by test_wire.c and
 * fuzz_wire.c): the same values in every field, texts byte for byte.
 */
#ifndef DECP_WIRE_POLICY_REF_H
#define DECP_WIRE_POLICY_REF_H

#include <stdbool.h>
#include <string.h>

#include "decp.pb-c.h"
#include "proto_wire.h"

static inline bool wire_text_equal(const char *ref, const char *w)
{
	return strcmp(ref != NULL ? ref : "", w) == 0;
}

/* True when w (proto_wire_copy_policy_decode) holds exactly r (protobuf-c's unpack). */
static inline bool wire_policy_equal(const Decp__CopyPolicy *r,
				     const struct proto_wire_copy_policy *w)
{
	if (r->subscription_id != w->subscription_id || r->master_id != w->master_id ||
	    r->version != w->version || (uint32_t)r->lot_mode != w->lot_mode ||
	    r->lot_fixed != w->lot_fixed || r->lot_multiplier_milli != w->lot_multiplier_milli ||
	    r->master_equity != w->master_equity || r->risk_bp != w->risk_bp ||
	    r->n_symbol_map != w->n_symbol_map || r->n_symbols_allow != w->n_symbols_allow ||
	    r->n_symbols_deny != w->n_symbols_deny || r->order_type_mask != w->order_type_mask ||
	    r->reverse != w->reverse || r->copy_sl != w->copy_sl || r->copy_tp != w->copy_tp ||
	    r->sync_modify != w->sync_modify ||
	    r->max_deviation_pips_x100 != w->max_deviation_pips_x100 ||
	    r->min_free_funds != w->min_free_funds || r->equity_floor != w->equity_floor ||
	    r->max_drawdown_bp != w->max_drawdown_bp ||
	    r->close_all_on_trip != w->close_all_on_trip ||
	    !wire_text_equal(r->prefix, w->prefix) || !wire_text_equal(r->suffix, w->suffix))
		return false;
	for (size_t i = 0; i < r->n_symbol_map; i++)
		if (r->symbol_map[i] == NULL ||
		    !wire_text_equal(r->symbol_map[i]->from, w->symbol_map[i].from) ||
		    !wire_text_equal(r->symbol_map[i]->to, w->symbol_map[i].to))
			return false;
	for (size_t i = 0; i < r->n_symbols_allow; i++)
		if (!wire_text_equal(r->symbols_allow[i], w->symbols_allow[i]))
			return false;
	for (size_t i = 0; i < r->n_symbols_deny; i++)
		if (!wire_text_equal(r->symbols_deny[i], w->symbols_deny[i]))
			return false;
	return true;
}

#endif
