/** Verdict itself (dist/src/cli.js serve), one worker. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './peer.js';
import type { Peer } from './peer.js';

/** The node that runs Verdict: this one, or VERDICT_BENCH_NODE (e.g. .cache/node24/node_modules/node/bin/node, for figures on Node 24). */
const NODE = process.env.VERDICT_BENCH_NODE || process.execPath;

export const verdict: Peer = {
  id: 'verdict',
  label: NODE === process.execPath ? 'Verdict' : `Verdict (node ${spawnSync(NODE, ['--version'], { encoding: 'utf8' }).stdout.trim()})`,
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
    return spawn(NODE, [...(c.nodeArgs ?? []), join(REPO, 'dist/src/cli.js'), 'serve', '-c', file], { cwd: c.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  },
};
