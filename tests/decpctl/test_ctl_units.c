/*
 * decpctl modules tested directly: CPU lists, the config rewriter, the machine model and
 * the placement planner on the fixture roots (read-only: fixtures/xeon2s, fixtures/vm2).
 * usage: test_ctl_units FIXTURES_DIR
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_conf.h"
#include "ctl_cores.h"
#include "ctl_nic.h"
#include "ctl_sysfs.h"
#include "ctl_test_util.h"
#include "ctl_topo.h"

static const char *g_fixtures;

static void use_root(const char *name)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", g_fixtures, name);
	CU_ASSERT_FATAL(ctl_root_set(p) == 0);
}

static void fmt_eq(const struct ctl_cpuset *s, const char *want)
{
	char b[256];
	CU_ASSERT_EQUAL(ctl_cpuset_format(s, b, sizeof(b)), 0);
	CU_ASSERT_STRING_EQUAL(b, want);
}

static void test_cpuset(void)
{
	struct ctl_cpuset s;
	CU_ASSERT_EQUAL(ctl_cpuset_parse(&s, "0-3,8,10-11\n"), 0);
	CU_ASSERT_EQUAL(ctl_cpuset_count(&s), 7u);
	fmt_eq(&s, "0-3,8,10-11");
	CU_ASSERT_EQUAL(ctl_cpuset_parse(&s, ""), 0);
	CU_ASSERT_TRUE(ctl_cpuset_empty(&s));
	fmt_eq(&s, "");
	/* isolcpus stride form: 0-7:2/4 = 0,1,4,5 */
	CU_ASSERT_EQUAL(ctl_cpuset_parse(&s, "0-7:2/4"), 0);
	fmt_eq(&s, "0-1,4-5");
	CU_ASSERT_EQUAL(ctl_cpuset_parse(&s, "1023"), 0);
	CU_ASSERT_TRUE(ctl_cpuset_has(&s, 1023));
	/* boundaries and garbage */
	CU_ASSERT_EQUAL(ctl_cpuset_parse(&s, "1024"), -EINVAL);
	CU_ASSERT_EQUAL(ctl_cpuset_parse(&s, "3-1"), -EINVAL);
	CU_ASSERT_EQUAL(ctl_cpuset_parse(&s, "1,,2"), -EINVAL);
	CU_ASSERT_EQUAL(ctl_cpuset_parse(&s, "a"), -EINVAL);
	CU_ASSERT_EQUAL(ctl_cpuset_parse(&s, "1-"), -EINVAL);
	CU_ASSERT_EQUAL(ctl_cpuset_parse(&s, "-1"), -EINVAL);
	char tiny[4];
	ctl_cpuset_parse(&s, "1,3,5,7");
	CU_ASSERT_EQUAL(ctl_cpuset_format(&s, tiny, sizeof(tiny)), -ENOSPC);
}

static void test_cmdline(void)
{
	const char *cl = "BOOT_IMAGE=/vmlinuz ro isolcpus=1 quiet isolcpus=domain,managed_irq,2-5,10 "
			 "nohz_full=2-5 -- isolcpus=7";
	CU_ASSERT_STRING_EQUAL(ctl_cmdline_param(cl, "isolcpus"), "domain,managed_irq,2-5,10");
	CU_ASSERT_STRING_EQUAL(ctl_cmdline_param(cl, "nohz_full"), "2-5");
	CU_ASSERT_PTR_NULL(ctl_cmdline_param(cl, "rcu_nocbs"));
	CU_ASSERT_PTR_NULL(ctl_cmdline_param(cl, "isolcpu"));
}

static const char *CONF_IN =
	"# decp-dataplane config\n"
	"listen = 0.0.0.0:7000\n"
	"\n"
	"lcores = 0-3   # old map\n"
	"  workers=3\n"
	"shm = decp\n"
	"lcores = 9\n"
	"# main_lcore = 5 (a comment, not a key)\n";

