#!/bin/sh
# decpctl admin commands (token, subscriber, subscription, master list) against a real
# PostgreSQL (run under decp-testenv --pg). Tokens are shown once and stored hashed; the
# database's rules (state machine, copy policy, unrevokable tokens) refuse bad requests and
# decpctl reports them; SQL metacharacters are data. Usage: test_decpctl_admin.sh DECPCTL
# Prints "N passed, N failed" last.
D="$1"
. "$(dirname "$0")/testlib.sh"
[ -n "$D" ] && [ -n "$DECP_PG_CONNINFO" ] || { echo "usage: run under decp-testenv --pg"; echo "0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
field() { sed -n "s/^$1 = //p" "$2"; }

"$D" db migrate >/dev/null || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }
"$D" master add --id 1 --name m1 --key-seed t >/dev/null || bad "master add"

# Usage errors.
for c in token subscriber subscription; do
	check "${c}_help" 0 "$D" $c --help
	check "${c}_nosub" 2 "$D" $c
	check "${c}_badsub" 2 "$D" $c frobnicate
done
check token_add_no_master 2 "$D" token add
check token_add_bad_master 2 "$D" token add --master x
check token_add_unknown_opt 2 "$D" token add --master 1 --policy '{}'
check sub_add_no_name 2 "$D" subscriber add
check subn_add_missing 2 "$D" subscription add --master 1
check subn_suspend_no_id 2 "$D" subscription suspend
check no_db 2 env -u DECP_PG_CONNINFO "$D" subscriber list

