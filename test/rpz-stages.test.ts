/**
 * Rewritten replies and the two policy stages, over request contexts built
 * from real encoded queries. Expected shapes are those named 9.18 gives on a
 * lab of NSD servers (rcode, sections, TTLs, SOA in ADDITIONAL, flags).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ede, Rcode, Type } from '../src/dns/constants.js';
import { makeEdns, readEde } from '../src/dns/edns.js';
import { decodeMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import type { Message, Record } from '../src/dns/message.js';
import { nameFromText, nameToText } from '../src/dns/name.js';
import { recordToText } from '../src/dns/rdata.js';
import type { RequestContext } from '../src/resolver/context.js';
import type { Resolved } from '../src/resolver/iterator/iterator.js';
import { PolicyAfterStage } from '../src/resolver/stages/policy-after.js';
import { PolicyBeforeStage } from '../src/resolver/stages/policy-before.js';
import type { PolicyStageOptions } from '../src/resolver/stages/policy-before.js';
import { parseZoneString } from '../src/rpz/masterfile.js';
import { PolicySet } from '../src/rpz/policy.js';
import type { PolicyHit } from '../src/rpz/policy.js';
import { PolicyZoneBuilder } from '../src/rpz/zone.js';
import type { PolicyZone, PolicyZoneOptions } from '../src/rpz/zone.js';

const n = (s: string) => nameFromText(s.endsWith('.') ? s : s + '.');

function zone(name: string, body: string, opts: PolicyZoneOptions = {}): PolicyZone {
  const b = new PolicyZoneBuilder(name, opts);
  parseZoneString(`$TTL 300\n@ SOA ns.${name}. host.${name}. 7 3600 600 86400 120\n@ NS localhost.\n${body}\n`, (rr) => b.add(rr), { origin: n(name) });
  return b.build();
}

function recs(text: string): Record[] {
  const out: Record[] = [];
  parseZoneString(`$TTL 3600\n${text}\n`, (rr) => out.push(rr));
  return out;
}

const RPZ1 = `
nx.example CNAME .
nodata.example CNAME *.
pass.example CNAME rpz-passthru.
drop.example CNAME rpz-drop.
tcp.example CNAME rpz-tcp-only.
redir.example CNAME www.example.
*.wc.example CNAME *.target.other.
local.example 60 A 10.0.0.1
local.example 60 A 10.0.0.2
local.example TXT "local text"
local.example MX 5 mx.local.
txtonly.example TXT "only txt"
32.66.2.0.192.rpz-ip CNAME .
32.77.2.0.192.rpz-ip CNAME *.
`;

function ctxFor(name: string, type: number, opts: { rd?: boolean; edns?: boolean; transport?: 'udp' | 'tcp'; client?: string } = {}): RequestContext {
  const q = makeQuery(4321, nameFromText(name), type, { rd: opts.rd ?? true, ...(opts.edns === false ? {} : { edns: makeEdns(1232) }) });
  const raw = encodeMessage(q);
  return { raw, client: { address: opts.client ?? '192.0.2.10', port: 5353 }, transport: opts.transport ?? 'udp', started: 0, query: decodeMessage(raw), maxSize: 1232, notes: {} };
}

/** A scripted resolver: answers from records, NXDOMAIN otherwise; follows CNAMEs. */
function scriptedResolve(data: Record[], failing: string[] = []): (name: Buffer, type: number) => Promise<Resolved> {
  return async (name, type) => {
    const answers: Record[] = [];
    const names = [name];
    let cur = name;
    for (let hop = 0; hop < 8; hop++) {
      if (failing.includes(nameToText(cur))) return { rcode: Rcode.SERVFAIL, answers: [], authority: [], names, ede: { code: Ede.NO_REACHABLE_AUTHORITY, text: 'dead' } };
      const here = data.filter((r) => nameToText(r.name) === nameToText(cur));
      const exact = here.filter((r) => r.type === type);
      if (exact.length) return { rcode: 0, answers: [...answers, ...exact], authority: [], names };
      const cname = here.find((r) => r.type === Type.CNAME);
      if (!cname) {
        const soa = recs('other. 300 SOA ns.other. host.other. 1 3600 600 86400 300');
        return { rcode: here.length ? 0 : Rcode.NXDOMAIN, answers, authority: soa, names };
      }
      answers.push(cname);
      cur = cname.rdata;
      names.push(cur);
    }
    return { rcode: Rcode.SERVFAIL, answers: [], authority: [], names };
  };
}

