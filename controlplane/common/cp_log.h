/*
 * cp_log: the control plane's logging (every role, and decp-fanout). One line per event
 * on stderr:
 *
 *   2026-11-23T23:45:01.123Z decp-control[1234] edge error: redis 127.0.0.1:6379: ...
 *
 * Failures that can repeat per signal or per retry go through CP_LOG_RL, which prints
 * the first occurrence at a call site, then at most one line per interval for that site
 * carrying how many were suppressed meanwhile ("(+41 suppressed)"). So a Redis outage
 * during 100k signals/s logs a line every few seconds, never one per signal. The interval
 * is kept per role at each site (up to CP_LOG_SITE_ROLES roles, the others sharing the
 * last slot): a site of a shared module (cp_redis, cp_pg) that one role logs does not
 * silence another role's first line there (a dead Redis primary met by the book role
 * hid the edge's, which is what an operator needs to see).
 *
 * Threading: every function may be called from any thread; one line is one write(2),
 * so lines of different threads never interleave.
 */
#ifndef DECP_CP_LOG_H
#define DECP_CP_LOG_H

#include <stdatomic.h>
#include <stdint.h>

enum cp_log_level {
	CP_LOG_ERR = 0,
	CP_LOG_WARN = 1,
	CP_LOG_INFO = 2,
	CP_LOG_DEBUG = 3,
};

/* Per call site state of the rate limiter (static storage, zero-initialised). */
#define CP_LOG_SITE_ROLES 8

struct cp_log_site {
	struct cp_log_site_role {
		_Atomic(const char *) role;  /* NULL: a free slot */
		_Atomic uint64_t next_ns;    /* CLOCK_MONOTONIC before which it is silent */
		_Atomic uint64_t suppressed; /* lines dropped since the last printed one */
	} r[CP_LOG_SITE_ROLES];
};

/* The program name at the start of every line ("decp-control" unless set; the string
 * must outlive the process's logging). Call once before any thread starts. */
void cp_log_set_program(const char *name);

/* Lines above max_level are dropped. Call once before any thread starts. */
void cp_log_set_level(enum cp_log_level max_level);

/* Parse "error" | "warn" | "info" | "debug". Returns the level or -EINVAL. */
int cp_log_level_parse(const char *s);

/* Print one line (role may be NULL for the process itself). */
void cp_log(enum cp_log_level lvl, const char *role, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Rate-limited: prints when the site's interval has passed, else counts. */
/* role: a string that lives as long as the site (the sites are static: a literal) */
void cp_log_rl(struct cp_log_site *site, uint64_t interval_ns, enum cp_log_level lvl,
	       const char *role, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Default interval of CP_LOG_RL: 5 s per call site and role. */
#define CP_LOG_RL_NS 5000000000ull

#define CP_LOG_RL(lvl, role, ...)                                                 \
	do {                                                                      \
		static struct cp_log_site cp_log_site_;                           \
		cp_log_rl(&cp_log_site_, CP_LOG_RL_NS, (lvl), (role), __VA_ARGS__); \
	} while (0)

/* CLOCK_MONOTONIC in ns. */
uint64_t cp_now_ns(void);

/* Sleep ms milliseconds (a signal may end it early). */
void cp_sleep_ms(unsigned int ms);

#endif
