/* cp_fanout: lifecycle, the publish ring and the mutex queues. Design: cp_fanout_pvt.h. */
#include "cp_fanout_pvt.h"
#include "cp_fanout_ctail.h"
#include "cp_net.h"
#include "cp_tls.h"
#include "cp_ws_check.h"
#include "cp_poll_req.h"
#include "proto_creds.h"
#include "proto_sign.h"

#include <openssl/crypto.h>

#include <ev.h>

/* ---------------------------------------------------------------- mutex queues -- */

struct mq_node {
	struct mq_node *next;
};

void cp_fo_mq_init(struct mq *q)
{
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->head = q->tail = NULL;
	q->n = 0;
}

void cp_fo_mq_push(struct mq *q, void *item)
{
	struct mq_node *n = item;

	n->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->tail != NULL)
		((struct mq_node *)q->tail)->next = n;
	else
		q->head = n;
	q->tail = n;
	q->n++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* Wakes a thread waiting in cp_fo_mq_take_all(q) without an item (it takes what another
 * queue holds: the db thread waits on report_q, a delivery run on deliv_q wakes it). */
void cp_fo_mq_wake(struct mq *q)
{
	pthread_mutex_lock(&q->mu);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* Takes the whole list (NULL when empty); waits up to wait_ms when wait_ms > 0. */
void *cp_fo_mq_take_all(struct mq *q, int wait_ms)
{
	void *h;

	pthread_mutex_lock(&q->mu);
	if (q->head == NULL && wait_ms > 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		ts.tv_sec += wait_ms / 1000 + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&q->cv, &q->mu, &ts);
	}
	h = q->head;
	q->head = q->tail = NULL;
	q->n = 0;
	pthread_mutex_unlock(&q->mu);
	return h;
}

size_t cp_fo_mq_len(struct mq *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->n;
	pthread_mutex_unlock(&q->mu);
	return n;
}

/* ---------------------------------------------------------------- publish ring -- */

int cp_fo_ring_put(struct cp_fanout *f, struct cp_fmsg *m)
{
	uint64_t h = atomic_load_explicit(&f->ring_head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&f->ring_tail, memory_order_acquire);

	if (h - t >= PUB_RING)
		return -ENOBUFS;
	f->ring[h & (PUB_RING - 1)] = m;
	atomic_store_explicit(&f->ring_head, h + 1, memory_order_release);
	return 0;
}

size_t cp_fo_ring_len(struct cp_fanout *f)
{
	uint64_t t = atomic_load_explicit(&f->ring_tail, memory_order_relaxed);

	return (size_t)(atomic_load_explicit(&f->ring_head, memory_order_acquire) - t);
}

struct cp_fmsg *cp_fo_ring_get(struct cp_fanout *f)
{
	uint64_t t = atomic_load_explicit(&f->ring_tail, memory_order_relaxed);
	uint64_t h = atomic_load_explicit(&f->ring_head, memory_order_acquire);
	struct cp_fmsg *m;

	if (t == h)
		return NULL;
	m = f->ring[t & (PUB_RING - 1)];
	atomic_store_explicit(&f->ring_tail, t + 1, memory_order_release);
	return m;
}

/* Queue one encoded envelope for the lws thread (publisher side of the SPSC ring). */
static int publish_msg(struct cp_fanout *f, struct cp_fmsg *m)
{
	if (m == NULL)
		return -ENOMEM;
	if (cp_fo_ring_put(f, m) != 0) {
		cp_fmsg_unref(m);
		cnt(&f->c_pub_dropped);
		atomic_store_explicit(&f->ring_lost, true, memory_order_release);
		return -ENOBUFS;
	}
	cnt(&f->c_published);
	return 0;
}

