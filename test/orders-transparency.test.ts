/**
 * The transparency report (issue 17) from files, as `verdict orders report`
 * makes it: the JSON against its published schema, the figures from an audit
 * log written here (blocked-answer counts, held entries and their outcomes,
 * written the way the regulator-request workflow writes them), names only
 * where an order publishes them, and the HTML page: valid (html-validate),
 * rendered by Debian's headless Chromium, screenshot kept in
 * var/test-artifacts/, each order's row, dates and counts read back from the
 * DOM Chromium built.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { HtmlValidate } from 'html-validate';
import { transparencyJsonSchema, transparencyReportSchema } from '../src/rpz/orders/transparency.js';
import type { TransparencyReport } from '../src/rpz/orders/transparency.js';

const CLI = resolve('dist/src/cli.js');
const ARTIFACTS = resolve('var/test-artifacts');
const dir = mkdtempSync(join(tmpdir(), 'verdict-transparency-'));
mkdirSync(join(dir, 'orders'));
mkdirSync(join(dir, 'var'));
copyFileSync('config/orders/2013-tgi-paris-allostreaming.yaml', join(dir, 'orders/2013.yaml'));
copyFileSync('config/orders/example-amendment-mirrors.yaml', join(dir, 'orders/amend.yaml'));
// A public order, scoped to one network set, in force on the report day.
writeFileSync(join(dir, 'orders/public.yaml'), `id: 2014-public-scoped
court: Tribunal de grande instance de Paris
decision_date: 2014-05-02
reference: RG 14/00042
parties: { plaintiffs: [APC], addressees: [ISP] }
effective: 2014-05-05
duration: { months: 6 }
action: nxdomain
domains: [public-one.tv, public-two.tv, public-three.tv]
applies_to: [fr-residential]
publish_names: true
`);
// Ended long before the report day: out of the report (recent_days 90).
writeFileSync(join(dir, 'orders/old.yaml'), `id: 2010-long-gone
court: Tribunal de grande instance de Paris
decision_date: 2010-01-04
parties: { plaintiffs: [A], addressees: [B] }
effective: 2010-01-04
duration: { months: 1 }
action: nxdomain
domains: [gone.tv]
`);

const line = (o: object) => JSON.stringify(o) + '\n';
writeFileSync(join(dir, 'var/audit.jsonl'), [
  line({ ts: '2014-05-29T10:00:00.000Z', event: 'blocked-answers', order: '2013-tgi-paris-allostreaming', day: '2014-05-29', answers: 40 }),
  line({ ts: '2014-05-30T10:00:00.000Z', event: 'blocked-answers', order: '2013-tgi-paris-allostreaming', day: '2014-05-30', answers: 25 }),
  line({ ts: '2014-05-30T11:00:00.000Z', event: 'blocked-answers', order: '2013-tgi-paris-allostreaming', day: '2014-05-30', answers: 5 }),
  line({ ts: '2014-06-01T10:00:00.000Z', event: 'blocked-answers', order: '2014-public-scoped', day: '2014-06-01', answers: 7 }),
  // Before the chart window: in the total, not in per_day.
  line({ ts: '2014-01-10T10:00:00.000Z', event: 'blocked-answers', order: '2013-tgi-paris-allostreaming', day: '2014-01-10', answers: 1000 }),
  // Held entries (issue 16's events), read generically.
  line({ ts: '2014-05-20T09:00:00.000Z', event: 'held', order: 'example-amendment-mirrors', name: 'news.example', reason: 'protected' }),
  line({ ts: '2014-05-20T09:00:00.000Z', event: 'held', order: 'example-amendment-mirrors', name: 'shop.example', reason: 'protected' }),
  line({ ts: '2014-05-20T09:00:00.000Z', event: 'held', order: 'example-amendment-mirrors', name: 'third.example', reason: 'protected' }),
  line({ ts: '2014-05-21T09:00:00.000Z', event: 'confirmed', order: 'example-amendment-mirrors', name: 'news.example', by: 'legal' }),
  line({ ts: '2014-05-22T09:00:00.000Z', event: 'entry-rejected', order: 'example-amendment-mirrors', name: 'shop.example', by: 'legal' }),
  '{"ts":"2014-05-23T00:00:00Z","event":"blocked-ans', // a torn line from a crash
].join('') + '\n');

function config(language: 'en' | 'fr'): string {
  const f = join(dir, `cfg-${language}.yaml`);
  writeFileSync(f, `orders:
  files: ["orders/*.yaml"]
  clock: "2014-06-02T10:00:00+02:00"
  audit_log: var/audit.jsonl
  networks: { fr-residential: ["192.0.2.0/24", "2001:db8:f::/48"] }
report: { language: ${language}, operator: "Example ISP", chart_days: 7 }
mirrors: { state_file: var/mirrors.json }
control: { enabled: false }
`);
  return f;
}

function verdict(...args: string[]) {
  return spawnSync('node', [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
}

function reportJson(language: 'en' | 'fr'): TransparencyReport {
  const r = verdict('orders', 'report', '--json', '-c', config(language));
  assert.equal(r.status, 0, r.stderr);
  return transparencyReportSchema.parse(JSON.parse(r.stdout));
}

test('report --json: the schema, every order in force or recently ended, counts from the audit log', () => {
  const r = reportJson('en');
  assert.equal(r.format, 'verdict-transparency-report');
  assert.equal(r.counts_source, 'audit-log');
  assert.deepEqual(r.window, { from: '2014-05-27', to: '2014-06-02', recent_days: 90 });
  // The 2010 order ended years before the report day: left out.
  assert.deepEqual(r.orders.map((o) => [o.id, o.state]), [
    ['2013-tgi-paris-allostreaming', 'active'],
    ['example-amendment-mirrors', 'active'],
    ['2014-public-scoped', 'active'],
  ]);
  const paris = r.orders[0]!;
  assert.equal(paris.authority, 'Tribunal de grande instance de Paris');
  assert.equal(paris.decision_date, '2013-11-28');
  assert.equal(paris.effective_date, '2013-12-13');
  assert.equal(paris.last_day, '2014-12-12');
  assert.equal(paris.names_count, 16);
  assert.equal(paris.names, null, 'names not published by default');
  assert.equal(paris.blocked_answers.total, 1070);
  assert.deepEqual(paris.blocked_answers.per_day.map((d) => d.answers), [0, 0, 40, 30, 0, 0, 0]);
  const pub = r.orders.find((o) => o.id === '2014-public-scoped')!;
  assert.deepEqual(pub.names, ['public-one.tv', 'public-two.tv', 'public-three.tv']);
  assert.deepEqual(pub.scope, { applies_to: ['fr-residential'], except: [] });
  assert.equal(pub.reference, 'RG 14/00042');
  const amend = r.orders.find((o) => o.id === 'example-amendment-mirrors')!;
  assert.deepEqual(amend.held_entries, { held: 3, confirmed: 1, rejected: 1, pending: 1 });
  assert.equal(amend.mirror_candidates, 0);
  assert.deepEqual(r.totals, {
    orders_in_force: 3, orders_listed: 3, names_in_force: 16 + 2 + 3,
    blocked_answers_in_window: 40 + 30 + 7, held_pending: 1, mirror_candidates: 0,
  });
  // No client data: no address anywhere but the operator's own network set names.
  assert.doesNotMatch(JSON.stringify(r), /\b\d+\.\d+\.\d+\.\d+\b|2001:db8/);
});

test('the published JSON Schema is the one the code checks against', () => {
  const published = JSON.parse(readFileSync('docs/transparency.schema.json', 'utf8')) as object;
  assert.deepEqual(published, JSON.parse(JSON.stringify(transparencyJsonSchema())), 'regenerate docs/transparency.schema.json (docs/TRANSPARENCY.md says how)');
});

test('report without an audit log: counts say "none"; a bad order file: exit 1, no report', () => {
  const f = join(dir, 'cfg-none.yaml');
  writeFileSync(f, 'orders:\n  files: ["orders/2013.yaml"]\n  clock: "2014-06-02T10:00:00+02:00"\nmirrors: { enabled: false }\ncontrol: { enabled: false }\n');
  const r = verdict('orders', 'report', '--json', '-c', f);
  assert.equal(r.status, 0, r.stderr);
  const data = JSON.parse(r.stdout) as TransparencyReport;
  assert.equal(data.counts_source, 'none');
  assert.equal(data.totals.mirror_candidates, null);
  mkdirSync(join(dir, 'broken'), { recursive: true });
  writeFileSync(join(dir, 'broken/x.yaml'), 'id: x\ncourt: c\n');
  const g = join(dir, 'cfg-broken.yaml');
  writeFileSync(g, 'orders:\n  files: ["broken/*.yaml"]\ncontrol: { enabled: false }\n');
  const bad = verdict('orders', 'report', '--html', '-c', g);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /x\.yaml:1:1: decision_date: required key is missing/);
  assert.equal(bad.stdout, '');
});

async function validate(html: string): Promise<void> {
  const hv = new HtmlValidate({ extends: ['html-validate:recommended'] });
  const report = await hv.validateString(html, 'transparency.html');
  const messages = report.results.flatMap((r) => r.messages.map((m) => `${m.line}:${m.column} ${m.ruleId}: ${m.message}`));
  assert.equal(report.valid, true, messages.join('\n'));
}

test('report --html in English and French: valid HTML (html-validate, recommended rules), no script, no external asset', async () => {
  for (const lang of ['en', 'fr'] as const) {
    const out = join(dir, `report-${lang}.html`);
    const r = verdict('orders', 'report', '--html', '-o', out, '-c', config(lang));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /written to /);
    const html = readFileSync(out, 'utf8');
    await validate(html);
    assert.match(html, new RegExp(`<html lang="${lang}">`));
    assert.doesNotMatch(html, /<script|<link |<img |src=|url\(/i);
    assert.match(html, lang === 'fr' ? /<h1>Rapport de transparence/ : /<h1>Transparency report/);
    // Every chart is an image with a title and a description, and its figures are in a table too.
    const svgs = [...html.matchAll(/<svg role="img" aria-labelledby="([^"]+)"/g)].map((m) => m[1]!.split(' '));
    assert.equal(svgs.length, 1 + 3, 'a timeline and one chart per order');
    for (const ids of svgs) for (const id of ids) assert.match(html, new RegExp(`id="${id}"`));
  }
  // Invalid HTML is caught (the check can fail).
  await assert.rejects(validate('<!DOCTYPE html><html lang="en"><head><title>x</title></head><body><p><div></p></body></html>'));
});

const chromium = ['chromium', '/usr/bin/chromium'].find((c) => spawnSync(c, ['--version'], { encoding: 'utf8', timeout: 30_000 }).status === 0);

test('the page in headless Chromium: screenshot kept, each order\'s row, dates and counts in the DOM', { skip: chromium ? false : 'chromium is not installed (scripts/deps.sh installs it)' }, () => {
  const page = join(dir, 'report-fr.html');
  if (!existsSync(page)) assert.equal(verdict('orders', 'report', '--html', '-o', page, '-c', config('fr')).status, 0);
  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, 'transparency-report-phone.png');
  const profile = mkdtempSync(join(tmpdir(), 'verdict-chromium-'));
  const common = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--user-data-dir=${profile}`, '--window-size=412,2400'];
  const s = spawnSync(chromium!, [...common, `--screenshot=${shot}`, `file://${page}`], { encoding: 'utf8', timeout: 90_000 });
  assert.equal(s.status, 0, s.stderr);
  assert.ok(existsSync(shot) && statSync(shot).size > 10_000, 'a screenshot was written');
  const png = readFileSync(shot);
  assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
  assert.equal(png.readUInt32BE(16), 412, 'rendered at a phone\'s width');
  const d = spawnSync(chromium!, [...common, '--dump-dom', `file://${page}`], { encoding: 'utf8', timeout: 90_000, maxBuffer: 16 * 1024 * 1024 });
  assert.equal(d.status, 0, d.stderr);
  const dom = d.stdout;
  writeFileSync(join(ARTIFACTS, 'transparency-report-phone.dom.html'), dom);
  const report = reportJson('fr');
  assert.equal(report.orders.length, 3);
  for (const o of report.orders) {
    const row = new RegExp(`<tr id="[^"]+-row" data-order="${o.id}">([\\s\\S]*?)</tr>`).exec(dom);
    assert.ok(row, `a row for ${o.id}`);
    const cells = row[1]!;
    assert.match(cells, new RegExp(`>${o.id}</a>`));
    assert.match(cells, new RegExp(`<time datetime="${o.decision_date}">${o.decision_date}</time>`));
    assert.match(cells, new RegExp(`<time datetime="${o.effective_date}">${o.effective_date}</time> – <time datetime="${o.last_day}">${o.last_day}</time>`));
    const field = (name: string) => Number(new RegExp(`data-field="${name}"><data value="(\\d+)"`).exec(cells)?.[1]);
    assert.equal(field('names'), o.names_count);
    assert.equal(field('blocked'), o.blocked_answers.per_day.reduce((n, x) => n + x.answers, 0));
    assert.equal(field('held'), o.held_entries.pending);
    assert.match(dom, new RegExp(`<article id="[^"]+" aria-labelledby="[^"]+">\\s*<h3 id="[^"]+">${o.id}</h3>`));
  }
  assert.match(dom, /<h1>Rapport de transparence : blocages DNS ordonnés par la justice<\/h1>/);
  assert.match(dom, /<code>public-two\.tv<\/code>/, 'a public order\'s names are shown');
  assert.doesNotMatch(dom, /dpstream\.tv/, 'a non-public order\'s names are not');
  assert.match(dom, /16 noms \(la décision ne les publie pas\)/);
});
