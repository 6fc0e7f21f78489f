/* ctl_cores: placement findings and lcore map proposal. Contract in ctl_cores.h. */
#include "ctl_cores.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Below this many online CPUs, isolating a worker leaves too little for the OS, decp-control,
 * Redis and PostgreSQL: the plan then uses one worker and recommends no isolation. */
#define CTL_MIN_CPUS_TO_ISOLATE 4u

static void finding(struct ctl_plan *p, enum ctl_sev sev, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void finding(struct ctl_plan *p, enum ctl_sev sev, const char *code, const char *fmt, ...)
{
	if (p->n_findings >= CTL_MAX_FINDINGS)
		return;
	struct ctl_finding *f = &p->findings[p->n_findings++];
	f->sev = sev;
	snprintf(f->code, sizeof(f->code), "%s", code);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
}

unsigned int ctl_plan_count(const struct ctl_plan *p, enum ctl_sev sev)
{
	unsigned int n = 0;
	for (unsigned int i = 0; i < p->n_findings; i++)
		n += p->findings[i].sev >= sev;
	return n;
}

const struct ctl_finding *ctl_plan_find(const struct ctl_plan *p, const char *code)
{
	for (unsigned int i = 0; i < p->n_findings; i++)
		if (strcmp(p->findings[i].code, code) == 0)
			return &p->findings[i];
	return NULL;
}

int ctl_plan_lcores(const struct ctl_plan *p, char *out, size_t cap)
{
	struct ctl_cpuset s = p->worker_set;
	if (p->main_lcore >= 0)
		ctl_cpuset_add(&s, (unsigned int)p->main_lcore);
	return ctl_cpuset_format(&s, out, cap);
}

/* Shorthand: format a set into a static ring of buffers (for messages). */
static const char *L(const struct ctl_cpuset *s)
{
	static char ring[8][1024];
	static unsigned int k;
	char *b = ring[k++ % 8];
	if (ctl_cpuset_format(s, b, 1024) != 0)
		snprintf(b, 1024, "(many)");
	return b[0] != '\0' ? b : "none";
}

static int core_of(const struct ctl_machine *m, unsigned int c)
{
	return ctl_cpuset_first(&m->cpu[c].siblings);
}

static int pick_target_node(const struct ctl_machine *m, const struct ctl_nic *nic)
{
	if (nic != NULL && nic->numa_node >= 0 && ctl_machine_node(m, nic->numa_node) != NULL)
		return nic->numa_node;
	int best = m->n_nodes > 0 ? m->node[0].id : 0;
	unsigned int best_n = 0;
	for (unsigned int i = 0; i < m->n_nodes; i++) {
		struct ctl_cpuset s;
		ctl_cpuset_and(&s, &m->node[i].cpus, &m->isolated);
		if (ctl_cpuset_count(&s) > best_n) {
			best_n = ctl_cpuset_count(&s);
			best = m->node[i].id;
		}
	}
	return best;
}

/* Add up to `want` workers (one per physical core) from CPUs in `from`, isolated cores
 * first, skipping cores already used and the cores in `avoid`. */
static void take_workers(const struct ctl_machine *m, struct ctl_plan *p, const struct ctl_cpuset *from,
			 const struct ctl_cpuset *avoid, unsigned int want)
{
	for (int pass = 0; pass < 2; pass++)
		for (unsigned int c = 0; c < CTL_MAX_CPUS && p->n_workers < want; c++) {
			if (!ctl_cpuset_has(from, c) || core_of(m, c) != (int)c ||
			    ctl_cpuset_has(avoid, c) || ctl_cpuset_has(&p->worker_threads, c))
				continue;
			if ((pass == 0) != ctl_cpuset_has(&m->isolated, c))
				continue;
			p->workers[p->n_workers++] = (int)c;
			ctl_cpuset_add(&p->worker_set, c);
			ctl_cpuset_or(&p->worker_threads, &p->worker_threads, &m->cpu[c].siblings);
		}
}

static int pick_main(const struct ctl_machine *m, const struct ctl_plan *p,
		     const struct ctl_cpuset *core0, const struct ctl_cpuset *node)
{
	struct ctl_cpuset free_cpus, hk, s;
	ctl_cpuset_andnot(&free_cpus, &m->online, &p->worker_threads);
	ctl_cpuset_andnot(&hk, &free_cpus, &m->isolated);
	const struct ctl_cpuset *tries[5][2] = {
		{&hk, node}, {&hk, NULL}, {&free_cpus, node}, {&free_cpus, NULL}, {NULL, NULL}};
	for (int avoid0 = 1; avoid0 >= 0; avoid0--)
		for (int i = 0; tries[i][0] != NULL; i++) {
			s = *tries[i][0];
			if (tries[i][1] != NULL)
				ctl_cpuset_and(&s, &s, tries[i][1]);
			if (avoid0)
				ctl_cpuset_andnot(&s, &s, core0);
			if (!ctl_cpuset_empty(&s))
				return ctl_cpuset_first(&s);
		}
	/* Only HT siblings of workers (or nothing) left. */
	ctl_cpuset_andnot(&s, &m->online, &p->worker_set);
	return ctl_cpuset_first(&s);
}

static void check_map(const struct ctl_machine *m, const struct ctl_nic *nic, struct ctl_plan *p,
		      const struct ctl_cpuset *workers, int main_lcore, const char *who, bool small)
{
	struct ctl_cpuset s, t;
	/* Two workers on the hyperthreads of one core. */
	ctl_cpuset_clear(&s);
	for (unsigned int c = 0; c < CTL_MAX_CPUS; c++) {
		if (!ctl_cpuset_has(workers, c))
			continue;
		ctl_cpuset_and(&t, &m->cpu[c].siblings, workers);
		if (ctl_cpuset_count(&t) > 1)
			ctl_cpuset_or(&s, &s, &t);
	}
	if (!ctl_cpuset_empty(&s))
		finding(p, CTL_SEV_WARN, "ht_siblings_shared",
			"%s: worker CPUs %s are hyperthreads of the same physical cores: two poll loops on one "
			"core share its pipeline and caches and slow each other down; use one thread per core",
			who, L(&s));
	if (main_lcore >= 0 && !ctl_cpuset_has(workers, (unsigned int)main_lcore)) {
		ctl_cpuset_and(&t, &m->cpu[main_lcore].siblings, workers);
		if (!ctl_cpuset_empty(&t))
			finding(p, CTL_SEV_WARN, "main_shares_core",
				"%s: main lcore %d is a hyperthread of worker %s: its control work "
				"disturbs that worker's poll loop",
				who, main_lcore, L(&t));
	}
	if (nic != NULL && nic->numa_node >= 0) {
		ctl_cpuset_clear(&s);
		for (unsigned int c = 0; c < CTL_MAX_CPUS; c++)
			if (ctl_cpuset_has(workers, c) && m->cpu[c].node != nic->numa_node)
				ctl_cpuset_add(&s, c);
		if (!ctl_cpuset_empty(&s))
			finding(p, CTL_SEV_ERROR, "nic_remote_node",
				"%s: worker CPUs %s not on NUMA node %d where NIC %s is: every packet and "
				"descriptor crosses the socket interconnect",
				who, L(&s), nic->numa_node, nic->ifname[0] ? nic->ifname : nic->pci);
	}
	if (ctl_cpuset_has(workers, 0) || main_lcore == 0) {
		if (!small)
			finding(p, CTL_SEV_WARN, "core0_used",
				"%s: CPU 0 is used%s; it takes timer, boot-time IRQ and daemon load: keep it "
				"for housekeeping",
				who, ctl_cpuset_has(workers, 0) ? " by a worker" : " as main lcore");
	}
	ctl_cpuset_andnot(&s, workers, &m->online);
	if (main_lcore >= 0 && !ctl_cpuset_has(&m->online, (unsigned int)main_lcore))
		ctl_cpuset_add(&s, (unsigned int)main_lcore); /* the main lcore is in the map too */
	if (!ctl_cpuset_empty(&s))
		finding(p, CTL_SEV_ERROR, "cpu_offline", "%s: CPUs %s are not online", who, L(&s));
	if (small)
		return;
	ctl_cpuset_andnot(&s, workers, &m->isolated);
	if (!ctl_cpuset_empty(&s))
		finding(p, CTL_SEV_WARN, "not_isolated",
			"%s: worker CPUs %s not in isolcpus: the scheduler may run other tasks there, "
			"stalling the poll loop for milliseconds",
			who, L(&s));
	ctl_cpuset_andnot(&s, workers, &m->nohz_full);
	if (!ctl_cpuset_empty(&s))
		finding(p, CTL_SEV_WARN, "no_nohz_full",
			"%s: worker CPUs %s not in nohz_full: the scheduler tick interrupts them every "
			"1-4 ms", who, L(&s));
	ctl_cpuset_andnot(&s, workers, &m->rcu_nocbs);
	if (!ctl_cpuset_empty(&s))
		finding(p, CTL_SEV_WARN, "no_rcu_nocbs",
			"%s: worker CPUs %s not in rcu_nocbs: RCU callbacks run on them", who, L(&s));
}

static void build_kernel_params(const struct ctl_machine *m, struct ctl_plan *p)
{
	struct ctl_cpuset iso, nohz, rcu;
	ctl_cpuset_or(&iso, &m->isolated, &p->worker_threads);
	ctl_cpuset_or(&nohz, &m->nohz_full, &p->worker_threads);
	ctl_cpuset_or(&rcu, &m->rcu_nocbs, &p->worker_threads);
	p->kernel_params[0] = '\0';
	if (ctl_cpuset_equal(&iso, &m->isolated) && ctl_cpuset_equal(&nohz, &m->nohz_full) &&
	    ctl_cpuset_equal(&rcu, &m->rcu_nocbs))
		return; /* nothing missing: no reboot needed */
	/* managed_irq: keep kernel-managed (multiqueue) IRQs off the isolated CPUs as well. */
	snprintf(p->kernel_params, sizeof(p->kernel_params),
		 "isolcpus=managed_irq,domain,%s nohz_full=%s rcu_nocbs=%s", L(&iso), L(&nohz), L(&rcu));
}

static void machine_findings(const struct ctl_machine *m, const struct ctl_nic *nic,
			     const struct ctl_irq *irqs, unsigned int n_irqs, struct ctl_plan *p,
			     bool small)
{
	struct ctl_cpuset s, t, lc;
	unsigned int n_online = ctl_cpuset_count(&m->online);
	if (small)
		finding(p, CTL_SEV_WARN, "too_few_cpus",
			"only %u CPUs online: a poll-mode worker needs a whole core and the OS, "
			"decp-control, Redis and PostgreSQL need the rest; isolating a core here would "
			"starve them. Proposal: 1 worker, no isolation (fine for a demo). Production: at "
			"least %u physical cores on the NIC's node",
			n_online, CTL_MIN_CPUS_TO_ISOLATE);
	if (nic == NULL)
		finding(p, CTL_SEV_INFO, "nic_none",
			"no NIC chosen (--nic IF|PCI) and none found that is PCI and not carrying the "
			"default route: placement on node %d; IRQ and NIC-node checks skipped",
			p->target_node);
	else if (nic->numa_node < 0 && m->n_nodes > 1)
		finding(p, CTL_SEV_WARN, "nic_numa_unknown",
			"the platform does not report the NUMA node of NIC %s (numa_node = -1): placement "
			"on node %d is a guess; check the board manual for the slot's socket",
			nic->pci, p->target_node);
	/* Isolation configured on the wrong socket, or half a core isolated. */
	if (!ctl_cpuset_empty(&m->isolated) && !small) {
		const struct ctl_node *nd = ctl_machine_node(m, p->target_node);
		if (nd != NULL) {
			ctl_cpuset_andnot(&s, &m->isolated, &nd->cpus);
			ctl_cpuset_and(&t, &m->isolated, &nd->cpus);
			if (!ctl_cpuset_empty(&s) && nic != NULL)
				finding(p, CTL_SEV_WARN, "isolated_remote",
					"isolated CPUs %s are not on node %d with the NIC: they cannot run "
					"workers without a cross-socket penalty%s",
					L(&s), p->target_node,
					ctl_cpuset_empty(&t) ? " (no CPU of the NIC's node is isolated)" : "");
		}
		ctl_cpuset_clear(&s);
		for (unsigned int c = 0; c < CTL_MAX_CPUS; c++)
			if (ctl_cpuset_has(&m->isolated, c)) {
				ctl_cpuset_andnot(&t, &m->cpu[c].siblings, &m->isolated);
				ctl_cpuset_or(&s, &s, &t);
			}
		if (!ctl_cpuset_empty(&s))
			finding(p, CTL_SEV_WARN, "sibling_not_isolated",
				"CPUs %s are hyperthread siblings of isolated CPUs but not isolated "
				"themselves: whatever the scheduler puts there shares the physical core with "
				"a worker; isolate both threads of a worker core",
				L(&s));
	}
	/* Frequency governor of every CPU in the map. */
	ctl_cpuset_clear(&lc);
	ctl_cpuset_or(&lc, &lc, &p->worker_set);
	if (p->main_lcore >= 0)
		ctl_cpuset_add(&lc, (unsigned int)p->main_lcore);
	bool any_cpufreq = false;
	ctl_cpuset_clear(&s);
	ctl_cpuset_clear(&t);
	char gov[32] = "";
	for (unsigned int c = 0; c < CTL_MAX_CPUS; c++) {
		if (!ctl_cpuset_has(&m->online, c) || m->cpu[c].governor[0] == '\0')
			continue;
		any_cpufreq = true;
		if (ctl_cpuset_has(&lc, c) && strcmp(m->cpu[c].governor, "performance") != 0) {
			ctl_cpuset_add(&s, c);
			snprintf(gov, sizeof(gov), "%s", m->cpu[c].governor);
			if (!m->cpu[c].has_performance)
				ctl_cpuset_add(&t, c);
		}
	}
	if (!any_cpufreq)
		finding(p, CTL_SEV_INFO, "no_cpufreq",
			"no cpufreq interface (virtual machine, or frequency scaling off in firmware): "
			"no governor to set; make sure the BIOS power profile is 'performance'");
	else if (!ctl_cpuset_empty(&s))
		finding(p, CTL_SEV_WARN, "governor",
			"CPUs %s run the '%s' governor: the clock drops in idle gaps and ramps up under "
			"load, adding microseconds of jitter to ACKs; set 'performance'%s",
			L(&s), gov,
			ctl_cpuset_empty(&t) ? " (--apply does)"
					     : " (the driver offers no 'performance' here: check BIOS)");
	/* NIC interrupts. */
	if (nic != NULL && nic->dpdk_bound)
		finding(p, CTL_SEV_OK, "nic_bound",
			"NIC %s is bound to %s: its interrupts are not handled by the kernel", nic->pci,
			nic->pci_driver);
	else if (nic != NULL) {
		char names[256] = "";
		size_t nl = 0;
		unsigned int hit = 0;
		ctl_cpuset_clear(&s);
		for (unsigned int i = 0; i < n_irqs; i++) {
			if (!irqs[i].affinity_known)
				continue;
			ctl_cpuset_and(&t, &irqs[i].affinity, &p->worker_threads);
			if (ctl_cpuset_empty(&t))
				continue;
			hit++;
			ctl_cpuset_or(&s, &s, &t);
			int w = snprintf(names + nl, sizeof(names) - nl, "%s%u", nl ? "," : "", irqs[i].irq);
			if (w > 0 && (size_t)w < sizeof(names) - nl)
				nl += (size_t)w;
		}
		if (hit > 0)
			finding(p, CTL_SEV_WARN, "irq_on_workers",
				"%u of %u interrupt lines of NIC %s (IRQ %s) may fire on worker CPUs %s: each "
				"interrupt steals the poll loop for microseconds; move them to %s (--apply does)",
				hit, n_irqs, nic->ifname[0] ? nic->ifname : nic->pci, names, L(&s),
				L(&p->irq_target));
		if (nic->ifname[0] != '\0' && !small)
			finding(p, CTL_SEV_INFO, "nic_kernel_driver",
				"NIC %s (%s) is on kernel driver %s: for the DPDK stack bind it with 'decpctl "
				"nic bind %s --driver vfio-pci'%s",
				nic->ifname, nic->pci, nic->pci_driver[0] ? nic->pci_driver : "?", nic->pci,
				nic->vendor == 0x15b3 ? " (not for mlx5: bifurcated driver, keep mlx5_core)"
						      : "");
	}
	if (m->irqbalance && !small) {
		finding(p, CTL_SEV_WARN, "irqbalance",
			"irqbalance is running and will move IRQs back onto worker CPUs: set "
			"IRQBALANCE_BANNED_CPULIST=%s in /etc/default/irqbalance and restart it",
			L(&p->worker_threads));
	}
	/* Hugepages on the node the mempools come from. */
	const struct ctl_node *nd = ctl_machine_node(m, p->target_node);
	long pages = 0, free_pages = 0;
	if (nd != NULL && nd->n_hp > 0) {
		for (unsigned int i = 0; i < nd->n_hp; i++) {
			pages += nd->hp[i].nr;
			free_pages += nd->hp[i].free;
		}
	} else {
		for (unsigned int i = 0; i < m->n_hp; i++) {
			pages += m->hp[i].nr;
			free_pages += m->hp[i].free;
		}
	}
	if (pages == 0)
		finding(p, CTL_SEV_ERROR, "no_hugepages",
			"no hugepages reserved on node %d: DPDK allocates its mempools and rings from the "
			"NIC's node; reserve them (decpctl hugepages --pages 1024 --node %d, or --apply)",
			p->target_node, p->target_node);
	else if (free_pages == 0)
		finding(p, CTL_SEV_WARN, "hugepages_used",
			"all %ld hugepages on node %d are in use: a new dataplane cannot start", pages,
			p->target_node);
	if (m->n_mounts == 0)
		finding(p, CTL_SEV_WARN, "no_hugetlbfs",
			"no hugetlbfs is mounted: DPDK needs one (decpctl hugepages --mount /dev/hugepages)");
	(void)n_online;
}

/* The control plane runs on the CPUs the workers leave. With fewer than three of them the
 * edge, Redis and the roles that work in bursts (archiver, PostgreSQL) share CPUs, and the
 * ACK's round trip queues behind them unless it runs first (issue 26, docs/operations.md
 * "Sizing"). */
static void control_findings(const struct ctl_machine *m, struct ctl_plan *p)
{
	struct ctl_cpuset s;
	ctl_cpuset_andnot(&s, &m->online, &p->worker_threads);
	ctl_cpuset_andnot(&s, &s, &m->isolated);
	if (ctl_cpuset_count(&s) >= 3)
		return;
	finding(p, CTL_SEV_INFO, "control_shared",
		"decp-control, Redis and PostgreSQL share CPUs %s: keep the ACK path first: "
		"control.conf edge_sched = fifo:10 and background_sched = nice:10 (the defaults), "
		"Redis at SCHED_FIFO 10 (docs/deploy/redis-server-ackpath.conf), the archiver on "
		"another host where possible", ctl_cpuset_empty(&s) ? "(none left)" : L(&s));
}

int ctl_cores_plan(const struct ctl_machine *m, const struct ctl_nic *nic,
		   const struct ctl_irq *irqs, unsigned int n_irqs, unsigned int want_workers,
		   const struct ctl_cpuset *current_lcores, int current_main, struct ctl_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->main_lcore = -1;
	unsigned int n_online = ctl_cpuset_count(&m->online);
	if (n_online == 0)
		return -ENOSPC;
	bool small = n_online < CTL_MIN_CPUS_TO_ISOLATE;
	p->target_node = pick_target_node(m, nic);
	const struct ctl_node *nd = ctl_machine_node(m, p->target_node);
	struct ctl_cpuset node = nd != NULL ? nd->cpus : m->online;
	struct ctl_cpuset core0, none, s;
	ctl_cpuset_clear(&none);
	ctl_cpuset_clear(&core0);
	if (ctl_cpuset_has(&m->online, 0))
		core0 = m->cpu[0].siblings;

	/* Automatic count: the isolated cores of the node, else all but one of its cores. */
	unsigned int want = want_workers;
	if (want == 0) {
		unsigned int iso = 0, cores = 0;
		for (unsigned int c = 0; c < CTL_MAX_CPUS; c++) {
			if (!ctl_cpuset_has(&node, c) || core_of(m, c) != (int)c || ctl_cpuset_has(&core0, c))
				continue;
			cores++;
			iso += ctl_cpuset_has(&m->isolated, c);
		}
		want = iso > 0 ? iso : (cores > 1 ? cores - 1 : 1);
		if (small)
			want = 1;
	}
	if (want > CTL_MAX_WORKERS)
		want = CTL_MAX_WORKERS;
	take_workers(m, p, &node, &core0, want);     /* the NIC's node, not CPU 0's core */
	take_workers(m, p, &m->online, &core0, want); /* other nodes */
	take_workers(m, p, &m->online, &none, want);  /* CPU 0's core as a last resort */
	if (p->n_workers < want) {
		finding(p, CTL_SEV_WARN, "not_enough_cores",
			"asked for %u workers but the machine has only %u physical cores free for them; "
			"proposing %u (never two workers on one core)",
			want, p->n_workers, p->n_workers);
	}
	if (p->n_workers == want && want > 0 && small && n_online == 1)
		finding(p, CTL_SEV_ERROR, "single_cpu", "one CPU: main lcore and worker share it");
	/* Keep the worker list ordered (DPDK lcore order = worker index order). */
	for (unsigned int i = 1; i < p->n_workers; i++)
		for (unsigned int j = i; j > 0 && p->workers[j - 1] > p->workers[j]; j--) {
			int tmp = p->workers[j];
			p->workers[j] = p->workers[j - 1];
			p->workers[j - 1] = tmp;
		}
	p->main_lcore = pick_main(m, p, &core0, &node);
	if (p->main_lcore < 0)
		p->main_lcore = p->workers[0];

	/* Where NIC IRQs should go: housekeeping CPUs of the NIC's node, else any. */
	ctl_cpuset_andnot(&s, &node, &p->worker_threads);
	ctl_cpuset_andnot(&s, &s, &m->isolated);
	if (ctl_cpuset_empty(&s)) {
		ctl_cpuset_andnot(&s, &m->online, &p->worker_threads);
		ctl_cpuset_andnot(&s, &s, &m->isolated);
	}
	if (ctl_cpuset_empty(&s))
		ctl_cpuset_andnot(&s, &m->online, &p->worker_threads);
	p->irq_target = s;

	machine_findings(m, nic, irqs, n_irqs, p, small);
	control_findings(m, p);
	if (current_lcores != NULL && !ctl_cpuset_empty(current_lcores)) {
		struct ctl_cpuset cw = *current_lcores;
		if (current_main >= 0 && !ctl_cpuset_has(current_lcores, (unsigned int)current_main))
			finding(p, CTL_SEV_ERROR, "main_not_in_lcores",
				"current map: main_lcore %d is not in lcores %s: DPDK's EAL refuses "
				"to start (the main lcore must be one of -l)", current_main,
				L(current_lcores));
		if (current_main >= 0)
			ctl_cpuset_del(&cw, (unsigned int)current_main);
		check_map(m, nic, p, &cw, current_main, "current map", small);
	}
	check_map(m, nic, p, &p->worker_set, p->main_lcore, "proposed map", small);
	if (!small)
		build_kernel_params(m, p);
	return 0;
}

int ctl_plan_grub_line(const struct ctl_plan *p, char *out, size_t cap)
{
	static char grub[65536];
	char cur[4096] = "";
	int found = 0;
	if (ctl_read("/etc/default/grub", grub, sizeof(grub)) >= 0) {
		for (char *l = grub; l != NULL && *l != '\0';) {
			char *e = strchr(l, '\n');
			if (e != NULL)
				*e = '\0';
			const char *k = "GRUB_CMDLINE_LINUX=";
			if (strncmp(l, k, strlen(k)) == 0) {
				const char *v = l + strlen(k);
				size_t vl = strlen(v);
				if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
					v++;
					vl -= 2;
				}
				if (vl >= sizeof(cur))
					vl = sizeof(cur) - 1;
				memcpy(cur, v, vl);
				cur[vl] = '\0';
				found = 1;
			}
			l = e != NULL ? e + 1 : NULL;
		}
	}
	/* Drop the old isolation parameters; keep everything else in order. */
	char kept[4096] = "";
	size_t kl = 0;
	char *save = NULL;
	for (char *t = strtok_r(cur, " \t", &save); t != NULL; t = strtok_r(NULL, " \t", &save)) {
		if (strncmp(t, "isolcpus=", 9) == 0 || strncmp(t, "nohz_full=", 10) == 0 ||
		    strncmp(t, "rcu_nocbs=", 10) == 0)
			continue;
		int w = snprintf(kept + kl, sizeof(kept) - kl, "%s%s", kl ? " " : "", t);
		if (w < 0 || (size_t)w >= sizeof(kept) - kl)
			return -ENOSPC;
		kl += (size_t)w;
	}
	int w = snprintf(out, cap, "GRUB_CMDLINE_LINUX=\"%s%s%s\"", kept, kl ? " " : "",
			 p->kernel_params);
	if (w < 0 || (size_t)w >= cap)
		return -ENOSPC;
	return found;
}
