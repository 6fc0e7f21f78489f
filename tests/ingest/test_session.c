/*
 * Unit tests of the transport-independent session layer (dp_session): bytes in, bytes out,
 * records in the real ingress ring of a real segment, ACKs through the real ACK ring. The
 * "transport" here is just this file handing bytes over, as dp_posix does with sockets.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <rte_ring.h>

#include "dp_session.h"
#include "dp_shm.h"
#include "dp_tables.h"
#include "proto_hmac.h"
#include "proto_login.h"
#include "proto_msg.h"
#include "proto_positions.h"

#define NS 4
static struct dp_shm shm;
static struct dp_tables tables;
static struct dp_login_limiter limiter;
static struct dp_worker *wk;
static struct dp_session *sess; /* NS sessions */
static uint32_t gens[NS];
static uint8_t secret[32] = {1, 2, 3};
static const char *token = "unit-token";

static struct dp_session *op_lookup(void *tctx, uint64_t conn_id)
{
	(void)tctx;
	uint32_t slot = (uint32_t)(conn_id >> 32);
	return slot < NS && gens[slot] == (uint32_t)conn_id ? &sess[slot] : NULL;
}

static void op_kick(void *tctx, struct dp_session *s)
{
	(void)tctx;
	(void)s;
}

static int evicted = -1;

/* What a transport does: end the connection now, free the slot. */
static void op_evict(void *tctx, struct dp_session *s)
{
	(void)tctx;
	evicted = (int)(s - sess);
	dp_session_close(s);
	dp_session_release(s);
}

static const struct dp_transport_ops ops = {.lookup = op_lookup, .kick = op_kick,
					     .evict = op_evict};

static void apply(struct dp_ctrl_cmd *c, unsigned int n)
{
	unsigned int rej;
	CU_ASSERT_FATAL(dp_tables_apply(&tables, c, n, &rej) == 0);
	CU_ASSERT(rej == 0);
}

static int setup(void)
{
	char name[64];
	snprintf(name, sizeof(name), "decpu-sess-%d", (int)getpid());
	struct dp_shm_params p = {.name = name, .n_workers = 1, .ingress_entries = 16,
				  .ack_entries = 64, .ctrl_entries = 16};
	if (dp_shm_create(&shm, &p) != 0 || dp_tables_init(&tables, 16) != 0)
		return -1;
	dp_login_limiter_init(&limiter, 5, 1000000000ull);
	wk = calloc(1, sizeof(*wk));
	sess = calloc(NS, sizeof(*sess));
	struct dp_session_cfg cfg = {.max_frame = 4096, .idle_timeout_ns = 1000000000ull};
	if (wk == NULL || sess == NULL ||
	    dp_worker_init(wk, 0, &shm, &tables, &limiter, &cfg, &ops, NULL) != 0)
		return -1;
	struct dp_ctrl_cmd c[3];
	memset(c, 0, sizeof(c));
	unsigned int len = 0;
	c[0].type = DP_CTRL_ADD_TOKEN;
	c[0].master_id = 5;
	EVP_Digest(token, strlen(token), c[0].token_hash, &len, EVP_sha256(), NULL);
	c[1].type = DP_CTRL_SET_MASTER;
	c[1].master_id = 5;
	c[1].secret_len = 32;
	memcpy(c[1].secret, secret, 32);
	unsigned int rej;
	if (dp_tables_apply(&tables, c, 2, &rej) != 0 || rej != 0)
		return -1;
	atomic_store(&shm.hdr->dp_ready, 1);
	return 0;
}

static int teardown(void)
{
	dp_worker_fini(wk);
	free(wk);
	free(sess);
	dp_tables_fini(&tables);
	dp_shm_destroy(&shm);
	return 0;
}

static struct dp_session *open_session(unsigned int slot)
{
	struct dp_session *s = &sess[slot];
	if (s->state != DP_SS_FREE) {
		dp_session_close(s);
		dp_session_release(s);
	}
	gens[slot]++;
	struct dp_peer peer = {.family = 2, .port = 1000 + (uint16_t)slot};
	peer.addr[0] = 127;
	peer.addr[3] = 1;
	dp_worker_poll_begin(wk);
	dp_session_open(s, wk, (uint64_t)slot << 32 | gens[slot], &peer, 1000);
	return s;
}

static size_t frame_hello(uint8_t *out, size_t cap, uint64_t master)
{
	ssize_t n = proto_login_hello_frame(master, "test", out, cap);
	CU_ASSERT_FATAL(n > 0);
	return (size_t)n;
}

static Decp__IngestFrame *pop_reply(struct dp_session *s);

/* Log in (protocol 2): Hello, read the challenge, send the proof of tok. Leaves the
 * answer to the proof (HelloAck or a refusal) in the session's output. feed_bytewise:
 * one byte per dp_session_input call. Returns the challenge's nonce in nonce_out. */
static void login_ex(struct dp_session *s, const char *tok, uint64_t master, uint64_t now,
		     bool feed_bytewise, uint8_t nonce_out[32])
{
	uint8_t buf[512];
	size_t n = frame_hello(buf, sizeof(buf), master);
	if (feed_bytewise) {
		for (size_t i = 0; i < n; i++)
			CU_ASSERT(dp_session_input(s, buf + i, 1, now, 1) == 0);
	} else {
		CU_ASSERT(dp_session_input(s, buf, n, now, 1) == 0);
	}
	Decp__IngestFrame *f = pop_reply(s);
	CU_ASSERT_FATAL(f != NULL && f->kind_case == DECP__INGEST_FRAME__KIND_CHALLENGE);
	CU_ASSERT_FATAL(f->challenge->nonce.len == 32);
	if (nonce_out != NULL)
		memcpy(nonce_out, f->challenge->nonce.data, 32);
	ssize_t k = proto_login_proof_frame(tok, strlen(tok), f->challenge->nonce.data, 32,
					    master, NULL, buf, sizeof(buf));
	proto_msg_free(&f->base, NULL);
	CU_ASSERT_FATAL(k > 0);
	if (feed_bytewise) {
		for (ssize_t i = 0; i < k; i++)
			dp_session_input(s, buf + i, 1, now, 1);
	} else {
		dp_session_input(s, buf, (size_t)k, now, 1);
	}
}

static void login(struct dp_session *s, uint64_t now)
{
	login_ex(s, token, 5, now, false, NULL);
}

static size_t frame_signal_key(uint8_t *out, size_t cap, uint64_t master, uint64_t seq,
			       const uint8_t key[32]);

static size_t frame_signal(uint8_t *out, size_t cap, uint64_t master, uint64_t seq)
{
	return frame_signal_key(out, cap, master, seq, secret);
}

