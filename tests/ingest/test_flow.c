/*
 * Whole ingest path with real processes on loopback: decp-master -> decp-dataplane
 * (--stack posix) -> shared-memory rings -> decp-testconsumer (durable log + ACKs) -> back.
 * The consumer's durable log must hold, per master, exactly the sequences 1..N in order:
 * nothing lost, nothing twice. decp-master's exit status 0 means every signal was ACKed.
 * usage: test_flow DATAPLANE_BIN TESTCONSUMER_BIN MASTER_BIN
 */
#include <CUnit/Basic.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ingest_harness.h"

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* The durable log holds masters 1..n_masters with exactly 1..n_signals each, in order. */
static bool check_log(const char *path, uint32_t n_masters, uint64_t n_signals)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	uint64_t *last = calloc(n_masters + 1, sizeof(uint64_t));
	unsigned long long m, s;
	long long a;
	bool ok = true;
	uint64_t lines = 0;
	while (fscanf(f, "%llu %llu %lld", &m, &s, &a) == 3) {
		lines++;
		if (m < 1 || m > n_masters || s != last[m] + 1 || a <= 0) {
			if (ok)
				fprintf(stderr, "check_log: line %" PRIu64 ": master %llu seq %llu after %"
					PRIu64 "\n", lines, m, s, m <= n_masters ? last[m] : 0);
			ok = false;
			continue;
		}
		last[m] = s;
	}
	fclose(f);
	for (uint32_t i = 1; i <= n_masters; i++)
		if (last[i] != n_signals) {
			if (ok)
				fprintf(stderr, "check_log: master %u ends at %" PRIu64 "\n", i, last[i]);
			ok = false;
		}
	free(last);
	return ok;
}

/* Value of "key=N" in the master's summary (dir/master.out), or -1. */
static long long summary_value(struct ih_env *e, const char *key)
{
	char p[512], line[4096];
	FILE *f = fopen(ih_path(e, "master.out", p, sizeof(p)), "r");
	long long v = -1;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char pat[64];
		snprintf(pat, sizeof(pat), " %s=", key);
		char *at = strstr(line, pat);
		if (at != NULL)
			v = atoll(at + strlen(pat));
	}
	fclose(f);
	return v;
}

/* Print the programs' logs when a test failed, so a CI log says what happened. */
static void dump_logs(struct ih_env *e, unsigned int failures_before)
{
	if (CU_get_number_of_failures() == failures_before)
		return;
	static const char *const names[] = {"master.out", "master.err", "consumer.err",
					    "dataplane.err", NULL};
	ih_dump_logs(e, names);
}

