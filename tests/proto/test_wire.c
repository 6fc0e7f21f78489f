/*
 * proto_wire: the protobuf-c-free encoders write exactly protobuf-c's bytes, and the
 * decoders agree with protobuf-c (proto_wire.h's equivalence rule) on valid messages
 * and on many mutated ones.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_msg.h"
#include "proto_positions.h"
#include "proto_signal.h"
#include "proto_test_util.h"
#include "proto_wire.h"
#include "wire_policy_ref.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

/* A random value of every width protobuf's varints take (0, small, 32-bit, 64-bit). */
static uint64_t rnd(void)
{
	uint64_t r = tu_rand(&rng);

	switch (r % 4) {
	case 0: return 0;
	case 1: return tu_rand(&rng) % 300;
	case 2: return (uint32_t)tu_rand(&rng);
	default: return tu_rand(&rng);
	}
}

static int64_t rnd_pos(void)
{
	return (int64_t)(rnd() >> 1);
}

static void random_signal(Decp__Signal *s, char *sym, struct proto_wire_signal *w)
{
	static const char *const syms[] = { "EURUSD", "GBPJPY.m", "XAUUSD", "A",
					    "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345" };

	decp__signal__init(s);
	s->master_id = 1 + rnd() % 1000000;
	s->sequence = 1 + (rnd() >> 1);
	snprintf(sym, PROTO_SYMBOL_MAX + 1, "%s", syms[tu_rand(&rng) % 5]);
	s->symbol = sym;
	s->order_type = (Decp__OrderType)(1 + tu_rand(&rng) % 9);
	s->volume = 1 + rnd_pos() % 100000;
	s->price = rnd_pos();
	s->sl = rnd_pos();
	s->tp = rnd_pos();
	s->position_ticket = 1 + (rnd() >> 1);
	s->master_time_ns = 1 + rnd_pos();
	s->expiration_ns = rnd_pos();
	memset(w, 0, sizeof(*w));
	w->master_id = s->master_id;
	w->sequence = s->sequence;
	memcpy(w->symbol, sym, strlen(sym) + 1);
	w->order_type = (int32_t)s->order_type;
	w->volume = s->volume;
	w->price = s->price;
	w->sl = s->sl;
	w->tp = s->tp;
	w->position_ticket = s->position_ticket;
	w->master_time_ns = s->master_time_ns;
	w->expiration_ns = s->expiration_ns;
}

