/*
 * Unit tests of the shared-memory segment (dp_shm), the control-side attach library
 * (cp_shm), the RCU tables (dp_tables) and the histogram math (dp_hist). Real shm objects
 * (unique names), rings initialised in them with rte_ring_init, no EAL anywhere.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_ring.h>

#include "cp_shm.h"
#include "dp_hist.h"
#include "dp_shm.h"
#include "dp_tables.h"

static char name[64];

static void make_name(const char *tag)
{
	static unsigned int n;
	snprintf(name, sizeof(name), "decpu-%s-%d-%u", tag, (int)getpid(), n++);
}

static struct dp_shm_params params(uint32_t workers)
{
	struct dp_shm_params p = {.name = name, .n_workers = workers, .ingress_entries = 100,
				  .ack_entries = 64, .ctrl_entries = 16};
	return p;
}

static void test_layout(void)
{
	struct dp_shm_hdr h;
	memset(&h, 0, sizeof(h));
	make_name("layout");
	struct dp_shm_params p = params(3);
	CU_ASSERT(dp_shm_layout(&p, &h) == 0);
	CU_ASSERT(h.ingress_entries == 128); /* rounded up to a power of two */
	CU_ASSERT(h.ack_entries == 64);
	CU_ASSERT(h.off_stats % DP_CACHE_LINE == 0);
	for (unsigned int i = 0; i < 3; i++) {
		CU_ASSERT(h.off_ingress[i] % DP_CACHE_LINE == 0);
		CU_ASSERT(h.off_ack[i] > h.off_ingress[i]);
		if (i > 0)
			CU_ASSERT(h.off_ingress[i] > h.off_ack[i - 1]);
	}
	CU_ASSERT(h.total_size > h.off_ack[2]);
	/* boundaries */
	p.n_workers = 0;
	CU_ASSERT(dp_shm_layout(&p, &h) == -EINVAL);
	p.n_workers = DP_SHM_MAX_WORKERS + 1;
	CU_ASSERT(dp_shm_layout(&p, &h) == -EINVAL);
	CU_ASSERT(offsetof(struct dp_shm_hdr, dp_state) % DP_CACHE_LINE == 0);
	CU_ASSERT(offsetof(struct dp_shm_hdr, cp_pid) % DP_CACHE_LINE == 0);
	CU_ASSERT(sizeof(struct dp_stats) % DP_CACHE_LINE == 0);
}

