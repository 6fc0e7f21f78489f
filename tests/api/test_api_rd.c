/*
 * test_api_rd: CUnit tests of cp_api_rd (controlplane/api/cp_api_rd.h), the api's HTTP/1.1
 * request reader: a request read whole and read a byte at a time give the same result;
 * bodies by Content-Length and chunked; pipelined requests one at a time; keep-alive rules;
 * 100-continue; every refusal with its status and code.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_api_rd.h"

static const struct api_head_limits LIM = {.target_max = 511, .query_args_max = 32,
					   .max_body = 1000};

/* Feed s in pieces of `step` bytes (0: whole) until an event other than MORE; returns it,
 * with *taken the bytes consumed. */
static enum api_rd_ev feed(struct api_rd *rd, const char *s, size_t len, size_t step,
			   size_t *taken)
{
	enum api_rd_ev ev = API_RD_MORE;
	size_t at = 0;

	while (at < len) {
		size_t n = step == 0 || len - at < step ? len - at : step;
		long k = api_rd_feed(rd, s + at, n, &ev);

		CU_ASSERT_FATAL(k >= 0 && (size_t)k <= n);
		at += (size_t)k;
		if (ev != API_RD_MORE)
			break;
		CU_ASSERT_FATAL((size_t)k == n); /* MORE takes everything */
	}
	if (taken != NULL)
		*taken = at;
	return ev;
}

static void test_get_whole_and_bytewise(void)
{
	static const char req[] = "\r\nGET /v1/masters?after=3&limit=2 HTTP/1.1\r\nHost: x\r\n"
				  "Authorization:  Bearer abc \r\n\r\n";
	for (size_t step = 0; step <= 1; step++) {
		struct api_rd rd;
		size_t took;

		api_rd_init(&rd, &LIM);
		CU_ASSERT_EQUAL(feed(&rd, req, strlen(req), step, &took), API_RD_REQUEST);
		CU_ASSERT_EQUAL(took, strlen(req));
		CU_ASSERT_FALSE(rd.req.post);
		CU_ASSERT_STRING_EQUAL(rd.req.path, "/v1/masters");
		CU_ASSERT_STRING_EQUAL(rd.req.query, "after=3&limit=2");
		CU_ASSERT_STRING_EQUAL(rd.req.auth, "Bearer abc");
		CU_ASSERT_TRUE(rd.req.keep_alive);
		CU_ASSERT_EQUAL(rd.req.len, 0);
		api_rd_fini(&rd);
	}
}

/* Idempotency-Key (docs/api.md "Idempotency keys"): kept when valid; too long, empty, a
 * character outside [A-Za-z0-9._:-] or a second copy marks the request instead (a key
 * silently cut or dropped would let a retry apply twice); the next request starts clean. */
static void test_idempotency_key(void)
{
	static const struct {
		const char *hdr;
		const char *key;
		bool bad;
	} c[] = {
		{"Idempotency-Key: dep-2026.12:05_a\r\n", "dep-2026.12:05_a", false},
		{"idempotency-key:   k1  \r\n", "k1", false},
		{"Idempotency-Key: 0123456789012345678901234567890123456789012345678901234567890123\r\n",
		 "0123456789012345678901234567890123456789012345678901234567890123", false},
		{"Idempotency-Key: 01234567890123456789012345678901234567890123456789012345678901234\r\n",
		 "", true},
		{"Idempotency-Key: a b\r\n", "", true},
		{"Idempotency-Key: a/b\r\n", "", true},
		{"Idempotency-Key:\r\n", "", true},
		{"Idempotency-Key: k1\r\nIdempotency-Key: k1\r\n", "k1", true},
		{"", "", false},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char req[512];
		struct api_rd rd;

		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: x\r\n%s\r\n", c[i].hdr);
		api_rd_init(&rd, &LIM);
		CU_ASSERT_EQUAL(feed(&rd, req, strlen(req), 0, NULL), API_RD_REQUEST);
		CU_ASSERT_STRING_EQUAL(rd.req.idem_key, c[i].key);
		CU_ASSERT_EQUAL(rd.req.idem_bad, c[i].bad);
		api_rd_next(&rd);
		CU_ASSERT_STRING_EQUAL(rd.req.idem_key, "");
		CU_ASSERT_FALSE(rd.req.idem_bad);
		api_rd_fini(&rd);
	}
}

