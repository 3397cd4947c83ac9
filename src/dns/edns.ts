/** EDNS(0) (RFC 6891) and Extended DNS Errors (RFC 8914) on our message model. */
import { EdnsOption } from './constants.js';
import type { Edns, Message } from './message.js';

/** Largest UDP answer we send by default (DNS Flag Day 2020: 1232 avoids fragmentation). */
export const DEFAULT_MAX_UDP = 1232;

export function makeEdns(udpSize: number, dnssecOk = false): Edns {
  return { udpSize, version: 0, do: dnssecOk, options: [] };
}

/** Add an Extended DNS Error option (RFC 8914 2): INFO-CODE then UTF-8 EXTRA-TEXT. */
export function addEde(m: Message, infoCode: number, text = ''): void {
  if (!m.edns) return; // RFC 8914 3: EDE rides in OPT, so only EDNS clients get it
  const t = Buffer.from(text, 'utf8');
  const data = Buffer.allocUnsafe(2 + t.length);
  data.writeUInt16BE(infoCode, 0);
  t.copy(data, 2);
  m.edns.options.push({ code: EdnsOption.EDE, data });
}

export function readEde(m: Message): { code: number; text: string }[] {
  return (m.edns?.options ?? [])
    .filter((o) => o.code === EdnsOption.EDE && o.data.length >= 2)
    .map((o) => ({ code: o.data.readUInt16BE(0), text: o.data.subarray(2).toString('utf8') }));
}
