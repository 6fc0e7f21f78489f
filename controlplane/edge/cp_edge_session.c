/* cp_edge_session: live-session claims in Redis for logins the dataplane asks the edge to
 * confirm. Contract and picture in cp_edge_session.h; docs/control.md "Live sessions". */
#include "cp_edge_session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp_buf.h"
#include "cp_log.h"

#define ROLE "edge"

/*
 * decp_login(KEYS: session hash, generation counter, signals stream;
 *            ARGV: edge, worker, conn, peer, since_ms, ttl_ms)
 *   takes the next generation (the newest login wins), writes the claim and returns
 *   {generation, the stream's last sequence as text ("0": none), the edge that held the
 *   claim before or ""}.
 * decp_session_touch(KEYS: session hash, generation counter;
 *                    ARGV: edge, gen, worker, conn, peer, since_ms, ttl_ms)
 *   1 and the claim kept alive (re-written if it had expired) while gen is the newest;
 *   0 when a newer login took the master.
 * decp_logout(KEYS: session hash, generation counter; ARGV: gen)
 *   deletes the claim if gen is still the newest; 1 deleted, 0 not ours any more.
 * All keys of one master share its hash tag: one slot on Redis Cluster.
 */

const char cp_edge_session_library[] =
	"#!lua name=decp_session\n"
	"local function put(key, edge, gen, worker, conn, peer, since, ttl)\n"
	"  redis.call('DEL', key)\n"
	"  redis.call('HSET', key, 'edge', edge, 'gen', gen, 'worker', worker, 'conn', conn,\n"
	"             'peer', peer, 'since_ms', since)\n"
	"  redis.call('PEXPIRE', key, ttl)\n"
	"end\n"
	"redis.register_function('decp_login', function(keys, args)\n"
	"  local gen = redis.call('INCR', keys[2])\n"
	"  local prev = redis.call('HGET', keys[1], 'edge')\n"
	"  put(keys[1], args[1], gen, args[2], args[3], args[4], args[5], args[6])\n"
	"  local top = redis.call('XREVRANGE', keys[3], '+', '-', 'COUNT', 1)\n"
	"  local last = '0'\n"
	"  if #top > 0 then last = string.match(top[1][1], '^(%d+)') end\n"
	"  return {gen, last, prev or ''}\n"
	"end)\n"
	"redis.register_function('decp_session_touch', function(keys, args)\n"
	"  if redis.call('GET', keys[2]) ~= args[2] then return 0 end\n"
	"  if redis.call('PEXPIRE', keys[1], args[7]) == 0 then\n"
	"    put(keys[1], args[1], args[2], args[3], args[4], args[5], args[6], args[7])\n"
	"  end\n"
	"  return 1\n"
	"end)\n"
	"redis.register_function('decp_logout', function(keys, args)\n"
	"  if redis.call('GET', keys[2]) ~= args[1] then return 0 end\n"
	"  redis.call('DEL', keys[1])\n"
	"  return 1\n"
	"end)\n"
	"redis.register_function{function_name = '" CP_EDGE_SESSION_FN_VERSION "',\n"
	"  flags = {'no-writes'}, callback = function() return "
	CP_STR(CP_EDGE_SESSION_LIB_VERSION) " end}\n";

void cp_edge_sessions_init(struct cp_edge_sessions *es, const struct cp_config *cfg)
{
	memset(es, 0, sizeof(*es));
	es->cfg = cfg;
	if (cfg->edge_id[0] != '\0') {
		snprintf(es->edge_id, sizeof(es->edge_id), "%s", cfg->edge_id);
	} else {
		char host[64];
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "edge");
		host[sizeof(host) - 1] = '\0';
		snprintf(es->edge_id, sizeof(es->edge_id), "%s:%s", host,
			 cfg->shm[0] == '/' ? cfg->shm + 1 : cfg->shm);
	}
}

void cp_edge_sessions_fini(struct cp_edge_sessions *es)
{
	free(es->held);
	es->held = NULL;
	es->n_held = es->cap_held = 0;
}

