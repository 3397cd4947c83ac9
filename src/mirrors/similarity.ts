/**
 * How close a candidate's label is to a blocked one. Mirrors keep the brand
 * and vary the spelling (fifo-stream, fifostreaming2, dpstreams); legitimate
 * sites share the common words (streaming-news, upstream). So closeness is
 * measured on the label without hyphens and trailing digits, and an edit that
 * destroys the brand (the part left once common words are removed: `dp` in
 * dpstream, `fifo` in fifostream) counts for little.
 */

/** Words too common to identify a site; what remains of a blocked label once they are removed is its brand. */
export const COMMON_WORDS = [
  'streaming', 'streams', 'stream', 'movies', 'movie', 'films', 'film', 'videos', 'video', 'series', 'serie',
  'share', 'online', 'watch', 'free', 'news', 'live', 'play', 'show', 'shows', 'mega', 'seven', 'urls', 'url',
  'cine', 'cinema', 'download', 'torrent', 'web', 'net', 'tv', 'hd', 'vf', 'top', 'the', 'my',
].sort((a, b) => b.length - a.length);

/** Without hyphens and trailing digits: fifo-stream -> fifostream, fifostreaming2 -> fifostreaming. */
export function normalizeLabel(label: string): string {
  const s = label.replace(/-/g, '').replace(/[0-9]+$/, '');
  return s === '' ? label : s;
}

/** The brand of a (normalised) label: the label without its common words (dpstream -> dp, allomegavideo -> allo). */
export function brandOf(label: string): string {
  let s = label;
  for (const w of COMMON_WORDS) if (w.length < s.length) s = s.split(w).join('');
  return s.length >= 2 ? s : label;
}

/**
 * Damerau-Levenshtein distance (optimal string alignment) between `a` and
 * `b`, or `max + 1` as soon as it must exceed `max` (bounded: the caller only
 * cares about small distances).
 */
export function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const n = b.length;
  let prev2 = new Array<number>(n + 1).fill(0);
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  let cur = new Array<number>(n + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1);
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return max + 1;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return Math.min(prev[n]!, max + 1);
}

/** Largest edit distance still "very close", by label length (short labels collide by chance). */
export function maxDistance(length: number): number {
  return length >= 9 ? 2 : length >= 5 ? 1 : 0;
}

export interface LabelMatch {
  /** 0..1 */
  similarity: number;
  /** How: `same-after-normalising`, `contains`, `edit-distance-N`; with `, brand changed` when the brand was lost. */
  how: string;
}

/**
 * Similarity of candidate label `cand` to blocked label `blocked` (both
 * lowercase first labels of registrable domains), or undefined when they are
 * not close. Identical labels are not "similar": that is the other-TLD signal.
 */
export function labelSimilarity(cand: string, blocked: string): LabelMatch | undefined {
  if (cand === blocked) return undefined;
  const nc = normalizeLabel(cand);
  const nb = normalizeLabel(blocked);
  if (nc === nb) return { similarity: 1, how: 'same after removing hyphens and trailing digits' };
  if (nb.length >= 5 && nc.includes(nb) && nc.length - nb.length <= 8) return { similarity: 0.8, how: `contains "${nb}"` };
  const max = maxDistance(nb.length);
  if (max === 0) return undefined;
  const d = editDistance(nc, nb, max);
  if (d > max) return undefined;
  const brand = brandOf(nb);
  const kept = brand === nb || nc.includes(brand);
  const similarity = (1 - d / (max + 1)) * (kept ? 1 : 0.25);
  return { similarity, how: `edit distance ${d}${kept ? '' : `, brand "${brand}" not kept`}` };
}
