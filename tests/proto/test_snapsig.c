/*
 * proto_snapsig: the bytes a re-sync snapshot's signature covers, pinned (docs/protocol.md
 * "Signed snapshots": a receiver that builds them itself, decp.dll, must match), and sign /
 * verify over entries added one by one: equal entries verify, any change does not.
 */
#include <errno.h>
#include <string.h>

#include <openssl/sha.h>

#include "proto_snapsig.h"
#include "proto_test_util.h"

static void test_layout(void)
{
	uint8_t e[PROTO_SNAPSIG_ENTRY_MAX], want[PROTO_SNAPSIG_ENTRY_MAX], d[32], msg[68];
	long n = tu_unhex("00000000000003e9"   /* ticket 1001 */
			  "00000003"           /* type BUY_LIMIT */
			  "06" "455552555344"  /* "EURUSD" */
			  "000000000000000a"   /* volume 10 */
			  "000000000001a5e0"   /* price 108000 */
			  "0000000000000000"   /* sl */
			  "fffffffffffffffe"   /* tp -2 (two's complement; invalid, but encoded) */
			  "0000000000000005",  /* expiration */
			  want, sizeof(want));

	CU_ASSERT_EQUAL_FATAL(n, 8 + 4 + 1 + 6 + 40);
	CU_ASSERT_EQUAL(proto_snapsig_entry(e, 1001, 3, "EURUSD", 10, 108000, 0, -2, 5), (size_t)n);
	CU_ASSERT_EQUAL(memcmp(e, want, (size_t)n), 0);
	CU_ASSERT_EQUAL(proto_snapsig_entry(e, 1, 1, "", 1, 1, 0, 0, 0), 0u);
	CU_ASSERT_EQUAL(proto_snapsig_entry(e, 1, 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", 1, 1, 0,
					    0, 0), 0u); /* 33 bytes */
	for (int i = 0; i < 32; i++)
		d[i] = (uint8_t)i;
	proto_snapsig_message(msg, 7, 20, 3, d);
	CU_ASSERT_EQUAL(memcmp(msg, "decp-snapshot-v1", 16), 0);
	CU_ASSERT_EQUAL(memcmp(msg + 16, "\0\0\0\0\0\0\0\x07\0\0\0\0\0\0\0\x14\0\0\0\x03", 20), 0);
	CU_ASSERT_EQUAL(memcmp(msg + 36, d, 32), 0);
}

static void test_sign_verify(void)
{
	uint8_t seed[32], pub[32], sig[64];
	struct proto_ed25519_key *sk, *pk;
	Decp__BookEntry e[3];
	struct proto_snapsig s;

	memset(seed, 7, sizeof(seed));
	CU_ASSERT_EQUAL_FATAL(proto_ed25519_public_from_seed(seed, pub), 0);
	sk = proto_ed25519_key_new_private(seed);
	pk = proto_ed25519_key_new_public(pub);
	for (int i = 0; i < 3; i++) {
		decp__book_entry__init(&e[i]);
		e[i].ticket = 100 + (uint64_t)i;
		e[i].type = DECP__ORDER_TYPE__ORDER_TYPE_SELL;
		e[i].symbol = "GBPUSD";
		e[i].volume = 5;
		e[i].price = 126500;
	}
	proto_snapsig_init(&s);
	for (int i = 0; i < 3; i++)
		proto_snapsig_add(&s, &e[i]);
	CU_ASSERT_EQUAL_FATAL(proto_snapsig_sign(&s, sk, 7, 20, sig), 0);
	/* the same entries verify; fewer, another count, master or sequence do not */
	proto_snapsig_init(&s);
	for (int i = 0; i < 3; i++)
		proto_snapsig_add(&s, &e[i]);
	CU_ASSERT_EQUAL(proto_snapsig_verify(&s, pk, 7, 20, 3, sig, 64), 0);
	proto_snapsig_init(&s);
	for (int i = 0; i < 2; i++)
		proto_snapsig_add(&s, &e[i]);
	CU_ASSERT_EQUAL(proto_snapsig_verify(&s, pk, 7, 20, 2, sig, 64), -EBADMSG);
	proto_snapsig_init(&s);
	for (int i = 0; i < 3; i++)
		proto_snapsig_add(&s, &e[i]);
	CU_ASSERT_EQUAL(proto_snapsig_verify(&s, pk, 7, 20, 4, sig, 64), -EBADMSG);
	proto_snapsig_init(&s);
	for (int i = 0; i < 3; i++)
		proto_snapsig_add(&s, &e[i]);
	CU_ASSERT_EQUAL(proto_snapsig_verify(&s, pk, 7, 21, 3, sig, 64), -EBADMSG);
	proto_snapsig_init(&s);
	for (int i = 0; i < 3; i++)
		proto_snapsig_add(&s, &e[i]);
	CU_ASSERT_EQUAL(proto_snapsig_verify(&s, pk, 7, 20, 3, sig, 63), -EBADMSG);
	/* an entry that cannot be encoded never verifies, nor signs */
	e[1].symbol = "";
	proto_snapsig_init(&s);
	for (int i = 0; i < 3; i++)
		proto_snapsig_add(&s, &e[i]);
	CU_ASSERT_EQUAL(proto_snapsig_verify(&s, pk, 7, 20, 3, sig, 64), -EBADMSG);
	proto_snapsig_init(&s);
	for (int i = 0; i < 3; i++)
		proto_snapsig_add(&s, &e[i]);
	CU_ASSERT_EQUAL(proto_snapsig_sign(&s, sk, 7, 20, sig), -EINVAL);
	proto_ed25519_key_free(sk);
	proto_ed25519_key_free(pk);
}

int main(void)
{
	static const struct tu_case cases[] = {
		TU_CASE(test_layout),
		TU_CASE(test_sign_verify),
	};

	return TU_RUN("proto_snapsig", cases);
}
