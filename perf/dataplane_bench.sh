#!/usr/bin/env bash
# dataplane_bench.sh: dataplane CPU per validated signal and ACK latency, --stack dpdk versus
# --stack posix, same load, one run (docs/perf.md "dataplane"; issue 6 benchmark).
#
#   posix: decp-master (kernel TCP, loopback) -> decp-dataplane --stack posix
#   dpdk:  bench_dpgen (DPDK, hand-made TCP) -net_memif-> decp-dataplane --stack dpdk
#   both:  -> shared-memory rings -> decp-testconsumer (pinned to CPU 0) -> ACKs back
#
# Same masters, signals per master, window and rate on both sides; real HMAC-SHA256 on every
# signal, all-zero Ed25519 signatures (ingest checks only the HMAC).
# CPU per signal:
#   posix: utime+stime of the whole decp-dataplane process over the run / signals (it
#          sleeps in epoll when idle, so its CPU time is its work; the kernel's loopback
#          receive processing mostly runs in the sender's context and is NOT included)
#   dpdk:  two figures. "busy": busy_ns / signals, the wall time of the worker's poll
#          iterations that had frames or ACK records (TSC, dp_dpdk_loop.c), read from the
#          shared stats block (decpctl top --json); an upper bound, because a worker that
#          loses its core inside a busy iteration counts the wait. "cpu": the worker
#          thread's on-CPU time over the run (/proc/PID/task/TID/schedstat, so preemption
#          is excluded) minus its idle polls (idle_iters x the cost of one idle poll,
#          measured in a quiet second before the load) / signals. Both include the memif
#          PMD's copies.
#   both:  "process": utime+stime of the whole dataplane process over the run / signals. For
#          dpdk this includes the busy-polling worker's idle polls (a full core whatever the
#          load), so it only means something at full load.
# posix kernel work charged to the sender: on loopback the receive path of the dataplane's
# sockets (and the ACKs' receive path) runs in softirq context of the sending task, so part
# of it is billed to decp-master's system time, printed as "master sys" (an upper bound of
# what the dataplane's figure misses: it also holds the master's own send syscalls).
# doorbells: consumer wake-ups (one sendto each, when the consumer sleeps) per signal.
# ACK latency: at the client (decp-master / bench_dpgen), signal handed to the transport ->
# Ack frame received.
# floor: perf/bench_proto's "decode + HMAC verify (view)" p50, in the same run: the per-signal
# session-layer work both stacks must do (frame view, body parse, HMAC-SHA256 verify), set
# against posix / 5 (the ">= 5x less than posix" goal, SPEC §6).
#
# usage: perf/dataplane_bench.sh BUILD_DIR [MASTERS] [SIGNALS_PER_MASTER] [RATE] [WINDOW]
#   RATE 0 = as fast as possible. PERF_DATA=FILE: also `perf record -t` the DPDK worker
#   thread while the generator runs (flat profile, read with `perf report -i FILE`). Needs root (DPDK), 2 free-ish cores. Run on a release
#   build: meson setup build/rel --buildtype=release -Db_lundef=false
set -u
B=${1:?usage: dataplane_bench.sh BUILD_DIR [MASTERS] [SIGNALS] [RATE] [WINDOW]}
M=${2:-10} N=${3:-100000} RATE=${4:-0} W=${5:-256}
B=$(cd "$B" && pwd)
DP=$B/dataplane/decp-dataplane CONS=$B/tests/doubles/decp-testconsumer
MASTER=$B/tools/decp-master GEN=$B/perf/bench_dpgen CTL=$B/tools/decpctl/decpctl
PROTO=$B/perf/bench_proto
DIR=$(mktemp -d /tmp/decp-dpbench.XXXXXX)
SHM=decp-dpbench-$$
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -f "/dev/shm/$SHM-p" "/dev/shm/$SHM-d"
	rm -rf "/var/run/dpdk/$SHM-d" "/var/run/dpdk/$SHM-g" "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_file() { local _; for _ in $(seq 200); do [ -f "$1" ] && return 0; sleep 0.1; done; return 1; }
json_get() { # FILE PATH...: a number from decpctl top --json
	/usr/bin/python3 -c 'import json,sys; o=json.load(open(sys.argv[1]))
for k in sys.argv[2:]: o=o[k]
print(o)' "$@"
}
consumer() { # SHM TAG
	taskset -c 0 "$CONS" --shm "$1" --masters "$M" --out "$DIR/durable-$2.log" \
		--ready-file "$DIR/cons-$2.ready" >"$DIR/cons-$2.out" 2>"$DIR/cons-$2.err" &
	PIDS+=("$!")
	wait_file "$DIR/cons-$2.ready"
}
HZ=$(getconf CLK_TCK)
RATE_ARGS=()
[ "$RATE" != 0 ] && RATE_ARGS=(--rate "$RATE")
echo "load: $M masters x $N signals, window $W, rate ${RATE} (0 = max); $(nproc) CPUs," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- posix
"$DP" --stack posix --tls off --listen 127.0.0.1:0 --shm "$SHM-p" --port-file "$DIR/port" \
	>"$DIR/dp-p.out" 2>"$DIR/dp-p.err" &
