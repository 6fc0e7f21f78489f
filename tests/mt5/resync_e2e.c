/*
 * resync_e2e: an MT5 subscriber that was away re-syncs through decp.dll from the real
 * fan-out, and an MT5 master sends its own positions through decp.dll to the real ingest
 * (test_mt5_resync starts the pipeline). One program, two builds: natively (the DLL's C
 * linked in, under ASan; POSIX sockets) and for Windows (decp.dll loaded with
 * LoadLibrary, Winsock, run under Wine). The calls are the EAs' (DecpMaster.mq5,
 * DecpReceiver.mq5), through decp.mqh-generated pointers.
 *
 *   1  master logs in (protocol 2); receiver R (re-sync on, the platform's key from the
 *      fan-out's log) subscribes from 1 with snapshot = true
 *   2  master opens 1001..1004 (seq 1-4): R executes them live at 2.0x (the policy)
 *   3  R goes away; master closes 1001, partly closes 1002, modifies 1003, places a
 *      BUY_LIMIT 1005, opens 1006, closes 1004, places a SELL_STOP 1008, moves 1005's
 *      price (seq 5-12), then sends its positions twice at N = 12: as held (match) and
 *      with 1006's volume wrong (mismatch: the book role alerts)
 *   4  after > 250 ms (a replay would be stale) R subscribes from 5: the fan-out sends
 *      StateChange, SnapshotBegin{12}, parts, SnapshotEnd (signed); R plans with its
 *      copies and quotes, executes CLOSE x2, REDUCE, MODIFY, OPEN x3 into its account,
 *      sends ResyncDone: the account holds what its policy implies from the master's
 *      positions; the same snapshot bytes are refused by a handle trusting another key
 *      and, altered, by one trusting the platform's
 *   5  master closes 1006, opens 1009 (13, 14): R executes both live from S + 1; the
 *      recorded envelope 1 handed again is refused (REPLAY); R sees StateChange SYNCED
 *   6  R's terminal is busy for longer than its TTL while the master closes 1009 and opens
 *      1010 (15, 16): both refused as stale (TTL_EXPIRED), sequences used up; on the same
 *      connection R asks a re-sync from 15 (decp_rx_resync_ask, once), the fan-out sends
 *      the book at 16, R closes 1009's copy and opens 1010: the account follows the
 *      master again without a reconnect
 *   7  R's wallet view is empty (view[6] = 0: DecpReceiver's account balance at 0): the
 *      master opens 1011 (17), refused INSUFFICIENT_FUNDS, the guard LOCKED_NO_FUNDS; he
 *      closes 1010, whose copy R holds, and opens 1012 (18, 19): both refused
 *      STATE_LOCKED and consumed, nothing asked while locked; the funds return
 *      (decp_rx_account, SYNCED) at once: R polls decp_rx_resync_ask on its timer until it
 *      gives Subscribe{from 17, snapshot}, no sooner than 300 ms after 17's check, sends
 *      it on the open connection, the fan-out's book at 19 closes 1010's copy and opens
 *      1011 and 1012 (ABI 9; before, nothing was asked and 1010's copy stayed open)
 *
 * usage: resync_e2e DECP_DLL HOST INGEST_PORT FANOUT_PORT LICENSE_TOKEN SECRET_HEX
 *                   SEED_HEX SUBSCRIBER_TOKEN PLATFORM_PUB_HEX
 * (DECP_DLL is ignored by the native build). Prints "N passed, N failed" last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#ifdef _WIN32
#include <winsock2.h>
#include <windows.h>

#include "wine_load.h"
#endif

#include "decp_dll.h" /* codes and sizes (the calls go through struct decp_fns) */
#include "dll_calls.h"
#include "mt5_check.h"
#include "mt5_ea.h"

#define MASTER 1
#define MULT 2            /* the subscription's policy: MULTIPLIER 2 */
#define EU 108512         /* EURUSD's price (1e-5) */
#define GU 127000         /* GBPUSD's */
#define TIMEOUT_NS (INT64_C(120) * 1000000000)

static struct decp_fns F;
static const char *g_host;
static int g_ingest_port, g_fanout_port;
static wchar_t g_token[128], g_sub_token[128];
static uint8_t g_secret[32], g_seed[32], g_master_pub[32], g_platform_pub[32];

/* ------------------------------------------------------------------ master -- */

/* The master's positions as it holds them (what DecpMaster lists from PositionsTotal /
 * OrdersTotal), kept from the signals it sends. */
struct entry {
	int64_t ticket, type, volume, price, sl, tp;
	const char *symbol;
	int open;
};
static struct entry book[32];
static int nbook;

