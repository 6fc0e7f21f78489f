/*
 * test_dp_tcp.c: TCP through the seam. Each test builds a fresh stack, crafts segments
 * from simulated peers, and asserts on what the stack hands the application and what it
 * transmits. Every test ends with no connection, no packet buffer and no timer in use.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dp_test_env.h"
#include "dp_wire.h"

static struct t_env *E;

static void start(void (*tweak)(struct dp_stack_config *))
{
	E = calloc(1, sizeof(*E));
	CU_ASSERT_FATAL(E != NULL);
	CU_ASSERT_FATAL(t_env_init(E, tweak) == 0);
}

/* Abort what the application still holds, then check every pool is empty. */
static void finish(void)
{
	for (int i = 0; i < T_APPS; i++) {
		struct t_app_conn *a = &E->apps[i];

		if (a->used && a->open) {
			a->open = false;
			a->used = false;
			dp_tcp_abort(E->st, a->c, E->now);
		}
	}
	t_cap_clear(E);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	CU_ASSERT_EQUAL(dp_stack_timers_armed(E->st), 0);
	CU_ASSERT_EQUAL(E->pool.in_use, 0);
	t_env_fini(E);
	free(E);
	E = NULL;
}

static void pattern(uint8_t *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)((i + seed) * 31 + (i >> 8));
}

static void app_send(struct t_peer *p, const void *d, size_t n)
{
	CU_ASSERT_EQUAL(dp_tcp_send(E->st, p->app->c, d, n, E->now), (int)n);
}

/* ---------------------------------------------------------------------------------- */

static void test_handshake_syncookie(void)
{
	struct t_peer p;
	uint8_t f[T_FRAME_MAX], o[20] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7, 1, 1, 8, 10, 0, 0, 0, 100, 0, 0, 0, 0 };
	struct t_seg s;

	start(NULL);
	t_peer_init(&p, E, 1);
	t_input(E, f, t_build_tcp(f, E, &p, DP_TCP_SYN, p.isn, 0, 65535, o, 20, NULL, 0));
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0); /* no state per SYN */
	CU_ASSERT_EQUAL(dp_stack_timers_armed(E->st), 0);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.flags, DP_TCP_SYN | DP_TCP_ACK);
	CU_ASSERT_EQUAL(s.ack, p.isn + 1);
	CU_ASSERT_EQUAL(s.mss, 1460);
	CU_ASSERT_EQUAL(s.ws, 2);
	CU_ASSERT(s.has_ts);
	CU_ASSERT_EQUAL(s.tsecr, 100);
	CU_ASSERT(s.ip_cksum_ok && s.l4_cksum_ok);
	CU_ASSERT(memcmp(s.dmac, p.mac, 6) == 0);
	CU_ASSERT_EQUAL(s.dst, p.ip);
	CU_ASSERT_EQUAL(s.dport, p.port);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_syn_rx"), 1);
	/* The final ACK creates the connection. */
	p.snd_nxt = p.isn + 1;
	p.rcv_nxt = s.seq + 1;
	p.tsecr = s.tsval;
	t_send_ack(E, &p);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 1);
	CU_ASSERT_EQUAL(E->accepts, 1);
	CU_ASSERT_EQUAL(E->apps[0].info.mss, 1448); /* 1460 - 12 bytes of timestamps */
	CU_ASSERT(E->apps[0].info.ts_ok);
	CU_ASSERT(E->apps[0].info.wscale_ok);
	CU_ASSERT_STRING_EQUAL(dp_tcp_conn_state_name(E->apps[0].c), "ESTABLISHED");
	CU_ASSERT_EQUAL(t_stat(E, "tcp_accepted"), 1);
	CU_ASSERT_EQUAL(t_cap_count(E), 0); /* a bare ACK needs no answer */
	finish();
}

static void test_handshake_no_options(void)
{
	struct t_peer p;

	start(NULL);
	t_peer_init(&p, E, 1);
	p.mss = 0;
	p.ws = -1;
	p.ts = false;
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	CU_ASSERT_EQUAL(p.app->info.mss, 536); /* RFC 9293 default */
	CU_ASSERT(!p.app->info.ts_ok);
	CU_ASSERT(!p.app->info.wscale_ok);
	finish();
}

static void test_bad_cookie_dropped(void)
{
	struct t_peer p, q;
	uint8_t f[T_FRAME_MAX];
	struct t_seg s;
	uint32_t cookie;

	start(NULL);
	t_peer_init(&p, E, 1);
	p.ts = false;
	t_input(E, f, t_build_tcp(f, E, &p, DP_TCP_SYN, p.isn, 0, 65535, NULL, 0, NULL, 0));
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	cookie = s.seq;
	/* wrong ACK number */
	t_input(E, f, t_build_tcp(f, E, &p, DP_TCP_ACK, p.isn + 1, cookie + 2, 65535, NULL, 0, NULL, 0));
	/* right ACK number, wrong sequence (another ISN) */
	t_input(E, f, t_build_tcp(f, E, &p, DP_TCP_ACK, p.isn + 7, cookie + 1, 65535, NULL, 0, NULL, 0));
	/* right numbers, another source port */
	q = p;
	q.port++;
	t_input(E, f, t_build_tcp(f, E, &q, DP_TCP_ACK, p.isn + 1, cookie + 1, 65535, NULL, 0, NULL, 0));
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_cookie_bad"), 3);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	/* Each is a connection we do not know: <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.2). */
	{
		static const uint32_t acks[3] = {2, 1, 1};
		for (int i = 0; i < 3; i++) {
			CU_ASSERT_FATAL(t_pop_tcp(E, &s));
			CU_ASSERT(s.flags == DP_TCP_RST && s.seq == cookie + acks[i]);
		}
		CU_ASSERT_EQUAL(t_cap_count(E), 0);
	}
	/* stale: two periods later the same cookie is refused */
	t_advance(E, 129 * T_SEC);
	t_input(E, f, t_build_tcp(f, E, &p, DP_TCP_ACK, p.isn + 1, cookie + 1, 65535, NULL, 0, NULL, 0));
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_cookie_bad"), 4);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	CU_ASSERT(t_pop_tcp(E, &s) && (s.flags & DP_TCP_RST));
	/* fresh cookie still valid in the next period */
	t_input(E, f, t_build_tcp(f, E, &p, DP_TCP_SYN, p.isn, 0, 65535, NULL, 0, NULL, 0));
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	t_advance(E, 64 * T_SEC);
	t_input(E, f, t_build_tcp(f, E, &p, DP_TCP_ACK, p.isn + 1, s.seq + 1, 65535, NULL, 0, NULL, 0));
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 1);
	finish();
}

