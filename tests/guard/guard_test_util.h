/*
 * Helpers shared by the guard tests, the fuzz target and the benchmark: real Ed25519
 * keys and signatures (OpenSSL), envelopes whose body encodes their fields, and a
 * normal subscriber view. Test code only.
 */
#ifndef DECP_GUARD_TEST_UTIL_H
#define DECP_GUARD_TEST_UTIL_H

#include "guard.h"

#define GT_MASTER 42u
#define GT_NOW INT64_C(1800000000000000000) /* server clock "now", 2027 */
#define GT_BODY_MAX 256

struct gt_key {
	uint8_t seed[32];
	uint8_t pub[32];
	struct guard_ed25519 *verify_key;
};

/* A signed envelope with storage for its body and signature. */
struct gt_signal {
	struct guard_envelope env;
	uint8_t body[GT_BODY_MAX];
	uint8_t sig[64];
};

/* New random key pair; aborts the test program on OpenSSL failure. */
void gt_key_new(struct gt_key *k);
void gt_key_free(struct gt_key *k);

/* Ed25519 signature of msg with k. */
void gt_sign(const struct gt_key *k, const uint8_t *msg, size_t len, uint8_t sig[64]);

/* Encodes env's signed fields into s->body (deterministic text), signs with k. */
void gt_seal(struct gt_signal *s, const struct gt_key *k);

/* A BUY 1.00 EURUSD at 1.10000 (sl 1.09500, tp 1.11000) with sequence seq, arrived at
 * GT_NOW - 100 ms on the server clock, sealed with k. */
void gt_signal_buy(struct gt_signal *s, const struct gt_key *k, uint64_t seq);

/* Quote 1.10000/1.10002, lots 0.01..100 step 0.01, pip value $10, wallet $1000,
 * equity $10000, the built-in instrument registry, local clock = GT_NOW + skew_ns. */
void gt_view(struct guard_view *v, int64_t skew_ns);

/* Clock estimator whose local clock is skew_ns ahead of the server (one 2 ms sample). */
void gt_clock(struct guard_clock *c, int64_t skew_ns);

/* Subscription for GT_MASTER verified by k, expecting sequence 1. */
void gt_sub(struct guard_sub *sub, const struct gt_key *k);

/* CUnit runner (guard_test_cunit.c): registers tests (NULL-terminated) as one suite
 * and runs them verbose; returns the process exit status (0 only if all passed). */
struct gt_test {
	const char *name;
	void (*fn)(void);
};
int gt_run(const char *suite, const struct gt_test *tests);

#endif
