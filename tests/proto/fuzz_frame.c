/*
 * libFuzzer target: an arbitrary byte stream, split at arbitrary points, through
 * the incremental frame decoder; every complete frame is then decoded as a
 * MasterFrame from a small arena. The first 8 input bytes seed the split sizes.
 * Invariants checked: consumed counts within the input, frame lengths within
 * 1..max, every error is -EMSGSIZE and sticky, nothing reads past its buffer
 * (ASan: each piece is a separate heap allocation of exactly its size).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_arena.h"
#include "proto_frame.h"
#include "proto_msg.h"

#define MAXP 512u /* small limit so the fuzzer reaches "complete frame" often */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t arena_mem[16384];
	uint8_t *dbuf = malloc(MAXP);
	struct proto_frame_decoder d;
	struct proto_arena arena;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	size_t pos = 8;

	if (dbuf == NULL)
		return 0;
	if (size >= 8)
		memcpy(&seed, data, 8);
	else
		pos = size;
	if (proto_frame_decoder_init(&d, dbuf, MAXP, MAXP) != 0)
		abort();
	proto_arena_init(&arena, arena_mem, sizeof(arena_mem));
	while (pos < size) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		size_t n = 1 + (size_t)(seed >> 33) % (size - pos);
		uint8_t *piece = malloc(n);
		const uint8_t *p = piece;
		size_t left = n;

		if (piece == NULL)
			break;
		memcpy(piece, data + pos, n);
		while (left > 0) {
			struct proto_frame f;
			ssize_t used = proto_frame_decoder_feed(&d, p, left, &f);

			if (used < 0) {
				if (used != -EMSGSIZE || f.data != NULL ||
				    proto_frame_decoder_feed(&d, p, left, &f) != used)
					abort();
				free(piece);
				goto out;
			}
			if ((size_t)used > left || (f.data == NULL && (size_t)used != left))
				abort();
			p += used;
			left -= (size_t)used;
			if (f.data != NULL) {
				if (f.len == 0 || f.len > MAXP)
					abort();
				proto_arena_reset(&arena);
				Decp__MasterFrame *m = proto_master_frame_decode(
					f.data, f.len, proto_arena_allocator(&arena));
				if (m != NULL && m->kind_case == DECP__MASTER_FRAME__KIND__NOT_SET)
					abort();
			}
		}
		free(piece);
		pos += n;
	}
out:
	free(dbuf);
	return 0;
}
