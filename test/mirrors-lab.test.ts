/**
 * Mirror watch in the running server, on the lab: Verdict enforces the 2013
 * order (judged by a clock inside its dates), clients look up the blocked
 * site, its mirrors (shared/ORDER-2013.md: dpstream.net/.pw/.cc/.me) and
 * ordinary sites; the server reports the mirrors as candidates with their
 * evidence, never blocks them, and `verdict mirrors report` reads the saved
 * state once the server has stopped.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { Rcode, Type } from '../src/dns/constants.js';
import { startLab } from '../src/lab/lab.js';
import type { Lab } from '../src/lab/lab.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask } from './helpers/client.js';

const dir = mkdtempSync(join(tmpdir(), 'verdict-mirrors-lab-'));
mkdirSync(join(dir, 'orders'));
copyFileSync('config/orders/2013-tgi-paris-allostreaming.yaml', join(dir, 'orders/2013.yaml'));
const yaml = `server: { listen: ["127.0.0.1:0"] }
resolver: { root_hints: [{ name: a.root.lab, address: 127.55.0.1 }], upstream_timeout_ms: 400 }
orders: { files: ["orders/*.yaml"], clock: "2014-06-01T12:00:00Z", notice_addresses: [192.0.2.200] }
mirrors: { state_file: mirrors.json, save_interval_s: 0 }
log: { level: silent }
control: { enabled: false }
dnssec: { trust_anchor_file: ${resolve('lab/keys/root.ds')} }
`;
const cfgFile = join(dir, 'verdict.yaml');
writeFileSync(cfgFile, yaml);

let lab: Lab;
let v: Verdict;
let port = 0;
before(async () => {
  lab = await startLab();
  v = new Verdict({ config: parseConfigText(yaml, cfgFile), file: cfgFile, baseDir: dir }, { rootHints: lab.rootHints });
  await v.start();
  port = v.server.addresses[0]!.port;
});
after(async () => {
  await v.stop();
  await lab.stop();
});

const a = (m: { answers: { type: number; rdata: Buffer }[] }) => m.answers.filter((r) => r.type === Type.A).map((r) => [...r.rdata].join('.'));

test('the blocked site is redirected; its mirrors resolve unchanged; the mirrors are reported, the ordinary sites are not', async () => {
  assert.deepEqual(a(await ask('www.dpstream.tv.', Type.A, port)), ['192.0.2.200'], 'the order is enforced');
  const mirrors = ['dpstream.net.', 'www.dpstream.pw.', 'dpstream.cc.', 'www.dpstream.me.'];
  for (const m of mirrors) {
    const r = await ask(m, Type.A, port);
    assert.equal(r.rcode, Rcode.NOERROR, m);
    assert.ok(a(r).length > 0 && !a(r).includes('192.0.2.200'), `${m} is not blocked: only an order can block it`);
  }
  for (const n of ['www.example.com.', 'example.org.', 'notice.verdict.example.']) await ask(n, Type.A, port);
  const snap = (await v.controlHandlers().mirrors!([])) as { candidates: { name: string; score: number; signals: unknown[] }[] };
  const names = snap.candidates.map((c) => c.name);
  for (const m of ['dpstream.net', 'dpstream.pw', 'dpstream.cc', 'dpstream.me']) assert.ok(names.includes(m), `${m} reported (got ${names.join(', ')})`);
  const worstMirror = Math.min(...snap.candidates.filter((c) => c.name.startsWith('dpstream.')).map((c) => c.score));
  for (const c of snap.candidates.filter((x) => !x.name.startsWith('dpstream.'))) {
    assert.ok(c.score < worstMirror, `${c.name} (${c.score}) ranks below every mirror (${worstMirror})`);
  }
  assert.ok(!names.includes('example.com'));
});

test('the state is saved at stop and `verdict mirrors report` reads it', async () => {
  v.mirrors!.save();
  assert.ok(existsSync(join(dir, 'mirrors.json')));
  const r = spawnSync('node', [resolve('dist/src/cli.js'), 'mirrors', 'report', '--json', '-c', cfgFile], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { candidates: { name: string }[] };
  assert.ok(report.candidates.some((c) => c.name === 'dpstream.net'), r.stdout.slice(0, 500));
});
