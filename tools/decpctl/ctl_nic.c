/* ctl_nic: interfaces, PCI functions, default routes, NIC IRQs. Contract in ctl_nic.h. */
#include "ctl_nic.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_pci_addr(const char *s)
{
	unsigned int d, b, dev, f;
	char tail;
	return strlen(s) == 12 && sscanf(s, "%4x:%2x:%2x.%1x%c", &d, &b, &dev, &f, &tail) == 4;
}

bool ctl_driver_is_dpdk(const char *driver)
{
	return strcmp(driver, "vfio-pci") == 0 || strcmp(driver, "uio_pci_generic") == 0 ||
	       strcmp(driver, "igb_uio") == 0;
}

static unsigned int read_hex(const char *rel)
{
	char buf[32];
	if (ctl_read(rel, buf, sizeof(buf)) <= 0)
		return 0;
	return (unsigned int)strtoul(buf, NULL, 16);
}

/* Fill the PCI-side fields of n from /sys/bus/pci/devices/n->pci. */
static void load_pci(struct ctl_nic *n)
{
	char rel[256];
	long v;
	if (ctl_fmt(rel, sizeof(rel), "/sys/bus/pci/devices/%s/driver", n->pci) != 0 ||
	    ctl_link_base(rel, n->pci_driver, sizeof(n->pci_driver)) != 0)
		n->pci_driver[0] = '\0';
	if (ctl_fmt(rel, sizeof(rel), "/sys/bus/pci/devices/%s/vendor", n->pci) == 0)
		n->vendor = read_hex(rel);
	if (ctl_fmt(rel, sizeof(rel), "/sys/bus/pci/devices/%s/device", n->pci) == 0)
		n->device = read_hex(rel);
	n->numa_node = -1;
	if (ctl_fmt(rel, sizeof(rel), "/sys/bus/pci/devices/%s/numa_node", n->pci) == 0 &&
	    ctl_read_long(rel, &v) == 0)
		n->numa_node = (int)v;
	n->dpdk_bound = ctl_driver_is_dpdk(n->pci_driver);
}

/* PCI address of an interface: its `device` link resolves to the PCI function itself, or
 * (virtio) to a virtioN child of it. Returns 0 or -ENODEV (virtual interface). */
static int if_pci(const char *ifname, char *pci, size_t cap)
{
	char rel[256], p[CTL_PATH_MAX], real[PATH_MAX];
	if (ctl_fmt(rel, sizeof(rel), "/sys/class/net/%s/device", ifname) != 0 ||
	    ctl_path(p, sizeof(p), rel) != 0 || realpath(p, real) == NULL)
		return -ENODEV;
	for (int up = 0; up < 2; up++) {
		char *slash = strrchr(real, '/');
		if (slash == NULL)
			break;
		if (is_pci_addr(slash + 1)) {
			snprintf(pci, cap, "%s", slash + 1);
			return 0;
		}
		*slash = '\0';
	}
	return -ENODEV;
}

/*
 * Does a device stacked on ifname carry the default route? A bond, bridge, team, VLAN or
 * macvlan over a port links the two both ways in sysfs (upper_<name> in the port's
 * directory, lower_<name> in the upper's), so the upper_ links are followed, at any depth
 * (a VLAN on a bond on two ports). Binding such a port takes the management network, SSH
 * included, with it although the route names only the upper device. Sets via to the upper
 * device that routes 0/0.
 */
static bool upper_routes(const char *ifname, const char *defroutes, char *via, size_t cap, int depth)
{
	char rel[256], p[CTL_PATH_MAX];
	bool found = false;
	if (depth > 8 || ctl_fmt(rel, sizeof(rel), "/sys/class/net/%s", ifname) != 0 ||
	    ctl_path(p, sizeof(p), rel) != 0)
		return false;
	DIR *d = opendir(p);
	if (d == NULL)
		return false;
	struct dirent *e;
	while (!found && (e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "upper_", 6) != 0 || strlen(e->d_name + 6) >= 32)
			continue;
		const char *up = e->d_name + 6;
		char key[40];
		snprintf(key, sizeof(key), ",%s,", up);
		if (strstr(defroutes, key) != NULL) {
			snprintf(via, cap, "%s", up);
			found = true;
		} else {
			found = upper_routes(up, defroutes, via, cap, depth + 1);
		}
	}
	closedir(d);
	return found;
}

