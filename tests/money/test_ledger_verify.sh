#!/bin/sh
# The owner-proof, tamper-evident ledger (issue 20 item 3) against a real PostgreSQL, run
# under decp-testenv --pg. Usage: test_ledger_verify.sh DECPCTL. Prints "N passed, N failed".
#   - as the superuser that migrated (the owner of everything else), as a login holding
#     the money owner role decp_money, as the application role decp_app and as an operator
#     (a login in decp_app): every attempt to alter, disable triggers on, update or delete
#     ledger rows or wallets is refused, with the SQLSTATE that says why;
#   - decpctl ledger verify passes on honest data and, after a superuser changes a row
#     with the triggers off (session_replication_role = replica), names that row; a wallet
#     changed so is named; a consistently re-hashed chain is caught by a checkpoint;
#   - the profit history (sql 0032): 0031's data backfilled; executions, sets, a NO_FEE
#     charge, a cancel and a carry-over replay to each subscription's profit; a profit
#     lowered as decp_money, an execution_pnl row without its event or rewritten are named;
#   - the profit events' hash chain (sql 0035): the events of a database at 0034 chained by
#     the migration, a checkpoint of 0034 (no profit head) still verified; an event edited
#     with the triggers off is named by its hash; an event and its profit rewritten and the
#     chain re-hashed consistently is caught by the checkpoint's profit head, and, the
#     checkpoint in the database rewritten too, by the line kept outside (--heads).
D="$1"
. "$(dirname "$0")/../decpctl/testlib.sh"
[ -n "$D" ] && [ -n "$DECP_PG_CONNINFO" ] || { echo "usage: run under decp-testenv --pg"; echo "0 passed, 1 failed"; exit 1; }

# psql as a role; prints the SQLSTATE of the first error ("ok" when none).
as() { # role, sql
	out=$(psql -X -q -t -A -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
		-d "$DECP_PG_CONNINFO user=$1" -c "$2" 2>&1)
	code=$(printf '%s\n' "$out" | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -1)
	echo "${code:-ok}"
}
refused() { # name, want sqlstate, role, sql
	got=$(as "$3" "$4")
	if [ "$got" = "$2" ]; then ok; else bad "$1: as $3 got $got, want $2 ($4)"; fi
}
app="$DECP_PG_CONNINFO user=decp_app"
qa() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$app" -c "$1"; }

# Up to 0031 first, with a profit history 0032 must take over (its backfill): executions
# of gains and losses, and an explicit profit whose fraction the old sync rule kept.
old=$(mktemp -d)
cp "$(dirname "$0")"/../../sql/migrations/00[0-2]*.sql "$(dirname "$0")"/../../sql/migrations/0030_*.sql \
	"$(dirname "$0")"/../../sql/migrations/0031_*.sql "$old"/
"$D" db migrate --dir "$old" >/dev/null || { echo "migrate to 0031 failed"; echo "0 passed, 1 failed"; exit 1; }
rm -rf "$old"
om=$(qa "INSERT INTO masters (name, hmac_secret, ed25519_public_key) VALUES ('before 0032',
	decode(repeat('ab', 32), 'hex'), decode(repeat('cd', 32), 'hex')) RETURNING id")
os=$(qa "INSERT INTO subscribers (name) VALUES ('before 0032') RETURNING id")
osub=$(qa "INSERT INTO subscriptions (master_id, subscriber_id) VALUES ($om, $os) RETURNING id")
qa "SELECT subscription_report_execution($osub, 1, 1, 'CLOSED', 1, 1, 100.0049)" >/dev/null &&
	qa "SELECT subscription_report_executions(ARRAY[$osub, $osub], ARRAY[2, 3], ARRAY[2, 3], ARRAY['CLOSED', 'CLOSED'], ARRAY[1, 1], ARRAY[1, 1], ARRAY[-50, 7])" >/dev/null &&
	qa "SELECT subscription_record_profit($osub, 57.00)" >/dev/null || bad "history before 0032"
[ "$(qa "SELECT profit_exact FROM subscriptions WHERE id = $osub")" = 57.0049 ] && ok || bad "0013's rule kept the fraction"
# Then up to 0034 (the profit events of 0032, not chained yet), with events of every writer
# there: the backfill, executions one by one and in a batch (two of one subscription, given
# out of seq order), a set, a carry-over; and a checkpoint of that time (no profit head).
old=$(mktemp -d)
cp "$(dirname "$0")"/../../sql/migrations/00[0-2]*.sql "$(dirname "$0")"/../../sql/migrations/003[0-4]_*.sql "$old"/
"$D" db migrate --dir "$old" >/dev/null || { echo "migrate to 0034 failed"; echo "0 passed, 1 failed"; exit 1; }
rm -rf "$old"
[ "$(qa "SELECT string_agg(kind || ' ' || amount, ',' ORDER BY seq) FROM profit_events WHERE subscription_id = $osub")" = \
	"execution 100.0049,execution -50.0000,execution 7.0000,set 57.0049" ] && ok || bad "backfill of $osub"
