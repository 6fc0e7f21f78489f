/*
 * test_fanout_auth: the fan-out's authentication cache (controlplane/fanout/
 * cp_fanout_auth.h) against a model: tokens found only when valid and unexpired and
 * only by their exact digest; subscriptions inserted, updated, cancelled (removal in the
 * middle of colliding probe runs), listed per subscriber in ascending id up to a limit;
 * a full list replacing the old one keeps newer policies and drops removed rows; policies
 * kept only when newer; a state set alone (a re-sync's edge) changes only that row's
 * state.
 */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "cp_fanout_auth.h"

#define CANCELLED DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_CANCELLED
#define SYNCED DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_SYNCED
#define PAUSED DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_PAUSED_TOXIC
#define DEGRADED DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_DEGRADED_GAP

static struct cp_fmsg *msg(void)
{
	struct cp_fmsg *m = calloc(1, sizeof(*m) + 8);

	m->refs = 1;
	return m;
}

static void tok(struct cp_fo_auth_tok *t, unsigned int k, uint64_t sub, int64_t exp)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < 32; i++)
		t->hash[i] = (uint8_t)(k * 31 + (unsigned int)i * 7);
	/* the first 8 bytes pick the slot: make many collide */
	memset(t->hash, 0, 8);
	t->hash[0] = (uint8_t)(k % 3);
	t->token_id = 100 + k;
	t->subscriber = sub;
	t->expires_us = exp;
}

static void test_tokens(void)
{
	struct cp_fo_auth a;
	struct cp_fo_auth_tok t[50], probe;

	cp_fo_auth_init(&a);
	CU_ASSERT_FALSE(a.tokens_loaded);
	CU_ASSERT_PTR_NULL(cp_fo_auth_token(&a, t[0].hash, 0));
	for (unsigned int k = 0; k < 50; k++)
		tok(&t[k], k, 1000 + k % 7, k % 5 == 0 ? 2000 : 0);
	CU_ASSERT_EQUAL_FATAL(cp_fo_auth_tokens_replace(&a, t, 50), 0);
	CU_ASSERT_TRUE(a.tokens_loaded);
	CU_ASSERT_EQUAL(a.ntok, 50);
	for (unsigned int k = 0; k < 50; k++) {
		const struct cp_fo_auth_tok *e = cp_fo_auth_token(&a, t[k].hash, 1000);

		CU_ASSERT_PTR_NOT_NULL_FATAL(e);
		CU_ASSERT_EQUAL(e->token_id, 100 + k);
		CU_ASSERT_EQUAL(e->subscriber, 1000 + k % 7);
		/* expired ones refused at and after their expiry */
		if (k % 5 == 0) {
			CU_ASSERT_PTR_NULL(cp_fo_auth_token(&a, t[k].hash, 2000));
		} else {
			CU_ASSERT_PTR_NOT_NULL(cp_fo_auth_token(&a, t[k].hash, INT64_MAX));
		}
	}
	/* a digest one bit off, or unknown, is not found */
	probe = t[7];
	probe.hash[31] ^= 1;
	CU_ASSERT_PTR_NULL(cp_fo_auth_token(&a, probe.hash, 1000));
	tok(&probe, 77, 1, 0);
	CU_ASSERT_PTR_NULL(cp_fo_auth_token(&a, probe.hash, 1000));
	/* a new list replaces the old: a revoked token is gone, a new one is there */
	t[3] = probe;
	CU_ASSERT_EQUAL(cp_fo_auth_tokens_replace(&a, t, 10), 0);
	CU_ASSERT_PTR_NOT_NULL(cp_fo_auth_token(&a, probe.hash, 1000));
	tok(&probe, 3, 0, 0);
	CU_ASSERT_PTR_NULL(cp_fo_auth_token(&a, probe.hash, 1000));
	tok(&probe, 20, 0, 0);
	CU_ASSERT_PTR_NULL(cp_fo_auth_token(&a, probe.hash, 1000));
	/* an empty list refuses everything */
	CU_ASSERT_EQUAL(cp_fo_auth_tokens_replace(&a, NULL, 0), 0);
	CU_ASSERT_PTR_NULL(cp_fo_auth_token(&a, t[1].hash, 1000));
	cp_fo_auth_free(&a);
}

/* The model: state per (subscription id) for ids 1..MAXID, subscriber = id % NSUB. */
#define MAXID 400
#define NSUB 13

