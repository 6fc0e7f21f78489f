#!/usr/bin/env bash
# run_dpdk.sh: run an ingest protocol test program unchanged against
# `decp-dataplane --stack dpdk` (issue 6).
#
# Creates a network namespace ihns<pid> (loopback up, IPv6 off) and runs the program
# inside it with IH_STACK=dpdk, IH_DPDK_TAP=iht<pid>, IH_DPDK_NET=10.99.0: the harness
# (ingest_harness.h) starts each dataplane on a net_tap interface of that name, which
# net_tap creates in the namespace, and the test's kernel TCP clients (raw clients,
# decp-master) connect to 10.99.0.1:7000 from 10.99.0.2. The namespace keeps the fixed
# address plan private, so tests run in parallel without reserving networks. The
# namespace is deleted on any exit; the program's own processes are stopped by the
# harness (ih_cleanup).
#
# usage: run_dpdk.sh PROGRAM [ARGS...]      exit: the program's, or 77 (skip) when a tap
# cannot be created (needs root and /dev/net/tun).
set -u
if [ "$(id -u)" != 0 ] || [ ! -w /dev/net/tun ]; then
	echo "SKIP: --stack dpdk on net_tap needs root and /dev/net/tun"
	exit 77
fi
. "$(dirname "$0")/../harness/rootns_guard.sh"
NS=ihns$$
cleanup() { ip netns del "$NS" 2>/dev/null; }
trap cleanup EXIT
trap 'exit 1' INT TERM
rootns_guard_start
ip netns add "$NS" || exit 1
ip -n "$NS" link set lo up
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1
IH_STACK=dpdk IH_DPDK_TAP=iht$$ IH_DPDK_NET=10.99.0 ip netns exec "$NS" "$@"
rc=$?
# The root-namespace rule (issue 16) turns a passing run into a failure.
if ! rootns_guard_report && [ "$rc" = 0 ]; then
	echo "FAIL: the root namespace carried a private address during the test"
	rc=1
fi
exit "$rc"
