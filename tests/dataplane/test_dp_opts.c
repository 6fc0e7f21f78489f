/*
 * dp_opts: decp-dataplane's one command-line parser for both stacks. Defaults, every
 * option of each stack, refusal of the other stack's options, --listen rules per stack,
 * the EAL argument range after "--", usage errors, and a --config file (dp_opts_load).
 * Messages go to stderr; stdout is touched only by --help.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dp_conf.h"
#include "dp_opts.h"
#include "dp_session.h"
#include "dp_shm.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

/* argv with "--tls=off" after the program name: TLS on needs --tls-cert and --tls-key
 * (test_tls_needs_cert_and_key), which the other cases do not exercise. */
static int parse(int argc, char **argv, enum dp_stack_kind preset, struct dp_opts *o)
{
	char *av[64];
	if (argc < 1 || argc + 2 > (int)(sizeof(av) / sizeof(av[0])))
		return -99;
	av[0] = argv[0];
	av[1] = "--tls=off";
	memcpy(av + 2, argv + 1, (size_t)argc * sizeof(char *)); /* argv[1..argc], NULL too */
	int rc = dp_opts_parse(argc + 1, av, preset, "test", o);
	/* eal_first indexes av: shift it back to argv's */
	if (rc == 0 && o->eal_argc > 0)
		o->eal_first--;
	return rc;
}

static void test_posix_defaults_and_options(void)
{
	struct dp_opts o;
	char *a[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s", NULL};
	CU_ASSERT_EQUAL_FATAL(parse(ARGC(a), a, DP_STACK_NONE, &o), 0);
	CU_ASSERT_EQUAL(o.stack, DP_STACK_POSIX);
	CU_ASSERT_STRING_EQUAL(o.listen_addr, "127.0.0.1");
	CU_ASSERT_EQUAL(o.listen_port, 0);
	CU_ASSERT_EQUAL(o.workers, 1);
	CU_ASSERT_EQUAL(o.ring_entries, 16384);
	CU_ASSERT_EQUAL(o.max_frame, 4096);
	CU_ASSERT_EQUAL(o.idle_ms, 30000);
	CU_ASSERT_EQUAL(o.eal_argc, 0);

	char *b[] = {"x", "--stack=posix", "--listen", "[::1]:7000", "--shm", "s", "--workers", "3",
		     "--max-conns", "10", "--idle-timeout-ms", "5", "--port-file", "/tmp/p",
		     "--stats-ms", "100", NULL};
	CU_ASSERT_EQUAL_FATAL(parse(ARGC(b), b, DP_STACK_NONE, &o), 0);
	CU_ASSERT_STRING_EQUAL(o.listen_addr, "::1");
	CU_ASSERT_EQUAL(o.listen_port, 7000);
	CU_ASSERT_EQUAL(o.workers, 3);
	CU_ASSERT_EQUAL(o.max_conns, 10);
	CU_ASSERT_EQUAL(o.idle_ms, 5);
	CU_ASSERT_STRING_EQUAL(o.port_file, "/tmp/p");
	CU_ASSERT_EQUAL(o.stats_ms, 100);
}

static void test_dpdk_options_and_eal_range(void)
{
	struct dp_opts o;
	char *a[] = {"x", "--stack", "dpdk", "--listen", "10.1.2.3:7000", "--shm", "s",
		     "--prefix-len", "16", "--gateway", "10.1.0.1", "--mbufs", "4095",
		     "--ready-file", "/tmp/r", "--", "--no-pci", "-l", "0-1", NULL};
	CU_ASSERT_EQUAL_FATAL(parse(ARGC(a), a, DP_STACK_NONE, &o), 0);
	CU_ASSERT_EQUAL(o.stack, DP_STACK_DPDK);
	CU_ASSERT_EQUAL(o.listen_ipv4, 0x0a010203u);
	CU_ASSERT_EQUAL(o.listen_port, 7000);
	CU_ASSERT_EQUAL(o.prefix_len, 16);
	CU_ASSERT_EQUAL(o.gateway, 0x0a010001u);
	CU_ASSERT_EQUAL(o.mbufs, 4095);
	CU_ASSERT_STRING_EQUAL(o.ready_file, "/tmp/r");
	CU_ASSERT_EQUAL(o.eal_argc, 3);
	CU_ASSERT_STRING_EQUAL(a[o.eal_first], "--no-pci");

	/* decp-dataplane-dpdk: --stack may be omitted. */
	char *b[] = {"x", "--listen", "10.1.2.3:7000", "--shm", "s", "--", "--no-pci", NULL};
	CU_ASSERT_EQUAL_FATAL(parse(ARGC(b), b, DP_STACK_DPDK, &o), 0);
	CU_ASSERT_EQUAL(o.stack, DP_STACK_DPDK);
	CU_ASSERT_EQUAL(o.prefix_len, 24);
	CU_ASSERT_EQUAL(o.mbufs, 16383);
	CU_ASSERT_EQUAL(o.eal_argc, 1);
}

/* --steering: rss (default) or external, dpdk only, nothing else. */
static void test_steering(void)
{
	struct dp_opts o;
	char *a[] = {"x", "--stack", "dpdk", "--listen", "10.1.2.3:7000", "--shm", "s",
		     "--workers", "2", "--", "--no-pci", NULL};
	CU_ASSERT_EQUAL_FATAL(parse(ARGC(a), a, DP_STACK_NONE, &o), 0);
	CU_ASSERT_FALSE(o.steer_external);
	CU_ASSERT_EQUAL(o.workers, 2);
	char *b[] = {"x", "--stack", "dpdk", "--listen", "10.1.2.3:7000", "--shm", "s",
		     "--workers", "2", "--steering", "external", "--", "--no-pci", NULL};
	CU_ASSERT_EQUAL_FATAL(parse(ARGC(b), b, DP_STACK_NONE, &o), 0);
	CU_ASSERT_TRUE(o.steer_external);
	char *c[] = {"x", "--stack", "dpdk", "--listen", "10.1.2.3:7000", "--shm", "s",
		     "--steering", "rss", "--", "--no-pci", NULL};
	CU_ASSERT_EQUAL_FATAL(parse(ARGC(c), c, DP_STACK_NONE, &o), 0);
	CU_ASSERT_FALSE(o.steer_external);
	char *d[] = {"x", "--stack", "dpdk", "--listen", "10.1.2.3:7000", "--shm", "s",
		     "--steering", "hash", "--", "--no-pci", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(d), d, DP_STACK_NONE, &o), -1);
	char *e[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
		     "--steering", "external", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(e), e, DP_STACK_NONE, &o), -1);
}

