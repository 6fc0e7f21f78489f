/*
 * test_cp_book_cmp: CUnit tests of cp_book_cmp (the master's own positions against the
 * position book, issue 19) and cp_book_copy: equal books, each kind of difference once,
 * every field, duplicates, empty sides, the text of each difference; a copy equal to its
 * source and independent of it. Pure: no I/O.
 */
#include <CUnit/Basic.h>
#include <string.h>

#include "cp_book.h"
#include "cp_book_cmp.h"
#include "guard_types.h"

#define M 7u

static void book_of(struct cp_book *b)
{
	cp_book_init(b, M);
	for (uint64_t i = 1; i <= 5; i++) {
		struct cp_book_signal s = {.master_id = M, .sequence = i, .ticket = 100 + i,
					   .order_type = i == 5 ? GUARD_ORDER_BUY_LIMIT
								: GUARD_ORDER_BUY,
					   .symbol = "EURUSD", .volume = 10 * (int64_t)i,
					   .price = 108000 + (int64_t)i, .sl = 107000, .tp = 109000,
					   .expiration_ns = i == 5 ? 1000 : 0};
		CU_ASSERT_EQUAL(cp_book_apply(b, &s, NULL), 0);
	}
}

/* The book's entries as the master would list them (in reverse order: order is free). */
static size_t master_of(const struct cp_book *b, struct cp_book_entry *m)
{
	for (size_t i = 0; i < b->n; i++) {
		m[i] = b->e[b->n - 1 - i];
		m[i].opened_seq = m[i].updated_seq = 0; /* the book's own: never compared */
	}
	return b->n;
}

struct seen {
	struct cp_book_diff d[16];
	char text[16][192];
	size_t n;
};

static void collect(void *arg, const struct cp_book_diff *d)
{
	struct seen *s = arg;

	if (s->n < 16) {
		s->d[s->n] = *d;
		cp_book_diff_format(d, s->text[s->n], sizeof(s->text[s->n]));
		s->n++;
	}
}

static void test_equal(void)
{
	struct cp_book b;
	struct cp_book_entry m[8];
	struct seen s = {0};

	book_of(&b);
	CU_ASSERT_EQUAL(cp_book_compare(&b, m, master_of(&b, m), collect, &s), 0);
	CU_ASSERT_EQUAL(s.n, 0);
	cp_book_free(&b);
	/* both empty */
	cp_book_init(&b, M);
	CU_ASSERT_EQUAL(cp_book_compare(&b, m, 0, NULL, NULL), 0);
	cp_book_free(&b);
}

static void test_each_kind(void)
{
	struct cp_book b;
	struct cp_book_entry m[8];
	struct seen s = {0};
	size_t n;

	book_of(&b);
	n = master_of(&b, m);
	/* 101: volume differs; 102: missing at the master; 999: missing in the book;
	 * 103 twice */
	for (size_t i = 0; i < n; i++) {
		if (m[i].ticket == 101)
			m[i].volume += 1;
		if (m[i].ticket == 102)
			m[i].ticket = 999;
	}
	m[n] = m[0];
	for (size_t i = 0; i < n; i++)
		if (m[i].ticket == 103)
			m[n] = m[i];
	n++;
	CU_ASSERT_EQUAL(cp_book_compare(&b, m, n, collect, &s), 4);
	CU_ASSERT_EQUAL_FATAL(s.n, 4);
	/* the master's in ticket order, then the book's missing ones */
	CU_ASSERT_EQUAL(s.d[0].kind, CP_BOOK_DIFF_FIELDS);
	CU_ASSERT_EQUAL(s.d[0].ticket, 101);
	CU_ASSERT_EQUAL(s.d[0].fields, CP_BOOK_FIELD_VOLUME);
	CU_ASSERT_STRING_EQUAL(s.text[0], "ticket 101: differs: volume master 11 book 10");
	CU_ASSERT_EQUAL(s.d[1].kind, CP_BOOK_DIFF_DUPLICATE);
	CU_ASSERT_EQUAL(s.d[1].ticket, 103);
	CU_ASSERT_STRING_EQUAL(s.text[1], "ticket 103: listed twice by the master");
	CU_ASSERT_EQUAL(s.d[2].kind, CP_BOOK_DIFF_MISSING_IN_BOOK);
	CU_ASSERT_EQUAL(s.d[2].ticket, 999);
	CU_ASSERT_PTR_NULL(s.d[2].book);
	CU_ASSERT_PTR_NOT_NULL(strstr(s.text[2], "held by the master, not in the book"));
	CU_ASSERT_EQUAL(s.d[3].kind, CP_BOOK_DIFF_MISSING_AT_MASTER);
	CU_ASSERT_EQUAL(s.d[3].ticket, 102);
	CU_ASSERT_PTR_NULL(s.d[3].master);
	CU_ASSERT_STRING_EQUAL(s.text[3], "ticket 102: in the book, not held by the master (type "
					  "1 EURUSD volume 20 price 108002 sl 107000 tp 109000)");
	cp_book_free(&b);
}

