/**
 * Soak (issue 7, "Soak"; not in CI): Verdict under a steady load for a long
 * time, to show that nothing leaks and nothing degrades.
 *
 *   1. The lab hierarchy (lab/zones/, src/lab/lab.ts) served by the lab's
 *      authoritative server in a child process of this script, on 127.59.X.Y:53
 *      (the lab's 127.55.X.Y moved to a block of its own, clear of the tests'
 *      127.55/16 and of bench:e2e's 127.57/16; --lab-net picks another).
 *   2. Verdict as a process (by PID, `verdict serve`), configured as in
 *      bench:e2e (one worker, QNAME minimisation off, policy before recursion)
 *      plus the 2013 court order (judged by a demo clock inside its dates),
 *      an RPZ zone of RULES generated rules and a wildcard rule, the mirror
 *      watch on, and /metrics on loopback.
 *   3. A query file mixing three kinds (`--mix`, default 60/25/15 %):
 *      - cache hits: a pool of names that exist in the lab (12 lab names and
 *        2,000 names under *.wild.example.com), asked over and over;
 *      - cache misses: UNIQUE names under *.wild.example.com (the lab's
 *        wildcard answers each), --unique of them per pass of the file, more
 *        than the cache holds, so a name asked again on the next pass has
 *        been evicted and is a miss again;
 *      - blocked names: names of the court order (redirected to the notice
 *        address), names of the generated rules and names under the wildcard
 *        rule `*.blocked.example.com` (NXDOMAIN).
 *   4. Saturation: dnsperf at full speed (100 queries outstanding) for
 *      --probe seconds over a file of the same mix; then the soak at
 *      --fraction (80 %) of that rate (`dnsperf -Q`) for --minutes.
 *   5. Every --interval seconds (`dnsperf -S`): q/s, answers, lost, response
 *      codes, mean / p99 / max latency (from `dnsperf -v`, one line per
 *      answer, binned into a log histogram between two `-S` lines); datagrams
 *      the kernel dropped at Verdict's socket (/proc/net/udp); Verdict's VmRSS
 *      (/proc/PID/status) and CPU (/proc/PID/stat); from /metrics, V8 heap,
 *      external memory, upstream queries/s and record-cache entries; the
 *      lab's CPU and the load average (the machine may be shared).
 *   6. The verdict: no error (no query lost, no SERVFAIL, no unexpected rcode),
 *      RSS flat after warm-up (least-squares slope over the second half, and
 *      only once the record cache is full, within --max-rss-slope MiB/min;
 *      while the cache still fills, memory is meant to grow, so it is not
 *      judged), p99 stable (the median of the intervals' p99 in the last
 *      quarter within 1.5x that of the third quarter, plus 0.5 ms).
 *
 * Usage: npm run bench:soak [-- OPTIONS]
 *   --minutes M        soak duration (default 10)
 *   --interval S       seconds per sample (default 10)
 *   --mix H,M,B        percent of hits, misses, blocked (default 60,25,15)
 *   --fraction F       offered load as a fraction of saturation (default 0.8)
 *   --rate Q           offered q/s; skips the saturation probe
 *   --probe S          seconds of the saturation probe (default 10)
 *   --outstanding N    dnsperf -q during the soak (default 1000: after a stall dnsperf
 *                      catches up in a burst, as many clients would; 100, bench:e2e's,
 *                      never sends more than a socket buffer holds)
 *   --unique N         unique miss names per pass of the file (default 400,000)
 *   --rules N          generated QNAME rules in the RPZ zone (default 100,000)
 *   --cache N          Verdict's cache.max_entries (default 200,000, its default)
 *   --max-rss-slope X  MiB/min allowed over the second half (default 1)
 *   --lab-net 127.N    the loopback /16 of the lab (default 127.59)
 *   --keep             keep the temporary directory (configs, query files, logs)
 * SOAK_VERDICT_NODE_ARGS="--trace-gc" (say) passes flags to Verdict's node;
 * with --keep its log is in the kept directory (verdict.log).
 * Every process (lab, Verdict, dnsperf) is started by PID and stopped at the
 * end, on error and on SIGINT/SIGTERM; the lab also exits when this process
 * dies (its stdin closes). Exit status 0 when the verdict is OK, else 1.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, createWriteStream, existsSync, openSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Rcode, Type } from '../src/dns/constants.js';
import { LAB_SERVERS, startLab } from '../src/lab/lab.js';
import type { LabServerSpec } from '../src/lab/lab.js';
import { defaultZonesDir, zoneFileName } from '../src/lab/zones.js';
import { ask } from '../test/helpers/client.js';
import { rng, writeRpz } from './gen-rpz.js';
import { stopAll as stopAllProcs, stopOnSignals, track } from './processes.js';
import { perfTotals } from './dnsperf.js';
import type { PerfTotals } from './dnsperf.js';

// ---------------------------------------------------------------- options

const { values: argv } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    interval: { type: 'string', default: '10' },
    mix: { type: 'string', default: '60,25,15' },
    fraction: { type: 'string', default: '0.8' },
    rate: { type: 'string' },
    probe: { type: 'string', default: '10' },
    outstanding: { type: 'string', default: '1000' },
    unique: { type: 'string', default: '400000' },
    rules: { type: 'string', default: '100000' },
    cache: { type: 'string', default: '200000' },
    'max-rss-slope': { type: 'string', default: '1' },
    'lab-net': { type: 'string', default: '127.59' },
    keep: { type: 'boolean', default: false },
    /** Internal: this process is the lab (its zone files in the given directory). */
    'serve-lab': { type: 'string' },
  },
});
const MINUTES = Number(argv.minutes);
const INTERVAL = Number(argv.interval);
const MIX = argv.mix.split(',').map(Number);
const FRACTION = Number(argv.fraction);
const PROBE_S = Number(argv.probe);
const OUTSTANDING = Number(argv.outstanding);
const UNIQUE = Number(argv.unique);
const RULES = Number(argv.rules);
const CACHE = Number(argv.cache);
const MAX_RSS_SLOPE = Number(argv['max-rss-slope']);
if (!(MINUTES > 0 && INTERVAL >= 1 && PROBE_S >= 1 && OUTSTANDING >= 1 && UNIQUE >= 1000 && RULES >= 0 && CACHE >= 100 && FRACTION > 0 && MAX_RSS_SLOPE > 0)) throw new Error('bad option: --minutes, --interval, --probe, --outstanding, --unique, --fraction, --max-rss-slope must be positive');
if (MIX.length !== 3 || MIX.some((x) => !(x >= 0)) || MIX[0]! + MIX[1]! + MIX[2]! <= 0) throw new Error('--mix: three percentages, hits,misses,blocked');

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DNSPERF = '/usr/bin/dnsperf';
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const ORDER_FILE = join(REPO, 'config/orders/2013-tgi-paris-allostreaming.yaml');
/** The order's notice address (redirects answer with it) and a demo clock inside the order's dates. */
const NOTICE = '192.0.2.200';
const ORDER_CLOCK = '2014-06-02T10:00:00+02:00';

