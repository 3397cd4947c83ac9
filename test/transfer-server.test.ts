/**
 * Zone transfers through the whole server (`new Verdict(config)`), against
 * real name servers started by the test on loopback, stopped by PID:
 *
 * 1. Verdict as a SECONDARY of Knot DNS (knotd) for `feed.rpz`, TSIG
 *    hmac-sha256: AXFR at start, the feed's rules enforced on client answers;
 *    a change in Knot reaches the answers by NOTIFY + IXFR within 3 s; a
 *    NOTIFY from another address is REFUSED; `ctl zones` shows the serial; a
 *    restart with Knot gone serves the copy in `transfer.state_dir` at once.
 * 2. Verdict as a PRIMARY of the compiled court-order zone, Debian's BIND 9
 *    (named) its secondary (TSIG) and an RPZ consumer of it: named pulls the
 *    zone by AXFR and answers the order's names exactly as Verdict does;
 *    an amendment added with `ctl reload` reaches named by NOTIFY + IXFR
 *    within 5 s and both block the mirrors.
 * 3. dig against Verdict: the redirect, EDE 16 naming the order, the TXT.
 *
 * In 2 and 3 both resolvers recurse through one NSD serving a root zone that
 * holds every name (no delegations), so unlisted names get the same real answer.
 *
 * Addresses: 127.55.211.0/24 (Knot .1, Verdict-as-secondary .2, a stranger
 * .9, NSD root .10); named and Verdict-as-primary on 127.0.0.1 (named binds
 * only addresses on an interface), ports 5461-5463.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { loadConfig } from '../src/config/load.js';
import { Class, Ede, Opcode, Rcode, Type } from '../src/dns/constants.js';
import { makeEdns, readEde } from '../src/dns/edns.js';
import { decodeMessage, emptyMessage, encodeMessage } from '../src/dns/message.js';
import type { Message } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import type { ZoneStatus } from '../src/rpz/manager.js';
import { hasNamed, startNamed } from './helpers/bind.js';
import type { NamedHandle } from './helpers/bind.js';
import { ask } from './helpers/client.js';
import { digAsync, hasDig } from './helpers/dig.js';
import { hasKnot, startKnot } from './helpers/knot.js';
import type { KnotHandle } from './helpers/knot.js';
import { hasNsd, startMiniHier } from './helpers/minihier.js';
import type { MiniHierHandle } from './helpers/minihier.js';

const work = mkdtempSync(join(tmpdir(), 'verdict-xfr-server-'));
const silent = pino({ level: 'silent' });
const a = (m: Message) => m.answers.filter((r) => r.type === Type.A).map((r) => [...r.rdata].join('.')).sort();
const txt = (m: Message) => m.answers.filter((r) => r.type === Type.TXT).map((r) => r.rdata.toString('latin1')).sort();

/** Poll `check` every `stepMs` until it returns true: bounded by `ms` milliseconds and by ms/stepMs + 1 tries. */
async function until(check: () => Promise<boolean> | boolean, ms: number, stepMs = 50): Promise<boolean> {
  const end = Date.now() + ms;
  for (let i = 0; i < Math.ceil(ms / stepMs) + 1 && Date.now() <= end; i++) {
    if (await check()) return true;
    await sleep(stepMs);
  }
  return check();
}

function scrape(address: { address: string; port: number }): Promise<string> {
  return new Promise((res, rej) => {
    const req = get({ host: address.address, port: address.port, path: '/metrics', timeout: 3000 }, (r) => {
      let body = '';
      r.on('data', (d) => { body += d; });
      r.on('end', () => res(body));
    });
    req.on('timeout', () => req.destroy(new Error('metrics scrape timed out')));
    req.on('error', rej);
  });
}

