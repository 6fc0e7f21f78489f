/* cp_fanout_auth: the fan-out's authentication cache. Design in cp_fanout_auth.h. */
#include "cp_fanout_auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define CANCELLED DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_CANCELLED

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	return x;
}

/* Smallest power of two >= 2 n (at most half full), at least 16. */
static size_t cap_for(size_t n)
{
	size_t c = 16;
	while (c < 2 * n)
		c *= 2;
	return c;
}

void cp_fo_auth_init(struct cp_fo_auth *a)
{
	memset(a, 0, sizeof(*a));
}

static void subs_unref(struct cp_fo_auth_sub *t, size_t cap)
{
	for (size_t i = 0; i < cap; i++)
		if (t[i].id != 0)
			cp_fmsg_unref(t[i].policy);
}

void cp_fo_auth_free(struct cp_fo_auth *a)
{
	subs_unref(a->sub, a->subcap);
	free(a->tok);
	free(a->sub);
	memset(a, 0, sizeof(*a));
}

/* ---------------------------------------------------------------------------- tokens */

static size_t tok_home(const uint8_t hash[32], size_t cap)
{
	uint64_t k;
	memcpy(&k, hash, sizeof(k)); /* SHA-256 output: already uniform */
	return (size_t)(k & (cap - 1));
}

int cp_fo_auth_tokens_replace(struct cp_fo_auth *a, const struct cp_fo_auth_tok *toks,
			      size_t n)
{
	size_t cap = cap_for(n), count = 0;
	struct cp_fo_auth_tok *t = calloc(cap, sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t j = tok_home(toks[i].hash, cap);

		if (toks[i].token_id == 0)
			continue;
		while (t[j].token_id != 0 && memcmp(t[j].hash, toks[i].hash, 32) != 0)
			j = (j + 1) & (cap - 1);
		count += t[j].token_id == 0;
		t[j] = toks[i];
	}
	free(a->tok);
	a->tok = t;
	a->tokcap = cap;
	a->ntok = count;
	a->tokens_loaded = true;
	return 0;
}

const struct cp_fo_auth_tok *cp_fo_auth_token(const struct cp_fo_auth *a,
					      const uint8_t hash[32], int64_t now_us)
{
	if (a->tok == NULL)
		return NULL;
	for (size_t j = tok_home(hash, a->tokcap);; j = (j + 1) & (a->tokcap - 1)) {
		const struct cp_fo_auth_tok *e = &a->tok[j];

		if (e->token_id == 0)
			return NULL;
		if (CRYPTO_memcmp(e->hash, hash, 32) == 0)
			return e->expires_us == 0 || now_us < e->expires_us ? e : NULL;
	}
}

/* ----------------------------------------------------------------------- subscriptions */

static size_t sub_home(uint64_t subscriber, size_t cap)
{
	return (size_t)(mix(subscriber) & (cap - 1));
}

/* The slot of (subscriber, id), or the free slot that ends its probe run. */
static struct cp_fo_auth_sub *sub_slot(struct cp_fo_auth_sub *t, size_t cap,
				       uint64_t subscriber, uint64_t id)
{
	for (size_t j = sub_home(subscriber, cap);; j = (j + 1) & (cap - 1))
		if (t[j].id == 0 || (t[j].id == id && t[j].subscriber == subscriber))
			return &t[j];
}

