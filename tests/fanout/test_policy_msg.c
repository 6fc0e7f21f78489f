/*
 * test_policy_msg: CUnit tests of cp_policy_msg (a stored copy policy as the CopyPolicy
 * the fan-out sends, controlplane/fanout/cp_policy_msg.h) and of its receiving end,
 * guard_policy_from_proto() (guard/guard_proto.h): every key of the JSON reaches the
 * guard's struct, absent keys take guard_policy_init()'s defaults, rows the database
 * would refuse are refused, and the JSON debug mode shows the lists (and takes an
 * AccountState's positions). Pure: no sockets.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cp_fanout_json.h"
#include "cp_policy_msg.h"
#include "guard.h"
#include "guard_proto.h"
#include "proto_msg.h"

/* The guard's policy from a row, through the wire bytes. 0, or the failing step's error. */
static int through_wire(const struct cp_policy_row *row, struct guard_policy *out)
{
	struct cp_fmsg *m = cp_policy_fmsg(row);
	Decp__ServerMessage *sm;
	int rc;

	if (m == NULL)
		return -errno;
	sm = proto_server_message_decode(cp_fmsg_payload(m), m->len, NULL);
	cp_fmsg_unref(m);
	if (sm == NULL)
		return -EBADMSG;
	CU_ASSERT_EQUAL(sm->kind_case, DECP__SERVER_MESSAGE__KIND_COPY_POLICY);
	rc = sm->kind_case == DECP__SERVER_MESSAGE__KIND_COPY_POLICY
		     ? guard_policy_from_proto(sm->copy_policy, out) : -EBADMSG;
	if (rc == 0) {
		CU_ASSERT_EQUAL(sm->copy_policy->subscription_id, row->sub_id);
		CU_ASSERT_EQUAL(sm->copy_policy->master_id, row->master_id);
	}
	proto_msg_free(&sm->base, NULL);
	return rc;
}

static struct cp_policy_row row_of(const char *json)
{
	struct cp_policy_row r = {.sub_id = 7, .master_id = 3, .version = 2, .json = json};

	r.num[CP_POLICY_MAX_DEVIATION_X100] = 300;
	return r;
}

static void test_defaults(void)
{
	struct cp_policy_row r = row_of("{\"mode\": \"MULTIPLIER\", \"multiplier\": 1}");
	struct guard_policy got, want;

	r.num[CP_POLICY_MULTIPLIER_MILLI] = 1000;
	CU_ASSERT_EQUAL_FATAL(through_wire(&r, &got), 0);
	guard_policy_init(&want);
	want.version = 2;
	/* the server's defaults are guard_policy_init()'s, field for field */
	CU_ASSERT_EQUAL(memcmp(&got, &want, sizeof(got)), 0);
}

