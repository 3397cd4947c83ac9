/**
 * Make the lab's DNSSEC keys once (lab/keys/keys.json) and write the root's
 * DS, the lab's trust anchor (lab/keys/root.ds). Run again only to change
 * keys: the anchor changes with them.
 *
 *   node dist/src/lab/keygen.js [--force]
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { nameFromText } from '../dns/name.js';
import { generateSigningKey, signingKeyToPem } from '../dnssec/sign.js';
import { defaultKeysDir, labRootDs, SIGNED_ZONES } from './signed.js';
import type { LabKeyFile } from './signed.js';
import { fqdn } from './zones.js';

const dir = defaultKeysDir();
const file = `${dir}/keys.json`;
if (existsSync(file) && !process.argv.includes('--force')) {
  process.stderr.write(`${file} exists (use --force to make new keys; the trust anchor changes)\n`);
  process.exit(1);
}
mkdirSync(dir, { recursive: true });
const out: LabKeyFile = {};
for (const s of SIGNED_ZONES) {
  if (s.fault === 'unknown-algorithm') continue;
  const owner = nameFromText(fqdn(s.zone));
  out[s.zone] = {
    algorithm: s.algorithm,
    ksk: signingKeyToPem(generateSigningKey(owner, s.algorithm, 257)),
    zsk: signingKeyToPem(generateSigningKey(owner, s.algorithm, 256)),
    ...(s.fault === 'dnskey-missing' ? { hidden: signingKeyToPem(generateSigningKey(owner, s.algorithm, 256)) } : {}),
    ...(s.fault === 'keytrap' ? { trap: signingKeyToPem(generateSigningKey(owner, 8, 256)) } : {}),
  };
}
writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
writeFileSync(`${dir}/root.ds`, '; The lab root KSK\'s DS: the trust anchor of config/demo.yaml and the tests (made by src/lab/keygen.ts).\n' + labRootDs(dir));
process.stdout.write(`wrote ${file} and ${dir}/root.ds\n`);
