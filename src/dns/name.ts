/**
 * Domain names as labels, in uncompressed wire form.
 *
 * A `Name` is the wire encoding of a name (length-prefixed labels ending with
 * the zero-length root label), keeping every byte and the original case.
 * Written by hand because dns-packet turns names into strings, which loses
 * labels that contain '.' or bytes that are not UTF-8 (RFC 4343, RFC 2181 11).
 *
 * Comparison is case-insensitive on ASCII letters only (RFC 4343 section 3).
 * `nameKey()` gives the canonical key used by every map and trie.
 */
export type Name = Buffer;

export const MAX_NAME_LENGTH = 255;
export const MAX_LABEL_LENGTH = 63;

export const ROOT: Name = Buffer.from([0]);

export class NameError extends Error {
  readonly code = 'VERDICT_ERR_NAME';
}

const LOWER = new Uint8Array(256);
for (let i = 0; i < 256; i++) LOWER[i] = i >= 0x41 && i <= 0x5a ? i + 0x20 : i;

/** Lowercase copy of a wire name (ASCII letters only). */
export function lowerName(name: Name): Name {
  const out = Buffer.allocUnsafe(name.length);
  for (let i = 0; i < name.length; i++) out[i] = LOWER[name[i]!]!;
  return out;
}

/**
 * Canonical key: the lowercased wire bytes as a latin1 string. Latin1 maps each
 * byte to one UTF-16 unit, so distinct names give distinct keys.
 */
export function nameKey(name: Name): string {
  // Fast form: one latin1 decode, and String.toLowerCase only when there is an ASCII capital
  // and no byte above 0x7f (toLowerCase would also fold latin1 letters, which DNS keeps apart).
  let upper = false;
  for (let i = 0; i < name.length; i++) {
    const b = name[i]!;
    if (b > 0x7f) return slowKey(name);
    if (b >= 0x41 && b <= 0x5a) upper = true;
  }
  const s = name.toString('latin1');
  return upper ? s.toLowerCase() : s;
}

function slowKey(name: Name): string {
  let s = '';
  for (let i = 0; i < name.length; i++) s += String.fromCharCode(LOWER[name[i]!]!);
  return s;
}

export function nameFromKey(key: string): Name {
  return Buffer.from(key, 'latin1');
}

export function namesEqual(a: Name, b: Name): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (LOWER[a[i]!] !== LOWER[b[i]!]) return false;
  return true;
}

/** Number of labels, not counting the root. */
export function labelCount(name: Name): number {
  let n = 0;
  for (let i = 0; name[i]! !== 0; i += name[i]! + 1) n++;
  return n;
}

/** The labels of a name, most specific first, as views into the name. */
export function labels(name: Name): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; name[i]! !== 0; i += name[i]! + 1) out.push(name.subarray(i + 1, i + 1 + name[i]!));
  return out;
}

export function fromLabels(parts: readonly Uint8Array[]): Name {
  let len = 1;
  for (const l of parts) {
    if (l.length === 0 || l.length > MAX_LABEL_LENGTH) throw new NameError(`label of ${l.length} bytes`);
    len += l.length + 1;
  }
  if (len > MAX_NAME_LENGTH) throw new NameError(`name of ${len} bytes exceeds ${MAX_NAME_LENGTH}`);
  const out = Buffer.allocUnsafe(len);
  let o = 0;
  for (const l of parts) {
    out[o++] = l.length;
    out.set(l, o);
    o += l.length;
  }
  out[o] = 0;
  return out;
}

/** The name without its first `drop` labels (a view, no copy). */
export function parentName(name: Name, drop = 1): Name {
  let i = 0;
  for (let k = 0; k < drop && name[i]! !== 0; k++) i += name[i]! + 1;
  return name.subarray(i);
}

/** True when `name` equals `zone` or lies below it. */
export function isSubdomain(name: Name, zone: Name): boolean {
  if (zone.length > name.length) return false;
  // Walk label boundaries of `name` until the remaining suffix has zone's length.
  let i = 0;
  while (name.length - i > zone.length) {
    if (name[i]! === 0) return false;
    i += name[i]! + 1;
  }
  if (name.length - i !== zone.length) return false;
  for (let k = 0; k < zone.length; k++) if (LOWER[name[i + k]!] !== LOWER[zone[k]!]) return false;
  return true;
}

