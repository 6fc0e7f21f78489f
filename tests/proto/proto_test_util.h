/* Small helpers shared by the tests/proto CUnit programs (test-only code). */
#ifndef DECP_PROTO_TEST_UTIL_H
#define DECP_PROTO_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

/* Decode hex (no separators) into out; returns the byte count or -1. */
static inline long tu_unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex);

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return (long)(n / 2);
}

/* xorshift64*: deterministic, seeded PRNG so every failure is reproducible. */
static inline uint64_t tu_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

struct tu_case {
	const char *name;
	void (*fn)(void);
};

/* Register one suite with the given cases, run it, return non-zero on any failure. */
static inline int tu_run(const char *suite, const struct tu_case *cases, size_t n)
{
	CU_pSuite s;
	unsigned failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite(suite, NULL, NULL);
	if (s == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (CU_add_test(s, cases[i].name, cases[i].fn) == NULL)
			goto fail;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		goto fail;
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed != 0;
fail:
	fprintf(stderr, "CUnit error: %s\n", CU_get_error_msg());
	CU_cleanup_registry();
	return 2;
}

#define TU_CASE(f) { #f, f }
#define TU_RUN(suite, cases) tu_run(suite, cases, sizeof(cases) / sizeof((cases)[0]))

#endif
