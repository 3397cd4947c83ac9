/**
 * Make the lab's DNSSEC keys once (PEM files in lab/keys/, listed by
 * lab/keys/index.json) and write the root KSK's DS, the lab's trust anchor
 * (lab/keys/root.ds, RFC 4034 5). Run again only to change keys: the anchor
 * changes with them.
 *
 *   node dist/src/lab/keygen.js [--force]
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nameFromText } from '../dns/name.js';
import { generateSigningKey, signingKeyToPem } from '../dnssec/sign.js';
import { defaultKeysDir, keyFileName, labRootDs, SIGNED_ZONES } from './signed.js';
import type { LabKeyIndex } from './signed.js';
import { fqdn } from './zones.js';

const dir = defaultKeysDir();
const index = join(dir, 'index.json');
if (existsSync(index) && !process.argv.includes('--force')) {
  process.stderr.write(`${index} exists (use --force to make new keys; the trust anchor changes)\n`);
  process.exit(1);
}
mkdirSync(dir, { recursive: true });
const out: LabKeyIndex = {};
for (const s of SIGNED_ZONES) {
  if (s.fault === 'unknown-algorithm') continue; // an opaque key, made at signing time
  const owner = nameFromText(fqdn(s.zone));
  const write = (role: 'ksk' | 'zsk' | 'hidden' | 'trap', algorithm: number, flags: number): string => {
    const f = keyFileName(s.zone, role);
    writeFileSync(join(dir, f), signingKeyToPem(generateSigningKey(owner, algorithm, flags)));
    return f;
  };
  out[s.zone] = {
    algorithm: s.algorithm,
    ksk: write('ksk', s.algorithm, 257), // SEP flag (RFC 4034 2.1.1)
    zsk: write('zsk', s.algorithm, 256),
    ...(s.fault === 'dnskey-missing' ? { hidden: write('hidden', s.algorithm, 256) } : {}),
    ...(s.fault === 'keytrap' ? { trap: write('trap', 8, 256) } : {}),
  };
}
writeFileSync(index, JSON.stringify(out, null, 2) + '\n');
writeFileSync(join(dir, 'root.ds'), '; The lab root KSK\'s DS: the trust anchor of config/demo.yaml and the tests (made by src/lab/keygen.ts).\n' + labRootDs(dir));
process.stdout.write(`wrote ${index}, its PEM files and ${join(dir, 'root.ds')}\n`);
