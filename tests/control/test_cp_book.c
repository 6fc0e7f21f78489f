/*
 * test_cp_book: CUnit tests of cp_book, a master's position book (controlplane/common/
 * cp_book.h), over sequences of signals: open, modify SL/TP, partial and full close,
 * pending place/modify/delete, the anomalies, the sequence rule (redelivery, gap), the
 * Redis encoding round trip and what decoding refuses, and 20,000 random signals against
 * a naive model (the index's deletions keep every ticket findable). Pure: no I/O.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cp_book.h"
#include "guard_types.h"

#define M 7u

static struct cp_book_signal sig(uint64_t seq, uint32_t type, uint64_t ticket, int64_t volume,
				 int64_t price, int64_t sl, int64_t tp)
{
	struct cp_book_signal s = {.master_id = M, .sequence = seq, .ticket = ticket,
				   .order_type = type, .symbol = "EURUSD", .volume = volume,
				   .price = price, .sl = sl, .tp = tp};
	return s;
}

static enum cp_book_effect apply(struct cp_book *b, struct cp_book_signal s)
{
	enum cp_book_effect eff = 0;

	CU_ASSERT_EQUAL(cp_book_apply(b, &s, &eff), 0);
	CU_ASSERT_EQUAL(b->seq, s.sequence);
	return eff;
}

static void test_position_lifecycle(void)
{
	struct cp_book b;
	const struct cp_book_entry *e;

	cp_book_init(&b, M);
	CU_ASSERT_EQUAL(apply(&b, sig(1, GUARD_ORDER_BUY, 100, 100, 108000, 107500, 109000)),
			CP_BOOK_OPENED);
	CU_ASSERT_EQUAL(apply(&b, sig(2, GUARD_ORDER_SELL, 101, 50, 126500, 0, 0)), CP_BOOK_OPENED);
	CU_ASSERT_EQUAL(b.n, 2);
	/* SL/TP moved */
	CU_ASSERT_EQUAL(apply(&b, sig(3, GUARD_ORDER_MODIFY, 100, 0, 108100, 107900, 109200)),
			CP_BOOK_MODIFIED);
	e = cp_book_find(&b, 100);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(e->sl, 107900);
	CU_ASSERT_EQUAL(e->tp, 109200);
	CU_ASSERT_EQUAL(e->price, 108000); /* a position's open price does not move */
	CU_ASSERT_EQUAL(e->opened_seq, 1);
	CU_ASSERT_EQUAL(e->updated_seq, 3);
	/* partial close 0.40 of 1.00 */
	CU_ASSERT_EQUAL(apply(&b, sig(4, GUARD_ORDER_CLOSE_PARTIAL, 100, 40, 108200, 0, 0)),
			CP_BOOK_REDUCED);
	CU_ASSERT_EQUAL(cp_book_find(&b, 100)->volume, 60);
	/* a partial close of all that is left closes it */
	CU_ASSERT_EQUAL(apply(&b, sig(5, GUARD_ORDER_CLOSE_PARTIAL, 100, 60, 108200, 0, 0)),
			CP_BOOK_CLOSED);
	CU_ASSERT_PTR_NULL(cp_book_find(&b, 100));
	CU_ASSERT_EQUAL(apply(&b, sig(6, GUARD_ORDER_CLOSE, 101, 0, 126400, 0, 0)), CP_BOOK_CLOSED);
	CU_ASSERT_EQUAL(b.n, 0);
	CU_ASSERT_EQUAL(b.anomalies, 0);
	cp_book_free(&b);
}

static void test_pending_orders(void)
{
	struct cp_book b;
	struct cp_book_signal s;

	cp_book_init(&b, M);
	s = sig(1, GUARD_ORDER_BUY_LIMIT, 200, 30, 107000, 106500, 108000);
	s.expiration_ns = 1800000000000000000;
	CU_ASSERT_EQUAL(apply(&b, s), CP_BOOK_PLACED);
	CU_ASSERT_EQUAL(cp_book_find(&b, 200)->expiration_ns, 1800000000000000000);
	/* MODIFY moves a pending order's price */
	CU_ASSERT_EQUAL(apply(&b, sig(2, GUARD_ORDER_MODIFY, 200, 0, 107100, 106600, 108100)),
			CP_BOOK_MODIFIED);
	CU_ASSERT_EQUAL(cp_book_find(&b, 200)->price, 107100);
	/* a partial close of a pending order is an anomaly and changes nothing */
	CU_ASSERT_EQUAL(apply(&b, sig(3, GUARD_ORDER_CLOSE_PARTIAL, 200, 10, 107100, 0, 0)),
			CP_BOOK_ANOMALY_NOT_POSITION);
	CU_ASSERT_EQUAL(cp_book_find(&b, 200)->volume, 30);
	/* CLOSE deletes it */
	CU_ASSERT_EQUAL(apply(&b, sig(4, GUARD_ORDER_CLOSE, 200, 0, 0, 0, 0)), CP_BOOK_CLOSED);
	CU_ASSERT_EQUAL(b.n, 0);
	CU_ASSERT_EQUAL(b.anomalies, 1);
	cp_book_free(&b);
}

