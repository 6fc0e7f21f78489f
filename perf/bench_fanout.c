/*
 * bench_fanout: master -> subscriber delivery latency of the fan-out, against the floor of
 * SPEC.md §6 measured in the same run: a bare epoll loop writing the same pre-encoded
 * frame to the same sockets. Also memory per connection and held connections across
 * several fan-out processes. Results go to docs/perf.md "fanout".
 *
 *   bench_fanout run  DECP_FANOUT SUBS MASTERS RATE SECONDS CLIENT_PROCS
 *   bench_fanout hold DECP_FANOUT SUBS FANOUT_PROCS CLIENT_PROCS SECONDS
 *
 * run: a real Redis and PostgreSQL (tests/harness), SUBS subscribers on MASTERS masters.
 *   Phase 1 (floor): a child process accepts the same client connections (canned 101), and
 *   every 1/RATE s encodes one ServerMessage{Envelope} with server_arrival_ns = now and
 *   writes that frame to every subscriber of its master (epoll, non-blocking, per-socket
 *   backlog). Phase 2 (fan-out): decp-fanout (tail mode, one process), the same clients;
 *   the driver XADDs one signal every 1/RATE s (arrival = XADD time) round-robin over the
 *   masters. Latency = client receive time - server_arrival_ns, per envelope, on one clock.
 *   Clients: CLIENT_PROCS processes of this program (raw sockets + epoll, the frame header
 *   and the envelope's arrival field decoded by hand, no allocation per message).
 *   Memory per connection = decp-fanout's RSS with all clients subscribed minus its RSS
 *   before, over SUBS (user space only; the kernel's socket buffers are not in RSS).
 *   DECP_BENCH_CHURN=1: every subscription's state changes twice during phase 2, all at
 *   once (SYNCED -> DEGRADED_GAP at a third of the run, back at two thirds: both still
 *   deliver), as after a fan-out restart when every EA re-syncs: what the deliveries pay
 *   for the fan-out's handling of those state changes.
 * hold: FANOUT_PROCS decp-fanout processes share one port (--reuse-port); CLIENT_PROCS
 *   client processes (each from its own loopback source address) open SUBS connections
 *   and subscribe; held SECONDS; counts the connections every process serves and RSS.
 *
 * Internal modes (started by the above): client, floor.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "cp_migrate.h"
#include "cp_testkeys.h"
#include "decp.pb-c.h"
#include "harness.h"
#include "proto_signal.h"

static volatile sig_atomic_t g_stop; /* set by SIGTERM/SIGINT (sig_atomic_t: what C allows) */

static void on_term(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
	int64_t d = t - now_ns();
	if (d > 0) {
		struct timespec ts = {(time_t)(d / 1000000000), (long)(d % 1000000000)};
		nanosleep(&ts, NULL);
	}
}

/* ----------------------------------------------------------------- client -- */

struct cconn {
	int fd;
	bool got_first;
	uint32_t have;
	uint8_t buf[4096];
};

static uint64_t varint(const uint8_t **p, const uint8_t *end, bool *ok)
{
	uint64_t v = 0;
	for (int sh = 0; *p < end && sh < 64; sh += 7) {
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << sh;
		if (!(b & 0x80))
			return v;
	}
	*ok = false;
	return 0;
}

/* server_arrival_ns of a ServerMessage{envelope = 1{server_arrival_ns = 2}}, or 0. */
static int64_t envelope_arrival(const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	bool ok = true;
	if (n < 2 || p[0] != 0x0a)
		return 0;
	p++;
	uint64_t len = varint(&p, end, &ok);
	if (!ok || len > (uint64_t)(end - p))
		return 0;
	end = p + len;
	while (p < end && ok) {
		uint64_t tag = varint(&p, end, &ok);
		if ((tag & 7) == 0) {
			uint64_t v = varint(&p, end, &ok);
			if (tag >> 3 == 2)
				return ok ? (int64_t)v : 0;
		} else if ((tag & 7) == 2) {
			uint64_t l = varint(&p, end, &ok);
			if (l > (uint64_t)(end - p))
				return 0;
			p += l;
		} else {
			return 0;
		}
	}
	return 0;
}

static int connect_upgrade(const char *src, int port, int idx)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct sockaddr_in s = {.sin_family = AF_INET};
	char req[256], resp[1024];
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	size_t got = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	inet_pton(AF_INET, src, &s.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&s, sizeof(s)) != 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto fail;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int n = snprintf(req, sizeof(req), "GET /?token=tok-%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n", idx);
	if (write(fd, req, (size_t)n) != n)
		goto fail;
	while (got < sizeof(resp) - 1) {
		ssize_t r = read(fd, resp + got, sizeof(resp) - 1 - got);
		if (r <= 0)
			goto fail;
		got += (size_t)r;
		resp[got] = '\0';
		if (strstr(resp, "\r\n\r\n") != NULL)
			break;
	}
	if (strstr(resp, " 101 ") == NULL)
		goto fail;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Masked binary frame with ClientMessage{subscribe{master, from 0}}. */
