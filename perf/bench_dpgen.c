/*
 * bench_dpgen: DPDK load generator for the dataplane benchmark (perf/dataplane_bench.sh,
 * docs/perf.md "dataplane"). It is the masters' side of the wire, written by hand so that
 * no kernel sits in the path: a DPDK process on one end of a net_memif pair whose other end
 * is `decp-dataplane --stack dpdk`.
 *
 * Per master: ARP for the dataplane, TCP handshake through its SYN cookie (SYN with MSS,
 * no window scaling or timestamps), Hello riding on the handshake's ACK, then signed
 * Signals (real HMAC-SHA256 with the derived credentials of proto_creds.h, all-zero Ed25519
 * signature as decp-master --fake-ed25519) packed into MSS-sized segments, at most --window
 * signals unACKed per master and never more bytes in flight than the peer's window. It
 * ACKs every segment it receives, decodes HelloAck / Ack / Nack and measures each signal's
 * ACK latency (segment handed to the NIC -> Ack frame received; TSC).
 *
 * Simplifications that memif allows (and that make it a generator, not a TCP stack): no
 * retransmission (memif between two processes loses nothing; a gap or a Nack is counted
 * and ends the run with status 1), no FIN (the dataplane's connections are reset when the
 * generator exits and the idle timeout or SIGTERM cleans up).
 *
 * Several queues (--queues Q, for decp-dataplane --workers Q --steering external): each
 * connection's queue is chosen as a NIC's RSS would (Toeplitz hash of the IPv4/TCP 4-tuple
 * with the common default key, 128-entry round-robin redirection table), all its frames are
 * sent there, and a frame of it arriving on another queue is an error: the worker that owns
 * the connection must be the one answering. ARP is answered on the queue it came from.
 * Every Ack must be status OK for exactly the next sequence of its master (in order, once).
 *
 * Output (stdout, one line): masters, signals, acked, seconds, rate, ACK p50/p99/p99.9/max,
 * and with --queues > 1 the connections per queue.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_random.h>
#include <rte_tcp.h>
#include <rte_thash.h>

#include "bench_util.h"
#include "proto_creds.h"
#include "decp.pb-c.h"
#include "proto_hmac.h"
#include "proto_signal.h"
#include "proto_login.h"
#include "proto_msg.h"

#define BURST 32
#define MSS 1460u
#define OUR_WND 65535u
#define FRAME_MAX 512u
#define MAX_QUEUES 8u
#define RETA_SIZE 128u

enum gstate { G_SYN_SENT = 1, G_HELLO_SENT, G_STREAMING, G_DONE };

struct gconn {
	uint64_t master;
	struct proto_hmac_key hk;
	char token[65];
	enum gstate state;
	uint16_t sport;
	uint16_t queue;          /* RX/TX queue of this connection (RSS emulation) */
	uint32_t snd_una, snd_nxt, rcv_nxt, peer_wnd;
	uint64_t next_seq;       /* next signal sequence to send */
	uint64_t acked;
	bool need_ack;           /* server data arrived: ACK it */
	uint64_t *sent_tsc;      /* [1..signals] TSC when handed to the NIC */
	uint8_t rx[8192];        /* server's bytes not yet parsed into frames */
	size_t rx_len;
};

struct gen {
	uint16_t port;
	struct rte_mempool *pool;
	uint8_t mac[6], dmac[6];
	uint32_t sip, dip;       /* host order */
	uint16_t dport;
	uint32_t masters;
	uint64_t signals;
	uint32_t window;
	struct gconn *c;
	uint16_t n_queues;
	struct rte_mbuf *tx[MAX_QUEUES][BURST * 4];
	uint16_t n_tx[MAX_QUEUES];
	uint64_t *lat;           /* ACK latencies, ticks */
	uint64_t n_lat;
	double rate;             /* signals/s over all masters, 0 = as fast as possible */
	uint64_t t0_ns;
	uint64_t sent;           /* signals sent over all masters */
	uint64_t errors;
	const char *error_why;
};