static void test_data_delivery_and_echo(void)
{
	struct t_peer p;
	struct t_seg s;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	t_send_data(E, &p, "hello", 5);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.ack, p.snd_nxt);
	CU_ASSERT_EQUAL(s.len, 0);
	E->echo = "ok";
	t_send_data(E, &p, " world", 6);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.ack, p.snd_nxt);
	CU_ASSERT_EQUAL(s.seq, p.rcv_nxt);
	CU_ASSERT_EQUAL(s.len, 2);
	CU_ASSERT(memcmp(s.data, "ok", 2) == 0);
	CU_ASSERT(s.has_ts && s.l4_cksum_ok);
	CU_ASSERT_EQUAL(t_cap_count(E), 0); /* the data segment carried the ACK */
	CU_ASSERT_EQUAL(p.app->len, 11);
	CU_ASSERT(memcmp(p.app->data, "hello world", 11) == 0);
	finish();
}

static void test_out_of_order_reassembly(void)
{
	struct t_peer p;
	struct t_seg s;
	const char *msg = "0123456789ABCDEFGHIJ";
	uint32_t base;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	base = p.snd_nxt;
	t_send(E, &p, DP_TCP_ACK, base + 15, p.rcv_nxt, msg + 15, 5);
	t_send(E, &p, DP_TCP_ACK, base + 10, p.rcv_nxt, msg + 10, 5);
	t_send(E, &p, DP_TCP_ACK, base + 5, p.rcv_nxt, msg + 5, 5);
	CU_ASSERT_EQUAL(p.app->len, 0);
	for (int i = 0; i < 3; i++) { /* one duplicate ACK per out-of-order segment */
		CU_ASSERT_FATAL(t_pop_tcp(E, &s));
		CU_ASSERT_EQUAL(s.ack, base);
	}
	CU_ASSERT_EQUAL(t_stat(E, "tcp_ooo_queued"), 3);
	t_send(E, &p, DP_TCP_ACK, base, p.rcv_nxt, msg, 5);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.ack, base + 20);
	CU_ASSERT_EQUAL(p.app->len, 20);
	CU_ASSERT(memcmp(p.app->data, msg, 20) == 0);
	finish();
}

/* Conflicting overlaps: the first copy of a byte wins (dp_tcp_reass.c). */
static void test_overlap_first_wins(void)
{
	struct t_peer p;
	uint8_t a[10], b[20], c[10], d[30];
	uint32_t base;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	base = p.snd_nxt;
	memset(a, 'A', sizeof(a));
	memset(b, 'B', sizeof(b));
	memset(c, 'C', sizeof(c));
	memset(d, 'D', sizeof(d));
	t_send(E, &p, DP_TCP_ACK, base + 10, p.rcv_nxt, a, 10); /* [10,20) A */
	t_send(E, &p, DP_TCP_ACK, base + 5, p.rcv_nxt, b, 20);  /* [5,25) B fills 5..9, 20..24 */
	t_send(E, &p, DP_TCP_ACK, base + 12, p.rcv_nxt, d, 3);  /* inside held data: no change */
	t_send(E, &p, DP_TCP_ACK, base, p.rcv_nxt, c, 10);      /* [0,10) C: 0..4 only */
	CU_ASSERT_EQUAL(p.app->len, 25);
	CU_ASSERT(memcmp(p.app->data, "CCCCCBBBBBAAAAAAAAAABBBBB", 25) == 0);
	/* an overlapping retransmission of delivered bytes changes nothing either */
	t_send(E, &p, DP_TCP_ACK, base + 20, p.rcv_nxt, d, 10);  /* [20,30): 25..29 new */
	CU_ASSERT_EQUAL(p.app->len, 30);
	CU_ASSERT(memcmp(p.app->data + 20, "BBBBBDDDDD", 10) == 0);
	CU_ASSERT(t_stat(E, "tcp_trimmed") >= 1);
	finish();
}

static void test_one_byte_segments(void)
{
	struct t_peer p;
	uint8_t msg[40];
	uint32_t base;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	pattern(msg, sizeof(msg), 5);
	base = p.snd_nxt;
	/* odd bytes first: 20 isolated ranges, 8 fit (ooo_ranges default), 12 dropped */
	for (uint32_t i = 1; i < 40; i += 2)
		t_send(E, &p, DP_TCP_ACK, base + i, p.rcv_nxt, msg + i, 1);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_ooo_queued"), 8);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_ooo_full"), 12);
	CU_ASSERT_EQUAL(p.app->len, 0);
	/* then everything in order, one byte per segment, as a go-back-N sender would */
	for (uint32_t i = 0; i < 40; i++)
		t_send(E, &p, DP_TCP_ACK, base + i, p.rcv_nxt, msg + i, 1);
	CU_ASSERT_EQUAL(p.app->len, 40);
	CU_ASSERT(memcmp(p.app->data, msg, 40) == 0);
	CU_ASSERT(t_stat(E, "drop_tcp_dup_data") >= 8); /* bytes already taken from the queue */
	finish();
}

static void test_wraparound_receive(void)
{
	struct t_peer p;
	static uint8_t msg[3000];
	struct t_seg s;
	uint32_t base;

	start(NULL);
	t_peer_init(&p, E, 1);
	p.isn = 0xfffffbffu; /* first data byte at 0xfffffc00: the transfer crosses 2^32 */
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	base = p.snd_nxt;
	CU_ASSERT_EQUAL(base, 0xfffffc00u);
	pattern(msg, sizeof(msg), 9);
	t_send(E, &p, DP_TCP_ACK, base + 2000, p.rcv_nxt, msg + 2000, 1000);
	t_send(E, &p, DP_TCP_ACK, base + 1000, p.rcv_nxt, msg + 1000, 1000); /* spans the wrap */
	t_send(E, &p, DP_TCP_ACK, base + 1500, p.rcv_nxt, msg + 1500, 700);  /* overlap, held */
	CU_ASSERT_EQUAL(p.app->len, 0);
	t_cap_clear(E);
	t_send(E, &p, DP_TCP_ACK, base, p.rcv_nxt, msg, 1000);
	CU_ASSERT_EQUAL(p.app->len, 3000);
	CU_ASSERT(memcmp(p.app->data, msg, 3000) == 0);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.ack, base + 3000);
	CU_ASSERT_EQUAL(s.ack, 3000u - 0x400u);
	/* an old segment from before the wrap is a duplicate, not future data */
	t_send(E, &p, DP_TCP_ACK, base, p.rcv_nxt, msg, 100);
	CU_ASSERT_EQUAL(p.app->len, 3000);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_dup_data"), 1);
	finish();
}

