#!/bin/sh
# decp-migrate command line against a real PostgreSQL (run under decp-testenv,
# which provides $DECP_PG_CONNINFO). Usage: test_decp_migrate_cli.sh DECP_MIGRATE
# Prints "N passed, N failed" last.
M="$1"
pass=0
fail=0
check() { # name, expected exit status, command...
	name=$1; want=$2; shift 2
	out=$("$@" 2>&1); got=$?
	if [ "$got" -eq "$want" ]; then pass=$((pass + 1)); else
		fail=$((fail + 1)); echo "FAIL $name: exit $got, want $want: $out"; fi
}
check_out() { # name, pattern, command...
	name=$1; pat=$2; shift 2
	if "$@" 2>&1 | grep -q -- "$pat"; then pass=$((pass + 1)); else
		fail=$((fail + 1)); echo "FAIL $name: output lacks '$pat'"; fi
}
[ -n "$M" ] && [ -n "$DECP_PG_CONNINFO" ] || { echo "usage: run under decp-testenv --pg"; echo "0 passed, 1 failed"; exit 1; }

check help 0 "$M" --help
check_out help_text "Usage: decp-migrate" "$M" --help
check bad_option 2 "$M" --bogus
check extra_arg 2 "$M" stray
check list 0 "$M" --list
check_out list_0001 "^0001 0001_core [0-9a-f]\{64\}$" "$M" --list
check bad_conninfo 1 "$M" --conninfo "host=127.0.0.1 port=1 connect_timeout=2"
check missing_dir 1 "$M" --dir /nonexistent/decp
check_out first_run "applied [1-9][0-9]* migration(s), 0 already" "$M"
check_out second_run "applied 0 migration(s)" "$M" --conninfo "$DECP_PG_CONNINFO"
check no_conninfo 2 env -u DECP_PG_CONNINFO "$M"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
