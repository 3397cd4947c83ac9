/**
 * A small authoritative DNS hierarchy for differential tests: one Debian NSD
 * (/usr/sbin/nsd) process per server, each on its own loopback address
 * (127.55.200.0/24 by convention) and port 53. On Linux every 127.x address is
 * bindable without configuration. Processes are started and stopped by PID.
 *
 * One process per server matters: a resolver must walk real referrals (root ->
 * TLD -> zone) so that NS names and NS addresses (rpz-nsdname, rpz-nsip) are
 * those of the delegations, which one NSD serving every zone would short-cut.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '../../src/dns/constants.js';
import { ask } from './client.js';
import { nsdConfText } from './nsd.js';

export const NSD = '/usr/sbin/nsd';

export function hasNsd(): boolean {
  return spawnSync(NSD, ['-v'], { encoding: 'utf8' }).status === 0;
}

export interface MiniZone {
  /** Zone origin, e.g. "lab." or "." */
  origin: string;
  /** Path of the master file. */
  file: string;
}

export interface MiniServer {
  /** A label for logs, e.g. "root". */
  name: string;
  /** IPv4 loopback address, one per server. */
  address: string;
  zones: MiniZone[];
}

export interface MiniHierHandle {
  servers: { name: string; address: string; pid: number }[];
  dir: string;
  stop(): Promise<void>;
}

function nsdConf(dir: string, s: MiniServer, port: number): string {
  return nsdConfText({
    listen: [`${s.address}@${port}`], zonesDir: dir, dir, tcpCount: 32, extra: ['minimal-responses: no'],
    zones: s.zones.map((z) => ({ name: z.origin, file: join(dir, basename(z.file)) })),
  });
}

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await Promise.race([done, sleep(3000)]);
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
}

/** Start every server; resolves when each answers SOA for its first zone (bounded: 50 x 100 ms each). */
export async function startMiniHier(servers: MiniServer[], port = 53): Promise<MiniHierHandle> {
  const root = mkdtempSync(join(tmpdir(), 'verdict-minihier-'));
  const procs: { name: string; address: string; proc: ChildProcess; log: () => string }[] = [];
  const stopAll = async () => {
    for (const p of procs.reverse()) await stopProc(p.proc);
  };
  try {
    for (const s of servers) {
      const dir = join(root, s.name);
      mkdirSync(dir);
      for (const z of s.zones) copyFileSync(z.file, join(dir, basename(z.file)));
      writeFileSync(join(dir, 'nsd.conf'), nsdConf(dir, s, port));
      // -d: stay in the foreground so the PID we hold is NSD's main process (it ends its children on SIGTERM).
      const proc = spawn(NSD, ['-d', '-c', join(dir, 'nsd.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      proc.stderr!.on('data', (d) => { stderr += d; });
      const log = () => {
        let l = '';
        try { l = readFileSync(join(dir, 'nsd.log'), 'utf8'); } catch { /* not yet written */ }
        return stderr + l;
      };
      procs.push({ name: s.name, address: s.address, proc, log });
    }
    for (let i = 0; i < procs.length; i++) {
      const p = procs[i]!;
      const zone = servers[i]!.zones[0]!.origin;
      for (let attempt = 0; ; attempt++) {
        if (p.proc.exitCode !== null) throw new Error(`nsd ${p.name} (${p.address}) exited ${p.proc.exitCode}: ${p.log()}`);
        try {
          const r = await ask(zone, Type.SOA, port, { address: p.address, rd: false });
          if (r.answers.length) break;
        } catch { /* not listening yet */ }
        if (attempt >= 50) throw new Error(`nsd ${p.name} (${p.address}) did not answer SOA ${zone}: ${p.log()}`);
        await sleep(100);
      }
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  return {
    dir: root,
    servers: procs.map((p) => ({ name: p.name, address: p.address, pid: p.proc.pid! })),
    stop: stopAll,
  };
}
