/*
 * libFuzzer target: arbitrary bytes as a SignedSignal, opened with a fixed HMAC
 * key and Ed25519 public key (almost always -EBADMSG: checks that rejection is
 * clean), and as a bare Signal body through proto_signal_decode (no
 * authentication), from malloc and from an arena. A decoded body must satisfy
 * proto_signal_validate.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto_arena.h"
#include "proto_msg.h"
#include "proto_signal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proto_hmac_key hk;
	static struct proto_ed25519_key *pk;
	static uint8_t arena_mem[16384];
	struct proto_arena arena;
	Decp__SignedSignal *ss;
	Decp__Signal *s;

	if (pk == NULL) {
		static const uint8_t seed[32] = { 1 };
		uint8_t pub[32];

		if (proto_hmac_key_init(&hk, (const uint8_t *)"fuzz", 4) != 0 ||
		    proto_ed25519_public_from_seed(seed, pub) != 0 ||
		    (pk = proto_ed25519_key_new_public(pub)) == NULL)
			abort();
	}
	if (size > 4096)
		return 0;
	ss = decp__signed_signal__unpack(NULL, size, data);
	if (ss != NULL) {
		int rc = proto_signal_open(ss, &hk, NULL, NULL, &s);

		if (rc == 0)
			proto_msg_free(&s->base, NULL);
		else if (rc != -EBADMSG && rc != -EPROTO)
			abort();
		rc = proto_signal_open(ss, NULL, pk, NULL, &s);
		if (rc == 0)
			proto_msg_free(&s->base, NULL);
		else if (rc != -EBADMSG && rc != -EPROTO)
			abort();
		decp__signed_signal__free_unpacked(ss, NULL);
	}
	s = proto_signal_decode(data, size, NULL);
	if (s != NULL) {
		if (proto_signal_validate(s) != 0)
			abort();
		proto_msg_free(&s->base, NULL);
	}
	proto_arena_init(&arena, arena_mem, sizeof(arena_mem));
	s = proto_signal_decode(data, size, proto_arena_allocator(&arena));
	if (s != NULL && proto_signal_validate(s) != 0)
		abort();
	return 0;
}
