# testlib.sh: what the decpctl shell tests share (sourced). Counters and checks; each test
# ends with: echo "$pass passed, $fail failed".
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { # name, expected exit status, command...
	name=$1; want=$2; shift 2
	out=$("$@" 2>&1); got=$?
	if [ "$got" -eq "$want" ]; then ok; else bad "$name: exit $got, want $want: $out"; fi
}
q() { psql -X -q -t -A -d "$DECP_PG_CONNINFO" -c "$1"; }
# the harness's Redis (decp-testenv --redis)
r() { redis-cli -h "$DECP_REDIS_HOST" -p "$DECP_REDIS_PORT" --raw "$@"; }
# A test of decpctl ($D) against the harness's PostgreSQL and Redis: both there and the
# schema migrated, else it ends failed.
need_pg_redis() {
	[ -n "$D" ] && [ -n "$DECP_PG_CONNINFO" ] && [ -n "$DECP_REDIS_PORT" ] ||
		{ echo "usage: run under decp-testenv --pg --redis"; echo "0 passed, 1 failed"; exit 1; }
	"$D" db migrate >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }
}
# A TCP port no socket uses (loopback), or fails: below the kernel's ephemeral range
# (ip_local_port_range), so that no process's outgoing connection is given it before our
# server binds it (as harness_free_port does).
free_port() {
	local p low
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
	[ "$low" -gt 21000 ] || low=61000
	for _ in $(seq 1 50); do
		# (not $RANDOM: sh has none, and every try was port 20000, in TIME-WAIT after a run)
		p=$((20000 + $(od -An -N4 -tu4 /dev/urandom) % (low - 20000)))
		ss -tanH "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}
# The ingest pipeline of the lifecycle tests: a plaintext posix dataplane on a free loopback
# port (written to DIR/dp.port) with segment SHM, and decp-control with the configuration
# lines given (written to DIR/control.conf; log DIR/control.log); waits until the edge has
# made the dataplane ready (`decpctl top`). Needs $DP, $CTLBIN and $D; sets DPPID and
# CPPID. Returns 1 when it never became ready.
start_pipeline() { # DIR SHM CONFIG-LINE...
	local dir=$1 shm=$2
	shift 2
	rm -f "$dir/dp.port"   # (DP_LISTEN: a fixed address, e.g. to restart on the same port)
	"$DP" --stack posix --tls off --listen "${DP_LISTEN:-127.0.0.1:0}" --port-file "$dir/dp.port" \
		--shm "$shm" >"$dir/dp.log" 2>&1 &
	DPPID=$!
	for _ in $(seq 1 200); do [ -s "$dir/dp.port" ] && break; sleep 0.05; done
	printf '%s\n' "shm = /$shm" "pg_conninfo = \"$DECP_PG_CONNINFO user=decp_app\"" "$@" \
		>"$dir/control.conf"
	"$CTLBIN" --config "$dir/control.conf" >"$dir/control.log" 2>&1 &
	CPPID=$!
	for _ in $(seq 1 600); do
		"$D" top --shm "$shm" --once --json 2>/dev/null | grep -q '"ready":true' && return 0
		kill -0 "$CPPID" 2>/dev/null || return 1 # it stopped (its log says why)
		sleep 0.05
	done
	return 1
}

# decp-master's MASTERS masters (ids 1..MASTERS) send SIGNALS signals each to the pipeline's
# dataplane (start_pipeline) and all are ACKed; needs $MASTER. Counts ok/bad.
stream_masters() { # DIR MASTERS SIGNALS KEY-SEED
	local out rc
	out=$(timeout 120 "$MASTER" --connect "127.0.0.1:$(cat "$1/dp.port")" --masters "$2" \
		--signals "$3" --key-seed "$4" --time-limit-s 100 2>&1); rc=$?
	[ $rc = 0 ] && echo "$out" | grep -q " acked=$(($2 * $3)) " && ok || bad "masters: $rc $out"
}

# Redis on loopback for the shell tests and benches that run their own servers.
rc_of() { redis-cli -h 127.0.0.1 -p "$1" --raw "${@:2}"; }     # PORT COMMAND...
wait_ping() { # PORT: until it answers PING (10 s at most); 1 if it never does
	for _ in $(seq 1 200); do
		[ "$(rc_of "$1" PING 2>/dev/null)" = PONG ] && return 0
		sleep 0.05
	done
	return 1
}
last_seq() { # PORT [MASTER]: the last sequence in a master's stream (default 1), "" when none
	rc_of "$1" XREVRANGE "decp:{m${2:-1}}:signals" + - COUNT 1 2>/dev/null | head -1 | cut -d- -f1
}

# Through the caller's api() (METHOD PATH TOKEN [BODY]: the body into $T/api.body, the
# status to stdout), once /readyz answers 200 (30 s at most): a subscriber NAME (SUB) with
# a token (TOK), subscribed to master 1 at fee 20 % (SA). Returns 1 when one is missing.
api_fixtures() { # NAME
	for _ in $(seq 1 300); do [ "$(api GET /readyz "$ADMIN")" = 200 ] && break; sleep 0.1; done
	api POST /v1/subscribers "$ADMIN" "{\"name\":\"$1\"}" >/dev/null
	SUB=$(sed -n 's/.*"id": *\([0-9]*\).*/\1/p' "$T/api.body")
	api POST "/v1/subscribers/$SUB/tokens" "$ADMIN" '{"label":"ea"}' >/dev/null
	TOK=$(sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' "$T/api.body")
	api POST /v1/subscriptions "$ADMIN" "{\"master_id\":1,\"subscriber_id\":$SUB,\"fee_pct\":20}" >/dev/null
	SA=$(sed -n 's/.*"id": *\([0-9]*\).*/\1/p' "$T/api.body")
	[ -n "$SUB" ] && [ -n "$TOK" ] && [ -n "$SA" ]
}
