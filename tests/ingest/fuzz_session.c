/*
 * libFuzzer target: arbitrary byte streams into one ingest session (dp_session_input), with
 * a real segment, real tables holding one master (token "fuzz-token", master 5, secret
 * 32 x 0x11), ticks and ACKs in between. The first input byte picks the chunk size (low 6
 * bits), so the framing is exercised at every split, and whether the harness answers a
 * ServerChallenge with the right LoginProof (bit 7: the fuzzer cannot guess the random
 * nonce, so without it nothing after the login would be reached; with bit 7 clear it
 * exercises wrong proofs of its own). Seeds: tests/ingest/session_seeds/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <rte_ring.h>

#include "dp_session.h"
#include "dp_shm.h"
#include "dp_tables.h"
#include "proto_login.h"
#include "proto_msg.h"

static struct dp_shm shm;
static struct dp_tables tables;
static struct dp_login_limiter limiter;
static struct dp_worker *wk;
static struct dp_session *sess;
static uint32_t gen;

static struct dp_session *op_lookup(void *tctx, uint64_t conn_id)
{
	(void)tctx;
	return (uint32_t)conn_id == gen ? sess : NULL;
}

static void op_kick(void *tctx, struct dp_session *s)
{
	(void)tctx;
	(void)s;
}

static const struct dp_transport_ops ops = {.lookup = op_lookup, .kick = op_kick};

static void init_once(void)
{
	char name[64];
	snprintf(name, sizeof(name), "decpf-sess-%d", (int)getpid());
	struct dp_shm_params p = {.name = name, .n_workers = 1, .ingress_entries = 64,
				  .ack_entries = 64, .ctrl_entries = 16};
	struct dp_session_cfg cfg = {.max_frame = 4096, .idle_timeout_ns = 1000000000ull};
	wk = calloc(1, sizeof(*wk));
	sess = calloc(1, sizeof(*sess));
	if (wk == NULL || sess == NULL || dp_shm_create(&shm, &p) != 0 ||
	    dp_tables_init(&tables, 4) != 0)
		abort();
	/* The segment must not outlive the fuzzer: unlink now, the mapping stays valid. */
	char path[80];
	snprintf(path, sizeof(path), "/%s", name);
	shm_unlink(path);
	dp_login_limiter_init(&limiter, 1000, 1);
	if (dp_worker_init(wk, 0, &shm, &tables, &limiter, &cfg, &ops, NULL) != 0)
		abort();
	struct dp_ctrl_cmd c[2];
	memset(c, 0, sizeof(c));
	unsigned int len = 0;
	c[0].type = DP_CTRL_ADD_TOKEN;
	c[0].master_id = 5;
	EVP_Digest("fuzz-token", 10, c[0].token_hash, &len, EVP_sha256(), NULL);
	c[1].type = DP_CTRL_SET_MASTER;
	c[1].master_id = 5;
	c[1].secret_len = 32;
	memset(c[1].secret, 0x11, 32);
	unsigned int rej;
	if (dp_tables_apply(&tables, c, 2, &rej) != 0)
		abort();
	atomic_store(&shm.hdr->dp_ready, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Drop the session's output; when it holds a ServerChallenge and answer is set, feed the
 * correct LoginProof for "fuzz-token" / master 5 back in. */
static void drain_output(bool answer, uint64_t now)
{
	const uint8_t *p;
	size_t len = dp_session_out(sess, &p);
	uint8_t nonce[32];
	bool got = false;
	for (size_t off = 0; answer && off + 4 <= len;) {
		size_t fl = (size_t)p[off] << 24 | (size_t)p[off + 1] << 16 |
			    (size_t)p[off + 2] << 8 | p[off + 3];
		if (off + 4 + fl > len)
			break;
		Decp__IngestFrame *f = proto_ingest_frame_decode(p + off + 4, fl, NULL);
		if (f != NULL && f->kind_case == DECP__INGEST_FRAME__KIND_CHALLENGE &&
		    f->challenge->nonce.len == 32) {
			memcpy(nonce, f->challenge->nonce.data, 32);
			got = true;
		}
		proto_msg_free(f != NULL ? &f->base : NULL, NULL);
		off += 4 + fl;
	}
	dp_session_out_consume(sess, len);
	if (got && dp_session_rx_ok(sess)) {
		uint8_t fr[128];
		ssize_t n = proto_login_proof_frame("fuzz-token", 10, nonce, 32, 5, NULL, fr,
						    sizeof(fr));
		if (n > 0)
			dp_session_input(sess, fr, (size_t)n, now, (int64_t)now);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (wk == NULL)
		init_once();
	if (size == 0)
		return 0;
	size_t chunk = (size_t)(data[0] % 64) + 1;
	bool answer = (data[0] & 0x80) != 0;
	data++;
	size--;
	for (unsigned int i = 0; i < tables.rt_cap; i++) {
		atomic_store(&tables.rt[i].last_durable, 0);
		atomic_store(&tables.rt[i].owner, 0);
	}
	gen++;
	dp_worker_poll_begin(wk);
	dp_session_open(sess, wk, gen, NULL, 1);
	uint64_t now = 1;
	while (size > 0) {
		size_t n = size < chunk ? size : chunk;
		if (n > DP_SESSION_RX_CHUNK)
			n = DP_SESSION_RX_CHUNK;
		if (!dp_session_rx_ok(sess))
			break;
		if (dp_session_input(sess, data, n, now, (int64_t)now) != 0)
			break;
		data += n;
		size -= n;
		now += 1000;
		/* the consumer ACKs whatever was enqueued */
		struct dp_ingress_rec r[8];
		unsigned int k = rte_ring_sc_dequeue_burst_elem(shm.ingress[0], r, sizeof(r[0]), 8,
								NULL);
		for (unsigned int i = 0; i < k; i++) {
			if (r[i].kind != DP_REC_SIGNAL)
				continue;
			struct dp_ack_rec a = {.master_id = r[i].master_id, .sequence = r[i].sequence,
					       .conn_id = r[i].conn_id, .status = DP_ACK_OK};
			rte_ring_enqueue_elem(shm.ack[0], &a, sizeof(a));
		}
		dp_worker_ack_poll(wk, 64);
		drain_output(answer, now);
	}
	dp_session_tick(sess, now + 2000000000ull);
	dp_session_close(sess);
	dp_session_release(sess);
	struct dp_ingress_rec r[16];
	while (rte_ring_sc_dequeue_burst_elem(shm.ingress[0], r, sizeof(r[0]), 16, NULL) > 0) {
	}
	return 0;
}