static int send_subscribe(int fd, uint64_t master)
{
	uint8_t sub[16], f[32];
	size_t n = 0;
	sub[n++] = 0x08;
	for (uint64_t v = master; ; v >>= 7) {
		sub[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		if (v < 0x80)
			break;
	}
	size_t k = 0;
	f[k++] = 0x82;
	f[k++] = (uint8_t)(0x80 | (n + 2));
	memset(f + k, 0, 4); /* mask key 0: payload unchanged */
	k += 4;
	f[k++] = 0x0a;
	f[k++] = (uint8_t)n;
	memcpy(f + k, sub, n);
	k += n;
	return write(fd, f, k) == (ssize_t)k ? 0 : -1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Consume the frames in c->buf; latencies into lat. */
static void client_frames(struct cconn *c, uint32_t *lat, size_t *nlat, size_t cap,
			  uint64_t *ready)
{
	size_t at = 0;
	int64_t t = now_ns();
	while (c->have - at >= 2) {
		const uint8_t *h = c->buf + at;
		size_t len = h[1] & 0x7f, hl = 2;
		if (len == 126) {
			if (c->have - at < 4)
				break;
			len = (size_t)h[2] << 8 | h[3];
			hl = 4;
		} else if (len == 127) {
			c->have = 0; /* never sent by the fan-out to us */
			return;
		}
		if (c->have - at < hl + len)
			break;
		if ((h[0] & 0x0f) == 0x9 && len <= 125) {
			/* ping (lws's validity check after 300 s idle): answer, masked (key 0) */
			uint8_t pong[6 + 125] = {0x8a, (uint8_t)(0x80 | len)};
			memcpy(pong + 6, h + hl, len);
			if (write(c->fd, pong, 6 + len) < 0)
				c->have = 0;
			at += hl + len;
			continue;
		}
		if (!c->got_first) {
			c->got_first = true;
			(*ready)++;
		}
		int64_t arr = envelope_arrival(h + hl, len);
		if (arr > 0 && *nlat < cap) {
			int64_t us = (t - arr) / 1000;
			lat[(*nlat)++] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
		}
		at += hl + len;
	}
	memmove(c->buf, c->buf + at, c->have - at); /* keep a partial frame */
	c->have -= (uint32_t)at;
}

/* client PORT FIRST COUNT MASTERS SRC_IP OUT_FILE: connects COUNT subscribers (tokens
 * tok-FIRST..), subscribes each to ((i-1) % MASTERS) + 1, prints "ready" once every
 * connection got its first frame, records latencies until SIGTERM, writes them to OUT. */
static int run_client(int argc, char **argv)
{
	if (argc != 8)
		return 2;
	int port = atoi(argv[2]), first = atoi(argv[3]), count = atoi(argv[4]);
	int masters = atoi(argv[5]);
	const char *src = argv[6], *out = argv[7];
	size_t cap = 40u << 20, nlat = 0;
	uint32_t *lat = malloc(cap * sizeof(*lat));
	struct cconn *cs = calloc((size_t)count, sizeof(*cs));
	int ep = epoll_create1(0);
	uint64_t ready = 0, closed = 0;
	bool said = false;

	signal(SIGTERM, on_term);
	if (lat == NULL || cs == NULL || ep < 0)
		return 1;
	int opened = 0;
	while (!g_stop) {
		struct epoll_event evs[256];
		/* while opening, serve the open ones between connections (pings arrive after
		 * 300 s idle, and a large setup takes minutes) */
		if (opened < count) {
			int idx = first + opened;
			int fd = connect_upgrade(src, port, idx);
			if (fd < 0 || send_subscribe(fd, (uint64_t)((idx - 1) % masters + 1)) != 0) {
				fprintf(stderr, "bench_fanout client: connection %d failed\n", idx);
				return 1;
			}
			cs[opened].fd = fd;
			fcntl(fd, F_SETFL, O_NONBLOCK);
			struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)opened};
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			opened++;
		}
		int n = epoll_wait(ep, evs, 256, opened < count ? 0 : 100);
		for (int k = 0; k < n; k++) {
			struct cconn *c = &cs[evs[k].data.u32];
			for (;;) {
				ssize_t r = read(c->fd, c->buf + c->have, sizeof(c->buf) - c->have);
				if (r <= 0) {
					if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
						epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
						closed++;
					}
					break;
				}
				c->have += (uint32_t)r;
				client_frames(c, lat, &nlat, cap, &ready);
			}
		}
		if (!said && ready == (uint64_t)count) {
			printf("ready\n");
			fflush(stdout);
			said = true;
		}
	}
	FILE *f = fopen(out, "wb");
	if (f == NULL || fwrite(lat, sizeof(*lat), nlat, f) != nlat || fclose(f) != 0)
		return 1;
	fprintf(stderr, "bench_fanout client %d..%d: %zu envelopes, %" PRIu64 " closed\n", first,
		first + count - 1, nlat, closed);
	for (int i = 0; i < opened; i++)
		close(cs[i].fd);
	close(ep);
	free(cs);
	free(lat);
	return closed == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ floor -- */

