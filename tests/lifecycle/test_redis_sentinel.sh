#!/bin/bash
# Redis Sentinel failover (issue 23 items 2 and 3, docs/control.md "Durability modes" and
# "Redis Sentinel"), under decp-testenv --pg. Usage: test_redis_sentinel.sh DECPCTL DATAPLANE
# CONTROL MASTER. Prints "N passed, N failed" and the failover's times.
#
# A primary Redis with two replicas (AOF, appendfsync always) and three Sentinels on
# loopback; the posix dataplane; decp-control's edge and archiver configured with the
# Sentinels only (redis_sentinels) and durability = replica; decp-master streaming 20,000
# signals at 2,000/s with --acked-file. Once 3,000 are on a replica the primary is killed
# (-9). The Sentinels promote a replica; both roles find it through them and go on; the
# master finishes. Then: every signal 1..20,000 was ACKed, the new primary's stream holds
# exactly 1..20,000 (so every ACKed one), and the archive holds each exactly once.
D="$1" DP="$2" CTLBIN="$3" MASTER="$4"
. "$(dirname "$0")/../decpctl/testlib.sh"
[ -x "$D" ] && [ -x "$DP" ] && [ -x "$CTLBIN" ] && [ -x "$MASTER" ] && [ -n "$DECP_PG_CONNINFO" ] ||
	{ echo "usage: run under decp-testenv --pg"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d /tmp/decp-sentinel.XXXXXX)
SHM=decp-sentinel-$$
PIDS=() DPPID= CPPID= MPID=
cleanup() {
	for p in $MPID $CPPID $DPPID "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -f "/dev/shm/$SHM"
	rm -rf "$T"
}
trap cleanup EXIT
key='decp:{m1}:signals'
SIGNALS=20000

"$D" db migrate >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }
"$D" master add --id 1 --name m1 --key-seed sentinel >/dev/null

# Redis: a primary and two replicas.
RP=()
for i in 0 1 2; do
	port=$(free_port) || { echo "no free port"; echo "0 passed, 1 failed"; exit 1; }
	RP+=("$port")
	mkdir -p "$T/r$i"
	args=(--bind 127.0.0.1 --port "$port" --dir "$T/r$i" --appendonly yes --appendfsync always
	      --save "" --daemonize no --logfile "$T/r$i/redis.log")
	[ "$i" != 0 ] && args+=(--replicaof 127.0.0.1 "${RP[0]}")
	redis-server "${args[@]}" &
	PIDS+=($!)
	RPID[$i]=$!
	wait_ping "$port" || { echo "redis $i did not start"; echo "0 passed, 1 failed"; exit 1; }
done
# Sentinels: quorum 2 of 3, the primary down after 1 s without an answer.
SP=()
for i in 0 1 2; do
	port=$(free_port)
	SP+=("$port")
	mkdir -p "$T/s$i"
	printf '%s\n' "port $port" "bind 127.0.0.1" "dir $T/s$i" "logfile $T/s$i/sentinel.log" \
		"sentinel monitor decp 127.0.0.1 ${RP[0]} 2" \
		"sentinel down-after-milliseconds decp 1000" "sentinel failover-timeout decp 10000" \
		"sentinel parallel-syncs decp 1" >"$T/s$i/sentinel.conf"
	redis-server "$T/s$i/sentinel.conf" --sentinel &
	PIDS+=($!)
	wait_ping "$port" || { echo "sentinel $i did not start"; echo "0 passed, 1 failed"; exit 1; }
done
sentinels="127.0.0.1:${SP[0]},127.0.0.1:${SP[1]},127.0.0.1:${SP[2]}"
for _ in $(seq 1 400); do
	[ "$(rc_of "${SP[0]}" SENTINEL replicas decp 2>/dev/null | grep -c '^slave$')" -ge 2 ] &&
		[ "$(rc_of "${SP[0]}" SENTINEL sentinels decp 2>/dev/null | grep -c '^name$')" -ge 2 ] && break
	sleep 0.05
done
[ "$(rc_of "${SP[0]}" SENTINEL get-master-addr-by-name decp | tail -1)" = "${RP[0]}" ] && ok ||
	bad "the Sentinels name the primary $(rc_of "${SP[0]}" SENTINEL get-master-addr-by-name decp | tr '\n' ' ')"

