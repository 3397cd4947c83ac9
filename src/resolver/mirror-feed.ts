/**
 * Connects the mirror watcher to a running server: feeds it each resolved
 * query (the real answer, even when policy rewrote what the client got),
 * keeps its list of blocked names in step with the orders, saves its state
 * file on a timer and at stop, and exports its gauges. Nothing here can change
 * an answer: the watcher only reads.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { LoadedConfig } from '../config/load.js';
import { Rcode } from '../dns/constants.js';
import type { Name } from '../dns/name.js';
import type { Order } from '../rpz/orders/schema.js';
import type { RequestContext } from './context.js';
import { candidatesByOrder } from '../mirrors/report.js';
import { blockedFromOrders, MirrorWatcher } from '../mirrors/watcher.js';
import type { MirrorSnapshot } from '../mirrors/watcher.js';

export interface MirrorFeedDeps {
  logger: Logger;
  registry?: Registry;
  /** NS names and addresses of the delegations above a name (the iterator's). */
  delegations(name: Name): { nsNames: Name[]; nsAddresses: string[] };
  /** The orders in force and the order clock, read on every policy swap. */
  orders(): { orders: readonly Order[]; now: Date };
}

export class MirrorFeed {
  readonly watcher: MirrorWatcher;
  private readonly file: string;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly candidates?: Gauge<'order'>;
  private readonly tracked?: Gauge;
  private readonly minScore: number;

  constructor(loaded: LoadedConfig, private readonly deps: MirrorFeedDeps) {
    const cfg = loaded.config.mirrors;
    this.minScore = cfg.min_score;
    this.file = resolve(loaded.baseDir, cfg.state_file);
    this.watcher = new MirrorWatcher({ blocked: [], maxNames: cfg.max_names });
    try {
      this.watcher.load(this.file);
    } catch (e) {
      deps.logger.warn({ file: this.file, err: (e as Error).message }, 'mirror watch state not read; starting empty');
    }
    const r = deps.registry;
    if (r) {
      this.candidates = new Gauge({ name: 'verdict_mirror_candidates', help: 'Candidate mirrors of names blocked by each order, scoring at least mirrors.min_score (reported, never blocked).', labelNames: ['order'], registers: [r] });
      this.tracked = new Gauge({ name: 'verdict_mirror_tracked_names', help: 'Domains the mirror watcher keeps (bounded by mirrors.max_names).', registers: [r] });
    }
    if (cfg.save_interval_s > 0) {
      this.timer = setInterval(() => this.save(), cfg.save_interval_s * 1000);
      this.timer.unref();
    }
  }

  /** After the resolve stage: what the resolver learnt for this query. */
  observe(ctx: RequestContext): void {
    const r = ctx.resolved;
    const q = ctx.query?.questions[0];
    if (!r || !q || (r.rcode !== Rcode.NOERROR && r.rcode !== Rcode.NXDOMAIN)) return;
    const orders = ctx.notes.orders as string[] | undefined;
    // The delegation is read from the cache only if the watcher samples this query (at most once per
    // domain per sampling interval): reading it for every answer cost about 5% of a cache miss's CPU.
    const delegations = this.deps.delegations;
    let d: ReturnType<MirrorFeedDeps['delegations']> | undefined;
    this.watcher.observe({
      qname: q.name, qtype: q.type, answers: r.answers,
      get nsNames() { return (d ??= delegations(q.name)).nsNames; },
      get nsAddresses() { return (d ??= delegations(q.name)).nsAddresses; },
      ...(orders ? { blocked: { orderIds: orders } } : {}),
    });
  }

  /** On every policy swap: the names the orders list now. */
  refreshBlocked(): void {
    const { orders, now } = this.deps.orders();
    this.watcher.setBlocked(blockedFromOrders(orders, now));
  }

  snapshot(): MirrorSnapshot {
    return this.watcher.snapshot();
  }

  save(): void {
    try {
      this.watcher.save(this.file);
      if (this.candidates) {
        this.candidates.reset();
        for (const [order, n] of candidatesByOrder(this.watcher.snapshot(), this.minScore)) this.candidates.labels(order).set(n);
      }
      this.tracked?.set(this.watcher.stats().trackedNames);
    } catch (e) {
      this.deps.logger.warn({ file: this.file, err: (e as Error).message }, 'mirror watch state not saved');
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.save();
  }
}
