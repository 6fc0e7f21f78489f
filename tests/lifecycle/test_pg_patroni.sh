#!/bin/bash
# PostgreSQL failover with Patroni (issue 24 item 1 acceptance; docs/operations.md
# "PostgreSQL with Patroni"), under decp-testenv --redis-aof --patroni (one etcd, three
# Patroni members, synchronous_mode). Usage: test_pg_patroni.sh DECPCTL DATAPLANE CONTROL
# MASTER SUBSCRIBER. Prints "N passed, N failed" and the recovery times.
#
# The posix dataplane and one decp-control (edge, archiver, fanout, api, trust) whose
# pg_conninfo is the multi-host conninfo with target_session_attrs=read-write. decp-master
# streams 4 masters x 6,000 signals at 1,000/s; decp-subscriber follows master 1 through
# the fan-out and reports every execution (ExecutionReport: Redis, then the archiver into
# PostgreSQL, then the trust role); a client (curl, the api's real HTTP path) loops:
# a deposit of 5.00 and a performance fee at a profit 10.00 higher (fee 2.00 at 20 %),
# each with its own Idempotency-Key, and a subscriber report with its report_id; it sends
# each again until it is answered 2xx. Once the archive and the client are under way the
# Patroni leader's machine is crashed: its Patroni and its postmaster's whole process
# group get SIGKILL (what a power loss or kernel panic does; killing only postgres would
# let Patroni restart it in place without a failover, killing only Patroni would leave a
# primary running unwatched). After the election: every signal is archived exactly once;
# the wallet holds exactly 3.00 per completed iteration, with one DEPOSIT and one fee row
# per key (nothing lost, nothing twice); every report stored once; the api answered 503
# with Retry-After (never 500) while there was no primary and 2xx after; the roles logged
# their reconnect; every execution the subscriber reported is stored once. Prints: the new
# leader after S s, the first API write after S s, the archive moving again after S s.
D="$1" DP="$2" CTLBIN="$3" MASTER="$4" SUBBIN="$5"
. "$(dirname "$0")/../decpctl/testlib.sh"
. "$(dirname "$0")/patroni.sh"
[ -x "$D" ] && [ -x "$DP" ] && [ -x "$CTLBIN" ] && [ -x "$MASTER" ] && [ -x "$SUBBIN" ] &&
	[ -n "$DECP_PATRONI_REST" ] && [ -n "$DECP_REDIS_PORT" ] ||
	{ echo "usage: run under decp-testenv --redis-aof --patroni"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d /tmp/decp-patroni-test.XXXXXX)
SHM=decp-patroni-$$
DPPID= CPPID= MPID= CLPID= SPID=
cleanup() {
	touch "$T/stop_hard" 2>/dev/null
	for p in $CLPID $SPID $MPID $CPPID $DPPID; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -f "/dev/shm/$SHM"
	if [ -n "${DECP_TEST_KEEP:-}" ] && [ "$fail" != 0 ]; then
		echo "logs kept in $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
MASTERS=4 SIGNALS=6000 TOTAL=$((4 * 6000))
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }

"$D" db migrate >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }
for m in $(seq 1 $MASTERS); do
	"$D" master add --id "$m" --name "m$m" --key-seed patroni >/dev/null || bad "master add $m"
done
ADMIN=$(openssl rand -hex 32)
APORT=$(free_port)
FPORT=$(free_port)
# the roles' conninfo as docs/operations.md recommends: a dead host found by TCP itself
DECP_PG_CONNINFO="$DECP_PG_CONNINFO keepalives_idle=5 keepalives_interval=2 keepalives_count=3 tcp_user_timeout=10000" \
	start_pipeline "$T" "$SHM" "roles = edge,archiver,fanout,api,trust" "redis_host = 127.0.0.1" \
	"redis_port = $DECP_REDIS_PORT" "api_tls = off" "api_port = $APORT" \
	"fanout_tls = off" "fanout_port = $FPORT" \
	"api_admin_token_sha256 = $(printf %s "$ADMIN" | sha256sum | cut -d' ' -f1)" \
	"backoff_max_ms = 500" "pg_timeout_ms = 5000" "archiver_batch = 500" && ok ||
	bad "the pipeline never became ready: $(tail -3 "$T/control.log")"
