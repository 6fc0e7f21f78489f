/*
 * libFuzzer target: arbitrary bytes as the body of a master's positions part
 * (proto_positions_open without a key: what the book role reads back from Redis, and what
 * ingest parses after the MAC). Whatever opens must validate and seal within the body
 * limit; the same bytes under a MAC must open too.
 */
#include <stdlib.h>
#include <string.h>

#include "proto_positions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proto_hmac_key hk;
	static int init;
	Decp__Positions *p = NULL, *q = NULL;
	struct proto_sealed_positions s;
	uint8_t mac[PROTO_HMAC_LEN];

	if (!init) {
		if (proto_hmac_key_init(&hk, (const uint8_t *)"fuzz", 4) != 0)
			abort();
		init = 1;
	}
	if (size > 4096)
		return 0;
	if (proto_positions_open(data, size, NULL, 0, NULL, NULL, &p) != 0)
		return 0;
	if (proto_positions_validate(p) != 0 || size > PROTO_POSITIONS_BODY_MAX)
		abort();
	/* sealing what opened stays within the limit (protobuf-c writes back the unknown
	 * fields it kept, some of which, a tag of field 0, it would not read again: the round
	 * trip itself is not held to equality) */
	if (proto_positions_seal(&hk, p, &s) == 0 && s.body_len > PROTO_POSITIONS_BODY_MAX)
		abort();
	proto_hmac_compute_labeled(&hk, PROTO_POSITIONS_LABEL, sizeof(PROTO_POSITIONS_LABEL) - 1,
				   data, size, mac);
	q = NULL;
	if (proto_positions_open(data, size, mac, sizeof(mac), &hk, NULL, &q) != 0)
		abort();
	decp__positions__free_unpacked(q, NULL);
	decp__positions__free_unpacked(p, NULL);
	return 0;
}
