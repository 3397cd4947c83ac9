/**
 * Differential run against Debian's Unbound for the locally served names
 * (issue 18): both resolve from the lab's root and validate from its anchor;
 * for every name, plain and with DO=1, the same rcode, AA and AD flags, the
 * same answer records and the same SOA in authority, TTLs included. Neither
 * sends a query for them to the lab (counted on every lab server).
 * docs/LOCAL-ZONES.md says where BIND, Knot Resolver and PowerDNS differ.
 */
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { Type } from '../src/dns/constants.js';
import type { Message, Record } from '../src/dns/message.js';
import { startLab } from '../src/lab/lab.js';
import type { Lab } from '../src/lab/lab.js';
import { ask } from './helpers/client.js';
import { RCODE_NAMES, record, startVerdict } from './helpers/lab.js';
import type { VerdictOnLab } from './helpers/lab.js';
import { LOCAL_CASES } from './helpers/local-cases.js';
import { hasUnbound, startUnbound } from './helpers/unbound.js';
import type { UnboundHandle } from './helpers/unbound.js';

const skip = !hasUnbound() ? 'Unbound is not installed (scripts/deps.sh installs it)' : false;
const ANCHOR = resolve('lab/keys/root.ds');

let lab: Lab;
let verdict: VerdictOnLab;
let unbound: UnboundHandle;

before(async () => {
  if (skip) return;
  lab = await startLab();
  // test. is off by default in Verdict (docs/LOCAL-ZONES.md); on here, as in Unbound.
  verdict = await startVerdict(lab.rootHints, 'upstream_timeout_ms: 400, local_zones: { test: true }');
  unbound = await startUnbound(lab.rootHints, '127.55.98.1', 53, { trustAnchorFile: ANCHOR });
});

after(async () => {
  await verdict?.stop();
  await unbound?.stop();
  await lab?.stop();
});

const withTtl = (r: Record) => `${record(r)} ${r.ttl}`;

function outcome(m: Message): object {
  return {
    rcode: RCODE_NAMES[m.rcode] ?? String(m.rcode),
    aa: m.aa,
    ad: m.ad,
    answers: m.answers.map(withTtl).sort(),
    authority: m.authorities.filter((r) => r.type === Type.SOA).map(withTtl),
  };
}

test('Verdict and Unbound answer every locally served name alike, and neither asks the lab', { skip }, async () => {
  const labQueries = () => lab.servers.reduce((n, s) => n + s.queries, 0);
  const before = labQueries();
  const disagreements: string[] = [];
  let agreed = 0;
  for (const c of LOCAL_CASES) {
    for (const dnssec of [false, true]) {
      const edns = dnssec ? { udpSize: 1232, version: 0, do: true, options: [] } : undefined;
      const v = await ask(c.qname, Type[c.qtype], verdict.port, { edns });
      const u = await ask(c.qname, Type[c.qtype], unbound.port, { edns, address: unbound.address });
      const a = outcome(v);
      const b = outcome(u);
      try {
        assert.deepEqual(a, b);
        agreed++;
      } catch {
        disagreements.push(`${c.qname} ${c.qtype}${dnssec ? ' +dnssec' : ''}: verdict ${JSON.stringify(a)} unbound ${JSON.stringify(b)}`);
      }
    }
  }
  assert.deepEqual(disagreements, [], `${agreed} of ${LOCAL_CASES.length * 2} agree`);
  assert.equal(agreed, LOCAL_CASES.length * 2);
  assert.equal(labQueries(), before, `queries reached the lab: ${lab.servers.flatMap((s) => s.server?.recent ?? []).join(' ')}`);
});
