/**
 * Unfiltered answers at start (issue 7, "never fail open"): BIND 9 (Debian's
 * named) and Verdict each start with the same RULES-rule RPZ zone
 * (bench/gen-rpz.ts, plus `blocked.example CNAME .` at the end), recursing
 * through one NSD serving a root zone in which `blocked.example` has the
 * address 192.0.2.1. A client asks `blocked.example A` every EVERY ms from
 * just before the server is spawned, and records every reply:
 *   - unfiltered: NOERROR with 192.0.2.1 (the policy was not applied);
 *   - policy: NXDOMAIN (the rule);
 *   - SERVFAIL (Verdict's startup gate in mode servfail, or a held query past wait_ms).
 * It stops 50 policy replies after the first one (bounded: 120 s per server).
 *
 * Printed per server: when the port first answered and when the first policy
 * answer came (both from spawn), how many unfiltered answers left and over
 * which window (first to last), SERVFAILs, replies, queries sent.
 *
 * Servers: named (response-policy, qname-wait-recurse yes, as test/helpers/bind.ts),
 * then `verdict serve` with rpz.startup.mode wait, servfail and closed.
 * Addresses: NSD root 127.55.208.1:53, Verdict 127.55.208.2:5493, named
 * 127.0.0.1:5492 (named binds only interface addresses), the client 127.0.0.1.
 *
 * Usage: npm run bench:startup [-- RULES [EVERY_MS]]   (default 1000000 rules, 2 ms)
 * Not part of the tests (it takes a minute and needs named and nsd).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Rcode, Type } from '../src/dns/constants.js';
import { decodeMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';
import { hasNamed, startNamed } from '../test/helpers/bind.js';
import type { NamedHandle } from '../test/helpers/bind.js';
import { hasNsd, startMiniHier } from '../test/helpers/minihier.js';
import type { MiniHierHandle } from '../test/helpers/minihier.js';
import { writeRpz } from './gen-rpz.js';

const RULES = Number(process.argv[2] ?? 1_000_000);
const EVERY_MS = Number(process.argv[3] ?? 2);
const ROOT = '127.55.208.1';
const VERDICT = { address: '127.55.208.2', port: 5493 };
const NAMED_PORT = 5492;
const UNFILTERED = '192.0.2.1';
const BLOCKED = 'blocked.example.';
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const MAX_MS = 120_000;

interface Figures {
  server: string;
  /** From spawn, ms. */
  firstReply?: number;
  firstPolicy?: number;
  unfiltered: number;
  firstUnfiltered?: number;
  lastUnfiltered?: number;
  servfail: number;
  replies: number;
  sent: number;
  note?: string;
}

/**
 * Query `address:port` every EVERY_MS from now on, until `stop()` says so or
 * 50 policy replies came. `spawned` is the instant the server was spawned
 * (set by the caller just after spawning); times are relative to it.
 */
async function probe(address: string, port: number, start: () => Promise<{ spawnedAt: number; alive: () => boolean }>, server: string): Promise<Figures> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const f: Figures = { server, unfiltered: 0, servfail: 0, replies: 0, sent: 0 };
  const sentAt = new Map<number, number>();
  let policyReplies = 0;
  let t0 = performance.now();
  sock.on('message', (raw) => {
    const m = decodeMessage(raw);
    if (!sentAt.delete(m.id)) return;
    const at = performance.now() - t0;
    f.replies++;
    f.firstReply ??= at;
    const addresses = m.answers.filter((r) => r.type === Type.A).map((r) => [...r.rdata].join('.'));
    if (m.rcode === Rcode.NXDOMAIN) {
      f.firstPolicy ??= at;
      policyReplies++;
    } else if (m.rcode === Rcode.SERVFAIL) {
      f.servfail++;
    } else if (addresses.includes(UNFILTERED)) {
      f.unfiltered++;
      f.firstUnfiltered ??= at;
      f.lastUnfiltered = at;
    }
  });
  let id = 0;
  const send = () => {
    id = (id + 1) & 0xffff;
    sentAt.set(id, performance.now());
    f.sent++;
    sock.send(encodeMessage(makeQuery(id, nameFromText(BLOCKED), Type.A, { rd: true })), port, address);
  };
  let stopSending = false;
  const loop = (async () => {
    for (let i = 0; i < MAX_MS / EVERY_MS && !stopSending && policyReplies < 50; i++) {
      send();
      await sleep(EVERY_MS);
    }
  })();
  send();
  try {
    const s = await start();
    t0 = s.spawnedAt;
    const end = performance.now() + MAX_MS;
    while (policyReplies < 50 && performance.now() < end && s.alive()) await sleep(20);
    if (!s.alive()) f.note = 'the server exited';
  } catch (e) {
    f.note = (e as Error).message.split('\n')[0];
  } finally {
    stopSending = true;
    await loop;
    await sleep(300);
    sock.close();
  }
  return f;
}

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await Promise.race([done, sleep(5000)]);
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
}

