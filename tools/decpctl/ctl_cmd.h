/*
 * ctl_cmd: the subcommands of decpctl and what they share. decpctl.c dispatches from a
 * table of {name, function, summary}; a new subcommand (db migrate, admin, demo) is one
 * module with a `int ctl_cmd_NAME(int argc, char **argv)` and one table line.
 *
 * A command gets argv[0] = its own name and parses the rest with getopt_long. Every
 * command accepts --help and --root DIR. It returns a process exit code:
 */
#ifndef DECPCTL_CTL_CMD_H
#define DECPCTL_CTL_CMD_H

#include <stdio.h>

enum ctl_exit {
	CTL_EXIT_OK = 0,      /* done; for reports: printed (findings are not errors) */
	CTL_EXIT_FAIL = 1,    /* could not do it: unreadable /proc or /sys, kernel refused,
			       * segment missing, dpdk-devbind failed */
	CTL_EXIT_USAGE = 2,   /* unknown option, bad argument */
	CTL_EXIT_REFUSED = 3, /* refused for safety: default-route NIC, no confirmation,
			       * an action on the live system asked with --root DIR */
	CTL_EXIT_PARTIAL = 4, /* --apply: some settings applied, some refused (see report) */
	CTL_EXIT_MISMATCH = 5, /* a check found data that does not match (ledger verify) */
};

int ctl_cmd_cores(int argc, char **argv);
int ctl_cmd_hugepages(int argc, char **argv);
int ctl_cmd_nic(int argc, char **argv);
int ctl_cmd_top(int argc, char **argv);
int ctl_cmd_db(int argc, char **argv);
int ctl_cmd_master(int argc, char **argv);
int ctl_cmd_redis(int argc, char **argv);
int ctl_cmd_token(int argc, char **argv);
int ctl_cmd_subscriber(int argc, char **argv);
int ctl_cmd_subscription(int argc, char **argv);
int ctl_cmd_instrument(int argc, char **argv);
int ctl_cmd_disk(int argc, char **argv);
int ctl_cmd_tls(int argc, char **argv);
int ctl_cmd_ledger(int argc, char **argv);
int ctl_cmd_archive(int argc, char **argv);
int ctl_cmd_backup(int argc, char **argv);
/* decpctl redis's parts (ctl_cmd_redis.c, ctl_cmd_redis_backup.c). */
void ctl_redis_usage(FILE *f);
/* "HOST:PORT" -> host, port (1..65535); 0 or -1. The default: $DECP_REDIS_HOST and
 * $DECP_REDIS_PORT, else 127.0.0.1:6379. */
int ctl_redis_addr(const char *s, char *host, size_t hostlen, int *port);
void ctl_redis_addr_default(char *host, size_t hostlen, int *port);
int ctl_redis_backup(int argc, char **argv);
int ctl_redis_restore(int argc, char **argv);

/* A new random token (64 hex characters) and its SHA-256 (what the database stores). */
int ctl_new_token(char hex[65], unsigned char hash[32]);

/* A query result as an aligned table with a header, or one JSON object per row. */
struct pg_result;
void ctl_pg_print(const struct pg_result *r, _Bool json);

/* "decpctl CMD: <message>\nTry 'decpctl CMD --help'." on stderr; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text of the option getopt_long just rejected (argv[optind - 1] or the short option). */
const char *ctl_bad_option(char **argv, int optopt_value);
/* The usage error for the option getopt_long just rejected: "option '--conninfo' needs a
 * value" for a known long option given without one, else "unknown option '...'" (getopt
 * cannot tell a short option's two cases apart: "unknown or incomplete"). */
int ctl_option_error(const char *cmd, char **argv, int optopt_value);
/* Parse a decimal in lo..hi; returns 0 or -1 after printing a usage error. */
int ctl_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
/* --root DIR: returns 0 or a usage error exit code after printing. */
int ctl_set_root_opt(const char *cmd, const char *dir);

#endif
