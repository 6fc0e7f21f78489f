/* Test helpers for guard/. See guard_test_util.h. */
#include "guard_test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_sign.h"

static void die(const char *what)
{
	fprintf(stderr, "guard_test_util: %s failed\n", what);
	abort();
}

void gt_key_new(struct gt_key *k)
{
	if (proto_ed25519_keygen(k->pub, k->seed) != 0)
		die("proto_ed25519_keygen");
	k->verify_key = guard_ed25519_new(k->pub);
	if (!k->verify_key)
		die("guard_ed25519_new");
}

void gt_key_free(struct gt_key *k)
{
	guard_ed25519_free(k->verify_key);
	k->verify_key = NULL;
}

void gt_sign(const struct gt_key *k, const uint8_t *msg, size_t len, uint8_t sig[64])
{
	if (proto_ed25519_sign(k->seed, msg, len, sig) != 0)
		die("proto_ed25519_sign");
}

void gt_seal(struct gt_signal *s, const struct gt_key *k)
{
	const struct guard_envelope *e = &s->env;
	int n = snprintf((char *)s->body, sizeof(s->body),
			 "m=%llu;s=%llu;y=%s;t=%u;v=%lld;p=%lld;sl=%lld;tp=%lld;k=%llu;mt=%lld",
			 (unsigned long long)e->master_id, (unsigned long long)e->sequence,
			 e->symbol, e->order_type, (long long)e->volume, (long long)e->price,
			 (long long)e->sl, (long long)e->tp,
			 (unsigned long long)e->position_ticket, (long long)e->master_time_ns);

	if (n <= 0 || (size_t)n >= sizeof(s->body))
		die("gt_seal encode");
	s->env.body = s->body;
	s->env.body_len = (size_t)n;
	gt_sign(k, s->body, (size_t)n, s->sig);
	s->env.sig = s->sig;
	s->env.sig_len = sizeof(s->sig);
}

void gt_signal_buy(struct gt_signal *s, const struct gt_key *k, uint64_t seq)
{
	memset(s, 0, sizeof(*s));
	s->env.master_id = GT_MASTER;
	s->env.sequence = seq;
	memcpy(s->env.symbol, "EURUSD", 7);
	s->env.order_type = GUARD_ORDER_BUY;
	s->env.volume = 100;
	s->env.price = 110000;
	s->env.sl = 109500;
	s->env.tp = 111000;
	s->env.position_ticket = 1000 + seq;
	s->env.master_time_ns = GT_NOW - 120 * GUARD_NS_PER_MS;
	s->env.server_arrival_ns = GT_NOW - 100 * GUARD_NS_PER_MS;
	gt_seal(s, k);
}

void gt_view(struct guard_view *v, int64_t skew_ns)
{
	memset(v, 0, sizeof(*v));
	v->local_now_ns = GT_NOW + skew_ns;
	v->quote.bid = 110000;
	v->quote.ask = 110002;
	v->spec.vol_min = 1;
	v->spec.vol_max = 10000;
	v->spec.vol_step = 1;
	v->spec.pip_value = 10 * GUARD_MONEY_SCALE;
	v->wallet.balance = 1000 * GUARD_MONEY_SCALE;
	v->wallet.reserved = 0;
	v->equity = 10000 * GUARD_MONEY_SCALE;
	v->instruments = guard_instruments_builtin();
}

void gt_clock(struct guard_clock *c, int64_t skew_ns)
{
	/* A 2 ms round trip that ended 1 s ago (local), server symmetric in the middle. */
	int64_t t3 = GT_NOW + skew_ns - GUARD_NS_PER_S, t0 = t3 - 2 * GUARD_NS_PER_MS;
	int64_t t1 = GT_NOW - GUARD_NS_PER_S - GUARD_NS_PER_MS;

	guard_clock_init(c, 0);
	if (guard_clock_add_sample(c, t0, t1, t1, t3) != 0)
		die("gt_clock sample");
}

void gt_sub(struct guard_sub *sub, const struct gt_key *k)
{
	struct guard_verifier v;

	guard_ed25519_verifier(&v, k->verify_key);
	if (guard_sub_init(sub, GT_MASTER, &v, 0, 0) != 0)
		die("guard_sub_init");
}
