/*
 * decp-control: the control plane (SPEC §1). Roles are selected at start and each runs in
 * its own thread with its own Redis/PostgreSQL connections; one process may run them all.
 * main() is a flat list of checked steps: defaults, config file, command-line overrides,
 * validation, signals, the process context (cp_ctx.h: the only thing the roles share),
 * role threads, wait for SIGINT/SIGTERM, orderly stop.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp_archiver.h"
#include "cp_book_role.h"
#include "cp_config.h"
#include "cp_ctx.h"
#include "cp_edge.h"
#include "cp_fanout_role.h"
#include "cp_log.h"
#include "cp_sched.h"
#include "cp_api.h"
#include "cp_trust.h"

static atomic_int stop_flag;

struct role_thread {
	const char *name;
	unsigned int bit;
	int (*run)(struct cp_ctx *);
	const struct cp_sched *sched; /* the thread's class (cp_sched.h); NULL: inherit */
	struct cp_ctx *ctx;
	pthread_t tid;
	bool started;
	atomic_int done;
	int rc;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: decp-control [--config FILE] [--roles LIST] [--set KEY=VALUE]... [--check]\n"
		"\n"
		"The decp control plane. Roles (default: all, one thread each):\n"
		"  edge      dataplane rings -> Redis (atomic, idempotent) -> ACKs; tokens and keys\n"
		"            from PostgreSQL into the dataplane\n"
		"  archiver  Redis signal streams and events -> PostgreSQL signal_archive /\n"
		"            protection_logs\n"
		"  fanout    WebSocket server: durable signals -> subscriber EAs (fed by the edge\n"
		"            in-process, or tailing Redis without it; docs/fanout.md)\n"
		"  api       HTTP/JSON operator and subscriber API, /metrics (docs/api.md; not in\n"
		"            'all')\n"
		"  trust     trust scoring, auto-pause and recovery (docs/api.md; not in 'all')\n"
		"  book      every master's position book from its stream, durable in Redis\n"
		"            (docs/resync.md; not in 'all')\n"
		"\n"
		"  --config FILE      settings file, 'key = value' lines (docs/control.md)\n"
		"  --roles LIST       comma-separated roles, or 'all' (overrides the file)\n"
		"  --set KEY=VALUE    override one setting (repeatable; after the file)\n"
		"  --check            validate the configuration, print it, and exit\n"
		"  --help             this text\n");
	cp_config_print_keys(f);
	fprintf(f,
		"SIGINT/SIGTERM stop it cleanly. Exit status: 0 stopped, 1 a role failed, 2 bad\n"
		"usage or configuration.\n");
}

/* The role thread's scheduling class, before it starts anything (its threads inherit it).
 * Best effort: without the privilege the thread runs as started, and the log says so. */
static void apply_sched(const struct role_thread *t)
{
	char want[24], now[24];
	if (t->sched == NULL || t->sched->policy == CP_SCHED_INHERIT)
		return;
	cp_sched_str(t->sched, want, sizeof(want));
	int rc = cp_sched_apply(t->sched);
	cp_sched_current(now, sizeof(now));
	if (rc == 0)
		cp_log(CP_LOG_INFO, t->name, "scheduling %s", now);
	else
		cp_log(CP_LOG_WARN, t->name, "scheduling %s not applied (%s: %s), running at %s",
		       want, strerror(-rc), rc == -EPERM ? "needs CAP_SYS_NICE, or for fifo:N "
		       "RLIMIT_RTPRIO >= N (systemd LimitRTPRIO=)" : "refused", now);
}

