/*
 * test_ws_check: CUnit tests of cp_ws_check, the RFC 6455 client-stream checker and decoder
 * the fan-out reads every client byte through (docs/fanout.md "The WebSocket protocol is
 * ours"), and its server-side pieces. Pure logic: no sockets.
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
	static const char one_auth[] =
		"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Sec-WebSocket-Version: 13\r\n\r\n";
	CU_ASSERT_TRUE(cp_ws_check_handshake(one_auth, strlen(one_auth)));
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
		/* two Hosts (RFC 9112 §3.2; the last one was taken), an invalid one */
		"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x/y\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		/* two Authorization headers (the first one was taken) */
		"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n"
		"Upgrade: websocket\r\nConnection: Upgrade\r\n"
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

/* ---- deliver mode ---- */

struct events {
	char log[2048];
	size_t n;
	int stop_at_control; /* return -2 from the n-th control frame (0: never) */
	int controls;
};

static void logf_(struct events *e, const char *fmt, const char *a, size_t n, int x, int y,
		  int z)
{
	e->n += (size_t)snprintf(e->log + e->n, sizeof(e->log) - e->n, fmt, (int)n, a, x, y, z);
}

static int ev_head(void *arg, const char *req, size_t len)
{
	struct events *e = arg;

	e->n += (size_t)snprintf(e->log + e->n, sizeof(e->log) - e->n, "H%zu;", len);
	(void)req;
	return 0;
}

static int ev_data(void *arg, const uint8_t *p, size_t n, bool first, bool text, bool fin)
{
	logf_(arg, "D[%.*s]%d%d%d;", (const char *)p, n, first, text, fin);
	return 0;
}

static int ev_control(void *arg, unsigned int op, const uint8_t *p, size_t n)
{
	struct events *e = arg;

	logf_(arg, "C[%.*s]%d%d%d;", (const char *)p, n, (int)op, 0, 0);
	return ++e->controls == e->stop_at_control ? -2 : 0;
}

/* A masked client frame of opcode/fin with payload s into out; returns its length. */
static size_t frame(uint8_t *out, unsigned int op, bool fin, const char *pl)
{
	static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
	size_t n = strlen(pl), h = 2;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | op);
	out[1] = (uint8_t)(0x80 | n);
	memcpy(out + h, mask, 4);
	for (size_t i = 0; i < n; i++)
		out[h + 4 + i] = (uint8_t)pl[i] ^ mask[i & 3];
	return h + 4 + n;
}

/* Deliver stream p[0..n) in chunks of `chunk`; returns the last result, events in *e. */
static int deliver_all(const uint8_t *p, size_t n, size_t chunk, bool http, struct events *e)
{
	struct cp_ws_check c;
	const struct cp_ws_sink k = {.head = ev_head, .data = ev_data, .control = ev_control,
				     .arg = e};
	int v = 0;

	CU_ASSERT_EQUAL_FATAL(cp_ws_check_init(&c, http, MAX_MSG), 0);
	for (size_t i = 0; i < n && v == 0; i += chunk)
		v = cp_ws_check_deliver(&c, p + i, n - i < chunk ? n - i : chunk, &k);
	cp_ws_check_fini(&c);
	return v;
}

static int ev_request(void *arg, const char *req, size_t len)
{
	struct events *e = arg;

	e->n += (size_t)snprintf(e->log + e->n, sizeof(e->log) - e->n, "R%zu[%.3s];", len, req);
	return 0;
}

/* Heads that are not handshakes go to the request sink when there is one (HTTP polling),
 * one after the other, whatever the chunking; without it the first is the 400 verdict. */
