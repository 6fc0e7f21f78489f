/* guard_ed25519: the default verifier, proto's Ed25519 (proto_sign.h) behind the
 * guard_verify_fn seam. Contract in guard_ed25519.h. */
#include "guard_ed25519.h"

#include <errno.h>

#include "proto_sign.h"

/* struct guard_ed25519 is proto's parsed public key; the guard name keeps OpenSSL and
 * proto out of guard's public headers. */
struct guard_ed25519 *guard_ed25519_new(const uint8_t pub[GUARD_ED25519_PUB_LEN])
{
	if (!pub) {
		errno = EINVAL;
		return NULL;
	}
	return (struct guard_ed25519 *)proto_ed25519_key_new_public(pub);
}

void guard_ed25519_free(struct guard_ed25519 *k)
{
	proto_ed25519_key_free((struct proto_ed25519_key *)k);
}

int guard_ed25519_verify(void *key, const uint8_t *msg, size_t len, const uint8_t *sig,
			 size_t sig_len)
{
	if (!key)
		return -EINVAL;
	return proto_ed25519_key_verify(key, msg, len, sig, sig_len) == 0 ? 0 : -EBADMSG;
}

void guard_ed25519_verifier(struct guard_verifier *v, struct guard_ed25519 *k)
{
	v->verify = guard_ed25519_verify;
	v->key = k;
}
