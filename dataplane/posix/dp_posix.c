/* dp_posix: kernel-socket transport for dp_session. Contract in dp_posix.h. */
#define _LGPL_SOURCE
#include "dp_posix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_ring.h>
#include <urcu/urcu-qsbr.h>

#define EV_LISTEN (UINT64_MAX - 1)
#define EV_BELL (UINT64_MAX - 2)
#define TICK_NS (50ull * 1000000ull)
#define CLOSING_GRACE_NS (1000ull * 1000000ull)
#define MAX_EVENTS 256
/* Reads per connection per poll iteration: with edge-triggered epoll a fast sender would
 * otherwise be read until EAGAIN while every other connection waits. */
#define READ_BUDGET 16

struct pconn {
	int fd;
	uint32_t gen;
	uint8_t in_use;
	uint8_t kicked;
	uint8_t rx_pending;     /* reads stopped because the out buffer was too full */
	uint8_t rx_again;       /* read budget used up with data left: on the again list */
	uint64_t closing_since;
	struct dp_session s;
	struct dp_tls_conn t;   /* TCP bytes <-> session bytes (TLS or plain) */
};

struct pworker {
	pthread_t th;
	unsigned int id;
	struct dp_posix *p;
	int ep;
	int lfd;
	int bell_fd;
	struct pconn *conns;
	uint32_t *free_list;
	uint32_t n_free;
	uint32_t *kick_list;
	uint32_t n_kick;
	uint32_t *again_list;   /* connections to read again next iteration (edge-triggered) */
	uint32_t *again_work;   /* the list being processed (swapped with again_list) */
	uint32_t n_again;
	int started;
	struct dp_worker w;
};

struct dp_posix {
	struct dp_posix_cfg cfg;
	struct dp_shm *shm;
	struct dp_tables *tables;
	uint16_t port;
	atomic_int running;
	struct dp_login_limiter login;
	struct pworker *wk[DP_SHM_MAX_WORKERS];
};

/* ------------------------------------------------------------------ transport ops */

static struct pconn *conn_of(struct dp_session *s)
{
	return (struct pconn *)((char *)s - offsetof(struct pconn, s));
}

static struct dp_session *op_lookup(void *tctx, uint64_t conn_id)
{
	struct pworker *pw = tctx;
	uint32_t slot = (uint32_t)(conn_id >> 32);
	if (slot >= pw->p->cfg.max_conns)
		return NULL;
	struct pconn *c = &pw->conns[slot];
	return c->in_use && c->gen == (uint32_t)conn_id ? &c->s : NULL;
}

static void op_kick(void *tctx, struct dp_session *s)
{
	struct pworker *pw = tctx;
	struct pconn *c = conn_of(s);
	if (!c->kicked) {
		c->kicked = 1;
		pw->kick_list[pw->n_kick++] = (uint32_t)(c - pw->conns);
	}
}

/* ------------------------------------------------------------------ connections */

static void conn_close(struct pworker *pw, struct pconn *c)
{
	if (!c->in_use)
		return;
	dp_session_close(&c->s);
	dp_tls_conn_close(&c->t);
	close(c->fd); /* also removes it from the epoll set */
	c->fd = -1;
	dp_session_release(&c->s);
	c->in_use = 0;
	c->gen++;
	c->rx_pending = 0;
	c->closing_since = 0;
	pw->free_list[pw->n_free++] = (uint32_t)(c - pw->conns);
}

static void conn_read(struct pworker *pw, struct pconn *c);

/* Refuse or evict with a reset (SO_LINGER 0): the peer learns at once, and no TIME_WAIT
 * is left behind for a connection that never logged in. */
static void fd_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void op_evict(void *tctx, struct dp_session *s)
{
	struct pconn *c = conn_of(s);
	fd_reset(c->fd);
	conn_close(tctx, c);
}

static const struct dp_transport_ops posix_ops = {.lookup = op_lookup, .kick = op_kick,
						   .evict = op_evict};

