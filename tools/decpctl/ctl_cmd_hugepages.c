/*
 * decpctl hugepages: show hugepage pools (per size, per NUMA node) and hugetlbfs mounts;
 * reserve pages (nr_hugepages) and mount hugetlbfs when missing.
 * Kernel interface: Documentation/admin-guide/mm/hugetlbpage.rst.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <jansson.h>

#include "ctl_cmd.h"
#include "ctl_topo.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: decpctl hugepages [--pages N [--node K] [--size 2M|1G]] [--mount DIR] [--json]\n"
		"                         [--root DIR]\n"
		"\n"
		"Without options: hugepage pools per size and per NUMA node, and hugetlbfs mounts.\n"
		"  --pages N     reserve N pages (writes nr_hugepages; the kernel may give fewer: the\n"
		"                report says so), then mount hugetlbfs if none is mounted for that size\n"
		"  --node K      reserve on NUMA node K only (default: spread by the kernel)\n"
		"  --size S      page size: 2M (default: the kernel's default size), 1G, or kB\n"
		"  --mount DIR   mount point when one is needed (default /dev/hugepages, or\n"
		"                /dev/hugepages-1G for 1G pages when /dev/hugepages has another size)\n"
		"  --json        one JSON object\n"
		"  --root DIR    read/write /proc and /sys below DIR (mounting is then skipped)\n"
		"  --help        this text\n"
		"\n"
		"Exit: 0 done, 1 failed (kernel refused, mount failed), 2 usage, 4 the kernel reserved\n"
		"fewer pages than asked.\n");
}

static int parse_size(const char *s, unsigned long *kb)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (end == s || v == 0)
		return -1;
	if (strcasecmp(end, "G") == 0 || strcasecmp(end, "GB") == 0)
		v *= 1024ul * 1024ul;
	else if (strcasecmp(end, "M") == 0 || strcasecmp(end, "MB") == 0)
		v *= 1024ul;
	else if (strcasecmp(end, "K") == 0 || strcasecmp(end, "kB") == 0 || *end == '\0')
		;
	else
		return -1;
	*kb = v;
	return 0;
}

static const struct ctl_mount *mount_for(const struct ctl_machine *m, unsigned long kb)
{
	for (unsigned int i = 0; i < m->n_mounts; i++)
		if (m->mounts[i].pagesize_kb == kb)
			return &m->mounts[i];
	return NULL;
}

static void show_text(const struct ctl_machine *m)
{
	printf("Hugepages (root %s, default size %lukB):\n", ctl_root_get(), m->default_hp_kb);
	if (m->n_hp == 0)
		printf("  no hugepage support in this kernel\n");
	for (unsigned int i = 0; i < m->n_hp; i++) {
		const struct ctl_hp_pool *h = &m->hp[i];
		printf("  %7lukB: total %ld, free %ld, surplus %ld (%lu MiB reserved)\n", h->size_kb, h->nr,
		       h->free, h->surplus, (unsigned long)h->nr * h->size_kb / 1024ul);
		for (unsigned int k = 0; k < m->n_nodes; k++) {
			const struct ctl_hp_pool *np = ctl_machine_pool(m, m->node[k].id, h->size_kb);
			if (np != NULL)
				printf("           node %d: total %ld, free %ld\n", m->node[k].id, np->nr,
				       np->free);
		}
	}
	printf("hugetlbfs mounts:\n");
	if (m->n_mounts == 0)
		printf("  none (DPDK needs one: decpctl hugepages --pages N mounts /dev/hugepages)\n");
	for (unsigned int i = 0; i < m->n_mounts; i++)
		printf("  %s (pagesize %lukB)\n", m->mounts[i].dir, m->mounts[i].pagesize_kb);
}

static json_t *show_json(const struct ctl_machine *m)
{
	json_t *o = json_object();
	json_object_set_new(o, "default_size_kb", json_integer((json_int_t)m->default_hp_kb));
	json_t *pools = json_array();
	for (unsigned int i = 0; i < m->n_hp; i++) {
		const struct ctl_hp_pool *h = &m->hp[i];
		json_t *p = json_pack("{s:I,s:I,s:I,s:I}", "size_kb", (json_int_t)h->size_kb, "total",
				      (json_int_t)h->nr, "free", (json_int_t)h->free, "surplus",
				      (json_int_t)h->surplus);
		json_t *nodes = json_array();
		for (unsigned int k = 0; k < m->n_nodes; k++) {
			const struct ctl_hp_pool *np = ctl_machine_pool(m, m->node[k].id, h->size_kb);
			if (np != NULL)
				json_array_append_new(nodes, json_pack("{s:i,s:I,s:I}", "node", m->node[k].id,
								       "total", (json_int_t)np->nr, "free",
								       (json_int_t)np->free));
		}
		json_object_set_new(p, "nodes", nodes);
		json_array_append_new(pools, p);
	}
	json_object_set_new(o, "pools", pools);
	json_t *mts = json_array();
	for (unsigned int i = 0; i < m->n_mounts; i++)
		json_array_append_new(mts, json_pack("{s:s,s:I}", "dir", m->mounts[i].dir, "pagesize_kb",
						     (json_int_t)m->mounts[i].pagesize_kb));
	json_object_set_new(o, "mounts", mts);
	return o;
}

int ctl_cmd_hugepages(int argc, char **argv)
{
	static const struct option lo[] = {
		{"pages", required_argument, NULL, 'p'}, {"node", required_argument, NULL, 'n'},
		{"size", required_argument, NULL, 's'},  {"mount", required_argument, NULL, 'm'},
		{"json", no_argument, NULL, 'j'},        {"root", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
	long pages = -1, node = -1;
	unsigned long size_kb = 0;
	const char *mount_dir = NULL;
	bool json = false;
	int c, rc;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (ctl_parse_long("hugepages", "--pages", optarg, 0, 1L << 26, &pages) != 0)
				return CTL_EXIT_USAGE;
			break;
		case 'n':
			if (ctl_parse_long("hugepages", "--node", optarg, 0, CTL_MAX_NODES - 1, &node) != 0)
				return CTL_EXIT_USAGE;
			break;
		case 's':
			if (parse_size(optarg, &size_kb) != 0)
				return ctl_usage_error("hugepages", "--size '%s': expected 2M, 1G or kB",
						       optarg);
			break;
		case 'm': mount_dir = optarg; break;
		case 'j': json = true; break;
		case 'r':
			if ((rc = ctl_set_root_opt("hugepages", optarg)) != 0)
				return rc;
			break;
		case 'h': usage(stdout); return CTL_EXIT_OK;
		default: return ctl_option_error("hugepages", argv, optopt);
		}
	}
	if (optind < argc)
		return ctl_usage_error("hugepages", "unexpected argument '%s'", argv[optind]);
	if (pages < 0 && (node >= 0 || size_kb != 0))
		return ctl_usage_error("hugepages", "--node and --size go with --pages");

	struct ctl_machine m;
	rc = ctl_machine_load(&m);
	if (rc != 0) {
		fprintf(stderr, "decpctl hugepages: cannot read %s/sys: %s\n", ctl_root_get(),
			strerror(-rc));
		return CTL_EXIT_FAIL;
	}
	if (size_kb == 0)
		size_kb = m.default_hp_kb;
	int exit_code = CTL_EXIT_OK;
	json_t *jr = json ? show_json(&m) : NULL;
	json_t *actions = json_array();

	if (pages >= 0) {
		char path[256], val[32], msg[512];
		if (ctl_machine_pool(&m, -1, size_kb) == NULL) {
			fprintf(stderr, "decpctl hugepages: this kernel/CPU has no %lukB pages (sizes: see "
					"'decpctl hugepages')\n", size_kb);
			exit_code = CTL_EXIT_FAIL;
			goto out;
		}
		if (node >= 0)
			snprintf(path, sizeof(path),
				 "/sys/devices/system/node/node%ld/hugepages/hugepages-%lukB/nr_hugepages",
				 node, size_kb);
		else
			snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/nr_hugepages",
				 size_kb);
		if (node >= 0 && ctl_machine_node(&m, (int)node) == NULL) {
			fprintf(stderr, "decpctl hugepages: --node %ld: no such NUMA node\n", node);
			exit_code = CTL_EXIT_FAIL;
			goto out;
		}
		snprintf(val, sizeof(val), "%ld", pages);
		rc = ctl_write(path, val);
		long got = -1;
		if (rc == 0)
			(void)ctl_read_long(path, &got);
		if (rc != 0) {
			snprintf(msg, sizeof(msg), "the kernel refused %s = %ld: %s%s", path, pages,
				 strerror(-rc),
				 rc == -EACCES || rc == -EPERM ? " (run as root)"
				 : size_kb >= 1024ul * 1024ul ? " (1G pages usually need hugepagesz=1G "
								"hugepages=N at boot)"
								: "");
			exit_code = CTL_EXIT_FAIL;
		} else if (got >= 0 && got < pages) {
			snprintf(msg, sizeof(msg),
				 "asked for %ld pages of %lukB%s, the kernel reserved %ld: not enough free "
				 "contiguous memory. Try 'echo 1 > /proc/sys/vm/compact_memory' and again, or "
				 "reserve at boot (hugepages=%ld on the kernel command line)",
				 pages, size_kb, node >= 0 ? " on that node" : "", got, pages);
			exit_code = CTL_EXIT_PARTIAL;
		} else {
			if (node >= 0)
				snprintf(msg, sizeof(msg), "reserved %ld pages of %lukB on node %ld",
					 got >= 0 ? got : pages, size_kb, node);
			else
				snprintf(msg, sizeof(msg), "reserved %ld pages of %lukB",
					 got >= 0 ? got : pages, size_kb);
		}
		if (jr != NULL)
			json_array_append_new(actions, json_pack("{s:s,s:I,s:I,s:b,s:s}", "path", path,
								 "asked", (json_int_t)pages, "got",
								 (json_int_t)got, "ok", exit_code == 0,
								 "result", msg));
		else
			printf("%s\n", msg);
	}
	if ((pages > 0 || mount_dir != NULL) && exit_code != CTL_EXIT_FAIL) {
		const struct ctl_mount *mt = mount_for(&m, size_kb);
		const char *dir = mount_dir;
		char msg[512], opts[64];
		if (dir == NULL) {
			dir = "/dev/hugepages";
			for (unsigned int i = 0; i < m.n_mounts; i++)
				if (strcmp(m.mounts[i].dir, dir) == 0 && m.mounts[i].pagesize_kb != size_kb)
					dir = "/dev/hugepages-1G";
		}
		if (mt != NULL) {
			snprintf(msg, sizeof(msg), "hugetlbfs for %lukB already mounted on %s", size_kb,
				 mt->dir);
		} else if (!ctl_root_is_live()) {
			snprintf(msg, sizeof(msg), "not mounting %s: --root %s is not the live system", dir,
				 ctl_root_get());
		} else {
			snprintf(opts, sizeof(opts), "pagesize=%luK", size_kb);
			if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
				snprintf(msg, sizeof(msg), "cannot create %s: %s", dir, strerror(errno));
				exit_code = CTL_EXIT_FAIL;
			} else if (mount("nodev", dir, "hugetlbfs", 0, opts) != 0) {
				snprintf(msg, sizeof(msg), "mount -t hugetlbfs -o %s nodev %s failed: %s", opts,
					 dir, strerror(errno));
				exit_code = CTL_EXIT_FAIL;
			} else {
				snprintf(msg, sizeof(msg), "mounted hugetlbfs (%s) on %s", opts, dir);
			}
		}
		if (jr != NULL)
			json_array_append_new(actions, json_pack("{s:s,s:s}", "mount", dir, "result", msg));
		else
			printf("%s\n", msg);
	}
	if (pages >= 0 && exit_code != CTL_EXIT_FAIL) {
		/* Show the pools as they are now. */
		ctl_machine_free(&m);
		if (ctl_machine_load(&m) == 0 && jr != NULL) {
			json_decref(jr);
			jr = show_json(&m);
		}
	}
out:
	if (jr != NULL) {
		json_object_set_new(jr, "actions", actions);
		actions = NULL;
		char *s = json_dumps(jr, JSON_COMPACT);
		if (s != NULL)
			printf("%s\n", s);
		free(s);
		json_decref(jr);
	} else if (m.cpu != NULL) {
		show_text(&m);
	}
	json_decref(actions);
	ctl_machine_free(&m);
	return exit_code;
}
