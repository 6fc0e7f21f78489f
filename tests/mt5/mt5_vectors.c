/*
 * mt5_vectors: reference bytes made by proto/ (protobuf-c, OpenSSL) for the decp.dll tests,
 * one "name hex" line each, so that the DLL (mingw, libgcrypt, proto_wire) is checked
 * against the implementation the servers use: frames it must build byte for byte
 * (Hello, the LoginProof of protocol 2's login -- proto_login_proof's HMAC over a fixed
 * challenge --, a signed Signal -- Ed25519 is deterministic, so equal signatures prove the two
 * signers agree --, Heartbeat, Subscribe) and messages it must decode (IngestFrame and
 * ServerMessage members, genuine and forged envelopes), a re-sync snapshot signed by the
 * platform's key (proto_snapsig, OpenSSL) with its altered and wrongly signed variants, and
 * the master's own positions as decp-master sends them (proto_positions_split and _seal).
 *
 * usage: mt5_vectors OUT_FILE      (fixed inputs: the output never changes)
 */
#include <stdio.h>
#include <string.h>

#include "proto_keyann.h"
#include "proto_login.h"
#include "proto_msg.h"
#include "proto_positions.h"
#include "proto_signal.h"
#include "proto_snapsig.h"

#define MASTER 7
#define T0 INT64_C(1764892800000000000) /* arrival time of the envelopes */

static const uint8_t seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
	0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};
/* the key the master rotates to (key announcement vectors) */
static const uint8_t seed2[32] = {
	0x4c, 0xcd, 0x08, 0x9b, 0x28, 0xff, 0x96, 0xda, 0x9d, 0xb6, 0xc3, 0x46, 0xec, 0x11, 0x4e, 0x0f,
	0x5b, 0x8a, 0x31, 0x9f, 0x35, 0xab, 0xa6, 0x24, 0xda, 0x8c, 0xf6, 0xed, 0x4f, 0xb8, 0xa6, 0xfb,
};
static const uint8_t secret[32] = "decp mt5 test hmac secret 32 by";
static const char token[] = "tok-mt5-1"; /* the license token dll_calls passes */

static FILE *out;

static void hex(const char *name, const uint8_t *p, size_t n)
{
	fprintf(out, "%s ", name);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%02x", p[i]);
	fputc('\n', out);
}

static void packed(const char *name, const ProtobufCMessage *m)
{
	uint8_t b[2048];
	size_t n = protobuf_c_message_pack(m, b);

	hex(name, b, n);
}

static void framed(const char *name, const ProtobufCMessage *m)
{
	uint8_t b[4200];
	ssize_t n = proto_msg_frame_pack(m, 4096, b, sizeof(b));

	hex(name, b, n > 0 ? (size_t)n : 0);
}

static void signal_of(Decp__Signal *s, uint64_t seq, int type)
{
	decp__signal__init(s);
	s->master_id = MASTER;
	s->sequence = seq;
	s->symbol = "EURUSD";
	s->order_type = (Decp__OrderType)type;
	s->volume = type == DECP__ORDER_TYPE__ORDER_TYPE_MODIFY ? 0 : 10;
	s->price = 108512;
	s->sl = 108012;
	s->tp = 109512;
	s->position_ticket = 900 + seq;
	s->master_time_ns = T0 - 5000000;
}

/* The fan-out's stamps of the next envelope() (0/false: none, as before issue 18). */
static int64_t g_send_ns;
static int g_replay;

/* ServerMessage{Envelope} of a sealed signal; forge: the body's price moved by a point. */
static void envelope(const char *name, const struct proto_sealed_signal *sealed, uint64_t seq,
		     int forge)
{
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	Decp__Envelope e = DECP__ENVELOPE__INIT;
	Decp__SignedSignal ss;
	struct proto_sealed_signal copy = *sealed;

	if (forge) {
		Decp__Signal *s = proto_signal_decode(copy.body, copy.body_len, NULL);

		s->price += 1;
		copy.body_len = decp__signal__pack(s, copy.body);
		proto_msg_free(&s->base, NULL);
	}
	proto_sealed_signal_view(&copy, &ss);
	e.signal = &ss;
	e.server_arrival_ns = T0;
	e.master_id = MASTER;
	e.sequence = seq;
	e.fanout_send_ns = g_send_ns;
	e.replay = g_replay;
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_ENVELOPE;
	sm.envelope = &e;
	packed(name, &sm.base);
}

