/* CUnit: cp_fanout_snap's pure parts (cp_fanout_snap.h): when a Subscribe is answered by a
 * snapshot, and the snapshot's messages (every one under the 1,024-byte message limit,
 * decoded back to the book, in order); signed snapshots (proto_snapsig.h) as
 * decp-subscriber receives them (sub_resync.h): the fan-out's signature verifies, and a
 * snapshot tampered with in any way on its way is refused. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_book.h"
#include "cp_fanout_snap.h"
#include "proto_msg.h"
#include "proto_sign.h"
#include "sub_resync.h"

#define MS INT64_C(1000000)

static void test_wanted(void)
{
	int64_t now = 1000000 * MS, stale = CP_SNAP_STALE_NS;

	/* nothing to replay: live from here, whatever the ring says */
	CU_ASSERT_FALSE(cp_snap_wanted(0, 10, false, 0, now, stale));
	CU_ASSERT_FALSE(cp_snap_wanted(11, 10, false, 0, now, stale));
	CU_ASSERT_FALSE(cp_snap_wanted(5, 0, false, 0, now, stale));
	/* older than the ring: stale by size */
	CU_ASSERT_TRUE(cp_snap_wanted(10, 10, false, 0, now, stale));
	CU_ASSERT_TRUE(cp_snap_wanted(1, 10, false, 0, now, stale));
	/* in the ring: its age decides, the boundary itself is still fresh */
	CU_ASSERT_FALSE(cp_snap_wanted(5, 10, true, now - stale, now, stale));
	CU_ASSERT_TRUE(cp_snap_wanted(5, 10, true, now - stale - 1, now, stale));
	CU_ASSERT_FALSE(cp_snap_wanted(5, 10, true, now, now, stale));
	CU_ASSERT_FALSE(cp_snap_wanted(5, 10, true, now + 5 * MS, now, stale)); /* clocks */
}

static void book_of(struct cp_book *b, size_t n)
{
	static const char *const sym[3] = {"EURUSD", "XAUUSD.ecn_long_suffix_x1234567", "USDJPY"};

	cp_book_init(b, 7);
	for (size_t i = 0; i < n; i++) {
		struct cp_book_signal s = {.master_id = 7, .sequence = i + 1,
					   .ticket = UINT64_MAX - i, .order_type = 1 + i % 6,
					   .symbol = sym[i % 3], .volume = INT64_MAX / 3,
					   .price = INT64_MAX / 2, .sl = INT64_MAX / 5, .tp = INT64_MAX / 7,
					   .expiration_ns = i % 6 >= 2 ? INT64_MAX : 0};

		CU_ASSERT_EQUAL_FATAL(cp_book_apply(b, &s, NULL), 0);
	}
}

/* Messages of a book of n entries: Begin, ceil(n / 8) parts, End, each <= 1,024 bytes and
 * decoding to exactly the book. */
