/*
 * decp-fanout: the fan-out role alone (tails Redis), until decp-control runs it in-process
 * next to the edge. See docs/fanout.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_fanout.h"

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
		"  --cert PEM --key PEM   serve wss (TLS); without them plain ws (loopback only)\n"
		"  --queue N              per-connection queue bound in messages (default 1024)\n"
		"  --history N            envelopes kept per master for replay splicing (default 4096)\n"
		"  --sndbuf BYTES         SO_SNDBUF of subscriber sockets (default: kernel's)\n"
		"  --reuse-port           share the port with other decp-fanout processes (SO_REUSEPORT)\n"
		"  --keepalive-ms N       ping a connection silent for N ms (default 300000)\n"
		"  --keepalive-timeout-ms N  close it N ms later if still silent (default 10000)\n"
		"  --poll-loop            lws's own poll(2) loop instead of libev/epoll (comparison only)\n"
		"  --port-file PATH       write the bound port there once listening\n"
		"  --stats-ms N           print counters to stderr every N ms (0 = off)\n"
		"  --help\n");
}

static int split_hostport(const char *s, char *host, size_t hl, int *port)
{
	const char *c = strrchr(s, ':');
	char *end;
	long p;

	if (c == NULL) {
		snprintf(host, hl, "127.0.0.1");
		c = s - 1;
	} else {
		if ((size_t)(c - s) >= hl || c == s)
			return -EINVAL;
		memcpy(host, s, (size_t)(c - s));
		host[c - s] = '\0';
	}
	p = strtol(c + 1, &end, 10);
	if (*end != '\0' || end == c + 1 || p < 0 || p > 65535)
		return -EINVAL;
	*port = (int)p;
	return 0;
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
		{"keepalive-ms", required_argument, NULL, 'K'},
		{"keepalive-timeout-ms", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	struct cp_fanout_config cfg = {0};
	char lhost[256] = "127.0.0.1", rhost[256] = "";
	const char *port_file = NULL;
	long stats_ms = 0;
	struct cp_fanout *f;
	int o;

	cfg.port = 8443;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
			if (split_hostport(optarg, lhost, sizeof(lhost), &cfg.port) != 0) {
				fprintf(stderr, "decp-fanout: bad --listen '%s'\n", optarg);
				return 2;
			}
			break;
		case 'r':
			if (split_hostport(optarg, rhost, sizeof(rhost), &cfg.redis_port) != 0 ||
			    cfg.redis_port == 0) {
				fprintf(stderr, "decp-fanout: bad --redis '%s'\n", optarg);
				return 2;
			}
			break;
		case 'p': cfg.pg_conninfo = optarg; break;
		case 'c': cfg.cert_path = optarg; break;
		case 'k': cfg.key_path = optarg; break;
		case 'q': cfg.queue_len = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'H': cfg.history = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'R': cfg.reuse_port = true; break;
		case 'L': cfg.poll_loop = true; break;
		case 'K': cfg.keepalive_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'T': cfg.keepalive_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'B': cfg.sndbuf = atoi(optarg); break;
		case 'P': port_file = optarg; break;
		case 's': stats_ms = strtol(optarg, NULL, 10); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || rhost[0] == '\0' || cfg.pg_conninfo == NULL) {
		fprintf(stderr, "decp-fanout: --redis and --pg are required\n");
		usage(stderr);
		return 2;
	}
	if ((cfg.cert_path == NULL) != (cfg.key_path == NULL)) {
		fprintf(stderr, "decp-fanout: --cert and --key go together\n");
		return 2;
	}
	cfg.listen_addr = lhost;
	cfg.redis_host = rhost;
	cfg.tail = true;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	f = cp_fanout_create(&cfg);
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
	fprintf(stderr, "decp-fanout: listening on %s:%d (%s)\n", lhost, cp_fanout_port(f),
		cfg.cert_path ? "wss" : "ws");
	while (!g_stop) {
		struct cp_fanout_stats st;

		usleep(stats_ms > 0 ? (useconds_t)stats_ms * 1000 : 100000);
		if (stats_ms <= 0)
			continue;
		cp_fanout_stats_get(f, &st);
		fprintf(stderr,
			"decp-fanout: conns %u (total %" PRIu64 ", refused %" PRIu64 ") published %" PRIu64
			" delivered %" PRIu64 " replayed %" PRIu64 " slow %" PRIu64 " dead %" PRIu64 " reports %" PRIu64
			" malformed %" PRIu64 "\n",
			st.live_connections, st.connections, st.auth_refused, st.published, st.delivered,
			st.replayed, st.slow_closed, st.keepalive_closed, st.reports, st.malformed);
	}
	cp_fanout_destroy(f);
	return 0;
}
