/* decp.dll test body; see dll_calls.h. Plain C (no CUnit): it also runs under Wine. */
#include "dll_calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decp_dll.h" /* status codes and sizes only: the calls go through struct decp_fns */
#include "mt5_check.h"


#define T0 INT64_C(1764892800000000000) /* mt5_vectors' envelope arrival time */
#define MS INT64_C(1000000)

/* ----------------------------------------------------------------- vectors -- */

static struct dll_vec vecs[128];
static int nvecs;

static int load_vectors(const char *path)
{
	FILE *f = fopen(path, "r");
	char name[32], hexs[4200];

	if (f == NULL)
		return -1;
	while (nvecs < 128 && fscanf(f, "%31s %4199s", name, hexs) == 2) {
		struct dll_vec *v = &vecs[nvecs++];
		size_t n = strlen(hexs) / 2;

		snprintf(v->name, sizeof(v->name), "%s", name);
		for (size_t i = 0; i < n && i < sizeof(v->b); i++) {
			unsigned x;

			sscanf(hexs + 2 * i, "%2x", &x);
			v->b[i] = (uint8_t)x;
		}
		v->n = (int)n;
	}
	fclose(f);
	return nvecs > 0 ? 0 : -1;
}

static const struct dll_vec *V(const char *name)
{
	static struct dll_vec none;

	for (int i = 0; i < nvecs; i++)
		if (strcmp(vecs[i].name, name) == 0)
			return &vecs[i];
	CHECK(0, "no vector %s", name);
	return &none;
}

const struct dll_vec *dll_vector(const char *name)
{
	return V(name);
}

static int same(const uint8_t *a, int an, const struct dll_vec *v)
{
	return an == v->n && memcmp(a, v->b, (size_t)an) == 0;
}

static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* ----------------------------------------------------------------- general -- */

static void t_general(const struct decp_fns *f)
{
	uint8_t s[32];

	CHECK(f->decp_version() == DECP_DLL_VERSION, "version");
	CHECK(f->decp_strerror(DECP_E_BADSIG, s, sizeof(s)) == 13 &&
	      strcmp((char *)s, "DECP_E_BADSIG") == 0, "strerror");
	CHECK(f->decp_strerror(0, s, sizeof(s)) == 2, "strerror OK");
	CHECK(f->decp_strerror(-999, s, sizeof(s)) == 1 && s[0] == '?', "strerror unknown");
	CHECK(f->decp_strerror(7, s, sizeof(s)) == 1, "strerror positive");
	CHECK(f->decp_strerror(DECP_E_BADSIG, s, 5) == DECP_E_NOBUFS, "strerror short");
	CHECK(f->decp_strerror(DECP_E_BADSIG, NULL, 32) == DECP_E_INVAL, "strerror NULL");
	CHECK(f->decp_strerror(DECP_E_BADSIG, s, -1) == DECP_E_INVAL, "strerror negative cap");
	for (int i = 0; i < 1000; i++)
		CHECK(f->decp_handle_free((int64_t)rnd()) == DECP_E_HANDLE, "free of a random handle");
	CHECK(f->decp_handle_free(0) == DECP_E_HANDLE && f->decp_handle_free(-1) == DECP_E_HANDLE,
	      "free 0 / -1");
	{
		/* the wall clock: within a second of time(), never backwards between two reads,
		 * and finer than a second (MQL5's TimeGMT is not) */
		int64_t t0 = f->decp_now_ns(), prev = t0, sub = 0, back = 0;
		time_t now = time(NULL);

		for (int i = 0; i < 2000; i++) {
			int64_t t = f->decp_now_ns();
			back += t < prev;
			sub += t % 1000000000 != 0;
			prev = t;
		}
		CHECK(t0 / 1000000000 >= (int64_t)now - 1 && t0 / 1000000000 <= (int64_t)now + 1,
		      "now_ns: %lld s against time() %lld", (long long)(t0 / 1000000000),
		      (long long)now);
		CHECK(back == 0 && sub > 0 && prev > t0, "now_ns: monotonic here, sub-second");
	}
	/* the guard's pip of a symbol (1e-5): what RISK_PERCENT sizing divides the view's
	 * pip value by (gold's is 0.1, not FX's 0.0001) */
	CHECK(f->decp_pip(L"EURUSD") == 10 && f->decp_pip(L"USDJPY") == 1000 &&
	      f->decp_pip(L"XAUUSD.m") == 10000 && f->decp_pip(L"xagusd") == 1000 &&
	      f->decp_pip(L"BTCUSD") == 100000, "pip: EURUSD, USDJPY, XAUUSD.m, xagusd, BTCUSD");
	CHECK(f->decp_pip(L"NOSUCH") == 0 && f->decp_pip(L"") == DECP_E_INVAL &&
	      f->decp_pip(NULL) == DECP_E_INVAL, "pip: unknown 0, empty or NULL refused");
}

/* ------------------------------------------------------------------ crypto -- */

static void t_crypto(const struct decp_fns *f)
{
	/* RFC 4231 test case 2 */
	static const uint8_t want[32] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
		0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
		0x64, 0xec, 0x38, 0x43,
	};
	const char *msg = "what do ya want for nothing?";
	const struct dll_vec *seed = V("seed"), *pub = V("pub"), *body = V("body1"), *sig = V("sig1");
	uint8_t mac[32], p[32], sg[64], bad[64], big[5000] = { 0 };

	CHECK(f->decp_hmac_sha256((const uint8_t *)"Jefe", 4, (const uint8_t *)msg,
				  (int)strlen(msg), mac, 32) == 32 && memcmp(mac, want, 32) == 0,
	      "HMAC-SHA256 RFC 4231 #2");
	CHECK(f->decp_hmac_sha256(NULL, 0, NULL, 0, mac, 32) == 32, "HMAC empty key and message");
	CHECK(f->decp_hmac_sha256(NULL, 4, (const uint8_t *)msg, 3, mac, 32) == DECP_E_INVAL,
	      "HMAC NULL key");
	CHECK(f->decp_hmac_sha256(big, 4, NULL, 3, mac, 32) == DECP_E_INVAL, "HMAC NULL msg");
	CHECK(f->decp_hmac_sha256(big, -1, big, 3, mac, 32) == DECP_E_INVAL, "HMAC negative len");
	CHECK(f->decp_hmac_sha256(big, 4, big, -5, mac, 32) == DECP_E_INVAL, "HMAC negative len");
	CHECK(f->decp_hmac_sha256(big, 4, big, 3, mac, 31) == DECP_E_NOBUFS, "HMAC short mac");
	CHECK(f->decp_hmac_sha256(big, 4, big, 3, NULL, 32) == DECP_E_INVAL, "HMAC NULL mac");
	CHECK(f->decp_hmac_sha256(big, 4097, big, 3, mac, 32) == DECP_E_INVAL, "HMAC key too long");

	CHECK(f->decp_ed25519_public(seed->b, 32, p, 32) == 32 && same(p, 32, pub),
	      "public key equals OpenSSL's");
	CHECK(f->decp_ed25519_sign(seed->b, 32, body->b, body->n, sg, 64) == 64 &&
	      same(sg, 64, sig), "signature equals OpenSSL's (Ed25519 is deterministic)");
	CHECK(f->decp_ed25519_verify(pub->b, 32, body->b, body->n, sig->b, 64) == DECP_OK,
	      "OpenSSL's signature verifies");
	memcpy(bad, sig->b, 64);
	bad[10] ^= 4;
	CHECK(f->decp_ed25519_verify(pub->b, 32, body->b, body->n, bad, 64) == DECP_E_BADSIG,
	      "flipped signature refused");
	CHECK(f->decp_ed25519_verify(pub->b, 32, body->b, body->n - 1, sig->b, 64) ==
	      DECP_E_BADSIG, "shortened message refused");
	CHECK(f->decp_ed25519_verify(pub->b, 32, body->b, body->n, sig->b, 63) == DECP_E_BADSIG,
	      "short signature refused");
	memset(bad, 0xff, 32);
	CHECK(f->decp_ed25519_verify(bad, 32, body->b, body->n, sig->b, 64) == DECP_E_BADSIG,
	      "public key that is not a point");
	CHECK(f->decp_ed25519_verify(NULL, 32, body->b, body->n, sig->b, 64) == DECP_E_INVAL,
	      "verify NULL pub");
	CHECK(f->decp_ed25519_verify(pub->b, 31, body->b, body->n, sig->b, 64) == DECP_E_INVAL,
	      "verify pub_len 31");
	CHECK(f->decp_ed25519_verify(pub->b, 32, NULL, 5, sig->b, 64) == DECP_E_INVAL,
	      "verify NULL msg");
	CHECK(f->decp_ed25519_verify(pub->b, 32, body->b, body->n, NULL, 64) == DECP_E_INVAL,
	      "verify NULL sig");
	CHECK(f->decp_ed25519_sign(NULL, 32, body->b, 3, sg, 64) == DECP_E_INVAL, "sign NULL");
	CHECK(f->decp_ed25519_sign(seed->b, 33, body->b, 3, sg, 64) == DECP_E_INVAL, "sign 33");
	CHECK(f->decp_ed25519_sign(seed->b, 32, body->b, 3, sg, 63) == DECP_E_NOBUFS, "sign 63");
	CHECK(f->decp_ed25519_sign(seed->b, 32, body->b, -3, sg, 64) == DECP_E_INVAL, "sign -3");
	CHECK(f->decp_ed25519_public(seed->b, 32, p, 31) == DECP_E_NOBUFS, "public 31");
	CHECK(f->decp_ed25519_public(seed->b, 0, p, 32) == DECP_E_INVAL, "public 0");
	CHECK(f->decp_ed25519_public(seed->b, 32, NULL, 32) == DECP_E_INVAL, "public NULL");
}

