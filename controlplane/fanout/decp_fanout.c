/*
 * decp-fanout: the fan-out role alone, tailing Redis (docs/fanout.md). The same role as
 * `decp-control --roles fanout`; this front end keeps the command line the fan-out tests
 * and perf/bench_fanout.c drive, and its periodic "decp-fanout: conns ..." counter line.
 * Every option is one cp_config key (set through cp_config_set, so ranges and defaults are
 * decp-control's own).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_config.h"
#include "cp_fanout.h"
#include "cp_log.h"

static volatile sig_atomic_t g_stop; /* signal handler flag: sig_atomic_t is what C allows */

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void usage(FILE *o)
{
	fprintf(o,
		"usage: decp-fanout --redis HOST:PORT --pg CONNINFO [options]\n"
		"  --listen [ADDR:]PORT   WebSocket listen address (default 127.0.0.1:8443; port 0 = any)\n"
		"  --redis HOST:PORT      Redis holding the decp:{m<id>}:signals streams\n"
		"  --pg CONNINFO          PostgreSQL (subscriber tokens, subscriptions, reports)\n"
		"  --cert PEM --key PEM   wss certificate and key (TLS 1.3; required unless --plain)\n"
		"  --plain                serve plain ws (no TLS): a start-up warning; loopback only\n"
		"  --queue N              per-connection queue bound in messages (default 1024)\n"
		"  --history N            envelopes kept per master for replay splicing (default 4096)\n"
		"  --sndbuf BYTES         SO_SNDBUF of subscriber sockets (default: kernel's)\n"
		"  --reuse-port           share the port with other decp-fanout processes (SO_REUSEPORT)\n"
		"  --keepalive-ms N       ping a connection silent for N ms (default 300000)\n"
		"  --keepalive-timeout-ms N  close it N ms later if still silent (default 10000)\n"
		"  --poll-loop            lws's own poll(2) loop instead of libev/epoll (comparison only)\n"
		"  --set KEY=VALUE        any other fanout_* key of decp-control (docs/control.md)\n"
		"  --reports-redis        subscriber reports to the Redis reports stream for an\n"
		"                         archiver (decp-control's default); without it decp-fanout\n"
		"                         stores them in PostgreSQL itself before acknowledging\n"
		"  --port-file PATH       write the bound port there once listening\n"
		"  --stats-ms N           print counters to stderr every N ms (0 = off)\n"
		"  --help\n");
}

/* "[HOST:]PORT" into two cp_config keys (HOST defaults to 127.0.0.1). 0 or -EINVAL. */
static int set_hostport(struct cp_config *c, const char *opt, const char *s, const char *hkey,
			const char *pkey)
{
	char host[256] = "127.0.0.1", err[256];
	const char *colon = strrchr(s, ':'), *port = s;

	if (colon != NULL) {
		if (colon == s || (size_t)(colon - s) >= sizeof(host))
			goto bad;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	}
	if (cp_config_set(c, hkey, host, err, sizeof(err)) != 0 ||
	    cp_config_set(c, pkey, port, err, sizeof(err)) != 0)
		goto bad;
	return 0;
bad:
	fprintf(stderr, "decp-fanout: bad %s '%s'\n", opt, s);
	return -EINVAL;
}

/* --stats-ms: digits only, 0..86400000 (the dataplane's range; strtol took "abc" as 0 and
 * "5s" as 5). 0 or -EINVAL (reported). */
static int parse_stats_ms(const char *s, long *out)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || errno != 0 || *end != '\0' || v > 86400000ul) {
		fprintf(stderr, "decp-fanout: --stats-ms: '%s' is not a number in 0..86400000\n", s);
		return -EINVAL;
	}
	*out = (long)v;
	return 0;
}

