/* cp_redis: one Redis connection of a role (timeouts, backoff, the decp function library
 * loaded on every connect) and the RESP writer for hand-formatted pipelines. Contract in
 * cp_redis.h; key layout in docs/control.md "Redis key layout". */
#include "cp_redis.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cp_buf.h"
#include "cp_log.h"
#include "cp_redis_rec.h"

/*
 * decp_signals(KEYS: signals stream; ARGV: seq, record, seq, record, ...)
 *   appends each signal of one master as stream entry <seq>-0 with the one field "r" =
 *   record (the packed layout of cp_redis_rec.h) (what the edge sends: one
 *   call per master per batch) and returns one status character per signal, in order:
 *     '1'  written
 *     '0'  duplicate: seq <= last entry of the stream (already durable), nothing written
 *     '-'  gap: seq > last + 1 (its predecessor was lost on the way, e.g. dequeued by a
 *          killed decp-control); nothing written, the master resends from HelloAck
 *   (a string rather than an array of integers: one reply object per call, not one per
 *   signal, for the edge to parse).
 * decp_signals_pub(KEYS: signals stream; ARGV: the master's shard channel, then the same
 *   pairs) is decp_signals, then, when it wrote anything, SPUBLISH on the channel
 *   (CP_REDIS_TAIL_CHANNEL_FMT: same hash tag, so same slot: Redis allows a function to
 *   publish there, and refuses a channel of another slot) of what it wrote, as
 *   "<seq>:<record length>:<record>" per written signal, in order (parsed by
 *   cp_ctail_push.h). The channel is an argument, not a key: declared as a key it made
 *   the call a multi-key command, which Redis refuses with TRYAGAIN while the slot is
 *   being migrated (a shard channel, unlike a key, is served by the source until the
 *   migration ends). The edge calls it instead of decp_signals on a Redis Cluster with
 *   redis_notify (default): a standalone fan-out's cluster tail
 *   (controlplane/fanout/cp_fanout_ctail.h) gets the signals as the single-Redis tail's
 *   XREAD BLOCK does, in the same event-loop turn, without a second command or round trip.
 * decp_signals_run(KEYS: signals stream; ARGV: first seq, record, record, ...) is
 *   decp_signals for records of consecutive sequences first, first + 1, ...: one argument
 *   per signal instead of two, and when the run continues the stream (the usual case) no
 *   per-signal comparison (docs/perf.md "One fdatasync per batch": 7-13 % less Redis CPU
 *   per signal). The edge sends it for a master whose records in the batch are consecutive.
 * decp_signal(the same ARGV for one signal) returns 1, 0 or -1 for the same three cases.
 * Sequences must stay below 2^53 (Lua numbers are doubles).
 *
 * The stream is also the archive feed: the archiver reads it through its consumer group
 * (docs/control.md), so one XADD per signal is the whole durable write.
 *
 * decp_protection(KEYS: events stream, archive stream; ARGV: field, value, ...)
 *   appends the event to both (the events stream is capped near 1,000,000 entries).
 */
