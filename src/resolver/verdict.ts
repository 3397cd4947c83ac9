/**
 * One running Verdict: config -> listeners, pipeline, iterator, cache.
 * `reload()` rebuilds what the config describes off the hot path and swaps it
 * whole; `stop()` drains.
 */
import pino from 'pino';
import { resolve } from 'node:path';
import { ControlServer } from '../control/server.js';
import type { ControlHandler } from '../control/server.js';
import { loadConfig } from '../config/load.js';
import { Ede, Type } from '../dns/constants.js';
import { nameFromText, namesEqual, nameKey, nameToText } from '../dns/name.js';
import { TrafficStats } from '../rpz/orders/traffic.js';
import { ordersControlHandlers } from '../rpz/orders/control.js';
import { rdataToText } from '../dns/rdata.js';
import type { Logger } from 'pino';
import { parseEndpoint } from '../config/endpoint.js';
import type { LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Name } from '../dns/name.js';
import { AccessList } from './acl.js';
import { ResolverCache } from './cache/cache.js';
import { AnswerCache } from './cache/answers.js';
import { AnswerCacheStage } from './stages/answer-cache.js';
import { AnyStage } from './stages/any.js';
import { Iterator } from './iterator/iterator.js';
import type { RootHint } from './iterator/iterator.js';
import { Pipeline } from './pipeline.js';
import { FastPath, fromFastCountKey } from './fastpath.js';
import { IANA_ROOT_HINTS, rootHintsFromFile } from './roothints.js';
import { ServerSelection } from './selection.js';
import { RateLimiter } from './ratelimit.js';
import { DnsServer } from './server.js';
import { AccessStage } from './stages/access.js';
import { DecodeStage } from './stages/decode.js';
import { ResolveStage } from './stages/resolve.js';
import { RespondStage } from './stages/respond.js';
import { StartupGate } from './stages/startup-gate.js';
import { NetTransport } from './transport.js';
import { routesFromConfig } from './routes.js';
import type { ZoneRoutes } from './routes.js';
import { Metrics } from '../metrics/metrics.js';
import { MetricsServer } from '../metrics/http.js';
import type { Page } from '../metrics/http.js';
import { gatherReport } from '../rpz/orders/transparency-sources.js';
import { transparencyHtml } from '../rpz/orders/transparency-html.js';
import type { TransparencyReport } from '../rpz/orders/transparency.js';
import type { RequestContext } from './context.js';
import { PolicyManager } from '../rpz/manager.js';
import type { PolicyHit } from '../rpz/policy.js';
import { PolicyBeforeStage } from './stages/policy-before.js';
import { PolicyAfterStage } from './stages/policy-after.js';
import { TransferStage, ZonePublisher } from '../rpz/transfer/primary.js';
import { keyringFromConfig, notifyTargets, transferKey } from '../rpz/transfer/setup.js';
import { logAddress } from './privacy.js';
import { MirrorFeed } from './mirror-feed.js';
import type { Transport } from './transport.js';
import { buildDnssec } from './dnssec-setup.js';
import { EncryptedListeners } from './encrypted/listeners.js';
import { DdrStage } from './stages/ddr.js';
import type { DdrEndpoint } from './stages/ddr.js';
import type { DnssecSetup } from './dnssec-setup.js';

export interface VerdictDeps {
  /** Injected network (tests); default: real sockets. */
  transport?: Transport;
  now?: () => number;
  logger?: Logger;
  rootHints?: RootHint[];
  /** The clock court orders are judged by (tests move it); default: orders.clock or now. */
  orderClock?: () => Date;
  /** A NOTIFY for one of our secondary zones was accepted (a cluster worker tells the others). */
  onNotify?: (zone: Name, from: string) => void;
  /** TLS session ticket keys (48 bytes) for DoT/DoH: a cluster primary gives every worker the same. */
  tlsTicketKeys?: Buffer;
}

function limiter(cfg: Config, now: () => number = Date.now): RateLimiter | undefined {
  const r = cfg.server.rate_limit;
  return r.qps > 0 ? new RateLimiter(r.qps, r.burst, now) : undefined;
}