static volatile sig_atomic_t stop;

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_dpgen --src IPV4 --dst IPV4:PORT [options] -- EAL-ARGS\n"
		"\n"
		"DPDK load generator for decp-dataplane --stack dpdk (docs/perf.md, dataplane):\n"
		"hand-made TCP clients on a DPDK port (net_memif), signed signals, ACK latency.\n"
		"\n"
		"  --src IPV4          our address (answers ARP for it)\n"
		"  --dst IPV4:PORT     the dataplane's stack address and port\n"
		"  --masters N         master ids 1..N (default 10)\n"
		"  --signals N         signals per master (default 100000)\n"
		"  --window W          unACKed signals per master (default 256)\n"
		"  --rate R            signals/s over all masters (default 0 = as fast as possible)\n"
		"  --key-seed S        test credential seed (default \"decp-test\")\n"
		"  --time-limit-s S    give up after S seconds (default 120)\n"
		"  --queues Q          port queues (1..%u, default 1); each connection on the\n"
		"                      queue a NIC's RSS would pick (Toeplitz, 4-tuple); the\n"
		"                      peer runs --workers Q --steering external\n"
		"  --linger-s S        after the report, keep the port open (not polled) until\n"
		"                      SIGTERM/SIGINT or S seconds: stop the dataplane first, then\n"
		"                      us (net_memif unmaps a peer's rings on disconnect while a\n"
		"                      poller may still touch them: the side still polling can crash)\n"
		"  --help\n"
		"EAL-ARGS must contain --no-pci, e.g. --no-pci --vdev\n"
		"net_memif0,role=client,socket=/tmp/x.sock -l 0 --file-prefix gen --no-huge -m 256\n"
		"Exit: 0 all ACKed, 1 failure or time limit, 2 usage.\n", MAX_QUEUES);
}

/* ------------------------------------------------------------------ frames out */

static void tx_flush_queue(struct gen *g, uint16_t q)
{
	uint16_t sent = 0;
	while (sent < g->n_tx[q] && !stop)
		sent += rte_eth_tx_burst(g->port, q, g->tx[q] + sent, g->n_tx[q] - sent);
	if (sent < g->n_tx[q])
		rte_pktmbuf_free_bulk(g->tx[q] + sent, g->n_tx[q] - sent);
	g->n_tx[q] = 0;
}

static void tx_flush(struct gen *g)
{
	for (uint16_t q = 0; q < g->n_queues; q++)
		tx_flush_queue(g, q);
}

static bool tx_pending(const struct gen *g)
{
	for (uint16_t q = 0; q < g->n_queues; q++)
		if (g->n_tx[q] > 0)
			return true;
	return false;
}

static void tx_add(struct gen *g, uint16_t q, struct rte_mbuf *m)
{
	if (g->n_tx[q] == sizeof(g->tx[q]) / sizeof(g->tx[q][0]))
		tx_flush_queue(g, q);
	g->tx[q][g->n_tx[q]++] = m;
}

/* The queue a NIC's RSS would give the dataplane-bound 4-tuple of c: Toeplitz hash with the
 * common default key over (src, dst, sport, dport), then a round-robin redirection table. */