/** One NOTIFY for `zone` (RFC 1996), sent from `from` (an address of ours), the reply decoded. */
function sendNotify(zone: string, from: string, to: { address: string; port: number }, timeoutMs = 2000): Promise<Message> {
  const q = emptyMessage({ id: 0x4e4f, opcode: Opcode.NOTIFY, aa: true, questions: [{ name: nameFromText(zone), type: Type.SOA, class: Class.IN }] });
  return new Promise((res, rej) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => { s.close(); rej(new Error(`no reply to NOTIFY from ${from}`)); }, timeoutMs);
    s.on('message', (m) => { clearTimeout(t); s.close(); res(decodeMessage(m)); });
    s.on('error', (e) => { clearTimeout(t); s.close(); rej(e); });
    s.bind(0, from, () => s.send(encodeMessage(q), to.port, to.address));
  });
}

/**
 * Fail early and clearly when something holds an address we need (a process left over from an
 * interrupted run). Waits up to 3 s first: NSD's workers close their sockets just after their parent exits.
 */
async function assertFree(address: string, port: number): Promise<void> {
  const tryBind = () => new Promise<string | undefined>((res) => {
    const s = createSocket('udp4');
    s.once('error', (e) => { s.close(); res((e as NodeJS.ErrnoException).code ?? String(e)); });
    s.bind(port, address, () => s.close(() => res(undefined)));
  });
  let err: string | undefined;
  for (let i = 0; i < 30; i++) {
    err = await tryBind();
    if (!err) return;
    await sleep(100);
  }
  throw new Error(`${address}:${port} is taken (${err}): a leftover server? stop it by its PID`);
}

// ================================================================ 1. Verdict as a secondary of Knot

const KNOT = '127.55.211.1';
const V1 = { address: '127.55.211.2', port: 5461 };
const STRANGER = '127.55.211.9';
const FEED_KEY = { algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 0x42).toString('base64') };

function feedText(serial: number, rules: string[]): string {
  return `$ORIGIN feed.rpz.\n$TTL 60\n@ SOA ns.feed.rpz. admin.feed.rpz. ${serial} 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n${rules.join('\n')}\n`;
}
const FEED_V1 = feedText(1, ['bad.example CNAME .', 'redirect.example A 10.9.9.9']);
const FEED_V2 = feedText(2, ['redirect.example A 10.9.9.9', 'mirror.example CNAME .', '*.mirror.example CNAME .']);

/** Every name answered 192.0.2.1 by "the internet": an answer other than that was written by policy. */
class Net implements Transport {
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    if (q.type === Type.A) m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: 1, sentName: q.name, tcp: false };
  }
}

const dir1 = join(work, 'secondary');
mkdirSync(dir1);
const cfg1 = join(dir1, 'verdict.yaml');
writeFileSync(cfg1, `server: { listen: ["${V1.address}:${V1.port}"] }
resolver: { qname_minimisation: false }
log: { level: silent }
control: { enabled: false }
dnssec: { validation: false }
mirrors: { enabled: false }
metrics: { listen: "${V1.address}:0" }
rpz:
  zones:
    - { name: feed.rpz, primary: "${KNOT}:53", tsig: feed-key }
transfer: { state_dir: "${join(dir1, 'state')}" }
tsig_keys: { feed-key: { algorithm: ${FEED_KEY.algorithm}, secret: "${FEED_KEY.secret}" } }
`);

async function startSecondary(): Promise<Verdict> {
  const v = new Verdict(loadConfig(cfg1), { transport: new Net(), rootHints: [{ name: 'a.root.test', address: '127.55.211.10' }], logger: silent });
  await v.start();
  return v;
}

const ask1 = (name: string) => ask(name, Type.A, V1.port, { address: V1.address });
const skip1 = hasKnot() ? false : 'needs knotd (Debian package knot)';

