/**
 * Verdict itself (dist/src/cli.js serve), one worker: `verdict` on the UDP I/O it
 * picks (the batched addon, native/udp, where built), `verdict-dgram` forced onto
 * node:dgram (VERDICT_UDP_IO=dgram), for the comparison of issue 19, and
 * `verdict-node24` run by Node 24 (issue 14: figures on 20 and 24 side by side).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './peer.js';
import type { Peer, PeerCtx } from './peer.js';

/** Node 24 as scripts/test-node24.sh installs it (npm run test:node24). */
export const NODE24 = join(REPO, '.cache/node24/node_modules/node/bin/node');

/** Verdict run by the node at `node` with UDP I/O `udpIo`. */
function verdictPeer(id: string, label: string, udpIo: 'auto' | 'dgram', node: string = process.execPath): Peer {
  return {
    id,
    label: node === process.execPath ? label : `${label} on node ${existsSync(node) ? spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim().slice(1) : '?'}`,
    missing: () => (!existsSync(join(REPO, 'dist/src/cli.js')) ? 'dist/src/cli.js missing: run npx tsc -p .'
      : !existsSync(node) ? `${node} missing: run npm run test:node24 once (it installs Node 24 there)` : undefined),
    spawn: (c) => spawnVerdict(node, udpIo, c),
  };
}

export const verdict = verdictPeer('verdict', 'Verdict', 'auto', process.env.VERDICT_BENCH_NODE || process.execPath);
export const verdictDgram = verdictPeer('verdict-dgram', 'Verdict (dgram)', 'dgram');
/** Run only when named (`--only verdict,verdict-node24`). */
export const verdictNode24 = verdictPeer('verdict-node24', 'Verdict', 'auto', NODE24);

function spawnVerdict(node: string, udpIo: 'auto' | 'dgram', c: PeerCtx): ChildProcess {
  const file = join(c.dir, 'verdict.yaml');
  const rpz = c.rpz ? `rpz:
  qname_wait_recurse: false
  zones:
    - { name: bench.rpz, file: "${c.rpz}" }
` : '';
  // Validation is on by default (with the IANA root anchors): off unless the run gives an anchor.
  const dnssec = c.anchor ? `dnssec: { validation: true, trust_anchor_file: "${c.anchor.file}" }` : 'dnssec: { validation: false }';
  const e = c.encrypted;
  const tls = e ? `  dot_listen: ["127.0.0.1:${e.dotPort}"]
  doh_listen: ["127.0.0.1:${e.dohPort}"]
  tls: { cert_file: "${e.cert}", key_file: "${e.key}" }
  tcp_max_connections: ${2 * e.connections + 100}
  tcp_idle_timeout_ms: ${e.idleS * 1000}
` : '';
  writeFileSync(file, `server:
  listen: ["127.0.0.1:${c.port}"]
  allow: ["127.0.0.0/8"]
  workers: 1
${tls}resolver:
  root_hints:
${c.hints.map((h) => `    - { name: ${h.name}, address: ${h.address} }`).join('\n')}
  qname_minimisation: false
  upstream_timeout_ms: 800
${rpz}${dnssec}
control: { enabled: false }
mirrors: { state_file: "${join(c.dir, 'mirrors.json')}", save_interval_s: 0 }
log: { level: warn, policy_hits: false }
`);
  return spawn(node, [...(c.nodeArgs ?? []), join(REPO, 'dist/src/cli.js'), 'serve', '-c', file], { cwd: c.dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, VERDICT_UDP_IO: udpIo } });
}
