/* dp_opts: decp-dataplane's command line. Contract in dp_opts.h. */
#include "dp_opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dp_addr.h"
#include "dp_conf.h"
#include "dp_session.h"
#include "dp_shm.h"

void dp_opts_usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s --stack posix --listen ADDR:PORT --shm NAME [options]\n"
		"       %s --stack dpdk --listen IPV4:PORT --shm NAME [options] -- EAL-ARGS\n"
		"\n"
		"Ingest server: validates master sessions (token, HMAC, sequence), stamps\n"
		"Server_Arrival_Time and hands signals to the control side through shared memory.\n"
		"\n"
		"  --stack posix|dpdk       transport: kernel sockets + epoll, or DPDK poll mode\n"
		"                           with decp's userspace TCP stack (docs/dataplane.md)\n"
		"  --listen ADDR:PORT       posix: numeric address, e.g. 127.0.0.1:7000, [::1]:7000;\n"
		"                           port 0 picks a free port (see --port-file).\n"
		"                           dpdk: the stack's own IPv4 address (it answers ARP and\n"
		"                           ICMP echo for it) and TCP port 1..65535\n"
		"  --shm NAME               shared-memory segment name (/dev/shm/NAME): 1..%u\n"
		"                           characters of A-Z a-z 0-9 . _ - (an optional leading\n"
		"                           '/'), not . or ..\n"
		"  --workers N              worker threads / lcores (1..%u, default 1); dpdk: one\n"
		"                           port queue each, more than 1 needs RSS on the port\n"
		"                           or --steering external\n"
		"  --ring-size N            ingress ring entries per worker (8..2^24, rounded up\n"
		"                           to a power of two; default 16384)\n"
		"  --ack-ring-size N        ACK ring entries per worker (8..2^24, rounded up to a\n"
		"                           power of two; default 16384); all workers' rings\n"
		"                           together must fit a 4 GiB segment (an ingress entry\n"
		"                           is 512 bytes: one worker's --ring-size at most 2^22)\n"
		"  --max-conns N            connections per worker (1..100000, default 1024)\n"
		"  --max-masters N          master runtime slots (1..2^24, default 65536; a master\n"
		"                           beyond them cannot log in, docs/ingest.md)\n"
		"  --max-frame BYTES        largest frame payload (16..4096, default 4096)\n"
		"  --idle-timeout-ms MS     close a session without a complete frame for MS\n"
		"                           (1..86400000, default 30000)\n"
		"  --login-fail-burst N     failed logins allowed per source address (1..10000,\n"
		"                           default 20)\n"
		"  --login-fail-refill-ms MS  one more allowed per MS (1..86400000, default 1000)\n"
		"  --preauth-per-source N   connections not logged in yet per source address,\n"
		"                           all workers together (0..100000, default 16, 0 = no\n"
		"                           limit)\n"
		"  --preauth-max N          connections not logged in yet per worker, below\n"
		"                           --max-conns: the rest is for logged-in sessions; a\n"
		"                           new connection beyond it evicts the oldest (1..100000,\n"
		"                           default max-conns / 2)\n"
		"  --hello-timeout-ms MS    close a connection not logged in after MS (0..86400000,\n"
		"                           default 2000, 0 = only --idle-timeout-ms)\n"
		"  --control-stale-ms MS    refuse logins (Nack UNAVAILABLE) once the control\n"
		"                           process has not heartbeaten for MS (0..86400000,\n"
		"                           default 3000, 0 = only when it detaches)\n"
		"  --allow-protocol-1       also accept protocol-1 logins (the license token in\n"
		"                           Hello, in clear) from clients not upgraded yet;\n"
		"                           counted logins_protocol_1 (default: refused)\n"
		"  --stats-ms MS            print counters to stderr every MS (0..86400000,\n"
		"                           default 0 = never)\n"
		"  --tls required|optional|off  TLS 1.3 for masters (default required; optional:\n"
		"                           a first byte 0x16 starts TLS, anything else is\n"
		"                           plaintext)\n"
		"  --tls-cert FILE          PEM server certificate (chain); needed unless off\n"
		"                           (with off it, --tls-key, --tls-client-ca and\n"
		"                           --tls-crl are refused)\n"
		"  --tls-key FILE           PEM private key of --tls-cert\n"
		"  --tls-client-ca FILE     PEM CA of masters' client certificates (mTLS)\n"
		"  --tls-client-cert none|optional|required  ask masters for a certificate\n"
		"                           (default optional with --tls-client-ca, else none);\n"
		"                           one that names another master is refused at login\n"
		"  --tls-crl FILE           PEM CRL(s) of --tls-client-ca: a revoked client\n"
		"                           certificate fails its handshake (tls_refused_cert);\n"
		"                           reread on SIGHUP (decpctl tls revoke writes it)\n"
		"  --tls-handshake-timeout-ms MS  cut a handshake not done in MS (1..600000,\n"
		"                           default 3000)\n"
		"  --tls-handshake-burst N  handshakes allowed per source address (1..10000,\n"
		"                           default 64)\n"
		"  --tls-handshake-refill-ms MS  one more allowed per MS (1..86400000, default\n"
		"                           100)\n"
		"  --tls-unbound-masters ID[,ID...]  masters whose TLS login may carry the zero\n"
		"                           channel binding (a client without the TLS exporter:\n"
		"                           the MetaTrader EA, docs/mt5.md); counted\n"
		"                           logins_unbound. Every other TLS login must bind the\n"
		"                           exporter (refused as 'unbound'). Up to 32, repeatable\n"
		"  --tls-cert-masters ID[,ID...]  masters that must log in over TLS with a client\n"
		"                           certificate naming them (mTLS per master; needs\n"
		"                           --tls-client-ca): without one refused at login as\n"
		"                           'cert_required', another master's as 'cert_mismatch'.\n"
		"                           Up to 32, repeatable\n"
		"  --config FILE            settings file, 'key = value' lines: these options with\n"
		"                           '_' for '-' and EAL keys (docs/dataplane.md); the\n"
		"                           command line overrides it\n"
		"  --help                   this text\n"
		"posix only:\n"
		"  --port-file PATH         write the bound port there once listening\n"
		"dpdk only:\n"
		"  --prefix-len N           on-link prefix length (1..31, default 24)\n"
		"  --gateway IPV4           next hop for off-link peers (default none)\n"
		"  --mbufs N                packet buffers in the pool (1023..2^22, default 16383)\n"
		"  --ready-file PATH        written (\"ready\") once the port is up\n"
		"  --steering rss|external  how a connection's frames reach one worker's queue\n"
		"                           with --workers > 1: rss (default) = the port hashes\n"
		"                           the IPv4/TCP 4-tuple (Toeplitz RSS, refused if the\n"
		"                           port has none); external = the port is not configured\n"
		"                           for RSS and the device or its peer already delivers\n"
		"                           each 4-tuple to one fixed queue (memif/vhost peers)\n"
		"  --poll busy|adaptive|auto  busy = spin on the queue (a whole core, lowest\n"
		"                           latency); adaptive = spin while traffic flows, sleep on\n"
		"                           the RX interrupt after 200 us idle (the next frame\n"
		"                           wakes it at once); auto (default) = busy when\n"
		"                           every worker lcore is an isolated CPU, else adaptive\n"
		"\n"
		"dpdk: EAL-ARGS must contain --no-pci (with --vdev devices) or a PCI allow-list\n"
		"(-a); otherwise the program refuses to start. Example:\n"
		"  %s --stack dpdk --listen 10.77.0.1:7000 --shm dp1 -- --no-pci \\\n"
		"      --vdev net_tap0,iface=dtap0 -l 0-1 --file-prefix dp1 --no-huge -m 256\n"
		"\n"
		"Logins are refused (Nack UNAVAILABLE) until the control side sends READY on the\n"
		"control ring. SIGTERM/SIGINT: stop, close sessions, print counters (dpdk),\n"
		"remove the segment. SIGHUP: reread --tls-crl.\n"
		"Exit status: 0 after SIGTERM/SIGINT or --help, 2 for a usage error (an option,\n"
		"its value or a combination refused, a --config file refused or unreadable, EAL\n"
		"arguments without --no-pci or an allow-list), 1 for a failure at start (shared\n"
		"memory, a TLS file, the listening socket; dpdk: the EAL, the port).\n",
		prog, prog, DP_SHM_NAME_MAX - 1u, DP_SHM_MAX_WORKERS, prog);
}

