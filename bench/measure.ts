/**
 * What the end-to-end benchmarks (bench/e2e.ts, bench/e2e-dnssec.ts) measure
 * with: a tiny UDP DNS client (with the DO bit when asked), one dnsperf run
 * (tracked by PID) with the CPU the resolver spent over it (/proc/PID/stat),
 * resident memory, and the start of a peer, polled in a bounded loop until it
 * answers as the caller requires.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { perfTotals } from './dnsperf.js';
import type { Peer, PeerCtx } from './peers/peer.js';
import { stopProc, track } from './processes.js';

export const DNSPERF = '/usr/bin/dnsperf';
export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export const out = (s = ''): void => { process.stdout.write(s + '\n'); };

/**
 * CPU pinning (`--pin` of bench:e2e and bench:udp-floor): dnsperf on one core, the server
 * (all its threads) on the other, so that neither takes the other's core. Empty: not pinned.
 */
export const PIN = { dnsperf: '', server: '' };

/** Pin every thread of `pid` to PIN.server (taskset -a -p); a no-op when not pinning. */
export function pinServer(pid: number): void {
  if (!PIN.server) return;
  const r = spawnSync('taskset', ['-a', '-c', '-p', PIN.server, String(pid)], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`taskset -a -c -p ${PIN.server} ${pid}: ${r.stderr || r.error?.message}`);
}

export function median(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

// ---------------------------------------------------------------- a tiny DNS client

export const TYPES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28 };

/** A query; with `dnssec`, an OPT RR (RFC 6891) of 1232 bytes with DO set (RFC 3225). */
function query(id: number, name: string, type: number, rd: boolean, dnssec: boolean): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  const opt = dnssec ? 11 : 0;
  const q = Buffer.alloc(12 + labels.reduce((n, l) => n + l.length + 1, 0) + 1 + 4 + opt);
  q.writeUInt16BE(id, 0);
  q.writeUInt16BE(rd ? 0x0100 : 0, 2);
  q.writeUInt16BE(1, 4);
  if (dnssec) q.writeUInt16BE(1, 10);
  let o = 12;
  for (const l of labels) { q[o++] = l.length; o += q.write(l, o, 'ascii'); }
  q[o++] = 0;
  q.writeUInt16BE(type, o);
  q.writeUInt16BE(1, o + 2);
  o += 4;
  if (dnssec) {
    // root owner, TYPE OPT (41), CLASS = UDP size, TTL = ext-rcode 0, version 0, DO flag, RDLEN 0
    q[o] = 0;
    q.writeUInt16BE(41, o + 1);
    q.writeUInt16BE(1232, o + 3);
    q.writeUInt32BE(0x8000, o + 5);
    q.writeUInt16BE(0, o + 9);
  }
  return q;
}

export interface Reply { rcode: number; ancount: number; aa: boolean; ad: boolean }

/** One UDP query; undefined on timeout. */
export function ask(address: string, port: number, name: string, type: number, timeoutMs: number, opts: { rd?: boolean; dnssec?: boolean } = {}): Promise<Reply | undefined> {
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
      finish({ rcode: m[3]! & 0x0f, ancount: m.readUInt16BE(6), aa: (m[2]! & 0x04) !== 0, ad: (m[3]! & 0x20) !== 0 });
    });
    s.connect(port, address, () => s.send(query(id, name, type, opts.rd ?? true, opts.dnssec ?? false), (e) => { if (e) finish(undefined); }));
  });
}

/** "NOERROR, 2 answers, AD" */
export function describe(r: Reply | undefined): string {
  if (!r) return 'no answer';
  const rc = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'][r.rcode] ?? `rcode ${r.rcode}`;
  return `${rc}, ${r.ancount} answers${r.ad ? ', AD' : ''}`;
}

// ---------------------------------------------------------------- the resolver process

export function cpuTicks(pid: number): number {
  const [u, s] = cpuSplit(pid);
  return u + s;
}

/** [utime, stime] of a process in clock ticks (fields 14 and 15 of /proc/PID/stat). */
export function cpuSplit(pid: number): [number, number] {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return [Number(f[11]), Number(f[12])];
}

