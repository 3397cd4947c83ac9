#!/usr/bin/env bash
# Installs the Debian packages the tests and demo need, only when missing.
set -euo pipefail
need=()
command -v dig >/dev/null || need+=(bind9-dnsutils)
command -v named >/dev/null || need+=(bind9)
command -v nsd >/dev/null || need+=(nsd)
command -v knotd >/dev/null || need+=(knot)
command -v kdig >/dev/null || need+=(knot-dnsutils)
command -v unbound >/dev/null || need+=(unbound)
command -v promtool >/dev/null || need+=(prometheus)
command -v dnssec-signzone >/dev/null || need+=(bind9-utils)
command -v ldns-signzone >/dev/null || need+=(ldnsutils)
command -v chromium >/dev/null || need+=(chromium)   # the transparency page is rendered in a real browser (test/orders-transparency.test.ts)
# DoT/DoH tests and forwarding over TLS: a test CA made with openssl, DoH requests with curl (HTTP/2).
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
# dnsperf: DoT/DoH interop (test/encrypted.test.ts) and the benches (bench/).
command -v dnsperf >/dev/null || need+=(dnsperf)
# The batched UDP addon (native/udp) is built by node-gyp: a C compiler, make, python3.
command -v gcc >/dev/null || need+=(gcc)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's packages start their daemons where systemd runs; tests start their own, by PID.
for svc in named bind9 nsd knot unbound prometheus; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
done
