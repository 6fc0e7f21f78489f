#!/usr/bin/env bash
# tls_bench.sh: TLS 1.3 against plaintext on master ingest, both stacks, one run
# (docs/perf.md "TLS"; issue 17 benchmark).
#
#   posix: decp-master (kernel TCP, loopback) -> decp-dataplane --stack posix
#   dpdk:  decp-master (kernel TCP in namespace tlsb<pid>) -> tap -> decp-dataplane --stack
#          dpdk (net_tap, --no-pci; the tap is moved into the namespace, tests/dataplane/topo)
#   both:  -> shared-memory rings -> decp-testconsumer (pinned to CPU 0) -> ACKs back
#
# For each stack, each load (RATE signals/s, then as fast as possible) and each mode (plain,
# then TLS with the same masters, signals and window): a fresh dataplane and consumer, then
# decp-master. Printed per run:
#   ns/signal   posix: on-CPU time of the dataplane's threads (/proc/PID/task/*/schedstat,
#               ns; it sleeps in epoll when idle) / signals; dpdk: busy_ns / signals (the worker's poll iterations that had
#               frames or ACK records, TSC; docs/perf.md "dataplane" explains the bound)
#   ACK p50/p99/p99.9 (us) at the client, signal handed to the socket -> Ack received
#   records     tls_records_tx / acks_sent: ACKs per sealed record (TLS runs)
# Then "TLS adds": TLS ns/signal - plaintext ns/signal, same stack and load.
# The handshake and per-record figures on one core come from bench_tls (run last).
#
# usage: perf/tls_bench.sh BUILD_DIR [MASTERS] [SIGNALS_PER_MASTER] [RATE] [WINDOW]
#   defaults 10 masters x 20000 signals, RATE 10000, window 256. Needs root for dpdk (the
#   posix half runs without). Release build: meson setup build/release --buildtype=release
set -u
B=${1:?usage: tls_bench.sh BUILD_DIR [MASTERS] [SIGNALS] [RATE] [WINDOW]}
M=${2:-10} N=${3:-20000} RATE=${4:-10000} W=${5:-256}
B=$(cd "$B" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
DP=$B/dataplane/decp-dataplane CONS=$B/tests/doubles/decp-testconsumer
MASTER=$B/tools/decp-master CTL=$B/tools/decpctl/decpctl BENCH=$B/tests/security/bench_tls
for x in "$DP" "$CONS" "$MASTER" "$CTL" "$BENCH"; do
	[ -x "$x" ] || { echo "missing $x (build it first)" >&2; exit 2; }
done
. "$SRC/tests/dataplane/topo/dp_topo.sh"
DIR=$(mktemp -d /tmp/decp-tlsbench.XXXXXX)
SHM=decp-tlsb-$$
PIDS=()
stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	PIDS=()
}
cleanup() {
	stop_all
	topo_cleanup 2>/dev/null
	rm -f "/dev/shm/$SHM"
	rm -rf "/var/run/dpdk/$SHM" "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
wait_file() { local _; for _ in $(seq 300); do [ -f "$1" ] && return 0; sleep 0.1; done; return 1; }
oncpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d", s}'; }
"$CTL" tls init --dir "$DIR/tls" --server-ip 127.0.0.1 --server-ip 10.77.1.1 >/dev/null || exit 1
T=$DIR/tls
topo_reserve

ctr() { # NAME: a counter or transport counter, summed over workers
	"$CTL" top --shm "$SHM" --once --interval 0.1 --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
t = json.load(sys.stdin)["total"]
c = dict(t["counters"]); c.update(t["transport"])
print(c.get(sys.argv[1], 0))' "$1"
}

run() { # STACK MODE RATE
	local stack=$1 mode=$2 rate=$3 tlsdp=(--tls off) tlsm=(--tls off) host
	if [ "$mode" = tls ]; then
		tlsdp=(--tls required --tls-cert "$T/server.crt" --tls-key "$T/server.key")
		tlsm=(--ca "$T/ca.crt")
	fi
	rm -f "$DIR/port" "$DIR/dp.ready" "$DIR/cons.ready" "$DIR/durable.log"
	if [ "$stack" = dpdk ]; then
		"$DP" --stack dpdk --listen "$TOPO_NET.1:7000" --shm "$SHM" --ready-file "$DIR/dp.ready" \
			"${tlsdp[@]}" -- --no-pci --vdev "net_tap0,iface=$TOPO_TAP" -l 0-1 \
			--file-prefix "$SHM" --no-huge -m 512 --log-level=lib.eal:error \
			>"$DIR/dp.out" 2>"$DIR/dp.err" &
		PIDS+=("$!")
		local dpp=$!
		wait_file "$DIR/dp.ready" && topo_tap_up 10 || { tail "$DIR/dp.err"; return 1; }
		host=$TOPO_NET.1:7000 X=(topo_exec)
	else
		"$DP" --stack posix --listen 127.0.0.1:0 --port-file "$DIR/port" --shm "$SHM" \
			"${tlsdp[@]}" >"$DIR/dp.out" 2>"$DIR/dp.err" &
		PIDS+=("$!")
		local dpp=$!
		wait_file "$DIR/port" || return 1
		sleep 0.1
		host=127.0.0.1:$(cat "$DIR/port") X=()
	fi
	taskset -c 0 "$CONS" --shm "$SHM" --masters "$M" --out "$DIR/durable.log" \
		--ready-file "$DIR/cons.ready" >/dev/null 2>&1 &
	PIDS+=("$!")
	wait_file "$DIR/cons.ready" || return 1
	local c0 busy0 rate_args=()
	[ "$rate" != 0 ] && rate_args=(--rate "$rate")
	c0=$(oncpu_ns "$dpp")
	busy0=$(ctr busy_ns)
	"${X[@]}" "$MASTER" --connect "$host" "${tlsm[@]}" --masters "$M" --signals "$N" \
		--window "$W" --fake-ed25519 --time-limit-s 300 "${rate_args[@]}" >"$DIR/m.out" 2>&1
	local c1 busy1 acks recs
	c1=$(oncpu_ns "$dpp")
	busy1=$(ctr busy_ns) acks=$(ctr acks_sent) recs=$(ctr tls_records_tx)
	local sig=$((M * N)) nsps
	if [ "$stack" = dpdk ]; then
		nsps=$(( (busy1 - busy0) / sig ))
	else
		nsps=$(( (c1 - c0) / sig ))
	fi
	local lat
	lat=$(sed -n 's/.*ack_p50_us=\([0-9.]*\) ack_p99_us=\([0-9.]*\) ack_p999_us=\([0-9.]*\).*/\1 \2 \3/p' "$DIR/m.out")
	local rated
	rated=$(sed -n 's/.* rate=\([0-9]*\)\/s.*/\1/p' "$DIR/m.out")
	printf "%-6s %-5s load=%-6s acked/s=%-7s ns/signal=%-6s ACK us p50/p99/p99.9=%s" \
		"$stack" "$mode" "$([ "$rate" = 0 ] && echo full || echo "$rate")" "$rated" "$nsps" \
		"$(echo $lat | tr ' ' /)"
	[ "$mode" = tls ] && [ "${recs:-0}" -gt 0 ] &&
		printf "  ACKs/record=%s" "$(awk -v a="$acks" -v r="$recs" 'BEGIN{printf "%.1f", a/r}')"
	grep -q " acked=$((M * N)) " "$DIR/m.out" || printf "  (NOT all ACKed: %s)" "$(cat "$DIR/m.out")"
	echo
	echo "$stack $mode $rate $nsps" >>"$DIR/results"
	stop_all
	[ "$stack" = dpdk ] && topo_cleanup
	rm -f "/dev/shm/$SHM"
	rm -rf "/var/run/dpdk/$SHM"
}

echo "tls_bench: $M masters x $N signals, window $W; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
stacks=(posix)
if [ "$(id -u)" = 0 ] && [ -w /dev/net/tun ]; then stacks+=(dpdk); else echo "dpdk: skipped (needs root)"; fi
for stack in "${stacks[@]}"; do
	for rate in "$RATE" 0; do
		run "$stack" plain "$rate"
		run "$stack" tls "$rate"
	done
done
awk '{ k = $1 " " $3; v[k " " $2] = $4; keys[k] = 1 }
     END { for (k in keys) { split(k, a, " ");
	printf "TLS adds %-5s at %-6s: %d ns/signal\n", a[1], (a[2] == 0 ? "full" : a[2]), v[k " tls"] - v[k " plain"] } }' \
	"$DIR/results" | sort
echo "--- bench_tls (one core, in process)"
"$BENCH" 2000 20000
