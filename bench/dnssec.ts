/**
 * DNSSEC validation cost (issue 13 item 12): Verdict and Unbound (and BIND 9
 * when installed), each validating the signed lab from the same trust anchor
 * (lab/keys/root.ds), one thread each, QNAME minimisation off. The lab's own
 * servers run in this process on 127.55.x.y port 53 (so do not run the test
 * suite at the same time).
 *
 * Per resolver, medians of RUNS dnsperf runs of DURATION s (dnsperf -c 1 -T 1):
 *   - cached, unsigned names, DO=0 (www/mail of example.com and friends): q/s, CPU µs/query
 *   - cached, signed names, DO=1 (dnsperf -D; www/mail of alg8/alg13/alg15.sec): q/s, CPU µs/query
 *   - misses, unsigned: unique names under *.wild.example.com (each one upstream query)
 *   - misses, validated: unique names under *.wild.alg13.sec, DO=1 (each a wildcard
 *     answer to validate, with its NSEC3 proof)
 * Targets: Verdict's cached DO=1 q/s within 10% of its unsigned cached q/s; validated
 * misses no slower, relative to Unbound, than unsigned misses.
 *
 * Usage: npm run bench:dnssec [-- --runs N --duration S]
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Type } from '../src/dns/constants.js';
import { startLab } from '../src/lab/lab.js';
import { ask } from '../test/helpers/client.js';
import { rootHintsText } from '../test/helpers/roothints.js';
import { perfTotals } from './dnsperf.js';
import { stopAll, stopOnSignals, stopProc, track } from './processes.js';

const { values: argv } = parseArgs({ options: { runs: { type: 'string' }, duration: { type: 'string' }, only: { type: 'string' } } });
const RUNS = Number(argv.runs ?? 3);
const DURATION = Number(argv.duration ?? 5);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ANCHOR = resolve(REPO, 'lab/keys/root.ds');
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const out = (s = '') => process.stdout.write(s + '\n');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const spread = (xs: number[], d = 0) => `${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)}`;

interface Peer { id: string; spawn(dir: string, port: number, hints: string): ChildProcess; available(): boolean }

const PEERS: Peer[] = [
  {
    id: 'verdict',
    available: () => true,
    spawn(dir, port, hints) {
      const file = join(dir, 'verdict.yaml');
      writeFileSync(file, `server: { listen: ["127.0.0.1:${port}"], allow: ["127.0.0.0/8"] }
resolver:
  root_hints:
${hints}
  qname_minimisation: false
cache: { max_entries: 2000000 }
dnssec: { trust_anchor_file: "${ANCHOR}" }
control: { enabled: false }
mirrors: { enabled: false }
log: { level: warn, policy_hits: false }
`);
      return spawn(process.execPath, [join(REPO, 'dist/src/cli.js'), 'serve', '-c', file], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    },
  },
  {
    id: 'unbound',
    available: () => !spawnSync('unbound', ['-V']).error,
    spawn(dir, port) {
      writeFileSync(join(dir, 'unbound.conf'), `server:
  interface: 127.0.0.1@${port}
  port: ${port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: "${dir}/unbound.pid"
  logfile: ""
  use-syslog: no
  verbosity: 0
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  root-hints: "${dir}/root.hints"
  do-not-query-localhost: no
  do-ip6: no
  module-config: "validator iterator"
  trust-anchor-file: "${ANCHOR}"
  qname-minimisation: no
  minimal-responses: yes
  msg-cache-size: 256m
  rrset-cache-size: 512m
  num-queries-per-thread: 4096
  outgoing-range: 8192
remote-control:
  control-enable: no
`);
      return spawn('unbound', ['-d', '-c', join(dir, 'unbound.conf')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    },
  },
  {
    id: 'bind',
    available: () => !spawnSync('named', ['-v']).error,
    spawn(dir, port) {
      const ds = readFileSync(ANCHOR, 'utf8').split('\n').find((l) => /\sDS\s/.test(l))!.trim().split(/\s+/);
      writeFileSync(join(dir, 'named.conf'), `options {
  directory "${dir}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  pid-file "${dir}/named.pid";
  recursion yes;
  allow-query { 127.0.0.0/8; };
  dnssec-validation yes;
  qname-minimization off;
  minimal-responses yes;
  max-cache-size 512m;
};
trust-anchors { . static-ds ${ds[4]} ${ds[5]} ${ds[6]} "${ds.slice(7).join('')}"; };
zone "." { type hint; file "${dir}/root.hints"; };
`);
      return spawn('named', ['-g', '-n', '1', '-c', join(dir, 'named.conf')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    },
  },
];

function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

interface Run { qps: number; cpuUs: number; completed: number; lost: number }

async function dnsperf(port: number, file: string, pid: number, opts: { dnssec?: boolean; once?: boolean }): Promise<Run> {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(DURATION), '-c', '1', '-T', '1', '-t', '2', '-q', '100'];
  if (opts.dnssec) args.push('-D');
  if (opts.once) args.push('-n', '1');
  const c0 = cpuTicks(pid);
  const p = track(spawn('dnsperf', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (d) => { stdout += d; });
  p.stderr!.on('data', (d) => { stderr += d; });
  const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  const c1 = cpuTicks(pid);
  const t = perfTotals(stdout, code, stderr);
  return { qps: t.qps, completed: t.completed, lost: t.lost, cpuUs: ((c1 - c0) / CLK_TCK) * 1e6 / Math.max(1, t.completed) };
}

const CACHED_PLAIN = ['www.example.com A', 'example.com MX', 'mail.example.com A', 'www.example.org A', 'edge.cdn-lab.net A', 'www.dpstream.tv A'];
const CACHED_SIGNED = ['www.alg8.sec A', 'www.alg13.sec A', 'www.alg15.sec A', 'alg8.sec MX', 'alg13.sec MX', 'mail.alg15.sec A'];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-bench-dnssec-'));
  stopOnSignals(() => rmSync(dir, { recursive: true, force: true }));
  const lab = await startLab();
  const hintsYaml = lab.rootHints.map((h) => `    - { name: ${h.name}, address: ${h.address} }`).join('\n');
  writeFileSync(join(dir, 'root.hints'), rootHintsText(lab.rootHints));
  const plainFile = join(dir, 'plain.txt');
  const signedFile = join(dir, 'signed.txt');
  writeFileSync(plainFile, CACHED_PLAIN.join('\n') + '\n');
  writeFileSync(signedFile, CACHED_SIGNED.join('\n') + '\n');
  const only = argv.only?.split(',');
  const rows: string[][] = [];
  out(`# DNSSEC bench: ${RUNS} runs of ${DURATION} s each, dnsperf -c 1 -T 1 -q 100; medians (min-max)`);
  let port = 54100;
  for (const peer of PEERS) {
    if (only && !only.includes(peer.id)) continue;
    if (!peer.available()) {
      out(`${peer.id}: not installed, skipped`);
      continue;
    }
    port++;
    const proc = track(peer.spawn(dir, port, hintsYaml));
    let err = '';
    proc.stderr?.on('data', (d) => { err = (err + d).slice(-2000); });
    // Ready and validating: www.alg13.sec secure, www.badsig.sec SERVFAIL (bounded: 60 tries).
    let ok = false;
    const edns = { udpSize: 1232, version: 0, do: true, options: [] };
    for (let i = 0; i < 60 && !ok; i++) {
      await sleep(250);
      try {
        const good = await ask('www.alg13.sec.', Type.A, port, { edns });
        const bad = await ask('www.badsig.sec.', Type.A, port, { edns });
        ok = good.ad && bad.rcode === 2;
      } catch {
        // not up yet
      }
    }
    if (!ok) {
      out(`${peer.id}: does not validate the lab (skipped) ${err.slice(-300)}`);
      await stopProc(proc);
      continue;
    }
    const pid = proc.pid!;
    const res: { [k: string]: Run[] } = { plain: [], signed: [], missPlain: [], missSigned: [] };
    for (let r = 0; r < RUNS; r++) {
      await dnsperf(port, plainFile, pid, {});
      await dnsperf(port, signedFile, pid, { dnssec: true });
      res.plain!.push(await dnsperf(port, plainFile, pid, {}));
      res.signed!.push(await dnsperf(port, signedFile, pid, { dnssec: true }));
      const mp = join(dir, `miss-plain-${peer.id}-${r}.txt`);
      const ms = join(dir, `miss-signed-${peer.id}-${r}.txt`);
      writeFileSync(mp, Array.from({ length: 200_000 }, (_, i) => `m${r}x${i}.wild.example.com A`).join('\n') + '\n');
      writeFileSync(ms, Array.from({ length: 200_000 }, (_, i) => `m${r}x${i}.wild.alg13.sec A`).join('\n') + '\n');
      res.missPlain!.push(await dnsperf(port, mp, pid, { once: true }));
      res.missSigned!.push(await dnsperf(port, ms, pid, { dnssec: true, once: true }));
    }
    await stopProc(proc);
    const f = (k: string, what: 'qps' | 'cpuUs') => `${median(res[k]!.map((x) => x[what])).toFixed(what === 'qps' ? 0 : 1)} (${spread(res[k]!.map((x) => x[what]), what === 'qps' ? 0 : 1)})`;
    rows.push([peer.id, f('plain', 'qps'), f('plain', 'cpuUs'), f('signed', 'qps'), f('signed', 'cpuUs'), f('missPlain', 'qps'), f('missPlain', 'cpuUs'), f('missSigned', 'qps'), f('missSigned', 'cpuUs')]);
    const ratio = median(res.signed!.map((x) => x.qps)) / median(res.plain!.map((x) => x.qps));
    out(`${peer.id}: cached DO=1 / cached unsigned = ${ratio.toFixed(2)}x`);
  }
  await lab.stop();
  out('');
  out('| resolver | cached unsigned q/s | µs/q | cached DO=1 signed q/s | µs/q | unsigned misses q/s | µs/miss | validated misses q/s | µs/miss |');
  out('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) out(`| ${r.join(' | ')} |`);
  const get = (id: string, col: number) => Number(rows.find((r) => r[0] === id)?.[col]?.split(' ')[0]);
  if (rows.some((r) => r[0] === 'unbound') && rows.some((r) => r[0] === 'verdict')) {
    out('');
    out(`unsigned misses vs Unbound: ${(get('verdict', 5) / get('unbound', 5)).toFixed(2)}x q/s, ${(get('verdict', 6) / get('unbound', 6)).toFixed(2)}x CPU`);
    out(`validated misses vs Unbound: ${(get('verdict', 7) / get('unbound', 7)).toFixed(2)}x q/s, ${(get('verdict', 8) / get('unbound', 8)).toFixed(2)}x CPU`);
  }
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}

main().catch(async (e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  await stopAll();
  process.exit(1);
});
