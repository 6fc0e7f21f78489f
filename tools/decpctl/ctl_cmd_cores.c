/*
 * decpctl cores: report, proposed lcore map, config rewrite, --apply. The planner is
 * ctl_cores.c; this file is options, output (text / JSON) and the run-time settings.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_cmd.h"
#include "ctl_conf.h"
#include "ctl_cores.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: decpctl cores [--nic IF|PCI] [--config FILE] [--workers N] [--apply]\n"
		"                     [--hugepages N] [--json] [--root DIR]\n"
		"\n"
		"Inspect this machine for dataplane placement (CPU topology and NUMA, isolcpus /\n"
		"nohz_full / rcu_nocbs, the NIC's IRQ affinity, frequency governor, hugepages, the NIC's\n"
		"NUMA node), explain what is wrong and propose an lcore map: main lcore on a\n"
		"housekeeping CPU, workers on isolated physical cores of the NIC's node, one thread per\n"
		"core, CPU 0 left alone when possible.\n"
		"\n"
		"  --nic IF|PCI     the dataplane's NIC (default: the DPDK-bound NIC, else the only PCI\n"
		"                   NIC that does not carry the default route)\n"
		"  --config FILE    read the current map from FILE and write the proposal into it\n"
		"                   (keys lcores, main_lcore, workers; other lines kept; atomic)\n"
		"  --workers N      number of workers (1..%u, default: the isolated cores of the node)\n"
		"  --apply          set what can change at run time: NIC IRQ affinity away from worker\n"
		"                   cores, governor 'performance' on the map's CPUs, hugepages on the\n"
		"                   NIC's node when it has none; print what needs a reboot\n"
		"  --hugepages N    pages of the default size to reserve with --apply (default 1024)\n"
		"  --json           one JSON object instead of the report\n"
		"  --root DIR       read (and with --apply write) /proc and /sys below DIR\n"
		"  --help           this text\n"
		"\n"
		"Exit: 0 report printed (findings are not errors), 1 cannot read the machine or write\n"
		"the config, 2 usage, 4 --apply: some settings were refused (see the report).\n",
		CTL_MAX_WORKERS);
}

static const char *sev_name(enum ctl_sev s)
{
	static const char *n[] = {"ok", "info", "warn", "error"};
	return n[s];
}

struct action {
	char what[160];
	char path[160];
	char value[96];
	int rc;
};

#define MAX_ACTIONS 512u

struct apply_log {
	unsigned int n;
	struct action a[MAX_ACTIONS];
};

/* Copy for the report only: a longer text is cut (the write itself uses the full value). */
static void copy_cut(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void act(struct apply_log *log, const char *what, const char *path, const char *value)
{
	if (log->n >= MAX_ACTIONS)
		return;
	struct action *a = &log->a[log->n++];
	copy_cut(a->what, sizeof(a->what), what);
	copy_cut(a->path, sizeof(a->path), path);
	copy_cut(a->value, sizeof(a->value), value);
	a->rc = ctl_write(path, value);
}

static const char *why(const struct action *a)
{
	if (a->rc == 0)
		return "done";
	if (a->rc == -EIO && strncmp(a->path, "/proc/irq/", 10) == 0)
		return "refused (EIO): a kernel-managed IRQ; its affinity follows isolcpus=managed_irq "
		       "after a reboot";
	if (a->rc == -EACCES || a->rc == -EPERM)
		return "refused: permission denied (run as root)";
	if (a->rc == -ENOENT)
		return "refused: no such file";
	static char b[96];
	snprintf(b, sizeof(b), "refused: %s", strerror(-a->rc));
	return b;
}

static void apply(const struct ctl_machine *m, const struct ctl_plan *p, const struct ctl_irq *irqs,
		  unsigned int n_irqs, long hugepages, struct apply_log *log)
{
	char path[160], val[1024], what[160];
	/* 1. NIC IRQs off the worker cores (and their HT twins). */
	if (ctl_cpuset_format(&p->irq_target, val, sizeof(val)) == 0 && val[0] != '\0')
		for (unsigned int i = 0; i < n_irqs; i++) {
			struct ctl_cpuset t;
			ctl_cpuset_and(&t, &irqs[i].affinity, &p->worker_threads);
			if (!irqs[i].affinity_known || ctl_cpuset_empty(&t))
				continue;
			snprintf(what, sizeof(what), "IRQ %u (%s) affinity", irqs[i].irq, irqs[i].name);
			snprintf(path, sizeof(path), "/proc/irq/%u/smp_affinity_list", irqs[i].irq);
			act(log, what, path, val);
		}
	/* 2. Governor on every CPU of the map and the workers' siblings. */
	struct ctl_cpuset lc = p->worker_threads;
	if (p->main_lcore >= 0)
		ctl_cpuset_add(&lc, (unsigned int)p->main_lcore);
	for (unsigned int c = 0; c < CTL_MAX_CPUS; c++) {
		if (!ctl_cpuset_has(&lc, c) || m->cpu[c].governor[0] == '\0' ||
		    strcmp(m->cpu[c].governor, "performance") == 0)
			continue;
		snprintf(what, sizeof(what), "CPU %u governor (was %s)", c, m->cpu[c].governor);
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/cpufreq/scaling_governor", c);
		act(log, what, path, "performance");
	}
	/* 3. Hugepages of the default size on the target node, when it has none at all. */
	const struct ctl_node *nd = ctl_machine_node(m, p->target_node);
	const struct ctl_hp_pool *pool = ctl_machine_pool(m, p->target_node, m->default_hp_kb);
	long have = 0;
	if (nd != NULL)
		for (unsigned int i = 0; i < nd->n_hp; i++)
			have += nd->hp[i].nr;
	if (have == 0 && hugepages > 0) {
		if (pool != NULL)
			snprintf(path, sizeof(path),
				 "/sys/devices/system/node/node%d/hugepages/hugepages-%lukB/nr_hugepages",
				 p->target_node, m->default_hp_kb);
		else
			snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/nr_hugepages",
				 m->default_hp_kb);
		snprintf(what, sizeof(what), "hugepages %lukB on node %d", m->default_hp_kb,
			 p->target_node);
		snprintf(val, sizeof(val), "%ld", hugepages);
		act(log, what, path, val);
		/* The kernel may grant fewer than asked (fragmented memory): read back. */
		long got;
		struct action *a = &log->a[log->n - 1];
		if (a->rc == 0 && ctl_read_long(path, &got) == 0 && got < hugepages) {
			a->rc = -ENOMEM;
			snprintf(a->what, sizeof(a->what), "hugepages %lukB on node %d: kernel gave %ld of %ld",
				 m->default_hp_kb, p->target_node, got, hugepages);
		}
	}
}

