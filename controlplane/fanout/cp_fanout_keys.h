/*
 * cp_fanout_keys: relaying masters' Ed25519 key announcements to their subscribers
 * (issue 17; docs/fanout.md "Key announcements", docs/protocol.md "Key announcement").
 *
 *   decpctl master rotate-signing-key --old-key ...   (UPDATE masters: new key + the
 *        |                                             announcement signed by the OLD key,
 *        v                                             sql/migrations/0017)
 *   db thread: cp_fo_keys_poll, every fanout_state_poll_ms, reads the stored announcements
 *        |     and posts each new or changed one (by its signature) on key_q
 *        v
 *   lws thread: the master keeps it (struct master.key_ann) and sends it to every
 *               attached subscriber at once, and to each later subscriber of that master
 *               before its SyncStart (so one that connects during the overlap learns it)
 *
 * The fan-out does not verify announcements: decp holds no private key and the receiver
 * verifies with the key it already trusts, which is what defeats a compromised server (a
 * forged row reaches receivers and is refused there; test fanout_keyrotate). It only
 * relays what the database holds, as it stands: a changed signature replaces the message,
 * a cleared one stops it (later subscribers get nothing; those who switched keep the key).
 *
 * Threading: cp_fo_keys_poll on the db thread only (it owns *seen); events are consumed on
 * the lws thread (cp_fanout_lws.c: drain_inputs).
 */
#ifndef DECP_CP_FANOUT_KEYS_H
#define DECP_CP_FANOUT_KEYS_H

#include <stdint.h>

#include <libpq-fe.h>

#include "cp_fanout_msg.h"

struct cp_fanout;

/* db thread -> lws thread: master's announcement is now msg (NULL: none any more). */
struct key_ev {
	struct key_ev *next;
	uint64_t master;
	struct cp_fmsg *msg;     /* one reference, handed over */
};

/* What the db thread last posted, per master: the announcement's signature. */
struct cp_fo_keys_seen {
	struct cp_fo_key_seen {
		uint64_t master;
		uint8_t sig[64];
		int present;         /* 0: posted "none" */
	} *v;
	size_t n, cap;
};

/*
 * Read every stored announcement (masters.ed25519_announce_*) and post a key_ev for each
 * master whose announcement appeared, changed or vanished since the last call; wakes the
 * lws thread when it posted any. Returns how many were posted, or -1 when the query
 * failed (nothing posted; the next call retries). db thread.
 */
int cp_fo_keys_poll(struct cp_fanout *f, PGconn *c, struct cp_fo_keys_seen *seen);

/* Free the seen table (db thread, at its end). */
void cp_fo_keys_seen_free(struct cp_fo_keys_seen *seen);

/* ServerMessage{KeyAnnouncement} from its parts (key lengths 32, signature 64). refs = 1.
 * Returns NULL (errno EINVAL on bad lengths, ENOMEM). Any thread. */
struct cp_fmsg *cp_fmsg_key_announcement(uint64_t master, const uint8_t old_pub[32],
					 const uint8_t new_pub[32], int64_t valid_from_ns,
					 int64_t overlap_until_ns, const uint8_t sig[64]);

#endif
