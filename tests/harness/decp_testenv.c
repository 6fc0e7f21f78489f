/*
 * decp-testenv - run a command with a throw-away Redis and/or PostgreSQL 15.
 *
 * For shell and Python tests and the demo: the servers are started with the C
 * harness (tests/harness/harness.h), described to the command through the
 * environment, and removed afterwards, also when the command or this wrapper
 * is killed (the harness reaper).
 */
#include "harness.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t forward_sig;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: decp-testenv [OPTIONS] [--] COMMAND [ARG...]\n"
		"Start a throw-away redis-server and/or PostgreSQL 15 on free loopback ports,\n"
		"run COMMAND with their addresses in the environment, then stop them and\n"
		"remove their temporary directories (also if COMMAND or decp-testenv dies).\n"
		"\n"
		"Options (with neither --redis nor --pg, both are started):\n"
		"  --redis          start redis-server\n"
		"  --redis-aof      start redis-server with appendonly yes, appendfsync always\n"
		"  --redis-cluster  instead of --redis: a Redis Cluster of 3 primaries and 3\n"
		"                   replicas (AOF, appendfsync always; nodes 0-2 start as the\n"
		"                   primaries, node i+3 as node i's replica)\n"
		"  --pg             start PostgreSQL 15 (runs as the postgres user; needs root)\n"
		"  --pg-db NAME     database to create (default decp_test)\n"
		"  --pg-archive-command CMD  WAL archiving on, with this archive_command\n"
		"  --patroni        instead of --pg: a 3-member Patroni cluster of PostgreSQL 15\n"
		"                   with one etcd (synchronous_mode; ttl 10 s); DECP_PG_CONNINFO\n"
		"                   is multi-host with target_session_attrs=read-write\n"
		"  --patroni-ttl S  with --patroni: the leader lock's ttl in seconds (5..3600,\n"
		"                   default 10; Patroni's own default is 30)\n"
		"  -h, --help       this text\n"
		"\n"
		"Environment given to COMMAND:\n"
		"  DECP_REDIS_HOST DECP_REDIS_PORT DECP_REDIS_DIR DECP_REDIS_PID\n"
		"  with --redis-cluster: DECP_REDIS_NODES (host:port,... of every node, as\n"
		"  redis_nodes and decpctl --redis-nodes take it), and per node i (space-separated,\n"
		"  in node order) DECP_REDIS_CLUSTER_PORTS, DECP_REDIS_CLUSTER_PIDS; its data\n"
		"  directory is DECP_REDIS_CLUSTER_DIR/n<i>\n"
		"  DECP_PG_CONNINFO (libpq conninfo, TCP, superuser postgres)\n"
		"  DECP_PG_HOST DECP_PG_PORT DECP_PG_DBNAME DECP_PG_USER DECP_PG_SOCKET_DIR\n"
		"  DECP_PG_DIR DECP_PG_PID, and PGHOST PGPORT PGUSER PGDATABASE for psql\n"
		"  with --patroni: DECP_PG_CONNINFO, PGHOST PGPORT (lists) PGUSER PGDATABASE\n"
		"  PGTARGETSESSIONATTRS, DECP_PG_DBNAME, DECP_PATRONI_DIR, and per member i\n"
		"  (space-separated, in member order) DECP_PATRONI_REST (REST API ports),\n"
		"  DECP_PATRONI_PG_PORTS, DECP_PATRONI_PIDS, DECP_PATRONI_DATA (data dirs),\n"
		"  DECP_ETCD_PORT\n"
		"\n"
		"PostgreSQL runs with fsync=off and trust authentication: tests only.\n"
		"Exit status: COMMAND's, 128+N if it died of signal N, 125 if a server\n"
		"could not be started, 127 if COMMAND could not be run.\n"
		"Example: decp-testenv --pg -- sh -c 'psql \"$DECP_PG_CONNINFO\" -c \"select 1\"'\n");
}

static void on_signal(int sig)
{
	forward_sig = sig;
}

static int setenv_int(const char *name, long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", v);
	return setenv(name, buf, 1);
}

