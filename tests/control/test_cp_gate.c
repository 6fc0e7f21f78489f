/*
 * test_cp_gate: the pre-authentication gate of the api and the fan-out
 * (controlplane/common/cp_gate.h) on real loopback sockets: a complete head is handed
 * over; at max_pending the oldest held connection is evicted, unless its head has arrived
 * and waits behind the accepts (then it is served: a flood must not cost a prompt client
 * its request); head_check's answer; the per-source cap; the head timeout.
 *
 * The gate thread is held inside the owner's handoff (a condition variable) while the
 * test lines connections up in the listener's queue, so that one accept batch meets them
 * all, whatever the machine's load: the order of events is made, not waited for.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <CUnit/Basic.h>

#include "cp_gate.h"

#define MAX_HANDED 16

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool hold;     /* the next handoff waits until released */
	bool holding;  /* a handoff is waiting now */
	int n;
	int fds[MAX_HANDED];
	char heads[MAX_HANDED][64];
} own = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void handoff(void *arg, int fd, const char *head, size_t len)
{
	(void)arg;
	pthread_mutex_lock(&own.mu);
	if (own.n < MAX_HANDED) {
		size_t l = len < sizeof(own.heads[0]) - 1 ? len : sizeof(own.heads[0]) - 1;

		memcpy(own.heads[own.n], head, l);
		own.heads[own.n][l] = '\0';
		own.fds[own.n++] = fd;
	} else {
		close(fd);
	}
	pthread_cond_broadcast(&own.cv);
	if (own.hold) {
		own.holding = true;
		pthread_cond_broadcast(&own.cv);
		while (own.hold)
			pthread_cond_wait(&own.cv, &own.mu);
		own.holding = false;
	}
	pthread_mutex_unlock(&own.mu);
}

static size_t head_check(void *arg, const char *head, size_t len, char *reply, size_t cap)
{
	static const char no[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

	(void)arg;
	if (len >= 9 && memcmp(head, "GET /bad ", 9) == 0 && cap >= sizeof(no) - 1) {
		memcpy(reply, no, sizeof(no) - 1);
		return sizeof(no) - 1;
	}
	return 0;
}

static void own_reset(void)
{
	pthread_mutex_lock(&own.mu);
	for (int i = 0; i < own.n; i++)
		close(own.fds[i]);
	own.n = 0;
	own.hold = own.holding = false;
	pthread_mutex_unlock(&own.mu);
}

/* Wait (at most 10 s) until n connections have been handed over; returns own.n. */
static int wait_handed(int n)
{
	struct timespec dl;
	int got;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	pthread_mutex_lock(&own.mu);
	while (own.n < n && pthread_cond_timedwait(&own.cv, &own.mu, &dl) != ETIMEDOUT)
		;
	got = own.n;
	pthread_mutex_unlock(&own.mu);
	return got;
}

/* Stats once pending == n (the gate closes an evicted connection before it adds the one
 * that evicted it, so the count settles a moment after the close is seen), or after 10 s. */
static void wait_pending(struct cp_gate *g, uint64_t n, struct cp_gate_stats *st)
{
	for (int i = 0; i < 10000; i++) {
		cp_gate_stats_get(g, st);
		if (st->pending == n)
			return;
		usleep(1000);
	}
}

static bool wait_holding(void)
{
	struct timespec dl;
	bool h;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	pthread_mutex_lock(&own.mu);
	while (!own.holding && pthread_cond_timedwait(&own.cv, &own.mu, &dl) != ETIMEDOUT)
		;
	h = own.holding;
	pthread_mutex_unlock(&own.mu);
	return h;
}

static void release(void)
{
	pthread_mutex_lock(&own.mu);
	own.hold = false;
	pthread_cond_broadcast(&own.cv);
	pthread_mutex_unlock(&own.mu);
}

static int port;

static struct cp_gate *gate_start(uint32_t max_pending, uint32_t per_source, uint32_t timeout_ms)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
		return NULL;
	port = ntohs(sa.sin_port);
	struct cp_gate_cfg c = {.name = "test", .listen_fd = fd, .max_pending = max_pending,
				.per_source = per_source, .head_timeout_ms = timeout_ms,
				.head_check = head_check, .handoff = handoff};
	return cp_gate_start(&c);
}

/* A blocking client connection (established: the kernel completed the handshake and
 * queued it on the listener), optionally sending bytes. */