static void test_create_attach_rings(void)
{
	struct dp_shm dp;
	struct cp_shm cp;
	make_name("rings");
	struct dp_shm_params p = params(2);
	CU_ASSERT(cp_shm_attach(&cp, name) == -ENOENT);
	CU_ASSERT_FATAL(dp_shm_create(&dp, &p) == 0);
	CU_ASSERT_FATAL(cp_shm_attach(&cp, name) == 0);
	CU_ASSERT(cp.s.hdr->n_workers == 2);
	CU_ASSERT(atomic_load(&dp.hdr->cp_pid) == (int32_t)getpid());

	/* ingress: worker 1 -> control, by value, in order */
	struct dp_ingress_rec r, out[8];
	memset(&r, 0, sizeof(r));
	r.kind = DP_REC_SIGNAL;
	r.master_id = 7;
	for (uint64_t s = 1; s <= 5; s++) {
		r.sequence = s;
		r.body_len = 3;
		memcpy(r.body, "abc", 3);
		CU_ASSERT(rte_ring_sp_enqueue_elem(dp.ingress[1], &r, sizeof(r)) == 0);
	}
	CU_ASSERT(cp_ingress_pending(&cp) == 5);
	CU_ASSERT(cp_ingress_dequeue(&cp, 0, out, 8) == 0);
	CU_ASSERT(cp_ingress_dequeue(&cp, 1, out, 8) == 5);
	for (unsigned int i = 0; i < 5; i++)
		CU_ASSERT(out[i].sequence == i + 1 && out[i].master_id == 7 &&
			  memcmp(out[i].body, "abc", 3) == 0);
	CU_ASSERT(cp_ingress_dequeue(&cp, 9, out, 8) == 0); /* worker out of range */

	/* ring full: capacity is entries - 1 */
	unsigned int n = 0;
	while (rte_ring_sp_enqueue_elem(dp.ingress[0], &r, sizeof(r)) == 0)
		n++;
	CU_ASSERT(n == 127);

	/* ACK: control -> worker 0 */
	struct dp_ack_rec a[3], ain[3];
	memset(a, 0, sizeof(a));
	for (int i = 0; i < 3; i++)
		a[i].sequence = (uint64_t)i + 10;
	CU_ASSERT(cp_ack_enqueue(&cp, 0, a, 3) == 3);
	CU_ASSERT(rte_ring_sc_dequeue_burst_elem(dp.ack[0], ain, sizeof(ain[0]), 3, NULL) == 3);
	CU_ASSERT(ain[2].sequence == 12);

	/* control ring: 15 commands fit, then -ENOBUFS */
	struct dp_ctrl_cmd c;
	memset(&c, 0, sizeof(c));
	c.type = DP_CTRL_READY;
	int sent = 0;
	while (cp_ctrl_send(&cp, &c) == 0)
		sent++;
	CU_ASSERT(sent == 15);
	CU_ASSERT(cp_ctrl_send(&cp, &c) == -ENOBUFS);

	CU_ASSERT(cp_shm_check(&cp, 0) == CP_SHM_OK);
	cp_shm_detach(&cp);
	CU_ASSERT(atomic_load(&dp.hdr->cp_pid) == 0);
	dp_shm_destroy(&dp);
}

/*
 * cp_ingress_dequeue_fair: worker 0's ring full (127), worker 1's holding 10. A batch of
 * 64 takes from both (32 + 10, then 22 more of worker 0), every ring in its order; the
 * next call begins with worker 1. (Taking worker 0's first until the batch was full let a
 * busy worker keep the other's signals and logins waiting for seconds at full rate.)
 */
static void test_dequeue_fair(void)
{
	struct dp_shm dp;
	struct cp_shm cp;
	make_name("fair");
	struct dp_shm_params p = params(2);
	CU_ASSERT_FATAL(dp_shm_create(&dp, &p) == 0);
	CU_ASSERT_FATAL(cp_shm_attach(&cp, name) == 0);
	struct dp_ingress_rec r, out[64];
	memset(&r, 0, sizeof(r));
	r.kind = DP_REC_SIGNAL;
	for (unsigned int w = 0; w < 2; w++) {
		r.master_id = w + 1;
		for (r.sequence = 1; (w == 1 ? r.sequence <= 10 : true) &&
		     rte_ring_sp_enqueue_elem(dp.ingress[w], &r, sizeof(r)) == 0; r.sequence++)
			;
	}
	CU_ASSERT(cp_ingress_pending(&cp) == 137);
	unsigned int next = 0, n = cp_ingress_dequeue_fair(&cp, out, 64, &next);
	CU_ASSERT(n == 64);
	CU_ASSERT(next == 1);
	unsigned int got[2] = {0, 0};
	uint64_t last[2] = {0, 0};
	for (unsigned int i = 0; i < n; i++) {
		unsigned int w = (unsigned int)out[i].master_id - 1;
		CU_ASSERT(out[i].sequence == last[w] + 1); /* each ring in its order */
		last[w] = out[i].sequence;
		got[w]++;
	}
	CU_ASSERT(got[0] == 54 && got[1] == 10);
	/* the next call begins with worker 1 (now empty) and fills from worker 0 */
	n = cp_ingress_dequeue_fair(&cp, out, 64, &next);
	CU_ASSERT(n == 64 && out[0].master_id == 1 && out[0].sequence == 55);
	CU_ASSERT(next == 0);
	/* one record from worker 1 is taken even when worker 0 could fill a batch of 1 */
	r.master_id = 2;
	r.sequence = 11;
	CU_ASSERT(rte_ring_sp_enqueue_elem(dp.ingress[1], &r, sizeof(r)) == 0);
	next = 1;
	CU_ASSERT(cp_ingress_dequeue_fair(&cp, out, 1, &next) == 1 && out[0].master_id == 2);
	CU_ASSERT(cp_ingress_dequeue_fair(&cp, out, 0, &next) == 0);
	cp_shm_detach(&cp);
	dp_shm_destroy(&dp);
}

