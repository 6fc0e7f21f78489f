#!/bin/bash
# Point-in-time recovery drill with pgBackRest (issue 22 items 3 and 5), on a PostgreSQL
# cluster of its own (initdb as postgres in a temporary directory, loopback, WAL archiving
# through pgBackRest). Usage: test_pitr.sh DECPCTL. Prints "N passed, N failed" and the
# time each step took (docs/operations.md "Backups" quotes them against the seed's RTO).
#   write signals, full backup, more signals, incremental backup, note the time, more
#   signals; destroy the data directory; decpctl backup restore --time; start: every signal
#   written before that time is there, none after it.
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
TARGET=$(q "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
q "SELECT pg_sleep(0.01)" >/dev/null
batch 2001 3000
# Batch 3's WAL archived, so recovery can read past the target and stop there.
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
# The restored cluster archives again and takes new backups.
batch 2001 2100
check full_after_restore 0 "$D" backup full --config-file "$CONF"
echo "PITR drill: restore $t_restore s, WAL replay and open $t_open s (total $(echo "$t_restore $t_open" | awk '{print $1 + $2}') s)"

pg_stop fast
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
