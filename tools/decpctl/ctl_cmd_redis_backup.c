/*
 * decpctl redis backup | restore: Redis snapshots for the seed's "AOF persistence + daily
 * RDB snapshots" (docs/operations.md "Redis backups"; issue 22 item 4).
 *
 * backup   BGSAVE, wait for it, and copy the RDB into a new directory
 *          <to>/redis-YYYYMMDDTHHMMSSZ/ (a cluster node's: ...Z-<its id's first 12
 *          characters>/, so that every primary's backups can share one --to) with a MANIFEST: the file's size and SHA-256, the
 *          Redis version, the time, and each decp signal stream's last entry ID (where a
 *          restore from this backup ends; `decpctl redis rebuild` appends the rest from
 *          PostgreSQL). The RDB is a consistent point in time; the live AOF is not copied
 *          (a copy taken while Redis appends can end mid-command) — its durability is the
 *          redundant disk it lives on.
 * restore  Redis stopped (refused while it answers): verify the backup, move the data
 *          directory's appendonlydir and RDB aside (never deleted), and install the RDB as
 *          the base of a new AOF directory (manifest "file appendonly.aof.1.base.rdb seq 1
 *          type b"), which Redis 7 with appendonly yes loads (a bare dump.rdb is ignored
 *          when appendonly is on). Then start Redis, `decpctl redis check`, `rebuild --yes`.
 *
 * Both run on the Redis host (the files are Redis's).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>

#include "cp_tier.h"
#include "ctl_cmd.h"

#define BGSAVE_WAIT_S 600

struct ropts {
	char host[256];
	int port;
	const char *to, *from, *data_dir;
	bool yes;
	long keep; /* backup: complete backups kept in --to (0: all) */
};

static int parse(int argc, char **argv, struct ropts *o, const char *sub)
{
	static const struct option lo[] = {
		{"redis", required_argument, NULL, 'r'}, {"to", required_argument, NULL, 't'},
		{"from", required_argument, NULL, 'f'},  {"data-dir", required_argument, NULL, 'd'},
		{"yes", no_argument, NULL, 'y'},         {"help", no_argument, NULL, 'h'},
		{"root", required_argument, NULL, 'R'},  {"redis-nodes", required_argument, NULL, 'N'},
		{"keep", required_argument, NULL, 'k'},
		{NULL, 0, NULL, 0},
	};
	ctl_redis_addr_default(o->host, sizeof(o->host), &o->port);
	o->keep = 14;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (ctl_redis_addr(optarg, o->host, sizeof(o->host), &o->port) != 0)
				return ctl_usage_error("redis", "--redis: expected HOST:PORT, got '%s'",
						       optarg);
			break;
		case 't': o->to = optarg; break;
		case 'f': o->from = optarg; break;
		case 'd': o->data_dir = optarg; break;
		case 'y': o->yes = true; break;
		case 'k':
			if (ctl_parse_long("redis", "--keep", optarg, 0, 100000, &o->keep))
				return CTL_EXIT_USAGE;
			break;
		case 'R': break;
		case 'N':
			return ctl_usage_error("redis", "%s works on one server's files, on its host: on "
					       "a cluster run it for each primary with --redis HOST:PORT",
					       sub);
		case 'h': ctl_redis_usage(stdout); return -1;
		default:
			return ctl_option_error("redis", argv, optopt);
		}
	}
	if (optind < argc)
		return ctl_usage_error("redis", "unexpected argument '%s'", argv[optind]);
	if (strcmp(sub, "backup") == 0 && (o->to == NULL || o->to[0] != '/'))
		return ctl_usage_error("redis", "backup needs --to DIR (absolute)");
	if (strcmp(sub, "restore") == 0 &&
	    (o->from == NULL || o->data_dir == NULL || o->data_dir[0] != '/'))
		return ctl_usage_error("redis", "restore needs --from BACKUP and --data-dir DIR "
				       "(absolute)");
	return 0;
}