static void test_every_field(void)
{
	static const uint32_t bits[] = {CP_BOOK_FIELD_TYPE, CP_BOOK_FIELD_SYMBOL,
					CP_BOOK_FIELD_VOLUME, CP_BOOK_FIELD_PRICE, CP_BOOK_FIELD_SL,
					CP_BOOK_FIELD_TP, CP_BOOK_FIELD_EXPIRATION};
	struct cp_book b;
	struct cp_book_entry m[8];

	book_of(&b);
	for (size_t k = 0; k < sizeof(bits) / sizeof(bits[0]); k++) {
		struct seen s = {0};
		size_t n = master_of(&b, m);
		struct cp_book_entry *e = &m[0]; /* ticket 105, the pending order */

		switch (bits[k]) {
		case CP_BOOK_FIELD_TYPE: e->type = GUARD_ORDER_SELL_LIMIT; break;
		case CP_BOOK_FIELD_SYMBOL: memcpy(e->symbol, "EURUSD.m", 9); break;
		case CP_BOOK_FIELD_VOLUME: e->volume = 1; break;
		case CP_BOOK_FIELD_PRICE: e->price = 1; break;
		case CP_BOOK_FIELD_SL: e->sl = 0; break;
		case CP_BOOK_FIELD_TP: e->tp = 0; break;
		default: e->expiration_ns = 0; break;
		}
		CU_ASSERT_EQUAL(cp_book_compare(&b, m, n, collect, &s), 1);
		CU_ASSERT_EQUAL(s.d[0].kind, CP_BOOK_DIFF_FIELDS);
		CU_ASSERT_EQUAL(s.d[0].fields, bits[k]);
	}
	/* an empty master's list: every book entry is missing at the master */
	CU_ASSERT_EQUAL(cp_book_compare(&b, m, 0, NULL, NULL), 5);
	cp_book_free(&b);
}

static void test_copy(void)
{
	struct cp_book b, c;
	struct cp_book_entry m[8];
	struct cp_book_signal s = {.master_id = M, .sequence = 6, .ticket = 101,
				   .order_type = GUARD_ORDER_CLOSE, .symbol = "EURUSD"};

	book_of(&b);
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL_FATAL(cp_book_copy(&c, &b), 0);
	CU_ASSERT_EQUAL(c.seq, 5);
	CU_ASSERT_EQUAL(c.n, 5);
	CU_ASSERT_EQUAL(cp_book_compare(&c, m, master_of(&b, m), NULL, NULL), 0);
	/* independent: the source moves on, the copy stays */
	CU_ASSERT_EQUAL(cp_book_apply(&b, &s, NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(cp_book_find(&c, 101));
	CU_ASSERT_PTR_NULL(cp_book_find(&b, 101));
	/* a copy over a used book, and of an empty one */
	CU_ASSERT_EQUAL(cp_book_copy(&c, &b), 0);
	CU_ASSERT_EQUAL(c.seq, 6);
	CU_ASSERT_PTR_NULL(cp_book_find(&c, 101));
	cp_book_free(&b);
	cp_book_init(&b, M);
	CU_ASSERT_EQUAL(cp_book_copy(&c, &b), 0);
	CU_ASSERT_EQUAL(c.n, 0);
	CU_ASSERT_PTR_NULL(cp_book_find(&c, 102));
	cp_book_free(&b);
	cp_book_free(&c);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_book_cmp", NULL, NULL);
	CU_add_test(s, "equal books: no difference", test_equal);
	CU_add_test(s, "each kind of difference, in order, with its text", test_each_kind);
	CU_add_test(s, "every field compared", test_every_field);
	CU_add_test(s, "cp_book_copy: equal, independent", test_copy);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
