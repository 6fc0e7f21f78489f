/*
 * Bad input against a real decp-dataplane (--stack posix, kernel TCP on loopback). This
 * program plays the control side in-process through the cp_shm library (loads credentials,
 * drains the ingress rings, ACKs signals) and a hand-driven master client, so each case can
 * check the exact reply, the close, the counted reason, the protection-event record, and
 * that an unrelated good session keeps working.
 * usage: test_badinput DATAPLANE_BIN
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp_shm.h"
#include "cp_testkeys.h"
#include "ingest_harness.h"
#include "proto_login.h"
#include "proto_msg.h"

#define SEED "badinput"

static struct ih_env env;
static struct cp_shm cs;
static uint64_t cookie;
static struct cp_testkeys keys[4]; /* masters 1..3 */
static uint64_t enq_count[4];      /* signals seen in the ring per master */
static uint64_t last_enq_seq[4];
static uint64_t events[DP_REASON_COUNT];

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int send_cmd(struct dp_ctrl_cmd *c)
{
	c->cookie = ++cookie;
	return cp_ctrl_send(&cs, c);
}

static bool running;

static void stop(void)
{
	cp_shm_detach(&cs);
	ih_cleanup(&env);
	running = false;
}

/* A failed CU_ASSERT_FATAL leaves the previous test's dataplane up: start() stops it. */
static bool allow_v1; /* start the next dataplane with --allow-protocol-1 */

static int start(const char *tag, const char *idle_ms, const char *burst, bool ready)
{
	if (running)
		stop();
	running = true;
	/* Refill slower than any test runs, so the rate-limit case cannot flake under load. */
	/* This program is the control side and heartbeats only while it pumps: control
	 * liveness is tested by tests/security, not here (--control-stale-ms 0). */
	const char *extra[] = {"--workers", "2", "--idle-timeout-ms", idle_ms,
			       "--login-fail-burst", burst, "--login-fail-refill-ms", "600000",
			       "--control-stale-ms", "0", allow_v1 ? "--allow-protocol-1" : NULL,
			       NULL};
	memset(enq_count, 0, sizeof(enq_count));
	memset(last_enq_seq, 0, sizeof(last_enq_seq));
	memset(events, 0, sizeof(events));
	if (ih_init(&env, tag) != 0 || ih_dataplane_start(&env, extra) != 0)
		return -1;
	int rc = -1;
	for (int i = 0; i < 500 && (rc = cp_shm_attach(&cs, env.shm)) != 0; i++)
		sleep_ms(10);
	if (rc != 0)
		return -1;
	cookie = 0;
	for (uint64_t m = 1; m <= 3; m++) {
		struct dp_ctrl_cmd c[3];
		cp_testkeys_derive(SEED, m, &keys[m]);
		cp_testkeys_commands(&keys[m], m, 0, c);
		for (int j = 0; j < 3; j++)
			if (send_cmd(&c[j]) != 0)
				return -1;
	}
	if (ready) {
		struct dp_ctrl_cmd r;
		memset(&r, 0, sizeof(r));
		r.type = DP_CTRL_READY;
		if (send_cmd(&r) != 0)
			return -1;
	}
	return cp_ctrl_wait_applied(&cs, cookie, 5000);
}

/* Drain the rings once: count records, ACK every signal (the consumer's job). */
static void pump(void)
{
	struct dp_ingress_rec recs[32];
	for (unsigned int w = 0; w < cs.s.hdr->n_workers; w++) {
		unsigned int n = cp_ingress_dequeue(&cs, w, recs, 32);
		for (unsigned int i = 0; i < n; i++) {
			const struct dp_ingress_rec *r = &recs[i];
			if (r->kind == DP_REC_PROTECTION) {
				if (r->reason < DP_REASON_COUNT)
					events[r->reason]++;
				continue;
			}
			if (r->master_id <= 3) {
				enq_count[r->master_id]++;
				last_enq_seq[r->master_id] = r->sequence;
			}
			struct dp_ack_rec a;
			cp_ack_for(&a, r, DP_ACK_OK);
			while (cp_ack_enqueue(&cs, w, &a, 1) != 1)
				sleep_ms(1);
		}
	}
}

