/**
 * Sign a mini hierarchy's zone files for a differential test (issue 13 item 8).
 *
 * Keys are made at each run (src/dnssec/sign.ts) and signatures run from an hour
 * ago for 30 days, so nothing kept in the repository ever expires. Zones are
 * signed deepest first, so that each parent publishes its signed children's DS
 * (RFC 4035 2.4) unless a zone asks to be an island (`ds: false`); the NSEC
 * chains, sorted in canonical order (compareNames), and the RRSIGs are
 * src/dnssec/zonesign.ts's. The result is master files for NSD and the root
 * KSK's DS, the trust anchor of every resolver under test.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Record } from '../../src/dns/message.js';
import { isSubdomain, labelCount, nameFromText, nameKey, nameToText } from '../../src/dns/name.js';
import type { Name } from '../../src/dns/name.js';
import { recordToText } from '../../src/dns/rdata.js';
import { dsFor, generateSigningKey } from '../../src/dnssec/sign.js';
import { dsRrset, signZone } from '../../src/dnssec/zonesign.js';
import { parseZoneString } from '../../src/rpz/masterfile.js';

export interface ZoneToSign {
  origin: string;
  /** The unsigned master file. */
  file: string;
  /** DNSSEC algorithm (8, 13, …); absent: the zone stays unsigned. */
  algorithm?: number;
  /** false: signed, but the parent publishes no DS (an island of security). Default true. */
  ds?: boolean;
}

export interface SignedHierarchy {
  /** Origin -> path of the master file to serve (signed, or the unsigned file as given). */
  files: Map<string, string>;
  /** The root KSK's DS as a master-file line (Verdict's trust_anchor_file). */
  anchorText: string;
  /** The same DS as BIND's `trust-anchors { … }` statement. */
  bindTrustAnchors: string;
}

/** `now` in seconds. Signed files are written to `outDir` under the unsigned file's name. */
export function signHierarchy(zones: readonly ZoneToSign[], outDir: string, now = Math.floor(Date.now() / 1000)): SignedHierarchy {
  const apexOf = (z: ZoneToSign): Name => nameFromText(z.origin.endsWith('.') ? z.origin : z.origin + '.');
  const root = zones.find((z) => labelCount(apexOf(z)) === 0);
  if (!root?.algorithm) throw new Error('signHierarchy: the root zone must be signed (its DS is the trust anchor)');
  /** Parent zone (the closest enclosing origin) -> child apex key -> DS RRset. */
  const childDs = new Map<string, Map<string, Record[]>>();
  const parentOf = (z: ZoneToSign): ZoneToSign | undefined => zones
    .filter((p) => p !== z && isSubdomain(apexOf(z), apexOf(p)))
    .sort((a, b) => labelCount(apexOf(b)) - labelCount(apexOf(a)))[0];
  const files = new Map<string, string>();
  let anchor: Record | undefined;
  for (const z of [...zones].sort((a, b) => labelCount(apexOf(b)) - labelCount(apexOf(a)))) {
    const apex = apexOf(z);
    const ds = childDs.get(nameKey(apex));
    if (!z.algorithm) {
      if (ds?.size) throw new Error(`signHierarchy: ${z.origin} is unsigned but has signed children with DS`);
      files.set(z.origin, z.file);
      continue;
    }
    const records: Record[] = [];
    parseZoneString(readFileSync(z.file, 'utf8'), (rr) => records.push({ name: rr.name, type: rr.type, class: rr.class, ttl: rr.ttl, rdata: rr.rdata }), { origin: apex, file: z.file });
    const ksk = generateSigningKey(apex, z.algorithm, 257);
    const zsk = generateSigningKey(apex, z.algorithm, 256);
    const signed = signZone(apex, records, {
      ksk: [ksk], zsk: [zsk], denial: { kind: 'nsec' }, inception: now - 3600, expiration: now + 30 * 86400,
      ...(ds?.size ? { childDs: ds } : {}),
    });
    const out = join(outDir, basename(z.file));
    writeFileSync(out, `; ${nameToText(apex)} signed by test/helpers/signhier.ts at ${new Date(now * 1000).toISOString()}\n${signed.map(recordToText).join('\n')}\n`);
    files.set(z.origin, out);
    const parent = parentOf(z);
    if (parent === undefined) {
      anchor = dsFor(ksk, 2, 3600);
    } else if (z.ds !== false) {
      const key = nameKey(apexOf(parent));
      if (!childDs.has(key)) childDs.set(key, new Map());
      childDs.get(key)!.set(nameKey(apex), dsRrset([ksk]));
    }
  }
  const a = anchor!;
  const tag = a.rdata.readUInt16BE(0);
  const digest = a.rdata.subarray(4).toString('hex').toUpperCase();
  return {
    files,
    anchorText: recordToText(a) + '\n',
    bindTrustAnchors: `trust-anchors { . static-ds ${tag} ${a.rdata[2]} ${a.rdata[3]} "${digest}"; };`,
  };
}
