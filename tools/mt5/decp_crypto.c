/* libgcrypt behind decp.dll's crypto needs; contract in decp_crypto.h. */
#include "decp_crypto.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <gcrypt.h>

struct decp_ed25519 {
	gcry_sexp_t sk; /* NULL for a public-only key */
	gcry_sexp_t pk;
	uint8_t pub[32];
};

/* 0 not started, 1 running, 2 done, 3 failed: the first caller initialises, the others
 * wait for it (libgcrypt must be initialised exactly once, before any other call). */
static atomic_int init_state;

int decp_crypto_init(void)
{
	int expected = 0;

	if (atomic_compare_exchange_strong(&init_state, &expected, 1)) {
		/* No secure memory: there is no mlock on Windows and a terminal has no privileges
		 * to drop; without this libgcrypt warns on stderr at the first private key. */
		int ok = gcry_check_version(GCRYPT_VERSION) != NULL &&
			 gcry_control(GCRYCTL_DISABLE_SECMEM, 0) == 0 &&
			 gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0) == 0;

		atomic_store(&init_state, ok ? 2 : 3);
	}
	while (atomic_load(&init_state) == 1)
		;
	return atomic_load(&init_state) == 2 ? 0 : -EIO;
}

int decp_hmac_sha256_compute(const uint8_t *key, size_t key_len, const uint8_t *msg,
			     size_t len, uint8_t mac[32])
{
	static const uint8_t zero;
	gcry_md_hd_t h;
	const unsigned char *r;
	int rc = -EIO;

	if ((key == NULL && key_len != 0) || key_len > DECP_CRYPTO_HMAC_KEY_MAX ||
	    (msg == NULL && len != 0) || mac == NULL)
		return -EINVAL;
	if (decp_crypto_init() != 0 || gcry_md_open(&h, GCRY_MD_SHA256, GCRY_MD_FLAG_HMAC) != 0)
		return -EIO;
	/* an empty key is valid HMAC (RFC 2104); gcrypt wants a non-NULL pointer */
	if (gcry_md_setkey(h, key_len != 0 ? key : &zero, key_len) == 0) {
		if (len != 0)
			gcry_md_write(h, msg, len);
		r = gcry_md_read(h, GCRY_MD_SHA256);
		if (r != NULL) {
			memcpy(mac, r, 32);
			rc = 0;
		}
	}
	gcry_md_close(h);
	return rc;
}

int decp_sha256(const uint8_t *msg, size_t len, uint8_t out[32])
{
	if (decp_crypto_init() != 0)
		return -EIO;
	gcry_md_hash_buffer(GCRY_MD_SHA256, out, msg, len);
	return 0;
}

struct decp_sha256 {
	gcry_md_hd_t h;
};

struct decp_sha256 *decp_sha256_begin(void)
{
	struct decp_sha256 *d;

	if (decp_crypto_init() != 0 || (d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	if (gcry_md_open(&d->h, GCRY_MD_SHA256, 0) != 0) {
		free(d);
		return NULL;
	}
	return d;
}

void decp_sha256_add(struct decp_sha256 *d, const uint8_t *p, size_t n)
{
	if (d != NULL && n != 0)
		gcry_md_write(d->h, p, n);
}

int decp_sha256_end(struct decp_sha256 *d, uint8_t out[32])
{
	const unsigned char *r;
	int rc = -EIO;

	if (d == NULL)
		return -EINVAL;
	r = gcry_md_read(d->h, GCRY_MD_SHA256);
	if (r != NULL) {
		memcpy(out, r, 32);
		rc = 0;
	}
	decp_sha256_free(d);
	return rc;
}

void decp_sha256_free(struct decp_sha256 *d)
{
	if (d == NULL)
		return;
	gcry_md_close(d->h);
	free(d);
}

int decp_sha1(const uint8_t *msg, size_t len, uint8_t out[20])
{
	if (decp_crypto_init() != 0)
		return -EIO;
	gcry_md_hash_buffer(GCRY_MD_SHA1, out, msg, len);
	return 0;
}

void decp_wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;

	while (n-- > 0)
		*v++ = 0;
}

void decp_random(uint8_t *out, size_t n)
{
	if (decp_crypto_init() == 0)
		gcry_create_nonce(out, n);
	else
		memset(out, 0, n); /* unreachable in practice; never leave garbage */
}

int decp_ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

/* The public key of a private-key s-expression, EdDSA-encoded (32 bytes). */
static int public_of(gcry_sexp_t sk, uint8_t pub[32])
{
	gcry_ctx_t ctx;
	gcry_mpi_t q;
	const void *p;
	unsigned int nbits = 0;
	int rc = -EIO;

	if (gcry_mpi_ec_new(&ctx, sk, NULL) != 0)
		return -EIO;
	q = gcry_mpi_ec_get_mpi("q@eddsa", ctx, 1);
	if (q != NULL && (p = gcry_mpi_get_opaque(q, &nbits)) != NULL && nbits == 256) {
		memcpy(pub, p, 32);
		rc = 0;
	}
	gcry_mpi_release(q);
	gcry_ctx_release(ctx);
	return rc;
}

/* Parses k->pub into the verification key; frees k and returns NULL on failure. */
static struct decp_ed25519 *with_public(struct decp_ed25519 *k)
{
	if (gcry_sexp_build(&k->pk, NULL, "(public-key (ecc (curve Ed25519) (flags eddsa) (q %b)))",
			    32, k->pub) != 0) {
		decp_ed25519_free(k);
		return NULL;
	}
	return k;
}

struct decp_ed25519 *decp_ed25519_from_seed(const uint8_t seed[32])
{
	struct decp_ed25519 *k;