static void test_every_key(void)
{
	struct cp_policy_row r = row_of(
		"{\"mode\": \"RISK_PERCENT\", \"risk_pct\": 1.5, \"symbol_map\": {\"XAUUSD\": "
		"\"GOLD.r\", \"US30\": \"DJ30\"}, \"prefix\": \"fx.\", \"suffix\": \".m\", "
		"\"symbols_allow\": [\"EURUSD\", \"XAUUSD\"], \"symbols_deny\": [\"USDJPY\"], "
		"\"order_types\": [\"BUY\", \"SELL\", \"CLOSE\"], \"reverse\": true, \"copy_sl\": "
		"false, \"copy_tp\": true, \"sync_modify\": false, \"close_all_on_trip\": true, "
		"\"max_deviation_pips\": 2.5, \"min_free_funds\": 10, \"equity_floor\": 500, "
		"\"max_drawdown_pct\": 12.5}");
	struct guard_policy p;

	r.num[CP_POLICY_RISK_BP] = 150;
	r.num[CP_POLICY_MAX_DEVIATION_X100] = 250;
	r.num[CP_POLICY_MIN_FREE_FUNDS] = 100000;
	r.num[CP_POLICY_EQUITY_FLOOR] = 5000000;
	r.num[CP_POLICY_MAX_DRAWDOWN_BP] = 1250;
	CU_ASSERT_EQUAL_FATAL(through_wire(&r, &p), 0);
	CU_ASSERT_EQUAL(p.version, 2);
	CU_ASSERT_EQUAL(p.lot_mode, GUARD_LOT_RISK_PERCENT);
	CU_ASSERT_EQUAL(p.risk_bp, 150);
	CU_ASSERT_EQUAL(p.map_count, 2);
	CU_ASSERT_STRING_EQUAL(p.map[0].from, "XAUUSD");
	CU_ASSERT_STRING_EQUAL(p.map[0].to, "GOLD.r");
	CU_ASSERT_STRING_EQUAL(p.map[1].to, "DJ30");
	CU_ASSERT_STRING_EQUAL(p.prefix, "fx.");
	CU_ASSERT_STRING_EQUAL(p.suffix, ".m");
	CU_ASSERT_EQUAL(p.allow_count, 2);
	CU_ASSERT_STRING_EQUAL(p.allow[1], "XAUUSD");
	CU_ASSERT_EQUAL(p.deny_count, 1);
	CU_ASSERT_STRING_EQUAL(p.deny[0], "USDJPY");
	CU_ASSERT_EQUAL(p.type_mask, GUARD_ORDER_BIT(GUARD_ORDER_BUY) |
				     GUARD_ORDER_BIT(GUARD_ORDER_SELL) |
				     GUARD_ORDER_BIT(GUARD_ORDER_CLOSE));
	CU_ASSERT_TRUE(p.reverse);
	CU_ASSERT_FALSE(p.copy_sl);
	CU_ASSERT_TRUE(p.copy_tp);
	CU_ASSERT_FALSE(p.sync_modify);
	CU_ASSERT_TRUE(p.close_all_on_trip);
	CU_ASSERT_EQUAL(p.max_deviation_pips_x100, 250);
	CU_ASSERT_EQUAL(p.min_free_funds, 100000);
	CU_ASSERT_EQUAL(p.equity_floor, 5000000);
	CU_ASSERT_EQUAL(p.max_drawdown_bp, 1250);
	/* and the guard uses it: the mapped symbol */
	char sym[GUARD_SYMBOL_MAX];
	CU_ASSERT_TRUE(guard_policy_map_symbol(&p, "XAUUSD", sym, sizeof(sym)) > 0);
	CU_ASSERT_STRING_EQUAL(sym, "GOLD.r");
	CU_ASSERT_TRUE(guard_policy_map_symbol(&p, "EURUSD", sym, sizeof(sym)) > 0);
	CU_ASSERT_STRING_EQUAL(sym, "fx.EURUSD.m");
}

/* Rows copy_policy_is_valid() refuses are refused here too (EINVAL), never sent. */
static void test_refused_rows(void)
{
	static const char *const bad[] = {
		"[]", "not json", "{\"mode\": \"MARTINGALE\"}", "{\"multiplier\": 1}",
		"{\"mode\": \"FIXED\", \"order_types\": [\"HEDGE\"]}",
		"{\"mode\": \"FIXED\", \"order_types\": \"BUY\"}",
		"{\"mode\": \"FIXED\", \"reverse\": 1}",
		"{\"mode\": \"FIXED\", \"suffix\": 3}",
		"{\"mode\": \"FIXED\", \"symbol_map\": {\"A\": 1}}",
		("{\"mode\": \"FIXED\", \"symbols_deny\": [\"A\",\"B\",\"C\",\"D\",\"E\",\"F\",\"G\","
		 "\"H\",\"I\",\"J\",\"K\",\"L\",\"M\",\"N\",\"O\",\"P\",\"Q\"]}"),
		"{\"mode\": \"FIXED\", \"mode\": \"MULTIPLIER\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cp_policy_row r = row_of(bad[i]);

		errno = 0;
		CU_ASSERT_PTR_NULL(cp_policy_fmsg(&r));
		CU_ASSERT_EQUAL(errno, EINVAL);
	}
	CU_ASSERT_PTR_NULL(cp_policy_fmsg(NULL));
}

