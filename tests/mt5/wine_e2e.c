/*
 * wine_e2e (mingw-w64, run under Wine): both EAs' logic through decp.dll and Winsock, against
 * a real decp-dataplane and decp-control on loopback (started by test_mt5_e2e). It does what
 * DecpMaster.mq5 and DecpReceiver.mq5 do, in C, with the DLL calls they make:
 *
 *   receiver thread  WebSocket upgrade to the fan-out (subscriber token), TimePing, Subscribe;
 *                    for every Envelope first a forged copy (one signature byte flipped):
 *                    the guard must refuse it (INVALID_SIGNATURE, reported as a
 *                    ProtectionEvent), then the genuine one: guard, "executed" into a
 *                    simulated account (positions by master ticket), ExecutionReport sent
 *   master thread    (starts once the receiver is subscribed) Hello, HelloAck, N signals of
 *                    a trade cycle (BUY, MODIFY, CLOSE_PARTIAL, CLOSE, BUY_LIMIT, CLOSE of
 *                    the pending order), every one signed by the DLL; resends on Nack
 *                    BUSY/GAP; done when all are ACKed
 * The two threads use their own handles at the same time (one terminal runs EAs in threads).
 *
 * usage: wine_e2e.exe DECP_DLL HOST INGEST_PORT FANOUT_PORT MASTER_ID LICENSE_TOKEN
 *                     SECRET_HEX SEED_HEX SUBSCRIBER_TOKEN SIGNALS
 * Prints the counts and "N passed, N failed"; exit 0 when every check passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <winsock2.h>
#include <windows.h>

#include "decp_dll.h" /* codes and sizes only: calls go through struct decp_fns */
#include "e2e_plan.h"
#include "mt5_check.h"
#include "mt5_ea.h"
#include "wine_load.h"

#define NMAX 4096
#define TIMEOUT_MS 180000

static struct decp_fns F;
static const char *g_host;
static int g_ingest_port, g_fanout_port, g_n;
static int64_t g_master;
static wchar_t g_token[128], g_sub_token[128];
static uint8_t g_secret[32], g_seed[32], g_pub[32];
static HANDLE g_subscribed, g_policy2;


/* ---------------------------------------------------------------- receiver -- */

/* The simulated account: one position or pending order per master ticket. */
struct pos {
	int64_t ticket, volume, master_volume;
	int open;
};
static struct pos acct[NMAX];
static int nacct;

static struct pos *pos_of(int64_t ticket)
{
	for (int i = 0; i < nacct; i++)
		if (acct[i].ticket == ticket && acct[i].open)
			return &acct[i];
	return NULL;
}

/* "Executes" the guard's order (verdict) for master order type t of master volume mv. */
static void execute(const int64_t *v, int64_t mv)
{
	int64_t type = v[3], vol = v[4], ticket = v[8];
	struct pos *p = pos_of(ticket);

	if (type >= 1 && type <= 6) {
		if (nacct < NMAX)
			acct[nacct++] = (struct pos){ ticket, vol, mv, 1 };
	} else if (type == 7 && p != NULL) {
		p->open = 0;
	} else if (type == 9 && p != NULL) {
		p->volume -= vol;
		p->master_volume -= mv;
		if (p->volume <= 0)
			p->open = 0;
	}
}

static int ws_send(SOCKET s, const uint8_t *fr, int n)
{
	return n > 0 ? mt5_send_all(s, fr, n) : -1;
}

/* Flips a byte of the Envelope's Ed25519 signature (tag 0x1a, length 64). */
static int forge(uint8_t *p, int n)
{
	for (int i = 0; i + 66 <= n; i++)
		if (p[i] == 0x1a && p[i + 1] == 0x40) {
			p[i + 2 + 17] ^= 0x20;
			return 0;
		}
	return -1;
}

/*
 * Closes the connection cleanly (Close frame, FIN, read to EOF or 10 s): a reset would
 * lose the reports the server has not read yet, and the test counts every one.
 */
static void cut_clean(SOCKET s, uint8_t *out, size_t cap)
{
	char drain[4096];

	ws_send(s, out, F.decp_ws_encode(8, (const uint8_t *)"\x03\xe8", 2, out, (int32_t)cap));
	shutdown(s, SD_SEND);
	for (int i = 0; i < 20 && recv(s, drain, sizeof(drain), 0) != 0; i++)
		;
	closesocket(s);
}