/* ServerMessage{CopyPolicy} for master m, version v: multiplier 2.0x, 5 pips, every order
 * type, SL/TP and modifications copied, no affixes; deny: one denied instrument (or NULL);
 * mult 0 makes it invalid for the guard; equity_floor (money, 0 = off) with close all. */
static void policy(const char *name, uint64_t m, uint64_t v, const char *deny, int64_t mult,
		   int64_t equity_floor)
{
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	Decp__CopyPolicy cp = DECP__COPY_POLICY__INIT;
	char *d[1] = { (char *)deny };

	cp.subscription_id = 11;
	cp.master_id = m;
	cp.version = v;
	cp.lot_mode = DECP__COPY_POLICY__LOT_MODE__LOT_MODE_MULTIPLIER;
	cp.lot_multiplier_milli = mult;
	cp.order_type_mask = 0x3fe; /* bits 1..9 */
	cp.copy_sl = cp.copy_tp = cp.sync_modify = 1;
	cp.max_deviation_pips_x100 = 500;
	cp.symbols_deny = d;
	cp.n_symbols_deny = deny != NULL;
	cp.equity_floor = equity_floor;
	cp.close_all_on_trip = equity_floor != 0;
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_COPY_POLICY;
	sm.copy_policy = &cp;
	packed(name, &sm.base);
}

/* ServerMessage{CopyPolicy} for master MASTER, version 1, with the broker's name of gold:
 * XAUUSD maps to GOLD (no pip entry of its own in the guard's registry). */
static void policy_gold(void)
{
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	Decp__CopyPolicy cp = DECP__COPY_POLICY__INIT;
	Decp__CopyPolicy__SymbolMap map = DECP__COPY_POLICY__SYMBOL_MAP__INIT, *mp = &map;

	cp.subscription_id = 11;
	cp.master_id = MASTER;
	cp.version = 1;
	cp.lot_mode = DECP__COPY_POLICY__LOT_MODE__LOT_MODE_MULTIPLIER;
	cp.lot_multiplier_milli = 1000;
	cp.order_type_mask = 0x3fe;
	cp.copy_sl = cp.copy_tp = cp.sync_modify = 1;
	cp.max_deviation_pips_x100 = 500;
	map.from = "XAUUSD";
	map.to = "GOLD";
	cp.symbol_map = &mp;
	cp.n_symbol_map = 1;
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_COPY_POLICY;
	sm.copy_policy = &cp;
	packed("policy_gold", &sm.base);
}

/* The copy policies dll_calls applies, and the AccountState it must build. */
static void policies(void)
{
	Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
	Decp__AccountState as = DECP__ACCOUNT_STATE__INIT;
	Decp__AccountState__Position pos = DECP__ACCOUNT_STATE__POSITION__INIT, *pp = &pos;

	policy("policy_v1", MASTER, 1, NULL, 2000, 0);
	policy("policy_v2", MASTER, 2, "EURUSD", 2000, 0);
	policy("policy_bad", MASTER, 3, NULL, 0, 0);
	policy("policy_other", MASTER + 1, 4, NULL, 2000, 0);
	/* equity protection: below 100.0000 nothing new opens, and everything is closed */
	policy("policy_floor", MASTER, 1, NULL, 1000, 1000000);
	policy_gold();
	as.time_ns = T0;
	as.currency = "USD";
	as.leverage = 100;
	as.balance = 1000000;    /* 100.0000 */
	as.equity = 1005000;
	as.margin = 20000;
	as.free_margin = 985000;
	as.position_count = 2;
	pos.master_id = MASTER;
	pos.master_ticket = 901;
	pos.symbol = "EURUSD.r";
	pos.type = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
	pos.volume = 20;
	pos.price = 108512;
	pos.profit = 5000;
	as.n_positions = 1;
	as.positions = &pp;
	cm.kind_case = DECP__CLIENT_MESSAGE__KIND_ACCOUNT_STATE;
	cm.account_state = &as;
	packed("account_state", &cm.base);
}

/* The platform's key (fanout_snapshot_key) that signs the snapshots. */
static const uint8_t seed_platform[32] = {
	0xc5, 0xaa, 0x8d, 0xf4, 0x3f, 0x9f, 0x83, 0x7b, 0xed, 0xb7, 0x44, 0x2f, 0x31, 0xdc, 0xb7, 0xb1,
	0x66, 0xd3, 0x85, 0x35, 0x07, 0x6f, 0x09, 0x4b, 0x85, 0xce, 0x3a, 0x2e, 0x0b, 0x44, 0x58, 0xf7,
};

