/**
 * Verdict itself (dist/src/cli.js serve), one worker: `verdict` on the UDP I/O it
 * picks (the batched addon, native/udp, where built), `verdict-dgram` forced onto
 * node:dgram (VERDICT_UDP_IO=dgram), for the comparison of issue 19.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './peer.js';
import type { Peer } from './peer.js';

function verdictPeer(id: string, label: string, udpIo: 'auto' | 'dgram'): Peer {
  return {
  id,
  label,
  missing: () => (existsSync(join(REPO, 'dist/src/cli.js')) ? undefined : 'dist/src/cli.js missing: run npx tsc -p .'),
  spawn(c) {
    const file = join(c.dir, 'verdict.yaml');
    const rpz = c.rpz ? `rpz:
  qname_wait_recurse: false
  zones:
    - { name: bench.rpz, file: "${c.rpz}" }
` : '';
    // Validation is on by default (with the IANA root anchors): off unless the run gives an anchor.
    const dnssec = c.anchor ? `dnssec: { validation: true, trust_anchor_file: "${c.anchor.file}" }` : 'dnssec: { validation: false }';
    writeFileSync(file, `server:
  listen: ["127.0.0.1:${c.port}"]
  allow: ["127.0.0.0/8"]
  workers: 1
resolver:
  root_hints:
${c.hints.map((h) => `    - { name: ${h.name}, address: ${h.address} }`).join('\n')}
  qname_minimisation: false
  upstream_timeout_ms: 800
${rpz}${dnssec}
control: { enabled: false }
mirrors: { state_file: "${join(c.dir, 'mirrors.json')}", save_interval_s: 0 }
log: { level: warn, policy_hits: false }
`);
    return spawn(process.execPath, [join(REPO, 'dist/src/cli.js'), 'serve', '-c', file], { cwd: c.dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, VERDICT_UDP_IO: udpIo } });
  },
  };
}

export const verdict = verdictPeer('verdict', 'Verdict', 'auto');
export const verdictDgram = verdictPeer('verdict-dgram', 'Verdict (dgram)', 'dgram');
