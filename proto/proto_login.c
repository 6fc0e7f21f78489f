/* proto_login: challenge-response login proof; contract in proto_login.h. */
#include "proto_login.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "proto_frame.h"
#include "proto_msg.h"

static const uint8_t label[16] = "decp-login-v2"; /* zero padded to 16 */

void proto_login_key(const char *token, size_t len, uint8_t key[PROTO_LOGIN_KEY_LEN])
{
	SHA256((const unsigned char *)(token != NULL ? token : ""), token != NULL ? len : 0, key);
}

static void login_msg(uint8_t m[PROTO_LOGIN_MSG_LEN], const uint8_t *nonce, uint64_t master_id,
		      const uint8_t *binding)
{
	memcpy(m, label, sizeof(label));
	memcpy(m + 16, nonce, PROTO_LOGIN_NONCE_LEN);
	for (unsigned int i = 0; i < 8; i++)
		m[48 + i] = (uint8_t)(master_id >> (56 - 8 * i));
	if (binding != NULL)
		memcpy(m + 56, binding, PROTO_LOGIN_BINDING_LEN);
	else
		memset(m + 56, 0, PROTO_LOGIN_BINDING_LEN);
}

int proto_login_proof_keyed(const struct proto_hmac_key *k, const uint8_t *nonce,
			    size_t nonce_len, uint64_t master_id, const uint8_t *binding,
			    uint8_t out[PROTO_LOGIN_PROOF_LEN])
{
	if (k == NULL || nonce == NULL || nonce_len != PROTO_LOGIN_NONCE_LEN || master_id == 0 ||
	    out == NULL)
		return -EINVAL;
	uint8_t m[PROTO_LOGIN_MSG_LEN];
	login_msg(m, nonce, master_id, binding);
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

ssize_t proto_login_hello_frame(uint64_t master_id, const char *client_version, uint8_t *out,
				size_t cap)
{
	if (master_id == 0 || out == NULL)
		return -EINVAL;
	Decp__Hello h = DECP__HELLO__INIT;
	h.master_id = master_id;
	h.client_version = (char *)(client_version != NULL ? client_version : "");
	h.protocol_version = PROTO_PROTOCOL_VERSION;
	Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
	f.kind_case = DECP__MASTER_FRAME__KIND_HELLO;
	f.hello = &h;
	ssize_t n = proto_msg_frame_pack(&f.base, PROTO_FRAME_MAX_DEFAULT, out, cap);
	return n == -EMSGSIZE ? -EINVAL : n;
}

ssize_t proto_login_proof_frame(const char *token, size_t token_len, const uint8_t *nonce,
				size_t nonce_len, uint64_t master_id, const uint8_t *binding,
				uint8_t *out, size_t cap)
{
	uint8_t proof[PROTO_LOGIN_PROOF_LEN];
	if (out == NULL)
		return -EINVAL;
	int rc = proto_login_proof(token, token_len, nonce, nonce_len, master_id, binding, proof);
	if (rc != 0)
		return rc;
	Decp__LoginProof lp = DECP__LOGIN_PROOF__INIT;
	lp.proof.data = proof;
	lp.proof.len = sizeof(proof);
	Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
	f.kind_case = DECP__MASTER_FRAME__KIND_LOGIN_PROOF;
	f.login_proof = &lp;
	return proto_msg_frame_pack(&f.base, PROTO_FRAME_MAX_DEFAULT, out, cap);
}
