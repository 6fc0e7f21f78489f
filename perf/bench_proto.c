/*
 * bench_proto: per-operation latency of the proto library (SPEC.md §6: every
 * figure with p50/p99/p99.9 and the command that reproduces it).
 *
 * Each operation is timed individually with the TSC (calibrated against
 * CLOCK_MONOTONIC) and the samples are sorted; the timer's own cost is
 * measured and printed, not subtracted. Baselines run in the same process on
 * the same data: one-shot HMAC() (re-derives the pads every call) and the
 * EVP_MD_CTX_copy_ex approach, against proto_hmac's precomputed schedule.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proto_arena.h"
#include "proto_frame.h"
#include "proto_msg.h"
#include "proto_signal.h"
#include "proto_view.h"

#include "bench_util.h"

static double ns_per_tick = 1.0;

struct result {
	double p50, p99, p999, mean;
};

static struct result report(const char *name, uint64_t *s, size_t n)
{
	struct result r;
	double sum = 0;

	qsort(s, n, sizeof(*s), bench_cmp_u64);
	for (size_t i = 0; i < n; i++)
		sum += (double)s[i];
	r.p50 = (double)s[n / 2] * ns_per_tick;
	r.p99 = (double)s[(size_t)((double)n * 0.99)] * ns_per_tick;
	r.p999 = (double)s[(size_t)((double)n * 0.999)] * ns_per_tick;
	r.mean = sum / (double)n * ns_per_tick;
	printf("%-34s %9zu %10.1f %10.1f %10.1f %10.1f\n", name, n, r.p50, r.p99, r.p999, r.mean);
	return r;
}

/* Time `body` once per sample; `sink` defeats dead-code elimination. */
#define MEASURE(samples, n, body)                                   \
	do {                                                        \
		for (size_t i_ = 0; i_ < (n); i_++) {               \
			uint64_t t0_ = ticks();                     \
			body;                                       \
			(samples)[i_] = ticks() - t0_;              \
		}                                                   \
	} while (0)

static volatile int sink;

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s [-n|--iterations N] [-s|--sign-iterations N]\n"
		"  -n N  samples for framing/decode/HMAC operations (default 200000)\n"
		"  -s N  samples for Ed25519 sign/verify (default 20000)\n"
		"Prints p50/p99/p99.9/mean nanoseconds per operation.\n",
		argv0);
}