/** `prefix` labels followed by `suffix`. */
export function concatNames(prefix: Name, suffix: Name): Name {
  const len = prefix.length - 1 + suffix.length;
  if (len > MAX_NAME_LENGTH) throw new NameError(`name of ${len} bytes exceeds ${MAX_NAME_LENGTH}`);
  return Buffer.concat([prefix.subarray(0, prefix.length - 1), suffix]);
}

/** Replace the `oldSuffix` of `name` by `newSuffix` (DNAME substitution, RFC 6672 2.2). */
export function replaceSuffix(name: Name, oldSuffix: Name, newSuffix: Name): Name {
  const prefix = name.subarray(0, name.length - oldSuffix.length);
  const len = prefix.length + newSuffix.length;
  if (len > MAX_NAME_LENGTH) throw new NameError(`name of ${len} bytes exceeds ${MAX_NAME_LENGTH}`);
  return Buffer.concat([prefix, newSuffix]);
}

/** DNSSEC canonical order (RFC 4034 6.1), used to sort zone contents. */
export function compareNames(a: Name, b: Name): number {
  const la = labels(a).reverse();
  const lb = labels(b).reverse();
  for (let i = 0; i < Math.min(la.length, lb.length); i++) {
    const x = la[i]!;
    const y = lb[i]!;
    for (let k = 0; k < Math.min(x.length, y.length); k++) {
      const d = LOWER[x[k]!]! - LOWER[y[k]!]!;
      if (d !== 0) return d;
    }
    if (x.length !== y.length) return x.length - y.length;
  }
  return la.length - lb.length;
}

/**
 * Parse presentation format (RFC 1035 5.1): escapes `\.`, `\\` and `\DDD`.
 * A name without a final dot is relative to `origin` (default: the root).
 */
export function nameFromText(text: string, origin: Name = ROOT): Name {
  if (text === '.') return ROOT;
  if (text === '@') return origin;
  const parts: Buffer[] = [];
  let cur: number[] = [];
  let absolute = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) {
      const d = text.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(d)) {
        const v = Number(d);
        if (v > 255) throw new NameError(`bad escape \\${d} in ${JSON.stringify(text)}`);
        cur.push(v);
        i += 3;
      } else if (i + 1 < text.length) {
        cur.push(text.charCodeAt(++i) & 0xff);
      } else {
        throw new NameError(`dangling escape in ${JSON.stringify(text)}`);
      }
    } else if (c === 0x2e /* . */) {
      if (cur.length === 0) throw new NameError(`empty label in ${JSON.stringify(text)}`);
      parts.push(Buffer.from(cur));
      cur = [];
      if (i === text.length - 1) absolute = true;
    } else {
      if (c > 0xff) throw new NameError(`non-ASCII character in ${JSON.stringify(text)}; use IDNA (punycode) or \\DDD`);
      cur.push(c);
    }
  }
  if (cur.length) parts.push(Buffer.from(cur));
  const own = fromLabels(parts);
  return absolute || origin.length === 1 ? own : concatNames(own, origin);
}

function labelToText(l: Uint8Array): string {
  let s = '';
  for (const b of l) {
    if (b === 0x2e || b === 0x5c || b === 0x22 || b === 0x3b || b === 0x28 || b === 0x29 || b === 0x40 || b === 0x24) {
      s += '\\' + String.fromCharCode(b);
    } else if (b <= 0x20 || b >= 0x7f) {
      s += '\\' + String(b).padStart(3, '0');
    } else {
      s += String.fromCharCode(b);
    }
  }
  return s;
}

/** Presentation format, absolute, with escapes where needed. */
export function nameToText(name: Name): string {
  if (name.length <= 1) return '.';
  let s = '';
  for (const l of labels(name)) s += labelToText(l) + '.';
  return s;
}

/**
 * Randomise the case of ASCII letters (draft-vixie-dnsext-dns0x20): the server
 * must echo the question exactly, which adds bits an off-path forger must guess.
 */
export function randomizeCase(name: Name, random: Buffer): Name {
  const out = Buffer.from(name);
  let bit = 0;
  for (let i = 0; i < out.length; i++) {
    const c = out[i]!;
    const isLetter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!isLetter) continue;
    const r = (random[(bit >> 3) % random.length]! >> (bit & 7)) & 1;
    bit++;
    out[i] = r ? c | 0x20 : c & ~0x20;
  }
  return out;
}

/** Exact byte equality (0x20 check: the echoed case must match what we sent). */
export function namesIdentical(a: Name, b: Name): boolean {
  return a.equals(b);
}
