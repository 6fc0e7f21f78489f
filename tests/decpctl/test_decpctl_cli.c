/*
 * decpctl end to end: the program run as an operator would, on copies of the fixture roots
 * (so --apply writes into the copy), on this machine read-only, and the NIC safety refusals.
 * Nothing here binds, unbinds, mounts or writes anything outside a temp dir.
 * usage: test_decpctl_cli DECPCTL FIXTURES_DIR
 */
#include <CUnit/Basic.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_test_util.h"

static const char *g_bin;
static const char *g_fixtures;
static char g_tmp[64];

/* Run decpctl with up to 16 arguments (NULL-terminated list). */
static int ctl(struct run_result *r, ...)
{
	char *av[20] = {(char *)g_bin};
	va_list ap;
	va_start(ap, r);
	int n = 1;
	for (char *a; n < 19 && (a = va_arg(ap, char *)) != NULL;)
		av[n++] = a;
	va_end(ap);
	av[n] = NULL;
	CU_ASSERT_FATAL(run_prog(av, 60, r) == 0);
	return r->code;
}

static char *fixture_copy(const char *name, char *out, size_t cap)
{
	char src[PATH_MAX];
	snprintf(src, sizeof(src), "%s/%s", g_fixtures, name);
	snprintf(out, cap, "%s/%s", g_tmp, name);
	tmpdir_remove(out); /* only below /tmp/decpctl-test-: a fresh copy per test */
	CU_ASSERT_FATAL(copy_tree(src, out) == 0);
	return out;
}

static char *file_in(const char *root, const char *rel)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s%s", root, rel);
	return slurp(p);
}

static void assert_file(const char *root, const char *rel, const char *want)
{
	char *t = file_in(root, rel);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	size_t l = strlen(t);
	while (l > 0 && t[l - 1] == '\n')
		t[--l] = '\0';
	if (strcmp(t, want) != 0)
		fprintf(stderr, "\n%s: got '%s', want '%s'\n", rel, t, want);
	CU_ASSERT_STRING_EQUAL(t, want);
	free(t);
}

static void test_help_and_usage(void)
{
	static const char *cmds[] = {"cores", "hugepages", "nic", "top"};
	struct run_result r;
	CU_ASSERT_EQUAL(ctl(&r, "--help", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "Exit codes"));
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, NULL), 2);
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "frobnicate", NULL), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "unknown command 'frobnicate'"));
	run_free(&r);
	for (size_t i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(ctl(&r, cmds[i], "--help", NULL), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "usage: decpctl"));
		CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "Exit:"));
		run_free(&r);
		CU_ASSERT_EQUAL(ctl(&r, cmds[i], "--no-such-option", NULL), 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "'--no-such-option'"));
		CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "--help"));
		run_free(&r);
	}
	CU_ASSERT_EQUAL(ctl(&r, "cores", "--workers", "0", NULL), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "--workers: '0' is not a number in 1..16"));
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "cores", "--workers", NULL), 2);
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "top", "--interval", "abc", NULL), 2);
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "hugepages", "--size", "3X", "--pages", "1", NULL), 2);
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "nic", "frob", NULL), 2);
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "--root", "/nonexistent-decpctl", "cores", NULL), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "cannot read the CPU list"));
	run_free(&r);
}

/* On this machine (read-only): a report with a proposal, exit 0; JSON parses. */
static void test_cores_this_machine(void)
{
	struct run_result r;
	CU_ASSERT_EQUAL(ctl(&r, "cores", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "Machine: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "Findings"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "Proposed lcore map"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "main_lcore = "));
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "cores", "--json", NULL), 0);
	json_error_t e;
	json_t *o = json_loads(r.out, 0, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	json_t *p = json_object_get(o, "proposal");
	CU_ASSERT_TRUE(json_integer_value(json_object_get(p, "workers")) >= 1);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	CU_ASSERT_EQUAL((long)json_array_size(json_object_get(json_object_get(o, "machine"), "online")),
			online);
	if (online < 4) /* this 2-core VM */
		CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\"too_few_cpus\""));
	json_decref(o);
	run_free(&r);
}

static const char *DP_CONF = "# decp-dataplane\n"
			     "listen = 10.10.0.1:7000   # ens1f0\n"
			     "lcores = 2,3,4,18\n"
			     "main_lcore = 2\n"
			     "shm = decp\n";

