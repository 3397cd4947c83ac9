/**
 * Target (a): the server over real UDP and TCP sockets on loopback.
 *
 * A Verdict runs in this process with its real pipeline (decode, access,
 * policy with an RPZ zone and the court orders, ANY, answer cache, iterator,
 * respond) and a scripted upstream. Each batch sends fuzzed datagrams and
 * TCP streams (pipelined frames, random chunking, lying lengths, partial
 * frames), then checks every reply and that a good query is still answered
 * over both transports.
 *
 * A reply must decode, have QR=1 and the ID of a query we sent; over UDP it
 * must fit 1232 bytes, 512 without OPT, and come once. Silence is allowed only
 * where the server is meant to be silent (shorter than a header, QR=1, after a
 * frame that desynchronises the TCP stream); other silence is counted.
 * An exception caught by the server's last-resort handler (logged at error
 * level) is a crash: it means the pipeline threw.
 */
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfigText } from '../../src/config/load.js';
import { Rcode, Type } from '../../src/dns/constants.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery } from '../../src/dns/message.js';
import type { Message } from '../../src/dns/message.js';
import { nameFromText } from '../../src/dns/name.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../../src/resolver/transport.js';
import { Verdict } from '../../src/resolver/verdict.js';
import { REPO } from '../corpus.js';
import { inputRng } from '../rng.js';
import type { Rng } from '../rng.js';
import { describe } from '../target.js';
import type { Counters, Finding, Target, TargetContext } from '../target.js';
import { genQuery, mutateWire, tryEncode } from '../wire.js';

const ZONES = ['fuzz.test.', 'wild.fuzz.test.', 'example.com.', 'dpstream.tv.', 'allostreaming.com.', '.'].map((z) => nameFromText(z));

/**
 * The internet behind the server, answering at once: an A record for most
 * names, NXDOMAIN under "nx*", a CNAME for "c*", 40 records for "big*" (UDP
 * truncation), NODATA for other types; 203.0.113.66 for "bad*" (rpz-ip).
 */
export class InstantUpstream implements Transport {
  queries = 0;
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    this.queries++;
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    const first = q.name[0] ? q.name.subarray(1, 1 + q.name[0]).toString('latin1').toLowerCase() : '';
    const soa = { name: q.name, type: Type.SOA, class: 1, ttl: 60, rdata: Buffer.concat([nameFromText('ns.fuzz.test.'), nameFromText('h.fuzz.test.'), Buffer.alloc(20, 1)]) };
    if (first.startsWith('nx')) {
      m.rcode = Rcode.NXDOMAIN;
      m.authorities.push(soa);
    } else if (first.startsWith('c') && q.type !== Type.CNAME) {
      m.answers.push({ name: q.name, type: Type.CNAME, class: 1, ttl: 60, rdata: nameFromText('www.fuzz.test.') });
    } else if (q.type === Type.A) {
      const count = first.startsWith('big') ? 40 : 1;
      const ip = first.startsWith('bad') ? [203, 0, 113, 66] : [192, 0, 2, 1];
      for (let i = 0; i < count; i++) m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 60, rdata: Buffer.from([ip[0]!, ip[1]!, ip[2]!, count > 1 ? i : ip[3]!]) });
    } else {
      m.authorities.push(soa);
    }
    return { message: m, rttMs: 1, sentName: q.name, tcp: false };
  }
}

const CONFIG = `
server: { listen: ["127.0.0.1:0"], allow: ["127.0.0.0/8"], tcp_idle_timeout_ms: 2000, tcp_max_connections: 256 }
resolver: { qname_minimisation: true, upstream_timeout_ms: 200, query_timeout_ms: 2000 }
cache: { max_entries: 5000 }
rpz:
  zones:
    - { name: court-orders.rpz }
    - { name: fuzz.rpz, file: fuzz/server.rpz }
orders: { files: ["config/orders/*.yaml"] }
log: { level: error, policy_hits: false }
control: { enabled: false }
mirrors: { enabled: false }
# The scripted internet is unsigned: no trust anchor would validate it.
dnssec: { validation: false }
`;

type Channel = 'udp' | 'tcp';

/** One fuzzed query: its bytes, and whether the server must answer it. */
function makeInput(rng: Rng, ctx: TargetContext): Buffer {
  const k = rng.int(100);
  if (k < 55) return mutateWire(rng, rng.pick(ctx.corpus.queries), rng.pick(ctx.corpus.queries));
  if (k < 92) {
    const wire = tryEncode(genQuery(rng, ZONES)) ?? rng.pick(ctx.corpus.queries);
    return rng.chance(0.3) ? mutateWire(rng, wire, rng.pick(ctx.corpus.queries)) : wire;
  }
  return rng.bytes(rng.pick([0, 1, 2, 11, 12, 13, 40, 512, 1500, rng.int(700)]));
}

/** The server answers a datagram unless it is shorter than a header or is itself a response. */
function mustAnswer(b: Buffer): boolean {
  return b.length >= 12 && (b[2]! & 0x80) === 0;
}