struct fconn {
	int fd;
	int state;          /* 0 reading the request, 1 waiting for Subscribe, 2 live */
	uint64_t master;
	size_t have;
	char in[2048];
	uint8_t *out;       /* backlog of unsent bytes */
	size_t out_len, out_cap;
};

static void fconn_write(int ep, struct fconn *c, uint32_t id, const uint8_t *p, size_t n)
{
	if (c->out_len == 0) {
		ssize_t w = write(c->fd, p, n);
		if (w == (ssize_t)n)
			return;
		if (w < 0)
			w = 0;
		p += w;
		n -= (size_t)w;
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = id};
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = (c->out_len + n) * 2;
		uint8_t *o = realloc(c->out, cap);
		if (o == NULL)
			return;
		c->out = o;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

static void fconn_flush(int ep, struct fconn *c, uint32_t id)
{
	ssize_t w = write(c->fd, c->out, c->out_len);
	if (w > 0) {
		memmove(c->out, c->out + w, c->out_len - (size_t)w);
		c->out_len -= (size_t)w;
	}
	if (c->out_len == 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = id};
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

/* One connection's input during setup: request -> 101, Subscribe -> a first frame. */
static void fconn_input(int ep, struct fconn *c, uint32_t id, int *live)
{
	static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				   "Connection: Upgrade\r\n"
				   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
	static const uint8_t first[] = {0x82, 0x02, 0x12, 0x00}; /* SyncStart{} */
	ssize_t r = read(c->fd, c->in + c->have, sizeof(c->in) - 1 - c->have);
	if (r <= 0)
		return;
	c->have += (size_t)r;
	c->in[c->have] = '\0';
	if (c->state == 0) {
		char *e = strstr(c->in, "\r\n\r\n");
		if (e == NULL)
			return;
		fconn_write(ep, c, id, (const uint8_t *)resp, sizeof(resp) - 1);
		size_t used = (size_t)(e + 4 - c->in);
		memmove(c->in, c->in + used, c->have - used);
		c->have -= used;
		c->state = 1;
	}
	if (c->state == 1 && c->have >= 10) {
		/* 0x82, 0x80|len, mask(4, zero), 0x0a, n, 0x08, varint master */
		const uint8_t *p = (const uint8_t *)c->in + 9, *end = (const uint8_t *)c->in + c->have;
		bool ok = true;
		c->master = varint(&p, end, &ok);
		if (!ok)
			return;
		c->state = 2;
		c->have = 0;
		fconn_write(ep, c, id, first, sizeof(first));
		(*live)++;
	}
}

/* The same Envelope the fan-out sends (one sealed signal reused), with this arrival. */
static size_t floor_frame(uint8_t *f, size_t cap, const struct proto_sealed_signal *ss,
			  uint64_t master, uint64_t seq)
{
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	Decp__Envelope env = DECP__ENVELOPE__INIT;
	Decp__SignedSignal sig = DECP__SIGNED_SIGNAL__INIT;
	sig.body.data = (uint8_t *)ss->body;
	sig.body.len = ss->body_len;
	sig.ed25519_sig.data = (uint8_t *)ss->sig;
	sig.ed25519_sig.len = sizeof(ss->sig);
	env.signal = &sig;
	env.server_arrival_ns = now_ns();
	env.master_id = master;
	env.sequence = seq;
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_ENVELOPE;
	sm.envelope = &env;
	size_t n = decp__server_message__get_packed_size(&sm), h = n < 126 ? 2 : 4;
	if (n + h > cap)
		return 0;
	f[0] = 0x82;
	if (h == 2) {
		f[1] = (uint8_t)n;
	} else {
		f[1] = 126;
		f[2] = (uint8_t)(n >> 8);
		f[3] = (uint8_t)n;
	}
	decp__server_message__pack(&sm, f + h);
	return n + h;
}

static int seal_one(struct proto_sealed_signal *ss)
{
	struct cp_testkeys k;
	struct proto_hmac_key hk;
	Decp__Signal sg = DECP__SIGNAL__INIT;
	if (cp_testkeys_derive("decp-test", 1, &k) != 0 ||
	    proto_hmac_key_init(&hk, k.secret, sizeof(k.secret)) != 0)
		return -1;
	struct proto_ed25519_key *sk = proto_ed25519_key_new_private(k.ed_seed);
	if (sk == NULL)
		return -1;
	sg.master_id = 1;
	sg.sequence = 1;
	sg.symbol = (char *)"EURUSD";
	sg.order_type = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
	sg.volume = 10;
	sg.price = 108000;
	sg.position_ticket = 1;
	sg.master_time_ns = now_ns();
	int rc = proto_signal_seal(&hk, sk, &sg, ss);
	proto_ed25519_key_free(sk);
	return rc;
}

/* floor PORT_FILE SUBS MASTERS RATE: accept SUBS connections, then on SIGUSR1 publish at
 * RATE until SIGTERM. */
static volatile sig_atomic_t g_go;

static void on_usr1(int sig)
{
	(void)sig;
	g_go = 1;
}

static int run_floor(int argc, char **argv)
{
	if (argc != 6)
		return 2;
	int subs = atoi(argv[3]), masters = atoi(argv[4]);
	double rate = atof(argv[5]);
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	int one = 1, live = 0, ep = epoll_create1(0);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct fconn *cs = calloc((size_t)subs + 16, sizeof(*cs));
	struct proto_sealed_signal ss;
	int ncs = 0;

	signal(SIGTERM, on_term);
	signal(SIGUSR1, on_usr1);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (cs == NULL || ep < 0 || lfd < 0 || seal_one(&ss) != 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 4096) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &al) != 0)
		return 1;
	FILE *pf = fopen(argv[2], "w");
	if (pf == NULL)
		return 1;
	fprintf(pf, "%d\n", ntohs(a.sin_port));
	fclose(pf);
	struct epoll_event lev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
	int64_t next = 0, period = (int64_t)(1e9 / rate);
	uint64_t seq = 0;
	uint8_t frame[512];
	while (!g_stop) {
		struct epoll_event evs[256];
		int timeout = 1;
		bool go = g_go; /* read once: the signal may arrive mid-iteration */
		if (go && next == 0)
			next = now_ns();
		if (go) /* sleep until the next tick (no busy polling: clients share the cores) */
			timeout = next > now_ns() ? (int)((next - now_ns()) / 1000000) : 0;
		int n = epoll_wait(ep, evs, 256, timeout);
		for (int k = 0; k < n; k++) {
			uint32_t id = evs[k].data.u32;
			if (id == UINT32_MAX) {
				int fd;
				while (ncs < subs + 16 && (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					cs[ncs].fd = fd;
					struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)ncs};
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
					ncs++;
				}
				continue;
			}
			if (evs[k].events & EPOLLOUT)
				fconn_flush(ep, &cs[id], id);
			if ((evs[k].events & EPOLLIN) && cs[id].state < 2)
				fconn_input(ep, &cs[id], id, &live);
			else if (evs[k].events & EPOLLIN) {
				char junk[256];
				if (read(cs[id].fd, junk, sizeof(junk)) < 0 && errno != EAGAIN)
					continue;
			}
		}
		if (go && now_ns() >= next) {
			uint64_t m = seq % (uint64_t)masters + 1;
			size_t fl = floor_frame(frame, sizeof(frame), &ss, m, ++seq);
			for (int i = 0; i < ncs; i++)
				if (cs[i].state == 2 && cs[i].master == m)
					fconn_write(ep, &cs[i], (uint32_t)i, frame, fl);
			next += period;
		}
	}
	fprintf(stderr, "bench_fanout floor: %d connections, %" PRIu64 " frames\n", live, seq);
	return 0;
}