static struct entry *book_of(int64_t ticket)
{
	for (int i = 0; i < nbook; i++)
		if (book[i].open && book[i].ticket == ticket)
			return &book[i];
	return NULL;
}

static struct {
	int64_t h;
	mt5_sock s;
	struct mt5_inbuf in;
	int64_t seq;
} M;

/* Reads ingest frames until the wanted one: HelloAck (want 1) or the Ack of seq (want 2).
 * Returns 0, -2 for Nack UNAVAILABLE (the server closes; log in again later) or -1. */
static int master_wait(int want, int64_t seq)
{
	int64_t fields[4], deadline = mt5_now_ns() + TIMEOUT_NS;

	while (mt5_now_ns() < deadline) {
		int fl = F.decp_frame_split(M.in.b, M.in.n, DECP_FRAME_MAX), k;

		if (fl == 0) {
			if (mt5_fill(M.s, &M.in) != 0)
				return -1;
			continue;
		}
		if (fl < 0)
			return -1;
		k = F.decp_ingest_decode(M.in.b + 4, fl - 4, fields, 4);
		if (k == 6) {
			uint8_t pf[64];
			int pn = F.decp_master_login_proof(M.h, g_token, M.in.b + 4, fl - 4, pf,
							   sizeof(pf));

			mt5_consume(&M.in, fl);
			if (mt5_send_all(M.s, pf, pn) != 0)
				return -1;
			continue;
		}
		mt5_consume(&M.in, fl);
		if (k == 1 && want == 1)
			return 0;
		if (k == 2 && want == 2 && fields[0] == seq)
			return 0;
		if (k == 3 || k == 4) {
			fprintf(stderr, "master: ingest answered %d (%lld %lld)\n", k,
				(long long)fields[0], (long long)fields[1]);
			return k == 3 && fields[1] == 8 ? -2 : -1;
		}
	}
	return -1;
}

/* Logs in as DecpMaster does: a login the server refuses Nack UNAVAILABLE (its edge did
 * not confirm it within 1 s: a loaded machine, ASan, Wine starting) is tried again after
 * 200 ms, at most 20 times; any other refusal ends it. */
static int master_login(void)
{
	uint8_t out[256];

	M.h = F.decp_master_new(MASTER, g_secret, 32, g_seed, 32);
	if (M.h <= 0)
		return -1;
	for (int attempt = 0; attempt < 20; attempt++) {
		int rc;

		if (attempt > 0)
			mt5_sleep_ms(200);
		M.s = mt5_dial(g_host, g_ingest_port, 300);
		M.in.n = 0;
		if (M.s == MT5_NO_SOCK)
			continue;
		rc = mt5_send_all(M.s, out, F.decp_master_hello(M.h, L"resync_e2e/1", out,
								 sizeof(out))) == 0
			     ? master_wait(1, 0) : -1;
		if (rc == 0) {
			if (attempt > 0)
				printf("master: logged in after %d UNAVAILABLE\n", attempt);
			return 0;
		}
		mt5_close(M.s);
		M.s = MT5_NO_SOCK;
		if (rc != -2)
			return -1;
	}
	return -1;
}

/* One signal, signed by the DLL, sent and ACKed; the master's own book follows it. */
static int master_signal(int type, int64_t ticket, const char *symbol, int64_t volume,
			 int64_t price, int64_t sl, int64_t tp)
{
	uint8_t out[512];
	wchar_t sym[40];
	struct entry *e = book_of(ticket);
	int n;

	mbstowcs(sym, symbol, 40);
	n = F.decp_master_signal(M.h, ++M.seq, sym, type, volume, price, sl, tp, ticket,
				 mt5_now_ns(), 0, out, sizeof(out));
	if (mt5_send_all(M.s, out, n) != 0 || master_wait(2, M.seq) != 0) {
		CHECK(0, "master: signal %lld sent and ACKed", (long long)M.seq);
		return -1;
	}
	if (type >= 1 && type <= 6 && nbook < 32)
		book[nbook++] = (struct entry){ ticket, type, volume, price, sl, tp, symbol, 1 };
	else if (type == 7 && e != NULL)
		e->open = 0;
	else if (type == 9 && e != NULL && (e->volume -= volume) <= 0)
		e->open = 0;
	else if (type == 8 && e != NULL) {
		e->sl = sl;
		e->tp = tp;
		if (e->type >= 3)
			e->price = price;
	}
	return 0;
}

/* The master's positions at N (the last ACKed sequence), as DecpMaster sends them; wrong:
 * 1006's volume one step off (the book role must call it a mismatch). */
