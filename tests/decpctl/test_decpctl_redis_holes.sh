#!/bin/bash
# decpctl redis check finds holes below the archive's highest sequence, and --repair-holes
# has a running archiver fill them (docs/operations.md "PostgreSQL primary lost: promote a
# replica", steps 5 and 6), run under decp-testenv --redis --pg. Usage:
# test_decpctl_redis_holes.sh DECPCTL DATAPLANE CONTROL MASTER. Prints "N passed, N failed".
#   3 masters stream 600 signals each through the real pipeline (posix dataplane,
#   decp-control edge + archiver, decp-master). Then, as an asynchronous replica's promotion
#   leaves it, rows and their dedup keys go from the archive: master 1 loses 103..206 (its
#   stream holds them); master 2 loses 50..60 (its stream trimmed below 100: lost from both)
#   and 300..320 (held). check exits 1 naming them, LOST for 50..60; --repair-holes rewinds
#   both groups while the archiver runs; it fills the holes, each sequence archived once,
#   check exits 0 for masters 1 and 3 (2 keeps its LOST range, exit 1). With decp-control
#   stopped: a group behind the hole is never moved forward; a gap around a day moved to a
#   tier (archive_catalog) is not a hole.
D="$1" DP="$2" CTLBIN="$3" MASTER="$4"
. "$(dirname "$0")/testlib.sh"
[ -x "$D" ] && [ -x "$DP" ] && [ -x "$CTLBIN" ] && [ -x "$MASTER" ] &&
	[ -n "$DECP_PG_CONNINFO" ] && [ -n "$DECP_REDIS_PORT" ] ||
	{ echo "usage: run under decp-testenv --redis --pg"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d /tmp/decp-ctl-holes.XXXXXX)
SHM=decp-ctlholes-$$
DPPID= CPPID=
stop_pipeline() {
	for p in $CPPID $DPPID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	CPPID= DPPID=
}
cleanup() { stop_pipeline; rm -f "/dev/shm/$SHM"; rm -rf "$T"; }
trap cleanup EXIT
N=600
per_master="SELECT string_agg(master_id || ':' || n || '/' || d || '/' || mx || '/' || k, ' '
  ORDER BY master_id) FROM (SELECT master_id, count(*) n, count(DISTINCT sequence) d,
  max(sequence) mx, (SELECT count(*) FROM signal_archive_keys k WHERE k.master_id = a.master_id) k
  FROM signal_archive a GROUP BY master_id) x"