static void conn_flush(struct pworker *pw, struct pconn *c)
{
	const uint8_t *p;
	size_t len;
	while (c->in_use && (len = dp_tls_conn_out(&c->t, &p)) > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			dp_tls_conn_out_consume(&c->t, (size_t)n);
			/* Records that waited for the session's room: their replies follow. */
			if (dp_tls_conn_stalled(&c->t) && dp_session_rx_ok(&c->s) &&
			    dp_tls_conn_input(&c->t, NULL, 0, dp_mono_ns(), dp_wall_ns()) == -EPIPE) {
				conn_close(pw, c);
				return;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* EPOLLOUT (edge) resumes */
		conn_close(pw, c);
		return;
	}
	if (!c->in_use)
		return;
	if (c->s.state == DP_SS_CLOSING || c->s.state == DP_SS_CLOSED) {
		conn_close(pw, c);
		return;
	}
	if (c->rx_pending && dp_tls_conn_rx_ok(&c->t))
		conn_read(pw, c);
}

static void conn_read(struct pworker *pw, struct pconn *c)
{
	uint8_t buf[DP_SESSION_RX_CHUNK];
	c->rx_pending = 0;
	for (int budget = READ_BUDGET; c->in_use; budget--) {
		if (budget == 0) {
			if (!c->rx_again) {
				c->rx_again = 1;
				pw->again_list[pw->n_again++] = (uint32_t)(c - pw->conns);
			}
			return;
		}
		if (!dp_tls_conn_rx_ok(&c->t)) {
			if (c->s.state == DP_SS_AWAIT_HELLO || c->s.state == DP_SS_ACTIVE)
				c->rx_pending = 1;
			op_kick(pw, &c->s);
			return;
		}
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			/* Server_Arrival_Time: wall clock right after the bytes left the kernel. */
			int64_t wall = dp_wall_ns();
			int rc = dp_tls_conn_input(&c->t, buf, (size_t)n, dp_mono_ns(), wall);
			if (rc == -EPIPE || rc == -ENOBUFS) {
				conn_close(pw, c); /* TLS close_notify: the peer is done */
				return;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		/* EOF or error: flush nothing more, the peer is gone. */
		conn_close(pw, c);
		return;
	}
}

static void do_accept(struct pworker *pw, uint64_t now)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(pw->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN, or EMFILE: retried on the next edge/tick */
		}
		struct dp_peer peer;
		memset(&peer, 0, sizeof(peer));
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
			peer.family = AF_INET;
			peer.port = ntohs(a->sin_port);
			memcpy(peer.addr, &a->sin_addr, 4);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
			peer.family = AF_INET6;
			peer.port = ntohs(a->sin6_port);
			memcpy(peer.addr, &a->sin6_addr, 16);
		}
		/* Pre-login budget (may evict the oldest pre-login connection first). */
		if (dp_worker_admit(&pw->w, &peer, pw->n_free) != 0) {
			fd_reset(fd);
			close(fd);
			continue;
		}
		uint32_t slot = pw->free_list[--pw->n_free];
		struct pconn *c = &pw->conns[slot];
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->in_use = 1;
		c->rx_pending = 0;
		c->closing_since = 0;
		dp_session_open(&c->s, &pw->w, (uint64_t)slot << 32 | c->gen, &peer, now);
		dp_tls_conn_open(&c->t, pw->p->cfg.tls, &c->s, now);
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					 .data.u64 = slot};
		if (epoll_ctl(pw->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			conn_close(pw, c);
			continue;
		}
		conn_read(pw, c);
	}
}

static void do_ticks(struct pworker *pw, uint64_t now)
{
	for (uint32_t i = 0; i < pw->p->cfg.max_conns; i++) {
		struct pconn *c = &pw->conns[i];
		if (!c->in_use)
			continue;
		if (c->s.state == DP_SS_CLOSING) {
			if (c->closing_since == 0)
				c->closing_since = now;
			else if (now - c->closing_since > CLOSING_GRACE_NS)
				conn_close(pw, c); /* peer never read its last replies */
			continue;
		}
		if (dp_tls_conn_tick(&c->t, now) != 0 || dp_session_tick(&c->s, now) != 0)
			op_kick(pw, &c->s);
	}
}

static void flush_kicked(struct pworker *pw)
{
	/* conn_flush may kick again (read -> replies); loop until quiet. */
	while (pw->n_kick > 0) {
		uint32_t slot = pw->kick_list[--pw->n_kick];
		struct pconn *c = &pw->conns[slot];
		c->kicked = 0;
		if (c->in_use)
			conn_flush(pw, c);
	}
}