static uint16_t rss_queue(const struct gen *g, uint16_t sport)
{
	static const uint8_t key[40] = {
		0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
		0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
		0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
	union rte_thash_tuple t;
	memset(&t, 0, sizeof(t));
	t.v4.src_addr = g->sip;
	t.v4.dst_addr = g->dip;
	t.v4.sport = sport;
	t.v4.dport = g->dport;
	uint32_t h = rte_softrss((uint32_t *)&t, RTE_THASH_V4_L4_LEN, key);
	return (uint16_t)((h % RETA_SIZE) % g->n_queues); /* reta[i] = i % n_queues */
}

/* An Ethernet + IPv4 + TCP frame of c (flags, our sequence seq, payload p/n, MSS option
 * on SYN), checksums filled in. NULL when the pool is empty. */
static struct rte_mbuf *tcp_frame(struct gen *g, const struct gconn *c, uint8_t flags,
				  uint32_t seq, const uint8_t *p, size_t n)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);
	if (m == NULL)
		return NULL;
	size_t opt = (flags & RTE_TCP_SYN_FLAG) ? 4 : 0;
	size_t len = sizeof(struct rte_ether_hdr) + 20 + 20 + opt + n;
	uint8_t *b = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	if (b == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)b;
	memcpy(&eh->dst_addr, g->dmac, 6);
	memcpy(&eh->src_addr, g->mac, 6);
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eh + 1);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + 20 + opt + n));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = rte_cpu_to_be_32(g->sip);
	ip->dst_addr = rte_cpu_to_be_32(g->dip);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);
	memset(th, 0, sizeof(*th));
	th->src_port = rte_cpu_to_be_16(c->sport);
	th->dst_port = rte_cpu_to_be_16(g->dport);
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32((flags & RTE_TCP_ACK_FLAG) ? c->rcv_nxt : 0);
	th->data_off = (uint8_t)(((20 + opt) / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(OUR_WND);
	uint8_t *o = (uint8_t *)(th + 1);
	if (opt) {
		o[0] = 2;
		o[1] = 4;
		o[2] = (uint8_t)(MSS >> 8);
		o[3] = (uint8_t)(MSS & 0xff);
	}
	if (n > 0)
		memcpy(o + opt, p, n);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	return m;
}

static void arp_frame(struct gen *g, uint16_t q, uint16_t op, const uint8_t *tha, uint32_t tip)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);
	if (m == NULL)
		return;
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)rte_pktmbuf_append(
		m, sizeof(struct rte_ether_hdr) + sizeof(struct rte_arp_hdr));
	if (eh == NULL) {
		rte_pktmbuf_free(m);
		return;
	}
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	memcpy(&eh->dst_addr, op == RTE_ARP_OP_REQUEST ? bcast : tha, 6);
	memcpy(&eh->src_addr, g->mac, 6);
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)(eh + 1);
	a->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	a->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = 6;
	a->arp_plen = 4;
	a->arp_opcode = rte_cpu_to_be_16(op);
	memcpy(&a->arp_data.arp_sha, g->mac, 6);
	a->arp_data.arp_sip = rte_cpu_to_be_32(g->sip);
	memcpy(&a->arp_data.arp_tha, op == RTE_ARP_OP_REQUEST ? (const uint8_t *)"\0\0\0\0\0\0" : tha,
	       6);
	a->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	tx_add(g, q, m);
}

/* ------------------------------------------------------------------ protocol */

static size_t pack_master_frame(Decp__MasterFrame *f, uint8_t *out, size_t cap)
{
	ssize_t n = proto_msg_frame_pack(&f->base, FRAME_MAX, out, cap);
	return n > 0 ? (size_t)n : 0;
}

static size_t hello_frame(const struct gconn *c, uint8_t *out, size_t cap)
{
	ssize_t n = proto_login_hello_frame(c->master, "bench_dpgen", out, cap);
	return n > 0 ? (size_t)n : 0;
}

static size_t signal_frame(const struct gconn *c, uint64_t seq, uint8_t *out, size_t cap)
{
	Decp__Signal s = DECP__SIGNAL__INIT;
	s.master_id = c->master;
	s.sequence = seq;
	s.symbol = "EURUSD";
	s.order_type = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
	s.volume = 10;
	s.price = 108120;
	s.position_ticket = 1000 + seq;
	s.master_time_ns = 1700000000000000000ll;
	/* Zero signature: ingest checks the HMAC only, and signing would measure Ed25519. */
	struct proto_sealed_signal sealed;
	if (proto_signal_seal_unsigned(&c->hk, &s, &sealed) != 0)
		return 0;
	Decp__SignedSignal ss;
	proto_sealed_signal_view(&sealed, &ss);
	Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
	f.kind_case = DECP__MASTER_FRAME__KIND_SIGNAL;
	f.signal = &ss;
	return pack_master_frame(&f, out, cap);
}

