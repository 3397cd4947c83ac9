/**
 * DNS over HTTPS (RFC 8484): HTTP/2 with HTTP/1.1 fallback (node:http2,
 * allowHTTP1), on one path. GET carries the query base64url-encoded in `?dns=`
 * (4.1), POST carries it as an `application/dns-message` body. Answers are 200
 * with a Cache-Control max-age of the answer's smallest TTL (5.1). A request
 * that is not a DNS query gets a status and a fixed short text, never an echo
 * of what it sent: 404 (other path), 405 (other method), 400 (no or bad
 * `dns`, not a DNS message), 413 (larger than a DNS message can be), 415
 * (other content type), 408 (not received in time).
 *
 * Slow clients (slowloris): each request must arrive whole within
 * doh_request_timeout_ms; a connection with no request open and none answered
 * for the idle timeout is closed, even if it trickles bytes (a HEADERS frame
 * sent a byte at a time never becomes a request); the handshake has its own
 * timeout; HTTP/2 streams per connection are capped (SETTINGS_MAX_CONCURRENT_STREAMS).
 */
import { constants as h2, createSecureServer } from 'node:http2';
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { padAnswer, queryIsPadded } from '../../dns/padding.js';
import { smallestTtl } from '../../dns/wire-walk.js';

/** The largest DNS message (RFC 1035 4.2.2's 16-bit length); a body past it is 413. */
export const MAX_DNS_MESSAGE = 65535;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export interface DohOptions {
  path: string;
  cert: Buffer;
  key: Buffer;
  maxStreams: number;
  maxConnections: number;
  idleTimeoutMs: number;
  requestTimeoutMs: number;
  handshakeTimeoutMs: number;
  ticketKeys?: Buffer;
  /** Answer one query: `send` is called once, with the reply or undefined (dropped). */
  query(raw: Buffer, client: { address: string; port: number }, send: (wire: Buffer | undefined) => void): void;
  onStatus?(status: number): void;
  onHandshakeFailure?(): void;
}

type Req = Http2ServerRequest | IncomingMessage;
type Res = Http2ServerResponse | ServerResponse;

interface ConnState {
  socket: TLSSocket;
  open: number;
  last: number;
}

export class DohListener {
  readonly server: Http2SecureServer;
  /** Connections by "address port" (the compat layer hands requests a proxy of the socket, not the socket). */
  private readonly conns = new Map<string, ConnState>();
  private sweeper?: NodeJS.Timeout;
  /** Sessions with an answer written this turn of the event loop, and the answers waiting (paced). */
  private readonly pacing = new WeakMap<Http2Session, (() => void)[]>();

  constructor(private readonly opts: DohOptions) {
    this.server = createSecureServer({
      cert: opts.cert,
      key: opts.key,
      allowHTTP1: true,
      // Nagle would hold an answer written in two pieces for the client's delayed ACK (~40 ms).
      noDelay: true,
      minVersion: 'TLSv1.2',
      handshakeTimeout: opts.handshakeTimeoutMs,
      settings: { maxConcurrentStreams: opts.maxStreams },
      ...(opts.ticketKeys ? { ticketKeys: opts.ticketKeys } : {}),
    }, (req, res) => this.onRequest(req, res));
    this.server.maxConnections = opts.maxConnections;
    this.server.on('secureConnection', (socket: TLSSocket) => {
      const key = `${socket.remoteAddress} ${socket.remotePort}`;
      this.conns.set(key, { socket, open: 0, last: performance.now() });
      socket.on('close', () => this.conns.delete(key));
    });
    this.server.on('tlsClientError', (_err, socket) => {
      opts.onHandshakeFailure?.();
      socket.destroy();
    });
    // A session error (a protocol violation by the client) closes that connection only.
    this.server.on('sessionError', () => undefined);
    this.server.on('session', (session) => session.on('error', () => undefined));
  }