/* ExecutionReport.Status for an executed order type: FILLED, PLACED, MODIFIED, CLOSED. */
static int status_of(int64_t type)
{
	return type == 1 || type == 2 ? 1 : type >= 3 && type <= 6 ? 3 : type == 8 ? 4 : 5;
}

/* The broker account as the EA reads it (AccountInfo*): 500.0000 USD free at 1:100 (what
 * e2e_plan.h sizes the orders against), its open positions; sent as AccountState. */
static int send_account(int64_t h, SOCKET s, uint8_t *out, size_t cap)
{
	int open = 0, rc;

	for (int i = 0; i < nacct; i++)
		open += acct[i].open;
	rc = F.decp_rx_account_state(h, L"USD", PLAN_LEVERAGE, PLAN_FREE_MARGIN, PLAN_FREE_MARGIN,
				     0, PLAN_FREE_MARGIN, open, 0);
	for (int i = 0; i < nacct && rc >= 0; i++)
		if (acct[i].open)
			F.decp_rx_account_position(h, g_master, acct[i].ticket, L"", 1,
						   acct[i].volume, 108512, 0, 0, 0);
	return rc < 0 ? rc : ws_send(s, out, F.decp_rx_account_frame(h, mt5_now_ns(), out, (int32_t)cap));
}

/* The reports the server has not acknowledged, sent again (after a reconnect). */
static int resend_unacked(int64_t h, SOCKET s, uint8_t *out, size_t cap)
{
	int n, i;

	for (i = 0; (n = F.decp_rx_unacked(h, i, out, (int32_t)cap)) > 0; i++)
		if (ws_send(s, out, n) != 0)
			return -1;
	return n < 0 ? -1 : i;
}

