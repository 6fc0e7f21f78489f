/*
 * harness_patroni.c - a throw-away PostgreSQL 15 HA cluster for one test: one etcd and
 * `members` Patroni nodes (default 3), each with its own PostgreSQL, all on loopback
 * (issue 24 item 1; contract in harness.h).
 *
 * Layout of the temporary directory (owned by postgres, mode 0700):
 *   etcd/ etcd.log     the DCS (one member: the tests kill PostgreSQL nodes, not etcd)
 *   m<i>/patroni.yml   member i's configuration
 *   m<i>/data/         its cluster (Patroni runs initdb or pg_basebackup into it)
 *   m<i>/sock/         its unix socket directory
 *   m<i>/patroni.log   Patroni's log and its postmaster's stderr
 *
 * Process tree: the harness forks etcd and each Patroni (as postgres, own process group,
 * PR_SET_PDEATHSIG SIGKILL). Patroni starts its postmaster like pg_ctl does (a helper
 * that calls setsid() and exits), so the postmaster is nobody's child here and outlives
 * a killed Patroni: destroy, and the reaper when the test dies, stop it through its data
 * directory (harness_pg_quit_datadir, which checks that the PID in postmaster.pid runs in
 * that directory).
 */
#include "harness.h"
#include "harness_pvt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PATRONI_BIN "/usr/bin/patroni"
#define ETCD_BIN "/usr/bin/etcd"
#define PG_BIN "/usr/lib/postgresql/15/bin"
#define PATRONI_MAX 5
#define ETCD_READY_MS 30000
/* initdb on the first member and pg_basebackup on the others, on a loaded 2-core machine */
#define CLUSTER_READY_MS 120000

struct patroni_member {
	char dir[HARNESS_PATH_MAX + 8];
	char data[HARNESS_PATH_MAX + 16];
	char log[HARNESS_PATH_MAX + 24];
	int rest_port, pg_port;
	pid_t pid; /* Patroni; 0 once killed or stopped */
};

struct harness_patroni {
	uid_t uid;
	gid_t gid;
	int n, ttl_s;
	char dbname[64];
	char dir[HARNESS_PATH_MAX];
	char etcd_log[HARNESS_PATH_MAX + 16];
	int etcd_port, etcd_peer_port;
	pid_t etcd_pid;
	char conninfo[512];
	struct patroni_member m[PATRONI_MAX];
};

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int harness_http_get(int port, const char *path, char *body, size_t cap, int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	long long deadline = mono_ms() + timeout_ms;
	char req[256], buf[16384];
	size_t got = 0;
	int fd, status = -EIO;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (harness_fmt(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path) < 0)
		return -ENAMETOOLONG;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		status = -errno;
		goto out;
	}
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
		goto out;
	/* HTTP/1.0: the server closes after the reply */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			status = -ETIMEDOUT;
			goto out;
		}
		n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(buf) - 1)
			break;
	}
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1) {
		status = -EPROTO;
		goto out;
	}
	if (body != NULL && cap > 0) {
		const char *b = strstr(buf, "\r\n\r\n");
		snprintf(body, cap, "%s", b != NULL ? b + 4 : "");
	}
out:
	close(fd);
	return status;
}

/* In a forked child: exec argv as postgres, log appended to log; PDEATHSIG SIGKILL. */
static pid_t spawn_as_postgres(const struct harness_patroni *h, const char *log,
			       char *const argv[])
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		harness_exec_as(h->uid, h->gid, log, parent, SIGKILL, argv);
	if (pid > 0)
		harness_reaper_track_pid(pid, HARNESS_KIND_REDIS); /* SIGKILL when the test dies */
	return pid;
}