  async listen(port: number, host: string, ipv6Only: boolean): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, ipv6Only }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const every = Math.max(100, Math.min(1000, this.opts.idleTimeoutMs / 4));
    this.sweeper = setInterval(() => this.sweep(), every).unref();
  }

  /** Close connections with nothing open and nothing answered for the idle timeout. */
  private sweep(): void {
    const now = performance.now();
    for (const c of this.conns.values()) {
      if (c.open === 0 && now - c.last > this.opts.idleTimeoutMs) {
        c.socket.end();
        setTimeout(() => c.socket.destroy(), 1000).unref();
      }
    }
  }

  private reply(req: Req, res: Res, status: number, body?: Buffer, headers: Record<string, string | number> = {}): void {
    this.opts.onStatus?.(status);
    if (res.headersSent || res.writableEnded) return;
    const content = body ?? Buffer.from(`${status} ${statusText(status)}\n`);
    const h: Record<string, string | number> = {
      'content-type': body ? 'application/dns-message' : 'text/plain; charset=utf-8',
      'content-length': content.length,
      ...headers,
    };
    if ('stream' in req) {
      const stream = req.stream;
      // Answers are paced; an error goes at once (the 408 path destroys the stream right after).
      this.paced(status === 200 ? stream.session : undefined, () => {
        if (stream.destroyed || stream.headersSent) return;
        // The core API: HEADERS, then the body in one DATA frame that carries END_STREAM. The
        // compat layer's res.end(body) sends the body, then an empty DATA frame with END_STREAM
        // (it waits for trailers), which dnsperf 2.10 (-m doh) fails on: "frame received when
        // already having a dns msg".
        stream.respond({ ':status': status, ...h });
        stream.end(content);
        if (status >= 400 && status !== 405 && status !== 404) {
          // Stop the client's body, if any is still coming, without touching the other streams.
          stream.once('finish', () => { if (!stream.closed) stream.close(h2.NGHTTP2_NO_ERROR); });
        }
      });
      return;
    }
    // HTTP/1.1: after an error the rest of the request may still be arriving; close rather than read it.
    if (status >= 400) h.connection = 'close';
    res.writeHead(status, h);
    res.end(content);
  }

  /**
   * Run `respond` for a stream of `session` at most once per turn of the event loop: node's HTTP/2
   * session writes whatever was queued in one turn as one write, hence one TLS record, and
   * dnsperf 2.10 (-m doh) reads one answer per TLS record: the others in that record are lost
   * (its net_doh.c pauses nghttp2 on the second answer and drops the paused chunk). BIND and
   * Unbound write each answer on its own; so does Verdict this way. One answer per connection
   * is written at once; others ready in the same turn follow, one per turn (a few microseconds
   * each), and answers to different connections are not held.
   */
  private paced(session: Http2Session | undefined, respond: () => void): void {
    if (!session) return respond();
    const queue = this.pacing.get(session);
    if (queue) {
      queue.push(respond);
      return;
    }
    respond();
    const q: (() => void)[] = [];
    this.pacing.set(session, q);
    const next = () => {
      const fn = q.shift();
      if (!fn || session.destroyed) {
        this.pacing.delete(session);
        return;
      }
      fn();
      setImmediate(next);
    };
    setImmediate(next);
  }

  private onRequest(req: Req, res: Res): void {
    const conn = this.conns.get(`${req.socket.remoteAddress} ${req.socket.remotePort}`);
    if (conn) {
      conn.open++;
      res.once('close', () => {
        conn.open--;
        conn.last = performance.now();
      });
    }
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path !== this.opts.path) return this.reply(req, res, 404);
    const client = { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 };
    if (req.method === 'GET') {
      const dns = new URLSearchParams(q < 0 ? '' : url.slice(q + 1)).get('dns');
      // RFC 8484 4.1: base64url without padding; trailing '=' is tolerated.
      const text = dns?.replace(/=+$/, '');
      if (!text || !BASE64URL.test(text)) return this.reply(req, res, 400);
      const raw = Buffer.from(text, 'base64url');
      if (raw.length > MAX_DNS_MESSAGE) return this.reply(req, res, 413);
      return this.answer(req, res, raw, client);
    }
    if (req.method !== 'POST') return this.reply(req, res, 405, undefined, { allow: 'GET, POST' });
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/dns-message') return this.reply(req, res, 415);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_DNS_MESSAGE) return this.reply(req, res, 413);
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const timer = setTimeout(() => {
      finished = true;
      this.reply(req, res, 408);
      req.destroy();
    }, this.opts.requestTimeoutMs);
    timer.unref();
    const stop = () => {
      finished = true;
      clearTimeout(timer);
      req.removeAllListeners('data');
      req.resume();
    };
    req.on('data', (chunk: Buffer) => {
      if (finished) return;
      size += chunk.length;
      if (size > MAX_DNS_MESSAGE) {
        stop();
        this.reply(req, res, 413);
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      if (finished) return;
      stop();
      this.answer(req, res, Buffer.concat(chunks, size), client);
    });
    req.once('error', () => clearTimeout(timer));
    res.once('close', () => clearTimeout(timer));
  }

  private answer(req: Req, res: Res, raw: Buffer, client: { address: string; port: number }): void {
    // Shorter than a header, or a response (QR=1): not a query (RFC 8484 4.2.1: 400 for what cannot be processed).
    if (raw.length < 12 || (raw[2]! & 0x80) !== 0) return this.reply(req, res, 400);
    const pad = queryIsPadded(raw);
    this.opts.query(raw, client, (wire) => {
      if (res.writableEnded || ('stream' in req && (req.stream.destroyed || req.stream.headersSent)) || req.socket?.destroyed) return;
      if (!wire) {
        // The policy said DROP (or the query was unreadable): no answer, as over UDP; the stream is reset.
        this.opts.onStatus?.(0);
        if ('stream' in req) req.stream.close(h2.NGHTTP2_REFUSED_STREAM);
        else req.socket.destroy();
        return;
      }
      const ttl = smallestTtl(wire);
      this.reply(req, res, 200, pad ? padAnswer(wire) : wire, { 'cache-control': `max-age=${ttl ?? 0}` });
    });
  }

  setSecureContext(cert: Buffer, key: Buffer): void {
    this.server.setSecureContext({ cert, key });
  }

  /** Stop accepting; ask HTTP/2 clients to go away once their streams finish (GOAWAY). */
  close(): void {
    clearInterval(this.sweeper);
    this.server.close();
    for (const c of this.conns.values()) c.socket.end();
  }

  /** Cut whatever is still open. */
  destroy(): void {
    for (const c of this.conns.values()) c.socket.destroy();
  }
}

function statusText(status: number): string {
  return ({ 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Payload Too Large', 415: 'Unsupported Media Type' } as Record<number, string>)[status] ?? 'Error';
}
