/**
 * Differential test against Debian's Unbound on the signed lab (issue 13 item
 * 10): both validate from the same trust anchor (lab/keys/root.ds); for every
 * case, the same rcode, the same AD flag, RRSIGs present or not, and the same
 * answer records. Intended differences are listed in INTENDED and in
 * docs/DNSSEC.md; any other disagreement fails the test.
 */
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { Type, typeFromText } from '../src/dns/constants.js';
import type { Message } from '../src/dns/message.js';
import { startLab } from '../src/lab/lab.js';
import type { Lab } from '../src/lab/lab.js';
import { ask } from './helpers/client.js';
import { RCODE_NAMES, record, startVerdict } from './helpers/lab.js';
import type { VerdictOnLab } from './helpers/lab.js';
import { hasUnbound, startUnbound } from './helpers/unbound.js';
import type { UnboundHandle } from './helpers/unbound.js';

const skip = !hasUnbound() ? 'Unbound is not installed (scripts/deps.sh installs it)' : false;
const ANCHOR = resolve('lab/keys/root.ds');

/** [qname, qtype, CD] */
export const DNSSEC_CASES: [string, string, boolean][] = [
  ['.', 'DNSKEY', false],
  ['sec.', 'DS', false],
  ['sec.', 'DNSKEY', false],
  ['alg8.sec.', 'DS', false],
  ['alg8.sec.', 'DNSKEY', false],
  ['www.alg8.sec.', 'A', false],
  ['www.alg8.sec.', 'AAAA', false],
  ['www.alg13.sec.', 'A', false],
  ['www.alg15.sec.', 'A', false],
  ['alg8.sec.', 'MX', false],
  ['mail.alg8.sec.', 'MX', false],
  ['cname.alg8.sec.', 'A', false],
  ['cname.alg13.sec.', 'A', false],
  ['nope.alg8.sec.', 'A', false],
  ['nope.alg13.sec.', 'A', false],
  ['nope.alg15.sec.', 'A', false],
  ['deep.nope.alg13.sec.', 'A', false],
  ['www.alg8.sec.', 'TXT', false],
  ['www.alg13.sec.', 'TXT', false],
  ['a.b.alg8.sec.', 'A', false],
  ['b.alg13.sec.', 'A', false],
  ['x.a.b.alg13.sec.', 'TXT', false],
  ['anything.wild.alg8.sec.', 'A', false],
  ['anything.wild.alg13.sec.', 'TXT', false],
  ['two.labels.wild.alg8.sec.', 'A', false],
  ['anything.wild.alg8.sec.', 'MX', false],
  ['anything.wild.alg13.sec.', 'MX', false],
  ['nope.sec.', 'A', false],
  ['www.insecure.sec.', 'A', false],
  ['nope.insecure.sec.', 'A', false],
  ['insecure.sec.', 'DS', false],
  ['www.unsigned.optout.sec.', 'A', false],
  ['www.signed.optout.sec.', 'A', false],
  ['nope.optout.sec.', 'A', false],
  ['www.badsig.sec.', 'A', false],
  ['www.badsig.sec.', 'A', true],
  ['www.expired.sec.', 'A', false],
  ['www.expired.sec.', 'A', true],
  ['www.notyet.sec.', 'A', false],
  ['www.nokey.sec.', 'A', false],
  ['www.dsmismatch.sec.', 'A', false],
  ['www.dsmismatch.sec.', 'A', true],
  ['www.stripped.sec.', 'A', false],
  ['www.unknownalg.sec.', 'A', false],
  ['nope.iter.sec.', 'A', false],
  ['www.keytrap.sec.', 'A', false],
  ['www.example.com.', 'A', false],
  ['nonexistent.example.com.', 'A', false],
  ['no-such-tld.', 'A', false],
];

/** Cases where Verdict deliberately differs, and why (docs/DNSSEC.md). */
const INTENDED = new Map<string, string>();

interface Outcome { rcode: string; ad: boolean; rrsig: boolean; answers: string[] }

function outcome(m: Message): Outcome {
  return {
    rcode: RCODE_NAMES[m.rcode] ?? String(m.rcode),
    ad: m.ad,
    rrsig: m.answers.some((r) => r.type === Type.RRSIG),
    answers: m.answers.filter((r) => r.type !== Type.RRSIG).map(record).sort(),
  };
}

let lab: Lab;
let verdict: VerdictOnLab;
let unbound: UnboundHandle;

before(async () => {
  if (skip) return;
  lab = await startLab();
  verdict = await startVerdict(lab.rootHints);
  unbound = await startUnbound(lab.rootHints, '127.55.98.1', 53, { trustAnchorFile: ANCHOR });
});

after(async () => {
  await verdict?.stop();
  await unbound?.stop();
  await lab?.stop();
});

async function askBoth(qname: string, qtype: number, cd: boolean): Promise<[Message, Message]> {
  const edns = { udpSize: 1232, version: 0, do: true, options: [] };
  // TCP: signed answers can be larger than a UDP reply; the comparison is of content, not truncation.
  const v = await ask(qname, qtype, verdict.port, { edns, tcp: true, cd });
  let u: Message | undefined;
  for (let attempt = 0; attempt < 3 && !u; attempt++) {
    try {
      u = await ask(qname, qtype, unbound.port, { edns, tcp: true, cd, address: unbound.address });
    } catch {
      // Unbound may take longer than one wait on a slow case: ask again (bounded).
    }
  }
  if (!u) throw new Error(`no answer from Unbound for ${qname}/${qtype}`);
  return [v, u];
}

test('Verdict and Unbound agree on every signed-lab case (rcode, AD, RRSIGs, answer records)', { skip }, async () => {
  const disagreements: string[] = [];
  let agreed = 0;
  for (const [qname, qt, cd] of DNSSEC_CASES) {
    const qtype = typeFromText(qt)!;
    const [v, u] = await askBoth(qname, qtype, cd);
    const a = outcome(v);
    const b = outcome(u);
    const label = `${qname} ${qt}${cd ? ' +cd' : ''}`;
    try {
      assert.deepEqual(a, b);
      agreed++;
    } catch {
      if (!INTENDED.has(label)) disagreements.push(`${label}: verdict ${JSON.stringify(a)} unbound ${JSON.stringify(b)}`);
    }
  }
  assert.deepEqual(disagreements, [], `${agreed} of ${DNSSEC_CASES.length} agree`);
  assert.ok(agreed >= DNSSEC_CASES.length - INTENDED.size);
});