	if (seed == NULL || decp_crypto_init() != 0 || (k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	if (gcry_sexp_build(&k->sk, NULL, "(private-key (ecc (curve Ed25519) (flags eddsa) (d %b)))",
			    32, seed) != 0 ||
	    public_of(k->sk, k->pub) != 0) {
		decp_ed25519_free(k);
		return NULL;
	}
	return with_public(k);
}

struct decp_ed25519 *decp_ed25519_from_public(const uint8_t pub[32])
{
	struct decp_ed25519 *k;

	if (pub == NULL || decp_crypto_init() != 0 || (k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	memcpy(k->pub, pub, 32);
	return with_public(k);
}

void decp_ed25519_free(struct decp_ed25519 *k)
{
	if (k == NULL)
		return;
	gcry_sexp_release(k->sk); /* libgcrypt wipes secret MPIs it frees */
	gcry_sexp_release(k->pk);
	free(k);
}

int decp_ed25519_pub(const struct decp_ed25519 *k, uint8_t pub[32])
{
	memcpy(pub, k->pub, 32);
	return 0;
}

/* The message as gcrypt wants it for pure Ed25519 (RFC 8032: SHA-512 inside). */
static int data_sexp(gcry_sexp_t *d, const uint8_t *msg, size_t len)
{
	static const uint8_t empty;

	if (len > INT32_MAX)
		return -EINVAL;
	return gcry_sexp_build(d, NULL, "(data (flags eddsa) (hash-algo sha512) (value %b))",
			       (int)len, len != 0 ? msg : &empty) == 0 ? 0 : -EIO;
}

/* Copies the 32-byte value of token name ("r", "s") of a signature s-expression. */
static int sig_part(gcry_sexp_t sig, const char *name, uint8_t out[32])
{
	gcry_sexp_t t = gcry_sexp_find_token(sig, name, 0);
	const char *d;
	size_t n = 0;
	int rc = -EIO;

	if (t != NULL && (d = gcry_sexp_nth_data(t, 1, &n)) != NULL && n == 32) {
		memcpy(out, d, 32);
		rc = 0;
	}
	gcry_sexp_release(t);
	return rc;
}

int decp_ed25519_sign_msg(const struct decp_ed25519 *k, const uint8_t *msg, size_t len,
			  uint8_t sig[64])
{
	gcry_sexp_t d = NULL, s = NULL;
	int rc;

	if (k == NULL || k->sk == NULL || (msg == NULL && len != 0) || sig == NULL)
		return -EINVAL;
	rc = data_sexp(&d, msg, len);
	if (rc == 0)
		rc = gcry_pk_sign(&s, d, k->sk) == 0 ? 0 : -EIO;
	if (rc == 0)
		rc = sig_part(s, "r", sig) == 0 && sig_part(s, "s", sig + 32) == 0 ? 0 : -EIO;
	gcry_sexp_release(s);
	gcry_sexp_release(d);
	return rc;
}

int decp_ed25519_verify_msg(void *key, const uint8_t *msg, size_t len, const uint8_t *sig,
			    size_t sig_len)
{
	const struct decp_ed25519 *k = key;
	gcry_sexp_t d = NULL, s = NULL;
	int rc;

	if (k == NULL)
		return -EINVAL;
	if (sig == NULL || sig_len != 64 || (msg == NULL && len != 0))
		return -EBADMSG;
	if (data_sexp(&d, msg, len) != 0 ||
	    gcry_sexp_build(&s, NULL, "(sig-val (eddsa (r %b) (s %b)))", 32, sig, 32,
			    sig + 32) != 0)
		rc = -EBADMSG;
	else
		rc = gcry_pk_verify(s, d, k->pk) == 0 ? 0 : -EBADMSG;
	gcry_sexp_release(s);
	gcry_sexp_release(d);
	return rc;
}
