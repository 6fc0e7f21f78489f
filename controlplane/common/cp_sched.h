/*
 * cp_sched: the CPU scheduling class of a role's thread (issue 26: the ACK path first when
 * the cores are shared; docs/control.md "Configuration", keys edge_sched and
 * background_sched; measured in docs/perf.md "control").
 *
 * On a machine where the edge shares its cores with the archiver, the book and trust
 * roles, PostgreSQL and anything else, the ACK's round trip waits behind whatever the
 * kernel runs first. A class per role thread says who goes first: `fifo:N` (SCHED_FIFO,
 * preempts every normal thread at once; needs CAP_SYS_NICE or RLIMIT_RTPRIO >= N),
 * `nice:N` (-20..19; below 0 needs the same), `idle` (SCHED_IDLE: runs only on a CPU
 * nobody else wants) or `inherit` (what the process was started with).
 *
 * SCHED_FIFO is applied with SCHED_RESET_ON_FORK, so nothing the thread starts inherits
 * it. Threads a role starts after cp_sched_apply() inherit its class (glibc's default
 * PTHREAD_INHERIT_SCHED; nice is per thread on Linux and inherited the same way).
 */
#ifndef DECP_CP_SCHED_H
#define DECP_CP_SCHED_H

#include <stddef.h>

enum cp_sched_policy {
	CP_SCHED_INHERIT = 0, /* leave the thread as started */
	CP_SCHED_NICE,        /* SCHED_OTHER at nice `value` (-20..19) */
	CP_SCHED_FIFO,        /* SCHED_FIFO at priority `value` (1..99) */
	CP_SCHED_IDLE,        /* SCHED_IDLE */
};

struct cp_sched {
	enum cp_sched_policy policy;
	int value;
};

/* Parse "inherit", "nice:N" (N -20..19: digits, '-' before a negative one), "fifo:N" (N
 * 1..99: digits) or "idle"; no blanks, no '+'. Returns 0 or -EINVAL. */
int cp_sched_parse(const char *text, struct cp_sched *out);

/* The text form of s ("fifo:10") into buf. Returns buf. */
const char *cp_sched_str(const struct cp_sched *s, char *buf, size_t len);

/* Apply s to the calling thread. Returns 0, or -errno of the system call (-EPERM without
 * the privilege: the thread keeps its class). */
int cp_sched_apply(const struct cp_sched *s);

/* The calling thread's class as cp_sched_str() writes it (SCHED_OTHER as "nice:N", any
 * other policy as "other"); for the log and tests. Returns buf. */
const char *cp_sched_current(char *buf, size_t len);

#endif
