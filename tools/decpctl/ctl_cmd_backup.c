/*
 * decpctl backup init | full | incr | list | restore: PostgreSQL backups with pgBackRest
 * (docs/decpctl.md "decpctl backup", docs/operations.md "Backups"; issue 22 item 3).
 *
 * decpctl owns one pgBackRest configuration file (default /etc/decp/pgbackrest.conf) with
 * one stanza ("decp") and one repository, and runs pgBackRest with it; pgBackRest does
 * the work (WAL archiving, full and incremental backups, point-in-time restore). pgBackRest
 * must run as the owner of the data directory: run as root, decpctl runs it as that owner.
 *
 *   init     write the configuration, create the repository and the stanza, and check
 *            that WAL archiving works (it prints the two postgresql.conf lines it needs)
 *   full     a full backup      incr  an incremental backup (on the last one)
 *   list     the backups, the time range a restore can reach and the archive's timelines
 *   restore  stop-checked restore of the latest backup, or of the state at --time on
 *            the timeline --timeline names, or (--timeline N alone) of the end of
 *            timeline N
 *
 * Timelines: every restore to a time (and every promotion) begins a new timeline; the
 * archive then holds two histories that share everything before the branch point and
 * differ after it. A time after the branch point exists on both, so --time alone does not
 * say which state is meant: pgBackRest and PostgreSQL default to the latest timeline, which
 * silently drops what the older one held after the branch. With more than one timeline in
 * the archive, restore --time is refused until --timeline names one. --timeline N without
 * --time is the end of timeline N (everything its WAL holds): PostgreSQL's default target
 * with recovery_target_timeline N, from the newest backup on N's history (pgBackRest picks
 * the newest backup whatever its timeline, and one taken on a later branch cannot reach N).
 *
 * The timelines are read from the WAL names pgBackRest reports and from the history files
 * in the repository (PostgreSQL archives a new timeline's history file at once, its first
 * WAL only when a segment fills).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <grp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_cmd.h"

static const char CMD[] = "backup";
#define DEFAULT_CONFIG "/etc/decp/pgbackrest.conf"
#define DEFAULT_STANZA "decp"

struct opts {
	const char *config, *stanza;
	const char *repo, *pgdata, *socket, *time;
	char timeline[16]; /* --timeline: "latest" or a decimal id; "" when not given */
	long port, retention;
	bool json, yes;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: decpctl backup init --repo DIR --pgdata DIR [--pg-port N] [--pg-socket DIR]\n"
		   "                           [--retention-full N] [COMMON]\n"
		   "       decpctl backup full | incr [COMMON]\n"
		   "       decpctl backup list [--json] [COMMON]\n"
		   "       decpctl backup restore [--time 'YYYY-MM-DD HH:MM:SS+00'] [--timeline N|latest]\n"
		   "                              --yes [COMMON]\n\n"
		   "PostgreSQL backups with pgBackRest: one stanza, one repository.\n"
		   "init     write the pgBackRest configuration, create the repository and the\n"
		   "         stanza, and check that WAL archiving works. PostgreSQL must run with\n"
		   "         the two settings init prints (archive_mode, archive_command).\n"
		   "full     a full backup              incr  an incremental backup\n"
		   "list     the backups (with their timeline), the earliest/latest time a restore\n"
		   "         can reach, and the timelines the WAL archive holds\n"
		   "restore  PostgreSQL must be stopped: restore the latest backup and replay all\n"
		   "         archived WAL, or stop at --time (point-in-time recovery), or replay to\n"
		   "         the end of timeline --timeline N; the data directory is overwritten\n"
		   "         (--delta), so --yes is required\n\n"
		   "  --time T              restore the state at T (give its UTC offset: +00)\n"
		   "  --timeline N|latest   which history --time is on. An earlier restore to a time\n"
		   "                        (or a promotion) began a new timeline: the archive then\n"
		   "                        holds two states for a later time, the old history's and\n"
		   "                        the one after that restore. N: that timeline (e.g. 1, the\n"
		   "                        history before the restore that began timeline 2);\n"
		   "                        latest: the newest. Required with --time when the\n"
		   "                        archive holds more than one timeline ('backup list'\n"
		   "                        shows them); refused (exit 3) without it. Without\n"
		   "                        --time: restore to the END of timeline N (all its WAL),\n"
		   "                        from the newest backup on N's history\n\n"
		   "  --repo DIR            repository directory (init; absolute)\n"
		   "  --pgdata DIR          PostgreSQL data directory (init; absolute)\n"
		   "  --pg-port N           PostgreSQL port (init; default 5432)\n"
		   "  --pg-socket DIR       PostgreSQL's unix socket directory (init; default\n"
		   "                        /var/run/postgresql)\n"
		   "  --retention-full N    full backups kept (init; default 7: a week of dailies)\n"
		   "COMMON:\n"
		   "  --config-file FILE    pgBackRest configuration (default " DEFAULT_CONFIG ")\n"
		   "  --stanza NAME         stanza (default " DEFAULT_STANZA ")\n"
		   "  --help                this text\n\n"
		   "Runs pgBackRest as the data directory's owner when started as root.\n"
		   "Exit codes: 0 done, 1 pgBackRest failed (its message is shown), 2 usage error,\n"
		   "3 refused (PostgreSQL running for restore, no --yes, a different config exists,\n"
		   "--time without --timeline while the archive holds more than one timeline, no\n"
		   "backup on timeline N's history).\n");
}