static int subs_grow(struct cp_fo_auth *a)
{
	size_t cap = cap_for(a->nsub + 1);
	struct cp_fo_auth_sub *t;

	if (a->sub != NULL && cap <= a->subcap)
		return 0;
	if ((t = calloc(cap, sizeof(*t))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < a->subcap; i++)
		if (a->sub[i].id != 0)
			*sub_slot(t, cap, a->sub[i].subscriber, a->sub[i].id) = a->sub[i];
	free(a->sub);
	a->sub = t;
	a->subcap = cap;
	return 0;
}

/* Removes slot i and shifts the rest of its probe run back (linear probing). */
static void sub_remove(struct cp_fo_auth *a, size_t i)
{
	size_t mask = a->subcap - 1, j = i;

	cp_fmsg_unref(a->sub[i].policy);
	memset(&a->sub[i], 0, sizeof(a->sub[i]));
	a->nsub--;
	for (;;) {
		j = (j + 1) & mask;
		if (a->sub[j].id == 0)
			return;
		size_t h = sub_home(a->sub[j].subscriber, a->subcap);
		/* move j into the hole i unless its home lies cyclically in (i, j] */
		bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
		if (!stays) {
			a->sub[i] = a->sub[j];
			memset(&a->sub[j], 0, sizeof(a->sub[j]));
			i = j;
		}
	}
}

/* Take row's policy into e when newer than e's. */
static void policy_take(struct cp_fo_auth_sub *e, const struct cp_fo_auth_sub *row)
{
	if (row->policy == NULL || row->policy_version <= e->policy_version)
		return;
	cp_fmsg_unref(e->policy);
	e->policy = cp_fmsg_ref(row->policy);
	e->policy_version = row->policy_version;
}

int cp_fo_auth_sub_set(struct cp_fo_auth *a, const struct cp_fo_auth_sub *row)
{
	struct cp_fo_auth_sub *e;

	if (row->id == 0)
		return 0;
	if (row->state != CANCELLED && subs_grow(a) != 0)
		return -ENOMEM;
	if (a->sub == NULL)
		return 0;
	e = sub_slot(a->sub, a->subcap, row->subscriber, row->id);
	if (row->state == CANCELLED) {
		if (e->id != 0)
			sub_remove(a, (size_t)(e - a->sub));
		return 0;
	}
	if (e->id == 0) {
		e->id = row->id;
		e->subscriber = row->subscriber;
		a->nsub++;
	}
	e->master = row->master;
	e->state = row->state;
	policy_take(e, row);
	return 0;
}

int cp_fo_auth_subs_replace(struct cp_fo_auth *a, const struct cp_fo_auth_sub *rows,
			    size_t n)
{
	size_t cap = cap_for(n), count = 0;
	struct cp_fo_auth_sub *t = calloc(cap, sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct cp_fo_auth_sub *e, *old;

		if (rows[i].id == 0 || rows[i].state == CANCELLED)
			continue;
		e = sub_slot(t, cap, rows[i].subscriber, rows[i].id);
		if (e->id == 0) {
			count++;
			e->id = rows[i].id;
			e->subscriber = rows[i].subscriber;
			if (a->sub != NULL && (old = sub_slot(a->sub, a->subcap, rows[i].subscriber,
							      rows[i].id))->id != 0)
				policy_take(e, old);
		}
		e->master = rows[i].master;
		e->state = rows[i].state;
		policy_take(e, &rows[i]);
	}
	subs_unref(a->sub, a->subcap);
	free(a->sub);
	a->sub = t;
	a->subcap = cap;
	a->nsub = count;
	return 0;
}

bool cp_fo_auth_policy_set(struct cp_fo_auth *a, uint64_t id, uint64_t subscriber,
			   uint64_t version, struct cp_fmsg *msg)
{
	const struct cp_fo_auth_sub row = {.policy = msg, .policy_version = version};
	struct cp_fo_auth_sub *e;
	uint64_t before;

	if (a->sub == NULL || id == 0)
		return false;
	e = sub_slot(a->sub, a->subcap, subscriber, id);
	if (e->id == 0)
		return false;
	before = e->policy_version;
	policy_take(e, &row);
	return e->policy_version != before;
}

bool cp_fo_auth_state_set(struct cp_fo_auth *a, uint64_t id, uint64_t subscriber,
			  Decp__SubscriptionState state)
{
	struct cp_fo_auth_sub *e;

	if (a->sub == NULL || id == 0 || state == CANCELLED)
		return false;
	e = sub_slot(a->sub, a->subcap, subscriber, id);
	if (e->id == 0)
		return false;
	e->state = state;
	return true;
}

size_t cp_fo_auth_subs_count(const struct cp_fo_auth *a, uint64_t subscriber)
{
	size_t n = 0;

	if (a->sub == NULL)
		return 0;
	for (size_t j = sub_home(subscriber, a->subcap); a->sub[j].id != 0;
	     j = (j + 1) & (a->subcap - 1))
		n += a->sub[j].subscriber == subscriber;
	return n;
}

const struct cp_fo_auth_sub *cp_fo_auth_sub_get(const struct cp_fo_auth *a, uint64_t subscriber,
						uint64_t id)
{
	const struct cp_fo_auth_sub *e;

	if (a->sub == NULL || id == 0)
		return NULL;
	e = sub_slot(a->sub, a->subcap, subscriber, id);
	return e->id != 0 ? e : NULL;
}

size_t cp_fo_auth_subs_of(const struct cp_fo_auth *a, uint64_t subscriber,
			  const struct cp_fo_auth_sub **out, size_t max)
{
	size_t n = 0;

	if (a->sub == NULL || max == 0)
		return 0;
	for (size_t j = sub_home(subscriber, a->subcap); a->sub[j].id != 0;
	     j = (j + 1) & (a->subcap - 1)) {
		const struct cp_fo_auth_sub *e = &a->sub[j];
		size_t k;

		if (e->subscriber != subscriber)
			continue;
		/* insertion into out[] by ascending id; past max, the highest ids drop out */
		if (n == max && e->id > out[n - 1]->id)
			continue;
		k = n < max ? n++ : n - 1;
		while (k > 0 && out[k - 1]->id > e->id) {
			out[k] = out[k - 1];
			k--;
		}
		out[k] = e;
	}
	return n;
}
