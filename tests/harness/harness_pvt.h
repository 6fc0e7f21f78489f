/*
 * harness_pvt.h - shared internals of the test harness (not for tests).
 */
#ifndef DECP_TESTS_HARNESS_PVT_H
#define DECP_TESTS_HARNESS_PVT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HARNESS_PATH_MAX 256

/* How the reaper stops a tracked server. */
enum harness_kind {
	HARNESS_KIND_REDIS = 1,		/* SIGKILL */
	HARNESS_KIND_POSTMASTER = 2,	/* SIGQUIT, then SIGKILL after a grace */
};

/* Fork the reaper once per process (again in a forked child). 0 or -errno. */
int harness_reaper_ensure(void);
/* Tell the reaper about a server PID / temp dir, or that it was cleaned up.
 * Best effort: failures are printed, never fatal (PDEATHSIG still covers). */
void harness_reaper_track_pid(pid_t pid, enum harness_kind kind);
void harness_reaper_untrack_pid(pid_t pid);
void harness_reaper_track_dir(const char *path);
void harness_reaper_untrack_dir(const char *path);

/* Process start time (field 22 of /proc/pid/stat) or 0. */
unsigned long long harness_proc_starttime(pid_t pid);
/* waitpid with a timeout: 0 reaped, -ETIMEDOUT, -ECHILD. */
int harness_wait_child(pid_t pid, int timeout_ms, int *status);
/* rm -rf; 0 or -errno of the first failure. */
int harness_rm_rf(const char *path);
/* mkdtemp under $DECP_TEST_TMPDIR or /tmp; prefix like "decp-redis". */
int harness_make_tmpdir(const char *prefix, char *out, size_t outlen);
/* Print the last ~2 KiB of a log file to stderr, prefixed by what. */
void harness_print_log_tail(const char *what, const char *path);
/* True when the file contains needle at or after byte offset from (server logs:
 * "Address already in use" written by this start attempt). */
bool harness_file_contains(const char *path, long from, const char *needle);
/* Size of a file in bytes, 0 when missing. */
long harness_file_size(const char *path);
/* snprintf that reports truncation: 0 or -ENAMETOOLONG. */
int harness_fmt(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* After forking server child pid: poll every 20 ms until ready(ctx) is true.
 * Returns 0 when ready; when the child exits first it is reaped and the result
 * is -EADDRINUSE if its log (from byte log_from, its size before the fork)
 * says the port was taken (try another port), else
 * -EIO (log tail printed, prefixed by what); -ETIMEDOUT after timeout_ms (the
 * child is left running for the caller to stop). */
int harness_child_await(pid_t pid, const char *log, long log_from, const char *what,
			int timeout_ms, bool (*ready)(void *ctx), void *ctx);
/* Send sig to child pid and reap it. If it has not exited after timeout_ms,
 * send escalate and wait 5 s, then SIGKILL and wait 5 s more. Returns 0, or
 * -ETIMEDOUT when it had to escalate. */
int harness_child_stop(pid_t pid, int sig, int timeout_ms, int escalate);
/* The port for start attempt number attempt (0, 1, ...): a free one from
 * harness_free_port(), except that attempt 0 uses $DECP_HARNESS_TRY_PORT when
 * set (tests of the collision retry). Port or -errno. */
int harness_pick_port(int attempt);
/* Send an inline command (e.g. "INFO\r\n") to the Redis on 127.0.0.1:port and tell
 * whether its bulk-string reply contains every string of needles (NULL-terminated).
 * Bounded by 1 s per socket operation; false when refused or not a bulk string. */
bool harness_redis_reply_has(int port, const char *cmd, const char *const *needles);
/* Sleep ms milliseconds. */
void harness_sleep_ms(int ms);
/* In a forked child: own process group, stdout/stderr appended to log, stdin /dev/null,
 * become uid/gid (the `postgres` user; PostgreSQL refuses root), PR_SET_PDEATHSIG deathsig
 * (after setuid, which clears it), LC_ALL=C, HOME=/var/lib/postgresql, exec argv[0] (a
 * path). Never returns (exit 126/127 on failure). */
void harness_exec_as(uid_t uid, gid_t gid, const char *log, pid_t parent, int deathsig,
		     char *const argv[]) __attribute__((noreturn));
/* Run argv as uid/gid (harness_exec_as) to completion within timeout_ms (then SIGKILL).
 * 0, or -EIO when it failed (log tail printed), -errno when it could not be forked. */
int harness_run_as(uid_t uid, gid_t gid, const char *log, int timeout_ms, char *const argv[]);
/* The postmaster of a data directory (line 1 of data/postmaster.pid) if it is running
 * there (its working directory is data: a postmaster chdirs to it): SIGQUIT (immediate
 * shutdown, the children with it), up to 5 s, then SIGKILL. For servers the harness did
 * not fork itself (Patroni's), whose postmaster is not its child. Returns 0 (none left)
 * or -ETIMEDOUT. */
int harness_pg_quit_datadir(const char *data);
/* Crash that postmaster (same check): SIGKILL to its process group (postmaster and
 * backends), wait up to 10 s, remove its SysV segment. 0, -ESRCH (none running),
 * -ETIMEDOUT. */
int harness_pg_kill_datadir(const char *data);
/* GET path from 127.0.0.1:port (HTTP/1.0, the reply read until close, at most 16 KiB),
 * within timeout_ms. Returns the status code, or -errno (-ETIMEDOUT, -ECONNREFUSED,
 * -EPROTO). body (may be NULL) gets the reply's body, cut to cap - 1 bytes. */
int harness_http_get(int port, const char *path, char *body, size_t cap, int timeout_ms);
/* Remove the SysV segment named in line 7 of a postmaster.pid, if any and if no
 * process is attached. Used after a postmaster died without cleaning up. */
void harness_pg_remove_shm(const char *pidfile);

#endif
