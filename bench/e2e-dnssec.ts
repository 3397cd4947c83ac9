/**
 * DNSSEC validation, end to end (issue 13 item 12): the peers of bench:e2e
 * (bench/peers/: Verdict, Unbound, BIND 9, PowerDNS Recursor, Knot Resolver),
 * one after the other, each validating the SIGNED lab from the same trust
 * anchor, lab/keys/root.ds (Unbound trust-anchor-file, BIND trust-anchors
 * static-ds, pdns addTA in its Lua config, kresd trust_anchors.add, Verdict
 * dnssec.trust_anchor_file); one thread each, QNAME minimisation off, no RPZ.
 *
 * The lab is served by NSD on 127.57.X.Y:53 (bench/nsdlab.ts, `signed`): the
 * zones signed in memory by the lab's own signLabZones, written as master
 * files. So the run does not touch 127.55/16, which the tests use.
 *
 * Before measuring, each peer must answer www.alg13.sec (DO=1) with AD and
 * www.badsig.sec with SERVFAIL (polled, bounded); a peer that does not is
 * skipped with what it answered. Then, per peer, RUNS rounds of four dnsperf
 * runs of DURATION s (dnsperf -c 1 -T 1, 100 outstanding), interleaved so
 * that a change of machine load falls on all four alike:
 *   - cached unsigned, DO=0: bench:e2e's cached set (www/mail of example.com
 *     and friends, zones that the signed root proves insecure);
 *   - cached signed, DO=1 (dnsperf -D): www and mail A, apex MX of
 *     alg8.sec (RSASHA256, NSEC), alg13.sec (ECDSAP256SHA256, NSEC3),
 *     alg15.sec (ED25519, NSEC), RRSIGs in every answer;
 *   - unsigned misses, DO=0: unique names under *.wild.example.com
 *     (dnsperf -n 1: no name repeats), as bench:e2e;
 *   - validated misses, DO=1: unique names under *.wild.alg13.sec, each a
 *     wildcard answer to validate with its NSEC3 proof.
 * Each figure: median q/s (min-max of the runs) and CPU µs per answer (the
 * resolver's utime+stime from /proc/PID/stat over the run / answers). For the
 * misses, upstream queries per miss (NSD's num.queries for the zone over the
 * run / answers): about 1 when each miss goes upstream, near 0 when a resolver
 * synthesises the answers from cached NSEC3 (RFC 8198; aggressive use is left
 * at each resolver's default).
 *
 * Targets (Verdict): cached DO=1 q/s within 10% of its unsigned cached q/s;
 * validated misses no slower, relative to Unbound, than unsigned misses.
 *
 * Usage: npm run bench:dnssec [-- OPTIONS]
 *   --quick          2 runs of 3 s (a smoke test, ~3 min)
 *   --runs N         runs per figure (default 3; medians are reported)
 *   --duration S     seconds per dnsperf run (default 5)
 *   --only a,b       resolvers to run (verdict,unbound,bind,pdns,knot)
 *   --keep           keep the temporary directory (zones, configs)
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { labRootDs } from '../src/lab/signed.js';
import { ask, describe, dnsperf, DNSPERF, freePort, median, out, startPeer, toolVersions, TYPES } from './measure.js';
import type { Perf, Readiness, Running } from './measure.js';
import { NSD, startNsdLab } from './nsdlab.js';
import { selectPeers } from './peers/index.js';
import { parseTrustAnchor, readTrustAnchor, REPO } from './peers/peer.js';
import type { Peer } from './peers/peer.js';
import { stopAll, stopOnSignals, stopProc } from './processes.js';
import { CACHED, CACHED_SIGNED, checkAnswers, writeMissFile } from './queries.js';

// ---------------------------------------------------------------- options

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    duration: { type: 'string' },
    only: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(argv.runs ?? (argv.quick ? 2 : 3));
const DURATION = Number(argv.duration ?? (argv.quick ? 3 : 5));
const ORDER = selectPeers(argv.only);
if (!(RUNS >= 1 && DURATION >= 1)) throw new Error('--runs and --duration must be positive numbers');

const ANCHOR_FILE = join(REPO, 'lab/keys/root.ds');
/** Secure (AD) and bogus (SERVFAIL) in the signed lab. */
const SECURE = 'www.alg13.sec';
const BOGUS = 'www.badsig.sec';
/** Where the misses are: a wildcard in an unsigned zone, and one in an NSEC3-signed zone. */
const WILD_PLAIN = { wild: 'wild.example.com', zone: 'example.com' };
const WILD_SIGNED = { wild: 'wild.alg13.sec', zone: 'alg13.sec' };
/** Bound of the start-up poll (a cold validating resolver walks root, sec., alg13.sec, badsig.sec). */
const READY_TIMEOUT_S = 30;

