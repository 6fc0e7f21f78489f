/*
 * decpctl nic: list network interfaces for DPDK use; bind/unbind through dpdk-devbind.
 *
 * Safety: the interface that carries the default route (and its PCI function) is never
 * touched: taking it from the kernel cuts the machine off the network, SSH session
 * included. That check runs before anything else that could act, and bind/unbind act on
 * the live kernel only (never with --root DIR).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_cmd.h"
#include "ctl_nic.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: decpctl nic [list] [--json] [--root DIR]\n"
		"       decpctl nic bind IF|PCI --driver vfio-pci|uio_pci_generic|igb_uio [--yes]\n"
		"                            [--devbind PATH]\n"
		"       decpctl nic unbind IF|PCI [--yes] [--devbind PATH]\n"
		"\n"
		"list: every network interface and PCI network function with PCI address, drivers,\n"
		"NUMA node, link, DPDK status, and which one carries the default route.\n"
		"bind/unbind: hand a NIC to a DPDK driver (or back) with dpdk-devbind (Debian package\n"
		"'dpdk'), after a confirmation prompt (or --yes). The interface carrying the default\n"
		"route, and its PCI function, are refused.\n"
		"\n"
		"  --driver D       vfio-pci (needs an IOMMU or noiommu mode), uio_pci_generic, igb_uio\n"
		"  --yes            do not ask for confirmation\n"
		"  --devbind PATH   dpdk-devbind to run (default: dpdk-devbind.py / dpdk-devbind on PATH)\n"
		"  --json           list as a JSON array\n"
		"  --root DIR       read /proc and /sys below DIR (list only; bind/unbind refuse)\n"
		"  --help           this text\n"
		"\n"
		"Exit: 0 done, 1 failed (no such NIC, dpdk-devbind failed), 2 usage, 3 refused\n"
		"(default route, not confirmed, --root given).\n");
}

static const char *dpdk_status(const struct ctl_nic *n)
{
	if (n->dpdk_bound)
		return "bound";
	if (n->pci[0] == '\0')
		return "no (virtual)";
	return ctl_nic_pmd_hint(n) != NULL ? "capable" : "pci (check PMD)";
}

static int do_list(bool json)
{
	static struct ctl_nic all[CTL_MAX_NICS];
	int n = ctl_nic_list(all, CTL_MAX_NICS);
	if (n < 0) {
		fprintf(stderr, "decpctl nic: cannot read %s/sys/class/net: %s\n", ctl_root_get(),
			strerror(-n));
		return CTL_EXIT_FAIL;
	}
	if (json) {
		json_t *a = json_array();
		for (int i = 0; i < n; i++) {
			const struct ctl_nic *x = &all[i];
			json_t *o = json_pack("{s:s?,s:s?,s:s,s:s,s:i,s:s,s:i,s:I,s:s,s:b,s:b,s:s}", "ifname",
					      x->ifname[0] ? x->ifname : NULL, "pci",
					      x->pci[0] ? x->pci : NULL, "driver", x->driver, "pci_driver",
					      x->pci_driver, "numa_node", x->numa_node, "operstate",
					      x->operstate, "carrier", x->carrier, "speed_mbps",
					      (json_int_t)x->speed_mbps, "mac", x->mac, "default_route",
					      x->default_route, "dpdk_bound", x->dpdk_bound, "dpdk",
					      dpdk_status(x));
			const char *h = ctl_nic_pmd_hint(x);
			json_object_set_new(o, "pmd_hint", h ? json_string(h) : json_null());
			json_object_set_new(o, "default_route_via",
					    x->route_via[0] ? json_string(x->route_via) : json_null());
			json_array_append_new(a, o);
		}
		char *s = json_dumps(a, JSON_COMPACT);
		if (s != NULL)
			printf("%s\n", s);
		free(s);
		json_decref(a);
		return CTL_EXIT_OK;
	}
	printf("%-12s %-13s %-16s %-4s %-8s %-7s %-15s %s\n", "IFACE", "PCI", "DRIVER", "NODE", "LINK",
	       "SPEED", "DPDK", "NOTE");
	for (int i = 0; i < n; i++) {
		const struct ctl_nic *x = &all[i];
		char node[24], speed[24];
		snprintf(node, sizeof(node), x->numa_node >= 0 ? "%d" : "-", x->numa_node);
		if (x->speed_mbps > 0)
			snprintf(speed, sizeof(speed), "%ldG", x->speed_mbps / 1000);
		else
			snprintf(speed, sizeof(speed), "-");
		if (x->speed_mbps > 0 && x->speed_mbps < 1000)
			snprintf(speed, sizeof(speed), "%ldM", x->speed_mbps);
		const char *drv = x->pci_driver[0] ? x->pci_driver : x->driver[0] ? x->driver : "-";
		char note[64] = "";
		if (x->default_route && x->route_via[0] != '\0')
			snprintf(note, sizeof(note), "default route via %s: never bound", x->route_via);
		else if (x->default_route)
			snprintf(note, sizeof(note), "default route: never bound");
		printf("%-12s %-13s %-16s %-4s %-8s %-7s %-15s %s\n", x->ifname[0] ? x->ifname : "-",
		       x->pci[0] ? x->pci : "-", drv, node, x->operstate[0] ? x->operstate : "-", speed,
		       dpdk_status(x), note);
	}
	for (int i = 0; i < n; i++) {
		const char *h = ctl_nic_pmd_hint(&all[i]);
		if (h != NULL && !all[i].default_route && !all[i].dpdk_bound)
			printf("  %s: %s\n", all[i].ifname[0] ? all[i].ifname : all[i].pci, h);
	}
	return CTL_EXIT_OK;
}

static const char *find_devbind(const char *given)
{
	static char buf[4096];
	if (given != NULL)
		return access(given, X_OK) == 0 ? given : NULL;
	static const char *names[] = {"dpdk-devbind.py", "dpdk-devbind"};
	const char *path = getenv("PATH");
	char pbuf[4096];
	snprintf(pbuf, sizeof(pbuf), "%s:/usr/bin:/usr/sbin:/usr/local/bin", path ? path : "");
	for (size_t k = 0; k < 2; k++) {
		char *save = NULL;
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s", pbuf);
		for (char *d = strtok_r(tmp, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
			if (snprintf(buf, sizeof(buf), "%s/%s", d, names[k]) < (int)sizeof(buf) &&
			    access(buf, X_OK) == 0)
				return buf;
		}
	}
	return NULL;
}

static int run(const char *const *av)
{
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "decpctl nic: fork: %s\n", strerror(errno));
		return CTL_EXIT_FAIL;
	}
	if (pid == 0) {
		execv(av[0], (char *const *)av);
		fprintf(stderr, "decpctl nic: cannot run %s: %s\n", av[0], strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return CTL_EXIT_FAIL;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "decpctl nic: %s failed (%s %d)\n", av[0],
			WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

static int do_bind(bool bind, const char *target, const char *driver, bool yes, const char *devbind)
{
	struct ctl_nic nic;
	const char *verb = bind ? "bind" : "unbind";
	char routes[1024];
	if (ctl_default_route_ifaces(routes, sizeof(routes)) < 0) {
		fprintf(stderr, "decpctl nic %s: REFUSED: cannot read %s/proc/net/route or ipv6_route, "
				"so the interface carrying the default route is unknown. Nothing was "
				"changed.\n", verb, ctl_root_is_live() ? "" : ctl_root_get());
		return CTL_EXIT_REFUSED;
	}
	if (ctl_nic_find(target, &nic) != 0) {
		fprintf(stderr, "decpctl nic %s: %s: no such interface or PCI network function "
				"(see 'decpctl nic list')\n", verb, target);
		return CTL_EXIT_FAIL;
	}
	/* First, before anything that could act: the default route stays with the kernel. */
	if (nic.default_route) {
		char via[64] = "";
		if (nic.route_via[0] != '\0')
			snprintf(via, sizeof(via), " (through %s, on top of it)", nic.route_via);
		fprintf(stderr,
			"decpctl nic %s: REFUSED: %s%s%s carries the default route%s; taking it from the "
			"kernel would cut this machine off the network (SSH included). Nothing was "
			"changed. Use a dedicated NIC for the dataplane.\n",
			verb, nic.ifname[0] ? nic.ifname : "", nic.ifname[0] && nic.pci[0] ? " " : "",
			nic.pci[0] ? nic.pci : "", via);
		return CTL_EXIT_REFUSED;
	}
	if (nic.pci[0] == '\0') {
		fprintf(stderr, "decpctl nic %s: %s is a virtual interface (no PCI function): "
				"nothing to bind; DPDK reaches it with --vdev (net_tap, net_af_packet)\n",
			verb, target);
		return CTL_EXIT_FAIL;
	}
	if (!ctl_root_is_live()) {
		fprintf(stderr, "decpctl nic %s: REFUSED: --root %s is for inspection; binding acts on "
				"the live kernel. Nothing was changed.\n", verb, ctl_root_get());
		return CTL_EXIT_REFUSED;
	}
	if (bind && strcmp(nic.pci_driver, driver) == 0) {
		printf("%s is already bound to %s\n", nic.pci, driver);
		return CTL_EXIT_OK;
	}
	if (!bind && !nic.dpdk_bound) {
		printf("%s is not bound to a DPDK driver (driver: %s)\n", nic.pci,
		       nic.pci_driver[0] ? nic.pci_driver : "none");
		return CTL_EXIT_OK;
	}
	const char *db = find_devbind(devbind);
	if (db == NULL) {
		fprintf(stderr, "decpctl nic %s: dpdk-devbind not found%s%s (Debian: apt-get install "
				"dpdk)\n", verb, devbind ? " at " : "", devbind ? devbind : "");
		return CTL_EXIT_FAIL;
	}
	if (bind && strcmp(driver, "vfio-pci") == 0) {
		struct stat st;
		char p[256];
		if (ctl_path(p, sizeof(p), "/sys/bus/pci/drivers/vfio-pci") == 0 && stat(p, &st) != 0)
			fprintf(stderr, "note: vfio-pci is not loaded: run 'modprobe vfio-pci' first\n");
	}
	char arg[64];
	snprintf(arg, sizeof(arg), "--bind=%s", driver);
	const char *av[] = {db, bind ? arg : "--unbind", nic.pci, NULL};
	printf("%s %s (%s, now on %s, link %s, NUMA node %d)\nwill run: %s %s %s\n", verb, nic.pci,
	       nic.ifname[0] ? nic.ifname : "no netdev", nic.pci_driver[0] ? nic.pci_driver : "no driver",
	       nic.operstate[0] ? nic.operstate : "-", nic.numa_node, av[0], av[1], av[2]);
	if (!yes) {
		if (!isatty(STDIN_FILENO)) {
			fprintf(stderr, "decpctl nic %s: REFUSED: no terminal to confirm on; pass --yes. "
					"Nothing was changed.\n", verb);
			return CTL_EXIT_REFUSED;
		}
		printf("Proceed? [y/N] ");
		fflush(stdout);
		char line[16];
		if (fgets(line, sizeof(line), stdin) == NULL || (line[0] != 'y' && line[0] != 'Y')) {
			printf("not confirmed: nothing was changed\n");
			return CTL_EXIT_REFUSED;
		}
	}
	int rc = run(av);
	if (rc == CTL_EXIT_OK)
		printf("done: see 'decpctl nic list'\n");
	return rc;
}

