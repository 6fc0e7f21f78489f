/*
 * test_harness.c - the harness starts real Redis and PostgreSQL, data goes
 * through them, and nothing (process, directory, port) is left afterwards,
 * including after the test process is killed with SIGKILL (issue 2 acceptance).
 */
#include "harness.h"

#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct leftovers {
	pid_t redis_pid, pg_pid;
	int redis_port, pg_port;
	char redis_dir[256], pg_dir[256];
};

static void record(struct leftovers *l, const struct harness_redis *r, const struct harness_pg *pg)
{
	memset(l, 0, sizeof(*l));
	if (r) {
		l->redis_pid = harness_redis_pid(r);
		l->redis_port = harness_redis_port(r);
		snprintf(l->redis_dir, sizeof(l->redis_dir), "%s", harness_redis_dir(r));
	}
	if (pg) {
		l->pg_pid = harness_pg_pid(pg);
		l->pg_port = harness_pg_port(pg);
		snprintf(l->pg_dir, sizeof(l->pg_dir), "%s", harness_pg_dir(pg));
	}
}

static bool log_has(const char *path, const char *needle)
{
	char buf[65536];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* True when nothing of l is left; waits up to timeout_ms for it. */
static bool nothing_left(const struct leftovers *l, int timeout_ms)
{
	int waited;

	for (waited = 0;; waited += 100) {
		bool left = (l->redis_pid && harness_pid_alive(l->redis_pid)) ||
			    (l->pg_pid && harness_pid_alive(l->pg_pid)) ||
			    (l->redis_dir[0] && harness_path_exists(l->redis_dir)) ||
			    (l->pg_dir[0] && harness_path_exists(l->pg_dir)) ||
			    (l->redis_port && !harness_port_free(l->redis_port)) ||
			    (l->pg_port && !harness_port_free(l->pg_port));

		if (!left)
			return true;
		if (waited >= timeout_ms) {
			fprintf(stderr, "left: redis pid %d alive=%d dir=%d port=%d; pg pid %d alive=%d dir=%d port=%d\n",
				(int)l->redis_pid, harness_pid_alive(l->redis_pid),
				l->redis_dir[0] && harness_path_exists(l->redis_dir),
				l->redis_port && !harness_port_free(l->redis_port),
				(int)l->pg_pid, harness_pid_alive(l->pg_pid),
				l->pg_dir[0] && harness_path_exists(l->pg_dir),
				l->pg_port && !harness_port_free(l->pg_port));
			return false;
		}
		usleep(100000);
	}
}

static redisContext *redis_connect(const struct harness_redis *r)
{
	struct timeval tv = { 5, 0 };
	redisContext *c = redisConnectWithTimeout(harness_redis_host(r), harness_redis_port(r), tv);

	if (c && c->err) {
		fprintf(stderr, "redis connect: %s\n", c->errstr);
		redisFree(c);
		return NULL;
	}
	return c;
}

static long long redis_xlen(redisContext *c, const char *key)
{
	redisReply *rep = redisCommand(c, "XLEN %s", key);
	long long n = -1;

	if (rep && rep->type == REDIS_REPLY_INTEGER)
		n = rep->integer;
	freeReplyObject(rep);
	return n;
}

static void test_roundtrip_and_no_leftovers(void)
{
	struct harness_redis_opts ro = { .aof = true };
	struct harness_redis *r = harness_redis_start(&ro);
	struct harness_pg *pg = harness_pg_start(NULL);
	struct leftovers l;
	redisContext *c;
	redisReply *rep;
	PGconn *conn;
	PGresult *res;
	const char *params[2] = { "7", "hello" };

	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_FATAL(pg != NULL);
	record(&l, r, pg);
	CU_ASSERT(harness_pid_alive(l.redis_pid));
	CU_ASSERT(harness_pid_alive(l.pg_pid));
	CU_ASSERT(l.redis_port != l.pg_port);
	CU_ASSERT(!harness_port_free(l.redis_port));
	CU_ASSERT(!harness_port_free(l.pg_port));

	/* Redis: XADD with an explicit ID (the SPEC §4 idempotent write), XRANGE. */
	c = redis_connect(r);
	CU_ASSERT_FATAL(c != NULL);
	rep = redisCommand(c, "XADD %s %s %s %s", "sig:{m1}", "1-0", "body", "abc");
	CU_ASSERT(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "1-0") == 0);
	freeReplyObject(rep);
	rep = redisCommand(c, "XADD %s %s %s %s", "sig:{m1}", "1-0", "body", "dup");
	CU_ASSERT(rep && rep->type == REDIS_REPLY_ERROR);
	freeReplyObject(rep);
	rep = redisCommand(c, "XRANGE %s %s %s", "sig:{m1}", "-", "+");
	CU_ASSERT(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1);
	if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1) {
		redisReply *e = rep->element[0];

		CU_ASSERT(strcmp(e->element[0]->str, "1-0") == 0);
		CU_ASSERT(strcmp(e->element[1]->element[1]->str, "abc") == 0);
	}
	freeReplyObject(rep);
	redisFree(c);

	/* PostgreSQL: CREATE TABLE, parameterised INSERT, SELECT. */
	conn = PQconnectdb(harness_pg_conninfo(pg));
	CU_ASSERT_FATAL(PQstatus(conn) == CONNECTION_OK);
	res = PQexec(conn, "CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL)");
	CU_ASSERT(PQresultStatus(res) == PGRES_COMMAND_OK);
	PQclear(res);
	res = PQexecParams(conn, "INSERT INTO t (id, v) VALUES ($1, $2)", 2, NULL, params,
			   NULL, NULL, 0);
	CU_ASSERT(PQresultStatus(res) == PGRES_COMMAND_OK);
	PQclear(res);
	res = PQexec(conn, "SELECT v FROM t WHERE id = 7");
	CU_ASSERT(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		  strcmp(PQgetvalue(res, 0, 0), "hello") == 0);
	PQclear(res);
	PQfinish(conn);

	/* The socket conninfo reaches the same database. */
	conn = PQconnectdb(harness_pg_conninfo_socket(pg));
	CU_ASSERT(PQstatus(conn) == CONNECTION_OK);
	PQfinish(conn);

	harness_redis_destroy(r);
	harness_pg_destroy(pg);
	CU_ASSERT(nothing_left(&l, 0));
}

