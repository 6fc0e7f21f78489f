#!/usr/bin/env bash
# bench_api.sh: wrk latency of the api role (docs/perf.md "api").
#   BUILD_DIR/tests/harness/decp-testenv -- tests/api/bench_api.sh BUILD_DIR [SECONDS] [CONNECTIONS]
# Environment: DECP_BENCH_ROLES (default api,trust), DECP_BENCH_THREADS (api_threads, 1),
# DECP_BENCH_GET_ONLY=1 (skip the POST run), DECP_BENCH_LOG=FILE (keep decp-control's log),
# DECP_BENCH_MIXED=1 (then a third run: POSTs and GETs at once, CONNECTIONS/2 each, two
# wrk side by side, a PCTL line each, POST first), DECP_BENCH_READ_PRIMARY=1 (pg_read_conninfo
# = the primary: every GET on the read session, not only the grouped reads; docs/api.md),
# DECP_BENCH_GET_DELAY_MS=N (the mixed run's GET connections wait N ms between requests).
# Needs DECP_PG_CONNINFO and DECP_REDIS_PORT (decp-testenv), wrk and curl. Starts
# decp-control --roles api,trust on a free port over HTTPS (a certificate set of its own,
# decpctl tls init; DECP_BENCH_PLAIN=1: api_tls = off, for the HTTP baseline), creates a master, a subscriber with a
# token and a subscription through the API, then measures with the subscriber's token:
#   1. POST /v1/protection-events (one TTL_EXPIRED event per request)
#   2. GET  /v1/subscriptions/ID
# Each run ends with a line "PCTL p50=... p90=... p99=... p99.9=... max=... ms req/s=...".
# Between the two runs it waits (up to 60 s) until the trust role (when running) has scored
# every event.
set -euo pipefail
B=${1:?build dir}; SECS=${2:-10}; CONNS=${3:-8}
TMP=$(mktemp -d /tmp/decp-apibench-XXXXXX)
CTL_PID=
cleanup() { [ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
"$B/sql/decp-migrate" --conninfo "$DECP_PG_CONNINFO" >/dev/null
ADMIN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
HASH=$(printf %s "$ADMIN" | sha256sum | cut -d' ' -f1)
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ -n "${DECP_BENCH_PLAIN:-}" ]; then
  TLS=(--set api_tls=off); URL=http://127.0.0.1:$PORT
else
  "$B/tools/decpctl/decpctl" tls init --dir "$TMP/tls" >/dev/null
  TLS=(--set "api_cert=$TMP/tls/server.crt" --set "api_key=$TMP/tls/server.key")
  URL=https://127.0.0.1:$PORT
fi
READ=(); [ -n "${DECP_BENCH_READ_PRIMARY:-}" ] && READ=(--set "pg_read_conninfo=$DECP_PG_CONNINFO")
"$B/controlplane/core/decp-control" --roles "${DECP_BENCH_ROLES:-api,trust}" --set pg_conninfo="$DECP_PG_CONNINFO" "${READ[@]}" \
  --set redis_port="$DECP_REDIS_PORT" --set api_port="$PORT" "${TLS[@]}" \
  --set api_admin_token_sha256="$HASH" --set api_threads="${DECP_BENCH_THREADS:-1}" \
  --set log_level=warn >"${DECP_BENCH_LOG:-$TMP/control.log}" 2>&1 &
CTL_PID=$!
CURL=(curl); [ -z "${DECP_BENCH_PLAIN:-}" ] && CURL=(curl --cacert "$TMP/tls/ca.crt")
for _ in $(seq 100); do "${CURL[@]}" -sf "$URL/healthz" >/dev/null && break; sleep 0.05; done
api() { "${CURL[@]}" -sf -H "Authorization: Bearer $ADMIN" "$@"; }
num() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
M=$(api -d '{"name":"bench","ed25519_public_key":"'"$(printf '%064d' 7)"'"}' "$URL/v1/masters" | num id)
S=$(api -d '{"name":"bench-sub"}' "$URL/v1/subscribers" | num id)
TOK=$(api -d '{}' "$URL/v1/subscribers/$S/tokens" | num token)
SUB=$(api -d '{"master_id":'"$M"',"subscriber_id":'"$S"'}' "$URL/v1/subscriptions" | num id)
# One summary line per run: percentiles in ms (wrk's own table stops at p99).
cat >"$TMP/done.lua" <<'LUA'
done = function(s, lat, req)
  local e = s.errors
  io.write(string.format("PCTL p50=%.3f p90=%.3f p99=%.3f p99.9=%.3f max=%.3f ms req/s=%.0f"
    .. " non2xx+errors=%d\n", lat:percentile(50) / 1000, lat:percentile(90) / 1000,
    lat:percentile(99) / 1000, lat:percentile(99.9) / 1000, lat.max / 1000,
    s.requests / (s.duration / 1e6), e.status + e.connect + e.read + e.write + e.timeout))
end
LUA
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"events":[{"subscription_id":$SUB,"reason":"TTL_EXPIRED","latency_ms":612.5,"symbol":"EURUSD"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOK"
dofile("$TMP/done.lua")
LUA
cat >"$TMP/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOK"
dofile("$TMP/done.lua")
LUA
if [ -z "${DECP_BENCH_GET_ONLY:-}" ]; then
echo "== POST /v1/protection-events (1 event per request), $CONNS connections, ${SECS}s"
wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$TMP/post.lua" "$URL/v1/protection-events"
# The trust role scores the POSTed events in the background: let it finish, so that its
# backlog does not compete with the GET run for the CPU (and say how long it took).
case ",${DECP_BENCH_ROLES:-api,trust}," in *,trust,*)
  T0=$(date +%s.%N)
  for _ in $(seq 600); do
    P=$("${CURL[@]}" -sf -H "Authorization: Bearer $TOK" "$URL/v1/subscriptions/$SUB/trust" |
        num pending_events) || P='?'
    [ "$P" = 0 ] && break; sleep 0.1
  done
  echo "== trust backlog drained in $(echo "$(date +%s.%N) - $T0" | bc) s (pending now: $P)";;
esac
fi
echo "== GET /v1/subscriptions/$SUB, $CONNS connections, ${SECS}s"
wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$TMP/get.lua" "$URL/v1/subscriptions/$SUB"
if [ -n "${DECP_BENCH_MIXED:-}" ]; then
  H=$(( (CONNS + 1) / 2 ))
  GL="$TMP/get.lua"
  if [ -n "${DECP_BENCH_GET_DELAY_MS:-}" ]; then   # each GET connection paced
    GL="$TMP/get-paced.lua"
    { cat "$TMP/get.lua"; echo "delay = function() return $DECP_BENCH_GET_DELAY_MS end"; } >"$GL"
  fi
  echo "== mixed: POST and GET at once, $H connections each, ${SECS}s"
  wrk -t1 -c"$H" -d"${SECS}s" --latency -s "$TMP/post.lua" "$URL/v1/protection-events" \
    >"$TMP/mixed-post.txt" 2>&1 &
  MP=$!
  wrk -t1 -c"$H" -d"${SECS}s" --latency -s "$GL" "$URL/v1/subscriptions/$SUB" \
    >"$TMP/mixed-get.txt" 2>&1
  wait "$MP"
  cat "$TMP/mixed-post.txt" "$TMP/mixed-get.txt"
fi
echo "== server-side request time (decp_api_request_duration_seconds)"
"${CURL[@]}" -s "$URL/metrics" | grep -E '^decp_api_request_duration_seconds_(bucket|count)|^decp_api_requests_total\{code="[245]xx"|^decp_api_event_commit'
