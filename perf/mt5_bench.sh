#!/bin/sh
# mt5_bench.sh BUILD_DIR [N]: µs per receiver envelope (decode + guard + Ed25519 verify) in
# decp.dll under Wine against the native guard, on the same N envelopes in the same run
# (docs/perf.md "mt5"). Use a release build: meson setup build/release --buildtype=release
set -eu
b=${1:?usage: mt5_bench.sh BUILD_DIR [N]}
n=${2:-20000}
top=$(cd "$(dirname "$0")/.." && pwd)
f=$(mktemp /tmp/decp-mt5-bench-XXXXXX)
trap 'rm -f "$f"' EXIT
"$b/tests/mt5/bench_mt5" gen "$f" "$n"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$b/tests/mt5/bench_mt5" native "$f"
"$top/tests/mt5/run_wine.sh" "$b/tests/mt5/bench_mt5_dll.exe" "$b/tools/mt5/decp.dll" "$f"
"$b/tests/mt5/bench_mt5" native "$f"