/* What guard_policy_from_proto refuses even when the server sent it. */
static void test_guard_refuses(void)
{
	Decp__CopyPolicy cp = DECP__COPY_POLICY__INIT;
	Decp__CopyPolicy__SymbolMap mp = DECP__COPY_POLICY__SYMBOL_MAP__INIT, *mpp = &mp;
	struct guard_policy p;
	char *deny[17];

	cp.version = 1;
	cp.lot_mode = DECP__COPY_POLICY__LOT_MODE__LOT_MODE_FIXED;
	cp.lot_fixed = 10;
	cp.order_type_mask = GUARD_ORDER_MASK_ALL;
	cp.prefix = (char *)"";
	cp.suffix = (char *)"";
	CU_ASSERT_EQUAL(guard_policy_from_proto(&cp, &p), 0);
	CU_ASSERT_EQUAL(p.lot_fixed, 10);

	cp.suffix = (char *)"twelve.chars"; /* 12: one over GUARD_AFFIX_MAX - 1 */
	CU_ASSERT_EQUAL(guard_policy_from_proto(&cp, &p), -EPROTO);
	cp.suffix = (char *)"";
	cp.version = 0; /* never delivered */
	CU_ASSERT_EQUAL(guard_policy_from_proto(&cp, &p), -EPROTO);
	cp.version = 1;
	cp.lot_fixed = 0; /* FIXED without a lot */
	CU_ASSERT_EQUAL(guard_policy_from_proto(&cp, &p), -EPROTO);
	cp.lot_fixed = 10;
	cp.lot_mode = 9;
	CU_ASSERT_EQUAL(guard_policy_from_proto(&cp, &p), -EPROTO);
	cp.lot_mode = DECP__COPY_POLICY__LOT_MODE__LOT_MODE_FIXED;
	cp.order_type_mask = 1; /* bit 0: no order type */
	CU_ASSERT_EQUAL(guard_policy_from_proto(&cp, &p), -EPROTO);
	cp.order_type_mask = GUARD_ORDER_MASK_ALL;
	cp.max_drawdown_bp = 10001;
	CU_ASSERT_EQUAL(guard_policy_from_proto(&cp, &p), -EPROTO);
	cp.max_drawdown_bp = 0;
	mp.from = (char *)"XAUUSD";
	mp.to = (char *)"";
	cp.symbol_map = &mpp;
	cp.n_symbol_map = 1;
	CU_ASSERT_EQUAL(guard_policy_from_proto(&cp, &p), -EPROTO);
	cp.n_symbol_map = 0;
	for (int i = 0; i < 17; i++)
		deny[i] = (char *)"EURUSD";
	cp.symbols_deny = deny;
	cp.n_symbols_deny = 17;
	CU_ASSERT_EQUAL(guard_policy_from_proto(&cp, &p), -EPROTO);
	cp.n_symbols_deny = 16;
	CU_ASSERT_EQUAL(guard_policy_from_proto(&cp, &p), 0);
	CU_ASSERT_EQUAL(guard_policy_from_proto(NULL, &p), -EINVAL);
}

/* ?format=json sessions get the lists too (cp_fanout_json: repeated strings, messages). */
static void test_json_mode(void)
{
	struct cp_policy_row r = row_of("{\"mode\": \"FIXED\", \"lot_fixed\": 0.07, \"symbol_map\":"
					" {\"XAUUSD\": \"GOLD\"}, \"symbols_deny\": [\"USDJPY\"]}");
	struct cp_fmsg *m;
	uint8_t *txt;
	size_t n = 0;

	r.num[CP_POLICY_LOT_FIXED] = 7;
	m = cp_policy_fmsg(&r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	txt = cp_fjson_from_pb(&decp__server_message__descriptor, cp_fmsg_payload(m), m->len, 0, &n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(txt);
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)txt, "\"symbols_deny\":[\"USDJPY\"]"));
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)txt, "\"symbol_map\":[{\"from\":\"XAUUSD\",\"to\":\"GOLD\"}]"));
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)txt, "\"lot_mode\":\"LOT_MODE_FIXED\""));
	free(txt);
	cp_fmsg_unref(m);
}