const char cp_redis_library[] =
	"#!lua name=" CP_REDIS_LIB "\n"
	"local function last_seq(key)\n"
	"  local top = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)\n"
	"  if #top == 0 then return 0 end\n"
	"  return tonumber(string.match(top[1][1], '^(%d+)'))\n"
	"end\n"
	"local function append_last(keys, args, first, pub)\n"
	"  local out = {}\n"
	"  local last = last_seq(keys[1])\n"
	"  for i = first, #args, 2 do\n"
	"    local seq = tonumber(args[i])\n"
	"    if seq <= last then out[#out + 1] = '0'\n"
	"    elseif seq ~= last + 1 then out[#out + 1] = '-'\n"
	"    else\n"
	"      redis.call('XADD', keys[1], args[i] .. '-0', '" CP_REC_FIELD "', args[i+1])\n"
	"      last = seq\n"
	"      out[#out + 1] = '1'\n"
	"      if pub then\n"
	"        pub[#pub + 1] = args[i] .. ':' .. string.len(args[i+1]) .. ':'\n"
	"        pub[#pub + 1] = args[i+1]\n"
	"      end\n"
	"    end\n"
	"  end\n"
	"  return table.concat(out)\n"
	"end\n"
	"local function append(keys, args)\n"
	"  return append_last(keys, args, 1, nil)\n"
	"end\n"
	"redis.register_function('" CP_REDIS_FN_SIGNAL "', function(keys, args)\n"
	"  local s = append(keys, args)\n"
	"  if s == '1' then return 1 elseif s == '0' then return 0 else return -1 end\n"
	"end)\n"
	"redis.register_function('" CP_REDIS_FN_SIGNALS "', append)\n"
	"redis.register_function('" CP_REDIS_FN_SIGNALS_RUN "', function(keys, args)\n"
	"  local key, n, first = keys[1], #args - 1, tonumber(args[1])\n"
	"  if first ~= last_seq(key) + 1 then\n"
	"    local p = {}\n"   /* not continuing the stream (rare): decp_signals' checks */
	"    for j = 1, n do\n"
	"      p[2 * j - 1] = string.format('%d', first + j - 1)\n"
	"      p[2 * j] = args[j + 1]\n"
	"    end\n"
	"    return append(keys, p)\n"
	"  end\n"
	"  for j = 1, n do\n"
	"    redis.call('XADD', key, string.format('%d-0', first + j - 1), '" CP_REC_FIELD "',\n"
	"               args[j + 1])\n"
	"  end\n"
	"  return string.rep('1', n)\n"
	"end)\n"
	"redis.register_function('" CP_REDIS_FN_SIGNALS_PUB "', function(keys, args)\n"
	"  local pub = {}\n"
	"  local s = append_last(keys, args, 2, pub)\n"
	"  if #pub > 0 then redis.call('SPUBLISH', args[1], table.concat(pub)) end\n"
	"  return s\n"
	"end)\n"
	"redis.register_function('" CP_REDIS_FN_PROTECTION "', function(keys, args)\n"
	"  redis.call('XADD', keys[1], 'MAXLEN', '~', '1000000', '*', unpack(args))\n"
	"  redis.call('XADD', keys[2], '*', unpack(args))\n"
	"  return 1\n"
	"end)\n"
	"redis.register_function{function_name = '" CP_REDIS_FN_VERSION "', flags = {'no-writes'},\n"
	"  callback = function() return " CP_STR(CP_REDIS_LIB_VERSION) " end}\n";

/* Loaded when a connection keeps the library it found: a write all the same (below). The
 * same text in every build, its own name: it never replaces anyone's functions. */
static const char conn_library[] =
	"#!lua name=decp_conn\n"
	"redis.register_function('decp_conn_mark', function() return 1 end)\n";

int cp_redis_append_mark(redisContext *c)
{
	return redisAppendCommand(c, "FUNCTION LOAD REPLACE %s", conn_library) == REDIS_OK ? 0
											     : -EIO;
}

int cp_redis_load_library(redisContext *c, const char *code, const char *ver_fn,
			  long long version, char *why, size_t whylen)
{
	redisReply *rep = redisCommand(c, "FCALL_RO %s 0", ver_fn);
	if (rep == NULL) {
		snprintf(why, whylen, "FCALL_RO %s: %s", ver_fn, c->err ? c->errstr : "no reply");
		return -EAGAIN;
	}
	/* an error (no such function: an older library, or none) means load ours */
	bool kept = rep->type == REDIS_REPLY_INTEGER && rep->integer >= version;
	freeReplyObject(rep);
	/* A new connection writes once, whether it loads or keeps: WAIT counts the replicas
	 * that have this connection's last write (from Redis 7.2 on, the last command that
	 * wrote; cp_redis_append_mark), and one that wrote nothing gets every
	 * connected replica at once, even a stopped one. The edge's WAIT after a pipeline
	 * of resends only (duplicates, nothing written) would then confirm entries another
	 * connection wrote and no replica has. A FUNCTION LOAD is written to the replication
	 * stream after everything this primary took before it, so a WAIT covering it covers
	 * those too. */
	rep = redisCommand(c, "FUNCTION LOAD REPLACE %s", kept ? conn_library : code);
	if (rep == NULL) {
		snprintf(why, whylen, "FUNCTION LOAD: %s", c->err ? c->errstr : "no reply");
		return -EAGAIN;
	}
	int rc = 0;
	if (rep->type == REDIS_REPLY_ERROR) {
		/* LOADING (AOF replay after a restart), READONLY (a demoted primary) and the
		 * like: retry later. */
		snprintf(why, whylen, "FUNCTION LOAD: %s", rep->str);
		rc = -EAGAIN;
	}
	freeReplyObject(rep);
	return rc;
}