static void *role_main(void *arg)
{
	struct role_thread *t = arg;
	/* Named per role ("cp-edge"), so that top -H, perf sched and chrt -p can tell the
	 * threads apart; threads a role starts inherit the name. */
	char name[16];
	snprintf(name, sizeof(name), "cp-%s", t->name);
	(void)pthread_setname_np(pthread_self(), name);
	apply_sched(t);
	t->rc = t->run(t->ctx);
	atomic_store(&t->done, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"config", required_argument, NULL, 'c'},
		{"roles", required_argument, NULL, 'r'},
		{"set", required_argument, NULL, 's'},
		{"check", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cp_config cfg;
	char err[512];
	const char *config_path = NULL;
	bool check = false;
	int c;

	cp_config_defaults(&cfg);
	/* Pass 1: the file first, so command-line settings override it whatever their order. */
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == 'c')
			config_path = optarg;
		else if (c == '?')
			return usage(stderr), 2;
	}
	if (optind < argc) {
		fprintf(stderr, "decp-control: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (config_path != NULL && cp_config_load(&cfg, config_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "decp-control: %s\n", err);
		return 2;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'r') {
			if (cp_config_parse_roles(optarg, &cfg.roles, err, sizeof(err)) != 0) {
				fprintf(stderr, "decp-control: --roles: %s\n", err);
				return 2;
			}
		} else if (c == 's') {
			char kv[1200];
			snprintf(kv, sizeof(kv), "%s", optarg);
			char *eq = strchr(kv, '=');
			if (eq == NULL) {
				fprintf(stderr, "decp-control: --set %s: expected KEY=VALUE\n", optarg);
				return 2;
			}
			*eq = '\0';
			if (cp_config_set(&cfg, kv, eq + 1, err, sizeof(err)) != 0) {
				fprintf(stderr, "decp-control: --set: %s\n", err);
				return 2;
			}
		} else if (c == 'k') {
			check = true;
		}
	}
	if (cp_config_validate(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "decp-control: %s%s%s\n", config_path ? config_path : "",
			config_path ? ": " : "", err);
		return 2;
	}
	cp_log_set_level((enum cp_log_level)cfg.log_level);
	if (check) {
		char rs[160];
		printf("roles=%s shm=%s redis=%s:%u%s%s%s%s edge_batch=%u archiver_batch=%u "
		       "durability=%s\n", cp_config_roles_str(cfg.roles, rs, sizeof(rs)), cfg.shm,
		       cfg.redis_host, cfg.redis_port, cfg.redis_sentinels[0] ? " sentinels=" : "",
		       cfg.redis_sentinels, cfg.redis_nodes[0] ? " cluster=" : "", cfg.redis_nodes,
		       cfg.edge_batch, cfg.archiver_batch, cp_durability_name(cfg.durability));
		return 0;
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/* Role threads inherit the mask: only main takes the stop signals. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct role_thread roles[] = {
		/* The ACK path first; the roles that work in bursts behind it (issue 26). */
		{.name = "edge", .bit = CP_ROLE_EDGE, .run = cp_edge_run, .sched = &cfg.edge_sched},
		{.name = "archiver", .bit = CP_ROLE_ARCHIVER, .run = cp_archiver_run,
		 .sched = &cfg.background_sched},
		{.name = "fanout", .bit = CP_ROLE_FANOUT, .run = cp_fanout_role_run},
		{.name = "api", .bit = CP_ROLE_API, .run = cp_api_run},
		{.name = "trust", .bit = CP_ROLE_TRUST, .run = cp_trust_run,
		 .sched = &cfg.background_sched},
		{.name = "book", .bit = CP_ROLE_BOOK, .run = cp_book_run,
		 .sched = &cfg.background_sched},
	};
	size_t nroles = sizeof(roles) / sizeof(roles[0]);
	int rc = 0;
	struct cp_ctx ctx;

	cp_ctx_init(&ctx, &cfg, &stop_flag);
	for (size_t i = 0; i < nroles; i++) {
		if (!(cfg.roles & roles[i].bit))
			continue;
		roles[i].ctx = &ctx;
		int e = pthread_create(&roles[i].tid, NULL, role_main, &roles[i]);
		if (e != 0) {
			cp_log(CP_LOG_ERR, NULL, "starting role %s: %s", roles[i].name, strerror(e));
			atomic_store(&stop_flag, 1);
			rc = 1;
			break;
		}
		roles[i].started = true;
		cp_log(CP_LOG_INFO, roles[i].name, "started");
	}
	while (!atomic_load(&stop_flag)) {
		struct timespec ts = {0, 200000000};
		int s = sigtimedwait(&set, NULL, &ts);
		if (s == SIGINT || s == SIGTERM) {
			cp_log(CP_LOG_INFO, NULL, "signal %d: stopping", s);
			atomic_store(&stop_flag, 1);
		}
		for (size_t i = 0; i < nroles; i++)
			if (roles[i].started && atomic_load(&roles[i].done)) {
				cp_log(CP_LOG_ERR, roles[i].name, "role ended (%s): stopping",
				       strerror(-roles[i].rc));
				atomic_store(&stop_flag, 1);
				rc = 1;
			}
	}
	for (size_t i = 0; i < nroles; i++)
		if (roles[i].started) {
			pthread_join(roles[i].tid, NULL);
			if (roles[i].rc != 0)
				rc = 1;
		}
	cp_ctx_fini(&ctx);
	return rc;
}