describe('Verdict as a secondary of Knot (feed.rpz, TSIG)', { skip: skip1 }, () => {
  let knot: KnotHandle | undefined;
  let v: Verdict | undefined;

  before(async () => {
    await assertFree(KNOT, 53);
    await assertFree(V1.address, V1.port);
    knot = await startKnot({
      address: KNOT, port: 53,
      keys: { 'feed-key': FEED_KEY },
      zones: [{ name: 'feed.rpz', text: FEED_V1, key: 'feed-key', notify: V1 }],
    });
  });

  after(async () => {
    await v?.stop();
    await knot?.stop();
  });

  test('AXFR at start: the feed is enforced, unlisted names untouched', async () => {
    const t0 = performance.now();
    v = await startSecondary();
    const enforced = await until(async () => a(await ask1('redirect.example.')).join() === '10.9.9.9', 5000);
    assert.ok(enforced, 'the feed rule is enforced within 5 s of start');
    console.log(`# feed enforced ${Math.round(performance.now() - t0)} ms after start`);
    assert.equal((await ask1('bad.example.')).rcode, Rcode.NXDOMAIN);
    assert.deepEqual(a(await ask1('www.example.com.')), ['192.0.2.1']);
    assert.deepEqual(a(await ask1('mirror.example.')), ['192.0.2.1'], 'not in serial 1');
    const text = await scrape(v.metricsAddress!);
    assert.match(text, /verdict_zone_transfers_total\{zone="feed\.rpz\.",kind="axfr",result="success"\} 1\b/);
    assert.match(text, /verdict_rpz_zone_serial\{zone="feed\.rpz\."\} 1\b/);
  });

  test('a change in Knot: NOTIFY to our listener, IXFR, the new rules enforced within 3 s', async () => {
    assert.ok(v && knot);
    const t0 = performance.now();
    knot.update('feed.rpz', FEED_V2); // knotc zone-reload: Knot computes the difference and NOTIFYs us
    const changed = await until(async () => (await ask1('www.mirror.example.')).rcode === Rcode.NXDOMAIN
      && a(await ask1('bad.example.')).join() === '192.0.2.1', 3000);
    const ms = Math.round(performance.now() - t0);
    assert.ok(changed, `the change was not enforced within 3 s (knot log: ${knot.log().split('\n').filter((l) => /feed\.rpz/.test(l)).slice(-5).join(' | ')})`);
    console.log(`# Knot reload -> enforced in ${ms} ms`);
    assert.equal((await ask1('mirror.example.')).rcode, Rcode.NXDOMAIN);
    assert.deepEqual(a(await ask1('redirect.example.')), ['10.9.9.9'], 'unchanged rule kept');
    const text = await scrape(v.metricsAddress!);
    assert.match(text, /verdict_zone_transfers_total\{zone="feed\.rpz\.",kind="ixfr",result="success"\} 1\b/, 'by IXFR');
    assert.match(text, /verdict_zone_transfers_total\{zone="feed\.rpz\.",kind="axfr",result="success"\} 1\b/, 'no second AXFR');
    assert.match(text, /verdict_rpz_zone_serial\{zone="feed\.rpz\."\} 2\b/);
    // Knot's side: it NOTIFYed us and served an incremental transfer, signed.
    assert.match(knot.log(), /\[feed\.rpz\.\] notify, outgoing, remote 127\.55\.211\.2@5461.*serial 2/);
    // (Our transfers leave from the default source, 127.0.0.1; Knot's ACL for feed.rpz admits only TSIG feed-key.)
    assert.match(knot.log(), /\[feed\.rpz\.\] IXFR, outgoing, remote 127\.0\.0\.1@\d+, started, serial 1 -> 2/);
  });

  test('NOTIFY from an address other than the primary is REFUSED; from the primary it is accepted', async () => {
    const refused = await sendNotify('feed.rpz.', STRANGER, V1);
    assert.equal(refused.opcode, Opcode.NOTIFY);
    assert.equal(refused.qr, true);
    assert.equal(refused.rcode, Rcode.REFUSED);
    const accepted = await sendNotify('feed.rpz.', KNOT, V1); // Knot holds port 53 of that address; we send from another port
    assert.equal(accepted.rcode, Rcode.NOERROR);
    assert.equal(accepted.aa, true);
    // A zone we do not pull from anyone: REFUSED even from the feed's primary.
    assert.equal((await sendNotify('other.rpz.', KNOT, V1)).rcode, Rcode.REFUSED);
  });

  test('ctl zones lists the zone with its primary, serial and rules; ctl transfer finds it up to date', async () => {
    assert.ok(v);
    const out = await v.controlHandlers().zones!([]) as { zones: ZoneStatus[] };
    assert.equal(out.zones.length, 1);
    const z = out.zones[0]!;
    assert.deepEqual([z.zone, z.source, z.origin, z.serial, z.rules, z.ok, z.enforced], ['feed.rpz.', 'primary', `${KNOT}:53`, 2, 4, true, true]);
    // (4 rules: redirect, mirror, *.mirror, and ns.feed.rpz's A record, itself a QNAME rule for "ns." as in BIND.)
    // ctl transfer: asks the primary now; it has nothing newer.
    const t = await v.controlHandlers().transfer!(['feed.rpz']) as ZoneStatus;
    assert.deepEqual([t.serial, t.ok, t.enforced], [2, true, true]);
    assert.match(await scrape(v.metricsAddress!), /verdict_zone_transfers_total\{zone="feed\.rpz\.",kind="soa",result="uptodate"\} [1-9]/);
  });

  test('restart with Knot stopped: the copy in state_dir is enforced at once', async () => {
    assert.ok(v && knot);
    await v.stop();
    v = undefined;
    await knot.stop();
    knot = undefined;
    assert.ok(existsSync(join(dir1, 'state', 'feed.rpz.zone')), 'the last good copy was saved');
    const t0 = performance.now();
    v = await startSecondary();
    // No polling: the first answers after start() already carry the saved policy.
    assert.equal((await ask1('www.mirror.example.')).rcode, Rcode.NXDOMAIN);
    assert.deepEqual(a(await ask1('redirect.example.')), ['10.9.9.9']);
    assert.deepEqual(a(await ask1('bad.example.')), ['192.0.2.1']);
    console.log(`# restart from disk: enforced ${Math.round(performance.now() - t0)} ms after start (primary down)`);
    const z = v.policy.status()[0]!;
    assert.equal(z.serial, 2);
    assert.equal(z.enforced, true);
  });
});

