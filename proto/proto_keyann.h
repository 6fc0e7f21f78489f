/*
 * proto_keyann: the bytes a master's OLD Ed25519 key signs to announce its NEW one
 * (ServerMessage.key_announcement, issue 17; docs/protocol.md "Key announcement").
 *
 *   message = "decp-key-announce-v1" + 4 zero bytes (24)
 *             || master_id (8, big endian) || old_public_key (32) || new_public_key (32)
 *             || valid_from_ns (8, big endian, two's complement) || overlap_until_ns (8)
 *   signature = Ed25519(old seed, message)           (112 bytes signed, RFC 8032)
 *
 * Who signs: whoever holds the old seed when the key is rotated (`decpctl master
 * rotate-signing-key --old-key-seed/--old-key`); decp stores only public keys. Who
 * verifies: the receiver, with the key it already trusts for the master -- the fan-out
 * only relays the stored announcement, so a compromised server cannot make a receiver
 * trust a key of its own. The label keeps the signature from ever being valid as a
 * signal body (a Signal never starts with these bytes: field 1 tag 0x08).
 *
 * Threading: stateless; any thread.
 */
#ifndef DECP_PROTO_KEYANN_H
#define DECP_PROTO_KEYANN_H

#include <stddef.h>
#include <stdint.h>

#include "proto_sign.h"

#define PROTO_KEYANN_LABEL "decp-key-announce-v1"
#define PROTO_KEYANN_MSG_LEN 112u

struct proto_keyann {
	uint64_t master_id;                       /* != 0 */
	uint8_t old_pub[PROTO_ED25519_PUB_LEN];
	uint8_t new_pub[PROTO_ED25519_PUB_LEN];
	int64_t valid_from_ns;
	int64_t overlap_until_ns;                 /* >= valid_from_ns */
};

/* The signed bytes of a. Returns 0, or -EINVAL (NULL, master 0, until < from). */
int proto_keyann_message(const struct proto_keyann *a, uint8_t out[PROTO_KEYANN_MSG_LEN]);

/* sig = Ed25519(old_seed, message(a)); a->old_pub must be old_seed's public key.
 * Returns 0, -EINVAL (bad a, or old_pub is not old_seed's), -EIO (OpenSSL). */
int proto_keyann_sign(const struct proto_keyann *a,
		      const uint8_t old_seed[PROTO_ED25519_SEED_LEN],
		      uint8_t sig[PROTO_ED25519_SIG_LEN]);

/*
 * The receiver's check: the announcement is signed by `trusted` (the key the receiver
 * holds for a->master_id), a->old_pub equals it, and it announces a different key.
 * Returns 0 when valid; -EPERM when old_pub is not the trusted key; -EBADMSG when the
 * signature does not verify (or sig_len != 64); -EINVAL for a malformed a (NULL, master
 * 0, until < from, new key equal to the old one). Any non-zero: refuse, keep the key.
 */
int proto_keyann_verify(const struct proto_keyann *a,
			const uint8_t trusted[PROTO_ED25519_PUB_LEN], const uint8_t *sig,
			size_t sig_len);

#endif
