/*
 * test_cp_http: the HTTP/1.1 pieces every server of the control plane reads heads with
 * (controlplane/common/cp_http.h): the end of a head, the request line, the header lines
 * (trimmed values, the blank line, each malformed kind), comma lists, the refusal reply.
 */
#include <string.h>

#include <CUnit/Basic.h>

#include "cp_http.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_head_end(void)
{
	CU_ASSERT_EQUAL(cp_http_head_end(S("GET / HTTP/1.1\r\nHost: a\r\n\r\nbody")), 27);
	CU_ASSERT_EQUAL(cp_http_head_end(S("GET / HTTP/1.1\nHost: a\n\n")), 24);
	CU_ASSERT_EQUAL(cp_http_head_end(S("GET / HTTP/1.1\r\nHost: a\r\n")), 0);
	CU_ASSERT_EQUAL(cp_http_head_end(S("")), 0);
}

static void test_line(void)
{
	struct cp_http_line l;

	CU_ASSERT_TRUE_FATAL(cp_http_line(S("POST /v1/x?a=1 HTTP/1.1\r\nHost: h\r\n\r\n"), &l));
	CU_ASSERT_EQUAL(l.method_len, 4);
	CU_ASSERT_NSTRING_EQUAL(l.target, "/v1/x?a=1", l.target_len);
	CU_ASSERT_EQUAL(l.target_len, 9);
	CU_ASSERT_NSTRING_EQUAL(l.version, "HTTP/1.1", 8);
	CU_ASSERT_EQUAL(l.version_len, 8); /* without CR */
	CU_ASSERT_FALSE(cp_http_line(S("GET /\r\nHost: a b c\r\n\r\n"), &l)); /* one space */
	CU_ASSERT_TRUE(cp_http_line(S("GET / HTTP/1.1"), &l));             /* no line end */
	CU_ASSERT_EQUAL(l.version_len, 8);
	CU_ASSERT_TRUE(cp_http_line(S("GET /a b HTTP/1.1\r\n\r\n"), &l));  /* first two spaces */
	CU_ASSERT_EQUAL(l.version_len, 10);
}

