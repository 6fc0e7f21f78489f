/* cp_fanout_msg: the fan-out's reference-counted, pre-encoded ServerMessages (one
 * encoding per signal, shared by every subscriber's queue). Contract in cp_fanout_msg.h. */
#include "cp_fanout_msg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Protobuf wire format (protobuf.dev "Encoding"): tag = field << 3 | wire type;
 * 0 = varint (int64 as its two's complement), 2 = length-delimited. */
static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *varint_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static struct cp_fmsg *fmsg_alloc(size_t len)
{
	struct cp_fmsg *m;

	if (len > UINT32_MAX - LWS_PRE) {
		errno = EINVAL;
		return NULL;
	}
	m = malloc(sizeof(*m) + LWS_PRE + len);
	if (m == NULL)
		return NULL;
	m->refs = 1;
	m->len = (uint32_t)len;
	m->master = 0;
	m->seq = 0;
	m->arrival_ns = 0;
	m->stamp_off = 0;
	return m;
}

/* The stamp fields: tag 5 (varint) + 10-byte varint, tag 6 (varint) + one byte. */
#define STAMP_VARINT 10u
#define STAMP_LEN (1u + STAMP_VARINT + 1u + 1u)

/* v as exactly STAMP_VARINT bytes (a padded varint: continuation bits on the first nine). */
static void varint_put_fixed(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < STAMP_VARINT - 1; i++, v >>= 7)
		p[i] = (uint8_t)(v | 0x80);
	p[STAMP_VARINT - 1] = (uint8_t)(v & 0x01); /* bit 63: at most 1 in a tenth byte */
}

/* Envelope fields 2..6 after the signal. */
static size_t env_tail_len(uint64_t master, uint64_t seq, int64_t arrival_ns)
{
	return 1 + varint_len((uint64_t)arrival_ns) + 1 + varint_len(master) + 1 +
	       varint_len(seq) + STAMP_LEN;
}

static uint8_t *env_tail_put(uint8_t *p, uint64_t master, uint64_t seq, int64_t arrival_ns)
{
	*p++ = 0x10;
	p = varint_put(p, (uint64_t)arrival_ns);
	*p++ = 0x18;
	p = varint_put(p, master);
	*p++ = 0x20;
	p = varint_put(p, seq);
	*p++ = 0x28; /* Envelope.fanout_send_ns = 5, stamped per send */
	varint_put_fixed(p, 0);
	p += STAMP_VARINT;
	*p++ = 0x30; /* Envelope.replay = 6 */
	*p++ = 0;
	return p;
}

void cp_fmsg_stamp(struct cp_fmsg *m, int64_t send_ns, bool replay)
{
	uint8_t *p;

	if (m->stamp_off == 0)
		return;
	p = cp_fmsg_payload(m) + m->stamp_off;
	varint_put_fixed(p, (uint64_t)send_ns);
	p[STAMP_VARINT + 1] = replay;
}

static struct cp_fmsg *envelope_build(uint64_t master, uint64_t seq, int64_t arrival_ns,
				      const uint8_t *b, size_t blen, const uint8_t *s,
				      size_t slen, bool parts)
{
	size_t ss_len = parts ? 1 + varint_len(blen) + blen + 1 + varint_len(slen) + slen : blen;
	size_t env_len = 1 + varint_len(ss_len) + ss_len + env_tail_len(master, seq, arrival_ns);
	size_t total = 1 + varint_len(env_len) + env_len;
	struct cp_fmsg *m = fmsg_alloc(total);
	uint8_t *p;

	if (m == NULL)
		return NULL;
	p = cp_fmsg_payload(m);
	*p++ = 0x0a; /* ServerMessage.envelope = 1 */
	p = varint_put(p, env_len);
	*p++ = 0x0a; /* Envelope.signal = 1 */
	p = varint_put(p, ss_len);
	if (parts) {
		*p++ = 0x0a; /* SignedSignal.body = 1 */
		p = varint_put(p, blen);
		memcpy(p, b, blen);
		p += blen;
		*p++ = 0x1a; /* SignedSignal.ed25519_sig = 3 */
		p = varint_put(p, slen);
		memcpy(p, s, slen);
		p += slen;
	} else {
		memcpy(p, b, blen);
		p += blen;
	}
	p = env_tail_put(p, master, seq, arrival_ns);
	m->stamp_off = (uint32_t)(p - cp_fmsg_payload(m)) - STAMP_LEN + 1;
	m->master = master;
	m->seq = seq;
	m->arrival_ns = arrival_ns;
	return m;
}

