/*
 * dp_opts: decp-dataplane's command line, parsed in one place for both transports
 * (conventions.md: configuration is read once, in one place). app/dp_main.c parses, then
 * runs the posix transport itself or hands the result to dp_dpdk_run() (dpdk/
 * dp_dpdk_app.h); decp-dataplane-dpdk parses the same options with --stack preset to dpdk.
 *
 *   decp-dataplane --stack posix --listen ADDR:PORT --shm NAME [common] [posix options]
 *   decp-dataplane --stack dpdk --listen IPV4:PORT --shm NAME [common] [dpdk options]
 *                  -- EAL-ARGS
 * Options of the other stack are refused, not ignored. Main thread, at start only.
 */
#ifndef DECP_DP_OPTS_H
#define DECP_DP_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dp_tls.h"

enum dp_stack_kind {
	DP_STACK_NONE = 0,
	DP_STACK_POSIX = 1, /* kernel sockets + epoll (dp_posix) */
	DP_STACK_DPDK = 2,  /* DPDK poll mode + userspace TCP/IP stack (dpdk/) */
};

/* --poll (dpdk): how a worker waits when no frame and no ACK arrives. */
enum dp_poll_mode {
	DP_POLL_AUTO = 0,   /* busy when every worker lcore is on an isolated CPU, else adaptive */
	DP_POLL_BUSY,       /* spin on the queue: lowest latency, a whole core */
	DP_POLL_ADAPTIVE,   /* spin while traffic flows; after DP_POLL_IDLE_MS idle, sleep on the
			     * queue's RX interrupt (or a 1 ms pause where the PMD has none) */
};

struct dp_opts {
	enum dp_stack_kind stack;
	char listen_addr[64];       /* numeric; IPv4 for dpdk */
	uint16_t listen_port;       /* posix: 0 = any free port; dpdk: 1..65535 */
	uint32_t listen_ipv4;       /* dpdk: listen_addr, host order */
	const char *shm_name;
	uint32_t workers;
	uint32_t ring_entries;
	uint32_t ack_entries;
	uint32_t max_conns;
	uint32_t max_masters;
	uint32_t max_frame;
	uint32_t idle_ms;
	uint32_t login_burst;
	uint32_t login_refill_ms;
	uint32_t stats_ms;
	/* TLS (both stacks): the settings dp_tls_create takes */
	struct dp_tls_cfg tls;
	uint32_t preauth_per_src;   /* 0 = no per-source limit */
	uint32_t preauth_max;       /* per worker, < max_conns */
	uint32_t hello_ms;          /* 0 = none */
	uint32_t cp_stale_ms;       /* 0 = pid only */
	bool allow_protocol_1;      /* --allow-protocol-1 */
	uint32_t n_unbound;         /* --tls-unbound-masters */
	uint64_t unbound_masters[DP_UNBOUND_MAX];
	uint32_t n_cert_masters;    /* --tls-cert-masters */
	uint64_t cert_masters[DP_UNBOUND_MAX];
	/* posix only */
	const char *port_file;
	/* dpdk only */
	uint32_t prefix_len;
	uint32_t gateway;           /* host order, 0 = none */
	uint32_t mbufs;
	bool steer_external;        /* --steering external: queues fed per flow by the peer */
	enum dp_poll_mode poll;     /* --poll */
	const char *ready_file;
	int eal_argc;               /* EAL arguments: argv[eal_first .. argc) */
	int eal_first;
};

/* Parse argv (argv[0] = program name) into o. preset: the stack when argv may omit
 * --stack (decp-dataplane-dpdk), DP_STACK_NONE to require it. prog names the program in
 * messages and --help. Returns 0, 1 when --help was printed to stdout, or -1 after a
 * usage error printed to stderr (exit status 2). */
int dp_opts_parse(int argc, char **argv, enum dp_stack_kind preset, const char *prog,
		  struct dp_opts *o);

/* A program's start: dp_conf_expand (a --config FILE becomes options before the command
 * line's, dp_conf.h), then dp_opts_parse over the result. *argc and *argv are replaced by the
 * expanded vector the options point into; free it with dp_conf_free(*argv, original argv)
 * after the run. Returns what dp_opts_parse returns (a bad file is a usage error, -1). */
int dp_opts_load(int *argc, char ***argv, enum dp_stack_kind preset, const char *prog,
		 struct dp_opts *o);

struct dp_session_cfg;

/* The session layer's settings (dp_session.h) from parsed options: one place for both
 * transports. */
void dp_opts_session_cfg(const struct dp_opts *o, struct dp_session_cfg *c);

struct dp_shm_params;

/* The shared-memory segment's parameters (dp_shm.h) from parsed options, both transports
 * alike (the DPDK one adds its counter names). */
void dp_opts_shm_params(const struct dp_opts *o, struct dp_shm_params *sp);

/* The --help text. */
void dp_opts_usage(FILE *f, const char *prog);

#endif
