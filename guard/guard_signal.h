/*
 * guard_signal: the plain-data inputs and outputs of one guard check.
 *
 * The caller decodes the Envelope (proto/decp.proto) into struct guard_envelope: the
 * trade fields MUST be decoded from `body`, the very bytes the signature covers; the
 * guard authenticates them only through that signature. master_id/sequence routing
 * copies outside the body must not be used here. server_arrival_ns is stamped by the
 * server outside the signed body: it is trusted as far as the subscriber channel (wss)
 * is trusted, and only ever makes the TTL check stricter or looser, never executes a
 * forged trade.
 *
 * All pointers inside are borrowed for the duration of the call only.
 */
#ifndef DECP_GUARD_SIGNAL_H
#define DECP_GUARD_SIGNAL_H

#include "guard_types.h"

struct guard_envelope {
	/* decoded from body (proto Signal) */
	uint64_t master_id;
	uint64_t sequence;
	char symbol[GUARD_SYMBOL_MAX]; /* master's symbol, NUL-terminated */
	uint32_t order_type;           /* enum guard_order_type */
	int64_t volume;                /* 0.01 lot */
	int64_t price, sl, tp;         /* 1e-5, 0 = none */
	uint64_t position_ticket;
	int64_t master_time_ns;
	int64_t expiration_ns;
	/* stamped by ingest (Envelope.server_arrival_ns) */
	int64_t server_arrival_ns;
	/* stamped by the fan-out (Envelope.fanout_send_ns, 0 = none; Envelope.replay):
	 * only used to attribute a stale signal, never to accept one */
	int64_t fanout_send_ns;
	bool replay;
	/* the exact signed bytes and the signature as received */
	const uint8_t *body;
	size_t body_len;
	const uint8_t *sig;
	size_t sig_len;
};

/* The subscriber's broker quote for the *mapped* symbol (see guard_policy_map_symbol). */
struct guard_quote {
	int64_t bid, ask; /* 1e-5; 0 = no quote */
};

/* The subscriber's broker's contract for the mapped symbol. */
struct guard_symbol_spec {
	int64_t vol_min, vol_max, vol_step; /* 0.01 lot */
	int64_t pip_value;                  /* money (1e-4) per pip per 1.00 lot */
	/* base units per 1.00 lot at the subscriber's broker (GUARD_CONTRACT_SCALE: 1e-4);
	 * 0 = unknown: taken to be the instrument registry's, which is the master's */
	int64_t contract;
};

/* Pre-paid platform credits (seed user_wallets): balance_usd, reserved_usd. */
struct guard_wallet {
	int64_t balance, reserved; /* money */
};

/* The subscriber's own position copied from position_ticket (CLOSE, MODIFY,
 * CLOSE_PARTIAL); ignored for opening orders. */
struct guard_position {
	bool open;
	int64_t volume;        /* subscriber's volume, 0.01 lot */
	int64_t master_volume; /* master's volume of that position before this signal */
};

/* The subscriber's broker account as its EA last reported it (proto AccountState;
 * guard_margin.h). known = false: never reported, and then no margin check is made
 * (the platform wallet is still checked). */
struct guard_account {
	bool known;
	char currency[4];   /* ISO 4217, upper case, e.g. "USD" */
	uint32_t leverage;  /* 1:leverage, >= 1 */
	int64_t balance;    /* money */
	int64_t equity;     /* money: balance + floating P&L */
	int64_t margin;     /* money in use by open positions */
	int64_t free_margin; /* money: equity - margin */
	/* account currency per 1 unit of the order's quote currency, 1e-5; needed only when
	 * neither the instrument's base nor its quote currency is the account's (0 = unknown:
	 * such an order is refused INSUFFICIENT_MARGIN, fail closed) */
	int64_t quote_rate;
};

struct guard_instruments; /* guard_instrument.h */

/* Everything the subscriber knows locally at the moment of the check. */
struct guard_view {
	int64_t local_now_ns; /* subscriber's own clock (may be skewed) */
	struct guard_quote quote;
	struct guard_symbol_spec spec;
	struct guard_wallet wallet;
	int64_t equity;       /* broker account equity, money */
	struct guard_position position;
	struct guard_account account; /* broker account (margin check, step 5) */
	/* instrument registry (borrowed; NULL = empty: every order that needs an instrument
	 * is refused UNKNOWN_INSTRUMENT) */
	const struct guard_instruments *instruments;
};

/* The order to send, translated by the copy policy. */
struct guard_order {
	char symbol[GUARD_SYMBOL_MAX]; /* subscriber's broker symbol */
	uint32_t type;                 /* enum guard_order_type, after reverse copy */
	int64_t volume;                /* 0.01 lot, on the broker's step; CLOSE: whole position */
	int64_t price, sl, tp;         /* 1e-5, 0 = none */
	uint64_t master_ticket;
	uint64_t sequence;
	int64_t expiration_ns;
};

#endif