/* A pending order's fill: MT5 gives the position the order's ticket and DecpMaster signals
 * the opening deal. BUY/SELL of the order's side and symbol turns it into the position
 * (not an anomaly); another side or symbol is a reopening as before. */
static void test_pending_filled(void)
{
	struct cp_book b;
	struct cp_book_signal s;
	const struct cp_book_entry *e;

	cp_book_init(&b, M);
	CU_ASSERT_EQUAL(apply(&b, sig(1, GUARD_ORDER_BUY_LIMIT, 300, 30, 107000, 106500, 108000)),
			CP_BOOK_PLACED);
	CU_ASSERT_EQUAL(apply(&b, sig(2, GUARD_ORDER_BUY, 300, 30, 106990, 106500, 108000)),
			CP_BOOK_FILLED);
	e = cp_book_find(&b, 300);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(e->type, GUARD_ORDER_BUY);
	CU_ASSERT_EQUAL(e->volume, 30);
	CU_ASSERT_EQUAL(e->price, 106990);
	/* the position then lives as any other */
	CU_ASSERT_EQUAL(apply(&b, sig(3, GUARD_ORDER_CLOSE_PARTIAL, 300, 10, 107100, 0, 0)),
			CP_BOOK_REDUCED);
	CU_ASSERT_EQUAL(cp_book_find(&b, 300)->volume, 20);
	CU_ASSERT_EQUAL(apply(&b, sig(4, GUARD_ORDER_SELL_STOP, 301, 10, 106000, 0, 0)),
			CP_BOOK_PLACED);
	CU_ASSERT_EQUAL(apply(&b, sig(5, GUARD_ORDER_SELL, 301, 10, 105990, 0, 0)), CP_BOOK_FILLED);
	CU_ASSERT_EQUAL(b.anomalies, 0);
	/* another side, another symbol, a position opened again: reopenings */
	CU_ASSERT_EQUAL(apply(&b, sig(6, GUARD_ORDER_BUY_STOP, 302, 10, 108000, 0, 0)),
			CP_BOOK_PLACED);
	CU_ASSERT_EQUAL(apply(&b, sig(7, GUARD_ORDER_SELL, 302, 10, 108000, 0, 0)),
			CP_BOOK_ANOMALY_REOPENED);
	CU_ASSERT_EQUAL(apply(&b, sig(8, GUARD_ORDER_SELL_LIMIT, 303, 10, 108000, 0, 0)),
			CP_BOOK_PLACED);
	s = sig(9, GUARD_ORDER_SELL, 303, 10, 108000, 0, 0);
	s.symbol = "GBPUSD";
	CU_ASSERT_EQUAL(apply(&b, s), CP_BOOK_ANOMALY_REOPENED);
	CU_ASSERT_EQUAL(apply(&b, sig(10, GUARD_ORDER_BUY, 300, 10, 107000, 0, 0)),
			CP_BOOK_ANOMALY_REOPENED);
	CU_ASSERT_EQUAL(b.anomalies, 3);
	CU_ASSERT_EQUAL(b.n, 4);
	cp_book_free(&b);
}

static void test_anomalies(void)
{
	struct cp_book b;

	cp_book_init(&b, M);
	CU_ASSERT_EQUAL(apply(&b, sig(1, GUARD_ORDER_CLOSE, 9, 0, 0, 0, 0)), CP_BOOK_ANOMALY_UNKNOWN);
	CU_ASSERT_EQUAL(apply(&b, sig(2, GUARD_ORDER_MODIFY, 9, 0, 0, 1, 2)),
			CP_BOOK_ANOMALY_UNKNOWN);
	CU_ASSERT_EQUAL(apply(&b, sig(3, GUARD_ORDER_CLOSE_PARTIAL, 9, 5, 0, 0, 0)),
			CP_BOOK_ANOMALY_UNKNOWN);
	CU_ASSERT_EQUAL(apply(&b, sig(4, GUARD_ORDER_BUY, 9, 10, 100, 0, 0)), CP_BOOK_OPENED);
	CU_ASSERT_EQUAL(apply(&b, sig(5, GUARD_ORDER_SELL, 9, 20, 200, 0, 0)),
			CP_BOOK_ANOMALY_REOPENED); /* replaced */
	CU_ASSERT_EQUAL(cp_book_find(&b, 9)->type, GUARD_ORDER_SELL);
	CU_ASSERT_EQUAL(cp_book_find(&b, 9)->volume, 20);
	CU_ASSERT_EQUAL(b.n, 1);
	CU_ASSERT_EQUAL(b.anomalies, 4);
	cp_book_free(&b);
}

