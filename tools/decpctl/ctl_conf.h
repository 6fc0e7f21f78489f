/*
 * ctl_conf: the dataplane's `key = value` config file, as far as decpctl touches it.
 *
 * Format: one `key = value` per line; blank lines and lines starting with '#' are comments;
 * a value may be followed by `  # comment`. decpctl reads keys and rewrites only the keys it
 * owns, keeping every other line, comment and the order byte for byte. The rewrite is
 * atomic: a temporary file in the same directory, fsync, the original's mode, rename(2).
 */
#ifndef DECPCTL_CTL_CONF_H
#define DECPCTL_CTL_CONF_H

#include <stddef.h>

struct ctl_kv {
	const char *key;
	const char *value;
};

/*
 * Value of key in the file at path (last occurrence wins, surrounding blanks and a trailing
 * "# comment" removed). Returns 0, -ENOENT (file or key missing), -E2BIG, or -errno.
 */
int ctl_conf_get(const char *path, const char *key, char *out, size_t cap);

/*
 * Set the n keys in path: the first line of each key gets the new value (its trailing
 * comment kept), later duplicates of that key are removed, missing keys are appended after
 * a "# written by <who>" line. The file is created (mode 0644) when missing.
 * Returns 0 or -errno (nothing changed on failure).
 */
int ctl_conf_set(const char *path, const struct ctl_kv *kv, size_t n, const char *who);

/*
 * The same edit on text in memory (the core of ctl_conf_set, exposed for tests): returns a
 * malloc'ed NUL-terminated result or NULL on ENOMEM.
 */
char *ctl_conf_edit(const char *text, const struct ctl_kv *kv, size_t n, const char *who);

#endif
