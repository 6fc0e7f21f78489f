#!/bin/bash
# Durability modes (issue 23, docs/perf.md "durability modes", docs/control.md "Durability
# modes"): ACK p50 / p99 / p99.9 / max at a fixed rate, and the maximum ACKed signals/s,
# for each of durability = fsync, replica, both, os, in one run (alternating, ROUNDS rounds).
# One primary Redis with one replica on loopback (their AOFs on $DECP_TEST_TMPDIR or /tmp),
# the posix dataplane, decp-control's edge, decp-master. The Redis settings per mode:
#   fsync    primary appendfsync always
#   replica  primary appendfsync everysec; ACK after WAIT 1 (the replica has the batch)
#   both     primary appendfsync always + WAIT 1
#   os       primary appendfsync everysec, no WAIT
# The replica always runs (so the primary's replication cost is the same in every mode).
# Roles (issue 26 item 2, the ACK path first when cores are shared): `edge` is the ingest
# path alone; `all` every role but the api (edge, archiver, fanout, trust, book) in the same
# decp-control, as the demo runs them. With both, each mode's `all` line is followed by
# the ratio all / edge of p99 and p99.9 in that round.
#
# ROLES may also name a comma list (edge,fanout,trust,book: every role but the archiver),
# or `split`: the roles of `all`, the archiver in a decp-control of its own (same config,
# no shm), to tell a process's own interference from the machine's.
# DECP_BENCH_CONF="key = value; key = value": more decp-control config lines (e.g.
# "archiver_read_max = 64").
#
# DECP_BENCH_SCHED=N: both redis-servers' main threads, every dataplane thread and
# decp-master at SCHED_FIFO N (reset-on-fork: Redis's rewrite child runs as normal), as
# docs/operations.md "Sizing" sets up the ACK path's processes (docs/deploy/
# redis-server-ackpath.conf); decp-control's threads follow edge_sched / background_sched.
#
# usage: BUILD/tests/harness/decp-testenv --pg -- perf/durability_bench.sh BUILD
#            [MASTERS SIGNALS RATE [ROUNDS [MODES [ROLES [PASSES]]]]]
#   defaults: 10 masters x 5000 signals at 10000 signals/s, then a max-rate pass of
#   10 x 20000; 2 rounds; MODES "fsync replica both os"; ROLES "edge" ("edge all" to
#   compare); PASSES "rate max" ("rate" for the fixed rate only). Quote the load average
#   with the figures (shared machine).
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
	[ $# -ge 1 ] && exit 0 || exit 2
fi
B=$1 MASTERS=${2:-10} SIGNALS=${3:-5000} RATE=${4:-10000} ROUNDS=${5:-2}
MODES=${6:-fsync replica both os} ROLESETS=${7:-edge} PASSES=${8:-rate max}
for m in $MODES; do
	case $m in fsync | replica | both | os) ;; *) echo "unknown mode '$m' (fsync replica both os)" >&2; exit 2 ;; esac
done
for r in $ROLESETS; do
	[ "$r" = all ] || [ "$r" = split ] && continue
	for x in ${r//,/ }; do
		case $x in edge | archiver | fanout | trust | book) ;;
		*) echo "unknown role '$x' in '$r' (edge, all, or a comma list of edge archiver fanout trust book)" >&2; exit 2 ;;
		esac
	done
done
for p in $PASSES; do
	case $p in rate | max) ;; *) echo "unknown pass '$p' (rate max)" >&2; exit 2 ;; esac
done
D=$B/tools/decpctl/decpctl DP=$B/dataplane/decp-dataplane CTLBIN=$B/controlplane/core/decp-control
MASTER=$B/tools/decp-master
for x in "$D" "$DP" "$CTLBIN" "$MASTER"; do
	[ -x "$x" ] || { echo "missing $x (build it first: meson compile -C $B)" >&2; exit 2; }
done
[ -n "${DECP_PG_CONNINFO:-}" ] || { echo "run under decp-testenv --pg (see --help)" >&2; exit 2; }
. "$(dirname "$0")/../tests/decpctl/testlib.sh"
T=$(mktemp -d "${DECP_TEST_TMPDIR:-/tmp}/decp-durbench.XXXXXX")
SHM=decp-durbench-$$
RP1= RP2= DPPID= CPPID=
stop_all() {
	for p in ${ARPID:-} $CPPID $DPPID; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
	for p in $RP1 $RP2; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
	CPPID= DPPID= RP1= RP2= ARPID=
	rm -f "/dev/shm/$SHM"
}
trap 'stop_all; rm -rf "$T"' EXIT
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

"$D" db migrate >/dev/null
for m in $(seq 1 "$MASTERS"); do "$D" master add --id "$m" --name "m$m" --key-seed dur >/dev/null; done

