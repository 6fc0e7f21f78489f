# patroni.sh: the Patroni clusters of decp-testenv --patroni (issue 24 item 1), for bash
# scripts (sourced; tests/decpctl/testlib.sh stays POSIX sh for the scripts that run under
# sh). Used by tests/lifecycle/test_pg_patroni.sh and perf/pg_failover_bench.sh.
# DECP_PATRONI_REST, DECP_PATRONI_PIDS and DECP_PATRONI_DATA list the members in order.
patroni_leader() { # the index of the member whose REST API answers /primary with 200
	local i rest
	read -r -a rest <<<"$DECP_PATRONI_REST"
	for i in "${!rest[@]}"; do
		[ "${rest[$i]}" != 0 ] || continue # crashed (patroni_crash)
		[ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:${rest[$i]}/primary")" = 200 ] &&
			{ echo "$i"; return 0; }
	done
	return 1
}
patroni_crash() { # I: member I's machine fails: SIGKILL to its Patroni (first, so that it
	# restarts nothing), then to its postmaster's process group (postmaster and every
	# backend at once). Its REST port is then left out of patroni_leader. 1 on failure.
	local i=$1 pids data rest pm pg
	read -r -a pids <<<"$DECP_PATRONI_PIDS"
	read -r -a data <<<"$DECP_PATRONI_DATA"
	read -r -a rest <<<"$DECP_PATRONI_REST"
	kill -KILL "${pids[$i]}" || return 1
	pm=$(head -1 "${data[$i]}/postmaster.pid" 2>/dev/null)
	pg=$(ps -o pgid= -p "$pm" 2>/dev/null | tr -d ' ')
	[ -n "$pg" ] && [ "$pg" != "$(ps -o pgid= -p $$ | tr -d ' ')" ] || return 1
	kill -KILL -- "-$pg" || return 1
	rest[$i]=0
	DECP_PATRONI_REST="${rest[*]}"
}
