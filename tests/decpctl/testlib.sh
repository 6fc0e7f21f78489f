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
free_port() { # a TCP port nothing listens on (loopback), or fails
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 30000))
		ss -ltnH "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}
