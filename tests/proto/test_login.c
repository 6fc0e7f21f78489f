/* proto_login: the proof is HMAC-SHA256(SHA-256(token), the documented 88 bytes) (checked
 * against OpenSSL's HMAC()), binds nonce, master and channel binding, and the frames the
 * clients send decode to what they should. */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "proto_login.h"
#include "proto_msg.h"
#include "proto_test_util.h"

static const char *tok = "0123456789abcdef-license";

static void server_key(struct proto_hmac_key *k)
{
	uint8_t h[32];
	SHA256((const unsigned char *)tok, strlen(tok), h);
	CU_ASSERT_EQUAL_FATAL(proto_hmac_key_init(k, h, 32), 0);
}

/* The message layout is the contract with every client (an EA DLL re-implements it). */
static void test_matches_documented_layout(void)
{
	uint8_t nonce[32], bind[32], key[32], msg[88], want[32], got[32];
	unsigned int wl = 0;
	for (int i = 0; i < 32; i++) {
		nonce[i] = (uint8_t)i;
		bind[i] = (uint8_t)(0xf0 ^ i);
	}
	SHA256((const unsigned char *)tok, strlen(tok), key);
	memset(msg, 0, sizeof(msg));
	memcpy(msg, "decp-login-v2", 13);
	memcpy(msg + 16, nonce, 32);
	msg[48 + 7] = 0x2a; /* master 42, big endian */
	msg[48 + 6] = 0x01; /* + 256 */
	memcpy(msg + 56, bind, 32);
	HMAC(EVP_sha256(), key, 32, msg, sizeof(msg), want, &wl);
	CU_ASSERT_EQUAL(proto_login_proof(tok, strlen(tok), nonce, 32, 298, bind, got), 0);
	CU_ASSERT_EQUAL(memcmp(want, got, 32), 0);
	/* the builder decp.dll HMACs with libgcrypt writes exactly these bytes */
	uint8_t built[PROTO_LOGIN_MSG_LEN];
	CU_ASSERT_EQUAL(proto_login_message(nonce, 32, 298, bind, built), 0);
	CU_ASSERT_EQUAL(memcmp(built, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(proto_login_message(nonce, 31, 298, bind, built), -EINVAL);
	CU_ASSERT_EQUAL(proto_login_message(NULL, 32, 298, bind, built), -EINVAL);
	CU_ASSERT_EQUAL(proto_login_message(nonce, 32, 0, bind, built), -EINVAL);
	CU_ASSERT_EQUAL(proto_login_message(nonce, 32, 298, bind, NULL), -EINVAL);
	/* No binding = 32 zero bytes. */
	memset(msg + 56, 0, 32);
	CU_ASSERT_EQUAL(proto_login_message(nonce, 32, 298, NULL, built), 0);
	CU_ASSERT_EQUAL(memcmp(built, msg, sizeof(msg)), 0);
	HMAC(EVP_sha256(), key, 32, msg, sizeof(msg), want, &wl);
	CU_ASSERT_EQUAL(proto_login_proof(tok, strlen(tok), nonce, 32, 298, NULL, got), 0);
	CU_ASSERT_EQUAL(memcmp(want, got, 32), 0);
}

static void test_verify_binds_everything(void)
{
	struct proto_hmac_key k;
	uint8_t nonce[32], other[32], bind[32], proof[32];
	memset(nonce, 7, sizeof(nonce));
	memset(other, 7, sizeof(other));
	other[31] ^= 1;
	memset(bind, 9, sizeof(bind));
	server_key(&k);
	CU_ASSERT_EQUAL(proto_login_proof(tok, strlen(tok), nonce, 32, 5, NULL, proof), 0);
	CU_ASSERT_EQUAL(proto_login_verify(&k, nonce, 32, 5, NULL, proof, 32), 0);
	/* another connection's nonce (a replay), another master, a binding, a wrong token */
	CU_ASSERT_EQUAL(proto_login_verify(&k, other, 32, 5, NULL, proof, 32), -EBADMSG);
	CU_ASSERT_EQUAL(proto_login_verify(&k, nonce, 32, 6, NULL, proof, 32), -EBADMSG);
	CU_ASSERT_EQUAL(proto_login_verify(&k, nonce, 32, 5, bind, proof, 32), -EBADMSG);
	CU_ASSERT_EQUAL(proto_login_proof("x", 1, nonce, 32, 5, NULL, proof), 0);
	CU_ASSERT_EQUAL(proto_login_verify(&k, nonce, 32, 5, NULL, proof, 32), -EBADMSG);
	/* every bit of a good proof matters; truncation is refused */
	CU_ASSERT_EQUAL(proto_login_proof(tok, strlen(tok), nonce, 32, 5, NULL, proof), 0);
	for (int i = 0; i < 256; i++) {
		proof[i / 8] ^= (uint8_t)(1u << (i % 8));
		CU_ASSERT_EQUAL(proto_login_verify(&k, nonce, 32, 5, NULL, proof, 32), -EBADMSG);
		proof[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	CU_ASSERT_EQUAL(proto_login_verify(&k, nonce, 32, 5, NULL, proof, 31), -EBADMSG);
	CU_ASSERT_EQUAL(proto_login_verify(&k, nonce, 32, 5, NULL, NULL, 32), -EBADMSG);
	CU_ASSERT_EQUAL(proto_login_verify(&k, nonce, 31, 5, NULL, proof, 32), -EBADMSG);
}

static void test_bad_arguments(void)
{
	uint8_t nonce[32] = {0}, out[32];
	CU_ASSERT_EQUAL(proto_login_proof(NULL, 0, nonce, 32, 5, NULL, out), -EINVAL);
	CU_ASSERT_EQUAL(proto_login_proof(tok, 3, NULL, 32, 5, NULL, out), -EINVAL);
	CU_ASSERT_EQUAL(proto_login_proof(tok, 3, nonce, 16, 5, NULL, out), -EINVAL);
	CU_ASSERT_EQUAL(proto_login_proof(tok, 3, nonce, 32, 0, NULL, out), -EINVAL);
	uint8_t fr[8];
	CU_ASSERT_EQUAL(proto_login_hello_frame(0, "x", fr, sizeof(fr)), -EINVAL);
	CU_ASSERT(proto_login_hello_frame(5, "x", fr, sizeof(fr)) == -ENOBUFS);
	CU_ASSERT(proto_login_proof_frame(tok, 3, nonce, 32, 5, NULL, fr, sizeof(fr)) == -ENOBUFS);
}

/* What the clients send: Hello without a token, LoginProof with the proof. */
static void test_frames(void)
{
	uint8_t fr[256], nonce[32], proof[32];
	memset(nonce, 3, sizeof(nonce));
	ssize_t n = proto_login_hello_frame(77, "client/1", fr, sizeof(fr));
	CU_ASSERT_FATAL(n > 4);
	Decp__MasterFrame *f = proto_master_frame_decode(fr + 4, (size_t)n - 4, NULL);
	CU_ASSERT_FATAL(f != NULL && f->kind_case == DECP__MASTER_FRAME__KIND_HELLO);
	CU_ASSERT(f->hello->master_id == 77 && f->hello->protocol_version == PROTO_PROTOCOL_VERSION);
	CU_ASSERT(f->hello->license_token == NULL || f->hello->license_token[0] == '\0');
	CU_ASSERT(strcmp(f->hello->client_version, "client/1") == 0);
	proto_msg_free(&f->base, NULL);
	n = proto_login_proof_frame(tok, strlen(tok), nonce, 32, 77, NULL, fr, sizeof(fr));
	CU_ASSERT_FATAL(n > 4);
	f = proto_master_frame_decode(fr + 4, (size_t)n - 4, NULL);
	CU_ASSERT_FATAL(f != NULL && f->kind_case == DECP__MASTER_FRAME__KIND_LOGIN_PROOF);
	CU_ASSERT_EQUAL(proto_login_proof(tok, strlen(tok), nonce, 32, 77, NULL, proof), 0);
	CU_ASSERT(f->login_proof->proof.len == 32 &&
		  memcmp(f->login_proof->proof.data, proof, 32) == 0);
	proto_msg_free(&f->base, NULL);
	/* The token's bytes appear in neither frame. */
	CU_ASSERT(memmem(fr, (size_t)n, tok, strlen(tok)) == NULL);
}

int main(void)
{
	static const struct tu_case cases[] = {
		TU_CASE(test_matches_documented_layout),
		TU_CASE(test_verify_binds_everything),
		TU_CASE(test_bad_arguments),
		TU_CASE(test_frames),
	};
	return TU_RUN("proto_login", cases);
}
