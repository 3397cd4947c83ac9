/** The iterator against a scripted internet: each scenario a table of servers, a question, an expected answer. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rcode, Type } from '../src/dns/constants.js';
import { nameToText } from '../src/dns/name.js';
import { ResolverCache } from '../src/resolver/cache/cache.js';
import { Iterator, rdataToIp } from '../src/resolver/iterator/iterator.js';
import type { IteratorOptions } from '../src/resolver/iterator/iterator.js';
import { ServerSelection } from '../src/resolver/selection.js';
import { authoritative, n, rr, ScriptedNet } from './helpers/scripted-net.js';
import type { Handler, Zone } from './helpers/scripted-net.js';

const ROOT = '198.51.100.1';
const TLD = '198.51.100.2';
const EX = '198.51.100.3';
const NETSRV = '198.51.100.4';
const LAME = '198.51.100.9';
const DEAD = '198.51.100.10';

const root: Zone = {
  apex: '.', records: [
    rr('.', 'SOA', 'a.root.test'), rr('.', 'NS', 'a.root.test'), rr('a.root.test', 'A', ROOT),
    rr('com', 'NS', 'a.gtld.test'), rr('net', 'NS', 'a.gtld.test'), rr('a.gtld.test', 'A', TLD),
  ],
};
const com: Zone = {
  apex: 'com', records: [
    rr('com', 'SOA', 'a.gtld.test'),
    rr('example.com', 'NS', 'ns1.example.com'), rr('ns1.example.com', 'A', EX),
    rr('glueless.com', 'NS', 'ns.provider.net'),
    rr('lame.com', 'NS', 'ns-lame.lame.com'), rr('ns-lame.lame.com', 'A', LAME),
    rr('lame.com', 'NS', 'ns-good.lame.com'), rr('ns-good.lame.com', 'A', EX),
    rr('dead.com', 'NS', 'ns-dead.dead.com'), rr('ns-dead.dead.com', 'A', DEAD),
    rr('dead.com', 'NS', 'ns-live.dead.com'), rr('ns-live.dead.com', 'A', EX),
    rr('evil.com', 'NS', 'ns.evil.com'), rr('ns.evil.com', 'A', '127.0.0.1'),
  ],
};
const net: Zone = {
  apex: 'net', records: [rr('net', 'SOA', 'a.gtld.test'), rr('provider.net', 'NS', 'ns.provider.net'), rr('ns.provider.net', 'A', NETSRV)],
};
const example: Zone = {
  apex: 'example.com', records: [
    rr('example.com', 'SOA', 'ns1.example.com'), rr('example.com', 'NS', 'ns1.example.com'), rr('ns1.example.com', 'A', EX),
    rr('www.example.com', 'A', '192.0.2.1'), rr('www.example.com', 'TXT', 'hello'),
    rr('alias.example.com', 'CNAME', 'www.example.com'),
    rr('far.example.com', 'CNAME', 'www.provider.net'),
    rr('loop1.example.com', 'CNAME', 'loop2.example.com'), rr('loop2.example.com', 'CNAME', 'loop1.example.com'),
    rr('old.example.com', 'DNAME', 'provider.net'),
    rr('a.b.c.deep.example.com', 'A', '192.0.2.7'),
  ],
};
const lameZone: Zone = { apex: 'lame.com', records: [rr('lame.com', 'SOA', 'ns-good.lame.com'), rr('www.lame.com', 'A', '192.0.2.30')] };
const deadZone: Zone = { apex: 'dead.com', records: [rr('dead.com', 'SOA', 'ns-live.dead.com'), rr('www.dead.com', 'A', '192.0.2.40')] };
const glueless: Zone = { apex: 'glueless.com', records: [rr('glueless.com', 'SOA', 'ns.provider.net'), rr('www.glueless.com', 'A', '192.0.2.50')] };
const provider: Zone = {
  apex: 'provider.net', records: [
    rr('provider.net', 'SOA', 'ns.provider.net'), rr('ns.provider.net', 'A', NETSRV),
    rr('www.provider.net', 'A', '192.0.2.60'), rr('www.provider.net', 'A', '192.0.2.61'),
  ],
};

function world(extra: [string, Handler][] = []): ScriptedNet {
  return new ScriptedNet(new Map<string, Handler>([
    [ROOT, authoritative([root])],
    [TLD, authoritative([com, net])],
    [EX, authoritative([example, lameZone, deadZone])],
    [NETSRV, authoritative([glueless, provider])],
    [LAME, (q) => ({ ...authoritative([])(q), rcode: Rcode.REFUSED })],
    [DEAD, () => 'timeout'],
    ...extra,
  ]));
}

const OPTS: IteratorOptions = {
  rootHints: [{ name: 'a.root.test', address: ROOT }],
  qnameMinimisation: true, upstreamTimeoutMs: 100, maxQueries: 60, maxDepth: 16, maxCnameHops: 12, queryTimeoutMs: 5000, maxNsPerReferral: 8,
};

function iterator(netw: ScriptedNet, opts: Partial<IteratorOptions> = {}) {
  const cache = new ResolverCache({ maxEntries: 1000, maxTtl: 86400, maxNegativeTtl: 10800 });
  return new Iterator({ ...OPTS, ...opts }, netw, cache, new ServerSelection(Date.now, () => 0.99), Date.now);
}

test('resolves from the root, minimising the question at each cut (RFC 9156)', async () => {
  const w = world();
  const it = iterator(w);
  const r = await it.resolve(n('www.example.com'), Type.A, it.newBudget());
  assert.equal(r.rcode, Rcode.NOERROR);
  assert.deepEqual(r.answers.map(rdataToIp), ['192.0.2.1']);
  // Priming, then the root sees only "com.", the TLD only "example.com.".
  assert.deepEqual(w.log.map((l) => l.split(' ').slice(0, 2).join(' ')), [
    `${ROOT} .`, `${ROOT} com.`, `${TLD} example.com.`, `${EX} www.example.com.`,
  ]);
  // Second time: from the cache, no query.
  const before = w.log.length;
  const again = await it.resolve(n('WWW.example.com'), Type.A, it.newBudget());
  assert.equal(again.answers.length, 1);
  assert.ok(again.answers[0]!.ttl <= 300);
  assert.equal(w.log.length, before);
});

test('without minimisation the full name goes to every server', async () => {
  const w = world();
  const it = iterator(w, { qnameMinimisation: false });
  await it.resolve(n('www.example.com'), Type.TXT, it.newBudget());
  assert.ok(w.log.slice(1).every((l) => l.includes('www.example.com.')));
});

test('minimisation walks empty non-terminals inside a zone', async () => {
  const w = world();
  const it = iterator(w);
  const r = await it.resolve(n('a.b.c.deep.example.com'), Type.A, it.newBudget());
  assert.deepEqual(r.answers.map(rdataToIp), ['192.0.2.7']);
});

test('NXDOMAIN and NODATA carry the SOA and are cached (RFC 2308)', async () => {
  const w = world();
  const it = iterator(w);
  const nx = await it.resolve(n('nope.example.com'), Type.A, it.newBudget());
  assert.equal(nx.rcode, Rcode.NXDOMAIN);
  assert.equal(nx.authority[0]?.type, Type.SOA);
  const nd = await it.resolve(n('www.example.com'), Type.AAAA, it.newBudget());
  assert.equal(nd.rcode, Rcode.NOERROR);
  assert.equal(nd.answers.length, 0);
  assert.equal(nd.authority[0]?.type, Type.SOA);
  const before = w.log.length;
  assert.equal((await it.resolve(n('nope.example.com'), Type.MX, it.newBudget())).rcode, Rcode.NXDOMAIN);
  assert.equal((await it.resolve(n('www.example.com'), Type.AAAA, it.newBudget())).answers.length, 0);
  assert.equal(w.log.length, before, 'both answered from the negative cache');
});

test('CNAME chains are followed within and across zones', async () => {
  const it = iterator(world());
  const r = await it.resolve(n('alias.example.com'), Type.A, it.newBudget());
  assert.deepEqual(r.answers.map((x) => x.type), [Type.CNAME, Type.A]);
  assert.deepEqual(r.names.map(nameToText), ['alias.example.com.', 'www.example.com.']);
  const far = await it.resolve(n('far.example.com'), Type.A, it.newBudget());
  assert.deepEqual(far.answers.slice(1).map(rdataToIp).sort(), ['192.0.2.60', '192.0.2.61']);
});

test('a CNAME loop ends in SERVFAIL', async () => {
  const it = iterator(world());
  const r = await it.resolve(n('loop1.example.com'), Type.A, it.newBudget());
  assert.equal(r.rcode, Rcode.SERVFAIL);
  assert.match(r.ede!.text, /loop/);
});

test('a DNAME is followed through its synthesised CNAME (RFC 6672)', async () => {
  const it = iterator(world());
  const r = await it.resolve(n('www.old.example.com'), Type.A, it.newBudget());
  assert.equal(r.rcode, Rcode.NOERROR);
  assert.deepEqual(r.answers.map((x) => x.type), [Type.DNAME, Type.CNAME, Type.A, Type.A]);
  assert.equal(nameToText(r.answers[1]!.rdata), 'www.provider.net.');
});

test('a glueless delegation resolves its NS name first', async () => {
  const it = iterator(world());
  const r = await it.resolve(n('www.glueless.com'), Type.A, it.newBudget());
  assert.deepEqual(r.answers.map(rdataToIp), ['192.0.2.50']);
});

test('a lame (REFUSED) server and a dead server are skipped for the other', async () => {
  const w = world();
  const it = iterator(w);
  assert.deepEqual((await it.resolve(n('www.lame.com'), Type.A, it.newBudget())).answers.map(rdataToIp), ['192.0.2.30']);
  assert.deepEqual((await it.resolve(n('www.dead.com'), Type.A, it.newBudget())).answers.map(rdataToIp), ['192.0.2.40']);
});

test('all servers down gives SERVFAIL with EDE 22 (No Reachable Authority)', async () => {
  const w = world([[EX, () => 'timeout']]);
  const it = iterator(w);
  const r = await it.resolve(n('www.example.com'), Type.A, it.newBudget());
  assert.equal(r.rcode, Rcode.SERVFAIL);
  assert.equal(r.ede?.code, 22);
});

test('records outside the answering server\'s zone are neither used nor cached', async () => {
  const poisoned: Handler = (q) => {
    const m = authoritative([example])(q);
    m.answers.push(rr('www.victim.net', 'A', '203.0.113.66'));
    m.authorities.push(rr('victim.net', 'NS', 'ns.attacker.example.com'));
    m.additionals.push(rr('ns.provider.net', 'A', '203.0.113.66'));
    return m;
  };
  const w = world([[EX, poisoned]]);
  const it = iterator(w);
  await it.resolve(n('www.example.com'), Type.A, it.newBudget());
  assert.equal(it.cache.getRRset(n('www.victim.net'), Type.A), undefined);
  assert.equal(it.cache.getRRset(n('victim.net'), Type.NS), undefined);
  const r = await it.resolve(n('www.provider.net'), Type.A, it.newBudget());
  assert.deepEqual(r.answers.map(rdataToIp).sort(), ['192.0.2.60', '192.0.2.61']);
  assert.deepEqual(it.cache.getRRset(n('ns.provider.net'), Type.A)?.map(rdataToIp), [NETSRV]);
});

test('a referral to a loopback name server is refused on the internet', async () => {
  const w = world();
  const it = iterator(w);
  const r = await it.resolve(n('www.evil.com'), Type.A, it.newBudget());
  assert.equal(r.rcode, Rcode.SERVFAIL);
  assert.ok(!w.log.some((l) => l.startsWith('127.')));
});

test('the query budget bounds the work of one client query', async () => {
  const w = world();
  const it = iterator(w, { maxQueries: 2 });
  const r = await it.resolve(n('www.example.com'), Type.A, it.newBudget());
  assert.equal(r.rcode, Rcode.SERVFAIL);
  assert.ok(w.log.length <= 2);
});

test('identical concurrent questions share one resolution', async () => {
  const w = world();
  const it = iterator(w);
  const rs = await Promise.all(Array.from({ length: 20 }, () => it.resolve(n('www.example.com'), Type.A, it.newBudget())));
  assert.ok(rs.every((r) => r.answers.length === 1));
  assert.equal(w.log.filter((l) => l.includes('www.example.com.')).length, 1);
});

test('an NXDOMAIN to a minimised query is retried with the full name', async () => {
  // A broken server that answers NXDOMAIN for the empty non-terminal "c.deep.example.com".
  const broken: Handler = (q) => {
    const m = authoritative([example])(q);
    if (nameToText(q.name).toLowerCase() !== 'a.b.c.deep.example.com.' && nameToText(q.name).toLowerCase().endsWith('deep.example.com.')) {
      return { ...m, rcode: Rcode.NXDOMAIN, answers: [] };
    }
    return m;
  };
  const it = iterator(world([[EX, broken]]));
  const r = await it.resolve(n('a.b.c.deep.example.com'), Type.A, it.newBudget());
  assert.deepEqual(r.answers.map(rdataToIp), ['192.0.2.7']);
});