static int client(const char *send_first)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (send_first != NULL &&
	    send(fd, send_first, strlen(send_first), MSG_NOSIGNAL) != (ssize_t)strlen(send_first)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* 1: the server closed fd (EOF, or a reset), 0: still open after ms, -1 error. Any
 * answer bytes are read into out (NUL-terminated, may be NULL). */
static int closed_within(int fd, int ms, char *out, size_t cap)
{
	size_t got = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	for (;;) {
		int r = poll(&p, 1, ms);

		if (r == 0)
			return 0;
		if (r < 0)
			return -1;
		char b[256];
		ssize_t n = recv(fd, b, sizeof(b), 0);

		if (n <= 0)
			return 1;
		if (out != NULL && got + (size_t)n < cap) {
			memcpy(out + got, b, (size_t)n);
			got += (size_t)n;
			out[got] = '\0';
		}
	}
}

static void test_handed_over(void)
{
	struct cp_gate *g = gate_start(4, 64, 10000);
	struct cp_gate_stats st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	static const char head[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
	int a = client(head);

	CU_ASSERT_EQUAL(wait_handed(1), 1);
	CU_ASSERT_STRING_EQUAL(own.heads[0], head);
	/* the head is only peeked: the owner reads it from the socket */
	char b[64] = "";
	ssize_t n = recv(own.fds[0], b, sizeof(b) - 1, MSG_DONTWAIT);

	CU_ASSERT_EQUAL(n, (ssize_t)sizeof(head) - 1);
	cp_gate_stats_get(g, &st);
	CU_ASSERT_EQUAL(st.handed, 1);
	CU_ASSERT_EQUAL(st.pending, 0);
	close(a);
	cp_gate_stop(g);
	own_reset();
}

/*
 * The gate is held inside the handoff of X; then A connects and sends its whole head,
 * and four idle connections follow. Released, the gate accepts A and the four in one
 * batch: the fifth accept meets the cap of 4 with A the oldest, A's event not yet
 * polled. A is served (its head had arrived), nothing is evicted. One more idle
 * connection then evicts the oldest idle one.
 */
static void test_oldest_with_head_served(void)
{
	struct cp_gate *g = gate_start(4, 64, 10000);
	struct cp_gate_stats st;
	int idle[5];

	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	own.hold = true;
	int x = client("GET /x HTTP/1.1\r\n\r\n");

	CU_ASSERT_FATAL(wait_holding());
	int a = client("GET /a HTTP/1.1\r\n\r\n");

	for (int i = 0; i < 4; i++)
		idle[i] = client(NULL);
	release();
	CU_ASSERT_EQUAL(wait_handed(2), 2);
	CU_ASSERT_STRING_EQUAL(own.heads[1], "GET /a HTTP/1.1\r\n\r\n");
	CU_ASSERT_EQUAL(closed_within(a, 0, NULL, 0), 0);
	cp_gate_stats_get(g, &st);
	CU_ASSERT_EQUAL(st.evicted, 0);
	CU_ASSERT_EQUAL(st.accepted, 6);

	/* the idle ones stay held; a fifth evicts the first of them */
	idle[4] = client(NULL);
	CU_ASSERT_EQUAL(closed_within(idle[0], 10000, NULL, 0), 1);
	wait_pending(g, 4, &st);
	CU_ASSERT_EQUAL(st.evicted, 1);
	CU_ASSERT_EQUAL(st.pending, 4);
	for (int i = 1; i < 5; i++)
		CU_ASSERT_EQUAL(closed_within(idle[i], 0, NULL, 0), 0);
	for (int i = 0; i < 5; i++)
		close(idle[i]);
	close(a);
	close(x);
	cp_gate_stop(g);
	own_reset();
}

/* head_check's answer is sent and the connection closed; the per-source cap closes at
 * accept; a head that never completes is closed at the timeout. */
static void test_refusals(void)
{
	struct cp_gate *g = gate_start(16, 2, 300);
	struct cp_gate_stats st;
	char out[256] = "";

	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	int bad = client("GET /bad HTTP/1.1\r\n\r\n");

	CU_ASSERT_EQUAL(closed_within(bad, 10000, out, sizeof(out)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "400 Bad Request"));
	close(bad);
	int h1 = client("GET / HTTP/1.1\r\n"), h2 = client(NULL), h3 = client(NULL);

	/* the third from 127.0.0.1 is over per_source 2: closed at once; the first two at
	 * the timeout (300 ms) */
	CU_ASSERT_EQUAL(closed_within(h3, 10000, NULL, 0), 1);
	CU_ASSERT_EQUAL(closed_within(h1, 10000, NULL, 0), 1);
	CU_ASSERT_EQUAL(closed_within(h2, 10000, NULL, 0), 1);
	cp_gate_stats_get(g, &st);
	CU_ASSERT_EQUAL(st.refused_head, 1);
	CU_ASSERT_EQUAL(st.source_capped, 1);
	CU_ASSERT_EQUAL(st.timed_out, 2);
	CU_ASSERT_EQUAL(st.handed, 0);
	close(h1);
	close(h2);
	close(h3);
	cp_gate_stop(g);
	own_reset();
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("cp_gate", NULL, NULL);
	CU_add_test(s, "a complete head is handed over, unread", test_handed_over);
	CU_add_test(s, "at the cap the oldest is served if its head arrived, else evicted",
		    test_oldest_with_head_served);
	CU_add_test(s, "head_check, per-source cap, head timeout", test_refusals);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();

	CU_cleanup_registry();
	return failed ? 1 : 0;
}
