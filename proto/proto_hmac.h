/*
 * proto_hmac: HMAC-SHA256 (RFC 2104, FIPS 198-1) with the key schedule done
 * once per key.
 *
 * HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)). Both prefixes are exactly
 * one SHA-256 block, so the SHA-256 state after absorbing K0^ipad and K0^opad
 * can be computed once (proto_hmac_key_init) and copied per message: a
 * message then costs the blocks of m plus two finishing compressions, with no
 * pad derivation and no allocation. The state is held inline (plain struct
 * copy on the hot path), which is why the implementation uses OpenSSL's
 * low-level SHA-256 (see proto_hmac.c for the reasoning).
 *
 * Verification compares in constant time (proto_hmac_equal) and refuses
 * truncated MACs: a MAC must be exactly PROTO_HMAC_LEN bytes.
 *
 * Threading: a key is immutable after init; any number of threads may
 * compute/verify with it concurrently. Nothing here allocates, locks or makes a
 * syscall after init (hot path safe).
 */
#ifndef DECP_PROTO_HMAC_H
#define DECP_PROTO_HMAC_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_HMAC_LEN 32u
/* Keys of any length are accepted (longer than 64 bytes are hashed first, RFC 2104 §2);
 * decp master secrets are 32 random bytes. */
#define PROTO_HMAC_KEY_MAX 4096u

/* Precomputed inner and outer SHA-256 states. Opaque; embed it freely (e.g. in an
 * RCU table entry). Wipe with proto_hmac_key_wipe when the key is retired. */
struct proto_hmac_key {
	alignas(16) uint8_t opaque[256];
	uint32_t magic; /* set by init: use of an uninitialised key is caught */
};

/*
 * Derive the key schedule. key may be NULL only when key_len == 0.
 * Returns 0, or -EINVAL (NULL k, key_len > PROTO_HMAC_KEY_MAX).
 */
int proto_hmac_key_init(struct proto_hmac_key *k, const uint8_t *key, size_t key_len);

/* Erase the schedule (OPENSSL_cleanse); the key must be re-initialised before use. */
void proto_hmac_key_wipe(struct proto_hmac_key *k);

/*
 * out = HMAC-SHA256(key, msg[0..len)). msg may be NULL when len == 0.
 * k must have been initialised (asserted).
 */
void proto_hmac_compute(const struct proto_hmac_key *k, const uint8_t *msg,
			size_t len, uint8_t out[PROTO_HMAC_LEN]);

/*
 * Constant-time equality of two PROTO_HMAC_LEN-byte values (MACs, SHA-256 digests): true
 * when every byte is equal; CRYPTO_memcmp (STYLE.md rule 12), the one place the ingest
 * path's MAC check and token lookup compare. Any alignment; a and b must not be NULL.
 */
bool proto_hmac_equal(const uint8_t a[PROTO_HMAC_LEN], const uint8_t b[PROTO_HMAC_LEN]);

/*
 * Constant-time check that mac (mac_len bytes) is HMAC-SHA256(key, msg).
 * Returns 0 when it matches, -EBADMSG otherwise (including mac == NULL or
 * mac_len != PROTO_HMAC_LEN). Time does not depend on where the MACs differ.
 */
int proto_hmac_verify(const struct proto_hmac_key *k, const uint8_t *msg,
		      size_t len, const uint8_t *mac, size_t mac_len);

/*
 * out = HMAC-SHA256(key, label[0..label_len) || msg[0..len)): one key for messages of
 * several kinds, each kind under its own label, so that the MAC of one can never pass for
 * another's (proto_positions.h). Same rules as proto_hmac_compute.
 */
void proto_hmac_compute_labeled(const struct proto_hmac_key *k, const char *label,
				size_t label_len, const uint8_t *msg, size_t len,
				uint8_t out[PROTO_HMAC_LEN]);

/* proto_hmac_verify of HMAC-SHA256(key, label || msg). Returns 0 or -EBADMSG. */
int proto_hmac_verify_labeled(const struct proto_hmac_key *k, const char *label,
			      size_t label_len, const uint8_t *msg, size_t len,
			      const uint8_t *mac, size_t mac_len);

#endif