static void test_cores_xeon2s_apply(void)
{
	char root[PATH_MAX], conf[PATH_MAX];
	struct run_result r;
	fixture_copy("xeon2s", root, sizeof(root));
	snprintf(conf, sizeof(conf), "%s/dataplane.conf", g_tmp);
	CU_ASSERT_FATAL(spit(conf, DP_CONF) == 0);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "cores", "--nic", "ens1f0", "--config", conf, "--apply",
			    NULL), 0);
	/* The report names the problems, judges the old map, proposes and applies. */
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "[warn] irq_on_workers"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "[error] no_hugepages"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "current map: worker CPUs 3-4,18 not on NUMA node 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "current map: main lcore 2 is a hyperthread of worker 18"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "lcores     = 8,10-13"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "IRQ 123 (ens1f0-TxRx-2) affinity = 8-9,14-15,24-25,30-31: done"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "GRUB_CMDLINE_LINUX=\"isolcpus=managed_irq,domain,2-5,10-13,26-29"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "update-grub && reboot"));
	if (r.code != 0)
		fprintf(stderr, "%s\n%s\n", r.out, r.err);
	run_free(&r);
	/* IRQs that could hit the worker cores moved; the others untouched. */
	assert_file(root, "/proc/irq/120/smp_affinity_list", "8-9,14-15,24-25,30-31");
	for (int q = 123; q <= 126; q++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "/proc/irq/%d/smp_affinity_list", q);
		assert_file(root, rel, "8-9,14-15,24-25,30-31");
	}
	assert_file(root, "/proc/irq/121/smp_affinity_list", "8");
	assert_file(root, "/proc/irq/128/smp_affinity_list", "15");
	assert_file(root, "/proc/irq/100/smp_affinity_list", "0"); /* eno1's */
	/* Governor: the map's CPUs and the workers' twins; nothing else. */
	static const int perf[] = {8, 10, 11, 12, 13, 26, 27, 28, 29};
	for (size_t i = 0; i < sizeof(perf) / sizeof(perf[0]); i++) {
		char rel[96];
		snprintf(rel, sizeof(rel), "/sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor", perf[i]);
		assert_file(root, rel, "performance");
	}
	assert_file(root, "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "powersave");
	assert_file(root, "/sys/devices/system/cpu/cpu9/cpufreq/scaling_governor", "powersave");
	/* Hugepages on the NIC's node (it had none); node 0 untouched. */
	assert_file(root, "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "1024");
	assert_file(root, "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages", "1024");
	/* The kernel command line is not ours to change at run time. */
	assert_file(root, "/etc/default/grub",
		    "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n"
		    "GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\n"
		    "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n"
		    "GRUB_CMDLINE_LINUX=\"isolcpus=2-5,10-13 nohz_full=2-5,10-13\"");
	/* Config: only our keys changed, the rest byte for byte. */
	char *c = slurp(conf);
	CU_ASSERT_STRING_EQUAL(c, "# decp-dataplane\n"
				  "listen = 10.10.0.1:7000   # ens1f0\n"
				  "lcores = 8,10-13\n"
				  "main_lcore = 8\n"
				  "shm = decp\n"
				  "# written by decpctl cores (node 1)\n"
				  "workers = 4\n");
	free(c);

	/* Second run: the IRQ/governor/hugepage findings are gone; re-applying changes nothing. */
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "cores", "--nic", "ens1f0", "--apply", "--json", NULL), 0);
	json_error_t e;
	json_t *o = json_loads(r.out, 0, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(o, "applied")), 0u);
	json_t *f;
	size_t i;
	json_array_foreach(json_object_get(o, "findings"), i, f)
	{
		const char *code = json_string_value(json_object_get(f, "code"));
		CU_ASSERT_STRING_NOT_EQUAL(code, "irq_on_workers");
		CU_ASSERT_STRING_NOT_EQUAL(code, "governor");
		CU_ASSERT_STRING_NOT_EQUAL(code, "no_hugepages");
	}
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(o, "proposal"), "lcores")),
			       "8,10-13");
	json_decref(o);
	run_free(&r);
}

/* A setting the kernel refuses (here: an attribute that cannot be opened for writing) is
 * reported per write, the others still applied, exit 4. */
