/**
 * DNS over TLS and DNS over HTTPS against the peers that serve them (issue 15,
 * item 7): Verdict, Unbound and BIND 9 (Debian packages), one after the other in
 * one run, configured as bench:e2e configures them (bench/peers/: one worker
 * thread, QNAME minimisation off, DNSSEC validation off, root hints = the lab's
 * root served by NSD on 127.57/16, bench/nsdlab.ts), no policy zone, plus DoT on
 * one port and DoH (HTTP/2, /dns-query) on another, with one certificate the
 * bench makes with openssl (a throwaway CA and an ECDSA P-256 server
 * certificate, test/helpers/tls.ts). Every client verifies against that CA.
 *
 * Per resolver, after the cached names are warmed over UDP:
 *   1. q/s over a few long-lived connections: dnsperf -m dot and -m doh (GET),
 *      -c 4 connections, -T 1, 100 queries in flight, RUNS x DURATION s each on
 *      the cached names; the server's CPU per query (utime+stime from
 *      /proc/PID/stat over the run / answers);
 *   2. handshakes per second with new connections: a node TLS client in this
 *      process, 8 handshakes in flight, each a fresh TCP connection and a full
 *      TLS 1.3 handshake (no resumption: no session is offered; checked),
 *      closed once the handshake is done, for DURATION s, against the DoT port
 *      (ALPN dot) and the DoH port (ALPN h2); with the server's CPU per
 *      handshake, since on this machine the node client may be the limit before
 *      the server is (dnsperf cannot do this: it keeps its connections);
 *   3. resident memory per 1,000 open idle connections, measured first, in a
 *      fresh process each time (allocators keep and reuse what closed
 *      connections freed, so a second round in one process measures next to
 *      nothing): VmRSS after 3 quiet seconds; CONNECTIONS DoT connections
 *      opened (8 at a time; TLS only, no query) and held, 3 s, VmRSS; then, still
 *      holding them, CONNECTIONS DoH connections (node:http2 sessions, SETTINGS
 *      exchanged, no stream), 3 s, VmRSS; each difference scaled to 1,000.
 *      Idle timeouts are raised to 120 s everywhere so that none is cut
 *      meanwhile (checked: all still open). RUNS processes; the last one goes
 *      on with steps 1 and 2.
 * Every figure: the median of RUNS runs, with min-max.
 *
 * The machine is shared (2 cores, other work running): dnsperf, the client of
 * steps 2-3 and the server compete for them, so the figures are comparisons
 * made in one run, not capacities.
 *
 * Usage: npm run bench:encrypted [-- OPTIONS]
 *   --runs N          runs per figure (default 3; medians with min-max)
 *   --duration S      seconds per run (default 6)
 *   --connections N   idle connections of step 3 (default 1000)
 *   --only a,b        resolvers (verdict,unbound,bind)
 *   --quick           1 run of 2 s, 200 connections (a smoke test)
 *   --keep            keep the temporary directory (configs, certificate)
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import type { ClientHttp2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { makeCa, makeServerCert, TEST_TLS_NAME } from '../test/helpers/tls.js';
import { ask, CLK_TCK, cpuTicks, dnsperf, DNSPERF, freePort, median, out, rssMiB, startPeer, toolVersions, TYPES } from './measure.js';
import type { Perf, Readiness, Running } from './measure.js';
import { NSD, startNsdLab } from './nsdlab.js';
import { selectPeers } from './peers/index.js';
import type { EncryptedCtx, Peer } from './peers/peer.js';
import { stopAll, stopOnSignals, stopProc } from './processes.js';
import { CACHED, checkAnswers } from './queries.js';

const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string' },
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(argv.runs ?? (argv.quick ? 1 : 3));
const DURATION = Number(argv.duration ?? (argv.quick ? 2 : 6));
const CONNECTIONS = Number(argv.connections ?? (argv.quick ? 200 : 1000));
if (!(RUNS >= 1 && DURATION >= 1 && CONNECTIONS >= 1)) throw new Error('--runs, --duration and --connections must be positive numbers');
const ENCRYPTED_PEERS = ['verdict', 'unbound', 'bind'];
const ORDER = selectPeers(argv.only ?? ENCRYPTED_PEERS.join(','));
for (const p of ORDER) if (!ENCRYPTED_PEERS.includes(p.id)) throw new Error(`--only: ${p.id} is not configured for DoT/DoH here (${ENCRYPTED_PEERS.join(',')})`);
/** dnsperf -c: the long-lived connections of step 1. */
const CLIENTS = 4;
/** Handshakes in flight (step 2) and connections opened at once (step 3). */
const PARALLEL = 8;
const IDLE_S = 120;
/** Quiet time before each VmRSS reading of step 3. */
const SETTLE_MS = 3000;
const START_TIMEOUT_S = 60;