static int parse_u32(const char *prog, const char *name, const char *s, uint32_t lo,
		     uint32_t hi, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	/* digits only: strtoul also takes leading space, '+' and '-' (which wraps) */
	if (errno != 0 || *s < '0' || *s > '9' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "%s: %s: '%s' is not a number in %u..%u\n", prog, name, s, lo, hi);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

/* Milliseconds lo..hi into nanoseconds. */
static int parse_ms_ns(const char *prog, const char *name, const char *s, uint32_t lo,
		       uint32_t hi, uint64_t *out_ns)
{
	uint32_t ms;
	if (parse_u32(prog, name, s, lo, hi, &ms) != 0)
		return -1;
	*out_ns = (uint64_t)ms * 1000000ull;
	return 0;
}

/* A list of masters "ID[,ID...]" (--tls-unbound-masters, --tls-cert-masters): master ids
 * 1..UINT64_MAX-1, appended to ids[*n] (repeatable options), at most DP_UNBOUND_MAX. */
static int parse_masters(const char *prog, const char *name, const char *s, uint64_t *ids,
			 uint32_t *n)
{
	const char *p = s;
	for (;;) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(p, &end, 10);
		if (errno != 0 || end == p || *p == '-' || *p == '+' || v == 0 ||
		    v == UINT64_MAX || (*end != ',' && *end != '\0')) {
			fprintf(stderr, "%s: %s '%s': master ids (1.., decimal) separated by "
					"commas\n", prog, name, s);
			return -1;
		}
		if (*n == DP_UNBOUND_MAX) {
			fprintf(stderr, "%s: %s: at most %u masters\n", prog, name, DP_UNBOUND_MAX);
			return -1;
		}
		ids[(*n)++] = v;
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
}

/* --shm: dp_shm_name_fix's rules, so a name shm_open or the doorbells cannot take is a
 * usage error here rather than a failure to create the segment at start. */
static int parse_shm(const char *prog, const char *s, const char **out)
{
	if (dp_shm_name_fix(NULL, 0, s) != 0) {
		fprintf(stderr, "%s: --shm '%s': " DP_SHM_NAME_RULE "\n", prog, s);
		return -1;
	}
	*out = s;
	return 0;
}

/* A file the program reads or writes: any path but the empty one (which fails only at
 * start, with ENOENT). */
static int parse_path(const char *prog, const char *name, const char *s, const char **out)
{
	if (s[0] == '\0') {
		fprintf(stderr, "%s: %s: the path is empty\n", prog, name);
		return -1;
	}
	*out = s;
	return 0;
}

static int parse_ipv4(const char *prog, const char *name, const char *s, uint32_t *out)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "%s: %s: '%s' is not an IPv4 address\n", prog, name, s);
		return -1;
	}
	*out = ntohl(a.s_addr);
	return 0;
}