const out = (s = '') => process.stdout.write(s + '\n');
/** Extra node flags for the Verdict process (diagnosis: SOAK_VERDICT_NODE_ARGS="--trace-gc"). */
const VERDICT_NODE_ARGS = (process.env.SOAK_VERDICT_NODE_ARGS ?? '').split(' ').filter(Boolean);

// ---------------------------------------------------------------- the lab, in a child process

/** The lab's servers moved from 127.55.X.Y to LAB_NET.X.Y. */
const LAB_NET = argv['lab-net'];
if (!/^127\.[0-9]{1,3}$/.test(LAB_NET)) throw new Error('--lab-net: the first two bytes of a loopback /16, such as 127.59');
const labAddress = (a: string) => a.replace(/^127\.55\./, `${LAB_NET}.`);
const SOAK_SERVERS: LabServerSpec[] = LAB_SERVERS.map((s) => ({ ...s, address: labAddress(s.address) }));

/** Child mode: serve the lab from `dir` until SIGTERM, or until the parent goes (stdin closes); print READY once every server listens. */
async function serveLab(dir: string): Promise<void> {
  const lab = await startLab({ zonesDir: dir, servers: SOAK_SERVERS });
  process.stdout.write(`READY ${JSON.stringify(lab.rootHints)}\n`);
  await new Promise<void>((r) => {
    process.once('SIGTERM', r);
    process.once('SIGINT', r);
    process.stdin.once('end', r).once('close', r).resume();
  });
  await lab.stop();
}

// ---------------------------------------------------------------- processes (by PID)

/** The soak's children get 8 s to stop (Verdict drains). */
const stopAll = () => stopAllProcs(8000);

let workDir: string | undefined;
const removeWorkDir = () => { if (workDir && !argv.keep) rmSync(workDir, { recursive: true, force: true }); };

/** Spawn; the caller reads stdout; the last 32 KiB of stderr are kept. `stdin`: a pipe the child may watch. */
function spawnTracked(cmd: string, args: string[], cwd: string, stdin: 'ignore' | 'pipe' = 'ignore'): { proc: ChildProcess; stderr: () => string } {
  const proc = track(spawn(cmd, args, { cwd, stdio: [stdin, 'pipe', 'pipe'] }));
  let err = '';
  proc.stderr!.on('data', (d) => { err += d; if (err.length > 1 << 16) err = err.slice(-(1 << 15)); });
  return { proc, stderr: () => err.trim().split('\n').slice(-8).join('\n') };
}

