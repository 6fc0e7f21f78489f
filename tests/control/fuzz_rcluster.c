/*
 * fuzz_rcluster: libFuzzer target for the Redis Cluster routing layer's parsers of network
 * bytes (controlplane/common/cp_rcluster.h). Arbitrary bytes are fed to hiredis's reader as
 * a server's reply: a CLUSTER SLOTS reply either parses into a map whose every slot names
 * a listed primary (or none), or is refused; an error reply's text goes through the
 * MOVED/ASK parser, whose accepted results are in range. Also the key slot of the bytes.
 * Seeds: rcluster_seeds/ (a three-primary CLUSTER SLOTS reply, a MOVED, an ASK).
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cp_rcluster.h"
#include "fuzz_resp_cap.h"

static struct cp_rcl_map map;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct cp_rcl_redirect d;
	redisReader *rd;
	void *rep = NULL;

	if (cp_rcl_key_slot((const char *)data, len) >= CP_RCL_SLOTS)
		abort();
	if (cp_rcl_redirect_parse((const char *)data, len, &d) == 0 &&
	    (d.slot >= CP_RCL_SLOTS || d.to.port < 1 || d.to.port > 65535 ||
	     strlen(d.to.host) == 0))
		abort();
	if (fuzz_resp_too_long(data, len))
		return 0;
	rd = redisReaderCreate();
	if (rd == NULL)
		return 0;
	if (redisReaderFeed(rd, (const char *)data, len) == REDIS_OK &&
	    redisReaderGetReply(rd, &rep) == REDIS_OK && rep != NULL) {
		const redisReply *r = rep;
		int rc = cp_rcl_map_parse(r, "seed", &map);

		if (rc != 0 && rc != -EPROTO && rc != -E2BIG)
			abort();
		if (rc == 0)
			for (unsigned int s = 0; s < CP_RCL_SLOTS; s++)
				if (map.slot[s] != CP_RCL_NONE && map.slot[s] >= map.n)
					abort();
		if (r->type == REDIS_REPLY_ERROR &&
		    cp_rcl_redirect_parse(r->str, r->len, &d) == 0 && d.slot >= CP_RCL_SLOTS)
			abort();
		freeReplyObject(rep);
	}
	redisReaderFree(rd);
	return 0;
}