# One measurement: mode, roles (edge or all), signals per master, rate (0 = as fast as it
# goes). Prints the decp-master summary line.
measure() {
	local mode=$1 roles=$2 signals=$3 rate=$4 dir fs
	dir=$T/$mode.$RANDOM
	mkdir -p "$dir/p" "$dir/r"
	case $mode in replica | os) fs=everysec ;; *) fs=always ;; esac
	P1=$(free_port) P2=$(free_port)
	redis-server --bind 127.0.0.1 --port "$P1" --dir "$dir/p" --appendonly yes --appendfsync "$fs" \
		--save "" --daemonize no --logfile "$dir/p/redis.log" & RP1=$!
	wait_ping "$P1"
	redis-server --bind 127.0.0.1 --port "$P2" --dir "$dir/r" --appendonly yes --appendfsync everysec \
		--save "" --daemonize no --logfile "$dir/r/redis.log" --replicaof 127.0.0.1 "$P1" & RP2=$!
	wait_ping "$P2"
	for _ in $(seq 1 200); do rc_of "$P1" INFO replication | grep -q '^connected_slaves:1' && break; sleep 0.05; done
	local fifo=()
	if [ -n "${DECP_BENCH_SCHED:-}" ]; then
		fifo=(chrt -f -R "$DECP_BENCH_SCHED")
		chrt -f -R -p "$DECP_BENCH_SCHED" "$RP1" >/dev/null
		chrt -f -R -p "$DECP_BENCH_SCHED" "$RP2" >/dev/null
	fi
	[ "$roles" = all ] && roles="edge,archiver,fanout,trust,book"
	local r2=$roles
	[ "$roles" = split ] && r2="edge,fanout,trust,book"
	local extra=()
	[ -n "${DECP_BENCH_CONF:-}" ] && mapfile -t extra < <(tr ';' '\n' <<<"$DECP_BENCH_CONF")
	start_pipeline "$dir" "$SHM" "roles = $r2" "redis_host = 127.0.0.1" "redis_port = $P1" \
		"durability = $mode" "durability_wait_ms = 1000" "fanout_port = 0" "fanout_tls = off" \
		"${extra[@]}" ||
		{ echo "pipeline not ready ($mode, $roles): $(tail -3 "$dir/control.log")" >&2; exit 1; }
	[ -n "${DECP_BENCH_SCHED:-}" ] && chrt -a -f -R -p "$DECP_BENCH_SCHED" "$DPPID" >/dev/null
	if [ "$roles" = split ]; then
		sed 's/^roles = .*/roles = archiver/; s/^shm = .*//' "$dir/control.conf" >"$dir/arch.conf"
		"$CTLBIN" --config "$dir/arch.conf" >"$dir/arch.log" 2>&1 & ARPID=$!
	fi
	"${fifo[@]}" "$MASTER" --connect "127.0.0.1:$(cat "$dir/dp.port")" --masters "$MASTERS" --signals "$signals" \
		--rate "$rate" --key-seed dur --fake-ed25519 --time-limit-s 300 | tail -1
	stop_all
}

declare -A P99 P999
printf '%-8s %-5s %-5s %8s %8s %8s %8s %10s %6s\n' mode roles pass p50_ms p99_ms p999_ms max_ms signals/s load
for round in $(seq 1 "$ROUNDS"); do
	modes=$MODES
	[ $((round % 2)) = 0 ] && modes=$(tr ' ' '\n' <<<"$MODES" | tac | tr '\n' ' ')
	for mode in $modes; do
		for roles in $ROLESETS; do
			for pass in $PASSES; do
				if [ $pass = rate ]; then
					out=$(measure "$mode" "$roles" "$SIGNALS" "$RATE")
				else
					out=$(measure "$mode" "$roles" $((SIGNALS * 4)) 0)
				fi
				printf '%-8s %-5s %-5s %8s %8s %8s %8s %10s %6s\n' "$mode" "$roles" "$pass" \
					"$(ms "$(field ack_p50_us "$out")")" "$(ms "$(field ack_p99_us "$out")")" \
					"$(ms "$(field ack_p999_us "$out")")" "$(ms "$(field ack_max_us "$out")")" \
					"$(field rate "$out" | tr -d '/s')" "$(cut -d' ' -f1 /proc/loadavg)"
				[ $pass = rate ] && P99[$roles]=$(field ack_p99_us "$out") P999[$roles]=$(field ack_p999_us "$out")
			done
		done
		if [[ " $ROLESETS " == *" edge "* && " $ROLESETS " == *" all "* && " $PASSES " == *" rate "* ]]; then
			awk -v a="${P99[all]}" -v b="${P99[edge]}" -v c="${P999[all]}" -v d="${P999[edge]}" -v m="$mode" \
				'BEGIN { printf "ratio    %-8s all/edge at the fixed rate: p99 %.2f  p99.9 %.2f\n", m, a / b, c / d }'
		fi
	done
done
