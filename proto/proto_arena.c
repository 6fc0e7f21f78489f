/* Bump allocator for protobuf-c; contract in proto_arena.h. */
#include "proto_arena.h"

#include <errno.h>

#define ARENA_ALIGN 16u

static void *arena_alloc(void *data, size_t size)
{
	struct proto_arena *a = data;
	/* Align the bump offset relative to an aligned base (see init). */
	size_t off = (a->used + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);

	if (size == 0)
		size = 1;
	if (off > a->cap || size > a->cap - off) {
		a->failures++;
		return NULL;
	}
	a->used = off + size;
	if (a->used > a->high_water)
		a->high_water = a->used;
	return a->buf + off;
}

static void arena_free(void *data, void *ptr)
{
	/* Everything is released together by proto_arena_reset. */
	(void)data;
	(void)ptr;
}

int proto_arena_init(struct proto_arena *a, void *buf, size_t cap)
{
	uintptr_t p = (uintptr_t)buf;
	size_t skip;

	if (a == NULL || buf == NULL || cap < 64)
		return -EINVAL;
	skip = (ARENA_ALIGN - (p & (ARENA_ALIGN - 1))) & (ARENA_ALIGN - 1);
	a->alloc.alloc = arena_alloc;
	a->alloc.free = arena_free;
	a->alloc.allocator_data = a;
	a->buf = (uint8_t *)buf + skip;
	a->cap = cap - skip;
	a->used = 0;
	a->high_water = 0;
	a->failures = 0;
	return 0;
}

void proto_arena_reset(struct proto_arena *a)
{
	a->used = 0;
}
