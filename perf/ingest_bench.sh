#!/bin/bash
# Ingest benchmark (issue 5, SPEC §6): decp-master -> decp-dataplane --stack posix ->
# shared-memory rings -> decp-testconsumer -> ACK, on loopback.
# Reports, per scenario: ACKed signals/s, ACK latency p50/p99/p99.9 (decp-master: signal
# written -> Ack read, so it includes the consumer's durable write), and CPU ns per signal
# of each process, from the sum of /proc/PID/task/*/schedstat (ns precision).
#
# usage: perf/ingest_bench.sh BUILD_DIR [WORKERS]
#   BUILD_DIR: a release build (meson setup BUILD --buildtype=release), not a sanitizer one.
set -euo pipefail
B=${1:?usage: $0 BUILD_DIR [WORKERS]}
W=${2:-1}
DP=$B/dataplane/decp-dataplane
TC=$B/tests/doubles/decp-testconsumer
MA=$B/tools/decp-master
for x in "$DP" "$TC" "$MA"; do [ -x "$x" ] || { echo "missing $x (build it first)" >&2; exit 2; }; done
T=$(mktemp -d /tmp/decp-ingest-bench-XXXXXX)
SHM=decp-bench-$$
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true;
            rm -f "/dev/shm/$SHM"; rm -rf "$T"; }
trap cleanup EXIT

cpu_ns() { local s=0 t; for t in /proc/"$1"/task/*/schedstat; do read -r a _ < "$t" && s=$((s + a)); done; echo $s; }

run() { # name masters signals rate window threads
  local name=$1 masters=$2 signals=$3 rate=$4 window=$5 threads=$6
  rm -f "$T"/port "$T"/ready "$T"/durable.log
  "$DP" --stack posix --tls off --listen 127.0.0.1:0 --shm "$SHM" --workers "$W" --port-file "$T/port" \
        2>"$T/dp.err" & local dp=$!; pids+=($dp)
  for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.01; done
  "$TC" --shm "$SHM" --masters "$masters" --out "$T/durable.log" --ready-file "$T/ready" \
        2>"$T/tc.err" & local tc=$!; pids+=($tc)
  for _ in $(seq 1000); do [ -e "$T/ready" ] && break; sleep 0.01; done
  local d0 c0; d0=$(cpu_ns $dp); c0=$(cpu_ns $tc)
  "$MA" --connect "127.0.0.1:$(cat "$T/port")" --masters "$masters" --signals "$signals" \
        --rate "$rate" --window "$window" --threads "$threads" --fake-ed25519 >"$T/ma.out"
  local d1 c1; d1=$(cpu_ns $dp); c1=$(cpu_ns $tc)
  kill $tc $dp; wait $tc $dp 2>/dev/null || true
  local total=$((masters * signals))
  echo "== $name: $masters masters x $signals signals, rate ${rate:-max} (0=max), window $window, dataplane workers $W"
  sed 's/^decp-master: //' "$T/ma.out" | tr ' ' '\n' | grep -E '^(acked|seconds|rate|ack_p50_us|ack_p99_us|ack_p999_us|ack_max_us|nack_busy|cpu_s)=' | tr '\n' ' '; echo
  echo "dataplane_cpu_ns_per_signal=$(( (d1 - d0) / total )) consumer_cpu_ns_per_signal=$(( (c1 - c0) / total ))"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
run "10k signals/s" 10 5000 10000 256 1
run "max rate" 50 20000 0 256 2
