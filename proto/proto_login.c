/* proto_login: challenge-response login proof; contract in proto_login.h. */
#include "proto_login.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "proto_frame.h"
#include "proto_wire.h"

void proto_login_key(const char *token, size_t len, uint8_t key[PROTO_LOGIN_KEY_LEN])
{
	SHA256((const unsigned char *)(token != NULL ? token : ""), token != NULL ? len : 0, key);
}

int proto_login_proof_keyed(const struct proto_hmac_key *k, const uint8_t *nonce,
			    size_t nonce_len, uint64_t master_id, const uint8_t *binding,
			    uint8_t out[PROTO_LOGIN_PROOF_LEN])
{
	uint8_t m[PROTO_LOGIN_MSG_LEN];
	if (k == NULL || out == NULL ||
	    proto_login_message(nonce, nonce_len, master_id, binding, m) != 0)
		return -EINVAL;
	proto_hmac_compute(k, m, sizeof(m), out);
	return 0;
}

int proto_login_proof(const char *token, size_t token_len, const uint8_t *nonce,
		      size_t nonce_len, uint64_t master_id, const uint8_t *binding,
		      uint8_t out[PROTO_LOGIN_PROOF_LEN])
{
	if (token == NULL)
		return -EINVAL;
	uint8_t key[PROTO_LOGIN_KEY_LEN];
	struct proto_hmac_key k;
	proto_login_key(token, token_len, key);
	int rc = proto_hmac_key_init(&k, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	if (rc == 0)
		rc = proto_login_proof_keyed(&k, nonce, nonce_len, master_id, binding, out);
	proto_hmac_key_wipe(&k);
	return rc;
}

int proto_login_verify(const struct proto_hmac_key *k, const uint8_t *nonce, size_t nonce_len,
		       uint64_t master_id, const uint8_t *binding, const uint8_t *proof,
		       size_t proof_len)
{
	uint8_t want[PROTO_LOGIN_PROOF_LEN];
	if (proof == NULL || proof_len != PROTO_LOGIN_PROOF_LEN ||
	    proto_login_proof_keyed(k, nonce, nonce_len, master_id, binding, want) != 0)
		return -EBADMSG;
	int bad = CRYPTO_memcmp(want, proof, PROTO_LOGIN_PROOF_LEN);
	OPENSSL_cleanse(want, sizeof(want));
	return bad == 0 ? 0 : -EBADMSG;
}

/* The frames are proto_wire's encoders (the bytes decp.dll sends too), framed. */
static ssize_t framed(int n, const uint8_t *payload, uint8_t *out, size_t cap)
{
	if (n < 0)
		return n;
	return proto_frame_encode(out, cap, payload, (size_t)n);
}

ssize_t proto_login_hello_frame(uint64_t master_id, const char *client_version, uint8_t *out,
				size_t cap)
{
	uint8_t p[PROTO_WIRE_TEXT_MAX + 32];

	if (out == NULL)
		return -EINVAL;
	return framed(proto_wire_hello_encode(master_id, client_version != NULL ? client_version
										: "",
					      PROTO_PROTOCOL_VERSION, p, sizeof(p)),
		      p, out, cap);
}

ssize_t proto_login_proof_frame(const char *token, size_t token_len, const uint8_t *nonce,
				size_t nonce_len, uint64_t master_id, const uint8_t *binding,
				uint8_t *out, size_t cap)
{
	uint8_t proof[PROTO_LOGIN_PROOF_LEN], p[PROTO_LOGIN_PROOF_LEN + 8];
	if (out == NULL)
		return -EINVAL;
	int rc = proto_login_proof(token, token_len, nonce, nonce_len, master_id, binding, proof);
	if (rc != 0)
		return rc;
	return framed(proto_wire_login_proof_encode(proof, sizeof(proof), p, sizeof(p)), p, out,
		      cap);
}
