/**
 * The whole resolver against its peers (issue 6, "bench/e2e"): Verdict,
 * Unbound, BIND 9, PowerDNS Recursor and Knot Resolver (Debian packages), one
 * after the other in one run, each configured alike:
 *   - root hints = the lab's root (lab/zones/) served by Debian's NSD on
 *     127.57.X.Y (the lab's 127.55.X.Y moved to a block of its own, so that a
 *     test run using the lab or the NSD lab (127.55.(X+100).Y) at the same time
 *     does not collide with the benchmark);
 *   - one worker thread (unbound num-threads 1, named -n 1, pdns_recursor
 *     --threads=1, one kresd process, Verdict server.workers 1);
 *   - DNSSEC validation off, QNAME minimisation off (one upstream query per
 *     cache miss everywhere), minimal responses, caches far larger than the
 *     working set;
 *   - the same RPZ zone (QNAME triggers only: Knot Resolver has no rpz-ip),
 *     applied before recursion (BIND and Verdict: qname-wait-recurse no; the
 *     others do so anyway), the probe name mail.example.com blocked with
 *     `CNAME .` (NXDOMAIN; the lab says NOERROR 192.0.2.25 without policy);
 *   - listening on 127.0.0.1, a port of its own (named only binds addresses
 *     configured on an interface, and lo carries 127.0.0.1 only).
 *
 * Per resolver it measures, with Debian's dnsperf (one client socket, one
 * thread; the machine has 2 cores, so dnsperf and the resolver each get about
 * one, and the C resolvers may be limited by dnsperf: compare CPU per query):
 *   1. the time from spawn to the first policy-correct answer (small zone);
 *   2. cached answers: a query file of names that exist in the lab, warmed
 *      first; RUNS runs of DURATION s at saturation (dnsperf -q 100
 *      outstanding): queries/s, mean latency, and CPU microseconds per query
 *      (utime+stime of the resolver process from /proc/PID/stat over the run,
 *      divided by queries answered); medians;
 *   3. resident memory (VmRSS) after those runs;
 *   4. offered load at 80% of Verdict's saturation rate (dnsperf -Q): lost
 *      queries, mean and p99 latency (p99 from dnsperf -v, one line per answer);
 *   5. cache misses: unique names under *.wild.example.com (each query a miss,
 *      one upstream query each), dnsperf -n 1 so no name repeats; queries/s;
 *   6. restarted with the RULES-rule zone (bench/gen-rpz.ts writeRpz, QNAME
 *      triggers, 10% wildcards): time from spawn to the first policy-correct
 *      answer (the probe polled in a bounded loop), cached queries/s and CPU
 *      per query again, and VmRSS.
 * Then one table: each figure per resolver and its ratio to Unbound's.
 *
 * A peer that fails to start (or is not installed) is reported with the
 * reason and skipped; the run goes on. Every process (NSD, resolvers, dnsperf)
 * is started by PID and stopped at the end, on error and on SIGINT/SIGTERM.
 *
 * Usage: npm run bench:e2e [-- OPTIONS]
 *   --quick          2 runs of 3 s, 100,000 rules (a smoke test, ~3 min)
 *   --runs N         runs per figure (default 5; medians are reported)
 *   --duration S     seconds per dnsperf run (default 8)
 *   --rules N        QNAME triggers in the big zone (default 1,000,000)
 *   --only a,b       resolvers to run (verdict,unbound,bind,pdns,knot)
 *   --rate Q         offered load for the loss test (default 80% of Verdict's cached q/s)
 *   --reload-rate Q  offered load while Verdict reloads to the big zone (default: the loss test's rate)
 *   --keep           keep the temporary directory (configs, logs)
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { LAB_SERVERS } from '../src/lab/lab.js';
import { defaultZonesDir, zoneFileName } from '../src/lab/zones.js';
import { nsdConfText } from '../test/helpers/nsd.js';
import { rootHintsText } from '../test/helpers/roothints.js';
import { writeRpz } from './gen-rpz.js';
import { stopAll, stopOnSignals, stopProc, track } from './processes.js';
import { perfTotals } from './dnsperf.js';

// ---------------------------------------------------------------- options

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    duration: { type: 'string' },
    rules: { type: 'string' },
    only: { type: 'string' },
    rate: { type: 'string' },
    'reload-rate': { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(argv.runs ?? (argv.quick ? 2 : 5));
const DURATION = Number(argv.duration ?? (argv.quick ? 3 : 8));
const RULES = Number(argv.rules ?? (argv.quick ? 100_000 : 1_000_000));
const ALL = ['verdict', 'unbound', 'bind', 'pdns', 'knot'];
const ONLY = argv.only ? argv.only.split(',').map((s) => s.trim()) : ALL;
for (const o of ONLY) if (!ALL.includes(o)) throw new Error(`--only: unknown resolver ${o} (${ALL.join(',')})`);
if (!(RUNS >= 1 && DURATION >= 1 && RULES >= 1)) throw new Error('--runs, --duration and --rules must be positive numbers');

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DNSPERF = '/usr/bin/dnsperf';
const NSD = '/usr/sbin/nsd';
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
/** The probe: exists in the lab (NOERROR 192.0.2.25), blocked by every bench zone (NXDOMAIN). */
const PROBE = 'mail.example.com';
/** Blocked by the big zone only (the lab answers it through *.wild.example.com): tells when a reload to it is done. */
const RELOAD_PROBE = 'reload-probe.wild.example.com';
/** Bounds of the start-up poll: small zone, big zone. */
const START_TIMEOUT_S = 60;
const START_TIMEOUT_BIG_S = 240;