static uint64_t reason_count(enum dp_reason r)
{
	uint64_t s = 0;
	for (unsigned int w = 0; w < cs.s.hdr->n_workers; w++)
		s += dp_stat_get(&cs.s.stats[w], DP_CTR_REASON_BASE + r);
	return s;
}

/* Next frame, pumping the consumer meanwhile. */
static Decp__IngestFrame *next_frame(int fd, int timeout_ms, bool *eof)
{
	for (int t = 0; t < timeout_ms; t += 20) {
		pump();
		Decp__IngestFrame *f = ih_recv(fd, 20, eof);
		if (f != NULL || *eof)
			return f;
	}
	*eof = false;
	return NULL;
}

static bool expect_hello_ack(int fd, uint64_t expected)
{
	bool eof;
	Decp__IngestFrame *f = next_frame(fd, 3000, &eof);
	bool ok = f != NULL && f->kind_case == DECP__INGEST_FRAME__KIND_HELLO_ACK &&
		  f->hello_ack->next_expected_sequence == expected;
	ih_frame_free(f);
	return ok;
}

static bool expect_ack(int fd, uint64_t seq, int status)
{
	bool eof;
	Decp__IngestFrame *f = next_frame(fd, 3000, &eof);
	bool ok = f != NULL && f->kind_case == DECP__INGEST_FRAME__KIND_ACK &&
		  f->ack->sequence == seq && (int)f->ack->status == status;
	if (!ok && f != NULL)
		fprintf(stderr, "expect_ack(%llu): got kind %d\n", (unsigned long long)seq,
			(int)f->kind_case);
	ih_frame_free(f);
	return ok;
}

static bool expect_nack(int fd, int reason, uint64_t expected)
{
	bool eof;
	Decp__IngestFrame *f = next_frame(fd, 3000, &eof);
	bool ok = f != NULL && f->kind_case == DECP__INGEST_FRAME__KIND_NACK &&
		  (int)f->nack->reason == reason &&
		  (expected == 0 || f->nack->expected_sequence == expected);
	if (!ok && f != NULL)
		fprintf(stderr, "expect_nack(%d): got kind %d\n", reason, (int)f->kind_case);
	ih_frame_free(f);
	return ok;
}

static bool expect_error(int fd, int code)
{
	bool eof;
	Decp__IngestFrame *f = next_frame(fd, 3000, &eof);
	bool ok = f != NULL && f->kind_case == DECP__INGEST_FRAME__KIND_ERROR &&
		  (int)f->error->code == code;
	ih_frame_free(f);
	return ok;
}

static bool expect_closed(int fd, int timeout_ms)
{
	for (int t = 0; t < timeout_ms; t += 20) {
		pump();
		bool eof;
		Decp__IngestFrame *f = ih_recv(fd, 20, &eof);
		ih_frame_free(f);
		if (eof)
			return true;
	}
	return false;
}

/* Wait until the protection event for r has come through the ring. */
static bool expect_event(enum dp_reason r)
{
	for (int t = 0; t < 2000 && events[r] == 0; t += 10) {
		pump();
		sleep_ms(10);
	}
	return events[r] > 0;
}

/* A logged-in good session of master 1, and its next sequence. */
static int good_fd;
static uint64_t good_seq;

static void good_open(void)
{
	good_fd = ih_connect(env.port);
	CU_ASSERT_FATAL(good_fd >= 0);
	CU_ASSERT_FATAL(ih_send_hello(good_fd, keys[1].token, 1) == 0);
	CU_ASSERT_FATAL(expect_hello_ack(good_fd, 1));
	CU_ASSERT(ih_send_signal(good_fd, keys[1].secret, 1, 1, false) == 0);
	CU_ASSERT(expect_ack(good_fd, 1, DECP__ACK__STATUS__STATUS_OK));
	good_seq = 2;
}

