/*
 * cp_report: what subscribers report and what the fan-out delivered, stored in PostgreSQL
 * in one transaction (docs/fanout.md "Reports", sql 0006/0009/0013/0019):
 *
 *   DELIVERY    a run of sequences sent to a subscription (cp_fanout_deliv.h) ──▶
 *               trust_deliveries (upsert that only grows a run)
 *   EXECUTION   ──▶ subscriptions.last_sequence_id (forward only), a trust_inbox EXECUTE
 *               row naming the sequence (the trust role's credit rule), and for FILLED,
 *               PARTIAL and CLOSED subscription_report_execution() (recorded once per
 *               report; its realized profit counted once per (subscription, sequence) and
 *               only for a signal not known to be other than CLOSE / CLOSE_PARTIAL, sql
 *               0033; a cancelled subscription's report is kept out, counted refused).
 *               Only a signal the master sent: a report whose sequence is above both the
 *               fan-out's bound (last_seq) and the archive's highest sequence of the
 *               master is dropped whole, counted refused (docs/security.md); the callers
 *               first look the reports the fan-out could not judge up in Redis
 *               (cp_report_resolve)
 *   PROTECTION  ──▶ protection_logs and its trust_inbox row (the attribution claimed)
 *
 * Deliveries are written first, so a report never reaches the trust role before the
 * delivery it names. A report with a report_id is stored once per (subscriber,
 * report_id) (sql 0019 subscriber_reports): a redelivered stream entry or an EA's resend
 * is counted a duplicate and changes nothing.
 *
 * Durable path (issue 18 item 5): the fan-out XADDs each report to the reports stream
 * (CP_REDIS_REPORTS_KEY; one entry, fields "r" = cp_report_encode(), "d" = detail) and
 * acknowledges it to the EA once Redis has it; the archiver reads the stream in its
 * batches and calls cp_report_store_tx() inside its batch transaction, XACK/XDEL after
 * COMMIT. PostgreSQL down: the entries wait in the stream. Identities (subscriber, subscription, master) must come from an
 * authenticated session, never from the report's own fields: the statements check that
 * the subscription belongs to that subscriber and master, and store nothing else.
 *
 * Threading: the caller's PostgreSQL session (one thread).
 */
#ifndef DECP_CP_REPORT_H
#define DECP_CP_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cp_pg.h"

enum cp_report_kind { CP_REPORT_PROTECTION, CP_REPORT_EXECUTION, CP_REPORT_DELIVERY };

struct cp_report {
	enum cp_report_kind kind;
	uint64_t subscriber, sub_id, master;
	uint64_t seq;             /* DELIVERY: first sequence of the run */
	int64_t time_ns;          /* event/exec time (0 = now); DELIVERY: first send */
	/* PROTECTION */
	int reason;               /* guard_reason */
	int attribution;          /* guard_attribution: TTL_EXPIRED, the guard's claim */
	int64_t age_ns, dev_x100;
	/* EXECUTION (proto ExecutionReport) */
	int status;               /* Decp__ExecutionReport__Status */
	uint64_t ticket;
	int64_t volume, price, realized_profit; /* 0.01 lot, 1e-5, 1e-4 account currency */
	int sig_type;             /* EXECUTION: the named signal's OrderType as the fan-out's
				   * history held it; 0 = not known there */
	/* DELIVERY: the run's last sequence. EXECUTION: the master's last sequence the
	 * fan-out had published when it took the report (0 = it had seen none), the
	 * report's bound with the archive's (cp_report_store) */
	uint64_t last_seq;
	int64_t last_ns;
	bool live;
	bool late;                /* every envelope of the run sent > default TTL/2 late */
	bool polled;              /* DELIVERY: sent as polling answers (sql 0041: late counts
				   * only the fan-out's own delay, docs/fanout.md "HTTP polling") */
	uint64_t report_id;       /* EXECUTION, PROTECTION: the EA's id, 0 = none (no dedup) */
	char detail[128];
};

/* A protection event's own time (the EA's clock) is stored when it lies within
 * [now - CP_REPORT_PAST_NS, now + CP_REPORT_AHEAD_NS] (the api's window for event_time_ms),
 * else the time of storing, the EA's in details.ea_time_ns. */
