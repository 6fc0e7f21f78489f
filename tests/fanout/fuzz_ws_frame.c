/*
 * fuzz_ws_frame: libFuzzer target for cp_ws_check (the RFC 6455 checker and decoder the
 * fan-out reads every client byte through). Input: byte 0 selects the phase (bit 0: HTTP
 * request first) and how the rest is split into reads (bits 1-7: chunk size); the rest is
 * the client's stream. Checks: never a crash or out-of-bounds access; the verdict and the
 * violation position are the same whatever the chunking; ok_len never exceeds what was
 * fed; deliver mode gives the same verdict as check mode and hands on the same events
 * (head, data bytes with their message boundaries, control frames) whatever the
 * chunking, no message over the limit and no control payload over 125 bytes; the request
 * value getters stay within their buffers. With a request sink (HTTP polling, issue 19):
 * every head that is not a handshake goes to it, and to cp_poll_parse, with the same
 * events and verdict whatever the chunking. Seeds: ws_frame_seeds/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cp_poll_req.h"
#include "cp_ws_check.h"

#define MAX_MSG 1024

static int run(const uint8_t *p, size_t n, bool http, size_t chunk, size_t *pos)
{
	struct cp_ws_check c;
	int v = 0;

	if (cp_ws_check_init(&c, http, MAX_MSG) != 0)
		abort();
	*pos = 0;
	for (size_t i = 0; i < n && v == 0; i += chunk) {
		size_t k = n - i < chunk ? n - i : chunk, ok = 0;
		v = cp_ws_check_feed(&c, p + i, k, &ok);
		if (ok > k)
			abort();
		*pos += ok;
	}
	cp_ws_check_fini(&c);
	return v;
}

/* What deliver mode handed on, as one byte string: a tag per event, then its bytes. */
struct trace {
	uint8_t b[1 << 16];
	size_t n;
	size_t msg; /* bytes of the open message */
};

static void put(struct trace *t, const void *p, size_t n)
{
	if (t->n + n <= sizeof(t->b)) {
		memcpy(t->b + t->n, p, n);
		t->n += n;
	}
}

static int on_head(void *arg, const char *req, size_t len)
{
	char v[64];

	put(arg, "H", 1);
	put(arg, req, len);
	(void)cp_ws_head_value(req, len, "sec-websocket-key", v, sizeof(v));
	(void)cp_ws_query_value(req, len, "token", v, sizeof(v));
	return 0;
}

/* A head that is not a handshake (HTTP polling): parsed as the fan-out parses it. */
static int on_request(void *arg, const char *req, size_t len)
{
	struct cp_poll_req r;
	const char *code = NULL;
	int st = cp_poll_parse(req, len, &r, &code);

	if ((st != 0 && code == NULL) || (st == 0 && (r.master == 0 || r.wait_s > CP_POLL_WAIT_MAX_S ||
						     !cp_poll_head_is(req, len))))
		abort();
	put(arg, "R", 1);
	put(arg, req, len);
	put(arg, &st, sizeof(st));
	return 0;
}

static int on_data(void *arg, const uint8_t *p, size_t n, bool first, bool text, bool fin)
{
	struct trace *t = arg;
	uint8_t start[2] = {'S', (uint8_t)text};

	if (first)
		t->msg = 0;
	t->msg += n;
	if (t->msg > MAX_MSG)
		abort();
	/* data bytes are traced without their chunk boundaries: only message edges count */
	if (first)
		put(t, start, 2);
	put(t, p, n);
	if (fin)
		put(t, "E", 1);
	return 0;
}

static int on_control(void *arg, unsigned int opcode, const uint8_t *p, size_t n)
{
	uint8_t tag[2] = {'C', (uint8_t)opcode};

	if (n > 125 || opcode < 8 || opcode > 10)
		abort();
	put(arg, tag, 2);
	put(arg, p, n);
	return 0;
}

static int run_deliver(const uint8_t *p, size_t n, bool http, size_t chunk, struct trace *t,
		       bool req)
{
	struct cp_ws_check c;
	const struct cp_ws_sink k = {.head = on_head, .request = req ? on_request : NULL,
				     .data = on_data, .control = on_control, .arg = t};
	int v = 0;

	t->n = 0;
	t->msg = 0;
	if (cp_ws_check_init(&c, http, MAX_MSG) != 0)
		abort();
	for (size_t i = 0; i < n && v == 0; i += chunk)
		v = cp_ws_check_deliver(&c, p + i, n - i < chunk ? n - i : chunk, &k);
	cp_ws_check_fini(&c);
	return v;
}

static struct trace ta, tb;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool http = data[0] & 1;
	size_t chunk = (size_t)(data[0] >> 1) + 1, pa, pb;
	int a = run(data + 1, size - 1, http, size, &pa);
	int b = run(data + 1, size - 1, http, chunk, &pb);
	if (a != b || (a != 0 && a != 400 && pa != pb))
		abort();
	if (a == 0 && pa != size - 1)
		abort();
	if (run_deliver(data + 1, size - 1, http, size, &ta, false) != a ||
	    run_deliver(data + 1, size - 1, http, chunk, &tb, false) != a || ta.n != tb.n ||
	    memcmp(ta.b, tb.b, ta.n) != 0)
		abort();
	if (http && (run_deliver(data + 1, size - 1, http, size, &ta, true) !=
		     run_deliver(data + 1, size - 1, http, chunk, &tb, true) || ta.n != tb.n ||
		     memcmp(ta.b, tb.b, ta.n) != 0))
		abort();
	if (http && size > 1) {
		char v[32];

		(void)cp_ws_check_handshake((const char *)data + 1, size - 1);
		(void)cp_ws_head_value((const char *)data + 1, size - 1, "host", v, sizeof(v));
		(void)cp_ws_query_value((const char *)data + 1, size - 1, "format", v, sizeof(v));
	}
	return 0;
}
