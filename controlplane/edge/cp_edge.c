/* cp_edge: the edge role: dataplane ingress rings -> Redis (one pipeline per batch) ->
 * ACK rings, credentials pushed into the dataplane, durable signals handed to the process
 * context's consumers. Design and contract in cp_edge.h; docs/control.md "edge". */
#include "cp_edge.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp_auth.h"
#include "cp_edge_session.h"
#include "cp_log.h"
#include "cp_redis.h"
#include "cp_redis_rec.h"
#include "cp_shm.h"

#define ROLE "edge"

/* One command of a batch's pipelines: its node, what it writes, where its bytes are in
 * that node's buffer (to resend it after an ASK). */
struct pcmd {
	unsigned int node;
	enum { PC_SADD, PC_SIGNALS, PC_ONE } kind;
	unsigned int idx;        /* PC_SIGNALS: the group; PC_ONE: the record */
	size_t off, len;
	redisContext *ask;       /* an ASK named this connection: ASKING + resend there */
	redisContext *asked_to;  /* where it was resent after an ASK (its WAIT is that one's) */
	long long replicas;      /* replica|both: the WAIT after it on the node that wrote it */
	bool done;               /* its reply was taken: written (or redirected), not refused */
	bool down;               /* not written: its primary is down (a cluster, partial) */
};

struct edge {
	struct cp_ctx *ctx;      /* durable-signal consumers */
	const struct cp_config *cfg;
	const atomic_int *stop;
	struct cp_shm c;
	bool attached;
	bool need_push;          /* attached but credentials/durable/READY not pushed yet */
	bool batch_stale;        /* held batch came from a segment we no longer map */
	uint64_t cookie;
	struct cp_redis r;
	struct cp_auth a;
	struct cp_edge_sessions es; /* live-session claims of the logins it confirms */
	struct dp_ingress_rec *batch;
	unsigned int n;
	unsigned int next_worker;  /* whose ring the next dequeue begins with */
	int *status;             /* per record: 1 written, 0 duplicate, -1 gap, 2 event,
				  * -3 written but not on enough replicas (no ACK), 3 positions part,
				  * -4 not written, kept for the next batch (an event or positions
				  * part whose primary is down), -5 a signal not written because its
				  * primary is down (no ACK: the master resends) */
	unsigned int kept;       /* the batch's first records are -4s of the last one */
	uint64_t kept_retry_ns;  /* a batch of only those is tried again after this */
	struct dp_ack_rec *acks;
	uint64_t *mkey;          /* open-addressing map master -> group of the batch */
	unsigned int *mgrp;
	unsigned int mseen_cap;
	unsigned int *gfirst, *glast, *nxt; /* per master group: chain of record indices */
	unsigned int *gcount;    /* per master group: records */
	uint64_t *gmaster;
	unsigned int ngroups;
	struct cp_resp out[CP_RCL_MAX_NODES]; /* the batch's pipeline per Redis node (RESP) */
	bool multi[CP_RCL_MAX_NODES]; /* that pipeline is one MULTI ... EXEC (format_batch) */
	struct pcmd *pc;         /* the batch's commands (edge_batch + 1) */
	unsigned int npc;
	struct dp_ctrl_cmd *cmds;
	size_t cmds_cap;
	uint64_t next_attach, next_health, next_poll, next_reload;
	uint64_t next_push;       /* every primary short of replicas: READY tried again then */
	uint64_t written, duplicate, gap, events, positions, acked, ack_dropped, attaches, batches;
	uint64_t not_durable;    /* signals not ACKed: WAIT answered too few replicas */
	uint64_t primary_down;   /* signals not ACKed: their cluster primary was down */
	uint64_t resend_waits;   /* connections that wrote and WAITed again for resends */
	uint64_t dur_checked;    /* cp_redis.connects when durability_check last ran */
	/* the counters above as the api's /metrics reads them (EDGE_STATS): stored once per
	 * batch */
	_Atomic uint64_t st[6];
};

/* The counters /metrics shows, in the order of edge.st. */
static const struct {
	size_t off; /* of the plain counter in struct edge */
	const char *name, *help;
} EDGE_STATS[] = {
	{offsetof(struct edge, written), "decp_edge_signals_written_total",
	 "signals the edge wrote to Redis (durable, ACKed)"},
	{offsetof(struct edge, duplicate), "decp_edge_signals_duplicate_total",
	 "signals Redis already held (a master's resend; ACKed again)"},
	{offsetof(struct edge, gap), "decp_edge_redis_gaps_total",
	 "signals Redis refused as a gap, not ACKed: their master's stream ends before them. "
	 "Once after a decp-control crash; rising, the stream lost ACKed signals (decpctl "
	 "redis check)"},
	{offsetof(struct edge, not_durable), "decp_edge_not_durable_total",
	 "signals not ACKed: WAIT answered too few replicas"},
	{offsetof(struct edge, primary_down), "decp_edge_primary_down_total",
	 "signals not ACKed yet: their Redis Cluster primary was down"},
	{offsetof(struct edge, es.unavailable), "decp_edge_logins_unavailable_total",
	 "master logins the edge answered UNAVAILABLE (the master retries): the master's Redis "
	 "Cluster primary down, or with durability replica|both its primary's replicas behind "
	 "(with Redis down altogether the dataplane refuses them: decp_ingest_rejects_total"
	 "{reason=\"not_ready\"})"},
};

_Static_assert(sizeof(EDGE_STATS) / sizeof(EDGE_STATS[0]) ==
		       sizeof(((struct edge *)0)->st) / sizeof(((struct edge *)0)->st[0]),
	       "one /metrics counter per edge.st slot");

static void edge_stats(void *arg, struct cp_metrics *m)
{
	_Atomic uint64_t *st = arg;

	for (size_t i = 0; i < sizeof(EDGE_STATS) / sizeof(EDGE_STATS[0]); i++)
		cp_metrics_counter(m, EDGE_STATS[i].name, EDGE_STATS[i].help,
				   atomic_load_explicit(&st[i], memory_order_relaxed));
}

static void stats_publish(struct edge *e)
{
	for (size_t i = 0; i < sizeof(EDGE_STATS) / sizeof(EDGE_STATS[0]); i++)
		atomic_store_explicit(&e->st[i],
				      *(const uint64_t *)((const char *)e + EDGE_STATS[i].off),
				      memory_order_relaxed);
}

/* Hand the batch's newly durable signals to the process's consumers (see cp_edge.h). */
static void publish_durable(const struct edge *e)
{
	if (!cp_ctx_durable_begin(e->ctx))
		return;
	for (unsigned int i = 0; i < e->n; i++)
		if (e->status[i] == 1 && e->batch[i].kind == DP_REC_SIGNAL)
			cp_ctx_durable_put(e->ctx, &e->batch[i]);
	cp_ctx_durable_end(e->ctx);
}

static bool stopping(const struct edge *e)
{
	return atomic_load_explicit(e->stop, memory_order_relaxed) != 0;
}

/* Send with a bounded retry on a full control ring (5 s). */
static int ctrl_send(struct edge *e, struct dp_ctrl_cmd *cmd)
{
	cmd->cookie = ++e->cookie;
	for (int i = 0; i < 5000 && !stopping(e); i++) {
		int rc = cp_ctrl_send(&e->c, cmd);
		if (rc != -ENOBUFS)
			return rc;
		cp_sleep_ms(1);
	}
	return -ETIMEDOUT;
}

