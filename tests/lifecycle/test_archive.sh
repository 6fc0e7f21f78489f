#!/bin/bash
# Archival instead of deletion (issue 22 items 1-2), against a real PostgreSQL, run under
# decp-testenv --pg --redis. Usage: test_archive.sh DECPCTL DECP_CONTROL.
# Prints "N passed, N failed".
#   - 100 simulated days (decpctl archive run --today D, hot window 30 days, cold after 60):
#     every day past the hot window is exported, verified and dropped once; the warm and
#     cold tiers each hold their days once; PostgreSQL holds only the hot window;
#   - decpctl archive verify passes, restore of a cold day and a warm day gives back
#     rows identical in every column (awkward values included) to what was written;
#   - a flipped byte: verify names the day (exit 5), the day is not moved to cold nor
#     removed, other days go on; fixed, the next run moves it;
#   - a full disk during export: nothing dropped, a clear error; with space, the next run
#     completes;
#   - archive_drop refuses a partition whose row count changed since the export, and a day
#     inside the hot window;
#   - a row deleted and another inserted by the owner between a day's export and its drop
#     (the count unchanged): the drop is refused by the rows digest (sql 0041), the
#     partition kept; the next pass archives the day with the new row; a restore checks
#     the digest, and a manifest of format 1 (no digest) still restores;
#   - decp-control's archiver role does the same by itself with archive_warm_dir set
#     (today's clock, the application role), and counts it on its metrics.
D="$1"
CTL="$2"
. "$(dirname "$0")/../decpctl/testlib.sh"
[ -n "$D" ] && [ -n "$CTL" ] && [ -n "$DECP_PG_CONNINFO" ] ||
	{ echo "usage: run under decp-testenv --pg --redis"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d /tmp/decp-lifecycle.XXXXXX)
MNT="$T/small"
CTL_PID=
RUN_PID=
OWN_PID=
cleanup() {
	[ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
	[ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
	[ -n "$OWN_PID" ] && kill "$OWN_PID" 2>/dev/null && wait "$OWN_PID" 2>/dev/null
	mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"
	rm -rf "$T"
}
trap cleanup EXIT
WARM="$T/warm"
COLD="$T/cold"
app="$DECP_PG_CONNINFO user=decp_app"
qa() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$app" -c "$1"; }
qo() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$DECP_PG_CONNINFO" -c "$1"; }

"$D" db migrate >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }

# Usage.
check help 0 "$D" archive --help
check no_sub 2 "$D" archive
check bad_sub 2 "$D" archive frobnicate
check bad_opt 2 "$D" archive list --frob
check run_no_warm 2 "$D" archive run
check hot_without_today 2 "$D" archive run --warm "$WARM" --hot-days 3
check restore_args 2 "$D" archive restore --warm "$WARM" signal_archive
check restore_table 2 "$D" archive restore --warm "$WARM" users 2026-01-01
check restore_bad_day 2 "$D" archive restore --warm "$WARM" signal_archive 2026-13-01
check restore_feb30 2 "$D" archive restore --warm "$WARM" signal_archive 2026-02-30
check no_db 2 env -u DECP_PG_CONNINFO "$D" archive list
# refused before anything runs, with the option named (a relative directory and a cold age
# inside the hot window were refused only by the tier pass, exit 1; a bad --today day by
# PostgreSQL's "date/time field value out of range")
check relative_dir 2 "$D" archive run --warm relative/dir
check relative_dir_verify 2 "$D" archive verify --warm relative/dir
check cold_in_hot 2 "$D" archive run --warm "$WARM" --cold-after-days 5
check cold_in_hot_days 2 "$D" archive run --warm "$WARM" --today 2026-03-01 --hot-days 30 --cold-after-days 29
check today_bad 2 "$D" archive run --warm "$WARM" --today 2026-13-01 --hot-days 30
check today_feb29 2 "$D" archive run --warm "$WARM" --today 2026-02-29 --hot-days 30
out=$("$D" archive run --warm relative/dir 2>&1)
echo "$out" | grep -q -- "--warm 'relative/dir' is not an absolute path" && ok || bad "relative --warm: $out"

# The simulated days: 200 days ago .. 101 days ago, so today's real partitions stay hot.
B=$(qo "SELECT (now() AT TIME ZONE 'UTC')::date - 200")
day() { qo "SELECT '$B'::date + $1"; }
# Day i's rows: three signals (one with a NULL price and odd bytes) and two protection
# events (tab, newline, backslash, quote and non-ASCII in text and jsonb).
write_day() { # index
	local i=$1
	qa "INSERT INTO signal_archive (master_id, sequence, arrival_time, arrival_ns, master_time_ns,
	      symbol, order_type, volume, price, sl, tp, position_ticket, body, hmac, ed25519_sig)
	    SELECT 7 + k % 2, $i * 10 + k, ('$B'::date + $i)::timestamp AT TIME ZONE 'UTC'
	             + make_interval(hours => k * 5, secs => 0.123456 * k),
	           1, -5, 'EURUSD.r', 'BUY', k, CASE WHEN k = 2 THEN NULL ELSE 108000 + k END,
	           0, 0, 99 + k, decode('00ff0a0d5c09' || lpad(to_hex(k), 2, '0'), 'hex'),
	           NULL, decode(repeat('ab', 64), 'hex')
	      FROM generate_series(1, 3) k" >/dev/null
	qa "INSERT INTO protection_logs (event_time, master_id, subscriber_id, subscription_id,
	      sequence, reason, latency_ms, price_deviation, symbol, details)
	    SELECT ('$B'::date + $i)::timestamp AT TIME ZONE 'UTC' + make_interval(hours => k),
	           7, 11, 13, $i * 10 + k, 'TTL_EXPIRED', 512.125, 3.25,
	           E'US30\\tcash\\nline \\\\ \"q\" ünï', jsonb_build_object('k', k, 's', E'a\\tb\\nc')
	      FROM generate_series(1, 2) k" >/dev/null
}
digest() { # table, day index, [table to read]: every column of the day's rows
	local t=$1 src=${3:-$1} col key
	case $t in signal_archive) col=arrival_time; key="master_id, sequence";;
		   *) col=event_time; key=id;; esac
	qo "SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, E'\n' ORDER BY $key)), '-')
	      FROM $src x WHERE $col >= ('$B'::date + $2)::timestamp AT TIME ZONE 'UTC'
	       AND $col < ('$B'::date + $2 + 1)::timestamp AT TIME ZONE 'UTC'" | sed "s/^/$t:/"
}

