/* proto_keyann_msg: the key-announcement bytes, pure C. Contract in proto_keyann_msg.h. */
#include "proto_keyann_msg.h"

#include <errno.h>
#include <string.h>

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

int proto_keyann_message(const struct proto_keyann *a, uint8_t out[PROTO_KEYANN_MSG_LEN])
{
	if (a == NULL || out == NULL || a->master_id == 0 ||
	    a->overlap_until_ns < a->valid_from_ns)
		return -EINVAL;
	memset(out, 0, 24);
	memcpy(out, PROTO_KEYANN_LABEL, sizeof(PROTO_KEYANN_LABEL) - 1);
	be64(out + 24, a->master_id);
	memcpy(out + 32, a->old_pub, PROTO_KEYANN_KEY_LEN);
	memcpy(out + 64, a->new_pub, PROTO_KEYANN_KEY_LEN);
	be64(out + 96, (uint64_t)a->valid_from_ns);
	be64(out + 104, (uint64_t)a->overlap_until_ns);
	return 0;
}
