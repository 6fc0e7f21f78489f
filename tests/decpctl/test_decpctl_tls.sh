#!/bin/sh
# decpctl tls client --force / tls revoke (an operator's key-compromise sequence): the
# certificate a reissue replaces is kept (master-ID.SERIAL.crt) and `tls revoke --master ID`
# revokes it together with the current one, and nothing of another master. Once the
# replaced certificate's serial was lost with the overwritten file: reissue first, revoke
# second, and the leaked certificate stayed valid while the new one was revoked.
# Checked with the openssl command (docs/dependencies.md). Usage: test_decpctl_tls.sh DECPCTL
D="$1"
. "$(dirname "$0")/testlib.sh"
command -v openssl >/dev/null || { echo "openssl missing (tools/bootstrap installs it)"; echo "0 passed, 1 failed"; exit 1; }
T=$(mktemp -d /tmp/decpctl-tls.XXXXXX)
trap 'rm -rf "$T"' EXIT
verify() { openssl verify -crl_check -CAfile "$T/tls/ca.crt" -CRLfile "$T/tls/ca.crl" "$1" >/dev/null 2>&1; }

# A --server-name that is not a DNS name is a usage error before anything is written (an
# empty one failed in OpenSSL with exit 1, "bad name" was signed into the SAN).
for n in "" "bad name" "a..b" ".a" "a_b" "x*.example" "$(printf 'a%.0s' $(seq 64)).example"; do
	check "server_name_$n" 2 "$D" tls init --dir "$T/bad" --server-name "$n"
done
[ ! -e "$T/bad" ] && ok || bad "a refused tls init left $T/bad: $(ls -la "$T/bad")"
check server_name_ok 0 "$D" tls init --dir "$T/good" --server-name ingest.example \
	--server-name '*.decp.example' --server-name localhost
openssl x509 -in "$T/good/server.crt" -noout -ext subjectAltName | grep -q "DNS:\*.decp.example" &&
	ok || bad "wildcard name not in the SAN"
check init 0 "$D" tls init --dir "$T/tls" --master 1 --master 2 --master 10
cp "$T/tls/master-1.crt" "$T/leaked.crt"
serial=$(openssl x509 -in "$T/leaked.crt" -noout -serial | cut -d= -f2)
check reissue_no_force 1 "$D" tls client --dir "$T/tls" --master 1
check reissue 0 "$D" tls client --dir "$T/tls" --master 1 --force
[ -f "$T/tls/master-1.$serial.crt" ] && ok || bad "replaced certificate not kept as master-1.$serial.crt: $(ls "$T/tls")"
cmp -s "$T/tls/master-1.crt" "$T/leaked.crt" && bad "master-1.crt was not replaced" || ok
check revoke 0 "$D" tls revoke --dir "$T/tls" --master 1
verify "$T/leaked.crt" && bad "the replaced (leaked) certificate of master 1 still verifies" || ok
verify "$T/tls/master-1.crt" && bad "master 1's current certificate still verifies" || ok
verify "$T/tls/master-2.crt" && ok || bad "master 2's certificate no longer verifies"
verify "$T/tls/master-10.crt" && ok || bad "master 10's certificate no longer verifies"
n=$(openssl crl -in "$T/tls/ca.crl" -noout -text | grep -c "Serial Number")
[ "$n" = 2 ] && ok || bad "the CRL lists $n serials, want 2"
# revoking another master keeps what the CRL listed; a second reissue keeps one more
check reissue_2 0 "$D" tls client --dir "$T/tls" --master 2 --force
check revoke_2 0 "$D" tls revoke --dir "$T/tls" --master 2
verify "$T/leaked.crt" && bad "master 1's old certificate verifies again" || ok
verify "$T/tls/master-2.crt" && bad "master 2's certificate still verifies" || ok
verify "$T/tls/master-10.crt" && ok || bad "master 10's certificate no longer verifies"
n=$(openssl crl -in "$T/tls/ca.crl" -noout -text | grep -c "Serial Number")
[ "$n" = 4 ] && ok || bad "the CRL lists $n serials, want 4"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