static void test_post_body_and_pipelining(void)
{
	static const char two[] = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
				  "helloGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct api_rd rd;
	size_t took, at;

	for (size_t step = 0; step <= 3; step += 3) {
		api_rd_init(&rd, &LIM);
		CU_ASSERT_EQUAL(feed(&rd, two, strlen(two), step, &took), API_RD_REQUEST);
		CU_ASSERT_TRUE(rd.req.post);
		CU_ASSERT_EQUAL(rd.req.len, 5);
		CU_ASSERT_STRING_EQUAL(rd.req.body, "hello");
		at = took;
		/* the second request is not read until the first is done */
		CU_ASSERT_EQUAL(feed(&rd, two + at, strlen(two) - at, 0, &took), API_RD_REQUEST);
		CU_ASSERT_EQUAL(took, 0);
		api_rd_next(&rd);
		CU_ASSERT_EQUAL(feed(&rd, two + at, strlen(two) - at, step, &took), API_RD_REQUEST);
		CU_ASSERT_EQUAL(at + took, strlen(two));
		CU_ASSERT_STRING_EQUAL(rd.req.path, "/b");
		CU_ASSERT_FALSE(rd.req.keep_alive);
		api_rd_fini(&rd);
	}
}

static void test_chunked(void)
{
	static const char req[] = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nGET";
	for (size_t step = 0; step <= 1; step++) {
		struct api_rd rd;
		size_t took;

		api_rd_init(&rd, &LIM);
		CU_ASSERT_EQUAL(feed(&rd, req, strlen(req), step, &took), API_RD_REQUEST);
		CU_ASSERT_EQUAL(took, strlen(req) - 3); /* "GET" is the next request's */
		CU_ASSERT_EQUAL(rd.req.len, 11);
		CU_ASSERT_STRING_EQUAL(rd.req.body, "hello world");
		CU_ASSERT_TRUE(rd.req.keep_alive);
		api_rd_fini(&rd);
	}
}

static void test_keep_alive_rules(void)
{
	static const struct { const char *req; int ka; } cases[] = {
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1},
		{"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n", 0},
		{"GET / HTTP/1.0\r\n\r\n", 0},
		{"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_rd rd;

		api_rd_init(&rd, &LIM);
		CU_ASSERT_EQUAL(feed(&rd, cases[i].req, strlen(cases[i].req), 0, NULL), API_RD_REQUEST);
		CU_ASSERT_EQUAL(rd.req.keep_alive, cases[i].ka);
		api_rd_fini(&rd);
	}
}

static void test_continue(void)
{
#define EXPECT_GET "GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"
	static const char h[] = "POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
				"Content-Length: 2\r\n\r\n";
	struct api_rd rd;

	api_rd_init(&rd, &LIM);
	CU_ASSERT_EQUAL(feed(&rd, h, strlen(h), 0, NULL), API_RD_MORE);
	CU_ASSERT_TRUE(rd.want_continue);
	rd.want_continue = false;
	CU_ASSERT_EQUAL(feed(&rd, "ok", 2, 0, NULL), API_RD_REQUEST);
	CU_ASSERT_STRING_EQUAL(rd.req.body, "ok");
	api_rd_fini(&rd);
	/* no body to come: nothing to continue */
	api_rd_init(&rd, &LIM);
	CU_ASSERT_EQUAL(feed(&rd, EXPECT_GET, strlen(EXPECT_GET), 0, NULL),
			API_RD_REQUEST);
	CU_ASSERT_FALSE(rd.want_continue);
	api_rd_fini(&rd);
#undef EXPECT_GET
}