static void test_sequence_rule(void)
{
	struct cp_book b;
	struct cp_book_signal s;

	cp_book_init(&b, M);
	apply(&b, sig(1, GUARD_ORDER_BUY, 1, 10, 100, 0, 0));
	apply(&b, sig(2, GUARD_ORDER_BUY, 2, 10, 100, 0, 0));
	s = sig(2, GUARD_ORDER_CLOSE, 1, 0, 0, 0, 0); /* a redelivery */
	CU_ASSERT_EQUAL(cp_book_apply(&b, &s, NULL), -EALREADY);
	s = sig(1, GUARD_ORDER_CLOSE, 1, 0, 0, 0, 0);
	CU_ASSERT_EQUAL(cp_book_apply(&b, &s, NULL), -EALREADY);
	s = sig(4, GUARD_ORDER_CLOSE, 1, 0, 0, 0, 0); /* a gap */
	CU_ASSERT_EQUAL(cp_book_apply(&b, &s, NULL), -ERANGE);
	CU_ASSERT_EQUAL(b.seq, 2);
	CU_ASSERT_EQUAL(b.n, 2);
	s = sig(3, GUARD_ORDER_CLOSE, 1, 0, 0, 0, 0);
	s.master_id = M + 1;
	CU_ASSERT_EQUAL(cp_book_apply(&b, &s, NULL), -EINVAL);
	s = sig(3, 0, 1, 0, 0, 0, 0);
	CU_ASSERT_EQUAL(cp_book_apply(&b, &s, NULL), -EINVAL);
	s = sig(3, GUARD_ORDER_BUY, 3, -1, 0, 0, 0);
	CU_ASSERT_EQUAL(cp_book_apply(&b, &s, NULL), -EINVAL);
	s = sig(3, GUARD_ORDER_BUY, 3, 1, 0, 0, 0);
	s.symbol = "";
	CU_ASSERT_EQUAL(cp_book_apply(&b, &s, NULL), -EINVAL);
	s.symbol = "EUR USD";
	CU_ASSERT_EQUAL(cp_book_apply(&b, &s, NULL), -EINVAL);
	CU_ASSERT_EQUAL(b.seq, 2);
	cp_book_free(&b);
}

static void test_encode_decode(void)
{
	struct cp_book b, c;
	struct cp_book_signal s;
	uint8_t *buf;
	long n;

	cp_book_init(&b, M);
	cp_book_init(&c, 0);
	apply(&b, sig(1, GUARD_ORDER_BUY, 1, 10, 108000, 107000, 109000));
	s = sig(2, GUARD_ORDER_SELL_STOP, 2, 20, 107000, 0, 0);
	s.symbol = "XAUUSD.pro";
	s.expiration_ns = 42;
	apply(&b, s);
	apply(&b, sig(3, GUARD_ORDER_CLOSE, 77, 0, 0, 0, 0)); /* anomaly counted */
	buf = malloc(cp_book_encoded_max(&b));
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_EQUAL(cp_book_encode(&b, buf, 10), -ENOBUFS);
	n = cp_book_encode(&b, buf, cp_book_encoded_max(&b));
	CU_ASSERT_TRUE_FATAL(n > 0);
	CU_ASSERT_EQUAL(cp_book_decode(&c, buf, (size_t)n), 0);
	CU_ASSERT_EQUAL(c.master_id, M);
	CU_ASSERT_EQUAL(c.seq, 3);
	CU_ASSERT_EQUAL(c.anomalies, 1);
	CU_ASSERT_EQUAL(c.n, 2);
	CU_ASSERT_STRING_EQUAL(cp_book_find(&c, 2)->symbol, "XAUUSD.pro");
	CU_ASSERT_EQUAL(cp_book_find(&c, 2)->expiration_ns, 42);
	CU_ASSERT_EQUAL(cp_book_find(&c, 1)->sl, 107000);
	/* the decoded book goes on where the encoded one stopped */
	CU_ASSERT_EQUAL(apply(&c, sig(4, GUARD_ORDER_CLOSE, 1, 0, 0, 0, 0)), CP_BOOK_CLOSED);

	/* refused: every truncation, a trailing byte, bad magic, a wrong type, a count the
	 * length cannot hold, a duplicate ticket */
	for (long cut = 0; cut < n; cut++)
		CU_ASSERT_EQUAL(cp_book_decode(&c, buf, (size_t)cut), -EINVAL);
	CU_ASSERT_EQUAL(c.n, 0);
	CU_ASSERT_EQUAL(c.seq, 0);
	{
		uint8_t *big = malloc((size_t)n + 1);

		memcpy(big, buf, (size_t)n);
		big[n] = 0;
		CU_ASSERT_EQUAL(cp_book_decode(&c, big, (size_t)n + 1), -EINVAL);
		free(big);
	}
	buf[0] = 'X';
	CU_ASSERT_EQUAL(cp_book_decode(&c, buf, (size_t)n), -EINVAL);
	buf[0] = 'D';
	buf[CP_BOOK_HDR + 8] = GUARD_ORDER_CLOSE; /* an entry of a type a book never holds */
	CU_ASSERT_EQUAL(cp_book_decode(&c, buf, (size_t)n), -EINVAL);
	buf[CP_BOOK_HDR + 8] = GUARD_ORDER_BUY;
	buf[28] = 0xff; /* count 255 */
	CU_ASSERT_EQUAL(cp_book_decode(&c, buf, (size_t)n), -EINVAL);
	buf[28] = 2;
	CU_ASSERT_EQUAL(cp_book_decode(&c, buf, (size_t)n), 0);
	memcpy(buf + (CP_BOOK_HDR + 8 + 2 + 6 + 56), buf + CP_BOOK_HDR, 8); /* ticket 2 := 1 */
	CU_ASSERT_EQUAL(cp_book_decode(&c, buf, (size_t)n), -EINVAL);
	free(buf);
	cp_book_free(&b);
	cp_book_free(&c);
}

