/**
 * The lab: a simulated DNS hierarchy on loopback, one address per server in
 * 127.55.0.0/16, port 53 (on Linux every 127/8 address can be bound without
 * configuring it). The zones are master files in lab/zones/; this table says
 * which server serves which zones and how it behaves. Kept clear of
 * 127.53/16 and 127.54/16 (other labs), 127.55.200.x, 127.55.240.x and
 * 127.55.250-252.x (test helpers).
 */
import { Type } from '../dns/constants.js';
import { nameFromText, ROOT } from '../dns/name.js';
import type { RootHint } from '../resolver/iterator/iterator.js';
import { AuthData, AuthServer, AuthZone } from './authserver.js';
import type { LabBehaviour, PoisonRecords } from './authserver.js';
import { defaultZonesDir, fqdn, readZoneFile } from './zones.js';
import { signLabZones } from './signed.js';
import type { Record } from '../dns/message.js';

export interface LabServerSpec {
  /** The name the parent zones give this server (NS target). */
  name: string;
  address: string;
  /** Origins of the zones it serves (files in the zones directory). */
  zones: string[];
  behaviour?: LabBehaviour;
  /** Why it is there (printed by `verdict lab`). */
  role: string;
}

const STREAM_ZONES = [
  'streamhost.net',
  'dpstream.tv', 'dpstream.net', 'dpstream.pw', 'dpstream.cc', 'dpstream.me',
  'fifostream.com', 'fifostream.org', 'fifostream.net', 'fifostream.tv',
  'fifostreaming.com', 'fifostreaming.org', 'fifostreaming.net', 'fifostreaming.tv',
];
const SEC_CHILDREN = [
  'alg8.sec', 'alg13.sec', 'alg15.sec', 'optout.sec', 'insecure.sec', 'iter.sec', 'nsec3hash.sec',
  'badsig.sec', 'expired.sec', 'notyet.sec', 'nokey.sec', 'dsmismatch.sec', 'unknownalg.sec', 'keytrap.sec',
];
const ALLO_ZONES = ['allostreaming.com', 'alloshotv.com', 'allomovies.com', 'alloshare.com', 'allomegavideo.com', 'alloseven.com', 'allourls.com'];

