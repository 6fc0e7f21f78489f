#!/bin/sh
# decpctl db migrate and decpctl master add against a real PostgreSQL (run under
# decp-testenv --pg, which exports DECP_PG_CONNINFO). Usage: test_decpctl_db.sh DECPCTL
# Prints "N passed, N failed" last.
D="$1"
. "$(dirname "$0")/testlib.sh"
[ -n "$D" ] && [ -n "$DECP_PG_CONNINFO" ] || { echo "usage: run under decp-testenv --pg"; echo "0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

check db_help 0 "$D" db --help
check db_no_sub 2 "$D" db
check db_bad_sub 2 "$D" db frobnicate
check migrate_no_db 2 env -u DECP_PG_CONNINFO "$D" db migrate
check migrate_bad_db 1 "$D" db migrate --conninfo "host=127.0.0.1 port=1 connect_timeout=2"
out=$("$D" db migrate 2>&1) && echo "$out" | grep -q "applied [1-9][0-9]* migration(s), 0 already" && ok || bad "first migrate: $out"
out=$("$D" db migrate 2>&1) && echo "$out" | grep -q "applied 0 migration(s)" && ok || bad "second migrate: $out"
# A failing migration and a bad file name: the message is the cause, with no strerror of
# the return code after it (it ended "(Input/output error)", "(Invalid argument)").
mkdir "$tmp/mig" && cp "$(dirname "$0")/../../sql/migrations/"*.sql "$tmp/mig/" &&
	printf 'SELECT no_such_function();\n' >"$tmp/mig/9999_fail.sql"
out=$("$D" db migrate --dir "$tmp/mig" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "^decpctl db migrate: migration 9999_fail failed: ERROR: .*no_such_function" &&
	! echo "$out" | grep -q "Input/output error" && ok || bad "failing migration: exit $rc: $out"
mkdir "$tmp/badname" && printf 'SELECT 1;\n' >"$tmp/badname/x.sql"
out=$("$D" db migrate --dir "$tmp/badname" 2>&1); rc=$?
[ $rc = 1 ] && [ "$out" = "decpctl db migrate: bad migration file name x.sql (want NNNN_name.sql)" ] &&
	ok || bad "bad file name: exit $rc: $out"

check add_help 0 "$D" master add --help
check add_missing 2 "$D" master add --id 1
check add_bad_id 2 "$D" master add --id 0 --name x
check add_both 2 "$D" master add --id 1 --name x --key-seed s --out "$tmp/c"

# Test credentials: the stored hash is SHA-256 of the token decp-master derives.
check add_seeded 0 "$D" master add --id 7 --name seeded --key-seed demo
tok=$(printf 'decp-token:demo:7' | sha256sum | cut -d' ' -f1)
want=$(printf '%s' "$tok" | sha256sum | cut -d' ' -f1)
got=$(q "SELECT encode(token_sha256,'hex') FROM license_tokens WHERE master_id = 7")
[ "$got" = "$want" ] && ok || bad "seeded token hash '$got' != '$want'"
secret=$(printf 'decp-hmac:demo:7' | sha256sum | cut -d' ' -f1)
got=$(q "SELECT encode(hmac_secret,'hex') FROM masters WHERE id = 7")
[ "$got" = "$secret" ] && ok || bad "seeded secret"

# Random credentials: file 0600 with the token; the database has only its hash.
check add_random 0 "$D" master add --id 8 --name random --out "$tmp/m8"
[ "$(stat -c %a "$tmp/m8")" = 600 ] && ok || bad "credentials file mode"
tok=$(sed -n 's/^license_token = //p' "$tmp/m8")
[ ${#tok} -eq 64 ] && ok || bad "token in file: '$tok'"
want=$(printf '%s' "$tok" | sha256sum | cut -d' ' -f1)
got=$(q "SELECT encode(token_sha256,'hex') FROM license_tokens WHERE master_id = 8")
[ "$got" = "$want" ] && ok || bad "random token hash"
n=$(q "SELECT count(*) FROM license_tokens WHERE encode(token_sha256,'hex') = '$tok'")
[ "$n" = 0 ] && ok || bad "plaintext token stored"

# Refusals leave nothing behind: duplicate id, existing file.
check add_dup 1 "$D" master add --id 8 --name other --out "$tmp/m8b"
[ ! -e "$tmp/m8b" ] && ok || bad "credentials file left after refused add"
[ "$(q "SELECT count(*) FROM masters WHERE name = 'other'")" = 0 ] && ok || bad "row left after refused add"
check add_exists 1 "$D" master add --id 9 --name nine --out "$tmp/m8"
[ "$(q "SELECT count(*) FROM masters WHERE id = 9")" = 0 ] && ok || bad "row written though file exists"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