/* ------------------------------------------------------------------ master -- */

static void t_master(const struct decp_fns *f)
{
	const struct dll_vec *seed = V("seed"), *secret = V("secret");
	uint8_t out[4200], small[8];
	int64_t h, fields[8];
	int n;

	CHECK(f->decp_master_new(0, secret->b, 32, seed->b, 32) == DECP_E_INVAL, "master id 0");
	CHECK(f->decp_master_new(7, NULL, 32, seed->b, 32) == DECP_E_INVAL, "master NULL key");
	CHECK(f->decp_master_new(7, secret->b, 0, seed->b, 32) == DECP_E_INVAL, "master key 0");
	CHECK(f->decp_master_new(7, secret->b, 32, seed->b, 31) == DECP_E_INVAL, "master seed 31");
	CHECK(f->decp_master_new(7, secret->b, 32, NULL, 32) == DECP_E_INVAL, "master NULL seed");
	h = f->decp_master_new(7, secret->b, 32, seed->b, 32);
	CHECK(h > 0, "master handle %lld", (long long)h);

	/* protocol 2's login: Hello without the token, then the proof for ingest's nonce */
	n = f->decp_master_hello(h, L"DecpMaster/1", out, sizeof(out));
	CHECK(same(out, n, V("hello")), "Hello frame (version 2, no token) equals protobuf-c's (%d)",
	      n);
	CHECK(f->decp_master_hello(h, L"", out, sizeof(out)) > 0, "empty client version");
	CHECK(f->decp_master_hello(h, L"v\x00e9", out, sizeof(out)) == DECP_E_INVAL,
	      "non-ASCII version");
	CHECK(f->decp_master_hello(h, NULL, out, sizeof(out)) == DECP_E_INVAL, "NULL version");
	CHECK(f->decp_master_hello(h, L"v", small, sizeof(small)) == DECP_E_NOBUFS,
	      "hello short buffer");
	CHECK(f->decp_master_hello(h, L"v", NULL, 100) == DECP_E_INVAL, "hello NULL out");
	CHECK(f->decp_master_hello(h + 1, L"v", out, sizeof(out)) == DECP_E_HANDLE,
	      "hello bad handle");
	{
		const struct dll_vec *ch = V("challenge"), *chs = V("challenge_short");
		uint8_t bad[128];
		int64_t h8 = f->decp_master_new(8, secret->b, 32, seed->b, 32);

		CHECK(f->decp_ingest_decode(ch->b, ch->n, fields, 4) == 6 && fields[0] == 32 &&
		      fields[1] == 2, "ServerChallenge decoded (nonce length 32, protocol 2)");
		n = f->decp_master_login_proof(h, L"tok-mt5-1", ch->b, ch->n, out, sizeof(out));
		CHECK(same(out, n, V("login_proof")),
		      "LoginProof equals proto_login_proof (OpenSSL) + protobuf-c (%d)", n);
		n = f->decp_master_login_proof(h8, L"tok-mt5-1", ch->b, ch->n, out, sizeof(out));
		CHECK(same(out, n, V("login_proof_m8")), "the proof binds the master id (%d)", n);
		n = f->decp_master_login_proof(h, L"tok-mt5-2", ch->b, ch->n, out, sizeof(out));
		CHECK(n == V("login_proof")->n && !same(out, n, V("login_proof")),
		      "another token, another proof");
		memcpy(bad, ch->b, (size_t)ch->n);
		bad[ch->n - 3] ^= 1; /* a nonce byte (protocol_version is last, 2 bytes) */
		n = f->decp_master_login_proof(h, L"tok-mt5-1", bad, ch->n, out, sizeof(out));
		CHECK(n == V("login_proof")->n && !same(out, n, V("login_proof")),
		      "another nonce, another proof");
		CHECK(f->decp_master_login_proof(h, L"tok-mt5-1", chs->b, chs->n, out,
						 sizeof(out)) == DECP_E_MALFORMED, "31-byte nonce");
		CHECK(f->decp_master_login_proof(h, L"tok-mt5-1", V("hello_ack")->b,
						 V("hello_ack")->n, out, sizeof(out)) ==
		      DECP_E_MALFORMED, "a HelloAck is not a challenge");
		CHECK(f->decp_master_login_proof(h, L"tok-mt5-1", ch->b, ch->n - 1, out,
						 sizeof(out)) == DECP_E_MALFORMED,
		      "truncated challenge");
		CHECK(f->decp_master_login_proof(h, L"tok-mt5-1", ch->b, 0, out, sizeof(out)) ==
		      DECP_E_MALFORMED, "empty challenge");
		CHECK(f->decp_master_login_proof(h, L"", ch->b, ch->n, out, sizeof(out)) ==
		      DECP_E_INVAL, "empty token");
		CHECK(f->decp_master_login_proof(h, L"to ken", ch->b, ch->n, out, sizeof(out)) ==
		      DECP_E_INVAL, "token with a space");
		CHECK(f->decp_master_login_proof(h, L"t\x00e9", ch->b, ch->n, out, sizeof(out)) ==
		      DECP_E_INVAL, "non-ASCII token");
		CHECK(f->decp_master_login_proof(h, NULL, ch->b, ch->n, out, sizeof(out)) ==
		      DECP_E_INVAL, "NULL token");
		CHECK(f->decp_master_login_proof(h, L"tok", NULL, 5, out, sizeof(out)) ==
		      DECP_E_INVAL, "NULL challenge");
		CHECK(f->decp_master_login_proof(h, L"tok", ch->b, -1, out, sizeof(out)) ==
		      DECP_E_INVAL, "negative length");
		CHECK(f->decp_master_login_proof(h, L"tok", ch->b, ch->n, NULL, 64) ==
		      DECP_E_INVAL, "proof NULL out");
		CHECK(f->decp_master_login_proof(h, L"tok", ch->b, ch->n, out, 39) ==
		      DECP_E_NOBUFS, "proof short buffer (needs 40)");
		/* another generation of h's slot (h + 1 would be h8's slot) */
		CHECK(f->decp_master_login_proof(h + 0x10000, L"tok", ch->b, ch->n, out,
						 sizeof(out)) == DECP_E_HANDLE, "proof bad handle");
		for (int i = 0; i < 2000; i++) {
			int bl = (int)(rnd() % sizeof(bad)), k;

			for (int j = 0; j < bl; j++)
				bad[j] = (uint8_t)rnd();
			if (i % 2 == 0 && ch->n <= bl) { /* a mutated challenge */
				memcpy(bad, ch->b, (size_t)ch->n);
				bad[rnd() % (uint64_t)ch->n] ^= (uint8_t)(1u << (rnd() % 8));
			}
			k = f->decp_master_login_proof(h, L"tok", bad, bl, out, sizeof(out));
			if (!(k == DECP_E_MALFORMED || k == 40))
				CHECK(0, "login proof of garbage gave %d", k);
		}
		CHECK(f->decp_handle_free(h8) == DECP_OK, "master 8 freed");
	}

	n = f->decp_master_signal(h, 1, L"EURUSD", 1, 10, 108512, 108012, 109512, 901,
				  T0 - 5 * MS, 0, out, sizeof(out));
	CHECK(same(out, n, V("signal1")),
	      "signed Signal frame equals proto_signal_seal + protobuf-c (%d)", n);
	n = f->decp_master_signal(h, 2, L"EURUSD", 8, 0, 108512, 108012, 109512, 902,
				  T0 - 5 * MS, 0, out, sizeof(out));
	CHECK(same(out, n, V("signal2")), "MODIFY frame equals protobuf-c's (%d)", n);
	CHECK(f->decp_master_signal(h, 0, L"EURUSD", 1, 10, 1, 0, 0, 901, 1, 0, out,
				    sizeof(out)) == DECP_E_INVAL, "sequence 0");
	CHECK(f->decp_master_signal(h, 1, L"", 1, 10, 1, 0, 0, 901, 1, 0, out, sizeof(out)) ==
	      DECP_E_INVAL, "empty symbol");
	CHECK(f->decp_master_signal(h, 1, L"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", 1, 10, 1, 0, 0,
				    901, 1, 0, out, sizeof(out)) == DECP_E_INVAL, "33-char symbol");
	CHECK(f->decp_master_signal(h, 1, L"EURUSD", 0, 10, 1, 0, 0, 901, 1, 0, out,
				    sizeof(out)) == DECP_E_INVAL, "order type 0");
	CHECK(f->decp_master_signal(h, 1, L"EURUSD", 10, 10, 1, 0, 0, 901, 1, 0, out,
				    sizeof(out)) == DECP_E_INVAL, "order type 10");
	CHECK(f->decp_master_signal(h, 1, L"EURUSD", 1, 0, 1, 0, 0, 901, 1, 0, out,
				    sizeof(out)) == DECP_E_INVAL, "BUY of volume 0");
	CHECK(f->decp_master_signal(h, 1, L"EURUSD", 1, 10, -1, 0, 0, 901, 1, 0, out,
				    sizeof(out)) == DECP_E_INVAL, "negative price");
	CHECK(f->decp_master_signal(h, 1, L"EURUSD", 1, 10, 1, 0, 0, 0, 1, 0, out,
				    sizeof(out)) == DECP_E_INVAL, "ticket 0");
	CHECK(f->decp_master_signal(h, 1, L"EURUSD", 1, 10, 1, 0, 0, 901, 0, 0, out,
				    sizeof(out)) == DECP_E_INVAL, "master time 0");
	CHECK(f->decp_master_signal(h, 1, NULL, 1, 10, 1, 0, 0, 901, 1, 0, out, sizeof(out)) ==
	      DECP_E_INVAL, "NULL symbol");
	CHECK(f->decp_master_signal(h, 1, L"EURUSD", 1, 10, 1, 0, 0, 901, 1, 0, small,
				    sizeof(small)) == DECP_E_NOBUFS, "signal short buffer");
	CHECK(f->decp_master_signal(h, 1, L"EURUSD", 1, 10, 1, 0, 0, 901, 1, 0, out, -1) ==
	      DECP_E_INVAL, "signal negative cap");
	n = f->decp_master_heartbeat(T0, out, sizeof(out));
	CHECK(same(out, n, V("heartbeat")), "Heartbeat frame equals protobuf-c's");
	CHECK(f->decp_master_heartbeat(T0, small, 3) == DECP_E_NOBUFS, "heartbeat short");
	CHECK(f->decp_master_heartbeat(T0, NULL, 30) == DECP_E_INVAL, "heartbeat NULL");

	/* framing */
	CHECK(f->decp_frame_split(V("signal1")->b, V("signal1")->n, DECP_FRAME_MAX) ==
	      V("signal1")->n, "frame split: whole frame");
	CHECK(f->decp_frame_split(V("signal1")->b, V("signal1")->n - 1, DECP_FRAME_MAX) == 0,
	      "frame split: one byte short");
	CHECK(f->decp_frame_split(V("signal1")->b, 3, DECP_FRAME_MAX) == 0, "frame split: 3 bytes");
	CHECK(f->decp_frame_split((const uint8_t *)"\0\0\0\0", 4, 4096) == DECP_E_MSGSIZE,
	      "frame split: length 0");
	CHECK(f->decp_frame_split((const uint8_t *)"\0\0\x10\x01", 4, 4096) == DECP_E_MSGSIZE,
	      "frame split: 4097");
	CHECK(f->decp_frame_split(NULL, 4, 4096) == DECP_E_INVAL, "frame split NULL");
	CHECK(f->decp_frame_split(out, -4, 4096) == DECP_E_INVAL, "frame split negative");
	CHECK(f->decp_frame_split(out, 4, 0) == DECP_E_INVAL, "frame split max 0");
	CHECK(f->decp_frame_split(out, 4, 5000) == DECP_E_INVAL, "frame split max 5000");

	/* ingest replies */
	CHECK(f->decp_ingest_decode(V("hello_ack")->b, V("hello_ack")->n, fields, 8) == 1 &&
	      fields[0] == 5 && fields[1] == T0 && fields[2] == 1 && fields[3] == 4096,
	      "HelloAck decoded");
	CHECK(f->decp_ingest_decode(V("ack")->b, V("ack")->n, fields, 4) == 2 && fields[0] == 5 &&
	      fields[1] == T0 && fields[2] == 1, "Ack decoded");
	CHECK(f->decp_ingest_decode(V("nack")->b, V("nack")->n, fields, 4) == 3 &&
	      fields[0] == 9 && fields[1] == 1 && fields[2] == 6, "Nack GAP decoded");
	CHECK(f->decp_ingest_decode(V("ack")->b, V("ack")->n, fields, 3) == DECP_E_INVAL,
	      "ingest nfields 3");
	CHECK(f->decp_ingest_decode(NULL, 5, fields, 4) == DECP_E_INVAL, "ingest NULL");
	CHECK(f->decp_ingest_decode(V("ack")->b, 0, fields, 4) == DECP_E_MALFORMED, "ingest empty");
	CHECK(f->decp_ingest_decode(V("ack")->b, V("ack")->n - 1, fields, 4) == DECP_E_MALFORMED,
	      "ingest truncated");
	CHECK(f->decp_ingest_decode(V("ack")->b, V("ack")->n, NULL, 4) == DECP_E_INVAL,
	      "ingest NULL fields");
	for (int i = 0; i < 5000; i++) {
		uint8_t g[64];
		int gl = (int)(rnd() % sizeof(g)), k;

		for (int j = 0; j < gl; j++)
			g[j] = (uint8_t)rnd();
		k = f->decp_ingest_decode(g, gl, fields, 4);
		if (!(k == DECP_E_MALFORMED || (k >= 1 && k <= 6)))
			CHECK(0, "ingest garbage gave %d", k);
		k = f->decp_frame_split(g, gl, 1 + (int32_t)(rnd() % 4096));
		if (!(k == DECP_E_MSGSIZE || (k >= 0 && k <= gl)))
			CHECK(0, "frame split garbage gave %d", k);
	}
	CHECK(f->decp_rx_subscribe(h, out, sizeof(out)) == DECP_E_HANDLE,
	      "master handle used as a receiver");
	CHECK(f->decp_handle_free(h) == DECP_OK, "master freed");
	CHECK(f->decp_handle_free(h) == DECP_E_HANDLE, "double free refused");
	CHECK(f->decp_master_heartbeat(T0, out, sizeof(out)) > 0, "heartbeat needs no handle");
	CHECK(f->decp_master_hello(h, L"v", out, sizeof(out)) == DECP_E_HANDLE,
	      "use after free refused");
}