/* KEY's value in the configuration decpctl wrote (pg1-path: the data directory, whose
 * owner runs pgBackRest; repo1-path: the repository). 0, -ENOENT or -errno. */
static int config_value(const char *config, const char *key, char *out, size_t len)
{
	FILE *f = fopen(config, "r");
	if (f == NULL)
		return -errno;
	char line[4096];
	size_t klen = strlen(key);
	int rc = -ENOENT;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, klen) != 0 || line[klen] != '=')
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(out, len, "%s", line + klen + 1);
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

/* Run pgbackrest ARGS... as the owner of pgdata (when root), output passed through, or
 * captured into *capture (malloc'd) when capture is not NULL. Returns its exit status, or
 * -1 when it could not be run. */
static int pgbackrest(const struct opts *o, const char *pgdata, char **capture,
		      const char *const *args)
{
	const char *av[24];
	size_t n = 0;
	char cfg[4200], stanza[256];
	snprintf(cfg, sizeof(cfg), "--config=%s", o->config);
	snprintf(stanza, sizeof(stanza), "--stanza=%s", o->stanza);
	av[n++] = "pgbackrest";
	av[n++] = cfg;
	av[n++] = stanza;
	for (size_t i = 0; args[i] != NULL && n < sizeof(av) / sizeof(av[0]) - 1; i++)
		av[n++] = args[i];
	av[n] = NULL;

	struct stat st;
	if (stat(pgdata, &st) != 0) {
		fprintf(stderr, "decpctl backup: %s: %s\n", pgdata, strerror(errno));
		return -1;
	}
	int pfd[2] = {-1, -1};
	if (capture != NULL && pipe(pfd) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (capture != NULL) {
			dup2(pfd[1], 1);
			close(pfd[0]);
			close(pfd[1]);
		}
		if (geteuid() == 0 && st.st_uid != 0) {
			struct passwd *pw = getpwuid(st.st_uid);
			if (pw == NULL || setgid(pw->pw_gid) != 0 ||
			    initgroups(pw->pw_name, pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
				fprintf(stderr, "decpctl backup: cannot become the owner of %s\n", pgdata);
				_exit(126);
			}
			setenv("HOME", pw->pw_dir, 1);
		}
		if (chdir("/") != 0)
			_exit(126);
		execvp(av[0], (char *const *)av);
		fprintf(stderr, "decpctl backup: cannot run pgbackrest: %s (apt-get install "
				"pgbackrest)\n", strerror(errno));
		_exit(127);
	}
	if (capture != NULL) {
		close(pfd[1]);
		size_t cap = 65536, len = 0;
		char *buf = malloc(cap);
		ssize_t r;
		while (buf != NULL && (r = read(pfd[0], buf + len, cap - len - 1)) > 0) {
			len += (size_t)r;
			if (cap - len < 4096) {
				char *nb = realloc(buf, cap * 2);
				if (nb == NULL) {
					free(buf);
					buf = NULL;
					break;
				}
				buf = nb;
				cap *= 2;
			}
		}
		close(pfd[0]);
		if (buf != NULL)
			buf[len] = '\0';
		*capture = buf;
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Is s "YYYY-MM-DD HH:MM:SS[.fraction]" (or a T between) with its UTC offset: Z, +HH,
 * +HH:MM or +HHMM (- too)? pgBackRest passes --target on to recovery_target_time, where a
 * time without an offset is read in the server's time zone (not UTC), and one PostgreSQL
 * cannot read at all stops it from starting after the data directory was overwritten. */
static bool time_target_ok(const char *s)
{
	static const char shape[] = "dddd-dd-dd dd:dd:dd";
	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		char want = shape[i], got = s[i];
		if (want == 'd' ? (got < '0' || got > '9') :
		    !(got == want || (i == 10 && got == 'T')))
			return false;
	}
	int mon = (s[5] - '0') * 10 + s[6] - '0', day = (s[8] - '0') * 10 + s[9] - '0';
	int h = (s[11] - '0') * 10 + s[12] - '0', mi = (s[14] - '0') * 10 + s[15] - '0';
	int sec = (s[17] - '0') * 10 + s[18] - '0';
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || h > 23 || mi > 59 || sec > 59)
		return false;
	const char *p = s + sizeof(shape) - 1;
	if (*p == '.') {
		const char *f = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == f || p - f > 6)
			return false;
	}
	if (strcmp(p, "Z") == 0)
		return true;
	if (*p != '+' && *p != '-')
		return false;
	p++;
	size_t n = strlen(p);
	bool digits2 = n >= 2 && p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9';
	if (!digits2 || (p[0] - '0') * 10 + p[1] - '0' > 15)
		return false;
	if (n == 2)
		return true;
	const char *m = p[2] == ':' ? p + 3 : p + 2;
	return strlen(m) == 2 && m[0] >= '0' && m[0] <= '5' && m[1] >= '0' && m[1] <= '9';
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"config-file", required_argument, NULL, 'f'}, {"stanza", required_argument, NULL, 's'},
		{"repo", required_argument, NULL, 'r'},        {"pgdata", required_argument, NULL, 'd'},
		{"pg-port", required_argument, NULL, 'p'},     {"pg-socket", required_argument, NULL, 'k'},
		{"retention-full", required_argument, NULL, 'R'},
		{"time", required_argument, NULL, 't'},        {"json", no_argument, NULL, 'j'},
		{"timeline", required_argument, NULL, 'T'},
		{"yes", no_argument, NULL, 'y'},               {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	o->config = DEFAULT_CONFIG;
	o->stanza = DEFAULT_STANZA;
	o->port = 5432;
	o->retention = 7;
	o->socket = "/var/run/postgresql";
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': o->config = optarg; break;
		case 's': o->stanza = optarg; break;
		case 'r': o->repo = optarg; break;
		case 'd': o->pgdata = optarg; break;
		case 'k': o->socket = optarg; break;
		case 't':
			if (!time_target_ok(optarg))
				return ctl_usage_error(CMD, "--time '%s' is not a time with its UTC "
						       "offset, 'YYYY-MM-DD HH:MM:SS[.ffffff]+00' "
						       "(without one PostgreSQL reads it in its own "
						       "time zone)", optarg);
			o->time = optarg;
			break;
		case 'T': {
			long tl;
			if (strcmp(optarg, "latest") != 0 &&
			    ctl_parse_long(CMD, "--timeline", optarg, 1, 0x7fffffffL, &tl))
				return CTL_EXIT_USAGE;
			if (strcmp(optarg, "latest") == 0)
				snprintf(o->timeline, sizeof(o->timeline), "latest");
			else
				snprintf(o->timeline, sizeof(o->timeline), "%ld", tl);
			break;
		}
		case 'j': o->json = true; break;
		case 'y': o->yes = true; break;
		case 'p':
			if (ctl_parse_long(CMD, "--pg-port", optarg, 1, 65535, &o->port))
				return CTL_EXIT_USAGE;
			break;
		case 'R':
			if (ctl_parse_long(CMD, "--retention-full", optarg, 1, 9999, &o->retention))
				return CTL_EXIT_USAGE;
			break;
		case 'h': usage(stdout); return -1;
		default:
			return ctl_option_error(CMD, argv, optopt);
		}
	}
	for (const char *s = o->stanza; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return ctl_usage_error(CMD, "--stanza: lower-case letters, digits, - and _ only");
	return 0;
}

