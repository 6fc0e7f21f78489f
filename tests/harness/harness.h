/*
 * harness.h - start and stop a real redis-server and a real PostgreSQL 15 for
 * integration tests (issue 2, "tests/" bullet).
 *
 * Every server runs on a free loopback port (found by binding port 0, retried
 * up to 5 times on a new port when another process takes the port first; for
 * testing that, $DECP_HARNESS_TRY_PORT forces the first attempt's port) with its
 * own temporary directory
 * under $DECP_TEST_TMPDIR (default /tmp; PostgreSQL's directory must be
 * reachable by the `postgres` user).
 *
 * Cleanup when the test dies
 * --------------------------
 * The first *_start() call of a process forks a reaper process:
 *
 *     test process ──SOCK_SEQPACKET──▶ reaper (own session, setsid)
 *        │  "track pid / dir"            │ blocks in recv()
 *        │                               │ recv() == 0: the test process is
 *        ▼ exits, crashes, SIGKILL       ▼ gone for any reason
 *     socket closes by the kernel      signal tracked servers (by PID, checked
 *                                      against /proc start time so a reused
 *                                      PID is never hit), wait, SIGKILL what is
 *                                      left, remove the SysV segment of a
 *                                      crashed postmaster, rm -rf tracked dirs
 *
 * The reaper runs in its own session so a kill of the test's process group
 * (meson's timeout does killpg) does not take it down. Servers run in their own
 * process group and also carry PR_SET_PDEATHSIG (redis: SIGKILL; postmaster:
 * SIGQUIT = immediate shutdown), set after setuid() because a credential change
 * clears it. PDEATHSIG fires when the *thread* that forked the server exits: start
 * servers from a thread that lives as long as the server (normally main).
 *
 * Threads: the functions are not thread-safe; call them from one thread. Start the
 * first server before creating threads if possible (the reaper is forked then).
 *
 * PostgreSQL settings are for tests only: fsync=off, synchronous_commit=off,
 * full_page_writes=off (a crash of the *machine* may corrupt the throw-away
 * cluster; a crash of the server process does not), trust authentication on
 * loopback and the unix socket, max_connections=100. Never use them elsewhere.
 *
 * Errors: functions returning a pointer return NULL, set errno and print one
 * line saying why on stderr (with the tail of the server log when a server
 * failed). Functions returning int return 0 or a negative errno.
 */
#ifndef DECP_TESTS_HARNESS_H
#define DECP_TESTS_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

/* ---------------------------------------------------------------- redis -- */

struct harness_redis;

struct harness_redis_opts {
	/* appendonly yes + appendfsync always (SPEC §4): every acknowledged
	 * write survives kill -9 and harness_redis_restart() reloads it. */
	bool aof;
};

/* Start redis-server (from PATH) on 127.0.0.1:<free port>. opts may be NULL
 * (no AOF). RDB snapshots and AOF rewrites are disabled so redis never forks.
 * Returns when the server answers PING and INFO reports our PID, or NULL on
 * failure (errno set). The caller owns the result: harness_redis_destroy(). */
struct harness_redis *harness_redis_start(const struct harness_redis_opts *opts);

/* Always "127.0.0.1". Valid until destroy. */
const char *harness_redis_host(const struct harness_redis *r);
/* The TCP port; it stays the same across kill/stop/restart. */
int harness_redis_port(const struct harness_redis *r);
/* The temporary directory (redis `dir`, AOF files, redis.log). */
const char *harness_redis_dir(const struct harness_redis *r);
/* Path of the server log inside the directory. */
const char *harness_redis_log_path(const struct harness_redis *r);
/* PID of the running server, 0 while stopped or killed. */
pid_t harness_redis_pid(const struct harness_redis *r);

/* SIGKILL the server and reap it (simulates a crash; the AOF stays).
 * Returns 0, -ESRCH when not running. */
int harness_redis_kill(struct harness_redis *r);
/* SIGTERM (graceful shutdown: redis fsyncs the AOF) and reap, escalating to
 * SIGKILL after 10 s. Returns 0, -ESRCH when not running, -ETIMEDOUT when it
 * had to be killed. */
int harness_redis_stop(struct harness_redis *r);
/* Start the server again with the same port, directory and options (with AOF
 * it loads the data back). Returns 0; -EBUSY when already running;
 * -EADDRINUSE when another process took the port meanwhile; -EIO when the
 * server did not come up (log tail on stderr). */
int harness_redis_restart(struct harness_redis *r);
/* Stop the server if running, remove its directory, free r. r may be NULL. */
void harness_redis_destroy(struct harness_redis *r);

