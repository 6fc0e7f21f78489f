/*
 * dp_dpdk_app: the ingest server on the DPDK transport (dp_dpdk_loop). Contract in
 * dp_dpdk_app.h. The main lcore applies control-ring commands, keeps the heartbeat and
 * prints counters; worker lcores run the poll loop.
 */
#include "dp_dpdk_app.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dp_ctrl.h"
#include "dp_dpdk_loop.h"
#include "dp_dpdk_port.h"
#include "dp_hist.h"
#include "dp_shm.h"
#include "dp_tables.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct opts {
	char listen_addr[64];
	uint16_t listen_port;
	uint32_t prefix;
	uint32_t gateway;
	const char *shm_name;
	const char *ready_file;
	uint32_t workers;
	uint32_t ring_entries;
	uint32_t ack_entries;
	uint32_t max_conns;
	uint32_t max_masters;
	uint32_t max_frame;
	uint32_t idle_ms;
	uint32_t login_burst;
	uint32_t login_refill_ms;
	uint32_t stats_ms;
	uint32_t mbufs;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: decp-dataplane-dpdk --listen IPV4:PORT --shm NAME [options] -- EAL-ARGS\n"
		"\n"
		"Ingest server on DPDK with the userspace TCP/IP stack (`--stack dpdk`). The\n"
		"stack answers ARP and ICMP echo for IPV4 and terminates TCP on PORT.\n"
		"\n"
		"  --stack dpdk             accepted for symmetry with decp-dataplane\n"
		"  --listen IPV4:PORT       the stack's own address and TCP port (1..65535)\n"
		"  --prefix-len N           on-link prefix length (default 24)\n"
		"  --gateway IPV4           next hop for off-link peers (default none)\n"
		"  --shm NAME               shared-memory segment name (/dev/shm/NAME)\n"
		"  --workers N              worker lcores = port queues (1..%u, default 1); more\n"
		"                           than 1 needs a port with RSS\n"
		"  --ring-size N            ingress ring entries per worker (default 16384)\n"
		"  --ack-ring-size N        ACK ring entries per worker (default 16384)\n"
		"  --max-conns N            sessions per worker (default 1024)\n"
		"  --max-masters N          master runtime slots (default 65536)\n"
		"  --max-frame BYTES        largest frame payload (16..4096, default 4096)\n"
		"  --idle-timeout-ms MS     close a session idle that long (default 30000)\n"
		"  --login-fail-burst N     failed logins allowed per source address (default 20)\n"
		"  --login-fail-refill-ms MS  one more allowed per MS (default 1000)\n"
		"  --mbufs N                packet buffers in the pool (default 16383)\n"
		"  --ready-file PATH        written (\"ready\") once the port is up\n"
		"  --stats-ms MS            print counters to stderr every MS (default 0 = never)\n"
		"  --help                   this text\n"
		"\n"
		"EAL-ARGS must contain --no-pci (with --vdev devices) or a PCI allow-list (-a);\n"
		"otherwise the program refuses to start. Example:\n"
		"  decp-dataplane-dpdk --listen 10.77.0.1:7000 --shm dp1 -- --no-pci \\\n"
		"      --vdev net_tap0,iface=dtap0 -l 0-1 --file-prefix dp1 --no-huge -m 256\n"
		"SIGTERM/SIGINT: stop, reset sessions, print counters, remove the segment.\n",
		DP_SHM_MAX_WORKERS);
}

static int parse_u32(const char *name, const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "decp-dataplane-dpdk: %s: '%s' is not a number in %u..%u\n", name,
			s, lo, hi);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_ipv4(const char *name, const char *s, uint32_t *out)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "decp-dataplane-dpdk: %s: '%s' is not an IPv4 address\n", name, s);
		return -1;
	}
	*out = ntohl(a.s_addr);
	return 0;
}

