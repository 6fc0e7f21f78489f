# dp_topo.sh: test topology for the DPDK dataplane (issue 6). Source it from bash.
#
# Address plan (only on interfaces these functions create; never the machine's NIC):
#   10.77.X.0/24   one test network per running test, X in 1..254, reserved with an
#                  exclusive lock file /tmp/decp-topo-10.77.X.lock (tests run in parallel)
#   10.77.X.1      the DPDK dataplane (its userspace stack, MAC of the net_tap PMD)
#   10.77.X.2      the kernel side of the tap (masters connect from here)
#   tap name       dpt<pid of the test>, created by net_tap when the dataplane starts
#                  (--vdev net_tap0,iface=NAME) and removed by it when it exits
#
# Functions (each returns non-zero with a message on stderr on failure):
#   topo_reserve          pick a free X: sets TOPO_X, TOPO_NET (10.77.X), TOPO_TAP, TOPO_LOCK
#   topo_tap_up [SECS]    wait for $TOPO_TAP to appear, add $TOPO_NET.2/24, set it up
#                         with txqueuelen 10000
#   topo_relay_net        impairment topology (after the dataplane created $TOPO_TAP):
#                         tap up without address; veth pair dpa<pid> (root namespace) <->
#                         dpb<pid> in a new namespace dpns<pid> holding $TOPO_NET.2/24;
#                         offloads off on both veth ends (the relay copies frames: no TSO
#                         super-frames, no partial checksums). Sets TOPO_NS, TOPO_VA.
#                         Then run: dp_relay --a $TOPO_VA --b $TOPO_TAP ... and the clients
#                         with `ip netns exec $TOPO_NS`.
#   topo_cleanup          delete the tap/veth/namespace if still there, release the lock
#
# The caller installs `trap ... EXIT` that calls topo_cleanup (and stops its processes).

topo_reserve() {
	local base=$(( $$ % 254 )) i x
	for i in $(seq 0 253); do
		x=$(( (base + i) % 254 + 1 ))
		if ( set -o noclobber; echo $$ > "/tmp/decp-topo-10.77.$x.lock" ) 2>/dev/null; then
			if ip -4 -o addr show | grep -q " 10\.77\.$x\."; then
				rm -f "/tmp/decp-topo-10.77.$x.lock"   # in use by something else
				continue
			fi
			TOPO_X=$x
			TOPO_NET=10.77.$x
			TOPO_LOCK=/tmp/decp-topo-10.77.$x.lock
			TOPO_TAP=dpt$$
			return 0
		fi
	done
	echo "dp_topo: no free 10.77.X.0/24 test network" >&2
	return 1
}

topo_tap_up() {
	local secs=${1:-10} i
	for i in $(seq $(( secs * 10 ))); do
		ip link show "$TOPO_TAP" >/dev/null 2>&1 && break
		sleep 0.1
	done
	if ! ip link show "$TOPO_TAP" >/dev/null 2>&1; then
		echo "dp_topo: tap $TOPO_TAP did not appear" >&2
		return 1
	fi
	# A long kernel-side queue: with the default 1000 frames the kernel drops bursts of
	# master segments whenever the poll loop loses its CPU (tap TX "dropped").
	ip addr add "$TOPO_NET.2/24" dev "$TOPO_TAP" &&
		ip link set "$TOPO_TAP" txqueuelen 10000 up
}

topo_relay_net() {
	local secs=${1:-10} i
	for i in $(seq $(( secs * 10 ))); do
		ip link show "$TOPO_TAP" >/dev/null 2>&1 && break
		sleep 0.1
	done
	ip link set "$TOPO_TAP" txqueuelen 10000 up || return 1
	TOPO_NS=dpns$$
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
	if [ -n "${TOPO_NS:-}" ]; then
		ip netns del "$TOPO_NS" 2>/dev/null
	fi
	if [ -n "${TOPO_TAP:-}" ] && ip link show "$TOPO_TAP" >/dev/null 2>&1; then
		ip link del "$TOPO_TAP" 2>/dev/null
	fi
	if [ -n "${TOPO_LOCK:-}" ] && [ "$(cat "$TOPO_LOCK" 2>/dev/null)" = "$$" ]; then
		rm -f "$TOPO_LOCK"
	fi
}