/* -------------------------------------------------------- redis cluster -- */

/* A Redis Cluster of 3 primaries and 3 replicas on 127.0.0.1 (issue 23): six
 * redis-servers (cluster-enabled, opts->aof: AOF with appendfsync always;
 * cluster-node-timeout 2000 ms), joined with `redis-cli --cluster create
 * --cluster-replicas 1` (nodes 0-2 primaries, 3-5 their replicas), returned
 * once every node reports cluster_state:ok and every primary's replica is
 * online. NULL on failure (errno set; whatever was started is stopped). */
struct harness_rcluster;
struct harness_rcluster *harness_rcluster_start(const struct harness_redis_opts *opts);
/* "127.0.0.1:p0,...,127.0.0.1:p5": a redis_nodes value. */
const char *harness_rcluster_seeds(const struct harness_rcluster *c);
int harness_rcluster_nodes(const struct harness_rcluster *c); /* 6 */
int harness_rcluster_port(const struct harness_rcluster *c, int i);
pid_t harness_rcluster_pid(const struct harness_rcluster *c, int i); /* 0 once killed */
const char *harness_rcluster_dir(const struct harness_rcluster *c);
/* Wait until every live node says cluster_state:ok. 0 or -ETIMEDOUT. Right after
 * harness_rcluster_kill this holds at once (the nodes notice a dead primary only after
 * cluster-node-timeout): wait for its replica's promotion first (its INFO replication
 * says role:master, or the slot map names it), then for this. */
int harness_rcluster_wait_ok(const struct harness_rcluster *c, int timeout_ms);
/* SIGKILL node i and reap it. 0 or -ESRCH. */
int harness_rcluster_kill(struct harness_rcluster *c, int i);
/* Start node i again (after harness_rcluster_kill) on its ports and directory: it
 * rejoins the cluster from its nodes.conf, as a replica if its slots were taken
 * over meanwhile. 0; -EBUSY when running; -EIO when it did not come up. */
int harness_rcluster_restart(struct harness_rcluster *c, int i);
/* As harness_rcluster_wait_ok, and every primary has an online replica again. */
int harness_rcluster_wait_synced(const struct harness_rcluster *c, int timeout_ms);
/* Stop every node still running (SIGTERM, then SIGKILL), remove the
 * directory, free c. c may be NULL. */
void harness_rcluster_destroy(struct harness_rcluster *c);

/* ------------------------------------------------------------- postgres -- */

struct harness_pg;

struct harness_pg_opts {
	/* Database created for the test; NULL means "decp_test". Must match
	 * [a-z_][a-z0-9_]{0,62}. */
	const char *dbname;
	/* WAL archiving: archive_mode=on with this archive_command (e.g. pgBackRest's
	 * archive-push, tools/demo); NULL = off. */
	const char *archive_command;
};

/* initdb + postgres from /usr/lib/postgresql/15/bin, run as the `postgres`
 * system user (PostgreSQL refuses to run as root) on 127.0.0.1:<free port>,
 * unix socket in <dir>/sock, data in <dir>/data (owned by postgres), log in
 * <dir>/postgres.log; then creates the database. opts may be NULL.
 * Takes 1-3 s. Returns NULL on failure (errno set). Caller owns the result. */
struct harness_pg *harness_pg_start(const struct harness_pg_opts *opts);

/* A streaming replica of primary (pg_basebackup -R from it, then a hot standby on its own
 * free port and directory), for the read-replica tests (issue 24). The same accessors,
 * stop/kill/restart and destroy apply. Returns NULL on failure (errno set). */
struct harness_pg *harness_pg_standby_start(const struct harness_pg *primary);

/* libpq conninfo over TCP loopback as superuser postgres, e.g.
 * "host=127.0.0.1 port=40123 dbname=decp_test user=postgres connect_timeout=5".
 * Valid until destroy; unchanged across stop/restart. */
const char *harness_pg_conninfo(const struct harness_pg *pg);
/* Same, through the unix socket directory. */
const char *harness_pg_conninfo_socket(const struct harness_pg *pg);
const char *harness_pg_host(const struct harness_pg *pg);	/* "127.0.0.1" */
int harness_pg_port(const struct harness_pg *pg);
const char *harness_pg_dbname(const struct harness_pg *pg);
const char *harness_pg_dir(const struct harness_pg *pg);	/* temp dir */
const char *harness_pg_socket_dir(const struct harness_pg *pg);
const char *harness_pg_log_path(const struct harness_pg *pg);
/* PID of the postmaster, 0 while stopped. */
pid_t harness_pg_pid(const struct harness_pg *pg);

