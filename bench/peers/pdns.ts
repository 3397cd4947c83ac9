/** PowerDNS Recursor (Debian), --threads=1 --pdns-distributes-queries=no. */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rootHintsText } from '../../test/helpers/roothints.js';
import { dsRdata } from './peer.js';
import type { Peer } from './peer.js';

const BIN = '/usr/sbin/pdns_recursor';

export const pdns: Peer = {
  id: 'pdns',
  label: 'PowerDNS Rec',
  missing: () => (existsSync(BIN) ? undefined : `${BIN} not found`),
  spawn(c) {
    writeFileSync(join(c.dir, 'root.hints'), rootHintsText(c.hints));
    const lua = [
      ...(c.rpz ? [`rpzFile("${c.rpz}", { policyName = "bench.rpz" })`] : []),
      // The lab's root DS instead of the built-in IANA ones.
      ...(c.anchor ? ["clearTA('.')", `addTA('.', "${dsRdata(c.anchor)}")`] : []),
    ];
    if (lua.length) writeFileSync(join(c.dir, 'bench.lua'), lua.join('\n') + '\n');
    writeFileSync(join(c.dir, 'recursor.conf'), `local-address=127.0.0.1
local-port=${c.port}
threads=1
pdns-distributes-queries=no
reuseport=no
daemon=no
write-pid=no
socket-dir=${c.dir}
hint-file=${c.dir}/root.hints
dnssec=${c.anchor ? 'validate' : 'off'}
qname-minimization=no
dont-query=
allow-from=127.0.0.0/8
max-cache-entries=2000000
max-packetcache-entries=2000000
${lua.length ? `lua-config-file=${c.dir}/bench.lua\n` : ''}security-poll-suffix=
disable-syslog=yes
loglevel=3
quiet=yes
`);
    return spawn(BIN, [`--config-dir=${c.dir}`], { cwd: c.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  },
};
