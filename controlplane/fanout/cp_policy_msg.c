/* cp_policy_msg: stored copy policy -> ServerMessage{CopyPolicy}. Contract in cp_policy_msg.h. */
#include "cp_policy_msg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define LIST_MAX 16 /* copy_policy_is_valid(): <= 16 symbols, <= 16 map entries */

/* Every order type, as bits (1 << OrderType): the default when order_types is absent. */
static uint32_t mask_all(void)
{
	uint32_t m = 0;

	for (unsigned t = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
	     t <= DECP__ORDER_TYPE__ORDER_TYPE_CLOSE_PARTIAL; t++)
		m |= UINT32_C(1) << t;
	return m;
}

/* order_types (["BUY", "CLOSE", ...]) as a mask; -1 for an unknown name. */
static int64_t type_mask(const json_t *a)
{
	uint32_t m = 0;
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v) {
		char name[48];
		const ProtobufCEnumValue *ev;

		if (!json_is_string(v) ||
		    snprintf(name, sizeof(name), "ORDER_TYPE_%s", json_string_value(v)) >=
			    (int)sizeof(name))
			return -1;
		ev = protobuf_c_enum_descriptor_get_value_by_name(&decp__order_type__descriptor, name);
		if (ev == NULL || ev->value <= 0 || ev->value >= 32)
			return -1;
		m |= UINT32_C(1) << ev->value;
	}
	return m;
}

/* A JSON array of strings into list (borrowed pointers); -1 when not one or too long. */
static int strings(const json_t *a, char **list, size_t *n)
{
	size_t i;
	json_t *v;

	*n = 0;
	if (a == NULL)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > LIST_MAX)
		return -1;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v))
			return -1;
		list[(*n)++] = (char *)json_string_value(v);
	}
	return 0;
}

/* A boolean member, or def when absent; -1 for another type. */
static int flag(const json_t *o, const char *key, bool def)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL)
		return def;
	return json_is_boolean(v) ? json_is_true(v) : -1;
}

struct cp_fmsg *cp_policy_fmsg(const struct cp_policy_row *row)
{
	static const char *const modes[] = {"", "FIXED", "MULTIPLIER", "EQUITY_RATIO",
					    "RISK_PERCENT"};
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	Decp__CopyPolicy cp = DECP__COPY_POLICY__INIT;
	Decp__CopyPolicy__SymbolMap maps[LIST_MAX], *mapp[LIST_MAX];
	char *allow[LIST_MAX], *deny[LIST_MAX];
	const char *key, *mode;
	json_t *o, *v, *map;
	struct cp_fmsg *m = NULL;
	int64_t mask;
	int f[5], err = EINVAL;