int cp_fanout_publish(struct cp_fanout *f, uint64_t master_id, uint64_t sequence,
		      const uint8_t *signed_signal, size_t len, int64_t arrival_ns)
{
	int rc;

	if (f == NULL || master_id == 0 || sequence == 0 || signed_signal == NULL || len == 0)
		return -EINVAL;
	if (len > 4096)
		return -EMSGSIZE;
	rc = publish_msg(f, cp_fmsg_envelope(master_id, sequence, arrival_ns, signed_signal, len));
	if (rc == 0)
		lws_cancel_service(f->ctx);
	return rc;
}

int cp_fanout_publish_parts(struct cp_fanout *f, uint64_t master_id, uint64_t sequence,
			    const uint8_t *body, size_t body_len, const uint8_t *sig,
			    size_t sig_len, int64_t arrival_ns)
{
	if (f == NULL || master_id == 0 || sequence == 0 || body == NULL || body_len == 0 ||
	    (sig == NULL && sig_len > 0))
		return -EINVAL;
	if (body_len + sig_len > 4096)
		return -EMSGSIZE;
	return publish_msg(f, cp_fmsg_envelope_parts(master_id, sequence, arrival_ns, body,
						     body_len, sig, sig_len));
}

void cp_fanout_publish_flush(struct cp_fanout *f)
{
	if (f != NULL)
		lws_cancel_service(f->ctx);
}

/* ---------------------------------------------------------------- lifecycle -- */

/* secs_since_valid_hangup = 0: lws 4.1 arms no validity timer on its connections */
static const lws_retry_bo_t no_validity = {.secs_since_valid_ping = 0,
					   .secs_since_valid_hangup = 0};

/* The authentication cache's first lists (cp_fanout_auth.h), read before any thread runs,
 * so no upgrade is ever judged against an empty cache; the db thread keeps them current.
 * 0, or -1 (PostgreSQL unreachable or failing: logged). */
static int auth_load(struct cp_fanout *f)
{
	struct cp_pg pg;
	struct cp_fo_auth_tok *toks = NULL;
	struct cp_fo_auth_sub *subs = NULL;
	size_t ntoks = 0, nsubs = 0;
	int rc = -1;

	cp_pg_init(&pg, &f->cfg, ROLE, NULL);
	if (cp_pg_ensure(&pg) == 0 &&
	    cp_fo_auth_read(f, pg.conn, &toks, &ntoks, &subs, &nsubs) == 0 &&
	    cp_fo_auth_tokens_replace(&f->auth, toks, ntoks) == 0 &&
	    cp_fo_auth_subs_replace(&f->auth, subs, nsubs) == 0)
		rc = 0;
	free(toks);
	cp_fo_auth_rows_free(subs, nsubs);
	cp_pg_close(&pg);
	return rc;
}

/* fanout_snapshot_key: the platform's key that signs re-sync snapshots (proto_snapsig.h),
 * read before anything is connected so a bad file ends the role at once. Returns 0, or -1
 * (logged) when the file is given and unusable. Says nothing when it is fine: snap_key_log
 * does, once the fan-out is created (create_retrying in cp_fanout_role.c calls
 * cp_fanout_create again at every retry while Redis or PostgreSQL is down, and a warning
 * here was repeated each time). */
static int snap_key_load(struct cp_fanout *f)
{
	uint8_t seed[PROTO_ED25519_SEED_LEN];
	int rc;

	if (f->cfg.fanout_snapshot_key[0] == '\0')
		return 0;
	rc = proto_creds_read_seed_file(f->cfg.fanout_snapshot_key, seed);
	if (rc == 0 && (f->snap_sk = proto_ed25519_key_new_private(seed)) == NULL)
		rc = -EIO;
	OPENSSL_cleanse(seed, sizeof(seed));
	if (rc != 0) {
		cp_log(CP_LOG_ERR, ROLE, "fanout_snapshot_key %s: %s", f->cfg.fanout_snapshot_key,
		       rc == -EINVAL ? "no line 'ed25519_seed = <64 lower-case hex>'"
				     : strerror(-rc));
		return -1;
	}
	return 0;
}

/* What signs re-sync snapshots, said once per fan-out created: no key (a warning), or the
 * public key receivers verify with (docs/resync.md). */