let workDir: string | undefined;
const removeWorkDir = () => { if (workDir && !argv.keep) rmSync(workDir, { recursive: true, force: true }); };
stopOnSignals(removeWorkDir);

/** Ready when it validates: AD for the secure name, SERVFAIL for the bogus one. */
const validates: Readiness = async (port) => {
  const good = await ask('127.0.0.1', port, SECURE, TYPES.A!, 1500, { dnssec: true });
  if (!good || good.rcode !== 0 || !good.ad) return `${SECURE} A +dnssec: ${describe(good)} (want NOERROR with AD)`;
  const bad = await ask('127.0.0.1', port, BOGUS, TYPES.A!, 1500, { dnssec: true });
  if (!bad || bad.rcode !== 2) return `${BOGUS} A +dnssec: ${describe(bad)} (want SERVFAIL)`;
  return true;
};

// ---------------------------------------------------------------- the run

type Kind = 'plain' | 'signed' | 'missPlain' | 'missSigned';
const KINDS: Kind[] = ['plain', 'signed', 'missPlain', 'missSigned'];

interface Result {
  peer: Peer;
  error?: string;
  notes: string[];
  readyS?: number;
  runs: Record<Kind, Perf[]>;
  /** Upstream queries per answered miss, per run. */
  upstream: { missPlain: number[]; missSigned: number[] };
}

async function main(): Promise<void> {
  const root = (workDir = mkdtempSync(join(tmpdir(), 'verdict-e2e-dnssec-')));
  const results: Result[] = [];
  try {
    const cpu = cpus();
    out(`bench:dnssec  ${new Date().toISOString()}  node ${process.version}  ${cpu.length} x ${cpu[0]?.model ?? '?'}  runs ${RUNS} x ${DURATION} s  load average ${load()}`);
    out(`  ${toolVersions()}`);
    if (!existsSync(DNSPERF)) throw new Error(`${DNSPERF} not found (apt-get install dnsperf)`);
    if (!existsSync(NSD)) throw new Error(`${NSD} not found (apt-get install nsd)`);

    const anchor = readTrustAnchor(ANCHOR_FILE);
    // The lab signs with lab/keys/; a root.ds left behind by new keys would make every peer fail.
    const fromKeys = parseTrustAnchor(labRootDs(), 'lab/keys (labRootDs)');
    if (fromKeys.keyTag !== anchor.keyTag || fromKeys.digest !== anchor.digest) {
      throw new Error(`${ANCHOR_FILE} (key tag ${anchor.keyTag}) is not the DS of the lab's root KSK (key tag ${fromKeys.keyTag}): regenerate it with the keys`);
    }
    const lab = await startNsdLab(join(root, 'nsd'), { signed: true });
    out(`  NSD lab, signed: ${lab.pids.length} nsd processes on 127.57/16:53, root hints ${lab.rootHints.map((h) => h.address).join(' ')}; trust anchor . DS ${anchor.keyTag} ${anchor.algorithm} ${anchor.digestType} (${ANCHOR_FILE})`);

    const plainFile = join(root, 'cached-plain.txt');
    const signedFile = join(root, 'cached-signed.txt');
    writeFileSync(plainFile, CACHED.join('\n') + '\n');
    writeFileSync(signedFile, CACHED_SIGNED.join('\n') + '\n');

    let basePort = 15400;
    for (const peer of ORDER) {
      const res: Result = { peer, notes: [], runs: { plain: [], signed: [], missPlain: [], missSigned: [] }, upstream: { missPlain: [], missSigned: [] } };
      results.push(res);
      out(`\n== ${peer.label}`);
      const why = peer.missing();
      if (why) { res.error = why; out(`  SKIPPED: ${why}`); continue; }
      const port = await freePort(basePort);
      basePort = port + 10;
      let run: Running | undefined;
      try {
        run = await startPeer(peer, { dir: join(root, peer.id), port, hints: lab.rootHints, anchor }, validates, READY_TIMEOUT_S, 50);
        res.readyS = run.startS;
        out(`  started (pid ${run.pid}, 127.0.0.1:${port}); validating after ${run.startS.toFixed(2)} s: ${SECURE} AD, ${BOGUS} SERVFAIL`);
        await warm(run, plainFile, signedFile, res);
        for (let i = 0; i < RUNS; i++) {
          res.runs.plain.push(await dnsperf(port, plainFile, { seconds: DURATION, pid: run.pid }));
          res.runs.signed.push(await dnsperf(port, signedFile, { seconds: DURATION, pid: run.pid, dnssec: true }));
          for (const [kind, where, dnssec] of [['missPlain', WILD_PLAIN, false], ['missSigned', WILD_SIGNED, true]] as const) {
            const f = join(root, `${kind}-${peer.id}-${i}.txt`);
            writeMissFile(f, `r${i}`, Math.max(50_000, 25_000 * DURATION), where.wild);
            const q0 = lab.queries(where.zone);
            const p = await dnsperf(port, f, { seconds: DURATION, pid: run.pid, once: true, dnssec });
            res.upstream[kind].push((lab.queries(where.zone) - q0) / Math.max(1, p.completed));
            res.runs[kind].push(p);
            rmSync(f);
          }
          out(`  run ${i + 1}: ${KINDS.map((k) => `${k} ${Math.round(res.runs[k][i]!.qps)} q/s ${res.runs[k][i]!.cpuUs.toFixed(1)} us`).join(', ')}`);
        }
        for (const k of KINDS) rcodeNote(k, res.runs[k], res);
        // After the runs: a fresh wildcard name under alg13.sec still validates.
        const after = await checkAnswers(port, [`after-runs.${WILD_SIGNED.wild} A`], { dnssec: true, ad: true });
        for (const n of after) { res.notes.push(n); out(`  WARNING: ${n}`); }
      } catch (e) {
        res.error = (e as Error).message;
        out(`  SKIPPED: ${res.error}`);
      } finally {
        if (run) await stopProc(run.proc, 8000);
      }
    }
    printTable(results);
    out(`\nload average at the end: ${load()}`);
  } finally {
    await stopAll();
    removeWorkDir();
    if (argv.keep) out(`\n(kept ${root})`);
  }
}

