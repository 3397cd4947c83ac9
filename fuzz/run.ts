/**
 * npm run fuzz -- [--count N] [--seconds S] [--target server|response|masterfile|orders|all]
 *                 [--seed S] [--input-timeout MS] [--findings FILE]
 * npm run fuzz -- --replay I --target T --seed S     rebuild input I and run it alone
 * npm run fuzz -- --write-corpus                      regenerate fuzz/corpus/*.bin
 *
 * Exit status 1 when anything was found (crash, hang, invalid reply, unhandled rejection).
 */
import { writeFileSync } from 'node:fs';
import { loadCorpus, writeCorpus } from './corpus.js';
import { formatFigures, runFuzz } from './fuzzer.js';
import { TARGETS } from './target.js';
import type { TargetContext, TargetName } from './target.js';
import { checkMasterfile, masterfileInput } from './targets/masterfile.js';
import { checkOrder, ordersInput } from './targets/orders.js';
import { runResponseInput } from './targets/response.js';

function args(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) m.set(a.slice(2), 'true');
    else { m.set(a.slice(2), next); i++; }
  }
  return m;
}

function num(a: Map<string, string>, k: string, d: number): number {
  const v = a.get(k);
  if (v === undefined) return d;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${k} expects a number, got ${v}`);
  return n;
}

async function replay(target: TargetName, seed: number, index: number): Promise<void> {
  const ctx: TargetContext = { seed, corpus: loadCorpus(), inputTimeoutMs: 5000 };
  if (target === 'masterfile') {
    const input = masterfileInput(ctx, index);
    console.log(JSON.stringify(input));
    console.log(checkMasterfile(input));
  } else if (target === 'orders') {
    const text = ordersInput(ctx, index);
    console.log(JSON.stringify(text));
    console.log(checkOrder(text));
  } else if (target === 'response') {
    const o = await runResponseInput(ctx, index);
    console.log(JSON.stringify({ ...o, wires: o.wires.map((w) => w.toString('base64')) }, null, 1));
  } else {
    console.log('the server target runs in batches: re-run the batch with --target server --seed S and a --count past the index');
  }
}

async function main(): Promise<number> {
  const a = args(process.argv.slice(2));
  if (a.has('write-corpus')) {
    console.log(`wrote ${writeCorpus()} messages to fuzz/corpus/`);
    return 0;
  }
  const t = a.get('target') ?? 'all';
  const targets = t === 'all' ? TARGETS : t.split(',').map((x) => {
    if (!(TARGETS as readonly string[]).includes(x)) throw new Error(`unknown target ${x} (expected ${TARGETS.join('|')}|all)`);
    return x as TargetName;
  });
  const seed = num(a, 'seed', Math.floor(Math.random() * 0xffffffff)) >>> 0;
  if (a.has('replay')) {
    await replay(targets[0]!, seed, num(a, 'replay', 0));
    return 0;
  }
  const count = num(a, 'count', 10_000);
  const seconds = num(a, 'seconds', 60);
  console.log(`fuzzing ${targets.join(', ')}: ${count} inputs, at most ${seconds} s, seed ${seed}, node ${process.version}, ${new Date().toISOString()}`);
  let lastPrint = Date.now();
  const s = await runFuzz({
    targets, count, seconds, seed, inputTimeoutMs: num(a, 'input-timeout', 5000),
    onFinding: (f) => console.error(`FOUND ${f.kind} in ${f.target} at input ${f.index}: ${f.detail.split('\n')[0]}`),
    onProgress: (target, c) => {
      if (Date.now() - lastPrint < 10_000) return;
      lastPrint = Date.now();
      console.log(`  ${target}: ${c.inputs} inputs`);
    },
  });
  console.log(formatFigures(s));
  if (s.findings.length) {
    const file = a.get('findings') ?? `dist/fuzz-findings-${seed}.json`;
    writeFileSync(file, JSON.stringify(s.findings, null, 1));
    console.log(`${s.findings.length} findings written to ${file}`);
    return 1;
  }
  return 0;
}

main().then((code) => { process.exitCode = code; }, (e: Error) => { console.error(e.message); process.exitCode = 2; });
