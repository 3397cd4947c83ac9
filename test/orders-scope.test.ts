/**
 * Orders in scope (issue 17): `applies_to` / `except` with `orders.networks`.
 * Clients on different loopback prefixes ask the same names of one server,
 * over the pipeline and the cached fast path, and get the answers their
 * scope says; a client outside every scope is never blocked by a scoped
 * order; `verdict orders explain NAME --client ADDR` says why.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { Ede, Rcode, Type } from '../src/dns/constants.js';
import { makeEdns, readEde } from '../src/dns/edns.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import type { Message } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';
import { loadOrders, parseOrder } from '../src/rpz/orders/load.js';
import { explainName } from '../src/rpz/orders/report.js';
import { ScopePartition } from '../src/rpz/orders/scope.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import { digAsync, hasDig } from './helpers/dig.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const NETWORKS = { fr: ['127.0.10.0/24', '2001:db8:f::/48'], be: ['127.0.20.0/24'] };
const FR = '127.0.10.5';
const FR_EXCEPTED = '127.0.10.200';
const BE = '127.0.20.5';
const OUTSIDE = '127.0.30.5';

function orderText(id: string, domain: string, scope: string): string {
  return `id: ${id}\ncourt: Tribunal judiciaire de Paris\ndecision_date: 2026-01-10\nparties: { plaintiffs: [X], addressees: [Y] }\n`
    + `effective: 2026-01-10\nduration: { months: 12 }\naction: nxdomain\ndomains: [${domain}]\n${scope}`;
}

const dir = mkdtempSync(join(tmpdir(), 'verdict-scope-'));
mkdirSync(join(dir, 'orders'));
writeFileSync(join(dir, 'orders/fr.yaml'), orderText('fr-order', 'streaming-fr.tv', 'applies_to: [fr]\nexcept: ["127.0.10.128/25"]\n'));
writeFileSync(join(dir, 'orders/be.yaml'), orderText('be-order', 'streaming-be.tv', 'applies_to: [be]\n'));
writeFileSync(join(dir, 'orders/all.yaml'), orderText('all-order', 'everyone.tv', ''));
const ORDERS_YAML = `orders:\n  files: ["orders/*.yaml"]\n  clock: "${NOW.toISOString()}"\n  networks:\n    fr: ["127.0.10.0/24", "2001:db8:f::/48"]\n    be: ["127.0.20.0/24"]\n`;

test('the address space cut into scope classes: one class per distinct set of orders', async () => {
  const { orders, errors } = await loadOrders(['orders/*.yaml'], dir, { networks: NETWORKS, now: NOW });
  assert.deepEqual(errors, []);
  const p = ScopePartition.build(orders);
  assert.equal(p.scoped, true);
  const classOf = (a: string) => p.classes[p.classOfAddress(a)]!.orders.sort();
  assert.deepEqual(classOf(OUTSIDE), ['all-order']);
  assert.deepEqual(classOf(FR), ['all-order', 'fr-order']);
  assert.deepEqual(classOf(FR_EXCEPTED), ['all-order']);
  assert.deepEqual(classOf('2001:db8:f::1'), ['all-order', 'fr-order']);
  assert.deepEqual(classOf(BE), ['all-order', 'be-order']);
  // The excepted half of fr gets the same orders as outside: the same class, one zone fewer.
  assert.equal(p.classOfAddress(FR_EXCEPTED), 0);
  assert.equal(p.classes.length, 3);
  const unscoped = ScopePartition.build(orders.filter((o) => !o.scope));
  assert.equal(unscoped.scoped, false);
  assert.equal(unscoped.classes.length, 1);
});

test('a scope naming an unknown set or a bad prefix is an error at its line', () => {
  const r = parseOrder(orderText('x', 'a.tv', 'applies_to: [fr, nowhere]\nexcept: ["10.0.0.1/8"]\n'), 'x.yaml', { networks: NETWORKS });
  assert.equal(r.order, undefined);
  const msgs = r.errors.map((e) => `${e.line} ${e.path}: ${e.message}`);
  assert.ok(msgs.some((m) => /^9 applies_to\[1\]: "nowhere" is neither a network set .*orders\.networks defines: fr, be/.test(m)), msgs.join('\n'));
  assert.ok(msgs.some((m) => /^10 except\[0\]: "10\.0\.0\.1\/8": address bits set beyond the prefix length/.test(m)), msgs.join('\n'));
  const empty = parseOrder(orderText('x', 'a.tv', 'applies_to: []\n'), 'x.yaml', { networks: NETWORKS });
  assert.match(empty.errors[0]!.message, /applies_to lists at least one/);
});

test('explain --client: blocked for a client in scope, not for one outside or excepted, and why', async () => {
  const { orders } = await loadOrders(['orders/*.yaml'], dir, { networks: NETWORKS, now: NOW });
  const fr = explainName('www.streaming-fr.tv', orders, NOW, { client: FR });
  assert.equal(fr.blocked, true);
  assert.match(fr.text, /for client 127\.0\.10\.5/);
  assert.match(fr.text, /applies to 127\.0\.10\.5: in 127\.0\.10\.0\/24 \(applies_to \[fr\]\)/);
  const out = explainName('www.streaming-fr.tv', orders, NOW, { client: OUTSIDE });
  assert.equal(out.blocked, false);
  assert.match(out.text, /not blocked for 127\.0\.30\.5: no order covering it in force applies to this client/);
  assert.match(out.text, /does not apply to 127\.0\.30\.5: outside applies_to \[fr\]/);
  const ex = explainName('streaming-fr.tv', orders, NOW, { client: FR_EXCEPTED });
  assert.equal(ex.blocked, false);
  assert.match(ex.text, /in applies_to \(127\.0\.10\.0\/24\) but excepted \(127\.0\.10\.128\/25/);
  assert.equal(explainName('everyone.tv', orders, NOW, { client: OUTSIDE }).blocked, true);
  // Without a client: the rule as for every client in scope, and a hint to give one.
  const any = explainName('streaming-fr.tv', orders, NOW);
  assert.match(any.text, /scoped: applies_to \[fr\], except \[127\.0\.10\.128\/25\] \(give --client ADDR\)/);
});

test('verdict orders explain NAME --client ADDR from the command line', () => {
  const cfg = join(dir, 'cli.yaml');
  writeFileSync(cfg, `${ORDERS_YAML}control: { enabled: false }\n`);
  const run = (...args: string[]) => spawnSync('node', [resolve('dist/src/cli.js'), 'orders', 'explain', ...args, '-c', cfg], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
  const be = run('streaming-be.tv', '--client', BE);
  assert.equal(be.status, 0, be.stderr);
  assert.match(be.stdout, /BLOCKED by rule streaming-be\.tv\.court-orders\.rpz/);
  const fr = run('streaming-be.tv', '--client', FR, '--json');
  assert.equal(fr.status, 0, fr.stderr);
  const data = JSON.parse(fr.stdout) as { blocked: boolean; client: string; matches: { appliesToClient: boolean }[] };
  assert.equal(data.blocked, false);
  assert.equal(data.client, FR);
  assert.equal(data.matches[0]!.appliesToClient, false);
  const bad = run('streaming-be.tv', '--client', 'not-an-address');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--client "not-an-address": not an IPv4 or IPv6 address/);
});

/** Every name has A 192.0.2.1, except alias.example.com, a CNAME into the fr-scoped name. */
class Net implements Transport {
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    const lower = q.name.toString('latin1').toLowerCase();
    if (lower === '\x05alias\x07example\x03com\x00') {
      m.answers.push({ name: q.name, type: Type.CNAME, class: 1, ttl: 300, rdata: nameFromText('streaming-fr.tv.') });
    } else if (q.type === Type.A) {
      m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    }
    return { message: m, rttMs: 1, sentName: q.name, tcp: false };
  }
}