# redis_host/port point nowhere: only the Sentinels lead to the primary
start_pipeline "$T" "$SHM" "roles = edge,archiver" "redis_host = 127.0.0.1" "redis_port = 1" \
	"redis_sentinels = $sentinels" "redis_sentinel_master = decp" "redis_timeout_ms = 500" \
	"backoff_max_ms = 200" "durability = replica" "durability_wait_ms = 200" && ok ||
	bad "the edge never became ready through the Sentinels: $(tail -3 "$T/control.log")"

"$MASTER" --connect "127.0.0.1:$(cat "$T/dp.port")" --masters 1 --signals $SIGNALS --rate 2000 \
	--key-seed sentinel --ack-timeout-ms 1000 --time-limit-s 150 --acked-file "$T/acked" \
	>"$T/master.log" 2>&1 &
MPID=$!
for _ in $(seq 1 400); do
	[ "$(last_seq "${RP[1]}")" -ge 3000 ] 2>/dev/null && break
	sleep 0.05
done
before=$(last_seq "${RP[0]}")
t0=$(date +%s.%N)
kill -KILL "${RPID[0]}"
# The new primary: what the Sentinels name, once it is not the old one.
new=
for _ in $(seq 1 600); do
	p=$(rc_of "${SP[1]}" SENTINEL get-master-addr-by-name decp 2>/dev/null | tail -1)
	[ -n "$p" ] && [ "$p" != "${RP[0]}" ] && { new=$p; break; }
	sleep 0.05
done
t_promote=$(echo "$t0 $(date +%s.%N)" | awk '{printf "%.2f", $2 - $1}')
[ -n "$new" ] && ok || bad "no replica was promoted in 30 s"
# The pipeline goes on on it: its stream grows past what the old primary had.
for _ in $(seq 1 600); do
	[ -n "$new" ] && [ "$(last_seq "$new")" -gt "$before" ] 2>/dev/null && break
	sleep 0.05
done
t_resume=$(echo "$t0 $(date +%s.%N)" | awk '{printf "%.2f", $2 - $1}')
[ -n "$new" ] && [ "$(last_seq "$new")" -gt "$before" ] 2>/dev/null && ok ||
	bad "the edge did not write to the new primary ($new: $(last_seq "$new"), old had $before)"

wait "$MPID"; rc=$?; MPID=
[ $rc = 0 ] && ok || bad "decp-master: exit $rc (0 = every signal ACKed): $(tail -2 "$T/master.log")"
acked=$(awk '{n += $3 - $2 + 1} END {print n + 0}' "$T/acked" 2>/dev/null)
[ "$acked" = $SIGNALS ] && ok || bad "ACKed $acked of $SIGNALS"
[ "$(rc_of "$new" XLEN "$key")" = $SIGNALS ] && [ "$(last_seq "$new")" = $SIGNALS ] && ok ||
	bad "the new primary's stream: XLEN $(rc_of "$new" XLEN "$key"), last $(last_seq "$new"); want $SIGNALS (every ACKed signal)"
arch_q="SELECT count(*) || ' ' || count(DISTINCT sequence) || ' ' || max(sequence) FROM signal_archive WHERE master_id = 1"
for _ in $(seq 1 600); do
	[ "$(q "$arch_q")" = "$SIGNALS $SIGNALS $SIGNALS" ] && break
	sleep 0.1
done
[ "$(q "$arch_q")" = "$SIGNALS $SIGNALS $SIGNALS" ] && ok ||
	bad "archive after the failover: $(q "$arch_q") (count, distinct, max; want $SIGNALS each)"
grep -q "connected again" "$T/control.log" && ok || bad "no role logged its reconnect"
kill -TERM "$CPPID" "$DPPID" 2>/dev/null; wait "$CPPID" "$DPPID" 2>/dev/null; CPPID= DPPID=
echo "Sentinel failover: kill -9 of the primary at sequence $before; a replica promoted after $t_promote s; the edge writing to it after $t_resume s; $(grep -o 'not_durable=[0-9]*' "$T/control.log" | tail -1) ACKs held back; $(grep -o 'acked=[0-9]* acked_by_helloack=[0-9]* dup_acks=[0-9]*' "$T/master.log")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