api() { # METHOD PATH TOKEN [BODY [EXTRA HEADER]]: the body to stdout, the status on fd 3
	curl -s -m 20 -X "$1" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
		${5:+-H "$5"} ${4:+--data "$4"} -D "$T/api.head" -o "$T/api.body" \
		-w '%{http_code}' "http://127.0.0.1:$APORT$2"
}
api_fixtures ha && ok ||
	{ bad "fixtures: subscriber '$SUB' token '$TOK' subscription '$SA': $(cat "$T/api.body")"
	  echo "$pass passed, $fail failed"; exit 1; }

# The client: one line per answer in $T/codes: TIME WHAT ITERATION STATUS REPLAYED RETRY-AFTER
client() {
	local i=0 what path tok body hdr code
	while [ ! -e "$T/stop" ]; do
		i=$((i + 1))
		for what in dep fee rep; do
			case $what in
			dep) path=/v1/subscribers/$SUB/wallet/deposit tok=$ADMIN hdr="Idempotency-Key: dep-$i"
			     body="{\"amount\":\"5.00\",\"reference\":\"dep-$i\"}" ;;
			fee) path=/v1/subscriptions/$SA/performance-fee tok=$ADMIN hdr="Idempotency-Key: fee-$i"
			     body="{\"profit\":\"$((i * 10)).00\",\"reference\":\"fee-$i\"}" ;;
			rep) path=/v1/protection-events tok=$TOK hdr=
			     body="{\"events\":[{\"subscription_id\":$SA,\"reason\":\"FILTERED\",\"report_id\":$i}]}" ;;
			# (the subscriber's own report ids are ms << 22: far above these)
			esac
			while :; do
				code=$(curl -s -m 20 -X POST -H "Authorization: Bearer $tok" \
					-H 'Content-Type: application/json' ${hdr:+-H "$hdr"} --data "$body" \
					-D "$T/c.head" -o "$T/c.body" -w '%{http_code}' \
					"http://127.0.0.1:$APORT$path")
				echo "$(now) $what $i $code $(grep -ci '^Idempotent-Replayed: true' "$T/c.head")" \
				     "$(grep -ci '^Retry-After: 1' "$T/c.head")" >>"$T/codes"
				case $code in 2??) break ;; 500) cp "$T/c.body" "$T/500.body" ;; esac
				[ -e "$T/stop_hard" ] && return 1
				sleep 0.1
			done
		done
		echo "$i" >"$T/client.n"
	done
}
client &
CLPID=$!
echo "1 $(q "SELECT encode(ed25519_public_key, 'hex') FROM masters WHERE id = 1")" >"$T/keys"
# the fan-out learns a new subscription from its state poll (docs/fanout.md "Authentication
# cache"): until then it answers 403; its polling endpoint says when it is known
for _ in $(seq 1 200); do
	[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOK" \
		"http://127.0.0.1:$FPORT/v1/masters/1/signals?after=0")" = 200 ] && break
	sleep 0.05
done
# a TTL of a minute: on a loaded 2-core machine a 500 ms TTL refuses signals as stale, and
# enough refusals pause the subscription (trust), which would stop its deliveries
"$SUBBIN" --url "ws://127.0.0.1:$FPORT/" --keys "$T/keys" --token "$TOK" --master 1 \
	--ttl-ms 60000 --report-exec --log "$T/sub.log" --expect $SIGNALS --timeout 150 \
	>"$T/sub.out" 2>&1 &
SPID=$!
"$MASTER" --connect "127.0.0.1:$(cat "$T/dp.port")" --masters $MASTERS --signals $SIGNALS \
	--rate 1000 --key-seed patroni --ack-timeout-ms 2000 --time-limit-s 150 >"$T/master.log" 2>&1 &
MPID=$!
arch() { q "SELECT count(*) FROM signal_archive" 2>/dev/null; }
for _ in $(seq 1 600); do
	[ "$(arch)" -ge 3000 ] 2>/dev/null && [ "$(cat "$T/client.n" 2>/dev/null)" -ge 10 ] 2>/dev/null && break
	sleep 0.1
done
L=$(patroni_leader)
[ -n "$L" ] && ok || bad "no leader on the REST API"
before=$(arch) n_before=$(cat "$T/client.n" 2>/dev/null)
t0=$(now)
# The leader's machine crashes (Patroni, then its postmaster's process group).
patroni_crash "$L" && ok || bad "could not crash member $L"
new=
for _ in $(seq 1 1200); do new=$(patroni_leader) && break; sleep 0.05; done
t_leader=$(since "$t0")
[ -n "$new" ] && [ "$new" != "$L" ] && ok || bad "no new leader within 60 s"
for _ in $(seq 1 1200); do [ "$(arch)" -gt "$before" ] 2>/dev/null && break; sleep 0.05; done
t_archive=$(since "$t0")
# the client goes on until 10 more iterations after the failover went through
for _ in $(seq 1 1200); do
	[ "$(cat "$T/client.n")" -ge $((n_before + 10)) ] 2>/dev/null &&
		awk -v t="$t0" '$1 > t && $4 == 503' "$T/codes" | grep -q . && break
	sleep 0.1
done
touch "$T/stop"
wait "$CLPID"; CLPID=
N=$(cat "$T/client.n")
wait "$MPID"; rc=$?; MPID=
[ $rc = 0 ] && ok || bad "decp-master: exit $rc (0 = every signal ACKed): $(tail -2 "$T/master.log")"
wait "$SPID"; rc=$?; SPID=
[ $rc = 0 ] && ok || bad "decp-subscriber: exit $rc (0 = it consumed 1..$SIGNALS): $(tail -2 "$T/sub.out");" \
	"the subscription: $(q "SELECT state, state_reason, trust_score FROM subscriptions WHERE id = $SA")"

# The archive: every signal, once.
arch_q="SELECT count(*) || ' ' || count(DISTINCT (master_id, sequence)) || ' ' || count(DISTINCT master_id) FROM signal_archive"
for _ in $(seq 1 600); do
	[ "$(q "$arch_q")" = "$TOTAL $TOTAL $MASTERS" ] && break
	sleep 0.1
done
[ "$(q "$arch_q")" = "$TOTAL $TOTAL $MASTERS" ] && ok ||
	bad "archive after the failover: $(q "$arch_q") (rows, distinct, masters; want $TOTAL $TOTAL $MASTERS)"
[ "$(q "SELECT count(*) FROM (SELECT master_id FROM signal_archive GROUP BY master_id HAVING max(sequence) = $SIGNALS AND min(sequence) = 1) x")" = $MASTERS ] &&
	ok || bad "some master's archive does not run 1..$SIGNALS"

# Money: each completed iteration moved 5.00 in and 2.00 out, exactly once.
want="$((N * 3)).00 $((N * 2)).00 $N $N $N $N $((N * 10)).00"
money=$(q "SELECT w.balance_usd || ' ' || w.lifetime_fees || ' ' ||
	(SELECT count(*) FROM billing_ledger WHERE subscriber_id = $SUB AND entry_type = 'DEPOSIT') || ' ' ||
	(SELECT count(DISTINCT reference) FROM billing_ledger WHERE subscriber_id = $SUB AND entry_type = 'DEPOSIT') || ' ' ||
	(SELECT count(*) FROM billing_ledger WHERE subscriber_id = $SUB AND entry_type = 'FEE_PERFORMANCE') || ' ' ||
	(SELECT count(*) FROM money_requests WHERE caller = 'operator') / 2 || ' ' ||
	(SELECT high_water_mark FROM subscriptions WHERE id = $SA)
	FROM user_wallets w WHERE w.subscriber_id = $SUB")
[ "$money" = "$want" ] && ok ||
	bad "money after $N iterations: '$money' (balance, fees, deposits, distinct, fee rows, keys/2, hwm); want '$want'"
"$D" ledger verify >"$T/verify.log" 2>&1 && ok || bad "decpctl ledger verify: $(tail -2 "$T/verify.log")"
# Reports: once per report_id. The api's (ids 1..N), and every execution the subscriber
# reported through the fan-out (archived from Redis, scored by trust: execution_reports).
reps=$(q "SELECT count(*) FROM subscriber_reports WHERE subscriber_id = $SUB AND report_id <= $N")
[ "$reps" = "$N" ] && ok || bad "subscriber reports through the api: '$reps', want '$N'"
E=$(awk '$2 == 1' "$T/sub.log" 2>/dev/null | wc -l)
exe_q="SELECT count(*) || ' ' || count(DISTINCT sequence) FROM execution_reports WHERE subscription_id = $SA"
for _ in $(seq 1 600); do [ "$(q "$exe_q")" = "$E $E" ] && break; sleep 0.1; done
[ "$E" -gt 0 ] && [ "$(q "$exe_q")" = "$E $E" ] && ok ||
	bad "execution reports: $(q "$exe_q") stored (rows, distinct sequences) for $E executions"
# (the api client's events name no sequence; the subscriber's own refusals each name theirs)
pl_q="SELECT count(*) FROM protection_logs WHERE subscription_id = $SA AND sequence IS NULL"
[ "$(q "$pl_q")" = "$N" ] && ok || bad "protection_logs: $(q "$pl_q") rows without a sequence for $N api reports; by reason: $(q "SELECT reason, count(*), count(sequence) FROM protection_logs WHERE subscription_id = $SA GROUP BY 1" | tr '\n' ' ')"

# The api during the election: 503 with Retry-After, never 500 nor anything else.
c503=$(awk '$4 == 503' "$T/codes" | wc -l)
c503ra=$(awk '$4 == 503 && $6 == 1' "$T/codes" | wc -l)
other=$(awk '$4 !~ /^2/ && $4 != 503' "$T/codes" | wc -l)
[ "$c503" -gt 0 ] && [ "$c503" = "$c503ra" ] && ok ||
	bad "503 answers: $c503, with Retry-After: $c503ra (want > 0, all)"
[ "$other" = 0 ] && ok || bad "answers neither 2xx nor 503: $(awk '$4 !~ /^2/ && $4 != 503' "$T/codes" | head -3 | tr '\n' ';') $(cat "$T/500.body" 2>/dev/null)"
first_ok=$(awk -v t="$t0" '$1 > t && $4 == 503 {s = 1} s && $4 ~ /^2/ {print $1; exit}' "$T/codes")
last_503=$(awk '$4 == 503 {t = $1} END {print t}' "$T/codes")
t_api=$(awk -v a="$t0" -v b="$first_ok" 'BEGIN {printf "%.2f", b - a}')
replayed=$(awk '$5 == 1' "$T/codes" | wc -l)
[ -n "$first_ok" ] && awk -v a="$first_ok" -v b="$last_503" 'BEGIN {exit !(a > b)}' && ok ||
	bad "an api write failed after the first success past the failover"
grep -q "connected again" "$T/control.log" && ok || bad "no role logged its reconnect"

kill -TERM "$CPPID" "$DPPID" 2>/dev/null; wait "$CPPID" "$DPPID" 2>/dev/null; CPPID= DPPID=
echo "Patroni failover: member $L (the leader) crashed with the archive at $before rows and $n_before client iterations;" \
	"member $new leader after $t_leader s; first API write answered after $t_api s (503 answers: $c503," \
	"replayed by key: $replayed); the archive moving again after $t_archive s; $N iterations in all;" \
	"$E executions reported by the subscriber"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