/* Options that belong to one stack only: (getopt value, name, stack). */
static const struct {
	int val;
	const char *name;
	enum dp_stack_kind stack;
} only[] = {
	{'p', "--port-file", DP_STACK_POSIX},
	{'P', "--prefix-len", DP_STACK_DPDK},
	{'g', "--gateway", DP_STACK_DPDK},
	{'n', "--mbufs", DP_STACK_DPDK},
	{'y', "--ready-file", DP_STACK_DPDK},
	{'e', "--steering", DP_STACK_DPDK},
	{'L', "--poll", DP_STACK_DPDK},
};

static int parse_stack(const char *prog, const char *s, enum dp_stack_kind *k)
{
	if (strcmp(s, "posix") == 0)
		*k = DP_STACK_POSIX;
	else if (strcmp(s, "dpdk") == 0)
		*k = DP_STACK_DPDK;
	else {
		fprintf(stderr, "%s: --stack '%s': posix or dpdk\n", prog, s);
		return -1;
	}
	return 0;
}

/* Long-only options (no short letter is left for them). */
enum {
	OPT_PREAUTH_PER_SRC = 1000,
	OPT_PREAUTH_MAX,
	OPT_HELLO_TIMEOUT,
	OPT_CONTROL_STALE,
	OPT_ALLOW_PROTOCOL_1,
	OPT_TLS_UNBOUND,
	OPT_TLS_CERT_MASTERS,
	OPT_TLS_CRL,
};