[ "$(qa "SELECT profit_exact FROM subscription_report_execution($osub, 4, 4, 'CLOSED', 1, 1, 1)")" = 58.0049 ] &&
	ok || bad "an execution after the backfill"
[ "$(qa "SELECT subscription_report_executions(ARRAY[$osub, $osub], ARRAY[6, 5], ARRAY[6, 5], ARRAY['CLOSED', 'CLOSED'], ARRAY[1, 1], ARRAY[1, 1], ARRAY[2, -1.5])")" = 2 ] &&
	qa "SELECT subscription_record_profit($osub, 60.25)" >/dev/null &&
	qa "SELECT * FROM subscription_cancel($osub, 'before 0035')" >/dev/null || bad "history at 0034"
osub2=$(qa "INSERT INTO subscriptions (master_id, subscriber_id) VALUES ($om, $os) RETURNING id")
qa "SELECT subscription_report_execution($osub2, 7, 7, 'CLOSED', 1, 1, 3)" >/dev/null || bad "execution at 0034"
oldcp=$(qa "SELECT 'decp-control archiver: ledger checkpoint ' || id || ': rows ' || rows || ' wallets ' || wallets || ' head ' || head FROM ledger_checkpoint()")
[ -n "$oldcp" ] || bad "checkpoint at 0034"
# this decpctl names a database without the profit chain (exit 1), not a missing function
out=$("$D" ledger verify 2>&1); rc=$?
[ "$rc" = 1 ] && case $out in *"no profit chain (migration 0035)"*"decp-migrate"*) true ;; *) false ;; esac &&
	ok || bad "verify at 0034: $rc $out"
"$D" db migrate >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }
# ... 0035 chained them, per subscription in seq order, as its trigger chains new ones
[ "$(qa "SELECT string_agg(kind || ' ' || amount, ',' ORDER BY seq) FROM profit_events WHERE subscription_id = $osub")" = \
	"execution 100.0049,execution -50.0000,execution 7.0000,set 57.0049,execution 1.0000,execution -1.5000,execution 2.0000,set 60.2500" ] &&
	ok || bad "the events of $osub at 0034"
[ "$(qa "SELECT count(*) FROM profit_events e LEFT JOIN profit_events p ON p.subscription_id = e.subscription_id AND p.seq = e.seq - 1
	WHERE e.prev_hash IS DISTINCT FROM coalesce(p.row_hash, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)")" = 0 ] &&
	[ "$(qa "SELECT count(DISTINCT row_hash) = count(*) AND count(*) = 10 FROM profit_events")" = t ] &&
	ok || bad "0035 linked the events of 0032-0034"
[ "$(qa "SELECT carried_from FROM profit_events WHERE subscription_id = $osub2 AND seq = 1")" = "$osub" ] &&
	ok || bad "carry at 0034"