static void test_restart_detection(void)
{
	struct dp_shm dp, dp2;
	struct cp_shm cp;
	make_name("restart");
	struct dp_shm_params p = params(1);
	CU_ASSERT_FATAL(dp_shm_create(&dp, &p) == 0);
	CU_ASSERT_FATAL(cp_shm_attach(&cp, name) == 0);
	int64_t gen = cp.generation;
	/* Dataplane "crashes" (no STOPPED) and a new one creates the segment again. */
	struct dp_shm old = dp;
	CU_ASSERT_FATAL(dp_shm_create(&dp2, &p) == 0);
	CU_ASSERT(cp_shm_check(&cp, 0) == CP_SHM_RESTARTED);
	cp_shm_detach(&cp);
	CU_ASSERT_FATAL(cp_shm_attach(&cp, name) == 0);
	CU_ASSERT(cp.generation != gen);
	CU_ASSERT(cp_shm_check(&cp, 0) == CP_SHM_OK);
	/* heartbeat stale */
	atomic_store(&dp2.hdr->dp_heartbeat_ns, 1);
	CU_ASSERT(cp_shm_check(&cp, 1000000) == CP_SHM_STALE);
	/* clean stop */
	dp_shm_destroy(&dp2);
	CU_ASSERT(cp_shm_check(&cp, 0) == CP_SHM_STOPPED);
	cp_shm_detach(&cp);
	munmap(old.hdr, old.size);
}

static void test_attach_rejects_other_layouts(void)
{
	struct dp_shm dp;
	struct cp_shm cp;
	make_name("version");
	struct dp_shm_params p = params(1);
	CU_ASSERT_FATAL(dp_shm_create(&dp, &p) == 0);
	CU_ASSERT(cp_shm_layout_of(name) == DP_SHM_LAYOUT_VERSION);
	dp.hdr->layout_version = DP_SHM_LAYOUT_VERSION + 1;
	CU_ASSERT(cp_shm_attach(&cp, name) == -EPROTO);
	/* the edge's message names the segment's layout (docs/operations.md "Upgrades") */
	CU_ASSERT(cp_shm_layout_of(name) == DP_SHM_LAYOUT_VERSION + 1);
	CU_ASSERT(cp_shm_layout_of("decp-no-such-segment") == 0);
	dp.hdr->layout_version = DP_SHM_LAYOUT_VERSION;
	dp.hdr->ingress_elem_size = 256;
	CU_ASSERT(cp_shm_attach(&cp, name) == -EPROTO);
	dp.hdr->ingress_elem_size = sizeof(struct dp_ingress_rec);
	atomic_store(&dp.hdr->magic, 0);
	CU_ASSERT(cp_shm_attach(&cp, name) == -EAGAIN); /* not published (yet) */
	CU_ASSERT(cp_shm_layout_of(name) == 0);
	atomic_store(&dp.hdr->magic, DP_SHM_MAGIC);
	dp.hdr->off_ack[0] = dp.hdr->total_size + 64;
	CU_ASSERT(cp_shm_attach(&cp, name) == -EPROTO);
	dp_shm_destroy(&dp);
}

/* A control process killed in the middle of an enqueue/dequeue must not wedge the next one:
 * simulate the half-done operations and attach as the successor. */
