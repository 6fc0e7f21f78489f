/*
 * bench_fsync: the disk's floor under the control plane's ACK latency (docs/perf.md
 * "control").
 *
 * With appendfsync always, redis-server answers a batch only after write(2) + fdatasync(2)
 * of its append-only file, and the edge ACKs only after that answer: every ACK waits for at
 * least one synchronous append. This program does the same thing alone, so a run of the
 * control benchmark can be judged against what the disk allows: it appends BYTES to a new
 * file in DIR (growing it, as the AOF grows), calls fdatasync, sleeps INTERVAL, COUNT
 * times, and prints the percentiles of write + fdatasync.
 *
 *   bench_fsync [--dir DIR] [--count N] [--interval-us U] [--bytes B]
 *
 * Output (one line, key=value): dir, n, bytes, p50_us, p90_us, p99_us, p999_us, max_us.
 * The file is removed at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

struct opts {
	const char *dir;
	unsigned long count;
	unsigned long interval_us;
	unsigned long bytes;
};

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [--dir DIR] [--count N] [--interval-us U] [--bytes B]\n"
		"Measures write(2) + fdatasync(2) of B bytes appended to a new file in DIR, N times,\n"
		"U microseconds apart: the synchronous append redis-server makes per batch with\n"
		"appendfsync always (the floor under decp-control's ACK latency).\n"
		"  --dir DIR          directory on the disk to measure (default: $DECP_TEST_TMPDIR "
		"or /tmp)\n"
		"  --count N          appends (default 2000, 1..10000000)\n"
		"  --interval-us U    pause between appends in us (default 1000, 0..10000000)\n"
		"  --bytes B          bytes per append (default 2048, 1..16777216)\n"
		"  -h, --help         this text\n",
		prog);
}

/* Parses a decimal in [lo, hi]; returns -1 with a message otherwise. */
static int parse_ul(const char *name, const char *s, unsigned long lo, unsigned long hi,
		    unsigned long *out)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "bench_fsync: %s must be an integer in %lu..%lu, got '%s'\n", name,
			lo, hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{"dir", required_argument, NULL, 'd'},
		{"count", required_argument, NULL, 'n'},
		{"interval-us", required_argument, NULL, 'i'},
		{"bytes", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	o->dir = getenv("DECP_TEST_TMPDIR") ? getenv("DECP_TEST_TMPDIR") : "/tmp";
	o->count = 2000;
	o->interval_us = 1000;
	o->bytes = 2048;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		int rc = 0;
		switch (c) {
		case 'd': o->dir = optarg; break;
		case 'n': rc = parse_ul("--count", optarg, 1, 10000000, &o->count); break;
		case 'i': rc = parse_ul("--interval-us", optarg, 0, 10000000, &o->interval_us); break;
		case 'b': rc = parse_ul("--bytes", optarg, 1, 16u << 20, &o->bytes); break;
		case 'h': usage(stdout, argv[0]); exit(0);
		default: usage(stderr, argv[0]); return -1;
		}
		if (rc != 0)
			return -1;
	}
	if (optind != argc) {
		fprintf(stderr, "bench_fsync: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
}

static void pause_us(unsigned long us)
{
	struct timespec ts = {.tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Appends o->bytes o->count times to fd with fdatasync after each; samples in ns. */
static int measure(int fd, const struct opts *o, const char *buf, uint64_t *lat)
{
	for (unsigned long i = 0; i < o->count; i++) {
		uint64_t t0 = bench_mono_ns();
		ssize_t w = write(fd, buf, o->bytes);
		if (w != (ssize_t)o->bytes) {
			fprintf(stderr, "bench_fsync: write: %s\n", w < 0 ? strerror(errno) : "short write");
			return -1;
		}
		if (fdatasync(fd) != 0) {
			fprintf(stderr, "bench_fsync: fdatasync: %s\n", strerror(errno));
			return -1;
		}
		lat[i] = bench_mono_ns() - t0;
		if (o->interval_us > 0)
			pause_us(o->interval_us);
	}
	return 0;
}

static double pct_us(const uint64_t *sorted, unsigned long n, double p)
{
	unsigned long i = (unsigned long)(p * (double)n);

	return (double)sorted[i < n ? i : n - 1] / 1000.0;
}

int main(int argc, char **argv)
{
	struct opts o;
	char path[PATH_MAX];

	if (parse_opts(argc, argv, &o) != 0)
		return 2;
	if (snprintf(path, sizeof(path), "%s/bench_fsync.XXXXXX", o.dir) >= (int)sizeof(path)) {
		fprintf(stderr, "bench_fsync: --dir too long\n");
		return 2;
	}
	int fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "bench_fsync: cannot create a file in %s: %s\n", o.dir,
			strerror(errno));
		return 1;
	}
	char *buf = malloc(o.bytes);
	uint64_t *lat = calloc(o.count, sizeof(*lat));
	int rc = 1;
	if (buf == NULL || lat == NULL) {
		fprintf(stderr, "bench_fsync: out of memory\n");
	} else {
		memset(buf, 'x', o.bytes);
		rc = measure(fd, &o, buf, lat) == 0 ? 0 : 1;
	}
	close(fd);
	unlink(path);
	if (rc == 0) {
		qsort(lat, o.count, sizeof(*lat), bench_cmp_u64);
		printf("fsync: dir=%s n=%lu bytes=%lu p50_us=%.0f p90_us=%.0f p99_us=%.0f "
		       "p999_us=%.0f max_us=%.0f\n", o.dir, o.count, o.bytes,
		       pct_us(lat, o.count, 0.50), pct_us(lat, o.count, 0.90),
		       pct_us(lat, o.count, 0.99), pct_us(lat, o.count, 0.999),
		       (double)lat[o.count - 1] / 1000.0);
	}
	free(buf);
	free(lat);
	return rc;
}