static void fail(struct gen *g, const char *why)
{
	g->errors++;
	if (g->error_why == NULL)
		g->error_why = why;
}

static void on_ingest_frame(struct gen *g, struct gconn *c, const uint8_t *p, size_t n)
{
	Decp__IngestFrame *f = proto_ingest_frame_decode(p, n, NULL);
	if (f == NULL) {
		fail(g, "undecodable frame from the dataplane");
		return;
	}
	uint64_t now = ticks();
	if (f->kind_case == DECP__INGEST_FRAME__KIND_CHALLENGE && c->state == G_HELLO_SENT) {
		/* Protocol 2 login: answer the challenge with the token's proof. */
		uint8_t fr[FRAME_MAX];
		ssize_t n = proto_login_proof_frame(c->token, strlen(c->token),
						    f->challenge->nonce.data,
						    f->challenge->nonce.len, c->master, NULL, fr,
						    sizeof(fr));
		struct rte_mbuf *m = n > 0 ? tcp_frame(g, c, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG,
						       c->snd_nxt, fr, (size_t)n)
					   : NULL;
		if (m == NULL) {
			fail(g, "cannot answer the login challenge");
		} else {
			tx_add(g, c->queue, m);
			c->snd_nxt += (uint32_t)n;
		}
	} else if (f->kind_case == DECP__INGEST_FRAME__KIND_HELLO_ACK && c->state == G_HELLO_SENT) {
		c->next_seq = f->hello_ack->next_expected_sequence;
		c->acked = c->next_seq - 1;
		c->state = c->next_seq > g->signals ? G_DONE : G_STREAMING;
	} else if (f->kind_case == DECP__INGEST_FRAME__KIND_ACK) {
		uint64_t s = f->ack->sequence;
		if (s != c->acked + 1 || f->ack->status != DECP__ACK__STATUS__STATUS_OK)
			fail(g, "Ack out of order, twice, or not status OK");
		else if (s >= 1 && s <= g->signals && c->sent_tsc[s] != 0) {
			g->lat[g->n_lat++] = now - c->sent_tsc[s];
			c->sent_tsc[s] = 0;
			c->acked++;
			if (c->acked == g->signals)
				c->state = G_DONE;
		}
	} else if (f->kind_case == DECP__INGEST_FRAME__KIND_NACK) {
		fail(g, "Nack from the dataplane (window larger than its rings?)");
	}
	proto_msg_free(&f->base, NULL);
}

static void on_tcp(struct gen *g, uint16_t q, const struct rte_ipv4_hdr *ip,
		   const struct rte_tcp_hdr *th, size_t l4len)
{
	uint16_t dport = rte_be_to_cpu_16(th->dst_port);
	uint16_t first = g->c[0].sport;
	if (dport < first || dport >= first + g->masters)
		return;
	struct gconn *c = &g->c[dport - first];
	(void)ip;
	if (q != c->queue) {
		fail(g, "a connection's segment arrived on another queue (not its owner worker)");
		return;
	}
	size_t hl = (size_t)(th->data_off >> 4) * 4;
	if (hl < 20 || hl > l4len)
		return;
	uint32_t seq = rte_be_to_cpu_32(th->sent_seq), ack = rte_be_to_cpu_32(th->recv_ack);
	uint8_t fl = th->tcp_flags;
	if (fl & RTE_TCP_RST_FLAG) {
		fail(g, "connection reset by the dataplane");
		c->state = G_DONE;
		return;
	}
	if (c->state == G_SYN_SENT) {
		if ((fl & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) ==
		    (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG) && ack == c->snd_nxt) {
			c->rcv_nxt = seq + 1;
			c->snd_una = ack;
			c->peer_wnd = rte_be_to_cpu_16(th->rx_win);
			uint8_t hello[FRAME_MAX];
			size_t n = hello_frame(c, hello, sizeof(hello));
			struct rte_mbuf *m = tcp_frame(g, c, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG,
						       c->snd_nxt, hello, n);
			if (m != NULL) {
				tx_add(g, c->queue, m);
				c->snd_nxt += (uint32_t)n;
				c->state = G_HELLO_SENT;
			}
		}
		return;
	}
	if ((fl & RTE_TCP_ACK_FLAG) && (int32_t)(ack - c->snd_una) > 0 &&
	    (int32_t)(ack - c->snd_nxt) <= 0)
		c->snd_una = ack;
	c->peer_wnd = rte_be_to_cpu_16(th->rx_win);
	size_t dlen = l4len - hl;
	if (dlen == 0)
		return;
	if (seq != c->rcv_nxt) {
		c->need_ack = true; /* duplicate or ahead: no loss on memif, just re-ACK */
		return;
	}
	if (dlen > sizeof(c->rx) - c->rx_len) {
		fail(g, "reply buffer overflow");
		return;
	}
	memcpy(c->rx + c->rx_len, (const uint8_t *)th + hl, dlen);
	c->rx_len += dlen;
	c->rcv_nxt += (uint32_t)dlen;
	c->need_ack = true;
	size_t off = 0;
	while (c->rx_len - off >= 4) {
		size_t fl2 = (size_t)c->rx[off] << 24 | (size_t)c->rx[off + 1] << 16 |
			     (size_t)c->rx[off + 2] << 8 | c->rx[off + 3];
		if (c->rx_len - off - 4 < fl2)
			break;
		on_ingest_frame(g, c, c->rx + off + 4, fl2);
		off += 4 + fl2;
	}
	memmove(c->rx, c->rx + off, c->rx_len - off);
	c->rx_len -= off;
}

