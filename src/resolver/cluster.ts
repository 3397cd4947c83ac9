/**
 * `server.workers: N` with N > 1: every core answers queries (node:cluster;
 * Node 20 has no SO_REUSEPORT for UDP). `workers: 1` never comes here: one
 * process, exactly as before.
 *
 * The primary process answers no query. It forks N workers, owns what must
 * exist once — the control socket, /metrics (aggregated from every worker),
 * the signals — and restarts a worker that dies (with backoff). Each worker is
 * a whole Verdict: its own caches, its own policy, built from the same files.
 *
 * Sockets on the batched UDP addon (udp-batch.ts, server.udp_io): each worker
 * binds its own UDP socket on the listen address with SO_REUSEPORT and the
 * kernel spreads datagrams over them by flow; the primary holds no UDP socket.
 * On node:dgram (or a listener on port 0), as follows.
 *
 * Sockets. A worker's `bind()` of a listen address is done by the primary
 * (cluster's shared handle): every worker reads the one UDP socket, and the
 * kernel hands each datagram to whichever worker's read gets it, so under
 * load the datagrams spread over the workers. TCP connections are accepted by
 * the primary and handed to workers in turn (cluster's round-robin). Upstream
 * and NOTIFY sockets are bound `exclusive` in the worker itself.
 *
 * Reload (SIGHUP or `verdict ctl reload` to the primary). The primary checks
 * the config parses, then asks every worker to reload; each builds the new
 * policy off its hot path and swaps it in one assignment, so each worker is
 * atomic per query. The primary reports success only when every worker
 * reloaded and every zone built; a worker whose build fails keeps its old
 * zone (PolicyManager) and is named in the failure. Across workers the swap
 * instants differ by their build times (milliseconds to seconds for large
 * zones): for that long one worker may answer by the new policy and another by
 * the old one. Reloads are serialised. A worker that is restarting at the time
 * counts as a failure of that reload (it loads the files as they are when it
 * starts, as a restarted single process would).
 *
 * Zones pulled from a primary (secondaries). Every worker runs its own
 * SecondaryZone: N transfers of each feed instead of one (N is the number of
 * cores, the feed's load grows by that factor) and N writers of the same copy
 * in `transfer.state_dir`. The copy is written by temporary file and rename,
 * so it is never torn; the last writer wins, which can briefly put an older
 * serial on disk if one worker lags (its next transfer catches up; at a
 * restart it starts from that copy and transfers the rest). A NOTIFY reaches
 * one worker (one datagram); that worker tells the primary, which passes it to
 * the others, so all refresh at once. `verdict ctl transfer ZONE` goes to
 * every worker. Until all have transferred, workers may serve different
 * serials of a feed, for the duration of a transfer (or a retry interval if
 * one worker's transfer fails).
 *
 * Side effects that must happen once belong to worker 0 (its index survives
 * its restarts): the order audit log, the NOTIFYs sent to our own
 * secondaries (`transfer.notify`) and the mirror watch with its state file
 * (N writers would overwrite each other's observations). The mirror watch
 * therefore sees only the queries worker 0 answers: about 1/N of the
 * traffic, a random sample since datagrams go to whichever worker reads first. Every worker serves AXFR/IXFR of the zones
 * we publish, all compiled alike from the same files; a secondary that asks a
 * worker which has not yet finished the same reload sees the old serial and
 * catches up at its next refresh.
 */
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { Worker } from 'node:cluster';
import { resolve } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { parseEndpoint } from '../config/endpoint.js';
import { loadConfig } from '../config/load.js';
import type { LoadedConfig } from '../config/load.js';
import { ControlServer } from '../control/server.js';
import type { ControlHandler } from '../control/server.js';
import { nameFromText, nameToText } from '../dns/name.js';
import { MetricsServer } from '../metrics/http.js';
import type { ZoneStatus } from '../rpz/manager.js';
import { Verdict } from './verdict.js';

/** Set by the primary in each worker's environment: its index, 0..N-1, kept across restarts. */
const INDEX_ENV = 'VERDICT_WORKER_INDEX';
/**
 * Set by the primary in each worker's environment: the TLS session ticket keys (hex) of the DoT/DoH
 * listeners, the same in every worker, so a client resumes its TLS session whichever worker its next
 * connection lands on. Removed from the worker's environment once read.
 */
