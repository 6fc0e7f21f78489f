/* cp_gate: the pre-authentication gate in front of an lws server. Design in cp_gate.h. */
#include "cp_gate.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "cp_http.h"
#include "cp_log.h"
#include "cp_rate.h"

#define SRC_BUCKETS 4096u
#define GC_NS 1000000000LL

/* A connection held until its head is complete: in the list oldest first (they all have
 * the same timeout, so the list is also ordered by deadline). */
struct held {
	int fd;
	struct src *src;
	int64_t deadline_ns;
	struct held *prev, *next;
};

/* One IPv4 address: connections held now, and its connection-rate bucket. Kept while
 * idle so that the bucket remembers; collected once empty and full again. */
struct src {
	uint32_t addr;
	uint32_t held;
	struct cp_rate rate;
	struct src *next;
};

struct cp_gate {
	struct cp_gate_cfg cfg;
	int ep;
	pthread_t thr;
	atomic_bool stop;
	struct held *oldest, *newest;
	uint32_t npending;
	struct src *srcs[SRC_BUCKETS];
	int64_t next_gc_ns;
	_Atomic uint64_t accepted, handed, evicted, source_capped, source_rated, timed_out,
		refused_head, peer_closed;
	_Atomic uint32_t pending;
	char buf[CP_GATE_HEAD_MAX];
	char reply[1024];
};

static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void bump(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static struct src *src_get(struct cp_gate *g, uint32_t addr, int64_t now)
{
	struct src **b = &g->srcs[(addr * 2654435761u) % SRC_BUCKETS], *s;

	for (s = *b; s != NULL; s = s->next)
		if (s->addr == addr)
			return s;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->addr = addr;
	cp_rate_init(&s->rate, g->cfg.source_rate, g->cfg.source_rate, now);
	s->next = *b;
	*b = s;
	return s;
}

/* Free the sources that hold nothing and whose bucket is full again (forgetting them
 * changes no decision). */
static void src_gc(struct cp_gate *g, int64_t now)
{
	for (uint32_t i = 0; i < SRC_BUCKETS; i++) {
		struct src **pp = &g->srcs[i];

		while (*pp != NULL) {
			struct src *s = *pp;

			if (s->held == 0 && (g->cfg.source_rate == 0 ||
					     now - s->rate.at_ns > (int64_t)GC_NS * 2)) {
				*pp = s->next;
				free(s);
			} else {
				pp = &s->next;
			}
		}
	}
}

/* Take h out of the gate (list, epoll, source count); its fd is not closed. */
static void held_release(struct cp_gate *g, struct held *h)
{
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		g->oldest = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	else
		g->newest = h->prev;
	epoll_ctl(g->ep, EPOLL_CTL_DEL, h->fd, NULL);
	if (h->src != NULL)
		h->src->held--;
	g->npending--;
	atomic_store_explicit(&g->pending, g->npending, memory_order_relaxed);
	free(h);
}

/* Close h, counted in c. Bytes the peer sent and we did not read are discarded first, so
 * that the close is a FIN, not a reset that could destroy an answer still in flight. */
static void held_close(struct cp_gate *g, struct held *h, _Atomic uint64_t *c)
{
	int fd = h->fd;

	bump(c);
	held_release(g, h);
	while (recv(fd, g->buf, sizeof(g->buf), MSG_DONTWAIT) > 0)
		;
	close(fd);
}

static bool on_readable(struct cp_gate *g, struct held *h);

static void accept_one(struct cp_gate *g, int fd, const struct sockaddr_in *sa, int64_t now)
{
	uint32_t addr = sa->sin_family == AF_INET ? ntohl(sa->sin_addr.s_addr) : 0;
	struct src *s = src_get(g, addr, now);
	struct held *h;
	struct epoll_event ev;
	int one = 1;

	bump(&g->accepted);
	if (s == NULL) {
		close(fd);
		return;
	}
	if (s->held >= g->cfg.per_source) {
		bump(&g->source_capped);
		close(fd);
		return;
	}
	if (!cp_rate_take(&s->rate, now)) {
		bump(&g->source_rated);
		close(fd);
		return;
	}
	/* At the cap the oldest goes, unless its head arrived meanwhile: its event may wait
	 * behind this accept batch, and a client that sent its head is served, not evicted. */
	if (g->npending >= g->cfg.max_pending && g->oldest != NULL && on_readable(g, g->oldest))
		held_close(g, g->oldest, &g->evicted);
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		close(fd);
		return;
	}
	/* what lws does for the sockets it accepts itself: no Nagle delay on replies */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	h->fd = fd;
	h->src = s;
	h->deadline_ns = now + (int64_t)g->cfg.head_timeout_ms * 1000000;
	/* edge-triggered: the head is peeked, not read, so level-triggered would fire for
	 * the same bytes again and again; each new segment fires once */
	ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = h;
	if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		free(h);
		close(fd);
		return;
	}
	s->held++;
	h->prev = g->newest;
	if (g->newest != NULL)
		g->newest->next = h;
	else
		g->oldest = h;
	g->newest = h;
	g->npending++;
	atomic_store_explicit(&g->pending, g->npending, memory_order_relaxed);
}

