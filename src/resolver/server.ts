/**
 * UDP and TCP listeners (RFC 1035 4.2, RFC 7766) feeding the pipeline.
 *
 * TCP: 2-byte length framing, several queries per connection, answers written
 * as each is ready (out of order is allowed, RFC 7766 6.2.1.1), an idle
 * timeout and a cap on connections.
 */
import type { Socket as UdpSocket, RemoteInfo } from 'node:dgram';
import { createServer, Server as TcpServer, Socket } from 'node:net';
import DgramAsPromised from 'dgram-as-promised';
import type { SocketAsPromised } from 'dgram-as-promised';
import type { Endpoint } from '../config/endpoint.js';
import { Rcode } from '../dns/constants.js';
import { padAnswer, queryIsPadded } from '../dns/padding.js';
import { headerOnlyReply } from '../dns/reply.js';
import type { Channel, RequestContext, TransportKind } from './context.js';
import type { Pipeline } from './pipeline.js';
import { BatchedUdpSocket, chooseUdpIo } from './udp-batch.js';
import type { FastAnswer, UdpImpl, UdpIoSetting } from './udp-batch.js';


export interface ServerOptions {
  listen: Endpoint[];
  tcpIdleTimeoutMs: number;
  tcpMaxConnections: number;
  /**
   * SO_RCVBUF of each UDP listener (server.udp_receive_buffer; 0 = the kernel's default). The
   * default 208 KiB (a few hundred queries) overflows during a stall of the event loop (a full
   * GC, a busy CPU): at 10,000 q/s bench:soak lost 3% of its queries, every one dropped by the
   * kernel at this socket; with 4 MiB, none. Linux caps it at net.core.rmem_max.
   */
  udpReceiveBuffer?: number;
  /** Queries one TCP connection may have in flight at once. */
  tcpMaxInFlight?: number;
  /** Answers what it can straight from the query bytes (fastpath.ts); undefined sends the packet down the pipeline. */
  fastPath?: {
    answer(raw: Buffer, address: string, channel: Channel): Buffer | undefined;
    /** The UDP answer written into the batched listener's output buffer; its length or 0. */
    answerInto?(raw: Buffer, address: string, out: Buffer, at: number): number;
  };
  /** server.udp_io: UDP on the batched addon (udp-batch.ts) where it loads, or on node:dgram. */
  udpIo?: UdpIoSetting;
  /**
   * One UDP socket per worker process (server.workers > 1): the addon binds with SO_REUSEPORT
   * and the kernel spreads datagrams over the workers' sockets. On dgram (and for port 0, which
   * would give each worker a port of its own) the workers share the cluster primary's socket.
   */
  reusePort?: boolean;
}

/** What server.ts needs of a UDP listener, dgram's or the addon's. */
interface UdpListener {
  address(): { address: string; port: number };
  recvBufferSize(): number;
  close(): Promise<void>;
  /** The addon's counters: [wake-ups, batches, datagrams, replies sent, replies not sent]. */
  stats?(): number[];
}

/**
 * Client addresses come from the kernel as numeric strings: the lookup that
 * dgram's send() runs on every destination can answer at once, rather than
 * through dns.lookup's process.nextTick per reply.
 */
function numericLookup(address: string, family: number | object, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, typeof family === 'number' ? family : address.includes(':') ? 6 : 4);
}

export interface ServerEvents {
  onAnswer?(ctx: RequestContext, wire: Buffer | undefined): void;
  onError?(err: Error, ctx: RequestContext): void;
}

export class DnsServer {
  private udp: UdpListener[] = [];
  /** The UDP I/O in use once started, and why it is dgram when it is. */
  udpIo: { impl: UdpImpl; reason?: string } = { impl: 'dgram' };
  private tcp: TcpServer[] = [];
  private readonly conns = new Set<Socket>();
  private inFlight = 0;
  private drained?: () => void;
  private closing = false;

  constructor(private readonly pipeline: () => Pipeline, private readonly opts: ServerOptions, private readonly events: ServerEvents = {}) {}

  /** Addresses actually bound (port 0 resolves to the kernel's choice). */
  get addresses(): { address: string; port: number; transport: TransportKind }[] {
    return [
      ...this.udp.map((s) => ({ ...s.address(), transport: 'udp' as const })),
      ...this.tcp.map((s) => ({ ...(s.address() as { address: string; port: number }), transport: 'tcp' as const })),
    ].map(({ address, port, transport }) => ({ address, port, transport }));
  }

  /** Datagrams the batched addon's listeners received (0 on node:dgram). */
  get batchedDatagrams(): number {
    return this.udp.reduce((n, s) => n + (s.stats?.()[2] ?? 0), 0);
  }

