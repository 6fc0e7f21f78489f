/*
 * libFuzzer target, differential: proto_view's copy-free parsers against
 * protobuf-c on arbitrary bytes. Whenever proto_master_frame_view says
 * "signal", protobuf-c must decode the same member with the same bytes; when
 * proto_signal_parse accepts a body, proto_signal_decode must accept it with
 * the same field values (proto_view.h's equivalence rule). Any disagreement
 * aborts.
 */
#include <stdlib.h>
#include <string.h>

#include "proto_msg.h"
#include "proto_signal.h"
#include "proto_view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_bytes(const uint8_t *a, size_t al, const ProtobufCBinaryData *b)
{
	return al == b->len && (al == 0 || memcmp(a, b->data, al) == 0);
}

static void check_body(const uint8_t *p, size_t len)
{
	Decp__Signal fast, *slow;
	char sym[PROTO_SYMBOL_MAX + 1];

	if (proto_signal_parse(p, len, &fast, sym) != 0)
		return;
	slow = proto_signal_decode(p, len, NULL);
	if (slow == NULL || fast.master_id != slow->master_id ||
	    fast.sequence != slow->sequence || strcmp(fast.symbol, slow->symbol) != 0 ||
	    fast.order_type != slow->order_type || fast.volume != slow->volume ||
	    fast.price != slow->price || fast.sl != slow->sl || fast.tp != slow->tp ||
	    fast.position_ticket != slow->position_ticket ||
	    fast.master_time_ns != slow->master_time_ns ||
	    fast.expiration_ns != slow->expiration_ns)
		abort();
	proto_msg_free(&slow->base, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_signed_view v;
	Decp__MasterFrame *m;
	int kind;

	if (size > 4096)
		return 0;
	check_body(data, size);
	kind = proto_master_frame_view(data, size, &v);
	m = proto_master_frame_decode(data, size, NULL);
	if (kind >= 0) {
		if (m == NULL || (int)m->kind_case != kind)
			abort();
		if (kind == DECP__MASTER_FRAME__KIND_SIGNAL) {
			if (!same_bytes(v.body, v.body_len, &m->signal->body) ||
			    !same_bytes(v.hmac, v.hmac_len, &m->signal->hmac) ||
			    !same_bytes(v.sig, v.sig_len, &m->signal->ed25519_sig))
				abort();
			check_body(v.body, v.body_len);
		}
	}
	proto_msg_free(m ? &m->base : NULL, NULL);
	return 0;
}