static void test_redis_kill9_restart_from_aof(void)
{
	struct harness_redis_opts ro = { .aof = true };
	struct harness_redis *r = harness_redis_start(&ro);
	struct leftovers l;
	redisContext *c;
	redisReply *rep;
	pid_t old;
	int port, i;

	CU_ASSERT_FATAL(r != NULL);
	port = harness_redis_port(r);
	c = redis_connect(r);
	CU_ASSERT_FATAL(c != NULL);
	for (i = 1; i <= 3; i++) {
		rep = redisCommand(c, "XADD s %d-0 f %d", i, i);
		CU_ASSERT(rep && rep->type == REDIS_REPLY_STRING);
		freeReplyObject(rep);
	}
	redisFree(c);
	old = harness_redis_pid(r);
	CU_ASSERT(harness_redis_kill(r) == 0);
	CU_ASSERT(!harness_pid_alive(old));
	CU_ASSERT(harness_redis_pid(r) == 0);
	CU_ASSERT(harness_redis_kill(r) == -ESRCH);
	CU_ASSERT(harness_redis_restart(r) == 0);
	CU_ASSERT(harness_redis_restart(r) == -EBUSY);
	CU_ASSERT(harness_redis_port(r) == port);
	c = redis_connect(r);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(redis_xlen(c, "s") == 3);
	redisFree(c);
	CU_ASSERT(harness_redis_stop(r) == 0);
	CU_ASSERT(harness_redis_restart(r) == 0);
	c = redis_connect(r);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(redis_xlen(c, "s") == 3);
	redisFree(c);
	record(&l, r, NULL);
	harness_redis_destroy(r);
	CU_ASSERT(nothing_left(&l, 0));
}