static void test_attach_repairs_dead_predecessor(void)
{
	struct dp_shm dp;
	struct cp_shm cp;
	make_name("repair");
	struct dp_shm_params p = params(1);
	CU_ASSERT_FATAL(dp_shm_create(&dp, &p) == 0);
	/* a live other process attached: refused */
	atomic_store(&dp.hdr->cp_pid, (int32_t)getppid());
	CU_ASSERT(cp_shm_attach(&cp, name) == -EBUSY);
	/* a dead one (a child that has exited) */
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	atomic_store(&dp.hdr->cp_pid, (int32_t)child);
	struct dp_ingress_rec r;
	memset(&r, 0, sizeof(r));
	r.sequence = 1;
	CU_ASSERT(rte_ring_sp_enqueue_elem(dp.ingress[0], &r, sizeof(r)) == 0);
	r.sequence = 2;
	CU_ASSERT(rte_ring_sp_enqueue_elem(dp.ingress[0], &r, sizeof(r)) == 0);
	/* predecessor: reserved 1 ACK slot (head moved, tail not), was dequeuing record 1 */
	dp.ack[0]->prod.head += 1;
	dp.ctrl->prod.head += 1;
	dp.ingress[0]->cons.head += 1;
	CU_ASSERT_FATAL(cp_shm_attach(&cp, name) == 0);
	struct dp_ack_rec a;
	memset(&a, 0, sizeof(a));
	a.sequence = 77;
	CU_ASSERT(cp_ack_enqueue(&cp, 0, &a, 1) == 1);
	struct dp_ack_rec got[2];
	CU_ASSERT(rte_ring_sc_dequeue_burst_elem(dp.ack[0], got, sizeof(got[0]), 2, NULL) == 1);
	CU_ASSERT(got[0].sequence == 77); /* nothing half-written was published */
	struct dp_ctrl_cmd c;
	memset(&c, 0, sizeof(c));
	CU_ASSERT(cp_ctrl_send(&cp, &c) == 0);
	CU_ASSERT(rte_ring_count(dp.ctrl) == 1);
	struct dp_ingress_rec out[4];
	CU_ASSERT(cp_ingress_dequeue(&cp, 0, out, 4) == 2); /* record 1 delivered again */
	CU_ASSERT(out[0].sequence == 1 && out[1].sequence == 2);
	cp_shm_detach(&cp);
	dp_shm_destroy(&dp);
}

static void test_hist(void)
{
	for (uint64_t v = 0; v < 16; v++)
		CU_ASSERT(dp_hist_index(v) == v && dp_hist_bucket_max((unsigned int)v) == v);
	/* every value lies at or below its bucket's max, within 1/16 */
	for (uint64_t v = 16; v < (1ull << 40); v = v * 3 / 2 + 1) {
		unsigned int i = dp_hist_index(v);
		uint64_t mx = dp_hist_bucket_max(i);
		CU_ASSERT(v <= mx);
		CU_ASSERT((double)(mx - v) <= (double)v / 16.0 + 1.0);
		CU_ASSERT(i < DP_HIST_BUCKETS);
	}
	CU_ASSERT(dp_hist_index(UINT64_MAX) == DP_HIST_BUCKETS - 1);
	static struct dp_hist h;
	memset(&h, 0, sizeof(h));
	for (uint64_t v = 1; v <= 1000; v++)
		dp_hist_record(&h, v * 1000);
	const struct dp_hist *hs[1] = {&h};
	uint64_t p50 = dp_hist_quantile(hs, 1, 0.5), p99 = dp_hist_quantile(hs, 1, 0.99);
	CU_ASSERT(p50 >= 500000 && p50 <= 500000 * 17 / 16);
	CU_ASSERT(p99 >= 990000 && p99 <= 990000 * 17 / 16);
	CU_ASSERT(atomic_load(&h.count) == 1000);
}

