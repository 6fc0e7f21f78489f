/*
 * test_poll_req: CUnit tests of cp_poll_req (the HTTP polling request head, issue 19):
 * every rule of cp_poll_req.h with its boundaries, and cp_poll_head_is. Pure logic.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "cp_poll_req.h"

/* Parse "<line>\r\n<headers>\r\n" where headers is "" or lines ending in \r\n. */
static int parse(const char *line, const char *headers, struct cp_poll_req *r, const char **code)
{
	char h[1024];
	int n = snprintf(h, sizeof(h), "%s\r\n%s\r\n", line, headers);

	*code = "";
	return cp_poll_parse(h, (size_t)n, r, code);
}

#define OK_HOST "Host: a\r\n"

static void expect(const char *line, const char *headers, int status, const char *code)
{
	struct cp_poll_req r;
	const char *c;
	int st = parse(line, headers, &r, &c);

	CU_ASSERT_EQUAL(st, status);
	if (st != status || (status != 0 && strcmp(c, code) != 0))
		fprintf(stderr, "\n  %s: %d %s (expected %d %s)\n", line, st, c, status, code);
	if (status != 0)
		CU_ASSERT_STRING_EQUAL(c, code);
}

static void test_valid(void)
{
	struct cp_poll_req r;
	const char *c;

	CU_ASSERT_EQUAL(parse("GET /v1/masters/7/signals?after=12&wait=30&policy=3 HTTP/1.1",
			      OK_HOST "Authorization: Bearer t\r\n", &r, &c), 0);
	CU_ASSERT_EQUAL(r.master, 7);
	CU_ASSERT_EQUAL(r.after, 12);
	CU_ASSERT_EQUAL(r.wait_s, 30);
	CU_ASSERT_EQUAL(r.policy, 3);
	CU_ASSERT_FALSE(r.close);
	/* defaults, unknown arguments ignored, the token in the query, Connection: close */
	CU_ASSERT_EQUAL(parse("GET /v1/masters/9223372036854775807/signals?x=1&after=0&token=a%20b"
			      "&y HTTP/1.1", OK_HOST "Connection: keep-alive, Close\r\n"
			      "Content-Length: 0\r\n", &r, &c), 0);
	CU_ASSERT_EQUAL(r.master, 9223372036854775807ull);
	CU_ASSERT_EQUAL(r.after, 0);
	CU_ASSERT_EQUAL(r.wait_s, 0);
	CU_ASSERT_EQUAL(r.policy, 0);
	CU_ASSERT_TRUE(r.close);
	CU_ASSERT_EQUAL(parse("GET /v1/masters/1/signals?after=9223372036854775807 HTTP/1.1",
			      OK_HOST, &r, &c), 0);
	CU_ASSERT_EQUAL(r.after, 9223372036854775807ull);
}