const char *cp_rec_peer_str(const struct dp_ingress_rec *r, char *buf, size_t len)
{
	buf[0] = '\0';
	if (r->peer_family == 2 /* AF_INET */)
		snprintf(buf, len, "%u.%u.%u.%u:%u", r->peer_addr[0], r->peer_addr[1],
			 r->peer_addr[2], r->peer_addr[3], r->peer_port);
	return buf;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The library on every connection (each primary of a cluster), once per (re)connect. 0 or
 * -EAGAIN (connection dropped). */
static int ensure_library(struct cp_edge_sessions *es, struct cp_redis *r)
{
	if (r->ctx == NULL)
		return -EAGAIN;
	if (es->lib_connects == r->connects)
		return 0;
	for (unsigned int i = 0; i < cp_redis_nodes(r); i++) {
		if (cp_redis_node(r, i) == NULL)
			continue;   /* a cluster primary that is down: loaded when it is back */
		char why[256];
		if (cp_redis_load_library(cp_redis_node(r, i), cp_edge_session_library,
					  CP_EDGE_SESSION_FN_VERSION, CP_EDGE_SESSION_LIB_VERSION,
					  why, sizeof(why)) != 0) {
			CP_LOG_RL(CP_LOG_ERR, ROLE, "decp_session library: %s", why);
			/* that primary alone on a partial cluster (loaded at its reconnect) */
			if (cp_redis_node_down(r, i, "FUNCTION LOAD decp_session") != 0)
				return -EAGAIN;
			continue;
		}
	}
	es->lib_connects = r->connects;
	return 0;
}

/* A reply of a claim call: a cluster redirect (the slot moved) is counted and marks the map
 * stale (the call is retried by the master's next login or the next check); logged once in
 * a while otherwise. */
static void note_error(struct cp_redis *r, const redisReply *rep, const char *what)
{
	redisContext *ask = NULL;
	if (rep->type == REDIS_REPLY_ERROR && !cp_redis_redirect(r, rep, &ask))
		CP_LOG_RL(CP_LOG_ERR, ROLE, "%s: %s", what, rep->str);
}

static void key_session(char *buf, size_t len, uint64_t m)
{
	snprintf(buf, len, CP_REDIS_SESSION_KEY_FMT, m);
}

static void key_gen(char *buf, size_t len, uint64_t m)
{
	snprintf(buf, len, CP_REDIS_SESSION_GEN_KEY_FMT, m);
}

/* One answer or order onto worker w's ACK ring, retried for up to 1 s on a full ring (the
 * worker drains it every poll). A record that never fits is dropped: a pending login then
 * times out (Nack UNAVAILABLE), a CLOSE is sent again at the next check. */
static void to_worker(struct cp_shm *c, unsigned int w, const struct dp_ack_rec *a)
{
	uint64_t deadline = cp_now_ns() + 1000000000ull;
	while (cp_ack_enqueue(c, w, a, 1) != 1) {
		if (cp_now_ns() > deadline) {
			CP_LOG_RL(CP_LOG_WARN, ROLE, "ACK ring of worker %u full for 1 s: a session "
				  "answer dropped", w);
			return;
		}
		cp_sleep_ms(1);
	}
}

static int held_add(struct cp_edge_sessions *es, const struct cp_held_session *h)
{
	if (es->n_held == es->cap_held) {
		size_t cap = es->cap_held ? es->cap_held * 2 : 64;
		struct cp_held_session *n = realloc(es->held, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		es->held = n;
		es->cap_held = cap;
	}
	es->held[es->n_held++] = *h;
	return 0;
}

static void held_remove_at(struct cp_edge_sessions *es, size_t i)
{
	es->held[i] = es->held[--es->n_held];
}

/* Drop (master, gen) from the table if held. */
static void held_forget(struct cp_edge_sessions *es, uint64_t master, uint64_t gen)
{
	for (size_t i = 0; i < es->n_held; i++)
		if (es->held[i].master_id == master && es->held[i].gen == gen) {
			held_remove_at(es, i);
			return;
		}
}

/* Each call goes to the connection serving the master's slot (the only one without a
 * cluster), whose index it returns: its reply is read from there. CP_REDIS_NO_NODE
 * (nothing sent) when that slot's primary is down (a cluster, cp_redis_partial). */
static unsigned int append_logout(struct cp_redis *r, uint64_t master, uint64_t gen)
{
	char ks[64], kg[64], g[24];
	key_session(ks, sizeof(ks), master);
	key_gen(kg, sizeof(kg), master);
	snprintf(g, sizeof(g), "%" PRIu64, gen);
	unsigned int k;
	redisContext *c = cp_redis_at_node(r, ks, &k);
	if (c != NULL)
		redisAppendCommand(c, "FCALL decp_logout 2 %s %s %s", ks, kg, g);
	return k;
}

static unsigned int append_login(struct cp_edge_sessions *es, struct cp_redis *r,
				 const struct dp_ingress_rec *rec, int64_t now_ms)
{
	char ks[64], kg[64], kq[64], peer[48];
	key_session(ks, sizeof(ks), rec->master_id);
	key_gen(kg, sizeof(kg), rec->master_id);
	cp_redis_key_signals(kq, sizeof(kq), rec->master_id);
	cp_rec_peer_str(rec, peer, sizeof(peer));
	unsigned int k;
	redisContext *c = cp_redis_at_node(r, ks, &k);
	if (c != NULL)
		redisAppendCommand(c, "FCALL decp_login 3 %s %s %s %s %u %" PRIu64 " %s %" PRId64
				   " %u", ks, kg, kq, es->edge_id, (unsigned int)rec->worker,
				   rec->conn_id, peer, now_ms, CP_EDGE_SESSION_TTL_MS);
	return k;
}

/* Parse decp_login's reply {gen, last, prev}. 0 or -EPROTO. */
static int login_reply(const redisReply *rep, uint64_t *gen, uint64_t *last)
{
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER || rep->element[0]->integer <= 0 ||
	    rep->element[1]->type != REDIS_REPLY_STRING)
		return -EPROTO;
	*gen = (uint64_t)rep->element[0]->integer;
	*last = strtoull(rep->element[1]->str, NULL, 10);
	return 0;
}

static bool is_session_rec(const struct dp_ingress_rec *r)
{
	return (r->kind == DP_REC_LOGIN || r->kind == DP_REC_LOGOUT) && r->master_id != 0;
}

/* Every login of the batch answered LOGIN_UNAVAILABLE. */
static void refuse_all(struct cp_edge_sessions *es, struct cp_shm *c,
		       const struct dp_ingress_rec *recs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		if (recs[i].kind != DP_REC_LOGIN || !is_session_rec(&recs[i]))
			continue;
		struct dp_ack_rec a = {.master_id = recs[i].master_id, .conn_id = recs[i].conn_id,
				       .status = DP_ACK_LOGIN_UNAVAILABLE};
		to_worker(c, recs[i].worker, &a);
		es->unavailable++;
	}
}