async function startLabChild(root: string): Promise<{ proc: ChildProcess; hints: { name: string; address: string }[] }> {
  const zdir = join(root, 'zones');
  mkdirSync(zdir, { recursive: true });
  const src = defaultZonesDir();
  for (const z of new Set(LAB_SERVERS.flatMap((s) => s.zones))) {
    const text = readFileSync(join(src, zoneFileName(z)), 'utf8');
    writeFileSync(join(zdir, zoneFileName(z)), text.replace(/\b127\.55\.([0-9]{1,3})\.([0-9]{1,3})\b/g, `${LAB_NET}.$1.$2`));
  }
  const { proc, stderr } = spawnTracked(process.execPath, [fileURLToPath(import.meta.url), '--serve-lab', zdir], root, 'pipe');
  let stdout = '';
  const hints = await new Promise<{ name: string; address: string }[]>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`lab did not start in 30 s: ${stderr()}`)), 30_000);
    proc.stdout!.on('data', (d) => {
      stdout += d;
      const m = /^READY (.*)$/m.exec(stdout);
      if (m) { clearTimeout(t); res(JSON.parse(m[1]!)); }
    });
    proc.once('exit', (c) => {
      clearTimeout(t);
      const busy = /EADDRINUSE/.test(stderr()) ? ` (an address of ${LAB_NET}/16 is taken: choose another block with --lab-net)` : '';
      rej(new Error(`lab exited ${c}${busy}: ${stderr()}`));
    });
  });
  return { proc, hints };
}

// ---------------------------------------------------------------- Verdict

function freePort(start: number): Promise<number> {
  return new Promise((res) => {
    const s = createSocket('udp4');
    s.once('error', () => { s.close(); res(freePort(start + 1)); });
    s.bind(start, '127.0.0.1', () => { s.close(); res(start); });
  });
}

interface Running { proc: ChildProcess; pid: number; port: number; metricsPort: number; stderr: () => string }

async function startVerdict(root: string, hints: { name: string; address: string }[], zone: string): Promise<Running> {
  const port = await freePort(15400);
  const metricsPort = await freePort(port + 1);
  const file = join(root, 'verdict.yaml');
  writeFileSync(file, `server:
  listen: ["127.0.0.1:${port}"]
  allow: ["127.0.0.0/8"]
  workers: 1
resolver:
  root_hints:
${hints.map((h) => `    - { name: ${h.name}, address: ${h.address} }`).join('\n')}
  qname_minimisation: false
  upstream_timeout_ms: 800
cache: { max_entries: ${CACHE} }
rpz:
  qname_wait_recurse: false
  zones:
    - { name: soak.rpz, file: "${zone}" }
orders:
  files: ["${ORDER_FILE}"]
  notice_host: notice.verdict.example
  notice_addresses: [${NOTICE}]
  clock: "${ORDER_CLOCK}"
control: { enabled: false }
metrics: { listen: "127.0.0.1:${metricsPort}" }
mirrors: { state_file: "${join(root, 'mirrors.json')}", save_interval_s: 0 }
log: { level: warn, policy_hits: false }
`);
  // Its logs go to a file, not a pipe: a process logging into a full pipe would block.
  const log = join(root, 'verdict.log');
  const fd = openSync(log, 'a');
  const proc = track(spawn(process.execPath, [...VERDICT_NODE_ARGS, join(REPO, 'dist/src/cli.js'), 'serve', '-c', file], { cwd: root, stdio: ['ignore', fd, fd] }));
  closeSync(fd);
  const stderr = () => readFileSync(log, 'utf8').trim().split('\n').slice(-8).join('\n');
  // Up when the order's probe name gets its redirect (policy loaded, listeners open); bounded.
  const t0 = performance.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`verdict exited ${proc.exitCode}: ${stderr()}`);
    const r = await ask('www.dpstream.tv.', Type.A, port).catch(() => undefined);
    if (r && r.answers.some((a) => a.type === Type.A && [...a.rdata].join('.') === NOTICE)) break;
    if (performance.now() - t0 > 120_000) throw new Error(`verdict gave no policy answer in 120 s: ${stderr()}`);
    await sleep(50);
  }
  return { proc, pid: proc.pid!, port, metricsPort, stderr };
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+([0-9]+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
/**
 * Datagrams the kernel dropped at Verdict's listening socket (receive buffer
 * full), the last column of /proc/net/udp for 127.0.0.1:port.
 */
function socketDrops(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const line = readFileSync('/proc/net/udp', 'utf8').split('\n').find((l) => l.trim().split(/\s+/)[1] === local);
  return line ? Number(line.trim().split(/\s+/).at(-1)) : NaN;
}
function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime, stime
}

