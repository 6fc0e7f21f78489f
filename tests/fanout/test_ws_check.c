/*
 * test_ws_check: CUnit tests of cp_ws_check, the RFC 6455 client-stream checker in front
 * of libwebsockets (docs/fanout.md "Protocol checks"). Pure logic: no sockets.
 */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "cp_ws_check.h"

#define MAX_MSG 1024u

static const char good_req[] =
	"GET /?token=t HTTP/1.1\r\nHost: 127.0.0.1:1\r\nUpgrade: websocket\r\n"
	"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Version: 13\r\n\r\n";

/* Feed a whole stream to a fresh frame-phase checker; returns the verdict, *ok set. */
static int frames(const uint8_t *p, size_t n, size_t *ok)
{
	struct cp_ws_check c;
	CU_ASSERT_EQUAL_FATAL(cp_ws_check_init(&c, false, MAX_MSG), 0);
	int v = cp_ws_check_feed(&c, p, n, ok);
	cp_ws_check_fini(&c);
	return v;
}

/* The same stream one byte at a time: same verdict, same position. */
static int frames_bytewise(const uint8_t *p, size_t n, size_t *ok)
{
	struct cp_ws_check c;
	size_t at = 0, k;
	int v = 0;
	CU_ASSERT_EQUAL_FATAL(cp_ws_check_init(&c, false, MAX_MSG), 0);
	for (size_t i = 0; i < n && v == 0; i++) {
		v = cp_ws_check_feed(&c, p + i, 1, &k);
		at += k;
	}
	cp_ws_check_fini(&c);
	*ok = at;
	return v;
}

static void expect(const uint8_t *p, size_t n, int verdict, size_t ok_at)
{
	size_t ok = 99999, ok1 = 99999;
	CU_ASSERT_EQUAL(frames(p, n, &ok), verdict);
	CU_ASSERT_EQUAL(ok, ok_at);
	CU_ASSERT_EQUAL(frames_bytewise(p, n, &ok1), verdict);
	CU_ASSERT_EQUAL(ok1, ok_at);
}

static void test_valid_frames(void)
{
	/* masked binary "ab", ping "", fragmented binary 1+1 with a ping between, close 1000 */
	static const uint8_t s[] = {0x82, 0x82, 1, 2, 3, 4, 'a', 'b',
				    0x89, 0x80, 1, 2, 3, 4,
				    0x02, 0x81, 1, 2, 3, 4, 'x',
				    0x89, 0x81, 1, 2, 3, 4, 'p',
				    0x80, 0x81, 1, 2, 3, 4, 'y',
				    0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8};
	expect(s, sizeof(s), CP_WS_VERDICT_OK, sizeof(s));
}

static void test_extended_lengths(void)
{
	/* 16-bit length 200 (allowed), then 64-bit length 300 (allowed, non-minimal) */
	uint8_t s[8 + 200 + 14 + 300];
	memset(s, 0, sizeof(s));
	s[0] = 0x82; s[1] = 0x80 | 126; s[2] = 0; s[3] = 200;
	uint8_t *q = s + 8 + 200;
	q[0] = 0x82; q[1] = 0x80 | 127; q[8] = 1; q[9] = 300 - 256;
	expect(s, sizeof(s), CP_WS_VERDICT_OK, sizeof(s));
}

static void test_unmasked(void)
{
	static const uint8_t ok_then_bad[] = {0x82, 0x80, 1, 2, 3, 4, 0x82, 0x02, 'a', 'b'};
	expect(ok_then_bad, sizeof(ok_then_bad), CP_WS_VERDICT_PROTOCOL, 7);
}

static void test_rsv_and_opcodes(void)
{
	for (unsigned int rsv = 1; rsv < 8; rsv++) {
		uint8_t s[] = {(uint8_t)(0x82 | rsv << 4), 0x80, 1, 2, 3, 4};
		expect(s, sizeof(s), CP_WS_VERDICT_PROTOCOL, 5); /* at the header's last byte */
	}
	for (unsigned int op = 0; op < 16; op++) {
		uint8_t s[] = {(uint8_t)(0x80 | op), 0x80, 1, 2, 3, 4};
		bool valid = op == 1 || op == 2 || op == 8 || op == 9 || op == 10;
		expect(s, sizeof(s), valid ? CP_WS_VERDICT_OK : CP_WS_VERDICT_PROTOCOL,
		       valid ? sizeof(s) : 5);
	}
}

static void test_control_frames(void)
{
	static const uint8_t frag_ping[] = {0x09, 0x80, 1, 2, 3, 4};
	expect(frag_ping, sizeof(frag_ping), CP_WS_VERDICT_PROTOCOL, 5);
	uint8_t big[4 + 126] = {0x89, 0x80 | 126, 0, 126};
	expect(big, sizeof(big), CP_WS_VERDICT_PROTOCOL, 7); /* decided on the header */
	uint8_t max[6 + 125] = {0x8a, 0x80 | 125, 1, 2, 3, 4};
	expect(max, sizeof(max), CP_WS_VERDICT_OK, sizeof(max));
	static const uint8_t close1[] = {0x88, 0x81, 0, 0, 0, 0, 3};
	expect(close1, sizeof(close1), CP_WS_VERDICT_PROTOCOL, 5);
}

