#!/bin/bash
# The OLD build's operator actions on the NEW schema (docs/operations.md "Upgrades" step 1:
# "migrations only add ... so the running version keeps working"). Runs the same sequence of
# decpctl commands and api calls of the OLD build twice, each under its own decp-testenv:
# NEWSCHEMA=0 on the old schema (the baseline), NEWSCHEMA=1 after the NEW decpctl db migrate;
# prints one line per action (what, exit or HTTP status, the answer's first bytes), to diff.
# Usage: NEWSCHEMA=0|1 decp-testenv --pg --redis -- bash admin.sh OLD_BUILD NEW_BUILD
OLD=$1 NEW=$2
. "$(dirname "$0")/../decpctl/testlib.sh"
T=$(mktemp -d /tmp/decp-upgrade-admin.XXXXXX)
CPPID=
trap 'kill -KILL $CPPID 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
OD=$OLD/tools/decpctl/decpctl
"$OD" db migrate >/dev/null || exit 1
[ "${NEWSCHEMA:-1}" = 1 ] && { "$NEW/tools/decpctl/decpctl" db migrate >/dev/null || exit 1; }
ADMIN=$(openssl rand -hex 32)
APORT=$(free_port)
printf '%s\n' "shm = /decp-admin-$$" "pg_conninfo = \"$DECP_PG_CONNINFO user=decp_app\"" \
	"roles = api,trust" "redis_host = 127.0.0.1" "redis_port = $DECP_REDIS_PORT" "api_tls = off" \
	"api_port = $APORT" "api_admin_token_sha256 = $(printf %s "$ADMIN" | sha256sum | cut -d' ' -f1)" \
	>"$T/control.conf"
"$OLD/controlplane/core/decp-control" --config "$T/control.conf" >"$T/control.log" 2>&1 &
CPPID=$!
say() { printf '%-40s %s\n' "$1" "$2"; }
ctl() { local w=$1; shift; out=$("$OD" "$@" 2>&1); say "$w" "exit $? $(echo "$out" | head -1 | cut -c1-90)"; }
api() { # WHAT METHOD PATH [BODY]
	local code
	code=$(curl -s -m 20 -X "$2" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
		${4:+--data "$4"} -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$APORT$3")
	say "$1" "$code $(tr -d '\n' <"$T/body" | sed 's/"\(created_at\|updated_at\|[a-z_]*_at\)": *"[^"]*"/\1/g' | cut -c1-110)"
}
for _ in $(seq 1 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$APORT/readyz")" = 200 ] && break; sleep 0.1; done
ctl "decpctl master add 1" master add --id 1 --name m1 --key-seed adm
ctl "decpctl master add (no id)" master add --name m2 --key-seed adm2
api "POST masters" POST /v1/masters '{"name":"m3"}'
api "POST license-tokens" POST /v1/masters/1/license-tokens '{"label":"x"}'
api "POST subscribers" POST /v1/subscribers '{"name":"s1"}'
api "POST subscribers 2" POST /v1/subscribers '{"name":"s2"}'
api "POST subscriber token" POST /v1/subscribers/1/tokens '{"label":"ea"}'
api "POST subscriber token expiring" POST /v1/subscribers/1/tokens '{"label":"ea2","expires_at":"2030-01-01T00:00:00Z"}'
api "POST subscription fee 30" POST /v1/subscriptions '{"master_id":1,"subscriber_id":1,"fee_pct":30}'
api "POST subscription no fee" POST /v1/subscriptions '{"master_id":1,"subscriber_id":2}'
api "GET subscription 2" GET /v1/subscriptions/2
api "deposit 100" POST /v1/subscribers/1/wallet/deposit '{"amount":"100.00","reference":"d1"}'
api "withdraw 10" POST /v1/subscribers/1/wallet/withdraw '{"amount":"10.00","reference":"w1"}'
api "fee preview" GET "/v1/subscriptions/1/performance-fee?profit=50.00"
api "fee charge 50" POST /v1/subscriptions/1/performance-fee '{"profit":"50.00","reference":"f1"}'
api "fee charge 50 again" POST /v1/subscriptions/1/performance-fee '{"profit":"50.00","reference":"f2"}'
api "wallet" GET /v1/subscribers/1/wallet
api "ledger" GET /v1/subscribers/1/ledger
api "suspend" POST /v1/subscriptions/1/suspend '{}'
api "resume" POST /v1/subscriptions/1/resume '{}'
api "copy-policy" POST /v1/subscriptions/1/copy-policy '{"volume_multiplier":"1.5"}'
api "trust" GET /v1/subscriptions/1/trust
api "protection event" POST /v1/protection-events '{"events":[{"subscription_id":1,"reason":"FILTERED","report_id":1}]}'
api "cancel" POST /v1/subscriptions/1/cancel '{}'
api "POST subscription again (pair continues)" POST /v1/subscriptions '{"master_id":1,"subscriber_id":1}'
api "GET subscription 3" GET /v1/subscriptions/3
ctl "decpctl subscriber add --id 9" subscriber add --id 9 --name s9
api "POST subscribers after --id 9" POST /v1/subscribers '{"name":"s10"}'
ctl "decpctl ledger verify" ledger verify
say "control log errors" "$(grep -c -i ' error' "$T/control.log")"
grep -i ' error' "$T/control.log" | head -5
