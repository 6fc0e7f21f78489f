/*
 * ctl_cores: dataplane placement. Looks at the machine (ctl_topo) and the NIC (ctl_nic),
 * lists what is wrong for a poll-mode dataplane, proposes an lcore map, and (on request)
 * applies the run-time settings. The `decpctl cores` command (ctl_cmd_cores) is the
 * front end; the planner is separate so tests call it on fixture roots.
 *
 * Placement rules (SPEC.md §2: worker lcores busy-poll; share-nothing per lcore):
 *  - target node = the NIC's NUMA node (else the node with the most isolated CPUs, else the
 *    first): DMA and the RX rings live there, a remote worker pays a QPI/UPI hop per packet;
 *  - workers: one hardware thread per physical core (an HT sibling shares the pipeline and L1
 *    with its twin, so two pollers on one core halve each other), isolated cores first,
 *    never the physical core of CPU 0 when avoidable (the kernel's timekeeping, boot-time
 *    IRQs and many daemons land there);
 *  - main lcore: a housekeeping (not isolated) CPU on the target node, not a worker core,
 *    not CPU 0's core when avoidable; it runs the control ring and stats, not the hot path.
 */
#ifndef DECPCTL_CTL_CORES_H
#define DECPCTL_CTL_CORES_H

#include <stdbool.h>

#include "ctl_nic.h"
#include "ctl_topo.h"

#define CTL_MAX_WORKERS 16u  /* DP_SHM_MAX_WORKERS */
#define CTL_MAX_FINDINGS 48u

enum ctl_sev { CTL_SEV_OK = 0, CTL_SEV_INFO = 1, CTL_SEV_WARN = 2, CTL_SEV_ERROR = 3 };

struct ctl_finding {
	enum ctl_sev sev;
	char code[32];    /* stable identifier for scripts and tests: "not_isolated", ... */
	char text[480];   /* one or two sentences: what, why it matters, what to do */
};

struct ctl_plan {
	int target_node;
	int main_lcore;
	unsigned int n_workers;
	int workers[CTL_MAX_WORKERS];
	struct ctl_cpuset worker_set;     /* the worker CPUs */
	struct ctl_cpuset worker_threads; /* the workers and their HT siblings */
	struct ctl_cpuset irq_target;     /* where NIC IRQs should go instead */
	unsigned int n_findings;
	struct ctl_finding findings[CTL_MAX_FINDINGS];
	char kernel_params[512];          /* isolcpus=... nohz_full=... rcu_nocbs=... or "" */
};

/*
 * Build the plan. nic may be NULL (none chosen). want_workers 0 = automatic (every isolated
 * physical core on the target node, else all but one of its cores, at least 1).
 * current_lcores / current_main: the map already in the config (NULL / -1 when none); it
 * gets its own findings ("current map: ..."). Returns 0 or -ENOSPC (no CPU at all).
 */
int ctl_cores_plan(const struct ctl_machine *m, const struct ctl_nic *nic,
		   const struct ctl_irq *irqs, unsigned int n_irqs, unsigned int want_workers,
		   const struct ctl_cpuset *current_lcores, int current_main, struct ctl_plan *p);

/* Count of findings at or above sev. */
unsigned int ctl_plan_count(const struct ctl_plan *p, enum ctl_sev sev);
/* The finding with this code, or NULL. */
const struct ctl_finding *ctl_plan_find(const struct ctl_plan *p, const char *code);

/* "lcores" value: main + workers as a CPU list ("8,10-13"). */
int ctl_plan_lcores(const struct ctl_plan *p, char *out, size_t cap);

/*
 * The complete GRUB_CMDLINE_LINUX line from <root>/etc/default/grub with isolation params
 * replaced by p->kernel_params, into out. Returns 1 when /etc/default/grub was found, 0 when
 * not (out then holds only the parameters), -ENOSPC.
 */
int ctl_plan_grub_line(const struct ctl_plan *p, char *out, size_t cap);

#endif
