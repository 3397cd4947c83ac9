/** The query sets of the end-to-end benchmarks, and the check that a resolver answers them. */
import { writeFileSync } from 'node:fs';
import { ask, describe, TYPES } from './measure.js';
import type { Reply } from './measure.js';

/** Names that exist in the lab (unsigned zones), one query each (answers from 1 to 3 zones away). */
export const CACHED = [
  'www.example.com A', 'www.example.com AAAA', 'example.com A', 'example.com MX', 'mail2.example.org A',
  'exists.wild.example.com A', 'www.example.org A', 'chain.example.com A', 'v4only.example.com A', 'alias.example.com A',
  'example.org A', 'edge.cdn-lab.net A',
];

/** Names in the signed lab zones (src/lab/signed.ts): www and mail A, and the apex MX, of alg8/alg13/alg15.sec. */
export const CACHED_SIGNED = ['alg8.sec', 'alg13.sec', 'alg15.sec'].flatMap((z) => [`www.${z} A`, `mail.${z} A`, `${z} MX`]);

/** `n` unique names under `*.${wild}` ("TAG-i.wild.example.com A"): each a cache miss. */
export function writeMissFile(path: string, tag: string, n: number, wild = 'wild.example.com'): void {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(`${tag}-${i.toString(36)}.${wild} A`);
  writeFileSync(path, lines.join('\n') + '\n');
}

/**
 * Ask each "name TYPE" line once (up to 3 tries of 2 s): what is not NOERROR
 * with data (and, with `ad`, the AD bit) comes back as a note.
 */
export async function checkAnswers(port: number, lines: readonly string[], opts: { dnssec?: boolean; ad?: boolean } = {}): Promise<string[]> {
  const notes: string[] = [];
  for (const line of lines) {
    const [name, type] = line.split(' ');
    let r: Reply | undefined;
    for (let i = 0; i < 3 && !r; i++) r = await ask('127.0.0.1', port, name!, TYPES[type!]!, 2000, { dnssec: opts.dnssec ?? false });
    if (!r || r.rcode !== 0 || r.ancount === 0 || (opts.ad && !r.ad)) notes.push(`${name} ${type}${opts.dnssec ? ' +dnssec' : ''}: ${describe(r)}`);
  }
  return notes;
}
