/**
 * The fuzzer's driver: runs targets one after the other, each in a worker
 * thread under a watchdog, bounded by an input count and a time budget, and
 * gathers the figures.
 */
import { Worker } from 'node:worker_threads';
import { TARGETS } from './target.js';
import type { Counters, Finding, TargetName } from './target.js';
import type { WorkerInput, WorkerMessage } from './worker.js';

export interface FuzzOptions {
  targets: readonly TargetName[];
  /** Inputs in total, spread evenly over the targets. */
  count: number;
  /** Time budget in total; a target may use what earlier ones left. */
  seconds: number;
  seed: number;
  inputTimeoutMs?: number;
  /** A worker without a heartbeat for this long is stopped and its input reported as a hang. */
  watchdogMs?: number;
  onFinding?: (f: Finding) => void;
  onProgress?: (target: TargetName, c: Counters) => void;
}

export interface TargetFigures extends Counters {
  target: TargetName;
  seconds: number;
  crashes: number;
  hangs: number;
  invalid: number;
  unhandledRejections: number;
  restarts: number;
}

export interface FuzzSummary {
  seed: number;
  targets: TargetFigures[];
  findings: Finding[];
  total: { inputs: number; seconds: number; crashes: number; hangs: number; invalid: number; unhandledRejections: number };
}

function add(a: Counters, b: Counters): Counters {
  return {
    inputs: a.inputs + b.inputs, accepted: a.accepted + b.accepted, rejected: a.rejected + b.rejected,
    dropped: a.dropped + b.dropped, replies: a.replies + b.replies, unanswered: (a.unanswered ?? 0) + (b.unanswered ?? 0),
    batchedUdp: (a.batchedUdp ?? 0) + (b.batchedUdp ?? 0),
  };
}

