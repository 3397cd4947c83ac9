/**
 * Cache entries as V8 one-byte strings (issue 14, "the cache's memory").
 *
 * Why strings, written by hand: a cache entry of a few dozen wire bytes cost
 * about 935 bytes of resident memory as an object holding a Buffer (the
 * Uint8Array, its ArrayBuffer, the C++ backing store and its malloc'd block
 * are four allocations before the data), where Unbound spends a few hundred.
 * A latin1 string holds any byte sequence in one heap object with a 16-byte
 * header, needs no finaliser, and `Buffer.latin1Write` / `Buffer.from(s,
 * 'latin1')` copy it out with a memcpy. No npm package packs records this way
 * (slab allocators for Node keep Buffers), hence this file.
 *
 * An entry is its data (the wire bytes the cache reads) followed by a trailer
 * of fixed fields read with `charCodeAt` from the end, so that copying the
 * data out needs no slice: `out.latin1Write(entry, 0, dataLength)`.
 */

/** A u16 at `i`. */
export function u16(s: string, i: number): number {
  return (s.charCodeAt(i) << 8) | s.charCodeAt(i + 1);
}

/** A u48 (a time in ms, good until the year 10889) at `i`. */
export function u48(s: string, i: number): number {
  const hi = (s.charCodeAt(i) << 8) | s.charCodeAt(i + 1);
  const lo = ((s.charCodeAt(i + 2) << 24) | (s.charCodeAt(i + 3) << 16) | (s.charCodeAt(i + 4) << 8) | s.charCodeAt(i + 5)) >>> 0;
  return hi * 0x1_0000_0000 + lo;
}

export function writeU48(b: Buffer, v: number, o: number): void {
  const n = Math.max(0, Math.min(Math.floor(v), 0xffff_ffff_ffff));
  b.writeUInt16BE(Math.floor(n / 0x1_0000_0000), o);
  b.writeUInt32BE(n % 0x1_0000_0000, o + 2);
}

/** The bytes as a flat one-byte string (one heap object). */
export function pack(b: Buffer): string {
  return b.toString('latin1');
}

/**
 * Bytes a cached entry costs beyond its key's and value's characters: the
 * two string headers, the Map entry and lru-cache's list slots (measured
 * in heap bytes per entry at a million small entries, Node 20). Used to size caches in bytes.
 */
export const ENTRY_OVERHEAD = 176;
