/*
 * guard_ed25519: the default guard_verify_fn, Ed25519 (RFC 8032, pure, no context)
 * through proto's implementation (proto_sign.h, OpenSSL 3 EVP). The public interface
 * names no OpenSSL or proto type.
 *
 * The key object parses the 32-byte public key once, so a check re-derives nothing;
 * OpenSSL still allocates an EVP_MD_CTX internally per verification (OpenSSL's, not
 * guard's; documented in docs/guard.md). Immutable after creation: any thread.
 */
#ifndef DECP_GUARD_ED25519_H
#define DECP_GUARD_ED25519_H

#include <stddef.h>
#include <stdint.h>

#include "guard_verify.h"

#define GUARD_ED25519_PUB_LEN 32u
#define GUARD_ED25519_SIG_LEN 64u

struct guard_ed25519;

/* New key from a raw 32-byte public key. Returns the key, or NULL with errno EINVAL
 * (NULL pub or not a valid key encoding) or ENOMEM. */
struct guard_ed25519 *guard_ed25519_new(const uint8_t pub[GUARD_ED25519_PUB_LEN]);

/* Frees k; NULL is a no-op. */
void guard_ed25519_free(struct guard_ed25519 *k);

/* A guard_verify_fn (see guard_verify.h); key is a struct guard_ed25519 *.
 * Returns 0 valid; -EBADMSG invalid signature or sig_len != 64; -EINVAL NULL key. */
int guard_ed25519_verify(void *key, const uint8_t *msg, size_t len, const uint8_t *sig,
			 size_t sig_len);

/* Fills v so that it verifies with k (borrowed: k must outlive v's use). Cannot fail. */
void guard_ed25519_verifier(struct guard_verifier *v, struct guard_ed25519 *k);

#endif