const out = (s = '') => process.stdout.write(s + '\n');
const median = (xs: number[]) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

// ---------------------------------------------------------------- processes (by PID)

/** The run's temporary directory (configs, small zone, query files, logs); removed at the end unless --keep. */
let workDir: string | undefined;
const removeWorkDir = () => { if (workDir && !argv.keep) rmSync(workDir, { recursive: true, force: true }); };
stopOnSignals(removeWorkDir);

// ---------------------------------------------------------------- a tiny DNS client

const TYPES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28 };
function query(id: number, name: string, type: number, rd: boolean): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  const q = Buffer.alloc(12 + labels.reduce((n, l) => n + l.length + 1, 0) + 1 + 4);
  q.writeUInt16BE(id, 0);
  q.writeUInt16BE(rd ? 0x0100 : 0, 2);
  q.writeUInt16BE(1, 4);
  let o = 12;
  for (const l of labels) { q[o++] = l.length; o += q.write(l, o, 'ascii'); }
  q[o++] = 0;
  q.writeUInt16BE(type, o);
  q.writeUInt16BE(1, o + 2);
  return q;
}
interface Reply { rcode: number; ancount: number; aa: boolean }
/** One UDP query; undefined on timeout. */
function ask(address: string, port: number, name: string, type: number, timeoutMs: number, rd = true): Promise<Reply | undefined> {
  return new Promise((res) => {
    const s = createSocket('udp4');
    const id = Math.floor(Math.random() * 65536);
    let done = false;
    const finish = (r: Reply | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      try { s.close(); } catch { /* closed */ }
      res(r);
    };
    const t = setTimeout(() => finish(undefined), timeoutMs);
    // Connected: a closed port comes back at once as ECONNREFUSED (ICMP), not as a timeout.
    s.on('error', () => finish(undefined));
    s.on('message', (m) => {
      if (m.length < 12 || m.readUInt16BE(0) !== id) return;
      finish({ rcode: m[3]! & 0x0f, ancount: m.readUInt16BE(6), aa: (m[2]! & 0x04) !== 0 });
    });
    s.connect(port, address, () => s.send(query(id, name, type, rd), (e) => { if (e) finish(undefined); }));
  });
}

// ---------------------------------------------------------------- the lab, served by NSD on 127.57/16

const labAddress = (a: string) => a.replace(/^127\.55\./, '127.57.');
const rewriteZone = (text: string) => text.replace(/\b127\.55\.([0-9]{1,3})\.([0-9]{1,3})\b/g, '127.57.$1.$2');

interface NsdLab { rootHints: { name: string; address: string }[]; pids: number[] }