/* Find a SYN whose cookie ISS lies just below 2^32, then send 64 KiB across the wrap. */
static void test_wraparound_send(void)
{
	struct t_peer p;
	static uint8_t msg[65536];
	uint8_t f[T_FRAME_MAX], o[16] = { 2, 4, 0x05, 0xb4, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0 };
	struct t_seg s;
	size_t got = 0, sent = 0;
	uint32_t iss = 0;
	int tries;

	start(NULL);
	/* counter & 3 == 3, MSS index 3, no window scale, timestamps: the top 9 bits are all
	 * ones -> ISS >= 0xff800000; search the MAC bits for a wrap within 16 KiB. */
	E->now = (4 * 1000 + 3) * 64 * T_SEC + T_SEC;
	dp_stack_timers_run(E->st, E->now);
	t_peer_init(&p, E, 1);
	p.ws = -1;
	p.ts = true;
	for (tries = 0; tries < 200000; tries++) {
		p.isn = 0x9000u + (uint32_t)tries * 7919u;
		t_input(E, f, t_build_tcp(f, E, &p, DP_TCP_SYN, p.isn, 0, 65535, o, 16, NULL, 0));
		CU_ASSERT_FATAL(t_pop_tcp(E, &s));
		if (s.seq >= 0xffffc000u) {
			iss = s.seq;
			break;
		}
	}
	CU_ASSERT_FATAL(iss != 0);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	CU_ASSERT_EQUAL(p.rcv_nxt, iss + 1);
	pattern(msg, sizeof(msg), 3);
	while (got < sizeof(msg)) {
		if (sent < sizeof(msg)) {
			int n = dp_tcp_send(E->st, p.app->c, msg + sent, sizeof(msg) - sent, E->now);

			CU_ASSERT_FATAL(n >= 0);
			sent += (size_t)n;
		}
		while (t_pop_tcp(E, &s)) {
			CU_ASSERT_FATAL(s.seq == p.rcv_nxt || s.len == 0);
			CU_ASSERT_FATAL(got + s.len <= sizeof(msg));
			CU_ASSERT_FATAL(memcmp(s.data, msg + got, s.len) == 0);
			got += s.len;
			p.rcv_nxt += (uint32_t)s.len;
		}
		t_send_ack(E, &p);
	}
	CU_ASSERT_EQUAL(got, sizeof(msg));
	CU_ASSERT(p.rcv_nxt < iss); /* wrapped */
	CU_ASSERT_EQUAL(t_stat(E, "tcp_retrans_segs"), 0);
	finish();
}

static void test_rto_backoff(void)
{
	struct t_peer p;
	struct t_seg s;
	uint32_t seq;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	app_send(&p, "abc", 3);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.len, 3);
	seq = s.seq;
	/* RFC 6298: initial RTO 1 s, then doubled on every expiry. */
	{
		uint64_t waits[3] = { 1 * T_SEC, 2 * T_SEC, 4 * T_SEC };

		for (int i = 0; i < 3; i++) {
			t_advance(E, waits[i] - T_MS);
			CU_ASSERT_EQUAL(t_cap_count(E), 0);
			t_advance(E, T_MS);
			CU_ASSERT_FATAL(t_pop_tcp(E, &s));
			CU_ASSERT_EQUAL(s.seq, seq);
			CU_ASSERT_EQUAL(s.len, 3);
			CU_ASSERT(memcmp(s.data, "abc", 3) == 0);
		}
	}
	CU_ASSERT_EQUAL(t_stat(E, "tcp_rto"), 3);
	p.rcv_nxt += 3;
	t_send_ack(E, &p);
	t_advance(E, 20 * T_SEC);
	CU_ASSERT_EQUAL(t_cap_count(E), 0); /* acknowledged: timer off */
	/* A clean 10 ms sample (Karn: not the retransmitted one) brings the RTO to rto_min. */
	app_send(&p, "def", 3);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	t_advance(E, 10 * T_MS);
	p.rcv_nxt += 3;
	t_send_ack(E, &p);
	app_send(&p, "ghi", 3);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	t_advance(E, 199 * T_MS);
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	t_advance(E, 1 * T_MS);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT(memcmp(s.data, "ghi", 3) == 0);
	p.rcv_nxt += 3;
	t_send_ack(E, &p);
	finish();
}

static void few_retries(struct dp_stack_config *c) { c->max_retries = 3; }

static void test_retrans_limit(void)
{
	struct t_peer p;
	struct t_seg s;
	struct t_app_conn *a;

	start(few_retries);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	a = p.app;
	app_send(&p, "abc", 3);
	for (int i = 0; i < 4; i++)
		t_advance(E, 60 * T_SEC);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_rto"), 3);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_retrans_limit"), 1);
	CU_ASSERT_EQUAL(a->closes, 1);
	CU_ASSERT_EQUAL(a->reason, DP_CLOSE_RETRANS_LIMIT);
	while (t_pop_tcp(E, &s))
		if (s.flags & DP_TCP_RST)
			break;
	CU_ASSERT(s.flags & DP_TCP_RST);
	finish();
}

static void test_fast_retransmit(void)
{
	struct t_peer p;
	struct t_seg s;
	static uint8_t msg[2000];
	uint32_t base;

	start(NULL);
	t_peer_init(&p, E, 1);
	p.mss = 536;
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	CU_ASSERT_EQUAL(p.app->info.mss, 524);
	pattern(msg, sizeof(msg), 1);
	base = p.rcv_nxt;
	app_send(&p, msg, sizeof(msg));
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_FATAL(t_pop_tcp(E, &s));
		CU_ASSERT_EQUAL(s.seq, base + 524u * (uint32_t)i);
	}
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	/* first segment arrived, second lost: the peer repeats ACK base+524 */
	p.rcv_nxt = base + 524;
	t_send_ack(E, &p);
	t_send_ack(E, &p);
	t_send_ack(E, &p);
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	t_send_ack(E, &p); /* third duplicate */
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.seq, base + 524);
	CU_ASSERT_EQUAL(s.len, 524);
	CU_ASSERT(memcmp(s.data, msg + 524, 524) == 0);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_fast_retrans"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_rto"), 0);
	p.rcv_nxt = base + 2000;
	t_send_ack(E, &p);
	t_advance(E, 5 * T_SEC);
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	finish();
}

