#!/bin/bash
# bench_archive_copy.sh - PostgreSQL's CPU per signal_archive row for one way of inserting
# (docs/perf.md "control", "Archive"). Not a test: run it under decp-testenv, which gives
# it a throw-away PostgreSQL (PGHOST/PGPORT/... and DECP_PG_CONNINFO):
#
#   build/tests/harness/decp-testenv --pg -- tests/sql/bench_archive_copy.sh \
#       build/sql/decp-migrate MIGRATIONS_DIR direct|stage [BATCHES [ROWS]]
#
# Migrates the database from MIGRATIONS_DIR (e.g. a directory holding only 0001-0006, for
# the schema before 0007), writes BATCHES binary COPY files of ROWS rows (20 masters), then
# inserts them in one session, one transaction per batch: "direct" = COPY signal_archive;
# "stage" = COPY into a temporary table + INSERT ... SELECT that skips archived keys (the
# archiver's filtered path). Prints the backend's CPU per row (from /proc) and wall time.
set -eu
if [ $# -lt 3 ] || [ "$1" = "--help" ]; then
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
MIGRATE=$1 MIG=$2 VAR=$3 NB=${4:-40} BS=${5:-5000}
case $VAR in direct|stage) ;; *) echo "variant must be direct or stage" >&2; exit 2;; esac
"$MIGRATE" --conninfo "$DECP_PG_CONNINFO" --dir "$MIG" >/dev/null
D=$(mktemp -d); chmod 777 "$D"
trap 'rm -rf "$D"' EXIT
COLS="master_id, sequence, arrival_time, arrival_ns, master_time_ns, symbol, order_type,
 volume, price, sl, tp, position_ticket, body, hmac, ed25519_sig"
psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE UNLOGGED TABLE bench_src AS SELECT (g % 20 + 1)::bigint AS master_id,
  (g / 20 + 1)::bigint AS sequence, now() + (g || ' us')::interval AS arrival_time,
  1700000000000000000 + g AS arrival_ns, 1700000000000000000::bigint AS master_time_ns,
  'EURUSD'::text AS symbol, 'BUY'::text AS order_type, 100000::bigint AS volume,
  108000::bigint AS price, 107000::bigint AS sl, 109000::bigint AS tp,
  g::bigint AS position_ticket, decode(repeat('ab', 60), 'hex') AS body,
  decode(repeat('cd', 32), 'hex') AS hmac, decode(repeat('ef', 64), 'hex') AS ed25519_sig
  FROM generate_series(0, $NB * $BS - 1) g;
SQL
for i in $(seq 0 $((NB - 1))); do
	psql -qAtX -v ON_ERROR_STOP=1 -c "COPY (SELECT * FROM bench_src WHERE position_ticket
	  >= $((i * BS)) AND position_ticket < $(((i + 1) * BS))) TO '$D/b$i' (FORMAT binary)"
done
{
	echo "\\o $D/pid"
	echo "SELECT pg_backend_pid();"
	echo "\\o"
	echo "\\! awk '{print \$14 + \$15}' /proc/\$(cat $D/pid)/stat > $D/cpu0"
	[ "$VAR" = stage ] && echo "CREATE TEMP TABLE stage (LIKE signal_archive INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;"
	for i in $(seq 0 $((NB - 1))); do
		echo "BEGIN;"
		if [ "$VAR" = direct ]; then
			echo "COPY signal_archive ($COLS) FROM '$D/b$i' (FORMAT binary);"
		else
			echo "COPY stage ($COLS) FROM '$D/b$i' (FORMAT binary);"
			echo "INSERT INTO signal_archive ($COLS) SELECT $COLS FROM stage s WHERE NOT EXISTS"
			echo " (SELECT 1 FROM signal_archive_keys k WHERE k.master_id = s.master_id"
			echo " AND k.sequence = s.sequence);"
		fi
		echo "COMMIT;"
	done
	echo "\\! awk '{print \$14 + \$15}' /proc/\$(cat $D/pid)/stat > $D/cpu1"
} > "$D/run.sql"
T0=$(date +%s%N)
psql -qAtX -v ON_ERROR_STOP=1 -f "$D/run.sql" >/dev/null
T1=$(date +%s%N)
HZ=$(getconf CLK_TCK)
ROWS=$(psql -qAtX -c "SELECT count(*) FROM signal_archive")
awk -v c0="$(cat "$D/cpu0")" -v c1="$(cat "$D/cpu1")" -v hz="$HZ" -v n=$((NB * BS)) \
    -v w=$((T1 - T0)) -v var="$VAR" -v mig="$(basename "$MIG")" -v rows="$ROWS" 'BEGIN {
	printf "%s (%s): %d rows in %.2f s, backend CPU %.2f us per row, %d rows archived\n",
	       var, mig, n, w / 1e9, (c1 - c0) / hz * 1e6 / n, rows }'
