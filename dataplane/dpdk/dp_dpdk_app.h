/*
 * dp_dpdk_app: `--stack dpdk` as a whole program: options, EAL start (refused without
 * --no-pci or a PCI allow-list), port, shared memory, tables, workers, main-lcore control
 * loop until SIGTERM/SIGINT, orderly shutdown. Same options as decp-dataplane plus the
 * stack's IPv4 settings; EAL arguments follow `--` (see --help).
 *
 * decp-dataplane-dpdk's main() is this function; decp-dataplane calls it for
 * `--stack dpdk` with its unchanged argv. Call it at most once per process, from main,
 * before anything parsed argv with getopt.
 * Returns the process exit status: 0 clean stop or --help, 1 runtime failure, 2 usage
 * error or refused EAL arguments.
 */
#ifndef DECP_DP_DPDK_APP_H
#define DECP_DP_DPDK_APP_H

int dp_dpdk_main(int argc, char **argv);

#endif