void cp_redis_init(struct cp_redis *r, const struct cp_config *cfg, const char *role)
{
	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->role = role;
	snprintf(r->host, sizeof(r->host), "%s", cfg->redis_host);
	r->port = cfg->redis_port;
	r->backoff_ms = 50;
}

const char *cp_redis_key_signals(char *buf, size_t len, uint64_t master)
{
	snprintf(buf, len, CP_REDIS_SIGNALS_KEY_FMT, master);
	return buf;
}

const char *cp_redis_key_tail(char *buf, size_t len, uint64_t master)
{
	snprintf(buf, len, CP_REDIS_TAIL_CHANNEL_FMT, master);
	return buf;
}

const char *cp_redis_key_positions(char *buf, size_t len, uint64_t master)
{
	snprintf(buf, len, CP_REDIS_POSITIONS_KEY_FMT, master);
	return buf;
}

void cp_redis_close(struct cp_redis *r)
{
	if (r->cl != NULL) {
		cp_rcluster_close(r->cl); /* r->ctx is one of its connections */
		free(r->cl);
		r->cl = NULL;
	} else if (r->ctx != NULL) {
		redisFree(r->ctx);
	}
	r->ctx = NULL;
}

/* Drop the connection(s); keeps the cluster state (counters) for the next connect. */
static void drop(struct cp_redis *r)
{
	if (r->cl != NULL)
		cp_rcluster_close(r->cl);
	else if (r->ctx != NULL)
		redisFree(r->ctx);
	r->ctx = NULL;
}

/* Ask one Sentinel (host:port, len bytes of it) for the primary's address. 0 or -EAGAIN. */
static int sentinel_ask(const struct cp_config *cfg, const char *hp, size_t len, char *host,
			size_t hostlen, uint32_t *port)
{
	char h[256];
	const char *colon = memrchr(hp, ':', len);
	struct timeval tv = {(time_t)(cfg->redis_timeout_ms / 1000),
			     (suseconds_t)(cfg->redis_timeout_ms % 1000) * 1000};
	redisContext *c;
	redisReply *rep;
	int rc = -EAGAIN;

	if (colon == NULL || (size_t)(colon - hp) >= sizeof(h))
		return -EAGAIN;
	memcpy(h, hp, (size_t)(colon - hp));
	h[colon - hp] = '\0';
	c = redisConnectWithTimeout(h, atoi(colon + 1), tv);
	if (c == NULL || c->err || redisSetTimeout(c, tv) != REDIS_OK) {
		redisFree(c);
		return -EAGAIN;
	}
	rep = redisCommand(c, "SENTINEL get-master-addr-by-name %s", cfg->redis_sentinel_master);
	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_STRING && rep->element[1]->type == REDIS_REPLY_STRING &&
	    strlen(rep->element[0]->str) < hostlen) {
		snprintf(host, hostlen, "%s", rep->element[0]->str);
		*port = (uint32_t)atoi(rep->element[1]->str);
		rc = *port > 0 && *port < 65536 ? 0 : -EAGAIN;
	}
	freeReplyObject(rep);
	redisFree(c);
	return rc;
}

int cp_redis_target(const struct cp_config *cfg, char *host, size_t hostlen, uint32_t *port,
		    char *why, size_t whylen)
{
	const char *p = cfg->redis_sentinels;

	if (p[0] == '\0') {
		snprintf(host, hostlen, "%s", cfg->redis_host);
		*port = cfg->redis_port;
		return 0;
	}
	while (*p != '\0') {
		size_t n = strcspn(p, ",");

		if (sentinel_ask(cfg, p, n, host, hostlen, port) == 0)
			return 0;
		p += n + (p[n] == ',');
	}
	snprintf(why, whylen, "no Sentinel of %s knows a primary named %s", cfg->redis_sentinels,
		 cfg->redis_sentinel_master);
	return -EAGAIN;
}

void cp_redis_fail(struct cp_redis *r, const char *what)
{
	const char *detail = r->ctx != NULL && r->ctx->err ? r->ctx->errstr : "";

	if (strstr(what, detail) != NULL)   /* the why of a failed connect carries it already */
		detail = "";
	if (r->cl != NULL)
		CP_LOG_RL(CP_LOG_ERR, r->role, "redis cluster %s: %s; reading the slot map again "
			  "with backoff", r->cfg->redis_nodes, what);
	else
		CP_LOG_RL(CP_LOG_ERR, r->role, "redis %s:%u: %s%s%s; retrying with backoff",
			  r->host, r->port, what, *detail ? ": " : "", detail);
	drop(r);
	r->was_down = true;
	r->next_try_ns = cp_now_ns() + (uint64_t)r->backoff_ms * 1000000ull;
	r->backoff_ms = r->backoff_ms * 2 > r->cfg->backoff_max_ms ? r->cfg->backoff_max_ms
								   : r->backoff_ms * 2;
}