static int master_positions(int64_t snapshot_id, int wrong)
{
	static uint8_t out[DECP_MASTER_POSITIONS_OUT];
	int n = 0, k;

	for (int i = 0; i < nbook; i++) {
		wchar_t sym[40];

		if (!book[i].open)
			continue;
		mbstowcs(sym, book[i].symbol, 40);
		k = F.decp_master_position(M.h, book[i].ticket, sym, (int32_t)book[i].type,
					   book[i].volume + (wrong && book[i].ticket == 1006),
					   book[i].price, book[i].sl, book[i].tp, 0);
		if (k != ++n)
			return -1;
	}
	k = F.decp_master_positions(M.h, M.seq, snapshot_id, mt5_now_ns(), out, sizeof(out));
	return k > 0 ? mt5_send_all(M.s, out, k) : -1;
}

/* ---------------------------------------------------------------- receiver -- */

/* The subscriber's account: its copies by master ticket. */
struct copy {
	int64_t ticket, type, volume, master_volume, price, sl, tp;
	char symbol[40];
	int open;
};
static struct copy account[64];
static int naccount;

static struct copy *copy_of(int64_t ticket)
{
	for (int i = 0; i < naccount; i++)
		if (account[i].open && account[i].ticket == ticket)
			return &account[i];
	return NULL;
}

static struct {
	int64_t h;
	mt5_sock s;
	struct mt5_inbuf in;
	int subscribed, sync_ends, synced_seen, executed, snapshots, resyncs_done, refusals;
	uint8_t env1[1024]; /* envelope 1 as received: the stale replay of step 5 */
	int env1_n;
	/* the snapshot's messages as received (for the handles that must refuse them) */
	uint8_t snap[64][1100];
	int snap_n[64], nsnap;
	int64_t done_counts[5];
	int expect; /* the actions the next snapshot's plan must have (-1: unchecked) */
	int stale, asked; /* step 6: the envelopes are checked late; re-syncs asked */
	/* step 7: the wallet view is empty (view[6] = 0), each check's verdict, asks made
	 * while the guard was halted, the first STATE_LOCKED check's and the ask's times */
	int broke, locked_asks;
	int64_t verdicts[32], locked_ns, asked_ns;
} R;

static int ws_send(const uint8_t *fr, int n)
{
	return mt5_send_all(R.s, fr, n);
}

/* A live envelope: the guard, then "executed" into the account, reported. */
static void on_envelope(const int64_t *info, const uint8_t *pl, int n)
{
	int64_t v[12], verdict[16], t;
	uint8_t out[512], osym[40];
	struct copy *c = copy_of(info[7]);
	int k, a;

	if (info[1] == 1 && R.env1_n == 0 && n <= (int)sizeof(R.env1)) {
		memcpy(R.env1, pl, (size_t)n);
		R.env1_n = n;
	}
	mt5_view_at(v, info[4]);
	v[9] = c != NULL;
	v[10] = c ? c->volume : 0;
	v[11] = c ? c->master_volume : 0;
	if (R.broke)
		v[6] = 0; /* the wallet balance: the account's funds are gone */
	t = mt5_now_ns();
	k = F.decp_rx_check(R.h, t, v, 12, verdict, 16, osym, sizeof(osym));
	if (info[1] >= 0 && info[1] < 32)
		R.verdicts[info[1]] = k;
	if (R.broke) {
		/* refused (no funds, then the guard halted), consumed; DecpReceiver asks after
		 * every refused check: nothing while the guard is LOCKED_NO_FUNDS */
		if ((k == 3 || k == 6) && R.locked_ns == 0)
			R.locked_ns = t; /* the first check that owes: the opening that locked it */
		R.locked_asks += F.decp_rx_resync_ask(R.h, mt5_now_ns(), out, sizeof(out)) != 0;
		return;
	}
	if (R.stale) {
		/* checked after the TTL (the terminal was busy): refused, reported, and the
		 * re-sync asked on this connection as DecpReceiver does */
		CHECK(k == 4, "receiver: signal %lld checked late refused TTL_EXPIRED (%d)",
		      (long long)info[1], k);
		ws_send(out, F.decp_rx_protection(R.h, mt5_now_ns(), out, sizeof(out)));
		a = F.decp_rx_resync_ask(R.h, mt5_now_ns(), out, sizeof(out));
		if (a > 0 && ws_send(out, a) == 0)
			R.asked++;
		return;
	}
	CHECK(k == 0, "receiver: signal %lld executes live (%d)", (long long)info[1], k);
	if (k != 0)
		return;
	R.executed++;
	if (verdict[3] >= 1 && verdict[3] <= 6) {
		account[naccount] = (struct copy){ verdict[8], verdict[3], verdict[4], info[3],
					     verdict[5], verdict[6], verdict[7], "", 1 };
		snprintf(account[naccount].symbol, sizeof(account[naccount].symbol), "%s", (char *)osym);
		naccount++;
	} else if (verdict[3] == 7 && c != NULL) {
		c->open = 0;
	} else if (verdict[3] == 9 && c != NULL) {
		c->volume -= verdict[4];
		c->master_volume -= info[3];
	} else if (verdict[3] == 8 && c != NULL) {
		c->sl = verdict[6];
		c->tp = verdict[7];
	}
	ws_send(out, F.decp_rx_report(R.h, 1, verdict[4], info[4], 500000 + info[1], 10009, 0,
				      mt5_now_ns(), out, sizeof(out)));
}