static struct ctl_nic *choose_nic(const char *want, struct ctl_nic *buf, char *why_txt, size_t cap)
{
	static struct ctl_nic all[CTL_MAX_NICS];
	if (want != NULL) {
		if (ctl_nic_find(want, buf) != 0)
			return NULL;
		snprintf(why_txt, cap, "--nic");
		return buf;
	}
	int n = ctl_nic_list(all, CTL_MAX_NICS);
	int bound = -1, nbound = 0, free_pci = -1, nfree = 0;
	for (int i = 0; i < n; i++) {
		if (all[i].dpdk_bound) {
			bound = i;
			nbound++;
		} else if (all[i].pci[0] != '\0' && !all[i].default_route) {
			free_pci = i;
			nfree++;
		}
	}
	if (nbound == 1) {
		*buf = all[bound];
		snprintf(why_txt, cap, "the only DPDK-bound NIC");
		return buf;
	}
	if (nbound == 0 && nfree == 1) {
		*buf = all[free_pci];
		snprintf(why_txt, cap, "the only PCI NIC without the default route");
		return buf;
	}
	return NULL;
}

static void print_set(const char *label, bool present, const struct ctl_cpuset *s)
{
	char b[1024];
	ctl_cpuset_format(s, b, sizeof(b));
	printf("  %-10s %s\n", label, present ? (b[0] ? b : "(empty)") : "not set");
}

