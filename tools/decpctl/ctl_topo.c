/* ctl_topo: machine model from /proc and /sys. Contract in ctl_topo.h. */
#include "ctl_topo.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ctl_cmdline_param(const char *cmdline, const char *key)
{
	static char val[1024];
	const char *found = NULL;
	size_t klen = strlen(key);
	size_t flen = 0;
	const char *p = cmdline;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		const char *tok = p;
		while (*p != '\0' && *p != ' ')
			p++;
		size_t tlen = (size_t)(p - tok);
		/* Everything after a bare "--" goes to init, not to the kernel. */
		if (tlen == 2 && tok[0] == '-' && tok[1] == '-')
			break;
		if (tlen > klen && strncmp(tok, key, klen) == 0 && tok[klen] == '=') {
			found = tok + klen + 1;
			flen = tlen - klen - 1;
		}
	}
	if (found == NULL)
		return NULL;
	if (flen >= sizeof(val))
		flen = sizeof(val) - 1;
	memcpy(val, found, flen);
	val[flen] = '\0';
	return val;
}

/* isolcpus=[flag,...,]cpulist with flags nohz, domain, managed_irq (kernel-parameters.txt). */
static void parse_isolcpus(struct ctl_machine *m, const char *v)
{
	char list[1024] = "";
	size_t ll = 0, fl = 0;
	const char *p = v;
	while (*p != '\0') {
		const char *t = p;
		while (*p != '\0' && *p != ',')
			p++;
		size_t n = (size_t)(p - t);
		char *dst = isdigit((unsigned char)t[0]) ? list : m->isolcpus_flags;
		size_t *len = dst == list ? &ll : &fl;
		size_t cap = dst == list ? sizeof(list) : sizeof(m->isolcpus_flags);
		if (*len + n + 2 < cap) {
			if (*len > 0)
				dst[(*len)++] = ',';
			memcpy(dst + *len, t, n);
			*len += n;
			dst[*len] = '\0';
		}
		if (*p == ',')
			p++;
	}
	struct ctl_cpuset s;
	if (ctl_cpuset_parse(&s, list) == 0)
		ctl_cpuset_or(&m->isolated, &m->isolated, &s);
}

static void load_cmdline(struct ctl_machine *m)
{
	if (ctl_read("/proc/cmdline", m->cmdline, sizeof(m->cmdline)) < 0)
		m->cmdline[0] = '\0';
	const char *v = ctl_cmdline_param(m->cmdline, "isolcpus");
	if (v != NULL) {
		m->has_isolcpus = true;
		parse_isolcpus(m, v);
	}
	char buf[1024];
	struct ctl_cpuset s;
	/* The kernel's own view, in case isolation came from elsewhere (cpusets/CPU hotplug). */
	if (ctl_read("/sys/devices/system/cpu/isolated", buf, sizeof(buf)) > 0 &&
	    ctl_cpuset_parse(&s, buf) == 0) {
		m->has_isolcpus = true;
		ctl_cpuset_or(&m->isolated, &m->isolated, &s);
	}
	v = ctl_cmdline_param(m->cmdline, "nohz_full");
	if (v != NULL && ctl_cpuset_parse(&s, v) == 0) {
		m->has_nohz_full = true;
		ctl_cpuset_or(&m->nohz_full, &m->nohz_full, &s);
	}
	if (ctl_read("/sys/devices/system/cpu/nohz_full", buf, sizeof(buf)) > 0 &&
	    ctl_cpuset_parse(&s, buf) == 0 && !ctl_cpuset_empty(&s)) {
		m->has_nohz_full = true;
		ctl_cpuset_or(&m->nohz_full, &m->nohz_full, &s);
	}
	v = ctl_cmdline_param(m->cmdline, "rcu_nocbs");
	if (v != NULL && ctl_cpuset_parse(&s, v) == 0) {
		m->has_rcu_nocbs = true;
		ctl_cpuset_or(&m->rcu_nocbs, &m->rcu_nocbs, &s);
	}
}

