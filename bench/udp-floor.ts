/**
 * The floor of UDP I/O in Node (issue 19): a server that does no DNS work at
 * all, it sets the QR bit of each query and sends the datagram back, on
 * node:dgram and on the batched addon (native/udp: recvmmsg/sendmmsg). What it
 * costs per query is what any Node resolver pays before it does anything.
 *
 * Each echo server is a child process of its own (`--serve dgram|addon`),
 * both started at once and loaded one after the other, run by run
 * (interleaved, so a change in the machine's load falls on both). Per run:
 * dnsperf (one socket, one thread, 100 outstanding) for DURATION s on the
 * bench's cached query file; q/s and CPU µs per query (utime+stime of the
 * server from /proc/PID/stat over the run, divided by the answers).
 *
 * Usage: npm run bench:udp-floor [-- --runs N --duration S --pin]
 *   --pin   dnsperf on CPU 0, the servers on CPU 1 (taskset), as the issue measured
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BatchedUdpSocket, loadUdpAddon } from '../src/resolver/udp-batch.js';
import { dnsperf, freePort, median, out, PIN, pinServer } from './measure.js';
import type { Perf } from './measure.js';
import { stopAll, stopOnSignals, stopProc, track } from './processes.js';
import { CACHED } from './queries.js';

const { values: argv } = parseArgs({
  options: {
    serve: { type: 'string' },
    port: { type: 'string' },
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    pin: { type: 'boolean', default: false },
  },
});

type Impl = 'dgram' | 'addon';

/** The echo server itself (in the child): prints "ready PORT" once bound. */
function serve(impl: Impl, port: number): void {
  if (impl === 'dgram') {
    // As server.ts: numeric lookup, so send() does not go through dns.lookup per reply.
    const s = createSocket({ type: 'udp4', lookup: ((a: string, _f: unknown, cb: (e: null, a: string, f: number) => void) => cb(null, a, 4)) as never });
    s.on('message', (m, r) => {
      m[2]! |= 0x80;
      s.send(m, r.port, r.address);
    });
    s.bind(port, '127.0.0.1', () => out(`ready ${s.address().port}`));
  } else {
    const s = BatchedUdpSocket.open(4, '127.0.0.1', port);
    s.start((m, _address, o, at) => {
      o.set(m, at);
      o[at + 2]! |= 0x80;
      return m.length;
    }, () => undefined);
    out(`ready ${s.address().port}`);
  }
}

async function main(): Promise<void> {
  const runs = Number(argv.runs);
  const seconds = Number(argv.duration);
  if (!(runs >= 1 && seconds >= 1)) throw new Error('--runs and --duration must be positive');
  if (argv.pin) Object.assign(PIN, { dnsperf: '0', server: '1' });
  const addon = loadUdpAddon();
  if (!addon.binding) throw new Error(`the addon is needed: ${addon.error}`);
  const dir = mkdtempSync(join(tmpdir(), 'verdict-udp-floor-'));
  stopOnSignals(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'queries.txt');
  writeFileSync(file, CACHED.join('\n') + '\n');
  const cpu = cpus();
  out(`bench:udp-floor  ${new Date().toISOString()}  node ${process.version}  ${cpu.length} x ${cpu[0]?.model ?? '?'}  ${runs} x ${seconds} s${argv.pin ? ', dnsperf on CPU 0, servers on CPU 1' : ''}  load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const servers: { impl: Impl; pid: number; port: number; proc: ReturnType<typeof spawn>; runs: Perf[] }[] = [];
  try {
    let base = 15500;
    for (const impl of ['dgram', 'addon'] as const) {
      const port = await freePort(base);
      base = port + 1;
      const proc = track(spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', impl, '--port', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] }));
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${impl} echo server not ready in 10 s`)), 10_000);
        proc.stdout!.on('data', (d: Buffer) => { if (/ready/.test(String(d))) { clearTimeout(t); resolve(); } });
        proc.once('exit', (c) => reject(new Error(`${impl} echo server exited (${c})`)));
      });
      pinServer(proc.pid!);
      servers.push({ impl, pid: proc.pid!, port, proc, runs: [] });
      await dnsperf(port, file, { seconds: 1, pid: proc.pid! }); // warm-up (JIT)
    }
    for (let i = 0; i < runs; i++) {
      for (const s of servers) {
        const r = await dnsperf(s.port, file, { seconds, pid: s.pid });
        s.runs.push(r);
        out(`  run ${i + 1} ${s.impl.padEnd(5)}: ${Math.round(r.qps)} q/s, ${r.cpuUs.toFixed(2)} us CPU/query, lost ${r.lost}`);
      }
    }
  } finally {
    for (const s of servers) await stopProc(s.proc);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  const range = (xs: number[], d: number) => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})`;
  out(`\n| echo server | q/s median (min-max) | CPU us/query median (min-max) | lost |`);
  out('| --- | --- | --- | --- |');
  for (const s of servers) out(`| ${s.impl === 'dgram' ? 'node:dgram' : 'addon (recvmmsg/sendmmsg)'} | ${range(s.runs.map((r) => r.qps), 0)} | ${range(s.runs.map((r) => r.cpuUs), 2)} | ${s.runs.reduce((a, r) => a + r.lost, 0)} |`);
  const [d, a] = servers.map((s) => median(s.runs.map((r) => r.cpuUs)));
  out(`\nCPU per query, dgram / addon: ${(d! / a!).toFixed(2)}x`);
}

if (argv.serve) serve(argv.serve as Impl, Number(argv.port ?? 0));
else main().catch(async (e) => {
  process.stderr.write(`bench:udp-floor: ${(e as Error).stack ?? e}\n`);
  await stopAll();
  process.exit(1);
});
