/*
 * test_cp_report: what makes a subscriber's report storable (controlplane/common/
 * cp_report.h): cp_report_set_detail cuts at character boundaries, both where the buffer
 * ends and where the text itself ends inside a character (an older fan-out cut details
 * at 127 bytes wherever they fell: such an entry must keep its event, not be refused);
 * cp_report_fit refuses what the database cannot hold and clamps what it can; a delivery
 * run's `polled` (sql 0042) goes through the stream text ("r3") and an "r2" entry of an
 * older fan-out reads as a WebSocket run.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "cp_report.h"

static struct cp_report rep(const char *detail, size_t n)
{
	struct cp_report r;

	memset(&r, 0, sizeof(r));
	r.kind = CP_REPORT_PROTECTION;
	r.seq = 7;
	cp_report_set_detail(&r, detail, n);
	return r;
}

static void test_detail_cut(void)
{
	char long_text[200];
	struct cp_report r;

	/* "é" is 2 bytes, "€" 3, "𝄞" 4 */
	r = rep("ok", 2);
	CU_ASSERT_STRING_EQUAL(r.detail, "ok");
	r = rep("caf\xc3\xa9", 5);
	CU_ASSERT_STRING_EQUAL(r.detail, "caf\xc3\xa9");
	/* the text ends inside a character: that character is dropped, the rest kept */
	r = rep("caf\xc3", 4);
	CU_ASSERT_STRING_EQUAL(r.detail, "caf");
	r = rep("1\xe2\x82", 3);
	CU_ASSERT_STRING_EQUAL(r.detail, "1");
	r = rep("2\xf0\x9d\x84", 4);
	CU_ASSERT_STRING_EQUAL(r.detail, "2");
	r = rep("3\xe2\x82\xac", 4);
	CU_ASSERT_STRING_EQUAL(r.detail, "3\xe2\x82\xac");
	CU_ASSERT_TRUE(cp_report_fit(&r));
	/* longer than the buffer (127 bytes): cut before the character the limit falls in */
	memset(long_text, 'a', sizeof(long_text));
	memcpy(long_text + 126, "\xe2\x82\xac", 3);
	r = rep(long_text, sizeof(long_text));
	CU_ASSERT_EQUAL(strlen(r.detail), 126);
	CU_ASSERT_TRUE(cp_report_fit(&r));
	/* what an older fan-out queued: 127 bytes ending in the first byte of "€" */
	r = rep(long_text, 127);
	CU_ASSERT_EQUAL(strlen(r.detail), 126);
	CU_ASSERT_TRUE(cp_report_fit(&r));
	/* not UTF-8 inside the text: refused (the event cannot be stored as text) */
	r = rep("a\xff" "b", 3);
	CU_ASSERT_FALSE(cp_report_fit(&r));
}

static void test_fit(void)
{
	struct cp_report r = rep("x", 1);

	r.seq = (uint64_t)INT64_MAX + 1;
	CU_ASSERT_FALSE(cp_report_fit(&r));
	r.seq = 7;
	r.ticket = UINT64_MAX;
	CU_ASSERT_FALSE(cp_report_fit(&r));
	r.ticket = 1;
	r.age_ns = INT64_MAX;
	r.dev_x100 = INT64_MIN + 1;
	CU_ASSERT_TRUE(cp_report_fit(&r));
	CU_ASSERT_EQUAL(r.age_ns, CP_REPORT_AGE_MAX_NS);
	CU_ASSERT_EQUAL(r.dev_x100, -CP_REPORT_DEV_MAX_X100);
}

static void test_text_polled(void)
{
	struct cp_report r, back;
	char t[CP_REPORT_TEXT_MAX];
	int n;

	memset(&r, 0, sizeof(r));
	r.kind = CP_REPORT_DELIVERY;
	r.sub_id = 3;
	r.seq = 10;
	r.last_seq = 12;
	r.live = true;
	r.late = true;
	r.polled = true;
	n = cp_report_encode(&r, t, sizeof(t));
	CU_ASSERT_FATAL(n > 3);
	CU_ASSERT_EQUAL(memcmp(t, "r3 ", 3), 0);
	CU_ASSERT_EQUAL(cp_report_decode(t, (size_t)n, NULL, 0, &back), 0);
	CU_ASSERT_TRUE(back.polled && back.late && back.live);
	CU_ASSERT_EQUAL(back.last_seq, 12);
	/* the same run as an older fan-out wrote it: no polled field */
	t[1] = '2';
	CU_ASSERT_EQUAL(cp_report_decode(t, (size_t)n - 2, NULL, 0, &back), 0);
	CU_ASSERT_FALSE(back.polled);
	CU_ASSERT_TRUE(back.late && back.live);
	/* an r3 entry without it, or r2 with one more field: not a report of that version */
	t[1] = '3';
	CU_ASSERT_EQUAL(cp_report_decode(t, (size_t)n - 2, NULL, 0, &back), -EINVAL);
	t[1] = '2';
	CU_ASSERT_EQUAL(cp_report_decode(t, (size_t)n, NULL, 0, &back), -EINVAL);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_report", NULL, NULL);
	CU_add_test(s, "detail cut at character boundaries", test_detail_cut);
	CU_add_test(s, "fit: refused and clamped", test_fit);
	CU_add_test(s, "stream text: a run's polled, r2 read as not polled", test_text_polled);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed != 0;
}
