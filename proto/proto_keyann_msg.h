/*
 * proto_keyann_msg: the bytes of a key announcement (proto_keyann.h has the design), pure C
 * with no OpenSSL and no protobuf-c, so that decp.dll (mingw, libgcrypt) builds exactly the
 * bytes the servers' tools sign:
 *
 *   message = "decp-key-announce-v1" + 4 zero bytes (24)
 *             || master_id (8, big endian) || old_public_key (32) || new_public_key (32)
 *             || valid_from_ns (8, big endian, two's complement) || overlap_until_ns (8)
 *
 * Threading: stateless; any thread.
 */
#ifndef DECP_PROTO_KEYANN_MSG_H
#define DECP_PROTO_KEYANN_MSG_H

#include <stdint.h>

#define PROTO_KEYANN_LABEL "decp-key-announce-v1"
#define PROTO_KEYANN_MSG_LEN 112u
#define PROTO_KEYANN_KEY_LEN 32u

struct proto_keyann {
	uint64_t master_id;                       /* != 0 */
	uint8_t old_pub[PROTO_KEYANN_KEY_LEN];
	uint8_t new_pub[PROTO_KEYANN_KEY_LEN];
	int64_t valid_from_ns;
	int64_t overlap_until_ns;                 /* >= valid_from_ns */
};

/* The signed bytes of a. Returns 0, or -EINVAL (NULL, master 0, until < from). */
int proto_keyann_message(const struct proto_keyann *a, uint8_t out[PROTO_KEYANN_MSG_LEN]);

#endif
