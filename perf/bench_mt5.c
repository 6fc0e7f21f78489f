/*
 * bench_mt5: µs per receiver envelope, decp.dll against the native guard, same envelopes,
 * same run (perf/mt5_bench.sh; docs/perf.md "mt5").
 *
 *   bench_mt5 gen FILE N    N signed ServerMessage{Envelope}s (proto/, OpenSSL), sequences
 *                           1..N, all BUYs that execute, and a TimePong, into FILE
 *   bench_mt5 native FILE   per envelope: (1) decp-subscriber's path: protobuf-c decode,
 *                           guard_envelope_from_proto, guard_signal_check with OpenSSL's
 *                           Ed25519; (2) decp.dll's C built natively (proto_wire, guard,
 *                           libgcrypt's Ed25519) through its exports
 * The Wine side is perf/bench_mt5_dll.c (bench_mt5_dll.exe DECP_DLL FILE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_mt5_run.h"
#include "decp_dll.h"
#include "guard.h"
#include "guard_proto.h"
#include "proto_msg.h"
#include "proto_signal.h"

#define T0 INT64_C(1764892800000000000)

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int gen(const char *path, int n)
{
	static const uint8_t seed[32] = "decp bench_mt5 ed25519 seed 32b";
	static const uint8_t secret[32] = "decp bench_mt5 hmac secret 32by";
	struct proto_hmac_key hk;
	struct proto_ed25519_key *sk = proto_ed25519_key_new_private(seed);
	uint8_t pub[32], b[512];
	FILE *f = fopen(path, "wb");
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	Decp__TimePong tp = DECP__TIME_PONG__INIT;
	int64_t t0 = T0;
	int len;

	if (f == NULL || sk == NULL || proto_hmac_key_init(&hk, secret, 32) != 0 ||
	    proto_ed25519_key_public(sk, pub) != 0)
		return 1;
	tp.client_send_ns = T0 - 2000000;
	tp.server_recv_ns = T0 - 1000000;
	tp.server_send_ns = T0 - 1000000;
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_TIME_PONG;
	sm.time_pong = &tp;
	len = (int)protobuf_c_message_pack(&sm.base, b);
	fwrite(pub, 32, 1, f);
	fwrite(&n, sizeof(n), 1, f);
	fwrite(&t0, sizeof(t0), 1, f);
	fwrite(&len, sizeof(len), 1, f);
	fwrite(b, (size_t)len, 1, f);
	for (int i = 1; i <= n; i++) {
		Decp__Signal s;
		Decp__SignedSignal ss;
		Decp__Envelope e = DECP__ENVELOPE__INIT;
		struct proto_sealed_signal sealed;

		decp__signal__init(&s);
		s.master_id = 7;
		s.sequence = (uint64_t)i;
		s.symbol = "EURUSD";
		s.order_type = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
		s.volume = 10;
		s.price = 108512 + i % 100;
		s.sl = 108012;
		s.tp = 109512;
		s.position_ticket = (uint64_t)(1000 + i);
		s.master_time_ns = T0 - 5000000;
		if (proto_signal_seal(&hk, sk, &s, &sealed) != 0)
			return 1;
		proto_sealed_signal_view(&sealed, &ss);
		e.signal = &ss;
		e.server_arrival_ns = T0;
		e.master_id = 7;
		e.sequence = (uint64_t)i;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_ENVELOPE;
		sm.envelope = &e;
		len = (int)protobuf_c_message_pack(&sm.base, b);
		fwrite(&len, sizeof(len), 1, f);
		fwrite(b, (size_t)len, 1, f);
	}
	proto_ed25519_key_free(sk);
	return fclose(f) == 0 ? 0 : 1;
}

/* decp-subscriber's receive path for one envelope (tools/subscriber/decp-subscriber.c). */
static int native_guard(const struct bench_mt5_input *in, uint64_t *ns)
{
	struct guard_ed25519 *k = guard_ed25519_new(in->pub);
	struct guard_verifier v;
	struct guard_sub sub;
	struct guard_clock clk;
	struct guard_policy pol;
	int executed = 0;

	guard_ed25519_verifier(&v, k);
	guard_sub_init(&sub, 7, &v, INT64_C(600000000000), 0);
	guard_clock_init(&clk, 0);
	guard_clock_add_sample(&clk, T0 - 2000000, T0 - 1000000, T0 - 1000000, T0);
	guard_policy_init(&pol);
	for (int i = 0; i < in->n; i++) {
		int64_t t0 = now_ns();
		Decp__ServerMessage *sm = proto_server_message_decode(in->msg[i], (size_t)in->len[i],
								     NULL);
		struct guard_envelope env;
		struct guard_view view;
		struct guard_verdict d;

		if (sm != NULL && sm->kind_case == DECP__SERVER_MESSAGE__KIND_ENVELOPE &&
		    guard_envelope_from_proto(sm->envelope, NULL, &env) == 0) {
			memset(&view, 0, sizeof(view));
			view.local_now_ns = T0 + 1000000;
			view.quote.bid = env.price - 1;
			view.quote.ask = env.price + 1;
			view.spec.vol_min = 1;
			view.spec.vol_max = 100000;
			view.spec.vol_step = 1;
			view.spec.pip_value = 100000;
			view.wallet.balance = INT64_C(100000000000);
			view.equity = INT64_C(100000000000);
			/* the registry decp.dll's check uses (without it every signal stops at
			 * UNKNOWN_INSTRUMENT, before the signature: not the path measured) */
			view.instruments = guard_instruments_builtin();
			guard_signal_check(&sub, &pol, &clk, &env, &view, &d);
			executed += d.reason == GUARD_REASON_NONE;
		}
		proto_msg_free(sm != NULL ? &sm->base : NULL, NULL);
		ns[i] = (uint64_t)(now_ns() - t0);
	}
	guard_ed25519_free(k);
	return executed;
}

int main(int argc, char **argv)
{
	struct bench_mt5_input in;
	struct decp_fns f;
	uint64_t *ns;
	int ex;

	if (argc == 4 && strcmp(argv[1], "gen") == 0)
		return gen(argv[2], atoi(argv[3]));
	if (argc != 3 || strcmp(argv[1], "native") != 0) {
		fprintf(stderr, "usage: bench_mt5 gen FILE N | bench_mt5 native FILE\n");
		return 2;
	}
	if (bench_mt5_load(argv[2], &in) != 0 || (ns = calloc((size_t)in.n, 8)) == NULL) {
		fprintf(stderr, "bench_mt5: cannot read %s\n", argv[2]);
		return 1;
	}
	ex = native_guard(&in, ns);
	bench_mt5_report("native guard (protobuf-c, OpenSSL)", ns, in.n);
	if (ex != in.n)
		fprintf(stderr, "bench_mt5: native guard executed %d of %d\n", ex, in.n);
#define DIRECT(n) f.n = n;
	DECP_IMPORTS(DIRECT)
#undef DIRECT
	ex = bench_mt5_dll(&f, &in, now_ns, ns);
	bench_mt5_report("decp.dll's C natively (libgcrypt)", ns, in.n);
	if (ex != in.n)
		fprintf(stderr, "bench_mt5: DLL code executed %d of %d\n", ex, in.n);
	return 0;
}
