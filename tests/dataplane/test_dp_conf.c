/*
 * test_dp_conf: decp-dataplane's configuration file (dp_conf) turned into arguments: every
 * key kind, comments and quotes, each error with its line number, and the precedence of
 * the command line over the file in dp_conf_expand.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dp_conf.h"

static char err[256];

/* The arguments joined with single spaces. */
static const char *join(char **v, int n)
{
	static char buf[2048];
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		strcat(buf, i ? " " : "");
		strcat(buf, v[i]);
	}
	return buf;
}

static int parse(const char *text, char *opt_out, char *eal_out)
{
	struct dp_conf_args o = {0}, e = {0};
	err[0] = '\0';
	int rc = dp_conf_parse("t.conf", text, &o, &e, err, sizeof(err));
	if (opt_out != NULL)
		strcpy(opt_out, join(o.v, o.n));
	if (eal_out != NULL)
		strcpy(eal_out, join(e.v, e.n));
	dp_conf_args_free(&o);
	dp_conf_args_free(&e);
	return rc;
}

static void test_keys(void)
{
	char o[1024], e[1024];
	CU_ASSERT_EQUAL(parse("# decp-dataplane\n\n"
			      "stack = dpdk\n"
			      "  listen=192.0.2.10:7000   # the stack's own address\n"
			      "shm = decp-ingest\n"
			      "workers = 2\n"
			      "stats_ms = 1000\n"
			      "lcores = 2-4\n"
			      "main_lcore = 2\n"
			      "allow = 0000:81:00.0\n"
			      "allow = 0000:81:00.1\n"
			      "no_pci = no\n"
			      "huge = no\n"
			      "memory_mb = 256\n"
			      "file_prefix = decp\n"
			      "eal_extra = \"--log-level=lib.eal:notice  --in-memory\"\n",
			      o, e),
			0);
	CU_ASSERT_STRING_EQUAL(o, "--stack dpdk --listen 192.0.2.10:7000 --shm decp-ingest "
				  "--workers 2 --stats-ms 1000");
	CU_ASSERT_STRING_EQUAL(e, "-l 2-4 --main-lcore 2 -a 0000:81:00.0 -a 0000:81:00.1 "
				  "--no-huge -m 256 --file-prefix decp --log-level=lib.eal:notice "
				  "--in-memory");
	CU_ASSERT_EQUAL(parse("no_pci = yes\nvdev = net_tap0,iface=t0\nvdev = net_tap1\n"
			      "huge = yes\nready_file = \"/run/a # b\"\n", o, e), 0);
	CU_ASSERT_STRING_EQUAL(o, "--ready-file /run/a # b");
	CU_ASSERT_STRING_EQUAL(e, "--no-pci --vdev net_tap0,iface=t0 --vdev net_tap1");
	CU_ASSERT_EQUAL(parse("; semicolon comment\r\nshm = a\r\n", o, e), 0);
	CU_ASSERT_STRING_EQUAL(o, "--shm a");
	CU_ASSERT_EQUAL(parse("", o, e), 0);
	CU_ASSERT_STRING_EQUAL(o, "");
	/* every long option is a key: --poll too; --allow-protocol-1 takes no argument, so
	 * its key is yes/no and yes gives the bare option */
	CU_ASSERT_EQUAL(parse("poll = busy\nallow_protocol_1 = yes\n", o, e), 0);
	CU_ASSERT_STRING_EQUAL(o, "--poll busy --allow-protocol-1");
	CU_ASSERT_EQUAL(parse("allow_protocol_1 = no\n", o, e), 0);
	CU_ASSERT_STRING_EQUAL(o, "");
}

static void expect_error(const char *text, const char *want)
{
	CU_ASSERT_EQUAL(parse(text, NULL, NULL), -EINVAL);
	if (strstr(err, want) == NULL) {
		fprintf(stderr, "\nerror '%s' does not contain '%s'\n", err, want);
		CU_FAIL("error message");
	}
}

