/** Debian's BIND 9 (named) as the RPZ reference, started and stopped by the test (by PID). */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '../../src/dns/constants.js';
import { ask } from './client.js';
import { rootHintsText } from './roothints.js';

export function hasNamed(): boolean {
  return spawnSync('named', ['-v'], { encoding: 'utf8' }).status === 0;
}

export interface RpzZoneSpec {
  name: string;
  /** Path of the zone file (copied into named's directory). */
  file: string;
  /** BIND's per-zone policy override, e.g. "nxdomain", "cname walled.example." */
  policy?: string;
  maxPolicyTtl?: number;
  /** Verdict's log_only: BIND's `policy disabled` (the zone's hits are logged, answers unchanged). */
  logOnly?: boolean;
}

export interface NamedOptions {
  address?: string;
  port?: number;
  rootHints: { name: string; address: string }[];
  /** Recursive resolver with RPZ; omit for a plain resolver. */
  rpz?: RpzZoneSpec[];
  qnameWaitRecurse?: boolean;
  /** Global max-policy-ttl of the response-policy statement (BIND's own default when absent). */
  maxPolicyTtl?: number;
  /** Extra text at the end of the response-policy statement (e.g. "add-soa no"). */
  rpzExtra?: string;
  /** minimal-responses value (default "no", as before). */
  minimalResponses?: string;
  /** Extra text inside options { }. */
  extraOptions?: string;
  /** Extra zone statements (e.g. a secondary). */
  extraZones?: string;
  /** Severity of what named writes to stderr (default "warning"); "info" shows zone transfers. */
  logSeverity?: string;
  /** A `trust-anchors { … };` statement: named then validates (`dnssec-validation yes`); absent: no validation. */
  trustAnchors?: string;
  /** BIND's break-dnssec (default no). */
  breakDnssec?: boolean;
}

export interface NamedHandle {
  address: string;
  port: number;
  dir: string;
  pid: number;
  stop(): Promise<void>;
  reload(): void;
  /** What named wrote to stderr so far. */
  log(): string;
}

export async function startNamed(opts: NamedOptions): Promise<NamedHandle> {
  // named listens only on addresses configured on an interface (it scans them), and lo
  // carries just 127.0.0.1: so 127.0.0.1 with a port of the test's own.
  const address = opts.address ?? '127.0.0.1';
  const port = opts.port ?? 5391;
  const dir = mkdtempSync(join(tmpdir(), 'verdict-named-'));
  writeFileSync(join(dir, 'root.hints'), rootHintsText(opts.rootHints));
  const zones: string[] = [];
  const policies: string[] = [];
  for (const z of opts.rpz ?? []) {
    const f = basename(z.file) + '.' + z.name;
    copyFileSync(z.file, join(dir, f));
    zones.push(`zone "${z.name}" { type primary; file "${f}"; notify no; };`);
    const extra = [
      z.logOnly ? 'policy disabled' : z.policy ? `policy ${z.policy}` : '',
      z.maxPolicyTtl !== undefined ? `max-policy-ttl ${z.maxPolicyTtl}` : '',
    ].filter(Boolean).join(' ');
    policies.push(`zone "${z.name}" ${extra};`);
  }
  const rpz = policies.length ? `response-policy { ${policies.join(' ')} } qname-wait-recurse ${opts.qnameWaitRecurse === false ? 'no' : 'yes'} break-dnssec ${opts.breakDnssec ? 'yes' : 'no'}${opts.maxPolicyTtl !== undefined ? ` max-policy-ttl ${opts.maxPolicyTtl}` : ''} ${opts.rpzExtra ?? ''};` : '';
  writeFileSync(join(dir, 'named.conf'), `options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  listen-on port ${port} { ${address}; };
  listen-on-v6 { none; };
  recursion yes;
  allow-query { any; };
  allow-recursion { 127.0.0.0/8; };
  dnssec-validation ${opts.trustAnchors ? 'yes' : 'no'};
  qname-minimization relaxed;
  notify no;
  minimal-responses ${opts.minimalResponses ?? 'no'};
  ${rpz}
  ${opts.extraOptions ?? ''}
};
${opts.trustAnchors ?? ''}
controls { };
logging { channel errs { stderr; severity ${opts.logSeverity ?? 'warning'}; }; category default { errs; }; category lame-servers { null; }; };
zone "." { type hint; file "root.hints"; };
${zones.join('\n')}
${opts.extraZones ?? ''}
`);
  const proc: ChildProcess = spawn('named', ['-g', '-4', '-c', join(dir, 'named.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => { stderr += d; });
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`named exited (${proc.exitCode}): ${stderr}`);
    try {
      await ask('version.invalid.', Type.A, port, { address, rd: false });
      break;
    } catch {
      await sleep(100);
    }
    if (i === 99) throw new Error(`named did not answer: ${stderr}`);
  }
  return {
    address, port, dir, pid: proc.pid!,
    reload: () => proc.kill('SIGHUP'),
    log: () => stderr,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([done, sleep(5000)]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}
