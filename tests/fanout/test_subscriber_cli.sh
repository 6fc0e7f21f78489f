#!/bin/sh
# test_subscriber_cli: decp-subscriber refuses a bad number, a bad URL port and a stray
# argument with exit 2 and a message naming the option, before it connects anywhere.
# Usage: test_subscriber_cli.sh DECP_SUBSCRIBER
S=$1
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
printf '1 %064d\n' 0 >"$T/keys"
run_cli() { timeout 20 "$S" --keys "$T/keys" --token T --master 1 "$@"; }
. "$(dirname "$0")/clilib.sh"
U=ws://127.0.0.1:1/
expect timeout_garbage 2 "--timeout: '10x' is not a number in 1..86400" --url $U --timeout 10x
expect timeout_zero 2 "--timeout: '0'" --url $U --timeout 0
expect timeout_negative 2 "--timeout: '-1'" --url $U --timeout -1
expect timeout_overflow 2 "--timeout: '99999999999999999999'" --url $U --timeout 99999999999999999999
expect ttl_zero 2 "--ttl-ms: '0' is not a number in 1..3600000" --url $U --ttl-ms 0
expect ttl_negative 2 "--ttl-ms: '-5'" --url $U --ttl-ms -5
expect expect_garbage 2 "--expect: 'x'" --url $U --expect x
expect expect_negative 2 "--expect: '-1'" --url $U --expect -1
expect skew_garbage 2 "--skew-ms: 'x'" --url $U --skew-ms x
expect quote_garbage 2 "--quote-off-pips: '4.5'" --url $U --quote-off-pips 4.5
expect drop_zero 2 "--drop-ms: '0'" --url $U --drop-ms 0
expect stall_garbage 2 "--stall-ms: '5s'" --url $U --stall-ms 5s
expect stop_garbage 2 "--stop-reading-after: '+3'" --url $U --stop-reading-after +3
expect stray_argument 2 "unexpected argument 'extra'" --url $U extra
expect resync_short_ttl 2 "--resync needs --ttl-ms of at least 300" --url $U --resync --ttl-ms 250
expect url_port_garbage 2 "need --url ws://HOST:PORT/" --url ws://127.0.0.1:80x/
expect url_port_empty 2 "need --url ws://HOST:PORT/" --url ws://127.0.0.1:/
# a negative skew is a valid setting (a clock behind): it runs until --timeout
expect skew_negative 0 "subscribers 1" --url $U --skew-ms -3000 --timeout 1
exit $fail
