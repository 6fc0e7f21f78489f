/*
 * harness_redis.c - a throw-away redis-server for one test.
 */
#include "harness.h"
#include "harness_pvt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define REDIS_START_TRIES 5
#define REDIS_READY_MS 15000

struct harness_redis {
	bool aof;
	int port;
	pid_t pid;
	char dir[HARNESS_PATH_MAX];
	char log[HARNESS_PATH_MAX + 16];
};

static void redis_exec_child(const struct harness_redis *r, pid_t parent)
{
	char port[16];
	int fd;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	fd = open(r->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
	snprintf(port, sizeof(port), "%d", r->port);
	/* No RDB snapshots and no AOF rewrite: redis then never forks, so the
	 * only process to clean up is the one we started. */
	execlp("redis-server", "redis-server",
	       "--port", port, "--bind", "127.0.0.1", "--dir", r->dir,
	       "--daemonize", "no", "--save", "", "--logfile", "",
	       "--appendonly", r->aof ? "yes" : "no",
	       "--appendfsync", "always",
	       "--auto-aof-rewrite-percentage", "0",
	       "--protected-mode", "no",
	       (char *)NULL);
	_exit(127);
}

/* Send an inline command and tell whether its (bulk string) reply contains every needle
 * (NULL-terminated list). Bounded by 1 s per socket operation. */
bool harness_redis_reply_has(int port, const char *cmd, const char *const *needles)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { 1, 0 };
	char buf[16384];
	size_t got = 0, need = 0;
	bool ok = false;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd))
		goto out;
	while (got < sizeof(buf) - 1) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		char *eol;

		if (n <= 0)
			goto out;
		got += (size_t)n;
		buf[got] = '\0';
		if (buf[0] != '$')
			goto out;
		eol = strstr(buf, "\r\n");
		if (eol && !need)
			need = (size_t)(eol - buf) + 2 + strtoul(buf + 1, NULL, 10) + 2;
		if (need && got >= need)
			break;
	}
	ok = need && got >= need;
	for (size_t i = 0; ok && needles[i] != NULL; i++)
		ok = strstr(buf, needles[i]) != NULL;
out:
	close(fd);
	return ok;
}

/* Send INFO and check "process_id:<our pid>" and "loading:0": a reply from another
 * server that grabbed the port must not count as ours, and INFO is answered while the AOF
 * is still being replayed. Returns 1 when ready, 0 when not yet (refused, loading, not
 * ours). */
static int redis_probe(int port, pid_t pid)
{
	char want[48];
	const char *needles[] = { want, "\r\nloading:0\r\n", NULL };

	snprintf(want, sizeof(want), "\r\nprocess_id:%d\r\n", (int)pid);
	return harness_redis_reply_has(port, "INFO\r\n", needles) ? 1 : 0;
}

static bool redis_ready(void *ctx)
{
	const struct harness_redis *r = ctx;

	return redis_probe(r->port, r->pid) == 1;
}

/* One attempt on r->port. 0, -EADDRINUSE (retry elsewhere), -EIO. */
static int redis_spawn(struct harness_redis *r)
{
	pid_t parent = getpid(), pid;
	long log_from;
	int rc;

	rc = harness_reaper_ensure();
	if (rc < 0)
		return rc;
	log_from = harness_file_size(r->log);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		redis_exec_child(r, parent);
	harness_reaper_track_pid(pid, HARNESS_KIND_REDIS);
	r->pid = pid;
	rc = harness_child_await(pid, r->log, log_from, "redis-server", REDIS_READY_MS,
				 redis_ready, r);
	if (rc == -ETIMEDOUT) {
		harness_redis_kill(r);
		return -EIO;
	}
	if (rc < 0) {
		harness_reaper_untrack_pid(pid);
		r->pid = 0;
	}
	return rc;
}

struct harness_redis *harness_redis_start(const struct harness_redis_opts *opts)
{
	struct harness_redis *r = calloc(1, sizeof(*r));
	int rc = -ENOMEM, tries;

	if (!r)
		goto fail;
	r->aof = opts && opts->aof;
	rc = harness_make_tmpdir("decp-redis", r->dir, sizeof(r->dir));
	if (rc < 0) {
		fprintf(stderr, "harness: redis temp dir: %s\n", strerror(-rc));
		goto fail;
	}
	harness_reaper_track_dir(r->dir);
	rc = harness_fmt(r->log, sizeof(r->log), "%s/redis.log", r->dir);
	if (rc < 0)
		goto fail;
	for (tries = 0; tries < REDIS_START_TRIES; tries++) {
		rc = harness_pick_port(tries);
		if (rc < 0)
			goto fail;
		r->port = rc;
		rc = redis_spawn(r);
		if (rc != -EADDRINUSE)
			break;	/* else: lost the race for the port, try another */
	}
	if (rc < 0) {
		fprintf(stderr, "harness: redis-server did not start: %s\n", strerror(-rc));
		goto fail;
	}
	return r;
fail:
	if (r && r->dir[0]) {
		harness_rm_rf(r->dir);
		harness_reaper_untrack_dir(r->dir);
	}
	free(r);
	errno = -rc;
	return NULL;
}

const char *harness_redis_host(const struct harness_redis *r)
{
	(void)r;
	return "127.0.0.1";
}

int harness_redis_port(const struct harness_redis *r)
{
	return r->port;
}

const char *harness_redis_dir(const struct harness_redis *r)
{
	return r->dir;
}

const char *harness_redis_log_path(const struct harness_redis *r)
{
	return r->log;
}

pid_t harness_redis_pid(const struct harness_redis *r)
{
	return r->pid;
}

static int redis_signal_and_reap(struct harness_redis *r, int sig, int timeout_ms)
{
	int rc;

	if (r->pid <= 0)
		return -ESRCH;
	rc = harness_child_stop(r->pid, sig, timeout_ms, SIGKILL);
	harness_reaper_untrack_pid(r->pid);
	r->pid = 0;
	return rc;
}

int harness_redis_kill(struct harness_redis *r)
{
	return redis_signal_and_reap(r, SIGKILL, 5000);
}

int harness_redis_stop(struct harness_redis *r)
{
	return redis_signal_and_reap(r, SIGTERM, 10000);
}

int harness_redis_restart(struct harness_redis *r)
{
	if (r->pid > 0)
		return -EBUSY;
	return redis_spawn(r);
}

void harness_redis_destroy(struct harness_redis *r)
{
	if (!r)
		return;
	if (r->pid > 0)
		harness_redis_stop(r);
	harness_rm_rf(r->dir);
	harness_reaper_untrack_dir(r->dir);
	free(r);
}
