/**
 * The configuration contract (DESIGN.md "Contract that other tools rely on").
 * Keys are snake_case as operators write them; zod validates and fills defaults.
 * Objects are strict: a misspelt key is an error, never silently ignored.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { nameFromText } from '../dns/name.js';
import { parseEndpoint } from './endpoint.js';

const endpoint = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/, 'expected ADDRESS, ADDRESS:PORT or [IPv6]:PORT');
const cidr = z.string().regex(/^[0-9a-fA-F:.]+(\/[0-9]{1,3})?$/, 'expected an address or CIDR prefix such as 192.0.2.0/24');
/** A size in bytes: a number, or digits with k, m or g (powers of 1024), as Unbound's sizes. */
const byteSize = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const m = typeof v === 'number' ? [String(v), String(v), ''] : /^([0-9]+)([kmg]?)$/i.exec(v);
  const n = m ? Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase()) : NaN;
  if (!Number.isSafeInteger(n)) ctx.addIssue({ code: 'custom', message: `a size: bytes, or a number with k, m or g (got ${JSON.stringify(v)})` });
  else if (n < 65_536) ctx.addIssue({ code: 'custom', message: `at least 64k (got ${n} bytes)` });
  return n;
});

const hint = z.strictObject({ name: z.string(), address: z.string() });
/** A domain name in presentation form (RFC 1035 5.1); without a final dot it is taken as absolute. */
const domainName = z.string().min(1).superRefine((s, ctx) => {
  try {
    nameFromText(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `not a domain name: ${(e as Error).message}` });
  }
});

/** A server of a forward or stub zone: "ADDRESS" or "ADDRESS:PORT", IPv6 in brackets with a port. */
const serverAddress = z.string().superRefine((s, ctx) => {
  try {
    parseEndpoint(s, 53);
  } catch {
    ctx.addIssue({ code: 'custom', message: `not an IP address with an optional port: ${JSON.stringify(s)} (expected 192.0.2.53, 192.0.2.53:5300, 2001:db8::53 or [2001:db8::53]:5300)` });
  }
});

const forwardZone = z.strictObject({
  name: domainName,
  addresses: z.array(serverAddress).min(1),
  /** Resolve from the root when every forwarder fails (BIND's `forward first`); false: SERVFAIL. */
  first: z.boolean().default(false),
  /** DNS over TLS (RFC 7858), port 853 unless given; the certificate is verified. */
  tls: z.boolean().default(false),
  /** The name the forwarders' certificate must carry (absent: their IP address must be in it). */
  tls_name: z.string().min(1).optional(),
  /** PEM file of the CAs that sign the forwarders' certificates (absent: the system's CAs). */
  tls_ca_file: z.string().min(1).optional(),
}).refine((f) => f.tls || (f.tls_name === undefined && f.tls_ca_file === undefined), 'tls_name and tls_ca_file need tls: true');

const stubZone = z.strictObject({
  name: domainName,
  addresses: z.array(serverAddress).min(1),
});

/** Locally served zones (src/resolver/local-zones.ts); `defaults: false` switches every family off. */
const localZones = z.strictObject({
  defaults: z.boolean().default(true),
  reverse: z.boolean().default(true),
  shared_address: z.boolean().default(true),
  localhost: z.boolean().default(true),
  invalid: z.boolean().default(true),
  /** Off by default, unlike Unbound: test. names serve private test setups (RFC 6761 6.2), this project's own included. */
  test: z.boolean().default(false),
  onion: z.boolean().default(true),
  home_arpa: z.boolean().default(true),
});

/** A zone named twice among forward and stub zones is a mistake, not a precedence rule. */
function uniqueZones(r: { forward_zones: { name: string }[]; stub_zones: { name: string }[] }, ctx: z.RefinementCtx): void {
  const seen = new Map<string, string>();
  const check = (list: { name: string }[], key: string) => list.forEach((z, i) => {
    let k: string;
    try {
      k = nameFromText(z.name.endsWith('.') ? z.name : z.name + '.').toString('latin1').toLowerCase();
    } catch {
      return; // reported by the name's own check
    }
    const before = seen.get(k);
    if (before) ctx.addIssue({ code: 'custom', path: [key, i, 'name'], message: `zone ${z.name} is already configured in ${before}` });
    else seen.set(k, `${key}[${i}]`);
  });
  check(r.forward_zones, 'forward_zones');
  check(r.stub_zones, 'stub_zones');
}