static void test_signal_bytes(void)
{
	for (int i = 0; i < 2000; i++) {
		Decp__Signal s, *back;
		char sym[PROTO_SYMBOL_MAX + 1];
		struct proto_wire_signal w, parsed;
		uint8_t a[256], b[256];
		size_t na;
		int nb;

		random_signal(&s, sym, &w);
		na = decp__signal__pack(&s, a);
		nb = proto_wire_signal_encode(&w, b, sizeof(b));
		CU_ASSERT_EQUAL_FATAL(nb, (int)na);
		CU_ASSERT_EQUAL_FATAL(memcmp(a, b, na), 0);
		CU_ASSERT_EQUAL(proto_wire_signal_parse(b, (size_t)nb, &parsed), 0);
		CU_ASSERT_EQUAL(memcmp(&parsed, &w, sizeof(w)), 0);
		back = proto_signal_decode(b, (size_t)nb, NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(back);
		proto_msg_free(&back->base, NULL);
		/* too small a buffer */
		CU_ASSERT_EQUAL(proto_wire_signal_encode(&w, b, na - 1), -ENOBUFS);
	}
}

static void test_signal_invalid(void)
{
	Decp__Signal s;
	char sym[PROTO_SYMBOL_MAX + 1];
	struct proto_wire_signal w, base;
	uint8_t b[256];

	random_signal(&s, sym, &base);
	w = base;
	w.master_id = 0;
	CU_ASSERT_EQUAL(proto_wire_signal_encode(&w, b, sizeof(b)), -EINVAL);
	w = base;
	w.symbol[0] = '\0';
	CU_ASSERT_EQUAL(proto_wire_signal_encode(&w, b, sizeof(b)), -EINVAL);
	w = base;
	w.symbol[0] = ' ';
	CU_ASSERT_EQUAL(proto_wire_signal_encode(&w, b, sizeof(b)), -EINVAL);
	w = base;
	w.order_type = 10;
	CU_ASSERT_EQUAL(proto_wire_signal_encode(&w, b, sizeof(b)), -EINVAL);
	w = base;
	w.price = -1;
	CU_ASSERT_EQUAL(proto_wire_signal_encode(&w, b, sizeof(b)), -EINVAL);
	CU_ASSERT_EQUAL(proto_wire_signal_encode(NULL, b, sizeof(b)), -EINVAL);
	CU_ASSERT_EQUAL(proto_wire_signal_encode(&base, NULL, 0), -EINVAL);
	CU_ASSERT_EQUAL(proto_wire_signal_parse(NULL, 3, &w), -EPROTO);
	CU_ASSERT_EQUAL(proto_wire_signal_parse(b, 0, &w), -EPROTO);
	CU_ASSERT_EQUAL(proto_wire_signal_parse(b, PROTO_SIGNAL_BODY_MAX + 1, &w), -EPROTO);
}

/* pack with protobuf-c and with the wire encoder; both must be identical */
static void same(const ProtobufCMessage *m, const uint8_t *b, int nb)
{
	uint8_t a[4096];
	size_t na = protobuf_c_message_pack(m, a);

	CU_ASSERT_EQUAL_FATAL(nb, (int)na);
	CU_ASSERT_EQUAL(memcmp(a, b, na), 0);
}

static void test_master_frames(void)
{
	for (int i = 0; i < 500; i++) {
		Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;
		Decp__Hello h = DECP__HELLO__INIT;
		Decp__SignedSignal ss = DECP__SIGNED_SIGNAL__INIT;
		Decp__Heartbeat hb = DECP__HEARTBEAT__INIT;
		Decp__LoginProof lp = DECP__LOGIN_PROOF__INIT;
		uint8_t proof[64];
		char ver[32];
		uint8_t body[PROTO_SIGNAL_BODY_MAX], mac[32], sig[64], b[1024];
		size_t bl = 1 + tu_rand(&rng) % PROTO_SIGNAL_BODY_MAX;

		if (i % 3)
			snprintf(ver, sizeof(ver), "decp.dll/%d", i);
		else
			ver[0] = '\0';      /* an empty client version, every third case */
		h.master_id = 1 + rnd() % 100000;
		h.client_version = ver;
		h.protocol_version = i % 2 ? PROTO_PROTOCOL_VERSION : 0;
		mf.kind_case = DECP__MASTER_FRAME__KIND_HELLO;
		mf.hello = &h;
		same(&mf.base, b, proto_wire_hello_encode(h.master_id, ver, h.protocol_version, b,
							  sizeof(b)));

		lp.proof.data = proof;
		lp.proof.len = i % 4 ? 32 : 1 + tu_rand(&rng) % sizeof(proof);
		for (size_t k = 0; k < lp.proof.len; k++)
			proof[k] = (uint8_t)tu_rand(&rng);
		mf.kind_case = DECP__MASTER_FRAME__KIND_LOGIN_PROOF;
		mf.login_proof = &lp;
		same(&mf.base, b, proto_wire_login_proof_encode(proof, lp.proof.len, b, sizeof(b)));

		for (size_t k = 0; k < bl; k++)
			body[k] = (uint8_t)tu_rand(&rng);
		memset(mac, i, sizeof(mac));
		memset(sig, i + 1, sizeof(sig));
		ss.body.data = body;
		ss.body.len = bl;
		ss.hmac.data = mac;
		ss.hmac.len = i % 5 ? 32 : 0;
		ss.ed25519_sig.data = sig;
		ss.ed25519_sig.len = i % 7 ? 64 : 0;
		mf.kind_case = DECP__MASTER_FRAME__KIND_SIGNAL;
		mf.signal = &ss;
		same(&mf.base, b, proto_wire_signed_encode(body, bl, mac, ss.hmac.len, sig,
							   ss.ed25519_sig.len, b, sizeof(b)));

		hb.time_ns = (int64_t)rnd();
		mf.kind_case = DECP__MASTER_FRAME__KIND_HEARTBEAT;
		mf.heartbeat = &hb;
		same(&mf.base, b, proto_wire_heartbeat_encode(hb.time_ns, b, sizeof(b)));
	}
	{
		uint8_t b[8];

		uint8_t big[PROTO_WIRE_TEXT_MAX + 2], pr[65] = { 1 };

		memset(big, 'v', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		CU_ASSERT_EQUAL(proto_wire_hello_encode(1, "", 2, b, sizeof(b) - 4), -ENOBUFS);
		CU_ASSERT_EQUAL(proto_wire_hello_encode(1, NULL, 2, b, sizeof(b)), -EINVAL);
		CU_ASSERT_EQUAL(proto_wire_hello_encode(1, (const char *)big, 2, b, sizeof(b)),
				-EINVAL);
		CU_ASSERT_EQUAL(proto_wire_hello_encode(0, "", 2, b, sizeof(b)), -EINVAL);
		CU_ASSERT_EQUAL(proto_wire_hello_encode(1, "", 2, NULL, 8), -EINVAL);
		CU_ASSERT_EQUAL(proto_wire_login_proof_encode(pr, 32, b, sizeof(b)), -ENOBUFS);
		CU_ASSERT_EQUAL(proto_wire_login_proof_encode(NULL, 32, b, sizeof(b)), -EINVAL);
		CU_ASSERT_EQUAL(proto_wire_login_proof_encode(pr, 0, b, sizeof(b)), -EINVAL);
		CU_ASSERT_EQUAL(proto_wire_login_proof_encode(pr, 65, b, sizeof(b)), -EINVAL);
		CU_ASSERT_EQUAL(proto_wire_login_proof_encode(pr, 32, NULL, 64), -EINVAL);
		CU_ASSERT_EQUAL(proto_wire_signed_encode(b, 0, NULL, 0, NULL, 0, b, 8), -EINVAL);
	}
}

/* An AccountState with random values and 0..PROTO_WIRE_ACCOUNT_POS_MAX positions: the
 * wire encoder's bytes equal protobuf-c's (cm is reused as the ClientMessage). */
static void random_account(Decp__ClientMessage *cm, uint8_t *b, size_t cap)
{
	static const char *const syms[] = { "EURUSD.m", "", "XAUUSD",
					    "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345" };
	Decp__AccountState as = DECP__ACCOUNT_STATE__INIT;
	Decp__AccountState__Position pos[PROTO_WIRE_ACCOUNT_POS_MAX], *pp[PROTO_WIRE_ACCOUNT_POS_MAX];
	struct proto_wire_account_state a = { 0 };

	a.time_ns = as.time_ns = (int64_t)rnd();
	snprintf(a.currency, sizeof(a.currency), "%s", tu_rand(&rng) % 4 ? "USD" : "");
	as.currency = a.currency;
	a.leverage = as.leverage = (uint32_t)rnd();
	a.balance = as.balance = (int64_t)rnd();
	a.equity = as.equity = (int64_t)rnd();
	a.margin = as.margin = (int64_t)rnd();
	a.free_margin = as.free_margin = (int64_t)rnd(); /* may be negative */
	a.position_count = as.position_count = (uint32_t)rnd();
	a.n_positions = (uint32_t)(tu_rand(&rng) % (PROTO_WIRE_ACCOUNT_POS_MAX + 1));
	for (uint32_t i = 0; i < a.n_positions; i++) {
		struct proto_wire_account_position *w = &a.positions[i];

		decp__account_state__position__init(&pos[i]);
		w->master_id = pos[i].master_id = rnd();
		w->master_ticket = pos[i].master_ticket = rnd();
		snprintf(w->symbol, sizeof(w->symbol), "%s", syms[tu_rand(&rng) % 4]);
		pos[i].symbol = w->symbol;
		w->type = (int32_t)(pos[i].type = (Decp__OrderType)(tu_rand(&rng) % 10));
		w->volume = pos[i].volume = (int64_t)rnd();
		w->price = pos[i].price = (int64_t)rnd();
		w->sl = pos[i].sl = (int64_t)rnd();
		w->tp = pos[i].tp = (int64_t)rnd();
		w->profit = pos[i].profit = (int64_t)rnd();
		pp[i] = &pos[i];
	}
	as.n_positions = a.n_positions;
	as.positions = pp;
	cm->kind_case = DECP__CLIENT_MESSAGE__KIND_ACCOUNT_STATE;
	cm->account_state = &as;
	same(&cm->base, b, proto_wire_account_state_encode(&a, b, cap));
}

static void test_client_messages(void)
{
	for (int i = 0; i < 500; i++) {
		Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
		Decp__Subscribe sb = DECP__SUBSCRIBE__INIT;
		Decp__TimePing tp = DECP__TIME_PING__INIT;
		Decp__ExecutionReport er = DECP__EXECUTION_REPORT__INIT;
		Decp__ProtectionEvent pe = DECP__PROTECTION_EVENT__INIT;
		struct proto_wire_exec_report wr = { 0 };
		struct proto_wire_protection wp = { 0 };
		uint8_t b[1024];

		sb.master_id = 1 + rnd() % 1000;
		sb.from_sequence = rnd();
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_SUBSCRIBE;
		cm.subscribe = &sb;
		same(&cm.base, b, proto_wire_subscribe_encode(sb.master_id, sb.from_sequence, b,
							      sizeof(b)));
		sb.snapshot = 1;
		same(&cm.base, b, proto_wire_subscribe_resync_encode(sb.master_id, sb.from_sequence,
								     b, sizeof(b)));
		sb.snapshot = 0;
		{
			Decp__ResyncDone rd = DECP__RESYNC_DONE__INIT;
			struct proto_wire_resync_done wd = { 0 };

			wd.master_id = rd.master_id = 1 + rnd() % 1000;
			wd.sequence = rd.sequence = rnd();
			wd.opened = rd.opened = (uint32_t)rnd() % 5;
			wd.closed = rd.closed = (uint32_t)rnd();
			wd.reduced = rd.reduced = (uint32_t)rnd() % 3;
			wd.modified = rd.modified = (uint32_t)rnd();
			wd.skipped = rd.skipped = (uint32_t)rnd() % 2;
			cm.kind_case = DECP__CLIENT_MESSAGE__KIND_RESYNC_DONE;
			cm.resync_done = &rd;
			same(&cm.base, b, proto_wire_resync_done_encode(&wd, b, sizeof(b)));
		}
		tp.client_send_ns = (int64_t)rnd();
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_TIME_PING;
		cm.time_ping = &tp;
		same(&cm.base, b, proto_wire_time_ping_encode(tp.client_send_ns, b, sizeof(b)));

		wr.subscription_id = er.subscription_id = rnd();
		wr.master_id = er.master_id = rnd();
		wr.sequence = er.sequence = rnd();
		wr.status = (int32_t)(er.status = (Decp__ExecutionReport__Status)(tu_rand(&rng) % 7));
		snprintf(wr.symbol, sizeof(wr.symbol), i % 4 ? "EURUSD.m" : "");
		er.symbol = wr.symbol;
		wr.volume = er.volume = (int64_t)rnd();
		wr.price = er.price = (int64_t)rnd();
		wr.slippage_points = er.slippage_points = (int64_t)rnd(); /* often negative */
		wr.broker_ticket = er.broker_ticket = rnd();
		wr.broker_retcode = er.broker_retcode = (int32_t)rnd();
		wr.realized_profit = er.realized_profit = (int64_t)rnd();
		wr.exec_time_ns = er.exec_time_ns = (int64_t)rnd();
		wr.latency_ns = er.latency_ns = (int64_t)rnd();
		wr.report_id = er.report_id = rnd();
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_EXECUTION_REPORT;
		cm.execution_report = &er;
		same(&cm.base, b, proto_wire_exec_report_encode(&wr, b, sizeof(b)));

		wp.subscription_id = pe.subscription_id = rnd();
		wp.subscriber_id = pe.subscriber_id = rnd();
		wp.master_id = pe.master_id = rnd();
		wp.sequence = pe.sequence = rnd();
		wp.reason = (int32_t)(pe.reason = (Decp__ProtectionReason)(tu_rand(&rng) % 9));
		wp.age_ns = pe.age_ns = (int64_t)rnd();
		wp.price_deviation_pips_x100 = pe.price_deviation_pips_x100 = (int64_t)rnd();
		wp.event_time_ns = pe.event_time_ns = (int64_t)rnd();
		wp.expected_sequence = pe.expected_sequence = rnd();
		snprintf(wp.detail, sizeof(wp.detail), "%s", i % 3 ? "decp.dll" : "");
		pe.detail = wp.detail;
		wp.attribution = (int32_t)(pe.attribution =
						   (Decp__StalenessAttribution)(tu_rand(&rng) % 4));
		wp.fanout_send_ns = pe.fanout_send_ns = (int64_t)rnd();
		wp.report_id = pe.report_id = rnd();
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_PROTECTION_EVENT;
		cm.protection_event = &pe;
		same(&cm.base, b, proto_wire_protection_encode(&wp, b, sizeof(b)));
		random_account(&cm, b, sizeof(b));
	}
	{
		struct proto_wire_account_state a = { 0 };
		uint8_t b[16];

		CU_ASSERT_EQUAL(proto_wire_account_state_encode(NULL, b, sizeof(b)), -EINVAL);
		CU_ASSERT_EQUAL(proto_wire_account_state_encode(&a, NULL, 16), -EINVAL);
		a.n_positions = PROTO_WIRE_ACCOUNT_POS_MAX + 1;
		CU_ASSERT_EQUAL(proto_wire_account_state_encode(&a, b, sizeof(b)), -EINVAL);
		a.n_positions = 0;
		memcpy(a.currency, "USDX", 4); /* not NUL-terminated */
		CU_ASSERT_EQUAL(proto_wire_account_state_encode(&a, b, sizeof(b)), -EINVAL);
		memcpy(a.currency, "USD", 4);
		a.balance = -1; /* ten bytes: does not fit */
		CU_ASSERT_EQUAL(proto_wire_account_state_encode(&a, b, 8), -ENOBUFS);
	}
}

/* The IngestFrame's member as protobuf-c decoded it, in proto_wire_msg form. */
static int ingest_ref(const Decp__IngestFrame *f, struct proto_wire_msg *m)
{
	memset(m, 0, sizeof(*m));
	switch (f->kind_case) {
	case DECP__INGEST_FRAME__KIND_HELLO_ACK:
		m->v[1] = f->hello_ack->next_expected_sequence;
		m->v[2] = (uint64_t)f->hello_ack->server_time_ns;
		m->v[3] = f->hello_ack->protocol_version;
		m->v[4] = f->hello_ack->max_frame;
		break;
	case DECP__INGEST_FRAME__KIND_ACK:
		m->v[1] = f->ack->sequence;
		m->v[2] = (uint64_t)f->ack->server_arrival_ns;
		m->v[3] = (uint32_t)f->ack->status;
		break;
	case DECP__INGEST_FRAME__KIND_NACK:
		m->v[1] = f->nack->sequence;
		m->v[2] = (uint32_t)f->nack->reason;
		m->v[3] = f->nack->expected_sequence;
		break;
	case DECP__INGEST_FRAME__KIND_ERROR:
		m->v[1] = (uint32_t)f->error->code;
		m->bl[2] = f->error->message ? strlen(f->error->message) : 0;
		break;
	case DECP__INGEST_FRAME__KIND_HEARTBEAT:
		m->v[1] = (uint64_t)f->heartbeat->time_ns;
		break;
	case DECP__INGEST_FRAME__KIND_CHALLENGE:
		m->bl[1] = f->challenge->nonce.len;
		m->v[2] = f->challenge->protocol_version;
		break;
	default:
		return -1;
	}
	return (int)f->kind_case;
}

static int server_ref(const Decp__ServerMessage *s, struct proto_wire_msg *m,
		      struct proto_wire_msg *sig)
{
	memset(m, 0, sizeof(*m));
	memset(sig, 0, sizeof(*sig));
	switch (s->kind_case) {
	case DECP__SERVER_MESSAGE__KIND_ENVELOPE:
		m->v[2] = (uint64_t)s->envelope->server_arrival_ns;
		m->v[3] = s->envelope->master_id;
		m->v[4] = s->envelope->sequence;
		m->v[5] = (uint64_t)s->envelope->fanout_send_ns;
		m->v[6] = s->envelope->replay;
		if (s->envelope->signal != NULL) {
			sig->bl[1] = s->envelope->signal->body.len;
			sig->bl[2] = s->envelope->signal->hmac.len;
			sig->bl[3] = s->envelope->signal->ed25519_sig.len;
		}
		break;
	case DECP__SERVER_MESSAGE__KIND_SYNC_START:
		m->v[1] = s->sync_start->master_id;
		m->v[2] = s->sync_start->from_sequence;
		m->v[3] = s->sync_start->to_sequence;
		break;
	case DECP__SERVER_MESSAGE__KIND_SYNC_END:
		m->v[1] = s->sync_end->master_id;
		m->v[2] = s->sync_end->last_sequence;
		break;
	case DECP__SERVER_MESSAGE__KIND_TIME_PONG:
		m->v[1] = (uint64_t)s->time_pong->client_send_ns;
		m->v[2] = (uint64_t)s->time_pong->server_recv_ns;
		m->v[3] = (uint64_t)s->time_pong->server_send_ns;
		break;
	case DECP__SERVER_MESSAGE__KIND_STATE_CHANGE:
		m->v[1] = s->state_change->subscription_id;
		m->v[2] = s->state_change->master_id;
		m->v[3] = (uint32_t)s->state_change->old_state;
		m->v[4] = (uint32_t)s->state_change->new_state;
		m->v[5] = (uint32_t)s->state_change->cause;
		m->v[6] = (uint64_t)s->state_change->time_ns;
		break;
	case DECP__SERVER_MESSAGE__KIND_ERROR:
		m->v[1] = (uint32_t)s->error->code;
		m->bl[2] = s->error->message ? strlen(s->error->message) : 0;
		break;
	case DECP__SERVER_MESSAGE__KIND_REPORT_ACK:
		m->v[1] = s->report_ack->report_id;
		break;
	case DECP__SERVER_MESSAGE__KIND_COPY_POLICY:
		m->v[1] = s->copy_policy->subscription_id;
		m->v[2] = s->copy_policy->master_id;
		m->v[3] = s->copy_policy->version;
		break;
	case DECP__SERVER_MESSAGE__KIND_KEY_ANNOUNCEMENT:
		m->v[1] = s->key_announcement->master_id;
		m->bl[2] = s->key_announcement->old_public_key.len;
		m->bl[3] = s->key_announcement->new_public_key.len;
		m->v[4] = (uint64_t)s->key_announcement->valid_from_ns;
		m->v[5] = (uint64_t)s->key_announcement->overlap_until_ns;
		m->bl[6] = s->key_announcement->signature.len;
		break;
	case DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN:
		m->v[1] = s->snapshot_begin->master_id;
		m->v[2] = s->snapshot_begin->sequence;
		m->v[3] = s->snapshot_begin->count;
		m->v[4] = s->snapshot_begin->from_sequence;
		m->v[5] = (uint32_t)s->snapshot_begin->reason;
		m->v[6] = s->snapshot_begin->subscription_id;
		break;
	case DECP__SERVER_MESSAGE__KIND_SNAPSHOT_PART:
		m->v[1] = s->snapshot_part->master_id;
		m->v[2] = s->snapshot_part->sequence;
		break;
	case DECP__SERVER_MESSAGE__KIND_SNAPSHOT_END:
		m->v[1] = s->snapshot_end->master_id;
		m->v[2] = s->snapshot_end->sequence;
		m->v[3] = s->snapshot_end->count;
		m->bl[4] = s->snapshot_end->signature.len;
		break;
	default:
		return -1;
	}
	return (int)s->kind_case;
}

/* Values the wire decoder found equal protobuf-c's (byte fields by length). */
static int agree(const struct proto_wire_msg *w, const struct proto_wire_msg *r)
{
	for (int f = 0; f < PROTO_WIRE_FIELDS; f++) {
		if (w->v[f] != r->v[f])
			return 0;
		if (r->bl[f] != 0 && w->bl[f] != r->bl[f])
			return 0;
	}
	return 1;
}

static size_t random_ingest(uint8_t *out)
{
	Decp__IngestFrame f = DECP__INGEST_FRAME__INIT;
	Decp__HelloAck ha = DECP__HELLO_ACK__INIT;
	Decp__Ack ack = DECP__ACK__INIT;
	Decp__Nack nack = DECP__NACK__INIT;
	Decp__Error err = DECP__ERROR__INIT;
	Decp__Heartbeat hb = DECP__HEARTBEAT__INIT;
	Decp__ServerChallenge ch = DECP__SERVER_CHALLENGE__INIT;
	static uint8_t nonce[40];

	f.kind_case = (Decp__IngestFrame__KindCase)(1 + tu_rand(&rng) % 6);
	ha.next_expected_sequence = rnd();
	ha.server_time_ns = (int64_t)rnd();
	ha.protocol_version = (uint32_t)rnd();
	ha.max_frame = (uint32_t)rnd();
	ack.sequence = rnd();
	ack.server_arrival_ns = (int64_t)rnd();
	ack.status = (Decp__Ack__Status)(tu_rand(&rng) % 3);
	nack.sequence = rnd();
	nack.reason = (Decp__Nack__Reason)(tu_rand(&rng) % 9);
	nack.expected_sequence = rnd();
	err.code = (Decp__Error__Code)(tu_rand(&rng) % 12);
	err.message = tu_rand(&rng) % 2 ? "going away" : "";
	hb.time_ns = (int64_t)rnd();
	for (size_t k = 0; k < sizeof(nonce); k++)
		nonce[k] = (uint8_t)tu_rand(&rng);
	ch.nonce.data = nonce;
	ch.nonce.len = tu_rand(&rng) % 4 ? 32 : tu_rand(&rng) % sizeof(nonce);
	ch.protocol_version = (uint32_t)rnd();
	f.hello_ack = &ha; /* the union: set the member of kind_case */
	if (f.kind_case == DECP__INGEST_FRAME__KIND_ACK)
		f.ack = &ack;
	else if (f.kind_case == DECP__INGEST_FRAME__KIND_NACK)
		f.nack = &nack;
	else if (f.kind_case == DECP__INGEST_FRAME__KIND_ERROR)
		f.error = &err;
	else if (f.kind_case == DECP__INGEST_FRAME__KIND_HEARTBEAT)
		f.heartbeat = &hb;
	else if (f.kind_case == DECP__INGEST_FRAME__KIND_CHALLENGE)
		f.challenge = &ch;
	return decp__ingest_frame__pack(&f, out);
}

/* A CopyPolicy within proto_wire's limits (lists of 0..16, symbols of 1..32 bytes,
 * affixes of 0..11), every scalar random. */
static void random_policy(Decp__CopyPolicy *p)
{
	static const char *const syms[] = { "EURUSD", "XAUUSD", "GOLD.r", "US30", "A",
					    "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345" };
	static const char *const affixes[] = { "", ".m", "pro.", "ABCDEFGHIJK" };
	static Decp__CopyPolicy__SymbolMap map[PROTO_WIRE_POLICY_LIST_MAX];
	static Decp__CopyPolicy__SymbolMap *mp[PROTO_WIRE_POLICY_LIST_MAX];
	static char *allow[PROTO_WIRE_POLICY_LIST_MAX], *deny[PROTO_WIRE_POLICY_LIST_MAX];

	decp__copy_policy__init(p);
	p->subscription_id = rnd();
	p->master_id = rnd();
	p->version = rnd();
	p->lot_mode = (Decp__CopyPolicy__LotMode)(tu_rand(&rng) % 5);
	p->lot_fixed = (int64_t)rnd();
	p->lot_multiplier_milli = (int64_t)rnd();
	p->master_equity = (int64_t)rnd();
	p->risk_bp = (int64_t)rnd();
	p->n_symbol_map = tu_rand(&rng) % 4 ? tu_rand(&rng) % 3 : PROTO_WIRE_POLICY_LIST_MAX;
	for (size_t i = 0; i < p->n_symbol_map; i++) {
		decp__copy_policy__symbol_map__init(&map[i]);
		map[i].from = (char *)syms[tu_rand(&rng) % 6];
		map[i].to = (char *)syms[tu_rand(&rng) % 6];
		mp[i] = &map[i];
	}
	p->symbol_map = mp;
	p->prefix = (char *)affixes[tu_rand(&rng) % 4];
	p->suffix = (char *)affixes[tu_rand(&rng) % 4];
	p->n_symbols_allow = tu_rand(&rng) % 4 ? tu_rand(&rng) % 3 : PROTO_WIRE_POLICY_LIST_MAX;
	p->n_symbols_deny = tu_rand(&rng) % 3;
	for (size_t i = 0; i < PROTO_WIRE_POLICY_LIST_MAX; i++) {
		allow[i] = (char *)syms[tu_rand(&rng) % 6];
		deny[i] = (char *)syms[tu_rand(&rng) % 6];
	}
	p->symbols_allow = allow;
	p->symbols_deny = deny;
	p->order_type_mask = (uint32_t)rnd();
	p->reverse = tu_rand(&rng) % 2;
	p->copy_sl = tu_rand(&rng) % 2;
	p->copy_tp = tu_rand(&rng) % 2;
	p->sync_modify = tu_rand(&rng) % 2;
	p->max_deviation_pips_x100 = (int64_t)rnd();
	p->min_free_funds = (int64_t)rnd();
	p->equity_floor = (int64_t)rnd();
	p->max_drawdown_bp = (int64_t)rnd();
	p->close_all_on_trip = tu_rand(&rng) % 2;
}

static size_t random_server(uint8_t *out)
{
	Decp__ServerMessage s = DECP__SERVER_MESSAGE__INIT;
	Decp__Envelope e = DECP__ENVELOPE__INIT;
	Decp__SignedSignal ss = DECP__SIGNED_SIGNAL__INIT;
	Decp__SyncStart st = DECP__SYNC_START__INIT;
	Decp__SyncEnd en = DECP__SYNC_END__INIT;
	Decp__TimePong tp = DECP__TIME_PONG__INIT;
	Decp__StateChange sc = DECP__STATE_CHANGE__INIT;
	Decp__Error err = DECP__ERROR__INIT;
	Decp__KeyAnnouncement ka = DECP__KEY_ANNOUNCEMENT__INIT;
	Decp__ReportAck ra = DECP__REPORT_ACK__INIT;
	Decp__SnapshotBegin sb = DECP__SNAPSHOT_BEGIN__INIT;
	Decp__SnapshotPart sp = DECP__SNAPSHOT_PART__INIT;
	Decp__SnapshotEnd se = DECP__SNAPSHOT_END__INIT;
	Decp__BookEntry be[PROTO_WIRE_PART_ENTRIES_MAX], *bp[PROTO_WIRE_PART_ENTRIES_MAX];
	static const char *const esyms[4] = {"EURUSD", "XAUUSD.m", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
					      "x"};
	Decp__CopyPolicy cp;
	static uint8_t body[100], mac[32], sig[64];

	memset(body, 0x42, sizeof(body));
	ss.body.data = body;
	ss.body.len = tu_rand(&rng) % sizeof(body);
	ss.hmac.data = mac;
	ss.hmac.len = sizeof(mac);
	ss.ed25519_sig.data = sig;
	ss.ed25519_sig.len = sizeof(sig);
	e.signal = tu_rand(&rng) % 8 ? &ss : NULL;
	e.server_arrival_ns = (int64_t)rnd();
	e.master_id = rnd();
	e.sequence = rnd();
	e.fanout_send_ns = (int64_t)rnd();
	e.replay = tu_rand(&rng) % 2;
	st.master_id = rnd();
	st.from_sequence = rnd();
	st.to_sequence = rnd();
	en.master_id = rnd();
	en.last_sequence = rnd();
	tp.client_send_ns = (int64_t)rnd();
	tp.server_recv_ns = (int64_t)rnd();
	tp.server_send_ns = (int64_t)rnd();
	sc.subscription_id = rnd();
	sc.master_id = rnd();
	sc.old_state = (Decp__SubscriptionState)(tu_rand(&rng) % 7);
	sc.new_state = (Decp__SubscriptionState)(tu_rand(&rng) % 7);
	sc.cause = (Decp__StateChange__Cause)(tu_rand(&rng) % 9);
	sc.time_ns = (int64_t)rnd();
	err.code = (Decp__Error__Code)(tu_rand(&rng) % 12);
	err.message = "no";
	ka.master_id = rnd();
	ka.old_public_key.data = mac;
	ka.old_public_key.len = tu_rand(&rng) % 33;
	ka.new_public_key.data = mac;
	ka.new_public_key.len = 32;
	ka.valid_from_ns = (int64_t)rnd();
	ka.overlap_until_ns = (int64_t)rnd();
	ka.signature.data = sig;
	ka.signature.len = sizeof(sig);
	s.kind_case = (Decp__ServerMessage__KindCase)(1 + tu_rand(&rng) % 12);
	sb.master_id = rnd();
	sb.sequence = rnd();
	sb.count = (uint32_t)rnd();
	sb.from_sequence = rnd();
	sb.reason = (Decp__SnapshotBegin__Reason)(tu_rand(&rng) % 3);
	sb.subscription_id = rnd();
	sp.master_id = rnd();
	sp.sequence = rnd();
	sp.n_entries = tu_rand(&rng) % (PROTO_WIRE_PART_ENTRIES_MAX + 1);
	for (size_t i = 0; i < PROTO_WIRE_PART_ENTRIES_MAX; i++) {
		decp__book_entry__init(&be[i]);
		be[i].ticket = rnd();
		be[i].type = (Decp__OrderType)(tu_rand(&rng) % 10);
		be[i].symbol = (char *)esyms[tu_rand(&rng) % 4];
		be[i].volume = (int64_t)rnd();
		be[i].price = (int64_t)rnd();
		be[i].sl = (int64_t)rnd();
		be[i].tp = (int64_t)rnd();
		be[i].expiration_ns = (int64_t)rnd();
		bp[i] = &be[i];
	}
	sp.entries = bp;
	se.master_id = rnd();
	se.sequence = rnd();
	se.count = (uint32_t)rnd();
	se.signature.data = sig;
	se.signature.len = tu_rand(&rng) % 2 ? sizeof(sig) : 0;
	ra.report_id = rnd();
	random_policy(&cp);
	switch (s.kind_case) {
	case DECP__SERVER_MESSAGE__KIND_ENVELOPE: s.envelope = &e; break;
	case DECP__SERVER_MESSAGE__KIND_SYNC_START: s.sync_start = &st; break;
	case DECP__SERVER_MESSAGE__KIND_SYNC_END: s.sync_end = &en; break;
	case DECP__SERVER_MESSAGE__KIND_TIME_PONG: s.time_pong = &tp; break;
	case DECP__SERVER_MESSAGE__KIND_STATE_CHANGE: s.state_change = &sc; break;
	case DECP__SERVER_MESSAGE__KIND_REPORT_ACK: s.report_ack = &ra; break;
	case DECP__SERVER_MESSAGE__KIND_COPY_POLICY: s.copy_policy = &cp; break;
	case DECP__SERVER_MESSAGE__KIND_KEY_ANNOUNCEMENT: s.key_announcement = &ka; break;
	case DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN: s.snapshot_begin = &sb; break;
	case DECP__SERVER_MESSAGE__KIND_SNAPSHOT_PART: s.snapshot_part = &sp; break;
	case DECP__SERVER_MESSAGE__KIND_SNAPSHOT_END: s.snapshot_end = &se; break;
	default: s.error = &err; break;
	}
	return decp__server_message__pack(&s, out);
}

/* Valid messages decode to protobuf-c's values; mutated ones never decode to anything
 * protobuf-c refuses or reads differently. */
static void test_decoders_differential(void)
{
	unsigned accepted_mut = 0, policies = 0, parts = 0;

	for (int i = 0; i < 20000; i++) {
		uint8_t buf[1024];
		bool ingest = i % 2 == 0;
		size_t n = ingest ? random_ingest(buf) : random_server(buf);
		bool mutate = i % 4 >= 2;
		struct proto_wire_msg w, ws, r, rs;
		int kw, kr = -1;

		if (mutate) {
			unsigned k = 1 + tu_rand(&rng) % 3;

			for (unsigned j = 0; j < k && n > 0; j++)
				buf[tu_rand(&rng) % n] ^= (uint8_t)(1u << (tu_rand(&rng) % 8));
			if (tu_rand(&rng) % 4 == 0 && n > 1)
				n -= 1 + tu_rand(&rng) % (n - 1);
		}
		if (ingest) {
			Decp__IngestFrame *f = proto_ingest_frame_decode(buf, n, NULL);

			kw = proto_wire_ingest_decode(buf, n, &w);
			if (f != NULL) {
				kr = ingest_ref(f, &r);
				proto_msg_free(&f->base, NULL);
			}
			if (kw > 0)
				CU_ASSERT_TRUE_FATAL(kr == kw && agree(&w, &r));
		} else {
			Decp__ServerMessage *s = proto_server_message_decode(buf, n, NULL);

			kw = proto_wire_server_decode(buf, n, &w, &ws);
			if (kw == PROTO_SERVER_ENVELOPE)
				w.v[6] = w.v[6] != 0; /* replay is a bool: protobuf-c keeps 0/1 */
			if (s != NULL)
				kr = server_ref(s, &r, &rs);
			if (kw > 0)
				CU_ASSERT_TRUE_FATAL(kr == kw && agree(&w, &r) && agree(&ws, &rs));
			if (kw == PROTO_SERVER_COPY_POLICY) {
				struct proto_wire_copy_policy cp;

				/* the member's every field equals protobuf-c's */
				CU_ASSERT_EQUAL_FATAL(proto_wire_copy_policy_decode(w.b[0], w.bl[0],
										    &cp), 0);
				CU_ASSERT_TRUE_FATAL(wire_policy_equal(s->copy_policy, &cp));
				policies++;
			}
			if (kw == PROTO_SERVER_SNAPSHOT_PART) {
				struct proto_wire_snapshot_part sp;
				const Decp__SnapshotPart *rp = s->snapshot_part;

				/* every entry equals protobuf-c's, in order */
				CU_ASSERT_EQUAL_FATAL(proto_wire_snapshot_part_decode(w.b[0], w.bl[0],
										      &sp), 0);
				CU_ASSERT_EQUAL_FATAL(sp.n, rp->n_entries);
				for (uint32_t j = 0; j < sp.n; j++) {
					const Decp__BookEntry *x = rp->entries[j];

					CU_ASSERT_TRUE_FATAL(
						sp.e[j].ticket == x->ticket &&
						sp.e[j].type == (uint32_t)x->type &&
						strcmp(sp.e[j].symbol, x->symbol) == 0 &&
						sp.e[j].volume == x->volume && sp.e[j].price == x->price &&
						sp.e[j].sl == x->sl && sp.e[j].tp == x->tp &&
						sp.e[j].expiration_ns == x->expiration_ns);
				}
				parts++;
			}
			if (s != NULL)
				proto_msg_free(&s->base, NULL);
		}
		if (!mutate) {
			CU_ASSERT_TRUE_FATAL(kw > 0); /* every valid message is understood */
		} else if (kw > 0) {
			accepted_mut++;
		}
	}
	CU_ASSERT_TRUE(accepted_mut > 100); /* the mutations did exercise the accept path */
	CU_ASSERT_TRUE(policies > 500);
	CU_ASSERT_TRUE(parts > 300);
	{
		struct proto_wire_msg m, s;
		static const uint8_t dup_sig[] = { 0x0a, 0x04, 0x0a, 0x00, 0x0a, 0x00 };

		CU_ASSERT_EQUAL(proto_wire_server_decode(dup_sig, sizeof(dup_sig), &m, &s), -EBADMSG);
		CU_ASSERT_EQUAL(proto_wire_server_decode(NULL, 1, &m, &s), -EBADMSG);
		CU_ASSERT_EQUAL(proto_wire_server_decode(dup_sig, 0, &m, &s), -EBADMSG);
		CU_ASSERT_EQUAL(proto_wire_ingest_decode(dup_sig, 0, &m), -EBADMSG);
	}
	{
		/* a SnapshotPart's limits: 8 entries pass, 9 are refused (protobuf-c takes them);
		 * a 33-byte symbol is refused */
		Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
		Decp__SnapshotPart sp = DECP__SNAPSHOT_PART__INIT;
		Decp__BookEntry be[9], *bp[9];
		struct proto_wire_msg m, s;
		uint8_t b[2048];
		size_t n;

		for (int j = 0; j < 9; j++) {
			decp__book_entry__init(&be[j]);
			be[j].ticket = 1 + (uint64_t)j;
			be[j].type = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
			be[j].symbol = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"; /* 32 */
			be[j].volume = 1;
			bp[j] = &be[j];
		}
		sp.master_id = 7;
		sp.sequence = 9;
		sp.entries = bp;
		sp.n_entries = 8;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_SNAPSHOT_PART;
		sm.snapshot_part = &sp;
		n = decp__server_message__pack(&sm, b);
		CU_ASSERT_EQUAL(proto_wire_server_decode(b, n, &m, &s), PROTO_SERVER_SNAPSHOT_PART);
		sp.n_entries = 9;
		n = decp__server_message__pack(&sm, b);
		CU_ASSERT_EQUAL(proto_wire_server_decode(b, n, &m, &s), -EBADMSG);
		sp.n_entries = 1;
		be[0].symbol = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"; /* 33 */
		n = decp__server_message__pack(&sm, b);
		CU_ASSERT_EQUAL(proto_wire_server_decode(b, n, &m, &s), -EBADMSG);
	}
}

/* A CopyPolicy packed by protobuf-c as a ServerMessage; returns proto_wire's verdict. */
static int policy_verdict(Decp__CopyPolicy *p, struct proto_wire_copy_policy *out)
{
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	struct proto_wire_msg m, sig;
	uint8_t b[4096];
	size_t n;
	int k;

	sm.kind_case = DECP__SERVER_MESSAGE__KIND_COPY_POLICY;
	sm.copy_policy = p;
	n = decp__server_message__pack(&sm, b);
	k = proto_wire_server_decode(b, n, &m, &sig);
	if (k != PROTO_SERVER_COPY_POLICY)
		return k;
	return proto_wire_copy_policy_decode(m.b[0], m.bl[0], out);
}

/* Boundaries of proto_wire_copy_policy_decode: 16 entries and 32-byte symbols pass, one
 * more is refused; bytes outside 0x21..0x7e refused; an empty CopyPolicy is all zero. */
static void test_copy_policy_limits(void)
{
	static char *list[PROTO_WIRE_POLICY_LIST_MAX + 1];
	static const char s32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
	Decp__CopyPolicy p = DECP__COPY_POLICY__INIT;
	struct proto_wire_copy_policy w;

	for (size_t i = 0; i <= PROTO_WIRE_POLICY_LIST_MAX; i++)
		list[i] = (char *)s32;
	CU_ASSERT_EQUAL(policy_verdict(&p, &w), 0);
	CU_ASSERT_TRUE(w.version == 0 && w.n_symbols_deny == 0 && w.prefix[0] == '\0');
	p.version = 7;
	p.symbols_deny = list;
	p.n_symbols_deny = PROTO_WIRE_POLICY_LIST_MAX;
	CU_ASSERT_EQUAL(policy_verdict(&p, &w), 0);
	CU_ASSERT_TRUE(w.version == 7 && w.n_symbols_deny == 16 && strcmp(w.symbols_deny[15], s32) == 0);
	p.n_symbols_deny = PROTO_WIRE_POLICY_LIST_MAX + 1;
	CU_ASSERT_EQUAL(policy_verdict(&p, &w), -EBADMSG);
	p.n_symbols_deny = 1;
	list[0] = (char *)"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"; /* 33 bytes */
	CU_ASSERT_EQUAL(policy_verdict(&p, &w), -EBADMSG);
	list[0] = (char *)"EUR USD";
	CU_ASSERT_EQUAL(policy_verdict(&p, &w), -EBADMSG);
	list[0] = (char *)s32;
	p.suffix = (char *)"ABCDEFGHIJK";
	CU_ASSERT_EQUAL(policy_verdict(&p, &w), 0);
	p.suffix = (char *)"ABCDEFGHIJKL"; /* 12 bytes */
	CU_ASSERT_EQUAL(policy_verdict(&p, &w), -EBADMSG);
	p.suffix = (char *)"";
	{
		/* field 4 (lot_mode) as a length-delimited field: a wrong wire type */
		static const uint8_t wrong[] = { 0x42, 0x02, 0x22, 0x00 };
		/* an unknown field 30 inside: skipped */
		static const uint8_t unknown[] = { 0x42, 0x05, 0x18, 0x03, 0xf0, 0x01, 0x05 };
		struct proto_wire_msg m, sig;

		CU_ASSERT_EQUAL(proto_wire_server_decode(wrong, sizeof(wrong), &m, &sig), -EBADMSG);
		CU_ASSERT_EQUAL(proto_wire_server_decode(unknown, sizeof(unknown), &m, &sig),
				PROTO_SERVER_COPY_POLICY);
		CU_ASSERT_EQUAL(m.v[3], 3);
		CU_ASSERT_EQUAL(proto_wire_copy_policy_decode(NULL, 0, &w), 0);
		CU_ASSERT_EQUAL(proto_wire_copy_policy_decode(NULL, 1, &w), -EBADMSG);
		CU_ASSERT_EQUAL(proto_wire_copy_policy_decode(wrong, 1, NULL), -EBADMSG);
		w.version = 5;
		CU_ASSERT_EQUAL(proto_wire_copy_policy_decode(wrong + 2, 2, &w), -EBADMSG);
		CU_ASSERT_EQUAL(w.version, 0); /* zeroed on refusal */
	}
}

/* The master's positions: one part's body and its MasterFrame equal protobuf-c's, the
 * split equals proto_positions_split's (the same parts as decp-master), every rule of
 * proto_positions_validate refuses on both sides. */
static void test_positions(void)
{
	static const char *const syms[] = { "EURUSD", "XAUUSD.m", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
					    "GBPJPY" };

	for (int round = 0; round < 2000; round++) {
		struct proto_wire_book_entry we[40];
		Decp__BookEntry pe[40], *pp[40];
		Decp__Positions pos = DECP__POSITIONS__INIT;
		Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;
		Decp__SignedPositions sp = DECP__SIGNED_POSITIONS__INIT;
		struct proto_wire_positions wp = { 0 };
		size_t n = tu_rand(&rng) % 40, ends_a[40], ends_b[40];
		uint8_t b[4096], body[PROTO_WIRE_POSITIONS_BODY_MAX], mac[32];
		long pa, pb;
		int nb;

		for (size_t i = 0; i < n; i++) {
			decp__book_entry__init(&pe[i]);
			memset(&we[i], 0, sizeof(we[i]));
			we[i].ticket = pe[i].ticket = 1 + (rnd() >> 1);
			we[i].type = 1 + (uint32_t)(tu_rand(&rng) % 6);
			pe[i].type = (Decp__OrderType)we[i].type;
			snprintf(we[i].symbol, sizeof(we[i].symbol), "%s", syms[tu_rand(&rng) % 4]);
			pe[i].symbol = we[i].symbol;
			we[i].volume = pe[i].volume = 1 + rnd_pos() % INT64_MAX;
			we[i].price = pe[i].price = rnd_pos();
			we[i].sl = pe[i].sl = rnd_pos();
			we[i].tp = pe[i].tp = rnd_pos();
			we[i].expiration_ns = pe[i].expiration_ns = rnd_pos();
			pp[i] = &pe[i];
		}
		pa = proto_positions_split(pp, n, ends_a, 40);
		pb = proto_wire_positions_split(we, n, ends_b, 40);
		CU_ASSERT_EQUAL_FATAL(pa, pb);
		CU_ASSERT_TRUE_FATAL(pa >= 1);
		CU_ASSERT_EQUAL(memcmp(ends_a, ends_b, (size_t)pa * sizeof(ends_a[0])), 0);
		/* the first part */
		pos.master_id = wp.master_id = 1 + (rnd() >> 1);
		pos.sequence = wp.sequence = rnd();
		pos.snapshot_id = wp.snapshot_id = 1 + (rnd() >> 1);
		pos.parts = wp.parts = (uint32_t)pa;
		pos.part = wp.part = 0;
		pos.count = wp.count = (uint32_t)n;
		pos.master_time_ns = wp.master_time_ns = (int64_t)rnd();
		pos.n_entries = wp.n = (uint32_t)ends_b[0];
		pos.entries = pp;
		wp.entries = we;
		nb = proto_wire_positions_encode(&wp, body, sizeof(body));
		CU_ASSERT_TRUE_FATAL(nb > 0);
		same(&pos.base, body, nb);
		CU_ASSERT_EQUAL(proto_positions_validate(&pos), 0);
		memset(mac, (int)round, sizeof(mac));
		sp.body.data = body;
		sp.body.len = (size_t)nb;
		sp.hmac.data = mac;
		sp.hmac.len = sizeof(mac);
		mf.kind_case = DECP__MASTER_FRAME__KIND_POSITIONS;
		mf.positions = &sp;
		same(&mf.base, b, proto_wire_signed_positions_encode(body, (size_t)nb, mac,
								    sizeof(mac), b, sizeof(b)));
		/* a rule broken: both sides refuse */
		if (n > 0) {
			int k = (int)(tu_rand(&rng) % 5);

			if (k == 0)
				we[0].volume = pe[0].volume = 0;
			else if (k == 1)
				we[0].price = pe[0].price = -1;
			else if (k == 2)
				we[0].ticket = pe[0].ticket = 0;
			else if (k == 3)
				wp.part = pos.part = wp.parts;
			else
				wp.snapshot_id = pos.snapshot_id = 0;
			CU_ASSERT_EQUAL(proto_wire_positions_encode(&wp, body, sizeof(body)), -EINVAL);
			CU_ASSERT_EQUAL(proto_positions_validate(&pos), -EINVAL);
		}
	}
	{
		struct proto_wire_book_entry e = { .ticket = 1, .type = 7, .symbol = "EURUSD",
						   .volume = 1 };
		size_t ends[2];

		CU_ASSERT_EQUAL(proto_wire_positions_split(&e, 1, ends, 2), -EINVAL); /* CLOSE */
		e.type = 1;
		CU_ASSERT_EQUAL(proto_wire_positions_split(&e, 1, ends, 2), 1);
		CU_ASSERT_EQUAL(proto_wire_positions_split(&e, 1, ends, 0), -EINVAL);
		CU_ASSERT_EQUAL(proto_wire_positions_split(NULL, 0, ends, 1), 1);
		CU_ASSERT_EQUAL(ends[0], 0);
		CU_ASSERT_EQUAL(proto_wire_positions_encode(NULL, (uint8_t *)ends, 8), -EINVAL);
		CU_ASSERT_EQUAL(proto_wire_signed_positions_encode((uint8_t *)ends, 0,
								   (uint8_t *)ends, 32,
								   (uint8_t *)ends, 16), -EINVAL);
	}
}

int main(void)
{
	static const struct tu_case cases[] = {
		{ "signal bytes equal protobuf-c's", test_signal_bytes },
		{ "invalid signals refused", test_signal_invalid },
		{ "MasterFrame bytes equal protobuf-c's", test_master_frames },
		{ "ClientMessage bytes equal protobuf-c's", test_client_messages },
		{ "decoders agree with protobuf-c (differential)", test_decoders_differential },
		{ "CopyPolicy limits", test_copy_policy_limits },
		{ "Positions bytes and split equal protobuf-c's and decp-master's", test_positions },
	};

	return tu_run("proto_wire", cases, sizeof(cases) / sizeof(cases[0]));
}
