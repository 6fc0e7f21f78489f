/*
 * decpctl redis: the Redis side of disaster recovery (docs/operations.md runbooks).
 *
 *   check    per master: the signals stream (first, last, length), the archive in
 *            PostgreSQL (highest sequence, rows) and the archiver group's pending entries.
 *            A stream whose last sequence is below the archive's highest has lost ACKed
 *            signals (Redis restored from an old copy, or empty): exit 1, "rebuild".
 *            Holes below the archive's highest (an asynchronous replica promoted: rows the
 *            old primary committed, the archiver XACKed, and never shipped): exit 1, the
 *            ranges, and whether the stream still holds them. --repair-holes rewinds the
 *            archiver's group to just before the first one the stream holds.
 *   rebuild  after Redis lost data: append to each master's stream, from signal_archive,
 *            every archived signal above the stream's last entry, with the same entry ID
 *            (<seq>-0) and fields (a b h s) the edge writes, so durable sequences, replay and
 *            the edge's duplicate check are right again. Contiguous only: at a hole in the
 *            archive it stops for that master and says so. Idempotent (a second run adds
 *            nothing). decp-control must be stopped meanwhile (its edge writes the same
 *            streams); --yes confirms that.
 *
 * On a Redis Cluster (--redis-nodes, or $DECP_REDIS_NODES) each master's commands go to the
 * primary serving its slot and decp:masters to its own (ctl_redis_route.h); a single Redis
 * is a map of one node, so both take the same path.
 *
 * Keys and fields: controlplane/common/cp_redis.h and docs/control.md "Redis key layout".
 */
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "cp_redis.h"
#include "cp_redis_rec.h"
#include "ctl_cmd.h"
#include "ctl_redis_route.h"

#define REBUILD_BATCH 1000
#define HOLES_SHOWN 5 /* ranges printed per master; the totals count them all */
#define REDIS_TIMEOUT_MS 5000

void ctl_redis_usage(FILE *f)
{
	fprintf(f,
		"usage: decpctl redis check [--master ID]... [--json] [--repair-holes]\n"
		"                           [--redis H:P | --redis-nodes H:P,...] [--conninfo STR]\n"
		"       decpctl redis rebuild [--master ID]... --yes [--redis H:P | --redis-nodes "
		"H:P,...]\n"
		"                           [--conninfo STR]\n"
		"       decpctl redis backup --to DIR [--keep N] [--redis H:P]\n"
		"       decpctl redis restore --from BACKUP --data-dir DIR --yes [--redis H:P]\n"
		"\n"
		"check    compare each master's Redis stream with its PostgreSQL archive; exit 1 when\n"
		"         a stream is behind the archive (ACKed signals missing from Redis), or\n"
		"         holds entries the archiver acknowledged that the archive lacks (after a\n"
		"         PostgreSQL restore to an earlier time: it names the rewind), or has\n"
		"         holes below its highest sequence (an asynchronous replica promoted):\n"
		"         it names them, and says LOST for those the stream no longer holds\n"
		"rebuild  append archived signals above each stream's last entry back into Redis\n"
		"         (after Redis lost data; stop decp-control first). Idempotent.\n"
		"backup   BGSAVE and copy the RDB into DIR/redis-<UTC time>/ with a MANIFEST (size,\n"
		"         SHA-256, each stream's last entry); run on the Redis host (a cluster:\n"
		"         on each primary's, --redis naming it: a node lists its own streams)\n"
		"restore  with Redis stopped: verify BACKUP, move DIR's appendonlydir and dump.rdb\n"
		"         aside, install the RDB as the base of a new AOF; then start Redis, check,\n"
		"         rebuild --yes. Exit 5 when BACKUP does not match its MANIFEST.\n"
		"\n"
		"  --master ID      only this master (repeatable; default: every master in the\n"
		"                   database)\n"
		"  --json           check: one JSON object\n"
		"  --repair-holes   check: for each master with holes the stream still holds, or\n"
		"                   entries its group acknowledged that the archive lacks (after a\n"
		"                   PostgreSQL restore to an earlier time), rewind the archiver\n"
		"                   group to just before the first of them (XGROUP SETID, never\n"
		"                   forward) so the archiver reads them again (it skips what it\n"
		"                   archived already); safe while it runs\n"
		"  --yes            rebuild: confirm that decp-control is stopped\n"
		"  --keep N         backup: keep the newest N complete backups in DIR, remove\n"
		"                   older ones (default 14; 0 = keep all)\n"
		"  --redis H:P      Redis address (default $DECP_REDIS_HOST:$DECP_REDIS_PORT, else\n"
		"                   127.0.0.1:6379)\n"
		"  --redis-nodes H:P,...  check/rebuild on a Redis Cluster: seed nodes (any of its\n"
		"                   nodes; default $DECP_REDIS_NODES when --redis is not given);\n"
		"                   each master's stream is read and written on the primary\n"
		"                   serving its slot\n"
		"  --conninfo STR   libpq connection string (default: $DECP_PG_CONNINFO)\n"
		"  --help           this text\n"
		"Exit: 0 done / all streams complete, 1 a stream is behind, the archive has a hole\n"
		"(also right after --repair-holes: check again once the archiver caught up), a\n"
		"rebuild stopped at a hole, a server failed, or a --master the database does not\n"
		"have, 2 usage, 3 rebuild without --yes.\n");
}

struct opts {
	bool check, json, yes, redis_given, repair;
	const char *conninfo;
	const char *nodes;           /* --redis-nodes: a cluster; NULL: one server */
	char host[256];
	int port;
	uint64_t *masters;
	size_t n_masters;
};

