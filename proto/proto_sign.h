/*
 * proto_sign: Ed25519 (RFC 8032, "pure" Ed25519, no context, no prehash) through
 * OpenSSL 3 EVP (EVP_PKEY_ED25519, EVP_DigestSign / EVP_DigestVerify).
 *
 * Keys cross the API as raw arrays: a 32-byte private seed (RFC 8032 §5.1.5
 * "private key") and a 32-byte public key; signatures are 64 bytes.
 * Why two signatures on a signal: the HMAC secret is shared with ingest only;
 * receivers are hostile and hold only the master's PUBLIC key, so a receiver
 * can verify signals but cannot forge one (SPEC.md §3).
 *
 * Two forms: one-shot functions on raw arrays (build an EVP_PKEY per call),
 * and a parsed key object for repeated use (saves the key parse per call).
 * OpenSSL allocates internally in both (EVP_MD_CTX per call): Ed25519 costs
 * tens of microseconds anyway, and it runs on subscriber/master side, never on
 * the dataplane hot path (which checks the HMAC only).
 *
 * Threading: a key object is immutable after creation; concurrent sign/verify
 * calls with the same object from several threads are safe.
 */
#ifndef DECP_PROTO_SIGN_H
#define DECP_PROTO_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_ED25519_SEED_LEN 32u
#define PROTO_ED25519_PUB_LEN 32u
#define PROTO_ED25519_SIG_LEN 64u

/*
 * New random key pair (seed from the OpenSSL CSPRNG).
 * Returns 0, or -EIO when OpenSSL fails (e.g. no entropy), -EINVAL on NULL.
 */
int proto_ed25519_keygen(uint8_t pub[PROTO_ED25519_PUB_LEN],
			 uint8_t seed[PROTO_ED25519_SEED_LEN]);

/* Public key of a seed. Returns 0, -EINVAL on NULL, -EIO on OpenSSL failure. */
int proto_ed25519_public_from_seed(const uint8_t seed[PROTO_ED25519_SEED_LEN],
				   uint8_t pub[PROTO_ED25519_PUB_LEN]);

/*
 * sig = Ed25519-Sign(seed, msg[0..len)). msg may be NULL when len == 0.
 * Returns 0, -EINVAL on NULL, -EIO on OpenSSL failure.
 */
int proto_ed25519_sign(const uint8_t seed[PROTO_ED25519_SEED_LEN],
		       const uint8_t *msg, size_t len,
		       uint8_t sig[PROTO_ED25519_SIG_LEN]);

/*
 * Verify sig (sig_len bytes) over msg with the public key pub.
 * Returns 0 when valid; -EBADMSG when the signature does not verify, sig_len
 * != 64, sig == NULL, or pub is not a valid point; -EIO on OpenSSL internal
 * failure (e.g. out of memory) -- callers must treat any non-zero as "reject".
 */
int proto_ed25519_verify(const uint8_t pub[PROTO_ED25519_PUB_LEN],
			 const uint8_t *msg, size_t len,
			 const uint8_t *sig, size_t sig_len);

/* Parsed key, private (can sign and verify) or public (verify only). Opaque. */
struct proto_ed25519_key;

/* Returns a new key or NULL (errno set: EINVAL bad input, ENOMEM/EIO OpenSSL). */
struct proto_ed25519_key *proto_ed25519_key_new_private(const uint8_t seed[PROTO_ED25519_SEED_LEN]);
struct proto_ed25519_key *proto_ed25519_key_new_public(const uint8_t pub[PROTO_ED25519_PUB_LEN]);

/* Frees (and for a private key, the seed is cleansed by OpenSSL). NULL is a no-op. */
void proto_ed25519_key_free(struct proto_ed25519_key *k);

/* The key's public half. Returns 0, -EINVAL on NULL. */
int proto_ed25519_key_public(const struct proto_ed25519_key *k,
			     uint8_t pub[PROTO_ED25519_PUB_LEN]);

/* As proto_ed25519_sign; -EINVAL also when k is a public-only key. */
int proto_ed25519_key_sign(const struct proto_ed25519_key *k, const uint8_t *msg,
			   size_t len, uint8_t sig[PROTO_ED25519_SIG_LEN]);

/* As proto_ed25519_verify. */
int proto_ed25519_key_verify(const struct proto_ed25519_key *k, const uint8_t *msg,
			     size_t len, const uint8_t *sig, size_t sig_len);

#endif
