/*
 * harness_pg.c - a throw-away PostgreSQL 15 cluster for one test.
 *
 * Layout of the temporary directory (owned by postgres, mode 0700):
 *   data/          the cluster (initdb)
 *   sock/          unix_socket_directories
 *   postgres.log   postmaster stdout/stderr
 *   initdb.log, createdb.log
 */
#include "harness.h"
#include "harness_pvt.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG_BIN "/usr/lib/postgresql/15/bin"
#define PG_START_TRIES 5
#define PG_READY_MS 30000
#define PG_DEFAULT_DB "decp_test"

struct harness_pg {
	uid_t uid;
	gid_t gid;
	int port;
	pid_t pid;
	char dbname[64];
	char dir[HARNESS_PATH_MAX];
	char data[HARNESS_PATH_MAX + 8];
	char sock[HARNESS_PATH_MAX + 8];
	char log[HARNESS_PATH_MAX + 16];
	char pidfile[HARNESS_PATH_MAX + 32];
	char conninfo[HARNESS_PATH_MAX + 160];
	char conninfo_sock[HARNESS_PATH_MAX + 160];
	char archive_opt[HARNESS_PATH_MAX + 64]; /* "archive_command=...", "" = no archiving */
	bool standby;                            /* a streaming replica (harness_pg_standby_start) */
};

static bool dbname_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