/** Both cached sets answer NOERROR with data (the signed one with AD), a fresh validated miss too; then 1 s of dnsperf each. */
async function warm(run: Running, plainFile: string, signedFile: string, res: Result): Promise<void> {
  const notes = [
    ...(await checkAnswers(run.port, CACHED)),
    ...(await checkAnswers(run.port, [...CACHED_SIGNED, `warm.${WILD_SIGNED.wild} A`], { dnssec: true, ad: true })),
  ];
  for (const n of notes) { res.notes.push(n); out(`  WARNING: ${n}`); }
  await dnsperf(run.port, plainFile, { seconds: 1, pid: run.pid });
  await dnsperf(run.port, signedFile, { seconds: 1, pid: run.pid, dnssec: true });
}

function rcodeNote(kind: Kind, runs: Perf[], res: Result): void {
  const rc = runs.map((r) => r.rcodes).filter((s, i, a) => a.indexOf(s) === i);
  const bad = rc.filter((s) => !/^NOERROR [0-9]+ \(100\.00%\)$/.test(s));
  const lost = runs.reduce((a, r) => a + r.lost, 0);
  if (bad.length) { res.notes.push(`${LABELS[kind]}: response codes ${rc.join(' / ')}`); out(`  response codes (${kind}): ${rc.join(' / ')}`); }
  if (lost) res.notes.push(`${LABELS[kind]}: ${lost} queries lost`);
}

// ---------------------------------------------------------------- the table

const LABELS: Record<Kind, string> = {
  plain: 'cached unsigned DO=0',
  signed: 'cached signed DO=1',
  missPlain: 'unsigned misses',
  missSigned: 'validated misses',
};

const qps = (r: Result, k: Kind) => median(r.runs[k].map((p) => p.qps));
const cpuUs = (r: Result, k: Kind) => median(r.runs[k].map((p) => p.cpuUs));
const int = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en') : '-');
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const qpsCell = (r: Result, k: Kind) => {
  const xs = r.runs[k].map((p) => p.qps);
  return xs.length ? `${int(median(xs))} (${int(Math.min(...xs))}-${int(Math.max(...xs))})` : '-';
};
const cpuCell = (r: Result, k: Kind, d: number) => {
  const xs = r.runs[k].map((p) => p.cpuUs);
  return xs.length ? `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})` : '-';
};

