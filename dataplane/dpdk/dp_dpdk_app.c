/*
 * dp_dpdk_app: the ingest server on the DPDK transport (dp_dpdk_loop). Contract in
 * dp_dpdk_app.h. The main lcore applies control-ring commands, keeps the heartbeat and
 * prints counters (dp_ctrl); worker lcores run the poll loop. Options: dp_opts.
 */
#include "dp_dpdk_app.h"

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_lcore.h>

#include "dp_conf.h"
#include "dp_ctrl.h"
#include "dp_dpdk_loop.h"
#include "dp_dpdk_port.h"
#include "dp_shm.h"
#include "dp_tables.h"
#include "dp_tls.h"

int dp_dpdk_main(int argc, char **argv)
{
	struct dp_opts o;
	int ac = argc;
	char **av = argv;
	int rc = dp_opts_load(&ac, &av, DP_STACK_DPDK, "decp-dataplane-dpdk", &o);
	if (rc != 0) {
		rc = rc > 0 ? 0 : 2; /* --help: 0 */
	} else if (o.stack != DP_STACK_DPDK) {
		fprintf(stderr, "decp-dataplane-dpdk: only --stack dpdk here\n");
		rc = 2;
	} else {
		rc = dp_dpdk_run(&o, ac, av, "decp-dataplane-dpdk");
	}
	dp_conf_free(av, argv);
	return rc;
}

/* True when cpu is in a kernel CPU list ("2-5,8"). */
static bool cpulist_has(const char *list, unsigned int cpu)
{
	const char *p = list;
	while (*p >= '0' && *p <= '9') {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;
		if (*end == '-')
			hi = strtoul(end + 1, &end, 10);
		if (cpu >= lo && cpu <= hi)
			return true;
		if (*end != ',')
			break;
		p = end + 1;
	}
	return false;
}

/* --poll resolved: auto is busy only when every worker lcore runs on a CPU the kernel
 * keeps for it (isolcpus), where spinning takes nothing from anyone; elsewhere the
 * control plane's threads share the core and the ACK waits for them (issue 26). */
static bool poll_adaptive(const struct dp_opts *o)
{
	if (o->poll != DP_POLL_AUTO)
		return o->poll == DP_POLL_ADAPTIVE;
	char list[1024] = "";
	FILE *f = fopen("/sys/devices/system/cpu/isolated", "r");
	if (f != NULL) {
		if (fgets(list, sizeof(list), f) == NULL)
			list[0] = '\0';
		fclose(f);
	}
	unsigned int lc;
	RTE_LCORE_FOREACH_WORKER(lc) {
		if (!cpulist_has(list, rte_lcore_to_cpu_id((int)lc)))
			return true;
	}
	return false;
}

