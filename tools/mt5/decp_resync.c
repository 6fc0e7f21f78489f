/* decp_resync: a re-sync snapshot received, verified and planned. Contract in
 * decp_resync.h. */
#include "decp_resync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decp_crypto.h"
#include "proto_snapsig_msg.h"

struct decp_resync *decp_resync_new(const uint8_t pub[32])
{
	struct decp_resync *rs = calloc(1, sizeof(*rs));

	if (rs == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if ((rs->platform = decp_ed25519_from_public(pub)) == NULL) {
		free(rs);
		errno = EINVAL;
		return NULL;
	}
	return rs;
}

static void drop(struct decp_resync *rs)
{
	decp_sha256_free(rs->digest);
	rs->digest = NULL;
	rs->phase = DECP_RESYNC_IDLE;
	rs->n = rs->nheld = rs->nquotes = rs->nact = 0;
}

/* A refusal: the snapshot is dropped, nothing of it will be planned. */
static int refuse(struct decp_resync *rs, int rc, enum decp_resync_refusal *why,
		  enum decp_resync_refusal w)
{
	drop(rs);
	rs->refused++;
	if (why != NULL)
		*why = w;
	return rc;
}

void decp_resync_free(struct decp_resync *rs)
{
	if (rs == NULL)
		return;
	drop(rs);
	decp_ed25519_free(rs->platform);
	free(rs);
}

int decp_resync_begin(struct decp_resync *rs, uint64_t master, uint64_t seq, uint32_t count)
{
	drop(rs);
	if (count > DECP_RESYNC_ENTRIES_MAX)
		return refuse(rs, -E2BIG, NULL, DECP_RESYNC_TOO_BIG);
	if ((rs->digest = decp_sha256_begin()) == NULL)
		return -EIO;
	rs->master = master;
	rs->seq = seq;
	rs->count = count;
	rs->phase = DECP_RESYNC_RECEIVING;
	return 0;
}

int decp_resync_part(struct decp_resync *rs, const struct proto_wire_snapshot_part *p,
		     enum decp_resync_refusal *why)
{
	if (rs->phase != DECP_RESYNC_RECEIVING || p->master_id != rs->master ||
	    p->sequence != rs->seq)
		return refuse(rs, -EPROTO, why, DECP_RESYNC_ORDER);
	if (p->n > rs->count - rs->n)
		return refuse(rs, -EPROTO, why, DECP_RESYNC_COUNT);
	for (uint32_t i = 0; i < p->n; i++) {
		const struct proto_wire_book_entry *b = &p->e[i];
		struct guard_book_entry *e = &rs->e[rs->n];
		uint8_t bytes[PROTO_SNAPSIG_ENTRY_MAX];
		size_t len;

		/* what guard_resync_plan takes as a master position or pending order; the
		 * decoder checked the symbol's bytes and length (<= PROTO_SYMBOL_MAX) */
		if (guard_book_entry_set(e, b->ticket, b->type, b->symbol, b->volume, b->price,
					 b->sl, b->tp, b->expiration_ns) != 0)
			return refuse(rs, -EPROTO, why, DECP_RESYNC_ENTRY);
		len = proto_snapsig_entry(bytes, b->ticket, b->type, b->symbol, b->volume,
					  b->price, b->sl, b->tp, b->expiration_ns);
		if (len == 0)
			return refuse(rs, -EPROTO, why, DECP_RESYNC_ENTRY);
		/* digested in the order sent: the signature covers that order */
		decp_sha256_add(rs->digest, bytes, len);
		rs->n++;
	}
	return 0;
}

int decp_resync_end(struct decp_resync *rs, uint64_t master, uint64_t seq, uint32_t count,
		    const uint8_t *sig, size_t sig_len, uint64_t last_seq,
		    enum decp_resync_refusal *why)
{
	uint8_t digest[PROTO_SNAPSIG_DIGEST_LEN], msg[PROTO_SNAPSIG_MSG_LEN];
	int rc;