static void load_if(struct ctl_nic *n, const char *ifname, const char *defroutes)
{
	char rel[256];
	long v;
	memset(n, 0, sizeof(*n));
	snprintf(n->ifname, sizeof(n->ifname), "%s", ifname);
	n->numa_node = -1;
	n->carrier = -1;
	n->speed_mbps = -1;
	if (ctl_fmt(rel, sizeof(rel), "/sys/class/net/%s/device/driver", ifname) != 0 ||
	    ctl_link_base(rel, n->driver, sizeof(n->driver)) != 0)
		n->driver[0] = '\0';
	if (ctl_fmt(rel, sizeof(rel), "/sys/class/net/%s/operstate", ifname) != 0 ||
	    ctl_read(rel, n->operstate, sizeof(n->operstate)) < 0)
		n->operstate[0] = '\0';
	if (ctl_fmt(rel, sizeof(rel), "/sys/class/net/%s/carrier", ifname) == 0 &&
	    ctl_read_long(rel, &v) == 0)
		n->carrier = (int)v;
	if (ctl_fmt(rel, sizeof(rel), "/sys/class/net/%s/speed", ifname) == 0 &&
	    ctl_read_long(rel, &v) == 0 && v > 0)
		n->speed_mbps = v;
	if (ctl_fmt(rel, sizeof(rel), "/sys/class/net/%s/address", ifname) != 0 ||
	    ctl_read(rel, n->mac, sizeof(n->mac)) < 0)
		n->mac[0] = '\0';
	if (if_pci(ifname, n->pci, sizeof(n->pci)) == 0)
		load_pci(n);
	/* defroutes is ",a,b," so a whole-name match needs the commas. */
	char key[40];
	snprintf(key, sizeof(key), ",%s,", ifname);
	n->default_route = strstr(defroutes, key) != NULL;
	if (!n->default_route)
		n->default_route = upper_routes(ifname, defroutes, n->route_via, sizeof(n->route_via), 0);
}

static void add_name(char *out, size_t cap, size_t *len, int *count, const char *ifn)
{
	char key[40];
	snprintf(key, sizeof(key), "%s,", ifn);
	/* whole-name match: out is "a,b," while being built */
	char probe[44];
	snprintf(probe, sizeof(probe), ",%s", key);
	char tmp[1100];
	snprintf(tmp, sizeof(tmp), ",%s", out);
	if (strstr(tmp, probe) != NULL)
		return;
	int n = snprintf(out + *len, cap - *len, "%s", key);
	if (n > 0 && (size_t)n < cap - *len) {
		*len += (size_t)n;
		(*count)++;
	}
}

int ctl_default_route_ifaces(char *out, size_t cap)
{
	char p[CTL_PATH_MAX], l[512];
	int count = 0, readable = 0;
	size_t len = 0;
	out[0] = '\0';
	/* Line by line: a router's table can be far larger than any buffer, and a default route
	 * missed here would let `nic bind` take the management NIC. */
	/* IPv4: Destination and Mask 0, RTF_UP (net/route.h); the table is in host order hex. */
	FILE *f = ctl_path(p, sizeof(p), "/proc/net/route") == 0 ? fopen(p, "re") : NULL;
	if (f != NULL) {
		readable++;
		while (fgets(l, sizeof(l), f) != NULL) {
			char ifn[32];
			unsigned long dst, gw, flags, mask;
			int refcnt, use, metric;
			if (sscanf(l, "%31s %lx %lx %lx %d %d %d %lx", ifn, &dst, &gw, &flags, &refcnt,
				   &use, &metric, &mask) == 8 &&
			    dst == 0 && mask == 0 && (flags & 1u) != 0)
				add_name(out, cap, &len, &count, ifn);
		}
		fclose(f);
	}
	/* IPv6: ::/0 through a real interface (the kernel keeps reject entries on lo). */
	f = ctl_path(p, sizeof(p), "/proc/net/ipv6_route") == 0 ? fopen(p, "re") : NULL;
	if (f != NULL) {
		readable++;
		while (fgets(l, sizeof(l), f) != NULL) {
			char dst[40], dlen[4], src[40], slen[4], nh[40], ifn[32];
			unsigned long metric, refcnt, use, flags;
			if (sscanf(l, "%39s %3s %39s %3s %39s %lx %lx %lx %lx %31s", dst, dlen, src, slen, nh,
				   &metric, &refcnt, &use, &flags, ifn) != 10)
				continue;
			if (strspn(dst, "0") == 32 && strcmp(dlen, "00") == 0 && strcmp(ifn, "lo") != 0 &&
			    (flags & 0x200u) == 0 && (flags & 1u) != 0)
				add_name(out, cap, &len, &count, ifn);
		}
		fclose(f);
	}
	if (len > 0)
		out[len - 1] = '\0';
	return readable > 0 ? count : -ENOENT;
}