static void on_arp(struct gen *g, uint16_t q, const struct rte_arp_hdr *a)
{
	if (rte_be_to_cpu_32(a->arp_data.arp_tip) != g->sip)
		return;
	if (rte_be_to_cpu_32(a->arp_data.arp_sip) == g->dip)
		memcpy(g->dmac, &a->arp_data.arp_sha, 6);
	if (rte_be_to_cpu_16(a->arp_opcode) == RTE_ARP_OP_REQUEST)
		arp_frame(g, q, RTE_ARP_OP_REPLY, (const uint8_t *)&a->arp_data.arp_sha,
			  rte_be_to_cpu_32(a->arp_data.arp_sip));
}

static void on_frame(struct gen *g, uint16_t q, struct rte_mbuf *m)
{
	size_t len = rte_pktmbuf_data_len(m);
	const uint8_t *b = rte_pktmbuf_mtod(m, const uint8_t *);
	const struct rte_ether_hdr *eh = (const struct rte_ether_hdr *)b;
	if (len < sizeof(*eh))
		return;
	uint16_t et = rte_be_to_cpu_16(eh->ether_type);
	if (et == RTE_ETHER_TYPE_ARP && len >= sizeof(*eh) + sizeof(struct rte_arp_hdr)) {
		on_arp(g, q, (const struct rte_arp_hdr *)(eh + 1));
		return;
	}
	if (et != RTE_ETHER_TYPE_IPV4 || len < sizeof(*eh) + 40)
		return;
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eh + 1);
	size_t tot = rte_be_to_cpu_16(ip->total_length);
	if (ip->next_proto_id != IPPROTO_TCP || (ip->version_ihl & 0xf) != 5 || tot < 40 ||
	    tot > len - sizeof(*eh))
		return;
	on_tcp(g, q, ip, (const struct rte_tcp_hdr *)(ip + 1), tot - 20);
}