/* The application closes inside on_data while queued bytes are ready behind the ones it
 * got: they can no longer be delivered, so the connection is reset, not left half-fed. */
static void test_close_with_bytes_pending(void)
{
	struct t_peer p;
	struct t_seg s;
	uint32_t r;
	int rst = 0;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	r = p.snd_nxt;
	t_send(E, &p, DP_TCP_ACK, r + 5, p.rcv_nxt, "world", 5);
	E->close_on_data = true;
	t_send(E, &p, DP_TCP_ACK, r, p.rcv_nxt, "hello", 5);
	CU_ASSERT_EQUAL(p.app->len, 5);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_after_close"), 1);
	while (t_pop_tcp(E, &s))
		rst += (s.flags & DP_TCP_RST) != 0;
	CU_ASSERT_EQUAL(rst, 1);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	finish();
}

static void test_persist_unanswered(void)
{
	struct t_peer p;
	struct t_app_conn *a;

	start(few_retries);
	t_peer_init(&p, E, 1);
	p.wnd = 0;
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	a = p.app;
	app_send(&p, "x", 1);
	for (int i = 0; i < 10; i++)
		t_advance(E, 60 * T_SEC);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_persist_probe"), 3);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_retrans_limit"), 1);
	CU_ASSERT_EQUAL(a->reason, DP_CLOSE_RETRANS_LIMIT);
	finish();
}

static void small_rcvbuf(struct dp_stack_config *c) { c->rcv_buf = 2048; }

static void test_window_trim_fin_at_right_edge(void)
{
	struct t_peer p;
	struct t_seg s;
	static uint8_t msg[2200];
	uint32_t r;

	start(small_rcvbuf);
	t_peer_init(&p, E, 1);
	p.ws = -1; /* window 2048 exactly, unscaled */
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	pattern(msg, sizeof(msg), 4);
	t_send_data(E, &p, msg, 100);
	r = p.snd_nxt;
	t_cap_clear(E);
	/* data ending exactly at the right edge, FIN one past it: FIN outside the window */
	t_send(E, &p, DP_TCP_ACK | DP_TCP_FIN, r + 1000, p.rcv_nxt, msg + 1100, 1048);
	/* data crossing the right edge with FIN: trimmed to the window, FIN dropped */
	t_send(E, &p, DP_TCP_ACK | DP_TCP_FIN, r + 1500, p.rcv_nxt, msg + 1600, 600);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_trimmed"), 1);
	t_send(E, &p, DP_TCP_ACK, r, p.rcv_nxt, msg + 100, 1000);
	CU_ASSERT_EQUAL(p.app->len, 2148);
	CU_ASSERT(memcmp(p.app->data, msg, 2148) == 0);
	CU_ASSERT_EQUAL(p.app->fins, 0);
	CU_ASSERT_STRING_EQUAL(dp_tcp_conn_state_name(p.app->c), "ESTABLISHED");
	while (t_pop_tcp(E, &s))
		;
	CU_ASSERT_EQUAL(s.ack, r + 2048);
	CU_ASSERT_EQUAL(s.wnd, 2048);
	/* the peer resends the tail with its FIN: accepted now */
	t_send(E, &p, DP_TCP_ACK | DP_TCP_FIN, r + 2048, p.rcv_nxt, msg + 2148, 52);
	CU_ASSERT_EQUAL(p.app->len, 2200);
	CU_ASSERT(memcmp(p.app->data, msg, 2200) == 0);
	CU_ASSERT_EQUAL(p.app->fins, 1);
	CU_ASSERT_STRING_EQUAL(dp_tcp_conn_state_name(p.app->c), "CLOSE_WAIT");
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.ack, r + 2101);
	finish();
}

/* A FIN that arrives before the data in front of it is held and honoured in order; a
 * contradicting second FIN and bytes beyond the first FIN are ignored. */
static void test_fin_out_of_order(void)
{
	struct t_peer p;
	struct t_seg s;
	uint32_t r;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	r = p.snd_nxt;
	t_send(E, &p, DP_TCP_ACK | DP_TCP_FIN, r + 5, p.rcv_nxt, "world", 5); /* FIN at r+10 */
	t_send(E, &p, DP_TCP_ACK | DP_TCP_FIN, r + 12, p.rcv_nxt, "zz", 2);   /* beyond it */
	CU_ASSERT_EQUAL(p.app->fins, 0);
	t_send(E, &p, DP_TCP_ACK, r, p.rcv_nxt, "hello", 5);
	CU_ASSERT_EQUAL(p.app->len, 10);
	CU_ASSERT(memcmp(p.app->data, "helloworld", 10) == 0);
	CU_ASSERT_EQUAL(p.app->fins, 1);
	CU_ASSERT_STRING_EQUAL(dp_tcp_conn_state_name(p.app->c), "CLOSE_WAIT");
	while (t_pop_tcp(E, &s))
		;
	CU_ASSERT_EQUAL(s.ack, r + 11);
	/* bytes after the FIN (a confused or hostile peer) are counted and ignored */
	t_send(E, &p, DP_TCP_ACK, r + 11, p.rcv_nxt, "late", 4);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_after_fin"), 1);
	CU_ASSERT_EQUAL(p.app->len, 10);
	finish();
}

static void test_zero_window_persist(void)
{
	struct t_peer p;
	struct t_seg s;
	uint64_t waits[3] = { 1 * T_SEC, 2 * T_SEC, 4 * T_SEC };

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	p.wnd = 0;
	t_send_ack(E, &p); /* window update to zero (same seq/ack: wl rules accept it) */
	app_send(&p, "0123456789", 10);
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	for (int i = 0; i < 3; i++) {
		t_advance(E, waits[i] - T_MS);
		CU_ASSERT_EQUAL(t_cap_count(E), 0);
		t_advance(E, T_MS);
		CU_ASSERT_FATAL(t_pop_tcp(E, &s));
		CU_ASSERT_EQUAL(s.len, 0);
		CU_ASSERT_EQUAL(s.seq, p.rcv_nxt - 1); /* old sequence number: forces an ACK */
		t_send_ack(E, &p);                     /* still zero */
	}
	CU_ASSERT_EQUAL(t_stat(E, "tcp_persist_probe"), 3);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_retrans_limit"), 0);
	p.wnd = 65535;
	t_send_ack(E, &p);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.len, 10);
	CU_ASSERT_EQUAL(s.seq, p.rcv_nxt);
	p.rcv_nxt += 10;
	t_send_ack(E, &p);
	t_advance(E, 30 * T_SEC);
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	finish();
}

