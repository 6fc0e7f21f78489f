/*
 * decpctl: the operator CLI of decp (issue 10). One program, subcommands dispatched from
 * the table below; each lives in its own ctl_cmd_*.c module (contract in ctl_cmd.h).
 * Later subcommands (demo, db migrate, admin: masters, tokens, subscribers,
 * subscriptions) are one table line each.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ctl_sysfs.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"cores", ctl_cmd_cores, "CPU/NUMA/IRQ/governor/hugepage report and lcore map for the dataplane"},
	{"hugepages", ctl_cmd_hugepages, "show, reserve and mount hugepages"},
	{"nic", ctl_cmd_nic, "list NICs; bind/unbind a NIC for DPDK (never the default route's)"},
	{"top", ctl_cmd_top, "live view of the dataplane's shared stats block"},
	{"db", ctl_cmd_db, "database: 'db migrate' applies the schema migrations"},
	{"master", ctl_cmd_master, "masters: 'master add' registers one with token and keys"},
	{"token", ctl_cmd_token, "license tokens of a master: add (shown once), list, revoke"},
	{"subscriber", ctl_cmd_subscriber, "subscribers and their tokens: add, list, token, revoke-token"},
	{"subscription", ctl_cmd_subscription, "subscriptions: add, list, suspend, resume, cancel"},
	{"instrument", ctl_cmd_instrument, "instrument registry (digits, pip, contract): add, list, set, remove"},
	{"redis", ctl_cmd_redis, "Redis: 'redis check [--repair-holes]' streams vs archive, 'rebuild', 'backup', 'restore'"},
	{"archive", ctl_cmd_archive, "warm/cold archive tiers: 'archive list|verify|restore DAY|run'"},
	{"backup", ctl_cmd_backup, "PostgreSQL backups with pgBackRest: 'backup init|full|incr|list|restore'"},
	{"ledger", ctl_cmd_ledger, "money: 'ledger verify' recomputes the hash chain and the wallets"},
	{"disk", ctl_cmd_disk, "is a disk fast enough for Redis's AOF: fdatasync latency vs the ACK target"},
	{"tls", ctl_cmd_tls, "certificates for TLS: a local CA, the server's (dataplane, api, fan-out), one per master"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: decpctl [--root DIR] COMMAND [options]   (decpctl COMMAND --help)\n\n"
		   "Operator tool for decp: placement and tuning of the dataplane host, live stats.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n"
		   "  --root DIR  read /proc and /sys below DIR instead of / (captured trees, tests)\n"
		   "  --help      this text\n\n"
		   "Exit codes (all commands): 0 ok, 1 failed (see message), 2 usage error,\n"
		   "3 refused for safety, 4 partially applied, 5 mismatch found (ledger verify, archive\n"
		   "verify/restore, redis restore).\n"
		   "docs/decpctl.md has the details.\n");
}

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	const char *sep = cmd[0] != '\0' ? " " : ""; /* "" : before the command */
	fprintf(stderr, "decpctl%s%s: ", sep, cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'decpctl%s%s --help'.\n", sep, cmd);
	return CTL_EXIT_USAGE;
}

const char *ctl_bad_option(char **argv, int optopt_value)
{
	static char b[8];
	extern int optind;
	if (optopt_value != 0 && optopt_value != '?') {
		snprintf(b, sizeof(b), "-%c", optopt_value);
		/* a long option missing its argument also sets optopt to its val */
		if (optind > 0 && argv[optind - 1] != NULL && argv[optind - 1][0] == '-' &&
		    argv[optind - 1][1] == '-')
			return argv[optind - 1];
		return b;
	}
	return optind > 0 && argv[optind - 1] != NULL ? argv[optind - 1] : "?";
}

int ctl_option_error(const char *cmd, char **argv, int optopt_value)
{
	const char *opt = ctl_bad_option(argv, optopt_value);
	if (optopt_value != 0 && optopt_value != '?' && strncmp(opt, "--", 2) == 0) {
		if (strchr(opt, '=') != NULL) /* --json=1: a value given to a flag */
			return ctl_usage_error(cmd, "option '%.*s' takes no value",
					       (int)strcspn(opt, "="), opt);
		return ctl_usage_error(cmd, "option '%s' needs a value", opt);
	}
	if (optopt_value != 0 && optopt_value != '?')
		return ctl_usage_error(cmd, "unknown or incomplete option '%s'", opt);
	return ctl_usage_error(cmd, "unknown option '%s'", opt);
}

int ctl_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		ctl_usage_error(cmd, "%s: '%s' is not a number in %ld..%ld", opt, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int ctl_set_root_opt(const char *cmd, const char *dir)
{
	if (dir[0] == '\0')
		return ctl_usage_error(cmd, "--root needs a directory");
	if (ctl_root_set(dir) != 0)
		return ctl_usage_error(cmd, "--root: path too long");
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return CTL_EXIT_OK;
		}
		if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) {
			int rc = ctl_set_root_opt("", argv[i + 1]);
			if (rc != 0)
				return rc;
			i += 2;
			continue;
		}
		if (strncmp(argv[i], "--root=", 7) == 0) {
			int rc = ctl_set_root_opt("", argv[i] + 7);
			if (rc != 0)
				return rc;
			i++;
			continue;
		}
		if (strcmp(argv[i], "--root") == 0)
			return ctl_usage_error("", "option '--root' needs a directory");
		return ctl_usage_error("", "unknown option '%s'", argv[i]);
	}
	if (i >= argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	for (size_t k = 0; k < N_COMMANDS; k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			return commands[k].run(argc - i, argv + i);
	fprintf(stderr, "decpctl: unknown command '%s'\nTry 'decpctl --help'.\n", argv[i]);
	return CTL_EXIT_USAGE;
}
