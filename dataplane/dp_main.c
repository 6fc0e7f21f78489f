/*
 * decp-dataplane: ingest server. `--stack posix` (kernel sockets); the DPDK stack plugs into
 * the same session layer later. The main thread owns the shared-memory segment and the
 * tables: it applies control-ring commands, keeps the heartbeat, and handles SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dp_addr.h"
#include "dp_ctrl.h"
#include "dp_dpdk_app.h"
#include "dp_hist.h"
#include "dp_posix.h"
#include "dp_shm.h"
#include "dp_tables.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct opts {
	const char *stack;
	char listen_addr[64];
	uint16_t listen_port;
	const char *shm_name;
	const char *port_file;
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
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: decp-dataplane --stack posix --listen ADDR:PORT --shm NAME [options]\n"
		"       decp-dataplane --stack dpdk --listen ADDR:PORT --shm NAME [options] -- EAL-ARGS\n"
		"                      (decp-dataplane --stack dpdk --help: the DPDK options)\n"
		"\n"
		"Ingest server: validates master sessions (token, HMAC, sequence), stamps\n"
		"Server_Arrival_Time and hands signals to the control side through shared memory.\n"
		"\n"
		"  --stack posix|dpdk       transport: kernel sockets + epoll, or DPDK poll mode\n"
		"                           with decp's userspace TCP stack (docs/dataplane.md)\n"
		"  --listen ADDR:PORT       numeric address, e.g. 127.0.0.1:7000, [::1]:7000; port 0\n"
		"                           picks a free port (see --port-file)\n"
		"  --shm NAME               shared-memory segment name (/dev/shm/NAME)\n"
		"  --workers N              worker threads (1..%u, default 1)\n"
		"  --ring-size N            ingress ring entries per worker (default 16384)\n"
		"  --ack-ring-size N        ACK ring entries per worker (default 16384)\n"
		"  --max-conns N            connections per worker (default 1024)\n"
		"  --max-masters N          master runtime slots (default 65536)\n"
		"  --max-frame BYTES        largest frame payload (1..4096, default 4096)\n"
		"  --idle-timeout-ms MS     close a session without a complete frame for MS\n"
		"                           (default 30000)\n"
		"  --login-fail-burst N     failed logins allowed per source address (default 20)\n"
		"  --login-fail-refill-ms MS  one more allowed per MS (default 1000)\n"
		"  --port-file PATH         write the bound port there once listening\n"
		"  --stats-ms MS            print counters to stderr every MS (default 0 = never)\n"
		"  --help                   this text\n"
		"\n"
		"Logins are refused (Nack UNAVAILABLE) until the control side sends READY on the\n"
		"control ring. SIGTERM/SIGINT: stop, close sessions, remove the segment.\n",
		DP_SHM_MAX_WORKERS);
}

static int parse_u32(const char *name, const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "decp-dataplane: %s: '%s' is not a number in %u..%u\n", name, s, lo,
			hi);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_listen(const char *s, struct opts *o)
{
	const char *why;
	if (dp_hostport_parse(s, o->listen_addr, sizeof(o->listen_addr), &o->listen_port, 0,
			      &why) != 0) {
		fprintf(stderr, "decp-dataplane: --listen '%s': %s\n", s, why);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"stack", required_argument, NULL, 's'},
		{"listen", required_argument, NULL, 'l'},
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
		{"port-file", required_argument, NULL, 'p'},
		{"stats-ms", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	int have_listen = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		int rc = 0;
		switch (c) {
		case 's': o->stack = optarg; break;
		case 'l': rc = parse_listen(optarg, o); have_listen = 1; break;
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
		case 'p': o->port_file = optarg; break;
		case 'S': rc = parse_u32("--stats-ms", optarg, 0, 86400000, &o->stats_ms); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
		if (rc != 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "decp-dataplane: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -1;
	}
	if (o->stack == NULL || strcmp(o->stack, "posix") != 0) {
		fprintf(stderr, "decp-dataplane: --stack posix or --stack dpdk is required\n");
		return -1;
	}
	if (!have_listen || o->shm_name == NULL) {
		fprintf(stderr, "decp-dataplane: --listen and --shm are required (see --help)\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	/* The DPDK transport has its own option set (EAL arguments after "--"). */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--stack=dpdk") == 0 ||
		    (strcmp(argv[i], "--stack") == 0 && i + 1 < argc && strcmp(argv[i + 1], "dpdk") == 0))
			return dp_dpdk_main(argc, argv);
	struct opts o = {
		.workers = 1,
		.ring_entries = 16384,
		.ack_entries = 16384,
		.max_conns = 1024,
		.max_masters = 65536,
		.max_frame = DP_FRAME_MAX_LIMIT,
		.idle_ms = 30000,
		.login_burst = 20,
		.login_refill_ms = 1000,
	};
	struct dp_shm shm;
	struct dp_tables tables;
	struct dp_posix *stack = NULL;
	int rc = 1;

	memset(&shm, 0, sizeof(shm));
	memset(&tables, 0, sizeof(tables));
	if (parse_args(argc, argv, &o) != 0)
		return 2;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct dp_shm_params sp = {
		.name = o.shm_name,
		.n_workers = o.workers,
		.ingress_entries = o.ring_entries,
		.ack_entries = o.ack_entries,
		.ctrl_entries = 4096,
	};
	int e = dp_shm_create(&shm, &sp);
	if (e != 0) {
		fprintf(stderr, "decp-dataplane: cannot create shared memory '%s': %s\n", o.shm_name,
			strerror(-e));
		goto fail;
	}
	e = dp_tables_init(&tables, o.max_masters);
	if (e != 0) {
		fprintf(stderr, "decp-dataplane: tables: %s\n", strerror(-e));
		goto fail;
	}
	struct dp_posix_cfg pc = {
		.listen_addr = o.listen_addr,
		.listen_port = o.listen_port,
		.n_workers = o.workers,
		.max_conns = o.max_conns,
		.login_fail_burst = o.login_burst,
		.login_fail_refill_ns = (uint64_t)o.login_refill_ms * 1000000ull,
		.session = {
			.max_frame = o.max_frame,
			.idle_timeout_ns = (uint64_t)o.idle_ms * 1000000ull,
		},
	};
	stack = dp_posix_start(&pc, &shm, &tables);
	if (stack == NULL)
		goto fail;
	if (o.port_file != NULL) {
		char tmp[PATH_MAX];
		snprintf(tmp, sizeof(tmp), "%s.tmp", o.port_file);
		FILE *f = fopen(tmp, "w");
		if (f == NULL || fprintf(f, "%u\n", (unsigned int)dp_posix_port(stack)) < 0 ||
		    fclose(f) != 0 || rename(tmp, o.port_file) != 0) {
			fprintf(stderr, "decp-dataplane: cannot write %s: %s\n", o.port_file,
				strerror(errno));
			goto fail;
		}
	}
	fprintf(stderr, "decp-dataplane: listening on %s:%u, %u worker(s), shm %s\n",
		o.listen_addr, (unsigned int)dp_posix_port(stack), o.workers, shm.name);

	uint64_t next_stats = dp_mono_ns() + (uint64_t)o.stats_ms * 1000000ull;
	while (!stop_requested) {
		dp_ctrl_poll(&shm, &tables);
		uint64_t now = dp_mono_ns();
		atomic_store_explicit(&shm.hdr->dp_heartbeat_ns, now, memory_order_relaxed);
		if (o.stats_ms != 0 && now >= next_stats) {
			dp_ctrl_print_stats(&shm, stderr, "decp-dataplane");
			next_stats = now + (uint64_t)o.stats_ms * 1000000ull;
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	rc = 0;
fail:
	dp_posix_stop(stack);
	if (shm.hdr != NULL && o.stats_ms != 0)
		dp_ctrl_print_stats(&shm, stderr, "decp-dataplane");
	dp_tables_fini(&tables);
	dp_shm_destroy(&shm);
	return rc;
}
