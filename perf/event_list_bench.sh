#!/usr/bin/env bash
# event_list_bench.sh: GET /v1/protection-events's statements for a subscriber with a few
# events while another subscriber's EVENTS events fill the table (docs/perf.md "api",
# "A subscriber's protection events"). Run inside decp-testenv (it provides PostgreSQL):
#
#   build/release/tests/harness/decp-testenv --pg -- perf/event_list_bench.sh build/release [EVENTS]
#
# Prints the execution time (EXPLAIN ANALYZE, 3 runs each) of: the single join the api ran
# before (planned for any subscription: one generic plan), and the two statements it runs
# now (the subscriber's subscription ids, then the events of those ids as values).
set -eu
B=${1:?usage: event_list_bench.sh BUILD_DIR [EVENTS]}
N=${2:-2000000}
C=${DECP_PG_CONNINFO:?run inside decp-testenv --pg}
"$B/sql/decp-migrate" --conninfo "$C" >/dev/null
echo "loading: subscriber 2 with $N events (one subscription), subscriber 1 with 5"
psql "$C" -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO masters (id, name, hmac_secret, ed25519_public_key)
  VALUES (1, 'm', decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'));
INSERT INTO subscribers (id, name) VALUES (1, 'a'), (2, 'b');
INSERT INTO subscriptions (id, master_id, subscriber_id) VALUES (1, 1, 1), (2, 1, 2);
INSERT INTO protection_logs (event_time, subscriber_id, subscription_id, master_id, sequence, reason)
  SELECT now() - (i % 80) * interval '1 day', 2, 2, 1, i, 'TTL_EXPIRED' FROM generate_series(1, $N) i;
INSERT INTO protection_logs (event_time, subscriber_id, subscription_id, master_id, sequence, reason)
  SELECT now(), 1, 1, 1, i, 'SEQUENCE_GAP' FROM generate_series(1, 5) i;
ANALYZE;
SQL
run() { # LABEL SQL...: execution time of 3 runs
	local t
	t=$(psql "$C" -At <<SQL | sed -n 's/.*Execution Time: \([0-9.]*\) ms.*/\1/p' | tr '\n' ' '
$2
EXPLAIN (ANALYZE) $3;
EXPLAIN (ANALYZE) $3;
EXPLAIN (ANALYZE) $3;
SQL
)
	printf '%-52s %s ms\n' "$1" "$t"
}
for reason in NULL "'SEQUENCE_GAP'"; do
	run "before: one join, subscriber 1, reason $reason" \
		"PREPARE q(bigint, text, bigint, bigint, bigint) AS SELECT l.id FROM protection_logs l
		 WHERE (\$1::bigint IS NULL OR l.subscription_id = \$1) AND (\$2::text IS NULL OR
		 l.reason = \$2) AND l.id < \$3::bigint AND (\$5::bigint IS NULL OR l.subscription_id IN
		 (SELECT id FROM subscriptions WHERE subscriber_id = \$5)) ORDER BY l.id DESC LIMIT \$4;" \
		"EXECUTE q(NULL, $reason, 9223372036854775807, 100, 1)"
	run "now: subscription ids, subscriber 1" "" \
		"SELECT coalesce(array_agg(id), '{}')::text FROM subscriptions WHERE id IS NOT NULL AND subscriber_id = 1"
	run "now: events of {1}, reason $reason" "" \
		"SELECT l.id FROM protection_logs l WHERE l.subscription_id = ANY('{1}'::bigint[]) AND
		 ($reason::text IS NULL OR l.reason = $reason) AND l.id < 9223372036854775807
		 ORDER BY l.id DESC LIMIT 100"
	run "now: events of {2} (its own $N), reason $reason" "" \
		"SELECT l.id FROM protection_logs l WHERE l.subscription_id = ANY('{2}'::bigint[]) AND
		 ($reason::text IS NULL OR l.reason = $reason) AND l.id < 9223372036854775807
		 ORDER BY l.id DESC LIMIT 100"
done
