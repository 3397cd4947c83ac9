/** `verdict check`: the dnssec section's files and names, with file:line:col errors. */
import { resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { nameFromText, nameToText, ROOT } from '../dns/name.js';
import { IANA_ROOT_ANCHORS, loadTrustAnchorFiles } from './anchors.js';
import { KeyTracker } from './rfc5011.js';

/**
 * What `verdict check` says of the dnssec section: `lines` for stdout, and
 * `errors` (`file:line:col: reason`) for anchor files that do not parse, a
 * root key state file that cannot be read, and negative trust anchors that
 * are not names (the config loader refuses those first, with their position;
 * this is the backstop for a Config built otherwise).
 */
export function checkDnssecConfig(loaded: LoadedConfig): { lines: string[]; errors: string[] } {
  const d = loaded.config.dnssec;
  const lines: string[] = [];
  const errors: string[] = [];
  if (!d.validation) return { lines: ['dnssec: validation off'], errors };
  const files = d.trust_anchor_file === undefined ? [] : Array.isArray(d.trust_anchor_file) ? d.trust_anchor_file : [d.trust_anchor_file];
  if (files.length === 0) lines.push('dnssec: validating from the built-in IANA root anchors (key tags 20326, 38696)');
  else {
    try {
      const anchors = loadTrustAnchorFiles(files.map((f) => resolve(loaded.baseDir, f)));
      lines.push(`dnssec: trust anchors for ${anchors.map((a) => nameToText(a.zone)).join(', ')}`);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  if (d.root_key_state_file !== undefined) {
    const stateFile = resolve(loaded.baseDir, d.root_key_state_file);
    if (files.length) {
      lines.push(`dnssec: root_key_state_file ignored: RFC 5011 tracking applies to the built-in root anchors only, not to trust_anchor_file`);
    } else {
      try {
        // Reads the state only: a tracker writes when it observes a DNSKEY set, never at construction.
        const states = new KeyTracker({ zone: ROOT, initial: IANA_ROOT_ANCHORS, stateFile }).states();
        lines.push(states.length
          ? `dnssec: RFC 5011 state ${stateFile}: ${states.map((s) => `${s.keyTag} ${s.state}`).join(', ')}`
          : `dnssec: RFC 5011 state ${stateFile}: none yet (starts from the built-in anchors)`);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
  }
  for (const n of d.negative_trust_anchors) {
    try {
      nameFromText(n);
    } catch (e) {
      errors.push(`${loaded.file}: dnssec.negative_trust_anchors: ${n}: ${(e as Error).message}`);
    }
  }
  return { lines, errors };
}
