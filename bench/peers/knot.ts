/** Knot Resolver (Debian), one kresd process. */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dsRdata, which } from './peer.js';
import type { Peer } from './peer.js';

export const knot: Peer = {
  id: 'knot',
  label: 'Knot Resolver',
  missing: () => which('kresd', ['--version']),
  spawn(c) {
    mkdirSync(join(c.dir, 'cache'), { recursive: true });
    writeFileSync(join(c.dir, 'kresd.conf'), `log_target('stderr')
log_level('warning')
net.listen('127.0.0.1', ${c.port}, { kind = 'dns' })
modules = { 'hints > iterate' }
hints.root({ ${c.hints.map((h) => `['${h.name}'] = '${h.address}'`).join(', ')} })
trust_anchors.remove('.')
${c.anchor ? `trust_anchors.add('. IN DS ${dsRdata(c.anchor)}')\n` : ''}cache.open(1024 * MB, 'lmdb://${c.dir}/cache')
option('NO_MINIMIZE', true)
option('ALLOW_LOCAL', true)
${c.rpz ? `policy.add(policy.rpz(policy.DENY, '${c.rpz}', false))\n` : ''}`);
    return spawn('kresd', ['-n', '-c', join(c.dir, 'kresd.conf'), c.dir], { cwd: c.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  },
};
