/** A minimal DNS client for tests: raw bytes over UDP or TCP to a loopback server, bounded by a timeout. */
import { createSocket } from 'node:dgram';
import { Socket } from 'node:net';
import { decodeMessage, encodeMessage, makeQuery } from '../../src/dns/message.js';
import type { Edns, Message } from '../../src/dns/message.js';
import { nameFromText } from '../../src/dns/name.js';

export function udpExchange(raw: Buffer, port: number, address = '127.0.0.1', timeoutMs = 2000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    const t = setTimeout(() => { s.close(); resolve(undefined); }, timeoutMs);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m); });
    s.send(raw, port, address);
  });
}

export function tcpExchange(raws: Buffer[], port: number, address = '127.0.0.1', timeoutMs = 3000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const c = new Socket();
    const t = setTimeout(() => { c.destroy(); resolve(out); }, timeoutMs);
    c.on('error', reject);
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === raws.length) { clearTimeout(t); c.destroy(); resolve(out); }
    });
    c.connect(port, address, () => {
      for (const r of raws) {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(r.length);
        c.write(Buffer.concat([len, r]));
      }
    });
  });
}

export async function ask(name: string, type: number, port: number, opts: { tcp?: boolean; rd?: boolean; cd?: boolean; edns?: Edns; address?: string; id?: number } = {}): Promise<Message> {
  const q = encodeMessage(makeQuery(opts.id ?? 4242, nameFromText(name), type, { rd: opts.rd ?? true, edns: opts.edns, ...(opts.cd ? { cd: true } : {}) }));
  const addr = opts.address ?? '127.0.0.1';
  const raw = opts.tcp ? (await tcpExchange([q], port, addr))[0] : await udpExchange(q, port, addr);
  if (!raw) throw new Error(`no answer for ${name}`);
  return decodeMessage(raw);
}