export class Verdict {
  readonly logger: Logger;
  readonly cache: ResolverCache;
  readonly answers: AnswerCache;
  readonly iterator: Iterator;
  readonly transport: Transport;
  private pipeline: Pipeline;
  private readonly access: AccessStage;
  private readonly resolveStage: ResolveStage;
  /** Holds or refuses queries until the configured policy is loaded (rpz.startup). */
  readonly gate: StartupGate;
  private readonly fastPath: FastPath;
  readonly server: DnsServer;
  /** DoT and DoH listeners (server.dot_listen, server.doh_listen), feeding `server`. */
  readonly encrypted: EncryptedListeners;
  readonly metrics = new Metrics();
  private metricsServer?: MetricsServer;
  private control?: ControlServer;
  private listening = false;
  readonly policy: PolicyManager;
  /** Mirror watch (docs/MIRRORS.md): reads answers, never changes one. */
  readonly mirrors?: MirrorFeed;
  readonly publisher: ZonePublisher;
  /** Last values of plain counters already pushed to Prometheus counters. */
  private synced = { hits: 0, misses: 0, upstream: 0, timeouts: 0, mismatched: 0, fast: 0 };
  private readonly notified: VerdictDeps['onNotify'];
  /** Trust anchors and the validator (absent with dnssec.validation: false). */
  readonly dnssec?: DnssecSetup;
  /** Last 24 h of traffic, bounded, no client address (the safeguards' impact check, issue 16). */
  readonly traffic?: TrafficStats;

