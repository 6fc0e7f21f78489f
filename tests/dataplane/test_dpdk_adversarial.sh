#!/usr/bin/env bash
# test_dpdk_adversarial.sh: scapy attacks on `decp-dataplane --stack dpdk` while a
# legitimate master streams (issue 6, adversarial acceptance).
#
#   network namespace dpadv<pid> (created here, IPv6 off; nothing else lives in it)
#   +-------------------------------------------------------------------------------+
#   | decp-dataplane --stack dpdk (10.99.0.1) --net_tap--> tap dpv<pid> (10.99.0.2)   |
#   |   decp-master (Linux TCP, 600 signals/s)  --------------^                       |
#   |   dp_adversary.py (scapy, AF_PACKET on the tap: any source, any flags) --^      |
#   |   decp-testconsumer, decpctl top --json (counters from the shared stats block)  |
#   +-------------------------------------------------------------------------------+
# Everything runs inside the namespace (`ip netns exec`): the tap is created there by
# net_tap, the SYN-ACKs to forged sources die there, and the session doorbells
# (abstract unix sockets, per namespace) connect the dataplane and the consumer. The
# address plan is private to the namespace, so no 10.77.X reservation is needed.
#
# Cases (topo/dp_adversary.py): ARP; SYN flood from random sources (no state, RSS and
# mbuf pool flat, ACKs keep flowing); blind RST and SYN injection at the legitimate
# session (out of window and in window: RFC 5961 counters, challenge-ACK limit, no
# reset); overlapping segments with conflicting bytes (first copy wins, proven through
# the session layer); 1-byte segments (in order, each ACKed; out of order against the
# bounded queue); out-of-window and old data; random garbage frames and ten named
# malformations, each with its own drop counter. The master streams at 600/s for as long as
# the attacks last (however slow a loaded machine makes them) and is then stopped with
# SIGTERM, which drains: then every signal it sent is ACKed with no reconnect, exactly once and in order; the dataplane still running and
# stopping with exit 0.
#
# usage: test_dpdk_adversarial.sh DATAPLANE_BIN TESTCONSUMER_BIN MASTER_BIN DECPCTL_BIN TOPO_DIR
# Prints "N passed, N failed"; exit 77 (skip) without root, /dev/net/tun or scapy.
set -u
DP=$1 CONSUMER=$2 MASTER=$3 DECPCTL=$4 TOPO=$5
. "$TOPO/dp_testlib.sh"
. "$TOPO/../../harness/rootns_guard.sh"

PY=/usr/bin/python3   # Debian's: the python3 first on PATH cannot import scapy
if [ "$(id -u)" != 0 ] || [ ! -w /dev/net/tun ]; then
	echo "SKIP: needs root and /dev/net/tun to create a namespace and a tap interface"
	exit 77
fi
if ! "$PY" -c "import scapy.all" 2>/dev/null; then
	echo "SKIP: $PY cannot import scapy (tools/bootstrap installs python3-scapy)"
	exit 77
fi

NAME=decp-adv-$$
NS=dpadv$$
TAP=dpv$$
NET=10.99.0
SIGNALS=200000   # an upper bound: the master is stopped (and drains) after the attacks
DIR=$(mktemp -d /tmp/decp-dpdk-adv.XXXXXX)
DP_PID= CP_PID= M_PID=

