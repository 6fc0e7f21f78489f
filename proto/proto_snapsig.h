/*
 * proto_snapsig: signed re-sync snapshots (issue 19). The fan-out signs every snapshot it
 * sends (SnapshotBegin, SnapshotPart x k, SnapshotEnd) with the platform's Ed25519 key;
 * SnapshotEnd.signature (4) carries it. A receiver that holds the platform's public key
 * digests the entries as the parts arrive, rebuilds the message at SnapshotEnd and
 * refuses the snapshot (reconciles nothing) when the signature does not verify: a
 * snapshot altered on its way (a proxy, a man in the middle of a plain ws link, a part
 * dropped or reordered) never reaches the account. Bytes: proto_snapsig_msg.h.
 *
 * What it does not cover: the platform's own book being wrong (that is what the master's
 * own positions check is for, docs/resync.md), or a stolen platform key.
 *
 * Threading: a context per snapshot; keys are read-only.
 */
#ifndef DECP_PROTO_SNAPSIG_H
#define DECP_PROTO_SNAPSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/sha.h>

#include "decp.pb-c.h"
#include "proto_sign.h"
#include "proto_snapsig_msg.h"

/* Running digest of one snapshot's entries. */
struct proto_snapsig {
	SHA256_CTX h;
	uint32_t n;      /* entries added */
	bool bad;        /* an entry could not be encoded: never verifies */
};

void proto_snapsig_init(struct proto_snapsig *s);

/* Adds entry e (in the order sent). */
void proto_snapsig_add(struct proto_snapsig *s, const Decp__BookEntry *e);

/*
 * Signs the snapshot (master, sequence, its entries added to s; count = s->n) with sk.
 * Returns 0 with sig filled, -EINVAL (an entry could not be encoded, NULL), -EIO.
 */
int proto_snapsig_sign(struct proto_snapsig *s, const struct proto_ed25519_key *sk,
		       uint64_t master_id, uint64_t sequence,
		       uint8_t sig[PROTO_ED25519_SIG_LEN]);

/*
 * Verifies SnapshotEnd's signature (sig, sig_len) over (master, sequence, count, the entries
 * added to s) with pk. count must equal the entries added. Returns 0, or -EBADMSG
 * (anything else: wrong length, wrong count, an entry not encodable, no match).
 */
int proto_snapsig_verify(struct proto_snapsig *s, const struct proto_ed25519_key *pk,
			 uint64_t master_id, uint64_t sequence, uint32_t count,
			 const uint8_t *sig, size_t sig_len);

#endif