static void snap_key_log(const struct cp_fanout *f)
{
	uint8_t pub[PROTO_ED25519_PUB_LEN];
	char hex[2 * PROTO_ED25519_PUB_LEN + 1];

	if (f->snap_sk == NULL) {
		cp_log(CP_LOG_WARN, ROLE, "fanout_snapshot_key not set: re-sync snapshots are sent "
		       "UNSIGNED (receivers that verify refuse them)");
		return;
	}
	if (proto_ed25519_key_public(f->snap_sk, pub) == 0) {
		for (size_t i = 0; i < sizeof(pub); i++)
			snprintf(hex + 2 * i, 3, "%02x", pub[i]);
		cp_log(CP_LOG_INFO, ROLE, "re-sync snapshots signed: public key %s", hex);
	}
}

struct cp_fanout *cp_fanout_create(const struct cp_config *cfg, bool tail)
{
	struct lws_context_creation_info info;
	struct cp_fanout *f;
	struct cp_redis probe;

	if (cfg == NULL || (cfg->fanout_tls && (cfg->fanout_cert[0] == '\0' ||
						 cfg->fanout_key[0] == '\0'))) {
		errno = EINVAL;
		return NULL;
	}
	if (cfg->fanout_tls && cp_tls_server_check(ROLE, cfg->fanout_cert, cfg->fanout_key) != 0) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->cfg = *cfg;
	f->tail = tail;
	f->listen_fd = -1; /* an early failure below must not close fd 0 */
	/* room for data beside the QUEUE_RESERVE control slots (cp_config's floor is 16) */
	if (f->cfg.fanout_queue < 4 * QUEUE_RESERVE)
		f->cfg.fanout_queue = 4 * QUEUE_RESERVE;
	cp_fo_mq_init(&f->replay_req);
	cp_fo_mq_init(&f->replay_rep);
	cp_fo_mq_init(&f->state_q);
	cp_fo_mq_init(&f->report_q);
	cp_fo_mq_init(&f->deliv_q);
	cp_fo_mq_init(&f->key_q);
	cp_fo_mq_init(&f->ack_q);
	f->stab_cap = 64;
	f->stab = calloc(f->stab_cap, sizeof(*f->stab));
	if (f->stab == NULL) {
		free(f);
		return NULL;
	}
	cp_fo_mq_init(&f->policy_q);
	cp_fo_mq_init(&f->resync_q);
	pthread_mutex_init(&f->watch_mu, NULL);
	cp_fo_auth_init(&f->auth);
	if (snap_key_load(f) != 0) {
		errno = EINVAL;
		goto fail;
	}

	cp_redis_init(&probe, &f->cfg, ROLE);
	int down = cp_redis_ensure(&probe);
	cp_redis_close(&probe);
	if (down != 0 || auth_load(f) != 0) {
		errno = ECONNREFUSED; /* logged by cp_redis / cp_pg */
		goto fail;
	}