struct master_state {
	uint64_t id;
	uint64_t first, last, len;   /* stream (0 when empty) */
	uint64_t arch_max, arch_rows;
	long long pending;           /* archiver group, -1 when there is no group */
	uint64_t acked_from, acked_to; /* stream entries the group acknowledged that are not in
				      * the archive (after a PostgreSQL restore to an earlier
				      * time): the archiver never reads them again; 0 = none */
	uint64_t added;              /* rebuild */
	uint64_t hole_from, hole_to; /* rebuild stopped: archive lacks hole_from..hole_to */
	/* check: sequences missing between two rows of the archive, those on days moved to a
	 * tier left out (archive_holes) */
	uint64_t holes, missing;     /* ranges, sequences */
	uint64_t held;               /* of them, still in the stream (repairable) */
	uint64_t keyed;              /* of them, still in signal_archive_keys (never refilled) */
	uint64_t repair_from;        /* the first missing sequence the stream holds; 0 none */
	uint64_t hole[HOLES_SHOWN][2];
	size_t n_shown;
	char rewound[64];            /* --repair-holes: what happened, "" when not tried */
	uint64_t rewind_to;          /* --repair-holes: the group's target (rewind_target) */
	char node[300];              /* the Redis serving its stream, "host:port" */
};

int ctl_redis_addr(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL || colon == s || (size_t)(colon - s) >= hostlen)
		return -1;
	char *end = NULL;
	long p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	*port = (int)p;
	return 0;
}

void ctl_redis_addr_default(char *host, size_t hostlen, int *port)
{
	const char *h = getenv("DECP_REDIS_HOST"), *p = getenv("DECP_REDIS_PORT");
	snprintf(host, hostlen, "%s", h != NULL && *h ? h : "127.0.0.1");
	*port = p != NULL && atoi(p) > 0 ? atoi(p) : 6379;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"master", required_argument, NULL, 'm'}, {"json", no_argument, NULL, 'j'},
		{"yes", no_argument, NULL, 'y'},          {"redis", required_argument, NULL, 'r'},
		{"conninfo", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
		{"root", required_argument, NULL, 'R'},   {"redis-nodes", required_argument, NULL, 'N'},
		{"repair-holes", no_argument, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	ctl_redis_addr_default(o->host, sizeof(o->host), &o->port);
	o->conninfo = getenv("DECP_PG_CONNINFO");
	const char *env_nodes = getenv("DECP_REDIS_NODES");
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'm': {
			char *end = NULL;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v == 0 || optarg[0] == '-')
				return ctl_usage_error("redis", "--master: '%s' is not a master id", optarg);
			uint64_t *n = realloc(o->masters, (o->n_masters + 1) * sizeof(*n));
			if (n == NULL)
				return CTL_EXIT_FAIL;
			o->masters = n;
			o->masters[o->n_masters++] = v;
			break;
		}
		case 'j': o->json = true; break;
		case 'y': o->yes = true; break;
		case 'H': o->repair = true; break;
		case 'r':
			if (ctl_redis_addr(optarg, o->host, sizeof(o->host), &o->port) != 0)
				return ctl_usage_error("redis", "--redis: expected HOST:PORT, got '%s'", optarg);
			o->redis_given = true;
			break;
		case 'N':
			if (ctl_rd_nodes_parse(optarg) != 0)
				return ctl_usage_error("redis", "--redis-nodes: expected HOST:PORT[,HOST:PORT"
						       "...] (at most %d nodes), got '%s'",
						       CP_RCL_MAX_NODES, optarg);
			o->nodes = optarg;
			break;
		case 'c': o->conninfo = optarg; break;
		case 'R': break; /* accepted by every command; nothing here reads /proc or /sys */
		case 'h': ctl_redis_usage(stdout); return -1;
		default: return ctl_option_error("redis", argv, optopt);
		}
	}
	if (optind < argc)
		return ctl_usage_error("redis", "unexpected argument '%s'", argv[optind]);
	if (o->nodes != NULL && o->redis_given)
		return ctl_usage_error("redis", "--redis (one server) and --redis-nodes (a cluster) "
				       "exclude each other");
	/* the environment's cluster unless a server was named on the command line */
	if (o->nodes == NULL && !o->redis_given && env_nodes != NULL && env_nodes[0] != '\0') {
		if (ctl_rd_nodes_parse(env_nodes) != 0)
			return ctl_usage_error("redis", "DECP_REDIS_NODES: expected HOST:PORT[,HOST:"
					       "PORT...], got '%s'", env_nodes);
		o->nodes = env_nodes;
	}
	if (o->conninfo == NULL || o->conninfo[0] == '\0')
		return ctl_usage_error("redis", "no database: give --conninfo or set DECP_PG_CONNINFO");
	return 0;
}

static uint64_t id_seq(const char *id)
{
	return strtoull(id, NULL, 10); /* "<seq>-0" */
}

/* The masters to look at: --master, else every row of `masters`. A --master the database
 * does not have is refused (-1, named): its "ok" (an empty stream against an empty
 * archive) would pass a mistyped id as checked, and rebuild would add it to decp:masters. */