/* ------------------------------------------------------------- websocket -- */

/* Unmasks a client frame (from decp_ws_encode / decp_rx_*) into payload; returns its
 * length or -1. */
static int unmask(const uint8_t *fr, int n, uint8_t *payload)
{
	int off = 2, len;

	if (n < 6 || fr[0] != 0x82 || (fr[1] & 0x80) == 0)
		return -1;
	len = fr[1] & 0x7f;
	if (len == 126) {
		len = fr[2] << 8 | fr[3];
		off = 4;
	}
	if (off + 4 + len != n)
		return -1;
	for (int i = 0; i < len; i++)
		payload[i] = fr[off + 4 + i] ^ fr[off + (i & 3)];
	return len;
}

int dll_unmask(const uint8_t *fr, int n, uint8_t *payload)
{
	return unmask(fr, n, payload);
}

static void t_ws(const struct decp_fns *f)
{
	uint8_t out[512], pl[512];
	int64_t info[4];
	static const uint8_t text3[] = { 0x81, 0x03, 'a', 'b', 'c', 0x82 };
	uint8_t f126[4 + 200];
	int n;

	CHECK(f->decp_ws_decode(text3, 5, info, 4) == 5 && info[0] == 1 && info[1] == 2 &&
	      info[2] == 3 && info[3] == 1, "text frame decoded");
	CHECK(f->decp_ws_decode(text3, 4, info, 4) == 0, "incomplete frame");
	CHECK(f->decp_ws_decode(text3, 1, info, 4) == 0, "one byte");
	f126[0] = 0x02; /* binary, FIN clear (a fragment) */
	f126[1] = 126;
	f126[2] = 0;
	f126[3] = 200;
	memset(f126 + 4, 7, 200);
	CHECK(f->decp_ws_decode(f126, sizeof(f126), info, 4) == 204 && info[1] == 4 &&
	      info[2] == 200 && info[3] == 0, "16-bit length, fragment reported");
	f126[3] = 100;
	CHECK(f->decp_ws_decode(f126, sizeof(f126), info, 4) == DECP_E_MALFORMED,
	      "non-minimal length refused");
	{
		static const uint8_t masked[] = { 0x82, 0x81, 1, 2, 3, 4, 5 };
		static const uint8_t rsv[] = { 0xc2, 0x00 };
		static const uint8_t op3[] = { 0x83, 0x00 };
		static const uint8_t bigping[] = { 0x89, 126, 0, 200 };
		static const uint8_t fragping[] = { 0x09, 0 };
		static const uint8_t huge[] = { 0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 1 };

		CHECK(f->decp_ws_decode(masked, sizeof(masked), info, 4) == DECP_E_MALFORMED,
		      "masked server frame refused");
		CHECK(f->decp_ws_decode(rsv, 2, info, 4) == DECP_E_MALFORMED, "RSV bits refused");
		CHECK(f->decp_ws_decode(op3, 2, info, 4) == DECP_E_MALFORMED, "opcode 3 refused");
		CHECK(f->decp_ws_decode(bigping, 4, info, 4) == DECP_E_MALFORMED, "ping of 200");
		CHECK(f->decp_ws_decode(fragping, 2, info, 4) == DECP_E_MALFORMED, "fragmented ping");
		CHECK(f->decp_ws_decode(huge, sizeof(huge), info, 4) == DECP_E_MALFORMED,
		      "payload over 1 MiB refused");
	}
	CHECK(f->decp_ws_decode(NULL, 5, info, 4) == DECP_E_INVAL, "ws decode NULL");
	CHECK(f->decp_ws_decode(text3, 5, info, 3) == DECP_E_INVAL, "ws decode ninfo 3");
	CHECK(f->decp_ws_decode(text3, -5, info, 4) == DECP_E_INVAL, "ws decode negative");

	n = f->decp_ws_encode(2, (const uint8_t *)"hello", 5, out, sizeof(out));
	CHECK(n == 11 && unmask(out, n, pl) == 5 && memcmp(pl, "hello", 5) == 0,
	      "binary frame encoded, masked");
	CHECK(f->decp_ws_decode(out, n, info, 4) == DECP_E_MALFORMED,
	      "our own (masked) frame is not a server frame");
	n = f->decp_ws_encode(2, f126 + 4, 200, out, sizeof(out));
	CHECK(n == 208 && unmask(out, n, pl) == 200 && memcmp(pl, f126 + 4, 200) == 0,
	      "200-byte frame encoded");
	CHECK(f->decp_ws_encode(9, f126, 126, out, sizeof(out)) == DECP_E_INVAL, "ping of 126");
	CHECK(f->decp_ws_encode(3, f126, 1, out, sizeof(out)) == DECP_E_INVAL, "opcode 3");
	CHECK(f->decp_ws_encode(-1, f126, 1, out, sizeof(out)) == DECP_E_INVAL, "opcode -1");
	CHECK(f->decp_ws_encode(2, f126, 100, out, 50) == DECP_E_NOBUFS, "encode short buffer");
	CHECK(f->decp_ws_encode(2, NULL, 100, out, 500) == DECP_E_INVAL, "encode NULL payload");
	CHECK(f->decp_ws_encode(2, f126, 10, NULL, 500) == DECP_E_INVAL, "encode NULL out");
	for (int i = 0; i < 5000; i++) {
		uint8_t g[64];
		int gl = (int)(rnd() % sizeof(g)), k;

		for (int j = 0; j < gl; j++)
			g[j] = (uint8_t)rnd();
		k = f->decp_ws_decode(g, gl, info, 4);
		if (!(k == DECP_E_MALFORMED || (k >= 0 && k <= gl)))
			CHECK(0, "ws decode garbage gave %d", k);
	}
}

