#!/bin/bash
# Control-plane ACK latency against what limits it (issue 7, SPEC §6; docs/perf.md
# "control"). MASTERS x SIGNALS at RATE signals/s through the posix dataplane, decp-control,
# Redis and PostgreSQL (test_control_e2e bench), REPEATS rounds, each alternating:
# MODE fsync (default): every ACK waits for Redis's write + fdatasync of its AOF
#   floor    decpctl disk: write + fdatasync of 2 KiB appends on the same filesystem
#            ($DECP_TEST_TMPDIR or /tmp, where the test harness keeps Redis's AOF), 1 ms apart
#   always   all roles, Redis with appendfsync always
#   no       the same with appendfsync no: the code path without the disk
# MODE cpu: does CPU work beside the ACK path disturb it, whatever its priority?
#   edge     decp-control with the edge role only: the ingest path alone
#   idle-hog the same beside a busy loop at SCHED_IDLE (run only when nothing else wants a CPU)
#   idle-25  the same beside a SCHED_IDLE loop busy 10 ms of every 40 ms (the archiver's duty
#            cycle at 10k/s)
#   all      every role at normal priority
# MODE sched: the ACK path first (issue 26), before / after, each round alternating:
#   alone-0  the ingest path alone (edge only), everything at normal priority, and the
#            archiver reading archiver_batch entries at once (archiver_read_max and
#            archiver_read_live 100000)
#   all-0    every role but the api (edge, archiver, fanout, trust, book), the same
#   alone-S  the ingest path alone as shipped: edge_sched/background_sched defaults, and
#            Redis, the dataplane and decp-master at SCHED_FIFO 10 (DECP_BENCH_SCHED)
#   all-S    every role but the api, the same; then the ratios all/alone of the round
# Each line gives p50 / p99 / p99.9 / max (ms), and the load average; compare within one run.
#
# usage: perf/control_bench.sh BUILD_DIR [MASTERS SIGNALS RATE [REPEATS [MODE]]]
#   BUILD_DIR: a release build (meson setup BUILD --buildtype=release)
#   defaults: 20 masters x 5000 signals at 10000 signals/s, 2 repeats, mode fsync
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
	[ $# -ge 1 ] && exit 0 || exit 2
fi
B=$1 MASTERS=${2:-20} SIGNALS=${3:-5000} RATE=${4:-10000} REPEATS=${5:-2} MODE=${6:-fsync}
case $MODE in fsync | cpu | sched) ;; *) echo "MODE must be fsync, cpu or sched, not '$MODE'" >&2; exit 2 ;; esac
[ "$MODE" = fsync ] || command -v chrt >/dev/null || { echo "chrt (util-linux) is needed" >&2; exit 2; }
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

bench() { # label [VAR=value...]: the environment of test_control_e2e bench
	local log line label=$1
	shift
	log=$(env "$@" "$T" bench "$B/dataplane/decp-dataplane" \
		"$B/controlplane/core/decp-control" "$B/tools/decp-master" \
		"$MASTERS" "$SIGNALS" "$RATE" 2>&1) || { echo "$log" | tail -20 >&2; exit 1; }
	line=$(grep -m1 '^decp-master: masters=' <<<"$log")
	P99[$label]=$(field ack_p99_us "$line")
	P999[$label]=$(field ack_p999_us "$line")
	printf '%-8s p50 %6s  p99 %6s  p99.9 %6s  max %6s ms  load %s  rate %s/s\n' "$label" \
		"$(ms "$(field ack_p50_us "$line")")" "$(ms "${P99[$label]}")" \
		"$(ms "${P999[$label]}")" "$(ms "$(field ack_max_us "$line")")" "$(load)" \
		"$(field rate "$line" | tr -d /s)"
}
declare -A P99 P999
ratio() { # LABEL_ALL LABEL_ALONE: all / alone of p99 and p99.9, this round
	awk -v a="${P99[$1]}" -v b="${P99[$2]}" -v c="${P999[$1]}" -v d="${P999[$2]}" -v l="$1/$2" \
		'BEGIN { printf "ratio %-16s p99 %.2f  p99.9 %.2f\n", l, a / b, c / d }'
}
OFF="edge_sched = inherit;background_sched = inherit;archiver_read_max = 100000;archiver_read_live = 100000"

HOG=
stop_hog() {
	if [ -n "$HOG" ]; then
		kill "$HOG" 2>/dev/null || true
		wait "$HOG" 2>/dev/null || true
	fi
	HOG=
}
trap stop_hog EXIT
# hog ON_MS PERIOD_MS: a SCHED_IDLE loop busy ON_MS of every PERIOD_MS, in the background;
# it stops by itself after 10 minutes at the latest.
hog() {
	chrt -i 0 python3 -c '
import sys, time
on, period = float(sys.argv[1]) / 1000, float(sys.argv[2]) / 1000
end = time.monotonic() + 600
while time.monotonic() < end:
    t = time.monotonic() + on
    while time.monotonic() < t:
        pass
    if period > on:
        time.sleep(period - on)' "$1" "$2" &
	HOG=$!
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load: $MASTERS masters x $SIGNALS signals at $RATE signals/s; ACK latency at decp-master"
for i in $(seq "$REPEATS"); do
	echo "-- round $i"
	if [ "$MODE" = fsync ]; then
		floor
		bench always DECP_BENCH_APPENDFSYNC=always
		bench no DECP_BENCH_APPENDFSYNC=no
	elif [ "$MODE" = sched ]; then
		ALL=edge,archiver,fanout,trust,book
		bench alone-0 DECP_BENCH_ROLES=edge DECP_TEST_CONF_EXTRA="$OFF"
		bench all-0 DECP_BENCH_ROLES=$ALL DECP_TEST_CONF_EXTRA="$OFF"
		bench alone-S DECP_BENCH_ROLES=edge DECP_BENCH_SCHED=10
		bench all-S DECP_BENCH_ROLES=$ALL DECP_BENCH_SCHED=10
		ratio all-0 alone-0
		ratio all-S alone-S
	else
		bench edge DECP_BENCH_ROLES=edge
		hog 1000 1000
		bench idle-hog DECP_BENCH_ROLES=edge
		stop_hog
		hog 10 40
		bench idle-25 DECP_BENCH_ROLES=edge
		stop_hog
		bench all DECP_BENCH_ROLES=all
	fi
done
[ "$MODE" = fsync ] && floor
exit 0
