#!/bin/bash
# Control-plane ACK latency against the disk's floor (issue 7, SPEC §6; docs/perf.md
# "control"). Every ACK waits for Redis's write + fdatasync of its AOF (appendfsync always),
# so this script measures, alternately and REPEATS times in one run:
#   floor  decpctl disk: write + fdatasync of 2 KiB appends on the same filesystem
#          ($DECP_TEST_TMPDIR or /tmp, where the test harness keeps Redis's AOF), 1 ms apart;
#   always test_control_e2e bench: MASTERS x SIGNALS at RATE signals/s through the posix
#          dataplane, decp-control (edge + archiver), Redis (appendfsync always), PostgreSQL;
#   no     the same with Redis switched to appendfsync no: the code path without the disk.
# Each line gives p50 / p99 / p99.9 (ms), and the load average; compare within one run.
#
# usage: perf/control_bench.sh BUILD_DIR [MASTERS SIGNALS RATE [REPEATS]]
#   BUILD_DIR: a release build (meson setup BUILD --buildtype=release)
#   defaults: 20 masters x 5000 signals at 10000 signals/s, 2 repeats
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
	[ $# -ge 1 ] && exit 0 || exit 2
fi
B=$1 MASTERS=${2:-20} SIGNALS=${3:-5000} RATE=${4:-10000} REPEATS=${5:-2}
T=$B/tests/control/test_control_e2e CTL=$B/tools/decpctl/decpctl
for x in "$T" "$CTL" "$B/dataplane/decp-dataplane" "$B/controlplane/core/decp-control" \
	 "$B/tools/decp-master"; do
	[ -x "$x" ] || { echo "missing $x (build it first: meson compile -C $B)" >&2; exit 2; }
done
load() { cut -d' ' -f1 /proc/loadavg; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
field() { tr ' ,{}' '\n\n\n\n' <<<"$2" | sed -n "s/^\"\{0,1\}$1\"\{0,1\}[=:]//p"; }

floor() {
	local out
	out=$("$CTL" disk --dir "${DECP_TEST_TMPDIR:-/tmp}" --count 2000 --interval-us 1000 \
		--bytes 2048 --json) || true   # exit 1 = over the 1 ms target: still a figure
	printf '%-7s p50 %6s  p99 %6s  p99.9 %6s ms  load %s\n' floor \
		"$(ms "$(field p50_us "$out")")" "$(ms "$(field p99_us "$out")")" \
		"$(ms "$(field p999_us "$out")")" "$(load)"
}

bench() { # policy
	local log line
	log=$(DECP_BENCH_APPENDFSYNC=$1 "$T" bench "$B/dataplane/decp-dataplane" \
		"$B/controlplane/core/decp-control" "$B/tools/decp-master" \
		"$MASTERS" "$SIGNALS" "$RATE" 2>&1) || { echo "$log" | tail -20 >&2; exit 1; }
	line=$(grep -m1 '^decp-master:' <<<"$log")
	printf '%-7s p50 %6s  p99 %6s  p99.9 %6s ms  load %s  rate %s/s\n' "$1" \
		"$(ms "$(field ack_p50_us "$line")")" "$(ms "$(field ack_p99_us "$line")")" \
		"$(ms "$(field ack_p999_us "$line")")" "$(load)" "$(field rate "$line" | tr -d /s)"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load: $MASTERS masters x $SIGNALS signals at $RATE signals/s; ACK latency at decp-master"
for i in $(seq "$REPEATS"); do
	echo "-- round $i"
	floor
	bench always
	bench no
done
floor