const TICKET_KEYS_ENV = 'VERDICT_TLS_TICKET_KEYS';
/** prom-client's cluster messages (prom-client/lib/cluster.js); the worker side is answered here. */
const PROM_REQ = 'prom-client:getMetricsReq';
const PROM_RES = 'prom-client:getMetricsRes';

/** Primary -> worker. */
type ToWorker = { verdict: 'req'; id: number; cmd: string; args: string[] } | { verdict: 'stop' };
/** Worker -> primary. */
type ToPrimary =
  | { verdict: 'ready'; listen: unknown }
  | { verdict: 'start-failed'; error: string }
  | { verdict: 'res'; id: number; ok: boolean; body?: unknown; error?: string }
  | { verdict: 'notify'; zone: string; from: string };

/** Per-call timeouts of the primary's requests to workers (a 1,000,000-rule reload takes seconds). */
const REQUEST_TIMEOUT_MS: { [cmd: string]: number } = { reload: 120_000, transfer: 120_000 };
const DEFAULT_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 180_000;
const STOP_TIMEOUT_MS = 15_000;
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/** A worker that served this long before dying starts its backoff afresh. */
const STABLE_MS = 60_000;

export function isClusterWorker(): boolean {
  return cluster.isWorker && process.env[INDEX_ENV] !== undefined;
}

/**
 * The config as a worker runs it: no control socket and no metrics listener
 * (the primary's), and for workers other than 0 none of the once-only side
 * effects (the audit log, NOTIFY to our secondaries, the mirror watch and
 * its state file).
 */
export function workerConfig(loaded: LoadedConfig, index: number): LoadedConfig {
  const c = loaded.config;
  const { audit_log: _audit, ...orders } = c.orders;
  return {
    ...loaded,
    config: {
      ...c,
      control: { ...c.control, enabled: false },
      metrics: { transparency: false },
      ...(index === 0 ? {} : { orders, transfer: { ...c.transfer, notify: [] }, mirrors: { ...c.mirrors, enabled: false } }),
    },
  };
}

function send(msg: ToPrimary | { type: string; requestId: number; metrics?: unknown; error?: string }): Promise<void> {
  return new Promise((done) => {
    if (!process.send || !process.connected) return done();
    process.send(msg, undefined, {}, () => done());
  });
}

// ---------------------------------------------------------------- worker