static int start_etcd(struct harness_patroni *h)
{
	char data[HARNESS_PATH_MAX + 16], client[64], peer[64], cluster[96];
	long long deadline;
	int rc;

	if (harness_fmt(data, sizeof(data), "%s/etcd", h->dir) < 0 ||
	    harness_fmt(h->etcd_log, sizeof(h->etcd_log), "%s/etcd.log", h->dir) < 0)
		return -ENAMETOOLONG;
	snprintf(client, sizeof(client), "http://127.0.0.1:%d", h->etcd_port);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", h->etcd_peer_port);
	snprintf(cluster, sizeof(cluster), "e0=%s", peer);
	char *argv[] = { ETCD_BIN, "--name", "e0", "--data-dir", data,
			 "--listen-client-urls", client, "--advertise-client-urls", client,
			 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			 "--initial-cluster", cluster, "--logger=zap", "--log-outputs=stderr",
			 /* a throw-away DCS: no fsync per write (the tests kill PostgreSQL
			  * nodes, never etcd) */
			 "--unsafe-no-fsync", NULL };
	h->etcd_pid = spawn_as_postgres(h, h->etcd_log, argv);
	if (h->etcd_pid < 0)
		return -errno;
	deadline = mono_ms() + ETCD_READY_MS;
	while (mono_ms() < deadline) {
		char body[256];

		if (!harness_pid_alive(h->etcd_pid))
			break;
		rc = harness_http_get(h->etcd_port, "/health", body, sizeof(body), 1000);
		if (rc == 200 && strstr(body, "\"true\"") != NULL)
			return 0;
		harness_sleep_ms(50);
	}
	harness_print_log_tail("etcd did not become healthy", h->etcd_log);
	return -EIO;
}

/* Member i's patroni.yml: test settings (see harness.h), synchronous_mode on. */
static int write_config(const struct harness_patroni *h, int i, const char *scope)
{
	const struct patroni_member *m = &h->m[i];
	char path[HARNESS_PATH_MAX + 32];
	FILE *f;

	if (harness_fmt(path, sizeof(path), "%s/patroni.yml", m->dir) < 0)
		return -ENAMETOOLONG;
	f = fopen(path, "w");
	if (f == NULL)
		return -errno;
	fprintf(f,
		"scope: %s\n"
		"name: m%d\n"
		"log: {level: INFO}\n"
		"restapi: {listen: '127.0.0.1:%d', connect_address: '127.0.0.1:%d'}\n"
		"etcd3: {hosts: '127.0.0.1:%d'}\n"
		"bootstrap:\n"
		"  dcs:\n"
		"    ttl: %d\n"
		"    loop_wait: 1\n"
		"    retry_timeout: %d\n"
		"    synchronous_mode: true\n"
		"    postgresql:\n"
		"      use_pg_rewind: false\n"
		"      use_slots: true\n"
		"      parameters:\n"
		"        max_connections: 100\n"
		"        shared_buffers: 32MB\n"
		"        fsync: 'off'\n"
		"        full_page_writes: 'off'\n"
		"        dynamic_shared_memory_type: mmap\n"
		"  initdb: [{encoding: UTF8}, {locale: C}, {auth: trust}, no-sync]\n"
		"postgresql:\n"
		"  listen: '127.0.0.1:%d'\n"
		"  connect_address: '127.0.0.1:%d'\n"
		"  data_dir: '%s'\n"
		"  bin_dir: '" PG_BIN "'\n"
		"  pgpass: '%s/pgpass'\n"
		"  pg_hba: ['local all all trust', 'host all all 127.0.0.1/32 trust',\n"
		"           'host replication all 127.0.0.1/32 trust']\n"
		"  authentication:\n"
		"    superuser: {username: postgres}\n"
		"    replication: {username: postgres}\n"
		"  parameters: {unix_socket_directories: '%s/sock'}\n",
		scope, i, m->rest_port, m->rest_port, h->etcd_port, h->ttl_s,
		(h->ttl_s - 1) / 2, m->pg_port, m->pg_port, m->data, m->dir, m->dir);
	if (fclose(f) != 0)
		return -errno;
	return chown(path, h->uid, h->gid) < 0 ? -errno : 0;
}

static int start_member(struct harness_patroni *h, int i)
{
	struct patroni_member *m = &h->m[i];
	char cfg[HARNESS_PATH_MAX + 32];

	if (harness_fmt(cfg, sizeof(cfg), "%s/patroni.yml", m->dir) < 0)
		return -ENAMETOOLONG;
	char *argv[] = { PATRONI_BIN, cfg, NULL };
	m->pid = spawn_as_postgres(h, m->log, argv);
	return m->pid < 0 ? -errno : 0;
}

