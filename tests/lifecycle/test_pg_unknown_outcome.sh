#!/bin/bash
# Retries after an unknown outcome (issue 24 item 1; docs/operations.md "PostgreSQL with
# Patroni"), under decp-testenv --pg --redis-aof. Usage: test_pg_unknown_outcome.sh
# DECPCTL DATAPLANE CONTROL MASTER. Prints "N passed, N failed".
#
# A failover can take a primary down after it committed and before its answer reached the
# client. That moment is made exactly here, without timing luck: decp-control reaches
# PostgreSQL through tests/lifecycle/pg_relay.py, which, when armed, forwards one chosen
# statement, throws the server's answer away and cuts the connection.
#  1. the archiver's COMMIT of a batch of signals: the batch is in PostgreSQL, the
#     archiver does not know it, reconnects and inserts the same batch again. The archive
#     must hold every signal exactly once (the retry found its rows and skipped them).
#  2. the api's deposit with an Idempotency-Key: the deposit is committed, the client gets
#     503 and sends it again with the same key: 200 with Idempotent-Replayed, the wallet
#     credited once.
#  3. the same without a key, to show what the key prevents: the retry credits twice.
D="$1" DP="$2" CTLBIN="$3" MASTER="$4"
. "$(dirname "$0")/../decpctl/testlib.sh"
[ -x "$D" ] && [ -x "$DP" ] && [ -x "$CTLBIN" ] && [ -x "$MASTER" ] && [ -n "$DECP_PG_PORT" ] &&
	[ -n "$DECP_REDIS_PORT" ] ||
	{ echo "usage: run under decp-testenv --pg --redis-aof"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d /tmp/decp-unknown.XXXXXX)
SHM=decp-unknown-$$
DPPID= CPPID= MPID= RPID=
cleanup() {
	for p in $MPID $CPPID $DPPID $RPID; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -f "/dev/shm/$SHM"
	rm -rf "$T"
}
trap cleanup EXIT
SIGNALS=4000

"$D" db migrate >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }
"$D" master add --id 1 --name m1 --key-seed unknown >/dev/null || bad "master add"
RPORT=$(free_port)
python3 "$(dirname "$0")/pg_relay.py" "$RPORT" "$DECP_PG_PORT" "$T/arm" "$T/relay.log" \
	2>"$T/relay.err" &
RPID=$!
for _ in $(seq 1 100); do grep -q listening "$T/relay.log" 2>/dev/null && break; sleep 0.05; done
ADMIN=$(openssl rand -hex 32)
APORT=$(free_port)
# every role's session goes through the relay
DECP_PG_CONNINFO="host=127.0.0.1 port=$RPORT dbname=$DECP_PG_DBNAME user=postgres connect_timeout=5" \
	start_pipeline "$T" "$SHM" "roles = edge,archiver,api" "redis_host = 127.0.0.1" \
	"redis_port = $DECP_REDIS_PORT" "api_tls = off" "api_port = $APORT" \
	"api_admin_token_sha256 = $(printf %s "$ADMIN" | sha256sum | cut -d' ' -f1)" \
	"backoff_max_ms = 200" "archiver_threads = 1" "archiver_batch = 200" && ok ||
	bad "the pipeline never became ready: $(tail -3 "$T/control.log")"

# 1. the archiver
echo "archiver COMMIT signal_archive" >"$T/arm"
"$MASTER" --connect "127.0.0.1:$(cat "$T/dp.port")" --masters 1 --signals $SIGNALS --rate 2000 \
	--key-seed unknown --time-limit-s 60 >"$T/master.log" 2>&1 &
MPID=$!
wait "$MPID"; rc=$?; MPID=
[ $rc = 0 ] && ok || bad "decp-master: exit $rc: $(tail -2 "$T/master.log")"
arch_q="SELECT count(*) || ' ' || count(DISTINCT sequence) || ' ' || max(sequence) FROM signal_archive WHERE master_id = 1"
for _ in $(seq 1 300); do [ "$(q "$arch_q")" = "$SIGNALS $SIGNALS $SIGNALS" ] && break; sleep 0.1; done
grep -q "dropped archiver COMMIT" "$T/relay.log" && ok || bad "the relay never dropped a COMMIT's answer"
[ "$(q "$arch_q")" = "$SIGNALS $SIGNALS $SIGNALS" ] && ok ||
	bad "archive: $(q "$arch_q") (rows, distinct, max; want $SIGNALS each)"
grep -q "already archived (redelivery)" "$T/control.log" && ok ||
	bad "the archiver's retry did not meet its own committed batch: $(grep archiver "$T/control.log" | tail -3)"

# 2. and 3. the api
api() { # PATH KEY BODY: status; head in $T/h, body in $T/b
	curl -s -m 20 -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
		${2:+-H "Idempotency-Key: $2"} --data "$3" -D "$T/h" -o "$T/b" -w '%{http_code}' \
		"http://127.0.0.1:$APORT$1"
}
api /v1/subscribers "" '{"name":"u"}' >/dev/null
SUB=$(sed -n 's/.*"id": *\([0-9]*\).*/\1/p' "$T/b")
[ -n "$SUB" ] && ok || bad "subscriber: $(cat "$T/b")"
echo "api money_request" >"$T/arm"
st1=$(api "/v1/subscribers/$SUB/wallet/deposit" k1 '{"amount":"7.00"}')
st2=$(api "/v1/subscribers/$SUB/wallet/deposit" k1 '{"amount":"7.00"}')
[ "$st1" = 503 ] && [ "$st2" = 200 ] && grep -qi '^Idempotent-Replayed: true' "$T/h" &&
	grep -q '"balance_usd": *"7.00"' "$T/b" && ok ||
	bad "keyed deposit with its answer lost: $st1 then $st2 $(cat "$T/b") $(grep -i replayed "$T/h")"
[ "$(q "SELECT balance_usd || ' ' || ledger_seq FROM user_wallets WHERE subscriber_id = $SUB")" = "7.00 1" ] &&
	ok || bad "wallet after a lost answer and a keyed retry: $(q "SELECT balance_usd, ledger_seq FROM user_wallets WHERE subscriber_id = $SUB")"
echo "api wallet_deposit" >"$T/arm"
st1=$(api "/v1/subscribers/$SUB/wallet/deposit" "" '{"amount":"7.00"}')
st2=$(api "/v1/subscribers/$SUB/wallet/deposit" "" '{"amount":"7.00"}')
[ "$st1" = 503 ] && [ "$st2" = 200 ] && ok || bad "unkeyed: $st1 then $st2"
[ "$(q "SELECT balance_usd FROM user_wallets WHERE subscriber_id = $SUB")" = "21.00" ] && ok ||
	bad "without a key the retry should have credited twice (what the key prevents): $(q "SELECT balance_usd FROM user_wallets WHERE subscriber_id = $SUB")"
[ "$(grep -c dropped "$T/relay.log")" = 3 ] && ok || bad "relay: $(cat "$T/relay.log")"

kill -TERM "$CPPID" "$DPPID" 2>/dev/null; wait "$CPPID" "$DPPID" 2>/dev/null; CPPID= DPPID=
echo "unknown outcomes: $(grep -o 'rows=[0-9]* skipped=[0-9]*' "$T/control.log" | head -1) (skipped: the batch whose COMMIT answer was lost, found committed on retry)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
