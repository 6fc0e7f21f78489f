/* proto_hmac: RFC 4231 vectors, bit flips, cross-check against OpenSSL's HMAC(). */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proto_hmac.h"
#include "proto_test_util.h"

struct rfc4231 {
	const char *key_hex;   /* NULL: key is key_byte repeated key_len times */
	uint8_t key_byte;
	size_t key_len;
	const char *data;      /* text */
	const char *data_hex;  /* or hex */
	const char *mac_hex;   /* HMAC-SHA-256; test 5 gives only the first 128 bits */
};

/* RFC 4231 §4.2-4.8, HMAC-SHA-256 results. */
static const struct rfc4231 vectors[] = {
	{ NULL, 0x0b, 20, "Hi There", NULL,
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	{ "4a656665", 0, 0, "what do ya want for nothing?", NULL,
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	{ NULL, 0xaa, 20, NULL,
	  "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	  "dddddddddddddddddddddddddddddddd",
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
	{ "0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 0, NULL,
	  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
	  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
	{ NULL, 0x0c, 20, "Test With Truncation", NULL,
	  "a3b6167473100ee06e0c796c2955552b" },
	{ NULL, 0xaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First", NULL,
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
	{ NULL, 0xaa, 131,
	  "This is a test using a larger than block-size key and a larger than block-size "
	  "data. The key needs to be hashed before being used by the HMAC algorithm.", NULL,
	  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
};

static void load(const struct rfc4231 *v, uint8_t *key, size_t *key_len,
		 uint8_t *data, size_t *data_len, uint8_t *mac, size_t *mac_len)
{
	if (v->key_hex != NULL) {
		*key_len = (size_t)tu_unhex(v->key_hex, key, 256);
	} else {
		memset(key, v->key_byte, v->key_len);
		*key_len = v->key_len;
	}
	if (v->data != NULL) {
		*data_len = strlen(v->data);
		memcpy(data, v->data, *data_len);
	} else {
		*data_len = (size_t)tu_unhex(v->data_hex, data, 256);
	}
	*mac_len = (size_t)tu_unhex(v->mac_hex, mac, 32);
}

static void test_rfc4231_vectors(void)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		uint8_t key[256], data[256], want[32], got[32];
		size_t key_len, data_len, mac_len;
		struct proto_hmac_key k;

		load(&vectors[i], key, &key_len, data, &data_len, want, &mac_len);
		CU_ASSERT_EQUAL_FATAL(proto_hmac_key_init(&k, key, key_len), 0);
		proto_hmac_compute(&k, data, data_len, got);
		CU_ASSERT_EQUAL(memcmp(got, want, mac_len), 0);
		/* Test case 5: a truncated MAC is refused even when its bits match. */
		CU_ASSERT_EQUAL(proto_hmac_verify(&k, data, data_len, want, mac_len),
				mac_len == PROTO_HMAC_LEN ? 0 : -EBADMSG);
		proto_hmac_key_wipe(&k);
	}
}

/* Flipping any single bit of the message or of the MAC must be rejected. */
static void test_every_bit_flip_rejected(void)
{
	uint8_t msg[77], mac[32];
	struct proto_hmac_key k;
	uint64_t seed = 4231;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)tu_rand(&seed);
	CU_ASSERT_EQUAL_FATAL(proto_hmac_key_init(&k, (const uint8_t *)"secret", 6), 0);
	proto_hmac_compute(&k, msg, sizeof(msg), mac);
	CU_ASSERT_EQUAL_FATAL(proto_hmac_verify(&k, msg, sizeof(msg), mac, 32), 0);
	for (size_t bit = 0; bit < sizeof(msg) * 8; bit++) {
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CU_ASSERT_EQUAL(proto_hmac_verify(&k, msg, sizeof(msg), mac, 32), -EBADMSG);
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (size_t bit = 0; bit < sizeof(mac) * 8; bit++) {
		mac[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CU_ASSERT_EQUAL(proto_hmac_verify(&k, msg, sizeof(msg), mac, 32), -EBADMSG);
		mac[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CU_ASSERT_EQUAL(proto_hmac_verify(&k, msg, sizeof(msg), mac, 32), 0);
}

/* proto_hmac_equal, the constant-time compare verify uses: equal at any alignment; unequal
 * when any one byte differs (every bit of every byte, and every other value of the byte),
 * whichever of the four 64-bit words that byte falls in; unequal when all differ. */
static void test_equal_every_byte(void)
{
	uint8_t buf_a[PROTO_HMAC_LEN + 8], buf_b[PROTO_HMAC_LEN + 8];
	uint64_t seed = 32;

	for (size_t i = 0; i < sizeof(buf_a); i++)
		buf_a[i] = (uint8_t)tu_rand(&seed);
	for (size_t off_a = 0; off_a < 8; off_a++) {
		for (size_t off_b = 0; off_b < 8; off_b += 3) {
			uint8_t *a = buf_a + off_a, *b = buf_b + off_b;

			memcpy(b, a, PROTO_HMAC_LEN);
			CU_ASSERT_TRUE(proto_hmac_equal(a, b));
			CU_ASSERT_TRUE(proto_hmac_equal(b, a));
			for (size_t i = 0; i < PROTO_HMAC_LEN; i++) {
				for (unsigned v = 1; v < 256; v++) {
					b[i] ^= (uint8_t)v;
					if (proto_hmac_equal(a, b) || proto_hmac_equal(b, a))
						CU_FAIL("a difference in one byte went unseen");
					b[i] ^= (uint8_t)v;
				}
			}
			CU_ASSERT_TRUE(proto_hmac_equal(a, b));
			for (size_t i = 0; i < PROTO_HMAC_LEN; i++)
				b[i] = (uint8_t)~a[i];
			CU_ASSERT_FALSE(proto_hmac_equal(a, b));
		}
	}
	memset(buf_a, 0, sizeof(buf_a));
	memset(buf_b, 0, sizeof(buf_b));
	CU_ASSERT_TRUE(proto_hmac_equal(buf_a, buf_b));
	buf_b[PROTO_HMAC_LEN - 1] = 0x80; /* the last bit of the last word */
	CU_ASSERT_FALSE(proto_hmac_equal(buf_a, buf_b));
}

static void test_bad_arguments(void)
{
	struct proto_hmac_key k;
	uint8_t mac[33] = { 0 };

	CU_ASSERT_EQUAL(proto_hmac_key_init(NULL, mac, 1), -EINVAL);
	CU_ASSERT_EQUAL(proto_hmac_key_init(&k, NULL, 1), -EINVAL);
	CU_ASSERT_EQUAL(proto_hmac_key_init(&k, mac, PROTO_HMAC_KEY_MAX + 1), -EINVAL);
	CU_ASSERT_EQUAL(proto_hmac_key_init(&k, NULL, 0), 0); /* empty key is legal HMAC */
	proto_hmac_compute(&k, NULL, 0, mac);
	CU_ASSERT_EQUAL(proto_hmac_verify(&k, NULL, 0, mac, 32), 0);
	CU_ASSERT_EQUAL(proto_hmac_verify(&k, NULL, 0, NULL, 32), -EBADMSG);
	CU_ASSERT_EQUAL(proto_hmac_verify(&k, NULL, 0, mac, 31), -EBADMSG);
	CU_ASSERT_EQUAL(proto_hmac_verify(&k, NULL, 0, mac, 33), -EBADMSG);
	CU_ASSERT_EQUAL(proto_hmac_verify(&k, NULL, 0, mac, 0), -EBADMSG);
}

/* Same results as OpenSSL's one-shot HMAC() for key and message lengths around the block. */
static void test_matches_openssl_hmac(void)
{
	uint8_t key[200], msg[300], a[32], b[32];
	unsigned int blen;
	uint64_t seed = 99;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)tu_rand(&seed);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)tu_rand(&seed);
	for (size_t kl = 0; kl <= sizeof(key); kl += 7) {
		struct proto_hmac_key k;

		CU_ASSERT_EQUAL_FATAL(proto_hmac_key_init(&k, key, kl), 0);
		for (size_t ml = 0; ml <= sizeof(msg); ml += 13) {
			proto_hmac_compute(&k, msg, ml, a);
			blen = 0;
			CU_ASSERT_PTR_NOT_NULL(HMAC(EVP_sha256(), key, (int)kl, msg, ml, b, &blen));
			CU_ASSERT_EQUAL(blen, 32u);
			CU_ASSERT_EQUAL(memcmp(a, b, 32), 0);
		}
	}
}

/* A schedule is reusable: many messages with one key give independent results. */
static void test_key_reuse_is_stateless(void)
{
	struct proto_hmac_key k;
	uint8_t first[32], again[32], other[32];

	CU_ASSERT_EQUAL_FATAL(proto_hmac_key_init(&k, (const uint8_t *)"k", 1), 0);
	proto_hmac_compute(&k, (const uint8_t *)"abc", 3, first);
	proto_hmac_compute(&k, (const uint8_t *)"xyz", 3, other);
	proto_hmac_compute(&k, (const uint8_t *)"abc", 3, again);
	CU_ASSERT_EQUAL(memcmp(first, again, 32), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(first, other, 32), 0);
}

int main(void)
{
	static const struct tu_case cases[] = {
		TU_CASE(test_rfc4231_vectors),
		TU_CASE(test_every_bit_flip_rejected),
		TU_CASE(test_equal_every_byte),
		TU_CASE(test_bad_arguments),
		TU_CASE(test_matches_openssl_hmac),
		TU_CASE(test_key_reuse_is_stateless),
	};
	return TU_RUN("proto_hmac", cases);
}
