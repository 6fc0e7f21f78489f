/*
 * proto_positions: the master's own positions snapshot (issue 19). Seal/open round trip;
 * every single-bit change of body or MAC refused; the label keeps a Positions MAC and a
 * Signal MAC apart (same key); each validity rule at its boundary; the split into parts
 * that each seal within PROTO_POSITIONS_BODY_MAX, the widest entry included.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_positions.h"
#include "proto_signal.h"
#include "proto_test_util.h"

static struct proto_hmac_key hk, other;

static void entry(Decp__BookEntry *e, uint64_t ticket, const char *symbol)
{
	decp__book_entry__init(e);
	e->ticket = ticket;
	e->type = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
	e->symbol = (char *)symbol;
	e->volume = 10;
	e->price = 108120;
	e->sl = 107900;
	e->tp = 108500;
}

static void header(Decp__Positions *p, Decp__BookEntry **ents, size_t n)
{
	decp__positions__init(p);
	p->master_id = 7;
	p->sequence = 1234;
	p->snapshot_id = 99;
	p->part = 0;
	p->parts = 1;
	p->count = (uint32_t)n;
	p->entries = ents;
	p->n_entries = n;
	p->master_time_ns = 1763942400123456789LL;
}

static void test_roundtrip(void)
{
	Decp__BookEntry e[2], *ents[2] = {&e[0], &e[1]};
	Decp__Positions p, *got = NULL;
	struct proto_sealed_positions s;

	entry(&e[0], 5001, "EURUSD");
	entry(&e[1], 5002, "XAUUSD.pro");
	e[1].type = DECP__ORDER_TYPE__ORDER_TYPE_SELL_LIMIT;
	e[1].expiration_ns = 1763942500000000000LL;
	header(&p, ents, 2);
	CU_ASSERT_EQUAL_FATAL(proto_positions_seal(&hk, &p, &s), 0);
	CU_ASSERT(s.body_len <= PROTO_POSITIONS_BODY_MAX);
	CU_ASSERT_EQUAL_FATAL(proto_positions_open(s.body, s.body_len, s.hmac, sizeof(s.hmac), &hk,
						   NULL, &got), 0);
	CU_ASSERT_EQUAL(got->master_id, 7u);
	CU_ASSERT_EQUAL(got->sequence, 1234u);
	CU_ASSERT_EQUAL(got->snapshot_id, 99u);
	CU_ASSERT_EQUAL(got->n_entries, 2u);
	CU_ASSERT_STRING_EQUAL(got->entries[1]->symbol, "XAUUSD.pro");
	CU_ASSERT_EQUAL(got->entries[1]->expiration_ns, 1763942500000000000LL);
	decp__positions__free_unpacked(got, NULL);
	/* without a key (the book role: ingest checked it) */
	got = NULL;
	CU_ASSERT_EQUAL(proto_positions_open(s.body, s.body_len, NULL, 0, NULL, NULL, &got), 0);
	decp__positions__free_unpacked(got, NULL);
	/* another key */
	CU_ASSERT_EQUAL(proto_positions_open(s.body, s.body_len, s.hmac, sizeof(s.hmac), &other,
					     NULL, &got), -EBADMSG);
	/* a truncated MAC */
	CU_ASSERT_EQUAL(proto_positions_open(s.body, s.body_len, s.hmac, 31, &hk, NULL, &got),
			-EBADMSG);
}

