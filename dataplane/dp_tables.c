/* dp_tables: RCU token and master tables. Contract in dp_tables.h. */
#define _LGPL_SOURCE
#include "dp_tables.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-qsbr.h>

static uint32_t tok_hash(const uint8_t h[32])
{
	uint32_t v;
	memcpy(&v, h, sizeof(v)); /* already SHA-256 output: uniformly distributed */
	return v;
}

static uint32_t mst_hash(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdull;
	id ^= id >> 33;
	return (uint32_t)id;
}

static struct dp_table_snap *snap_alloc(uint32_t tok_cap, uint32_t mst_cap)
{
	struct dp_table_snap *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->tok_cap = tok_cap;
	s->mst_cap = mst_cap;
	s->tok = calloc(tok_cap, sizeof(*s->tok));
	s->mst = aligned_alloc(16, (size_t)mst_cap * sizeof(*s->mst));
	if (s->tok == NULL || s->mst == NULL) {
		free(s->tok);
		free(s->mst);
		free(s);
		return NULL;
	}
	memset(s->mst, 0, (size_t)mst_cap * sizeof(*s->mst));
	return s;
}

static void snap_free(struct dp_table_snap *s)
{
	if (s == NULL)
		return;
	for (uint32_t i = 0; i < s->mst_cap; i++)
		if (s->mst[i].used) {
			proto_hmac_key_wipe(&s->mst[i].hmac);
			proto_hmac_key_wipe(&s->mst[i].hmac_prev);
		}
	free(s->tok);
	free(s->mst);
	free(s);
}

const struct dp_token_ent *dp_tables_token_find(const struct dp_table_snap *s,
						const uint8_t hash[32])
{
	uint32_t mask = s->tok_cap - 1;
	for (uint32_t i = tok_hash(hash) & mask;; i = (i + 1) & mask) {
		const struct dp_token_ent *e = &s->tok[i];
		if (!e->used)
			return NULL;
		if (proto_hmac_equal(e->hash, hash)) /* constant time */
			return e;
	}
}

const struct dp_master_ent *dp_tables_master_find(const struct dp_table_snap *s,
						  uint64_t master_id)
{
	uint32_t mask = s->mst_cap - 1;
	for (uint32_t i = mst_hash(master_id) & mask;; i = (i + 1) & mask) {
		const struct dp_master_ent *e = &s->mst[i];
		if (!e->used)
			return NULL;
		if (e->master_id == master_id)
			return e;
	}
}

static struct dp_token_ent *tok_slot(struct dp_table_snap *s, const uint8_t hash[32])
{
	uint32_t mask = s->tok_cap - 1;
	for (uint32_t i = tok_hash(hash) & mask;; i = (i + 1) & mask)
		if (!s->tok[i].used || proto_hmac_equal(s->tok[i].hash, hash))
			return &s->tok[i];
}

static struct dp_master_ent *mst_slot(struct dp_table_snap *s, uint64_t id)
{
	uint32_t mask = s->mst_cap - 1;
	for (uint32_t i = mst_hash(id) & mask;; i = (i + 1) & mask)
		if (!s->mst[i].used || s->mst[i].master_id == id)
			return &s->mst[i];
}

/* Copy `old` into a snapshot sized for `extra` more entries of each kind. */
static struct dp_table_snap *snap_grow_copy(const struct dp_table_snap *old, uint32_t extra)
{
	uint32_t tc = old->tok_cap, mc = old->mst_cap;
	while ((uint64_t)(old->tok_n + extra) * 2 > tc)
		tc <<= 1;
	while ((uint64_t)(old->mst_n + extra) * 2 > mc)
		mc <<= 1;
	struct dp_table_snap *s = snap_alloc(tc, mc);
	if (s == NULL)
		return NULL;
	for (uint32_t i = 0; i < old->tok_cap; i++)
		if (old->tok[i].used) {
			*tok_slot(s, old->tok[i].hash) = old->tok[i];
			s->tok_n++;
		}
	for (uint32_t i = 0; i < old->mst_cap; i++)
		if (old->mst[i].used) {
			/* struct copy of the key schedule: proto_hmac_key is plain data */
			*mst_slot(s, old->mst[i].master_id) = old->mst[i];
			s->mst_n++;
		}
	return s;
}

int dp_tables_init(struct dp_tables *t, uint32_t max_masters)
{
	memset(t, 0, sizeof(*t));
	if (max_masters == 0)
		return -EINVAL;
	t->snap = snap_alloc(64, 64);
	if (t->snap != NULL)
		t->snap->gen = 1;
	t->rt = aligned_alloc(DP_CACHE_LINE, (size_t)max_masters * sizeof(*t->rt));
	if (t->snap == NULL || t->rt == NULL) {
		dp_tables_fini(t);
		return -ENOMEM;
	}
	memset(t->rt, 0, (size_t)max_masters * sizeof(*t->rt));
	t->rt_cap = max_masters;
	return 0;
}

void dp_tables_fini(struct dp_tables *t)
{
	snap_free(t->snap);
	free(t->rt);
	memset(t, 0, sizeof(*t));
}

const struct dp_table_snap *dp_tables_snap(struct dp_tables *t)
{
	return rcu_dereference(t->snap);
}