  constructor(private loaded: LoadedConfig, deps: VerdictDeps = {}) {
    const cfg = loaded.config;
    this.logger = deps.logger ?? pino({ level: cfg.log.level, base: { svc: 'verdict' } });
    const now = deps.now ?? Date.now;
    this.notified = deps.onNotify;
    const r = cfg.resolver;
    const stale = r.serve_stale;
    const entries = cfg.cache.max_entries;
    this.cache = new ResolverCache({
      maxBytes: Math.floor(cfg.cache.max_bytes * 0.75), ...(entries ? { maxEntries: entries } : {}), maxTtl: cfg.cache.max_ttl, maxNegativeTtl: cfg.cache.max_negative_ttl, now,
      ...(stale.enabled ? { maxStaleTtl: stale.max_stale_ttl } : {}),
    });
    this.answers = new AnswerCache({ maxBytes: Math.floor(cfg.cache.max_bytes / 4), ...(entries ? { maxEntries: Math.max(100, Math.floor(entries / 4)) } : {}) }, now);
    this.transport = deps.transport ?? new NetTransport(cfg.resolver.edns_udp_size, { size: cfg.resolver.outgoing.sockets, usesPerSocket: cfg.resolver.outgoing.uses_per_socket });
    const routes = routesFromConfig(cfg, loaded.baseDir);
    if (cfg.dnssec.validation) {
      this.dnssec = buildDnssec(loaded, {
        now,
        fetch: (name, type, budget, validate) => this.iterator.fetchForValidator(name, type, budget, validate),
        privateZone: (zone) => {
          const r = this.iterator.zoneRoutes.route(zone);
          return r !== undefined && namesEqual(r.zone, zone);
        },
        metrics: this.metrics,
        logger: this.logger,
      });
    }
    this.iterator = new Iterator({
      rootHints: deps.rootHints ?? r.root_hints ?? (r.root_hints_file ? rootHintsFromFile(resolve(loaded.baseDir, r.root_hints_file)) : IANA_ROOT_HINTS),
      qnameMinimisation: r.qname_minimisation,
      upstreamTimeoutMs: r.upstream_timeout_ms,
      maxQueries: r.max_queries,
      maxDepth: r.max_depth,
      maxCnameHops: r.max_cname_hops,
      queryTimeoutMs: r.query_timeout_ms,
      maxNsPerReferral: r.max_ns_per_referral,
      maxNsLookups: r.max_ns_lookups,
      routes,
      onRoute: (kind, zone) => (kind === 'local' ? this.metrics.localAnswers : kind === 'forward' ? this.metrics.forwardedQueries : this.metrics.stubQueries).labels(zone).inc(),
      ...(stale.enabled ? { serveStale: { answerTtl: stale.stale_answer_ttl, clientTimeoutMs: stale.client_timeout_ms, failureRecheckMs: stale.failure_recheck_s * 1000 } } : {}),
      ...(this.dnssec ? {
        dnssec: {
          validator: this.dnssec.validator, bogusTtl: cfg.dnssec.bogus_ttl,
          maxValidations: cfg.dnssec.max_validations_per_query, maxNsec3Hashes: cfg.dnssec.max_nsec3_hashes_per_query,
          ...(this.dnssec.gaps ? { gaps: this.dnssec.gaps, onAggressive: (kind: 'nxdomain' | 'nodata') => this.metrics.aggressiveNsec.labels(kind).inc() } : {}),
        },
      } : {}),
    }, this.transport, this.cache, new ServerSelection(now), now);
    this.access = new AccessStage(new AccessList(cfg.server.allow), limiter(cfg, now), cfg.server.rate_limit.limit_loopback);
    this.resolveStage = new ResolveStage(this.iterator, cfg.resolver.max_concurrent);
    this.publisher = new ZonePublisher({
      ...(cfg.transfer.ixfr_history !== undefined ? { historySize: cfg.transfer.ixfr_history } : {}),
      notify: notifyTargets(cfg),
      onNotifyResult: (zone, outcomes) => this.logger.info({ zone: nameToText(zone.name), serial: zone.serial, outcomes }, 'NOTIFY sent'),
    });
    if (cfg.orders.safeguards.traffic_stats) this.traffic = new TrafficStats({ now });
    this.policy = new PolicyManager(loaded, {
      logger: this.logger,
      ...(this.traffic ? { traffic: this.traffic } : {}),
      metrics: this.metrics,
      publisher: this.publisher,
      ...(deps.orderClock ? { orderClock: deps.orderClock } : {}),
      // A new policy makes stored answers stale: they were checked against the old one.
      onSwap: () => {
        this.answers.clear();
        this.mirrors?.refreshBlocked();
      },
    });
    if (cfg.mirrors.enabled) {
      this.mirrors = new MirrorFeed(loaded, {
        logger: this.logger,
        registry: this.metrics.registry,
        delegations: (name) => this.iterator.delegations(name),
        orders: () => ({ orders: this.policy.orders, now: this.policy.orderNow() }),
      });
    }
    const startup = cfg.rpz.startup;
    this.gate = new StartupGate({
      mode: startup.mode, waitMs: startup.wait_ms, maxWaiting: startup.max_waiting,
      onOutcome: (outcome) => this.metrics.startupGate.labels(outcome).inc(),
    });
    this.pipeline = this.buildPipeline(cfg);
    this.fastPath = new FastPath({
      answers: this.answers,
      policy: this.policy.current,
      admits: (address, transport) => this.access.admits(address, transport),
      maxUdpSize: cfg.server.max_udp_size,
      ...(this.traffic ? { observe: (key: string, address: string) => this.traffic!.observeQuery(key, address) } : {}),
    });
    this.server = new DnsServer(() => this.pipeline, {
      listen: cfg.server.listen.map((l) => parseEndpoint(l, 53)),
      tcpIdleTimeoutMs: cfg.server.tcp_idle_timeout_ms,
      tcpMaxConnections: cfg.server.tcp_max_connections,
      udpReceiveBuffer: cfg.server.udp_receive_buffer,
      udpIo: cfg.server.udp_io,
      reusePort: cfg.server.workers > 1,
      // A query log needs every query's details: the pipeline alone then answers (restart to change).
      ...(cfg.log.queries ? {} : { fastPath: this.fastPath }),
    }, {
      onError: (err) => this.logger.error({ err }, 'internal error while answering'),
      onAnswer: (ctx, wire) => this.onAnswer(ctx, wire),
    });
    this.encrypted = new EncryptedListeners(loaded, {
      server: this.server, metrics: this.metrics, logger: this.logger,
      ...(deps.tlsTicketKeys ? { ticketKeys: deps.tlsTicketKeys } : {}),
    });
  }

