/*
 * test_sub_poll: CUnit tests of decp-subscriber's polling answer reader
 * (tools/subscriber/sub_poll.h): two answers back to back read whole and byte by byte
 * alike, the framed messages of a body, the request line, and each malformed answer.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <string.h>

#include "sub_poll.h"

static const char two[] =
	"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 11\r\n"
	"X-Decp-Next-After: 7\r\nX-Decp-Envelopes: 1\r\n\r\n"
	"\0\0\0\2ab\0\0\0\1c"
	"HTTP/1.1 409 Conflict\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";

/* Read `two` in chunks of `chunk`: the answers' status/next/messages as a string. */
static void read_two(size_t chunk, char *out, size_t cap)
{
	struct sub_poll_rx r;
	size_t i = 0, n = sizeof(two) - 1, o = 0;

	sub_poll_rx_init(&r);
	out[0] = '\0';
	while (i < n) {
		size_t k = n - i < chunk ? n - i : chunk, used;
		int rc = sub_poll_rx_feed(&r, (const uint8_t *)two + i, k, &used);

		CU_ASSERT_TRUE_FATAL(rc >= 0 && used <= k);
		i += used;
		if (rc == 1) {
			const uint8_t *m;
			size_t off = 0, len;

			o += (size_t)snprintf(out + o, cap - o, "%d/%llu/%d:", r.status,
					      (unsigned long long)r.next, r.close);
			if (r.status == 200)
				while (sub_poll_msg(&r, &off, &m, &len) == 1)
					o += (size_t)snprintf(out + o, cap - o, "[%.*s]", (int)len,
							      (const char *)m);
			sub_poll_rx_next(&r);
		}
	}
	sub_poll_rx_fini(&r);
}

static void test_answers(void)
{
	char whole[128], bytes[128];

	read_two(sizeof(two), whole, sizeof(whole));
	read_two(1, bytes, sizeof(bytes));
	CU_ASSERT_STRING_EQUAL(whole, "200/7/0:[ab][c]409/0/1:");
	CU_ASSERT_STRING_EQUAL(bytes, whole);
}

static int feed_str(const char *s, struct sub_poll_rx *r)
{
	size_t used;

	return sub_poll_rx_feed(r, (const uint8_t *)s, strlen(s), &used);
}

static void test_malformed(void)
{
	struct sub_poll_rx r;
	const uint8_t *m;
	size_t off = 0, len;
	static const char past[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Decp-Next-After: 1"
				   "\r\n\r\n\0\0\0\3ab";

	sub_poll_rx_init(&r);
	CU_ASSERT_EQUAL(feed_str("HTTP/1.1 200 OK\r\nX-Decp-Next-After: 1\r\n\r\n", &r), -EPROTO);
	sub_poll_rx_next(&r);
	CU_ASSERT_EQUAL(feed_str("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &r), -EPROTO);
	sub_poll_rx_next(&r);
	CU_ASSERT_EQUAL(feed_str("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n"
				 "X-Decp-Next-After: 1\r\n\r\n", &r), -EPROTO);
	sub_poll_rx_next(&r);
	CU_ASSERT_EQUAL(feed_str("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", &r), -EPROTO);
	sub_poll_rx_next(&r);
	CU_ASSERT_EQUAL(feed_str("HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", &r),
			-EMSGSIZE);
	sub_poll_rx_next(&r);
	{
		size_t used;

		CU_ASSERT_EQUAL(sub_poll_rx_feed(&r, (const uint8_t *)past, sizeof(past) - 1, &used),
				1);
		CU_ASSERT_EQUAL(sub_poll_msg(&r, &off, &m, &len), -EPROTO); /* 3 bytes announced */
	}
	sub_poll_rx_fini(&r);
}

static void test_request(void)
{
	char b[256];

	CU_ASSERT_TRUE(sub_poll_request(b, sizeof(b), "h", 2, 10, 5, 3, "tok") > 0);
	CU_ASSERT_STRING_EQUAL(b, "GET /v1/masters/2/signals?after=10&wait=5&policy=3 HTTP/1.1\r\n"
			       "Host: h\r\nAuthorization: Bearer tok\r\n\r\n");
	CU_ASSERT_EQUAL(sub_poll_request(b, 20, "h", 2, 10, 5, 3, "tok"), -ENOSPC);
}

int main(void)
{
	CU_pSuite su;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	su = CU_add_suite("fanout_sub_poll", NULL, NULL);
	CU_add_test(su, "two answers, whole and byte by byte", test_answers);
	CU_add_test(su, "malformed answers", test_malformed);
	CU_add_test(su, "the request", test_request);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
