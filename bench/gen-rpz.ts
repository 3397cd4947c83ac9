/**
 * Generates RPZ zone files for benchmarks: N QNAME triggers with a realistic
 * spread of name lengths and depths (10% wildcards), plus optional CIDR
 * triggers. Deterministic (seeded), so runs compare.
 */
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TLDS = ['com', 'net', 'org', 'tv', 'fr', 'pw', 'cc', 'me', 'info', 'io', 'de', 'co.uk'];
const SYL = ['stream', 'film', 'allo', 'fifo', 'dp', 'video', 'mega', 'share', 'movie', 'tv', 'free', 'watch', 'hd', 'zone', 'box', 'play', 'net', 'go'];

/** The i-th rule's name (without the zone suffix), 2 to 5 labels. */
export function ruleName(i: number, r: () => number): string {
  const base = SYL[Math.floor(r() * SYL.length)]! + SYL[Math.floor(r() * SYL.length)]! + i.toString(36);
  const tld = TLDS[Math.floor(r() * TLDS.length)]!;
  const depth = r();
  const sub = depth < 0.6 ? '' : depth < 0.85 ? 'www.' : depth < 0.95 ? 'cdn.' + 'eu.' : 'a.b.';
  return `${sub}${base}.${tld}`;
}

/** With `wildcards`, records which of the returned names were written as `*.name`. */
export async function writeRpz(path: string, qnames: number, cidrs: number, seed = 42, wildcards?: boolean[]): Promise<string[]> {
  const r = rng(seed);
  const out = createWriteStream(path);
  const names: string[] = [];
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((res) => out.once('drain', () => res())));
  await write('$TTL 300\n@ SOA ns.bench.rpz. hostmaster.bench.rpz. 1 3600 600 86400 60\n@ NS ns.bench.rpz.\n');
  let chunk = '';
  for (let i = 0; i < qnames; i++) {
    const n = ruleName(i, r);
    names.push(n);
    const wild = r() < 0.1;
    wildcards?.push(wild);
    chunk += (wild ? `*.${n}` : n) + ' CNAME .\n';
    if (chunk.length > 1 << 16) {
      await write(chunk);
      chunk = '';
    }
  }
  for (let i = 0; i < cidrs; i++) {
    if (r() < 0.8) {
      const len = 16 + Math.floor(r() * 17);
      const a = [Math.floor(r() * 223) + 1, Math.floor(r() * 256), Math.floor(r() * 256), Math.floor(r() * 256)];
      const masked = a.map((v, k) => (k * 8 >= len ? 0 : k * 8 + 8 <= len ? v : v & (0xff << (8 - (len - k * 8))) & 0xff));
      chunk += `${len}.${masked.reverse().join('.')}.rpz-ip CNAME .\n`;
    } else {
      const len = 32 + 16 * Math.floor(r() * 7);
      // 2001:db8:... with the zeros after the prefix written as zz (RPZ draft, IPv6 rpz-ip).
      const groups = ['2001', ...Array.from({ length: len / 16 - 1 }, () => (1 + Math.floor(r() * 65535)).toString(16))];
      chunk += `${len}.${len < 128 ? 'zz.' : ''}${groups.reverse().join('.')}.rpz-ip CNAME .\n`;
    }
    if (chunk.length > 1 << 16) {
      await write(chunk);
      chunk = '';
    }
  }
  await write(chunk);
  await new Promise<void>((res) => out.end(() => res()));
  return names;
}

/**
 * writeRpz's zone (QNAME triggers only) as the end-to-end benchmarks load it into every peer:
 * its NS moved out of the zone (BIND refuses to load a primary zone whose in-zone NS name has
 * no address), then `extra` names blocked with CNAME . at the end. Returns the rules' names.
 */
export async function writeBenchZone(path: string, rules: number, extra: string[], wildcards?: boolean[]): Promise<string[]> {
  const names = await writeRpz(path, rules, 0, 42, wildcards);
  const text = readFileSync(path, 'utf8').replace('@ NS ns.bench.rpz.\n', '@ NS localhost.\n');
  if (!text.includes('@ NS localhost.')) throw new Error(`${path}: unexpected zone header`);
  writeFileSync(path, text + extra.map((n) => `${n} CNAME .\n`).join(''));
  return names;
}