	errno = EINVAL;
	if (row == NULL || row->json == NULL)
		return NULL;
	o = json_loads(row->json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o))
		goto out;
	mode = json_string_value(json_object_get(o, "mode"));
	for (cp.lot_mode = DECP__COPY_POLICY__LOT_MODE__LOT_MODE_UNSPECIFIED; mode != NULL &&
	     cp.lot_mode <= DECP__COPY_POLICY__LOT_MODE__LOT_MODE_RISK_PERCENT; cp.lot_mode++)
		if (strcmp(mode, modes[cp.lot_mode]) == 0)
			break;
	if (mode == NULL || cp.lot_mode == DECP__COPY_POLICY__LOT_MODE__LOT_MODE_UNSPECIFIED ||
	    cp.lot_mode > DECP__COPY_POLICY__LOT_MODE__LOT_MODE_RISK_PERCENT)
		goto out;
	cp.subscription_id = row->sub_id;
	cp.master_id = row->master_id;
	cp.version = row->version;
	cp.lot_fixed = row->num[CP_POLICY_LOT_FIXED];
	cp.lot_multiplier_milli = row->num[CP_POLICY_MULTIPLIER_MILLI];
	cp.master_equity = row->num[CP_POLICY_MASTER_EQUITY];
	cp.risk_bp = row->num[CP_POLICY_RISK_BP];
	cp.max_deviation_pips_x100 = row->num[CP_POLICY_MAX_DEVIATION_X100];
	cp.min_free_funds = row->num[CP_POLICY_MIN_FREE_FUNDS];
	cp.equity_floor = row->num[CP_POLICY_EQUITY_FLOOR];
	cp.max_drawdown_bp = row->num[CP_POLICY_MAX_DRAWDOWN_BP];

	map = json_object_get(o, "symbol_map");
	if (map != NULL && (!json_is_object(map) || json_object_size(map) > LIST_MAX))
		goto out;
	json_object_foreach(map, key, v) {
		if (!json_is_string(v))
			goto out;
		decp__copy_policy__symbol_map__init(&maps[cp.n_symbol_map]);
		maps[cp.n_symbol_map].from = (char *)key;
		maps[cp.n_symbol_map].to = (char *)json_string_value(v);
		mapp[cp.n_symbol_map] = &maps[cp.n_symbol_map];
		cp.n_symbol_map++;
	}
	cp.symbol_map = mapp;
	if (strings(json_object_get(o, "symbols_allow"), allow, &cp.n_symbols_allow) ||
	    strings(json_object_get(o, "symbols_deny"), deny, &cp.n_symbols_deny))
		goto out;
	cp.symbols_allow = allow;
	cp.symbols_deny = deny;
	v = json_object_get(o, "prefix");
	if (v != NULL && !json_is_string(v))
		goto out;
	cp.prefix = (char *)(v != NULL ? json_string_value(v) : "");
	v = json_object_get(o, "suffix");
	if (v != NULL && !json_is_string(v))
		goto out;
	cp.suffix = (char *)(v != NULL ? json_string_value(v) : "");
	v = json_object_get(o, "order_types");
	mask = v == NULL ? mask_all() : json_is_array(v) ? type_mask(v) : -1;
	if (mask < 0)
		goto out;
	cp.order_type_mask = (uint32_t)mask;
	/* guard_policy_init(): SL, TP and modifications are copied unless switched off */
	f[0] = flag(o, "reverse", false);
	f[1] = flag(o, "copy_sl", true);
	f[2] = flag(o, "copy_tp", true);
	f[3] = flag(o, "sync_modify", true);
	f[4] = flag(o, "close_all_on_trip", false);
	for (int i = 0; i < 5; i++)
		if (f[i] < 0)
			goto out;
	cp.reverse = f[0];
	cp.copy_sl = f[1];
	cp.copy_tp = f[2];
	cp.sync_modify = f[3];
	cp.close_all_on_trip = f[4];

	sm.kind_case = DECP__SERVER_MESSAGE__KIND_COPY_POLICY;
	sm.copy_policy = &cp;
	m = cp_fmsg_pack(&sm);
	err = ENOMEM;
out:
	json_decref(o); /* may touch errno */
	if (m == NULL)
		errno = err;
	return m;
}

struct cp_fmsg *cp_policy_fmsg_of(const PGresult *res, int i, struct cp_policy_row *out)
{
	if (res == NULL || out == NULL || PQnfields(res) < CP_POLICY_COLS || i < 0 ||
	    i >= PQntuples(res)) {
		errno = EINVAL;
		return NULL;
	}
	memset(out, 0, sizeof(*out));
	out->sub_id = strtoull(PQgetvalue(res, i, CP_POLICY_COL_ID), NULL, 10);
	out->master_id = strtoull(PQgetvalue(res, i, CP_POLICY_COL_MASTER), NULL, 10);
	out->version = strtoull(PQgetvalue(res, i, CP_POLICY_COL_VERSION), NULL, 10);
	out->json = PQgetvalue(res, i, CP_POLICY_COL_JSON);
	for (int k = 0; k < CP_POLICY_NUMS; k++)
		out->num[k] = strtoll(PQgetvalue(res, i, CP_POLICY_COL_SCALED + k), NULL, 10);
	return cp_policy_fmsg(out);
}
