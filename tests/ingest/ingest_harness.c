/* Ingest test harness. Contract in ingest_harness.h. */
#include "ingest_harness.h"

#include <CUnit/Basic.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto_frame.h"
#include "proto_hmac.h"
#include "proto_login.h"
#include "proto_msg.h"

extern char **environ;

const char *ih_dataplane_bin;
const char *ih_consumer_bin;
const char *ih_master_bin;

static unsigned int counter;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

const char *ih_path(const struct ih_env *e, const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", e->dir, name);
	return buf;
}

/* ---------------------------------------------------------------- stack under test */

#define IH_DPDK_PORT 7000u

static bool stack_is_dpdk(void)
{
	const char *s = getenv("IH_STACK");
	return s != NULL && strcmp(s, "dpdk") == 0;
}

static const char *dpdk_net(void)
{
	const char *n = getenv("IH_DPDK_NET");
	return n != NULL && n[0] != '\0' ? n : "10.99.0";
}

const char *ih_addr(void)
{
	static char a[32];
	if (!stack_is_dpdk())
		return "127.0.0.1";
	snprintf(a, sizeof(a), "%s.1", dpdk_net());
	return a;
}

/* Run a helper program (found on PATH) to completion; 0 when it exited 0. */
static int run_helper(struct ih_env *e, const char *const *argv)
{
	char out[512];
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	snprintf(out, sizeof(out), "%s/helpers.out", e->dir);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return rc == 0 && ih_wait(pid, 10000) == 0 ? 0 : -1;
}

int ih_init(struct ih_env *e, const char *tag)
{
	memset(e, 0, sizeof(*e));
	e->dp_pid = -1;
	snprintf(e->dir, sizeof(e->dir), "/tmp/decp-ingest-%s-%d-%u-XXXXXX", tag, (int)getpid(),
		 counter);
	snprintf(e->shm, sizeof(e->shm), "decpt-%d-%u", (int)getpid(), counter++);
	return mkdtemp(e->dir) != NULL ? 0 : -1;
}

pid_t ih_spawn(struct ih_env *e, const char *name, const char *const *argv)
{
	char out[512], err[512];
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	snprintf(out, sizeof(out), "%s/%s.out", e->dir, name);
	snprintf(err, sizeof(err), "%s/%s.err", e->dir, name);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_APPEND, 0644);
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return rc == 0 ? pid : -1;
}

int ih_wait(pid_t pid, int timeout_ms)
{
	int st;
	for (int waited = 0;; waited += 10) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0)
			return -1;
		if (waited >= timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		sleep_ms(10);
	}
}

void ih_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGCONT);
	kill(pid, SIGTERM);
	if (ih_wait(pid, 5000) < 0)
		fprintf(stderr, "ih_stop: pid %d needed SIGKILL\n", (int)pid);
}

/* posix: the bound port from the port file. */
static int wait_port_file(struct ih_env *e, const char *portfile)
{
	for (int i = 0; i < 1000; i++) {
		FILE *f = fopen(portfile, "r");
		if (f != NULL) {
			unsigned int p = 0;
			int ok = fscanf(f, "%u", &p) == 1;
			fclose(f);
			if (ok && p > 0) {
				e->port = (uint16_t)p;
				return 0;
			}
		}
		if (waitpid(e->dp_pid, NULL, WNOHANG) == e->dp_pid) {
			e->dp_pid = -1;
			return -1;
		}
		sleep_ms(10);
	}
	return -1;
}

