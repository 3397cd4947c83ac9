/**
 * Disk full while saving a transferred zone (issue 7), on a real full file
 * system: `transfer.state_dir` is on a 1 MiB tmpfs the test mounts (we run
 * as root) and fills to the last byte. Verdict B is a secondary of
 * `feed.rpz`, whose primary is Verdict A (a file zone served by AXFR/IXFR).
 *
 * When the disk is full and a new version arrives, B reports the failure (an
 * error log line, `verdict_zone_store_failures_total`, `storeError` and
 * `savedSerial` in `verdict ctl zones`), leaves the old copy on disk byte for
 * byte and no temporary file, and enforces the new version from memory. A
 * restart meanwhile serves the old copy. Once there is room again, the next
 * version is saved and the error clears.
 *
 * Where mounting is not permitted (a container without CAP_SYS_ADMIN), the
 * test fills /dev/shm instead when it is a small tmpfs (a container's
 * private one), and otherwise skips, saying why.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statfsSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { parseConfigText } from '../src/config/load.js';
import { Rcode, Type } from '../src/dns/constants.js';
import { emptyMessage } from '../src/dns/message.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask } from './helpers/client.js';

const TMPFS_MAGIC = 0x01021994;

/** A directory on a small real file system that the test may fill up. */
interface FullableDir {
  dir: string;
  how: string;
  /** Fill the file system until a write fails with ENOSPC. */
  fill(): void;
  /** Make room again. */
  unfill(): void;
  cleanup(): void;
}

function fullableDir(): FullableDir | string {
  const filler = (dir: string) => join(dir, 'filler');
  const fill = (dir: string) => () => {
    const fd = openSync(filler(dir), 'a');
    try {
      // Big writes first, then smaller, until not one byte more fits.
      for (const size of [1 << 20, 1 << 16, 4096, 512, 1]) {
        const chunk = Buffer.alloc(size, 0x61);
        for (;;) {
          try {
            writeSync(fd, chunk);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
            break;
          }
        }
      }
    } finally {
      closeSync(fd);
    }
  };
  const unfill = (dir: string) => () => unlinkSync(filler(dir));
  const mnt = mkdtempSync(join(tmpdir(), 'verdict-diskfull-'));
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'verdict-diskfull', mnt], { encoding: 'utf8' });
  if (m.status === 0) {
    return {
      dir: mnt, how: 'a 1 MiB tmpfs mounted by the test', fill: fill(mnt), unfill: unfill(mnt),
      cleanup: () => {
        spawnSync('umount', [mnt]);
        rmSync(mnt, { recursive: true, force: true });
      },
    };
  }
  rmSync(mnt, { recursive: true, force: true });
  const why = `mount -t tmpfs not permitted (${(m.stderr || m.error?.message || `status ${m.status}`).trim()})`;
  try {
    const s = statfsSync('/dev/shm');
    if (s.type === TMPFS_MAGIC && s.bavail * s.bsize <= 256 * 1024 * 1024) {
      const dir = mkdtempSync('/dev/shm/verdict-diskfull-');
      return { dir, how: `/dev/shm (${why})`, fill: fill(dir), unfill: unfill(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    }
  } catch {
    // no /dev/shm
  }
  return `${why}, and /dev/shm is not a small tmpfs: no real full disk to test on`;
}

const disk = fullableDir();
const skip = typeof disk === 'string' ? disk : false;

/** Every name answered 192.0.2.1 by "the internet": any other answer was written by policy. */
class Net implements Transport {
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    if (q.type === Type.A) m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: 1, sentName: q.name, tcp: false };
  }
}

const work = mkdtempSync(join(tmpdir(), 'verdict-diskfull-work-'));
const running: Verdict[] = [];
after(async () => {
  for (const v of running) await v.stop();
  if (typeof disk !== 'string') disk.cleanup();
  rmSync(work, { recursive: true, force: true });
});

function feed(serial: number, rules: string[]): void {
  // Padding rules make every version bigger than the room a full disk leaves (none).
  const pad = Array.from({ length: 200 }, (_, i) => `pad${i}.example CNAME .`);
  writeFileSync(join(work, 'feed.rpz'), `$TTL 60\n@ SOA ns.feed.rpz. admin.feed.rpz. ${serial} 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n${[...rules, ...pad].join('\n')}\n`);
}