cleanup() {
	[ -n "$M_PID" ] && stop_pid "$M_PID"
	[ -n "$CP_PID" ] && stop_pid "$CP_PID"
	[ -n "$DP_PID" ] && stop_pid "$DP_PID"
	ip netns del "$NS" 2>/dev/null   # takes the tap with it if still there
	rm -f "/dev/shm/$NAME"
	rm -rf "/var/run/dpdk/$NAME" "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
rootns_guard_start

in_ns() { ip netns exec "$NS" "$@"; }

ip netns add "$NS" || { echo "FAIL: ip netns add $NS"; echo "0 passed, 1 failed"; exit 1; }
ip -n "$NS" link set lo up
# No IPv6 chatter on the tap: the EtherType counter must count only our frames.
in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1

# `ip netns exec` execs the program: $! is the dataplane's own PID (no function or
# subshell in between, so stop_pid signals the process itself).
# --idle-timeout-ms: the hand-made connections of the 1-byte and out-of-window cases never
# complete a frame; on a loaded machine scapy needs longer than the default 30 s for them,
# and the idle timeout is not what this test is about (ingest_badinput tests it).
# --hello-timeout-ms 0: those connections never log in either; the pre-login budget
# (tests/security) would close them after 2 s, mid-case.
ip netns exec "$NS" "$DP" --stack dpdk --tls off --listen "$NET.1:7000" --shm "$NAME" \
	--ready-file "$DIR/dp.ready" --idle-timeout-ms 600000 --hello-timeout-ms 0 \
	-- --no-pci --vdev "net_tap0,iface=$TAP" -l 0-1 --file-prefix "$NAME" \
	--no-huge -m 256 --log-level=lib.eal:error >"$DIR/dataplane.out" 2>"$DIR/dataplane.err" &
DP_PID=$!
up=0
if wait_file "$DIR/dp.ready" 20; then
	for _ in $(seq 50); do
		ip -n "$NS" link show "$TAP" >/dev/null 2>&1 && { up=1; break; }
		sleep 0.1
	done
fi
if [ "$up" = 1 ]; then
	ip -n "$NS" addr add "$NET.2/24" dev "$TAP" &&
		ip -n "$NS" link set "$TAP" txqueuelen 10000 up || up=0
fi
if [ "$up" != 1 ]; then
	bad "dataplane started on tap $TAP in namespace $NS"
	dump
	echo "$passed passed, $failed failed"
	exit 1
fi
ok "decp-dataplane --stack dpdk started on $TAP in namespace $NS"

ip netns exec "$NS" "$CONSUMER" --shm "$NAME" --masters 1 --out "$DIR/durable.log" \
	--ready-file "$DIR/consumer.ready" >"$DIR/consumer.out" 2>"$DIR/consumer.err" &
CP_PID=$!
wait_file "$DIR/consumer.ready" 10 || bad "consumer ready"

# --ack-timeout-ms 10000: what the checks below ask is that no attack resets, desynchronises
# or starves the session; on a loaded machine (ASan, parallel tests, scapy) the worker can
# lose its CPU for a few seconds, which the default 3 s would turn into a reconnect. The ACK
# latency distribution is printed with the summary.
ip netns exec "$NS" timeout 400 "$MASTER" --connect "$NET.1:7000" --masters 1 --signals "$SIGNALS" \
	--rate 600 --fake-ed25519 --time-limit-s 360 --ack-timeout-ms 10000 \
	>"$DIR/master.out" 2>"$DIR/master.err" &
M_PID=$!
# The attacks start once the legitimate session is logged in and its signals are ACKed.
acks() { "$DECPCTL" top --shm "$NAME" --once --json --interval 0.05 2>/dev/null |
	"$PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["total"]["counters"]["acks_sent"])' 2>/dev/null; }
for _ in $(seq 300); do [ "$(acks)" -gt 0 ] 2>/dev/null && break; sleep 0.1; done
check "legitimate master logged in and ACKed before the attacks (acks_sent $(acks))" \
	[ "$(acks)" -gt 0 ]

in_ns timeout 300 "$PY" "$TOPO/dp_adversary.py" --iface "$TAP" --dst "$NET.1" --port 7000 \
	--src "$NET.2" --decpctl "$DECPCTL" --shm "$NAME" --dp-pid "$DP_PID" --seed 6 \
	arp syn_flood blind_rst_syn overlap one_byte out_of_window garbage \
	>"$DIR/adversary.out" 2>"$DIR/adversary.err"
adv_rc=$?
cat "$DIR/adversary.out"
passed=$((passed + $(grep -c '^PASS: ' "$DIR/adversary.out")))
failed=$((failed + $(grep -c '^FAIL: ' "$DIR/adversary.out")))
check "adversary script completed (exit $adv_rc)" [ "$adv_rc" = 0 ]
check "dataplane alive after the attacks (no crash)" kill -0 "$DP_PID"

# Stop the master: it sends nothing new and drains what it sent. The signal goes to the
# master itself, not to `timeout` (which would deliver it twice, to the master and to its
# process group, and a second signal means "stop at once").
pkill -TERM -P "$M_PID" 2>/dev/null
wait "$M_PID"; m_rc=$?; M_PID=
stop_pid "$CP_PID"; CP_PID=
echo "legitimate master: $(cat "$DIR/master.out")"
sent=$(sed -n 's/.* signals=\([0-9]*\) .*/\1/p' "$DIR/master.out")
check "legitimate master: streamed through every attack and was stopped (stopped=1, ${sent:-0} signals)" \
	grep -q " stopped=1 " "$DIR/master.out"
check "legitimate master: exit 0 (all ${sent:-0} signals sent were ACKed)" [ "$m_rc" = 0 ]
check "legitimate master: acked=${sent:-0}" grep -q " acked=${sent:-x} " "$DIR/master.out"
check "legitimate master: no reconnect, no ACK timeout" \
	grep -q " reconnects=0 ack_timeouts=0 " "$DIR/master.out"
check "legitimate master: durable log exactly once, in order" \
	check_log "$DIR/durable.log" 1 "${sent:-1}"

stop_pid "$DP_PID"; dp_rc=$?; DP_PID=
check "dataplane stops on SIGTERM with exit 0" [ "$dp_rc" = 0 ]
grep "decp-dataplane dpdk worker" "$DIR/dataplane.err" | tail -n 1
check "root namespace: no private address added during the test" rootns_guard_report

[ "$failed" = 0 ] || dump
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
