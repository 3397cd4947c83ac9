/**
 * Cached-answer queries per second with server.workers: 1 and 2 (node:cluster).
 *
 * Starts the lab (the simulated DNS hierarchy, in this process, on
 * 127.55.0.0/16 port 53: run as root), then for each worker count runs
 * `node dist/src/cli.js serve` on 127.55.250.51:5353 with the lab's root
 * hints, warms the cache with every query name (1,000 names under the lab's
 * wildcard *.wild.example.com), and runs dnsperf RUNS times for SECONDS each.
 * Every answer then comes from the wire-form answer cache. Prints per run and
 * the median: queries/s, lost queries, and CPU microseconds per query of the
 * Verdict processes (primary + workers, from /proc); then the scaling ratio.
 *
 * dnsperf shares the machine: with 2 cores, 2 workers and dnsperf compete for
 * them, so the ratio is a lower bound of what 2 workers give on a machine with
 * a spare core for the load generator. CPU µs per query shows whether the
 * workers themselves cost more per query.
 *
 * Usage: npm run bench:cluster [-- RUNS [SECONDS [WORKERS...]]]   (default 5 runs of 5 s, workers 1 2)
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootHintsYaml, startLab } from '../src/lab/lab.js';

const runs = Number(process.argv[2] ?? 5);
const seconds = Number(process.argv[3] ?? 5);
const counts = process.argv.slice(4).map(Number).filter((n) => n >= 1);
const workerCounts = counts.length ? counts : [1, 2];
const ADDRESS = '127.55.250.51';
const PORT = 5353;
const NAMES = 1000;

const dir = mkdtempSync(join(tmpdir(), 'verdict-bench-cluster-'));
const queries = join(dir, 'queries.txt');
writeFileSync(queries, Array.from({ length: NAMES }, (_, i) => `h${i}.wild.example.com A\n`).join(''));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const CLK_TCK = 100; // USER_HZ on Linux

/** utime + stime of a process, in seconds (0 when it is gone). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // fields 14 and 15 of stat(5)
  } catch {
    return 0;
  }
}

/** The process and its children (the cluster's workers). */
function family(pid: number): number[] {
  const kids: number[] = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      kids.push(...readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    }
  } catch {
    // gone
  }
  return [pid, ...kids];
}

function waitForLine(proc: ChildProcess, re: RegExp, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const on = (d: Buffer) => {
      out += d.toString();
      if (re.test(out)) {
        clearTimeout(t);
        proc.stdout!.off('data', on);
        resolve();
      }
    };
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}: ${out.slice(-2000)}`)), ms);
    proc.stdout!.on('data', on);
    proc.once('exit', (code) => reject(new Error(`verdict exited (${code}): ${out.slice(-2000)}`)));
  });
}

interface Perf { qps: number; sent: number; completed: number; lost: number; cpuUsPerQuery: number }

/** dnsperf as a child process, not spawnSync: the lab answers the warm-up's cache misses from this process. */
async function dnsperf(pids: number[], secs: number): Promise<Perf> {
  const cpu0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
  const proc = spawn('dnsperf', ['-s', ADDRESS, '-p', String(PORT), '-d', queries, '-l', String(secs), '-c', '8', '-q', '200', '-S', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  const killer = setTimeout(() => proc.kill('SIGKILL'), (secs + 30) * 1000);
  const status = await new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  clearTimeout(killer);
  const r = { status, stdout, stderr };
  if (r.status !== 0) throw new Error(`dnsperf failed (${r.status}): ${r.stderr}`);
  const cpu1 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
  const num = (re: RegExp) => Number(re.exec(r.stdout)?.[1] ?? NaN);
  const completed = num(/Queries completed:\s+(\d+)/);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    completed,
    lost: num(/Queries lost:\s+(\d+)/),
    cpuUsPerQuery: ((cpu1 - cpu0) * 1e6) / completed,
  };
}

async function bench(workers: number, hints: string): Promise<Perf[]> {
  const cfg = join(dir, `verdict-${workers}.yaml`);
  writeFileSync(cfg, [
    `server: { listen: ["${ADDRESS}:${PORT}"], workers: ${workers} }`,
    hints.trimEnd(),
    'control: { enabled: false }',
    'mirrors: { enabled: false }',
    'log: { level: info, policy_hits: false }',
    '',
  ].join('\n'));
  const proc = spawn('node', ['dist/src/cli.js', 'serve', '-c', cfg], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await waitForLine(proc, workers > 1 ? /cluster listening/ : /verdict listening/, 60_000);
    proc.stdout!.resume(); // keep draining the log
    const pids = family(proc.pid!);
    if (pids.length !== (workers > 1 ? workers + 1 : 1)) throw new Error(`expected ${workers} worker(s), found processes ${pids.join(' ')}`);
    // Warm-up: every name once into each worker's cache (datagrams land on either worker, so a few passes), and the JIT.
    const warm = await dnsperf(pids, 3);
    process.stdout.write(`workers ${workers}: pids ${pids.join(' ')}; warm-up ${warm.qps.toFixed(0)} q/s\n`);
    const out: Perf[] = [];
    for (let i = 0; i < runs; i++) {
      const p = await dnsperf(pids, seconds);
      out.push(p);
      process.stdout.write(`  run ${i + 1}: ${p.qps.toFixed(0)} q/s, lost ${p.lost}/${p.sent}, ${p.cpuUsPerQuery.toFixed(1)} CPU µs/query (Verdict processes)\n`);
    }
    return out;
  } finally {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000).unref())]);
  }
}

const lab = await startLab();
try {
  const hints = rootHintsYaml(lab.rootHints);
  process.stdout.write(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, node ${process.version}; dnsperf -c 8 -q 200, ${NAMES} names, ${runs} runs of ${seconds} s\n`);
  const results = new Map<number, Perf[]>();
  for (const w of workerCounts) results.set(w, await bench(w, hints));
  process.stdout.write('\nworkers  median q/s  median CPU µs/query  lost\n');
  for (const [w, rs] of results) {
    process.stdout.write(`${String(w).padStart(7)}  ${median(rs.map((r) => r.qps)).toFixed(0).padStart(10)}  ${median(rs.map((r) => r.cpuUsPerQuery)).toFixed(1).padStart(19)}  ${rs.reduce((n, r) => n + r.lost, 0)}\n`);
  }
  const base = results.get(workerCounts[0]!);
  for (const w of workerCounts.slice(1)) {
    const ratio = median(results.get(w)!.map((r) => r.qps)) / median(base!.map((r) => r.qps));
    process.stdout.write(`scaling ${w} vs ${workerCounts[0]} worker(s): ${ratio.toFixed(2)}x\n`);
  }
} finally {
  await lab.stop();
}