static size_t frame_signal_key(uint8_t *out, size_t cap, uint64_t master, uint64_t seq,
			       const uint8_t key[32])
{
	Decp__Signal s = DECP__SIGNAL__INIT;
	s.master_id = master;
	s.sequence = seq;
	s.symbol = "EURUSD";
	s.order_type = DECP__ORDER_TYPE__ORDER_TYPE_SELL;
	s.volume = 1;
	s.price = 108000;
	s.position_ticket = 9;
	s.master_time_ns = 5;
	uint8_t body[200], mac[32], sig[64];
	size_t blen = decp__signal__pack(&s, body);
	struct proto_hmac_key k;
	proto_hmac_key_init(&k, key, 32);
	proto_hmac_compute(&k, body, blen, mac);
	memset(sig, 0xab, sizeof(sig));
	Decp__SignedSignal ss = DECP__SIGNED_SIGNAL__INIT;
	ss.body.data = body;
	ss.body.len = blen;
	ss.hmac.data = mac;
	ss.hmac.len = 32;
	ss.ed25519_sig.data = sig;
	ss.ed25519_sig.len = 64;
	Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
	f.kind_case = DECP__MASTER_FRAME__KIND_SIGNAL;
	f.signal = &ss;
	ssize_t n = proto_msg_frame_pack(&f.base, 4096, out, cap);
	CU_ASSERT_FATAL(n > 0);
	return (size_t)n;
}

/* Pop the next reply frame from the session's output. */
static Decp__IngestFrame *pop_reply(struct dp_session *s)
{
	const uint8_t *p;
	size_t len = dp_session_out(s, &p);
	if (len < 4)
		return NULL;
	size_t flen = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	if (len < 4 + flen)
		return NULL;
	Decp__IngestFrame *f = proto_ingest_frame_decode(p + 4, flen, NULL);
	dp_session_out_consume(s, 4 + flen);
	return f;
}

static int reply_kind(struct dp_session *s, uint64_t *a, uint64_t *b)
{
	Decp__IngestFrame *f = pop_reply(s);
	if (f == NULL)
		return -1;
	int k = (int)f->kind_case;
	if (k == DECP__INGEST_FRAME__KIND_HELLO_ACK)
		*a = f->hello_ack->next_expected_sequence;
	else if (k == DECP__INGEST_FRAME__KIND_ACK)
		*a = f->ack->sequence, *b = (uint64_t)f->ack->status;
	else if (k == DECP__INGEST_FRAME__KIND_NACK)
		*a = (uint64_t)f->nack->reason, *b = f->nack->expected_sequence;
	else if (k == DECP__INGEST_FRAME__KIND_ERROR)
		*a = (uint64_t)f->error->code;
	proto_msg_free(&f->base, NULL);
	return k;
}

static unsigned int drain_ingress(struct dp_ingress_rec *out, unsigned int max)
{
	return rte_ring_sc_dequeue_burst_elem(shm.ingress[0], out, sizeof(*out), max, NULL);
}

static void ack_all(void)
{
	struct dp_ingress_rec r[16];
	unsigned int n = drain_ingress(r, 16);
	for (unsigned int i = 0; i < n; i++) {
		if (r[i].kind != DP_REC_SIGNAL)
			continue;
		struct dp_ack_rec a = {.master_id = r[i].master_id, .sequence = r[i].sequence,
				       .arrival_ns = r[i].arrival_ns, .conn_id = r[i].conn_id,
				       .status = DP_ACK_OK};
		CU_ASSERT(rte_ring_enqueue_elem(shm.ack[0], &a, sizeof(a)) == 0);
	}
	dp_worker_ack_poll(wk, 64);
}

static void reset_master(void)
{
	struct dp_ctrl_cmd c;
	memset(&c, 0, sizeof(c));
	c.type = DP_CTRL_SET_DURABLE;
	c.master_id = 5;
	apply(&c, 1);
	struct dp_ingress_rec r[16];
	while (drain_ingress(r, 16) > 0) {
	}
}

static void test_login_signal_ack(void)
{
	uint8_t buf[1024];
	uint64_t a = 0, b = 0;
	reset_master();
	struct dp_session *s = open_session(0);
	CU_ASSERT(s->state == DP_SS_AWAIT_HELLO);
	login(s, 2000);
	CU_ASSERT(s->state == DP_SS_ACTIVE);
	size_t n;
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_HELLO_ACK && a == 1);
	n = frame_signal(buf, sizeof(buf), 5, 1);
	CU_ASSERT(dp_session_input(s, buf, n, 3000, 123456789) == 0);
	struct dp_ingress_rec r;
	CU_ASSERT_FATAL(drain_ingress(&r, 1) == 1);
	CU_ASSERT(r.kind == DP_REC_SIGNAL && r.master_id == 5 && r.sequence == 1);
	CU_ASSERT(r.arrival_ns == 123456789); /* stamped with the transport's RX time */
	CU_ASSERT(r.sig_len == 64 && r.sig[0] == 0xab && r.hmac_len == 32);
	CU_ASSERT(r.body_len > 0 && r.body_len <= DP_BODY_MAX);
	CU_ASSERT(reply_kind(s, &a, &b) == -1); /* no ACK before durable */
	struct dp_ack_rec ack = {.master_id = 5, .sequence = 1, .arrival_ns = r.arrival_ns,
				 .conn_id = r.conn_id, .status = DP_ACK_OK};
	CU_ASSERT(rte_ring_enqueue_elem(shm.ack[0], &ack, sizeof(ack)) == 0);
	CU_ASSERT(dp_worker_ack_poll(wk, 64) == 1);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_ACK && a == 1 &&
		  b == DECP__ACK__STATUS__STATUS_OK);
	const struct dp_master_ent *me = dp_tables_master_find(wk->snap, 5);
	CU_ASSERT(atomic_load(&tables.rt[me->slot].last_durable) == 1);
	/* an ACK for a connection that is gone is counted, not delivered */
	dp_session_close(s);
	dp_session_release(s);
	uint64_t stale = dp_stat_get(wk->st, DP_CTR_ACK_STALE);
	CU_ASSERT(rte_ring_enqueue_elem(shm.ack[0], &ack, sizeof(ack)) == 0);
	dp_worker_ack_poll(wk, 64);
	CU_ASSERT(dp_stat_get(wk->st, DP_CTR_ACK_STALE) == stale + 1);
}