const INTERNET = recs(`
www.example. A 192.0.2.1
nx.example. A 192.0.2.2
local.example. A 192.0.2.8
blocked.other. A 192.0.2.66
ok.other. A 192.0.2.77
chain.example. CNAME blocked.other.
chain3.example. CNAME nx.example.
fine.example. A 192.0.2.99
`);

/** Run before-stage, then (if it let the query go on) a scripted resolution and the after-stage. */
async function run(set: PolicySet | (() => PolicySet), c: RequestContext, opts: PolicyStageOptions & { failing?: string[]; delegations?: (name: Buffer) => { nsNames: Buffer[]; nsAddresses: string[] } } = {}): Promise<{ result: string; reply?: Message; ctx: RequestContext }> {
  const current = typeof set === 'function' ? set : () => set;
  const resolve = scriptedResolve(INTERNET, opts.failing);
  const stageOpts = { resolve, ...opts };
  const before = new PolicyBeforeStage(current, stageOpts);
  const r1 = await before.handle(c);
  if (r1 === 'drop') return { result: 'drop', ctx: c };
  if (r1 === 'answered') return { result: 'before', reply: decodeMessage(c.wire!), ctx: c };
  const q = c.query!.questions[0]!;
  c.resolved = await resolve(q.name, q.type);
  const after = new PolicyAfterStage(current, stageOpts);
  const r2 = await after.handle(c);
  if (r2 === 'drop') return { result: 'drop', ctx: c };
  if (c.response) return { result: 'after', reply: decodeMessage(encodeMessage(c.response)), ctx: c };
  return { result: 'resolved', ctx: c };
}

/** dig-like summary: rcode, flags, and each section's records. */
function summary(m: Message): { rcode: string; flags: string; answer: string[]; authority: string[]; additional: string[]; ede: string[] } {
  const rc = Object.entries(Rcode).find(([, v]) => v === m.rcode)?.[0] ?? String(m.rcode);
  const flags = [m.aa && 'aa', m.tc && 'tc', m.rd && 'rd', m.ra && 'ra', m.ad && 'ad'].filter(Boolean).join(' ');
  const t = (rs: Record[]) => rs.map((r) => recordToText(r).replace(/\s+/g, ' '));
  return { rcode: rc, flags, answer: t(m.answers), authority: t(m.authorities), additional: t(m.additionals), ede: readEde(m).map((e) => `${e.code} ${e.text}`) };
}

const SOA1 = 'rpz1. 120 IN SOA ns.rpz1. host.rpz1. 7 3600 600 86400 120';
const set1 = () => new PolicySet([zone('rpz1', RPZ1, { maxPolicyTtl: 30 })]);
const NOW = { qnameWaitRecurse: false } as const;

test('NXDOMAIN: no answer, no authority, the policy SOA in ADDITIONAL, EDE 15; AA clear, RA set', async () => {
  const { result, reply } = await run(set1(), ctxFor('nx.example.', Type.A), NOW);
  assert.equal(result, 'before');
  assert.deepEqual(summary(reply!), { rcode: 'NXDOMAIN', flags: 'rd ra', answer: [], authority: [], additional: [SOA1], ede: ['15 blocked by rpz1: qname nx.example'] });
});

test('NODATA and the reply without EDNS (no OPT, so no EDE)', async () => {
  const { reply } = await run(set1(), ctxFor('nodata.example.', Type.AAAA, { edns: false }), NOW);
  assert.deepEqual(summary(reply!), { rcode: 'NOERROR', flags: 'rd ra', answer: [], authority: [], additional: [SOA1], ede: [] });
  assert.equal(reply!.edns, undefined);
});

