#!/bin/bash
# Upgrade drill (not wired into meson: it needs a build of an older release).
# docs/operations.md "Upgrades", followed step by step while an OLD release streams:
#   0. OLD: decpctl db migrate, masters, posix dataplane, decp-control with every role
#      (edge, archiver, fanout, api, trust), decp-master (4 masters at RATE/s),
#      decp-subscriber --report-exec on master 1, a money client (deposit 5.00 + a
#      performance fee of 2.00 per iteration through the api).
#   1. NEW decpctl db migrate against the live database (old control keeps running).
#   2. decp-control restarted with the NEW binary.
#   3. the dataplane restarted with the NEW binary.
#   Then: every ACKed signal archived once, subscriber executed 1..N once in order,
#   ledger verify, redis check, PostgreSQL errors of the old code, money.
#   4. Reverse order (what an operator may get wrong): NEW dataplane with the OLD control.
# Usage (as root, under the NEW harness):
#   decp-testenv --pg --redis-aof -- bash drill.sh OLD_BUILD NEW_BUILD
# Env: MODE docs (default: steps 2 and 3 as docs/operations.md lists them, one after the
#      other) or together (stop control, restart the dataplane, start control: what a layout
#      change needs), SIGNALS (per master, default 9000), RATE (total signals/s, default 400),
#      DRILL_DIR (where logs stay; default a mktemp dir, kept).
OLD=$1 NEW=$2
[ -n "$DECP_PG_CONNINFO" ] && [ -n "$DECP_REDIS_PORT" ] && [ -x "$OLD/tools/decpctl/decpctl" ] &&
	[ -x "$NEW/tools/decpctl/decpctl" ] || { echo "usage: decp-testenv --pg --redis-aof -- $0 OLD_BUILD NEW_BUILD"; exit 2; }
. "$(dirname "$0")/../decpctl/testlib.sh"
. "$(dirname "$0")/lib.sh"
bin() { # BUILD NAME
	case $2 in
	decpctl) echo "$1/tools/decpctl/decpctl" ;; dataplane) echo "$1/dataplane/decp-dataplane" ;;
	control) echo "$1/controlplane/core/decp-control" ;; master) echo "$1/tools/decp-master" ;;
	subscriber) echo "$1/tools/subscriber/decp-subscriber" ;;
	esac
}
T=${DRILL_DIR:-$(mktemp -d /tmp/decp-upgrade-drill.XXXXXX)}
mkdir -p "$T"
SHM=decp-upg-$$
MASTERS=4 SIGNALS=${SIGNALS:-9000} RATE=${RATE:-400}
TOTAL=$((MASTERS * SIGNALS))
DPPID= CPPID= MPID= SPID= CLPID= M2PID=
cleanup() {
	touch "$T/stop"
	for p in $CLPID $SPID $MPID $M2PID $CPPID $DPPID; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -f "/dev/shm/$SHM"
	echo "logs in $T"
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
log() { echo "[$(date +%T.%N | cut -c1-12)] $*" | tee -a "$T/drill.log"; }
note() { echo "RESULT $*" | tee -a "$T/drill.log"; }
# PostgreSQL: every line says which application (old control / new control / decpctl)
q "ALTER SYSTEM SET log_line_prefix = '%m [%p] app=%a '" >/dev/null
q "ALTER SYSTEM SET log_min_error_statement = 'error'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
PGLOG=$DECP_PG_DIR/postgres.log
[ -f "$PGLOG" ] || PGLOG=$(ls "$DECP_PG_DIR"/*.log "$DECP_PG_DIR"/log/* 2>/dev/null | head -1)

acked_total() { # sum over the masters of the last sequence in Redis
	local s=0 m l
	for m in $(seq 1 $MASTERS); do l=$(last_seq "$DECP_REDIS_PORT" "$m"); s=$((s + ${l:-0})); done
	echo $s
}
start_dp() { # BUILD TAG
	"$(bin "$1" dataplane)" --stack posix --tls off --listen "127.0.0.1:$DPPORT" \
		--port-file "$T/dp.port" --shm "$SHM" >>"$T/dp-$2.log" 2>&1 &
	DPPID=$!
	for _ in $(seq 1 200); do [ -s "$T/dp.port" ] && break; sleep 0.05; done
}
start_cp() { # BUILD TAG APPNAME
	sed "s/^pg_conninfo = .*/pg_conninfo = \"$DECP_PG_CONNINFO user=decp_app application_name=$3\"/" \
		"$T/control.conf" >"$T/control-$2.conf"
	"$(bin "$1" control)" --config "$T/control-$2.conf" >>"$T/control-$2.log" 2>&1 &
	CPPID=$!
}
# ready = the new signals move in Redis again (version-independent), or the api answers
stop_pid() { # PID: SIGTERM, 20 s, then SIGKILL; sets STOPMSG (exit status, seconds)
	local p=$1 t k= rc
	t=$(now)
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 1 200); do [ "$(ps -o stat= -p "$p" 2>/dev/null | cut -c1)" = Z ] && break
		kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	[ "$(ps -o stat= -p "$p" 2>/dev/null | cut -c1)" = Z ] || ! kill -0 "$p" 2>/dev/null ||
		{ kill -KILL "$p"; k="KILLED after 20 s, "; }
	wait "$p"; rc=$?
	STOPMSG="${k}exit $rc in $(since "$t") s"
}
wait_moving() { # SECONDS: 0 when Redis's acked total grows within SECONDS
	local a b
	a=$(acked_total)
	for _ in $(seq 1 $(($1 * 10))); do
		b=$(acked_total); [ "$b" -gt "$a" ] && return 0
		sleep 0.1
	done
	return 1
}