/* ----------------------------------------------------------------- driver -- */

static pid_t spawn(char *const argv[], const char *out, int *stdout_fd)
{
	int pfd[2] = {-1, -1};
	if (stdout_fd != NULL && pipe(pfd) != 0)
		return -1;
	pid_t p = fork();
	if (p == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		if (pfd[1] >= 0) {
			dup2(pfd[1], 1);
			close(pfd[0]);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (stdout_fd != NULL)
		*stdout_fd = pfd[0];
	return p;
}

static int wait_line(int fd, const char *want, int ms)
{
	char buf[64];
	size_t have = 0;
	int64_t end = now_ns() + (int64_t)ms * 1000000;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (now_ns() < end) {
		ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (r > 0) {
			have += (size_t)r;
			buf[have] = '\0';
			if (strstr(buf, want) != NULL)
				return 0;
		} else if (r == 0) {
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

static long rss_kib(pid_t p)
{
	char path[64], line[256];
	long kib = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)p);
	FILE *f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = atol(line + 6);
	if (f != NULL)
		fclose(f);
	return kib;
}

/* utime + stime of process p in ms (/proc/<p>/stat fields 14, 15), -1 if unreadable */
static long cpu_ms(pid_t p)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	long hz = sysconf(_SC_CLK_TCK);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)p);
	FILE *f = fopen(path, "r");
	size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f != NULL)
		fclose(f);
	buf[n] = '\0';
	char *c = strrchr(buf, ')'); /* the command name may hold spaces */
	if (c == NULL || hz <= 0 ||
	    sscanf(c + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)((ut + st) * 1000 / (unsigned long)hz);
}