static void accept_all(struct cp_gate *g, int64_t now)
{
	for (int n = 0; n < 256; n++) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int fd = accept4(g->cfg.listen_fd, (struct sockaddr *)&sa, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return; /* EAGAIN, or an aborted connection: the next one is tried later */
		accept_one(g, fd, &sa, now);
	}
}

static const char too_large[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
				"Content-Length: 0\r\nConnection: close\r\n\r\n";

/* Look at h's bytes: hand it over, refuse it, or keep holding it. Returns whether it is
 * still held. */
static bool on_readable(struct cp_gate *g, struct held *h)
{
	ssize_t n = recv(h->fd, g->buf, sizeof(g->buf), MSG_PEEK);
	size_t end;
	int fd = h->fd;

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		held_close(g, h, &g->peer_closed);
		return false;
	}
	if (n < 0)
		return true;
	if (g->cfg.peek_only) {
		/* TLS: the first record must be a handshake record (content type 22, version
		 * 3.x: the ClientHello) and is handed over only once it is all in the socket,
		 * so that a slow or garbage TLS client costs the gate, never a worker. A record
		 * longer than the buffer goes over once the buffer is full. */
		const uint8_t *b = (const uint8_t *)g->buf;
		size_t need;

		if (b[0] != 22 || (n >= 2 && b[1] != 3)) {
			held_close(g, h, &g->refused_head); /* plain HTTP, or not TLS at all */
			return false;
		}
		if (n < 5)
			return true; /* more to come */
		need = 5 + ((size_t)b[3] << 8 | b[4]);
		if (need > sizeof(g->buf))
			need = sizeof(g->buf);
		if ((size_t)n < need)
			return true;
		held_release(g, h);
		bump(&g->handed);
		g->cfg.handoff(g->cfg.arg, fd, NULL, 0);
		return false;
	}
	end = cp_http_head_end(g->buf, (size_t)n);
	if (end == 0) {
		if ((size_t)n >= sizeof(g->buf)) {
			const char *r = g->cfg.too_large_reply ? g->cfg.too_large_reply : too_large;

			(void)send(fd, r, strlen(r), MSG_NOSIGNAL);
			held_close(g, h, &g->refused_head);
			return false;
		}
		return true; /* more to come (edge-triggered: the next segment wakes us) */
	}
	if (g->cfg.head_check != NULL) {
		size_t rl = g->cfg.head_check(g->cfg.arg, g->buf, end, g->reply, sizeof(g->reply));

		if (rl > 0) {
			(void)send(fd, g->reply, rl <= sizeof(g->reply) ? rl : sizeof(g->reply),
				   MSG_NOSIGNAL);
			held_close(g, h, &g->refused_head);
			return false;
		}
	}
	held_release(g, h);
	bump(&g->handed);
	g->cfg.handoff(g->cfg.arg, fd, g->buf, end);
	return false;
}

