/* Helpers for the decpctl tests: run a program and capture its output, temp dirs, files. */
#ifndef DECPCTL_TEST_UTIL_H
#define DECPCTL_TEST_UTIL_H

#include <stddef.h>

struct run_result {
	int code;      /* exit code, or 128 + signal */
	char *out;     /* stdout, NUL-terminated, malloc'ed */
	char *err;     /* stderr */
};

/* Run argv (NULL-terminated) with stdin from /dev/null; waits at most timeout_s, then kills
 * it (code 124). Returns 0 or -1 when it could not be started. */
int run_prog(char *const argv[], int timeout_s, struct run_result *r);
void run_free(struct run_result *r);

/* mkdtemp under $TMPDIR or /tmp: "/tmp/decpctl-test-XXXXXX". Returns 0 or -1. */
int tmpdir_make(char *out, size_t cap);
/* rm -rf dir (only paths under /tmp/decpctl-test-). */
void tmpdir_remove(const char *dir);
/* cp -a src dst. Returns the exit code. */
int copy_tree(const char *src, const char *dst);
/* Whole file into a malloc'ed string (trailing newline kept), NULL on error. */
char *slurp(const char *path);
/* Write text to path (create/truncate). Returns 0 or -1. */
int spit(const char *path, const char *text);

#endif