/* One option = one key. 0 or -EINVAL (reported). */
static int set_key(struct cp_config *c, const char *key, const char *value)
{
	char err[256];

	if (cp_config_set(c, key, value, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "decp-fanout: %s\n", err);
	return -EINVAL;
}

/* --set KEY=VALUE: a fanout_* key (the role's keys only). 0 or -EINVAL (reported). */
static int set_pair(struct cp_config *c, const char *kv)
{
	char key[64];
	const char *eq = strchr(kv, '=');

	if (eq == NULL || (size_t)(eq - kv) >= sizeof(key) || strncmp(kv, "fanout_", 7) != 0) {
		fprintf(stderr, "decp-fanout: --set wants fanout_KEY=VALUE, got '%s'\n", kv);
		return -EINVAL;
	}
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	return set_key(c, key, eq + 1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'}, {"redis", required_argument, NULL, 'r'},
		{"pg", required_argument, NULL, 'p'},     {"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},    {"queue", required_argument, NULL, 'q'},
		{"history", required_argument, NULL, 'H'}, {"reuse-port", no_argument, NULL, 'R'},
		{"port-file", required_argument, NULL, 'P'}, {"stats-ms", required_argument, NULL, 's'},
		{"sndbuf", required_argument, NULL, 'B'}, {"poll-loop", no_argument, NULL, 'L'},
		{"reports-redis", no_argument, NULL, 'D'},
		{"keepalive-ms", required_argument, NULL, 'K'},
		{"keepalive-timeout-ms", required_argument, NULL, 'T'},
		{"set", required_argument, NULL, 'S'},    {"plain", no_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	struct cp_config cfg;
	char err[512];
	const char *port_file = NULL;
	bool have_redis = false, have_pg = false;
	long stats_ms = 0;
	uint64_t last_ns = cp_now_ns();
	struct cp_fanout *f;
	int o, bad = 0;

	cp_config_defaults(&cfg);
	cfg.roles = CP_ROLE_FANOUT;
	cfg.fanout_reports_redis = false; /* alone: no archiver reads the reports stream */
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l': bad |= set_hostport(&cfg, "--listen", optarg, "fanout_listen", "fanout_port"); break;
		case 'r':
			bad |= set_hostport(&cfg, "--redis", optarg, "redis_host", "redis_port");
			have_redis = true;
			break;
		case 'p': bad |= set_key(&cfg, "pg_conninfo", optarg); have_pg = true; break;
		case 'c': bad |= set_key(&cfg, "fanout_cert", optarg); break;
		case 'k': bad |= set_key(&cfg, "fanout_key", optarg); break;
		case 'q': bad |= set_key(&cfg, "fanout_queue", optarg); break;
		case 'H': bad |= set_key(&cfg, "fanout_history", optarg); break;
		case 'R': cfg.fanout_reuse_port = true; break;
		case 'L': cfg.fanout_poll_loop = true; break;
		case 'D': cfg.fanout_reports_redis = true; break;
		case 'K': bad |= set_key(&cfg, "fanout_keepalive_ms", optarg); break;
		case 'T': bad |= set_key(&cfg, "fanout_keepalive_timeout_ms", optarg); break;
		case 'B': bad |= set_key(&cfg, "fanout_sndbuf", optarg); break;
		case 'S': bad |= set_pair(&cfg, optarg); break;
		case 'N': cfg.fanout_tls = false; break;
		case 'P': port_file = optarg; break;
		case 's': bad |= parse_stats_ms(optarg, &stats_ms); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (bad)
		return 2;
	if (optind != argc || !have_redis || !have_pg) {
		fprintf(stderr, "decp-fanout: --redis and --pg are required\n");
		usage(stderr);
		return 2;
	}
	if (cp_config_validate(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "decp-fanout: %s\n", err);
		return 2;
	}
	cp_log_set_program("decp-fanout");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	f = cp_fanout_create(&cfg, true);
	if (f == NULL) {
		fprintf(stderr, "decp-fanout: cannot start: %s\n", strerror(errno));
		return 1;
	}
	if (cp_fanout_start(f) != 0) {
		fprintf(stderr, "decp-fanout: cannot start threads\n");
		cp_fanout_destroy(f);
		return 1;
	}
	if (port_file != NULL) {
		char tmp[4096];
		FILE *pf;

		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		pf = fopen(tmp, "w");
		if (pf == NULL || fprintf(pf, "%d\n", cp_fanout_port(f)) < 0 || fclose(pf) != 0 ||
		    rename(tmp, port_file) != 0) {
			fprintf(stderr, "decp-fanout: cannot write %s\n", port_file);
			cp_fanout_destroy(f);
			return 1;
		}
	}
	fprintf(stderr, "decp-fanout: listening on %s:%d (%s)\n", cfg.fanout_listen,
		cp_fanout_port(f), cfg.fanout_tls ? "wss" : "ws");
	while (!g_stop) {
		struct cp_fanout_stats st;

		long left = stats_ms - (long)((cp_now_ns() - last_ns) / 1000000);

		/* in steps of at most 100 ms, so that a stop is seen soon (and usleep's argument
		 * stays far below its 32 bits whatever --stats-ms is) */
		usleep(stats_ms > 0 && left > 0 && left < 100 ? (useconds_t)left * 1000 : 100000);
		if (stats_ms <= 0 || cp_now_ns() - last_ns < (uint64_t)stats_ms * 1000000u)
			continue;
		last_ns = cp_now_ns();
		cp_fanout_stats_get(f, &st);
		fprintf(stderr,
			"decp-fanout: conns %u (total %" PRIu64 ", refused %" PRIu64 ") published %" PRIu64
			" delivered %" PRIu64 " replayed %" PRIu64 " slow %" PRIu64 " dead %" PRIu64 " reports %" PRIu64
			" malformed %" PRIu64 " range_lost %" PRIu64 " revoked %" PRIu64
			" sublimit %" PRIu64 " throttled %" PRIu64 " preauth held %u evicted %" PRIu64 " capped %" PRIu64
			" rated %" PRIu64 " timeout %" PRIu64 " bad %" PRIu64 " polls %" PRIu64
			" poll_envelopes %" PRIu64 " poll_woken %" PRIu64 " poll_timeouts %" PRIu64
			" poll_refused %" PRIu64 " poll_conns %u\n",
			st.live_connections, st.connections, st.auth_refused, st.published, st.delivered,
			st.replayed, st.slow_closed, st.keepalive_closed, st.reports, st.malformed,
			st.range_lost, st.revoked_closed, st.sub_limited, st.report_throttled, st.preauth_pending,
			st.preauth_evicted, st.preauth_source_capped, st.preauth_source_rated,
			st.preauth_timed_out, st.preauth_refused, st.polls, st.poll_envelopes,
			st.poll_woken, st.poll_timeouts, st.poll_refused, st.poll_connections);
	}
	cp_fanout_destroy(f);
	return 0;
}