int dp_dpdk_run(const struct dp_opts *o, int argc, char **argv, const char *prog)
{
	struct dp_shm shm;
	struct dp_tables tables;
	struct dp_dpdk_port port;
	struct dp_dpdk *dd = NULL;
	struct dp_tls *tls = NULL;
	int rc = 1, eal_up = 0;

	memset(&shm, 0, sizeof(shm));
	memset(&tables, 0, sizeof(tables));
	memset(&port, 0, sizeof(port));
	if (o->eal_first < 1 || o->eal_first + o->eal_argc != argc)
		return 2;
	/* EAL sees argv[0] followed by everything after "--", and --huge-unlink unless they
	 * say otherwise (dp_dpdk_eal_wants_unlink): hugepages are freed when the process
	 * ends, however it ends. */
	int eal_argc = o->eal_argc + 1;
	char **eal_argv = calloc((size_t)eal_argc + 2, sizeof(char *));
	if (eal_argv == NULL)
		return 1;
	eal_argv[0] = argv[0];
	for (int i = 0; i < o->eal_argc; i++)
		eal_argv[i + 1] = argv[o->eal_first + i];
	if (dp_dpdk_eal_wants_unlink(eal_argc, eal_argv))
		eal_argv[eal_argc++] = "--huge-unlink";
	int e = dp_dpdk_eal_start(eal_argc, eal_argv);
	if (e == -EPERM) {
		free(eal_argv);
		return 2;
	}
	if (e != 0)
		goto fail;
	eal_up = 1;
	const volatile sig_atomic_t *stop = dp_ctrl_signals_install();

	bool adaptive = poll_adaptive(o);
	if (dp_dpdk_port_open(&port, (uint16_t)o->workers, o->mbufs, o->steer_external,
			      adaptive) != 0)
		goto fail;
	const char *xnames[DP_XCTR_MAX];
	struct dp_shm_params sp;

	dp_opts_shm_params(o, &sp);
	sp.xctr_names = xnames;
	sp.n_xctr = dp_dpdk_xctr_names(xnames, DP_XCTR_MAX);
	e = dp_shm_create(&shm, &sp);
	if (e != 0) {
		fprintf(stderr, "%s: cannot create shared memory '%s': %s\n", prog, o->shm_name,
			strerror(-e));
		goto fail;
	}
	e = dp_tables_init(&tables, o->max_masters);
	if (e != 0) {
		fprintf(stderr, "%s: tables: %s\n", prog, strerror(-e));
		goto fail;
	}
	char terr[512];
	tls = dp_tls_create(&o->tls, terr, sizeof(terr));
	if (tls == NULL && o->tls.mode != DP_TLS_OFF) {
		fprintf(stderr, "%s: %s\n", prog, terr);
		goto fail;
	}
	struct dp_dpdk_cfg dc = {
		.ip = o->listen_ipv4,
		.netmask = ~0u << (32 - o->prefix_len),
		.gateway = o->gateway,
		.tcp_port = o->listen_port,
		.max_conns = o->max_conns,
		.login_fail_burst = o->login_burst,
		.login_fail_refill_ns = (uint64_t)o->login_refill_ms * 1000000ull,
		.tls = tls,
		.poll_adaptive = adaptive,
	};
	dp_opts_session_cfg(o, &dc.session);
	dd = dp_dpdk_start(&dc, &port, &shm, &tables);
	if (dd == NULL)
		goto fail;
	fprintf(stderr, "%s: %s:%u on port %u (%02x:%02x:%02x:%02x:%02x:%02x), "
			"%u worker(s)%s, %s polling%s, shm %s\n", prog,
		o->listen_addr, (unsigned int)o->listen_port, (unsigned int)port.port_id,
		port.mac[0], port.mac[1], port.mac[2], port.mac[3], port.mac[4], port.mac[5],
		o->workers, port.rss ? " with RSS" : o->workers > 1 ? " with external steering" : "",
		adaptive ? "adaptive" : "busy",
		adaptive ? (port.rx_intr ? " (RX interrupts)" : " (pauses)") : "", shm.name);
	if (o->ready_file != NULL && (e = dp_ctrl_publish_file(o->ready_file, "ready\n")) != 0) {
		fprintf(stderr, "%s: cannot write %s: %s\n", prog, o->ready_file, strerror(-e));
		goto fail;
	}
	dp_ctrl_run(&shm, &tables, o->stats_ms, o->cp_stale_ms, prog, stop, dp_tls_hup, tls);
	rc = 0;
fail:
	if (dd != NULL) {
		dp_dpdk_join(dd);
		dp_dpdk_stats_print(dd, stderr);
		dp_dpdk_stop(dd);
	}
	if (shm.hdr != NULL)
		dp_ctrl_print_stats(&shm, stderr, prog);
	dp_tls_destroy(tls);
	dp_dpdk_port_stats_print(&port, stderr);
	dp_dpdk_port_close(&port);
	dp_tables_fini(&tables);
	dp_shm_destroy(&shm);
	if (eal_up)
		rte_eal_cleanup();
	free(eal_argv);
	return rc;
}