/** A worker: one Verdict serving the shared sockets, driven by the primary over IPC. */
export async function runWorker(file: string): Promise<number> {
  const index = Number(process.env[INDEX_ENV]);
  const ticketKeys = process.env[TICKET_KEYS_ENV] ? Buffer.from(process.env[TICKET_KEYS_ENV]!, 'hex') : undefined;
  delete process.env[TICKET_KEYS_ENV];
  let logger: Logger = pino({ base: { svc: 'verdict', worker: index } });
  let verdict: Verdict;
  try {
    const loaded = workerConfig(loadConfig(file), index);
    logger = pino({ level: loaded.config.log.level, base: { svc: 'verdict', worker: index } });
    verdict = new Verdict(loaded, {
      logger,
      onNotify: (zone, from) => void send({ verdict: 'notify', zone: nameToText(zone), from }),
      ...(ticketKeys?.length === 48 ? { tlsTicketKeys: ticketKeys } : {}),
    });
    await verdict.start();
  } catch (e) {
    await send({ verdict: 'start-failed', error: (e as Error).message });
    return 1;
  }
  const v = verdict;
  const handlers = v.controlHandlers();
  const commands: { [cmd: string]: ControlHandler } = {
    status: async () => ({
      worker: index,
      pid: process.pid,
      ...(await handlers.status!([]) as object),
      queries: (await v.metrics.queries.get()).values.reduce((n, x) => n + x.value, 0),
    }),
    reload: async () => {
      const started = performance.now();
      await v.reload(workerConfig(loadConfig(file), index));
      const zones = v.policy.status();
      return { ok: zones.every((z) => z.ok), zones, ms: Math.round(performance.now() - started) };
    },
    flush: (args) => handlers.flush!(args),
    zones: () => handlers.zones!([]),
    transfer: (args) => handlers.transfer!(args),
    mirrors: (args) => handlers.mirrors!(args),
    notify: ([zone, from]) => ({ accepted: v.policy.notify(nameFromText(zone!), from!) }),
  };

  return new Promise<number>((done) => {
    let stopping = false;
    const shutdown = (why: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ reason: why }, 'draining');
      v.stop().then(() => done(0), () => done(1));
    };
    process.on('message', (m: ToWorker | { type?: string; requestId?: number }) => {
      if ('type' in m && m.type === PROM_REQ) {
        // This worker's registry, counters synced first; the primary sums or min/maxes across workers.
        v.syncCounters();
        v.metrics.registry.getMetricsAsJSON().then(
          (metrics) => send({ type: PROM_RES, requestId: m.requestId!, metrics: [metrics] }), // one entry per registry
          (e: Error) => send({ type: PROM_RES, requestId: m.requestId!, error: e.message }),
        );
        return;
      }
      if (!('verdict' in m)) return;
      if (m.verdict === 'stop') return shutdown('asked by the primary');
      const run = commands[m.cmd];
      if (!run) return void send({ verdict: 'res', id: m.id, ok: false, error: `unknown command ${m.cmd}` });
      Promise.resolve()
        .then(() => run(m.args))
        .then(
          (body) => send({ verdict: 'res', id: m.id, ok: true, body }),
          (e: Error) => send({ verdict: 'res', id: m.id, ok: false, error: e.message }),
        );
    });
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    // A HUP to the whole process group must not kill workers; the primary's reload reaches them.
    process.on('SIGHUP', () => logger.debug('SIGHUP ignored by a worker (the primary reloads every worker)'));
    void send({ verdict: 'ready', listen: v.server.addresses });
  });
}

// ---------------------------------------------------------------- primary

interface Slot {
  index: number;
  worker?: Worker;
  ready: boolean;
  startedAt: number;
  restarts: number;
  /** Crashes in a row (reset once a worker has served STABLE_MS). */
  crashes: number;
  timer?: NodeJS.Timeout;
}

export interface WorkerResult {
  worker: number;
  pid?: number;
  ok: boolean;
  body?: unknown;
  error?: string;
}

