/*
 * guard_types: the vocabulary every guard/ module shares.
 *
 * guard/ is the subscriber-side ExecutionGuard (seed "Execution Pipeline (Receiver EA)").
 * It is a pure C library: no I/O, no allocation per check, no locks, no platform
 * headers in its public interface (only <stdint.h>, <stdbool.h>, <stddef.h>), so the
 * same sources build as a Windows DLL for MetaTrader.
 *
 * Scales (identical to proto/decp.proto, so decoded fields are used unconverted):
 *   price, sl, tp, quotes ...... int64, units of 1e-5          (GUARD_PRICE_SCALE)
 *   volume, lots ............... int64, units of 0.01 lot      (GUARD_VOLUME_SCALE)
 *   money ...................... int64, units of 1e-4 currency (GUARD_MONEY_SCALE)
 *   a broker's contract size ... int64, units of 1e-4 base unit per 1.00 lot
 *                                (GUARD_CONTRACT_SCALE; the registry's is whole units)
 *   times ...................... int64 nanoseconds since the Unix epoch
 *   durations .................. int64 nanoseconds
 *   ratios ..................... basis points (1/10000) unless the name says otherwise
 * Never floating point: every product is overflow-checked.
 *
 * Enum values equal proto's (ProtectionReason 1..10 and 22, SubscriptionState 1..6,
 * OrderType 1..9) so a verdict maps to a ProtectionEvent without a table.
 */
#ifndef DECP_GUARD_TYPES_H
#define DECP_GUARD_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUARD_PRICE_SCALE 100000
#define GUARD_VOLUME_SCALE 100
#define GUARD_MONEY_SCALE 10000
#define GUARD_BP_SCALE 10000
#define GUARD_CONTRACT_SCALE 10000

/* Symbols: ASCII, NUL-terminated, at most GUARD_SYMBOL_MAX - 1 characters (proto's
 * PROTO_SYMBOL_MAX = 32, plus the NUL). */
#define GUARD_SYMBOL_MAX 33

#define GUARD_NS_PER_MS INT64_C(1000000)
#define GUARD_NS_PER_S INT64_C(1000000000)

enum guard_order_type {
	GUARD_ORDER_NONE = 0,
	GUARD_ORDER_BUY = 1,
	GUARD_ORDER_SELL = 2,
	GUARD_ORDER_BUY_LIMIT = 3,
	GUARD_ORDER_SELL_LIMIT = 4,
	GUARD_ORDER_BUY_STOP = 5,
	GUARD_ORDER_SELL_STOP = 6,
	GUARD_ORDER_CLOSE = 7,
	GUARD_ORDER_MODIFY = 8,
	GUARD_ORDER_CLOSE_PARTIAL = 9,
	GUARD_ORDER_TYPE_COUNT
};

/* Bit of an order type in a filter mask (struct guard_policy.type_mask). */
#define GUARD_ORDER_BIT(t) (UINT32_C(1) << (unsigned)(t))
#define GUARD_ORDER_MASK_ALL                                                            \
	(GUARD_ORDER_BIT(GUARD_ORDER_BUY) | GUARD_ORDER_BIT(GUARD_ORDER_SELL) |             \
	 GUARD_ORDER_BIT(GUARD_ORDER_BUY_LIMIT) | GUARD_ORDER_BIT(GUARD_ORDER_SELL_LIMIT) | \
	 GUARD_ORDER_BIT(GUARD_ORDER_BUY_STOP) | GUARD_ORDER_BIT(GUARD_ORDER_SELL_STOP) |   \
	 GUARD_ORDER_BIT(GUARD_ORDER_CLOSE) | GUARD_ORDER_BIT(GUARD_ORDER_MODIFY) |         \
	 GUARD_ORDER_BIT(GUARD_ORDER_CLOSE_PARTIAL))

/*
 * Why a signal was not executed. GUARD_REASON_NONE means "execute". The seed's checks,
 * in the seed's order, are 1..7; FILTERED is the copy policy's refusal (its cause is in
 * struct guard_verdict.filter); UNKNOWN_INSTRUMENT an order on an instrument the
 * registry (guard_instrument.h) does not know; INSUFFICIENT_MARGIN an order the
 * subscriber's broker account cannot carry (guard_margin.h; INSUFFICIENT_FUNDS is the
 * platform wallet); MALFORMED is an envelope the guard cannot interpret.
 */
enum guard_reason {
	GUARD_REASON_NONE = 0,
	GUARD_REASON_REPLAY = 1,
	GUARD_REASON_SEQUENCE_GAP = 2,
	GUARD_REASON_STATE_LOCKED = 3,
	GUARD_REASON_TTL_EXPIRED = 4,
	GUARD_REASON_PRICE_DEVIATION = 5,
	GUARD_REASON_INSUFFICIENT_FUNDS = 6,
	GUARD_REASON_INVALID_SIGNATURE = 7,
	GUARD_REASON_FILTERED = 8,
	GUARD_REASON_UNKNOWN_INSTRUMENT = 9, /* not in the instrument registry (ours) */
	GUARD_REASON_INSUFFICIENT_MARGIN = 10, /* the broker account's free margin (ours) */
	GUARD_REASON_MALFORMED = 22,
	GUARD_REASON_MAX = 23
};

/*
 * Whose delay made a signal stale (TTL_EXPIRED only; values equal proto
 * StalenessAttribution). The guard's claim, from the envelope's stamps: a replay, or a
 * live envelope the fan-out sent more than TTL/2 after its arrival, is the platform's;
 * one sent in time that arrived late is the subscriber's (its link or clock); without a
 * send stamp nothing can be told apart (UNSPECIFIED, scored as the subscriber's).
 */
enum guard_attribution {
	GUARD_ATTRIBUTION_UNSPECIFIED = 0,
	GUARD_ATTRIBUTION_SUBSCRIBER = 1,
	GUARD_ATTRIBUTION_PLATFORM_LATE_SEND = 2,
	GUARD_ATTRIBUTION_PLATFORM_REPLAY = 3,
};

/* The seed's subscription states; values equal proto SubscriptionState. */
enum guard_state {
	GUARD_STATE_NONE = 0,
	GUARD_STATE_SYNCED = 1,
	GUARD_STATE_DEGRADED_GAP = 2,
	GUARD_STATE_LOCKED_NO_FUNDS = 3,
	GUARD_STATE_PAUSED_TOXIC = 4,
	GUARD_STATE_SUSPENDED_ADMIN = 5,
	GUARD_STATE_CANCELLED = 6,
	GUARD_STATE_COUNT
};

/* Returns a static upper-case name ("REPLAY", "SYNCED", "BUY_LIMIT"); "?" when unknown. */
const char *guard_reason_name(enum guard_reason r);
const char *guard_state_name(enum guard_state s);
const char *guard_order_type_name(enum guard_order_type t);
/* "SUBSCRIBER", "PLATFORM_LATE_SEND", "PLATFORM_REPLAY"; NULL for UNSPECIFIED and
 * unknown values (stored as SQL NULL). */
const char *guard_attribution_name(enum guard_attribution a);

#endif
