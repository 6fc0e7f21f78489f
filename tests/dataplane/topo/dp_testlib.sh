# dp_testlib.sh: helpers shared by the DPDK end-to-end test scripts (source from bash).
#   ok/bad/check  count a result (check WHAT CMD...: runs CMD, PASS when it succeeds)
#   stop_pid PID  SIGTERM, SIGKILL after 5 s; returns the process's exit status
#   wait_file PATH SECS    0 once PATH exists, 1 after SECS
#   check_log FILE M N     the durable log holds masters 1..M with sequences 1..N each, in
#                          order, nothing else
#   dump          tail of every *.err / *.out in $DIR (after a failure)
passed=0 failed=0
ok()   { passed=$((passed + 1)); echo "PASS: $*"; }
bad()  { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	# 20 s: a sanitizer build's exit (EAL cleanup, leak check) on a loaded 2-core machine
	# can take several seconds; SIGKILL after that fails the "exit 0" checks.
	for i in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

wait_file() {
	local i
	for i in $(seq $(( $2 * 10 ))); do [ -f "$1" ] && return 0; sleep 0.1; done
	return 1
}

check_log() {
	awk -v M="$2" -v N="$3" '
		{ if ($1 < 1 || $1 > M || $2 != last[$1] + 1) { bad = 1 } ; last[$1] = $2 }
		END { for (m = 1; m <= M; m++) if (last[m] != N) bad = 1; exit bad }' "$1"
}

dump() {
	local f
	for f in "$DIR"/*.err "$DIR"/*.out; do
		[ -f "$f" ] || continue
		echo "---- $f"; tail -n 40 "$f"
	done
}