/** `ids`: the IDs we sent, or undefined when a lying length desynchronised a TCP stream (any bytes may then be read as an ID). */
function checkReply(wire: Buffer, ids: Set<number> | undefined, udp: boolean, c: Counters): string | undefined {
  let m: Message;
  try {
    m = decodeMessage(wire);
  } catch (e) {
    return `reply does not decode (${(e as Error).message}): ${wire.toString('base64')}`;
  }
  if (!m.qr) return 'reply without QR';
  if (ids && !ids.has(m.id)) return `reply with an ID we did not send: ${m.id}`;
  if (udp && wire.length > 1232) return `UDP reply of ${wire.length} bytes`;
  if (udp && !m.edns && wire.length > 512) return `UDP reply without OPT of ${wire.length} bytes`;
  // Answered (NOERROR, NXDOMAIN) or refused the documented way (FORMERR, SERVFAIL, NOTIMP, REFUSED...).
  if (m.rcode === Rcode.NOERROR || m.rcode === Rcode.NXDOMAIN) c.accepted++;
  else c.rejected++;
  return undefined;
}

/** Wait (bounded) until `done()` or `ms` have passed. */
async function until(done: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!done() && performance.now() < end) await new Promise((r) => setTimeout(r, 2));
}

export async function serverTarget(ctx: TargetContext): Promise<Target & { port: number }> {
  const errors: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { errors.push(String(chunk)); cb(); } });
  const config = parseConfigText(CONFIG, join(REPO, 'fuzz', 'server.yaml'));
  const v = new Verdict({ config, file: join(REPO, 'fuzz', 'server.yaml'), baseDir: REPO }, {
    transport: new InstantUpstream(),
    rootHints: [{ name: 'a.root.fuzz', address: '198.51.100.1' }],
    logger: pino({ level: 'error' }, sink),
  });
  await v.start();
  const port = v.server.addresses[0]!.port;
  // On the batched UDP addon unless VERDICT_UDP_IO=dgram (or it is not built): count what it received.
  let lastBatched = 0;
  const batchedSince = () => {
    const d = v.server.batchedDatagrams - lastBatched;
    lastBatched += d;
    return d;
  };
  const client: UdpSocket = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  let onUdp: (m: Buffer) => void = () => undefined;
  client.on('message', (m) => onUdp(m));
  let nextId = 1;

  async function udpBatch(inputs: { i: number; b: Buffer }[], report: (f: Finding) => void, c: Counters): Promise<void> {
    const ids = new Set<number>();
    const seen = new Set<number>();
    const byId = new Map<number, number>();
    let expected = 0;
    let got = 0;
    onUdp = (m) => {
      c.replies++;
      const id = m.length >= 2 ? m.readUInt16BE(0) : -1;
      const bad = checkReply(m, ids, true, c) ?? (seen.has(id) ? `two replies to one query (ID ${id})` : undefined);
      seen.add(id);
      if (bad) report({ kind: 'invalid', target: 'server', index: byId.get(id) ?? inputs[0]!.i, detail: `udp: ${bad}`, input: inputs.find((x) => x.i === byId.get(id))?.b.toString('base64') });
      got++;
    };
    for (const { i, b } of inputs) {
      if (b.length >= 2) {
        const id = nextId++ & 0xffff;
        b.writeUInt16BE(id, 0);
        ids.add(id);
        byId.set(id, i);
      }
      if (mustAnswer(b)) expected++;
      client.send(b, port, '127.0.0.1');
      c.inputs++;
    }
    await until(() => got >= expected, 3000);
    await new Promise((r) => setTimeout(r, 5)); // a late extra reply still gets checked
    c.batchedUdp = (c.batchedUdp ?? 0) + batchedSince();
    c.dropped += inputs.length - got;
    if (got < expected) {
      c.unanswered = (c.unanswered ?? 0) + expected - got;
      if (process.env.FUZZ_DEBUG) for (const { b } of inputs) if (mustAnswer(b) && !seen.has(b.readUInt16BE(0))) console.error('unanswered udp', b.toString('base64'));
    }
    onUdp = () => undefined;
  }

  async function tcpConnection(rng: Rng, inputs: { i: number; b: Buffer }[], report: (f: Finding) => void, c: Counters): Promise<void> {
    const ids = new Set<number>();
    const mode = rng.int(100) < 70 ? 'pipeline' : rng.chance(0.5) ? 'bad-length' : 'partial';
    const frames: Buffer[] = [];
    let expected = 0;
    let synced = true;
    let lied = false;
    for (const { b } of inputs) {
      if (b.length >= 2) {
        const id = nextId++ & 0xffff;
        b.writeUInt16BE(id, 0);
        ids.add(id);
      }
      const len = Buffer.alloc(2);
      // Now and then a length that lies: the stream is out of sync from here on.
      const lie = mode === 'pipeline' && rng.chance(0.03);
      len.writeUInt16BE(lie ? rng.pick([b.length + 1, Math.max(0, b.length - 1), 0, 1, 11, 0xffff]) : b.length);
      if (lie) {
        synced = false;
        lied = true;
      }
      if (synced && b.length < 12) synced = false; // the server closes: RFC 7766 8
      if (synced && mustAnswer(b)) expected++;
      frames.push(len, b);
      c.inputs++;
    }
    if (mode === 'bad-length') {
      frames.push(Buffer.from([0xff, 0xff]), rng.bytes(rng.int(20)));
    }
    let stream = Buffer.concat(frames);
    if (mode === 'partial') {
      stream = stream.subarray(0, rng.pick([1, 2, 3, 13, Math.floor(stream.length / 2)]));
      expected = 0;
    }
    const sock = new Socket();
    let buf = Buffer.alloc(0);
    let got = 0;
    let closed = false;
    sock.on('error', () => undefined);
    sock.on('close', () => { closed = true; });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const frame = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + frame.length);
        got++;
        c.replies++;
        const bad = checkReply(frame, lied ? undefined : ids, false, c);
        if (bad) report({ kind: 'invalid', target: 'server', index: inputs[0]!.i, detail: `tcp ${mode}: ${bad}`, input: JSON.stringify(inputs.map((x) => x.b.toString('base64'))) });
      }
    });
    await new Promise<void>((resolve) => {
      sock.connect(port, '127.0.0.1', resolve);
      setTimeout(resolve, 1000);
    });
    // Random chunking: a frame may arrive in pieces, several frames in one piece.
    for (let o = 0; o < stream.length && !closed;) {
      const n = rng.chance(0.5) ? stream.length - o : rng.range(1, 64);
      sock.write(stream.subarray(o, o + n));
      o += n;
      if (rng.chance(0.2)) await new Promise((r) => setImmediate(r));
    }
    await until(() => got >= expected || closed, 3000);
    if (mode === 'partial') await new Promise((r) => setTimeout(r, 2));
    if (!synced || mode !== 'pipeline') await new Promise((r) => setTimeout(r, 5));
    c.dropped += Math.max(0, inputs.length - got);
    if (got < expected) {
      c.unanswered = (c.unanswered ?? 0) + expected - got;
      if (process.env.FUZZ_DEBUG) console.error('unanswered tcp', mode, expected, got, closed, inputs.map((x) => x.b.toString('base64')).join(' '));
    }
    sock.destroy();
  }

  /** A good query must still be answered, over UDP and over TCP. */
  async function healthy(): Promise<string | undefined> {
    const q = encodeMessage(makeQuery(0xbeef, nameFromText('www.fuzz.test.'), Type.A, { rd: true }));
    const udp = await new Promise<Buffer | undefined>((resolve) => {
      const s = createSocket('udp4');
      const t = setTimeout(() => { s.close(); resolve(undefined); }, 2000);
      s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m); });
      s.send(q, port, '127.0.0.1');
    });
    const tcp = await new Promise<Buffer | undefined>((resolve) => {
      const s = new Socket();
      let buf = Buffer.alloc(0);
      const t = setTimeout(() => { s.destroy(); resolve(undefined); }, 2000);
      s.on('error', () => { clearTimeout(t); resolve(undefined); });
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { clearTimeout(t); s.destroy(); resolve(buf.subarray(2, 2 + buf.readUInt16BE(0))); }
      });
      s.connect(port, '127.0.0.1', () => s.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q])));
    });
    for (const [t, r] of [['udp', udp], ['tcp', tcp]] as const) {
      if (!r) return `no ${t} answer to a good query`;
      const m = decodeMessage(r);
      if (m.rcode !== Rcode.NOERROR || m.answers.length !== 1) return `${t} answer to a good query: rcode ${m.rcode}, ${m.answers.length} answers`;
    }
    return undefined;
  }

  return {
    port,
    batchSize: 200,
    async batch(first, count, mark, report, c) {
      const udp: { i: number; b: Buffer }[] = [];
      const tcp: { i: number; b: Buffer }[] = [];
      for (let i = first; i < first + count; i++) {
        const rng = inputRng(ctx.seed, i);
        const ch: Channel = rng.chance(0.6) ? 'udp' : 'tcp';
        (ch === 'udp' ? udp : tcp).push({ i, b: Buffer.from(makeInput(rng, ctx)) });
      }
      mark(first);
      await udpBatch(udp, report, c);
      const rng = inputRng(ctx.seed ^ 0x5eed, first);
      for (let k = 0; k < tcp.length;) {
        const n = rng.chance(0.8) ? rng.range(1, 10) : rng.range(20, 60);
        const conn = tcp.slice(k, k + n);
        mark(conn[0]!.i);
        await tcpConnection(rng, conn, report, c);
        k += n;
      }
      for (const e of errors.splice(0)) {
        report({ kind: 'crash', target: 'server', index: first, detail: `the pipeline threw (caught by the server): ${e.slice(0, 2000)}` });
      }
      mark(first + count - 1);
      let bad: string | undefined;
      try {
        bad = await healthy();
      } catch (e) {
        bad = describe(e);
      }
      if (bad) report({ kind: 'hang', target: 'server', index: first + count - 1, detail: `after batch ${first}..${first + count - 1}: ${bad}` });
    },
    async close() {
      client.close();
      await v.stop();
    },
  };
}