/* RFC 5961: the four cases and the per-connection limit. */
static void test_rfc5961(void)
{
	struct t_peer p;
	struct t_seg s;
	struct t_app_conn *a;
	uint32_t r;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	a = p.app;
	t_send_data(E, &p, "0123456789", 10);
	t_cap_clear(E);
	r = p.snd_nxt;
	/* RST in window, not exact -> challenge ACK */
	t_send(E, &p, DP_TCP_RST, r + 100, 0, NULL, 0);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.flags, DP_TCP_ACK);
	CU_ASSERT_EQUAL(s.ack, r);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_rst_challenged"), 1);
	/* RST outside the window -> dropped silently */
	t_send(E, &p, DP_TCP_RST, r + 0x40000000u, 0, NULL, 0);
	t_send(E, &p, DP_TCP_RST, r - 5, 0, NULL, 0);
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_rst_out_window"), 2);
	/* SYN on an established connection -> challenge ACK, whatever its sequence number */
	t_send(E, &p, DP_TCP_SYN, p.isn + 12345, 0, NULL, 0);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.flags, DP_TCP_ACK);
	CU_ASSERT_EQUAL(s.ack, r);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_syn_challenged"), 1);
	CU_ASSERT_EQUAL(a->closes, 0);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 1);
	/* rate limit: 10 per second per connection (default), then suppressed */
	for (int i = 0; i < 15; i++)
		t_send(E, &p, DP_TCP_RST, r + 1 + (uint32_t)i, 0, NULL, 0);
	{
		int acks = 0;

		while (t_pop_tcp(E, &s))
			acks++;
		CU_ASSERT_EQUAL(acks, 8); /* 2 of this second's 10 were used above */
	}
	CU_ASSERT_EQUAL(t_stat(E, "tcp_challenge_ack_limited"), 7);
	t_cap_clear(E);
	t_advance(E, T_SEC);
	t_send(E, &p, DP_TCP_RST, r + 1, 0, NULL, 0);
	CU_ASSERT(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.ack, r);
	t_cap_clear(E);
	/* exact RST -> reset */
	t_send(E, &p, DP_TCP_RST, r, 0, NULL, 0);
	CU_ASSERT_EQUAL(a->closes, 1);
	CU_ASSERT_EQUAL(a->reason, DP_CLOSE_PEER_RESET);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	finish();
}

static void test_passive_close(void)
{
	struct t_peer p;
	struct t_seg s;
	uint32_t fin_seq;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	t_send(E, &p, DP_TCP_ACK | DP_TCP_FIN, p.snd_nxt, p.rcv_nxt, NULL, 0);
	p.snd_nxt++;
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.ack, p.snd_nxt);
	CU_ASSERT_EQUAL(p.app->fins, 1);
	CU_ASSERT_STRING_EQUAL(dp_tcp_conn_state_name(p.app->c), "CLOSE_WAIT");
	/* half-close: we still send, then close */
	app_send(&p, "bye", 3);
	CU_ASSERT_EQUAL(dp_tcp_close(E->st, p.app->c, E->now), 0);
	p.app->open = false;
	p.app->used = false;
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.len, 3);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT(s.flags & DP_TCP_FIN);
	fin_seq = s.seq;
	CU_ASSERT_EQUAL(fin_seq, p.rcv_nxt + 3);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 1); /* LAST_ACK */
	/* unacknowledged FIN is retransmitted */
	t_advance(E, T_SEC);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT(s.flags & DP_TCP_FIN);
	p.rcv_nxt = fin_seq + 1;
	t_send_ack(E, &p);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	finish();
}

static void test_passive_close_auto(void)
{
	struct t_peer p;
	struct t_seg s;
	struct t_app_conn *a;

	start(NULL);
	t_env_set_nofin(E);
	CU_ASSERT_FATAL(E->st != NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	a = p.app;
	t_send(E, &p, DP_TCP_ACK | DP_TCP_FIN, p.snd_nxt, p.rcv_nxt, "x", 1);
	p.snd_nxt += 2;
	CU_ASSERT_EQUAL(a->len, 1);
	CU_ASSERT_EQUAL(a->closes, 1);
	CU_ASSERT_EQUAL(a->reason, DP_CLOSE_PEER_FIN);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.flags, DP_TCP_ACK | DP_TCP_FIN); /* ACK of their FIN with ours */
	CU_ASSERT_EQUAL(s.ack, p.snd_nxt);
	p.rcv_nxt = s.seq + 1;
	t_send_ack(E, &p);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	finish();
}

/* Our close first: FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> closed. */
static void test_active_close(void)
{
	struct t_peer p;
	struct t_seg s;
	struct dp_tcp_conn *c;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	c = p.app->c;
	p.app->open = false;
	p.app->used = false;
	CU_ASSERT_EQUAL(dp_tcp_close(E->st, c, E->now), 0);
	CU_ASSERT_EQUAL(dp_tcp_close(E->st, c, E->now), -EINVAL); /* handle is gone */
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT(s.flags & DP_TCP_FIN);
	CU_ASSERT_STRING_EQUAL(dp_tcp_conn_state_name(c), "FIN_WAIT_1");
	p.rcv_nxt = s.seq + 1;
	t_send_ack(E, &p);
	CU_ASSERT_STRING_EQUAL(dp_tcp_conn_state_name(c), "FIN_WAIT_2");
	t_send(E, &p, DP_TCP_ACK | DP_TCP_FIN, p.snd_nxt, p.rcv_nxt, NULL, 0);
	p.snd_nxt++;
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.ack, p.snd_nxt);
	CU_ASSERT_STRING_EQUAL(dp_tcp_conn_state_name(c), "TIME_WAIT");
	/* a retransmitted FIN is ACKed again */
	t_advance(E, 500 * T_MS);
	t_send(E, &p, DP_TCP_ACK | DP_TCP_FIN, p.snd_nxt - 1, p.rcv_nxt, NULL, 0);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.ack, p.snd_nxt);
	/* RST in TIME_WAIT is ignored (RFC 1337) */
	t_send(E, &p, DP_TCP_RST, p.snd_nxt, 0, NULL, 0);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 1);
	t_advance(E, 999 * T_MS); /* timer restarted by the FIN */
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 1);
	t_advance(E, 2 * T_MS);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_time_wait_done"), 1);
	finish();
}

