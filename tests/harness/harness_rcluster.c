/*
 * harness_rcluster.c - a throw-away Redis Cluster for one test: 3 primaries and 3
 * replicas on loopback (issue 23 item 4). Each node is a redis-server with
 * cluster-enabled yes, AOF with appendfsync always, its own port and cluster bus port
 * (cluster-port: free ports picked here, not port + 10000), its own directory; then
 * `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`, and the cluster is
 * ready when every node says cluster_state:ok and every primary has its replica online.
 * Every process is tracked by the reaper (killed if the test dies) and stopped by PID.
 */
#include "harness.h"
#include "harness_pvt.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RCL_NODES 6
#define RCL_READY_MS 60000

struct harness_rcluster {
	int port[RCL_NODES], bus[RCL_NODES];
	pid_t pid[RCL_NODES];
	char dir[HARNESS_PATH_MAX];
	char seeds[RCL_NODES * 24];
	bool aof;
};

static int pick_two_ports(int *a, int *b)
{
	for (int tries = 0; tries < 20; tries++) {
		*a = harness_free_port();
		*b = harness_free_port();
		if (*a > 0 && *b > 0 && *a != *b)
			return 0;
	}
	return -EADDRINUSE;
}

static int start_node(struct harness_rcluster *c, int i)
{
	char dir[HARNESS_PATH_MAX + 8], log[HARNESS_PATH_MAX + 24], port[16], bus[16], pid[24];
	const char *ours[2] = { pid, NULL };
	static const char *const loaded[] = { "\r\nloading:0\r\n", NULL };

	if (harness_fmt(dir, sizeof(dir), "%s/n%d", c->dir, i) < 0 ||
	    harness_fmt(log, sizeof(log), "%s/redis.log", dir) < 0)
		return -ENAMETOOLONG;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	snprintf(port, sizeof(port), "%d", c->port[i]);
	snprintf(bus, sizeof(bus), "%d", c->bus[i]);
	char *argv[] = { "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", dir,
			 "--daemonize", "no", "--save", "", "--logfile", "",
			 "--appendonly", c->aof ? "yes" : "no", "--appendfsync", "always",
			 "--auto-aof-rewrite-percentage", "0", "--protected-mode", "no",
			 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			 "--cluster-port", bus, "--cluster-node-timeout", "2000",
			 /* a replica may always be promoted: the tests kill primaries mid-load */
			 "--cluster-replica-validity-factor", "0", NULL };
	int rc = harness_reaper_ensure();
	if (rc < 0)
		return rc;
	fflush(NULL);
	c->pid[i] = harness_spawn(log, argv);
	if (c->pid[i] < 0)
		return -errno;
	harness_reaper_track_pid(c->pid[i], HARNESS_KIND_REDIS);
	snprintf(pid, sizeof(pid), "\r\nprocess_id:%d\r\n", (int)c->pid[i]);
	for (int t = 0; t < 15000; t += 20) {
		if (harness_redis_reply_has(c->port[i], "INFO server\r\n", ours) &&
		    harness_redis_reply_has(c->port[i], "INFO persistence\r\n", loaded))
			return 0;
		if (!harness_pid_alive(c->pid[i]))
			break;
		harness_sleep_ms(20);
	}
	harness_print_log_tail("redis-server (cluster node)", log);
	return -EIO;
}

static bool cluster_ready(const struct harness_rcluster *c, bool replicas)
{
	static const char *const state[] = { "cluster_state:ok", NULL };
	static const char *const primary[] = { "role:master", NULL };
	static const char *const replica_on[] = { "connected_slaves:1", "state=online", NULL };
	static const char *const synced[] = { "master_link_status:up", NULL };

	for (int i = 0; i < RCL_NODES; i++) {
		if (c->pid[i] <= 0)
			continue;
		if (!harness_redis_reply_has(c->port[i], "CLUSTER INFO\r\n", state))
			return false;
		if (!replicas)
			continue;
		if (harness_redis_reply_has(c->port[i], "INFO replication\r\n", primary)) {
			if (!harness_redis_reply_has(c->port[i], "INFO replication\r\n", replica_on))
				return false;
		} else if (!harness_redis_reply_has(c->port[i], "INFO replication\r\n", synced)) {
			return false;
		}
	}
	return true;
}

static int wait_ready(const struct harness_rcluster *c, bool replicas, int timeout_ms)
{
	for (int t = 0; t < timeout_ms; t += 50) {
		if (cluster_ready(c, replicas))
			return 0;
		harness_sleep_ms(50);
	}
	return -ETIMEDOUT;
}