static int push_auth(struct edge *e)
{
	size_t need = cp_auth_commands(&e->a, e->cmds, e->cmds_cap);
	if (need > e->cmds_cap) {
		struct dp_ctrl_cmd *n = realloc(e->cmds, need * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		e->cmds = n;
		e->cmds_cap = need;
		need = cp_auth_commands(&e->a, e->cmds, e->cmds_cap);
	}
	for (size_t i = 0; i < need; i++) {
		int rc = ctrl_send(e, &e->cmds[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Last durable sequence of every usable master, read in one pipeline; with durability =
 * replica|both it counts as durable only once a WAIT says the replicas have it too (an edge
 * restarting after its primary took writes its replicas lack must not tell the dataplane,
 * and through HelloAck the masters, that those are safe). A master whose primary's WAIT
 * is short is not pushed: the dataplane keeps what it had, and its logins, confirmed by
 * the same WAIT (cp_edge_session.c), are answered UNAVAILABLE until the replicas catch
 * up; the other primaries' masters go on. */
static int push_durable(struct edge *e)
{
	char key[64];
	bool wait = cp_durability_waits(e->cfg->durability);
	uint64_t *seqs = calloc(e->a.n_masters + 1, sizeof(*seqs));
	redisContext **at = calloc(e->a.n_masters + 1, sizeof(*at));
	unsigned int *node_of = calloc(e->a.n_masters + 1, sizeof(*node_of));
	unsigned int nodes = cp_redis_nodes(&e->r), short_nodes = 0;
	bool short_node[CP_RCL_MAX_NODES] = {false};
	size_t held = 0;
	int rc = 0;

	if (seqs == NULL || at == NULL || node_of == NULL) {
		free(seqs);
		free(at);
		free(node_of);
		return -ENOMEM;
	}
	/* one pipeline per node (the node serving each master's stream), then WAIT on each;
	 * every primary is needed (a cluster, partial: not READY until they all answer) */
	for (size_t i = 0; i < e->a.n_masters; i++) {
		if (!e->a.masters[i].usable)
			continue;
		cp_redis_key_signals(key, sizeof(key), e->a.masters[i].id);
		if ((at[i] = cp_redis_at_node(&e->r, key, &node_of[i])) == NULL)
			rc = -EAGAIN;
	}
	for (unsigned int k = 0; k < nodes && wait; k++)
		if (cp_redis_node(&e->r, k) == NULL)
			rc = -EAGAIN;
	if (rc != 0) {
		CP_LOG_RL(CP_LOG_WARN, ROLE, "a Redis Cluster primary is down: the masters' durable "
			  "sequences wait for it (not READY)");
		goto out;
	}
	for (size_t i = 0; i < e->a.n_masters; i++)
		if (at[i] != NULL)
			redisAppendCommand(at[i], "XREVRANGE %s + - COUNT 1",
					   cp_redis_key_signals(key, sizeof(key), e->a.masters[i].id));
	/* each WAIT after a write of its own connection: an XREVRANGE moves nothing that a
	 * WAIT counts from Redis 7.2 on (cp_redis_append_mark) */
	for (unsigned int k = 0; k < nodes && wait; k++)
		if (cp_redis_append_mark(cp_redis_node(&e->r, k)) != 0 ||
		    redisAppendCommand(cp_redis_node(&e->r, k), "WAIT %u %u",
				       e->cfg->durability_replicas,
				       e->cfg->durability_wait_ms) != REDIS_OK) {
			cp_redis_fail(&e->r, "WAIT (restoring durable sequences)");
			rc = -EAGAIN;
			goto out;
		}
	for (size_t i = 0; i < e->a.n_masters; i++) {
		if (at[i] == NULL)
			continue;
		redisReply *rep = NULL;
		if (redisGetReply(at[i], (void **)&rep) != REDIS_OK || rep == NULL) {
			cp_redis_fail(&e->r, "XREVRANGE (restoring durable sequences)");
			rc = -EAGAIN;
			goto out;
		}
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
		    rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements >= 1 &&
		    rep->element[0]->element[0]->type == REDIS_REPLY_STRING)
			seqs[i] = strtoull(rep->element[0]->element[0]->str, NULL, 10);
		else if (rep->type != REDIS_REPLY_ARRAY && rc == 0)
			rc = -EPROTO; /* an error (MOVED in a reshard, LOADING...): again later */
		freeReplyObject(rep);
	}
	for (unsigned int k = 0; k < nodes && wait; k++) {
		redisReply *rep = NULL, *mark = NULL;

		if (redisGetReply(cp_redis_node(&e->r, k), (void **)&mark) != REDIS_OK ||
		    mark == NULL ||
		    redisGetReply(cp_redis_node(&e->r, k), (void **)&rep) != REDIS_OK || rep == NULL) {
			freeReplyObject(mark);
			cp_redis_fail(&e->r, "WAIT (restoring durable sequences)");
			rc = -EAGAIN;
			goto out;
		}
		bool marked = mark->type != REDIS_REPLY_ERROR;
		freeReplyObject(mark);
		if (!marked || rep->type != REDIS_REPLY_INTEGER ||
		    rep->integer < (long long)e->cfg->durability_replicas) {
			CP_LOG_RL(CP_LOG_WARN, ROLE, "durability = %s: WAIT found %lld replica(s) of %u "
				  "needed on Redis primary %u: its masters' durable sequences are "
				  "not pushed, their logins wait for the replicas",
				  cp_durability_name(e->cfg->durability),
				  rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1LL,
				  e->cfg->durability_replicas, k);
			short_node[k] = true;
			short_nodes++;
		}
		freeReplyObject(rep);
	}
	if (rc == -EPROTO) {
		cp_redis_fail(&e->r, "XREVRANGE returned an error (restoring durable sequences)");
		rc = -EAGAIN;
		goto out;
	}
	/* every primary short: no master could log in, so not READY (a READY dataplane that
	 * refuses every login looks healthy to whoever spreads masters over edges); pushed
	 * again once a WAIT finds the replicas (-EBUSY: push_initial retries in a second) */
	if (wait && nodes > 0 && short_nodes == nodes) {
		CP_LOG_RL(CP_LOG_WARN, ROLE, "durability = %s: the replicas of every Redis primary "
			  "(%u) are behind or gone: no master can log in, the dataplane is not told "
			  "READY until a WAIT finds them", cp_durability_name(e->cfg->durability),
			  nodes);
		rc = -EBUSY;
		goto out;
	}
	for (size_t i = 0; i < e->a.n_masters && rc == 0; i++) {
		if (!e->a.masters[i].usable)
			continue;
		if (short_node[node_of[i]]) {
			held++;
			continue;
		}
		struct dp_ctrl_cmd cmd;
		memset(&cmd, 0, sizeof(cmd));
		cmd.type = DP_CTRL_SET_DURABLE;
		cmd.master_id = e->a.masters[i].id;
		cmd.sequence = seqs[i];
		rc = ctrl_send(e, &cmd);
	}
	if (held > 0 && rc == 0)
		cp_log(CP_LOG_WARN, ROLE, "durability = %s: %zu master(s) on %u Redis primary(ies) "
		       "without enough replicas: logins refused until the replicas catch up",
		       cp_durability_name(e->cfg->durability), held, short_nodes);
out:
	free(seqs);
	free(at);
	free(node_of);
	return rc;
}

/*
 * Say, at start and after each (re)connect (a failover, a primary added to a cluster),
 * when a Redis primary behind the edge cannot keep the promise the configured durability
 * makes: fsync/both need `appendonly yes` with `appendfsync always` on every primary,
 * replica/both replicas connected. A Redis that hides CONFIG (renamed in production) is
 * not checked; the log says so. Before, only the first primary was asked, once: another
 * primary of a cluster at `appendfsync everysec` went unnamed.
 */
static void durability_check(struct edge *e)
{
	enum cp_durability d = e->cfg->durability;
	unsigned int nodes = cp_redis_nodes(&e->r);

	for (unsigned int k = 0; k < nodes; k++) {
		redisContext *c = cp_redis_node(&e->r, k);
		if (c == NULL)
			continue;   /* down: asked after the reconnect that brings it back */
		const char *host = c->connection_type == REDIS_CONN_TCP ? c->tcp.host : "?";
		int port = c->connection_type == REDIS_CONN_TCP ? c->tcp.port : 0;
		redisReply *ao = redisCommand(c, "CONFIG GET appendonly");
		redisReply *af = redisCommand(c, "CONFIG GET appendfsync");
		const char *aov = ao && ao->type == REDIS_REPLY_ARRAY && ao->elements == 2 ?
				  ao->element[1]->str : NULL;
		const char *afv = af && af->type == REDIS_REPLY_ARRAY && af->elements == 2 ?
				  af->element[1]->str : NULL;

		if (aov == NULL || afv == NULL)
			cp_log(CP_LOG_WARN, ROLE, "durability = %s: CONFIG GET is not allowed on "
			       "Redis %s:%d, so its persistence is not checked", cp_durability_name(d),
			       host, port);
		else if ((d == CP_DUR_FSYNC || d == CP_DUR_BOTH) &&
			 (strcmp(aov, "yes") != 0 || strcmp(afv, "always") != 0))
			cp_log(CP_LOG_WARN, ROLE, "durability = %s but Redis %s:%d has appendonly %s, "
			       "appendfsync %s: an ACKed signal does not survive a crash of it "
			       "(docs/control.md \"Durability modes\")", cp_durability_name(d), host,
			       port, aov, afv);
		else
			cp_log(CP_LOG_INFO, ROLE, "durability = %s (Redis %s:%d: appendonly %s, "
			       "appendfsync %s%s)", cp_durability_name(d), host, port, aov, afv,
			       cp_durability_waits(d) ? "; every ACK after a WAIT for its replicas"
						      : "");
		freeReplyObject(ao);
		freeReplyObject(af);
	}
}

static int push_initial(struct edge *e)
{
	if (cp_redis_ensure(&e->r) != 0)
		return -EAGAIN;
	if (e->dur_checked != e->r.connects) {
		durability_check(e);
		e->dur_checked = e->r.connects;
	}
	int rc = push_auth(e);
	if (rc == 0)
		rc = push_durable(e);
	if (rc == 0) {
		struct dp_ctrl_cmd ready;
		memset(&ready, 0, sizeof(ready));
		ready.type = DP_CTRL_READY;
		/* every login is confirmed here first: one live session per master across
		 * edges, and HelloAck from Redis's durable sequence (cp_edge_session.h) */
		ready.ready_flags = DP_READY_CONFIRM_LOGINS;
		rc = ctrl_send(e, &ready);
	}
	if (rc == 0)
		rc = cp_ctrl_wait_applied(&e->c, e->cookie, 5000);
	if (rc == -EBUSY)
		return rc;   /* every primary short of replicas: logged, not READY */
	if (rc != 0) {
		CP_LOG_RL(CP_LOG_ERR, ROLE, "pushing credentials and durable sequences to the "
			  "dataplane (%s) failed: %s; retrying", e->cfg->shm, strerror(-rc));
		return rc;
	}
	cp_log(CP_LOG_INFO, ROLE, "dataplane %s ready: %zu masters, %zu tokens loaded",
	       e->cfg->shm, e->a.n_masters, e->a.n_tokens);
	return 0;
}

static void try_attach(struct edge *e, uint64_t now)
{
	if (now < e->next_attach)
		return;
	e->next_attach = now + 100000000ull;
	int rc = cp_shm_attach(&e->c, e->cfg->shm);
	if (rc == -EPROTO) {
		/* Nothing is ingested until both run one build: masters get Nack UNAVAILABLE.
		 * Said as an error, with both versions and what to do (docs/operations.md
		 * "Upgrades": a release that changes the layout restarts both together). */
		uint32_t v = cp_shm_layout_of(e->cfg->shm);
		CP_LOG_RL(CP_LOG_ERR, ROLE, "dataplane segment %s has shared-memory layout %u%s, "
			  "this decp-control build needs layout %u: not attached, no master can "
			  "log in; run decp-dataplane and decp-control of the same build (restart "
			  "the dataplane after an upgrade, docs/operations.md \"Upgrades\")",
			  e->cfg->shm, v, v == DP_SHM_LAYOUT_VERSION ? " but other record sizes" : "",
			  DP_SHM_LAYOUT_VERSION);
		return;
	}
	if (rc != 0) {
		CP_LOG_RL(CP_LOG_WARN, ROLE, "waiting for the dataplane segment %s: %s",
			  e->cfg->shm, strerror(-rc));
		return;
	}
	/* The segment of a dataplane that died (kill -9, a crash) stays until the next one
	 * replaces it. Attached, it took the READY push's 5 s wait for nobody, then the
	 * health check, then the same segment again: a restarted dataplane waited up to 5 s
	 * for its edge. Only a live one is attached (heartbeat within dataplane_stale_ms). */
	int h = cp_shm_check(&e->c, (uint64_t)e->cfg->dataplane_stale_ms * 1000000ull);
	if (h != CP_SHM_OK) {
		CP_LOG_RL(CP_LOG_WARN, ROLE, "waiting for the dataplane segment %s: its dataplane "
			  "(pid %d) %s", e->cfg->shm, (int)e->c.s.hdr->dp_pid,
			  h == CP_SHM_STALE ? "stopped heartbeating" : "is not running");
		cp_shm_detach(&e->c);
		return;
	}
	e->attached = true;
	e->need_push = true;
	e->attaches++;
	e->cookie = atomic_load_explicit(&e->c.s.hdr->dp_ctrl_last_cookie, memory_order_acquire);
	cp_log(CP_LOG_INFO, ROLE, "attached dataplane segment %s (%u workers, pid %d)",
	       e->cfg->shm, e->c.s.hdr->n_workers, (int)e->c.s.hdr->dp_pid);
}

static void check_health(struct edge *e, uint64_t now)
{
	if (!e->attached || now < e->next_health)
		return;
	e->next_health = now + 100000000ull;
	int h = cp_shm_check(&e->c, (uint64_t)e->cfg->dataplane_stale_ms * 1000000ull);
	if (h == CP_SHM_OK)
		return;
	cp_log(CP_LOG_WARN, ROLE, "dataplane %s %s: re-attaching", e->cfg->shm,
	       h == CP_SHM_RESTARTED ? "restarted" : h == CP_SHM_STOPPED ? "stopped"
			: h == CP_SHM_STALE ? "stopped heartbeating" : "segment gone");
	cp_shm_detach(&e->c);
	e->attached = false;
	e->need_push = false;
	if (e->n > 0)
		e->batch_stale = true;
	cp_edge_sessions_drop_all(&e->es, &e->r);
}

static void check_auth(struct edge *e, uint64_t now)
{
	if (now < e->next_poll)
		return;
	e->next_poll = now + 50000000ull;
	int p = cp_auth_poll(&e->a);
	if (p == 0 && now < e->next_reload)
		return;
	if (cp_auth_load(&e->a) != 0)
		return;
	e->next_reload = now + (uint64_t)e->cfg->auth_reload_s * 1000000000ull;
	if (e->attached && !e->need_push) {
		int rc = push_auth(e);
		if (rc != 0)
			CP_LOG_RL(CP_LOG_ERR, ROLE, "pushing token/master changes failed: %s",
				  strerror(-rc));
	}
}

/* Group of master m in this batch, created on first sight. */
static unsigned int group_of(struct edge *e, uint64_t m, unsigned int rec)
{
	unsigned int mask = e->mseen_cap - 1;
	unsigned int i = (unsigned int)((m * 0x9e3779b97f4a7c15ull) >> 40) & mask;
	while (e->mkey[i] != 0) {
		if (e->mkey[i] == m)
			return e->mgrp[i];
		i = (i + 1) & mask;
	}
	unsigned int g = e->ngroups++;
	e->mkey[i] = m;
	e->mgrp[i] = g;
	e->gmaster[g] = m;
	e->gfirst[g] = rec;
	e->glast[g] = UINT32_MAX;
	e->gcount[g] = 0;
	return g;
}

static void reason_upper(char *out, size_t cap, unsigned int reason)
{
	const char *s = dp_reason_name(reason);
	size_t i = 0;
	for (; s[i] != '\0' && i + 1 < cap; i++)
		out[i] = (char)toupper((unsigned char)s[i]);
	out[i] = '\0';
}

/* A protection event: FCALL decp_protection onto both {prot} streams, into b. */
static int format_event(struct cp_resp *b, const struct dp_ingress_rec *r)
{
	char seq[24], arr[24], mid[24], w[8], exp[24], pr[8], peer[48], rs[48];
	snprintf(mid, sizeof(mid), "%" PRIu64, r->master_id);
	snprintf(seq, sizeof(seq), "%" PRIu64, r->sequence);
	snprintf(arr, sizeof(arr), "%" PRId64, r->arrival_ns);
	snprintf(w, sizeof(w), "%u", r->worker);
	snprintf(exp, sizeof(exp), "%" PRIu64, r->expected);
	snprintf(pr, sizeof(pr), "%u", r->proto_reason);
	reason_upper(rs, sizeof(rs), r->reason);
	cp_rec_peer_str(r, peer, sizeof(peer));
	const char *argv[] = {"FCALL", CP_REDIS_FN_PROTECTION, "2", CP_REDIS_PROT_KEY,
			      CP_REDIS_PROT_ARCHIVE_KEY, "r", rs, "m", mid, "q", seq, "a", arr,
			      "w", w, "e", exp, "x", pr, "p", peer};
	int rc = cp_resp_array(b, 23);
	for (size_t i = 0; i < sizeof(argv) / sizeof(argv[0]); i++)
		rc |= cp_resp_str(b, argv[i]);
	rc |= cp_resp_str(b, "b");
	rc |= cp_resp_bulk(b, r->body, r->body_len <= DP_BODY_MAX ? r->body_len : DP_BODY_MAX);
	return rc != 0 ? -ENOMEM : 0;
}

/* A part of the master's own positions snapshot (DP_REC_POSITIONS, HMAC checked by the
 * dataplane) onto its positions stream for the book role: not ACKed, capped. */
static int format_positions(struct cp_resp *b, const struct dp_ingress_rec *r)
{
	char key[64];
	int rc = cp_resp_array(b, 12);

	rc |= cp_resp_str(b, "XADD");
	rc |= cp_resp_str(b, cp_redis_key_positions(key, sizeof(key), r->master_id));
	rc |= cp_resp_str(b, "MAXLEN");
	rc |= cp_resp_str(b, "~");
	rc |= cp_resp_str(b, CP_REDIS_POSITIONS_MAXLEN);
	rc |= cp_resp_str(b, "*");
	rc |= cp_resp_str(b, "q");
	rc |= cp_resp_u64(b, r->sequence);
	rc |= cp_resp_str(b, "a");
	rc |= cp_resp_i64(b, r->arrival_ns);
	rc |= cp_resp_str(b, "b");
	rc |= cp_resp_bulk(b, r->body, r->body_len <= DP_BODY_MAX ? r->body_len : DP_BODY_MAX);
	return rc != 0 ? -ENOMEM : 0;
}

/* Records written by a command of their own (after the signal groups), in ring order. */
static bool is_single(const struct dp_ingress_rec *r)
{
	return r->kind == DP_REC_PROTECTION || (r->kind == DP_REC_POSITIONS && r->master_id != 0);
}

/* The SADD of the batch's masters: the set of masters with a signals stream, the
 * archiver's and the book role's shortcut to the streams. It lives outside the masters'
 * slots (so it cannot be in the same atomic call on a cluster), and on a cluster its
 * primary's answer and WAIT hold no ACK (hold_not_durable): a listing lost with that
 * primary, or never written while it was down, is found again by their SCAN of every
 * primary (cp_discover.h). */
static int format_sadd(struct edge *e, struct cp_resp *b)
{
	int rc = cp_resp_array(b, 2 + (size_t)e->ngroups);
	rc |= cp_resp_str(b, "SADD");
	rc |= cp_resp_str(b, CP_REDIS_MASTERS_KEY);
	for (unsigned int g = 0; g < e->ngroups; g++)
		rc |= cp_resp_u64(b, e->gmaster[g]);
	return rc != 0 ? -ENOMEM : 0;
}

/* FCALL decp_signals for group g: its master's records in ring order. On a cluster with
 * redis_notify, decp_signals_pub, which also publishes the records it wrote on the
 * master's tail channel (what a standalone fan-out's cluster tail delivers,
 * cp_fanout_ctail.h), in the same call: no extra command or round trip (docs/perf.md has
 * its cost on the ACK). */
static int format_group(struct edge *e, struct cp_resp *b, unsigned int g)
{
	char key[64];
	bool pub = e->cfg->redis_notify && cp_redis_is_cluster(&e->r);
	/* consecutive sequences (the usual case): decp_signals_run, the first sequence only */
	bool run = !pub;
	uint64_t first = e->batch[e->gfirst[g]].sequence, k = 0;
	for (unsigned int i = e->gfirst[g]; i != UINT32_MAX && run; i = e->nxt[i], k++)
		run = e->batch[i].sequence == first + k;
	int rc = cp_resp_array(b, run ? 5 + (size_t)e->gcount[g]
				      : 4 + (size_t)pub + 2 * (size_t)e->gcount[g]);
	rc |= cp_resp_str(b, "FCALL");
	rc |= cp_resp_str(b, run ? CP_REDIS_FN_SIGNALS_RUN
			     : pub ? CP_REDIS_FN_SIGNALS_PUB : CP_REDIS_FN_SIGNALS);
	rc |= cp_resp_str(b, "1"); /* one key: the channel is an argument (cp_redis.c) */
	rc |= cp_resp_str(b, cp_redis_key_signals(key, sizeof(key), e->gmaster[g]));
	if (pub)
		rc |= cp_resp_str(b, cp_redis_key_tail(key, sizeof(key), e->gmaster[g]));
	if (run)
		rc |= cp_resp_u64(b, first);
	for (unsigned int i = e->gfirst[g]; i != UINT32_MAX && rc == 0; i = e->nxt[i]) {
		const struct dp_ingress_rec *r = &e->batch[i];
		if (!run)
			rc |= cp_resp_u64(b, r->sequence);
		uint8_t rec[CP_REC_HDR + DP_HMAC_LEN + DP_SIG_LEN + DP_BODY_MAX];
		const struct cp_rec sr = {
			.arrival_ns = r->arrival_ns,
			.body = r->body, .hmac = r->hmac, .sig = r->sig,
			.body_len = r->body_len <= DP_BODY_MAX ? r->body_len : DP_BODY_MAX,
			.hmac_len = r->hmac_len <= DP_HMAC_LEN ? r->hmac_len : DP_HMAC_LEN,
			.sig_len = r->sig_len <= DP_SIG_LEN ? r->sig_len : DP_SIG_LEN,
		};
		size_t n = cp_rec_pack(rec, sizeof(rec), &sr);
		rc |= n == 0 ? -1 : cp_resp_bulk(b, rec, n);
	}
	return rc != 0 ? -ENOMEM : 0;
}

/* WAIT durability_replicas durability_wait_ms into b. */
static int format_wait(const struct edge *e, struct cp_resp *b)
{
	int rc = cp_resp_array(b, 3);
	rc |= cp_resp_str(b, "WAIT");
	rc |= cp_resp_u64(b, e->cfg->durability_replicas);
	rc |= cp_resp_u64(b, e->cfg->durability_wait_ms);
	return rc != 0 ? -ENOMEM : 0;
}

/*
 * The batch's commands, each on the node serving its key (one node with one Redis): the
 * SADD, one FCALL decp_signals(_run) per master, one command per event or positions part; then
 * formatted per node in that order (plus WAIT last with durability = replica|both) into
 * e->out[node]. Returns 0 or -ENOMEM.
 *
 * On one Redis (not a cluster) two or more commands go as one MULTI ... EXEC: Redis reads
 * a client's pipeline 16 KiB per event-loop turn and, with appendfsync always, writes and
 * fdatasyncs its AOF after every turn that ran a command, so a batch of 1,024 signals of
 * 10 masters cost ~10 fdatasyncs (one per FCALL the turn completed); queued until EXEC,
 * the batch runs in one turn and costs one (docs/perf.md "One fdatasync per batch"). A
 * cluster refuses a transaction across slots: there each command stays on its own.
 */
static int format_batch(struct edge *e, bool wait)
{
	char key[64];
	unsigned int nodes = cp_redis_nodes(&e->r);
	int rc = 0;

	e->npc = 0;
	if (e->ngroups > 0)
		e->pc[e->npc++] = (struct pcmd){.node = cp_redis_node_of(&e->r, CP_REDIS_MASTERS_KEY),
						.kind = PC_SADD};
	for (unsigned int g = 0; g < e->ngroups; g++)
		e->pc[e->npc++] = (struct pcmd){
			.node = cp_redis_node_of(&e->r, cp_redis_key_signals(key, sizeof(key),
									 e->gmaster[g])),
			.kind = PC_SIGNALS, .idx = g};
	for (unsigned int i = 0; i < e->n; i++) {
		const struct dp_ingress_rec *r = &e->batch[i];
		if (!is_single(r))
			continue;
		e->pc[e->npc++] = (struct pcmd){
			.node = cp_redis_node_of(&e->r, r->kind == DP_REC_PROTECTION ? CP_REDIS_PROT_KEY
						 : cp_redis_key_positions(key, sizeof(key), r->master_id)),
			.kind = PC_ONE, .idx = i};
	}
	/* a command for a primary that is down, or a slot none serves (a cluster, partial:
	 * cp_redis_partial), is not sent: mark_down() */
	for (unsigned int c = 0; c < e->npc; c++)
		e->pc[c].down = cp_redis_node(&e->r, e->pc[c].node) == NULL;
	for (unsigned int k = 0; k < nodes; k++) {
		struct cp_resp *b = &e->out[k];
		unsigned int on_k = 0;
		b->len = 0;
		e->multi[k] = false;
		if (cp_redis_node(&e->r, k) == NULL)
			continue;
		for (unsigned int c = 0; c < e->npc; c++)
			on_k += e->pc[c].node == k;
		e->multi[k] = on_k > 1 && !cp_redis_is_cluster(&e->r);
		if (e->multi[k])
			rc = cp_resp_array(b, 1) | cp_resp_str(b, "MULTI");
		for (unsigned int c = 0; c < e->npc && rc == 0; c++) {
			struct pcmd *p = &e->pc[c];
			if (p->node != k)
				continue;
			p->off = b->len;
			rc = p->kind == PC_SADD ? format_sadd(e, b)
			   : p->kind == PC_SIGNALS ? format_group(e, b, p->idx)
			   : e->batch[p->idx].kind == DP_REC_PROTECTION ? format_event(b, &e->batch[p->idx])
			   : format_positions(b, &e->batch[p->idx]);
			p->len = b->len - p->off;
		}
		if (rc == 0 && e->multi[k])
			rc = cp_resp_array(b, 1) | cp_resp_str(b, "EXEC");
		if (rc == 0 && wait && b->len > 0)
			rc = format_wait(e, b);
	}
	return rc;
}

/* Statuses of group g from decp_signals' reply (one character per record, cp_redis.c).
 * Returns false if the reply does not have that shape. */
static bool group_statuses(struct edge *e, unsigned int g, const redisReply *rep)
{
	if (rep->type != REDIS_REPLY_STRING || rep->len != e->gcount[g])
		return false;
	size_t k = 0;
	for (unsigned int i = e->gfirst[g]; i != UINT32_MAX; i = e->nxt[i], k++)
		e->status[i] = rep->str[k] == '1' ? 1 : rep->str[k] == '0' ? 0
			     : rep->str[k] == '-' ? -1 : -2;
	return true;
}

/* The reply to command p. Returns 0; 1 when it is a redirect (an ASK sets p->ask: resend;
 * a MOVED leaves it NULL: the batch is written again after the map is read again);
 * -EPROTO for an error reply or a reply of the wrong shape. */
static int take_reply(struct edge *e, struct pcmd *p, const redisReply *rep)
{
	if (cp_redis_redirect(&e->r, rep, &p->ask)) {
		p->done = true;
		return 1;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		CP_LOG_RL(CP_LOG_ERR, ROLE, "redis refused a write: %s", rep->str);
		return -EPROTO;
	}
	if (p->kind == PC_SIGNALS && !group_statuses(e, p->idx, rep)) {
		CP_LOG_RL(CP_LOG_ERR, ROLE, "unexpected reply type %d to %s", rep->type,
			  CP_REDIS_FN_SIGNALS "(_run)");
		return -EPROTO;
	}
	if (p->kind == PC_ONE)
		e->status[p->idx] = e->batch[p->idx].kind == DP_REC_PROTECTION ? 2 : 3;
	p->done = true;
	return 0;
}

/*
 * Node k failed under the batch (`what`). On a cluster (partial) only its connection is
 * dropped: its commands whose replies were not taken (all of them with `all`: its WAIT
 * failed) count as not written, and the other primaries' go on. Returns 0 (go on), or
 * -EAGAIN (one Redis, or no primary left: everything dropped, the batch kept).
 */
static int node_fail(struct edge *e, unsigned int k, const char *what, bool all)
{
	/* a command another node's ASK sent here (not resent yet, resend_asked) is not
	 * written either, and must not be resent on the connection freed now */
	redisContext *gone = cp_redis_node(&e->r, k);
	for (unsigned int c = 0; c < e->npc && gone != NULL; c++)
		if (e->pc[c].ask == gone) {
			e->pc[c].ask = NULL;
			e->pc[c].down = true;
		}
	if (cp_redis_node_down(&e->r, k, what) != 0)
		return -EAGAIN;
	for (unsigned int c = 0; c < e->npc; c++)
		if (e->pc[c].node == k && (all || !e->pc[c].done))
			e->pc[c].down = true;
	e->out[k].len = 0;
	return 0;
}

/* Hand every node its bytes, then flush them all before reading any reply, so that the
 * primaries work on the batch at the same time. 0 or -EAGAIN (failed, logged). */
static int send_all(struct edge *e)
{
	unsigned int nodes = cp_redis_nodes(&e->r);

	for (unsigned int k = 0; k < nodes; k++)
		if (e->out[k].len > 0 &&
		    redisAppendFormattedCommand(cp_redis_node(&e->r, k), e->out[k].p,
						e->out[k].len) != REDIS_OK &&
		    node_fail(e, k, "queueing a batch", true) != 0)
			return -EAGAIN;
	for (unsigned int k = 0; k < nodes; k++) {
		int done = e->out[k].len == 0;
		while (!done)
			if (redisBufferWrite(cp_redis_node(&e->r, k), &done) != REDIS_OK) {
				if (node_fail(e, k, "writing a batch", true) != 0)
					return -EAGAIN;
				break;
			}
	}
	return 0;
}

/* WAIT's reply: the replicas that have every write before it on that node (-1: an
 * error reply). */
static int read_wait(redisContext *c, long long *replicas)
{
	redisReply *rep = NULL;
	if (redisGetReply(c, (void **)&rep) != REDIS_OK || rep == NULL)
		return -EAGAIN;   /* the caller drops the connection */
	*replicas = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
	freeReplyObject(rep);
	return 0;
}

/*
 * Commands an ASK sent elsewhere (a slot being migrated by a reshard, and this key already
 * on the target): "ASKING" and the same bytes once to the target, then (replica|both) a
 * WAIT there too. 0; -EAGAIN (I/O failed, or the target redirected again: the batch is
 * written again later).
 */
static int resend_asked(struct edge *e, bool wait)
{
	static const char asking[] = "*1\r\n$6\r\nASKING\r\n";
	redisContext *waited[CP_RCL_MAX_NODES];
	unsigned int nw = 0;

	for (unsigned int c = 0; c < e->npc; c++) {
		struct pcmd *p = &e->pc[c];
		redisContext *to = p->ask;
		redisReply *ok = NULL, *rep = NULL;

		if (to == NULL)
			continue;
		p->ask = NULL;
		p->asked_to = to;
		if (redisAppendFormattedCommand(to, asking, sizeof(asking) - 1) != REDIS_OK ||
		    redisAppendFormattedCommand(to, e->out[p->node].p + p->off, p->len) != REDIS_OK ||
		    redisGetReply(to, (void **)&ok) != REDIS_OK ||
		    redisGetReply(to, (void **)&rep) != REDIS_OK || rep == NULL) {
			freeReplyObject(ok);
			cp_redis_fail(&e->r, "resending a write after ASK");
			return -EAGAIN;
		}
		freeReplyObject(ok);
		int rc = take_reply(e, p, rep);
		freeReplyObject(rep);
		if (rc != 0) {
			p->ask = NULL;
			return -EAGAIN; /* redirected twice, or refused: write the batch again */
		}
		unsigned int w = 0;
		while (w < nw && waited[w] != to)
			w++;
		if (w == nw)
			waited[nw++] = to;
	}
	for (unsigned int w = 0; w < nw && wait; w++) {
		long long n;

		redisAppendCommand(waited[w], "WAIT %u %u", e->cfg->durability_replicas,
				   e->cfg->durability_wait_ms);
		if (read_wait(waited[w], &n) != 0) {
			cp_redis_fail(&e->r, "reading a batch's WAIT");
			return -EAGAIN;
		}
		for (unsigned int c = 0; c < e->npc; c++)
			if (e->pc[c].asked_to == waited[w])
				e->pc[c].replicas = n;
	}
	return 0;
}

/* Does group g hold a record Redis answered DUPLICATE? */
static bool group_has_dup(const struct edge *e, unsigned int g)
{
	for (unsigned int i = e->gfirst[g]; i != UINT32_MAX; i = e->nxt[i])
		if (e->status[i] == 0)
			return true;
	return false;
}

/* The connection command p was written on, and its WAIT read on (NULL: none). */
static redisContext *conn_of(const struct edge *e, const struct pcmd *p)
{
	return p->asked_to != NULL ? p->asked_to : cp_redis_node(&e->r, p->node);
}

/*
 * replica|both: a group Redis answered DUPLICATE (a resend) wrote nothing, so the WAIT
 * after it on its connection need not cover the entry it found. From Redis 7.2 on a WAIT
 * counts the replicas that have the connection's own last write (cp_redis_append_mark):
 * an entry another connection wrote after that -- another edge's late batch for a master
 * that has since logged in here, a reshard's MIGRATE onto this primary -- counted as
 * durable while no replica had it. Each connection that answered such a duplicate with
 * enough replicas writes the mark and WAITs again; that WAIT, covering everything the
 * primary held when it answered, judges its commands. One more round trip, only for
 * batches with resends. 0, or -EAGAIN (I/O failed: the batch is written again).
 */
static int cover_duplicates(struct edge *e)
{
	long long need = (long long)e->cfg->durability_replicas;
	redisContext *ctx[2 * CP_RCL_MAX_NODES];
	unsigned int n = 0;

	for (unsigned int c = 0; c < e->npc; c++) {
		const struct pcmd *p = &e->pc[c];
		redisContext *x = conn_of(e, p);
		unsigned int k = 0;
		if (p->kind != PC_SIGNALS || !p->done || p->down || x == NULL ||
		    p->replicas < need || !group_has_dup(e, p->idx))
			continue;
		while (k < n && ctx[k] != x)
			k++;
		if (k == n && n < sizeof(ctx) / sizeof(ctx[0]))
			ctx[n++] = x;
	}
	for (unsigned int k = 0; k < n; k++) {
		redisReply *mark = NULL;
		long long got = -1;

		if (cp_redis_append_mark(ctx[k]) != 0 ||
		    redisAppendCommand(ctx[k], "WAIT %u %u", e->cfg->durability_replicas,
				       e->cfg->durability_wait_ms) != REDIS_OK ||
		    redisGetReply(ctx[k], (void **)&mark) != REDIS_OK || mark == NULL ||
		    read_wait(ctx[k], &got) != 0) {
			freeReplyObject(mark);
			cp_redis_fail(&e->r, "reading a resend's WAIT");
			return -EAGAIN;
		}
		if (mark->type == REDIS_REPLY_ERROR) {
			/* READONLY, OOM...: nothing proves the duplicates durable (no ACK) */
			CP_LOG_RL(CP_LOG_WARN, ROLE, "redis refused the write before a resend's "
				  "WAIT: %s", mark->str);
			got = -1;
		}
		freeReplyObject(mark);
		e->resend_waits++;
		for (unsigned int c = 0; c < e->npc; c++)
			if (!e->pc[c].down && conn_of(e, &e->pc[c]) == ctx[k])
				e->pc[c].replicas = got;
	}
	return 0;
}

/* The replies of node k's MULTI ... EXEC: +OK, one +QUEUED per command, then EXEC's
 * array of the commands' replies (*execed, freed by the caller), or NULL when the
 * transaction was refused (a command not queued: EXEC answers EXECABORT), which is an
 * error reply of the batch (-EPROTO) -- nothing of it was written. 0, -EPROTO or
 * -EAGAIN (I/O failed). */
static int read_exec(struct edge *e, unsigned int k, redisReply **execed)
{
	redisContext *ctx = cp_redis_node(&e->r, k);
	int rc = 0;
	*execed = NULL;
	for (unsigned int c = 0; c <= e->npc; c++) {   /* MULTI's +OK, then each command's */
		redisReply *rep = NULL;
		if (c > 0 && e->pc[c - 1].node != k)
			continue;
		if (redisGetReply(ctx, (void **)&rep) != REDIS_OK || rep == NULL) {
			cp_redis_fail(&e->r, "writing a batch");
			return -EAGAIN;
		}
		if (rep->type == REDIS_REPLY_ERROR) {
			CP_LOG_RL(CP_LOG_ERR, ROLE, "redis refused a write: %s", rep->str);
			rc = -EPROTO;
		}
		freeReplyObject(rep);
	}
	if (redisGetReply(ctx, (void **)execed) != REDIS_OK || *execed == NULL) {
		cp_redis_fail(&e->r, "writing a batch");
		return -EAGAIN;
	}
	if ((*execed)->type != REDIS_REPLY_ARRAY) {
		if (rc == 0)
			CP_LOG_RL(CP_LOG_ERR, ROLE, "redis refused a batch: %s",
				  (*execed)->type == REDIS_REPLY_ERROR ? (*execed)->str : "EXEC");
		freeReplyObject(*execed);
		*execed = NULL;
		return -EPROTO;
	}
	return rc;
}

/* Read every node's replies, in the order its commands were formatted. 0, 1 (some MOVED:
 * write the batch again once the map is read again), -EPROTO (an error reply) or -EAGAIN
 * (I/O failed). */
static int read_all(struct edge *e, bool wait, bool *asked)
{
	unsigned int nodes = cp_redis_nodes(&e->r);
	int worst = 0;

	for (unsigned int k = 0; k < nodes; k++) {
		redisContext *ctx = cp_redis_node(&e->r, k);
		redisReply *execed = NULL;
		size_t next = 0;   /* the next element of execed */
		bool failed = false;
		if (e->out[k].len == 0)
			continue;   /* nothing sent there (or it is down) */
		if (e->multi[k]) {
			int rc = read_exec(e, k, &execed);
			if (rc == -EAGAIN)
				return rc;
			if (rc < 0)
				worst = rc;
		}
		for (unsigned int c = 0; c < e->npc && (!e->multi[k] || execed != NULL); c++) {
			struct pcmd *p = &e->pc[c];
			redisReply *rep = NULL;
			if (p->node != k)
				continue;
			if (execed != NULL) {
				if (next >= execed->elements) {
					CP_LOG_RL(CP_LOG_ERR, ROLE, "EXEC answered %zu replies for more "
						  "commands", execed->elements);
					worst = -EPROTO;
					break;
				}
				int rc = take_reply(e, p, execed->element[next++]);
				if (rc < 0 || (rc == 1 && worst == 0))
					worst = rc;   /* no redirect inside a transaction */
				continue;
			}
			if (redisGetReply(ctx, (void **)&rep) != REDIS_OK || rep == NULL) {
				if (node_fail(e, k, "writing a batch", false) != 0)
					return -EAGAIN;
				failed = true;
				break;
			}
			int rc = take_reply(e, p, rep);
			freeReplyObject(rep);
			if (rc == 1 && p->ask != NULL)
				*asked = true;
			else if (rc == 1 && worst == 0)
				worst = 1;
			else if (rc < 0 && cp_redis_is_cluster(&e->r)) {
				/* refused (CLUSTERDOWN while a failover is under way, LOADING,
				 * OOM...): that primary's commands are not written this time */
				if (node_fail(e, k, "error reply in a batch", false) != 0)
					return -EAGAIN;
				failed = true;
				break;
			} else if (rc < 0)
				worst = rc;
		}
		freeReplyObject(execed);
		/* replica|both: what node k wrote counts as durable by its own WAIT only; a
		 * node that failed before its WAIT proved nothing of what it answered */
		long long n = wait && failed ? -1 : LLONG_MAX;
		if (!failed && wait && e->out[k].len > 0 && read_wait(ctx, &n) != 0) {
			if (node_fail(e, k, "reading a batch's WAIT", true) != 0)
				return -EAGAIN;
			continue;
		}
		for (unsigned int c = 0; c < e->npc; c++)
			if (e->pc[c].node == k)
				e->pc[c].replicas = n;
	}
	return worst;
}

/* The records of commands not written because their primary is down (a cluster,
 * partial): a signal gets no ACK (the master resends it after its ACK timeout, and it
 * is written once its slot has a primary again); an event or a positions part is kept
 * for the next batch (nothing resends those). */
static void mark_down(struct edge *e)
{
	for (unsigned int c = 0; c < e->npc; c++) {
		const struct pcmd *p = &e->pc[c];
		if (!p->down)
			continue;
		if (p->kind == PC_SIGNALS)
			for (unsigned int i = e->gfirst[p->idx]; i != UINT32_MAX; i = e->nxt[i])
				e->status[i] = -5;
		else if (p->kind == PC_ONE)
			e->status[p->idx] = -4;
	}
}

/*
 * durability = replica|both: a signal written on its primary but not (yet) on enough of
 * that primary's replicas gets no ACK, never a false one; the master resends after its
 * ACK timeout, and the resend is a duplicate, ACKed once a WAIT covers it. Each signal is
 * judged by the WAIT of the primary that wrote it (on a cluster, one primary that lost its
 * replica holds only its own masters). The batch's SADD of decp:masters is sent, but its
 * primary's answer and WAIT hold nothing: the set is a shortcut, the archiver and the book
 * role also find every stream by SCAN and list it again (cp_discover.h), so a failover of
 * the set's primary that loses a listing delays its archiving by one sweep at most, and
 * the set's primary short of its replica (or down) no longer holds every new master.
 */
static void hold_not_durable(struct edge *e)
{
	long long need = (long long)e->cfg->durability_replicas, worst = LLONG_MAX;
	unsigned int held = 0;

	for (unsigned int c = 0; c < e->npc; c++) {
		const struct pcmd *p = &e->pc[c];
		if (p->kind != PC_SIGNALS || p->down || p->replicas >= need)
			continue;
		if (p->replicas < worst)
			worst = p->replicas;
		for (unsigned int i = e->gfirst[p->idx]; i != UINT32_MAX; i = e->nxt[i])
			if (e->status[i] == 0 || e->status[i] == 1) {
				e->status[i] = -3;
				held++;
			}
	}
	if (held == 0)
		return;
	e->not_durable += held;
	CP_LOG_RL(CP_LOG_WARN, ROLE, "durability = %s: WAIT %u %u answered %lld replica(s): "
		  "%u signal(s) not ACKed (the masters resend)",
		  cp_durability_name(e->cfg->durability), e->cfg->durability_replicas,
		  e->cfg->durability_wait_ms, worst, held);
}

/* The held batch on its way to Redis: format_batch's pipelines, one per node, all sent
 * before any reply is read; ASKed commands resent; with replica|both every node's WAIT.
 * Returns 0 (statuses filled) or -EAGAIN (Redis failed, batch kept). */
static int write_batch(struct edge *e)
{
	memset(e->mkey, 0, e->mseen_cap * sizeof(*e->mkey));
	e->ngroups = 0;
	for (unsigned int i = 0; i < e->n; i++) {
		e->status[i] = -2;
		e->nxt[i] = UINT32_MAX;
		if (e->batch[i].kind != DP_REC_SIGNAL || e->batch[i].master_id == 0)
			continue;
		unsigned int g = group_of(e, e->batch[i].master_id, i);
		if (e->glast[g] != UINT32_MAX)
			e->nxt[e->glast[g]] = i;
		e->glast[g] = i;
		e->gcount[g]++;
	}
	/* durability = replica|both: each node's WAIT, last in its pipeline (one round trip):
	 * its reply says how many replicas have every write before it */
	bool wait = cp_durability_waits(e->cfg->durability), asked = false;
	if (format_batch(e, wait) != 0) {
		CP_LOG_RL(CP_LOG_ERR, ROLE, "out of memory formatting a batch; retrying");
		return -EAGAIN;
	}
	if (send_all(e) != 0)
		return -EAGAIN;
	int rc = read_all(e, wait, &asked);
	if (rc == -EAGAIN)
		return -EAGAIN;
	if (rc == -EPROTO) {
		/* An error reply (OOM, script error, LOADING...) means not durable: keep the
		 * batch and retry on a fresh connection. */
		cp_redis_fail(&e->r, "error reply in a batch");
		return -EAGAIN;
	}
	if (rc == 1) {
		/* MOVED: a slot changed hands (reshard, failover). What was written stays and
		 * answers DUPLICATE when the batch is written again, after cp_redis_ensure has
		 * read the map again (at once, keeping the connections). */
		CP_LOG_RL(CP_LOG_INFO, ROLE, "redis cluster: a slot moved; writing the batch again "
			  "on the new map");
		cp_sleep_ms(1); /* bounds the retries while a slot is in flight (an ASK to a
				 * primary not yet in the map is a MOVED here) */
		return -EAGAIN;
	}
	if (asked && resend_asked(e, wait) != 0)
		return -EAGAIN;
	if (wait && cover_duplicates(e) != 0)
		return -EAGAIN;
	mark_down(e);
	if (wait)
		hold_not_durable(e);
	return 0;
}

static void send_acks(struct edge *e)
{
	unsigned int nw = e->attached && !e->batch_stale ? e->c.s.hdr->n_workers : 0;
	unsigned int gaps = 0, gap_first = 0;
	for (unsigned int i = 0; i < e->n; i++) {
		int s = e->status[i];
		if (s == 1)
			e->written++;
		else if (s == 0)
			e->duplicate++;
		else if (s == -1) {
			e->gap++;
			if (gaps++ == 0)
				gap_first = i;
		} else if (s == 2)
			e->events++;
		else if (s == 3)
			e->positions++;
		else if (s == -5)
			e->primary_down++;
	}
	for (unsigned int w = 0; w < nw; w++) {
		unsigned int na = 0;
		for (unsigned int i = 0; i < e->n; i++) {
			const struct dp_ingress_rec *r = &e->batch[i];
			if (r->worker != w || r->kind != DP_REC_SIGNAL ||
			    (e->status[i] != 0 && e->status[i] != 1))
				continue;
			cp_ack_for(&e->acks[na++], r,
				   e->status[i] == 1 ? DP_ACK_OK : DP_ACK_DUPLICATE);
		}
		unsigned int done = 0;
		uint64_t deadline = cp_now_ns() + 1000000000ull;
		while (done < na) {
			done += cp_ack_enqueue(&e->c, w, e->acks + done, na - done);
			if (done < na) {
				if (cp_now_ns() > deadline || stopping(e))
					break;
				cp_sleep_ms(1);
			}
		}
		e->acked += done;
		if (done < na) {
			/* The signals are durable; the master resends and gets DUPLICATE. */
			e->ack_dropped += na - done;
			CP_LOG_RL(CP_LOG_WARN, ROLE, "ACK ring of worker %u full for 1 s: %u ACKs "
				  "dropped (masters will resend)", w, na - done);
		}
	}
	/* Not ACKed, and said: once after a crash of decp-control (a later sequence got through
	 * first; the master resends), but a master refused again and again means its stream
	 * ends below what was ACKed to it (Redis came back from an older or repaired AOF):
	 * nothing of it is ACKed until the stream is rebuilt (docs/operations.md). */
	if (gaps > 0)
		CP_LOG_RL(CP_LOG_WARN, ROLE, "master %" PRIu64 " sequence %" PRIu64 ": refused by "
			  "Redis as a gap, its stream ends before it (%u such signal(s) in this "
			  "batch, not ACKed); if this goes on, the stream lost ACKed signals: "
			  "decpctl redis check", e->batch[gap_first].master_id,
			  e->batch[gap_first].sequence, gaps);
	stats_publish(e);
	e->batch_stale = false;
	/* what waits for its primary goes first into the next batch, in order */
	unsigned int kept = 0;
	for (unsigned int i = 0; i < e->n; i++)
		if (e->status[i] == -4)
			e->batch[kept++] = e->batch[i];
	if (kept > 0)
		CP_LOG_RL(CP_LOG_WARN, ROLE, "%u event(s) or positions part(s) kept until their "
			  "cluster primary answers again", kept);
	e->kept = kept;
	e->kept_retry_ns = cp_now_ns() + 20000000ull;
	e->n = kept;
}

/* The next batch from the workers' rings, every worker's in it (cp_ingress_dequeue_fair):
 * taking worker 0's first until the batch was full let a worker whose masters kept its
 * ring full hold back the other's signals and logins for seconds at full rate. */
static unsigned int dequeue(struct edge *e)
{
	e->n += cp_ingress_dequeue_fair(&e->c, e->batch + e->n, e->cfg->edge_batch - e->n,
					&e->next_worker);
	return e->n;
}

int cp_edge_run(struct cp_ctx *ctx)
{
	const struct cp_config *cfg = ctx->cfg;
	struct edge e;
	memset(&e, 0, sizeof(e));
	e.ctx = ctx;
	e.cfg = cfg;
	e.stop = ctx->stop;
	cp_redis_init(&e.r, cfg, ROLE);
	cp_redis_partial(&e.r);   /* on a cluster, a dead primary stops only its own masters */
	if (cp_ctx_stats_add(ctx, edge_stats, e.st) != 0)
		cp_log(CP_LOG_WARN, ROLE, "no room for its /metrics counters");
	cp_auth_init(&e.a, cfg);
	cp_edge_sessions_init(&e.es, cfg);
	e.mseen_cap = 1;
	while (e.mseen_cap < cfg->edge_batch * 2)
		e.mseen_cap <<= 1;
	e.batch = calloc(cfg->edge_batch, sizeof(*e.batch));
	e.status = calloc(cfg->edge_batch, sizeof(*e.status));
	e.acks = calloc(cfg->edge_batch, sizeof(*e.acks));
	e.mkey = calloc(e.mseen_cap, sizeof(*e.mkey));
	e.mgrp = calloc(e.mseen_cap, sizeof(*e.mgrp));
	e.gfirst = calloc(cfg->edge_batch, sizeof(*e.gfirst));
	e.glast = calloc(cfg->edge_batch, sizeof(*e.glast));
	e.nxt = calloc(cfg->edge_batch, sizeof(*e.nxt));
	e.gmaster = calloc(cfg->edge_batch, sizeof(*e.gmaster));
	e.gcount = calloc(cfg->edge_batch, sizeof(*e.gcount));
	e.pc = calloc((size_t)cfg->edge_batch + 1, sizeof(*e.pc));
	int rc = -ENOMEM;
	if (e.batch == NULL || e.status == NULL || e.acks == NULL || e.mkey == NULL ||
	    e.mgrp == NULL || e.gfirst == NULL || e.glast == NULL || e.nxt == NULL ||
	    e.gmaster == NULL || e.gcount == NULL || e.pc == NULL ||
	    cp_resp_reserve(&e.out[0], (size_t)cfg->edge_batch * 600 + 4096) != 0)
		goto out;
	rc = 0;
	while (!stopping(&e)) {
		uint64_t now = cp_now_ns();
		if (!e.a.loaded) {
			/* Never READY without credentials: wait for PostgreSQL. */
			if (cp_auth_load(&e.a) != 0) {
				cp_sleep_ms(20);
				continue;
			}
			e.next_reload = now + (uint64_t)cfg->auth_reload_s * 1000000000ull;
		}
		if (!e.attached)
			try_attach(&e, now);
		if (e.attached && e.need_push && now >= e.next_push) {
			int pr = push_initial(&e);
			if (pr != 0) {
				/* every primary short: again in a second (each try pushes the
				 * credentials and waits durability_wait_ms per WAIT) */
				if (pr == -EBUSY)
					e.next_push = now + 1000000000ull;
				cp_sleep_ms(20);
				check_health(&e, cp_now_ns());
				continue;
			}
			e.need_push = false;
		}
		check_auth(&e, now);
		check_health(&e, now);
		if (e.attached && !e.need_push)
			cp_edge_sessions_tick(&e.es, &e.r, &e.c, now);
		if (e.n == e.kept && e.attached && !e.need_push)
			dequeue(&e);
		/* a batch of only what waits for a primary that is down: not again at once
		 * (the idle wait below) */
		if (e.n > e.kept || (e.n > 0 && now >= e.kept_retry_ns)) {
			if (cp_redis_ensure(&e.r) != 0) {
				cp_sleep_ms(5);
				continue;
			}
			if (write_batch(&e) == 0) {
				e.batches++;
				publish_durable(&e);
				/* after the batch's signals: a claim reads a durable sequence that
				 * includes them */
				if (e.attached && !e.batch_stale)
					cp_edge_sessions_batch(&e.es, &e.r, &e.c, e.batch, e.n);
				send_acks(&e);
			}
			continue;
		}
		if (e.attached)
			cp_wait(&e.c, 10);
		else
			cp_sleep_ms(10);
	}
out:;
	uint64_t moved, asked, maps;
	cp_redis_redirects(&e.r, &moved, &asked, &maps);
	cp_log(CP_LOG_INFO, ROLE, "stopped: written=%" PRIu64 " duplicate=%" PRIu64 " gap=%" PRIu64
	       " events=%" PRIu64 " positions=%" PRIu64 " acked=%" PRIu64 " ack_dropped=%" PRIu64
	       " batches=%" PRIu64 " attaches=%" PRIu64 " not_durable=%" PRIu64 " primary_down=%"
	       PRIu64 " moved=%" PRIu64
	       " asked=%" PRIu64 " slot_maps=%" PRIu64 " logins=%" PRIu64 " logins_unavailable=%"
	       PRIu64 " logouts=%" PRIu64 " sessions_lost=%" PRIu64 " sessions_dropped=%" PRIu64
	       " resend_waits=%" PRIu64,
	       e.written, e.duplicate, e.gap, e.events, e.positions, e.acked, e.ack_dropped,
	       e.batches, e.attaches, e.not_durable, e.primary_down, moved, asked, maps, e.es.logins,
	       e.es.unavailable, e.es.logouts, e.es.lost, e.es.dropped, e.resend_waits);
	cp_ctx_stats_remove(ctx, edge_stats, e.st);
	if (e.attached)
		cp_shm_detach(&e.c);
	cp_edge_sessions_drop_all(&e.es, &e.r); /* our dataplane sessions end with us */
	cp_edge_sessions_fini(&e.es);
	cp_redis_close(&e.r);
	cp_auth_close(&e.a);
	free(e.batch);
	free(e.status);
	free(e.acks);
	free(e.mkey);
	free(e.mgrp);
	free(e.gfirst);
	free(e.glast);
	free(e.nxt);
	free(e.gmaster);
	free(e.gcount);
	for (unsigned int k = 0; k < CP_RCL_MAX_NODES; k++)
		free(e.out[k].p);
	free(e.pc);
	free(e.cmds);
	if (rc == -ENOMEM)
		cp_log(CP_LOG_ERR, ROLE, "out of memory");
	return rc;
}
