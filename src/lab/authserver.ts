/**
 * A small authoritative name server for the lab: answers from master-file
 * zones by the algorithm of RFC 1034 4.3.2, behind the same DnsServer and
 * decode stage as the resolver (UDP and TCP, EDNS, FORMERR/NOTIMP/BADVERS).
 *
 *   - data in a zone: AA answer; a CNAME is followed while its target stays in
 *     the same zone (4.3.2 step 3a); DNAME substitution (RFC 6672 3.1)
 *   - a name at or below a zone cut: referral, NS in authority, glue for
 *     in-zone NS names in additional, AA=0 (4.3.2 step 3b)
 *   - wildcards (RFC 4592 3.3.1): the source of synthesis is `*.` the closest
 *     encloser, and only when the name itself does not exist
 *   - NXDOMAIN and NODATA with the zone's SOA in authority, its TTL the SOA
 *     MINIMUM when lower (RFC 2308 3)
 *   - REFUSED for names outside every zone served
 *   - UDP: at most the client's EDNS size (512 without EDNS); a reply that does
 *     not fit loses its additional section, then carries TC=1 (RFC 1035 4.2.1,
 *     RFC 6891 6.2.5); TCP: the whole reply
 *
 * Behaviours for edge cases: a lame server (REFUSED, or a referral upwards to
 * the root without AA), and a poisoning server that adds out-of-bailiwick
 * records to every answer.
 */
import { isIP } from 'node:net';
import { Class, Rcode, Type } from '../dns/constants.js';
import { makeEdns } from '../dns/edns.js';
import { emptyMessage, encodeMessage } from '../dns/message.js';
import type { Message, Record } from '../dns/message.js';
import { isSubdomain, labelCount, nameKey, NameError, namesEqual, nameToText, parentName, replaceSuffix } from '../dns/name.js';
import type { Name } from '../dns/name.js';
import type { RequestContext, Stage, StageResult } from '../resolver/context.js';
import { DecodeStage } from '../resolver/stages/decode.js';
import { Pipeline } from '../resolver/pipeline.js';
import { DnsServer } from '../resolver/server.js';

/** Most CNAME/DNAME hops followed inside one zone before answering what we have. */
const MAX_CHAIN = 8;
/** Largest UDP reply, whatever the client advertises. */
const MAX_UDP = 4096;
/** RFC 6604 2: YXDOMAIN, when a DNAME substitution would overflow a name. */
const YXDOMAIN = 6;

/** One zone's data, indexed by owner name (case-insensitive). */
export class AuthZone {
  readonly apex: Name;
  readonly soa: Record;
  private readonly nodes = new Map<string, Map<number, Record[]>>();
  /** Owner names and every empty non-terminal between them and the apex (RFC 4592 2.2.2). */
  private readonly names = new Set<string>();

  constructor(apex: Name, records: readonly Record[]) {
    this.apex = apex;
    for (const r of records) {
      if (!isSubdomain(r.name, apex)) throw new Error(`${nameToText(r.name)} is outside zone ${nameToText(apex)}`);
      if (r.class !== Class.IN) throw new Error(`${nameToText(r.name)}: class ${r.class}; the lab serves class IN only`);
      const k = nameKey(r.name);
      let node = this.nodes.get(k);
      if (!node) this.nodes.set(k, (node = new Map()));
      const set = node.get(r.type);
      if (set) set.push(r);
      else node.set(r.type, [r]);
      for (let n = r.name; n.length >= apex.length; n = parentName(n)) {
        const nk = nameKey(n);
        if (this.names.has(nk)) break;
        this.names.add(nk);
        if (n.length === 1) break;
      }
    }
    const soa = this.rrset(apex, Type.SOA);
    if (!soa || soa.length !== 1) throw new Error(`zone ${nameToText(apex)} needs exactly one SOA at its apex`);
    if (!this.rrset(apex, Type.NS)) throw new Error(`zone ${nameToText(apex)} has no NS at its apex`);
    this.soa = soa[0]!;
  }

  rrset(name: Name, type: number): Record[] | undefined {
    return this.nodes.get(nameKey(name))?.get(type);
  }

  node(name: Name): Map<number, Record[]> | undefined {
    return this.nodes.get(nameKey(name));
  }

  /** True when the name owns records or is an empty non-terminal. */
  exists(name: Name): boolean {
    return this.names.has(nameKey(name));
  }

