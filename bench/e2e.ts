/**
 * The whole resolver against its peers (issue 6, "bench/e2e"): Verdict,
 * Unbound, BIND 9, PowerDNS Recursor and Knot Resolver (Debian packages), one
 * after the other in one run, each configured alike:
 *   - root hints = the lab's root (lab/zones/) served by Debian's NSD on
 *     127.57.X.Y (the lab's 127.55.X.Y moved to a block of its own, so that a
 *     test run using the lab or the NSD lab (127.55.(X+100).Y) at the same time
 *     does not collide with the benchmark);
 *   - one worker thread (unbound num-threads 1, named -n 1, pdns_recursor
 *     --threads=1, one kresd process, Verdict server.workers 1);
 *   - DNSSEC validation off, QNAME minimisation off (one upstream query per
 *     cache miss everywhere), minimal responses, caches far larger than the
 *     working set;
 *   - the same RPZ zone (QNAME triggers only: Knot Resolver has no rpz-ip),
 *     applied before recursion (BIND and Verdict: qname-wait-recurse no; the
 *     others do so anyway), the probe name mail.example.com blocked with
 *     `CNAME .` (NXDOMAIN; the lab says NOERROR 192.0.2.25 without policy);
 *   - listening on 127.0.0.1, a port of its own (named only binds addresses
 *     configured on an interface, and lo carries 127.0.0.1 only).
 *
 * Per resolver it measures, with Debian's dnsperf (one client socket, one
 * thread; the machine has 2 cores, so dnsperf and the resolver each get about
 * one, and the C resolvers may be limited by dnsperf: compare CPU per query):
 *   1. the time from spawn to the first policy-correct answer (small zone);
 *   2. cached answers: a query file of names that exist in the lab, warmed
 *      first; RUNS runs of DURATION s at saturation (dnsperf -q 100
 *      outstanding): queries/s, mean latency, and CPU microseconds per query
 *      (utime+stime of the resolver process from /proc/PID/stat over the run,
 *      divided by queries answered); medians;
 *   3. resident memory (VmRSS) after those runs;
 *   4. offered load at 80% of Verdict's saturation rate (dnsperf -Q): lost
 *      queries, mean and p99 latency (p99 from dnsperf -v, one line per answer);
 *   5. cache misses: unique names under *.wild.example.com (each query a miss,
 *      one upstream query each), dnsperf -n 1 so no name repeats; queries/s;
 *   6. restarted with the RULES-rule zone (bench/gen-rpz.ts writeRpz, QNAME
 *      triggers, 10% wildcards): time from spawn to the first policy-correct
 *      answer (the probe polled in a bounded loop), cached queries/s and CPU
 *      per query again, and VmRSS.
 * Then one table: each figure per resolver and its ratio to Unbound's.
 *
 * The peers' configurations are in bench/peers/ (one file each), the NSD lab
 * in bench/nsdlab.ts, dnsperf and the CPU and memory readings in
 * bench/measure.ts; bench/e2e-dnssec.ts runs the same peers validating.
 *
 * A peer that fails to start (or is not installed) is reported with the
 * reason and skipped; the run goes on. Every process (NSD, resolvers, dnsperf)
 * is started by PID and stopped at the end, on error and on SIGINT/SIGTERM.
 *
 * Usage: npm run bench:e2e [-- OPTIONS]
 *   --quick          2 runs of 3 s, 100,000 rules (a smoke test, ~3 min)
 *   --runs N         runs per figure (default 5; medians are reported)
 *   --duration S     seconds per dnsperf run (default 8)
 *   --rules N        QNAME triggers in the big zone (default 1,000,000)
 *   --only a,b       resolvers to run (verdict,verdict-dgram,unbound,bind,pdns,knot);
 *                    verdict-dgram is Verdict forced onto node:dgram (VERDICT_UDP_IO=dgram)
 *   --cached-only    steps 1-3 only (start, cached answers, memory): the UDP I/O comparison of issue 19
 *   --pin            dnsperf on CPU 0, each resolver (all its threads) on CPU 1 (taskset)
 *   --rate Q         offered load for the loss test (default 80% of Verdict's cached q/s)
 *   --reload-rate Q  offered load while Verdict reloads to the big zone (default: the loss test's rate)
 *   --keep           keep the temporary directory (configs, logs)
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { writeBenchZone } from './gen-rpz.js';
import { ask, dnsperf, DNSPERF, freePort, median, out, PIN, pinServer, rssDetail, rssMiB, startPeer, toolVersions, TYPES } from './measure.js';
import type { Perf, Readiness, Running } from './measure.js';
import { NSD, startNsdLab } from './nsdlab.js';
import { selectPeers } from './peers/index.js';
import type { Peer } from './peers/peer.js';
import { stopAll, stopOnSignals, stopProc } from './processes.js';
import { CACHED, checkAnswers, writeMissFile } from './queries.js';

// ---------------------------------------------------------------- options

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    duration: { type: 'string' },
    rules: { type: 'string' },
    only: { type: 'string' },
    rate: { type: 'string' },
    'reload-rate': { type: 'string' },
    keep: { type: 'boolean', default: false },
    'cached-only': { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
  },
});
const RUNS = Number(argv.runs ?? (argv.quick ? 2 : 5));
const DURATION = Number(argv.duration ?? (argv.quick ? 3 : 8));
const RULES = Number(argv.rules ?? (argv.quick ? 100_000 : 1_000_000));
const ORDER = selectPeers(argv.only);
if (!(RUNS >= 1 && DURATION >= 1 && RULES >= 1)) throw new Error('--runs, --duration and --rules must be positive numbers');
const CACHED_ONLY = argv['cached-only'];
if (argv.pin) Object.assign(PIN, { dnsperf: '0', server: '1' });

/** The probe: exists in the lab (NOERROR 192.0.2.25), blocked by every bench zone (NXDOMAIN). */
const PROBE = 'mail.example.com';
/** Blocked by the big zone only (the lab answers it through *.wild.example.com): tells when a reload to it is done. */
const RELOAD_PROBE = 'reload-probe.wild.example.com';
/** Bounds of the start-up poll: small zone, big zone. */
const START_TIMEOUT_S = 60;
const START_TIMEOUT_BIG_S = 240;

