/* proto_keyann: key-announcement bytes, signing and the receiver's check. Contract in
 * proto_keyann.h. */
#include "proto_keyann.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

int proto_keyann_sign(const struct proto_keyann *a,
		      const uint8_t old_seed[PROTO_ED25519_SEED_LEN],
		      uint8_t sig[PROTO_ED25519_SIG_LEN])
{
	uint8_t m[PROTO_KEYANN_MSG_LEN], pub[PROTO_ED25519_PUB_LEN];
	if (old_seed == NULL || sig == NULL || proto_keyann_message(a, m) != 0)
		return -EINVAL;
	int rc = proto_ed25519_public_from_seed(old_seed, pub);
	if (rc != 0)
		return rc;
	if (CRYPTO_memcmp(pub, a->old_pub, sizeof(pub)) != 0)
		return -EINVAL;
	return proto_ed25519_sign(old_seed, m, sizeof(m), sig);
}

int proto_keyann_verify(const struct proto_keyann *a,
			const uint8_t trusted[PROTO_ED25519_PUB_LEN], const uint8_t *sig,
			size_t sig_len)
{
	uint8_t m[PROTO_KEYANN_MSG_LEN];
	if (trusted == NULL || proto_keyann_message(a, m) != 0 ||
	    memcmp(a->old_pub, a->new_pub, PROTO_ED25519_PUB_LEN) == 0)
		return -EINVAL;
	if (CRYPTO_memcmp(a->old_pub, trusted, PROTO_ED25519_PUB_LEN) != 0)
		return -EPERM;
	return proto_ed25519_verify(trusted, m, sizeof(m), sig, sig_len) == 0 ? 0 : -EBADMSG;
}