static void test_other_stack_options_refused(void)
{
	struct dp_opts o;
	char *a[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
		     "--gateway", "1.2.3.4", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(a), a, DP_STACK_NONE, &o), -1);
	char *b[] = {"x", "--stack", "dpdk", "--listen", "10.0.0.1:7", "--shm", "s",
		     "--port-file", "/tmp/p", "--", "--no-pci", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(b), b, DP_STACK_NONE, &o), -1);
}

static void test_listen_rules_per_stack(void)
{
	struct dp_opts o;
	/* dpdk: IPv4 only, port 1..65535 */
	char *a[] = {"x", "--stack", "dpdk", "--listen", "::1:7000", "--shm", "s", "--",
		     "--no-pci", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(a), a, DP_STACK_NONE, &o), -1);
	char *b[] = {"x", "--stack", "dpdk", "--listen", "10.0.0.1:0", "--shm", "s", "--",
		     "--no-pci", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(b), b, DP_STACK_NONE, &o), -1);
	char *c[] = {"x", "--stack", "posix", "--listen", "localhost:7000", "--shm", "s", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(c), c, DP_STACK_NONE, &o), -1);
}

static void test_usage_errors(void)
{
	struct dp_opts o;
	char *no_stack[] = {"x", "--listen", "127.0.0.1:0", "--shm", "s", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(no_stack), no_stack, DP_STACK_NONE, &o), -1);
	char *bad_stack[] = {"x", "--stack", "kernel", "--listen", "127.0.0.1:0", "--shm", "s",
			     NULL};
	CU_ASSERT_EQUAL(parse(ARGC(bad_stack), bad_stack, DP_STACK_NONE, &o), -1);
	char *no_shm[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(no_shm), no_shm, DP_STACK_NONE, &o), -1);
	char *range[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
			 "--workers", "17", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(range), range, DP_STACK_NONE, &o), -1);
	char *junk[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
			"--max-frame", "12x", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(junk), junk, DP_STACK_NONE, &o), -1);
	char *extra[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
			 "stray", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(extra), extra, DP_STACK_NONE, &o), -1);
	/* dpdk without "--" EAL arguments, or with a stray word before "--" */
	char *no_eal[] = {"x", "--stack", "dpdk", "--listen", "10.0.0.1:7", "--shm", "s", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(no_eal), no_eal, DP_STACK_NONE, &o), -1);
	char *stray[] = {"x", "--stack", "dpdk", "--listen", "10.0.0.1:7", "--shm", "s", "w",
			 "--", "--no-pci", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(stray), stray, DP_STACK_NONE, &o), -1);
	char *unknown[] = {"x", "--stack", "posix", "--bogus", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(unknown), unknown, DP_STACK_NONE, &o), -1);
	/* numbers are digits only: strtoul's leading space and sign are not taken */
	static const char *const not_digits[] = {" 2", "+2", "-1", "\t3"};
	for (size_t i = 0; i < sizeof(not_digits) / sizeof(not_digits[0]); i++) {
		char *w[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
			     "--workers", (char *)not_digits[i], NULL};
		CU_ASSERT_EQUAL(parse(ARGC(w), w, DP_STACK_NONE, &o), -1);
	}
	/* more connections before login than connections at all */
	char *pre[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
		       "--max-conns", "1", "--preauth-max", "5", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(pre), pre, DP_STACK_NONE, &o), -1);
	char *pre1[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
			"--max-conns", "1", "--preauth-max", "1", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(pre1), pre1, DP_STACK_NONE, &o), 0);
}