  /** What `_dns.resolver.arpa SVCB` names (RFC 9462): the configured names, the listeners' bound ports and addresses. */
  private ddrEndpoints(): DdrEndpoint[] {
    const ddr = this.config.server.ddr;
    if (!ddr) return [];
    const bound = this.encrypted?.addresses ?? [];
    const out: DdrEndpoint[] = [];
    const add = (name: string | undefined, transport: 'dot' | 'doh', priority: number, extra: Partial<DdrEndpoint>) => {
      const at = bound.filter((a) => a.transport === transport);
      if (!name || !at.length) return;
      out.push({ priority, target: nameFromText(name.endsWith('.') ? name : name + '.'), alpn: [], port: at[0]!.port, addresses: [...new Set(at.map((a) => a.address))], ...extra });
    };
    add(ddr.dot_name, 'dot', 1, { alpn: ['dot'] });
    add(ddr.doh_name, 'doh', 2, { alpn: ['h2'], dohpath: `${this.config.server.doh_path}{?dns}` });
    return out;
  }

  get config(): Config {
    return this.loaded.config;
  }

  /** The request path (DESIGN.md), in one place. */
  private buildPipeline(cfg: Config): Pipeline {
    const ring = keyringFromConfig(cfg);
    const policyOptions = {
      qnameWaitRecurse: cfg.rpz.qname_wait_recurse,
      maxPolicyTtl: cfg.rpz.max_policy_ttl,
      onHit: (ctx: RequestContext, hit: PolicyHit) => this.onPolicyHit(ctx, hit),
      resolve: (name: Name, type: number) => this.iterator.resolve(name, type, this.iterator.newBudget(), false),
      // Unlike BIND's recursive-only default, RD=0 queries are filtered too: a cached
      // answer for a blocked name must not leak by cache snooping (docs/RPZ-BIND.md).
      recursiveOnly: false,
      udpSize: cfg.server.max_udp_size,
    };
    return new Pipeline([
      new DecodeStage(cfg.server.max_udp_size, true),
      new TransferStage({
        publisher: this.publisher,
        allow: new AccessList(cfg.transfer.allow),
        keys: ring,
        ...(transferKey(cfg, ring) ? { requireTsig: transferKey(cfg, ring)!.name } : {}),
        onTransfer: (_zone, kind, result) => this.metrics.transfersServed.labels(kind, result).inc(),
        onNotify: (zone, from) => {
          const accepted = this.policy.notify(zone, from);
          if (accepted) this.notified?.(zone, from);
          return accepted;
        },
      }),
      this.access,
      // Nothing past this point before the policy is loaded: never fail open.
      this.gate,
      new PolicyBeforeStage(this.policy.current, policyOptions),
      // resolver.arpa is answered here, never sent upstream (RFC 9462 8).
      new DdrStage(() => this.ddrEndpoints(), cfg.server.ddr?.ttl ?? 300, cfg.server.max_udp_size),
      new AnyStage(),
      new AnswerCacheStage(this.answers),
      this.resolveStage,
      new PolicyAfterStage(this.policy.current, {
        ...policyOptions,
        delegations: (name) => this.iterator.delegations(name),
        breakDnssec: cfg.rpz.break_dnssec,
        overridesDnssec: (hit: PolicyHit) => this.policy.isOrdersZone(hit.zone),
      }),
      new RespondStage(cfg.server.max_udp_size, this.answers),
    ]);
  }

  /** The transparency report with the live counts (metrics.transparency; docs/TRANSPARENCY.md). */
  async transparencyReport(): Promise<TransparencyReport> {
    return gatherReport({
      config: this.config,
      baseDir: this.loaded.baseDir,
      orders: this.policy.orders,
      now: this.policy.orderNow(),
      live: { pending: this.policy.blocked.peek(), sinceStart: this.policy.blocked.sinceStart },
      ...(this.mirrors ? { mirrors: this.mirrors.snapshot() } : {}),
    });
  }