test('local data per QTYPE: A, TXT, MX, AAAA (NODATA), ANY (every RRset, TTL 5), TXT-only owner asked for A', async () => {
  const ask = async (name: string, type: number) => summary((await run(set1(), ctxFor(name, type), NOW)).reply!);
  const a = await ask('local.example.', Type.A);
  assert.deepEqual(a.answer, ['local.example. 30 IN A 10.0.0.1', 'local.example. 30 IN A 10.0.0.2'], 'TTL min(60, max-policy-ttl 30)');
  assert.deepEqual(a.additional, [SOA1]);
  assert.deepEqual((await ask('local.example.', Type.TXT)).answer, ['local.example. 30 IN TXT "local text"']);
  assert.deepEqual((await ask('local.example.', Type.MX)).answer, ['local.example. 30 IN MX 5 mx.local.']);
  const aaaa = await ask('local.example.', Type.AAAA);
  assert.deepEqual([aaaa.rcode, aaaa.answer, aaaa.additional], ['NOERROR', [], [SOA1]]);
  const any = await ask('local.example.', Type.ANY);
  assert.deepEqual(any.answer, ['local.example. 5 IN A 10.0.0.1', 'local.example. 5 IN A 10.0.0.2', 'local.example. 5 IN TXT "local text"', 'local.example. 5 IN MX 5 mx.local.']);
  const txtOnly = await ask('txtonly.example.', Type.A);
  assert.deepEqual([txtOnly.rcode, txtOnly.answer], ['NOERROR', []]);
});

test('CNAME redirect: the CNAME (policy TTL), then the target resolved', async () => {
  const { reply } = await run(set1(), ctxFor('redir.example.', Type.A), NOW);
  assert.deepEqual(summary(reply!).answer, ['redir.example. 30 IN CNAME www.example.', 'www.example. 3600 IN A 192.0.2.1']);
  assert.deepEqual(summary(reply!).additional, [SOA1]);
  const cname = summary((await run(set1(), ctxFor('redir.example.', Type.CNAME), NOW)).reply!);
  assert.deepEqual(cname.answer, ['redir.example. 30 IN CNAME www.example.'], 'QTYPE CNAME: the CNAME alone');
});

test('wildcard-target CNAME keeps the query name: sub.wc.example -> sub.wc.example.target.other (NXDOMAIN there)', async () => {
  const s = summary((await run(set1(), ctxFor('Sub.wc.example.', Type.A), NOW)).reply!);
  assert.equal(s.rcode, 'NXDOMAIN');
  assert.deepEqual(s.answer, ['Sub.wc.example. 30 IN CNAME Sub.wc.example.target.other.']);
  assert.deepEqual(s.authority, ['other. 300 IN SOA ns.other. host.other. 1 3600 600 86400 300']);
  assert.deepEqual(s.additional, [SOA1]);
});

test('DROP says nothing; TCP-ONLY sends TC=1 over UDP and the normal answer over TCP; PASSTHRU changes nothing', async () => {
  assert.equal((await run(set1(), ctxFor('drop.example.', Type.A), NOW)).result, 'drop');
  const udp = await run(set1(), ctxFor('tcp.example.', Type.A), NOW);
  assert.deepEqual(summary(udp.reply!), { rcode: 'NOERROR', flags: 'tc rd ra', answer: [], authority: [], additional: [], ede: [] });
  const tcp = await run(set1(), ctxFor('tcp.example.', Type.A, { transport: 'tcp' }), NOW);
  assert.equal(tcp.result, 'resolved');
  assert.equal(tcp.ctx.notes.rewritten, undefined);
  const pass = await run(set1(), ctxFor('pass.example.', Type.A), NOW);
  assert.equal(pass.result, 'resolved');
  assert.equal((pass.ctx.notes.rpz as { action: string }).action, 'passthru');
});

test('rpz-ip on the answer, and a CNAME chain whose target is blocked keeps the chain (as BIND)', async () => {
  const ip = summary((await run(set1(), ctxFor('blocked.other.', Type.A), NOW)).reply!);
  assert.deepEqual([ip.rcode, ip.answer, ip.additional], ['NXDOMAIN', [], [SOA1]]);
  const nodata = summary((await run(set1(), ctxFor('ok.other.', Type.A), NOW)).reply!);
  assert.deepEqual([nodata.rcode, nodata.answer], ['NOERROR', []]);
  const chain = summary((await run(set1(), ctxFor('chain.example.', Type.A), NOW)).reply!);
  assert.deepEqual([chain.rcode, chain.answer, chain.authority, chain.additional], ['NXDOMAIN', ['chain.example. 3600 IN CNAME blocked.other.'], [], [SOA1]]);
  const chain3 = summary((await run(set1(), ctxFor('chain3.example.', Type.A), NOW)).reply!);
  assert.deepEqual([chain3.rcode, chain3.answer], ['NXDOMAIN', ['chain3.example. 3600 IN CNAME nx.example.']], 'QNAME trigger on the chain target');
});

