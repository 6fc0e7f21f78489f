/*
 * fuzz_ctail_push: libFuzzer target for cp_ctail_push (what the fan-out's cluster tail
 * reads from Redis subscriber connections; docs/fanout.md "Tailing a Redis Cluster").
 * Input: RESP bytes, fed to hiredis's reader as they would arrive; every reply it makes of
 * them goes through cp_ctail_push_parse. Checks: no crash or out-of-bounds read; a MESSAGE
 * with items walks with cp_ctail_item_next to exactly its first..last sequences, each
 * record inside the payload, ending at the payload's end; a MESSAGE without items has
 * first = last = 0; a master is named exactly for MESSAGE, SUBSCRIBED and UNSUBSCRIBED.
 * Inputs announcing arrays hiredis 0.14 cannot hold are skipped (fuzz_resp_cap.h).
 * Seeds: ctail_push_seeds/.
 */
#include <stdint.h>
#include <stdlib.h>

#include <hiredis/hiredis.h>

#include "cp_ctail_push.h"
#include "fuzz_resp_cap.h"

static void check(const redisReply *rep)
{
	struct cp_ctail_push p;
	enum cp_ctail_kind k = cp_ctail_push_parse(rep, &p);

	if ((p.master != 0) != (k == CP_CTAIL_MESSAGE || k == CP_CTAIL_SUBSCRIBED ||
				k == CP_CTAIL_UNSUBSCRIBED))
		abort();
	if (k != CP_CTAIL_MESSAGE || p.first == 0) {
		if (k == CP_CTAIL_MESSAGE && p.last != 0)
			abort();
		return;
	}
	struct cp_ctail_item it;
	size_t off = 0;
	uint64_t want = p.first;
	int rc;

	while ((rc = cp_ctail_item_next(p.items, p.items_len, &off, &it)) == 1) {
		if (it.seq != want || (const char *)it.rec < p.items ||
		    (const char *)it.rec + it.rec_len > p.items + p.items_len)
			abort();
		if (it.seq == p.last)
			break;
		want++;
	}
	if (rc != 1 || it.seq != p.last || off != p.items_len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	redisReader *r;
	void *rep;

	if (fuzz_resp_too_long(data, size))
		return 0;
	r = redisReaderCreate();
	if (r == NULL)
		return 0;
	if (redisReaderFeed(r, (const char *)data, size) == REDIS_OK)
		while (redisReaderGetReply(r, &rep) == REDIS_OK && rep != NULL) {
			check(rep);
			freeReplyObject(rep);
		}
	redisReaderFree(r);
	return 0;
}