static int load_masters(PGconn *pg, struct opts *o)
{
	if (o->n_masters > 0) {
		int unknown = 0;
		for (size_t i = 0; i < o->n_masters; i++) {
			char id[24];
			snprintf(id, sizeof(id), "%" PRIu64, o->masters[i]);
			const char *v[] = {id};
			PGresult *r = PQexecParams(pg, "SELECT 1 FROM masters WHERE id = $1::numeric",
						   1, NULL, v, NULL, NULL, 0);
			if (PQresultStatus(r) != PGRES_TUPLES_OK) {
				fprintf(stderr, "decpctl redis: reading masters: %s",
					PQresultErrorMessage(r));
				PQclear(r);
				return -1;
			}
			if (PQntuples(r) == 0) {
				fprintf(stderr, "decpctl redis: --master %s: no such master in the "
					"database ('decpctl master list'); nothing was checked or "
					"written\n", id);
				unknown++;
			}
			PQclear(r);
		}
		return unknown > 0 ? -1 : 0;
	}
	PGresult *r = PQexec(pg, "SELECT id FROM masters ORDER BY id");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "decpctl redis: reading masters: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	int n = PQntuples(r);
	o->masters = calloc((size_t)n + 1, sizeof(*o->masters));
	if (o->masters == NULL) {
		PQclear(r);
		return -1;
	}
	for (int i = 0; i < n; i++)
		o->masters[o->n_masters++] = strtoull(PQgetvalue(r, i, 0), NULL, 10);
	PQclear(r);
	return 0;
}

/* A command on master m's key failed: say so, naming the master and what to do. */
static void redis_failed(const struct master_state *m, int rc, const char *why)
{
	fprintf(stderr, "decpctl redis: master %" PRIu64 ": %s\n", m->id, why);
	if (rc == -EAGAIN)
		fprintf(stderr, "decpctl redis: master %" PRIu64 "'s slot is being resharded: "
			"nothing was concluded for it; run again when the resharding is done\n",
			m->id);
}

/* One query with master m's parameters v[0..n) (text; results binary when asked): its
 * rows, or NULL after saying "<what> of master <id>: <error>". */
static PGresult *master_query(PGconn *pg, const struct master_state *m, const char *what,
			      const char *sql, int n, const char *const *v, int binary)
{
	PGresult *r = PQexecParams(pg, sql, n, NULL, v, NULL, NULL, binary);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	fprintf(stderr, "decpctl redis: %s of master %" PRIu64 ": %s", what, m->id,
		PQresultErrorMessage(r));
	PQclear(r);
	return NULL;
}

/* Did stream entry seq of key arrive on a day moved out of signal_archive to the warm or
 * cold tier (archive_catalog)? The hot archive's max then says nothing of it: a master idle
 * for longer than the hot window has no hot row and a stream of acknowledged entries. */
static bool in_archived_day(struct ctl_rd *rd, PGconn *pg, const char *key, uint64_t seq)
{
	PGresult *r = PQexec(pg, "SELECT extract(epoch FROM max(day) + 1)::bigint FROM "
			     "archive_catalog WHERE parent = 'signal_archive'");
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		  !PQgetisnull(r, 0, 0);
	int64_t end_s = ok ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
	PQclear(r);
	if (!ok)
		return false;
	char id[32], why[512];
	snprintf(id, sizeof(id), "%" PRIu64 "-0", seq);
	const char *c[] = {"XRANGE", key, id, id};
	const struct ctl_rd_cmd cmd = {4, c, NULL};
	redisReply *rep;
	struct cp_rec rec;
	bool old = false;
	if (ctl_rd_run(rd, key, 1, &cmd, &rep, why, sizeof(why)) != 0)
		return false;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
	    rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2 &&
	    cp_rec_from_fields(rep->element[0]->element[1], &rec))
		old = rec.arrival_ns / 1000000000 < end_s;
	freeReplyObject(rep);
	return old;
}

/*
 * The holes of master m's archive: sequences missing between two of its rows, in one
 * ordered pass over its rows (each partition's primary key index, merged; called only when
 * the row count says there is a gap). A gap whose bounding rows arrived on days around one
 * moved out to the warm or cold tier (archive_catalog, sql 0015: whole days past the hot
 * window, exported then dropped) is not a hole: its rows were moved, not lost. Below the
 * lowest hot row nothing is looked at (days tiered out, or before the master began).
 * Fills m's totals, the first HOLES_SHOWN ranges, how many of the missing sequences the
 * stream still holds (it holds m->first..m->last: trimmed from the front only), and the
 * first of those. Returns 0 or -1 (said why).
 */
static int archive_holes(PGconn *pg, struct master_state *m)
{
	char ids[24], first[24], last[24], lim[8];
	snprintf(ids, sizeof(ids), "%" PRIu64, m->id);
	snprintf(first, sizeof(first), "%" PRIu64, m->first);
	snprintf(last, sizeof(last), "%" PRIu64, m->last);
	snprintf(lim, sizeof(lim), "%d", HOLES_SHOWN);
	const char *v[] = {ids, first, last, lim};
	PGresult *r = master_query(pg, m, "holes in the archive",
		"WITH g AS (SELECT s + 1 AS a, nxt - 1 AS b FROM (SELECT sequence AS s, "
		"  arrival_time AS t, lead(sequence) OVER w AS nxt, lead(arrival_time) OVER w AS nt "
		"  FROM signal_archive WHERE master_id = $1 WINDOW w AS (ORDER BY sequence)) x "
		" WHERE nxt > s + 1 AND NOT EXISTS (SELECT 1 FROM archive_catalog c "
		"  WHERE c.parent = 'signal_archive' AND c.day BETWEEN (t AT TIME ZONE 'UTC')::date "
		"  AND (nt AT TIME ZONE 'UTC')::date)), "
		"h AS (SELECT a, b, greatest($2::bigint, a) AS ha, least($3::bigint, b) AS hb FROM g) "
		"SELECT a, b, count(*) OVER (), sum(b - a + 1) OVER (), "
		" sum(greatest(hb - ha + 1, 0)) OVER (), "
		" coalesce(min(CASE WHEN hb >= ha THEN ha END) OVER (), 0), "
		" sum((SELECT count(*) FROM signal_archive_keys k WHERE k.master_id = $1 "
		"  AND k.sequence BETWEEN a AND b)) OVER () "
		"FROM h ORDER BY a LIMIT $4", 4, v, 0);
	if (r == NULL)
		return -1;
	int n = PQntuples(r);
	for (int i = 0; i < n && i < HOLES_SHOWN; i++) {
		m->hole[i][0] = strtoull(PQgetvalue(r, i, 0), NULL, 10);
		m->hole[i][1] = strtoull(PQgetvalue(r, i, 1), NULL, 10);
		m->n_shown++;
	}
	if (n > 0) {
		m->holes = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
		m->missing = strtoull(PQgetvalue(r, 0, 3), NULL, 10);
		m->held = strtoull(PQgetvalue(r, 0, 4), NULL, 10);
		m->repair_from = strtoull(PQgetvalue(r, 0, 5), NULL, 10);
		m->keyed = strtoull(PQgetvalue(r, 0, 6), NULL, 10);
	}
	PQclear(r);
	return 0;
}

