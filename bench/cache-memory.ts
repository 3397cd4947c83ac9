/**
 * Memory per cached name (issue 14, "the cache's memory"): Verdict and Unbound
 * (and any other peer named) each resolve the same N unique names under
 * `*.wild.example.com` (NSD lab, each name once: one RRset and one reply per
 * name in their caches), and the growth of the process's resident memory is
 * divided by N. Measured at each of --sizes (cumulative: the same process
 * goes on from 100,000 to 1,000,000 names).
 *
 * Then, in this process, Verdict's two caches alone (no server around them):
 * heap bytes per small RRset and per stored reply, as the entries are packed
 * (src/resolver/cache/packed.ts), with the cache's own count beside it.
 *
 * Usage: npm run build && node --expose-gc dist/bench/cache-memory.js [--sizes 100000,1000000] [--only verdict,unbound]
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nameFromText, nameKey } from '../src/dns/name.js';
import { emptyMessage, encodeMessage } from '../src/dns/message.js';
import { AnswerCache, answerKeyOf } from '../src/resolver/cache/answers.js';
import { ResolverCache, Trust } from '../src/resolver/cache/cache.js';
import { ask, DNSPERF, dnsperf, freePort, out, rssMiB, startPeer, TYPES } from './measure.js';
import { startNsdLab } from './nsdlab.js';
import { selectPeers } from './peers/index.js';
import { stopAll, stopOnSignals, stopProc } from './processes.js';
import { writeMissFile } from './queries.js';

const { values: argv } = parseArgs({ options: { sizes: { type: 'string' }, only: { type: 'string' }, keep: { type: 'boolean' } } });
const SIZES = (argv.sizes ?? '100000,1000000').split(',').map(Number).sort((a, b) => a - b);

const ready = async (port: number): Promise<true | string> => ((await ask('127.0.0.1', port, 'www.example.com', TYPES.A!, 300)) ? true : 'no answer');

async function servers(root: string): Promise<string[]> {
  const rows: string[] = [];
  const lab = await startNsdLab(join(root, 'nsd'));
  let port = 15700;
  for (const peer of selectPeers(argv.only ?? 'verdict,unbound')) {
    const why = peer.missing();
    if (why) { rows.push(`| ${peer.label} | skipped: ${why} |`); continue; }
    port = await freePort(port + 10);
    const run = await startPeer(peer, { dir: join(root, peer.id), port, hints: lab.rootHints }, ready, 60);
    try {
      // A first thousand names: delegations, pools and lazy start-up costs out of the figure.
      const warm = join(root, `warm-${peer.id}.txt`);
      writeMissFile(warm, 'w', 1000);
      await dnsperf(port, warm, { seconds: 60, once: true, pid: run.pid });
      await new Promise((r) => setTimeout(r, 1000));
      const base = rssMiB(run.pid);
      let done = 0;
      const cells: string[] = [];
      for (const n of SIZES) {
        const f = join(root, `fill-${peer.id}-${n}.txt`);
        writeMissFile(f, `m${n}`, n - done);
        const p = await dnsperf(port, f, { seconds: 3600, once: true, pid: run.pid });
        rmSync(f);
        done = n;
        await new Promise((r) => setTimeout(r, 2000));
        const rss = rssMiB(run.pid);
        cells.push(`${((rss - base) * 1048576 / n).toFixed(0)} B/name (${(rss - base).toFixed(0)} MiB over ${n.toLocaleString('en')} names; ${p.lost} lost)`);
        out(`  ${peer.label}: ${n.toLocaleString('en')} names: VmRSS ${rss.toFixed(0)} MiB (base ${base.toFixed(0)}), ${p.completed} answers at ${Math.round(p.qps)} q/s`);
      }
      rows.push(`| ${peer.label} | ${cells.join(' | ')} |`);
    } finally {
      await stopProc(run.proc, 10_000);
    }
  }
  return rows;
}

/** Heap bytes per entry of Verdict's caches alone (needs --expose-gc). */
function inProcess(n: number): string[] {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return ['(run with node --expose-gc for the in-process figures)'];
  const heap = () => { gc(); gc(); return process.memoryUsage(); };
  const out: string[] = [];
  let m0 = heap();
  const records = new ResolverCache({ maxBytes: 8 * 2 ** 30, maxTtl: 86400, maxNegativeTtl: 3600 });
  for (let i = 0; i < n; i++) {
    const name = nameFromText(`n${i.toString(36)}.wild.example.com.`);
    records.putRRset([{ name, type: 1, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, i & 255]) }], Trust.Answer);
  }
  let m1 = heap();
  out.push(`record cache, ${n.toLocaleString('en')} A RRsets: ${((m1.heapUsed - m0.heapUsed) / n).toFixed(0)} heap bytes each, ${((m1.external + m1.arrayBuffers - m0.external - m0.arrayBuffers) / n).toFixed(0)} outside the heap; the cache counts ${(records.bytes / n).toFixed(0)}`);
  records.flush();
  m0 = heap();
  const answers = new AnswerCache({ maxBytes: 8 * 2 ** 30 });
  for (let i = 0; i < n; i++) {
    const name = nameFromText(`n${i.toString(36)}.wild.example.com.`);
    const m = emptyMessage({ id: 0, qr: true, questions: [{ name, type: 1, class: 1 }] });
    m.answers.push({ name, type: 1, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    answers.store(answerKeyOf(nameKey(name), 1, 1), encodeMessage(m), 300);
  }
  m1 = heap();
  out.push(`answer cache, ${n.toLocaleString('en')} replies (${encodeMessage(emptyMessage({ questions: [{ name: nameFromText('n0.wild.example.com.'), type: 1, class: 1 }] })).length + 16} bytes each): ${((m1.heapUsed - m0.heapUsed) / n).toFixed(0)} heap bytes each; the cache counts ${(answers.bytes / n).toFixed(0)}`);
  return out;
}

async function main(): Promise<void> {
  if (!existsSync(DNSPERF)) throw new Error(`${DNSPERF} not found (apt-get install dnsperf)`);
  const root = mkdtempSync(join(tmpdir(), 'verdict-cachemem-'));
  stopOnSignals(() => rmSync(root, { recursive: true, force: true }));
  try {
    out(`bench:cache-memory ${new Date().toISOString()} node ${process.version}`);
    for (const line of inProcess(Math.max(...SIZES))) out(`  ${line}`);
    const rows = await servers(root);
    out(`\nresident memory per cached name (one A RRset and one reply each), growth of VmRSS / names:`);
    out(`| resolver | ${SIZES.map((n) => `${n.toLocaleString('en')} names`).join(' | ')} |`);
    out(`| --- | ${SIZES.map(() => '---').join(' | ')} |`);
    for (const r of rows) out(r);
  } finally {
    await stopAll();
    if (!argv.keep) rmSync(root, { recursive: true, force: true });
  }
}

main().catch(async (e) => {
  process.stderr.write(`bench:cache-memory: ${(e as Error).stack ?? e}\n`);
  await stopAll();
  process.exit(1);
});