/** Run one target's inputs [first, first+count) in a worker; resolves with the counters and where it stopped. */
function runWorker(input: Omit<WorkerInput, 'heartbeat'>, watchdogMs: number, onFinding: (f: Finding) => void, onCounters: (c: Counters) => void):
  Promise<{ counters: Counters; next: number; died?: { index: number; why: 'crash' | 'hang'; detail: string }; fatal?: string }> {
  const heartbeat = new SharedArrayBuffer(8);
  const beat = new Int32Array(heartbeat);
  Atomics.store(beat, 0, input.first);
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { ...input, heartbeat } satisfies WorkerInput });
  let last: Counters = { inputs: 0, accepted: 0, rejected: 0, dropped: 0, replies: 0 };
  let next = input.first;
  return new Promise((resolve) => {
    let settled = false;
    let lastBeat = -1;
    let lastChange = Date.now();
    let stopping: { index: number; why: 'crash' | 'hang'; detail: string } | undefined;
    const watchdog = setInterval(() => {
      const b = Atomics.load(beat, 1);
      if (b !== lastBeat) {
        lastBeat = b;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > watchdogMs && !stopping) {
        const index = Atomics.load(beat, 0);
        stopping = { index, why: 'hang', detail: `no progress for ${watchdogMs} ms on input ${index}; worker stopped` };
        void worker.terminate();
      }
    }, 250);
    const finish = (died?: { index: number; why: 'crash' | 'hang'; detail: string }) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      resolve({ counters: last, next, ...(died ? { died } : {}) });
    };
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'finding') onFinding(m.finding);
      else if (m.type === 'fatal') {
        if (!settled) {
          settled = true;
          clearInterval(watchdog);
          resolve({ counters: last, next, fatal: m.detail });
        }
      } else {
        last = m.counters;
        next = m.next;
        onCounters(m.counters);
        if (m.type === 'done') finish();
      }
    });
    worker.on('error', (e) => {
      stopping ??= { index: Atomics.load(beat, 0), why: 'crash', detail: `worker error: ${e.stack ?? e.message}` };
    });
    worker.on('exit', (code) => {
      if (!settled) finish(stopping ?? { index: Atomics.load(beat, 0), why: 'crash', detail: `worker exited with status ${code}` });
    });
  });
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzSummary> {
  const targets = o.targets.length ? o.targets : TARGETS;
  const inputTimeoutMs = o.inputTimeoutMs ?? 5000;
  const watchdogMs = o.watchdogMs ?? 30_000;
  const findings: Finding[] = [];
  const figures: TargetFigures[] = [];
  const started = Date.now();
  const overall = started + o.seconds * 1000;
  for (let t = 0; t < targets.length; t++) {
    const target = targets[t]!;
    const share = Math.floor(o.count / targets.length) + (t < o.count % targets.length ? 1 : 0);
    // Time left, shared by the targets still to run.
    const deadline = Date.now() + (overall - Date.now()) / (targets.length - t);
    const tStart = performance.now();
    const fig: TargetFigures = { target, seconds: 0, inputs: 0, accepted: 0, rejected: 0, dropped: 0, replies: 0, unanswered: 0, crashes: 0, hangs: 0, invalid: 0, unhandledRejections: 0, restarts: 0 };
    const record = (f: Finding) => {
      findings.push(f);
      if (f.kind === 'crash') fig.crashes++;
      else if (f.kind === 'hang') fig.hangs++;
      else if (f.kind === 'invalid') fig.invalid++;
      else fig.unhandledRejections++;
      o.onFinding?.(f);
    };
    let done: Counters = { inputs: 0, accepted: 0, rejected: 0, dropped: 0, replies: 0, unanswered: 0 };
    let first = 0;
    while (first < share && Date.now() < deadline && fig.restarts <= 20) {
      const r = await runWorker({ target, seed: o.seed, first, count: share - first, deadline, inputTimeoutMs }, watchdogMs, record,
        (c) => o.onProgress?.(target, add(done, c)));
      done = add(done, r.counters);
      if (r.fatal) {
        record({ kind: 'crash', target, index: -1, detail: r.fatal });
        break;
      }
      if (!r.died) break;
      // The worker died on an input: report it and go on after it.
      record({ kind: r.died.why, target, index: r.died.index, detail: r.died.detail });
      fig.restarts++;
      const skip = Math.max(r.died.index + 1, r.next);
      done.inputs += Math.max(0, skip - r.next); // the input that killed it (and its batch) counts as run
      first = skip;
    }
    Object.assign(fig, done);
    fig.seconds = (performance.now() - tStart) / 1000;
    figures.push(fig);
  }
  const sum = (k: 'inputs' | 'crashes' | 'hangs' | 'invalid' | 'unhandledRejections') => figures.reduce((s, f) => s + f[k], 0);
  return {
    seed: o.seed, targets: figures, findings,
    total: { inputs: sum('inputs'), seconds: (Date.now() - started) / 1000, crashes: sum('crashes'), hangs: sum('hangs'), invalid: sum('invalid'), unhandledRejections: sum('unhandledRejections') },
  };
}

export function formatFigures(s: FuzzSummary): string {
  const head = ['target', 'inputs', 'seconds', 'inputs/s', 'accepted', 'rejected', 'replies', 'dropped', 'unanswered', 'crashes', 'hangs', 'invalid', 'unh.rej.', 'udp addon'];
  const rows = s.targets.map((f) => [f.target, f.inputs, f.seconds.toFixed(1), (f.inputs / Math.max(f.seconds, 1e-9)).toFixed(0), f.accepted, f.rejected, f.replies, f.dropped, f.unanswered ?? 0, f.crashes, f.hangs, f.invalid, f.unhandledRejections, f.batchedUdp ?? 0].map(String));
  const t = s.total;
  rows.push(['total', String(t.inputs), t.seconds.toFixed(1), (t.inputs / Math.max(t.seconds, 1e-9)).toFixed(0), '', '', '', '', '', String(t.crashes), String(t.hangs), String(t.invalid), String(t.unhandledRejections), '']);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')).join('\n');
}