/* The good session still works after the bad one. */
static void good_check(void)
{
	CU_ASSERT(ih_send_signal(good_fd, keys[1].secret, 1, good_seq, false) == 0);
	CU_ASSERT(expect_ack(good_fd, good_seq, DECP__ACK__STATUS__STATUS_OK));
	good_seq++;
	close(good_fd);
}

static int login2(void)
{
	int fd = ih_connect(env.port);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(ih_send_hello(fd, keys[2].token, 2) == 0);
	CU_ASSERT(expect_hello_ack(fd, 1));
	return fd;
}

static void test_oversize_frame(void)
{
	CU_ASSERT_FATAL(start("oversize", "10000", "100", true) == 0);
	good_open();
	int fd = ih_connect(env.port);
	uint8_t hdr[4] = {0, 0, 0x13, 0x88}; /* 5000 > 4096 */
	CU_ASSERT(ih_send_all(fd, hdr, 4) == 0);
	CU_ASSERT(expect_error(fd, DECP__ERROR__CODE__CODE_OVERSIZE));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_OVERSIZE) == 1);
	CU_ASSERT(expect_event(DP_REASON_OVERSIZE));
	close(fd);
	good_check();
	stop();
}

static void test_garbage(void)
{
	CU_ASSERT_FATAL(start("garbage", "10000", "100", true) == 0);
	good_open();
	int fd = ih_connect(env.port);
	uint8_t junk[4 + 12] = {0, 0, 0, 12, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99,
				0x01, 0x7f, 0x80, 0x80};
	CU_ASSERT(ih_send_all(fd, junk, sizeof(junk)) == 0);
	CU_ASSERT(expect_error(fd, DECP__ERROR__CODE__CODE_MALFORMED));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_MALFORMED) == 1);
	CU_ASSERT(expect_event(DP_REASON_MALFORMED));
	close(fd);
	/* Two members of the frame's oneof (Hello, then an empty Signal): malformed, not the
	 * last one handled (protobuf's last-wins left a signal before a heartbeat unanswered). */
	fd = ih_connect(env.port);
	uint8_t two[4 + 4] = {0, 0, 0, 4, 0x0a, 0x00, 0x12, 0x00};
	CU_ASSERT(ih_send_all(fd, two, sizeof(two)) == 0);
	CU_ASSERT(expect_error(fd, DECP__ERROR__CODE__CODE_MALFORMED));
	CU_ASSERT(expect_closed(fd, 2000));
	close(fd);
	/* Zero-length frame: refused by the framing layer. */
	fd = ih_connect(env.port);
	uint8_t zero[4] = {0, 0, 0, 0};
	CU_ASSERT(ih_send_all(fd, zero, 4) == 0);
	CU_ASSERT(expect_error(fd, DECP__ERROR__CODE__CODE_OVERSIZE));
	CU_ASSERT(expect_closed(fd, 2000));
	close(fd);
	good_check();
	stop();
}

static void test_signal_before_hello(void)
{
	CU_ASSERT_FATAL(start("order", "10000", "100", true) == 0);
	good_open();
	int fd = ih_connect(env.port);
	CU_ASSERT(ih_send_signal(fd, keys[2].secret, 2, 1, false) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_STATE, 0));
	CU_ASSERT(expect_error(fd, DECP__ERROR__CODE__CODE_PROTOCOL));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_PROTOCOL) == 1);
	CU_ASSERT(expect_event(DP_REASON_PROTOCOL));
	CU_ASSERT(enq_count[2] == 0);
	close(fd);
	/* Heartbeat before Hello is out of order too, answered alike (docs/ingest.md). */
	fd = ih_connect(env.port);
	CU_ASSERT(ih_send_heartbeat(fd) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_STATE, 0));
	CU_ASSERT(expect_error(fd, DECP__ERROR__CODE__CODE_PROTOCOL));
	CU_ASSERT(expect_closed(fd, 2000));
	close(fd);
	good_check();
	stop();
}

