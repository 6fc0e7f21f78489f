/*
 * cp_fanout_auth: the fan-out's authentication cache (issues 25 and 28; docs/fanout.md
 * "Authentication"). An upgrade is authenticated from memory, never by a query on the lws
 * thread that delivers to every connection: a flood of upgrades with made-up tokens costs
 * a hash lookup each, and PostgreSQL being slow or down does not stall deliveries.
 *
 *   db thread ── full token list (start, NOTIFY decp_subauth, sweep) ──▶ tokens_replace
 *             ── full subscription list (start, every new session) ────▶ subs_replace
 *             ── state poll: one subscription changed ─────────────────▶ sub_set
 *   lws thread ── a re-sync's state edge, at once ────────────────────────▶ state_set
 *   policy thread ── CopyPolicy of a subscription (all at start, then each change) ▶ policy_set
 *   lws thread (upgrade) ── token digest ──▶ token() ──▶ subscriber ──▶ subs_of()
 *
 * What it holds: every token that is valid (not revoked, subscriber not disabled) with its
 * expiry, checked again at each lookup; every subscription that is not CANCELLED with its
 * master, state and latest CopyPolicy message. The token list is authoritative: a digest
 * that is not in it is refused. A token created a moment ago is usable once its NOTIFY has
 * been heard and the list re-read (a few milliseconds after the COMMIT); before the first
 * list has arrived nothing is accepted (tokens_loaded false: the fan-out answers 503).
 *
 * Tables: open addressing with linear probing, at most half full, power-of-two sizes.
 * Subscriptions are placed by their subscriber's id, so one probe run yields all of a
 * subscriber's rows; removal shifts the run back (no tombstones).
 *
 * Threading: the lws thread owns a cp_fo_auth and is the only one that touches it; the
 * other threads send it lists and rows through the fan-out's queues. Pure: no I/O.
 */
#ifndef DECP_CP_FANOUT_AUTH_H
#define DECP_CP_FANOUT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cp_fanout_msg.h"
#include "decp.pb-c.h"

struct cp_fo_auth_tok {
	uint8_t hash[32];         /* SHA-256 of the token */
	uint64_t token_id;        /* subscriber_tokens.id; 0 = free slot */
	uint64_t subscriber;
	int64_t expires_us;       /* Unix microseconds; 0 = never */
};

struct cp_fo_auth_sub {
	uint64_t id;              /* subscriptions.id; 0 = free slot */
	uint64_t master, subscriber;
	Decp__SubscriptionState state;
	uint64_t policy_version;  /* of policy; 0 = none */
	struct cp_fmsg *policy;   /* ServerMessage{CopyPolicy}, one reference; NULL = none */
};

struct cp_fo_auth {
	struct cp_fo_auth_tok *tok;
	size_t ntok, tokcap;
	struct cp_fo_auth_sub *sub;
	size_t nsub, subcap;
	bool tokens_loaded;       /* a token list has arrived */
};

void cp_fo_auth_init(struct cp_fo_auth *a);
void cp_fo_auth_free(struct cp_fo_auth *a);

/* Replace the token list by toks[0..n) (copied). 0 or -ENOMEM (the old list kept). */
int cp_fo_auth_tokens_replace(struct cp_fo_auth *a, const struct cp_fo_auth_tok *toks,
			      size_t n);

/* The valid token of digest hash at now_us (Unix microseconds), or NULL. Digests are
 * compared in constant time. */
const struct cp_fo_auth_tok *cp_fo_auth_token(const struct cp_fo_auth *a,
					      const uint8_t hash[32], int64_t now_us);

/* Replace the subscription list by rows[0..n), CANCELLED rows left out. A row's policy
 * (may be NULL) is taken when newer than the one the cache holds for that subscription,
 * else the held one is kept; the cache takes its own references (rows[] keep theirs).
 * 0 or -ENOMEM (the old list kept). */
int cp_fo_auth_subs_replace(struct cp_fo_auth *a, const struct cp_fo_auth_sub *rows,
			    size_t n);

/* One subscription changed (row as above): inserted or updated, removed when CANCELLED.
 * 0, -ENOMEM. */
int cp_fo_auth_sub_set(struct cp_fo_auth *a, const struct cp_fo_auth_sub *row);

/* A CopyPolicy of subscription id (of subscriber): kept when newer than the one held (the
 * cache takes its own reference). Unknown subscription: ignored (the full list that
 * brings it is followed by the policy thread's). Returns true when kept. */
bool cp_fo_auth_policy_set(struct cp_fo_auth *a, uint64_t id, uint64_t subscriber,
			   uint64_t version, struct cp_fmsg *msg);

/* The state of subscription id (of subscriber) as this process has just changed it (a
 * re-sync's edge, cp_fanout_lws.c), ahead of the state poll that brings the same from
 * PostgreSQL: a reconnect of the subscriber meanwhile sees it. Only the state; unknown
 * subscription or CANCELLED: ignored (false). */
bool cp_fo_auth_state_set(struct cp_fo_auth *a, uint64_t id, uint64_t subscriber,
			  Decp__SubscriptionState state);

/* The subscriber's subscriptions, ascending id, at most max of them into out[] (pointers
 * into the cache: valid until its next change). Returns how many. */
size_t cp_fo_auth_subs_of(const struct cp_fo_auth *a, uint64_t subscriber,
			  const struct cp_fo_auth_sub **out, size_t max);

/* How many subscriptions the subscriber has (the size cp_fo_auth_subs_of's out[] needs). */
size_t cp_fo_auth_subs_count(const struct cp_fo_auth *a, uint64_t subscriber);

/* Subscription id of subscriber (a pointer into the cache, valid until its next change),
 * or NULL: unknown or CANCELLED. */
const struct cp_fo_auth_sub *cp_fo_auth_sub_get(const struct cp_fo_auth *a, uint64_t subscriber,
						uint64_t id);

#endif