static DWORD WINAPI receiver(LPVOID arg)
{
	int64_t h = F.decp_rx_new(g_master, g_pub, 32, 0, 5000), info[12], verdict[16], view[12],
		st[11] = { 0 }, pi[16];
	uint8_t out[4096], sym[40], osym[40], pl[4096], text[256];
	struct mt5_inbuf *in = calloc(1, sizeof(*in));
	int executed = 0, forged_refused = 0, forged_accepted = 0, envelopes = 0, wrong = 0;
	int margin = 0, filtered = 0, wrong_volume = 0, policies = 0, accounts = 0, resent = 0;
	int upgraded = 0, pinged = 0, subscribed = 0, connects = 0, cut = 0, phase1 = 0;
	int64_t deadline = mt5_now_ns() + (int64_t)TIMEOUT_MS * 1000000, version = 0;
	SOCKET s = INVALID_SOCKET;
	int n;

	(void)arg;
	/* the account as the EA reads it: quote at the signal's price (set per envelope),
	 * lots 0.01..100 by 0.01, 10.0000 per pip per lot, 10,000.0000 wallet and equity */
	view[2] = 1;
	view[3] = 10000;
	view[4] = 1;
	view[5] = 100000;
	view[6] = INT64_C(100000000);
	view[7] = 0;
	view[8] = INT64_C(100000000);
	CHECK(h > 0, "receiver handle");
	/* the EA's inputs: 1.0x; the server's policy (2.0x) replaces them */
	CHECK(F.decp_rx_policy(h, 2, 1000, 0, 1, 1, 1, 300, L"", L"") == DECP_OK, "copy policy");
	if (in == NULL)
		goto out;
	while (!(st[1] == g_n && st[6] == 0) && mt5_now_ns() < deadline) {
		if (s == INVALID_SOCKET) {
			upgraded = pinged = subscribed = 0;
			in->n = 0;
			s = mt5_dial(g_host, g_fanout_port, 500);
			n = F.decp_ws_request(h, L"127.0.0.1", g_fanout_port, L"/", g_sub_token, out,
					      sizeof(out));
			if (s == INVALID_SOCKET || n <= 0 || mt5_send_all(s, out, n) != 0) {
				CHECK(0, "connect and upgrade request to the fan-out");
				break;
			}
			connects++;
		}
		if (mt5_fill(s, in) != 0) {
			closesocket(s);
			s = INVALID_SOCKET;
			continue;
		}
		if (!upgraded) {
			n = F.decp_ws_response(h, in->b, in->n);
			if (n == 0)
				continue;
			CHECK(n > 0, "WebSocket upgrade accepted (%d)", n);
			if (n < 0)
				break;
			mt5_consume(in, n);
			upgraded = 1;
			n = F.decp_rx_time_ping(h, mt5_now_ns(), out, sizeof(out));
			CHECK(ws_send(s, out, n) == 0, "TimePing sent");
			pinged = 1;
		}
		for (;;) {
			int64_t wi[4];
			int k, fl = F.decp_ws_decode(in->b, in->n, wi, 4);

			if (fl == 0)
				break;
			if (fl < 0) {
				CHECK(0, "server frame malformed");
				goto out;
			}
			memcpy(pl, in->b + wi[1], (size_t)wi[2]);
			n = (int)wi[2];
			mt5_consume(in, fl);
			if (wi[0] == 9) { /* ping: pong with the same payload */
				ws_send(s, out, F.decp_ws_encode(10, pl, n, out, sizeof(out)));
				continue;
			}
			if (wi[0] == 8) {
				closesocket(s);
				s = INVALID_SOCKET;
				break;
			}
			if (wi[0] != 2)
				continue;
			k = F.decp_rx_message(h, pl, n, mt5_now_ns(), info, 12, sym, sizeof(sym));
			if (k == 4 && pinged && !subscribed) {
				int r;

				/* as DecpReceiver: Subscribe, the account, the unacknowledged reports */
				n = F.decp_rx_subscribe(h, out, sizeof(out));
				CHECK(ws_send(s, out, n) == 0, "Subscribe sent");
				CHECK(send_account(h, s, out, sizeof(out)) == 0, "AccountState sent");
				accounts++;
				r = resend_unacked(h, s, out, sizeof(out));
				CHECK(r >= 0, "unacknowledged reports resent (%d)", r);
				resent += r > 0 ? r : 0;
				subscribed = 1;
			} else if (k == 3 && subscribed) {
				SetEvent(g_subscribed); /* live: the master may start */
			} else if (k == 6) {
				CHECK(0, "fan-out Error %lld", (long long)info[0]);
			} else if (k == 8) {
				/* the subscription's copy policy: on Subscribe and on change */
				int64_t v = F.decp_rx_policy_info(h, pi, 16, text, sizeof(text));

				policies++;
				CHECK(info[1] == 0 || info[1] == 1, "copy policy version %lld taken "
				      "(%lld)", (long long)info[0], (long long)info[1]);
				printf("receiver: copy policy version %lld %s: in force v%lld lot mode "
				       "%lld multiplier %lld/1000 %s\n", (long long)info[0],
				       info[1] == 1 ? "applied" : "already held", (long long)v,
				       (long long)pi[2], (long long)pi[4], text);
				fflush(stdout);
				version = v;
				if (v >= 2)
					SetEvent(g_policy2);
			} else if (k == 1) {
				uint8_t fp[4096];
				int64_t mv = info[3], seq = info[1];
				struct pos *p;

				envelopes++;
				/* the forged copy first: refused, state untouched */
				memcpy(fp, pl, (size_t)n);
				if (forge(fp, n) == 0 &&
				    F.decp_rx_message(h, fp, n, mt5_now_ns(), info, 12, sym, sizeof(sym)) == 1) {
					view[0] = info[4] - 1;
					view[1] = info[4] + 1;
					p = pos_of(info[7]);
					view[9] = p != NULL;
					view[10] = p ? p->volume : 0;
					view[11] = p ? p->master_volume : 0;
					k = F.decp_rx_check(h, mt5_now_ns(), view, 12, verdict, 16, osym,
							    sizeof(osym));
					if (k == 0) {
						forged_accepted++;
					} else {
						forged_refused += k == 7 && verdict[2] == 0;
						ws_send(s, out, F.decp_rx_protection(h, mt5_now_ns(), out,
										     sizeof(out)));
					}
				}
				/* the genuine envelope */
				k = F.decp_rx_message(h, pl, n, mt5_now_ns(), info, 12, sym, sizeof(sym));
				if (k != 1) {
					CHECK(0, "genuine envelope refused by decode (%d)", k);
					continue;
				}
				mv = info[3];
				seq = info[1];
				p = pos_of(info[7]);
				view[9] = p != NULL;
				view[10] = p ? p->volume : 0;
				view[11] = p ? p->master_volume : 0;
				view[0] = info[4] - 1;
				view[1] = info[4] + 1;
				k = F.decp_rx_check(h, mt5_now_ns(), view, 12, verdict, 16, osym,
						    sizeof(osym));
				if (k != plan_outcome((int)seq, g_n)) {
					wrong++;
					fprintf(stderr, "envelope %lld %s type %lld: reason %d filter %lld, "
						"expected %d (policy v%lld)\n", (long long)seq, sym,
						(long long)info[2], k, (long long)verdict[1],
						plan_outcome((int)seq, g_n), (long long)version);
				}
				if (k == 0) {
					/* the policy's size: twice the master's (CLOSE: all of it) */
					if (verdict[3] != 7 && verdict[4] != PLAN_MULT * mv)
						wrong_volume++;
					execute(verdict, mv);
					executed++;
					n = F.decp_rx_report(h, status_of(verdict[3]), verdict[4], info[4],
							     100000 + verdict[9], 10009, 0, mt5_now_ns(),
							     out, sizeof(out));
					CHECK(ws_send(s, out, n) == 0, "ExecutionReport sent");
				} else {
					margin += k == 10;
					filtered += k == 8;
					ws_send(s, out, F.decp_rx_protection(h, mt5_now_ns(), out, sizeof(out)));
				}
				F.decp_rx_state(h, st, 11);
				if (!phase1 && st[1] >= g_n / 2) {
					/* the test changes the policy now (test_mt5_e2e.c) */
					phase1 = 1;
					printf("receiver: phase1 done at %lld\n", (long long)st[1]);
					fflush(stdout);
				}
				if (!cut && seq == 20) {
					/* once: the connection drops right after a report (EA:
					 * reconnect, upgrade, TimePing, Subscribe from the guard's next
					 * sequence, the account, the reports not acknowledged yet) */
					cut = 1;
					cut_clean(s, out, sizeof(out));
					s = INVALID_SOCKET;
					break;
				}
			}
			F.decp_rx_state(h, st, 11);
		}
	}
	F.decp_rx_state(h, st, 11);
	CHECK(wrong == 0 && wrong_volume == 0,
	      "receiver: every outcome as planned (%d wrong, %d wrong volumes)", wrong,
	      wrong_volume);
	CHECK(executed == plan_count(g_n, 0) && margin == plan_count(g_n, 10) &&
	      filtered == plan_count(g_n, 8),
	      "receiver: %d executed, %d INSUFFICIENT_MARGIN, %d FILTERED of %d", executed, margin,
	      filtered, g_n);
	CHECK(forged_refused == envelopes && forged_accepted == 0,
	      "forgeries: %d of %d refused as INVALID_SIGNATURE, %d accepted", forged_refused,
	      envelopes, forged_accepted);
	CHECK(st[0] == 1 && st[1] == g_n && st[3] == executed,
	      "guard: SYNCED (%lld), last %lld, executed %lld", (long long)st[0], (long long)st[1],
	      (long long)st[3]);
	CHECK(version == 2 && policies >= 3, "copy policy: %d received, version %lld in force",
	      policies, (long long)version);
	CHECK(st[6] == 0 && st[7] == 2 * g_n && st[8] == 0 && resent >= 1,
	      "reports: %lld acknowledged, %lld unacknowledged, %d resent after the cut",
	      (long long)st[7], (long long)st[6], resent);
	CHECK(connects == 2 && accounts == 2,
	      "receiver: reconnected once after the cut (%d connections, %d AccountStates)",
	      connects, accounts);
	{
		int open = 0;

		for (int i = 0; i < nacct; i++)
			open += acct[i].open;
		CHECK(open == 0, "simulated account flat after the cycle (%d open)", open);
	}
	printf("receiver: executed=%d margin=%d filtered=%d forged_refused=%d forged_accepted=%d "
	       "connections=%d acked=%lld resent=%d\n", executed, margin, filtered,
	       forged_refused, forged_accepted, connects, (long long)st[7], resent);
	ws_send(s, out, F.decp_ws_encode(8, (const uint8_t *)"\x03\xe8", 2, out, sizeof(out)));
out:
	SetEvent(g_subscribed);
	SetEvent(g_policy2);
	if (s != INVALID_SOCKET)
		closesocket(s);
	F.decp_handle_free(h);
	free(in);
	return 0;
}