/** The run's temporary directory (configs, small zone, query files, logs); removed at the end unless --keep. */
let workDir: string | undefined;
const removeWorkDir = () => { if (workDir && !argv.keep) rmSync(workDir, { recursive: true, force: true }); };
stopOnSignals(removeWorkDir);

/** Ready when the probe gets the policy answer (NXDOMAIN). */
const policyApplied: Readiness = async (port) => {
  const r = await ask('127.0.0.1', port, PROBE, TYPES.A!, 100);
  return r?.rcode === 3 ? true : r ? `rcode ${r.rcode}, ${r.ancount} answers (policy not applied yet)` : 'no answer';
};

// ---------------------------------------------------------------- inputs

async function bigZone(rules: number): Promise<string> {
  // QNAME triggers only, plus the probe at the end; cached across runs (deterministic content).
  const path = join(tmpdir(), `verdict-e2e-${rules}q-v3.rpz`);
  if (existsSync(path) && statSync(path).size > rules * 10) {
    const fd = openSync(path, 'r');
    const b = Buffer.alloc(64);
    readSync(fd, b, 0, 64, statSync(path).size - 64);
    closeSync(fd);
    if (b.toString().includes(`${PROBE} CNAME .`)) return path;
  }
  const t0 = performance.now();
  await benchZone(path, rules, [RELOAD_PROBE]);
  out(`  generated ${path} (${rules.toLocaleString('en')} QNAME triggers, ${(statSync(path).size / 1048576).toFixed(0)} MiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return path;
}

async function benchZone(path: string, rules: number, extra: string[] = []): Promise<void> {
  await writeBenchZone(path, rules, [...extra, PROBE]);
}

// ---------------------------------------------------------------- the run

interface Result {
  peer: Peer;
  error?: string;
  notes: string[];
  startSmallS?: number;
  cachedQps?: number; cachedMeanMs?: number; cachedCpuUs?: number; cachedRuns?: number[];
  rssMiB?: number;
  loadRate?: number; loadLost?: number; loadSent?: number; loadMeanMs?: number; loadP99Ms?: number;
  missQps?: number; missCpuUs?: number; missLost?: number; missRuns?: number[];
  startBigS?: number;
  bigQps?: number; bigCpuUs?: number; bigMeanMs?: number; bigRuns?: number[];
  bigRssMiB?: number;
  reload?: Reload;
}

interface Reload { loadS: number; rate: number; sent: number; lost: number; p99Ms: number; maxMs: number; duringP99Ms: number; duringMaxMs: number; during: number }

/**
 * Verdict only: with dnsperf at a fixed rate on cached names, point the config at the big
 * zone and send SIGHUP. The load is done when RELOAD_PROBE turns NXDOMAIN (polled every
 * 50 ms). "During" = answers read from dnsperf between the SIGHUP and that moment.
 */
async function reloadUnderLoad(run: Running, config: string, from: string, to: string, file: string, rate: number): Promise<Reload> {
  writeFileSync(config, readFileSync(config, 'utf8').replace(from, to));
  const seconds = Math.max(DURATION, 10);
  const perf = dnsperf(run.port, file, { seconds, rate, verbose: true, pid: run.pid });
  await sleep(1000);
  const t0 = performance.now();
  process.kill(run.pid, 'SIGHUP');
  let t1 = NaN;
  while (performance.now() - t0 < (seconds - 1.5) * 1000) {
    const r = await ask('127.0.0.1', run.port, RELOAD_PROBE, 1, 1000);
    if (r?.rcode === 3) { t1 = performance.now(); break; }
    await sleep(50);
  }
  const p = await perf;
  if (!Number.isFinite(t1)) throw new Error(`reload not done within ${seconds - 1.5} s of SIGHUP`);
  const during = p.stamped.filter(([at]) => at >= t0 && at <= t1 + 100).map(([, ms]) => ms).sort((a, b) => a - b);
  return {
    loadS: (t1 - t0) / 1000, rate, sent: p.sent, lost: p.lost, p99Ms: p.p99Ms, maxMs: p.maxMs, during: during.length,
    duringP99Ms: during.length ? during[Math.min(during.length - 1, Math.floor(during.length * 0.99))]! : NaN,
    duringMaxMs: during.length ? during[during.length - 1]! : NaN,
  };
}

async function main(): Promise<void> {
  const root = (workDir = mkdtempSync(join(tmpdir(), 'verdict-e2e-')));
  const results: Result[] = [];
  try {
    const cpu = cpus();
    out(`bench:e2e  ${new Date().toISOString()}  node ${process.version}  ${cpu.length} x ${cpu[0]?.model ?? '?'}  runs ${RUNS} x ${DURATION} s, ${CACHED_ONLY ? 'cached only' : `big zone ${RULES.toLocaleString('en')} rules`}${argv.pin ? ', dnsperf pinned to CPU 0 and each resolver to CPU 1' : ''}  load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    out(`  ${toolVersions()}`);
    if (!existsSync(DNSPERF)) throw new Error(`${DNSPERF} not found (apt-get install dnsperf)`);
    if (!existsSync(NSD)) throw new Error(`${NSD} not found (apt-get install nsd)`);

    const small = join(root, 'small.rpz');
    await benchZone(small, 1000);
    const big = CACHED_ONLY ? '' : await bigZone(RULES);
    const cachedFile = join(root, 'cached.txt');
    writeFileSync(cachedFile, CACHED.join('\n') + '\n');

    const lab = await startNsdLab(join(root, 'nsd'));
    out(`  NSD lab: ${lab.pids.length} nsd processes on 127.57/16:53, root hints ${lab.rootHints.map((h) => h.address).join(' ')}`);

    let rate = argv.rate ? Number(argv.rate) : undefined;
    let basePort = 15300;
    for (const peer of ORDER) {
      const res: Result = { peer, notes: [] };
      results.push(res);
      out(`\n== ${peer.label}`);
      const why = peer.missing();
      if (why) { res.error = why; out(`  SKIPPED: ${why}`); continue; }
      const port = await freePort(basePort);
      basePort = port + 10;
      let run: Running | undefined;
      try {
        // 1-3: small zone: start, cached, memory.
        run = await startPeer(peer, { dir: join(root, peer.id, 'small'), port, rpz: small, hints: lab.rootHints }, policyApplied, START_TIMEOUT_S);
        res.startSmallS = run.startS;
        pinServer(run.pid);
        out(`  started (pid ${run.pid}, 127.0.0.1:${port}), first policy-correct answer after ${run.startS.toFixed(2)} s`);
        await warm(run, cachedFile, res);
        const cached: Perf[] = [];
        for (let i = 0; i < RUNS; i++) cached.push(await dnsperf(port, cachedFile, { seconds: DURATION, pid: run.pid }));
        summarise('cached', cached, res);
        res.cachedQps = median(cached.map((r) => r.qps));
        res.cachedMeanMs = median(cached.map((r) => r.meanMs));
        res.cachedCpuUs = median(cached.map((r) => r.cpuUs));
        res.cachedRuns = cached.map((r) => Math.round(r.qps));
        res.rssMiB = rssMiB(run.pid);
        out(`  VmRSS ${res.rssMiB.toFixed(0)} MiB (${rssDetail(run.pid)})`);
        if (CACHED_ONLY) continue; // the finally below stops it
        // 4: offered load at 80% of Verdict's saturation.
        if (rate === undefined && res.cachedQps) {
          rate = 0.8 * res.cachedQps;
          if (peer.id !== 'verdict') res.notes.push('loss-test rate taken from this resolver (Verdict not run)');
        }
        if (rate) {
          const l = await dnsperf(port, cachedFile, { seconds: Math.max(DURATION, 5), rate, verbose: true, pid: run.pid });
          Object.assign(res, { loadRate: rate, loadLost: l.lost, loadSent: l.sent, loadMeanMs: l.meanMs, loadP99Ms: l.p99Ms });
          out(`  at ${Math.round(rate)} q/s offered: sent ${l.sent}, answered ${l.completed}, lost ${l.lost}, latency mean ${l.meanMs.toFixed(3)} ms, p99 ${l.p99Ms.toFixed(3)} ms`);
        }
        // 5: cache misses, each name once.
        const miss: Perf[] = [];
        for (let i = 0; i < RUNS; i++) {
          const f = join(root, `miss-${peer.id}-${i}.txt`);
          writeMissFile(f, `r${i}`, Math.max(50_000, 25_000 * DURATION));
          miss.push(await dnsperf(port, f, { seconds: DURATION, once: true, pid: run.pid }));
          rmSync(f);
        }
        summarise('miss', miss, res);
        res.missQps = median(miss.map((r) => r.qps));
        res.missCpuUs = median(miss.map((r) => r.cpuUs));
        res.missLost = miss.reduce((a, r) => a + r.lost, 0);
        res.missRuns = miss.map((r) => Math.round(r.qps));
        // 5b: Verdict: reload from the small zone to the big one while dnsperf runs.
        if (peer.id === 'verdict' && rate) {
          const reloadRate = argv['reload-rate'] ? Number(argv['reload-rate']) : rate;
          const r = (res.reload = await reloadUnderLoad(run, join(root, peer.id, 'small', 'verdict.yaml'), small, big, cachedFile, reloadRate));
          out(`  reload to ${RULES.toLocaleString('en')} rules at ${Math.round(reloadRate)} q/s: loaded in ${r.loadS.toFixed(2)} s; sent ${r.sent}, lost ${r.lost}; p99 ${r.p99Ms.toFixed(3)} ms, max ${r.maxMs.toFixed(1)} ms over the run; during the load (${r.during} answers) p99 ${r.duringP99Ms.toFixed(3)} ms, max ${r.duringMaxMs.toFixed(1)} ms`);
        }
      } catch (e) {
        res.error = (e as Error).message;
        out(`  FAILED: ${res.error}`);
      } finally {
        if (run) await stopProc(run.proc, 8000);
      }
      if (res.error) continue;
      // 6: the big zone.
      try {
        run = await startPeer(peer, { dir: join(root, peer.id, 'big'), port, rpz: big, hints: lab.rootHints }, policyApplied, START_TIMEOUT_BIG_S);
        res.startBigS = run.startS;
        pinServer(run.pid);
        out(`  with ${RULES.toLocaleString('en')} rules: first policy-correct answer after ${run.startS.toFixed(2)} s (pid ${run.pid})`);
        await warm(run, cachedFile, res);
        const cached: Perf[] = [];
        for (let i = 0; i < RUNS; i++) cached.push(await dnsperf(port, cachedFile, { seconds: DURATION, pid: run.pid }));
        summarise(`cached, ${RULES} rules`, cached, res);
        res.bigQps = median(cached.map((r) => r.qps));
        res.bigCpuUs = median(cached.map((r) => r.cpuUs));
        res.bigMeanMs = median(cached.map((r) => r.meanMs));
        res.bigRuns = cached.map((r) => Math.round(r.qps));
        res.bigRssMiB = rssMiB(run.pid);
        out(`  VmRSS with ${RULES.toLocaleString('en')} rules: ${res.bigRssMiB.toFixed(0)} MiB (${rssDetail(run.pid)})`);
      } catch (e) {
        res.notes.push(`big zone: ${(e as Error).message}`);
        out(`  FAILED with the big zone: ${(e as Error).message}`);
      } finally {
        if (run) await stopProc(run.proc, 8000);
      }
    }
  } finally {
    await stopAll();
    removeWorkDir();
    if (argv.keep) out(`\n(kept ${root})`);
  }
  printTable(results);
}