/* Send what the window allows: signals packed into MSS-sized segments. */
static void pump(struct gen *g, struct gconn *c)
{
	uint8_t seg[MSS];
	uint64_t allowed = g->rate > 0 ? (uint64_t)((double)(bench_mono_ns() - g->t0_ns) * g->rate / 1e9) + 1
				       : UINT64_MAX;
	while (c->state == G_STREAMING && c->next_seq <= g->signals &&
	       c->next_seq - 1 - c->acked < g->window && g->sent < allowed) {
		size_t n = 0;
		uint64_t first = c->next_seq, s = first;
		uint32_t inflight = c->snd_nxt - c->snd_una;
		while (s <= g->signals && s - 1 - c->acked < g->window &&
		       g->sent + (s - first) < allowed) {
			uint8_t fr[FRAME_MAX];
			size_t k = signal_frame(c, s, fr, sizeof(fr));
			if (k == 0 || n + k > MSS || inflight + n + k > c->peer_wnd)
				break;
			memcpy(seg + n, fr, k);
			n += k;
			s++;
		}
		if (n == 0)
			return; /* peer window full */
		struct rte_mbuf *m = tcp_frame(g, c, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG,
					       c->snd_nxt, seg, n);
		if (m == NULL)
			return;
		tx_add(g, c->queue, m);
		uint64_t t = ticks();
		for (uint64_t q = first; q < s; q++)
			c->sent_tsc[q] = t;
		c->snd_nxt += (uint32_t)n;
		g->sent += s - first;
		c->next_seq = s;
		c->need_ack = false;
	}
	if (c->need_ack) {
		struct rte_mbuf *m = tcp_frame(g, c, RTE_TCP_ACK_FLAG, c->snd_nxt, NULL, 0);
		if (m != NULL) {
			tx_add(g, c->queue, m);
			c->need_ack = false;
		}
	}
}

/* ------------------------------------------------------------------ run */

static int parse_ipport(const char *s, uint32_t *ip, uint16_t *port)
{
	char a[32];
	const char *colon = strrchr(s, ':');
	struct in_addr in;
	if (colon == NULL || (size_t)(colon - s) >= sizeof(a))
		return -1;
	memcpy(a, s, (size_t)(colon - s));
	a[colon - s] = '\0';
	long p = strtol(colon + 1, NULL, 10);
	if (inet_pton(AF_INET, a, &in) != 1 || p < 1 || p > 65535)
		return -1;
	*ip = ntohl(in.s_addr);
	*port = (uint16_t)p;
	return 0;
}

