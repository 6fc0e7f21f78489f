/*
 * cp_policy_msg: a subscription's stored copy policy as the CopyPolicy the fan-out sends
 * (issue 19; docs/fanout.md "Copy policy", docs/protocol.md).
 *
 * Input is one row of CP_POLICY_SELECT: the policy's JSON text (subscriptions.copy_policy,
 * already checked by copy_policy_is_valid()) and its numbers as scaled integers computed
 * by PostgreSQL's copy_policy_scaled() (migration 0018, the one place the JSON decimals
 * become integers: no floating point here). Output is ServerMessage{CopyPolicy} with
 * every field resolved: keys the JSON omits take guard_policy_init()'s defaults (copy
 * SL/TP and modifications, every order type), so the guard applies the message as it is.
 *
 * Pure: no I/O. Thread: any.
 */
#ifndef DECP_CP_POLICY_MSG_H
#define DECP_CP_POLICY_MSG_H

#include <stdint.h>

#include <libpq-fe.h>

#include "cp_fanout_msg.h"

/* The select list and FROM clause every policy query uses; append a WHERE clause.
 * Columns: see enum cp_policy_col. */
#define CP_POLICY_SELECT                                                                 \
	"SELECT s.id, s.master_id, s.subscriber_id, s.state, s.copy_policy_version, "        \
	"s.copy_policy::text, c.lot_fixed, c.lot_multiplier_milli, c.master_equity, "          \
	"c.risk_bp, c.max_deviation_pips_x100, c.min_free_funds, c.equity_floor, "             \
	"c.max_drawdown_bp FROM subscriptions s, LATERAL copy_policy_scaled(s.copy_policy) c "

enum cp_policy_col {
	CP_POLICY_COL_ID,
	CP_POLICY_COL_MASTER,
	CP_POLICY_COL_SUBSCRIBER,
	CP_POLICY_COL_STATE,
	CP_POLICY_COL_VERSION,
	CP_POLICY_COL_JSON,
	CP_POLICY_COL_SCALED, /* the 8 scaled numbers, in enum cp_policy_num order */
	CP_POLICY_COLS = CP_POLICY_COL_SCALED + 8
};

enum cp_policy_num {
	CP_POLICY_LOT_FIXED,
	CP_POLICY_MULTIPLIER_MILLI,
	CP_POLICY_MASTER_EQUITY,
	CP_POLICY_RISK_BP,
	CP_POLICY_MAX_DEVIATION_X100,
	CP_POLICY_MIN_FREE_FUNDS,
	CP_POLICY_EQUITY_FLOOR,
	CP_POLICY_MAX_DRAWDOWN_BP,
	CP_POLICY_NUMS
};

struct cp_policy_row {
	uint64_t sub_id, master_id, version;
	const char *json;             /* borrowed, NUL-terminated */
	int64_t num[CP_POLICY_NUMS];
};

/*
 * The row's CopyPolicy as a ServerMessage (refs = 1). Returns NULL with errno EINVAL
 * (json is not an object, an unknown mode or order type, a member of the wrong type, a
 * list over 16 entries: a row copy_policy_is_valid() would refuse) or ENOMEM.
 */
struct cp_fmsg *cp_policy_fmsg(const struct cp_policy_row *row);

/*
 * Reads row i of a CP_POLICY_SELECT result into *out (json borrowed from res) and
 * builds its message as cp_policy_fmsg(). Returns NULL as cp_policy_fmsg(), errno
 * EINVAL also for a result with the wrong columns.
 */
struct cp_fmsg *cp_policy_fmsg_of(const PGresult *res, int i, struct cp_policy_row *out);

#endif