/* A new connection (either mode): keep the reply buffer, load the function library.
 * 0 or -EAGAIN (why). */
static int prepare(void *arg, redisContext *c, char *why, size_t whylen)
{
	(void)arg;
	/* Keep the reply buffer between reads: by default hiredis frees it whenever it is
	 * empty and larger than 16 KiB, and a busy role re-grows it on every batch. */
	c->reader->maxbuf = 0;
	return cp_redis_load_library(c, cp_redis_library, CP_REDIS_FN_VERSION,
				     CP_REDIS_LIB_VERSION, why, whylen);
}

static void connected(struct cp_redis *r)
{
	r->connects++;
	r->backoff_ms = 50;
	if (r->was_down && r->cl != NULL)
		cp_log(CP_LOG_INFO, r->role, "redis cluster %s: connected again (%u primaries)",
		       r->cfg->redis_nodes, r->cl->map.n);
	else if (r->was_down)
		cp_log(CP_LOG_INFO, r->role, "redis %s:%u: connected again", r->host, r->port);
	r->was_down = false;
}

/* The first primary connected: ctx, the "connected" marker; NULL when none. */
static redisContext *first_live(struct cp_redis *r)
{
	for (unsigned int i = 0; i < r->cl->map.n; i++)
		if (r->cl->ctx[i] != NULL) {
			snprintf(r->host, sizeof(r->host), "%s", r->cl->map.node[i].host);
			r->port = r->cl->map.node[i].port;
			return r->cl->ctx[i];
		}
	return NULL;
}

/* Partial: the next look for the missing primaries, with backoff. */
static void partial_backoff(struct cp_redis *r)
{
	r->next_full_ns = cp_now_ns() + (uint64_t)r->full_backoff_ms * 1000000ull;
	r->full_backoff_ms = r->full_backoff_ms * 2 > r->cfg->backoff_max_ms ?
			     r->cfg->backoff_max_ms : r->full_backoff_ms * 2;
}

/* Redis Cluster: (re)read the map and connect to every primary (partial: to those that
 * answer, looking for the others again with backoff). */
static int ensure_cluster(struct cp_redis *r)
{
	char why[640];

	if (r->cl == NULL) {
		r->cl = malloc(sizeof(*r->cl));
		if (r->cl == NULL) {
			cp_redis_fail(r, "out of memory");
			return -EAGAIN;
		}
		cp_rcluster_init(r->cl, r->cfg->redis_nodes, r->cfg->redis_timeout_ms);
		r->cl->partial = r->partial;
	}
	if (r->ctx != NULL && !r->cl->stale &&
	    (r->cl->complete || cp_now_ns() < r->next_full_ns))
		return 0;
	if (r->ctx != NULL && r->map_failed && cp_now_ns() < r->next_full_ns)
		return 0;   /* partial: the last look found no seed; what works stays meanwhile */
	if (r->ctx == NULL && cp_now_ns() < r->next_try_ns)
		return -EAGAIN;
	/* a stale map (MOVED) is read again at once: the connections that still serve stay */
	if (cp_rcluster_connect(r->cl, prepare, NULL, why, sizeof(why)) != 0) {
		if (r->ctx != NULL && r->cl->connected) {   /* partial: kept */
			CP_LOG_RL(CP_LOG_WARN, r->role, "redis cluster %s: %s; the primaries "
				  "connected go on", r->cfg->redis_nodes, why);
			r->map_failed = true;
			partial_backoff(r);
			return 0;
		}
		r->ctx = NULL;
		cp_redis_fail(r, why);
		return -EAGAIN;
	}
	r->map_failed = false;
	r->ctx = first_live(r);
	if (!r->cl->complete) {
		CP_LOG_RL(CP_LOG_WARN, r->role, "redis cluster %s: %s; the other primaries go on "
			  "(the keys it serves wait)", r->cfg->redis_nodes, why);
		partial_backoff(r);
		r->was_down = true;
		r->backoff_ms = 50;
		r->connects++;   /* new connections: their per-connection setup is redone */
		return 0;
	}
	r->full_backoff_ms = 50;
	connected(r);
	return 0;
}

