#!/bin/bash
# Redis backup and restore drill (issue 22 items 4 and 5), run under decp-testenv --pg with
# a Redis of its own (appendonly yes, appendfsync always, as deployed), so it can kill it
# and delete its data. Usage: test_redis_drill.sh DECPCTL DATAPLANE CONTROL MASTER.
# Prints "N passed, N failed" and the time the recovery took.
#   signals 1..1000 durable in the stream and archived; decpctl redis backup; 1001..1500
#   durable and archived after it; Redis killed and its data directory lost; decpctl redis
#   restore; Redis started: the stream ends at the backup (1000); decpctl redis check says
#   BEHIND ARCHIVE; rebuild --yes: 1..1500 with the edge's entry IDs, check clean; then the
#   pipeline (posix dataplane, decp-control edge + archiver, decp-master) resumes: the
#   master is told 1501 in HelloAck and its next 100 signals are durable and archived.
D="$1" DP="$2" CTLBIN="$3" MASTER="$4"
. "$(dirname "$0")/../decpctl/testlib.sh"
[ -x "$D" ] && [ -x "$DP" ] && [ -x "$CTLBIN" ] && [ -x "$MASTER" ] && [ -n "$DECP_PG_CONNINFO" ] ||
	{ echo "usage: run under decp-testenv --pg"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d /tmp/decp-redis-drill.XXXXXX)
RDIR="$T/redis"
mkdir -p "$RDIR"
RPID= DPPID= CPPID=
SHM=decp-drill-$$
stop_redis() { # signal
	[ -n "$RPID" ] || return 0
	kill "-${1:-TERM}" "$RPID" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.05; done
	wait "$RPID" 2>/dev/null
	RPID=
}
cleanup() {
	for p in $CPPID $DPPID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	stop_redis KILL; rm -f "/dev/shm/$SHM"; rm -rf "$T"
}
trap cleanup EXIT
PORT=$(free_port) || { echo "no free port"; echo "0 passed, 1 failed"; exit 1; }
export DECP_REDIS_HOST=127.0.0.1 DECP_REDIS_PORT=$PORT
r() { redis-cli -h 127.0.0.1 -p "$PORT" --raw "$@"; }
start_redis() {
	redis-server --bind 127.0.0.1 --port "$PORT" --dir "$RDIR" --appendonly yes \
		--appendfsync always --save "" --daemonize no --logfile "$T/redis.log" &
	RPID=$!
	for _ in $(seq 1 200); do
		[ "$(r PING 2>/dev/null)" = PONG ] && [ "$(r INFO persistence | tr -d '\r' | sed -n 's/^loading://p')" = 0 ] && return 0
		kill -0 "$RPID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}
arch() { # first last: signals of master 1 in the archive
	q "INSERT INTO signal_archive (master_id, sequence, arrival_time, arrival_ns, symbol,
	     order_type, volume, body, hmac, ed25519_sig)
	   SELECT 1, s, to_timestamp(1764500000 + s), (1764500000 + s) * 1000000000::bigint + 1,
	     'EURUSD', 'BUY', 100, convert_to('body-' || s, 'UTF8'), convert_to('hmac-' || s, 'UTF8'),
	     convert_to('sig-' || s, 'UTF8')
	   FROM generate_series($1, $2) s" >/dev/null
}
now_s() { date +%s.%N; }
since() { echo "$1 $(now_s)" | awk '{printf "%.2f", $2 - $1}'; }

"$D" db migrate >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }
"$D" master add --id 1 --name m1 --key-seed drill >/dev/null
start_redis || { echo "redis did not start: $(tail -3 "$T/redis.log")"; echo "0 passed, 1 failed"; exit 1; }

# Usage.
check backup_no_to 2 "$D" redis backup
check backup_relative 2 "$D" redis backup --to bk
check restore_args 2 "$D" redis restore --from "$T/bk"
check restore_running 3 "$D" redis restore --from "$T/bk" --data-dir "$RDIR" --yes

