/*
 * fuzz_poll_req: libFuzzer target for cp_poll_req (the fan-out's HTTP polling request
 * head, read from network bytes; docs/fanout.md "HTTP polling"). Input: a request head.
 * Checks: never a crash or out-of-bounds read (the head is copied into a buffer of its
 * exact size, not NUL-terminated); the status is 0, 400, 404 or 405, with an error code
 * for every refusal; an accepted request names a master >= 1, a wait within the limit,
 * and is one cp_poll_head_is recognises. Seeds: poll_req_seeds/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cp_poll_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *head = malloc(size ? size : 1);
	struct cp_poll_req r;
	const char *code = NULL;
	int st;

	if (head == NULL)
		return 0;
	memcpy(head, data, size);
	st = cp_poll_parse(head, size, &r, &code);
	if (st != 0 && st != 400 && st != 404 && st != 405)
		abort();
	if (st != 0 && (code == NULL || code[0] == '\0'))
		abort();
	if (st == 0 && (r.master == 0 || r.master > (uint64_t)INT64_MAX ||
			r.after > (uint64_t)INT64_MAX || r.wait_s > CP_POLL_WAIT_MAX_S ||
			!cp_poll_head_is(head, size)))
		abort();
	free(head);
	return 0;
}