static int parse_listen(const char *s, struct opts *o)
{
	const char *colon = strrchr(s, ':');
	size_t alen = colon != NULL ? (size_t)(colon - s) : 0;
	if (colon == NULL || alen == 0 || alen >= sizeof(o->listen_addr)) {
		fprintf(stderr, "decp-dataplane-dpdk: --listen: expected IPV4:PORT, got '%s'\n", s);
		return -1;
	}
	memcpy(o->listen_addr, s, alen);
	o->listen_addr[alen] = '\0';
	uint32_t port;
	if (parse_u32("--listen port", colon + 1, 1, 65535, &port) != 0)
		return -1;
	o->listen_port = (uint16_t)port;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"stack", required_argument, NULL, 's'},
		{"listen", required_argument, NULL, 'l'},
		{"prefix-len", required_argument, NULL, 'P'},
		{"gateway", required_argument, NULL, 'g'},
		{"shm", required_argument, NULL, 'm'},
		{"workers", required_argument, NULL, 'w'},
		{"ring-size", required_argument, NULL, 'r'},
		{"ack-ring-size", required_argument, NULL, 'a'},
		{"max-conns", required_argument, NULL, 'c'},
		{"max-masters", required_argument, NULL, 'M'},
		{"max-frame", required_argument, NULL, 'f'},
		{"idle-timeout-ms", required_argument, NULL, 'i'},
		{"login-fail-burst", required_argument, NULL, 'b'},
		{"login-fail-refill-ms", required_argument, NULL, 'R'},
		{"mbufs", required_argument, NULL, 'n'},
		{"ready-file", required_argument, NULL, 'y'},
		{"stats-ms", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	int have_listen = 0;
	/* '+': stop at the first non-option so EAL arguments after "--" stay untouched. */
	while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
		int rc = 0;
		switch (c) {
		case 's':
			if (strcmp(optarg, "dpdk") != 0) {
				fprintf(stderr, "decp-dataplane-dpdk: only --stack dpdk here\n");
				rc = -1;
			}
			break;
		case 'l': rc = parse_listen(optarg, o); have_listen = 1; break;
		case 'P': rc = parse_u32("--prefix-len", optarg, 1, 31, &o->prefix); break;
		case 'g': rc = parse_ipv4("--gateway", optarg, &o->gateway); break;
		case 'm': o->shm_name = optarg; break;
		case 'w': rc = parse_u32("--workers", optarg, 1, DP_SHM_MAX_WORKERS, &o->workers); break;
		case 'r': rc = parse_u32("--ring-size", optarg, 8, 1u << 24, &o->ring_entries); break;
		case 'a': rc = parse_u32("--ack-ring-size", optarg, 8, 1u << 24, &o->ack_entries); break;
		case 'c': rc = parse_u32("--max-conns", optarg, 1, 100000, &o->max_conns); break;
		case 'M': rc = parse_u32("--max-masters", optarg, 1, 1u << 24, &o->max_masters); break;
		case 'f': rc = parse_u32("--max-frame", optarg, 16, DP_FRAME_MAX_LIMIT, &o->max_frame); break;
		case 'i': rc = parse_u32("--idle-timeout-ms", optarg, 1, 86400000, &o->idle_ms); break;
		case 'b': rc = parse_u32("--login-fail-burst", optarg, 1, 10000, &o->login_burst); break;
		case 'R': rc = parse_u32("--login-fail-refill-ms", optarg, 0, 86400000, &o->login_refill_ms); break;
		case 'n': rc = parse_u32("--mbufs", optarg, 1023, 1u << 22, &o->mbufs); break;
		case 'y': o->ready_file = optarg; break;
		case 'S': rc = parse_u32("--stats-ms", optarg, 0, 86400000, &o->stats_ms); break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -1;
		}
		if (rc != 0)
			return -1;
	}
	if (!have_listen || o->shm_name == NULL) {
		fprintf(stderr, "decp-dataplane-dpdk: --listen and --shm are required (see --help)\n");
		return -1;
	}
	uint32_t ip;
	if (parse_ipv4("--listen", o->listen_addr, &ip) != 0)
		return -1;
	if (optind >= argc || strcmp(argv[optind - 1], "--") != 0) {
		fprintf(stderr, "decp-dataplane-dpdk: EAL arguments are required after '--' "
				"(see --help)\n");
		return -1;
	}
	return 0;
}

