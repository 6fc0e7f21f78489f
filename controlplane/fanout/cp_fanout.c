/* cp_fanout: lifecycle, the publish ring and the mutex queues. Design: cp_fanout_pvt.h. */
#include "cp_fanout_pvt.h"
#include "cp_net.h"

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

struct cp_fanout *cp_fanout_create(const struct cp_config *cfg, bool tail)
{
	struct lws_context_creation_info info;
	struct cp_fanout *f;
	struct cp_redis probe;

	if (cfg == NULL || (cfg->fanout_cert[0] == '\0') != (cfg->fanout_key[0] == '\0')) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->cfg = *cfg;
	f->tail = tail;
	/* room for data beside the QUEUE_RESERVE control slots (cp_config's floor is 16) */
	if (f->cfg.fanout_queue < 4 * QUEUE_RESERVE)
		f->cfg.fanout_queue = 4 * QUEUE_RESERVE;
	cp_fo_mq_init(&f->replay_req);
	cp_fo_mq_init(&f->replay_rep);
	cp_fo_mq_init(&f->state_q);
	cp_fo_mq_init(&f->report_q);
	cp_fo_mq_init(&f->key_q);
	cp_fo_mq_init(&f->ack_q);
	f->stab_cap = 64;
	f->stab = calloc(f->stab_cap, sizeof(*f->stab));
	if (f->stab == NULL) {
		free(f);
		return NULL;
	}
	cp_fo_mq_init(&f->policy_q);
	pthread_mutex_init(&f->watch_mu, NULL);
	cp_pg_init(&f->pg_auth, &f->cfg, ROLE, NULL);

	cp_redis_init(&probe, &f->cfg, ROLE);
	int down = cp_redis_ensure(&probe);
	cp_redis_close(&probe);
	if (down != 0 || cp_pg_ensure(&f->pg_auth) != 0) {
		errno = ECONNREFUSED; /* logged by cp_redis / cp_pg */
		goto fail;
	}

	f->listen_fd = -1;
	/* lws 4.1 sets SO_REUSEPORT only for its own SMP threads, so with reuse_port we listen
	 * ourselves and adopt the accepted sockets (on_listener_readable, cp_fanout_lws.c) */
	if (cfg->fanout_reuse_port &&
	    (f->listen_fd = cp_net_listen(cfg->fanout_listen, cfg->fanout_port, true, 4096,
					  &f->port)) < 0) {
		cp_log(CP_LOG_ERR, ROLE, "cannot listen on %s:%u with SO_REUSEPORT: %s",
		       cfg->fanout_listen, cfg->fanout_port, strerror(-f->listen_fd));
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
	if (f->listen_fd >= 0)
		info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	if (cfg->fanout_cert[0] != '\0') {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->fanout_cert;
		info.ssl_private_key_filepath = cfg->fanout_key;
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
	info.timeout_secs = 10;
	/* header buffers held only during handshakes; lws's default pool is small and a
	 * reconnect storm would queue upgrades behind it */
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
	if (f->listen_fd >= 0) {
		lws_sock_file_fd_type fd;

		fd.filefd = f->listen_fd;
		f->listen_wsi = lws_adopt_descriptor_vhost(f->vh, LWS_ADOPT_RAW_FILE_DESC, fd, "decp",
							   NULL);
		if (f->listen_wsi == NULL) {
			cp_log(CP_LOG_ERR, ROLE, "cannot poll the listening socket");
			errno = EIO;
			goto fail;
		}
	} else {
		f->port = lws_get_vhost_listen_port(f->vh);
	}
	return f;
fail:
	if (f->ctx != NULL)
		lws_context_destroy(f->ctx);
	if (f->evloop != NULL)
		ev_loop_destroy(f->evloop);
	if (f->listen_fd >= 0 && f->listen_wsi == NULL)
		close(f->listen_fd);
	cp_pg_close(&f->pg_auth);
	free(f->stab);
	free(f);
	return NULL;
}

int cp_fanout_port(const struct cp_fanout *f)
{
	return f->port;
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
		if (pthread_create(&f->tail_thr, NULL, cp_fo_tail_main, f) != 0)
			goto fail_policy;
		f->tail_started = true;
	}
	if (pthread_create(&f->lws_thr, NULL, cp_fo_lws_main, f) != 0)
		goto fail_tail;
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
	o->reports = atomic_load_explicit(&w->c_reports, memory_order_relaxed);
	o->reports_dropped = atomic_load_explicit(&w->c_reports_dropped, memory_order_relaxed);
	o->policies_sent = atomic_load_explicit(&w->c_policies_sent, memory_order_relaxed);
	o->account_states = atomic_load_explicit(&w->c_accounts, memory_order_relaxed);
	o->live_connections = atomic_load_explicit(&w->c_live, memory_order_relaxed);
	o->key_announcements = atomic_load_explicit(&w->c_keys_sent, memory_order_relaxed);
}

void cp_fanout_stop(struct cp_fanout *f)
{
	if (f == NULL || !f->started)
		return;
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
	if (f->evloop != NULL)
		ev_loop_destroy(f->evloop);
	while ((m = cp_fo_ring_get(f)) != NULL)
		cp_fmsg_unref(m);
	for (r = cp_fo_mq_take_all(&f->replay_rep, 0); r != NULL; r = rn) {
		rn = r->next;
		for (uint32_t i = 0; i < r->n; i++)
			cp_fmsg_unref(r->msgs[i]);
		free(r->a); /* its session is gone */
		free(r);
	}
	for (r = cp_fo_mq_take_all(&f->replay_req, 0); r != NULL; r = rn) {
		rn = r->next;
		free(r->a);
		free(r);
	}
	for (n = cp_fo_mq_take_all(&f->state_q, 0); n != NULL; n = nn) {
		nn = n->next;
		free(n);
	}
	for (n = cp_fo_mq_take_all(&f->report_q, 0); n != NULL; n = nn) {
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
	cp_pg_close(&f->pg_auth);
	free(f);
}
