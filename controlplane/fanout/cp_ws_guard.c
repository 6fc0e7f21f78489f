/* cp_ws_guard: cp_ws_check in front of lws's reads. Design in cp_ws_guard.h. */
/* RTLD_NEXT needs _GNU_SOURCE: the project defines it for every file (meson.build) */
#include "cp_ws_guard.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>

#include "cp_ws_check.h"

struct guard {
	struct cp_ws_check chk;
	struct lws *wsi;
	pthread_t owner; /* the lws thread serving the socket: the only one checked */
	uint8_t held[14]; /* an incomplete frame header, not yet given to lws */
	uint8_t nheld;
};

static _Atomic(struct guard *) *tab; /* indexed by fd */
static size_t tab_len;
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static ssize_t (*real_recv)(int, void *, size_t, int);
static int (*real_ssl_read)(SSL *, void *, int);

static void tab_init(void)
{
	struct rlimit rl;
	size_t n = 65536;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (1u << 22))
		n = (size_t)rl.rlim_cur;
	tab = calloc(n, sizeof(*tab));
	if (tab != NULL)
		tab_len = n;
}

static void resolve(void)
{
	if (real_recv == NULL)
		*(void **)&real_recv = dlsym(RTLD_NEXT, "recv");
	if (real_ssl_read == NULL)
		*(void **)&real_ssl_read = dlsym(RTLD_NEXT, "SSL_read");
}

/* The guard of fd when the calling thread serves it. Another thread's recv on the same
 * number (a socket opened after lws closed fd, before the detach) is never checked. */
static struct guard *lookup(int fd)
{
	if (fd < 0 || (size_t)fd >= tab_len)
		return NULL;
	struct guard *g = atomic_load_explicit(&tab[fd], memory_order_acquire);
	return g != NULL && pthread_equal(g->owner, pthread_self()) ? g : NULL;
}

int cp_ws_guard_attach(int fd, struct lws *wsi, uint64_t max_msg)
{
	pthread_once(&tab_once, tab_init);
	resolve();
	if (fd < 0 || (size_t)fd >= tab_len)
		return -EBADF;
	struct guard *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	if (cp_ws_check_init(&g->chk, true, max_msg) != 0) {
		free(g);
		return -ENOMEM;
	}
	g->wsi = wsi;
	g->owner = pthread_self();
	cp_ws_guard_detach(fd);
	atomic_store_explicit(&tab[fd], g, memory_order_release);
	return 0;
}

void cp_ws_guard_detach(int fd)
{
	if (fd < 0 || (size_t)fd >= tab_len || tab == NULL)
		return;
	struct guard *g = atomic_exchange_explicit(&tab[fd], NULL, memory_order_acq_rel);
	if (g != NULL) {
		cp_ws_check_fini(&g->chk);
		free(g);
	}
}

int cp_ws_guard_verdict(int fd)
{
	struct guard *g = lookup(fd);
	int v = g != NULL ? g->chk.verdict : 0;

	return v == CP_WS_VERDICT_HTTP_400 ? 0 : v;
}

static const char http_400[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
			       "Content-Length: 38\r\nConnection: close\r\n\r\n"
			       "not a valid WebSocket upgrade request\n";

/*
 * buf holds g->nheld held-back bytes followed by n fresh ones. Check the fresh bytes and
 * return what lws may have: everything but an incomplete frame header at the end (held
 * back for the next read, so lws never parses an unchecked header), or on a violation the
 * bytes before the offending frame's header; 0 (end of stream) after a bad handshake;
 * -1 with errno EAGAIN when nothing can be given yet.
 */
static ssize_t check(struct guard *g, uint8_t *buf, size_t n, int fd, SSL *ssl)
{
	size_t h = g->nheld, ok = 0;
	bool failed_before = g->chk.verdict != CP_WS_VERDICT_OK;
	int v = cp_ws_check_feed(&g->chk, buf + h, n, &ok);
	size_t give;

	g->nheld = 0;
	if (v == CP_WS_VERDICT_HTTP_400) {
		if (!failed_before) {
			if (ssl != NULL)
				(void)SSL_write(ssl, http_400, (int)sizeof(http_400) - 1);
			else
				(void)send(fd, http_400, sizeof(http_400) - 1, MSG_NOSIGNAL);
		}
		return 0;
	}
	if (v != CP_WS_VERDICT_OK) {
		if (!failed_before) {
			lws_callback_on_writable(g->wsi); /* the protocol closes with the code */
			give = h + ok + 1 - g->chk.bad_hdr_len; /* start of the offending header */
		} else {
			give = 0;
		}
	} else {
		give = h + n - g->chk.hdr_len;
		memcpy(g->held, buf + give, g->chk.hdr_len);
		g->nheld = g->chk.hdr_len;
	}
	if (give > 0)
		return (ssize_t)give;
	errno = EAGAIN;
	return -1;
}

/* Put the held-back bytes at the start of buf (cap bytes); returns how many. */
static size_t unhold(struct guard *g, uint8_t *buf, size_t cap)
{
	size_t h = g->nheld <= cap ? g->nheld : 0;

	memcpy(buf, g->held, h);
	return h;
}

/* A read that reports end of stream makes lws close fd: forget it first. */
static ssize_t finish(int fd, ssize_t r)
{
	if (r == 0)
		cp_ws_guard_detach(fd);
	return r;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	if (real_recv == NULL)
		resolve();
	struct guard *g = lookup(fd);
	if (g == NULL || (flags & MSG_PEEK) || len <= sizeof(g->held))
		return real_recv(fd, buf, len, flags);
	if (g->chk.verdict != CP_WS_VERDICT_OK)
		return finish(fd, check(g, buf, 0, fd, NULL));
	size_t h = unhold(g, buf, len);
	ssize_t n = real_recv(fd, (uint8_t *)buf + h, len - h, flags);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		int e = errno;
		cp_ws_guard_detach(fd); /* lws closes it now */
		errno = e;
		return n;
	}
	if (n < 0)
		return n; /* the held bytes stay held */
	return finish(fd, check(g, buf, (size_t)n, fd, NULL));
}

int SSL_read(SSL *ssl, void *buf, int num)
{
	if (real_ssl_read == NULL)
		resolve();
	int fd = SSL_get_fd(ssl);
	struct guard *g = lookup(fd);
	if (g == NULL || num <= (int)sizeof(g->held))
		return real_ssl_read(ssl, buf, num);
	if (g->chk.verdict != CP_WS_VERDICT_OK)
		return (int)finish(fd, check(g, buf, 0, fd, ssl));
	size_t h = unhold(g, buf, (size_t)num);
	int n = real_ssl_read(ssl, (uint8_t *)buf + h, num - (int)h);
	if (n <= 0)
		return n; /* lws asks SSL_get_error; the held bytes stay held */
	return (int)finish(fd, check(g, buf, (size_t)n, fd, ssl));
}