  private transparencyPages(): Record<string, Page> {
    return {
      '/transparency': async () => ({ type: 'text/html; charset=utf-8', body: transparencyHtml(await this.transparencyReport(), { jsonHref: '/transparency.json' }) }),
      '/transparency.json': async () => ({ type: 'application/json', body: JSON.stringify(await this.transparencyReport(), null, 2) + '\n' }),
    };
  }

  /** Metrics and the policy-hit log (the client address only as the config allows). */
  private onPolicyHit(ctx: RequestContext, hit: PolicyHit): void {
    const action = hit.logOnly ? 'log-only' : hit.action.kind;
    this.metrics.rpzHits.labels(hit.zone.label, hit.rule.trigger, action).inc();
    const orders = this.policy.ordersBehind(hit.zone, hit.rule.ownerKey)?.map((r) => r.id);
    if (orders && !hit.logOnly) {
      ctx.notes.orders = orders;
      // The same call feeds /metrics and the transparency report's daily counts: they cannot differ.
      for (const id of orders) this.metrics.orderBlocked.labels(id).inc();
      this.policy.countBlocked(orders);
    }
    const log = this.config.log;
    if (!log.policy_hits) return;
    const q = ctx.query?.questions[0];
    this.logger.info({
      zone: hit.zone.label,
      rule: hit.zone.ruleText(hit.rule),
      trigger: hit.rule.trigger,
      action,
      ...(orders ? { orders } : {}),
      qname: q ? nameToText(q.name) : undefined,
      qtype: q?.type,
      ...(log.client_address !== 'none' ? { client: logAddress(ctx.client.address, log.client_address) } : {}),
    }, 'policy hit');
  }

  private onAnswer(ctx: RequestContext, wire: Buffer | undefined): void {
    this.mirrors?.observe(ctx);
    if (this.traffic) this.observeTraffic(ctx);
    if (!wire) {
      this.metrics.dropped.labels((ctx.notes.dropReason as string | undefined) ?? (ctx.query ? 'policy' : 'malformed')).inc();
      return;
    }
    const rcode = ctx.response?.rcode ?? (wire[3]! & 0xf);
    this.metrics.countQuery(ctx.query?.questions[0]?.type ?? 0, rcode, ctx.channel ?? ctx.transport);
    if (ctx.resolved?.ede?.code === Ede.STALE_ANSWER && !ctx.notes.rewritten) this.metrics.staleAnswers.inc();
    this.metrics.latency.labels(ctx.notes.cache ? 'cache' : ctx.resolved ? 'resolver' : 'direct').observe((performance.now() - ctx.started) / 1000);
    if (this.config.log.queries) {
      this.logger.info({ qname: ctx.query?.questions[0] ? nameToText(ctx.query.questions[0].name) : undefined, qtype: ctx.query?.questions[0]?.type, rcode, transport: ctx.channel ?? ctx.transport }, 'query');
    }
  }

  /** Traffic statistics: the query (name, hashed client) and the addresses its answer led to. */
  private observeTraffic(ctx: RequestContext): void {
    const q = ctx.query?.questions[0];
    if (!q) return;
    this.traffic!.observeQuery(nameKey(q.name), ctx.client.address);
    const r = ctx.resolved;
    if (!r || r.answers.length === 0) return;
    const addresses: string[] = [];
    const names: string[] = [];
    for (const rr of r.answers) {
      if (rr.type === Type.A || rr.type === Type.AAAA) addresses.push(rdataToText(rr.type, rr.rdata));
      else if (rr.type !== Type.CNAME) continue;
      names.push(nameToText(rr.name));
    }
    if (addresses.length) this.traffic!.observeAnswer([...new Set(names)], addresses);
  }

