#!/bin/bash
# Point-in-time recovery drill with pgBackRest (issue 22 items 3 and 5), on a PostgreSQL
# cluster of its own (initdb as postgres in a temporary directory, loopback, WAL archiving
# through pgBackRest). Usage: test_pitr.sh DECPCTL. Prints "N passed, N failed" and the
# time each step took (docs/operations.md "Backups" quotes them against the seed's RTO).
#   write signals, full backup, more signals, incremental backup, note the time T1, more
#   signals ("after"), note T2, more; destroy the data directory; decpctl backup restore
#   --time T1; start: every signal written before T1 is there, none after it. That restore
#   began timeline 2 (one more signal batch on it): restore --time T2 is then ambiguous (T2
#   is on timeline 1, where "after" exists, and on timeline 2, where it does not) and is
#   refused (exit 3, nothing changed) until --timeline says which; --timeline latest gives
#   timeline 2's state, --timeline 1 timeline 1's, with "after". --timeline N without
#   --time: the end of timeline N (1: all four batches; 4, begun at T2 from 1: T2's state).
D="$1"
. "$(dirname "$0")/../decpctl/testlib.sh"
[ -x "$D" ] || { echo "usage: test_pitr.sh DECPCTL"; echo "0 passed, 1 failed"; exit 1; }
command -v pgbackrest >/dev/null || { echo "pgbackrest missing (tools/bootstrap installs it)"; echo "0 passed, 1 failed"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to run PostgreSQL as postgres"; exit 77; }

BIN=/usr/lib/postgresql/15/bin
T=$(mktemp -d /tmp/decp-pitr.XXXXXX)
chmod 755 "$T"
DATA="$T/data"
SOCK="$T/sock"
CONF="$T/pgbackrest.conf"
mkdir -p "$SOCK" && chown postgres:postgres "$T" "$SOCK"
as_pg() { runuser -u postgres -- "$@"; }
pg_stop() { [ -f "$DATA/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DATA" -m "${1:-fast}" -w stop >/dev/null 2>&1; }
cleanup() { pg_stop immediate; rm -rf "$T"; }
trap cleanup EXIT

PORT=$(free_port) || { echo "no free port"; echo "0 passed, 1 failed"; exit 1; }
CONN="host=127.0.0.1 port=$PORT dbname=decp user=postgres connect_timeout=5"
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$CONN" -c "$1"; }
qapp() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$CONN user=decp_app" -c "$1"; }
pg_start() {
	as_pg "$BIN/pg_ctl" -D "$DATA" -l "$T/postgres.log" -w -t 120 start >/dev/null
}
now_s() { date +%s.%N; }
since() { echo "$1 $(now_s)" | awk '{printf "%.1f", $2 - $1}'; }

as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust >"$T/initdb.log" 2>&1 || { cat "$T/initdb.log"; echo "0 passed, 1 failed"; exit 1; }
cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
wal_level = replica
archive_mode = on
archive_command = 'pgbackrest --config=$CONF --stanza=decp archive-push %p'
archive_timeout = 0
max_connections = 20
shared_buffers = 32MB
EOF
# The first start: a test running beside this one may take the free port between
# free_port's probe and the postmaster's bind; then another port (5 tries).
for try in 1 2 3 4 5; do
	pg_start && break
	tail -5 "$T/postgres.log" | grep -q "Address already in use" && [ $try -lt 5 ] ||
		{ tail "$T/postgres.log"; echo "0 passed, 1 failed"; exit 1; }
	PORT=$(free_port) || { echo "no free port"; echo "0 passed, 1 failed"; exit 1; }
	sed -i "s/^port = .*/port = $PORT/" "$DATA/postgresql.conf"
	CONN="host=127.0.0.1 port=$PORT dbname=decp user=postgres connect_timeout=5"
done
as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres decp
"$D" db migrate --conninfo "$CONN" >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }

# Usage and refusals.
check help 0 "$D" backup --help
check no_sub 2 "$D" backup
check bad_sub 2 "$D" backup frobnicate
check init_no_repo 2 "$D" backup init --config-file "$CONF" --pgdata "$DATA"
check relative_repo 2 "$D" backup init --config-file "$CONF" --repo repo --pgdata "$DATA"
check no_config 1 "$D" backup full --config-file "$T/none.conf"
check time_not_restore 2 "$D" backup full --config-file "$CONF" --time "2026-01-01 00:00:00+00"

out=$("$D" backup init --config-file "$CONF" --repo "$T/repo" --pgdata "$DATA" --pg-port "$PORT" --pg-socket "$SOCK" 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "stanza decp ready: WAL archiving checked" && ok || bad "init: $rc $out"
# init names archive_timeout with the lines PostgreSQL needs: without it the last commits of a
# quiet database wait in a WAL segment that is never archived, and a restore loses them
echo "$out" | grep -q "^  archive_timeout = 30 " && ok || bad "init does not name archive_timeout: $out"
check init_again 0 "$D" backup init --config-file "$CONF" --repo "$T/repo" --pgdata "$DATA" --pg-port "$PORT" --pg-socket "$SOCK"
check init_other 3 "$D" backup init --config-file "$CONF" --repo "$T/repo2" --pgdata "$DATA" --pg-port "$PORT" --pg-socket "$SOCK"

batch() { # first last: signals of master 1, as the archiver writes them
	qapp "INSERT INTO signal_archive (master_id, sequence, arrival_time, arrival_ns, symbol,
	      order_type, volume, body) SELECT 1, s, clock_timestamp(), 1, 'EURUSD', 'BUY', 1, '\\x00'
	      FROM generate_series($1, $2) s" >/dev/null
}
batch 1 1000
t0=$(now_s)
out=$("$D" backup full --config-file "$CONF" 2>&1) && ok || bad "full: $out"
echo "full backup: $(since "$t0") s"
batch 1001 2000
t0=$(now_s)
out=$("$D" backup incr --config-file "$CONF" 2>&1) && ok || bad "incr: $out"
echo "incremental backup: $(since "$t0") s"
# The target: after batch 2 committed, before batch 3 (commit times are microseconds).
utc_now() { q "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'"; }
TARGET=$(utc_now)
q "SELECT pg_sleep(0.01)" >/dev/null
batch 2001 3000
# T2: after batch 3 ("after") committed, before batch 4, on timeline 1.
q "SELECT pg_sleep(0.01)" >/dev/null
TARGET2=$(utc_now)
q "SELECT pg_sleep(0.01)" >/dev/null
batch 3001 3100
# Batches 3 and 4's WAL archived, so recovery can read past either target and stop there.
wal=$(q "SELECT pg_walfile_name(pg_current_wal_lsn())")
q "SELECT pg_switch_wal()" >/dev/null
for _ in $(seq 1 600); do
	last=$(q "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
	[[ "$last" > "$wal" || "$last" == "$wal" ]] && break
	sleep 0.1
done
[[ "$last" > "$wal" || "$last" == "$wal" ]] && ok || bad "WAL $wal not archived (last $last)"

out=$("$D" backup list --config-file "$CONF" 2>&1)
[ "$(echo "$out" | grep -c ' full \| incr ')" = 2 ] && echo "$out" | grep -q "^2 backup(s); a restore reaches" && ok || bad "list: $out"
echo "$out" | grep -q "^WAL archive: timeline 1$" && ok || bad "list does not name the one timeline: $out"
check list_json 0 "$D" backup list --config-file "$CONF" --json
check restore_running 3 "$D" backup restore --config-file "$CONF" --time "$TARGET" --yes

# Disaster: PostgreSQL dies and its data directory is lost.
pg_stop immediate
rm -rf "$DATA"
check restore_no_yes 3 "$D" backup restore --config-file "$CONF" --time "$TARGET"
t0=$(now_s)
out=$("$D" backup restore --config-file "$CONF" --time "$TARGET" --yes 2>&1) && ok || bad "restore: $out"
t_restore=$(since "$t0")
t1=$(now_s)
pg_start || bad "start after restore: $(tail -5 "$T/postgres.log")"
for _ in $(seq 1 600); do
	[ "$(q "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ] && break
	sleep 0.1
done
t_open=$(since "$t1")
[ "$(q "SELECT pg_is_in_recovery()")" = f ] && ok || bad "still in recovery"
got=$(q "SELECT count(*) || ' ' || coalesce(min(sequence), 0) || ' ' || coalesce(max(sequence), 0) FROM signal_archive")
[ "$got" = "2000 1 2000" ] && ok || bad "after PITR to $TARGET: rows/min/max $got, want 2000 1 2000"
[ "$(q "SELECT count(*) FROM signal_archive_keys")" = 2000 ] && ok || bad "dedup keys after PITR"
# The restore began timeline 2: its history file is archived at once, its first WAL only
# when a segment fills. `backup list` names both timelines from the history file already
# (reading WAL names only it said "timeline 1", and a restore --time then was not refused).
for _ in $(seq 1 600); do
	ls "$T"/repo/archive/decp/*/00000002.history >/dev/null 2>&1 && break
	sleep 0.1
done
out=$("$D" backup list --config-file "$CONF" 2>&1)
echo "$out" | grep -q "^WAL archive: timelines 1 to 2 " && ok || bad "list right after the restore, 00000002.history archived: $out"
# The restored cluster archives again (on timeline 2, begun by the restore) and takes new
# backups.
batch 5001 5100
check full_after_restore 0 "$D" backup full --config-file "$CONF"
echo "PITR drill: restore $t_restore s, WAL replay and open $t_open s (total $(echo "$t_restore $t_open" | awk '{print $1 + $2}') s)"

# A second restore, to T2 (later than T1): timeline 1 holds "after" (2001-3000) at T2,
# timeline 2 does not. Without --timeline pgBackRest and PostgreSQL follow the latest
# timeline and the state silently lacks "after"; decpctl refuses instead.
started_open() { # start PostgreSQL, wait (bounded) until it has replayed and opened
	pg_start || { bad "start: $(tail -5 "$T/postgres.log")"; return 1; }
	for _ in $(seq 1 600); do
		[ "$(q "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ] && return 0
		sleep 0.1
	done
	bad "still in recovery: $(tail -5 "$T/postgres.log")"
	return 1
}
rows() { q "SELECT count(*) || ' ' || coalesce(min(sequence), 0) || ' ' || coalesce(max(sequence), 0) FROM signal_archive"; }
out=$("$D" backup list --config-file "$CONF" 2>&1)
echo "$out" | grep -q "^WAL archive: timelines 1 to 2 .*--timeline" && ok || bad "list does not name the timelines: $out"
echo "$out" | grep -q "^  timeline 2 began from timeline 1 at .*before " && ok || bad "list does not say where timeline 2 began: $out"
pg_stop fast
sum_data() { (cd "$DATA" && find . -type f -print0 | sort -z | xargs -0 md5sum) | md5sum; }
before=$(sum_data)
out=$("$D" backup restore --config-file "$CONF" --time "$TARGET2" --yes 2>&1); rc=$?
[ $rc = 3 ] && ok || bad "restore --time T2 without --timeline: exit $rc, want 3 (refused): $out"
echo "$out" | grep -q "timelines 1 to 2" && echo "$out" | grep -q -- "--timeline 1 .*before the restore that began timeline 2" &&
	echo "$out" | grep -q -- "--timeline latest" && ok || bad "refusal does not name the timelines and what to pass: $out"
[ "$(sum_data)" = "$before" ] && ok || bad "the refused restore changed $DATA"
got=; started_open && got=$(rows)
[ "$got" = "2100 1 5100" ] && ok || bad "after the refused restore: rows/min/max $got, want timeline 2's 2100 1 5100"
pg_stop fast
check restore_bad_timeline 2 "$D" backup restore --config-file "$CONF" --time "$TARGET2" --timeline x --yes
check timeline_not_restore 2 "$D" backup full --config-file "$CONF" --timeline 1
check timeline_unknown_no_time 2 "$D" backup restore --config-file "$CONF" --timeline 7 --yes
# a timeline the archive does not hold: refused before anything is touched
check restore_unknown_timeline 2 "$D" backup restore --config-file "$CONF" --time "$TARGET2" --timeline 7 --yes
# --timeline latest: timeline 2's history at T2 (T1's state: "after" is not on it).
out=$("$D" backup restore --config-file "$CONF" --time "$TARGET2" --timeline latest --yes 2>&1) && ok || bad "restore --timeline latest: $out"
got=; started_open && got=$(rows)
[ "$got" = "2000 1 2000" ] && ok || bad "restore to T2 on the latest timeline: rows/min/max $got, want 2000 1 2000"
pg_stop fast
# --timeline 1: the history before the restore that began timeline 2: "after" is there,
# batch 4 (after T2) and timeline 2's batch are not.
out=$("$D" backup restore --config-file "$CONF" --time "$TARGET2" --timeline 1 --yes 2>&1) && ok || bad "restore --timeline 1: $out"
echo "$out" | grep -q "to $TARGET2 on timeline 1 " && ok || bad "restore does not say the timeline: $out"
got=; started_open && got=$(rows)
[ "$got" = "3000 1 3000" ] && ok || bad "restore to T2 on timeline 1: rows/min/max $got, want 3000 1 3000 (\"after\" present)"
[ "$(q "SELECT count(*) FROM signal_archive_keys")" = 3000 ] && ok || bad "dedup keys after the timeline 1 restore"

# --timeline N without --time: the end of timeline N (everything its WAL holds). The
# restores so far began timelines 2 (T1 on 1), 3 (T2 on 2) and 4 (T2 on 1). The newest
# backup is timeline 2's (full_after_restore), which cannot reach timeline 1 or 4: decpctl
# picks the newest backup on N's history (here the incremental on timeline 1).
pg_stop fast
out=$("$D" backup restore --config-file "$CONF" --timeline 1 --yes 2>&1) && ok || bad "restore --timeline 1 (to its end): $out"
echo "$out" | grep -q "to the end of timeline 1 " && ok || bad "restore does not say the end of timeline 1: $out"
got=; started_open && got=$(rows)
[ "$got" = "3100 1 3100" ] && ok || bad "restore to the end of timeline 1: rows/min/max $got, want 3100 1 3100 (all of timeline 1)"
pg_stop fast
# timeline 4: branched from timeline 1 at T2, no backup of its own, no WAL after it
out=$("$D" backup restore --config-file "$CONF" --timeline 4 --yes 2>&1) && ok || bad "restore --timeline 4 (to its end): $out"
got=; started_open && got=$(rows)
[ "$got" = "3000 1 3000" ] && ok || bad "restore to the end of timeline 4: rows/min/max $got, want 3000 1 3000"

pg_stop fast
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