/* 20,000 random signals on 300 random 64-bit tickets (consecutive ones would hash
 * without a collision: the index's probing and deletions would go untested) against a
 * naive model: the book holds exactly the model's entries (checked every 97 steps). */
static void test_random_against_model(void)
{
	enum { TICKETS = 300, STEPS = 20000 };
	struct model {
		bool held;
		uint32_t type;
		int64_t volume, sl;
	} m[TICKETS + 1];
	struct cp_book b;
	unsigned int seed = 12345;
	size_t held = 0;
	bool ok = true;
	uint64_t tickets[TICKETS + 1];

	for (int k = 0; k <= TICKETS; k++)
		tickets[k] = (uint64_t)rand_r(&seed) << 40 ^ (uint64_t)rand_r(&seed) << 20 ^
			     (uint64_t)rand_r(&seed);
	memset(m, 0, sizeof(m));
	cp_book_init(&b, M);
	for (uint64_t seq = 1; seq <= STEPS && ok; seq++) {
		uint64_t t = (uint64_t)(rand_r(&seed) % TICKETS) + 1;
		uint32_t type = (uint32_t)(rand_r(&seed) % 9) + 1;
		int64_t vol = rand_r(&seed) % 50 + 1;
		struct cp_book_signal s = sig(seq, type, tickets[t], vol, 100000, (int64_t)seq, 0);
		struct model *x = &m[t];
		bool pending = type >= GUARD_ORDER_BUY_LIMIT && type <= GUARD_ORDER_SELL_STOP;

		ok = cp_book_apply(&b, &s, NULL) == 0;
		if (type <= GUARD_ORDER_SELL_STOP) {
			held += !x->held;
			*x = (struct model){true, type, vol, (int64_t)seq};
		} else if (type == GUARD_ORDER_MODIFY && x->held) {
			x->sl = (int64_t)seq;
		} else if (type == GUARD_ORDER_CLOSE && x->held) {
			x->held = false;
			held--;
		} else if (type == GUARD_ORDER_CLOSE_PARTIAL && x->held &&
			   !(x->type >= GUARD_ORDER_BUY_LIMIT && x->type <= GUARD_ORDER_SELL_STOP)) {
			if (vol >= x->volume) {
				x->held = false;
				held--;
			} else {
				x->volume -= vol;
			}
		}
		(void)pending;
		ok = ok && b.n == held;
		for (uint64_t k = 1; ok && k <= TICKETS && seq % 97 == 0; k++) {
			const struct cp_book_entry *e = cp_book_find(&b, tickets[k]);

			ok = m[k].held ? e != NULL && e->type == m[k].type && e->volume == m[k].volume &&
						 e->sl == m[k].sl
				       : e == NULL;
		}
	}
	CU_ASSERT_TRUE(ok);
	CU_ASSERT_EQUAL(b.seq, STEPS);
	cp_book_free(&b);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_book", NULL, NULL);
	CU_add_test(s, "position: open, modify SL/TP, partial close, close", test_position_lifecycle);
	CU_add_test(s, "pending: place, modify price, delete", test_pending_orders);
	CU_add_test(s, "pending: filled by BUY/SELL of its side and symbol", test_pending_filled);
	CU_add_test(s, "anomalies: unknown ticket, reopened, partial of a pending", test_anomalies);
	CU_add_test(s, "sequence: redelivery, gap, bad input change nothing", test_sequence_rule);
	CU_add_test(s, "Redis encoding: round trip, refusals", test_encode_decode);
	CU_add_test(s, "20,000 random signals against a model", test_random_against_model);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