/* The --redis-cluster environment (see usage). */
static void rcluster_env(const struct harness_rcluster *c)
{
	char ports[128] = "", pids[128] = "";
	size_t a = 0, b = 0;

	for (int i = 0; i < harness_rcluster_nodes(c) && a < sizeof(ports) && b < sizeof(pids);
	     i++) {
		a += (size_t)snprintf(ports + a, sizeof(ports) - a, "%s%d", i ? " " : "",
				      harness_rcluster_port(c, i));
		b += (size_t)snprintf(pids + b, sizeof(pids) - b, "%s%d", i ? " " : "",
				      (int)harness_rcluster_pid(c, i));
	}
	setenv("DECP_REDIS_NODES", harness_rcluster_seeds(c), 1);
	setenv("DECP_REDIS_CLUSTER_PORTS", ports, 1);
	setenv("DECP_REDIS_CLUSTER_PIDS", pids, 1);
	setenv("DECP_REDIS_CLUSTER_DIR", harness_rcluster_dir(c), 1);
}

/* The --patroni environment (see usage). 0 or -ENAMETOOLONG. */
static int patroni_env(const struct harness_patroni *h)
{
	char hosts[128] = "", ports[128] = "", rest[128] = "", pids[128] = "", data[2048] = "";
	size_t a = 0, b = 0, c = 0, d = 0, e = 0;
	int n = harness_patroni_members(h);

	for (int i = 0; i < n; i++) {
		const char *sep = i ? "," : "", *sp = i ? " " : "";

		a += (size_t)snprintf(hosts + a, sizeof(hosts) - a, "%s127.0.0.1", sep);
		b += (size_t)snprintf(ports + b, sizeof(ports) - b, "%s%d", sep,
				      harness_patroni_pg_port(h, i));
		c += (size_t)snprintf(rest + c, sizeof(rest) - c, "%s%d", sp,
				      harness_patroni_rest_port(h, i));
		d += (size_t)snprintf(pids + d, sizeof(pids) - d, "%s%d", sp,
				      (int)harness_patroni_pid(h, i));
		e += (size_t)snprintf(data + e, sizeof(data) - e, "%s%s", sp,
				      harness_patroni_data_dir(h, i));
		if (a >= sizeof(hosts) || b >= sizeof(ports) || c >= sizeof(rest) ||
		    d >= sizeof(pids) || e >= sizeof(data))
			return -ENAMETOOLONG;
	}
	setenv("DECP_PG_CONNINFO", harness_patroni_conninfo(h), 1);
	setenv("DECP_PG_DBNAME", harness_patroni_dbname(h), 1);
	setenv("DECP_PG_USER", "postgres", 1);
	setenv("DECP_PATRONI_DIR", harness_patroni_dir(h), 1);
	setenv("DECP_PATRONI_REST", rest, 1);
	setenv("DECP_PATRONI_PG_PORTS", ports, 1);
	setenv("DECP_PATRONI_PIDS", pids, 1);
	setenv("DECP_PATRONI_DATA", data, 1);
	setenv_int("DECP_ETCD_PORT", harness_patroni_etcd_port(h));
	setenv("PGHOST", hosts, 1);
	setenv("PGPORT", ports, 1);
	setenv("PGUSER", "postgres", 1);
	setenv("PGDATABASE", harness_patroni_dbname(h), 1);
	setenv("PGTARGETSESSIONATTRS", "read-write", 1);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "redis", no_argument, NULL, 'r' },
		{ "redis-aof", no_argument, NULL, 'a' },
		{ "redis-cluster", no_argument, NULL, 'C' },
		{ "pg", no_argument, NULL, 'p' },
		{ "pg-db", required_argument, NULL, 'd' },
		{ "pg-archive-command", required_argument, NULL, 'A' },
		{ "patroni", no_argument, NULL, 'P' },
		{ "patroni-ttl", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct harness_redis_opts ropts = { .aof = false };
	struct harness_pg_opts popts = { .dbname = NULL };
	struct harness_redis *redis = NULL;
	struct harness_pg *pg = NULL;
	struct harness_patroni *pat = NULL;
	struct harness_rcluster *rcl = NULL;
	struct sigaction sa;
	bool want_redis = false, want_pg = false, want_patroni = false, want_rcluster = false;
	int patroni_ttl = 0;
	int c, status = 0, rc = 125;
	pid_t child;

	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			want_redis = true;
			break;
		case 'a':
			want_redis = true;
			ropts.aof = true;
			break;
		case 'C':
			want_rcluster = true;
			break;
		case 'p':
			want_pg = true;
			break;
		case 'd':
			want_pg = true;
			popts.dbname = optarg;
			break;
		case 'A':
			want_pg = true;
			popts.archive_command = optarg;
			break;
		case 'P':
			want_patroni = true;
			break;
		case 'T': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || v < 5 || v > 3600) {
				fprintf(stderr, "decp-testenv: --patroni-ttl: '%s' is not 5..3600\n",
					optarg);
				return 2;
			}
			want_patroni = true;
			patroni_ttl = (int)v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "decp-testenv: no COMMAND given (see --help)\n");
		return 2;
	}
	if (want_patroni && want_pg) {
		fprintf(stderr, "decp-testenv: --patroni replaces --pg (one database per run)\n");
		return 2;
	}
	if (want_rcluster && want_redis) {
		fprintf(stderr, "decp-testenv: --redis-cluster replaces --redis (one Redis per run)\n");
		return 2;
	}
	if (!want_redis && !want_pg && !want_patroni && !want_rcluster)
		want_redis = want_pg = true;

	if (want_redis) {
		redis = harness_redis_start(&ropts);
		if (!redis) {
			fprintf(stderr, "decp-testenv: redis-server: %s\n", strerror(errno));
			goto out;
		}
		setenv("DECP_REDIS_HOST", harness_redis_host(redis), 1);
		setenv_int("DECP_REDIS_PORT", harness_redis_port(redis));
		setenv("DECP_REDIS_DIR", harness_redis_dir(redis), 1);
		setenv_int("DECP_REDIS_PID", harness_redis_pid(redis));
	}
	if (want_rcluster) {
		struct harness_redis_opts co = { .aof = true };

		rcl = harness_rcluster_start(&co);
		if (rcl == NULL) {
			fprintf(stderr, "decp-testenv: redis cluster: %s\n", strerror(errno));
			goto out;
		}
		rcluster_env(rcl);
	}
	if (want_pg) {
		pg = harness_pg_start(&popts);
		if (!pg) {
			fprintf(stderr, "decp-testenv: postgres: %s\n", strerror(errno));
			goto out;
		}
		setenv("DECP_PG_CONNINFO", harness_pg_conninfo(pg), 1);
		setenv("DECP_PG_HOST", harness_pg_host(pg), 1);
		setenv_int("DECP_PG_PORT", harness_pg_port(pg));
		setenv("DECP_PG_DBNAME", harness_pg_dbname(pg), 1);
		setenv("DECP_PG_USER", "postgres", 1);
		setenv("DECP_PG_SOCKET_DIR", harness_pg_socket_dir(pg), 1);
		setenv("DECP_PG_DIR", harness_pg_dir(pg), 1);
		setenv_int("DECP_PG_PID", harness_pg_pid(pg));
		setenv("PGHOST", harness_pg_host(pg), 1);
		setenv_int("PGPORT", harness_pg_port(pg));
		setenv("PGUSER", "postgres", 1);
		setenv("PGDATABASE", harness_pg_dbname(pg), 1);
	}

	if (want_patroni) {
		struct harness_patroni_opts o = { .dbname = popts.dbname, .ttl_s = patroni_ttl };

		pat = harness_patroni_start(&o);
		if (pat == NULL) {
			fprintf(stderr, "decp-testenv: patroni: %s\n", strerror(errno));
			goto out;
		}
		if (patroni_env(pat) < 0) {
			fprintf(stderr, "decp-testenv: patroni: environment too long\n");
			goto out;
		}
	}

	/* Forward termination requests to COMMAND and still clean up after it. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	fflush(NULL);
	child = fork();
	if (child < 0) {
		fprintf(stderr, "decp-testenv: fork: %s\n", strerror(errno));
		goto out;
	}
	if (child == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "decp-testenv: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t r = waitpid(child, &status, 0);

		if (r == child)
			break;
		if (r < 0 && errno != EINTR) {
			status = 127 << 8;
			break;
		}
		if (forward_sig) {
			kill(child, forward_sig);
			forward_sig = 0;
		}
	}
	if (WIFEXITED(status))
		rc = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		rc = 128 + WTERMSIG(status);
	else
		rc = 127;
out:
	harness_redis_destroy(redis);
	harness_rcluster_destroy(rcl);
	harness_pg_destroy(pg);
	harness_patroni_destroy(pat);
	return rc;
}