	/* We listen ourselves, never lws: the gate (cp_gate.h, started with the threads)
	 * accepts and holds each connection until its upgrade request is complete, so idle
	 * sockets never take lws's header buffers (issue 28). SO_REUSEPORT with reuse_port
	 * (lws 4.1 sets it only for its own SMP threads). */
	cp_fo_mq_init(&f->adopt_q);
	if ((f->listen_fd = cp_net_listen(cfg->fanout_listen, cfg->fanout_port,
					  cfg->fanout_reuse_port, 4096, &f->port)) < 0) {
		cp_log(CP_LOG_ERR, ROLE, "cannot listen on %s:%u: %s", cfg->fanout_listen,
		       cfg->fanout_port, strerror(-f->listen_fd));
		errno = -f->listen_fd;
		goto fail;
	}
	/* DECP_FANOUT_LWS_LOG: lws log level bits (lws-logs.h), for debugging only */
	lws_set_log_level(getenv("DECP_FANOUT_LWS_LOG") ? atoi(getenv("DECP_FANOUT_LWS_LOG"))
							 : LLL_ERR,
			  NULL);
	memset(&info, 0, sizeof(info));
	info.port = (int)cfg->fanout_port; /* 0: the kernel picks; read back from the vhost */
	info.iface = cfg->fanout_listen;
	info.protocols = cp_fo_protocols;
	info.user = f;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	if (cfg->fanout_tls) {
		/* f->cfg: the paths must outlive the context */
		if (cp_tls_lws_server(&info, f->cfg.fanout_cert, f->cfg.fanout_key,
				      &f->no_client) != 0) {
			errno = ENOMEM;
			goto fail;
		}
	} else {
		cp_tls_warn_plain(ROLE, "fanout_tls");
	}
	if (!cfg->fanout_poll_loop) {
		/* lws 4.1's own loop is poll(2): every iteration walks all descriptors, which
		 * dominated the CPU at 10,000 connections (docs/perf.md "fanout"). On libev's
		 * epoll backend an iteration costs what is ready. The loop is ours ("foreign"):
		 * the lws thread runs it and breaks it at stop (cp_fo_lws_main). */
		f->evloop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
		if (f->evloop == NULL) {
			cp_log(CP_LOG_ERR, ROLE, "cannot create the libev epoll loop");
			errno = ENOMEM;
			goto fail;
		}
		info.options |= LWS_SERVER_OPTION_LIBEV;
		info.foreign_loops = (void **)&f->evloop;
	}
	/* No lws validity policy (its per-connection timer re-inserted into a sorted list,
	 * O(connections) each): our keep-alive sweep does the same job (cp_fanout_lws.c) */
	info.retry_and_idle_policy = &no_validity;
	/* lws arms timeout_secs itself on an adopted wss socket (the TLS accept, then again
	 * once it completes), over the one on_adopt sets: the handshake and the upgrade
	 * request are bounded by fanout_header_timeout_ms (rounded up to lws's seconds), not by
	 * a fixed 10 s each (docs/fanout.md "Pre-authentication budgets"). Our own close
	 * waits set their timeouts themselves (cp_fanout_lws.c). */
	info.timeout_secs = cfg->fanout_header_timeout_ms / 1000u +
			    (cfg->fanout_header_timeout_ms % 1000u != 0 ? 1u : 0u);
	if (info.timeout_secs == 0)
		info.timeout_secs = 1;
	/* header buffers are held only while lws parses a head that is already complete (the
	 * gate read it), within one loop turn; the pool only bounds a reconnect burst */
	info.max_http_header_pool2 = 1024;
	/* fd_limit_per_thread stays 0: lws sizes its table from RLIMIT_NOFILE */
	f->ctx = lws_create_context(&info);
	if (f->ctx == NULL) {
		cp_log(CP_LOG_ERR, ROLE, "cannot listen on %s:%u", cfg->fanout_listen,
		       cfg->fanout_port);
		errno = EADDRINUSE;
		goto fail;
	}
	f->vh = lws_get_vhost_by_name(f->ctx, "default");
	if (f->vh == NULL) {
		cp_log(CP_LOG_ERR, ROLE, "no default vhost");
		errno = EIO;
		goto fail;
	}
	snap_key_log(f);
	return f;
fail:
	if (f->ctx != NULL)
		lws_context_destroy(f->ctx);
	cp_tls_lws_server_done(f->no_client);
	if (f->evloop != NULL)
		ev_loop_destroy(f->evloop);
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	cp_fo_auth_free(&f->auth);
	proto_ed25519_key_free(f->snap_sk);
	free(f->stab);
	free(f);
	return NULL;
}

int cp_fanout_port(const struct cp_fanout *f)
{
	return f->port;
}

/* ---------------------------------------------------------------- the gate -- */

