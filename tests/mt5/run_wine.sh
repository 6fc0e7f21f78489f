#!/bin/sh
# run_wine.sh: runs a Windows program under Wine in a fresh, private WINEPREFIX (removed
# afterwards with its wineserver), headless. Exit 77 (meson: skipped) only when Wine
# itself cannot start, with the reason on stdout.
#   usage: run_wine.sh PROGRAM.exe [ARGS...]
set -u
WINE=${DECP_WINE:-/usr/lib/wine/wine64}
if [ ! -x "$WINE" ]; then
	echo "skipped: $WINE not found (Debian package wine64; tools/bootstrap installs it)"
	exit 77
fi
tmp=${DECP_TEST_TMPDIR:-/tmp}
WINEPREFIX=$(mktemp -d "$tmp/decp-wine-XXXXXX") || exit 1
export WINEPREFIX WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" DISPLAY=
cleanup() {
	"$(dirname "$WINE")/wineserver" -k >/dev/null 2>&1
	rm -rf "$WINEPREFIX"
}
trap cleanup EXIT INT TERM
# A prefix of our own: ~7 s once; a failure here means Wine cannot run on this machine.
if ! timeout 300 "$WINE" wineboot -i >/dev/null 2>&1; then
	echo "skipped: wine cannot start here (wineboot failed)"
	exit 77
fi
timeout "${DECP_WINE_TIMEOUT:-600}" "$WINE" "$@"
