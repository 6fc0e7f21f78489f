/*
 * ctl_topo: the machine as the dataplane placement sees it, read through ctl_sysfs (so from
 * a fixture root in tests): CPUs (package, core, hyperthread siblings, NUMA node, frequency
 * governor), NUMA nodes, the kernel command line's isolation parameters, hugepage pools
 * per size and per node, hugetlbfs mounts, and whether irqbalance runs.
 *
 * Sources (Documentation/ABI/stable/sysfs-devices-system-cpu, sysfs-devices-node,
 * admin-guide/kernel-parameters.txt, admin-guide/mm/hugetlbpage.rst):
 *   /sys/devices/system/cpu/online, cpuN/topology/{core_id,physical_package_id,
 *   thread_siblings_list}, cpuN/cpufreq/scaling_governor[, scaling_available_governors],
 *   /sys/devices/system/node/online, nodeK/cpulist, nodeK/hugepages/hugepages-SkB/,
 *   /sys/kernel/mm/hugepages/hugepages-SkB/, /proc/cmdline, /proc/mounts, /proc/PID/comm.
 */
#ifndef DECPCTL_CTL_TOPO_H
#define DECPCTL_CTL_TOPO_H

#include <stdbool.h>

#include "ctl_sysfs.h"

#define CTL_MAX_NODES 64u
#define CTL_MAX_HP_SIZES 4u
#define CTL_MAX_MOUNTS 16u

struct ctl_cpu {
	int core_id;            /* -1 when unknown */
	int package;            /* physical_package_id, -1 when unknown */
	int node;               /* NUMA node, 0 when the kernel has no node directory */
	struct ctl_cpuset siblings; /* thread_siblings_list (includes the CPU itself) */
	char governor[32];      /* "" when there is no cpufreq for this CPU (VMs) */
	bool has_performance;   /* "performance" is in scaling_available_governors (or unknown) */
};

struct ctl_hp_pool {
	unsigned long size_kb;
	long nr;                /* nr_hugepages */
	long free;              /* free_hugepages */
	long surplus;
};

struct ctl_node {
	int id;
	struct ctl_cpuset cpus;
	unsigned int n_hp;
	struct ctl_hp_pool hp[CTL_MAX_HP_SIZES];
};

struct ctl_mount {
	char dir[256];
	unsigned long pagesize_kb; /* from the pagesize= option, else the default size */
};

struct ctl_machine {
	struct ctl_cpuset online;
	struct ctl_cpu *cpu;        /* [CTL_MAX_CPUS], indexed by CPU number */
	unsigned int n_nodes;
	struct ctl_node node[CTL_MAX_NODES];
	unsigned int n_hp;          /* system-wide pools */
	struct ctl_hp_pool hp[CTL_MAX_HP_SIZES];
	unsigned long default_hp_kb; /* Hugepagesize from /proc/meminfo, 2048 when unknown */
	unsigned int n_mounts;
	struct ctl_mount mounts[CTL_MAX_MOUNTS];
	char cmdline[4096];
	bool has_isolcpus, has_nohz_full, has_rcu_nocbs;
	struct ctl_cpuset isolated; /* isolcpus= (plus /sys/devices/system/cpu/isolated) */
	char isolcpus_flags[64];    /* "domain,managed_irq" part of isolcpus=, "" if none */
	struct ctl_cpuset nohz_full;
	struct ctl_cpuset rcu_nocbs;
	bool irqbalance;            /* an irqbalance process is running */
};

/*
 * Load everything below the current root. Returns 0, -ENOMEM, or -ENOENT when not even the
 * CPU list can be read (the root is not a Linux /proc+/sys tree). Missing optional files
 * (cpufreq, node directories, hugepages) are normal and leave the fields empty.
 * Free with ctl_machine_free().
 */
int ctl_machine_load(struct ctl_machine *m);
void ctl_machine_free(struct ctl_machine *m);

/* Node of the given id, or NULL. */
const struct ctl_node *ctl_machine_node(const struct ctl_machine *m, int id);
/* Pool of size_kb on node (node < 0: system-wide), or NULL. */
const struct ctl_hp_pool *ctl_machine_pool(const struct ctl_machine *m, int node,
					   unsigned long size_kb);

/* Value of a kernel parameter in a command line ("isolcpus" -> "2-7"), or NULL. The last
 * occurrence wins, as in the kernel. Returns a pointer to a static buffer. */
const char *ctl_cmdline_param(const char *cmdline, const char *key);

#endif
