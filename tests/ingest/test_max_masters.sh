#!/usr/bin/env bash
# ingest_max_masters: a master beyond the dataplane's --max-masters is refused loudly.
#   test_max_masters.sh DECP_DATAPLANE DECP_TESTCONSUMER DECP_MASTER DECPCTL
#
# docs/ingest.md (LoginProof: the master has a slot in the dataplane's tables) and
# docs/decpctl.md (top: "its table commands refused"). decp-dataplane --stack posix
# --max-masters 2; decp-testconsumer loads the credentials of masters 1..3. Masters 1 and 2
# log in and are ACKed; master 3's login is refused BAD_TOKEN (its commands found no slot).
# Before the fix nothing said why: the refused commands were counted in a header field no
# tool read, and the dataplane logged nothing. Now the dataplane logs the refusal naming
# master 3 and `decpctl top --json` shows control.commands_refused > 0.
set -u
DP=$1 CONS=$2 MASTER=$3 CTL=$4
DIR=$(mktemp -d /tmp/decp-maxm.XXXXXX)
SHM=decp-maxm-$$
PIDS=()
fail=0
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -f "/dev/shm/$SHM"
	rm -rf "$DIR"
}
trap cleanup EXIT
check() { # WHAT CONDITION-STATUS
	if [ "$2" = 0 ]; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi
}
wait_file() { local _; for _ in $(seq 300); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }

"$DP" --stack posix --tls off --listen 127.0.0.1:0 --shm "$SHM" --port-file "$DIR/port" \
	--max-masters 2 >"$DIR/dp.out" 2>"$DIR/dp.err" &
PIDS+=("$!")
wait_file "$DIR/port" || { echo "FAIL: the dataplane did not start"; cat "$DIR/dp.err"; exit 1; }
"$CONS" --shm "$SHM" --masters 3 --out "$DIR/durable.log" --ready-file "$DIR/cons.ready" \
	>"$DIR/cons.out" 2>"$DIR/cons.err" &
PIDS+=("$!")
for _ in $(seq 300); do [ -e "$DIR/cons.ready" ] && break; sleep 0.1; done
check "decp-testconsumer ready" "$([ -e "$DIR/cons.ready" ]; echo $?)"
PORT=$(cat "$DIR/port")

"$MASTER" --connect "127.0.0.1:$PORT" --masters 2 --signals 20 --fake-ed25519 \
	--time-limit-s 60 >"$DIR/m12.out" 2>"$DIR/m12.err"
check "masters 1 and 2 (within --max-masters 2): every signal ACKed: $(cat "$DIR/m12.out")" \
	"$(grep -q 'acked=40 ' "$DIR/m12.out"; echo $?)"
"$MASTER" --connect "127.0.0.1:$PORT" --masters 1 --master-base 3 --signals 5 --fake-ed25519 \
	--time-limit-s 10 >"$DIR/m3.out" 2>"$DIR/m3.err"
rc=$?
check "master 3 (beyond it) refused, nothing ACKed (exit $rc): $(cat "$DIR/m3.out")" \
	"$([ "$rc" != 0 ] && ! grep -q 'acked=[1-9]' "$DIR/m3.out"; echo $?)"
check "the dataplane said why: $(grep 'table command' "$DIR/dp.err" | head -1)" \
	"$(grep -q 'refused, the first for master 3: no master slot left (--max-masters' \
		"$DIR/dp.err"; echo $?)"
"$CTL" top --shm "$SHM" --once --json --interval 0.05 >"$DIR/top.json"
refused=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["control"]["commands_refused"])' "$DIR/top.json")
applied=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["control"]["commands_applied"])' "$DIR/top.json")
check "decpctl top --json: control.commands_refused $refused > 0, commands_applied $applied > 0" \
	"$([ "${refused:-0}" -gt 0 ] && [ "${applied:-0}" -gt 0 ]; echo $?)"
"$CTL" top --shm "$SHM" --once --interval 0.05 >"$DIR/top.txt"
check "decpctl top: $(grep -o 'its table commands refused [0-9]*' "$DIR/top.txt")" \
	"$(grep -q "its table commands refused $refused" "$DIR/top.txt"; echo $?)"
[ "$fail" = 0 ] || { echo "--- dataplane stderr"; tail -20 "$DIR/dp.err"; }
exit "$fail"