test('qname-wait-recurse yes (default): the QNAME hit waits for recursion; a failed recursion is SERVFAIL, unrewritten', async () => {
  const c = ctxFor('nx.example.', Type.A);
  const r = await run(set1(), c);
  assert.equal(r.result, 'after', 'applied after resolution');
  assert.equal(c.notes.skipAnswerCache, true, 'the answer cache is skipped while the hit waits');
  assert.equal(summary(r.reply!).rcode, 'NXDOMAIN');
  const dead = await run(set1(), ctxFor('nx.example.', Type.A), { failing: ['nx.example.'] });
  assert.equal(dead.result, 'resolved', 'SERVFAIL goes out as resolved, as BIND does');
  assert.equal(dead.ctx.resolved!.rcode, Rcode.SERVFAIL);
  assert.equal(dead.ctx.notes.rewritten, undefined);
  const nowDead = await run(set1(), ctxFor('nx.example.', Type.A), { ...NOW, failing: ['nx.example.'] });
  assert.equal(nowDead.result, 'before', 'qname-wait-recurse no: rewritten without recursing');
});

test('qname-wait-recurse no still waits when an earlier zone holds IP triggers', async () => {
  const set = new PolicySet([zone('ipz', '32.2.2.0.192.rpz-ip CNAME rpz-drop.'), zone('names', 'nx.example CNAME .\nfine.example CNAME .')]);
  const r = await run(set, ctxFor('nx.example.', Type.A), NOW);
  assert.equal(r.result, 'drop', 'nx.example resolves to 192.0.2.2, which zone ipz drops');
  const f = await run(set, ctxFor('fine.example.', Type.A), NOW);
  assert.equal(f.result, 'after');
  assert.equal(summary(f.reply!).rcode, 'NXDOMAIN');
});

test('rpz-client-ip: the client address decides, before recursion', async () => {
  const set = new PolicySet([zone('clients', '24.0.2.0.192.rpz-client-ip CNAME .')]);
  const hit = await run(set, ctxFor('www.example.', Type.A, { client: '192.0.2.10' }), NOW);
  assert.equal(hit.result, 'before');
  assert.equal(summary(hit.reply!).rcode, 'NXDOMAIN');
  const miss = await run(set, ctxFor('www.example.', Type.A, { client: '198.51.100.1' }), NOW);
  assert.equal(miss.result, 'resolved');
});

test('rpz-nsdname and rpz-nsip on the delegations walked; a TLD\'s name servers never trigger (min-ns-dots 1)', async () => {
  const set = new PolicySet([zone('ns', 'ns.sub.other.rpz-nsdname CNAME .\nns.other.rpz-nsdname CNAME .\n32.2.200.55.127.rpz-nsip CNAME *.')]);
  // The iterator lists delegations from the name up to its TLD.
  const cut: { [zone: string]: [string[], string[]] } = {
    'blocked.other.': [[], []], 'other.': [['ns.other.'], ['127.55.200.3']],
    'www.example.': [[], []], 'example.': [['ns.example.'], ['127.55.200.2']],
  };
  const delegations = (name: Buffer) => {
    const nsNames: Buffer[] = [];
    const nsAddresses: string[] = [];
    for (let z = nameToText(name); z !== '.'; z = z.slice(z.indexOf('.') + 1) || '.') {
      const [ns, ad] = cut[z] ?? [[], []];
      nsNames.push(...ns.map(n));
      nsAddresses.push(...ad);
    }
    return { nsNames, nsAddresses };
  };
  const tld = await run(set, ctxFor('blocked.other.', Type.A), { ...NOW, delegations });
  assert.equal(tld.result, 'resolved', 'ns.other serves the TLD other.: not a trigger');
  cut['sub.other.'] = [['ns.sub.other.'], ['127.55.200.2']];
  INTERNET.push(...recs('www.sub.other. A 192.0.2.100\nwww.sub2.other. A 192.0.2.101'));
  const nsd = await run(set, ctxFor('www.sub.other.', Type.A), { ...NOW, delegations });
  assert.equal(summary(nsd.reply!).rcode, 'NXDOMAIN');
  assert.equal((nsd.ctx.notes.rpz as { trigger: string }).trigger, 'nsdname');
  cut['sub2.other.'] = [['ns.sub2.other.'], ['127.55.200.2']];
  const nsip = await run(set, ctxFor('www.sub2.other.', Type.A), { ...NOW, delegations });
  assert.deepEqual([summary(nsip.reply!).rcode, summary(nsip.reply!).answer], ['NOERROR', []]);
  assert.equal((nsip.ctx.notes.rpz as { trigger: string }).trigger, 'nsip');
});