OD=$(bin "$OLD" decpctl) ND=$(bin "$NEW" decpctl)
log "old: $OLD ($(git -C "$OLD/../.." rev-parse --short HEAD 2>/dev/null)), new: $NEW ($(git -C "$NEW/../.." rev-parse --short HEAD 2>/dev/null))"

# ---------------------------------------------------------------- 0. the old release
"$OD" db migrate >"$T/migrate-old.log" 2>&1 || { log "old migrate failed"; cat "$T/migrate-old.log"; exit 1; }
log "old schema: $(q "SELECT max(version) FROM schema_migrations")"
for m in $(seq 1 $MASTERS); do
	"$OD" master add --id "$m" --name "m$m" --key-seed upgrade >/dev/null || bad "master add $m"
done
ADMIN=$(openssl rand -hex 32)
APORT=$(free_port) FPORT=$(free_port) DPPORT=$(free_port)
printf '%s\n' "shm = /$SHM" "pg_conninfo = x" "roles = edge,archiver,fanout,api,trust" \
	"redis_host = 127.0.0.1" "redis_port = $DECP_REDIS_PORT" "api_tls = off" "api_port = $APORT" \
	"fanout_tls = off" "fanout_port = $FPORT" \
	"api_admin_token_sha256 = $(printf %s "$ADMIN" | sha256sum | cut -d' ' -f1)" \
	"backoff_max_ms = 500" "archiver_batch = 500" >"$T/control.conf"
start_dp "$OLD" old
start_cp "$OLD" old decp_old
drill_fixtures drill ||
	{ log "fixtures failed: sub '$SUB' tok '$TOK' sa '$SA': $(cat "$T/api.body")"; tail "$T/control-old.log"; exit 1; }
log "fixtures: subscriber $SUB, subscription $SA"

# The money client: per iteration a deposit of 5.00 and a fee at a profit 10.00 higher
# (2.00 at 20 %), each with its own reference (and Idempotency-Key, which the new api
# honours); each retried until 2xx. Lines: TIME WHAT ITER STATUS
client() {
	local i=0 what path body code
	while [ ! -e "$T/stop" ]; do
		i=$((i + 1))
		for what in dep fee; do
			case $what in
			dep) path=/v1/subscribers/$SUB/wallet/deposit body="{\"amount\":\"5.00\",\"reference\":\"dep-$i\"}" ;;
			fee) path=/v1/subscriptions/$SA/performance-fee body="{\"profit\":\"$((i * 10)).00\",\"reference\":\"fee-$i\"}" ;;
			esac
			while :; do
				code=$(curl -s -m 20 -X POST -H "Authorization: Bearer $ADMIN" \
					-H 'Content-Type: application/json' -H "Idempotency-Key: $what-$i" \
					--data "$body" -o "$T/c.body" -w '%{http_code}' "http://127.0.0.1:$APORT$path")
				echo "$(now) $what $i $code" >>"$T/codes"
				case $code in 2??) break ;; 000) ;; *) echo "$(now) $what $i $code $(cat "$T/c.body")" >>"$T/codes.err" ;; esac
				[ -e "$T/stop_hard" ] && return 1
				sleep 0.2
			done
		done
		echo "$i" >"$T/client.n"
		sleep 0.2
	done
}
client &
CLPID=$!
"$(bin "$OLD" subscriber)" --url "ws://127.0.0.1:$FPORT/" --keys "$T/keys" --token "$TOK" --master 1 \
	--ttl-ms 600000 --report-exec --log "$T/sub.log" --expect "$SIGNALS" --timeout 400 \
	>"$T/sub.out" 2>&1 &