/* Boundary: a stream of several frames fed one byte at a time. */
static void test_byte_by_byte(void)
{
	uint8_t buf[4096];
	uint64_t a = 0, b = 0;
	reset_master();
	struct dp_session *s = open_session(1);
	login_ex(s, token, 5, 5000, true, NULL);
	size_t n = 0;
	for (uint64_t q = 1; q <= 3; q++)
		n += frame_signal(buf + n, sizeof(buf) - n, 5, q);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT(dp_session_input(s, buf + i, 1, 5000 + i, 1) == 0);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	struct dp_ingress_rec r[4];
	CU_ASSERT(drain_ingress(r, 4) == 3);
	CU_ASSERT(r[0].sequence == 1 && r[1].sequence == 2 && r[2].sequence == 3);
	CU_ASSERT(s->expect == 4);
}

static void test_busy_then_resend(void)
{
	uint8_t buf[1024];
	uint64_t a = 0, b = 0;
	reset_master();
	struct dp_session *s = open_session(2);
	size_t n;
	login(s, 1);
	reply_kind(s, &a, &b);
	/* 16-entry ring holds 15 */
	for (uint64_t q = 1; q <= 15; q++) {
		n = frame_signal(buf, sizeof(buf), 5, q);
		CU_ASSERT(dp_session_input(s, buf, n, 1, 1) == 0);
	}
	uint64_t busy0 = dp_stat_get(wk->st, DP_CTR_REASON_BASE + DP_REASON_BUSY);
	n = frame_signal(buf, sizeof(buf), 5, 16);
	dp_session_input(s, buf, n, 1, 1);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_NACK &&
		  a == DECP__NACK__REASON__REASON_BUSY);
	CU_ASSERT(dp_stat_get(wk->st, DP_CTR_REASON_BASE + DP_REASON_BUSY) == busy0 + 1);
	/* pipelined 17 is a gap, counted, but the BUSY already told the master: no 2nd Nack */
	n = frame_signal(buf, sizeof(buf), 5, 17);
	dp_session_input(s, buf, n, 1, 1);
	CU_ASSERT(reply_kind(s, &a, &b) == -1);
	CU_ASSERT(s->state == DP_SS_ACTIVE);
	/* consumer catches up; the resend of 16 goes in */
	ack_all();
	for (int i = 0; i < 15; i++)
		CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_ACK);
	n = frame_signal(buf, sizeof(buf), 5, 16);
	dp_session_input(s, buf, n, 1, 1);
	struct dp_ingress_rec r;
	CU_ASSERT(drain_ingress(&r, 1) == 1 && r.sequence == 16);
	/* duplicate of a durable one: Ack DUPLICATE, not enqueued */
	n = frame_signal(buf, sizeof(buf), 5, 3);
	dp_session_input(s, buf, n, 1, 1);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_ACK && a == 3 &&
		  b == DECP__ACK__STATUS__STATUS_DUPLICATE);
	CU_ASSERT(drain_ingress(&r, 1) == 1 && r.kind == DP_REC_PROTECTION &&
		  r.reason == DP_REASON_DUPLICATE);
}