/* Every member running, one of them the primary, and (synchronous_mode) a synchronous
 * standby chosen: before that, commits would not wait for a replica. */
static bool cluster_ready(struct harness_patroni *h)
{
	int primaries = 0, sync = 0;

	for (int i = 0; i < h->n; i++) {
		char body[4096];

		if (harness_http_get(h->m[i].rest_port, "/patroni", body, sizeof(body), 1000) != 200 ||
		    strstr(body, "\"state\": \"running\"") == NULL)
			return false;
		if (strstr(body, "\"role\": \"master\"") != NULL ||
		    strstr(body, "\"role\": \"primary\"") != NULL)
			primaries++;
		if (strstr(body, "\"sync_standby\": true") != NULL)
			sync++;
	}
	return primaries == 1 && sync >= 1;
}

static int pick_ports(struct harness_patroni *h)
{
	int *want[2 + 2 * PATRONI_MAX], n = 0;

	want[n++] = &h->etcd_port;
	want[n++] = &h->etcd_peer_port;
	for (int i = 0; i < h->n; i++) {
		want[n++] = &h->m[i].rest_port;
		want[n++] = &h->m[i].pg_port;
	}
	/* bind(0) hands out distinct ports while they are bound; these are picked one by
	 * one and released, so check that none repeats */
	for (int k = 0; k < n; k++) {
		int p, tries = 0;
	again:
		p = harness_free_port();
		if (p < 0)
			return p;
		for (int j = 0; j < k; j++)
			if (*want[j] == p && ++tries < 20)
				goto again;
		*want[k] = p;
	}
	return 0;
}

static int prepare_dirs(struct harness_patroni *h)
{
	int rc = harness_make_tmpdir("decp-patroni", h->dir, sizeof(h->dir));

	if (rc < 0)
		return rc;
	/* member dirs first: the reaper cleans dirs in this order, and a member's postmaster
	 * must be stopped (through m<i>/data) before the top directory is removed */
	for (int i = 0; i < h->n; i++) {
		struct patroni_member *m = &h->m[i];
		char sock[HARNESS_PATH_MAX + 16];

		if (harness_fmt(m->dir, sizeof(m->dir), "%s/m%d", h->dir, i) < 0 ||
		    harness_fmt(m->data, sizeof(m->data), "%s/data", m->dir) < 0 ||
		    harness_fmt(m->log, sizeof(m->log), "%s/patroni.log", m->dir) < 0 ||
		    harness_fmt(sock, sizeof(sock), "%s/sock", m->dir) < 0)
			return -ENAMETOOLONG;
		if (mkdir(m->dir, 0700) < 0 || mkdir(sock, 0755) < 0)
			return -errno;
		harness_reaper_track_dir(m->dir);
		if (chown(m->dir, h->uid, h->gid) < 0 || chown(sock, h->uid, h->gid) < 0)
			return -errno;
	}
	harness_reaper_track_dir(h->dir);
	if (chown(h->dir, h->uid, h->gid) < 0 || chmod(h->dir, 0700) < 0)
		return -errno;
	return 0;
}

