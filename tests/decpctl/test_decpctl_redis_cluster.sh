#!/bin/bash
# decpctl redis check / rebuild / backup on a Redis Cluster (issue 23 item 1), run under
# decp-testenv --redis-cluster --pg (3 primaries, 3 replicas; DECP_REDIS_NODES,
# DECP_REDIS_CLUSTER_PORTS). Usage: test_decpctl_redis_cluster.sh DECPCTL DATAPLANE CONTROL
# MASTER. Prints "N passed, N failed" last.
#   6 masters stream through the real pipeline (posix dataplane, decp-control edge +
#   archiver with redis_nodes, decp-master) into the cluster, their streams on all three
#   primaries; check --redis-nodes: every stream equal to the archive, each on the primary
#   the cluster says (text and --json); check through one node with --redis (MOVED
#   followed); a stream in the middle of a slot migration (ASK followed); a backup of one
#   primary lists exactly its streams; then one primary loses its data (FLUSHALL, with
#   decp-control stopped): check exits 1 with BEHIND ARCHIVE for exactly that node's
#   masters, rebuild --yes restores them byte for byte, check is clean; the pipeline
#   resumes on the rebuilt streams. Last, the runbook of docs/operations.md for a primary
#   whose data is lost on every copy: a primary and its replica killed and their AOF
#   deleted, the primary's snapshot restored, both started again: its masters are behind
#   by what came after the snapshot, rebuild --yes, check clean. Bad input: clear errors.
D="$1" DP="$2" CTLBIN="$3" MASTER="$4"
. "$(dirname "$0")/testlib.sh"
[ -x "$D" ] && [ -x "$DP" ] && [ -x "$CTLBIN" ] && [ -x "$MASTER" ] &&
	[ -n "$DECP_PG_CONNINFO" ] && [ -n "$DECP_REDIS_NODES" ] ||
	{ echo "usage: run under decp-testenv --redis-cluster --pg"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d /tmp/decp-ctl-rcluster.XXXXXX)
SHM=decp-ctlrcl-$$
DPPID= CPPID= OURS=
stop_pipeline() {
	for p in $CPPID $DPPID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	CPPID= DPPID=
}
cleanup() {
	stop_pipeline
	for p in $OURS; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -f "/dev/shm/$SHM"; rm -rf "$T"
}
trap cleanup EXIT
read -r -a PORTS <<<"$DECP_REDIS_CLUSTER_PORTS"
MASTERS="1 2 3 4 5 6"
N=1500
key() { echo "decp:{m$1}:signals"; }
# The primary (port) holding master M's stream, asked of the nodes themselves: the one
# that answers XLEN instead of MOVED (a replica answers MOVED too without READONLY).
owner() {
	local p
	for p in "${PORTS[@]}"; do
		rc_of "$p" XLEN "$(key "$1")" 2>/dev/null | grep -qx '[0-9][0-9]*' && { echo "$p"; return; }
	done
}
node_masters() { # PORT: the masters whose stream it holds, sorted
	local m
	for m in $MASTERS; do [ "$(owner "$m")" = "$1" ] && echo "$m"; done
}
digest() { rc_of "$(owner "$1")" XRANGE "$(key "$1")" - + | sha256sum | cut -c1-64; }
arch_q="SELECT count(*) || ' ' || count(DISTINCT (master_id, sequence)) FROM signal_archive"

"$D" db migrate >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }
for m in $MASTERS; do "$D" master add --id "$m" --name "m$m" --key-seed rcl >/dev/null; done