static void test_refused(void)
{
	static const struct {
		const char *line, *headers;
		int status;
		const char *code;
	} cases[] = {
		{"GET /v1/masters/1/signals HTTP/1.1", OK_HOST, 400, "bad_after"},
		{"GET /v1/masters/1/signals?wait=1 HTTP/1.1", OK_HOST, 400, "bad_after"},
		{"GET /v1/masters/1/signals?after= HTTP/1.1", OK_HOST, 400, "bad_after"},
		{"GET /v1/masters/1/signals?after HTTP/1.1", OK_HOST, 400, "bad_after"},
		{"GET /v1/masters/1/signals?after=-1 HTTP/1.1", OK_HOST, 400, "bad_after"},
		{"GET /v1/masters/1/signals?after=9223372036854775808 HTTP/1.1", OK_HOST, 400, "bad_after"},
		{"GET /v1/masters/1/signals?after=%31 HTTP/1.1", OK_HOST, 400, "bad_after"},
		{"GET /v1/masters/1/signals?after=1&wait=31 HTTP/1.1", OK_HOST, 400, "bad_wait"},
		{"GET /v1/masters/1/signals?after=1&wait= HTTP/1.1", OK_HOST, 400, "bad_wait"},
		{"GET /v1/masters/1/signals?after=1&policy=1.5 HTTP/1.1", OK_HOST, 400, "bad_policy"},
		{"GET /v1/masters/1/signals?after=1&after=1 HTTP/1.1", OK_HOST, 400, "bad_request"},
		{"GET /v1/masters/1/signals?after=1&wait=1&wait=1 HTTP/1.1", OK_HOST, 400, "bad_request"},
		{"GET /v1/masters/1/signals?after=1&token=a&token=b HTTP/1.1", OK_HOST, 400, "bad_request"},
		{"GET /v1/masters/0/signals?after=1 HTTP/1.1", OK_HOST, 400, "bad_master"},
		{"GET /v1/masters/9223372036854775808/signals?after=1 HTTP/1.1", OK_HOST, 400, "bad_master"},
		{"GET /v1/masters/x/signals?after=1 HTTP/1.1", OK_HOST, 400, "bad_master"},
		{"GET /v1/masters//signals?after=1 HTTP/1.1", OK_HOST, 404, "not_found"},
		{"GET /v1/masters/1/2/signals?after=1 HTTP/1.1", OK_HOST, 404, "not_found"},
		{"GET /v1/masters/1/signal?after=1 HTTP/1.1", OK_HOST, 404, "not_found"},
		{"GET /v1/masters?after=1 HTTP/1.1", OK_HOST, 404, "not_found"},
		{"POST /v1/masters/1/signals?after=1 HTTP/1.1", OK_HOST, 405, "method_not_allowed"},
		{"get /v1/masters/1/signals?after=1 HTTP/1.1", OK_HOST, 405, "method_not_allowed"},
		{"GET /v1/masters/1/signals?after=1 HTTP/1.0", OK_HOST, 400, "bad_request"},
		{"GET /v1/masters/1/signals?after=1 HTTP/1.1", "", 400, "bad_request"},
		{"GET /v1/masters/1/signals?after=1 HTTP/1.1", "Host:\r\n", 400, "bad_request"},
		/* RFC 9112 §3.2: two Hosts (the first one was taken), an invalid value */
		{"GET /v1/masters/1/signals?after=1 HTTP/1.1", OK_HOST "Host: b\r\n", 400,
		 "bad_request"},
		{"GET /v1/masters/1/signals?after=1 HTTP/1.1", "Host: a b\r\n", 400, "bad_request"},
		/* two Authorization headers (the first one was taken) */
		{"GET /v1/masters/1/signals?after=1 HTTP/1.1",
		 OK_HOST "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n", 400, "bad_request"},
		{"GET /v1/masters/1/signals?after=1 HTTP/1.1", OK_HOST "Content-Length: 1\r\n",
		 400, "bad_request"},
		{"GET /v1/masters/1/signals?after=1 HTTP/1.1", OK_HOST "Transfer-Encoding: x\r\n",
		 400, "bad_request"},
		{"GET /v1/masters/1/signals?after=1 HTTP/1.1", OK_HOST " folded\r\n", 400, "bad_request"},
		{"GET /v1/masters/1/signals?after=1 HTTP/1.1", OK_HOST "no colon\r\n", 400, "bad_request"},
		{"GET /v1/masters/1/signals?after=1", OK_HOST, 400, "bad_request"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect(cases[i].line, cases[i].headers, cases[i].status, cases[i].code);
}

static void test_head_is(void)
{
	static const char a[] = "GET /v1/masters/1/signals HTTP/1.1\r\n\r\n",
			  b[] = "GET / HTTP/1.1\r\n\r\n", c[] = "PUT /v1/ HTTP/1.1\r\n\r\n",
			  d[] = "GET /v1 HTTP/1.1\r\n\r\n";

	CU_ASSERT_TRUE(cp_poll_head_is(a, sizeof(a) - 1));
	CU_ASSERT_FALSE(cp_poll_head_is(b, sizeof(b) - 1));
	CU_ASSERT_TRUE(cp_poll_head_is(c, sizeof(c) - 1));
	CU_ASSERT_FALSE(cp_poll_head_is(d, sizeof(d) - 1));
	CU_ASSERT_FALSE(cp_poll_head_is("GET", 3));
}

int main(void)
{
	CU_pSuite su;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	su = CU_add_suite("fanout_poll_req", NULL, NULL);
	CU_add_test(su, "valid requests, defaults, boundaries", test_valid);
	CU_add_test(su, "every refusal and its code", test_refused);
	CU_add_test(su, "heads meant for polling", test_head_is);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