static void test_cores_apply_partial(void)
{
	char root[PATH_MAX], p[PATH_MAX + 128];
	struct run_result r;
	fixture_copy("xeon2s", root, sizeof(root));
	snprintf(p, sizeof(p), "%s/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages",
		 root);
	CU_ASSERT_FATAL(unlink(p) == 0 && mkdir(p, 0755) == 0);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "cores", "--nic", "ens1f0", "--apply", NULL), 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "hugepages 2048kB on node 1 = 1024: refused: Is a directory"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "IRQ 125 (ens1f0-TxRx-4) affinity = 8-9,14-15,24-25,30-31: done"));
	run_free(&r);
	assert_file(root, "/proc/irq/125/smp_affinity_list", "8-9,14-15,24-25,30-31");
}

/* Without --nic the only DPDK-bound NIC is chosen; --workers; a config that cannot be
 * written is an error (exit 1) and the report says so. */
static void test_cores_xeon2s_options(void)
{
	char root[PATH_MAX];
	struct run_result r;
	snprintf(root, sizeof(root), "%s/xeon2s", g_fixtures);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "cores", "--workers", "2", "--json", NULL), 0);
	json_error_t e;
	json_t *o = json_loads(r.out, 0, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(o, "nic"), "pci")),
			       "0000:82:00.0");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(o, "proposal"), "lcores")),
			       "8,10-11");
	json_decref(o);
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "cores", "--nic", "nope0", NULL), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "no such interface"));
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "cores", "--config", "/nonexistent-dir/dp.conf", NULL), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "cannot write /nonexistent-dir/dp.conf"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "NOT written to"));
	run_free(&r);
}

static void test_cores_vm2(void)
{
	char root[PATH_MAX];
	struct run_result r;
	snprintf(root, sizeof(root), "%s/vm2", g_fixtures);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "cores", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "[warn] too_few_cpus"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "lcores     = 0-1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "main_lcore = 0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "workers    = 1"));
	CU_ASSERT_PTR_NULL(strstr(r.out, "Needs a reboot"));
	run_free(&r);
}

/* The interface that carries this machine's default route, from /proc/net/route. */
static int real_default_if(char *out, size_t cap)
{
	char *t = slurp("/proc/net/route");
	int found = -1;
	if (t == NULL)
		return -1;
	char *save = NULL;
	for (char *l = strtok_r(t, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		char ifn[32];
		unsigned long dst, gw, fl, mask;
		int a, b, c;
		if (sscanf(l, "%31s %lx %lx %lx %d %d %d %lx", ifn, &dst, &gw, &fl, &a, &b, &c, &mask) == 8 &&
		    dst == 0 && mask == 0) {
			snprintf(out, cap, "%s", ifn);
			found = 0;
			break;
		}
	}
	free(t);
	return found;
}

static void link_of(const char *ifn, char *out, size_t cap)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "/sys/class/net/%s/device/driver", ifn);
	ssize_t n = readlink(p, out, cap - 1);
	out[n > 0 ? n : 0] = '\0';
}