static void *worker_main(void *arg)
{
	struct pworker *pw = arg;
	struct dp_posix *p = pw->p;
	struct epoll_event evs[MAX_EVENTS];
	uint64_t next_tick = dp_mono_ns() + TICK_NS;

	urcu_qsbr_register_thread();
	while (atomic_load_explicit(&p->running, memory_order_relaxed)) {
		urcu_qsbr_quiescent_state();
		dp_worker_poll_begin(&pw->w);
		uint64_t now = dp_mono_ns();
		atomic_store_explicit(&pw->w.line->worker_heartbeat_ns, now, memory_order_relaxed);

		unsigned int acks = dp_worker_ack_poll(&pw->w, 1024);
		flush_kicked(pw);
		uint32_t again = pw->n_again;
		uint32_t *work = pw->again_list;
		pw->again_list = pw->again_work;
		pw->again_work = work;
		pw->n_again = 0;
		for (uint32_t i = 0; i < again; i++) {
			struct pconn *c = &pw->conns[work[i]];
			c->rx_again = 0;
			if (c->in_use)
				conn_read(pw, c);
		}
		flush_kicked(pw);

		int timeout = 0;
		if (acks == 0 && pw->n_kick == 0 && pw->n_again == 0) {
			atomic_store_explicit(&pw->w.line->worker_sleeping, 1, memory_order_seq_cst);
			if (rte_ring_count(pw->w.ack) == 0)
				timeout = 10;
		}
		if (timeout > 0)
			urcu_qsbr_thread_offline();
		int n = epoll_wait(pw->ep, evs, MAX_EVENTS, timeout);
		if (timeout > 0)
			urcu_qsbr_thread_online();
		atomic_store_explicit(&pw->w.line->worker_sleeping, 0, memory_order_relaxed);
		dp_worker_poll_begin(&pw->w); /* online again: take a fresh snapshot */
		now = dp_mono_ns();
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == EV_LISTEN) {
				do_accept(pw, now);
				continue;
			}
			if (tag == EV_BELL) {
				char b[64];
				while (recv(pw->bell_fd, b, sizeof(b), MSG_DONTWAIT) > 0) {
				}
				continue;
			}
			struct pconn *c = &pw->conns[tag];
			if (!c->in_use)
				continue;
			if (evs[i].events & EPOLLOUT)
				conn_flush(pw, c);
			if (c->in_use && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
				conn_read(pw, c);
		}
		flush_kicked(pw);
		if (now >= next_tick) {
			next_tick = now + TICK_NS;
			do_ticks(pw, now);
			flush_kicked(pw);
		}
		dp_worker_poll_end(&pw->w);
	}
	/* Shutdown: best-effort close of every connection. */
	for (uint32_t i = 0; i < p->cfg.max_conns; i++)
		if (pw->conns[i].in_use)
			conn_close(pw, &pw->conns[i]);
	urcu_qsbr_unregister_thread();
	return NULL;
}

/* ------------------------------------------------------------------ setup */

static int listen_socket(const char *addr, uint16_t port, uint16_t *bound)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		sl = sizeof(*a4);
	} else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		sl = sizeof(*a6);
	} else {
		errno = EINVAL;
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*bound = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
	return fd;
}

static void pworker_free(struct pworker *pw)
{
	if (pw == NULL)
		return;
	if (pw->ep >= 0)
		close(pw->ep);
	if (pw->lfd >= 0)
		close(pw->lfd);
	if (pw->bell_fd >= 0)
		close(pw->bell_fd);
	dp_worker_fini(&pw->w);
	free(pw->conns);
	free(pw->free_list);
	free(pw->kick_list);
	free(pw->again_list);
	free(pw->again_work);
	free(pw);
}

