/*
 * test_dp_net_l2l3.c: Ethernet, ARP, IPv4 and ICMP through the seam: what is answered,
 * what is learned, and that every malformed or foreign frame is dropped and counted.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dp_cksum.h"
#include "dp_test_env.h"
#include "dp_wire.h"

static struct t_env *E;
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void start(void)
{
	E = calloc(1, sizeof(*E));
	CU_ASSERT_FATAL(E != NULL);
	CU_ASSERT_FATAL(t_env_init(E, NULL) == 0);
}

static void finish(void)
{
	t_cap_clear(E);
	CU_ASSERT_EQUAL(dp_stack_conns_in_use(E->st), 0);
	CU_ASSERT_EQUAL(E->pool.in_use, 0);
	t_env_fini(E);
	free(E);
}

static void test_arp_reply_and_learn(void)
{
	struct t_peer p;
	uint8_t f[T_FRAME_MAX], mac[6];
	const struct t_frame *r;

	start();
	t_peer_init(&p, E, 1);
	CU_ASSERT_EQUAL(dp_stack_arp_lookup(E->st, p.ip, mac), -ENOENT);
	t_input(E, f, t_build_arp(f, p.mac, bcast, 1, p.ip, E->cfg.ip));
	CU_ASSERT_EQUAL_FATAL(t_cap_count(E), 1);
	r = t_cap_pop(E);
	CU_ASSERT_EQUAL(r->len, 60);
	CU_ASSERT(memcmp(r->b, p.mac, 6) == 0);
	CU_ASSERT(memcmp(r->b + 6, E->cfg.mac, 6) == 0);
	CU_ASSERT_EQUAL(dp_get16(r->b + 12), DP_ETHERTYPE_ARP);
	CU_ASSERT_EQUAL(dp_get16(r->b + 14 + 6), 2);                 /* reply */
	CU_ASSERT(memcmp(r->b + 14 + 8, E->cfg.mac, 6) == 0);        /* sender = us */
	CU_ASSERT_EQUAL(dp_get32(r->b + 14 + 14), E->cfg.ip);
	CU_ASSERT(memcmp(r->b + 14 + 18, p.mac, 6) == 0);            /* target = asker */
	CU_ASSERT_EQUAL(dp_get32(r->b + 14 + 24), p.ip);
	CU_ASSERT_EQUAL(dp_stack_arp_lookup(E->st, p.ip, mac), 0);   /* learned */
	CU_ASSERT(memcmp(mac, p.mac, 6) == 0);
	/* a request for someone else: no reply, nothing learned */
	p.mac[5] = 0x77;
	p.ip = DP_IPV4(10, 0, 0, 77);
	t_input(E, f, t_build_arp(f, p.mac, bcast, 1, p.ip, DP_IPV4(10, 0, 0, 99)));
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	CU_ASSERT_EQUAL(dp_stack_arp_lookup(E->st, p.ip, mac), -ENOENT);
	CU_ASSERT_EQUAL(t_stat(E, "drop_arp_not_for_us"), 1);
	/* a reply to us is learned without answer */
	t_input(E, f, t_build_arp(f, p.mac, E->cfg.mac, 2, p.ip, E->cfg.ip));
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	CU_ASSERT_EQUAL(dp_stack_arp_lookup(E->st, p.ip, mac), 0);
	/* aging */
	t_advance(E, 301 * T_SEC);
	CU_ASSERT_EQUAL(dp_stack_arp_lookup(E->st, p.ip, mac), -ENOENT);
	/* malformed: short, wrong hardware type, multicast sender */
	t_input(E, f, 30);
	{
		size_t n = t_build_arp(f, p.mac, bcast, 1, p.ip, E->cfg.ip);

		f[14] = 9;
		t_input(E, f, n);
		n = t_build_arp(f, p.mac, bcast, 1, 0, E->cfg.ip); /* sender IP 0 (probe) */
		t_input(E, f, n);
		n = t_build_arp(f, p.mac, bcast, 3, p.ip, E->cfg.ip);
		t_input(E, f, n);
	}
	CU_ASSERT_EQUAL(t_stat(E, "drop_arp_malformed"), 3);
	CU_ASSERT_EQUAL(t_stat(E, "drop_arp_op"), 1);
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	finish();
}

