/*
 * decpctl disk: is this disk fast enough for Redis's append-only file?
 *
 * With appendfsync always (docs/control.md) redis-server answers a batch only after
 * write(2) + fdatasync(2) of its AOF, and decp-control ACKs a signal only after that
 * answer: every ACK waits for at least one synchronous append, so the disk's latency for
 * one is a floor under the ACK latency. This command makes the same kind of append alone,
 * to a new file it grows in DIR (as the AOF grows) and removes afterwards, and compares its
 * p99 with the ACK latency target. perf/control_bench.sh uses it as the floor of the
 * control benchmark (docs/perf.md "control").
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_cmd.h"

struct disk_opts {
	const char *dir;
	long count, interval_us, bytes, target_us;
	bool json;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: decpctl disk [--dir DIR] [--count N] [--interval-us U] [--bytes B]\n"
		"                    [--target-us T] [--json]\n"
		"\n"
		"Measures write(2) + fdatasync(2) of B bytes appended to a new file in DIR, N times,\n"
		"U microseconds apart: what redis-server does for every batch with appendfsync\n"
		"always, so its p99 is a floor under decp-control's ACK latency. Run it on the\n"
		"disk that will hold Redis's AOF (its 'dir'), on an otherwise idle machine.\n"
		"  --dir DIR         directory to measure in (default: the current directory)\n"
		"  --count N         appends (default 2000, 10..10000000)\n"
		"  --interval-us U   pause between appends (default 1000, 0..10000000)\n"
		"  --bytes B         bytes per append (default 2048, 1..16777216)\n"
		"  --target-us T     ACK latency p99 target (default 500: SPEC §6's 0.5 ms for the\n"
		"                    ingest path alone)\n"
		"  --json            one JSON object\n"
		"  --help            this text\n"
		"\n"
		"Exit: 0 the p99 is under the target, 1 it is not (or the measurement failed),\n"
		"2 usage.\n");
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pause_us(long us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Appends o->bytes o->count times to a new file in o->dir; lat[] in ns, sorted. */
static int measure(const struct disk_opts *o, uint64_t *lat)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/decpctl-disk.XXXXXX", o->dir) >= (int)sizeof(path)) {
		fprintf(stderr, "decpctl disk: --dir is too long\n");
		return -1;
	}
	int fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "decpctl disk: cannot create a file in %s: %s\n", o->dir,
			strerror(errno));
		return -1;
	}
	char *buf = malloc((size_t)o->bytes);
	int rc = buf != NULL ? 0 : -1;
	if (buf == NULL)
		fprintf(stderr, "decpctl disk: out of memory\n");
	else
		memset(buf, 'x', (size_t)o->bytes);
	for (long i = 0; i < o->count && rc == 0; i++) {
		uint64_t t0 = mono_ns();
		ssize_t w = write(fd, buf, (size_t)o->bytes);
		if (w != (ssize_t)o->bytes || fdatasync(fd) != 0) {
			fprintf(stderr, "decpctl disk: %s in %s: %s\n",
				w != (ssize_t)o->bytes ? "write" : "fdatasync", o->dir,
				w >= 0 && w != (ssize_t)o->bytes ? "short write" : strerror(errno));
			rc = -1;
			break;
		}
		lat[i] = mono_ns() - t0;
		if (o->interval_us > 0)
			pause_us(o->interval_us);
	}
	free(buf);
	close(fd);
	unlink(path);
	if (rc == 0)
		qsort(lat, (size_t)o->count, sizeof(*lat), cmp_u64);
	return rc;
}

static double pct_us(const uint64_t *sorted, long n, double p)
{
	long i = (long)(p * (double)n);
	return (double)sorted[i < n ? i : n - 1] / 1000.0;
}