static bool abs_path_ok(const char *p)
{
	return p != NULL && p[0] == '/' && strpbrk(p, "\n\r=") == NULL;
}

static int cmd_init(const struct opts *o)
{
	if (!abs_path_ok(o->repo) || !abs_path_ok(o->pgdata) || !abs_path_ok(o->socket))
		return ctl_usage_error(CMD, "init needs --repo DIR and --pgdata DIR (absolute paths)");
	struct stat st;
	if (stat(o->pgdata, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "decpctl backup init: %s is not a PostgreSQL data directory\n",
			o->pgdata);
		return CTL_EXIT_FAIL;
	}
	char text[8192];
	int n = snprintf(text, sizeof(text),
		"# pgBackRest configuration written by decpctl backup init (docs/operations.md \"Backups\").\n"
		"[global]\n"
		"repo1-path=%s\n"
		"repo1-retention-full=%ld\n"
		"log-path=%s/log\n"
		"lock-path=%s/lock\n"
		"spool-path=%s/spool\n"
		"log-level-console=warn\n"
		"log-level-file=info\n"
		"start-fast=y\n"
		"compress-type=gz\n"
		"\n"
		"[%s]\n"
		"pg1-path=%s\n"
		"pg1-port=%ld\n"
		"pg1-socket-path=%s\n",
		o->repo, o->retention, o->repo, o->repo, o->repo, o->stanza,
		o->pgdata, o->port, o->socket);
	if (n < 0 || (size_t)n >= sizeof(text))
		return ctl_usage_error(CMD, "paths too long");

	/* An existing, different configuration is not overwritten silently. */
	FILE *f = fopen(o->config, "r");
	if (f != NULL) {
		char old[8192];
		size_t len = fread(old, 1, sizeof(old) - 1, f);
		old[len] = '\0';
		fclose(f);
		if (strcmp(old, text) != 0) {
			fprintf(stderr, "decpctl backup init: REFUSED: %s exists with other settings; "
					"move it away first\n", o->config);
			return CTL_EXIT_REFUSED;
		}
	}
	/* The repository and its log/lock/spool directories belong to the data's owner. */
	const char *sub[] = {"", "/log", "/lock", "/spool"};
	for (size_t i = 0; i < 4; i++) {
		char d[4200];
		snprintf(d, sizeof(d), "%s%s", o->repo, sub[i]);
		if (mkdir(d, 0750) != 0 && errno != EEXIST) {
			fprintf(stderr, "decpctl backup init: %s: %s\n", d, strerror(errno));
			return CTL_EXIT_FAIL;
		}
		if (geteuid() == 0 && chown(d, st.st_uid, st.st_gid) != 0) {
			fprintf(stderr, "decpctl backup init: chown %s: %s\n", d, strerror(errno));
			return CTL_EXIT_FAIL;
		}
	}
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", o->config);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	if (fd < 0 || write(fd, text, (size_t)n) != n || fsync(fd) != 0 ||
	    (geteuid() == 0 && fchown(fd, 0, st.st_gid) != 0) || close(fd) != 0 ||
	    rename(tmp, o->config) != 0) {
		fprintf(stderr, "decpctl backup init: %s: %s\n", o->config, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
		return CTL_EXIT_FAIL;
	}
	/* archive_timeout: WAL is archived when a 16 MB segment fills; without a timeout a quiet
	 * database's last commits (a deposit, a fee) can wait in the unfilled segment for hours,
	 * and a lost data directory loses them: the seed's RPO is under a minute. */
	printf("wrote %s\n"
	       "PostgreSQL needs (postgresql.conf, then a restart):\n"
	       "  archive_mode = on\n"
	       "  archive_command = 'pgbackrest --config=%s --stanza=%s archive-push %%p'\n"
	       "  archive_timeout = 30   # archive the current WAL segment at least every 30 s "
	       "(else a quiet database's last changes wait in it, and a lost disk loses them)\n",
	       o->config, o->config, o->stanza);
	const char *create[] = {"stanza-create", NULL};
	if (pgbackrest(o, o->pgdata, NULL, create) != 0) {
		fprintf(stderr, "decpctl backup init: stanza-create failed (is PostgreSQL running "
				"on port %ld, socket %s?)\n", o->port, o->socket);
		return CTL_EXIT_FAIL;
	}
	const char *check[] = {"check", NULL};
	if (pgbackrest(o, o->pgdata, NULL, check) != 0) {
		fprintf(stderr, "decpctl backup init: the stanza exists but WAL archiving does not "
				"work yet: set the lines above and restart PostgreSQL, then run "
				"init again\n");
		return CTL_EXIT_FAIL;
	}
	printf("stanza %s ready: WAL archiving checked\n", o->stanza);
	return CTL_EXIT_OK;
}