/* ------------------------------------------------------------------ master -- */

static uint8_t frames[NMAX + 1][512];
static int frame_len[NMAX + 1];

/* Signal q of e2e_plan.h's trade cycles (6 signals per cycle, tickets per cycle). */
static int make_signal(int64_t h, int q)
{
	int c = (q - 1) / 6, k = (q - 1) % 6;
	int64_t t = 1000 + 2 * c, price = plan_price(q);
	wchar_t sym[8];

	mbstowcs(sym, plan_symbol(q), 8);
	frame_len[q] = F.decp_master_signal(h, q, sym, plan_type(q), plan_volume(q),
					    k == 4 ? price - 200 : price, price - 500 - k,
					    price + 500 + k, k >= 4 ? t + 1 : t, mt5_now_ns(), 0,
					    frames[q], sizeof(frames[q]));
	return frame_len[q];
}

/* Connects to the ingest and sends the Hello (a fresh session: nothing buffered); the
 * challenge, the proof and the HelloAck follow in master()'s loop. */
static SOCKET master_login(int64_t h, struct mt5_inbuf *in)
{
	uint8_t out[1024];
	SOCKET s = mt5_dial(g_host, g_ingest_port, 500);
	int n;

	in->n = 0;
	if (s == INVALID_SOCKET)
		return s;
	n = F.decp_master_hello(h, L"wine_e2e/1", out, sizeof(out));
	if (n <= 0 || mt5_send_all(s, out, n) != 0) {
		closesocket(s);
		return INVALID_SOCKET;
	}
	return s;
}

