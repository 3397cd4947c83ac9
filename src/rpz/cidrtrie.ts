/**
 * IP prefixes for rpz-client-ip, rpz-ip and rpz-nsip triggers: a
 * path-compressed binary (PATRICIA) trie per address family, longest-prefix
 * match, and the RPZ owner-name encoding of prefixes (draft-vixie-dnsop-dns-rpz
 * section 4.3 / BIND ARM "Response Policy Zone (RPZ) Rewriting"):
 *
 *   32.1.2.0.192.rpz-ip          192.0.2.1/32   prefix length first, then the octets reversed
 *   24.0.2.0.192.rpz-ip          192.0.2.0/24
 *   128.1.zz.db8.2001.rpz-ip     2001:db8::1/128  groups reversed, `zz` for the run of zeros
 *
 * Path compression keeps a node per branching point, not per bit: 100,000
 * prefixes make under 200,000 nodes however long they are, held in typed
 * arrays (about 35 bytes an IPv4 prefix).
 */
import { ipToBytes } from '../resolver/acl.js';

export class CidrError extends Error {
  readonly code = 'VERDICT_ERR_RPZ_CIDR';
}

export interface Prefix {
  /** 4 bytes (IPv4) or 16 (IPv6), zero beyond `len`. */
  bytes: Uint8Array;
  len: number;
}

/**
 * Nodes of one address family, in typed-array columns (about 17 bytes a node
 * for IPv4, 29 for IPv6; no per-node objects for the GC to trace). Keys are
 * big-endian 32-bit words, zero beyond the node's prefix length.
 */
class Pool {
  key: Uint32Array;
  len: Uint8Array;
  value: Int32Array;
  c0: Int32Array;
  c1: Int32Array;
  count = 0;
  root = -1;
  prefixes = 0;
  /** The address being inserted or looked up, as words. */
  readonly scratch: Uint32Array;

  constructor(readonly words: number) {
    this.key = new Uint32Array(64 * words);
    this.len = new Uint8Array(64);
    this.value = new Int32Array(64);
    this.c0 = new Int32Array(64);
    this.c1 = new Int32Array(64);
    this.scratch = new Uint32Array(words);
  }

  load(bytes: Uint8Array): void {
    for (let w = 0; w < this.words; w++) {
      this.scratch[w] = ((bytes[4 * w]! << 24) | (bytes[4 * w + 1]! << 16) | (bytes[4 * w + 2]! << 8) | bytes[4 * w + 3]!) >>> 0;
    }
  }

  /** A new node holding the scratch key masked to `len`. */
  node(len: number, value: number): number {
    if (this.count === this.len.length) {
      const n = this.count * 2;
      const k = new Uint32Array(n * this.words); k.set(this.key); this.key = k;
      const l = new Uint8Array(n); l.set(this.len); this.len = l;
      const v = new Int32Array(n); v.set(this.value); this.value = v;
      const a = new Int32Array(n); a.set(this.c0); this.c0 = a;
      const b = new Int32Array(n); b.set(this.c1); this.c1 = b;
    }
    const i = this.count++;
    for (let w = 0; w < this.words; w++) {
      const r = len - 32 * w;
      this.key[i * this.words + w] = r >= 32 ? this.scratch[w]! : r <= 0 ? 0 : (this.scratch[w]! & (~0 << (32 - r))) >>> 0;
    }
    this.len[i] = len;
    this.value[i] = value;
    this.c0[i] = -1;
    this.c1[i] = -1;
    return i;
  }

  /** Bit `b` of the scratch key. */
  bit(b: number): number {
    return (this.scratch[b >>> 5]! >>> (31 - (b & 31))) & 1;
  }

  nodeBit(i: number, b: number): number {
    return (this.key[i * this.words + (b >>> 5)]! >>> (31 - (b & 31))) & 1;
  }

  /** Common prefix length of the scratch key and node `i`'s key, at most `max`. */
  common(i: number, max: number): number {
    const base = i * this.words;
    for (let w = 0; w < this.words && w * 32 < max; w++) {
      const x = (this.scratch[w]! ^ this.key[base + w]!) >>> 0;
      if (x !== 0) return Math.min(w * 32 + Math.clz32(x), max);
    }
    return max;
  }

  compact(): void {
    const n = this.count;
    if (this.len.length === n) return;
    this.key = this.key.slice(0, n * this.words);
    this.len = this.len.slice(0, n);
    this.value = this.value.slice(0, n);
    this.c0 = this.c0.slice(0, n);
    this.c1 = this.c1.slice(0, n);
  }