// ================================================================ 2 and 3. Verdict as a primary, named its secondary

const ROOT = '127.55.211.10';
const V2 = { address: '127.0.0.1', port: 5462 };
const NAMED_PORT = 5463;
const XFR_KEY = { algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 0x17).toString('base64') };
const NOTICE = '198.51.100.80';
const CLOCK = new Date('2014-06-01T12:00:00Z');

/** The 16 names of the 2013 order (ORDER-2013.md), and the amendment's mirrors. */
const ORDER_NAMES = [
  'dpstream.tv', 'allostreaming.com', 'alloshotv.com', 'allomovies.com', 'alloshare.com', 'allomegavideo.com', 'alloseven.com', 'allourls.com',
  ...['com', 'org', 'net', 'tv'].map((t) => `fifostream.${t}`), ...['com', 'org', 'net', 'tv'].map((t) => `fifostreaming.${t}`),
];
const WWW = ['www.dpstream.tv', 'www.allostreaming.com', 'www.fifostream.org', 'streams.fifostreaming.tv'];
const MIRRORS = ['dpstream.pw', 'dpstream.net', 'www.dpstream.pw'];
const UNLISTED = ['www.example.com', 'dpstream.com', 'notdpstream.tv'];

/** Where each name really points: a root zone authoritative for all of them (no delegations), served by NSD. */
const realAddress = (name: string) => `192.0.2.${1 + ([...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 250, 7))}`;