static void test_conf_edit(void)
{
	const struct ctl_kv kv[] = {{"lcores", "8,10-13"}, {"main_lcore", "8"}, {"workers", "4"}};
	char *out = ctl_conf_edit(CONF_IN, kv, 3, "test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_STRING_EQUAL(out,
			       "# decp-dataplane config\n"
			       "listen = 0.0.0.0:7000\n"
			       "\n"
			       "lcores = 8,10-13   # old map\n"
			       "  workers= 4\n"
			       "shm = decp\n"
			       "# main_lcore = 5 (a comment, not a key)\n"
			       "# written by test\n"
			       "main_lcore = 8\n");
	free(out);
	/* No trailing newline in the input; empty input. */
	out = ctl_conf_edit("a = 1", kv, 1, "t");
	CU_ASSERT_STRING_EQUAL(out, "a = 1\n# written by t\nlcores = 8,10-13\n");
	free(out);
	out = ctl_conf_edit("", kv, 1, "t");
	CU_ASSERT_STRING_EQUAL(out, "# written by t\nlcores = 8,10-13\n");
	free(out);
}

static void test_conf_file(void)
{
	char dir[64], path[128];
	CU_ASSERT_FATAL(tmpdir_make(dir, sizeof(dir)) == 0);
	snprintf(path, sizeof(path), "%s/dp.conf", dir);
	CU_ASSERT_EQUAL(spit(path, CONF_IN), 0);
	chmod(path, 0600);
	char v[64];
	CU_ASSERT_EQUAL(ctl_conf_get(path, "lcores", v, sizeof(v)), 0);
	CU_ASSERT_STRING_EQUAL(v, "9"); /* last wins */
	CU_ASSERT_EQUAL(ctl_conf_get(path, "workers", v, sizeof(v)), 0);
	CU_ASSERT_STRING_EQUAL(v, "3");
	CU_ASSERT_EQUAL(ctl_conf_get(path, "main_lcore", v, sizeof(v)), -ENOENT);
	const struct ctl_kv kv[] = {{"workers", "2"}};
	CU_ASSERT_EQUAL(ctl_conf_set(path, kv, 1, "t"), 0);
	CU_ASSERT_EQUAL(ctl_conf_get(path, "workers", v, sizeof(v)), 0);
	CU_ASSERT_STRING_EQUAL(v, "2");
	struct stat st;
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600); /* mode kept across the rename */
	/* no temp file left behind */
	char *const ls[] = {"/bin/ls", "-A", dir, NULL};
	struct run_result r;
	CU_ASSERT_EQUAL(run_prog(ls, 10, &r), 0);
	CU_ASSERT_STRING_EQUAL(r.out, "dp.conf\n");
	run_free(&r);
	/* created when missing */
	snprintf(path, sizeof(path), "%s/new.conf", dir);
	CU_ASSERT_EQUAL(ctl_conf_set(path, kv, 1, "t"), 0);
	char *t = slurp(path);
	CU_ASSERT_STRING_EQUAL(t, "# written by t\nworkers = 2\n");
	free(t);
	/* unwritable directory: error, nothing changed */
	CU_ASSERT_EQUAL(ctl_conf_set("/nonexistent-dir/x.conf", kv, 1, "t"), -ENOENT);
	tmpdir_remove(dir);
}

static void test_machine_xeon2s(void)
{
	struct ctl_machine m;
	use_root("xeon2s");
	CU_ASSERT_EQUAL_FATAL(ctl_machine_load(&m), 0);
	CU_ASSERT_EQUAL(ctl_cpuset_count(&m.online), 32u);
	CU_ASSERT_EQUAL(m.n_nodes, 2u);
	CU_ASSERT_EQUAL(m.cpu[10].node, 1);
	CU_ASSERT_EQUAL(m.cpu[26].node, 1);
	CU_ASSERT_EQUAL(m.cpu[13].core_id, 8);
	CU_ASSERT_TRUE(ctl_cpuset_has(&m.cpu[10].siblings, 26));
	CU_ASSERT_STRING_EQUAL(m.cpu[3].governor, "powersave");
	fmt_eq(&m.isolated, "2-5,10-13");
	fmt_eq(&m.nohz_full, "2-5,10-13");
	CU_ASSERT_FALSE(m.has_rcu_nocbs);
	CU_ASSERT_TRUE(m.irqbalance);
	CU_ASSERT_EQUAL(ctl_machine_pool(&m, 0, 2048)->nr, 1024);
	CU_ASSERT_EQUAL(ctl_machine_pool(&m, 1, 2048)->nr, 0);
	CU_ASSERT_EQUAL(m.n_mounts, 1u);
	CU_ASSERT_EQUAL(m.mounts[0].pagesize_kb, 2048u);
	ctl_machine_free(&m);
}

