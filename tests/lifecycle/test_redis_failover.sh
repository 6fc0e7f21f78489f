#!/bin/bash
# Durability modes across a Redis failover (issue 23 item 2, docs/control.md "Durability
# modes"), under decp-testenv --pg. Usage: test_redis_failover.sh DECPCTL DATAPLANE CONTROL
# MASTER. Prints "N passed, N failed" and, per mode, what was ACKed and what was lost.
#
# For each of `replica` and `fsync`: a primary Redis and its replica (both AOF, appendfsync
# always), a posix dataplane and decp-control's edge on the primary with that durability,
# decp-master streaming. Once the replica holds 2,000 signals it is cut off from the
# primary (REPLICAOF NO ONE: a network split with the replica promoted on the other side),
# the primary takes writes for 0.75 s more and is then killed (-9): the cut-off replica is
# what remains. decp-master is stopped and writes every sequence it got an ACK for
# (--acked-file).
#   replica: every ACKed signal is in the remaining replica's stream (the ACKs after the
#            cut were held back by WAIT and never sent);
#   fsync:   the primary's fsync alone ACKed signals the replica never got: the test counts
#            them (the loss window this mode has in a failover; > 0 here by construction).
# Then (run_no_replica) durability = replica with the replica absent at the edge's start:
# not READY until a replica is attached, then every signal ACKed.
D="$1" DP="$2" CTLBIN="$3" MASTER="$4"
. "$(dirname "$0")/../decpctl/testlib.sh"
[ -x "$D" ] && [ -x "$DP" ] && [ -x "$CTLBIN" ] && [ -x "$MASTER" ] && [ -n "$DECP_PG_CONNINFO" ] ||
	{ echo "usage: run under decp-testenv --pg"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d /tmp/decp-failover.XXXXXX)
SHM=decp-failover-$$
P1= P2= RP1= RP2= DPPID= CPPID= MPID=
stop_all() {
	for p in $MPID $CPPID $DPPID; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for p in $RP1 $RP2; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	MPID= CPPID= DPPID= RP1= RP2=
	rm -f "/dev/shm/$SHM"
}
cleanup() { stop_all; rm -rf "$T"; }
trap cleanup EXIT
start_redis() { # port dir [replicaof-port] -> pid in $!
	mkdir -p "$2"
	redis-server --bind 127.0.0.1 --port "$1" --dir "$2" --appendonly yes --appendfsync always \
		--save "" --daemonize no --logfile "$2/redis.log" \
		${3:+--replicaof 127.0.0.1 $3} &
}

"$D" db migrate >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }
"$D" master add --id 1 --name m1 --key-seed failover >/dev/null

run_mode() { # durability
	local mode=$1 dir=$T/$1
	mkdir -p "$dir"
	P1=$(free_port) && P2=$(free_port) || { bad "$mode: no free port"; return; }
	start_redis "$P1" "$dir/primary"; RP1=$!
	wait_ping "$P1" || { bad "$mode: primary did not start"; return; }
	start_redis "$P2" "$dir/replica" "$P1"; RP2=$!
	wait_ping "$P2" || { bad "$mode: replica did not start"; return; }
	for _ in $(seq 1 200); do
		rc_of "$P1" INFO replication | grep -q '^connected_slaves:1' && break
		sleep 0.05
	done
	rc_of "$P1" INFO replication | grep -q '^connected_slaves:1' || { bad "$mode: replica not connected"; return; }

	start_pipeline "$dir" "$SHM" "roles = edge" "redis_host = 127.0.0.1" "redis_port = $P1" \
		"redis_timeout_ms = 1000" "durability = $mode" "durability_wait_ms = 200" ||
		{ bad "$mode: the pipeline never became ready: $(tail -3 "$dir/control.log")"; return; }
	grep -q "durability = $mode" "$dir/control.log" && ok ||
		bad "$mode: the edge states its durability: $(grep -m1 durability "$dir/control.log")"

	"$MASTER" --connect "127.0.0.1:$(cat "$dir/dp.port")" --masters 1 --signals 200000 \
		--rate 2000 --key-seed failover --ack-timeout-ms 1000 --time-limit-s 120 \
		--acked-file "$dir/acked" >"$dir/master.log" 2>&1 &
	MPID=$!
	for _ in $(seq 1 400); do
		[ "$(last_seq "$P2")" -ge 2000 ] 2>/dev/null && break
		sleep 0.05
	done
	[ "$(last_seq "$P2")" -ge 2000 ] 2>/dev/null && ok || { bad "$mode: 2,000 signals never reached the replica ($(last_seq "$P2"))"; return; }

	# A partition: the replica is cut off from the primary (REPLICAOF NO ONE: it stops
	# taking the primary's stream at once, as a promotion on the far side of a network
	# split does) while the primary goes on taking writes for 0.75 s; then the primary dies
	# and the cut-off replica is what remains. (A stalled replica is not enough: what the
	# primary had already written to the socket still arrives after the kill.)
	rc_of "$P2" REPLICAOF NO ONE >/dev/null
	local kept
	kept=$(last_seq "$P2")
	sleep 0.75
	local on_primary
	on_primary=$(last_seq "$P1")
	kill -KILL "$RP1"; wait "$RP1" 2>/dev/null; RP1=
	[ "$(last_seq "$P2")" = "$kept" ] && ok || bad "$mode: the cut-off replica still took writes"

	kill -TERM "$MPID"
	for _ in $(seq 1 600); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$MPID" 2>/dev/null; wait "$MPID" 2>/dev/null; MPID=
	[ -s "$dir/acked" ] && ok || { bad "$mode: decp-master wrote no --acked-file ($(tail -2 "$dir/master.log"))"; return; }
	# The edge numbers every master's stream without gaps (ingest refuses one), so the
	# promoted replica holds exactly 1..kept; an ACKed sequence above it is lost.
	local acked lost
	acked=$(awk '{n += $3 - $2 + 1} END {print n + 0}' "$dir/acked")
	lost=$(awk -v k="${kept:-0}" '$3 > k {n += $3 - ($2 > k ? $2 : k + 1) + 1} END {print n + 0}' "$dir/acked")
	local held
	kill -TERM "$CPPID" "$DPPID" 2>/dev/null; wait "$CPPID" "$DPPID" 2>/dev/null; CPPID= DPPID=
	held=$(grep -o 'not_durable=[0-9]*' "$dir/control.log" | tail -1)
	echo "durability = $mode: replica cut off at $kept, primary had $on_primary at the kill; decp-master got $acked ACKs; ACKed and lost: $lost (edge: $held)"
	if [ "$mode" = fsync ]; then
		[ "$lost" -gt 0 ] && ok || bad "$mode: expected the cut to lose ACKed signals (the window this mode has), lost $lost"
	else
		[ "$lost" = 0 ] && [ "$acked" -ge 2000 ] && ok ||
			bad "$mode: $lost ACKed signal(s) missing from the promoted replica (acked $acked, kept $kept)"
		grep -q "WAIT 1 200 answered" "$dir/control.log" && ok ||
			bad "$mode: the edge never held an ACK back after the cut"
	fi
	stop_all
}