static int need_config(const struct opts *o, char *pgdata, size_t len)
{
	int rc = config_value(o->config, "pg1-path", pgdata, len);
	if (rc == 0)
		return 0;
	fprintf(stderr, "decpctl backup: %s: %s (run 'decpctl backup init' first)\n", o->config,
		rc == -ENOENT ? "no pg1-path in it" : strerror(-rc));
	return CTL_EXIT_FAIL;
}

static int cmd_backup(const struct opts *o, const char *type)
{
	char pgdata[4096];
	int rc = need_config(o, pgdata, sizeof(pgdata));
	if (rc != 0)
		return rc;
	char t[32];
	snprintf(t, sizeof(t), "--type=%s", type);
	const char *args[] = {t, "backup", NULL};
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (pgbackrest(o, pgdata, NULL, args) != 0) {
		fprintf(stderr, "decpctl backup %s: pgBackRest failed (log: its log-path)\n", type);
		return CTL_EXIT_FAIL;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%s backup done in %.1f s\n", type,
	       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	return CTL_EXIT_OK;
}

/* pgBackRest's info for the stanza (the first element of `info --output=json`), or NULL
 * (a message printed). *root is to be json_decref'd. */
static json_t *stanza_info(const struct opts *o, const char *pgdata, const char *who,
			   json_t **root)
{
	char *out = NULL;
	const char *args[] = {"--output=json", "info", NULL};
	*root = NULL;
	if (pgbackrest(o, pgdata, &out, args) != 0 || out == NULL) {
		free(out);
		fprintf(stderr, "decpctl backup %s: pgBackRest info failed\n", who);
		return NULL;
	}
	json_error_t je;
	*root = json_loads(out, 0, &je);
	free(out);
	json_t *st = json_array_get(*root, 0);
	if (!json_is_array(json_object_get(st, "backup"))) {
		fprintf(stderr, "decpctl backup %s: unexpected pgBackRest output\n", who);
		json_decref(*root);
		*root = NULL;
		return NULL;
	}
	return st;
}

/* The timeline of a WAL file name (its first 8 hex digits), or 0 when it is not one. */
static unsigned long wal_timeline(const char *wal)
{
	if (wal == NULL || strlen(wal) < 24 || strspn(wal, "0123456789ABCDEF") < 24)
		return 0;
	char tl[9];
	memcpy(tl, wal, 8);
	tl[8] = '\0';
	return strtoul(tl, NULL, 16);
}

/* The timelines the WAL archive holds: the lowest and highest timeline of the WAL names
 * pgBackRest reports and of the history files in the repository (every archive id: after a
 * stanza-upgrade there are several). A new timeline's history file is archived when it
 * begins, its first WAL only when a segment fills (archive_timeout): from WAL names alone a
 * restore just made would not count. The history files are read directly (root or the
 * repository's owner); when they cannot be, the WAL names alone decide. min and max are 0
 * when the archive is empty; archive_id is the entry holding max ("15-1"). */
struct timelines {
	unsigned long min, max;
	char archive_id[64];
};

/* The highest timeline with a history file ("0000000N.history") in archive ID's directory,
 * or 0 (none, or not readable). */
static unsigned long history_max(const struct opts *o, const char *id)
{
	char repo[4096], path[4400];
	if (id == NULL || id[0] == '\0' || strchr(id, '/') != NULL ||
	    config_value(o->config, "repo1-path", repo, sizeof(repo)) != 0)
		return 0;
	snprintf(path, sizeof(path), "%s/archive/%s/%s", repo, o->stanza, id);
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;
	unsigned long max = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strlen(e->d_name) != 16 || strspn(e->d_name, "0123456789ABCDEF") != 8 ||
		    strcmp(e->d_name + 8, ".history") != 0)
			continue;
		unsigned long t = strtoul(e->d_name, NULL, 16);
		if (t > max)
			max = t;
	}
	closedir(d);
	return max;
}