int dp_dpdk_main(int argc, char **argv)
{
	struct opts o = {
		.prefix = 24,
		.workers = 1,
		.ring_entries = 16384,
		.ack_entries = 16384,
		.max_conns = 1024,
		.max_masters = 65536,
		.max_frame = DP_FRAME_MAX_LIMIT,
		.idle_ms = 30000,
		.login_burst = 20,
		.login_refill_ms = 1000,
		.mbufs = 16383,
	};
	struct dp_shm shm;
	struct dp_tables tables;
	struct dp_dpdk_port port;
	struct dp_dpdk *dd = NULL;
	int rc = 1, eal_up = 0;

	memset(&shm, 0, sizeof(shm));
	memset(&tables, 0, sizeof(tables));
	memset(&port, 0, sizeof(port));
	int pa = parse_args(argc, argv, &o);
	if (pa != 0)
		return pa > 0 ? 0 : 2; /* --help: 0 */
	/* EAL sees argv[0] followed by everything after "--". */
	int eal_argc = argc - optind + 1;
	char **eal_argv = calloc((size_t)eal_argc + 1, sizeof(char *));
	if (eal_argv == NULL)
		return 1;
	eal_argv[0] = argv[0];
	for (int i = optind; i < argc; i++)
		eal_argv[i - optind + 1] = argv[i];
	int e = dp_dpdk_eal_start(eal_argc, eal_argv);
	if (e == -EPERM) {
		free(eal_argv);
		return 2;
	}
	if (e != 0)
		goto fail;
	eal_up = 1;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (dp_dpdk_port_open(&port, (uint16_t)o.workers, o.mbufs) != 0)
		goto fail;
	struct dp_shm_params sp = {
		.name = o.shm_name,
		.n_workers = o.workers,
		.ingress_entries = o.ring_entries,
		.ack_entries = o.ack_entries,
		.ctrl_entries = 4096,
	};
	e = dp_shm_create(&shm, &sp);
	if (e != 0) {
		fprintf(stderr, "decp-dataplane-dpdk: cannot create shared memory '%s': %s\n",
			o.shm_name, strerror(-e));
		goto fail;
	}
	e = dp_tables_init(&tables, o.max_masters);
	if (e != 0) {
		fprintf(stderr, "decp-dataplane-dpdk: tables: %s\n", strerror(-e));
		goto fail;
	}
	uint32_t ip = 0;
	parse_ipv4("--listen", o.listen_addr, &ip);
	struct dp_dpdk_cfg dc = {
		.ip = ip,
		.netmask = ~0u << (32 - o.prefix),
		.gateway = o.gateway,
		.tcp_port = o.listen_port,
		.max_conns = o.max_conns,
		.login_fail_burst = o.login_burst,
		.login_fail_refill_ns = (uint64_t)o.login_refill_ms * 1000000ull,
		.session = {
			.max_frame = o.max_frame,
			.idle_timeout_ns = (uint64_t)o.idle_ms * 1000000ull,
		},
	};
	dd = dp_dpdk_start(&dc, &port, &shm, &tables);
	if (dd == NULL)
		goto fail;
	fprintf(stderr, "decp-dataplane-dpdk: %s:%u on port %u (%02x:%02x:%02x:%02x:%02x:%02x), "
			"%u worker(s)%s, shm %s\n",
		o.listen_addr, (unsigned int)o.listen_port, (unsigned int)port.port_id,
		port.mac[0], port.mac[1], port.mac[2], port.mac[3], port.mac[4], port.mac[5],
		o.workers, port.rss ? " with RSS" : "", shm.name);
	if (o.ready_file != NULL) {
		char tmp[PATH_MAX];
		snprintf(tmp, sizeof(tmp), "%s.tmp", o.ready_file);
		FILE *f = fopen(tmp, "w");
		if (f == NULL || fprintf(f, "ready\n") < 0 || fclose(f) != 0 ||
		    rename(tmp, o.ready_file) != 0) {
			fprintf(stderr, "decp-dataplane-dpdk: cannot write %s: %s\n", o.ready_file,
				strerror(errno));
			goto fail;
		}
	}

	uint64_t next_stats = dp_mono_ns() + (uint64_t)o.stats_ms * 1000000ull;
	while (!stop_requested) {
		dp_ctrl_poll(&shm, &tables);
		uint64_t now = dp_mono_ns();
		atomic_store_explicit(&shm.hdr->dp_heartbeat_ns, now, memory_order_relaxed);
		if (o.stats_ms != 0 && now >= next_stats) {
			dp_ctrl_print_stats(&shm, stderr, "decp-dataplane-dpdk");
			next_stats = now + (uint64_t)o.stats_ms * 1000000ull;
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	rc = 0;
fail:
	if (dd != NULL) {
		dp_dpdk_join(dd);
		dp_dpdk_stats_print(dd, stderr);
		dp_dpdk_stop(dd);
	}
	if (shm.hdr != NULL)
		dp_ctrl_print_stats(&shm, stderr, "decp-dataplane-dpdk");
	dp_dpdk_port_stats_print(&port, stderr);
	dp_dpdk_port_close(&port);
	dp_tables_fini(&tables);
	dp_shm_destroy(&shm);
	if (eal_up)
		rte_eal_cleanup();
	free(eal_argv);
	return rc;
}