static void test_wrong_token(void)
{
	CU_ASSERT_FATAL(start("token", "10000", "100", true) == 0);
	good_open();
	int fd = ih_connect(env.port);
	CU_ASSERT(ih_send_hello(fd, "not-a-token", 2) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_BAD_TOKEN, 0));
	CU_ASSERT(expect_error(fd, DECP__ERROR__CODE__CODE_UNAUTHENTICATED));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_BAD_TOKEN) == 1);
	CU_ASSERT(expect_event(DP_REASON_BAD_TOKEN));
	close(fd);
	good_check();
	stop();
}

static void test_revoked_token(void)
{
	CU_ASSERT_FATAL(start("revoke", "10000", "100", true) == 0);
	good_open();
	int fd = login2();
	CU_ASSERT(ih_send_signal(fd, keys[2].secret, 2, 1, false) == 0);
	CU_ASSERT(expect_ack(fd, 1, DECP__ACK__STATUS__STATUS_OK));
	struct dp_ctrl_cmd c;
	memset(&c, 0, sizeof(c));
	c.type = DP_CTRL_REVOKE_TOKEN;
	memcpy(c.token_hash, keys[2].token_hash, 32);
	CU_ASSERT(send_cmd(&c) == 0);
	CU_ASSERT(cp_ctrl_wait_applied(&cs, cookie, 5000) == 0);
	/* Effective on the very next signal of the live session. */
	CU_ASSERT(ih_send_signal(fd, keys[2].secret, 2, 2, false) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_BAD_TOKEN, 0));
	CU_ASSERT(expect_error(fd, DECP__ERROR__CODE__CODE_UNAUTHENTICATED));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_REVOKED) == 1);
	CU_ASSERT(expect_event(DP_REASON_REVOKED));
	CU_ASSERT(enq_count[2] == 1);
	close(fd);
	/* And a new login with it is refused. */
	fd = ih_connect(env.port);
	CU_ASSERT(ih_send_hello(fd, keys[2].token, 2) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_BAD_TOKEN, 0));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_REVOKED) == 2);
	close(fd);
	good_check();
	stop();
}

static void test_bad_hmac(void)
{
	CU_ASSERT_FATAL(start("hmac", "10000", "100", true) == 0);
	good_open();
	int fd = login2();
	CU_ASSERT(ih_send_signal(fd, keys[2].secret, 2, 1, true) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_BAD_SIGNATURE, 0));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_BAD_HMAC) == 1);
	CU_ASSERT(expect_event(DP_REASON_BAD_HMAC));
	CU_ASSERT(enq_count[2] == 0);
	close(fd);
	/* Another master's secret is a bad HMAC too. */
	fd = login2();
	CU_ASSERT(ih_send_signal(fd, keys[3].secret, 2, 1, false) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_BAD_SIGNATURE, 0));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_BAD_HMAC) == 2);
	close(fd);
	good_check();
	stop();
}

/* A signal whose HMAC verifies but whose Ed25519 signature is missing or not 64 bytes
 * (a master EA signing without its Ed25519 key). Ingest does not verify Ed25519 (receivers
 * do); the length is a rule of the frame it checks after the HMAC, so the master's operator
 * reads MALFORMED ("your frame is incomplete"), not BAD_SIGNATURE, which names the HMAC
 * secret (docs/protocol.md "Error behaviour", docs/ingest.md step 4). A bad HMAC still
 * wins: it is checked first. */
