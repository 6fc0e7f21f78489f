# rootns_guard.sh: the root-namespace address guard (issue 16). Source it from bash.
#
# Test networks live inside network namespaces that the test creates: no interface of the
# root namespace may ever carry a private-range (RFC 1918) IPv4 address made by a test or the
# demo. The guard samples the root namespace's addresses every 0.2 s while the test runs
# (a sampler in the background that stops by itself when the test's shell is gone) and
# reports every private address that was not there when it started, on any interface.
#
#   rootns_guard_start    remember what is there now, start sampling
#   rootns_guard_report   stop sampling; print each offending "iface addr" line on stderr and
#                         return 1 when there was one, else return 0
#
# Addresses the machine had before the test (its own NIC's) are never reported; an address
# that another test on the machine adds while this one runs is reported here too: it breaks
# the same rule, and the message names the interface so the owner can be found.

rootns_private() {
	ip -4 -o addr show 2>/dev/null | awk '{ print $2, $4 }' |
		grep -E ' (10\.|172\.(1[6-9]|2[0-9]|3[01])\.|192\.168\.)' | sort -u
}

rootns_guard_start() {
	ROOTNS_DIR=$(mktemp -d /tmp/decp-rootns.XXXXXX)
	rootns_private >"$ROOTNS_DIR/before"
	: >"$ROOTNS_DIR/seen"
	local owner=$$
	(
		while kill -0 "$owner" 2>/dev/null && [ -d "$ROOTNS_DIR" ]; do
			rootns_private | comm -13 "$ROOTNS_DIR/before" - >>"$ROOTNS_DIR/seen" 2>/dev/null
			sleep 0.2
		done
		kill -0 "$owner" 2>/dev/null || rm -rf "$ROOTNS_DIR"   # the test is gone: tidy up
	) >/dev/null 2>&1 &
	ROOTNS_PID=$!
}

rootns_guard_report() {
	[ -n "${ROOTNS_DIR:-}" ] || return 0
	if [ -n "${ROOTNS_PID:-}" ]; then
		kill "$ROOTNS_PID" 2>/dev/null
		wait "$ROOTNS_PID" 2>/dev/null
		ROOTNS_PID=
	fi
	rootns_private | comm -13 "$ROOTNS_DIR/before" - >>"$ROOTNS_DIR/seen"
	local bad
	bad=$(sort -u "$ROOTNS_DIR/seen")
	rm -rf "$ROOTNS_DIR"
	ROOTNS_DIR=
	if [ -n "$bad" ]; then
		echo "root namespace carried private addresses during the test:" >&2
		sed 's/^/  /' <<<"$bad" >&2
		return 1
	fi
	return 0
}