/* Hugepage pools below dir ("/sys/kernel/mm/hugepages" or a node's "hugepages"). */
static unsigned int load_pools(const char *dir, struct ctl_hp_pool *hp, unsigned int max)
{
	char p[CTL_PATH_MAX];
	unsigned int n = 0;
	if (ctl_path(p, sizeof(p), dir) != 0)
		return 0;
	DIR *d = opendir(p);
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < max) {
		unsigned long kb;
		char tail[8];
		if (sscanf(e->d_name, "hugepages-%lu%7s", &kb, tail) != 2 || strcmp(tail, "kB") != 0)
			continue;
		struct ctl_hp_pool *h = &hp[n];
		char rel[CTL_PATH_MAX];
		h->size_kb = kb;
		h->nr = h->free = h->surplus = 0;
		if (ctl_fmt(rel, sizeof(rel), "%s/%s/nr_hugepages", dir, e->d_name) == 0)
			(void)ctl_read_long(rel, &h->nr);
		if (ctl_fmt(rel, sizeof(rel), "%s/%s/free_hugepages", dir, e->d_name) == 0)
			(void)ctl_read_long(rel, &h->free);
		if (ctl_fmt(rel, sizeof(rel), "%s/%s/surplus_hugepages", dir, e->d_name) == 0)
			(void)ctl_read_long(rel, &h->surplus);
		n++;
	}
	closedir(d);
	/* Smallest size first: stable output. */
	for (unsigned int i = 1; i < n; i++)
		for (unsigned int j = i; j > 0 && hp[j - 1].size_kb > hp[j].size_kb; j--) {
			struct ctl_hp_pool t = hp[j];
			hp[j] = hp[j - 1];
			hp[j - 1] = t;
		}
	return n;
}

static unsigned long parse_size_kb(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	switch (*end) {
	case 'k': case 'K': return v;
	case 'm': case 'M': return v * 1024ul;
	case 'g': case 'G': return v * 1024ul * 1024ul;
	default: return v / 1024ul; /* bytes */
	}
}

static void load_mounts(struct ctl_machine *m)
{
	static char buf[1 << 20]; /* containers can have thousands of mounts */
	if (ctl_read("/proc/mounts", buf, sizeof(buf)) < 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char src[256], dir[256], type[64], opts[512];
		if (sscanf(line, "%255s %255s %63s %511s", src, dir, type, opts) != 4 ||
		    strcmp(type, "hugetlbfs") != 0 || m->n_mounts >= CTL_MAX_MOUNTS)
			continue;
		struct ctl_mount *mt = &m->mounts[m->n_mounts++];
		snprintf(mt->dir, sizeof(mt->dir), "%s", dir);
		mt->pagesize_kb = m->default_hp_kb;
		const char *ps = strstr(opts, "pagesize=");
		if (ps != NULL)
			mt->pagesize_kb = parse_size_kb(ps + 9);
	}
}

static void load_irqbalance(struct ctl_machine *m)
{
	char p[CTL_PATH_MAX];
	if (ctl_path(p, sizeof(p), "/proc") != 0)
		return;
	DIR *d = opendir(p);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		char rel[300], comm[64];
		if (ctl_fmt(rel, sizeof(rel), "/proc/%s/comm", e->d_name) == 0 &&
		    ctl_read(rel, comm, sizeof(comm)) > 0 && strcmp(comm, "irqbalance") == 0) {
			m->irqbalance = true;
			break;
		}
	}
	closedir(d);
}

static void load_cpu(struct ctl_machine *m, unsigned int c)
{
	struct ctl_cpu *cpu = &m->cpu[c];
	char rel[256], buf[512];
	long v;
	cpu->core_id = -1;
	cpu->package = -1;
	if (ctl_fmt(rel, sizeof(rel), "/sys/devices/system/cpu/cpu%u/topology/core_id", c) == 0 &&
	    ctl_read_long(rel, &v) == 0)
		cpu->core_id = (int)v;
	if (ctl_fmt(rel, sizeof(rel), "/sys/devices/system/cpu/cpu%u/topology/physical_package_id",
		    c) == 0 &&
	    ctl_read_long(rel, &v) == 0)
		cpu->package = (int)v;
	ctl_cpuset_clear(&cpu->siblings);
	if (ctl_fmt(rel, sizeof(rel), "/sys/devices/system/cpu/cpu%u/topology/thread_siblings_list",
		    c) != 0 ||
	    ctl_read(rel, buf, sizeof(buf)) < 0 || ctl_cpuset_parse(&cpu->siblings, buf) != 0)
		ctl_cpuset_clear(&cpu->siblings);
	ctl_cpuset_add(&cpu->siblings, c);
	cpu->governor[0] = '\0';
	cpu->has_performance = true;
	if (ctl_fmt(rel, sizeof(rel), "/sys/devices/system/cpu/cpu%u/cpufreq/scaling_governor",
		    c) == 0 &&
	    ctl_read(rel, cpu->governor, sizeof(cpu->governor)) < 0)
		cpu->governor[0] = '\0';
	if (ctl_fmt(rel, sizeof(rel),
		    "/sys/devices/system/cpu/cpu%u/cpufreq/scaling_available_governors", c) == 0 &&
	    ctl_read(rel, buf, sizeof(buf)) >= 0)
		cpu->has_performance = strstr(buf, "performance") != NULL;
}