static void timelines_of(const struct opts *o, json_t *st, struct timelines *tl)
{
	memset(tl, 0, sizeof(*tl));
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(st, "archive"), i, a) {
		const char *id = json_string_value(json_object_get(a, "id"));
		unsigned long lo = wal_timeline(json_string_value(json_object_get(a, "min")));
		unsigned long hi = wal_timeline(json_string_value(json_object_get(a, "max")));
		unsigned long h = history_max(o, id);
		if (h > hi)
			hi = h;
		if (lo != 0 && (tl->min == 0 || lo < tl->min))
			tl->min = lo;
		if (hi > tl->max) {
			tl->max = hi;
			snprintf(tl->archive_id, sizeof(tl->archive_id), "%s", id ?: "");
		}
	}
	if (tl->min == 0 && tl->max != 0)
		tl->min = 1; /* history files only: the first timeline is 1 */
}

/* An LSN "X/Y" (hex) as a number; false when s is not one. */
static bool parse_lsn(const char *s, uint64_t *out)
{
	char *end;
	if (s == NULL || strspn(s, "0123456789ABCDEFabcdef") == 0)
		return false;
	unsigned long long hi = strtoull(s, &end, 16);
	if (*end != '/' || strspn(end + 1, "0123456789ABCDEFabcdef") == 0)
		return false;
	unsigned long long lo = strtoull(end + 1, &end, 16);
	if (*end != '\0' || hi > 0xffffffffULL || lo > 0xffffffffULL)
		return false;
	*out = (uint64_t)hi << 32 | lo;
	return true;
}

/* Timeline T's history: one entry per ancestor, oldest first, each the ancestor's id, the
 * LSN at which it ended (its child began there) and why (PostgreSQL's timeline.c writes
 * "PARENT<tab>LSN<tab>REASON" lines; REASON: "before 2026-12-06 19:10:00+00" for a restore
 * to a time). pgBackRest stores the file uncompressed next to the WAL. */
#define TL_HIST_MAX 64
struct tl_hist {
	size_t n;
	struct {
		unsigned long tli;
		uint64_t end;
		char lsn[24], reason[256];
	} e[TL_HIST_MAX];
};

/* Read timeline T's history file from the repository into h: 0, or -ENOENT when there is
 * none or it cannot be read (not run as root or the repository's owner). Timeline 1 has
 * none (h->n is 0). */
static int timeline_history(const struct opts *o, const struct timelines *tl, unsigned long t,
			    struct tl_hist *h)
{
	char repo[4096], path[4400], line[1024];
	h->n = 0;
	if (t <= 1)
		return 0;
	if (config_value(o->config, "repo1-path", repo, sizeof(repo)) != 0 ||
	    tl->archive_id[0] == '\0')
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/archive/%s/%s/%08lX.history", repo, o->stanza,
		 tl->archive_id, t);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -ENOENT;
	while (h->n < TL_HIST_MAX && fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, "\n")] = '\0';
		char *lsn = strchr(line, '\t');
		if (lsn == NULL)
			continue;
		*lsn++ = '\0';
		char *reason = strchr(lsn, '\t');
		if (reason != NULL)
			*reason++ = '\0';
		uint64_t end;
		if (!parse_lsn(lsn, &end))
			continue;
		h->e[h->n].tli = strtoul(line, NULL, 10);
		h->e[h->n].end = end;
		snprintf(h->e[h->n].lsn, sizeof(h->e[h->n].lsn), "%s", lsn);
		snprintf(h->e[h->n].reason, sizeof(h->e[h->n].reason), "%s", reason ?: "");
		h->n++;
	}
	fclose(f);
	return h->n > 0 ? 0 : -ENOENT;
}