/* dpdk: the ready file (port up), then the kernel side of the tap gets its address. */
static int wait_dpdk_ready(struct ih_env *e, const char *readyfile)
{
	for (int i = 0; access(readyfile, F_OK) != 0; i++) {
		if (i >= 2000 || waitpid(e->dp_pid, NULL, WNOHANG) == e->dp_pid) {
			if (i < 2000)
				e->dp_pid = -1;
			return -1;
		}
		sleep_ms(10);
	}
	const char *tap = getenv("IH_DPDK_TAP");
	char addr[40];
	snprintf(addr, sizeof(addr), "%s.2/24", dpdk_net());
	const char *add[] = {"ip", "addr", "add", addr, "dev", tap, NULL};
	/* A long kernel-side queue, as in tests/dataplane/topo/dp_topo.sh. */
	const char *up[] = {"ip", "link", "set", tap, "txqueuelen", "10000", "up", NULL};
	if (run_helper(e, add) != 0 || run_helper(e, up) != 0)
		return -1;
	e->port = IH_DPDK_PORT;
	return 0;
}

int ih_dataplane_start(struct ih_env *e, const char *const *extra)
{
	bool dpdk = stack_is_dpdk();
	if (dpdk && getenv("IH_DPDK_TAP") == NULL) {
		fprintf(stderr, "ih_dataplane_start: IH_STACK=dpdk needs IH_DPDK_TAP\n");
		return -1;
	}
	char waitfile[512], listen[48], vdev[96];
	/* posix: a restart reuses the port the first start was given (SO_REUSEADDR). */
	snprintf(listen, sizeof(listen), "%s:%u", ih_addr(),
		 dpdk ? IH_DPDK_PORT : (unsigned int)e->port);
	const char *argv[64];
	int n = 0;
	ih_path(e, dpdk ? "dp.ready" : "port", waitfile, sizeof(waitfile));
	argv[n++] = ih_dataplane_bin;
	argv[n++] = "--stack";
	argv[n++] = dpdk ? "dpdk" : "posix";
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--shm";
	argv[n++] = e->shm;
	argv[n++] = "--tls"; /* the protocol tests speak plaintext; tests/security has TLS */
	argv[n++] = "off";
	argv[n++] = dpdk ? "--ready-file" : "--port-file";
	argv[n++] = waitfile;
	for (int i = 0; extra != NULL && extra[i] != NULL && n < 44; i++) {
		argv[n++] = extra[i];
		if (dpdk && strcmp(extra[i], "--workers") == 0 && extra[i + 1] != NULL) {
			argv[n++] = "1";
			i++;
		}
	}
	if (dpdk) {
		snprintf(vdev, sizeof(vdev), "net_tap0,iface=%s", getenv("IH_DPDK_TAP"));
		const char *eal[] = {"--", "--no-pci", "--vdev", vdev, "-l", "0-1", "--file-prefix",
				     e->shm, "--no-huge", "-m", "256", "--log-level=lib.eal:error"};
		for (size_t i = 0; i < sizeof(eal) / sizeof(eal[0]); i++)
			argv[n++] = eal[i];
	}
	argv[n] = NULL;
	unlink(waitfile);
	e->dp_pid = ih_spawn(e, "dataplane", argv);
	if (e->dp_pid < 0)
		return -1;
	return dpdk ? wait_dpdk_ready(e, waitfile) : wait_port_file(e, waitfile);
}

void ih_cleanup(struct ih_env *e)
{
	if (e->dp_pid > 0)
		ih_stop(e->dp_pid);
	e->dp_pid = -1;
	char p[300];
	snprintf(p, sizeof(p), "/%s", e->shm);
	shm_unlink(p);
	if (stack_is_dpdk() && e->shm[0] != '\0' && e->dir[0] != '\0') {
		/* The EAL runtime directory of --file-prefix <shm>. */
		snprintf(p, sizeof(p), "/var/run/dpdk/%s", e->shm);
		const char *rm[] = {"rm", "-rf", p, NULL};
		run_helper(e, rm);
	}
	if (getenv("IH_KEEP") != NULL || e->dir[0] == '\0')
		return;
	DIR *d = opendir(e->dir);
	if (d != NULL) {
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			char f[600];
			snprintf(f, sizeof(f), "%s/%s", e->dir, de->d_name);
			unlink(f);
		}
		closedir(d);
	}
	rmdir(e->dir);
}

