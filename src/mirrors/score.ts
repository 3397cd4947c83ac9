/**
 * Signals and their weights (docs/MIRRORS.md explains each with examples).
 *
 * Each signal relates a candidate to one blocked domain and is worth up to
 * WEIGHTS[kind] points out of 100, scaled by its strength (0..1). The signals
 * towards one blocked domain combine as independent evidence (noisy-OR:
 * 100 * (1 - prod(1 - points/100))), so two signals score more than either
 * and nothing exceeds 100. A candidate's score is its best blocked domain's:
 * being a bit like one site and a bit like another adds nothing.
 *
 * Shared infrastructure is weighed by how rare it is among the names the
 * watcher sees (IDF-style): an address or name server used by one other name
 * is strong evidence, one shared by hundreds (a CDN edge, a big DNS host)
 * is almost none.
 */

export type SignalKind = 'cname-into-blocked' | 'shared-address' | 'same-label-other-tld' | 'shared-nameservers' | 'similar-label';

export const WEIGHTS: { readonly [k in SignalKind]: number } = {
  /** The name is an alias of a blocked name: it serves the blocked site itself. */
  'cname-into-blocked': 60,
  /** It resolves to an address a blocked name resolved to; x rarity of the address. */
  'shared-address': 45,
  /** The same label under another public suffix: dpstream.pw for dpstream.tv. */
  'same-label-other-tld': 40,
  /** Its zone is served by the blocked domain's name servers; x rarity-weighted share of them. */
  'shared-nameservers': 35,
  /** A label very close to a blocked one (fifo-stream, fifostreaming2); x similarity. */
  'similar-label': 30,
};

/** Rarity constant: an item shared by RARITY_K names weighs about 0.29, by 1 name 1. */
export const RARITY_K = 50;

/**
 * Weight of a shared address or name server used by `df` distinct observed
 * names that are not blocked (the candidate included): ln(1 + K/df) / ln(1 + K),
 * 1 for df = 1, 0.66 for 4, 0.21 for 40, 0.1 for 100, 0.01 for 1,000.
 */
export function rarity(df: number): number {
  const d = Math.max(1, df);
  return Math.min(1, Math.log(1 + RARITY_K / d) / Math.log(1 + RARITY_K));
}

/** Noisy-OR of points (each 0..100) -> 0..100, rounded to one decimal. */
export function combine(points: readonly number[]): number {
  let miss = 1;
  for (const p of points) miss *= 1 - Math.min(100, Math.max(0, p)) / 100;
  return Math.round((1 - miss) * 1000) / 10;
}

export function points(kind: SignalKind, strength: number): number {
  return Math.round(WEIGHTS[kind] * Math.min(1, Math.max(0, strength)) * 10) / 10;
}
