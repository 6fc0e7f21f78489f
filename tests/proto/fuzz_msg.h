/*
 * Shared body of the fuzz_<message> targets: decode arbitrary bytes as one
 * top-level wrapper (proto_msg.h), with malloc and from a fixed arena, and
 * re-encode what decodes. A decoded wrapper must have its oneof set and must
 * re-encode within a bounded size. Each fuzz_<message>.c instantiates it once.
 */
#ifndef DECP_FUZZ_MSG_H
#define DECP_FUZZ_MSG_H

#include <stdint.h>
#include <stdlib.h>

#include "proto_arena.h"
#include "proto_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MSG_TARGET(type, decode)                                                  \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                   \
	{                                                                              \
		static uint8_t arena_mem[65536];                                       \
		static uint8_t out[8192];                                              \
		struct proto_arena arena;                                              \
		type *m;                                                               \
                                                                                       \
		if (size > 4096)                                                       \
			return 0;                                                      \
		m = decode(data, size, NULL);                                          \
		if (m != NULL) {                                                       \
			size_t n = protobuf_c_message_get_packed_size(&m->base);       \
			if (m->kind_case == 0 || n > sizeof(out) ||                    \
			    protobuf_c_message_pack(&m->base, out) != n)               \
				abort();                                               \
			proto_msg_free(&m->base, NULL);                                \
		}                                                                      \
		proto_arena_init(&arena, arena_mem, sizeof(arena_mem));                \
		m = decode(data, size, proto_arena_allocator(&arena));                 \
		if (m != NULL && m->kind_case == 0)                                    \
			abort();                                                       \
		return 0;                                                              \
	}

#endif