static int nic_cmp(const void *a, const void *b)
{
	const struct ctl_nic *x = a, *y = b;
	if (x->ifname[0] != '\0' && y->ifname[0] != '\0')
		return strcmp(x->ifname, y->ifname);
	if (x->ifname[0] != y->ifname[0])
		return x->ifname[0] == '\0' ? 1 : -1;
	return strcmp(x->pci, y->pci);
}

static void defroute_keys(char *keys, size_t cap)
{
	char list[1024];
	ctl_default_route_ifaces(list, sizeof(list));
	snprintf(keys, cap, ",%s,", list);
}

int ctl_nic_list(struct ctl_nic *out, unsigned int max)
{
	char p[CTL_PATH_MAX], keys[1100];
	unsigned int n = 0;
	defroute_keys(keys, sizeof(keys));
	if (ctl_path(p, sizeof(p), "/sys/class/net") != 0)
		return -ENAMETOOLONG;
	DIR *d = opendir(p);
	if (d == NULL)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < max) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "lo") == 0 ||
		    strlen(e->d_name) >= sizeof(out->ifname))
			continue;
		load_if(&out[n++], e->d_name, keys);
	}
	closedir(d);
	unsigned int n_if = n;
	/* PCI network functions without a netdev: DPDK-bound or driverless. */
	if (ctl_path(p, sizeof(p), "/sys/bus/pci/devices") == 0 && (d = opendir(p)) != NULL) {
		while ((e = readdir(d)) != NULL && n < max) {
			if (!is_pci_addr(e->d_name) || strlen(e->d_name) >= sizeof(out->pci))
				continue;
			char rel[256];
			if (ctl_fmt(rel, sizeof(rel), "/sys/bus/pci/devices/%s/class", e->d_name) != 0 ||
			    (read_hex(rel) >> 16) != 0x02)
				continue;
			bool seen = false;
			for (unsigned int i = 0; i < n_if && !seen; i++)
				seen = strcmp(out[i].pci, e->d_name) == 0;
			if (seen)
				continue;
			struct ctl_nic *nn = &out[n++];
			memset(nn, 0, sizeof(*nn));
			nn->carrier = -1;
			nn->speed_mbps = -1;
			memcpy(nn->pci, e->d_name, strlen(e->d_name) + 1);
			load_pci(nn);
		}
		closedir(d);
	}
	/* A PCI function carries the default route when any of its netdevs does. */
	for (unsigned int i = 0; i < n; i++)
		for (unsigned int j = 0; j < n; j++)
			if (out[j].default_route && !out[i].default_route && out[i].pci[0] != '\0' &&
			    strcmp(out[i].pci, out[j].pci) == 0) {
				out[i].default_route = true;
				snprintf(out[i].route_via, sizeof(out[i].route_via), "%s",
					 out[j].route_via[0] != '\0' ? out[j].route_via : out[j].ifname);
			}
	qsort(out, n, sizeof(*out), nic_cmp);
	return (int)n;
}

int ctl_nic_find(const char *name_or_pci, struct ctl_nic *out)
{
	static struct ctl_nic all[CTL_MAX_NICS];
	char want[16] = "";
	if (strlen(name_or_pci) == 7 && name_or_pci[2] == ':')
		snprintf(want, sizeof(want), "0000:%s", name_or_pci); /* short "81:00.0" */
	else
		snprintf(want, sizeof(want), "%s", name_or_pci);
	int n = ctl_nic_list(all, CTL_MAX_NICS);
	for (int i = 0; i < n; i++)
		if (strcmp(all[i].ifname, name_or_pci) == 0 ||
		    (all[i].pci[0] != '\0' && strcasecmp(all[i].pci, want) == 0)) {
			*out = all[i];
			return 0;
		}
	return -ENODEV;
}

