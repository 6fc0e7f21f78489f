/*
 * harness_util.c - small process/file helpers shared by the harness modules.
 */
#include "harness.h"
#include "harness_pvt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int harness_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

void harness_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int harness_wait_child(pid_t pid, int timeout_ms, int *status)
{
	long long deadline = now_ms() + timeout_ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			if (status)
				*status = st;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -errno;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		harness_sleep_ms(10);
	}
}

int harness_child_await(pid_t pid, const char *log, long log_from, const char *what,
			int timeout_ms, bool (*ready)(void *ctx), void *ctx)
{
	char msg[128];
	int waited, status;

	for (waited = 0; waited < timeout_ms; waited += 20) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			if (harness_file_contains(log, log_from, "Address already in use"))
				return -EADDRINUSE;
			snprintf(msg, sizeof(msg), "%s exited during start", what);
			harness_print_log_tail(msg, log);
			return -EIO;
		}
		if (ready(ctx))
			return 0;
		harness_sleep_ms(20);
	}
	snprintf(msg, sizeof(msg), "%s not ready in %d ms", what, timeout_ms);
	harness_print_log_tail(msg, log);
	return -ETIMEDOUT;
}

int harness_child_stop(pid_t pid, int sig, int timeout_ms, int escalate)
{
	kill(pid, sig);
	if (harness_wait_child(pid, timeout_ms, NULL) != -ETIMEDOUT)
		return 0;
	kill(pid, escalate);
	if (harness_wait_child(pid, 5000, NULL) == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		harness_wait_child(pid, 5000, NULL);
	}
	return -ETIMEDOUT;
}

/* /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may contain spaces and
 * parentheses, so parse from the last ')'. Field 3 is the state, 22 starttime. */
static int read_stat(pid_t pid, char *state, unsigned long long *starttime)
{
	char path[64], buf[1024];
	char *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EIO;
	p += 2;
	if (state)
		*state = *p;
	for (field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return -EIO;
	if (starttime)
		*starttime = strtoull(p, NULL, 10);
	return 0;
}

unsigned long long harness_proc_starttime(pid_t pid)
{
	unsigned long long t = 0;

	if (read_stat(pid, NULL, &t) < 0)
		return 0;
	return t;
}

bool harness_pid_alive(pid_t pid)
{
	char state = 0;

	if (pid <= 0)
		return false;
	if (read_stat(pid, &state, NULL) < 0)
		return false;
	return state != 'Z' && state != 'X';
}

bool harness_path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0 && errno != ENOENT)
		return errno;
	return 0;
}

int harness_rm_rf(const char *path)
{
	int rc;

	if (!harness_path_exists(path))
		return 0;
	rc = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (rc < 0)
		return -errno;
	return rc > 0 ? -rc : 0;
}

int harness_make_tmpdir(const char *prefix, char *out, size_t outlen)
{
	const char *base = getenv("DECP_TEST_TMPDIR");
	int rc;

	if (!base || !*base)
		base = "/tmp";
	rc = harness_fmt(out, outlen, "%s/%s-XXXXXX", base, prefix);
	if (rc < 0)
		return rc;
	if (!mkdtemp(out))
		return -errno;
	return 0;
}

void harness_print_log_tail(const char *what, const char *path)
{
	char buf[2048];
	ssize_t n;
	off_t size;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "harness: %s: no log at %s\n", what, path);
		return;
	}
	size = lseek(fd, 0, SEEK_END);
	lseek(fd, size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	fprintf(stderr, "harness: %s: tail of %s:\n%s\n", what, path, buf);
}

