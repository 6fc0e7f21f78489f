/*
 * Helpers for the ingest tests: start/stop real processes (decp-dataplane,
 * decp-testconsumer, decp-master) with their own shm names, ports (bound by the dataplane
 * on port 0 and reported through --port-file) and temp directory; a raw master client
 * that speaks the wire protocol frame by frame for the bad-input cases.
 * Everything started is stopped by pid in ih_cleanup(), also after a failed assertion.
 *
 * The stack under test comes from the environment (tests/ingest/run_dpdk.sh sets it):
 *   IH_STACK=posix (default)  decp-dataplane --stack posix on 127.0.0.1, port 0
 *   IH_STACK=dpdk             decp-dataplane --stack dpdk on net_tap interface
 *                             $IH_DPDK_TAP (the caller's network namespace), the stack at
 *                             $IH_DPDK_NET.1:7000 and the kernel side at $IH_DPDK_NET.2/24;
 *                             "--workers N" in extra becomes "--workers 1" (net_tap has no
 *                             RSS on this kernel, docs/dataplane.md); EAL runs with
 *                             --no-pci --no-huge -m 256 and --file-prefix = the shm name.
 * Tests connect to ih_addr():e->port either way.
 */
#ifndef DECP_INGEST_HARNESS_H
#define DECP_INGEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "decp.pb-c.h"

struct ih_env {
	char dir[256];       /* private temp dir, removed by ih_cleanup */
	char shm[64];        /* unique shm name */
	uint16_t port;
	pid_t dp_pid;
};

/* Paths of the programs under test, set by main() from argv. */
extern const char *ih_dataplane_bin;
extern const char *ih_consumer_bin;
extern const char *ih_master_bin;

/* Address of the dataplane under test ("127.0.0.1", or $IH_DPDK_NET.1). */
const char *ih_addr(void);

/* Make dir and shm name unique for this test. Returns 0 or -1. */
int ih_init(struct ih_env *e, const char *tag);

/* Start decp-dataplane with extra args (NULL-terminated list); waits for the port file
 * (posix) or the ready file and the tap's address (dpdk). posix: the first start binds
 * port 0 (any free port), a later start (restart) binds e->port; dpdk: port 7000.
 * Returns 0 or -1. */
int ih_dataplane_start(struct ih_env *e, const char *const *extra);

/* Spawn a program with argv (argv[0] = path); stdout/stderr to dir/<name>.out/.err.
 * Returns the pid or -1. */
pid_t ih_spawn(struct ih_env *e, const char *name, const char *const *argv);

/* Wait for pid up to timeout_ms; returns the exit status (0..255), 128+signal, or -1 on
 * timeout (the process is then killed). */
int ih_wait(pid_t pid, int timeout_ms);

/* SIGTERM then SIGKILL after 2 s. */
void ih_stop(pid_t pid);

/* Stop the dataplane, remove temp files and the shm object. */
void ih_cleanup(struct ih_env *e);

/* Whether path exists within timeout_ms. */
bool ih_wait_file(const char *path, int timeout_ms);

/* Start decp-testconsumer (ih_consumer_bin) for masters 1..masters with the durable log
 * dir/durable.log, and wait (10 s) until it has made the dataplane READY (dir/<ready>).
 * Returns its pid, or -1 (then it is stopped). */
pid_t ih_consumer_start(struct ih_env *e, const char *masters, const char *ready);

/* Copy dir/<name> for each of the programs' log names (NULL-terminated) to stderr, so a
 * failed test's CI log says what happened. Missing files are skipped. */
void ih_dump_logs(const struct ih_env *e, const char *const *names);

/* One test of a CUnit program run through ih_run_tests. */
struct ih_test {
	const char *name;
	void (*fn)(void);
};

/*
 * Run the tests whose name contains getenv(only_env) (all when unset) as CUnit suite
 * `suite`, verbosely. Returns the process exit status: 0 all passed, 1 otherwise.
 */
int ih_run_tests(const char *suite, const struct ih_test *tests, size_t n, const char *only_env);

/* Path helper: dir/name into buf. */
const char *ih_path(const struct ih_env *e, const char *name, char *buf, size_t cap);

/* ---------------------------------------------------------------- raw client */

int ih_connect(uint16_t port);   /* blocking TCP connect to ih_addr(); fd or -1 */
int ih_send_all(int fd, const void *p, size_t n);
/* Log in (protocol 2): Hello, then -- if ingest answers with ServerChallenge -- the
 * LoginProof computed from token. Any other answer is kept for the next ih_recv on fd.
 * Returns 0, or -1 when a send failed. */
int ih_send_hello(int fd, const char *token, uint64_t master_id);
/* Just a Hello of any version, optionally carrying a token (protocol 1 did). */
int ih_send_hello_raw(int fd, uint32_t version, const char *token, uint64_t master_id);
/* The LoginProof for a nonce received in ServerChallenge. */
int ih_send_proof(int fd, const char *token, uint64_t master_id, const uint8_t *nonce,
		  size_t nonce_len);
/* Build and send a signed signal; hmac_key NULL = all-zero MAC. */
int ih_send_signal(int fd, const uint8_t secret[32], uint64_t master_id, uint64_t seq,
		   bool corrupt_hmac);
/* The same with an Ed25519 signature field of sig_len bytes (0..64; 64 as above). */
int ih_send_signal_sig(int fd, const uint8_t secret[32], uint64_t master_id, uint64_t seq,
		       bool corrupt_hmac, size_t sig_len);
int ih_send_heartbeat(int fd);

/*
 * Read the next ingest frame within timeout_ms. Returns the frame (free with
 * ih_frame_free), or NULL on timeout, EOF or error; *eof is set to true on EOF/reset.
 */
Decp__IngestFrame *ih_recv(int fd, int timeout_ms, bool *eof);
void ih_frame_free(Decp__IngestFrame *f);

/* true when the peer closes the connection within timeout_ms (frames before are skipped). */
bool ih_wait_closed(int fd, int timeout_ms);

#endif
