/*
 * test_cp_log: cp_log's rate limiter (CUnit). Lines go to stderr, which each test sends
 * to a temporary file and reads back: one site lets each role's first line through, holds
 * a role's next ones for the interval and then prints one with the count it held; roles
 * beyond CP_LOG_SITE_ROLES share the last slot.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_log.h"

#define INTERVAL_NS 200000000ull /* 0.2 s */

static int saved_fd = -1;
static FILE *out;

/* stderr into a fresh temporary file until captured() */
static void capture(void)
{
	fflush(stderr);
	out = tmpfile();
	CU_ASSERT_FATAL(out != NULL);
	saved_fd = dup(STDERR_FILENO);
	CU_ASSERT_FATAL(saved_fd >= 0 && dup2(fileno(out), STDERR_FILENO) >= 0);
}

/* What was logged since capture(), NUL-terminated (free it); stderr restored. */
static char *captured(void)
{
	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	long n = ftell(out);
	char *buf = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
	rewind(out);
	if (buf != NULL && n > 0 && fread(buf, 1, (size_t)n, out) != (size_t)n)
		buf[0] = '\0';
	fclose(out);
	return buf;
}

static unsigned int count(const char *text, const char *needle)
{
	unsigned int n = 0;
	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void test_roles_apart(void)
{
	static struct cp_log_site site;
	capture();
	cp_log_rl(&site, INTERVAL_NS, CP_LOG_ERR, "book", "primary down (%d)", 1);
	cp_log_rl(&site, INTERVAL_NS, CP_LOG_ERR, "edge", "primary down (%d)", 2);
	cp_log_rl(&site, INTERVAL_NS, CP_LOG_ERR, "edge", "primary down (%d)", 3);
	cp_log_rl(&site, INTERVAL_NS, CP_LOG_ERR, "book", "primary down (%d)", 4);
	cp_log_rl(&site, INTERVAL_NS, CP_LOG_ERR, "edge", "primary down (%d)", 5);
	cp_sleep_ms(250);
	cp_log_rl(&site, INTERVAL_NS, CP_LOG_ERR, "edge", "primary down (%d)", 6);
	char *t = captured();
	CU_ASSERT_FATAL(t != NULL);
	/* each role's first line, though the other role had just logged at the site */
	CU_ASSERT(strstr(t, "book error: primary down (1)\n") != NULL);
	CU_ASSERT(strstr(t, "edge error: primary down (2)\n") != NULL);
	/* held within the interval, each role's own */
	CU_ASSERT(strstr(t, "(3)") == NULL && strstr(t, "(4)") == NULL && strstr(t, "(5)") == NULL);
	/* after it: the next line with what the edge's slot held (3 and 5, not the book's 4) */
	CU_ASSERT(strstr(t, "edge error: primary down (6) (+2 suppressed)\n") != NULL);
	CU_ASSERT_EQUAL(count(t, "\n"), 3);
	free(t);
}

static void test_many_roles(void)
{
	static struct cp_log_site site;
	static char roles[CP_LOG_SITE_ROLES + 2][16]; /* the site keeps the pointers */
	capture();
	for (int i = 0; i < CP_LOG_SITE_ROLES + 2; i++) {
		snprintf(roles[i], sizeof(roles[i]), "role%d", i);
		cp_log_rl(&site, INTERVAL_NS, CP_LOG_WARN, roles[i], "x");
	}
	/* the first CP_LOG_SITE_ROLES - 1 have a slot each; the rest share the last one,
	 * whose first line goes out and whose others wait for the interval */
	char *t = captured();
	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT_EQUAL(count(t, " warn: x\n"), CP_LOG_SITE_ROLES);
	CU_ASSERT(strstr(t, "role0 warn: x") != NULL);
	CU_ASSERT(strstr(t, "role7 warn: x") != NULL);
	CU_ASSERT(strstr(t, "role8 warn: x") == NULL && strstr(t, "role9 warn: x") == NULL);
	free(t);
}

static void test_level(void)
{
	static struct cp_log_site site;
	capture();
	cp_log_rl(&site, INTERVAL_NS, CP_LOG_DEBUG, "edge", "not at info");
	cp_log_rl(&site, INTERVAL_NS, CP_LOG_INFO, "edge", "at info");
	char *t = captured();
	CU_ASSERT_FATAL(t != NULL);
	/* a line below the level is neither printed nor counted against the next */
	CU_ASSERT(strstr(t, "not at info") == NULL);
	CU_ASSERT(strstr(t, "edge info: at info\n") != NULL && strstr(t, "suppressed") == NULL);
	free(t);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	cp_log_set_level(CP_LOG_INFO);
	CU_pSuite s = CU_add_suite("cp_log", NULL, NULL);
	CU_add_test(s, "one site: each role's own interval", test_roles_apart);
	CU_add_test(s, "more roles than slots share the last", test_many_roles);
	CU_add_test(s, "below the level: not printed, not counted", test_level);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
