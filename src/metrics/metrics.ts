/**
 * Prometheus metrics (prom-client). Naming follows Prometheus conventions:
 * `verdict_` prefix, `_total` counters, base units (`_seconds`, `_bytes`).
 * Labels never carry a query name nor a client address (unbounded cardinality,
 * and privacy); qtype is a fixed list plus "other".
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { rcodeToText, Type, typeToText } from '../dns/constants.js';

const QTYPES = new Set<number>([Type.A, Type.AAAA, Type.CNAME, Type.MX, Type.TXT, Type.NS, Type.SOA, Type.PTR, Type.SRV, Type.HTTPS, Type.SVCB, Type.DS, Type.DNSKEY, Type.ANY, Type.CAA, Type.NAPTR]);

export function qtypeLabel(t: number): string {
  return QTYPES.has(t) ? typeToText(t) : 'other';
}

export class Metrics {
  readonly registry = new Registry();
  readonly queries: Counter<'qtype' | 'rcode' | 'transport'>;
  readonly dropped: Counter<'reason'>;
  readonly latency: Histogram<'source'>;
  readonly cacheHits: Counter;
  readonly fastAnswers: Counter;
  readonly cacheMisses: Counter;
  readonly cacheEntries: Gauge;
  readonly cacheBytes: Gauge<'cache'>;
  readonly udpIo: Gauge<'impl'>;
  readonly staleAnswers: Counter;
  readonly upstreamQueries: Counter;
  readonly upstreamTimeouts: Counter;
  readonly upstreamMismatched: Counter;
  readonly upstreamRtt: Histogram;
  readonly rpzHits: Counter<'zone' | 'trigger' | 'action'>;
  readonly rpzRules: Gauge<'zone'>;
  readonly rpzSerial: Gauge<'zone'>;
  readonly rpzLastLoad: Gauge<'zone'>;
  readonly rpzLoadSuccess: Gauge<'zone'>;
  readonly rpzSkipped: Gauge<'zone'>;
  readonly orderBlocked: Counter<'order'>;
  readonly orderActiveRules: Gauge<'order'>;
  readonly orderExpiry: Gauge<'order'>;
  readonly transfers: Counter<'zone' | 'kind' | 'result'>;
  readonly transfersServed: Counter<'kind' | 'result'>;
  readonly zoneStoreFailures: Counter<'zone'>;
  /** Automated entries held by the safeguards, awaiting a person's decision (alert on > 0). */
  readonly ordersHeld: Gauge<'order'>;
  readonly startupGate: Counter<'outcome'>;
  readonly dnssecValidations: Counter<'result' | 'reason'>;
  readonly aggressiveNsec: Counter<'kind'>;
  readonly localAnswers: Counter<'zone'>;
  readonly forwardedQueries: Counter<'zone'>;
  readonly stubQueries: Counter<'zone'>;
  readonly tlsConnections: Counter<'transport' | 'resumed'>;
  readonly tlsHandshakeFailures: Counter<'transport'>;
  readonly tlsCertExpiry: Gauge<'file'>;
  /** The DoT/DoH certificate in use: verdict_tls_certificate_expiry_seconds counts down to its end when scraped. */
  tlsCertificate?: { file: string; notAfter: Date };
  readonly dohResponses: Counter<'status'>;
  private readonly queryChildren = new Map<string, { inc(n?: number): void }>();

  constructor() {
    // Gauges of state every cluster worker holds alike (rules, serials, orders) are aggregated
    // by a cluster primary with min/max, not summed (server.workers > 1; src/resolver/cluster.ts).
    const r = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // prom-client names three gauges with a `_total` suffix, which Prometheus reserves for
    // counters (promtool rejects them); drop them so the whole exposition is lint-clean.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }
    this.queries = new Counter({ name: 'verdict_queries_total', help: 'Client queries answered, by query type, response code and transport.', labelNames: ['qtype', 'rcode', 'transport'], registers: r });
    this.dropped = new Counter({ name: 'verdict_queries_dropped_total', help: 'Client packets dropped without an answer.', labelNames: ['reason'], registers: r });
    this.latency = new Histogram({ name: 'verdict_answer_duration_seconds', help: 'Time from a query\'s arrival to its answer, for answers from the pipeline (fast-path answers are counted in verdict_fast_answers_total).', labelNames: ['source'], buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: r });
    this.fastAnswers = new Counter({ name: 'verdict_fast_answers_total', help: 'Answers given from the wire-form cache before the pipeline (not timed in verdict_answer_duration_seconds).', registers: r });
    this.cacheHits = new Counter({ name: 'verdict_cache_hits_total', help: 'Lookups answered from the record cache.', registers: r });
    this.cacheMisses = new Counter({ name: 'verdict_cache_misses_total', help: 'Lookups that needed upstream queries.', registers: r });
    this.staleAnswers = new Counter({ name: 'verdict_stale_answers_total', help: 'Client queries answered from expired cache data (serve-stale, RFC 8767).', registers: r });
    this.dnssecValidations = new Counter({ name: 'verdict_dnssec_validations_total', help: 'DNSSEC verdicts on resolution steps (RRsets and negative answers), by result (secure, insecure, bogus) and, for bogus and noted insecure ones, the Extended DNS Error code.', labelNames: ['result', 'reason'], registers: r });
    this.aggressiveNsec = new Counter({ name: 'verdict_dnssec_aggressive_answers_total', help: 'Negative answers synthesised from cached, validated NSEC records (RFC 8198), by kind (nxdomain, nodata).', labelNames: ['kind'], registers: r });
    // Zone labels come from the config and the built-in table of local zones, never from a query: bounded.
    this.localAnswers = new Counter({ name: 'verdict_local_answers_total', help: 'Resolution steps answered by a locally served zone (RFC 6303, 6761, 7686, 8375), by zone.', labelNames: ['zone'], registers: r });
    this.forwardedQueries = new Counter({ name: 'verdict_forwarded_queries_total', help: 'Queries sent to the forwarders of a forward zone, by zone.', labelNames: ['zone'], registers: r });
    this.stubQueries = new Counter({ name: 'verdict_stub_queries_total', help: 'Queries sent to the servers of a stub zone, by zone.', labelNames: ['zone'], registers: r });
    this.udpIo = new Gauge({ name: 'verdict_udp_io', help: 'UDP I/O of the listeners: impl="recvmmsg" (the batched addon, native/udp) or "dgram" (node:dgram, when the addon is not built, cannot load or is switched off); 1 per process.', labelNames: ['impl'], registers: r });
    this.cacheEntries = new Gauge({ name: 'verdict_cache_entries', help: 'Entries in the record cache.', registers: r });
    this.cacheBytes = new Gauge({ name: 'verdict_cache_bytes', help: 'Bytes the cached entries take (cache.max_bytes counts these): records (RRsets, negative answers) and answers (whole replies).', labelNames: ['cache'], registers: r });
    this.upstreamQueries = new Counter({ name: 'verdict_upstream_queries_total', help: 'Queries sent to authoritative servers.', registers: r });
    this.upstreamTimeouts = new Counter({ name: 'verdict_upstream_timeouts_total', help: 'Upstream queries that timed out.', registers: r });
    this.upstreamMismatched = new Counter({ name: 'verdict_upstream_mismatched_replies_total', help: 'Upstream datagrams ignored because ID, source or question did not match (possible spoofing).', registers: r });
    this.upstreamRtt = new Histogram({ name: 'verdict_upstream_rtt_seconds', help: 'Round-trip time of upstream queries.', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2], registers: r });
    this.rpzHits = new Counter({ name: 'verdict_rpz_hits_total', help: 'Policy rules applied (or logged in log-only mode), by zone, trigger and action.', labelNames: ['zone', 'trigger', 'action'], registers: r });
    this.rpzRules = new Gauge({ name: 'verdict_rpz_rules', help: 'Rules loaded per policy zone.', labelNames: ['zone'], registers: r, aggregator: 'min' });
    this.rpzSerial = new Gauge({ name: 'verdict_rpz_zone_serial', help: 'SOA serial of the policy zone in use.', labelNames: ['zone'], registers: r, aggregator: 'min' });
    this.rpzLastLoad = new Gauge({ name: 'verdict_rpz_zone_last_load_timestamp_seconds', help: 'When the policy zone was last (re)loaded successfully.', labelNames: ['zone'], registers: r, aggregator: 'min' });
    this.rpzLoadSuccess = new Gauge({ name: 'verdict_rpz_zone_load_success', help: '1 if the last load of the policy zone succeeded, 0 if it failed (the previous version keeps serving).', labelNames: ['zone'], registers: r, aggregator: 'min' });
    this.rpzSkipped = new Gauge({ name: 'verdict_rpz_zone_skipped_rules', help: 'Bad rules skipped in lenient zones at the last load.', labelNames: ['zone'], registers: r, aggregator: 'max' });
    this.orderBlocked = new Counter({ name: 'verdict_order_blocked_total', help: 'Answers blocked under each court order.', labelNames: ['order'], registers: r });
    this.orderActiveRules = new Gauge({ name: 'verdict_order_active_rules', help: 'Rules in force for each court order now.', labelNames: ['order'], registers: r, aggregator: 'min' });
    this.orderExpiry = new Gauge({ name: 'verdict_order_expiry_seconds', help: 'Seconds until each court order lapses (negative once expired).', labelNames: ['order'], registers: r, aggregator: 'min' });
    // No zone label: the name comes from the request, and refused requests name any zone they like.
    this.transfersServed = new Counter({ name: 'verdict_zone_transfers_served_total', help: 'AXFR/IXFR requests to this server, by kind and result (axfr, ixfr, ixfr-uptodate, ixfr-axfr, ixfr-udp; refused, notauth, formerr).', labelNames: ['kind', 'result'], registers: r });
    this.transfers = new Counter({ name: 'verdict_zone_transfers_total', help: 'Zone transfers, by zone, kind (axfr, ixfr) and result.', labelNames: ['zone', 'kind', 'result'], registers: r });
    this.ordersHeld = new Gauge({ name: 'verdict_orders_held_entries', help: 'Entries of regulator requests and feeds held by the safeguards (protected list, impact check) until a person confirms or rejects them.', labelNames: ['order'], registers: r, aggregator: 'max' });
    this.zoneStoreFailures = new Counter({ name: 'verdict_zone_store_failures_total', help: 'Transferred zones that could not be saved to transfer.state_dir (disk full...): served from memory, the previous copy kept on disk.', labelNames: ['zone'], registers: r });
    this.tlsConnections = new Counter({ name: 'verdict_tls_connections_total', help: 'DoT and DoH connections whose TLS handshake completed, by transport (dot, doh) and whether the TLS session was resumed.', labelNames: ['transport', 'resumed'], registers: r });
    this.tlsHandshakeFailures = new Counter({ name: 'verdict_tls_handshake_failures_total', help: 'DoT and DoH connections closed before their TLS handshake completed (garbage, a timeout, no common protocol).', labelNames: ['transport'], registers: r });
    const metrics = this;
    this.tlsCertExpiry = new Gauge({
      name: 'verdict_tls_certificate_expiry_seconds', help: 'Seconds until the DoT/DoH certificate (server.tls.cert_file) expires; renew and reload before it reaches 0.', labelNames: ['file'], registers: r, aggregator: 'min',
      collect() {
        const c = metrics.tlsCertificate;
        this.reset();
        if (c) this.labels(c.file).set(Math.floor((c.notAfter.getTime() - Date.now()) / 1000));
      },
    });
    this.dohResponses = new Counter({ name: 'verdict_doh_responses_total', help: 'DoH requests by HTTP status sent (200, 400, 404, 405, 408, 413, 415; 0: stream reset, the policy dropped the query).', labelNames: ['status'], registers: r });
    this.startupGate = new Counter({ name: 'verdict_startup_gate_queries_total', help: 'Queries that arrived before the policy was loaded, by outcome: released (held, then answered with the policy), timeout, full, servfail or shut (SERVFAIL, EDE 14).', labelNames: ['outcome'], registers: r });
  }

  /** Count answered queries (one by default); label children are bound once and reused. */
  countQuery(qtype: number, rcode: number, transport: string, n = 1): void {
    const k = `${qtype}/${rcode}/${transport}`;
    let c = this.queryChildren.get(k);
    if (!c) {
      c = this.queries.labels(qtypeLabel(qtype), rcodeToText(rcode), transport);
      if (this.queryChildren.size < 4096) this.queryChildren.set(k, c);
    }
    c.inc(n);
  }
}