test('RD=0 queries are not rewritten (BIND recursive-only yes)', async () => {
  const r = await run(set1(), ctxFor('nx.example.', Type.A, { rd: false }), NOW);
  assert.equal(r.result, 'resolved');
});

test('log-only zones count and report, change nothing, and let later zones apply', async () => {
  const hits: PolicyHit[] = [];
  const set = new PolicySet([zone('watch', 'www.example CNAME .\nfine.example CNAME .', { logOnly: true }), zone('block', 'fine.example CNAME *.')]);
  const w = await run(set, ctxFor('www.example.', Type.A), { ...NOW, onHit: (_c, h) => hits.push(h) });
  assert.equal(w.result, 'resolved');
  const watched = { zone: 'watch', trigger: 'qname', rule: 'www.example', action: 'nxdomain', logOnly: true, name: 'www.example.', matched: 'www.example.' };
  assert.deepEqual(w.ctx.notes.rpzLogOnly, [watched]);
  assert.deepEqual(w.ctx.notes.rpz, watched, 'what would have happened, flagged logOnly');
  assert.equal(w.ctx.notes.rewritten, undefined);
  const f = await run(set, ctxFor('fine.example.', Type.A), { ...NOW, onHit: (_c, h) => hits.push(h) });
  assert.equal(summary(f.reply!).rcode, 'NOERROR');
  assert.deepEqual(f.ctx.notes.rpz, { zone: 'block', trigger: 'qname', rule: 'fine.example', action: 'nodata', logOnly: false, name: 'fine.example.', matched: 'fine.example.' });
  assert.deepEqual(hits.map((h) => `${h.zone.label}:${h.logOnly}`), ['watch:true', 'watch:true', 'block:false']);
});

test('explain(): a court-order zone answers with EDE 16 and the order text', async () => {
  const set = new PolicySet([zone('court-orders.rpz', 'dpstream.tv CNAME .', { explain: (k) => (k === n('dpstream.tv.court-orders.rpz').toString('latin1') ? { code: Ede.CENSORED, text: 'TGI Paris 13/12345' } : undefined) })]);
  const r = await run(set, ctxFor('DPSTREAM.tv.', Type.A), NOW);
  assert.deepEqual(summary(r.reply!).ede, ['16 TGI Paris 13/12345']);
});

test('one query sees one policy set: the after-stage uses the set the before-stage captured', async () => {
  let current = new PolicySet([zone('old', '32.1.2.0.192.rpz-ip CNAME .')]);
  const c = ctxFor('www.example.', Type.A);
  const before = new PolicyBeforeStage(() => current, NOW);
  assert.equal(before.handle(c), 'next');
  current = new PolicySet([]); // reload between the stages
  c.resolved = await scriptedResolve(INTERNET)(n('www.example'), Type.A);
  assert.equal(await new PolicyAfterStage(() => current, NOW).handle(c), 'next');
  assert.equal(c.response?.rcode, Rcode.NXDOMAIN, 'the old set applied');
  assert.equal(c.notes.rewritten, true);
});

test('no policy: both stages step aside without touching the context', async () => {
  const c = ctxFor('www.example.', Type.A);
  assert.equal(new PolicyBeforeStage(() => PolicySet.EMPTY).handle(c), 'next');
  c.resolved = { rcode: 0, answers: recs('www.example. A 192.0.2.1'), authority: [], names: [n('www.example')] };
  assert.equal(new PolicyAfterStage(() => PolicySet.EMPTY).handle(c), 'next');
  assert.equal(c.response, undefined);
});
