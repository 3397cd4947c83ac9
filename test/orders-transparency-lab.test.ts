/**
 * Numbers that agree (issue 17): a scripted run against the lab (which
 * serves the 2013 order's domains), then the blocked-answer counts of
 * /metrics, of /transparency.json and /transparency (served live by the
 * metrics listener), of the audit log (written at stop) and of
 * `verdict orders report --json` (from files) must all be the number of
 * blocked answers dig received.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { startLab } from '../src/lab/lab.js';
import type { Lab } from '../src/lab/lab.js';
import { readAuditLog } from '../src/rpz/orders/audit.js';
import { transparencyReportSchema } from '../src/rpz/orders/transparency.js';
import type { TransparencyReport } from '../src/rpz/orders/transparency.js';
import { Verdict } from '../src/resolver/verdict.js';
import { digAsync, hasDig } from './helpers/dig.js';

const skip = hasDig() ? false : 'dig is not installed (apt-get install bind9-dnsutils)';
const ORDER = '2013-tgi-paris-allostreaming';
const dir = mkdtempSync(join(tmpdir(), 'verdict-transparency-lab-'));
mkdirSync(join(dir, 'orders'));
copyFileSync('config/orders/2013-tgi-paris-allostreaming.yaml', join(dir, 'orders/2013.yaml'));
const configFile = join(dir, 'verdict.yaml');
writeFileSync(configFile, `server: { listen: ["127.0.0.1:0"], allow: ["127.0.0.0/8"] }
resolver:
  root_hints: [{ name: a.root.lab, address: 127.55.0.1 }, { name: b.root.lab, address: 127.55.0.2 }]
  upstream_timeout_ms: 400
dnssec: { trust_anchor_file: ${JSON.stringify(resolve('lab/keys/root.ds'))} }
log: { level: silent }
control: { enabled: false }
mirrors: { state_file: mirrors.json }
metrics: { listen: "127.0.0.1:0", transparency: true }
report: { language: en, chart_days: 3 }
orders:
  files: ["orders/*.yaml"]
  clock: "2014-06-02T10:00:00+02:00"
  audit_log: audit.jsonl
  notice_host: notice.verdict.example
  notice_addresses: [192.0.2.200]
`);

let lab: Lab;
let v: Verdict;
let stopped = false;
before(async () => {
  if (skip) return;
  lab = await startLab();
  const cfg = parseConfigText((await import('node:fs')).readFileSync(configFile, 'utf8'), configFile);
  v = new Verdict({ config: cfg, file: configFile, baseDir: dir });
  await v.start();
});
after(async () => {
  if (!stopped) await v?.stop();
  await lab?.stop();
});

async function get(path: string): Promise<{ status: number; type: string; body: string }> {
  const m = v.metricsAddress!;
  const r = await fetch(`http://127.0.0.1:${m.port}${path}`);
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
}

test('a scripted run: /metrics, /transparency(.json), the audit log and the CLI report give the same counts', { skip }, async () => {
  const port = v.server.addresses.find((a) => a.transport === 'udp')!.port;
  // The script: blocked names (some asked several times, over UDP and TCP) and unblocked ones.
  const script: [string, string, boolean][] = [
    ['www.dpstream.tv', 'A', true], ['www.dpstream.tv', 'A', true], ['dpstream.tv', 'AAAA', true],
    ['www.allostreaming.com', 'A', true], ['www.fifostreaming.org', 'A', true], ['www.fifostreaming.org', 'A', true],
    ['www.example.com', 'A', false], ['www.example.com', 'A', false], ['chain.example.com', 'A', false],
  ];
  let blocked = 0;
  for (const [i, [name, type, isBlocked]] of script.entries()) {
    const r = await digAsync([name, type, ...(i % 3 === 2 ? ['+tcp'] : [])], '127.0.0.1', port);
    assert.equal(r.status, 'NOERROR', `${name} ${type}: ${r.text}`);
    const censored = r.ede.some((e) => /16 \(Censored\)/.test(e) && e.includes(ORDER));
    assert.equal(censored, isBlocked, `${name} ${type}: ${r.ede.join('; ')}`);
    if (censored) blocked++;
  }
  assert.equal(blocked, 6);

  const metrics = await get('/metrics');
  const m = new RegExp(`^verdict_order_blocked_total\\{order="${ORDER}"\\} (\\d+)$`, 'm').exec(metrics.body);
  assert.ok(m, 'the order\'s counter in /metrics');
  assert.equal(Number(m[1]), blocked, '/metrics');

  const json = await get('/transparency.json');
  assert.equal(json.status, 200);
  assert.match(json.type, /^application\/json/);
  const live = transparencyReportSchema.parse(JSON.parse(json.body));
  const order = live.orders.find((o) => o.id === ORDER)!;
  assert.equal(live.counts_source, 'audit-log');
  assert.equal(order.blocked_answers.total, blocked, '/transparency.json total');
  assert.deepEqual(order.blocked_answers.per_day, [{ date: '2014-05-31', answers: 0 }, { date: '2014-06-01', answers: 0 }, { date: '2014-06-02', answers: blocked }]);
  assert.equal(live.totals.blocked_answers_in_window, blocked);

  const html = await get('/transparency');
  assert.equal(html.status, 200);
  assert.match(html.type, /^text\/html/);
  assert.match(html.body, new RegExp(`data-order="${ORDER}">[\\s\\S]*?data-field="blocked"><data value="${blocked}">`));
  assert.match(html.body, /href="\/transparency\.json"/);

  // Stop: the counts not yet written go to the audit log.
  await v.stop();
  stopped = true;
  const audit = readAuditLog(join(dir, 'audit.jsonl'));
  const lines = audit.filter((l) => l.event === 'blocked-answers' && l.order === ORDER);
  assert.ok(lines.length >= 1);
  assert.equal(lines.reduce((n, l) => n + (l.answers as number), 0), blocked, 'the audit log');
  assert.ok(lines.every((l) => l.day === '2014-06-02'));

  const cli = spawnSync('node', [resolve('dist/src/cli.js'), 'orders', 'report', '--json', '-c', configFile], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  assert.equal(cli.status, 0, cli.stderr);
  const fromFiles = JSON.parse(cli.stdout) as TransparencyReport;
  assert.equal(fromFiles.orders.find((o) => o.id === ORDER)!.blocked_answers.total, blocked, 'verdict orders report --json');
  assert.deepEqual(fromFiles.orders.find((o) => o.id === ORDER)!.blocked_answers.per_day, order.blocked_answers.per_day);
});

test('without metrics.transparency the pages are not served', { skip }, async () => {
  const cfg = parseConfigText('server: { listen: ["127.0.0.1:0"] }\nlog: { level: silent }\ncontrol: { enabled: false }\nmirrors: { enabled: false }\ndnssec: { validation: false }\nmetrics: { listen: "127.0.0.1:0" }\n', 'plain.yaml');
  const plain = new Verdict({ config: cfg, file: 'plain.yaml', baseDir: dir });
  await plain.start();
  try {
    const r = await fetch(`http://127.0.0.1:${plain.metricsAddress!.port}/transparency`);
    assert.equal(r.status, 404);
    await r.body?.cancel();
  } finally {
    await plain.stop();
  }
});
