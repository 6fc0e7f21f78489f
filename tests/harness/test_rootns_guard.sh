#!/usr/bin/env bash
# test_rootns_guard.sh: the root-namespace address guard (rootns_guard.sh, issue 16) fails a
# test that adds a private address, and passes one that does not.
#
# The guard reads the addresses of the namespace it runs in, so this test runs it inside a
# network namespace it creates (there it is that namespace's "root"): the addresses it adds
# never touch the machine's real root namespace.
#
# usage: test_rootns_guard.sh GUARD_SCRIPT       Prints "N passed, N failed"; 77 without root.
set -u
GUARD=$1
if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1; then
	echo "SKIP: needs root and network namespaces"
	exit 77
fi
NS=rgns$$
trap 'ip netns del "$NS" 2>/dev/null' EXIT
ip netns add "$NS" || { echo "0 passed, 1 failed"; exit 1; }
ip -n "$NS" link set lo up
ip -n "$NS" link add rgd0 type veth peer name rgd1   # no dummy driver on every kernel
ip -n "$NS" link set rgd0 up
ip -n "$NS" addr add 10.66.0.1/24 dev rgd0   # there before the guard starts: never reported

passed=0 failed=0
check() { local what=$1; shift; if "$@"; then passed=$((passed + 1)); echo "ok: $what";
	else failed=$((failed + 1)); echo "FAIL: $what"; fi; }
in_ns() { ip netns exec "$NS" bash -c ". '$GUARD'; $1"; }

check "nothing added: the guard passes" in_ns 'rootns_guard_start; rootns_guard_report'
check "a public documentation address added: the guard passes" \
	in_ns 'rootns_guard_start; ip addr add 198.51.100.7/32 dev rgd0; rootns_guard_report'
for a in 10.77.1.2 172.20.0.2 192.168.7.2; do
	out=$(in_ns "rootns_guard_start; ip addr add $a/24 dev rgd0; rootns_guard_report" 2>&1)
	rc=$?
	check "$a added and left: the guard fails and names it" \
		test "$rc" = 1 -a -n "$(grep -F "rgd0 $a/24" <<<"$out")"
done
# Added and removed again between the start and the report: the sampler saw it.
out=$(in_ns 'rootns_guard_start; ip addr add 10.78.0.2/24 dev rgd0; sleep 1;
	ip addr del 10.78.0.2/24 dev rgd0; rootns_guard_report' 2>&1)
rc=$?
check "an address added and removed during the test: the guard fails" \
	test "$rc" = 1 -a -n "$(grep -F "10.78.0.2/24" <<<"$out")"
# The sampler stops at the report, and by itself when the test's shell is gone without one.
gone() { # PID: 0 once the process is gone (bounded: 10 s)
	local i
	for i in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}
pid=$(in_ns 'rootns_guard_start; p=$ROOTNS_PID; rootns_guard_report; echo $p')
check "the sampler stops at the report (pid ${pid:-none})" gone "${pid:-0}"
pid=$(in_ns 'rootns_guard_start; echo $ROOTNS_PID' </dev/null)
check "the sampler stops by itself when the test exits without a report (pid ${pid:-none})" \
	gone "${pid:-0}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
