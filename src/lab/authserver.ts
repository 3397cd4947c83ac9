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
 *   - DNSSEC, for DO=1 queries to signed zones (RFC 4035 3.1, RFC 5155 7.2):
 *     RRSIGs with every RRset, NSEC/NSEC3 proofs of NXDOMAIN, NODATA and
 *     wildcard answers, DS or the proof of no DS in referrals (addDnssec);
 *     without DO, no RRSIG unless asked for by type
 *
 * Behaviours for edge cases: a lame server (REFUSED, or a referral upwards to
 * the root without AA), and a poisoning server that adds out-of-bailiwick
 * records to every answer.
 */
import { isIP } from 'node:net';
import { Class, Rcode, Type } from '../dns/constants.js';
import { makeEdns } from '../dns/edns.js';
import { emptyMessage, encodeMessage, groupRRsets } from '../dns/message.js';
import type { Message, Record } from '../dns/message.js';
import { compareNames, isSubdomain, labelCount, nameKey, NameError, namesEqual, nameToText, parentName, replaceSuffix } from '../dns/name.js';
import { base32hexDecode, nsec3Hash } from '../dnssec/records.js';
import type { Name } from '../dns/name.js';
import type { RequestContext, Stage, StageResult } from '../resolver/context.js';
import { DecodeStage } from '../resolver/stages/decode.js';
import { Pipeline } from '../resolver/pipeline.js';
import { DnsServer } from '../resolver/server.js';