static int parse_one(int c, const char *prog, struct dp_opts *o, const char **listen,
		     bool *client_cert_set)
{
	switch (c) {
	case 's': return parse_stack(prog, optarg, &o->stack);
	case 'l': *listen = optarg; return 0;
	case 'm': return parse_shm(prog, optarg, &o->shm_name);
	case 'w': return parse_u32(prog, "--workers", optarg, 1, DP_SHM_MAX_WORKERS, &o->workers);
	case 'r': return parse_u32(prog, "--ring-size", optarg, 8, 1u << 24, &o->ring_entries);
	case 'a': return parse_u32(prog, "--ack-ring-size", optarg, 8, 1u << 24, &o->ack_entries);
	case 'c': return parse_u32(prog, "--max-conns", optarg, 1, 100000, &o->max_conns);
	case 'M': return parse_u32(prog, "--max-masters", optarg, 1, 1u << 24, &o->max_masters);
	case 'f': return parse_u32(prog, "--max-frame", optarg, 16, DP_FRAME_MAX_LIMIT, &o->max_frame);
	case 'i': return parse_u32(prog, "--idle-timeout-ms", optarg, 1, 86400000, &o->idle_ms);
	case 'b': return parse_u32(prog, "--login-fail-burst", optarg, 1, 10000, &o->login_burst);
	case 'R':
		/* 1..: the limiter takes 0 as "never refill", which locked a source out for
		 * the process's life after its burst */
		return parse_u32(prog, "--login-fail-refill-ms", optarg, 1, 86400000,
				 &o->login_refill_ms);
	case 'S': return parse_u32(prog, "--stats-ms", optarg, 0, 86400000, &o->stats_ms);
	case 'T':
		if (dp_tls_mode_parse(optarg, &o->tls.mode) != 0) {
			fprintf(stderr, "%s: --tls '%s': required, optional or off\n", prog, optarg);
			return -1;
		}
		return 0;
	case 'C': return parse_path(prog, "--tls-cert", optarg, &o->tls.cert_file);
	case 'K': return parse_path(prog, "--tls-key", optarg, &o->tls.key_file);
	case 'A': return parse_path(prog, "--tls-client-ca", optarg, &o->tls.client_ca_file);
	case OPT_TLS_CRL: return parse_path(prog, "--tls-crl", optarg, &o->tls.crl_file);
	case 'Q':
		if (dp_tls_client_cert_parse(optarg, &o->tls.client_cert) != 0) {
			fprintf(stderr, "%s: --tls-client-cert '%s': none, optional or required\n",
				prog, optarg);
			return -1;
		}
		*client_cert_set = true;
		return 0;
	case 'H':
		return parse_ms_ns(prog, "--tls-handshake-timeout-ms", optarg, 1, 600000,
				   &o->tls.handshake_timeout_ns);
	case 'B': return parse_u32(prog, "--tls-handshake-burst", optarg, 1, 10000,
				   &o->tls.handshake_burst);
	case 'F':
		return parse_ms_ns(prog, "--tls-handshake-refill-ms", optarg, 1, 86400000,
				   &o->tls.handshake_refill_ns);
	case OPT_PREAUTH_PER_SRC:
		return parse_u32(prog, "--preauth-per-source", optarg, 0, 100000, &o->preauth_per_src);
	case OPT_PREAUTH_MAX: return parse_u32(prog, "--preauth-max", optarg, 1, 100000, &o->preauth_max);
	case OPT_HELLO_TIMEOUT:
		return parse_u32(prog, "--hello-timeout-ms", optarg, 0, 86400000, &o->hello_ms);
	case OPT_ALLOW_PROTOCOL_1: o->allow_protocol_1 = true; return 0;
	case OPT_TLS_UNBOUND:
		return parse_masters(prog, "--tls-unbound-masters", optarg, o->unbound_masters,
				     &o->n_unbound);
	case OPT_TLS_CERT_MASTERS:
		return parse_masters(prog, "--tls-cert-masters", optarg, o->cert_masters,
				     &o->n_cert_masters);
	case OPT_CONTROL_STALE:
		return parse_u32(prog, "--control-stale-ms", optarg, 0, 86400000, &o->cp_stale_ms);
	case 'p': return parse_path(prog, "--port-file", optarg, &o->port_file);
	case 'P': return parse_u32(prog, "--prefix-len", optarg, 1, 31, &o->prefix_len);
	case 'g': return parse_ipv4(prog, "--gateway", optarg, &o->gateway);
	case 'n': return parse_u32(prog, "--mbufs", optarg, 1023, 1u << 22, &o->mbufs);
	case 'y': return parse_path(prog, "--ready-file", optarg, &o->ready_file);
	case 'e':
		if (strcmp(optarg, "rss") != 0 && strcmp(optarg, "external") != 0) {
			fprintf(stderr, "%s: --steering '%s': rss or external\n", prog, optarg);
			return -1;
		}
		o->steer_external = optarg[0] == 'e';
		return 0;
	case 'L':
		if (strcmp(optarg, "auto") == 0)
			o->poll = DP_POLL_AUTO;
		else if (strcmp(optarg, "busy") == 0)
			o->poll = DP_POLL_BUSY;
		else if (strcmp(optarg, "adaptive") == 0)
			o->poll = DP_POLL_ADAPTIVE;
		else {
			fprintf(stderr, "%s: --poll '%s': busy, adaptive or auto\n", prog, optarg);
			return -1;
		}
		return 0;
	default: return -1;
	}
}

