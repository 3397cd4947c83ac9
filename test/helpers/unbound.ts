/** Debian's Unbound as a reference resolver, started and stopped by the test (by PID). */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '../../src/dns/constants.js';
import { ask } from './client.js';
import { rootHintsText } from './roothints.js';

export function hasUnbound(): boolean {
  return spawnSync('unbound', ['-V'], { encoding: 'utf8' }).status === 0;
}

export interface UnboundHandle {
  address: string;
  port: number;
  stop(): Promise<void>;
}

/** `trustAnchorFile`: validate (module-config "validator iterator") from that anchor; without it Unbound does not validate. */
/**
 * `serverLines`: more `server:` lines (interfaces, TLS service, domain-insecure);
 * `clauses`: text after the server clause (stub-zone:, forward-zone:).
 */
export async function startUnbound(rootHints: { name: string; address: string }[], address = '127.55.252.1', port = 53, opts: { trustAnchorFile?: string; serverLines?: string[]; clauses?: string } = {}): Promise<UnboundHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-unbound-'));
  writeFileSync(join(dir, 'root.hints'), rootHintsText(rootHints));
  writeFileSync(join(dir, 'unbound.conf'), `server:
  interface: ${address}@${port}
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
  qname-minimisation: yes
  module-config: "${opts.trustAnchorFile ? 'validator iterator' : 'iterator'}"
${opts.trustAnchorFile ? `  trust-anchor-file: "${opts.trustAnchorFile}"\n  val-log-level: 2\n` : ''}  harden-referral-path: no
  target-fetch-policy: "0 0 0 0 0"
  do-ip6: no
  minimal-responses: yes
${(opts.serverLines ?? []).map((l) => `  ${l}\n`).join('')}remote-control:
  control-enable: no
${opts.clauses ?? ''}`);
  const proc: ChildProcess = spawn('unbound', ['-d', '-c', join(dir, 'unbound.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => { stderr += d; });
  // Ready when it answers (bounded: 50 tries, 100 ms apart).
  for (let i = 0; i < 50; i++) {
    if (proc.exitCode !== null) throw new Error(`unbound exited: ${stderr}`);
    try {
      await ask('.', Type.SOA, port, { address, rd: false });
      break;
    } catch {
      await sleep(100);
    }
  }
  return {
    address,
    port,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([done, sleep(3000)]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}
