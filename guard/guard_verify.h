/*
 * guard_verify: the seam through which the guard verifies a master's signature.
 *
 * Why a seam: guard/ must stay a plain C library that also builds as a Windows DLL, and
 * tests and benchmarks need to run the pipeline with and without the real Ed25519 cost.
 * The default implementation (guard_ed25519.h) uses OpenSSL; a host may plug its own.
 *
 * Contract of a guard_verify_fn:
 *   key      the verifier's per-master key object (struct guard_verifier.key), borrowed
 *   msg,len  the exact signed bytes (SignedSignal.body); msg may be NULL only if len == 0
 *   sig,sig_len the signature bytes as received (any length: a wrong length is invalid)
 * Returns 0 when the signature is valid, any other value when it is not or when
 * verification could not run. The guard treats every non-zero as "not authenticated".
 * Must not retain msg or sig. Called on the caller's thread, once per check.
 */
#ifndef DECP_GUARD_VERIFY_H
#define DECP_GUARD_VERIFY_H

#include <stddef.h>
#include <stdint.h>

typedef int (*guard_verify_fn)(void *key, const uint8_t *msg, size_t len,
			       const uint8_t *sig, size_t sig_len);

struct guard_verifier {
	guard_verify_fn verify; /* NULL: every signature is invalid (fail-closed) */
	void *key;
};

#endif