async function start(name: string, yaml: string, lines?: string[]): Promise<{ v: Verdict; port: number; reload(): Promise<void> }> {
  const file = join(work, `${name}.yaml`);
  const text = `server: { listen: ["127.0.0.1:0"] }\nresolver: { qname_minimisation: false }\ncontrol: { enabled: false }\ndnssec: { validation: false }\nmirrors: { enabled: false }\n${yaml}`;
  const cfg = parseConfigText(text, file);
  const logger = lines ? pino({ level: 'info' }, { write: (s: string) => { lines.push(s); } }) : pino({ level: 'silent' });
  const v = new Verdict({ config: cfg, file, baseDir: work }, { transport: new Net(), rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }], logger });
  running.push(v);
  await v.start();
  return { v, port: v.server.addresses[0]!.port, reload: () => v.reload({ config: parseConfigText(text, file), file, baseDir: work }) };
}

const rcode = async (name: string, port: number) => (await ask(name, Type.A, port)).rcode;

let a: Awaited<ReturnType<typeof start>>;
before(async () => {
  if (skip) return;
  feed(1, ['one.example CNAME .']);
  a = await start('primary', 'rpz:\n  zones: [{ name: feed.rpz, file: feed.rpz }]\ntransfer: { allow: ["127.0.0.0/8"] }\n');
});

test('disk full while saving a transferred zone: reported, old copy intact, no temp file, new zone served from memory', { skip }, async (t) => {
  const d = disk as FullableDir;
  t.diagnostic(`full disk: ${d.how}`);
  const stateDir = join(d.dir, 'zones');
  mkdirSync(stateDir);
  const copy = join(stateDir, 'feed.rpz.zone');
  const logs: string[] = [];
  const secondaryYaml = (primaryPort: number) => `rpz:\n  zones: [{ name: feed.rpz, primary: "127.0.0.1:${primaryPort}" }]\ntransfer: { state_dir: "${stateDir}" }\n`;
  const b = await start('secondary', secondaryYaml(a.port), logs);
  const zone = () => b.v.policy.status()[0]!;
  assert.deepEqual([zone().serial, zone().savedSerial, zone().storeError], [1, 1, undefined]);
  const before = readFileSync(copy);
  assert.match(before.toString('latin1'), /serial 1,/);

  d.fill();
  assert.equal(statfsSync(d.dir).bavail, 0, 'not one block free');
  feed(2, ['one.example CNAME .', 'two.example CNAME .']);
  await a.reload();
  await b.v.policy.transfer('feed.rpz');

  // The new version is enforced, from memory.
  assert.equal(await rcode('two.example.', b.port), Rcode.NXDOMAIN, 'the rule new in serial 2 is enforced');
  assert.equal(zone().serial, 2);
  assert.equal(zone().enforced, true);
  // Reported: ctl zones, a metric, an error log line.
  assert.equal(zone().savedSerial, 1, 'the copy on disk is still serial 1');
  assert.match(zone().storeError ?? '', /cannot save .*feed\.rpz\.zone: ENOSPC; the previous copy is kept/);
  assert.match(await b.v.metrics.registry.metrics(), /verdict_zone_store_failures_total\{zone="feed\.rpz\."\} 1\n/);
  const logged = logs.map((l) => JSON.parse(l) as { level: number; msg: string; zone?: string; err?: string }).filter((l) => l.level >= 50);
  assert.deepEqual(logged.map((l) => [l.zone, l.msg]), [['feed.rpz.', 'cannot save the zone copy to disk; the zone serves from memory, the previous copy stays on disk']]);
  assert.match(logged[0]!.err!, /ENOSPC/);
  // The disk: the old copy byte for byte, and nothing else.
  assert.deepEqual(readFileSync(copy), before, 'the old copy is intact');
  assert.deepEqual(readdirSync(stateDir), ['feed.rpz.zone'], 'no temporary file left behind');

  // A restart now (primary down) serves the old copy: serial 1 has one.example, not two.example.
  const again = await start('restarted', secondaryYaml(1));
  assert.equal(again.v.policy.status()[0]!.serial, 1);
  assert.equal(await rcode('one.example.', again.port), Rcode.NXDOMAIN);
  assert.equal(await rcode('two.example.', again.port), Rcode.NOERROR);
  await again.v.stop();

  // Room again: the next version is saved and the error clears.
  d.unfill();
  feed(3, ['one.example CNAME .', 'two.example CNAME .', 'three.example CNAME .']);
  await a.reload();
  await b.v.policy.transfer('feed.rpz');
  assert.deepEqual([zone().serial, zone().savedSerial, zone().storeError], [3, 3, undefined]);
  assert.match(readFileSync(copy, 'latin1'), /serial 3,/);
  assert.deepEqual(readdirSync(stateDir), ['feed.rpz.zone']);
});
