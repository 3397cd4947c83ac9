/**
 * Where a name is resolved: the zone table of `resolver.local_zones`,
 * `resolver.forward_zones` and `resolver.stub_zones`. The most specific zone
 * enclosing a name decides (as in Unbound and BIND); at the same name a
 * configured forward or stub zone wins over a built-in local zone, so an ISP
 * that serves its own 10.in-addr.arpa names it as a stub zone. Names outside
 * every zone are resolved from the root.
 *
 * The table is immutable once built; a reload builds a new one and swaps it.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { parseEndpoint } from '../config/endpoint.js';
import type { Config } from '../config/schema.js';
import { nameFromText, nameKey, nameToText, parentName } from '../dns/name.js';
import type { Name } from '../dns/name.js';
import { LOCAL_FAMILIES, LocalZones } from './local-zones.js';
import type { LocalAnswer, LocalFamily } from './local-zones.js';

/** One server a forward or stub zone sends queries to. */
export interface Upstream {
  address: string;
  port: number;
  /** DNS over TLS (RFC 7858): the name the server's certificate must carry, and the CAs to trust (absent: the system's). */
  tls?: { servername?: string; ca?: Buffer };
}

export interface ForwardRoute {
  kind: 'forward';
  zone: Name;
  /** The zone in presentation form (metric label, logs). */
  label: string;
  servers: Upstream[];
  /** `first: true`: when every forwarder fails, resolve from the root instead (BIND's `forward first`). */
  first: boolean;
}

export interface StubRoute {
  kind: 'stub';
  zone: Name;
  label: string;
  servers: Upstream[];
}

export type Route = ForwardRoute | StubRoute;

type Entry = Route | { kind: 'local'; zone: { answer(name: Name, type: number): LocalAnswer } };

export class ZoneRoutes {
  private readonly table = new Map<string, Entry>();
  /** The forward and stub zones, as configured. */
  readonly routes: Route[];

  /** Locally served zones in the table. */
  readonly localSize: number;
  private readonly localKeys: string;

  constructor(local: LocalZones | undefined, routes: Route[]) {
    this.localSize = local?.size ?? 0;
    this.localKeys = (local?.apexes() ?? []).map(nameKey).sort().join(' ');
    for (const apex of local?.apexes() ?? []) {
      const k = nameKey(apex);
      this.table.set(k, { kind: 'local', zone: local!.zoneAt(k)! });
    }
    for (const r of routes) this.table.set(nameKey(r.zone), r);
    this.routes = routes;
  }

  static empty(): ZoneRoutes {
    return new ZoneRoutes(undefined, []);
  }

  private closest(name: Name): Entry | undefined {
    if (this.table.size === 0) return undefined;
    for (let n = name; ; n = parentName(n)) {
      const e = this.table.get(nameKey(n));
      if (e) return e;
      if (n.length <= 1) return undefined;
    }
  }

  /** The answer of the local zone that holds `name`, if one does (and no forward or stub zone below it). */
  local(name: Name, type: number): LocalAnswer | undefined {
    const e = this.closest(name);
    return e?.kind === 'local' ? e.zone.answer(name, type) : undefined;
  }

  /** The forward or stub zone that holds `name`, if any. */
  route(name: Name): Route | undefined {
    const e = this.closest(name);
    return e && e.kind !== 'local' ? e : undefined;
  }

  /** Names whose cached data a change of this table may make wrong (old and new zones). */
  zoneNames(): Name[] {
    return this.routes.map((r) => r.zone);
  }

  /** Same zones, servers and options as `other`: a reload that changes none keeps the caches. */
  sameRoutes(other: ZoneRoutes): boolean {
    const text = (t: ZoneRoutes) => JSON.stringify(t.routes.map((r) => ({ ...r, zone: nameKey(r.zone) })));
    return text(this) === text(other) && this.localKeys === other.localKeys;
  }
}

function fqdn(text: string): Name {
  return nameFromText(text.endsWith('.') ? text : text + '.');
}

/** The families `resolver.local_zones` switches on. */
export function localFamilies(cfg: Config): LocalFamily[] {
  const l = cfg.resolver.local_zones;
  if (!l.defaults) return [];
  return LOCAL_FAMILIES.filter((f) => l[f]);
}

/**
 * The route table the config describes. Throws on what the schema cannot see
 * (an unreadable CA file); `baseDir` resolves relative paths.
 */
export function routesFromConfig(cfg: Config, baseDir: string): ZoneRoutes {
  const r = cfg.resolver;
  const routes: Route[] = [];
  for (const f of r.forward_zones) {
    const zone = fqdn(f.name);
    let ca: Buffer | undefined;
    if (f.tls_ca_file) {
      const file = resolvePath(baseDir, f.tls_ca_file);
      try {
        ca = readFileSync(file);
      } catch (e) {
        throw new Error(`forward zone ${nameToText(zone)}: cannot read tls_ca_file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      try {
        // The first certificate of the file: a file that is no PEM certificate at all fails here, not at the first query.
        new X509Certificate(ca);
      } catch (e) {
        throw new Error(`forward zone ${nameToText(zone)}: tls_ca_file ${file} is not a PEM certificate: ${(e as Error).message}`);
      }
    }
    const servers = f.addresses.map((a): Upstream => {
      const e = parseEndpoint(a, f.tls ? 853 : 53);
      return { address: e.address, port: e.port, ...(f.tls ? { tls: { ...(f.tls_name ? { servername: f.tls_name } : {}), ...(ca ? { ca } : {}) } } : {}) };
    });
    routes.push({ kind: 'forward', zone, label: nameToText(zone), servers, first: f.first });
  }
  for (const s of r.stub_zones) {
    const zone = fqdn(s.name);
    const servers = s.addresses.map((a): Upstream => {
      const e = parseEndpoint(a, 53);
      return { address: e.address, port: e.port };
    });
    routes.push({ kind: 'stub', zone, label: nameToText(zone), servers });
  }
  const families = localFamilies(cfg);
  return new ZoneRoutes(families.length ? new LocalZones(families) : undefined, routes);
}

/** What `verdict check` says of the zone table: `lines` for stdout, `errors` for what would stop the server. */
export function checkRoutes(cfg: Config, baseDir: string, file: string): { lines: string[]; errors: string[] } {
  let t: ZoneRoutes;
  try {
    t = routesFromConfig(cfg, baseDir);
  } catch (e) {
    return { lines: [], errors: [`${file}: resolver.forward_zones: ${(e as Error).message}`] };
  }
  const families = localFamilies(cfg);
  const lines = [families.length ? `resolver: ${t.localSize} locally served zones (${families.join(', ')})` : 'resolver: no locally served zones'];
  for (const r of t.routes) {
    const servers = r.servers.map((u) => `${u.address.includes(':') ? `[${u.address}]` : u.address}:${u.port}${u.tls ? ` (TLS${u.tls.servername ? `, name ${u.tls.servername}` : ', verified by address'})` : ''}`);
    lines.push(`resolver: ${r.kind} zone ${r.label} -> ${servers.join(', ')}${r.kind === 'forward' && r.first ? ' (first: then from the root)' : ''}`);
  }
  return { lines, errors: [] };
}