int ctl_cmd_nic(int argc, char **argv)
{
	static const struct option lo[] = {
		{"driver", required_argument, NULL, 'd'}, {"yes", no_argument, NULL, 'y'},
		{"devbind", required_argument, NULL, 'D'}, {"json", no_argument, NULL, 'j'},
		{"root", required_argument, NULL, 'r'},   {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *driver = NULL, *devbind = NULL;
	bool yes = false, json = false;
	int c, rc;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hy", lo, NULL)) != -1) {
		switch (c) {
		case 'd': driver = optarg; break;
		case 'D': devbind = optarg; break;
		case 'y': yes = true; break;
		case 'j': json = true; break;
		case 'r':
			if ((rc = ctl_set_root_opt("nic", optarg)) != 0)
				return rc;
			break;
		case 'h': usage(stdout); return CTL_EXIT_OK;
		default: return ctl_option_error("nic", argv, optopt);
		}
	}
	const char *action = optind < argc ? argv[optind++] : "list";
	if (strcmp(action, "list") == 0) {
		if (optind < argc)
			return ctl_usage_error("nic", "list takes no argument ('%s')", argv[optind]);
		return do_list(json);
	}
	bool bind = strcmp(action, "bind") == 0;
	if (!bind && strcmp(action, "unbind") != 0)
		return ctl_usage_error("nic", "unknown action '%s' (list, bind, unbind)", action);
	if (optind >= argc)
		return ctl_usage_error("nic", "%s needs an interface or PCI address", action);
	const char *target = argv[optind++];
	if (optind < argc)
		return ctl_usage_error("nic", "unexpected argument '%s'", argv[optind]);
	if (bind) {
		if (driver == NULL)
			return ctl_usage_error("nic", "bind needs --driver vfio-pci|uio_pci_generic|igb_uio");
		if (!ctl_driver_is_dpdk(driver))
			return ctl_usage_error("nic", "--driver %s: expected vfio-pci, uio_pci_generic or "
						      "igb_uio", driver);
	} else if (driver != NULL) {
		return ctl_usage_error("nic", "unbind takes no --driver");
	}
	return do_bind(bind, target, driver, yes, devbind);
}