  bytesOf(i: number): Uint8Array {
    const out = new Uint8Array(this.words * 4);
    for (let w = 0; w < this.words; w++) {
      const v = this.key[i * this.words + w]!;
      out[4 * w] = v >>> 24;
      out[4 * w + 1] = (v >>> 16) & 0xff;
      out[4 * w + 2] = (v >>> 8) & 0xff;
      out[4 * w + 3] = v & 0xff;
    }
    return out;
  }
}

/** A longest-prefix match: the stored value and the prefix length that matched. */
export interface CidrMatch {
  value: number;
  len: number;
}

export class CidrTrie {
  private readonly v4 = new Pool(1);
  private readonly v6 = new Pool(4);

  get size(): number {
    return this.v4.prefixes + this.v6.prefixes;
  }

  get ipv4(): number {
    return this.v4.prefixes;
  }

  get ipv6(): number {
    return this.v6.prefixes;
  }

  /** Find or add a prefix; returns the stored value (the earlier one when the prefix was already there). */
  insert(p: Prefix, value: number): number {
    const max = p.bytes.length * 8;
    if ((max !== 32 && max !== 128) || p.len < 0 || p.len > max) throw new CidrError(`prefix length ${p.len} out of range 0..${max}`);
    const t = max === 32 ? this.v4 : this.v6;
    t.load(p.bytes);
    if (t.root < 0) {
      t.root = t.node(p.len, value);
      t.prefixes++;
      return value;
    }
    let node = t.root;
    let parent = -1;
    for (let guard = 0; guard <= max + 1; guard++) {
      const nlen = t.len[node]!;
      const cp = t.common(node, Math.min(p.len, nlen));
      if (cp < nlen) {
        // The new prefix branches off (or sits) above `node`.
        let top: number;
        if (cp === p.len) {
          top = t.node(p.len, value);
          if (t.nodeBit(node, cp)) t.c1[top] = node;
          else t.c0[top] = node;
        } else {
          top = t.node(cp, -1);
          const l = t.node(p.len, value);
          if (t.bit(cp)) {
            t.c1[top] = l;
            t.c0[top] = node;
          } else {
            t.c0[top] = l;
            t.c1[top] = node;
          }
        }
        if (parent < 0) t.root = top;
        else if (t.c0[parent] === node) t.c0[parent] = top;
        else t.c1[parent] = top;
        t.prefixes++;
        return value;
      }
      if (p.len === nlen) {
        if (t.value[node]! >= 0) return t.value[node]!;
        t.value[node] = value;
        t.prefixes++;
        return value;
      }
      const b = t.bit(nlen);
      const child = b ? t.c1[node]! : t.c0[node]!;
      if (child < 0) {
        const l = t.node(p.len, value);
        if (b) t.c1[node] = l;
        else t.c0[node] = l;
        t.prefixes++;
        return value;
      }
      parent = node;
      node = child;
    }
    throw new Error('CidrTrie insert did not terminate');
  }

  /** Trim the node columns once no more prefixes come. */
  compact(): this {
    this.v4.compact();
    this.v6.compact();
    return this;
  }

  /** Longest prefix containing `addr` (4 or 16 bytes). */
  match(addr: Uint8Array): CidrMatch | undefined {
    const max = addr.length * 8;
    const t = max === 32 ? this.v4 : max === 128 ? this.v6 : undefined;
    if (!t || t.root < 0) return undefined;
    t.load(addr);
    let best = -1;
    let node = t.root;
    for (let guard = 0; node >= 0 && guard <= max + 1; guard++) {
      const nlen = t.len[node]!;
      if (t.common(node, nlen) < nlen) break;
      if (t.value[node]! >= 0) best = node;
      if (nlen === max) break;
      node = t.bit(nlen) ? t.c1[node]! : t.c0[node]!;
    }
    return best >= 0 ? { value: t.value[best]!, len: t.len[best]! } : undefined;
  }

  /** Longest prefix containing an address given as text (IPv4-mapped IPv6 counts as IPv4). */
  matchText(address: string): CidrMatch | undefined {
    const b = ipToBytes(address);
    return b ? this.match(b) : undefined;
  }

  /** Every prefix and its value. */
  *entries(): Generator<[Prefix, number]> {
    for (const t of [this.v4, this.v6]) {
      for (let i = 0; i < t.count; i++) if (t.value[i]! >= 0) yield [{ bytes: t.bytesOf(i), len: t.len[i]! }, t.value[i]!];
    }
  }

