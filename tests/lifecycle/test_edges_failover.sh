#!/bin/bash
# Two ingest edges in front of one Redis, masters failing over between them (issue 24 item 3,
# docs/ingest.md "One live session per master, across edges", docs/operations.md "Two
# edges"), under decp-testenv --pg --redis.
# Usage: test_edges_failover.sh DECPCTL DATAPLANE CONTROL MASTER. Prints "N passed, N failed"
# and the failover's RTO (p50/max over the masters that failed over).
#
#   namespace ha<pid>a: decp-dataplane A (posix, 10.88.1.1:7000 on veth)  --shm-- edge A (root ns)
#   namespace ha<pid>b: decp-dataplane B (posix, 10.88.2.1:7000 on veth)  --shm-- edge B (root ns)
#   namespace ha<pid>c: decp-master, veth peers 10.88.1.2 and 10.88.2.2
#   root namespace:     Redis and PostgreSQL on loopback (decp-testenv), edges A and B, the
#                       archiver, the api (decp-control, four processes)
# The posix stack, not DPDK: the masters must reach both dataplanes from one namespace, and a
# net_tap port puts a DPDK dataplane's network in exactly one namespace; two of them behind a
# routed client namespace is a larger setup than this test needs (the session layer, the
# confirmation path and the edge are the same code on both stacks). The doorbells between
# a dataplane and its edge are abstract unix sockets, which are per network namespace, so
# here both sides fall back to polling (10 ms): slower ACKs, the same protocol.
#
# Cases:
#  1. one master logged in on both edges at once (two decp-master instances of master 99,
#     one per edge): the newer login wins, the older session is closed with Error REPLACED
#     (on the other dataplane, through its edge's claim check); they take it over from each
#     other until one instance gives up (exit 3, "another instance"); its stream has no gap.
#  2. 16 masters stream (8 start on A, 8 on B), each through decp-master with both endpoints;
#     dataplane A is killed -9 mid-stream; A's masters log in on B: every one within 1 s
#     (RTO = HelloAck on B - the kill, reported p50/max), B's claim is in Redis
#     (decp:{m<id>}:session edge = edge-b) with the durable sequence continuing exactly; at
#     the end every signal ACKed, every stream 1..N exactly once and in order, the archive
#     complete and exactly once, and no session claim left. A master that knows only
#     endpoint A has its claim released by edge A when it sees its dataplane gone. The api's
#     GET /v1/masters/activity shows the same: connected on edge-b since the failover, or
#     not connected.
#  3. dataplane A restarted (edge A re-attaches); 8 more masters stream through B, which is
#     then frozen (SIGSTOP: a hung host, no reset reaches the masters): they notice through
#     their ACK timeout (300 ms) and log in on A, each within 1 s (RTO reported); B thawed,
#     every signal ACKed once, streams and archive exactly once and in order.
#  4. edge B and its dataplane killed -9 together while master 97 (endpoint B only) is
#     logged in: nobody releases its claim, which expires (3 s after its last touch).
D="$1" DP="$2" CTLBIN="$3" MASTER="$4"
. "$(dirname "$0")/../decpctl/testlib.sh"
. "$(dirname "$0")/../harness/rootns_guard.sh"
[ -x "$D" ] && [ -x "$DP" ] && [ -x "$CTLBIN" ] && [ -x "$MASTER" ] && [ -n "$DECP_PG_CONNINFO" ] &&
	[ -n "$DECP_REDIS_PORT" ] ||
	{ echo "usage: run under decp-testenv --pg --redis"; echo "0 passed, 1 failed"; exit 1; }
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root to create network namespaces"
	exit 77
fi