/* --------------------------------------------------------------- receiver -- */

static int64_t view[12];

/* The order type of the envelope rx_message decoded last (0: none). */
static int64_t g_env_type;

int32_t rx_message(const struct decp_fns *f, int64_t rx, const uint8_t *payload, int32_t len,
		   int64_t now, int64_t *info, int32_t ninfo, uint8_t *sym, int32_t cap)
{
	int32_t k = f->decp_rx_message(rx, payload, len, now, info, ninfo, sym, cap);

	if (k == 1)
		g_env_type = info[2];
	return k;
}

int32_t rx_check(const struct decp_fns *f, int64_t rx, int64_t now, const int64_t *v,
		 int32_t nview, int64_t *verdict, int32_t nverdict, uint8_t *osym, int32_t cap)
{
	int64_t w[16];

	if (v == NULL || nview < 10 || nview > 16)
		return f->decp_rx_check(rx, now, v, nview, verdict, nverdict, osym, cap);
	memcpy(w, v, sizeof(*w) * (size_t)nview);
	if (g_env_type >= 1 && g_env_type <= 6) /* BUY .. SELL_STOP: an opening */
		w[9] = 0;
	return f->decp_rx_check(rx, now, w, nview, verdict, nverdict, osym, cap);
}

static void quote_at(int64_t price)
{
	view[0] = price - 1; /* bid */
	view[1] = price + 1; /* ask */
	view[2] = 1;         /* vol_min 0.01 */
	view[3] = 10000;     /* vol_max */
	view[4] = 1;         /* vol_step */
	view[5] = 100000;    /* pip value: 10.0000 per pip per lot */
	view[6] = INT64_C(100000000); /* wallet 10,000.0000 */
	view[7] = 0;
	view[8] = INT64_C(100000000);
	view[9] = 1; /* the copied position exists (MODIFY/CLOSE) */
	view[10] = 10;
	view[11] = 10;
}

/* True when the n bytes of w occur in p[0..len). */
static int has_bytes(const uint8_t *p, int len, const uint8_t *w, int n)
{
	for (int i = 0; i + n <= len; i++)
		if (memcmp(p + i, w, (size_t)n) == 0)
			return 1;
	return 0;
}