/* Stream bounds, archive bounds and pending count of one master, and with `holes` the
 * archive's holes. Returns 0 or -1. */
static int inspect(struct ctl_rd *rd, PGconn *pg, struct master_state *m, bool holes)
{
	char key[64], ids[24], why[512];
	snprintf(key, sizeof(key), CP_REDIS_SIGNALS_KEY_FMT, m->id);
	const char *c0[] = {"XRANGE", key, "-", "+", "COUNT", "1"};
	const char *c1[] = {"XREVRANGE", key, "+", "-", "COUNT", "1"};
	const char *c2[] = {"XLEN", key};
	/* the group's last delivery before its pending entries: an entry delivered between the
	 * two is then pending (not counted as acknowledged), never acknowledged unseen */
	const char *c3[] = {"XINFO", "GROUPS", key};
	const char *c4[] = {"XPENDING", key, CP_REDIS_GROUP};
	const struct ctl_rd_cmd cmd[5] = {{6, c0, NULL}, {6, c1, NULL}, {2, c2, NULL},
					  {3, c3, NULL}, {3, c4, NULL}};
	redisReply *rep[5];
	uint64_t delivered = 0, pend_min = 0;
	/* Redis first, then the archive: whatever the group had acknowledged when read was
	 * archived before (the archiver commits, then XACKs), so a later archive read holds it */
	int rc = ctl_rd_run(rd, key, 5, cmd, rep, why, sizeof(why));
	if (rc == 0) {
		/* the node that answered (after a redirect, where it pointed) */
		snprintf(m->node, sizeof(m->node), "%s", rd->answered);
		for (int i = 0; i < 3; i++)
			if (rep[i]->type == REDIS_REPLY_ERROR) {
				snprintf(why, sizeof(why), "%s %s: %s", cmd[i].argv[0], key, rep[i]->str);
				rc = -EPROTO;
			}
	}
	if (rc == 0) {
		if (rep[0]->type == REDIS_REPLY_ARRAY && rep[0]->elements == 1)
			m->first = id_seq(rep[0]->element[0]->element[0]->str);
		if (rep[1]->type == REDIS_REPLY_ARRAY && rep[1]->elements == 1)
			m->last = id_seq(rep[1]->element[0]->element[0]->str);
		if (rep[2]->type == REDIS_REPLY_INTEGER)
			m->len = (uint64_t)rep[2]->integer;
		m->pending = rep[4]->type == REDIS_REPLY_ARRAY && rep[4]->elements >= 1 &&
				     rep[4]->element[0]->type == REDIS_REPLY_INTEGER
			     ? rep[4]->element[0]->integer
			     : -1; /* NOGROUP: no archiver has read this stream yet */
		if (m->pending > 0 && rep[4]->elements >= 2 &&
		    rep[4]->element[1]->type == REDIS_REPLY_STRING)
			pend_min = id_seq(rep[4]->element[1]->str);
		/* the archiver group's last-delivered-id (XINFO GROUPS: a map per group) */
		for (size_t g = 0; rep[3]->type == REDIS_REPLY_ARRAY && g < rep[3]->elements; g++) {
			const redisReply *e = rep[3]->element[g];
			const char *name = NULL, *last = NULL;
			for (size_t k = 0; e->type == REDIS_REPLY_ARRAY && k + 1 < e->elements; k += 2) {
				if (e->element[k]->type != REDIS_REPLY_STRING ||
				    e->element[k + 1]->type != REDIS_REPLY_STRING)
					continue;
				if (strcmp(e->element[k]->str, "name") == 0)
					name = e->element[k + 1]->str;
				else if (strcmp(e->element[k]->str, "last-delivered-id") == 0)
					last = e->element[k + 1]->str;
			}
			if (name != NULL && last != NULL && strcmp(name, CP_REDIS_GROUP) == 0)
				delivered = id_seq(last);
		}
	}
	for (int i = 0; i < 5; i++)
		freeReplyObject(rep[i]);
	if (rc != 0) {
		redis_failed(m, rc, why);
		return -1;
	}
	snprintf(ids, sizeof(ids), "%" PRIu64, m->id);
	const char *v[] = {ids};
	PGresult *r = master_query(pg, m, "archive", "SELECT coalesce(max(sequence), 0), "
				   "count(*), coalesce(min(sequence), 0) FROM signal_archive WHERE "
				   "master_id = $1", 1, v, 0);
	if (r == NULL)
		return -1;
	m->arch_max = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	m->arch_rows = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
	uint64_t arch_min = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
	PQclear(r);
	/* a gap between the lowest and the highest row: find it (one pass, only then) */
	if (holes && m->arch_rows > 0 && m->arch_rows != m->arch_max - arch_min + 1 &&
	    archive_holes(pg, m) != 0)
		return -1;
	/* acknowledged: delivered and no longer pending (the oldest pending one and all after
	 * it are still to be archived) */
	uint64_t acked = pend_min != 0 ? pend_min - 1 : delivered;
	if (acked > delivered)
		acked = delivered;
	if (acked > m->arch_max && m->last > m->arch_max) {
		m->acked_from = m->arch_max + 1 > m->first ? m->arch_max + 1 : m->first;
		m->acked_to = acked < m->last ? acked : m->last;
		if (m->acked_to < m->acked_from || in_archived_day(rd, pg, key, m->acked_from))
			m->acked_from = m->acked_to = 0;
	}
	return 0;
}