/* "label CPU: X ms for N envelopes = Y us per delivery, load Z" (server CPU over the
 * publishing window: robust to the other agents' load, unlike the latency) */
static void print_cpu(const char *label, long ms, size_t n)
{
	double la[1] = {0};
	if (getloadavg(la, 1) != 1)
		la[0] = -1;
	printf("%-34s CPU %6ld ms for %zu envelopes: %.2f us per delivery  (load %.2f)\n", label,
	       ms, n, n ? ms * 1000.0 / (double)n : 0.0, la[0]);
	fflush(stdout);
}

struct run {
	const char *self, *fanout_bin;
	char dir[256];
	int subs, masters, clients, fanouts, seconds;
	double rate;
	struct harness_redis *redis;
	struct harness_pg *pg;
	pid_t cpid[64];
	int cout[64];
	size_t last_n; /* envelopes the clients received in the last finish_clients() */
};

static int load_db(struct run *r)
{
	PGconn *c = PQconnectdb(harness_pg_conninfo(r->pg));
	char err[512], q[1024];
	int rc = PQstatus(c) == CONNECTION_OK ? 0 : -1;
	if (rc == 0 && cp_migrate_apply(c, NULL, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "migrations: %s\n", err);
		rc = -1;
	}
	for (int m = 1; rc == 0 && m <= r->masters; m++) {
		struct cp_testkeys k;
		char id[16], name[32];
		cp_testkeys_derive("decp-test", (uint64_t)m, &k);
		snprintf(id, sizeof(id), "%d", m);
		snprintf(name, sizeof(name), "master-%d", m);
		const char *v[] = {id, name, (const char *)k.secret, (const char *)k.ed_pub};
		int l[] = {0, 0, 32, 32}, f[] = {0, 0, 1, 1};
		PGresult *res = PQexecParams(c, "INSERT INTO masters (id, name, hmac_secret, "
					     "ed25519_public_key) VALUES ($1, $2, $3, $4)", 4, NULL,
					     v, l, f, 0);
		rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
		PQclear(res);
	}
	/* subscriber i: token "tok-i", subscribed to master ((i - 1) % masters) + 1 */
	snprintf(q, sizeof(q),
		 "INSERT INTO subscribers (id, name) SELECT i, 'sub-' || i FROM "
		 "generate_series(1, %d) i; "
		 "INSERT INTO subscriber_tokens (subscriber_id, token_sha256) SELECT i, "
		 "sha256(convert_to('tok-' || i, 'UTF8')) FROM generate_series(1, %d) i; "
		 "INSERT INTO subscriptions (id, master_id, subscriber_id) "
		 "SELECT i, (i - 1) %% %d + 1, i FROM generate_series(1, %d) i",
		 r->subs, r->subs, r->masters, r->subs);
	if (rc == 0) {
		PGresult *res = PQexec(c, q);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fprintf(stderr, "test data: %s", PQresultErrorMessage(res));
			rc = -1;
		}
		PQclear(res);
	}
	PQfinish(c);
	return rc;
}

static int start_clients(struct run *r, int port, const char *tag)
{
	int per = (r->subs + r->clients - 1) / r->clients;
	for (int k = 0; k < r->clients; k++) {
		char p[16], first[16], count[16], m[16], src[32], out[512], err[512];
		int f = 1 + k * per, n = f + per - 1 > r->subs ? r->subs - f + 1 : per;
		snprintf(p, sizeof(p), "%d", port);
		snprintf(first, sizeof(first), "%d", f);
		snprintf(count, sizeof(count), "%d", n);
		snprintf(m, sizeof(m), "%d", r->masters);
		snprintf(src, sizeof(src), "127.0.0.%d", 2 + k);
		snprintf(out, sizeof(out), "%s/%s-lat-%d", r->dir, tag, k);
		snprintf(err, sizeof(err), "%s/%s-client-%d.log", r->dir, tag, k);
		char *argv[] = {(char *)r->self, (char *)"client", p, first, count, m, src, out, NULL};
		r->cpid[k] = spawn(argv, err, &r->cout[k]);
	}
	for (int k = 0; k < r->clients; k++)
		if (wait_line(r->cout[k], "ready", 1200000) != 0) {
			fprintf(stderr, "client %d not ready (see %s/%s-client-%d.log)\n", k, r->dir,
				tag, k);
			return -1;
		}
	return 0;
}