DPP=$!; PIDS+=("$DPP")
wait_file "$DIR/port" || { echo "posix dataplane did not start"; exit 1; }
consumer "$SHM-p" p || { echo "consumer (posix) not ready"; exit 1; }
c0=$(cpu_ticks "$DPP")
"$CTL" top --shm "$SHM-p" --once --json --interval 0.05 >"$DIR/ptop0.json"
TIMEFORMAT='%U %S'
{ time "$MASTER" --connect "127.0.0.1:$(cat "$DIR/port")" --masters "$M" --signals "$N" \
	--window "$W" --fake-ed25519 --time-limit-s 300 "${RATE_ARGS[@]}" >"$DIR/master.out" \
	2>"$DIR/master.err"; } 2>"$DIR/master.time"
mrc=$?
c1=$(cpu_ticks "$DPP")
"$CTL" top --shm "$SHM-p" --once --json --interval 0.05 >"$DIR/ptop1.json"
posix_ns=$(echo "($c1 - $c0) * 1000000000 / $HZ / ($M * $N)" | bc)
msys_ns=$(echo "$(tail -1 "$DIR/master.time" | cut -d' ' -f2) * 1000000000 / ($M * $N)" | bc)
pbell=$(( $(json_get "$DIR/ptop1.json" total counters doorbells) - \
	$(json_get "$DIR/ptop0.json" total counters doorbells) ))
echo "posix: $(cat "$DIR/master.out") (exit $mrc)"
echo "posix: dataplane CPU $(( (c1 - c0) * 1000 / HZ )) ms = $posix_ns ns/signal (process);" \
	"master sys $msys_ns ns/signal; doorbells/signal $(echo "scale=3; $pbell / ($M * $N)" | bc)"

# ---- dpdk
# --poll busy: the "cpu" figure subtracts idle polls at one idle poll's cost; adaptive
# polling (the default where cores are not isolated) would put its sleeps and naps, system
# calls of microseconds, into that cost and into the load's idle iterations.
"$DP" --stack dpdk --tls off --poll busy --listen 10.88.0.1:7000 --shm "$SHM-d" \
	--ready-file "$DIR/dp-d.ready" -- --no-pci \
	--vdev "net_memif0,role=server,socket=$DIR/memif.sock" -l 0-1 \
	--file-prefix "$SHM-d" --no-huge -m 256 --log-level=lib.eal:error \
	>"$DIR/dp-d.out" 2>"$DIR/dp-d.err" &
DPD=$!; PIDS+=("$DPD")
wait_file "$DIR/dp-d.ready" || { echo "dpdk dataplane did not start"; cat "$DIR/dp-d.err"; exit 1; }
consumer "$SHM-d" d || { echo "consumer (dpdk) not ready"; exit 1; }
WT=
for t in /proc/"$DPD"/task/*; do
	case "$(cat "$t/comm")" in *worker*) WT=${t##*/}; break ;; esac
done
run_ns() { awk '{print $1}' "/proc/$DPD/task/$WT/schedstat"; }
idle_poll_cost() { # TAG: ns of worker CPU per idle poll over one quiet second
	local a b
	"$CTL" top --shm "$SHM-d" --once --json --interval 0.05 >"$DIR/$1-0.json"; a=$(run_ns)
	sleep 1
	"$CTL" top --shm "$SHM-d" --once --json --interval 0.05 >"$DIR/$1-1.json"; b=$(run_ns)
	echo "scale=3; ($b - $a) / ($(json_get "$DIR/$1-1.json" total transport idle_iters) -" \
		"$(json_get "$DIR/$1-0.json" total transport idle_iters))" | bc
}
idle_cost=$(idle_poll_cost idle)
"$CTL" top --shm "$SHM-d" --once --json --interval 0.05 >"$DIR/top0.json"; r2=$(run_ns)
p2=$(cpu_ticks "$DPD")
# The generator reports, then lingers with the memif link up (not polling) until it is
# stopped after the dataplane: net_memif unmaps the peer's rings on disconnect while the side
# still polling may read them (a segfault seen once in the dataplane's worker).
"$GEN" --src 10.88.0.2 --dst 10.88.0.1:7000 --masters "$M" --signals "$N" --window "$W" \
	--time-limit-s 300 --linger-s 600 "${RATE_ARGS[@]}" -- --no-pci \
	--vdev "net_memif0,role=client,socket=$DIR/memif.sock" -l 0 --file-prefix "$SHM-g" \
	--no-huge -m 256 --log-level=lib.eal:error >"$DIR/gen.out" 2>"$DIR/gen.err" &