interface Pending {
  index: number;
  resolve(body: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class ClusterPrimary {
  readonly logger: Logger;
  private readonly slots: Slot[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stopping = false;
  private started = false;
  private chain: Promise<unknown> = Promise.resolve();
  private control?: ControlServer;
  private metricsServer?: MetricsServer;
  private readonly own = new Registry();
  private readonly aggregator = new AggregatorRegistry();
  private readonly upGauge: Gauge;
  private readonly restartCounter: Counter;
  /** DoT/DoH session ticket keys given to every worker (restarted ones too), for the primary's lifetime. */
  private readonly ticketKeys = randomBytes(48);
  /** Settles the start: first failure or all ready. */
  private startWaiter?: { ok(): void; fail(e: Error): void };

  constructor(private readonly file: string, private readonly loaded: LoadedConfig) {
    const cfg = loaded.config;
    this.logger = pino({ level: cfg.log.level, base: { svc: 'verdict', role: 'primary' } });
    this.slots = Array.from({ length: cfg.server.workers }, (_, index) => ({ index, ready: false, startedAt: 0, restarts: 0, crashes: 0 }));
    this.upGauge = new Gauge({ name: 'verdict_cluster_workers_ready', help: 'Worker processes serving queries (server.workers).', registers: [this.own], collect: () => this.upGauge.set(this.slots.filter((s) => s.ready).length) });
    this.restartCounter = new Counter({ name: 'verdict_cluster_worker_restarts_total', help: 'Worker processes restarted after they exited unexpectedly.', registers: [this.own] });
  }

  /** Fork every worker; resolve when all serve, or stop them all and reject if one cannot start. */
  async start(): Promise<void> {
    cluster.on('message', (worker, m: ToPrimary) => this.onMessage(worker, m));
    const all = new Promise<void>((ok, fail) => { this.startWaiter = { ok, fail }; });
    const timer = setTimeout(() => this.startWaiter?.fail(new Error(`workers not ready after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    for (const s of this.slots) this.fork(s);
    try {
      await all;
    } catch (e) {
      await this.stopWorkers();
      throw e;
    } finally {
      clearTimeout(timer);
      this.startWaiter = undefined;
    }
    this.started = true;
    const cfg = this.loaded.config;
    if (cfg.control.enabled) {
      this.control = new ControlServer(resolve(this.loaded.baseDir, cfg.control.socket), this.controlHandlers());
      await this.control.start();
    }
    if (cfg.metrics.listen) {
      this.metricsServer = new MetricsServer({
        registry: {
          contentType: this.aggregator.contentType,
          metrics: async () => (await this.aggregator.clusterMetrics()) + '\n' + (await this.own.metrics()),
        },
      }, this);
      const at = await this.metricsServer.start(parseEndpoint(cfg.metrics.listen, 9153));
      this.logger.info({ metrics: at }, 'metrics listening');
    }
    this.logger.info({ workers: this.slots.map((s) => s.worker?.process.pid) }, 'cluster listening');
  }

  ready(): { ready: boolean; reason?: string } {
    const down = this.slots.filter((s) => !s.ready).map((s) => s.index);
    return down.length ? { ready: false, reason: `worker(s) ${down.join(', ')} not serving` } : { ready: true };
  }

  private fork(s: Slot): void {
    s.timer = undefined;
    s.ready = false;
    s.startedAt = Date.now();
    const w = cluster.fork({ [INDEX_ENV]: String(s.index), [TICKET_KEYS_ENV]: this.ticketKeys.toString('hex') });
    s.worker = w;
    w.on('exit', (code, signal) => this.onExit(s, w, code, signal));
  }

  private onMessage(w: Worker, m: ToPrimary): void {
    if (!m || typeof m !== 'object' || !('verdict' in m)) return; // prom-client's own messages
    const s = this.slots.find((x) => x.worker === w);
    if (!s) return;
    switch (m.verdict) {
      case 'ready':
        s.ready = true;
        this.logger.info({ worker: s.index, pid: w.process.pid }, s.restarts ? 'worker restarted and serving' : 'worker serving');
        if (this.startWaiter && this.slots.every((x) => x.ready)) this.startWaiter.ok();
        break;
      case 'start-failed':
        this.logger.error({ worker: s.index, pid: w.process.pid, err: m.error }, 'worker could not start');
        this.startWaiter?.fail(new Error(m.error));
        break;
      case 'res': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.ok) p.resolve(m.body);
        else p.reject(new Error(m.error ?? 'failed'));
        break;
      }
      case 'notify':
        // One worker got the NOTIFY datagram; every other worker refreshes too.
        for (const o of this.slots) {
          if (o !== s && o.ready) this.request(o, 'notify', [m.zone, m.from]).catch(() => undefined);
        }
        break;
    }
  }

  private onExit(s: Slot, w: Worker, code: number | null, signal: string | null): void {
    if (s.worker !== w) return;
    s.worker = undefined;
    s.ready = false;
    for (const [id, p] of this.pending) {
      if (p.index !== s.index) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new Error(`worker exited (code ${code}, signal ${signal})`));
    }
    if (this.stopping) return;
    if (!this.started) {
      this.startWaiter?.fail(new Error(`worker ${s.index} exited while starting (code ${code}, signal ${signal})`));
      return;
    }
    s.crashes = Date.now() - s.startedAt > STABLE_MS ? 1 : s.crashes + 1;
    s.restarts++;
    this.restartCounter.inc();
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (s.crashes - 1));
    this.logger.error({ worker: s.index, pid: w.process.pid, code, signal, restart_in_ms: delay, crashes_in_a_row: s.crashes }, 'worker exited unexpectedly; restarting');
    s.timer = setTimeout(() => this.fork(s), delay);
  }

  /** One command to one worker, answered or failed within its timeout. */
  private request(s: Slot, cmd: string, args: string[] = []): Promise<unknown> {
    const w = s.worker;
    if (!w || !s.ready || !w.isConnected()) return Promise.reject(new Error('not running (restarting)'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const ms = REQUEST_TIMEOUT_MS[cmd] ?? DEFAULT_TIMEOUT_MS;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer to ${cmd} within ${ms} ms`));
      }, ms);
      this.pending.set(id, { index: s.index, resolve, reject, timer });
      const msg: ToWorker = { verdict: 'req', id, cmd, args };
      w.send(msg, undefined, (err) => {
        if (!err) return;
        this.pending.delete(id);
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** The command to every worker, in parallel; one result per worker, in index order. */
  broadcast(cmd: string, args: string[] = []): Promise<WorkerResult[]> {
    return Promise.all(this.slots.map(async (s) => {
      const pid = s.worker?.process.pid;
      try {
        const body = await this.request(s, cmd, args);
        return { worker: s.index, ...(pid !== undefined ? { pid } : {}), ok: true, body };
      } catch (e) {
        return { worker: s.index, ...(pid !== undefined ? { pid } : {}), ok: false, error: (e as Error).message };
      }
    }));
  }

  /**
   * Reload every worker (serialised). Resolves with each worker's result;
   * `ok` only when every worker reloaded and every zone of each built.
   */
  reload(): Promise<{ ok: boolean; workers: WorkerResult[]; error?: string }> {
    const run = this.chain.then(async () => {
      let next: LoadedConfig;
      try {
        next = loadConfig(this.file); // a config that does not parse never reaches the workers
      } catch (e) {
        return { ok: false, workers: [], error: (e as Error).message };
      }
      // Compared with what the workers were started with: these need a restart of the primary.
      const was = this.loaded.config;
      const restartOnly = [
        ...(['workers', 'listen', 'dot_listen', 'doh_listen'] as const).filter((k) => JSON.stringify(next.config.server[k]) !== JSON.stringify(was.server[k])).map((k) => `server.${k}`),
        ...(['control', 'metrics'] as const).filter((k) => JSON.stringify(next.config[k]) !== JSON.stringify(was[k])),
      ];
      if (restartOnly.length) this.logger.warn({ keys: restartOnly }, 'these settings change only at a restart');
      const workers = await this.broadcast('reload');
      for (const r of workers) {
        const b = r.body as { ok: boolean; zones: ZoneStatus[] } | undefined;
        if (r.ok && b && !b.ok) {
          r.ok = false;
          r.error = b.zones.filter((z) => !z.ok).map((z) => `${z.zone}: ${z.error ?? 'not loaded'}`).join('; ');
        }
      }
      const ok = workers.every((r) => r.ok);
      return { ok, workers };
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private failures(rs: WorkerResult[]): string {
    return rs.filter((r) => !r.ok).map((r) => `worker ${r.worker}${r.pid ? ` (pid ${r.pid})` : ''}: ${r.error}`).join('; ');
  }

  /** `verdict ctl` against the primary: answered from one worker, or all. */
  controlHandlers(): { [command: string]: ControlHandler } {
    return {
      status: async () => {
        const rs = await this.broadcast('status');
        return {
          uptime_seconds: Math.round(process.uptime()),
          config: this.loaded.file,
          pid: process.pid,
          workers: rs.map((r) => ({ ...(r.ok ? r.body as object : { worker: r.worker, pid: r.pid, error: r.error }), restarts: this.slots[r.worker]!.restarts })),
        };
      },
      reload: async () => {
        const r = await this.reload();
        if (!r.ok) throw new Error(r.error ?? `reload failed on ${r.workers.filter((w) => !w.ok).length} of ${r.workers.length} workers (those keep their previous policy): ${this.failures(r.workers)}`);
        return { reloaded: true, workers: r.workers.map((w) => ({ worker: w.worker, pid: w.pid, ms: (w.body as { ms: number }).ms })), zones: (r.workers[0]!.body as { zones: ZoneStatus[] }).zones };
      },
      flush: async (args) => {
        const rs = await this.broadcast('flush', args);
        if (rs.some((r) => !r.ok)) throw new Error(`flush failed: ${this.failures(rs)}`);
        return { flushed: args[0] ?? 'all', records: rs.reduce((n, r) => n + ((r.body as { records: number }).records ?? 0), 0), workers: rs.length };
      },
      zones: async () => {
        const rs = await this.broadcast('zones');
        const first = rs.find((r) => r.ok);
        if (!first) throw new Error(`no worker answered: ${this.failures(rs)}`);
        const summary = (r: WorkerResult) => JSON.stringify((r.body as { zones: ZoneStatus[] }).zones.map((z) => [z.zone, z.serial, z.rules, z.ok, z.enforced]));
        const same = rs.every((r) => r.ok && summary(r) === summary(first));
        return {
          ...(first.body as object),
          // Workers hold their own copy of each zone: say when they differ (a reload or transfer under way, or failed on one).
          workers_agree: same,
          ...(same ? {} : { per_worker: rs.map((r) => (r.ok ? { worker: r.worker, pid: r.pid, zones: (r.body as { zones: ZoneStatus[] }).zones } : { worker: r.worker, error: r.error })) }),
        };
      },
      mirrors: (args) => this.request(this.slots[0]!, 'mirrors', args), // worker 0 alone runs the mirror watch
      transfer: async (args) => {
        if (!args[0]) throw new Error('usage: transfer ZONE');
        const rs = await this.broadcast('transfer', args);
        if (rs.some((r) => !r.ok)) throw new Error(`transfer failed: ${this.failures(rs)}`);
        return { ...(rs[0]!.body as object), workers: rs.map((r) => ({ worker: r.worker, pid: r.pid, serial: (r.body as ZoneStatus).serial })) };
      },
    };
  }

  /** Ask every worker to drain and exit; kill those still there after STOP_TIMEOUT_MS. True when all exited 0. */
  private async stopWorkers(): Promise<boolean> {
    this.stopping = true;
    for (const s of this.slots) clearTimeout(s.timer);
    const slots = this.slots.filter((s) => s.worker !== undefined && s.worker.process.exitCode === null && s.worker.process.signalCode === null);
    const live = slots.map((s) => s.worker!);
    const exits = live.map((w) => new Promise<number | null>((r) => {
      if (w.process.exitCode !== null) return r(w.process.exitCode);
      w.once('exit', (code) => r(code));
    }));
    for (const s of slots) {
      const w = s.worker!;
      try {
        // A serving worker drains; one still starting has no handler yet and SIGTERM ends it at once.
        if (s.ready && w.isConnected()) w.send({ verdict: 'stop' } satisfies ToWorker);
        else w.process.kill('SIGTERM');
      } catch {
        w.process.kill('SIGTERM');
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.all(exits).then(() => false),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(true), STOP_TIMEOUT_MS); }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      for (const w of live) {
        if (w.process.exitCode === null && w.process.signalCode === null) {
          this.logger.error({ pid: w.process.pid }, 'worker did not drain in time; killed');
          w.process.kill('SIGKILL');
        }
      }
    }
    const codes = await Promise.all(exits);
    return !timedOut && codes.every((c) => c === 0);
  }

  /** Stop the control socket and /metrics, then drain every worker. */
  async stop(): Promise<boolean> {
    this.stopping = true;
    await this.control?.stop();
    await this.metricsServer?.stop();
    const clean = await this.stopWorkers();
    this.logger.info({ clean }, 'verdict stopped');
    return clean;
  }
}

/** `verdict serve` with server.workers > 1, in the primary: runs until SIGTERM / SIGINT. */
export async function runPrimary(file: string, loaded: LoadedConfig): Promise<number> {
  const primary = new ClusterPrimary(file, loaded);
  await primary.start();
  return new Promise<number>((done) => {
    const shutdown = (sig: string) => {
      primary.logger.info({ signal: sig }, 'draining every worker');
      primary.stop().then((clean) => done(clean ? 0 : 1), () => done(1));
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGHUP', () => {
      primary.reload().then((r) => {
        if (r.ok) primary.logger.info({ workers: r.workers.map((w) => ({ worker: w.worker, pid: w.pid, ms: (w.body as { ms: number }).ms })) }, 'configuration reloaded on every worker');
        else primary.logger.error({ err: r.error, workers: r.workers.filter((w) => !w.ok).map((w) => ({ worker: w.worker, pid: w.pid, err: w.error })) }, 'reload failed; those workers keep their previous configuration');
      }, (e: Error) => primary.logger.error({ err: e.message }, 'reload failed'));
    });
  });
}