int ctl_machine_load(struct ctl_machine *m)
{
	char buf[4096];
	memset(m, 0, sizeof(*m));
	m->cpu = calloc(CTL_MAX_CPUS, sizeof(*m->cpu));
	if (m->cpu == NULL)
		return -ENOMEM;
	if (ctl_read("/sys/devices/system/cpu/online", buf, sizeof(buf)) < 0 ||
	    ctl_cpuset_parse(&m->online, buf) != 0 || ctl_cpuset_empty(&m->online)) {
		ctl_machine_free(m);
		return -ENOENT;
	}
	for (unsigned int c = 0; c < CTL_MAX_CPUS; c++)
		if (ctl_cpuset_has(&m->online, c))
			load_cpu(m, c);

	struct ctl_cpuset nodes;
	if (ctl_read("/sys/devices/system/node/online", buf, sizeof(buf)) < 0 ||
	    ctl_cpuset_parse(&nodes, buf) != 0 || ctl_cpuset_empty(&nodes)) {
		ctl_cpuset_clear(&nodes);
		ctl_cpuset_add(&nodes, 0); /* kernel without NUMA: one node holds everything */
	}
	for (unsigned int k = 0; k < CTL_MAX_CPUS && m->n_nodes < CTL_MAX_NODES; k++) {
		if (!ctl_cpuset_has(&nodes, k))
			continue;
		struct ctl_node *nd = &m->node[m->n_nodes++];
		char rel[256];
		nd->id = (int)k;
		if (ctl_fmt(rel, sizeof(rel), "/sys/devices/system/node/node%u/cpulist", k) != 0 ||
		    ctl_read(rel, buf, sizeof(buf)) < 0 || ctl_cpuset_parse(&nd->cpus, buf) != 0)
			nd->cpus = m->n_nodes == 1 ? m->online : nd->cpus;
		ctl_cpuset_and(&nd->cpus, &nd->cpus, &m->online);
		if (ctl_fmt(rel, sizeof(rel), "/sys/devices/system/node/node%u/hugepages", k) == 0)
			nd->n_hp = load_pools(rel, nd->hp, CTL_MAX_HP_SIZES);
		for (unsigned int c = 0; c < CTL_MAX_CPUS; c++)
			if (ctl_cpuset_has(&nd->cpus, c))
				m->cpu[c].node = (int)k;
	}
	m->n_hp = load_pools("/sys/kernel/mm/hugepages", m->hp, CTL_MAX_HP_SIZES);
	m->default_hp_kb = 2048;
	static char meminfo[16384];
	if (ctl_read("/proc/meminfo", meminfo, sizeof(meminfo)) > 0) {
		const char *h = strstr(meminfo, "Hugepagesize:");
		if (h != NULL)
			m->default_hp_kb = strtoul(h + 13, NULL, 10);
	}
	load_mounts(m);
	load_cmdline(m);
	load_irqbalance(m);
	return 0;
}

void ctl_machine_free(struct ctl_machine *m)
{
	free(m->cpu);
	m->cpu = NULL;
}

const struct ctl_node *ctl_machine_node(const struct ctl_machine *m, int id)
{
	for (unsigned int i = 0; i < m->n_nodes; i++)
		if (m->node[i].id == id)
			return &m->node[i];
	return NULL;
}

const struct ctl_hp_pool *ctl_machine_pool(const struct ctl_machine *m, int node,
					   unsigned long size_kb)
{
	const struct ctl_hp_pool *hp = m->hp;
	unsigned int n = m->n_hp;
	if (node >= 0) {
		const struct ctl_node *nd = ctl_machine_node(m, node);
		if (nd == NULL)
			return NULL;
		hp = nd->hp;
		n = nd->n_hp;
	}
	for (unsigned int i = 0; i < n; i++)
		if (hp[i].size_kb == size_kb)
			return &hp[i];
	return NULL;
}
