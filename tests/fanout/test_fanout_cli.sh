#!/bin/sh
# test_fanout_cli: decp-fanout refuses a bad --stats-ms (and other bad options) with exit 2
# and a message naming the option, before it connects anywhere (Redis and PostgreSQL are
# closed loopback ports: a run that got past its options would not exit 2 at once).
# Usage: test_fanout_cli.sh DECP_FANOUT
F=$1
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
run_cli() {
	timeout 20 "$F" --redis 127.0.0.1:1 --pg 'host=127.0.0.1 port=1 connect_timeout=1' \
		--plain "$@"
}
. "$(dirname "$0")/clilib.sh"
expect stats_garbage 2 "--stats-ms: 'abc' is not a number in 0..86400000" --stats-ms abc
expect stats_suffix 2 "--stats-ms: '5s'" --stats-ms 5s
expect stats_negative 2 "--stats-ms: '-1'" --stats-ms -1
expect stats_overflow 2 "--stats-ms: '86400001'" --stats-ms 86400001
expect stats_empty 2 "--stats-ms: ''" --stats-ms ''
expect queue_range 2 "fanout_queue: 8 is out of range 16..65536" --queue 8
expect keepalive_garbage 2 "fanout_keepalive_ms: 'x' is not a number" --keepalive-ms x
expect set_other_key 2 "--set wants fanout_KEY=VALUE" --set redis_port=1
expect set_range 2 "fanout_replay_rate: 0 is out of range" --set fanout_replay_rate=0
expect listen_name 2 "fanout_listen: 'localhost' is not a numeric IPv4 address" --listen localhost:0
expect listen_port 2 "bad --listen '127.0.0.1:70000'" --listen 127.0.0.1:70000
expect help_ok 0 "usage: decp-fanout" --stats-ms 1000 --help
if [ $fail = 0 ]; then echo "12 passed, 0 failed"; else echo "FAILED"; fi
exit $fail
