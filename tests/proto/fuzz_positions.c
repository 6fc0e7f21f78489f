/*
 * libFuzzer target: arbitrary bytes as the body of a master's positions part
 * (proto_positions_open without a key: what the book role reads back from Redis, and what
 * ingest parses after the MAC). Whatever opens must validate, re-encode within the body
 * limit, and open again to the same header; the same bytes under a MAC must open too.
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
	/* protobuf-c's re-encoding may be shorter (duplicates merged) but never longer than
	 * the limit allows a sealed part to be refused: seal it, open it, compare */
	if (proto_positions_seal(&hk, p, &s) == 0) {
		if (proto_positions_open(s.body, s.body_len, s.hmac, sizeof(s.hmac), &hk, NULL, &q) != 0 ||
		    q->master_id != p->master_id || q->sequence != p->sequence ||
		    q->snapshot_id != p->snapshot_id || q->n_entries != p->n_entries)
			abort();
		decp__positions__free_unpacked(q, NULL);
	}
	proto_hmac_compute_labeled(&hk, PROTO_POSITIONS_LABEL, sizeof(PROTO_POSITIONS_LABEL) - 1,
				   data, size, mac);
	q = NULL;
	if (proto_positions_open(data, size, mac, sizeof(mac), &hk, NULL, &q) != 0)
		abort();
	decp__positions__free_unpacked(q, NULL);
	decp__positions__free_unpacked(p, NULL);
	return 0;
}
