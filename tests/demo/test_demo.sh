#!/usr/bin/env bash
# test_demo.sh: the README's first command, unattended for 60 s (issue 10 acceptance). Run
# under decp-testenv --redis-aof --pg: the demo uses those servers (--use-env), so this test
# can read the database after the demo stopped. Checks:
#   - decpctl top --json counters move while the demo runs;
#   - signals flowed end to end: every master's Redis stream and archive hold the same,
#     non-zero count, and honest subscribers executed their master's signals;
#   - one protection event of each injected kind was recorded: TTL_EXPIRED (skewed clock,
#     no time sync), PRICE_DEVIATION (lagging quotes), INVALID_SIGNATURE (the forger);
#   - the forger's subscription was auto-paused (PAUSED_TOXIC), an honest one was not;
#     the auto-pause is an open alert in the feed and the summary lists it;
#   - the demo exits 0 and leaves nothing running: no process, segment, tap, namespace,
#     DPDK dir or hugepage file; the root namespace never carried a private address (the demo's test network
#     lives in its own namespace; tests/harness/rootns_guard.sh).
#
# usage: test_demo.sh SOURCE_ROOT BUILD_ROOT     Prints "N passed, N failed".
set -u
SRC=$1 BLD=$2
SHM=decp-demotest-$$
LOG=$(mktemp /tmp/decp-demo-test.XXXXXX)
DECPCTL=$BLD/tools/decpctl/decpctl
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
q() { psql -X -q -t -A -d "$DECP_PG_CONNINFO" -c "$1"; }
demo_pid=
cleanup() {
	[ -n "$demo_pid" ] && kill -TERM "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null
	rm -f "$LOG"
}
trap cleanup EXIT
. "$SRC/tests/harness/rootns_guard.sh"
rootns_guard_start

[ -n "${DECP_PG_CONNINFO:-}" ] || { echo "run under decp-testenv --redis-aof --pg"; exit 2; }
"$SRC/tools/demo" --build "$BLD" --use-env --shm "$SHM" --duration 60 >"$LOG" 2>&1 &
demo_pid=$!

# Counters move while it runs: two samples of the dataplane's total enqueued signals.
sample() { "$DECPCTL" top --shm "$SHM" --once --json 2>/dev/null |
	/usr/bin/python3 -c 'import json,sys; t=json.loads(sys.stdin.readline())["total"]; print(t["counters"]["signals_enqueued"], t["signals_per_s"])' 2>/dev/null; }
for _ in $(seq 240); do s1=$(sample) && [ -n "$s1" ] && [ "${s1%% *}" -gt 0 ] && break; sleep 0.5; done
for _ in $(seq 120); do
	s2=$(sample)
	[ -n "${s1:-}" ] && [ -n "$s2" ] && [ "${s2%% *}" -gt "${s1%% *}" ] && break
	sleep 0.5
done
echo "decpctl top --json: '${s1:-none}' then '${s2:-none}' (signals, signals/s)"
check "decpctl top --json: the signal counter moves while the demo runs" \
	test -n "${s1:-}" -a -n "${s2:-}" -a "${s2%% *}" -gt "${s1%% *}" 2>/dev/null