export const LAB_SERVERS: readonly LabServerSpec[] = [
  { name: 'a.root.lab', address: '127.55.0.1', zones: ['.', 'lab'], role: 'root' },
  { name: 'b.root.lab', address: '127.55.0.2', zones: ['.', 'lab'], role: 'root' },
  { name: 'a.gtld.lab', address: '127.55.1.1', zones: ['com', 'net', 'org'], role: 'gTLDs' },
  { name: 'b.gtld.lab', address: '127.55.1.2', zones: ['com', 'net', 'org'], role: 'gTLDs' },
  { name: 'a.cctld.lab', address: '127.55.1.3', zones: ['tv', 'fr', 'pw', 'cc', 'me', 'example'], role: 'ccTLDs and example.' },
  { name: 'ns1.example.com', address: '127.55.2.1', zones: ['example.com'], role: 'ordinary domain, wildcard, NXDOMAIN, NODATA, TC, DNAME' },
  { name: 'ns2.example.com', address: '127.55.2.2', zones: ['example.com'], role: 'second server of example.com' },
  { name: 'ns1.example.org', address: '127.55.2.3', zones: ['example.org'], role: 'CNAME chain, 2nd zone' },
  { name: 'ns1.cdn-lab.net', address: '127.55.2.4', zones: ['cdn-lab.net'], role: 'CNAME chain, 3rd zone' },
  { name: 'ns1.dnshost.org', address: '127.55.2.5', zones: ['dnshost.org', 'glueless.com'], role: 'glueless delegation' },
  { name: 'ns1.streamhost.net', address: '127.55.3.1', zones: STREAM_ZONES, role: '2013 order: dpstream, fifostream(ing); mirrors' },
  { name: 'ns2.streamhost.net', address: '127.55.3.2', zones: STREAM_ZONES, role: 'second server of streamhost.net' },
  { name: 'ns1.allostreaming.com', address: '127.55.3.3', zones: ALLO_ZONES, role: '2013 order: allo*.com' },
  { name: 'ns1.blocked-notice.fr', address: '127.55.4.1', zones: ['blocked-notice.fr', 'verdict.example'], role: 'notice pages for redirects' },
  { name: 'ns1.lame.net', address: '127.55.5.1', zones: ['lame.net'], role: 'lame.net, good server' },
  { name: 'ns2.lame.net', address: '127.55.5.2', zones: [], behaviour: 'refused', role: 'lame: REFUSED' },
  { name: 'ns1.lame.org', address: '127.55.5.3', zones: ['lame.org'], role: 'lame.org, good server' },
  { name: 'ns2.lame.org', address: '127.55.5.4', zones: [], behaviour: 'upward-referral', role: 'lame: non-AA referral to the root' },
  { name: 'ns1.dead.com', address: '127.55.6.1', zones: [], behaviour: 'dead', role: 'dead: nothing listens' },
  { name: 'ns2.dead.com', address: '127.55.6.2', zones: ['dead.com'], role: 'dead.com, live server' },
  { name: 'ns1.poisoner.net', address: '127.55.7.1', zones: ['poisoner.net'], behaviour: 'poison', role: 'adds out-of-bailiwick records' },
  { name: 'ns1.racing.net', address: '127.55.7.2', zones: ['racing.net'], role: 'racing.net (the spoofing test takes its place)' },
  { name: 'ns1.sec', address: '127.55.8.1', zones: ['sec'], role: 'DNSSEC: the signed TLD sec. (NSEC3), DS of its signed children' },
  { name: 'ns1.signed.sec', address: '127.55.8.2', zones: SEC_CHILDREN, role: 'DNSSEC: secure, insecure and bogus zones (src/lab/signed.ts)' },
  { name: 'ns2.signed.sec', address: '127.55.8.3', zones: ['unsigned.optout.sec', 'signed.optout.sec'], role: 'DNSSEC: delegations below the opt-out zone' },
  { name: 'ns3.signed.sec', address: '127.55.8.4', zones: ['stripped.sec'], behaviour: 'strip-rrsigs', role: 'DNSSEC: a signed zone served without RRSIGs' },
];

export const LAB_ROOT_HINTS: readonly RootHint[] = LAB_SERVERS.filter((s) => s.zones.includes('.')).map((s) => ({ name: s.name, address: s.address }));

export interface LabOptions {
  /** Directory of the zone files (default: lab/zones/ of this checkout). */
  zonesDir?: string;
  /** Port of every server (default 53). */
  port?: number;
  /** Addresses not to start (a test puts its own server there). */
  omit?: string[];
  servers?: readonly LabServerSpec[];
}

export interface RunningLabServer {
  spec: LabServerSpec;
  /** Undefined for dead or omitted servers. */
  server?: AuthServer;
  /** Queries this server has answered so far. */
  readonly queries: number;
}

export interface Lab {
  rootHints: RootHint[];
  servers: RunningLabServer[];
  /** A server by name (e.g. "ns2.lame.net"). */
  server(name: string): RunningLabServer;
  /** Every zone by origin, as loaded. */
  zones: Map<string, AuthZone>;
  stop(): Promise<void>;
}

/** Read every zone the table names, once; sign those src/lab/signed.ts names (unless `sign` is false). */
export function loadLabZones(servers: readonly LabServerSpec[] = LAB_SERVERS, zonesDir = defaultZonesDir(), rewrite?: (text: string) => string, sign = true): Map<string, AuthZone> {
  const records = new Map<string, Record[]>();
  for (const s of servers) {
    for (const origin of s.zones) {
      if (!records.has(origin)) records.set(origin, readZoneFile(zonesDir, origin, rewrite));
    }
  }
  if (sign) signLabZones(records);
  const zones = new Map<string, AuthZone>();
  for (const [origin, rrs] of records) zones.set(origin, new AuthZone(nameFromText(fqdn(origin)), rrs));
  return zones;
}

