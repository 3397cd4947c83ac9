/**
 * The lab's master-format zone files (lab/zones/ in the repo): one file per
 * zone, named after its origin (`example.com.zone`), the root in `root.zone`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Record } from '../dns/message.js';
import { nameFromText } from '../dns/name.js';
import { parseZoneString } from '../rpz/masterfile.js';

/** lab/zones/ of this checkout (from dist/src/lab/ or src/lab/, three levels up). */
export function defaultZonesDir(): string {
  return fileURLToPath(new URL('../../../lab/zones/', import.meta.url));
}

/** "." -> root.zone, "example.com" -> example.com.zone */
export function zoneFileName(origin: string): string {
  const o = origin.replace(/\.$/, '');
  return o === '' ? 'root.zone' : `${o}.zone`;
}

/** Absolute form of a zone's origin ("example.com" -> "example.com.", "." stays). */
export function fqdn(origin: string): string {
  return origin.endsWith('.') ? origin : origin + '.';
}

/**
 * Read one zone file. `rewrite` may change the text first (the interop test
 * moves the whole hierarchy to other loopback addresses that way).
 */
export function readZoneFile(dir: string, origin: string, rewrite?: (text: string) => string): Record[] {
  const file = join(dir, zoneFileName(origin));
  if (!existsSync(file)) throw new Error(`${file}: zone file of ${fqdn(origin)} not found`);
  let text = readFileSync(file, 'utf8');
  if (rewrite) text = rewrite(text);
  const out: Record[] = [];
  parseZoneString(text, (rr) => out.push({ name: rr.name, type: rr.type, class: rr.class, ttl: rr.ttl, rdata: rr.rdata }), { origin: nameFromText(fqdn(origin)), file });
  return out;
}