export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+([0-9]+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Where the resident memory is: anonymous (heaps, tables) and file-backed
 * (the binary's pages: about 42 MiB of node's own), and the peak (VmHWM),
 * which a zone load sets.
 */
export function rssDetail(pid: number): string {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+([0-9]+) kB`).exec(s)?.[1] ?? NaN) / 1024;
  return `anonymous ${kb('RssAnon').toFixed(0)}, file ${kb('RssFile').toFixed(0)}, peak ${kb('VmHWM').toFixed(0)} MiB`;
}

// ---------------------------------------------------------------- dnsperf

export interface Perf { sent: number; completed: number; lost: number; qps: number; meanMs: number; p99Ms: number; rcodes: string; cpuUs: number; seconds: number; maxMs: number; stamped: [number, number][] }

export interface PerfOptions {
  seconds: number;
  /** The resolver's PID: its CPU over the run is divided by the answers. */
  pid: number;
  /** Offered q/s (dnsperf -Q); absent: saturation (100 outstanding). */
  rate?: number;
  /** Each line of the file once (dnsperf -n 1). */
  once?: boolean;
  /** DO=1 on every query (dnsperf -D). */
  dnssec?: boolean;
  /** Per-answer latencies (dnsperf -v): p99, max and `stamped`. */
  verbose?: boolean;
  /** Transport (dnsperf -m): UDP (the default), DNS over TLS or DNS over HTTPS (GET on /dns-query). */
  mode?: 'udp' | 'dot' | 'doh';
  /** Client sockets (dnsperf -c; default 1): over DoT and DoH, connections kept open for the run. */
  clients?: number;
}

/**
 * One dnsperf run against 127.0.0.1:port (one thread; one client socket unless `clients`).
 * With `verbose`, `stamped` holds [arrival time (performance.now(), as read
 * from dnsperf's pipe), latency ms] per answer.
 */
export async function dnsperf(port: number, file: string, opts: PerfOptions): Promise<Perf> {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(opts.seconds), '-c', String(opts.clients ?? 1), '-T', '1', '-t', '2'];
  if (opts.mode && opts.mode !== 'udp') args.push('-m', opts.mode);
  if (opts.rate) args.push('-Q', String(Math.round(opts.rate)));
  if (opts.once) args.push('-n', '1');
  if (opts.dnssec) args.push('-D');
  if (opts.verbose) args.push('-v');
  const c0 = cpuTicks(opts.pid);
  const p = track(PIN.dnsperf ? spawn('taskset', ['-c', PIN.dnsperf, DNSPERF, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(DNSPERF, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
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
    cpuUs: ((c1 - c0) / CLK_TCK) * 1e6 / Math.max(1, t.completed),
    seconds: Number(/Run time \(s\):\s+([0-9.]+)/.exec(stdout)?.[1] ?? NaN),
    maxMs: NaN,
    stamped,
  };
  if (lat.length) {
    lat.sort((a, b) => a - b);
    r.p99Ms = lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]! * 1000;
    r.maxMs = lat[lat.length - 1]! * 1000;
    r.meanMs = (lat.reduce((a, b) => a + b, 0) / lat.length) * 1000;
  }
  return r;
}

// ---------------------------------------------------------------- starting a peer

export interface Running { peer: Peer; proc: ChildProcess; pid: number; port: number; startS: number; err: () => string }

/**
 * Says whether the resolver on `port` answers as required: true, or what it
 * answered instead (kept for the error message).
 */
export type Readiness = (port: number) => Promise<true | string>;

/**
 * Spawn (tracked by PID), then poll `ready` every `pollMs` until it says true;
 * bounded by `timeoutS`, after which the process is stopped and the last
 * answer reported.
 */
export async function startPeer(peer: Peer, ctx: PeerCtx, ready: Readiness, timeoutS: number, pollMs = 10): Promise<Running> {
  mkdirSync(ctx.dir, { recursive: true });
  const t0 = performance.now();
  const proc = track(peer.spawn(ctx));
  let stderr = '';
  proc.stderr?.on('data', (d) => { stderr += d; if (stderr.length > 1 << 16) stderr = stderr.slice(-(1 << 15)); });
  let failed: Error | undefined;
  proc.once('error', (e) => { failed = e; });
  const err = () => stderr.trim().split('\n').slice(-6).join(' | ');
  let last = 'no answer';
  for (;;) {
    if (failed) throw new Error(`${peer.label}: ${failed.message}`);
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${peer.label} exited (${proc.exitCode ?? proc.signalCode}) before answering: ${err()}`);
    const r = await ready(ctx.port);
    if (r === true) break;
    last = r;
    if (performance.now() - t0 > timeoutS * 1000) {
      await stopProc(proc);
      throw new Error(`${peer.label}: not ready within ${timeoutS} s (last: ${last}): ${err()}`);
    }
    await sleep(pollMs);
  }
  return { peer, proc, pid: proc.pid!, port: ctx.port, startS: (performance.now() - t0) / 1000, err };
}

/** The first UDP port from `start` on that 127.0.0.1 lets us bind (bounded: 200 tries). */
export function freePort(start: number, tries = 200): Promise<number> {
  return new Promise((res, rej) => {
    if (tries <= 0) { rej(new Error(`no free UDP port below ${start}`)); return; }
    const s = createSocket('udp4');
    s.once('error', () => { s.close(); freePort(start + 1, tries - 1).then(res, rej); });
    s.bind(start, '127.0.0.1', () => { s.close(); res(start); });
  });
}

/** dnsperf's and each peer's version, for the heading of a run. */
export function toolVersions(): string {
  const v = (bin: string, args: string[], re: RegExp, stream: 'stdout' | 'stderr' | 'both' = 'stdout') => {
    const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 10_000 });
    const text = stream === 'both' ? (r.stdout ?? '') + (r.stderr ?? '') : (r[stream] ?? '');
    return re.exec(text)?.[1] ?? '?';
  };
  return [
    `dnsperf ${v(DNSPERF, ['-h'], /Version (\S+)/, 'both')}`,
    `unbound ${v('unbound', ['-V'], /Version (\S+)/)}`,
    `named ${v('named', ['-v'], /^BIND (\S+)/)}`,
    `pdns_recursor ${v('/usr/sbin/pdns_recursor', ['--version'], /Recursor (\S+)/, 'stderr')}`,
    `kresd ${v('kresd', ['--version'], /version (\S+)/)}`,
    `nsd ${v('/usr/sbin/nsd', ['-v'], /NSD version (\S+)/, 'both')}`,
  ].join(', ');
}
