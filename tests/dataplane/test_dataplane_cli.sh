#!/bin/sh
# test_dataplane_cli: decp-dataplane refuses a bad --shm name, and the other option values
# that used to fail only at start (exit 1), with exit 2 (docs/dataplane.md "Exit status")
# and a message naming the option, before it creates anything. A run that got past its
# options would listen until `timeout` stops it (exit 124), or fail later with exit 1.
# Usage: test_dataplane_cli.sh DECP_DATAPLANE
D=$1
T=$(mktemp -d) || exit 1
SHM="decp-dpcli-$$"
trap 'rm -rf "$T"; rm -f "/dev/shm/$SHM x" "/dev/shm/$SHM"' EXIT
run_cli() {
	timeout 10 "$D" --stack posix --listen 127.0.0.1:0 "$@"
}
. "$(dirname "$0")/../fanout/clilib.sh"
long=$(printf '%040d' 0)
expect shm_empty 2 "--shm '': 1..39 characters of A-Z a-z 0-9 . _ -" --tls off --shm ''
expect shm_slash_only 2 "--shm '/': 1..39" --tls off --shm /
expect shm_inner_slash 2 "--shm 'a/b': 1..39" --tls off --shm a/b
expect shm_dotdot 2 "--shm '..': 1..39" --tls off --shm ..
expect shm_too_long 2 "--shm '$long': 1..39" --tls off --shm "$long"
expect shm_space 2 "--shm '$SHM x': 1..39" --tls off --shm "$SHM x"
printf 'shm = ..\ntls = off\n' >"$T/dp.conf"
expect shm_in_config 2 "--shm '..': 1..39" --config "$T/dp.conf"
expect tls_without_cert 2 "--tls required needs --tls-cert and --tls-key" --shm "$SHM"
expect tls_optional_key_only 2 "--tls optional needs --tls-cert and --tls-key" --shm "$SHM" \
	--tls optional --tls-key "$T/k.pem"
expect port_file_empty 2 "--port-file: the path is empty" --tls off --shm "$SHM" --port-file ''
expect tls_cert_empty 2 "--tls-cert: the path is empty" --shm "$SHM" --tls-cert '' --tls-key k
expect segment_over_4g 2 "the shared-memory segment would be over 4 GiB" --tls off \
	--shm "$SHM" --ring-size 8388608
expect workers_range 2 "--workers: '17' is not a number in 1..16" --tls off --shm "$SHM" \
	--workers 17
# a TLS file with --tls off was accepted and ignored (plain text served with a client CA set)
expect tls_off_cert 2 "--tls off with --tls-cert: TLS is off, so --tls-cert would be ignored" \
	--tls off --shm "$SHM" --tls-cert "$T/x.pem"
expect tls_off_client_ca 2 "--tls off with --tls-client-ca" --tls off --shm "$SHM" \
	--tls-client-ca /nonexistent
printf 'shm = %s\ntls = off\ntls_crl = /x.crl\n' "$SHM" >"$T/dp2.conf"
expect tls_off_crl_in_config 2 "--tls off with --tls-crl" --config "$T/dp2.conf"
expect help_ok 0 "Exit status: 0 after SIGTERM/SIGINT or --help, 2 for a usage error" --help
if [ $fail = 0 ]; then echo "17 passed, 0 failed"; else echo "FAILED"; fi
exit $fail