static void test_idle_and_replaced(void)
{
	uint8_t buf[1024];
	uint64_t a = 0, b = 0;
	reset_master();
	struct dp_session *s1 = open_session(0);
	size_t n = frame_hello(buf, sizeof(buf), 5);
	login(s1, 1000);
	reply_kind(s1, &a, &b);
	struct dp_session *s2 = open_session(1);
	login(s2, 2000);
	CU_ASSERT(reply_kind(s2, &a, &b) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	/* the older session notices at its next tick */
	CU_ASSERT(dp_session_tick(s1, 3000) == -ECONNRESET);
	CU_ASSERT(s1->state == DP_SS_CLOSING && s1->close_reason == DP_REASON_REPLACED);
	CU_ASSERT(reply_kind(s1, &a, &b) == DECP__INGEST_FRAME__KIND_ERROR &&
		  a == DECP__ERROR__CODE__CODE_REPLACED);
	CU_ASSERT(dp_session_input(s1, buf, n, 3000, 1) == -ECONNRESET); /* no more reads */
	dp_session_close(s1);
	CU_ASSERT(s1->state == DP_SS_CLOSED);
	/* closing the older one does not steal ownership back */
	CU_ASSERT(dp_session_tick(s2, 4000) == 0);
	/* idle: exactly the timeout is still fine, one ns more closes */
	CU_ASSERT(dp_session_tick(s2, 2000 + 1000000000ull) == 0);
	CU_ASSERT(dp_session_tick(s2, 2001 + 1000000000ull) == -ECONNRESET);
	CU_ASSERT(s2->close_reason == DP_REASON_IDLE_TIMEOUT);
}

static void test_out_buffer_backpressure(void)
{
	uint8_t buf[1024];
	uint64_t a = 0, b = 0;
	reset_master();
	struct dp_session *s = open_session(3);
	size_t n;
	login(s, 1);
	reply_kind(s, &a, &b);
	Decp__Heartbeat hb = DECP__HEARTBEAT__INIT;
	Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
	f.kind_case = DECP__MASTER_FRAME__KIND_HEARTBEAT;
	f.heartbeat = &hb;
	n = (size_t)proto_msg_frame_pack(&f.base, 4096, buf, sizeof(buf));
	/* the peer reads nothing: rx_ok turns false before the buffer can overflow */
	int rounds = 0;
	while (dp_session_rx_ok(s) && rounds < 100000) {
		CU_ASSERT(dp_session_input(s, buf, n, 1, 1) == 0);
		rounds++;
	}
	CU_ASSERT(!dp_session_rx_ok(s));
	CU_ASSERT(s->state == DP_SS_ACTIVE && !s->out_overflow);
	const uint8_t *p;
	dp_session_out_consume(s, dp_session_out(s, &p));
	CU_ASSERT(dp_session_rx_ok(s));
	CU_ASSERT(strcmp(dp_session_state_name(DP_SS_CLOSING), "CLOSING") == 0);
}

/* Admit and open a connection from 10.0.0.<src> in slot (whatever was there is closed). */
static int admit_open(unsigned int slot, uint8_t src, uint32_t n_free, uint64_t now)
{
	struct dp_peer peer = {.family = 2, .port = 2000};
	peer.addr[0] = 10;
	peer.addr[3] = src;
	int rc = dp_worker_admit(wk, &peer, n_free);
	if (rc != 0)
		return rc;
	struct dp_session *s = &sess[slot];
	if (s->state != DP_SS_FREE) {
		dp_session_close(s);
		dp_session_release(s);
	}
	gens[slot]++;
	dp_worker_poll_begin(wk);
	dp_session_open(s, wk, (uint64_t)slot << 32 | gens[slot], &peer, now);
	return 0;
}

static uint64_t ctr(unsigned int c)
{
	return dp_stat_get(wk->st, c);
}

/* The pre-authentication budget: per-source limit, cap with eviction (silent ones first),
 * no room when every slot is logged in, Hello timeout. */
static void test_preauth_budget(void)
{
	uint64_t a = 0, b = 0;
	reset_master();
	for (unsigned int i = 0; i < NS; i++)
		if (sess[i].state != DP_SS_FREE) {
			dp_session_close(&sess[i]);
			dp_session_release(&sess[i]);
		}
	struct dp_session_cfg saved = wk->cfg;
	wk->cfg.preauth_per_src = 2;
	wk->cfg.preauth_max = 3;
	wk->cfg.hello_timeout_ns = 500;
	uint64_t src0 = ctr(DP_CTR_PREAUTH_SRC_REFUSED), ev0 = ctr(DP_CTR_PREAUTH_EVICTED);
	uint64_t full0 = ctr(DP_CTR_CONN_REFUSED);
	/* per source: the third pre-login connection of 10.0.0.1 is refused */
	CU_ASSERT(admit_open(0, 1, 4, 100) == 0);
	CU_ASSERT(admit_open(1, 1, 3, 110) == 0);
	CU_ASSERT(admit_open(2, 1, 2, 120) == -EMFILE);
	CU_ASSERT(ctr(DP_CTR_PREAUTH_SRC_REFUSED) == src0 + 1);
	CU_ASSERT(admit_open(2, 2, 2, 130) == 0);
	CU_ASSERT(wk->n_pre == 3 && ctr(DP_CTR_PRELOGIN) == 3);
	/* slot 1 says Hello: it is now "challenged" and outlives silent ones */
	uint8_t buf[256];
	ssize_t hn = proto_login_hello_frame(5, "t", buf, sizeof(buf));
	CU_ASSERT(dp_session_input(&sess[1], buf, (size_t)hn, 140, 1) == 0);
	Decp__IngestFrame *f = pop_reply(&sess[1]);
	CU_ASSERT_FATAL(f != NULL && f->kind_case == DECP__INGEST_FRAME__KIND_CHALLENGE);
	/* cap reached: the oldest silent one (slot 0) goes, not slot 1 */
	evicted = -1;
	CU_ASSERT(admit_open(3, 3, 1, 150) == 0);
	CU_ASSERT(evicted == 0 && ctr(DP_CTR_PREAUTH_EVICTED) == ev0 + 1);
	CU_ASSERT(wk->n_pre == 3);
	/* 10.0.0.1 has one pre-login connection left (slot 1): room for one more */
	evicted = -1;
	CU_ASSERT(admit_open(0, 1, 1, 160) == 0);
	CU_ASSERT(evicted == 2); /* the cap again: the oldest silent is slot 2 now */
	/* slot 1 logs in: it leaves the budget */
	ssize_t pn = proto_login_proof_frame(token, strlen(token), f->challenge->nonce.data, 32, 5,
					     NULL, buf, sizeof(buf));
	proto_msg_free(&f->base, NULL);
	CU_ASSERT(dp_session_input(&sess[1], buf, (size_t)pn, 170, 1) == 0);
	CU_ASSERT(sess[1].state == DP_SS_ACTIVE);
	CU_ASSERT(reply_kind(&sess[1], &a, &b) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	CU_ASSERT(wk->n_pre == 2);
	/* no free slot, but pre-login ones to evict: the oldest silent goes */
	evicted = -1;
	CU_ASSERT(admit_open(2, 4, 0, 180) == 0);
	CU_ASSERT(evicted == 3);
	/* Hello timeout: silent for longer than 500 ns of (test) time */
	CU_ASSERT(dp_session_tick(&sess[0], 160 + 500) == 0);
	uint64_t ht0 = ctr(DP_CTR_REASON_BASE + DP_REASON_HELLO_TIMEOUT);
	CU_ASSERT(dp_session_tick(&sess[0], 160 + 501) == -ECONNRESET);
	CU_ASSERT(sess[0].close_reason == DP_REASON_HELLO_TIMEOUT);
	CU_ASSERT(ctr(DP_CTR_REASON_BASE + DP_REASON_HELLO_TIMEOUT) == ht0 + 1);
	CU_ASSERT(dp_session_tick(&sess[1], 100000) == 0); /* logged in: not a Hello timeout */
	dp_session_close(&sess[0]);
	dp_session_release(&sess[0]);
	dp_session_close(&sess[2]);
	dp_session_release(&sess[2]);
	CU_ASSERT(wk->n_pre == 0 && ctr(DP_CTR_PRELOGIN) == 0);
	/* every slot logged in (none pre-login) and none free: refused */
	CU_ASSERT(admit_open(0, 9, 0, 200) == -ENOSPC);
	CU_ASSERT(ctr(DP_CTR_CONN_REFUSED) == full0 + 1);
	/* every source count went back to zero */
	for (unsigned int i = 0; i < DP_PRE_BUCKETS; i++)
		CU_ASSERT((atomic_load(&limiter.pre[i]) & 0xffffff) == 0);
	dp_session_close(&sess[1]);
	dp_session_release(&sess[1]);
	wk->cfg = saved;
}

/* Hello on one session of src, the challenge's nonce into nonce (false: refused). */
static bool hello_from(unsigned int slot, uint8_t src, uint64_t now, uint8_t nonce[32])
{
	uint8_t buf[256];
	CU_ASSERT_FATAL(admit_open(slot, src, NS, now) == 0);
	ssize_t hn = proto_login_hello_frame(5, "t", buf, sizeof(buf));
	CU_ASSERT_FATAL(hn > 0);
	dp_session_input(&sess[slot], buf, (size_t)hn, now, 1); /* -ECONNRESET when refused */
	Decp__IngestFrame *f = pop_reply(&sess[slot]);
	CU_ASSERT_FATAL(f != NULL);
	bool ok = f->kind_case == DECP__INGEST_FRAME__KIND_CHALLENGE;
	if (ok)
		memcpy(nonce, f->challenge->nonce.data, 32);
	proto_msg_free(&f->base, NULL);
	return ok;
}

/* The proof of tok for nonce on slot; the first reply's kind (a: Nack reason or Error code). */
static int proof_from(unsigned int slot, const char *tok, const uint8_t nonce[32], uint64_t now,
		      uint64_t *a)
{
	uint8_t buf[256];
	uint64_t b = 0;
	ssize_t pn = proto_login_proof_frame(tok, strlen(tok), nonce, 32, 5, NULL, buf, sizeof(buf));
	CU_ASSERT_FATAL(pn > 0);
	dp_session_input(&sess[slot], buf, (size_t)pn, now, 1);
	return reply_kind(&sess[slot], a, &b);
}

/* The failed-login budget (5 here, one more per second) bounds the proofs an address has
 * verified: connections of one address that all said Hello while one token was left get
 * one proof verified between them, the others are refused (login_rate) before theirs is
 * looked at; a proof that verifies gives its token back. */
static void test_login_budget_parallel(void)
{
	uint8_t nonce[NS][32];
	uint64_t a = 0, t = 7000000000000ull;
	reset_master();
	for (unsigned int i = 0; i < NS; i++)
		if (sess[i].state != DP_SS_FREE) {
			dp_session_close(&sess[i]);
			dp_session_release(&sess[i]);
		}
	/* five wrong proofs in a row spend the budget; the sixth Hello is refused */
	for (unsigned int i = 0; i < 5; i++) {
		CU_ASSERT_FATAL(hello_from(0, 77, t, nonce[0]));
		CU_ASSERT(proof_from(0, "wrong", nonce[0], t, &a) == DECP__INGEST_FRAME__KIND_NACK &&
			  a == DECP__NACK__REASON__REASON_BAD_TOKEN);
	}
	CU_ASSERT(!hello_from(0, 77, t, nonce[0]));
	/* a second later one token is back: three connections say Hello on it (each Hello
	 * only checks), then prove; one proof is verified, two are refused unverified */
	t += 1000000000ull;
	uint64_t rate0 = ctr(DP_CTR_REASON_BASE + DP_REASON_LOGIN_RATE);
	uint64_t bad0 = ctr(DP_CTR_REASON_BASE + DP_REASON_BAD_TOKEN);
	for (unsigned int i = 0; i < 3; i++)
		CU_ASSERT_FATAL(hello_from(i, 77, t, nonce[i]));
	unsigned int verified = 0, refused = 0;
	for (unsigned int i = 0; i < 3; i++) {
		int k = proof_from(i, "wrong", nonce[i], t, &a);
		if (k == DECP__INGEST_FRAME__KIND_NACK && a == DECP__NACK__REASON__REASON_BAD_TOKEN)
			verified++;
		else if (k == DECP__INGEST_FRAME__KIND_ERROR &&
			 a == DECP__ERROR__CODE__CODE_UNAUTHENTICATED)
			refused++;
		CU_ASSERT(sess[i].state == DP_SS_CLOSING);
	}
	CU_ASSERT(verified == 1 && refused == 2);
	CU_ASSERT(ctr(DP_CTR_REASON_BASE + DP_REASON_BAD_TOKEN) == bad0 + 1);
	CU_ASSERT(ctr(DP_CTR_REASON_BASE + DP_REASON_LOGIN_RATE) == rate0 + 2);
	/* a second later: the right token logs in and gives its token back, so a wrong proof
	 * after it is still verified; the next Hello is refused */
	t += 1000000000ull;
	CU_ASSERT_FATAL(hello_from(0, 77, t, nonce[0]));
	CU_ASSERT(proof_from(0, token, nonce[0], t, &a) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	CU_ASSERT(sess[0].state == DP_SS_ACTIVE);
	CU_ASSERT_FATAL(hello_from(1, 77, t, nonce[1]));
	CU_ASSERT(proof_from(1, "wrong", nonce[1], t, &a) == DECP__INGEST_FRAME__KIND_NACK &&
		  a == DECP__NACK__REASON__REASON_BAD_TOKEN);
	CU_ASSERT(!hello_from(2, 77, t, nonce[2]));
	for (unsigned int i = 0; i < NS; i++)
		if (sess[i].state != DP_SS_FREE) {
			dp_session_close(&sess[i]);
			dp_session_release(&sess[i]);
		}
}

/* Key rotation: the previous HMAC key is accepted until its end of overlap (wall clock),
 * not after, not once dropped; the current one always. */
/* v4 address 10.7.hi.lo as dp_peer holds it (v4-mapped) */
static struct dp_peer peer_v4(unsigned int n)
{
	struct dp_peer p = {.family = 2, .port = 4000};

	p.addr[10] = p.addr[11] = 0xff;
	p.addr[12] = 10;
	p.addr[13] = 7;
	p.addr[14] = (uint8_t)(n >> 8);
	p.addr[15] = (uint8_t)n;
	return p;
}

/* Does b's first take give a's spent bucket a full budget back (the two share a bucket:
 * a newcomer resets it)? a's budget is spent first; a and b take at time t. */
static bool refills(struct dp_login_limiter *l, const struct dp_peer *a, const struct dp_peer *b,
		    uint64_t t)
{
	while (dp_login_limiter_take(l, a, t))
		;
	return dp_login_limiter_take(l, b, t) && dp_login_limiter_take(l, a, t);
}

/*
 * Two addresses that share a failed-login bucket refill each other's budget (a newcomer
 * resets the bucket). Which addresses share one must depend on a secret, or an attacker
 * computes such a pair offline and gets unlimited guesses from two addresses. Under key
 * K1 a pair is found by trying; under K2 that pair shares nothing (with an unkeyed hash it
 * shares a bucket under every key).
 */
static void test_login_buckets_keyed(void)
{
	static struct dp_login_limiter l;
	const struct dp_siphash_key k1 = {0x0123456789abcdefull, 0x1122334455667788ull};
	const struct dp_siphash_key k2 = {0xfedcba9876543210ull, 0x8877665544332211ull};
	uint64_t t = 9000000000000ull; /* no refill between the takes: the same instant */
	struct dp_peer a = peer_v4(1), b;
	unsigned int n, found = 0;

	dp_login_limiter_init(&l, 20, 1000000000ull);
	l.key = k1;
	for (n = 2; n < 20000 && !found; n++) {
		b = peer_v4(n);
		found = refills(&l, &a, &b, t) ? n : 0;
	}
	CU_ASSERT_FATAL(found != 0); /* 1,024 buckets: some address of 20,000 shares a's */
	b = peer_v4(found);
	CU_ASSERT(refills(&l, &a, &b, t)); /* the pair, again under K1 */
	dp_login_limiter_init(&l, 20, 1000000000ull);
	l.key = k2;
	CU_ASSERT(!refills(&l, &a, &b, t));
	/* and a's budget stays spent whatever b does */
	CU_ASSERT(!dp_login_limiter_take(&l, &a, t));
}

static void test_hmac_rotation(void)
{
	uint8_t buf[1024], fresh[32];
	uint64_t a = 0, b = 0;
	memset(fresh, 0x77, sizeof(fresh));
	reset_master();
	struct dp_ctrl_cmd c[2];
	memset(c, 0, sizeof(c));
	c[0].type = DP_CTRL_SET_MASTER;
	c[0].master_id = 5;
	c[0].secret_len = 32;
	memcpy(c[0].secret, fresh, 32);
	c[1].type = DP_CTRL_SET_MASTER_PREV;
	c[1].master_id = 5;
	c[1].secret_len = 32;
	memcpy(c[1].secret, secret, 32);
	c[1].valid_until_ns = 5000;
	apply(c, 2);
	struct dp_session *s = open_session(0);
	login(s, 10);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	uint64_t used0 = dp_stat_get(wk->st, DP_CTR_HMAC_PREV_USED);
	size_t n = frame_signal(buf, sizeof(buf), 5, 1); /* the old key, inside the overlap */
	CU_ASSERT(dp_session_input(s, buf, n, 20, 4999) == 0);
	CU_ASSERT(dp_stat_get(wk->st, DP_CTR_HMAC_PREV_USED) == used0 + 1);
	n = frame_signal_key(buf, sizeof(buf), 5, 2, fresh); /* the new key */
	CU_ASSERT(dp_session_input(s, buf, n, 30, 4999) == 0);
	CU_ASSERT(dp_stat_get(wk->st, DP_CTR_HMAC_PREV_USED) == used0 + 1);
	struct dp_ingress_rec r[4];
	CU_ASSERT(drain_ingress(r, 4) == 2);
	/* the overlap is over at 5000 (wall ns): the old key is a bad HMAC */
	n = frame_signal(buf, sizeof(buf), 5, 3);
	CU_ASSERT(dp_session_input(s, buf, n, 40, 5000) == -ECONNRESET);
	CU_ASSERT(s->close_reason == DP_REASON_BAD_HMAC);
	drain_ingress(r, 4);
	/* revoked before its time (secret_len 0): refused at once */
	c[1].valid_until_ns = INT64_MAX;
	apply(&c[1], 1);
	s = open_session(1);
	login(s, 50);
	reply_kind(s, &a, &b);
	n = frame_signal(buf, sizeof(buf), 5, 3);
	CU_ASSERT(dp_session_input(s, buf, n, 60, 1) == 0);
	c[1].secret_len = 0;
	memset(c[1].secret, 0, 32);
	apply(&c[1], 1);
	dp_worker_poll_begin(wk);
	n = frame_signal(buf, sizeof(buf), 5, 4);
	CU_ASSERT(dp_session_input(s, buf, n, 70, 1) == -ECONNRESET);
	CU_ASSERT(s->close_reason == DP_REASON_BAD_HMAC);
	drain_ingress(r, 4);
	/* back to the original key for the other tests */
	memcpy(c[0].secret, secret, 32);
	apply(c, 1);
	dp_session_close(&sess[0]);
	dp_session_release(&sess[0]);
	dp_session_close(&sess[1]);
	dp_session_release(&sess[1]);
}

/* A MasterFrame{positions} of master, at seq, one entry, MACed under key (label or not). */
static size_t frame_positions(uint8_t *out, size_t cap, uint64_t master, uint64_t seq,
			      const uint8_t key[32], bool labeled)
{
	Decp__BookEntry e = DECP__BOOK_ENTRY__INIT, *ents[1] = {&e};
	e.ticket = 9;
	e.type = DECP__ORDER_TYPE__ORDER_TYPE_SELL;
	e.symbol = "EURUSD";
	e.volume = 1;
	e.price = 108000;
	Decp__Positions p = DECP__POSITIONS__INIT;
	p.master_id = master;
	p.sequence = seq;
	p.snapshot_id = 77;
	p.parts = 1;
	p.count = 1;
	p.entries = ents;
	p.n_entries = 1;
	struct proto_hmac_key k;
	struct proto_sealed_positions sp;
	proto_hmac_key_init(&k, key, 32);
	CU_ASSERT_FATAL(proto_positions_seal(&k, &p, &sp) == 0);
	if (!labeled)
		proto_hmac_compute(&k, sp.body, sp.body_len, sp.hmac);
	Decp__SignedPositions m = DECP__SIGNED_POSITIONS__INIT;
	m.body.data = sp.body;
	m.body.len = sp.body_len;
	m.hmac.data = sp.hmac;
	m.hmac.len = 32;
	Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
	f.kind_case = DECP__MASTER_FRAME__KIND_POSITIONS;
	f.positions = &m;
	ssize_t n = proto_msg_frame_pack(&f.base, 4096, out, cap);
	CU_ASSERT_FATAL(n > 0);
	return (size_t)n;
}

/* The master's own positions (issue 19): enqueued as DP_REC_POSITIONS with its body and
 * MAC, no reply; refused before login (protocol), with a MAC under the signal rule (no
 * label: bad_hmac), for another master (master_mismatch), at a sequence not durable yet
 * (protocol); dropped and counted when the ring is full. */
/* An ingress record of kind k among what is waiting (others are dropped); 1 found. */
static int find_rec(uint32_t kind, struct dp_ingress_rec *out)
{
	struct dp_ingress_rec r[16];
	unsigned int n = drain_ingress(r, 16);
	int found = 0;
	for (unsigned int i = 0; i < n; i++)
		if (r[i].kind == kind && !found) {
			*out = r[i];
			found = 1;
		}
	return found;
}

static void answer(uint32_t status, uint64_t conn_id, uint64_t seq, uint64_t gen)
{
	struct dp_ack_rec a = {.master_id = 5, .sequence = seq, .conn_id = conn_id,
			       .status = status};
	a.session_gen = gen;
	CU_ASSERT(rte_ring_enqueue_elem(shm.ack[0], &a, sizeof(a)) == 0);
	dp_worker_ack_poll(wk, 64);
}

/* Logins confirmed by the edge (layout 8, docs/ingest.md "One live session per master,
 * across edges"): LOGIN record, pending sub-state, LOGIN_OK with Redis's durable sequence,
 * CLOSE of a lost claim, LOGOUT at close, LOGIN_UNAVAILABLE, the confirmation timeout at
 * its boundary, a late answer released, a new control process. */
static void test_login_confirmed(void)
{
	uint8_t buf[1024];
	uint64_t a = 0, b = 0;
	struct dp_ingress_rec r;
	memset(&r, 0, sizeof(r));
	reset_master();
	atomic_store(&shm.hdr->dp_login_confirm, 1);
	atomic_store(&shm.hdr->dp_ready_attach, 7);

	struct dp_session *s = open_session(0);
	login(s, 2000);
	CU_ASSERT(s->state == DP_SS_AWAIT_HELLO && s->login_step == 2 && s->master_id == 0);
	CU_ASSERT(reply_kind(s, &a, &b) == -1); /* no HelloAck before the edge answers */
	CU_ASSERT_FATAL(find_rec(DP_REC_LOGIN, &r) == 1);
	CU_ASSERT(r.master_id == 5 && r.conn_id == s->conn_id && r.peer_port == 1000 &&
		  r.peer_family == 2 && r.session_gen == 0);
	/* Redis says 41 are durable (the master streamed through another edge): HelloAck 42 */
	answer(DP_ACK_LOGIN_OK, s->conn_id, 41, 7);
	CU_ASSERT(s->state == DP_SS_ACTIVE && s->session_gen == 7);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_HELLO_ACK && a == 42);
	const struct dp_master_ent *me = dp_tables_master_find(wk->snap, 5);
	CU_ASSERT(atomic_load(&tables.rt[me->slot].last_durable) == 41);
	size_t n = frame_signal(buf, sizeof(buf), 5, 42);
	CU_ASSERT(dp_session_input(s, buf, n, 3000, 1) == 0);
	CU_ASSERT(find_rec(DP_REC_SIGNAL, &r) == 1 && r.sequence == 42);
	/* CLOSE for another generation is not this session's; for its own: REPLACED */
	answer(DP_ACK_CLOSE, s->conn_id, 0, 8);
	CU_ASSERT(s->state == DP_SS_ACTIVE);
	answer(DP_ACK_CLOSE, s->conn_id, 0, 7);
	CU_ASSERT(s->state == DP_SS_CLOSING && s->close_reason == DP_REASON_REPLACED);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_ERROR &&
		  a == DECP__ERROR__CODE__CODE_REPLACED);
	dp_session_close(s);
	CU_ASSERT_FATAL(find_rec(DP_REC_LOGOUT, &r) == 1);
	CU_ASSERT(r.master_id == 5 && r.session_gen == 7 && r.conn_id == s->conn_id);
	dp_session_release(s);

	/* the edge cannot claim (Redis down): Nack UNAVAILABLE, closed, no LOGOUT */
	s = open_session(1);
	login(s, 4000);
	CU_ASSERT(find_rec(DP_REC_LOGIN, &r) == 1);
	answer(DP_ACK_LOGIN_UNAVAILABLE, s->conn_id, 0, 0);
	CU_ASSERT(s->state == DP_SS_CLOSING && s->close_reason == DP_REASON_NOT_READY);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_NACK &&
		  a == DECP__NACK__REASON__REASON_UNAVAILABLE);
	dp_session_close(s);
	CU_ASSERT(find_rec(DP_REC_LOGOUT, &r) == 0);
	dp_session_release(s);

	/* no answer: still pending at exactly DP_LOGIN_CONFIRM_NS, refused just after */
	s = open_session(2);
	login(s, 10000);
	CU_ASSERT(find_rec(DP_REC_LOGIN, &r) == 1);
	CU_ASSERT(dp_session_tick(s, 10000 + DP_LOGIN_CONFIRM_NS) == 0);
	CU_ASSERT(s->state == DP_SS_AWAIT_HELLO && s->login_step == 2);
	CU_ASSERT(dp_session_tick(s, 10000 + DP_LOGIN_CONFIRM_NS + 1) == -ECONNRESET);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_NACK &&
		  a == DECP__NACK__REASON__REASON_UNAVAILABLE);
	/* the late LOGIN_OK: counted stale, its claim released (LOGOUT of that generation) */
	uint64_t stale = dp_stat_get(wk->st, DP_CTR_LOGIN_CONFIRM_STALE);
	answer(DP_ACK_LOGIN_OK, s->conn_id, 41, 9);
	CU_ASSERT(dp_stat_get(wk->st, DP_CTR_LOGIN_CONFIRM_STALE) == stale + 1);
	CU_ASSERT(find_rec(DP_REC_LOGOUT, &r) == 1 && r.session_gen == 9 &&
		  r.conn_id == s->conn_id);
	dp_session_close(s);
	dp_session_release(s);

	/* a frame while pending is out of protocol order */
	s = open_session(3);
	login(s, 20000);
	CU_ASSERT(find_rec(DP_REC_LOGIN, &r) == 1);
	n = frame_signal(buf, sizeof(buf), 5, 42);
	CU_ASSERT(dp_session_input(s, buf, n, 20001, 1) == -ECONNRESET);
	CU_ASSERT(s->close_reason == DP_REASON_PROTOCOL);
	dp_session_close(s);
	dp_session_release(s);
	/* a Heartbeat too (an EA that heartbeats on a timer before its HelloAck): the same
	 * answer as any frame out of order, Nack STATE then Error PROTOCOL (docs/ingest.md) */
	s = open_session(3);
	login(s, 21000);
	CU_ASSERT(find_rec(DP_REC_LOGIN, &r) == 1);
	{
		Decp__Heartbeat hb = DECP__HEARTBEAT__INIT;
		Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;

		f.kind_case = DECP__MASTER_FRAME__KIND_HEARTBEAT;
		f.heartbeat = &hb;
		n = (size_t)proto_msg_frame_pack(&f.base, 4096, buf, sizeof(buf));
	}
	dp_session_input(s, buf, n, 21001, 1);
	CU_ASSERT(s->close_reason == DP_REASON_PROTOCOL);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_NACK &&
		  a == DECP__NACK__REASON__REASON_STATE);
	dp_session_close(s);
	dp_session_release(s);

	/* confirmed by a control process that is no longer the READY one: logs in again */
	s = open_session(0);
	login(s, 30000);
	CU_ASSERT(find_rec(DP_REC_LOGIN, &r) == 1);
	answer(DP_ACK_LOGIN_OK, s->conn_id, 42, 10);
	CU_ASSERT(s->state == DP_SS_ACTIVE);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_HELLO_ACK && a == 43);
	CU_ASSERT(dp_session_tick(s, 30001) == 0);
	atomic_store(&shm.hdr->dp_ready_attach, 8);
	CU_ASSERT(dp_session_tick(s, 30002) == -ECONNRESET);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_NACK &&
		  a == DECP__NACK__REASON__REASON_UNAVAILABLE);
	dp_session_close(s);
	CU_ASSERT(find_rec(DP_REC_LOGOUT, &r) == 1 && r.session_gen == 10);
	dp_session_release(s);

	/* a LOGOUT that finds the ingress ring full waits in the worker's backlog and goes
	 * out at the next ACK poll once there is room, not lost */
	atomic_store(&shm.hdr->dp_ready_attach, 8);
	s = open_session(1);
	login(s, 40000);
	CU_ASSERT(find_rec(DP_REC_LOGIN, &r) == 1);
	answer(DP_ACK_LOGIN_OK, s->conn_id, 42, 11);
	CU_ASSERT(s->state == DP_SS_ACTIVE);
	struct dp_ingress_rec fill;
	memset(&fill, 0, sizeof(fill));
	fill.kind = DP_REC_PROTECTION;
	while (rte_ring_sp_enqueue_elem(shm.ingress[0], &fill, sizeof(fill)) == 0) {
	}
	uint64_t lost = dp_stat_get(wk->st, DP_CTR_LOGOUT_LOST);
	dp_session_close(s);
	CU_ASSERT(wk->n_logout_q == 1);
	CU_ASSERT(find_rec(DP_REC_LOGOUT, &r) == 0); /* drains the ring: only fillers */
	dp_worker_ack_poll(wk, 64);
	CU_ASSERT(wk->n_logout_q == 0);
	CU_ASSERT(find_rec(DP_REC_LOGOUT, &r) == 1 && r.session_gen == 11 && r.master_id == 5);
	CU_ASSERT(dp_stat_get(wk->st, DP_CTR_LOGOUT_LOST) == lost);
	dp_session_release(s);

	atomic_store(&shm.hdr->dp_login_confirm, 0);
	atomic_store(&shm.hdr->dp_ready_attach, 0);
	reset_master();
}