static const char http_400[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
			       "Content-Length: 38\r\nConnection: close\r\n\r\n"
			       "not a valid WebSocket upgrade request\n";

/* The gate's check of a complete plain-ws head: a valid RFC 6455 opening handshake
 * (cp_ws_check_handshake), a request for the polling endpoint (cp_poll_head_is: the lws
 * thread answers it, cp_fanout_poll.h), or HTTP 400, before lws sees it. */
static size_t gate_head_check(void *arg, const char *head, size_t len, char *reply, size_t cap)
{
	(void)arg;
	if (cp_ws_check_handshake(head, len) || cp_poll_head_is(head, len) ||
	    cap < sizeof(http_400))
		return 0;
	memcpy(reply, http_400, sizeof(http_400) - 1);
	return sizeof(http_400) - 1;
}

/* A connection passed the gate (gate thread): queued for the lws thread (drain_inputs
 * adopts it). Out of memory: closed. */
static void gate_handoff(void *arg, int fd, const char *head, size_t len)
{
	struct cp_fanout *f = arg;
	struct adopt *a = malloc(sizeof(*a) + len);

	if (a == NULL) {
		close(fd);
		return;
	}
	a->fd = fd;
	a->len = len;
	if (len > 0) /* wss: nothing read (peek only), head is NULL */
		memcpy(a->head, head, len);
	cp_fo_mq_push(&f->adopt_q, a);
	lws_cancel_service(f->ctx);
}

static int gate_start(struct cp_fanout *f)
{
	bool tls = f->cfg.fanout_tls;
	struct cp_gate_cfg g = {
		.name = ROLE, .listen_fd = f->listen_fd, .max_pending = f->cfg.fanout_preauth_max,
		.per_source = f->cfg.fanout_preauth_per_source,
		.source_rate = f->cfg.fanout_preauth_rate,
		.head_timeout_ms = f->cfg.fanout_header_timeout_ms,
		/* wss: the head is encrypted; lws decrypts it and cp_ws_check reads it */
		.peek_only = tls, .head_check = tls ? NULL : gate_head_check,
		.handoff = gate_handoff, .arg = f};

	f->listen_fd = -1; /* the gate's now, also on failure */
	f->gate = cp_gate_start(&g);
	if (f->gate == NULL) {
		cp_log(CP_LOG_ERR, ROLE, "cannot start the connection gate: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int cp_fanout_start(struct cp_fanout *f)
{
	if (f == NULL || f->started)
		return -EINVAL;
	if (pthread_create(&f->replay_thr, NULL, cp_fo_replay_main, f) != 0)
		return -EAGAIN;
	if (pthread_create(&f->db_thr, NULL, cp_fo_db_main, f) != 0)
		goto fail_replay;
	if (pthread_create(&f->policy_thr, NULL, cp_fo_policy_main, f) != 0)
		goto fail_db;
	if (f->tail) {
		/* one XREAD BLOCK over every stream on one Redis; a cluster refuses that
		 * (CROSSSLOT) and is tailed by notifications (cp_fanout_ctail.h) */
		void *(*tail)(void *) = f->cfg.redis_nodes[0] != '\0' ? cp_fo_ctail_main
								      : cp_fo_tail_main;
		if (pthread_create(&f->tail_thr, NULL, tail, f) != 0)
			goto fail_policy;
		f->tail_started = true;
	}
	if (pthread_create(&f->lws_thr, NULL, cp_fo_lws_main, f) != 0)
		goto fail_tail;
	if (gate_start(f) != 0) {
		atomic_store(&f->stop, true);
		lws_cancel_service(f->ctx);
		pthread_join(f->lws_thr, NULL);
		goto fail_tail;
	}
	f->started = true;
	return 0;
fail_tail:
	atomic_store(&f->stop, true);
	if (f->tail_started)
		pthread_join(f->tail_thr, NULL);
	f->tail_started = false;
fail_policy:
	atomic_store(&f->stop, true);
	pthread_join(f->policy_thr, NULL);
fail_db:
	atomic_store(&f->stop, true);
	pthread_join(f->db_thr, NULL);
fail_replay:
	atomic_store(&f->stop, true);
	pthread_join(f->replay_thr, NULL);
	return -EAGAIN;
}

void cp_fanout_stats_get(const struct cp_fanout *f, struct cp_fanout_stats *o)
{
	struct cp_fanout *w = (struct cp_fanout *)f;

	o->connections = atomic_load_explicit(&w->c_conn, memory_order_relaxed);
	o->auth_refused = atomic_load_explicit(&w->c_auth_refused, memory_order_relaxed);
	o->subscribe_refused = atomic_load_explicit(&w->c_sub_refused, memory_order_relaxed);
	o->published = atomic_load_explicit(&w->c_published, memory_order_relaxed);
	o->publish_dropped = atomic_load_explicit(&w->c_pub_dropped, memory_order_relaxed);
	o->delivered = atomic_load_explicit(&w->c_delivered, memory_order_relaxed);
	o->replayed = atomic_load_explicit(&w->c_replayed, memory_order_relaxed);
	o->slow_closed = atomic_load_explicit(&w->c_slow, memory_order_relaxed);
	o->keepalive_closed = atomic_load_explicit(&w->c_ka_closed, memory_order_relaxed);
	o->malformed = atomic_load_explicit(&w->c_malformed, memory_order_relaxed);
	o->revoked_closed = atomic_load_explicit(&w->c_revoked, memory_order_relaxed);
	o->sub_limited = atomic_load_explicit(&w->c_sub_limited, memory_order_relaxed);
	o->report_throttled = atomic_load_explicit(&w->c_rep_throttled, memory_order_relaxed);
	o->acks_dropped = atomic_load_explicit(&w->c_acks_dropped, memory_order_relaxed);
	if (w->gate != NULL) {
		struct cp_gate_stats g;

		cp_gate_stats_get(w->gate, &g);
		o->preauth_pending = g.pending;
		o->preauth_evicted = g.evicted;
		o->preauth_source_capped = g.source_capped;
		o->preauth_source_rated = g.source_rated;
		o->preauth_timed_out = g.timed_out;
		o->preauth_refused = g.refused_head;
	}
	o->range_lost = atomic_load_explicit(&w->c_range_lost, memory_order_relaxed);
	o->reports = atomic_load_explicit(&w->c_reports, memory_order_relaxed);
	o->reports_dropped = atomic_load_explicit(&w->c_reports_dropped, memory_order_relaxed);
	o->deliveries_dropped = atomic_load_explicit(&w->c_deliv_dropped, memory_order_relaxed);
	o->policies_sent = atomic_load_explicit(&w->c_policies_sent, memory_order_relaxed);
	o->account_states = atomic_load_explicit(&w->c_accounts, memory_order_relaxed);
	o->snapshots = atomic_load_explicit(&w->c_snapshots, memory_order_relaxed);
	o->snapshots_failed = atomic_load_explicit(&w->c_snap_failed, memory_order_relaxed);
	o->resyncs_done = atomic_load_explicit(&w->c_resync_done, memory_order_relaxed);
	o->live_connections = atomic_load_explicit(&w->c_live, memory_order_relaxed);
	o->key_announcements = atomic_load_explicit(&w->c_keys_sent, memory_order_relaxed);
	o->polls = atomic_load_explicit(&w->c_polls, memory_order_relaxed);
	o->poll_envelopes = atomic_load_explicit(&w->c_poll_envelopes, memory_order_relaxed);
	o->poll_woken = atomic_load_explicit(&w->c_poll_woken, memory_order_relaxed);
	o->poll_timeouts = atomic_load_explicit(&w->c_poll_timeouts, memory_order_relaxed);
	o->poll_refused = atomic_load_explicit(&w->c_poll_refused, memory_order_relaxed);
	o->poll_connections = atomic_load_explicit(&w->c_poll_conns, memory_order_relaxed);
}

void cp_fanout_stop(struct cp_fanout *f)
{
	if (f == NULL || !f->started)
		return;
	cp_gate_stop(f->gate); /* no new connections from here on */
	f->gate = NULL;
	atomic_store_explicit(&f->stop, true, memory_order_release);
	lws_cancel_service(f->ctx);
	pthread_join(f->lws_thr, NULL);
	pthread_cond_broadcast(&f->replay_req.cv);
	pthread_join(f->replay_thr, NULL);
	pthread_join(f->db_thr, NULL);
	pthread_join(f->policy_thr, NULL);
	if (f->tail_started)
		pthread_join(f->tail_thr, NULL);
	f->started = false;
	f->tail_started = false;
}

void cp_fanout_destroy(struct cp_fanout *f)
{
	struct cp_fmsg *m;
	struct replay_msg *r, *rn;
	struct mq_node *n, *nn;

	if (f == NULL)
		return;
	cp_fanout_stop(f);
	lws_context_destroy(f->ctx); /* closes connections: LWS_CALLBACK_CLOSED frees them */
	cp_tls_lws_server_done(f->no_client);
	if (f->evloop != NULL)
		ev_loop_destroy(f->evloop);
	while ((m = cp_fo_ring_get(f)) != NULL)
		cp_fmsg_unref(m);
	for (r = cp_fo_mq_take_all(&f->replay_rep, 0); r != NULL; r = rn) {
		rn = r->next;
		free(r->a); /* its session is gone */
		free(r->poll); /* likewise: closed, it holds nothing else (cp_fo_poll_closed) */
		cp_fo_replay_msg_free(r);
	}
	for (r = cp_fo_mq_take_all(&f->replay_req, 0); r != NULL; r = rn) {
		rn = r->next;
		free(r->a);
		free(r->poll);
		cp_fo_replay_msg_free(r);
	}
	for (n = cp_fo_mq_take_all(&f->resync_q, 0); n != NULL; n = nn) {
		nn = n->next;
		free(n);
	}
	for (struct adopt *a = cp_fo_mq_take_all(&f->adopt_q, 0), *an; a != NULL; a = an) {
		an = a->next;
		close(a->fd);
		free(a);
	}
	for (uint32_t b = 0; b < SUBCOUNT_BUCKETS; b++)
		while (f->subcnt[b] != NULL) {
			struct subcount *sc = f->subcnt[b];

			f->subcnt[b] = sc->next;
			free(sc);
		}
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	for (struct state_ev *e = cp_fo_mq_take_all(&f->state_q, 0), *en; e != NULL; e = en) {
		en = e->next;
		cp_fmsg_unref(e->policy);
		free(e->toks);
		cp_fo_auth_rows_free(e->subs, e->nsubs);
		free(e);
	}
	for (n = cp_fo_mq_take_all(&f->report_q, 0); n != NULL; n = nn) {
		nn = n->next;
		free(n);
	}
	for (n = cp_fo_mq_take_all(&f->deliv_q, 0); n != NULL; n = nn) {
		nn = n->next;
		free(n);
	}
	for (struct key_ev *k = cp_fo_mq_take_all(&f->key_q, 0), *kn; k != NULL; k = kn) {
		kn = k->next;
		cp_fmsg_unref(k->msg);
		free(k);
	}
	for (n = cp_fo_mq_take_all(&f->ack_q, 0); n != NULL; n = nn) {
		nn = n->next;
		free(n);
	}
	for (struct policy_ev *e = cp_fo_mq_take_all(&f->policy_q, 0), *en; e != NULL; e = en) {
		en = e->next;
		cp_fmsg_unref(e->msg);
		free(e);
	}
	for (uint32_t b = 0; b < MASTER_BUCKETS; b++) {
		struct master *mm, *mn;

		for (mm = f->mbucket[b]; mm != NULL; mm = mn) {
			mn = mm->hnext;
			cp_fo_master_hist_clear(f, mm);
			cp_fmsg_unref(mm->key_ann);
			free(mm->hist);
			free(mm);
		}
	}
	free(f->watch);
	free(f->stab);
	cp_fo_auth_free(&f->auth);
	proto_ed25519_key_free(f->snap_sk);
	free(f);
}
