/*
 * dp_dpdk_app: `--stack dpdk` as a whole program: EAL start (refused without --no-pci or
 * a PCI allow-list), port, shared memory (with the stack's counter names), tables,
 * workers, main-lcore control loop until SIGTERM/SIGINT, orderly shutdown. Options are
 * decp-dataplane's (dp_opts.h); EAL arguments follow `--`.
 *
 * Threading: call one of these at most once per process, from main.
 * Returns the process exit status: 0 clean stop or --help, 1 runtime failure, 2 usage
 * error or refused EAL arguments.
 */
#ifndef DECP_DP_DPDK_APP_H
#define DECP_DP_DPDK_APP_H

#include "dp_opts.h"

/* Run with options already parsed by dp_opts_parse (o->stack == DP_STACK_DPDK) from the
 * same argc/argv (the EAL arguments are taken from there). prog names it in messages. */
int dp_dpdk_run(const struct dp_opts *o, int argc, char **argv, const char *prog);

/* decp-dataplane-dpdk's main(): parse (--stack may be omitted), then dp_dpdk_run. */
int dp_dpdk_main(int argc, char **argv);

#endif