static void test_positions(void)
{
	uint8_t buf[1024];
	uint64_t a = 0, b = 0;
	struct dp_ingress_rec r;
	size_t n;

	reset_master();
	/* before login */
	struct dp_session *s = open_session(2);
	n = frame_positions(buf, sizeof(buf), 5, 0, secret, true);
	dp_session_input(s, buf, n, 3000, 1);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_NACK &&
		  a == DECP__NACK__REASON__REASON_STATE);
	CU_ASSERT(s->state == DP_SS_CLOSING);
	CU_ASSERT(drain_ingress(&r, 1) == 1 && r.kind == DP_REC_PROTECTION &&
		  r.reason == DP_REASON_PROTOCOL);
	/* logged in, signal 1 durable, positions at 1: enqueued, not answered */
	s = open_session(2);
	login(s, 2000);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	n = frame_signal(buf, sizeof(buf), 5, 1);
	dp_session_input(s, buf, n, 3000, 1);
	ack_all();
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_ACK && a == 1);
	uint64_t enq = dp_stat_get(wk->st, DP_CTR_POSITIONS_ENQUEUED);
	n = frame_positions(buf, sizeof(buf), 5, 1, secret, true);
	CU_ASSERT(dp_session_input(s, buf, n, 3000, 4242) == 0);
	CU_ASSERT_FATAL(drain_ingress(&r, 1) == 1);
	CU_ASSERT(r.kind == DP_REC_POSITIONS && r.master_id == 5 && r.sequence == 1 &&
		  r.arrival_ns == 4242 && r.hmac_len == 32 && r.sig_len == 0);
	Decp__Positions *got = NULL;
	struct proto_hmac_key k;
	proto_hmac_key_init(&k, secret, 32);
	CU_ASSERT(proto_positions_open(r.body, r.body_len, r.hmac, r.hmac_len, &k, NULL, &got) == 0);
	if (got != NULL)
		decp__positions__free_unpacked(got, NULL);
	CU_ASSERT(dp_stat_get(wk->st, DP_CTR_POSITIONS_ENQUEUED) == enq + 1);
	CU_ASSERT(reply_kind(s, &a, &b) == -1);
	CU_ASSERT(s->state == DP_SS_ACTIVE);
	/* ring full: dropped, counted, the session goes on */
	struct dp_ingress_rec fill = {.kind = DP_REC_PROTECTION};
	unsigned int filled = 0;
	while (rte_ring_enqueue_elem(shm.ingress[0], &fill, sizeof(fill)) == 0)
		filled++;
	uint64_t dropped = dp_stat_get(wk->st, DP_CTR_POSITIONS_DROPPED);
	dp_session_input(s, buf, n, 3000, 1);
	CU_ASSERT(dp_stat_get(wk->st, DP_CTR_POSITIONS_DROPPED) == dropped + 1);
	CU_ASSERT(s->state == DP_SS_ACTIVE && reply_kind(s, &a, &b) == -1);
	struct dp_ingress_rec sink[64];
	while (drain_ingress(sink, 64) > 0) {
	}
	CU_ASSERT(filled > 0);
	/* ahead of what is durable: protocol, closed */
	n = frame_positions(buf, sizeof(buf), 5, 2, secret, true);
	dp_session_input(s, buf, n, 3000, 1);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_NACK &&
		  a == DECP__NACK__REASON__REASON_STATE);
	CU_ASSERT(s->state == DP_SS_CLOSING);
	CU_ASSERT(drain_ingress(&r, 1) == 1 && r.reason == DP_REASON_PROTOCOL);
	/* a MAC under the signal rule (no label): bad_hmac, closed */
	s = open_session(2);
	login(s, 2000);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	n = frame_positions(buf, sizeof(buf), 5, 1, secret, false);
	dp_session_input(s, buf, n, 3000, 1);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_NACK &&
		  a == DECP__NACK__REASON__REASON_BAD_SIGNATURE);
	CU_ASSERT(s->state == DP_SS_CLOSING);
	CU_ASSERT(drain_ingress(&r, 1) == 1 && r.reason == DP_REASON_BAD_HMAC);
	/* another master's positions on this session */
	s = open_session(2);
	login(s, 2000);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	n = frame_positions(buf, sizeof(buf), 6, 1, secret, true);
	dp_session_input(s, buf, n, 3000, 1);
	CU_ASSERT(reply_kind(s, &a, &b) == DECP__INGEST_FRAME__KIND_NACK &&
		  a == DECP__NACK__REASON__REASON_MASTER_MISMATCH);
	CU_ASSERT(drain_ingress(&r, 1) == 1 && r.reason == DP_REASON_MASTER_MISMATCH);
	dp_session_close(s);
	dp_session_release(s);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("ingest_session", setup, teardown);
	CU_add_test(s, "login, signal, ack", test_login_signal_ack);
	CU_add_test(s, "frames fed byte by byte", test_byte_by_byte);
	CU_add_test(s, "busy then resend, duplicate", test_busy_then_resend);
	CU_add_test(s, "replaced and idle timeout", test_idle_and_replaced);
	CU_add_test(s, "out buffer backpressure", test_out_buffer_backpressure);
	CU_add_test(s, "pre-login budget", test_preauth_budget);
	CU_add_test(s, "failed-login budget: parallel proofs", test_login_budget_parallel);
	CU_add_test(s, "failed-login buckets: a secret decides who shares one",
		    test_login_buckets_keyed);
	CU_add_test(s, "HMAC key rotation overlap", test_hmac_rotation);
	CU_add_test(s, "the master's own positions", test_positions);
	CU_add_test(s, "logins confirmed by the edge", test_login_confirmed);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