SPID=$!
T_START=$(now)
"$(bin "$OLD" master)" --connect "127.0.0.1:$DPPORT" --masters $MASTERS --signals "$SIGNALS" \
	--rate "$RATE" --key-seed upgrade --time-limit-s 360 --acked-file "$T/acked" >"$T/master.log" 2>&1 &
MPID=$!
# a sampler: every 0.5 s the acked total in Redis and the archive's count
( while [ ! -e "$T/stop" ]; do
	echo "$(now) $(acked_total) $(q 'SELECT count(*) FROM signal_archive' 2>/dev/null)" >>"$T/progress"
	sleep 0.5
  done ) &
SAMPLER=$!
sleep 12
log "streaming: redis acked $(acked_total), archive $(q 'SELECT count(*) FROM signal_archive'), client iterations $(cat "$T/client.n" 2>/dev/null)"

# ---------------------------------------------------------------- 1. schema
PGL0=$(stat -c %s "$PGLOG" 2>/dev/null || echo 0)
CL0=$(wc -l <"$T/control-old.log")
t0=$(now)
"$ND" db migrate >"$T/migrate-new.log" 2>&1; rc=$?
log "step 1: new decpctl db migrate: exit $rc in $(since "$t0") s; schema now $(q "SELECT max(version) FROM schema_migrations"); $(tail -1 "$T/migrate-new.log")"
[ $rc = 0 ] && ok || bad "new migrate exit $rc"
# the old control works on the new schema for a while: money calls, archive, fan-out
n1=$(cat "$T/client.n" 2>/dev/null); a1=$(q 'SELECT count(*) FROM signal_archive')
sleep 15
n2=$(cat "$T/client.n" 2>/dev/null); a2=$(q 'SELECT count(*) FROM signal_archive')
log "step 1: old control on the new schema, 15 s: client iterations $n1 -> $n2, archive $a1 -> $a2"
sed -n "$((CL0 + 1)),\$p" "$T/control-old.log" | grep -E -i 'error|fail|refus|denied|does not exist' >"$T/step1.control-errors"
log "step 1: old control log lines with error/fail since the migrate: $(wc -l <"$T/step1.control-errors")"
tail -c +$((PGL0 + 1)) "$PGLOG" | grep -E 'ERROR|FATAL' >"$T/step1.pg-errors"
log "step 1: PostgreSQL ERROR/FATAL lines since the migrate: $(wc -l <"$T/step1.pg-errors") (app=decp_old: $(grep -c 'app=decp_old' "$T/step1.pg-errors"))"
grep -c . "$T/codes.err" >/dev/null 2>&1 && log "step 1: client non-2xx so far: $(wc -l <"$T/codes.err")"

if [ "${MODE:-docs}" = docs ]; then
# ---------------------------------------------------------------- 2. decp-control
t0=$(now)
stop_pid "$CPPID"; log "step 2: old decp-control stopped: $STOPMSG"
start_cp "$NEW" new decp_new
if wait_moving 30; then
	log "step 2: signals moving again $(since "$t0") s after SIGTERM"
	T_STALL2=$(since "$t0")
else
	log "step 2: NOTHING moved in Redis for 30 s after the new decp-control started (old dataplane still running)"
	T_STALL2=">30"
fi
grep -E -i 'layout|segment|waiting' "$T/control-new.log" | sort | uniq -c | sort -rn | head -5 >"$T/step2.control-msgs"
log "step 2: new control's segment messages: $(head -1 "$T/step2.control-msgs")"
log "step 2: api /readyz $(api GET /readyz "$ADMIN"): $(head -c 300 "$T/api.body")"
log "step 2: /metrics: $(curl -s -m 5 "http://127.0.0.1:$APORT/metrics" | grep '^decp_dataplane_up')"
"$ND" top --shm "$SHM" --once --json >"$T/step2.top" 2>&1; log "step 2: new decpctl top exit $?: $(head -c 200 "$T/step2.top")"
tail -5 "$T/dp-old.log" >"$T/step2.dp-tail"