static int setup_port(struct gen *g)
{
	if (rte_eth_dev_count_avail() < 1) {
		fprintf(stderr, "bench_dpgen: no port (give --vdev net_memif0,role=client,...)\n");
		return -1;
	}
	g->port = 0;
	g->pool = rte_pktmbuf_pool_create("dpgen", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	bool ok = g->pool != NULL &&
		  rte_eth_dev_configure(g->port, g->n_queues, g->n_queues, &conf) == 0;
	unsigned int sock = (unsigned int)rte_socket_id();
	for (uint16_t q = 0; ok && q < g->n_queues; q++)
		ok = rte_eth_rx_queue_setup(g->port, q, 1024, sock, NULL, g->pool) == 0 &&
		     rte_eth_tx_queue_setup(g->port, q, 1024, sock, NULL) == 0;
	if (!ok || rte_eth_dev_start(g->port) != 0) {
		fprintf(stderr, "bench_dpgen: port setup with %u queue(s) failed\n", g->n_queues);
		return -1;
	}
	struct rte_ether_addr a;
	rte_eth_macaddr_get(g->port, &a);
	memcpy(g->mac, a.addr_bytes, 6);
	return 0;
}

static int conns_init(struct gen *g, const char *seed)
{
	g->c = calloc(g->masters, sizeof(*g->c));
	g->lat = calloc((size_t)g->masters * g->signals, sizeof(uint64_t));
	if (g->c == NULL || g->lat == NULL)
		return -1;
	for (uint32_t i = 0; i < g->masters; i++) {
		struct gconn *c = &g->c[i];
		struct proto_creds k;
		c->master = i + 1;
		if (proto_creds_derive(seed, c->master, &k) != 0 ||
		    proto_hmac_key_init(&c->hk, k.secret, 32) != 0)
			return -1;
		memcpy(c->token, k.token, sizeof(c->token));
		c->sport = (uint16_t)(20000 + i);
		c->queue = rss_queue(g, c->sport);
		c->snd_nxt = (uint32_t)rte_rand();
		c->sent_tsc = calloc(g->signals + 1, sizeof(uint64_t));
		if (c->sent_tsc == NULL)
			return -1;
	}
	return 0;
}

/* Receive a burst from every queue. Returns the number of frames. */
static unsigned int poll_rx(struct gen *g, struct rte_mbuf **rx)
{
	unsigned int total = 0;
	for (uint16_t q = 0; q < g->n_queues; q++) {
		uint16_t n = rte_eth_rx_burst(g->port, q, rx, BURST);
		for (uint16_t i = 0; i < n; i++) {
			on_frame(g, q, rx[i]);
			rte_pktmbuf_free(rx[i]);
		}
		total += n;
	}
	return total;
}

/* Resolve the dataplane's MAC, then open every connection. */
static int connect_all(struct gen *g, uint64_t deadline)
{
	struct rte_mbuf *rx[BURST];
	uint64_t next_arp = 0;
	static const uint8_t zero[6];
	while (memcmp(g->dmac, zero, 6) == 0) {
		if (stop || bench_mono_ns() > deadline)
			return -1;
		if (bench_mono_ns() >= next_arp) {
			arp_frame(g, 0, RTE_ARP_OP_REQUEST, NULL, g->dip);
			tx_flush(g);
			next_arp = bench_mono_ns() + 200000000ull;
		}
		poll_rx(g, rx);
	}
	for (uint32_t i = 0; i < g->masters; i++) {
		struct gconn *c = &g->c[i];
		struct rte_mbuf *m = tcp_frame(g, c, RTE_TCP_SYN_FLAG, c->snd_nxt, NULL, 0);
		if (m == NULL)
			return -1;
		tx_add(g, c->queue, m);
		c->snd_nxt++;
		c->state = G_SYN_SENT;
	}
	tx_flush(g);
	return 0;
}

static void conns_free(struct gen *g)
{
	for (uint32_t i = 0; g->c != NULL && i < g->masters; i++)
		free(g->c[i].sent_tsc);
	free(g->c);
	free(g->lat);
	g->c = NULL;
	g->lat = NULL;
}

static bool all_done(const struct gen *g)
{
	for (uint32_t i = 0; i < g->masters; i++)
		if (g->c[i].state != G_DONE)
			return false;
	return true;
}

static void report(struct gen *g, double secs, double ns_per_tick)
{
	uint64_t acked = 0;
	for (uint32_t i = 0; i < g->masters; i++)
		acked += g->c[i].acked;
	qsort(g->lat, g->n_lat, sizeof(uint64_t), bench_cmp_u64);
#define PCT(q) (g->n_lat ? (double)g->lat[(size_t)((double)(g->n_lat - 1) * (q))] * ns_per_tick / 1e3 : 0.0)
	printf("bench_dpgen: masters=%u signals=%llu acked=%llu errors=%llu seconds=%.3f "
	       "rate=%.0f/s ack_p50_us=%.1f ack_p99_us=%.1f ack_p999_us=%.1f ack_max_us=%.1f",
	       g->masters, (unsigned long long)((uint64_t)g->masters * g->signals),
	       (unsigned long long)acked, (unsigned long long)g->errors, secs,
	       secs > 0 ? (double)acked / secs : 0.0, PCT(0.50), PCT(0.99), PCT(0.999), PCT(1.0));
#undef PCT
	if (g->n_queues > 1) {
		printf(" conns_per_queue=");
		for (uint16_t q = 0; q < g->n_queues; q++) {
			unsigned int k = 0;
			for (uint32_t i = 0; i < g->masters; i++)
				k += g->c[i].queue == q;
			printf("%s%u", q ? "," : "", k);
		}
	}
	printf("\n");
	fflush(stdout);
	if (g->error_why != NULL)
		fprintf(stderr, "bench_dpgen: first error: %s\n", g->error_why);
}

static int parse_args(int argc, char **argv, struct gen *g, const char **seed,
		      uint32_t *limit_s, uint32_t *linger_s)
{
	static const struct option lo[] = {
		{"src", required_argument, NULL, 's'},      {"dst", required_argument, NULL, 'd'},
		{"masters", required_argument, NULL, 'm'},  {"signals", required_argument, NULL, 'n'},
		{"window", required_argument, NULL, 'w'},   {"key-seed", required_argument, NULL, 'k'},
		{"time-limit-s", required_argument, NULL, 't'}, {"rate", required_argument, NULL, 'r'},
		{"queues", required_argument, NULL, 'q'},
		{"linger-s", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int c;
	bool have_src = false, have_dst = false;
	struct in_addr in;
	while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
		long v = optarg != NULL ? strtol(optarg, NULL, 10) : 0;
		switch (c) {
		case 's':
			if (inet_pton(AF_INET, optarg, &in) != 1)
				return -1;
			g->sip = ntohl(in.s_addr);
			have_src = true;
			break;
		case 'd':
			if (parse_ipport(optarg, &g->dip, &g->dport) != 0)
				return -1;
			have_dst = true;
			break;
		case 'm': if (v < 1 || v > 1000) return -1; g->masters = (uint32_t)v; break;
		case 'n': if (v < 1 || v > 10000000) return -1; g->signals = (uint64_t)v; break;
		case 'w': if (v < 1 || v > 4096) return -1; g->window = (uint32_t)v; break;
		case 'k': *seed = optarg; break;
		case 'r': if (v < 0 || v > 100000000) return -1; g->rate = (double)v; break;
		case 't': if (v < 1 || v > 3600) return -1; *limit_s = (uint32_t)v; break;
		case 'q': if (v < 1 || v > MAX_QUEUES) return -1; g->n_queues = (uint16_t)v; break;
		case 'L': if (v < 0 || v > 3600) return -1; *linger_s = (uint32_t)v; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (!have_src || !have_dst || optind >= argc || strcmp(argv[optind - 1], "--") != 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct gen g;
	const char *seed = "decp-test";
	uint32_t limit_s = 120, linger_s = 0;
	memset(&g, 0, sizeof(g));
	g.masters = 10;
	g.signals = 100000;
	g.window = 256;
	g.n_queues = 1;
	if (parse_args(argc, argv, &g, &seed, &limit_s, &linger_s) != 0) {
		usage(stderr);
		return 2;
	}
	bool pci_ok = false;
	for (int i = optind; i < argc; i++)
		pci_ok |= strcmp(argv[i], "--no-pci") == 0;
	if (!pci_ok) {
		fprintf(stderr, "bench_dpgen: EAL arguments must contain --no-pci\n");
		return 2;
	}
	argv[optind - 1] = argv[0];
	if (rte_eal_init(argc - optind + 1, argv + optind - 1) < 0) {
		fprintf(stderr, "bench_dpgen: rte_eal_init failed\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	double ns_per_tick = bench_calibrate();
	int rc = 1;
	uint64_t t0 = bench_mono_ns(), deadline = t0 + (uint64_t)limit_s * 1000000000ull;
	if (setup_port(&g) != 0 || conns_init(&g, seed) != 0 || connect_all(&g, deadline) != 0) {
		fprintf(stderr, "bench_dpgen: start failed (dataplane not answering ARP?)\n");
		goto out;
	}
	struct rte_mbuf *rx[BURST];
	g.t0_ns = bench_mono_ns();
	while (!stop && !all_done(&g) && g.errors == 0 && bench_mono_ns() < deadline) {
		if (poll_rx(&g, rx) == 0 && !tx_pending(&g))
			sched_yield(); /* share the core with the consumer when idle */
		for (uint32_t i = 0; i < g.masters; i++)
			pump(&g, &g.c[i]);
		tx_flush(&g);
	}
	report(&g, (double)(bench_mono_ns() - t0) / 1e9, ns_per_tick);
	rc = all_done(&g) && g.errors == 0 ? 0 : 1;
	for (uint64_t end = bench_mono_ns() + (uint64_t)linger_s * 1000000000ull;
	     !stop && bench_mono_ns() < end;)
		usleep(10000);
out:
	rte_eth_dev_stop(g.port);
	rte_eal_cleanup();
	conns_free(&g);
	return rc;
}