static void test_fields(void)
{
	static const char h[] = "GET / HTTP/1.1\r\nHost:  example \r\nX-Empty:\r\n"
				"Connection: keep-alive,\tUpgrade\r\n\r\nNot: a header\r\n";
	struct cp_http_fields it;
	struct cp_http_field f;
	const char *why = NULL;

	cp_http_fields_init(&it, S(h));
	CU_ASSERT_EQUAL_FATAL(cp_http_field_next(&it, &f, &why), 1);
	CU_ASSERT_TRUE(cp_http_field_is(&f, "HOST"));
	CU_ASSERT_FALSE(cp_http_field_is(&f, "Hos"));
	CU_ASSERT_EQUAL(f.value_len, 7);
	CU_ASSERT_NSTRING_EQUAL(f.value, "example", 7);
	CU_ASSERT_EQUAL_FATAL(cp_http_field_next(&it, &f, &why), 1);
	CU_ASSERT_EQUAL(f.value_len, 0);
	CU_ASSERT_EQUAL_FATAL(cp_http_field_next(&it, &f, &why), 1);
	CU_ASSERT_TRUE(cp_http_list_has(f.value, f.value_len, "upgrade"));
	CU_ASSERT_TRUE(cp_http_list_has(f.value, f.value_len, "Keep-Alive"));
	CU_ASSERT_FALSE(cp_http_list_has(f.value, f.value_len, "close"));
	CU_ASSERT_EQUAL(cp_http_field_next(&it, &f, &why), 0); /* the blank line: the end */
	CU_ASSERT_EQUAL(cp_http_field_next(&it, &f, &why), 0);

	static const struct { const char *head, *why; } bad[] = {
		{"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "obsolete header line folding"},
		{"GET / HTTP/1.1\r\n\tfolded\r\n\r\n", "obsolete header line folding"},
		{"GET / HTTP/1.1\r\nno colon\r\n\r\n", "malformed header line"},
		{"GET / HTTP/1.1\r\n: empty name\r\n\r\n", "malformed header line"},
		{"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "malformed header name"},
		{"GET / HTTP/1.1\r\nBad(Name): x\r\n\r\n", "malformed header name"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		cp_http_fields_init(&it, bad[i].head, strlen(bad[i].head));
		while ((r = cp_http_field_next(&it, &f, &why)) > 0)
			;
		CU_ASSERT_EQUAL(r, -1);
		CU_ASSERT_STRING_EQUAL(why, bad[i].why);
	}
	/* a head without header lines; bare LF line ends */
	cp_http_fields_init(&it, S("GET / HTTP/1.1\r\n\r\n"));
	CU_ASSERT_EQUAL(cp_http_field_next(&it, &f, &why), 0);
	cp_http_fields_init(&it, S("GET / HTTP/1.1\nA: b\n\n"));
	CU_ASSERT_EQUAL(cp_http_field_next(&it, &f, &why), 1);
	CU_ASSERT_NSTRING_EQUAL(f.value, "b", 1);
	CU_ASSERT_EQUAL(cp_http_field_next(&it, &f, &why), 0);
}

static void test_list_and_tchar(void)
{
	CU_ASSERT_TRUE(cp_http_list_has(S(" close "), "close"));
	CU_ASSERT_TRUE(cp_http_list_has(S(",,a , b,"), "b"));
	CU_ASSERT_FALSE(cp_http_list_has(S("closed"), "close"));
	CU_ASSERT_FALSE(cp_http_list_has(S(""), "close"));
	CU_ASSERT_TRUE(cp_http_list_has(S("a, Close"), "close"));
	/* exact: a subprotocol as sent */
	CU_ASSERT_FALSE(cp_http_list_has_exact(S("a, Close"), "close"));
	CU_ASSERT_TRUE(cp_http_list_has_exact(S("chat,\tdecp "), "decp"));
	CU_ASSERT_FALSE(cp_http_list_has_exact(S("decp2, dec"), "decp"));
	CU_ASSERT_TRUE(cp_http_is_tchar('~'));
	CU_ASSERT_FALSE(cp_http_is_tchar(' '));
	CU_ASSERT_FALSE(cp_http_is_tchar('\0'));
	CU_ASSERT_FALSE(cp_http_is_tchar(':'));
}

/* RFC 9112 §3.2, the rule the api and the fan-out share: one Host, a valid value, and on
 * HTTP/1.1 one at all (boundary: an HTTP/1.0 head may have none, never two). */
static void test_host(void)
{
	CU_ASSERT_PTR_NULL(cp_http_host_refusal(S("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), true));
	CU_ASSERT_PTR_NULL(cp_http_host_refusal(S("GET / HTTP/1.1\r\nX: y\r\nhost:  [::1]:80 "
						  "\r\n\r\n"), true));
	CU_ASSERT_PTR_NULL(cp_http_host_refusal(S("GET / HTTP/1.0\r\n\r\n"), false));
	CU_ASSERT_PTR_NOT_NULL(cp_http_host_refusal(S("GET / HTTP/1.1\r\n\r\n"), true));
	CU_ASSERT_PTR_NOT_NULL(cp_http_host_refusal(S("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n"),
						    true));
	CU_ASSERT_PTR_NOT_NULL(cp_http_host_refusal(S("GET / HTTP/1.0\r\nHost: a\r\nHOST: a"
						      "\r\n\r\n"), false));
	CU_ASSERT_PTR_NOT_NULL(cp_http_host_refusal(S("GET / HTTP/1.1\r\nHost:\r\n\r\n"), true));
	CU_ASSERT_PTR_NOT_NULL(cp_http_host_refusal(S("GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n"),
						    true));
	CU_ASSERT_PTR_NOT_NULL(cp_http_host_refusal(S("GET / HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n"),
						    true));
}

static void test_reply(void)
{
	char out[512];
	size_t n = cp_http_error_reply(405, "method_not_allowed", "only GET", "GET, POST", out,
				       sizeof(out));

	CU_ASSERT_TRUE_FATAL(n > 0 && n < sizeof(out));
	out[n] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "HTTP/1.1 405 Method Not Allowed\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Allow: GET, POST\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Connection: close\r\n"));
	/* every reply's headers (docs/api.md), refusals of the head included */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Cache-Control: no-store\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "X-Content-Type-Options: nosniff\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"code\":\"method_not_allowed\""));
	CU_ASSERT_EQUAL(cp_http_error_reply(400, "x", "y", NULL, out, 10), 0);
	CU_ASSERT_STRING_EQUAL(cp_http_reason(299), "Error");
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_http", NULL, NULL);
	CU_add_test(s, "cp_http_head_end", test_head_end);
	CU_add_test(s, "cp_http_line", test_line);
	CU_add_test(s, "cp_http_fields: values, the end, every malformed kind", test_fields);
	CU_add_test(s, "cp_http_list_has, cp_http_is_tchar", test_list_and_tchar);
	CU_add_test(s, "cp_http_host_refusal (RFC 9112 3.2)", test_host);
	CU_add_test(s, "cp_http_error_reply, cp_http_reason", test_reply);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
