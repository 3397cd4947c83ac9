/**
 * The startup gate (never fail open): until the configured policy is loaded,
 * no query goes on to the policy stage, the caches or the resolver, so no
 * answer leaves unfiltered.
 *
 * `rpz.startup.mode` (docs/CONFIG.md):
 * - `wait`: a query is held, first in first out, until the gate opens or its
 *   `wait_ms` runs out; then SERVFAIL with EDE 14 (Not Ready, RFC 8914 4.15).
 *   At most `max_waiting` are held; the next get that SERVFAIL at once.
 * - `servfail`: every query gets that SERVFAIL at once.
 * - `closed`: the listeners open only after the policy, so the gate is open
 *   before the first query (Verdict.start).
 *
 * Every held query has the same wait, so deadlines come in arrival order: one
 * timer, for the oldest, serves them all (no timer per query, no polling).
 * Once open, the stage costs one boolean test.
 */
import { Ede, Rcode } from '../../dns/constants.js';
import { errorReply } from '../../dns/reply.js';
import type { RequestContext, Stage, StageResult } from '../context.js';

export type StartupMode = 'wait' | 'servfail' | 'closed';

/** What happened to a query that met the closed gate (a metric label). */
export type GateOutcome = 'released' | 'timeout' | 'full' | 'servfail' | 'shut';

/** Time and one timer, injected so tests move time instead of sleeping. */
export interface GateClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

const systemClock: GateClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface StartupGateOptions {
  mode: StartupMode;
  /** `wait`: longest a query is held, ms (0: SERVFAIL at once). */
  waitMs: number;
  /** `wait`: most queries held at once. */
  maxWaiting: number;
  clock?: GateClock;
  /** Called once per query the closed gate dealt with (metrics). */
  onOutcome?(outcome: GateOutcome): void;
}

interface Held {
  ctx: RequestContext;
  deadline: number;
  resume(r: StageResult): void;
}

export const NOT_READY_TEXT = 'policy not loaded yet (server starting)';

export class StartupGate implements Stage {
  readonly name = 'startup-gate';

  private opened = false;
  private shutDown = false;
  /** Held queries in arrival order; `head` is the oldest still held. */
  private held: (Held | undefined)[] = [];
  private head = 0;
  private timer: unknown;
  private readonly clock: GateClock;

  constructor(private readonly opts: StartupGateOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  get isOpen(): boolean {
    return this.opened;
  }

  /** Queries held now. */
  get waiting(): number {
    return this.held.length - this.head;
  }

  handle(ctx: RequestContext): StageResult | Promise<StageResult> {
    if (this.opened) return 'next';
    const o = this.opts;
    if (this.shutDown) return this.notReady(ctx, 'shut');
    if (o.mode !== 'wait' || o.waitMs === 0) return this.notReady(ctx, 'servfail');
    if (this.waiting >= o.maxWaiting) return this.notReady(ctx, 'full');
    return new Promise<StageResult>((resume) => {
      this.held.push({ ctx, deadline: this.clock.now() + o.waitMs, resume });
      if (this.timer === undefined) this.arm();
    });
  }

  /** The policy is loaded: held queries go on, in arrival order, and so does every later one. */
  open(): void {
    if (this.opened) return;
    this.opened = true;
    this.releaseAll((h) => {
      this.opts.onOutcome?.('released');
      h.resume('next');
    });
  }

  /** Stopping, or the policy failed to load: held queries get SERVFAIL now, later ones too. */
  shut(): void {
    if (this.opened) return;
    this.shutDown = true;
    this.releaseAll((h) => h.resume(this.notReady(h.ctx, 'shut')));
  }

  private releaseAll(each: (h: Held) => void): void {
    this.clock.clearTimer(this.timer);
    this.timer = undefined;
    const held = this.held;
    const from = this.head;
    this.held = [];
    this.head = 0;
    for (let i = from; i < held.length; i++) each(held[i]!);
  }

  private notReady(ctx: RequestContext, outcome: GateOutcome): 'answered' {
    this.opts.onOutcome?.(outcome);
    ctx.notes.startupGate = outcome;
    ctx.wire = errorReply(ctx.query!, Rcode.SERVFAIL, { code: Ede.NOT_READY, text: NOT_READY_TEXT }, ctx.maxSize);
    return 'answered';
  }

  /** One timer, for the oldest held query. */
  private arm(): void {
    const first = this.held[this.head];
    if (!first) return;
    this.timer = this.clock.setTimer(() => this.expire(), Math.max(0, first.deadline - this.clock.now()));
  }

  private expire(): void {
    this.timer = undefined;
    const now = this.clock.now();
    while (this.head < this.held.length && this.held[this.head]!.deadline <= now) {
      const h = this.held[this.head]!;
      this.held[this.head++] = undefined;
      h.resume(this.notReady(h.ctx, 'timeout'));
    }
    // Drop the released slots now and then, so the array does not grow for ever.
    if (this.head === this.held.length || (this.head > 1024 && this.head * 2 > this.held.length)) {
      this.held = this.held.slice(this.head);
      this.head = 0;
    }
    this.arm();
  }
}