/* --listen, once the stack is known: posix any numeric address and port 0..65535, dpdk
 * IPv4 and port 1..65535. */
static int parse_listen(const char *prog, const char *s, struct dp_opts *o)
{
	const char *why;
	bool dpdk = o->stack == DP_STACK_DPDK;
	if (dp_hostport_parse(s, o->listen_addr, sizeof(o->listen_addr), &o->listen_port,
			      dpdk ? 1 : 0, &why) != 0) {
		fprintf(stderr, "%s: --listen '%s': %s\n", prog, s, why);
		return -1;
	}
	return dpdk ? parse_ipv4(prog, "--listen", o->listen_addr, &o->listen_ipv4) : 0;
}

/* --workers, --ring-size and --ack-ring-size together: the segment they make must fit
 * dp_shm's 4 GiB, else dp_shm_create fails at start (-E2BIG). */
static int segment_check(const char *prog, const struct dp_opts *o)
{
	struct dp_shm_params sp;
	struct dp_shm_hdr h;

	memset(&h, 0, sizeof(h));
	dp_opts_shm_params(o, &sp);
	if (dp_shm_layout(&sp, &h) != 0) {
		fprintf(stderr, "%s: --workers %u with --ring-size %u and --ack-ring-size %u: the "
				"shared-memory segment would be over 4 GiB\n", prog, o->workers,
			o->ring_entries, o->ack_entries);
		return -1;
	}
	return 0;
}