static void test_no_ed25519_sig(void)
{
	static const size_t lens[] = {0, 63};

	CU_ASSERT_FATAL(start("nosig", "10000", "100", true) == 0);
	good_open();
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		int fd = login2();
		CU_ASSERT(ih_send_signal_sig(fd, keys[2].secret, 2, 1, false, lens[i]) == 0);
		CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_MALFORMED, 0));
		CU_ASSERT(expect_closed(fd, 2000));
		CU_ASSERT(reason_count(DP_REASON_MALFORMED) == i + 1);
		CU_ASSERT(reason_count(DP_REASON_BAD_HMAC) == 0);
		CU_ASSERT(expect_event(DP_REASON_MALFORMED));
		CU_ASSERT(enq_count[2] == 0);
		close(fd);
	}
	int fd = login2();
	CU_ASSERT(ih_send_signal_sig(fd, keys[2].secret, 2, 1, true, 0) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_BAD_SIGNATURE, 0));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_BAD_HMAC) == 1);
	CU_ASSERT(enq_count[2] == 0);
	close(fd);
	good_check();
	stop();
}

static void test_master_mismatch(void)
{
	CU_ASSERT_FATAL(start("mismatch", "10000", "100", true) == 0);
	good_open();
	/* Signal body of master 3, MACed with master 2's secret, on master 2's session. */
	int fd = login2();
	CU_ASSERT(ih_send_signal(fd, keys[2].secret, 3, 1, false) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_MASTER_MISMATCH, 0));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_MASTER_MISMATCH) == 1);
	CU_ASSERT(expect_event(DP_REASON_MASTER_MISMATCH));
	close(fd);
	/* Hello naming master 3 with a proof from master 2's token: no token of master 3
	 * verifies it, so it is a bad token (the reply does not say whose it was). */
	fd = ih_connect(env.port);
	CU_ASSERT(ih_send_hello(fd, keys[2].token, 3) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_BAD_TOKEN, 0));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_BAD_TOKEN) == 1);
	CU_ASSERT(enq_count[2] == 0 && enq_count[3] == 0);
	close(fd);
	good_check();
	stop();
}

/* Hello, then the ServerChallenge's nonce. */
static bool hello_challenge(int fd, uint64_t master, uint8_t nonce[32])
{
	bool eof;
	if (ih_send_hello_raw(fd, PROTO_PROTOCOL_VERSION, NULL, master) != 0)
		return false;
	Decp__IngestFrame *f = next_frame(fd, 3000, &eof);
	bool ok = f != NULL && f->kind_case == DECP__INGEST_FRAME__KIND_CHALLENGE &&
		  f->challenge->nonce.len == 32 &&
		  f->challenge->protocol_version == PROTO_PROTOCOL_VERSION;
	if (ok)
		memcpy(nonce, f->challenge->nonce.data, 32);
	ih_frame_free(f);
	return ok;
}

/* The attack: an observer copies a whole login (Hello + LoginProof) and plays it
 * back on a connection of its own. The nonce differs, so the proof does not verify. */
static void test_login_replay(void)
{
	CU_ASSERT_FATAL(start("replay", "10000", "100", true) == 0);
	good_open();
	uint8_t n1[32], n2[32], proof[256];
	int fd = ih_connect(env.port);
	CU_ASSERT_FATAL(hello_challenge(fd, 2, n1));
	ssize_t pl = proto_login_proof_frame(keys[2].token, strlen(keys[2].token), n1, 32, 2, NULL,
					     proof, sizeof(proof));
	CU_ASSERT_FATAL(pl > 0);
	CU_ASSERT(ih_send_all(fd, proof, (size_t)pl) == 0);
	CU_ASSERT(expect_hello_ack(fd, 1));
	close(fd);
	/* The captured bytes, replayed. */
	fd = ih_connect(env.port);
	CU_ASSERT_FATAL(hello_challenge(fd, 2, n2));
	CU_ASSERT(memcmp(n1, n2, 32) != 0);
	CU_ASSERT(ih_send_all(fd, proof, (size_t)pl) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_BAD_TOKEN, 0));
	CU_ASSERT(expect_error(fd, DECP__ERROR__CODE__CODE_UNAUTHENTICATED));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_BAD_TOKEN) == 1);
	CU_ASSERT(reason_count(DP_REASON_LOGIN_RATE) == 0);
	close(fd);
	/* A proof sent without a challenge (no Hello first) is out of order. */
	fd = ih_connect(env.port);
	CU_ASSERT(ih_send_all(fd, proof, (size_t)pl) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_STATE, 0));
	CU_ASSERT(expect_error(fd, DECP__ERROR__CODE__CODE_PROTOCOL));
	CU_ASSERT(expect_closed(fd, 2000));
	close(fd);
	good_check();
	stop();
}

