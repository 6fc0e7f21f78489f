#!/bin/bash
# Ingest edge failover (issue 24 item 3, docs/perf.md "ingest edge failover"): runs the
# `edges_failover` test (tests/lifecycle/test_edges_failover.sh: two posix dataplanes in
# namespaces of their own with their edges, one Redis) RUNS times and reports its RTOs:
#   kill -9: one dataplane killed under load, its masters' time from the kill to HelloAck on
#            the other edge (the masters see a reset at once);
#   freeze:  the other dataplane SIGSTOPped (a hung host), its masters' time from the freeze
#            to HelloAck on the first one (their ACK timeout is 300 ms);
# per run (p50 and max over the masters that moved) and over all runs (p50 of the per-run
# p50s, max of the maxima). Each run also checks exactly-once delivery; a failed run is
# reported and counted.
#
# usage: perf/edges_failover_bench.sh BUILD_DIR [RUNS]    (as root: it creates namespaces)
#   BUILD_DIR: a release build (meson setup BUILD --buildtype=release).
set -uo pipefail
B=${1:?usage: $0 BUILD_DIR [RUNS]}
RUNS=${2:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
for x in tests/harness/decp-testenv tools/decpctl/decpctl dataplane/decp-dataplane \
	controlplane/core/decp-control tools/decp-master; do
	[ -x "$B/$x" ] || { echo "missing $B/$x (build it first)" >&2; exit 2; }
done
T=$(mktemp /tmp/decp-edges-bench.XXXXXX)
trap 'rm -f "$T"' EXIT
failed=0
for i in $(seq 1 "$RUNS"); do
	out=$("$B/tests/harness/decp-testenv" --pg --redis -- "$HERE/tests/lifecycle/test_edges_failover.sh" \
		"$B/tools/decpctl/decpctl" "$B/dataplane/decp-dataplane" "$B/controlplane/core/decp-control" \
		"$B/tools/decp-master" 2>&1)
	line=$(grep '^edge failover:' <<<"$out")
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -1)
	[ "${summary#* passed, }" = "0 failed" ] || failed=$((failed + 1))
	kill_p50=$(sed -n 's/.*killed -9.*RTO (kill -> HelloAck on the other edge) p50 \([0-9.]*\) ms, max \([0-9.]*\) ms.*/\1/p' <<<"$line")
	kill_max=$(sed -n 's/.*killed -9.*RTO (kill -> HelloAck on the other edge) p50 \([0-9.]*\) ms, max \([0-9.]*\) ms.*/\2/p' <<<"$line")
	hung_p50=$(sed -n 's/.*(SIGSTOP.*RTO p50 \([0-9.]*\) ms, max \([0-9.]*\) ms.*/\1/p' <<<"$line")
	hung_max=$(sed -n 's/.*(SIGSTOP.*RTO p50 \([0-9.]*\) ms, max \([0-9.]*\) ms.*/\2/p' <<<"$line")
	printf 'run %d: kill -9 p50 %s ms max %s ms; freeze p50 %s ms max %s ms; %s\n' "$i" \
		"${kill_p50:--}" "${kill_max:--}" "${hung_p50:--}" "${hung_max:--}" "${summary:-no summary}"
	echo "$kill_p50 $kill_max $hung_p50 $hung_max" >>"$T"
done
awk -v runs="$RUNS" -v failed="$failed" '
	NF == 4 { kp[n] = $1; hp[n] = $3; n++; if ($2 > km) km = $2; if ($4 > hm) hm = $4 }
	function med(a, k,   i, j, t) {
		for (i = 0; i < k; i++) for (j = i + 1; j < k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return k % 2 ? a[int(k / 2)] : (a[k / 2 - 1] + a[k / 2]) / 2
	}
	END {
		if (n == 0) { print "no run reported its RTOs"; exit 1 }
		printf "over %d runs (%d failed): kill -9 p50 %.1f ms max %.1f ms; freeze (ACK timeout 300 ms) p50 %.1f ms max %.1f ms\n",
			runs, failed, med(kp, n), km, med(hp, n), hm
	}' "$T"
[ "$failed" = 0 ]
