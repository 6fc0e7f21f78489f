/* proto_keyann: the announcement bytes are the documented 112 (checked against a layout
 * built here and against OpenSSL's own Ed25519 verify), only the trusted old key's
 * signature is accepted, and every field is bound by it. */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "proto_keyann.h"
#include "proto_test_util.h"

static uint8_t old_seed[32], new_seed[32], evil_seed[32];
static struct proto_keyann ann;

static void setup(void)
{
	for (int i = 0; i < 32; i++) {
		old_seed[i] = (uint8_t)(1 + i);
		new_seed[i] = (uint8_t)(101 + i);
		evil_seed[i] = (uint8_t)(201 + i);
	}
	memset(&ann, 0, sizeof(ann));
	ann.master_id = 0x0102030405060708ull;
	CU_ASSERT_FATAL(proto_ed25519_public_from_seed(old_seed, ann.old_pub) == 0);
	CU_ASSERT_FATAL(proto_ed25519_public_from_seed(new_seed, ann.new_pub) == 0);
	ann.valid_from_ns = 1796436334000000001ll;
	ann.overlap_until_ns = ann.valid_from_ns + 3600000000000ll;
}

/* The layout is the contract with every receiver (an EA re-implements it). */
static void test_documented_layout(void)
{
	setup();
	uint8_t want[112] = {0}, got[112], sig[64];
	memcpy(want, "decp-key-announce-v1", 20);
	for (int i = 0; i < 8; i++) {
		want[24 + i] = (uint8_t)(ann.master_id >> (56 - 8 * i));
		want[96 + i] = (uint8_t)((uint64_t)ann.valid_from_ns >> (56 - 8 * i));
		want[104 + i] = (uint8_t)((uint64_t)ann.overlap_until_ns >> (56 - 8 * i));
	}
	memcpy(want + 32, ann.old_pub, 32);
	memcpy(want + 64, ann.new_pub, 32);
	CU_ASSERT_EQUAL(proto_keyann_message(&ann, got), 0);
	CU_ASSERT(memcmp(want, got, sizeof(want)) == 0);
	/* The signature is plain Ed25519 over those bytes: OpenSSL verifies it directly. */
	CU_ASSERT_EQUAL_FATAL(proto_keyann_sign(&ann, old_seed, sig), 0);
	EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, ann.old_pub, 32);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	CU_ASSERT(EVP_DigestVerifyInit(c, NULL, NULL, NULL, pk) == 1 &&
		  EVP_DigestVerify(c, sig, 64, want, sizeof(want)) == 1);
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(pk);
}

static void test_only_the_trusted_key(void)
{
	setup();
	uint8_t sig[64], evil_pub[32];
	CU_ASSERT_FATAL(proto_keyann_sign(&ann, old_seed, sig) == 0);
	CU_ASSERT_EQUAL(proto_keyann_verify(&ann, ann.old_pub, sig, 64), 0);
	/* A receiver that trusts another key refuses it, whoever signed. */
	CU_ASSERT_FATAL(proto_ed25519_public_from_seed(evil_seed, evil_pub) == 0);
	CU_ASSERT_EQUAL(proto_keyann_verify(&ann, evil_pub, sig, 64), -EPERM);
	/* Forged: claims the trusted old key, signed by another. sign() refuses a seed that
	 * is not old_pub's, so forge by hand. */
	CU_ASSERT_EQUAL(proto_keyann_sign(&ann, evil_seed, sig), -EINVAL);
	uint8_t m[112];
	CU_ASSERT_FATAL(proto_keyann_message(&ann, m) == 0);
	CU_ASSERT_FATAL(proto_ed25519_sign(evil_seed, m, sizeof(m), sig) == 0);
	CU_ASSERT_EQUAL(proto_keyann_verify(&ann, ann.old_pub, sig, 64), -EBADMSG);
	/* Signed by the NEW key (self-signed announcement): refused. */
	CU_ASSERT_FATAL(proto_ed25519_sign(new_seed, m, sizeof(m), sig) == 0);
	CU_ASSERT_EQUAL(proto_keyann_verify(&ann, ann.old_pub, sig, 64), -EBADMSG);
}

/* Every field is covered: changing any one after signing breaks the signature. */
static void test_binds_every_field(void)
{
	setup();
	uint8_t sig[64];
	CU_ASSERT_FATAL(proto_keyann_sign(&ann, old_seed, sig) == 0);
	struct proto_keyann b;
	for (int f = 0; f < 4; f++) {
		b = ann;
		switch (f) {
		case 0: b.master_id ^= 1; break;
		case 1: b.new_pub[31] ^= 1; break;
		case 2: b.valid_from_ns -= 1; break;
		case 3: b.overlap_until_ns += 1; break;
		}
		CU_ASSERT_EQUAL(proto_keyann_verify(&b, ann.old_pub, sig, 64), -EBADMSG);
	}
	sig[0] ^= 1;
	CU_ASSERT_EQUAL(proto_keyann_verify(&ann, ann.old_pub, sig, 64), -EBADMSG);
}

static void test_bad_input(void)
{
	setup();
	uint8_t sig[64], m[112];
	CU_ASSERT_FATAL(proto_keyann_sign(&ann, old_seed, sig) == 0);
	CU_ASSERT_EQUAL(proto_keyann_verify(&ann, ann.old_pub, sig, 63), -EBADMSG);
	CU_ASSERT_EQUAL(proto_keyann_verify(&ann, ann.old_pub, NULL, 64), -EBADMSG);
	CU_ASSERT_EQUAL(proto_keyann_verify(NULL, ann.old_pub, sig, 64), -EINVAL);
	CU_ASSERT_EQUAL(proto_keyann_verify(&ann, NULL, sig, 64), -EINVAL);
	CU_ASSERT_EQUAL(proto_keyann_message(NULL, m), -EINVAL);
	struct proto_keyann b = ann;
	b.master_id = 0;
	CU_ASSERT_EQUAL(proto_keyann_message(&b, m), -EINVAL);
	b = ann;
	b.overlap_until_ns = b.valid_from_ns - 1; /* boundary: until == from is allowed */
	CU_ASSERT_EQUAL(proto_keyann_message(&b, m), -EINVAL);
	b.overlap_until_ns = b.valid_from_ns;
	CU_ASSERT_EQUAL(proto_keyann_message(&b, m), 0);
	/* Announcing the key already trusted is no rotation. */
	b = ann;
	memcpy(b.new_pub, b.old_pub, 32);
	CU_ASSERT_FATAL(proto_keyann_message(&b, m) == 0);
	CU_ASSERT_FATAL(proto_ed25519_sign(old_seed, m, sizeof(m), sig) == 0);
	CU_ASSERT_EQUAL(proto_keyann_verify(&b, b.old_pub, sig, 64), -EINVAL);
}

int main(void)
{
	static const struct tu_case cases[] = {
		TU_CASE(test_documented_layout),
		TU_CASE(test_only_the_trusted_key),
		TU_CASE(test_binds_every_field),
		TU_CASE(test_bad_input),
	};
	return TU_RUN("proto_keyann", cases);
}