static void *gate_main(void *arg)
{
	struct cp_gate *g = arg;
	struct epoll_event evs[256];

	while (!atomic_load_explicit(&g->stop, memory_order_acquire)) {
		int64_t now = mono();
		int wait_ms = 100;

		if (g->oldest != NULL) {
			int64_t d = (g->oldest->deadline_ns - now) / 1000000 + 1;

			wait_ms = d < wait_ms ? (d > 0 ? (int)d : 0) : wait_ms;
		}
		int n = epoll_wait(g->ep, evs, 256, wait_ms);

		now = mono();
		bool acc = false;
		/* held connections first: accepting may evict (free) one whose event is in
		 * this same batch */
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL)
				acc = true;
			else
				on_readable(g, evs[i].data.ptr);
		}
		if (acc)
			accept_all(g, now);
		while (g->oldest != NULL && g->oldest->deadline_ns <= now)
			held_close(g, g->oldest, &g->timed_out);
		if (now >= g->next_gc_ns) {
			src_gc(g, now);
			g->next_gc_ns = now + GC_NS;
		}
	}
	return NULL;
}

struct cp_gate *cp_gate_start(const struct cp_gate_cfg *cfg)
{
	struct cp_gate *g;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	int e;

	if (cfg == NULL || cfg->listen_fd < 0 || cfg->handoff == NULL || cfg->max_pending == 0 ||
	    cfg->per_source == 0 || cfg->head_timeout_ms == 0) {
		if (cfg != NULL && cfg->listen_fd >= 0)
			close(cfg->listen_fd);
		errno = EINVAL;
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL) {
		close(cfg->listen_fd);
		errno = ENOMEM;
		return NULL;
	}
	g->cfg = *cfg;
	g->ep = epoll_create1(EPOLL_CLOEXEC);
	if (g->ep < 0 || epoll_ctl(g->ep, EPOLL_CTL_ADD, cfg->listen_fd, &ev) != 0)
		goto fail;
	if ((e = pthread_create(&g->thr, NULL, gate_main, g)) != 0) {
		errno = e;
		goto fail;
	}
	return g;
fail:
	e = errno;
	if (g->ep >= 0)
		close(g->ep);
	close(cfg->listen_fd);
	free(g);
	errno = e;
	return NULL;
}

void cp_gate_stop(struct cp_gate *g)
{
	if (g == NULL)
		return;
	atomic_store_explicit(&g->stop, true, memory_order_release);
	pthread_join(g->thr, NULL);
	while (g->oldest != NULL) {
		int fd = g->oldest->fd;

		held_release(g, g->oldest);
		close(fd);
	}
	for (uint32_t i = 0; i < SRC_BUCKETS; i++)
		while (g->srcs[i] != NULL) {
			struct src *s = g->srcs[i];

			g->srcs[i] = s->next;
			free(s);
		}
	close(g->cfg.listen_fd);
	close(g->ep);
	free(g);
}

void cp_gate_stats_get(const struct cp_gate *g, struct cp_gate_stats *o)
{
	struct cp_gate *w = (struct cp_gate *)g;

	o->accepted = atomic_load_explicit(&w->accepted, memory_order_relaxed);
	o->handed = atomic_load_explicit(&w->handed, memory_order_relaxed);
	o->evicted = atomic_load_explicit(&w->evicted, memory_order_relaxed);
	o->source_capped = atomic_load_explicit(&w->source_capped, memory_order_relaxed);
	o->source_rated = atomic_load_explicit(&w->source_rated, memory_order_relaxed);
	o->timed_out = atomic_load_explicit(&w->timed_out, memory_order_relaxed);
	o->refused_head = atomic_load_explicit(&w->refused_head, memory_order_relaxed);
	o->peer_closed = atomic_load_explicit(&w->peer_closed, memory_order_relaxed);
	o->pending = atomic_load_explicit(&w->pending, memory_order_relaxed);
}