/* Output to a peer ARP does not know: a request goes out (rate-limited), the segment still
 * leaves towards the connection's last known MAC. */
static void test_arp_resolve_on_output(void)
{
	struct t_peer p;
	uint8_t f[T_FRAME_MAX];
	const struct t_frame *r;
	struct t_seg s;
	int arp = 0;

	start();
	t_peer_init(&p, E, 1);
	CU_ASSERT_FATAL(t_handshake(E, &p) == 0);
	CU_ASSERT_EQUAL(dp_tcp_send(E->st, p.app->c, "hi", 2, E->now), 2);
	while ((r = t_cap_pop(E)) != NULL) {
		if (dp_get16(r->b + 12) == DP_ETHERTYPE_ARP) {
			arp++;
			CU_ASSERT(memcmp(r->b, bcast, 6) == 0);
			CU_ASSERT_EQUAL(dp_get16(r->b + 14 + 6), 1);
			CU_ASSERT_EQUAL(dp_get32(r->b + 14 + 24), p.ip);
		} else {
			CU_ASSERT(t_parse(r, &s));
			CU_ASSERT(memcmp(s.dmac, p.mac, 6) == 0);
			CU_ASSERT_EQUAL(s.len, 2);
		}
	}
	CU_ASSERT_EQUAL(arp, 1);
	/* within arp_retry_ns: no second request */
	CU_ASSERT_EQUAL(dp_tcp_send(E->st, p.app->c, "hi", 2, E->now), 2);
	CU_ASSERT_EQUAL(t_cap_count(E), 1);
	t_cap_clear(E);
	/* the reply arrives: used from now on */
	t_input(E, f, t_build_arp(f, p.mac, E->cfg.mac, 2, p.ip, E->cfg.ip));
	CU_ASSERT_EQUAL(t_stat(E, "arp_request_tx"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "arp_learned"), 1);
	p.rcv_nxt += 4;
	t_send_ack(E, &p);
	CU_ASSERT_EQUAL(dp_tcp_send(E->st, p.app->c, "yo", 2, E->now), 2);
	CU_ASSERT_EQUAL(t_cap_count(E), 1);
	CU_ASSERT_EQUAL(t_stat(E, "arp_request_tx"), 1);
	p.app->open = false;
	dp_tcp_abort(E->st, p.app->c, E->now);
	finish();
}

static void test_icmp_echo(void)
{
	struct t_peer p;
	uint8_t f[T_FRAME_MAX];
	const struct t_frame *r;
	struct t_seg s;
	const char payload[] = "abcdefghijklmnopqrstuvwxyz0123456789";

	start();
	t_peer_init(&p, E, 1);
	t_input(E, f, t_build_icmp_echo(f, E, &p, 0x4242, 7, payload, sizeof(payload)));
	CU_ASSERT_EQUAL_FATAL(t_cap_count(E), 1);
	r = t_cap_pop(E);
	CU_ASSERT_FATAL(t_parse(r, &s));
	CU_ASSERT_EQUAL(s.proto, DP_IPPROTO_ICMP);
	CU_ASSERT(s.ip_cksum_ok && s.l4_cksum_ok);
	CU_ASSERT_EQUAL(s.src, E->cfg.ip);
	CU_ASSERT_EQUAL(s.dst, p.ip);
	CU_ASSERT(memcmp(s.dmac, p.mac, 6) == 0);
	CU_ASSERT_EQUAL(s.l4[0], 0);
	CU_ASSERT_EQUAL(dp_get16(s.l4 + 4), 0x4242);
	CU_ASSERT_EQUAL(dp_get16(s.l4 + 6), 7);
	CU_ASSERT_EQUAL(s.l4len, 8 + sizeof(payload));
	CU_ASSERT(memcmp(s.l4 + 8, payload, sizeof(payload)) == 0);
	/* bad ICMP checksum, non-echo type */
	{
		size_t n = t_build_icmp_echo(f, E, &p, 1, 1, "x", 1);

		f[n - 1] ^= 1;
		t_input(E, f, n);
		n = t_build_icmp_echo(f, E, &p, 1, 1, "x", 1);
		f[34] = 13; /* timestamp request */
		dp_put16(f + 36, 0);
		dp_put16(f + 36, dp_cksum_fold(dp_cksum_partial(f + 34, n - 34, 0)));
		t_input(E, f, n);
	}
	CU_ASSERT_EQUAL(t_stat(E, "drop_icmp_cksum"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "drop_icmp_type"), 1);
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	finish();
}