static void test_request_sink(void)
{
	static const char two[] = "GET /v1/masters/1/signals?after=0 HTTP/1.1\r\nHost: a\r\n\r\n"
				  "PUT /v1/x HTTP/1.1\r\nHost: a\r\n\r\nGET /v1/";
	struct cp_ws_check c;

	for (size_t chunk = 1; chunk <= sizeof(two); chunk += 7) {
		struct events e = {0};
		const struct cp_ws_sink k = {.head = ev_head, .request = ev_request, .data = ev_data,
					     .control = ev_control, .arg = &e};
		int v = 0;

		CU_ASSERT_EQUAL_FATAL(cp_ws_check_init(&c, true, MAX_MSG), 0);
		for (size_t i = 0; i < sizeof(two) - 1 && v == 0; i += chunk)
			v = cp_ws_check_deliver(&c, (const uint8_t *)two + i,
						sizeof(two) - 1 - i < chunk ? sizeof(two) - 1 - i : chunk, &k);
		CU_ASSERT_EQUAL(v, 0);
		CU_ASSERT_STRING_EQUAL(e.log, "R55[GET];R31[PUT];");
		CU_ASSERT_EQUAL(c.phase, CP_WS_HTTP); /* collecting the third head */
		cp_ws_check_fini(&c);
	}
	CU_ASSERT_EQUAL_FATAL(cp_ws_check_init(&c, true, MAX_MSG), 0);
	CU_ASSERT_EQUAL(cp_ws_check_feed(&c, (const uint8_t *)two, sizeof(two) - 1, NULL),
			CP_WS_VERDICT_HTTP_400);
	cp_ws_check_fini(&c);
}

static void test_deliver(void)
{
	uint8_t st[1024];
	size_t n = 0;
	struct events a = {0}, b = {0};

	memcpy(st, good_req, sizeof(good_req) - 1);
	n = sizeof(good_req) - 1;
	n += frame(st + n, 2, true, "hello");          /* a whole binary message */
	n += frame(st + n, 1, false, "ab");            /* a text message in two fragments ... */
	n += frame(st + n, 9, true, "pi");             /* ... with a ping between them */
	n += frame(st + n, 0, true, "cd");
	n += frame(st + n, 2, true, "");               /* an empty message */
	n += frame(st + n, 8, true, "\x03\xe8" "bye"); /* close 1000 "bye" */
	CU_ASSERT_EQUAL(deliver_all(st, n, n, true, &a), 0);
	CU_ASSERT_STRING_EQUAL(a.log, "H170;D[hello]101;D[ab]110;C[pi]900;D[cd]011;D[]101;"
				      "C[\x03\xe8" "bye]800;");
	/* byte by byte: the same events except data split into pieces; compare the bytes */
	CU_ASSERT_EQUAL(deliver_all(st, n, 1, true, &b), 0);
	{
		/* every data byte and every control frame, in order, whatever the chunking */
		char ja[512] = "", jb[512] = "";
		for (const char *x = a.log; (x = strchr(x, '[')) != NULL; x++)
			strncat(ja, x + 1, strcspn(x + 1, "]"));
		for (const char *x = b.log; (x = strchr(x, '[')) != NULL; x++)
			strncat(jb, x + 1, strcspn(x + 1, "]"));
		CU_ASSERT_STRING_EQUAL(ja, jb);
		CU_ASSERT_PTR_NOT_NULL(strstr(b.log, "C[pi]900;"));
		CU_ASSERT_PTR_NOT_NULL(strstr(b.log, "]011;")); /* the text message ends */
	}
	/* a callback's negative value stops the feed and is returned */
	memset(&a, 0, sizeof(a));
	a.stop_at_control = 1;
	CU_ASSERT_EQUAL(deliver_all(st, n, n, true, &a), -2);
	CU_ASSERT_PTR_NULL(strstr(a.log, "D[cd]"));
	/* a violation after good frames: what came before was delivered, the verdict returned */
	n = frame(st, 2, true, "ok");
	st[n++] = 0x82;
	st[n++] = 0x01; /* unmasked */
	st[n++] = 'x';
	memset(&a, 0, sizeof(a));
	CU_ASSERT_EQUAL(deliver_all(st, n, 1, false, &a), CP_WS_VERDICT_PROTOCOL);
	CU_ASSERT_STRING_EQUAL(a.log, "D[o]100;D[k]001;");
}

