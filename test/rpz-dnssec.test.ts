/**
 * RPZ and DNSSEC (issue 13 item 8) on the signed lab: with `rpz.break_dnssec:
 * false` (BIND's default) a signed answer to a DO=1 query is left alone and a
 * DO=0 query is rewritten, as BIND 9.18 does; with `true` both are rewritten.
 * A court order rewrites DO=1 queries for signed names whatever break_dnssec
 * says, never sets AD on a rewritten answer, and keeps EDE 16 naming the order.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { Ede, Rcode, Type } from '../src/dns/constants.js';
import { readEde } from '../src/dns/edns.js';
import type { Message } from '../src/dns/message.js';
import { startLab } from '../src/lab/lab.js';
import type { Lab } from '../src/lab/lab.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask } from './helpers/client.js';

const dir = mkdtempSync(join(tmpdir(), 'verdict-rpz-dnssec-'));
mkdirSync(join(dir, 'orders'));
writeFileSync(join(dir, 'local.rpz'), `$TTL 60
@ SOA ns.local.rpz. h.local.rpz. 1 3600 600 86400 60
@ NS ns.local.rpz.
www.alg13.sec CNAME .
www.insecure.sec CNAME .
`);
writeFileSync(join(dir, 'orders', 'signed.yaml'), `id: test-order-signed-zone
example: true
court: Tribunal judiciaire de Paris
decision_date: 2026-01-10
reference: "RG 26/00001"
parties:
  plaintiffs: [A rights holder]
  addressees: [An ISP]
effective: { within_days: 0 }
duration: { months: 12 }
timezone: Europe/Paris
status: active
action: nxdomain
include_subdomains: true
domains:
  - alg15.sec
`);

let lab: Lab;
const running: Verdict[] = [];

async function start(breakDnssec: boolean): Promise<number> {
  const text = `server: { listen: ["127.0.0.1:0"] }
resolver: { root_hints: [${lab.rootHints.map((h) => `{ name: ${h.name}, address: ${h.address} }`).join(', ')}], upstream_timeout_ms: 400 }
log: { level: silent }
control: { enabled: false }
mirrors: { enabled: false }
dnssec: { trust_anchor_file: ${resolve('lab/keys/root.ds')} }
rpz:
  break_dnssec: ${breakDnssec}
  zones:
    - { name: court-orders.rpz }
    - { name: local.rpz, file: local.rpz }
orders: { files: ["orders/*.yaml"], clock: "2026-06-01T12:00:00Z" }
`;
  const file = join(dir, `v${running.length}.yaml`);
  writeFileSync(file, text);
  const v = new Verdict({ config: parseConfigText(text, file), file, baseDir: dir });
  running.push(v);
  await v.start();
  return v.server.addresses.find((a) => a.transport === 'udp')!.port;
}

before(async () => {
  lab = await startLab();
});
after(async () => {
  for (const v of running) await v.stop();
  await lab?.stop();
});

const DO = { edns: { udpSize: 1232, version: 0, do: true, options: [] }, tcp: true };
const NO_DO = { edns: { udpSize: 1232, version: 0, do: false, options: [] } };
const hasA = (m: Message) => m.answers.some((r) => r.type === Type.A);

test('break_dnssec false (BIND default): a signed answer to DO=1 is not rewritten; DO=0 and unsigned answers are', async () => {
  const port = await start(false);
  const signedDo = await ask('www.alg13.sec.', Type.A, port, DO);
  assert.equal(signedDo.rcode, Rcode.NOERROR);
  assert.ok(hasA(signedDo) && signedDo.ad, 'the signed answer, validated');
  const signedPlain = await ask('www.alg13.sec.', Type.A, port, NO_DO);
  assert.equal(signedPlain.rcode, Rcode.NXDOMAIN, 'DO=0: rewritten');
  const unsignedDo = await ask('www.insecure.sec.', Type.A, port, DO);
  assert.equal(unsignedDo.rcode, Rcode.NXDOMAIN, 'an unsigned answer is rewritten even for DO=1');
  assert.ok(!unsignedDo.ad);
});

test('break_dnssec true: DO=1 queries for signed names are rewritten too, without AD', async () => {
  const port = await start(true);
  const r = await ask('www.alg13.sec.', Type.A, port, DO);
  assert.equal(r.rcode, Rcode.NXDOMAIN);
  assert.ok(!r.ad);
});

test('a court order rewrites DO=1 queries for signed names whatever break_dnssec says: no AD, EDE 16 naming the order', async () => {
  const port = await start(false);
  const r = await ask('www.alg15.sec.', Type.A, port, DO);
  assert.equal(r.rcode, Rcode.NXDOMAIN);
  assert.ok(!r.ad, 'a rewritten answer never carries AD');
  assert.ok(!r.answers.some((x) => x.type === Type.RRSIG));
  const ede = readEde(r);
  assert.equal(ede[0]?.code, Ede.CENSORED);
  assert.match(ede[0]!.text, /test-order-signed-zone/);
  // The same zone's other names are untouched and still secure.
  const other = await ask('www.alg8.sec.', Type.A, port, DO);
  assert.ok(other.ad && hasA(other));
});