/* SnapshotEnd verified (decp_rx_message == 12): reconcile now, before the next message. */
static void on_snapshot(void)
{
	int64_t ei[8], v[12], act[13];
	uint8_t sym[40], out[256];
	wchar_t w[40];
	int n, held = 0;

	R.snapshots++;
	memset(R.done_counts, 0, sizeof(R.done_counts));
	/* quotes of the snapshot's (mapped) symbols: what SymbolInfoTick gives the EA */
	for (int i = 0; F.decp_rx_resync_entry(R.h, i, ei, 8, sym, sizeof(sym)) == 1; i++) {
		if (ei[1] >= 3)
			continue; /* pending orders are placed at their price */
		mbstowcs(w, (char *)sym, 40);
		mt5_view_at(v, ei[3]);
		CHECK(F.decp_rx_resync_quote(R.h, w, v, 12) > 0, "resync: quote of %s", sym);
	}
	/* the EA's copies of this master's positions (its magic and comments say which) */
	for (int i = 0; i < naccount; i++) {
		if (!account[i].open)
			continue;
		mbstowcs(w, account[i].symbol, 40);
		if (F.decp_rx_resync_held(R.h, account[i].ticket, w, (int32_t)account[i].type,
					  account[i].volume, account[i].price, account[i].sl,
					  account[i].tp) <= 0)
			continue;
		held++;
		/* the master's volume the copy follows, as DecpReceiver keeps it per copy */
		CHECK(account[i].master_volume <= 0 ||
		      F.decp_rx_resync_held_master(R.h, account[i].ticket,
						   account[i].master_volume) == DECP_OK,
		      "resync: copy of %lld follows the master's %lld", (long long)account[i].ticket,
		      (long long)account[i].master_volume);
	}
	n = F.decp_rx_resync_plan(R.h);
	printf("receiver: snapshot verified, %d copies held, %d actions\n", held, n);
	if (R.expect >= 0)
		CHECK(n == R.expect, "resync: %d actions planned: %d", R.expect, n);
	for (int i = 0; i < n; i++) {
		int op = F.decp_rx_resync_action(R.h, i, act, 13, sym, sizeof(sym));
		struct copy *c = copy_of(act[6]);

		printf("receiver: resync %s ticket %lld %s type %lld volume %lld reason %lld\n",
		       op == 1 ? "CLOSE" : op == 2 ? "REDUCE" : op == 3 ? "MODIFY" :
		       op == 4 ? "OPEN" : "SKIP", (long long)act[6], (char *)sym,
		       (long long)act[1], (long long)act[2], (long long)act[9]);
		if (op >= 1 && op <= 5)
			R.done_counts[op - 1]++;
		/* executed as the EA would (OrderSend / PositionClose*) */
		if (op == 1 && c != NULL) {
			c->open = 0;
		} else if (op == 2 && c != NULL) {
			c->volume -= act[2];
			c->master_volume = act[8];
		} else if (op == 3 && c != NULL) {
			c->sl = act[4];
			c->tp = act[5];
			if (c->type >= 3)
				c->price = act[3];
		} else if (op == 4) {
			account[naccount] = (struct copy){ act[6], act[1], act[2], act[8], act[3], act[4],
						     act[5], "", 1 };
			snprintf(account[naccount].symbol, sizeof(account[naccount].symbol), "%s", (char *)sym);
			naccount++;
		}
	}
	n = F.decp_rx_resync_done(R.h, out, sizeof(out));
	CHECK(n > 0 && ws_send(out, n) == 0, "resync: ResyncDone sent");
	R.resyncs_done++;
}

