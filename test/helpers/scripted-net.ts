/**
 * A scripted internet for iterator tests (no sockets): each address has a
 * function from question to reply, built from small tables.
 */
import { Rcode, Type } from '../../src/dns/constants.js';
import { emptyMessage } from '../../src/dns/message.js';
import type { Message, Record } from '../../src/dns/message.js';
import { isSubdomain, nameFromText, nameKey, namesEqual, nameToText } from '../../src/dns/name.js';
import type { Name } from '../../src/dns/name.js';
import { UpstreamError } from '../../src/resolver/transport.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../../src/resolver/transport.js';

export const n = (t: string): Name => nameFromText(t.endsWith('.') ? t : t + '.');

export function rr(owner: string, type: 'A' | 'AAAA' | 'NS' | 'CNAME' | 'DNAME' | 'SOA' | 'TXT', data: string, ttl = 300): Record {
  const t = Type[type];
  let rdata: Buffer;
  switch (type) {
    case 'A': rdata = Buffer.from(data.split('.').map(Number)); break;
    case 'NS': case 'CNAME': case 'DNAME': rdata = n(data); break;
    case 'SOA': {
      const times = Buffer.alloc(20);
      [1, 3600, 600, 86400, 300].forEach((v, i) => times.writeUInt32BE(v, i * 4));
      rdata = Buffer.concat([n(data), n('hostmaster.' + data), times]);
      break;
    }
    case 'TXT': rdata = Buffer.concat([Buffer.from([data.length]), Buffer.from(data)]); break;
    default: throw new Error(type);
  }
  return { name: n(owner), type: t, class: 1, ttl, rdata };
}

export interface Zone {
  apex: string;
  records: Record[];
}

/**
 * A minimal authoritative answer function over one zone's records: referral at
 * cuts, data, CNAME, NXDOMAIN/NODATA with SOA. Enough to script tests; the lab's
 * server is the full one.
 */
export function authoritative(zones: Zone[]): (q: { name: Name; type: number }) => Message {
  return (q) => {
    const zone = zones.filter((z) => isSubdomain(q.name, n(z.apex))).sort((a, b) => b.apex.length - a.apex.length)[0];
    const m = emptyMessage({ qr: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    if (!zone) {
      m.rcode = Rcode.REFUSED;
      return m;
    }
    const apex = n(zone.apex);
    // Zone cut between apex and name?
    const cut = zone.records.find((r) => r.type === Type.NS && !namesEqual(r.name, apex) && isSubdomain(q.name, r.name));
    if (cut) {
      m.authorities = zone.records.filter((r) => r.type === Type.NS && namesEqual(r.name, cut.name));
      m.additionals = zone.records.filter((r) => (r.type === Type.A || r.type === Type.AAAA) && m.authorities.some((ns) => namesEqual(ns.rdata, r.name)));
      return m;
    }
    m.aa = true;
    const dname = zone.records.find((r) => r.type === Type.DNAME && isSubdomain(q.name, r.name) && !namesEqual(q.name, r.name));
    if (dname) {
      const target = Buffer.concat([q.name.subarray(0, q.name.length - dname.name.length), dname.rdata]);
      m.answers = [dname, { name: q.name, type: Type.CNAME, class: 1, ttl: dname.ttl, rdata: target }];
      return m;
    }
    const at = zone.records.filter((r) => namesEqual(r.name, q.name));
    const data = at.filter((r) => r.type === q.type);
    const cname = at.find((r) => r.type === Type.CNAME);
    if (data.length) m.answers = data;
    else if (cname) m.answers = [cname];
    else {
      const exists = zone.records.some((r) => isSubdomain(r.name, q.name));
      if (!exists) m.rcode = Rcode.NXDOMAIN;
      m.authorities = zone.records.filter((r) => r.type === Type.SOA);
    }
    return m;
  };
}

export type Handler = (q: { name: Name; type: number }) => Message | 'timeout';

export class ScriptedNet implements Transport {
  readonly log: string[] = [];
  constructor(readonly servers: Map<string, Handler>) {}

  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    this.log.push(`${q.address} ${nameToText(q.name).toLowerCase()} ${q.type}`);
    const h = this.servers.get(q.address);
    const reply = h ? h({ name: q.name, type: q.type }) : 'timeout';
    if (reply === 'timeout') throw new UpstreamError('VERDICT_ERR_TIMEOUT', `no answer from ${q.address}`);
    return { message: reply, rttMs: 1, sentName: q.name, tcp: false };
  }

  asked(address: string): number {
    return this.log.filter((l) => l.startsWith(address + ' ')).length;
  }
}

export function key(t: string): string {
  return nameKey(n(t));
}