async function main(): Promise<void> {
  if (!hasNsd()) throw new Error('needs nsd (Debian package nsd)');
  const work = mkdtempSync(join(tmpdir(), 'verdict-bench-startup-'));
  const zone = join(tmpdir(), `verdict-startup-${RULES}.rpz`);
  if (!existsSync(zone)) {
    // writeRpz's zone with its NS moved out of the zone (BIND refuses to load a zone whose
    // in-zone NS has no address), and the probe's rule last.
    await writeRpz(zone + '.part', RULES, 0);
    const text = readFileSync(zone + '.part', 'utf8').replace('@ NS ns.bench.rpz.\n', '@ NS localhost.\n');
    writeFileSync(zone + '.part', text + 'blocked.example CNAME .\n');
    renameSync(zone + '.part', zone);
  }
  writeFileSync(join(work, 'root.zone'), `$TTL 300\n. SOA a.root.test. admin.root.test. 1 3600 600 86400 300\n. NS a.root.test.\na.root.test. A ${ROOT}\n${BLOCKED} A ${UNFILTERED}\n`);
  let hier: MiniHierHandle | undefined;
  const procs: ChildProcess[] = [];
  let named: NamedHandle | undefined;
  const stopAll = async () => {
    await named?.stop();
    for (const p of procs) await stopProc(p);
    await hier?.stop();
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  const results: Figures[] = [];
  try {
    hier = await startMiniHier([{ name: 'root', address: ROOT, zones: [{ origin: '.', file: join(work, 'root.zone') }] }]);
    process.stdout.write(`zone: ${zone} (${RULES.toLocaleString('en')} QNAME rules + ${BLOCKED}), a query every ${EVERY_MS} ms\n`);

    if (hasNamed()) {
      const version = spawnSync('named', ['-v'], { encoding: 'utf8' }).stdout.trim();
      results.push(await probe('127.0.0.1', NAMED_PORT, async () => {
        const spawnedAt = performance.now();
        // startNamed resolves once named answers at all; the probe has been asking since before the spawn.
        named = await startNamed({ port: NAMED_PORT, rootHints: [{ name: 'a.root.test', address: ROOT }], rpz: [{ name: 'bench.rpz', file: zone }] });
        return { spawnedAt, alive: () => true };
      }, version.replace(/ \(.*$/, '').replace(/-.*$/, '')));
      if (results.at(-1)!.firstPolicy === undefined) process.stdout.write(`named never applied the policy; its log:\n${named?.log().slice(-2000)}\n`);
      await named?.stop();
      named = undefined;
    } else {
      process.stdout.write('named not installed: BIND skipped\n');
    }

    for (const mode of ['wait', 'servfail', 'closed']) {
      const cfg = join(work, `verdict-${mode}.yaml`);
      writeFileSync(cfg, `server: { listen: ["${VERDICT.address}:${VERDICT.port}"] }
resolver:
  qname_minimisation: false
  root_hints: [{ name: a.root.test, address: ${ROOT} }]
rpz:
  startup: { mode: ${mode} }
  zones: [{ name: bench.rpz, file: ${zone} }]
log: { level: warn }
control: { enabled: false }
mirrors: { enabled: false }
`);
      results.push(await probe(VERDICT.address, VERDICT.port, async () => {
        const spawnedAt = performance.now();
        const p = spawn(process.execPath, [CLI, 'serve', '-c', cfg], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] });
        procs.push(p);
        return { spawnedAt, alive: () => p.exitCode === null };
      }, `Verdict (${mode})`));
      await stopProc(procs.pop()!);
    }
  } finally {
    await stopAll();
    rmSync(work, { recursive: true, force: true });
  }

  const s = (ms?: number) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);
  const rows = results.map((f) => [
    f.server, s(f.firstReply), s(f.firstPolicy), String(f.unfiltered),
    f.firstUnfiltered === undefined ? '-' : `${s(f.firstUnfiltered)} to ${s(f.lastUnfiltered)} (${((f.lastUnfiltered! - f.firstUnfiltered) / 1000).toFixed(2)} s)`,
    String(f.servfail), String(f.replies), String(f.sent), f.note ?? '',
  ]);
  const head = ['server', 'first reply', 'first policy answer', 'unfiltered', 'unfiltered window (from spawn)', 'SERVFAIL', 'replies', 'sent', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) process.stdout.write(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
