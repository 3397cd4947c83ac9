/** `verdict check`: the dnssec section's files and names, with file:line:col errors. */
import { resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { nameFromText, nameToText } from '../dns/name.js';
import { loadTrustAnchorFiles } from './anchors.js';

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
  for (const n of d.negative_trust_anchors) {
    try {
      nameFromText(n.endsWith('.') ? n : n + '.');
    } catch (e) {
      errors.push(`${loaded.file}: dnssec.negative_trust_anchors: ${n}: ${(e as Error).message}`);
    }
  }
  return { lines, errors };
}