# ---------------------------------------------------------------- 3. dataplane
t0=$(now)
stop_pid "$DPPID"; log "step 3: old dataplane stopped: $STOPMSG"
rm -f "$T/dp.port"
start_dp "$NEW" new
if wait_moving 30; then log "step 3: signals moving again $(since "$t0") s after SIGTERM"; else log "step 3: nothing moved for 30 s"; fi
else
# ---------------------------------------------------------------- 2+3 together (layout changed)
# The check an operator can make before: the NEW decpctl top on the running segment.
"$ND" top --shm "$SHM" --once --json >"$T/step23.top" 2>&1; log "step 2+3: new decpctl top on the old segment: exit $?: $(head -c 200 "$T/step23.top")"
t0=$(now)
stop_pid "$CPPID"; log "step 2+3: old decp-control stopped: $STOPMSG"
stop_pid "$DPPID"; log "step 2+3: old dataplane stopped: $STOPMSG"
rm -f "$T/dp.port"
start_dp "$NEW" new
start_cp "$NEW" new decp_new
if wait_moving 30; then log "step 2+3: signals moving again $(since "$t0") s after the first SIGTERM"; else log "step 2+3: nothing moved for 30 s"; fi
for _ in $(seq 1 100); do [ "$(api GET /readyz "$ADMIN")" = 200 ] && break; sleep 0.1; done
log "step 2+3: api ready $(since "$t0") s after the first SIGTERM"
T_STALL2=n/a
fi
T_OUTAGE=$(since "$T_START")

# ---------------------------------------------------------------- the end of the stream
wait "$MPID"; rc=$?; MPID=
log "master: exit $rc: $(tail -1 "$T/master.log")"
[ $rc = 0 ] && ok || bad "decp-master exit $rc"
wait "$SPID"; rc=$?; SPID=
log "subscriber: exit $rc: $(tail -1 "$T/sub.out")"
[ $rc = 0 ] && ok || bad "decp-subscriber exit $rc"
touch "$T/stop"
wait "$CLPID"; CLPID=
N=$(cat "$T/client.n")
kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null

# ---------------------------------------------------------------- verification
# ACKed (the master's --acked-file) vs archived
ACKED=$(awk '{s += $3 - $2 + 1} END {print s + 0}' "$T/acked")
arch_q="SELECT count(*) || ' ' || count(DISTINCT (master_id, sequence)) FROM signal_archive"
for _ in $(seq 1 600); do [ "$(q "$arch_q")" = "$ACKED $ACKED" ] && break; sleep 0.1; done
ARCH=$(q "$arch_q")
log "archive: rows/distinct $ARCH, master ACKed $ACKED (want $TOTAL)"
[ "$ARCH" = "$ACKED $ACKED" ] && [ "$ACKED" = $TOTAL ] && ok || bad "archive $ARCH vs acked $ACKED"
missing=0
while read -r m a b; do
	got=$(q "SELECT count(DISTINCT sequence) FROM signal_archive WHERE master_id = $m AND sequence BETWEEN $a AND $b")
	missing=$((missing + (b - a + 1) - got))
done <"$T/acked"
log "ACKed but not archived: $missing; archived twice: $(q "SELECT coalesce(sum(c - 1), 0) FROM (SELECT count(*) c FROM signal_archive GROUP BY master_id, sequence HAVING count(*) > 1) x")"
[ "$missing" = 0 ] && ok || bad "ACKed not archived: $missing"
# Redis: every stream ends at SIGNALS
for m in $(seq 1 $MASTERS); do
	l=$(last_seq "$DECP_REDIS_PORT" "$m"); [ "$l" = "$SIGNALS" ] && ok || bad "redis master $m last $l"
done
"$ND" redis check --redis "127.0.0.1:$DECP_REDIS_PORT" >"$T/redis-check.log" 2>&1; rc=$?
log "decpctl redis check: exit $rc: $(tail -2 "$T/redis-check.log" | tr '\n' '|')"
[ $rc = 0 ] && ok || bad "redis check exit $rc"
# the subscriber: 1..SIGNALS once, in order
awk '$2 == 1 && $3 ~ /^[0-9]+$/ && NF == 3 {n++; if ($3 <= last) bad++; if (seen[$3]++) dup++; last = $3}
	END {printf "%d %d %d %d\n", n, bad + 0, dup + 0, last}' "$T/sub.log" >"$T/sub.check"