static struct dp_master_ent *master_get_or_add(struct dp_tables *t, struct dp_table_snap *s,
					       uint64_t id)
{
	struct dp_master_ent *m = mst_slot(s, id);
	if (m->used)
		return m;
	if (t->rt_used >= t->rt_cap)
		return NULL;
	memset(m, 0, sizeof(*m));
	m->used = 1;
	m->master_id = id;
	m->slot = t->rt_used++;
	s->mst_n++;
	return m;
}

static int apply_one(struct dp_tables *t, struct dp_table_snap *s, const struct dp_ctrl_cmd *c)
{
	struct dp_master_ent *m;
	struct dp_token_ent *e;

	switch (c->type) {
	case DP_CTRL_ADD_TOKEN:
		if (c->master_id == 0)
			return -EINVAL;
		if (master_get_or_add(t, s, c->master_id) == NULL)
			return -ENOSPC;
		e = tok_slot(s, c->token_hash);
		if (!e->used)
			s->tok_n++;
		memcpy(e->hash, c->token_hash, 32);
		e->master_id = c->master_id;
		e->used = 1;
		e->revoked = 0;
		return 0;
	case DP_CTRL_REVOKE_TOKEN:
		/* Kept as a tombstone so a revoked token is told apart from an unknown one. */
		e = tok_slot(s, c->token_hash);
		if (!e->used) {
			memcpy(e->hash, c->token_hash, 32);
			e->used = 1;
			s->tok_n++;
		}
		e->revoked = 1;
		return 0;
	case DP_CTRL_SET_MASTER:
		if (c->master_id == 0 || c->secret_len == 0 || c->secret_len > sizeof(c->secret))
			return -EINVAL;
		m = master_get_or_add(t, s, c->master_id);
		if (m == NULL)
			return -ENOSPC;
		if (proto_hmac_key_init(&m->hmac, c->secret, c->secret_len) != 0)
			return -EINVAL;
		memcpy(m->pubkey, c->pubkey, sizeof(m->pubkey));
		m->has_keys = 1;
		return 0;
	case DP_CTRL_SET_MASTER_PREV:
		if (c->master_id == 0 || c->secret_len > sizeof(c->secret))
			return -EINVAL;
		m = master_get_or_add(t, s, c->master_id);
		if (m == NULL)
			return -ENOSPC;
		if (c->secret_len == 0) {
			/* Revoked, or the overlap is over: only the current key from now on. */
			proto_hmac_key_wipe(&m->hmac_prev);
			m->has_prev = 0;
			m->prev_until_ns = 0;
			return 0;
		}
		if (proto_hmac_key_init(&m->hmac_prev, c->secret, c->secret_len) != 0)
			return -EINVAL;
		m->prev_until_ns = c->valid_until_ns;
		m->has_prev = 1;
		return 0;
	case DP_CTRL_SET_DURABLE:
		if (c->master_id == 0)
			return -EINVAL;
		m = master_get_or_add(t, s, c->master_id);
		if (m == NULL)
			return -ENOSPC;
		/* Control restores this from storage and is authoritative: a plain store. */
		atomic_store_explicit(&t->rt[m->slot].last_durable, c->sequence, memory_order_release);
		return 0;
	case DP_CTRL_READY:
	case DP_CTRL_NOT_READY:
		return 0;
	default:
		return -EINVAL;
	}
}

/* Chain every token to its master (rebuilt per snapshot: a snapshot is a full copy
 * anyway). Tokens whose master has no entry (a revocation tombstone never added) stay
 * unchained. */
static void link_tokens(struct dp_table_snap *s)
{
	for (uint32_t i = 0; i < s->mst_cap; i++)
		s->mst[i].tok_first = DP_TOK_NONE;
	for (uint32_t i = 0; i < s->tok_cap; i++) {
		struct dp_token_ent *e = &s->tok[i];
		e->next = DP_TOK_NONE;
		if (!e->used || e->master_id == 0)
			continue;
		struct dp_master_ent *m = mst_slot(s, e->master_id);
		if (!m->used)
			continue;
		e->next = m->tok_first;
		m->tok_first = i;
	}
}

int dp_tables_apply(struct dp_tables *t, const struct dp_ctrl_cmd *cmds, unsigned int n,
		    unsigned int *rejected)
{
	unsigned int bad = 0;
	struct dp_table_snap *old = t->snap;
	struct dp_table_snap *s = snap_grow_copy(old, n);
	if (s == NULL)
		return -ENOMEM;
	s->gen = old->gen + 1;
	t->refused_master = 0;
	t->refused_err = 0;
	for (unsigned int i = 0; i < n; i++) {
		int rc = apply_one(t, s, &cmds[i]);
		if (rc != 0 && bad++ == 0) {
			t->refused_master = cmds[i].master_id;
			t->refused_err = rc;
		}
	}
	link_tokens(s);
	rcu_assign_pointer(t->snap, s);
	/* Workers go offline while blocked in epoll_wait, so the grace period is bounded by
	 * one poll iteration of each busy worker. */
	urcu_qsbr_synchronize_rcu();
	snap_free(old);
	if (rejected != NULL)
		*rejected = bad;
	return 0;
}

void dp_master_durable_advance(struct dp_master_rt *rt, uint64_t seq)
{
	uint64_t cur = atomic_load_explicit(&rt->last_durable, memory_order_relaxed);
	while (cur < seq &&
	       !atomic_compare_exchange_weak_explicit(&rt->last_durable, &cur, seq,
						      memory_order_release, memory_order_relaxed)) {
	}
}