static uint64_t be64(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return be64toh(v);
}

/* One XADD of a rebuild batch: the record, its entry ID, its argv. */
struct rebuild_entry {
	uint8_t *rec;
	char id[32];
	const char *argv[5];
	size_t lens[5];
};

/* Append one batch of archived rows (binary result: sequence, arrival_ns, body, hmac,
 * sig) after m->last, pipelined on the stream's node. Returns rows appended, 0 at the end,
 * -1 on failure; stops at a hole (m->hole_*). */
static long rebuild_batch(struct ctl_rd *rd, PGconn *pg, struct master_state *m, const char *key)
{
	char ids[24], after[24], lim[16], why[512];
	snprintf(ids, sizeof(ids), "%" PRIu64, m->id);
	snprintf(after, sizeof(after), "%" PRIu64, m->last);
	snprintf(lim, sizeof(lim), "%d", REBUILD_BATCH);
	const char *v[] = {ids, after, lim};
	PGresult *r = master_query(pg, m, "reading the archive", "SELECT sequence, arrival_ns, "
				   "body, coalesce(hmac, ''::bytea), coalesce(ed25519_sig, ''::bytea) "
				   "FROM signal_archive WHERE master_id = $1 AND sequence > $2 "
				   "ORDER BY sequence LIMIT $3", 3, v, 1);
	if (r == NULL)
		return -1;
	int n = PQntuples(r), sent = 0;
	bool unpackable = false;
	struct rebuild_entry *e = calloc((size_t)n + 1, sizeof(*e));
	struct ctl_rd_cmd *cmd = calloc((size_t)n + 1, sizeof(*cmd));
	redisReply **rep = calloc((size_t)n + 1, sizeof(*rep));
	if (e == NULL || cmd == NULL || rep == NULL) {
		fprintf(stderr, "decpctl redis: out of memory\n");
		n = 0;
		unpackable = true;
	}
	for (int i = 0; i < n; i++) {
		uint64_t seq = be64(PQgetvalue(r, i, 0));
		if (seq != m->last + 1 + (uint64_t)i) {
			m->hole_from = m->last + 1 + (uint64_t)i;
			m->hole_to = seq - 1;
			break;
		}
		snprintf(e[i].id, sizeof(e[i].id), "%" PRIu64 "-0", seq);
		/* The edge's record layout (cp_redis_rec.h). */
		const struct cp_rec sr = {
			.arrival_ns = (int64_t)be64(PQgetvalue(r, i, 1)),
			.body = (const uint8_t *)PQgetvalue(r, i, 2),
			.hmac = (const uint8_t *)PQgetvalue(r, i, 3),
			.sig = (const uint8_t *)PQgetvalue(r, i, 4),
			.body_len = (size_t)PQgetlength(r, i, 2),
			.hmac_len = (size_t)PQgetlength(r, i, 3),
			.sig_len = (size_t)PQgetlength(r, i, 4),
		};
		e[i].rec = malloc(cp_rec_size(&sr));
		size_t len = e[i].rec != NULL ? cp_rec_pack(e[i].rec, cp_rec_size(&sr), &sr) : 0;
		if (len == 0) { /* the rows before it are still written, then the rebuild fails */
			fprintf(stderr, "decpctl redis: master %" PRIu64 " sequence %" PRIu64 ": %s\n",
				m->id, seq, e[i].rec == NULL ? "out of memory" :
				"HMAC or signature longer than 255 bytes in the archive");
			unpackable = true;
			break;
		}
		const char *argv[] = {"XADD", key, e[i].id, CP_REC_FIELD, (const char *)e[i].rec};
		const size_t lens[] = {4, strlen(key), strlen(e[i].id), 1, len};
		memcpy(e[i].argv, argv, sizeof(argv));
		memcpy(e[i].lens, lens, sizeof(lens));
		cmd[i] = (struct ctl_rd_cmd){5, e[i].argv, e[i].lens};
		sent++;
	}
	PQclear(r);
	int ok = 0, rc = sent > 0 ? ctl_rd_run(rd, key, (size_t)sent, cmd, rep, why, sizeof(why)) : 0;
	if (rc == -EIO)
		fprintf(stderr, "decpctl redis: XADD %s: %s\n", key, why);
	/* What was written is a prefix: once the stream has left a node (a resharding),
	 * every later XADD to it there is redirected, not written. */
	for (int i = 0; rc != -EIO && i < sent && rep[i]->type != REDIS_REPLY_ERROR; i++)
		ok++;
	if (rc == 0 && ok < sent) {
		fprintf(stderr, "decpctl redis: XADD %s: %s (is decp-control still writing?)\n",
			key, rep[ok]->str);
		rc = -EPROTO;
	}
	if (rc == -EAGAIN)
		redis_failed(m, rc, why);
	for (int i = 0; i < n; i++)
		free(e != NULL ? e[i].rec : NULL);
	for (int i = 0; rep != NULL && i < sent; i++)
		freeReplyObject(rep[i]);
	free(e);
	free(cmd);
	free(rep);
	m->last += (uint64_t)ok;
	m->added += (uint64_t)ok;
	if (m->first == 0 && ok > 0)
		m->first = m->last - (uint64_t)ok + 1;
	if (unpackable || rc != 0)
		return -1;
	return m->hole_from != 0 ? 0 : ok;
}

