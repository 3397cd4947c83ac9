/**
 * Where Verdict's CPU goes, per path (issue 14: "profile it"): the NSD lab,
 * Verdict under `node --cpu-prof`, one dnsperf load, then the functions with
 * the most self time and the CPU µs per answer.
 *
 * Usage: npm run build && node dist/bench/profile.js [--what miss|cached] [--duration S] [--top N] [--keep]
 *   miss:   unique names under *.wild.example.com, each once (every query a cache miss);
 *   cached: bench:e2e's cached set, warmed first.
 * The .cpuprofile is left in the work directory with --keep (open it in Chrome DevTools).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startNsdLab } from './nsdlab.js';
import { ask, cpuSplit, dnsperf, freePort, out, startPeer, TYPES } from './measure.js';
import { stopAll, stopOnSignals, stopProc } from './processes.js';
import { verdict } from './peers/verdict.js';
import { CACHED, writeMissFile } from './queries.js';

const { values: argv } = parseArgs({
  options: { what: { type: 'string' }, duration: { type: 'string' }, top: { type: 'string' }, keep: { type: 'boolean' }, heap: { type: 'boolean' } },
});
const WHAT = argv.what ?? 'miss';
const DURATION = Number(argv.duration ?? 8);
const TOP = Number(argv.top ?? 30);

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount: number; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

/** "name dist/src/file.js:line" for a profile's call frame. */
function frameLabel(f: ProfileNode['callFrame']): string {
  const file = f.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, '');
  return `${f.functionName || '(anonymous)'} ${file}${file ? ':' + (f.lineNumber + 1) : ''}`;
}

/** Self time per function (name + file:line), in shares of all samples. */
function selfTimes(p: Profile): [string, number][] {
  const byNode = new Map<number, string>();
  for (const n of p.nodes) byNode.set(n.id, frameLabel(n.callFrame));
  const counts = new Map<string, number>();
  for (const s of p.samples) { const k = byNode.get(s)!; counts.set(k, (counts.get(k) ?? 0) + 1); }
  const total = p.samples.length;
  return [...counts].map(([k, c]) => [k, c / total] as [string, number]).sort((a, b) => b[1] - a[1]);
}

interface HeapNode { callFrame: ProfileNode['callFrame']; selfSize: number; children: HeapNode[] }
interface HeapProfile { head: HeapNode }

/** Sampled allocation bytes per function (name + file:line), largest first. */
function allocations(p: HeapProfile): [string, number][] {
  const bytes = new Map<string, number>();
  const walk = (n: HeapNode) => {
    const k = frameLabel(n.callFrame);
    bytes.set(k, (bytes.get(k) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c);
  };
  walk(p.head);
  return [...bytes].sort((a, b) => b[1] - a[1]);
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'verdict-profile-'));
  stopOnSignals(() => { if (!argv.keep) rmSync(root, { recursive: true, force: true }); });
  try {
    const lab = await startNsdLab(join(root, 'nsd'));
    const port = await freePort(15900);
    const dir = join(root, 'verdict');
    const run = await startPeer(verdict, { dir, port, hints: lab.rootHints, nodeArgs: argv.heap ? ['--heap-prof', `--heap-prof-dir=${dir}`, '--heap-prof-interval=8192'] : ['--cpu-prof', `--cpu-prof-dir=${dir}`] },
      async (p) => ((await ask('127.0.0.1', p, 'www.example.com', TYPES.A!, 500)) ? true : 'no answer'), 30);
    const file = join(root, 'queries.txt');
    if (WHAT === 'cached') {
      writeFileSync(file, CACHED.join('\n') + '\n');
      await dnsperf(port, file, { seconds: 1, pid: run.pid });
    } else writeMissFile(file, 'p', 40_000 * DURATION);
    const [u0, s0] = cpuSplit(run.pid);
    const r = await dnsperf(port, file, { seconds: DURATION, pid: run.pid, once: WHAT !== 'cached' });
    const [u1, s1] = cpuSplit(run.pid);
    const user = (u1 - u0) / (u1 - u0 + s1 - s0);
    out(`${WHAT}: ${Math.round(r.qps)} q/s, ${r.cpuUs.toFixed(1)} µs CPU per answer (${(user * 100).toFixed(0)}% user, ${((1 - user) * 100).toFixed(0)}% system), ${r.completed} answers, ${r.lost} lost (${process.version})`);
    await stopProc(run.proc, 10_000);
    if (argv.heap) {
      const hp = readdirSync(dir).find((f) => f.endsWith('.heapprofile'));
      if (!hp) throw new Error('no .heapprofile written');
      const rows = allocations(JSON.parse(readFileSync(join(dir, hp), 'utf8')) as HeapProfile);
      const total = rows.reduce((a, [, b]) => a + b, 0);
      out(`heap profile ${join(dir, hp)}: bytes allocated (sampled, still live at exit or not) by function`);
      for (const [k, b] of rows.slice(0, TOP)) out(`${(100 * b / total).toFixed(1).padStart(5)}%  ${k}`);
      return;
    }
    const prof = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!prof) throw new Error('no .cpuprofile written (Verdict did not exit cleanly?)');
    const p = JSON.parse(readFileSync(join(dir, prof), 'utf8')) as Profile;
    out(`profile ${join(dir, prof)}: ${p.samples.length} samples over ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s (includes start-up and idle)`);
    const rows = selfTimes(p);
    const idle = rows.find(([k]) => k.startsWith('(idle)'))?.[1] ?? 0;
    for (const [k, share] of rows.slice(0, TOP)) out(`${(share * 100).toFixed(1).padStart(5)}%  ${(share / (1 - idle) * 100).toFixed(1).padStart(5)}% busy  ${k}`);
    // The same self time summed per file: which module costs, whatever its function names.
    const files = new Map<string, number>();
    for (const [k, share] of rows) {
      const file = k.split(' ').slice(1).join(' ').replace(/:\d+$/, '') || k;
      files.set(file, (files.get(file) ?? 0) + share);
    }
    out('\nper file:');
    for (const [f, share] of [...files].sort((a, b) => b[1] - a[1]).slice(0, TOP)) out(`${(share / (1 - idle) * 100).toFixed(1).padStart(5)}% busy  ${f}`);
  } finally {
    await stopAll();
    if (argv.keep) out(`(kept ${root})`); else rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => { out(`profile: ${(e as Error).stack ?? e}`); process.exitCode = 1; });
