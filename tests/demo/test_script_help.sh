#!/bin/sh
# test_script_help: `tools/test --help` and `tools/demo --help` print their help and exit 0,
# and an unknown option is exit 2, before anything is installed or built. Runs a copy of
# each script beside a stub tools/bootstrap that records being called, so that a script
# that went on would only touch the copy. Usage: test_script_help.sh SOURCE_ROOT
SRC=$1
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/tools"
cp "$SRC/tools/test" "$SRC/tools/demo" "$T/tools/"
printf '#!/bin/sh\necho called >"%s/bootstrap-called"\nexit 1\n' "$T" >"$T/tools/bootstrap"
chmod +x "$T/tools/test" "$T/tools/demo" "$T/tools/bootstrap"
fail=0
for s in test demo; do
	timeout 20 "$T/tools/$s" --help >"$T/out" 2>&1
	rc=$?
	if [ $rc -ne 0 ] || ! grep -q "tools/$s\|demo" "$T/out"; then
		echo "FAIL tools/$s --help: exit $rc"; head -3 "$T/out"; fail=1
	fi
	timeout 20 "$T/tools/$s" --no-such-option >"$T/out" 2>&1
	rc=$?
	if [ $rc -ne 2 ] || ! grep -q "unknown option '--no-such-option'" "$T/out"; then
		echo "FAIL tools/$s --no-such-option: exit $rc (want 2)"; head -3 "$T/out"; fail=1
	fi
done
# the demo's numbers: named with their range, exit 2 (a missing value was a bash message,
# exit 1; '--duration 90000' made the subscribers' --timeout out of their range)
for args in "--duration" "--duration 0" "--duration 90000" "--rate 10x" "--subscribers 201"; do
	# shellcheck disable=SC2086 # the words of args are the options
	timeout 20 "$T/tools/demo" $args >"$T/out" 2>&1
	rc=$?
	set -- $args
	if [ $rc -ne 2 ] || ! grep -q "^demo: $1 " "$T/out"; then
		echo "FAIL tools/demo $args: exit $rc (want 2, $1 named)"; head -3 "$T/out"; fail=1
	fi
done
if [ -e "$T/bootstrap-called" ]; then
	echo "FAIL a script ran tools/bootstrap for --help or a bad option"; fail=1
fi
[ $fail -eq 0 ] && echo "ok: --help exit 0, unknown option exit 2, nothing bootstrapped"
exit $fail