static void test_nic_xeon2s(void)
{
	struct ctl_nic all[CTL_MAX_NICS], n;
	use_root("xeon2s");
	int k = ctl_nic_list(all, CTL_MAX_NICS);
	CU_ASSERT_EQUAL_FATAL(k, 3);
	CU_ASSERT_STRING_EQUAL(all[0].ifname, "eno1");
	CU_ASSERT_TRUE(all[0].default_route);
	CU_ASSERT_STRING_EQUAL(all[1].ifname, "ens1f0");
	CU_ASSERT_FALSE(all[1].default_route);
	CU_ASSERT_EQUAL(all[1].numa_node, 1);
	CU_ASSERT_STRING_EQUAL(all[1].pci_driver, "ixgbe");
	CU_ASSERT_STRING_EQUAL(all[2].pci, "0000:82:00.0");
	CU_ASSERT_TRUE(all[2].dpdk_bound);
	CU_ASSERT_EQUAL(ctl_nic_find("81:00.0", &n), 0);
	CU_ASSERT_STRING_EQUAL(n.ifname, "ens1f0");
	CU_ASSERT_EQUAL(ctl_nic_find("0000:02:00.0", &n), 0);
	CU_ASSERT_TRUE(n.default_route);
	CU_ASSERT_EQUAL(ctl_nic_find("ens1", &n), -ENODEV);
	struct ctl_irq irqs[CTL_MAX_IRQS];
	CU_ASSERT_EQUAL(ctl_nic_find("ens1f0", &n), 0);
	k = ctl_nic_irqs(&n, irqs, CTL_MAX_IRQS);
	CU_ASSERT_EQUAL(k, 9); /* link + 8 queues, not eno1's */
	char defr[64];
	CU_ASSERT_EQUAL(ctl_default_route_ifaces(defr, sizeof(defr)), 1);
	CU_ASSERT_STRING_EQUAL(defr, "eno1");
}

/* No two workers may be hyperthreads of one core. */
static void assert_no_sibling_pairs(const struct ctl_machine *m, const struct ctl_plan *p)
{
	for (unsigned int i = 0; i < p->n_workers; i++)
		for (unsigned int j = i + 1; j < p->n_workers; j++)
			CU_ASSERT_FALSE(ctl_cpuset_has(&m->cpu[p->workers[i]].siblings,
						       (unsigned int)p->workers[j]));
}