static void test_pg_stop_restart_same_port(void)
{
	struct harness_pg_opts po = { .dbname = "restart_db" };
	struct harness_pg *pg = harness_pg_start(&po);
	struct leftovers l;
	PGconn *conn;
	PGresult *res;
	int port;

	CU_ASSERT_FATAL(pg != NULL);
	CU_ASSERT(strstr(harness_pg_conninfo(pg), "dbname=restart_db") != NULL);
	port = harness_pg_port(pg);
	conn = PQconnectdb(harness_pg_conninfo(pg));
	CU_ASSERT_FATAL(PQstatus(conn) == CONNECTION_OK);
	res = PQexec(conn, "CREATE TABLE k (v int); INSERT INTO k VALUES (42)");
	CU_ASSERT(PQresultStatus(res) == PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(conn);

	CU_ASSERT(harness_pg_stop(pg) == 0);
	CU_ASSERT(harness_pg_pid(pg) == 0);
	conn = PQconnectdb(harness_pg_conninfo(pg));
	CU_ASSERT(PQstatus(conn) != CONNECTION_OK);
	PQfinish(conn);

	CU_ASSERT(harness_pg_restart(pg) == 0);
	CU_ASSERT(harness_pg_port(pg) == port);
	conn = PQconnectdb(harness_pg_conninfo(pg));
	CU_ASSERT_FATAL(PQstatus(conn) == CONNECTION_OK);
	res = PQexec(conn, "SELECT v FROM k");
	CU_ASSERT(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		  strcmp(PQgetvalue(res, 0, 0), "42") == 0);
	PQclear(res);
	PQfinish(conn);

	/* Immediate shutdown (crash-like), then crash recovery on restart. */
	CU_ASSERT(harness_pg_kill(pg) == 0);
	CU_ASSERT(harness_pg_restart(pg) == 0);
	conn = PQconnectdb(harness_pg_conninfo(pg));
	CU_ASSERT(PQstatus(conn) == CONNECTION_OK);
	PQfinish(conn);

	record(&l, NULL, pg);
	harness_pg_destroy(pg);
	CU_ASSERT(nothing_left(&l, 0));
}

/* A child test process starts both servers, reports what it started, and is
 * killed with SIGKILL: no destroy call runs. The reaper must clean up. */
static void test_reaper_after_sigkill(void)
{
	struct leftovers l;
	int fds[2], status;
	pid_t child;
	ssize_t n;

	/* Orphaned servers are re-parented to us instead of PID 1 (which may
	 * not reap in a container), so we can reap the zombies afterwards. */
	CU_ASSERT_FATAL(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	CU_ASSERT_FATAL(pipe(fds) == 0);
	fflush(NULL);
	child = fork();
	CU_ASSERT_FATAL(child >= 0);
	if (child == 0) {
		struct harness_redis_opts ro = { .aof = true };
		struct harness_redis *r;
		struct harness_pg *pg;

		close(fds[0]);
		r = harness_redis_start(&ro);
		pg = harness_pg_start(NULL);
		if (!r || !pg)
			_exit(1);
		record(&l, r, pg);
		if (write(fds[1], &l, sizeof(l)) != (ssize_t)sizeof(l))
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	n = read(fds[0], &l, sizeof(l));
	close(fds[0]);
	CU_ASSERT_FATAL(n == (ssize_t)sizeof(l));
	CU_ASSERT(harness_pid_alive(l.redis_pid));
	CU_ASSERT(harness_pid_alive(l.pg_pid));
	CU_ASSERT(harness_path_exists(l.redis_dir));
	CU_ASSERT(harness_path_exists(l.pg_dir));

	kill(child, SIGKILL);
	CU_ASSERT(waitpid(child, &status, 0) == child);
	CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CU_ASSERT(nothing_left(&l, 20000));
	/* Reap the orphans (servers, the child's reaper) that came to us. */
	for (int i = 0; i < 100; i++) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (kill(l.redis_pid, 0) < 0 && kill(l.pg_pid, 0) < 0)
			break;
		usleep(50000);
	}
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* The port a server is about to use gets taken by someone else: the start
 * notices (the server exits with "Address already in use") and retries on
 * another port. */
static void test_port_collision_retry(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct harness_redis *r;
	struct harness_pg *pg;
	char port[16];
	int fd, taken;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT_FATAL(listen(fd, 1) == 0);
	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	taken = ntohs(sa.sin_port);
	snprintf(port, sizeof(port), "%d", taken);
	setenv("DECP_HARNESS_TRY_PORT", port, 1);

	r = harness_redis_start(NULL);
	CU_ASSERT(r != NULL);
	if (r) {
		CU_ASSERT(harness_redis_port(r) != taken);
		CU_ASSERT(log_has(harness_redis_log_path(r), "Address already in use"));
	}
	pg = harness_pg_start(NULL);
	CU_ASSERT(pg != NULL);
	if (pg) {
		CU_ASSERT(harness_pg_port(pg) != taken);
		CU_ASSERT(log_has(harness_pg_log_path(pg), "Address already in use"));
	}
	unsetenv("DECP_HARNESS_TRY_PORT");
	harness_redis_destroy(r);
	harness_pg_destroy(pg);
	close(fd);
}

static void test_helpers(void)
{
	int port = harness_free_port();

	CU_ASSERT(port > 0 && port < 65536);
	CU_ASSERT(harness_port_free(port));
	CU_ASSERT(harness_pid_alive(getpid()));
	CU_ASSERT(!harness_pid_alive(0));
	CU_ASSERT(!harness_path_exists("/nonexistent/decp"));
	{
		struct harness_pg_opts bad = { .dbname = "Robert'); DROP" };

		CU_ASSERT(harness_pg_start(&bad) == NULL);
		CU_ASSERT(errno == EINVAL);
	}
}

/* One statement on the cluster's multi-host conninfo; the port of the server that
 * answered (the primary: target_session_attrs=read-write), or -1. */
static int patroni_write(const struct harness_patroni *h, const char *sql)
{
	PGconn *c = PQconnectdb(harness_patroni_conninfo(h));
	int port = -1;

	if (PQstatus(c) == CONNECTION_OK) {
		PGresult *r = PQexec(c, sql);

		if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
			port = atoi(PQport(c));
		else
			fprintf(stderr, "patroni_write: %s", PQresultErrorMessage(r));
		PQclear(r);
	} else {
		fprintf(stderr, "patroni_write: %s", PQerrorMessage(c));
	}
	PQfinish(c);
	return port;
}

/* Patroni + etcd (issue 24 item 1): the leader found through the REST API is the server
 * the multi-host conninfo writes to; killed (a machine's crash), another member is
 * elected within the lock's ttl and has the rows committed before (synchronous_mode);
 * destroy leaves no process and no directory. */
static void test_patroni_failover(void)
{
	struct harness_patroni *h = harness_patroni_start(NULL);
	char dir[256];
	pid_t pids[3];
	int leader, next, port, n = 0;

	CU_ASSERT_FATAL(h != NULL);
	CU_ASSERT(harness_patroni_members(h) == 3);
	snprintf(dir, sizeof(dir), "%s", harness_patroni_dir(h));
	for (int i = 0; i < 3; i++) {
		pids[i] = harness_patroni_pid(h, i);
	}
	leader = harness_patroni_leader(h, 10000);
	CU_ASSERT_FATAL(leader >= 0);
	port = patroni_write(h, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)");
	CU_ASSERT(port == harness_patroni_pg_port(h, leader));
	CU_ASSERT(harness_patroni_kill(h, leader) == 0);
	CU_ASSERT(harness_patroni_pid(h, leader) == 0);
	CU_ASSERT(harness_patroni_kill(h, leader) == -ESRCH);
	next = harness_patroni_leader(h, 60000); /* ttl 10 s, on a loaded machine */
	CU_ASSERT(next >= 0 && next != leader);
	for (int i = 0; i < 600 && (port = patroni_write(h, "INSERT INTO t VALUES (2)")) < 0; i++)
		usleep(100000);
	CU_ASSERT(next >= 0 && port == harness_patroni_pg_port(h, next));
	{
		PGconn *c = PQconnectdb(harness_patroni_conninfo(h));
		PGresult *r = PQexec(c, "SELECT count(*) FROM t");

		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			n = atoi(PQgetvalue(r, 0, 0));
		PQclear(r);
		PQfinish(c);
	}
	CU_ASSERT(n == 2);
	harness_patroni_destroy(h);
	CU_ASSERT(!harness_path_exists(dir));
	for (int i = 0; i < 3; i++)
		CU_ASSERT(!harness_pid_alive(pids[i]));
}

int main(void)
{
	CU_pSuite s;
	unsigned int failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("harness", NULL, NULL);
	if (!s ||
	    !CU_add_test(s, "helpers", test_helpers) ||
	    !CU_add_test(s, "roundtrip_and_no_leftovers", test_roundtrip_and_no_leftovers) ||
	    !CU_add_test(s, "redis_kill9_restart_from_aof", test_redis_kill9_restart_from_aof) ||
	    !CU_add_test(s, "pg_stop_restart_same_port", test_pg_stop_restart_same_port) ||
	    !CU_add_test(s, "reaper_after_sigkill", test_reaper_after_sigkill) ||
	    !CU_add_test(s, "port_collision_retry", test_port_collision_retry) ||
	    !CU_add_test(s, "patroni_failover", test_patroni_failover)) {
		CU_cleanup_registry();
		return 1;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