const dir2 = join(work, 'primary');
mkdirSync(join(dir2, 'orders'), { recursive: true });
copyFileSync('config/orders/2013-tgi-paris-allostreaming.yaml', join(dir2, 'orders', '2013-tgi-paris-allostreaming.yaml'));
const rootZone = join(dir2, 'root.zone');
writeFileSync(rootZone, `$TTL 300
. SOA a.root.test. admin.root.test. 1 3600 600 86400 300
. NS a.root.test.
a.root.test. A ${ROOT}
${[...ORDER_NAMES, ...WWW, ...MIRRORS, ...UNLISTED].map((n) => `${n}. A ${realAddress(n)}`).join('\n')}
`);
// Paths are absolute: `ctl reload` reads the file again with the working directory as base (config/load.ts).
const cfg2 = join(dir2, 'verdict.yaml');
writeFileSync(cfg2, `server: { listen: ["${V2.address}:${V2.port}"] }
resolver:
  root_hints: [{ name: a.root.test, address: "${ROOT}" }]
log: { level: silent }
control: { enabled: false }
dnssec: { validation: false }
mirrors: { enabled: false }
orders:
  files: ["${join(dir2, 'orders')}/*.yaml"]
  notice_host: notice.isp.example
  notice_addresses: [${NOTICE}]
transfer:
  allow: ["127.0.0.0/8"]
  notify: ["127.0.0.1:${NAMED_PORT}"]
  tsig: xfr-key
tsig_keys: { xfr-key: { algorithm: ${XFR_KEY.algorithm}, secret: "${XFR_KEY.secret}" } }
`);

const skip2 = !hasNamed() ? 'needs named (Debian package bind9)' : !hasNsd() ? 'needs nsd (Debian package nsd)' : false;