/* Returns true to go on, false to exit with *code (help printed, or a usage error). */
static bool parse(int argc, char **argv, struct disk_opts *o, int *code)
{
	static const struct option lo[] = {
		{"dir", required_argument, NULL, 'd'},
		{"count", required_argument, NULL, 'n'},
		{"interval-us", required_argument, NULL, 'i'},
		{"bytes", required_argument, NULL, 'b'},
		{"target-us", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int c, bad = 0;
	*o = (struct disk_opts){.dir = ".", .count = 2000, .interval_us = 1000, .bytes = 2048,
				.target_us = 500};
	*code = CTL_EXIT_USAGE;
	optind = 1;
	opterr = 0;
	while (bad == 0 && (c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->dir = optarg; break;
		case 'n': bad = ctl_parse_long("disk", "--count", optarg, 10, 10000000, &o->count); break;
		case 'i':
			bad = ctl_parse_long("disk", "--interval-us", optarg, 0, 10000000,
					     &o->interval_us);
			break;
		case 'b': bad = ctl_parse_long("disk", "--bytes", optarg, 1, 16L << 20, &o->bytes); break;
		case 't':
			bad = ctl_parse_long("disk", "--target-us", optarg, 1, 100000000, &o->target_us);
			break;
		case 'j': o->json = true; break;
		case 'h':
			usage(stdout);
			*code = CTL_EXIT_OK;
			return false;
		default:
			ctl_option_error("disk", argv, optopt);
			return false;
		}
	}
	if (bad != 0)
		return false;
	if (optind != argc) {
		ctl_usage_error("disk", "unexpected argument '%s'", argv[optind]);
		return false;
	}
	return true;
}

int ctl_cmd_disk(int argc, char **argv)
{
	struct disk_opts o;
	int code;
	if (!parse(argc, argv, &o, &code))
		return code;
	uint64_t *lat = calloc((size_t)o.count, sizeof(*lat));
	if (lat == NULL) {
		fprintf(stderr, "decpctl disk: out of memory\n");
		return CTL_EXIT_FAIL;
	}
	if (!o.json)
		fprintf(stderr, "decpctl disk: %ld appends of %ld bytes + fdatasync in %s, %ld us "
			"apart...\n", o.count, o.bytes, o.dir, o.interval_us);
	if (measure(&o, lat) != 0) {
		free(lat);
		return CTL_EXIT_FAIL;
	}
	double p50 = pct_us(lat, o.count, 0.50), p90 = pct_us(lat, o.count, 0.90);
	double p99 = pct_us(lat, o.count, 0.99), p999 = pct_us(lat, o.count, 0.999);
	double max = (double)lat[o.count - 1] / 1000.0;
	/* tmpfs and ramfs keep files in memory: fdatasync returns at once and makes nothing
	 * durable, so the figures say nothing of an AOF's safety there */
	struct statfs fs;
	bool volatile_fs = statfs(o.dir, &fs) == 0 &&
			   ((unsigned long)fs.f_type == 0x01021994UL /* TMPFS_MAGIC */ ||
			    (unsigned long)fs.f_type == 0x858458f6UL /* RAMFS_MAGIC */);
	bool ok = p99 < (double)o.target_us && !volatile_fs;
	free(lat);
	if (o.json) {
		json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:b}", "dir", o.dir,
				      "count", (json_int_t)o.count, "bytes", (json_int_t)o.bytes,
				      "p50_us", (json_int_t)p50, "p90_us", (json_int_t)p90,
				      "p99_us", (json_int_t)p99, "p999_us", (json_int_t)p999,
				      "max_us", (json_int_t)max, "target_us", (json_int_t)o.target_us,
				      "within_target", ok, "volatile", volatile_fs);
		json_dumpf(j, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(j);
	} else {
		printf("write + fdatasync of %ld bytes in %s (%ld samples):\n"
		       "  p50 %.0f us, p90 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us\n",
		       o.bytes, o.dir, o.count, p50, p90, p99, p999, max);
		if (volatile_fs)
			printf("NOT a durable disk: %s is in memory (tmpfs/ramfs), where fdatasync "
			       "returns at once and a crash or power loss loses every append; never "
			       "put Redis's AOF there.\n", o.dir);
		else if (ok)
			printf("p99 is under the ACK latency target of %ld us: the disk leaves room "
			       "for it with appendfsync always.\n", o.target_us);
		else
			printf("p99 is NOT under the ACK latency target of %ld us: with appendfsync "
			       "always every ACK waits for at least one such append, so this disk "
			       "alone puts the ACK p99 above the target (docs/operations.md, "
			       "\"Sizing\").\n", o.target_us);
	}
	return ok ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}