#define CP_REPORT_PAST_NS (7ll * 86400 * 1000000000)
#define CP_REPORT_AHEAD_NS (300ll * 1000000000)

struct cp_report_result {
	uint32_t stored;   /* reports written */
	uint32_t duplicates; /* reports whose (subscriber, report_id) was stored before */
	uint32_t refused;  /* reports the database refused by rule (cancelled, bad field,
			    * not the session's subscription): kept out, never retried */
};

struct cp_redis;

/*
 * Look the execution reports of r[0..n) that the fan-out could not judge up in their
 * master's Redis stream: one beyond the fan-out's bound (last_seq: it had not seen the
 * master, just after its restart, or an older fan-out's entry) or with a profit on a
 * signal whose type it did not hold (sig_type 0). Every signal the edge ACKed is there
 * (entry "<sequence>-0") until trimmed, in the archive after that, and the archiver may
 * store a report before its signal. A report whose signal is found gets its sequence as
 * its bound and the signal's type (cp_report_store then keeps it and tells a close from an
 * opening); one not found is left as it was (the archive decides: beyond both, dropped).
 * Pipelined, each lookup on the node serving its master; nothing is looked up for the
 * other reports. Redis down or the master's primary down: nothing found, as before.
 * Returns the reports found.
 */
size_t cp_report_resolve(struct cp_redis *rd, struct cp_report *r, size_t n);

/* Store reports[0..n) in one transaction. 0 with *res filled, or -EIO (rolled back or
 * connection lost: nothing stored, the caller may retry the whole batch). */
int cp_report_store(struct cp_pg *pg, const struct cp_report *reports, size_t n,
		    struct cp_report_result *res);

/* As cp_report_store inside the caller's transaction (no BEGIN/COMMIT; savepoints are
 * used). 0, or -EIO: the caller rolls its transaction back. */
int cp_report_store_tx(struct cp_pg *pg, const struct cp_report *reports, size_t n,
		       struct cp_report_result *res);

/* The largest age and price deviation stored: the api's limits for latency_ms (1e9 ms) and
 * price_deviation (1e9 pips), well inside protection_logs' numeric(14,3) and (14,2). */
#define CP_REPORT_AGE_MAX_NS (1000000000ll * 1000000)
#define CP_REPORT_DEV_MAX_X100 100000000000ll

/* Make a subscriber's report (PROTECTION or EXECUTION) storable, or say it cannot be:
 * false for a sequence or broker ticket above 2^63 - 1 (bigint) or a detail that is not
 * UTF-8 (text); the age and the price deviation are clamped to the maxima above. The
 * fan-out calls it before it queues a report (refused: Error{MALFORMED}, close 4002, never
 * acknowledged) and cp_report_decode on every stream entry (refused: dropped), so no
 * report reaches a batch's transaction that the database refuses: one such value failed
 * the whole batch, again at every retry, and held every later report of every subscriber
 * (protection logs, trust credits, profit) unstored. DELIVERY runs are the fan-out's own. */
bool cp_report_fit(struct cp_report *r);

/* Copy s[0..n) into r->detail, cut at a UTF-8 character boundary when it is longer. */
void cp_report_set_detail(struct cp_report *r, const char *s, size_t n);

/* The stream entry's "r" field: every member but detail, as text, into buf. Returns the
 * length, or -ENOSPC. CP_REPORT_TEXT_MAX always suffices. */
#define CP_REPORT_TEXT_MAX 512
int cp_report_encode(const struct cp_report *r, char *buf, size_t cap);

/* Parse an "r" field of len bytes (and the detail, may be NULL) into *r. 0, or -EINVAL
 * (not a report of this version: the caller logs and drops the entry). */
int cp_report_decode(const char *text, size_t len, const char *detail, size_t dlen,
		     struct cp_report *r);

/* OrderType (proto) as signal_archive.order_type's name ("CLOSE"; "UNKNOWN" outside the
 * enum). */
const char *cp_report_order_name(int order_type);

/* ExecutionReport status as execution_pnl's name, or NULL when it carries no money
 * (PLACED, MODIFIED, BROKER_REJECTED, unknown). */
const char *cp_report_pnl_status(int status);

#endif