export const rpzPolicy = z.union([
  z.enum(['given', 'disabled', 'passthru', 'nxdomain', 'nodata', 'drop', 'tcp-only']),
  z.string().regex(/^cname\s+\S+$/i, 'expected given, disabled, passthru, nxdomain, nodata, drop, tcp-only or "cname NAME"'),
]);

const rpzZone = z.strictObject({
  name: z.string().min(1),
  file: z.string().optional(),
  primary: endpoint.optional(),
  tsig: z.string().optional(),
  policy: rpzPolicy.default('given'),
  max_policy_ttl: z.number().int().min(0).optional(),
  log_only: z.boolean().default(false),
  /** Skip and count bad rules instead of rejecting the zone. */
  lenient: z.boolean().default(false),
  /** With `primary`: most records one transfer may bring (default 1,000,000); more fails the transfer, the old zone stays. */
  max_records: z.number().int().min(1).optional(),
});

export const configSchema = z.strictObject({
  server: z.strictObject({
    listen: z.array(endpoint).min(1).default(['127.0.0.1:5353', '[::1]:5353']),
    allow: z.array(cidr).default(['127.0.0.0/8', '::1/128']),
    /** Largest UDP answer we send, whatever the client advertises (RFC 6891 6.2.5, DNS Flag Day 2020). */
    max_udp_size: z.number().int().min(512).max(4096).default(1232),
    tcp_idle_timeout_ms: z.number().int().min(100).default(10_000),
    tcp_max_connections: z.number().int().min(1).default(1024),
    /** SO_RCVBUF of each UDP listener, bytes (Linux caps it at net.core.rmem_max); 0 = the kernel's default. */
    udp_receive_buffer: z.number().int().min(0).max(1 << 30).default(4 * 1024 * 1024),
    workers: z.number().int().min(1).max(64).default(1),
    /** DNS over TLS listeners (RFC 7858), "ADDR:PORT" (default port 853); need `tls`. */
    dot_listen: z.array(endpoint).default([]),
    /** DNS over HTTPS listeners (RFC 8484; HTTP/2, HTTP/1.1 fallback), "ADDR:PORT" (default port 443); need `tls`. */
    doh_listen: z.array(endpoint).default([]),
    /** The DoH URI path (RFC 8484 4.1); any other path gets 404. */
    doh_path: z.string().regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%\/-]*$/, 'expected an absolute path such as /dns-query').default('/dns-query'),
    /** The certificate (chain) and its private key, PEM, for DoT and DoH; reloaded on SIGHUP / `verdict ctl reload`. */
    tls: z.strictObject({ cert_file: z.string().min(1), key_file: z.string().min(1) }).optional(),
    /** A TLS handshake not finished in this time is cut (a client that never finishes it holds no slot for long). */
    tls_handshake_timeout_ms: z.number().int().min(100).max(120_000).default(5000),
    /** Concurrent streams per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
    doh_max_streams: z.number().int().min(1).max(1000).default(100),
    /** A DoH request (headers and body) not received whole in this time gets 408 (slowloris). */
    doh_request_timeout_ms: z.number().int().min(100).max(60_000).default(5000),
    /** Discovery of Designated Resolvers (RFC 9462): `_dns.resolver.arpa SVCB` names our DoT and DoH endpoints. */
    ddr: z.strictObject({
      /** The name clients reach the DoT listener by (in the certificate); absent: no DoT record. */
      dot_name: domainName.optional(),
      /** The name clients reach the DoH listener by (in the certificate); absent: no DoH record. */
      doh_name: domainName.optional(),
      ttl: z.number().int().min(0).max(86_400).default(300),
    }).optional(),
    /**
     * UDP I/O: `auto` uses the batched addon (native/udp: recvmmsg/sendmmsg, one socket per worker)
     * where it was built and loads, else node:dgram; `dgram` always node:dgram; `recvmmsg` requires
     * the addon (start fails without it). The environment variable VERDICT_UDP_IO overrides it.
     */
    udp_io: z.enum(['auto', 'recvmmsg', 'dgram']).default('auto'),
    /** Per-client token bucket; off by default (0). Loopback clients are exempt unless limit_loopback. */
    rate_limit: z.strictObject({
      qps: z.number().min(0).default(0),
      burst: z.number().int().min(1).default(200),
      limit_loopback: z.boolean().default(false),
    }).prefault({}),
  }).superRefine((s, ctx) => {
    if ((s.dot_listen.length || s.doh_listen.length) && !s.tls) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'dot_listen and doh_listen need tls: { cert_file, key_file }' });
    }
    if (s.ddr?.dot_name && !s.dot_listen.length) ctx.addIssue({ code: 'custom', path: ['ddr', 'dot_name'], message: 'ddr.dot_name needs a dot_listen address' });
    if (s.ddr?.doh_name && !s.doh_listen.length) ctx.addIssue({ code: 'custom', path: ['ddr', 'doh_name'], message: 'ddr.doh_name needs a doh_listen address' });
  }).prefault({}),
  resolver: z.strictObject({
    root_hints: z.array(hint).min(1).optional(),
    root_hints_file: z.string().optional(),
    qname_minimisation: z.boolean().default(true),
    edns_udp_size: z.number().int().min(512).max(4096).default(1232),
    upstream_timeout_ms: z.number().int().min(50).default(1500),
    /**
     * Source sockets of upstream UDP queries (RFC 5452 9.2; src/resolver/udp-pool.ts): `sockets` idle
     * sockets kept open per address family on kernel-random ports, one query each at a time, picked with
     * a CSPRNG, each closed after `uses_per_socket` queries (1: a new socket per query, the old way).
     */
    outgoing: z.strictObject({
      sockets: z.number().int().min(1).max(4096).default(256),
      uses_per_socket: z.number().int().min(1).max(10_000).default(16),
    }).prefault({}),
    /** Work budget per client query (hickory/Unbound-style hard limits). */
    max_queries: z.number().int().min(1).default(100),
    max_depth: z.number().int().min(1).default(16),
    max_cname_hops: z.number().int().min(1).max(32).default(12),
    query_timeout_ms: z.number().int().min(100).default(10_000),
    max_ns_per_referral: z.number().int().min(1).default(8),
    /** NS names without glue resolved per client query, over all its referrals (NXNSAttack). */
    max_ns_lookups: z.number().int().min(1).default(16),
    /** Client queries resolving at once; past it, SERVFAIL at once (graceful, bounded memory). */
    max_concurrent: z.number().int().min(1).default(10_000),
    /** Serve-stale (RFC 8767): expired data answers, with EDE 3, when authorities fail or are slow. */
    serve_stale: z.strictObject({
      enabled: z.boolean().default(false),
      /** Seconds expired data is kept past its TTL ("maximum stale timer"; the RFC suggests 1 to 3 days). */
      max_stale_ttl: z.number().int().min(1).max(7 * 86_400).default(86_400),
      /** TTL of stale records in answers, seconds (RFC 8767 4: 30). */
      stale_answer_ttl: z.number().int().min(1).max(3600).default(30),
      /** "Client response timer": a resolution still going after this answers stale data meanwhile. */
      client_timeout_ms: z.number().int().min(0).default(1800),
      /** "Failure recheck timer": after a failed refresh, stale data answers at once for this long, seconds. */
      failure_recheck_s: z.number().int().min(0).default(30),
    }).prefault({}),
    /** RFC 6303/6761/7686/8375 names answered locally, never sent upstream (docs/LOCAL-ZONES.md). */
    local_zones: localZones.prefault({}),
    /** Names at or below `name` are sent, recursion desired, to these resolvers (docs/FORWARDING.md). */
    forward_zones: z.array(forwardZone).default([]),
    /** Names at or below `name` are resolved iteratively from these authoritative servers instead of the root. */
    stub_zones: z.array(stubZone).default([]),
  }).superRefine(uniqueZones).prefault({}),
  cache: z.strictObject({
    /**
     * Memory for cached data, as Unbound's rrset-cache-size + msg-cache-size: a number of bytes or
     * "512m", "2g"; three quarters for RRsets and negative answers, one quarter for whole replies.
     * Counted as the V8 heap the entries take (src/resolver/cache/packed.ts); nothing is allocated up front.
     */
    max_bytes: byteSize.default(1 << 30),
    /** Optional cap on entries as well (the reply cache gets a quarter); lru-cache then preallocates for it. */
    max_entries: z.number().int().min(100).optional(),
    max_ttl: z.number().int().min(1).default(86_400),
    max_negative_ttl: z.number().int().min(1).default(10_800),
  }).prefault({}),
  rpz: z.strictObject({
    qname_wait_recurse: z.boolean().default(true),
    break_dnssec: z.boolean().default(false),
    max_policy_ttl: z.number().int().min(0).default(5),
    zones: z.array(rpzZone).default([]),
    /**
     * Until every configured zone has loaded once (or failed), no answer leaves unfiltered.
     * `wait`: listeners open at once, queries are held (bounded) until the policy is loaded;
     * `servfail`: listeners open at once, queries get SERVFAIL (EDE 14) until then;
     * `closed`: listeners open only once the policy is loaded (the port is closed meanwhile).
     */
    startup: z.strictObject({
      mode: z.enum(['wait', 'servfail', 'closed']).default('wait'),
      /** `wait`: longest a query is held; then SERVFAIL with EDE 14 (Not Ready). */
      wait_ms: z.number().int().min(0).max(60_000).default(3000),
      /** `wait`: queries held at once; past it, SERVFAIL at once (bounded memory). */
      max_waiting: z.number().int().min(0).default(10_000),
    }).prefault({}),
  }).prefault({}),
  orders: z.strictObject({
    files: z.array(z.string()).default([]),
    zone: z.string().default('court-orders.rpz'),
    notice_host: z.string().optional(),
    audit_log: z.string().optional(),
    timezone: z.string().default('Europe/Paris'),
    /** ISO instant at which the order clock starts (a demo clock; it then runs at real speed); absent = the real clock. */
    clock: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'expected an ISO 8601 instant such as 2014-01-15T12:00:00Z').optional(),
    /** Addresses of notice_host: redirects are then compiled as local A/AAAA data plus a TXT naming the order (else a CNAME to notice_host). */
    notice_addresses: z.array(z.string().refine((s) => isIP(s) !== 0, 'expected an IPv4 or IPv6 address')).default([]),
    /** JSON file keeping the compiled zone's last serial and hash across restarts (absent: kept in memory; serials are date-based anyway). */
    serial_file: z.string().optional(),
    // --- issue 16: automated entries (regulator requests, feeds) and their safeguards (docs/ORDERS-AUTOMATED.md)
    /** Names (each covering its subdomains) that an automated entry never blocks without a person's confirmation. */
    protected: z.array(domainName).default([]),
    safeguards: z.strictObject({
      /** Queries for the name (and its subdomains) in the last 24 h above which an automated entry is held. */
      max_queries: z.number().int().min(0).default(50_000),
      /** Distinct clients (estimated; no address is stored) in the last 24 h above which it is held. */
      max_clients: z.number().int().min(0).default(1_000),
      /** Other names seen resolving to the entry's addresses above which it is held (shared hosting, CDN front ends). */
      max_shared_names: z.number().int().min(0).default(5),
      /** JSON file keeping held entries and the decisions on them (confirm/reject) across restarts. */
      state_file: z.string().default('var/lib/verdict/held.json'),
      /** Keep the traffic statistics the impact check reads (bounded, no client address); off: only the protected list holds. */
      traffic_stats: z.boolean().default(true),
    }).prefault({}),
    /** Live feeds: an RPZ zone from a primary (AXFR/IXFR, NOTIFY) whose every QNAME/IP rule is an entry bound to `parent`. */
    feeds: z.array(z.strictObject({
      id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'expected an id of letters, digits, ".", "_", "-"'),
      zone: domainName,
      primary: endpoint,
      tsig: z.string().optional(),
      parent: z.string().min(1),
      authority: z.string().min(1).default('feed'),
      reference: z.string().optional(),
      max_records: z.number().int().min(1).optional(),
    })).default([]),
    /** Named sets of client prefixes that orders' `applies_to` / `except` refer to (docs/ORDERS-SCOPE.md). */
    networks: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'expected a set name of letters, digits, ".", "_", "-"'), z.array(cidr).min(1, 'a network set lists at least one prefix')).default({}),
  }).prefault({}),
  metrics: z.strictObject({
    listen: endpoint.optional(),
    /** Serve the transparency report at /transparency and /transparency.json on this listener (docs/TRANSPARENCY.md). */
    transparency: z.boolean().default(false),
  }).prefault({}),
  /** The transparency report (docs/TRANSPARENCY.md). */
  report: z.strictObject({
    language: z.enum(['en', 'fr']).default('en'),
    /** Who publishes the report (the ISP), shown in its title. */
    operator: z.string().min(1).optional(),
    /** Orders that ended (expired, lifted) this many days ago or less are still shown. */
    recent_days: z.number().int().min(0).max(3650).default(90),
    /** Days shown in the blocked-answers charts, ending today. */
    chart_days: z.number().int().min(1).max(366).default(30),
  }).prefault({}),
  transfer: z.strictObject({
    allow: z.array(cidr).default([]),
    notify: z.array(endpoint).default([]),
    /** A key from tsig_keys that AXFR/IXFR of the zones Verdict serves must be signed with. */
    tsig: z.string().optional(),
    /** Directory where zones pulled from a primary keep their last good copy (served at start, before the primary answers). */
    state_dir: z.string().optional(),
    /** Versions of each served zone kept for IXFR (older serials get the whole zone). */
    ixfr_history: z.number().int().min(0).optional(),
  }).prefault({}),
  /** Control channel (verdict ctl): a Unix socket, mode 0600, plus a token file beside it. */
  control: z.strictObject({
    socket: z.string().default('var/run/verdict.sock'),
    enabled: z.boolean().default(true),
  }).prefault({}),
  /** Mirror watch (docs/MIRRORS.md): candidate mirrors of blocked sites, reported for the court, never blocked. */
  mirrors: z.strictObject({
    enabled: z.boolean().default(true),
    /** Where the server saves what it observed (JSON, written atomically) and `verdict mirrors report` reads it. */
    state_file: z.string().default('var/lib/verdict/mirrors.json'),
    /** Most names tracked at once (bounded memory: about 1 KB per name). */
    max_names: z.number().int().min(100).max(10_000_000).default(50_000),
    /** Candidates scoring below this (0-100) are left out of reports and drafts. */
    min_score: z.number().min(0).max(100).default(15),
    /** How often the server saves its state file, in seconds (0: only at stop). */
    save_interval_s: z.number().int().min(0).default(300),
  }).prefault({}),
  /** DNSSEC validation (docs/DNSSEC.md): on by default, as in Unbound, BIND, PowerDNS Recursor and Knot Resolver. */
  dnssec: z.strictObject({
    validation: z.boolean().default(true),
    /** DS or DNSKEY records in master-file format (Unbound's trust-anchor-file); one file or a list. Absent: the built-in IANA root anchors. */
    trust_anchor_file: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** Names at or below which answers are treated as insecure (RFC 7646). */
    negative_trust_anchors: z.array(domainName).default([]),
    /** Seconds bogus data and a zone's bogus keys stay cached (Unbound's val-bogus-ttl). */
    bogus_ttl: z.number().int().min(0).max(86_400).default(60),
    /** NSEC3 iterations above this make an answer insecure, EDE 27 (RFC 9276; Unbound and BIND use 150). */
    nsec3_max_iterations: z.number().int().min(0).max(2500).default(150),
    /** Aggressive use of validated NSEC records (RFC 8198). */
    aggressive_nsec: z.boolean().default(true),
    /** RFC 5011 tracking of the built-in root anchors, kept in this JSON file (Unbound's auto-trust-anchor-file). Absent: no tracking. */
    root_key_state_file: z.string().optional(),
    /** Signature verifications per client query (KeyTrap, CVE-2023-50387). */
    max_validations_per_query: z.number().int().min(1).max(10_000).default(64),
    /** NSEC3 hash computations per client query (CVE-2023-50868). */
    max_nsec3_hashes_per_query: z.number().int().min(1).max(100_000).default(64),
  }).prefault({}),
  tsig_keys: z.record(z.string(), z.strictObject({ algorithm: z.string(), secret: z.string() })).default({}),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    queries: z.boolean().default(false),
    /** One line per policy hit (zone, rule, order, qname, action). */
    policy_hits: z.boolean().default(true),
    /** Client address in query and policy-hit logs: none (default), truncated (/24, /56) or full. */
    client_address: z.enum(['none', 'truncated', 'full']).default('none'),
  }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type RpzZoneConfig = z.infer<typeof rpzZone>;