describe('Verdict as the primary of court-orders.rpz, BIND 9 its secondary and RPZ consumer', { skip: skip2 }, () => {
  let hier: MiniHierHandle | undefined;
  let v: Verdict | undefined;
  let named: NamedHandle | undefined;
  const journal = () => join(named!.dir, 'court-orders.rpz.db.jnl');

  const askV = (name: string, type: number = Type.A) => ask(name, type, V2.port, { address: V2.address, edns: makeEdns(1232) });
  const askN = (name: string, type: number = Type.A) => ask(name, type, NAMED_PORT, { address: '127.0.0.1', edns: makeEdns(1232) });
  const serialOnNamed = async (): Promise<number | undefined> => {
    const m = await ask('court-orders.rpz.', Type.SOA, NAMED_PORT, { address: '127.0.0.1', rd: false }).catch(() => undefined);
    const soa = m?.answers.find((r) => r.type === Type.SOA);
    return soa && m!.aa ? soa.rdata.readUInt32BE(soa.rdata.length - 20) : undefined;
  };
  const verdictSerial = () => v!.policy.status().find((z) => z.source === 'orders')!.serial!;

  /** Records in named's completed transfer of `serial` (its xfer-in log line). */
  const transferredRecords = (log: string, serial: number) =>
    Number(new RegExp(`transfer of 'court-orders\\.rpz/IN' from 127\\.0\\.0\\.1#${V2.port}: Transfer completed: \\d+ messages, (\\d+) records, .*\\(serial ${serial}\\)`).exec(log)?.[1]);

  /** Same rcode and the same A RRset from both; returns the A set. */
  async function same(name: string): Promise<string[]> {
    const [fromV, fromN] = [await askV(name + '.'), await askN(name + '.')];
    assert.equal(fromN.rcode, fromV.rcode, `${name}: rcode named ${fromN.rcode}, Verdict ${fromV.rcode}`);
    assert.deepEqual(a(fromN), a(fromV), `${name}: named ${a(fromN)}, Verdict ${a(fromV)}`);
    return a(fromV);
  }

  before(async () => {
    for (const [addr, port] of [[ROOT, 53], [V2.address, V2.port], ['127.0.0.1', NAMED_PORT]] as const) await assertFree(addr, port);
    hier = await startMiniHier([{ name: 'root', address: ROOT, zones: [{ origin: '.', file: rootZone }] }]);
    v = new Verdict(loadConfig(cfg2), { orderClock: () => CLOCK, logger: silent });
    await v.start();
    named = await startNamed({
      port: NAMED_PORT,
      rootHints: [{ name: 'a.root.test', address: ROOT }],
      logSeverity: 'info',
      // min-update-interval 0: named applies a new version of the policy zone at once (default: at most every 60 s).
      extraOptions: 'response-policy { zone "court-orders.rpz"; } min-update-interval 0;',
      extraZones: `
key "xfr-key" { algorithm ${XFR_KEY.algorithm}; secret "${XFR_KEY.secret}"; };
zone "court-orders.rpz" { type secondary; primaries { 127.0.0.1 port ${V2.port} key xfr-key; }; file "court-orders.rpz.db"; };
`,
    });
  });

  after(async () => {
    await named?.stop();
    await v?.stop();
    await hier?.stop();
    if (named) rmSync(named.dir, { recursive: true, force: true });
    if (hier) rmSync(hier.dir, { recursive: true, force: true });
  });

  test('named pulls the compiled zone over AXFR (TSIG) and answers every name of the order as Verdict does', async () => {
    assert.ok(v && named);
    const serial = verdictSerial();
    assert.equal(serial, 2014060100, 'YYYYMMDDnn from the order clock');
    const t0 = performance.now();
    assert.ok(await until(async () => (await serialOnNamed()) === serial, 10_000, 100), `named did not load serial ${serial}: ${named.log().slice(-2000)}`);
    console.log(`# named had court-orders.rpz serial ${serial} ${Math.round(performance.now() - t0)} ms into the test`);
    assert.match(named.log(), /transfer of 'court-orders\.rpz\/IN' from 127\.0\.0\.1#5462: Transfer completed/);
    assert.match(named.log(), /zone court-orders\.rpz\/IN: transferred serial 2014060100: TSIG 'xfr-key'/);
    assert.ok(!existsSync(journal()), 'a full transfer leaves no journal');
    // The whole zone travelled: its 66 records (SOA, NS, A + TXT at 32 owners) and the closing SOA.
    assert.equal(transferredRecords(named.log(), serial), 67);

    for (const n of [...ORDER_NAMES, ...WWW]) assert.deepEqual(await same(n), [NOTICE], `${n} redirected to the notice host`);
    for (const n of [...UNLISTED, ...MIRRORS]) assert.deepEqual(await same(n), [realAddress(n)], `${n} not blocked`);
    // The TXT at each rule names the order, from the zone itself: named returns it as Verdict does.
    const [tv, tn] = [await askV('www.dpstream.tv.', Type.TXT), await askN('www.dpstream.tv.', Type.TXT)];
    assert.deepEqual(txt(tn), txt(tv));
    assert.match(txt(tv).join(), /order=2013-tgi-paris-allostreaming/);
    // Only Verdict knows why: EDE 16 naming the order.
    const ede = readEde(await askV('www.dpstream.tv.'));
    assert.equal(ede[0]?.code, Ede.CENSORED);
    assert.match(ede[0]!.text, /2013-tgi-paris-allostreaming/);
  });

  test('an amendment (ctl reload): Verdict NOTIFYs, named takes the new serial by IXFR within 5 s, both block the mirrors', async () => {
    assert.ok(v && named);
    const previous = verdictSerial();
    copyFileSync('config/orders/example-amendment-mirrors.yaml', join(dir2, 'orders', 'example-amendment-mirrors.yaml'));
    const t0 = performance.now();
    const reloaded = await v.controlHandlers().reload!([]) as { zones: ZoneStatus[] };
    const serial = reloaded.zones.find((z) => z.source === 'orders')!.serial!;
    assert.equal(serial, previous + 1);
    const got = await until(async () => (await serialOnNamed()) === serial, 5000, 50);
    const ms = Math.round(performance.now() - t0);
    assert.ok(got, `named did not reach serial ${serial} within 5 s: ${named.log().slice(-2000)}`);
    // named swaps its policy a moment after the zone (its RPZ summary is rebuilt off the query path).
    const applied = await until(async () => a(await askN('dpstream.pw.')).join() === NOTICE, 5000 - (performance.now() - t0), 50);
    const msApplied = Math.round(performance.now() - t0);
    assert.ok(applied, 'named enforces the amendment within 5 s of the reload');
    console.log(`# amendment: ctl reload -> named at serial ${serial} in ${ms} ms, enforcing it in ${msApplied} ms`);
    assert.match(named.log(), /client @0x[0-9a-f]+ 127\.0\.0\.1#\d+: received notify for zone 'court-orders\.rpz'/);
    assert.match(named.log(), new RegExp(`zone court-orders\\.rpz/IN: notify from 127\\.0\\.0\\.1#\\d+: serial ${serial}`));
    // named wrote the incremental transfer to its journal: an IXFR, not a full transfer.
    assert.ok(existsSync(journal()), 'named kept a journal: the update came by IXFR');
    const jp = spawnSync('named-journalprint', [journal()], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(jp.status, 0, jp.stderr);
    assert.match(jp.stdout, /add dpstream\.pw\.court-orders\.rpz\.\s+60\s+IN\s+A\s+198\.51\.100\.80/);
    assert.match(jp.stdout, /add \*\.dpstream\.net\.court-orders\.rpz\./);
    assert.doesNotMatch(jp.stdout, /dpstream\.tv\.court-orders/, 'only the difference travelled');
    // SOA new, SOA old, SOA new, 8 records added (A + TXT at dpstream.pw, *.dpstream.pw, dpstream.net, *.dpstream.net), SOA new.
    assert.equal(transferredRecords(named.log(), serial), 12);

    for (const n of MIRRORS) assert.deepEqual(await same(n), [NOTICE], `${n} blocked by the amendment`);
    for (const n of ['www.dpstream.tv', 'alloseven.com']) assert.deepEqual(await same(n), [NOTICE]);
    for (const n of UNLISTED) assert.deepEqual(await same(n), [realAddress(n)]);
    const ede = readEde(await askV('www.dpstream.pw.'));
    assert.match(ede[0]!.text, /example-amendment-mirrors/);
  });

  test('dig @Verdict www.dpstream.tv: the redirect, EDE 16 naming the order, and the order in TXT', { skip: hasDig() ? false : 'needs dig' }, async () => {
    // Verdict runs in this process: dig must not block its event loop.
    const r = await digAsync(['www.dpstream.tv'], V2.address, V2.port);
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(r.answer.map((l) => l.split(' ').slice(3).join(' ')), [`A ${NOTICE}`]);
    assert.equal(r.ede.length, 1, r.text);
    assert.match(r.ede[0]!, /^16 \(Censored\): \(blocked by court order: 2013-tgi-paris-allostreaming \(Tribunal de grande instance de Paris, 2013-11-28\)\)$/);
    const t = await digAsync(['TXT', 'www.dpstream.tv'], V2.address, V2.port);
    assert.equal(t.status, 'NOERROR');
    assert.equal(t.answer.length, 1, t.text);
    assert.match(t.answer[0]!, /^www\.dpstream\.tv\. \d+ IN TXT "order=2013-tgi-paris-allostreaming" "court=Tribunal de grande instance de Paris" "decision=2013-11-28"$/);
    assert.match(t.ede[0] ?? '', /^16 \(Censored\)/);
    const u = await digAsync(['www.example.com'], V2.address, V2.port);
    assert.equal(u.status, 'NOERROR');
    assert.deepEqual(u.ede, []);
    assert.match(u.answer.join(), new RegExp(`A ${realAddress('www.example.com').replace(/\./g, '\\.')}$`));
  });
});

after(() => rmSync(work, { recursive: true, force: true }));
