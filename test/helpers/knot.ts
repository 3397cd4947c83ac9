/** Debian's Knot DNS (knotd) as a primary for transfer tests, started and stopped by the test (by PID). */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '../../src/dns/constants.js';
import { ask } from './client.js';

export function hasKnot(): boolean {
  return spawnSync('knotd', ['--version'], { encoding: 'utf8' }).status === 0;
}

export interface KnotZone {
  /** Zone name without the final dot, e.g. "feed.rpz". */
  name: string;
  /** Zone file text. */
  text: string;
  /** Where Knot sends NOTIFY after each change (sent from the server's own address). */
  notify?: { address: string; port: number };
  /** TSIG key id that transfers must be signed with. */
  key?: string;
}

export interface KnotOptions {
  address?: string;
  port?: number;
  keys?: { [id: string]: { algorithm: string; secret: string } };
  zones: KnotZone[];
}

export interface KnotHandle {
  address: string;
  port: number;
  dir: string;
  pid: number;
  /** Replace a zone's file (the serial must grow) and reload it; Knot computes the IXFR difference. */
  update(name: string, text: string): void;
  stop(): Promise<void>;
  /** SIGKILL, for "the primary died" scenarios. */
  kill(): Promise<void>;
  log(): string;
}

export async function startKnot(opts: KnotOptions): Promise<KnotHandle> {
  const address = opts.address ?? '127.55.240.1';
  const port = opts.port ?? 53;
  const dir = mkdtempSync(join(tmpdir(), 'verdict-knot-'));
  const conf = join(dir, 'knot.conf');
  const keys = Object.entries(opts.keys ?? {});
  const remotes = opts.zones.filter((z) => z.notify).map((z, i) => `  - id: notify-${i}\n    address: ${z.notify!.address}@${z.notify!.port}\n    via: ${address}\n`);
  let n = 0;
  const zoneBlocks = opts.zones.map((z) => {
    writeFileSync(join(dir, `${z.name}.zone`), z.text);
    const lines = [`  - domain: ${z.name}`, `    file: ${z.name}.zone`, `    acl: ${z.key ? `xfr-${z.key}` : 'xfr'}`];
    if (z.notify) lines.push(`    notify: notify-${n++}`);
    return lines.join('\n');
  });
  // zonefile-load: difference makes a reload of a changed file a journal changeset, which IXFR serves.
  writeFileSync(conf, `server:
    rundir: "${dir}"
    listen: ${address}@${port}
log:
  - target: stderr
    any: info
database:
    storage: "${dir}"
control:
    listen: "${dir}/knot.sock"
${keys.length ? 'key:\n' + keys.map(([id, k]) => `  - id: ${id}\n    algorithm: ${k.algorithm}\n    secret: ${k.secret}\n`).join('') : ''}
${remotes.length ? 'remote:\n' + remotes.join('') : ''}
acl:
  - id: xfr
    address: 127.0.0.0/8
    action: transfer
${keys.map(([id]) => `  - id: xfr-${id}\n    address: 127.0.0.0/8\n    key: ${id}\n    action: transfer\n`).join('')}
template:
  - id: default
    storage: "${dir}"
    zonefile-sync: -1
    zonefile-load: difference
    journal-content: changes
    semantic-checks: off
zone:
${zoneBlocks.join('\n')}
`);
  const proc: ChildProcess = spawn('knotd', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => { stderr += d; });
  const first = opts.zones[0]!.name + '.';
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`knotd exited (${proc.exitCode}): ${stderr}`);
    try {
      const m = await ask(first, Type.SOA, port, { address, rd: false });
      if (m.answers.length > 0) break;
    } catch {
      // not up yet
    }
    await sleep(100);
    if (i === 99) throw new Error(`knotd did not answer: ${stderr}`);
  }
  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  const waitExit = async (signal: NodeJS.Signals) => {
    if (exited()) return;
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await Promise.race([done, sleep(5000)]);
    if (!exited()) proc.kill('SIGKILL');
  };
  return {
    address, port, dir, pid: proc.pid!,
    update(name, text) {
      writeFileSync(join(dir, `${name}.zone`), text);
      const r = spawnSync('knotc', ['-c', conf, '-b', '-t', '10', 'zone-reload', name], { encoding: 'utf8', timeout: 15_000 });
      if (r.status !== 0) throw new Error(`knotc zone-reload ${name} failed: ${r.stdout}${r.stderr}`);
    },
    stop: async () => {
      await waitExit('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => waitExit('SIGKILL'),
    log: () => stderr,
  };
}
