/** BIND 9 (Debian), named -n 1. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rootHintsText } from '../../test/helpers/roothints.js';
import { which } from './peer.js';
import type { Peer } from './peer.js';

export const bind: Peer = {
  id: 'bind',
  label: 'BIND 9',
  missing: () => which('named', ['-v']),
  spawn(c) {
    writeFileSync(join(c.dir, 'root.hints'), rootHintsText(c.hints));
    const a = c.anchor;
    const e = c.encrypted;
    // BIND 9.18: a tls block, an http block (DoH endpoint), listen-on ... tls [http]. TCP timeouts
    // are in units of 100 ms (at most 1200); idle DoT clients before a first query count against
    // tcp-initial-timeout, DoH clients against http-listener-clients.
    const tlsBlocks = e ? `tls bench-tls { cert-file "${e.cert}"; key-file "${e.key}"; };
http bench-http { endpoints { "/dns-query"; }; listener-clients ${e.connections + 100}; streams-per-connection 100; };
` : '';
    const tlsOptions = e ? `  listen-on port ${e.dotPort} tls bench-tls { 127.0.0.1; };
  listen-on port ${e.dohPort} tls bench-tls http bench-http { 127.0.0.1; };
  tcp-clients ${2 * e.connections + 100};
  tcp-initial-timeout ${Math.min(1200, e.idleS * 10)};
  tcp-idle-timeout ${Math.min(1200, e.idleS * 10)};
` : '';
    writeFileSync(join(c.dir, 'named.conf'), `${tlsBlocks}options {
  directory "${c.dir}";
  pid-file "${c.dir}/named.pid";
  listen-on port ${c.port} { 127.0.0.1; };
${tlsOptions}  listen-on-v6 { none; };
  recursion yes;
  allow-query { any; };
  allow-recursion { 127.0.0.0/8; };
  dnssec-validation ${a ? 'yes' : 'no'};
  qname-minimization off;
  notify no;
  minimal-responses yes;
  max-cache-size 1g;
  recursive-clients 10000;
${c.rpz ? '  response-policy { zone "bench.rpz"; } qname-wait-recurse no break-dnssec no;\n' : ''}};
${a ? `trust-anchors { . static-ds ${a.keyTag} ${a.algorithm} ${a.digestType} "${a.digest}"; };\n` : ''}controls { };
logging { channel errs { stderr; severity warning; }; category default { errs; }; category lame-servers { null; }; category rpz { null; }; };
zone "." { type hint; file "root.hints"; };
${c.rpz ? `zone "bench.rpz" { type primary; file "${c.rpz}"; notify no; check-integrity no; check-names ignore; };\n` : ''}`);
    return spawn('named', ['-g', '-4', '-n', '1', '-c', join(c.dir, 'named.conf')], { cwd: c.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  },
};
