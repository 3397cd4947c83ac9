/**
 * Locally served zones (issue 18 item 1): RFC 6303 reverse zones, localhost.,
 * invalid., test., onion. and home.arpa. are answered by Verdict itself, with
 * AA, and not one query for them reaches the lab's servers (counted on every
 * server of the lab). A family switched off goes to the root again, so the
 * count can fail.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Rcode, Type } from '../src/dns/constants.js';
import { startLab } from '../src/lab/lab.js';
import type { Lab } from '../src/lab/lab.js';
import { ask } from './helpers/client.js';
import { answerLines, startVerdict } from './helpers/lab.js';
import type { VerdictOnLab } from './helpers/lab.js';
import { LOCAL_CASES, soaOwner } from './helpers/local-cases.js';

let lab: Lab;
let verdict: VerdictOnLab;

const labQueries = () => lab.servers.reduce((n, s) => n + s.queries, 0);

before(async () => {
  lab = await startLab();
  verdict = await startVerdict(lab.rootHints, 'upstream_timeout_ms: 400, local_zones: { test: true }');
});

after(async () => {
  await verdict?.stop();
  await lab?.stop();
});

test('every locally served name is answered by Verdict, AA set, and no query reaches the lab', async () => {
  const before = labQueries();
  for (const c of LOCAL_CASES) {
    // Twice: the second one must not come from a cache that changed it (AA, the SOA).
    for (let i = 0; i < 2; i++) {
      const m = await ask(c.qname, Type[c.qtype], verdict.port);
      const label = `${c.qname} ${c.qtype} #${i + 1}`;
      assert.equal(m.rcode, Rcode[c.rcode], label);
      assert.equal(m.aa, true, `${label}: AA`);
      assert.equal(m.ad, false, `${label}: never AD (local data is not validated)`);
      assert.deepEqual(answerLines(m), c.answers, label);
      assert.equal(soaOwner(m), c.soa, `${label}: SOA`);
    }
  }
  // RD=0, DO=1 and TCP get the same local answer.
  const edns = { udpSize: 1232, version: 0, do: true, options: [] };
  const nord = await ask('3.2.1.10.in-addr.arpa.', Type.PTR, verdict.port, { rd: false });
  assert.equal(nord.rcode, Rcode.NXDOMAIN);
  const dnssec = await ask('localhost.', Type.A, verdict.port, { edns, tcp: true });
  assert.deepEqual(answerLines(dnssec), ['localhost. A 127.0.0.1']);
  assert.equal(dnssec.aa, true);
  assert.equal(labQueries(), before, `queries reached the lab: ${lab.servers.flatMap((s) => s.server?.recent ?? []).join(' ')}`);
  const metrics = await verdict.verdict.metrics.registry.getSingleMetricAsString('verdict_local_answers_total');
  assert.match(metrics, /verdict_local_answers_total\{zone="10\.in-addr\.arpa\."\} [1-9]/);
  assert.match(metrics, /verdict_local_answers_total\{zone="localhost\."\} [1-9]/);
});

test('a name below a local zone that a CNAME points to is answered locally within the chain', async () => {
  // RFC 6761 6.3: localhost names never leave, wherever they are met. The lab has no such CNAME,
  // so the record cache is seeded with one, as if a public zone had pointed there.
  const { nameFromText } = await import('../src/dns/name.js');
  verdict.verdict.cache.putRRset([{ name: nameFromText('to-localhost.example.com.'), type: Type.CNAME, class: 1, ttl: 300, rdata: nameFromText('app.localhost.') }], 3);
  const before = labQueries();
  const m = await ask('to-localhost.example.com.', Type.A, verdict.port);
  assert.equal(m.rcode, Rcode.NOERROR);
  assert.deepEqual(answerLines(m), ['app.localhost. A 127.0.0.1', 'to-localhost.example.com. CNAME app.localhost.']);
  assert.equal(m.aa, false, 'a chain that is not all local is not authoritative');
  // The CNAME came from the cache, but the validator may have asked for example.com's keys: the local step itself asks nothing.
  assert.ok(lab.servers.every((s) => !(s.server?.recent ?? []).some((q) => q.includes('localhost'))), 'no server was asked about localhost');
  assert.ok(labQueries() - before < 10);
});

test('switched off, each family is resolved from the root again (the count above can fail)', async () => {
  const off = await startVerdict(lab.rootHints, 'upstream_timeout_ms: 400, local_zones: { reverse: false, onion: false, test: true }');
  try {
    const before = labQueries();
    const rev = await ask('3.2.1.10.in-addr.arpa.', Type.PTR, off.port);
    // The lab root does not delegate in-addr.arpa: its own NXDOMAIN, not ours.
    assert.equal(rev.rcode, Rcode.NXDOMAIN);
    assert.equal(soaOwner(rev), '.');
    const onion = await ask('foo.onion.', Type.A, off.port);
    assert.equal(soaOwner(onion), '.');
    assert.ok(labQueries() > before, 'the root was asked');
    assert.ok(lab.server('a.root.lab').server!.recent.some((q) => q.includes('onion')) || lab.server('b.root.lab').server!.recent.some((q) => q.includes('onion')));
    // The families left on still answer locally.
    const local = await ask('localhost.', Type.A, off.port);
    assert.equal(local.aa, true);
    const home = await ask('x.home.arpa.', Type.A, off.port);
    assert.equal(soaOwner(home), 'home.arpa.');
  } finally {
    await off.stop();
  }
  const none = await startVerdict(lab.rootHints, 'upstream_timeout_ms: 400, local_zones: { defaults: false }');
  try {
    const m = await ask('printer.home.arpa.', Type.A, none.port);
    assert.equal(soaOwner(m), '.', 'defaults: false switches every family off');
  } finally {
    await none.stop();
  }
});
