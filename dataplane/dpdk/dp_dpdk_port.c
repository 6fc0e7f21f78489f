/* dp_dpdk_port: EAL and port set-up. Contract in dp_dpdk_port.h. */
#include "dp_dpdk_port.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "dp_seam.h"

#define RX_DESC 1024
#define TX_DESC 1024
#define POOL_CACHE 256

int dp_dpdk_eal_args_check(int argc, char *const *argv)
{
	bool no_pci = false, allow = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--no-pci") == 0)
			no_pci = true;
		else if (strcmp(a, "-a") == 0 || strncmp(a, "--allow", 7) == 0 ||
			 (strncmp(a, "-a", 2) == 0 && a[2] != '\0'))
			allow = true;
	}
	if (no_pci || allow)
		return 0;
	fprintf(stderr, "decp-dataplane: refusing to start DPDK: the EAL arguments must contain "
			"--no-pci (virtual devices via --vdev) or an explicit PCI allow-list "
			"(-a BDF); without one EAL would probe every NIC of the machine\n");
	return -EPERM;
}

bool dp_dpdk_eal_wants_unlink(int argc, char *const *argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--huge-unlink", 13) == 0 || strcmp(a, "--in-memory") == 0 ||
		    strcmp(a, "--no-huge") == 0 || strcmp(a, "--single-file-segments") == 0)
			return false;
	}
	return true;
}

int dp_dpdk_eal_start(int argc, char **argv)
{
	int rc = dp_dpdk_eal_args_check(argc, argv);
	if (rc != 0)
		return rc;
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "decp-dataplane: rte_eal_init failed: %s\n",
			rte_strerror(rte_errno));
		return -EINVAL;
	}
	return 0;
}

int dp_dpdk_port_open(struct dp_dpdk_port *p, uint16_t n_queues, uint32_t n_mbufs,
		      bool steer_external, bool want_rx_intr)
{
	int rc;
	uint16_t pid = RTE_MAX_ETHPORTS;
	uint16_t i;

	memset(p, 0, sizeof(*p));
	RTE_ETH_FOREACH_DEV(i) {
		pid = i;
		break;
	}
	if (pid == RTE_MAX_ETHPORTS) {
		fprintf(stderr, "decp-dataplane: no Ethernet port: give one with --vdev "
				"(e.g. --vdev net_tap0,iface=dtap0)\n");
		return -ENODEV;
	}
	p->port_id = pid;
	p->n_queues = n_queues;

	struct rte_eth_dev_info info;
	rc = rte_eth_dev_info_get(pid, &info);
	if (rc != 0)
		return rc;
	if (n_queues > info.max_rx_queues || n_queues > info.max_tx_queues) {
		fprintf(stderr, "decp-dataplane: port %u (%s) has at most %u/%u queues, %u workers "
				"asked\n", pid, info.driver_name, info.max_rx_queues,
			info.max_tx_queues, n_queues);
		return -ENOTSUP;
	}
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	if (n_queues > 1 && !steer_external) {
		uint64_t want = RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_IPV4;
		uint64_t hf = want & info.flow_type_rss_offloads;
		if (hf == 0) {
			/* Without flow affinity a connection's segments would reach stacks that
			 * do not know it. */
			fprintf(stderr, "decp-dataplane: port %u (%s) has no RSS: use --workers 1, "
					"or --steering external if the device's peer delivers each "
					"4-tuple to one fixed queue\n", pid, info.driver_name);
			return -ENOTSUP;
		}
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = hf;
		p->rss = true;
	}
	if (want_rx_intr) {
		conf.intr_conf.rxq = 1;
		rc = rte_eth_dev_configure(pid, n_queues, n_queues, &conf);
		if (rc == 0) {
			p->rx_intr = true;
		} else {
			fprintf(stderr, "decp-dataplane: port %u (%s): no RX interrupts (%s): "
					"adaptive polling pauses 1 ms instead\n", pid, info.driver_name,
				rte_strerror(-rc));
			conf.intr_conf.rxq = 0;
		}
	}
	if (!p->rx_intr)
		rc = rte_eth_dev_configure(pid, n_queues, n_queues, &conf);
	if (rc != 0) {
		fprintf(stderr, "decp-dataplane: configure port %u: %s\n", pid, rte_strerror(-rc));
		return rc;
	}
	uint16_t nrx = RX_DESC, ntx = TX_DESC;
	rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrx, &ntx);

	char name[RTE_MEMPOOL_NAMESIZE];
	snprintf(name, sizeof(name), "dp_mbuf_p%u", pid);
	/* Each mbuf's private area holds the struct dp_pkt the stack sees (dp_seam.h). */
	p->pool = rte_pktmbuf_pool_create(name, n_mbufs, POOL_CACHE,
					  RTE_ALIGN(sizeof(struct dp_pkt), RTE_MBUF_PRIV_ALIGN),
					  RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (p->pool == NULL) {
		fprintf(stderr, "decp-dataplane: mbuf pool of %u: %s\n", n_mbufs,
			rte_strerror(rte_errno));
		return -ENOMEM;
	}
	int sock = rte_eth_dev_socket_id(pid);
	for (uint16_t q = 0; q < n_queues; q++) {
		rc = rte_eth_rx_queue_setup(pid, q, nrx, (unsigned int)sock, NULL, p->pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(pid, q, ntx, (unsigned int)sock, NULL);
		if (rc != 0) {
			fprintf(stderr, "decp-dataplane: queue %u setup: %s\n", q, rte_strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_dev_start(pid);
	if (rc != 0) {
		fprintf(stderr, "decp-dataplane: start port %u: %s\n", pid, rte_strerror(-rc));
		return rc;
	}
	p->started = true;
	struct rte_ether_addr mac;
	rc = rte_eth_macaddr_get(pid, &mac);
	if (rc != 0)
		return rc;
	memcpy(p->mac, mac.addr_bytes, 6);
	return 0;
}

void dp_dpdk_port_stats_print(const struct dp_dpdk_port *p, FILE *f)
{
	struct rte_eth_stats st;
	if (!p->started || rte_eth_stats_get(p->port_id, &st) != 0)
		return;
	fprintf(f, "decp-dataplane dpdk port %u: ipackets=%llu opackets=%llu ibytes=%llu "
		   "obytes=%llu imissed=%llu ierrors=%llu oerrors=%llu rx_nombuf=%llu\n",
		(unsigned int)p->port_id, (unsigned long long)st.ipackets,
		(unsigned long long)st.opackets, (unsigned long long)st.ibytes,
		(unsigned long long)st.obytes, (unsigned long long)st.imissed,
		(unsigned long long)st.ierrors, (unsigned long long)st.oerrors,
		(unsigned long long)st.rx_nombuf);
}

void dp_dpdk_port_close(struct dp_dpdk_port *p)
{
	if (p->started) {
		rte_eth_dev_stop(p->port_id);
		rte_eth_dev_close(p->port_id);
		p->started = false;
	}
	if (p->pool != NULL) {
		rte_mempool_free(p->pool);
		p->pool = NULL;
	}
}