static DWORD WINAPI master(LPVOID arg)
{
	int64_t h = F.decp_master_new(g_master, g_secret, 32, g_seed, 32), fields[4];
	struct mt5_inbuf *in = calloc(1, sizeof(*in));
	int acked = 0, next_send = 1, hello_ok = 0, busy = 0, logins = 0, cut = 0, proofs = 0;
	int unavailable = 0;   /* logins refused Nack UNAVAILABLE (not confirmed within 1 s) */
	int64_t deadline = mt5_now_ns() + (int64_t)TIMEOUT_MS * 1000000;
	static int ack_of[NMAX + 1];
	SOCKET s = INVALID_SOCKET;

	(void)arg;
	CHECK(h > 0, "master handle");
	for (int q = 1; q <= g_n; q++)
		if (make_signal(h, q) <= 0)
			CHECK(0, "signal %d built", q);
	if (in == NULL)
		goto out;
	while (acked < g_n && mt5_now_ns() < deadline) {
		if (s == INVALID_SOCKET) {
			s = master_login(h, in);
			hello_ok = 0;
			if (s == INVALID_SOCKET) {
				Sleep(200);
				continue;
			}
			logins++;
		}
		/* a window of 64 unACKed signals, as DecpMaster keeps; the second half only once
		 * the receiver holds policy version 2 (e2e_plan.h) */
		while (hello_ok && next_send <= g_n && next_send - acked <= 64 &&
		       (next_send <= g_n / 2 || WaitForSingleObject(g_policy2, 0) == WAIT_OBJECT_0)) {
			if (mt5_send_all(s, frames[next_send], frame_len[next_send]) != 0)
				break;
			next_send++;
		}
		/* once, halfway: the connection drops with signals in flight (EA: reconnect,
		 * log in, resend from HelloAck's next expected sequence, the same bytes) */
		if (!cut && next_send > g_n / 2) {
			cut = 1;
			closesocket(s);
			s = INVALID_SOCKET;
			continue;
		}
		if (mt5_fill(s, in) != 0) {
			printf("master: connection lost after %d logins (WSA error %d)\n", logins,
			       WSAGetLastError());
			closesocket(s);
			s = INVALID_SOCKET;
			continue;
		}
		for (;;) {
			int fl = F.decp_frame_split(in->b, in->n, DECP_FRAME_MAX), k;

			if (fl == 0)
				break;
			if (fl < 0) {
				CHECK(0, "ingest frame refused %d", fl);
				goto out;
			}
			k = F.decp_ingest_decode(in->b + 4, fl - 4, fields, 4);
			if (k == 6) {
				/* protocol 2: the proof for this connection's nonce (the token
				 * stays here) */
				uint8_t pf[64];
				int pn = F.decp_master_login_proof(h, g_token, in->b + 4, fl - 4, pf,
								   sizeof(pf));

				mt5_consume(in, fl);
				CHECK(!hello_ok && fields[0] == 32 && fields[1] == 2 && pn > 0,
				      "ServerChallenge answered (nonce %lld bytes, version %lld, "
				      "proof %d)", (long long)fields[0], (long long)fields[1], pn);
				if (pn <= 0 || mt5_send_all(s, pf, pn) != 0)
					goto out;
				proofs++;
				continue;
			}
			mt5_consume(in, fl);
			if (k == 1) {
				/* everything below next expected is durable: ACKed by the HelloAck */
				hello_ok = 1;
				for (int q = 1; q < fields[0] && q <= g_n; q++)
					if (!ack_of[q]++)
						acked++;
				next_send = (int)fields[0];
				CHECK(fields[0] >= 1 && fields[0] <= next_send + g_n,
				      "HelloAck: next expected %lld", (long long)fields[0]);
			} else if (k == 2 && fields[0] >= 1 && fields[0] <= g_n) {
				if (!ack_of[fields[0]]++)
					acked++;
			} else if (k == 3) {
				if (fields[1] == 2) /* BUSY: send it again */
					busy++;
				if (fields[1] == 8) /* UNAVAILABLE: the server closes; log in again */
					unavailable++;
				next_send = (int)(fields[1] == 1 ? fields[2] : fields[0]);
				if (next_send < 1)
					next_send = 1;
			} else {
				CHECK(0, "unexpected ingest message %d", k);
				goto out;
			}
		}
	}
	CHECK(acked == g_n, "master: %d of %d signals ACKed (%d BUSY)", acked, g_n, busy);
	/* 2 logins: the first and the one after the cut; one more for each login the server
	 * refused UNAVAILABLE (its edge did not confirm it within 1 s: a loaded machine),
	 * never one for an unexplained close */
	CHECK(logins == 2 + unavailable && proofs == logins,
	      "master: logged in again after the cut (%d logins, %d challenges answered, %d "
	      "refused UNAVAILABLE)", logins, proofs, unavailable);
	printf("master: acked=%d busy=%d logins=%d proofs=%d unavailable=%d\n", acked, busy,
	       logins, proofs, unavailable);
out:
	if (s != INVALID_SOCKET)
		closesocket(s);
	F.decp_handle_free(h);
	free(in);
	return 0;
}

