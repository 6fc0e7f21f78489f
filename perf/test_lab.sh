#!/usr/bin/env bash
# perf/lab's own check: --help, a refused option, and its fast steps (proto, guard, api)
# write a report with their sections, each a block of its own lines, and the goals table
# with the api's goal judged, into a directory of the test's own. Usage: test_lab.sh BUILD
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
perf/lab --only , >/dev/null 2>&1; [ $? = 2 ] && ok || bad "an empty step list not refused"
perf/lab --only >/dev/null 2>&1; [ $? = 2 ] && ok || bad "--only without a value: not exit 2"
out=$(perf/lab --quick --build "$B" --out "$O" --only proto,guard,api 2>&1); rc=$?
[ $rc = 0 ] && ok || bad "lab proto,guard,api: $rc $out"
echo "$out" | grep -q "^perf/lab \[3/3\] api      done in" && ok || bad "progress lines: $out"
grep -q "^# decp perf lab report" "$O/report.md" && grep -qx '## proto (`'"$B"'/perf/bench_proto`)' \
	"$O/report.md" && grep -q "^## guard" "$O/report.md" && grep -q '^```$' "$O/report.md" &&
	ok || bad "report (sections and code blocks on lines of their own): $(head -20 "$O/report.md")"
goal_row() { grep -Eq "^\| API p99 < 1 ms at 8 connections: $1 \| [0-9.]+ ms \| (\*\*met\*\*|not met) \|" \
	"$O/report.md"; }
grep -q "^## Goals" "$O/report.md" && goal_row POST && goal_row GET && ok ||
	bad "goals table (a row for POST and for GET): $(grep -A4 '^## Goals' "$O/report.md")"
[ -s "$O/raw/proto.txt" ] && ok || bad "raw output kept"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
