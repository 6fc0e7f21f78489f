/*
 * decp_crypto: the crypto decp.dll needs, from libgcrypt (linked statically into the
 * DLL; the native build of the same file links Debian's libgcrypt20 for tests and
 * fuzzing). Nothing here is hand-written crypto: HMAC-SHA256 (gcry_md with
 * GCRY_MD_FLAG_HMAC), SHA-256 (the login key), SHA-1 (RFC 6455's accept key only), Ed25519 (gcry_pk_sign /
 * gcry_pk_verify, curve Ed25519, flags eddsa: RFC 8032 pure Ed25519, the same bytes as
 * proto/proto_sign.c's OpenSSL), random bytes (gcry_create_nonce: WebSocket keys and
 * masks, which need unpredictability, not secrecy).
 *
 * Keys are parsed once into objects (struct decp_ed25519). Returns: 0 or a negative
 * errno (-EINVAL bad input, -EBADMSG does not verify, -EIO libgcrypt failed,
 * -ENOMEM). Thread-safe after decp_crypto_init (any thread, own objects).
 */
#ifndef DECP_CRYPTO_H
#define DECP_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define DECP_CRYPTO_HMAC_KEY_MAX 4096u

/* Initialises libgcrypt once (idempotent, thread-safe). Returns 0 or -EIO. */
int decp_crypto_init(void);

/* mac = HMAC-SHA256(key, msg). Returns 0, -EINVAL, -EIO. */
int decp_hmac_sha256_compute(const uint8_t *key, size_t key_len, const uint8_t *msg,
			     size_t len, uint8_t mac[32]);

/* out = SHA-256(msg) (the login key, proto_login.h). Returns 0 or -EIO. */
int decp_sha256(const uint8_t *msg, size_t len, uint8_t out[32]);

/* SHA-256 of bytes that arrive in pieces (a re-sync snapshot's entries, part by part):
 * begin (NULL: libgcrypt failed or out of memory), add, then end (writes the digest and
 * frees; 0 or -EIO) or free (abandoned). One context per digest, one thread at a time. */
struct decp_sha256;
struct decp_sha256 *decp_sha256_begin(void);
void decp_sha256_add(struct decp_sha256 *d, const uint8_t *p, size_t n);
int decp_sha256_end(struct decp_sha256 *d, uint8_t out[32]);
void decp_sha256_free(struct decp_sha256 *d);

/* out = SHA-1(msg). Returns 0 or -EIO. */
int decp_sha1(const uint8_t *msg, size_t len, uint8_t out[20]);

/* Fills out with n unpredictable bytes. */
void decp_random(uint8_t *out, size_t n);

/* Overwrites n bytes with zeros in a way the compiler does not drop (secrets on the
 * stack: the license token and its hash). */
void decp_wipe(void *p, size_t n);

/* Constant-time equality of two n-byte strings (MACs): 1 equal, 0 not. */
int decp_ct_equal(const uint8_t *a, const uint8_t *b, size_t n);

struct decp_ed25519;

/* A key from a 32-byte seed (can sign and verify) or a 32-byte public key (verify).
 * Returns the key or NULL (bad key, out of memory). */
struct decp_ed25519 *decp_ed25519_from_seed(const uint8_t seed[32]);
struct decp_ed25519 *decp_ed25519_from_public(const uint8_t pub[32]);
void decp_ed25519_free(struct decp_ed25519 *k);

/* The key's public half. Returns 0. */
int decp_ed25519_pub(const struct decp_ed25519 *k, uint8_t pub[32]);

/* Returns 0, -EINVAL (public-only key), -EIO. */
int decp_ed25519_sign_msg(const struct decp_ed25519 *k, const uint8_t *msg, size_t len,
			  uint8_t sig[64]);

/* A guard_verify_fn (guard/guard_verify.h): key is a struct decp_ed25519 *.
 * Returns 0 valid, -EBADMSG not (any sig_len other than 64 included), -EINVAL NULL key. */
int decp_ed25519_verify_msg(void *key, const uint8_t *msg, size_t len, const uint8_t *sig,
			    size_t sig_len);

#endif