/* ---------------------------------------------------------------- raw client */

int ih_connect(uint16_t port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	if (inet_pton(AF_INET, ih_addr(), &a.sin_addr) != 1)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int ih_send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int send_master_frame(int fd, Decp__MasterFrame *f)
{
	uint8_t buf[8192];
	ssize_t n = proto_msg_frame_pack(&f->base, sizeof(buf) - 4, buf, sizeof(buf));
	return n > 0 ? ih_send_all(fd, buf, (size_t)n) : -1;
}

int ih_send_hello_raw(int fd, uint32_t version, const char *token, uint64_t master_id)
{
	Decp__Hello h = DECP__HELLO__INIT;
	h.license_token = (char *)(token != NULL ? token : "");
	h.master_id = master_id;
	h.client_version = "ingest-test";
	h.protocol_version = version;
	Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
	f.kind_case = DECP__MASTER_FRAME__KIND_HELLO;
	f.hello = &h;
	return send_master_frame(fd, &f);
}

/* One frame read by ih_send_hello that was not the challenge, handed to the next ih_recv
 * of that fd (the tests expect to read the refusal themselves). */
static struct {
	int fd;
	Decp__IngestFrame *f;
} pushback = {-1, NULL};

int ih_send_proof(int fd, const char *token, uint64_t master_id, const uint8_t *nonce,
		  size_t nonce_len)
{
	uint8_t buf[256];
	ssize_t n = proto_login_proof_frame(token, strlen(token), nonce, nonce_len, master_id,
					    NULL, buf, sizeof(buf));
	return n > 0 ? ih_send_all(fd, buf, (size_t)n) : -1;
}

int ih_send_hello(int fd, const char *token, uint64_t master_id)
{
	uint8_t buf[256];
	ssize_t n = proto_login_hello_frame(master_id, "ingest-test", buf, sizeof(buf));
	if (n <= 0 || ih_send_all(fd, buf, (size_t)n) != 0)
		return -1;
	bool eof;
	Decp__IngestFrame *f = ih_recv(fd, 5000, &eof);
	if (f == NULL)
		return 0; /* the test's next read sees the close */
	if (f->kind_case != DECP__INGEST_FRAME__KIND_CHALLENGE) {
		ih_frame_free(pushback.f);
		pushback.fd = fd;
		pushback.f = f;
		return 0;
	}
	int rc = ih_send_proof(fd, token, master_id, f->challenge->nonce.data,
			       f->challenge->nonce.len);
	ih_frame_free(f);
	return rc;
}

int ih_send_signal(int fd, const uint8_t secret[32], uint64_t master_id, uint64_t seq,
		   bool corrupt_hmac)
{
	return ih_send_signal_sig(fd, secret, master_id, seq, corrupt_hmac, 64);
}

int ih_send_signal_sig(int fd, const uint8_t secret[32], uint64_t master_id, uint64_t seq,
		       bool corrupt_hmac, size_t sig_len)
{
	Decp__Signal s = DECP__SIGNAL__INIT;
	s.master_id = master_id;
	s.sequence = seq;
	s.symbol = "EURUSD";
	s.order_type = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
	s.volume = 10;
	s.price = 108120;
	s.position_ticket = 1000 + seq;
	s.master_time_ns = 1700000000000000000ll;
	uint8_t body[256], mac[32], sig[64];
	size_t blen = decp__signal__pack(&s, body);
	struct proto_hmac_key k;
	proto_hmac_key_init(&k, secret, 32);
	proto_hmac_compute(&k, body, blen, mac);
	if (corrupt_hmac)
		mac[7] ^= 0x40;
	memset(sig, 0, sizeof(sig));
	Decp__SignedSignal ss = DECP__SIGNED_SIGNAL__INIT;
	ss.body.data = body;
	ss.body.len = blen;
	ss.hmac.data = mac;
	ss.hmac.len = 32;
	ss.ed25519_sig.data = sig;
	ss.ed25519_sig.len = sig_len < sizeof(sig) ? sig_len : sizeof(sig);
	Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
	f.kind_case = DECP__MASTER_FRAME__KIND_SIGNAL;
	f.signal = &ss;
	return send_master_frame(fd, &f);
}

int ih_send_heartbeat(int fd)
{
	Decp__Heartbeat hb = DECP__HEARTBEAT__INIT;
	hb.time_ns = 1;
	Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
	f.kind_case = DECP__MASTER_FRAME__KIND_HEARTBEAT;
	f.heartbeat = &hb;
	return send_master_frame(fd, &f);
}

/* Read exactly n bytes within the deadline. 1 ok, 0 timeout, -1 EOF/error. */
static int read_n(int fd, uint8_t *p, size_t n, int timeout_ms)
{
	while (n > 0) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int r = poll(&pf, 1, timeout_ms);
		if (r == 0)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		ssize_t k = recv(fd, p, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 1;
}

Decp__IngestFrame *ih_recv(int fd, int timeout_ms, bool *eof)
{
	uint8_t hdr[4], buf[8192];
	*eof = false;
	if (pushback.f != NULL && pushback.fd == fd) {
		Decp__IngestFrame *f = pushback.f;
		pushback.f = NULL;
		pushback.fd = -1;
		return f;
	}
	int r = read_n(fd, hdr, 4, timeout_ms);
	if (r <= 0) {
		*eof = r < 0;
		return NULL;
	}
	size_t len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (len == 0 || len > sizeof(buf))
		return NULL;
	r = read_n(fd, buf, len, timeout_ms);
	if (r <= 0) {
		*eof = r < 0;
		return NULL;
	}
	return proto_ingest_frame_decode(buf, len, NULL);
}

void ih_frame_free(Decp__IngestFrame *f)
{
	if (f != NULL)
		proto_msg_free(&f->base, NULL);
}

bool ih_wait_closed(int fd, int timeout_ms)
{
	for (int i = 0; i < 100; i++) {
		bool eof;
		Decp__IngestFrame *f = ih_recv(fd, timeout_ms, &eof);
		if (f == NULL)
			return eof;
		ih_frame_free(f);
	}
	return false;
}

bool ih_wait_file(const char *path, int timeout_ms)
{
	struct stat st;
	for (int t = 0; t < timeout_ms; t += 10) {
		if (stat(path, &st) == 0)
			return true;
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	return false;
}

pid_t ih_consumer_start(struct ih_env *e, const char *masters, const char *ready)
{
	char out[512], rp[512];
	ih_path(e, "durable.log", out, sizeof(out));
	ih_path(e, ready, rp, sizeof(rp));
	const char *argv[] = {ih_consumer_bin, "--shm", e->shm, "--masters", masters,
			      "--out", out, "--ready-file", rp, NULL};
	pid_t pid = ih_spawn(e, "consumer", argv);
	if (pid > 0 && !ih_wait_file(rp, 10000)) {
		ih_stop(pid);
		return -1;
	}
	return pid;
}

int ih_run_tests(const char *suite, const struct ih_test *tests, size_t n, const char *only_env)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite(suite, NULL, NULL);
	const char *only = getenv(only_env);
	for (size_t i = 0; i < n; i++)
		if (only == NULL || strstr(tests[i].name, only) != NULL)
			CU_add_test(s, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}

void ih_dump_logs(const struct ih_env *e, const char *const *names)
{
	for (size_t i = 0; names[i] != NULL; i++) {
		char p[512], line[1024];
		FILE *f = fopen(ih_path(e, names[i], p, sizeof(p)), "r");
		if (f == NULL)
			continue;
		fprintf(stderr, "---- %s\n", names[i]);
		while (fgets(line, sizeof(line), f) != NULL)
			fputs(line, stderr);
		fclose(f);
	}
}