static int create_database(struct harness_patroni *h)
{
	int leader = harness_patroni_leader(h, 10000);
	char port[16], log[HARNESS_PATH_MAX + 32];

	if (leader < 0)
		return leader;
	snprintf(port, sizeof(port), "%d", h->m[leader].pg_port);
	if (harness_fmt(log, sizeof(log), "%s/createdb.log", h->dir) < 0)
		return -ENAMETOOLONG;
	char *argv[] = { PG_BIN "/createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres",
			 h->dbname, NULL };
	int rc = harness_run_as(h->uid, h->gid, log, 60000, argv);
	if (rc < 0)
		return rc;
	/* libpq gives up on a multi-host conninfo at the first server that refuses the
	 * startup (a standby that has not replayed CREATE DATABASE yet answers FATAL
	 * "does not exist"), so wait until every member has it */
	for (int i = 0; i < h->n; i++) {
		char ci[160];
		long long deadline = mono_ms() + 30000;
		bool ok = false;

		snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=%s user=postgres"
			 " connect_timeout=2", h->m[i].pg_port, h->dbname);
		while (!ok && mono_ms() < deadline) {
			PGconn *c = PQconnectdb(ci);
			ok = PQstatus(c) == CONNECTION_OK;
			PQfinish(c);
			if (!ok)
				harness_sleep_ms(50);
		}
		if (!ok) {
			fprintf(stderr, "harness: patroni: member %d never had database %s\n", i,
				h->dbname);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

static int set_conninfo(struct harness_patroni *h)
{
	char hosts[128] = "", ports[128] = "";
	size_t hl = 0, pl = 0;

	for (int i = 0; i < h->n; i++) {
		hl += (size_t)snprintf(hosts + hl, sizeof(hosts) - hl, "%s127.0.0.1", i ? "," : "");
		pl += (size_t)snprintf(ports + pl, sizeof(ports) - pl, "%s%d", i ? "," : "",
				       h->m[i].pg_port);
	}
	/* connect_timeout is per host: a dead member's port refuses at once on loopback, a
	 * hung one costs 2 s before the next host is tried */
	return harness_fmt(h->conninfo, sizeof(h->conninfo),
			   "host=%s port=%s dbname=%s user=postgres"
			   " target_session_attrs=read-write connect_timeout=2",
			   hosts, ports, h->dbname);
}

struct harness_patroni *harness_patroni_start(const struct harness_patroni_opts *opts)
{
	struct harness_patroni *h = calloc(1, sizeof(*h));
	const char *db = opts && opts->dbname ? opts->dbname : "decp_test";
	struct passwd *pw = getpwnam("postgres");
	char scope[64];
	long long deadline;
	int rc = -ENOMEM;

	if (h == NULL)
		goto fail;
	h->n = opts && opts->members ? opts->members : 3;
	h->ttl_s = opts && opts->ttl_s ? opts->ttl_s : 10;
	if (h->n < 1 || h->n > PATRONI_MAX || h->ttl_s < 5 || strlen(db) >= sizeof(h->dbname) ||
	    strspn(db, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(db)) {
		fprintf(stderr, "harness: patroni: bad options (members 1..%d, ttl_s >= 5,"
			" dbname [a-z0-9_]+)\n", PATRONI_MAX);
		rc = -EINVAL;
		goto fail;
	}
	snprintf(h->dbname, sizeof(h->dbname), "%s", db);
	if (access(PATRONI_BIN, X_OK) != 0 || access(ETCD_BIN, X_OK) != 0) {
		fprintf(stderr, "harness: patroni: needs " PATRONI_BIN " and " ETCD_BIN
			" (apt-get install patroni etcd-server; tools/bootstrap)\n");
		rc = -ENOENT;
		goto fail;
	}
	if (pw == NULL) {
		fprintf(stderr, "harness: no 'postgres' system user (apt-get install postgresql-15)\n");
		rc = -ENOENT;
		goto fail;
	}
	h->uid = pw->pw_uid;
	h->gid = pw->pw_gid;
	rc = harness_reaper_ensure();
	if (rc < 0)
		goto fail;
	rc = prepare_dirs(h);
	if (rc < 0) {
		fprintf(stderr, "harness: patroni temp dir: %s\n", strerror(-rc));
		goto fail;
	}
	rc = pick_ports(h);
	if (rc < 0)
		goto fail;
	rc = start_etcd(h);
	if (rc < 0)
		goto fail;
	/* a scope of our own: nothing else shares the etcd, but the name shows in its keys */
	snprintf(scope, sizeof(scope), "decp-test-%d", (int)getpid());
	for (int i = 0; i < h->n; i++) {
		rc = write_config(h, i, scope);
		if (rc == 0)
			rc = start_member(h, i);
		if (rc < 0)
			goto fail;
	}
	deadline = mono_ms() + CLUSTER_READY_MS;
	while (!cluster_ready(h)) {
		for (int i = 0; i < h->n; i++)
			if (!harness_pid_alive(h->m[i].pid)) {
				harness_print_log_tail("patroni exited during start", h->m[i].log);
				rc = -EIO;
				goto fail;
			}
		if (mono_ms() > deadline) {
			for (int i = 0; i < h->n; i++)
				harness_print_log_tail("patroni cluster not ready", h->m[i].log);
			rc = -ETIMEDOUT;
			goto fail;
		}
		harness_sleep_ms(100);
	}
	rc = set_conninfo(h);
	if (rc == 0)
		rc = create_database(h);
	if (rc < 0)
		goto fail;
	return h;
fail:
	fprintf(stderr, "harness: patroni cluster did not start: %s\n", strerror(-rc));
	harness_patroni_destroy(h);
	errno = -rc;
	return NULL;
}

const char *harness_patroni_conninfo(const struct harness_patroni *h)
{
	return h->conninfo;
}

int harness_patroni_members(const struct harness_patroni *h)
{
	return h->n;
}

int harness_patroni_pg_port(const struct harness_patroni *h, int i)
{
	return i >= 0 && i < h->n ? h->m[i].pg_port : -EINVAL;
}

int harness_patroni_rest_port(const struct harness_patroni *h, int i)
{
	return i >= 0 && i < h->n ? h->m[i].rest_port : -EINVAL;
}

pid_t harness_patroni_pid(const struct harness_patroni *h, int i)
{
	return i >= 0 && i < h->n ? h->m[i].pid : 0;
}

const char *harness_patroni_data_dir(const struct harness_patroni *h, int i)
{
	return i >= 0 && i < h->n ? h->m[i].data : NULL;
}

const char *harness_patroni_dir(const struct harness_patroni *h)
{
	return h->dir;
}

const char *harness_patroni_dbname(const struct harness_patroni *h)
{
	return h->dbname;
}

int harness_patroni_etcd_port(const struct harness_patroni *h)
{
	return h->etcd_port;
}

int harness_patroni_leader(const struct harness_patroni *h, int timeout_ms)
{
	long long deadline = mono_ms() + timeout_ms;

	for (;;) {
		for (int i = 0; i < h->n; i++) {
			/* 200 only on the member that holds the leader lock and runs as the
			 * primary (Patroni's REST API, "Health check endpoints") */
			if (h->m[i].pid > 0 &&
			    harness_http_get(h->m[i].rest_port, "/primary", NULL, 0, 1000) == 200)
				return i;
		}
		if (mono_ms() >= deadline)
			return -ETIMEDOUT;
		harness_sleep_ms(50);
	}
}

int harness_patroni_kill(struct harness_patroni *h, int i)
{
	struct patroni_member *m;
	int rc;

	if (i < 0 || i >= h->n)
		return -EINVAL;
	m = &h->m[i];
	if (m->pid <= 0)
		return -ESRCH;
	/* Patroni first, so that it does not restart its postgres */
	kill(m->pid, SIGKILL);
	harness_wait_child(m->pid, 5000, NULL);
	harness_reaper_untrack_pid(m->pid);
	m->pid = 0;
	rc = harness_pg_kill_datadir(m->data);
	return rc;
}

void harness_patroni_destroy(struct harness_patroni *h)
{
	if (h == NULL)
		return;
	for (int i = 0; i < h->n; i++) {
		struct patroni_member *m = &h->m[i];

		if (m->pid > 0) {
			/* Patroni would stop its postgres in order on SIGTERM; nothing of a
			 * throw-away cluster is worth the time */
			kill(m->pid, SIGKILL);
			harness_wait_child(m->pid, 5000, NULL);
			harness_reaper_untrack_pid(m->pid);
			m->pid = 0;
		} else if (m->pid < 0) {
			m->pid = 0;
		}
		if (m->data[0])
			harness_pg_quit_datadir(m->data);
	}
	if (h->etcd_pid > 0) {
		harness_child_stop(h->etcd_pid, SIGTERM, 5000, SIGKILL);
		harness_reaper_untrack_pid(h->etcd_pid);
	}
	if (h->dir[0]) {
		harness_rm_rf(h->dir);
		for (int i = 0; i < h->n; i++)
			if (h->m[i].dir[0])
				harness_reaper_untrack_dir(h->m[i].dir);
		harness_reaper_untrack_dir(h->dir);
	}
	free(h);
}