static void t_rx(const struct decp_fns *f)
{
	const struct dll_vec *pub = V("pub");
	uint8_t out[1024], pl[512], sym[40], osym[40];
	int64_t h, info[12], verdict[16], st[6];
	int n, k;

	CHECK(f->decp_rx_new(0, pub->b, 32, 0, 0) == DECP_E_INVAL, "rx master 0");
	CHECK(f->decp_rx_new(7, NULL, 32, 0, 0) == DECP_E_INVAL, "rx NULL pub");
	CHECK(f->decp_rx_new(7, pub->b, 31, 0, 0) == DECP_E_INVAL, "rx pub 31");
	CHECK(f->decp_rx_new(7, pub->b, 32, -1, 0) == DECP_E_INVAL, "rx last_seq -1");
	CHECK(f->decp_rx_new(7, pub->b, 32, 0, -1) == DECP_E_INVAL, "rx ttl -1");
	h = f->decp_rx_new(7, pub->b, 32, 0, 0);
	CHECK(h > 0, "rx handle");

	CHECK(f->decp_rx_policy(h, 2, 1000, 0, 1, 1, 1, 300, L"", L"") == DECP_OK, "policy");
	CHECK(f->decp_rx_policy(h, 5, 1000, 0, 1, 1, 1, 300, L"", L"") == DECP_E_INVAL,
	      "lot mode 5");
	CHECK(f->decp_rx_policy(h, 2, 0, 0, 1, 1, 1, 300, L"", L"") == DECP_E_INVAL, "lot 0");
	CHECK(f->decp_rx_policy(h, 2, 1000, 2, 1, 1, 1, 300, L"", L"") == DECP_E_INVAL,
	      "reverse 2");
	CHECK(f->decp_rx_policy(h, 2, 1000, 0, 1, 1, 1, 0, L"", L"") == DECP_E_INVAL, "dev 0");
	CHECK(f->decp_rx_policy(h, 2, 1000, 0, 1, 1, 1, 300, L"", L"123456789012") ==
	      DECP_E_INVAL, "suffix of 12");
	CHECK(f->decp_rx_policy(h, 2, 1000, 0, 1, 1, 1, 300, NULL, L"") == DECP_E_INVAL,
	      "NULL prefix");
	CHECK(f->decp_rx_policy(h, 2, 1000, 0, 1, 1, 1, 300, L"", L".m") == DECP_OK,
	      "suffix .m");

	/* the upgrade */
	CHECK(f->decp_ws_response(h, (const uint8_t *)"HTTP/1.1 101\r\n\r\n", 16) == DECP_E_STATE,
	      "response before request");
	n = f->decp_ws_request(h, L"127.0.0.1", 8080, L"/", L"tok-1", out, sizeof(out));
	CHECK(n > 0 && strstr((char *)out, "Authorization: Bearer tok-1\r\n") != NULL &&
	      strstr((char *)out, "Sec-WebSocket-Protocol: decp\r\n") != NULL &&
	      strstr((char *)out, "Host: 127.0.0.1:8080\r\n") != NULL, "upgrade request");
	CHECK(f->decp_ws_request(h, L"host", 0, L"/", L"t", out, sizeof(out)) == DECP_E_INVAL,
	      "port 0");
	CHECK(f->decp_ws_request(h, L"host", 80, L"x", L"t", out, sizeof(out)) == DECP_E_INVAL,
	      "path without /");
	CHECK(f->decp_ws_request(h, L"host", 80, L"/", L"a b", out, sizeof(out)) == DECP_E_INVAL,
	      "token with a space");
	CHECK(f->decp_ws_request(h, L"host", 80, L"/", L"t", out, 20) == DECP_E_NOBUFS,
	      "request short buffer");
	CHECK(f->decp_ws_request(h, NULL, 80, L"/", L"t", out, sizeof(out)) == DECP_E_INVAL,
	      "NULL host");
	CHECK(f->decp_ws_response(h, (const uint8_t *)"HTTP/1.1 101 Switching", 22) == 0,
	      "incomplete response");
	CHECK(f->decp_ws_response(h, (const uint8_t *)"HTTP/1.1 401 No\r\n\r\n", 19) ==
	      DECP_E_HANDSHAKE, "401 refused");
	{
		const char *r = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

		CHECK(f->decp_ws_response(h, (const uint8_t *)r, (int)strlen(r)) ==
		      DECP_E_HANDSHAKE, "wrong accept refused");
	}
	CHECK(f->decp_ws_response(h, NULL, 10) == DECP_E_INVAL, "response NULL");
	for (int i = 0; i < 2000; i++) {
		uint8_t g[64];
		int gl = (int)(rnd() % sizeof(g));

		for (int j = 0; j < gl; j++)
			g[j] = (uint8_t)rnd();
		k = f->decp_ws_response(h, g, gl);
		if (!(k == 0 || k == DECP_E_HANDSHAKE))
			CHECK(0, "response garbage gave %d", k);
	}

	/* subscribe and clock */
	n = f->decp_rx_subscribe(h, out, sizeof(out));
	k = unmask(out, n, pl);
	CHECK(same(pl, k, V("subscribe")), "Subscribe{7, from 1} equals protobuf-c's");
	CHECK(f->decp_rx_subscribe(h, out, 4) == DECP_E_NOBUFS, "subscribe short");
	n = f->decp_rx_time_ping(h, T0 - 2 * MS, out, sizeof(out));
	CHECK(n > 0 && unmask(out, n, pl) > 0, "TimePing frame");
	CHECK(rx_message(f, h, V("pong")->b, V("pong")->n, T0, info, 12, sym, 40) == 4 &&
	      info[0] > -2 * MS && info[0] < 2 * MS && info[1] == 2 * MS,
	      "TimePong: offset %lld rtt %lld", (long long)info[0], (long long)info[1]);
	CHECK(f->decp_rx_state(h, st, 6) == DECP_OK && st[0] == 1 && st[1] == 0 && st[4] == 1 &&
	      st[5] == 1, "state: SYNCED, next 1, clock valid");
	CHECK(rx_message(f, h, V("sync_start")->b, V("sync_start")->n, T0, info, 12, sym,
				 40) == 2 && info[0] == 7 && info[1] == 1, "SyncStart");
	CHECK(rx_message(f, h, V("sync_end")->b, V("sync_end")->n, T0, info, 12, sym, 40) ==
	      3, "SyncEnd");
	CHECK(rx_message(f, h, V("state_change")->b, V("state_change")->n, T0, info, 12, sym,
				 40) == 5 && info[3] == 4, "StateChange to PAUSED_TOXIC reported");
	CHECK(rx_message(f, h, V("error")->b, V("error")->n, T0, info, 12, sym, 40) == 6 &&
	      info[0] == 5, "Error FORBIDDEN");

	/* no envelope yet */
	quote_at(108512);
	CHECK(rx_check(f, h, T0 + 10 * MS, view, 12, verdict, 16, osym, 40) == DECP_E_STATE,
	      "check without an envelope");
	CHECK(f->decp_rx_protection(h, T0, out, sizeof(out)) == DECP_E_STATE,
	      "protection before any check");

	/* a forged first signal: refused, nothing consumed */
	CHECK(rx_message(f, h, V("forged1")->b, V("forged1")->n, T0, info, 12, sym, 40) == 1,
	      "forged envelope decodes");
	k = rx_check(f, h, T0 + 10 * MS, view, 12, verdict, 16, osym, 40);
	CHECK(k == 7 && verdict[2] == 0, "forged signal: INVALID_SIGNATURE, not authenticated (%d)",
	      k);
	CHECK(f->decp_rx_state(h, st, 6) == DECP_OK && st[1] == 0 && st[0] == 1,
	      "forgery changed nothing");
	n = f->decp_rx_protection(h, T0 + 10 * MS, out, sizeof(out));
	CHECK(n > 0, "ProtectionEvent frame for the forgery");
	CHECK(f->decp_rx_report(h, 1, 10, 108512, 1, 10009, 0, T0, out, sizeof(out)) ==
	      DECP_E_STATE, "no report for a refused signal");

	/* the genuine one executes */
	CHECK(rx_message(f, h, V("envelope1")->b, V("envelope1")->n, T0, info, 12, sym,
				 40) == 1 && info[0] == 7 && info[1] == 1 && info[2] == 1 &&
	      info[3] == 10 && info[4] == 108512 && info[7] == 901 && info[8] == T0 &&
	      strcmp((char *)sym, "EURUSD.m") == 0, "envelope 1 decoded, symbol mapped (%s)", sym);
	{
		/* view[13], the broker's contract size (1e-4 units): the master's lots are
		 * the registry's 100,000 EUR; at a broker of 10,000-unit lots his 0.10 lot is
		 * 1.00 lot. A negative one is refused before the envelope is used. */
		int64_t v14[14];

		memcpy(v14, view, sizeof(view));
		v14[12] = 0;
		v14[13] = -1;
		CHECK(rx_check(f, h, T0 + 10 * MS, v14, 14, verdict, 16, osym, 40) ==
		      DECP_E_INVAL, "a negative contract size");
		v14[12] = -1;
		v14[13] = 0;
		CHECK(rx_check(f, h, T0 + 10 * MS, v14, 13, verdict, 16, osym, 40) ==
		      DECP_E_INVAL, "a negative quote rate");
		v14[12] = 0;
		v14[13] = INT64_C(10000) * 10000;
		k = rx_check(f, h, T0 + 10 * MS, v14, 14, verdict, 16, osym, 40);
	}
	CHECK(k == 0 && verdict[2] == 1 && verdict[3] == 1 && verdict[4] == 100 &&
	      verdict[9] == 1 && strcmp((char *)osym, "EURUSD.m") == 0,
	      "envelope 1: execute BUY 1.00 EURUSD.m of 10,000-unit lots (%d, volume %lld)", k,
	      (long long)verdict[4]);
	CHECK(rx_check(f, h, T0 + 10 * MS, view, 12, verdict, 16, osym, 40) == DECP_E_STATE,
	      "an envelope is checked once");
	n = f->decp_rx_report(h, 1, 10, 108513, 55501, 10009, 0, T0 + 20 * MS, out, sizeof(out));
	CHECK(n > 0, "ExecutionReport frame");
	CHECK(f->decp_rx_protection(h, T0, out, sizeof(out)) == DECP_E_STATE,
	      "no protection event for an execution");
	CHECK(f->decp_rx_report(h, 7, 10, 1, 1, 0, 0, T0, out, sizeof(out)) == DECP_E_INVAL,
	      "report status 7");

	/* replayed: REPLAY */
	rx_message(f, h, V("envelope1")->b, V("envelope1")->n, T0, info, 12, sym, 40);
	CHECK(rx_check(f, h, T0 + 10 * MS, view, 12, verdict, 16, osym, 40) == 1,
	      "the same envelope again: REPLAY");
	/* stale: TTL (500 ms); sent by a replay, so the guard claims PLATFORM_REPLAY (3) and
	 * echoes the send stamp (ProtectionEvent 11, 12) */
	CHECK(rx_message(f, h, V("envelope2_replay")->b, V("envelope2_replay")->n, T0, info,
				 12, sym, 40) == 1 && info[11] == 1, "replayed envelope flagged");
	CHECK(rx_check(f, h, T0 + 900 * MS, view, 12, verdict, 16, osym, 40) == 4,
	      "900 ms old: TTL_EXPIRED");
	n = f->decp_rx_protection(h, T0 + 900 * MS, out, sizeof(out));
	k = unmask(out, n, pl);
	CHECK(k > 0 && has_bytes(pl, k, (const uint8_t *)"\x58\x03", 2) &&
	      has_bytes(pl, k, (const uint8_t *)"\x60\xc0\x84\xd1\xd5\xe9\x94\x8a\xbf\x18", 10),
	      "TTL_EXPIRED reported with attribution PLATFORM_REPLAY and the send stamp");
	/* envelope 3 (CLOSE) executes */
	rx_message(f, h, V("envelope3")->b, V("envelope3")->n, T0, info, 12, sym, 40);
	CHECK(rx_check(f, h, T0 + 10 * MS, view, 12, verdict, 16, osym, 40) == 0 &&
	      verdict[3] == 7, "CLOSE executes");
	CHECK(f->decp_rx_state(h, st, 6) == DECP_OK && st[1] == 3 && st[2] == 3 && st[3] == 2 &&
	      st[4] == 4, "state: last 3, executed 2, next 4");

	/* bad input */
	CHECK(rx_check(f, h, T0, view, 11, verdict, 16, osym, 40) == DECP_E_INVAL, "nview 11");
	CHECK(rx_check(f, h, T0, view, 12, verdict, 15, osym, 40) == DECP_E_INVAL,
	      "nverdict 15");
	CHECK(rx_check(f, h, T0, view, 12, verdict, 16, osym, 10) == DECP_E_INVAL,
	      "symbol cap 10");
	CHECK(rx_check(f, h, T0, NULL, 12, verdict, 16, osym, 40) == DECP_E_INVAL,
	      "NULL view");
	CHECK(rx_message(f, h, NULL, 5, T0, info, 12, sym, 40) == DECP_E_INVAL,
	      "message NULL");
	CHECK(rx_message(f, h, V("pong")->b, V("pong")->n, T0, info, 11, sym, 40) ==
	      DECP_E_INVAL, "message ninfo 11");
	CHECK(rx_message(f, h, V("pong")->b, V("pong")->n, T0, info, 12, sym, 32) ==
	      DECP_E_INVAL, "message symbol cap 32");
	CHECK(rx_message(f, h, V("envelope1")->b, V("envelope1")->n - 3, T0, info, 12, sym,
				 40) == DECP_E_MALFORMED, "truncated envelope");
	CHECK(f->decp_rx_state(h, st, 5) == DECP_E_INVAL, "state n 5");
	CHECK(f->decp_rx_account(h, 1, -1, 1) == DECP_E_INVAL, "reserved -1");
	CHECK(f->decp_rx_account(h, 100, 0, 100) >= 0, "account update");
	for (int i = 0; i < 5000; i++) {
		uint8_t g[160];
		const struct dll_vec *e = V("envelope2");
		int gl;

		/* garbage, and the genuine envelope with a few bytes changed */
		if (i % 2) {
			gl = (int)(rnd() % sizeof(g));
			for (int j = 0; j < gl; j++)
				g[j] = (uint8_t)rnd();
		} else {
			gl = e->n < (int)sizeof(g) ? e->n : (int)sizeof(g);
			memcpy(g, e->b, (size_t)gl);
			for (int j = 0; j < 3; j++)
				g[rnd() % (uint64_t)gl] ^= (uint8_t)(1u << (rnd() % 8));
		}
		k = rx_message(f, h, g, gl, T0, info, 12, sym, 40);
		if (!(k == DECP_E_MALFORMED || (k >= 1 && k <= 8) || k == 10))
			CHECK(0, "message garbage gave %d", k);
		if (k == 1) {
			k = rx_check(f, h, T0 + 10 * MS, view, 12, verdict, 16, osym, 40);
			if (k == 0 && verdict[2] != 1)
				CHECK(0, "an unauthenticated envelope executed");
		}
	}
	CHECK(f->decp_rx_state(h, st, 6) == DECP_OK && st[3] == 2,
	      "mutated envelopes never executed (executed %lld)", (long long)st[3]);
	CHECK(f->decp_master_hello(h, L"v", out, sizeof(out)) == DECP_E_HANDLE,
	      "receiver handle used as a master");
	CHECK(f->decp_handle_free(h) == DECP_OK, "rx freed");
	CHECK(f->decp_rx_state(h, st, 6) == DECP_E_HANDLE, "rx use after free");
	/* every slot can be taken and given back; the table's end is reported */
	{
		int64_t hs[300];
		int got = 0;

		for (int i = 0; i < 300; i++) {
			hs[i] = f->decp_rx_new(7, pub->b, 32, 0, 0);
			got += hs[i] > 0;
		}
		CHECK(got == 256 && hs[299] == DECP_E_NOMEM, "256 handles, then DECP_E_NOMEM (%d)",
		      got);
		for (int i = 0; i < 300; i++)
			if (hs[i] > 0)
				f->decp_handle_free(hs[i]);
		hs[0] = f->decp_rx_new(7, pub->b, 32, 0, 0);
		CHECK(hs[0] > 0 && f->decp_handle_free(hs[0]) == DECP_OK, "slots reusable");
	}
}

