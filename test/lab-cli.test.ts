/** `verdict lab` and `verdict demo` as operators run them: real processes, real signals, exit 0. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { Type } from '../src/dns/constants.js';
import { LAB_ROOT_HINTS } from '../src/lab/lab.js';
import { ask } from './helpers/client.js';
import { dig, hasDig } from './helpers/dig.js';
import { answerLines, startVerdict } from './helpers/lab.js';
import { waitForOutput } from './helpers/process.js';

const CLI = 'dist/src/cli.js';


function exitCode(proc: ChildProcess, ms = 10_000): Promise<number | null> {
  if (proc.exitCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => { proc.kill('SIGKILL'); resolve(null); }, ms);
    proc.once('exit', (code) => { clearTimeout(t); resolve(code); });
  });
}

test('verdict lab prints its root hints as YAML, serves the hierarchy, exits 0 on SIGTERM', async () => {
  const proc = spawn('node', [CLI, 'lab'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const out = await waitForOutput(proc, /root_hints:\n(\s+- .*\n)+/, 15_000);
    const hints = (parse(out) as { resolver: { root_hints: { name: string; address: string }[] } }).resolver.root_hints;
    assert.deepEqual(hints, [{ name: 'a.root.lab', address: '127.55.0.1' }, { name: 'b.root.lab', address: '127.55.0.2' }]);
    const v = await startVerdict(hints);
    try {
      assert.deepEqual(answerLines(await ask('www.example.com.', Type.A, v.port)), ['www.example.com. A 192.0.2.10']);
    } finally {
      await v.stop();
    }
  } finally {
    proc.kill('SIGTERM');
  }
  assert.equal(await exitCode(proc), 0);
});

test('verdict demo: the lab and Verdict in one process; dig resolves through the lab root; SIGTERM exits 0', { skip: hasDig() ? false : 'dig is not installed' }, async () => {
  const check = spawnSync('node', [CLI, 'check', '-c', 'config/demo.yaml'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(check.status, 0, check.stderr);
  // The shipped demo config, on a port of its own so that a demo already running does not interfere.
  const dir = mkdtempSync(join(tmpdir(), 'verdict-demo-'));
  const cfg = join(dir, 'demo.yaml');
  const doc = parse(readFileSync('config/demo.yaml', 'utf8')) as { server: { listen: string[] }; metrics?: unknown };
  doc.server.listen = ['127.0.0.1:15353'];
  delete doc.metrics;
  writeFileSync(cfg, stringify(doc));
  const proc = spawn('node', [CLI, 'demo', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await waitForOutput(proc, /verdict listening/, 15_000);
    // dig blocks this process, not the demo's: spawnSync is fine here.
    const r = dig(['www.example.com', 'A'], '127.0.0.1', 15353);
    assert.equal(r.status, 'NOERROR', r.text);
    assert.match(r.answer[0] ?? '', /^www\.example\.com\. \d+ IN A 192\.0\.2\.10$/);
    const big = dig(['bigtxt.example.com', 'TXT', '+bufsize=512', '+ignore'], '127.0.0.1', 15353);
    assert.ok(big.flags.includes('tc'));
    assert.equal(dig(['bigtxt.example.com', 'TXT', '+tcp'], '127.0.0.1', 15353).answer.length, 6);
    // The court order, judged by the demo clock: redirected to the lab's notice host, EDE 16 naming the order.
    const blocked = dig(['www.dpstream.tv', 'A'], '127.0.0.1', 15353);
    assert.equal(blocked.status, 'NOERROR', blocked.text);
    assert.match(blocked.answer[0] ?? '', /^www\.dpstream\.tv\. \d+ IN A 192\.0\.2\.200$/);
    assert.match(blocked.text, /EDE: 16 \(Censored\): \(blocked by court order: 2013-tgi-paris-allostreaming \(Tribunal de grande instance de Paris, 2013-11-28\)\)/);
  } finally {
    proc.kill('SIGTERM');
  }
  assert.equal(await exitCode(proc), 0);
});

test('config/demo.yaml listens where the README says and points at the lab root', () => {
  const { config } = loadConfig('config/demo.yaml');
  assert.deepEqual(config.resolver.root_hints, LAB_ROOT_HINTS);
  assert.deepEqual(config.server.listen, ['127.0.0.1:5353', '[::1]:5353']);
});