static void report_text(const struct ctl_machine *m, const struct ctl_nic *nic, const char *nic_why,
			const struct ctl_irq *irqs, unsigned int n_irqs, const struct ctl_plan *p,
			const char *config, bool wrote, const struct apply_log *log, bool applied)
{
	char b[1024];
	unsigned int cores = 0, n_online = ctl_cpuset_count(&m->online);
	for (unsigned int c = 0; c < CTL_MAX_CPUS; c++)
		if (ctl_cpuset_has(&m->online, c) && ctl_cpuset_first(&m->cpu[c].siblings) == (int)c)
			cores++;
	ctl_cpuset_format(&m->online, b, sizeof(b));
	printf("decpctl cores (root %s)\n\n", ctl_root_get());
	printf("Machine: %u CPUs online (%s), %u physical cores, %s, %u NUMA node%s\n", n_online, b,
	       cores, cores < n_online ? "SMT on" : "no SMT", m->n_nodes, m->n_nodes == 1 ? "" : "s");
	for (unsigned int i = 0; i < m->n_nodes; i++) {
		const struct ctl_node *nd = &m->node[i];
		ctl_cpuset_format(&nd->cpus, b, sizeof(b));
		printf("  node %d: CPUs %s; hugepages", nd->id, b);
		if (nd->n_hp == 0)
			printf(" (no per-node data)");
		for (unsigned int k = 0; k < nd->n_hp; k++)
			printf(" %lukB %ld (free %ld)", nd->hp[k].size_kb, nd->hp[k].nr, nd->hp[k].free);
		printf("\n");
	}
	printf("Kernel command line:\n");
	print_set("isolcpus", m->has_isolcpus, &m->isolated);
	print_set("nohz_full", m->has_nohz_full, &m->nohz_full);
	print_set("rcu_nocbs", m->has_rcu_nocbs, &m->rcu_nocbs);
	const char *g = NULL;
	bool mixed = false;
	for (unsigned int c = 0; c < CTL_MAX_CPUS; c++)
		if (ctl_cpuset_has(&m->online, c) && m->cpu[c].governor[0] != '\0') {
			if (g != NULL && strcmp(g, m->cpu[c].governor) != 0)
				mixed = true;
			g = m->cpu[c].governor;
		}
	printf("Governor: %s\n", g == NULL ? "no cpufreq" : mixed ? "mixed (see findings)" : g);
	if (nic == NULL) {
		printf("NIC: none chosen\n");
	} else {
		printf("NIC: %s %s (%s), driver %s, NUMA node %d%s\n", nic->ifname[0] ? nic->ifname : "-",
		       nic->pci, nic_why, nic->pci_driver[0] ? nic->pci_driver : "none", nic->numa_node,
		       nic->default_route ? ", carries the default route" : "");
		for (unsigned int i = 0; i < n_irqs; i++) {
			ctl_cpuset_format(&irqs[i].affinity, b, sizeof(b));
			printf("  IRQ %-4u %-24s affinity %s\n", irqs[i].irq, irqs[i].name,
			       irqs[i].affinity_known ? b : "?");
		}
	}
	printf("irqbalance: %s\n", m->irqbalance ? "running" : "not running");

	printf("\nFindings%s (%u warnings, %u errors):\n", applied ? " before --apply" : "",
	       ctl_plan_count(p, CTL_SEV_WARN) -
							     ctl_plan_count(p, CTL_SEV_ERROR),
	       ctl_plan_count(p, CTL_SEV_ERROR));
	for (unsigned int i = 0; i < p->n_findings; i++)
		printf("  [%s] %s: %s\n", sev_name(p->findings[i].sev), p->findings[i].code,
		       p->findings[i].text);
	if (p->n_findings == 0)
		printf("  none\n");

	ctl_plan_lcores(p, b, sizeof(b));
	printf("\nProposed lcore map (node %d):\n", p->target_node);
	printf("  lcores     = %s\n", b);
	printf("  main_lcore = %d\n", p->main_lcore);
	printf("  workers    = %u\n", p->n_workers);
	for (unsigned int i = 0; i < p->n_workers; i++) {
		int c = p->workers[i];
		ctl_cpuset_format(&m->cpu[c].siblings, b, sizeof(b));
		printf("  worker %u: CPU %d (node %d, package %d, core %d, threads %s, %s)\n", i, c,
		       m->cpu[c].node, m->cpu[c].package, m->cpu[c].core_id, b,
		       ctl_cpuset_has(&m->isolated, (unsigned int)c) ? "isolated" : "not isolated");
	}
	if (config != NULL)
		printf("  %s %s\n", wrote ? "written to" : "NOT written to", config);

	if (applied) {
		printf("\nApplied at run time:\n");
		if (log->n == 0)
			printf("  nothing to change\n");
		for (unsigned int i = 0; i < log->n; i++)
			printf("  %s = %s: %s\n", log->a[i].what, log->a[i].value, why(&log->a[i]));
		if (m->irqbalance && log->n > 0)
			printf("  note: irqbalance is running and may move the IRQs back (finding "
			       "'irqbalance')\n");
	}
	if (p->kernel_params[0] != '\0') {
		char line[4096];
		int r = ctl_plan_grub_line(p, line, sizeof(line));
		printf("\nNeeds a reboot (kernel parameters):\n  %s\n", p->kernel_params);
		if (r == 1)
			printf("  In /etc/default/grub set:\n    %s\n  then run: update-grub && reboot\n",
			       line);
		else
			printf("  No /etc/default/grub here: add them to the boot loader's kernel command\n"
			       "  line (GRUB: %s, then update-grub && reboot)\n",
			       line);
	} else if (applied) {
		printf("\nNothing needs a reboot.\n");
	}
}