static void test_simultaneous_close(void)
{
	struct t_peer p;
	struct t_seg s;
	struct dp_tcp_conn *c;
	uint32_t our_fin;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	c = p.app->c;
	p.app->open = false;
	p.app->used = false;
	dp_tcp_close(E->st, c, E->now);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	our_fin = s.seq;
	/* their FIN crosses ours: it does not acknowledge our FIN */
	t_send(E, &p, DP_TCP_ACK | DP_TCP_FIN, p.snd_nxt, our_fin, NULL, 0);
	p.snd_nxt++;
	CU_ASSERT_STRING_EQUAL(dp_tcp_conn_state_name(c), "CLOSING");
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.ack, p.snd_nxt);
	p.rcv_nxt = our_fin + 1;
	t_send_ack(E, &p);
	CU_ASSERT_STRING_EQUAL(dp_tcp_conn_state_name(c), "TIME_WAIT");
	t_advance(E, 2 * T_SEC);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	finish();
}

static void test_fin_wait1_fin_ack_together(void)
{
	struct t_peer p;
	struct t_seg s;
	struct dp_tcp_conn *c;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	c = p.app->c;
	p.app->open = false;
	p.app->used = false;
	dp_tcp_close(E->st, c, E->now);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	p.rcv_nxt = s.seq + 1;
	t_send(E, &p, DP_TCP_ACK | DP_TCP_FIN, p.snd_nxt, p.rcv_nxt, NULL, 0);
	CU_ASSERT_STRING_EQUAL(dp_tcp_conn_state_name(c), "TIME_WAIT");
	t_advance(E, 2 * T_SEC);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	finish();
}

static void test_fin_wait2_timeout(void)
{
	struct t_peer p;
	struct t_seg s;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	p.app->open = false;
	p.app->used = false;
	dp_tcp_close(E->st, p.app->c, E->now);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	p.rcv_nxt = s.seq + 1;
	t_send_ack(E, &p);
	t_advance(E, 9 * T_SEC);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 1);
	t_advance(E, 2 * T_SEC);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_fin_wait2_timeout"), 1);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT(s.flags & DP_TCP_RST);
	finish();
}

static void test_rst_in_close_wait(void)
{
	struct t_peer p;
	struct t_app_conn *a;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	a = p.app;
	t_send(E, &p, DP_TCP_ACK | DP_TCP_FIN, p.snd_nxt, p.rcv_nxt, NULL, 0);
	p.snd_nxt++;
	CU_ASSERT_EQUAL(a->fins, 1);
	t_send(E, &p, DP_TCP_RST, p.snd_nxt, 0, NULL, 0);
	CU_ASSERT_EQUAL(a->closes, 1);
	CU_ASSERT_EQUAL(a->reason, DP_CLOSE_PEER_RESET);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	finish();
}

static void test_abort_and_data_after_close(void)
{
	struct t_peer p, q;
	struct t_seg s;

	start(NULL);
	t_peer_init(&p, E, 1);
	t_peer_init(&q, E, 2);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	CU_ASSERT_FATAL(t_handshake(E, &q) == 0);
	/* abort: RST now */
	p.app->open = false;
	p.app->used = false;
	CU_ASSERT_EQUAL(dp_tcp_abort(E->st, p.app->c, E->now), 0);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT(s.flags & DP_TCP_RST);
	CU_ASSERT_EQUAL(s.seq, p.rcv_nxt);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 1);
	/* data after our close cannot be delivered: reset */
	q.app->open = false;
	q.app->used = false;
	dp_tcp_close(E->st, q.app->c, E->now);
	t_cap_clear(E);
	t_send_data(E, &q, "late", 4);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_after_close"), 1);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT(s.flags & DP_TCP_RST);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	finish();
}

static void test_close_from_callback(void)
{
	struct t_peer p;
	struct t_seg s;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	E->echo = "bye";
	E->close_on_data = true;
	t_send_data(E, &p, "quit", 4);
	CU_ASSERT_EQUAL(p.app->len, 4);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.len, 3);
	CU_ASSERT(s.flags & DP_TCP_FIN); /* FIN rides on the last data */
	CU_ASSERT_EQUAL(s.ack, p.snd_nxt);
	p.rcv_nxt = s.seq + 4;
	t_send(E, &p, DP_TCP_ACK | DP_TCP_FIN, p.snd_nxt, p.rcv_nxt, NULL, 0);
	t_advance(E, 2 * T_SEC);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	/* abort from inside on_data */
	E->close_on_data = false;
	E->echo = NULL;
	E->abort_on_data = true;
	t_peer_init(&p, E, 2);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	t_cap_clear(E);
	t_send_data(E, &p, "x", 1);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT(s.flags & DP_TCP_RST);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	finish();
}

static void short_idle(struct dp_stack_config *c) { c->idle_timeout_ns = 5 * T_SEC; }

static void test_idle_timeout(void)
{
	struct t_peer p;
	struct t_app_conn *a;

	start(short_idle);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	a = p.app;
	t_advance(E, 4 * T_SEC);
	t_send_data(E, &p, "ping", 4);
	t_advance(E, 4 * T_SEC);
	CU_ASSERT_EQUAL(a->closes, 0);
	t_advance(E, 1 * T_SEC + T_MS);
	CU_ASSERT_EQUAL(a->closes, 1);
	CU_ASSERT_EQUAL(a->reason, DP_CLOSE_IDLE);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_idle_timeout"), 1);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	finish();
}

static void limits(struct dp_stack_config *c)
{
	c->max_conns = 3;
	c->max_conns_per_src = 2;
}

static void test_per_source_and_table_limits(void)
{
	struct t_peer p[5];
	struct t_seg s;

	start(limits);
	for (int i = 0; i < 5; i++)
		t_peer_init(&p[i], E, i);
	p[1].ip = p[0].ip;
	p[2].ip = p[0].ip;
	CU_ASSERT_FATAL(t_handshake(E, &p[0]) == 0);
	CU_ASSERT_FATAL(t_handshake(E, &p[1]) == 0);
	CU_ASSERT(t_handshake(E, &p[2]) != 0);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_src_limit"), 1);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT(s.flags & DP_TCP_RST);
	CU_ASSERT_FATAL(t_handshake(E, &p[3]) == 0); /* another source is fine */
	CU_ASSERT(t_handshake(E, &p[4]) != 0);       /* table full */
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_table_full"), 1);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 3);
	/* a freed slot is usable again by the limited source */
	p[0].app->open = false;
	p[0].app->used = false;
	dp_tcp_abort(E->st, p[0].app->c, E->now);
	p[2].port += 100;
	CU_ASSERT(t_handshake(E, &p[2]) == 0);
	finish();
}

