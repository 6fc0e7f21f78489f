/*
 * dll_resync: decp.dll's re-sync ABI (decp_rx_resync*, docs/mt5.md "Re-sync by snapshot")
 * and the master's positions (decp_master_position*), natively and under Wine, through the
 * decp.mqh-generated pointers, against mt5_vectors' reference bytes: a snapshot signed by
 * the platform's key with OpenSSL (proto_snapsig) as the fan-out signs it, its variants
 * signed by another key, unsigned, altered on the way, with a ticket twice, for another
 * master, too big; the master's positions as decp-master frames them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decp_dll.h" /* codes and sizes only: the calls go through struct decp_fns */
#include "dll_calls.h"
#include "mt5_check.h"
#include "mt5_ea.h"

#define T0 INT64_C(1764892800000000000) /* mt5_vectors' envelope arrival time */
#define MS INT64_C(1000000)
#define S 40 /* the snapshot's sequence (mt5_vectors SNAP_S) */

#define V dll_vector

static int feed(const struct decp_fns *f, int64_t h, const char *name, int64_t *info)
{
	uint8_t sym[40];

	return rx_message(f, h, V(name)->b, V(name)->n, T0, info, 12, sym, sizeof(sym));
}

/* The whole snapshot prefix_begin, _part1.._partN, _end; returns the last answer. */
static int feed_snapshot(const struct decp_fns *f, int64_t h, const char *prefix, int parts,
			 int64_t *info)
{
	char name[32];
	int k;

	snprintf(name, sizeof(name), "%s_begin", prefix);
	if ((k = feed(f, h, name, info)) != 9)
		return k;
	for (int i = 1; i <= parts; i++) {
		snprintf(name, sizeof(name), "%s_part%d", prefix, i);
		if ((k = feed(f, h, name, info)) != 11)
			return k;
	}
	snprintf(name, sizeof(name), "%s_end", prefix);
	return feed(f, h, name, info);
}

/* The simulated account: the EA's copies of the master's positions by master ticket. */
struct copy {
	int64_t ticket, type, volume, price, sl, tp;
	char symbol[40];
	int open;
};

static struct copy *copy_of(struct copy *a, int n, int64_t ticket)
{
	for (int i = 0; i < n; i++)
		if (a[i].open && a[i].ticket == ticket)
			return &a[i];
	return NULL;
}

/* Executes action act (decp_rx_resync_action's) into the account. */
static void apply(struct copy *a, int *n, const int64_t *act, const char *sym)
{
	struct copy *c = copy_of(a, *n, act[6]);

	if (act[0] == 1 && c != NULL) {
		c->open = 0;
	} else if (act[0] == 2 && c != NULL) {
		c->volume -= act[2];
	} else if (act[0] == 3 && c != NULL) {
		c->sl = act[4];
		c->tp = act[5];
		if (act[1] >= 3 && act[1] <= 6)
			c->price = act[3];
	} else if (act[0] == 4) {
		a[*n] = (struct copy){ act[6], act[1], act[2], act[3], act[4], act[5], "", 1 };
		snprintf(a[*n].symbol, sizeof(a[*n].symbol), "%s", sym);
		(*n)++;
	}
}

/* Hands every open copy to the handle. Returns how many. */
static int hand(const struct decp_fns *f, int64_t h, const struct copy *a, int n)
{
	wchar_t w[40];
	int k = 0;

	for (int i = 0; i < n; i++) {
		if (!a[i].open)
			continue;
		mbstowcs(w, a[i].symbol, 40);
		if (f->decp_rx_resync_held(h, a[i].ticket, w, (int32_t)a[i].type, a[i].volume,
					   a[i].price, a[i].sl, a[i].tp) == k + 1)
			k++;
	}
	return k;
}

/* A handle for master 7 that consumed up to last_seq, with the server's policy v1 (2.0x,
 * 5 pips, SL/TP and modifications copied), a clock, re-sync on with key (a vector); the
 * TTL ttl_ms (0: the default 500 ms). */
static int64_t rx_resync_ttl(const struct decp_fns *f, int64_t last_seq, const char *key,
			     int64_t ttl_ms)
{
	int64_t h = f->decp_rx_new(7, V("pub")->b, 32, last_seq, ttl_ms), info[12];
	uint8_t out[256];

	if (h <= 0 || feed(f, h, "policy_v1", info) != 8 ||
	    f->decp_rx_time_ping(h, T0 - 2 * MS, out, sizeof(out)) <= 0 ||
	    feed(f, h, "pong", info) != 4 ||
	    (key != NULL && f->decp_rx_resync(h, V(key)->b, 32) != DECP_OK))
		CHECK(0, "resync: handle set up");
	return h;
}

static int64_t rx_resync(const struct decp_fns *f, int64_t last_seq, const char *key)
{
	return rx_resync_ttl(f, last_seq, key, 0);
}

/* What the plan must leave the account holding: the snapshot's entries the policy copies
 * (2.0x; XAUUSD has no quote, 907 is far from the quote), as the broker holds them. */
static int account_is_target(const struct copy *a, int n)
{
	static const struct {
		int64_t ticket, type, volume, price, sl, tp;
	} want[] = {
		{ 901, 1, 20, 108512, 108012, 109512 }, { 902, 2, 12, 127000, 0, 0 },
		{ 903, 1, 20, 108512, 108000, 109000 }, { 904, 1, 20, 108512, 0, 0 },
		{ 905, 3, 20, 108000, 0, 0 },           { 908, 2, 10, 108512, 108912, 0 },
		{ 909, 1, 14, 108510, 0, 109000 },
	};
	int open = 0, ok = 1;

	for (int i = 0; i < n; i++)
		open += a[i].open;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct copy *c = copy_of((struct copy *)a, n, want[i].ticket);

		if (c == NULL || c->type != want[i].type || c->volume != want[i].volume ||
		    c->sl != want[i].sl || c->tp != want[i].tp ||
		    (c->type >= 3 && c->price != want[i].price)) {
			fprintf(stderr, "resync: ticket %lld not as its policy implies\n",
				(long long)want[i].ticket);
			ok = 0;
		}
	}
	return ok && open == (int)(sizeof(want) / sizeof(want[0]));
}

/* The snapshot refused (code, why): nothing to plan, the guard stays DEGRADED_GAP (the
 * following signals are not executed, a SyncEnd does not end it). */
static void refused(const struct decp_fns *f, int64_t h, int k, int code, int64_t why,
		    const int64_t *info, const char *what)
{
	int64_t st[15], act[13], v[12], verdict[16];
	uint8_t out[256], sym[40], osym[40];
	int64_t i2[12];

	CHECK(k == code && (code != DECP_E_SNAPSHOT || info[2] == why),
	      "resync: %s refused (%d, why %lld)", what, k, (long long)info[2]);
	CHECK(f->decp_rx_resync_plan(h) == DECP_E_STATE &&
	      f->decp_rx_resync_action(h, 0, act, 13, sym, 40) == DECP_E_STATE &&
	      f->decp_rx_resync_done(h, out, sizeof(out)) == DECP_E_STATE &&
	      f->decp_rx_resync_held(h, 901, L"EURUSD", 1, 20, 1, 0, 0) == DECP_E_STATE,
	      "resync: %s: nothing to plan", what);
	f->decp_rx_state(h, st, 15);
	if (why != 1 && why != 2) {
		feed(f, h, "sync_end", i2);
		mt5_view_at(v, 108512);
		CHECK(f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 2 &&
		      feed(f, h, "envelope41", i2) == 1 &&
		      rx_check(f, h, T0 + 10 * MS, v, 12, verdict, 16, osym, 40) != 0,
		      "resync: %s: DEGRADED_GAP after a SyncEnd, signal 41 not executed", what);
	}
}

