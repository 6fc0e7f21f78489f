/*
 * bench_guard: ns per guard_signal_check() (SPEC.md §6: p50/p99/p99.9 and the command).
 *
 * Three figures from one run, each call timed individually with the TSC (calibrated
 * against CLOCK_MONOTONIC); the timer's own cost is measured and printed, not
 * subtracted:
 *   timer         an empty timed region (baseline of the measurement itself)
 *   check/noverify the whole pipeline with a verifier that accepts everything: the
 *                 guard's own cost (sequence, state, TTL, price, funds, policy, commit)
 *   ed25519       proto's Ed25519 verify alone on the same bodies (baseline)
 *   check/ed25519 the whole pipeline with the real Ed25519 verifier
 * Every checked signal executes (fresh sequence, fresh stamp), i.e. the longest path.
 *
 * Built from guard/meson.build: build/<dir>/guard/bench_guard [-n N] [-e N]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guard.h"
#include "proto_sign.h"

#include "bench_util.h"

#define NOW INT64_C(1800000000000000000)
#define BODY_LEN 64

static double ns_per_tick = 1.0;

static void report(const char *name, uint64_t *t, size_t n)
{
	qsort(t, n, sizeof(*t), bench_cmp_u64);
	printf("%-16s n=%-8zu p50=%8.0f ns  p99=%8.0f ns  p99.9=%8.0f ns  max=%9.0f ns\n", name,
	       n, t[n / 2] * ns_per_tick, t[n * 99 / 100] * ns_per_tick,
	       t[n * 999 / 1000] * ns_per_tick, t[n - 1] * ns_per_tick);
}

static int accept_all(void *key, const uint8_t *msg, size_t len, const uint8_t *sig,
		      size_t sig_len)
{
	(void)key;
	(void)msg;
	(void)len;
	(void)sig;
	(void)sig_len;
	return 0;
}

struct signal {
	uint8_t body[BODY_LEN];
	uint8_t sig[64];
};

static void make_env(struct guard_envelope *e, const struct signal *s, uint64_t seq)
{
	memset(e, 0, sizeof(*e));
	e->master_id = 42;
	e->sequence = seq;
	memcpy(e->symbol, "EURUSD.m", 9);
	e->order_type = GUARD_ORDER_BUY;
	e->volume = 100;
	e->price = 110000;
	e->sl = 109500;
	e->tp = 111000;
	e->position_ticket = seq;
	e->server_arrival_ns = NOW - 50 * GUARD_NS_PER_MS;
	e->body = s->body;
	e->body_len = BODY_LEN;
	e->sig = s->sig;
	e->sig_len = 64;
}

static void setup(struct guard_policy *pol, struct guard_clock *clk, struct guard_view *v)
{
	guard_policy_init(pol);
	memcpy(pol->suffix, ".m", 3);
	pol->lot_mode = GUARD_LOT_RISK_PERCENT;
	pol->risk_bp = 100;
	guard_clock_init(clk, 0);
	for (int i = 0; i < GUARD_CLOCK_SAMPLES; i++)
		guard_clock_add_sample(clk, NOW - (10 + i) * GUARD_NS_PER_MS,
				       NOW - (9 + i) * GUARD_NS_PER_MS,
				       NOW - (9 + i) * GUARD_NS_PER_MS, NOW - (8 + i) * GUARD_NS_PER_MS);
	memset(v, 0, sizeof(*v));
	v->local_now_ns = NOW;
	v->quote.bid = 110000;
	v->quote.ask = 110002;
	v->spec = (struct guard_symbol_spec){.vol_min = 1, .vol_max = 10000, .vol_step = 1,
					     .pip_value = 10 * GUARD_MONEY_SCALE};
	v->wallet.balance = 1000 * GUARD_MONEY_SCALE;
	v->equity = 10000 * GUARD_MONEY_SCALE;
	v->instruments = guard_instruments_builtin();
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_guard [-n checks] [-e ed25519_checks] [--help]\n"
		   "  -n N  checks without signature cost (default 1000000)\n"
		   "  -e N  checks with real Ed25519 verify (default 20000)\n"
		   "Prints p50/p99/p99.9 ns per guard_signal_check(), the Ed25519 verify\n"
		   "alone and the timer's own cost. See docs/perf.md (guard).\n");
}

static size_t parse_count(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < 1000 || v > 100000000ull) {
		fprintf(stderr, "bench_guard: bad count '%s' (1000..100000000)\n", s);
		exit(2);
	}
	return (size_t)v;
}

int main(int argc, char **argv)
{
	size_t n = 1000000, ne = 20000;
	struct guard_verifier fast = {accept_all, NULL}, real;
	struct guard_policy pol;
	struct guard_clock clk;
	struct guard_view view;
	struct guard_sub sub;
	struct guard_verdict v;
	struct guard_envelope env;
	struct guard_ed25519 *vk;
	struct signal *sigs;
	uint8_t pub[32], seed[32];
	uint64_t *t;
	size_t bad = 0;
	int opt;

	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};

	while ((opt = getopt_long(argc, argv, "n:e:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n': n = parse_count(optarg); break;
		case 'e': ne = parse_count(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	sigs = calloc(ne, sizeof(*sigs));
	t = calloc(n > ne ? n : ne, sizeof(*t));
	if (!sigs || !t || proto_ed25519_keygen(pub, seed) != 0 ||
	    !(vk = guard_ed25519_new(pub))) {
		fprintf(stderr, "bench_guard: setup failed\n");
		return 1;
	}
	guard_ed25519_verifier(&real, vk);
	for (size_t i = 0; i < ne; i++) {
		for (size_t b = 0; b < BODY_LEN; b++)
			sigs[i].body[b] = (uint8_t)(i * 31 + b);
		proto_ed25519_sign(seed, sigs[i].body, BODY_LEN, sigs[i].sig);
	}
	ns_per_tick = bench_calibrate();
	setup(&pol, &clk, &view);

	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = ticks();

		t[i] = ticks() - t0;
	}
	report("timer", t, n);

	guard_sub_init(&sub, 42, &fast, 0, 0);
	for (size_t i = 0; i < n; i++) {
		uint64_t t0;

		make_env(&env, &sigs[i % ne], i + 1);
		t0 = ticks();
		guard_signal_check(&sub, &pol, &clk, &env, &view, &v);
		t[i] = ticks() - t0;
		bad += v.reason != GUARD_REASON_NONE;
	}
	report("check/noverify", t, n);

	for (size_t i = 0; i < ne; i++) {
		uint64_t t0 = ticks();

		bad += guard_ed25519_verify(vk, sigs[i].body, BODY_LEN, sigs[i].sig, 64) != 0;
		t[i] = ticks() - t0;
	}
	report("ed25519", t, ne);

	guard_sub_init(&sub, 42, &real, 0, 0);
	for (size_t i = 0; i < ne; i++) {
		uint64_t t0;

		make_env(&env, &sigs[i], i + 1);
		t0 = ticks();
		guard_signal_check(&sub, &pol, &clk, &env, &view, &v);
		t[i] = ticks() - t0;
		bad += v.reason != GUARD_REASON_NONE;
	}
	report("check/ed25519", t, ne);

	guard_ed25519_free(vk);
	free(sigs);
	free(t);
	if (bad) {
		fprintf(stderr, "bench_guard: %zu checks did not execute\n", bad);
		return 1;
	}
	return 0;
}
