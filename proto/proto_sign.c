/* Ed25519 through OpenSSL EVP; contract in proto_sign.h. */
#include "proto_sign.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

struct proto_ed25519_key {
	EVP_PKEY *pkey;
	bool has_private;
};

static int pkey_sign(EVP_PKEY *pkey, const uint8_t *msg, size_t len,
		     uint8_t sig[PROTO_ED25519_SIG_LEN])
{
	static const uint8_t empty;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t sig_len = PROTO_ED25519_SIG_LEN;
	int rc = -EIO;

	if (ctx == NULL)
		return -ENOMEM;
	/* Ed25519 is one-shot: no digest (NULL md), EVP_DigestSign not Update/Final. */
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1)
		goto fail;
	if (EVP_DigestSign(ctx, sig, &sig_len, len > 0 ? msg : &empty, len) != 1 ||
	    sig_len != PROTO_ED25519_SIG_LEN)
		goto fail;
	rc = 0;
fail:
	EVP_MD_CTX_free(ctx);
	return rc;
}

static int pkey_verify(EVP_PKEY *pkey, const uint8_t *msg, size_t len,
		       const uint8_t *sig, size_t sig_len)
{
	static const uint8_t empty;
	EVP_MD_CTX *ctx;
	int rc = -EIO;
	int v;

	if (sig == NULL || sig_len != PROTO_ED25519_SIG_LEN)
		return -EBADMSG;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1)
		goto fail;
	v = EVP_DigestVerify(ctx, sig, sig_len, len > 0 ? msg : &empty, len);
	/* 1 = valid, 0 = invalid signature, < 0 = error: anything but 1 rejects. */
	rc = v == 1 ? 0 : -EBADMSG;
fail:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int proto_ed25519_keygen(uint8_t pub[PROTO_ED25519_PUB_LEN],
			 uint8_t seed[PROTO_ED25519_SEED_LEN])
{
	int rc;

	if (pub == NULL || seed == NULL)
		return -EINVAL;
	if (RAND_priv_bytes(seed, PROTO_ED25519_SEED_LEN) != 1)
		return -EIO;
	rc = proto_ed25519_public_from_seed(seed, pub);
	if (rc != 0)
		OPENSSL_cleanse(seed, PROTO_ED25519_SEED_LEN);
	return rc;
}

int proto_ed25519_public_from_seed(const uint8_t seed[PROTO_ED25519_SEED_LEN],
				   uint8_t pub[PROTO_ED25519_PUB_LEN])
{
	struct proto_ed25519_key *k;
	int rc;

	if (seed == NULL || pub == NULL)
		return -EINVAL;
	k = proto_ed25519_key_new_private(seed);
	if (k == NULL)
		return -EIO;
	rc = proto_ed25519_key_public(k, pub);
	proto_ed25519_key_free(k);
	return rc;
}

int proto_ed25519_sign(const uint8_t seed[PROTO_ED25519_SEED_LEN],
		       const uint8_t *msg, size_t len,
		       uint8_t sig[PROTO_ED25519_SIG_LEN])
{
	struct proto_ed25519_key *k;
	int rc;

	if (seed == NULL || sig == NULL || (msg == NULL && len > 0))
		return -EINVAL;
	k = proto_ed25519_key_new_private(seed);
	if (k == NULL)
		return -EIO;
	rc = pkey_sign(k->pkey, msg, len, sig);
	proto_ed25519_key_free(k);
	return rc;
}

int proto_ed25519_verify(const uint8_t pub[PROTO_ED25519_PUB_LEN],
			 const uint8_t *msg, size_t len,
			 const uint8_t *sig, size_t sig_len)
{
	struct proto_ed25519_key *k;
	int rc;

	if (pub == NULL || (msg == NULL && len > 0))
		return -EBADMSG;
	k = proto_ed25519_key_new_public(pub);
	if (k == NULL)
		/* Not a valid encoding of a curve point: the signature cannot verify. */
		return errno == ENOMEM ? -EIO : -EBADMSG;
	rc = pkey_verify(k->pkey, msg, len, sig, sig_len);
	proto_ed25519_key_free(k);
	return rc;
}

static struct proto_ed25519_key *key_new(const uint8_t raw[32], bool priv)
{
	struct proto_ed25519_key *k;

	if (raw == NULL) {
		errno = EINVAL;
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	k->has_private = priv;
	k->pkey = priv ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, 32)
		       : EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
	if (k->pkey == NULL) {
		free(k);
		errno = EINVAL;
		return NULL;
	}
	return k;
}

struct proto_ed25519_key *proto_ed25519_key_new_private(const uint8_t seed[PROTO_ED25519_SEED_LEN])
{
	return key_new(seed, true);
}

struct proto_ed25519_key *proto_ed25519_key_new_public(const uint8_t pub[PROTO_ED25519_PUB_LEN])
{
	return key_new(pub, false);
}

void proto_ed25519_key_free(struct proto_ed25519_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

int proto_ed25519_key_public(const struct proto_ed25519_key *k,
			     uint8_t pub[PROTO_ED25519_PUB_LEN])
{
	size_t len = PROTO_ED25519_PUB_LEN;

	if (k == NULL || pub == NULL)
		return -EINVAL;
	if (EVP_PKEY_get_raw_public_key(k->pkey, pub, &len) != 1 ||
	    len != PROTO_ED25519_PUB_LEN)
		return -EIO;
	return 0;
}

int proto_ed25519_key_sign(const struct proto_ed25519_key *k, const uint8_t *msg,
			   size_t len, uint8_t sig[PROTO_ED25519_SIG_LEN])
{
	if (k == NULL || !k->has_private || sig == NULL || (msg == NULL && len > 0))
		return -EINVAL;
	return pkey_sign(k->pkey, msg, len, sig);
}

int proto_ed25519_key_verify(const struct proto_ed25519_key *k, const uint8_t *msg,
			     size_t len, const uint8_t *sig, size_t sig_len)
{
	if (k == NULL || (msg == NULL && len > 0))
		return -EBADMSG;
	return pkey_verify(k->pkey, msg, len, sig, sig_len);
}
