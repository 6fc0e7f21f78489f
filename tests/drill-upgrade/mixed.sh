#!/bin/bash
# Mixed versions on one Redis during an upgrade (not wired into meson: needs an older build).
# The NEW posix dataplane and NEW decp-control (edge, archiver, api, trust) stream 4 masters;
# the fan-out runs in a process of its own (docs/operations.md "Upgrades" step 2 recommends
# it) and is still the OLD build, serving a decp-subscriber of master 1. Midway the old
# fan-out is restarted (as any process of it reconnecting to Redis would): every role loads
# its function library with FUNCTION LOAD REPLACE on connect. Checks the stream, archive and
# subscriber, and prints what the new edge logged.
# Usage: decp-testenv --pg --redis-aof -- bash mixed.sh OLD_BUILD NEW_BUILD
OLD=$1 NEW=$2
. "$(dirname "$0")/../decpctl/testlib.sh"
. "$(dirname "$0")/lib.sh"
T=${DRILL_DIR:-$(mktemp -d /tmp/decp-upgrade-mixed.XXXXXX)}
mkdir -p "$T"
SHM=decp-mix-$$
MASTERS=4 SIGNALS=${SIGNALS:-6000} RATE=${RATE:-400}
DPPID= CPPID= FPID= MPID= SPID=
cleanup() {
	for p in $SPID $MPID $FPID $CPPID $DPPID; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -f "/dev/shm/$SHM"
	echo "logs in $T"
}
trap cleanup EXIT
log() { echo "[$(date +%T.%N | cut -c1-12)] $*" | tee -a "$T/mixed.log"; }
D=$NEW/tools/decpctl/decpctl DP=$NEW/dataplane/decp-dataplane CTLBIN=$NEW/controlplane/core/decp-control
"$D" db migrate >/dev/null || exit 1
for m in $(seq 1 $MASTERS); do "$D" master add --id "$m" --name "m$m" --key-seed mixed >/dev/null; done
ADMIN=$(openssl rand -hex 32)
APORT=$(free_port) FPORT=$(free_port)
start_pipeline "$T" "$SHM" "roles = edge,archiver,api,trust" "redis_host = 127.0.0.1" \
	"redis_port = $DECP_REDIS_PORT" "api_tls = off" "api_port = $APORT" \
	"api_admin_token_sha256 = $(printf %s "$ADMIN" | sha256sum | cut -d' ' -f1)" \
	"backoff_max_ms = 500" || { log "new pipeline never ready"; exit 1; }
printf '%s\n' "shm = /$SHM" "pg_conninfo = \"$DECP_PG_CONNINFO user=decp_app\"" "roles = fanout" \
	"redis_host = 127.0.0.1" "redis_port = $DECP_REDIS_PORT" "fanout_tls = off" \
	"fanout_port = $FPORT" "backoff_max_ms = 500" >"$T/fanout.conf"
start_fanout() { "$OLD/controlplane/core/decp-control" --config "$T/fanout.conf" >>"$T/fanout-old.log" 2>&1 & FPID=$!; }
start_fanout
drill_fixtures mixed || { log "fixtures failed: $(cat "$T/api.body")"; exit 1; }
fns() { redis-cli -p "$DECP_REDIS_PORT" --raw FUNCTION LIST LIBRARYNAME decp | grep -c '^decp_'; }
log "functions in library decp after the new edge and the old fan-out connected: $(fns)"
"$OLD/tools/subscriber/decp-subscriber" --url "ws://127.0.0.1:$FPORT/" --keys "$T/keys" --token "$TOK" \
	--master 1 --ttl-ms 600000 --report-exec --log "$T/sub.log" --expect "$SIGNALS" --timeout 300 \
	>"$T/sub.out" 2>&1 &
SPID=$!
"$NEW/tools/decp-master" --connect "127.0.0.1:$(cat "$T/dp.port")" --masters $MASTERS --signals "$SIGNALS" \
	--rate "$RATE" --key-seed mixed --time-limit-s 240 --acked-file "$T/acked" >"$T/master.log" 2>&1 &
MPID=$!
sleep 15
E0=$(grep -c 'refused\|Function not found' "$T/control.log")
log "restarting the old fan-out (it reconnects to Redis and loads its library)"
kill -TERM "$FPID"; wait "$FPID"; start_fanout
sleep 3
log "functions in library decp now: $(fns) ($(redis-cli -p "$DECP_REDIS_PORT" --raw FUNCTION LIST LIBRARYNAME decp | grep '^decp_' | tr '\n' ' '))"
sleep 10
log "new edge: error lines since the restart: $(($(grep -c 'refused\|Function not found' "$T/control.log") - E0))"
grep -E 'refused|Function not found|connected again|retrying' "$T/control.log" | sort -k3 | uniq -c -f2 | head -5 | tee -a "$T/mixed.log"
wait "$MPID"; log "master: exit $?: $(tail -1 "$T/master.log")"; MPID=
wait "$SPID"; log "subscriber: exit $?: $(tail -1 "$T/sub.out")"; SPID=
TOTAL=$((MASTERS * SIGNALS))
for _ in $(seq 1 300); do [ "$(q 'SELECT count(*) FROM signal_archive')" = $TOTAL ] && break; sleep 0.1; done
log "archive rows / distinct: $(q 'SELECT count(*) || '"' '"' || count(DISTINCT (master_id, sequence)) FROM signal_archive') (want $TOTAL)"
awk '$2 == 1 && NF == 3 && $3 ~ /^[0-9]+$/ {n++; if ($3 <= l) o++; l = $3} END {print "subscriber executions", n + 0, "out of order", o + 0, "last", l}' "$T/sub.log" | tee -a "$T/mixed.log"
"$D" redis check --redis "127.0.0.1:$DECP_REDIS_PORT" >"$T/check.log" 2>&1; log "redis check exit $?"
kill -TERM "$FPID" "$CPPID"; wait "$FPID" "$CPPID"; kill -TERM "$DPPID"; wait "$DPPID"; FPID= CPPID= DPPID=
