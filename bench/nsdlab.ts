/**
 * The lab hierarchy (lab/zones/, the server table of src/lab/lab.ts) served
 * by Debian's NSD on 127.57.X.Y:53: the lab's 127.55.X.Y moved to a block of
 * the benchmarks' own, so that a test run using the lab (127.55/16) or the
 * NSD lab of the tests (127.55.(X+100).Y) at the same time does not collide.
 *
 * One nsd per distinct set of zones (servers of the same zones share one, with
 * several ip-address lines): a server must not answer for zones it does not
 * serve. Lame and dead servers are left out: the benchmarks' names never lead
 * to them. RRL is off (every cache miss of bench:e2e is an answer from
 * *.wild.example.com, one rate-limit bucket).
 *
 * `signed`: the zones src/lab/signed.ts names are signed as the lab signs
 * them (readZoneFile, then signLabZones: the same keys, so lab/keys/root.ds is
 * the trust anchor; signatures valid from an hour ago for 30 days), after the
 * addresses are moved (the glue in sec. is signed data), and written as
 * master files (recordToText). The server that strips RRSIGs in the lab
 * (stripped.sec) gets its zone without them. Unsigned zones are the lab's
 * files with the addresses moved, as without `signed`.
 *
 * Each nsd has a control socket, so that `queries(zone)` can say how many
 * queries the servers of a zone have answered (upstream queries per miss).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '../src/dns/constants.js';
import type { Record } from '../src/dns/message.js';
import { recordToText } from '../src/dns/rdata.js';
import { LAB_SERVERS } from '../src/lab/lab.js';
import { signLabZones } from '../src/lab/signed.js';
import { defaultZonesDir, readZoneFile, zoneFileName } from '../src/lab/zones.js';
import { nsdConfText } from '../test/helpers/nsd.js';
import { ask, TYPES } from './measure.js';
import { track } from './processes.js';

export const NSD = '/usr/sbin/nsd';
const NSD_CONTROL = '/usr/sbin/nsd-control';

/** 127.55.X.Y -> 127.57.X.Y */
export const labAddress = (a: string): string => a.replace(/^127\.55\./, '127.57.');
const rewriteZone = (text: string) => text.replace(/\b127\.55\.([0-9]{1,3})\.([0-9]{1,3})\b/g, '127.57.$1.$2');

export interface NsdLab {
  rootHints: { name: string; address: string }[];
  pids: number[];
  /** Queries answered so far by the nsd serving `zone` ("example.com"); NaN if unknown. */
  queries(zone: string): number;
}

interface Group { addresses: string[]; zones: string[]; strip: boolean }

export async function startNsdLab(root: string, opts: { signed?: boolean } = {}): Promise<NsdLab> {
  const zdir = join(root, 'zones');
  mkdirSync(zdir, { recursive: true });
  const zonesDir = defaultZonesDir();
  const groups = new Map<string, Group>();
  for (const s of LAB_SERVERS) {
    if (s.behaviour === 'dead' || s.behaviour === 'refused' || s.behaviour === 'upward-referral' || !s.zones.length) continue;
    const key = s.zones.join(' ');
    const g = groups.get(key);
    if (g) g.addresses.push(labAddress(s.address));
    else groups.set(key, { addresses: [labAddress(s.address)], zones: [...s.zones], strip: s.behaviour === 'strip-rrsigs' });
  }
  const zones = [...new Set([...groups.values()].flatMap((g) => g.zones))];
  const signed = new Map<string, Record[]>();
  if (opts.signed) {
    const records = new Map<string, Record[]>();
    for (const z of zones) records.set(z, readZoneFile(zonesDir, z, rewriteZone));
    signLabZones(records);
    for (const [z, rrs] of records) if (rrs.some((r) => r.type === Type.RRSIG)) signed.set(z, rrs);
    if (!signed.has('.')) throw new Error('signLabZones signed no root zone');
  }
  const stripped = new Set([...groups.values()].filter((g) => g.strip).flatMap((g) => g.zones));
  for (const z of zones) {
    const rrs = signed.get(z);
    const file = join(zdir, zoneFileName(z));
    if (!rrs) writeFileSync(file, rewriteZone(readFileSync(join(zonesDir, zoneFileName(z)), 'utf8')));
    else {
      const kept = stripped.has(z) ? rrs.filter((r) => r.type !== Type.RRSIG) : rrs;
      writeFileSync(file, `; ${z} signed by signLabZones (src/lab/signed.ts) for bench/nsdlab.ts\n${kept.map(recordToText).join('\n')}\n`);
    }
  }

  const procs: { g: Group; p: ChildProcess; conf: string; err: () => string }[] = [];
  let i = 0;
  for (const g of groups.values()) {
    const dir = join(root, `nsd${i++}`);
    mkdirSync(dir);
    const conf = join(dir, 'nsd.conf');
    const text = nsdConfText({
      listen: g.addresses.map((a) => `${a}@53`), zonesDir: zdir, dir,
      extra: ['rrl-ratelimit: 0', 'rrl-whitelist-ratelimit: 0'],
      zones: g.zones.map((z) => ({ name: z === '.' ? '.' : z + '.', file: zoneFileName(z) })),
    });
    const withControl = text.replace('remote-control:\n  control-enable: no\n', `remote-control:\n  control-enable: yes\n  control-interface: ${dir}/nsd.ctl\n`);
    writeFileSync(conf, withControl);
    // -d: foreground, so the PID we hold is NSD's main process (it ends its children on SIGTERM).
    const p = track(spawn(NSD, ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] }));
    let stderr = '';
    p.stderr!.on('data', (d) => { stderr += d; });
    procs.push({ g, p, conf, err: () => stderr + (existsSync(join(dir, 'nsd.log')) ? readFileSync(join(dir, 'nsd.log'), 'utf8') : '') });
  }
  for (const { g, p, err } of procs) {
    for (const a of g.addresses) {
      const zone = g.zones[0]!;
      for (let attempt = 0; ; attempt++) {
        if (p.exitCode !== null) throw new Error(`nsd on ${g.addresses.join(' ')} exited ${p.exitCode}: ${err()}`);
        const r = await ask(a, 53, zone === '.' ? '.' : zone + '.', TYPES.SOA!, 200, { rd: false });
        if (r && r.ancount > 0) break;
        if (attempt >= 50) throw new Error(`nsd on ${a} did not answer: ${err()}`);
        await sleep(100);
      }
    }
  }
  return {
    rootHints: LAB_SERVERS.filter((s) => s.zones.includes('.')).map((s) => ({ name: s.name + '.', address: labAddress(s.address) })),
    pids: procs.map((x) => x.p.pid!),
    queries(zone: string): number {
      const x = procs.find((q) => q.g.zones.includes(zone));
      if (!x) return NaN;
      const r = spawnSync(NSD_CONTROL, ['-c', x.conf, 'stats_noreset'], { encoding: 'utf8', timeout: 5000 });
      const m = /^num\.queries=([0-9]+)$/m.exec(r.stdout ?? '');
      return m ? Number(m[1]) : NaN;
    },
  };
}
