/**
 * Registrable domains ("eTLD+1": dpstream.pw, example.co.uk): the unit a
 * mirror is registered as, and the key the watcher aggregates by.
 *
 * The rules are those of the Public Suffix List (https://publicsuffix.org/list/):
 * a plain rule, a wildcard `*.ck` and an exception `!www.ck`; the implicit
 * rule `*` makes every TLD a suffix. The built-in list is small (the common
 * second-level suffixes) so results do not depend on the machine; a server
 * may load the full list, which Debian ships in the `publicsuffix` package.
 */
import { readFileSync } from 'node:fs';
import type { Name } from '../dns/name.js';

export const SYSTEM_PSL = '/usr/share/publicsuffix/public_suffix_list.dat';

/** Common multi-label public suffixes (ICANN section), enough for the usual ccTLD second levels. */
const BUILT_IN = `
co.uk org.uk me.uk ltd.uk plc.uk net.uk ac.uk gov.uk
com.au net.au org.au edu.au gov.au
co.nz org.nz net.nz
co.jp ne.jp or.jp ac.jp go.jp
com.br net.br org.br
com.cn net.cn org.cn
com.mx com.ar com.co com.tr com.tw com.hk com.sg com.my com.ph com.pk com.ua com.ru
co.in net.in org.in co.za co.il co.kr or.kr co.id
asso.fr gouv.fr com.es org.es com.pl net.pl org.pl com.pt com.ro com.gr
*.ck !www.ck
`;

export class PublicSuffixes {
  private readonly rules = new Set<string>();
  private readonly wildcards = new Set<string>();
  private readonly exceptions = new Set<string>();

  /** Rules in the PSL file format: one per line, `//` comments, `*.` wildcards, `!` exceptions. */
  static fromText(text: string): PublicSuffixes {
    const p = new PublicSuffixes();
    for (const raw of text.split(/\s+/)) {
      const rule = raw.trim().toLowerCase();
      if (rule === '' || rule.startsWith('//')) continue;
      if (rule.startsWith('!')) p.exceptions.add(rule.slice(1));
      else if (rule.startsWith('*.')) p.wildcards.add(rule.slice(2));
      else p.rules.add(rule);
    }
    return p;
  }

  static builtIn(): PublicSuffixes {
    return PublicSuffixes.fromText(BUILT_IN);
  }

  /** The full list from `path` (default Debian's), else the built-in one. Internationalised rules are kept as written (not punycode). */
  static system(path = SYSTEM_PSL): PublicSuffixes {
    try {
      return PublicSuffixes.fromText(readFileSync(path, 'utf8').split('\n').map((l) => l.split(' ')[0] ?? '').join('\n'));
    } catch {
      return PublicSuffixes.builtIn();
    }
  }

  /** True when `suffix` (lowercase, no trailing dot) is a public suffix. */
  isSuffix(suffix: string): boolean {
    if (!suffix.includes('.')) return true; // the implicit rule `*`: every TLD
    if (this.exceptions.has(suffix)) return false;
    if (this.rules.has(suffix)) return true;
    const dot = suffix.indexOf('.');
    return this.wildcards.has(suffix.slice(dot + 1));
  }

  /**
   * The registrable domain of a presentation name (lowercase, no trailing dot):
   * the public suffix plus one label. A name that is itself a suffix is its own
   * registrable domain (so it still has a key).
   */
  registrable(name: string): string {
    const labels = name.split('.');
    // The TLD is a suffix (implicit rule); take one more label while the longer suffix is public (rules nest: co.uk below uk).
    let k = 1;
    while (k < labels.length && this.isSuffix(labels.slice(-(k + 1)).join('.'))) k++;
    return k < labels.length ? labels.slice(-(k + 1)).join('.') : name;
  }

  /**
   * Byte offset in the wire name where its registrable domain starts, and the
   * domain in presentation form (lowercase, no trailing dot). Allocates only
   * the suffix strings it looks up (one or two for an ordinary name).
   * `isSuffix`: the whole name is a public suffix (a TLD, co.uk), no site.
   */
  registrableOf(wire: Name): { offset: number; name: string; isSuffix: boolean } {
    // Label offsets, most specific first.
    const starts = OFFSETS;
    let n = 0;
    for (let i = 0; i < wire.length && wire[i]! !== 0 && n < starts.length; i += wire[i]! + 1) starts[n++] = i;
    if (n === 0) return { offset: 0, name: '', isSuffix: true };
    // The TLD is a suffix (implicit rule); take one more label while the longer suffix is public.
    let k = n - 1;
    while (k > 0) {
      const longer = textFrom(wire, starts[k - 1]!);
      if (!this.isSuffix(longer)) return { offset: starts[k - 1]!, name: longer, isSuffix: false };
      k--;
    }
    return { offset: starts[0]!, name: textFrom(wire, starts[0]!), isSuffix: true };
  }
}

const OFFSETS = new Int32Array(128);

const SCRATCH = Buffer.alloc(256);

/**
 * Lowercase presentation text (no trailing dot) of the wire name from byte
 * `offset`. One string allocation for an ordinary name (letters, digits, '-',
 * '_'); other bytes are written \DDD (RFC 1035 5.1) on a slower path.
 */
export function textFrom(wire: Name, offset: number): string {
  let o = 0;
  for (let i = offset; i < wire.length && wire[i]! !== 0; ) {
    const len = wire[i]!;
    if (i + len >= wire.length || o + len + 1 > SCRATCH.length) return slowText(wire, offset);
    if (i !== offset) SCRATCH[o++] = 0x2e;
    for (let k = i + 1; k <= i + len; k++) {
      let b = wire[k]!;
      if (b >= 0x41 && b <= 0x5a) b += 0x20;
      else if (!((b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x5f)) return slowText(wire, offset);
      SCRATCH[o++] = b;
    }
    i += len + 1;
  }
  return SCRATCH.toString('latin1', 0, o);
}

function slowText(wire: Name, offset: number): string {
  let s = '';
  for (let i = offset; i < wire.length && wire[i]! !== 0; ) {
    const len = wire[i]!;
    if (i !== offset) s += '.';
    for (let k = i + 1; k <= i + len && k < wire.length; k++) {
      let b = wire[k]!;
      if (b >= 0x41 && b <= 0x5a) b += 0x20;
      if ((b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x5f) s += String.fromCharCode(b);
      else s += '\\' + String(b).padStart(3, '0');
    }
    i += len + 1;
  }
  return s;
}

/** Split a registrable domain into its first label and its public suffix: dpstream.pw -> [dpstream, pw]. */
export function splitRegistrable(domain: string): { label: string; suffix: string } {
  const dot = domain.indexOf('.');
  return dot < 0 ? { label: domain, suffix: '' } : { label: domain.slice(0, dot), suffix: domain.slice(dot + 1) };
}