  /** Plain counters kept on the hot path are pushed to Prometheus only when scraped (by this process or a cluster primary). */
  syncCounters(): void {
    const s = this.synced;
    const t = this.transport instanceof NetTransport ? this.transport.stats : undefined;
    const push = (c: { inc(n: number): void }, now: number, key: keyof typeof s) => {
      if (now > s[key]) c.inc(now - s[key]);
      s[key] = now;
    };
    push(this.metrics.cacheHits, this.cache.hits + this.answers.hits, 'hits');
    push(this.metrics.cacheMisses, this.cache.misses, 'misses');
    push(this.metrics.fastAnswers, this.fastPath.answered, 'fast');
    if (t) {
      push(this.metrics.upstreamQueries, t.queries, 'upstream');
      push(this.metrics.upstreamTimeouts, t.timeouts, 'timeouts');
      push(this.metrics.upstreamMismatched, t.mismatched, 'mismatched');
    }
    this.metrics.cacheEntries.set(this.cache.size);
    this.metrics.cacheBytes.labels('records').set(this.cache.bytes);
    this.metrics.cacheBytes.labels('answers').set(this.answers.bytes);
    // Answers from the fast path: counted there as plain numbers, pushed here (and zeroed).
    for (const [k, n] of this.fastPath.counts) {
      const { qtype, rcode, channel } = fromFastCountKey(k);
      this.metrics.countQuery(qtype, rcode, channel, n);
    }
    this.fastPath.counts.clear();
  }

  ready(): { ready: boolean; reason?: string } {
    if (!this.gate.isOpen) return { ready: false, reason: 'policy not loaded yet' };
    return this.listening ? { ready: true } : { ready: false, reason: 'not listening yet' };
  }

  /** Commands of `verdict ctl`. */
  controlHandlers(): { [command: string]: ControlHandler } {
    return {
      status: () => ({
        uptime_seconds: Math.round(process.uptime()),
        listening: [...this.server.addresses, ...this.encrypted.addresses],
        cache: { records: this.cache.size, answers: this.answers.size, hits: this.cache.hits + this.answers.hits, misses: this.cache.misses },
        config: this.loaded.file,
      }),
      reload: async () => {
        await this.reload(loadConfig(this.loaded.file));
        return { reloaded: true, zones: this.policy.status() };
      },
      mirrors: () => {
        if (!this.mirrors) throw new Error('mirror watch is disabled (mirrors.enabled: false)');
        return this.mirrors.snapshot();
      },
      zones: () => ({ zones: this.policy.status(), orders: this.policy.orderStates(), feeds: this.policy.feedStatus() }),
      ...ordersControlHandlers(this.policy),
      transfer: async (args) => {
        if (!args[0]) throw new Error('usage: transfer ZONE');
        return this.policy.transfer(args[0]);
      },
      ...(this.dnssec ? this.dnssec.controlHandlers((name) => {
        // A negative trust anchor changed: what was judged under the old set is judged again.
        this.cache.flush(name);
        this.answers.clear();
      }) : {}),
      flush: (args) => {
        const name = args[0];
        const removed = this.cache.flush(name ? nameFromText(name.endsWith('.') ? name : name + '.') : undefined);
        this.answers.clear();
        return { flushed: name ?? 'all', records: removed };
      },
    };
  }

  /** Once per start: which UDP I/O the listeners run on (log line and verdict_udp_io). */
  private reportUdpIo(): void {
    const io = this.server.udpIo;
    this.metrics.udpIo.reset();
    this.metrics.udpIo.labels(io.impl).set(1);
    if (io.impl === 'recvmmsg') this.logger.info({ udp_io: io.impl }, 'UDP on the batched addon (recvmmsg/sendmmsg)');
    else this.logger.info({ udp_io: io.impl, reason: io.reason }, 'UDP on node:dgram');
  }

