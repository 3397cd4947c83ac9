/**
 * The policy as the server runs it: RPZ files, court orders and their dates,
 * reloads (SIGHUP-style, file replacement, broken files), the control
 * channel's zone report and the policy metrics. A scripted upstream answers
 * every name with 192.0.2.1, so each answer shows whether policy changed it.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfigText } from '../src/config/load.js';
import { Ede, Rcode, Type } from '../src/dns/constants.js';
import { makeEdns, readEde } from '../src/dns/edns.js';
import { emptyMessage } from '../src/dns/message.js';
import type { Message } from '../src/dns/message.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask } from './helpers/client.js';

class Net implements Transport {
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    if (q.type === Type.A) m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: 1, sentName: q.name, tcp: false };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'verdict-policy-'));
mkdirSync(join(dir, 'orders'));
copyFileSync('config/orders/2013-tgi-paris-allostreaming.yaml', join(dir, 'orders/2013.yaml'));
const running: Verdict[] = [];
after(async () => { for (const v of running) await v.stop(); });

async function start(yaml: string, clock?: () => Date): Promise<{ v: Verdict; port: number }> {
  const file = join(dir, `cfg-${running.length}.yaml`);
  writeFileSync(file, yaml);
  const cfg = parseConfigText(`server: { listen: ["127.0.0.1:0"] }\nresolver: { qname_minimisation: false }\nlog: { level: silent }\ncontrol: { enabled: false }\ndnssec: { validation: false }\n${yaml}`, file);
  const v = new Verdict({ config: cfg, file, baseDir: dir }, { transport: new Net(), rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }], ...(clock ? { orderClock: clock } : {}) });
  running.push(v);
  await v.start();
  return { v, port: v.server.addresses[0]!.port };
}

const a = (m: Message) => m.answers.filter((r) => r.type === Type.A).map((r) => [...r.rdata].join('.'));
const edns = { edns: makeEdns(1232) };

const ORDERS = `orders:\n  files: ["orders/*.yaml"]\n  notice_host: notice.isp.example\n  notice_addresses: [198.51.100.80]\n`;

test('court order in force: notice address, EDE 16 naming the order, TXT with the order; unlisted names untouched', async () => {
  const { v, port } = await start(ORDERS, () => new Date('2014-06-01T12:00:00Z'));
  const blocked = await ask('www.dpstream.tv.', Type.A, port, edns);
  assert.equal(blocked.rcode, Rcode.NOERROR);
  assert.deepEqual(a(blocked), ['198.51.100.80']);
  assert.equal(blocked.aa, false);
  const ede = readEde(blocked);
  assert.equal(ede[0]?.code, Ede.CENSORED);
  assert.match(ede[0]!.text, /2013-tgi-paris-allostreaming/);
  assert.match(ede[0]!.text, /Tribunal de grande instance de Paris, 2013-11-28/);
  const txt = await ask('fifostream.org.', Type.TXT, port, edns);
  assert.ok(txt.answers.some((r) => r.type === Type.TXT && r.rdata.toString('latin1').includes('order=2013-tgi-paris-allostreaming')));
  assert.deepEqual(a(await ask('www.example.com.', Type.A, port)), ['192.0.2.1']);
  const text = await v.metrics.registry.metrics();
  assert.match(text, /verdict_order_blocked_total\{order="2013-tgi-paris-allostreaming"\} [1-9]/);
  assert.match(text, /verdict_rpz_hits_total\{zone="court-orders.rpz",trigger="qname",action="local-data"\} [1-9]/);
});

test('an order takes effect at its effective instant without a restart, and not before', async () => {
  // Effective 2013-12-13 00:00 Paris = 2013-12-12T23:00:00Z; the clock starts 1.5 s before it.
  const offset = Date.parse('2013-12-12T23:00:00Z') - 1500 - Date.now();
  const { port } = await start(ORDERS, () => new Date(Date.now() + offset));
  assert.deepEqual(a(await ask('dpstream.tv.', Type.A, port)), ['192.0.2.1'], 'not yet in force');
  let blocked = false;
  for (let i = 0; i < 30 && !blocked; i++) {
    await sleep(100);
    blocked = a(await ask('dpstream.tv.', Type.A, port)).includes('198.51.100.80');
  }
  assert.ok(blocked, 'enforced within 3 s of the clock passing the effective instant');
});

test('a lapsed order is not enforced', async () => {
  const { port } = await start(ORDERS, () => new Date('2015-01-10T00:00:00Z'));
  assert.deepEqual(a(await ask('www.dpstream.tv.', Type.A, port)), ['192.0.2.1']);
});

test('file zone: a broken replacement keeps the old policy with file:line; a good one is picked up without SIGHUP', async () => {
  const zone = join(dir, 'local.rpz');
  const write = (body: string) => {
    writeFileSync(zone + '.tmp', `$TTL 60\n@ SOA ns. h. 1 3600 600 86400 60\n@ NS ns.\n${body}`);
    renameSync(zone + '.tmp', zone);
  };
  write('bad.example CNAME .\n');
  const { v, port } = await start(`rpz:\n  zones:\n    - { name: local.rpz, file: local.rpz }\n`);
  assert.equal((await ask('bad.example.', Type.A, port)).rcode, Rcode.NXDOMAIN);
  write('bad.example CNAME .\nworse.example A not-an-address\n');
  await sleep(600);
  const st = v.policy.status()[0]!;
  assert.equal(st.ok, false);
  assert.match(st.error ?? '', /local\.rpz:5:17: bad IPv4 address/);
  assert.equal((await ask('bad.example.', Type.A, port)).rcode, Rcode.NXDOMAIN, 'the old zone still serves');
  assert.equal((await ask('worse.example.', Type.A, port)).rcode, Rcode.NOERROR);
  write('bad.example CNAME .\nworse.example CNAME *.\n');
  let ok = false;
  for (let i = 0; i < 40 && !ok; i++) {
    await sleep(100);
    const r = await ask('worse.example.', Type.A, port);
    ok = r.rcode === Rcode.NOERROR && r.answers.length === 0;
  }
  assert.ok(ok, 'NODATA rule picked up from the replaced file');
  assert.equal(v.policy.status()[0]!.ok, true);
  const zones = await v.controlHandlers().zones!([]) as { zones: { zone: string; rules: number; enforced: boolean }[] };
  assert.deepEqual(zones.zones.map((z) => [z.zone, z.rules, z.enforced]), [['local.rpz.', 2, true]]);
});

test('reload under load: every query answered, each by one policy version', async () => {
  const zone = join(dir, 'flip.rpz');
  const version = (n: number) => writeFileSync(zone, `$TTL 60\n@ SOA ns. h. ${n} 3600 600 86400 60\n@ NS ns.\nm.example A 10.0.0.${n}\n`);
  version(1);
  const yaml = `rpz:\n  zones:\n    - { name: flip.rpz, file: flip.rpz }\n`;
  const { v, port } = await start(yaml);
  const loaded = { config: v.config, file: join(dir, 'cfg-flip.yaml'), baseDir: dir };
  const seen = new Set<string>();
  let answered = 0;
  const N = 400;
  const queries = (async () => {
    for (let i = 0; i < N; i++) {
      const r = await ask('m.example.', Type.A, port, { id: i });
      answered++;
      seen.add(a(r).join(','));
    }
  })();
  for (let k = 2; k <= 6; k++) {
    version(k % 2 === 0 ? 2 : 1);
    await v.reload(loaded);
    await sleep(20);
  }
  await queries;
  assert.equal(answered, N);
  for (const s of seen) assert.ok(s === '10.0.0.1' || s === '10.0.0.2', `unexpected answer ${s}`);
});

test('start refuses to serve without its configured policy (never fail open)', async () => {
  await assert.rejects(start(`rpz:\n  zones:\n    - { name: missing.rpz, file: missing.rpz }\n`), /policy not loaded/);
});

test('a broken order file on reload: rejected with file:line, the orders already loaded stay enforced', async () => {
  const { v, port } = await start(ORDERS, () => new Date('2014-06-01T12:00:00Z'));
  const loaded = { config: v.config, file: join(dir, 'cfg-bad-order.yaml'), baseDir: dir };
  writeFileSync(join(dir, 'orders/zz-broken.yaml'), 'id: broken\ncourt: X\ndecision_date: 2014-02-30\n');
  try {
    await v.reload(loaded);
    const st = v.policy.status().find((z) => z.source === 'orders')!;
    assert.equal(st.ok, false);
    assert.match(st.error ?? '', /orders\/zz-broken\.yaml:\d+:\d+/);
    assert.deepEqual(a(await ask('www.dpstream.tv.', Type.A, port)), ['198.51.100.80'], 'still enforced');
  } finally {
    writeFileSync(join(dir, 'orders/zz-broken.yaml'), '');
    const { rmSync } = await import('node:fs');
    rmSync(join(dir, 'orders/zz-broken.yaml'));
  }
});