/** The counters and gauges the table shows, from /metrics (summed over labels). */
interface Scraped { upstream: number; cacheEntries: number; rpzHits: number; orderBlocked: number; heapMiB: number; externalMiB: number }
function scrape(port: number): Promise<Scraped | undefined> {
  return new Promise((res) => {
    const req = get({ host: '127.0.0.1', port, path: '/metrics', timeout: 3000 }, (r) => {
      let body = '';
      r.on('data', (d) => { body += d; });
      r.on('end', () => {
        const sum = (metric: string) => body.split('\n').filter((l) => l.startsWith(metric + ' ') || l.startsWith(metric + '{')).reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
        res({
          upstream: sum('verdict_upstream_queries_total'), cacheEntries: sum('verdict_cache_entries'), rpzHits: sum('verdict_rpz_hits_total'), orderBlocked: sum('verdict_order_blocked_total'),
          heapMiB: sum('nodejs_heap_size_used_bytes') / 1048576, externalMiB: sum('nodejs_external_memory_bytes') / 1048576,
        });
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => res(undefined));
  });
}

// ---------------------------------------------------------------- query files

/** Names that exist in the lab (answers from 1 to 3 zones away), as in bench:e2e. */
const LAB_NAMES = [
  'www.example.com A', 'www.example.com AAAA', 'example.com A', 'example.com MX', 'mail2.example.org A',
  'exists.wild.example.com A', 'www.example.org A', 'chain.example.com A', 'v4only.example.com A', 'alias.example.com A',
  'example.org A', 'edge.cdn-lab.net A',
];
/** The order's domains (include_subdomains: true). */
const ORDER_DOMAINS = ['dpstream.tv', 'allostreaming.com', 'alloshotv.com', 'allomovies.com', 'alloshare.com', 'allomegavideo.com', 'alloseven.com', 'allourls.com',
  'fifostream.com', 'fifostream.org', 'fifostream.net', 'fifostream.tv', 'fifostreaming.com', 'fifostreaming.org', 'fifostreaming.net', 'fifostreaming.tv'];

interface Pools { hits: string[]; blocked: string[] }

/** The RPZ zone (RULES generated rules, then the soak's own) and the pools of hit and blocked names. */
async function writeZoneAndPools(path: string): Promise<Pools> {
  const wild: boolean[] = [];
  const names = RULES ? await writeRpz(path, RULES, 0, 42, wild) : [];
  const head = RULES ? readFileSync(path, 'utf8') : '$TTL 300\n@ SOA ns.bench.rpz. hostmaster.bench.rpz. 1 3600 600 86400 60\n@ NS ns.bench.rpz.\n';
  writeFileSync(path, head + '*.blocked.example.com CNAME .\nmail.example.com CNAME .\n');
  const hits = [...LAB_NAMES];
  for (let i = 0; i < 2000; i++) hits.push(`h${i}.wild.example.com A`);
  const blocked: string[] = ['mail.example.com A'];
  const ruleNames = names.filter((_, i) => !wild[i]);
  for (let i = 0; i < 3000; i++) {
    const k = i % 3;
    if (k === 0) blocked.push(`${i % 5 ? `w${i}.` : ''}${ORDER_DOMAINS[i % ORDER_DOMAINS.length]} A`);
    else if (k === 1 && ruleNames.length) blocked.push(`${ruleNames[(i * 7919) % ruleNames.length]} A`);
    else blocked.push(`b${i}.blocked.example.com A`);
  }
  return { hits, blocked };
}

/**
 * `misses` unique miss names (tag-N.wild.example.com), with hits and blocked
 * names interleaved in the --mix proportions (seeded, so runs compare).
 */
async function writeQueryFile(path: string, pools: Pools, tag: string, misses: number): Promise<number> {
  const total = MIX[0]! + MIX[1]! + MIX[2]!;
  const [ph, pm] = [MIX[0]! / total, MIX[1]! / total];
  const lines = pm > 0 ? Math.ceil(misses / pm) : misses;
  const r = rng(7);
  const w = createWriteStream(path);
  let chunk = '';
  let [m, h, b] = [0, 0, 0];
  for (let i = 0; i < lines; i++) {
    const x = r();
    chunk += (x < ph ? pools.hits[h++ % pools.hits.length] : x < ph + pm ? `${tag}${(m++).toString(36)}.wild.example.com A` : pools.blocked[b++ % pools.blocked.length]) + '\n';
    if (chunk.length > 1 << 16) {
      if (!w.write(chunk)) await new Promise<void>((res) => w.once('drain', () => res()));
      chunk = '';
    }
  }
  w.write(chunk);
  await new Promise<void>((res) => w.end(() => res()));
  return lines;
}

// ---------------------------------------------------------------- latency histogram

/** Log-scale bins of 2 % from 1 us: percentiles within 2 %, fixed memory per interval. */
const BINS = 1200;
const STEP = Math.log(1.02);
const binOf = (s: number) => { const us = s * 1e6; return us < 1 ? 0 : Math.min(BINS - 1, 1 + Math.floor(Math.log(us) / STEP)); };
const binMs = (i: number) => (i === 0 ? 0.001 : Math.exp(i * STEP) / 1000);
function percentile(h: Uint32Array, p: number): number {
  let n = 0;
  for (const c of h) n += c;
  if (!n) return NaN;
  const want = Math.ceil(n * p);
  let acc = 0;
  for (let i = 0; i < h.length; i++) if ((acc += h[i]!) >= want) return binMs(i);
  return NaN;
}
function merge(hs: Uint32Array[]): Uint32Array {
  const o = new Uint32Array(BINS);
  for (const h of hs) for (let i = 0; i < BINS; i++) o[i]! += h[i]!;
  return o;
}

// ---------------------------------------------------------------- dnsperf

interface Interval {
  /** Seconds since the soak started, at the end of the interval. */
  t: number;
  qps: number;
  answered: number;
  lost: number;
  rcodes: Map<string, number>;
  latSum: number;
  latMax: number;
  hist: Uint32Array;
  rss: number;
  cpuPct: number;
  /** Datagrams dropped at Verdict's socket during the interval. */
  drops: number;
  /** CPU of the lab process, and the machine's 1-minute load average (other jobs included). */
  labCpuPct: number;
  load: number;
  upstreamQps?: number;
  cacheEntries?: number;
  policyHits?: number;
  /** V8 heap in use and memory outside it (Buffers, typed arrays), from /metrics. */
  heapMiB?: number;
  externalMiB?: number;
}

/** dnsperf at full speed (as bench:e2e: one client socket, 100 outstanding). */
async function saturate(port: number, file: string, seconds: number): Promise<PerfTotals> {
  const { proc, stderr } = spawnTracked(DNSPERF, ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(seconds), '-c', '1', '-T', '1', '-t', '2', '-q', '100'], REPO);
  let stdout = '';
  proc.stdout!.on('data', (d) => { stdout += d; });
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  return perfTotals(stdout, code, stderr());
}

/** The soak: dnsperf -Q rate -S interval -v, parsed line by line into intervals. */
async function soak(v: Running, labPid: number, file: string, rate: number, seconds: number, onInterval: (iv: Interval) => void): Promise<PerfTotals> {
  const args = ['-s', '127.0.0.1', '-p', String(v.port), '-d', file, '-l', String(seconds), '-c', '1', '-T', '1', '-t', '2', '-q', String(OUTSTANDING),
    '-Q', String(Math.round(rate)), '-S', String(INTERVAL), '-v', '-b', '2048'];
  const { proc, stderr } = spawnTracked(DNSPERF, args, REPO);
  const t0 = performance.now();
  const fresh = () => ({ answered: 0, lost: 0, rcodes: new Map<string, number>(), latSum: 0, latMax: 0, hist: new Uint32Array(BINS) });
  let cur = fresh();
  let lastCpu = { ticks: cpuTicks(v.pid), lab: cpuTicks(labPid), at: performance.now() };
  let lastDrops = socketDrops(v.port);
  let lastUp: { upstream: number; at: number } | undefined;
  const first = await scrape(v.metricsPort);
  if (first) lastUp = { upstream: first.upstream, at: performance.now() };
  let rest = '';
  let summary = '';
  proc.stdout!.on('data', (d: Buffer) => {
    const lines = (rest + d.toString('latin1')).split('\n');
    rest = lines.pop()!;
    for (const l of lines) {
      if (l.startsWith('> ')) {
        // "> NOERROR name type latency" per answer; "> T name type" per query timed out.
        const sp = l.indexOf(' ', 2);
        const code = l.slice(2, sp);
        if (code === 'T') { cur.lost++; continue; }
        const lat = Number(l.slice(l.lastIndexOf(' ') + 1));
        cur.answered++;
        cur.rcodes.set(code, (cur.rcodes.get(code) ?? 0) + 1);
        cur.latSum += lat;
        if (lat > cur.latMax) cur.latMax = lat;
        cur.hist[binOf(lat)]!++;
        continue;
      }
      const m = /^[0-9]+\.[0-9]+: ([0-9.]+)$/.exec(l);
      if (m) endInterval(Number(m[1]));
      else summary += l + '\n';
    }
  });
  /** An interval ends (-S): sample Verdict now; /metrics follows when it answers. */
  const pending: Promise<void>[] = [];
  let lastEnd = t0;
  /** `qps`: dnsperf's figure; without it (the tail), answers and timeouts over the time since the last interval. */
  function endInterval(qps?: number): void {
    const now = performance.now();
    // dnsperf's first -S line may say 0 while answers did come: then count them.
    if (!qps && cur.answered) qps = undefined;
    qps ??= cur.answered / ((now - lastEnd) / 1000);
    lastEnd = now;
    const ticks = cpuTicks(v.pid);
    const lab = cpuTicks(labPid);
    const drops = socketDrops(v.port); // NaN when /proc/net/udp changed under the read: '-' this time
    const pct = (t: number, t0: number) => (((t - t0) / CLK_TCK) / ((now - lastCpu.at) / 1000)) * 100;
    const iv: Interval = {
      ...cur, t: (now - t0) / 1000, qps, rss: rssMiB(v.pid), drops: drops - lastDrops,
      cpuPct: pct(ticks, lastCpu.ticks), labCpuPct: pct(lab, lastCpu.lab), load: loadavg()[0]!,
    };
    lastCpu = { ticks, lab, at: now };
    if (Number.isFinite(drops)) lastDrops = drops;
    cur = fresh();
    pending.push(scrape(v.metricsPort).then((s) => {
      if (s) {
        const at = performance.now();
        if (lastUp) iv.upstreamQps = (s.upstream - lastUp.upstream) / ((at - lastUp.at) / 1000);
        lastUp = { upstream: s.upstream, at };
        iv.cacheEntries = s.cacheEntries;
        iv.policyHits = s.rpzHits;
        iv.heapMiB = s.heapMiB;
        iv.externalMiB = s.externalMiB;
      }
      onInterval(iv);
    }));
  }
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  if (rest) summary += rest;
  // The answers after the last -S line (dnsperf stops before printing it): a last, shorter interval.
  if (cur.answered + cur.lost > 0 && v.proc.exitCode === null) endInterval();
  await Promise.all(pending);
  if (v.proc.exitCode !== null) throw new Error(`verdict exited ${v.proc.exitCode} during the soak: ${v.stderr()}`);
  return perfTotals(summary, code, stderr());
}

// ---------------------------------------------------------------- report

const f = (x: number | undefined, d = 0) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));

