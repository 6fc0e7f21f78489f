/*
 * libFuzzer target, differential: proto_wire's decoders against protobuf-c on arbitrary
 * bytes (proto_wire.h's equivalence rule). Whenever proto_wire accepts an IngestFrame or a
 * ServerMessage, protobuf-c must decode the same member with the same scalar values and
 * byte lengths; whenever proto_wire_signal_parse accepts a body, proto_signal_decode must
 * accept it with the same fields. Any disagreement aborts.
 */
#include <stdlib.h>
#include <string.h>

#include "proto_msg.h"
#include "proto_signal.h"
#include "proto_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_signal(const uint8_t *p, size_t n)
{
	struct proto_wire_signal w;
	Decp__Signal *s;

	if (proto_wire_signal_parse(p, n, &w) != 0)
		return;
	s = proto_signal_decode(p, n, NULL);
	if (s == NULL || s->master_id != w.master_id || s->sequence != w.sequence ||
	    strcmp(s->symbol, w.symbol) != 0 || (int32_t)s->order_type != w.order_type ||
	    s->volume != w.volume || s->price != w.price || s->sl != w.sl || s->tp != w.tp ||
	    s->position_ticket != w.position_ticket || s->master_time_ns != w.master_time_ns ||
	    s->expiration_ns != w.expiration_ns)
		abort();
	proto_msg_free(&s->base, NULL);
}

static void check_ingest(const uint8_t *p, size_t n)
{
	struct proto_wire_msg m;
	int k = proto_wire_ingest_decode(p, n, &m);
	Decp__IngestFrame *f;

	if (k < 0)
		return;
	f = proto_ingest_frame_decode(p, n, NULL);
	if (f == NULL || (int)f->kind_case != k)
		abort();
	if ((k == 1 && (f->hello_ack->next_expected_sequence != m.v[1] ||
			f->hello_ack->max_frame != m.v[4])) ||
	    (k == 2 && (f->ack->sequence != m.v[1] || (uint32_t)f->ack->status != m.v[3])) ||
	    (k == 3 && (f->nack->sequence != m.v[1] || f->nack->expected_sequence != m.v[3])) ||
	    (k == 4 && strlen(f->error->message) != m.bl[2]) ||
	    (k == 5 && (uint64_t)f->heartbeat->time_ns != m.v[1]))
		abort();
	proto_msg_free(&f->base, NULL);
}

static void check_server(const uint8_t *p, size_t n)
{
	struct proto_wire_msg m, sig;
	int k = proto_wire_server_decode(p, n, &m, &sig);
	Decp__ServerMessage *s;

	if (k < 0)
		return;
	s = proto_server_message_decode(p, n, NULL);
	if (s == NULL || (int)s->kind_case != k)
		abort();
	if (k == 1) {
		const Decp__Envelope *e = s->envelope;
		size_t bl = e->signal ? e->signal->body.len : 0;
		size_t sl = e->signal ? e->signal->ed25519_sig.len : 0;

		if (e->master_id != m.v[3] || e->sequence != m.v[4] ||
		    (uint64_t)e->server_arrival_ns != m.v[2] || bl != sig.bl[1] || sl != sig.bl[3] ||
		    (bl != 0 && memcmp(e->signal->body.data, sig.b[1], bl) != 0))
			abort();
	} else if ((k == 4 && (uint64_t)s->time_pong->server_send_ns != m.v[3]) ||
		   (k == 3 && s->sync_end->last_sequence != m.v[2]) ||
		   (k == 5 && (uint32_t)s->state_change->new_state != m.v[4])) {
		abort();
	}
	proto_msg_free(&s->base, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	check_signal(data, size);
	check_ingest(data, size);
	check_server(data, size);
	return 0;
}