/* Fast shutdown (SIGINT: abort transactions, disconnect, checkpoint) and reap;
 * escalates to SIGQUIT after 15 s and SIGKILL after 5 s more.
 * Returns 0, -ESRCH when not running, -ETIMEDOUT when it had to escalate. */
int harness_pg_stop(struct harness_pg *pg);
/* Immediate shutdown (SIGQUIT: like a crash, crash recovery on restart) and
 * reap. Returns 0 or -ESRCH. */
int harness_pg_kill(struct harness_pg *pg);
/* Start the postmaster again on the same port and data directory and wait until
 * it accepts connections. Returns 0, -EBUSY when running, -EADDRINUSE when the
 * port was taken meanwhile, -EIO when it did not come up. */
int harness_pg_restart(struct harness_pg *pg);
/* Stop if running, remove the directory, free pg. pg may be NULL. */
void harness_pg_destroy(struct harness_pg *pg);

/* ------------------------------------------------------------- patroni -- */

/*
 * A PostgreSQL 15 HA cluster (issue 24 item 1): one etcd (the DCS; the tests fail
 * PostgreSQL nodes, not the DCS, so one member is enough and costs a third of three) and
 * `members` Patroni nodes, each running its own PostgreSQL, every process as the
 * `postgres` user on free loopback ports in one temporary directory. Patroni settings:
 * synchronous_mode on (a commit waits for a synchronous standby, and only that standby
 * may be promoted: no acknowledged commit is lost by a failover), ttl ttl_s, loop_wait
 * 1 s, retry_timeout (ttl_s - 1) / 2, no pg_rewind; PostgreSQL with the test-only
 * settings above (fsync off: a crash of a *process* loses nothing, of the machine it
 * may). Every member gets the database dbname (created on the leader, replicated).
 * Cleanup as for the other servers: destroy, or the reaper if the test dies (Patroni
 * and etcd by PID; each postmaster, which is not our child, through its data
 * directory).
 */
struct harness_patroni;

struct harness_patroni_opts {
	const char *dbname; /* NULL: "decp_test" */
	int members;        /* 0: 3 (1..5) */
	int ttl_s;          /* 0: 10 (>= 5): the leader lock's lifetime, which bounds failover */
};

/* Start etcd, then the members; wait (bounded: 30 s for etcd, 120 s for the cluster)
 * until every member runs, one is the primary and a synchronous standby is chosen; then
 * create the database. Returns NULL on failure (errno set, the logs' tails on stderr,
 * everything started so far stopped and removed). */
struct harness_patroni *harness_patroni_start(const struct harness_patroni_opts *opts);

/* "host=127.0.0.1,127.0.0.1,... port=P0,P1,... dbname=D user=postgres
 * target_session_attrs=read-write connect_timeout=2": libpq tries each member in turn
 * and keeps the one that accepts writes (the primary). Valid until destroy. */
const char *harness_patroni_conninfo(const struct harness_patroni *h);
int harness_patroni_members(const struct harness_patroni *h);
/* Member i's PostgreSQL port, Patroni REST API port (-EINVAL for a bad i). */
int harness_patroni_pg_port(const struct harness_patroni *h, int i);
int harness_patroni_rest_port(const struct harness_patroni *h, int i);
/* Member i's Patroni PID, 0 once killed. */
pid_t harness_patroni_pid(const struct harness_patroni *h, int i);
/* Member i's PostgreSQL data directory (its postmaster.pid names the postmaster). */
const char *harness_patroni_data_dir(const struct harness_patroni *h, int i);
const char *harness_patroni_dir(const struct harness_patroni *h);
const char *harness_patroni_dbname(const struct harness_patroni *h);
int harness_patroni_etcd_port(const struct harness_patroni *h);

/* The member that is the leader, asked through Patroni's REST API (GET /primary answers
 * 200 only on the member holding the leader lock and running as primary), polling every
 * 50 ms for up to timeout_ms. Killed members are not asked. Returns its index or
 * -ETIMEDOUT. */
int harness_patroni_leader(const struct harness_patroni *h, int timeout_ms);

/* Crash member i as a machine would go: SIGKILL its Patroni, then its postmaster and
 * every backend (the process group). The leader lock then expires after at most ttl_s and
 * a synchronous standby is promoted. Returns 0, -ESRCH (already killed or its postgres
 * not running), -EINVAL, -ETIMEDOUT. */
int harness_patroni_kill(struct harness_patroni *h, int i);

