/**
 * Policy lookup speed and size (issue 6): policy sets of 100,000 and
 * 1,000,000 QNAME triggers (10% wildcards, 2-5 labels) plus 100,000 CIDR
 * triggers, built from zone files, against the baseline of a plain
 * `Map.get()` of the full lowercased name.
 *
 * Usage: npm run bench:lookup [-- SIZES]   e.g. -- 100000,1000000
 * Prints, per size: build time from file, bytes per rule (heap + typed-array
 * memory, after GC), lookups/s for hits and misses (names of 2-6 labels, mixed
 * case, as wire-form names the way queries arrive), p50/p99 per lookup (timed
 * in batches of 1,000), each the median of 5 runs; and the same for the
 * baseline, both with the key built from the wire name (what a Map-based
 * engine must do per query) and with the lowercased key string prebuilt.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nameFromText, nameKey } from '../src/dns/name.js';
import type { Name } from '../src/dns/name.js';
import { parseZoneFile } from '../src/rpz/masterfile.js';
import { NameProbe } from '../src/rpz/nametrie.js';
import { PolicySet } from '../src/rpz/policy.js';
import { PolicyZoneBuilder } from '../src/rpz/zone.js';
import type { PolicyZone } from '../src/rpz/zone.js';
import { rng, ruleName, writeRpz } from './gen-rpz.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('run with node --expose-gc (npm run bench:lookup does)\n');
  process.exit(2);
}
const sizes = (process.argv[2] ?? '100000,1000000').split(',').map(Number);
const CIDRS = 100_000;
const QUERIES = 200_000;
const BATCH = 1000;
const RUNS = 5;

/** Heap plus ArrayBuffer memory after GC (ArrayBuffers are freed by finalisers, hence the pauses). */
async function memory(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc!();
    await new Promise((r) => setTimeout(r, 20));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function mixCase(s: string, r: () => number): string {
  let out = '';
  for (const c of s) out += r() < 0.5 ? c.toUpperCase() : c;
  return out;
}

interface Timing {
  perSecond: number;
  p50: number;
  p99: number;
}

/** Median-of-runs throughput and batch percentiles (ns per lookup) of `fn` over `n` items. */
function time(n: number, fn: (i: number) => number): Timing & { check: number } {
  const runs: Timing[] = [];
  let check = 0;
  for (let run = 0; run < RUNS + 1; run++) {
    const batches: number[] = [];
    const t0 = process.hrtime.bigint();
    for (let b = 0; b < n; b += BATCH) {
      const s = process.hrtime.bigint();
      const end = Math.min(n, b + BATCH);
      for (let i = b; i < end; i++) check += fn(i);
      batches.push(Number(process.hrtime.bigint() - s) / (end - b));
    }
    const total = Number(process.hrtime.bigint() - t0) / 1e9;
    batches.sort((a, b) => a - b);
    // The first run warms the JIT and is not counted.
    if (run > 0) runs.push({ perSecond: n / total, p50: batches[Math.floor(batches.length * 0.5)]!, p99: batches[Math.floor(batches.length * 0.99)]! });
  }
  const med = (f: (t: Timing) => number) => runs.map(f).sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
  return { perSecond: med((t) => t.perSecond), p50: med((t) => t.p50), p99: med((t) => t.p99), check };
}

function fmt(label: string, t: Timing): string {
  return `  ${label.padEnd(44)} ${(t.perSecond / 1e6).toFixed(2).padStart(6)} M/s   p50 ${t.p50.toFixed(0).padStart(4)} ns   p99 ${t.p99.toFixed(0).padStart(5)} ns`;
}

async function buildZone(file: string): Promise<PolicyZone> {
  const apex = nameFromText('bench.rpz.');
  const b = new PolicyZoneBuilder(apex);
  await parseZoneFile(file, (rr) => b.add(rr), { origin: apex });
  return b.buildAsync();
}

process.stdout.write(`node ${process.version}, ${(await import('node:os')).cpus()[0]?.model ?? 'unknown CPU'}\n`);
for (const size of sizes) {
  const file = join(tmpdir(), `verdict-bench-lookup-${size}.rpz`);
  const wild: boolean[] = [];
  const names = await writeRpz(file, size, CIDRS, 42, wild);

  // ---- build from file, and its footprint. First, as at server start: built
  // after the baseline Map, the load ran beside a heap of a million strings,
  // and the full GCs its typed arrays set off (V8's external-memory pressure)
  // spent ~0.5 s marking them, which a resolver's heap does not hold.
  const before = await memory();
  const t0 = performance.now();
  let zone: PolicyZone | undefined = await buildZone(file);
  const buildMs = performance.now() - t0;
  const used = (await memory()) - before;

  // Baseline: a Map of every rule's full lowercased name (its footprint is a
  // difference too, so the zone's presence does not count against it).
  const map = new Map<string, number>();
  const mBefore = await memory();
  for (let i = 0; i < names.length; i++) map.set(nameKey(nameFromText(names[i]! + '.')), i);
  const mapBytes = (await memory()) - mBefore;
  const rules = zone.ruleCount;
  const tableBytes = zone.tableBytes;
  process.stdout.write(`\n${size.toLocaleString('en')} QNAME + ${CIDRS.toLocaleString('en')} CIDR triggers (${rules.toLocaleString('en')} rules after merging duplicates)\n`);
  process.stdout.write(`  build from file: ${(buildMs / 1000).toFixed(2)} s (${(rules / buildMs / 1000).toFixed(2)} M rules/s)\n`);
  process.stdout.write(`  memory: ${(used / rules).toFixed(1)} bytes per rule overall (heap + typed arrays); name tables and rule columns ${(tableBytes / rules).toFixed(1)} bytes per rule\n`);

  // ---- queries: hits (exact names, and names under wildcard bases) and misses, 2-6 labels, mixed case
  const r = rng(7);
  const hitText: string[] = [];
  const missText: string[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const k = Math.floor(r() * names.length);
    hitText.push(mixCase((wild[k] ? 'x.' : '') + names[k]! + '.', r));
    missText.push(mixCase((r() < 0.3 ? 'www.' : '') + ruleName(size + 10_000_000 + i, r) + '.', r));
  }
  const hitWire: Name[] = hitText.map((s) => nameFromText(s));
  const missWire: Name[] = missText.map((s) => nameFromText(s));
  const set = new PolicySet([zone]);
  const probe = new NameProbe();
  const z = zone;

  const hitKeys = hitWire.map((w) => nameKey(w));
  const missKeys = missWire.map((w) => nameKey(w));
  process.stdout.write(`  baseline Map: ${(mapBytes / names.length).toFixed(1)} bytes per name\n`);

  const trieHit = time(QUERIES, (i) => (probe.prepare(hitWire[i]!) && z.matchQnameValue(probe) >= 0 ? 1 : 0));
  const trieMiss = time(QUERIES, (i) => (probe.prepare(missWire[i]!) && z.matchQnameValue(probe) >= 0 ? 1 : 0));
  const setHit = time(QUERIES, (i) => (set.before(undefined, hitWire[i]!).hit ? 1 : 0));
  const setMiss = time(QUERIES, (i) => (set.before(undefined, missWire[i]!).hit ? 1 : 0));
  const mapHit = time(QUERIES, (i) => (map.get(nameKey(hitWire[i]!)) !== undefined ? 1 : 0));
  const mapMiss = time(QUERIES, (i) => (map.get(nameKey(missWire[i]!)) !== undefined ? 1 : 0));
  const mapHitPre = time(QUERIES, (i) => (map.get(hitKeys[i]!) !== undefined ? 1 : 0));
  const mapMissPre = time(QUERIES, (i) => (map.get(missKeys[i]!) !== undefined ? 1 : 0));
  if (trieHit.check !== QUERIES * (RUNS + 1) || trieMiss.check !== 0) throw new Error(`lookup results wrong: ${trieHit.check} hits, ${trieMiss.check} false hits`);
  process.stdout.write(fmt('trie: hits (wire name in)', trieHit) + '\n');
  process.stdout.write(fmt('trie: misses', trieMiss) + '\n');
  process.stdout.write(fmt('PolicySet.before(): hits (rule materialised)', setHit) + '\n');
  process.stdout.write(fmt('PolicySet.before(): misses', setMiss) + '\n');
  process.stdout.write(fmt('baseline Map.get(nameKey(wire)): hits', mapHit) + '\n');
  process.stdout.write(fmt('baseline Map.get(nameKey(wire)): misses', mapMiss) + '\n');
  process.stdout.write(fmt('baseline Map.get(prebuilt key): hits', mapHitPre) + '\n');
  process.stdout.write(fmt('baseline Map.get(prebuilt key): misses', mapMissPre) + '\n');
  process.stdout.write(`  trie / Map.get(nameKey(wire)) time ratio: hits ${(mapHit.perSecond / trieHit.perSecond).toFixed(2)}x, misses ${(mapMiss.perSecond / trieMiss.perSecond).toFixed(2)}x\n`);
  process.stdout.write(`  trie / Map.get(prebuilt key)  time ratio: hits ${(mapHitPre.perSecond / trieHit.perSecond).toFixed(2)}x, misses ${(mapMissPre.perSecond / trieMiss.perSecond).toFixed(2)}x\n`);
  if (size >= 1_000_000) {
    const ok = (b: boolean) => (b ? 'met' : 'NOT met');
    const worst = Math.min(trieHit.perSecond, trieMiss.perSecond);
    const ratio = Math.max(mapHitPre.perSecond / trieHit.perSecond, mapMissPre.perSecond / trieMiss.perSecond);
    process.stdout.write(`  issue 6 targets: >= 5 M lookups/s: ${(worst / 1e6).toFixed(2)} M/s ${ok(worst >= 5e6)}; <= 1.5x Map.get time: ${ratio.toFixed(2)}x vs prebuilt key ${ok(ratio <= 1.5)}; ` +
      `<= 80 bytes/rule: ${(used / rules).toFixed(1)} ${ok(used / rules <= 80)}; compiled in <= 3 s: ${(buildMs / 1000).toFixed(2)} s ${ok(buildMs <= 3000)}\n`);
  }
  zone = undefined;
  map.clear();
}
