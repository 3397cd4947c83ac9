/**
 * Interop: the lab's hierarchy served by Debian's NSD (same zone files, same
 * server table, on 127.55.100-109.x), resolved by Verdict and by Debian's
 * Unbound: rcode, answer RRsets and the SOA of negative answers agree on every
 * scenario (referrals, glueless, CNAME/DNAME chains, NXDOMAIN, NODATA, TC,
 * lame and dead servers). And the lab's own server answers each step of those
 * resolutions as NSD does (rcode, AA, TC, answer, referral NS and glue, SOA).
 * TTLs and order are normalised away. (Unbound answers RFC 6761 names such as
 * invalid. from its own local zones, so the table avoids them.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Type } from '../src/dns/constants.js';
import { makeEdns } from '../src/dns/edns.js';
import type { Message } from '../src/dns/message.js';
import { LAB_SERVERS, startLab } from '../src/lab/lab.js';
import type { Lab } from '../src/lab/lab.js';
import { ask } from './helpers/client.js';
import { answerLines, LAB_CASES, qtypeOf, RCODE_NAMES, record, soaOwners, startVerdict } from './helpers/lab.js';
import type { LabCase, VerdictOnLab } from './helpers/lab.js';
import { hasNsd, nsdAddress, startNsdLab } from './helpers/nsd.js';
import type { NsdLab } from './helpers/nsd.js';
import { hasUnbound, startUnbound } from './helpers/unbound.js';
import type { UnboundHandle } from './helpers/unbound.js';

const skip = !hasNsd() ? 'NSD is not installed (apt-get install nsd)' : !hasUnbound() ? 'Unbound is not installed (apt-get install unbound)' : false;

let nsd: NsdLab;
let lab: Lab;
let verdict: VerdictOnLab;
let unbound: UnboundHandle;

before(async () => {
  if (skip) return;
  nsd = await startNsdLab();
  lab = await startLab();
  // NSD serves the lab's files unsigned: nothing there to validate.
  verdict = await startVerdict(nsd.rootHints, undefined, 'dnssec: { validation: false }');
  // Not the helper's default address: other test files may run their own Unbound there.
  unbound = await startUnbound(nsd.rootHints, '127.55.99.1');
});
after(async () => {
  await verdict?.stop();
  await unbound?.stop();
  await lab?.stop();
  await nsd?.stop();
});

interface Outcome { rcode: string; answers: string[]; soa: string[]; tc: boolean }
const outcome = (m: Message): Outcome => ({ rcode: RCODE_NAMES[m.rcode] ?? String(m.rcode), answers: answerLines(m), soa: soaOwners(m), tc: m.tc });

async function viaVerdict(c: LabCase, tcp: boolean): Promise<Message> {
  verdict.flush();
  verdict.prefer((c.badServers ?? []).map((n) => nsdAddress(LAB_SERVERS.find((s) => s.name === n)!.address)));
  return ask(c.qname, qtypeOf(c), verdict.port, { tcp, edns: makeEdns(1232) });
}

/** Unbound may take longer than the client helper waits when it meets the dead server: ask again (bounded). */
async function viaUnbound(c: LabCase, tcp: boolean): Promise<Message> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ask(c.qname, qtypeOf(c), unbound.port, { address: unbound.address, tcp, edns: makeEdns(1232) });
    } catch (e) {
      if (attempt >= 4) throw e;
    }
  }
}

for (const c of LAB_CASES) {
  test(`Verdict and Unbound agree on NSD: ${c.title} (${c.qname} ${c.qtype})`, { skip }, async () => {
    const u = outcome(await viaUnbound(c, true));
    const v = outcome(await viaVerdict(c, true));
    assert.deepEqual(v, u, 'Verdict vs Unbound');
    // Both also match what the lab's table expects.
    assert.equal(v.rcode, c.rcode);
    assert.deepEqual(v.answers, [...c.answers].sort());
    if (c.soa) assert.deepEqual(v.soa, [c.soa]);
    if (c.big) {
      // Over UDP, a client offering 1232 bytes gets TC from both.
      const ut = await viaUnbound(c, false);
      const vt = await viaVerdict(c, false);
      assert.equal(ut.tc, true, 'Unbound sets TC');
      assert.equal(vt.tc, true, 'Verdict sets TC');
      assert.equal(vt.rcode, ut.rcode);
    }
  });
}

// ---- the lab's authoritative server against NSD, server by server

/** Lab-address-free form of a reply: what a resolver takes from it. */
function authView(m: Message, mapBack: (s: string) => string) {
  const glue = m.additionals.filter((r) => r.type === Type.A || r.type === Type.AAAA);
  const referral = m.answers.length === 0 && m.authorities.some((r) => r.type === Type.NS);
  return {
    rcode: RCODE_NAMES[m.rcode] ?? String(m.rcode),
    aa: m.aa,
    tc: m.tc,
    answers: answerLines(m).map(mapBack),
    // Authority and glue as resolvers use them: the SOA of negative answers, the NS of referrals.
    authority: m.authorities.filter((r) => r.type === Type.SOA || (referral && r.type === Type.NS)).map(record).sort(),
    glue: referral ? glue.map(record).map(mapBack).sort() : [],
  };
}
const fromNsd = (s: string) => s.replace(/127\.55\.1([0-9]{2})\.([0-9]+)/g, (_a, x: string, y: string) => `127.55.${Number(x)}.${y}`);

/** Every server a resolution of the table's cases may ask, and the extra questions resolvers ask of them. */
const QUESTIONS: { qname: string; qtype: number }[] = [
  ...LAB_CASES.map((c) => ({ qname: c.qname, qtype: qtypeOf(c) })),
  { qname: '.', qtype: Type.NS }, { qname: 'com.', qtype: Type.NS }, { qname: 'example.com.', qtype: Type.NS },
  { qname: 'example.com.', qtype: Type.SOA }, { qname: 'ns1.dnshost.org.', qtype: Type.A }, { qname: 'ns1.streamhost.net.', qtype: Type.A },
  { qname: 'com.', qtype: Type.A }, { qname: 'b.ent.example.com.', qtype: Type.AAAA }, { qname: 'ent.example.com.', qtype: Type.A },
  { qname: 'x.legacy.example.com.', qtype: Type.TXT }, { qname: 'legacy.example.com.', qtype: Type.DNAME },
  { qname: 'alias.example.com.', qtype: Type.CNAME }, { qname: 'a.root.lab.', qtype: Type.A },
];

for (const server of LAB_SERVERS.filter((s) => s.behaviour !== 'dead' && s.behaviour !== 'upward-referral' && s.behaviour !== 'poison')) {
  test(`the lab's server answers like NSD: ${server.name} (${server.address})`, { skip }, async () => {
    for (const q of QUESTIONS) {
      for (const edns of [undefined, 1232]) {
        const opts = { rd: false, ...(edns ? { edns: makeEdns(edns) } : {}) };
        const ours = await ask(q.qname, q.qtype, 53, { address: server.address, ...opts });
        const theirs = await ask(q.qname, q.qtype, 53, { address: nsdAddress(server.address), ...opts });
        const what = `${q.qname} ${q.qtype}${edns ? ' +edns' : ''} at ${server.name}`;
        assert.deepEqual(authView(ours, (s) => s), authView(theirs, fromNsd), what);
      }
    }
  });
}
