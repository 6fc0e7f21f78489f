#!/usr/bin/env bash
# perf/lab's own check: --help, a refused option, and its fast steps (proto, guard) write a
# report with their sections into a directory of the test's own. Usage: test_lab.sh BUILD
set -u
B=$1
cd "$(dirname "$0")/.."
O=$(mktemp -d /tmp/decp-lab-test.XXXXXX)
trap 'rm -rf "$O"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
perf/lab --help | grep -q "perf/lab \[--quick\]" && ok || bad "--help"
perf/lab --frob >/dev/null 2>&1; [ $? = 2 ] && ok || bad "unknown option not refused"
perf/lab --only nothing >/dev/null 2>&1; [ $? = 2 ] && ok || bad "unknown step not refused"
out=$(perf/lab --quick --build "$B" --out "$O" --only proto,guard 2>&1); rc=$?
[ $rc = 0 ] && ok || bad "lab proto,guard: $rc $out"
echo "$out" | grep -q "^perf/lab \[2/2\] guard    done in" && ok || bad "progress lines: $out"
grep -q "^# decp perf lab report" "$O/report.md" && grep -q "^## proto" "$O/report.md" &&
	grep -q "^## guard" "$O/report.md" && ok || bad "report: $(head -20 "$O/report.md")"
[ -s "$O/raw/proto.txt" ] && ok || bad "raw output kept"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
