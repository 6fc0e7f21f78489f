/*
 * test_cp_index: items found by key through cp_index (CUnit), as its two callers use it:
 * - the book role's masters by 64-bit id: 10,000 sequential ids and 10,000 random ones,
 *   each looked up before it is appended (absent: n), then each found at its index, an id
 *   never added not found; the probes stay short (is() calls per lookup counted), across
 *   every growth of the table;
 * - the archiver's feeds by stream key (strings), the same;
 * - boundary: no items (no table) answers n; items emptied (n back to 0) and others
 *   appended: the old keys are gone, the new ones found, also past the old count;
 *   freed and used again.
 */
#include <CUnit/Basic.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_index.h"

#define N 10000u

struct ids {
	uint64_t id[N];
	unsigned int n;
	uint64_t is_calls;
};

static uint32_t id_hash(const void *owner, unsigned int k)
{
	return cp_index_hash_u64(((const struct ids *)owner)->id[k]);
}

static bool id_is(const void *owner, unsigned int k, const void *key)
{
	struct ids *s = (struct ids *)(uintptr_t)owner;
	s->is_calls++;
	return s->id[k] == *(const uint64_t *)key;
}

static unsigned int find_id(struct cp_index *x, struct ids *s, uint64_t id)
{
	return cp_index_find(x, s->n, cp_index_hash_u64(id), &id);
}

/* ids next(i) for i < N appended as the book role does (looked up first), then found */
static void check_ids(uint64_t (*next)(unsigned int i, unsigned int *seed))
{
	static struct ids s;
	struct cp_index x;
	unsigned int seed = 7;
	memset(&s, 0, sizeof(s));
	cp_index_init(&x, &s, id_hash, id_is);
	for (unsigned int i = 0; i < N; i++) {
		uint64_t id = next(i, &seed);
		CU_ASSERT_EQUAL_FATAL(find_id(&x, &s, id), s.n);   /* absent: n */
		s.id[s.n++] = id;
	}
	CU_ASSERT(x.slots >= 2 * N && (x.slots & (x.slots - 1)) == 0);
	s.is_calls = 0;
	unsigned int wrong = 0;
	for (unsigned int i = 0; i < N; i++)
		wrong += find_id(&x, &s, s.id[i]) != i;
	CU_ASSERT_EQUAL(wrong, 0);
	/* one probe sequence: a walk would make N * N / 2 calls; a table at most half full
	 * with a hash that spreads these ids makes about one or two each */
	fprintf(stderr, "  %u found with %" PRIu64 " is() calls\n", N, s.is_calls);
	CU_ASSERT(s.is_calls < 3 * (uint64_t)N);
	CU_ASSERT_EQUAL(find_id(&x, &s, 0), N);
	CU_ASSERT_EQUAL(find_id(&x, &s, UINT64_MAX), N);
	cp_index_free(&x);
}

static uint64_t sequential(unsigned int i, unsigned int *seed)
{
	(void)seed;
	return 1 + (uint64_t)i;
}

static uint64_t scattered(unsigned int i, unsigned int *seed)
{
	/* distinct: the index in the low bits, random bits above */
	return ((uint64_t)rand_r(seed) << 40) ^ ((uint64_t)rand_r(seed) << 16) ^ (i + 1);
}

static void test_sequential_ids(void)
{
	check_ids(sequential);
}

static void test_scattered_ids(void)
{
	check_ids(scattered);
}

struct keys {
	char key[N][32];
	unsigned int n;
};

static uint32_t key_hash(const void *owner, unsigned int k)
{
	return cp_index_hash_str(((const struct keys *)owner)->key[k]);
}

static bool key_is(const void *owner, unsigned int k, const void *key)
{
	return strcmp(((const struct keys *)owner)->key[k], key) == 0;
}

static unsigned int find_key(struct cp_index *x, const struct keys *s, const char *key)
{
	return cp_index_find(x, s->n, cp_index_hash_str(key), key);
}

/* the archiver's feeds: stream keys, emptied on a reconnect and listed again */
static void test_keys_emptied(void)
{
	static struct keys s;
	struct cp_index x;
	char k[32];
	memset(&s, 0, sizeof(s));
	cp_index_init(&x, &s, key_hash, key_is);
	CU_ASSERT_EQUAL(find_key(&x, &s, "decp:{m1}:signals"), 0);   /* no items, no table */
	CU_ASSERT_EQUAL(x.slots, 0);
	for (unsigned int i = 0; i < 3000; i++) {
		snprintf(k, sizeof(k), "decp:{m%u}:signals", i + 1);
		CU_ASSERT_EQUAL_FATAL(find_key(&x, &s, k), s.n);
		memcpy(s.key[s.n++], k, sizeof(k));
	}
	unsigned int wrong = 0;
	for (unsigned int i = 0; i < 3000; i++) {
		snprintf(k, sizeof(k), "decp:{m%u}:signals", i + 1);
		wrong += find_key(&x, &s, k) != i;
	}
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_EQUAL(find_key(&x, &s, "decp:{m3001}:signals"), 3000);

	/* emptied (a reconnect) and refilled with other keys, past the old count */
	s.n = 0;
	CU_ASSERT_EQUAL(find_key(&x, &s, "decp:{m1}:signals"), 0);
	for (unsigned int i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "decp:{m%u}:signals", 100000 + i);
		CU_ASSERT_EQUAL_FATAL(find_key(&x, &s, k), s.n);
		memcpy(s.key[s.n++], k, sizeof(k));
	}
	wrong = 0;
	for (unsigned int i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "decp:{m%u}:signals", 100000 + i);
		wrong += find_key(&x, &s, k) != i;
	}
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_EQUAL(find_key(&x, &s, "decp:{m1}:signals"), 5000);   /* gone */
	CU_ASSERT_EQUAL(find_key(&x, &s, "decp:{m3000}:signals"), 5000);

	/* freed and used again: rebuilt at the next lookup */
	cp_index_free(&x);
	CU_ASSERT(x.slot == NULL && x.slots == 0 && x.n == 0);
	CU_ASSERT_EQUAL(find_key(&x, &s, "decp:{m104999}:signals"), 4999);
	cp_index_free(&x);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return CU_get_error();
	CU_pSuite s = CU_add_suite("cp_index", NULL, NULL);
	CU_add_test(s, "10,000 sequential ids: found, short probes", test_sequential_ids);
	CU_add_test(s, "10,000 scattered ids: found, short probes", test_scattered_ids);
	CU_add_test(s, "stream keys, emptied and refilled past the old count", test_keys_emptied);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