/* An old client (protocol 1: token in Hello) is told which version it needs; a version-2
 * Hello that still carries the token is refused as malformed. */
static void test_old_client(void)
{
	CU_ASSERT_FATAL(start("oldclient", "10000", "100", true) == 0);
	good_open();
	int fd = ih_connect(env.port);
	CU_ASSERT(ih_send_hello_raw(fd, 1, keys[2].token, 2) == 0);
	bool eof;
	Decp__IngestFrame *f = next_frame(fd, 3000, &eof);
	CU_ASSERT_FATAL(f != NULL && f->kind_case == DECP__INGEST_FRAME__KIND_ERROR);
	CU_ASSERT(f->error->code == DECP__ERROR__CODE__CODE_VERSION);
	CU_ASSERT(strstr(f->error->message, "protocol_version 1 ") != NULL);
	CU_ASSERT(strstr(f->error->message, "speaks 2") != NULL);
	ih_frame_free(f);
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_VERSION) == 1);
	close(fd);
	fd = ih_connect(env.port);
	CU_ASSERT(ih_send_hello_raw(fd, PROTO_PROTOCOL_VERSION, keys[2].token, 2) == 0);
	CU_ASSERT(expect_error(fd, DECP__ERROR__CODE__CODE_MALFORMED));
	CU_ASSERT(expect_closed(fd, 2000));
	close(fd);
	good_check();
	stop();
}

/* --allow-protocol-1: a client not upgraded yet logs in with its token in Hello (counted);
 * a wrong token is still refused. */
static void test_protocol_1_allowed(void)
{
	allow_v1 = true;
	CU_ASSERT_FATAL(start("v1", "10000", "100", true) == 0);
	allow_v1 = false;
	good_open();
	int fd = ih_connect(env.port);
	CU_ASSERT(ih_send_hello_raw(fd, 1, keys[2].token, 2) == 0);
	bool eof;
	Decp__IngestFrame *f = next_frame(fd, 3000, &eof);
	CU_ASSERT(f != NULL && f->kind_case == DECP__INGEST_FRAME__KIND_HELLO_ACK &&
		  f->hello_ack->protocol_version == 1);
	ih_frame_free(f);
	CU_ASSERT(ih_send_signal(fd, keys[2].secret, 2, 1, false) == 0);
	CU_ASSERT(expect_ack(fd, 1, DECP__ACK__STATUS__STATUS_OK));
	close(fd);
	fd = ih_connect(env.port);
	CU_ASSERT(ih_send_hello_raw(fd, 1, keys[3].token, 2) == 0); /* master 3's token */
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_BAD_TOKEN, 0));
	CU_ASSERT(expect_closed(fd, 2000));
	close(fd);
	uint64_t v1 = 0;
	for (unsigned int w = 0; w < cs.s.hdr->n_workers; w++)
		v1 += dp_stat_get(&cs.s.stats[w], DP_CTR_LOGINS_PROTOCOL_1);
	CU_ASSERT(v1 == 2);
	good_check();
	stop();
}