static size_t parse_count(const char *s, const char *argv0)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 100 || v > 100000000ul) {
		fprintf(stderr, "%s: bad count '%s' (100..100000000)\n", argv0, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	size_t n = 200000, ns = 20000;
	static const uint8_t secret[32] = "master-7-secret-0123456789abcde";
	static const uint8_t seed[32] = { 7, 7, 7 };
	static uint8_t arena_mem[16384];
	struct proto_hmac_key hk;
	struct proto_ed25519_key *sk, *pk;
	struct proto_sealed_signal sealed;
	struct proto_arena arena;
	Decp__Signal s = DECP__SIGNAL__INIT;
	Decp__SignedSignal ss;
	Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;
	uint8_t frame[512], pub[32], mac[32], sig[64];
	uint8_t dec_buf[PROTO_FRAME_MAX_DEFAULT];
	struct proto_frame_decoder dec;
	ssize_t flen;
	uint64_t *smp;
	int c;

	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "sign-iterations", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};

	while ((c = getopt_long(argc, argv, "hn:s:", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = parse_count(optarg, argv[0]);
			break;
		case 's':
			ns = parse_count(optarg, argv[0]);
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr, argv[0]);
		return 2;
	}
	smp = calloc(n > ns ? n : ns, sizeof(*smp));
	if (smp == NULL || proto_hmac_key_init(&hk, secret, sizeof(secret)) != 0 ||
	    proto_ed25519_public_from_seed(seed, pub) != 0 ||
	    (sk = proto_ed25519_key_new_private(seed)) == NULL ||
	    (pk = proto_ed25519_key_new_public(pub)) == NULL ||
	    proto_arena_init(&arena, arena_mem, sizeof(arena_mem)) != 0 ||
	    proto_frame_decoder_init(&dec, dec_buf, sizeof(dec_buf), 0) != 0) {
		fprintf(stderr, "bench_proto: setup failed\n");
		return 1;
	}

	/* A typical signal: EURUSD buy 1.50 lots with SL/TP. */
	s.master_id = 7;
	s.sequence = 123456;
	s.symbol = "EURUSD";
	s.order_type = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
	s.volume = 150;
	s.price = 108345;
	s.sl = 108045;
	s.tp = 108945;
	s.position_ticket = 99887766;
	s.master_time_ns = 1763942400123456789LL;
	if (proto_signal_seal(&hk, sk, &s, &sealed) != 0) {
		fprintf(stderr, "bench_proto: seal failed\n");
		return 1;
	}
	proto_sealed_signal_view(&sealed, &ss);
	mf.kind_case = DECP__MASTER_FRAME__KIND_SIGNAL;
	mf.signal = &ss;
	flen = proto_msg_frame_pack(&mf.base, PROTO_FRAME_MAX_DEFAULT, frame, sizeof(frame));
	if (flen < 0) {
		fprintf(stderr, "bench_proto: pack failed\n");
		return 1;
	}

	/* Same-run baselines: pre-keyed EVP contexts copied per message. */
	EVP_MD_CTX *ictx = EVP_MD_CTX_new(), *octx = EVP_MD_CTX_new(), *tmp = EVP_MD_CTX_new();
	{
		uint8_t ipad[64], opad[64];

		memset(ipad, 0x36, 64);
		memset(opad, 0x5c, 64);
		for (size_t i = 0; i < sizeof(secret); i++) {
			ipad[i] ^= secret[i];
			opad[i] ^= secret[i];
		}
		if (ictx == NULL || octx == NULL || tmp == NULL ||
		    EVP_DigestInit_ex(ictx, EVP_sha256(), NULL) != 1 ||
		    EVP_DigestUpdate(ictx, ipad, 64) != 1 ||
		    EVP_DigestInit_ex(octx, EVP_sha256(), NULL) != 1 ||
		    EVP_DigestUpdate(octx, opad, 64) != 1) {
			fprintf(stderr, "bench_proto: EVP setup failed\n");
			return 1;
		}
	}

	ns_per_tick = bench_calibrate();
	printf("bench_proto: signal body %zu bytes, frame %zd bytes, TSC %.4f ns/tick\n",
	       sealed.body_len, flen, ns_per_tick);
	printf("%-34s %9s %10s %10s %10s %10s\n", "operation (ns)", "samples", "p50", "p99",
	       "p99.9", "mean");

	MEASURE(smp, n, (void)0);
	report("timer overhead", smp, n);

	MEASURE(smp, n, {
		struct proto_frame f;
		sink += (int)proto_frame_decoder_feed(&dec, frame, (size_t)flen, &f);
	});
	report("frame decode (in place)", smp, n);

	MEASURE(smp, n, {
		Decp__MasterFrame *m;
		Decp__Signal *out;
		proto_arena_reset(&arena);
		m = proto_master_frame_decode(frame + 4, (size_t)flen - 4,
					      proto_arena_allocator(&arena));
		sink += proto_signal_open(m->signal, &hk, NULL, proto_arena_allocator(&arena), &out);
	});
	struct result r_full = report("decode + HMAC verify (arena)", smp, n);

	MEASURE(smp, n, {
		struct proto_signed_view v;
		Decp__Signal out;
		char sym[PROTO_SYMBOL_MAX + 1];
		sink += proto_master_frame_view(frame + 4, (size_t)flen - 4, &v);
		sink += proto_signal_open_view(&v, &hk, NULL, &out, sym);
	});
	struct result r_view = report("decode + HMAC verify (view)", smp, n);

	MEASURE(smp, n, {
		proto_arena_reset(&arena);
		sink += proto_master_frame_decode(frame + 4, (size_t)flen - 4,
						  proto_arena_allocator(&arena)) != NULL;
	});
	report("  MasterFrame decode (arena)", smp, n);

	MEASURE(smp, n, {
		proto_arena_reset(&arena);
		sink += proto_signal_decode(sealed.body, sealed.body_len,
					    proto_arena_allocator(&arena)) != NULL;
	});
	report("  Signal body decode (arena)", smp, n);

	MEASURE(smp, n, {
		struct proto_signed_view v;
		sink += proto_master_frame_view(frame + 4, (size_t)flen - 4, &v);
	});
	report("  MasterFrame view", smp, n);

	MEASURE(smp, n, {
		Decp__Signal out;
		char sym[PROTO_SYMBOL_MAX + 1];
		sink += proto_signal_parse(sealed.body, sealed.body_len, &out, sym);
	});
	report("  Signal body parse (view)", smp, n);

	MEASURE(smp, n, {
		Decp__MasterFrame *m;
		Decp__Signal *out;
		m = proto_master_frame_decode(frame + 4, (size_t)flen - 4, NULL);
		sink += proto_signal_open(m->signal, &hk, NULL, NULL, &out);
		proto_msg_free(&out->base, NULL);
		proto_msg_free(&m->base, NULL);
	});
	report("decode + HMAC verify (malloc)", smp, n);

	MEASURE(smp, n, sink += proto_hmac_verify(&hk, sealed.body, sealed.body_len,
						  sealed.hmac, 32));
	struct result r_pre = report("HMAC verify, precomputed", smp, n);

	MEASURE(smp, n, {
		unsigned int ml = 0;
		HMAC(EVP_sha256(), secret, sizeof(secret), sealed.body, sealed.body_len, mac, &ml);
		sink += CRYPTO_memcmp(mac, sealed.hmac, 32);
	});
	struct result r_naive = report("HMAC verify, naive HMAC()", smp, n);

	MEASURE(smp, n, {
		unsigned int ml = 0;
		uint8_t ih[32];
		EVP_MD_CTX_copy_ex(tmp, ictx);
		EVP_DigestUpdate(tmp, sealed.body, sealed.body_len);
		EVP_DigestFinal_ex(tmp, ih, &ml);
		EVP_MD_CTX_copy_ex(tmp, octx);
		EVP_DigestUpdate(tmp, ih, 32);
		EVP_DigestFinal_ex(tmp, mac, &ml);
		sink += CRYPTO_memcmp(mac, sealed.hmac, 32);
	});
	struct result r_evp = report("HMAC verify, EVP ctx copy", smp, n);

	MEASURE(smp, ns, sink += proto_ed25519_key_sign(sk, sealed.body, sealed.body_len, sig));
	report("Ed25519 sign (key object)", smp, ns);

	MEASURE(smp, ns, sink += proto_ed25519_key_verify(pk, sealed.body, sealed.body_len,
							  sealed.sig, 64));
	report("Ed25519 verify (key object)", smp, ns);

	MEASURE(smp, ns, sink += proto_ed25519_verify(pub, sealed.body, sealed.body_len,
						      sealed.sig, 64));
	report("Ed25519 verify (raw public key)", smp, ns);

	MEASURE(smp, ns, sink += proto_signal_seal(&hk, sk, &s, &sealed));
	report("seal (encode + HMAC + sign)", smp, ns);

	printf("HMAC naive/precomputed: p50 %.2fx, mean %.2fx; EVP-copy/precomputed: p50 %.2fx\n",
	       r_naive.p50 / r_pre.p50, r_naive.mean / r_pre.mean, r_evp.p50 / r_pre.p50);
	printf("decode + HMAC verify per signal, p50/p99: protobuf-c+arena %.0f/%.0f ns, "
	       "view %.0f/%.0f ns\n", r_full.p50, r_full.p99, r_view.p50, r_view.p99);

	EVP_MD_CTX_free(ictx);
	EVP_MD_CTX_free(octx);
	EVP_MD_CTX_free(tmp);
	proto_ed25519_key_free(sk);
	proto_ed25519_key_free(pk);
	free(smp);
	return 0;
}