/* Where timeline T began, from its history file: "began from timeline P at LSN, REASON",
 * "" when the file cannot be read; the refusal does not depend on it. */
static void timeline_origin(const struct opts *o, const struct timelines *tl, unsigned long t,
			    char *out, size_t len)
{
	struct tl_hist h;
	out[0] = '\0';
	if (timeline_history(o, tl, t, &h) != 0 || h.n == 0)
		return;
	const char *reason = h.e[h.n - 1].reason;
	snprintf(out, len, "began from timeline %lu at %s%s%s", h.e[h.n - 1].tli,
		 h.e[h.n - 1].lsn, reason[0] ? ", recovery stopped " : "", reason);
}

static void fmt_time(json_int_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S+00", &tm);
}

static int cmd_list(const struct opts *o)
{
	char pgdata[4096];
	int rc = need_config(o, pgdata, sizeof(pgdata));
	if (rc != 0)
		return rc;
	if (o->json) {
		const char *args[] = {"--output=json", "info", NULL};
		if (pgbackrest(o, pgdata, NULL, args) != 0) {
			fprintf(stderr, "decpctl backup list: pgBackRest info failed\n");
			return CTL_EXIT_FAIL;
		}
		return CTL_EXIT_OK;
	}
	json_t *j;
	json_t *st = stanza_info(o, pgdata, "list", &j);
	if (st == NULL)
		return CTL_EXIT_FAIL;
	json_t *backups = json_object_get(st, "backup");
	printf("%-36s %-5s %3s %-22s %-22s %12s\n", "LABEL", "TYPE", "TL", "START", "STOP",
	       "BYTES");
	size_t i;
	json_t *b;
	json_int_t first = 0;
	json_array_foreach(backups, i, b) {
		json_t *ts = json_object_get(b, "timestamp");
		json_int_t start = json_integer_value(json_object_get(ts, "start"));
		json_int_t stop = json_integer_value(json_object_get(ts, "stop"));
		char s1[32], s2[32];
		fmt_time(start, s1, sizeof(s1));
		fmt_time(stop, s2, sizeof(s2));
		if (i == 0)
			first = stop;
		printf("%-36s %-5s %3lu %-22s %-22s %12lld\n",
		       json_string_value(json_object_get(b, "label")) ?: "?",
		       json_string_value(json_object_get(b, "type")) ?: "?",
		       wal_timeline(json_string_value(json_object_get(
			       json_object_get(b, "archive"), "start"))), s1, s2,
		       (long long)json_integer_value(json_object_get(
			       json_object_get(b, "info"), "size")));
	}
	json_t *arch = json_array_get(json_object_get(st, "archive"), 0);
	const char *max = json_string_value(json_object_get(arch, "max"));
	char s1[32];
	fmt_time(first, s1, sizeof(s1));
	printf("%zu backup(s); a restore reaches any time from %s to the last archived WAL "
	       "(%s)\n", json_array_size(backups), json_array_size(backups) ? s1 : "-",
	       max ? max : "none");
	struct timelines tl;
	timelines_of(o, st, &tl);
	if (tl.max == 0)
		printf("WAL archive: empty\n");
	else if (tl.min == tl.max)
		printf("WAL archive: timeline %lu\n", tl.min);
	else {
		printf("WAL archive: timelines %lu to %lu (a restore to a time or a promotion began "
		       "each new one): restore --time needs --timeline N|latest\n", tl.min, tl.max);
		for (unsigned long t = tl.min + 1; t <= tl.max; t++) {
			char why[1200];
			timeline_origin(o, &tl, t, why, sizeof(why));
			if (why[0] != '\0')
				printf("  timeline %lu %s\n", t, why);
		}
	}
	json_decref(j);
	return CTL_EXIT_OK;
}

/* stanza_info for restore, and the archive's timelines into tl. */
static json_t *restore_info(const struct opts *o, const char *pgdata, json_t **root,
			    struct timelines *tl)
{
	json_t *st = stanza_info(o, pgdata, "restore", root);
	if (st != NULL)
		timelines_of(o, st, tl);
	return st;
}

/* --timeline N against the archive's timelines: CTL_EXIT_OK when it holds N, else
 * CTL_EXIT_USAGE with the timelines it holds. */
static int timeline_held(const struct timelines *tl, unsigned long want)
{
	if (want >= tl->min && want <= tl->max && tl->max != 0)
		return CTL_EXIT_OK;
	if (tl->min == tl->max)
		fprintf(stderr, "decpctl backup restore: --timeline %lu: the WAL archive holds "
				"timeline %lu only ('decpctl backup list'); nothing was changed\n",
			want, tl->min);
	else
		fprintf(stderr, "decpctl backup restore: --timeline %lu: the WAL archive holds "
				"timelines %lu to %lu ('decpctl backup list'); nothing was changed\n",
			want, tl->min, tl->max);
	return CTL_EXIT_USAGE;
}