static pid_t master_start(struct ih_env *e, const char *const *args)
{
	char conn[64];
	const char *argv[40];
	int n = 0;
	snprintf(conn, sizeof(conn), "%s:%u", ih_addr(), (unsigned int)e->port);
	argv[n++] = ih_master_bin;
	argv[n++] = "--connect";
	argv[n++] = conn;
	for (int i = 0; args[i] != NULL && n < 39; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return ih_spawn(e, "master", argv);
}

static void test_50_masters_exactly_once(void)
{
	struct ih_env e;
	char p[512];
	unsigned int f0 = CU_get_number_of_failures();
	const char *dp[] = {"--workers", "2", NULL};
	CU_ASSERT_FATAL(ih_init(&e, "bulk") == 0);
	if (ih_dataplane_start(&e, dp) != 0) {
		CU_FAIL("dataplane start");
		ih_cleanup(&e);
		return;
	}
	pid_t c = ih_consumer_start(&e, "50", "ready");
	CU_ASSERT(c > 0);
	const char *margs[] = {"--masters", "50", "--signals", "20000", "--threads", "2",
			       "--fake-ed25519", "--time-limit-s", "240", NULL};
	pid_t m = master_start(&e, margs);
	CU_ASSERT(ih_wait(m, 250000) == 0);
	ih_stop(c);
	CU_ASSERT(check_log(ih_path(&e, "durable.log", p, sizeof(p)), 50, 20000));
	CU_ASSERT(summary_value(&e, "acked") == 1000000);
	dump_logs(&e, f0);
	ih_cleanup(&e);
}

static void test_ring_full_busy_then_resend(void)
{
	struct ih_env e;
	char p[512];
	unsigned int f0 = CU_get_number_of_failures();
	const char *dp[] = {"--workers", "1", "--ring-size", "64", NULL};
	CU_ASSERT_FATAL(ih_init(&e, "busy") == 0);
	if (ih_dataplane_start(&e, dp) != 0) {
		CU_FAIL("dataplane start");
		ih_cleanup(&e);
		return;
	}
	pid_t c = ih_consumer_start(&e, "2", "ready");
	CU_ASSERT_FATAL(c > 0);
	kill(c, SIGSTOP); /* consumer paused: the 63-entry ring fills */
	const char *margs[] = {"--masters", "2", "--signals", "3000", "--ack-timeout-ms", "20000",
			       "--time-limit-s", "60", NULL};
	pid_t m = master_start(&e, margs);
	sleep_ms(1500);
	kill(c, SIGCONT);
	CU_ASSERT(ih_wait(m, 70000) == 0);
	ih_stop(c);
	CU_ASSERT(summary_value(&e, "nack_busy") > 0);
	CU_ASSERT(summary_value(&e, "acked") == 6000);
	CU_ASSERT(check_log(ih_path(&e, "durable.log", p, sizeof(p)), 2, 3000));
	dump_logs(&e, f0);
	ih_cleanup(&e);
}

/* The crash tests' stream: 10 masters x 10,000 signals at 30,000/s, 500 ms ACK timeout;
 * one of the processes is killed mid-stream by the caller. */
static bool crash_run_start(struct ih_env *e, const char *tag, pid_t *c, pid_t *m)
{
	static const char *const dp[] = {"--workers", "2", NULL};
	static const char *const margs[] = {"--masters", "10", "--signals", "10000", "--rate",
					    "30000", "--ack-timeout-ms", "500", "--fake-ed25519",
					    "--time-limit-s", "90", NULL};
	*c = *m = -1;
	if (ih_init(e, tag) != 0 || ih_dataplane_start(e, dp) != 0 ||
	    (*c = ih_consumer_start(e, "10", "ready1")) <= 0)
		return false;
	*m = master_start(e, margs);
	return *m > 0;
}

/* Wait for the master, then: everything ACKed, the durable log exact. */
static void crash_run_finish(struct ih_env *e, pid_t c, pid_t m, unsigned int f0)
{
	char p[512];
	if (m > 0)
		CU_ASSERT(ih_wait(m, 100000) == 0);
	ih_stop(c);
	CU_ASSERT(summary_value(e, "acked") == 100000);
	CU_ASSERT(check_log(ih_path(e, "durable.log", p, sizeof(p)), 10, 10000));
	dump_logs(e, f0);
	ih_cleanup(e);
}

static bool file_contains(struct ih_env *e, const char *name, const char *needle);

static void test_consumer_killed_and_restarted(void)
{
	struct ih_env e;
	pid_t c, m;
	unsigned int f0 = CU_get_number_of_failures();
	if (!crash_run_start(&e, "crash", &c, &m)) {
		CU_FAIL("start");
		crash_run_finish(&e, c, m, f0);
		return;
	}
	sleep_ms(1200);
	kill(c, SIGKILL); /* mid-stream: records it dequeued but did not write are lost */
	CU_ASSERT(ih_wait(c, 5000) == 128 + SIGKILL);
	sleep_ms(700);
	c = ih_consumer_start(&e, "10", "ready2");
	CU_ASSERT(c > 0);
	CU_ASSERT(ih_wait(m, 100000) == 0);
	m = -1;
	CU_ASSERT(summary_value(&e, "reconnects") > 0);
	crash_run_finish(&e, c, m, f0);
}

static void test_dataplane_killed_and_restarted(void)
{
	struct ih_env e;
	pid_t c, m;
	unsigned int f0 = CU_get_number_of_failures();
	if (!crash_run_start(&e, "dprestart", &c, &m)) {
		CU_FAIL("start");
		crash_run_finish(&e, c, m, f0);
		return;
	}
	sleep_ms(1200);
	/* Crash: no clean STOPPED mark, the segment stays behind, ring contents are lost. */
	kill(e.dp_pid, SIGKILL);
	CU_ASSERT(ih_wait(e.dp_pid, 5000) == 128 + SIGKILL);
	e.dp_pid = -1;
	sleep_ms(300);
	static const char *const dp[] = {"--workers", "2", NULL};
	CU_ASSERT(ih_dataplane_start(&e, dp) == 0);
	CU_ASSERT(ih_wait(m, 100000) == 0);
	m = -1;
	CU_ASSERT(file_contains(&e, "consumer.err", "re-attaching"));
	crash_run_finish(&e, c, m, f0);
}

static bool file_contains(struct ih_env *e, const char *name, const char *needle)
{
	char p[512], buf[8192];
	FILE *f = fopen(ih_path(e, name, p, sizeof(p)), "r");
	if (f == NULL)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void test_master_refused_and_bad_files(void)
{
	struct ih_env e;
	char p[512], csv[512], jsonl[512], bad[512];
	unsigned int f0 = CU_get_number_of_failures();
	const char *dp[] = {"--workers", "1", NULL};
	CU_ASSERT_FATAL(ih_init(&e, "refused") == 0);
	if (ih_dataplane_start(&e, dp) != 0) {
		CU_FAIL("dataplane start");
		ih_cleanup(&e);
		return;
	}
	pid_t c = ih_consumer_start(&e, "1", "ready");
	CU_ASSERT_FATAL(c > 0);
	/* Wrong credentials: a clear message and exit status 3. */
	const char *wrong[] = {"--key-seed", "someone-else", "--signals", "5", NULL};
	CU_ASSERT(ih_wait(master_start(&e, wrong), 20000) == 3);
	CU_ASSERT(file_contains(&e, "master.err", "login refused"));

	/* Trade files: good CSV and JSONL replay; a bad one names file and line. */
	FILE *f = fopen(ih_path(&e, "t.csv", csv, sizeof(csv)), "w");
	fprintf(f, "symbol,order_type,volume,price,sl,tp,position_ticket\n"
		   "EURUSD,BUY,0.10,1.08120,1.07900,1.08500,1001\n"
		   "EURUSD,CLOSE,0,1.08200,0,0,1001\n");
	fclose(f);
	f = fopen(ih_path(&e, "t.jsonl", jsonl, sizeof(jsonl)), "w");
	fprintf(f, "{\"symbol\":\"USDJPY\",\"order_type\":\"SELL\",\"volume\":\"1.00\","
		   "\"price\":\"150.12300\",\"position_ticket\":7}\n"
		   "{\"symbol\":\"USDJPY\",\"order_type\":\"CLOSE\",\"volume\":0,"
		   "\"price\":\"150.2\",\"position_ticket\":7}\n");
	fclose(f);
	f = fopen(ih_path(&e, "bad.csv", bad, sizeof(bad)), "w");
	fprintf(f, "EURUSD,BUY,0.10,1.08120,0,0,1\nEURUSD,HOLD,0.10,1.08120,0,0,1\n");
	fclose(f);
	const char *a1[] = {"--trades", csv, "--signals", "10", NULL};
	CU_ASSERT(ih_wait(master_start(&e, a1), 20000) == 0);
	const char *a2[] = {"--trades", jsonl, "--signals", "20", NULL};
	CU_ASSERT(ih_wait(master_start(&e, a2), 20000) == 0);
	const char *a3[] = {"--trades", bad, NULL};
	CU_ASSERT(ih_wait(master_start(&e, a3), 20000) == 2);
	char needle[600];
	snprintf(needle, sizeof(needle), "%s:2: unknown order_type", bad);
	CU_ASSERT(file_contains(&e, "master.err", needle));
	/* master ids past PostgreSQL's bigint: refused before any connection */
	const char *a4[] = {"--master-base", "9223372036854775807", "--masters", "2", NULL};
	CU_ASSERT(ih_wait(master_start(&e, a4), 20000) == 2);
	CU_ASSERT(file_contains(&e, "master.err", "(the largest master id)"));
	ih_stop(c);
	/* Second run resumed from HelloAck: 20 signals total in order. */
	CU_ASSERT(check_log(ih_path(&e, "durable.log", p, sizeof(p)), 1, 20));
	dump_logs(&e, f0);
	ih_cleanup(&e);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s DATAPLANE_BIN TESTCONSUMER_BIN MASTER_BIN\n", argv[0]);
		return 2;
	}
	ih_dataplane_bin = argv[1];
	ih_consumer_bin = argv[2];
	ih_master_bin = argv[3];
	static const struct ih_test tests[] = {
		{"50 masters x 20000 signals exactly once", test_50_masters_exactly_once},
		{"ring full: Nack BUSY then resend", test_ring_full_busy_then_resend},
		{"consumer killed and restarted", test_consumer_killed_and_restarted},
		{"master refused login and trade files", test_master_refused_and_bad_files},
		{"dataplane killed and restarted", test_dataplane_killed_and_restarted},
	};
	return ih_run_tests("ingest_flow", tests, sizeof(tests) / sizeof(tests[0]),
			    "INGEST_FLOW_ONLY");
}