static int model[MAXID + 1]; /* 0 = absent, else state */

static void check_model(const struct cp_fo_auth *a)
{
	size_t total = 0;

	for (uint64_t sub = 0; sub < NSUB; sub++) {
		const struct cp_fo_auth_sub *out[MAXID];
		size_t n = cp_fo_auth_subs_of(a, sub, out, MAXID), want = 0;
		uint64_t last = 0;

		for (int id = 1; id <= MAXID; id++)
			if (model[id] != 0 && (uint64_t)id % NSUB == sub)
				want++;
		CU_ASSERT_EQUAL(n, want);
		CU_ASSERT_EQUAL(cp_fo_auth_subs_count(a, sub), want);
		for (int id = 1; id <= MAXID; id++) {
			/* by id: the model's rows of this subscriber, nothing of another's */
			const struct cp_fo_auth_sub *e = cp_fo_auth_sub_get(a, sub, (uint64_t)id);
			bool has = model[id] != 0 && (uint64_t)id % NSUB == sub;

			CU_ASSERT_EQUAL(e != NULL, has);
			if (e != NULL && has)
				CU_ASSERT_EQUAL((int)e->state, model[id]);
		}
		for (size_t i = 0; i < n; i++) {
			CU_ASSERT(out[i]->id > last); /* ascending */
			last = out[i]->id;
			CU_ASSERT_EQUAL(out[i]->subscriber, sub);
			CU_ASSERT_EQUAL((int)out[i]->state, model[out[i]->id]);
			CU_ASSERT_EQUAL(out[i]->master, out[i]->id * 10);
		}
		total += n;
	}
	CU_ASSERT_EQUAL(a->nsub, total);
}

static void test_subscriptions(void)
{
	struct cp_fo_auth a;
	unsigned int seed = 7;

	cp_fo_auth_init(&a);
	memset(model, 0, sizeof(model));
	for (int step = 0; step < 20000; step++) {
		int id = 1 + (int)(rand_r(&seed) % MAXID);
		int r = (int)(rand_r(&seed) % 4);
		struct cp_fo_auth_sub row = {.id = (uint64_t)id, .master = (uint64_t)id * 10,
					     .subscriber = (uint64_t)id % NSUB};

		row.state = r == 0 ? CANCELLED : r == 1 ? PAUSED : SYNCED;
		CU_ASSERT_EQUAL_FATAL(cp_fo_auth_sub_set(&a, &row), 0);
		model[id] = r == 0 ? 0 : (int)row.state;
		if (step % 1000 == 999)
			check_model(&a);
	}
	check_model(&a);
	/* the limit keeps the lowest ids */
	{
		const struct cp_fo_auth_sub *out[3];
		size_t n = cp_fo_auth_subs_of(&a, 5, out, 3);
		int seen = 0;

		for (int id = 1; id <= MAXID && seen < 3; id++)
			if (model[id] != 0 && id % NSUB == 5)
				CU_ASSERT_EQUAL(out[seen++]->id, (uint64_t)id);
		CU_ASSERT_EQUAL(n, (size_t)seen);
	}
	cp_fo_auth_free(&a);
}