void cp_redis_partial(struct cp_redis *r)
{
	r->partial = true;
	r->full_backoff_ms = 50;
}

int cp_redis_node_down(struct cp_redis *r, unsigned int i, const char *what)
{
	if (r->cl == NULL || !r->cl->partial || i >= r->cl->map.n) {
		cp_redis_fail(r, what);
		return -EAGAIN;
	}
	if (cp_rcluster_drop_node(r->cl, i) == 0) {
		r->ctx = NULL;   /* freed with it: the last one */
		cp_redis_fail(r, what);
		return -EAGAIN;
	}
	CP_LOG_RL(CP_LOG_ERR, r->role, "redis cluster %s: primary %s:%u: %s; the other primaries "
		  "go on, the map is read again with backoff", r->cfg->redis_nodes,
		  r->cl->map.node[i].host, r->cl->map.node[i].port, what);
	r->ctx = first_live(r);
	r->was_down = true;
	if (r->next_full_ns < cp_now_ns())
		partial_backoff(r);
	return 0;
}

int cp_redis_read_replies(struct cp_redis *r, const unsigned int *node, redisReply **reps,
			  size_t n, const char *what)
{
	for (size_t j = 0; j < n; j++) {
		/* NULL: not sent, or its primary failed at an earlier reply (dropped since) */
		redisContext *c = node[j] != CP_REDIS_NO_NODE ? cp_redis_node(r, node[j]) : NULL;
		if (c == NULL)
			continue;
		if (redisGetReply(c, (void **)&reps[j]) == REDIS_OK && reps[j] != NULL)
			continue;
		if (cp_redis_node_down(r, node[j], what) != 0)
			return -EAGAIN;
	}
	return 0;
}

redisContext *cp_redis_at_node(const struct cp_redis *r, const char *key, unsigned int *node)
{
	unsigned int k = cp_redis_node_of(r, key);
	redisContext *c = cp_redis_node(r, k);
	*node = c != NULL ? k : CP_REDIS_NO_NODE;
	return c;
}

redisContext *cp_redis_ready_at(struct cp_redis *r, const char *key)
{
	return cp_redis_ensure(r) == 0 ? cp_redis_at(r, key) : NULL;
}

int cp_redis_ensure(struct cp_redis *r)
{
	if (r->cfg->redis_nodes[0] != '\0')
		return ensure_cluster(r);
	if (r->ctx != NULL)
		return 0;
	if (cp_now_ns() < r->next_try_ns)
		return -EAGAIN;
	struct timeval tv = {(time_t)(r->cfg->redis_timeout_ms / 1000),
			     (suseconds_t)(r->cfg->redis_timeout_ms % 1000) * 1000};
	char why[640];
	if (cp_redis_target(r->cfg, r->host, sizeof(r->host), &r->port, why, sizeof(why)) != 0) {
		cp_redis_fail(r, why);
		return -EAGAIN;
	}
	r->ctx = redisConnectWithTimeout(r->host, (int)r->port, tv);
	if (r->ctx == NULL || r->ctx->err) {
		cp_redis_fail(r, "connect");
		return -EAGAIN;
	}
	if (redisSetTimeout(r->ctx, tv) != REDIS_OK) {
		cp_redis_fail(r, "set timeout");
		return -EAGAIN;
	}
	if (prepare(NULL, r->ctx, why, sizeof(why)) != 0) {
		cp_redis_fail(r, why);
		return -EAGAIN;
	}
	connected(r);
	return 0;
}

bool cp_redis_is_cluster(const struct cp_redis *r)
{
	return r->cl != NULL;
}

void cp_redis_redirects(const struct cp_redis *r, uint64_t *moved, uint64_t *asked,
			uint64_t *maps)
{
	*moved = r->cl != NULL ? r->cl->moved : 0;
	*asked = r->cl != NULL ? r->cl->asked : 0;
	*maps = r->cl != NULL ? r->cl->maps : 0;
}

unsigned int cp_redis_nodes(const struct cp_redis *r)
{
	return r->cl != NULL ? r->cl->map.n : 1;
}

redisContext *cp_redis_node(const struct cp_redis *r, unsigned int i)
{
	if (r->cl == NULL)
		return r->ctx;
	return i < r->cl->map.n ? r->cl->ctx[i] : NULL;
}