void dll_resync_run(const struct decp_fns *f)
{
	struct copy acct[64] = {
		{ 901, 1, 20, 108512, 108012, 109512, "EURUSD", 1 },
		{ 902, 2, 20, 127000, 0, 0, "GBPUSD", 1 },
		{ 903, 1, 20, 108512, 107900, 109100, "EURUSD", 1 },
		{ 950, 1, 20, 108400, 0, 0, "EURUSD", 1 }, /* the master closed 950 meanwhile */
	};
	int nacct = 4, k, n;
	int64_t h, info[12], st[15], act[13], v[12], ei[9], verdict[16];
	uint8_t out[256], pl[256], sym[40], osym[40], bad[32];

	/* re-sync off: Subscribe as before, a snapshot is refused */
	h = rx_resync(f, 0, NULL);
	n = f->decp_rx_subscribe(h, out, sizeof(out));
	k = dll_unmask(out, n, pl);
	CHECK(k == V("subscribe")->n && memcmp(pl, V("subscribe")->b, (size_t)k) == 0,
	      "resync off: Subscribe without snapshot");
	k = feed(f, h, "snap_begin", info);
	CHECK(k == DECP_E_SNAPSHOT && info[0] == 7 && info[1] == S && info[2] == 1 &&
	      f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 1 && st[11] == 0,
	      "resync off: SnapshotBegin refused (not asked for), the guard stays SYNCED (%d)", k);

	/* turning it on */
	memset(bad, 0xff, sizeof(bad));
	CHECK(f->decp_rx_resync(h, NULL, 32) == DECP_E_INVAL &&
	      f->decp_rx_resync(h, V("snap_pub")->b, 31) == DECP_E_INVAL &&
	      f->decp_rx_resync(12345, V("snap_pub")->b, 32) == DECP_E_HANDLE,
	      "resync: a platform key is required (NULL, 31 bytes, bad handle)");
	{
		/* a key that is not the platform's (not even a point): nothing verifies */
		int64_t hb = rx_resync(f, 0, NULL);

		CHECK(f->decp_rx_resync(hb, bad, 32) == DECP_OK || f->decp_rx_resync(hb, bad, 32) ==
		      DECP_E_INVAL, "resync: a wrong key taken or refused");
		CHECK(feed_snapshot(f, hb, "snap", 2, info) != 12 &&
		      f->decp_rx_resync_plan(hb) == DECP_E_STATE,
		      "resync: the genuine snapshot refused by an EA trusting another key");
		f->decp_handle_free(hb);
	}
	CHECK(f->decp_rx_resync(h, V("snap_pub")->b, 32) == DECP_OK &&
	      f->decp_rx_resync(h, V("snap_pub")->b, 32) == DECP_E_STATE, "resync: on, once");
	n = f->decp_rx_subscribe(h, out, sizeof(out));
	k = dll_unmask(out, n, pl);
	CHECK(k == V("subscribe_resync")->n && memcmp(pl, V("subscribe_resync")->b, (size_t)k) == 0,
	      "resync: Subscribe with snapshot = true equals protobuf-c's");
	CHECK(f->decp_rx_resync_plan(h) == DECP_E_STATE &&
	      f->decp_rx_resync_entry(h, 0, ei, 8, sym, 40) == DECP_E_STATE &&
	      f->decp_rx_resync_quote(h, L"EURUSD", v, 12) == DECP_E_STATE &&
	      f->decp_rx_resync_held(h, 901, L"EURUSD", 1, 20, 1, 0, 0) == DECP_E_STATE &&
	      f->decp_rx_resync_action(h, 0, act, 13, sym, 40) == DECP_E_STATE &&
	      f->decp_rx_resync_done(h, out, sizeof(out)) == DECP_E_STATE,
	      "resync: nothing before a verified snapshot");

	/* the snapshot: Begin (the guard leaves SYNCED), two parts, End verified */
	k = feed(f, h, "snap_begin", info);
	CHECK(k == 9 && info[0] == 7 && info[1] == S && info[2] == 9 && info[3] == 3 &&
	      info[4] == 2 && info[5] == 11, "resync: SnapshotBegin{S 40, 9 entries, stale}");
	CHECK(f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 2 && st[11] == 1,
	      "resync: the guard DEGRADED_GAP while the snapshot arrives");
	CHECK(feed(f, h, "snap_part1", info) == 11 && info[2] == 8 && info[3] == 9 &&
	      feed(f, h, "snap_part2", info) == 11 && info[2] == 9, "resync: parts collected");
	k = feed(f, h, "snap_end", info);
	CHECK(k == 12 && info[0] == 7 && info[1] == S && info[2] == 9 && info[3] == 1 &&
	      f->decp_rx_state(h, st, 15) == DECP_OK && st[11] == 2 && st[12] == 1,
	      "resync: SnapshotEnd: the platform's signature (OpenSSL) verifies with libgcrypt (%d)",
	      k);
	CHECK(f->decp_rx_resync_entry(h, 0, ei, 8, sym, 40) == 1 && ei[0] == 901 && ei[1] == 1 &&
	      ei[2] == 10 && ei[4] == 108012 && ei[7] == 1 && strcmp((char *)sym, "EURUSD") == 0 &&
	      f->decp_rx_resync_entry(h, 8, ei, 8, sym, 40) == 1 && ei[0] == 909 &&
	      f->decp_rx_resync_entry(h, 9, ei, 8, sym, 40) == 0,
	      "resync: the entries by ticket, mapped symbols");
	CHECK(f->decp_rx_resync_entry(h, 5, ei, 9, sym, 40) == 1 && ei[0] == 906 &&
	      strcmp((char *)sym, "XAUUSD") == 0 && ei[8] == 10000 &&
	      f->decp_rx_resync_entry(h, 0, ei, 9, sym, 40) == 1 && ei[8] == 10,
	      "resync: the guard's pip of each entry's instrument (XAUUSD %lld, EURUSD 10)",
	      (long long)ei[8]);
	CHECK(f->decp_rx_resync_entry(h, -1, ei, 8, sym, 40) == DECP_E_INVAL &&
	      f->decp_rx_resync_entry(h, 0, ei, 7, sym, 40) == DECP_E_INVAL &&
	      f->decp_rx_resync_entry(h, 0, ei, 8, sym, 32) == DECP_E_INVAL &&
	      f->decp_rx_resync_entry(h, 0, NULL, 8, sym, 40) == DECP_E_INVAL,
	      "resync_entry: bad input refused");

	/* the EA's copies and quotes, bad ones refused */
	CHECK(hand(f, h, acct, nacct) == 4, "resync: 4 copies handed");
	CHECK(f->decp_rx_resync_held(h, 901, L"EURUSD", 1, 20, 1, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_resync_held(h, 0, L"EURUSD", 1, 20, 1, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_resync_held(h, 960, L"EURUSD", 7, 20, 1, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_resync_held(h, 960, L"EURUSD", 1, 0, 1, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_resync_held(h, 960, L"EURUSD", 1, 20, -1, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_resync_held(h, 960, L"", 1, 20, 1, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_resync_held(h, 960, NULL, 1, 20, 1, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_resync_held(12345, 960, L"EURUSD", 1, 20, 1, 0, 0) == DECP_E_HANDLE,
	      "resync_held: a ticket twice, 0, CLOSE, volume 0, a negative price, no symbol");
	mt5_view_at(v, 108512);
	CHECK(f->decp_rx_resync_quote(h, L"EURUSD", v, 12) == 1, "resync: EURUSD quoted");
	mt5_view_at(v, 127000);
	CHECK(f->decp_rx_resync_quote(h, L"GBPUSD", v, 9) == 2 &&
	      f->decp_rx_resync_quote(h, L"GBPUSD", v, 9) == 2, "resync: GBPUSD quoted (replaced)");
	CHECK(f->decp_rx_resync_quote(h, L"GBPUSD", v, 8) == DECP_E_INVAL &&
	      f->decp_rx_resync_quote(h, L"", v, 9) == DECP_E_INVAL &&
	      f->decp_rx_resync_quote(h, L"GBPUSD", NULL, 9) == DECP_E_INVAL &&
	      f->decp_rx_resync_quote(12345, L"GBPUSD", v, 9) == DECP_E_HANDLE,
	      "resync_quote: bad input refused");
	CHECK(f->decp_rx_resync_action(h, 0, act, 13, sym, 40) == DECP_E_STATE,
	      "resync: no action before the plan");

	/* the plan: exposure down first (CLOSE, REDUCE, MODIFY), then OPENs, SKIPs last */
	n = f->decp_rx_resync_plan(h);
	CHECK(n == 9, "resync: 9 actions planned (%d)", n);
	{
		int last = 0, ordered = 1, cnt[6] = { 0 }, skip_far = 0;

		for (int i = 0; i < n; i++) {
			k = f->decp_rx_resync_action(h, i, act, 13, sym, 40);
			if (k < 1 || k > 5 || k < last)
				ordered = 0;
			last = k;
			cnt[k >= 1 && k <= 5 ? k : 0]++;
			if (k == 2)
				CHECK(act[6] == 902 && act[2] == 8 && act[8] == 6 &&
				      strcmp((char *)sym, "GBPUSD") == 0,
				      "resync: REDUCE 902 by 0.08 (the master closed 0.04 of 0.10)");
			if (k == 1)
				CHECK(act[6] == 950, "resync: CLOSE 950 (closed by the master)");
			if (k == 3)
				CHECK(act[6] == 903 && act[4] == 108000 && act[5] == 109000,
				      "resync: MODIFY 903's SL/TP");
			if (k == 5) {
				CHECK(act[6] == 906 || (act[6] == 907 && act[9] == 5 && act[11] > 500),
				      "resync: SKIP 906 (no quote) or 907 (PRICE_DEVIATION %lld)",
				      (long long)act[11]);
				skip_far += act[6] == 907;
			}
			apply(acct, &nacct, act, (char *)sym);
		}
		CHECK(ordered && cnt[1] == 1 && cnt[2] == 1 && cnt[3] == 1 && cnt[4] == 4 &&
		      cnt[5] == 2 && skip_far == 1, "resync: CLOSE, REDUCE, MODIFY, 4 OPEN, 2 SKIP "
		      "in that order");
		CHECK(f->decp_rx_resync_action(h, n, act, 13, sym, 40) == 0 &&
		      f->decp_rx_resync_action(h, -1, act, 13, sym, 40) == DECP_E_INVAL &&
		      f->decp_rx_resync_action(h, 0, act, 12, sym, 40) == DECP_E_INVAL &&
		      f->decp_rx_resync_action(h, 0, act, 13, sym, 32) == DECP_E_INVAL &&
		      f->decp_rx_resync_action(12345, 0, act, 13, sym, 40) == DECP_E_HANDLE,
		      "resync_action: past the end 0, bad input refused");
	}
	CHECK(account_is_target(acct, nacct),
	      "resync: the account holds exactly what its policy implies from the snapshot");
	CHECK(f->decp_rx_resync_done(h, out, 8) == DECP_E_NOBUFS &&
	      f->decp_rx_resync_done(h, NULL, 100) == DECP_E_INVAL &&
	      f->decp_rx_resync_done(12345, out, 100) == DECP_E_HANDLE &&
	      f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 2 && st[11] == 3,
	      "resync_done: bad input refused, the plan kept");
	n = f->decp_rx_resync_done(h, out, sizeof(out));
	k = dll_unmask(out, n, pl);
	CHECK(k == V("resync_done")->n && memcmp(pl, V("resync_done")->b, (size_t)k) == 0,
	      "resync: ResyncDone{7, 40, 4 opened, 1 closed, 1 reduced, 1 modified, 2 skipped} "
	      "equals protobuf-c's");
	CHECK(f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 1 && st[1] == S && st[4] == S + 1 &&
	      st[11] == 0 && st[14] == 1 && f->decp_rx_resync_done(h, out, sizeof(out)) ==
	      DECP_E_STATE, "resync: SYNCED, the guard continues at S + 1 = 41");
	/* live from S + 1; a stale replayed signal (1 <= S) refused */
	mt5_view_at(v, 108512);
	v[9] = 0;
	CHECK(feed(f, h, "envelope1_replay", info) == 1 &&
	      rx_check(f, h, T0 + 10 * MS, v, 12, verdict, 16, osym, 40) == 1,
	      "resync: a replayed signal at or below S refused (REPLAY)");
	k = feed(f, h, "envelope41", info) == 1
		    ? rx_check(f, h, T0 + 10 * MS, v, 12, verdict, 16, osym, 40) : -100;
	CHECK(k == 0 && verdict[4] == 20 && f->decp_rx_state(h, st, 15) == DECP_OK && st[1] == 41,
	      "resync: signal 41 executes live (%d)", k);

	/* idempotent: the same snapshot again on the reconciled account plans only the SKIPs */
	k = feed_snapshot(f, h, "snap", 2, info);
	CHECK(k == DECP_E_SNAPSHOT && info[2] == 8, "resync: a snapshot older than the guard's "
	      "last sequence refused (%d, why %lld)", k, (long long)info[2]);
	f->decp_handle_free(h);
	h = rx_resync(f, S, "snap_pub");
	CHECK(feed_snapshot(f, h, "snap", 2, info) == 12 && hand(f, h, acct, nacct) == 7,
	      "resync: again at the same S, the reconciled copies handed");
	mt5_view_at(v, 108512);
	f->decp_rx_resync_quote(h, L"EURUSD", v, 12);
	mt5_view_at(v, 127000);
	f->decp_rx_resync_quote(h, L"GBPUSD", v, 12);
	n = f->decp_rx_resync_plan(h);
	CHECK(n == 2 && f->decp_rx_resync_action(h, 0, act, 13, sym, 40) == 5 &&
	      f->decp_rx_resync_action(h, 1, act, 13, sym, 40) == 5,
	      "resync: planning again after executing gives no order (%d actions, SKIPs)", n);
	f->decp_handle_free(h);

	/* An account in JPY: EURUSD is a cross there, and one AccountState carries one rate
	 * (the EA's for the signal at hand; for a re-sync, none). Without a rate handed with
	 * the quote the plan's four OPENs cannot be priced: SKIP INSUFFICIENT_MARGIN (and,
	 * with ResyncDone sent, never copied). With one (decp_rx_resync_quote's 13th entry,
	 * JPY per USD) they open. */
	for (int rate = 0; rate < 2; rate++) {
		static const struct copy held0[] = {
			{ 901, 1, 20, 108512, 108012, 109512, "EURUSD", 1 },
			{ 902, 2, 20, 127000, 0, 0, "GBPUSD", 1 },
			{ 903, 1, 20, 108512, 107900, 109100, "EURUSD", 1 },
			{ 950, 1, 20, 108400, 0, 0, "EURUSD", 1 },
		};
		int64_t q[13];
		int opens = 0, margin_skips = 0;

		h = rx_resync(f, S, "snap_pub");
		CHECK(feed_snapshot(f, h, "snap", 2, info) == 12 && hand(f, h, held0, 4) == 4 &&
		      f->decp_rx_account_state(h, L"JPY", 100, INT64_C(100000000000),
					       INT64_C(100000000000), 0, INT64_C(100000000000), 4,
					       0) >= 0, "resync, JPY account: snapshot, copies, account");
		mt5_view_at(q, 108512);
		q[12] = rate ? INT64_C(15000000) : 0; /* 150.00000 JPY per USD */
		mt5_view_at(v, 127000);
		CHECK(f->decp_rx_resync_quote(h, L"EURUSD", q, rate ? 13 : 12) == 1 &&
		      f->decp_rx_resync_quote(h, L"GBPUSD", v, 12) == 2,
		      "resync, JPY account: quotes (EURUSD %s a rate)", rate ? "with" : "without");
		n = f->decp_rx_resync_plan(h);
		for (int i = 0; i < n; i++) {
			k = f->decp_rx_resync_action(h, i, act, 13, sym, 40);
			opens += k == 4;
			margin_skips += k == 5 && act[9] == 10;
		}
		CHECK(rate ? opens == 4 && margin_skips == 0 : opens == 0 && margin_skips == 4,
		      "resync, JPY account, EURUSD %s a rate: %d OPEN, %d SKIP INSUFFICIENT_MARGIN",
		      rate ? "with" : "without", opens, margin_skips);
		f->decp_handle_free(h);
	}
	h = rx_resync(f, S, "snap_pub");
	feed_snapshot(f, h, "snap", 2, info);
	{
		int64_t q[14];
		int64_t act[13];
		uint8_t s[40];

		mt5_view_at(q, 108512);
		q[12] = -1;
		CHECK(f->decp_rx_resync_quote(h, L"EURUSD", q, 13) == DECP_E_INVAL,
		      "resync_quote: a negative rate refused");
		q[12] = 0;
		q[13] = -1;
		CHECK(f->decp_rx_resync_quote(h, L"EURUSD", q, 14) == DECP_E_INVAL,
		      "resync_quote: a negative contract size refused");
		/* a broker of 1,000-unit lots (view[13], 1e-4 units): every OPEN of EURUSD in
		 * 100x the lots of the plan without it, the same euros */
		int64_t base[64] = {0};
		int opens = 0, scaled = 0;

		q[3] = 1000000; /* vol_max 10,000.00 lots */
		for (int pass = 0; pass < 2; pass++) {
			q[13] = pass == 0 ? 0 : INT64_C(1000) * 10000;
			CHECK(f->decp_rx_resync_quote(h, L"EURUSD", q, 14) >= 1 &&
			      f->decp_rx_resync_plan(h) >= 1, "resync: planned, contract %lld",
			      (long long)q[13]);
			for (int32_t i = 0; i < 64 && f->decp_rx_resync_action(h, i, act, 13, s,
									      sizeof(s)) > 0; i++)
				if (act[0] == 4 && strncmp((const char *)s, "EURUSD", 6) == 0) {
					if (pass == 0)
						base[i] = act[2];
					opens += pass;
					scaled += pass && base[i] > 0 && act[2] == base[i] * 100;
				}
		}
		CHECK(opens >= 1 && scaled == opens, "resync: %d EURUSD OPEN at 1,000-unit lots, "
		      "%d of them 100x the lots at the registry's contract", opens, scaled);
	}
	f->decp_handle_free(h);

	/* refusals: nothing planned, clear codes */
	h = rx_resync(f, 0, "snap_pub");
	refused(f, h, feed_snapshot(f, h, "snapk", 2, info), DECP_E_BADSIG, 0, info,
		"a snapshot signed by another key");
	refused(f, h, feed_snapshot(f, h, "snapu", 2, info), DECP_E_BADSIG, 0, info,
		"an unsigned snapshot");
	refused(f, h, feed_snapshot(f, h, "snapa", 2, info), DECP_E_BADSIG, 0, info,
		"a snapshot altered on the way (an entry's volume)");
	k = feed(f, h, "snap_begin", info);
	k = k == 9 ? feed(f, h, "snap_part2", info) : k;
	k = k == 11 ? feed(f, h, "snap_part1", info) : k;
	k = k == 11 ? feed(f, h, "snap_end", info) : k;
	refused(f, h, k, DECP_E_BADSIG, 0, info, "the parts reordered");
	k = feed(f, h, "snap_begin", info);
	k = k == 9 ? feed(f, h, "snap_part1", info) : k;
	k = k == 11 ? feed(f, h, "snap_end", info) : k;
	refused(f, h, k, DECP_E_SNAPSHOT, 6, info, "a part dropped");
	refused(f, h, feed(f, h, "snap_part1", info), DECP_E_SNAPSHOT, 4, info,
		"a part without its Begin");
	refused(f, h, feed_snapshot(f, h, "snapd", 1, info), DECP_E_SNAPSHOT, 7, info,
		"a ticket twice");
	refused(f, h, feed(f, h, "snapo_begin", info), DECP_E_SNAPSHOT, 2, info,
		"another master's snapshot");
	refused(f, h, feed(f, h, "snapb_begin", info), DECP_E_SNAPSHOT, 3, info,
		"a snapshot of 5,000 entries (over DECP_RX_SNAPSHOT_MAX)");
	k = feed_snapshot(f, h, "snap", 2, info);
	refused(f, h, k == 12 ? feed(f, h, "snap_end", info) : k, DECP_E_SNAPSHOT, 4, info,
		"a second SnapshotEnd");
	CHECK(f->decp_rx_state(h, st, 15) == DECP_OK && st[12] == 1 && st[13] == 9,
	      "resync: 1 verified, 9 refused (%lld, %lld)", (long long)st[12], (long long)st[13]);
	/* mutated parts never pass for the genuine snapshot */
	for (int i = 0; i < 300; i++) {
		struct dll_vec m = *V(i % 2 ? "snap_part1" : "snap_part2");
		uint8_t sy[40];

		m.b[(size_t)(i * 7919) % (size_t)m.n] ^= (uint8_t)(1u << (i % 8));
		k = feed(f, h, "snap_begin", info);
		k = i % 2 ? rx_message(f, h, m.b, m.n, T0, info, 12, sy, 40)
			  : feed(f, h, "snap_part1", info);
		if (k == 11)
			k = i % 2 ? feed(f, h, "snap_part2", info)
				  : rx_message(f, h, m.b, m.n, T0, info, 12, sy, 40);
		if (k == 11)
			k = feed(f, h, "snap_end", info);
		if (k == 12)
			CHECK(0, "resync: a mutated part (byte %d) verified", (i * 7919) % m.n);
	}
	f->decp_handle_free(h);
}

/* The plan for held copy 901 (0.30 lots: sized 3.0x when it opened) and 902 (0.20) with
 * their master volumes (0: not passed); returns the op planned for 901 (0: none) and
 * the volume of 902's REDUCE in *reduce902. */
static int plan_901(const struct decp_fns *f, int64_t mv901, int64_t mv902, int64_t *reduce902)
{
	int64_t h = rx_resync(f, 0, "snap_pub"), info[12], v[12], act[13];
	uint8_t sym[40];
	int n, op = 0;

	*reduce902 = 0;
	if (feed_snapshot(f, h, "snap", 2, info) != 12 ||
	    f->decp_rx_resync_held(h, 901, L"EURUSD", 1, 30, 108512, 108012, 109512) != 1 ||
	    f->decp_rx_resync_held(h, 902, L"GBPUSD", 2, 20, 127000, 0, 0) != 2 ||
	    (mv901 && f->decp_rx_resync_held_master(h, 901, mv901) != DECP_OK) ||
	    (mv902 && f->decp_rx_resync_held_master(h, 902, mv902) != DECP_OK)) {
		f->decp_handle_free(h);
		return -100;
	}
	mt5_view_at(v, 108512);
	f->decp_rx_resync_quote(h, L"EURUSD", v, 12);
	n = f->decp_rx_resync_plan(h);
	for (int i = 0; i < n; i++) {
		int k = f->decp_rx_resync_action(h, i, act, 13, sym, 40);

		if (act[6] == 901)
			op = k;
		if (act[6] == 902 && k == 2)
			*reduce902 = act[2];
	}
	f->decp_handle_free(h);
	return op;
}

/* decp_rx_resync_held_master: the master's volume each held copy follows. */
void dll_resync_held_master_run(const struct decp_fns *f)
{
	int64_t h = rx_resync(f, 0, "snap_pub"), info[12], r902;
	int op;

	CHECK(f->decp_rx_resync_held_master(h, 901, 10) == DECP_E_STATE,
	      "held_master: nothing before a verified snapshot");
	CHECK(feed_snapshot(f, h, "snap", 2, info) == 12 &&
	      f->decp_rx_resync_held(h, 901, L"EURUSD", 1, 30, 108512, 0, 0) == 1 &&
	      f->decp_rx_resync_held_master(h, 902, 10) == DECP_E_INVAL &&
	      f->decp_rx_resync_held_master(h, 901, 0) == DECP_E_INVAL &&
	      f->decp_rx_resync_held_master(h, 901, -5) == DECP_E_INVAL &&
	      f->decp_rx_resync_held_master(h, 0, 10) == DECP_E_INVAL &&
	      f->decp_rx_resync_held_master(12345, 901, 10) == DECP_E_HANDLE &&
	      f->decp_rx_resync_held_master(h, 901, 10) == DECP_OK,
	      "held_master: a copy not held, volume 0 or negative, ticket 0, bad handle refused");
	f->decp_handle_free(h);
	/* the master holds 901 at 0.10 as when the copy opened (at 3.0x, the policy now
	 * says 2.0x): unknown, the copy is cut to 0.20; known, it is his size: kept */
	op = plan_901(f, 0, 0, &r902);
	CHECK(op == 2, "held_master: 901's master volume unknown: REDUCE to the policy's size (%d)",
	      op);
	op = plan_901(f, 10, 10, &r902);
	CHECK(op == 0 || op == 3, "held_master: 901 followed the master's 0.10, which he still "
	      "holds: not reduced (%d)", op);
	CHECK(r902 == 8, "held_master: 902 (0.20 copying 0.10, the master closed 0.04): REDUCE "
	      "0.08 as the live CLOSE_PARTIAL would (%lld)", (long long)r902);
}

/* Envelope name checked at local time t on the account v; returns the reason. */
static int check_at(const struct decp_fns *f, int64_t h, const char *name, int64_t t)
{
	int64_t info[12], v[12], verdict[16];
	uint8_t osym[40];

	mt5_view_at(v, 108512);
	if (feed(f, h, name, info) != 1)
		return -100;
	return rx_check(f, h, t, v, 12, verdict, 16, osym, sizeof(osym));
}

/* The frame decp_rx_resync_ask answers at local time t equals vector name (NULL: none). */
static int asks(const struct decp_fns *f, int64_t h, int64_t t, const char *name)
{
	uint8_t out[256], pl[256];
	int n = f->decp_rx_resync_ask(h, t, out, sizeof(out)), k;

	if (name == NULL)
		return n == 0;
	k = n > 0 ? dll_unmask(out, n, pl) : -1;
	return k == V(name)->n && memcmp(pl, V(name)->b, (size_t)k) == 0;
}

/* A handle with re-sync on whose wallet view is empty (view[6] = 0) and signal 1 checked
 * on it at T0 + 10 ms: an opening refused INSUFFICIENT_FUNDS, the guard LOCKED_NO_FUNDS
 * (*k1: the check's verdict, -100 when envelope 1 was not taken). v is left empty. */
static int64_t rx_locked(const struct decp_fns *f, int64_t *v, int *k1)
{
	int64_t h = rx_resync(f, 0, "snap_pub"), info[12], verdict[16];
	uint8_t osym[40];

	mt5_view_at(v, 108512);
	v[6] = 0; /* wallet balance */
	*k1 = feed(f, h, "envelope1", info) == 1
		      ? rx_check(f, h, T0 + 10 * MS, v, 12, verdict, 16, osym, 40) : -100;
	return h;
}

/* decp_rx_resync_plan while the guard is LOCKED_NO_FUNDS. */
static void resync_locked(const struct decp_fns *f)
{
	int64_t h, info[12], st[15], act[13], v[12], verdict[16];
	uint8_t out[256], osym[40];
	int k;

	/* A snapshot verified while the guard is LOCKED_NO_FUNDS (signal 1 refused on an empty
	 * wallet): execution is halted and no edge leads to DEGRADED_GAP, so the plan is
	 * refused (STATE), and S is consumed as every signal in that state is. Before, the plan
	 * ran, last_seq stayed at 1, and after the funds returned signal 41 was a
	 * SEQUENCE_GAP (-20) into DEGRADED_GAP. */
	h = rx_locked(f, v, &k);
	CHECK(k == 6 && f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 3 && st[1] == 1,
	      "locked: signal 1 on an empty wallet: INSUFFICIENT_FUNDS, LOCKED_NO_FUNDS (%d)", k);
	k = feed_snapshot(f, h, "snap", 2, info);
	CHECK(k == 12 && f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 3,
	      "locked: the snapshot at 40 verified, still LOCKED_NO_FUNDS (%d)", k);
	k = f->decp_rx_resync_plan(h);
	CHECK(k == DECP_E_STATE && f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 3 &&
	      st[1] == S && st[4] == S + 1 && st[11] == 0 &&
	      f->decp_rx_resync_action(h, 0, act, 13, osym, 40) == DECP_E_STATE &&
	      f->decp_rx_resync_done(h, out, sizeof(out)) == DECP_E_STATE,
	      "locked: plan refused (%d), nothing planned, the guard consumed up to S", k);
	CHECK(asks(f, h, T0 + 400 * MS, NULL),
	      "locked: the dropped snapshot's signals owe a re-sync, not asked while locked");
	CHECK(f->decp_rx_account(h, 1000 * 10000, 0, 1000 * 10000) == 1 &&
	      f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 1,
	      "locked: funds restored, SYNCED");
	mt5_view_at(v, 108512);
	k = feed(f, h, "envelope41", info) == 1
		    ? rx_check(f, h, T0 + 10 * MS, v, 12, verdict, 16, osym, 40) : -100;
	CHECK(k == 0 && f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 1 && st[1] == 41,
	      "locked: signal 41 executes live after the funds returned, no gap (%d)", k);
	/* signal 1 (the opening that locked it) and the snapshot's 2..40 were settled
	 * unreconciled (the account never followed them): once SYNCED, a re-sync from 1, the
	 * first of them */
	CHECK(asks(f, h, T0 + 400 * MS, "subscribe_resync"),
	      "locked: back in SYNCED, the re-sync the locking opening and the dropped "
	      "snapshot left owed is asked from 1");
	f->decp_handle_free(h);
}

/* Signals consumed while the guard is halted (LOCKED_NO_FUNDS: refused STATE_LOCKED, a
 * CLOSE included) leave the account out of line with the master: the return to SYNCED
 * (funds restored, decp_rx_account) asks a re-sync from the first of them, once it is
 * 300 ms old by local time, again every 5 s until a snapshot answers it. Before, nothing
 * was asked: a copy of a position the master closed meanwhile stayed open for ever. */
static void resync_halted(const struct decp_fns *f)
{
	int64_t h, info[12], st[15], v[12], verdict[16];
	uint8_t out[256], osym[40];
	int k1, k2, k3;

	h = rx_locked(f, v, &k1);
	CHECK(k1 == 6 && f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 3,
	      "halted: signal 1 on an empty wallet: LOCKED_NO_FUNDS");
	k2 = feed(f, h, "envelope2", info) == 1
		     ? rx_check(f, h, T0 + 20 * MS, v, 12, verdict, 16, osym, 40) : -100;
	k3 = feed(f, h, "envelope3", info) == 1
		     ? rx_check(f, h, T0 + 30 * MS, v, 12, verdict, 16, osym, 40) : -100;
	CHECK(k2 == 3 && k3 == 3 && f->decp_rx_state(h, st, 15) == DECP_OK && st[1] == 3 &&
	      st[3] == 0, "halted: the MODIFY and the CLOSE refused STATE_LOCKED and consumed "
	      "(%d %d)", k2, k3);
	CHECK(asks(f, h, T0 + 30 * MS, NULL) && asks(f, h, T0 + 2000 * MS, NULL),
	      "halted: nothing asked while locked");
	CHECK(f->decp_rx_account(h, 1000 * 10000, 0, 1000 * 10000) == 1 &&
	      f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 1,
	      "halted: funds restored, SYNCED");
	CHECK(asks(f, h, T0 + 2000 * MS, "subscribe_resync"),
	      "halted: back in SYNCED, a re-sync asked from 1, the opening whose funds check "
	      "locked the guard (consumed unexecuted as those after it)");
	CHECK(asks(f, h, T0 + 2001 * MS, NULL) && asks(f, h, T0 + 6999 * MS, NULL),
	      "halted: once per 5 s");
	CHECK(asks(f, h, T0 + 7000 * MS, "subscribe_resync"),
	      "halted: not answered in 5 s: asked again without a new check");
	CHECK(feed_snapshot(f, h, "snap", 2, info) == 12 && f->decp_rx_resync_plan(h) > 0 &&
	      f->decp_rx_resync_done(h, out, sizeof(out)) > 0 &&
	      f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 1 && st[1] == S,
	      "halted: the snapshot at 40 reconciled, SYNCED");
	CHECK(asks(f, h, T0 + 13000 * MS, NULL), "halted: answered: nothing asked any more");
	f->decp_handle_free(h);

	/* deferred: the funds return before the first signal consumed while locked is 300 ms
	 * old (local time since its check): asked only once it is */
	h = rx_locked(f, v, &k2);
	k3 = feed(f, h, "envelope2", info) == 1
		     ? rx_check(f, h, T0 + 20 * MS, v, 12, verdict, 16, osym, 40) : -100;
	CHECK(k2 == 6 && k3 == 3 && f->decp_rx_account(h, 1000 * 10000, 0, 1000 * 10000) == 1,
	      "halted: locked, signal 2 consumed at +20 ms, funds back at once");
	CHECK(asks(f, h, T0 + 309 * MS, NULL) && asks(f, h, T0 + 310 * MS, "subscribe_resync"),
	      "halted: asked only 300 ms after signal 1's check, not dropped");
	f->decp_handle_free(h);

	/* the halt's only signal is the opening that emptied the wallet: still owed (before,
	 * nothing was asked and the position was never copied) */
	h = rx_locked(f, v, &k2);
	CHECK(k2 == 6 && asks(f, h, T0 + 400 * MS, NULL),
	      "halted: the opening refused INSUFFICIENT_FUNDS, locked: nothing asked while locked");
	CHECK(f->decp_rx_account(h, 1000 * 10000, 0, 1000 * 10000) == 1 &&
	      asks(f, h, T0 + 400 * MS, "subscribe_resync"),
	      "halted: funds back: a re-sync asked from 1, the opening");
	f->decp_handle_free(h);
}

/*
 * A stale live signal asks a re-sync (decp_rx_resync_ask, docs/mt5.md "Receiver"): the
 * signal's sequence is used up, and without the ask the account stays out of line with
 * the master until a reconnect. And a range lost (Error{CODE_RANGE}): the next Subscribe
 * goes live from 0, the SyncEnd after it continues the guard at the stream's end.
 */
void dll_resync_ask_run(const struct decp_fns *f)
{
	int64_t h, info[12], st[15], v[12], verdict[16];
	uint8_t out[256], pl[256], osym[40];
	int k, n;

	resync_locked(f);
	resync_halted(f);

	/* re-sync off: a stale refusal asks nothing */
	h = rx_resync(f, 0, NULL);
	k = check_at(f, h, "envelope1", T0 + 600 * MS);
	CHECK(k == 4 && asks(f, h, T0 + 600 * MS, NULL),
	      "resync_ask: re-sync off, signal 1 stale (TTL_EXPIRED %d): nothing asked", k);
	f->decp_handle_free(h);
	/* a TTL below DECP_RX_RESYNC_ASK_AGE_MS cannot have re-sync: a signal refused stale
	 * younger than that (TTL 250 ms, 280 ms old) would ask nothing, its CLOSE lost for
	 * good; refused when re-sync is turned on. At the age exactly it is taken. */
	h = f->decp_rx_new(7, V("pub")->b, 32, 0, 250);
	CHECK(h > 0 && f->decp_rx_resync(h, V("snap_pub")->b, 32) == DECP_E_INVAL,
	      "resync: refused with a TTL of 250 ms (below %d ms)", DECP_RX_RESYNC_ASK_AGE_MS);
	f->decp_handle_free(h);
	h = rx_resync_ttl(f, 0, "snap_pub", DECP_RX_RESYNC_ASK_AGE_MS);
	k = check_at(f, h, "envelope1", T0 + 320 * MS);
	CHECK(k == 4 && asks(f, h, T0 + 320 * MS, "subscribe_resync"),
	      "resync_ask: TTL 300 ms, 320 ms old: refused, re-sync asked (%d)", k);
	f->decp_handle_free(h);

	/* re-sync on, 600 ms old: Subscribe{7, from 1, snapshot} on the open connection */
	h = rx_resync(f, 0, "snap_pub");
	CHECK(f->decp_rx_resync_ask(h, T0, out, sizeof(out)) == 0,
	      "resync_ask: nothing before a check");
	k = check_at(f, h, "envelope1", T0 + 600 * MS);
	CHECK(f->decp_rx_resync_ask(h, T0 + 600 * MS, NULL, 100) == DECP_E_INVAL &&
	      f->decp_rx_resync_ask(h, T0 + 600 * MS, out, -1) == DECP_E_INVAL &&
	      f->decp_rx_resync_ask(12345, T0 + 600 * MS, out, sizeof(out)) == DECP_E_HANDLE,
	      "resync_ask: bad input refused");
	CHECK(k == 4 && asks(f, h, T0 + 600 * MS, "subscribe_resync"),
	      "resync_ask: signal 1 refused stale (%d): Subscribe{7, from 1, snapshot} equals "
	      "protobuf-c's", k);
	CHECK(asks(f, h, T0 + 601 * MS, NULL), "resync_ask: once per check");
	k = check_at(f, h, "envelope2", T0 + 700 * MS);
	CHECK(k == 4 && asks(f, h, T0 + 700 * MS, NULL),
	      "resync_ask: signal 2 stale too, within 5 s of the ask: not asked again");
	k = check_at(f, h, "envelope3", T0 + 5700 * MS);
	CHECK(k == 4 && asks(f, h, T0 + 5700 * MS, "subscribe_resync3"),
	      "resync_ask: no snapshot came in 5 s: asked again, from signal 3");
	/* the snapshot answers it; while it is received nothing is asked */
	CHECK(feed(f, h, "snap_begin", info) == 9 && asks(f, h, T0 + 11 * 1000 * MS, NULL),
	      "resync_ask: a snapshot being received: nothing asked");
	CHECK(feed(f, h, "snap_part1", info) == 11 && feed(f, h, "snap_part2", info) == 11 &&
	      feed(f, h, "snap_end", info) == 12 && f->decp_rx_resync_plan(h) > 0 &&
	      f->decp_rx_resync_done(h, out, sizeof(out)) > 0 && f->decp_rx_state(h, st, 15) ==
	      DECP_OK && st[0] == 1 && st[1] == S,
	      "resync_ask: the snapshot at 40 reconciled, SYNCED");
	CHECK(asks(f, h, T0 + 5750 * MS, NULL),
	      "resync_ask: the check it answered asks no more");
	/* a stale signal after it asks at once (the last ask was answered) */
	k = check_at(f, h, "envelope41", T0 + 5800 * MS);
	CHECK(k == 4 && f->decp_rx_resync_ask(h, T0 + 5800 * MS, out, sizeof(out)) > 0,
	      "resync_ask: signal 41 stale after the re-sync: asked at once (%d)", k);
	f->decp_handle_free(h);

	/* A signal from the "future": the estimate (a pong whose server clock is 100 ms
	 * behind the local one) makes envelope 1, stamped T0, -90 ms old at local T0 + 10 ms,
	 * beyond the estimate's tolerance (1 ms error bound + 50 ms slack). It was executed as fresh and asked
	 * nothing. Now: TTL_EXPIRED, verdict[16] 1, the estimate dropped (st[5] 0, st[16] -1:
	 * DecpReceiver pings at once), a re-sync asked (its sequence is used up); the next
	 * pong measures the clock again and signals pass the TTL check. */
	h = f->decp_rx_new(7, V("pub")->b, 32, 0, 0);
	CHECK(h > 0 && feed(f, h, "policy_v1", info) == 8 &&
	      f->decp_rx_time_ping(h, T0 - 2 * MS, out, sizeof(out)) > 0 &&
	      feed(f, h, "pong_behind", info) == 4 &&
	      f->decp_rx_resync(h, V("snap_pub")->b, 32) == DECP_OK,
	      "future: handle set up with a clock estimate 100 ms behind");
	{
		int64_t vd[17], st17[17];

		mt5_view_at(v, 108512);
		k = feed(f, h, "envelope1", info) == 1
			    ? rx_check(f, h, T0 + 10 * MS, v, 12, vd, 17, osym, 40) : -100;
		CHECK(k == 4 && vd[0] == 4 && vd[16] == 1 && vd[11] == -90 * MS,
		      "future: signal 1 at -90 ms refused TTL_EXPIRED, clock suspect (%d, %lld)",
		      k, (long long)vd[16]);
		CHECK(f->decp_rx_state(h, st17, 17) == DECP_OK && st17[1] == 1 && st17[3] == 0 &&
		      st17[5] == 0 && st17[16] == -1,
		      "future: consumed, not executed, the clock estimate dropped");
		/* its true age unknown: asked once 300 ms of local time passed since the check
		 * (the fan-out answers a younger `from` with a replay, not a snapshot); before,
		 * asked at once */
		CHECK(asks(f, h, T0 + 10 * MS, NULL) && asks(f, h, T0 + 309 * MS, NULL),
		      "future: no re-sync asked within 300 ms of the check");
		CHECK(asks(f, h, T0 + 310 * MS, "subscribe_resync"),
		      "future: re-sync asked from signal 1, 300 ms after the check");
		CHECK(feed(f, h, "pong", info) == 4, "future: the clock measured again");
		k = feed(f, h, "envelope2", info) == 1
			    ? rx_check(f, h, T0 + 10 * MS, v, 12, vd, 17, osym, 40) : -100;
		CHECK(k == 8 && vd[11] == 10 * MS && vd[16] == 0,
		      "future: signal 2 (a MODIFY of no copy: FILTERED) passes the TTL check, "
		      "10 ms old (%d)", k);
	}
	f->decp_handle_free(h);

	/* a range lost: live from the stream's end */
	h = rx_resync(f, 0, NULL);
	k = feed(f, h, "error", info);
	CHECK(k == 6 && info[0] == 5 && info[3] == 0 && f->decp_rx_state(h, st, 15) == DECP_OK &&
	      st[0] == 1, "range: another error (FORBIDDEN) changes nothing");
	CHECK(feed(f, h, "error_range_m8", info) == 6 && info[0] == 11 && info[3] == 0 &&
	      feed(f, h, "error_range_text", info) == 6 && info[3] == 0 &&
	      f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 1,
	      "range: another master's, or a text that does not say which: nothing changes");
	k = feed(f, h, "error_range", info);
	CHECK(k == 6 && info[0] == 11 && info[1] == 1 && info[2] == 30 && info[3] == 1 &&
	      f->decp_rx_state(h, st, 15) == DECP_OK && st[0] == 2,
	      "range: 1..29 no longer retained (info 11, 1, 30, 1); the guard leaves SYNCED");
	n = f->decp_rx_subscribe(h, out, sizeof(out));
	k = dll_unmask(out, n, pl);
	CHECK(k == V("subscribe_live")->n && memcmp(pl, V("subscribe_live")->b, (size_t)k) == 0,
	      "range: the next Subscribe is from 0 (live), equal to protobuf-c's");
	n = f->decp_rx_subscribe(h, out, sizeof(out));
	k = dll_unmask(out, n, pl);
	CHECK(k == V("subscribe")->n && memcmp(pl, V("subscribe")->b, (size_t)k) == 0,
	      "range: once: the one after it from the guard's next sequence again");
	mt5_view_at(v, 108512);
	CHECK(feed(f, h, "sync_end40", info) == 3 && f->decp_rx_state(h, st, 15) == DECP_OK &&
	      st[0] == 1 && st[1] == 40, "range: the SyncEnd{40} continues the guard there");
	k = feed(f, h, "envelope41", info) == 1
		    ? rx_check(f, h, T0 + 10 * MS, v, 12, verdict, 16, osym, 40) : -100;
	CHECK(k == 0, "range: signal 41 executes live (%d)", k);
	f->decp_handle_free(h);
}

void dll_positions_run(const struct decp_fns *f)
{
	static const wchar_t *const syms[] = { L"EURUSD", L"GBPUSD.pro", L"XAUUSD",
					       L"USDJPY_ecn_long" };
	static uint8_t out[DECP_MASTER_POSITIONS_OUT];
	const struct dll_vec *seed = V("seed"), *secret = V("secret");
	int64_t m = f->decp_master_new(7, secret->b, 32, seed->b, 32);
	int n = 0, frames = 0, ok = 1;

	CHECK(m > 0, "positions: master handle");
	for (int i = 0; i < 14; i++)
		n = f->decp_master_position(m, 1001 + i, syms[i % 4], 1 + i % 6, 10 + i,
					    108512 + 1000 * i, i % 3 == 0 ? 0 : 108000 + i,
					    i % 2 == 0 ? 0 : 109000 + i, i % 6 >= 2 ? T0 + i : 0);
	CHECK(n == 14, "positions: 14 queued");
	CHECK(f->decp_master_positions(m, 60, 12345, T0, out, 200) == DECP_E_NOBUFS,
	      "positions: short buffer refused, the queue kept");
	n = f->decp_master_positions(m, 60, 12345, T0, out, sizeof(out));
	CHECK(n == V("positions")->n && memcmp(out, V("positions")->b, (size_t)n) == 0,
	      "positions: the frames equal decp-master's (proto_positions_split + _seal, "
	      "HMAC \"decp-positions-v1\") (%d)", n);
	n = f->decp_master_positions(m, 60, 12345, T0, out, sizeof(out));
	CHECK(n == V("positions_empty")->n && memcmp(out, V("positions_empty")->b, (size_t)n) == 0,
	      "positions: emptied once sent; the empty snapshot equals decp-master's");
	CHECK(f->decp_master_position(m, 0, L"EURUSD", 1, 1, 1, 0, 0, 0) == DECP_E_INVAL &&
	      f->decp_master_position(m, 1, L"EURUSD", 7, 1, 1, 0, 0, 0) == DECP_E_INVAL &&
	      f->decp_master_position(m, 1, L"EURUSD", 0, 1, 1, 0, 0, 0) == DECP_E_INVAL &&
	      f->decp_master_position(m, 1, L"EURUSD", 1, 0, 1, 0, 0, 0) == DECP_E_INVAL &&
	      f->decp_master_position(m, 1, L"EURUSD", 1, 1, -1, 0, 0, 0) == DECP_E_INVAL &&
	      f->decp_master_position(m, 1, L"EURUSD", 1, 1, 1, -1, 0, 0) == DECP_E_INVAL &&
	      f->decp_master_position(m, 1, L"EURUSD", 1, 1, 1, 0, 0, -1) == DECP_E_INVAL &&
	      f->decp_master_position(m, 1, L"", 1, 1, 1, 0, 0, 0) == DECP_E_INVAL &&
	      f->decp_master_position(m, 1, L"EUR USD", 1, 1, 1, 0, 0, 0) == DECP_E_INVAL &&
	      f->decp_master_position(m, 1, L"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", 1, 1, 1, 0, 0,
				      0) == DECP_E_INVAL &&
	      f->decp_master_position(m, 1, NULL, 1, 1, 1, 0, 0, 0) == DECP_E_INVAL &&
	      f->decp_master_position(12345, 1, L"EURUSD", 1, 1, 1, 0, 0, 0) == DECP_E_HANDLE,
	      "position: every rule (ticket, type, volume, prices, expiration, symbol) and handle");
	CHECK(f->decp_master_position(m, 5, L"EURUSD", 1, 1, 1, 0, 0, 0) == 1 &&
	      f->decp_master_position(m, 5, L"EURUSD", 1, 1, 1, 0, 0, 0) == DECP_E_INVAL,
	      "position: a ticket twice refused");
	CHECK(f->decp_master_positions(m, -1, 1, T0, out, sizeof(out)) == DECP_E_INVAL &&
	      f->decp_master_positions(m, 1, 0, T0, out, sizeof(out)) == DECP_E_INVAL &&
	      f->decp_master_positions(m, 1, 1, T0, NULL, 100) == DECP_E_INVAL &&
	      f->decp_master_positions(m, 1, 1, T0, out, -1) == DECP_E_INVAL &&
	      f->decp_master_positions(12345, 1, 1, T0, out, sizeof(out)) == DECP_E_HANDLE,
	      "positions: sequence, snapshot id, buffer, handle checked");
	/* the limit: 1,024 entries of the widest symbols fit DECP_MASTER_POSITIONS_OUT, every
	 * frame within the ingest's limit */
	for (int i = 1; i < DECP_MASTER_POSITIONS_MAX; i++)
		f->decp_master_position(m, 100000 + i, L"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", 4,
					INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX);
	CHECK(f->decp_master_position(m, 99, L"EURUSD", 1, 1, 1, 0, 0, 0) == DECP_E_NOBUFS,
	      "positions: %d at most", DECP_MASTER_POSITIONS_MAX);
	n = f->decp_master_positions(m, INT64_MAX, INT64_MAX, -1, out, sizeof(out));
	for (int off = 0; n > 0 && off < n; frames++) {
		int fl = f->decp_frame_split(out + off, n - off, DECP_FRAME_MAX);

		if (fl <= 0 || fl > 4 + 400) {
			ok = 0;
			break;
		}
		off += fl;
	}
	CHECK(n > 0 && ok && frames == 512, "positions: 1,024 widest entries in %d frames of "
	      "<= 400 bytes, %d bytes", frames, n);
	CHECK(f->decp_rx_subscribe(m, out, 100) == DECP_E_HANDLE &&
	      f->decp_handle_free(m) == DECP_OK, "positions: master handle freed");
}
