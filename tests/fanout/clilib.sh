# clilib.sh: the option tests' shared check (test_subscriber_cli.sh, test_fanout_cli.sh).
# The script sets T (a temporary directory) and defines run_cli ARGS... (the program with
# its fixed arguments), then: expect NAME WANT_EXIT WANT_TEXT ARGS... runs run_cli ARGS and
# wants that exit status and WANT_TEXT in its output; $fail is 1 after a failed expect.
fail=0
expect() {
	name=$1 want=$2 text=$3
	shift 3
	run_cli "$@" >"$T/out" 2>&1
	rc=$?
	if [ "$rc" != "$want" ] || ! grep -qF -- "$text" "$T/out"; then
		echo "FAIL $name: exit $rc (want $want), output:"
		head -3 "$T/out"
		fail=1
	else
		echo "ok $name"
	fi
}
