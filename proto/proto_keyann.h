/*
 * proto_keyann: the bytes a master's OLD Ed25519 key signs to announce its NEW one
 * (ServerMessage.key_announcement, issue 17; docs/protocol.md "Key announcement").
 *
 *   message   = proto_keyann_message(): 112 bytes (proto_keyann_msg.h, pure C: decp.dll
 *               builds the same bytes)
 *   signature = Ed25519(old seed, message)           (RFC 8032)
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

#include "proto_keyann_msg.h" /* the message layout */
#include "proto_sign.h"

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
