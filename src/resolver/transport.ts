/**
 * Upstream transport: one question to one server, over UDP with fallback to
 * TCP on truncation (RFC 1035 4.2.1, RFC 7766) and to plain DNS when a server
 * rejects EDNS (RFC 6891 7).
 *
 * Anti-spoofing (RFC 5452): every query leaves from a socket of a rotating pool
 * (a random port chosen by the kernel, one query per socket at a time, the
 * socket picked with a CSPRNG: udp-pool.ts), with a random ID from a CSPRNG and
 * a 0x20 mixed-case question; a reply must match address, port, ID and the
 * exact question bytes, anything else is ignored and counted while we keep
 * waiting for the real one.
 */
import { randomBytes } from 'node:crypto';
import { isIP, Socket } from 'node:net';
import { Rcode } from '../dns/constants.js';
import { makeEdns } from '../dns/edns.js';
import { decodeMessage, encodeMessage, makeQuery } from '../dns/message.js';
import type { Message } from '../dns/message.js';
import type { Name } from '../dns/name.js';
import { randomizeCase } from '../dns/name.js';
import { DotClient } from './dot-client.js';
import { UdpPool } from './udp-pool.js';
import type { Family, Lease, PoolOptions } from './udp-pool.js';

export interface UpstreamQuestion {
  address: string;
  port?: number;
  name: Name;
  type: number;
  timeoutMs: number;
  /** Recursion desired: set for forwarders (forward zones), never for authoritative servers. */
  rd?: boolean;
  /** DNS over TLS (RFC 7858) instead of UDP/TCP, to a forwarder that offers it. */
  tls?: { servername?: string; ca?: Buffer };
}

export interface UpstreamReply {
  message: Message;
  rttMs: number;
  /** The question name exactly as sent (0x20 case). */
  sentName: Name;
  tcp: boolean;
}

export class UpstreamError extends Error {
  constructor(readonly code: 'VERDICT_ERR_TIMEOUT' | 'VERDICT_ERR_NETWORK' | 'VERDICT_ERR_BAD_REPLY', message: string) {
    super(message);
  }
}

/** The network as the iterator sees it; tests script their own. */
export interface Transport {
  query(q: UpstreamQuestion): Promise<UpstreamReply>;
}

export interface TransportStats {
  queries: number;
  timeouts: number;
  mismatched: number;
  tcpFallbacks: number;
  ednsFallbacks: number;
}

// Random bytes come from a pooled CSPRNG buffer: one syscall per 4 KiB, not per query.
let pool = Buffer.alloc(0);
let poolPos = 0;
function random(n: number): Buffer {
  if (poolPos + n > pool.length) {
    pool = randomBytes(4096);
    poolPos = 0;
  }
  const out = pool.subarray(poolPos, poolPos + n);
  poolPos += n;
  return out;
}

function sameQuestion(reply: Message, name: Name, type: number): boolean {
  const q = reply.questions[0];
  return reply.questions.length === 1 && q!.type === type && q!.name.equals(name);
}

export class NetTransport implements Transport {
  readonly stats: TransportStats = { queries: 0, timeouts: 0, mismatched: 0, tcpFallbacks: 0, ednsFallbacks: 0 };
  /** Servers that rejected EDNS: asked without it from then on (bounded). */
  private readonly noEdns = new Set<string>();
  /** Connections to DNS-over-TLS forwarders, reused across queries. */
  readonly dot = new DotClient();

  /** The pre-opened, rotating source sockets (udp-pool.ts: their entropy). */
  readonly pool: UdpPool;

  constructor(private readonly ednsUdpSize = 1232, pool: PoolOptions = { size: 256, usesPerSocket: 16 }) {
    this.pool = new UdpPool(pool);
  }