# durability = replica with the primary's replica absent at the edge's start: no master can
# log in, so the dataplane is not told READY (a READY edge that refuses every login looks
# healthy to whatever spreads masters over edges: before, it went READY and answered every
# login UNAVAILABLE); once a replica is attached it goes READY and every signal is ACKed.
run_no_replica() {
	local dir=$T/no-replica
	mkdir -p "$dir"
	P1=$(free_port) && P2=$(free_port) || { bad "no-replica: no free port"; return; }
	start_redis "$P1" "$dir/primary"; RP1=$!
	wait_ping "$P1" || { bad "no-replica: primary did not start"; return; }
	rm -f "$dir/dp.port"
	"$DP" --stack posix --tls off --listen 127.0.0.1:0 --port-file "$dir/dp.port" \
		--shm "$SHM" >"$dir/dp.log" 2>&1 &
	DPPID=$!
	for _ in $(seq 1 200); do [ -s "$dir/dp.port" ] && break; sleep 0.05; done
	printf '%s\n' "shm = /$SHM" "pg_conninfo = \"$DECP_PG_CONNINFO user=decp_app\"" \
		"roles = edge" "redis_host = 127.0.0.1" "redis_port = $P1" "redis_timeout_ms = 1000" \
		"durability = replica" "durability_wait_ms = 200" >"$dir/control.conf"
	"$CTLBIN" --config "$dir/control.conf" >"$dir/control.log" 2>&1 &
	CPPID=$!
	for _ in $(seq 1 100); do
		grep -q "no master can log in" "$dir/control.log" && break
		sleep 0.05
	done
	sleep 2
	grep -q "no master can log in" "$dir/control.log" && ok ||
		bad "no-replica: the edge did not say that no master can log in: $(tail -3 "$dir/control.log")"
	"$D" top --shm "$SHM" --once --json 2>/dev/null | grep -q '"ready":false' && ok ||
		bad "no-replica: the dataplane is READY with no replica (every login would be refused)"
	start_redis "$P2" "$dir/replica" "$P1"; RP2=$!
	wait_ping "$P2" || { bad "no-replica: replica did not start"; return; }
	local t0=$SECONDS ready=
	for _ in $(seq 1 400); do
		"$D" top --shm "$SHM" --once --json 2>/dev/null | grep -q '"ready":true' && { ready=1; break; }
		sleep 0.05
	done
	[ -n "$ready" ] && ok || { bad "no-replica: not READY 20 s after the replica came: $(tail -3 "$dir/control.log")"; return; }
	echo "no-replica: READY $((SECONDS - t0)) s after the replica started"
	stream_masters "$dir" 1 500 failover
	stop_all
}

run_mode replica
run_mode fsync
run_no_replica

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
