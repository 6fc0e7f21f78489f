/*
 * proto_arena: a protobuf-c allocator over one caller-supplied fixed buffer, so
 * decoding a message on the hot path does not call malloc.
 *
 * Bump allocation, 16-byte aligned; free is a no-op; proto_arena_reset
 * releases everything at once (typically once per frame). When the buffer is
 * exhausted the allocator returns NULL, protobuf-c's unpack then fails cleanly
 * (returns NULL) and the arena counts the failure. Do not call
 * *__free_unpacked on messages decoded from an arena (harmless, but useless):
 * reset the arena instead. Messages decoded from it are valid until the next
 * reset.
 *
 * Size: a typical frame (one Signal) needs under 1 KiB. The worst case is a
 * hostile frame made of thousands of 2-byte fields (each repeated oneof member
 * allocates a fresh struct, and free is a no-op here): about 96 bytes of arena
 * per encoded byte, measured by tests/proto/test_signal.c. So:
 *  - PROTO_ARENA_MIN_FOR(max_frame) bytes (128x + 4 KiB, 516 KiB for 4 KiB
 *    frames) decode ANY frame of at most max_frame bytes that protobuf-c
 *    accepts;
 *  - a smaller arena (e.g. 16 KiB per worker) is still safe: pathological frames
 *    then fail to decode, i.e. are treated as malformed (fail-closed), and
 *    `failures` counts them.
 *
 * Threading: one arena per thread (or per session); not shared.
 */
#ifndef DECP_PROTO_ARENA_H
#define DECP_PROTO_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#define PROTO_ARENA_MIN_FOR(max_frame) (128u * (size_t)(max_frame) + 4096u)

struct proto_arena {
	ProtobufCAllocator alloc; /* points back at this arena */
	uint8_t *buf;
	size_t cap;
	size_t used;
	size_t high_water;        /* most bytes ever in use, for sizing */
	uint64_t failures;        /* allocations refused for lack of space */
};

/*
 * Use buf (cap bytes, owned by the caller, must outlive the arena).
 * Returns 0 or -EINVAL (NULL arguments, cap < 64).
 */
int proto_arena_init(struct proto_arena *a, void *buf, size_t cap);

/* Release everything allocated since init/last reset. Never fails. */
void proto_arena_reset(struct proto_arena *a);

/* The allocator to pass to protobuf-c *__unpack and proto_*_decode. */
static inline ProtobufCAllocator *proto_arena_allocator(struct proto_arena *a)
{
	return &a->alloc;
}

#endif