static void test_server_pieces(void)
{
	uint8_t h[10];
	char acc[29], v[64];
	const char req[] = "GET /?format=json&token=a%2Bb%3D+c HTTP/1.1\r\nHost: x\r\n"
			   "Authorization:  Bearer tok  \r\nX: y\r\n\r\n";

	CU_ASSERT_EQUAL(cp_ws_frame_header(h, 2, 5), 2);
	CU_ASSERT(h[0] == 0x82 && h[1] == 5);
	CU_ASSERT_EQUAL(cp_ws_frame_header(h, 1, 126), 4);
	CU_ASSERT(h[1] == 126 && h[2] == 0 && h[3] == 126);
	CU_ASSERT_EQUAL(cp_ws_frame_header(h, 2, 70000), 10);
	CU_ASSERT(h[1] == 127 && h[7] == 0x01 && h[8] == 0x11 && h[9] == 0x70);
	/* RFC 6455 §1.3's example */
	cp_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, acc);
	CU_ASSERT_STRING_EQUAL(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CU_ASSERT_EQUAL(cp_ws_head_value(req, strlen(req), "authorization", v, sizeof(v)), 10);
	CU_ASSERT_STRING_EQUAL(v, "Bearer tok");
	CU_ASSERT_EQUAL(cp_ws_head_value(req, strlen(req), "host", v, sizeof(v)), 1);
	CU_ASSERT_EQUAL(cp_ws_head_value(req, strlen(req), "missing", v, sizeof(v)), -1);
	CU_ASSERT_EQUAL(cp_ws_head_value(req, strlen(req), "authorization", v, 5), -1);
	/* the subprotocol offered: any element of any Sec-WebSocket-Protocol header, exactly */
	{
		static const char *const yes[] = {
			"GET / HTTP/1.1\r\nSec-WebSocket-Protocol: decp\r\n\r\n",
			"GET / HTTP/1.1\r\nsec-websocket-protocol:chat, decp\t\r\n\r\n",
			/* two headers (one string: clang's -Wstring-concatenation) */
			("GET / HTTP/1.1\r\nSec-WebSocket-Protocol: chat\r\n"
			 "Sec-WebSocket-Protocol: x,decp,y\r\n\r\n")};
		static const char *const no[] = {
			"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
			"GET / HTTP/1.1\r\nSec-WebSocket-Protocol: DECP\r\n\r\n",
			"GET / HTTP/1.1\r\nSec-WebSocket-Protocol: decp2, dec, chat\r\n\r\n",
			"GET / HTTP/1.1\r\nSec-WebSocket-Protocol:\r\n\r\n",
			"GET / HTTP/1.1\r\nX-Sec-WebSocket-Protocol: decp\r\n\r\n"};

		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
			CU_ASSERT(cp_ws_offers_protocol(yes[i], strlen(yes[i]), "decp"));
		for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
			CU_ASSERT(!cp_ws_offers_protocol(no[i], strlen(no[i]), "decp"));
	}
	CU_ASSERT_EQUAL(cp_ws_query_value(req, strlen(req), "token", v, sizeof(v)), 6);
	CU_ASSERT_STRING_EQUAL(v, "a+b= c");
	CU_ASSERT_EQUAL(cp_ws_query_value(req, strlen(req), "format", v, sizeof(v)), 4);
	CU_ASSERT_EQUAL(cp_ws_query_value(req, strlen(req), "form", v, sizeof(v)), -1);
	CU_ASSERT_EQUAL(cp_ws_query_value("GET /?token=%4 HTTP/1.1\r\n\r\n", 27, "token", v,
					  sizeof(v)), -1);
	CU_ASSERT_EQUAL(cp_ws_query_value("GET / HTTP/1.1\r\n\r\n", 18, "token", v, sizeof(v)), -1);
}

static void test_utf8(void)
{
	static const char *const ok[] = {"", "abc", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
					 "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf"};
	static const char *const bad[] = {"\x80", "\xc3", "\xc0\xaf", "\xe0\x80\xaf",
					  "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80",
					  "\xe2\x82", "a\xffz", "\xc3\x28"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		CU_ASSERT_TRUE(cp_ws_utf8_valid((const uint8_t *)ok[i], strlen(ok[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_FALSE(cp_ws_utf8_valid((const uint8_t *)bad[i], strlen(bad[i])));
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
	CU_add_test(s, "deliver mode: head, unmasked data, control frames, chunking", test_deliver);
	CU_add_test(s, "deliver mode: heads that are not handshakes to the request sink",
		    test_request_sink);
	CU_add_test(s, "server pieces: frame headers, accept key, request values", test_server_pieces);
	CU_add_test(s, "UTF-8", test_utf8);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