/* Stop the clients, merge their samples, print "label n p50 p99 p99.9 max". */
static int finish_clients(struct run *r, const char *tag, const char *label, double secs)
{
	size_t n = 0, cap = 0;
	uint32_t *all = NULL;
	int bad = 0;
	for (int k = 0; k < r->clients; k++)
		kill(r->cpid[k], SIGTERM);
	for (int k = 0; k < r->clients; k++) {
		int st;
		waitpid(r->cpid[k], &st, 0);
		close(r->cout[k]);
		bad += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		char path[512];
		snprintf(path, sizeof(path), "%s/%s-lat-%d", r->dir, tag, k);
		struct stat sb;
		FILE *f = fopen(path, "rb");
		if (f == NULL || fstat(fileno(f), &sb) != 0) {
			bad++;
			continue;
		}
		size_t add = (size_t)sb.st_size / sizeof(uint32_t);
		if (n + add > cap) {
			cap = (n + add) * 2;
			all = realloc(all, cap * sizeof(*all));
		}
		n += fread(all + n, sizeof(*all), add, f);
		fclose(f);
	}
	if (n == 0) {
		printf("%-34s no samples\n", label);
		free(all);
		return -1;
	}
	qsort(all, n, sizeof(*all), cmp_u32);
	r->last_n = n;
	printf("%-34s %9zu envelopes %8.0f/s  p50 %7.3f ms  p99 %7.3f ms  p99.9 %7.3f ms  max %7.3f ms%s\n",
	       label, n, (double)n / secs, all[n / 2] / 1e3, all[n * 99 / 100] / 1e3,
	       all[n * 999 / 1000] / 1e3, all[n - 1] / 1e3, bad ? "  (a client failed)" : "");
	fflush(stdout);
	free(all);
	return bad ? -1 : 0;
}

static int read_port(const char *path, pid_t pid)
{
	for (int t = 0; t < 1000; t++) {
		FILE *f = fopen(path, "r");
		int port = 0;
		if (f != NULL) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (port > 0)
			return port;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(20000);
	}
	return -1;
}

static int phase_floor(struct run *r)
{
	char pf[512], log[512], subs[16], m[16], rate[32];
	snprintf(pf, sizeof(pf), "%s/floor.port", r->dir);
	snprintf(log, sizeof(log), "%s/floor.log", r->dir);
	snprintf(subs, sizeof(subs), "%d", r->subs);
	snprintf(m, sizeof(m), "%d", r->masters);
	snprintf(rate, sizeof(rate), "%g", r->rate);
	char *argv[] = {(char *)r->self, (char *)"floor", pf, subs, m, rate, NULL};
	pid_t fl = spawn(argv, log, NULL);
	int port = read_port(pf, fl), rc = -1;
	if (port > 0 && start_clients(r, port, "floor") == 0) {
		long c0 = cpu_ms(fl);
		kill(fl, SIGUSR1);
		sleep((unsigned int)r->seconds);
		kill(fl, SIGSTOP); /* no more frames; connections stay open */
		long c1 = cpu_ms(fl);
		usleep(500000);
		rc = finish_clients(r, "floor", "floor (bare epoll, same frames)", r->seconds);
		print_cpu("floor", c1 - c0, r->last_n);
		kill(fl, SIGCONT);
	}
	kill(fl, SIGTERM);
	waitpid(fl, NULL, 0);
	return rc;
}

static pid_t start_fanout(struct run *r, const char *tag, bool reuse, int port, int *out_port)
{
	char listen[32], redis[64], pf[512], log[512];
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(redis, sizeof(redis), "127.0.0.1:%d", harness_redis_port(r->redis));
	snprintf(pf, sizeof(pf), "%s/%s.port", r->dir, tag);
	snprintf(log, sizeof(log), "%s/%s.log", r->dir, tag);
	char *argv[] = {(char *)r->fanout_bin, (char *)"--listen", listen, (char *)"--redis", redis,
			(char *)"--pg", (char *)harness_pg_conninfo(r->pg), (char *)"--port-file", pf,
			(char *)"--stats-ms", (char *)"1000",
			/* the clients open their connections from one address each, as fast as
			 * they can: the per-address rate of the gate (issue 28) would refuse them */
			(char *)"--set", (char *)"fanout_preauth_rate=0",
			/* plain ws, as the floor serves: the clients do not speak TLS (wss is the
			 * default since issue 17; without this decp-fanout refused to start) */
			(char *)"--set", (char *)"fanout_tls=off",
			reuse ? (char *)"--reuse-port" : NULL, NULL};
	pid_t p = spawn(argv, log, NULL);
	*out_port = read_port(pf, p);
	return *out_port > 0 ? p : -1;
}