/* A primary's WAIT reply: enough replicas have every write before it. */
static bool wait_ok(const struct cp_edge_sessions *es, const redisReply *w)
{
	return w != NULL && w->type == REDIS_REPLY_INTEGER &&
	       w->integer >= (long long)es->cfg->durability_replicas;
}

int cp_edge_sessions_batch(struct cp_edge_sessions *es, struct cp_redis *r, struct cp_shm *c,
			   const struct dp_ingress_rec *recs, unsigned int n)
{
	unsigned int sent = 0;
	for (unsigned int i = 0; i < n; i++)
		sent += is_session_rec(&recs[i]);
	if (sent == 0)
		return 0;
	if (cp_redis_ensure(r) != 0 || ensure_library(es, r) != 0) {
		refuse_all(es, c, recs, n);
		return -EAGAIN;
	}
	int64_t now_ms = wall_ms();
	bool wait = cp_durability_waits(es->cfg->durability);
	unsigned int nw = wait ? cp_redis_nodes(r) : 0, total = sent + nw;
	/* replies[j] comes from node[j]: each call's primary, then a WAIT on every primary.
	 * No SADD of decp:masters and no WAIT of its primary here: the set is a shortcut (the
	 * batch's SADD lists every master that writes; the archiver and the book role also
	 * find streams by SCAN and list them again, cp_discover.h), so a HelloAck waits only
	 * for the primary of the master's own stream. */
	redisReply **reps = calloc(total, sizeof(*reps));
	unsigned int *node = calloc(total, sizeof(*node));
	if (reps == NULL || node == NULL) {
		free(reps);
		free(node);
		refuse_all(es, c, recs, n);
		return -ENOMEM;
	}
	unsigned int k = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (!is_session_rec(&recs[i]))
			continue;
		node[k++] = recs[i].kind == DP_REC_LOGIN
			? append_login(es, r, &recs[i], now_ms)
			: append_logout(r, recs[i].master_id, recs[i].session_gen);
	}
	for (unsigned int i = 0; i < nw; i++, k++) {
		node[k] = cp_redis_node(r, i) != NULL ? i : CP_REDIS_NO_NODE;
		if (node[k] != CP_REDIS_NO_NODE)
			redisAppendCommand(cp_redis_node(r, i), "WAIT %u %u",
					   es->cfg->durability_replicas, es->cfg->durability_wait_ms);
	}

	/* Read every reply first: with durability = replica|both the WAITs at the end decide
	 * whether the durable sequences read may be told to the masters, each login by the
	 * WAIT of its own primary (on a cluster, a primary that lost its replica refuses only
	 * its own masters). A primary that is down, or fails now: no reply (reps[j] NULL),
	 * its logins are answered UNAVAILABLE. */
	int rc = cp_redis_read_replies(r, node, reps, total, "claiming live sessions");
	unsigned int short_nodes = 0;
	for (unsigned int j = sent; j < total; j++)
		short_nodes += node[j] != CP_REDIS_NO_NODE && !wait_ok(es, reps[j]);
	unsigned int j = 0;
	for (unsigned int i = 0; i < n && rc == 0; i++) {
		const struct dp_ingress_rec *rec = &recs[i];
		if (!is_session_rec(rec))
			continue;
		const redisReply *rep = reps[j++];
		if (rec->kind == DP_REC_LOGOUT) {
			held_forget(es, rec->master_id, rec->session_gen);
			es->logouts++;
			continue;
		}
		struct dp_ack_rec a = {.master_id = rec->master_id, .conn_id = rec->conn_id,
				       .status = DP_ACK_LOGIN_UNAVAILABLE};
		uint64_t gen = 0, last = 0;
		if (rep != NULL)   /* NULL: its primary is down (UNAVAILABLE: it retries) */
			note_error(r, rep, "decp_login");
		bool durable = !wait || (node[j - 1] != CP_REDIS_NO_NODE &&
					 wait_ok(es, reps[sent + node[j - 1]]));
		if (rep != NULL && login_reply(rep, &gen, &last) == 0 && durable) {
			struct cp_held_session h = {.master_id = rec->master_id, .gen = gen,
						    .conn_id = rec->conn_id, .worker = rec->worker,
						    .since_ms = now_ms};
			cp_rec_peer_str(rec, h.peer, sizeof(h.peer));
			if (held_add(es, &h) == 0) {
				a.status = DP_ACK_LOGIN_OK;
				a.sequence = last;
				a.session_gen = gen;
				es->logins++;
				if (rep->element[2]->type == REDIS_REPLY_STRING &&
				    rep->element[2]->len > 0 &&
				    strcmp(rep->element[2]->str, es->edge_id) != 0)
					cp_log(CP_LOG_INFO, ROLE, "master %" PRIu64 " logged in here "
					       "(generation %" PRIu64 ", durable %" PRIu64 "), taken "
					       "over from edge %s", rec->master_id, gen, last,
					       rep->element[2]->str);
			}
		}
		if (a.status != DP_ACK_LOGIN_OK)
			es->unavailable++;
		to_worker(c, rec->worker, &a);
	}
	for (unsigned int j2 = 0; j2 < total; j2++)
		freeReplyObject(reps[j2]);
	free(reps);
	free(node);
	if (rc != 0)
		refuse_all(es, c, recs, n);
	if (short_nodes > 0 && rc == 0)
		CP_LOG_RL(CP_LOG_WARN, ROLE, "durability = %s: the replicas of %u of %u Redis "
			  "primaries are behind: their masters' logins answered UNAVAILABLE (the "
			  "masters retry)", cp_durability_name(es->cfg->durability), short_nodes, nw);
	return rc;
}