int main(int argc, char **argv)
{
	WSADATA wsa;
	HANDLE rt, mt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 11) {
		fprintf(stderr, "usage: wine_e2e.exe DECP_DLL HOST INGEST_PORT FANOUT_PORT MASTER_ID "
			"LICENSE_TOKEN SECRET_HEX SEED_HEX SUBSCRIBER_TOKEN SIGNALS\n");
		return 2;
	}
	g_host = argv[2];
	g_ingest_port = atoi(argv[3]);
	g_fanout_port = atoi(argv[4]);
	g_master = atoll(argv[5]);
	g_n = atoi(argv[10]);
	if (mbstowcs(g_token, argv[6], 127) == (size_t)-1 ||
	    mbstowcs(g_sub_token, argv[9], 127) == (size_t)-1 || mt5_unhex(argv[7], g_secret, 32) ||
	    mt5_unhex(argv[8], g_seed, 32) || g_n < 1 || g_n > NMAX) {
		fprintf(stderr, "wine_e2e: bad arguments\n");
		return 2;
	}
	if (wine_load_dll(argv[1], &F) != 0 || WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
		printf("0 passed, 1 failed\n");
		return 1;
	}
	CHECK(F.decp_ed25519_public(g_seed, 32, g_pub, 32) == 32, "master public key");
	g_subscribed = CreateEventW(NULL, TRUE, FALSE, NULL);
	g_policy2 = CreateEventW(NULL, TRUE, FALSE, NULL);
	rt = CreateThread(NULL, 0, receiver, NULL, 0, NULL);
	WaitForSingleObject(g_subscribed, TIMEOUT_MS);
	mt = CreateThread(NULL, 0, master, NULL, 0, NULL);
	WaitForSingleObject(mt, INFINITE);
	WaitForSingleObject(rt, INFINITE);
	WSACleanup();
	printf("%d passed, %d failed\n", mt5_passed(), mt5_failed());
	return mt5_failed() == 0 ? 0 : 1;
}