static void test_plan_xeon2s(void)
{
	struct ctl_machine m;
	struct ctl_nic nic;
	struct ctl_irq irqs[CTL_MAX_IRQS];
	static struct ctl_plan p;
	char b[256];
	use_root("xeon2s");
	CU_ASSERT_EQUAL_FATAL(ctl_machine_load(&m), 0);
	CU_ASSERT_EQUAL_FATAL(ctl_nic_find("ens1f0", &nic), 0);
	int ni = ctl_nic_irqs(&nic, irqs, CTL_MAX_IRQS);
	CU_ASSERT_EQUAL(ctl_cores_plan(&m, &nic, irqs, (unsigned int)ni, 0, NULL, -1, &p), 0);
	/* Workers: the isolated physical cores of node 1, one thread each; main on node 1
	 * housekeeping, not CPU 0. */
	CU_ASSERT_EQUAL(p.target_node, 1);
	CU_ASSERT_EQUAL(p.n_workers, 4u);
	fmt_eq(&p.worker_set, "10-13");
	fmt_eq(&p.worker_threads, "10-13,26-29");
	CU_ASSERT_EQUAL(p.main_lcore, 8);
	CU_ASSERT_EQUAL(ctl_plan_lcores(&p, b, sizeof(b)), 0);
	CU_ASSERT_STRING_EQUAL(b, "8,10-13");
	assert_no_sibling_pairs(&m, &p);
	fmt_eq(&p.irq_target, "8-9,14-15,24-25,30-31");
	/* What is wrong on this machine. */
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "isolated_remote"));
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "sibling_not_isolated"));
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "governor"));
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "irq_on_workers"));
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "irqbalance"));
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "no_hugepages"));
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "no_rcu_nocbs"));
	CU_ASSERT_PTR_NULL(ctl_plan_find(&p, "not_isolated"));
	CU_ASSERT_PTR_NULL(ctl_plan_find(&p, "nic_remote_node"));
	CU_ASSERT_PTR_NULL(ctl_plan_find(&p, "too_few_cpus"));
	CU_ASSERT_PTR_NULL(ctl_plan_find(&p, "control_shared")); /* CPUs to spare for it */
	CU_ASSERT_PTR_NOT_NULL(strstr(ctl_plan_find(&p, "irq_on_workers")->text, "IRQ 120,123,124,125,126"));
	CU_ASSERT_STRING_EQUAL(p.kernel_params, "isolcpus=managed_irq,domain,2-5,10-13,26-29 "
						"nohz_full=2-5,10-13,26-29 rcu_nocbs=10-13,26-29");
	char line[1024];
	CU_ASSERT_EQUAL(ctl_plan_grub_line(&p, line, sizeof(line)), 1);
	CU_ASSERT_STRING_EQUAL(line, "GRUB_CMDLINE_LINUX=\"isolcpus=managed_irq,domain,2-5,10-13,26-29 "
				     "nohz_full=2-5,10-13,26-29 rcu_nocbs=10-13,26-29\"");

	/* 6 workers: the 4 isolated cores, then node-1 housekeeping cores; still no pairs. */
	CU_ASSERT_EQUAL(ctl_cores_plan(&m, &nic, irqs, (unsigned int)ni, 6, NULL, -1, &p), 0);
	CU_ASSERT_EQUAL(p.n_workers, 6u);
	for (unsigned int i = 0; i < p.n_workers; i++)
		CU_ASSERT_EQUAL(m.cpu[p.workers[i]].node, 1);
	assert_no_sibling_pairs(&m, &p);
	CU_ASSERT_EQUAL(m.cpu[p.main_lcore].node, 1);
	CU_ASSERT_FALSE(ctl_cpuset_has(&p.worker_threads, (unsigned int)p.main_lcore));
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "not_isolated"));

	/* 9 workers do not fit node 1 (8 cores): one spills to node 0 and that is an error. */
	CU_ASSERT_EQUAL(ctl_cores_plan(&m, &nic, irqs, (unsigned int)ni, 9, NULL, -1, &p), 0);
	CU_ASSERT_EQUAL(p.n_workers, 9u);
	assert_no_sibling_pairs(&m, &p);
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "nic_remote_node"));
	CU_ASSERT_FALSE(ctl_cpuset_has(&p.worker_set, 0));

	/* 16 workers = every physical core incl. CPU 0's; 17 would be capped by the caller. */
	CU_ASSERT_EQUAL(ctl_cores_plan(&m, &nic, irqs, (unsigned int)ni, 16, NULL, -1, &p), 0);
	CU_ASSERT_EQUAL(p.n_workers, 16u);
	assert_no_sibling_pairs(&m, &p);
	CU_ASSERT_TRUE(p.main_lcore >= 16); /* only HT twins left */

	/* A bad current map is judged too. */
	struct ctl_cpuset cur;
	ctl_cpuset_parse(&cur, "0,2-3,18");
	CU_ASSERT_EQUAL(ctl_cores_plan(&m, &nic, irqs, (unsigned int)ni, 0, &cur, 0, &p), 0);
	const struct ctl_finding *f = ctl_plan_find(&p, "ht_siblings_shared");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(f->text, "current map: worker CPUs 2,18"));
	f = ctl_plan_find(&p, "nic_remote_node");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(f->text, "current map"));
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "core0_used"));

	/* No NIC: placement falls back to the node with the most isolated CPUs (a tie: the
	 * first), checks that need the NIC are skipped and said so. */
	CU_ASSERT_EQUAL(ctl_cores_plan(&m, NULL, NULL, 0, 0, NULL, -1, &p), 0);
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "nic_none"));
	CU_ASSERT_PTR_NULL(ctl_plan_find(&p, "irq_on_workers"));
	CU_ASSERT_FALSE(ctl_cpuset_has(&p.worker_set, 0));
	ctl_machine_free(&m);
}

