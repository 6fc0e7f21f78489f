/* guard_proto: proto message -> guard struct adapter. Contract in guard_proto.h. */
#include "guard_proto.h"

#include <errno.h>
#include <string.h>

#include "guard_wire.h"
#include "proto_msg.h"
#include "proto_signal.h"
#include "proto_wire.h"

int guard_envelope_from_proto(const Decp__Envelope *e, ProtobufCAllocator *alloc,
			      struct guard_envelope *out)
{
	const Decp__SignedSignal *ss;
	Decp__Signal *s;
	size_t n;
	int rc = -EPROTO;

	if (!e || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	ss = e->signal;
	if (!ss || !ss->body.data || ss->body.len == 0)
		return -EPROTO;
	s = proto_signal_decode(ss->body.data, ss->body.len, alloc);
	if (!s)
		return -EPROTO;
	n = s->symbol ? strlen(s->symbol) : 0;
	if (n == 0 || n >= sizeof(out->symbol) || s->master_id != e->master_id ||
	    s->sequence != e->sequence)
		goto fail;
	out->master_id = s->master_id;
	out->sequence = s->sequence;
	memcpy(out->symbol, s->symbol, n + 1);
	out->order_type = (uint32_t)s->order_type;
	out->volume = s->volume;
	out->price = s->price;
	out->sl = s->sl;
	out->tp = s->tp;
	out->position_ticket = s->position_ticket;
	out->master_time_ns = s->master_time_ns;
	out->expiration_ns = s->expiration_ns;
	out->server_arrival_ns = e->server_arrival_ns;
	out->fanout_send_ns = e->fanout_send_ns;
	out->replay = e->replay;
	out->body = ss->body.data;
	out->body_len = ss->body.len;
	out->sig = ss->ed25519_sig.data;
	out->sig_len = ss->ed25519_sig.len;
	rc = 0;
fail:
	proto_msg_free(&s->base, alloc);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

int guard_clock_add_pong(struct guard_clock *c, const Decp__TimePong *pong,
			 int64_t client_recv_ns)
{
	if (!pong)
		return -EINVAL;
	return guard_clock_add_sample(c, pong->client_send_ns, pong->server_recv_ns,
				      pong->server_send_ns, client_recv_ns);
}

/*
 * One conversion for both receivers (guard_wire.h): the message packed again and read
 * by proto_wire, whose limits (lists of 16, symbols of 32 and affixes of 11 printable
 * bytes) are guard's arrays'. Once per policy version, not per signal.
 */
int guard_policy_from_proto(const Decp__CopyPolicy *m, struct guard_policy *out)
{
	struct proto_wire_copy_policy w;
	uint8_t buf[8192];

	if (!m || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (protobuf_c_message_get_packed_size(&m->base) > sizeof(buf) ||
	    proto_wire_copy_policy_decode(buf, protobuf_c_message_pack(&m->base, buf), &w) != 0)
		return -EPROTO;
	return guard_policy_from_wire(&w, out);
}