/* One command on key's node, its reply an error or not. 0 or -1 (said why). */
static int run_one(struct ctl_rd *rd, const struct master_state *m, const char *key, int argc,
		   const char **argv, bool error_ok)
{
	char why[512];
	redisReply *rep;
	const struct ctl_rd_cmd cmd = {argc, argv, NULL};
	int rc = ctl_rd_run(rd, key, 1, &cmd, &rep, why, sizeof(why));
	if (rc == 0 && rep->type == REDIS_REPLY_ERROR && !error_ok) {
		snprintf(why, sizeof(why), "%s %s: %s", argv[0], key, rep->str);
		rc = -EPROTO;
	}
	freeReplyObject(rep);
	if (rc != 0)
		redis_failed(m, rc, why);
	return rc != 0 ? -1 : 0;
}

static int rebuild(struct ctl_rd *rd, PGconn *pg, struct master_state *m)
{
	char key[64], ids[24];
	snprintf(key, sizeof(key), CP_REDIS_SIGNALS_KEY_FMT, m->id);
	snprintf(ids, sizeof(ids), "%" PRIu64, m->id);
	long got;
	while ((got = rebuild_batch(rd, pg, m, key)) > 0)
		;
	if (got < 0)
		return -1;
	/* The archiver finds the stream through decp:masters (on its own slot's node); its
	 * group starts after what is already archived (an existing group is left alone:
	 * redelivery is deduplicated, and BUSYGROUP is the answer then). */
	const char *sadd[] = {"SADD", CP_REDIS_MASTERS_KEY, ids};
	const char *grp[] = {"XGROUP", "CREATE", key, CP_REDIS_GROUP, "$", "MKSTREAM"};
	if (run_one(rd, m, CP_REDIS_MASTERS_KEY, 3, sadd, false) != 0 ||
	    (m->last > 0 && run_one(rd, m, key, 6, grp, true) != 0))
		return -1;
	return 0;
}

/* Where --repair-holes puts master m's group: just before the first missing sequence its
 * stream holds, or the archive's end when the group acknowledged entries the archive
 * lacks (a restore of PostgreSQL to an earlier time), whichever is lower; 0: nothing to
 * do (the sequence numbers start at 1: a target of 0 is "0-0", every entry again). */
static bool rewind_target(const struct master_state *m, uint64_t *to)
{
	uint64_t t = UINT64_MAX;
	if (m->repair_from != 0)
		t = m->repair_from - 1;
	if (m->acked_from != 0 && m->acked_from - 1 < t)
		t = m->acked_from - 1;
	*to = t;
	return t != UINT64_MAX;
}

/*
 * --repair-holes: rewind master m's archiver group to rewind_target, so the archiver reads
 * the holes, or what it acknowledged and the archive lost, again (the archive skips what
 * it has: sql 0007, docs/control.md "archiver"; its trim keeps what the group is to
 * deliver again, so the running archiver may do it). In one script, so atomic on the stream's
 * node: the group is only ever moved back (its last delivered ID above the target), never
 * forward past entries it has not delivered, and a group that does not exist is not made.
 * Its pending entries are left alone: above the target they are delivered again and move
 * to the reader; at or below it they stay pending and the archiver claims them as before. Returns 0 or -1 (said why).
 */
