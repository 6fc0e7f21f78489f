#!/bin/sh
# decpctl disk: the AOF disk check (write + fdatasync latency against the ACK target) on
# a directory of its own. Usage: test_decpctl_disk.sh DECPCTL. Prints "N passed, N failed".
D="$1"
. "$(dirname "$0")/testlib.sh"
[ -x "$D" ] || { echo "usage: test_decpctl_disk.sh DECPCTL"; echo "0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d "${DECP_TEST_TMPDIR:-/tmp}/decpctl-disk.XXXXXX") || exit 1
# a disk, not memory (decpctl disk refuses tmpfs: below): where /tmp is a tmpfs, the build dir
if [ "$(stat -f -c %T "$tmp")" = tmpfs ]; then
	rmdir "$tmp"; tmp=$(mktemp -d "$PWD/decpctl-disk.XXXXXX") || exit 1
fi
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT

check help 0 "$D" disk --help
check bad_option 2 "$D" disk --frobnicate
check extra_arg 2 "$D" disk "$tmp"
check count_low 2 "$D" disk --dir "$tmp" --count 9
check count_text 2 "$D" disk --dir "$tmp" --count many
check bytes_zero 2 "$D" disk --dir "$tmp" --bytes 0
check target_zero 2 "$D" disk --dir "$tmp" --target-us 0
check no_dir 1 "$D" disk --dir "$tmp/missing" --count 10
mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
# root ignores directory permissions: only a non-root run can check this refusal
[ "$(id -u)" -eq 0 ] && ok || check read_only 1 "$D" disk --dir "$tmp/ro" --count 10

# A generous target is met; one microsecond is not (an fdatasync is never that fast).
check generous 0 "$D" disk --dir "$tmp" --count 50 --interval-us 0 --target-us 10000000
check strict 1 "$D" disk --dir "$tmp" --count 50 --interval-us 0 --target-us 1
out=$("$D" disk --dir "$tmp" --count 200 --interval-us 0 --bytes 4096 --json 2>&1)
echo "$out" | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["count"] == 200 and j["bytes"] == 4096, j
assert 0 < j["p50_us"] <= j["p90_us"] <= j["p99_us"] <= j["p999_us"] <= j["max_us"], j
assert j["within_target"] == (j["p99_us"] < j["target_us"]), j
assert j["target_us"] == 500, j  # the default: SPEC 6, ACK p99 < 0.5 ms (ingest path alone)
' && ok || bad "json report: $out"
out=$("$D" disk --dir "$tmp" --count 20 --interval-us 0 --target-us 10000000 2>&1)
echo "$out" | grep -q "p50 [0-9]* us, p90 [0-9]* us, p99 [0-9]* us" && ok || bad "text report: $out"
# Memory is no disk: on tmpfs fdatasync returns at once and keeps nothing (it said "leaves
# room").
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
	shm=$(mktemp -d /dev/shm/decpctl-disk.XXXXXX)
	out=$("$D" disk --dir "$shm" --count 20 --interval-us 0 --target-us 10000000 2>&1); rc=$?
	[ $rc = 1 ] && echo "$out" | grep -q "NOT a durable disk" && ok || bad "tmpfs: exit $rc: $out"
	out=$("$D" disk --dir "$shm" --count 20 --interval-us 0 --target-us 10000000 --json 2>/dev/null)
	echo "$out" | grep -q '"within_target": *false' && echo "$out" | grep -q '"volatile": *true' &&
		ok || bad "tmpfs json: $out"
	rm -rf "$shm"
else
	ok; ok
fi
# It cleans up after itself.
[ -z "$(ls "$tmp" | grep -v '^ro$')" ] && ok || bad "left files: $(ls "$tmp")"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