/* ?format=json clients may send an AccountState with its positions (a repeated message),
 * decoded to the same bytes as the binary message. */
static void test_json_account_state(void)
{
	const char *txt = "{\"account_state\":{\"currency\":\"USD\",\"leverage\":100,"
			  "\"balance\":\"100000000\",\"equity\":\"99000000\",\"position_count\":2,"
			  "\"positions\":[{\"master_id\":\"1\",\"master_ticket\":\"7\",\"symbol\":"
			  "\"EURUSD.m\",\"type\":\"ORDER_TYPE_BUY\",\"volume\":\"10\"},"
			  "{\"master_id\":\"1\",\"master_ticket\":\"8\",\"type\":2}]}}";
	uint8_t pb[1024];
	int n = cp_fjson_to_pb(&decp__client_message__descriptor, txt, strlen(txt), pb, sizeof(pb));
	Decp__ClientMessage *cm;

	CU_ASSERT_TRUE_FATAL(n > 0);
	cm = decp__client_message__unpack(NULL, (size_t)n, pb);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cm);
	CU_ASSERT_EQUAL(cm->kind_case, DECP__CLIENT_MESSAGE__KIND_ACCOUNT_STATE);
	CU_ASSERT_EQUAL(cm->account_state->n_positions, 2);
	CU_ASSERT_STRING_EQUAL(cm->account_state->positions[0]->symbol, "EURUSD.m");
	CU_ASSERT_EQUAL(cm->account_state->positions[1]->type, DECP__ORDER_TYPE__ORDER_TYPE_SELL);
	CU_ASSERT_EQUAL(cm->account_state->equity, 99000000);
	decp__client_message__free_unpacked(cm, NULL);
	/* a bad element anywhere refuses the whole message (and frees what was made) */
	txt = "{\"account_state\":{\"positions\":[{\"volume\":\"1\"},{\"nope\":1}]}}";
	CU_ASSERT_EQUAL(cp_fjson_to_pb(&decp__client_message__descriptor, txt, strlen(txt), pb,
				       sizeof(pb)), -EINVAL);
	txt = "{\"account_state\":{\"positions\":{\"volume\":\"1\"}}}";
	CU_ASSERT_EQUAL(cp_fjson_to_pb(&decp__client_message__descriptor, txt, strlen(txt), pb,
				       sizeof(pb)), -EINVAL);
}

/* guard_policy_apply: a version not above the one in force changes nothing. */
static void test_apply_versions(void)
{
	struct guard_policy cur, next;

	guard_policy_init(&cur);
	guard_policy_init(&next);
	next.version = 2;
	next.lot_multiplier_milli = 2500;
	CU_ASSERT_EQUAL(guard_policy_apply(&cur, &next), 1);
	CU_ASSERT_EQUAL(cur.lot_multiplier_milli, 2500);
	next.lot_multiplier_milli = 500;
	CU_ASSERT_EQUAL(guard_policy_apply(&cur, &next), 0); /* repeated version 2 */
	next.version = 1;
	CU_ASSERT_EQUAL(guard_policy_apply(&cur, &next), 0); /* late version 1 */
	CU_ASSERT_EQUAL(cur.lot_multiplier_milli, 2500);
	next.version = 3;
	next.lot_mode = 0;
	CU_ASSERT_EQUAL(guard_policy_apply(&cur, &next), -EINVAL); /* invalid: kept */
	CU_ASSERT_EQUAL(cur.version, 2);
	CU_ASSERT_EQUAL(guard_policy_apply(NULL, &next), -EINVAL);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_policy_msg", NULL, NULL);
	CU_add_test(s, "defaults are guard_policy_init()'s", test_defaults);
	CU_add_test(s, "every key reaches the guard", test_every_key);
	CU_add_test(s, "rows the database refuses are refused", test_refused_rows);
	CU_add_test(s, "guard_policy_from_proto refuses", test_guard_refuses);
	CU_add_test(s, "JSON debug mode shows the lists", test_json_mode);
	CU_add_test(s, "JSON debug mode takes AccountState with positions", test_json_account_state);
	CU_add_test(s, "guard_policy_apply versions", test_apply_versions);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