  /** Bytes held by the node columns. */
  get byteSize(): number {
    let n = 0;
    for (const t of [this.v4, this.v6]) n += t.key.byteLength + t.len.byteLength + t.value.byteLength + t.c0.byteLength + t.c1.byteLength;
    return n;
  }
}

/** `a` masked to its first `len` bits (a copy). */
function masked(a: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(a.length);
  const full = len >> 3;
  out.set(a.subarray(0, full));
  if (len & 7) out[full] = a[full]! & (0xff << (8 - (len & 7)));
  return out;
}

const DEC = /^(0|[1-9][0-9]{0,2})$/;
const HEX = /^[0-9a-f]{1,4}$/i;

/**
 * Parse the labels of an RPZ IP trigger owner, without the `rpz-ip` (or
 * `rpz-client-ip`, `rpz-nsip`) label and the zone: `['24','0','2','0','192']`.
 * Throws CidrError for what BIND rejects: a bad prefix length, a malformed
 * address, or address bits set beyond the prefix.
 */
export function parseRpzPrefix(labels: readonly string[]): Prefix {
  const text = labels.join('.');
  if (labels.length < 2) throw new CidrError(`"${text}": expected PREFIXLEN.ADDRESS-LABELS`);
  const lenText = labels[0]!;
  if (!/^[0-9]{1,3}$/.test(lenText)) throw new CidrError(`"${text}": prefix length "${lenText}" is not a number`);
  const len = Number(lenText);
  const rest = labels.slice(1).reverse();
  let bytes: Uint8Array;
  if (rest.length === 4 && rest.every((l) => DEC.test(l))) {
    if (len < 1 || len > 32) throw new CidrError(`"${text}": IPv4 prefix length ${len} out of range 1..32`);
    bytes = Uint8Array.from(rest.map(Number));
    if (bytes.some((b, i) => b > 255 || Number(rest[i]) > 255)) throw new CidrError(`"${text}": IPv4 octet above 255`);
  } else {
    if (len < 1 || len > 128) throw new CidrError(`"${text}": IPv6 prefix length ${len} out of range 1..128`);
    const zz = rest.filter((l) => l.toLowerCase() === 'zz').length;
    if (zz > 1) throw new CidrError(`"${text}": "zz" may appear only once`);
    if (rest.some((l) => l.toLowerCase() !== 'zz' && !HEX.test(l))) throw new CidrError(`"${text}": not an IPv4 or IPv6 address encoding`);
    const groups: number[] = [];
    for (const l of rest) {
      if (l.toLowerCase() === 'zz') {
        const run = 8 - (rest.length - 1);
        if (run < 1) throw new CidrError(`"${text}": "zz" stands for no zero group`);
        for (let k = 0; k < run; k++) groups.push(0);
      } else {
        groups.push(parseInt(l, 16));
      }
    }
    if (groups.length !== 8) throw new CidrError(`"${text}": IPv6 address needs 8 groups (or "zz"), got ${groups.length}`);
    bytes = new Uint8Array(16);
    groups.forEach((g, i) => {
      bytes[i * 2] = g >> 8;
      bytes[i * 2 + 1] = g & 0xff;
    });
  }
  const m = masked(bytes, len);
  if (m.some((b, i) => b !== bytes[i])) {
    throw new CidrError(`"${text}": address ${prefixToText({ bytes, len: bytes.length * 8 }).replace(/\/.*/, '')} has bits set beyond /${len}`);
  }
  return { bytes, len };
}

/** Presentation: `192.0.2.0/24`, `2001:db8::/32`. */
export function prefixToText(p: Prefix): string {
  if (p.bytes.length === 4) return `${p.bytes.join('.')}/${p.len}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((p.bytes[i]! << 8) | p.bytes[i + 1]!);
  // RFC 5952 4.2: the longest run of two or more zero groups becomes "::".
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  const s = bestAt < 0 ? hex.join(':') : `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
  return `${s}/${p.len}`;
}

/** The RPZ owner labels of a prefix (before `rpz-ip`): `24.0.2.0.192`, `48.zz.1.db8.2001`. */
export function prefixToRpz(p: Prefix): string {
  if (p.bytes.length === 4) return `${p.len}.${[...p.bytes].reverse().join('.')}`;
  const text = prefixToText(p).replace(/\/.*/, '');
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parts = tail === undefined ? head.split(':') : [...(head ? head.split(':') : []), 'zz', ...(tail ? tail.split(':') : [])];
  return `${p.len}.${parts.reverse().join('.')}`;
}

/** Compare two addresses of one family as unsigned numbers (BIND's "smallest IP address" tie-break). */
export function compareAddresses(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
