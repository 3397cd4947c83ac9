/**
 * Trust anchors (RFC 4035 4.4) and negative trust anchors (RFC 7646).
 *
 * Built in: the IANA root anchors. An operator (or the lab) gives others in
 * master-file form, DS or DNSKEY records, as Unbound's trust-anchor-file; any
 * zone may have one. Lookups walk a name's ancestors by label.
 */
import { readFileSync } from 'node:fs';
import { Class, Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import { nameFromText, nameKey, nameToText, parentName } from '../dns/name.js';
import type { Name } from '../dns/name.js';
import { parseZoneString, ZoneSyntaxError } from '../rpz/masterfile.js';
import { publicKeyOf, SUPPORTED_ALGORITHMS } from './crypto.js';
import { DnskeyFlag, parseDnskey, parseDs } from './records.js';

export interface TrustAnchor {
  zone: Name;
  /** DS records naming keys of the zone. */
  ds: Record[];
  /** DNSKEY records trusted as they are. */
  dnskey: Record[];
}

/**
 * The IANA root anchors (https://data.iana.org/root-anchors/root-anchors.xml):
 * KSK-2017 (key tag 20326) and KSK-2024 (key tag 38696), SHA-256 digests.
 */
export const IANA_ROOT_ANCHORS: TrustAnchor = {
  zone: nameFromText('.'),
  ds: recordsFromText(`
. 172800 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. 172800 IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
`),
  dnskey: [],
};

function recordsFromText(text: string): Record[] {
  const out: Record[] = [];
  parseZoneString(text, ({ file: _f, line: _l, ...r }) => out.push(r), { file: '<built-in anchors>' });
  return out;
}

/** Anchors from master files; errors are `ZoneSyntaxError`s (`file:line:col: reason`). */
export function loadTrustAnchorFiles(files: readonly string[]): TrustAnchor[] {
  const byZone = new Map<string, TrustAnchor>();
  for (const file of files) {
    let found = 0;
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch (e) {
      throw new ZoneSyntaxError(file, 0, 0, `cannot read trust anchor file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    parseZoneString(text, (rr) => {
      const fail = (reason: string) => { throw new ZoneSyntaxError(rr.file, rr.line, 1, reason); };
      if (rr.class !== Class.IN) fail('trust anchors are class IN');
      if (rr.type === Type.DS) {
        parseDs(rr.rdata);
      } else if (rr.type === Type.DNSKEY) {
        const k = parseDnskey(rr.rdata);
        const what = `DNSKEY ${k.keyTag} of ${nameToText(rr.name)}`;
        if ((k.flags & DnskeyFlag.ZONE) === 0) fail(`${what} has no zone flag (RFC 4034 2.1.1)`);
        if (k.protocol !== 3) fail(`${what}: protocol must be 3 (RFC 4034 2.1.2)`);
        // RFC 5011 2.1: a revoked key must not be used as a trust anchor.
        if ((k.flags & DnskeyFlag.REVOKE) !== 0) fail(`${what} has the REVOKE flag (RFC 5011 2.1)`);
        // A key we could verify with but cannot read would make the zone bogus at run time: say so now.
        // (An algorithm we lack is legal: the zone is then insecure, RFC 4035 5.2.)
        if (SUPPORTED_ALGORITHMS.has(k.algorithm) && publicKeyOf(k) === undefined) fail(`${what}: the public key is not a valid algorithm ${k.algorithm} key`);
      } else {
        fail('a trust anchor is a DS or a DNSKEY record');
      }
      const k = nameKey(rr.name);
      let a = byZone.get(k);
      if (!a) byZone.set(k, (a = { zone: rr.name, ds: [], dnskey: [] }));
      const { file: _file, line: _line, ...record } = rr;
      (rr.type === Type.DS ? a.ds : a.dnskey).push(record);
      found++;
    }, { file });
    // An empty anchor file is a mistake (a truncated download, a wrong path to a template), not "no anchors".
    if (found === 0) throw new ZoneSyntaxError(file, 0, 0, 'no trust anchor (DS or DNSKEY record) in this file');
  }
  return [...byZone.values()];
}

export class TrustAnchorStore {
  private readonly anchors = new Map<string, TrustAnchor>();
  private readonly ntas = new Map<string, Name>();

  constructor(anchors: readonly TrustAnchor[], negative: readonly Name[] = []) {
    for (const a of anchors) this.setAnchor(a);
    for (const n of negative) this.addNegative(n);
  }

  anchorAt(zone: Name): TrustAnchor | undefined {
    return this.anchors.get(nameKey(zone));
  }

  /** The anchor at or closest above `name`. */
  closestAnchor(name: Name): TrustAnchor | undefined {
    for (let n = name; ; n = parentName(n)) {
      const a = this.anchors.get(nameKey(n));
      if (a) return a;
      if (n.length <= 1) return undefined;
    }
  }

  /** True when `name` is at or below a negative trust anchor. */
  isNegative(name: Name): boolean {
    if (this.ntas.size === 0) return false;
    for (let n = name; ; n = parentName(n)) {
      if (this.ntas.has(nameKey(n))) return true;
      if (n.length <= 1) return false;
    }
  }

  addNegative(name: Name): void {
    this.ntas.set(nameKey(name), name);
  }

  removeNegative(name: Name): boolean {
    return this.ntas.delete(nameKey(name));
  }

  negatives(): Name[] {
    return [...this.ntas.values()];
  }

  setAnchor(a: TrustAnchor): void {
    this.anchors.set(nameKey(a.zone), a);
  }

  all(): TrustAnchor[] {
    return [...this.anchors.values()];
  }
}
