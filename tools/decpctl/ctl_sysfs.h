/*
 * ctl_sysfs: every /proc and /sys access of decpctl goes through here, relative to a
 * configurable root directory (`--root DIR`, default "/"). Tests point the root at a
 * captured or synthesised tree under tests/decpctl/fixtures/ and get the same code paths
 * as on a live machine; `--apply` against such a root writes into the copy, never into the
 * real kernel.
 *
 * Also holds the CPU-list type shared by every subcommand (the kernel's "0-3,8,10-11"
 * syntax of cpulist / smp_affinity_list / isolcpus).
 *
 * Threading: decpctl is single-threaded; the root is process-wide state set once by main().
 */
#ifndef DECPCTL_CTL_SYSFS_H
#define DECPCTL_CTL_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_MAX_CPUS 1024u
#define CTL_PATH_MAX 4096u

/* Set the root ("/" or a directory). Returns 0, or -ENAMETOOLONG. */
int ctl_root_set(const char *dir);
const char *ctl_root_get(void);
/* True when the root is the live system ("/"): actions with effects outside the tree
 * (mount, dpdk-devbind) are allowed only then. */
bool ctl_root_is_live(void);

/* Root-relative path: out = root + rel (rel starts with '/'). Returns 0 or -ENAMETOOLONG. */
int ctl_path(char *out, size_t cap, const char *rel);

/*
 * Read a whole small file below the root into buf (NUL-terminated, trailing newlines
 * stripped). Returns the length, or -errno (-ENOENT when absent, -E2BIG when it does not fit).
 */
int ctl_read(const char *rel, char *buf, size_t cap);
/* Read a decimal integer file. Returns 0 and *out, -errno, or -EINVAL when not a number. */
int ctl_read_long(const char *rel, long *out);
/*
 * Write text to an existing file below the root (sysfs/procfs semantics: open, one write,
 * close; no create, no truncate beyond O_TRUNC). Returns 0 or -errno from open/write/close
 * (the kernel reports refusals here: -EINVAL, -EIO for managed IRQs, -EACCES).
 */
int ctl_write(const char *rel, const char *text);
/* True when rel exists below the root. */
bool ctl_exists(const char *rel);
/* Basename of the symlink target of rel (e.g. driver name), or -errno. */
int ctl_link_base(const char *rel, char *out, size_t cap);

/* printf-style path helper: out = formatted rel path. Returns 0 or -ENAMETOOLONG. */
int ctl_fmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- CPU sets */

struct ctl_cpuset {
	uint64_t w[CTL_MAX_CPUS / 64];
};

void ctl_cpuset_clear(struct ctl_cpuset *s);
void ctl_cpuset_add(struct ctl_cpuset *s, unsigned int cpu);
void ctl_cpuset_del(struct ctl_cpuset *s, unsigned int cpu);
bool ctl_cpuset_has(const struct ctl_cpuset *s, unsigned int cpu);
unsigned int ctl_cpuset_count(const struct ctl_cpuset *s);
bool ctl_cpuset_empty(const struct ctl_cpuset *s);
bool ctl_cpuset_equal(const struct ctl_cpuset *a, const struct ctl_cpuset *b);
/* dst = a & b, a | b, a & ~b. dst may alias a or b. */
void ctl_cpuset_and(struct ctl_cpuset *dst, const struct ctl_cpuset *a, const struct ctl_cpuset *b);
void ctl_cpuset_or(struct ctl_cpuset *dst, const struct ctl_cpuset *a, const struct ctl_cpuset *b);
void ctl_cpuset_andnot(struct ctl_cpuset *dst, const struct ctl_cpuset *a,
		       const struct ctl_cpuset *b);
/*
 * Parse a kernel CPU list ("0-3,8,10-11", "" = empty, surrounding blanks ignored; the
 * "N-M:step/group" form of isolcpus is accepted). Returns 0, or -EINVAL on anything else
 * or a CPU >= CTL_MAX_CPUS.
 */
int ctl_cpuset_parse(struct ctl_cpuset *s, const char *text);
/* Format as a compact list ("0-3,8"); "" when empty. Returns 0 or -ENOSPC. */
int ctl_cpuset_format(const struct ctl_cpuset *s, char *out, size_t cap);
/* Lowest CPU in s, or -1 when empty. */
int ctl_cpuset_first(const struct ctl_cpuset *s);

#endif
