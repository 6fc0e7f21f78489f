/*
 * dp_tables: the dataplane's token table (SHA-256(license token) -> master) and master table
 * (master -> HMAC key schedule, Ed25519 public key), SPEC.md §2.
 *
 * Ownership and threads:
 *   - Only the dataplane main thread writes, and only by applying control-ring commands
 *     (dp_tables_apply). It builds a new immutable snapshot, publishes it with
 *     rcu_assign_pointer and frees the old one after urcu_qsbr_synchronize_rcu().
 *   - Workers read lock-free: they are registered liburcu-qsbr threads whose every poll
 *     iteration is a quiescent state, so a snapshot pointer obtained with dp_tables_snap()
 *     stays valid until the worker's next urcu_qsbr_quiescent_state().
 *   - Per-master mutable runtime state (last durable sequence, which session owns the
 *     master) does not live in the snapshot but in a fixed array indexed by the master's
 *     slot (struct dp_master_rt), updated with atomics, so snapshots can be replaced
 *     without losing it. A slot is never reused while the process runs.
 */
#ifndef DECP_DP_TABLES_H
#define DECP_DP_TABLES_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dp_shm.h"
#include "proto_hmac.h"

#define DP_TOK_NONE UINT32_MAX

struct dp_token_ent {
	uint8_t hash[32];
	uint64_t master_id;
	uint32_t next;        /* next token of the same master (index into tok), DP_TOK_NONE */
	uint8_t used;
	uint8_t revoked;
};

struct dp_master_ent {
	uint64_t master_id;
	uint32_t slot;        /* index into dp_tables.rt */
	uint8_t used;
	uint8_t has_keys;     /* SET_MASTER received: logins are refused until then */
	uint32_t tok_first;   /* the master's tokens (revoked ones too), chained by next */
	uint8_t has_prev;     /* SET_MASTER_PREV with a key: hmac_prev valid until prev_until */
	int64_t prev_until_ns; /* CLOCK_REALTIME: the previous key is refused from then on */
	uint8_t pubkey[32];
	struct proto_hmac_key hmac;
	struct proto_hmac_key hmac_prev; /* key rotation: the key being retired */
};

/* Immutable once published. Open addressing, linear probing, capacity a power of two and
 * at most half full. gen: 1 for the first snapshot, one more for each published after it;
 * never reused (a freed snapshot's address may be, its generation not), so a reader that
 * still sees generation g sees the same entries as when it last looked, and may keep what
 * it found then (dp_session: the session's token and master entries, looked up again only
 * when the generation changes). */
struct dp_table_snap {
	uint64_t gen;
	uint32_t tok_cap;
	uint32_t tok_n;
	uint32_t mst_cap;
	uint32_t mst_n;
	struct dp_token_ent *tok;
	struct dp_master_ent *mst;
};

/* Session owner word: 0 = none, else (worker + 1) << 48 | conn slot << 24 | gen & 0xffffff. */
struct dp_master_rt {
	alignas(DP_CACHE_LINE) _Atomic uint64_t last_durable;
	_Atomic uint64_t owner;
};

struct dp_tables {
	struct dp_table_snap *snap; /* RCU-protected: read with dp_tables_snap() */
	struct dp_master_rt *rt;
	uint32_t rt_cap;
	uint32_t rt_used;           /* main thread only */
	/* the first command the last dp_tables_apply refused: its master and why (-EINVAL
	 * malformed, -ENOSPC no runtime slot left: --max-masters), 0 when none was */
	uint64_t refused_master;
	int refused_err;
};

/* Init with room for max_masters runtime slots. Returns 0 or -ENOMEM / -EINVAL. */
int dp_tables_init(struct dp_tables *t, uint32_t max_masters);

/* Free everything. Call only when no worker reads any more. */
void dp_tables_fini(struct dp_tables *t);

/* Worker (registered QSBR reader, online): the current snapshot, never NULL after init. */
const struct dp_table_snap *dp_tables_snap(struct dp_tables *t);

/* Lookups in a snapshot: the entry or NULL. Hot path safe. A master's tokens (for the
 * login proof, which names the master, not the token) are me->tok_first, then
 * s->tok[i].next, until DP_TOK_NONE; an ADD_TOKEN creates its master's entry (without
 * keys) so that its token can be found. */
const struct dp_token_ent *dp_tables_token_find(const struct dp_table_snap *s,
						const uint8_t hash[32]);
const struct dp_master_ent *dp_tables_master_find(const struct dp_table_snap *s,
						  uint64_t master_id);

/*
 * Main thread: apply n commands in order to a copy of the current snapshot, publish it
 * once, wait for a grace period and free the old one. READY/NOT_READY are not table
 * commands and are ignored here (the caller handles them). A malformed command (unknown
 * type, secret_len 0 or > 32, master id 0, table or slot space exhausted) is skipped and
 * counted in *rejected; the first of them is named in t->refused_master / refused_err.
 * Returns 0, or -ENOMEM (nothing published, state unchanged).
 */
int dp_tables_apply(struct dp_tables *t, const struct dp_ctrl_cmd *cmds, unsigned int n,
		    unsigned int *rejected);

/* Advance a master's last durable sequence to at least seq (atomic max). Any thread. */
void dp_master_durable_advance(struct dp_master_rt *rt, uint64_t seq);

#endif