unsigned int cp_redis_node_of(const struct cp_redis *r, const char *key)
{
	return r->cl != NULL ? cp_rcluster_node_of(r->cl, key, strlen(key)) : 0;
}

redisContext *cp_redis_at(const struct cp_redis *r, const char *key)
{
	return cp_redis_node(r, cp_redis_node_of(r, key));
}

bool cp_redis_redirect(struct cp_redis *r, const redisReply *rep, redisContext **ask_to)
{
	struct cp_rcl_redirect to;

	*ask_to = NULL;
	if (r->cl == NULL || !cp_rcluster_note(r->cl, rep, &to))
		return false;
	if (to.ask) {
		int k = cp_rcluster_node_at(r->cl, &to.to);
		if (k >= 0)
			*ask_to = r->cl->ctx[k];
		else
			r->cl->stale = true; /* a primary we do not know: read the map again */
	}
	return true;
}

int cp_redis_fail_key(struct cp_redis *r, const char *key, const char *what)
{
	if (r->cl == NULL || !r->cl->partial) {
		cp_redis_fail(r, what);
		return -EAGAIN;
	}
	if (cp_redis_at(r, key) != NULL)
		return cp_redis_node_down(r, cp_redis_node_of(r, key), what);
	return r->ctx != NULL ? 0 : -EAGAIN;
}

redisReply *cp_redis_command_argv(struct cp_redis *r, const char *key, int argc,
				  const char **argv, const size_t *lens)
{
	if (cp_redis_at(r, key) == NULL)
		return NULL;   /* partial: its primary is down */
	redisReply *rep = redisCommandArgv(cp_redis_at(r, key), argc, argv, lens);
	redisContext *ask;

	if (!cp_redis_redirect(r, rep, &ask))
		return rep;
	freeReplyObject(rep);
	if (ask != NULL) {
		redisAppendCommand(ask, "ASKING");
		redisAppendCommandArgv(ask, argc, argv, lens);
		redisReply *ok = NULL;
		rep = NULL;
		if (redisGetReply(ask, (void **)&ok) != REDIS_OK ||
		    redisGetReply(ask, (void **)&rep) != REDIS_OK) {
			freeReplyObject(ok);
			return NULL;
		}
		freeReplyObject(ok);
		return rep;
	}
	/* MOVED: the slot now points at the named primary when it is connected */
	return cp_redis_at(r, key) != NULL ? redisCommandArgv(cp_redis_at(r, key), argc, argv, lens)
					   : NULL;
}

int cp_resp_reserve(struct cp_resp *b, size_t extra)
{
	return cp_buf_grow(&b->p, &b->cap, b->len + extra, 4096);
}

/* Decimal digits of v written backwards ending at end; returns the first digit. */
static char *u64_text(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

/* b has room (cp_resp_reserve) for a header: type character, number, CRLF. */
static void resp_header(struct cp_resp *b, char type, uint64_t n)
{
	char tmp[24], *d = u64_text(tmp + sizeof(tmp), n);
	size_t k = (size_t)(tmp + sizeof(tmp) - d);
	b->p[b->len++] = type;
	memcpy(b->p + b->len, d, k);
	b->len += k;
	b->p[b->len++] = '\r';
	b->p[b->len++] = '\n';
}

int cp_resp_array(struct cp_resp *b, size_t n)
{
	if (cp_resp_reserve(b, 24) != 0)
		return -ENOMEM;
	resp_header(b, '*', n);
	return 0;
}

int cp_resp_bulk(struct cp_resp *b, const void *data, size_t len)
{
	if (cp_resp_reserve(b, 26 + len) != 0)
		return -ENOMEM;
	resp_header(b, '$', len);
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len++] = '\r';
	b->p[b->len++] = '\n';
	return 0;
}

int cp_resp_str(struct cp_resp *b, const char *s)
{
	return cp_resp_bulk(b, s, strlen(s));
}

int cp_resp_u64(struct cp_resp *b, uint64_t v)
{
	char tmp[24], *d = u64_text(tmp + sizeof(tmp), v);
	return cp_resp_bulk(b, d, (size_t)(tmp + sizeof(tmp) - d));
}

int cp_resp_i64(struct cp_resp *b, int64_t v)
{
	char tmp[24], *d = u64_text(tmp + sizeof(tmp), v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
	if (v < 0)
		*--d = '-';
	return cp_resp_bulk(b, d, (size_t)(tmp + sizeof(tmp) - d));
}