function row(iv: Interval): string {
  const sf = iv.rcodes.get('SERVFAIL') ?? 0;
  const other = [...iv.rcodes].filter(([k]) => !['NOERROR', 'NXDOMAIN', 'SERVFAIL'].includes(k)).reduce((a, [, n]) => a + n, 0);
  return `| ${f(iv.t).padStart(5)} | ${f(iv.qps).padStart(6)} | ${String(iv.answered).padStart(8)} | ${String(iv.lost).padStart(4)} | ${f(iv.drops).padStart(5)} | ${String(sf).padStart(8)} | ${String(other).padStart(5)} | ${f(iv.answered ? (iv.latSum / iv.answered) * 1000 : NaN, 3).padStart(7)} | ${f(percentile(iv.hist, 0.99), 3).padStart(7)} | ${f(iv.latMax * 1000, 1).padStart(7)} | ${f(iv.rss, 1).padStart(7)} | ${f(iv.heapMiB).padStart(4)} | ${f(iv.externalMiB).padStart(3)} | ${f(iv.cpuPct).padStart(4)} | ${f(iv.upstreamQps).padStart(7)} | ${f(iv.cacheEntries).padStart(6)} | ${f(iv.labCpuPct).padStart(4)} | ${f(iv.load, 1).padStart(4)} |`;
}
const HEADER = '|   t s |    q/s | answered | lost | drops | SERVFAIL | other | mean ms |  p99 ms |  max ms | RSS MiB | heap | ext | CPU% | upstr/s |  cache | lab% | load |\n|------:|-------:|---------:|-----:|------:|---------:|------:|--------:|--------:|--------:|--------:|-----:|----:|-----:|--------:|-------:|-----:|-----:|';

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) { num += (xs[i]! - mx) * (ys[i]! - my); den += (xs[i]! - mx) ** 2; }
  return den ? num / den : NaN;
}

