/** DNS parameters (IANA registries) used across Verdict. Type names come from dns-packet. */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const dnsTypes = require('dns-packet/types.js') as { toString(t: number): string; toType(s: string): number };

export const Type = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, HINFO: 13, MX: 15, TXT: 16, RP: 17, AFSDB: 18,
  AAAA: 28, SRV: 33, NAPTR: 35, KX: 36, DNAME: 39, OPT: 41, DS: 43, RRSIG: 46, NSEC: 47,
  DNSKEY: 48, NSEC3: 50, NSEC3PARAM: 51, SVCB: 64, HTTPS: 65, TKEY: 249, TSIG: 250, IXFR: 251, AXFR: 252,
  ANY: 255, CAA: 257,
} as const;

export const Class = { IN: 1, CH: 3, ANY: 255 } as const;

export const Opcode = { QUERY: 0, NOTIFY: 4, UPDATE: 5 } as const;

export const Rcode = {
  NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5,
  NOTAUTH: 9, BADVERS: 16,
} as const;

/** Extended DNS Error codes (RFC 8914 section 4). */
export const Ede = {
  OTHER: 0, UNSUPPORTED_DNSKEY_ALGORITHM: 1, UNSUPPORTED_DS_DIGEST: 2, STALE_ANSWER: 3, FORGED_ANSWER: 4,
  DNSSEC_INDETERMINATE: 5, DNSSEC_BOGUS: 6, SIGNATURE_EXPIRED: 7, SIGNATURE_NOT_YET_VALID: 8, DNSKEY_MISSING: 9,
  RRSIGS_MISSING: 10, NO_ZONE_KEY_BIT: 11, NSEC_MISSING: 12, NOT_SUPPORTED: 21, PROHIBITED: 18, BLOCKED: 15, CENSORED: 16,
  FILTERED: 17, NOT_READY: 14, NO_REACHABLE_AUTHORITY: 22, NETWORK_ERROR: 23, INVALID_DATA: 24,
  UNSUPPORTED_NSEC3_ITERATIONS: 27,
} as const;

export const EdnsOption = { EDE: 15, COOKIE: 10, PADDING: 12 } as const;

export function typeToText(t: number): string {
  const s = dnsTypes.toString(t);
  return s.startsWith('UNKNOWN') ? `TYPE${t}` : s;
}

/** "A", "TYPE65534" (RFC 3597 5) -> number; undefined when unknown. */
export function typeFromText(s: string): number | undefined {
  const up = s.toUpperCase();
  const m = /^TYPE([0-9]{1,5})$/.exec(up);
  if (m) {
    const v = Number(m[1]);
    return v <= 0xffff ? v : undefined;
  }
  const t = dnsTypes.toType(up);
  return t === 0 ? undefined : t;
}

const RCODE_NAMES = new Map<number, string>(Object.entries(Rcode).map(([k, v]) => [v, k]));
export function rcodeToText(r: number): string {
  return RCODE_NAMES.get(r) ?? `RCODE${r}`;
}