/* The two per-source token buckets refill one token per MS: 0 meant "never" (the limiter's
 * refill_ns 0), so after --tls-handshake-burst handshakes (or --login-fail-burst failed
 * logins) a source address was refused for the life of the process. Refused: 1.. only. */
static void test_refill_zero_refused(void)
{
	static const char *const opts[] = {"--tls-handshake-refill-ms", "--login-fail-refill-ms"};
	struct dp_opts o;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char *zero[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
				(char *)opts[i], "0", NULL};
		CU_ASSERT_EQUAL(parse(ARGC(zero), zero, DP_STACK_NONE, &o), -1);
		char *one[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
			       (char *)opts[i], "1", NULL};
		CU_ASSERT_EQUAL(parse(ARGC(one), one, DP_STACK_NONE, &o), 0);
	}
	CU_ASSERT_EQUAL(o.login_refill_ms, 1);
	CU_ASSERT_EQUAL(o.tls.handshake_refill_ns, 100ull * 1000000ull); /* the default */
}

/* --tls-unbound-masters: comma lists appended across repetitions into the session cfg;
 * boundaries (0, UINT64_MAX, signs, empty items, more than DP_UNBOUND_MAX) refused. */
static void test_tls_unbound_masters(void)
{
	struct dp_opts o;
	struct dp_session_cfg c;
	char *a[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
		     "--tls-unbound-masters", "7,18446744073709551614",
		     "--tls-unbound-masters", "9", NULL};
	CU_ASSERT_EQUAL_FATAL(parse(ARGC(a), a, DP_STACK_NONE, &o), 0);
	dp_opts_session_cfg(&o, &c);
	CU_ASSERT_EQUAL(c.n_unbound, 3);
	CU_ASSERT_EQUAL(c.unbound_masters[0], 7);
	CU_ASSERT_EQUAL(c.unbound_masters[1], UINT64_MAX - 1);
	CU_ASSERT_EQUAL(c.unbound_masters[2], 9);
	char *none[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s", NULL};
	CU_ASSERT_EQUAL_FATAL(parse(ARGC(none), none, DP_STACK_NONE, &o), 0);
	CU_ASSERT_EQUAL(o.n_unbound, 0);
	const char *bad[] = {"0", "18446744073709551615", "-1", "+1", "1,,2", "1,", "", "x",
			     "1 2"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *b[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
			     "--tls-unbound-masters", (char *)bad[i], NULL};
		CU_ASSERT_EQUAL(parse(ARGC(b), b, DP_STACK_NONE, &o), -1);
	}
	char many[DP_UNBOUND_MAX * 4 + 8];
	size_t n = 0;
	for (unsigned int i = 1; i <= DP_UNBOUND_MAX + 1; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%s%u", i > 1 ? "," : "", i);
	char *m[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
		     "--tls-unbound-masters", many, NULL};
	CU_ASSERT_EQUAL(parse(ARGC(m), m, DP_STACK_NONE, &o), -1);
	many[strlen(many) - 3] = '\0'; /* drop ",33": exactly DP_UNBOUND_MAX */
	CU_ASSERT_EQUAL(parse(ARGC(m), m, DP_STACK_NONE, &o), 0);
	CU_ASSERT_EQUAL(o.n_unbound, DP_UNBOUND_MAX);
}

/* dp_opts_load: a --config file's settings, the command line winning, EAL keys after "--". */
static void test_load_config_file(void)
{
	char path[] = "/tmp/decp-dp-opts-XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	const char text[] = "stack = dpdk\nlisten = 10.1.2.3:7000\nshm = fromfile\n"
			    "workers = 1\nno_pci = yes\nvdev = net_tap0,iface=t0\nlcores = 0-1\n";
	CU_ASSERT_FATAL(write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1));
	close(fd);
	char *a[] = {"x", "--config", path, "--shm", "fromcli", "--tls", "off", NULL};
	int ac = ARGC(a);
	char **av = a;
	struct dp_opts o;
	CU_ASSERT_EQUAL(dp_opts_load(&ac, &av, DP_STACK_NONE, "test", &o), 0);
	CU_ASSERT_EQUAL(o.stack, DP_STACK_DPDK);
	CU_ASSERT_EQUAL(o.listen_ipv4, 0x0a010203u);
	CU_ASSERT_STRING_EQUAL(o.shm_name, "fromcli"); /* the command line wins */
	CU_ASSERT(o.eal_argc >= 4);
	bool no_pci = false;
	for (int i = o.eal_first; i < o.eal_first + o.eal_argc; i++)
		no_pci |= strcmp(av[i], "--no-pci") == 0;
	CU_ASSERT(no_pci);
	dp_conf_free(av, a);

	char *b[] = {"x", "--config", "/nonexistent/decp.conf", NULL};
	ac = ARGC(b);
	av = b;
	CU_ASSERT_EQUAL(dp_opts_load(&ac, &av, DP_STACK_NONE, "test", &o), -1);
	unlink(path);
}

/* --shm: what dp_shm_create and shm_open take, checked as an option so a bad name is a usage
 * error (exit 2), not a failure to create the segment at start (it was exit 1). Boundary:
 * 39 characters after the optional '/' (DP_SHM_NAME_MAX). */
static void test_shm_names(void)
{
	struct dp_opts o;
	char n39[40], n40[41], s39[41], s40[42];
	memset(n39, 'a', 39);
	n39[39] = '\0';
	memset(n40, 'b', 40);
	n40[40] = '\0';
	snprintf(s39, sizeof(s39), "/%s", n39);
	snprintf(s40, sizeof(s40), "/%s", n40);
	const char *good[] = {"s", "/decp-ingest", "a.b_c-D9", "..a", n39, s39};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *a[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm",
			     (char *)good[i], NULL};
		CU_ASSERT_EQUAL(parse(ARGC(a), a, DP_STACK_NONE, &o), 0);
	}
	const char *bad[] = {"", "/", "a/b", "//a", ".", "..", "/..", "a b", "a:b", "a\n",
			     "\xc3\xa9", n40, s40};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *a[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm",
			     (char *)bad[i], NULL};
		CU_ASSERT_EQUAL(parse(ARGC(a), a, DP_STACK_NONE, &o), -1);
		CU_ASSERT_EQUAL(dp_shm_name_fix(NULL, 0, bad[i]) != 0, 1);
	}
	char out[64];
	CU_ASSERT_EQUAL(dp_shm_name_fix(out, sizeof(out), "decp-ingest"), 0);
	CU_ASSERT_STRING_EQUAL(out, "/decp-ingest");
	CU_ASSERT_EQUAL(dp_shm_name_fix(out, sizeof(out), s39), 0);
	CU_ASSERT_STRING_EQUAL(out, s39);
	CU_ASSERT_EQUAL(dp_shm_name_fix(out, sizeof(out), n40), -ENAMETOOLONG);
	CU_ASSERT_EQUAL(dp_shm_name_fix(out, 4, "abcd"), -ENAMETOOLONG); /* over cap */
}