static void test_plan_vm2(void)
{
	struct ctl_machine m;
	struct ctl_nic nic;
	struct ctl_irq irqs[CTL_MAX_IRQS];
	static struct ctl_plan p;
	use_root("vm2");
	CU_ASSERT_EQUAL_FATAL(ctl_machine_load(&m), 0);
	CU_ASSERT_EQUAL(ctl_cpuset_count(&m.online), 2u);
	CU_ASSERT_EQUAL_FATAL(ctl_nic_find("eth0", &nic), 0);
	CU_ASSERT_TRUE(nic.default_route);
	CU_ASSERT_STRING_EQUAL(nic.pci, "0000:00:03.0"); /* through the virtio child */
	int ni = ctl_nic_irqs(&nic, irqs, CTL_MAX_IRQS);
	CU_ASSERT_TRUE(ni >= 2);
	CU_ASSERT_EQUAL(ctl_cores_plan(&m, NULL, NULL, 0, 0, NULL, -1, &p), 0);
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "too_few_cpus"));
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "no_cpufreq"));
	CU_ASSERT_PTR_NULL(ctl_plan_find(&p, "not_isolated")); /* not advised on 2 CPUs */
	/* 2 CPUs, one the worker's: the control plane shares CPU 0: ACK path first (issue 26) */
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "control_shared"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ctl_plan_find(&p, "control_shared")->text,
				      "share CPUs 0: keep the ACK path first"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ctl_plan_find(&p, "control_shared")->text,
				      "edge_sched = fifo:10"));
	CU_ASSERT_EQUAL(p.n_workers, 1u);
	CU_ASSERT_EQUAL(p.workers[0], 1);
	CU_ASSERT_EQUAL(p.main_lcore, 0);
	CU_ASSERT_STRING_EQUAL(p.kernel_params, "");
	/* Asking for 2 workers on 2 single-thread CPUs: both cores, main shares CPU 0's core. */
	CU_ASSERT_EQUAL(ctl_cores_plan(&m, NULL, NULL, 0, 3, NULL, -1, &p), 0);
	CU_ASSERT_EQUAL(p.n_workers, 2u);
	CU_ASSERT_PTR_NOT_NULL(ctl_plan_find(&p, "not_enough_cores"));
	ctl_machine_free(&m);
}

static void test_bad_root(void)
{
	struct ctl_machine m;
	CU_ASSERT_EQUAL(ctl_root_set("/nonexistent-decpctl-root"), 0);
	CU_ASSERT_EQUAL(ctl_machine_load(&m), -ENOENT);
	struct ctl_nic all[4];
	CU_ASSERT_EQUAL(ctl_nic_list(all, 4), -ENOENT);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s FIXTURES_DIR\n", argv[0]);
		return 2;
	}
	g_fixtures = argv[1];
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("decpctl_units", NULL, NULL);
	CU_add_test(s, "CPU lists: parse, format, boundaries", test_cpuset);
	CU_add_test(s, "kernel command line parameters", test_cmdline);
	CU_add_test(s, "config edit keeps other lines", test_conf_edit);
	CU_add_test(s, "config file: atomic rewrite, mode, get", test_conf_file);
	CU_add_test(s, "machine model on xeon2s", test_machine_xeon2s);
	CU_add_test(s, "NICs, default route and IRQs on xeon2s", test_nic_xeon2s);
	CU_add_test(s, "placement plan on xeon2s", test_plan_xeon2s);
	CU_add_test(s, "placement plan on vm2 (2-core VM)", test_plan_vm2);
	CU_add_test(s, "root that is not a /proc+/sys tree", test_bad_root);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
