#!/usr/bin/env bash
# trust_bench.sh: the trust role's throughput and reaction time (docs/perf.md "trust").
#   BUILD_DIR/tests/harness/decp-testenv --pg --redis -- perf/trust_bench.sh BUILD_DIR \
#       [SUBSCRIPTIONS] [ROWS] [PAUSES]
# Needs DECP_PG_CONNINFO (the owner: the benchmark adds a timing trigger) and DECP_REDIS_PORT
# (decp-testenv), curl and psql. Starts decp-control --roles api,trust, then:
#   1. throughput: ROWS (100000) inbox rows at once over SUBSCRIPTIONS (1000): 70 % EXECUTE
#      naming delivered envelopes (the credit query's work), 20 % TTL_EXPIRED, 10 %
#      PRICE_DEVIATION; time until the inbox is empty -> rows scored per second;
#   2. report -> pause: PAUSES (200) POST /v1/protection-events of two REPLAYs each, one
#      every 20 ms, each on its own subscription; a trigger records clock_timestamp() when
#      the subscription becomes PAUSED_TOXIC; latency = that - the event's event_time (the
#      API transaction's start). Prints "PAUSE p50=... p99=... max=... ms n=...".
set -euo pipefail
B=${1:?build dir}; N=${2:-1000}; ROWS=${3:-100000}; PAUSES=${4:-200}
TMP=$(mktemp -d /tmp/decp-trustbench-XXXXXX)
CTL_PID=
cleanup() { [ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$DECP_PG_CONNINFO" -c "$1"; }
"$B/sql/decp-migrate" --conninfo "$DECP_PG_CONNINFO" >/dev/null
q "INSERT INTO masters (name, hmac_secret, ed25519_public_key) VALUES ('bench',
     decode(repeat('00', 32), 'hex'), decode(repeat('07', 32), 'hex'))" >/dev/null
q "INSERT INTO subscribers (name) SELECT 'b' || i FROM generate_series(1, $N + $PAUSES) i" >/dev/null
q "INSERT INTO subscriptions (master_id, subscriber_id) SELECT 1, id FROM subscribers ORDER BY id" >/dev/null
q "CREATE TABLE bench_pause (subscription_id bigint PRIMARY KEY, at timestamptz NOT NULL);
   CREATE FUNCTION bench_pause_at() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
     INSERT INTO bench_pause VALUES (NEW.id, clock_timestamp()) ON CONFLICT DO NOTHING;
     RETURN NULL; END \$\$;
   CREATE TRIGGER bench_pause AFTER UPDATE OF state ON subscriptions FOR EACH ROW
     WHEN (NEW.state = 'PAUSED_TOXIC') EXECUTE FUNCTION bench_pause_at();
   GRANT INSERT ON bench_pause TO decp_app;" >/dev/null
ADMIN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
HASH=$(printf %s "$ADMIN" | sha256sum | cut -d' ' -f1)
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
APP=$(printf %s "$DECP_PG_CONNINFO" | sed 's/user=[^ ]*/user=decp_app/')
"$B/tools/decpctl/decpctl" tls init --dir "$TMP/tls" >/dev/null   # the api's HTTPS
"$B/controlplane/core/decp-control" --roles api,trust --set pg_conninfo="$APP" \
  --set redis_port="$DECP_REDIS_PORT" --set api_port="$PORT" \
  --set "api_cert=$TMP/tls/server.crt" --set "api_key=$TMP/tls/server.key" \
  --set api_admin_token_sha256="$HASH" --set log_level=warn >"$TMP/control.log" 2>&1 &
CTL_PID=$!
URL=https://127.0.0.1:$PORT
curl() { command curl --cacert "$TMP/tls/ca.crt" "$@"; }
for _ in $(seq 200); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.05; done
wait_empty() {
  for _ in $(seq 6000); do [ "$(q "SELECT count(*) FROM trust_inbox")" = 0 ] && return 0; sleep 0.05; done
  echo "inbox not drained"; return 1
}

echo "== throughput: $ROWS inbox rows over $N subscriptions"
PER=$(( (ROWS + N - 1) / N ))
q "INSERT INTO trust_deliveries SELECT id, true, 1, $PER, now(), now() FROM subscriptions
   WHERE id <= $N" >/dev/null
T0=$(date +%s.%N)
q "INSERT INTO trust_inbox (subscription_id, event, sequence)
   SELECT 1 + i % $N, CASE WHEN i % 10 < 7 THEN 'EXECUTE' WHEN i % 10 < 9 THEN 'TTL_EXPIRED'
          ELSE 'PRICE_DEVIATION' END, 1 + i / $N FROM generate_series(0, $ROWS - 1) i" >/dev/null
wait_empty
T1=$(date +%s.%N)
S=$(echo "$T1 - $T0" | bc)
echo "SCORED rows=$ROWS seconds=$S rows/s=$(echo "$ROWS / $S" | bc)" \
     "credited=$(q "SELECT count(*) FROM execution_reports WHERE credited")" \
     "paused=$(q "SELECT count(*) FROM subscriptions WHERE state = 'PAUSED_TOXIC'")"

echo "== report -> pause: $PAUSES subscriptions, two REPLAYs each, one POST every 20 ms"
FIRST=$((N + 1))
for i in $(seq "$FIRST" $((N + PAUSES))); do
  curl -sf -o /dev/null -H "Authorization: Bearer $ADMIN" -d \
    '{"events":[{"subscription_id":'"$i"',"reason":"REPLAY"},{"subscription_id":'"$i"',"reason":"REPLAY"}]}' \
    "$URL/v1/protection-events"
  sleep 0.02
done
wait_empty
q "SELECT 'PAUSE p50=' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2)
     || ' p99=' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2)
     || ' max=' || round(max(ms)::numeric, 2) || ' ms n=' || count(*)
   FROM (SELECT extract(epoch FROM b.at - min(p.event_time)) * 1000 AS ms
         FROM bench_pause b JOIN protection_logs p ON p.subscription_id = b.subscription_id
         WHERE b.subscription_id >= $FIRST GROUP BY b.subscription_id, b.at) x"