T=$(mktemp -d /tmp/decp-edges.XXXXXX)
NSA=ha$$a NSB=ha$$b NSC=ha$$c
SHMA=decp-ha-a-$$ SHMB=decp-ha-b-$$
A=10.88.1.1:7000 B=10.88.2.1:7000
R=$DECP_REDIS_PORT
MASTERS=16 SIGNALS=6000 RATE=2400
HUNG_FIRST=21 HUNG_LAST=28
DPA= DPB= CPA= CPB= CPR= CPI= M1= M2= M3= M4= M5= M6=
cleanup() {
	for p in $M1 $M2 $M3 $M4 $M5 $M6 $CPA $CPB $CPR $CPI $DPA $DPB; do
		kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
	done
	ip netns del "$NSA" 2>/dev/null; ip netns del "$NSB" 2>/dev/null; ip netns del "$NSC" 2>/dev/null
	rm -f "/dev/shm/$SHMA" "/dev/shm/$SHMB"
	[ -n "${DECP_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
rootns_guard_start

# --- network: two server namespaces, one client namespace, a veth pair to each
for ns in $NSA $NSB $NSC; do
	ip netns add "$ns" || { echo "FAIL: ip netns add $ns"; echo "0 passed, 1 failed"; exit 1; }
	ip -n "$ns" link set lo up
done
net_pair() { # server-ns n: veth h<pid><n>s in server-ns (10.88.n.1), h<pid><n>c in NSC (10.88.n.2)
	local s=h$$${2}s c=h$$${2}c
	ip link add "$s" type veth peer name "$c" || return 1
	ip link set "$s" netns "$1" && ip link set "$c" netns "$NSC" || return 1
	ip -n "$1" addr add "10.88.$2.1/24" dev "$s" && ip -n "$1" link set "$s" up &&
		ip -n "$NSC" addr add "10.88.$2.2/24" dev "$c" && ip -n "$NSC" link set "$c" up
}
net_pair "$NSA" 1 && net_pair "$NSB" 2 ||
	{ echo "FAIL: veth setup"; echo "0 passed, 1 failed"; exit 1; }

"$D" db migrate >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }
for i in $(seq 1 $MASTERS) $(seq $HUNG_FIRST $HUNG_LAST) 97 98 99; do
	"$D" master add --id "$i" --name "m$i" --key-seed edges >/dev/null ||
		{ echo "master add $i failed"; echo "0 passed, 1 failed"; exit 1; }
done

# --- two dataplanes (each in its namespace: `ip netns exec` execs, so $! is its pid) and
# their edges, one archiver
start_dp() { # ns addr shm log
	ip netns exec "$1" "$DP" --stack posix --tls off --listen "$2" --shm "$3" >"$4" 2>&1 &
}
start_dp "$NSA" "$A" "$SHMA" "$T/dpa.log"; DPA=$!
start_dp "$NSB" "$B" "$SHMB" "$T/dpb.log"; DPB=$!
control() { # name config-lines... (starts decp-control, pid in $!)
	local n=$1
	shift
	printf '%s\n' "pg_conninfo = \"$DECP_PG_CONNINFO user=decp_app\"" "redis_host = 127.0.0.1" \
		"redis_port = $R" "$@" >"$T/$n.conf"
	"$CTLBIN" --config "$T/$n.conf" >"$T/$n.log" 2>&1 &
}
# edge A notices its dataplane's death after 0.5 s (not the 3 s default), well before an
# untouched claim would expire (3 s): the release is its doing
# dataplane_stale_ms 1000 (3000 by default): a dead dataplane is seen within a second; not
# 500, whose heartbeat gaps on a machine at load 13 made the edge re-attach a live one again
# and again
control edge-a "roles = edge" "shm = /$SHMA" "edge_id = edge-a" "dataplane_stale_ms = 1000"; CPA=$!
control edge-b "roles = edge" "shm = /$SHMB" "edge_id = edge-b" "dataplane_stale_ms = 1000"; CPB=$!
control archiver "roles = archiver" "shm = /decp-ha-none-$$"; CPR=$!
# the api in a process of its own, on a free port (another one if somebody took it first)
ADMIN=edges-admin-$$
for _ in 1 2 3; do
	APIPORT=$(free_port) || break
	control api "roles = api" "shm = /decp-ha-none-$$" "api_listen = 127.0.0.1" \
		"api_port = $APIPORT" "api_tls = off" \
		"api_admin_token_sha256 = $(printf %s "$ADMIN" | sha256sum | cut -d' ' -f1)"; CPI=$!
	for _ in $(seq 1 200); do
		grep -q "listening on" "$T/api.log" 2>/dev/null && break
		kill -0 "$CPI" 2>/dev/null || break
		sleep 0.05
	done
	grep -q "listening on" "$T/api.log" 2>/dev/null && break
	kill -KILL "$CPI" 2>/dev/null; wait "$CPI" 2>/dev/null; CPI=
done
[ -n "$CPI" ] && ok || bad "the api never listened: $(tail -2 "$T/api.log")"
ready() { "$D" top --shm "$1" --once --json 2>/dev/null | grep -q '"ready":true'; }
for _ in $(seq 1 600); do ready "$SHMA" && ready "$SHMB" && break; sleep 0.05; done
ready "$SHMA" && ready "$SHMB" && ok ||
	{ bad "the edges never made both dataplanes ready: $(tail -2 "$T/edge-a.log") $(tail -2 "$T/edge-b.log")"; echo "$pass passed, $fail failed"; exit 1; }

# Every stream of masters FIRST..LAST is exactly 1..SIGNALS (XLEN and last entry: entry
# IDs are the sequences, strictly increasing), and so is the archive.
exactly_once() { # FIRST LAST
	local n=$(($2 - $1 + 1)) good=0 i
	for i in $(seq "$1" "$2"); do
		[ "$(rc_of "$R" XLEN "decp:{m$i}:signals")" = $SIGNALS ] &&
			[ "$(last_seq "$R" "$i")" = $SIGNALS ] && good=$((good + 1))
	done
	[ $good = $n ] && ok ||
		bad "masters $1..$2: $((n - good)) stream(s) not exactly 1..$SIGNALS (XLEN and last entry)"
	local aq="SELECT count(*) || ' ' || count(DISTINCT (master_id, sequence)) FROM signal_archive WHERE master_id BETWEEN $1 AND $2"
	local bq="SELECT count(*) FROM (SELECT master_id FROM signal_archive WHERE master_id BETWEEN $1 AND $2 GROUP BY master_id HAVING max(sequence) <> $SIGNALS OR count(*) <> $SIGNALS) x"
	local want="$((n * SIGNALS)) $((n * SIGNALS))"
	for _ in $(seq 1 600); do [ "$(q "$aq")" = "$want" ] && break; sleep 0.1; done
	[ "$(q "$aq")" = "$want" ] && [ "$(q "$bq")" = 0 ] && ok ||
		bad "archive of masters $1..$2: $(q "$aq") (rows, distinct; want $want), not 1..$SIGNALS: $(q "$bq")"
}
# p50 and max of the RTOs (ms) of a failover log's lines from FROM-prefix, since T0 (ns)
# (lines of failovers whose session was lost at T0 or later: a master may also have moved
# earlier, on an ACK timeout of a loaded machine, which is not the failover measured)
rto_of() { # LOG FROM-PREFIX T0 -> "p50 max count"
	awk -v k="$3" -v f="$2" 'index($2, f) == 1 && $4 >= k {print ($5 - k) / 1e6}' "$1" | sort -n |
		awk '{a[NR] = $1} END {if (NR) printf "%.1f %.1f %d", a[int((NR + 1) / 2)], a[NR], NR; else print "- 9999 0"}'
}
# GET /v1/masters/activity: "connected edge since" of master M as the api shows it
api_conn() { # M
	curl -s -m 5 -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$APIPORT/v1/masters/activity" |
		jq -r --argjson m "$1" '.masters[] | select(.id == $m) | "\(.connected) \(.edge) \(.connected_since != null)"'
}
sess() { rc_of "$R" HGET "decp:{m$1}:session" edge 2>/dev/null; } # MASTER: the edge holding it
on_edge() { # EDGE FIRST LAST: the masters of FIRST..LAST whose claim EDGE holds
	local i
	for i in $(seq "$2" "$3"); do [ "$(sess "$i")" = "$1" ] && echo "$i"; done
}
moved_to() { # EDGE MASTER...: waits (10 s at most) until EDGE holds every one's claim; prints
	local edge=$1 n i     # how many it holds
	shift
	for _ in $(seq 1 200); do
		n=0
		for i in "$@"; do [ "$(sess "$i")" = "$edge" ] && n=$((n + 1)); done
		[ "$n" = $# ] && break
		sleep 0.05
	done
	echo "$n"
}
diag() { # SHM: the dataplane's login-related counters, for a failure message
	local c out=
	for c in logins login_confirms login_confirm_stale not_ready hello_timeout replaced \
		preauth_src_refused preauth_evicted conn_refused idle_timeout; do
		out="$out $c=$(counter "$1" $c)"
	done
	echo "${1##*-ha-}:$out"
}
counter() { # shm name: a dataplane counter over its workers
	"$D" top --shm "$1" --once --json 2>/dev/null | grep -o "\"$2\":[0-9]*" | head -1 | cut -d: -f2
}

# (`ip netns exec` execs decp-master: $! is its own pid, which SIGTERM drains)

# --- 1. master 99 logged in on both edges at once
ip netns exec "$NSC" "$MASTER" --connect "$A" --master-base 99 --signals 100000 --rate 100 --key-seed edges \
	--ack-timeout-ms 2000 --time-limit-s 60 >"$T/twin-a.log" 2>&1 &
M3=$!
for _ in $(seq 1 200); do [ "$(sess 99)" = edge-a ] && break; sleep 0.05; done
[ "$(sess 99)" = edge-a ] && ok || bad "master 99's claim on edge A: '$(sess 99)'"
ip netns exec "$NSC" "$MASTER" --connect "$B" --master-base 99 --signals 100000 --rate 100 --key-seed edges \
	--ack-timeout-ms 2000 --time-limit-s 60 >"$T/twin-b.log" 2>&1 &
M4=$!
# They replace each other until one gives up (exit 3 after 10 takeovers); then the other
# is stopped (drain: exit 0).
gone=
for _ in $(seq 1 1200); do
	kill -0 "$M3" 2>/dev/null || { gone=a; break; }
	kill -0 "$M4" 2>/dev/null || { gone=b; break; }
	sleep 0.05
done
if [ "$gone" = a ]; then wait "$M3"; rc_gone=$?; M3=; other=$M4; else wait "$M4"; rc_gone=$?; M4=; other=$M3; fi
[ -n "$gone" ] && [ "$rc_gone" = 3 ] && grep -q "another instance" "$T/twin-$gone.log" && ok ||
	bad "twin logins: one instance should give up (exit 3, another instance): gone=$gone rc=$rc_gone $(tail -2 "$T/twin-$gone.log")"
grep -q "taken over from edge edge-" "$T/edge-a.log" "$T/edge-b.log" && ok ||
	bad "no edge logged a takeover from the other edge"
grep -q "a newer login elsewhere took its session" "$T/edge-a.log" "$T/edge-b.log" && ok ||
	bad "no edge closed its session after the other took the claim"
rep_a=$(counter "$SHMA" replaced) rep_b=$(counter "$SHMB" replaced)
[ "${rep_a:-0}" -gt 0 ] && [ "${rep_b:-0}" -gt 0 ] && ok ||
	bad "both dataplanes closed sessions as replaced (A $rep_a, B $rep_b)"
kill -TERM "$other"; wait "$other"; rc_other=$?; M3= M4=
[ "$rc_other" = 0 ] && ok || bad "the remaining instance: exit $rc_other (0: what it sent was ACKed)"
last99=$(last_seq "$R" 99)
[ -n "$last99" ] && [ "$(rc_of "$R" XLEN "decp:{m99}:signals")" = "$last99" ] && ok ||
	bad "master 99's stream after the twins: XLEN $(rc_of "$R" XLEN "decp:{m99}:signals"), last $last99"

# --- 2. 16 masters, 8 on each edge first; dataplane A killed -9 mid-stream
half=$((MASTERS / 2))
# a kill resets the masters' connections: their ACK timeout is not what moves them here
# (1 s: few spurious failovers on a loaded machine); the frozen case (3) relies on it (300 ms)
common=(--signals $SIGNALS --key-seed edges --connect-timeout-ms 300 --reconnect-ms 20
	--time-limit-s 200 --window 64)
ip netns exec "$NSC" "$MASTER" --connect "$A,$B" --masters $half --master-base 1 --rate $((RATE / 2)) \
	"${common[@]}" --ack-timeout-ms 1000 --failover-log "$T/fo1" --acked-file "$T/acked1" >"$T/m1.log" 2>&1 &
M1=$!
ip netns exec "$NSC" "$MASTER" --connect "$B,$A" --masters $half --master-base $((half + 1)) --rate $((RATE / 2)) \
	"${common[@]}" --ack-timeout-ms 1000 --failover-log "$T/fo2" --acked-file "$T/acked2" >"$T/m2.log" 2>&1 &
M2=$!
# master 98 knows only endpoint A: when A dies it has nowhere to go, and its claim must be
# released by edge A (dataplane gone), not left "connected"
ip netns exec "$NSC" "$MASTER" --connect "$A" --master-base 98 --signals 100000 --rate 50 \
	--key-seed edges --ack-timeout-ms 300 --time-limit-s 200 >"$T/m98.log" 2>&1 &
M5=$!
for _ in $(seq 1 600); do
	[ "$(last_seq "$R" 1)" -ge 1000 ] 2>/dev/null && break
	sleep 0.05
done
for _ in $(seq 1 100); do [ "$(sess 98)" = edge-a ] && break; sleep 0.05; done
# the masters on A now (all of A's, unless a loaded machine made one time out and move)
onA=$(on_edge edge-a 1 $MASTERS)
nA=$(echo $onA | wc -w)
first=$(echo $onA | cut -d' ' -f1)
[ "$nA" -ge $((half / 2)) ] && [ "$(sess 98)" = edge-a ] && ok ||
	bad "claims before the kill: $nA masters on edge A ($onA; want most of 1..$half), 98 on '$(sess 98)'; $(diag "$SHMA"); $(diag "$SHMB")"
before=$(last_seq "$R" "${first:-1}")
t_kill=$(date +%s%N)
DPA_DEAD=$DPA
kill -KILL "$DPA"; wait "$DPA" 2>/dev/null; DPA=
# every master that was on A logs in on B
n=$(moved_to edge-b $onA)
[ "$n" = "$nA" ] && ok || bad "after the kill only $n of the $nA masters on A hold a claim on edge B"
for _ in $(seq 1 100); do [ -z "$(sess 98)" ] && break; sleep 0.05; done
t_rel=$(( ($(date +%s%N) - t_kill) / 1000000 ))
[ -z "$(sess 98)" ] && grep -q "dataplane gone: 1 live session claim(s) released" "$T/edge-a.log" && ok ||
	bad "master 98's claim (on A only) after the kill: '$(sess 98)'; edge A: $(grep -i 'gone\|re-attach' "$T/edge-a.log" | tail -2)"
kill -KILL "$M5"; wait "$M5" 2>/dev/null; M5=
[ "$(api_conn "${first:-1}")" = "true edge-b true" ] && [ "$(api_conn 98)" = "false null false" ] && ok ||
	bad "api after the failover: master $first '$(api_conn "${first:-1}")' (want true edge-b true), 98 '$(api_conn 98)' (want false null false)"
[ "$(last_seq "$R" "${first:-1}")" -gt "$before" ] 2>/dev/null && ok ||
	bad "master $first's stream did not continue after the kill ($before -> $(last_seq "$R" "${first:-1}"))"

wait "$M1"; rc1=$?; M1=
wait "$M2"; rc2=$?; M2=
[ $rc1 = 0 ] && [ $rc2 = 0 ] && ok ||
	bad "decp-master exits $rc1 $rc2 (0: every signal ACKed): $(tail -1 "$T/m1.log") $(tail -1 "$T/m2.log")"
# RTO per master that was on A: its HelloAck on B after the kill
read -r p50 max cnt <<<"$(rto_of <(cat "$T/fo1" "$T/fo2" 2>/dev/null) 10.88.1.1: "$t_kill")"
[ "$cnt" = "$nA" ] && ok || bad "failovers from A after the kill: $cnt, want $nA (each master that was on A, once)"
awk -v m="$max" 'BEGIN {exit !(m + 0 < 1000)}' && ok ||
	bad "RTO max ${max} ms: a master of A took 1 s or more to log in on B"

acked=$(cat "$T/acked1" "$T/acked2" 2>/dev/null | awk '{n += $3 - $2 + 1} END {print n + 0}')
[ "$acked" = $((MASTERS * SIGNALS)) ] && ok || bad "ACKed $acked of $((MASTERS * SIGNALS))"
exactly_once 1 $MASTERS
grep -q "a newer login elsewhere took its session" "$T/edge-a.log" && ok ||
	bad "edge A never saw its masters' claims taken by edge B"

# --- 3. dataplane A back; B frozen (a hung host) while 8 masters stream through it
start_dp "$NSA" "$A" "$SHMA" "$T/dpa2.log"; DPA=$!
for _ in $(seq 1 600); do ready "$SHMA" && break; sleep 0.05; done
ready "$SHMA" && ok || bad "edge A did not make the restarted dataplane ready: $(tail -2 "$T/edge-a.log")"
# the killed dataplane's segment stays in /dev/shm until the next one replaces it: edge A
# must not attach it again (each try waited 5 s for a READY nobody applied, so a restarted
# dataplane waited up to 5 s for its edge)
n=$(grep -c "attached dataplane segment /$SHMA (.*pid $DPA_DEAD)" "$T/edge-a.log")
[ "$n" = 1 ] && ok || bad "edge A attached the segment of its killed dataplane (pid $DPA_DEAD) $n times, want 1 (before the kill)"
nh=$((HUNG_LAST - HUNG_FIRST + 1))
ip netns exec "$NSC" "$MASTER" --connect "$B,$A" --masters $nh --master-base $HUNG_FIRST \
	--rate $((RATE / 2)) "${common[@]}" --ack-timeout-ms 300 --failover-log "$T/fo3" --acked-file "$T/acked3" \
	>"$T/m3.log" 2>&1 &
M1=$!
for _ in $(seq 1 600); do
	[ "$(last_seq "$R" $HUNG_LAST)" -ge 1000 ] 2>/dev/null && break
	sleep 0.05
done
onB=$(on_edge edge-b $HUNG_FIRST $HUNG_LAST)
nB=$(echo $onB | wc -w)
[ "$nB" -ge $((nh / 2)) ] && ok || bad "before the freeze only $nB of $nh masters on edge B ($(echo $onB)); $(diag "$SHMA"); $(diag "$SHMB")"
t_stop=$(date +%s%N)
kill -STOP "$DPB"
n=$(moved_to edge-a $onB)
[ "$n" = "$nB" ] && ok || bad "with B frozen only $n of the $nB masters on B hold a claim on edge A"
kill -CONT "$DPB"
wait "$M1"; rc3=$?; M1=
[ $rc3 = 0 ] && ok || bad "decp-master (hung case): exit $rc3: $(tail -1 "$T/m3.log")"
read -r h50 hmax hcnt <<<"$(rto_of "$T/fo3" 10.88.2.1: "$t_stop")"
[ "$hcnt" = "$nB" ] && ok || bad "hung case: $hcnt failovers from B after the freeze, want $nB"
awk -v m="$hmax" 'BEGIN {exit !(m + 0 < 1000)}' && ok ||
	bad "hung case: RTO max ${hmax} ms (ACK timeout 300 ms + login on A): 1 s or more"
acked=$(awk '{n += $3 - $2 + 1} END {print n + 0}' "$T/acked3" 2>/dev/null)
[ "$acked" = $((nh * SIGNALS)) ] && ok || bad "hung case: ACKed $acked of $((nh * SIGNALS))"
exactly_once $HUNG_FIRST $HUNG_LAST
# the masters logged out: no claim left (LOGOUT on B; A's were released by edge A when its
# dataplane died, or expired)
for _ in $(seq 1 100); do
	left=0
	for i in $(seq 1 $MASTERS) $(seq $HUNG_FIRST $HUNG_LAST) 97 98 99; do [ -n "$(sess "$i")" ] && left=$((left + 1)); done
	[ $left = 0 ] && break
	sleep 0.05
done
[ $left = 0 ] && ok || bad "$left session claim(s) left in Redis after every master left"

# --- 4. edge B and dataplane B die together: master 97's claim expires
ip netns exec "$NSC" "$MASTER" --connect "$B" --master-base 97 --signals 100000 --rate 50 \
	--key-seed edges --ack-timeout-ms 300 --time-limit-s 100 >"$T/m97.log" 2>&1 &
M6=$!
for _ in $(seq 1 200); do [ "$(sess 97)" = edge-b ] && break; sleep 0.05; done
[ "$(sess 97)" = edge-b ] && ok || bad "master 97's claim on edge B: '$(sess 97)'"
t_both=$(date +%s%N)
kill -KILL "$CPB" "$DPB"; wait "$CPB" "$DPB" 2>/dev/null; CPB= DPB=
for _ in $(seq 1 200); do [ -z "$(sess 97)" ] && break; sleep 0.05; done
t_exp=$(( ($(date +%s%N) - t_both) / 1000000 ))
[ -z "$(sess 97)" ] && [ $t_exp -ge 2000 ] && ok ||
	bad "master 97's claim after edge B and its dataplane died: '$(sess 97)' after $t_exp ms (want gone, by expiry: 2-10 s)"
kill -KILL "$M6"; wait "$M6" 2>/dev/null; M6=

kill -TERM "$CPA" "$CPR" "$CPI" "$DPA" 2>/dev/null
wait "$CPA" "$CPR" "$CPI" "$DPA" 2>/dev/null
CPA= CPR= CPI= DPA=
rootns_guard_report && ok || bad "a private address appeared in the root namespace"
echo "edge failover: $nA masters moved from a dataplane killed -9 to the other edge at $((RATE)) signals/s over $MASTERS masters; RTO (kill -> HelloAck on the other edge) p50 ${p50} ms, max ${max} ms; claim of a master with nowhere to go released after ${t_rel} ms; a hung dataplane (SIGSTOP, ACK timeout 300 ms): $nB masters moved, RTO p50 ${h50} ms, max ${hmax} ms; an edge dead with its dataplane: its master's claim expired after ${t_exp} ms"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
