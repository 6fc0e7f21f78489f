/* CUnit: cp_fanout_snap's pure parts (cp_fanout_snap.h): when a Subscribe is answered by a
 * snapshot, and the snapshot's messages (every one under the 1,024-byte message limit,
 * decoded back to the book, in order). */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_book.h"
#include "cp_fanout_snap.h"
#include "proto_msg.h"

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
	k = cp_snap_msgs(&b, 42, 3, 2, &v);
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

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_fanout_snap", NULL, NULL);
	CU_add_test(s, "replay or snapshot", test_wanted);
	CU_add_test(s, "snapshot messages: limits, order, round trip", test_msgs);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
