/* fuzz_api_head: cp_api_head on arbitrary bytes (the request head the gate hands it). It
 * must never read outside the input, and every refusal must have a code, a message and a
 * reply that fits; an accepted head must start with "GET /" or "POST /". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cp_api_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct api_head_limits lim = {.target_max = 511, .query_args_max = 32,
						   .max_body = 65536};
	struct api_head_verdict v;
	char *copy = malloc(size ? size : 1); /* exact size: ASan catches any overread */
	char out[1024];

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	api_head_check_pure(copy, size, &lim, &v);
	if (v.status != 0) {
		if (v.code == NULL || v.message == NULL || api_head_reply(&v, out, sizeof(out)) == 0)
			abort();
	} else if (!(size >= 5 && memcmp(copy, "GET /", 5) == 0) &&
		   !(size >= 6 && memcmp(copy, "POST /", 6) == 0)) {
		abort();
	}
	free(copy);
	return 0;
}
