/*
 * proto_gen_seeds: write small valid samples of every top-level message as
 * libFuzzer seed corpora: <dir>/{frame,master_frame,ingest_frame,
 * client_message,server_message,signal,view,positions}_seeds/<n>.bin. Deterministic keys, so
 * the output is reproducible. Usage: proto_gen_seeds DIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto_frame.h"
#include "proto_msg.h"
#include "proto_positions.h"
#include "proto_signal.h"

static const char *outdir;

static int put(const char *corpus, int n, const uint8_t *p, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s_seeds", outdir, corpus);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "proto_gen_seeds: mkdir %s: %s\n", path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s_seeds/%d.bin", outdir, corpus, n);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "proto_gen_seeds: write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int put_msg(const char *corpus, int n, const ProtobufCMessage *m)
{
	uint8_t buf[4096];
	size_t len = protobuf_c_message_pack(m, buf);

	return put(corpus, n, buf, len);
}

int main(int argc, char **argv)
{
	struct proto_hmac_key hk;
	struct proto_ed25519_key *sk;
	static const uint8_t seed[32] = { 1 };
	struct proto_sealed_signal sealed;
	Decp__Signal s = DECP__SIGNAL__INIT;
	Decp__SignedSignal ss;
	uint8_t stream[4096];
	size_t slen = 0;
	int rc = 0;

	if (argc != 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fprintf(argc == 2 ? stdout : stderr,
			"usage: %s DIR\nwrites fuzz seed corpora DIR/<target>_seeds/*.bin\n",
			argv[0]);
		return argc == 2 ? 0 : 2;
	}
	outdir = argv[1];
	if (proto_hmac_key_init(&hk, (const uint8_t *)"fuzz", 4) != 0 ||
	    (sk = proto_ed25519_key_new_private(seed)) == NULL) {
		fprintf(stderr, "proto_gen_seeds: key setup failed\n");
		return 1;
	}
	s.master_id = 7;
	s.sequence = 1;
	s.symbol = "EURUSD";
	s.order_type = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
	s.volume = 10;
	s.price = 108345;
	s.position_ticket = 1001;
	s.master_time_ns = 1763942400000000000LL;
	if (proto_signal_seal(&hk, sk, &s, &sealed) != 0) {
		fprintf(stderr, "proto_gen_seeds: seal failed\n");
		return 1;
	}
	proto_sealed_signal_view(&sealed, &ss);
	rc |= put_msg("signal", 1, &ss.base);
	rc |= put("signal", 2, sealed.body, sealed.body_len);

	{ /* master -> ingest */
		Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;
		Decp__Hello h = DECP__HELLO__INIT;
		Decp__Heartbeat hb = DECP__HEARTBEAT__INIT;
		ssize_t n;

		h.master_id = 7;
		h.client_version = "decp-master/0.2.0";
		h.protocol_version = PROTO_PROTOCOL_VERSION;
		mf.kind_case = DECP__MASTER_FRAME__KIND_HELLO;
		mf.hello = &h;
		rc |= put_msg("master_frame", 1, &mf.base);
		n = proto_msg_frame_pack(&mf.base, 4096, stream + slen, sizeof(stream) - slen);
		slen += n > 0 ? (size_t)n : 0;
		mf.kind_case = DECP__MASTER_FRAME__KIND_SIGNAL;
		mf.signal = &ss;
		rc |= put_msg("master_frame", 2, &mf.base);
		rc |= put_msg("view", 1, &mf.base);
		rc |= put("view", 2, sealed.body, sealed.body_len);
		n = proto_msg_frame_pack(&mf.base, 4096, stream + slen, sizeof(stream) - slen);
		slen += n > 0 ? (size_t)n : 0;
		hb.time_ns = 1763942400000000000LL;
		mf.kind_case = DECP__MASTER_FRAME__KIND_HEARTBEAT;
		mf.heartbeat = &hb;
		rc |= put_msg("master_frame", 3, &mf.base);
		n = proto_msg_frame_pack(&mf.base, 4096, stream + slen, sizeof(stream) - slen);
		slen += n > 0 ? (size_t)n : 0;
		Decp__LoginProof lp = DECP__LOGIN_PROOF__INIT;
		uint8_t proof[32];
		memset(proof, 0x5a, sizeof(proof));
		lp.proof.data = proof;
		lp.proof.len = sizeof(proof);
		mf.kind_case = DECP__MASTER_FRAME__KIND_LOGIN_PROOF;
		mf.login_proof = &lp;
		rc |= put_msg("master_frame", 4, &mf.base);
		rc |= put_msg("view", 3, &mf.base);
		/* the master's own positions (issue 19): one part of two entries */
		Decp__BookEntry be[2] = {DECP__BOOK_ENTRY__INIT, DECP__BOOK_ENTRY__INIT};
		Decp__BookEntry *bes[2] = {&be[0], &be[1]};
		Decp__Positions pos = DECP__POSITIONS__INIT;
		struct proto_sealed_positions sp;
		Decp__SignedPositions spm = DECP__SIGNED_POSITIONS__INIT;
		be[0].ticket = 1001;
		be[0].type = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
		be[0].symbol = "EURUSD";
		be[0].volume = 10;
		be[0].price = 108345;
		be[1] = be[0];
		be[1].ticket = 1002;
		be[1].type = DECP__ORDER_TYPE__ORDER_TYPE_SELL_LIMIT;
		be[1].expiration_ns = 1763942500000000000LL;
		pos.master_id = 7;
		pos.sequence = 1;
		pos.snapshot_id = 1763942400000000001ULL;
		pos.parts = 1;
		pos.count = 2;
		pos.entries = bes;
		pos.n_entries = 2;
		pos.master_time_ns = 1763942400000000000LL;
		if (proto_positions_seal(&hk, &pos, &sp) != 0) {
			fprintf(stderr, "proto_gen_seeds: positions seal failed\n");
			return 1;
		}
		rc |= put("positions", 1, sp.body, sp.body_len);
		pos.count = 0;
		pos.n_entries = 0;
		if (proto_positions_seal(&hk, &pos, &sp) != 0)
			return 1;
		rc |= put("positions", 2, sp.body, sp.body_len);
		pos.count = 2;
		pos.n_entries = 2;
		if (proto_positions_seal(&hk, &pos, &sp) != 0)
			return 1;
		spm.body.data = sp.body;
		spm.body.len = sp.body_len;
		spm.hmac.data = sp.hmac;
		spm.hmac.len = sizeof(sp.hmac);
		mf.kind_case = DECP__MASTER_FRAME__KIND_POSITIONS;
		mf.positions = &spm;
		rc |= put_msg("master_frame", 5, &mf.base);
		rc |= put_msg("view", 4, &mf.base);
	}
	{ /* ingest -> master */
		Decp__IngestFrame in = DECP__INGEST_FRAME__INIT;
		Decp__HelloAck ha = DECP__HELLO_ACK__INIT;
		Decp__Ack ack = DECP__ACK__INIT;
		Decp__Nack nack = DECP__NACK__INIT;
		Decp__Error err = DECP__ERROR__INIT;

		ha.next_expected_sequence = 1;
		ha.server_time_ns = 1763942400000000001LL;
		ha.protocol_version = PROTO_PROTOCOL_VERSION;
		ha.max_frame = 4096;
		in.kind_case = DECP__INGEST_FRAME__KIND_HELLO_ACK;
		in.hello_ack = &ha;
		rc |= put_msg("ingest_frame", 1, &in.base);
		ack.sequence = 1;
		ack.server_arrival_ns = 1763942400000000002LL;
		ack.status = DECP__ACK__STATUS__STATUS_OK;
		in.kind_case = DECP__INGEST_FRAME__KIND_ACK;
		in.ack = &ack;
		rc |= put_msg("ingest_frame", 2, &in.base);
		nack.sequence = 5;
		nack.reason = DECP__NACK__REASON__REASON_GAP;
		nack.expected_sequence = 2;
		in.kind_case = DECP__INGEST_FRAME__KIND_NACK;
		in.nack = &nack;
		rc |= put_msg("ingest_frame", 3, &in.base);
		err.code = DECP__ERROR__CODE__CODE_PROTOCOL;
		err.message = "signal before hello";
		in.kind_case = DECP__INGEST_FRAME__KIND_ERROR;
		in.error = &err;
		rc |= put_msg("ingest_frame", 4, &in.base);
		Decp__ServerChallenge ch = DECP__SERVER_CHALLENGE__INIT;
		uint8_t nonce[32];
		memset(nonce, 0xa5, sizeof(nonce));
		ch.nonce.data = nonce;
		ch.nonce.len = sizeof(nonce);
		ch.protocol_version = PROTO_PROTOCOL_VERSION;
		in.kind_case = DECP__INGEST_FRAME__KIND_CHALLENGE;
		in.challenge = &ch;
		rc |= put_msg("ingest_frame", 5, &in.base);
	}
	{ /* subscriber -> fanout */
		Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
		Decp__Subscribe sub = DECP__SUBSCRIBE__INIT;
		Decp__TimePing ping = DECP__TIME_PING__INIT;
		Decp__ExecutionReport er = DECP__EXECUTION_REPORT__INIT;
		Decp__ProtectionEvent pe = DECP__PROTECTION_EVENT__INIT;

		sub.master_id = 7;
		sub.from_sequence = 1;
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_SUBSCRIBE;
		cm.subscribe = &sub;
		rc |= put_msg("client_message", 1, &cm.base);
		ping.client_send_ns = 1763942400000000000LL;
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_TIME_PING;
		cm.time_ping = &ping;
		rc |= put_msg("client_message", 2, &cm.base);
		er.subscription_id = 3;
		er.master_id = 7;
		er.sequence = 1;
		er.status = DECP__EXECUTION_REPORT__STATUS__STATUS_FILLED;
		er.symbol = "EURUSD.m";
		er.volume = 20;
		er.price = 108347;
		er.slippage_points = 2;
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_EXECUTION_REPORT;
		cm.execution_report = &er;
		rc |= put_msg("client_message", 3, &cm.base);
		pe.subscription_id = 3;
		pe.master_id = 7;
		pe.sequence = 2;
		pe.reason = DECP__PROTECTION_REASON__PROTECTION_REASON_TTL_EXPIRED;
		pe.age_ns = 612000000;
		pe.detail = "ttl";
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_PROTECTION_EVENT;
		cm.protection_event = &pe;
		rc |= put_msg("client_message", 4, &cm.base);

		Decp__ResyncDone rd = DECP__RESYNC_DONE__INIT; /* issue 19 */

		rd.master_id = 7;
		rd.sequence = 9;
		rd.opened = 2;
		rd.closed = 1;
		rd.skipped = 1;
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_RESYNC_DONE;
		cm.resync_done = &rd;
		rc |= put_msg("client_message", 5, &cm.base);
	}
	{ /* fanout -> subscriber */
		Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
		Decp__Envelope env = DECP__ENVELOPE__INIT;
		Decp__SyncStart st = DECP__SYNC_START__INIT;
		Decp__TimePong pong = DECP__TIME_PONG__INIT;
		Decp__StateChange sc = DECP__STATE_CHANGE__INIT;

		env.signal = &ss;
		env.server_arrival_ns = 1763942400000000002LL;
		env.master_id = 7;
		env.sequence = 1;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_ENVELOPE;
		sm.envelope = &env;
		rc |= put_msg("server_message", 1, &sm.base);
		st.master_id = 7;
		st.from_sequence = 1;
		st.to_sequence = 9;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_SYNC_START;
		sm.sync_start = &st;
		rc |= put_msg("server_message", 2, &sm.base);
		pong.client_send_ns = 1;
		pong.server_recv_ns = 2;
		pong.server_send_ns = 3;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_TIME_PONG;
		sm.time_pong = &pong;
		rc |= put_msg("server_message", 3, &sm.base);
		sc.subscription_id = 3;
		sc.master_id = 7;
		sc.old_state = DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_SYNCED;
		sc.new_state = DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_DEGRADED_GAP;
		sc.cause = DECP__STATE_CHANGE__CAUSE__CAUSE_SEQUENCE_GAP;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_STATE_CHANGE;
		sm.state_change = &sc;
		rc |= put_msg("server_message", 4, &sm.base);

		Decp__KeyAnnouncement ka = DECP__KEY_ANNOUNCEMENT__INIT;
		uint8_t keys[64 + 64];

		for (size_t i = 0; i < sizeof(keys); i++)
			keys[i] = (uint8_t)(i * 7 + 1);
		ka.master_id = 7;
		ka.old_public_key.data = keys;
		ka.old_public_key.len = 32;
		ka.new_public_key.data = keys + 32;
		ka.new_public_key.len = 32;
		ka.valid_from_ns = 1763942400000000000LL;
		ka.overlap_until_ns = 1763946000000000000LL;
		ka.signature.data = keys + 64;
		ka.signature.len = 64;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_KEY_ANNOUNCEMENT;
		sm.key_announcement = &ka;
		rc |= put_msg("server_message", 5, &sm.base);

		/* re-sync by snapshot (issue 19): Begin, a Part of two entries, End */
		Decp__SnapshotBegin sb = DECP__SNAPSHOT_BEGIN__INIT;
		Decp__SnapshotPart sp = DECP__SNAPSHOT_PART__INIT;
		Decp__SnapshotEnd se = DECP__SNAPSHOT_END__INIT;
		Decp__BookEntry be[2] = {DECP__BOOK_ENTRY__INIT, DECP__BOOK_ENTRY__INIT};
		Decp__BookEntry *bp[2] = {&be[0], &be[1]};

		sb.master_id = 7;
		sb.sequence = 9;
		sb.count = 2;
		sb.from_sequence = 1;
		sb.reason = DECP__SNAPSHOT_BEGIN__REASON__REASON_STALE;
		sb.subscription_id = 3;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN;
		sm.snapshot_begin = &sb;
		rc |= put_msg("server_message", 6, &sm.base);
		be[0].ticket = 1001;
		be[0].type = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
		be[0].symbol = (char *)"EURUSD";
		be[0].volume = 10;
		be[0].price = 108120;
		be[0].sl = 107900;
		be[1].ticket = 1002;
		be[1].type = DECP__ORDER_TYPE__ORDER_TYPE_SELL_LIMIT;
		be[1].symbol = (char *)"XAUUSD";
		be[1].volume = 5;
		be[1].price = 203450000;
		be[1].expiration_ns = 1763946000000000000LL;
		sp.master_id = 7;
		sp.sequence = 9;
		sp.n_entries = 2;
		sp.entries = bp;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_SNAPSHOT_PART;
		sm.snapshot_part = &sp;
		rc |= put_msg("server_message", 7, &sm.base);
		se.master_id = 7;
		se.sequence = 9;
		se.count = 2;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_SNAPSHOT_END;
		sm.snapshot_end = &se;
		rc |= put_msg("server_message", 8, &sm.base);
	}
	/* fuzz_frame: 8 split-seed bytes, then a stream of three frames. */
	{
		uint8_t f[8 + sizeof(stream)];

		memset(f, 0x11, 8);
		memcpy(f + 8, stream, slen);
		rc |= put("frame", 1, f, 8 + slen);
	}
	proto_ed25519_key_free(sk);
	return rc != 0;
}