static int repair_holes(struct ctl_rd *rd, struct master_state *m)
{
	static const char lua[] =
		"for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do "
		" local name, last "
		" for i = 1, #g - 1, 2 do "
		"  if g[i] == 'name' then name = g[i + 1] "
		"  elseif g[i] == 'last-delivered-id' then last = g[i + 1] end "
		" end "
		" if name == ARGV[1] then "
		"  local s = tonumber(string.match(last, '^(%d+)-')) "
		"  if s == nil or s <= tonumber(ARGV[2]) then return {0, last} end "
		"  redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], ARGV[2] .. '-0') "
		"  return {1, last} "
		" end "
		"end "
		"return {-1, ''}";
	char key[64], to[24], why[512];
	snprintf(key, sizeof(key), CP_REDIS_SIGNALS_KEY_FMT, m->id);
	snprintf(to, sizeof(to), "%" PRIu64, m->rewind_to);
	const char *argv[] = {"EVAL", lua, "1", key, CP_REDIS_GROUP, to};
	const struct ctl_rd_cmd cmd = {6, argv, NULL};
	redisReply *rep;
	int rc = ctl_rd_run(rd, key, 1, &cmd, &rep, why, sizeof(why));
	if (rc == 0 && (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
			rep->element[0]->type != REDIS_REPLY_INTEGER ||
			rep->element[1]->type != REDIS_REPLY_STRING)) {
		snprintf(why, sizeof(why), "rewinding %s's group: %s", key,
			 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
		rc = -EPROTO;
	}
	if (rc == 0) {
		long long done = rep->element[0]->integer;
		snprintf(m->rewound, sizeof(m->rewound), "%s%s",
			 done == 1 ? "rewound from " : done == 0 ? "not moved forward from "
			 : "no archiver group", done >= 0 ? rep->element[1]->str : "");
	}
	freeReplyObject(rep);
	if (rc != 0) {
		redis_failed(m, rc, why);
		return -1;
	}
	return 0;
}

static const char *verdict(const struct master_state *m)
{
	if (m->hole_from != 0)
		return "archive has a hole";
	if (m->acked_from != 0)
		return strncmp(m->rewound, "rewound", 7) == 0
		       ? "ACKNOWLEDGED, NOT ARCHIVED: archiver group rewound (below)"
		       : "ACKNOWLEDGED, NOT ARCHIVED: run decpctl redis check --repair-holes";
	if (m->held < m->missing)
		return "ARCHIVE HOLES, SIGNALS LOST (below)";
	if (m->holes != 0) /* --repair-holes may have left the group: "not moved forward" */
		return strncmp(m->rewound, "rewound", 7) == 0
		       ? "ARCHIVE HOLES: archiver group rewound (below)"
		       : m->rewound[0] != '\0' ? "ARCHIVE HOLES (below)"
		       : "ARCHIVE HOLES: run decpctl redis check --repair-holes";
	return m->last < m->arch_max ? "BEHIND ARCHIVE: run decpctl redis rebuild" : "ok";
}

/* The holes of one master: the first ranges, totals, what the stream holds and the
 * rewind. */
static void print_holes(const struct master_state *m)
{
	printf("         master %" PRIu64 ": signal_archive lacks %" PRIu64 " sequence%s in %"
	       PRIu64 " hole%s below its highest (%" PRIu64 "):", m->id, m->missing,
	       m->missing == 1 ? "" : "s", m->holes, m->holes == 1 ? "" : "s", m->arch_max);
	for (size_t i = 0; i < m->n_shown; i++)
		printf("%s %" PRIu64 "..%" PRIu64, i > 0 ? "," : "", m->hole[i][0], m->hole[i][1]);
	printf("%s\n", m->holes > m->n_shown ? ", ..." : "");
	if (m->held < m->missing) {
		char holds[64] = "it is empty";
		if (m->len > 0)
			snprintf(holds, sizeof(holds), "it holds %" PRIu64 "..%" PRIu64, m->first,
				 m->last);
		printf("         master %" PRIu64 ": LOST: %" PRIu64 " of them are in neither the "
		       "archive nor the Redis stream (%s); they can only come from the old "
		       "primary's disk or a backup\n", m->id, m->missing - m->held, holds);
	}
	if (m->held > 0)
		printf("         master %" PRIu64 ": the stream holds %" PRIu64 " of them, from %"
		       PRIu64 ": %s\n", m->id, m->held, m->repair_from, m->rewound[0] != '\0'
		       ? m->rewound : "decpctl redis check --repair-holes rewinds the archiver "
		       "group to read them again");
	if (m->acked_from == 0 && strncmp(m->rewound, "rewound", 7) == 0)
		printf("         master %" PRIu64 ": the archiver group now reads again from %" PRIu64
		       "; check again once it caught up\n", m->id, m->rewind_to + 1);
	if (m->keyed > 0)
		printf("         master %" PRIu64 ": signal_archive_keys still lists %" PRIu64 " of "
		       "the missing sequences (rows deleted by hand?): the archiver skips them "
		       "until those keys are deleted\n", m->id, m->keyed);
}

/* On a cluster a column more, before the status: the primary serving the stream. */
static void print_text(const struct master_state *ms, size_t n, bool rebuilt, bool cluster)
{
	printf("%-8s %12s %12s %10s %12s %12s %8s  ", "master", "stream first", "stream last",
	       rebuilt ? "added" : "length", "archive max", "archive rows", "pending");
	if (cluster)
		printf("%-21s ", "redis node");
	printf("status\n");
	for (size_t i = 0; i < n; i++) {
		const struct master_state *m = &ms[i];
		char pend[24];
		if (m->pending < 0)
			snprintf(pend, sizeof(pend), "-");
		else
			snprintf(pend, sizeof(pend), "%lld", m->pending);
		printf("%-8" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %12" PRIu64
		       " %12" PRIu64 " %8s  ", m->id, m->first, m->last,
		       rebuilt ? m->added : m->len, m->arch_max, m->arch_rows, pend);
		if (cluster)
			printf("%-21s ", m->node);
		printf("%s\n", verdict(m));
		if (m->hole_from != 0)
			printf("         master %" PRIu64 ": signal_archive has no sequence %" PRIu64
			       "..%" PRIu64 "; the stream ends at %" PRIu64 "\n", m->id, m->hole_from,
			       m->hole_to, m->last);
		if (m->acked_from != 0 && m->rewound[0] == '\0')
			printf("         master %" PRIu64 ": entries %" PRIu64 "..%" PRIu64 " were "
			       "acknowledged by the archiver group but are not in signal_archive (a "
			       "restore of PostgreSQL to an earlier time?); the archiver will not read "
			       "them again until its group is rewound: decpctl redis check "
			       "--repair-holes, or XGROUP SETID '" CP_REDIS_SIGNALS_KEY_FMT "' "
			       CP_REDIS_GROUP " %" PRIu64 "-0 (docs/operations.md)\n", m->id,
			       m->acked_from, m->acked_to, m->id, m->acked_from - 1);
		else if (m->acked_from != 0)
			printf("         master %" PRIu64 ": entries %" PRIu64 "..%" PRIu64 " were "
			       "acknowledged by the archiver group but are not in signal_archive: "
			       "%s; the archiver reads again from %" PRIu64 ", check again once it "
			       "caught up\n", m->id, m->acked_from, m->acked_to, m->rewound,
			       m->rewind_to + 1);
		if (m->holes != 0)
			print_holes(m);
	}
}

static void print_json(const struct master_state *ms, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct master_state *m = &ms[i];
		json_t *one = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:s,s:I}", "master",
			(json_int_t)m->id, "stream_first", (json_int_t)m->first, "stream_last",
			(json_int_t)m->last, "stream_length", (json_int_t)m->len, "archive_max",
			(json_int_t)m->arch_max, "archive_rows", (json_int_t)m->arch_rows, "pending",
			(json_int_t)m->pending, "behind", m->last < m->arch_max, "node", m->node,
			"acked_not_archived", (json_int_t)(m->acked_from != 0
							   ? m->acked_to - m->acked_from + 1 : 0));
		json_t *ranges = json_array();
		for (size_t k = 0; k < m->n_shown; k++)
			json_array_append_new(ranges, json_pack("[I,I]", (json_int_t)m->hole[k][0],
								(json_int_t)m->hole[k][1]));
		json_object_set_new(one, "holes", json_pack("{s:I,s:I,s:I,s:I,s:o,s:s}", "ranges",
			(json_int_t)m->holes, "missing", (json_int_t)m->missing, "in_stream",
			(json_int_t)m->held, "repair_from", (json_int_t)m->repair_from, "first",
			ranges, "repair", m->rewound));
		json_array_append_new(arr, one);
	}
	json_t *o = json_pack("{s:o}", "masters", arr);
	char *s = json_dumps(o, JSON_COMPACT);
	if (s != NULL)
		puts(s);
	free(s);
	json_decref(o);
}