GENP=$!; PIDS+=("$GENP")
PERFP=
if [ -n "${PERF_DATA:-}" ]; then
	perf record -q -t "$WT" -o "$PERF_DATA" >"$DIR/perf.out" 2>&1 &
	PERFP=$!
fi
for _ in $(seq 3200); do
	grep -q "^bench_dpgen:" "$DIR/gen.out" 2>/dev/null && break
	kill -0 "$GENP" 2>/dev/null || break
	sleep 0.1
done
"$CTL" top --shm "$SHM-d" --once --json --interval 0.05 >"$DIR/top1.json"; r3=$(run_ns)
p3=$(cpu_ticks "$DPD")
if [ -n "$PERFP" ]; then kill -INT "$PERFP"; wait "$PERFP"; fi
b0=$(json_get "$DIR/top0.json" total transport busy_ns)
b1=$(json_get "$DIR/top1.json" total transport busy_ns)
i0=$(json_get "$DIR/top0.json" total transport busy_iters)
i1=$(json_get "$DIR/top1.json" total transport busy_iters)
s1=$(json_get "$DIR/top1.json" total counters signals_enqueued)
d0=$(json_get "$DIR/top0.json" total transport idle_iters)
d1=$(json_get "$DIR/top1.json" total transport idle_iters)
busy_ns=$(( (b1 - b0) / (M * N) ))
dbell=$(( $(json_get "$DIR/top1.json" total counters doorbells) - \
	$(json_get "$DIR/top0.json" total counters doorbells) ))
dpdk_ns=$(echo "(($r3 - $r2) - ($d1 - $d0) * $idle_cost) / ($M * $N)" | bc)
# The same calibration after the load: how far the subtraction can be off (the idle polls'
# cost moves with the machine's load; every 0.1 ns matters when idle polls outnumber signals).
idle_after=$(idle_poll_cost idle-after)
dpdk_ns_after=$(echo "(($r3 - $r2) - ($d1 - $d0) * $idle_after) / ($M * $N)" | bc)
kill -TERM "$DPD"; wait "$DPD"
kill -TERM "$GENP"; wait "$GENP"
grc=$?
echo "dpdk:  $(cat "$DIR/gen.out") (exit $grc)"
echo "dpdk:  worker busy $(( (b1 - b0) / 1000000 )) ms in $((i1 - i0)) iterations =" \
	"$busy_ns ns/signal (busy); on-CPU $(( (r3 - r2) / 1000000 )) ms, $((d1 - d0)) idle polls" \
	"x $idle_cost ns = $dpdk_ns ns/signal (cpu); signals_enqueued=$s1"
echo "dpdk:  idle poll cost re-measured after the load: $idle_after ns -> $dpdk_ns_after" \
	"ns/signal (cpu)"
echo "dpdk:  dataplane CPU $(( (p3 - p2) * 1000 / HZ )) ms =" \
	"$(echo "($p3 - $p2) * 1000000000 / $HZ / ($M * $N)" | bc) ns/signal (process, idle polls" \
	"included); doorbells/signal $(echo "scale=3; $dbell / ($M * $N)" | bc)"
hist() { # NAME: p50/p99/p99.9 in us over the whole run
	local k out=""
	for k in p50_us p99_us p999_us; do
		out="$out/$(json_get "$DIR/top1.json" total "$1" "$k")"
	done
	echo "${out#/}"
}
echo "dpdk:  internal us p50/p99/p99.9 (whole run): RX->enqueue $(hist rx_to_enqueue_total)," \
	"ACK ring->TX $(hist ack_to_tx_total), enqueue->ACK ring $(hist ack_latency_total)"
[ "$dpdk_ns" -gt 0 ] && echo "ratio posix/dpdk CPU per signal: $(echo "scale=1; $posix_ns / $dpdk_ns" | bc) (cpu)," \
	"$(echo "scale=1; $posix_ns / $busy_ns" | bc) (busy)"
if [ -x "$PROTO" ]; then
	floor_ns=$("$PROTO" -n 200000 -s 100 | awk '/^decode \+ HMAC verify \(view\)/ { printf "%d", $(NF-3) }')
	echo "floor: decode + HMAC verify (view) p50 $floor_ns ns/signal (bench_proto, same run);" \
		"5x less than posix needs <= $((posix_ns / 5)) ns/signal in total"
fi
[ "$mrc" = 0 ] && [ "$grc" = 0 ]