static void check_msgs(size_t n)
{
	struct cp_book b;
	struct cp_fmsg **v = NULL;
	long k;
	size_t got = 0;

	book_of(&b, n);
	k = cp_snap_msgs(&b, 42, 3, 2, NULL, &v);
	CU_ASSERT_EQUAL_FATAL(k, (long)((n + 7) / 8 + 2));
	for (long i = 0; i < k; i++) {
		Decp__ServerMessage *sm;

		CU_ASSERT(v[i]->len <= 1024);
		sm = proto_server_message_decode(cp_fmsg_payload(v[i]), v[i]->len, NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(sm);
		if (i == 0) {
			CU_ASSERT_EQUAL(sm->kind_case, DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN);
			CU_ASSERT_EQUAL(sm->snapshot_begin->master_id, 7);
			CU_ASSERT_EQUAL(sm->snapshot_begin->sequence, n);
			CU_ASSERT_EQUAL(sm->snapshot_begin->count, n);
			CU_ASSERT_EQUAL(sm->snapshot_begin->from_sequence, 3);
			CU_ASSERT_EQUAL(sm->snapshot_begin->reason, 2);
			CU_ASSERT_EQUAL(sm->snapshot_begin->subscription_id, 42);
		} else if (i == k - 1) {
			CU_ASSERT_EQUAL(sm->kind_case, DECP__SERVER_MESSAGE__KIND_SNAPSHOT_END);
			CU_ASSERT_EQUAL(sm->snapshot_end->sequence, n);
			CU_ASSERT_EQUAL(sm->snapshot_end->count, n);
		} else {
			Decp__SnapshotPart *p = sm->snapshot_part;

			CU_ASSERT_EQUAL_FATAL(sm->kind_case, DECP__SERVER_MESSAGE__KIND_SNAPSHOT_PART);
			CU_ASSERT(p->n_entries >= 1 && p->n_entries <= CP_SNAP_PART_ENTRIES);
			CU_ASSERT_EQUAL(p->sequence, n);
			for (size_t j = 0; j < p->n_entries; j++, got++) {
				const struct cp_book_entry *e = cp_book_find(&b, p->entries[j]->ticket);

				CU_ASSERT_PTR_NOT_NULL_FATAL(e);
				CU_ASSERT_EQUAL(p->entries[j]->type, e->type);
				CU_ASSERT_STRING_EQUAL(p->entries[j]->symbol, e->symbol);
				CU_ASSERT_EQUAL(p->entries[j]->volume, e->volume);
				CU_ASSERT_EQUAL(p->entries[j]->price, e->price);
				CU_ASSERT_EQUAL(p->entries[j]->sl, e->sl);
				CU_ASSERT_EQUAL(p->entries[j]->tp, e->tp);
				CU_ASSERT_EQUAL(p->entries[j]->expiration_ns, e->expiration_ns);
			}
		}
		proto_msg_free(&sm->base, NULL);
		cp_fmsg_unref(v[i]);
	}
	CU_ASSERT_EQUAL(got, n);
	free(v);
	cp_book_free(&b);
}

static void test_msgs(void)
{
	static const size_t sizes[] = {0, 1, 8, 9, 10000};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_msgs(sizes[i]);
}

enum tamper { T_NONE, T_VOLUME, T_SYMBOL, T_TICKET, T_SWAP, T_DROP_PART, T_SIG_BIT, T_NO_SIG,
	      T_SEQ, T_MASTER, T_COUNT };

/* A signed snapshot of a 20-entry book (3 parts), decoded, tampered with as t says, and
 * received by decp-subscriber's sub_snap with the platform key pk. Returns
 * sub_snap_verify's answer (or -EPROTO when sub_snap itself refused it). */
static int receive(const struct proto_ed25519_key *sk, const struct proto_ed25519_key *pk,
		   enum tamper t)
{
	struct cp_book b;
	struct cp_fmsg **v = NULL;
	Decp__ServerMessage *sm[8] = {0};
	struct sub_snap s;
	long k;
	int rc = -EPROTO;

	memset(&s, 0, sizeof(s));
	cp_book_init(&b, 7);
	for (uint64_t i = 1; i <= 20; i++) { /* symbols an EA's book holds (< 32 bytes) */
		struct cp_book_signal o = {.master_id = 7, .sequence = i, .ticket = 1000 + i,
					   .order_type = 1 + i % 6, .symbol = i % 2 ? "EURUSD" : "XAUUSD.m",
					   .volume = 10 * (int64_t)i, .price = 108000 + (int64_t)i,
					   .sl = 107000, .tp = 109000};

		CU_ASSERT_EQUAL_FATAL(cp_book_apply(&b, &o, NULL), 0);
	}
	k = cp_snap_msgs(&b, 42, 3, 2, t == T_NO_SIG ? NULL : sk, &v);
	CU_ASSERT_EQUAL_FATAL(k, 5);
	for (long i = 0; i < k; i++) {
		sm[i] = proto_server_message_decode(cp_fmsg_payload(v[i]), v[i]->len, NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(sm[i]);
		cp_fmsg_unref(v[i]);
	}
	free(v);
	Decp__SnapshotPart *p1 = sm[1]->snapshot_part, *p2 = sm[2]->snapshot_part;
	Decp__SnapshotEnd *e = sm[4]->snapshot_end;
	Decp__BookEntry *x;
	switch (t) {
	case T_VOLUME: p2->entries[3]->volume -= 1; break;
	case T_SYMBOL: p2->entries[3]->symbol[0] ^= 0x20; break;
	case T_TICKET: p1->entries[0]->ticket ^= 1; break;
	case T_SWAP: x = p1->entries[0]; p1->entries[0] = p1->entries[1]; p1->entries[1] = x; break;
	case T_SIG_BIT: e->signature.data[17] ^= 0x04; break;
	case T_SEQ: /* S in every message: the subscriber's own checks pass, not the signature */
		sm[0]->snapshot_begin->sequence++;
		for (int i = 1; i <= 3; i++)
			sm[i]->snapshot_part->sequence++;
		e->sequence++;
		break;
	case T_MASTER: break; /* verified against master 8 below */
	default: break;
	}
	if (t == T_COUNT) { /* a part dropped and the counts lowered to match */
		sm[0]->snapshot_begin->count -= (uint32_t)sm[3]->snapshot_part->n_entries;
		e->count = sm[0]->snapshot_begin->count;
	}
	sub_snap_begin(&s, sm[0]->snapshot_begin);
	for (int i = 1; i <= 3; i++) {
		if ((t == T_DROP_PART || t == T_COUNT) && i == 3)
			continue;
		if (sub_snap_part(&s, sm[i]->snapshot_part) != 0)
			goto out;
	}
	if (t == T_MASTER)
		e->master_id = 8, s.master = 8;
	if (sub_snap_end(&s, e) != 0)
		goto out;
	rc = sub_snap_verify(&s, e, pk);
out:
	for (int i = 0; i < 5; i++)
		proto_msg_free(&sm[i]->base, NULL);
	sub_snap_free(&s);
	cp_book_free(&b);
	return rc;
}

static void test_signed(void)
{
	uint8_t seed[32], pub[32], other_pub[32];
	struct proto_ed25519_key *sk, *pk, *other;

	memset(seed, 0x42, sizeof(seed));
	CU_ASSERT_EQUAL_FATAL(proto_ed25519_public_from_seed(seed, pub), 0);
	sk = proto_ed25519_key_new_private(seed);
	pk = proto_ed25519_key_new_public(pub);
	seed[0] ^= 1;
	CU_ASSERT_EQUAL_FATAL(proto_ed25519_public_from_seed(seed, other_pub), 0);
	other = proto_ed25519_key_new_public(other_pub);
	CU_ASSERT_FATAL(sk != NULL && pk != NULL && other != NULL);

	CU_ASSERT_EQUAL(receive(sk, pk, T_NONE), 0);
	/* signed by another key than the one the receiver trusts */
	CU_ASSERT_EQUAL(receive(sk, other, T_NONE), -EBADMSG);
	/* tampered on the way: an entry's field, a symbol, a ticket, the order, the signature,
	 * no signature, another sequence or master, a part dropped with the counts adjusted */
	CU_ASSERT_EQUAL(receive(sk, pk, T_VOLUME), -EBADMSG);
	CU_ASSERT_EQUAL(receive(sk, pk, T_SYMBOL), -EBADMSG);
	CU_ASSERT_EQUAL(receive(sk, pk, T_TICKET), -EBADMSG);
	CU_ASSERT_EQUAL(receive(sk, pk, T_SWAP), -EBADMSG);
	CU_ASSERT_EQUAL(receive(sk, pk, T_SIG_BIT), -EBADMSG);
	CU_ASSERT_EQUAL(receive(sk, pk, T_NO_SIG), -EBADMSG);
	CU_ASSERT_EQUAL(receive(sk, pk, T_SEQ), -EBADMSG);
	CU_ASSERT_EQUAL(receive(sk, pk, T_MASTER), -EBADMSG);
	CU_ASSERT_EQUAL(receive(sk, pk, T_COUNT), -EBADMSG);
	/* a part dropped alone: the subscriber's count check refuses it before */
	CU_ASSERT_EQUAL(receive(sk, pk, T_DROP_PART), -EPROTO);
	proto_ed25519_key_free(sk);
	proto_ed25519_key_free(pk);
	proto_ed25519_key_free(other);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_fanout_snap", NULL, NULL);
	CU_add_test(s, "replay or snapshot", test_wanted);
	CU_add_test(s, "snapshot messages: limits, order, round trip", test_msgs);
	CU_add_test(s, "signed snapshots: verified; tampered, re-ordered, unsigned refused",
		    test_signed);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
