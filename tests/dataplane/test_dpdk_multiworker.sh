#!/usr/bin/env bash
# test_dpdk_multiworker.sh: `--stack dpdk --workers 2` on a 2-queue net_memif port (issue 6).
#
#   bench_dpgen --queues 2 (DPDK, hand-made TCP)  <-- net_memif, 2 queue pairs -->
#   decp-dataplane --stack dpdk --workers 2 --steering external (worker i owns queue i)
#   -> shared-memory rings -> decp-testconsumer -> ACK ring of the enqueuing worker
#
# net_memif has no RSS: the generator steers each connection to the queue a NIC's RSS would
# pick (Toeplitz hash of the 4-tuple, default key, round-robin redirection table), which is
# what --steering external asks of the device's peer. Cases:
#   1. --workers 2 on the memif port without --steering external is refused ("has no RSS").
#   2. 20 masters x 5,000 signals over both queues: the generator exits 0, which means every
#      Ack was status OK for exactly the next sequence of its master (in order, once) and
#      every segment of a connection came back on the queue it was steered to (the owning
#      worker answered); both queues carry connections.
#   3. The durable log holds 1..5,000 for every master, once, in order.
#   4. Share-nothing, per worker from the shared stats block (decpctl top --json): worker i
#      accepted exactly the connections steered to queue i (tcp_accepted, logins), enqueued
#      and ACKed exactly their signals, and no frame reached a worker that does not own its
#      connection (drop_tcp_cookie_bad, drop_tcp_no_conn, ack_stale, rejects all 0).
#   5. SIGTERM: exit 0, segment removed.
# Everything is stopped by PID; the memif socket, segment and EAL runtime dirs are removed
# on any exit.
#
# usage: test_dpdk_multiworker.sh DATAPLANE_BIN TESTCONSUMER_BIN BENCH_DPGEN_BIN DECPCTL_BIN
#        TOPO_DIR
# Prints "N passed, N failed"; exit 77 (skip) without root (DPDK runtime dir, memif socket).
set -u
DP=$1 CONSUMER=$2 GEN=$3 CTL=$4 TOPO=$5
. "$TOPO/dp_testlib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root for DPDK"
	exit 77
fi

M=20 N=5000
NAME=decp-dpmw-$$
DIR=$(mktemp -d /tmp/decp-dpdk-mw.XXXXXX)
DP_PID= CP_PID= GEN_PID=
# Three lcores on however many CPUs there are: main on CPU 0, worker 1 on CPU 0, worker 2
# on the last CPU (the main lcore sleeps between control polls).
LAST=$(( $(nproc) - 1 ))
LCORES="0@0,1@0,2@$LAST"