/* Option values that failed only at start (exit 1) are usage errors: an empty path, TLS on
 * without its certificate and key, rings that do not fit the 4 GiB segment. */
static void test_start_failures_are_usage_errors(void)
{
	struct dp_opts o;
	static const char *const paths[] = {"--port-file", "--tls-cert", "--tls-key",
					    "--tls-client-ca", "--tls-crl"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char *a[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
			     (char *)paths[i], "", NULL};
		CU_ASSERT_EQUAL(parse(ARGC(a), a, DP_STACK_NONE, &o), -1);
	}
	char *r[] = {"x", "--stack", "dpdk", "--listen", "10.0.0.1:7", "--shm", "s",
		     "--ready-file", "", "--", "--no-pci", NULL};
	CU_ASSERT_EQUAL(parse(ARGC(r), r, DP_STACK_NONE, &o), -1);

	/* an ingress entry is 512 bytes: one worker's 2^22 fit in 4 GiB, 2^23 do not, nor 2
	 * workers' 2^22 (the boundary of the sum, not of --ring-size's own 8..2^24) */
	CU_ASSERT_EQUAL(sizeof(struct dp_ingress_rec), 512);
	static const struct {
		const char *workers, *ring;
		int want;
	} seg[] = {{"1", "8388608", -1}, {"2", "4194304", -1}, {"1", "4194304", 0}};
	for (size_t i = 0; i < sizeof(seg) / sizeof(seg[0]); i++) {
		char *a[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
			     "--workers", (char *)seg[i].workers, "--ring-size", (char *)seg[i].ring,
			     NULL};
		CU_ASSERT_EQUAL(parse(ARGC(a), a, DP_STACK_NONE, &o), seg[i].want);
	}
}