function verdict(ivs: Interval[], totals: PerfTotals, seconds: number): boolean {
  const answered = ivs.reduce((a, i) => a + i.answered, 0);
  const lost = totals.lost;
  const rc = new Map<string, number>();
  for (const i of ivs) for (const [k, n] of i.rcodes) rc.set(k, (rc.get(k) ?? 0) + n);
  const servfail = rc.get('SERVFAIL') ?? 0;
  const unexpected = [...rc].filter(([k]) => !['NOERROR', 'NXDOMAIN'].includes(k));
  const errorsOk = lost === 0 && unexpected.length === 0;

  const second = ivs.filter((i) => i.t > seconds / 2 + 0.5);
  // Warm-up ends at half time, and not before the record cache is full (98 % of max_entries).
  const full = ivs.find((i) => (i.cacheEntries ?? 0) >= 0.98 * CACHE);
  const judged = second.filter((i) => full && i.t >= full.t);
  const rssSlope = slope(judged.map((i) => i.t / 60), judged.map((i) => i.rss));
  const rssJudged = judged.length >= 3 && Number.isFinite(rssSlope);
  const rssOk = rssJudged && Math.abs(rssSlope) <= MAX_RSS_SLOPE;
  const q3 = ivs.filter((i) => i.t > seconds / 2 + 0.5 && i.t <= (seconds * 3) / 4 + 0.5);
  const q4 = ivs.filter((i) => i.t > (seconds * 3) / 4 + 0.5);
  // The median of the intervals' p99 per quarter: a trend shows, one noisy interval does not decide.
  const p99q3 = median(q3.map((i) => percentile(i.hist, 0.99)));
  const p99q4 = median(q4.map((i) => percentile(i.hist, 0.99)));
  const p99Ok = Number.isFinite(p99q3) && Number.isFinite(p99q4) && p99q4 <= 1.5 * p99q3 + 0.5;
  const all = merge(ivs.map((i) => i.hist));
  const ivP99 = second.map((i) => percentile(i.hist, 0.99)).filter(Number.isFinite);

  out('\nTotals (dnsperf):');
  out(`  sent ${totals.sent}, completed ${totals.completed}, lost ${totals.lost}, ${totals.qps.toFixed(0)} q/s, mean ${totals.meanMs.toFixed(3)} ms`);
  out(`  response codes: ${totals.rcodes}`);
  out(`  latency over the whole soak (from -v, ${answered} answers): p50 ${f(percentile(all, 0.5), 3)} ms, p99 ${f(percentile(all, 0.99), 3)} ms, p99.9 ${f(percentile(all, 0.999), 3)} ms, max ${f(Math.max(...ivs.map((i) => i.latMax)) * 1000, 1)} ms`);
  out(`  RSS: first sample ${f(ivs[0]?.rss, 1)} MiB, at half time ${f(second[0]?.rss, 1)} MiB, last ${f(ivs.at(-1)?.rss, 1)} MiB, max ${f(Math.max(...ivs.map((i) => i.rss)), 1)} MiB`);
  out('\nVerdict:');
  out(`  errors: lost ${lost}, SERVFAIL ${servfail}, other unexpected rcodes ${unexpected.filter(([k]) => k !== 'SERVFAIL').map(([k, n]) => `${k} ${n}`).join(', ') || 'none'} -> ${errorsOk ? 'OK (no error)' : 'FAIL'}`);
  out(`  record cache full (${CACHE.toLocaleString('en')} entries) at ${full ? `${f(full.t)} s` : 'no point: it was still filling at the end'}`);
  if (rssJudged) out(`  RSS after warm-up (second half with a full cache, ${judged.length} samples): slope ${f(rssSlope, 2)} MiB/min (allowed +-${MAX_RSS_SLOPE}) -> ${rssOk ? 'OK (flat)' : 'FAIL (not flat)'}`);
  else out(`  RSS after warm-up: NOT JUDGED (${judged.length} samples in the second half with a full cache; run longer or pass a smaller --cache); second-half slope ${f(slope(second.map((i) => i.t / 60), second.map((i) => i.rss)), 2)} MiB/min while filling`);
  out(`  p99 (median of the intervals' p99): third quarter ${f(p99q3, 3)} ms, last quarter ${f(p99q4, 3)} ms (allowed 1.5x + 0.5 ms); per-interval p99 in the second half ${f(Math.min(...ivP99), 3)}-${f(Math.max(...ivP99), 3)} ms -> ${p99Ok ? 'OK (stable)' : 'FAIL (not stable)'}`);
  return errorsOk && rssOk && p99Ok;
}

