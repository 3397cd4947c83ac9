/**
 * Locally served zones: names no query may leave the resolver for.
 *
 *   RFC 6303   reverse zones of private, loopback, link-local, documentation
 *              and "this host" addresses, answered from empty zones (the AS112
 *              servers are the public DNS's answer to resolvers that leak them)
 *   RFC 6598   reverse zones of the shared address space 100.64.0.0/10 (CGN),
 *              in IANA's registry of locally served zones; a family of its own
 *              since an ISP may serve those names itself (a stub zone then)
 *   RFC 6761   `localhost.` (every name below it: 127.0.0.1 and ::1, 6.3), its
 *              reverse names (PTR localhost.), `invalid.` and `test.` NXDOMAIN
 *   RFC 7686   `onion.` NXDOMAIN
 *   RFC 8375   `home.arpa.` NXDOMAIN (a home network's own names)
 *
 * Every zone has the SOA and NS Unbound gives its own (`localhost.
 * nobody.invalid. 1 3600 1200 604800 10800`, NS `localhost.`, TTL 10800), and
 * answers as an authoritative server (AA): data, NODATA at an existing name,
 * NXDOMAIN below (docs/LOCAL-ZONES.md compares the four anchors).
 */
import { Class, Rcode, Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import { isSubdomain, nameFromText, nameKey, namesEqual, nameToText, parentName } from '../dns/name.js';
import type { Name } from '../dns/name.js';

export type LocalFamily = 'reverse' | 'shared_address' | 'localhost' | 'invalid' | 'test' | 'onion' | 'home_arpa';
export const LOCAL_FAMILIES: readonly LocalFamily[] = ['reverse', 'shared_address', 'localhost', 'invalid', 'test', 'onion', 'home_arpa'];

/** TTL of every record and of negative answers (Unbound's). */
const TTL = 10800;

const ip6Zero = (ones: boolean) => `${ones ? '1' : '0'}.${'0.'.repeat(31)}ip6.arpa`;

/** Zones of each family, apex names in presentation form. */
const FAMILY_ZONES: { [f in LocalFamily]: string[] } = {
  reverse: [
    // RFC 6303 4.1 (RFC 1918)
    '10.in-addr.arpa',
    ...Array.from({ length: 16 }, (_, i) => `${16 + i}.172.in-addr.arpa`),
    '168.192.in-addr.arpa',
    // RFC 6303 4.2 (RFC 5735, RFC 5737): this network, link-local, TEST-NET-1/2/3, broadcast
    '0.in-addr.arpa', '254.169.in-addr.arpa', '2.0.192.in-addr.arpa', '100.51.198.in-addr.arpa', '113.0.203.in-addr.arpa',
    '255.255.255.255.in-addr.arpa',
    // RFC 6303 4.3-4.6: ::, fc00::/7, fe80::/10, 2001:db8::/32
    ip6Zero(false), 'd.f.ip6.arpa', '8.e.f.ip6.arpa', '9.e.f.ip6.arpa', 'a.e.f.ip6.arpa', 'b.e.f.ip6.arpa', '8.b.d.0.1.0.0.2.ip6.arpa',
  ],
  shared_address: Array.from({ length: 64 }, (_, i) => `${64 + i}.100.in-addr.arpa`),
  // RFC 6303 4.2 and 4.3 list 127/8 and ::1 too; they carry `localhost` data, so they live here.
  localhost: ['localhost', '127.in-addr.arpa', ip6Zero(true)],
  invalid: ['invalid'],
  test: ['test'],
  onion: ['onion'],
  home_arpa: ['home.arpa'],
};

/** What a local zone says of one name and type. */
export interface LocalAnswer {
  /** The zone's apex, in presentation form (the metric's label). */
  zone: string;
  rcode: typeof Rcode.NOERROR | typeof Rcode.NXDOMAIN;
  answers: Record[];
  /** The SOA of a negative answer. */
  soa: Record[];
}

const LOCALHOST = nameFromText('localhost.');

function rr(name: Name, type: number, rdata: Buffer | Name): Record {
  return { name, type, class: Class.IN, ttl: TTL, rdata };
}

function soaRdata(): Buffer {
  const n = (t: string) => nameFromText(t);
  const nums = Buffer.alloc(20);
  [1, 3600, 1200, 604800, 10800].forEach((v, i) => nums.writeUInt32BE(v, i * 4));
  return Buffer.concat([n('localhost.'), n('nobody.invalid.'), nums]);
}

class LocalZone {
  readonly soa: Record;
  readonly label: string;
  /** Data by owner, then type (apex SOA and NS included). */
  private readonly data = new Map<string, Map<number, Record[]>>();
  /** Owners and the empty non-terminals between them and the apex. */
  private readonly names = new Set<string>();

  constructor(readonly apex: Name, records: Record[], readonly everyNameIsApex = false) {
    this.label = nameToText(apex);
    this.soa = rr(apex, Type.SOA, soaRdata());
    for (const r of [this.soa, rr(apex, Type.NS, LOCALHOST), ...records]) {
      const k = nameKey(r.name);
      let node = this.data.get(k);
      if (!node) this.data.set(k, (node = new Map()));
      node.set(r.type, [...(node.get(r.type) ?? []), r]);
      for (let n = r.name; isSubdomain(n, apex); n = parentName(n)) {
        this.names.add(nameKey(n));
        if (namesEqual(n, apex)) break;
      }
    }
  }

  answer(name: Name, type: number): LocalAnswer {
    const node = this.data.get(nameKey(name));
    const exists = node !== undefined || this.names.has(nameKey(name));
    if (!exists && !this.everyNameIsApex) return { zone: this.label, rcode: Rcode.NXDOMAIN, answers: [], soa: [this.soa] };
    // RFC 6761 6.3: every name below localhost. is the loopback address; other types, NODATA.
    const source = node ?? (this.everyNameIsApex ? this.data.get(nameKey(this.apex)) : undefined);
    let records = source?.get(type) ?? [];
    if (!node && records.length) records = records.filter((r) => r.type === Type.A || r.type === Type.AAAA).map((r) => ({ ...r, name }));
    if (type === Type.ANY && source) records = [...source.values()].flat().map((r) => ({ ...r, name }));
    return { zone: this.label, rcode: Rcode.NOERROR, answers: records, soa: records.length ? [] : [this.soa] };
  }
}

function buildZone(apexText: string): LocalZone {
  const apex = nameFromText(apexText + '.');
  if (apexText === 'localhost') {
    return new LocalZone(apex, [rr(apex, Type.A, Buffer.from([127, 0, 0, 1])), rr(apex, Type.AAAA, Buffer.from('00000000000000000000000000000001', 'hex'))], true);
  }
  if (apexText === '127.in-addr.arpa') return new LocalZone(apex, [rr(nameFromText('1.0.0.127.in-addr.arpa.'), Type.PTR, LOCALHOST)]);
  if (apexText === ip6Zero(true)) return new LocalZone(apex, [rr(apex, Type.PTR, LOCALHOST)]);
  return new LocalZone(apex, []);
}

/** The enabled families' zones, by apex; immutable once built (a reload builds a new set). */
export class LocalZones {
  private readonly zones = new Map<string, LocalZone>();

  constructor(families: Iterable<LocalFamily>) {
    for (const f of families) {
      for (const z of FAMILY_ZONES[f]) {
        const zone = buildZone(z);
        this.zones.set(nameKey(zone.apex), zone);
      }
    }
  }

  get size(): number {
    return this.zones.size;
  }

  /** Apex names of every zone served. */
  apexes(): Name[] {
    return [...this.zones.values()].map((z) => z.apex);
  }

  /** The zone at `key` (a nameKey), for the route table. */
  zoneAt(key: string): { answer(name: Name, type: number): LocalAnswer; apex: Name } | undefined {
    return this.zones.get(key);
  }
}

/** The zones of a family (docs and tests). */
export function familyZones(f: LocalFamily): readonly string[] {
  return FAMILY_ZONES[f];
}