int ctl_cmd_redis(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		ctl_redis_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "backup") == 0)
		return ctl_redis_backup(argc - 1, argv + 1);
	if (strcmp(argv[1], "restore") == 0)
		return ctl_redis_restore(argc - 1, argv + 1);
	struct opts o = {0};
	if (strcmp(argv[1], "check") == 0)
		o.check = true;
	else if (strcmp(argv[1], "rebuild") != 0)
		return ctl_usage_error("redis", "unknown subcommand '%s' (check, rebuild, backup, restore)", argv[1]);
	int rc = parse_opts(argc - 1, argv + 1, &o);
	if (rc != 0) {
		free(o.masters);
		return rc < 0 ? CTL_EXIT_OK : rc;
	}
	if (o.repair && !o.check) {
		free(o.masters);
		return ctl_usage_error("redis", "--repair-holes goes with check");
	}
	if (!o.check && !o.yes) {
		fprintf(stderr, "decpctl redis rebuild: stop decp-control first (its edge writes the "
			"same streams), then run again with --yes\n");
		free(o.masters);
		return CTL_EXIT_REFUSED;
	}
	PGconn *pg = PQconnectdb(o.conninfo);
	struct ctl_rd rd;
	bool rd_open = false;
	char why[768];
	struct master_state *ms = NULL;
	rc = CTL_EXIT_FAIL;
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "decpctl redis: PostgreSQL: %s", PQerrorMessage(pg));
		goto out;
	}
	/* A server in recovery holds an archive that is not final: a point-in-time restore
	 * still replaying WAL (it accepts read-only connections from its consistent point on,
	 * so pg_ctl start -w and systemctl return before the target is reached), or a standby.
	 * What check or rebuild concluded from it would be wrong (drill of 7 Dec 2026: an
	 * archive max of 3500 and a rewind to 3500-0 named, the restored archive ending at
	 * 12100). */
	PGresult *rec = PQexec(pg, "SELECT pg_is_in_recovery()");
	bool in_recovery = PQresultStatus(rec) == PGRES_TUPLES_OK && PQntuples(rec) == 1 &&
			   strcmp(PQgetvalue(rec, 0, 0), "t") == 0;
	PQclear(rec);
	if (in_recovery) {
		fprintf(stderr, "decpctl redis: PostgreSQL is in recovery (replaying WAL after a "
			"restore, or a standby): its signal_archive is not final, so nothing is "
			"concluded; run again once it accepts writes (SELECT pg_is_in_recovery() "
			"gives f)\n");
		goto out;
	}
	if (ctl_rd_open(&rd, o.host, o.port, o.nodes, REDIS_TIMEOUT_MS, why, sizeof(why)) != 0) {
		fprintf(stderr, "decpctl redis: %s%s\n", o.nodes != NULL ? "Redis Cluster: " : "",
			why);
		goto out;
	}
	rd_open = true;
	if (load_masters(pg, &o) != 0)
		goto out;
	ms = calloc(o.n_masters + 1, sizeof(*ms));
	if (ms == NULL)
		goto out;
	bool all_ok = true;
	for (size_t i = 0; i < o.n_masters; i++) {
		ms[i].id = o.masters[i];
		if (inspect(&rd, pg, &ms[i], o.check) != 0)
			goto out;
		if (!o.check && rebuild(&rd, pg, &ms[i]) != 0)
			goto out;
		if (o.repair && rewind_target(&ms[i], &ms[i].rewind_to) &&
		    repair_holes(&rd, &ms[i]) != 0)
			goto out;
		if (ms[i].last < ms[i].arch_max || ms[i].hole_from != 0 || ms[i].acked_from != 0 ||
		    ms[i].holes != 0)
			all_ok = false;
	}
	if (o.json)
		print_json(ms, o.n_masters);
	else
		print_text(ms, o.n_masters, !o.check, o.nodes != NULL);
	rc = all_ok ? CTL_EXIT_OK : CTL_EXIT_FAIL;
out:
	free(ms);
	free(o.masters);
	if (rd_open)
		ctl_rd_close(&rd);
	PQfinish(pg);
	return rc;
}