declare -A before
runs_ok=0
for i in $(seq 0 99); do
	write_day "$i"
	if [ "$i" = 5 ] || [ "$i" = 50 ]; then
		before[sig$i]=$(digest signal_archive "$i")
		before[log$i]=$(digest protection_logs "$i")
	fi
	out=$("$D" archive run --warm "$WARM" --cold "$COLD" --today "$(day "$i")" \
		--hot-days 30 --cold-after-days 60 2>&1) && runs_ok=$((runs_ok + 1)) ||
		echo "run day $i: $out"
done
[ "$runs_ok" = 100 ] && ok || bad "100 daily runs: $runs_ok succeeded"
# Day 99's run: days 0..68 past the hot window (69 days), of which 0..38 past 60 days.
[ "$(qo "SELECT count(*) FROM archive_catalog")" = 138 ] && ok || bad "catalog: $(qo "SELECT count(*) FROM archive_catalog")"
[ "$(qo "SELECT count(*) FROM archive_catalog WHERE tier = 'cold'")" = 78 ] && ok || bad "cold days"
[ "$(qo "SELECT count(*) FROM archive_catalog WHERE tier = 'warm'")" = 60 ] && ok || bad "warm days"
for t in signal_archive protection_logs; do
	w=$(ls "$WARM/$t" | grep -c '\.tsv\.gz$'); c=$(ls "$COLD/$t" | grep -c '\.tsv\.gz$')
	[ "$w" = 30 ] && [ "$c" = 39 ] && ok || bad "$t files: warm $w cold $c"
	both=$(comm -12 <(ls "$WARM/$t") <(ls "$COLD/$t") | wc -l)
	[ "$both" = 0 ] && ok || bad "$t: $both files in both tiers"
	[ -z "$(ls "$WARM/$t" "$COLD/$t" | grep '\.tmp$')" ] && ok || bad "$t: temporary files left"