  /** The SOA for a negative answer: TTL min(SOA TTL, MINIMUM) (RFC 2308 3). */
  negativeSoa(): Record {
    const min = this.soa.rdata.readUInt32BE(this.soa.rdata.length - 4);
    return { ...this.soa, ttl: Math.min(this.soa.ttl, min) };
  }

  /** A/AAAA records of a name held in this zone (glue included, even below a cut). */
  addresses(name: Name): Record[] {
    return [...(this.rrset(name, Type.A) ?? []), ...(this.rrset(name, Type.AAAA) ?? [])];
  }
}

export interface AuthAnswer {
  rcode: number;
  aa: boolean;
  answers: Record[];
  authority: Record[];
  additional: Record[];
}

/** The zones one server is authoritative for. */
export class AuthData {
  constructor(readonly zones: readonly AuthZone[]) {}

  /** The deepest zone that encloses `name`. */
  zoneFor(name: Name): AuthZone | undefined {
    let best: AuthZone | undefined;
    for (const z of this.zones) if (isSubdomain(name, z.apex) && (!best || z.apex.length > best.apex.length)) best = z;
    return best;
  }

  /** RFC 1034 4.3.2; undefined when no zone encloses the name (REFUSED). */
  lookup(qname: Name, qtype: number): AuthAnswer | undefined {
    const zone = this.zoneFor(qname);
    if (!zone) return undefined;
    const out: AuthAnswer = { rcode: Rcode.NOERROR, aa: true, answers: [], authority: [], additional: [] };
    let name = qname;
    for (let hop = 0; hop < MAX_CHAIN; hop++) {
      const next = this.step(zone, name, qtype, out);
      if (!next) return out;
      name = next;
    }
    return out;
  }

  /** One name of a chain: fills `out`; returns the next name when a CNAME/DNAME leads on inside the zone. */
  private step(zone: AuthZone, name: Name, qtype: number, out: AuthAnswer): Name | undefined {
    // Step 3b/3c: walk down from the apex; a cut above the name (or at it) means a referral,
    // a DNAME above it (the apex included, RFC 6672 2.3) a substitution. DS lives on the
    // parent side of a cut (RFC 4035 3.1.4.1).
    const apexLabels = labelCount(zone.apex);
    const total = labelCount(name);
    for (let d = apexLabels; d <= total; d++) {
      const node = parentName(name, total - d);
      if (!zone.exists(node)) break;
      const ns = d > apexLabels ? zone.rrset(node, Type.NS) : undefined;
      if (ns && !(qtype === Type.DS && d === total)) {
        this.referral(zone, ns, out);
        return undefined;
      }
      const dname = zone.rrset(node, Type.DNAME);
      if (dname && d < total) {
        let target: Name;
        try {
          target = replaceSuffix(name, node, dname[0]!.rdata);
        } catch (e) {
          if (!(e instanceof NameError)) throw e;
          out.answers.push(dname[0]!);
          out.rcode = YXDOMAIN;
          return undefined;
        }
        out.answers.push(dname[0]!, { name, type: Type.CNAME, class: Class.IN, ttl: dname[0]!.ttl, rdata: target });
        return isSubdomain(target, zone.apex) ? target : undefined;
      }
    }
    if (zone.exists(name)) return this.fromNode(zone, name, name, qtype, out);
    // RFC 4592 3.3.1: the closest encloser exists; its `*` child, if any, is the source of synthesis.
    let encloser = parentName(name);
    while (!zone.exists(encloser)) encloser = parentName(encloser);
    const wildcard = Buffer.concat([Buffer.from([1, 0x2a]), encloser]);
    if (zone.exists(wildcard)) return this.fromNode(zone, wildcard, name, qtype, out);
    out.rcode = Rcode.NXDOMAIN;
    out.authority.push(zone.negativeSoa());
    return undefined;
  }

  /** Data at an existing node (or a wildcard, synthesised with owner `owner`). */
  private fromNode(zone: AuthZone, node: Name, owner: Name, qtype: number, out: AuthAnswer): Name | undefined {
    const data = zone.node(node);
    const synth = (rs: Record[]) => (node === owner ? rs : rs.map((r) => ({ ...r, name: owner })));
    if (data && qtype === Type.ANY) {
      for (const rs of data.values()) out.answers.push(...synth(rs));
      return undefined;
    }
    const exact = data?.get(qtype);
    if (exact) {
      out.answers.push(...synth(exact));
      return undefined;
    }
    const cname = data?.get(Type.CNAME);
    if (cname) {
      out.answers.push(...synth(cname));
      const target = cname[0]!.rdata;
      if (!isSubdomain(target, zone.apex) || out.answers.some((r) => r.type === Type.CNAME && namesEqual(r.name, target))) return undefined;
      return target;
    }
    out.authority.push(zone.negativeSoa()); // NODATA
    return undefined;
  }

