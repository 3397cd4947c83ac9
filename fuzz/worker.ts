/**
 * One fuzz target in a worker thread. The main thread watches a shared
 * heartbeat: a worker that stops beating (a synchronous infinite loop in a
 * parser, say) is terminated and the input it was on is reported as a hang.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadCorpus } from './corpus.js';
import { describe } from './target.js';
import type { Counters, Finding, Target, TargetContext, TargetName } from './target.js';
import { masterfileTarget } from './targets/masterfile.js';
import { ordersTarget } from './targets/orders.js';
import { responseTarget } from './targets/response.js';
import { serverTarget } from './targets/server.js';

export interface WorkerInput {
  target: TargetName;
  seed: number;
  first: number;
  count: number;
  /** Date.now() after which no new batch starts. */
  deadline: number;
  inputTimeoutMs: number;
  /** Int32Array: [0] = input in progress, [1] = heartbeat counter. */
  heartbeat: SharedArrayBuffer;
}

export type WorkerMessage =
  | { type: 'finding'; finding: Finding }
  | { type: 'counters'; counters: Counters; next: number }
  | { type: 'done'; counters: Counters; next: number }
  /** The target could not even start (its setup failed): no point restarting it. */
  | { type: 'fatal'; detail: string };

const FACTORIES: { [k in TargetName]: (ctx: TargetContext) => Promise<Target> } = {
  server: serverTarget, response: responseTarget, masterfile: masterfileTarget, orders: ordersTarget,
};

async function main(w: WorkerInput): Promise<void> {
  const beat = new Int32Array(w.heartbeat);
  const post = (m: WorkerMessage) => parentPort!.postMessage(m);
  const report = (finding: Finding) => post({ type: 'finding', finding });
  const current = () => Atomics.load(beat, 0);
  process.on('unhandledRejection', (e) => {
    report({ kind: 'unhandled-rejection', target: w.target, index: current(), detail: describe(e) });
  });
  process.on('uncaughtException', (e) => {
    report({ kind: 'crash', target: w.target, index: current(), detail: `uncaught exception: ${describe(e)}` });
    process.exit(70); // state may be corrupt: the main thread restarts after this input
  });
  const ctx: TargetContext = { seed: w.seed, corpus: loadCorpus(), inputTimeoutMs: w.inputTimeoutMs };
  let target: Target;
  try {
    target = await FACTORIES[w.target](ctx);
  } catch (e) {
    post({ type: 'fatal', detail: `target ${w.target} failed to start: ${describe(e)}` });
    return;
  }
  const c: Counters = { inputs: 0, accepted: 0, rejected: 0, dropped: 0, replies: 0 };
  const mark = (i: number) => {
    Atomics.store(beat, 0, i);
    Atomics.add(beat, 1, 1);
  };
  const end = w.first + w.count;
  let i = w.first;
  while (i < end && Date.now() < w.deadline) {
    const n = Math.min(target.batchSize, end - i);
    await target.batch(i, n, mark, report, c);
    i += n;
    post({ type: 'counters', counters: { ...c }, next: i });
  }
  await target.close();
  post({ type: 'done', counters: c, next: i });
}

main(workerData as WorkerInput).catch((e) => {
  parentPort!.postMessage({ type: 'finding', finding: { kind: 'crash', target: (workerData as WorkerInput).target, index: -1, detail: `target failed to run: ${describe(e)}` } });
  process.exit(71);
});