int harness_rcluster_wait_ok(const struct harness_rcluster *c, int timeout_ms)
{
	return wait_ready(c, false, timeout_ms);
}

struct harness_rcluster *harness_rcluster_start(const struct harness_redis_opts *opts)
{
	struct harness_rcluster *c = calloc(1, sizeof(*c));
	char log[HARNESS_PATH_MAX + 16], addr[RCL_NODES][24];
	int rc = -ENOMEM;

	if (!c)
		goto fail;
	c->aof = opts && opts->aof;
	rc = harness_make_tmpdir("decp-rcluster", c->dir, sizeof(c->dir));
	if (rc < 0)
		goto fail;
	harness_reaper_track_dir(c->dir);
	for (int i = 0; i < RCL_NODES; i++) {
		for (int tries = 0; tries < 5; tries++) {
			rc = pick_two_ports(&c->port[i], &c->bus[i]);
			if (rc == 0)
				rc = start_node(c, i);
			if (rc == 0)
				break;
			if (c->pid[i] > 0) {
				harness_child_stop(c->pid[i], SIGKILL, 5000, SIGKILL);
				harness_reaper_untrack_pid(c->pid[i]);
				c->pid[i] = 0;
			}
		}
		if (rc < 0) {
			fprintf(stderr, "harness: cluster node %d did not start: %s\n", i,
				strerror(-rc));
			goto fail;
		}
		snprintf(addr[i], sizeof(addr[i]), "127.0.0.1:%d", c->port[i]);
		size_t l = strlen(c->seeds);
		snprintf(c->seeds + l, sizeof(c->seeds) - l, "%s%s", i ? "," : "", addr[i]);
	}
	/* the first three become the primaries, each later one a replica */
	char *argv[] = { "redis-cli", "--cluster", "create", addr[0], addr[1], addr[2], addr[3],
			 addr[4], addr[5], "--cluster-replicas", "1", "--cluster-yes", NULL };
	rc = harness_fmt(log, sizeof(log), "%s/create.log", c->dir);
	if (rc < 0)
		goto fail;
	pid_t p = harness_spawn(log, argv);
	if (p < 0 || harness_wait_exit(p, 60000) != 0) {
		harness_print_log_tail("redis-cli --cluster create", log);
		rc = -EIO;
		goto fail;
	}
	rc = wait_ready(c, true, RCL_READY_MS);
	if (rc < 0) {
		fprintf(stderr, "harness: the cluster did not reach cluster_state:ok with every "
			"replica in sync in %d s\n", RCL_READY_MS / 1000);
		goto fail;
	}
	return c;
fail:
	harness_rcluster_destroy(c);
	errno = -rc;
	return NULL;
}

const char *harness_rcluster_seeds(const struct harness_rcluster *c)
{
	return c->seeds;
}

int harness_rcluster_nodes(const struct harness_rcluster *c)
{
	(void)c;
	return RCL_NODES;
}

int harness_rcluster_port(const struct harness_rcluster *c, int i)
{
	return i >= 0 && i < RCL_NODES ? c->port[i] : -1;
}

pid_t harness_rcluster_pid(const struct harness_rcluster *c, int i)
{
	return i >= 0 && i < RCL_NODES ? c->pid[i] : -1;
}

const char *harness_rcluster_dir(const struct harness_rcluster *c)
{
	return c->dir;
}

int harness_rcluster_kill(struct harness_rcluster *c, int i)
{
	if (i < 0 || i >= RCL_NODES || c->pid[i] <= 0)
		return -ESRCH;
	int rc = harness_child_stop(c->pid[i], SIGKILL, 5000, SIGKILL);
	harness_reaper_untrack_pid(c->pid[i]);
	c->pid[i] = 0;
	return rc;
}

int harness_rcluster_restart(struct harness_rcluster *c, int i)
{
	if (i < 0 || i >= RCL_NODES)
		return -EINVAL;
	if (c->pid[i] > 0)
		return -EBUSY;
	return start_node(c, i);
}

int harness_rcluster_wait_synced(const struct harness_rcluster *c, int timeout_ms)
{
	return wait_ready(c, true, timeout_ms);
}

void harness_rcluster_destroy(struct harness_rcluster *c)
{
	if (!c)
		return;
	for (int i = 0; i < RCL_NODES; i++)
		if (c->pid[i] > 0) {
			harness_child_stop(c->pid[i], SIGTERM, 10000, SIGKILL);
			harness_reaper_untrack_pid(c->pid[i]);
		}
	if (c->dir[0]) {
		harness_rm_rf(c->dir);
		harness_reaper_untrack_dir(c->dir);
	}
	free(c);
}