  /** Closes the idle sockets; queries in flight finish on theirs. */
  close(): void {
    this.pool.close();
  }

  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    const port = q.port ?? 53;
    const sentName = randomizeCase(q.name, random(8));
    const useEdns = !this.noEdns.has(q.address);
    const rd = q.rd ?? false;
    const started = performance.now();
    if (q.tls) {
      this.stats.queries++;
      const id = random(2).readUInt16BE(0);
      const message = await this.dot.query(q.address, port, q.tls, id, this.queryBytes(id, sentName, q.type, true, rd), sentName, q.type, q.timeoutMs).catch((e: unknown) => {
        if ((e as UpstreamError).code === 'VERDICT_ERR_TIMEOUT') this.stats.timeouts++;
        throw e;
      });
      return { message, rttMs: performance.now() - started, sentName, tcp: true };
    }
    let reply = await this.udp(q.address, port, sentName, q.type, useEdns, q.timeoutMs, rd);
    let tcp = false;
    if (useEdns && (reply.rcode === Rcode.FORMERR || reply.rcode === Rcode.NOTIMP) && !reply.edns) {
      // RFC 6891 7: a server that does not understand OPT; ask again without it.
      this.stats.ednsFallbacks++;
      if (this.noEdns.size > 10_000) this.noEdns.clear();
      this.noEdns.add(q.address);
      reply = await this.udp(q.address, port, sentName, q.type, false, q.timeoutMs, rd);
    }
    if (reply.tc) {
      this.stats.tcpFallbacks++;
      reply = await this.tcp(q.address, port, sentName, q.type, !this.noEdns.has(q.address), q.timeoutMs, rd);
      tcp = true;
    }
    return { message: reply, rttMs: performance.now() - started, sentName, tcp };
  }

  private queryBytes(id: number, name: Name, type: number, edns: boolean, rd: boolean): Buffer {
    // DO on every query (RFC 4035 4.1): the validator needs the signatures, and DO clients get them.
    return encodeMessage(makeQuery(id, name, type, { rd, edns: edns ? makeEdns(this.ednsUdpSize, true) : undefined }));
  }

  private udp(address: string, port: number, name: Name, type: number, edns: boolean, timeoutMs: number, rd: boolean): Promise<Message> {
    this.stats.queries++;
    const family: Family = isIP(address) === 6 ? 'udp6' : 'udp4';
    const lease = this.pool.acquire(family);
    const ask = (l: Lease) => this.ask(family, l, address, port, name, type, edns, timeoutMs, rd);
    // An idle socket is there at once: no promise until the answer's own.
    return lease instanceof Promise
      ? lease.then(ask, (e: Error) => { throw new UpstreamError('VERDICT_ERR_NETWORK', `${address}: ${e.message}`); })
      : ask(lease);
  }

  /** One question on a leased socket; the lease goes back to the pool when it settles. */
  private ask(family: Family, lease: Lease, address: string, port: number, name: Name, type: number, edns: boolean, timeoutMs: number, rd: boolean): Promise<Message> {
    const id = random(2).readUInt16BE(0);
    return new Promise<Message>((resolve, reject) => {
      let settled = false;
      const settle = (r: Message | UpstreamError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.pool.release(family, lease);
        if (r instanceof UpstreamError) reject(r);
        else resolve(r);
      };
      const timer = setTimeout(() => {
        this.stats.timeouts++;
        settle(new UpstreamError('VERDICT_ERR_TIMEOUT', `no answer from ${address} in ${timeoutMs} ms`));
      }, timeoutMs);
      // Every datagram is judged, not only the first: forgeries may arrive in bursts before the real answer.
      lease.onMessage = (msg, rinfo) => {
        if (rinfo.address !== address || rinfo.port !== port || msg.length < 12 || msg.readUInt16BE(0) !== id) {
          this.stats.mismatched++;
          return;
        }
        let m: Message;
        try {
          m = decodeMessage(msg);
        } catch {
          this.stats.mismatched++;
          return; // a malformed datagram is no answer; keep waiting
        }
        if (!m.qr || !sameQuestion(m, name, type)) {
          this.stats.mismatched++;
          return;
        }
        settle(m);
      };
      lease.socket.send(this.queryBytes(id, name, type, edns, rd), port, address, (err) => {
        if (err) settle(new UpstreamError('VERDICT_ERR_NETWORK', `${address}: ${err.message}`));
      });
    });
  }

  private tcp(address: string, port: number, name: Name, type: number, edns: boolean, timeoutMs: number, rd: boolean): Promise<Message> {
    this.stats.queries++;
    const id = random(2).readUInt16BE(0);
    const q = this.queryBytes(id, name, type, edns, rd);
    return new Promise((resolve, reject) => {
      const sock = new Socket();
      let buf = Buffer.alloc(0);
      // An absolute deadline, not socket.setTimeout(): that one is an idle timer, and a
      // server dripping one byte at a time would keep it from ever firing.
      const timer = setTimeout(() => {
        this.stats.timeouts++;
        fail(new UpstreamError('VERDICT_ERR_TIMEOUT', `no TCP answer from ${address} in ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (e: UpstreamError) => { clearTimeout(timer); sock.destroy(); reject(e); };
      sock.on('error', (e) => fail(new UpstreamError('VERDICT_ERR_NETWORK', `${address}: ${e.message}`)));
      sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2) {
          const len = buf.readUInt16BE(0);
          if (buf.length < 2 + len) return;
          const frame = buf.subarray(2, 2 + len);
          buf = buf.subarray(2 + len);
          try {
            const m = decodeMessage(frame);
            if (m.id === id && m.qr && sameQuestion(m, name, type)) {
              clearTimeout(timer);
              sock.destroy();
              resolve(m);
              return;
            }
            this.stats.mismatched++;
          } catch (e) {
            fail(new UpstreamError('VERDICT_ERR_BAD_REPLY', `${address}: ${(e as Error).message}`));
            return;
          }
        }
      });
      sock.connect(port, address, () => {
        const frame = Buffer.allocUnsafe(2 + q.length);
        frame.writeUInt16BE(q.length, 0);
        q.copy(frame, 2);
        sock.write(frame);
      });
    });
  }
}