/* Connect, upgrade, TimePing; Subscribe once the clock is measured. */
static int rx_connect(void)
{
	uint8_t out[1024];
	int n;

	R.s = mt5_dial(g_host, g_fanout_port, 300);
	R.in.n = 0;
	R.subscribed = 0;
	n = F.decp_ws_request(R.h, L"127.0.0.1", g_fanout_port, L"/", g_sub_token, out,
			      sizeof(out));
	if (R.s == MT5_NO_SOCK || mt5_send_all(R.s, out, n) != 0)
		return -1;
	for (int64_t deadline = mt5_now_ns() + TIMEOUT_NS; mt5_now_ns() < deadline;) {
		if (mt5_fill(R.s, &R.in) != 0)
			return -1;
		n = F.decp_ws_response(R.h, R.in.b, R.in.n);
		if (n < 0)
			return -1;
		if (n > 0) {
			mt5_consume(&R.in, n);
			return ws_send(out, F.decp_rx_time_ping(R.h, mt5_now_ns(), out, sizeof(out)));
		}
	}
	return -1;
}

/* Handles the receiver's messages until done() or timeout_ns. Returns 0 or -1. */
static int rx_pump_for(int (*done)(void), int64_t timeout_ns)
{
	uint8_t pl[4096], sym[40], out[256];
	int64_t info[12], wi[4], deadline = mt5_now_ns() + timeout_ns;

	while (!done()) {
		int fl, k, n;

		if (mt5_now_ns() > deadline)
			return -1;
		fl = F.decp_ws_decode(R.in.b, R.in.n, wi, 4);
		if (fl == 0) {
			if (mt5_fill(R.s, &R.in) != 0)
				return -1;
			continue;
		}
		if (fl < 0 || wi[2] > (int64_t)sizeof(pl))
			return -1;
		memcpy(pl, R.in.b + wi[1], (size_t)wi[2]);
		n = (int)wi[2];
		mt5_consume(&R.in, fl);
		if (wi[0] == 9) {
			ws_send(out, F.decp_ws_encode(10, pl, n, out, sizeof(out)));
			continue;
		}
		if (wi[0] != 2)
			continue;
		k = F.decp_rx_message(R.h, pl, n, mt5_now_ns(), info, 12, sym, sizeof(sym));
		if (k == 9) {
			R.nsnap = 0; /* keep the last snapshot's messages */
			R.synced_seen = 0;
		}
		if ((k == 9 || k == 11 || k == 12) && R.nsnap < 64 && n <= 1100) {
			memcpy(R.snap[R.nsnap], pl, (size_t)n);
			R.snap_n[R.nsnap++] = n;
		}
		if (k == 4 && !R.subscribed) {
			/* Subscribe from the guard's next sequence, snapshot = true */
			CHECK(ws_send(out, F.decp_rx_subscribe(R.h, out, sizeof(out))) == 0,
			      "receiver: Subscribe sent");
			R.subscribed = 1;
		} else if (k == 3) {
			R.sync_ends++;
		} else if (k == 1) {
			on_envelope(info, pl, n);
		} else if (k == 12) {
			on_snapshot();
		} else if (k == 5) {
			printf("receiver: StateChange %lld -> %lld (cause %lld)\n",
			       (long long)info[2], (long long)info[3], (long long)info[4]);
			R.synced_seen = info[3] == 1 && R.resyncs_done > 0;
		} else if (k == 6) {
			CHECK(0, "receiver: fan-out Error %lld", (long long)info[0]);
		} else if (k < 0) {
			R.refusals++;
			CHECK(0, "receiver: message refused (%d, why %lld)", k, (long long)info[2]);
		}
	}
	return 0;
}

static int rx_pump(int (*done)(void))
{
	return rx_pump_for(done, TIMEOUT_NS);
}

static int64_t st[15];

static int live(void)
{
	return R.subscribed && R.sync_ends > 0;
}

static int consumed_4(void)
{
	F.decp_rx_state(R.h, st, 15);
	return st[1] >= 4;
}

static int resynced(void)
{
	F.decp_rx_state(R.h, st, 15);
	return R.resyncs_done > 1;
}

static int resynced_again(void)
{
	return R.resyncs_done > 2;
}

static int resynced_after_halt(void)
{
	return R.resyncs_done > 3;
}

static int consumed_19(void)
{
	F.decp_rx_state(R.h, st, 15);
	return st[1] >= 19;
}

/* DecpReceiver's timer (OnTimer every 10 ms; here each pass of rx_pump, which waits at
 * most the socket's 300 ms for data): an owed re-sync asked when it is due, sent on the
 * open connection. */
static int resync_asked(void)
{
	uint8_t out[256];
	int64_t t = mt5_now_ns();
	int n = F.decp_rx_resync_ask(R.h, t, out, sizeof(out));

	if (n <= 0)
		return 0;
	CHECK(ws_send(out, n) == 0, "receiver: the re-sync asked sent");
	R.asked++;
	R.asked_ns = t;
	return 1;
}

