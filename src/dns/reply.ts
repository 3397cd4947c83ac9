/** Building replies to a client query. */
import { Rcode } from './constants.js';
import { addEde, makeEdns } from './edns.js';
import { emptyMessage, encodeMessage } from './message.js';
import type { Message } from './message.js';

/**
 * A reply skeleton: same ID, opcode, RD and CD, the question as the client
 * wrote it (case preserved: some clients check 0x20), RA set, and OPT when the
 * query had one (RFC 6891 7: only then).
 */
export function replyTo(query: Message, rcode: number = Rcode.NOERROR, ourUdpSize = 1232): Message {
  return emptyMessage({
    id: query.id, qr: true, opcode: query.opcode, rd: query.rd, cd: query.cd, ra: true, rcode,
    questions: query.questions.slice(0, 1),
    ...(query.edns ? { edns: makeEdns(ourUdpSize, query.edns.do) } : {}),
  });
}

/**
 * An error reply straight from the raw header, for packets we could not decode
 * past it (RFC 1035 4.1.1: FORMERR). The question is omitted: it may be what
 * was malformed.
 */
export function headerOnlyReply(raw: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(raw.readUInt16BE(0), 0);
  const flags = raw.readUInt16BE(2);
  // QR=1, keep opcode and RD, RA=1, set rcode.
  out.writeUInt16BE(0x8000 | (flags & 0x7900) | 0x80 | (rcode & 0xf), 2);
  return out;
}

export function errorReply(query: Message, rcode: number, ede?: { code: number; text: string }, maxSize = 65535): Buffer {
  const m = replyTo(query, rcode);
  if (ede) addEde(m, ede.code, ede.text);
  return encodeMessage(m, maxSize);
}
