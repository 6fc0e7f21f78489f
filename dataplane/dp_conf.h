/*
 * dp_conf: decp-dataplane's configuration file (`--config FILE`), turned into the same
 * options the command line takes, so one parser (dp_opts) and one EAL guard see both.
 *
 * Format: dp_kvconf.h (the same as decp-control's file), documented in docs/dataplane.md
 * "Configuration file"; `decpctl cores --config` edits it. Option keys are the long options without "--", with '_' for '-' (listen, shm, workers,
 * stats_ms, ...). EAL keys become EAL arguments after "--": lcores (-l), main_lcore
 * (--main-lcore), allow (-a, repeatable), vdev (--vdev, repeatable), no_pci (yes: --no-pci),
 * file_prefix, huge (no: --no-huge), memory_mb (-m), socket_mem, log_level (--log-level),
 * eal_extra (split on blanks). EAL keys are used only with stack = dpdk. Unknown keys, a key
 * given twice (except allow and vdev) and the syntax errors of dp_kvconf are reported as
 * "FILE:LINE: message".
 *
 * Precedence: the file first, then the command line, so a command-line option overrides
 * the file's (the option parser keeps the last value it sees).
 */
#ifndef DECP_DP_CONF_H
#define DECP_DP_CONF_H

#include <stddef.h>

/* A growable argument vector (NULL-terminated; every string owned). */
struct dp_conf_args {
	char **v;
	int n, cap;
};

/*
 * Parse configuration text `text` (named `name` in messages) into option arguments
 * (opt: "--listen", "10.0.0.1:7000", ...) and EAL arguments (eal: "-l", "2-5", ...).
 * Both must be zero-initialised; they are appended to. Returns 0, -EINVAL (err filled) or
 * -ENOMEM.
 */
int dp_conf_parse(const char *name, const char *text, struct dp_conf_args *opt,
		  struct dp_conf_args *eal, char *err, size_t errlen);

void dp_conf_args_free(struct dp_conf_args *a);

/*
 * If argv holds "--config FILE" or "--config=FILE" before any "--", read FILE (at most
 * 1 MiB) and build a new vector: argv[0], the file's options, the command line's options
 * without --config, then "--", the file's EAL arguments (unless the effective stack is
 * posix) and the command line's EAL arguments. Without --config, *out_argv = argv.
 * Returns 0 or a negative errno with err filled; free the result with dp_conf_free.
 */
int dp_conf_expand(int argc, char **argv, int *out_argc, char ***out_argv, char *err,
		   size_t errlen);

/* Free what dp_conf_expand built (no-op when it returned the original argv). */
void dp_conf_free(char **expanded, char **orig);

#endif
