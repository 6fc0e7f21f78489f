#!/usr/bin/env bash
# test_dpdk_tap.sh: `--stack dpdk` end to end over a net_tap interface (issue 6).
#
#   namespace dpns<pid>: kernel (10.77.1.2, tap dpt<pid>)  <-- net_tap -->  decp-dataplane (10.77.1.1)
#   decp-master (Linux TCP, in the namespace) ------------------------------> userspace TCP stack
#   decp-testconsumer <-- shared-memory rings --> dataplane worker lcore
#
# Cases: EAL arguments without --no-pci are refused; ICMP echo from the kernel; 5 masters
# x 2,000 signals and (on a dataplane started from a --config file) 50 masters x 20,000
# signals exactly once, in order, all ACKed; clean shutdown (exit 0, segment removed).
# Every process is stopped by PID; the tap, the namespace, the /dev/shm segment and the DPDK
# runtime dir are removed on any exit. The root namespace never carries the test's addresses
# (rootns_guard.sh checks it for the whole run).
#
# usage: test_dpdk_tap.sh DATAPLANE_DPDK_BIN TESTCONSUMER_BIN MASTER_BIN TOPO_DIR
# Prints "N passed, N failed"; exit 77 (skip) without root or /dev/net/tun.
set -u
DP=$1 CONSUMER=$2 MASTER=$3 TOPO=$4
. "$TOPO/dp_topo.sh"
. "$TOPO/dp_testlib.sh"
. "$TOPO/../../harness/rootns_guard.sh"

if [ "$(id -u)" != 0 ] || [ ! -w /dev/net/tun ]; then
	echo "SKIP: needs root and /dev/net/tun to create a tap interface"
	exit 77
fi

NAME=decp-dpdk-$$
DIR=$(mktemp -d /tmp/decp-dpdk-tap.XXXXXX)
DP_PID= CP_PID=

cleanup() {
	[ -n "$CP_PID" ] && stop_pid "$CP_PID"
	[ -n "$DP_PID" ] && stop_pid "$DP_PID"
	topo_cleanup
	rm -f "/dev/shm/$NAME"
	rm -rf "/var/run/dpdk/$NAME" "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
rootns_guard_start

run_masters() { # TAG MASTERS SIGNALS EXTRA...
	local tag=$1 m=$2 n=$3
	shift 3
	rm -f "$DIR/ready-$tag"
	"$CONSUMER" --shm "$NAME" --masters "$m" --out "$DIR/durable-$tag.log" \
		--ready-file "$DIR/ready-$tag" >"$DIR/consumer-$tag.out" 2>"$DIR/consumer-$tag.err" &
	CP_PID=$!
	if ! wait_file "$DIR/ready-$tag" 10; then
		bad "$tag: consumer ready"; return
	fi
	local t0=$(date +%s.%N)
	topo_exec timeout 200 "$MASTER" --connect "$TOPO_NET.1:7000" --masters "$m" --signals "$n" \
		--fake-ed25519 --time-limit-s 180 "$@" >"$DIR/master-$tag.out" 2>"$DIR/master-$tag.err"
	local rc=$?
	local t1=$(date +%s.%N)
	stop_pid "$CP_PID"; CP_PID=
	check "$tag: decp-master exit 0 (all ACKed)" [ "$rc" = 0 ]
	check "$tag: acked=$((m * n)) in the master summary" \
		grep -q " acked=$((m * n)) " "$DIR/master-$tag.out"
	check "$tag: durable log exactly once, in order" check_log "$DIR/durable-$tag.log" "$m" "$n"
	echo "$tag: $(cat "$DIR/master-$tag.out") wall_s=$(echo "$t1 - $t0" | bc)"
}

# 1. Refusal: no --no-pci and no allow-list (--tls off: TLS without a certificate is a usage
# error of its own, checked with the options since c596729, and would be the one named).
"$DP" --tls off --listen 10.77.0.1:7000 --shm "$NAME" -- --vdev net_tap0,iface=dptx$$ \
	--file-prefix "$NAME" >"$DIR/refuse.out" 2>"$DIR/refuse.err"
rc=$?
check "EAL args without --no-pci refused (exit 2)" [ "$rc" = 2 ]
check "refusal message names --no-pci" grep -q "must contain --no-pci" "$DIR/refuse.err"
check "refused before EAL: no tap created" bash -c "! ip link show dptx$$ >/dev/null 2>&1"

# 2. Start the dataplane on a fresh tap.
topo_reserve || { bad "reserve a test network"; echo "$passed passed, $failed failed"; exit 1; }
"$DP" --tls off --listen "$TOPO_NET.1:7000" --shm "$NAME" --ready-file "$DIR/dp.ready" \
	-- --no-pci --vdev "net_tap0,iface=$TOPO_TAP" -l 0-1 --file-prefix "$NAME" \
	--no-huge -m 256 --log-level=lib.eal:error >"$DIR/dataplane.out" 2>"$DIR/dataplane.err" &
DP_PID=$!
if ! wait_file "$DIR/dp.ready" 20 || ! topo_tap_up 10; then
	bad "dataplane start on tap $TOPO_TAP"
	dump
	echo "$passed passed, $failed failed"
	exit 1
fi
ok "dataplane started on $TOPO_TAP ($TOPO_NET.1)"

# 3. ICMP echo from the kernel side.
replies=$(topo_exec python3 "$TOPO/icmp_echo.py" "$TOPO_NET.1" 3 2>"$DIR/icmp.err")
check "ICMP echo: 3 of 3 replies (got ${replies:-none})" [ "${replies:-0}" = 3 ]

# 4. Real Linux TCP masters over the tap. Each run uses new master ids on a fresh consumer
# (the dataplane keeps its per-master durable sequence across consumer restarts).
run_masters small 5 2000
stop_pid "$DP_PID"; dp_rc=$?; DP_PID=
check "dataplane stops on SIGTERM with exit 0" [ "$dp_rc" = 0 ]
check "shared-memory segment removed" [ ! -e "/dev/shm/$NAME" ]
check "stack counted the TCP connections" grep -q "tcp_accepted" "$DIR/dataplane.err"

# A second dataplane (fresh master state) for the bulk run, started from a configuration
# file (--config, dp_conf): the same settings as the first start, EAL keys included.
rm -f "$DIR/dp.ready"; mv "$DIR/dataplane.err" "$DIR/dataplane-1.err"
cat >"$DIR/dp.conf" <<EOF
# decp-dataplane settings (docs/dataplane.md "Configuration file")
stack = dpdk
listen = $TOPO_NET.1:7000
tls = off
shm = $NAME
lcores = 0-1
no_pci = yes
vdev = net_tap0,iface=$TOPO_TAP
file_prefix = $NAME
huge = no
memory_mb = 256
log_level = lib.eal:error
EOF
"$DP" --config "$DIR/dp.conf" --ready-file "$DIR/dp.ready" \
	>"$DIR/dataplane.out" 2>"$DIR/dataplane.err" &
DP_PID=$!
if wait_file "$DIR/dp.ready" 20 && topo_tap_up 10; then
	run_masters bulk 50 20000 --threads 2
else
	bad "dataplane restart on $TOPO_TAP"
fi
stop_pid "$DP_PID"; dp_rc=$?; DP_PID=
check "dataplane (bulk) stops on SIGTERM with exit 0" [ "$dp_rc" = 0 ]
grep "decp-dataplane" "$DIR/dataplane.err" | tail -n 3
check "root namespace: no private address added during the test" rootns_guard_report

[ "$failed" = 0 ] || dump
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