static void test_policies(void)
{
	struct cp_fo_auth a;
	struct cp_fmsg *p1 = msg(), *p2 = msg(), *p3 = msg();
	struct cp_fo_auth_sub rows[3] = {
		{.id = 1, .master = 10, .subscriber = 7, .state = SYNCED},
		{.id = 2, .master = 20, .subscriber = 7, .state = SYNCED, .policy = p1,
		 .policy_version = 1},
		{.id = 3, .master = 30, .subscriber = 8, .state = SYNCED},
	};
	const struct cp_fo_auth_sub *out[4];

	cp_fo_auth_init(&a);
	CU_ASSERT_EQUAL_FATAL(cp_fo_auth_subs_replace(&a, rows, 3), 0);
	CU_ASSERT_EQUAL(p1->refs, 2);
	CU_ASSERT_EQUAL(cp_fo_auth_subs_of(&a, 7, out, 4), 2);
	CU_ASSERT_PTR_EQUAL(out[1]->policy, p1);
	/* newer kept, older and unknown ignored */
	CU_ASSERT_TRUE(cp_fo_auth_policy_set(&a, 2, 7, 2, p2));
	CU_ASSERT_EQUAL(p1->refs, 1);
	CU_ASSERT_FALSE(cp_fo_auth_policy_set(&a, 2, 7, 1, p3));
	CU_ASSERT_FALSE(cp_fo_auth_policy_set(&a, 9, 7, 5, p3));
	CU_ASSERT_EQUAL(p3->refs, 1);
	/* a full list with the old version keeps the newer policy; row 3 dropped */
	CU_ASSERT_EQUAL(cp_fo_auth_subs_replace(&a, rows, 2), 0);
	CU_ASSERT_EQUAL(cp_fo_auth_subs_of(&a, 7, out, 4), 2);
	CU_ASSERT_PTR_EQUAL(out[1]->policy, p2);
	CU_ASSERT_EQUAL(out[1]->policy_version, 2);
	CU_ASSERT_EQUAL(cp_fo_auth_subs_of(&a, 8, out, 4), 0);
	/* cancelled: gone, its reference dropped */
	{
		struct cp_fo_auth_sub c = {.id = 2, .master = 20, .subscriber = 7,
					   .state = CANCELLED};

		CU_ASSERT_EQUAL(cp_fo_auth_sub_set(&a, &c), 0);
	}
	CU_ASSERT_EQUAL(p2->refs, 1);
	CU_ASSERT_EQUAL(cp_fo_auth_subs_of(&a, 7, out, 4), 1);
	cp_fo_auth_free(&a);
	CU_ASSERT_EQUAL(p1->refs, 1);
	cp_fmsg_unref(p1);
	cp_fmsg_unref(p2);
	cp_fmsg_unref(p3);
}

static void test_state_set(void)
{
	struct cp_fo_auth a;
	struct cp_fmsg *p = msg();
	struct cp_fo_auth_sub rows[2] = {
		{.id = 1, .master = 10, .subscriber = 7, .state = SYNCED, .policy = p,
		 .policy_version = 3},
		{.id = 2, .master = 20, .subscriber = 7, .state = SYNCED},
	};
	const struct cp_fo_auth_sub *out[2];

	cp_fo_auth_init(&a);
	CU_ASSERT_FALSE(cp_fo_auth_state_set(&a, 1, 7, DEGRADED)); /* nothing held yet */
	CU_ASSERT_EQUAL_FATAL(cp_fo_auth_subs_replace(&a, rows, 2), 0);
	CU_ASSERT_TRUE(cp_fo_auth_state_set(&a, 1, 7, DEGRADED));
	CU_ASSERT_EQUAL_FATAL(cp_fo_auth_subs_of(&a, 7, out, 2), 2);
	CU_ASSERT_EQUAL(out[0]->state, DEGRADED);
	CU_ASSERT_EQUAL(out[0]->master, 10);
	CU_ASSERT_PTR_EQUAL(out[0]->policy, p);
	CU_ASSERT_EQUAL(out[0]->policy_version, 3);
	CU_ASSERT_EQUAL(out[1]->state, SYNCED);
	/* unknown id, another subscriber's id, CANCELLED (removal is sub_set's): ignored */
	CU_ASSERT_FALSE(cp_fo_auth_state_set(&a, 9, 7, SYNCED));
	CU_ASSERT_FALSE(cp_fo_auth_state_set(&a, 2, 8, PAUSED));
	CU_ASSERT_FALSE(cp_fo_auth_state_set(&a, 2, 7, CANCELLED));
	CU_ASSERT_EQUAL_FATAL(cp_fo_auth_subs_of(&a, 7, out, 2), 2);
	CU_ASSERT_EQUAL(out[1]->state, SYNCED);
	CU_ASSERT_TRUE(cp_fo_auth_state_set(&a, 1, 7, SYNCED));
	CU_ASSERT_EQUAL(out[0]->state, SYNCED);
	cp_fo_auth_free(&a);
	cp_fmsg_unref(p);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("fanout_auth", NULL, NULL);
	CU_add_test(s, "tokens: valid, expired, exact digest, replaced", test_tokens);
	CU_add_test(s, "subscriptions against a model (20,000 random changes)",
		    test_subscriptions);
	CU_add_test(s, "copy policies: newer kept, kept across a full list", test_policies);
	CU_add_test(s, "a state edge alone: that row's state, nothing else", test_state_set);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int f = CU_get_number_of_failures();
	CU_cleanup_registry();
	return f == 0 ? 0 : 1;
}
