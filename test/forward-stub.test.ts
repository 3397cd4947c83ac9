/**
 * Forward and stub zones (issue 18 items 2-6) on the lab: Debian's NSD serves
 * corp.internal., a zone the lab's root does not delegate. Verdict reaches it
 * once as a stub zone (iterating from NSD), once as a forward zone behind
 * Debian's Unbound (which stubs it to NSD), over UDP and over TLS (Unbound's
 * DoT service with a certificate this test makes with openssl; verification
 * on). DNSSEC validation is on throughout (the lab's anchor): the private zone
 * is insecure, never bogus. RPZ applies to forwarded and stubbed names. What
 * reaches the lab's servers is counted.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfigText } from '../src/config/load.js';
import { Rcode, Type } from '../src/dns/constants.js';
import type { Record } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';
import { recordToText } from '../src/dns/rdata.js';
import { dsFor, generateSigningKey } from '../src/dnssec/sign.js';
import { signZone } from '../src/dnssec/zonesign.js';
import { parseZoneString } from '../src/rpz/masterfile.js';
import { startLab } from '../src/lab/lab.js';
import type { Lab } from '../src/lab/lab.js';
import { NetTransport } from '../src/resolver/transport.js';
import { ask } from './helpers/client.js';
import { answerLines, LAB_ANCHOR_YAML, startVerdict } from './helpers/lab.js';
import type { VerdictOnLab } from './helpers/lab.js';
import { hasNsd, NSD, nsdConfText } from './helpers/nsd.js';
import { soaOwner } from './helpers/local-cases.js';
import { hasUnbound, startUnbound } from './helpers/unbound.js';
import type { UnboundHandle } from './helpers/unbound.js';

const skip = !hasNsd() ? 'NSD is not installed (scripts/deps.sh)' : !hasUnbound() ? 'Unbound is not installed (scripts/deps.sh)' : false;

const NSD_ADDRESS = '127.55.230.1';
const NSD_PORT = 5300;
const UNBOUND_ADDRESS = '127.55.230.2';
/** Nothing listens there. */
const DEAD = '127.55.230.9';
const TLS_NAME = 'dns.corp.internal';

const CORP_ZONE = `$ORIGIN corp.internal.
$TTL 300
@         IN SOA ns1.corp.internal. hostmaster.corp.internal. 2024010101 3600 600 86400 300
@         IN NS  ns1.corp.internal.
ns1       IN A   ${NSD_ADDRESS}
www       IN A   10.1.2.3
intranet  IN CNAME www
to-public IN CNAME www.example.com.
blocked   IN A   10.6.6.6
`;

const SIGNED_ZONE = `$ORIGIN signed.internal.
$TTL 300
@         IN SOA ns1.corp.internal. hostmaster.corp.internal. 2024010101 3600 600 86400 300
@         IN NS  ns1.corp.internal.
www       IN A   10.9.9.9
`;

let lab: Lab;
let dir: string;
let nsd: ChildProcess | undefined;
let unbound: UnboundHandle | undefined;

