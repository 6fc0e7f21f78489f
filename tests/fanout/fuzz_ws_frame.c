/*
 * fuzz_ws_frame: libFuzzer target for cp_ws_check (the RFC 6455 checker in front of lws).
 * Input: byte 0 selects the phase (bit 0: HTTP request first) and how the rest is split
 * into reads (bits 1-7: chunk size); the rest is the client's stream. Checks: never a
 * crash or out-of-bounds access; the verdict and the violation position are the same
 * whatever the chunking; ok_len never exceeds what was fed. Seeds: ws_frame_seeds/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cp_ws_check.h"

static int run(const uint8_t *p, size_t n, bool http, size_t chunk, size_t *pos)
{
	struct cp_ws_check c;
	int v = 0;

	if (cp_ws_check_init(&c, http, 1024) != 0)
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
	if (http && size > 1)
		(void)cp_ws_check_handshake((const char *)data + 1, size - 1);
	return 0;
}