static void test_duplicate(void)
{
	CU_ASSERT_FATAL(start("dup", "10000", "100", true) == 0);
	good_open();
	int fd = login2();
	CU_ASSERT(ih_send_signal(fd, keys[2].secret, 2, 1, false) == 0);
	CU_ASSERT(expect_ack(fd, 1, DECP__ACK__STATUS__STATUS_OK));
	CU_ASSERT(ih_send_signal(fd, keys[2].secret, 2, 1, false) == 0);
	CU_ASSERT(expect_ack(fd, 1, DECP__ACK__STATUS__STATUS_DUPLICATE));
	CU_ASSERT(reason_count(DP_REASON_DUPLICATE) == 1);
	CU_ASSERT(expect_event(DP_REASON_DUPLICATE));
	/* Not re-enqueued, and the session goes on. */
	CU_ASSERT(enq_count[2] == 1);
	CU_ASSERT(ih_send_signal(fd, keys[2].secret, 2, 2, false) == 0);
	CU_ASSERT(expect_ack(fd, 2, DECP__ACK__STATUS__STATUS_OK));
	CU_ASSERT(enq_count[2] == 2);
	/* After a reconnect the HelloAck resumes after the last durable one. */
	close(fd);
	fd = ih_connect(env.port);
	CU_ASSERT(ih_send_hello(fd, keys[2].token, 2) == 0);
	CU_ASSERT(expect_hello_ack(fd, 3));
	close(fd);
	good_check();
	stop();
}

static void test_gap(void)
{
	CU_ASSERT_FATAL(start("gap", "10000", "100", true) == 0);
	good_open();
	int fd = login2();
	CU_ASSERT(ih_send_signal(fd, keys[2].secret, 2, 5, false) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_GAP, 1));
	CU_ASSERT(reason_count(DP_REASON_GAP) == 1);
	CU_ASSERT(expect_event(DP_REASON_GAP));
	CU_ASSERT(enq_count[2] == 0);
	/* The master resends from the expected sequence; the session stays open. */
	for (uint64_t s = 1; s <= 5; s++) {
		CU_ASSERT(ih_send_signal(fd, keys[2].secret, 2, s, false) == 0);
		CU_ASSERT(expect_ack(fd, s, DECP__ACK__STATUS__STATUS_OK));
	}
	CU_ASSERT(enq_count[2] == 5 && last_enq_seq[2] == 5);
	close(fd);
	good_check();
	stop();
}

static void test_slowloris(void)
{
	CU_ASSERT_FATAL(start("slowloris", "1000", "100", true) == 0);
	good_open();
	int fd = login2();
	uint8_t half[3] = {0, 0, 0};
	CU_ASSERT(ih_send_all(fd, half, 3) == 0);
	/* The good session keeps sending heartbeats, so only the half frame idles out. */
	bool closed = false;
	for (int i = 0; i < 60 && !closed; i++) {
		CU_ASSERT(ih_send_heartbeat(good_fd) == 0);
		bool eof;
		Decp__IngestFrame *f = ih_recv(good_fd, 3000, &eof);
		CU_ASSERT(f != NULL && f->kind_case == DECP__INGEST_FRAME__KIND_HEARTBEAT);
		ih_frame_free(f);
		pump();
		sleep_ms(50);
		f = ih_recv(fd, 1, &eof);
		ih_frame_free(f);
		closed = eof;
	}
	CU_ASSERT(closed);
	CU_ASSERT(reason_count(DP_REASON_IDLE_TIMEOUT) == 1);
	CU_ASSERT(expect_event(DP_REASON_IDLE_TIMEOUT));
	close(fd);
	good_check();
	stop();
}