const labQueries = () => lab.servers.reduce((n, s) => n + s.queries, 0);
/** Questions the lab's servers got about corp.internal, `name/type`. */
const labCorpQuestions = () => lab.servers.flatMap((s) => s.server?.recent ?? []).filter((q) => q.includes('internal'));
/** Each test counts from zero: forget the questions earlier tests made the lab see. */
const forgetLabQuestions = () => { for (const s of lab.servers) s.server?.stage.recent.splice(0); };

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'verdict-fwd-'));
  // A CA and a server certificate for dns.corp.internal, made here (nothing in the repository).
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=verdict test CA']);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${TLS_NAME}`]);
  writeFileSync(join(dir, 'san.ext'), `subjectAltName=DNS:${TLS_NAME}\n`);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext']);
  writeFileSync(join(dir, 'policy.rpz'), `$TTL 60\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n@ NS localhost.\nblocked.corp.internal CNAME .\n`);

  lab = await startLab();
  const zdir = join(dir, 'zones');
  mkdirSync(zdir);
  writeFileSync(join(zdir, 'corp.internal.zone'), CORP_ZONE);
  // signed.internal: a signed private zone (algorithm 13, NSEC). Its DS goes in an anchor file beside the
  // lab root's; another key's DS makes a wrong anchor.
  const apex = nameFromText('signed.internal.');
  const records: Record[] = [];
  parseZoneString(SIGNED_ZONE, (rr) => records.push({ name: rr.name, type: rr.type, class: rr.class, ttl: rr.ttl, rdata: rr.rdata }), { origin: apex, file: 'signed.internal' });
  const now = Math.floor(Date.now() / 1000);
  const ksk = generateSigningKey(apex, 13, 257);
  const zsk = generateSigningKey(apex, 13, 256);
  const signed = signZone(apex, records, { ksk: [ksk], zsk: [zsk], denial: { kind: 'nsec' }, inception: now - 3600, expiration: now + 86400 });
  writeFileSync(join(zdir, 'signed.internal.zone'), signed.map(recordToText).join('\n') + '\n');
  const root = readFileSync('lab/keys/root.ds', 'utf8');
  writeFileSync(join(dir, 'anchors.ds'), `${root}\n${recordToText(dsFor(ksk, 2, 3600))}\n`);
  writeFileSync(join(dir, 'wrong-anchors.ds'), `${root}\n${recordToText(dsFor(generateSigningKey(apex, 13, 257), 2, 3600))}\n`);
  const ndir = join(dir, 'nsd');
  mkdirSync(ndir);
  writeFileSync(join(ndir, 'nsd.conf'), nsdConfText({ listen: [`${NSD_ADDRESS}@${NSD_PORT}`], zonesDir: zdir, dir: ndir, zones: [{ name: 'corp.internal.', file: 'corp.internal.zone' }, { name: 'signed.internal.', file: 'signed.internal.zone' }] }));
  nsd = spawn(NSD, ['-d', '-c', join(ndir, 'nsd.conf')], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    try {
      const r = await ask('corp.internal.', Type.SOA, NSD_PORT, { address: NSD_ADDRESS, rd: false });
      if (r.answers.length) break;
    } catch { /* not up yet */ }
    if (i >= 50) throw new Error('NSD did not start');
    await sleep(100);
  }
  // The forwarding resolver: Unbound, stubbing corp.internal to NSD, on UDP/TCP 53 and DoT 853.
  unbound = await startUnbound(lab.rootHints, UNBOUND_ADDRESS, 53, {
    serverLines: [`interface: ${UNBOUND_ADDRESS}@853`, `tls-port: 853`, `tls-service-key: "${join(dir, 'server.key')}"`, `tls-service-pem: "${join(dir, 'server.pem')}"`],
    clauses: `stub-zone:\n  name: "corp.internal."\n  stub-addr: ${NSD_ADDRESS}@${NSD_PORT}\n`,
  });
});

after(async () => {
  await unbound?.stop();
  if (nsd && nsd.exitCode === null) {
    const done = new Promise((r) => nsd!.once('exit', r));
    nsd.kill('SIGTERM');
    await Promise.race([done, sleep(3000)]);
    if (nsd.exitCode === null) nsd.kill('SIGKILL');
  }
  await lab?.stop();
});

const RPZ = () => `rpz: { zones: [{ name: local.rpz, file: "${join(dir, 'policy.rpz')}" }] }`;

function start(resolverYaml: string, rootHints = lab.rootHints): Promise<VerdictOnLab> {
  forgetLabQuestions();
  return startVerdict(rootHints, `upstream_timeout_ms: 400, ${resolverYaml}`, `${LAB_ANCHOR_YAML}\n${RPZ()}`);
}

/** The same questions for every way of reaching corp.internal. */
async function assertCorpAnswers(v: VerdictOnLab, how: string): Promise<void> {
  const edns = { udpSize: 1232, version: 0, do: true, options: [] };
  const www = await ask('www.corp.internal.', Type.A, v.port, { edns });
  assert.equal(www.rcode, Rcode.NOERROR, `${how}: www`);
  assert.deepEqual(answerLines(www), ['www.corp.internal. A 10.1.2.3'], how);
  // No chain of trust reaches corp.internal: insecure (no AD), not bogus (SERVFAIL).
  assert.equal(www.ad, false, `${how}: AD`);
  const alias = await ask('intranet.corp.internal.', Type.A, v.port);
  assert.deepEqual(answerLines(alias), ['intranet.corp.internal. CNAME www.corp.internal.', 'www.corp.internal. A 10.1.2.3'], how);
  // A CNAME out of the private zone: the public name is resolved from the root, as any other.
  const pub = await ask('to-public.corp.internal.', Type.A, v.port);
  assert.deepEqual(answerLines(pub), ['to-public.corp.internal. CNAME www.example.com.', 'www.example.com. A 192.0.2.10'], how);
  const nx = await ask('nope.corp.internal.', Type.A, v.port);
  assert.equal(nx.rcode, Rcode.NXDOMAIN, `${how}: nope`);
  assert.equal(soaOwner(nx), 'corp.internal.', how);
  // Policy applies to private names like any other (issue 18 item 5).
  const blocked = await ask('blocked.corp.internal.', Type.A, v.port);
  assert.equal(blocked.rcode, Rcode.NXDOMAIN, `${how}: the RPZ rule applies`);
  assert.deepEqual(answerLines(blocked), []);
}