// ---------------------------------------------------------------- the run

async function main(): Promise<number> {
  const root = (workDir = mkdtempSync(join(tmpdir(), 'verdict-soak-')));
  const seconds = Math.round(MINUTES * 60);
  try {
    out(`bench:soak  ${new Date().toISOString()}  node ${process.version}  ${cpus().length} x ${cpus()[0]?.model ?? '?'}  load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    out(`  ${MINUTES} min at ${argv.rate ? `${argv.rate} q/s` : `${FRACTION * 100}% of saturation`}, samples every ${INTERVAL} s, mix hits/misses/blocked ${MIX.join('/')} %, ${UNIQUE.toLocaleString('en')} unique misses per pass, ${RULES.toLocaleString('en')} generated rules`);
    if (!existsSync(DNSPERF)) throw new Error(`${DNSPERF} not found (apt-get install dnsperf)`);
    if (!existsSync(join(REPO, 'dist/src/cli.js'))) throw new Error('dist/src/cli.js missing: run npx tsc -p .');

    const zone = join(root, 'soak.rpz');
    const pools = await writeZoneAndPools(zone);
    const probeFile = join(root, 'probe.txt');
    const soakFile = join(root, 'soak.txt');
    const warmFile = join(root, 'warm.txt');
    writeFileSync(warmFile, pools.hits.join('\n') + '\n');
    await writeQueryFile(probeFile, pools, 'p', Math.max(100_000, Math.ceil(PROBE_S * 50_000 * (MIX[1]! / (MIX[0]! + MIX[1]! + MIX[2]!)))));
    const lines = await writeQueryFile(soakFile, pools, 's', UNIQUE);
    out(`  query file: ${lines.toLocaleString('en')} lines (hits from ${pools.hits.length} names, misses unique per pass, blocked from ${pools.blocked.length} names)`);

    const lab = await startLabChild(join(root, 'lab'));
    out(`  lab: pid ${lab.proc.pid}, ${SOAK_SERVERS.filter((s) => s.behaviour !== 'dead' && s.zones.length).length} servers on ${LAB_NET}/16:53`);
    const v = await startVerdict(root, lab.hints, zone);
    out(`  verdict: pid ${v.pid}, 127.0.0.1:${v.port}, metrics 127.0.0.1:${v.metricsPort}, VmRSS ${rssMiB(v.pid).toFixed(1)} MiB at start`);

    // Each kind answers as it should before anything is measured.
    const checks: [string, number, (m: Awaited<ReturnType<typeof ask>>) => boolean][] = [
      ['www.example.com.', Type.A, (m) => m.rcode === Rcode.NOERROR && m.answers.length > 0],
      ['chain.example.com.', Type.A, (m) => m.rcode === Rcode.NOERROR && m.answers.length > 0],
      [`check.wild.example.com.`, Type.A, (m) => m.rcode === Rcode.NOERROR && m.answers.some((a) => [...a.rdata].join('.') === '192.0.2.50')],
      ['mail.example.com.', Type.A, (m) => m.rcode === Rcode.NXDOMAIN],
      ['b1.blocked.example.com.', Type.A, (m) => m.rcode === Rcode.NXDOMAIN],
      ['www.allomovies.com.', Type.A, (m) => m.answers.some((a) => a.type === Type.A && [...a.rdata].join('.') === NOTICE)],
    ];
    for (const [name, type, ok] of checks) {
      const m = await ask(name, type, v.port);
      if (!ok(m)) throw new Error(`setup check failed: ${name} rcode ${m.rcode}, ${m.answers.length} answers`);
    }
    const warm = await saturate(v.port, warmFile, 2);
    out(`  warmed: ${warm.completed} queries over the hit pool (${warm.rcodes})`);

    let rate = argv.rate ? Number(argv.rate) : NaN;
    if (!argv.rate) {
      const s = await saturate(v.port, probeFile, PROBE_S);
      rate = FRACTION * s.qps;
      out(`  saturation (${PROBE_S} s, 100 outstanding, same mix): ${s.qps.toFixed(0)} q/s, mean ${s.meanMs.toFixed(3)} ms, lost ${s.lost} (${s.rcodes})`);
    }
    out(`  soak: ${Math.round(rate)} q/s offered for ${MINUTES} min (${seconds} s)\n`);
    out('  (lost: dnsperf timeouts after 2 s; drops: datagrams the kernel dropped at Verdict\'s socket, receive buffer full; heap/ext: V8 heap used and');
    out('  memory outside it (Buffers), MiB; upstr/s: Verdict\'s upstream queries; cache: record-cache entries; lab%: CPU of the lab; load: 1-min load average)');
    out(HEADER);
    const ivs: Interval[] = [];
    const totals = await soak(v, lab.proc.pid!, soakFile, rate, seconds, (iv) => { ivs.push(iv); out(row(iv)); });
    ivs.sort((a, b) => a.t - b.t);
    const ok = verdict(ivs, totals, seconds);
    const s = await scrape(v.metricsPort);
    if (s) out(`  policy: ${s.rpzHits} RPZ hits, ${s.orderBlocked} answers blocked under the order; upstream queries ${s.upstream}; cache entries ${s.cacheEntries}`);
    out(`  load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')} (a shared machine: other jobs move these figures)`);
    return ok ? 0 : 1;
  } finally {
    await stopAll();
    removeWorkDir();
    if (argv.keep) out(`(kept ${root})`);
  }
}

if (argv['serve-lab']) {
  await serveLab(argv['serve-lab']);
} else {
  stopOnSignals(removeWorkDir, 8000);
  main().then((code) => { process.exitCode = code; }, async (e) => {
    process.stderr.write(`bench:soak: ${(e as Error).stack ?? e}\n`);
    await stopAll();
    removeWorkDir();
    process.exitCode = 1;
  });
}