static void refused(const char *req, size_t len, int status, const char *code)
{
	struct api_rd rd;
	enum api_rd_ev ev;

	api_rd_init(&rd, &LIM);
	ev = feed(&rd, req, len, 0, NULL);
	CU_ASSERT_EQUAL(ev, API_RD_REFUSE);
	CU_ASSERT_EQUAL(rd.v.status, status);
	if (rd.v.code == NULL || strcmp(rd.v.code, code) != 0) {
		fprintf(stderr, "\n%.40s: code %s, want %s\n", req, rd.v.code ? rd.v.code : "-", code);
		CU_FAIL("refusal code");
	}
	/* a refused reader takes nothing more */
	CU_ASSERT_EQUAL(api_rd_feed(&rd, "x", 1, &ev), 0);
	CU_ASSERT_EQUAL(ev, API_RD_REFUSE);
	api_rd_fini(&rd);
}

static void R(const char *req, int status, const char *code)
{
	refused(req, strlen(req), status, code);
}

static void test_refusals(void)
{
	R("get / HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed");
	R("CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed");
	R("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "bad_content_length");
	R("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", 413, "body_too_large");
	R("POST / HTTP/1.1\r\nHost: x\r\n\r\n", 411, "length_required");
	R("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "bad_framing");
	R("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	  400, "bad_framing");
	R("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400,
	  "bad_framing");
	R("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "bad_framing");
	R("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", 400, "bad_framing");
	R("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3E9\r\n", 413,
	  "body_too_large");
	/* one set of credentials: a second Authorization was written over the first */
	R("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer aaaa\r\n"
	  "Authorization: Bearer b\r\n\r\n", 400, "bad_request");
	/* RFC 9112 §3.2: HTTP/1.1 without Host, two of them, an invalid one */
	R("GET / HTTP/1.1\r\n\r\n", 400, "bad_request");
	R("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 400, "bad_request");
	R("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_request");
	R("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "bad_request");
}

static void test_chunked_total_over(void)
{
	/* two chunks of 600 (each under the limit of 1,000, the sum over it) */
	char req[2000];
	int n = snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: x\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n258\r\n");
	memset(req + n, 'a', 600);
	n += 600;
	n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n258\r\n");
	memset(req + n, 'b', 600);
	n += 600;
	refused(req, (size_t)n, 413, "body_too_large");
}

static void test_head_too_large(void)
{
	char big[5000];
	int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: x\r\nX: ");

	memset(big + n, 'a', sizeof(big) - (size_t)n);
	refused(big, sizeof(big), 431, "headers_too_large");
	/* and a byte at a time */
	struct api_rd rd;

	api_rd_init(&rd, &LIM);
	CU_ASSERT_EQUAL(feed(&rd, big, sizeof(big), 1, NULL), API_RD_REFUSE);
	CU_ASSERT_EQUAL(rd.v.status, 431);
	api_rd_fini(&rd);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("api_rd", NULL, NULL);
	CU_add_test(s, "GET whole and a byte at a time", test_get_whole_and_bytewise);
	CU_add_test(s, "POST body, pipelining", test_post_body_and_pipelining);
	CU_add_test(s, "Idempotency-Key", test_idempotency_key);
	CU_add_test(s, "chunked body", test_chunked);
	CU_add_test(s, "keep-alive rules", test_keep_alive_rules);
	CU_add_test(s, "100-continue", test_continue);
	CU_add_test(s, "refusals", test_refusals);
	CU_add_test(s, "chunked total over the limit", test_chunked_total_over);
	CU_add_test(s, "head over 4 KiB", test_head_too_large);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int f = CU_get_number_of_failures();
	CU_cleanup_registry();
	return f != 0;
}