static int phase_fanout(struct run *r)
{
	int port, rc = -1;
	pid_t fo = start_fanout(r, "fanout", false, 0, &port);
	redisContext *rc_ = redisConnect("127.0.0.1", harness_redis_port(r->redis));
	struct proto_sealed_signal ss;
	if (fo < 0 || rc_ == NULL || rc_->err || seal_one(&ss) != 0)
		goto out;
	usleep(300000);
	long rss0 = rss_kib(fo);
	if (start_clients(r, port, "fanout") != 0)
		goto out;
	long rss1 = rss_kib(fo);
	int64_t period = (int64_t)(1e9 / r->rate), next = now_ns(),
		end = next + (int64_t)r->seconds * 1000000000;
	uint64_t seq[1024] = {0};
	long c0 = cpu_ms(fo);
	/* DECP_BENCH_CHURN: the updates go out asynchronously, not to disturb the pacing */
	PGconn *pc = getenv("DECP_BENCH_CHURN") != NULL ? PQconnectdb(harness_pg_conninfo(r->pg))
							  : NULL;
	int churn = 0;
	int64_t t0 = next;
	for (uint64_t k = 0; now_ns() < end; k++) {
		if (pc != NULL && churn < 2 && now_ns() >= t0 + (end - t0) * (churn + 1) / 3) {
			if (PQsendQuery(pc, churn == 0 ? "UPDATE subscriptions SET state = "
							 "'DEGRADED_GAP'"
						       : "UPDATE subscriptions SET state = 'SYNCED'") != 1)
				fprintf(stderr, "churn: %s", PQerrorMessage(pc));
			printf("churn: every subscription to %s at %.1f s\n",
			       churn == 0 ? "DEGRADED_GAP" : "SYNCED", (double)(now_ns() - t0) / 1e9);
			churn++;
		}
		if (pc != NULL && PQconsumeInput(pc) == 1)
			while (PQisBusy(pc) == 0) {
				PGresult *res = PQgetResult(pc);

				if (res == NULL)
					break;
				if (PQresultStatus(res) != PGRES_COMMAND_OK)
					fprintf(stderr, "churn: %s", PQresultErrorMessage(res));
				PQclear(res);
			}
		int m = (int)(k % (uint64_t)r->masters) + 1;
		char key[64], id[32], arr[32];
		snprintf(key, sizeof(key), "decp:{m%d}:signals", m);
		snprintf(id, sizeof(id), "%" PRIu64 "-0", ++seq[m % 1024]);
		snprintf(arr, sizeof(arr), "%" PRId64, now_ns());
		redisReply *rep = redisCommand(rc_, "XADD %s %s a %s b %b h %b s %b", key, id, arr,
					       ss.body, ss.body_len, ss.hmac, sizeof(ss.hmac), ss.sig,
					       sizeof(ss.sig));
		freeReplyObject(rep);
		next += period;
		sleep_until(next);
	}
	if (pc != NULL)
		PQfinish(pc);
	usleep(1000000);
	long c1 = cpu_ms(fo);
	rc = finish_clients(r, "fanout", "decp-fanout (tail mode)", r->seconds);
	print_cpu("decp-fanout", c1 - c0, r->last_n);
	printf("decp-fanout RSS: %ld KiB idle, %ld KiB with %d subscribers: %.2f KiB per "
	       "connection (user space)\n", rss0, rss1, r->subs,
	       (double)(rss1 - rss0) / r->subs);
out:
	if (rc_ != NULL)
		redisFree(rc_);
	if (fo > 0) {
		kill(fo, SIGTERM);
		waitpid(fo, NULL, 0);
	}
	return rc;
}

static unsigned long live_conns(struct run *r, const char *tag)
{
	char p[512], line[512];
	unsigned long n = 0;
	snprintf(p, sizeof(p), "%s/%s.log", r->dir, tag);
	FILE *f = fopen(p, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "decp-fanout: conns ", 19) == 0)
			n = strtoul(line + 19, NULL, 10);
	if (f != NULL)
		fclose(f);
	return n;
}