/**
 * Lab questions about corp.internal may only be the validator's question for
 * the zone's DS at the parent side: `corp.internal./DS`, or with QNAME
 * minimisation (RFC 9156) just `internal./A`. No name inside the zone.
 */
function assertOnlyDsReachedTheLab(how: string): void {
  const leaked = labCorpQuestions().filter((q) => q !== `corp.internal./${Type.DS}` && q !== `internal./${Type.A}`);
  assert.deepEqual(leaked, [], `${how}: private names that reached the lab`);
}

test('stub zone: corp.internal resolved from NSD (ADDRESS:PORT), not from the root', { skip }, async () => {
  const v = await start(`stub_zones: [{ name: corp.internal, addresses: ["${NSD_ADDRESS}:${NSD_PORT}"] }]`);
  try {
    await assertCorpAnswers(v, 'stub');
    assertOnlyDsReachedTheLab('stub');
    const m = await v.verdict.metrics.registry.getSingleMetricAsString('verdict_stub_queries_total');
    assert.match(m, /verdict_stub_queries_total\{zone="corp\.internal\."\} [1-9]/);
    // Without the stub zone the lab root says corp.internal does not exist: the test can fail.
    const plain = await start('qname_minimisation: true');
    try {
      const nx = await ask('www.corp.internal.', Type.A, plain.port);
      assert.equal(nx.rcode, Rcode.NXDOMAIN);
      assert.equal(soaOwner(nx), '.');
    } finally {
      await plain.stop();
    }
  } finally {
    await v.stop();
  }
});

test('forward zone: corp.internal through Unbound (RD=1), over UDP', { skip }, async () => {
  const v = await start(`forward_zones: [{ name: corp.internal, addresses: ["${UNBOUND_ADDRESS}"] }]`);
  try {
    const before = labQueries();
    await assertCorpAnswers(v, 'forward');
    assertOnlyDsReachedTheLab('forward');
    const m = await v.verdict.metrics.registry.getSingleMetricAsString('verdict_forwarded_queries_total');
    assert.match(m, /verdict_forwarded_queries_total\{zone="corp\.internal\."\} [1-9]/);
    // The lab saw only the public half (www.example.com) and DNSSEC lookups: a bounded handful.
    assert.ok(labQueries() - before < 30, `${labQueries() - before} lab queries`);
  } finally {
    await v.stop();
  }
});

test('forward zone over TLS (RFC 7858) to Unbound, certificate verified against tls_name', { skip }, async () => {
  const yaml = (name: string) => `forward_zones: [{ name: corp.internal, addresses: ["${UNBOUND_ADDRESS}"], tls: true, tls_name: ${name}, tls_ca_file: "${join(dir, 'ca.pem')}" }]`;
  const v = await start(yaml(TLS_NAME));
  try {
    await assertCorpAnswers(v, 'forward over TLS');
    const t = v.verdict.transport as NetTransport;
    assert.ok(t instanceof NetTransport);
    // Four private questions over one reused connection (RFC 7858 3.4).
    assert.equal(t.dot.opened, 1, 'one TLS connection, reused');
  } finally {
    await v.stop();
  }
  // A name the certificate does not carry: the handshake fails, nothing is accepted.
  const wrong = await start(yaml('other.corp.internal'));
  try {
    const m = await ask('www.corp.internal.', Type.A, wrong.port);
    assert.equal(m.rcode, Rcode.SERVFAIL, 'a certificate for another name is refused');
  } finally {
    await wrong.stop();
  }
});

test('forward first falls back to the root when the forwarders fail; forward only says SERVFAIL', { skip }, async () => {
  const only = await start(`forward_zones: [{ name: corp.internal, addresses: ["${DEAD}"] }]`);
  try {
    const before = labCorpQuestions().length;
    const m = await ask('www.corp.internal.', Type.A, only.port);
    assert.equal(m.rcode, Rcode.SERVFAIL);
    assert.equal(labCorpQuestions().filter((q) => q.startsWith('www.')).length, 0, 'first: false never asks the root');
    assert.ok(labCorpQuestions().length >= before);
  } finally {
    await only.stop();
  }
  const first = await start(`forward_zones: [{ name: corp.internal, addresses: ["${DEAD}"], first: true }]`);
  try {
    const m = await ask('www.corp.internal.', Type.A, first.port);
    // The lab's root does not delegate internal.: its NXDOMAIN, reached by iteration.
    assert.equal(m.rcode, Rcode.NXDOMAIN);
    assert.equal(soaOwner(m), '.');
  } finally {
    await first.stop();
  }
});

