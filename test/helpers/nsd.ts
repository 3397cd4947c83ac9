/**
 * The lab's hierarchy served by Debian's NSD instead of Verdict's own
 * authoritative server: the same zone files and the same server table, moved
 * to other loopback addresses (127.55.X.Y -> 127.55.(X+100).Y) so that both
 * labs can run at once. One nsd process per distinct set of zones (servers
 * with the same zones share one, with several ip-address lines): a server must
 * not answer from zones it does not serve, or the referrals would be short-cut.
 * Started and stopped by PID. Lame servers become NSD instances without zones
 * (REFUSED); dead servers get nothing.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '../../src/dns/constants.js';
import { LAB_SERVERS } from '../../src/lab/lab.js';
import type { LabServerSpec } from '../../src/lab/lab.js';
import { defaultZonesDir, zoneFileName } from '../../src/lab/zones.js';
import { ask } from './client.js';

export const NSD = '/usr/sbin/nsd';

export function hasNsd(): boolean {
  return spawnSync(NSD, ['-v'], { encoding: 'utf8' }).status === 0;
}

/** 127.55.X.Y -> 127.55.(X+100).Y: the NSD lab's address of a lab server. */
export function nsdAddress(address: string): string {
  const m = /^127\.55\.([0-9]+)\.([0-9]+)$/.exec(address);
  if (!m || Number(m[1]) >= 100) throw new Error(`${address}: not a lab address`);
  return `127.55.${Number(m[1]) + 100}.${m[2]}`;
}

/** Rewrite every lab address in a zone file's text. */
export function rewriteAddresses(text: string): string {
  return text.replace(/127\.55\.([0-9]{1,2})\.([0-9]{1,3})\b/g, (a) => nsdAddress(a));
}

export interface NsdLab {
  rootHints: { name: string; address: string }[];
  /** One entry per nsd process. */
  processes: { addresses: string[]; zones: string[]; pid: number }[];
  dir: string;
  stop(): Promise<void>;
}

export interface NsdConfOptions {
  /** `ADDRESS@PORT` for each listener. */
  listen: string[];
  zonesDir: string;
  /** Where NSD keeps its pid, lists, state and log. */
  dir: string;
  /** NSD's default (100) when absent. */
  tcpCount?: number;
  /** Further `server:` lines (e.g. `minimal-responses: no`). */
  extra?: string[];
  zones: { name: string; file: string }[];
}

/** One nsd.conf for the test and bench helpers that run Debian's NSD (lab twin, RPZ mini hierarchy, bench/e2e). */
export function nsdConfText(o: NsdConfOptions): string {
  return `server:
${o.listen.map((a) => `  ip-address: ${a}`).join('\n')}
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "${o.zonesDir}"
  pidfile: "${o.dir}/nsd.pid"
  database: ""
  zonelistfile: "${o.dir}/zone.list"
  xfrdfile: "${o.dir}/xfrd.state"
  xfrdir: "${o.dir}"
  logfile: "${o.dir}/nsd.log"
  verbosity: 1
  hide-version: yes
  refuse-any: no
${[...(o.extra ?? []), ...(o.tcpCount !== undefined ? [`tcp-count: ${o.tcpCount}`] : [])].map((l) => `  ${l}\n`).join('')}remote-control:
  control-enable: no
${o.zones.map((z) => `zone:\n  name: "${z.name}"\n  zonefile: "${z.file}"\n`).join('')}`;
}

function nsdConf(dir: string, zonesDir: string, addresses: string[], zones: string[]): string {
  return nsdConfText({
    listen: addresses.map((a) => `${a}@53`), zonesDir, dir, tcpCount: 64,
    zones: zones.map((z) => ({ name: z === '.' ? '.' : z + '.', file: zoneFileName(z) })),
  });
}

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await Promise.race([done, sleep(3000)]);
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
}

export async function startNsdLab(servers: readonly LabServerSpec[] = LAB_SERVERS, zonesDir = defaultZonesDir()): Promise<NsdLab> {
  const root = mkdtempSync(join(tmpdir(), 'verdict-nsdlab-'));
  const zdir = join(root, 'zones');
  mkdirSync(zdir);
  const groups = new Map<string, { addresses: string[]; zones: string[] }>();
  for (const s of servers) {
    if (s.behaviour === 'dead') continue;
    const zones = s.behaviour === 'refused' || s.behaviour === 'upward-referral' ? [] : s.zones;
    const key = zones.length ? zones.join(' ') : `none ${s.address}`;
    const g = groups.get(key);
    if (g) g.addresses.push(nsdAddress(s.address));
    else groups.set(key, { addresses: [nsdAddress(s.address)], zones });
    for (const z of zones) writeFileSync(join(zdir, zoneFileName(z)), rewriteAddresses(readFileSync(join(zonesDir, zoneFileName(z)), 'utf8')));
  }
  const procs: { addresses: string[]; zones: string[]; proc: ChildProcess; log: () => string }[] = [];
  const stopAll = async () => {
    await Promise.all(procs.map((p) => stopProc(p.proc)));
  };
  try {
    let i = 0;
    for (const g of groups.values()) {
      const dir = join(root, `nsd${i++}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'nsd.conf'), nsdConf(dir, zdir, g.addresses, g.zones));
      // -d: stay in the foreground, so the PID we hold is NSD's main process (it ends its children on SIGTERM).
      const proc = spawn(NSD, ['-d', '-c', join(dir, 'nsd.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      proc.stderr!.on('data', (d) => { stderr += d; });
      const log = () => {
        let l = '';
        try { l = readFileSync(join(dir, 'nsd.log'), 'utf8'); } catch { /* not written yet */ }
        return stderr + l;
      };
      procs.push({ ...g, proc, log });
    }
    // Ready when every address answers (SOA of its first zone, or REFUSED when it has none); bounded.
    for (const p of procs) {
      for (const address of p.addresses) {
        const zone = p.zones[0] ?? '.';
        for (let attempt = 0; ; attempt++) {
          if (p.proc.exitCode !== null) throw new Error(`nsd on ${p.addresses.join(' ')} exited ${p.proc.exitCode}: ${p.log()}`);
          try {
            const r = await ask(zone === '.' ? '.' : zone + '.', Type.SOA, 53, { address, rd: false });
            if (r.answers.length || p.zones.length === 0) break;
          } catch { /* not listening yet */ }
          if (attempt >= 50) throw new Error(`nsd on ${address} did not answer: ${p.log()}`);
          await sleep(100);
        }
      }
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  return {
    rootHints: servers.filter((s) => s.zones.includes('.')).map((s) => ({ name: s.name, address: nsdAddress(s.address) })),
    processes: procs.map((p) => ({ addresses: p.addresses, zones: p.zones, pid: p.proc.pid! })),
    dir: root,
    stop: stopAll,
  };
}