static int consumed_14(void)
{
	F.decp_rx_state(R.h, st, 15);
	return st[1] >= 14 && R.synced_seen;
}

/* The account equals the master's positions as the policy (2.0x) maps them. */
static int account_follows_master(const char *when)
{
	int open = 0, want = 0, ok = 1;

	for (int i = 0; i < naccount; i++)
		open += account[i].open;
	for (int i = 0; i < nbook; i++) {
		const struct entry *e = &book[i];
		const struct copy *c;

		if (!e->open)
			continue;
		want++;
		c = copy_of(e->ticket);
		if (c == NULL || c->type != e->type || c->volume != MULT * e->volume ||
		    c->sl != e->sl || c->tp != e->tp || strcmp(c->symbol, e->symbol) != 0 ||
		    (e->type >= 3 && c->price != e->price)) {
			fprintf(stderr, "%s: ticket %lld: copy %s\n", when, (long long)e->ticket,
				c == NULL ? "missing" : "differs");
			ok = 0;
		}
	}
	printf("%s: %d copies open, the master holds %d\n", when, open, want);
	return ok && open == want;
}

/* The recorded snapshot fed to a fresh handle trusting key; alter: one byte of the first
 * part changed. Returns SnapshotEnd's answer (or the first refusal). */
static int replay_snapshot(const uint8_t *key, int alter)
{
	int64_t h = F.decp_rx_new(MASTER, g_master_pub, 32, 4, 5000), info[12];
	uint8_t sym[40], m[1100];
	int k = DECP_E_STATE;

	if (h <= 0 || F.decp_rx_resync(h, key, 32) != DECP_OK)
		return DECP_E_HANDLE;
	for (int i = 0; i < R.nsnap; i++) {
		memcpy(m, R.snap[i], (size_t)R.snap_n[i]);
		if (alter && i == 1)
			m[R.snap_n[i] - 1] ^= 1; /* the last entry's last field, still decodable */
		k = F.decp_rx_message(h, m, R.snap_n[i], mt5_now_ns(), info, 12, sym, sizeof(sym));
		if (k < 0)
			break;
	}
	CHECK(F.decp_rx_resync_plan(h) == DECP_E_STATE, "refused snapshot: nothing to plan");
	F.decp_handle_free(h);
	return k;
}

int main(int argc, char **argv)
{
	uint8_t out[512], sym[40], osym[40];
	int64_t info[12], v[12], verdict[16];
	int k;
#ifdef _WIN32
	WSADATA wsa;
#endif

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 10) {
		fprintf(stderr, "usage: resync_e2e DECP_DLL HOST INGEST_PORT FANOUT_PORT "
			"LICENSE_TOKEN SECRET_HEX SEED_HEX SUBSCRIBER_TOKEN PLATFORM_PUB_HEX\n");
		return 2;
	}
	g_host = argv[2];
	g_ingest_port = atoi(argv[3]);
	g_fanout_port = atoi(argv[4]);
	if (mbstowcs(g_token, argv[5], 127) == (size_t)-1 ||
	    mbstowcs(g_sub_token, argv[8], 127) == (size_t)-1 || mt5_unhex(argv[6], g_secret, 32) ||
	    mt5_unhex(argv[7], g_seed, 32) || mt5_unhex(argv[9], g_platform_pub, 32)) {
		fprintf(stderr, "resync_e2e: bad arguments\n");
		return 2;
	}
#ifdef _WIN32
	if (wine_load_dll(argv[1], &F) != 0 || WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
		printf("0 passed, 1 failed\n");
		return 1;
	}
#else
#define DIRECT(n) F.n = n;
	DECP_IMPORTS(DIRECT)