struct cp_fmsg *cp_fmsg_mark(uint64_t master, uint64_t seq)
{
	struct cp_fmsg *m = fmsg_alloc(0);

	if (m != NULL) {
		m->master = master;
		m->seq = seq;
	}
	return m;
}

struct cp_fmsg *cp_fmsg_envelope(uint64_t master, uint64_t seq, int64_t arrival_ns,
				 const uint8_t *signed_signal, size_t len)
{
	if (signed_signal == NULL && len > 0) {
		errno = EINVAL;
		return NULL;
	}
	return envelope_build(master, seq, arrival_ns, signed_signal, len, NULL, 0, false);
}

struct cp_fmsg *cp_fmsg_envelope_parts(uint64_t master, uint64_t seq, int64_t arrival_ns,
				       const uint8_t *body, size_t body_len,
				       const uint8_t *sig, size_t sig_len)
{
	if ((body == NULL && body_len > 0) || (sig == NULL && sig_len > 0)) {
		errno = EINVAL;
		return NULL;
	}
	return envelope_build(master, seq, arrival_ns, body, body_len, sig, sig_len, true);
}

struct cp_fmsg *cp_fmsg_pack(const Decp__ServerMessage *sm)
{
	size_t len = decp__server_message__get_packed_size(sm);
	struct cp_fmsg *m = fmsg_alloc(len);

	if (m == NULL)
		return NULL;
	decp__server_message__pack(sm, cp_fmsg_payload(m));
	return m;
}

struct cp_fmsg *cp_fmsg_error(Decp__Error__Code code, const char *text)
{
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	Decp__Error e = DECP__ERROR__INIT;

	e.code = code;
	e.message = (char *)(text != NULL ? text : "");
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_ERROR;
	sm.error = &e;
	return cp_fmsg_pack(&sm);
}

struct cp_fmsg *cp_fmsg_sync_start(uint64_t master, uint64_t from, uint64_t to)
{
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	Decp__SyncStart s = DECP__SYNC_START__INIT;

	s.master_id = master;
	s.from_sequence = from;
	s.to_sequence = to;
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_SYNC_START;
	sm.sync_start = &s;
	return cp_fmsg_pack(&sm);
}

struct cp_fmsg *cp_fmsg_sync_end(uint64_t master, uint64_t last)
{
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	Decp__SyncEnd s = DECP__SYNC_END__INIT;

	s.master_id = master;
	s.last_sequence = last;
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_SYNC_END;
	sm.sync_end = &s;
	return cp_fmsg_pack(&sm);
}

struct cp_fmsg *cp_fmsg_report_ack(uint64_t report_id)
{
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	Decp__ReportAck a = DECP__REPORT_ACK__INIT;

	a.report_id = report_id;
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_REPORT_ACK;
	sm.report_ack = &a;
	return cp_fmsg_pack(&sm);
}

struct cp_fmsg *cp_fmsg_state_change(uint64_t sub_id, uint64_t master,
				     Decp__SubscriptionState old_state,
				     Decp__SubscriptionState new_state,
				     Decp__StateChange__Cause cause, int64_t now_ns)
{
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	Decp__StateChange s = DECP__STATE_CHANGE__INIT;

	s.subscription_id = sub_id;
	s.master_id = master;
	s.old_state = old_state;
	s.new_state = new_state;
	s.cause = cause;
	s.time_ns = now_ns;
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_STATE_CHANGE;
	sm.state_change = &s;
	return cp_fmsg_pack(&sm);
}

void cp_fmsg_unref(struct cp_fmsg *m)
{
	if (m != NULL && --m->refs == 0)
		free(m);
}