static void test_every_bit_flip_refused(void)
{
	Decp__BookEntry e, *ents[1] = {&e};
	Decp__Positions p, *got;
	struct proto_sealed_positions s;

	entry(&e, 5001, "EURUSD");
	header(&p, ents, 1);
	CU_ASSERT_EQUAL_FATAL(proto_positions_seal(&hk, &p, &s), 0);
	for (size_t i = 0; i < s.body_len * 8; i++) {
		s.body[i / 8] ^= (uint8_t)(1u << (i % 8));
		got = NULL;
		CU_ASSERT_EQUAL(proto_positions_open(s.body, s.body_len, s.hmac, sizeof(s.hmac), &hk,
						     NULL, &got), -EBADMSG);
		s.body[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t i = 0; i < sizeof(s.hmac) * 8; i++) {
		s.hmac[i / 8] ^= (uint8_t)(1u << (i % 8));
		CU_ASSERT_EQUAL(proto_positions_open(s.body, s.body_len, s.hmac, sizeof(s.hmac), &hk,
						     NULL, &got), -EBADMSG);
		s.hmac[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
}

/* A Signal's MAC never passes for a Positions body and the other way round. */
static void test_label_separates_kinds(void)
{
	Decp__BookEntry e, *ents[1] = {&e};
	Decp__Positions p, *got;
	struct proto_sealed_positions s;
	uint8_t plain[PROTO_HMAC_LEN];

	entry(&e, 5001, "EURUSD");
	header(&p, ents, 1);
	CU_ASSERT_EQUAL_FATAL(proto_positions_seal(&hk, &p, &s), 0);
	/* the body under the signal rule (no label) */
	proto_hmac_compute(&hk, s.body, s.body_len, plain);
	CU_ASSERT(memcmp(plain, s.hmac, sizeof(plain)) != 0);
	CU_ASSERT_EQUAL(proto_positions_open(s.body, s.body_len, plain, sizeof(plain), &hk, NULL,
					     &got), -EBADMSG);
	CU_ASSERT_EQUAL(proto_hmac_verify(&hk, s.body, s.body_len, s.hmac, sizeof(s.hmac)),
			-EBADMSG);
}

/* An entry's symbol with a NUL inside it ("EUR\0USD" reads as "EUR" through protobuf-c's
 * copy) is refused, in the first entry as in the second. */
static void test_open_symbol_nul(void)
{
	Decp__BookEntry e[2], *ents[2] = {&e[0], &e[1]};
	Decp__Positions p, *got = NULL;
	struct proto_sealed_positions s;
	uint8_t *sym;

	entry(&e[0], 5001, "EURUSD");
	entry(&e[1], 5002, "GBPUSD");
	header(&p, ents, 2);
	CU_ASSERT_EQUAL_FATAL(proto_positions_seal(&hk, &p, &s), 0);
	CU_ASSERT_EQUAL(proto_positions_open(s.body, s.body_len, NULL, 0, NULL, NULL, &got), 0);
	decp__positions__free_unpacked(got, NULL);
	for (int k = 0; k < 2; k++) {
		const char *want = k == 0 ? "\x1a\x06" "EURUSD" : "\x1a\x06" "GBPUSD";

		sym = memmem(s.body, s.body_len, want, 8);
		CU_ASSERT_FATAL(sym != NULL);
		sym[2 + 3] = '\0';
		got = NULL;
		CU_ASSERT_EQUAL(proto_positions_open(s.body, s.body_len, NULL, 0, NULL, NULL, &got),
				-EPROTO);
		CU_ASSERT_PTR_NULL(got);
		sym[2 + 3] = want[2 + 3];
	}
}

static void test_validation(void)
{
	Decp__BookEntry e[3], *ents[3] = {&e[0], &e[1], &e[2]};
	Decp__Positions p;
	char sym33[34];

	for (int i = 0; i < 3; i++)
		entry(&e[i], 5001 + (uint64_t)i, "EURUSD");
	header(&p, ents, 3);
	CU_ASSERT_EQUAL(proto_positions_validate(&p), 0);
	CU_ASSERT_EQUAL(proto_positions_validate(NULL), -EINVAL);
#define BAD(stmt)                                                      \
	do {                                                           \
		header(&p, ents, 3);                                   \
		for (int i = 0; i < 3; i++)                            \
			entry(&e[i], 5001 + (uint64_t)i, "EURUSD");    \
		stmt;                                                  \
		CU_ASSERT_EQUAL(proto_positions_validate(&p), -EINVAL); \
	} while (0)
	BAD(p.master_id = 0);
	BAD(p.snapshot_id = 0);
	BAD(p.parts = 0);
	BAD(p.part = 1);                      /* part == parts */
	BAD(p.parts = 4);                     /* more parts than entries */
	BAD(p.count = 2);                     /* more entries than count */
	BAD(p.count = PROTO_POSITIONS_MAX + 1);
	BAD(e[1].ticket = 0);
	BAD(e[1].type = DECP__ORDER_TYPE__ORDER_TYPE_UNSPECIFIED);
	BAD(e[1].type = DECP__ORDER_TYPE__ORDER_TYPE_CLOSE);
	BAD(e[1].volume = 0);
	BAD(e[1].price = -1);
	BAD(e[1].sl = -1);
	BAD(e[1].tp = -1);
	BAD(e[1].expiration_ns = -1);
	BAD(e[1].symbol = "");
	BAD(e[1].symbol = "EUR USD");
	memset(sym33, 'A', 33);
	sym33[33] = '\0';
	BAD(e[1].symbol = sym33);
	/* boundaries that pass */
	header(&p, ents, 3);
	sym33[32] = '\0';
	e[1].symbol = sym33;                  /* 32 bytes */
	e[2].type = DECP__ORDER_TYPE__ORDER_TYPE_SELL_STOP;
	p.parts = 3;
	p.part = 2;
	CU_ASSERT_EQUAL(proto_positions_validate(&p), 0);
	/* an empty book: one part, no entry */
	header(&p, NULL, 0);
	CU_ASSERT_EQUAL(proto_positions_validate(&p), 0);
	p.sequence = 0;                       /* before the first signal */
	CU_ASSERT_EQUAL(proto_positions_validate(&p), 0);
	p.parts = 2;
	CU_ASSERT_EQUAL(proto_positions_validate(&p), -EINVAL);
	/* count > 0 but a part with no entry */
	header(&p, ents, 0);
	p.count = 3;
	p.parts = 3;
	CU_ASSERT_EQUAL(proto_positions_validate(&p), -EINVAL);
#undef BAD
}

/* The split: every part seals within the limit; the widest entry fits; parts cover the
 * entries in order; max_parts is honoured. */
static void test_split(void)
{
	enum { N = 1000 };
	static Decp__BookEntry e[N];
	static Decp__BookEntry *ents[N];
	static size_t ends[N];
	static char syms[N][33];
	uint64_t rng = 42;
	long parts;

	for (size_t i = 0; i < N; i++) {
		size_t len = 1 + tu_rand(&rng) % 32;

		memset(syms[i], 'A' + (int)(i % 26), len);
		syms[i][len] = '\0';
		entry(&e[i], UINT64_MAX - i, syms[i]);
		e[i].volume = INT64_MAX;
		e[i].price = INT64_MAX;
		e[i].sl = INT64_MAX;
		e[i].tp = INT64_MAX;
		e[i].expiration_ns = INT64_MAX;
		e[i].type = DECP__ORDER_TYPE__ORDER_TYPE_SELL_STOP;
		ents[i] = &e[i];
	}
	parts = proto_positions_split(ents, N, ends, N);
	CU_ASSERT_FATAL(parts > 1 && parts <= N);
	for (long k = 0; k < parts; k++) {
		Decp__Positions p;
		struct proto_sealed_positions s;
		size_t from = k > 0 ? ends[k - 1] : 0;

		CU_ASSERT_FATAL(ends[k] > from);
		header(&p, ents + from, ends[k] - from);
		p.master_id = p.sequence = p.snapshot_id = UINT64_MAX;
		p.count = N;
		p.parts = (uint32_t)parts;
		p.part = (uint32_t)k;
		p.master_time_ns = INT64_MAX;
		CU_ASSERT_EQUAL(proto_positions_seal(&hk, &p, &s), 0);
	}
	CU_ASSERT_EQUAL(ends[parts - 1], (size_t)N);
	CU_ASSERT_EQUAL(proto_positions_split(ents, N, ends, (size_t)parts - 1), -ENOBUFS);
	CU_ASSERT_EQUAL(proto_positions_split(ents, 0, ends, 1), 1);
	CU_ASSERT_EQUAL(ends[0], 0u);
	e[5].volume = 0;
	CU_ASSERT_EQUAL(proto_positions_split(ents, N, ends, N), -EINVAL);
	/* a whole part over the limit cannot be sealed */
	{
		Decp__Positions p;
		struct proto_sealed_positions s;

		e[5].volume = 10;
		header(&p, ents, 20);
		CU_ASSERT_EQUAL(proto_positions_seal(&hk, &p, &s), -EMSGSIZE);
	}
}

int main(void)
{
	static const struct tu_case cases[] = {
		TU_CASE(test_roundtrip),
		TU_CASE(test_every_bit_flip_refused),
		TU_CASE(test_label_separates_kinds),
		TU_CASE(test_open_symbol_nul),
		TU_CASE(test_validation),
		TU_CASE(test_split),
	};

	if (proto_hmac_key_init(&hk, (const uint8_t *)"master-7-secret-0123456789abcdef", 32) != 0 ||
	    proto_hmac_key_init(&other, (const uint8_t *)"master-8-secret-0123456789abcdef", 32) != 0)
		return 2;
	return TU_RUN("proto_positions", cases);
}
