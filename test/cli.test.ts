/** The command line as operators use it: real processes, real signals. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Type } from '../src/dns/constants.js';
import { ask } from './helpers/client.js';
import { waitForOutput } from './helpers/process.js';

const CLI = 'dist/src/cli.js';
const dir = mkdtempSync(join(tmpdir(), 'verdict-cli-'));


test('verdict check: ok for the default config, file:line:col and exit 1 for a broken one', () => {
  const ok = spawnSync('node', [CLI, 'check', '-c', 'config/verdict.yaml'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(ok.status, 0, ok.stderr);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'server:\n  listen: ["127.0.0.1:5353"]\n  alow: []\n');
  const r = spawnSync('node', [CLI, 'check', '-c', bad], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:3: server\\.alow: unknown key`));
});

test('serve answers, SIGHUP reloads without stopping, SIGTERM drains and exits 0', async () => {
  const cfg = join(dir, 'serve.yaml');
  const listen = '127.55.251.7:5353';
  const write = (allow: string) => writeFileSync(cfg, `server: { listen: ["${listen}"], allow: ["${allow}"] }\nresolver: { root_hints: [{ name: a.root.lab, address: 127.55.251.8 }], upstream_timeout_ms: 100, query_timeout_ms: 300 }\n`);
  write('127.0.0.0/8');
  const proc = spawn('node', [CLI, 'serve', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await waitForOutput(proc, /verdict listening/, 10_000);
    const r1 = await ask('x.example.', Type.A, 5353, { address: '127.55.251.7' });
    assert.equal(r1.rcode, 2, 'SERVFAIL: nothing answers at the lab root here');
    write('192.0.2.0/24');
    const reloaded = waitForOutput(proc, /configuration reloaded/, 10_000);
    proc.kill('SIGHUP');
    await reloaded;
    const r2 = await ask('x.example.', Type.A, 5353, { address: '127.55.251.7' });
    assert.equal(r2.rcode, 5, 'REFUSED under the new allow-list');
  } finally {
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
});