static int phase_hold(struct run *r)
{
	pid_t fo[16];
	int port = 0, p0 = 0, rc = 0;
	for (int i = 0; i < r->fanouts; i++) {
		char tag[32];
		snprintf(tag, sizeof(tag), "fanout%d", i);
		fo[i] = start_fanout(r, tag, true, p0, &port);
		if (fo[i] < 0)
			return -1;
		p0 = port;
	}
	int64_t t0 = now_ns();
	if (start_clients(r, port, "hold") != 0)
		rc = -1;
	printf("%d connections subscribed in %.1f s; holding %d s\n", r->subs,
	       (double)(now_ns() - t0) / 1e9, r->seconds);
	sleep((unsigned int)r->seconds + 2);
	unsigned long total = 0;
	long rss = 0;
	for (int i = 0; i < r->fanouts; i++) {
		char tag[32];
		snprintf(tag, sizeof(tag), "fanout%d", i);
		unsigned long n = live_conns(r, tag);
		long k = rss_kib(fo[i]);
		printf("  decp-fanout #%d: %lu live connections, RSS %ld KiB\n", i, n, k);
		total += n;
		rss += k;
	}
	printf("held: %lu connections over %d processes, RSS %ld KiB total (%.2f KiB per "
	       "connection, user space, incl. each process's fixed part)\n", total, r->fanouts,
	       rss, total ? (double)rss / (double)total : 0.0);
	if (finish_clients(r, "hold", "(no signals in hold mode)", 1) != 0 && total < (unsigned long)r->subs)
		rc = -1;
	for (int i = 0; i < r->fanouts; i++) {
		kill(fo[i], SIGTERM);
		waitpid(fo[i], NULL, 0);
	}
	return rc == 0 && total == (unsigned long)r->subs ? 0 : -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_fanout run  DECP_FANOUT SUBS MASTERS RATE SECONDS CLIENT_PROCS\n"
			"       bench_fanout hold DECP_FANOUT SUBS FANOUT_PROCS CLIENT_PROCS SECONDS\n"
			"(see the comment at the top of perf/bench_fanout.c; results: docs/perf.md)\n");
}

int main(int argc, char **argv)
{
	struct run r = {.self = argv[0]};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "client") == 0)
		return run_client(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "floor") == 0)
		return run_floor(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		usage();
		return 0;
	}
	bool hold = argc >= 2 && strcmp(argv[1], "hold") == 0;
	if (argc != (hold ? 7 : 8) || (!hold && strcmp(argv[1], "run") != 0)) {
		usage();
		return 2;
	}
	r.fanout_bin = argv[2];
	r.subs = atoi(argv[3]);
	if (hold) {
		r.masters = 20;
		r.fanouts = atoi(argv[4]);
		r.clients = atoi(argv[5]);
		r.seconds = atoi(argv[6]);
		r.rate = 1;
	} else {
		r.masters = atoi(argv[4]);
		r.rate = atof(argv[5]);
		r.seconds = atoi(argv[6]);
		r.clients = atoi(argv[7]);
	}
	if (r.subs < 1 || r.masters < 1 || r.masters > 1000 || r.rate <= 0 || r.seconds < 1 ||
	    r.clients < 1 || r.clients > 64 || (hold && (r.fanouts < 1 || r.fanouts > 16))) {
		usage();
		return 2;
	}
	snprintf(r.dir, sizeof(r.dir), "/tmp/bench-fanout-XXXXXX");
	if (mkdtemp(r.dir) == NULL)
		return 1;
	r.redis = harness_redis_start(NULL);
	r.pg = harness_pg_start(NULL);
	if (r.redis == NULL || r.pg == NULL || load_db(&r) != 0) {
		fprintf(stderr, "bench_fanout: servers or test data failed\n");
		rc = 1;
		goto out;
	}
	printf("bench_fanout %s: %d subscribers, %d masters, %d client processes\n", argv[1],
	       r.subs, r.masters, r.clients);
	if (hold) {
		rc = phase_hold(&r) == 0 ? 0 : 1;
	} else {
		printf("rate %.0f signals/s (%.0f deliveries/s) for %d s\n", r.rate,
		       r.rate * r.subs / r.masters, r.seconds);
		rc = phase_floor(&r) == 0 && phase_fanout(&r) == 0 ? 0 : 1;
	}
out:
	harness_redis_destroy(r.redis);
	harness_pg_destroy(r.pg);
	if (rc == 0 && getenv("DECP_BENCH_KEEP") == NULL) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup of %s failed\n", r.dir);
	} else {
		fprintf(stderr, "files kept in %s\n", r.dir);
	}
	return rc;
}
