/*
 * libFuzzer target, differential: proto_wire's decoders against protobuf-c on arbitrary
 * bytes (proto_wire.h's equivalence rule). Whenever proto_wire accepts an IngestFrame or a
 * ServerMessage, protobuf-c must decode the same member with the same scalar values and
 * byte lengths; whenever proto_wire_signal_parse accepts a body, proto_signal_decode must
 * accept it with the same fields; whenever it accepts a CopyPolicy (also the input taken
 * as a bare CopyPolicy), every field must equal protobuf-c's. Any disagreement aborts.
 * The input also serves as a LoginProof's proof, a Hello's client_version and the
 * values of an AccountState: proto_wire's encoders must write protobuf-c's bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_msg.h"
#include "proto_signal.h"
#include "proto_wire.h"
#include "wire_policy_ref.h"

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
	    (k == 5 && (uint64_t)f->heartbeat->time_ns != m.v[1]) ||
	    (k == 6 && (f->challenge->nonce.len != m.bl[1] ||
			f->challenge->protocol_version != m.v[2] ||
			(m.bl[1] != 0 && memcmp(f->challenge->nonce.data, m.b[1], m.bl[1]) != 0))))
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
		    (uint64_t)e->fanout_send_ns != m.v[5] || e->replay != (m.v[6] != 0) ||
		    (bl != 0 && memcmp(e->signal->body.data, sig.b[1], bl) != 0))
			abort();
	} else if ((k == 4 && (uint64_t)s->time_pong->server_send_ns != m.v[3]) ||
		   (k == 3 && s->sync_end->last_sequence != m.v[2]) ||
		   (k == 5 && (uint32_t)s->state_change->new_state != m.v[4]) ||
		   (k == 7 && s->report_ack->report_id != m.v[1])) {
		abort();
	} else if (k == 8) {
		struct proto_wire_copy_policy cp;

		if (proto_wire_copy_policy_decode(m.b[0], m.bl[0], &cp) != 0 ||
		    !wire_policy_equal(s->copy_policy, &cp) || s->copy_policy->version != m.v[3])
			abort();
	}
	proto_msg_free(&s->base, NULL);
}

/* The master's login frames (protocol 2) from fuzzed content, against protobuf-c. */
static void check_login_encoders(const uint8_t *p, size_t n)
{
	uint8_t a[512], b[512];
	char ver[PROTO_WIRE_TEXT_MAX + 1];
	Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;
	Decp__LoginProof lp = DECP__LOGIN_PROOF__INIT;
	Decp__Hello h = DECP__HELLO__INIT;
	size_t vl = n < PROTO_WIRE_TEXT_MAX ? n : PROTO_WIRE_TEXT_MAX;
	int k;

	if (n >= 1 && n <= 64) {
		k = proto_wire_login_proof_encode(p, n, b, sizeof(b));
		lp.proof.data = (uint8_t *)p;
		lp.proof.len = n;
		mf.kind_case = DECP__MASTER_FRAME__KIND_LOGIN_PROOF;
		mf.login_proof = &lp;
		if (k < 0 || protobuf_c_message_pack(&mf.base, a) != (size_t)k ||
		    memcmp(a, b, (size_t)k) != 0)
			abort();
	}
	memcpy(ver, p, vl);
	ver[vl] = '\0';
	h.master_id = n + 1;
	h.client_version = ver;
	h.protocol_version = PROTO_PROTOCOL_VERSION;
	mf.kind_case = DECP__MASTER_FRAME__KIND_HELLO;
	mf.hello = &h;
	k = proto_wire_hello_encode(h.master_id, ver, PROTO_PROTOCOL_VERSION, b, sizeof(b));
	if (k < 0 || protobuf_c_message_pack(&mf.base, a) != (size_t)k ||
	    memcmp(a, b, (size_t)k) != 0)
		abort();
}

/* The input as a bare CopyPolicy message. */
static void check_policy(const uint8_t *p, size_t n)
{
	struct proto_wire_copy_policy w;
	Decp__CopyPolicy *r;

	if (proto_wire_copy_policy_decode(p, n, &w) != 0)
		return;
	r = (Decp__CopyPolicy *)protobuf_c_message_unpack(&decp__copy_policy__descriptor, NULL,
							    n, p);
	if (r == NULL || !wire_policy_equal(r, &w))
		abort();
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* An AccountState (up to two positions) from the input's bytes, against protobuf-c. */
static void check_account_encoder(const uint8_t *p, size_t n)
{
	struct proto_wire_account_state a;
	Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
	Decp__AccountState as = DECP__ACCOUNT_STATE__INIT;
	Decp__AccountState__Position pos[2], *pp[2];
	uint8_t x[1024], y[1024];
	int k;

	memset(&a, 0, sizeof(a));
	if (n < sizeof(int64_t) * 8)
		return;
	memcpy(&a.time_ns, p, 8);
	memcpy(&a.balance, p + 8, 8);
	memcpy(&a.equity, p + 16, 8);
	memcpy(&a.margin, p + 24, 8);
	memcpy(&a.free_margin, p + 32, 8);
	memcpy(&a.leverage, p + 40, 4);
	memcpy(&a.position_count, p + 44, 4);
	a.n_positions = p[48] % 3;
	snprintf(a.currency, sizeof(a.currency), "%s", n > 64 ? "USD" : "");
	as.time_ns = a.time_ns;
	as.currency = a.currency;
	as.leverage = a.leverage;
	as.balance = a.balance;
	as.equity = a.equity;
	as.margin = a.margin;
	as.free_margin = a.free_margin;
	as.position_count = a.position_count;
	for (uint32_t i = 0; i < a.n_positions; i++) {
		decp__account_state__position__init(&pos[i]);
		memcpy(&a.positions[i].volume, p + 50 + i, 8);
		a.positions[i].type = (int32_t)(p[56 + i] % 10);
		memcpy(a.positions[i].symbol, "EURUSD", 7);
		pos[i].volume = a.positions[i].volume;
		pos[i].type = (Decp__OrderType)a.positions[i].type;
		pos[i].symbol = a.positions[i].symbol;
		pp[i] = &pos[i];
	}
	as.n_positions = a.n_positions;
	as.positions = pp;
	cm.kind_case = DECP__CLIENT_MESSAGE__KIND_ACCOUNT_STATE;
	cm.account_state = &as;
	k = proto_wire_account_state_encode(&a, y, sizeof(y));
	if (k < 0 || protobuf_c_message_pack(&cm.base, x) != (size_t)k || memcmp(x, y, (size_t)k))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	check_signal(data, size);
	check_ingest(data, size);
	check_server(data, size);
	check_login_encoders(data, size);
	check_policy(data, size);
	check_account_encoder(data, size);
	return 0;
}
