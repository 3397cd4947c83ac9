/**
 * A cap on V8's young generation for the serving process.
 *
 * V8 starts each semi-space at 1 MiB and doubles it, up to 16 MiB on 64-bit
 * (Node 20), whenever enough survives its scavenges. Under a steady query
 * load a resolver reaches the maximum within seconds: 2 x 16 MiB of new space,
 * about 28 MiB of it resident, a quarter of the whole process with a
 * thousand-rule zone (bench/e2e: VmRSS 102 MiB, new space 28.3 MiB of it).
 * A bigger new space saves the scavenges, not their work, because a query's
 * garbage dies young either way. Measured with --trace-gc over the cached
 * runs of bench/e2e (about 330,000 queries each): scavenges took 40-160 ms
 * in total at 16 MiB, 70-95 ms at 4 MiB and 165-210 ms at 1 MiB. So 4 MiB
 * costs nothing measurable and keeps 20 MiB out of RSS.
 *
 * `--max-semi-space-size` only counts when given to node on the command line
 * (V8 sizes the heap once, at start), and `node dist/src/cli.js serve` has to
 * keep working as it is. `--semi-space-growth-factor` is read each time the
 * new space grows, so it can be changed at run time:
 *
 * - from the first line of the CLI until every module is loaded it is 1 (no
 *   growth): loading them grows the new space in long synchronous stretches
 *   where no check can run (it had reached 8 MiB a semi-space when `serve`
 *   began), and V8 does not shrink it again while allocation goes on.
 * - from then on, after each GC it is 2 while the new space is below the cap
 *   and 1 from when it reaches it, so the zone loads (which run in slices)
 *   and the queries grow it up to the cap and no further; if V8 shrinks it
 *   (it does when allocation slows down) it can grow back.
 *
 * Left at 1 MiB through the load of a million-rule zone, the scavenges took
 * 190 ms of CPU instead of 77 ms (with 16 MiB): hence growth during loads.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** What the cap needs from V8, injectable for tests. */
export interface YoungGenerationHooks {
  /** Bytes of V8's new space (both semi-spaces). */
  newSpaceBytes(): number;
  setGrowthFactor(factor: number): void;
  /** Call `check` after every garbage collection; returns a function that stops it. */
  afterGc(check: () => void): () => void;
}

/** The cap's state (see the module comment). */
export class YoungGenerationCap {
  /** Whether the new space may grow now (V8's default growth factor, 2). */
  growing = false;
  private stopObserving: (() => void) | undefined;

  constructor(readonly semiSpaceBytes: number, private readonly hooks: YoungGenerationHooks = v8Hooks) {
    hooks.setGrowthFactor(1);
  }

  /** The modules are loaded: from now on the new space may grow up to the cap, checked after every GC. */
  allowGrowth(): void {
    if (this.stopObserving) return;
    this.stopObserving = this.hooks.afterGc(() => this.check());
    this.check();
  }

  /** Stop or allow growth, from the new space's size now. */
  check(): void {
    const grow = this.hooks.newSpaceBytes() < 2 * this.semiSpaceBytes;
    if (grow === this.growing) return;
    this.growing = grow;
    this.hooks.setGrowthFactor(grow ? 2 : 1);
  }

  /** Stop watching and let V8 grow the new space as it would by default. */
  stop(): void {
    this.stopObserving?.();
    this.stopObserving = undefined;
    if (!this.growing) this.hooks.setGrowthFactor(2);
    this.growing = true;
  }
}

const v8Hooks: YoungGenerationHooks = {
  newSpaceBytes: () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0,
  setGrowthFactor: (factor) => setFlagsFromString(`--semi-space-growth-factor=${factor}`),
  afterGc(check) {
    const observer = new PerformanceObserver(check);
    observer.observe({ entryTypes: ['gc'] });
    return () => observer.disconnect();
  },
};

/** Semi-space size the serve command caps V8's young generation at. */
export const SERVE_SEMI_SPACE_MIB = 4;

/**
 * Cap the young generation at `semiSpaceMiB` per semi-space (two of them make
 * the new space): no growth at all until `allowGrowth()`.
 */
export function capYoungGeneration(semiSpaceMiB = SERVE_SEMI_SPACE_MIB, hooks?: YoungGenerationHooks): YoungGenerationCap {
  return new YoungGenerationCap(semiSpaceMiB * 1024 * 1024, hooks);
}