static bool name_matches_if(const char *name, const char *ifname)
{
	size_t l = strlen(ifname);
	/* "ens1f0", "ens1f0-TxRx-3", "ens1f0@pci..." but not "ens1f01". */
	return l > 0 && strncmp(name, ifname, l) == 0 &&
	       (name[l] == '\0' || name[l] == '-' || name[l] == '@' || name[l] == ':');
}

int ctl_nic_irqs(const struct ctl_nic *nic, struct ctl_irq *out, unsigned int max)
{
	static char buf[1 << 20];
	struct ctl_cpuset msi;
	char p[CTL_PATH_MAX];
	unsigned int n = 0;
	ctl_cpuset_clear(&msi); /* used as a bitmap of IRQ numbers < CTL_MAX_CPUS */
	if (nic->pci[0] != '\0') {
		char rel[256];
		if (ctl_fmt(rel, sizeof(rel), "/sys/bus/pci/devices/%s/msi_irqs", nic->pci) == 0 &&
		    ctl_path(p, sizeof(p), rel) == 0) {
			DIR *d = opendir(p);
			if (d != NULL) {
				struct dirent *e;
				while ((e = readdir(d)) != NULL)
					if (isdigit((unsigned char)e->d_name[0]))
						ctl_cpuset_add(&msi, (unsigned int)atoi(e->d_name));
				closedir(d);
			}
		}
	}
	if (ctl_read("/proc/interrupts", buf, sizeof(buf)) <= 0)
		return 0;
	char *save = NULL;
	char *l = strtok_r(buf, "\n", &save);
	unsigned int ncpu = 0;
	for (char *t = l; t != NULL && (t = strstr(t, "CPU")) != NULL; t += 3)
		ncpu++;
	for (l = strtok_r(NULL, "\n", &save); l != NULL && n < max; l = strtok_r(NULL, "\n", &save)) {
		char *q = l;
		while (*q == ' ')
			q++;
		if (!isdigit((unsigned char)*q))
			continue;
		char *end;
		unsigned long irq = strtoul(q, &end, 10);
		if (*end != ':')
			continue;
		q = end + 1;
		unsigned long long sum = 0;
		for (unsigned int c = 0; c < ncpu; c++) {
			unsigned long long v = strtoull(q, &end, 10);
			if (end == q)
				break;
			sum += v;
			q = end;
		}
		char *last = strrchr(q, ' ');
		const char *name = last != NULL ? last + 1 : q;
		bool match = (irq < CTL_MAX_CPUS && ctl_cpuset_has(&msi, (unsigned int)irq)) ||
			     (nic->pci[0] != '\0' && strstr(q, nic->pci) != NULL) ||
			     (nic->ifname[0] != '\0' && name_matches_if(name, nic->ifname));
		if (!match)
			continue;
		struct ctl_irq *r = &out[n++];
		memset(r, 0, sizeof(*r));
		r->irq = (unsigned int)irq;
		r->count = sum;
		snprintf(r->name, sizeof(r->name), "%s", name);
		char rel[64], aff[4096];
		if (ctl_fmt(rel, sizeof(rel), "/proc/irq/%lu/smp_affinity_list", irq) == 0 &&
		    ctl_read(rel, aff, sizeof(aff)) >= 0 && ctl_cpuset_parse(&r->affinity, aff) == 0)
			r->affinity_known = true;
	}
	return (int)n;
}

const char *ctl_nic_pmd_hint(const struct ctl_nic *nic)
{
	static const struct {
		unsigned int vendor;
		const char *hint;
	} tab[] = {
		{0x8086, "Intel: net_e1000/ixgbe/i40e/ice/iavf; bind to vfio-pci"},
		{0x15b3, "NVIDIA/Mellanox: net_mlx5 is bifurcated; keep mlx5_core, do not bind"},
		{0x14e4, "Broadcom: net_bnxt; bind to vfio-pci"},
		{0x1af4, "virtio: net_virtio; bind to vfio-pci (needs a vIOMMU) or uio_pci_generic"},
		{0x1d0f, "AWS ENA: net_ena; bind to vfio-pci (noiommu mode without an IOMMU)"},
		{0x15ad, "VMware: net_vmxnet3; bind to vfio-pci or uio_pci_generic"},
		{0x1924, "AMD/Solarflare: net_sfc; bind to vfio-pci"},
		{0x1077, "QLogic/Marvell: net_qede; bind to vfio-pci"},
		{0x1137, "Cisco VIC: net_enic; bind to vfio-pci"},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i].vendor == nic->vendor)
			return tab[i].hint;
	return NULL;
}
