#!/bin/sh
# The owner-proof, tamper-evident ledger (issue 20 item 3) against a real PostgreSQL, run
# under decp-testenv --pg. Usage: test_ledger_verify.sh DECPCTL. Prints "N passed, N failed".
#   - as the superuser that migrated (the owner of everything else), as a login holding
#     the money owner role decp_money, as the application role decp_app and as an operator
#     (a login in decp_app): every attempt to alter, disable triggers on, update or delete
#     ledger rows or wallets is refused, with the SQLSTATE that says why;
#   - decpctl ledger verify passes on honest data and, after a superuser changes a row
#     with the triggers off (session_replication_role = replica), names that row; a wallet
#     changed so is named; a consistently re-hashed chain is caught by a checkpoint.
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

"$D" db migrate >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }

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
[ $rc -eq 0 ] && echo "$out" | grep -q "^verified 7 ledger rows in 2 wallets" && ok || bad "verify honest: $rc $out"
head=$(echo "$out" | sed -n 's/.*chain head \([0-9a-f]*\)$/\1/p')
dbhead=$("$D" ledger head | sed -n 's/.*head \([0-9a-f]*\)$/\1/p')
[ -n "$head" ] && [ "$head" = "$dbhead" ] && ok || bad "C head $head vs database head $dbhead"
# The application may verify and checkpoint; a checkpoint is then verified too.
check checkpoint 0 "$D" ledger head --checkpoint --conninfo "$app"
out=$("$D" ledger verify --conninfo "$app" 2>&1)
echo "$out" | grep -q "1 checkpoints" && ok || bad "verify as decp_app with a checkpoint: $out"
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
done
# The settlement and continuation triggers on subscriptions (owned by the migrating role)
# cannot be switched off either.
refused "owner disable settle" DP012 postgres "ALTER TABLE subscriptions DISABLE TRIGGER subscriptions_settle"
refused "owner drop settle" DP012 postgres "DROP TRIGGER subscriptions_settle ON subscriptions"
refused "owner replica-only" DP012 postgres "ALTER TABLE subscriptions ENABLE REPLICA TRIGGER subscriptions_continue"
refused "owner drop fn" DP012 postgres "DROP FUNCTION subscription_cancel(bigint, text, numeric)"
# Only the maintenance role may (and the guards stand again at the end of its work).
[ "$(as postgres "SET ROLE decp_maintenance; ALTER TABLE billing_ledger DISABLE TRIGGER billing_ledger_no_update; ALTER TABLE billing_ledger ENABLE TRIGGER billing_ledger_no_update")" = ok ] &&
	ok || bad "maintenance role may alter"
# Ordinary DDL elsewhere (a temporary table, as the archiver makes) is unaffected.
[ "$(as decp_app "CREATE TEMP TABLE t (x int)")" = ok ] && ok || bad "temp table as decp_app"
out=$("$D" ledger verify 2>&1) && ok || bad "verify after the refusals: $out"

# A subscription's HWM and profit decide what is charged (sql 0031): the owner (here the
# superuser that migrated), with the triggers on, may not raise them or start a subscription
# with them chosen; the money functions still move them.
hs=$(qa "SELECT id FROM subscriptions ORDER BY id LIMIT 1")
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
row=$(q "SELECT quote_literal(taken_at) || ', ' || rows || ', ' || wallets || ', ' || quote_literal(head) FROM ledger_checkpoints WHERE id = $cp2")
q "SET session_replication_role = replica; DELETE FROM ledger_checkpoints WHERE id = $cp2" || bad "remove checkpoint"
check verify_without_heads 0 "$D" ledger verify
out=$("$D" ledger verify --heads "$kept" 2>&1); rc=$?
[ $rc -eq 5 ] && echo "$out" | grep -q "^MISMATCH checkpoint $cp2 kept outside the database .* removed" &&
	ok || bad "removed checkpoint found by --heads: $rc $out"
q "SET session_replication_role = replica; INSERT INTO ledger_checkpoints (id, taken_at, rows, wallets, head) OVERRIDING SYSTEM VALUE VALUES ($cp2, $row)" || bad "put checkpoint back"
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
