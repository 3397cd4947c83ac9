/**
 * Discovery of Designated Resolvers (RFC 9462): a client that knows only our
 * address asks `_dns.resolver.arpa SVCB` and learns our encrypted endpoints,
 * then upgrades to them (RFC 9462 4). Answered here, never resolved: one SVCB
 * record per configured name (server.ddr), DoT with alpn "dot", DoH with alpn
 * "h2" and its dohpath (RFC 9461), each with its port and the addresses it
 * listens on as hints. Other types at that name, and any name under
 * resolver.arpa, get NODATA (RFC 9462 8: never sent upstream).
 */
import { isIP } from 'node:net';
import { Rcode, Type } from '../../dns/constants.js';
import { encodeMessage } from '../../dns/message.js';
import type { Record } from '../../dns/message.js';
import { isSubdomain, nameFromText, nameKey } from '../../dns/name.js';
import type { Name } from '../../dns/name.js';
import { replyTo } from '../../dns/reply.js';
import type { RequestContext, Stage, StageResult } from '../context.js';

const DDR_NAME = nameFromText('_dns.resolver.arpa.');
const DDR_KEY = nameKey(DDR_NAME);
const RESOLVER_ARPA = nameFromText('resolver.arpa.');

/** SvcParamKeys (RFC 9460 14.3.2, RFC 9461 5). */
const KEY_ALPN = 1;
const KEY_PORT = 3;
const KEY_IPV4HINT = 4;
const KEY_IPV6HINT = 6;
const KEY_DOHPATH = 7;

export interface DdrEndpoint {
  /** SvcPriority: the client's order of preference. */
  priority: number;
  target: Name;
  alpn: string[];
  port: number;
  addresses: string[];
  dohpath?: string;
}

function ipBytes(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split('.').map(Number));
  // Expand "::" and write the eight 16-bit groups.
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** SVCB RDATA (RFC 9460 2.2): priority, target name, then parameters in increasing key order. */
export function svcbRdata(e: DdrEndpoint): Buffer {
  const params: [number, Buffer][] = [];
  params.push([KEY_ALPN, Buffer.concat(e.alpn.map((a) => Buffer.concat([Buffer.from([a.length]), Buffer.from(a, 'ascii')])))]);
  const port = Buffer.alloc(2);
  port.writeUInt16BE(e.port);
  params.push([KEY_PORT, port]);
  const v4 = e.addresses.filter((a) => isIP(a) === 4 && a !== '0.0.0.0');
  const v6 = e.addresses.filter((a) => isIP(a) === 6 && a !== '::');
  if (v4.length) params.push([KEY_IPV4HINT, Buffer.concat(v4.map(ipBytes))]);
  if (v6.length) params.push([KEY_IPV6HINT, Buffer.concat(v6.map(ipBytes))]);
  if (e.dohpath) params.push([KEY_DOHPATH, Buffer.from(e.dohpath, 'utf8')]);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(e.priority);
  return Buffer.concat([head, e.target, ...params.flatMap(([k, v]) => {
    const kl = Buffer.alloc(4);
    kl.writeUInt16BE(k, 0);
    kl.writeUInt16BE(v.length, 2);
    return [kl, v];
  })]);
}

export class DdrStage implements Stage {
  readonly name = 'ddr';

  /** `endpoints` is read at each query: the listeners' bound ports are known only once they listen. */
  constructor(private readonly endpoints: () => DdrEndpoint[], private readonly ttl: number, private readonly maxSize = 65535) {}

  handle(ctx: RequestContext): StageResult {
    const q = ctx.query!.questions[0]!;
    if (!isSubdomain(q.name, RESOLVER_ARPA)) return 'next';
    const m = replyTo(ctx.query!, Rcode.NOERROR, this.maxSize);
    m.aa = true;
    if (nameKey(q.name) === DDR_KEY && q.type === Type.SVCB) {
      m.answers = this.endpoints().map((e): Record => ({ name: q.name, type: Type.SVCB, class: 1, ttl: this.ttl, rdata: svcbRdata(e) }));
    }
    ctx.wire = encodeMessage(m, ctx.maxSize);
    ctx.notes.ddr = true;
    return 'answered';
  }
}
