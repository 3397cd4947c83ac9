/** Unbound (Debian), num-threads 1. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rootHintsText } from '../../test/helpers/roothints.js';
import { which } from './peer.js';
import type { Peer } from './peer.js';

export const unbound: Peer = {
  id: 'unbound',
  label: 'Unbound',
  missing: () => which('unbound', ['-V']),
  spawn(c) {
    writeFileSync(join(c.dir, 'root.hints'), rootHintsText(c.hints));
    const modules = [...(c.rpz ? ['respip'] : []), ...(c.anchor ? ['validator'] : []), 'iterator'].join(' ');
    const e = c.encrypted;
    // DoT on tls-port, DoH on https-port (Debian builds Unbound with libnghttp2: unbound -V says
    // --with-libnghttp2); each port needs its own interface line. Unbound shortens tcp-idle-timeout
    // once more than half of its incoming-num-tcp slots are taken: three times what the test opens.
    const tls = e ? `  interface: 127.0.0.1@${e.dotPort}
  interface: 127.0.0.1@${e.dohPort}
  tls-port: ${e.dotPort}
  https-port: ${e.dohPort}
  tls-service-key: "${e.key}"
  tls-service-pem: "${e.cert}"
  http-endpoint: "/dns-query"
  http-max-streams: 100
  incoming-num-tcp: ${3 * e.connections}
  tcp-idle-timeout: ${e.idleS * 1000}
` : '';
    writeFileSync(join(c.dir, 'unbound.conf'), `server:
  interface: 127.0.0.1@${c.port}
${tls}  port: ${c.port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "${c.dir}"
  pidfile: "${c.dir}/unbound.pid"
  logfile: ""
  use-syslog: no
  verbosity: 0
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  root-hints: "${c.dir}/root.hints"
  do-not-query-localhost: no
  do-ip6: no
  module-config: "${modules}"
${c.anchor ? `  trust-anchor-file: "${c.anchor.file}"\n` : ''}  qname-minimisation: no
  minimal-responses: yes
  msg-cache-size: 256m
  rrset-cache-size: 512m
  num-queries-per-thread: 4096
  outgoing-range: 8192
remote-control:
  control-enable: no
${c.rpz ? `rpz:
  name: bench.rpz
  zonefile: "${c.rpz}"
` : ''}`);
    return spawn('unbound', ['-d', '-c', join(c.dir, 'unbound.conf')], { cwd: c.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  },
};
