/* harness_flood: idle and half-sent connections against a loopback server from several
 * loopback source addresses (issue 28's pre-authentication budgets). Contract in
 * harness.h. */
#include "harness.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A non-blocking connection from 127.0.0.<2 + k % naddrs> to 127.0.0.1:port; -1 on error. */
static int flood_connect(int port, int k, int naddrs)
{
	struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(k % naddrs));
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
	    (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	return fd;
}

int harness_nofile_raise(unsigned long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -errno;
	if (rl.rlim_cur >= want)
		return 0;
	rl.rlim_cur = want <= rl.rlim_max ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -errno;
	return rl.rlim_cur >= want ? 0 : -EMFILE;
}

/* The attacker: opens, holds and reopens the connections for c->seconds (in a child). */
static int flood_attack(const struct harness_flood_cfg *c, struct harness_flood_result *r)
{
	int *fds = calloc((size_t)c->conns, sizeof(*fds));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int64_t t0 = mono_ns(), end = t0 + (int64_t)c->seconds * 1000000000LL;
	int64_t reconnect_budget_at = t0;
	double reconnects_per_ms = c->reconnect_per_s / 1000.0, budget = 0;
	static const char half[] = "GET / HTTP/1.1\r\nHost: x\r\n"; /* never finished */

	if (fds == NULL || ep < 0) {
		free(fds);
		if (ep >= 0)
			close(ep);
		return -ENOMEM;
	}
	for (int i = 0; i < c->conns; i++) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i};

		fds[i] = flood_connect(c->port, i, c->naddrs);
		if (fds[i] < 0)
			continue;
		r->opened++;
		if ((i / c->naddrs) % 2 == 1) /* half of them start a request and stop (slowloris) */
			(void)send(fds[i], half, sizeof(half) - 1, MSG_NOSIGNAL);
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
	}
	/* the connections are open: the hold (and the probes) start now, for c->seconds */
	end = mono_ns() + (int64_t)c->seconds * 1000000000LL;
	atomic_store(&r->holding, 1);
	while (mono_ns() < end) {
		struct epoll_event evs[512];
		int64_t now = mono_ns();
		int n;

		n = epoll_wait(ep, evs, 512, 10);
		for (int k = 0; k < n; k++) {
			int i = (int)evs[k].data.u32;
			char b[256];
			ssize_t got = recv(fds[i], b, sizeof(b), MSG_DONTWAIT);

			if (got > 0 || (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
				continue; /* an answer (a 400, a 431): the close follows */
			epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
			close(fds[i]);
			fds[i] = -1;
			r->closed_by_server++;
		}
		/* reopen what the server closed, at most reconnect_per_s: the attacker insists */
		now = mono_ns();
		budget += (double)(now - reconnect_budget_at) / 1e6 * reconnects_per_ms;
		reconnect_budget_at = now;
		/* a steady rate, bursts of 50 ms at most: a budget saved up while the server
		 * held everything would otherwise come back as one burst of thousands */
		if (budget > c->reconnect_per_s / 20.0 + 1)
			budget = c->reconnect_per_s / 20.0 + 1;
		for (int i = 0; i < c->conns && budget >= 1; i++) {
			struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i};

			if (fds[i] >= 0)
				continue;
			budget -= 1;
			fds[i] = flood_connect(c->port, i, c->naddrs);
			if (fds[i] < 0)
				continue;
			r->opened++;
			if ((i / c->naddrs) % 2 == 1)
				(void)send(fds[i], half, sizeof(half) - 1, MSG_NOSIGNAL);
			epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
		}
	}
	for (int i = 0; i < c->conns; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			r->still_open++;
		}
	free(fds);
	close(ep);
	return 0;
}

/*
 * The attacker runs in a child process at a lower priority (nice 10): a real flood comes
 * from other machines, so what is measured is what it costs the server, not the CPU the
 * attacking loop takes from the probe on the same 2 cores. The probes run here.
 */
int harness_flood(const struct harness_flood_cfg *c, struct harness_flood_result *r)
{
	struct harness_flood_result *shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
						   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int64_t next_probe;
	pid_t child;
	int st;

	memset(r, 0, sizeof(*r));
	if (shared == MAP_FAILED)
		return -ENOMEM;
	memset(shared, 0, sizeof(*shared));
	child = fork();
	if (child < 0) {
		munmap(shared, sizeof(*shared));
		return -errno;
	}
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		errno = 0;
		if (nice(10) == -1 && errno != 0)
			_exit(3);
		_exit(flood_attack(c, shared) == 0 ? 0 : 2);
	}
	next_probe = 0;
	while (waitpid(child, &st, WNOHANG) == 0) {
		int64_t now = mono_ns();

		/* probes during the hold: once the child has opened all its connections */
		if (c->probe == NULL || !atomic_load(&shared->holding) || now < next_probe) {
			usleep(5000);
			continue;
		}
		double ms = c->probe(c->probe_arg);

		if (r->probes < HARNESS_FLOOD_PROBES_MAX)
			r->probe_ms[r->probes] = ms;
		r->probes++;
		if (ms < 0)
			r->probe_failed++;
		else if (ms > r->probe_max_ms)
			r->probe_max_ms = ms;
		next_probe = now + (int64_t)c->probe_every_ms * 1000000;
	}
	r->opened = shared->opened;
	r->closed_by_server = shared->closed_by_server;
	r->still_open = shared->still_open;
	munmap(shared, sizeof(*shared));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -ECHILD;
	if (r->probes > 0) {
		int m = r->probes < HARNESS_FLOOD_PROBES_MAX ? r->probes : HARNESS_FLOOD_PROBES_MAX;
		double *v = malloc((size_t)m * sizeof(*v));

		if (v != NULL) {
			memcpy(v, r->probe_ms, (size_t)m * sizeof(*v));
			for (int i = 1; i < m; i++) /* insertion sort: a few hundred values */
				for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
					double t = v[j];
					v[j] = v[j - 1];
					v[j - 1] = t;
				}
			r->probe_p99_ms = v[(m * 99) / 100 < m ? (m * 99) / 100 : m - 1];
			free(v);
		}
	}
	return 0;
}