/* Is backup b on timeline t's history, i.e. can recovery from it follow t? When it was
 * taken on t itself, or on an ancestor of t and ended (reached consistency) before that
 * ancestor's child began. A backup on another branch (a later restore's timeline) cannot:
 * PostgreSQL refuses to start ("requested timeline ... is not a child of this server's
 * history"). */
static bool backup_on_history(json_t *b, unsigned long t, const struct tl_hist *h)
{
	unsigned long bt = wal_timeline(json_string_value(json_object_get(
		json_object_get(b, "archive"), "start")));
	if (bt == t)
		return true;
	uint64_t stop;
	if (!parse_lsn(json_string_value(json_object_get(json_object_get(b, "lsn"), "stop")),
		       &stop))
		return false;
	for (size_t i = 0; i < h->n; i++)
		if (h->e[i].tli == bt)
			return stop <= h->e[i].end;
	return false;
}

/* restore --timeline N without --time (the end of timeline N), touching nothing: N must be
 * one the archive holds (else CTL_EXIT_USAGE); the label of the newest backup on N's
 * history into label (pgBackRest's --set; it would take the newest backup whatever its
 * timeline). CTL_EXIT_REFUSED when there is none (or N's history file cannot be read and
 * no backup was taken on N itself), CTL_EXIT_FAIL when pgBackRest's info cannot be read. */
static int check_timeline_end(const struct opts *o, const char *pgdata, char *label,
			      size_t len)
{
	json_t *j;
	struct timelines tl;
	json_t *st = restore_info(o, pgdata, &j, &tl);
	if (st == NULL)
		return CTL_EXIT_FAIL;
	unsigned long want = strtoul(o->timeline, NULL, 10);
	int rc = timeline_held(&tl, want);
	if (rc != CTL_EXIT_OK) {
		json_decref(j);
		return rc;
	}
	struct tl_hist *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		json_decref(j);
		return CTL_EXIT_FAIL;
	}
	bool history = timeline_history(o, &tl, want, h) == 0;
	size_t i;
	json_t *b;
	label[0] = '\0';
	json_array_foreach(json_object_get(st, "backup"), i, b)
		if (backup_on_history(b, want, h))
			snprintf(label, len, "%s", json_string_value(json_object_get(b, "label")) ?: "");
	free(h);
	json_decref(j);
	if (label[0] != '\0')
		return CTL_EXIT_OK;
	fprintf(stderr, "decpctl backup restore: REFUSED: no backup lies on timeline %lu's "
			"history (each was taken on another branch%s): nothing was changed; "
			"'decpctl backup list' shows the backups' timelines\n", want,
		history ? "" : ", or its history file could not be read: run as root");
	return CTL_EXIT_REFUSED;
}

/* restore --time against the WAL archive's timelines, touching nothing. --timeline N: N
 * must be one it holds (else CTL_EXIT_USAGE). No --timeline: CTL_EXIT_OK when it holds one
 * timeline (the time names one state), else refused with the timelines and what to pass.
 * CTL_EXIT_FAIL when pgBackRest's info cannot be read (no guess either way). */
static int check_time_target(const struct opts *o, const char *pgdata)
{
	json_t *j;
	struct timelines tl;
	json_t *st = restore_info(o, pgdata, &j, &tl);
	if (st == NULL)
		return CTL_EXIT_FAIL;
	if (o->timeline[0] != '\0') {
		json_decref(j);
		return timeline_held(&tl, strtoul(o->timeline, NULL, 10));
	}
	if (tl.min == tl.max) {
		json_decref(j);
		return CTL_EXIT_OK;
	}
	fprintf(stderr, "decpctl backup restore: REFUSED: the WAL archive holds timelines %lu to "
			"%lu: a restore to a time (or a promotion) began a new history, so %s may "
			"be on more than one and the state there differs. Nothing was changed; "
			"pass one of:\n", tl.min, tl.max, o->time);
	for (unsigned long t = tl.min; t <= tl.max; t++) {
		char why[1200] = "", next[96] = "";
		if (t > tl.min)
			timeline_origin(o, &tl, t, why, sizeof(why));
		if (t < tl.max)
			snprintf(next, sizeof(next), "the history before the restore that began "
				 "timeline %lu", t + 1);
		else
			snprintf(next, sizeof(next), "the newest history");
		fprintf(stderr, "  --timeline %-7lu %s%s%s\n", t, next, why[0] ? "; it " : "",
			why);
	}
	fprintf(stderr, "  --timeline latest  after it: follow the newest timeline (%lu), as a "
			"restore without --time does\n", tl.max);
	json_decref(j);
	return CTL_EXIT_REFUSED;
}

