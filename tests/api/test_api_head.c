/*
 * test_api_head: CUnit tests of cp_api_head (controlplane/api/cp_api_head.h), the api's
 * check of a complete request head before lws: each rule, its boundary, and the reply.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "cp_api_head.h"

static const struct api_head_limits LIM = {.target_max = 511, .query_args_max = 32,
					   .max_body = 65536};

static int verdict(const char *head, const char **code)
{
	struct api_head_verdict v;

	api_head_check_pure(head, strlen(head), &LIM, &v);
	if (code != NULL)
		*code = v.code;
	return v.status;
}

static void test_methods(void)
{
	const char *code;

	CU_ASSERT_EQUAL(verdict("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL), 0);
	CU_ASSERT_EQUAL(verdict("POST /v1/x HTTP/1.0\r\nContent-Length: 2\r\n\r\n", NULL), 0);
	static const char *const refused[] = {"CONNECT", "TRACE", "PUT", "DELETE", "OPTIONS",
					      "HEAD", "get", "Post", "FOO", "GETS", "POS"};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char h[128];

		snprintf(h, sizeof(h), "%s / HTTP/1.1\r\nHost: x\r\n\r\n", refused[i]);
		CU_ASSERT_EQUAL(verdict(h, &code), 405);
		CU_ASSERT_STRING_EQUAL(code, "method_not_allowed");
	}
	/* CONNECT's authority-form target: still the method's 405 */
	CU_ASSERT_EQUAL(verdict("CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n", NULL), 405);
	/* not a token, no target, bad version */
	CU_ASSERT_EQUAL(verdict("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", &code), 400);
	CU_ASSERT_STRING_EQUAL(code, "bad_request");
	CU_ASSERT_EQUAL(verdict(" / HTTP/1.1\r\nHost: x\r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("GET /\r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("GET / HTTP/2.0\r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("GET / HTTP/1.1 x\r\n\r\n", NULL), 400);
}

static void test_target(void)
{
	const char *code;
	char h[2048];

	CU_ASSERT_EQUAL(verdict("GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", &code), 400);
	CU_ASSERT_STRING_EQUAL(code, "bad_target");
	CU_ASSERT_EQUAL(verdict("GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n", &code), 400);
	CU_ASSERT_STRING_EQUAL(code, "bad_target");
	CU_ASSERT_EQUAL(verdict("GET /a?x=%00 HTTP/1.1\r\nHost: x\r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("GET /a%0 HTTP/1.1\r\nHost: x\r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("GET /a% HTTP/1.1\r\nHost: x\r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("GET /a%20b%2F HTTP/1.1\r\nHost: x\r\n\r\n", NULL), 0);
	CU_ASSERT_EQUAL(verdict("GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("GET /a\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", NULL), 400);
	/* length with the query string: 511 bytes pass, 512 are 414 */
	memset(h, 0, sizeof(h));
	strcpy(h, "GET /v1?q=");
	memset(h + 10, 'a', 511 - 6);
	strcat(h, " HTTP/1.1\r\nHost: x\r\n\r\n");
	CU_ASSERT_EQUAL(verdict(h, NULL), 0);
	memset(h, 0, sizeof(h));
	strcpy(h, "GET /v1?q=");
	memset(h + 10, 'a', 512 - 6);
	strcat(h, " HTTP/1.1\r\nHost: x\r\n\r\n");
	CU_ASSERT_EQUAL(verdict(h, &code), 414);
	CU_ASSERT_STRING_EQUAL(code, "uri_too_long");
	/* query arguments: 32 pass, 33 are 414 */
	strcpy(h, "GET /v1?a=1");
	for (int i = 1; i < 32; i++)
		strcat(h, "&a=1");
	strcat(h, " HTTP/1.1\r\nHost: x\r\n\r\n");
	CU_ASSERT_EQUAL(verdict(h, NULL), 0);
	strcpy(h, "GET /v1?a=1");
	for (int i = 1; i < 33; i++)
		strcat(h, "&a=1");
	strcat(h, " HTTP/1.1\r\nHost: x\r\n\r\n");
	CU_ASSERT_EQUAL(verdict(h, &code), 414);
	CU_ASSERT_STRING_EQUAL(code, "too_many_args");
	CU_ASSERT_EQUAL(verdict("GET /v1? HTTP/1.1\r\nHost: x\r\n\r\n", NULL), 0);
}

static void test_content_length(void)
{
	const char *code;

	CU_ASSERT_EQUAL(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", &code), 400);
	CU_ASSERT_STRING_EQUAL(code, "bad_content_length");
	CU_ASSERT_EQUAL(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 1 2\r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("POST / HTTP/1.1\r\nHost: x\r\n"
				"Content-Length: 99999999999999999999\r\n\r\n", NULL),
			400); /* 20 digits: overflow */
	CU_ASSERT_EQUAL(verdict("POST / HTTP/1.1\r\nHost: x\r\n"
				"Content-Length: 9999999999999999999\r\n\r\n", &code),
			413); /* 19 digits: a number, over the limit */
	CU_ASSERT_STRING_EQUAL(code, "body_too_large");
	CU_ASSERT_EQUAL(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n", NULL), 0);
	CU_ASSERT_EQUAL(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n",
				NULL), 413);
	CU_ASSERT_EQUAL(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:  7 \r\n\r\n", NULL), 0);
	CU_ASSERT_EQUAL(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n"
				"Content-Length: 7\r\n\r\n", NULL), 0);
	CU_ASSERT_EQUAL(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n"
				"Content-Length: 8\r\n\r\n", NULL), 400);
	/* header syntax */
	CU_ASSERT_EQUAL(verdict("GET / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n  folded\r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("GET / HTTP/1.1\r\nHost: x\r\nBad Name: b\r\n\r\n", NULL), 400);
	CU_ASSERT_EQUAL(verdict("GET / HTTP/1.1\nHost: x\n\n", NULL), 0); /* bare LF lines */
}

/* RFC 9112 §3.2: an HTTP/1.1 request without Host, and any request with two Hosts or an
 * invalid one, is 400 (boundary: HTTP/1.0 may lack it). The api served them. */
static void test_host(void)
{
	static const char *const refused[] = {
		"GET /healthz HTTP/1.1\r\n\r\n",
		"POST /v1/x HTTP/1.1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost:\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
		"GET / HTTP/1.1\r\nX-Host: a\r\n\r\n",
	};
	static const char *const accepted[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nhOST:  127.0.0.1:8080 \r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: api.example-1.com\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
	};
	const char *code;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		code = NULL;
		CU_ASSERT_EQUAL(verdict(refused[i], &code), 400);
		CU_ASSERT(code != NULL && strcmp(code, "bad_request") == 0);
	}
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
		CU_ASSERT_EQUAL(verdict(accepted[i], NULL), 0);
}

static void test_reply(void)
{
	struct api_head_verdict v;
	char out[512];
	size_t n;

	api_head_check_pure("TRACE / HTTP/1.1\r\n\r\n", 20, &LIM, &v);
	n = api_head_reply(&v, out, sizeof(out));
	CU_ASSERT(n > 0);
	out[n] = '\0';
	CU_ASSERT(strncmp(out, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
	CU_ASSERT(strstr(out, "Content-Type: application/json\r\n") != NULL);
	CU_ASSERT(strstr(out, "Connection: close\r\n") != NULL);
	CU_ASSERT(strstr(out, "Allow: GET, POST\r\n") != NULL);
	CU_ASSERT(strstr(out, "\r\n\r\n{\"code\":\"method_not_allowed\",\"message\":") != NULL);
	CU_ASSERT_EQUAL(api_head_reply(&v, out, 40), 0); /* too small: nothing */
}

int main(void)
{
	CU_pSuite su;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	su = CU_add_suite("cp_api_head", NULL, NULL);
	CU_add_test(su, "methods and the request line", test_methods);
	CU_add_test(su, "request target", test_target);
	CU_add_test(su, "Content-Length and header lines", test_content_length);
	CU_add_test(su, "Host (RFC 9112 3.2)", test_host);
	CU_add_test(su, "the JSON reply", test_reply);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