test('a stub zone works with the root unreachable: no DS chain makes it insecure, not bogus', { skip }, async () => {
  // Root hints to a dead address: the DS question for corp.internal gets no answer at all.
  const v = await start(`stub_zones: [{ name: corp.internal, addresses: ["${NSD_ADDRESS}:${NSD_PORT}"] }]`, [{ name: 'a.root.lab', address: DEAD }]);
  try {
    const m = await ask('www.corp.internal.', Type.A, v.port);
    assert.equal(m.rcode, Rcode.NOERROR);
    assert.deepEqual(answerLines(m), ['www.corp.internal. A 10.1.2.3']);
    assert.equal(m.ad, false);
  } finally {
    await v.stop();
  }
});

test('a SIGHUP-style reload swaps the zone lists without dropping a query in flight', { skip }, async () => {
  const base = `server: { listen: ["127.0.0.1:0"], allow: ["127.0.0.0/8"] }\nlog: { level: silent }\ncontrol: { enabled: false }\n${LAB_ANCHOR_YAML}\n`;
  const hints = `root_hints: [${lab.rootHints.map((h) => `{ name: ${h.name}, address: ${h.address} }`).join(', ')}]`;
  const conf = (zones: string) => ({ config: parseConfigText(`${base}resolver: { upstream_timeout_ms: 400, ${hints}, ${zones} }\n`, 'reload.yaml'), file: 'reload.yaml', baseDir: '.' });
  const v = await startVerdict(lab.rootHints, `upstream_timeout_ms: 400, stub_zones: [{ name: corp.internal, addresses: ["${NSD_ADDRESS}:${NSD_PORT}"] }]`);
  try {
    assert.deepEqual(answerLines(await ask('www.corp.internal.', Type.A, v.port)), ['www.corp.internal. A 10.1.2.3']);
    // Queries in flight across the reload: every one gets an answer.
    const inflight = Array.from({ length: 20 }, (_, i) => ask(`n${i}.corp.internal.`, Type.A, v.port));
    await v.verdict.reload(conf(`local_zones: { onion: false }`));
    const answers = await Promise.all(inflight);
    assert.ok(answers.every((m) => m.rcode === Rcode.NXDOMAIN || m.rcode === Rcode.SERVFAIL), 'answered');
    // After the reload the stub zone is gone (cached data for it too): the root's NXDOMAIN.
    const after = await ask('www.corp.internal.', Type.A, v.port);
    assert.equal(after.rcode, Rcode.NXDOMAIN);
    assert.equal(soaOwner(after), '.');
    await v.verdict.reload(conf(`stub_zones: [{ name: corp.internal, addresses: ["${NSD_ADDRESS}:${NSD_PORT}"] }]`));
    assert.deepEqual(answerLines(await ask('www.corp.internal.', Type.A, v.port)), ['www.corp.internal. A 10.1.2.3']);
  } finally {
    await v.stop();
  }
});

test('a signed private zone with its DS in the trust anchor file validates: secure, or bogus with a wrong anchor', { skip }, async () => {
  const edns = { udpSize: 1232, version: 0, do: true, options: [] };
  const stub = `stub_zones: [{ name: signed.internal, addresses: ["${NSD_ADDRESS}:${NSD_PORT}"] }]`;
  const anchored = await startVerdict(lab.rootHints, `upstream_timeout_ms: 400, ${stub}`, `dnssec: { trust_anchor_file: ["${join(dir, 'anchors.ds')}"] }`);
  try {
    const m = await ask('www.signed.internal.', Type.A, anchored.port, { edns });
    assert.equal(m.rcode, Rcode.NOERROR);
    assert.deepEqual(answerLines(m).filter((l) => !l.includes(' RRSIG ')), ['www.signed.internal. A 10.9.9.9']);
    assert.equal(m.ad, true, 'secure through the configured anchor');
    const nx = await ask('nope.signed.internal.', Type.A, anchored.port, { edns });
    assert.equal(nx.rcode, Rcode.NXDOMAIN);
    assert.equal(nx.ad, true, 'the NSEC proof validates too');
  } finally {
    await anchored.stop();
  }
  const plain = await start(stub);
  try {
    const m = await ask('www.signed.internal.', Type.A, plain.port, { edns });
    assert.equal(m.rcode, Rcode.NOERROR);
    assert.equal(m.ad, false, 'without an anchor: insecure');
  } finally {
    await plain.stop();
  }
  const wrong = await startVerdict(lab.rootHints, `upstream_timeout_ms: 400, ${stub}`, `dnssec: { trust_anchor_file: ["${join(dir, 'wrong-anchors.ds')}"] }`);
  try {
    const m = await ask('www.signed.internal.', Type.A, wrong.port, { edns });
    assert.equal(m.rcode, Rcode.SERVFAIL, 'an anchor matching no key of the zone: bogus');
    assert.ok(m.edns?.options.some((o) => o.code === 15), 'with an Extended DNS Error');
  } finally {
    await wrong.stop();
  }
});
