/*
 * harness_reaper.c - a process that outlives the test process and cleans up
 * the servers and directories it left behind (see the diagram in harness.h).
 *
 * Messages are fixed-size records on an AF_UNIX SOCK_SEQPACKET pair: one send()
 * is one record, and MSG_NOSIGNAL keeps a dead reaper from raising SIGPIPE in
 * the test. Records already sent are still read after the test dies, because
 * EOF only follows the queued data.
 */
#include "harness.h"
#include "harness_pvt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

enum reaper_op {
	OP_TRACK_PID = 1,
	OP_UNTRACK_PID,
	OP_TRACK_DIR,
	OP_UNTRACK_DIR,
};

struct reaper_msg {
	int op;
	int kind;
	pid_t pid;
	unsigned long long starttime;
	char path[HARNESS_PATH_MAX];
};

#define REAPER_MAX 64

struct reaper_pid {
	pid_t pid;
	int kind;
	unsigned long long starttime;
};

/* Test-process side: the socket and the PID that owns it (a forked child
 * inherits the fd but needs its own reaper). */
static int reaper_fd = -1;
static pid_t reaper_owner;

static bool same_process(const struct reaper_pid *p)
{
	return harness_pid_alive(p->pid) && harness_proc_starttime(p->pid) == p->starttime;
}

static void reaper_cleanup(struct reaper_pid *pids, int npids, char (*dirs)[HARNESS_PATH_MAX],
			   int ndirs)
{
	int i, round;

	for (i = 0; i < npids; i++) {
		if (!same_process(&pids[i])) {
			pids[i].pid = 0;
			continue;
		}
		kill(pids[i].pid, pids[i].kind == HARNESS_KIND_POSTMASTER ? SIGQUIT : SIGKILL);
	}
	/* Up to 5 s for an orderly exit, then SIGKILL and up to 2 s more. */
	for (round = 0; round < 70; round++) {
		bool any = false;

		for (i = 0; i < npids; i++) {
			if (pids[i].pid && same_process(&pids[i]))
				any = true;
			else
				pids[i].pid = 0;
		}
		if (!any)
			break;
		if (round == 50)
			for (i = 0; i < npids; i++)
				if (pids[i].pid)
					kill(pids[i].pid, SIGKILL);
		harness_sleep_ms(100);
	}
	for (i = 0; i < ndirs; i++) {
		char pidfile[HARNESS_PATH_MAX + 32];

		if (!dirs[i][0])
			continue;
		if (harness_fmt(pidfile, sizeof(pidfile), "%s/data", dirs[i]) == 0)
			harness_pg_quit_datadir(pidfile); /* one the harness did not fork (Patroni's) */
		if (harness_fmt(pidfile, sizeof(pidfile), "%s/data/postmaster.pid", dirs[i]) == 0)
			harness_pg_remove_shm(pidfile);
		harness_rm_rf(dirs[i]);
	}
}

static void reaper_main(int fd)
{
	static struct reaper_pid pids[REAPER_MAX];
	static char dirs[REAPER_MAX][HARNESS_PATH_MAX];
	int npids = 0, ndirs = 0, i;
	struct reaper_msg m;

	for (;;) {
		ssize_t n = recv(fd, &m, sizeof(m), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;		/* EOF: the test process is gone */
		if (n != (ssize_t)sizeof(m))
			continue;
		m.path[HARNESS_PATH_MAX - 1] = '\0';
		switch (m.op) {
		case OP_TRACK_PID:
			for (i = 0; i < npids && pids[i].pid; i++)
				;
			if (i == REAPER_MAX)
				break;
			pids[i] = (struct reaper_pid){ m.pid, m.kind, m.starttime };
			if (i == npids)
				npids++;
			break;
		case OP_UNTRACK_PID:
			for (i = 0; i < npids; i++)
				if (pids[i].pid == m.pid)
					pids[i].pid = 0;
			break;
		case OP_TRACK_DIR:
			for (i = 0; i < ndirs && dirs[i][0]; i++)
				;
			if (i == REAPER_MAX)
				break;
			memcpy(dirs[i], m.path, HARNESS_PATH_MAX);
			if (i == ndirs)
				ndirs++;
			break;
		case OP_UNTRACK_DIR:
			for (i = 0; i < ndirs; i++)
				if (strcmp(dirs[i], m.path) == 0)
					dirs[i][0] = '\0';
			break;
		default:
			break;
		}
	}
	reaper_cleanup(pids, npids, dirs, ndirs);
}

int harness_reaper_ensure(void)
{
	int sv[2];
	pid_t pid;

	if (reaper_fd >= 0 && reaper_owner == getpid())
		return 0;
	if (reaper_fd >= 0) {
		/* Inherited from the parent through fork(): not ours. */
		close(reaper_fd);
		reaper_fd = -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (pid == 0) {
		int devnull, keep;

		/* Own session: a killpg() of the test's group must not hit us. */
		setsid();
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		/* Park our socket end out of the way of the dup2()s below (the
		 * parent may have run with fd 0/1 closed). */
		keep = fcntl(sv[0], F_DUPFD, 64);
		if (keep < 0)
			keep = sv[0];
		devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
		}
		/* Keep only stdin/out/err and our socket end: holding other fds
		 * (the parent's end, another reaper's socket, meson's pipes)
		 * would delay someone else's EOF. */
		if (keep != 3)
			dup2(keep, 3);
		syscall(SYS_close_range, 4U, ~0U, 0U);
		reaper_main(3);
		_exit(0);
	}
	close(sv[0]);
	reaper_fd = sv[1];
	reaper_owner = getpid();
	return 0;
}

static void reaper_send(const struct reaper_msg *m)
{
	if (harness_reaper_ensure() < 0) {
		fprintf(stderr, "harness: no reaper process; cleanup after a crash will be partial\n");
		return;
	}
	if (send(reaper_fd, m, sizeof(*m), MSG_NOSIGNAL) != (ssize_t)sizeof(*m))
		fprintf(stderr, "harness: reaper message lost: %s\n", strerror(errno));
}

void harness_reaper_track_pid(pid_t pid, enum harness_kind kind)
{
	struct reaper_msg m = { .op = OP_TRACK_PID, .kind = kind, .pid = pid };

	m.starttime = harness_proc_starttime(pid);
	reaper_send(&m);
}

void harness_reaper_untrack_pid(pid_t pid)
{
	struct reaper_msg m = { .op = OP_UNTRACK_PID, .pid = pid };

	reaper_send(&m);
}

static void send_dir(int op, const char *path)
{
	struct reaper_msg m = { .op = op };

	if (strlen(path) >= sizeof(m.path)) {
		fprintf(stderr, "harness: path too long for the reaper: %s\n", path);
		return;
	}
	memcpy(m.path, path, strlen(path) + 1);
	reaper_send(&m);
}

void harness_reaper_track_dir(const char *path)
{
	send_dir(OP_TRACK_DIR, path);
}

void harness_reaper_untrack_dir(const char *path)
{
	send_dir(OP_UNTRACK_DIR, path);
}
