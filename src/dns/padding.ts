/**
 * EDNS(0) Padding (RFC 7830) of answers on encrypted transports, with the
 * block-length policy of RFC 8467 4.1: a padded query's answer is padded to a
 * multiple of 468 bytes. Done on the wire, after the answer is built (or taken
 * from the answer cache by the fast path), so the cache keeps one unpadded form
 * and every transport shares it.
 */
import { findOpt } from './wire-walk.js';

/** RFC 8467 4.1: "Responders SHOULD pad DNS responses to a multiple of 468 octets." */
export const RESPONSE_BLOCK = 468;
const PADDING = 12;

/** Whether the query carries an EDNS Padding option (RFC 7830 3): only then is its answer padded. */
export function queryIsPadded(raw: Buffer): boolean {
  const at = findOpt(raw);
  if (at < 0) return false;
  const end = at + 2 + raw.readUInt16BE(at);
  for (let o = at + 2; o + 4 <= end; o += 4 + raw.readUInt16BE(o + 2)) {
    if (raw.readUInt16BE(o) === PADDING) return true;
  }
  return false;
}

/**
 * The answer with a Padding option added to its OPT record so that its length
 * is a multiple of `block`; unchanged when it has no OPT record (no EDNS, no
 * padding: RFC 7830 3), already pads, or would pass 65,535 bytes.
 */
export function padAnswer(wire: Buffer, block = RESPONSE_BLOCK): Buffer {
  const at = findOpt(wire);
  if (at < 0) return wire;
  const rdlen = wire.readUInt16BE(at);
  const end = at + 2 + rdlen;
  for (let o = at + 2; o + 4 <= end; o += 4 + wire.readUInt16BE(o + 2)) {
    if (wire.readUInt16BE(o) === PADDING) return wire;
  }
  const padLen = (block - ((wire.length + 4) % block)) % block;
  const size = wire.length + 4 + padLen;
  if (size > 65535 || rdlen + 4 + padLen > 65535) return wire;
  const out = Buffer.alloc(size);
  wire.copy(out, 0, 0, end);
  out.writeUInt16BE(rdlen + 4 + padLen, at);
  out.writeUInt16BE(PADDING, end);
  out.writeUInt16BE(padLen, end + 2);
  // The padding's own bytes stay 0x00 (RFC 7830 3); whatever followed the OPT record moves after them.
  wire.copy(out, end + 4 + padLen, end);
  return out;
}