const running: Verdict[] = [];
after(async () => { for (const v of running) await v.stop(); });

async function start(): Promise<{ v: Verdict; port: number }> {
  const file = join(dir, 'serve.yaml');
  const cfg = parseConfigText(`server: { listen: ["127.0.0.1:0"], allow: ["127.0.0.0/8"] }\nresolver: { qname_minimisation: false }\nlog: { level: silent }\ncontrol: { enabled: false }\ndnssec: { validation: false }\nmirrors: { enabled: false }\n${ORDERS_YAML}`, file);
  const v = new Verdict({ config: cfg, file, baseDir: dir }, { transport: new Net(), rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }], orderClock: () => NOW });
  running.push(v);
  await v.start();
  return { v, port: v.server.addresses[0]!.port };
}

/** One UDP query from a chosen loopback source address (the client's network). */
function askFrom(source: string, name: string, port: number): Promise<Message> {
  const raw = encodeMessage(makeQuery(Math.floor(Math.random() * 65535), nameFromText(name), Type.A, { rd: true, edns: makeEdns(1232) }));
  return new Promise((resolvePromise, reject) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => { s.close(); reject(new Error(`no answer for ${name} from ${source}`)); }, 3000);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolvePromise(decodeMessage(m)); });
    s.bind({ address: source, port: 0 }, () => s.send(raw, port, '127.0.0.1'));
  });
}

