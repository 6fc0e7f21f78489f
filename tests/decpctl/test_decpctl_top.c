/*
 * decpctl top against real shared-memory segments: one created here with dp_shm_create()
 * (known counters and histograms, a thread moving a counter while top samples), and one
 * created by a real decp-dataplane --stack posix on loopback (stopped by PID).
 * usage: test_decpctl_top DECPCTL DECP_DATAPLANE
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl_test_util.h"
#include "dp_hist.h"
#include "dp_shm.h"

#include <rte_ring.h>
#include <rte_ring_elem.h>

static const char *g_bin;
static const char *g_dataplane;

/* One JSON sample of top on segment name; opt, val: one more option (NULL: none). */
static json_t *top_once_opt(const char *name, const char *opt, const char *val, int *code,
			    char **err_out)
{
	char *const av[] = {(char *)g_bin, "top",	  "--shm", (char *)name, "--json",
			    "--once",	   "--interval", "0.3",	  (char *)opt,	 (char *)val,
			    NULL};
	struct run_result r;
	CU_ASSERT_FATAL(run_prog(av, 30, &r) == 0);
	*code = r.code;
	json_error_t e;
	json_t *o = r.code == 0 ? json_loads(r.out, 0, &e) : NULL;
	if (err_out != NULL)
		*err_out = strdup(r.err);
	run_free(&r);
	return o;
}

static json_t *top_once(const char *name, int *code, char **err_out)
{
	return top_once_opt(name, NULL, NULL, code, err_out);
}

static atomic_int g_run;
static struct dp_stats *g_st0;

static void *bump(void *arg)
{
	(void)arg;
	while (atomic_load(&g_run)) {
		dp_stat_add(g_st0, DP_CTR_SIGNALS_ENQUEUED, 1);
		dp_stat_add(g_st0, DP_CTR_ACKS_SENT, 1);
		usleep(1000);
	}
	return NULL;
}

static double num(json_t *o, const char *path1, const char *path2)
{
	json_t *x = json_object_get(o, path1);
	if (path2 != NULL)
		x = json_object_get(x, path2);
	return json_number_value(x);
}

