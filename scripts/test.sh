#!/usr/bin/env bash
# Runs every test. On a fresh Debian machine it first installs the Debian
# packages the tests use (dig, NSD, BIND, Knot, Unbound) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
npx tsc -p .
# The batched UDP addon (native/udp): built if it is not (npm ci builds it; a failed build is not fatal).
[ -f native/udp/build/Release/verdict_udp.node ] || npm run --silent build:native >/dev/null 2>&1 \
  || echo "native/udp not built: the UDP tests below run on node:dgram only (set VERDICT_UDP_ADDON=optional to skip the addon's own tests)" >&2
# One file at a time: integration tests bind fixed loopback addresses (the lab on 127.55/16, port 53).
node --test --test-concurrency=1 --test-timeout=180000 dist/test/
# The UDP tests again on the fallback, node:dgram (the suite above runs on the addon where it is built):
# the server, the fast path, spoofing and poisoning (lab-poison), abuse and the ACL, the cluster, the fuzz slice.
VERDICT_UDP_IO=dgram exec node --test --test-concurrency=1 --test-timeout=180000 \
  dist/test/server.test.js dist/test/fastpath.test.js dist/test/lab-poison.test.js dist/test/abuse-defaults.test.js \
  dist/test/limits.test.js dist/test/cluster.test.js dist/test/fuzz-slice.test.js