void cp_edge_sessions_tick(struct cp_edge_sessions *es, struct cp_redis *r, struct cp_shm *c,
			   uint64_t now_ns)
{
	if (now_ns < es->next_check)
		return;
	es->next_check = now_ns + CP_EDGE_SESSION_CHECK_MS * 1000000ull;
	if (es->n_held == 0 || cp_redis_ensure(r) != 0 || ensure_library(es, r) != 0)
		return;
	size_t n = es->n_held;
	uint8_t *lost = calloc(n, 1);
	unsigned int *node = calloc(n, sizeof(*node));
	redisReply **reps = calloc(n, sizeof(*reps));
	if (lost == NULL || node == NULL || reps == NULL) {
		free(lost);
		free(node);
		free(reps);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cp_held_session *h = &es->held[i];
		char ks[64], kg[64];
		key_session(ks, sizeof(ks), h->master_id);
		key_gen(kg, sizeof(kg), h->master_id);
		redisContext *to = cp_redis_at_node(r, ks, &node[i]);
		if (to == NULL)
			continue;   /* its primary is down: touched at a later check */
		redisAppendCommand(to, "FCALL decp_session_touch 2 %s %s %s %" PRIu64 " %u %"
				   PRIu64 " %s %" PRId64 " %u", ks, kg, es->edge_id, h->gen,
				   (unsigned int)h->worker, h->conn_id, h->peer, h->since_ms,
				   CP_EDGE_SESSION_TTL_MS);
	}
	/* Replies in table order (a primary that fails now: its sessions are touched at a
	 * later check); lost claims are collected first, removed after. */
	int rc = cp_redis_read_replies(r, node, reps, n, "checking live sessions");
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (reps[i] == NULL)
			continue;
		if (reps[i]->type == REDIS_REPLY_INTEGER && reps[i]->integer == 0)
			lost[i] = 1;
		else
			note_error(r, reps[i], "decp_session_touch");
	}
	for (size_t i = 0; i < n; i++)
		freeReplyObject(reps[i]);
	free(reps);
	free(node);
	if (rc != 0) {
		free(lost);
		return;
	}
	for (size_t i = n; i-- > 0;) {
		if (!lost[i])
			continue;
		const struct cp_held_session *h = &es->held[i];
		struct dp_ack_rec a = {.master_id = h->master_id, .conn_id = h->conn_id,
				       .session_gen = h->gen, .status = DP_ACK_CLOSE};
		if (c != NULL && c->s.hdr != NULL && h->worker < c->s.hdr->n_workers)
			to_worker(c, h->worker, &a);
		cp_log(CP_LOG_INFO, ROLE, "master %" PRIu64 ": a newer login elsewhere took its "
		       "session (generation %" PRIu64 "): closing it here", h->master_id, h->gen);
		es->lost++;
		held_remove_at(es, i);
	}
	free(lost);
}

void cp_edge_sessions_drop_all(struct cp_edge_sessions *es, struct cp_redis *r)
{
	size_t n = es->n_held;
	if (n == 0)
		return;
	es->dropped += n;
	unsigned int *node = calloc(n, sizeof(*node));
	redisReply **reps = calloc(n, sizeof(*reps));
	if (node != NULL && reps != NULL && cp_redis_ensure(r) == 0 && ensure_library(es, r) == 0) {
		/* a primary that is down or fails: those claims expire by their TTL */
		for (size_t i = 0; i < n; i++)
			node[i] = append_logout(r, es->held[i].master_id, es->held[i].gen);
		cp_redis_read_replies(r, node, reps, n, "clearing the sessions of a dataplane gone");
		for (size_t i = 0; i < n; i++)
			freeReplyObject(reps[i]);
	}
	free(reps);
	free(node);
	cp_log(CP_LOG_INFO, ROLE, "dataplane gone: %zu live session claim(s) released", n);
	es->n_held = 0;
}