done
# Only the hot window (days 69..99 and the partitions ahead) is left in PostgreSQL.
old=$(qo "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	   WHERE i.inhparent IN ('signal_archive'::regclass, 'protection_logs'::regclass)
	     AND c.relname ~ '_p[0-9]{8}$'
	     AND to_date(substring(c.relname FROM '_p([0-9]{8})$'), 'YYYYMMDD') < '$B'::date + 69")
[ "$old" = 0 ] && ok || bad "$old old partitions left"
hot="SELECT count(*) FROM signal_archive WHERE arrival_time >= ('$B'::date + 69)::timestamp AT TIME ZONE 'UTC'
	AND arrival_time < ('$B'::date + 100)::timestamp AT TIME ZONE 'UTC'"
[ "$(qo "$hot")" = 93 ] && ok || bad "hot rows: $(qo "$hot")"
[ "$(qo "SELECT count(*) FROM signal_archive_keys WHERE arrival_time < ('$B'::date + 69)::timestamp AT TIME ZONE 'UTC'")" = 0 ] &&
	ok || bad "dedup keys of dropped days left"
# Each day archived once, with its rows.
[ "$(qo "SELECT sum(rows) FROM archive_catalog WHERE parent = 'signal_archive'")" = 207 ] && ok || bad "archived signal rows"
[ "$(qo "SELECT sum(rows) FROM archive_catalog WHERE parent = 'protection_logs'")" = 138 ] && ok || bad "archived log rows"

out=$("$D" archive verify --warm "$WARM" --cold "$COLD" 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "^138 day(s) verified (345 rows), 0 mismatch" && ok || bad "verify: $rc $out"
out=$("$D" archive list --json 2>&1)
[ "$(echo "$out" | grep -c '"tier":"cold"')" = 78 ] && ok || bad "list --json: $out"

# Restore a cold day and a warm day: every column as written.
for i in 5 50; do
	d=$(day "$i")
	check "restore_$i" 0 "$D" archive restore --warm "$WARM" --cold "$COLD" signal_archive "$d"
	check "restore_log_$i" 0 "$D" archive restore --warm "$WARM" --cold "$COLD" protection_logs "$d" --into "r_log_$i"
	dc=$(echo "$d" | tr -d -)
	got=$(digest signal_archive "$i" "restored_signal_archive_p$dc")
	[ "$got" = "${before[sig$i]}" ] && ok || bad "restored signals day $i: $got vs ${before[sig$i]}"
	got=$(digest protection_logs "$i" "r_log_$i")
	[ "$got" = "${before[log$i]}" ] && ok || bad "restored logs day $i: $got vs ${before[log$i]}"
done
check restore_exists 1 "$D" archive restore --warm "$WARM" --cold "$COLD" protection_logs "$(day 5)" --into r_log_5
# a day in no tier: named, with where to look (it said ".../DAY.manifest.json: not in this tier")
out=$("$D" archive restore --warm "$WARM" --cold "$COLD" protection_logs "$(day 95)" 2>&1); rc=$?
[ $rc = 1 ] && [ "$out" = "decpctl archive restore: protection_logs $(day 95) is in no tier (warm $WARM, cold $COLD): 'decpctl archive list' shows the days archived" ] &&
	ok || bad "restore of a day in no tier: exit $rc: $out"
# As decp_app (control.conf's pg_conninfo, which --config reads): no CREATE on the schema, so
# no restored table; refused (exit 1) with the role to use named, nothing created.
out=$("$D" archive restore --conninfo "$app" --warm "$WARM" --cold "$COLD" signal_archive "$(day 50)" --into r_app 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q 'restore as the database owner (--conninfo "dbname=decp user=decp_owner"), not as decp_app' &&
	[ "$(qo "SELECT to_regclass('r_app') IS NULL")" = t ] && ok || bad "restore as decp_app: $rc $out"

# One byte flipped in a warm file (day 40, due for the cold tier at day 101).
f40="$WARM/signal_archive/signal_archive_p$(day 40 | tr -d -).tsv.gz"
flip() { # file offset
	local b; b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(( b ^ 1 )))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
flip "$f40" 20
out=$("$D" archive verify --warm "$WARM" --cold "$COLD" 2>&1); rc=$?
[ $rc = 5 ] && echo "$out" | grep -q "MISMATCH signal_archive $(day 40) (warm).*SHA-256" && ok || bad "verify flipped: $rc $out"
write_day 100; write_day 101
out=$("$D" archive run --warm "$WARM" --cold "$COLD" --today "$(day 101)" --hot-days 30 --cold-after-days 60 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "signal_archive_p$(day 40 | tr -d -).tsv.gz: SHA-256" && ok || bad "run with flipped file: $rc $out"
[ "$(qo "SELECT tier FROM archive_catalog WHERE parent = 'signal_archive' AND day = '$(day 40)'")" = warm ] && [ -f "$f40" ] &&
	ok || bad "flipped day moved or removed"
[ "$(qo "SELECT tier FROM archive_catalog WHERE parent = 'protection_logs' AND day = '$(day 40)'")" = cold ] &&
	ok || bad "the other table's day 40 did not go on"
[ "$(qo "SELECT count(*) FROM archive_catalog WHERE day = '$(day 70)'")" = 2 ] && ok || bad "day 70 not exported"
flip "$f40" 20
check run_after_fix 0 "$D" archive run --warm "$WARM" --cold "$COLD" --today "$(day 101)" --hot-days 30 --cold-after-days 60
[ "$(qo "SELECT tier FROM archive_catalog WHERE parent = 'signal_archive' AND day = '$(day 40)'")" = cold ] && [ ! -f "$f40" ] &&
	ok || bad "fixed day not moved"

# A full disk during export: a 64 KiB tmpfs as the warm tier, a day of incompressible rows.
mkdir -p "$MNT"
if mount -t tmpfs -o size=64k decp-lifecycle "$MNT" 2>/dev/null; then
	write_day 102
	qa "INSERT INTO signal_archive (master_id, sequence, arrival_time, arrival_ns, symbol,
	      order_type, volume, body)
	    SELECT 9, 5000 + k, ('$B'::date + 71)::timestamp AT TIME ZONE 'UTC' + make_interval(secs => k),
	           1, 'EURUSD', 'BUY', 1, decode(md5(k::text) || md5((k + 1)::text) || md5((k + 2)::text), 'hex')
	      FROM generate_series(1, 20000) k" >/dev/null
	out=$("$D" archive run --warm "$MNT" --today "$(day 102)" --hot-days 30 2>&1); rc=$?
	[ $rc = 1 ] && echo "$out" | grep -q "No space left on device" && ok || bad "full disk: $rc $out"
	[ "$(qo "SELECT count(*) FROM signal_archive WHERE master_id = 9")" = 20000 ] && ok || bad "rows dropped on a full disk"
	[ "$(qo "SELECT count(*) FROM archive_catalog WHERE parent = 'signal_archive' AND day = '$(day 71)'")" = 0 ] && ok || bad "catalogued on a full disk"
	[ -z "$(ls "$MNT"/signal_archive 2>/dev/null | grep "$(day 71 | tr -d -)")" ] && ok || bad "partial file left on a full disk"
	mount -o remount,size=64m "$MNT"
	check run_with_space 0 "$D" archive run --warm "$MNT" --today "$(day 102)" --hot-days 30
	[ "$(qo "SELECT rows FROM archive_catalog WHERE parent = 'signal_archive' AND day = '$(day 71)'")" = 20003 ] && ok || bad "day 71 after space"
	[ "$(qo "SELECT count(*) FROM signal_archive WHERE master_id = 9")" = 0 ] && ok || bad "day 71 still in PostgreSQL"
else
	echo "SKIP full-disk case: cannot mount a tmpfs here (needs root)"
fi

# archive_drop's own checks: rows changed since the export, a day inside the hot window,
# and the application cannot use the test clock.
p=$(day 85)
got=$(qo "SELECT archive_drop_at('$(day 110)'::date, 20, 'signal_archive', '$p'::date, 2, 1,
	'signal_archive/signal_archive_p$(echo "$p" | tr -d -).tsv.gz', repeat('0', 64), repeat('0', 64),
	repeat('0', 32))" 2>&1)
echo "$got" | grep -q "holds 3 rows, the export has 2" && ok || bad "row count check: $got"
# 0015's signature, without the rows digest (an archiver from before 0041): refused
got=$(qo "SELECT archive_drop_at('$(day 110)'::date, 20, 'signal_archive', '$p'::date, 3, 1,
	'signal_archive/signal_archive_p$(echo "$p" | tr -d -).tsv.gz', repeat('0', 64), repeat('0', 64))" 2>&1)
echo "$got" | grep -q "no rows digest of the export" && ok || bad "drop without a digest: $got"
[ "$(qo "SELECT count(*) FROM signal_archive WHERE arrival_time >= '$p'::date AND arrival_time < '$p'::date + 1")" = 3 ] && ok || bad "day 85 dropped"
got=$(qa "SELECT archive_drop('signal_archive', (now() AT TIME ZONE 'UTC')::date - 3, 0, 0,
	'signal_archive/signal_archive_p20260101.tsv.gz', repeat('0', 64), repeat('0', 64), repeat('0', 32))" 2>&1)
echo "$got" | grep -q "inside the hot window" && ok || bad "hot-window check: $got"
got=$(qa "SELECT * FROM archive_due_at(current_date, 1)" 2>&1)
echo "$got" | grep -q "permission denied" && ok || bad "app used the test clock: $got"

# Rows written to a day after it was archived (a signal redelivered once its dedup key was
# pruned, a subscriber's report dated in that day): the next pass must not replace the day's
# archived file by a file of the late rows alone. It puts the archived rows back first, so
# the new export holds every archived row and the late ones, each (master, sequence) once
# (a redelivery is the same Redis record, so which copy is kept does not matter).
for i in 60 10; do   # day 60 is in the warm tier, day 10 in the cold one
	d=$(day "$i"); dc=$(echo "$d" | tr -d -)
	tier=$WARM; [ "$i" = 10 ] && tier=$COLD
	for t in signal_archive protection_logs; do
		cp "$tier/$t/${t}_p$dc.tsv.gz" "$T/before_${t}_$i.tsv.gz"
	done
	qa "INSERT INTO signal_archive (master_id, sequence, arrival_time, arrival_ns, symbol, order_type,
	      volume, body)
	    VALUES (8, $i * 10 + 1, ('$d'::date + time '23:00')::timestamp AT TIME ZONE 'UTC', 2, 'EURUSD',
	            'BUY', 1, '\x01'),
	           (9, 7000 + $i, ('$d'::date + time '23:30')::timestamp AT TIME ZONE 'UTC', 3, 'EURUSD',
	            'SELL', 1, '\x02')" >/dev/null || bad "late signals day $i"
	qa "INSERT INTO protection_logs (event_time, reason, subscription_id)
	    VALUES (('$d'::date + time '23:00')::timestamp AT TIME ZONE 'UTC', 'REPLAY', 4343)" >/dev/null ||
		bad "late event day $i"
done
qo "SELECT count(*) FROM maintain_partitions_at('$(day 102)'::date, 0)" >/dev/null
out=$("$D" archive run --warm "$WARM" --cold "$COLD" --today "$(day 102)" --hot-days 30 --cold-after-days 60 2>&1)
[ $? = 0 ] && ok || bad "run after late rows: $out"
for i in 60 10; do
	d=$(day "$i"); dc=$(echo "$d" | tr -d -)
	tier=$WARM; [ "$i" = 10 ] && tier=$COLD
	for t in signal_archive protection_logs; do
		f="$tier/$t/${t}_p$dc.tsv.gz"
		b=$(zcat "$T/before_${t}_$i.tsv.gz" | wc -l); a=$(zcat "$f" 2>/dev/null | wc -l)
		want=$((b + 1))  # signals: the redelivery is kept once, the new one added
		[ "$a" = "$want" ] && ok || bad "$t day $i: archived $b rows, now the file holds $a, want $want"
		cols=1-; [ "$t" = signal_archive ] && cols=1,2   # a signal by its (master, sequence)
		lost=$(comm -23 <(zcat "$T/before_${t}_$i.tsv.gz" | cut -f"$cols" | sort) \
			<(zcat "$f" 2>/dev/null | cut -f"$cols" | sort) | wc -l)
		[ "$lost" = 0 ] && ok || bad "$t day $i: $lost archived rows are no longer in its file"
		[ "$(qo "SELECT rows FROM archive_catalog WHERE parent = '$t' AND day = '$d'")" = "$want" ] &&
			ok || bad "$t day $i: catalog rows"
	done
	[ "$(zcat "$tier/signal_archive/signal_archive_p$dc.tsv.gz" | awk -F'\t' -v s=$((i * 10 + 1)) '$1 == 8 && $2 == s' | wc -l)" = 1 ] &&
		ok || bad "day $i: the redelivered signal is not in the file exactly once"
done
out=$("$D" archive verify --warm "$WARM" --cold "$COLD" 2>&1)   # (day 71's files are on the tmpfs)
echo "$out" | grep -qE "MISMATCH [a-z_]+ ($(day 60)|$(day 10)) " && bad "verify after late rows: $out" || ok

# Rows changed between a day's export and its drop, their count unchanged (sql 0041). The
# test holds ROW EXCLUSIVE on day 75's protection_logs partition (the first due: days
# before 75 are archived, and protection_logs comes before signal_archive): the export
# only reads, the drop's SHARE lock (no writer until the drop) waits. Then, as the owner, one event of the day
# is deleted and another inserted, committed, and the drop goes on: it must refuse (with a
# count-only check it dropped the partition, and the new event was in no file).
d75=$(day 75); p75="protection_logs_p$(echo "$d75" | tr -d -)"
[ "$(qo "SELECT count(*) FROM protection_logs WHERE event_time >= '$d75'::date AND event_time < '$d75'::date + 1")" = 2 ] &&
	ok || bad "day 75's events before the race"
mkfifo "$T/own.fifo"
psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$DECP_PG_CONNINFO" <"$T/own.fifo" >"$T/own.out" 2>&1 &
OWN_PID=$!
exec 7>"$T/own.fifo"
echo "BEGIN; LOCK TABLE $p75 IN ROW EXCLUSIVE MODE;" >&7
lockq="SELECT count(*) FROM pg_locks WHERE relation = '$p75'::regclass"
for _ in $(seq 1 300); do
	[ "$(qo "$lockq AND mode = 'RowExclusiveLock' AND granted")" = 1 ] && break
	sleep 0.1
done
"$D" archive run --warm "$WARM" --cold "$COLD" --today "$(day 106)" --hot-days 30 \
	--cold-after-days 60 >"$T/race.out" 2>&1 &
RUN_PID=$!
for _ in $(seq 1 600); do
	[ "$(qo "$lockq AND mode IN ('ShareLock', 'AccessExclusiveLock') AND NOT granted")" = 1 ] && break
	kill -0 "$RUN_PID" 2>/dev/null || break
	sleep 0.1
done
[ "$(qo "$lockq AND mode IN ('ShareLock', 'AccessExclusiveLock') AND NOT granted")" = 1 ] && ok ||
	bad "the drop of $p75 did not wait for the lock: $(cat "$T/race.out")"
[ -f "$WARM/protection_logs/$p75.manifest.json" ] && ok || bad "day 75 not exported before its drop"
# Readers go on meanwhile: the drop's SHARE request does not stop a read of the parent (an
# ACCESS EXCLUSIVE one queued every reader behind it, for the digest's whole time).
n=$(PGOPTIONS='-c statement_timeout=5000' qo "SELECT count(*) FROM protection_logs" 2>&1)
[[ "$n" =~ ^[0-9]+$ ]] && ok || bad "a read of protection_logs while the drop waits: $n"
echo "DELETE FROM protection_logs WHERE event_time >= '$d75'::date AND event_time < '$d75'::date + 1
	AND sequence = 752;
      INSERT INTO protection_logs (event_time, reason, subscription_id)
	VALUES ('$d75'::date + time '23:00', 'REPLAY', 4747);
      COMMIT;" >&7
exec 7>&-
wait "$OWN_PID"; own_rc=$?; OWN_PID=
wait "$RUN_PID"; rc=$?; RUN_PID=
[ "$own_rc" = 0 ] && ok || bad "the owner's change: $(cat "$T/own.out")"
out=$(cat "$T/race.out")
[ $rc = 1 ] && echo "$out" | grep -q "$p75 holds 2 rows as the export, but not the same" && ok ||
	bad "drop after a changed row: $rc $out"
[ "$(qo "SELECT count(*) FROM protection_logs WHERE subscription_id = 4747")" = 1 ] &&
	[ "$(qo "SELECT to_regclass('$p75') IS NOT NULL")" = t ] && ok || bad "$p75 dropped with a row in no file"
[ "$(qo "SELECT count(*) FROM archive_catalog WHERE parent = 'protection_logs' AND day = '$d75'")" = 0 ] &&
	ok || bad "day 75 catalogued after a refused drop"
[ "$(qo "SELECT count(*) FROM archive_catalog WHERE parent = 'signal_archive' AND day = '$d75'")" = 1 ] &&
	ok || bad "signal_archive's day 75 did not go on"
# The next pass exports the day as it is now and drops it.
check run_after_race 0 "$D" archive run --warm "$WARM" --cold "$COLD" --today "$(day 106)" --hot-days 30 --cold-after-days 60
f75="$WARM/protection_logs/$p75.tsv.gz"
[ "$(zcat "$f75" | awk -F'\t' '$5 == 4747' | wc -l)" = 1 ] && [ "$(zcat "$f75" | awk -F'\t' '$6 == 751' | wc -l)" = 1 ] &&
	[ "$(zcat "$f75" | awk -F'\t' '$6 == 752' | wc -l)" = 0 ] && ok || bad "day 75's file: $(zcat "$f75")"
[ "$(qo "SELECT to_regclass('$p75') IS NULL")" = t ] && ok || bad "$p75 not dropped by the next pass"
dg=$(qo "SELECT rows_digest FROM archive_catalog WHERE parent = 'protection_logs' AND day = '$d75'")
grep -q "\"rows_digest\": \"$dg\"" "$WARM/protection_logs/$p75.manifest.json" && [ ${#dg} = 32 ] && ok ||
	bad "catalog's rows digest '$dg' not in the manifest"
"$D" archive list --json | grep "\"day\":\"$d75\"" | grep -q "\"rows_digest\":\"$dg\"" && ok ||
	bad "list --json: $("$D" archive list --json | grep "$d75")"
out=$("$D" archive verify --warm "$WARM" --cold "$COLD" 2>&1)
echo "$out" | grep -qE "MISMATCH [a-z_]+ $d75 " && bad "verify day 75: $out" || ok
# A restore checks the restored rows against the manifest's digest: a manifest whose digest
# was altered (and the file intact) is a mismatch (exit 5); a manifest of format 1 (before
# 0041: no digest) restores.
X="$T/alt"; mkdir -p "$X/protection_logs"
cp "$f75" "$X/protection_logs/"
sed "s/\"rows_digest\": \"$dg\"/\"rows_digest\": \"$(printf '%032d' 7)\"/" \
	"$WARM/protection_logs/$p75.manifest.json" >"$X/protection_logs/$p75.manifest.json"
out=$("$D" archive restore --warm "$X" protection_logs "$d75" --into r_alt 2>&1); rc=$?
[ $rc = 5 ] && echo "$out" | grep -q "restored rows have digest $dg, the manifest says" &&
	[ "$(qo "SELECT to_regclass('r_alt') IS NULL")" = t ] && ok || bad "restore, altered digest: $rc $out"
grep -v '"rows_digest"' "$WARM/protection_logs/$p75.manifest.json" |
	sed 's|"decp-archive/2"|"decp-archive/1"|' >"$X/protection_logs/$p75.manifest.json"
check restore_format1 0 "$D" archive restore --warm "$X" protection_logs "$d75" --into r_v1
[ "$(qo "SELECT count(*) FROM r_v1 WHERE subscription_id = 4747")" = 1 ] && ok || bad "format-1 restore's rows"

# decp-control's archiver role, on today's clock and the application role: a day 95 days
# ago (past the seed's 90) is exported and dropped by itself, and counted on /metrics.
p=$(qo "SELECT (now() AT TIME ZONE 'UTC')::date - 95")
qo "SELECT count(*) FROM maintain_partitions_at('$p'::date, 0)" >/dev/null
qa "INSERT INTO protection_logs (event_time, reason, subscription_id)
    VALUES ('$p'::date + time '12:00', 'REPLAY', 4242)" >/dev/null
# A server whose DateStyle is not ISO ('SQL, DMY' prints a day as 07/08/2026): archival
# works the same (it failed with "bad day ..." and nothing was ever archived).
ds=$(day 74); d105=$(day 105)
qo "ALTER DATABASE $DECP_PG_DBNAME SET DateStyle = 'SQL, DMY'" >/dev/null
out=$("$D" archive run --warm "$WARM" --cold "$COLD" --today "$d105" --hot-days 30 --cold-after-days 60 2>&1)
rc=$?
qo "ALTER DATABASE $DECP_PG_DBNAME RESET DateStyle" >/dev/null
[ $rc = 0 ] && [ "$(qo "SELECT count(*) FROM archive_catalog WHERE day = '$ds'")" = 2 ] && ok ||
	bad "archive under DateStyle 'SQL, DMY': $rc $out"
out=$("$D" archive verify --warm "$WARM" --cold "$COLD" 2>&1)
echo "$out" | grep -qE "MISMATCH [a-z_]+ $ds " && bad "verify day 74: $out" || ok

# A subscriber's ProtectionEvent dated 300 days ago (its event_time_ns is the EA's clock), as
# the fan-out queues it on the reports stream: stored at the time of storing, the EA's time
# in details; not in that old day (a partition per day a subscriber names, rows in days
# archived already: docs/fanout.md "Reports").
rm_=$(qa "INSERT INTO masters (name, hmac_secret, ed25519_public_key) VALUES ('rep',
	decode(repeat('ab', 32), 'hex'), decode(repeat('cd', 32), 'hex')) RETURNING id")
rs_=$(qa "INSERT INTO subscribers (name) VALUES ('rep') RETURNING id")
rsub=$(qa "INSERT INTO subscriptions (master_id, subscriber_id) VALUES ($rm_, $rs_) RETURNING id")
old_ns=$(qo "SELECT (extract(epoch FROM now() - interval '300 days')::bigint) * 1000000000")
old_day=$(qo "SELECT (now() AT TIME ZONE 'UTC' - interval '300 days')::date")
redis-cli -h "$DECP_REDIS_HOST" -p "$DECP_REDIS_PORT" XADD 'decp:{rep}:reports' '*' \
	r "r1 0 $rs_ $rsub $rm_ 9 $old_ns 3 0 0 0 0 0 0 0 0 0 0 0 0 4545" d "dated" >/dev/null ||
	bad "XADD report"
API_PORT=$((20000 + $$ % 20000))
"$D" tls init --dir "$T/tls" >/dev/null || bad "decpctl tls init"   # the api's HTTPS
"$CTL" --roles archiver,api --set "pg_conninfo=$app" --set "redis_host=$DECP_REDIS_HOST" \
	--set "api_cert=$T/tls/server.crt" --set "api_key=$T/tls/server.key" \
	--set "redis_port=$DECP_REDIS_PORT" --set partition_maint_s=1 \
	--set "archive_warm_dir=$T/role-warm" --set "api_port=$API_PORT" \
	--set "shm=/decp-lifecycle-$$" >"$T/control.log" 2>&1 &
CTL_PID=$!
for _ in $(seq 1 600); do
	[ "$(qo "SELECT count(*) FROM archive_catalog WHERE day = '$p' AND parent = 'protection_logs'")" = 1 ] && break
	kill -0 "$CTL_PID" 2>/dev/null || break
	sleep 0.1
done
[ "$(qo "SELECT rows FROM archive_catalog WHERE day = '$p' AND parent = 'protection_logs'")" = 1 ] && ok ||
	bad "archiver role did not archive $p: $(tail -5 "$T/control.log")"
[ "$(qo "SELECT count(*) FROM protection_logs WHERE subscription_id = 4242")" = 0 ] && ok || bad "archiver role did not drop"
ls "$T/role-warm/protection_logs/protection_logs_p$(echo "$p" | tr -d -).manifest.json" >/dev/null 2>&1 &&
	ok || bad "archiver role's files"
m=""
for _ in $(seq 1 100); do
	out=$(curl -s -w '\nHTTP %{http_code}' --max-time 2 --cacert "$T/tls/ca.crt" \
		"https://127.0.0.1:$API_PORT/metrics")
	crc=$?
	m=$(printf '%s\n' "$out" | grep '^decp_archive_dropped_days_total')
	[ -n "$m" ] && [ "${m##* }" != 0 ] && break
	sleep 0.1
done
[ -n "$m" ] && [ "${m##* }" -ge 1 ] && ok ||
	bad "metrics: '$m' (the last scrape: curl exit $crc, $(printf '%s\n' "$out" | tail -1); control.log: $(tail -3 "$T/control.log"))"
for _ in $(seq 1 100); do
	[ "$(qo "SELECT count(*) FROM protection_logs WHERE subscription_id = $rsub")" = 1 ] && break
	sleep 0.1
done
[ "$(qo "SELECT count(*) FROM protection_logs WHERE subscription_id = $rsub AND event_time > now() - interval '1 hour'
	AND details->>'ea_time_ns' = '$old_ns'")" = 1 ] && ok ||
	bad "report dated $old_day: $(qo "SELECT event_time, details FROM protection_logs WHERE subscription_id = $rsub")"
[ "$(qo "SELECT count(*) FROM pg_class WHERE relname = 'protection_logs_p$(echo "$old_day" | tr -d -)'")" = 0 ] &&
	[ "$(qo "SELECT count(*) FROM archive_catalog WHERE day = '$old_day'")" = 0 ] && ok ||
	bad "a partition or an archive of $old_day, the day the EA named"
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null; CTL_PID=

# Maintenance (partitions, archival, the ledger checkpoint, billing) once per
# partition_maint_s per process, not once per archiver thread: with a period of an hour,
# two archiver threads and a run of a few seconds, one checkpoint (each thread made one at
# start: two, ms apart).
n0=$(qo "SELECT count(*) FROM ledger_checkpoints")
"$CTL" --roles archiver --set "pg_conninfo=$app" --set "redis_host=$DECP_REDIS_HOST" \
	--set "redis_port=$DECP_REDIS_PORT" --set partition_maint_s=3600 --set archiver_threads=2 \
	--set "archive_warm_dir=$T/role-warm" --set "shm=/decp-lifecycle-m-$$" >"$T/control-m.log" 2>&1 &
CTL_PID=$!
for _ in $(seq 1 600); do
	[ "$(qo "SELECT count(*) FROM ledger_checkpoints")" -gt "$n0" ] && break
	kill -0 "$CTL_PID" 2>/dev/null || break
	sleep 0.1
done
# stopped: each loop ends its iteration (the idle one maintains) before it sees the stop
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null; CTL_PID=
[ "$(qo "SELECT count(*) FROM ledger_checkpoints")" = $((n0 + 1)) ] && ok ||
	bad "maintenance more than once per period: $(qo "SELECT string_agg(id || ' ' || taken_at::text, ', ' ORDER BY id) FROM ledger_checkpoints WHERE id > $n0")"
# Its log line carries the ledger's and the profit events' heads (sql 0035), and is a line
# ledger verify --heads takes.
cpid=$(qo "SELECT max(id) FROM ledger_checkpoints")
cpph=$(qo "SELECT profit_head FROM ledger_checkpoints WHERE id = $cpid")
grep -q "ledger checkpoint $cpid: rows [0-9]* wallets [0-9]* head [0-9a-f]\{64\} profit_events [0-9]* subscriptions [0-9]* profit_head $cpph" "$T/control-m.log" &&
	ok || bad "the checkpoint's log line: $(grep "ledger checkpoint" "$T/control-m.log")"
out=$("$D" ledger verify --conninfo "$app" --heads "$T/control-m.log" 2>&1) && ok ||
	bad "ledger verify --heads the archiver's log: $out"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