static void test_ipv4_drops(void)
{
	struct t_peer p;
	uint8_t f[T_FRAME_MAX], l4[8] = { 8, 0, 0xf7, 0xff, 0, 0, 0, 0 };
	size_t n;

	start();
	t_peer_init(&p, E, 1);
	/* bad header checksum */
	n = t_build_ipv4(f, p.mac, E->cfg.mac, p.ip, E->cfg.ip, 1, 0, 5, l4, 8);
	f[14 + 10] ^= 0xff;
	t_input(E, f, n);
	/* fragments: MF set, then a non-zero offset */
	t_input(E, f, t_build_ipv4(f, p.mac, E->cfg.mac, p.ip, E->cfg.ip, 1, 0x2000, 5, l4, 8));
	t_input(E, f, t_build_ipv4(f, p.mac, E->cfg.mac, p.ip, E->cfg.ip, 1, 0x0010, 5, l4, 8));
	/* options */
	t_input(E, f, t_build_ipv4(f, p.mac, E->cfg.mac, p.ip, E->cfg.ip, 1, 0, 6, l4, 8));
	/* not for us, bad sources */
	t_input(E, f, t_build_ipv4(f, p.mac, E->cfg.mac, p.ip, DP_IPV4(10, 0, 0, 2), 1, 0, 5, l4, 8));
	t_input(E, f, t_build_ipv4(f, p.mac, E->cfg.mac, 0xffffffffu, E->cfg.ip, 1, 0, 5, l4, 8));
	t_input(E, f, t_build_ipv4(f, p.mac, E->cfg.mac, DP_IPV4(10, 0, 0, 255), E->cfg.ip, 1, 0, 5, l4, 8));
	t_input(E, f, t_build_ipv4(f, p.mac, E->cfg.mac, DP_IPV4(224, 0, 0, 1), E->cfg.ip, 1, 0, 5, l4, 8));
	t_input(E, f, t_build_ipv4(f, p.mac, E->cfg.mac, E->cfg.ip, E->cfg.ip, 1, 0, 5, l4, 8));
	/* unknown protocol (UDP) */
	t_input(E, f, t_build_ipv4(f, p.mac, E->cfg.mac, p.ip, E->cfg.ip, 17, 0, 5, l4, 8));
	/* version 6, runt, total length beyond the frame, total length < 20 */
	n = t_build_ipv4(f, p.mac, E->cfg.mac, p.ip, E->cfg.ip, 1, 0, 5, l4, 8);
	f[14] = 0x65;
	t_input(E, f, n);
	t_input(E, f, 14 + 19);
	n = t_build_ipv4(f, p.mac, E->cfg.mac, p.ip, E->cfg.ip, 1, 0, 5, l4, 8);
	t_input(E, f, n - 1);
	n = t_build_ipv4(f, p.mac, E->cfg.mac, p.ip, E->cfg.ip, 1, 0, 5, l4, 8);
	dp_put16(f + 16, 19);
	t_input(E, f, n);
	CU_ASSERT_EQUAL(t_stat(E, "drop_ip_cksum"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "drop_ip_fragment"), 2);
	CU_ASSERT_EQUAL(t_stat(E, "drop_ip_options"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "drop_ip_not_for_us"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "drop_ip_bad_src"), 4);
	CU_ASSERT_EQUAL(t_stat(E, "drop_ip_proto"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "drop_ip_version"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "drop_ip_runt"), 2);
	CU_ASSERT_EQUAL(t_stat(E, "drop_ip_len"), 1);
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	/* and a good one gets its echo reply (the frame builder is not the problem) */
	t_input(E, f, t_build_ipv4(f, p.mac, E->cfg.mac, p.ip, E->cfg.ip, 1, 0, 5, l4, 8));
	CU_ASSERT_EQUAL(t_cap_count(E), 1);
	finish();
}