function printTable(results: Result[]): void {
  const ok = results.filter((r) => !r.error && r.runs.plain.length);
  const cols: [string, (r: Result) => string][] = [
    ['resolver', (r) => r.peer.label],
    ['cached unsigned q/s', (r) => qpsCell(r, 'plain')],
    ['µs/q', (r) => cpuCell(r, 'plain', 1)],
    ['cached DO=1 signed q/s', (r) => qpsCell(r, 'signed')],
    ['µs/q', (r) => cpuCell(r, 'signed', 1)],
    ['DO=1 / unsigned', (r) => `${(qps(r, 'signed') / qps(r, 'plain')).toFixed(2)}x`],
    ['unsigned misses q/s', (r) => qpsCell(r, 'missPlain')],
    ['µs/miss', (r) => cpuCell(r, 'missPlain', 0)],
    ['upstream/miss', (r) => median(r.upstream.missPlain).toFixed(2)],
    ['validated misses q/s', (r) => qpsCell(r, 'missSigned')],
    ['µs/miss', (r) => cpuCell(r, 'missSigned', 0)],
    ['upstream/miss', (r) => median(r.upstream.missSigned).toFixed(2)],
  ];
  out(`\nbench:dnssec results: medians of ${RUNS} x ${DURATION} s (min-max of the runs); dnsperf -c 1 -T 1; one thread each, validating from lab/keys/root.ds`);
  const cells = ok.map((r) => cols.map(([, f]) => f(r)));
  const widths = cols.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  out(`| ${cols.map(([h], i) => h.padEnd(widths[i]!)).join(' | ')} |`);
  out(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) out(`| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`);
  for (const r of results) {
    if (r.error) out(`  ${r.peer.label}: skipped: ${r.error}`);
    for (const n of r.notes) out(`  ${r.peer.label}: ${n}`);
  }

  const ub = ok.find((r) => r.peer.id === 'unbound');
  if (ub) {
    out('\nRelative to Unbound (q/s ratio; CPU per miss ratio):');
    for (const r of ok) {
      if (r === ub) continue;
      const rel = (k: Kind) => `${(qps(r, k) / qps(ub, k)).toFixed(2)}x q/s, ${(cpuUs(r, k) / cpuUs(ub, k)).toFixed(2)}x CPU`;
      out(`  ${r.peer.label.padEnd(14)} unsigned misses ${rel('missPlain')}; validated misses ${rel('missSigned')}`);
    }
  }
  const v = ok.find((r) => r.peer.id === 'verdict');
  if (v) {
    const t = (b: boolean | undefined) => (b === undefined ? 'n/a' : b ? 'met' : 'NOT met');
    out('\nVerdict against issue 13 item 12:');
    const cached = qps(v, 'signed') / qps(v, 'plain');
    out(`  cached DO=1 q/s within 10% of unsigned cached q/s: ${int(qps(v, 'signed'))} / ${int(qps(v, 'plain'))} = ${cached.toFixed(2)}x -> ${t(cached >= 0.9)}`);
    if (ub) {
      const miss = qps(v, 'missPlain') / qps(ub, 'missPlain');
      const val = qps(v, 'missSigned') / qps(ub, 'missSigned');
      out(`  validated misses no slower, relative to Unbound, than unsigned misses: validated ${val.toFixed(2)}x of Unbound's q/s (${(cpuUs(v, 'missSigned') / cpuUs(ub, 'missSigned')).toFixed(2)}x its CPU), unsigned ${miss.toFixed(2)}x (${(cpuUs(v, 'missPlain') / cpuUs(ub, 'missPlain')).toFixed(2)}x CPU) -> ${t(val >= miss)}`);
    } else out('  validated misses relative to Unbound: n/a (Unbound not run)');
  } else out(`\nVerdict: ${results.find((r) => r.peer.id === 'verdict')?.error ?? 'not run'}`);
}

main().catch(async (e) => {
  process.stderr.write(`bench:dnssec: ${(e as Error).stack ?? e}\n`);
  await stopAll();
  removeWorkDir();
  process.exit(1);
});
