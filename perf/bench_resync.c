/*
 * bench_resync: re-sync by snapshot at size (issue 19, docs/perf.md "resync"). For a master
 * book of N positions and pending orders: the server's side (the snapshot's ServerMessages,
 * cp_snap_msgs: count, bytes on the wire, time), the EA's side (decoding them into a
 * snapshot, sub_snap_*), and the reconciliation of an account that is N/2 entries behind
 * (a quarter of the book held with other volumes and exits, a quarter held as it is, N/4
 * copies of positions the master closed): the guard's plan and its execution into
 * decp-subscriber's simulated account (sub_resync_apply), then the second plan (must be
 * empty). Pure CPU, no I/O: the Redis read is one HMGET plus the stream after the book.
 * Usage: bench_resync [N...] (default 10 100 1000 8000)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "cp_book.h"
#include "cp_fanout_snap.h"
#include "proto_msg.h"
#include "sub_resync.h"

static void view_of(void *ctx, const char *sym, struct guard_view *v)
{
	(void)ctx;
	(void)sym;
	v->quote.bid = v->quote.ask = 108000;
	v->spec.vol_min = 1;
	v->spec.vol_max = 100000;
	v->spec.vol_step = 1;
	v->spec.pip_value = 100000;
	v->equity = INT64_C(1000000000);
	v->instruments = guard_instruments_builtin();
}

static int run(uint64_t n)
{
	struct cp_book b;
	struct cp_fmsg **v = NULL;
	struct sub_snap snap = {0};
	struct sub_account acct;
	struct sub_quotes q = {0};
	struct guard_policy pol;
	struct sub_resync_counts c, c2;
	size_t bytes = 0;
	uint64_t t0, t_enc, t_dec, t_rec, t_again;
	long k;

	cp_book_init(&b, 1);
	for (uint64_t i = 0; i < n; i++) {
		struct cp_book_signal s = {.master_id = 1, .sequence = i + 1, .ticket = 1000 + i,
					   .order_type = i % 5 == 4 ? GUARD_ORDER_BUY_LIMIT
								    : GUARD_ORDER_BUY,
					   .symbol = "EURUSD", .volume = 10 + (int64_t)(i % 90),
					   .price = 108000 - (i % 5 == 4 ? 20 : 0), .sl = 107000,
					   .tp = 109000};

		if (cp_book_apply(&b, &s, NULL) != 0)
			return 1;
	}
	t0 = bench_mono_ns();
	k = cp_snap_msgs(&b, 1, 1, 2, NULL, &v);
	t_enc = bench_mono_ns() - t0;
	if (k < 0)
		return 1;
	for (long i = 0; i < k; i++)
		bytes += v[i]->len + (v[i]->len < 126 ? 2 : 4); /* + the WebSocket frame header */
	/* the EA: decode and collect */
	t0 = bench_mono_ns();
	for (long i = 0; i < k; i++) {
		Decp__ServerMessage *sm = proto_server_message_decode(cp_fmsg_payload(v[i]),
								      v[i]->len, NULL);
		int rc = -1;

		if (sm == NULL)
			return 1;
		if (sm->kind_case == DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN)
			rc = sub_snap_begin(&snap, sm->snapshot_begin);
		else if (sm->kind_case == DECP__SERVER_MESSAGE__KIND_SNAPSHOT_PART)
			rc = sub_snap_part(&snap, sm->snapshot_part);
		else if (sm->kind_case == DECP__SERVER_MESSAGE__KIND_SNAPSHOT_END)
			rc = sub_snap_end(&snap, sm->snapshot_end);
		proto_msg_free(&sm->base, NULL);
		if (rc != 0)
			return 1;
	}
	t_dec = bench_mono_ns() - t0;
	/* the account, N/2 behind: a quarter held differently, a quarter as it is, N/4 closed
	 * by the master meanwhile; the other half of the book missing */
	if (sub_account_init(&acct, "USD", 100, INT64_C(1000000000000)) != 0)
		return 1;
	sub_quotes_set(&q, "EURUSD", 108000);
	for (uint64_t i = 0; i < n / 2 + n / 4; i++) {
		struct guard_envelope env = {.master_id = 1, .position_ticket = 1000 + i};
		struct guard_order o = {.type = i % 5 == 4 ? GUARD_ORDER_BUY_LIMIT : GUARD_ORDER_BUY,
					.volume = 10 + (int64_t)(i % 90) + (i % 4 == 0 ? 5 : 0),
					.price = 108000, .sl = i % 4 == 1 ? 106000 : 107000,
					.tp = 109000, .master_ticket = 1000 + i};
		const struct guard_instruments *reg = guard_instruments_builtin();

		if (i >= n / 2) /* closed by the master: tickets beyond the book */
			env.position_ticket = o.master_ticket = 1000 + n + i;
		snprintf(env.symbol, sizeof(env.symbol), "EURUSD");
		snprintf(o.symbol, sizeof(o.symbol), "EURUSD");
		env.volume = o.volume;
		if (sub_account_apply(&acct, &env, "EURUSD", &o, &q, reg, NULL) != 0)
			return 1;
	}
	guard_policy_init(&pol);
	t0 = bench_mono_ns();
	if (sub_resync_apply(&acct, &snap, &pol, false, view_of, NULL, &q,
			     guard_instruments_builtin(), NULL, 0, &c) != 0)
		return 1;
	t_rec = bench_mono_ns() - t0;
	t0 = bench_mono_ns();
	if (sub_resync_apply(&acct, &snap, &pol, false, view_of, NULL, &q,
			     guard_instruments_builtin(), NULL, 0, &c2) != 0)
		return 1;
	t_again = bench_mono_ns() - t0;
	printf("| %" PRIu64 " | %ld | %zu | %.3f ms | %.3f ms | %u / %u / %u / %u / %u | %.3f ms | "
	       "%u | %.3f ms |\n", n, k, bytes, (double)t_enc / 1e6, (double)t_dec / 1e6,
	       c.opened, c.closed, c.reduced, c.modified, c.skipped, (double)t_rec / 1e6,
	       c2.opened + c2.closed + c2.reduced + c2.modified, (double)t_again / 1e6);
	for (long i = 0; i < k; i++)
		cp_fmsg_unref(v[i]);
	free(v);
	sub_snap_free(&snap);
	sub_account_free(&acct);
	cp_book_free(&b);
	/* a second plan with orders would be a bug (guard_resync_plan is idempotent) */
	return c2.opened + c2.closed + c2.reduced + c2.modified != 0;
}

int main(int argc, char **argv)
{
	static const uint64_t def[] = {10, 100, 1000, 8000};
	int rc = 0;

	printf("| N | messages | bytes (with WS headers) | encode | EA decode | open / close / "
	       "reduce / modify / skip | plan + execute | orders of a second plan | second plan "
	       "|\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
	if (argc > 1)
		for (int i = 1; i < argc && rc == 0; i++)
			rc = run(strtoull(argv[i], NULL, 10));
	else
		for (size_t i = 0; i < sizeof(def) / sizeof(def[0]) && rc == 0; i++)
			rc = run(def[i]);
	return rc;
}
