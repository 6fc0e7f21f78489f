/*
 * fuzz_sub_poll: libFuzzer target for decp-subscriber's reader of polling answers
 * (tools/subscriber/sub_poll.h: status line, headers, a length-framed body; network
 * bytes from the fan-out). Input: byte 0 sets the chunk size of the feed, the rest is the
 * connection's stream. Checks: never a crash or out-of-bounds access; the same answers
 * (status, next, body) whatever the chunking; every framed message lies inside its body.
 * Seeds: sub_poll_seeds/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sub_poll.h"

/* A digest of the answers read from p[0..n) fed in chunks: status, next and body bytes
 * summed in order; stops at the first error (its code counted). */
static uint64_t run(const uint8_t *p, size_t n, size_t chunk)
{
	struct sub_poll_rx r;
	uint64_t h = 1469598103934665603ull;
	size_t i = 0;

	sub_poll_rx_init(&r);
	while (i < n) {
		size_t k = n - i < chunk ? n - i : chunk, used = 0;
		int rc = sub_poll_rx_feed(&r, p + i, k, &used);

		if (used > k)
			abort();
		if (rc < 0) {
			h = h * 31 + (uint64_t)-rc;
			break;
		}
		i += used;
		if (rc == 1) {
			size_t off = 0, len = 0;
			const uint8_t *m = NULL;
			int mr;

			h = h * 31 + (uint64_t)r.status;
			h = h * 31 + r.next;
			while ((mr = sub_poll_msg(&r, &off, &m, &len)) == 1) {
				if (m < r.buf + r.head_len || m + len > r.buf + r.head_len + r.body_len)
					abort();
				for (size_t j = 0; j < len; j++)
					h = h * 31 + m[j];
			}
			h = h * 31 + (uint64_t)(mr + 2);
			sub_poll_rx_next(&r);
		} else if (used == k && i == n) {
			break;
		}
	}
	sub_poll_rx_fini(&r);
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (run(data + 1, size - 1, size) != run(data + 1, size - 1, (size_t)data[0] % 16 + 1))
		abort();
	return 0;
}