let workDir: string | undefined;
const removeWorkDir = () => { if (workDir && !argv.keep) rmSync(workDir, { recursive: true, force: true }); };
stopOnSignals(removeWorkDir);

/** Ready when a cached-name query resolves over UDP and both encrypted ports accept TCP. */
function readiness(e: EncryptedCtx): Readiness {
  return async (port) => {
    const r = await ask('127.0.0.1', port, 'www.example.com', TYPES.A!, 200);
    if (r?.rcode !== 0) return r ? `rcode ${r.rcode}` : 'no answer over UDP';
    for (const p of [e.dotPort, e.dohPort]) if (!(await accepts(p))) return `port ${p} not accepting yet`;
    return true;
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    const t = setTimeout(() => { s.destroy(); resolve(false); }, 500);
    s.once('connect', () => { clearTimeout(t); s.destroy(); resolve(true); });
    s.once('error', () => { clearTimeout(t); resolve(false); });
  });
}

// ---------------------------------------------------------------- TLS clients

interface Tls { ca: Buffer }

/** One full handshake on a fresh connection (no session offered); closed after it unless `keep`. */
function handshake(port: number, alpn: string, tls: Tls, keep = false): Promise<{ sock: TLSSocket; resumed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: TEST_TLS_NAME, ca: tls.ca, ALPNProtocols: [alpn] });
    const t = setTimeout(() => { s.destroy(); reject(new Error('handshake not done in 5 s')); }, 5000);
    s.once('secureConnect', () => {
      clearTimeout(t);
      const resumed = s.isSessionReused();
      if (alpn === 'h2' && s.alpnProtocol !== 'h2') { s.destroy(); reject(new Error(`ALPN ${String(s.alpnProtocol)}, not ${alpn}`)); return; }
      if (!keep) s.destroy();
      resolve({ sock: s, resumed });
    });
    s.once('error', (e) => { clearTimeout(t); s.destroy(); reject(e); });
  });
}

interface Rate { perS: number; cpuUs: number; failed: number; resumed: number }

/** Step 2: PARALLEL handshakes in flight for `seconds`, each on a new connection. */
async function handshakeRate(run: Running, port: number, alpn: string, tls: Tls, seconds: number): Promise<Rate> {
  let done = 0;
  let failed = 0;
  let resumed = 0;
  const c0 = cpuTicks(run.pid);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      try {
        if ((await handshake(port, alpn, tls)).resumed) resumed++;
        done++;
      } catch {
        failed++;
        await sleep(20);
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  const t1 = performance.now();
  const ticks = cpuTicks(run.pid) - c0;
  return { perS: done / ((t1 - t0) / 1000), cpuUs: (ticks / CLK_TCK) * 1e6 / Math.max(1, done), failed, resumed };
}

interface Memory { baseMiB: number; dot: number; doh: number; dotOpen: number; dohOpen: number; readings: string }

/**
 * Step 3, in a process that has held no connection yet (freed memory is kept and reused by the
 * allocators, so a second round would measure next to nothing): CONNECTIONS idle DoT connections
 * (TLS, no query), VmRSS; then, holding them, CONNECTIONS idle HTTP/2 sessions (SETTINGS
 * exchanged, no stream), VmRSS. Each difference is scaled to 1,000 connections.
 */
async function idleMemory(run: Running, e: EncryptedCtx, tls: Tls): Promise<Memory> {
  const dots: TLSSocket[] = [];
  const sessions: ClientHttp2Session[] = [];
  const openDot = async () => { dots.push((await handshake(e.dotPort, 'dot', tls, true)).sock); };
  const openDoh = async () => {
    const s = h2connect(`https://127.0.0.1:${e.dohPort}`, { ca: tls.ca, servername: TEST_TLS_NAME });
    sessions.push(s);
    s.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no HTTP/2 SETTINGS in 5 s')), 5000);
      s.once('remoteSettings', () => { clearTimeout(t); resolve(); });
      s.once('error', (err) => { clearTimeout(t); reject(err); });
    });
  };
  const openAll = async (one: () => Promise<void>) => {
    let next = 0;
    const worker = async () => { while (next < CONNECTIONS) { next++; await one(); } };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    await sleep(SETTLE_MS);
    return rssMiB(run.pid);
  };
  try {
    await sleep(SETTLE_MS);
    const baseMiB = rssMiB(run.pid);
    const withDot = await openAll(openDot);
    const withBoth = await openAll(openDoh);
    const per1000 = (mib: number) => (mib * 1000) / CONNECTIONS;
    return {
      baseMiB, dot: per1000(withDot - baseMiB), doh: per1000(withBoth - withDot),
      dotOpen: dots.filter((s) => !s.destroyed && !s.readableEnded).length,
      dohOpen: sessions.filter((s) => !s.closed && !s.destroyed).length,
      readings: `${baseMiB.toFixed(1)} -> ${withDot.toFixed(1)} -> ${withBoth.toFixed(1)}`,
    };
  } finally {
    for (const s of dots) s.destroy();
    for (const s of sessions) s.destroy();
  }
}