static void test_out_of_window_and_bad_acks(void)
{
	struct t_peer p;
	struct t_seg s;
	uint32_t r;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	t_send_data(E, &p, "abcdef", 6);
	t_cap_clear(E);
	r = p.snd_nxt;
	t_send(E, &p, DP_TCP_ACK, r + 70000, p.rcv_nxt, "zz", 2); /* window is 65536 */
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_out_of_window"), 1);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.ack, r);
	t_send(E, &p, DP_TCP_ACK, r - 1000, p.rcv_nxt, "yy", 2); /* wholly old */
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_dup_data"), 1);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT_EQUAL(s.ack, r);
	t_send(E, &p, DP_TCP_ACK, r, p.rcv_nxt + 1000, "xx", 2); /* ACKs data never sent */
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_ack_future"), 1);
	t_send(E, &p, DP_TCP_ACK, r, p.rcv_nxt - 9000000u, NULL, 0); /* < SND.UNA - MAX.SND.WND */
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_ack_old"), 1);
	t_send(E, &p, 0x08 /* PSH only */, r, 0, "ww", 2);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_no_ack"), 1);
	CU_ASSERT_EQUAL(p.app->len, 6);
	/* PAWS: an older timestamp marks an old duplicate */
	p.tsval = 50;
	t_send(E, &p, DP_TCP_ACK, r, p.rcv_nxt, "vv", 2);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_paws"), 1);
	CU_ASSERT_EQUAL(p.app->len, 6);
	p.tsval = 500;
	t_send_data(E, &p, "gh", 2);
	CU_ASSERT_EQUAL(p.app->len, 8);
	finish();
}

static void test_app_refuses(void)
{
	struct t_peer p;
	struct t_seg s;

	start(NULL);
	E->refuse_accept = true;
	t_peer_init(&p, E, 1);
	CU_ASSERT(t_handshake(E, &p) != 0);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_app_refused"), 1);
	CU_ASSERT_FATAL(t_pop_tcp(E, &s));
	CU_ASSERT(s.flags & DP_TCP_RST);
	CU_ASSERT_EQUAL(s.seq, p.rcv_nxt);
	finish();
}

static void test_stray_segments(void)
{
	struct t_peer p;
	uint8_t f[T_FRAME_MAX];

	start(NULL);
	t_peer_init(&p, E, 1);
	t_send(E, &p, DP_TCP_RST, 1, 0, NULL, 0);
	t_send(E, &p, DP_TCP_FIN, 1, 0, NULL, 0);
	t_send(E, &p, DP_TCP_SYN | DP_TCP_ACK, 1, 1, NULL, 0);
	t_send(E, &p, DP_TCP_SYN | DP_TCP_FIN, 1, 0, NULL, 0);
	t_send(E, &p, 0, 1, 0, NULL, 0);
	p.dport = 7001;
	t_send(E, &p, DP_TCP_SYN, 1, 0, NULL, 0);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_no_conn"), 2);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_syn_bad"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_flags"), 2);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_port_closed"), 1);
	/* RFC 9293 §3.10.7.1-2: the FIN, the SYN-ACK and the closed port's SYN get a RST (not the
	 * RST, not the impossible flags); without ACK it acknowledges SEG.SEQ + SEG.LEN. */
	CU_ASSERT_EQUAL(t_stat(E, "tcp_rst_no_conn_tx"), 3);
	{
		struct t_seg r;
		int n = 0;
		while (t_pop_tcp(E, &r)) {
			CU_ASSERT(r.flags & DP_TCP_RST);
			if (r.sport == 7001)
				CU_ASSERT(r.flags == (DP_TCP_RST | DP_TCP_ACK) && r.seq == 0 && r.ack == 2);
			n++;
		}
		CU_ASSERT_EQUAL(n, 3);
	}
	/* Boundary: a flood of strays gets rst_per_sec (200) RSTs per second, no more. */
	p.dport = 7001;
	for (int i = 0; i < 500; i++)
		t_send(E, &p, DP_TCP_FIN, 1, 0, NULL, 0);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_rst_no_conn_tx"), 200);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_rst_limited"), 303);
	t_cap_clear(E);
	t_advance(E, T_SEC);
	t_send(E, &p, DP_TCP_FIN, 1, 0, NULL, 0);
	CU_ASSERT_EQUAL(t_stat(E, "tcp_rst_no_conn_tx"), 201);
	t_cap_clear(E);
	/* bad TCP checksum */
	p.dport = 7000;
	{
		size_t n = t_build_tcp(f, E, &p, DP_TCP_SYN, 1, 0, 100, NULL, 0, NULL, 0);

		f[n - 1] ^= 0x55;
		t_input(E, f, n);
	}
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_cksum"), 1);
	/* data offset below 5 words, and beyond the segment */
	{
		size_t n = t_build_tcp(f, E, &p, DP_TCP_SYN, 1, 0, 100, NULL, 0, NULL, 0);

		f[14 + 20 + 12] = 0x40;
		t_input(E, f, n);
		f[14 + 20 + 12] = 0x60;
		t_input(E, f, n);
		t_input(E, f, t_build_ipv4(f, p.mac, E->cfg.mac, p.ip, E->cfg.ip, DP_IPPROTO_TCP, 0, 5,
					   "short", 5));
	}
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_runt"), 3);
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	finish();
}

static void test_tx_pool_empty_and_refused(void)
{
	struct t_peer p;
	uint8_t f[T_FRAME_MAX];

	start(NULL);
	t_peer_init(&p, E, 1);
	E->pool.fail_alloc = 1;
	t_input(E, f, t_build_tcp(f, E, &p, DP_TCP_SYN, 1, 0, 100, NULL, 0, NULL, 0));
	CU_ASSERT_EQUAL(t_stat(E, "tx_pool_empty"), 1);
	E->tx_refuse = 1;
	t_input(E, f, t_build_tcp(f, E, &p, DP_TCP_SYN, 1, 0, 100, NULL, 0, NULL, 0));
	CU_ASSERT_EQUAL(t_stat(E, "tx_dropped"), 1);
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	CU_ASSERT_EQUAL(E->pool.in_use, 0);
	finish();
}

static void test_many_connections_stream(void)
{
	struct t_peer p[8];
	uint8_t msg[300];

	start(NULL);
	pattern(msg, sizeof(msg), 2);
	for (int i = 0; i < 8; i++) {
		t_peer_init(&p[i], E, i);
		CU_ASSERT_FATAL(t_handshake(E, &p[i]) == 0);
	}
	for (int round = 0; round < 10; round++)
		for (int i = 0; i < 8; i++)
			t_send_data(E, &p[i], msg + round * 30, 30);
	for (int i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(p[i].app->len, 300);
		CU_ASSERT(memcmp(p[i].app->data, msg, 300) == 0);
	}
	finish();
}