static json_t *set_json(const struct ctl_cpuset *s)
{
	json_t *a = json_array();
	for (unsigned int c = 0; c < CTL_MAX_CPUS; c++)
		if (ctl_cpuset_has(s, c))
			json_array_append_new(a, json_integer(c));
	return a;
}

static void report_json(const struct ctl_machine *m, const struct ctl_nic *nic,
			const struct ctl_irq *irqs, unsigned int n_irqs, const struct ctl_plan *p,
			const char *config, bool wrote, const struct apply_log *log, bool applied)
{
	char b[1024];
	json_t *o = json_object();
	json_object_set_new(o, "root", json_string(ctl_root_get()));
	json_t *mach = json_object();
	json_object_set_new(mach, "online", set_json(&m->online));
	json_t *nodes = json_array();
	for (unsigned int i = 0; i < m->n_nodes; i++) {
		json_t *n = json_object();
		json_object_set_new(n, "id", json_integer(m->node[i].id));
		json_object_set_new(n, "cpus", set_json(&m->node[i].cpus));
		json_t *hp = json_array();
		for (unsigned int k = 0; k < m->node[i].n_hp; k++)
			json_array_append_new(hp, json_pack("{s:I,s:I,s:I}", "size_kb",
							    (json_int_t)m->node[i].hp[k].size_kb, "nr",
							    (json_int_t)m->node[i].hp[k].nr, "free",
							    (json_int_t)m->node[i].hp[k].free));
		json_object_set_new(n, "hugepages", hp);
		json_array_append_new(nodes, n);
	}
	json_object_set_new(mach, "nodes", nodes);
	json_object_set_new(mach, "isolcpus", m->has_isolcpus ? set_json(&m->isolated) : json_null());
	json_object_set_new(mach, "nohz_full", m->has_nohz_full ? set_json(&m->nohz_full) : json_null());
	json_object_set_new(mach, "rcu_nocbs", m->has_rcu_nocbs ? set_json(&m->rcu_nocbs) : json_null());
	json_object_set_new(mach, "irqbalance", json_boolean(m->irqbalance));
	json_object_set_new(o, "machine", mach);
	if (nic != NULL) {
		json_t *n = json_pack("{s:s,s:s,s:s,s:i,s:b}", "ifname", nic->ifname, "pci", nic->pci,
				      "driver", nic->pci_driver, "numa_node", nic->numa_node,
				      "default_route", nic->default_route);
		json_t *ia = json_array();
		for (unsigned int i = 0; i < n_irqs; i++) {
			json_t *q = json_pack("{s:i,s:s}", "irq", irqs[i].irq, "name", irqs[i].name);
			json_object_set_new(q, "affinity",
					    irqs[i].affinity_known ? set_json(&irqs[i].affinity) : json_null());
			json_array_append_new(ia, q);
		}
		json_object_set_new(n, "irqs", ia);
		json_object_set_new(o, "nic", n);
	} else {
		json_object_set_new(o, "nic", json_null());
	}
	json_t *fa = json_array();
	for (unsigned int i = 0; i < p->n_findings; i++)
		json_array_append_new(fa, json_pack("{s:s,s:s,s:s}", "severity",
						    sev_name(p->findings[i].sev), "code",
						    p->findings[i].code, "text", p->findings[i].text));
	json_object_set_new(o, "findings", fa);
	ctl_plan_lcores(p, b, sizeof(b));
	json_t *pl = json_pack("{s:i,s:s,s:i,s:i}", "node", p->target_node, "lcores", b, "main_lcore",
			       p->main_lcore, "workers", (int)p->n_workers);
	json_object_set_new(pl, "worker_cpus", set_json(&p->worker_set));
	json_object_set_new(pl, "irq_target", set_json(&p->irq_target));
	json_object_set_new(pl, "kernel_params", json_string(p->kernel_params));
	if (p->kernel_params[0] != '\0') {
		char line[4096];
		if (ctl_plan_grub_line(p, line, sizeof(line)) >= 0)
			json_object_set_new(pl, "grub_line", json_string(line));
	}
	json_object_set_new(o, "proposal", pl);
	if (config != NULL)
		json_object_set_new(o, "config", json_pack("{s:s,s:b}", "path", config, "written", wrote));
	if (applied) {
		json_t *aa = json_array();
		for (unsigned int i = 0; i < log->n; i++)
			json_array_append_new(aa, json_pack("{s:s,s:s,s:s,s:b,s:s}", "what", log->a[i].what,
							    "path", log->a[i].path, "value",
							    log->a[i].value, "ok", log->a[i].rc == 0,
							    "result", why(&log->a[i])));
		json_object_set_new(o, "applied", aa);
	}
	char *s = json_dumps(o, JSON_COMPACT);
	if (s != NULL)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

int ctl_cmd_cores(int argc, char **argv)
{
	static const struct option lo[] = {
		{"nic", required_argument, NULL, 'n'},     {"config", required_argument, NULL, 'c'},
		{"workers", required_argument, NULL, 'w'}, {"apply", no_argument, NULL, 'a'},
		{"hugepages", required_argument, NULL, 'H'}, {"json", no_argument, NULL, 'j'},
		{"root", required_argument, NULL, 'r'},    {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *nic_name = NULL, *config = NULL;
	long workers = 0, hugepages = 1024;
	bool do_apply = false, json = false;
	int c, rc;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'n': nic_name = optarg; break;
		case 'c': config = optarg; break;
		case 'w':
			if (ctl_parse_long("cores", "--workers", optarg, 1, CTL_MAX_WORKERS, &workers) != 0)
				return CTL_EXIT_USAGE;
			break;
		case 'H':
			if (ctl_parse_long("cores", "--hugepages", optarg, 0, 1L << 24, &hugepages) != 0)
				return CTL_EXIT_USAGE;
			break;
		case 'a': do_apply = true; break;
		case 'j': json = true; break;
		case 'r':
			if ((rc = ctl_set_root_opt("cores", optarg)) != 0)
				return rc;
			break;
		case 'h': usage(stdout); return CTL_EXIT_OK;
		default: return ctl_option_error("cores", argv, optopt);
		}
	}
	if (optind < argc)
		return ctl_usage_error("cores", "unexpected argument '%s'", argv[optind]);

	struct ctl_machine m;
	rc = ctl_machine_load(&m);
	if (rc != 0) {
		fprintf(stderr, "decpctl cores: cannot read the CPU list below %s (%s)\n", ctl_root_get(),
			strerror(-rc));
		return CTL_EXIT_FAIL;
	}
	static struct ctl_nic nicbuf;
	static struct ctl_irq irqs[CTL_MAX_IRQS];
	char nic_why[64] = "";
	struct ctl_nic *nic = choose_nic(nic_name, &nicbuf, nic_why, sizeof(nic_why));
	if (nic_name != NULL && nic == NULL) {
		fprintf(stderr, "decpctl cores: --nic %s: no such interface or PCI network function\n",
			nic_name);
		ctl_machine_free(&m);
		return CTL_EXIT_USAGE;
	}
	unsigned int n_irqs = 0;
	if (nic != NULL) {
		int n = ctl_nic_irqs(nic, irqs, CTL_MAX_IRQS);
		n_irqs = n > 0 ? (unsigned int)n : 0;
	}
	/* The map already configured, to judge it as well. */
	struct ctl_cpuset cur;
	int cur_main = -1;
	bool have_cur = false;
	if (config != NULL) {
		char v[1024], *end;
		if (ctl_conf_get(config, "lcores", v, sizeof(v)) == 0) {
			if (ctl_cpuset_parse(&cur, v) == 0)
				have_cur = true;
			else
				fprintf(stderr, "decpctl cores: %s: lcores = '%s' is not a CPU list; "
						"not judged, will be replaced\n", config, v);
		}
		if (ctl_conf_get(config, "main_lcore", v, sizeof(v)) == 0) {
			long mv = strtol(v, &end, 10);
			if (end != v && *end == '\0' && mv >= 0 && mv < (long)CTL_MAX_CPUS)
				cur_main = (int)mv;
			else
				fprintf(stderr, "decpctl cores: %s: main_lcore = '%s' is not a CPU number; "
						"not judged, will be replaced\n", config, v);
		}
	}
	static struct ctl_plan plan;
	rc = ctl_cores_plan(&m, nic, irqs, n_irqs, (unsigned int)workers, have_cur ? &cur : NULL,
			    cur_main, &plan);
	if (rc != 0) {
		fprintf(stderr, "decpctl cores: no CPU to plan with\n");
		ctl_machine_free(&m);
		return CTL_EXIT_FAIL;
	}
	bool wrote = false;
	int exit_code = CTL_EXIT_OK;
	if (config != NULL) {
		char lc[1024], mainv[16], wv[16], who[96];
		ctl_plan_lcores(&plan, lc, sizeof(lc));
		snprintf(mainv, sizeof(mainv), "%d", plan.main_lcore);
		snprintf(wv, sizeof(wv), "%u", plan.n_workers);
		snprintf(who, sizeof(who), "decpctl cores (node %d)", plan.target_node);
		const struct ctl_kv kv[] = {{"lcores", lc}, {"main_lcore", mainv}, {"workers", wv}};
		rc = ctl_conf_set(config, kv, 3, who);
		if (rc != 0) {
			fprintf(stderr, "decpctl cores: cannot write %s: %s\n", config, strerror(-rc));
			exit_code = CTL_EXIT_FAIL;
		} else {
			wrote = true;
		}
	}
	static struct apply_log log;
	log.n = 0;
	if (do_apply) {
		apply(&m, &plan, irqs, n_irqs, hugepages, &log);
		for (unsigned int i = 0; i < log.n; i++)
			if (log.a[i].rc != 0 && exit_code == CTL_EXIT_OK)
				exit_code = CTL_EXIT_PARTIAL;
	}
	if (json)
		report_json(&m, nic, irqs, n_irqs, &plan, config, wrote, &log, do_apply);
	else
		report_text(&m, nic, nic_why, irqs, n_irqs, &plan, config, wrote, &log, do_apply);
	ctl_machine_free(&m);
	return exit_code;
}