# Durable signals 1..1000 (written as the edge writes them: rebuild reproduces its entries).
arch 1 1000
"$D" redis rebuild --yes >/dev/null
[ "$(r XLEN 'decp:{m1}:signals')" = 1000 ] && ok || bad "setup XLEN $(r XLEN 'decp:{m1}:signals')"
out=$("$D" redis backup --to "$T/bk" 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "stream decp:{m1}:signals last 1000-0" && ok || bad "backup: $rc $out"
BK=$(ls -d "$T"/bk/redis-* | head -1)
[ -f "$BK/dump.rdb" ] && grep -q "^file dump.rdb size [0-9]* sha256 [0-9a-f]\{64\}$" "$BK/MANIFEST" && ok || bad "backup files: $(cat "$BK/MANIFEST")"
# After the backup: 1001..1500 durable and archived.
arch 1001 1500
"$D" redis rebuild --yes >/dev/null
[ "$(r XLEN 'decp:{m1}:signals')" = 1500 ] && ok || bad "XLEN after backup"
entry_before=$(r XRANGE 'decp:{m1}:signals' 1234-0 1234-0 | od -An -tx1 | tr -d ' \n')

# Disaster: Redis dies and its disk is lost.
stop_redis KILL
rm -rf "$RDIR" && mkdir -p "$RDIR"
check restore_no_yes 3 "$D" redis restore --from "$BK" --data-dir "$RDIR"
cp -r "$BK" "$T/corrupt"
printf 'X' | dd of="$T/corrupt/dump.rdb" bs=1 seek=30 conv=notrunc status=none
check restore_corrupt 5 "$D" redis restore --from "$T/corrupt" --data-dir "$RDIR" --yes
[ -z "$(ls -A "$RDIR")" ] && ok || bad "a corrupt backup changed the data directory"

t0=$(now_s)
out=$("$D" redis restore --from "$BK" --data-dir "$RDIR" --yes 2>&1) && ok || bad "restore: $out"
start_redis || bad "redis after restore: $(tail -3 "$T/redis.log")"
t_start=$(since "$t0")
[ "$(r XLEN 'decp:{m1}:signals')" = 1000 ] && ok || bad "restored XLEN $(r XLEN 'decp:{m1}:signals'), want 1000"
out=$("$D" redis check 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "BEHIND ARCHIVE" && ok || bad "check after restore: $rc $out"
t1=$(now_s)
check rebuild 0 "$D" redis rebuild --yes
t_rebuild=$(since "$t1")
[ "$(r XLEN 'decp:{m1}:signals')" = 1500 ] && ok || bad "XLEN after rebuild"
got=$(r XRANGE 'decp:{m1}:signals' 1234-0 1234-0 | od -An -tx1 | tr -d ' \n')
[ -n "$entry_before" ] && [ "$got" = "$entry_before" ] && ok || bad "entry 1234 differs after rebuild: $got vs $entry_before"
check check_clean 0 "$D" redis check
# The AOF is live again: a restart keeps everything.
stop_redis TERM
start_redis || bad "restart"
[ "$(r XLEN 'decp:{m1}:signals')" = 1500 ] && ok || bad "XLEN after restart $(r XLEN 'decp:{m1}:signals')"

# The pipeline resumes on the restored and rebuilt Redis: the edge reads each master's
# durable sequence from its stream, so HelloAck says 1501. (With the api, plain, for the
# edge's counters on /metrics below.)
APIPORT=$(free_port) || bad "no free port for the api"
start_pipeline "$T" "$SHM" "roles = edge,archiver,api" "redis_host = 127.0.0.1" "redis_port = $PORT" \
	"api_port = $APIPORT" "api_tls = off"
out=$(timeout 120 "$MASTER" --connect "127.0.0.1:$(cat "$T/dp.port")" --masters 1 --signals 1600 \
	--key-seed drill --time-limit-s 100 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q " acked=1600 " && echo "$out" | grep -q " acked_by_helloack=1500 " &&
	ok || bad "master after the drill: $rc $out $(tail -3 "$T/control.log")"
[ "$(r XLEN 'decp:{m1}:signals')" = 1600 ] && ok || bad "XLEN after resuming $(r XLEN 'decp:{m1}:signals')"
arch_q="SELECT count(*) || ' ' || max(sequence) FROM signal_archive WHERE master_id = 1"
for _ in $(seq 1 600); do
	[ "$(q "$arch_q")" = "1600 1600" ] && break
	sleep 0.05
done
[ "$(q "$arch_q")" = "1600 1600" ] && ok || bad "archive after resuming: $(q "$arch_q")"
# A stream that ends below what was ACKed while decp-control runs (Redis back from a repaired
# or older AOF, docs/operations.md "Redis restart or crash"): the dataplane goes on from the
# ACKed sequence and Redis refuses each new signal as a gap: none is ACKed, and the edge says
# why (it said nothing: masters stalled silently).
r XDEL 'decp:{m1}:signals' 1599-0 1600-0 >/dev/null
timeout 30 "$MASTER" --connect "127.0.0.1:$(cat "$T/dp.port")" --masters 1 --signals 1610 \
	--key-seed drill --time-limit-s 3 >/dev/null 2>&1
[ "$(r XLEN 'decp:{m1}:signals')" = 1598 ] && ok || bad "a gap was written: XLEN $(r XLEN 'decp:{m1}:signals')"
grep -q "edge warn: master 1 sequence 16[0-9][0-9]: refused by Redis as a gap" "$T/control.log" &&
	ok || bad "no warning of the gap: $(tail -5 "$T/control.log")"
# ... and counts it where an alert sees it (docs/deploy/decp-alerts.yml DecpRedisStreamGap):
# before, the count was only in the edge's stopped: line
metrics=$(curl -s --max-time 10 "http://127.0.0.1:$APIPORT/metrics")
gaps=$(echo "$metrics" | sed -n 's/^decp_edge_redis_gaps_total \([0-9]*\)$/\1/p')
written=$(echo "$metrics" | sed -n 's/^decp_edge_signals_written_total \([0-9]*\)$/\1/p')
[ "${gaps:-0}" -ge 1 ] && [ "${written:-0}" = 100 ] && ok ||
	bad "/metrics: decp_edge_redis_gaps_total '$gaps' (want >= 1), decp_edge_signals_written_total '$written' (want 100)"
kill "$CPPID" "$DPPID"; wait "$CPPID" "$DPPID" 2>/dev/null; CPPID= DPPID=

# A master that runs on while its server loses ACKed signals (Redis rebuilt from an archive
# that lacks the newest, as after "Redis host lost"; here decp-control runs without its
# archiver, so the archive stays at 1600): HelloAck says where the stream ends, and the
# master sends those signals again, the same bytes. decp-master stalled there: its next
# signal fell below its oldest unACKed one, the window's unsigned difference wrapped, it
# sent nothing and no timeout fired (the second drill of 7 Dec 2026).
r DEL 'decp:{m1}:signals' >/dev/null
check rebuild_1600 0 "$D" redis rebuild --yes
EP1=127.0.0.1:$(free_port) EP2=127.0.0.1:$(free_port)   # the restart's: EP1 is in TIME_WAIT
export DP_LISTEN=$EP1
start_pipeline "$T" "$SHM" "roles = edge" "redis_host = 127.0.0.1" "redis_port = $PORT" ||
	bad "pipeline for the running master"
timeout 150 "$MASTER" --connect "$EP1,$EP2" --masters 1 --signals 2200 --key-seed drill \
	--rate 100 --time-limit-s 120 >"$T/running.out" 2>&1 &
MPID=$!
for _ in $(seq 1 600); do [ "$(r XLEN 'decp:{m1}:signals')" -ge 1750 ] && break; sleep 0.1; done
kill "$CPPID" "$DPPID"; wait "$CPPID" "$DPPID" 2>/dev/null; CPPID= DPPID=
lost=$(( $(r XLEN 'decp:{m1}:signals') - 1600 ))
r DEL 'decp:{m1}:signals' >/dev/null
check rebuild_again 0 "$D" redis rebuild --yes
export DP_LISTEN=$EP2
start_pipeline "$T" "$SHM" "roles = edge" "redis_host = 127.0.0.1" "redis_port = $PORT" ||
	bad "pipeline again"
wait "$MPID"; rc=$?
out=$(cat "$T/running.out")
[ "$lost" -ge 100 ] && [ $rc = 0 ] && echo "$out" | grep -q " acked=2200 " &&
	echo "$out" | grep -q " server_lost=[1-9]" && [ "$(r XLEN 'decp:{m1}:signals')" = 2200 ] &&
	ok || bad "the running master after the loss of $lost ACKed signals: exit $rc, XLEN $(r XLEN 'decp:{m1}:signals') (want 2200): $out"
unset DP_LISTEN
kill "$CPPID" "$DPPID"; wait "$CPPID" "$DPPID" 2>/dev/null; CPPID= DPPID=

# A second restore moves the current data aside, never deletes it.
stop_redis TERM
check restore_again 0 "$D" redis restore --from "$BK" --data-dir "$RDIR" --yes
[ "$(ls -d "$RDIR"/appendonlydir.before-restore-* | wc -l)" = 1 ] && ok || bad "old data not kept aside"
echo "Redis drill: restore and start $t_start s, rebuild of 500 signals $t_rebuild s"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