/** Every cached name answers NOERROR with data (and stays so); then 1 s of dnsperf to warm. */
async function warm(run: Running, file: string, res: Result): Promise<void> {
  for (const note of await checkAnswers(run.port, CACHED)) {
    if (!res.notes.includes(note)) res.notes.push(note);
    out(`  WARNING: ${note}`);
  }
  await dnsperf(run.port, file, { seconds: 1, pid: run.pid });
}

function summarise(what: string, runs: Perf[], res: Result): void {
  const rc = runs.map((r) => r.rcodes).filter((s, i, a) => a.indexOf(s) === i);
  out(`  ${what}: q/s ${runs.map((r) => Math.round(r.qps)).join(' ')} (median ${Math.round(median(runs.map((r) => r.qps)))}), mean latency ${median(runs.map((r) => r.meanMs)).toFixed(3)} ms, CPU ${median(runs.map((r) => r.cpuUs)).toFixed(1)} us/query (runs ${runs.map((r) => r.cpuUs.toFixed(1)).join(' ')}), lost ${runs.reduce((a, r) => a + r.lost, 0)}`);
  const bad = rc.filter((s) => !/^NOERROR [0-9]+ \(100\.00%\)$/.test(s));
  if (bad.length) {
    out(`    response codes: ${rc.join(' / ')}`);
    res.notes.push(`${what}: response codes ${rc.join(' / ')}`);
  }
}