/* The book dll_calls' re-sync reconciles (t_rx_resync): master 7 at S = 40. */
#define SNAP_S 40
static const struct {
	uint64_t ticket;
	int type;
	const char *symbol;
	int64_t volume, price, sl, tp, exp;
} snap_book[] = {
	{ 901, 1, "EURUSD", 10, 108512, 108012, 109512, 0 }, /* held as it should: nothing */
	{ 902, 2, "GBPUSD", 6, 127000, 0, 0, 0 },            /* held 0.20: REDUCE 0.08 */
	{ 903, 1, "EURUSD", 10, 108512, 108000, 109000, 0 }, /* held with other exits: MODIFY */
	{ 904, 1, "EURUSD", 10, 108512, 0, 0, 0 },           /* not held: OPEN 0.20 */
	{ 905, 3, "EURUSD", 10, 108000, 0, 0, 0 },           /* BUY_LIMIT: placed 0.20 */
	{ 906, 1, "XAUUSD", 10, 200000000, 0, 0, 0 },        /* no quote: SKIP */
	{ 907, 2, "EURUSD", 10, 100000, 0, 0, 0 },           /* far from the quote: SKIP */
	{ 908, 2, "EURUSD", 5, 108512, 108912, 0, 0 },       /* not held: OPEN 0.10 */
	{ 909, 1, "EURUSD", 7, 108510, 0, 109000, 0 },       /* part 2: OPEN 0.14 */
};
#define SNAP_N (sizeof(snap_book) / sizeof(snap_book[0]))

/* SnapshotBegin/Part/End of entries ent[0..n) as the fan-out sends them (8 per part), the
 * End signed with key (NULL: no signature) over the entries as signed_ent says (the
 * altered variants sign one thing and send another). Names prefix_begin, _part1.., _end. */
static void snapshot(const char *prefix, uint64_t master, Decp__BookEntry *const *ent,
		     Decp__BookEntry *const *signed_ent, size_t n, uint32_t count,
		     const struct proto_ed25519_key *key)
{
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	Decp__SnapshotBegin b = DECP__SNAPSHOT_BEGIN__INIT;
	Decp__SnapshotEnd e = DECP__SNAPSHOT_END__INIT;
	struct proto_snapsig sig;
	uint8_t sg[64];
	char name[32];
	int part = 0;

	b.master_id = master;
	b.sequence = SNAP_S;
	b.count = count;
	b.from_sequence = 3;
	b.reason = DECP__SNAPSHOT_BEGIN__REASON__REASON_STALE;
	b.subscription_id = 11;
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN;
	sm.snapshot_begin = &b;
	snprintf(name, sizeof(name), "%s_begin", prefix);
	packed(name, &sm.base);
	proto_snapsig_init(&sig);
	for (size_t i = 0; i < n; i += 8) {
		Decp__SnapshotPart p = DECP__SNAPSHOT_PART__INIT;

		p.master_id = master;
		p.sequence = SNAP_S;
		p.n_entries = n - i < 8 ? n - i : 8;
		p.entries = (Decp__BookEntry **)ent + i;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_SNAPSHOT_PART;
		sm.snapshot_part = &p;
		snprintf(name, sizeof(name), "%s_part%d", prefix, ++part);
		packed(name, &sm.base);
	}
	for (size_t i = 0; i < n; i++)
		proto_snapsig_add(&sig, signed_ent[i]);
	e.master_id = master;
	e.sequence = SNAP_S;
	e.count = count;
	if (key != NULL && proto_snapsig_sign(&sig, key, master, SNAP_S, sg) == 0) {
		e.signature.data = sg;
		e.signature.len = sizeof(sg);
	}
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_SNAPSHOT_END;
	sm.snapshot_end = &e;
	snprintf(name, sizeof(name), "%s_end", prefix);
	packed(name, &sm.base);
}

