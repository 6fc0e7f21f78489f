#!/usr/bin/env bash
# test_deploy_files.sh: the deployment files in docs/deploy are valid for the tools that
# read them (issue 10): systemd units (systemd-analyze verify, with the programs pointed at
# this build), the Prometheus config and alert rules (promtool), the Grafana dashboard
# (JSON, every panel has a query), and every metric the dashboard or the alerts use is one
# that decp-control's /metrics documents (docs/api.md).
#
# usage: test_deploy_files.sh SOURCE_ROOT BUILD_ROOT
# Prints "N passed, N failed".
set -u
SRC=$1 BLD=$2
D=$SRC/docs/deploy
T=$(mktemp -d /tmp/decp-deploy-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

# 1. systemd units: syntax and every directive known to this systemd.
for u in decp-dataplane.service decp-control.service decp-backup-full.service \
	 decp-backup-incr.service decp-backup-full.timer decp-backup-incr.timer \
	 decp-redis-backup.service decp-redis-backup.timer decp-fanout@.service; do
	for f in "$D"/decp-*.service "$D"/decp-*.timer; do
		sed -e "s#/usr/local/bin/decp-dataplane#$BLD/dataplane/decp-dataplane#g" \
		    -e "s#/usr/local/bin/decp-control#$BLD/controlplane/core/decp-control#g" \
		    -e "s#/usr/local/bin/decpctl#$BLD/tools/decpctl/decpctl#g" \
		    "$f" >"$T/${f##*/}"
	done
	out=$(cd "$T" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "./$u" 2>&1)
	# Lines about other units (dependencies not installed here) are not ours.
	mine=$(printf "%s\n" "$out" | grep -F "$u" | grep -v "is not executable" || true)
	if [ -z "$mine" ]; then ok "$u verifies"; else bad "$u: $mine"; fi
done

# 2. The sample control.conf is valid for decp-control (--check parses and cross-checks it
# without connecting anywhere; the TLS files need not exist for the check).
if out=$("$BLD/controlplane/core/decp-control" --config "$D/control.conf" --check 2>&1); then
	ok "control.conf passes decp-control --check"
else bad "control.conf: $out"; fi
# ... and as decp-fanout@.service runs it: the fan-out alone, on the shared port
if out=$("$BLD/controlplane/core/decp-control" --config "$D/control.conf" --roles fanout \
	--check 2>&1) && grep -q "^fanout_reuse_port *= *yes" "$D/control.conf"; then
	ok "control.conf --roles fanout passes --check, fanout_reuse_port = yes"
else bad "control.conf --roles fanout: $out"; fi

# 3. Prometheus configuration and alert rules.
# (its CA file, /etc/decp/tls/ca.crt there, is one of this test's own here)
cp "$D/decp-alerts.yml" "$T/"
"$BLD/tools/decpctl/decpctl" tls init --dir "$T/tls" >/dev/null
sed "s#/etc/decp/tls/ca.crt#$T/tls/ca.crt#" "$D/prometheus.yml" >"$T/prometheus.yml"
if out=$(promtool check config "$T/prometheus.yml" 2>&1); then ok "promtool check config"
else bad "promtool check config: $out"; fi
if out=$(promtool check rules "$T/decp-alerts.yml" 2>&1); then ok "promtool check rules"
else bad "promtool check rules: $out"; fi
# ... and what DecpNotDurable pages on (a few MT5 masters' refused logins do; one does not)
cp "$SRC/tests/demo/decp-alerts-test.yml" "$T/"
if out=$(promtool test rules "$T/decp-alerts-test.yml" 2>&1); then ok "promtool test rules"
else bad "promtool test rules: $out"; fi

# 4. Grafana dashboard: valid JSON, unique panel ids, a query in every graph panel.
if out=$(/usr/bin/python3 - "$D/grafana-dashboard.json" <<'PY' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "duplicate panel ids"
for p in d["panels"]:
    assert p.get("targets") and all(t.get("expr") for t in p["targets"]), p["title"]
print(len(ids), "panels")
PY
); then ok "grafana-dashboard.json: $out"; else bad "grafana-dashboard.json: $out"; fi

# 5. Every decp_* series named in the dashboard and the alerts is documented in docs/api.md.
names=$(grep -oh 'decp_[a-z_]*' "$D/grafana-dashboard.json" "$D/decp-alerts.yml" |
	sed -E 's/_(bucket|sum|count)$//' | sort -u)
missing=
for n in $names; do grep -q "$n" "$SRC/docs/api.md" 2>/dev/null || missing="$missing $n"; done
if [ -z "$missing" ]; then ok "all $(echo $names | wc -w) series are documented in docs/api.md"
else bad "series not in docs/api.md:$missing"; fi

# 6. Kubernetes manifests of the cold path (docs/deploy/k8s, issue 24 item 4): offline
# checks against the object models of Debian's python3-kubernetes (check_k8s.py says what
# is and is not checked).
if out=$(/usr/bin/python3 "$SRC/tests/demo/check_k8s.py" "$D/k8s" \
	 "$BLD/controlplane/core/decp-control" "$SRC/controlplane/api/cp_api_routes.c" 2>&1); then
	ok "docs/deploy/k8s: $(printf "%s\n" "$out" | grep -c '^ok:') checks"
else bad "docs/deploy/k8s: $(printf "%s\n" "$out" | grep -v '^ok:')"; fi

# 7. The image's package list (docs/deploy/k8s/Containerfile) provides every library the
# binaries it copies need: their NEEDED entries, each resolved by the loader (ldd) and
# mapped to its Debian package (dpkg -S). The image copies a release build: a sanitizer
# build's runtime (libasan, libubsan) is not asked of it.
missing=
for b in "$BLD/controlplane/core/decp-control" "$BLD/tools/decpctl/decpctl"; do
	for lib in $(readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		case $lib in libasan.so* | libubsan.so* | liblsan.so* | libtsan.so*) continue ;; esac
		path=$(ldd "$b" | awk -v l="$lib" '$1 == l { print $3 }')
		pkg=$(dpkg -S "$path" 2>/dev/null | cut -d: -f1 | head -1)
		[ -n "$pkg" ] || pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | cut -d: -f1 | head -1)
		grep -qw -- "${pkg:-?}" "$D/k8s/Containerfile" || missing="$missing $lib(${pkg:-?} for $path)"
	done
done
if [ -z "$missing" ]; then ok "Containerfile installs the packages of every NEEDED library"
else bad "Containerfile lacks:$missing"; fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
