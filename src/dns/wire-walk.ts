/**
 * Walking a message's records in place, without decoding it: for the few
 * things the encrypted listeners read or change in an answer already encoded
 * (the OPT record for padding, the TTLs for DoH's Cache-Control).
 */

export const OPT = 41;

/** Offset just past the name at `o` (compressed or not), or -1 if it runs off the end. */
export function skipName(wire: Buffer, o: number): number {
  for (let n = 0; n < 128; n++) {
    if (o >= wire.length) return -1;
    const l = wire[o]!;
    if (l === 0) return o + 1;
    if ((l & 0xc0) === 0xc0) return o + 2 <= wire.length ? o + 2 : -1;
    if (l > 63) return -1;
    o += l + 1;
  }
  return -1;
}

/**
 * Calls `each` with every resource record's section (1 answer, 2 authority, 3
 * additional) and the offset of its TYPE field; stops when `each` returns true.
 * False when the message is malformed (the walk stops there).
 */
export function walkRecords(wire: Buffer, each: (section: 1 | 2 | 3, at: number) => boolean | void): boolean {
  if (wire.length < 12) return false;
  let o = 12;
  for (let i = wire.readUInt16BE(4); i > 0; i--) {
    o = skipName(wire, o);
    if (o < 0 || o + 4 > wire.length) return false;
    o += 4;
  }
  const counts = [wire.readUInt16BE(6), wire.readUInt16BE(8), wire.readUInt16BE(10)];
  for (let s = 0; s < 3; s++) {
    for (let i = counts[s]!; i > 0; i--) {
      o = skipName(wire, o);
      if (o < 0 || o + 10 > wire.length) return false;
      const rdlen = wire.readUInt16BE(o + 8);
      if (o + 10 + rdlen > wire.length) return false;
      if (each((s + 1) as 1 | 2 | 3, o)) return true;
      o += 10 + rdlen;
    }
  }
  return true;
}

/** Offset of the OPT record's RDLENGTH field, or -1 when there is none (or the message is malformed). */
export function findOpt(wire: Buffer): number {
  let at = -1;
  walkRecords(wire, (section, o) => {
    if (section === 3 && wire.readUInt16BE(o) === OPT) {
      at = o + 8;
      return true;
    }
    return false;
  });
  return at;
}

/** The smallest TTL of the answer and authority records, or undefined when there are none. */
export function smallestTtl(wire: Buffer): number | undefined {
  let min: number | undefined;
  walkRecords(wire, (section, o) => {
    if (section === 3) return true;
    const ttl = wire.readUInt32BE(o + 4);
    if (min === undefined || ttl < min) min = ttl;
    return false;
  });
  return min;
}