  /** SO_RCVBUF of each UDP listener as the kernel reports it (Linux: twice what was set, for its bookkeeping). */
  get udpReceiveBufferSizes(): number[] {
    return this.udp.map((s) => s.recvBufferSize());
  }

  async start(): Promise<void> {
    this.udpIo = chooseUdpIo(this.opts.udpIo ?? 'auto');
    if (this.udpIo.impl === 'recvmmsg' && this.opts.reusePort && this.opts.listen.some((ep) => ep.port === 0)) {
      this.udpIo = { impl: 'dgram', reason: 'a listener on port 0 with server.workers > 1 (each worker would get a port of its own)' };
    }
    for (const ep of this.opts.listen) {
      // Port 0: the kernel picks the UDP port and TCP takes the same number, which another socket
      // (an upstream query's, a test's) may hold on TCP: then both are tried again on a new port (bounded).
      for (let attempt = 1; ; attempt++) {
        const sock = this.udpIo.impl === 'recvmmsg' ? this.openBatched(ep) : await this.openDgram(ep);
        const port = ep.port === 0 ? sock.address().port : ep.port;
        const srv = createServer({ noDelay: true }, (c) => this.onConnection(c));
        srv.maxConnections = this.opts.tcpMaxConnections;
        try {
          await new Promise<void>((resolve, reject) => {
            srv.once('error', reject);
            srv.listen({ port, host: ep.address, ipv6Only: ep.family === 6 }, () => {
              srv.off('error', reject);
              resolve();
            });
          });
        } catch (e) {
          await sock.close().catch(() => undefined);
          if (ep.port === 0 && (e as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 20) continue;
          throw e;
        }
        this.udp.push(sock);
        this.tcp.push(srv);
        break;
      }
    }
  }

  private async openDgram(ep: Endpoint): Promise<UdpListener> {
    const sock: SocketAsPromised = DgramAsPromised.createSocket({ type: ep.family === 6 ? 'udp6' : 'udp4', ipv6Only: ep.family === 6, lookup: numericLookup as never, ...(this.opts.udpReceiveBuffer ? { recvBufferSize: this.opts.udpReceiveBuffer } : {}) }, (msg, rinfo) => this.onDatagram(sock.socket, msg, rinfo));
    await sock.bind(ep.port, ep.address);
    return { address: () => sock.address(), recvBufferSize: () => sock.socket.getRecvBufferSize(), close: () => sock.close() };
  }

  private openBatched(ep: Endpoint): UdpListener {
    const sock = BatchedUdpSocket.open(ep.family === 6 ? 6 : 4, ep.address, ep.port, { receiveBuffer: this.opts.udpReceiveBuffer ?? 0, reusePort: this.opts.reusePort ?? false });
    const fp = this.opts.fastPath;
    const fast: FastAnswer | undefined = !fp ? undefined : fp.answerInto
      ? (msg, address, out, at) => (this.closing ? 0 : fp.answerInto!(msg, address, out, at))
      : (msg, address, out, at) => {
        const wire = this.closing ? undefined : fp.answer(msg, address, 'udp');
        if (!wire) return 0;
        out.set(wire, at);
        return wire.length;
      };
    sock.start(
      fast,
      (msg, address, port, reply) => {
        if (this.closing) return;
        this.process(this.begin(msg, address, port, 'udp'), (wire) => {
          if (wire) reply(wire);
        });
      },
    );
    return sock;
  }

  private begin(raw: Buffer, address: string, port: number, transport: TransportKind): RequestContext {
    return { raw, client: { address, port }, transport, started: performance.now(), maxSize: 512, notes: {} };
  }

  /** Run the pipeline; `send` is called exactly once, with the reply or undefined (dropped). */
  private process(ctx: RequestContext, send: (wire: Buffer | undefined) => void): void {
    let out: Buffer | undefined | Promise<Buffer | undefined>;
    try {
      out = this.pipeline().run(ctx);
    } catch (e) {
      this.failed(ctx, e as Error, send);
      return;
    }
    if (out instanceof Promise) {
      this.inFlight++;
      out.then(
        (wire) => this.finish(ctx, wire, send),
        (e: Error) => this.failed(ctx, e, send),
      ).finally(() => {
        if (--this.inFlight === 0 && this.drained) this.drained();
      });
    } else {
      this.finish(ctx, out, send);
    }
  }

  /**
   * One query from an encrypted listener (DoT, DoH: src/resolver/encrypted/): the fast path, else the
   * pipeline, with TCP's rules (no size limit, no rate limit). `send` is called exactly once, with
   * the reply or undefined (dropped); synchronously for a fast-path answer. Counted for the drain.
   */
  query(raw: Buffer, client: { address: string; port: number }, channel: 'dot' | 'doh', send: (wire: Buffer | undefined, more?: Buffer[]) => void): void {
    if (this.closing) return send(undefined);
    const fast = this.opts.fastPath?.answer(raw, client.address, channel);
    if (fast) return send(fast);
    const ctx = this.begin(raw, client.address, client.port, 'tcp');
    ctx.channel = channel;
    this.process(ctx, (wire) => send(wire, ctx.moreWires));
  }

  /** A bug, not bad input: log it and still answer SERVFAIL rather than leave the client waiting. */
  private failed(ctx: RequestContext, err: Error, send: (wire: Buffer | undefined) => void): void {
    this.events.onError?.(err, ctx);
    this.finish(ctx, ctx.raw.length >= 12 ? headerOnlyReply(ctx.raw, Rcode.SERVFAIL) : undefined, send);
  }

  private finish(ctx: RequestContext, wire: Buffer | undefined, send: (wire: Buffer | undefined) => void): void {
    send(wire);
    this.events.onAnswer?.(ctx, wire);
  }

  private onDatagram(sock: UdpSocket, msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closing) return;
    const fast = this.opts.fastPath?.answer(msg, rinfo.address, 'udp');
    if (fast) {
      sock.send(fast, rinfo.port, rinfo.address);
      return;
    }
    const ctx = this.begin(msg, rinfo.address, rinfo.port, 'udp');
    this.process(ctx, (wire) => {
      if (wire) sock.send(wire, rinfo.port, rinfo.address);
    });
  }

