/*
 * dp_relay: seeded impairment relay for the DPDK dataplane tests (issue 6). This kernel has
 * no netem, so frames are bridged in user space between two interfaces the test created
 * (AF_PACKET, one socket per interface) and, per direction and independently:
 *   - dropped with probability --loss,
 *   - duplicated (sent twice) with probability --dup,
 *   - reordered with probability --reorder: held back and sent after the next frame of the
 *     same direction (or after --hold-us when no next frame comes).
 * The pseudo-random sequence is xorshift64* from --seed: the same seed and the same frame
 * order give the same decisions. Counters go to stderr on SIGTERM/SIGINT.
 *
 * usage: dp_relay --a IFACE --b IFACE [--loss P] [--reorder P] [--dup P] [--seed N]
 *                 [--hold-us US]
 * Needs CAP_NET_RAW. Only for interfaces the test created (tap / veth).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX 2048

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct dir {
	const char *name;
	int in_fd;
	int out_fd;
	int out_ifindex;
	uint8_t held[FRAME_MAX];
	size_t held_len;
	uint64_t held_since_ns;
	uint64_t rx, tx, lost, duped, reordered, send_err;
};

static uint64_t rng_state;

static double rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 2685821657736338717ull) >> 11) / (double)(1ull << 53);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int open_iface(const char *name, int *ifindex)
{
	*ifindex = (int)if_nametoindex(name);
	if (*ifindex == 0) {
		fprintf(stderr, "dp_relay: no interface '%s'\n", name);
		return -1;
	}
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0) {
		perror("dp_relay: socket(AF_PACKET)");
		return -1;
	}
	struct sockaddr_ll sll;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = *ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
		perror("dp_relay: bind");
		close(fd);
		return -1;
	}
	/* Frames arrive whatever their destination MAC (the peer's MAC is not ours). */
	struct packet_mreq mr;
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = *ifindex;
	mr.mr_type = PACKET_MR_PROMISC;
	setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr));
	return fd;
}

static void emit(struct dir *d, const uint8_t *f, size_t len)
{
	if (send(d->out_fd, f, len, 0) == (ssize_t)len)
		d->tx++;
	else
		d->send_err++;
}

static void flush_held(struct dir *d)
{
	if (d->held_len > 0) {
		emit(d, d->held, d->held_len);
		d->held_len = 0;
	}
}

static void relay_one(struct dir *d, double loss, double reorder, double dup)
{
	uint8_t f[FRAME_MAX];
	struct sockaddr_ll from;
	for (;;) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(d->in_fd, f, sizeof(f), 0, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			return;
		/* Our own transmissions on that interface come back as OUTGOING: not relayed. */
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		d->rx++;
		double r1 = rnd(), r2 = rnd(), r3 = rnd();
		if (r1 < loss) {
			d->lost++;
			continue;
		}
		if (r2 < reorder && d->held_len == 0) {
			memcpy(d->held, f, (size_t)n);
			d->held_len = (size_t)n;
			d->held_since_ns = mono_ns();
			d->reordered++;
			continue;
		}
		emit(d, f, (size_t)n);
		if (r3 < dup) {
			emit(d, f, (size_t)n);
			d->duped++;
		}
		flush_held(d); /* the held frame goes after this one: reordered */
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dp_relay --a IFACE --b IFACE [--loss P] [--reorder P] [--dup P]\n"
		   "                [--seed N] [--hold-us US]\n"
		   "Bridges frames between two interfaces with seeded loss, reordering and\n"
		   "duplication per direction (P in 0..1, default 0). Counters on SIGTERM.\n");
}

static int parse_p(const char *name, const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0)) {
		fprintf(stderr, "dp_relay: %s: '%s' is not a probability in 0..1\n", name, s);
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"a", required_argument, NULL, 'a'}, {"b", required_argument, NULL, 'b'},
		{"loss", required_argument, NULL, 'l'}, {"reorder", required_argument, NULL, 'r'},
		{"dup", required_argument, NULL, 'd'}, {"seed", required_argument, NULL, 's'},
		{"hold-us", required_argument, NULL, 'H'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *ia = NULL, *ib = NULL;
	double loss = 0, reorder = 0, dup = 0;
	uint64_t seed = 1, hold_ns = 1000000;
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		int rc = 0;
		switch (c) {
		case 'a': ia = optarg; break;
		case 'b': ib = optarg; break;
		case 'l': rc = parse_p("--loss", optarg, &loss); break;
		case 'r': rc = parse_p("--reorder", optarg, &reorder); break;
		case 'd': rc = parse_p("--dup", optarg, &dup); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'H': hold_ns = strtoull(optarg, NULL, 10) * 1000ull; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (rc != 0)
			return 2;
	}
	if (ia == NULL || ib == NULL || optind < argc) {
		usage(stderr);
		return 2;
	}
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	int ifa, ifb;
	int fa = open_iface(ia, &ifa), fb = open_iface(ib, &ifb);
	if (fa < 0 || fb < 0)
		return 1;
	struct dir ab = {.name = "a->b", .in_fd = fa, .out_fd = fb, .out_ifindex = ifb};
	struct dir ba = {.name = "b->a", .in_fd = fb, .out_fd = fa, .out_ifindex = ifa};
	fprintf(stderr, "dp_relay: %s <-> %s loss=%.3f reorder=%.3f dup=%.3f seed=%llu\n", ia,
		ib, loss, reorder, dup, (unsigned long long)seed);
	while (!stop_requested) {
		struct pollfd p[2] = {{.fd = fa, .events = POLLIN}, {.fd = fb, .events = POLLIN}};
		int n = poll(p, 2, 1);
		if (n < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN)
			relay_one(&ab, loss, reorder, dup);
		if (p[1].revents & POLLIN)
			relay_one(&ba, loss, reorder, dup);
		uint64_t now = mono_ns();
		if (ab.held_len > 0 && now - ab.held_since_ns >= hold_ns)
			flush_held(&ab);
		if (ba.held_len > 0 && now - ba.held_since_ns >= hold_ns)
			flush_held(&ba);
	}
	const struct dir *ds[2] = {&ab, &ba};
	for (int i = 0; i < 2; i++)
		fprintf(stderr, "dp_relay %s: rx=%llu tx=%llu lost=%llu duplicated=%llu "
				"reordered=%llu send_errors=%llu\n", ds[i]->name,
			(unsigned long long)ds[i]->rx, (unsigned long long)ds[i]->tx,
			(unsigned long long)ds[i]->lost, (unsigned long long)ds[i]->duped,
			(unsigned long long)ds[i]->reordered, (unsigned long long)ds[i]->send_err);
	close(fa);
	close(fb);
	return 0;
}