static int snapshots(const struct proto_ed25519_key *master_key)
{
	struct proto_ed25519_key *pk = proto_ed25519_key_new_private(seed_platform);
	Decp__BookEntry be[SNAP_N], alt, *ent[SNAP_N], *altered[SNAP_N];
	uint8_t pub[32];

	if (pk == NULL || proto_ed25519_key_public(pk, pub) != 0)
		return -1;
	hex("snap_pub", pub, sizeof(pub));
	for (size_t i = 0; i < SNAP_N; i++) {
		decp__book_entry__init(&be[i]);
		be[i].ticket = snap_book[i].ticket;
		be[i].type = (Decp__OrderType)snap_book[i].type;
		be[i].symbol = (char *)snap_book[i].symbol;
		be[i].volume = snap_book[i].volume;
		be[i].price = snap_book[i].price;
		be[i].sl = snap_book[i].sl;
		be[i].tp = snap_book[i].tp;
		be[i].expiration_ns = snap_book[i].exp;
		ent[i] = altered[i] = &be[i];
	}
	snapshot("snap", MASTER, ent, ent, SNAP_N, SNAP_N, pk);
	/* signed by another key (the master's), and not signed at all */
	snapshot("snapk", MASTER, ent, ent, SNAP_N, SNAP_N, master_key);
	snapshot("snapu", MASTER, ent, ent, SNAP_N, SNAP_N, NULL);
	/* sent with 902's volume raised to 0.10 (the signature is over 0.06) */
	alt = be[1];
	alt.volume = 10;
	altered[1] = &alt;
	snapshot("snapa", MASTER, altered, ent, SNAP_N, SNAP_N, pk);
	/* a ticket twice, properly signed: not a book */
	altered[1] = &be[0];
	snapshot("snapd", MASTER, altered, altered, 2, 2, pk);
	/* another master's; more entries than a handle keeps */
	snapshot("snapo", MASTER + 1, ent, ent, SNAP_N, SNAP_N, pk);
	snapshot("snapb", MASTER, ent, ent, 0, 5000, pk);
	proto_ed25519_key_free(pk);
	{
		/* what the reconciliation answers: 4 opened, 1 closed, 1 reduced, 1 modified,
		 * 2 skipped (t_rx_resync's plan) */
		Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
		Decp__ResyncDone d = DECP__RESYNC_DONE__INIT;
		Decp__Subscribe sb = DECP__SUBSCRIBE__INIT;

		d.master_id = MASTER;
		d.sequence = SNAP_S;
		d.opened = 4;
		d.closed = 1;
		d.reduced = 1;
		d.modified = 1;
		d.skipped = 2;
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_RESYNC_DONE;
		cm.resync_done = &d;
		packed("resync_done", &cm.base);
		sb.master_id = MASTER;
		sb.from_sequence = 1;
		sb.snapshot = 1;
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_SUBSCRIBE;
		cm.subscribe = &sb;
		packed("subscribe_resync", &cm.base);
	}
	return 0;
}

/* The master's own positions as decp-master sends them (proto_positions_split, _seal):
 * 14 entries in several parts, then the empty snapshot. All frames of one snapshot in one
 * line, each framed. */