  /**
   * A stream of length-prefixed messages: a TCP connection, or a DoT one (RFC 7858 3.3: the same
   * framing inside TLS) handed over by the DoT listener once its handshake is done. DoT answers to
   * padded queries are padded (RFC 7830, RFC 8467).
   */
  acceptStream(c: Socket, channel: 'tcp' | 'dot'): void {
    this.onConnection(c, channel);
  }

  private onConnection(c: Socket, channel: 'tcp' | 'dot' = 'tcp'): void {
    if (this.closing) {
      c.destroy();
      return;
    }
    this.conns.add(c);
    const maxInFlight = this.opts.tcpMaxInFlight ?? 32;
    let pending = 0;
    let buf = Buffer.alloc(0);
    /** A frame that cannot be a message was read: the stream is out of sync, nothing more is read. */
    let broken = false;
    c.setTimeout(this.opts.tcpIdleTimeoutMs, () => c.end());
    c.on('error', () => c.destroy());
    c.on('close', () => this.conns.delete(c));
    const write = (wire: Buffer) => {
      const frame = Buffer.allocUnsafe(2 + wire.length);
      frame.writeUInt16BE(wire.length, 0);
      wire.copy(frame, 2);
      c.write(frame);
    };
    // end() flushes the answers already written; a client that never closes its side is cut off.
    const closeBroken = () => {
      c.end();
      setTimeout(() => c.destroy(), 1000).unref();
    };
    const send = (wire: Buffer | undefined, more?: Buffer[]) => {
      pending--;
      if (c.destroyed) return;
      if (wire) {
        write(wire);
        if (more) for (const w of more) write(w);
      }
      if (broken) {
        if (pending === 0) closeBroken();
      } else if (c.isPaused() && pending < maxInFlight) c.resume();
    };
    c.on('data', (chunk) => {
      if (broken) return;
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const raw = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        if (len < 12) {
          // RFC 7766 8: a frame that cannot be a message; the stream is out of sync. Close,
          // but only once the answers to the queries before it have gone out.
          broken = true;
          buf = Buffer.alloc(0);
          if (pending === 0) closeBroken();
          else c.pause();
          return;
        }
        const pad = channel === 'dot' && queryIsPadded(raw);
        const fast = this.opts.fastPath?.answer(raw, c.remoteAddress ?? '', channel);
        if (fast) {
          write(pad ? padAnswer(fast) : fast);
          continue;
        }
        pending++;
        const ctx = this.begin(raw, c.remoteAddress ?? '', c.remotePort ?? 0, 'tcp');
        if (channel !== 'tcp') ctx.channel = channel;
        this.process(ctx, (wire) => send(wire && pad ? padAnswer(wire) : wire, ctx.moreWires));
      }
      if (pending >= maxInFlight) c.pause(); // back-pressure: stop reading until answers go out
    });
  }

  /** Stop accepting; wait (bounded) for in-flight answers; close everything. */
  async stop(drainMs = 5000): Promise<void> {
    this.closing = true;
    for (const s of this.tcp) s.close();
    if (this.inFlight > 0) {
      await Promise.race([
        new Promise<void>((r) => { this.drained = r; }),
        new Promise<void>((r) => setTimeout(r, drainMs).unref()),
      ]);
    }
    for (const c of this.conns) c.end();
    await Promise.all(this.udp.map((s) => s.close().catch(() => undefined)));
    for (const c of this.conns) c.destroy();
    this.udp = [];
    this.tcp = [];
  }
}