	if (rs->phase != DECP_RESYNC_RECEIVING || master != rs->master || seq != rs->seq)
		return refuse(rs, -EPROTO, why, DECP_RESYNC_ORDER);
	if (count != rs->count || rs->n != rs->count)
		return refuse(rs, -EPROTO, why, DECP_RESYNC_COUNT);
	rc = decp_sha256_end(rs->digest, digest);
	rs->digest = NULL;
	if (rc != 0) {
		drop(rs);
		return -EIO;
	}
	proto_snapsig_message(msg, master, seq, count, digest);
	if (sig == NULL || decp_ed25519_verify_msg(rs->platform, msg, sizeof(msg), sig, sig_len) != 0)
		return refuse(rs, -EBADMSG, NULL, 0);
	if (seq < last_seq)
		return refuse(rs, -EPROTO, why, DECP_RESYNC_OLD);
	/* by ticket: the plan's lookups are binary searches (guard_resync.h) */
	qsort(rs->e, rs->n, sizeof(rs->e[0]), guard_book_entry_cmp);
	for (uint32_t i = 1; i < rs->n; i++)
		if (rs->e[i - 1].ticket == rs->e[i].ticket)
			return refuse(rs, -EPROTO, why, DECP_RESYNC_TWICE);
	rs->phase = DECP_RESYNC_COMPLETE;
	rs->verified++;
	return 0;
}

static bool verified(const struct decp_resync *rs)
{
	return rs->phase == DECP_RESYNC_COMPLETE || rs->phase == DECP_RESYNC_PLANNED;
}

int decp_resync_held_add(struct decp_resync *rs, const struct guard_held *h)
{
	if (h == NULL || h->master_ticket == 0 || h->volume <= 0 || h->symbol[0] == '\0')
		return -EINVAL;
	if (!verified(rs))
		return -EPERM;
	for (uint32_t i = 0; i < rs->nheld; i++)
		if (rs->held[i].master_ticket == h->master_ticket)
			return -EEXIST;
	if (rs->nheld == DECP_RESYNC_HELD_MAX)
		return -ENOBUFS;
	rs->held[rs->nheld++] = *h;
	rs->phase = DECP_RESYNC_COMPLETE;
	return (int)rs->nheld;
}

int decp_resync_held_master(struct decp_resync *rs, uint64_t ticket, int64_t master_volume)
{
	if (ticket == 0 || master_volume <= 0)
		return -EINVAL;
	if (!verified(rs))
		return -EPERM;
	for (uint32_t i = 0; i < rs->nheld; i++) {
		if (rs->held[i].master_ticket != ticket)
			continue;
		rs->held[i].master_volume = master_volume;
		rs->phase = DECP_RESYNC_COMPLETE;
		return 0;
	}
	return -ENOENT;
}

int decp_resync_quote_set(struct decp_resync *rs, const char *symbol,
			  const struct guard_view *view, int64_t quote_rate)
{
	struct decp_resync_quote *q = NULL;
	size_t n;

	if (symbol == NULL || view == NULL || (n = strlen(symbol)) == 0 ||
	    n >= GUARD_SYMBOL_MAX || quote_rate < 0)
		return -EINVAL;
	if (!verified(rs))
		return -EPERM;
	for (uint32_t i = 0; i < rs->nquotes && q == NULL; i++)
		if (strcmp(rs->quotes[i].symbol, symbol) == 0)
			q = &rs->quotes[i];
	if (q == NULL) {
		if (rs->nquotes == DECP_RESYNC_QUOTES_MAX)
			return -ENOBUFS;
		q = &rs->quotes[rs->nquotes++];
		memcpy(q->symbol, symbol, n + 1);
	}
	q->view = *view;
	q->quote_rate = quote_rate;
	rs->phase = DECP_RESYNC_COMPLETE;
	return (int)rs->nquotes;
}

struct view_ctx {
	const struct decp_resync *rs;
	const struct guard_policy *pol;
	const struct guard_account *acct;
	const struct guard_instruments *reg;
};

/* guard_resync_view_fn: the EA's quote of the subscriber symbol the policy maps the
 * master's to (none: no quote, so a market OPEN fails closed: PRICE_DEVIATION), with the
 * account and, when the EA gave one with the quote, that symbol's rate for the margin
 * (one AccountState carries one rate: a re-sync of several crosses needs one each). */
static void view_of(void *arg, const char *master_symbol, struct guard_view *v)
{
	const struct view_ctx *c = arg;
	char sym[GUARD_SYMBOL_MAX];
	int64_t rate = 0;

	memset(v, 0, sizeof(*v));
	if (guard_policy_map_symbol(c->pol, master_symbol, sym, sizeof(sym)) >= 0)
		for (uint32_t i = 0; i < c->rs->nquotes; i++)
			if (strcmp(c->rs->quotes[i].symbol, sym) == 0) {
				*v = c->rs->quotes[i].view;
				rate = c->rs->quotes[i].quote_rate;
				break;
			}
	v->account = *c->acct;
	if (rate > 0)
		v->account.quote_rate = rate;
	v->instruments = c->reg;
}

long decp_resync_plan(struct decp_resync *rs, const struct guard_policy *pol,
		      bool equity_tripped, const struct guard_account *acct,
		      const struct guard_instruments *reg)
{
	struct view_ctx c = { rs, pol, acct, reg };
	long n;

	if (!verified(rs))
		return -EPERM;
	/* by ticket: binary searches in the plan */
	qsort(rs->held, rs->nheld, sizeof(rs->held[0]), guard_held_cmp);
	n = guard_resync_plan(pol, equity_tripped, rs->seq, view_of, &c, rs->e, rs->n, rs->held,
			      rs->nheld, rs->act, DECP_RESYNC_ACTIONS_MAX);
	rs->nact = n > 0 ? (uint32_t)n : 0;
	rs->phase = n >= 0 ? DECP_RESYNC_PLANNED : DECP_RESYNC_COMPLETE;
	return n;
}

int decp_resync_counts(const struct decp_resync *rs, struct proto_wire_resync_done *d)
{
	if (rs->phase != DECP_RESYNC_PLANNED)
		return -EPERM;
	memset(d, 0, sizeof(*d));
	d->master_id = rs->master;
	d->sequence = rs->seq;
	for (uint32_t i = 0; i < rs->nact; i++) {
		enum guard_resync_op op = rs->act[i].op;

		d->opened += op == GUARD_RESYNC_OPEN;
		d->closed += op == GUARD_RESYNC_CLOSE;
		d->reduced += op == GUARD_RESYNC_REDUCE;
		d->modified += op == GUARD_RESYNC_MODIFY;
		d->skipped += op == GUARD_RESYNC_SKIP;
	}
	return 0;
}

void decp_resync_finish(struct decp_resync *rs)
{
	if (rs->phase != DECP_RESYNC_PLANNED)
		return;
	drop(rs);
	rs->finished++;
}

void decp_resync_abandon(struct decp_resync *rs)
{
	if (rs->phase != DECP_RESYNC_COMPLETE)
		return;
	drop(rs);
	rs->refused++;
}