// ---------------------------------------------------------------- the run

interface Stat { median: number; min: number; max: number }
const stat = (xs: number[]): Stat => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

interface Result {
  peer: Peer;
  error?: string;
  notes: string[];
  dotQps?: Stat; dotCpuUs?: number;
  dohQps?: Stat; dohCpuUs?: number;
  dotHs?: Stat; dotHsCpuUs?: number;
  dohHs?: Stat; dohHsCpuUs?: number;
  dotMem?: Stat; dohMem?: Stat; rssBase?: number;
}

async function main(): Promise<void> {
  const root = (workDir = mkdtempSync(join(tmpdir(), 'verdict-encrypted-')));
  const results: Result[] = [];
  try {
    const cpu = cpus();
    out(`bench:encrypted  ${new Date().toISOString()}  node ${process.version}  ${cpu.length} x ${cpu[0]?.model ?? '?'}  runs ${RUNS} x ${DURATION} s, ${CONNECTIONS} idle connections  load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    out(`  ${toolVersions()}`);
    if (!existsSync(DNSPERF)) throw new Error(`${DNSPERF} not found (apt-get install dnsperf)`);
    if (!existsSync(NSD)) throw new Error(`${NSD} not found (apt-get install nsd)`);
    const ca = makeCa(root);
    const pair = makeServerCert(ca, 'server', 3);
    const tls: Tls = { ca: readFileSync(ca.ca) };
    out(`  certificate: ECDSA P-256 for ${TEST_TLS_NAME} and 127.0.0.1, signed by a CA made now (openssl); every client verifies it`);
    const cachedFile = join(root, 'cached.txt');
    writeFileSync(cachedFile, CACHED.join('\n') + '\n');
    const lab = await startNsdLab(join(root, 'nsd'));
    out(`  NSD lab: ${lab.pids.length} nsd processes on 127.57/16:53`);

    let basePort = 15400;
    for (const peer of ORDER) {
      const res: Result = { peer, notes: [] };
      results.push(res);
      out(`\n== ${peer.label}`);
      const why = peer.missing();
      if (why) { res.error = why; out(`  SKIPPED: ${why}`); continue; }
      const port = await freePort(basePort);
      const e: EncryptedCtx = { dotPort: await freePort(port + 1), dohPort: 0, cert: pair.cert, key: pair.key, connections: CONNECTIONS, idleS: IDLE_S };
      e.dohPort = await freePort(e.dotPort + 1);
      basePort = e.dohPort + 10;
      let run: Running | undefined;
      const start = async () => {
        const r = await startPeer(peer, { dir: join(root, peer.id), port, hints: lab.rootHints, encrypted: e }, readiness(e), START_TIMEOUT_S);
        for (const note of await checkAnswers(port, CACHED)) { if (!res.notes.includes(note)) res.notes.push(note); out(`  WARNING: ${note}`); }
        return r;
      };
      try {
        // 3 first: one fresh process per reading; the last one goes on with 1 and 2.
        const mems: Memory[] = [];
        for (let i = 0; i < RUNS; i++) {
          if (run) await stopProc(run.proc, 8000);
          run = await start();
          if (i === 0) out(`  started (pid ${run.pid}): UDP ${port}, DoT ${e.dotPort}, DoH ${e.dohPort}`);
          mems.push(await idleMemory(run, e, tls));
        }
        res.dotMem = stat(mems.map((m) => m.dot));
        res.dohMem = stat(mems.map((m) => m.doh));
        res.rssBase = median(mems.map((m) => m.baseMiB));
        out(`  ${CONNECTIONS} idle DoT, then ${CONNECTIONS} idle DoH connections, a fresh process each time: VmRSS ${mems.map((m) => m.readings).join(', ')} MiB; per 1,000: DoT ${res.dotMem.median.toFixed(1)}, DoH ${res.dohMem.median.toFixed(1)} MiB; still open ${mems.map((m) => `${m.dotOpen}+${m.dohOpen}`).join(' ')}`);
        if (mems.some((m) => m.dotOpen < CONNECTIONS || m.dohOpen < CONNECTIONS)) res.notes.push('some idle connections were closed by the server before the reading');
        await sleep(1000);
        const live: Running = run!;
        await dnsperf(port, cachedFile, { seconds: 1, pid: live.pid });
        for (const mode of ['dot', 'doh'] as const) {
          const p = mode === 'dot' ? e.dotPort : e.dohPort;
          await dnsperf(p, cachedFile, { seconds: 1, pid: live.pid, mode, clients: CLIENTS }); // warm-up, not counted
          const runs: Perf[] = [];
          for (let i = 0; i < RUNS; i++) runs.push(await dnsperf(p, cachedFile, { seconds: DURATION, pid: live.pid, mode, clients: CLIENTS }));
          const q = stat(runs.map((r) => r.qps));
          const cpuUs = median(runs.map((r) => r.cpuUs));
          const lost = runs.reduce((a, r) => a + r.lost, 0);
          out(`  ${mode} q/s over ${CLIENTS} connections: ${runs.map((r) => Math.round(r.qps)).join(' ')} (median ${Math.round(q.median)}), mean latency ${median(runs.map((r) => r.meanMs)).toFixed(2)} ms, CPU ${cpuUs.toFixed(1)} us/query, lost ${lost}`);
          const rc = runs.map((r) => r.rcodes).filter((s, i, a) => a.indexOf(s) === i && !/^NOERROR [0-9]+ \(100\.00%\)$/.test(s));
          if (rc.length) res.notes.push(`${mode}: response codes ${rc.join(' / ')}`);
          if (lost) res.notes.push(`${mode}: ${lost} queries lost over the runs`);
          if (mode === 'dot') Object.assign(res, { dotQps: q, dotCpuUs: cpuUs });
          else Object.assign(res, { dohQps: q, dohCpuUs: cpuUs });
        }
        for (const [kind, p, alpn] of [['dot', e.dotPort, 'dot'], ['doh', e.dohPort, 'h2']] as const) {
          const rates: Rate[] = [];
          for (let i = 0; i < RUNS; i++) rates.push(await handshakeRate(live, p, alpn, tls, DURATION));
          const h = stat(rates.map((r) => r.perS));
          const cpuUs = median(rates.map((r) => r.cpuUs));
          const failed = rates.reduce((a, r) => a + r.failed, 0);
          const resumed = rates.reduce((a, r) => a + r.resumed, 0);
          out(`  ${kind} handshakes/s (new connections, ALPN ${alpn}): ${rates.map((r) => Math.round(r.perS)).join(' ')} (median ${Math.round(h.median)}), server CPU ${cpuUs.toFixed(0)} us/handshake, failed ${failed}, resumed ${resumed}`);
          if (failed) res.notes.push(`${kind} handshakes: ${failed} failed`);
          if (resumed) res.notes.push(`${kind} handshakes: ${resumed} resumed (should be 0)`);
          if (kind === 'dot') Object.assign(res, { dotHs: h, dotHsCpuUs: cpuUs });
          else Object.assign(res, { dohHs: h, dohHsCpuUs: cpuUs });
        }
      } catch (err) {
        res.error = (err as Error).message;
        out(`  FAILED: ${res.error}`);
      } finally {
        if (run) await stopProc(run.proc, 8000);
      }
    }
  } finally {
    await stopAll();
    removeWorkDir();
    if (argv.keep) out(`\n(kept ${root})`);
  }
  printTable(results);
}

function printTable(results: Result[]): void {
  const fmt = (s: Stat | undefined, d: number) => (s && Number.isFinite(s.median) ? `${s.median.toFixed(d)} [${s.min.toFixed(d)}-${s.max.toFixed(d)}]` : '-');
  const num = (v: number | undefined, d: number) => (v !== undefined && Number.isFinite(v) ? v.toFixed(d) : '-');
  const rows: [string, (r: Result) => string][] = [
    [`DoT q/s, ${CLIENTS} connections (median [min-max])`, (r) => fmt(r.dotQps, 0)],
    ['DoT server CPU us/query', (r) => num(r.dotCpuUs, 1)],
    [`DoH q/s, ${CLIENTS} connections (median [min-max])`, (r) => fmt(r.dohQps, 0)],
    ['DoH server CPU us/query', (r) => num(r.dohCpuUs, 1)],
    ['DoT handshakes/s, new connections', (r) => fmt(r.dotHs, 0)],
    ['DoT server CPU us/handshake', (r) => num(r.dotHsCpuUs, 0)],
    ['DoH handshakes/s, new connections', (r) => fmt(r.dohHs, 0)],
    ['DoH server CPU us/handshake', (r) => num(r.dohHsCpuUs, 0)],
    ['VmRSS MiB at rest (fresh, names cached)', (r) => num(r.rssBase, 1)],
    ['VmRSS MiB per 1,000 idle DoT connections', (r) => fmt(r.dotMem, 1)],
    ['VmRSS MiB per 1,000 idle DoH connections', (r) => fmt(r.dohMem, 1)],
  ];
  const cols = results;
  const cells = rows.map(([, f]) => cols.map((c) => (c.error ? 'failed' : f(c))));
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const widths = cols.map((c, i) => Math.max(c.peer.label.length, ...cells.map((r) => r[i]!.length)));
  out(`\nbench:encrypted results (one worker thread each; dnsperf -T 1 -c ${CLIENTS}; ${RUNS} x ${DURATION} s; ${CONNECTIONS} idle connections)`);
  out(`| ${'figure'.padEnd(w0)} | ${cols.map((c, i) => c.peer.label.padEnd(widths[i]!)).join(' | ')} |`);
  out(`|${'-'.repeat(w0 + 2)}|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  rows.forEach(([label], k) => out(`| ${label.padEnd(w0)} | ${cells[k]!.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`));
  for (const r of results) {
    if (r.error) out(`  ${r.peer.label}: ${r.error}`);
    for (const n of r.notes) out(`  ${r.peer.label}: ${n}`);
  }
  const v = results.find((r) => r.peer.id === 'verdict' && !r.error);
  const others = results.filter((r) => r.peer.id !== 'verdict' && !r.error);
  if (!v || !others.length) return;
  out('\nVerdict against the issue\'s target (q/s >= 0.7x the better of BIND and Unbound):');
  for (const [what, get] of [['DoT', (r: Result) => r.dotQps?.median], ['DoH', (r: Result) => r.dohQps?.median]] as const) {
    const best = others.reduce<Result | undefined>((b, r) => ((get(r) ?? 0) > (b ? get(b) ?? 0 : 0) ? r : b), undefined);
    const mine = get(v);
    const x = best && mine !== undefined ? mine / get(best)! : undefined;
    out(`  ${what}: Verdict ${mine?.toFixed(0) ?? '?'} q/s, best ${best?.peer.label ?? '?'} ${best ? get(best)?.toFixed(0) : '?'} q/s: ${x?.toFixed(2) ?? '?'}x -> ${x === undefined ? 'n/a' : x >= 0.7 ? 'met' : 'NOT met'}`);
  }
}

main().catch(async (e) => {
  process.stderr.write(`bench:encrypted: ${(e as Error).stack ?? e}\n`);
  await stopAll();
  removeWorkDir();
  process.exit(1);
});