static int positions(const struct proto_hmac_key *hk)
{
	static const char *const syms[] = { "EURUSD", "GBPUSD.pro", "XAUUSD", "USDJPY_ecn_long" };
	Decp__BookEntry be[14], *pp[14];
	size_t ends[14], from = 0;
	uint8_t all[2048];
	size_t used = 0;
	long parts;

	for (int i = 0; i < 14; i++) {
		decp__book_entry__init(&be[i]);
		be[i].ticket = 1001 + (uint64_t)i;
		be[i].type = (Decp__OrderType)(1 + i % 6);
		be[i].symbol = (char *)syms[i % 4];
		be[i].volume = 10 + i;
		be[i].price = 108512 + 1000 * i;
		be[i].sl = i % 3 == 0 ? 0 : 108000 + i;
		be[i].tp = i % 2 == 0 ? 0 : 109000 + i;
		be[i].expiration_ns = i % 6 >= 2 ? T0 + i : 0;
		pp[i] = &be[i];
	}
	for (int empty = 0; empty < 2; empty++) {
		size_t n = empty ? 0 : 14;

		used = 0;
		from = 0;
		parts = proto_positions_split(pp, n, ends, 14);
		if (parts < 1)
			return -1;
		for (long k = 0; k < parts; k++) {
			Decp__Positions p = DECP__POSITIONS__INIT;
			Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;
			Decp__SignedPositions sp = DECP__SIGNED_POSITIONS__INIT;
			struct proto_sealed_positions sealed;
			ssize_t fl;

			p.master_id = MASTER;
			p.sequence = 60;
			p.snapshot_id = 12345;
			p.part = (uint32_t)k;
			p.parts = (uint32_t)parts;
			p.count = (uint32_t)n;
			p.entries = pp + from;
			p.n_entries = ends[k] - from;
			p.master_time_ns = T0;
			from = ends[k];
			if (proto_positions_seal(hk, &p, &sealed) != 0)
				return -1;
			sp.body.data = sealed.body;
			sp.body.len = sealed.body_len;
			sp.hmac.data = sealed.hmac;
			sp.hmac.len = sizeof(sealed.hmac);
			mf.kind_case = DECP__MASTER_FRAME__KIND_POSITIONS;
			mf.positions = &sp;
			fl = proto_msg_frame_pack(&mf.base, 4096, all + used, sizeof(all) - used);
			if (fl <= 0)
				return -1;
			used += (size_t)fl;
		}
		hex(empty ? "positions_empty" : "positions", all, used);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct proto_hmac_key hk;
	struct proto_ed25519_key *sk;
	uint8_t pub[32];

	if (argc != 2 || (out = fopen(argv[1], "w")) == NULL) {
		fprintf(stderr, "usage: mt5_vectors OUT_FILE\n");
		return 2;
	}
	if (proto_hmac_key_init(&hk, secret, sizeof(secret)) != 0 ||
	    (sk = proto_ed25519_key_new_private(seed)) == NULL ||
	    proto_ed25519_key_public(sk, pub) != 0)
		return 1;
	hex("seed", seed, sizeof(seed));
	hex("pub", pub, sizeof(pub));
	hex("secret", secret, sizeof(secret));
	{
		Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;
		Decp__Hello h = DECP__HELLO__INIT;
		Decp__Heartbeat hb = DECP__HEARTBEAT__INIT;

		h.master_id = MASTER; /* protocol 2: no license_token */
		h.client_version = "DecpMaster/1";
		h.protocol_version = PROTO_PROTOCOL_VERSION;
		mf.kind_case = DECP__MASTER_FRAME__KIND_HELLO;
		mf.hello = &h;
		framed("hello", &mf.base);
		hb.time_ns = T0;
		mf.kind_case = DECP__MASTER_FRAME__KIND_HEARTBEAT;
		mf.heartbeat = &hb;
		framed("heartbeat", &mf.base);
	}
	{
		/* protocol 2's login: ingest's challenge and the proof that answers it */
		Decp__IngestFrame f = DECP__INGEST_FRAME__INIT;
		Decp__ServerChallenge ch = DECP__SERVER_CHALLENGE__INIT;
		Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;
		Decp__LoginProof lp = DECP__LOGIN_PROOF__INIT;
		uint8_t nonce[PROTO_LOGIN_NONCE_LEN], proof[PROTO_LOGIN_PROOF_LEN];

		for (unsigned i = 0; i < sizeof(nonce); i++)
			nonce[i] = (uint8_t)(0xa0 + i);
		ch.nonce.data = nonce;
		ch.nonce.len = sizeof(nonce);
		ch.protocol_version = PROTO_PROTOCOL_VERSION;
		f.kind_case = DECP__INGEST_FRAME__KIND_CHALLENGE;
		f.challenge = &ch;
		packed("challenge", &f.base);
		ch.nonce.len = sizeof(nonce) - 1;
		packed("challenge_short", &f.base);
		if (proto_login_proof(token, strlen(token), nonce, sizeof(nonce), MASTER, NULL,
				      proof) != 0)
			return 1;
		lp.proof.data = proof;
		lp.proof.len = sizeof(proof);
		mf.kind_case = DECP__MASTER_FRAME__KIND_LOGIN_PROOF;
		mf.login_proof = &lp;
		framed("login_proof", &mf.base);
		/* another master id: the proof binds it */
		if (proto_login_proof(token, strlen(token), nonce, sizeof(nonce), MASTER + 1, NULL,
				      proof) != 0)
			return 1;
		framed("login_proof_m8", &mf.base);
	}
	for (uint64_t seq = 1; seq <= 3; seq++) {
		Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;
		Decp__Signal s;
		Decp__SignedSignal ss;
		struct proto_sealed_signal sealed;
		char name[32];

		/* 1 BUY (price-checked), 2 MODIFY, 3 CLOSE */
		signal_of(&s, seq, seq == 1 ? 1 : seq == 2 ? 8 : 7);
		if (proto_signal_seal(&hk, sk, &s, &sealed) != 0)
			return 1;
		proto_sealed_signal_view(&sealed, &ss);
		mf.kind_case = DECP__MASTER_FRAME__KIND_SIGNAL;
		mf.signal = &ss;
		snprintf(name, sizeof(name), "signal%d", (int)seq);
		framed(name, &mf.base);
		snprintf(name, sizeof(name), "body%d", (int)seq);
		hex(name, sealed.body, sealed.body_len);
		snprintf(name, sizeof(name), "sig%d", (int)seq);
		hex(name, sealed.sig, sizeof(sealed.sig));
		snprintf(name, sizeof(name), "envelope%d", (int)seq);
		envelope(name, &sealed, seq, 0);
		snprintf(name, sizeof(name), "forged%d", (int)seq);
		envelope(name, &sealed, seq, 1);
		/* the same envelope sent by a replay, stamped 1 ms after arrival */
		g_send_ns = T0 + 1000000;
		g_replay = 1;
		snprintf(name, sizeof(name), "envelope%d_replay", (int)seq);
		envelope(name, &sealed, seq, 0);
		g_send_ns = 0;
		g_replay = 0;
	}
	policies();
	if (snapshots(sk) != 0 || positions(&hk) != 0)
		return 1;
	{
		/* signal 41, live after the re-sync at 40 (t_rx_resync) */
		Decp__Signal s;
		struct proto_sealed_signal sealed;

		signal_of(&s, 41, 1);
		if (proto_signal_seal(&hk, sk, &s, &sealed) != 0)
			return 1;
		envelope("envelope41", &sealed, 41, 0);
		/* signal 1 on gold: BUY 0.10 XAUUSD at 2,000.00, SL 10.00 (100 pips) below */
		signal_of(&s, 1, 1);
		s.symbol = "XAUUSD";
		s.price = 200000000;
		s.sl = 199000000;
		s.tp = 0;
		if (proto_signal_seal(&hk, sk, &s, &sealed) != 0)
			return 1;
		envelope("envelope1_gold", &sealed, 1, 0);
	}
	{
		/* Key rotation: the announcement of seed2's key signed by seed's (genuine), the
		 * same signed by seed2 itself (forged), and signal 1 signed by seed2 only. */
		Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
		Decp__KeyAnnouncement ka = DECP__KEY_ANNOUNCEMENT__INIT;
		struct proto_keyann a = {.master_id = MASTER, .valid_from_ns = T0 - 1000000000,
					 .overlap_until_ns = T0 + INT64_C(3600000000000)};
		uint8_t sig[64], m[PROTO_KEYANN_MSG_LEN];
		struct proto_ed25519_key *sk2 = proto_ed25519_key_new_private(seed2);
		Decp__Signal s;
		struct proto_sealed_signal sealed;

		memcpy(a.old_pub, pub, 32);
		if (sk2 == NULL || proto_ed25519_public_from_seed(seed2, a.new_pub) != 0 ||
		    proto_keyann_sign(&a, seed, sig) != 0)
			return 1;
		ka.master_id = MASTER;
		ka.old_public_key.data = a.old_pub;
		ka.old_public_key.len = 32;
		ka.new_public_key.data = a.new_pub;
		ka.new_public_key.len = 32;
		ka.valid_from_ns = a.valid_from_ns;
		ka.overlap_until_ns = a.overlap_until_ns;
		ka.signature.data = sig;
		ka.signature.len = 64;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_KEY_ANNOUNCEMENT;
		sm.key_announcement = &ka;
		packed("key_announcement", &sm.base);
		if (proto_keyann_message(&a, m) != 0 || proto_ed25519_sign(seed2, m, sizeof(m), sig))
			return 1;
		packed("key_announcement_forged", &sm.base);
		signal_of(&s, 1, 1);
		if (proto_signal_seal(&hk, sk2, &s, &sealed) != 0)
			return 1;
		envelope("envelope1_newkey", &sealed, 1, 0);
		proto_ed25519_key_free(sk2);
	}
	{
		Decp__IngestFrame f = DECP__INGEST_FRAME__INIT;
		Decp__HelloAck ha = DECP__HELLO_ACK__INIT;
		Decp__Ack a = DECP__ACK__INIT;
		Decp__Nack n = DECP__NACK__INIT;

		ha.next_expected_sequence = 5;
		ha.server_time_ns = T0;
		ha.protocol_version = 1;
		ha.max_frame = 4096;
		f.kind_case = DECP__INGEST_FRAME__KIND_HELLO_ACK;
		f.hello_ack = &ha;
		packed("hello_ack", &f.base);
		a.sequence = 5;
		a.server_arrival_ns = T0;
		a.status = DECP__ACK__STATUS__STATUS_OK;
		f.kind_case = DECP__INGEST_FRAME__KIND_ACK;
		f.ack = &a;
		packed("ack", &f.base);
		n.sequence = 9;
		n.reason = DECP__NACK__REASON__REASON_GAP;
		n.expected_sequence = 6;
		f.kind_case = DECP__INGEST_FRAME__KIND_NACK;
		f.nack = &n;
		packed("nack", &f.base);
	}
	{
		Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
		Decp__TimePong tp = DECP__TIME_PONG__INIT;
		Decp__SyncStart st = DECP__SYNC_START__INIT;
		Decp__SyncEnd en = DECP__SYNC_END__INIT;
		Decp__StateChange sc = DECP__STATE_CHANGE__INIT;
		Decp__Error er = DECP__ERROR__INIT;
		Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
		Decp__Subscribe sb = DECP__SUBSCRIBE__INIT;

		/* the client sent at T0 - 2 ms (local), the pong came back at T0 (local): the
		 * server's clock equals the local one, rtt 2 ms */
		tp.client_send_ns = T0 - 2000000;
		tp.server_recv_ns = T0 - 1000000;
		tp.server_send_ns = T0 - 1000000;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_TIME_PONG;
		sm.time_pong = &tp;
		packed("pong", &sm.base);
		/* the same exchange with the server's clock 100 ms behind the local one (or the
		 * local clock stepped 100 ms ahead since): envelopes stamped at T0 look 100 ms
		 * "from the future" at local T0 */
		tp.server_recv_ns = T0 - 101000000;
		tp.server_send_ns = T0 - 101000000;
		packed("pong_behind", &sm.base);
		st.master_id = MASTER;
		st.from_sequence = 1;
		st.to_sequence = 0;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_SYNC_START;
		sm.sync_start = &st;
		packed("sync_start", &sm.base);
		en.master_id = MASTER;
		en.last_sequence = 0;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_SYNC_END;
		sm.sync_end = &en;
		packed("sync_end", &sm.base);
		sc.subscription_id = 3;
		sc.master_id = MASTER;
		sc.old_state = DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_SYNCED;
		sc.new_state = DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_PAUSED_TOXIC;
		sc.cause = DECP__STATE_CHANGE__CAUSE__CAUSE_TRUST_LOW;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_STATE_CHANGE;
		sm.state_change = &sc;
		packed("state_change", &sm.base);
		er.code = DECP__ERROR__CODE__CODE_FORBIDDEN;
		er.message = "not subscribed";
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_ERROR;
		sm.error = &er;
		packed("error", &sm.base);
		sb.master_id = MASTER;
		sb.from_sequence = 1;
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_SUBSCRIBE;
		cm.subscribe = &sb;
		packed("subscribe", &cm.base);
		/* a range lost (docs/fanout.md's text), for this master, another, unparseable;
		 * the live Subscribe after it and the SyncEnd that continues the guard; the
		 * re-sync asked after stale signal 3 (t_rx_resync_ask) */
		er.code = DECP__ERROR__CODE__CODE_RANGE;
		er.message = "range not retained: master=7 from=1 first_available=30";
		sm.error = &er;
		packed("error_range", &sm.base);
		er.message = "range not retained: master=8 from=1 first_available=30";
		packed("error_range_m8", &sm.base);
		er.message = "range not retained";
		packed("error_range_text", &sm.base);
		sb.from_sequence = 0;
		packed("subscribe_live", &cm.base);
		sb.from_sequence = 3;
		sb.snapshot = 1;
		packed("subscribe_resync3", &cm.base);
		/* the re-sync owed after a halt: from the first signal consumed while locked */
		sb.from_sequence = 2;
		packed("subscribe_resync2", &cm.base);
		en.last_sequence = 40;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_SYNC_END;
		sm.sync_end = &en;
		packed("sync_end40", &sm.base);
	}
	proto_ed25519_key_free(sk);
	return fclose(out) == 0 ? 0 : 1;
}