static void test_fragmentation_rules(void)
{
	static const uint8_t lone_cont[] = {0x80, 0x80, 1, 2, 3, 4};
	expect(lone_cont, sizeof(lone_cont), CP_WS_VERDICT_PROTOCOL, 5);
	/* a new data frame while a message is open */
	static const uint8_t nested[] = {0x02, 0x80, 1, 2, 3, 4, 0x82, 0x80, 1, 2, 3, 4};
	expect(nested, sizeof(nested), CP_WS_VERDICT_PROTOCOL, 11);
}

static void test_too_big(void)
{
	/* one frame announcing 1 MiB: refused on its header, no payload needed */
	static const uint8_t huge[] = {0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4};
	expect(huge, sizeof(huge), CP_WS_VERDICT_TOO_BIG, 13);
	/* fragments adding up past the limit: 1000 + 100 */
	uint8_t s[8 + 1000 + 8];
	memset(s, 0, sizeof(s));
	s[0] = 0x02; s[1] = 0x80 | 126; s[2] = 1000 >> 8; s[3] = 1000 & 0xff;
	uint8_t *q = s + 8 + 1000;
	q[0] = 0x80; q[1] = 0x80 | 126; q[2] = 0; q[3] = 100;
	expect(s, sizeof(s), CP_WS_VERDICT_TOO_BIG, 8 + 1000 + 7);
	/* exactly the limit is fine */
	uint8_t e[8 + MAX_MSG];
	memset(e, 0, sizeof(e));
	e[0] = 0x82; e[1] = 0x80 | 126; e[2] = MAX_MSG >> 8; e[3] = MAX_MSG & 0xff;
	expect(e, sizeof(e), CP_WS_VERDICT_OK, sizeof(e));
	/* 64-bit length with the top bit set */
	static const uint8_t neg[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
	expect(neg, sizeof(neg), CP_WS_VERDICT_PROTOCOL, 13);
}

static void test_handshake(void)
{
	CU_ASSERT_TRUE(cp_ws_check_handshake(good_req, strlen(good_req)));
	const char *bad[] = {
		/* no key */
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Version: 13\r\n\r\n",
		/* key not 16 bytes */
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n\r\n",
		/* two keys */
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		/* version 8 */
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
		/* POST */
		"POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		/* HTTP/1.0 */
		"GET / HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		/* no Upgrade token in Connection */
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: close\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		/* no Host */
		"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cp_ws_check_handshake(bad[i], strlen(bad[i])))
			fprintf(stderr, "\naccepted bad handshake #%zu\n", i);
		CU_ASSERT_FALSE(cp_ws_check_handshake(bad[i], strlen(bad[i])));
	}
}

static void test_http_phase_stream(void)
{
	/* request and the first frames in one read; then an unmasked frame */
	uint8_t s[sizeof(good_req) - 1 + 6 + 4];
	size_t rl = sizeof(good_req) - 1, ok = 0;
	memcpy(s, good_req, rl);
	memcpy(s + rl, (const uint8_t[]){0x82, 0x80, 1, 2, 3, 4, 0x82, 0x02, 'a', 'b'}, 10);
	struct cp_ws_check c;
	CU_ASSERT_EQUAL_FATAL(cp_ws_check_init(&c, true, MAX_MSG), 0);
	CU_ASSERT_EQUAL(cp_ws_check_feed(&c, s, sizeof(s), &ok), CP_WS_VERDICT_PROTOCOL);
	CU_ASSERT_EQUAL(ok, rl + 7);
	/* sticky */
	CU_ASSERT_EQUAL(cp_ws_check_feed(&c, s, 1, &ok), CP_WS_VERDICT_PROTOCOL);
	CU_ASSERT_EQUAL(ok, 0);
	cp_ws_check_fini(&c);
	/* an endless header block: 400 at the limit */
	CU_ASSERT_EQUAL_FATAL(cp_ws_check_init(&c, true, MAX_MSG), 0);
	char junk[512];
	memset(junk, 'a', sizeof(junk));
	int v = 0;
	for (int i = 0; i < 20 && v == 0; i++)
		v = cp_ws_check_feed(&c, (const uint8_t *)junk, sizeof(junk), NULL);
	CU_ASSERT_EQUAL(v, CP_WS_VERDICT_HTTP_400);
	cp_ws_check_fini(&c);
	cp_ws_check_fini(&c); /* idempotent */
}

/* RFC 6455 §7.4: which close codes a peer may send; each range's boundaries */
static void test_close_codes(void)
{
	static const unsigned int ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
					  1012, 1013, 1014, 3000, 3999, 4000, 4999};
	static const unsigned int bad[] = {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000,
					   2999, 5000, 65535};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		CU_ASSERT_TRUE(cp_ws_close_code_valid(ok[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_FALSE(cp_ws_close_code_valid(bad[i]));
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_ws_check", NULL, NULL);
	CU_add_test(s, "valid frames", test_valid_frames);
	CU_add_test(s, "extended lengths", test_extended_lengths);
	CU_add_test(s, "unmasked client frame -> 1002", test_unmasked);
	CU_add_test(s, "RSV bits and reserved opcodes -> 1002", test_rsv_and_opcodes);
	CU_add_test(s, "control frames", test_control_frames);
	CU_add_test(s, "fragmentation rules", test_fragmentation_rules);
	CU_add_test(s, "too big -> 1009 on the header", test_too_big);
	CU_add_test(s, "handshake", test_handshake);
	CU_add_test(s, "HTTP phase then frames", test_http_phase_stream);
	CU_add_test(s, "close codes (RFC 6455 7.4)", test_close_codes);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
