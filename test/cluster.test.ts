/**
 * server.workers: 2 as operators run it: real processes (a cluster primary and
 * two workers), real sockets, real signals. Answers come from an RPZ zone with
 * local data, so they are deterministic without any upstream.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { controlRequest } from '../src/control/client.js';
import { Type } from '../src/dns/constants.js';
import type { Message } from '../src/dns/message.js';
import { ask } from './helpers/client.js';
import { waitForOutput } from './helpers/process.js';

const CLI = 'dist/src/cli.js';
const ADDRESS = '127.55.250.41';
const PORT = 5353;
const METRICS_PORT = 9153;
const dir = mkdtempSync(join(tmpdir(), 'verdict-cluster-'));
const cfg = join(dir, 'verdict.yaml');
const socket = join(dir, 'run', 'ctl.sock');

const SOA = '$TTL 60\n@ SOA ns.t.rpz. h.t.rpz. 1 3600 600 86400 60\n@ NS ns.t.rpz.\n';

function writeConfig(zones: string[]): void {
  writeFileSync(cfg, [
    `server: { listen: ["${ADDRESS}:${PORT}"], workers: 2 }`,
    // Nothing answers at this root: whatever no rule covers is SERVFAIL, quickly.
    `resolver: { root_hints: [{ name: a.root.lab, address: 127.55.250.42 }], upstream_timeout_ms: 100, query_timeout_ms: 300 }`,
    `metrics: { listen: "${ADDRESS}:${METRICS_PORT}" }`,
    `control: { socket: ${socket} }`,
    `log: { policy_hits: false }`,
    `mirrors: { enabled: false }`,
    'rpz:',
    '  qname_wait_recurse: false',
    '  zones:',
    ...zones.map((z) => `    - { name: ${z}, file: ${join(dir, z)} }`),
    '',
  ].join('\n'));
}


interface WorkerStatus { worker: number; pid: number; queries: number; restarts: number }

async function workers(): Promise<WorkerStatus[]> {
  const r = await controlRequest(socket, 'status');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return (r.body as { workers: WorkerStatus[] }).workers;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function getMetrics(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ADDRESS, port: METRICS_PORT, path: '/metrics', timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve(text));
    });
    req.on('timeout', () => req.destroy(new Error('metrics timed out')));
    req.on('error', reject);
    req.end();
  });
}

const a = (m: Message) => (m.answers[0] && m.answers[0].type === Type.A ? [...m.answers[0].rdata].join('.') : `rcode ${m.rcode}`);

/**
 * Ask NAME in rounds of 20 (each from a fresh source port) until every worker
 * has answered at least once since `before`, at most `rounds` rounds; every
 * answer must be `want`. Returns how many each worker answered.
 */
async function askUntilEveryWorkerAnswered(name: string, want: string, before: WorkerStatus[], rounds = 25): Promise<number[]> {
  for (let round = 0; round < rounds; round++) {
    const answers = await Promise.all(Array.from({ length: 20 }, () => ask(name, Type.A, PORT, { address: ADDRESS })));
    for (const m of answers) assert.equal(a(m), want, `${name}`);
    const now = await workers();
    const delta = now.map((w, i) => w.queries - (before[i]?.pid === w.pid ? before[i]!.queries : 0));
    if (delta.every((d) => d > 0)) return delta;
  }
  assert.fail(`not every worker answered ${name} within ${rounds * 20} queries`);
}