void harness_exec_as(uid_t uid, gid_t gid, const char *log, pid_t parent, int deathsig,
		     char *const argv[])
{
	int fd;

	setpgid(0, 0);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
	/* Already postgres (harness run by that user): nothing to change. */
	if (geteuid() != uid &&
	    (setgid(gid) < 0 || initgroups("postgres", gid) < 0 || setuid(uid) < 0)) {
		dprintf(2, "harness: cannot become postgres: %s\n", strerror(errno));
		_exit(126);
	}
	prctl(PR_SET_PDEATHSIG, deathsig);
	if (getppid() != parent)
		_exit(127);
	setenv("LC_ALL", "C", 1);
	setenv("HOME", "/var/lib/postgresql", 1);
	execv(argv[0], argv);
	dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void exec_as_postgres(const struct harness_pg *pg, const char *log, pid_t parent,
			     int deathsig, char *const argv[])
{
	harness_exec_as(pg->uid, pg->gid, log, parent, deathsig, argv);
}

int harness_run_as(uid_t uid, gid_t gid, const char *log, int timeout_ms, char *const argv[])
{
	pid_t parent = getpid(), pid;
	int status, rc;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		harness_exec_as(uid, gid, log, parent, SIGKILL, argv);
	rc = harness_wait_child(pid, timeout_ms, &status);
	if (rc == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		harness_wait_child(pid, 5000, NULL);
	}
	if (rc < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		harness_print_log_tail(argv[0], log);
		return -EIO;
	}
	return 0;
}

/* Run a PostgreSQL tool as postgres to completion. 0 or -EIO. */
static int run_tool(const struct harness_pg *pg, const char *log, int timeout_ms,
		    char *const argv[])
{
	return harness_run_as(pg->uid, pg->gid, log, timeout_ms, argv);
}

/* postmaster.pid line 1 is the PID, line 8 the status ("ready" once it
 * accepts connections; src/include/utils/pidfile.h). */
static bool postmaster_ready(void *ctx)
{
	const struct harness_pg *pg = ctx;
	char buf[1024];
	char *line;
	ssize_t n;
	int fd, i;

	fd = open(pg->pidfile, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (atoi(buf) != (int)pg->pid)
		return false;
	line = buf;
	for (i = 1; i < 8 && line; i++) {
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	/* a hot standby's status once it accepts read-only connections is "standby" */
	return line && (strncmp(line, "ready", 5) == 0 ||
			(pg->standby && strncmp(line, "standby", 7) == 0));
}

/* One attempt to run the postmaster on pg->port. 0, -EADDRINUSE, -EIO. */
static int pg_spawn(struct harness_pg *pg)
{
	char port[16], sockopt[HARNESS_PATH_MAX + 40];
	pid_t parent = getpid(), pid;
	long log_from;
	int rc;
	char *argv[] = {
		PG_BIN "/postgres", "-D", pg->data, "-p", port,
		"-c", "listen_addresses=127.0.0.1",
		"-c", sockopt,
		/* Test-only durability settings: see harness.h. */
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=100",
		"-c", "shared_buffers=32MB",
		/* DSM segments as files in data/pg_dynshmem, not /dev/shm,
		 * so a crashed cluster leaves nothing outside its dir. */
		"-c", "dynamic_shared_memory_type=mmap",
		"-c", "logging_collector=off",
		/* archive_mode, archive_command, archive_timeout when asked */
		NULL, NULL, NULL, NULL, NULL, NULL,
		NULL,
	};
	if (pg->archive_opt[0] != '\0') {
		size_t n = 0;
		while (argv[n] != NULL)
			n++;
		argv[n++] = "-c";
		argv[n++] = "archive_mode=on";
		argv[n++] = "-c";
		argv[n++] = pg->archive_opt;
		/* as docs/operations.md "Backups" (decpctl backup init) sets it */
		argv[n++] = "-c";
		argv[n++] = "archive_timeout=30";
	}

	snprintf(port, sizeof(port), "%d", pg->port);
	rc = harness_fmt(sockopt, sizeof(sockopt), "unix_socket_directories=%s", pg->sock);
	if (rc < 0)
		return rc;
	rc = harness_reaper_ensure();
	if (rc < 0)
		return rc;
	log_from = harness_file_size(pg->log);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		exec_as_postgres(pg, pg->log, parent, SIGQUIT, argv);
	harness_reaper_track_pid(pid, HARNESS_KIND_POSTMASTER);
	pg->pid = pid;
	rc = harness_child_await(pid, pg->log, log_from, "postgres", PG_READY_MS,
				 postmaster_ready, pg);
	if (rc == -ETIMEDOUT) {
		harness_pg_kill(pg);
		return -EIO;
	}
	if (rc < 0) {
		harness_reaper_untrack_pid(pid);
		pg->pid = 0;
	}
	return rc;
}

static int pg_spawn_free_port(struct harness_pg *pg)
{
	int rc = -EIO, tries;

	for (tries = 0; tries < PG_START_TRIES; tries++) {
		rc = harness_pick_port(tries);
		if (rc < 0)
			return rc;
		pg->port = rc;
		rc = pg_spawn(pg);
		if (rc != -EADDRINUSE)
			break;
	}
	return rc;
}

static int pg_prepare_dirs(struct harness_pg *pg)
{
	int rc;

	rc = harness_make_tmpdir("decp-pg", pg->dir, sizeof(pg->dir));
	if (rc < 0)
		return rc;
	harness_reaper_track_dir(pg->dir);
	if (harness_fmt(pg->data, sizeof(pg->data), "%s/data", pg->dir) < 0 ||
	    harness_fmt(pg->sock, sizeof(pg->sock), "%s/sock", pg->dir) < 0 ||
	    harness_fmt(pg->log, sizeof(pg->log), "%s/postgres.log", pg->dir) < 0 ||
	    harness_fmt(pg->pidfile, sizeof(pg->pidfile), "%s/postmaster.pid", pg->data) < 0)
		return -ENAMETOOLONG;
	if (mkdir(pg->sock, 0755) < 0)
		return -errno;
	/* The parent of data/ must be traversable by postgres; data/ itself is
	 * created 0700 by initdb. */
	if (chown(pg->dir, pg->uid, pg->gid) < 0 || chmod(pg->dir, 0700) < 0 ||
	    chown(pg->sock, pg->uid, pg->gid) < 0)
		return -errno;
	return 0;
}

/* The conninfo strings of a started cluster. 0 or -ENAMETOOLONG. */
static int pg_set_conninfo(struct harness_pg *pg)
{
	if (harness_fmt(pg->conninfo, sizeof(pg->conninfo),
			"host=127.0.0.1 port=%d dbname=%s user=postgres connect_timeout=5",
			pg->port, pg->dbname) < 0 ||
	    harness_fmt(pg->conninfo_sock, sizeof(pg->conninfo_sock),
			"host=%s port=%d dbname=%s user=postgres connect_timeout=5",
			pg->sock, pg->port, pg->dbname) < 0)
		return -ENAMETOOLONG;
	return 0;
}

/* A start that failed: its postmaster killed, its directory removed, pg freed. */
static void pg_discard(struct harness_pg *pg)
{
	if (pg == NULL)
		return;
	if (pg->pid > 0)
		harness_pg_kill(pg);
	if (pg->dir[0]) {
		harness_rm_rf(pg->dir);
		harness_reaper_untrack_dir(pg->dir);
	}
	free(pg);
}

struct harness_pg *harness_pg_start(const struct harness_pg_opts *opts)
{
	struct harness_pg *pg = calloc(1, sizeof(*pg));
	const char *db = opts && opts->dbname ? opts->dbname : PG_DEFAULT_DB;
	char initlog[HARNESS_PATH_MAX + 16], createlog[HARNESS_PATH_MAX + 16];
	char port[16];
	struct passwd *pw;
	int rc = -ENOMEM;

	if (!pg)
		goto fail;
	if (!dbname_ok(db)) {
		fprintf(stderr, "harness: bad database name '%s'\n", db);
		rc = -EINVAL;
		goto fail;
	}
	memcpy(pg->dbname, db, strlen(db) + 1);
	if (opts && opts->archive_command &&
	    harness_fmt(pg->archive_opt, sizeof(pg->archive_opt), "archive_command=%s",
			opts->archive_command) < 0) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	pw = getpwnam("postgres");
	if (!pw) {
		fprintf(stderr, "harness: no 'postgres' system user (apt-get install postgresql-15)\n");
		rc = -ENOENT;
		goto fail;
	}
	pg->uid = pw->pw_uid;
	pg->gid = pw->pw_gid;
	if (geteuid() != 0 && geteuid() != pg->uid) {
		fprintf(stderr, "harness: must run as root or postgres to start PostgreSQL\n");
		rc = -EPERM;
		goto fail;
	}
	rc = pg_prepare_dirs(pg);
	if (rc < 0) {
		fprintf(stderr, "harness: postgres temp dir: %s\n", strerror(-rc));
		goto fail;
	}
	if (harness_fmt(initlog, sizeof(initlog), "%s/initdb.log", pg->dir) < 0 ||
	    harness_fmt(createlog, sizeof(createlog), "%s/createdb.log", pg->dir) < 0) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	{
		char *argv[] = { PG_BIN "/initdb", "-D", pg->data, "-U", "postgres",
				 "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync",
				 "--no-instructions", NULL };

		rc = run_tool(pg, initlog, 120000, argv);
		if (rc < 0)
			goto fail;
	}
	rc = pg_spawn_free_port(pg);
	if (rc < 0) {
		fprintf(stderr, "harness: postgres did not start: %s\n", strerror(-rc));
		goto fail;
	}
	snprintf(port, sizeof(port), "%d", pg->port);
	{
		char *argv[] = { PG_BIN "/createdb", "-h", pg->sock, "-p", port,
				 "-U", "postgres", pg->dbname, NULL };

		rc = run_tool(pg, createlog, 60000, argv);
		if (rc < 0)
			goto fail;
	}
	rc = pg_set_conninfo(pg);
	if (rc < 0)
		goto fail;
	return pg;
fail:
	pg_discard(pg);
	errno = -rc;
	return NULL;
}

struct harness_pg *harness_pg_standby_start(const struct harness_pg *primary)
{
	struct harness_pg *pg = calloc(1, sizeof(*pg));
	char bblog[HARNESS_PATH_MAX + 16], port[16];
	int rc = -ENOMEM;

	if (pg == NULL)
		goto fail;
	pg->uid = primary->uid;
	pg->gid = primary->gid;
	pg->standby = true;
	snprintf(pg->dbname, sizeof(pg->dbname), "%s", primary->dbname);
	rc = pg_prepare_dirs(pg);
	if (rc < 0)
		goto fail;
	if (harness_fmt(bblog, sizeof(bblog), "%s/basebackup.log", pg->dir) < 0) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	snprintf(port, sizeof(port), "%d", primary->port);
	{
		/* -R: standby.signal and primary_conninfo; -X stream: the WAL of the copy */
		char *argv[] = { PG_BIN "/pg_basebackup", "-h", "127.0.0.1", "-p", port,
				 "-U", "postgres", "-D", pg->data, "-R", "-X", "stream",
				 "--no-sync", "-c", "fast", NULL };

		rc = run_tool(pg, bblog, 120000, argv);
		if (rc < 0)
			goto fail;
	}
	rc = pg_spawn_free_port(pg);
	if (rc < 0)
		goto fail;
	rc = pg_set_conninfo(pg);
	if (rc < 0)
		goto fail;
	return pg;
fail:
	fprintf(stderr, "harness: standby did not start: %s\n", strerror(-rc));
	pg_discard(pg);
	errno = -rc;
	return NULL;
}

const char *harness_pg_conninfo(const struct harness_pg *pg)
{
	return pg->conninfo;
}

const char *harness_pg_conninfo_socket(const struct harness_pg *pg)
{
	return pg->conninfo_sock;
}

const char *harness_pg_host(const struct harness_pg *pg)
{
	(void)pg;
	return "127.0.0.1";
}

int harness_pg_port(const struct harness_pg *pg)
{
	return pg->port;
}

const char *harness_pg_dbname(const struct harness_pg *pg)
{
	return pg->dbname;
}

const char *harness_pg_dir(const struct harness_pg *pg)
{
	return pg->dir;
}

const char *harness_pg_socket_dir(const struct harness_pg *pg)
{
	return pg->sock;
}

const char *harness_pg_log_path(const struct harness_pg *pg)
{
	return pg->log;
}

pid_t harness_pg_pid(const struct harness_pg *pg)
{
	return pg->pid;
}

/* Send sig, wait; escalate to SIGQUIT then SIGKILL (then the postmaster could
 * not remove its SysV segment: do it for it). */
static int pg_signal_and_reap(struct harness_pg *pg, int sig, int timeout_ms)
{
	int rc;

	if (pg->pid <= 0)
		return -ESRCH;
	rc = harness_child_stop(pg->pid, sig, timeout_ms, SIGQUIT);
	if (rc == -ETIMEDOUT)
		harness_pg_remove_shm(pg->pidfile);
	harness_reaper_untrack_pid(pg->pid);
	pg->pid = 0;
	return rc;
}

int harness_pg_stop(struct harness_pg *pg)
{
	return pg_signal_and_reap(pg, SIGINT, 15000);
}

int harness_pg_kill(struct harness_pg *pg)
{
	int rc = pg_signal_and_reap(pg, SIGQUIT, 10000);

	return rc == -ETIMEDOUT ? 0 : rc;
}

int harness_pg_restart(struct harness_pg *pg)
{
	if (pg->pid > 0)
		return -EBUSY;
	return pg_spawn(pg);
}

void harness_pg_destroy(struct harness_pg *pg)
{
	if (!pg)
		return;
	if (pg->pid > 0)
		harness_pg_stop(pg);
	harness_rm_rf(pg->dir);
	harness_reaper_untrack_dir(pg->dir);
	free(pg);
}