/* A SYN flood from random sources and random cookie guesses while a legitimate peer
 * streams: no state is created, the legitimate stream is untouched. */
static void test_syn_flood_while_streaming(void)
{
	struct t_peer p, x;
	uint8_t f[T_FRAME_MAX], msg[20];
	uint32_t rnd = 12345;

	start(NULL);
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	t_peer_init(&x, E, 9);
	for (int i = 0; i < 20000; i++) {
		rnd = rnd * 1103515245u + 12345u;
		x.ip = DP_IPV4(10, 1 + (rnd >> 28), (rnd >> 20) & 0xff, 1 + ((rnd >> 12) & 0x7f));
		x.port = (uint16_t)(1024 + (rnd & 0x7fff));
		if (i & 1)
			t_input(E, f, t_build_tcp(f, E, &x, DP_TCP_SYN, rnd, 0, 1000, NULL, 0, NULL, 0));
		else
			t_input(E, f, t_build_tcp(f, E, &x, DP_TCP_ACK, rnd, rnd ^ 0x5a5a5a5au, 1000, NULL, 0,
						  NULL, 0));
		if (i % 1000 == 0) {
			memset(msg, 'a' + i / 1000, sizeof(msg));
			t_send_data(E, &p, msg, sizeof(msg));
		}
		t_cap_clear(E);
	}
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 1);
	CU_ASSERT_EQUAL(dp_stack_timers_armed(E->st), 1); /* the legitimate connection's idle timer */
	CU_ASSERT_EQUAL(t_stat(E, "tcp_syn_rx"), 10001);
	CU_ASSERT_EQUAL(t_stat(E, "drop_tcp_cookie_bad"), 10000);
	CU_ASSERT_EQUAL(p.app->len, 400);
	CU_ASSERT_EQUAL(p.app->data[399], 't');
	finish();
}

static void test_stack_destroy_with_connections(void)
{
	struct t_peer p, q;
	struct t_app_conn *a, *b;

	start(NULL);
	t_peer_init(&p, E, 1);
	t_peer_init(&q, E, 2);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	CU_ASSERT_FATAL(t_handshake(E, &q) == 0);
	app_send(&p, "pending", 7);
	a = p.app;
	b = q.app;
	t_cap_clear(E);
	dp_stack_destroy(E->st, E->now);
	E->st = NULL;
	CU_ASSERT_EQUAL(a->closes, 1);
	CU_ASSERT_EQUAL(a->reason, DP_CLOSE_STACK_DESTROY);
	CU_ASSERT_EQUAL(b->closes, 1);
	{
		struct t_seg s;
		int rsts = 0;

		while (t_pop_tcp(E, &s))
			rsts += (s.flags & DP_TCP_RST) != 0;
		CU_ASSERT_EQUAL(rsts, 2); /* one RST each */
	}
	CU_ASSERT_EQUAL(E->pool.in_use, 0);
	t_env_fini(E); /* destroying NULL is a no-op */
	free(E);
	E = NULL;
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("dp_tcp", NULL, NULL);
	CU_add_test(s, "handshake via SYN cookie", test_handshake_syncookie);
	CU_add_test(s, "handshake without options", test_handshake_no_options);
	CU_add_test(s, "bad or stale cookie ACK dropped", test_bad_cookie_dropped);
	CU_add_test(s, "data delivery and app send", test_data_delivery_and_echo);
	CU_add_test(s, "out-of-order reassembly", test_out_of_order_reassembly);
	CU_add_test(s, "overlapping conflicting bytes: first wins", test_overlap_first_wins);
	CU_add_test(s, "1-byte segments, bounded queue", test_one_byte_segments);
	CU_add_test(s, "sequence wraparound (receive)", test_wraparound_receive);
	CU_add_test(s, "sequence wraparound (send)", test_wraparound_send);
	CU_add_test(s, "RTO with exponential backoff", test_rto_backoff);
	CU_add_test(s, "retransmission limit resets", test_retrans_limit);
	CU_add_test(s, "fast retransmit on 3 dup ACKs", test_fast_retransmit);
	CU_add_test(s, "close in on_data with bytes pending", test_close_with_bytes_pending);
	CU_add_test(s, "persist probes unanswered", test_persist_unanswered);
	CU_add_test(s, "window trimming, FIN at right edge", test_window_trim_fin_at_right_edge);
	CU_add_test(s, "FIN out of order", test_fin_out_of_order);
	CU_add_test(s, "zero window and persist probes", test_zero_window_persist);
	CU_add_test(s, "RFC 5961 RST/SYN cases and limit", test_rfc5961);
	CU_add_test(s, "passive close (on_fin, half-close)", test_passive_close);
	CU_add_test(s, "passive close (stack closes)", test_passive_close_auto);
	CU_add_test(s, "active close to TIME_WAIT", test_active_close);
	CU_add_test(s, "simultaneous close (CLOSING)", test_simultaneous_close);
	CU_add_test(s, "FIN_WAIT_1 FIN+ACK together", test_fin_wait1_fin_ack_together);
	CU_add_test(s, "FIN_WAIT_2 timeout", test_fin_wait2_timeout);
	CU_add_test(s, "RST in CLOSE_WAIT", test_rst_in_close_wait);
	CU_add_test(s, "abort, data after close", test_abort_and_data_after_close);
	CU_add_test(s, "close/abort from on_data", test_close_from_callback);
	CU_add_test(s, "idle timeout", test_idle_timeout);
	CU_add_test(s, "per-source and table limits", test_per_source_and_table_limits);
	CU_add_test(s, "out-of-window data, bad ACKs, PAWS", test_out_of_window_and_bad_acks);
	CU_add_test(s, "application refuses", test_app_refuses);
	CU_add_test(s, "stray segments without connection", test_stray_segments);
	CU_add_test(s, "TX pool empty / TX refused", test_tx_pool_empty_and_refused);
	CU_add_test(s, "8 connections interleaved", test_many_connections_stream);
	CU_add_test(s, "SYN flood while a peer streams", test_syn_flood_while_streaming);
	CU_add_test(s, "stack destroy with live connections", test_stack_destroy_with_connections);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	{
		unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();

		CU_cleanup_registry();
		return failed ? 1 : 0;
	}
}