  private referral(zone: AuthZone, ns: Record[], out: AuthAnswer): void {
    // AA speaks for the answer section: a referral alone is not authoritative (4.3.2 step 3b).
    if (out.answers.length === 0) out.aa = false;
    out.authority.push(...ns);
    for (const r of ns) if (isSubdomain(r.rdata, zone.apex)) out.additional.push(...zone.addresses(r.rdata));
  }
}

/** How a lab server behaves; `dead` servers are never started. */
export type LabBehaviour = 'authoritative' | 'refused' | 'upward-referral' | 'poison' | 'dead';

/** Records a poisoning server adds to every answer, none of them inside its own zone. */
export interface PoisonRecords {
  answers: Record[];
  authority: Record[];
  additional: Record[];
}

export interface AuthStageOptions {
  behaviour?: LabBehaviour;
  /** For 'upward-referral': the root's NS RRset and its glue. */
  upward?: { ns: Record[]; glue: Record[] };
  /** For 'poison'. */
  poison?: PoisonRecords;
}

/** The authoritative stage of a lab server's pipeline (after DecodeStage). */
export class AuthoritativeStage implements Stage {
  readonly name = 'authoritative';
  queries = 0;

  constructor(private readonly data: AuthData, private readonly opts: AuthStageOptions = {}) {}

  handle(ctx: RequestContext): StageResult {
    this.queries++;
    const q = ctx.query!;
    const question = q.questions[0]!;
    const m = emptyMessage({
      id: q.id, qr: true, opcode: q.opcode, rd: q.rd, cd: q.cd,
      questions: [question], // echoed byte for byte: resolvers check the 0x20 case
      ...(q.edns ? { edns: makeEdns(1232) } : {}),
    });
    this.fill(m, question.name, question.type);
    ctx.response = m;
    // Additional first, then everything but the question goes when the reply does not fit (TC).
    ctx.wire = encodeMessage(m, ctx.maxSize);
    return 'answered';
  }

  private fill(m: Message, qname: Name, qtype: number): void {
    const behaviour = this.opts.behaviour ?? 'authoritative';
    if (behaviour === 'upward-referral') {
      // A classic lame answer: not authoritative, "ask the root".
      m.authorities = this.opts.upward?.ns ?? [];
      m.additionals = this.opts.upward?.glue ?? [];
      return;
    }
    const a = behaviour === 'refused' ? undefined : this.data.lookup(qname, qtype);
    if (!a) {
      m.rcode = Rcode.REFUSED;
      return;
    }
    m.rcode = a.rcode;
    m.aa = a.aa;
    m.answers = a.answers;
    m.authorities = a.authority;
    m.additionals = a.additional;
    if (behaviour === 'poison' && this.opts.poison) {
      m.answers = [...m.answers, ...this.opts.poison.answers];
      m.authorities = [...m.authorities, ...this.opts.poison.authority];
      m.additionals = [...m.additionals, ...this.opts.poison.additional];
    }
  }
}

export interface AuthServerOptions extends AuthStageOptions {
  address: string;
  port?: number;
  data: AuthData;
}

/** One lab server: an address, its zones, UDP and TCP. */
export class AuthServer {
  readonly stage: AuthoritativeStage;
  private readonly server: DnsServer;

  constructor(readonly opts: AuthServerOptions) {
    this.stage = new AuthoritativeStage(opts.data, opts);
    const pipeline = new Pipeline([new DecodeStage(MAX_UDP), this.stage]);
    const family = isIP(opts.address);
    if (family === 0) throw new Error(`${opts.address}: not an IP address`);
    this.server = new DnsServer(() => pipeline, {
      listen: [{ address: opts.address, port: opts.port ?? 53, family: family as 4 | 6 }],
      tcpIdleTimeoutMs: 5_000,
      tcpMaxConnections: 256,
    });
  }

  get queries(): number {
    return this.stage.queries;
  }

  get addresses(): { address: string; port: number; transport: string }[] {
    return this.server.addresses;
  }

  start(): Promise<void> {
    return this.server.start();
  }

  stop(): Promise<void> {
    return this.server.stop(100);
  }
}
