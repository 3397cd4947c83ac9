/** What every fuzz target provides, and what it reports. */
import type { Corpus } from './corpus.js';

export type TargetName = 'server' | 'response' | 'masterfile' | 'orders';
export const TARGETS: readonly TargetName[] = ['server', 'response', 'masterfile', 'orders'];

/** A finding: the input (to replay and to keep as a regression) and why it failed. */
export interface Finding {
  kind: 'crash' | 'hang' | 'invalid' | 'unhandled-rejection';
  target: TargetName;
  /** Index of the input in the run (rebuild it with the run's seed). */
  index: number;
  detail: string;
  /** The input, base64 (wire) or JSON string (text). */
  input?: string;
}

export interface Counters {
  inputs: number;
  /** Inputs the target treated as accepted (parsed, answered, resolved). */
  accepted: number;
  /** Inputs rejected the documented way (FORMERR, WireError, ZoneSyntaxError, reported errors). */
  rejected: number;
  /** Server: queries that were dropped (silence), expected or not. */
  dropped: number;
  /** Server: replies checked; response target: upstream responses fed to the iterator. */
  replies: number;
  /** Server: queries it should have answered that got no reply (lost on loopback or dropped). */
  unanswered?: number;
  /** Server: datagrams the batched UDP addon received (native/udp, issue 19); 0 when on node:dgram. */
  batchedUdp?: number;
}

export interface Target {
  /**
   * Run `count` inputs starting at index `first` (inputs are rebuilt from the
   * seed and their index); `mark(i)` is called as input i starts (the
   * watchdog knows which input hung); findings go to `report`.
   */
  batch(first: number, count: number, mark: (i: number) => void, report: (f: Finding) => void, c: Counters): Promise<void>;
  /** Preferred batch size (the server sends a batch, then checks it still answers). */
  readonly batchSize: number;
  close(): Promise<void>;
}

export interface TargetContext {
  seed: number;
  corpus: Corpus;
  /** Time bound of one input (ms). */
  inputTimeoutMs: number;
}

/** A promise bounded in time: resolves to 'timeout' when it takes longer than `ms`. */
export function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), ms); })]).finally(() => clearTimeout(timer));
}

export function describe(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 6).join('\n')}`;
  return String(e);
}

/** What a synchronous check says of one input: fine (accepted or cleanly rejected), or a problem. */
export interface CheckResult {
  ok: boolean;
  rejected: boolean;
  problem?: string;
}

/**
 * A target whose inputs are checked synchronously in this process (parsers):
 * the count, the classification of results and the per-input hang bound are
 * the same for all of them.
 */
export function syncTarget<I>(ctx: TargetContext, name: TargetName, batchSize: number, input: (i: number) => I, check: (input: I) => CheckResult): Target {
  return {
    batchSize,
    async batch(first, count, mark, report: (f: Finding) => void, c: Counters) {
      for (let i = first; i < first + count; i++) {
        mark(i);
        const x = input(i);
        const started = performance.now();
        const r = check(x);
        const ms = performance.now() - started;
        c.inputs++;
        if (r.ok) {
          if (r.rejected) c.rejected++;
          else c.accepted++;
        } else {
          report({ kind: r.rejected ? 'invalid' : 'crash', target: name, index: i, detail: r.problem!, input: JSON.stringify(x) });
        }
        if (ms > ctx.inputTimeoutMs) report({ kind: 'hang', target: name, index: i, detail: `took ${ms.toFixed(0)} ms`, input: JSON.stringify(x) });
      }
    },
    async close() {},
  };
}
