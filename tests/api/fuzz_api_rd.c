/* fuzz_api_rd: cp_api_rd (the api's HTTP/1.1 request reader) on arbitrary bytes, fed in
 * pieces whose sizes the input's first byte chooses, the way TLS records and TCP segments
 * split a stream. It must never read outside what it is given, never take more than it is
 * given, take everything when it asks for more, and every request it completes must be an
 * accepted GET or POST with a path, a NUL-terminated body within the limit; every refusal
 * must have a status, a code and a reply that fits. Requests are served in order
 * (api_rd_next), as a pipelining client would send them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cp_api_rd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct api_head_limits lim = {.target_max = 511, .query_args_max = 32,
						   .max_body = 4096};
	struct api_rd rd;
	size_t step, at = 0;
	char out[1024];

	if (size < 1)
		return 0;
	step = (size_t)(data[0] % 64) + 1;
	data++;
	size--;
	api_rd_init(&rd, &lim);
	while (at < size) {
		size_t n = size - at < step ? size - at : step;
		char *piece = malloc(n); /* exact size: ASan catches any overread */
		enum api_rd_ev ev;
		long k;

		if (piece == NULL)
			break;
		memcpy(piece, data + at, n);
		k = api_rd_feed(&rd, piece, n, &ev);
		free(piece);
		if (k < 0)
			break; /* no memory */
		if ((size_t)k > n || (ev == API_RD_MORE && (size_t)k != n))
			abort();
		at += (size_t)k;
		if (ev == API_RD_REFUSE) {
			if (rd.v.status < 400 || rd.v.code == NULL || rd.v.message == NULL ||
			    api_head_reply(&rd.v, out, sizeof(out)) == 0)
				abort();
			break;
		}
		if (ev == API_RD_REQUEST) {
			if (rd.req.path[0] != '/' || rd.req.len > lim.max_body ||
			    (rd.req.len > 0 && (rd.req.body == NULL || rd.req.body[rd.req.len] != '\0')))
				abort();
			api_rd_next(&rd);
		}
	}
	api_rd_fini(&rd);
	return 0;
}
