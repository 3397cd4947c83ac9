/** `verdict lab` and `verdict demo` as operators run them: real processes, real signals, exit 0. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { Type } from '../src/dns/constants.js';
import { LAB_ROOT_HINTS } from '../src/lab/lab.js';
import { ensureDemoTls } from '../src/lab/demo-tls.js';
import { loadTlsPair } from '../src/resolver/encrypted/certs.js';
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
  // The shipped demo config, on ports of its own so that a demo already running does not interfere,
  // with its DoT/DoH certificate in a directory of the test's (the shipped one says var/demo-tls/).
  const dir = mkdtempSync(join(tmpdir(), 'verdict-demo-'));
  const cfg = join(dir, 'demo.yaml');
  const doc = parse(readFileSync('config/demo.yaml', 'utf8')) as { server: Record<string, unknown>; metrics?: unknown };
  doc.server.listen = ['127.0.0.1:15353'];
  doc.server.dot_listen = ['127.0.0.1:18853'];
  doc.server.doh_listen = ['127.0.0.1:18443'];
  doc.server.tls = { cert_file: join(dir, 'tls/server.pem'), key_file: join(dir, 'tls/server.key') };
  delete doc.metrics;
  writeFileSync(cfg, stringify(doc));
  const proc = spawn('node', [CLI, 'demo', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const banner = await waitForOutput(proc, /^(?=[\s\S]*verdict listening)(?=[\s\S]*\+https)/, 15_000);
    assert.match(banner, /dig @127\.0\.0\.1 -p 18443 \+https \+tls-ca=\S*tls\/ca\.pem www\.dpstream\.tv/, 'the banner gives the DoH line');
    // The demo made its CA and certificate; `verdict check` accepts the config with them.
    const check = spawnSync('node', [CLI, 'check', '-c', cfg], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, /tls: .*server\.pem .* matches /);
    // The README's lines: DoH and DoT with BIND's dig, verifying against the demo CA (no +tls-hostname:
    // the certificate names 127.0.0.1). The court order reads the same as over UDP.
    const ca = `+tls-ca=${join(dir, 'tls/ca.pem')}`;
    const overDoh = dig(['+https', ca, 'www.example.com', 'A'], '127.0.0.1', 18443);
    assert.equal(overDoh.status, 'NOERROR', overDoh.text);
    assert.match(overDoh.text, /SERVER: 127\.0\.0\.1#18443\(127\.0\.0\.1\) \(HTTPS\)/);
    assert.match(overDoh.answer[0] ?? '', /^www\.example\.com\. \d+ IN A 192\.0\.2\.10$/);
    const blockedDot = dig(['+tls', ca, 'www.dpstream.tv', 'A'], '127.0.0.1', 18853);
    assert.match(blockedDot.text, /SERVER: 127\.0\.0\.1#18853\(127\.0\.0\.1\) \(TLS\)/);
    assert.match(blockedDot.text, /EDE: 16 \(Censored\): \(blocked by court order: 2013-tgi-paris-allostreaming/);
    // Verification is on: another CA is refused.
    const stranger = dig(['+https', '+tls-ca=/etc/ssl/certs/ca-certificates.crt', 'www.example.com', 'A'], '127.0.0.1', 18443);
    assert.notEqual(stranger.status, 'NOERROR', stranger.text);
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
  assert.deepEqual([config.server.dot_listen, config.server.doh_listen, config.server.doh_path], [['127.0.0.1:8853'], ['127.0.0.1:8443'], '/dns-query']);
  assert.deepEqual(config.server.tls, { cert_file: 'var/demo-tls/server.pem', key_file: 'var/demo-tls/server.key' });
});

test('the demo certificate: made once where server.tls says, signed by its CA for 127.0.0.1 and ::1, kept while good', { skip: spawnSync('openssl', ['version']).error ? 'openssl is not installed' : false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-demo-tls-'));
  const tls = { cert_file: 'd/server.pem', key_file: 'd/server.key' };
  const first = ensureDemoTls(tls, dir);
  assert.equal(first.made, true);
  assert.equal(first.ca, join(dir, 'd/ca.pem'));
  const cert = new X509Certificate(readFileSync(first.cert));
  assert.ok(cert.verify(new X509Certificate(readFileSync(first.ca)).publicKey), 'signed by the demo CA');
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(cert.checkIP('::1'), '::1');
  assert.equal(cert.checkHost('localhost'), 'localhost');
  assert.equal(loadTlsPair(tls, dir).certFile, first.cert, 'the pair passes verdict\'s own checks');
  const again = ensureDemoTls(tls, dir);
  assert.equal(again.made, false, 'made once');
  assert.ok(readFileSync(first.cert).equals(readFileSync(again.cert)));
  rmSync(join(dir, 'd/server.key'));
  assert.equal(ensureDemoTls(tls, dir).made, true, 'made again when a file is missing');
  assert.ok(!existsSync(join(dir, 'd/server.csr')), 'no leftovers');
});
