# dp_topo.sh: test topology for the DPDK dataplane (issue 6). Source it from bash.
#
# Every address these functions give lives inside a network namespace the test creates:
# no interface of the root namespace ever carries a project address (issue 16; the
# root-namespace guard in dp_testlib.sh fails a test that breaks this). The address plan is
# therefore private to each test and the same for all of them:
#   10.77.1.1      the DPDK dataplane (its userspace stack, MAC of the net_tap PMD)
#   10.77.1.2      the kernel side, inside namespace dpns<pid> (masters connect from there)
#   tap name       dpt<pid of the test>, created by net_tap in the root namespace when the
#                  dataplane starts (--vdev net_tap0,iface=NAME), then moved into dpns<pid>
#                  (net_tap keeps its queues: they are file descriptors, not names)
#
# Functions (each returns non-zero with a message on stderr on failure):
#   topo_reserve          names for this test: sets TOPO_NET, TOPO_TAP, TOPO_NS
#   topo_tap_up [SECS]    wait for $TOPO_TAP to appear, move it into a new namespace
#                         $TOPO_NS, give it $TOPO_NET.2/24 there and set it up (txqueuelen
#                         10000). Run the clients with `topo_exec CMD...`.
#   topo_exec CMD...      run CMD inside $TOPO_NS (exec: $! of `topo_exec ... &` is CMD's pid)
#   topo_relay_net        impairment topology (after the dataplane created $TOPO_TAP):
#                         tap up without address; veth pair dpa<pid> (root namespace, no
#                         address) <-> dpb<pid> in a new namespace $TOPO_NS holding
#                         $TOPO_NET.2/24; offloads off on both veth ends (the relay copies
#                         frames: no TSO super-frames, no partial checksums). Sets TOPO_VA.
#                         Then run: dp_relay --a $TOPO_VA --b $TOPO_TAP ... and the clients
#                         with `topo_exec`.
#   topo_cleanup          delete the tap/veth/namespace if still there
#
# The caller installs `trap ... EXIT` that calls topo_cleanup (and stops its processes).

topo_reserve() {
	TOPO_NET=10.77.1
	TOPO_TAP=dpt$$
	TOPO_NS=dpns$$
}

topo_exec() {
	ip netns exec "$TOPO_NS" "$@"
}

# topo_wait_tap SECS: 0 once $TOPO_TAP exists in the root namespace.
topo_wait_tap() {
	local i
	for i in $(seq $(( $1 * 10 ))); do
		ip link show "$TOPO_TAP" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "dp_topo: tap $TOPO_TAP did not appear within $1 s" >&2
	return 1
}

topo_tap_up() {
	topo_wait_tap "${1:-10}" || return 1
	if ! ip netns list | grep -qw "$TOPO_NS"; then
		ip netns add "$TOPO_NS" || return 1
		ip -n "$TOPO_NS" link set lo up
	fi
	# A long kernel-side queue: with the default 1000 frames the kernel drops bursts of
	# master segments whenever the poll loop loses its CPU (tap TX "dropped").
	ip link set "$TOPO_TAP" netns "$TOPO_NS" &&
		ip -n "$TOPO_NS" addr add "$TOPO_NET.2/24" dev "$TOPO_TAP" &&
		ip -n "$TOPO_NS" link set "$TOPO_TAP" txqueuelen 10000 up
}

topo_relay_net() {
	topo_wait_tap "${1:-10}" || return 1
	ip link set "$TOPO_TAP" txqueuelen 10000 up || return 1
	TOPO_VA=dpa$$
	ip netns add "$TOPO_NS" || return 1
	ip link add "$TOPO_VA" type veth peer name "dpb$$" netns "$TOPO_NS" || return 1
	ip link set "$TOPO_VA" up &&
		ethtool -K "$TOPO_VA" gro off tso off gso off tx off >/dev/null 2>&1 &&
		ip -n "$TOPO_NS" addr add "$TOPO_NET.2/24" dev "dpb$$" &&
		ip -n "$TOPO_NS" link set "dpb$$" up &&
		ip -n "$TOPO_NS" link set lo up &&
		ip netns exec "$TOPO_NS" ethtool -K "dpb$$" gro off tso off gso off tx off \
			>/dev/null 2>&1
}

topo_cleanup() {
	if [ -n "${TOPO_VA:-}" ] && ip link show "$TOPO_VA" >/dev/null 2>&1; then
		ip link del "$TOPO_VA" 2>/dev/null
	fi
	if [ -n "${TOPO_NS:-}" ] && ip netns list | grep -qw "$TOPO_NS"; then
		ip netns del "$TOPO_NS" 2>/dev/null   # takes the tap with it when it is there
	fi
	if [ -n "${TOPO_TAP:-}" ] && ip link show "$TOPO_TAP" >/dev/null 2>&1; then
		ip link del "$TOPO_TAP" 2>/dev/null
	fi
}