int dp_opts_parse(int argc, char **argv, enum dp_stack_kind preset, const char *prog,
		  struct dp_opts *o)
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
		{"stats-ms", required_argument, NULL, 'S'},
		{"tls", required_argument, NULL, 'T'},
		{"tls-cert", required_argument, NULL, 'C'},
		{"tls-key", required_argument, NULL, 'K'},
		{"tls-client-ca", required_argument, NULL, 'A'},
		{"tls-client-cert", required_argument, NULL, 'Q'},
		{"tls-handshake-timeout-ms", required_argument, NULL, 'H'},
		{"tls-handshake-burst", required_argument, NULL, 'B'},
		{"tls-handshake-refill-ms", required_argument, NULL, 'F'},
		{"preauth-per-source", required_argument, NULL, OPT_PREAUTH_PER_SRC},
		{"preauth-max", required_argument, NULL, OPT_PREAUTH_MAX},
		{"hello-timeout-ms", required_argument, NULL, OPT_HELLO_TIMEOUT},
		{"control-stale-ms", required_argument, NULL, OPT_CONTROL_STALE},
		{"allow-protocol-1", no_argument, NULL, OPT_ALLOW_PROTOCOL_1},
		{"tls-unbound-masters", required_argument, NULL, OPT_TLS_UNBOUND},
		{"tls-cert-masters", required_argument, NULL, OPT_TLS_CERT_MASTERS},
		{"tls-crl", required_argument, NULL, OPT_TLS_CRL},
		{"port-file", required_argument, NULL, 'p'},
		{"prefix-len", required_argument, NULL, 'P'},
		{"gateway", required_argument, NULL, 'g'},
		{"mbufs", required_argument, NULL, 'n'},
		{"ready-file", required_argument, NULL, 'y'},
		{"steering", required_argument, NULL, 'e'},
		{"poll", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *listen = NULL;
	bool client_cert_set = false;
	bool seen[sizeof(only) / sizeof(only[0])] = {false};
	int c;

	memset(o, 0, sizeof(*o));
	o->stack = preset;
	o->workers = 1;
	o->ring_entries = 16384;
	o->ack_entries = 16384;
	o->max_conns = 1024;
	o->max_masters = 65536;
	o->max_frame = DP_FRAME_MAX_LIMIT;
	o->idle_ms = 30000;
	o->login_burst = 20;
	o->login_refill_ms = 1000;
	o->preauth_per_src = 16;
	o->hello_ms = 2000;
	o->cp_stale_ms = 3000;
	o->prefix_len = 24;
	o->mbufs = 16383;
	o->tls.mode = DP_TLS_REQUIRED;
	o->tls.handshake_timeout_ns = 3000ull * 1000000ull;
	o->tls.handshake_burst = 64;
	o->tls.handshake_refill_ns = 100ull * 1000000ull;
	optind = 1;
	/* '+': stop at the first non-option, so EAL arguments after "--" stay untouched. */
	while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
		if (c == 'h') {
			dp_opts_usage(stdout, prog);
			return 1;
		}
		if (c == '?' || c == ':' || parse_one(c, prog, o, &listen, &client_cert_set) != 0) {
			if (c == '?' || c == ':')
				fprintf(stderr, "%s: see --help\n", prog);
			return -1;
		}
		for (size_t k = 0; k < sizeof(only) / sizeof(only[0]); k++)
			seen[k] |= only[k].val == c;
	}
	if (o->stack == DP_STACK_NONE) {
		fprintf(stderr, "%s: --stack posix or --stack dpdk is required\n", prog);
		return -1;
	}
	for (size_t k = 0; k < sizeof(only) / sizeof(only[0]); k++)
		if (seen[k] && only[k].stack != o->stack) {
			fprintf(stderr, "%s: %s is for --stack %s only\n", prog, only[k].name,
				only[k].stack == DP_STACK_DPDK ? "dpdk" : "posix");
			return -1;
		}
	if (listen == NULL || o->shm_name == NULL) {
		fprintf(stderr, "%s: --listen and --shm are required (see --help)\n", prog);
		return -1;
	}
	if (parse_listen(prog, listen, o) != 0)
		return -1;
	if (o->tls.mode != DP_TLS_OFF && (o->tls.cert_file == NULL || o->tls.key_file == NULL)) {
		fprintf(stderr, "%s: --tls %s needs --tls-cert and --tls-key (or --tls off)\n", prog,
			o->tls.mode == DP_TLS_REQUIRED ? "required" : "optional");
		return -1;
	}
	/* A TLS file with TLS off would be ignored: an operator who set a client CA and turned
	 * TLS off by mistake would serve plain text believing masters were checked. */
	if (o->tls.mode == DP_TLS_OFF) {
		const char *f = o->tls.cert_file ? "--tls-cert" : o->tls.key_file ? "--tls-key"
				: o->tls.client_ca_file ? "--tls-client-ca"
				: o->tls.crl_file ? "--tls-crl" : NULL;
		if (f != NULL) {
			fprintf(stderr, "%s: --tls off with %s: TLS is off, so %s would be ignored "
					"(remove it, or --tls required|optional)\n", prog, f, f);
			return -1;
		}
	}
	if (!client_cert_set)
		o->tls.client_cert = o->tls.client_ca_file != NULL ? DP_TLS_CLIENT_CERT_OPTIONAL
								   : DP_TLS_CLIENT_CERT_NONE;
	if (o->tls.crl_file != NULL && o->tls.client_cert == DP_TLS_CLIENT_CERT_NONE) {
		fprintf(stderr, "%s: --tls-crl needs client certificates (--tls-client-ca)\n", prog);
		return -1;
	}
	if (o->n_cert_masters > 0 && (o->tls.client_cert == DP_TLS_CLIENT_CERT_NONE ||
				      o->tls.mode == DP_TLS_OFF)) {
		fprintf(stderr, "%s: --tls-cert-masters needs TLS with client certificates "
				"(--tls-client-ca, --tls-client-cert optional or required)\n", prog);
		return -1;
	}
	if (o->tls.client_cert != DP_TLS_CLIENT_CERT_NONE && o->tls.client_ca_file == NULL) {
		fprintf(stderr, "%s: --tls-client-cert %s needs --tls-client-ca\n", prog,
			o->tls.client_cert == DP_TLS_CLIENT_CERT_REQUIRED ? "required" : "optional");
		return -1;
	}
	if (segment_check(prog, o) != 0)
		return -1;
	if (o->preauth_max == 0)
		o->preauth_max = o->max_conns > 1 ? o->max_conns / 2 : 1;
	else if (o->preauth_max > o->max_conns ||
		 (o->preauth_max == o->max_conns && o->max_conns > 1)) {
		fprintf(stderr, "%s: --preauth-max %u must be below --max-conns %u (the rest is "
				"kept for logged-in sessions)\n", prog, o->preauth_max, o->max_conns);
		return -1;
	}
	if (o->stack == DP_STACK_POSIX) {
		if (optind < argc) {
			fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", prog,
				argv[optind]);
			return -1;
		}
		return 0;
	}
	if (optind >= argc || strcmp(argv[optind - 1], "--") != 0) {
		fprintf(stderr, "%s: EAL arguments are required after '--' (see --help)\n", prog);
		return -1;
	}
	o->eal_first = optind;
	o->eal_argc = argc - optind;
	return 0;
}