# Bad input.
check nodes_empty 2 "$D" redis check --redis-nodes ""
check nodes_no_port 2 "$D" redis check --redis-nodes 127.0.0.1
check nodes_port0 2 "$D" redis check --redis-nodes 127.0.0.1:0
check nodes_empty_item 2 "$D" redis check --redis-nodes "127.0.0.1:7000,,127.0.0.1:7001"
check nodes_trailing 2 "$D" redis check --redis-nodes "127.0.0.1:7000,"
check nodes_and_redis 2 "$D" redis check --redis-nodes "$DECP_REDIS_NODES" --redis 127.0.0.1:1
check nodes_env_bad 2 env DECP_REDIS_NODES=nonsense "$D" redis check
out=$("$D" redis backup --to "$T/x" --redis-nodes "$DECP_REDIS_NODES" 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "on a cluster run it for each primary with --redis" &&
	ok || bad "backup --redis-nodes: exit $rc: $out"
out=$("$D" redis check --redis-nodes 127.0.0.1:1,127.0.0.1:2 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "Redis Cluster: no seed node of redis_nodes (127.0.0.1:1,127.0.0.1:2) answered CLUSTER SLOTS" &&
	ok || bad "unreachable seeds: exit $rc: $out"
out=$("$D" redis check --redis-nodes "127.0.0.1:${PORTS[0]}" --redis 127.0.0.1:1 2>&1)
echo "$out" | grep -q "exclude each other" && ok || bad "--redis with --redis-nodes: $out"

# The masters stream through the real pipeline into the cluster; the archiver runs.
start_pipeline "$T" "$SHM" "roles = edge,archiver" "redis_nodes = $DECP_REDIS_NODES" \
	"redis_port = 1" "archiver_block_ms = 20" ||
	{ bad "pipeline not ready: $(tail -5 "$T/control.log")"; echo "$pass passed, $fail failed"; exit 1; }
stream_masters "$T" 6 $N rcl
for _ in $(seq 1 600); do
	[ "$(q "$arch_q")" = "$((6 * N)) $((6 * N))" ] && break
	sleep 0.05
done
[ "$(q "$arch_q")" = "$((6 * N)) $((6 * N))" ] && ok || bad "archive: $(q "$arch_q")"
# the streams are on all three primaries (else the test would not test routing)
nodes=$(for m in $MASTERS; do owner "$m"; done | sort -u | wc -l)
[ "$nodes" = 3 ] && ok || bad "the masters' streams are on $nodes primaries, want 3"

# check: every stream on its primary, equal to the archive.
out=$("$D" redis check --redis-nodes "$DECP_REDIS_NODES" 2>&1); rc=$?
[ $rc = 0 ] && ok || bad "check after streaming: exit $rc: $out"
for m in $MASTERS; do
	echo "$out" | awk -v m="$m" -v n=$N -v node="127.0.0.1:$(owner "$m")" \
		'$1 == m && $2 == 1 && $3 == n && $4 == n && $5 == n && $6 == n && $8 == node && $9 == "ok" { f = 1 } END { exit !f }' &&
		ok || bad "check line of master $m (on $(owner "$m")): $out"
done
json=$(DECP_REDIS_NODES="$DECP_REDIS_NODES" "$D" redis check --json) # the environment's cluster
for m in $MASTERS; do
	echo "$json" | grep -q "\"master\":$m,\"stream_first\":1,\"stream_last\":$N,\"stream_length\":$N,\"archive_max\":$N,\"archive_rows\":$N,\"pending\":0,\"behind\":false,\"node\":\"127.0.0.1:$(owner "$m")\"" &&
		ok || bad "check --json, master $m: $json"
done
# One node named with --redis: the streams elsewhere answer MOVED, followed.
check via_one_node 0 "$D" redis check --redis "127.0.0.1:${PORTS[0]}"

# Holes below the archive's max (a promoted asynchronous replica): each master loses
# 200..260 from the archive; --repair-holes rewinds each group on its stream's primary, the
# running archiver fills them, each row once.
q "DELETE FROM signal_archive_keys WHERE sequence BETWEEN 200 AND 260;
   DELETE FROM signal_archive WHERE sequence BETWEEN 200 AND 260" >/dev/null || bad "cut holes"
out=$("$D" redis check --redis-nodes "$DECP_REDIS_NODES" --repair-holes 2>&1); rc=$?
[ $rc = 1 ] && ok || bad "repair-holes: exit $rc: $out"
for m in $MASTERS; do
	echo "$out" | grep -q "master $m: the stream holds 61 of them, from 200: rewound from $N-0" &&
		ok || bad "master $m (on $(owner "$m")) not rewound: $out"
done
for _ in $(seq 1 600); do
	[ "$(q "$arch_q")" = "$((6 * N)) $((6 * N))" ] && break
	sleep 0.05
done
[ "$(q "$arch_q")" = "$((6 * N)) $((6 * N))" ] && ok || bad "archive after repair-holes: $(q "$arch_q")"
check holes_repaired 0 "$D" redis check --redis-nodes "$DECP_REDIS_NODES"

# A backup of one primary lists its own streams, and only those.
P=$(owner 1)
out=$("$D" redis backup --to "$T/bk" --redis "127.0.0.1:$P" 2>&1) && ok || bad "backup of $P: $out"
got=$(sed -n 's/^stream decp:{m\([0-9]*\)}:signals last \([0-9]*\)-0$/\1 \2/p' "$T"/bk/redis-*/MANIFEST | sort)
want=$(for m in $(node_masters "$P"); do echo "$m $N"; done | sort)
[ -n "$want" ] && [ "$got" = "$want" ] && ok || bad "backup MANIFEST of $P: '$got', want '$want'"
"$D" redis backup --to "$T/bkv" --redis "127.0.0.1:$(owner 2)" >/dev/null 2>&1 && ok ||
	bad "backup of master 2's primary"
grep -qx "cluster_node $(rc_of "$P" CLUSTER MYID)" "$T"/bk/redis-*/MANIFEST && ok ||
	bad "backup MANIFEST names the node: $(cat "$T"/bk/redis-*/MANIFEST | head -5)"
# Every primary's daily backup into one directory (one host), each keeping its newest one:
# each keeps its own (the directory names the node: two in one second do not collide; the
# --keep of one does not prune another's).
for p in "${PORTS[@]}"; do
	[ "$(rc_of "$p" ROLE | head -1)" = master ] || continue
	out=$("$D" redis backup --to "$T/shared" --keep 1 --redis "127.0.0.1:$p" 2>&1) ||
		bad "backup of primary $p into a shared directory: $out"
done
nodes=$(for f in "$T"/shared/redis-*/MANIFEST; do sed -n 's/^cluster_node //p' "$f"; done | sort -u | wc -l)
[ "$(ls -d "$T"/shared/redis-*/MANIFEST | wc -l)" = 3 ] && [ "$nodes" = 3 ] && ok ||
	bad "a shared directory holds $(ls "$T/shared" | tr '\n' ' ')of 3 nodes ($nodes)"

stop_pipeline

# A stream in the middle of a slot migration: its key already moved to the target, the
# slot still the source's. The source answers ASK; check follows it (ASKING + the command).
M4=4 SRC=$(owner 4)
for p in "${PORTS[@]:0:3}"; do [ "$p" != "$SRC" ] && [ "$(rc_of "$p" ROLE | head -1)" = master ] && DST=$p; done
[ -z "$DST" ] && for p in "${PORTS[@]}"; do
	[ "$p" != "$SRC" ] && [ "$(rc_of "$p" ROLE | head -1)" = master ] && DST=$p
done
SLOT=$(rc_of "$SRC" CLUSTER KEYSLOT "$(key $M4)")
SRC_ID=$(rc_of "$SRC" CLUSTER MYID) DST_ID=$(rc_of "$DST" CLUSTER MYID)
before4=$(digest $M4)
rc_of "$DST" CLUSTER SETSLOT "$SLOT" IMPORTING "$SRC_ID" >/dev/null
rc_of "$SRC" CLUSTER SETSLOT "$SLOT" MIGRATING "$DST_ID" >/dev/null
rc_of "$SRC" MIGRATE 127.0.0.1 "$DST" "$(key $M4)" 0 5000 | grep -q OK && ok || bad "MIGRATE"
out=$("$D" redis check --master $M4 --json 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "\"master\":$M4,\"stream_first\":1,\"stream_last\":$N,.*\"behind\":false,\"node\":\"127.0.0.1:$DST\"" &&
	ok || bad "check of a migrating stream (ASK followed to $DST): exit $rc: $out"
for p in "${PORTS[@]}"; do # the migration ends: the slot is the target's
	[ "$(rc_of "$p" ROLE | head -1)" = master ] && rc_of "$p" CLUSTER SETSLOT "$SLOT" NODE "$DST_ID" >/dev/null
done
for _ in $(seq 1 200); do [ "$(owner $M4)" = "$DST" ] && break; sleep 0.05; done
[ "$(digest $M4)" = "$before4" ] && ok || bad "master 4's stream after its migration"
check check_after_migration 0 "$D" redis check

# A migration set up on the source only (MIGRATING, the target not IMPORTING): the source
# answers ASK for a stream it lacks (master 7 has none), the target MOVED back: a second
# redirect, not followed, a clear error; then the slot is made stable again. Master 7 is a
# row of masters only for this (check refuses a --master the database lacks), removed after.
q "INSERT INTO masters (id, name, hmac_secret, ed25519_public_key) VALUES (7, 'm7',
   decode(repeat('ab', 32), 'hex'), decode(repeat('cd', 32), 'hex'))" >/dev/null || bad "master 7 row"
S7=$(owner 7)
T7=$(for p in "${PORTS[@]}"; do [ "$p" != "$S7" ] && [ "$(rc_of "$p" ROLE | head -1)" = master ] && echo "$p"; done | head -1)
SLOT7=$(rc_of "$S7" CLUSTER KEYSLOT "$(key 7)")
rc_of "$S7" CLUSTER SETSLOT "$SLOT7" MIGRATING "$(rc_of "$T7" CLUSTER MYID)" >/dev/null
out=$("$D" redis check --master 7 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "redirected again" &&
	echo "$out" | grep -q "master 7's slot is being resharded: nothing was concluded for it; run again when the resharding is done" &&
	ok || bad "a slot redirected twice: exit $rc: $out"
rc_of "$S7" CLUSTER SETSLOT "$SLOT7" STABLE >/dev/null
check master7_stable 0 "$D" redis check --master 7
q "DELETE FROM masters WHERE id = 7" >/dev/null || bad "master 7 row removed"

# One primary loses its data (decp-control stopped): exactly its masters are behind.
V=$(owner 2)
lost=$(node_masters "$V" | tr '\n' ' ')
declare -A before
for m in $lost; do before[$m]=$(digest "$m"); done
rc_of "$V" FLUSHALL >/dev/null
out=$("$D" redis check 2>&1); rc=$?
[ $rc = 1 ] && ok || bad "check after FLUSHALL on $V: exit $rc, want 1: $out"
behind=$(echo "$out" | awk '/BEHIND ARCHIVE/ { print $1 }' | tr '\n' ' ')
[ -n "$lost" ] && [ "$behind" = "$lost" ] && ok || bad "behind: '$behind', want the masters of $V: '$lost': $out"
json=$("$D" redis check --json)
nb=$(echo "$json" | grep -o '"behind":true' | wc -l)
[ "$nb" = "$(echo $lost | wc -w)" ] && ok || bad "--json behind count $nb: $json"
check rebuild_needs_yes 3 "$D" redis rebuild
out=$("$D" redis rebuild --yes 2>&1); rc=$?
[ $rc = 0 ] && ok || bad "rebuild: exit $rc: $out"
check check_after_rebuild 0 "$D" redis check
for m in $lost; do
	[ "$(digest "$m")" = "${before[$m]}" ] && ok || bad "master $m's stream differs after the rebuild"
done
redis-cli -c -h 127.0.0.1 -p "${PORTS[0]}" --raw SMEMBERS decp:masters | sort -n | tr '\n' ' ' |
	grep -qx "1 2 3 4 5 6 " &&
	ok || bad "decp:masters after the rebuild"

# The pipeline resumes on the rebuilt streams: HelloAck says N + 1 for every master.
start_pipeline "$T" "$SHM" "roles = edge,archiver" "redis_nodes = $DECP_REDIS_NODES" \
	"redis_port = 1" "archiver_block_ms = 20" || bad "pipeline after the rebuild"
out=$(timeout 120 "$MASTER" --connect "127.0.0.1:$(cat "$T/dp.port")" --masters 6 \
	--signals $((N + 100)) --key-seed rcl --time-limit-s 100 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q " acked=$((6 * (N + 100))) " &&
	echo "$out" | grep -q " acked_by_helloack=$((6 * N)) " && ok || bad "masters after the rebuild: $rc $out"
for _ in $(seq 1 600); do
	[ "$(q "$arch_q")" = "$((6 * (N + 100))) $((6 * (N + 100)))" ] && break
	sleep 0.05
done
check check_at_end 0 "$D" redis check
stop_pipeline

# A primary and its replica lose their data (killed, AOF deleted; nodes.conf, the node's
# identity and slots, kept): the primary's snapshot (taken at N) is restored, both are
# started again as the harness started them, and the signals after it are rebuilt.
V=$(owner 2)
BKV="$T/bkv/$(ls "$T/bkv" 2>/dev/null | head -1)"
read -r -a PIDS <<<"$DECP_REDIS_CLUSTER_PIDS"
idx() { local i; for i in "${!PORTS[@]}"; do [ "${PORTS[$i]}" = "$1" ] && echo "$i"; done; }
R=$(rc_of "$V" ROLE | sed -n 4p) # a primary's ROLE: master, offset, then each replica's ip, port, offset
iv=$(idx "$V") ir=$(idx "$R")
[ -n "$iv" ] && [ -n "$ir" ] && [ -f "$BKV/MANIFEST" ] && ok || bad "primary $V, replica $R, backup '$BKV'"
lostv=$(node_masters "$V" | tr '\n' ' ')
start_node() { # index: redis-server as harness_rcluster starts it, on its port, dir and bus port
	local dir="$DECP_REDIS_CLUSTER_DIR/n$1" bus
	bus=$(awk '/myself/ { sub(/.*@/, "", $2); sub(/,.*/, "", $2); print $2 }' "$dir/nodes.conf")
	redis-server --port "${PORTS[$1]}" --bind 127.0.0.1 --dir "$dir" --daemonize no --save "" \
		--logfile "$dir/restart.log" --appendonly yes --appendfsync always \
		--auto-aof-rewrite-percentage 0 --protected-mode no --cluster-enabled yes \
		--cluster-config-file nodes.conf --cluster-port "$bus" --cluster-node-timeout 2000 \
		--cluster-replica-validity-factor 0 &
	OURS="$OURS $!"
	wait_ping "${PORTS[$1]}"
}
# both at once: a replica left alive for the cluster-node-timeout (2 s) would be promoted
# (the killed nodes stay zombies of decp-testenv: wait for their ports, not their PIDs)
kill -9 "${PIDS[$iv]}" "${PIDS[$ir]}"
for i in $iv $ir; do
	for _ in $(seq 1 100); do rc_of "${PORTS[$i]}" PING >/dev/null 2>&1 || break; sleep 0.05; done
	rm -rf "$DECP_REDIS_CLUSTER_DIR/n$i/appendonlydir"
done
out=$("$D" redis check 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "^decpctl redis: Redis Cluster: " && ok ||
	bad "check with a primary and its replica down: exit $rc: $out"
out=$("$D" redis restore --from "$BKV" --data-dir "$DECP_REDIS_CLUSTER_DIR/n$iv" \
	--redis "127.0.0.1:$V" --yes 2>&1) && ok || bad "restore of $V: $out"
start_node "$iv" && start_node "$ir" && ok || bad "the nodes did not start again"
cluster_ok() { # every node says cluster_state:ok
	local p
	for p in "${PORTS[@]}"; do
		rc_of "$p" CLUSTER INFO 2>/dev/null | tr -d '\r' | grep -qx cluster_state:ok || return 1
	done
}
for _ in $(seq 1 600); do cluster_ok && break; sleep 0.05; done
cluster_ok && ok || bad "cluster_state:ok after the restart"
out=$("$D" redis check 2>&1); rc=$?
behind=$(echo "$out" | awk '/BEHIND ARCHIVE/ { print $1 }' | tr '\n' ' ')
[ $rc = 1 ] && [ -n "$lostv" ] && [ "$behind" = "$lostv" ] && ok ||
	bad "after the restore of $V: exit $rc, behind '$behind', want '$lostv': $out"
# each stream ends where the snapshot's MANIFEST says (a stream that came to this node
# after the snapshot, by the migration above, is not in it: empty)
inbk=$(sed -n 's/^stream decp:{m\([0-9]*\)}:signals last .*/\1/p' "$BKV/MANIFEST" | tr '\n' ' ')
echo "$out" | awk -v n=$N -v inbk=" $inbk" '/BEHIND ARCHIVE/ { want = index(inbk, " " $1 " ") ? n : 0; if ($3 != want) exit 1 }' &&
	[ -n "$inbk" ] && ok || bad "restored streams do not end at the snapshot (masters '$inbk' at $N): $out"
check rebuild_after_restore 0 "$D" redis rebuild --yes
check check_after_restore 0 "$D" redis check

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