/* Key rotation (docs/protocol.md "Key announcement"): the new key's signal is a forgery
 * until the announcement signed by the trusted key arrives; a forged announcement (signed
 * by the new key itself) changes nothing; afterwards the new key verifies and the old one
 * still does within the overlap. */
static void t_rx_keys(const struct decp_fns *f)
{
	const struct dll_vec *pub = V("pub");
	uint8_t out[256], sym[40], osym[40];
	int64_t h, info[12], verdict[16], st[6];
	int k;

	h = f->decp_rx_new(7, pub->b, 32, 0, 0);
	CHECK(h > 0, "keys: rx handle");
	CHECK(f->decp_rx_time_ping(h, T0 - 2 * MS, out, sizeof(out)) > 0 &&
	      rx_message(f, h, V("pong")->b, V("pong")->n, T0, info, 12, sym, 40) == 4,
	      "keys: clock");
	quote_at(108512);
	CHECK(rx_message(f, h, V("envelope1_newkey")->b, V("envelope1_newkey")->n, T0, info,
				 12, sym, 40) == 1 &&
	      rx_check(f, h, T0 + 10 * MS, view, 12, verdict, 16, osym, 40) == 7 &&
	      verdict[2] == 0, "keys: the new key's signal before any announcement: "
	      "INVALID_SIGNATURE");
	k = rx_message(f, h, V("key_announcement_forged")->b, V("key_announcement_forged")->n,
			       T0, info, 12, sym, 40);
	CHECK(k == 10 && info[0] == 7 && info[1] == -1,
	      "keys: announcement signed by the new key itself refused (%d, %lld)", k,
	      (long long)info[1]);
	CHECK(rx_message(f, h, V("envelope1_newkey")->b, V("envelope1_newkey")->n, T0, info,
				 12, sym, 40) == 1 &&
	      rx_check(f, h, T0 + 10 * MS, view, 12, verdict, 16, osym, 40) == 7,
	      "keys: still refused after the forged announcement");
	CHECK(f->decp_rx_state(h, st, 6) == DECP_OK && st[1] == 0, "keys: nothing consumed");
	k = rx_message(f, h, V("key_announcement")->b, V("key_announcement")->n, T0, info, 12,
			       sym, 40);
	CHECK(k == 10 && info[0] == 7 && info[1] == 1 && info[2] == T0 + INT64_C(3600000000000),
	      "keys: announcement signed by the trusted key accepted (%d, %lld)", k,
	      (long long)info[1]);
	k = rx_message(f, h, V("key_announcement")->b, V("key_announcement")->n, T0, info, 12,
			       sym, 40);
	CHECK(k == 10 && info[1] == 0, "keys: the same announcement again changes nothing");
	CHECK(rx_message(f, h, V("envelope1_newkey")->b, V("envelope1_newkey")->n, T0, info,
				 12, sym, 40) == 1 &&
	      rx_check(f, h, T0 + 10 * MS, view, 12, verdict, 16, osym, 40) == 0 &&
	      verdict[2] == 1, "keys: the new key's signal executes");
	view[9] = 1; /* MODIFY acts on the copied position */
	CHECK(rx_message(f, h, V("envelope2")->b, V("envelope2")->n, T0, info, 12, sym,
				 40) == 1 &&
	      rx_check(f, h, T0 + 10 * MS, view, 12, verdict, 16, osym, 40) == 0 &&
	      verdict[2] == 1, "keys: the old key's signal still executes within the overlap");
	CHECK(f->decp_handle_free(h) == DECP_OK, "keys: handle freed");
}

/* A ServerMessage{ReportAck{id}} as the fan-out sends it. Returns its length. */
static int report_ack(uint64_t id, uint8_t *b)
{
	int n = 3;

	b[0] = 0x3a; /* field 7, length-delimited */
	b[2] = 0x08; /* ReportAck.report_id, varint */
	for (; id >= 0x80; id >>= 7)
		b[n++] = (uint8_t)(id | 0x80);
	b[n++] = (uint8_t)id;
	b[1] = (uint8_t)(n - 2);
	return n;
}

/*
 * The server's copy policy (decp_rx_message kind 8) and the local policy that may only
 * narrow it; report ids kept until ReportAck and resent byte for byte; the broker account
 * (AccountState, the margin check); bad input to each of these exports.
 */