#undef DIRECT
#endif
	CHECK(F.decp_ed25519_public(g_seed, 32, g_master_pub, 32) == 32, "master public key");

	/* 1: master logged in; R subscribed with snapshot = true */
	CHECK(master_login() == 0, "master: logged in (protocol 2)");
	R.h = F.decp_rx_new(MASTER, g_master_pub, 32, 0, 5000);
	CHECK(R.h > 0 && F.decp_rx_resync(R.h, g_platform_pub, 32) == DECP_OK,
	      "receiver: re-sync on with the platform's key");
	/* a new subscription of a master whose stream this fan-out has not seen: the empty
	 * book as a snapshot at 0 (nothing to do), then live */
	R.expect = 0;
	CHECK(rx_connect() == 0 && rx_pump(live) == 0 && R.resyncs_done == 1,
	      "receiver: connected, upgraded, subscribed, the empty book reconciled (%d)",
	      R.resyncs_done);

	/* 2: four positions opened, copied live */
	master_signal(1, 1001, "EURUSD", 10, EU, EU - 500, EU + 500);
	master_signal(2, 1002, "GBPUSD", 10, GU, 0, 0);
	master_signal(1, 1003, "EURUSD", 10, EU, EU - 400, 0);
	master_signal(1, 1004, "EURUSD", 10, EU, 0, 0);
	CHECK(rx_pump(consumed_4) == 0 && R.executed == 4 && account_follows_master("live"),
	      "receiver: 1-4 executed live, the account follows the master");

	/* 3: away; the master trades on and sends its positions */
	mt5_close(R.s);
	R.s = MT5_NO_SOCK;
	master_signal(7, 1001, "EURUSD", 0, EU, 0, 0);
	master_signal(9, 1002, "GBPUSD", 4, GU, 0, 0);
	master_signal(8, 1003, "EURUSD", 0, EU, EU - 300, EU + 300);
	master_signal(3, 1005, "EURUSD", 10, EU - 200, 0, 0);
	master_signal(1, 1006, "EURUSD", 5, EU, 0, EU + 600);
	master_signal(7, 1004, "EURUSD", 0, EU, 0, 0);
	master_signal(6, 1008, "GBPUSD", 3, GU - 300, GU + 100, 0);
	master_signal(8, 1005, "EURUSD", 0, EU - 250, 0, 0);
	CHECK(M.seq == 12, "master: 12 signals ACKed");
	CHECK(master_positions(1, 0) == 0 && master_positions(2, 1) == 0,
	      "master: its positions at 12 sent twice (as held, then with 1006 off)");
	printf("master: positions sent at %lld\n", (long long)M.seq);

	/* 4: back after more than 250 ms: a snapshot, not a stale replay */
	mt5_sleep_ms(1000);
	R.expect = 7; /* CLOSE x2, REDUCE, MODIFY, OPEN x3 */
	CHECK(rx_connect() == 0, "receiver: reconnected");
	CHECK(rx_pump(resynced) == 0 && R.snapshots == 2,
	      "receiver: a signed snapshot received from the fan-out and verified");
	CHECK(R.done_counts[0] == 2 && R.done_counts[1] == 1 && R.done_counts[2] == 1 &&
	      R.done_counts[3] == 3 && R.done_counts[4] == 0,
	      "resync: CLOSE x2 (1001, 1004), REDUCE 1002, MODIFY 1003, OPEN 1005, 1006, 1008");
	CHECK(account_follows_master("resync"),
	      "resync: the account holds exactly what its policy implies from the master's "
	      "positions");
	F.decp_rx_state(R.h, st, 15);
	CHECK(st[0] == 1 && st[1] == 12 && st[4] == 13 && st[12] == 2 && st[14] == 2,
	      "resync: the guard SYNCED at 12, continues at 13");
	k = replay_snapshot(g_master_pub, 0);
	CHECK(k == DECP_E_BADSIG, "resync: the same snapshot refused by an EA trusting another "
	      "key (%d)", k);
	k = replay_snapshot(g_platform_pub, 1);
	CHECK(k == DECP_E_BADSIG || k == DECP_E_SNAPSHOT || k == DECP_E_MALFORMED,
	      "resync: the snapshot altered on the way refused (%d)", k);

	/* 5: live from S + 1; a stale replay refused */
	master_signal(7, 1006, "EURUSD", 0, EU, 0, 0);
	master_signal(1, 1009, "EURUSD", 10, EU, 0, 0);
	CHECK(rx_pump(consumed_14) == 0 && R.executed == 6 && R.synced_seen,
	      "receiver: 13 and 14 executed live after the re-sync, StateChange SYNCED seen");
	CHECK(account_follows_master("live after the re-sync"),
	      "receiver: the account follows the master");

	/* 6: busy past the TTL (5 s): 15 and 16 stale; a re-sync asked on this connection */
	master_signal(7, 1009, "EURUSD", 0, EU, 0, 0);
	master_signal(1, 1010, "EURUSD", 10, EU, 0, 0);
	mt5_sleep_ms(5800);
	R.stale = 1;
	R.expect = 2; /* CLOSE 1009, OPEN 1010 */
	CHECK(rx_pump(resynced_again) == 0 && R.asked == 1 && R.snapshots == 3,
	      "receiver: 15 and 16 refused stale, one re-sync asked (%d), the book at 16 "
	      "received and verified", R.asked);
	R.stale = 0;
	CHECK(R.done_counts[0] == 1 && R.done_counts[3] == 1,
	      "resync: CLOSE 1009, OPEN 1010 from the stale signals' book");
	CHECK(account_follows_master("after the stale signals"),
	      "receiver: the account follows the master again, no reconnect");
	F.decp_rx_state(R.h, st, 15);
	CHECK(st[0] == 1 && st[1] == 16 && st[4] == 17, "resync: the guard SYNCED at 16");
	k = F.decp_rx_message(R.h, R.env1, R.env1_n, mt5_now_ns(), info, 12, sym, sizeof(sym));
	mt5_view_at(v, EU);
	CHECK(k == 1 && F.decp_rx_check(R.h, mt5_now_ns(), v, 12, verdict, 16, osym, 40) == 1,
	      "receiver: envelope 1 handed again is refused (REPLAY)");

	/* 7: the wallet empty (view[6] = 0); the master opens 1011, closes 1010 (whose copy
	 * R holds) and opens 1012; the funds return; the re-sync owed is asked */
	R.broke = 1;
	master_signal(1, 1011, "GBPUSD", 10, GU, 0, 0);
	master_signal(7, 1010, "EURUSD", 0, EU, 0, 0);
	master_signal(1, 1012, "EURUSD", 5, EU, 0, 0);
	CHECK(rx_pump(consumed_19) == 0 && R.verdicts[17] == 6 && R.verdicts[18] == 3 &&
	      R.verdicts[19] == 3,
	      "halted: 17 refused INSUFFICIENT_FUNDS, then 18 (CLOSE 1010) and 19 refused "
	      "STATE_LOCKED (%lld %lld %lld)", (long long)R.verdicts[17],
	      (long long)R.verdicts[18], (long long)R.verdicts[19]);
	R.broke = 0;
	F.decp_rx_state(R.h, st, 15);
	CHECK(st[0] == 3 && st[1] == 19 && copy_of(1010) != NULL && R.locked_asks == 0,
	      "halted: LOCKED_NO_FUNDS, 17-19 consumed, 1010's copy still open, nothing asked "
	      "(%d)", R.locked_asks);
	CHECK(F.decp_rx_account(R.h, INT64_C(100000000), 0, INT64_C(100000000)) == 1,
	      "halted: the funds back (decp_rx_account): the guard left LOCKED_NO_FUNDS");
	/* the ask comes from the DLL's own clock, due 300 ms after 17's check: a bounded wait
	 * for it far longer than that (a loaded machine only slows the polling); without it
	 * no snapshot comes (the rest is not waited for) */
	k = rx_pump_for(resync_asked, INT64_C(30) * 1000000000);
	CHECK(k == 0 && R.asked == 2,
	      "halted: back in SYNCED, decp_rx_resync_ask gives the re-sync owed (%d asks)",
	      R.asked);
	if (k == 0) {
		printf("receiver: re-sync asked %lld ms after the check that locked the guard\n",
		       (long long)((R.asked_ns - R.locked_ns) / 1000000));
		CHECK(R.asked_ns - R.locked_ns >= INT64_C(300) * 1000000,
		      "halted: asked no sooner than 300 ms after the check that locked the guard");
		R.expect = 3; /* CLOSE 1010, OPEN 1011, 1012 */
		CHECK(rx_pump(resynced_after_halt) == 0 && R.snapshots == 4,
		      "halted: the book at 19 received from the fan-out and verified");
		CHECK(R.done_counts[0] == 1 && R.done_counts[3] == 2,
		      "halted: CLOSE 1010, OPEN 1011, 1012 from the book");
	}
	CHECK(copy_of(1010) == NULL && account_follows_master("after the halt"),
	      "halted: 1010's copy closed, the account follows the master again");
	F.decp_rx_state(R.h, st, 15);
	CHECK(st[0] == 1 && st[1] == 19 && st[4] == 20 &&
	      F.decp_rx_resync_ask(R.h, mt5_now_ns() + INT64_C(6000000000), out,
				   sizeof(out)) == 0,
	      "halted: the guard SYNCED at 19, the ask answered (none again)");
	CHECK(R.refusals == 0, "receiver: no message refused");
	printf("receiver: executed=%d snapshots=%d resyncs=%d\n", R.executed, R.snapshots,
	       R.resyncs_done);
	ws_send(out, F.decp_ws_encode(8, (const uint8_t *)"\x03\xe8", 2, out, sizeof(out)));
	mt5_close(R.s);
	mt5_close(M.s);
	F.decp_handle_free(R.h);
	F.decp_handle_free(M.h);
#ifdef _WIN32
	WSACleanup();
#endif
	printf("%d passed, %d failed\n", mt5_passed(), mt5_failed());
	return mt5_failed() == 0 ? 0 : 1;
}
