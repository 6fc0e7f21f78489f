#!/usr/bin/env bash
# test_dpdk_relay.sh: `--stack dpdk` through the seeded impairment relay (issue 6).
#
#   namespace dpns<pid>: decp-master (Linux TCP, 10.77.X.2 on veth dpb<pid>)
#        | veth
#   dpa<pid>  <-- dp_relay: 5% loss, 10% reordering, 5% duplication, both directions -->
#   tap dpt<pid>  <-- net_tap -->  decp-dataplane-dpdk (10.77.X.1)  <-- shm -->  consumer
#
# Checks: ICMP echo answered through the relay (some of 10: loss is seeded, not zero);
# 50 masters x 20,000 signals (DPDK_RELAY_MASTERS / DPDK_RELAY_SIGNALS) exactly once, in
# order, all ACKed; the relay really impaired (lost, duplicated and reordered frames in both
# directions); the stack counted duplicates or reassembly; clean shutdown. Processes are
# stopped by PID; tap, veth, namespace, segment, DPDK runtime dir and network lock are
# removed on any exit.
#
# usage: test_dpdk_relay.sh DATAPLANE_DPDK_BIN TESTCONSUMER_BIN MASTER_BIN TOPO_DIR RELAY_BIN
# Prints "N passed, N failed"; exit 77 (skip) without root, /dev/net/tun or ethtool.
set -u
DP=$1 CONSUMER=$2 MASTER=$3 TOPO=$4 RELAY=$5
. "$TOPO/dp_topo.sh"
. "$TOPO/dp_testlib.sh"
. "$TOPO/../../harness/rootns_guard.sh"
MASTERS=${DPDK_RELAY_MASTERS:-50}
SIGNALS=${DPDK_RELAY_SIGNALS:-20000}

if [ "$(id -u)" != 0 ] || [ ! -w /dev/net/tun ] || ! command -v ethtool >/dev/null; then
	echo "SKIP: needs root, /dev/net/tun and ethtool (tap, veth and namespace)"
	exit 77
fi

NAME=decp-dpdkr-$$
DIR=$(mktemp -d /tmp/decp-dpdk-relay.XXXXXX)
DP_PID= CP_PID= RL_PID=

cleanup() {
	[ -n "$CP_PID" ] && stop_pid "$CP_PID"
	[ -n "$RL_PID" ] && stop_pid "$RL_PID"
	[ -n "$DP_PID" ] && stop_pid "$DP_PID"
	topo_cleanup
	rm -f "/dev/shm/$NAME"
	rm -rf "/var/run/dpdk/$NAME" "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

finish() {
	check "root namespace: no private address added during the test" rootns_guard_report
	[ "$failed" = 0 ] || dump
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}

rootns_guard_start
topo_reserve || { bad "reserve a test network"; finish; }
"$DP" --tls off --listen "$TOPO_NET.1:7000" --shm "$NAME" --ready-file "$DIR/dp.ready" \
	-- --no-pci --vdev "net_tap0,iface=$TOPO_TAP" -l 0-1 --file-prefix "$NAME" \
	--no-huge -m 256 --log-level=lib.eal:error >"$DIR/dataplane.out" 2>"$DIR/dataplane.err" &
DP_PID=$!
if ! wait_file "$DIR/dp.ready" 20 || ! topo_relay_net 10; then
	bad "dataplane and relay topology"
	finish
fi
"$RELAY" --a "$TOPO_VA" --b "$TOPO_TAP" --loss 0.05 --reorder 0.10 --dup 0.05 --seed 6 \
	2>"$DIR/relay.err" &
RL_PID=$!
sleep 0.3
ok "topology: $TOPO_NS/$TOPO_VA <-> relay <-> $TOPO_TAP ($TOPO_NET.0/24)"

replies=$(topo_exec python3 "$TOPO/icmp_echo.py" "$TOPO_NET.1" 10 2>/dev/null)
check "ICMP echo through the relay: ${replies:-0} of 10 (>= 5)" [ "${replies:-0}" -ge 5 ]

"$CONSUMER" --shm "$NAME" --masters "$MASTERS" --out "$DIR/durable.log" \
	--ready-file "$DIR/cready" >"$DIR/consumer.out" 2>"$DIR/consumer.err" &
CP_PID=$!
wait_file "$DIR/cready" 10 || bad "consumer ready"
topo_exec timeout 200 "$MASTER" --connect "$TOPO_NET.1:7000" \
	--masters "$MASTERS" --signals "$SIGNALS" --fake-ed25519 --time-limit-s 180 \
	>"$DIR/master.out" 2>"$DIR/master.err"
rc=$?
stop_pid "$CP_PID"; CP_PID=
check "decp-master exit 0 (all ACKed) through loss/reorder/duplication" [ "$rc" = 0 ]
check "acked=$((MASTERS * SIGNALS))" grep -q " acked=$((MASTERS * SIGNALS)) " "$DIR/master.out"
check "durable log exactly once, in order" check_log "$DIR/durable.log" "$MASTERS" "$SIGNALS"
cat "$DIR/master.out"

stop_pid "$RL_PID"; RL_PID=
for d in 'a->b' 'b->a'; do
	line=$(grep "dp_relay $d:" "$DIR/relay.err")
	echo "$line"
	check "relay $d lost, duplicated and reordered frames" \
		bash -c "echo '$line' | grep -Eq 'lost=[1-9].*duplicated=[1-9].*reordered=[1-9]'"
done
stop_pid "$DP_PID"; dp_rc=$?; DP_PID=
check "dataplane stops on SIGTERM with exit 0" [ "$dp_rc" = 0 ]
check "stack saw the impairment (duplicates or reassembly counted)" \
	grep -Eq "tcp_ooo_queued|drop_tcp_dup_data" "$DIR/dataplane.err"
grep "decp-dataplane" "$DIR/dataplane.err" | tail -n 3
finish
