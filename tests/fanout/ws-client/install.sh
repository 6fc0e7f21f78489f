#!/bin/sh
# install.sh SRC OUT STAMP: the npm `ws` client of tests/fanout into OUT (a build
# directory, never the source tree): copies ws_client.mjs, package.json and
# package-lock.json, then `npm ci` there (only when the lock file changed). tools/bootstrap
# installs node and npm.
set -eu
src=$1 out=$2 stamp=$3
mkdir -p "$out"
cp "$src/ws_client.mjs" "$src/package.json" "$src/package-lock.json" "$out/"
if ! cmp -s "$out/package-lock.json" "$out/node_modules/.decp-lock" 2>/dev/null; then
  command -v npm >/dev/null || { echo "install.sh: npm not found (run tools/bootstrap)" >&2; exit 1; }
  (cd "$out" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$out/package-lock.json" "$out/node_modules/.decp-lock"
fi
touch "$stamp"