static redisReply *cmd(redisContext *rd, const char *fmt, const char *arg)
{
	return arg ? redisCommand(rd, fmt, arg) : redisCommand(rd, fmt);
}

/* CONFIG GET name -> value. */
static int config_get(redisContext *rd, const char *name, char *out, size_t len)
{
	redisReply *r = cmd(rd, "CONFIG GET %s", name);
	int rc = -EIO;
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING) {
		snprintf(out, len, "%s", r->element[1]->str);
		rc = 0;
	}
	freeReplyObject(r);
	return rc;
}

static long long info_field(redisContext *rd, const char *field)
{
	redisReply *r = redisCommand(rd, "INFO persistence");
	long long v = -1;
	if (r != NULL && r->type == REDIS_REPLY_STRING) {
		const char *p = strstr(r->str, field);
		if (p != NULL && p[strlen(field)] == ':')
			v = atoll(p + strlen(field) + 1);
	}
	freeReplyObject(r);
	return v;
}

/* Every decp signal stream of this server (SCAN and XINFO answer for a node's own keys:
 * on a cluster, back up each primary) as "stream KEY last ID" lines, however many, into
 * *out (malloc'd). 0, or -1 when SCAN failed. */
static int stream_ends(redisContext *rd, char **out)
{
	size_t len = 0;
	FILE *f = open_memstream(out, &len);
	unsigned long long cursor = 0;
	bool ok = f != NULL;

	while (ok) {
		char cur[32];
		snprintf(cur, sizeof(cur), "%llu", cursor);
		redisReply *r = redisCommand(rd, "SCAN %s MATCH decp:{m*}:signals COUNT 1000", cur);
		ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		     r->element[0]->type == REDIS_REPLY_STRING;
		cursor = ok ? strtoull(r->element[0]->str, NULL, 10) : 0;
		for (size_t i = 0; ok && i < r->element[1]->elements; i++) {
			const char *key = r->element[1]->element[i]->str;
			redisReply *x = redisCommand(rd, "XINFO STREAM %s", key);
			const char *last = "?";
			for (size_t k = 0; x && x->type == REDIS_REPLY_ARRAY && k + 1 < x->elements; k += 2)
				if (strcmp(x->element[k]->str, "last-generated-id") == 0)
					last = x->element[k + 1]->str;
			fprintf(f, "stream %s last %s\n", key, last);
			freeReplyObject(x);
		}
		freeReplyObject(r);
		if (cursor == 0)
			break;
	}
	if (f != NULL && fclose(f) != 0)
		ok = false;
	if (!ok) {
		free(*out);
		*out = NULL;
	}
	return ok ? 0 : -1;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The cluster node a backup's MANIFEST names (cluster_node <id>) into node ("" for a
 * standalone Redis's). Returns 0, -1 when the MANIFEST cannot be read. */
static int manifest_node(const char *path, char *node, size_t cap)
{
	char line[256];
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	node[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "cluster_node ", 13) == 0) {
			size_t n = strcspn(line + 13, "\n");

			if (n >= cap)
				n = cap - 1; /* a node id is 40 characters */
			memcpy(node, line + 13, n);
			node[n] = '\0';
			break;
		}
	fclose(f);
	return 0;
}

/* A backup directory's name: redis-YYYYMMDDTHHMMSSZ, or with -<12 characters> after it. */
static bool backup_name(const char *n)
{
	size_t len = strlen(n);

	return strncmp(n, "redis-", 6) == 0 && (len == 22 || (len == 35 && n[22] == '-')) &&
	       n[14] == 'T' && n[21] == 'Z';
}

/* Keeps the newest keep complete backups of this node (node: its cluster id, "" for a
 * standalone Redis; the MANIFEST says whose a backup is) in dir (redis-<UTC time>[-<id>]
 * with a MANIFEST, which is written last: a backup cut short is never counted nor
 * removed), removes its older ones: the daily timer (docs/deploy) would otherwise fill the
 * Redis host's disk, where the AOF lives. Other nodes' backups in a shared dir are theirs
 * to prune. keep 0: all kept. Returns CTL_EXIT_OK or CTL_EXIT_FAIL. */