# Order matters: the dataplane stops before the generator leaves the memif link (net_memif
# unmaps the peer's rings on disconnect while a poller may still read them).
cleanup() {
	[ -n "$CP_PID" ] && stop_pid "$CP_PID"
	[ -n "$DP_PID" ] && stop_pid "$DP_PID"
	[ -n "$GEN_PID" ] && stop_pid "$GEN_PID"
	rm -f "/dev/shm/$NAME" "/dev/shm/$NAME-r"
	rm -rf "/var/run/dpdk/$NAME-d" "/var/run/dpdk/$NAME-g" "/var/run/dpdk/$NAME-r" "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

json_get() { # FILE PATH...: a value from decpctl top --json
	/usr/bin/python3 -c 'import json,sys; o=json.load(open(sys.argv[1]))
for k in sys.argv[2:]: o=o[int(k)] if isinstance(o, list) else o[k]
print(o)' "$@"
}

# 1. Two workers on a port without RSS and without --steering external: refused.
timeout 60 "$DP" --stack dpdk --tls off --listen 10.88.0.1:7000 --shm "$NAME-r" --workers 2 \
	-- --no-pci --vdev "net_memif0,role=server,socket=$DIR/refuse.sock" --lcores "$LCORES" \
	--file-prefix "$NAME-r" --no-huge -m 256 --log-level=lib.eal:error \
	>"$DIR/refuse.out" 2>"$DIR/refuse.err"
rc=$?
check "--workers 2 without RSS or --steering external refused (exit $rc)" [ "$rc" != 0 ]
check "refusal names RSS and --steering external" \
	grep -q "has no RSS.*--steering external" "$DIR/refuse.err"

# 2. Two workers, external steering, generator on two queues. --preauth-per-source 64: the
# generator opens all 20 masters' connections at once from one address (default limit 16).
"$DP" --stack dpdk --tls off --listen 10.88.0.1:7000 --shm "$NAME" --workers 2 --steering external \
	--preauth-per-source 64 --ready-file "$DIR/dp.ready" -- --no-pci \
	--vdev "net_memif0,role=server,socket=$DIR/memif.sock" --lcores "$LCORES" \
	--file-prefix "$NAME-d" --no-huge -m 256 --log-level=lib.eal:error \
	>"$DIR/dataplane.out" 2>"$DIR/dataplane.err" &
DP_PID=$!
if ! wait_file "$DIR/dp.ready" 30; then
	bad "dataplane start with 2 workers"; dump
	echo "$passed passed, $failed failed"; exit 1
fi
ok "dataplane started with 2 workers on a 2-queue memif port"
check "start-up line says external steering" grep -q "2 worker(s) with external steering" \
	"$DIR/dataplane.err"
"$CONSUMER" --shm "$NAME" --masters "$M" --out "$DIR/durable.log" \
	--ready-file "$DIR/cons.ready" >"$DIR/consumer.out" 2>"$DIR/consumer.err" &
CP_PID=$!
if ! wait_file "$DIR/cons.ready" 10; then
	bad "consumer ready"; dump
	echo "$passed passed, $failed failed"; exit 1
fi
# The generator reports, then lingers (port open, not polled) until stopped after the
# dataplane; its exit status is the run's verdict.
"$GEN" --src 10.88.0.2 --dst 10.88.0.1:7000 --masters "$M" --signals "$N" \
	--window 64 --queues 2 --time-limit-s 120 --linger-s 60 -- --no-pci \
	--vdev "net_memif0,role=client,socket=$DIR/memif.sock" -l 0 --file-prefix "$NAME-g" \
	--no-huge -m 256 --log-level=lib.eal:error >"$DIR/gen.out" 2>"$DIR/gen.err" &
GEN_PID=$!
for _ in $(seq 1500); do
	grep -q "^bench_dpgen:" "$DIR/gen.out" 2>/dev/null && break
	kill -0 "$GEN_PID" 2>/dev/null || break
	sleep 0.1
done
echo "generator: $(cat "$DIR/gen.out")"
check "acked=$((M * N)) errors=0" grep -q " acked=$((M * N)) errors=0 " "$DIR/gen.out"
split=$(sed -n 's/.*conns_per_queue=\([0-9]*,[0-9]*\).*/\1/p' "$DIR/gen.out")
q0=0 q1=0
[ -n "$split" ] && q0=${split%,*} q1=${split#*,}
check "both queues carry connections ($split)" [ "$q0" -gt 0 -a "$q1" -gt 0 -a \
	"$((q0 + q1))" = "$M" ]

# 4. Per-worker counters while the dataplane still runs.
"$CTL" top --shm "$NAME" --once --json --interval 0.05 >"$DIR/top.json" 2>"$DIR/top.err"
check "decpctl top --json read the segment" [ -s "$DIR/top.json" ]
for w in 0 1; do
	want=$([ $w = 0 ] && echo "$q0" || echo "$q1")
	acc=$(json_get "$DIR/top.json" workers $w transport tcp_accepted 2>/dev/null)
	log=$(json_get "$DIR/top.json" workers $w counters logins 2>/dev/null)
	enq=$(json_get "$DIR/top.json" workers $w counters signals_enqueued 2>/dev/null)
	ack=$(json_get "$DIR/top.json" workers $w counters acks_sent 2>/dev/null)
	echo "worker $w: tcp_accepted=$acc logins=$log signals_enqueued=$enq acks_sent=$ack"
	check "worker $w accepted exactly the $want connections of queue $w" \
		[ "$acc" = "$want" -a "$log" = "$want" ]
	check "worker $w enqueued and ACKed exactly their signals" \
		[ "$enq" = "$((want * N))" -a "$ack" = "$((want * N))" ]
	for k in "transport drop_tcp_cookie_bad" "transport drop_tcp_no_conn" \
		"counters ack_stale" "counters nacks_sent" "counters signals_reenqueued"; do
		# shellcheck disable=SC2086
		v=$(json_get "$DIR/top.json" workers $w $k 2>/dev/null)
		check "worker $w ${k#* } = 0" [ "$v" = 0 ]
	done
done

stop_pid "$CP_PID"; CP_PID=
check "durable log exactly once, in order ($M x $N)" check_log "$DIR/durable.log" "$M" "$N"

# 5. Clean shutdown: the dataplane, then the generator (its exit status: the run's verdict).
stop_pid "$DP_PID"
rc=$?
DP_PID=
check "dataplane SIGTERM exit 0" [ "$rc" = 0 ]
stop_pid "$GEN_PID"
grc=$?
GEN_PID=
check "generator exit 0: all ACKed, in order, once, each on its own queue" [ "$grc" = 0 ]
check "segment removed" [ ! -e "/dev/shm/$NAME" ]
[ "$failed" = 0 ] || dump
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