/* Stop everything still running (Patroni SIGKILL, each postmaster SIGQUIT through its
 * data directory, etcd SIGTERM), remove the directory, free h. h may be NULL. */
void harness_patroni_destroy(struct harness_patroni *h);

/* -------------------------------------------------------------- helpers -- */

/* A loopback TCP port that was free a moment ago, or -errno: a random one between
 * HARNESS_PORT_MIN and the kernel's ephemeral range (ip_local_port_range), which no
 * outgoing connection is given, so nobody else takes it before our server binds it; from
 * the ephemeral range (harness_any_port) only when there is no room below it. */
#define HARNESS_PORT_MIN 20000
int harness_free_port(void);
/* A loopback TCP port of the ephemeral range that was free a moment ago (bind port 0). */
int harness_any_port(void);
/* True when nothing listens on 127.0.0.1:port and it can be bound again. */
bool harness_port_free(int port);
/* True when pid exists and is not a zombie. */
bool harness_pid_alive(pid_t pid);
/* True when path exists (any type). */
bool harness_path_exists(const char *path);

/*
 * Start argv[0] (a path, or a name looked up in PATH) as a child with stdout and stderr
 * appended to the file log; the child is killed with SIGKILL if the test process dies
 * (PR_SET_PDEATHSIG), so a crashed test leaves no server behind. Returns the pid or -1.
 */
pid_t harness_spawn(const char *log, char *const argv[]);

/*
 * Wait up to ms for the child pid to exit (polling every 20 ms). Returns its exit status
 * (128 + signal when killed), or -1 after killing it with SIGKILL on timeout (reaped).
 */
int harness_wait_exit(pid_t pid, int ms);

/*
 * Wait up to ms until the file path has a line containing needle (a log line, a port
 * file); the text after needle goes to out (cap bytes, NUL-terminated) unless out is NULL.
 * pid > 0: stop early when that process is gone. Returns 0, or -1 (message on stderr).
 */
int harness_wait_line(const char *path, const char *needle, char *out, size_t cap, pid_t pid,
		      int ms);

/* ---------------------------------------------------------------- flood -- */

/* Raise this process's RLIMIT_NOFILE soft limit to want (bounded by the hard limit);
 * children started afterwards inherit it. 0, or -EMFILE when the hard limit is lower, or
 * -errno. */
int harness_nofile_raise(unsigned long want);

#define HARNESS_FLOOD_PROBES_MAX 1024

/* An idle-connection flood (harness_flood.c), from a child process at nice 10 (a real
 * flood comes from other machines: the attacking loop must not take the probe's CPU on
 * a shared machine): `conns` TCP connections to 127.0.0.1:port
 * from 127.0.0.2 .. 127.0.0.(1 + naddrs) (Linux routes all of 127/8 to lo); every other
 * group sends half a request head and stops, the rest send nothing. Whatever the server
 * closes is reopened, at most reconnect_per_s (in bursts of 50 ms worth at most). Once all
 * are open, the hold lasts `seconds`; during it, every probe_every_ms, probe(probe_arg)
 * runs (a legitimate request; returns its latency in ms, or < 0 when it failed). The
 * flood stops by itself after `seconds` and closes everything. */
struct harness_flood_cfg {
	int port, conns, naddrs, seconds;
	int reconnect_per_s;
	int probe_every_ms;
	double (*probe)(void *arg);
	void *probe_arg;
};

struct harness_flood_result {
	_Atomic int holding;   /* set once every connection was opened: the hold begins */
	long opened;           /* connections opened (reopens included) */
	long closed_by_server; /* ...that the server closed (or refused) */
	long still_open;       /* open at the end */
	int probes, probe_failed;
	double probe_max_ms, probe_p99_ms;
	double probe_ms[HARNESS_FLOOD_PROBES_MAX];
};

/* Run it (blocks for cfg->seconds; the probes run in this process). 0, or -ENOMEM, or
 * -ECHILD when the attacking child failed. */
int harness_flood(const struct harness_flood_cfg *cfg, struct harness_flood_result *res);

/*
 * A certificate set of the test's own in dir (which must exist): dir/ca.crt (the CA a
 * client trusts), dir/server.crt and dir/server.key (localhost, 127.0.0.1, ::1), made as
 * `decpctl tls init` does, valid 2 days. For decp-control's api_cert/fanout_cert, the
 * dataplane's --tls-cert, decp-fanout --cert. Returns 0 or -1 (reason on stderr).
 */
int harness_tls_certs(const char *dir);

#endif