cut_archive() { # master, first, last: the rows and their keys, as a promotion loses both
	q "DELETE FROM signal_archive_keys WHERE master_id = $1 AND sequence BETWEEN $2 AND $3;
	   DELETE FROM signal_archive WHERE master_id = $1 AND sequence BETWEEN $2 AND $3" >/dev/null ||
		bad "cut $*"
}
wait_archive() { # want
	for _ in $(seq 1 600); do
		[ "$(q "$per_master")" = "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

"$D" db migrate >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }
for m in 1 2 3; do "$D" master add --id "$m" --name "m$m" --key-seed holes >/dev/null; done
start_pipeline "$T" "$SHM" "roles = edge,archiver" "redis_host = $DECP_REDIS_HOST" \
	"redis_port = $DECP_REDIS_PORT" "archiver_block_ms = 20" ||
	{ bad "pipeline not ready: $(tail -5 "$T/control.log")"; echo "$pass passed, $fail failed"; exit 1; }
stream_masters "$T" 3 $N holes
full="1:$N/$N/$N/$N 2:$N/$N/$N/$N 3:$N/$N/$N/$N"
wait_archive "$full" && ok || bad "archive: $(q "$per_master")"
check clean_before 0 "$D" redis check

# The promotion's loss. Master 2's stream no longer holds 1..99 (trimmed exactly).
cut_archive 1 103 206
cut_archive 2 50 60
cut_archive 2 300 320
r XTRIM 'decp:{m2}:signals' MINID 100-0 >/dev/null
out=$("$D" redis check 2>&1); rc=$?
[ $rc = 1 ] && ok || bad "check with holes: exit $rc, want 1: $out"
echo "$out" | grep -E "^1 " | grep -q "ARCHIVE HOLES: run decpctl redis check --repair-holes" &&
	ok || bad "master 1's status: $out"
echo "$out" | grep -q "master 1: signal_archive lacks 104 sequences in 1 hole below its highest ($N): 103..206$" &&
	ok || bad "master 1's hole: $out"
echo "$out" | grep -q "master 1: the stream holds 104 of them, from 103" && ok || bad "master 1 held: $out"
echo "$out" | grep -E "^2 " | grep -q "ARCHIVE HOLES, SIGNALS LOST" && ok || bad "master 2's status: $out"
echo "$out" | grep -q "master 2: signal_archive lacks 32 sequences in 2 holes below its highest ($N): 50..60, 300..320$" &&
	ok || bad "master 2's holes: $out"
echo "$out" | grep -q "master 2: LOST: 11 of them are in neither the archive nor the Redis stream (it holds 100..$N)" &&
	ok || bad "master 2 LOST: $out"
echo "$out" | grep -q "master 2: the stream holds 21 of them, from 300" && ok || bad "master 2 held: $out"
echo "$out" | grep -E "^3 " | grep -q " ok$" && ok || bad "master 3 not ok: $out"
"$D" redis check --json --master 2 | grep -q '"holes":{"ranges":2,"missing":32,"in_stream":21,"repair_from":300,"first":\[\[50,60\],\[300,320\]\],"repair":""}' &&
	ok || bad "check --json: $("$D" redis check --json --master 2)"
check repair_needs_check 2 "$D" redis rebuild --yes --repair-holes

# The repair, while the archiver runs: each group back to just before its first held hole.
out=$("$D" redis check --repair-holes 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "master 1: the stream holds 104 of them, from 103: rewound from $N-0" &&
	echo "$out" | grep -q "master 2: the stream holds 21 of them, from 300: rewound from $N-0" &&
	echo "$out" | grep -q "master 1: the archiver group now reads again from 103" &&
	ok || bad "repair: exit $rc: $out"
after="1:$N/$N/$N/$N 2:$((N - 11))/$((N - 11))/$N/$((N - 11)) 3:$N/$N/$N/$N"
wait_archive "$after" && ok || bad "archive after the repair: $(q "$per_master"), want $after"
q "SELECT count(*) FROM generate_series(1, $N) s WHERE s NOT IN (SELECT sequence FROM signal_archive WHERE master_id = 1)" |
	grep -qx 0 && ok || bad "master 1 still lacks sequences"
# the archiver has caught up: nothing pending, the groups at the streams' ends
for _ in $(seq 1 200); do
	[ "$(r XPENDING 'decp:{m1}:signals' archiver | head -1)$(r XPENDING 'decp:{m2}:signals' archiver | head -1)" = 00 ] && break
	sleep 0.05
done
check clean_after 0 "$D" redis check --master 1 --master 3
out=$("$D" redis check --master 2 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "master 2: signal_archive lacks 11 sequences in 1 hole below its highest ($N): 50..60$" &&
	echo "$out" | grep -q "LOST: 11 of them" && ! echo "$out" | grep -q "the stream holds" &&
	ok || bad "master 2 after the repair: exit $rc: $out"
stop_pipeline

# A group behind the hole (the archiver not there yet) is never moved forward.
cut_archive 3 500 510
r XGROUP SETID 'decp:{m3}:signals' archiver 400-0 >/dev/null
out=$("$D" redis check --master 3 --repair-holes 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "master 3: the stream holds 11 of them, from 500: not moved forward from 400-0" &&
	echo "$out" | grep -E "^3 " | grep -q "ARCHIVE HOLES (below)$" &&
	ok || bad "group behind the hole (its status must not say rewound): exit $rc: $out"
r XINFO GROUPS 'decp:{m3}:signals' | grep -qx 400-0 && ok || bad "master 3's group moved: $(r XINFO GROUPS 'decp:{m3}:signals')"

# A gap around a day moved out to a tier is not a hole (its rows were archived, not lost):
# master 4's rows 1..10 arrived 120 days ago, 21..30 100 days ago, the day 110 days ago is
# in archive_catalog. Without that day in the catalog it is a hole.
"$D" master add --id 4 --name m4 --key-seed holes >/dev/null
for x in "1 10 120" "21 30 100"; do
	set -- $x
	q "INSERT INTO signal_archive (master_id, sequence, arrival_time, arrival_ns, symbol, order_type,
	     volume, body) SELECT 4, s, now() - interval '$3 days', 0, 'EURUSD', 'BUY', 1, '\\x00'
	   FROM generate_series($1, $2) s" >/dev/null || bad "master 4 rows $x"
done
r XADD 'decp:{m4}:signals' 30-0 r x >/dev/null
q "INSERT INTO archive_catalog (parent, day, tier, file, rows, bytes, file_sha256, manifest_sha256)
   VALUES ('signal_archive', (now() - interval '110 days')::date, 'cold',
           'signal_archive/signal_archive_p20260101.tsv.gz', 10, 1, repeat('0', 64), repeat('0', 64))" >/dev/null ||
	bad "catalog row"
check tiered_gap 0 "$D" redis check --master 4
q "DELETE FROM archive_catalog" >/dev/null
out=$("$D" redis check --master 4 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "master 4: signal_archive lacks 10 sequences in 1 hole below its highest (30): 11..20$" &&
	ok || bad "untiered gap: exit $rc: $out"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
