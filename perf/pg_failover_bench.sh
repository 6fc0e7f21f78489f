#!/bin/bash
# PostgreSQL leader failover time with Patroni (issue 24 item 1; docs/perf.md "PostgreSQL
# failover", against the seed's RTO of 5 minutes for a database failure). Each run starts
# a fresh cluster (decp-testenv --patroni: one etcd, three Patroni members of PostgreSQL
# 15, synchronous_mode), keeps a writer committing one row every ~20 ms through the
# multi-host conninfo (target_session_attrs=read-write, a new connection per attempt, as
# a decp role reconnects), crashes the leader's machine (SIGKILL to its Patroni, then to
# its postmaster's process group) and measures, from the kill:
#   leader  Patroni's REST API names a new leader (GET /primary answers 200)
#   write   the first row committed again through the conninfo (what a role sees)
# and checks that every row whose commit was acknowledged is on the new primary.
#
# usage: perf/pg_failover_bench.sh BUILD [RUNS [TTL]]
#   RUNS default 5; TTL the leader lock's ttl in seconds (default 10, the test setting;
#   Patroni's default is 30). Prints one line per run, then p50 and max of each.
#   Quote the load average with the figures (shared machine).
set -uo pipefail
if [ "${1:-}" = "--one" ]; then
	# one run, inside decp-testenv --patroni
	. "$(dirname "$0")/../tests/decpctl/testlib.sh"
	. "$(dirname "$0")/../tests/lifecycle/patroni.sh"
	now() { date +%s.%N; }
	export PGCONNECT_TIMEOUT=2
	psql -X -q -c "CREATE TABLE bench (id bigint PRIMARY KEY)" "$DECP_PG_CONNINFO" || exit 1
	T=$(mktemp -d "${DECP_TEST_TMPDIR:-/tmp}/decp-pgfail.XXXXXX")
	trap 'kill -KILL $WPID 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
	writer() { # one INSERT per connection; each acknowledged one to $T/acked as
		# "START END ID" (the attempt's start and its acknowledgement)
		local i=0 s
		while [ ! -e "$T/stop" ]; do
			i=$((i + 1))
			s=$(now)
			psql -X -q -c "INSERT INTO bench VALUES ($i)" "$DECP_PG_CONNINFO" >/dev/null 2>&1 &&
				echo "$s $(now) $i" >>"$T/acked"
			sleep 0.02
		done
	}
	writer &
	WPID=$!
	for _ in $(seq 1 200); do [ "$(wc -l <"$T/acked" 2>/dev/null)" -ge 50 ] 2>/dev/null && break; sleep 0.05; done
	L=$(patroni_leader) || { echo "no leader"; exit 1; }
	t0=$(now)
	patroni_crash "$L" || { echo "crash failed"; exit 1; }
	tk=$(now) # the machine is gone: an attempt started after this needs the new primary
	for _ in $(seq 1 3000); do new=$(patroni_leader) && break; sleep 0.02; done
	t1=$(now)
	for _ in $(seq 1 3000); do
		awk -v t="$tk" '$1 > t' "$T/acked" 2>/dev/null | grep -q . && break
		sleep 0.02
	done
	t2=$(awk -v t="$tk" '$1 > t {print $2; exit}' "$T/acked")
	touch "$T/stop"
	wait "$WPID"
	acked=$(wc -l <"$T/acked")
	have=$(psql -X -q -t -A -c "SELECT count(*) FROM bench WHERE id IN ($(cut -d' ' -f3 "$T/acked" | paste -sd,))" "$DECP_PG_CONNINFO" 2>&1)
	awk -v a="$t0" -v b="$t1" -v c="$t2" -v acked="$acked" -v have="$have" -v old="$L" -v new="$new" \
		'BEGIN {printf "leader %.2f write %.2f acked %d present %s (member %s -> %s)\n", b - a, c - a, acked, have, old, new}'
	exit 0
fi
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
	[ $# -ge 1 ] && exit 0 || exit 2
fi
B=$1 RUNS=${2:-5} TTL=${3:-10}
ENV=$B/tests/harness/decp-testenv
[ -x "$ENV" ] || { echo "missing $ENV (build it first: meson compile -C $B)" >&2; exit 2; }
echo "PostgreSQL leader failover, Patroni ttl $TTL s, $RUNS runs; load: $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq 1 "$RUNS"); do
	line=$("$ENV" --patroni --patroni-ttl "$TTL" -- "$0" --one 2>&1 | tail -1)
	echo "run $r: $line"
	echo "$line" >>"$out"
done
grep '^leader' "$out" | awk '$6 != $8 {bad++} END {print (bad ? "LOST ACKNOWLEDGED ROWS in " bad " run(s)" : "no acknowledged row lost")}'
for f in 2 4; do
	name=$([ $f = 2 ] && echo "new leader" || echo "first write")
	grep '^leader' "$out" | awk -v f=$f '{print $f}' | sort -n |
		awk -v name="$name" '{v[NR] = $1} END {if (NR) printf "%s: p50 %.2f s, max %.2f s (n=%d)\n", name, v[int((NR + 1) / 2)], v[NR], NR}'
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