async function startNsdLab(root: string): Promise<NsdLab> {
  const zdir = join(root, 'zones');
  mkdirSync(zdir, { recursive: true });
  const zonesDir = defaultZonesDir();
  // One nsd per distinct set of zones (servers of the same zones share one, with several
  // ip-address lines): a server must not answer for zones it does not serve. Lame and
  // dead servers are left out: the benchmark's names never lead to them.
  const groups = new Map<string, { addresses: string[]; zones: string[] }>();
  for (const s of LAB_SERVERS) {
    if (s.behaviour === 'dead' || s.behaviour === 'refused' || s.behaviour === 'upward-referral' || !s.zones.length) continue;
    const key = s.zones.join(' ');
    const g = groups.get(key);
    if (g) g.addresses.push(labAddress(s.address));
    else groups.set(key, { addresses: [labAddress(s.address)], zones: [...s.zones] });
    for (const z of s.zones) writeFileSync(join(zdir, zoneFileName(z)), rewriteZone(readFileSync(join(zonesDir, zoneFileName(z)), 'utf8')));
  }
  const procs: { g: { addresses: string[]; zones: string[] }; p: ChildProcess; err: () => string }[] = [];
  let i = 0;
  for (const g of groups.values()) {
    const dir = join(root, `nsd${i++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'nsd.conf'), nsdConfText({
      listen: g.addresses.map((a) => `${a}@53`), zonesDir: zdir, dir,
      // No response rate limiting: every cache-miss answer comes from *.wild.example.com, one RRL bucket.
      extra: ['rrl-ratelimit: 0', 'rrl-whitelist-ratelimit: 0'],
      zones: g.zones.map((z) => ({ name: z === '.' ? '.' : z + '.', file: zoneFileName(z) })),
    }));

    // -d: foreground, so the PID we hold is NSD's main process (it ends its children on SIGTERM).
    const p = track(spawn(NSD, ['-d', '-c', join(dir, 'nsd.conf')], { stdio: ['ignore', 'ignore', 'pipe'] }));
    let stderr = '';
    p.stderr!.on('data', (d) => { stderr += d; });
    procs.push({ g, p, err: () => stderr + (existsSync(join(dir, 'nsd.log')) ? readFileSync(join(dir, 'nsd.log'), 'utf8') : '') });
  }
  for (const { g, p, err } of procs) {
    for (const a of g.addresses) {
      const zone = g.zones[0]!;
      for (let attempt = 0; ; attempt++) {
        if (p.exitCode !== null) throw new Error(`nsd on ${g.addresses.join(' ')} exited ${p.exitCode}: ${err()}`);
        const r = await ask(a, 53, zone === '.' ? '.' : zone + '.', TYPES.SOA!, 200, false);
        if (r && r.ancount > 0) break;
        if (attempt >= 50) throw new Error(`nsd on ${a} did not answer: ${err()}`);
        await sleep(100);
      }
    }
  }
  return {
    rootHints: LAB_SERVERS.filter((s) => s.zones.includes('.')).map((s) => ({ name: s.name + '.', address: labAddress(s.address) })),
    pids: procs.map((x) => x.p.pid!),
  };
}

// ---------------------------------------------------------------- the resolvers

interface Ctx { dir: string; port: number; zone: string; hints: { name: string; address: string }[] }
interface Peer {
  id: string;
  label: string;
  /** Why it cannot run here, or undefined. */
  missing(): string | undefined;
  /** Write its configuration into ctx.dir and spawn it (not yet tracked). */
  spawn(ctx: Ctx): ChildProcess;
}

const which = (bin: string, args: string[]) => (spawnSync(bin, args, { encoding: 'utf8' }).error ? `${bin} not found` : undefined);
const verdictBuilt = () => (existsSync(join(REPO, 'dist/src/cli.js')) ? undefined : 'dist/src/cli.js missing: run npx tsc -p .');

const PEERS: Peer[] = [
  {
    id: 'verdict',
    label: 'Verdict',
    missing: verdictBuilt,
    spawn(c) {
      const file = join(c.dir, 'verdict.yaml');
      writeFileSync(file, `server:
  listen: ["127.0.0.1:${c.port}"]
  allow: ["127.0.0.0/8"]
  workers: 1
resolver:
  root_hints:
${c.hints.map((h) => `    - { name: ${h.name}, address: ${h.address} }`).join('\n')}
  qname_minimisation: false
  upstream_timeout_ms: 800
rpz:
  qname_wait_recurse: false
  zones:
    - { name: bench.rpz, file: "${c.zone}" }
control: { enabled: false }
mirrors: { state_file: "${join(c.dir, 'mirrors.json')}", save_interval_s: 0 }
log: { level: warn, policy_hits: false }
`);
      return spawn(process.execPath, [join(REPO, 'dist/src/cli.js'), 'serve', '-c', file], { cwd: c.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    },
  },
  {
    id: 'unbound',
    label: 'Unbound',
    missing: () => which('unbound', ['-V']),
    spawn(c) {
      writeFileSync(join(c.dir, 'root.hints'), rootHintsText(c.hints));
      writeFileSync(join(c.dir, 'unbound.conf'), `server:
  interface: 127.0.0.1@${c.port}
  port: ${c.port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "${c.dir}"
  pidfile: "${c.dir}/unbound.pid"
  logfile: ""
  use-syslog: no
  verbosity: 0
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  root-hints: "${c.dir}/root.hints"
  do-not-query-localhost: no
  do-ip6: no
  module-config: "respip iterator"
  qname-minimisation: no
  minimal-responses: yes
  msg-cache-size: 256m
  rrset-cache-size: 512m
  num-queries-per-thread: 4096
  outgoing-range: 8192
remote-control:
  control-enable: no
rpz:
  name: bench.rpz
  zonefile: "${c.zone}"
`);
      return spawn('unbound', ['-d', '-c', join(c.dir, 'unbound.conf')], { cwd: c.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    },
  },
  {
    id: 'bind',
    label: 'BIND 9',
    missing: () => which('named', ['-v']),
    spawn(c) {
      writeFileSync(join(c.dir, 'root.hints'), rootHintsText(c.hints));
      writeFileSync(join(c.dir, 'named.conf'), `options {
  directory "${c.dir}";
  pid-file "${c.dir}/named.pid";
  listen-on port ${c.port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion yes;
  allow-query { any; };
  allow-recursion { 127.0.0.0/8; };
  dnssec-validation no;
  qname-minimization off;
  notify no;
  minimal-responses yes;
  max-cache-size 1g;
  recursive-clients 10000;
  response-policy { zone "bench.rpz"; } qname-wait-recurse no break-dnssec no;
};
controls { };
logging { channel errs { stderr; severity warning; }; category default { errs; }; category lame-servers { null; }; category rpz { null; }; };
zone "." { type hint; file "root.hints"; };
zone "bench.rpz" { type primary; file "${c.zone}"; notify no; check-integrity no; check-names ignore; };
`);
      return spawn('named', ['-g', '-4', '-n', '1', '-c', join(c.dir, 'named.conf')], { cwd: c.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    },
  },
  {
    id: 'pdns',
    label: 'PowerDNS Rec',
    missing: () => (existsSync('/usr/sbin/pdns_recursor') ? undefined : '/usr/sbin/pdns_recursor not found'),
    spawn(c) {
      writeFileSync(join(c.dir, 'root.hints'), rootHintsText(c.hints));
      writeFileSync(join(c.dir, 'rpz.lua'), `rpzFile("${c.zone}", { policyName = "bench.rpz" })\n`);
      writeFileSync(join(c.dir, 'recursor.conf'), `local-address=127.0.0.1
local-port=${c.port}
threads=1
pdns-distributes-queries=no
reuseport=no
daemon=no
write-pid=no
socket-dir=${c.dir}
hint-file=${c.dir}/root.hints
dnssec=off
qname-minimization=no
dont-query=
allow-from=127.0.0.0/8
max-cache-entries=2000000
max-packetcache-entries=2000000
lua-config-file=${c.dir}/rpz.lua
security-poll-suffix=
disable-syslog=yes
loglevel=3
quiet=yes
`);
      return spawn('/usr/sbin/pdns_recursor', [`--config-dir=${c.dir}`], { cwd: c.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    },
  },
  {
    id: 'knot',
    label: 'Knot Resolver',
    missing: () => which('kresd', ['--version']),
    spawn(c) {
      mkdirSync(join(c.dir, 'cache'), { recursive: true });
      writeFileSync(join(c.dir, 'kresd.conf'), `log_target('stderr')
log_level('warning')
net.listen('127.0.0.1', ${c.port}, { kind = 'dns' })
modules = { 'hints > iterate' }
hints.root({ ${c.hints.map((h) => `['${h.name}'] = '${h.address}'`).join(', ')} })
trust_anchors.remove('.')
cache.open(1024 * MB, 'lmdb://${c.dir}/cache')
option('NO_MINIMIZE', true)
option('ALLOW_LOCAL', true)
policy.add(policy.rpz(policy.DENY, '${c.zone}', false))
`);
      return spawn('kresd', ['-n', '-c', join(c.dir, 'kresd.conf'), c.dir], { cwd: c.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    },
  },
];

// ---------------------------------------------------------------- measuring

function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
}
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+([0-9]+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
/**
 * Where the resident memory is: anonymous (heaps, tables) and file-backed
 * (the binary's pages: about 42 MiB of node's own), and the peak (VmHWM),
 * which a zone load sets.
 */
function rssDetail(pid: number): string {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+([0-9]+) kB`).exec(s)?.[1] ?? NaN) / 1024;
  return `anonymous ${kb('RssAnon').toFixed(0)}, file ${kb('RssFile').toFixed(0)}, peak ${kb('VmHWM').toFixed(0)} MiB`;
}

interface Perf { sent: number; completed: number; lost: number; qps: number; meanMs: number; p99Ms: number; rcodes: string; cpuUs: number; seconds: number; maxMs: number; stamped: [number, number][] }

/** One dnsperf run (tracked by PID); CPU of `pid` over the run. `verbose`: per-answer latencies for p99. */
/** With `verbose`, `stamped` holds [arrival time (performance.now(), as read from dnsperf's pipe), latency ms] per answer. */
async function dnsperf(port: number, file: string, opts: { seconds: number; rate?: number; once?: boolean; verbose?: boolean; pid: number }): Promise<Perf> {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(opts.seconds), '-c', '1', '-T', '1', '-t', '2'];
  if (opts.rate) args.push('-Q', String(Math.round(opts.rate)));
  if (opts.once) args.push('-n', '1');
  if (opts.verbose) args.push('-v');
  const c0 = cpuTicks(opts.pid);
  const p = track(spawn(DNSPERF, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  const lat: number[] = [];
  const stamped: [number, number][] = [];
  let partial = '';
  p.stdout!.on('data', (d: Buffer) => {
    if (!opts.verbose) { stdout += d; return; }
    // -v: "> NOERROR name type latency" per answer; keep only the latencies.
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    const at = performance.now();
    for (const l of lines) {
      if (l.startsWith('> ')) {
        const v = Number(l.slice(l.lastIndexOf(' ') + 1));
        if (Number.isFinite(v)) {
          lat.push(v);
          stamped.push([at, v * 1000]);
        }
      } else stdout += l + '\n';
    }
  });
  p.stderr!.on('data', (d) => { stderr += d; });
  const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  const c1 = cpuTicks(opts.pid);
  if (partial) stdout += partial;
  const t = perfTotals(stdout, code, stderr);
  const r: Perf = {
    sent: t.sent, completed: t.completed, lost: t.lost, qps: t.qps, meanMs: t.meanMs, rcodes: t.rcodes,
    p99Ms: NaN,
    cpuUs: 0,
    seconds: Number(/Run time \(s\):\s+([0-9.]+)/.exec(stdout)?.[1] ?? NaN),
    maxMs: NaN,
    stamped,
  };
  r.cpuUs = ((c1 - c0) / CLK_TCK) * 1e6 / Math.max(1, r.completed);
  if (lat.length) {
    lat.sort((a, b) => a - b);
    r.p99Ms = lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]! * 1000;
    r.maxMs = lat[lat.length - 1]! * 1000;
    r.meanMs = (lat.reduce((a, b) => a + b, 0) / lat.length) * 1000;
  }
  return r;
}

interface Running { peer: Peer; proc: ChildProcess; pid: number; port: number; startS: number; err: () => string }

/** Spawn, then poll the probe until the policy answer (NXDOMAIN) comes; bounded. */
async function startPeer(peer: Peer, ctx: Ctx, timeoutS = START_TIMEOUT_S): Promise<Running> {
  mkdirSync(ctx.dir, { recursive: true });
  const t0 = performance.now();
  const proc = track(peer.spawn(ctx));
  let stderr = '';
  proc.stderr?.on('data', (d) => { stderr += d; if (stderr.length > 1 << 16) stderr = stderr.slice(-(1 << 15)); });
  const spawnErr = new Promise<Error>((r) => proc.once('error', r));
  let failed: Error | undefined;
  void spawnErr.then((e) => { failed = e; });
  const err = () => stderr.trim().split('\n').slice(-6).join(' | ');
  let last = 'no answer';
  for (;;) {
    if (failed) throw new Error(`${peer.label}: ${failed.message}`);
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${peer.label} exited (${proc.exitCode ?? proc.signalCode}) before answering: ${err()}`);
    const r = await ask('127.0.0.1', ctx.port, PROBE, TYPES.A!, 100);
    if (r && r.rcode === 3) break;
    if (r) last = `rcode ${r.rcode}, ${r.ancount} answers (policy not applied yet)`;
    if (performance.now() - t0 > timeoutS * 1000) {
      await stopProc(proc);
      throw new Error(`${peer.label}: no policy-correct answer for ${PROBE} within ${timeoutS} s (last: ${last}): ${err()}`);
    }
    await sleep(10);
  }
  return { peer, proc, pid: proc.pid!, port: ctx.port, startS: (performance.now() - t0) / 1000, err };
}

// ---------------------------------------------------------------- inputs

/** Names that exist in the lab, one query each (answers from 1 to 3 zones away). */
const CACHED = [
  'www.example.com A', 'www.example.com AAAA', 'example.com A', 'example.com MX', 'mail2.example.org A',
  'exists.wild.example.com A', 'www.example.org A', 'chain.example.com A', 'v4only.example.com A', 'alias.example.com A',
  'example.org A', 'edge.cdn-lab.net A',
];

async function bigZone(rules: number): Promise<string> {
  // QNAME triggers only, plus the probe at the end; cached across runs (deterministic content).
  const path = join(tmpdir(), `verdict-e2e-${rules}q-v3.rpz`);
  if (existsSync(path) && statSync(path).size > rules * 10) {
    const fd = openSync(path, 'r');
    const b = Buffer.alloc(64);
    readSync(fd, b, 0, 64, statSync(path).size - 64);
    closeSync(fd);
    if (b.toString().includes(`${PROBE} CNAME .`)) return path;
  }
  const t0 = performance.now();
  await benchZone(path, rules, [RELOAD_PROBE]);
  out(`  generated ${path} (${rules.toLocaleString('en')} QNAME triggers, ${(statSync(path).size / 1048576).toFixed(0)} MiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return path;
}

/**
 * writeRpz's zone (QNAME triggers only), its NS moved out of the zone (BIND refuses to load a
 * primary zone whose in-zone NS name has no address), and the probe rule at the end.
 */
async function benchZone(path: string, rules: number, extra: string[] = []): Promise<void> {
  await writeRpz(path, rules, 0);
  const text = readFileSync(path, 'utf8').replace('@ NS ns.bench.rpz.\n', '@ NS localhost.\n');
  if (!text.includes('@ NS localhost.')) throw new Error(`${path}: unexpected zone header`);
  writeFileSync(path, text + [...extra, PROBE].map((n) => `${n} CNAME .\n`).join(''));
}

function freePort(start: number): Promise<number> {
  return new Promise((res) => {
    const s = createSocket('udp4');
    s.once('error', () => { s.close(); res(freePort(start + 1)); });
    s.bind(start, '127.0.0.1', () => { s.close(); res(start); });
  });
}

// ---------------------------------------------------------------- the run

interface Result {
  peer: Peer;
  error?: string;
  notes: string[];
  startSmallS?: number;
  cachedQps?: number; cachedMeanMs?: number; cachedCpuUs?: number; cachedRuns?: number[];
  rssMiB?: number;
  loadRate?: number; loadLost?: number; loadSent?: number; loadMeanMs?: number; loadP99Ms?: number;
  missQps?: number; missCpuUs?: number; missLost?: number; missRuns?: number[];
  startBigS?: number;
  bigQps?: number; bigCpuUs?: number; bigMeanMs?: number; bigRuns?: number[];
  bigRssMiB?: number;
  reload?: Reload;
}

interface Reload { loadS: number; rate: number; sent: number; lost: number; p99Ms: number; maxMs: number; duringP99Ms: number; duringMaxMs: number; during: number }

/**
 * Verdict only: with dnsperf at a fixed rate on cached names, point the config at the big
 * zone and send SIGHUP. The load is done when RELOAD_PROBE turns NXDOMAIN (polled every
 * 50 ms). "During" = answers read from dnsperf between the SIGHUP and that moment.
 */
async function reloadUnderLoad(run: Running, config: string, from: string, to: string, file: string, rate: number): Promise<Reload> {
  writeFileSync(config, readFileSync(config, 'utf8').replace(from, to));
  const seconds = Math.max(DURATION, 10);
  const perf = dnsperf(run.port, file, { seconds, rate, verbose: true, pid: run.pid });
  await sleep(1000);
  const t0 = performance.now();
  process.kill(run.pid, 'SIGHUP');
  let t1 = NaN;
  while (performance.now() - t0 < (seconds - 1.5) * 1000) {
    const r = await ask('127.0.0.1', run.port, RELOAD_PROBE, 1, 1000);
    if (r?.rcode === 3) { t1 = performance.now(); break; }
    await sleep(50);
  }
  const p = await perf;
  if (!Number.isFinite(t1)) throw new Error(`reload not done within ${seconds - 1.5} s of SIGHUP`);
  const during = p.stamped.filter(([at]) => at >= t0 && at <= t1 + 100).map(([, ms]) => ms).sort((a, b) => a - b);
  return {
    loadS: (t1 - t0) / 1000, rate, sent: p.sent, lost: p.lost, p99Ms: p.p99Ms, maxMs: p.maxMs, during: during.length,
    duringP99Ms: during.length ? during[Math.min(during.length - 1, Math.floor(during.length * 0.99))]! : NaN,
    duringMaxMs: during.length ? during[during.length - 1]! : NaN,
  };
}

async function main(): Promise<void> {
  const root = (workDir = mkdtempSync(join(tmpdir(), 'verdict-e2e-')));
  const results: Result[] = [];
  try {
    const cpu = cpus();
    out(`bench:e2e  ${new Date().toISOString()}  node ${process.version}  ${cpu.length} x ${cpu[0]?.model ?? '?'}  runs ${RUNS} x ${DURATION} s, big zone ${RULES.toLocaleString('en')} rules`);
    const versions = [
      (() => { const r = spawnSync(DNSPERF, ['-h'], { encoding: 'utf8' }); return (r.stdout ?? '') + (r.stderr ?? ''); })().match(/Version (\S+)/)?.[1],
      spawnSync('unbound', ['-V'], { encoding: 'utf8' }).stdout?.match(/Version (\S+)/)?.[1],
      spawnSync('named', ['-v'], { encoding: 'utf8' }).stdout?.trim().split(' ')[1],
      spawnSync('/usr/sbin/pdns_recursor', ['--version'], { encoding: 'utf8' }).stderr?.match(/Recursor (\S+)/)?.[1],
      spawnSync('kresd', ['--version'], { encoding: 'utf8' }).stdout?.match(/version (\S+)/)?.[1],
    ];
    out(`  dnsperf ${versions[0] ?? '?'}, unbound ${versions[1] ?? '?'}, named ${versions[2] ?? '?'}, pdns_recursor ${versions[3] ?? '?'}, kresd ${versions[4] ?? '?'}`);
    if (!existsSync(DNSPERF)) throw new Error(`${DNSPERF} not found (apt-get install dnsperf)`);
    if (!existsSync(NSD)) throw new Error(`${NSD} not found (apt-get install nsd)`);

    const small = join(root, 'small.rpz');
    await benchZone(small, 1000);
    const big = await bigZone(RULES);
    const cachedFile = join(root, 'cached.txt');
    writeFileSync(cachedFile, CACHED.join('\n') + '\n');

    const lab = await startNsdLab(join(root, 'nsd'));
    out(`  NSD lab: ${lab.pids.length} nsd processes on 127.57/16:53, root hints ${lab.rootHints.map((h) => h.address).join(' ')}`);

    let rate = argv.rate ? Number(argv.rate) : undefined;
    const order = PEERS.filter((p) => ONLY.includes(p.id));
    let basePort = 15300;
    for (const peer of order) {
      const res: Result = { peer, notes: [] };
      results.push(res);
      out(`\n== ${peer.label}`);
      const why = peer.missing();
      if (why) { res.error = why; out(`  SKIPPED: ${why}`); continue; }
      const port = await freePort(basePort);
      basePort = port + 10;
      let run: Running | undefined;
      try {
        // 1-3: small zone: start, cached, memory.
        run = await startPeer(peer, { dir: join(root, peer.id, 'small'), port, zone: small, hints: lab.rootHints });
        res.startSmallS = run.startS;
        out(`  started (pid ${run.pid}, 127.0.0.1:${port}), first policy-correct answer after ${run.startS.toFixed(2)} s`);
        await warm(run, cachedFile, res);
        const cached: Perf[] = [];
        for (let i = 0; i < RUNS; i++) cached.push(await dnsperf(port, cachedFile, { seconds: DURATION, pid: run.pid }));
        summarise('cached', cached, res);
        res.cachedQps = median(cached.map((r) => r.qps));
        res.cachedMeanMs = median(cached.map((r) => r.meanMs));
        res.cachedCpuUs = median(cached.map((r) => r.cpuUs));
        res.cachedRuns = cached.map((r) => Math.round(r.qps));
        res.rssMiB = rssMiB(run.pid);
        out(`  VmRSS ${res.rssMiB.toFixed(0)} MiB (${rssDetail(run.pid)})`);
        // 4: offered load at 80% of Verdict's saturation.
        if (rate === undefined && res.cachedQps) {
          rate = 0.8 * res.cachedQps;
          if (peer.id !== 'verdict') res.notes.push('loss-test rate taken from this resolver (Verdict not run)');
        }
        if (rate) {
          const l = await dnsperf(port, cachedFile, { seconds: Math.max(DURATION, 5), rate, verbose: true, pid: run.pid });
          Object.assign(res, { loadRate: rate, loadLost: l.lost, loadSent: l.sent, loadMeanMs: l.meanMs, loadP99Ms: l.p99Ms });
          out(`  at ${Math.round(rate)} q/s offered: sent ${l.sent}, answered ${l.completed}, lost ${l.lost}, latency mean ${l.meanMs.toFixed(3)} ms, p99 ${l.p99Ms.toFixed(3)} ms`);
        }
        // 5: cache misses, each name once.
        const miss: Perf[] = [];
        for (let i = 0; i < RUNS; i++) {
          const f = join(root, `miss-${peer.id}-${i}.txt`);
          writeMissFile(f, `r${i}`, Math.max(50_000, 25_000 * DURATION));
          miss.push(await dnsperf(port, f, { seconds: DURATION, once: true, pid: run.pid }));
          rmSync(f);
        }
        summarise('miss', miss, res);
        res.missQps = median(miss.map((r) => r.qps));
        res.missCpuUs = median(miss.map((r) => r.cpuUs));
        res.missLost = miss.reduce((a, r) => a + r.lost, 0);
        res.missRuns = miss.map((r) => Math.round(r.qps));
        // 5b: Verdict: reload from the small zone to the big one while dnsperf runs.
        if (peer.id === 'verdict' && rate) {
          const reloadRate = argv['reload-rate'] ? Number(argv['reload-rate']) : rate;
          const r = (res.reload = await reloadUnderLoad(run, join(root, peer.id, 'small', 'verdict.yaml'), small, big, cachedFile, reloadRate));
          out(`  reload to ${RULES.toLocaleString('en')} rules at ${Math.round(reloadRate)} q/s: loaded in ${r.loadS.toFixed(2)} s; sent ${r.sent}, lost ${r.lost}; p99 ${r.p99Ms.toFixed(3)} ms, max ${r.maxMs.toFixed(1)} ms over the run; during the load (${r.during} answers) p99 ${r.duringP99Ms.toFixed(3)} ms, max ${r.duringMaxMs.toFixed(1)} ms`);
        }
      } catch (e) {
        res.error = (e as Error).message;
        out(`  FAILED: ${res.error}`);
      } finally {
        if (run) await stopProc(run.proc, 8000);
      }
      if (res.error) continue;
      // 6: the big zone.
      try {
        run = await startPeer(peer, { dir: join(root, peer.id, 'big'), port, zone: big, hints: lab.rootHints }, START_TIMEOUT_BIG_S);
        res.startBigS = run.startS;
        out(`  with ${RULES.toLocaleString('en')} rules: first policy-correct answer after ${run.startS.toFixed(2)} s (pid ${run.pid})`);
        await warm(run, cachedFile, res);
        const cached: Perf[] = [];
        for (let i = 0; i < RUNS; i++) cached.push(await dnsperf(port, cachedFile, { seconds: DURATION, pid: run.pid }));
        summarise(`cached, ${RULES} rules`, cached, res);
        res.bigQps = median(cached.map((r) => r.qps));
        res.bigCpuUs = median(cached.map((r) => r.cpuUs));
        res.bigMeanMs = median(cached.map((r) => r.meanMs));
        res.bigRuns = cached.map((r) => Math.round(r.qps));
        res.bigRssMiB = rssMiB(run.pid);
        out(`  VmRSS with ${RULES.toLocaleString('en')} rules: ${res.bigRssMiB.toFixed(0)} MiB (${rssDetail(run.pid)})`);
      } catch (e) {
        res.notes.push(`big zone: ${(e as Error).message}`);
        out(`  FAILED with the big zone: ${(e as Error).message}`);
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

/** Every cached name answers NOERROR with data (and stays so); then 1 s of dnsperf to warm. */
async function warm(run: Running, file: string, res: Result): Promise<void> {
  for (const line of CACHED) {
    const [name, type] = line.split(' ');
    let r: Reply | undefined;
    for (let i = 0; i < 3 && !r; i++) r = await ask('127.0.0.1', run.port, name!, TYPES[type!]!, 2000);
    if (!r || r.rcode !== 0 || r.ancount === 0) {
      const note = `${name} ${type}: ${r ? `rcode ${r.rcode}, ${r.ancount} answers` : 'no answer'}`;
      if (!res.notes.includes(note)) res.notes.push(note);
      out(`  WARNING: ${note}`);
    }
  }
  await dnsperf(run.port, file, { seconds: 1, pid: run.pid });
}

function writeMissFile(path: string, tag: string, n: number): void {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(`${tag}-${i.toString(36)}.wild.example.com A`);
  writeFileSync(path, lines.join('\n') + '\n');
}

function summarise(what: string, runs: Perf[], res: Result): void {
  const rc = runs.map((r) => r.rcodes).filter((s, i, a) => a.indexOf(s) === i);
  out(`  ${what}: q/s ${runs.map((r) => Math.round(r.qps)).join(' ')} (median ${Math.round(median(runs.map((r) => r.qps)))}), mean latency ${median(runs.map((r) => r.meanMs)).toFixed(3)} ms, CPU ${median(runs.map((r) => r.cpuUs)).toFixed(1)} us/query, lost ${runs.reduce((a, r) => a + r.lost, 0)}`);
  const bad = rc.filter((s) => !/^NOERROR [0-9]+ \(100\.00%\)$/.test(s));
  if (bad.length) {
    out(`    response codes: ${rc.join(' / ')}`);
    res.notes.push(`${what}: response codes ${rc.join(' / ')}`);
  }
}

function printTable(results: Result[]): void {
  const ub = results.find((r) => r.peer.id === 'unbound' && !r.error);
  type Row = [string, (r: Result) => number | undefined, number, boolean?];
  // [label, value, decimals, lower-is-better]
  const rows: Row[] = [
    ['cached q/s (median)', (r) => r.cachedQps, 0],
    ['cached CPU us/query', (r) => r.cachedCpuUs, 1, true],
    ['cached latency mean ms (saturated)', (r) => r.cachedMeanMs, 3, true],
    [`latency mean ms @ ${Math.round(results.find((r) => r.loadRate)?.loadRate ?? 0)} q/s`, (r) => r.loadMeanMs, 3, true],
    ['latency p99 ms @ same load', (r) => r.loadP99Ms, 3, true],
    ['lost @ same load', (r) => r.loadLost, 0, true],
    ['cache-miss q/s (median)', (r) => r.missQps, 0],
    ['cache-miss CPU us/query', (r) => r.missCpuUs, 1, true],
    ['start to policy answer s (1k rules)', (r) => r.startSmallS, 2, true],
    ['VmRSS MiB (1k rules)', (r) => r.rssMiB, 0, true],
    [`cached q/s, ${RULES.toLocaleString('en')} rules`, (r) => r.bigQps, 0],
    [`cached CPU us/query, ${RULES.toLocaleString('en')} rules`, (r) => r.bigCpuUs, 1, true],
    [`start to policy answer s, ${RULES.toLocaleString('en')} rules`, (r) => r.startBigS, 2, true],
    [`VmRSS MiB, ${RULES.toLocaleString('en')} rules`, (r) => r.bigRssMiB, 0, true],
  ];
  const cols = results;
  const cell = (r: Result, row: Row) => {
    const v = row[1](r);
    if (v === undefined || !Number.isFinite(v)) return r.error ? 'failed' : '-';
    const base = ub ? row[1](ub) : undefined;
    const ratio = base && Number.isFinite(base) && base > 0 ? ` (${(v / base).toFixed(2)}x)` : '';
    return v.toFixed(row[2]) + ratio;
  };
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const cells = rows.map((row) => cols.map((c) => cell(c, row)));
  const widths = cols.map((c, i) => Math.max(c.peer.label.length, ...cells.map((r) => r[i]!.length)));
  out(`\nbench:e2e results (ratio to Unbound in parentheses; one worker thread each; dnsperf -c 1 -T 1; medians of ${RUNS} x ${DURATION} s)`);
  out(`| ${'figure'.padEnd(w0)} | ${cols.map((c, i) => c.peer.label.padEnd(widths[i]!)).join(' | ')} |`);
  out(`|${'-'.repeat(w0 + 2)}|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  rows.forEach((row, k) => out(`| ${row[0].padEnd(w0)} | ${cells[k]!.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`));
  for (const r of results) {
    if (r.error) out(`  ${r.peer.label}: ${r.error}`);
    for (const n of r.notes) out(`  ${r.peer.label}: ${n}`);
  }
  const v = results.find((r) => r.peer.id === 'verdict' && !r.error);
  if (v) {
    out('\nVerdict against the issue\'s targets:');
    const t = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'met' : 'NOT met');
    const ratio = ub && v.cachedQps && ub.cachedQps ? v.cachedQps / ub.cachedQps : undefined;
    const cpuRatio = ub && v.cachedCpuUs && ub.cachedCpuUs ? ub.cachedCpuUs / v.cachedCpuUs : undefined;
    out(`  cached q/s >= 0.7x Unbound's: ${ratio?.toFixed(2) ?? '?'}x -> ${t(ratio === undefined ? undefined : ratio >= 0.7)} (per CPU: Unbound us/query / Verdict us/query = ${cpuRatio?.toFixed(2) ?? '?'}x)`);
    out(`  VmRSS with ${RULES.toLocaleString('en')} rules <= 150 MB: ${v.bigRssMiB?.toFixed(0) ?? '?'} MiB (${v.bigRssMiB ? ((v.bigRssMiB * 1048576) / 1e6).toFixed(0) : '?'} MB) -> ${t(v.bigRssMiB === undefined ? undefined : (v.bigRssMiB * 1048576) / 1e6 <= 150)}`);
    out(`  start to first policy-correct answer <= 3 s: ${v.startBigS?.toFixed(2) ?? '?'} s -> ${t(v.startBigS === undefined ? undefined : v.startBigS <= 3)}`);
    out(`  no lost queries at 80% of Verdict's saturation: lost ${v.loadLost ?? '?'} of ${v.loadSent ?? '?'} -> ${t(v.loadLost === undefined ? undefined : v.loadLost === 0)}`);
    const rl = v.reload;
    out(`  reload of ${RULES.toLocaleString('en')} rules under dnsperf loses no query: ${rl ? `lost ${rl.lost} of ${rl.sent} at ${Math.round(rl.rate)} q/s (load ${rl.loadS.toFixed(2)} s, p99 during it ${rl.duringP99Ms.toFixed(2)} ms, max ${rl.duringMaxMs.toFixed(1)} ms)` : '?'} -> ${t(rl ? rl.lost === 0 : undefined)}`);
  }
}

main().catch(async (e) => {
  process.stderr.write(`bench:e2e: ${(e as Error).stack ?? e}\n`);
  await stopAll();
  removeWorkDir();
  process.exit(1);
});