# The api role's /metrics (URL from the demo's "API while it runs" line) while it runs.
# HTTPS: the demo's line names its CA (curl --cacert FILE ...)
api=$(sed -n "s/.*Bearer [0-9a-f]*' \(https:[^ ]*\)\/v1\/subscriptions.*/\1/p" "$LOG" | head -1)
ca=$(sed -n "s/.*API while it runs: curl --cacert \([^ ]*\) .*/\1/p" "$LOG" | head -1)
m=$(curl -s --max-time 5 --cacert "$ca" "$api/metrics" 2>/dev/null)
check "/metrics ($api) has the ingest counter" grep -q '^decp_ingest_signals_enqueued_total [1-9]' <<<"$m"
check "/metrics has the fan-out's delivered counter" grep -q '^decp_fanout_delivered_total [1-9]' <<<"$m"
# The console's one-time sign-in link (docs/console.md): the page trades its code once for
# a session cookie; the operator's session then sees the subscriptions.
link=$(sed -n 's/.*Console while it runs: \(https:[^ ]*#code=[0-9a-f]*\) .*/\1/p' "$LOG" | head -1)
code=${link##*#code=}
jar=$(mktemp)
st=$(curl -s --max-time 5 --cacert "$ca" -c "$jar" -o /dev/null -w '%{http_code}' \
	-H 'Content-Type: application/json' -H 'X-Decp-Console: 1' -d "{\"code\":\"$code\"}" "${link%%/console/*}/v1/console/session")
subs=$(curl -s --max-time 5 --cacert "$ca" -b "$jar" "${link%%/console/*}/v1/subscriptions")
rm -f "$jar"
check "the demo's console link ($link) signs the operator in ($st)" test "$st" = 201
check "the console session sees the subscriptions" grep -q '"subscriptions":\[{' <<<"$subs"

wait "$demo_pid"; rc=$?; demo_pid=
check "demo exits 0 (got $rc)" test "$rc" = 0
grep -E "demo:|FAIL|error" "$LOG" | tail -40

# End to end: stream = archive, non-zero, per master; honest subscribers executed.
masters=$(q "SELECT count(*) FROM masters")
check "3 masters registered" test "$masters" = 3
for m in $(seq "$masters"); do
	xl=$(redis-cli -h "$DECP_REDIS_HOST" -p "$DECP_REDIS_PORT" XLEN "decp:{m$m}:signals")
	ar=$(q "SELECT count(*) FROM signal_archive WHERE master_id = $m")
	check "master $m: $xl signals in Redis, $ar archived" test "${xl:-0}" -gt 100 -a "${xl:-0}" = "$ar"
done
honest_min=$(q "SELECT min(s.last_sequence_id) FROM subscriptions s JOIN subscribers n ON n.id = s.subscriber_id WHERE n.name LIKE 'honest-%'")
check "every honest subscriber executed up to its master's last signal ($honest_min)" \
	test "${honest_min:-0}" -gt 100
ev() { q "SELECT count(*) FROM protection_logs p JOIN subscriptions s ON s.id = p.subscription_id
	  JOIN subscribers n ON n.id = s.subscriber_id WHERE n.name = '$1' AND p.reason = '$2'"; }
for kind in "skewed-no-sync TTL_EXPIRED" "lagging-quotes PRICE_DEVIATION" "forger INVALID_SIGNATURE"; do
	set -- $kind
	n=$(ev "$1" "$2")
	check "$1: $2 protection events recorded ($n)" test "${n:-0}" -ge 1
done
n=$(q "SELECT count(*) FROM protection_logs p JOIN subscriptions s ON s.id = p.subscription_id
       JOIN subscribers n ON n.id = s.subscriber_id WHERE n.name IN ('honest-1', 'skewed-synced')")
check "honest-1 and skewed-synced (time sync corrects the clock) report no incidents ($n)" test "$n" = 0
st() { q "SELECT s.state FROM subscriptions s JOIN subscribers n ON n.id = s.subscriber_id WHERE n.name = '$1'"; }
check "the forger was auto-paused ($(st forger))" test "$(st forger)" = PAUSED_TOXIC
check "honest-1 stays SYNCED ($(st honest-1))" test "$(st honest-1)" = SYNCED
# Issue 27: the forger's auto-pause is an open alert in the feed, and the summary lists it.
n=$(q "SELECT count(*) FROM alerts a JOIN subscriptions s ON s.id = a.subscription_id
       JOIN subscribers n ON n.id = s.subscriber_id WHERE n.name = 'forger'
       AND a.kind = 'auto_pause' AND a.acknowledged_at IS NULL")
check "the forger's auto-pause is an open alert ($n)" test "${n:-0}" = 1
check "the summary lists the alerts" grep -Eq '^ +auto_pause +x1 +auto-pause: subscription' "$LOG"
# Issue 26 item 3: the summary shows master -> subscriber latency and its histogram.
check "the summary has the master -> guard verdict percentiles" \
	grep -Eq '^ +master send -> guard verdict \(us\): n [1-9][0-9]* p50 [0-9]+ p99 [0-9]+ p99\.9 [0-9]+' "$LOG"
check "the summary has the latency histogram (11 buckets)" \
	test "$(grep -Ec '^ +[0-9]+\.[0-9]+ (- +[0-9]+\.[0-9]+ ms|ms and more) +[0-9]+\.[0-9]+%' "$LOG")" = 11

# Nothing left running.
left=$(pgrep -af "decp-(dataplane|control|master|subscriber)" | grep -F -e "$SHM" -e "/tmp/decp-demo." || true)
check "no demo process left running" test -z "$left"
check "shared-memory segment removed" test ! -e "/dev/shm/$SHM"
check "DPDK runtime directory removed" test ! -e "/var/run/dpdk/$SHM"
# The DPDK dataplane's hugepage files (EAL's file prefix is the demo's shm name): EAL keeps
# them after the process ends unless told --huge-unlink, and with them the pages (256 MiB a
# run, since each run's prefix is new).
huge_left=$(awk '$3 == "hugetlbfs" {print $2}' /proc/mounts | while read -r d; do
	ls "$d" 2>/dev/null | grep -F "$SHM" || true; done)
check "no hugepage file of the demo left (${huge_left:-none})" test -z "$huge_left"
check "tap interface and namespace removed" \
	bash -c '! ip -o link show | grep -q " dd[0-9]*:" && ! ip netns list | grep -q "^decpdemo"'
check "root namespace: no private address added during the demo" rootns_guard_report

[ "$failed" = 0 ] || tail -60 "$LOG"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