function printTable(results: Result[]): void {
  const ub = results.find((r) => r.peer.id === 'unbound' && !r.error);
  type Row = [string, (r: Result) => number | undefined, number, boolean?];
  // [label, value, decimals, lower-is-better]
  const rows: Row[] = [
    ['cached q/s (median)', (r) => r.cachedQps, 0],
    ['cached CPU us/query', (r) => r.cachedCpuUs, 1, true],
    ['cached latency mean ms (saturated)', (r) => r.cachedMeanMs, 3, true],
    [`latency mean ms @ ${Math.round(results.find((r) => r.loadRate)?.loadRate ?? 0)} q/s`, (r) => r.loadMeanMs, 3, true],
    ['latency p99 ms @ same load', (r) => r.loadP99Ms, 3, true],
    ['lost @ same load', (r) => r.loadLost, 0, true],
    ['cache-miss q/s (median)', (r) => r.missQps, 0],
    ['cache-miss CPU us/query', (r) => r.missCpuUs, 1, true],
    ['start to policy answer s (1k rules)', (r) => r.startSmallS, 2, true],
    ['VmRSS MiB (1k rules)', (r) => r.rssMiB, 0, true],
    [`cached q/s, ${RULES.toLocaleString('en')} rules`, (r) => r.bigQps, 0],
    [`cached CPU us/query, ${RULES.toLocaleString('en')} rules`, (r) => r.bigCpuUs, 1, true],
    [`start to policy answer s, ${RULES.toLocaleString('en')} rules`, (r) => r.startBigS, 2, true],
    [`VmRSS MiB, ${RULES.toLocaleString('en')} rules`, (r) => r.bigRssMiB, 0, true],
  ];
  const cols = results;
  const cell = (r: Result, row: Row) => {
    const v = row[1](r);
    if (v === undefined || !Number.isFinite(v)) return r.error ? 'failed' : '-';
    const base = ub ? row[1](ub) : undefined;
    const ratio = base && Number.isFinite(base) && base > 0 ? ` (${(v / base).toFixed(2)}x)` : '';
    return v.toFixed(row[2]) + ratio;
  };
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const cells = rows.map((row) => cols.map((c) => cell(c, row)));
  const widths = cols.map((c, i) => Math.max(c.peer.label.length, ...cells.map((r) => r[i]!.length)));
  out(`\nbench:e2e results (ratio to Unbound in parentheses; one worker thread each; dnsperf -c 1 -T 1; medians of ${RUNS} x ${DURATION} s)`);
  out(`| ${'figure'.padEnd(w0)} | ${cols.map((c, i) => c.peer.label.padEnd(widths[i]!)).join(' | ')} |`);
  out(`|${'-'.repeat(w0 + 2)}|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  rows.forEach((row, k) => out(`| ${row[0].padEnd(w0)} | ${cells[k]!.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`));
  for (const r of results) {
    if (r.error) out(`  ${r.peer.label}: ${r.error}`);
    for (const n of r.notes) out(`  ${r.peer.label}: ${n}`);
  }
  const v = results.find((r) => r.peer.id === 'verdict' && !r.error);
  const vd = results.find((r) => r.peer.id === 'verdict-dgram' && !r.error);
  if (v?.cachedCpuUs && vd?.cachedCpuUs) {
    const x = vd.cachedCpuUs / v.cachedCpuUs;
    out(`\nUDP I/O (issue 19): CPU per cached query, Verdict on dgram / Verdict as run (${v.cachedCpuUs.toFixed(1)} us) = ${x.toFixed(2)}x -> ${x >= 1.5 ? 'the addon pays (>= 1.5x)' : 'below the 1.5x the issue asks to ship the addon'}${ub?.cachedCpuUs ? `; Unbound ${ub.cachedCpuUs.toFixed(1)} us` : ''}`);
  }
  if (v) {
    out('\nVerdict against the issue\'s targets:');
    const t = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'met' : 'NOT met');
    const ratio = ub && v.cachedQps && ub.cachedQps ? v.cachedQps / ub.cachedQps : undefined;
    const cpuRatio = ub && v.cachedCpuUs && ub.cachedCpuUs ? ub.cachedCpuUs / v.cachedCpuUs : undefined;
    out(`  cached q/s >= 0.7x Unbound's: ${ratio?.toFixed(2) ?? '?'}x -> ${t(ratio === undefined ? undefined : ratio >= 0.7)} (per CPU: Unbound us/query / Verdict us/query = ${cpuRatio?.toFixed(2) ?? '?'}x)`);
    out(`  VmRSS with ${RULES.toLocaleString('en')} rules <= 150 MB: ${v.bigRssMiB?.toFixed(0) ?? '?'} MiB (${v.bigRssMiB ? ((v.bigRssMiB * 1048576) / 1e6).toFixed(0) : '?'} MB) -> ${t(v.bigRssMiB === undefined ? undefined : (v.bigRssMiB * 1048576) / 1e6 <= 150)}`);
    out(`  start to first policy-correct answer <= 3 s: ${v.startBigS?.toFixed(2) ?? '?'} s -> ${t(v.startBigS === undefined ? undefined : v.startBigS <= 3)}`);
    out(`  no lost queries at 80% of Verdict's saturation: lost ${v.loadLost ?? '?'} of ${v.loadSent ?? '?'} -> ${t(v.loadLost === undefined ? undefined : v.loadLost === 0)}`);
    const rl = v.reload;
    out(`  reload of ${RULES.toLocaleString('en')} rules under dnsperf loses no query: ${rl ? `lost ${rl.lost} of ${rl.sent} at ${Math.round(rl.rate)} q/s (load ${rl.loadS.toFixed(2)} s, p99 during it ${rl.duringP99Ms.toFixed(2)} ms, max ${rl.duringMaxMs.toFixed(1)} ms)` : '?'} -> ${t(rl ? rl.lost === 0 : undefined)}`);
  }
}

main().catch(async (e) => {
  process.stderr.write(`bench:e2e: ${(e as Error).stack ?? e}\n`);
  await stopAll();
  removeWorkDir();
  process.exit(1);
});