static void t_rx_policy(const struct decp_fns *f)
{
	const struct dll_vec *pub = V("pub");
	uint8_t out[1024], pl[1024], pl2[1024], sym[40], osym[40], text[256], ack[16];
	int64_t h, h2, info[12], verdict[16], st[16], pi[16];
	uint64_t id = ((uint64_t)((T0 + 20 * MS) / MS) << 22) + 1;
	int n, k, k2;

	h = f->decp_rx_new(7, pub->b, 32, 0, 0);
	CHECK(h > 0, "policy: rx handle");
	CHECK(f->decp_rx_policy(h, 2, 1000, 0, 1, 1, 0, 200, L"", L".r") == DECP_OK,
	      "policy: local policy (no pending orders, 2 pips, suffix .r)");
	CHECK(f->decp_rx_policy_info(h, pi, 16, text, sizeof(text)) == 0 && pi[4] == 1000 &&
	      pi[12] == 200 && strstr((char *)text, "suffix=.r") != NULL,
	      "policy: the local one in force before the server's (%s)", text);
	k = rx_message(f, h, V("policy_v1")->b, V("policy_v1")->n, T0, info, 12, sym, 40);
	CHECK(k == 8 && info[0] == 1 && info[1] == 1 && info[2] == 11 && info[3] == 7,
	      "policy: the server's version 1 applied (%d, %lld)", k, (long long)info[1]);
	CHECK(f->decp_rx_policy_info(h, pi, 16, text, sizeof(text)) == 1 && pi[1] == 11 &&
	      pi[2] == 2 && pi[4] == 2000 && pi[12] == 200 && (pi[11] & 8) == 0 &&
	      (pi[11] & 2) != 0 && strstr((char *)text, "suffix=.r") != NULL,
	      "policy: v1 narrowed by the local one: 2.0x (server), 2 pips and no pending orders "
	      "(local), the local suffix (%s)", text);
	CHECK(f->decp_rx_policy(h, 1, 50, 1, 0, 0, 1, 900, L"", L".r") == DECP_OK &&
	      f->decp_rx_policy_info(h, pi, 16, text, sizeof(text)) == 1 && pi[2] == 2 &&
	      pi[4] == 2000 && pi[7] == 0 && pi[8] == 1 && pi[9] == 1 && pi[12] == 500 &&
	      (pi[11] & 8) != 0,
	      "policy: a looser local policy loosens nothing (fixed lots, reverse, no SL/TP, "
	      "9 pips: the server's 2.0x, 5 pips, SL/TP)");
	f->decp_rx_policy(h, 2, 1000, 0, 1, 1, 0, 200, L"", L".r");
	CHECK(f->decp_rx_policy_info(h, pi, 16, text, 8) == 1 && strcmp((char *)text, "prefix=") == 0,
	      "policy: text cut short to its buffer (%s)", text);

	/* envelope 1 executes at 2.0x on EURUSD.r */
	CHECK(f->decp_rx_time_ping(h, T0 - 2 * MS, out, sizeof(out)) > 0 &&
	      rx_message(f, h, V("pong")->b, V("pong")->n, T0, info, 12, sym, 40) == 4,
	      "policy: clock");
	quote_at(108512);
	CHECK(rx_message(f, h, V("envelope1")->b, V("envelope1")->n, T0, info, 12, sym,
				 40) == 1 && strcmp((char *)sym, "EURUSD.r") == 0,
	      "policy: envelope 1 mapped to %s", sym);
	k = rx_check(f, h, T0 + 10 * MS, view, 12, verdict, 16, osym, 40);
	CHECK(k == 0 && verdict[4] == 20 && strcmp((char *)osym, "EURUSD.r") == 0,
	      "policy: BUY 0.20 EURUSD.r (v1: 2.0x; %d, %lld)", k, (long long)verdict[4]);

	/* the report: a report id, kept until acknowledged, resent byte for byte */
	n = f->decp_rx_report(h, 1, 20, 108513, 55501, 10009, 0, T0 + 20 * MS, out, sizeof(out));
	k = unmask(out, n, pl);
	CHECK(f->decp_rx_state(h, st, 11) == DECP_OK && st[6] == 1 && st[7] == 0 && st[9] == 1,
	      "reports: one unacknowledged, policy v1 in force");
	n = f->decp_rx_unacked(h, 0, out, sizeof(out));
	k2 = unmask(out, n, pl2);
	CHECK(k > 0 && k2 == k && memcmp(pl, pl2, (size_t)k) == 0, "reports: resent the same bytes");
	CHECK(f->decp_rx_unacked(h, 1, out, sizeof(out)) == 0, "reports: one kept");
	n = report_ack(id, ack);
	ack[2] = 0x70; /* the same varint as ExecutionReport.report_id (field 14) */
	CHECK(k > 0 && has_bytes(pl, k, ack + 2, n - 2), "reports: report_id 14 = %llu",
	      (unsigned long long)id);
	n = report_ack(id, ack);
	k = rx_message(f, h, ack, n, T0, info, 12, sym, 40);
	CHECK(k == 7 && (uint64_t)info[0] == id && info[1] == 1 &&
	      f->decp_rx_state(h, st, 11) == DECP_OK && st[6] == 0 && st[7] == 1,
	      "reports: ReportAck forgets it (%d)", k);
	CHECK(rx_message(f, h, ack, n, T0, info, 12, sym, 40) == 7 && info[1] == 0,
	      "reports: a repeated ReportAck changes nothing");

	/* v2 denies EURUSD: the modification (of no copy held) is FILTERED, reported, kept */
	k = rx_message(f, h, V("policy_v2")->b, V("policy_v2")->n, T0, info, 12, sym, 40);
	CHECK(k == 8 && info[0] == 2 && info[1] == 1 &&
	      f->decp_rx_policy_info(h, pi, 16, text, sizeof(text)) == 2 &&
	      strstr((char *)text, "deny=EURUSD") != NULL, "policy: v2 applied (%s)", text);
	rx_message(f, h, V("envelope2")->b, V("envelope2")->n, T0, info, 12, sym, 40);
	/* no copy held: a copy held would still be modified (a symbol denied after a copy
	 * opened never leaves it unmanaged, guard_policy_translate; CUnit guard_policy) */
	view[9] = 0;
	k = rx_check(f, h, T0 + 10 * MS, view, 12, verdict, 16, osym, 40);
	view[9] = 1;
	CHECK(k == 8, "policy: v2 denies EURUSD: FILTERED (%d)", k);
	CHECK(f->decp_rx_protection(h, T0 + 10 * MS, out, sizeof(out)) > 0 &&
	      f->decp_rx_state(h, st, 11) == DECP_OK && st[6] == 1,
	      "reports: the protection event kept");
	CHECK(rx_message(f, h, V("policy_v1")->b, V("policy_v1")->n, T0, info, 12, sym,
				 40) == 8 && info[1] == 0, "policy: an older version changes nothing");
	CHECK(rx_message(f, h, V("policy_bad")->b, V("policy_bad")->n, T0, info, 12, sym,
				 40) == 8 && info[1] == -1, "policy: an invalid one is refused");
	CHECK(rx_message(f, h, V("policy_other")->b, V("policy_other")->n, T0, info, 12, sym,
				 40) == 8 && info[1] == -1, "policy: another master's is refused");
	CHECK(f->decp_rx_policy_info(h, pi, 16, text, sizeof(text)) == 2, "policy: v2 stays");

	/* the broker account */
	CHECK(f->decp_rx_account_frame(h, T0, out, sizeof(out)) == DECP_E_STATE,
	      "account: no AccountState before decp_rx_account_state");
	CHECK(f->decp_rx_account_state(h, L"USD", 100, 1000000, 1005000, 20000, 985000, 2, 0) == 0,
	      "account: state");
	CHECK(f->decp_rx_account_position(h, 7, 901, L"EURUSD.r", 1, 20, 108512, 0, 0, 5000) == 1,
	      "account: a position queued");
	n = f->decp_rx_account_frame(h, T0, out, sizeof(out));
	k = unmask(out, n, pl);
	CHECK(same(pl, k, V("account_state")), "AccountState equals protobuf-c's");

	/* bad input to every export of this part */
	CHECK(f->decp_rx_policy_info(h, NULL, 16, text, 10) == DECP_E_INVAL &&
	      f->decp_rx_policy_info(h, pi, 15, text, 10) == DECP_E_INVAL &&
	      f->decp_rx_policy_info(h, pi, 16, NULL, 10) == DECP_E_INVAL &&
	      f->decp_rx_policy_info(h, pi, 16, text, 0) == DECP_E_INVAL &&
	      f->decp_rx_policy_info(h, pi, 16, text, 1) == 2 && text[0] == 0 &&
	      f->decp_rx_policy_info(12345, pi, 16, text, 10) == DECP_E_HANDLE,
	      "policy_info: bad input refused");
	CHECK(f->decp_rx_unacked(h, -1, out, sizeof(out)) == DECP_E_INVAL &&
	      f->decp_rx_unacked(h, 0, NULL, 10) == DECP_E_INVAL &&
	      f->decp_rx_unacked(h, 0, out, 4) == DECP_E_NOBUFS &&
	      f->decp_rx_unacked(12345, 0, out, sizeof(out)) == DECP_E_HANDLE,
	      "unacked: bad input refused");
	CHECK(f->decp_rx_account_state(h, NULL, 100, 1, 1, 0, 1, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_account_state(h, L"US", 100, 1, 1, 0, 1, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_account_state(h, L"usd", 100, 1, 1, 0, 1, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_account_state(h, L"USD", 0, 1, 1, 0, 1, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_account_state(h, L"USD", 100, -1, 1, 0, 1, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_account_state(h, L"USD", 100, 1, 1, -1, 1, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_account_state(h, L"USD", 100, 1, 1, 0, 1, -1, 0) == DECP_E_INVAL &&
	      f->decp_rx_account_state(h, L"USD", 100, 1, 1, 0, 1, 0, -1) == DECP_E_INVAL &&
	      f->decp_rx_account_state(12345, L"USD", 100, 1, 1, 0, 1, 0, 0) == DECP_E_HANDLE,
	      "account_state: bad input refused");
	CHECK(f->decp_rx_account_position(h, 7, 1, NULL, 1, 1, 1, 0, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_account_position(h, 7, 1, L"EUR USD", 1, 1, 1, 0, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_account_position(h, 7, 1, L"EURUSD", 10, 1, 1, 0, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_account_position(h, 7, 1, L"EURUSD", 1, -1, 1, 0, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_account_position(h, -7, 1, L"EURUSD", 1, 1, 1, 0, 0, 0) == DECP_E_INVAL &&
	      f->decp_rx_account_position(12345, 7, 1, L"EURUSD", 1, 1, 1, 0, 0, 0) ==
		      DECP_E_HANDLE, "account_position: bad input refused");
	for (k = 1; k <= DECP_RX_POSITIONS_MAX; k++)
		f->decp_rx_account_position(h, 7, k, L"EURUSD", 1, 1, 1, 0, 0, 0);
	CHECK(f->decp_rx_account_position(h, 7, 99, L"EURUSD", 1, 1, 1, 0, 0, 0) == DECP_E_NOBUFS,
	      "account_position: %d at most", DECP_RX_POSITIONS_MAX);
	CHECK(f->decp_rx_account_frame(h, T0, NULL, 10) == DECP_E_INVAL &&
	      f->decp_rx_account_frame(h, T0, out, 8) == DECP_E_NOBUFS &&
	      f->decp_rx_account_frame(12345, T0, out, sizeof(out)) == DECP_E_HANDLE,
	      "account_frame: bad input refused");
	n = f->decp_rx_account_frame(h, T0, out, sizeof(out));
	CHECK(n > 0 && n <= 1024 + 14, "account: 12 positions fit one frame (%d)", n);
	CHECK(f->decp_handle_free(h) == DECP_OK, "policy: handle freed");

	/* margin: 100.0000 USD free at 1:100 cannot carry 0.20 EURUSD (about 217 USD):
	 * INSUFFICIENT_MARGIN, the subscription stays SYNCED */
	h2 = f->decp_rx_new(7, pub->b, 32, 0, 0);
	int64_t cs[17];
	CHECK(h2 > 0 && f->decp_rx_state(h2, cs, 17) == DECP_OK && cs[16] == -1,
	      "state 16: no clock estimate yet, -1 (%lld)", (long long)cs[16]);
	CHECK(h2 > 0 && rx_message(f, h2, V("policy_v1")->b, V("policy_v1")->n, T0, info, 12,
					   sym, 40) == 8 &&
	      f->decp_rx_time_ping(h2, T0 - 2 * MS, out, sizeof(out)) > 0 &&
	      rx_message(f, h2, V("pong")->b, V("pong")->n, T0, info, 12, sym, 40) == 4 &&
	      f->decp_rx_account_state(h2, L"USD", 100, 1000000, 1000000, 0, 1000000, 0, 0) == 0,
	      "margin: a 100 USD account");
	CHECK(f->decp_rx_state(h2, cs, 17) == DECP_OK && cs[16] >= 0 && cs[16] <= 1 * MS,
	      "state 16: the pong's error bound, rtt / 2 of a 2 ms exchange (%lld ns)",
	      (long long)cs[16]);
	quote_at(108512);
	rx_message(f, h2, V("envelope1")->b, V("envelope1")->n, T0, info, 12, sym, 40);
	k = rx_check(f, h2, T0 + 10 * MS, view, 12, verdict, 16, osym, 40);
	CHECK(k == 10 && f->decp_rx_state(h2, st, 11) == DECP_OK && st[0] == 1 && st[1] == 1,
	      "margin: INSUFFICIENT_MARGIN (%d), SYNCED, sequence consumed", k);
	CHECK(f->decp_handle_free(h2) == DECP_OK, "margin: handle freed");

	/* equity protection from the server's policy, fed by the account: the floor trips,
	 * the EA is told to close everything (2) once, and no new exposure opens */
	h2 = f->decp_rx_new(7, pub->b, 32, 0, 0);
	CHECK(h2 > 0 && rx_message(f, h2, V("policy_floor")->b, V("policy_floor")->n, T0,
					   info, 12, sym, 40) == 8 && info[1] == 1 &&
	      f->decp_rx_account_state(h2, L"USD", 100, 2000000, 2000000, 0, 2000000, 0, 0) == 0 &&
	      f->decp_rx_account_state(h2, L"USD", 100, 2000000, 900000, 0, 900000, 0, 0) == 2 &&
	      f->decp_rx_account_state(h2, L"USD", 100, 2000000, 800000, 0, 800000, 0, 0) == 0 &&
	      f->decp_rx_state(h2, st, 11) == DECP_OK && st[10] == 1,
	      "equity: the server's floor trips once on the account's equity (close all)");
	CHECK(f->decp_rx_time_ping(h2, T0 - 2 * MS, out, sizeof(out)) > 0 &&
	      rx_message(f, h2, V("pong")->b, V("pong")->n, T0, info, 12, sym, 40) == 4 &&
	      rx_message(f, h2, V("envelope1")->b, V("envelope1")->n, T0, info, 12, sym,
				 40) == 1 &&
	      rx_check(f, h2, T0 + 10 * MS, view, 12, verdict, 16, osym, 40) == 8,
	      "equity: no new exposure once tripped (FILTERED)");
	int64_t saved[16];
	CHECK(f->decp_rx_state(h2, saved, 16) == DECP_OK && saved[10] == 1 &&
	      saved[15] == 2000000, "equity: state 15 is the peak (%lld)", (long long)saved[15]);
	CHECK(f->decp_handle_free(h2) == DECP_OK, "equity: handle freed");

	/* ABI 7: the EA restarts (a new handle) and gives back what it saved: still tripped,
	 * no new exposure, the peak kept; without the restore (as before ABI 7, or the user's
	 * re-arm) the new handle is untripped and the same signal is not refused */
	h2 = f->decp_rx_new(7, pub->b, 32, 0, 0);
	CHECK(h2 > 0 && f->decp_rx_equity_restore(h2, -1, 1) == DECP_E_INVAL &&
	      f->decp_rx_equity_restore(h2, 1, 2) == DECP_E_INVAL &&
	      f->decp_rx_equity_restore(12345, 1, 1) == DECP_E_HANDLE,
	      "equity restore: bad input refused");
	CHECK(f->decp_handle_free(h2) == DECP_OK, "equity restore: handle freed");
	for (int restore = 1; restore >= 0; restore--) {
		h2 = f->decp_rx_new(7, pub->b, 32, 0, 0);
		CHECK(h2 > 0 && (!restore || f->decp_rx_equity_restore(h2, saved[15],
									(int32_t)saved[10]) == DECP_OK) &&
		      rx_message(f, h2, V("policy_floor")->b, V("policy_floor")->n, T0, info, 12,
				 sym, 40) == 8 &&
		      f->decp_rx_account_state(h2, L"USD", 100, 2000000, 1500000, 0, 1500000, 0,
					       0) == 0 &&
		      f->decp_rx_time_ping(h2, T0 - 2 * MS, out, sizeof(out)) > 0 &&
		      rx_message(f, h2, V("pong")->b, V("pong")->n, T0, info, 12, sym, 40) == 4 &&
		      rx_message(f, h2, V("envelope1")->b, V("envelope1")->n, T0, info, 12, sym,
				 40) == 1, "equity: a restarted handle (restored %d), fed", restore);
		k = rx_check(f, h2, T0 + 10 * MS, view, 12, verdict, 16, osym, 40);
		CHECK(f->decp_rx_state(h2, st, 16) == DECP_OK &&
		      (restore ? k == 8 && st[10] == 1 && st[15] == 2000000 : k != 8 && st[10] == 0),
		      "equity after a restart, the equity back above the floor (150.0000): restored"
		      " %d: %s (%d, tripped %lld, peak %lld)", restore,
		      restore ? "still tripped, FILTERED, peak 200.0000 kept" : "untripped, not FILTERED",
		      k, (long long)st[10], (long long)st[15]);
		CHECK(f->decp_handle_free(h2) == DECP_OK, "equity restart: handle freed");
	}
}

/*
 * The pip of the master's instrument with each envelope (ABI 6, info[12]): the policy maps
 * XAUUSD to the broker's GOLD, which the guard's registry does not know by that name
 * (decp_pip: 0). The EA's pip value is money per the pip the guard sizes with: 0.1 for
 * gold; looked up by the broker's name it was 0.0001, RISK_PERCENT lots 1,000x too large.
 */
static void t_rx_pip(const struct decp_fns *f)
{
	const struct dll_vec *pub = V("pub");
	uint8_t sym[40];
	int64_t h, info[13];

	h = f->decp_rx_new(7, pub->b, 32, 0, 0);
	CHECK(h > 0, "pip: rx handle");
	CHECK(rx_message(f, h, V("policy_gold")->b, V("policy_gold")->n, T0, info, 13, sym,
				 40) == 8 && info[1] == 1, "pip: the policy mapping XAUUSD to GOLD applied");
	info[12] = -1;
	CHECK(rx_message(f, h, V("envelope1_gold")->b, V("envelope1_gold")->n, T0, info, 13,
				 sym, 40) == 1 && strcmp((char *)sym, "GOLD") == 0 && info[4] == 200000000,
	      "pip: the gold envelope, to trade as %s", sym);
	CHECK(info[12] == 10000, "pip: the guard's pip of XAUUSD with the envelope (%lld), not "
	      "the broker name's", (long long)info[12]);
	CHECK(f->decp_pip(L"GOLD") == 0, "pip: GOLD itself unknown to the registry");
	info[12] = -1;
	CHECK(rx_message(f, h, V("envelope1")->b, V("envelope1")->n, T0, info, 13, sym, 40) ==
		      1 && info[12] == 10 && strcmp((char *)sym, "EURUSD") == 0,
	      "pip: EURUSD's envelope 10 (%lld)", (long long)info[12]);
	info[12] = -1;
	CHECK(rx_message(f, h, V("envelope1")->b, V("envelope1")->n, T0, info, 12, sym, 40) ==
		      1 && info[12] == -1, "pip: an ABI-5 caller's 12 entries: nothing beyond written");
	CHECK(f->decp_handle_free(h) == DECP_OK, "pip: handle freed");
}

int dll_calls_run(const struct decp_fns *f, const char *vectors_path)
{
	if (load_vectors(vectors_path) != 0) {
		CHECK(0, "cannot read vectors %s", vectors_path);
	} else {
		t_general(f);
		t_crypto(f);
		t_master(f);
		t_ws(f);
		t_rx(f);
		t_rx_keys(f);
		t_rx_policy(f);
		t_rx_pip(f);
		dll_resync_run(f);
		dll_resync_ask_run(f);
		dll_resync_held_master_run(f);
		dll_positions_run(f);
	}
	printf("%d passed, %d failed\n", mt5_passed(), mt5_failed());
	return mt5_failed();
}