static void test_replaced(void)
{
	CU_ASSERT_FATAL(start("replace", "10000", "100", true) == 0);
	good_open();
	int a = login2();
	CU_ASSERT(ih_send_signal(a, keys[2].secret, 2, 1, false) == 0);
	CU_ASSERT(expect_ack(a, 1, DECP__ACK__STATUS__STATUS_OK));
	int b = ih_connect(env.port);
	CU_ASSERT(ih_send_hello(b, keys[2].token, 2) == 0);
	CU_ASSERT(expect_hello_ack(b, 2));
	CU_ASSERT(expect_error(a, DECP__ERROR__CODE__CODE_REPLACED));
	CU_ASSERT(expect_closed(a, 2000));
	CU_ASSERT(reason_count(DP_REASON_REPLACED) == 1);
	CU_ASSERT(ih_send_signal(b, keys[2].secret, 2, 2, false) == 0);
	CU_ASSERT(expect_ack(b, 2, DECP__ACK__STATUS__STATUS_OK));
	close(a);
	close(b);
	good_check();
	stop();
}

static void test_login_rate_limit(void)
{
	CU_ASSERT_FATAL(start("ratelimit", "10000", "3", true) == 0);
	good_open();
	for (int i = 0; i < 3; i++) {
		int fd = ih_connect(env.port);
		CU_ASSERT(ih_send_hello(fd, "wrong", 2) == 0);
		CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_BAD_TOKEN, 0));
		CU_ASSERT(expect_closed(fd, 2000));
		close(fd);
	}
	/* Even a correct token is refused from this address until the bucket refills. */
	int fd = ih_connect(env.port);
	CU_ASSERT(ih_send_hello(fd, keys[2].token, 2) == 0);
	CU_ASSERT(expect_error(fd, DECP__ERROR__CODE__CODE_UNAUTHENTICATED));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_LOGIN_RATE) >= 1);
	close(fd);
	good_check();
	stop();
}

static void test_not_ready(void)
{
	CU_ASSERT_FATAL(start("notready", "10000", "100", false) == 0);
	int fd = ih_connect(env.port);
	CU_ASSERT(ih_send_hello(fd, keys[2].token, 2) == 0);
	CU_ASSERT(expect_nack(fd, DECP__NACK__REASON__REASON_UNAVAILABLE, 0));
	CU_ASSERT(expect_closed(fd, 2000));
	CU_ASSERT(reason_count(DP_REASON_NOT_READY) == 1);
	close(fd);
	struct dp_ctrl_cmd r;
	memset(&r, 0, sizeof(r));
	r.type = DP_CTRL_READY;
	CU_ASSERT(send_cmd(&r) == 0);
	CU_ASSERT(cp_ctrl_wait_applied(&cs, cookie, 5000) == 0);
	fd = login2();
	close(fd);
	stop();
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DATAPLANE_BIN\n", argv[0]);
		return 2;
	}
	ih_dataplane_bin = argv[1];
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("ingest_badinput", NULL, NULL);
	CU_add_test(s, "oversize frame", test_oversize_frame);
	CU_add_test(s, "garbage bytes", test_garbage);
	CU_add_test(s, "signal before hello", test_signal_before_hello);
	CU_add_test(s, "wrong token", test_wrong_token);
	CU_add_test(s, "revoked token", test_revoked_token);
	CU_add_test(s, "bad hmac", test_bad_hmac);
	CU_add_test(s, "signal without its Ed25519 signature: MALFORMED", test_no_ed25519_sig);
	CU_add_test(s, "master id mismatch", test_master_mismatch);
	CU_add_test(s, "duplicate", test_duplicate);
	CU_add_test(s, "gap", test_gap);
	CU_add_test(s, "slowloris idle timeout", test_slowloris);
	CU_add_test(s, "newer login replaces older", test_replaced);
	CU_add_test(s, "failed login rate limit", test_login_rate_limit);
	CU_add_test(s, "not ready", test_not_ready);
	CU_add_test(s, "captured login replayed", test_login_replay);
	CU_add_test(s, "old client protocol 1", test_old_client);
	CU_add_test(s, "protocol 1 with --allow-protocol-1", test_protocol_1_allowed);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	if (running)
		stop();
	unsigned int failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
