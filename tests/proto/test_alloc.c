/*
 * The ingest hot path allocates nothing: framing (including split frames),
 * decoding into an arena, HMAC verification, the copy-free view and packing a
 * reply. Allocations are observed through the sanitizer runtime's malloc hooks,
 * so the check runs in the ASan build (the test command's); without ASan it
 * reports that it could not observe and passes. A control (protobuf-c with its
 * default allocator) must be seen allocating, so the check can fail.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "proto_arena.h"
#include "proto_frame.h"
#include "proto_msg.h"
#include "proto_signal.h"
#include "proto_test_util.h"
#include "proto_view.h"

/* Sanitizer runtime API (compiler-rt/libsanitizer), weak so non-ASan builds link. */
int __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
					       void (*f)(const volatile void *))
	__attribute__((weak));

static atomic_bool counting;
static atomic_ulong mallocs;

static void on_malloc(const volatile void *p, size_t n)
{
	(void)p;
	(void)n;
	if (atomic_load_explicit(&counting, memory_order_relaxed))
		atomic_fetch_add_explicit(&mallocs, 1, memory_order_relaxed);
}

static void on_free(const volatile void *p)
{
	(void)p;
}

static int hooks_ok;

static void count_begin(void)
{
	atomic_store(&mallocs, 0);
	atomic_store(&counting, true);
}

static unsigned long count_end(void)
{
	atomic_store(&counting, false);
	return atomic_load(&mallocs);
}

static void test_hot_path_does_not_allocate(void)
{
	struct proto_hmac_key hk;
	struct proto_ed25519_key *sk;
	static const uint8_t seed[32] = { 9 };
	struct proto_sealed_signal sealed;
	Decp__Signal s = DECP__SIGNAL__INIT;
	Decp__SignedSignal ss;
	Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;
	uint8_t stream[4 * 256], out[256], dbuf[PROTO_FRAME_MAX_DEFAULT];
	static uint8_t arena_mem[16384];
	struct proto_arena arena;
	struct proto_frame_decoder d;
	size_t slen = 0;
	unsigned long n;

	if (!hooks_ok) {
		fprintf(stderr, "allocation hooks unavailable (not an ASan build): not observed\n");
		return;
	}
	CU_ASSERT_EQUAL_FATAL(proto_hmac_key_init(&hk, (const uint8_t *)"k", 1), 0);
	sk = proto_ed25519_key_new_private(seed);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sk);
	s.master_id = 1;
	s.sequence = 1;
	s.symbol = "XAUUSD";
	s.order_type = DECP__ORDER_TYPE__ORDER_TYPE_SELL;
	s.volume = 5;
	s.price = 265012000;
	s.position_ticket = 3;
	s.master_time_ns = 1;
	CU_ASSERT_EQUAL_FATAL(proto_signal_seal(&hk, sk, &s, &sealed), 0);
	proto_sealed_signal_view(&sealed, &ss);
	mf.kind_case = DECP__MASTER_FRAME__KIND_SIGNAL;
	mf.signal = &ss;
	for (int i = 0; i < 4; i++) {
		ssize_t r = proto_msg_frame_pack(&mf.base, 4096, stream + slen, sizeof(stream) - slen);
		CU_ASSERT_FATAL(r > 0);
		slen += (size_t)r;
	}
	CU_ASSERT_EQUAL_FATAL(proto_arena_init(&arena, arena_mem, sizeof(arena_mem)), 0);
	CU_ASSERT_EQUAL_FATAL(proto_frame_decoder_init(&d, dbuf, sizeof(dbuf), 0), 0);

	count_begin();
	for (int iter = 0; iter < 200; iter++) {
		size_t pos = 0;

		while (pos < slen) {
			/* pieces of 1..97 bytes: frames arrive split and buffered, or whole */
			size_t piece = 1 + (size_t)(iter * 31 + (int)pos) % 97;
			struct proto_frame f;
			ssize_t used;

			if (piece > slen - pos)
				piece = slen - pos;
			used = proto_frame_decoder_feed(&d, stream + pos, piece, &f);
			CU_ASSERT_FATAL(used > 0);
			pos += (size_t)used;
			if (f.data == NULL)
				continue;

			Decp__MasterFrame *m;
			Decp__Signal *sig, fast;
			struct proto_signed_view v;
			char sym[PROTO_SYMBOL_MAX + 1];
			Decp__IngestFrame reply = DECP__INGEST_FRAME__INIT;
			Decp__Ack ack = DECP__ACK__INIT;

			proto_arena_reset(&arena);
			m = proto_master_frame_decode(f.data, f.len, proto_arena_allocator(&arena));
			CU_ASSERT_PTR_NOT_NULL_FATAL(m);
			CU_ASSERT_EQUAL(proto_signal_open(m->signal, &hk, NULL,
							  proto_arena_allocator(&arena), &sig), 0);
			CU_ASSERT_EQUAL(proto_master_frame_view(f.data, f.len, &v),
					DECP__MASTER_FRAME__KIND_SIGNAL);
			CU_ASSERT_EQUAL(proto_signal_open_view(&v, &hk, NULL, &fast, sym), 0);
			ack.sequence = fast.sequence;
			ack.status = DECP__ACK__STATUS__STATUS_OK;
			reply.kind_case = DECP__INGEST_FRAME__KIND_ACK;
			reply.ack = &ack;
			CU_ASSERT(proto_msg_frame_pack(&reply.base, 4096, out, sizeof(out)) > 0);
		}
	}
	n = count_end();
	CU_ASSERT_EQUAL(n, 0ul);
	CU_ASSERT_EQUAL(arena.failures, 0u);

	/* Control: protobuf-c's default allocator is seen allocating. */
	count_begin();
	Decp__MasterFrame *m = proto_master_frame_decode(stream + 4, slen / 4 - 4, NULL);
	n = count_end();
	CU_ASSERT_PTR_NOT_NULL(m);
	CU_ASSERT(n > 0);
	proto_msg_free(m ? &m->base : NULL, NULL);
	proto_ed25519_key_free(sk);
}

int main(void)
{
	static const struct tu_case cases[] = {
		TU_CASE(test_hot_path_does_not_allocate),
	};

	if (__sanitizer_install_malloc_and_free_hooks != NULL)
		hooks_ok = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0;
	return TU_RUN("proto_alloc", cases);
}
