/*
 * ctl_nic: network interfaces and PCI network functions as decpctl sees them (through
 * ctl_sysfs, so fixtures work): name, PCI address, drivers, NUMA node, link, which one
 * carries the default route, and the NIC's interrupt lines with their affinity.
 *
 * Sources: /sys/class/net/IF/{device,operstate,carrier,speed,address}, the PCI device
 * directory the `device` link resolves to (or its parent for virtio: pci -> virtioN ->
 * net), /sys/bus/pci/devices/ADDR/{class,vendor,device,driver,numa_node,msi_irqs},
 * /sys/class/net/IF/upper_* (a bond, bridge or VLAN on top), /proc/net/route and
 * /proc/net/ipv6_route (default routes), /proc/interrupts,
 * /proc/irq/N/smp_affinity_list.
 */
#ifndef DECPCTL_CTL_NIC_H
#define DECPCTL_CTL_NIC_H

#include <stdbool.h>

#include "ctl_sysfs.h"

#define CTL_MAX_NICS 64u
#define CTL_MAX_IRQS 256u

struct ctl_nic {
	char ifname[32];        /* "" for a PCI function with no kernel netdev (DPDK-bound) */
	char pci[16];           /* "0000:81:00.0", "" for virtual interfaces */
	char driver[32];        /* kernel driver of the netdev's device ("ixgbe", "virtio_net") */
	char pci_driver[32];    /* driver of the PCI function ("ixgbe", "virtio-pci", "vfio-pci"),
				 * "" when unbound */
	unsigned int vendor, device;
	int numa_node;          /* -1 when the platform does not say */
	char operstate[16];     /* "up", "down", "unknown", "" */
	int carrier;            /* 1, 0, -1 unknown */
	long speed_mbps;        /* -1 unknown */
	char mac[24];
	bool default_route;     /* this netdev, a netdev of this PCI function, or a device stacked
				 * on it (bond, bridge, VLAN: its upper_* links) routes 0/0 */
	char route_via[32];     /* with default_route: the other netdev that routes 0/0 (the
				 * bridge, bond or VLAN on top, or the PCI function's netdev);
				 * "" when this one does itself */
	bool dpdk_bound;        /* PCI function bound to vfio-pci / uio_pci_generic / igb_uio */
};

struct ctl_irq {
	unsigned int irq;
	char name[64];                /* last column of /proc/interrupts */
	struct ctl_cpuset affinity;   /* smp_affinity_list */
	bool affinity_known;
	unsigned long long count;     /* sum over CPUs */
};

/* Network interfaces (not "lo") and DPDK-bound PCI network functions, sorted by name then
 * PCI address. Returns the count (0..max) or -errno when /sys/class/net is unreadable. */
int ctl_nic_list(struct ctl_nic *out, unsigned int max);

/*
 * Resolve an interface name or PCI address ("0000:81:00.0" or short "81:00.0") to a NIC.
 * Returns 0, or -ENODEV when there is no such interface or PCI network function.
 */
int ctl_nic_find(const char *name_or_pci, struct ctl_nic *out);

/* Names of the interfaces carrying a default route (IPv4 or IPv6, main table), comma
 * separated, into out ("" when none). Returns the count, or -ENOENT when neither route table
 * is readable (callers that act must then refuse). */
int ctl_default_route_ifaces(char *out, size_t cap);

/* True when a DPDK user-space driver is in charge of the PCI function. */
bool ctl_driver_is_dpdk(const char *driver);

/* Interrupt lines of the NIC: the PCI function's MSI/MSI-X vectors and any /proc/interrupts
 * line naming the interface or the PCI address. Returns the count (0..max). */
int ctl_nic_irqs(const struct ctl_nic *nic, struct ctl_irq *out, unsigned int max);

/* A short hint on DPDK support for a PCI vendor ("net_ixgbe/i40e/ice (Intel)"), or NULL. */
const char *ctl_nic_pmd_hint(const struct ctl_nic *nic);

#endif