static struct pworker *pworker_new(struct dp_posix *p, unsigned int id)
{
	struct pworker *pw = calloc(1, sizeof(*pw));
	if (pw == NULL)
		return NULL;
	pw->id = id;
	pw->p = p;
	pw->ep = pw->lfd = pw->bell_fd = -1;
	pw->w.bell_fd = -1;
	uint32_t mc = p->cfg.max_conns;
	pw->conns = calloc(mc, sizeof(*pw->conns));
	pw->free_list = calloc(mc, sizeof(uint32_t));
	/* A connection is on the kick list at most once (kicked flag). */
	pw->kick_list = calloc(mc, sizeof(uint32_t));
	pw->again_list = calloc(mc, sizeof(uint32_t)); /* at most once each (rx_again) */
	pw->again_work = calloc(mc, sizeof(uint32_t));
	if (pw->conns == NULL || pw->free_list == NULL || pw->kick_list == NULL ||
	    pw->again_list == NULL || pw->again_work == NULL)
		goto fail;
	for (uint32_t i = 0; i < mc; i++) {
		pw->conns[i].fd = -1;
		pw->free_list[pw->n_free++] = mc - 1 - i;
	}
	if (dp_worker_init(&pw->w, id, p->shm, p->tables, &p->login, &p->cfg.session, &posix_ops,
			   pw) != 0) {
		errno = EINVAL;
		goto fail;
	}
	uint16_t port = 0;
	pw->lfd = listen_socket(p->cfg.listen_addr, p->port, &port);
	if (pw->lfd < 0)
		goto fail;
	p->port = port;
	pw->ep = epoll_create1(EPOLL_CLOEXEC);
	if (pw->ep < 0)
		goto fail;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = EV_LISTEN};
	if (epoll_ctl(pw->ep, EPOLL_CTL_ADD, pw->lfd, &ev) != 0)
		goto fail;
	/* ACK doorbell: the consumer sends a datagram here when we sleep (cp_ack_enqueue). */
	pw->bell_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pw->bell_fd >= 0) {
		struct sockaddr_un a;
		memset(&a, 0, sizeof(a));
		a.sun_family = AF_UNIX;
		int n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "%sw%u",
				 p->shm->hdr->doorbell_prefix, id);
		if (n > 0 && (size_t)n < sizeof(a.sun_path) - 1 &&
		    bind(pw->bell_fd, (struct sockaddr *)&a,
			 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) == 0) {
			struct epoll_event bev = {.events = EPOLLIN | EPOLLET, .data.u64 = EV_BELL};
			epoll_ctl(pw->ep, EPOLL_CTL_ADD, pw->bell_fd, &bev);
		} else {
			close(pw->bell_fd);
			pw->bell_fd = -1;
		}
	}
	return pw;
fail: {
	int e = errno;
	pworker_free(pw);
	errno = e;
	return NULL;
}
}

struct dp_posix *dp_posix_start(const struct dp_posix_cfg *cfg, struct dp_shm *shm,
				struct dp_tables *tables)
{
	if (cfg->n_workers == 0 || cfg->n_workers != shm->hdr->n_workers || cfg->max_conns == 0) {
		errno = EINVAL;
		return NULL;
	}
	struct dp_posix *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->cfg = *cfg;
	p->shm = shm;
	p->tables = tables;
	p->port = cfg->listen_port;
	dp_login_limiter_init(&p->login, cfg->login_fail_burst, cfg->login_fail_refill_ns);
	atomic_store(&p->running, 1);
	for (unsigned int i = 0; i < cfg->n_workers; i++) {
		p->wk[i] = pworker_new(p, i);
		if (p->wk[i] == NULL) {
			fprintf(stderr, "decp-dataplane: worker %u: listen %s:%u: %s\n", i,
				cfg->listen_addr, (unsigned int)p->port, strerror(errno));
			goto fail;
		}
	}
	for (unsigned int i = 0; i < cfg->n_workers; i++) {
		if (pthread_create(&p->wk[i]->th, NULL, worker_main, p->wk[i]) != 0) {
			fprintf(stderr, "decp-dataplane: cannot start worker %u\n", i);
			goto fail;
		}
		p->wk[i]->started = 1;
	}
	return p;
fail:
	dp_posix_stop(p);
	errno = EINVAL;
	return NULL;
}

uint16_t dp_posix_port(const struct dp_posix *p)
{
	return p->port;
}

void dp_posix_stop(struct dp_posix *p)
{
	if (p == NULL)
		return;
	atomic_store(&p->running, 0);
	for (unsigned int i = 0; i < DP_SHM_MAX_WORKERS; i++) {
		if (p->wk[i] == NULL)
			continue;
		if (p->wk[i]->started)
			pthread_join(p->wk[i]->th, NULL);
		pworker_free(p->wk[i]);
	}
	free(p);
}
