/*
 * dp_dpdk_port: EAL start-up and the one Ethernet port the DPDK transport drives.
 *
 * Safety rule (SPEC.md §7, issue 6): the machine's own NIC is never probed. EAL arguments
 * must contain --no-pci or an explicit PCI allow-list (-a / --allow); anything else is
 * refused before rte_eal_init runs. Devices are then virtual ones the operator names with
 * --vdev (net_tap, net_af_packet on a veth, net_memif, net_ring...).
 *
 * Port model: the first (only) probed port, one RX/TX queue pair per worker lcore. With
 * more than one queue the port must support RSS on IPv4/TCP, because every worker's stack
 * owns its connections (share-nothing): a flow must always reach the same queue. Buffers
 * come from one rte_mempool whose mbufs carry a struct dp_pkt in their private area
 * (dp_seam.h).
 *
 * Thread: everything here runs on the main lcore at start-up or shutdown.
 * Returns: 0 or negative errno, with a message on stderr.
 */
#ifndef DECP_DP_DPDK_PORT_H
#define DECP_DP_DPDK_PORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct rte_mempool;

struct dp_dpdk_port {
	uint16_t port_id;
	uint16_t n_queues;
	bool rss;                /* RSS configured (n_queues > 1) */
	bool rx_intr;            /* RX queue interrupts configured (adaptive polling) */
	uint8_t mac[6];          /* the port's MAC: our stack's address */
	struct rte_mempool *pool;
	bool started;
};

/* 0 when argv (EAL arguments, argv[0] included) holds --no-pci or -a/--allow; else
 * -EPERM with the reason on stderr. Pure function, no EAL needed (unit-testable). */
int dp_dpdk_eal_args_check(int argc, char *const *argv);

/* Whether the dataplane adds --huge-unlink to the EAL arguments argv[1..argc): true unless
 * they already say how hugepage files go (--huge-unlink[=...], --in-memory) or use none
 * (--no-huge), or ask for one file per segment list (--single-file-segments). EAL's
 * default keeps every hugepage file after the process exits, for secondary processes,
 * which decp has none of: the pages stay taken until someone deletes the files (256 MiB
 * per run of the demo, whose file prefix changes with each run). Pure. */
bool dp_dpdk_eal_wants_unlink(int argc, char *const *argv);

/* Check the arguments, then rte_eal_init. Returns 0, -EPERM (refused), or -EINVAL. */
int dp_dpdk_eal_start(int argc, char **argv);

/* Configure and start the first available port with n_queues queue pairs and a pool of
 * n_mbufs buffers. n_queues > 1: RSS on the IPv4/TCP 4-tuple, unless steer_external (the
 * device or its peer already delivers each 4-tuple to one fixed queue: no RSS configured).
 * want_rx_intr: configure RX queue interrupts (adaptive polling); a port that cannot is
 * configured without them (p->rx_intr false, the workers then pause instead of sleeping on
 * the interrupt). Returns 0, -ENODEV (no port), -ENOTSUP (n_queues > 1 without RSS nor
 * steer_external, or beyond the port's limits), or the DPDK error. */
int dp_dpdk_port_open(struct dp_dpdk_port *p, uint16_t n_queues, uint32_t n_mbufs,
		      bool steer_external, bool want_rx_intr);

/* Print the port's counters (packets, bytes, imissed, ierrors, oerrors, rx_nombuf) as one
 * line to f. */
void dp_dpdk_port_stats_print(const struct dp_dpdk_port *p, FILE *f);

/* Stop and close the port, free the pool. Safe on a half-opened port. */
void dp_dpdk_port_close(struct dp_dpdk_port *p);

#endif