test('server.workers: 2: both workers answer, SIGHUP reaches every worker, a crashed worker restarts, SIGTERM stops all', async () => {
  writeFileSync(join(dir, 't.rpz'), SOA + 'a.test A 192.0.2.1\n');
  writeConfig(['t.rpz']);
  const proc = spawn('node', [CLI, 'serve', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let pids: number[] = [];
  try {
    await waitForOutput(proc, /cluster listening/, 20_000);
    const start = await workers();
    pids = start.map((w) => w.pid);
    assert.equal(start.length, 2);
    assert.notEqual(pids[0], pids[1]);
    assert.ok(!pids.includes(proc.pid!), 'the primary answers no query');

    // The kernel spreads the datagrams of the one shared socket over both workers.
    const spread = await askUntilEveryWorkerAnswered('a.test.', '192.0.2.1', start);
    assert.ok(spread.every((n) => n > 0));

    // One /metrics for the cluster: every worker's queries summed.
    const text = await getMetrics();
    assert.match(text, /^verdict_cluster_workers_ready 2$/m);
    const counted = [...text.matchAll(/^verdict_queries_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    const sum = (await workers()).reduce((n, w) => n + w.queries, 0);
    assert.equal(counted, sum, 'aggregated verdict_queries_total = sum of the per-worker counts');
    assert.match(text, /^verdict_rpz_rules\{zone="t\.rpz\."\} 1$/m, 'a per-worker gauge is not summed');

    // A rule in a zone added to the config: only a reload can bring it (the file watch does not see it).
    writeFileSync(join(dir, 'u.rpz'), SOA.replace(/t\.rpz/g, 'u.rpz') + 'new.test A 192.0.2.9\n');
    assert.equal(a(await ask('new.test.', Type.A, PORT, { address: ADDRESS })), 'rcode 2', 'no rule yet: SERVFAIL');
    writeConfig(['t.rpz', 'u.rpz']);
    const reloaded = waitForOutput(proc, /configuration reloaded on every worker/, 20_000);
    proc.kill('SIGHUP');
    await reloaded;
    await askUntilEveryWorkerAnswered('new.test.', '192.0.2.9', await workers());

    // A build that fails on the workers: reported by the primary, the previous policy keeps serving everywhere.
    writeFileSync(join(dir, 'u.rpz'), SOA.replace(/t\.rpz/g, 'u.rpz') + 'new.test A 192.0.2.300\n');
    const bad = await controlRequest(socket, 'reload');
    assert.equal(bad.status, 500);
    assert.match((bad.body as { error: string }).error, /reload failed on 2 of 2 workers.*worker 0 .*u\.rpz.*worker 1 .*u\.rpz/);
    await askUntilEveryWorkerAnswered('new.test.', '192.0.2.9', await workers());
    writeFileSync(join(dir, 'u.rpz'), SOA.replace(/t\.rpz/g, 'u.rpz') + 'new.test A 192.0.2.9\n');

    // Flush reaches both.
    const flushed = await controlRequest(socket, 'flush');
    assert.equal(flushed.status, 200);
    assert.equal((flushed.body as { workers: number }).workers, 2);

    // A worker that dies is restarted, and serves the current policy.
    process.kill(pids[1]!, 'SIGKILL');
    let after: WorkerStatus[] = [];
    for (let i = 0; i < 100; i++) {
      await sleep(100);
      const r = await controlRequest(socket, 'status');
      after = (r.body as { workers: (WorkerStatus & { error?: string })[] }).workers;
      if (after[1] && !('error' in after[1]) && after[1].pid !== pids[1]) break;
    }
    assert.notEqual(after[1]?.pid, pids[1], 'worker 1 restarted with a new pid');
    assert.equal(after[1]?.restarts, 1);
    assert.equal(after[0]?.pid, pids[0], 'worker 0 untouched');
    assert.ok(!alive(pids[1]!));
    pids = after.map((w) => w.pid);
    await askUntilEveryWorkerAnswered('new.test.', '192.0.2.9', after);
  } finally {
    proc.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(20_000, 'timeout' as const, { ref: false })]);
    if (code === 'timeout') {
      proc.kill('SIGKILL');
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    assert.equal(code, 0, 'the primary exits 0 after SIGTERM');
  }
  for (const pid of pids) assert.ok(!alive(pid), `worker ${pid} is gone`);
});
