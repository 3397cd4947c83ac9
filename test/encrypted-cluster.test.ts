/**
 * DoT and DoH with server.workers: 2, as operators run it: a cluster primary and
 * two workers sharing the listeners; answers from an RPZ zone with local data.
 * TLS sessions resume whichever worker a new connection lands on, and a reload
 * replaces the certificate in every worker.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { controlRequest } from '../src/control/client.js';
import { waitForOutput } from './helpers/process.js';
import { makeCa, makeServerCert, TEST_TLS_NAME } from './helpers/tls.js';

const CLI = 'dist/src/cli.js';
const ADDRESS = '127.55.250.51';
const DOT = 8853;
const DOH = 8443;
const dir = mkdtempSync(join(tmpdir(), 'verdict-tls-cluster-'));
const socket = join(dir, 'run', 'ctl.sock');

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 20_000 }, (_e, stdout, stderr) => resolve(stdout + stderr));
  });
}

function connectDot(caFile: string, session?: Buffer): Promise<{ sock: TLSSocket; session: Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    let got!: (b: Buffer) => void;
    const sessionP = new Promise<Buffer>((r) => (got = r));
    const sock = tlsConnect({ host: ADDRESS, port: DOT, ca: readFileSync(caFile), servername: TEST_TLS_NAME, ALPNProtocols: ['dot'], ...(session ? { session } : {}) }, () => resolve({ sock, session: sessionP }));
    sock.on('session', (s: Buffer) => got(s));
    sock.once('error', reject);
    sock.setTimeout(5000, () => sock.destroy(new Error('DoT connect timed out')));
  });
}

test('server.workers: 2 serves DoT and DoH; sessions resume across workers; a reload swaps the certificate in every worker', async () => {
  const ca = makeCa(dir);
  const first = makeServerCert(ca, 'first');
  copyFileSync(first.cert, join(dir, 'server.pem'));
  copyFileSync(first.key, join(dir, 'server.key'));
  writeFileSync(join(dir, 't.rpz'), '$TTL 60\n@ SOA ns.t.rpz. h.t.rpz. 1 3600 600 86400 60\n@ NS ns.t.rpz.\na.test A 192.0.2.1\n');
  const cfg = join(dir, 'verdict.yaml');
  writeFileSync(cfg, [
    `server: { listen: ["${ADDRESS}:5353"], dot_listen: ["${ADDRESS}:${DOT}"], doh_listen: ["${ADDRESS}:${DOH}"], workers: 2,`,
    `  tls: { cert_file: ${join(dir, 'server.pem')}, key_file: ${join(dir, 'server.key')} } }`,
    `resolver: { root_hints: [{ name: a.root.lab, address: 127.55.250.52 }], upstream_timeout_ms: 100, query_timeout_ms: 300 }`,
    `control: { socket: ${socket} }`,
    'log: { policy_hits: false }',
    'mirrors: { enabled: false }',
    'rpz: { qname_wait_recurse: false, zones: [{ name: t.rpz, file: ' + join(dir, 't.rpz') + ' }] }',
    '',
  ].join('\n'));
  const proc = spawn('node', [CLI, 'serve', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  try {
    await waitForOutput(proc, /cluster listening/, 30_000);
    const kdig = (...a: string[]) => run('kdig', [`@${ADDRESS}`, `+tls-ca=${ca.ca}`, `+tls-hostname=${TEST_TLS_NAME}`, '+timeout=5', ...a, 'a.test', 'A']);
    // Each kdig is a new connection; the primary hands connections to the workers in turn.
    for (let i = 0; i < 4; i++) {
      assert.match(await kdig('-p', String(DOT), '+tls'), /a\.test\.\s+\d+\s+IN\s+A\s+192\.0\.2\.1/);
      assert.match(await kdig('-p', String(DOH), '+https'), /a\.test\.\s+\d+\s+IN\s+A\s+192\.0\.2\.1/);
    }
    const status = await controlRequest(socket, 'status');
    const ws = (status.body as { workers: { queries: number }[] }).workers;
    assert.equal(ws.length, 2);
    assert.ok(ws.every((w) => w.queries >= 1), `both workers answered: ${JSON.stringify(ws)}`);

    // One session, resumed by six new connections: they land on both workers, and every one resumes.
    const c0 = await connectDot(ca.ca);
    const session = await Promise.race([c0.session, new Promise<Buffer>((_, j) => setTimeout(() => j(new Error('no ticket')), 5000))]);
    c0.sock.destroy();
    for (let i = 0; i < 6; i++) {
      const c = await connectDot(ca.ca, session);
      const reused = c.sock.isSessionReused();
      c.sock.destroy();
      assert.equal(reused, true, `connection ${i + 1} resumed`);
    }

    // A new certificate, reloaded through the primary: every worker's new handshakes use it.
    const second = makeServerCert(ca, 'second');
    copyFileSync(second.cert, join(dir, 'server.pem'));
    copyFileSync(second.key, join(dir, 'server.key'));
    const r = await controlRequest(socket, 'reload');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const want = new X509Certificate(readFileSync(second.cert)).serialNumber.toUpperCase();
    for (let i = 0; i < 4; i++) {
      const c = await connectDot(ca.ca);
      const serial = c.sock.getPeerCertificate().serialNumber.toUpperCase();
      c.sock.destroy();
      assert.equal(serial, want, `connection ${i + 1}: the new certificate`);
    }
  } finally {
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    assert.equal(await exited, 0);
    clearTimeout(t);
  }
});