const addresses = (m: Message) => m.answers.filter((r) => r.type === Type.A).map((r) => [...r.rdata].join('.'));
const blocked = (m: Message) => m.rcode === Rcode.NXDOMAIN && readEde(m).some((e) => e.code === Ede.CENSORED);

test('one server, one name, two networks: blocked where the order applies, answered elsewhere, over the pipeline and the fast path', async () => {
  const { v, port } = await start();
  // Three rounds: the first resolves, the next ones come from the wire-form cache where allowed.
  for (let round = 0; round < 3; round++) {
    const fastBefore = v['fastPath'].answered;
    for (const [client, fr, be] of [[OUTSIDE, false, false], [FR, true, false], [FR_EXCEPTED, false, false], [BE, false, true]] as const) {
      const a = await askFrom(client, 'www.streaming-fr.tv.', port);
      assert.equal(blocked(a), fr, `round ${round}: streaming-fr.tv for ${client}`);
      if (!fr) assert.deepEqual(addresses(a), ['192.0.2.1']);
      const b = await askFrom(client, 'streaming-be.tv.', port);
      assert.equal(blocked(b), be, `round ${round}: streaming-be.tv for ${client}`);
      if (!be) assert.deepEqual(addresses(b), ['192.0.2.1']);
      assert.ok(blocked(await askFrom(client, 'everyone.tv.', port)), `round ${round}: the unscoped order blocks ${client}`);
    }
    // From the second round, the unblocked answers (5 per round) come from the fast path.
    if (round > 0) assert.ok(v['fastPath'].answered - fastBefore >= 5, `round ${round}: fast path used (${v['fastPath'].answered - fastBefore})`);
  }
  const ede = readEde(await askFrom(FR, 'streaming-fr.tv.', port));
  assert.match(ede[0]!.text, /fr-order/);
});

test('a CNAME chain into a scoped name: the cached chain of an outside client is never served to a client in scope', async () => {
  const { port } = await start();
  for (let round = 0; round < 3; round++) {
    const out = await askFrom(OUTSIDE, 'alias.example.com.', port);
    assert.equal(out.rcode, Rcode.NOERROR);
    assert.deepEqual(addresses(out), ['192.0.2.1'], `round ${round}: outside client gets the chain`);
    const fr = await askFrom(FR, 'alias.example.com.', port);
    assert.equal(fr.rcode, Rcode.NXDOMAIN, `round ${round}: fr client: the chain's blocked name is rewritten`);
    assert.deepEqual(addresses(fr), []);
  }
});

test('dig from two source addresses (dig -b): the same name, two answers', { skip: hasDig() ? false : 'dig is not installed' }, async () => {
  const { port } = await start();
  const fr = await digAsync(['-b', FR, 'streaming-fr.tv', 'A'], '127.0.0.1', port);
  assert.equal(fr.status, 'NXDOMAIN');
  assert.ok(fr.ede.some((e) => /16 \(Censored\)/.test(e) && /fr-order/.test(e)), fr.text);
  const be = await digAsync(['-b', BE, 'streaming-fr.tv', 'A'], '127.0.0.1', port);
  assert.equal(be.status, 'NOERROR');
  assert.deepEqual(be.answer.map((l) => l.split(' ').slice(-1)[0]), ['192.0.2.1']);
});
