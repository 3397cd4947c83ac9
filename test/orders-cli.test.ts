/** `verdict orders list|check|explain|compile` as the legal team runs them: real processes. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const CLI = resolve('dist/src/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'verdict-orders-cli-'));
mkdirSync(join(dir, 'orders'));
copyFileSync('config/orders/2013-tgi-paris-allostreaming.yaml', join(dir, 'orders/2013.yaml'));
copyFileSync('config/orders/example-amendment-mirrors.yaml', join(dir, 'orders/amend.yaml'));

/** A config judging orders by a clock inside the 2013 order's dates. */
function config(clock: string, extra = ''): string {
  const f = join(dir, `cfg-${clock.replace(/[^0-9]/g, '')}.yaml`);
  writeFileSync(f, `orders:\n  files: ["orders/*.yaml"]\n  clock: "${clock}"\n  notice_host: notice.isp.example\n${extra}control: { enabled: false }\n`);
  return f;
}

function verdict(...args: string[]) {
  return spawnSync('node', [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
}

test('orders list: state and days left by the order clock', () => {
  const r = verdict('orders', 'list', '-c', config('2014-06-01T12:00:00Z'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /2013-tgi-paris-allostreaming\s+active\s+\d+\s+16\s+2013-12-13 \.\. 2014-12-12/);
  const later = verdict('orders', 'list', '--json', '-c', config('2015-01-10T00:00:00Z'));
  const rows = JSON.parse(later.stdout) as { id: string; state: string }[];
  assert.equal(rows.find((x) => x.id === '2013-tgi-paris-allostreaming')?.state, 'expired');
});

test('orders explain: blocked inside the dates with the order named, not after expiry', () => {
  const r = verdict('orders', 'explain', 'www.dpstream.tv', '-c', config('2014-06-01T12:00:00Z'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /BLOCKED by rule \*\.dpstream\.tv\.court-orders\.rpz/);
  assert.match(r.stdout, /EDE 16 \(Censored\): .*Tribunal de grande instance de Paris, 2013-11-28/);
  const after = verdict('orders', 'explain', 'www.dpstream.tv', '--json', '-c', config('2015-01-10T00:00:00Z'));
  const e = JSON.parse(after.stdout) as { blocked: boolean; matches: { state: string }[] };
  assert.equal(e.blocked, false);
  assert.equal(e.matches[0]?.state, 'expired');
});

test('orders compile: stdout by default, -o writes a zone named-checkzone accepts', () => {
  const cfg = config('2014-06-01T12:00:00Z');
  const r = verdict('orders', 'compile', '-c', cfg);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\$ORIGIN court-orders\.rpz\./m);
  assert.match(r.stdout, /^\*\.fifostreaming\.net CNAME notice\.isp\.example\.$/m);
  const out = join(dir, 'orders.rpz');
  const w = verdict('orders', 'compile', '-o', out, '-c', cfg);
  assert.equal(w.status, 0, w.stderr);
  assert.equal(w.stdout, '');
  // The order clock runs on from `orders.clock`: the two runs may differ in the comment's millisecond.
  const instant = (z: string) => z.replace(/^(; Orders in force at )\S+:/m, '$1T:');
  assert.equal(instant(readFileSync(out, 'utf8')), instant(r.stdout), 'the same zone on stdout and in the file');
  const check = spawnSync('named-checkzone', ['court-orders.rpz', out], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
});

test('orders check: exit 1 with file:line:column for a broken order; compile refuses it', () => {
  writeFileSync(join(dir, 'orders/broken.yaml'), 'id: broken\ncourt: X\ndecision_date: 2014-02-30\nparties: { plaintiffs: [A], addressees: [B] }\neffective: 2014-03-01\nduration: { months: 1 }\nstatus: active\naction: nxdomain\ndomains: [a.example]\n');
  try {
    const cfg = config('2014-06-01T12:00:00Z');
    const r = verdict('orders', 'check', '-c', cfg);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /orders\/broken\.yaml:3:\d+: decision_date/);
    const c = verdict('orders', 'compile', '-c', cfg);
    assert.equal(c.status, 1);
    assert.match(c.stderr, /not compiled/);
  } finally {
    writeFileSync(join(dir, 'orders/broken.yaml'), '');
    spawnSync('rm', [join(dir, 'orders/broken.yaml')]);
  }
});
