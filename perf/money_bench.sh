#!/bin/sh
# Deposits per second through wallet_deposit() (4 clients, 8 wallets, 10 s of pgbench),
# to see what a schema change costs the money path (issue 20: the hash chain of 0012).
# Run under decp-testenv with the migrations to compare:
#   tests/harness/decp-testenv --pg -- perf/money_bench.sh build/release/sql/decp-migrate
#   tests/harness/decp-testenv --pg -- perf/money_bench.sh build/release/sql/decp-migrate --dir DIR
# (DIR holding a subset of sql/migrations, e.g. 0001-0011). Prints pgbench's tps line.
set -e
migrate=${1:?usage: money_bench.sh DECP-MIGRATE [--dir DIR]}
shift
[ -n "$DECP_PG_CONNINFO" ] || { echo "run under decp-testenv --pg" >&2; exit 2; }
"$migrate" "$@" >/dev/null
psql -X -q -c "INSERT INTO subscribers (name) SELECT 's' || g FROM generate_series(1, 8) g" >/dev/null
script=$(mktemp)
trap 'rm -f "$script"' EXIT
printf '%s\n' '\set s random(1, 8)' 'SELECT wallet_deposit(:s, 1);' > "$script"
pgbench -n -c 4 -j 2 -T 10 -f "$script" | grep -E "tps|latency average"