read -r SN SBAD SDUP SLAST <"$T/sub.check"
log "subscriber executions: $SN (out of order $SBAD, duplicated $SDUP, last $SLAST; want $SIGNALS 0 0 $SIGNALS); refused lines: $(grep -c refus "$T/sub.log")"
[ "$SN $SBAD $SDUP $SLAST" = "$SIGNALS 0 0 $SIGNALS" ] && ok || bad "subscriber $SN $SBAD $SDUP $SLAST"
exe_q="SELECT count(*) || ' ' || count(DISTINCT sequence) FROM execution_reports WHERE subscription_id = $SA"
for _ in $(seq 1 300); do [ "$(q "$exe_q")" = "$SN $SN" ] && break; sleep 0.1; done
log "execution reports stored (rows distinct): $(q "$exe_q") for $SN executions"
# money
want="$((N * 3)).00 $((N * 2)).00 $N $N $N $((N * 10)).00"
money=$(q "SELECT w.balance_usd || ' ' || w.lifetime_fees || ' ' ||
	(SELECT count(*) FROM billing_ledger WHERE subscriber_id = $SUB AND entry_type = 'DEPOSIT') || ' ' ||
	(SELECT count(DISTINCT reference) FROM billing_ledger WHERE subscriber_id = $SUB AND entry_type = 'DEPOSIT') || ' ' ||
	(SELECT count(*) FROM billing_ledger WHERE subscriber_id = $SUB AND entry_type = 'FEE_PERFORMANCE') || ' ' ||
	(SELECT high_water_mark FROM subscriptions WHERE id = $SA)
	FROM user_wallets w WHERE w.subscriber_id = $SUB")
log "money after $N iterations: '$money' (balance fees deposits distinct fee-rows hwm), want '$want'"
[ "$money" = "$want" ] && ok || bad "money"
"$ND" ledger verify >"$T/verify.log" 2>&1; rc=$?
log "decpctl ledger verify (new): exit $rc: $(tail -1 "$T/verify.log")"
[ $rc = 0 ] && ok || bad "ledger verify"
"$OD" ledger verify >"$T/verify-old.log" 2>&1
log "decpctl ledger verify (old, on the new schema): exit $?: $(tail -1 "$T/verify-old.log")"
log "client answers: $(awk '{print $4}' "$T/codes" | sort | uniq -c | tr '\n' ' ')"
tail -c +1 "$PGLOG" | grep -E 'ERROR|FATAL' >"$T/pg-errors.all"
log "PostgreSQL ERROR/FATAL lines in the run: $(wc -l <"$T/pg-errors.all"); app=decp_old: $(grep -c 'app=decp_old' "$T/pg-errors.all"); app=decp_new: $(grep -c 'app=decp_new' "$T/pg-errors.all")"
log "progress samples: $T/progress; stall of step 2: $T_STALL2 s"

# ---------------------------------------------------------------- 4. reverse order
# NEW dataplane running, control downgraded to the OLD binary (or: the operator upgraded the
# dataplane first). Masters continue with 200 more signals each.
stop_pid "$CPPID"; log "step 4: new control stopped: $STOPMSG"; CPPID=
start_cp "$OLD" rev decp_old_rev
t0=$(now)
"$(bin "$OLD" master)" --connect "127.0.0.1:$DPPORT" --masters $MASTERS --signals $((SIGNALS + 200)) \
	--rate 100 --key-seed upgrade --time-limit-s 20 >"$T/master-rev.log" 2>&1 &
M2PID=$!
wait "$M2PID"; rc=$?; M2PID=
log "step 4 (new dataplane, old control): master exit $rc after $(since "$t0") s: $(tail -1 "$T/master-rev.log")"
log "step 4: old control's messages: $(grep -E -i 'layout|segment|waiting' "$T/control-rev.log" | sort | uniq -c | sort -rn | head -3 | tr '\n' '|')"
log "step 4: old control alive: $(kill -0 "$CPPID" 2>/dev/null && echo yes || echo no); api /readyz $(api GET /readyz "$ADMIN")"
log "step 4: new dataplane's log tail: $(tail -3 "$T/dp-new.log" | tr '\n' '|')"
"$OD" top --shm "$SHM" --once --json >"$T/step4.top-old" 2>&1; log "step 4: old decpctl top: exit $?: $(head -c 200 "$T/step4.top-old")"
stop_pid "$CPPID"; log "end: old control $STOPMSG"; stop_pid "$DPPID"; log "end: new dataplane $STOPMSG"; CPPID= DPPID=
echo "$pass passed, $fail failed" | tee -a "$T/drill.log"