static void test_nic_refusals(void)
{
	struct run_result r;
	char ifn[32], before[PATH_MAX], after[PATH_MAX];
	/* This machine: the default-route NIC is refused before anything runs. */
	if (real_default_if(ifn, sizeof(ifn)) == 0) {
		link_of(ifn, before, sizeof(before));
		CU_ASSERT_EQUAL(ctl(&r, "nic", "bind", ifn, "--driver", "vfio-pci", "--yes", NULL), 3);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "REFUSED"));
		CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "default route"));
		CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "Nothing was changed"));
		CU_ASSERT_PTR_NULL(strstr(r.out, "will run"));
		run_free(&r);
		CU_ASSERT_EQUAL(ctl(&r, "nic", "unbind", ifn, "--yes", NULL), 3);
		run_free(&r);
		/* Also when named by its PCI address. */
		CU_ASSERT_EQUAL(ctl(&r, "nic", "list", "--json", NULL), 0);
		json_error_t e;
		json_t *a = json_loads(r.out, 0, &e), *x;
		size_t i;
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		json_array_foreach(a, i, x)
		{
			const char *name = json_string_value(json_object_get(x, "ifname"));
			const char *pci = json_string_value(json_object_get(x, "pci"));
			if (name != NULL && strcmp(name, ifn) == 0) {
				CU_ASSERT_TRUE(json_is_true(json_object_get(x, "default_route")));
				if (pci != NULL) {
					struct run_result r2;
					CU_ASSERT_EQUAL(ctl(&r2, "nic", "bind", pci, "--driver", "uio_pci_generic",
							    "--yes", NULL), 3);
					CU_ASSERT_PTR_NOT_NULL(strstr(r2.err, "default route"));
					run_free(&r2);
				}
			}
		}
		json_decref(a);
		run_free(&r);
		link_of(ifn, after, sizeof(after));
		CU_ASSERT_STRING_EQUAL(before, after);
	}
	/* Fixture: default route refused; any action below --root refused; errors. */
	char root[PATH_MAX];
	snprintf(root, sizeof(root), "%s/xeon2s", g_fixtures);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "nic", "bind", "eno1", "--driver", "vfio-pci", "--yes", NULL), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "eno1 0000:02:00.0 carries the default route"));
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "nic", "bind", "02:00.0", "--driver", "vfio-pci", "--yes", NULL), 3);
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "nic", "bind", "ens1f0", "--driver", "vfio-pci", "--yes", NULL), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "is for inspection"));
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "nic", "bind", "nope0", "--driver", "vfio-pci", NULL), 1);
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "nic", "bind", "ens1f0", NULL), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "bind needs --driver"));
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "nic", "bind", "ens1f0", "--driver", "e1000", NULL), 2);
	run_free(&r);
	/* A tree without route tables: the default route is unknown, so nothing may act. */
	char noroute[PATH_MAX], rel[PATH_MAX + 32];
	fixture_copy("xeon2s", noroute, sizeof(noroute));
	snprintf(rel, sizeof(rel), "%s/proc/net/route", noroute);
	CU_ASSERT_EQUAL(unlink(rel), 0);
	snprintf(rel, sizeof(rel), "%s/proc/net/ipv6_route", noroute);
	CU_ASSERT_EQUAL(unlink(rel), 0);
	CU_ASSERT_EQUAL(ctl(&r, "--root", noroute, "nic", "bind", "ens1f0", "--driver", "vfio-pci", "--yes", NULL), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "default route is unknown"));
	run_free(&r);
	/* The management network on a VLAN of a bond of eno1 (route on bond0.100 only, as on
	 * most servers with bonded uplinks): the port under it carries the default route too.
	 * Once only the route's own netdev counted, so eno1 was listed bindable ("capable",
	 * a vfio-pci hint) and a bind went on to dpdk-devbind, which does not see the route
	 * either and would have cut the machine off. */
	char stacked[PATH_MAX], p[PATH_MAX + 64];
	fixture_copy("xeon2s", stacked, sizeof(stacked));
	snprintf(p, sizeof(p), "%s/proc/net/route", stacked);
	CU_ASSERT_EQUAL(spit(p, "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
				"bond0.100\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
				"bond0.100\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
				"ens1f0\t00000A0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"), 0);
	static const char *const links[][2] = {
		{"eno1/upper_bond0", "../bond0"},         {"bond0/lower_eno1", "../eno1"},
		{"bond0/upper_bond0.100", "../bond0.100"}, {"bond0.100/lower_bond0", "../bond0"}};
	snprintf(p, sizeof(p), "%s/sys/class/net/bond0", stacked);
	CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/sys/class/net/bond0.100", stacked);
	CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(p, sizeof(p), "%s/sys/class/net/%s", stacked, links[i][0]);
		CU_ASSERT_EQUAL(symlink(links[i][1], p), 0);
	}
	CU_ASSERT_EQUAL(ctl(&r, "--root", stacked, "nic", "bind", "eno1", "--driver", "vfio-pci", "--yes", NULL), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "eno1 0000:02:00.0 carries the default route (through bond0.100"));
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "--root", stacked, "nic", "unbind", "02:00.0", "--yes", NULL), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "carries the default route"));
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "--root", stacked, "nic", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "eno1         0000:02:00.0  igb              0    up       1G      capable         default route via bond0.100: never bound"));
	CU_ASSERT_PTR_NULL(strstr(r.out, "  eno1: ")); /* no binding hint for it */
	run_free(&r);
	/* ens1f0 is not under the bond: still bindable (refused here only for --root). */
	CU_ASSERT_EQUAL(ctl(&r, "--root", stacked, "nic", "bind", "ens1f0", "--driver", "vfio-pci", "--yes", NULL), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "is for inspection"));
	run_free(&r);
	/* lo is not listed; a virtual interface (ifb0 in the vm2 capture) has nothing to bind. */
	CU_ASSERT_EQUAL(ctl(&r, "nic", "bind", "lo", "--driver", "vfio-pci", "--yes", NULL), 1);
	run_free(&r);
	snprintf(root, sizeof(root), "%s/vm2", g_fixtures);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "nic", "bind", "ifb0", "--driver", "vfio-pci", "--yes", NULL), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "virtual interface"));
	run_free(&r);
}

