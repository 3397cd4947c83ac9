/**
 * The zone table's configuration (issue 18): `verdict check` validates forward
 * and stub zone addresses with file:line errors, refuses a zone listed twice
 * and TLS keys without `tls: true`; the route table picks the most specific
 * zone, a configured zone wins over a built-in local zone, and a DS at a
 * zone's apex is asked above it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { Rcode, Type } from '../src/dns/constants.js';
import { nameFromText } from '../src/dns/name.js';
import { checkRoutes, routesFromConfig } from '../src/resolver/routes.js';

const CLI = 'dist/src/cli.js';
const n = (t: string) => nameFromText(t);

test('bad forward and stub zone configurations are refused with file:line and key', () => {
  const bad: [string, RegExp][] = [
    ['resolver:\n  forward_zones:\n    - { name: corp.example, addresses: ["192.0.2.300"] }\n', /routes\.yaml:3:.*forward_zones.*not an IP address/s],
    ['resolver:\n  stub_zones:\n    - { name: partner.example, addresses: ["ns1.partner.example"] }\n', /routes\.yaml:3:.*stub_zones.*not an IP address/s],
    ['resolver:\n  stub_zones:\n    - { name: partner.example, addresses: ["198.51.100.53:70000"] }\n', /not an IP address with an optional port/],
    ['resolver:\n  stub_zones:\n    - { name: partner.example, addresses: [] }\n', /stub_zones/],
    ['resolver:\n  forward_zones:\n    - { name: Corp.Example., addresses: ["192.0.2.53"] }\n  stub_zones:\n    - { name: corp.example, addresses: ["192.0.2.54"] }\n', /zone corp\.example is already configured in forward_zones\[0\]/],
    ['resolver:\n  forward_zones:\n    - { name: corp.example, addresses: ["192.0.2.53"], tls_name: dns.corp.example }\n', /tls_name and tls_ca_file need tls: true/],
    ['resolver:\n  forward_zones:\n    - { name: "bad..name", addresses: ["192.0.2.53"] }\n', /not a domain name/],
    ['resolver:\n  local_zones: { onions: false }\n', /onions/],
  ];
  for (const [yaml, re] of bad) assert.throws(() => parseConfigText(yaml, 'routes.yaml'), re, yaml);
});

test('the contract example parses, and verdict check prints each zone with its servers', () => {
  const cfg = parseConfigText(`resolver:
  local_zones: { defaults: true }
  forward_zones:
    - { name: corp.example, addresses: ["192.0.2.53", "192.0.2.54:5300"], first: false }
  stub_zones:
    - { name: partner.example, addresses: ["198.51.100.53", "[2001:db8::53]:5300"] }
`, 'contract.yaml');
  const r = checkRoutes(cfg, '.', 'contract.yaml');
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.lines, [
    'resolver: 101 locally served zones (reverse, shared_address, localhost, invalid, onion, home_arpa)',
    'resolver: forward zone corp.example. -> 192.0.2.53:53, 192.0.2.54:5300',
    'resolver: stub zone partner.example. -> 198.51.100.53:53, [2001:db8::53]:5300',
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'verdict-routes-'));
  const file = join(dir, 'v.yaml');
  writeFileSync(file, `resolver:\n  forward_zones:\n    - { name: corp.example, addresses: ["192.0.2.53"], tls: true, tls_name: dns.corp.example, tls_ca_file: ${join(dir, 'missing-ca.pem')} }\nrpz: { zones: [] }\ncontrol: { enabled: false }\n`);
  const bad = spawnSync('node', [CLI, 'check', '-c', file], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(bad.status, 1, bad.stdout + bad.stderr);
  assert.match(bad.stderr, /cannot read tls_ca_file .*missing-ca\.pem: ENOENT/);
  writeFileSync(join(dir, 'missing-ca.pem'), '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');
  const garbage = spawnSync('node', [CLI, 'check', '-c', file], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(garbage.status, 1, garbage.stdout + garbage.stderr);
  assert.match(garbage.stderr, /missing-ca\.pem is not a PEM certificate/);
  writeFileSync(file, `resolver:\n  forward_zones:\n    - { name: corp.example, addresses: ["192.0.2.53"], tls: true, tls_name: dns.corp.example }\nrpz: { zones: [] }\ncontrol: { enabled: false }\n`);
  const ok = spawnSync('node', [CLI, 'check', '-c', file], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /forward zone corp\.example\. -> 192\.0\.2\.53:853 \(TLS, name dns\.corp\.example\)/);
});

test('routes: the most specific zone wins, a configured zone beats a local one, local families switch off', () => {
  const cfg = parseConfigText(`resolver:
  local_zones: { home_arpa: false }
  forward_zones:
    - { name: example, addresses: ["192.0.2.1"] }
    - { name: 64.100.in-addr.arpa, addresses: ["192.0.2.2"] }
  stub_zones:
    - { name: deep.corp.example, addresses: ["192.0.2.3"] }
`, 'r.yaml');
  const t = routesFromConfig(cfg, '.');
  assert.equal(t.route(n('www.corp.example.'))?.label, 'example.');
  assert.equal(t.route(n('a.deep.corp.example.'))?.kind, 'stub');
  assert.equal(t.route(n('www.example.com.')), undefined);
  // The CGN reverse zone is forwarded, not answered locally; its sibling still is.
  assert.equal(t.local(n('1.1.64.100.in-addr.arpa.'), Type.PTR), undefined);
  assert.equal(t.route(n('1.1.64.100.in-addr.arpa.'))?.kind, 'forward');
  assert.equal(t.local(n('1.1.65.100.in-addr.arpa.'), Type.PTR)?.rcode, Rcode.NXDOMAIN);
  assert.equal(t.local(n('printer.home.arpa.'), Type.A), undefined, 'home_arpa: false');
  assert.equal(t.local(n('foo.onion.'), Type.A)?.zone, 'onion.');
  // An empty non-terminal of a local zone is NODATA, not NXDOMAIN (RFC 8020).
  assert.deepEqual(t.local(n('0.0.127.in-addr.arpa.'), Type.PTR), { zone: '127.in-addr.arpa.', rcode: Rcode.NOERROR, answers: [], soa: t.local(n('127.in-addr.arpa.'), Type.A)!.soa });
  const none = routesFromConfig(parseConfigText('resolver: { local_zones: { defaults: false } }\n', 'n.yaml'), '.');
  assert.equal(none.local(n('localhost.'), Type.A), undefined);
  assert.equal(none.localSize, 0);
});
