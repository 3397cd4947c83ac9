/**
 * Zone contents as transfers see them: the SOA and its serial, serial
 * arithmetic, the identity of a resource record, and IXFR differences
 * (computing them on the primary, applying them on the secondary).
 */
import { Class, Type } from '../../dns/constants.js';
import type { Record } from '../../dns/message.js';
import { Name, isSubdomain, nameKey, nameToText } from '../../dns/name.js';

/** One IXFR difference sequence (RFC 1995 4): version `from` -> version `to`. */
export interface ZoneDiff {
  from: number;
  to: number;
  /** Records removed; the first is the old SOA. */
  deleted: Record[];
  /** Records added; the first is the new SOA. */
  added: Record[];
}

export interface SoaFields {
  mname: Name;
  rname: Name;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

function nameEnd(rd: Buffer, o: number): number {
  while (o < rd.length && rd[o]! !== 0) o += rd[o]! + 1;
  return o + 1;
}

/** Decode SOA RDATA (RFC 1035 3.3.13; names uncompressed, as in our Record). */
export function soaFields(rdata: Buffer): SoaFields {
  const m = nameEnd(rdata, 0);
  const r = nameEnd(rdata, m);
  if (r + 20 !== rdata.length) throw new RangeError('SOA RDATA has the wrong length');
  return {
    mname: rdata.subarray(0, m), rname: rdata.subarray(m, r), serial: rdata.readUInt32BE(r),
    refresh: rdata.readUInt32BE(r + 4), retry: rdata.readUInt32BE(r + 8), expire: rdata.readUInt32BE(r + 12), minimum: rdata.readUInt32BE(r + 16),
  };
}

export function soaSerial(rdata: Buffer): number {
  return rdata.readUInt32BE(rdata.length - 20);
}

/** A copy of SOA RDATA with another serial. */
export function withSerial(rdata: Buffer, serial: number): Buffer {
  const out = Buffer.from(rdata);
  out.writeUInt32BE(serial >>> 0, out.length - 20);
  return out;
}

export function soaRdata(f: SoaFields): Buffer {
  const nums = Buffer.allocUnsafe(20);
  [f.serial, f.refresh, f.retry, f.expire, f.minimum].forEach((v, i) => nums.writeUInt32BE(v >>> 0, i * 4));
  return Buffer.concat([f.mname, f.rname, nums]);
}

/**
 * Serial number arithmetic (RFC 1982 3.2): is `a` later than `b`?
 * Undefined comparisons (exactly 2^31 apart) count as not later.
 */
export function serialGt(a: number, b: number): boolean {
  const d = ((a >>> 0) - (b >>> 0) + 2 ** 32) % 2 ** 32;
  return d !== 0 && d < 2 ** 31;
}

/** Identity of an RR (RFC 2181 5: owner, class, type, RDATA; the TTL is not part of it). */
export function rrKey(rr: Record): string {
  return `${nameKey(rr.name)}|${rr.type}|${rr.class}|${rr.rdata.toString('latin1')}`;
}

export function describeRecord(rr: Record): string {
  return `${nameToText(rr.name)} type ${rr.type}`;
}

export class DiffError extends Error {
  readonly code = 'VERDICT_ERR_XFR_IXFR_MISMATCH';
  override readonly name = 'DiffError';
}

/**
 * Apply IXFR difference sequences in order to a complete zone (RFC 1995 4):
 * each deletion must match a record present (owner case-insensitive, exact
 * RDATA, class IN), each addition must be new, and each sequence must start
 * from the serial the zone is at. Returns a new record list, SOA first; the
 * input is not modified. Throws DiffError when the diffs do not fit the zone,
 * after which a secondary falls back to a full transfer (as BIND does).
 */
export function applyDiffs(records: readonly Record[], diffs: readonly ZoneDiff[]): Record[] {
  const soa = records[0];
  if (!soa || soa.type !== Type.SOA) throw new DiffError('the current zone does not start with its SOA');
  let serial = soaSerial(soa.rdata);
  const set = new Map<string, Record>();
  for (const rr of records) set.set(rrKey(rr), rr);
  for (const d of diffs) {
    if (d.from !== serial) throw new DiffError(`difference from serial ${d.from} does not apply to serial ${serial}`);
    for (const rr of d.deleted) {
      if (rr.class !== Class.IN) throw new DiffError(`deleted ${describeRecord(rr)} is not class IN`);
      if (!set.delete(rrKey(rr))) throw new DiffError(`deleted ${describeRecord(rr)} is not in the zone at serial ${serial}`);
    }
    for (const rr of d.added) {
      if (rr.class !== Class.IN) throw new DiffError(`added ${describeRecord(rr)} is not class IN`);
      const k = rrKey(rr);
      if (set.has(k)) throw new DiffError(`added ${describeRecord(rr)} is already in the zone at serial ${serial}`);
      set.set(k, rr);
    }
    serial = d.to;
  }
  const soas: Record[] = [];
  const rest: Record[] = [];
  for (const rr of set.values()) (rr.type === Type.SOA ? soas : rest).push(rr);
  const apex = soas[0];
  if (soas.length !== 1 || nameKey(apex!.name) !== nameKey(soa.name) || soaSerial(apex!.rdata) !== serial) {
    throw new DiffError(`the differences leave ${soas.length} SOA records, expected one at the apex with serial ${serial}`);
  }
  return [apex!, ...rest];
}

/**
 * The difference from one version of a zone to the next (for IXFR), SOAs
 * first in each half as RFC 1995 4 lays them out. A record whose TTL changed
 * is deleted and added again, so the secondary sees the new TTL.
 */
export function computeDiff(oldRecords: readonly Record[], newRecords: readonly Record[]): ZoneDiff {
  const oldSoa = oldRecords[0]!;
  const newSoa = newRecords[0]!;
  const withTtl = (rr: Record) => `${rrKey(rr)}|${rr.ttl}`;
  const before = new Map<string, Record>();
  for (const rr of oldRecords) if (rr.type !== Type.SOA) before.set(withTtl(rr), rr);
  const added: Record[] = [newSoa];
  for (const rr of newRecords) {
    if (rr.type === Type.SOA) continue;
    const k = withTtl(rr);
    if (!before.delete(k)) added.push(rr);
  }
  return { from: soaSerial(oldSoa.rdata), to: soaSerial(newSoa.rdata), deleted: [oldSoa, ...before.values()], added };
}

/** Checks every complete zone must pass: SOA first and only at the apex, everything inside the zone, class IN. */
export function checkZone(zone: Name, records: readonly Record[]): string | undefined {
  const soa = records[0];
  if (!soa || soa.type !== Type.SOA || nameKey(soa.name) !== nameKey(zone)) return 'the zone does not start with its SOA';
  try {
    soaFields(soa.rdata);
  } catch {
    return 'the SOA RDATA is malformed';
  }
  for (let i = 0; i < records.length; i++) {
    const rr = records[i]!;
    if (rr.class !== Class.IN) return `${describeRecord(rr)} is not class IN`;
    if (!isSubdomain(rr.name, zone)) return `${describeRecord(rr)} is outside the zone ${nameToText(zone)}`;
    if (i > 0 && rr.type === Type.SOA) return `a second SOA at ${nameToText(rr.name)}`;
  }
  return undefined;
}
