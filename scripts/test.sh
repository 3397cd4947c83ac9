#!/usr/bin/env bash
# Runs every test. On a fresh Debian machine it first installs the Debian
# packages the tests use (dig, NSD, BIND, Knot, Unbound) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
npx tsc -p .
# One file at a time: integration tests bind fixed loopback addresses (the lab on 127.55/16, port 53).
exec node --test --test-concurrency=1 --test-timeout=180000 dist/test/
