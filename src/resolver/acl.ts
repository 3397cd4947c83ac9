/** Client access control: an allow-list of CIDR prefixes (a handful of entries, so a list scan). */
import { isIP } from 'node:net';

export interface Cidr {
  bytes: Uint8Array;
  bits: number;
}

/** Address -> 4 or 16 bytes; IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4. */
export function ipToBytes(ip: string): Uint8Array | undefined {
  const fam = isIP(ip);
  if (fam === 4) return Uint8Array.from(ip.split('.').map(Number));
  if (fam !== 6) return undefined;
  const mapped = /^::ffff:([0-9.]+)$/i.exec(ip);
  if (mapped) return ipToBytes(mapped[1]!);
  let s = ip;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  // An embedded dotted quad at the end takes the last 32 bits.
  let tail: number[] = [];
  const dq = /([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)$/.exec(s);
  if (dq) {
    tail = dq[1]!.split('.').map(Number);
    s = s.slice(0, -dq[1]!.length) + '0:0';
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const r = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - r.length).fill('0'), ...r].map((g) => parseInt(g, 16));
  const out = new Uint8Array(16);
  groups.forEach((g, i) => { out[i * 2] = g >> 8; out[i * 2 + 1] = g & 0xff; });
  if (tail.length) out.set(tail, 12);
  return out;
}

export function parseCidr(text: string): Cidr {
  const [addr, len] = text.split('/') as [string, string | undefined];
  const bytes = ipToBytes(addr);
  if (!bytes) throw new Error(`${JSON.stringify(text)}: not an IP address or prefix`);
  const max = bytes.length * 8;
  const bits = len === undefined ? max : Number(len);
  if (!Number.isInteger(bits) || bits < 0 || bits > max) throw new Error(`${JSON.stringify(text)}: prefix length out of range 0..${max}`);
  return { bytes, bits };
}

export function cidrContains(c: Cidr, ip: Uint8Array): boolean {
  if (c.bytes.length !== ip.length) return false;
  const full = c.bits >> 3;
  for (let i = 0; i < full; i++) if (c.bytes[i] !== ip[i]) return false;
  const rem = c.bits & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (c.bytes[full]! & mask) === (ip[full]! & mask);
}

export class AccessList {
  private readonly prefixes: Cidr[];
  private readonly memo = new Map<string, boolean>();

  constructor(cidrs: readonly string[]) {
    this.prefixes = cidrs.map(parseCidr);
  }

  allows(ip: string): boolean {
    let ok = this.memo.get(ip);
    if (ok === undefined) {
      const b = ipToBytes(ip);
      ok = b !== undefined && this.prefixes.some((c) => cidrContains(c, b));
      if (this.memo.size > 10_000) this.memo.clear(); // bounded: addresses are attacker-chosen
      this.memo.set(ip, ok);
    }
    return ok;
  }
}

export function isLoopback(ip: string): boolean {
  const b = ipToBytes(ip);
  if (!b) return false;
  if (b.length === 4) return b[0] === 127;
  return b.every((v, i) => (i === 15 ? v === 1 : v === 0));
}
