/**
 * Debian's BIND 9 (named) as a VALIDATING RPZ resolver, for the signed setups of
 * test/rpz-diff.test.ts (issue 13 item 8). startNamed (bind.ts) writes
 * `dnssec-validation no` and `break-dnssec no` into its config; this one writes
 * `dnssec-validation yes` with the test's own trust anchor (`trust-anchors { . static-ds … }`)
 * and the setup's `break-dnssec`. Same handle as startNamed; started and stopped by PID.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '../../src/dns/constants.js';
import type { NamedHandle, RpzZoneSpec } from './bind.js';
import { ask } from './client.js';
import { rootHintsText } from './roothints.js';

export interface ValidatingNamedOptions {
  address?: string;
  port: number;
  rootHints: { name: string; address: string }[];
  /** A `trust-anchors { … };` statement (signhier.ts's bindTrustAnchors). */
  trustAnchors: string;
  rpz: RpzZoneSpec[];
  qnameWaitRecurse?: boolean;
  breakDnssec?: boolean;
  maxPolicyTtl?: number;
  minimalResponses?: string;
}

export async function startValidatingNamed(opts: ValidatingNamedOptions): Promise<NamedHandle> {
  const address = opts.address ?? '127.0.0.1';
  const port = opts.port;
  const dir = mkdtempSync(join(tmpdir(), 'verdict-named-dnssec-'));
  writeFileSync(join(dir, 'root.hints'), rootHintsText(opts.rootHints));
  const zones: string[] = [];
  const policies: string[] = [];
  for (const z of opts.rpz) {
    const f = basename(z.file) + '.' + z.name;
    copyFileSync(z.file, join(dir, f));
    zones.push(`zone "${z.name}" { type primary; file "${f}"; notify no; };`);
    const extra = [
      z.logOnly ? 'policy disabled' : z.policy ? `policy ${z.policy}` : '',
      z.maxPolicyTtl !== undefined ? `max-policy-ttl ${z.maxPolicyTtl}` : '',
    ].filter(Boolean).join(' ');
    policies.push(`zone "${z.name}" ${extra};`);
  }
  const rpz = `response-policy { ${policies.join(' ')} } qname-wait-recurse ${opts.qnameWaitRecurse === false ? 'no' : 'yes'}`
    + ` break-dnssec ${opts.breakDnssec ? 'yes' : 'no'}${opts.maxPolicyTtl !== undefined ? ` max-policy-ttl ${opts.maxPolicyTtl}` : ''};`;
  writeFileSync(join(dir, 'named.conf'), `options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  listen-on port ${port} { ${address}; };
  listen-on-v6 { none; };
  recursion yes;
  allow-query { any; };
  allow-recursion { 127.0.0.0/8; };
  dnssec-validation yes;
  qname-minimization relaxed;
  notify no;
  minimal-responses ${opts.minimalResponses ?? 'no-auth-recursive'};
  ${rpz}
};
${opts.trustAnchors}
controls { };
logging { channel errs { stderr; severity warning; }; category default { errs; }; category lame-servers { null; }; };
zone "." { type hint; file "root.hints"; };
${zones.join('\n')}
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