static int prune(const char *dir, long keep, const char *node)
{
	char whose[64];
	char **names = NULL, path[4200];
	size_t n = 0, cap = 0;
	int rc = CTL_EXIT_OK;
	DIR *d;
	struct dirent *e;
	struct stat st;

	if (keep == 0 || (d = opendir(dir)) == NULL)
		return keep == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
	while ((e = readdir(d)) != NULL) {
		if (!backup_name(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s/MANIFEST", dir, e->d_name);
		if (stat(path, &st) != 0 || manifest_node(path, whose, sizeof(whose)) != 0 ||
		    strcmp(whose, node) != 0)
			continue;
		if (n == cap) {
			char **m = realloc(names, sizeof(*names) * (cap = cap ? 2 * cap : 32));
			if (m == NULL) {
				rc = CTL_EXIT_FAIL;
				break;
			}
			names = m;
		}
		if ((names[n] = strdup(e->d_name)) == NULL) {
			rc = CTL_EXIT_FAIL;
			break;
		}
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp); /* the UTC time in the name: oldest first */
	for (size_t i = 0; rc == CTL_EXIT_OK && n > (size_t)keep && i < n - (size_t)keep; i++) {
		static const char *const files[] = {"dump.rdb", "MANIFEST"};
		for (size_t k = 0; k < 2; k++) {
			snprintf(path, sizeof(path), "%s/%s/%s", dir, names[i], files[k]);
			if (unlink(path) != 0 && errno != ENOENT)
				rc = CTL_EXIT_FAIL;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (rc == CTL_EXIT_OK && rmdir(path) != 0)
			rc = CTL_EXIT_FAIL;
		if (rc == CTL_EXIT_OK)
			printf("pruned %s (keeping the newest %ld)\n", path, keep);
		else
			fprintf(stderr, "decpctl redis backup: cannot prune %s: %s\n", path,
				strerror(errno));
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static int snapshot(redisContext *rd, const struct ropts *o, const char *dir, const char *dbfile,
		    const char *version, const char *node, const char *ends);

int ctl_redis_backup(int argc, char **argv)
{
	struct ropts o = {0};
	int rc = parse(argc, argv, &o, "backup");
	if (rc != 0)
		return rc < 0 ? CTL_EXIT_OK : rc;
	struct timeval tv = {10, 0};
	redisContext *rd = redisConnectWithTimeout(o.host, o.port, tv);
	if (rd == NULL || rd->err) {
		fprintf(stderr, "decpctl redis backup: Redis %s:%d: %s\n", o.host, o.port,
			rd ? rd->errstr : "out of memory");
		redisFree(rd);
		return CTL_EXIT_FAIL;
	}
	redisSetTimeout(rd, tv);
	char dir[2048], dbfile[256], version[64] = "?";
	if (config_get(rd, "dir", dir, sizeof(dir)) != 0 ||
	    config_get(rd, "dbfilename", dbfile, sizeof(dbfile)) != 0) {
		fprintf(stderr, "decpctl redis backup: CONFIG GET dir/dbfilename refused\n");
		redisFree(rd);
		return CTL_EXIT_FAIL;
	}
	redisReply *r = redisCommand(rd, "INFO server");
	if (r != NULL && r->type == REDIS_REPLY_STRING) {
		const char *p = strstr(r->str, "redis_version:");
		if (p != NULL)
			sscanf(p + 14, "%63[^\r\n]", version);
	}
	freeReplyObject(r);

	/* The streams' ends before the snapshot: the RDB holds at least these. */
	char *ends = NULL;
	if (stream_ends(rd, &ends) != 0) {
		fprintf(stderr, "decpctl redis backup: SCAN of the signal streams failed%s%s\n",
			rd->errstr[0] ? ": " : "", rd->errstr);
		redisFree(rd);
		return CTL_EXIT_FAIL;
	}
	/* a cluster node: which one (its slots' keys are what this backup holds) */
	char node[64] = "";
	r = redisCommand(rd, "CLUSTER MYID");
	if (r != NULL && r->type == REDIS_REPLY_STRING)
		snprintf(node, sizeof(node), "%s", r->str);
	freeReplyObject(r);
	rc = snapshot(rd, &o, dir, dbfile, version, node, ends);
	free(ends);
	return rc;
}

/* BGSAVE, wait for it, copy the RDB and write the MANIFEST (node: the cluster node's id or
 * ""; ends: its stream lines). Frees rd. An exit status. */
static int snapshot(redisContext *rd, const struct ropts *o, const char *dir, const char *dbfile,
		    const char *version, const char *node, const char *ends)
{
	redisReply *r;
	int rc;
	long long before = info_field(rd, "rdb_last_save_time");
	r = redisCommand(rd, "BGSAVE");
	bool started = r != NULL && r->type == REDIS_REPLY_STATUS;
	if (!started && r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strstr(r->str, "in progress") != NULL)
		started = true; /* one is running: wait for it, then take ours */
	freeReplyObject(r);
	if (!started) {
		fprintf(stderr, "decpctl redis backup: BGSAVE refused\n");
		redisFree(rd);
		return CTL_EXIT_FAIL;
	}
	time_t t0 = time(NULL);
	long long saved = before;
	for (;;) {
		saved = info_field(rd, "rdb_last_save_time");
		long long busy = info_field(rd, "rdb_bgsave_in_progress");
		if (busy == 0 && saved > before)
			break;
		if (busy == 0 && saved == before) {
			/* The running save finished before ours could start: start ours now. */
			r = redisCommand(rd, "BGSAVE");
			freeReplyObject(r);
		}
		if (time(NULL) - t0 > BGSAVE_WAIT_S) {
			fprintf(stderr, "decpctl redis backup: BGSAVE not done after %d s\n",
				BGSAVE_WAIT_S);
			redisFree(rd);
			return CTL_EXIT_FAIL;
		}
		usleep(50 * 1000);
	}
	redisReply *st = redisCommand(rd, "INFO persistence");
	bool okst = st != NULL && st->type == REDIS_REPLY_STRING &&
		    strstr(st->str, "rdb_last_bgsave_status:ok") != NULL;
	freeReplyObject(st);
	redisFree(rd);
	if (!okst) {
		fprintf(stderr, "decpctl redis backup: BGSAVE failed (see Redis's log)\n");
		return CTL_EXIT_FAIL;
	}

	char stamp[32], out[4096], src[4096], dst[4200], man[4200];
	/* The RDB is read from this host's file system under the name Redis gave: run away
	 * from the Redis host, that name may hold another (an old) RDB. The BGSAVE just done
	 * wrote it at `saved` (Redis's clock, whole seconds): an older file is not this save. */
	struct stat sst;
	snprintf(src, sizeof(src), "%s/%s", dir, dbfile);
	int se = stat(src, &sst) != 0 ? errno : 0;
	if (se != 0 && se != ENOENT) {
		fprintf(stderr, "decpctl redis backup: %s: %s\n", src, strerror(se));
		return CTL_EXIT_FAIL;
	}
	if (se == ENOENT || (long long)sst.st_mtime < saved - 2) {
		fprintf(stderr,
			"decpctl redis backup: %s is not the RDB Redis just saved (%s): run the "
			"backup on the Redis host (docs/operations.md \"Redis backups\")\n",
			src, se == ENOENT ? "no such file here" : "written before it");
		return CTL_EXIT_FAIL;
	}
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, sizeof(out), "%s/redis-%s%s%.12s", o->to, stamp, node[0] ? "-" : "", node);
	if ((mkdir(o->to, 0750) != 0 && errno != EEXIST) || mkdir(out, 0750) != 0) {
		fprintf(stderr, "decpctl redis backup: %s: %s\n", out, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	snprintf(dst, sizeof(dst), "%s/dump.rdb", out);
	if ((rc = cp_tier_copy_file(src, dst)) != 0) {
		fprintf(stderr, "decpctl redis backup: %s -> %s: %s\n", src, dst, strerror(-rc));
		return CTL_EXIT_FAIL;
	}
	char sha[65];
	long long size;
	if ((rc = cp_tier_file_sha256(dst, sha, &size)) != 0) {
		fprintf(stderr, "decpctl redis backup: %s: %s\n", dst, strerror(-rc));
		return CTL_EXIT_FAIL;
	}
	snprintf(man, sizeof(man), "%s/MANIFEST", out);
	FILE *f = fopen(man, "w");
	if (f == NULL) {
		fprintf(stderr, "decpctl redis backup: %s: %s\n", man, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	fprintf(f, "format decp-redis-backup/1\nredis_version %s\nsaved_at %lld\n", version, saved);
	if (node[0] != '\0')
		fprintf(f, "cluster_node %s\n", node);
	fprintf(f, "file dump.rdb size %lld sha256 %s\n%s", size, sha, ends);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0) {
		fprintf(stderr, "decpctl redis backup: %s: %s\n", man, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	printf("%s: dump.rdb %lld bytes, sha256 %s (BGSAVE %ld s)\n%s", out, size, sha,
	       (long)(time(NULL) - t0), ends);
	return prune(o->to, o->keep, node);
}

/* A redis-server whose working directory is dir (Redis chdir()s into its `dir` at start):
 * its pid, its name in comm; 0 when none. The PING above only asks the address given, and
 * a Redis on another port, a unix socket only or another interface answers nothing there
 * while it appends to the AOF this restore would move aside (and rewrites it over the
 * restored one at its next BGREWRITEAOF). */
static long redis_in_dir(const char *dir, char *comm, size_t n)
{
	struct stat ds;
	if (stat(dir, &ds) != 0)
		return 0;
	DIR *d = opendir("/proc");
	if (d == NULL)
		return 0;
	long found = 0;
	struct dirent *e;
	while (found == 0 && (e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (pid <= 0 || *end != '\0' || pid == (long)getpid())
			continue;
		char p[64], name[64] = "";
		struct stat cs;
		snprintf(p, sizeof(p), "/proc/%ld/cwd", pid);
		if (stat(p, &cs) != 0 || cs.st_dev != ds.st_dev || cs.st_ino != ds.st_ino)
			continue;
		snprintf(p, sizeof(p), "/proc/%ld/comm", pid);
		FILE *f = fopen(p, "r");
		if (f == NULL)
			continue;
		if (fgets(name, sizeof(name), f) != NULL)
			name[strcspn(name, "\n")] = '\0';
		fclose(f);
		if (strncmp(name, "redis-server", 12) == 0) {
			found = pid;
			snprintf(comm, n, "%s", name);
		}
	}
	closedir(d);
	return found;
}

int ctl_redis_restore(int argc, char **argv)
{
	struct ropts o = {0};
	int rc = parse(argc, argv, &o, "restore");
	if (rc != 0)
		return rc < 0 ? CTL_EXIT_OK : rc;
	if (!o.yes) {
		fprintf(stderr, "decpctl redis restore: REFUSED: this replaces Redis's data in %s "
				"(moved aside, not deleted); stop Redis and decp-control, then add --yes\n",
			o.data_dir);
		return CTL_EXIT_REFUSED;
	}
	struct timeval tv = {1, 0};
	redisContext *rd = redisConnectWithTimeout(o.host, o.port, tv);
	bool running = rd != NULL && rd->err == 0;
	if (running) {
		redisReply *r = redisCommand(rd, "PING");
		running = r != NULL;
		freeReplyObject(r);
	}
	redisFree(rd);
	if (running) {
		fprintf(stderr, "decpctl redis restore: REFUSED: Redis answers on %s:%d: stop it "
				"first\n", o.host, o.port);
		return CTL_EXIT_REFUSED;
	}
	char comm[64];
	long live = redis_in_dir(o.data_dir, comm, sizeof(comm));
	if (live != 0) {
		fprintf(stderr, "decpctl redis restore: REFUSED: %s (pid %ld) runs in %s: stop it "
				"first (it did not answer on %s:%d: is --redis its address?)\n", comm,
			live, o.data_dir, o.host, o.port);
		return CTL_EXIT_REFUSED;
	}
	/* Verify the backup against its manifest. */
	char man[4200], rdb[4200], line[512], want[65] = "";
	long long want_size = -1;
	snprintf(man, sizeof(man), "%s/MANIFEST", o.from);
	snprintf(rdb, sizeof(rdb), "%s/dump.rdb", o.from);
	FILE *f = fopen(man, "r");
	if (f == NULL) {
		fprintf(stderr, "decpctl redis restore: %s: %s\n", man, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "file dump.rdb size %lld sha256 %64s", &want_size, want) == 2)
			break;
	fclose(f);
	char sha[65];
	long long size;
	if ((rc = cp_tier_file_sha256(rdb, sha, &size)) != 0) {
		fprintf(stderr, "decpctl redis restore: %s: %s\n", rdb, strerror(-rc));
		return CTL_EXIT_FAIL;
	}
	if (want_size < 0 || size != want_size || strcmp(sha, want) != 0) {
		fprintf(stderr, "decpctl redis restore: %s does not match its MANIFEST (sha256 %s, "
				"%lld bytes; manifest %s, %lld bytes): nothing changed\n", rdb, sha, size,
			want[0] ? want : "-", want_size);
		return CTL_EXIT_MISMATCH;
	}
	struct stat ds;
	if (stat(o.data_dir, &ds) != 0 || !S_ISDIR(ds.st_mode)) {
		fprintf(stderr, "decpctl redis restore: %s is not a directory\n", o.data_dir);
		return CTL_EXIT_FAIL;
	}
	/* Move the old data aside. */
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	const char *old[] = {"appendonlydir", "dump.rdb"};
	for (size_t i = 0; i < 2; i++) {
		char a[4200], b[4300];
		snprintf(a, sizeof(a), "%s/%s", o.data_dir, old[i]);
		snprintf(b, sizeof(b), "%s.before-restore-%s", a, stamp);
		if (access(a, F_OK) == 0 && rename(a, b) != 0) {
			fprintf(stderr, "decpctl redis restore: %s: %s\n", a, strerror(errno));
			return CTL_EXIT_FAIL;
		}
		if (access(b, F_OK) == 0)
			printf("moved %s aside to %s\n", a, b);
	}
	char aof[4200], base[4300], mf[4300];
	snprintf(aof, sizeof(aof), "%s/appendonlydir", o.data_dir);
	snprintf(base, sizeof(base), "%s/appendonly.aof.1.base.rdb", aof);
	snprintf(mf, sizeof(mf), "%s/appendonly.aof.manifest", aof);
	if (mkdir(aof, 0750) != 0 || (rc = cp_tier_copy_file(rdb, base)) != 0) {
		fprintf(stderr, "decpctl redis restore: %s: %s\n", aof,
			strerror(rc ? -rc : errno));
		return CTL_EXIT_FAIL;
	}
	f = fopen(mf, "w");
	if (f == NULL || fputs("file appendonly.aof.1.base.rdb seq 1 type b\n", f) < 0 ||
	    fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0) {
		fprintf(stderr, "decpctl redis restore: %s: %s\n", mf, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	/* Owned like the data directory (the redis user), when run as root. */
	if (geteuid() == 0 && (chown(aof, ds.st_uid, ds.st_gid) != 0 ||
			       chown(base, ds.st_uid, ds.st_gid) != 0 ||
			       chown(mf, ds.st_uid, ds.st_gid) != 0)) {
		fprintf(stderr, "decpctl redis restore: chown: %s\n", strerror(errno));
		return CTL_EXIT_FAIL;
	}
	printf("restored %s into %s (the base of a new AOF; start Redis with appendonly yes),\n"
	       "then: decpctl redis check; decpctl redis rebuild --yes (signals archived after "
	       "the backup)\n", o.from, aof);
	return CTL_EXIT_OK;
}
