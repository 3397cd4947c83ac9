#!/usr/bin/env bash
# The test suite again on Node 24 LTS (Node 20, the machine's, is out of support since
# April 2026). Node 24 comes from the npm registry's `node` package, installed once into
# .cache/node24 (not node_modules: its `node` binary would shadow the system's in npm scripts).
# Runs after `npm test` (which builds dist/ and installs the Debian packages): the same
# compiled files, every test file, one at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${VERDICT_NODE24_VERSION:-24}"
DIR=.cache/node24
NODE="$DIR/node_modules/node/bin/node"
if [ ! -x "$NODE" ]; then
  mkdir -p "$DIR"
  npm install --prefix "$DIR" --no-save --no-audit --no-fund --no-package-lock "node@$VERSION" >/dev/null
fi
echo "test-node24: $("$NODE" --version)"
[ -d dist/test ] || npx tsc -p .
# Node 22+ takes glob patterns, not a directory.
exec "$NODE" --test --test-reporter=tap --test-concurrency=1 --test-timeout=180000 'dist/test/*.test.js'