/** What ns1.poisoner.net adds to its answers: a forged www.example.com, a forged delegation and glue. */
export function poisonRecords(): PoisonRecords {
  const n = (t: string) => nameFromText(t);
  return {
    answers: [{ name: n('www.example.com.'), type: Type.A, class: 1, ttl: 86400, rdata: Buffer.from([203, 0, 113, 66]) }],
    authority: [
      { name: n('example.com.'), type: Type.NS, class: 1, ttl: 86400, rdata: n('ns1.poisoner.net.') },
      { name: n('com.'), type: Type.NS, class: 1, ttl: 86400, rdata: n('ns1.poisoner.net.') },
    ],
    additional: [
      { name: n('ns1.example.com.'), type: Type.A, class: 1, ttl: 86400, rdata: Buffer.from([127, 55, 7, 1]) },
      { name: n('a.gtld.lab.'), type: Type.A, class: 1, ttl: 86400, rdata: Buffer.from([127, 55, 7, 1]) },
    ],
  };
}

/** Start every server of the table; on failure stop those already started and rethrow. */
export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const specs = opts.servers ?? LAB_SERVERS;
  const zones = loadLabZones(specs, opts.zonesDir ?? defaultZonesDir());
  const root = zones.get('.');
  const upward = root ? { ns: root.rrset(ROOT, Type.NS) ?? [], glue: (root.rrset(ROOT, Type.NS) ?? []).flatMap((r) => root.addresses(r.rdata)) } : undefined;
  const omit = new Set(opts.omit ?? []);
  const running: RunningLabServer[] = [];
  try {
    for (const spec of specs) {
      if (spec.behaviour === 'dead' || omit.has(spec.address)) {
        running.push({ spec, queries: 0 });
        continue;
      }
      const server = new AuthServer({
        address: spec.address,
        port: opts.port ?? 53,
        data: new AuthData(spec.zones.map((z) => zones.get(z)!)),
        behaviour: spec.behaviour ?? 'authoritative',
        ...(upward ? { upward } : {}),
        poison: poisonRecords(),
      });
      await server.start();
      running.push({ spec, server, get queries() { return server.queries; } });
    }
  } catch (e) {
    await Promise.all(running.map((r) => r.server?.stop()));
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EACCES') throw new Error(`${err.message}: the lab binds port 53; run as root or with CAP_NET_BIND_SERVICE`);
    throw e;
  }
  const rootHints = specs.filter((s) => s.zones.includes('.')).map((s) => ({ name: s.name, address: s.address }));
  return {
    rootHints,
    servers: running,
    zones,
    server(name: string): RunningLabServer {
      const s = running.find((r) => r.spec.name === name);
      if (!s) throw new Error(`no lab server named ${name}`);
      return s;
    },
    stop: async () => {
      await Promise.all(running.map((r) => r.server?.stop()));
    },
  };
}

/** The root hints as the YAML of `resolver.root_hints`. */
export function rootHintsYaml(hints: readonly RootHint[]): string {
  return `resolver:\n  root_hints:\n${hints.map((h) => `    - { name: ${h.name}, address: ${h.address} }`).join('\n')}\n`;
}

/** The server table as YAML comments. */
export function labTable(lab: Lab): string {
  const w = Math.max(...lab.servers.map((s) => s.spec.name.length));
  return lab.servers.map((s) => `# ${s.spec.address.padEnd(12)} ${s.spec.name.padEnd(w)}  ${s.spec.zones.length ? s.spec.zones.join(' ') : '-'}  (${s.spec.role}${s.server ? '' : ', not started'})`).join('\n') + '\n';
}