static void test_errors(void)
{
	expect_error("listen = a:1\nbogus = 1\n", "t.conf:2: unknown key 'bogus'");
	expect_error("shm = a\nshm = b\n", "t.conf:2: shm: set twice");
	expect_error("lcores = 1\nlcores = 2\n", "t.conf:2: lcores: set twice");
	expect_error("\n\nlisten\n", "t.conf:3: expected 'key = value'");
	expect_error("= 5\n", "t.conf:1: missing key");
	expect_error("shm =   # nothing\n", "t.conf:1: shm: empty value");
	expect_error("no_pci = maybe\n", "no_pci: 'maybe' is not yes/no");
	expect_error("shm = \"abc\n", "t.conf:1: shm: unterminated quoted value");
	expect_error("allow_protocol_1 = maybe\n", "t.conf:1: allow_protocol_1: 'maybe' is not yes/no");
}

static char *write_conf(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/test_dp_conf.XXXXXX");
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	return path;
}

static const char *expand(int argc, char **argv)
{
	static char buf[2048];
	int n = 0;
	char **v = NULL;
	err[0] = '\0';
	int rc = dp_conf_expand(argc, argv, &n, &v, err, sizeof(err));
	if (rc != 0)
		return "ERROR";
	CU_ASSERT_PTR_NULL(v[n]);
	snprintf(buf, sizeof(buf), "%s", join(v, n));
	dp_conf_free(v, argv);
	return buf;
}

static void test_expand(void)
{
	char *path = write_conf("stack = dpdk\nlisten = 10.0.0.1:7000\nshm = a\n"
				"no_pci = yes\nvdev = net_tap0\nlcores = 0-1\n");
	char cfg[80];
	snprintf(cfg, sizeof(cfg), "--config=%s", path);

	/* Command-line options after the file's (they win); EAL: file's, then command line's. */
	char *a1[] = {"dp", "--shm", "b", "--config", path, "--", "--file-prefix", "x", NULL};
	CU_ASSERT_STRING_EQUAL(expand(8, a1), "dp --stack dpdk --listen 10.0.0.1:7000 --shm a "
				   "--shm b -- --no-pci --vdev net_tap0 -l 0-1 --file-prefix x");
	/* --config=FILE; stack overridden to posix on the command line: no EAL arguments. */
	char *a2[] = {"dp", cfg, "--stack", "posix", NULL};
	CU_ASSERT_STRING_EQUAL(expand(4, a2), "dp --stack dpdk --listen 10.0.0.1:7000 --shm a "
				   "--stack posix");
	/* No --config: the same vector. */
	char *a3[] = {"dp", "--shm", "x", NULL};
	int n = 0;
	char **v = NULL;
	CU_ASSERT_EQUAL(dp_conf_expand(3, a3, &n, &v, err, sizeof(err)), 0);
	CU_ASSERT_PTR_EQUAL(v, a3);
	CU_ASSERT_EQUAL(n, 3);
	dp_conf_free(v, a3);
	/* "--config" after "--" belongs to EAL and is not ours. */
	char *a4[] = {"dp", "--", "--config", "nothere", NULL};
	CU_ASSERT_STRING_EQUAL(expand(4, a4), "dp -- --config nothere");
	unlink(path);

	char *a5[] = {"dp", "--config", "/nonexistent/decp.conf", NULL};
	CU_ASSERT_STRING_EQUAL(expand(3, a5), "ERROR");
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/decp.conf: No such file"));
	char *a6[] = {"dp", "--config", NULL};
	CU_ASSERT_STRING_EQUAL(expand(2, a6), "ERROR");
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "--config needs a file name"));
	/* a directory is not an empty configuration */
	char *a8[] = {"dp", "--config", "/tmp", NULL};
	CU_ASSERT_STRING_EQUAL(expand(3, a8), "ERROR");
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/tmp: Is a directory"));
	path = write_conf("listen = 1.2.3.4:5\nworkers 3\n");
	char *a7[] = {"dp", "--config", path, NULL};
	CU_ASSERT_STRING_EQUAL(expand(3, a7), "ERROR");
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ":2: expected 'key = value'"));
	unlink(path);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("dp_conf", NULL, NULL);
	CU_add_test(s, "keys", test_keys);
	CU_add_test(s, "errors", test_errors);
	CU_add_test(s, "expand", test_expand);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int f = CU_get_number_of_failures();
	CU_cleanup_registry();
	return f ? 1 : 0;
}
