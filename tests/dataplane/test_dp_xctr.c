/*
 * Transport counters in the shared stats block (dp_shm.h layout 3): names given at
 * creation land in the header, bad names and too many names are refused, and the worker's
 * values are read back through the mapping; dp_hist_record_n counts a burst as n samples.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dp_hist.h"
#include "dp_shm.h"

static struct dp_shm_params params(const char *name, const char *const *names, uint32_t n)
{
	struct dp_shm_params p = {.name = name, .n_workers = 2, .ingress_entries = 8,
				  .ack_entries = 8, .ctrl_entries = 8, .xctr_names = names,
				  .n_xctr = n};
	return p;
}

static void test_names_published(void)
{
	char name[64];
	snprintf(name, sizeof(name), "decp-xctr-%d", (int)getpid());
	static const char *const names[] = {"drop_tcp_cookie_bad", "busy_ns", "x9_"};
	struct dp_shm_params p = params(name, names, 3);
	struct dp_shm shm;
	CU_ASSERT_EQUAL_FATAL(dp_shm_create(&shm, &p), 0);
	CU_ASSERT_EQUAL(shm.hdr->layout_version, DP_SHM_LAYOUT_VERSION);
	CU_ASSERT_EQUAL(shm.hdr->xctr_count, 3);
	CU_ASSERT_STRING_EQUAL(shm.hdr->xctr_names[0], "drop_tcp_cookie_bad");
	CU_ASSERT_STRING_EQUAL(shm.hdr->xctr_names[2], "x9_");
	CU_ASSERT_EQUAL(shm.hdr->xctr_names[3][0], '\0');
	dp_xstat_set(&shm.stats[1], 1, 77);
	CU_ASSERT_EQUAL(atomic_load(&shm.stats[1].xctr[1]), 77);
	CU_ASSERT_EQUAL(atomic_load(&shm.stats[0].xctr[1]), 0);
	dp_shm_destroy(&shm);
}

static void test_bad_names_refused(void)
{
	struct dp_shm_hdr h;
	static const char *const upper[] = {"Drop"};
	static const char *const empty[] = {""};
	static const char *const dash[] = {"a-b"};
	static const char *const nul[] = {NULL};
	static const char *const longn[] = {"abcdefghijklmnopqrstuvwxyz012345"}; /* 32 chars */
	const char *const *bad[] = {upper, empty, dash, nul, longn};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dp_shm_params p = params("x", bad[i], 1);
		memset(&h, 0, sizeof(h));
		CU_ASSERT_EQUAL(dp_shm_layout(&p, &h), -EINVAL);
	}
	static const char *const ok31[] = {"abcdefghijklmnopqrstuvwxyz01234"}; /* 31 chars */
	struct dp_shm_params p = params("x", ok31, 1);
	memset(&h, 0, sizeof(h));
	CU_ASSERT_EQUAL(dp_shm_layout(&p, &h), 0);
	p = params("x", ok31, DP_XCTR_MAX + 1);
	CU_ASSERT_EQUAL(dp_shm_layout(&p, &h), -EINVAL);
	p = params("x", NULL, 1);
	CU_ASSERT_EQUAL(dp_shm_layout(&p, &h), -EINVAL);
	p = params("x", NULL, 0); /* posix: no transport counters */
	memset(&h, 0, sizeof(h));
	CU_ASSERT_EQUAL(dp_shm_layout(&p, &h), 0);
	CU_ASSERT_EQUAL(h.xctr_count, 0);
}

static void test_hist_record_n(void)
{
	static struct dp_hist h;
	dp_hist_record_n(&h, 1000, 5);
	dp_hist_record(&h, 10);
	CU_ASSERT_EQUAL(atomic_load(&h.count), 6);
	CU_ASSERT_EQUAL(atomic_load(&h.sum_ns), 5010);
	CU_ASSERT_EQUAL(atomic_load(&h.bucket[dp_hist_index(1000)]), 5);
	const struct dp_hist *hs[1] = {&h};
	CU_ASSERT(dp_hist_quantile(hs, 1, 0.5) >= 1000 && dp_hist_quantile(hs, 1, 0.5) < 1063);
	CU_ASSERT_EQUAL(dp_hist_quantile(hs, 1, 0.0), 10);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("dp_xctr", NULL, NULL);
	CU_add_test(s, "names published in the header", test_names_published);
	CU_add_test(s, "bad names refused", test_bad_names_refused);
	CU_add_test(s, "dp_hist_record_n", test_hist_record_n);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