int dp_opts_load(int *argc, char ***argv, enum dp_stack_kind preset, const char *prog,
		 struct dp_opts *o)
{
	char err[256];
	if (dp_conf_expand(*argc, *argv, argc, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return -1;
	}
	return dp_opts_parse(*argc, *argv, preset, prog, o);
}

void dp_opts_shm_params(const struct dp_opts *o, struct dp_shm_params *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->name = o->shm_name;
	sp->n_workers = o->workers;
	sp->ingress_entries = o->ring_entries;
	sp->ack_entries = o->ack_entries;
	sp->ctrl_entries = 4096;
}

void dp_opts_session_cfg(const struct dp_opts *o, struct dp_session_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->max_frame = o->max_frame;
	c->idle_timeout_ns = (uint64_t)o->idle_ms * 1000000ull;
	c->hello_timeout_ns = (uint64_t)o->hello_ms * 1000000ull;
	c->preauth_per_src = o->preauth_per_src;
	c->preauth_max = o->preauth_max;
	c->allow_protocol_1 = o->allow_protocol_1;
	c->n_unbound = o->n_unbound;
	memcpy(c->unbound_masters, o->unbound_masters, sizeof(c->unbound_masters));
	c->n_cert_masters = o->n_cert_masters;
	memcpy(c->cert_masters, o->cert_masters, sizeof(c->cert_masters));
}