static void test_tables_commands(void)
{
	struct dp_tables t;
	CU_ASSERT_FATAL(dp_tables_init(&t, 4) == 0);
	/* Generations: 1 at init, one more per published snapshot (sessions keep their
	 * token and master lookups while it stays the same). */
	CU_ASSERT(dp_tables_snap(&t)->gen == 1);
	struct dp_ctrl_cmd c[200];
	memset(c, 0, sizeof(c));
	/* 100 tokens for masters 1..3, keys for 1..3 */
	for (int i = 0; i < 100; i++) {
		c[i].type = DP_CTRL_ADD_TOKEN;
		c[i].master_id = (uint64_t)(i % 3) + 1;
		c[i].token_hash[0] = (uint8_t)i;
		c[i].token_hash[31] = 0x5a;
	}
	for (int i = 0; i < 3; i++) {
		c[100 + i].type = DP_CTRL_SET_MASTER;
		c[100 + i].master_id = (uint64_t)i + 1;
		c[100 + i].secret_len = 32;
	}
	c[103].type = DP_CTRL_SET_DURABLE;
	c[103].master_id = 2;
	c[103].sequence = 41;
	c[104].type = 99;                    /* unknown: rejected */
	c[105].type = DP_CTRL_SET_MASTER;    /* secret_len 0: rejected */
	c[105].master_id = 3;
	unsigned int rej = 0;
	CU_ASSERT(dp_tables_apply(&t, c, 106, &rej) == 0);
	CU_ASSERT(rej == 2);
	const struct dp_table_snap *s = dp_tables_snap(&t);
	CU_ASSERT(s->gen == 2);
	CU_ASSERT(s->tok_n == 100);
	uint8_t h[32] = {0};
	h[0] = 42;
	h[31] = 0x5a;
	const struct dp_token_ent *te = dp_tables_token_find(s, h);
	CU_ASSERT_FATAL(te != NULL);
	CU_ASSERT(te->master_id == 1 && !te->revoked);
	h[31] = 0;
	CU_ASSERT(dp_tables_token_find(s, h) == NULL);
	const struct dp_master_ent *me = dp_tables_master_find(s, 2);
	CU_ASSERT_FATAL(me != NULL);
	CU_ASSERT(me->has_keys);
	CU_ASSERT(atomic_load(&t.rt[me->slot].last_durable) == 41);
	dp_master_durable_advance(&t.rt[me->slot], 40);
	CU_ASSERT(atomic_load(&t.rt[me->slot].last_durable) == 41);
	dp_master_durable_advance(&t.rt[me->slot], 45);
	CU_ASSERT(atomic_load(&t.rt[me->slot].last_durable) == 45);
	CU_ASSERT(dp_tables_master_find(s, 9) == NULL);

	/* revoke keeps a tombstone; slot space exhausted is a rejection */
	memset(c, 0, 3 * sizeof(c[0]));
	c[0].type = DP_CTRL_REVOKE_TOKEN;
	c[0].token_hash[0] = 42;
	c[0].token_hash[31] = 0x5a;
	c[1].type = DP_CTRL_SET_DURABLE;
	c[1].master_id = 4;
	c[2].type = DP_CTRL_SET_DURABLE;
	c[2].master_id = 5; /* 5th master, only 4 slots */
	CU_ASSERT(dp_tables_apply(&t, c, 3, &rej) == 0);
	CU_ASSERT(rej == 1);
	s = dp_tables_snap(&t);
	CU_ASSERT(s->gen == 3);
	h[31] = 0x5a;
	te = dp_tables_token_find(s, h);
	CU_ASSERT(te != NULL && te->revoked);
	/* the runtime state survived the snapshot replacement */
	me = dp_tables_master_find(s, 2);
	CU_ASSERT(me != NULL && atomic_load(&t.rt[me->slot].last_durable) == 45);
	dp_tables_fini(&t);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("ingest_shm", NULL, NULL);
	CU_add_test(s, "layout", test_layout);
	CU_add_test(s, "create, attach, rings by value", test_create_attach_rings);
	CU_add_test(s, "fair dequeue over the workers' rings", test_dequeue_fair);
	CU_add_test(s, "restart, stale and stop detection", test_restart_detection);
	CU_add_test(s, "attach refuses other layouts", test_attach_rejects_other_layouts);
	CU_add_test(s, "attach repairs a dead predecessor", test_attach_repairs_dead_predecessor);
	CU_add_test(s, "histogram buckets and quantiles", test_hist);
	CU_add_test(s, "tables through control commands", test_tables_commands);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