oldkept=$(mktemp)
echo "$oldcp" > "$oldkept"
out=$("$D" ledger verify --heads "$oldkept" 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "10 profit events of 2 subscriptions" && ok ||
	bad "verify after 0035, with the checkpoint of 0034 kept outside: $rc $out"
rm -f "$oldkept"
[ "$(qa "SELECT profit_exact FROM subscription_report_execution($osub2, 8, 8, 'CLOSED', 1, 1, 1)")" = 64.2500 ] &&
	ok || bad "an execution after 0035"

# Usage and help.
check help 0 "$D" ledger --help
check verify_help 0 "$D" ledger verify --help
check no_sub 2 "$D" ledger
check bad_sub 2 "$D" ledger frobnicate
check bad_opt 2 "$D" ledger verify --frob
check bad_checkpoints 2 "$D" ledger verify --checkpoints 1001
check wrong_opt 2 "$D" ledger verify --checkpoint
check extra_arg 2 "$D" ledger head extra
check no_db 2 env -u DECP_PG_CONNINFO "$D" ledger verify
check bad_db 1 "$D" ledger verify --conninfo "host=127.0.0.1 port=1 connect_timeout=2"

# Some money, as the application: deposits, fees, a receivable and its payment.
m=$(qa "INSERT INTO masters (name, hmac_secret, ed25519_public_key) VALUES ('m',
	decode(repeat('ab', 32), 'hex'), decode(repeat('cd', 32), 'hex')) RETURNING id")
s=$(qa "INSERT INTO subscribers (name) VALUES ('s; DROP TABLE x') RETURNING id")
s2=$(qa "INSERT INTO subscribers (name) VALUES ('two') RETURNING id")
sub=$(qa "INSERT INTO subscriptions (master_id, subscriber_id) VALUES ($m, $s) RETURNING id")
qa "SELECT wallet_deposit($s, 1000, 'wire ünïcødé | 5:x -')" >/dev/null || bad "deposit"
qa "SELECT wallet_deposit($s2, 5)" >/dev/null || bad "deposit 2"
qa "SELECT * FROM charge_performance_fee($sub, 1000)" >/dev/null || bad "fee 1"
qa "SELECT wallet_withdraw($s, 700)" >/dev/null || bad "withdraw"
qa "SELECT * FROM charge_performance_fee($sub, 2000)" >/dev/null || bad "fee 2 (receivable)"
qa "SELECT wallet_deposit($s, 300)" >/dev/null || bad "deposit pays"
[ "$(qa "SELECT entry_type FROM billing_ledger WHERE subscriber_id = $s ORDER BY entry_no DESC LIMIT 1")" = RECEIVABLE_PAID ] &&
	ok || bad "receivable paid"

out=$("$D" ledger verify 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "^verified 8 ledger rows in 3 wallets .* 14 profit events of 3 subscriptions" &&
	ok || bad "verify honest: $rc $out"
head=$(echo "$out" | sed -n 's/.*chain head \([0-9a-f]*\)$/\1/p')
phead=$(echo "$out" | sed -n 's/.*(profit head \([0-9a-f]*\)).*/\1/p')
dbout=$("$D" ledger head)
dbhead=$(echo "$dbout" | sed -n 's/^rows .* head \([0-9a-f]*\) profit_events .*/\1/p')
dbphead=$(echo "$dbout" | sed -n 's/.* profit_events 14 subscriptions 3 profit_head \([0-9a-f]*\)$/\1/p')
[ -n "$head" ] && [ "$head" = "$dbhead" ] && ok || bad "C head $head vs database head $dbhead"
[ -n "$phead" ] && [ "$phead" = "$dbphead" ] && ok || bad "C profit head $phead vs database's: $dbout"
# The application may verify and checkpoint; a checkpoint is then verified too.
check checkpoint 0 "$D" ledger head --checkpoint --conninfo "$app"
check head_as_app 0 "$D" ledger head --conninfo "$app"
out=$("$D" ledger verify --conninfo "$app" 2>&1)
echo "$out" | grep -q "2 checkpoints" && ok || bad "verify as decp_app with a checkpoint: $out"
qa "SELECT wallet_deposit($s2, 1)" >/dev/null || bad "deposit after checkpoint"

# Roles: a login holding the money owner role, and an operator in decp_app.
q "CREATE ROLE mallory LOGIN; GRANT decp_money TO mallory; CREATE ROLE ops LOGIN IN ROLE decp_app;" || bad "roles"
for who in postgres mallory decp_app ops; do
	pre=""; [ $who = mallory ] && pre="SET ROLE decp_money; "
	[ $who = postgres ] && { own=DP012; dml=DP010; wal=DP011; } || { own=42501; dml=42501; wal=42501; }
	[ $who = mallory ] && { own=DP012; dml=DP010; wal=DP011; }
	refused "$who disable" $own $who "${pre}ALTER TABLE billing_ledger DISABLE TRIGGER USER"
	refused "$who disable one" $own $who "${pre}ALTER TABLE billing_ledger DISABLE TRIGGER billing_ledger_no_update"
	refused "$who wallets disable" $own $who "${pre}ALTER TABLE user_wallets DISABLE TRIGGER user_wallets_follow_ledger"
	refused "$who drop trigger" $own $who "${pre}DROP TRIGGER billing_ledger_chain ON billing_ledger"
	refused "$who drop" $own $who "${pre}DROP TABLE billing_ledger CASCADE"
	refused "$who alter fn" $own $who "${pre}ALTER FUNCTION billing_ledger_refuse() SECURITY DEFINER"
	# replacing a function needs CREATE on the schema as well, which only the owner has
	[ $who = mallory ] && rep=42501 || rep=$own
	refused "$who replace fn" $rep $who "${pre}CREATE OR REPLACE FUNCTION billing_ledger_refuse() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'"
	refused "$who update" $dml $who "${pre}UPDATE billing_ledger SET amount = 0"
	refused "$who delete" $dml $who "${pre}DELETE FROM billing_ledger WHERE subscriber_id = $s"
	refused "$who truncate" $dml $who "${pre}TRUNCATE billing_ledger CASCADE"
	refused "$who wallet" $wal $who "${pre}UPDATE user_wallets SET balance_usd = 1480 WHERE subscriber_id = $s"
	refused "$who checkpoint" $dml $who "${pre}DELETE FROM ledger_checkpoints"
	refused "$who profit events" $dml $who "${pre}DELETE FROM profit_events"
	refused "$who profit events update" $dml $who "${pre}UPDATE profit_events SET amount = 0"
	refused "$who profit chain disable" $own $who "${pre}ALTER TABLE profit_events DISABLE TRIGGER profit_events_chain"
	refused "$who profit chain replaced" $rep $who "${pre}CREATE OR REPLACE FUNCTION profit_events_chain() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'"
done
# The settlement and continuation triggers on subscriptions (owned by the migrating role)
# cannot be switched off either.
refused "owner disable settle" DP012 postgres "ALTER TABLE subscriptions DISABLE TRIGGER subscriptions_settle"
refused "owner drop settle" DP012 postgres "DROP TRIGGER subscriptions_settle ON subscriptions"
refused "owner replica-only" DP012 postgres "ALTER TABLE subscriptions ENABLE REPLICA TRIGGER subscriptions_continue"
refused "owner drop fn" DP012 postgres "DROP FUNCTION subscription_cancel(bigint, text, numeric)"
# Every money table keeps its owner (sql 0034; before, only the three of 0012 were checked
# and ALTER TABLE profit_events OWNER TO postgres went through, after which the guard no
# longer knew it as a money table)
for t in profit_events execution_pnl money_requests ledger_checkpoints money_owned_tables; do
	refused "owner of $t given away" DP012 postgres "ALTER TABLE $t OWNER TO postgres"
done
refused "owner of the audit view given away" DP012 postgres "ALTER VIEW execution_profit_audit OWNER TO postgres"
# Only the maintenance role may (and the guards stand again at the end of its work).
[ "$(as postgres "SET ROLE decp_maintenance; ALTER TABLE billing_ledger DISABLE TRIGGER billing_ledger_no_update; ALTER TABLE billing_ledger ENABLE TRIGGER billing_ledger_no_update")" = ok ] &&
	ok || bad "maintenance role may alter"
# Ordinary DDL elsewhere (a temporary table, as the archiver makes) is unaffected.
[ "$(as decp_app "CREATE TEMP TABLE t (x int)")" = ok ] && ok || bad "temp table as decp_app"
out=$("$D" ledger verify 2>&1) && ok || bad "verify after the refusals: $out"

# A subscription's HWM and profit decide what is charged (sql 0031): the owner (here the
# superuser that migrated), with the triggers on, may not raise them or start a subscription
# with them chosen; the money functions still move them.
hs=$sub
refused "hwm raised by the owner" DP011 postgres "UPDATE subscriptions SET high_water_mark = high_water_mark + 5000 WHERE id = $hs"
refused "profit set by the owner" DP011 postgres "UPDATE subscriptions SET cumulative_profit = cumulative_profit + 1 WHERE id = $hs"
refused "profit_exact set by the owner" DP011 postgres "UPDATE subscriptions SET profit_exact = profit_exact + 1 WHERE id = $hs"
refused "trigger dropped by the owner" DP012 postgres "DROP TRIGGER subscriptions_amounts_guard ON subscriptions"
refused "trigger disabled by the owner" DP012 postgres "ALTER TABLE subscriptions DISABLE TRIGGER subscriptions_amounts_guard"
[ "$(as postgres "UPDATE subscriptions SET state_reason = 'audit note' WHERE id = $hs")" = ok ] &&
	ok || bad "an owner's UPDATE of other columns"
# ... but a superuser may become decp_money: the HWM against the ledger (ledger verify)
hwm=$(qa "SELECT high_water_mark FROM subscriptions WHERE id = $hs")
check verify_hwm_honest 0 "$D" ledger verify
q "SET ROLE decp_money; UPDATE subscriptions SET high_water_mark = high_water_mark + 5000 WHERE id = $hs" >/dev/null ||
	bad "raise as decp_money"
out=$("$D" ledger verify 2>&1); rc=$?
[ $rc -eq 5 ] && echo "$out" | grep -q "^MISMATCH subscription $hs: high_water_mark is .* but its ledger says $hwm" &&
	ok || bad "a HWM raised as decp_money not found: $rc $out"
q "SET session_replication_role = replica; UPDATE subscriptions SET high_water_mark = $hwm WHERE id = $hs" >/dev/null ||
	bad "restore hwm"
check verify_hwm_restored 0 "$D" ledger verify
hm=$(qa "SELECT master_id FROM subscriptions WHERE id = $hs")
hsub=$(qa "INSERT INTO subscribers (name) VALUES ('hwm chooser') RETURNING id")
refused "hwm chosen at insert by the owner" DP011 postgres "INSERT INTO subscriptions (master_id, subscriber_id, high_water_mark, fee_pct) VALUES ($hm, $hsub, 5000, 20)"

finds() { # what, the start of the MISMATCH line verify must print (exit 5)
	out=$("$D" ledger verify 2>&1); rc=$?
	[ $rc -eq 5 ] && echo "$out" | grep -q "^MISMATCH $2" && ok || bad "$1 not found: $rc $out"
}
# Every change of a profit is a profit event (sql 0032), which verify replays: executions
# (one at a time and in a batch) of gains and losses with sub-cent parts, explicit sets, a
# NO_FEE charge, a cancel with a profit, and the carry-over to the pair's next subscription.
ps=$(qa "INSERT INTO subscribers (name) VALUES ('profit') RETURNING id")
qa "SELECT wallet_deposit($ps, 1000)" >/dev/null || bad "profit deposit"
p1=$(qa "INSERT INTO subscriptions (master_id, subscriber_id) VALUES ($m, $ps) RETURNING id")
rep() { qa "SELECT profit_exact FROM subscription_report_execution($1, $2, $3, 'CLOSED', 1, 100000, $4)"; }
[ "$(rep $p1 1 11 1200.5)" = 1200.5000 ] && [ "$(rep $p1 2 12 -200.2549)" = 1000.2451 ] &&
	[ "$(rep $p1 2 12 -200.2549)" = 1000.2451 ] && ok || bad "executions"
[ "$(qa "SELECT subscription_report_executions(ARRAY[$p1, $p1, $p1], ARRAY[4, 3, 3],
	ARRAY[14, 13, 13], ARRAY['CLOSED', 'CLOSED', 'FILLED'], ARRAY[1, 1, 1],
	ARRAY[1, 1, 1], ARRAY[300.0049, -50, 0])")" = 3 ] && ok || bad "batch"
[ "$(qa "SELECT subscription_record_profit($p1, 1250.1234)")" = 1250.12 ] && ok || bad "record profit"
[ "$(rep $p1 5 15 0.0051)" = 1250.1285 ] && ok || bad "execution after a set"
[ "$(qa "SELECT outcome FROM charge_performance_fee($p1, 1300)")" = CHARGED ] && ok || bad "charge"
[ "$(qa "SELECT outcome FROM charge_performance_fee($p1, 500)")" = NO_FEE ] && ok || bad "no fee"
[ "$(rep $p1 6 16 -0.0049)" = 499.9951 ] && ok || bad "loss after NO_FEE"
qa "SELECT * FROM subscription_cancel($p1, 'test', 1400.5)" >/dev/null || bad "cancel"
p2=$(qa "INSERT INTO subscriptions (master_id, subscriber_id) VALUES ($m, $ps) RETURNING id")
[ "$(rep $p2 7 17 10)" = 1410.5000 ] && ok || bad "execution after the carry-over"
[ "$(qa "SELECT string_agg(kind || ' ' || amount, ',' ORDER BY seq) FROM profit_events WHERE subscription_id = $p1")" = \
	"carry 0.0000,execution 1200.5000,execution -200.2549,execution -50.0000,execution 0.0000,execution 300.0049,set 1250.1234,execution 0.0051,set 1300.0000,set 500.0000,execution -0.0049,set 1400.5000" ] &&
	ok || bad "the events of $p1"
[ "$(qa "SELECT kind || ' ' || amount || ' ' || carried_from FROM profit_events WHERE subscription_id = $p2 AND seq = 1")" = "carry 1400.5000 $p1" ] &&
	ok || bad "the carry-over of $p2"
out=$("$D" ledger verify 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "profit events of" && ok || bad "verify the profit history: $rc $out"
# ... a superuser who becomes decp_money (past 0031) and lowers a profit below the HWM
# (1400.50): the fee on the profit above it would be lost; verify names the subscription.
q "SET ROLE decp_money; UPDATE subscriptions SET profit_exact = 900 WHERE id = $p2" >/dev/null ||
	bad "lower the profit as decp_money"
finds "a profit lowered as decp_money" "subscription $p2: profit_exact is 900.0000 but its profit events give 1410.5000"
# (cents alone set profit_exact to them, 0013's trigger: here the replayed value again)
q "SET ROLE decp_money; UPDATE subscriptions SET cumulative_profit = 1410.50 WHERE id = $p2" >/dev/null ||
	bad "restore the profit"
check verify_profit_restored 0 "$D" ledger verify
q "SET session_replication_role = replica; UPDATE subscriptions SET cumulative_profit = 1410.49 WHERE id = $p2" >/dev/null ||
	bad "cents off"
finds "cents off" "subscription $p2: cumulative_profit is 1410.49 but its profit events give 1410.50"
q "SET session_replication_role = replica; UPDATE subscriptions SET cumulative_profit = 1410.50 WHERE id = $p2" >/dev/null ||
	bad "cents back"
check verify_cents_restored 0 "$D" ledger verify
# ... an execution recorded outside the money functions (a superuser's INSERT): no event
q "INSERT INTO execution_pnl (subscription_id, sequence, broker_ticket, status, volume, price, realized_profit) VALUES ($p2, 99, 99, 'CLOSED', 1, 1, 5)" >/dev/null ||
	bad "insert execution_pnl"
finds "an execution without its event" "subscription $p2: execution_pnl row 99/99/CLOSED (realized_profit 5.0000) has no profit event"
# ... and an event whose execution row a superuser changed
q "DELETE FROM execution_pnl WHERE subscription_id = $p2 AND sequence = 99" >/dev/null || bad "remove it"
q "UPDATE execution_pnl SET realized_profit = 11 WHERE subscription_id = $p2 AND sequence = 7" >/dev/null ||
	bad "rewrite execution_pnl"
finds "an execution row rewritten" "subscription $p2: profit event 2 (execution 7/17/CLOSED 10.0000) is not its execution_pnl row's realized_profit (11.0000)"
q "UPDATE execution_pnl SET realized_profit = 10 WHERE subscription_id = $p2 AND sequence = 7" >/dev/null ||
	bad "restore execution_pnl"
check verify_profit_restored2 0 "$D" ledger verify
# The pair's previous subscription is the one the creation carried from (its last
# cancelled, by settlement), whatever the ids: one added with an explicit id above the
# sequence, charged and cancelled, then the pair's next (a lower id) carries its HWM and
# profit. verify looked for the pair's subscription of the next lower id: a false MISMATCH.
xs=$(qa "INSERT INTO subscribers (name) VALUES ('explicit id') RETURNING id")
qa "SELECT wallet_deposit($xs, 1000)" >/dev/null || bad "explicit id deposit"
q "INSERT INTO subscriptions (id, master_id, subscriber_id) VALUES (900000, $m, $xs)" >/dev/null ||
	bad "subscription 900000"
[ "$(qa "SELECT outcome FROM charge_performance_fee(900000, 700)")" = CHARGED ] && ok || bad "charge 900000"
qa "SELECT * FROM subscription_cancel(900000, 'test')" >/dev/null || bad "cancel 900000"
q "SELECT setval('subscriptions_id_seq', 800000)" >/dev/null || bad "sequence below 900000"
x2=$(qa "INSERT INTO subscriptions (master_id, subscriber_id) VALUES ($m, $xs) RETURNING id")
[ "$x2" -lt 900000 ] && [ "$(qa "SELECT high_water_mark || ' ' || cumulative_profit FROM subscriptions WHERE id = $x2")" = "700.00 700.00" ] &&
	ok || bad "the pair's next subscription ($x2) carries 900000's HWM and profit"
check verify_pair_by_settlement 0 "$D" ledger verify

# The profit events' hash chain (sql 0035). A subscription with a profit of 825 (a set of
# 800, an execution of 25), and a checkpoint of that time kept outside the database, as
# ledger head --checkpoint prints it and as the archiver logs it.
cs=$(qa "INSERT INTO subscribers (name) VALUES ('chain') RETURNING id")
pc=$(qa "INSERT INTO subscriptions (master_id, subscriber_id) VALUES ($m, $cs) RETURNING id")
[ "$(qa "SELECT subscription_record_profit($pc, 800)")" = 800.00 ] && [ "$(rep $pc 1 1 25)" = 825.0000 ] &&
	ok || bad "the profit of $pc"
pkept=$(mktemp)
"$D" ledger head --checkpoint > "$pkept" || bad "checkpoint of the profit chains"
pcp=$(sed -n 's/.* checkpoint \([0-9]*\) at .*/\1/p' "$pkept")
grep -q "^rows [0-9]* wallets [0-9]* head [0-9a-f]\{64\} profit_events [0-9]* subscriptions [0-9]* profit_head [0-9a-f]\{64\} checkpoint $pcp at " "$pkept" &&
	ok || bad "head --checkpoint prints the profit head: $(cat "$pkept")"
q "SELECT 'decp-control archiver: ledger checkpoint ' || id || ': rows ' || rows || ' wallets ' || wallets || ' head ' || head || ' profit_events ' || profit_events || ' subscriptions ' || profit_subscriptions || ' profit_head ' || profit_head FROM ledger_checkpoints WHERE id = $pcp" >> "$pkept"
check verify_profit_chain 0 "$D" ledger verify --heads "$pkept"
porig=$(qa "SELECT profit_head FROM ledger_checkpoints WHERE id = $pcp")
# ... an event appended past a gap is refused by the chain trigger (the owner's too)
refused "event past a gap" DP010 postgres "INSERT INTO profit_events (subscription_id, seq, kind, amount) VALUES ($pc, 9, 'set', 1)"
# ... an event edited with the triggers off: named by its hash
q "SET session_replication_role = replica; UPDATE profit_events SET amount = 300 WHERE subscription_id = $pc AND seq = 2" >/dev/null ||
	bad "edit an event"
finds "an edited event" "subscription $pc: profit event 2 (set 300.0000) has a row_hash that does not match its content"
# ... and the profit with it, the chain re-hashed consistently (the fee base is now 325,
# not 825, and the events replay to it): the checkpoint's profit head of that time does not
# match; the checkpoint in the database rewritten too, verify is fooled, not --heads.
rehash() {
	q "SET session_replication_role = replica; UPDATE profit_events SET amount = $1 WHERE subscription_id = $pc AND seq = 2;
UPDATE subscriptions SET profit_exact = $2, cumulative_profit = $2 WHERE id = $pc;
DO \$\$ DECLARE r profit_events; p bytea := '\\x0000000000000000000000000000000000000000000000000000000000000000'; BEGIN
  FOR r IN SELECT * FROM profit_events WHERE subscription_id = $pc ORDER BY seq LOOP
    UPDATE profit_events SET prev_hash = p, row_hash = profit_event_hash(p, r)
     WHERE subscription_id = r.subscription_id AND seq = r.seq RETURNING row_hash INTO p;
  END LOOP; END \$\$;" >/dev/null
}
rehash 300 325 || bad "re-hash the profit chain"
finds "a consistently re-hashed profit chain" "checkpoint $pcp: recorded profit head $porig over [0-9]* events, the profit events now give"
forged=$("$D" ledger verify 2>&1 | sed -n 's/.*the profit events now give \([0-9a-f]*\) over.*/\1/p')
q "SET session_replication_role = replica; UPDATE ledger_checkpoints SET profit_head = '$forged' WHERE id = $pcp" >/dev/null ||
	bad "rewrite the checkpoint"
check verify_profit_forged_consistently 0 "$D" ledger verify
out=$("$D" ledger verify --heads "$pkept" 2>&1); rc=$?
[ $rc -eq 5 ] && echo "$out" | grep -q "^MISMATCH checkpoint $pcp: kept outside the database as profit_events [0-9]* profit_head $porig, ledger_checkpoints says profit_events [0-9]* profit_head $forged: rewritten" &&
	ok || bad "a re-hashed profit chain and its checkpoint found by --heads: $rc $out"
# (the archiver's line alone finds it too)
grep "archiver" "$pkept" > "$pkept.a"
out=$("$D" ledger verify --heads "$pkept.a" 2>&1); rc=$?
[ $rc -eq 5 ] && echo "$out" | grep -q "^MISMATCH checkpoint $pcp: kept outside .*: rewritten" &&
	ok || bad "found by the archiver's line: $rc $out"
rm -f "$pkept.a"
# back as it was: the same hashes again (created_at unchanged)
rehash 800 825 || bad "re-hash back"
q "SET session_replication_role = replica; UPDATE ledger_checkpoints SET profit_head = '$porig' WHERE id = $pcp" >/dev/null ||
	bad "restore the checkpoint"
check verify_profit_chain_restored 0 "$D" ledger verify --heads "$pkept"
rm -f "$pkept"

# A superuser with the triggers off changes a row: verify names it.
id=$(qa "SELECT id FROM billing_ledger WHERE subscriber_id = $s AND entry_no = 2")
ref=$(qa "SELECT reference FROM billing_ledger WHERE id = $id")
q "SET session_replication_role = replica; UPDATE billing_ledger SET reference = 'x' WHERE id = $id" || bad "tamper"
out=$("$D" ledger verify 2>&1); rc=$?
[ $rc -eq 5 ] && echo "$out" | grep -q "^MISMATCH billing_ledger row id $id (wallet $s, entry 2, FEE_PERFORMANCE): row_hash does not match" &&
	ok || bad "tampered row named: $rc $out"
q "SET session_replication_role = replica; UPDATE billing_ledger SET reference = NULLIF('$ref', '') WHERE id = $id" || bad "untamper"
check verify_restored 0 "$D" ledger verify
# ... a wallet (the issue's 1480.00 against its ledger)
q "SET session_replication_role = replica; UPDATE user_wallets SET balance_usd = 1480 WHERE subscriber_id = $s" || bad "tamper wallet"
out=$("$D" ledger verify 2>&1); rc=$?
[ $rc -eq 5 ] && echo "$out" | grep -q "^MISMATCH wallet $s: balance_usd is 1480.00 but its ledger says" &&
	ok || bad "tampered wallet named: $rc $out"
bal=$(qa "SELECT balance_after FROM billing_ledger WHERE subscriber_id = $s ORDER BY entry_no DESC LIMIT 1")
q "SET session_replication_role = replica; UPDATE user_wallets SET balance_usd = $bal WHERE subscriber_id = $s" || bad "untamper wallet"
check verify_restored2 0 "$D" ledger verify
# Checkpoints kept outside the database (--heads): the archiver's log line and ledger head
# --checkpoint's. A superuser removing a checkpoint (with the rows it covered: the issue's
# erase-the-evidence case) or rewriting one leaves verify alone, not verify --heads.
kept=$(mktemp); trap 'rm -f "$kept"' EXIT
"$D" ledger head --checkpoint > "$kept" || bad "head --checkpoint"
cp2=$(sed -n 's/.* checkpoint \([0-9]*\) at .*/\1/p' "$kept")
q "SELECT 'decp-control archiver: ledger checkpoint ' || id || ': rows ' || rows || ' wallets ' || wallets || ' head ' || head FROM ledger_checkpoints WHERE id = 1" >> "$kept"
echo "some other log line" >> "$kept"
out=$("$D" ledger verify --heads "$kept" 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "those kept outside included" && ok || bad "verify --heads on honest data: $rc $out"
check heads_no_lines 2 "$D" ledger verify --heads /dev/null
# past 100,000 checkpoint lines: refused, never a partial check reported whole
big=$(mktemp); head -1 "$kept" | awk '{ for (i = 0; i < 100001; i++) print }' > "$big"
check heads_too_many 2 "$D" ledger verify --heads "$big"
rm -f "$big"
check heads_no_file 2 "$D" ledger verify --heads /nonexistent/heads
check heads_on_head 2 "$D" ledger head --heads "$kept"
row=$(q "SELECT quote_literal(taken_at) || ', ' || rows || ', ' || wallets || ', ' || profit_events || ', ' || profit_subscriptions || ', ' || quote_literal(profit_head) || ', ' || quote_literal(head) FROM ledger_checkpoints WHERE id = $cp2")
q "SET session_replication_role = replica; DELETE FROM ledger_checkpoints WHERE id = $cp2" || bad "remove checkpoint"
check verify_without_heads 0 "$D" ledger verify
out=$("$D" ledger verify --heads "$kept" 2>&1); rc=$?
[ $rc -eq 5 ] && echo "$out" | grep -q "^MISMATCH checkpoint $cp2 kept outside the database .* removed" &&
	ok || bad "removed checkpoint found by --heads: $rc $out"
q "SET session_replication_role = replica; INSERT INTO ledger_checkpoints (id, taken_at, rows, wallets, profit_events, profit_subscriptions, profit_head, head) OVERRIDING SYSTEM VALUE VALUES ($cp2, $row)" || bad "put checkpoint back"
q "SET session_replication_role = replica; UPDATE ledger_checkpoints SET head = repeat('0', 64) WHERE id = $cp2" || bad "rewrite checkpoint"
out=$("$D" ledger verify --heads "$kept" 2>&1); rc=$?
[ $rc -eq 5 ] && echo "$out" | grep -q "^MISMATCH checkpoint $cp2: kept outside the database as .*: rewritten" &&
	ok || bad "rewritten checkpoint found by --heads: $rc $out"
q "SET session_replication_role = replica; UPDATE ledger_checkpoints SET head = $(echo "$row" | sed "s/.*, //") WHERE id = $cp2" || bad "restore checkpoint"
check verify_heads_restored 0 "$D" ledger verify --heads "$kept"
# ... a row deleted at the end of a wallet: the wallet no longer matches
# ... and a rewrite re-hashed consistently down the chain: only the checkpoint sees it.
q "SET session_replication_role = replica; UPDATE billing_ledger SET reference = 'rewritten' WHERE id = $id;
DO \$\$ DECLARE r billing_ledger; p bytea; BEGIN
  FOR r IN SELECT * FROM billing_ledger WHERE subscriber_id = $s ORDER BY entry_no LOOP
    IF r.entry_no = 1 THEN p := r.prev_hash; END IF;
    UPDATE billing_ledger SET prev_hash = p, row_hash = ledger_row_hash(p, r) WHERE id = r.id RETURNING row_hash INTO p;
  END LOOP; END \$\$;" >/dev/null || bad "rehash"
out=$("$D" ledger verify 2>&1); rc=$?
[ $rc -eq 5 ] && echo "$out" | grep -q "^MISMATCH checkpoint [0-9]*: recorded head" &&
	ok || bad "re-hashed chain caught by the checkpoint: $rc $out"
out=$("$D" ledger verify --checkpoints 0 2>&1); rc=$?
[ $rc -eq 0 ] && ok || bad "without checkpoints the re-hash is consistent: $rc $out"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