/** Questions an authoritative stage remembers (AuthoritativeStage.recent). */
const RECENT_QUESTIONS = 1000;
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

  /** True when the zone carries signatures (it answers DO queries with them). */
  get signed(): boolean {
    return this.rrset(this.apex, Type.RRSIG) !== undefined;
  }

  /** RRSIGs at `owner` covering `type`. */
  sigs(owner: Name, type: number): Record[] {
    return (this.rrset(owner, Type.RRSIG) ?? []).filter((r) => r.rdata.readUInt16BE(0) === type);
  }

  /** The RRset with its RRSIGs. */
  withSigs(set: readonly Record[]): Record[] {
    return set.length ? [...set, ...this.sigs(set[0]!.name, set[0]!.type)] : [];
  }

  private nsecs?: Record[];
  private nsec3s?: { hash: Buffer; rr: Record }[];
  private n3params?: { salt: Buffer; iterations: number };

  private chains(): void {
    if (this.nsecs) return;
    this.nsecs = [];
    this.nsec3s = [];
    for (const node of this.nodes.values()) {
      for (const r of node.get(Type.NSEC) ?? []) this.nsecs.push(r);
      for (const r of node.get(Type.NSEC3) ?? []) {
        const hash = base32hexDecode(r.name.subarray(1, 1 + r.name[0]!).toString('latin1'));
        if (hash) this.nsec3s.push({ hash, rr: r });
      }
    }
    this.nsecs.sort((a, b) => compareNames(a.name, b.name));
    this.nsec3s.sort((a, b) => a.hash.compare(b.hash));
    const p = this.rrset(this.apex, Type.NSEC3PARAM)?.[0];
    if (p) this.n3params = { iterations: p.rdata.readUInt16BE(2), salt: p.rdata.subarray(5, 5 + p.rdata[4]!) };
  }

  get usesNsec3(): boolean {
    this.chains();
    return this.n3params !== undefined;
  }

  /** The NSEC at `name`, or the one covering it (RFC 4034 6.1 order), with its RRSIGs. */
  nsecFor(name: Name): Record[] {
    this.chains();
    const list = this.nsecs!;
    let best = list[list.length - 1];
    for (const r of list) {
      if (compareNames(r.name, name) <= 0) best = r;
      else break;
    }
    return best ? this.withSigs([best]) : [];
  }

  /** The NSEC3 matching `name`'s hash, or covering it (RFC 5155 7.2), with its RRSIGs; `match` says which. */
  nsec3For(name: Name): { records: Record[]; match: boolean } {
    this.chains();
    const list = this.nsec3s!;
    const h = nsec3Hash(name, this.n3params!.salt, this.n3params!.iterations);
    let best = list[list.length - 1];
    for (const e of list) {
      if (e.hash.compare(h) <= 0) best = e;
      else break;
    }
    if (!best) return { records: [], match: false };
    return { records: this.withSigs([best.rr]), match: best.hash.equals(h) };
  }

  /** RFC 5155 7.2.1: closest encloser proof for `name` (matching NSEC3 of the closest encloser, covering NSEC3 of the next closer). */
  closestEncloserProof(name: Name): { ce: Name; records: Record[] } {
    let next = name;
    for (let ce = parentName(name); ; ce = parentName(ce)) {
      const m = this.nsec3For(ce);
      if (m.match || ce.length <= this.apex.length) return { ce, records: [...m.records, ...this.nsec3For(next).records] };
      next = ce;
    }
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

  /**
   * The zone that answers a query: the deepest enclosing one, except that DS
   * at the apex of a zone is answered from its parent when this server has
   * the parent too (RFC 4035 3.1.4.1).
   */
  zoneForQuery(qname: Name, qtype: number): AuthZone | undefined {
    const zone = this.zoneFor(qname);
    if (qtype !== Type.DS || !zone || !namesEqual(zone.apex, qname) || qname.length === 1) return zone;
    return this.zoneFor(parentName(qname)) ?? zone;
  }

  /** RFC 1034 4.3.2; undefined when no zone encloses the name (REFUSED). */
  lookup(qname: Name, qtype: number): AuthAnswer | undefined {
    const zone = this.zoneForQuery(qname, qtype);
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

/** How a lab server behaves; `dead` servers are never started; `strip-rrsigs` answers a signed zone without any RRSIG. */
export type LabBehaviour = 'authoritative' | 'refused' | 'upward-referral' | 'poison' | 'dead' | 'strip-rrsigs';

/**
 * What a DO=1 query gets from a signed zone besides the data (RFC 4035 3.1,
 * RFC 5155 7.2): RRSIGs with each RRset, the NSEC/NSEC3 proofs of negative and
 * wildcard answers, and the DS (or the proof of its absence) in referrals.
 */
export function addDnssec(zone: AuthZone, qname: Name, a: AuthAnswer): void {
  const answers: Record[] = [];
  const proof: Record[] = [];
  let last = qname;
  for (const set of groupRRsets(a.answers)) {
    const owner = set[0]!.name;
    const type = set[0]!.type;
    answers.push(...set);
    if (type === Type.CNAME) last = set[0]!.rdata;
    if (zone.node(owner)?.has(type)) {
      answers.push(...zone.sigs(owner, type));
      continue;
    }
    // Not at its own node: expanded from a wildcard (RFC 4035 3.1.3.3), or a CNAME synthesised from a DNAME (unsigned, RFC 6672 5.3.1).
    let ce = parentName(owner);
    while (ce.length > zone.apex.length && !zone.exists(ce)) ce = parentName(ce);
    const wildcard = Buffer.concat([Buffer.from([1, 0x2a]), ce]);
    if (!zone.node(wildcard)?.has(type)) continue;
    answers.push(...zone.sigs(wildcard, type).map((r) => ({ ...r, name: owner })));
    if (zone.usesNsec3) proof.push(...zone.nsec3For(parentName(owner, labelCount(owner) - labelCount(ce) - 1)).records);
    else proof.push(...zone.nsecFor(owner));
  }
  const authority: Record[] = [];
  // NS in authority only ever come from a referral (also after a CNAME that leads below a cut: AA then stays set).
  const referralNs = a.authority.filter((r) => r.type === Type.NS);
  if (referralNs.length) {
    const child = referralNs[0]!.name;
    authority.push(...referralNs);
    const ds = zone.rrset(child, Type.DS);
    if (ds) authority.push(...zone.withSigs(ds));
    else if (zone.usesNsec3) {
      const m = zone.nsec3For(child);
      authority.push(...(m.match ? m.records : zone.closestEncloserProof(child).records));
    } else authority.push(...zone.nsecFor(child));
  } else {
    for (const r of a.authority) authority.push(r, ...(r.type === Type.SOA ? zone.sigs(r.name, Type.SOA) : []));
    const negative = a.authority.some((r) => r.type === Type.SOA);
    if (negative && isSubdomain(last, zone.apex)) authority.push(...denial(zone, last, a.rcode === Rcode.NXDOMAIN));
  }
  a.answers = answers;
  a.authority = dedupe([...authority, ...proof]);
}

/** NXDOMAIN or NODATA proof for `name` (RFC 4035 3.1.3, RFC 5155 7.2.2-7.2.5). */
function denial(zone: AuthZone, name: Name, nxdomain: boolean): Record[] {
  let ce = name;
  while (ce.length > zone.apex.length && !zone.exists(ce)) ce = parentName(ce);
  const wildcard = Buffer.concat([Buffer.from([1, 0x2a]), ce]);
  if (!zone.usesNsec3) {
    if (!nxdomain && namesEqual(ce, name)) return zone.nsecFor(name); // NODATA (or the NSEC covering an ENT)
    // NXDOMAIN, or wildcard NODATA: the name is covered, and the wildcard covered or matched.
    return [...zone.nsecFor(name), ...zone.nsecFor(wildcard)];
  }
  if (!nxdomain && namesEqual(ce, name)) {
    // NODATA: the matching NSEC3; with none (an opt-out span hides an unsigned delegation), the closest encloser proof (RFC 5155 7.2.4).
    const m = zone.nsec3For(name);
    return m.match ? m.records : zone.closestEncloserProof(name).records;
  }
  const proof = zone.closestEncloserProof(name);
  return [...proof.records, ...zone.nsec3For(wildcard).records];
}

function dedupe(records: Record[]): Record[] {
  const seen = new Set<string>();
  return records.filter((r) => {
    const k = nameKey(r.name) + '/' + r.type + '/' + r.rdata.toString('latin1');
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

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
  /** The last questions asked (`name/type`, lowercase, at most RECENT_QUESTIONS): tests see what reached a server. */
  readonly recent: string[] = [];

  constructor(private readonly data: AuthData, private readonly opts: AuthStageOptions = {}) {}

  handle(ctx: RequestContext): StageResult {
    this.queries++;
    const q = ctx.query!;
    const question = q.questions[0]!;
    if (this.recent.length >= RECENT_QUESTIONS) this.recent.shift();
    this.recent.push(`${nameToText(question.name).toLowerCase()}/${question.type}`);
    const m = emptyMessage({
      id: q.id, qr: true, opcode: q.opcode, rd: q.rd, cd: q.cd,
      questions: [question], // echoed byte for byte: resolvers check the 0x20 case
      ...(q.edns ? { edns: makeEdns(1232, q.edns.do) } : {}),
    });
    this.fill(m, question.name, question.type, q.edns?.do === true);
    ctx.response = m;
    // Additional first, then everything but the question goes when the reply does not fit (TC).
    ctx.wire = encodeMessage(m, ctx.maxSize);
    return 'answered';
  }

  private fill(m: Message, qname: Name, qtype: number, dnssecOk: boolean): void {
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
    const zone = this.data.zoneForQuery(qname, qtype);
    if (dnssecOk && zone?.signed) {
      addDnssec(zone, qname, a);
      if (behaviour === 'strip-rrsigs') {
        a.answers = a.answers.filter((r) => r.type !== Type.RRSIG);
        a.authority = a.authority.filter((r) => r.type !== Type.RRSIG);
      }
    } else if (qtype === Type.ANY || behaviour === 'strip-rrsigs') {
      // Without DO no RRSIG unless asked for by type (RFC 4035 3.1), not even in ANY; strip-rrsigs never.
      a.answers = a.answers.filter((r) => r.type !== Type.RRSIG);
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

  /** The last questions asked, `name/type` (AuthoritativeStage.recent). */
  get recent(): readonly string[] {
    return this.stage.recent;
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