  /**
   * No answer leaves unfiltered before the configured policy is loaded (never
   * fail open). With rpz.startup.mode `wait` or `servfail` the listeners open
   * at once and the startup gate holds or refuses queries until every zone has
   * loaded once (or failed); with `closed` they open only then. Resolves once
   * the policy is loaded and the listeners are open; rejects (listeners
   * closed again) when a file zone or the orders cannot be loaded.
   */
  async start(): Promise<void> {
    const mode = this.config.rpz.startup.mode;
    const m = this.config.metrics.listen;
    try {
      if (mode !== 'closed') {
        await this.server.start();
        await this.encrypted.start();
        this.reportUdpIo();
        this.listening = true;
        this.logger.info({ listen: this.server.addresses, mode }, `listening; loading the policy (${mode === 'wait' ? 'queries wait for it' : 'queries get SERVFAIL until then'})`);
      }
      if (m) {
        // Early, so /readyz says "policy not loaded yet" during a long load.
        this.metricsServer = new MetricsServer(this.metrics, this, () => this.syncCounters(), this.config.metrics.transparency ? this.transparencyPages() : {});
        const at = await this.metricsServer.start(parseEndpoint(m, 9153));
        this.logger.info({ metrics: at }, 'metrics listening');
      }
      const started = performance.now();
      await this.policy.start();
      this.gate.open();
      this.logger.info({ ms: Math.round(performance.now() - started), zones: this.policy.status().map((z) => ({ zone: z.zone, enforced: z.enforced })) }, 'policy loaded');
      if (mode === 'closed') {
        await this.server.start();
        await this.encrypted.start();
        this.reportUdpIo();
        this.listening = true;
      }
    } catch (e) {
      this.gate.shut();
      this.listening = false;
      this.policy.stop();
      this.encrypted.close();
      await this.server.stop(0);
      this.encrypted.destroy();
      await this.metricsServer?.stop();
      this.metricsServer = undefined;
      throw e;
    }
    const ctl = this.config.control;
    if (ctl.enabled) {
      this.control = new ControlServer(resolve(this.loaded.baseDir, ctl.socket), this.controlHandlers());
      await this.control.start();
    }
    this.logger.info({ listen: [...this.server.addresses, ...this.encrypted.addresses] }, 'verdict listening');
  }

  get metricsAddress(): { address: string; port: number } | undefined {
    return this.metricsServer?.server?.address() as { address: string; port: number } | undefined;
  }

  /** Apply a new config (listeners and resolver limits need a restart; ACL and policy do not). */
  async reload(next: LoadedConfig): Promise<void> {
    // Build the new pipeline first: a config it cannot use (a bad TSIG key) changes nothing.
    const pipeline = this.buildPipeline(next.config);
    const routes = routesFromConfig(next.config, next.baseDir);
    // The certificate pair first: one that fails its checks (TlsPairError) changes nothing.
    this.encrypted.reload(next);
    await this.policy.reload(next);
    this.swapRoutes(routes);
    this.loaded = next;
    this.access.setAccessList(new AccessList(next.config.server.allow), limiter(next.config), next.config.server.rate_limit.limit_loopback);
    this.pipeline = pipeline;
    this.logger.info('configuration reloaded');
  }

  /**
   * New local, forward and stub zones. Answers stored under the old table may
   * be wrong under the new one: the wire-form answers go, with the records
   * and keys held for the zones that changed.
   */
  private swapRoutes(routes: ZoneRoutes): void {
    const old = this.iterator.zoneRoutes;
    this.iterator.setRoutes(routes);
    if (old.sameRoutes(routes)) return;
    for (const zone of [...old.zoneNames(), ...routes.zoneNames()]) this.cache.flush(zone);
    this.dnssec?.validator.clear();
    this.answers.clear();
    this.logger.info({ forward_zones: routes.routes.filter((r) => r.kind === 'forward').map((r) => r.label), stub_zones: routes.routes.filter((r) => r.kind === 'stub').map((r) => r.label), local_zones: routes.localSize }, 'zone routes changed');
  }

  async stop(): Promise<void> {
    this.listening = false;
    this.gate.shut();
    this.policy.stop();
    this.mirrors?.stop();
    this.encrypted.close();
    await this.server.stop();
    this.encrypted.destroy();
    await this.metricsServer?.stop();
    await this.control?.stop();
    if (this.transport instanceof NetTransport) this.transport.close();
    this.logger.info('verdict stopped');
  }
}