# License tokens: shown once (file 0600), only the hash stored, revocation is final.
check token_add 0 "$D" token add --master 1 --label second --out "$tmp/t1"
[ "$(stat -c %a "$tmp/t1")" = 600 ] && ok || bad "token file mode"
tok=$(field license_token "$tmp/t1"); tid=$(field token_id "$tmp/t1")
[ ${#tok} = 64 ] && ok || bad "token in file: '$tok'"
[ "$(q "SELECT count(*) FROM license_tokens WHERE encode(token_sha256,'hex') = '$(sha "$tok")' AND label = 'second'")" = 1 ] &&
	ok || bad "token hash not stored"
[ "$(q "SELECT count(*) FROM license_tokens WHERE encode(token_sha256,'hex') = '$tok'")" = 0 ] &&
	ok || bad "plaintext token stored"
"$D" token list --master 1 | grep -c "^[0-9]" | grep -qx 2 && ok || bad "token list: $("$D" token list --master 1)"
check token_revoke 0 "$D" token revoke --id "$tid"
check token_revoke_again 1 "$D" token revoke --id "$tid"
[ "$(q "SELECT revoked_at IS NOT NULL FROM license_tokens WHERE id = $tid")" = t ] && ok || bad "not revoked"
check token_add_no_such_master 1 "$D" token add --master 999 --out "$tmp/t2"
[ ! -e "$tmp/t2" ] && ok || bad "token file left after a refused add"
check token_add_file_exists 1 "$D" token add --master 1 --out "$tmp/t1"

# Subscribers and their tokens.
evil="x'); DROP TABLE subscribers; --"
check sub_add 0 "$D" subscriber add --name "$evil" --out "$tmp/s1"
sid=$(field subscriber_id "$tmp/s1"); stok=$(field subscriber_token "$tmp/s1")
[ "$(q "SELECT name FROM subscribers WHERE id = $sid")" = "$evil" ] && ok || bad "name not stored verbatim"
[ "$(q "SELECT count(*) FROM subscriber_tokens WHERE subscriber_id = $sid AND encode(token_sha256,'hex') = '$(sha "$stok")'")" = 1 ] &&
	ok || bad "subscriber token hash"
check sub_add_id 0 "$D" subscriber add --name bob --id 42 --out "$tmp/s42"
check sub_add_dup_id 1 "$D" subscriber add --name bob2 --id 42 --out "$tmp/s42b"
[ "$(q "SELECT count(*) FROM subscribers WHERE name = 'bob2'")" = 0 ] && ok || bad "row left after refused add"
out=$("$D" subscriber token --id 42) && echo "$out" | grep -q "^subscriber_token = [0-9a-f]\{64\}$" &&
	ok || bad "subscriber token on stdout: $out"
"$D" subscriber list --json | grep -q '"id":"42","name":"bob".*"live_tokens":"2"' && ok ||
	bad "subscriber list --json: $("$D" subscriber list --json)"
t42=$(q "SELECT min(id) FROM subscriber_tokens WHERE subscriber_id = 42")
check sub_revoke_token 0 "$D" subscriber revoke-token --id "$t42"
check sub_revoke_token_again 1 "$D" subscriber revoke-token --id "$t42"

# Subscriptions: copy policy and state machine are the database's.
check subn_add 0 "$D" subscription add --subscriber 42 --master 1 --fee-pct 15 \
	--policy '{"mode": "FIXED", "lot_fixed": 0.1}'
n=$(q "SELECT id FROM subscriptions WHERE subscriber_id = 42")
[ "$(q "SELECT fee_pct || ' ' || (copy_policy->>'mode') FROM subscriptions WHERE id = $n")" = "15.00 FIXED" ] &&
	ok || bad "subscription fields"
out=$("$D" subscription add --subscriber 42 --master 1 --policy '{"mode": "YOLO"}' 2>&1)
[ $? = 1 ] && echo "$out" | grep -qi "copy_policy" && ok || bad "bad policy accepted or unclear: $out"
check subn_add_bad_json 1 "$D" subscription add --subscriber 42 --master 1 --policy '{'
# A fee outside 0..100 or with more than two decimals is a usage error that names the
# option, before the database (it was a CHECK constraint's message, exit 1, an id drawn).
nsub=$(q "SELECT count(*) FROM subscriptions")
for fee in 101 -1 nan 12.555 1e2; do
	out=$("$D" subscription add --subscriber 42 --master 1 --fee-pct "$fee" 2>&1)
	[ $? = 2 ] && echo "$out" | grep -q -- "--fee-pct '$fee': a percentage 0..100" && ok ||
		bad "--fee-pct $fee: $out"
done
[ "$(q "SELECT count(*) FROM subscriptions")" = "$nsub" ] && ok || bad "a refused fee added a subscription"
check subn_suspend 0 "$D" subscription suspend --id "$n" --reason "KYC review"
[ "$(q "SELECT state || '/' || state_reason FROM subscriptions WHERE id = $n")" = "SUSPENDED_ADMIN/KYC review" ] &&
	ok || bad "suspend state"
# suspended again: nothing changes, the reason on record stays (it was overwritten)
check subn_suspend_again 0 "$D" subscription suspend --id "$n"
[ "$(q "SELECT state || '/' || state_reason FROM subscriptions WHERE id = $n")" = "SUSPENDED_ADMIN/KYC review" ] &&
	ok || bad "suspend again lost the reason: $(q "SELECT state_reason FROM subscriptions WHERE id = $n")"

check subn_resume 0 "$D" subscription resume --id "$n"
check subn_cancel 0 "$D" subscription cancel --id "$n"
check subn_resume_cancelled 1 "$D" subscription resume --id "$n"
check subn_suspend_cancelled 1 "$D" subscription suspend --id "$n"
check subn_no_such 1 "$D" subscription suspend --id 9999
# A resume of a subscription locked for an unpaid fee: the database locks it again in the
# same statement (sql 0016 / 0036); decpctl shows the row as the statement left it and fails
# naming why (it printed SYNCED, the UPDATE's RETURNING, before its triggers ran).
"$D" subscriber add --name owes --out "$tmp/owes" >/dev/null || bad "subscriber add owes"
os=$(field subscriber_id "$tmp/owes")
"$D" subscription add --subscriber "$os" --master 1 >/dev/null || bad "subscription add owes"
osub=$(q "SELECT id FROM subscriptions WHERE subscriber_id = $os")
q "SELECT wallet_deposit($os, '10.00')" >/dev/null
[ "$(q "SELECT outcome FROM charge_performance_fee($osub, '1000.00')")" = RECEIVABLE ] &&
	[ "$(q "SELECT state FROM subscriptions WHERE id = $osub")" = LOCKED_NO_FUNDS ] &&
	ok || bad "a fee beyond the balance did not lock subscription $osub"
out=$("$D" subscription resume --id "$osub" 2>&1); rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "the database left it LOCKED_NO_FUNDS (owes" &&
	[ "$(q "SELECT state FROM subscriptions WHERE id = $osub")" = LOCKED_NO_FUNDS ] &&
	ok || bad "resume while owing: exit $rc: $out"
"$D" subscription list --master 1 | grep -q "CANCELLED" && ok || bad "subscription list"
# A list filtered by an id the database does not have: named, exit 1 (it was an empty table,
# exit 0, as for a master without tokens).
for a in "token list --master 999" "subscription list --master 999" "subscription list --subscriber 999" \
	"subscription list --subscriber 42 --master 999"; do
	out=$("$D" $a 2>&1); rc=$?
	[ $rc = 1 ] && echo "$out" | grep -Eq "no (master|subscriber) 999$" && ok || bad "$a: exit $rc: $out"
done
check subn_list_known 0 "$D" subscription list --subscriber 42 --master 1
"$D" master list --json | grep -q '"id":"1","name":"m1"' && ok || bad "master list: $("$D" master list --json)"
[ "$(q "SELECT count(*) FROM subscribers")" -ge 2 ] && ok || bad "subscribers table damaged"

# The instrument registry (issue 18): guard's rules, refused with a clear message; `list`
# is what decp-subscriber --instruments reads.
check instr_help 0 "$D" instrument --help
check instr_add_missing 2 "$D" instrument add --symbol US30 --digits 2
check instr_set_nothing 2 "$D" instrument set --symbol US30
check instr_add_bad_digits 2 "$D" instrument add --symbol US30 --digits 6 --pip 1 --contract 1
check instr_add_bad_pip 2 "$D" instrument add --symbol US30 --digits 2 --pip 0.015 --contract 1
check instr_add_lower 2 "$D" instrument add --symbol us30 --digits 2 --pip 1 --contract 1
check instr_add_bad_contract 2 "$D" instrument add --symbol US30 --digits 2 --pip 1 --contract 0
# The message names the rule broken, only that one, and points to --help (docs/decpctl.md
# "Exit codes"): a lower-case symbol with a good pip once said the pip was wrong too.
out=$("$D" instrument add --symbol us30 --digits 2 --pip 1 --contract 1 2>&1)
echo "$out" | grep -q "^decpctl instrument add: --symbol 'us30' must be upper case" &&
	! echo "$out" | grep -q pip && echo "$out" | grep -q "^Try 'decpctl instrument add --help'" &&
	ok || bad "lower-case symbol message: $out"
out=$("$D" instrument add --symbol US30 --digits 2 --pip 0.015 --contract 1 2>&1)
echo "$out" | grep -q "^decpctl instrument add: the pip (0.015) must be a whole number of points" &&
	! echo "$out" | grep -q "symbol" && echo "$out" | grep -q "^Try 'decpctl instrument add --help'" &&
	ok || bad "pip message: $out"
out=$("$D" instrument add --symbol US30 --digits 6 --pip 1 --contract 1 2>&1)
echo "$out" | grep -q "^Try 'decpctl instrument add --help'" && ok || bad "digits message: $out"
# beyond bigint: refused, not stored as 9223372036854775807 (strtoll's clamp)
check instr_add_contract_overflow 2 "$D" instrument add --symbol US30 --digits 2 --pip 1 --contract 99999999999999999999
check instr_add 0 "$D" instrument add --symbol US30 --digits 2 --pip 1 --contract 1
check instr_add_again 1 "$D" instrument add --symbol US30 --digits 2 --pip 1 --contract 1
[ "$(q "SELECT digits || ' ' || point || ' ' || pip_size || ' ' || contract_size FROM instruments WHERE symbol = 'US30'")" = "2 0.01000 1.00000 1" ] &&
	ok || bad "US30 row: $(q "SELECT * FROM instruments WHERE symbol = 'US30'")"
check instr_set 0 "$D" instrument set --symbol US30 --pip 0.1
check instr_set_bad 2 "$D" instrument set --symbol US30 --digits 0
[ "$(q "SELECT pip_size FROM instruments WHERE symbol = 'US30'")" = "0.10000" ] && ok || bad "US30 pip not set"
check instr_set_none 1 "$D" instrument set --symbol NOPE --pip 1
"$D" instrument list > "$tmp/instr" && grep -q "^US30 " "$tmp/instr" && grep -q "^USDJPY " "$tmp/instr" &&
	ok || bad "instrument list: $(cat "$tmp/instr")"
check instr_remove 0 "$D" instrument remove --symbol US30
check instr_remove_again 1 "$D" instrument remove --symbol US30

# Key rotation and revocation (issue 17): the old key kept for the overlap, revoked at once.
old=$(q "SELECT encode(hmac_secret, 'hex') FROM masters WHERE id = 1")
check rot_no_id 2 "$D" master rotate-hmac
check rot_bad_overlap 2 "$D" master rotate-hmac --id 1 --overlap-s -5
check rot_hmac 0 "$D" master rotate-hmac --id 1 --overlap-s 120 --out "$tmp/h1"
grep -q "^hmac_secret = $(q "SELECT encode(hmac_secret, 'hex') FROM masters WHERE id = 1")\$" "$tmp/h1" \
	&& ok || bad "rotate-hmac: the file holds the new secret"
[ "$(stat -c %a "$tmp/h1")" = 600 ] && ok || bad "rotate-hmac: --out mode 0600"
[ "$(q "SELECT encode(hmac_secret_prev, 'hex') = '$old' AND hmac_prev_until > now() + interval '100 s' FROM masters WHERE id = 1")" = t ] \
	&& ok || bad "rotate-hmac: previous secret kept for the overlap"
check rot_no_master 1 "$D" master rotate-hmac --id 999 --key-seed x
check revoke_key_which 2 "$D" master revoke-key --id 1
check revoke_key_hmac 0 "$D" master revoke-key --id 1 --hmac
[ "$(q "SELECT hmac_secret_prev IS NULL AND hmac_prev_until IS NULL FROM masters WHERE id = 1")" = t ] \
	&& ok || bad "revoke-key: previous secret gone"
check revoke_key_again 1 "$D" master revoke-key --id 1 --hmac
pub=$(q "SELECT encode(ed25519_public_key, 'hex') FROM masters WHERE id = 1")
check rot_signing 0 "$D" master rotate-signing-key --id 1 --key-seed t2
[ "$(q "SELECT encode(ed25519_public_key_prev, 'hex') = '$pub' AND ed25519_public_key <> ed25519_public_key_prev FROM masters WHERE id = 1")" = t ] \
	&& ok || bad "rotate-signing-key: previous public key kept"
# both kinds asked, only the Ed25519 key has a previous one: the message says what was
# revoked and which had none (it said "previous HMAC and Ed25519 key revoked")
out=$("$D" master revoke-key --id 1 --hmac --signing 2>&1); rc=$?
[ $rc = 0 ] && [ "$out" = "master 1: previous Ed25519 key revoked: refused from now on; no previous HMAC key (nothing to revoke)" ] \
	&& ok || bad "revoke-key --hmac --signing, only a previous Ed25519 key: exit $rc: $out"
[ "$(q "SELECT ed25519_public_key_prev IS NULL AND hmac_secret_prev IS NULL FROM masters WHERE id = 1")" = t ] \
	&& ok || bad "revoke-key --hmac --signing: previous public key gone"
out=$("$D" master revoke-key --id 1 --hmac --signing 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "master 1 has no previous HMAC or Ed25519 key" \
	&& ok || bad "revoke-key --hmac --signing, none: exit $rc: $out"
check rot_signing_now 0 "$D" master rotate-signing-key --id 1 --overlap-s 0 --key-seed t3
[ "$(q "SELECT ed25519_public_key_prev IS NULL FROM masters WHERE id = 1")" = t ] \
	&& ok || bad "rotate-signing-key --overlap-s 0: no previous key"

# Explicit ids and the defaults after them (sql 0030): a later plain add never draws an id
# given with --id (it failed with a duplicate key when the sequence reached it).
check sub_add_id_60 0 "$D" subscriber add --name dave --id 60 --out "$tmp/s60"
check sub_add_after_id 0 "$D" subscriber add --name erin --out "$tmp/se"
[ "$(field subscriber_id "$tmp/se")" -gt 60 ] && ok || bad "plain subscriber add after --id 60 drew $(field subscriber_id "$tmp/se")"
check subn_add_id 0 "$D" subscription add --subscriber 60 --master 1 --id 70 \
	--policy '{"mode": "FIXED", "lot_fixed": 0.1}'
check subn_add_after_id 0 "$D" subscription add --subscriber "$(field subscriber_id "$tmp/se")" --master 1 \
	--policy '{"mode": "FIXED", "lot_fixed": 0.1}'
[ "$(q "SELECT max(id) FROM subscriptions")" -gt 70 ] && ok || bad "plain subscription add after --id 70 drew $(q "SELECT max(id) FROM subscriptions")"

# Token expiry: a past --expires adds nothing (the api answers 422); an expired token is not
# counted live.
check token_add_expired 1 "$D" token add --master 1 --expires 2020-01-01 --out "$tmp/tx"
[ ! -e "$tmp/tx" ] && [ "$(q "SELECT count(*) FROM license_tokens WHERE expires_at < now()")" = 0 ] &&
	ok || bad "a token expired on arrival was added"
check token_add_future 0 "$D" token add --master 1 --expires 2999-01-01 --out "$tmp/tf"
live=$("$D" master list --json | sed -n 's/.*"id":"1","name":"m1".*"live_tokens":"\([0-9]*\)".*/\1/p')
q "UPDATE license_tokens SET expires_at = now() - interval '1 day' WHERE id = $(field token_id "$tmp/tf")" >/dev/null
live2=$("$D" master list --json | sed -n 's/.*"id":"1","name":"m1".*"live_tokens":"\([0-9]*\)".*/\1/p')
[ -n "$live" ] && [ "$live2" = $((live - 1)) ] && ok || bad "master list counts an expired token live ($live -> $live2)"
check sub_token_expired 1 "$D" subscriber token --id 60 --expires 2020-01-01 --out "$tmp/sx"
# --expires PostgreSQL does not read as a timestamp: a usage error naming it, nothing added
# (it was PostgreSQL's "date/time field value out of range", exit 1)
ntok=$(q "SELECT count(*) FROM license_tokens")
out=$("$D" token add --master 1 --expires 2099-13-45 --out "$tmp/tbad" 2>&1)
[ $? = 2 ] && echo "$out" | grep -q -- "--expires '2099-13-45' is not a timestamp" && [ ! -e "$tmp/tbad" ] &&
	[ "$(q "SELECT count(*) FROM license_tokens")" = "$ntok" ] && ok || bad "token add --expires 2099-13-45: $out"
nstok=$(q "SELECT count(*) FROM subscriber_tokens")
out=$("$D" subscriber token --id 60 --expires "next week" --out "$tmp/sbad" 2>&1)
[ $? = 2 ] && echo "$out" | grep -q -- "--expires 'next week' is not a timestamp" &&
	[ "$(q "SELECT count(*) FROM subscriber_tokens")" = "$nstok" ] && ok ||
	bad "subscriber token --expires 'next week': $out"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