bool harness_file_contains(const char *path, long from, const char *needle)
{
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = pread(fd, buf, sizeof(buf) - 1, (off_t)from);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

long harness_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

void harness_pg_remove_shm(const char *pidfile)
{
	char buf[1024];
	char *line;
	ssize_t n;
	int fd, i;
	unsigned long key;
	int shmid;
	struct shmid_ds ds;

	fd = open(pidfile, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* Line 7 is "<key> <shmid>" (src/include/utils/pidfile.h). */
	line = buf;
	for (i = 1; i < 7 && line; i++) {
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	if (!line || sscanf(line, "%lu %d", &key, &shmid) != 2)
		return;
	if (shmctl(shmid, IPC_STAT, &ds) == 0 && ds.shm_nattch == 0)
		shmctl(shmid, IPC_RMID, NULL);
}

/* The PID in line 1 of data/postmaster.pid when that process runs in data (a postmaster
 * chdirs to its data directory), else 0: never a reused PID of someone else's. */
static pid_t datadir_postmaster(const char *data)
{
	char path[HARNESS_PATH_MAX + 64], cwd[HARNESS_PATH_MAX + 64], buf[32];
	ssize_t n;
	int fd;
	pid_t pid;

	if (harness_fmt(path, sizeof(path), "%s/postmaster.pid", data) < 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = (pid_t)atoi(buf);
	if (pid <= 0 || !harness_pid_alive(pid))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
	n = readlink(path, cwd, sizeof(cwd) - 1);
	if (n <= 0)
		return 0;
	cwd[n] = '\0';
	return strcmp(cwd, data) == 0 ? pid : 0;
}

int harness_pg_quit_datadir(const char *data)
{
	pid_t pid = datadir_postmaster(data);
	int waited;

	if (pid == 0)
		return 0;
	kill(pid, SIGQUIT);
	for (waited = 0; waited < 5000 && harness_pid_alive(pid); waited += 20)
		harness_sleep_ms(20);
	if (!harness_pid_alive(pid))
		return 0;
	kill(pid, SIGKILL);
	for (waited = 0; waited < 5000 && harness_pid_alive(pid); waited += 20)
		harness_sleep_ms(20);
	return harness_pid_alive(pid) ? -ETIMEDOUT : 0;
}

int harness_pg_kill_datadir(const char *data)
{
	char pidfile[HARNESS_PATH_MAX + 32];
	pid_t pid = datadir_postmaster(data), pgid;
	int waited;

	if (pid == 0)
		return -ESRCH;
	/* the postmaster and its backends at once, as a machine's crash would: no backend
	 * outlives it to answer a client */
	pgid = getpgid(pid);
	if (pgid > 1 && pgid != getpgrp())
		kill(-pgid, SIGKILL);
	else
		kill(pid, SIGKILL);
	for (waited = 0; waited < 10000 && harness_pid_alive(pid); waited += 10)
		harness_sleep_ms(10);
	if (harness_fmt(pidfile, sizeof(pidfile), "%s/postmaster.pid", data) == 0)
		harness_pg_remove_shm(pidfile);
	return harness_pid_alive(pid) ? -ETIMEDOUT : 0;
}

/* The lowest port the kernel gives outgoing connections (ip_local_port_range). */
static int ephemeral_low(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	int low = 32768;

	if (f != NULL) {
		if (fscanf(f, "%d", &low) != 1)
			low = 32768;
		fclose(f);
	}
	return low;
}

int harness_free_port(void)
{
	/* Below the kernel's ephemeral range when there is room: a port of that range (what
	 * bind to port 0 returns) can be given to any process's outgoing connection between
	 * this probe and the server's bind (seen: a test's fan-out port taken by a Patroni
	 * member's connection, EADDRINUSE). Ports below it are only ever bound on purpose. */
	static unsigned int seed;
	int low = ephemeral_low();

	if (seed == 0)
		seed = (unsigned int)getpid() * 2654435761u ^ (unsigned int)time(NULL);
	for (int i = 0; low - HARNESS_PORT_MIN >= 1000 && i < 200; i++) {
		int p = HARNESS_PORT_MIN + rand_r(&seed) % (low - HARNESS_PORT_MIN);

		if (harness_port_free(p))
			return p;
	}
	return harness_any_port();
}

int harness_any_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

int harness_pick_port(int attempt)
{
	const char *forced = getenv("DECP_HARNESS_TRY_PORT");

	if (attempt == 0 && forced && atoi(forced) > 0 && atoi(forced) < 65536)
		return atoi(forced);
	return harness_free_port();
}

bool harness_port_free(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd, one = 1;
	bool free_port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);

	/* Nobody accepts connections there... */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		return false;
	}
	close(fd);

	/* ...and we can listen on it ourselves (SO_REUSEADDR as every server
	 * does, so TIME_WAIT leftovers of closed connections do not count). */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	free_port = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0;
	close(fd);
	return free_port;
}

pid_t harness_spawn(const char *log, char *const argv[])
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execvp(argv[0], argv);
	_exit(127);
}

int harness_wait_exit(pid_t pid, int ms)
{
	int st;

	for (int t = 0; t < ms; t += 20) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

int harness_wait_line(const char *path, const char *needle, char *out, size_t cap, pid_t pid,
		      int ms)
{
	char line[1024];

	for (int t = 0; t < ms; t += 20) {
		FILE *f = fopen(path, "r");

		while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			const char *p = strstr(line, needle);

			if (p != NULL) {
				fclose(f);
				if (out != NULL)
					snprintf(out, cap, "%s", p + strlen(needle));
				return 0;
			}
		}
		if (f != NULL)
			fclose(f);
		if (pid > 0 && !harness_pid_alive(pid))
			break;
		usleep(20000);
	}
	fprintf(stderr, "'%s' not seen in %s\n", needle, path);
	return -1;
}