/* --tls required (the default) or optional needs --tls-cert and --tls-key: refused here,
 * exit 2, not when dp_tls_create fails at start (exit 1). --tls off needs neither. */
static void test_tls_needs_cert_and_key(void)
{
	struct dp_opts o;
	char *none[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s", NULL};
	CU_ASSERT_EQUAL(dp_opts_parse(ARGC(none), none, DP_STACK_NONE, "test", &o), -1);
	char *opt[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
		       "--tls", "optional", "--tls-cert", "c.pem", NULL};
	CU_ASSERT_EQUAL(dp_opts_parse(ARGC(opt), opt, DP_STACK_NONE, "test", &o), -1);
	char *key[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
		       "--tls-key", "k.pem", NULL};
	CU_ASSERT_EQUAL(dp_opts_parse(ARGC(key), key, DP_STACK_NONE, "test", &o), -1);
	char *both[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
			"--tls-cert", "c.pem", "--tls-key", "k.pem", NULL};
	CU_ASSERT_EQUAL(dp_opts_parse(ARGC(both), both, DP_STACK_NONE, "test", &o), 0);
	CU_ASSERT_EQUAL(o.tls.mode, DP_TLS_REQUIRED);
	char *off[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
		       "--tls", "off", NULL};
	CU_ASSERT_EQUAL(dp_opts_parse(ARGC(off), off, DP_STACK_NONE, "test", &o), 0);
}

/* A TLS file option with --tls off is a usage error (it was accepted and ignored: a client
 * CA set and TLS turned off by mistake served plain text); a later --tls on takes it. */
static void test_tls_off_refuses_tls_files(void)
{
	struct dp_opts o;
	static const char *const files[] = {"--tls-cert", "--tls-key", "--tls-client-ca",
					    "--tls-crl"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *a[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
			     "--tls", "off", (char *)files[i], "/nonexistent", NULL};
		CU_ASSERT_EQUAL(dp_opts_parse(ARGC(a), a, DP_STACK_NONE, "test", &o), -1);
	}
	char *on[] = {"x", "--stack", "posix", "--listen", "127.0.0.1:0", "--shm", "s",
		      "--tls", "off", "--tls-cert", "c.pem", "--tls-key", "k.pem",
		      "--tls-client-ca", "ca.pem", "--tls", "optional", NULL};
	CU_ASSERT_EQUAL(dp_opts_parse(ARGC(on), on, DP_STACK_NONE, "test", &o), 0);
	CU_ASSERT_EQUAL(o.tls.mode, DP_TLS_OPTIONAL);
}

static void test_help(void)
{
	struct dp_opts o;
	char *a[] = {"x", "--help", NULL};
	FILE *saved = stdout;
	stdout = fopen("/dev/null", "w");
	int rc = parse(ARGC(a), a, DP_STACK_NONE, &o);
	fclose(stdout);
	stdout = saved;
	CU_ASSERT_EQUAL(rc, 1);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("dp_opts", NULL, NULL);
	CU_add_test(s, "posix defaults and options", test_posix_defaults_and_options);
	CU_add_test(s, "dpdk options and EAL range", test_dpdk_options_and_eal_range);
	CU_add_test(s, "--steering", test_steering);
	CU_add_test(s, "other stack's options refused", test_other_stack_options_refused);
	CU_add_test(s, "--listen rules per stack", test_listen_rules_per_stack);
	CU_add_test(s, "usage errors", test_usage_errors);
	CU_add_test(s, "refill periods of 0 refused", test_refill_zero_refused);
	CU_add_test(s, "--tls-unbound-masters list and boundaries", test_tls_unbound_masters);
	CU_add_test(s, "--config file via dp_opts_load", test_load_config_file);
	CU_add_test(s, "--shm names", test_shm_names);
	CU_add_test(s, "start failures that are usage errors", test_start_failures_are_usage_errors);
	CU_add_test(s, "--tls on needs --tls-cert and --tls-key", test_tls_needs_cert_and_key);
	CU_add_test(s, "--tls off refuses TLS file options", test_tls_off_refuses_tls_files);
	CU_add_test(s, "--help", test_help);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