static void test_top_created_segment(void)
{
	char name[64];
	snprintf(name, sizeof(name), "/decpctl-t%d", (int)getpid());
	struct dp_shm shm;
	memset(&shm, 0, sizeof(shm));
	struct dp_shm_params p = {.name = name, .n_workers = 2, .ingress_entries = 64,
				  .ack_entries = 64, .ctrl_entries = 64};
	CU_ASSERT_EQUAL_FATAL(dp_shm_create(&shm, &p), 0);
	/* Known values: 1000 ACKs at 50 us on worker 0, 10 at 2 ms on worker 1, 3 bad HMACs,
	 * 5 open connections. */
	for (int i = 0; i < 1000; i++)
		dp_hist_record(&shm.stats[0].enq_to_ack, 50000);
	for (int i = 0; i < 10; i++)
		dp_hist_record(&shm.stats[1].enq_to_ack, 2000000);
	dp_stat_add(&shm.stats[1], DP_CTR_REASON_BASE + DP_REASON_BAD_HMAC, 3);
	dp_stat_add(&shm.stats[0], DP_CTR_CONN_ACCEPTED, 7);
	dp_stat_add(&shm.stats[0], DP_CTR_CONN_CLOSED, 2);
	struct dp_ingress_rec rec;
	memset(&rec, 0, sizeof(rec));
	CU_ASSERT_EQUAL(rte_ring_enqueue_elem(shm.ingress[1], &rec, sizeof(rec)), 0);

	g_st0 = &shm.stats[0];
	atomic_store(&g_run, 1);
	pthread_t th;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, bump, NULL), 0);
	int code;
	json_t *o = top_once(name, &code, NULL);
	atomic_store(&g_run, 0);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(code, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "n_workers")), 2);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "state")), "running");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "pid")), getpid());
	json_t *t = json_object_get(o, "total");
	CU_ASSERT_EQUAL(num(t, "rejects", "bad_hmac"), 3);
	CU_ASSERT_EQUAL(num(t, "connections", NULL), 5);
	CU_ASSERT_EQUAL(num(t, "ingress_depth", NULL), 1);
	CU_ASSERT_TRUE(num(t, "signals_per_s", NULL) > 50); /* ~1000/s from the thread */
	CU_ASSERT_TRUE(num(t, "acks_per_s", NULL) > 50);
	json_t *lat = json_object_get(t, "ack_latency_total");
	CU_ASSERT_EQUAL(num(lat, "count", NULL), 1010);
	/* Log-linear buckets: within 6.25 % above the true value. */
	CU_ASSERT_TRUE(num(lat, "p50_us", NULL) >= 50 && num(lat, "p50_us", NULL) <= 53.2);
	CU_ASSERT_TRUE(num(lat, "p999_us", NULL) >= 2000 && num(lat, "p999_us", NULL) <= 2125);
	/* Nothing recorded during the interval: interval percentiles are null, not 0. */
	CU_ASSERT_TRUE(json_is_null(json_object_get(json_object_get(t, "ack_latency"), "p99_us")));
	json_t *w1 = json_array_get(json_object_get(o, "workers"), 1);
	CU_ASSERT_EQUAL(num(w1, "ack_latency_total", "count"), 10);
	CU_ASSERT_EQUAL(num(w1, "rejects", "bad_hmac"), 3);
	CU_ASSERT_EQUAL(num(json_array_get(json_object_get(o, "workers"), 0), "rejects", "bad_hmac"), 0);
	json_decref(o);
	/* top only reads: it did not register as the control process. */
	CU_ASSERT_EQUAL(atomic_load(&shm.hdr->cp_pid), 0);
	CU_ASSERT_EQUAL(atomic_load(&shm.hdr->cp_attach_count), 0u);

	/* Text mode also works on the same segment. */
	char *const av[] = {(char *)g_bin, "top", "--shm", name, "--once", "--interval", "0.1", NULL};
	struct run_result r;
	CU_ASSERT_EQUAL(run_prog(av, 30, &r), 0);
	CU_ASSERT_EQUAL(r.code, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "worker 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "bad_hmac 3"));
	run_free(&r);

	dp_shm_destroy(&shm);
	char *err = NULL;
	o = top_once(name, &code, &err);
	CU_ASSERT_EQUAL(code, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not exist"));
	free(err);
	json_decref(o);
}

/* decp-dataplane --stack posix on shm segment name with workers workers; its pid or -1. */
static pid_t start_dataplane(const char *name, const char *workers)
{
	pid_t pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(nul, 1);
		execl(g_dataplane, g_dataplane, "--stack", "posix", "--tls", "off", "--listen",
		      "127.0.0.1:0", "--shm", name, "--workers", workers, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void test_top_real_dataplane(void)
{
	char name[64];
	snprintf(name, sizeof(name), "decpctl-dp%d", (int)getpid());
	pid_t pid = start_dataplane(name, "2");
	CU_ASSERT_FATAL(pid >= 0);
	/* Wait (bounded) for the segment to be published. */
	int code = -1;
	json_t *o = NULL;
	for (int i = 0; i < 100 && o == NULL; i++) {
		o = top_once(name, &code, NULL);
		if (o == NULL)
			usleep(50000);
	}
	kill(pid, SIGTERM);
	int st = 0;
	for (int i = 0; i < 100 && waitpid(pid, &st, WNOHANG) == 0; i++)
		usleep(50000);
	if (waitpid(pid, &st, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	char path[80];
	snprintf(path, sizeof(path), "/%s", name);
	shm_unlink(path); /* in case it died without cleaning up */
	CU_ASSERT_EQUAL(code, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "n_workers")), 2);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "pid")), pid);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "state")), "running");
	CU_ASSERT_TRUE(num(o, "heartbeat_age_ms", NULL) >= 0 && num(o, "heartbeat_age_ms", NULL) < 1000);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(o, "workers")), 2u);
	CU_ASSERT_TRUE(json_is_object(json_object_get(json_object_get(o, "total"), "rejects")));
	json_decref(o);
}

/* A dataplane killed with SIGKILL leaves its segment RUNNING: top says "stale" once it has
 * not beaten for 3 s (it said "running", exit 0, as if all were well). */
