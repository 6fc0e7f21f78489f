#!/bin/sh
# Promises of docs/decpctl.md that a review found broken (7 Dec 2026), against a real Redis
# and PostgreSQL (run under decp-testenv --pg --redis): `redis check` / `rebuild` refuse a
# --master the database lacks (it was "ok", exit 0, and rebuild added it to decp:masters);
# `archive list --json` has both hashes of the catalog; `backup restore --time` takes a time
# with its UTC offset only (anything went to pgBackRest and PostgreSQL's recovery_target_time
# after the data directory was overwritten); a usage error names the option and what is wrong
# with it. Usage: test_decpctl_contract.sh DECPCTL
# Prints "N passed, N failed" last.
D="$1"
. "$(dirname "$0")/testlib.sh"
need_pg_redis
"$D" master add --id 1 --name m1 --key-seed c >/dev/null || bad "master add"

# A --master the database does not have: named, exit 1, nothing written to Redis.
out=$("$D" redis check --master 999 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q -- "--master 999: no such master in the database" &&
	ok || bad "check --master 999: exit $rc: $out"
out=$("$D" redis check --master 1 --master 999 --json 2>&1); rc=$?
[ $rc = 1 ] && ! echo "$out" | grep -q '"masters"' && ok || bad "check --master 1 --master 999: exit $rc: $out"
out=$("$D" redis rebuild --yes --master 999 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q -- "--master 999: no such master" && ok || bad "rebuild --master 999: exit $rc: $out"
[ "$(r SISMEMBER decp:masters 999)" = 0 ] && ok || bad "rebuild added master 999 to decp:masters"
check known_master 0 "$D" redis check --master 1
check rebuild_known 0 "$D" redis rebuild --yes --master 1

# archive list --json: "both hashes" (docs/decpctl.md "decpctl archive").
q "INSERT INTO archive_catalog (parent, day, tier, file, rows, bytes, file_sha256, manifest_sha256)
   VALUES ('signal_archive', '2026-01-01', 'warm', 'signal_archive/signal_archive_p20260101.tsv.gz',
           3, 1, repeat('a', 64), repeat('b', 64))" >/dev/null || bad "catalog row"
out=$("$D" archive list --json 2>&1)
echo "$out" | grep -q "\"file_sha256\":\"$(printf 'a%.0s' $(seq 64))\",\"manifest_sha256\":\"$(printf 'b%.0s' $(seq 64))\"" &&
	ok || bad "archive list --json: $out"

# archive run --today as decp_app (docs/decpctl.md: decp_app may run everything but run
# --today and restore): refused with what to do, and no counts (they were uninitialised
# memory: "archive: 3005876340 day(s) exported (541165879307 rows), 32767 dropped, ...").
w=$(mktemp -d)
out=$("$D" archive run --conninfo "$DECP_PG_CONNINFO user=decp_app" --warm "$w" --today 2026-12-01 \
	--hot-days 5 2>"$w/err"); rc=$?
[ $rc = 1 ] && [ -z "$out" ] && grep -q "run it as the database owner" "$w/err" &&
	ok || bad "archive run --today as decp_app: exit $rc: $out $(cat "$w/err")"
rm -rf "$w"

# cores --config: a current map whose main lcore is offline is an error (cpu_offline: "the
# map names an offline CPU"); only the workers were checked, so main_lcore = 5 on a 2-CPU
# machine passed without a word (DPDK's EAL then refuses to start).
w=$(mktemp -d)
printf 'lcores = 0-1\nmain_lcore = 5\n' >"$w/dp.conf"
out=$("$D" --root "$(dirname "$0")/fixtures/vm2" cores --config "$w/dp.conf" 2>&1)
echo "$out" | grep -q "\[error\] cpu_offline: current map: CPUs 5 are not online" &&
	ok || bad "cores: offline main lcore of the current map: $out"
printf 'lcores = 1\nmain_lcore = 0\n' >"$w/dp2.conf"
out=$("$D" --root "$(dirname "$0")/fixtures/vm2" cores --config "$w/dp2.conf" 2>&1)
echo "$out" | grep -q "\[error\] main_not_in_lcores: current map: main_lcore 0 is not in lcores 1" &&
	ok || bad "cores: main lcore outside lcores: $out"
rm -rf "$w"

# backup restore --time: a time with its UTC offset, or exit 2 before anything (here the
# configuration does not exist: a time that passes reaches that, exit 1).
cf=/nonexistent/decp-contract-pgbackrest.conf
for t in garbage "2026-12-05 10:41:00" "2026-12-05" "2026-13-05 10:41:00+00" "2026-12-05 24:00:00+00" \
	"2026-12-05 10:41:00+" "2026-12-05 10:41:00 +00" "2026-12-05 10:41:00.+00" "2026-12-05 10:41:00+00:7" \
	"2026-12-05 10:41:00 EST"; do
	out=$("$D" backup restore --config-file "$cf" --time "$t" --yes 2>&1); rc=$?
	[ $rc = 2 ] && echo "$out" | grep -q -- "--time '$t' is not a time with its UTC offset" &&
		ok || bad "--time '$t': exit $rc, want 2: $out"
done
for t in "2026-12-05 10:41:00+00" "2026-12-05 10:41:00.123456+00" "2026-12-05T10:41:00Z" \
	"2026-12-05 10:41:00-05:30" "2026-12-05 10:41:00+0100"; do
	out=$("$D" backup restore --config-file "$cf" --time "$t" --yes 2>&1); rc=$?
	[ $rc = 1 ] && echo "$out" | grep -q "no pg1-path" && ok || bad "--time '$t': exit $rc, want 1: $out"
done

# A usage error names the option and what is wrong with it (docs/decpctl.md "Exit codes"):
# a known option without its value was "unknown option '--conninfo'", an option of another
# subcommand was named by its value ("unknown option '{}'"), tls printed getopt's own line
# and redis the whole usage without naming the option.
usage_msg() { # want-message, decpctl arguments...
	want=$1; shift
	out=$("$D" "$@" 2>&1); rc=$?
	[ $rc = 2 ] && echo "$out" | head -1 | grep -qF -- "$want" && [ "$(echo "$out" | wc -l)" = 2 ] &&
		ok || bad "decpctl $*: exit $rc, want 2 and \"$want\": $out"
}
usage_msg "decpctl db migrate: option '--conninfo' needs a value" db migrate --conninfo
usage_msg "decpctl token list: option '--master' needs a value" token list --master
usage_msg "decpctl token add: option '--policy' is not one of token add's" token add --master 1 --policy '{}'
usage_msg "decpctl token add: option '--policy' is not one of token add's" token add --master 1 --policy='{}'
usage_msg "decpctl subscriber list: option '--name' is not one of subscriber list's" subscriber list --name x
usage_msg "decpctl redis: option '--redis' needs a value" redis check --redis
usage_msg "decpctl redis: unknown option '--frob'" redis check --frob
usage_msg "decpctl redis: option '--json' takes no value" redis check --json=1
usage_msg "decpctl tls: option '--dir' needs a value" tls init --dir
usage_msg "decpctl nic: option '--json' takes no value" nic --json=1
usage_msg "decpctl ledger verify: option '--heads' needs a value" ledger verify --heads
usage_msg "decpctl backup: option '--config-file' needs a value" backup list --config-file
usage_msg "decpctl archive: option '--warm' needs a value" archive list --warm
usage_msg "decpctl top: option '--shm' needs a value" top --shm
usage_msg "decpctl cores: option '--nic' needs a value" cores --nic
usage_msg "decpctl disk: unknown option '--frob'" disk --frob
usage_msg "decpctl: option '--root' needs a directory" --root
usage_msg "decpctl: --root needs a directory" --root ""

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