static int cmd_restore(const struct opts *o)
{
	char pgdata[4096];
	int rc = need_config(o, pgdata, sizeof(pgdata));
	if (rc != 0)
		return rc;
	if (!o->yes) {
		fprintf(stderr, "decpctl backup restore: REFUSED: this overwrites %s; add --yes\n",
			pgdata);
		return CTL_EXIT_REFUSED;
	}
	char pid[4200];
	snprintf(pid, sizeof(pid), "%s/postmaster.pid", pgdata);
	if (access(pid, F_OK) == 0) {
		fprintf(stderr, "decpctl backup restore: REFUSED: %s exists: stop PostgreSQL first "
				"(a crashed one leaves it too: remove it once no postgres runs)\n", pid);
		return CTL_EXIT_REFUSED;
	}
	/* A data directory that is gone (disk lost) is recreated for pgBackRest, owned like
	 * its parent. */
	struct stat st;
	bool created = false;
	if (stat(pgdata, &st) != 0) {
		char parent[4096];
		snprintf(parent, sizeof(parent), "%s", pgdata);
		char *slash = strrchr(parent, '/');
		struct stat ps;
		if (slash == NULL || slash == parent)
			return CTL_EXIT_FAIL;
		*slash = '\0';
		if (stat(parent, &ps) != 0 || mkdir(pgdata, 0700) != 0 ||
		    (geteuid() == 0 && chown(pgdata, ps.st_uid, ps.st_gid) != 0)) {
			fprintf(stderr, "decpctl backup restore: cannot recreate %s: %s\n", pgdata,
				strerror(errno));
			return CTL_EXIT_FAIL;
		}
		created = true;
	}
	/* --timeline N alone: the end of timeline N, from a backup on its history */
	bool tl_end = o->time == NULL && o->timeline[0] != '\0' &&
		      strcmp(o->timeline, "latest") != 0;
	char set[300] = "", label[256];
	if (o->time != NULL && strcmp(o->timeline, "latest") != 0)
		rc = check_time_target(o, pgdata);
	else if (tl_end)
		rc = check_timeline_end(o, pgdata, label, sizeof(label));
	if (rc != CTL_EXIT_OK) {
		if (created)
			rmdir(pgdata);
		return rc;
	}
	if (tl_end)
		snprintf(set, sizeof(set), "--set=%s", label);
	char target[256], tlarg[64];
	const char *args[10];
	size_t n = 0;
	args[n++] = "--delta";
	if (o->time != NULL) {
		snprintf(target, sizeof(target), "--target=%s", o->time);
		args[n++] = "--type=time";
		args[n++] = target;
		args[n++] = "--target-action=promote";
	} else {
		args[n++] = "--type=default";
	}
	if (set[0] != '\0')
		args[n++] = set;
	if (o->timeline[0] != '\0') {
		snprintf(tlarg, sizeof(tlarg), "--target-timeline=%s", o->timeline);
		args[n++] = tlarg;
	}
	args[n++] = "restore";
	args[n] = NULL;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (pgbackrest(o, pgdata, NULL, args) != 0) {
		fprintf(stderr, "decpctl backup restore: pgBackRest failed\n");
		return CTL_EXIT_FAIL;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	if (tl_end)
		printf("restored %s to the end of timeline %s (backup %s) in %.1f s: start "
		       "PostgreSQL; it replays timeline %s's WAL to its end, then opens on a new "
		       "timeline\n", pgdata, o->timeline, label, secs, o->timeline);
	else
		printf("restored %s%s%s%s%s in %.1f s: start PostgreSQL; it replays WAL %s, then "
		       "opens\n", pgdata, o->time ? " to " : "", o->time ? o->time : "",
		       o->timeline[0] ? " on timeline " : "", o->timeline, secs,
		       o->time ? "up to that time" : "to the end of the archive");
	return CTL_EXIT_OK;
}

int ctl_cmd_backup(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	const char *sub = argv[1];
	struct opts o;
	memset(&o, 0, sizeof(o));
	int rc = parse(argc - 1, argv + 1, &o);
	if (rc == -1)
		return CTL_EXIT_OK;
	if (rc != 0)
		return rc;
	if (optind != argc - 1)
		return ctl_usage_error(CMD, "unexpected argument '%s'", argv[1 + optind]);
	if (o.time != NULL && strcmp(sub, "restore") != 0)
		return ctl_usage_error(CMD, "--time is for restore");
	if (o.timeline[0] != '\0' && strcmp(sub, "restore") != 0)
		return ctl_usage_error(CMD, "--timeline is for restore");
	if (strcmp(sub, "init") == 0)
		return cmd_init(&o);
	if (strcmp(sub, "full") == 0)
		return cmd_backup(&o, "full");
	if (strcmp(sub, "incr") == 0)
		return cmd_backup(&o, "incr");
	if (strcmp(sub, "list") == 0)
		return cmd_list(&o);
	if (strcmp(sub, "restore") == 0)
		return cmd_restore(&o);
	return ctl_usage_error(CMD, "unknown subcommand '%s' (init, full, incr, list, restore)", sub);
}