static void test_top_killed_dataplane(void)
{
	char name[64], path[80];
	snprintf(name, sizeof(name), "decpctl-dk%d", (int)getpid());
	snprintf(path, sizeof(path), "/%s", name);
	pid_t pid = start_dataplane(name, "1");
	CU_ASSERT_FATAL(pid >= 0);
	int code = -1, st = 0;
	json_t *o = NULL;
	for (int i = 0; i < 100 && o == NULL; i++) {
		o = top_once(name, &code, NULL);
		if (o == NULL)
			usleep(50000);
	}
	CU_ASSERT(o != NULL && strcmp(json_string_value(json_object_get(o, "state")), "running") == 0);
	json_decref(o);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	/* bounded: stale within 3 s of the last beat; polled up to 15 s */
	const char *state = "";
	o = NULL;
	for (int i = 0; i < 150; i++) {
		json_decref(o);
		o = top_once(name, &code, NULL);
		state = o != NULL ? json_string_value(json_object_get(o, "state")) : "";
		if (state != NULL && strcmp(state, "stale") == 0)
			break;
		usleep(100000);
	}
	CU_ASSERT(state != NULL && strcmp(state, "stale") == 0);
	CU_ASSERT(o != NULL && num(o, "heartbeat_age_ms", NULL) > 3000);
	CU_ASSERT(o != NULL && num(o, "stale_ms", NULL) == 3000);
	json_decref(o);
	char *const av[] = {(char *)g_bin, "top", "--shm", name, "--once", "--interval", "0.1", NULL};
	struct run_result r;
	CU_ASSERT_EQUAL(run_prog(av, 30, &r), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "NO HEARTBEAT"));
	run_free(&r);

	/* The threshold is decp-control's configured dataplane_stale_ms: with 600 s configured
	 * the same silent dataplane is not stale yet (decp-control would still wait for it). */
	char conf[] = "/tmp/decpctl-top-confXXXXXX", bad[] = "/tmp/decpctl-top-badXXXXXX";
	int fd = mkstemp(conf), fdb = mkstemp(bad);
	CU_ASSERT_FATAL(fd >= 0 && fdb >= 0);
	const char *text = "dataplane_stale_ms = 600000\n", *btext = "dataplane_stale_ms = 50\n";
	CU_ASSERT(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CU_ASSERT(write(fdb, btext, strlen(btext)) == (ssize_t)strlen(btext));
	close(fd);
	close(fdb);
	o = top_once_opt(name, "--config", conf, &code, NULL);
	CU_ASSERT(o != NULL && strcmp(json_string_value(json_object_get(o, "state")), "running") == 0);
	CU_ASSERT(o != NULL && num(o, "stale_ms", NULL) == 600000);
	json_decref(o);
	o = top_once_opt(name, "--stale-ms", "600000", &code, NULL);
	CU_ASSERT(o != NULL && strcmp(json_string_value(json_object_get(o, "state")), "running") == 0);
	json_decref(o);
	/* a configuration decp-control would refuse (below 100 ms): exit 1, said why */
	char *err = NULL;
	o = top_once_opt(name, "--config", bad, &code, &err);
	CU_ASSERT(o == NULL && code == 1 && err != NULL && strstr(err, "dataplane_stale_ms") != NULL);
	free(err);
	o = top_once_opt(name, "--stale-ms", "99", &code, NULL);
	CU_ASSERT(o == NULL && code == 2);
	unlink(conf);
	unlink(bad);
	shm_unlink(path);
}

/* --shm (and $DECP_SHM) by decp-dataplane's own rule (dp_shm_name_fix): a name it cannot
 * have created is a usage error naming the option, not "does not exist". */
static void test_top_bad_shm_name(void)
{
	static const char *const bad[] = {"a/b", "..", "x y", "/",
					  "0123456789012345678901234567890123456789"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int code;
		char *err = NULL;
		json_t *o = top_once(bad[i], &code, &err);
		CU_ASSERT_PTR_NULL(o);
		CU_ASSERT_EQUAL(code, 2);
		char want[128];
		snprintf(want, sizeof(want), "decpctl top: --shm '%s': 1..39 characters of", bad[i]);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
		if (code != 2 || strstr(err, want) == NULL)
			fprintf(stderr, "top --shm '%s': exit %d: %s\n", bad[i], code, err);
		free(err);
		json_decref(o);
	}
	char *const av[] = {"/usr/bin/env", "DECP_SHM=a/b", (char *)g_bin, "top", "--once", NULL};
	struct run_result r;
	CU_ASSERT_FATAL(run_prog(av, 30, &r) == 0);
	CU_ASSERT_EQUAL(r.code, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "decpctl top: $DECP_SHM 'a/b': 1..39 characters"));
	run_free(&r);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s DECPCTL DECP_DATAPLANE\n", argv[0]);
		return 2;
	}
	g_bin = argv[1];
	g_dataplane = argv[2];
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("decpctl_top", NULL, NULL);
	CU_add_test(s, "top --shm outside the dataplane's name rule", test_top_bad_shm_name);
	CU_add_test(s, "top on a segment made by dp_shm_create", test_top_created_segment);
	CU_add_test(s, "top on a real decp-dataplane --stack posix", test_top_real_dataplane);
	CU_add_test(s, "top on a killed decp-dataplane: stale", test_top_killed_dataplane);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