static void test_eth_drops(void)
{
	struct t_peer p;
	uint8_t f[T_FRAME_MAX], other[6] = { 2, 9, 9, 9, 9, 9 }, l4[8] = { 8, 0, 0xf7, 0xff, 0, 0, 0, 0 };
	size_t n;

	start();
	t_peer_init(&p, E, 1);
	t_input(E, f, t_build_ipv4(f, p.mac, other, p.ip, E->cfg.ip, 1, 0, 5, l4, 8));
	t_input(E, f, t_build_ipv4(f, p.mac, bcast, p.ip, E->cfg.ip, 1, 0, 5, l4, 8));
	n = t_build_ipv4(f, p.mac, E->cfg.mac, p.ip, E->cfg.ip, 1, 0, 5, l4, 8);
	dp_put16(f + 12, 0x8100); /* VLAN tag */
	t_input(E, f, n);
	t_input(E, f, 13);
	n = t_build_ipv4(f, bcast, E->cfg.mac, p.ip, E->cfg.ip, 1, 0, 5, l4, 8); /* bcast source */
	t_input(E, f, n);
	CU_ASSERT_EQUAL(t_stat(E, "drop_eth_not_for_us"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "drop_eth_bcast_not_arp"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "drop_eth_type"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "drop_eth_runt"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "drop_eth_bad_src"), 1);
	CU_ASSERT_EQUAL(t_stat(E, "rx_frames"), 5);
	CU_ASSERT_EQUAL(t_cap_count(E), 0);
	finish();
}

static void offload(struct dp_stack_config *c) { c->tx_cksum_offload = true; }

static void test_checksum_offload_flags(void)
{
	struct dp_stack_config c;
	const char *err = NULL;
	struct dp_io_ops io = { 0 };
	struct dp_app_ops app = { 0 };

	/* config validation reports a reason */
	dp_stack_config_defaults(&c);
	CU_ASSERT_PTR_NULL(dp_stack_create(&c, &io, NULL, &app, NULL, 0, &err));
	CU_ASSERT_PTR_NOT_NULL(err);
	E = calloc(1, sizeof(*E));
	CU_ASSERT_FATAL(t_env_init(E, offload) == 0);
	{
		struct t_peer p;
		uint8_t f[T_FRAME_MAX];
		struct t_seg s;

		t_peer_init(&p, E, 1);
		t_input(E, f, t_build_tcp(f, E, &p, DP_TCP_SYN, 1, 0, 100, NULL, 0, NULL, 0));
		CU_ASSERT_FATAL(t_pop_tcp(E, &s));
		CU_ASSERT(!s.ip_cksum_ok); /* left to the NIC */
		CU_ASSERT_EQUAL(dp_get16(E->cap[0].b + 14 + 10), 0);
	}
	finish();
}

static void test_stats_format(void)
{
	char buf[8192];
	size_t need;

	start();
	t_input(E, (const uint8_t *)"x", 1);
	need = dp_net_stats_format(dp_stack_stats(E->st), 0, buf, sizeof(buf));
	CU_ASSERT(need < sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "rx_frames 1\ndrop_eth_runt 1\n");
	need = dp_net_stats_format(dp_stack_stats(E->st), 1, buf, 10);
	CU_ASSERT(need > 10);
	CU_ASSERT_EQUAL(strlen(buf), 9);
	for (size_t i = 0; i < dp_net_stats_count(); i++)
		for (size_t j = i + 1; j < dp_net_stats_count(); j++)
			CU_ASSERT(strcmp(dp_net_stats_name(i), dp_net_stats_name(j)) != 0);
	finish();
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("dp_net_l2l3", NULL, NULL);
	CU_add_test(s, "ARP reply, learning, aging, malformed", test_arp_reply_and_learn);
	CU_add_test(s, "ARP resolve on output", test_arp_resolve_on_output);
	CU_add_test(s, "ICMP echo reply", test_icmp_echo);
	CU_add_test(s, "IPv4 validation drops", test_ipv4_drops);
	CU_add_test(s, "Ethernet drops", test_eth_drops);
	CU_add_test(s, "checksum offload, config errors", test_checksum_offload_flags);
	CU_add_test(s, "counter names and format", test_stats_format);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	{
		unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();

		CU_cleanup_registry();
		return failed ? 1 : 0;
	}
}