static void test_nic_list(void)
{
	char root[PATH_MAX];
	struct run_result r;
	snprintf(root, sizeof(root), "%s/xeon2s", g_fixtures);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "nic", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "eno1         0000:02:00.0  igb              0    up       1G      capable         default route: never bound"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "-            0000:82:00.0  vfio-pci         1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "bound"));
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "nic", "list", "--root", root, "--json", NULL), 0);
	json_error_t e;
	json_t *a = json_loads(r.out, 0, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(json_array_size(a), 3u);
	json_t *ens = json_array_get(a, 1);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(ens, "ifname")), "ens1f0");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(ens, "numa_node")), 1);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(ens, "speed_mbps")), 10000);
	CU_ASSERT_TRUE(json_is_false(json_object_get(ens, "default_route")));
	json_decref(a);
	run_free(&r);
	/* This machine: lists and exits 0. */
	CU_ASSERT_EQUAL(ctl(&r, "nic", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "IFACE"));
	run_free(&r);
}

static void test_hugepages(void)
{
	char root[PATH_MAX];
	struct run_result r;
	fixture_copy("xeon2s", root, sizeof(root));
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "hugepages", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "2048kB: total 1024, free 1024"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "node 1: total 0, free 0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "/dev/hugepages (pagesize 2048kB)"));
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "hugepages", "--pages", "512", "--node", "1", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "reserved 512 pages of 2048kB on node 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "already mounted on /dev/hugepages"));
	run_free(&r);
	assert_file(root, "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "512");
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "hugepages", "--pages", "2", "--size", "1G", "--json", NULL), 0);
	json_error_t e;
	json_t *o = json_loads(r.out, 0, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	json_t *acts = json_object_get(o, "actions");
	CU_ASSERT_EQUAL(json_array_size(acts), 2u);
	CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(json_array_get(acts, 1), "result")),
				      "not mounting /dev/hugepages-1G: --root"));
	json_decref(o);
	run_free(&r);
	assert_file(root, "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "2");
	/* Sizes and nodes that do not exist. */
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "hugepages", "--pages", "2", "--size", "16M", NULL), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "no 16384kB pages"));
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "hugepages", "--pages", "2", "--node", "5", NULL), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "no such NUMA node"));
	run_free(&r);
	CU_ASSERT_EQUAL(ctl(&r, "--root", root, "hugepages", "--node", "1", NULL), 2);
	run_free(&r);
	/* This machine, read-only. */
	CU_ASSERT_EQUAL(ctl(&r, "hugepages", "--json", NULL), 0);
	o = json_loads(r.out, 0, &e);
	CU_ASSERT_PTR_NOT_NULL(o);
	json_decref(o);
	run_free(&r);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s DECPCTL FIXTURES_DIR\n", argv[0]);
		return 2;
	}
	g_bin = argv[1];
	g_fixtures = argv[2];
	if (tmpdir_make(g_tmp, sizeof(g_tmp)) != 0)
		return 1;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("decpctl_cli", NULL, NULL);
	CU_add_test(s, "--help everywhere, usage errors, exit codes", test_help_and_usage);
	CU_add_test(s, "cores on this machine", test_cores_this_machine);
	CU_add_test(s, "cores --config --apply on a xeon2s copy", test_cores_xeon2s_apply);
	CU_add_test(s, "cores --apply with a refused write: exit 4", test_cores_apply_partial);
	CU_add_test(s, "cores options on xeon2s", test_cores_xeon2s_options);
	CU_add_test(s, "cores on vm2", test_cores_vm2);
	CU_add_test(s, "nic: default route and --root refusals", test_nic_refusals);
	CU_add_test(s, "nic list", test_nic_list);
	CU_add_test(s, "hugepages show/reserve on a fixture copy", test_hugepages);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	tmpdir_remove(g_tmp);
	return failed ? 1 : 0;
}
